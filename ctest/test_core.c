/* C-level tests of vpptoken.core's parsers and policy arithmetic (no network, no Lua state). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "vpp.h"

static int passed, failed;

#define CHECK(cond, ...)                          \
  do {                                            \
    if (cond) {                                   \
      passed++;                                   \
    } else {                                      \
      failed++;                                   \
      printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      printf(__VA_ARGS__);                        \
      printf("\n");                               \
    }                                             \
  } while (0)

static void parses_to(const char *text, int64_t seconds, int32_t ticks, int offset, int has_zone) {
  vpp_time t;
  const char *err = vpp_time_parse(text, strlen(text), &t);
  CHECK(err == NULL, "'%s' should parse (%s)", text, err ? err : "");
  if (err) return;
  CHECK(t.seconds == seconds, "'%s' seconds %lld, want %lld", text, (long long)t.seconds, (long long)seconds);
  CHECK(t.ticks == ticks, "'%s' ticks %d, want %d", text, t.ticks, ticks);
  CHECK(t.offset_min == offset, "'%s' offset %d, want %d", text, t.offset_min, offset);
  CHECK(t.has_zone == has_zone, "'%s' has_zone %d", text, t.has_zone);
}

static void rejects(const char *text) {
  vpp_time t;
  CHECK(vpp_time_parse(text, strlen(text), &t) != NULL, "'%s' should be rejected", text);
}

static void formats_back(const char *text) {
  vpp_time t;
  char out[48];
  if (vpp_time_parse(text, strlen(text), &t)) {
    CHECK(0, "'%s' should parse", text);
    return;
  }
  int n = vpp_time_format(&t, -1, out, sizeof out);
  CHECK(n > 0 && strcmp(out, text) == 0, "'%s' formats back as '%s'", text, n > 0 ? out : "(error)");
}

static void test_time(void) {
  parses_to("1970-01-01T00:00:00Z", 0, 0, 0, 1);
  parses_to("2016-12-31T23:57:57.2481234-08:00", 1483257477, 2481234, -480, 1);
  parses_to("2017-01-01T00:02:49.3205976-08:00", 1483257769, 3205976, -480, 1);
  parses_to("2000-02-29T12:00:00+05:30", 951805800, 0, 330, 1);
  parses_to("2027-05-25T20:08:56-0700", 1811300936, 0, -420, 1); /* Apple's expDate form */
  parses_to("2025-02-13T10:17:05", 1739441825, 0, 0, 0);         /* Graph innerError date: no zone */
  parses_to("2025-02-13T10:17:05.5Z", 1739441825, 5000000, 0, 1);
  parses_to("2025-02-13T10:17:05.123456789Z", 1739441825, 1234567, 0, 1); /* 9 digits: kept to 7 */
  parses_to("0001-01-01T00:00:00Z", -62135596800LL, 0, 0, 1);
  parses_to("9999-12-31T23:59:59.9999999Z", 253402300799LL, 9999999, 0, 1);
  rejects("");
  rejects("2025-02-30T00:00:00Z"); /* no Feb 30 */
  rejects("2023-02-29T00:00:00Z"); /* not a leap year */
  rejects("1900-02-29T00:00:00Z"); /* century, not a leap year */
  rejects("2025-13-01T00:00:00Z");
  rejects("2025-01-01 00:00:00Z");
  rejects("2025-01-01T24:00:00Z");
  rejects("2025-01-01T00:60:00Z");
  rejects("2025-01-01T00:00:00.Z");
  rejects("2025-01-01T00:00:00.1234567890Z");
  rejects("2025-01-01T00:00:00+24:00");
  rejects("2025-01-01T00:00:00Zjunk");
  rejects("0000-01-01T00:00:00Z");
  rejects("2025-1-01T00:00:00Z");
  formats_back("2016-12-31T23:57:57.2481234-08:00");
  formats_back("2025-02-13T10:17:05Z");
  formats_back("1999-12-31T23:59:59.5+14:00");
  formats_back("0001-01-01T00:00:00Z");
  vpp_time t = {0, 0, -480, 1};
  char out[48];
  vpp_time_format(&t, 3, out, sizeof out);
  CHECK(strcmp(out, "1969-12-31T16:00:00.000-08:00") == 0, "fixed digits: %s", out);
  vpp_time big = {253402300800LL, 0, 0, 1};
  CHECK(vpp_time_format(&big, 0, out, sizeof out) == -1, "year 10000 is out of range");
  char tiny[10];
  CHECK(vpp_time_format(&t, 0, tiny, sizeof tiny) == -1, "a small buffer is refused, not overrun");
}

