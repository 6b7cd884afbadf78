/* DateTimeOffset: whatever parses formats back to text that parses to the same instant, offset and ticks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vpp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  vpp_time t, back;
  if (vpp_time_parse((const char *)data, size, &t) != NULL) return 0;
  char out[48];
  int n = vpp_time_format(&t, -1, out, sizeof out);
  if (n < 0) abort(); /* a parsed time is always in range */
  if (vpp_time_parse(out, (size_t)n, &back) != NULL) abort();
  if (back.seconds != t.seconds || back.ticks != t.ticks || back.offset_min != t.offset_min) abort();
  for (int digits = 0; digits <= 7; digits++)
    if (vpp_time_format(&t, digits, out, sizeof out) < 0) abort();
  return 0;
}
