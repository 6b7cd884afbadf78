/* The strict UTF-8 check of Lua 5.4's utf8.len, in C so that every Lua gives the same answer (5.3's utf8.len
   takes surrogates; 5.1 and LuaJIT have none): no overlong forms, no surrogates, nothing above U+10FFFF. */
#include "vpp.h"

/* The length of the valid sequence at s[0..n), or 0 when it is not one. */
static size_t sequence(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  uint32_t cp, min;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2, cp = c & 0x1F, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF)
    len = 3, cp = c & 0x0F, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4)
    len = 4, cp = c & 0x07, min = 0x10000;
  else
    return 0;
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

/* utf8_len(s [, i]) -> characters from byte i (default 1) | nil, position of the first byte that does not start a
   valid sequence (utf8.len's answer on Lua 5.4) */
static int l_utf8_len(lua_State *L) {
  size_t len;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
  lua_Integer i = luaL_optinteger(L, 2, 1);
  luaL_argcheck(L, i >= 1 && (size_t)i <= len + 1, 2, "initial position out of bounds");
  size_t pos = (size_t)i - 1;
  lua_Integer n = 0;
  while (pos < len) {
    size_t k = sequence(s + pos, len - pos);
    if (!k) {
      luaL_pushfail(L);
      lua_pushinteger(L, (lua_Integer)pos + 1);
      return 2;
    }
    pos += k;
    n++;
  }
  lua_pushinteger(L, n);
  return 1;
}

void vpp_open_utf8(lua_State *L) {
  lua_pushcfunction(L, l_utf8_len);
  lua_setfield(L, -2, "utf8_len");
}
