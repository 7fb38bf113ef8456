/* audit.c -- see audit.h: settings, field checks, the append (a
 * compare-and-set on the chain's head) and the JSON Lines sink. Verify and
 * trim are in audit_verify.c, queries in audit_list.c. */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit_entry.h"
#include "call.h"
#include "keys.h"
#include "log.h"
#include "rconn.h"
#include "util.h"

/* Retries of the compare-and-set before giving up. Each conflict means
 * another append succeeded, so this is only reached under a sustained
 * storm of appends to one tenant. */
#define APPEND_ATTEMPTS 400

/* KEYS[1] head, KEYS[2] log; ARGV[1] expected head seq ("0" = none),
 * ARGV[2] expected head hash ("" = none), ARGV[3] new seq, ARGV[4] new
 * hash, ARGV[5] entry text. 1 = appended; 2 = this very entry (its hash
 * covers a random nonce, so no one else's) is already the head: our
 * earlier attempt ran but its reply was lost with the connection; 0 = the head moved: re-read and retry; -1 = the head is
 * gone but entries exist (a damaged log: appending would restart at 1). */
static ch_script append_script = CH_SCRIPT(
    "local h = redis.call('HMGET', KEYS[1], 'seq', 'hash')\n"
    "local seq = h[1] or '0'\n"
    "local hash = h[2] or ''\n"
    "if seq == ARGV[1] and hash == ARGV[2] then\n"
    "  if seq == '0' and redis.call('LLEN', KEYS[2]) > 0 then return -1 end\n"
    "  redis.call('RPUSH', KEYS[2], ARGV[5])\n"
    "  redis.call('HSET', KEYS[1], 'seq', ARGV[3], 'hash', ARGV[4])\n"
    "  return 1\n"
    "end\n"
    "if seq == ARGV[3] and hash == ARGV[4] then return 2 end\n"
    "return 0\n");

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned g_retention_days;
static char *g_file;

void ch_audit_configure(const ch_audit_settings *s)
{
    pthread_mutex_lock(&g_lock);
    free(g_file);
    g_file = s && s->file && s->file[0] ? ch_strdup(s->file) : NULL;
    g_retention_days = s ? s->retention_days : 0;
    pthread_mutex_unlock(&g_lock);
}

unsigned ch_audit_retention_days(void)
{
    pthread_mutex_lock(&g_lock);
    unsigned d = g_retention_days;
    pthread_mutex_unlock(&g_lock);
    return d;
}

int ch_audit_field_valid(const char *s, int may_be_empty)
{
    if (!s) return may_be_empty;
    size_t n = strnlen(s, CH_AUDIT_FIELD_MAX + 1);
    if (n > CH_AUDIT_FIELD_MAX || (n == 0 && !may_be_empty)) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        /* '@' keeps e-mail addresses (personal data) out by accident. */
        if (c < 0x20 || c > 0x7e || c == '@') return 0;
    }
    return 1;
}

static const char *or_empty(const char *s) { return s ? s : ""; }

/* Writes the entry as one line with one write(2) on an O_APPEND file, so
 * lines from threads and processes never interleave. Opened per entry:
 * audit volume is low, and log rotation (rename + new file) just works. */
static void sink(const char *text)
{
    pthread_mutex_lock(&g_lock);
    char *path = g_file ? ch_strdup(g_file) : NULL;
    pthread_mutex_unlock(&g_lock);
    if (!path) return;
    size_t n = strlen(text);
    char *line = ch_malloc(n + 1);
    memcpy(line, text, n);
    line[n] = '\n';
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    ssize_t w = fd >= 0 ? write(fd, line, n + 1) : -1;
    int saved = errno;
    if (fd >= 0 && close(fd) != 0 && w >= 0) {
        w = -1;
        saved = errno;
    }
    if (w != (ssize_t)(n + 1))
        ch_log(CH_LOG_WARN, "audit: cannot write the audit file (the entry is in Redis)", "path",
               path, "error", w < 0 ? strerror(saved) : "short write", NULL);
    free(line);
    free(path);
}

/* Backs off 0..2^min(attempt,5) ms, so colliding appenders spread out. */
static void backoff(int attempt)
{
    uint32_t cap = 1u << (attempt < 5 ? attempt : 5);
    uint32_t us = randombytes_uniform(cap * 1000 + 1);
    struct timespec ts = {0, (long)us * 1000L};
    nanosleep(&ts, NULL);
}

static int32_t fail(const char *msg, const char *tenant, const char *detail)
{
    ch_log(CH_LOG_ERROR, msg, "tenant", tenant, "error", detail, NULL);
    return C360_EIO;
}

