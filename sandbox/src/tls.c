/* HTTPS for the sandbox: reads the --tls-cert/--tls-key PEM files for libmicrohttpd (GnuTLS). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"

#define SBX_PEM_LIMIT ((long)1024 * 1024)

/* Reads a whole file as a NUL-terminated string; NULL (after printing why) on failure. */
static char *sbx_read_pem(const char *what, const char *path) {
  FILE *f = fopen(path, "rb");
  char *text = NULL;
  long size;

  if (f == NULL) {
    fprintf(stderr, SBX_NAME ": cannot open %s '%s': %s\n", what, path, strerror(errno));
    return NULL;
  }
  if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || size > SBX_PEM_LIMIT || fseek(f, 0, SEEK_SET) != 0) {
    fprintf(stderr, SBX_NAME ": cannot read %s '%s' (not a regular file, or larger than 1 MiB)\n", what, path);
    fclose(f);
    return NULL;
  }
  text = malloc((size_t)size + 1);
  if (text == NULL || fread(text, 1, (size_t)size, f) != (size_t)size) {
    fprintf(stderr, SBX_NAME ": cannot read %s '%s'\n", what, path);
    free(text);
    fclose(f);
    return NULL;
  }
  fclose(f);
  text[size] = '\0';
  if (strstr(text, "-----BEGIN ") == NULL) {
    fprintf(stderr, SBX_NAME ": %s '%s' is not PEM text\n", what, path);
    free(text);
    return NULL;
  }
  return text;
}

int sbx_tls_load(const struct sbx_options *o, struct sbx_tls *tls) {
  tls->cert = tls->key = NULL;
  if (o->tls_cert == NULL) return 0;
  if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
    fprintf(stderr, SBX_NAME ": this libmicrohttpd was built without TLS (GnuTLS); --tls-cert cannot be used\n");
    return -1;
  }
  tls->cert = sbx_read_pem("--tls-cert", o->tls_cert);
  if (tls->cert != NULL) tls->key = sbx_read_pem("--tls-key", o->tls_key);
  if (tls->key == NULL) {
    sbx_tls_free(tls);
    return -1;
  }
  return 0;
}

void sbx_tls_free(struct sbx_tls *tls) {
  free(tls->cert);
  tls->cert = NULL;
  if (tls->key != NULL) memset(tls->key, 0, strlen(tls->key));
  free(tls->key);
  tls->key = NULL;
}
