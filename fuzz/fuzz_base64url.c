/* base64url (JWT segments): unpadded output of the URL-safe alphabet that decodes back to the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vpp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int val(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536) return 0;
  char *out = malloc(size / 3 * 4 + 5);
  unsigned char *dec = malloc(size + 3);
  if (!out || !dec) abort();
  size_t n = vpp_base64url(data, size, out), d = 0;
  if (n != (size * 4 + 2) / 3 || strlen(out) != n) abort();
  unsigned acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = val(out[i]);
    if (v < 0) abort();
    acc = (acc << 6) | (unsigned)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      dec[d++] = (unsigned char)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  if (d != size || memcmp(dec, data, size) != 0) abort();
  free(out);
  free(dec);
  return 0;
}
