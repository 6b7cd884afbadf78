/* The Lua side of the sandbox: one lua_State running the module vpptoken_sandbox.
 * Everything that can raise a Lua error runs under lua_pcall; the MHD response is built only from
 * values already validated there, so no Lua error can escape into libmicrohttpd or leak a response. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lualib.h>

#include "sandbox.h"

#ifndef VPP_SANDBOX_LUA_DIR
#define VPP_SANDBOX_LUA_DIR "lua"
#endif

#define SBX_MODULE "vpptoken_sandbox"
#define SBX_NATIVE "vpptoken_sandbox.native"
#define SBX_REG_MODULE "vpptoken_sandbox*module"
#define SBX_REG_CONFIG "vpptoken_sandbox*config"
#define SBX_REG_CONFIG_OPTIONS "vpptoken_sandbox*config_options"

/* native.now(): wall-clock time in seconds, with the sub-second part. */
static int sbx_now(lua_State *L) {
  struct timespec ts;

  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return luaL_error(L, "clock_gettime failed");
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

static int sbx_open_native(lua_State *L) {
  static const luaL_Reg funcs[] = {{"now", sbx_now}, {NULL, NULL}};

  luaL_newlib(L, funcs);
  lua_pushinteger(L, (lua_Integer)SBX_BODY_LIMIT);
  lua_setfield(L, -2, "body_limit");
  lua_pushliteral(L, SBX_VERSION);
  lua_setfield(L, -2, "version");
  sbx_native_extend(L);
  return 1;
}

/* Is the error value at idx a refusal (vpptoken_sandbox.util.refuse: {refused = true, message = "..."})? */
static int sbx_is_refusal(lua_State *L, int idx) {
  int refused;

  idx = lua_absindex(L, idx);
  if (lua_type(L, idx) != LUA_TTABLE) return 0;
  lua_getfield(L, idx, "refused");
  lua_getfield(L, idx, "message");
  refused = lua_toboolean(L, -2) && lua_type(L, -1) == LUA_TSTRING;
  lua_pop(L, 2);
  return refused;
}

/* Message handler: a string error gets a traceback, and so does any other value but a refusal, which passes
 * through. */
static int sbx_msgh(lua_State *L) {
  const char *msg = lua_tostring(L, 1);

  if (sbx_is_refusal(L, 1)) return 1;
  if (msg == NULL) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      msg = lua_tostring(L, -1);
    else
      msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* package.path = <spec as a template>;<old package.path> */
static void sbx_set_path(lua_State *L, const char *spec) {
  lua_getglobal(L, "package");
  if (strchr(spec, '?') != NULL)
    lua_pushstring(L, spec);
  else
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", spec, spec);
  lua_pushliteral(L, ";");
  lua_getfield(L, -3, "path");
  lua_concat(L, 3);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
}

/* Protected: open libraries, set package.path, provide the native modules. */
static int sbx_init(lua_State *L) {
  const struct sbx_options *o = lua_touserdata(L, 1);
  const char *spec = o->lua_path;

  luaL_openlibs(L);
  if (spec == NULL || spec[0] == '\0') spec = getenv("VPPTOKEN_SANDBOX_LUA_PATH");
  if (spec == NULL || spec[0] == '\0') spec = VPP_SANDBOX_LUA_DIR;
  sbx_set_path(L, spec);

  luaL_requiref(L, SBX_NATIVE, sbx_open_native, 0);
  lua_pop(L, 1);
  luaL_requiref(L, "vpptoken_sandbox.crypto", sbx_open_crypto, 0);
  lua_pop(L, 1);
  return 0;
}

lua_State *sbx_lua_new(const struct sbx_options *o) {
  lua_State *L = luaL_newstate();

  if (L == NULL) {
    fprintf(stderr, SBX_NAME ": cannot create a Lua state (out of memory)\n");
    return NULL;
  }
  lua_pushcfunction(L, sbx_init);
  lua_pushlightuserdata(L, (void *)o);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    fprintf(stderr, SBX_NAME ": cannot set up Lua: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return NULL;
  }
  return L;
}

/* Protected: document, options = require("vpptoken_sandbox.config").read_file(path), both kept in the
 * registry; the options list is returned. */
static int sbx_read_config(lua_State *L) {
  const char *path = lua_touserdata(L, 1);

  lua_getglobal(L, "require");
  lua_pushliteral(L, SBX_MODULE ".config");
  lua_call(L, 1, 1);
  if (lua_getfield(L, -1, "read_file") != LUA_TFUNCTION)
    return luaL_error(L, "module '" SBX_MODULE ".config' has no function 'read_file'");
  lua_pushstring(L, path);
  lua_call(L, 1, 2);
  luaL_checktype(L, -1, LUA_TTABLE);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, SBX_REG_CONFIG_OPTIONS);
  lua_pushvalue(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, SBX_REG_CONFIG);
  return 1;
}

int sbx_lua_config_options(lua_State *L, const char *path) {
  lua_pushcfunction(L, sbx_read_config);
  lua_pushlightuserdata(L, (void *)path);
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);

    fprintf(stderr, SBX_NAME ": %s\n", msg != NULL ? msg : "--config: (no message)");
    lua_pop(L, 1);
    return -1;
  }
  return 0;
}

