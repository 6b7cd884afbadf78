/* Signing for certificate sign-in: RS256 over a JWT signing input, the certificate's SHA-1 thumbprint (x5t), and
   base64url. OpenSSL objects are freed before anything is pushed to Lua, so a Lua error cannot leak them. */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "vpp.h"

#define VPP_MAX_SIG 1024                 /* bytes: an 8192-bit RSA signature */
#define VPP_MAX_PEM ((size_t)256 * 1024) /* bytes of a certificate (and key) PEM file: core.MAX_PEM_BYTES */

size_t vpp_base64url(const unsigned char *in, size_t len, char *out) {
  static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t o = 0, i = 0;
  for (; i + 2 < len; i += 3) {
    unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
    out[o++] = tbl[v >> 18 & 63];
    out[o++] = tbl[v >> 12 & 63];
    out[o++] = tbl[v >> 6 & 63];
    out[o++] = tbl[v & 63];
  }
  if (len - i == 1) {
    unsigned v = (unsigned)in[i] << 16;
    out[o++] = tbl[v >> 18 & 63];
    out[o++] = tbl[v >> 12 & 63];
  } else if (len - i == 2) {
    unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
    out[o++] = tbl[v >> 18 & 63];
    out[o++] = tbl[v >> 12 & 63];
    out[o++] = tbl[v >> 6 & 63];
  }
  out[o] = '\0';
  return o;
}

/* base64_decode(text) -> bytes | nil, position of the first character in neither alphabet (standard + / and
   URL-safe - _). No padding and no white space: the caller strips them; bits left over at the end are dropped. */
static int l_base64_decode(lua_State *L) {
  size_t len;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, len / 4 * 3 + 3);
  size_t o = 0;
  unsigned acc = 0, bits = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned c = s[i], v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+' || c == '-')
      v = 62;
    else if (c == '/' || c == '_')
      v = 63;
    else {
      luaL_pushfail(L);
      lua_pushinteger(L, (lua_Integer)i + 1);
      return 2;
    }
    acc = (acc << 6 | v) & 0xFFFF;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (char)(acc >> bits & 0xFF);
    }
  }
  luaL_pushresultsize(&b, o);
  return 1;
}

/* Copies OpenSSL's last error (or fallback) into msg. */
static void ssl_error(char *msg, size_t n, const char *what) {
  unsigned long e = ERR_get_error();
  char buf[200];
  if (e)
    ERR_error_string_n(e, buf, sizeof buf);
  else
    snprintf(buf, sizeof buf, "no detail");
  snprintf(msg, n, "%s (%s)", what, buf);
  ERR_clear_error();
}

/* base64url(bytes) -> text without padding */
static int l_base64url(lua_State *L) {
  size_t len;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
  luaL_argcheck(L, len <= (size_t)1024 * 1024, 1, "more than 1 MiB");
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, len / 3 * 4 + 5);
  luaL_pushresultsize(&b, vpp_base64url(s, len, out));
  return 1;
}

/* rs256_sign(data, key_pem [, passphrase]) -> signature bytes | nil, message
   Signs with RSASSA-PKCS1-v1_5 and SHA-256 (JWT "RS256"). The message never contains key material. */
static int l_rs256_sign(lua_State *L) {
  size_t dlen, klen;
  const char *data = luaL_checklstring(L, 1, &dlen);
  const char *pem = luaL_checklstring(L, 2, &klen);
  const char *pass = luaL_optstring(L, 3, NULL);
  luaL_argcheck(L, klen <= (size_t)64 * 1024, 2, "key PEM larger than 64 KiB");
  /* The signature goes into a Lua-owned box made before any OpenSSL object exists, so nothing can leak. */
  unsigned char *sig = lua_newuserdatauv(L, VPP_MAX_SIG, 0);
  char msg[300] = "";
  size_t siglen = 0;
  BIO *bio = BIO_new_mem_buf(pem, (int)klen);
  EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *)pass) : NULL;
  EVP_MD_CTX *ctx = NULL;
  if (!key) {
    ssl_error(msg, sizeof msg, "cannot read the private key (PEM; an encrypted key needs its passphrase)");
  } else if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
    snprintf(msg, sizeof msg, "the private key is not an RSA key (RS256 needs RSA)");
  } else if (!(ctx = EVP_MD_CTX_new()) || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
             EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)data, dlen) != 1) {
    ssl_error(msg, sizeof msg, "cannot start signing with this key");
  } else if (siglen > VPP_MAX_SIG) {
    snprintf(msg, sizeof msg, "RSA key larger than 8192 bits");
  } else if (EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)data, dlen) != 1) {
    ssl_error(msg, sizeof msg, "signing failed");
  }
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  BIO_free(bio);
  if (msg[0]) {
    luaL_pushfail(L);
    lua_pushstring(L, msg);
    return 2;
  }
  lua_pushlstring(L, (const char *)sig, siglen);
  return 1;
}

/* x509_thumbprint(cert_pem) -> SHA-1 of the DER certificate (20 bytes) | nil, message */
static int l_x509_thumbprint(lua_State *L) {
  size_t len;
  const char *pem = luaL_checklstring(L, 1, &len);
  luaL_argcheck(L, len <= VPP_MAX_PEM, 1, "certificate PEM larger than 256 KiB");
  char msg[300] = "";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  BIO *bio = BIO_new_mem_buf(pem, (int)len);
  X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
  if (!cert)
    ssl_error(msg, sizeof msg, "cannot read a certificate (PEM 'BEGIN CERTIFICATE')");
  else if (X509_digest(cert, EVP_sha1(), md, &mdlen) != 1)
    ssl_error(msg, sizeof msg, "cannot compute the certificate thumbprint");
  X509_free(cert);
  BIO_free(bio);
  if (msg[0]) {
    luaL_pushfail(L);
    lua_pushstring(L, msg);
    return 2;
  }
  lua_pushlstring(L, (const char *)md, mdlen);
  return 1;
}

void vpp_open_crypto(lua_State *L) {
  static const luaL_Reg f[] = {{"base64url", l_base64url},
                               {"base64_decode", l_base64_decode},
                               {"rs256_sign", l_rs256_sign},
                               {"x509_thumbprint", l_x509_thumbprint},
                               {NULL, NULL}};
  luaL_setfuncs(L, f, 0);
  lua_pushinteger(L, (lua_Integer)VPP_MAX_PEM);
  lua_setfield(L, -2, "MAX_PEM_BYTES");
}
