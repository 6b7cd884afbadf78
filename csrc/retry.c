/* The retry policy's arithmetic: Retry-After, backoff, which statuses and methods may be repeated. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "vpp.h"

double vpp_retry_after_parse(const char *v, time_t now) {
  if (!v) return -1;
  while (*v == ' ' || *v == '\t') v++;
  if (*v == '\0') return -1;
  if (isdigit((unsigned char)*v) || *v == '.') {
    char *end;
    double d = strtod(v, &end);
    while (*end == ' ' || *end == '\t') end++;
    if (*end != '\0' || !isfinite(d) || d < 0) return -1;
    return d;
  }
  /* An HTTP-date (RFC 9110 IMF-fixdate, or the obsolete forms curl also reads). */
  if (!isalpha((unsigned char)*v)) return -1;
  time_t when = curl_getdate(v, NULL);
  if (when == (time_t)-1) return -1;
  double d = difftime(when, now);
  return d > 0 ? d : 0;
}

double vpp_backoff_delay(const vpp_retry_policy *p, int retry, double unit) {
  if (retry < 1) retry = 1;
  if (retry > 30) retry = 30;
  double d = p->base_delay * ldexp(1.0, retry - 1);
  /* "Equal jitter": half fixed, half random, so concurrent clients spread out but still back off. */
  return d / 2 + d / 2 * unit;
}

int vpp_method_idempotent(const char *m) {
  return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "OPTIONS") == 0 || strcmp(m, "PUT") == 0 ||
         strcmp(m, "DELETE") == 0 || strcmp(m, "PATCH") == 0;
}

int vpp_status_retryable(long status, const char *method) {
  if (status == 429 || status == 503) return 1; /* the server says it did not do the work */
  if (status == 504) return vpp_method_idempotent(method);
  return 0;
}
