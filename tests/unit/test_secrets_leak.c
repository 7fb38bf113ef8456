/* test_secrets_leak.c -- a known secret never reaches the logs, the error
 * messages, or Redis (DUMP of every key and a SAVE'd RDB file), in plain
 * form, hex or base64, whatever path the service takes: put, get,
 * overwrite, re-wrap (rotation), delete, delete_connection, and the error
 * paths (a copied record, a tampered one, a retired key, a value over the
 * limit, a bad name).
 *
 * Redis runs with rdbcompression off so a leaked string could not hide in
 * LZF-compressed bytes, and a control string stored in the clear (and
 * logged) must be found by the same search: the search is shown to work on
 * exactly these files. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "check.h"
#include "keyring.h"
#include "log.h"
#include "rconn.h"
#include "redis_fixture.h"
#include "secrets.h"
#include "svc.h"

#define HEX_A "a0112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define HEX_B "b0eeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

/* Everything the service said: log lines and error messages. */
typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void buf_add(buf *b, const void *p, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static buf g_errs;

static void note_err(int32_t rc, const char *err)
{
    char line[600];
    int n = snprintf(line, sizeof line, "status %d: %s\n", rc, err);
    buf_add(&g_errs, line, (size_t)n);
}

static ch_keyring *ring(const char *text)
{
    ch_keyring *kr = NULL;
    char err[256];
    if (ch_keyring_parse(text, strlen(text), 0, "test", &kr, err, sizeof err) != CH_OK) exit(1);
    return kr;
}

static int read_whole(const char *path, buf *b)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_add(b, chunk, n);
    fclose(f);
    return 0;
}

/* The forms a leak could take: the bytes, hex (both cases), and base64
 * (standard and URL-safe) at each of the three alignments a substring can
 * have inside a longer base64 text, padding dropped. */
typedef struct forms {
    char *s[16];
    size_t n;
} forms;

static void forms_of(const char *p, forms *f)
{
    size_t len = strlen(p);
    f->n = 0;
    f->s[f->n++] = strdup(p);
    char *hex = malloc(len * 2 + 1);
    sodium_bin2hex(hex, len * 2 + 1, (const unsigned char *)p, len);
    f->s[f->n++] = hex;
    char *up = strdup(hex);
    for (char *c = up; *c; c++)
        if (*c >= 'a' && *c <= 'f') *c = (char)(*c - 'a' + 'A');
    f->s[f->n++] = up;
    int variants[] = {sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING};
    for (int v = 0; v < 2; v++) {
        for (size_t off = 0; off < 3; off++) {
            size_t m = (len - off) / 3 * 3; /* whole groups only: alignment-free */
            size_t cap = sodium_base64_ENCODED_LEN(m, variants[v]);
            char *b64 = malloc(cap);
            sodium_bin2base64(b64, cap, (const unsigned char *)p + off, m, variants[v]);
            f->s[f->n++] = b64;
        }
    }
}

static void forms_free(forms *f)
{
    for (size_t i = 0; i < f->n; i++) free(f->s[i]);
}

/* Number of forms of p found in b. */
static int found(const buf *b, const forms *f)
{
    int hits = 0;
    for (size_t i = 0; i < f->n; i++)
        if (b->n && memmem(b->p, b->n, f->s[i], strlen(f->s[i]))) hits++;
    return hits;
}

static void dump_all(redisContext *c, buf *out)
{
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(c, "SCAN %s COUNT 100", cursor);
        CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) { if (r) freeReplyObject(r); return; }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            const redisReply *k = r->element[1]->element[i];
            redisReply *d = redisCommand(c, "DUMP %b", k->str, k->len);
            CHECK(d && d->type == REDIS_REPLY_STRING);
            if (d && d->type == REDIS_REPLY_STRING) buf_add(out, d->str, d->len);
            if (d) freeReplyObject(d);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
}

