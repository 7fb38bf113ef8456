/* fh_crypto.c -- the crypto helpers of the host table: the host's own
 * (host/services/crypto.h), so a plugin's signatures and encodings come out
 * exactly as in c360d. What the fake adds is a trace entry (lengths only:
 * keys and messages may be secrets) and accounting of the buffers the
 * encoders hand out (host->free, fh_mem.h). Pure functions, allowed in
 * every callback: no gate. */
#include <string.h>

#include "crypto.h"
#include "fh_internal.h"
#include "fh_mem.h"

static const char *fh_variant_name(int32_t v)
{
    switch (v) {
    case C360_B64_STANDARD: return "standard";
    case C360_B64_URLSAFE: return "urlsafe";
    case C360_B64_URLSAFE_NOPAD: return "urlsafe_nopad";
    default: return NULL;
    }
}

static void fh_variant_arg(json_t *e, int32_t v)
{
    const char *name = fh_variant_name(v);
    if (name != NULL)
        fh_named_str(e, "variant", name);
    else
        fh_named_int(e, "variant", v);
}

/* Records an entry with one length argument. */
static void fh_record_len(const char *fn, const char *arg, size_t len)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named(fn);
    fh_named_int(e, arg, (json_int_t)len);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
}

void fh_hmac_sha256(const void *key, size_t key_len, const void *msg,
                    size_t msg_len, uint8_t out[32])
{
    ch_hmac_sha256(key, key_len, msg, msg_len, out);
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("hmac_sha256");
    fh_named_int(e, "key_len", (json_int_t)key_len);
    fh_named_int(e, "msg_len", (json_int_t)msg_len);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
}

void fh_sha256(const void *msg, size_t len, uint8_t out[32])
{
    ch_sha256(msg, len, out);
    fh_record_len("sha256", "len", len);
}

int fh_ct_equal(const void *a, const void *b, size_t len)
{
    int eq = ch_ct_equal(a, b, len);
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("ct_equal");
    fh_named_int(e, "len", (json_int_t)len);
    fh_detail(e, "%s", eq ? "equal" : "different");
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return eq;
}

char *fh_base64_encode(const void *bin, size_t len, int32_t variant)
{
    char *out = ch_base64_encode(bin, len, variant);
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("base64_encode");
    fh_named_int(e, "len", (json_int_t)len);
    fh_variant_arg(e, variant);
    if (out != NULL) {
        fh_mem_adopt_locked(out, FH_MEM_HEAP, "base64_encode");
        fh_detail(e, "%zu characters", strlen(out));
    } else {
        fh_detail(e, "NULL: unknown variant");
    }
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return out;
}

int32_t fh_base64_decode(const char *text, size_t text_len, int32_t variant,
                         uint8_t **bin, size_t *len)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("base64_decode");
    fh_named_int(e, "text_len", (json_int_t)text_len);
    fh_variant_arg(e, variant);
    int32_t st;
    if (bin == NULL || len == NULL) {
        /* hostapi.c checks these before the helper runs. */
        st = fh_invalid_locked(e, "base64_decode", "bin and len are required");
    } else {
        st = fh_status(e, ch_base64_decode(text, text_len, variant, bin, len));
        if (st == C360_OK) {
            fh_mem_adopt_locked(*bin, FH_MEM_HEAP, "base64_decode");
            fh_detail(e, "%zu bytes", *len);
        } else {
            fh_detail(e, "%s", fh_variant_name(variant) == NULL
                                   ? "unknown variant"
                                   : "not valid base64 of this variant");
        }
    }
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}

char *fh_hex_encode(const void *bin, size_t len)
{
    char *out = ch_hex_encode(bin, len);
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("hex_encode");
    fh_named_int(e, "len", (json_int_t)len);
    fh_mem_adopt_locked(out, FH_MEM_HEAP, "hex_encode");
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return out;
}

void fh_random_bytes(void *buf, size_t len)
{
    ch_random_bytes(buf, len);
    fh_record_len("random_bytes", "len", len);
}

/* ABI 1.8: the host's prepared keys; traced by length only, and accounted
 * (fh_mem.h): a key the plugin never frees is reported at the end, one
 * released with another function is a problem. */
c360_hmac_key *fh_hmac_sha256_key_new(const void *key, size_t key_len)
{
    c360_hmac_key *k = ch_hmac_key_new(key, key_len);
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("hmac_sha256_key_new");
    fh_named_int(e, "key_len", (json_int_t)key_len);
    if (k == NULL) fh_detail(e, "NULL: out of memory");
    fh_mem_adopt_locked(k, FH_MEM_HMAC_KEY, "hmac_sha256_key_new");
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return k;
}

void fh_hmac_sha256_keyed(const c360_hmac_key *k, const void *msg,
                          size_t msg_len, uint8_t out[32])
{
    ch_hmac_sha256_keyed(k, msg, msg_len, out);
    fh_record_len("hmac_sha256_keyed", "msg_len", msg_len);
}

void fh_hmac_sha256_key_free(c360_hmac_key *k)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("hmac_sha256_key_free");
    fh_mem_release_locked(k, FH_MEM_HMAC_KEY, e); /* frees it */
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
}