int32_t ch_audit_append(const ch_audit_entry *e, uint64_t *seq_out)
{
    if (seq_out) *seq_out = 0;
    if (!e || !ch_id_valid(e->tenant) || !ch_audit_field_valid(e->actor, 0) ||
        !ch_audit_field_valid(e->action, 0) || !ch_audit_field_valid(e->target, 0) ||
        !ch_audit_field_valid(e->outcome, 0) || !ch_audit_field_valid(e->request_id, 1) ||
        (e->connection && e->connection[0] && !ch_id_valid(e->connection)) || e->ts_ms < 0)
        return C360_EINVAL;
    if (sodium_init() < 0) abort();

    ch_audit_rec rec = {0};
    rec.ts = e->ts_ms ? e->ts_ms : ch_now_ms();
    snprintf(rec.tenant, sizeof rec.tenant, "%s", e->tenant);
    snprintf(rec.actor, sizeof rec.actor, "%s", e->actor);
    snprintf(rec.connection, sizeof rec.connection, "%s", or_empty(e->connection));
    snprintf(rec.action, sizeof rec.action, "%s", e->action);
    snprintf(rec.target, sizeof rec.target, "%s", e->target);
    snprintf(rec.outcome, sizeof rec.outcome, "%s", e->outcome);
    snprintf(rec.request_id, sizeof rec.request_id, "%s", or_empty(e->request_id));
    unsigned char nonce[CH_AUDIT_NONCE_HEX / 2];
    randombytes_buf(nonce, sizeof nonce);
    sodium_bin2hex(rec.nonce, sizeof rec.nonce, nonce, sizeof nonce);

    char *khead = ch_audit_key(e->tenant, "head");
    char *klog = ch_audit_key(e->tenant, "log");
    int32_t st = C360_ECONFLICT;
    char *text = NULL;
    for (int attempt = 0; attempt < APPEND_ATTEMPTS; attempt++) {
        uint64_t head_seq;
        char head_hash[CH_AUDIT_HASH_HEX + 1];
        int rc = ch_audit_read_mark(khead, &head_seq, head_hash);
        if (rc < 0) {
            int io = rc == -2;
            fail(io ? "audit: redis unavailable" : "audit: head is damaged; run c360-audit verify",
                 e->tenant, io ? ch_rconn_error() : "malformed head");
            st = io ? C360_EIO : C360_ERROR;
            break;
        }
        rec.seq = head_seq + 1;
        memcpy(rec.prev, head_seq ? head_hash : ch_audit_genesis, CH_AUDIT_HASH_HEX + 1);
        ch_audit_rec_hash(&rec, rec.hash);
        free(text);
        text = ch_audit_rec_text(&rec);
        char exp_seq[24], new_seq[24];
        snprintf(exp_seq, sizeof exp_seq, "%" PRIu64, head_seq);
        snprintf(new_seq, sizeof new_seq, "%" PRIu64, rec.seq);
        const char *argv[7] = {khead, klog, exp_seq, head_seq ? head_hash : "", new_seq, rec.hash, text};
        redisReply *r = ch_rconn_eval(&append_script, 2, 7, argv, NULL);
        if (!r) {
            st = fail("audit: redis unavailable", e->tenant, ch_rconn_error());
            break;
        }
        long long res = r->type == REDIS_REPLY_INTEGER ? r->integer : -2;
        if (res == -2)
            fail("audit: append failed", e->tenant, r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        if (res == 1 || res == 2) {
            st = C360_OK;
            break;
        }
        if (res == -1) {
            fail("audit: head is missing but entries exist; run c360-audit verify", e->tenant,
                 "damaged log");
            st = C360_ERROR;
            break;
        }
        if (res == -2) {
            st = C360_EIO;
            break;
        }
        backoff(attempt);
    }
    if (st == C360_ECONFLICT)
        ch_log(CH_LOG_ERROR, "audit: append gave up after repeated conflicts", "tenant", e->tenant, NULL);
    if (st == C360_OK) {
        if (seq_out) *seq_out = rec.seq;
        sink(text);
    }
    free(text);
    free(khead);
    free(klog);
    return st;
}

int32_t ch_audit_plugin(const char *plugin, const char *tenant, const char *conn,
                        const char *request_id, const char *action, const char *target,
                        const char *outcome)
{
    if (!ch_id_valid(plugin)) return C360_EINVAL;
    char actor[8 + CH_ID_MAX + 1];
    snprintf(actor, sizeof actor, "plugin:%s", plugin);
    ch_audit_entry e = {
        .tenant = tenant,
        .actor = actor,
        .connection = conn,
        .action = action,
        .target = target,
        .outcome = outcome,
        .request_id = request_id,
    };
    return ch_audit_append(&e, NULL);
}