/* Protected: exit status = require(SBX_MODULE ".applefile").main({argv[1], ...}). */
static int sbx_make_token(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  int i;

  lua_getglobal(L, "require");
  lua_pushliteral(L, SBX_MODULE ".applefile");
  lua_call(L, 1, 1);
  if (lua_getfield(L, -1, "main") != LUA_TFUNCTION)
    return luaL_error(L, "module '" SBX_MODULE ".applefile' has no function 'main'");
  lua_createtable(L, argc, 0);
  for (i = 1; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i);
  }
  lua_call(L, 1, 1);
  lua_pushinteger(L, luaL_checkinteger(L, -1));
  return 1;
}

int sbx_lua_make_token(int argc, char **argv) {
  struct sbx_options o;
  lua_State *L;
  int status = 1;

  memset(&o, 0, sizeof o);
  L = sbx_lua_new(&o);
  if (L == NULL) return 1;
  lua_pushcfunction(L, sbx_msgh);
  lua_pushcfunction(L, sbx_make_token);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  if (lua_pcall(L, 2, 1, 1) != LUA_OK)
    fprintf(stderr, SBX_NAME " make-token: %s\n", lua_tostring(L, -1));
  else
    status = (int)lua_tointeger(L, -1);
  fflush(stdout);
  lua_close(L);
  return status;
}

struct sbx_boot_args {
  const struct sbx_options *o;
  const char *base_url;
};

/* Protected: load the module, call configure(opts). */
static int sbx_boot(lua_State *L) {
  const struct sbx_boot_args *a = lua_touserdata(L, 1);
  const struct sbx_options *o = a->o;

  lua_getglobal(L, "require");
  lua_pushliteral(L, SBX_MODULE);
  lua_call(L, 1, 1);
  if (!lua_istable(L, -1)) return luaL_error(L, "module '" SBX_MODULE "' did not return a table");
  if (lua_getfield(L, -1, "handle") != LUA_TFUNCTION)
    return luaL_error(L, "module '" SBX_MODULE "' has no function 'handle'");
  lua_pop(L, 1);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, SBX_REG_MODULE);

  if (lua_getfield(L, -1, "configure") != LUA_TFUNCTION)
    return luaL_error(L, "module '" SBX_MODULE "' has no function 'configure'");
  lua_createtable(L, 0, 16);
  lua_pushstring(L, o->host);
  lua_setfield(L, -2, "host");
  lua_pushstring(L, a->base_url);
  lua_setfield(L, -2, "url");
  if (o->access_token != NULL) {
    lua_pushstring(L, o->access_token);
    lua_setfield(L, -2, "access_token");
  }
  lua_pushinteger(L, o->page_size);
  lua_setfield(L, -2, "page_size");
  lua_pushnumber(L, o->sync_seconds);
  lua_setfield(L, -2, "sync_seconds");
  lua_pushstring(L, o->sync_response);
  lua_setfield(L, -2, "sync_response");
  lua_pushboolean(L, o->verbose);
  lua_setfield(L, -2, "verbose");
  lua_pushboolean(L, o->throttle);
  lua_setfield(L, -2, "throttle");
  if (o->config != NULL) {
    lua_pushstring(L, o->config);
    lua_setfield(L, -2, "config");
    lua_getfield(L, LUA_REGISTRYINDEX, SBX_REG_CONFIG);
    lua_setfield(L, -2, "config_document");
  }
  if (o->data != NULL) {
    lua_pushstring(L, o->data);
    lua_setfield(L, -2, "data");
  }
  if (o->journal != NULL) {
    lua_pushstring(L, o->journal);
    lua_setfield(L, -2, "journal");
  }
  if (o->apps != NULL) {
    lua_pushstring(L, o->apps);
    lua_setfield(L, -2, "apps");
  }
  lua_pushnumber(L, o->token_lifetime);
  lua_setfield(L, -2, "token_lifetime");
  lua_pushinteger(L, o->seed_tokens);
  lua_setfield(L, -2, "seed_tokens");
  lua_pushinteger(L, o->seed);
  lua_setfield(L, -2, "seed");
  lua_call(L, 1, 0);
  return 0;
}

