/* vpptoken_sandbox.crypto: the few primitives the sandbox's identity platform needs, over OpenSSL
 * libcrypto. Every OpenSSL object lives in a scratch userdata whose __gc frees it, so a Lua error
 * (out of memory while pushing a result) cannot leak it; the normal path frees it explicitly.
 *
 *   crypto.random(n)                      n random bytes (1..1024)
 *   crypto.sha1(s), crypto.sha256(s)      raw digests
 *   crypto.hmac_sha256(key, data)         raw HMAC
 *   crypto.equal(a, b)                    constant-time comparison of two strings
 *   crypto.certificate(pem)               {sha1 = raw, sha256 = raw (thumbprints of the DER),
 *                                          public_key = PEM text} or nil, message
 *   crypto.verify_rs256(public_key_pem, data, signature)   true / false, or nil, message */
#include <string.h>

#include <lauxlib.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "sandbox.h"

#define SBX_CRYPTO_SCRATCH "vpptoken_sandbox.crypto.scratch"

struct sbx_scratch {
  X509 *cert;
  EVP_PKEY *key;
  BIO *bio;
  EVP_MD_CTX *md;
  unsigned char *der;
};

static void sbx_scratch_free(struct sbx_scratch *s) {
  X509_free(s->cert);
  s->cert = NULL;
  EVP_PKEY_free(s->key);
  s->key = NULL;
  BIO_free(s->bio);
  s->bio = NULL;
  EVP_MD_CTX_free(s->md);
  s->md = NULL;
  OPENSSL_free(s->der);
  s->der = NULL;
  ERR_clear_error();
}

static int sbx_scratch_gc(lua_State *L) {
  sbx_scratch_free(luaL_checkudata(L, 1, SBX_CRYPTO_SCRATCH));
  return 0;
}

/* A zeroed scratch userdata with its metatable, pushed on the stack. */
static struct sbx_scratch *sbx_scratch_new(lua_State *L) {
  struct sbx_scratch *s = lua_newuserdatauv(L, sizeof *s, 0);

  memset(s, 0, sizeof *s);
  luaL_setmetatable(L, SBX_CRYPTO_SCRATCH);
  return s;
}

static int sbx_random(lua_State *L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  unsigned char buf[1024];

  luaL_argcheck(L, n >= 1 && n <= (lua_Integer)sizeof buf, 1, "want 1..1024 bytes");
  if (RAND_bytes(buf, (int)n) != 1) return luaL_error(L, "RAND_bytes failed");
  lua_pushlstring(L, (const char *)buf, (size_t)n);
  OPENSSL_cleanse(buf, sizeof buf);
  return 1;
}

static int sbx_digest(lua_State *L, const EVP_MD *md) {
  size_t len = 0;
  const char *s = luaL_checklstring(L, 1, &len);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int olen = 0;

  if (EVP_Digest(s, len, out, &olen, md, NULL) != 1) return luaL_error(L, "digest failed");
  lua_pushlstring(L, (const char *)out, olen);
  return 1;
}

static int sbx_sha1(lua_State *L) { return sbx_digest(L, EVP_sha1()); }

static int sbx_sha256(lua_State *L) { return sbx_digest(L, EVP_sha256()); }

static int sbx_hmac_sha256(lua_State *L) {
  size_t klen = 0, dlen = 0;
  const char *key = luaL_checklstring(L, 1, &klen);
  const char *data = luaL_checklstring(L, 2, &dlen);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int olen = 0;

  luaL_argcheck(L, klen <= 1024, 1, "key too long");
  if (HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)data, dlen, out, &olen) == NULL)
    return luaL_error(L, "HMAC failed");
  lua_pushlstring(L, (const char *)out, olen);
  return 1;
}

static int sbx_equal(lua_State *L) {
  size_t alen = 0, blen = 0;
  const char *a = luaL_checklstring(L, 1, &alen);
  const char *b = luaL_checklstring(L, 2, &blen);

  lua_pushboolean(L, alen == blen && CRYPTO_memcmp(a, b, alen) == 0);
  return 1;
}

static int sbx_fail(lua_State *L, struct sbx_scratch *s, const char *what) {
  sbx_scratch_free(s);
  lua_pushnil(L);
  lua_pushstring(L, what);
  return 2;
}

