/* Path-segment escaping: the output has only unreserved characters and %XX, and decodes back to the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vpp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  char *out = malloc(size * 3 + 1);
  unsigned char *dec = malloc(size + 1);
  if (!out || !dec) abort();
  size_t n = vpp_escape_segment((const char *)data, size, out), d = 0;
  if (strlen(out) != n) abort(); /* no NUL inside */
  for (size_t i = 0; i < n; i++) {
    char c = out[i];
    if (c == '%') {
      if (i + 2 >= n + 1 || hexval(out[i + 1]) < 0 || hexval(out[i + 2]) < 0) abort();
      dec[d++] = (unsigned char)(hexval(out[i + 1]) * 16 + hexval(out[i + 2]));
      i += 2;
    } else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("-._~", c)) {
      dec[d++] = (unsigned char)c;
    } else {
      abort(); /* '/', '?', '#', space or a control character escaped nothing */
    }
  }
  if (d != size || memcmp(dec, data, size) != 0) abort();
  free(out);
  free(dec);
  return 0;
}
