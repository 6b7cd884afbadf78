/* json_check(text [, max_values [, max_depth]]) -> true, values | nil, message, "values" | "depth" | "unbalanced": one
   pass over JSON text, before it is decoded, that bounds what decoding may build. Outside strings it counts every value
   (each container, string, object key, number and literal) and the nesting depth of containers. It does not validate
   the text: lua-cjson does that afterwards; an unbalanced closing bracket is refused here only so the depth count stays
   honest. */
#include <lauxlib.h>

#include "vpp.h"

/* Characters that make up a number or a literal (true, false, null, and what a lenient decoder may accept). */
static int scalar_char(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '+' || c == '.';
}

int vpp_json_scan(const char *s, size_t len, size_t max_values, int max_depth, size_t *counted) {
  size_t values = 0;
  int depth = 0, in_scalar = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"') {
      in_scalar = 0;
      if (++values > max_values) return VPP_JSON_TOO_MANY;
      /* skip the string: a backslash escapes the next byte (\" and \\ included) */
      for (i++; i < len && s[i] != '"'; i++)
        if (s[i] == '\\') i++;
    } else if (c == '{' || c == '[') {
      in_scalar = 0;
      if (++values > max_values) return VPP_JSON_TOO_MANY;
      if (++depth > max_depth) return VPP_JSON_TOO_DEEP;
    } else if (c == '}' || c == ']') {
      in_scalar = 0;
      if (--depth < 0) return VPP_JSON_UNBALANCED;
    } else if (scalar_char(c)) {
      if (!in_scalar && ++values > max_values) return VPP_JSON_TOO_MANY;
      in_scalar = 1;
    } else {
      in_scalar = 0;
    }
  }
  if (counted) *counted = values;
  return VPP_JSON_OK;
}

static int l_json_check(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  lua_Integer max_values = luaL_optinteger(L, 2, VPP_JSON_MAX_VALUES);
  lua_Integer max_depth = luaL_optinteger(L, 3, VPP_JSON_MAX_DEPTH);
  luaL_argcheck(L, max_values >= 0, 2, "must be >= 0");
  luaL_argcheck(L, max_depth >= 0 && max_depth <= VPP_JSON_MAX_DEPTH, 3, "must be from 0 to the depth bound");
  size_t values = 0;
  switch (vpp_json_scan(s, len, (size_t)max_values, (int)max_depth, &values)) {
    case VPP_JSON_OK:
      lua_pushboolean(L, 1);
      lua_pushinteger(L, (lua_Integer)values);
      return 2;
    case VPP_JSON_TOO_MANY:
      lua_pushnil(L);
      lua_pushfstring(L, "the JSON text has more than %s values (the decoding budget)", VPP_INT(max_values));
      lua_pushliteral(L, "values");
      return 3;
    case VPP_JSON_TOO_DEEP:
      lua_pushnil(L);
      lua_pushfstring(L, "the JSON text is nested deeper than %s levels", VPP_INT(max_depth));
      lua_pushliteral(L, "depth");
      return 3;
    default:
      lua_pushnil(L);
      lua_pushliteral(L, "the JSON text has a closing bracket without an opening one");
      lua_pushliteral(L, "unbalanced");
      return 3;
  }
}

void vpp_open_json(lua_State *L) {
  lua_pushcfunction(L, l_json_check);
  lua_setfield(L, -2, "json_check");
  lua_pushinteger(L, VPP_JSON_MAX_VALUES);
  lua_setfield(L, -2, "JSON_MAX_VALUES");
  lua_pushinteger(L, VPP_JSON_MAX_DEPTH);
  lua_setfield(L, -2, "JSON_MAX_DEPTH");
}