static int sbx_certificate(lua_State *L) {
  size_t len = 0;
  const char *pem = luaL_checklstring(L, 1, &len);
  struct sbx_scratch *s;
  unsigned char sha1[EVP_MAX_MD_SIZE], sha256[EVP_MAX_MD_SIZE];
  unsigned int l1 = 0, l256 = 0;
  BUF_MEM *mem = NULL;
  int dlen;

  luaL_argcheck(L, len <= (size_t)1024 * 1024, 1, "certificate text too long");
  s = sbx_scratch_new(L);
  s->bio = BIO_new_mem_buf(pem, (int)len);
  if (s->bio == NULL) return sbx_fail(L, s, "out of memory");
  s->cert = PEM_read_bio_X509(s->bio, NULL, NULL, NULL);
  if (s->cert == NULL) return sbx_fail(L, s, "not a PEM certificate");
  dlen = i2d_X509(s->cert, &s->der);
  if (dlen <= 0) return sbx_fail(L, s, "cannot encode the certificate");
  if (EVP_Digest(s->der, (size_t)dlen, sha1, &l1, EVP_sha1(), NULL) != 1 ||
      EVP_Digest(s->der, (size_t)dlen, sha256, &l256, EVP_sha256(), NULL) != 1)
    return sbx_fail(L, s, "digest failed");
  BIO_free(s->bio);
  s->bio = BIO_new(BIO_s_mem());
  if (s->bio == NULL || PEM_write_bio_PUBKEY(s->bio, X509_get0_pubkey(s->cert)) != 1)
    return sbx_fail(L, s, "cannot read the certificate's public key");
  BIO_get_mem_ptr(s->bio, &mem);
  if (mem == NULL) return sbx_fail(L, s, "cannot read the certificate's public key");
  lua_createtable(L, 0, 3);
  lua_pushlstring(L, (const char *)sha1, l1);
  lua_setfield(L, -2, "sha1");
  lua_pushlstring(L, (const char *)sha256, l256);
  lua_setfield(L, -2, "sha256");
  lua_pushlstring(L, mem->data, mem->length);
  lua_setfield(L, -2, "public_key");
  sbx_scratch_free(s);
  return 1;
}

static int sbx_verify_rs256(lua_State *L) {
  size_t klen = 0, dlen = 0, slen = 0;
  const char *pem = luaL_checklstring(L, 1, &klen);
  const char *data = luaL_checklstring(L, 2, &dlen);
  const char *sig = luaL_checklstring(L, 3, &slen);
  struct sbx_scratch *s;
  int ok;

  luaL_argcheck(L, klen <= (size_t)64 * 1024, 1, "public key text too long");
  s = sbx_scratch_new(L);
  s->bio = BIO_new_mem_buf(pem, (int)klen);
  if (s->bio == NULL) return sbx_fail(L, s, "out of memory");
  s->key = PEM_read_bio_PUBKEY(s->bio, NULL, NULL, NULL);
  if (s->key == NULL) return sbx_fail(L, s, "not a PEM public key");
  if (EVP_PKEY_base_id(s->key) != EVP_PKEY_RSA) return sbx_fail(L, s, "not an RSA key");
  s->md = EVP_MD_CTX_new();
  if (s->md == NULL || EVP_DigestVerifyInit(s->md, NULL, EVP_sha256(), NULL, s->key) != 1)
    return sbx_fail(L, s, "cannot set up the verification");
  ok = EVP_DigestVerify(s->md, (const unsigned char *)sig, slen, (const unsigned char *)data, dlen) == 1;
  sbx_scratch_free(s);
  lua_pushboolean(L, ok);
  return 1;
}

int sbx_open_crypto(lua_State *L) {
  static const luaL_Reg funcs[] = {
      {"random", sbx_random},
      {"sha1", sbx_sha1},
      {"sha256", sbx_sha256},
      {"hmac_sha256", sbx_hmac_sha256},
      {"equal", sbx_equal},
      {"certificate", sbx_certificate},
      {"verify_rs256", sbx_verify_rs256},
      {NULL, NULL},
  };

  if (luaL_newmetatable(L, SBX_CRYPTO_SCRATCH)) {
    lua_pushcfunction(L, sbx_scratch_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  luaL_newlib(L, funcs);
  return 1;
}