int sbx_lua_open(lua_State *L, const struct sbx_options *o, const char *base_url) {
  struct sbx_boot_args args = {o, base_url};

  lua_pushcfunction(L, sbx_msgh);
  lua_pushcfunction(L, sbx_boot);
  lua_pushlightuserdata(L, &args);
  if (lua_pcall(L, 1, 0, 1) != LUA_OK) {
    int refused = sbx_is_refusal(L, -1);

    if (refused) {
      lua_getfield(L, -1, "message");
      fprintf(stderr, SBX_NAME ": %s\n", lua_tostring(L, -1));
    } else {
      fprintf(stderr, SBX_NAME ": cannot load the Lua module " SBX_MODULE ": %s\n", lua_tostring(L, -1));
    }
    lua_settop(L, 0);
    return refused ? -2 : -1;
  }
  lua_settop(L, 0);
  return 0;
}

/* Header pointers collected without touching Lua, then pushed in protected mode. */
struct sbx_header_list {
  size_t n, max;
  const char *kv[];
};

static enum MHD_Result sbx_collect_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  struct sbx_header_list *h = cls;

  (void)kind;
  if (h->n < h->max && key != NULL) {
    h->kv[2 * h->n] = key;
    h->kv[2 * h->n + 1] = value != NULL ? value : "";
    h->n++;
  }
  return MHD_YES;
}

/* Pushes {lowercase-name = value}; repeated headers are joined with ", ". */
static void sbx_push_headers(lua_State *L, struct MHD_Connection *conn) {
  int count = MHD_get_connection_values(conn, MHD_HEADER_KIND, NULL, NULL);
  size_t max = count > 0 ? (size_t)count : 0;
  struct sbx_header_list *h;
  size_t i;

  h = lua_newuserdatauv(L, sizeof *h + 2 * max * sizeof(const char *), 0);
  h->n = 0;
  h->max = max;
  if (max > 0) MHD_get_connection_values(conn, MHD_HEADER_KIND, sbx_collect_header, h);
  lua_createtable(L, 0, (int)h->n);
  for (i = 0; i < h->n; i++) {
    const char *k = h->kv[2 * i];
    luaL_Buffer b;

    luaL_buffinit(L, &b);
    for (; *k != '\0'; k++) luaL_addchar(&b, (char)tolower((unsigned char)*k));
    luaL_pushresult(&b);
    lua_pushvalue(L, -1);
    if (lua_rawget(L, -3) == LUA_TSTRING) {
      lua_pushliteral(L, ", ");
      lua_pushstring(L, h->kv[2 * i + 1]);
      lua_concat(L, 3);
    } else {
      lua_pop(L, 1);
      lua_pushstring(L, h->kv[2 * i + 1]);
    }
    lua_rawset(L, -3);
  }
  lua_remove(L, -2);
}

static int sbx_bad_header_text(const char *s) { return strpbrk(s, "\r\n") != NULL; }

