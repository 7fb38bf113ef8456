/* test_audit.c -- the audit log against a real redis-server: append and
 * verify, the documented hash recomputed independently, concurrent
 * appenders (threads and processes) never forking the chain, tampering
 * (edit, re-hash, delete, truncate, extra field, lost head) named by
 * verify and by c360-audit, trim keeping the chain verifiable, field
 * validation, the JSON Lines sink, and queries. */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "audit.h"
#include "check.h"
#include "connector_api.h"
#include "rconn.h"
#include "redis_fixture.h"

#define DAY 86400000LL

static int g_port;
static char g_cli[512];

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int32_t add(const char *tenant, const char *actor, const char *action, const char *target,
                   int64_t ts, uint64_t *seq)
{
    ch_audit_entry e = {ts, tenant, actor, "c1", action, target, "ok", "req-1"};
    return ch_audit_append(&e, seq);
}

static redisReply *cmd(const char *fmt, const char *a, const char *b)
{
    return ch_rconn_command(fmt, a, b);
}

/* The stored entry at list index idx (caller frees). */
static char *entry_at(const char *tenant, long idx)
{
    char key[128], i[24];
    snprintf(key, sizeof key, "c360:{t:%s}:audit:log", tenant);
    snprintf(i, sizeof i, "%ld", idx);
    redisReply *r = cmd("LINDEX %s %s", key, i);
    char *s = r && r->type == REDIS_REPLY_STRING ? strdup(r->str) : NULL;
    if (r) freeReplyObject(r);
    return s;
}

static void lset(const char *tenant, long idx, const char *text)
{
    char key[128];
    snprintf(key, sizeof key, "c360:{t:%s}:audit:log", tenant);
    redisReply *r = ch_rconn_command("LSET %s %ld %s", key, idx, text);
    CHECK(r && r->type == REDIS_REPLY_STATUS);
    if (r) freeReplyObject(r);
}

/* Rewrites a string field of the JSON at idx; rehash: also recompute the
 * entry's hash the documented way (an attacker who knows the format). */
static char *canonical_hash(json_t *e);
static void tamper(const char *tenant, long idx, const char *field, const char *value, int rehash)
{
    char *s = entry_at(tenant, idx);
    json_t *j = json_loads(s, 0, NULL);
    json_object_set_new(j, field, json_string(value));
    if (rehash) {
        char *h = canonical_hash(j);
        json_object_set_new(j, "hash", json_string(h));
        free(h);
    }
    char *t = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    lset(tenant, idx, t);
    free(t);
    free(s);
    json_decref(j);
}

/* docs/audit.md's canonical text, rebuilt here from the stored JSON
 * without the service's code: SHA-256 over the lines. */
static char *canonical_hash(json_t *e)
{
    static const char *const fields[] = {"tenant", "actor", "connection", "action",
                                         "target", "outcome", "request_id", "nonce"};
    char buf[4096];
    int n = snprintf(buf, sizeof buf, "c360-audit-v1\n%" JSON_INTEGER_FORMAT "\n%s\n%" JSON_INTEGER_FORMAT "\n",
                     json_integer_value(json_object_get(e, "seq")),
                     json_string_value(json_object_get(e, "prev_hash")),
                     json_integer_value(json_object_get(e, "ts")));
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%s\n", json_string_value(json_object_get(e, fields[i])));
    unsigned char md[32];
    crypto_hash_sha256(md, (const unsigned char *)buf, (unsigned long long)n);
    char *hex = malloc(65);
    sodium_bin2hex(hex, 65, md, 32);
    return hex;
}

