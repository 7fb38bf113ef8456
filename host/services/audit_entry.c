/* audit_entry.c -- see audit_entry.h. */
#include "audit_entry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "keys.h"
#include "rconn.h"
#include "util.h"

const char ch_audit_genesis[CH_AUDIT_HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

char *ch_audit_key(const char *tenant, const char *what)
{
    return ch_key_tenant(tenant, "audit:%s", what);
}

int ch_audit_hex_valid(const char *s, size_t len, size_t want)
{
    if (!s || len != want) return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

int ch_audit_read_mark(const char *key, uint64_t *seq, char hash[CH_AUDIT_HASH_HEX + 1])
{
    redisReply *r = ch_rconn_command("HMGET %s seq hash", key);
    if (!r) return -2;
    int rc = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        redisReply *s = r->element[0], *h = r->element[1];
        long long v;
        if (s->type == REDIS_REPLY_NIL && h->type == REDIS_REPLY_NIL) {
            *seq = 0;
            hash[0] = '\0';
            rc = 0;
        } else if (s->type == REDIS_REPLY_STRING && h->type == REDIS_REPLY_STRING &&
                   ch_parse_ll(s->str, 1, INT64_MAX, &v) == 0 && ch_audit_hex_valid(h->str, h->len, CH_AUDIT_HASH_HEX)) {
            *seq = (uint64_t)v;
            memcpy(hash, h->str, CH_AUDIT_HASH_HEX + 1);
            rc = 0;
        }
    }
    freeReplyObject(r);
    return rc;
}

static void put(crypto_hash_sha256_state *st, const char *s)
{
    crypto_hash_sha256_update(st, (const unsigned char *)s, strlen(s));
    crypto_hash_sha256_update(st, (const unsigned char *)"\n", 1);
}

void ch_audit_rec_hash(const ch_audit_rec *r, char out[CH_AUDIT_HASH_HEX + 1])
{
    char num[24];
    unsigned char md[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    put(&st, "c360-audit-v1");
    snprintf(num, sizeof num, "%" PRIu64, r->seq);
    put(&st, num);
    put(&st, r->prev);
    snprintf(num, sizeof num, "%" PRId64, r->ts);
    put(&st, num);
    put(&st, r->tenant);
    put(&st, r->actor);
    put(&st, r->connection);
    put(&st, r->action);
    put(&st, r->target);
    put(&st, r->outcome);
    put(&st, r->request_id);
    put(&st, r->nonce);
    crypto_hash_sha256_final(&st, md);
    sodium_bin2hex(out, CH_AUDIT_HASH_HEX + 1, md, sizeof md);
}

json_t *ch_audit_rec_json(const ch_audit_rec *r)
{
    return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                     "seq", (json_int_t)r->seq, "ts", (json_int_t)r->ts, "tenant", r->tenant,
                     "actor", r->actor, "connection", r->connection, "action", r->action,
                     "target", r->target, "outcome", r->outcome, "request_id", r->request_id,
                     "nonce", r->nonce, "prev_hash", r->prev, "hash", r->hash);
}

char *ch_audit_rec_text(const ch_audit_rec *r)
{
    json_t *j = ch_audit_rec_json(r);
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (!s) abort(); /* only on OOM: the host's policy */
    return s;
}

static int get_str(json_t *o, const char *name, char *out, int may_be_empty, char *why, size_t cap)
{
    json_t *v = json_object_get(o, name);
    const char *s = json_string_value(v);
    /* A NUL inside a JSON string would hide the rest from the hash. */
    if (!s || strlen(s) != json_string_length(v) || !ch_audit_field_valid(s, may_be_empty)) {
        snprintf(why, cap, "field %s is missing or invalid", name);
        return -1;
    }
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

static int get_hex(json_t *o, const char *name, char *out, size_t want, char *why, size_t cap)
{
    json_t *v = json_object_get(o, name);
    const char *s = json_string_value(v);
    if (!s || !ch_audit_hex_valid(s, json_string_length(v), want)) {
        snprintf(why, cap, "field %s is not %zu lower-case hex digits", name, want);
        return -1;
    }
    memcpy(out, s, want + 1);
    return 0;
}

int ch_audit_rec_parse(const char *text, size_t len, ch_audit_rec *r, char *why, size_t cap)
{
    memset(r, 0, sizeof *r);
    if (len > CH_AUDIT_ENTRY_MAX) {
        snprintf(why, cap, "entry is %zu bytes, over %d", len, CH_AUDIT_ENTRY_MAX);
        return -1;
    }
    json_error_t err;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    int rc = -1;
    if (!o || !json_is_object(o)) {
        snprintf(why, cap, "entry is not a JSON object");
        goto out;
    }
    /* Exactly the known fields: an added field would not be covered by
     * the hash, so it is refused rather than ignored. */
    if (json_object_size(o) != 12) {
        snprintf(why, cap, "entry has %zu fields, expected 12", json_object_size(o));
        goto out;
    }
    json_t *seq = json_object_get(o, "seq"), *ts = json_object_get(o, "ts");
    if (!json_is_integer(seq) || json_integer_value(seq) < 1 || !json_is_integer(ts) ||
        json_integer_value(ts) < 0) {
        snprintf(why, cap, "field seq or ts is missing or invalid");
        goto out;
    }
    r->seq = (uint64_t)json_integer_value(seq);
    r->ts = (int64_t)json_integer_value(ts);
    if (get_str(o, "tenant", r->tenant, 0, why, cap) || get_str(o, "actor", r->actor, 0, why, cap) ||
        get_str(o, "connection", r->connection, 1, why, cap) ||
        get_str(o, "action", r->action, 0, why, cap) || get_str(o, "target", r->target, 0, why, cap) ||
        get_str(o, "outcome", r->outcome, 0, why, cap) ||
        get_str(o, "request_id", r->request_id, 1, why, cap) ||
        get_hex(o, "nonce", r->nonce, CH_AUDIT_NONCE_HEX, why, cap) ||
        get_hex(o, "prev_hash", r->prev, CH_AUDIT_HASH_HEX, why, cap) ||
        get_hex(o, "hash", r->hash, CH_AUDIT_HASH_HEX, why, cap))
        goto out;
    rc = 0;
out:
    json_decref(o);
    return rc;
}