/* Protected: status, headers, body = module.handle(req), checked and normalised. */
static int sbx_dispatch(lua_State *L) {
  const struct sbx_request *rq = lua_touserdata(L, 1);
  lua_Integer status;
  int isnum = 0;

  lua_settop(L, 0);
  lua_getfield(L, LUA_REGISTRYINDEX, SBX_REG_MODULE);
  lua_getfield(L, 1, "handle");
  lua_createtable(L, 0, 7);
  lua_pushstring(L, rq->method);
  lua_setfield(L, -2, "method");
  lua_pushstring(L, rq->path);
  lua_setfield(L, -2, "path");
  lua_pushstring(L, rq->query);
  lua_setfield(L, -2, "query");
  sbx_push_headers(L, rq->conn);
  lua_setfield(L, -2, "headers");
  lua_pushlstring(L, rq->body != NULL ? rq->body : "", rq->body_len);
  lua_setfield(L, -2, "body");
  if (rq->body_too_large) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "body_too_large");
  }
  if (rq->path_has_nul) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "path_has_nul");
  }
  lua_call(L, 1, 4); /* stack: module, status, headers, body, delivery (fault.c) */
  if (rq->fault != NULL) sbx_fault_read(L, 5, rq->fault);
  lua_settop(L, 4);

  status = lua_tointegerx(L, 2, &isnum);
  if (!isnum || status < 100 || status > 599)
    return luaL_error(L, "handle() returned an invalid HTTP status (%s)", luaL_typename(L, 2));
  lua_pushinteger(L, status);
  lua_replace(L, 2);
  if (lua_isnil(L, 3)) {
    lua_newtable(L);
    lua_replace(L, 3);
  }
  luaL_checktype(L, 3, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, 3) != 0) {
    if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
      return luaL_error(L, "handle() returned a header that is not a string pair");
    if (sbx_bad_header_text(lua_tostring(L, -2)) || sbx_bad_header_text(lua_tostring(L, -1)))
      return luaL_error(L, "handle() returned a header with CR or LF");
    lua_pop(L, 1);
  }
  if (lua_isnil(L, 4)) {
    lua_pushliteral(L, "");
    lua_replace(L, 4);
  }
  if (lua_type(L, 4) != LUA_TSTRING) return luaL_error(L, "handle() returned a body that is not a string");
  return 3;
}

/* A Graph-shaped 500 built without Lua, for when the Lua handler itself could not run. */
static struct MHD_Response *sbx_fallback_response(void) {
  char date[32] = "1970-01-01T00:00:00";
  char body[256];
  struct tm tmv;
  time_t t = time(NULL);
  struct MHD_Response *resp;
  int n;

  if (gmtime_r(&t, &tmv) != NULL) strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tmv);
  n = snprintf(body, sizeof body,
               "{\"error\":{\"code\":\"InternalServerError\",\"message\":\"The sandbox failed to "
               "handle the request.\",\"innerError\":{\"date\":\"%s\"}}}",
               date);
  if (n < 0 || (size_t)n >= sizeof body) n = 0;
  resp = MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
  if (resp != NULL) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json;charset=utf-8");
  return resp;
}

struct MHD_Response *sbx_lua_handle(lua_State *L, const struct sbx_request *rq, unsigned *status) {
  struct MHD_Response *resp = NULL;
  int base = lua_gettop(L);
  const char *body;
  size_t blen = 0;

  if (rq->fault != NULL) memset(rq->fault, 0, sizeof *rq->fault);
  lua_pushcfunction(L, sbx_msgh);
  lua_pushcfunction(L, sbx_dispatch);
  lua_pushlightuserdata(L, (void *)rq);
  if (lua_pcall(L, 1, 3, base + 1) != LUA_OK) {
    const char *msg = lua_tostring(L, -1);

    fprintf(stderr, SBX_NAME ": %s %s: handler failed: %s\n", rq->method, rq->path, msg != NULL ? msg : "(no message)");
    lua_settop(L, base);
    if (rq->fault != NULL) memset(rq->fault, 0, sizeof *rq->fault);
    *status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    return sbx_fallback_response();
  }
  /* stack: msgh, status, headers, body (all checked by sbx_dispatch) */
  *status = (unsigned)lua_tointeger(L, base + 2);
  body = lua_tolstring(L, base + 4, &blen);
  resp = sbx_fault_response(body, blen, rq->fault, rq->conn, rq->timers);
  if (resp != NULL) {
    lua_pushnil(L);
    while (lua_next(L, base + 3) != 0) {
      const char *k = lua_tostring(L, -2);
      const char *v = lua_tostring(L, -1);

      if (MHD_add_response_header(resp, k, v) != MHD_YES)
        fprintf(stderr, SBX_NAME ": %s %s: header '%s' refused by libmicrohttpd\n", rq->method, rq->path, k);
      lua_pop(L, 1);
    }
  }
  lua_settop(L, base);
  return resp;
}