/* Runs c360-audit with args; returns its exit status, output in out. */
static int cli(char *out, size_t cap, const char *args)
{
    char line[1024];
    snprintf(line, sizeof line, "'%s' --redis redis://127.0.0.1:%d %s 2>&1", g_cli, g_port, args);
    FILE *p = popen(line, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

typedef struct appender {
    const char *tenant;
    int n;
    uint64_t *seqs;
    int errors;
} appender;

static void *append_thread(void *arg)
{
    appender *a = arg;
    for (int i = 0; i < a->n; i++) {
        char target[32];
        snprintf(target, sizeof target, "obj-%d", i);
        if (add(a->tenant, "system", "test.concurrent", target, 0, &a->seqs[i]) != C360_OK) a->errors++;
    }
    ch_rconn_thread_close();
    return NULL;
}

/* Appends from `threads` threads, n each; returns the number of errors
 * and checks that every seq handed out is distinct. */
static int hammer(const char *tenant, int threads, int n, uint64_t base)
{
    pthread_t th[16];
    appender a[16];
    uint64_t *seqs = calloc((size_t)(threads * n), sizeof *seqs);
    for (int t = 0; t < threads; t++) {
        a[t] = (appender){tenant, n, seqs + t * n, 0};
        pthread_create(&th[t], NULL, append_thread, &a[t]);
    }
    int errors = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        errors += a[t].errors;
    }
    /* Every seq from base+1 .. base+threads*n handed out once (only when
     * this process was the only appender). */
    if (base != UINT64_MAX) {
        char *seen = calloc((size_t)(threads * n) + 1, 1);
        int dup = 0;
        for (int i = 0; i < threads * n; i++) {
            uint64_t s = seqs[i] - base;
            if (s < 1 || s > (uint64_t)(threads * n) || seen[s]++) dup++;
        }
        CHECK(dup == 0);
        free(seen);
    }
    free(seqs);
    return errors;
}

int main(void)
{
    g_port = fx_rconn_start(5000);
    CHECK(sodium_init() >= 0);
    const char *bd = getenv("C360_BUILD_DIR");
    snprintf(g_cli, sizeof g_cli, "%s/tools/audit/c360-audit", bd ? bd : ".");
    int have_cli = access(g_cli, X_OK) == 0;
    if (!have_cli) printf("NOTE: %s not built; the c360-audit checks are skipped\n", g_cli);
    char out[8192];
    uint64_t seq = 0;
    ch_audit_verify_result res;

    /* --- field validation --------------------------------------------------- */
    {
        char big[CH_AUDIT_FIELD_MAX + 2];
        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        CHECK(add("tv", "system", big, "t", 0, &seq) == C360_EINVAL);
        big[CH_AUDIT_FIELD_MAX] = '\0'; /* exactly 200: fine */
        CHECK(add("tv", "system", big, "t", 0, &seq) == C360_OK && seq == 1);
        CHECK(add("tv", "system", "a\nb", "t", 0, &seq) == C360_EINVAL);
        CHECK(add("tv", "system", "a\tb", "t", 0, &seq) == C360_EINVAL);
        CHECK(add("tv", "system", "a\x01", "t", 0, &seq) == C360_EINVAL);
        CHECK(add("tv", "system", "a\x7f", "t", 0, &seq) == C360_EINVAL);
        CHECK(add("tv", "system", "caf\xc3\xa9", "t", 0, &seq) == C360_EINVAL);
        CHECK(add("tv", "system", "login", "joe@example.com", 0, &seq) == C360_EINVAL);
        CHECK(add("tv", "", "login", "t", 0, &seq) == C360_EINVAL);
        CHECK(add("tv", NULL, "login", "t", 0, &seq) == C360_EINVAL);
        CHECK(add("tv", "system", "", "t", 0, &seq) == C360_EINVAL);
        CHECK(add("tv", "system", "x", "", 0, &seq) == C360_EINVAL);
        CHECK(add("t:v", "system", "x", "t", 0, &seq) == C360_EINVAL);
        CHECK(add(NULL, "system", "x", "t", 0, &seq) == C360_EINVAL);
        CHECK(add("tv", "system", "x", "t", -1, &seq) == C360_EINVAL);
        ch_audit_entry e = {0, "tv", "system", "c:1", "x", "t", "ok", NULL};
        CHECK(ch_audit_append(&e, &seq) == C360_EINVAL);
        e.connection = NULL; /* none: fine, as is no request id */
        CHECK(ch_audit_append(&e, &seq) == C360_OK && seq == 2);
        e.outcome = "";
        CHECK(ch_audit_append(&e, &seq) == C360_EINVAL);
        e.outcome = "ok";
        e.request_id = "r\r";
        CHECK(ch_audit_append(&e, &seq) == C360_EINVAL);
        CHECK(ch_audit_append(NULL, &seq) == C360_EINVAL);
        CHECK(ch_audit_plugin("bad plugin", "tv", "c1", "r", "a", "t", "ok") == C360_EINVAL);
        CHECK(ch_audit_verify("tv", &res) == C360_OK && res.intact && res.checked == 2);
        CHECK(ch_audit_verify("bad:tenant", &res) == C360_EINVAL);
        CHECK(ch_audit_field_valid("", 1) && !ch_audit_field_valid("", 0));
    }

    /* --- append and verify; the hash is the documented one ------------------ */
    int64_t t0 = now_ms();
    for (int i = 1; i <= 20; i++) {
        char target[16];
        snprintf(target, sizeof target, "lead-%d", i);
        CHECK(add("ta", i % 2 ? "apikey:k1" : "system", i % 3 ? "lead.read" : "lead.delete", target, 0, &seq) == C360_OK);
        CHECK(seq == (uint64_t)i);
    }
    CHECK(ch_audit_plugin("meta", "ta", "c1", "req-9", "token.refresh", "c1", "ok") == C360_OK);
    CHECK(ch_audit_verify("ta", &res) == C360_OK);
    CHECK(res.intact && res.checked == 21 && res.first_seq == 1 && res.last_seq == 21);
    {
        char *s1 = entry_at("ta", 0), *s2 = entry_at("ta", 1), *s21 = entry_at("ta", 20);
        json_t *j1 = json_loads(s1, 0, NULL), *j2 = json_loads(s2, 0, NULL), *j21 = json_loads(s21, 0, NULL);
        CHECK(j1 && j2 && j21);
        CHECK_STR(json_string_value(json_object_get(j1, "prev_hash")),
                  "0000000000000000000000000000000000000000000000000000000000000000");
        CHECK_STR(json_string_value(json_object_get(j2, "prev_hash")),
                  json_string_value(json_object_get(j1, "hash")));
        char *h = canonical_hash(j2);
        CHECK_STR(h, json_string_value(json_object_get(j2, "hash")));
        free(h);
        CHECK(json_integer_value(json_object_get(j1, "ts")) >= t0);
        CHECK_STR(json_string_value(json_object_get(j21, "actor")), "plugin:meta");
        CHECK_STR(json_string_value(json_object_get(j21, "action")), "token.refresh");
        CHECK_STR(json_string_value(json_object_get(j21, "request_id")), "req-9");
        json_decref(j1);
        json_decref(j2);
        json_decref(j21);
        free(s1);
        free(s2);
        free(s21);
    }
    if (have_cli) {
        CHECK(cli(out, sizeof out, "verify --tenant ta") == 0);
        CHECK_CONTAINS(out, "intact: tenant ta, 21 entries (seq 1..21)");
        CHECK(cli(out, sizeof out, "verify --tenant nobody") == 0);
        CHECK_CONTAINS(out, "0 entries");
        CHECK(cli(out, sizeof out, "verify") == 2);
        CHECK(cli(out, sizeof out, "frobnicate --tenant ta") == 2);
    }

    /* --- tampering is found and named --------------------------------------- */
    {
        /* Edit one entry's content (as anyone with Redis access could). */
        char *orig = entry_at("ta", 6); /* seq 7 */
        tamper("ta", 6, "outcome", "denied", 0);
        CHECK(ch_audit_verify("ta", &res) == C360_OK);
        CHECK(!res.intact && res.bad_seq == 7);
        CHECK_CONTAINS(res.problem, "seq 7: hash mismatch");
        CHECK(res.checked == 6);
        if (have_cli) {
            CHECK(cli(out, sizeof out, "verify --tenant ta") == 1);
            CHECK_CONTAINS(out, "BROKEN: tenant ta, first broken entry seq 7: seq 7: hash mismatch");
            CHECK(cli(out, sizeof out, "verify --tenant ta --json") == 1);
            CHECK_CONTAINS(out, "\"intact\":false");
            CHECK_CONTAINS(out, "\"bad_seq\":7");
        }
        /* Edit and re-hash it: the next entry no longer links. */
        tamper("ta", 6, "outcome", "denied", 1);
        CHECK(ch_audit_verify("ta", &res) == C360_OK && !res.intact && res.bad_seq == 8);
        CHECK_CONTAINS(res.problem, "seq 8: prev_hash does not match");
        /* A field the hash does not cover is refused, not ignored. */
        lset("ta", 6, orig);
        {
            json_t *j = json_loads(orig, 0, NULL);
            json_object_set_new(j, "note", json_string("hidden"));
            char *t = json_dumps(j, JSON_COMPACT);
            lset("ta", 6, t);
            free(t);
            json_decref(j);
        }
        CHECK(ch_audit_verify("ta", &res) == C360_OK && !res.intact && res.bad_seq == 7);
        CHECK_CONTAINS(res.problem, "malformed");
        /* Not JSON at all. */
        lset("ta", 6, "garbage");
        CHECK(ch_audit_verify("ta", &res) == C360_OK && !res.intact && res.bad_seq == 7);
        /* Restored: intact again. */
        lset("ta", 6, orig);
        CHECK(ch_audit_verify("ta", &res) == C360_OK && res.intact && res.checked == 21);

        /* Delete an entry from the middle. */
        redisReply *r = ch_rconn_command("LREM %s 1 %s", "c360:{t:ta}:audit:log", orig);
        CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer == 1);
        if (r) freeReplyObject(r);
        CHECK(ch_audit_verify("ta", &res) == C360_OK && !res.intact && res.bad_seq == 7);
        CHECK_CONTAINS(res.problem, "seq 7 is missing: found seq 8");
        if (have_cli) {
            CHECK(cli(out, sizeof out, "verify --tenant ta") == 1);
            CHECK_CONTAINS(out, "first broken entry seq 7");
        }
        /* Put it back where it was. */
        char *e8 = entry_at("ta", 6);
        r = ch_rconn_command("LINSERT %s BEFORE %s %s", "c360:{t:ta}:audit:log", e8, orig);
        CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer == 21);
        if (r) freeReplyObject(r);
        free(e8);
        CHECK(ch_audit_verify("ta", &res) == C360_OK && res.intact);

        /* Remove the newest entry: the head still knows it. */
        char *last = entry_at("ta", 20);
        r = ch_rconn_command("RPOP %s", "c360:{t:ta}:audit:log");
        if (r) freeReplyObject(r);
        CHECK(ch_audit_verify("ta", &res) == C360_OK && !res.intact && res.bad_seq == 21);
        CHECK_CONTAINS(res.problem, "entries removed from the end");
        r = ch_rconn_command("RPUSH %s %s", "c360:{t:ta}:audit:log", last);
        if (r) freeReplyObject(r);
        free(last);
        CHECK(ch_audit_verify("ta", &res) == C360_OK && res.intact);
        free(orig);
    }

    /* --- a lost head: no silent restart at seq 1 ---------------------------- */
    {
        for (int i = 0; i < 3; i++) CHECK(add("th", "system", "x", "t", 0, &seq) == C360_OK);
        redisReply *r = ch_rconn_command("DEL %s", "c360:{t:th}:audit:head");
        if (r) freeReplyObject(r);
        CHECK(add("th", "system", "x", "t", 0, &seq) == C360_ERROR);
        CHECK(ch_audit_verify("th", &res) == C360_OK && !res.intact);
        CHECK_CONTAINS(res.problem, "head (audit:head) is missing");
    }

    /* --- concurrent appenders never fork the chain -------------------------- */
    {
        /* Two processes, four threads each, 60 appends per thread. */
        ch_rconn_thread_close(); /* no connection shared across fork */
        pid_t kids[2];
        for (int k = 0; k < 2; k++) {
            kids[k] = fork();
            if (kids[k] == 0) {
                int errors = hammer("tp", 4, 60, UINT64_MAX);
                ch_rconn_thread_close();
                _exit(errors ? 1 : 0); /* not exit(): the fixture's atexit would stop Redis */
            }
        }
        /* ... while this process appends too, from four threads. */
        CHECK(hammer("tp", 4, 60, UINT64_MAX) == 0);
        for (int k = 0; k < 2; k++) {
            int st;
            CHECK(waitpid(kids[k], &st, 0) == kids[k] && WIFEXITED(st) && WEXITSTATUS(st) == 0);
        }
        CHECK(ch_audit_verify("tp", &res) == C360_OK);
        CHECK(res.intact && res.checked == 720 && res.first_seq == 1 && res.last_seq == 720);
        printf("3 processes x 4 threads x 60 appends: %" PRIu64 " entries, chain %s\n", res.checked,
               res.intact ? "intact" : res.problem);
        /* Eight threads in one process: every seq handed out exactly once. */
        CHECK(hammer("tq", 8, 50, 0) == 0);
        CHECK(ch_audit_verify("tq", &res) == C360_OK && res.intact && res.checked == 400 && res.last_seq == 400);
    }

    /* --- trim keeps the chain verifiable ------------------------------------ */
    {
        int64_t now = now_ms();
        for (int i = 0; i < 10; i++) CHECK(add("tt", "system", "old", "t", now - 10 * DAY + i, &seq) == C360_OK);
        for (int i = 0; i < 5; i++) CHECK(add("tt", "system", "new", "t", 0, &seq) == C360_OK);
        uint64_t removed = 99;
        CHECK(ch_audit_trim_retention("tt", &removed) == C360_OK && removed == 0); /* retention 0 */
        CHECK(ch_audit_trim("tt", now - DAY, &removed) == C360_OK && removed == 10);
        CHECK(ch_audit_verify("tt", &res) == C360_OK && res.intact && res.checked == 5 && res.first_seq == 11);
        redisReply *r = ch_rconn_command("HGET %s seq", "c360:{t:tt}:audit:anchor");
        CHECK(r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "10") == 0);
        if (r) freeReplyObject(r);
        /* Trimming again removes nothing; appends go on from the head. */
        CHECK(ch_audit_trim("tt", now - DAY, &removed) == C360_OK && removed == 0);
        CHECK(add("tt", "system", "new", "t", 0, &seq) == C360_OK && seq == 16);
        CHECK(ch_audit_verify("tt", &res) == C360_OK && res.intact && res.checked == 6);
        /* Everything: the anchor then equals the head, and appends go on. */
        CHECK(ch_audit_trim("tt", now_ms() + 1000, &removed) == C360_OK && removed == 6);
        CHECK(ch_audit_verify("tt", &res) == C360_OK && res.intact && res.checked == 0);
        CHECK(add("tt", "system", "new", "t", 0, &seq) == C360_OK && seq == 17);
        CHECK(ch_audit_verify("tt", &res) == C360_OK && res.intact && res.checked == 1 && res.first_seq == 17);
        /* The first kept entry must link to the anchor: tamper the anchor. */
        r = ch_rconn_command("HSET %s hash %s", "c360:{t:tt}:audit:anchor",
                             "1111111111111111111111111111111111111111111111111111111111111111");
        if (r) freeReplyObject(r);
        CHECK(ch_audit_verify("tt", &res) == C360_OK && !res.intact && res.bad_seq == 17);

        /* More than a page (256) of old entries goes in several rounds. */
        now = now_ms();
        for (int i = 0; i < 600; i++) CHECK(add("tm", "system", "old", "t", now - 40 * DAY + i, &seq) == C360_OK);
        for (int i = 0; i < 3; i++) CHECK(add("tm", "system", "new", "t", now - 2 * DAY, &seq) == C360_OK);
        ch_audit_settings as = {30, NULL};
        ch_audit_configure(&as);
        CHECK(ch_audit_trim_retention("tm", &removed) == C360_OK && removed == 600);
        CHECK(ch_audit_verify("tm", &res) == C360_OK && res.intact && res.checked == 3 && res.first_seq == 601);
        as.retention_days = 0;
        ch_audit_configure(&as);

        /* Trim does not destroy evidence: it stops before a broken entry. */
        now = now_ms();
        for (int i = 0; i < 8; i++) CHECK(add("tb", "system", "old", "t", now - 10 * DAY + i, &seq) == C360_OK);
        tamper("tb", 4, "target", "other", 0); /* seq 5 */
        CHECK(ch_audit_trim("tb", now - DAY, &removed) == C360_ERROR && removed == 4);
        CHECK(ch_audit_verify("tb", &res) == C360_OK && !res.intact && res.bad_seq == 5);
        if (have_cli) {
            /* The CLI trims with its own cutoff: days. */
            for (int i = 0; i < 4; i++) CHECK(add("tc2", "system", "old", "t", now - 10 * DAY, &seq) == C360_OK);
            CHECK(add("tc2", "system", "new", "t", 0, &seq) == C360_OK);
            CHECK(cli(out, sizeof out, "trim --tenant tc2 --older-than-days 7") == 0);
            CHECK_CONTAINS(out, "removed 4 entries");
            CHECK(cli(out, sizeof out, "verify --tenant tc2") == 0);
            CHECK_CONTAINS(out, "1 entries (seq 5..5)");
            CHECK(cli(out, sizeof out, "trim --tenant tc2") == 2); /* no retention known */
            CHECK(cli(out, sizeof out, "trim --tenant tb --older-than-days 1") == 1);
        }
    }

    /* --- JSON Lines sink ----------------------------------------------------- */
    {
        char path[128];
        snprintf(path, sizeof path, "%s/audit.jsonl", fx_current.dir);
        ch_audit_settings as = {0, path};
        ch_audit_configure(&as);
        for (int i = 0; i < 3; i++) CHECK(add("tj", "system", "file.test", "t", 0, &seq) == C360_OK);
        FILE *f = fopen(path, "r");
        CHECK(f != NULL);
        int lines = 0;
        char line[2048];
        while (f && fgets(line, sizeof line, f)) {
            json_t *j = json_loads(line, 0, NULL);
            CHECK(j && json_integer_value(json_object_get(j, "seq")) == lines + 1);
            /* The line is the entry stored in Redis, byte for byte. */
            char *stored = entry_at("tj", lines);
            line[strcspn(line, "\n")] = '\0';
            CHECK_STR(line, stored);
            free(stored);
            json_decref(j);
            lines++;
        }
        if (f) fclose(f);
        CHECK(lines == 3);
        struct stat sb;
        CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0640);
        /* A file that cannot be written is logged; the append still counts. */
        as.file = "/nonexistent-dir/audit.jsonl";
        ch_audit_configure(&as);
        CHECK(add("tj", "system", "file.test", "t", 0, &seq) == C360_OK && seq == 4);
        ch_audit_configure(NULL);
        CHECK(add("tj", "system", "file.test", "t", 0, &seq) == C360_OK && seq == 5);
        f = fopen(path, "r");
        lines = 0;
        while (f && fgets(line, sizeof line, f)) lines++;
        if (f) fclose(f);
        CHECK(lines == 3);
    }

    /* --- queries ---------------------------------------------------------------
     * Tenant "ta" holds seq 1..21: odd seqs by apikey:k1, seq 21 by the
     * plugin; every third a lead.delete. */
    {
        json_t *arr;
        uint64_t next;
        CHECK(ch_audit_list("ta", NULL, &arr, &next) == C360_OK);
        CHECK(json_array_size(arr) == 21 && next == 0);
        CHECK(json_integer_value(json_object_get(json_array_get(arr, 0), "seq")) == 21);
        CHECK(json_integer_value(json_object_get(json_array_get(arr, 20), "seq")) == 1);
        json_decref(arr);

        ch_audit_query q = {.action = "lead.delete"};
        CHECK(ch_audit_list("ta", &q, &arr, &next) == C360_OK);
        CHECK(json_array_size(arr) == 6 && next == 0); /* 3,6,...,18 */
        CHECK(json_integer_value(json_object_get(json_array_get(arr, 0), "seq")) == 18);
        json_decref(arr);

        q = (ch_audit_query){.actor = "apikey:k1", .action = "lead.read"};
        CHECK(ch_audit_list("ta", &q, &arr, &next) == C360_OK);
        CHECK(json_array_size(arr) == 7); /* odd, not multiples of 3, up to 19 */
        json_decref(arr);

        /* Pages of 4 with the cursor walk everything once, newest first. */
        q = (ch_audit_query){.limit = 4};
        uint64_t expect = 21;
        int pages = 0;
        do {
            CHECK(ch_audit_list("ta", &q, &arr, &next) == C360_OK);
            size_t i;
            json_t *e;
            json_array_foreach(arr, i, e) CHECK((uint64_t)json_integer_value(json_object_get(e, "seq")) == expect--);
            json_decref(arr);
            q.cursor = next;
            pages++;
        } while (next && pages < 20);
        CHECK(expect == 0 && pages == 6);

        /* Time windows. */
        q = (ch_audit_query){.since_ms = now_ms() + 60000};
        CHECK(ch_audit_list("ta", &q, &arr, &next) == C360_OK && json_array_size(arr) == 0 && next == 0);
        json_decref(arr);
        q = (ch_audit_query){.until_ms = t0 - 1};
        CHECK(ch_audit_list("ta", &q, &arr, &next) == C360_OK && json_array_size(arr) == 0);
        json_decref(arr);
        q = (ch_audit_query){.since_ms = t0, .until_ms = now_ms() + 1};
        CHECK(ch_audit_list("ta", &q, &arr, &next) == C360_OK && json_array_size(arr) == 21);
        json_decref(arr);

        /* Refused queries. */
        q = (ch_audit_query){.limit = 1001};
        CHECK(ch_audit_list("ta", &q, &arr, &next) == C360_EINVAL && arr == NULL);
        q = (ch_audit_query){.action = "a\nb"};
        CHECK(ch_audit_list("ta", &q, &arr, &next) == C360_EINVAL);
        CHECK(ch_audit_list("t a", NULL, &arr, &next) == C360_EINVAL);
        CHECK(ch_audit_list("empty", NULL, &arr, &next) == C360_OK && json_array_size(arr) == 0);
        json_decref(arr);

        if (have_cli) {
            CHECK(cli(out, sizeof out, "list --tenant ta --action lead.delete --json") == 0);
            int n = 0;
            for (char *p = out; (p = strchr(p, '\n')); p++) n++;
            CHECK(n == 6);
            CHECK_CONTAINS(out, "\"seq\":18,");
            CHECK(cli(out, sizeof out, "list --tenant ta --limit 2") == 0);
            CHECK_CONTAINS(out, "21  ");
            CHECK_CONTAINS(out, "plugin:meta  token.refresh  c1  ok  conn=c1  req=req-9");
            CHECK(strstr(out, "\n19  ") == NULL);
            CHECK(cli(out, sizeof out, "list --tenant ta --since 2000-01-01 --until 2000-01-02") == 0);
            CHECK(out[0] == '\0');
            CHECK(cli(out, sizeof out, "list --tenant ta --since yesterday") == 2);
        }
    }

    /* --- Redis gone: an error, never a silent success ------------------------ */
    fx_redis_kill();
    CHECK(add("ta", "system", "x", "t", 0, &seq) == C360_EIO);
    CHECK(ch_audit_verify("ta", &res) == C360_EIO);
    if (have_cli) CHECK(cli(out, sizeof out, "verify --tenant ta") == 3);

    ch_rconn_shutdown();
    CHECK_DONE();
}
