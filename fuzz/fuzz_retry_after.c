/* Retry-After: any header value gives -1 (ignored) or a finite delay >= 0. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vpp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *v = malloc(size + 1);
  if (!v) return 0;
  memcpy(v, data, size);
  v[size] = '\0';
  double d = vpp_retry_after_parse(v, 1739441825);
  free(v);
  if (!(d == -1 || (isfinite(d) && d >= 0))) abort();
  return 0;
}