static void test_retry(void) {
  time_t now = 1739441825; /* Thu, 13 Feb 2025 10:17:05 GMT */
  CHECK(vpp_retry_after_parse("5", now) == 5, "integer");
  CHECK(fabs(vpp_retry_after_parse("2.128", now) - 2.128) < 1e-9, "fraction");
  CHECK(vpp_retry_after_parse(" 7 ", now) == 7, "spaces");
  CHECK(vpp_retry_after_parse("0", now) == 0, "zero");
  CHECK(vpp_retry_after_parse("Thu, 13 Feb 2025 10:17:35 GMT", now) == 30, "HTTP-date in the future");
  CHECK(vpp_retry_after_parse("Thu, 13 Feb 2025 10:00:00 GMT", now) == 0, "HTTP-date in the past");
  CHECK(vpp_retry_after_parse("-1", now) < 0, "negative");
  CHECK(vpp_retry_after_parse("", now) < 0, "empty");
  CHECK(vpp_retry_after_parse("soon", now) < 0, "word");
  CHECK(vpp_retry_after_parse("5s", now) < 0, "unit suffix");
  CHECK(vpp_retry_after_parse("0x10", now) < 0, "hex is not delay-seconds");
  CHECK(vpp_retry_after_parse("1e9", now) < 0, "an exponent is not delay-seconds");
  CHECK(vpp_retry_after_parse("+5", now) < 0, "a sign");
  CHECK(vpp_retry_after_parse("5.", now) < 0, "a point without digits");
  CHECK(vpp_retry_after_parse("99999999999999999999", now) > 1e11, "a huge number stays huge (the caps stop it)");
  CHECK(vpp_retry_after_parse("inf", now) < 0, "inf");
  CHECK(vpp_retry_after_parse("1e999", now) < 0, "overflow");
  CHECK(vpp_retry_after_parse(NULL, now) < 0, "NULL");

  vpp_retry_policy p = {3, 3.0, 180.0};
  CHECK(vpp_backoff_delay(&p, 1, 0.0) == 1.5 && vpp_backoff_delay(&p, 1, 0.999999) < 3.0, "first retry 1.5..3 s");
  CHECK(vpp_backoff_delay(&p, 3, 0.0) == 6.0, "third retry at least 6 s");
  CHECK(isfinite(vpp_backoff_delay(&p, 1000, 0.5)), "huge retry number stays finite");
  vpp_rng rng;
  vpp_rng_seed(&rng);
  CHECK(vpp_retry_wait(&p, 1, 7, 0, &rng) == 7, "Retry-After is waited as given");
  CHECK(vpp_retry_wait(&p, 4, 1, 0, &rng) < 0, "no fourth retry with max_retries 3");
  CHECK(vpp_retry_wait(&p, 1, 1e9, 0, &rng) < 0, "a Retry-After past max_total_delay stops");
  CHECK(vpp_retry_wait(&p, 2, 100, 90, &rng) < 0, "the total wait is capped");
  double j = vpp_retry_wait(&p, 2, -1, 0, &rng);
  CHECK(j >= 3 && j < 6, "no Retry-After: jittered backoff 3..6 s for the second retry (%f)", j);

  CHECK(vpp_status_retryable(429, "POST") && vpp_status_retryable(503, "POST"), "429/503 retried for POST");
  CHECK(!vpp_status_retryable(504, "POST"), "504 not retried for POST (may have been done)");
  CHECK(vpp_status_retryable(504, "GET") && vpp_status_retryable(504, "PATCH"), "504 retried for GET/PATCH");
  CHECK(!vpp_status_retryable(500, "GET") && !vpp_status_retryable(404, "GET"), "500/404 not retried");
  CHECK(!vpp_method_idempotent("POST") && vpp_method_idempotent("DELETE"), "idempotent methods");
}

static void test_escape_and_uuid(void) {
  char out[64];
  vpp_escape_segment("a/b?c#d %", 9, out);
  CHECK(strcmp(out, "a%2Fb%3Fc%23d%20%25") == 0, "escape: %s", out);
  vpp_escape_segment("AZaz09-._~", 10, out);
  CHECK(strcmp(out, "AZaz09-._~") == 0, "unreserved kept: %s", out);
  vpp_escape_segment("\0\xff", 2, out);
  CHECK(strcmp(out, "%00%FF") == 0, "NUL and high bytes: %s", out);
  vpp_rng r;
  vpp_rng_seed(&r);
  char a[37], b[37];
  vpp_uuid4(&r, a);
  vpp_uuid4(&r, b);
  CHECK(strlen(a) == 36 && a[14] == '4' && strchr("89ab", a[19]) && strcmp(a, b) != 0, "uuid v4: %s %s", a, b);
}

