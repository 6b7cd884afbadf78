/* Growable byte buffer with an optional size limit. */
#include <stdlib.h>
#include <string.h>

#include "vpp.h"

int vpp_buf_append(vpp_buf *b, const void *p, size_t n) {
  if (n == 0) return 0;
  if (b->limit && (n > b->limit || b->len > b->limit - n)) return -1;
  if (b->cap - b->len < n) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n) {
      if (cap > SIZE_MAX / 2) return -1;
      cap *= 2;
    }
    char *d = realloc(b->data, cap);
    if (!d) return -1;
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

void vpp_buf_reset(vpp_buf *b) { b->len = 0; }

void vpp_buf_free(vpp_buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
