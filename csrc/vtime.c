/* DateTimeOffset: Graph's timestamp text <-> seconds since the epoch, without the C library's time zone. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "vpp.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's civil calendar algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int y, int m) {
  static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return dm[m - 1];
}

/* Reads exactly n digits at s[*i]; -1 when they are not all digits. */
static int digits(const char *s, size_t len, size_t *i, int n) {
  int v = 0;
  if (*i + (size_t)n > len) return -1;
  for (int k = 0; k < n; k++) {
    char c = s[*i + (size_t)k];
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  *i += (size_t)n;
  return v;
}

static int expect(const char *s, size_t len, size_t *i, char c) {
  if (*i < len && s[*i] == c) {
    (*i)++;
    return 1;
  }
  return 0;
}

const char *vpp_time_parse(const char *s, size_t len, vpp_time *out) {
  size_t i = 0;
  int Y = digits(s, len, &i, 4);
  if (Y < 0 || !expect(s, len, &i, '-')) return "expected YYYY-MM-DD";
  int M = digits(s, len, &i, 2);
  if (M < 0 || !expect(s, len, &i, '-')) return "expected YYYY-MM-DD";
  int D = digits(s, len, &i, 2);
  if (D < 0) return "expected YYYY-MM-DD";
  if (!expect(s, len, &i, 'T') && !expect(s, len, &i, 't')) return "expected 'T' after the date";
  int h = digits(s, len, &i, 2);
  if (h < 0 || !expect(s, len, &i, ':')) return "expected hh:mm:ss";
  int mi = digits(s, len, &i, 2);
  if (mi < 0 || !expect(s, len, &i, ':')) return "expected hh:mm:ss";
  int sec = digits(s, len, &i, 2);
  if (sec < 0) return "expected hh:mm:ss";
  if (Y < 1 || M < 1 || M > 12 || D < 1 || D > days_in_month(Y, M)) return "date out of range";
  if (h > 23 || mi > 59 || sec > 59) return "time of day out of range";

  int32_t ticks = 0;
  if (expect(s, len, &i, '.')) {
    int n = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') {
      if (n < 7) ticks = ticks * 10 + (s[i] - '0');
      n++;
      i++;
    }
    if (n == 0) return "expected digits after '.'";
    if (n > 9) return "more than 9 fraction digits";
    for (int k = n; k < 7; k++) ticks *= 10;
  }

  int offset = 0, has_zone = 1;
  if (i == len) {
    has_zone = 0;
  } else if (s[i] == 'Z' || s[i] == 'z') {
    i++;
  } else if (s[i] == '+' || s[i] == '-') {
    int sign = s[i] == '-' ? -1 : 1;
    i++;
    int oh = digits(s, len, &i, 2);
    if (oh < 0) return "expected zone offset hh:mm";
    expect(s, len, &i, ':');
    int om = digits(s, len, &i, 2);
    if (om < 0) return "expected zone offset hh:mm";
    if (oh > 23 || om > 59) return "zone offset out of range";
    offset = sign * (oh * 60 + om);
  } else {
    return "expected 'Z' or a zone offset";
  }
  if (i != len) return "unexpected text after the zone";

  int64_t days = days_from_civil(Y, (unsigned)M, (unsigned)D);
  out->seconds = days * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + sec - (int64_t)offset * 60;
  out->ticks = ticks;
  out->offset_min = offset;
  out->has_zone = has_zone;
  return NULL;
}

int vpp_time_format(const vpp_time *t, int ndigits, char *out, size_t outsz) {
  if (t->ticks < 0 || t->ticks > 9999999 || t->offset_min < -23 * 60 - 59 || t->offset_min > 23 * 60 + 59) return -1;
  int64_t local = t->seconds + (int64_t)t->offset_min * 60;
  int64_t days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
  int64_t rem = local - days * 86400;
  int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  if (y < 1 || y > 9999) return -1;
  int n = snprintf(out, outsz, "%04d-%02u-%02uT%02d:%02d:%02d", (int)y, m, d, (int)(rem / 3600), (int)(rem / 60 % 60),
                   (int)(rem % 60));
  if (n < 0 || (size_t)n >= outsz) return -1;
  char frac[8];
  snprintf(frac, sizeof frac, "%07d", (int)t->ticks);
  int keep = ndigits;
  if (keep < 0) {
    keep = 7;
    while (keep > 0 && frac[keep - 1] == '0') keep--;
  }
  if (keep > 7) keep = 7;
  char zone[16];
  if (t->offset_min == 0) {
    strcpy(zone, "Z");
  } else {
    int a = t->offset_min < 0 ? -t->offset_min : t->offset_min;
    snprintf(zone, sizeof zone, "%c%02d:%02d", t->offset_min < 0 ? '-' : '+', a / 60, a % 60);
  }
  int k = snprintf(out + n, outsz - (size_t)n, "%s%.*s%s", keep ? "." : "", keep, frac, zone);
  if (k < 0 || (size_t)n + (size_t)k >= outsz) return -1;
  return n + k;
}

/* ---- Lua bindings ---- */

/* time_parse(text) -> seconds (float, UTC), offset_minutes, has_zone | nil, message */
static int l_time_parse(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  vpp_time t;
  const char *err = vpp_time_parse(s, len, &t);
  if (err) {
    luaL_pushfail(L);
    lua_pushfstring(L, "invalid DateTimeOffset '%s': %s", len > 64 ? "(long text)" : s, err);
    return 2;
  }
  lua_pushnumber(L, (lua_Number)t.seconds + (lua_Number)t.ticks / 1e7);
  lua_pushinteger(L, t.offset_min);
  lua_pushboolean(L, t.has_zone);
  return 3;
}

/* time_format(seconds [, offset_minutes [, digits]]) -> text; raises on a value out of range */
static int l_time_format(lua_State *L) {
  lua_Number v = luaL_checknumber(L, 1);
  lua_Integer off = luaL_optinteger(L, 2, 0);
  lua_Integer nd = lua_isnoneornil(L, 3) ? -1 : luaL_checkinteger(L, 3); /* -1: as many digits as needed */
  luaL_argcheck(L, isfinite(v) && v > -62135596800.0 && v < 253402300800.0, 1, "time out of range (years 1-9999)");
  luaL_argcheck(L, off >= -(23 * 60 + 59) && off <= 23 * 60 + 59, 2, "offset must be within +-23:59 (minutes)");
  luaL_argcheck(L, nd == -1 ? lua_isnoneornil(L, 3) : (nd >= 0 && nd <= 7), 3, "digits must be 0..7");
  vpp_time t;
  double whole = floor(v);
  long long ticks = llround((v - whole) * 1e7);
  if (ticks >= 10000000) {
    whole += 1;
    ticks -= 10000000;
  }
  t.seconds = (int64_t)whole;
  t.ticks = (int32_t)ticks;
  t.offset_min = (int)off;
  t.has_zone = 1;
  char buf[48];
  int n = vpp_time_format(&t, (int)nd, buf, sizeof buf);
  luaL_argcheck(L, n > 0, 1, "time out of range (years 1-9999)");
  lua_pushlstring(L, buf, (size_t)n);
  return 1;
}

void vpp_open_time(lua_State *L) {
  lua_pushcfunction(L, l_time_parse);
  lua_setfield(L, -2, "time_parse");
  lua_pushcfunction(L, l_time_format);
  lua_setfield(L, -2, "time_format");
}