static void test_buf(void) {
  vpp_buf b = {0};
  b.limit = 10;
  CHECK(vpp_buf_append(&b, "12345", 5) == 0 && vpp_buf_append(&b, "67890", 5) == 0, "fills to the limit");
  CHECK(vpp_buf_append(&b, "x", 1) == -1 && b.len == 10, "refuses past the limit");
  vpp_buf_reset(&b);
  CHECK(b.len == 0 && b.data != NULL, "reset keeps the allocation");
  vpp_buf_free(&b);
  CHECK(b.data == NULL, "free clears");
}

static int scan(const char *text, size_t max_values, int max_depth) {
  return vpp_json_scan(text, strlen(text), max_values, max_depth, NULL);
}

static void test_json_scan(void) {
  /* values: containers, strings (keys too), numbers and literals, each counted once */
  CHECK(scan("{\"a\":[1,-2.5e+3,true,null]}", 7, 2) == VPP_JSON_OK, "7 values fit a budget of 7");
  CHECK(scan("{\"a\":[1,-2.5e+3,true,null]}", 6, 2) == VPP_JSON_TOO_MANY, "7 values pass a budget of 6");
  CHECK(scan("[1 , 2,3]", 4, 1) == VPP_JSON_OK && scan("[1 , 2,3]", 3, 1) == VPP_JSON_TOO_MANY, "white space");
  CHECK(scan("", 0, 0) == VPP_JSON_OK && scan("5", 0, 0) == VPP_JSON_TOO_MANY, "a bare scalar is a value");
  /* brackets, commas and quotes inside strings are not structure */
  CHECK(scan("[\"[[[[,,,{{{\"]", 2, 1) == VPP_JSON_OK, "brackets inside a string");
  CHECK(scan("[\"a\\\"[[[\", 1]", 3, 1) == VPP_JSON_OK, "an escaped quote does not end the string");
  CHECK(scan("[\"a\\\\\", [[1]]]", 5, 3) == VPP_JSON_OK, "an escaped backslash ends before the quote");
  CHECK(scan("[\"a\\\\\", [[1]]]", 5, 2) == VPP_JSON_TOO_DEEP, "so the brackets after it count");
  CHECK(scan("[\"\\u005d\\u005b\"]", 2, 1) == VPP_JSON_OK, "unicode escapes");
  CHECK(scan("[\"unterminated", 2, 1) == VPP_JSON_OK, "an unterminated string is left to the decoder");
  CHECK(scan("[\"ends in a backslash\\", 2, 1) == VPP_JSON_OK, "a trailing backslash reads nothing past the end");
  /* depth */
  CHECK(scan("[[[]]]", 10, 3) == VPP_JSON_OK && scan("[[[]]]", 10, 2) == VPP_JSON_TOO_DEEP, "depth 3");
  CHECK(scan("[[]][[]]", 10, 2) == VPP_JSON_OK, "depth goes back down");
  CHECK(scan("]][[[[", 10, 2) == VPP_JSON_UNBALANCED, "closers first cannot buy depth");
  CHECK(scan("{\"a\":{}}}", 10, 2) == VPP_JSON_UNBALANCED, "one closer too many");
  /* the bomb of issue 11 #7, in small: empty arrays are values too */
  char bomb[3 * 1000 + 3];
  size_t n = 0;
  bomb[n++] = '[';
  for (int i = 0; i < 1000; i++) {
    bomb[n++] = '[';
    bomb[n++] = ']';
    bomb[n++] = ',';
  }
  bomb[n - 1] = ']';
  CHECK(vpp_json_scan(bomb, n, 1001, 2, NULL) == VPP_JSON_OK, "1001 values");
  CHECK(vpp_json_scan(bomb, n, 1000, 2, NULL) == VPP_JSON_TOO_MANY, "1001 values over 1000");
  /* the length is honoured: a NUL byte is data, and nothing past len is read */
  CHECK(vpp_json_scan("[1]]]]", 3, 10, 1, NULL) == VPP_JSON_OK, "only len bytes");
  CHECK(vpp_json_scan("[\"\0[\"]", 5, 10, 1, NULL) == VPP_JSON_OK, "NUL inside a string");
}

int main(void) {
  test_time();
  test_retry();
  test_escape_and_uuid();
  test_buf();
  test_json_scan();
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
