/* google_jwt.c -- the OIDC token Pub/Sub puts on a push when the
 * subscription has push authentication: a JWT signed RS256 with one of
 * Google's keys (JWKS, https://www.googleapis.com/oauth2/v3/certs). The
 * keys are parsed once (instance_open, and again at most every 6 hours
 * from tick) into EVP_PKEYs, which are safe to share between threads for
 * verification; each check makes its own digest context. libcrypto is
 * linked privately (hidden visibility: nothing of it is exported). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "google.h"

struct g_jwks {
    size_t n;
    struct {
        char kid[128];
        EVP_PKEY *key;
    } k[G_MAX_KEYS];
};

void g_jwks_free(g_jwks *ks)
{
    if (ks == NULL) return;
    for (size_t i = 0; i < ks->n; i++) EVP_PKEY_free(ks->k[i].key);
    free(ks);
}

static EVP_PKEY *rsa_key(const char *n64, const char *e64)
{
    size_t nl = 0, el = 0;
    uint8_t *n = g_b64_decode(n64, strlen(n64), 1024, &nl);
    uint8_t *e = g_b64_decode(e64, strlen(e64), 16, &el);
    EVP_PKEY *pkey = NULL;
    BIGNUM *bn = NULL, *be = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    if (n == NULL || e == NULL || nl < 256 || el == 0) goto done; /* at least 2048 bits */
    bn = BN_bin2bn(n, (int)nl, NULL);
    be = BN_bin2bn(e, (int)el, NULL);
    bld = OSSL_PARAM_BLD_new();
    if (bn == NULL || be == NULL || bld == NULL ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
        goto done;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
done:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    free(n);
    free(e);
    return pkey;
}

g_jwks *g_jwks_parse(const char *json, size_t len, size_t *nkeys)
{
    *nkeys = 0;
    json_t *root = json_loadb(json, len, 0, NULL);
    const json_t *keys = json_object_get(root, "keys");
    g_jwks *ks = calloc(1, sizeof *ks);
    if (ks == NULL) {
        json_decref(root);
        return NULL;
    }
    for (size_t i = 0; i < json_array_size(keys) && ks->n < G_MAX_KEYS; i++) {
        const json_t *k = json_array_get(keys, i);
        const char *kty = g_str(k, "kty"), *alg = g_str(k, "alg"), *use = g_str(k, "use");
        const char *kid = g_str(k, "kid"), *n = g_str(k, "n"), *e = g_str(k, "e");
        if (kty == NULL || strcmp(kty, "RSA") != 0 || (alg != NULL && strcmp(alg, "RS256") != 0) ||
            (use != NULL && strcmp(use, "sig") != 0) || n == NULL || e == NULL ||
            (kid != NULL && strlen(kid) >= sizeof ks->k[0].kid))
            continue;
        EVP_PKEY *pk = rsa_key(n, e);
        if (pk == NULL) continue;
        snprintf(ks->k[ks->n].kid, sizeof ks->k[0].kid, "%s", kid != NULL ? kid : "");
        ks->k[ks->n++].key = pk;
    }
    json_decref(root);
    if (ks->n == 0) {
        free(ks);
        return NULL;
    }
    *nkeys = ks->n;
    return ks;
}

static json_t *part_json(const char *s, size_t len)
{
    size_t dl = 0;
    uint8_t *d = g_b64_decode(s, len, G_TOKEN_MAX, &dl);
    if (d == NULL) return NULL;
    json_t *j = json_loadb((const char *)d, dl, 0, NULL);
    free(d);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static bool sig_ok(EVP_PKEY *key, const char *signed_part, size_t slen, const uint8_t *sig,
                   size_t siglen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
              EVP_DigestVerify(md, sig, siglen, (const unsigned char *)signed_part, slen) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

static bool aud_ok(const json_t *aud, const char *want)
{
    if (json_is_string(aud)) return strcmp(json_string_value(aud), want) == 0;
    for (size_t i = 0; i < json_array_size(aud); i++)
        if (json_is_string(json_array_get(aud, i)) &&
            strcmp(json_string_value(json_array_get(aud, i)), want) == 0)
            return true;
    return false;
}

bool g_jwt_verify(const g_jwks *ks, const char *jwt, size_t len, const char *audience,
                  const char *email, int64_t now_s, const char **why)
{
    *why = "malformed token";
    if (ks == NULL) {
        *why = "Google's keys are not loaded";
        return false;
    }
    if (jwt == NULL || len == 0 || len > G_TOKEN_MAX) return false;
    const char *d1 = memchr(jwt, '.', len);
    const char *d2 = d1 != NULL ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jwt)) : NULL;
    if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jwt)) != NULL)
        return false;
    json_t *hdr = part_json(jwt, (size_t)(d1 - jwt));
    json_t *pl = part_json(d1 + 1, (size_t)(d2 - d1 - 1));
    size_t siglen = 0;
    uint8_t *sig = g_b64_decode(d2 + 1, len - (size_t)(d2 + 1 - jwt), 1024, &siglen);
    bool ok = false;
    if (hdr == NULL || pl == NULL || sig == NULL) goto done;
    const char *alg = g_str(hdr, "alg"), *kid = g_str(hdr, "kid");
    if (alg == NULL || strcmp(alg, "RS256") != 0) {
        *why = "the token is not RS256";
        goto done;
    }
    EVP_PKEY *key = NULL;
    for (size_t i = 0; i < ks->n && key == NULL; i++)
        if (kid != NULL ? strcmp(ks->k[i].kid, kid) == 0 : ks->n == 1) key = ks->k[i].key;
    if (key == NULL) {
        *why = "the token's key id is not among Google's keys";
        goto done;
    }
    if (!sig_ok(key, jwt, (size_t)(d2 - jwt), sig, siglen)) {
        *why = "bad token signature";
        goto done;
    }
    const char *iss = g_str(pl, "iss");
    if (iss == NULL || (strcmp(iss, "accounts.google.com") != 0 &&
                        strcmp(iss, "https://accounts.google.com") != 0)) {
        *why = "wrong token issuer";
        goto done;
    }
    if (!aud_ok(json_object_get(pl, "aud"), audience)) {
        *why = "wrong token audience";
        goto done;
    }
    const char *em = g_str(pl, "email");
    const json_t *ev = json_object_get(pl, "email_verified");
    if (em == NULL || strcmp(em, email) != 0 || (ev != NULL && !json_is_true(ev))) {
        *why = "the token is not the push service account's";
        goto done;
    }
    const json_t *exp = json_object_get(pl, "exp"), *iat = json_object_get(pl, "iat");
    if (!json_is_integer(exp) || json_integer_value(exp) + G_JWT_SKEW_S < now_s) {
        *why = "the token has expired";
        goto done;
    }
    if (json_is_integer(iat) && json_integer_value(iat) > now_s + G_JWT_SKEW_S) {
        *why = "the token is issued in the future";
        goto done;
    }
    ok = true;
    *why = NULL;
done:
    json_decref(hdr);
    json_decref(pl);
    free(sig);
    return ok;
}