int main(void)
{
    if (sodium_init() < 0) return 1;
    const char *extra[] = {"--rdbcompression", "no", NULL};
    int port = fx_redis_start_args(extra);
    fx_rconn_configure(5000);
    redisContext *raw = redisConnect("127.0.0.1", port);
    if (!raw || raw->err) return 1;

    char logpath[128];
    snprintf(logpath, sizeof logpath, "%s/service.log", fx_current.dir);
    int logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (logfd < 0) return 1;
    ch_log_set_fd(logfd);
    ch_log_set_level(CH_LOG_DEBUG);

    /* The canary: random, so nothing else could contain it by chance. */
    char rnd[17], secret[64], control[64];
    unsigned char r8[8];
    randombytes_buf(r8, sizeof r8);
    sodium_bin2hex(rnd, sizeof rnd, r8, sizeof r8);
    snprintf(secret, sizeof secret, "leak-canary-%s-secret", rnd);
    randombytes_buf(r8, sizeof r8);
    sodium_bin2hex(rnd, sizeof rnd, r8, sizeof r8);
    snprintf(control, sizeof control, "leak-control-%s-plain", rnd);
    size_t slen = strlen(secret);

    ch_keyring *a = ring("kA:" HEX_A "\n");
    ch_keyring *ab = ring("kA:" HEX_A "\nkB:" HEX_B "\n");
    char err[512];
    int32_t rc;
    uint8_t *v = NULL;
    size_t len = 0;

    /* put, get, overwrite */
    ch_secrets_init(a);
    CHECK(ch_secret_put("tl", "c1", "pw", secret, slen, err, sizeof err) == C360_OK);
    CHECK(ch_secret_put("tl", "c1", "pw2", secret, slen, err, sizeof err) == C360_OK);
    CHECK(ch_secret_put("tl", "c1", "pw3", secret, slen, err, sizeof err) == C360_OK);
    CHECK(ch_secret_put("tl", "c2", "pw", secret, slen, err, sizeof err) == C360_OK);
    CHECK(ch_secret_get("tl", "c1", "pw", &v, &len, err, sizeof err) == C360_OK);
    CHECK(len == slen && v && memcmp(v, secret, slen) == 0);
    ch_secret_value_free(v);
    CHECK(ch_secret_put("tl", "c1", "pw", secret, slen, err, sizeof err) == C360_OK);

    /* rotation: re-wrap under kB */
    ch_secrets_init(ab);
    ch_rewrap_outcome out;
    CHECK(ch_secret_rewrap("tl", "c1", "pw", &out, err, sizeof err) == C360_OK &&
          out == CH_REWRAP_DONE);
    CHECK(ch_secret_rewrap("tl", "c1", "pw2", &out, err, sizeof err) == C360_OK);

    /* error paths: a copy under another connection, a tampered record */
    redisReply *r = redisCommand(raw, "HGETALL c360:{t:tl}:secret:c1:pw");
    CHECK(r && r->type == REDIS_REPLY_ARRAY && r->elements == 8);
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        redisReply *w = redisCommand(raw, "HSET c360:{t:tl}:secret:c3:pw %b %b",
                                     r->element[i]->str, r->element[i]->len,
                                     r->element[i + 1]->str, r->element[i + 1]->len);
        if (w) freeReplyObject(w);
    }
    if (r) freeReplyObject(r);
    rc = ch_secret_get("tl", "c3", "pw", &v, &len, err, sizeof err);
    CHECK(rc == C360_EAUTH && v == NULL);
    note_err(rc, err);
    r = redisCommand(raw, "HSET c360:{t:tl}:secret:c1:pw3 kid kB");
    if (r) freeReplyObject(r);
    rc = ch_secret_get("tl", "c1", "pw3", &v, &len, err, sizeof err);
    CHECK(rc == C360_EAUTH);
    note_err(rc, err);
    CHECK(ch_secret_put("tl", "c1", "pw4", secret, slen, err, sizeof err) == C360_OK);
    r = redisCommand(raw, "HSET c360:{t:tl}:secret:c1:pw4 kid kA");
    if (r) freeReplyObject(r);
    rc = ch_secret_rewrap("tl", "c1", "pw4", &out, err, sizeof err);
    CHECK(rc == C360_EAUTH);
    note_err(rc, err);

    /* a retired key */
    ch_secrets_init(a);
    rc = ch_secret_get("tl", "c1", "pw", &v, &len, err, sizeof err);
    CHECK(rc == C360_EIO);
    CHECK_CONTAINS(err, "'kB'");
    note_err(rc, err);

    /* over the limit (the value holds the canary), and a bad name */
    ch_svc_limits_current.secret_max_value = slen - 1;
    rc = ch_secret_put("tl", "c1", "big", secret, slen, err, sizeof err);
    CHECK(rc == C360_ETOOBIG);
    note_err(rc, err);
    ch_svc_limits_current.secret_max_value = 64 * 1024;
    rc = ch_secret_put("tl", "c1", "bad name", secret, slen, err, sizeof err);
    CHECK(rc == C360_EINVAL);
    note_err(rc, err);

    /* delete paths */
    ch_secrets_init(ab);
    CHECK(ch_secret_delete("tl", "c1", "pw2", err, sizeof err) == C360_OK);
    size_t deleted = 0;
    CHECK(ch_secret_delete_connection("tl", "c2", &deleted, err, sizeof err) == C360_OK &&
          deleted == 1);
    /* what is left must still open (a sealed copy stays in Redis) */
    CHECK(ch_secret_get("tl", "c1", "pw", &v, &len, err, sizeof err) == C360_OK);
    CHECK(len == slen && v && memcmp(v, secret, slen) == 0);
    ch_secret_value_free(v);

    /* controls: a value in the clear, and a logged string */
    r = redisCommand(raw, "SET c360:control %s", control);
    if (r) freeReplyObject(r);
    ch_log(CH_LOG_INFO, "control line", "value", control, NULL);
    ch_log_set_fd(-1);
    close(logfd);

    buf logs = {0}, dumps = {0}, rdb = {0};
    CHECK(read_whole(logpath, &logs) == 0);
    CHECK(logs.n > 0 && memmem(logs.p, logs.n, "secret does not open", 20) != NULL);
    dump_all(raw, &dumps);
    r = redisCommand(raw, "SAVE");
    CHECK(r && r->type == REDIS_REPLY_STATUS);
    if (r) freeReplyObject(r);
    char rdbpath[128];
    snprintf(rdbpath, sizeof rdbpath, "%s/dump.rdb", fx_current.dir);
    CHECK(read_whole(rdbpath, &rdb) == 0 && rdb.n > 0);

    forms fs, fc;
    forms_of(secret, &fs);
    forms_of(control, &fc);
    CHECK(found(&logs, &fs) == 0);
    CHECK(found(&g_errs, &fs) == 0);
    CHECK(found(&dumps, &fs) == 0);
    CHECK(found(&rdb, &fs) == 0);
    /* The searches do see what is there. */
    CHECK(found(&logs, &fc) >= 1);
    CHECK(found(&dumps, &fc) >= 1);
    CHECK(found(&rdb, &fc) >= 1);
    CHECK(g_errs.n > 0 && strstr(g_errs.p, "tampered with") != NULL);
    printf("searched %zu forms of the secret in %zu bytes of logs, %zu of error messages, "
           "%zu of DUMP payloads, %zu of RDB\n",
           fs.n, logs.n, g_errs.n, dumps.n, rdb.n);
    forms_free(&fs);
    forms_free(&fc);
    free(logs.p);
    free(dumps.p);
    free(rdb.p);
    free(g_errs.p);

    ch_secrets_init(NULL);
    ch_keyring_free(a);
    ch_keyring_free(ab);
    redisFree(raw);
    ch_rconn_shutdown();
    CHECK_DONE();
}
