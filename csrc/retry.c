/* The retry policy's arithmetic: Retry-After, backoff, which statuses and methods may be repeated. */
#include <ctype.h>
#include <math.h>
#include <string.h>

#include <curl/curl.h>

#include "vpp.h"

double vpp_retry_after_parse(const char *v, time_t now) {
  if (!v) return -1;
  while (*v == ' ' || *v == '\t') v++;
  if (*v == '\0') return -1;
  if (isdigit((unsigned char)*v)) {
    /* delay-seconds: RFC 9110 allows digits only; a fraction ("2.128") has been seen from Graph and is read too.
       No sign, exponent, hex or "inf" (strtod would take "0x10" as 16). */
    double d = 0;
    const char *p = v;
    for (; isdigit((unsigned char)*p); p++) d = d < 1e12 ? d * 10 + (*p - '0') : d;
    if (*p == '.') {
      if (!isdigit((unsigned char)p[1])) return -1;
      double scale = 1;
      for (p++; isdigit((unsigned char)*p); p++) d += (*p - '0') * (scale /= 10);
    }
    while (*p == ' ' || *p == '\t') p++;
    return *p == '\0' ? d : -1;
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

double vpp_retry_wait(const vpp_retry_policy *p, int retry, double retry_after, double waited, vpp_rng *rng) {
  if (retry > p->max_retries) return -1;
  double delay = retry_after >= 0 ? retry_after : vpp_backoff_delay(p, retry, vpp_rng_unit(rng));
  if (waited + delay > p->max_total_delay) return -1;
  return delay;
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
