/* queue_work_outcome.c -- writing what became of a work item: the outcome
 * script (ack + deliveries, retry, hold, dead letter, drop, failed tick) and
 * the supervisor's crash accounting (see queue_work.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector_api.h"
#include "queue_work.h"
#include "queue_work_int.h"
#include "queue_work_lua.h"
#include "rconn.h"
#include "util.h"

static ch_script s_outcome = CH_SCRIPT(qw_lua_outcome);
static ch_script s_poison = CH_SCRIPT(qw_lua_poison);
static ch_script s_outcome_ok = CH_SCRIPT(qw_lua_outcome_ok);

const char *ch_qmode_name(ch_qmode m)
{
    switch (m) {
    case CH_QM_OK: return "ok";
    case CH_QM_RETRY: return "retry";
    case CH_QM_HOLD: return "hold";
    case CH_QM_DLQ: return "dlq";
    case CH_QM_DROP: return "drop";
    case CH_QM_FAIL: return "fail";
    }
    return "?";
}

/* At most max bytes of s, never ending inside a UTF-8 sequence. */
static size_t cut(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    if (n <= max) return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    return n;
}

/* The stats hash of the connection an item concerns, or NULL when the
 * item names no valid connection (malformed: nothing to count against). */
static char *stat_key(const char *tenant, const char *conn)
{
    return ch_id_valid(conn) ? ch_key_tenant(tenant, "conn:%s:stat", conn) : NULL;
}

/* The keys statew (queue_work_lua.h) needs for n staged writes of conn:
 * its version counter, then the state key of each write (state.c's
 * names). n + 1 fresh strings in a fresh array: free_keys. */
static char **staged_keys(const char *tenant, const char *conn, const char *const *names, size_t n)
{
    char **k = ch_calloc(n + 1, sizeof *k);
    k[0] = ch_key_tenant(tenant, "statever:%s", conn);
    for (size_t i = 0; i < n; i++) k[i + 1] = ch_key_tenant(tenant, "state:%s:%s", conn, names[i]);
    return k;
}

static void free_keys(char **k, size_t n)
{
    for (size_t i = 0; k && i < n; i++) free(k[i]);
    free(k);
}

/* Splits n "<decimal length>:<bytes>" fields of a packed blob
 * (ch_records_pack, ch_staged_pack) into argv/lens, pointing into it.
 * -1 when the blob holds fewer or is malformed. */
static int unpack_fields(const char *blob, size_t len, size_t n, const char **argv, size_t *lens)
{
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        size_t v = 0, digits = 0;
        while (pos < len && blob[pos] >= '0' && blob[pos] <= '9' && digits < 12) {
            v = v * 10 + (size_t)(blob[pos++] - '0');
            digits++;
        }
        if (digits == 0 || pos >= len || blob[pos] != ':' || len - pos - 1 < v) return -1;
        argv[i] = blob + pos + 1;
        lens[i] = v;
        pos += 1 + v;
    }
    return 0;
}

int32_t ch_qw_outcome(const char *tenant, const ch_qitem *it,
                      const ch_qoutcome *o, long long *result)
{
    if (result) *result = 0;
    if (!ch_id_valid(tenant) || !it || !o) return C360_EINVAL;
    if (o->nstate > 100000) return C360_EINVAL; /* as ch_qw_outcome_ok_events */
    const char *conn = it->kind == CH_Q_DL ? it->d : it->c;
    char *stream = ch_qw_stream_key(tenant, it->kind);
    char *att = ch_key_tenant(tenant, "att"), *retry = ch_key_tenant(tenant, "retry");
    char *crash = ch_key_tenant(tenant, "crash"), *dlq = ch_key_tenant(tenant, "dlq");
    char *stat = conn ? stat_key(tenant, conn) : NULL;
    char *k7, *k8, *k9;
    /* The sync log: only for an event item naming a valid connection. */
    int synclog = it->kind == CH_Q_EV && o->log_status && ch_id_valid(it->c);
    if (it->kind == CH_Q_EV) {
        k7 = ch_key_tenant(tenant, "dl");
        k8 = ch_id_valid(it->c) ? ch_key_tenant(tenant, "routes:%s", it->c) : ch_strdup(stream);
    } else if (ch_id_valid(it->d)) {
        k7 = ch_key_tenant(tenant, "dlog:%s", it->d);
        k8 = ch_key_tenant(tenant, "lease:%s", it->d);
    } else {
        k7 = ch_strdup(stream);
        k8 = ch_strdup(stream);
    }
    k9 = synclog ? ch_key_tenant(tenant, "synclog:%s", it->c) : ch_strdup(stream);
    /* The state writes the callback of an OK event or tick staged: nsk
     * keys from KEYS[10] on, their number in ARGV[21] and their fields
     * unpacked after it (statew, as the batched script takes them). */
    size_t nsk = it->kind == CH_Q_EV && o->mode == CH_QM_OK && o->state && o->nstate &&
                         o->state_keys && ch_id_valid(it->c)
                     ? o->nstate + 1
                     : 0;
    char **sk = nsk ? staged_keys(tenant, it->c, o->state_keys, o->nstate) : NULL;

    char delay[24], nrec[24], et[24], st[16], ms[24], attn[24], nw[24];
    snprintf(delay, sizeof delay, "%lld", (long long)(o->delay_ms > 0 ? o->delay_ms : 0));
    const char *err = o->err ? o->err : "";
    /* 9 keys + 20 arguments for an event (29) on the stack; staged state
     * writes add their keys, their number and three fields each. */
    const char *argv_s[29];
    size_t lens_s[29];
    const char **argv = argv_s;
    size_t *lens = lens_s;
    if (nsk) {
        argv = ch_malloc((30 + nsk + 3 * o->nstate) * sizeof *argv);
        lens = ch_malloc((30 + nsk + 3 * o->nstate) * sizeof *lens);
    }
    int n = 0, bad = 0;
#define ARG(s) (argv[n] = (s), lens[n] = strlen(argv[n]), n++)
#define ARGN(s, l) (argv[n] = (s), lens[n] = (l), n++)
    ARG(stream); ARG(att); ARG(retry); ARG(crash); ARG(dlq); ARG(stat ? stat : stream); ARG(k7); ARG(k8);
    ARG(k9);
    for (size_t i = 0; i < nsk; i++) ARG(sk[i]);
    ARG(CH_QW_GROUP); ARG(ch_qmode_name(o->mode)); ARG(it->id); ARG(it->member); ARG(delay);
    ARGN(err, cut(err, CH_QW_ERR_MAX)); ARG(o->why ? o->why : "");
    ARG(it->kind == CH_Q_DL ? "dl" : "ev"); ARG(stat ? "1" : "0");
    if (it->kind == CH_Q_EV) {
        snprintf(nrec, sizeof nrec, "%zu", o->mode == CH_QM_OK && o->records ? o->nrec : (size_t)0);
        snprintf(et, sizeof et, "%lld", (long long)it->t);
        ARG(o->tick ? "1" : "0");
        if (o->mode == CH_QM_OK && o->records) ARGN(o->records, o->records_len);
        else ARG("");
        /* ch_id_valid(NULL) is 0 (the analyzer cannot see it in keys.c). */
        ARG(nrec); ARG(ch_id_valid(it->c) ? it->c : ""); ARG(it->p ? it->p : ""); ARG(et); // NOLINT(clang-analyzer-core.NonNullParamChecker)
        snprintf(ms, sizeof ms, "%lld", (long long)(o->latency_ms > 0 ? o->latency_ms : 0));
        snprintf(attn, sizeof attn, "%lld", ch_qitem_attempt(it));
        ARG(synclog ? o->log_status : ""); ARGN(err, cut(err, CH_QW_DLOG_ERR_MAX)); ARG(ms);
        ARG(it->rid ? it->rid : ""); ARG(attn);
        if (nsk) {
            snprintf(nw, sizeof nw, "%zu", o->nstate);
            ARG(nw);
            /* Pointing into the blob (the caller keeps it until this
             * returns). */
            bad = unpack_fields(o->state, o->state_len, 3 * o->nstate, argv + n, lens + n) != 0;
            n += 3 * (int)o->nstate;
        }
    } else {
        snprintf(st, sizeof st, "%d", (int)o->status);
        snprintf(ms, sizeof ms, "%lld", (long long)o->latency_ms);
        /* Only attempts that ran are logged: a hold or a drop called no one. */
        int logged = o->mode != CH_QM_HOLD && o->mode != CH_QM_DROP && ch_id_valid(it->d);
        ARG(logged ? it->ri : ""); ARG(st); ARG(ms); ARGN(err, cut(err, CH_QW_DLOG_ERR_MAX));
        ARG(o->lease_token ? o->lease_token : "");
    }
#undef ARG
#undef ARGN
    redisReply *r = bad ? NULL : ch_rconn_eval(&s_outcome, 9 + (int)nsk, n, argv, lens);
    free(stream); free(att); free(retry); free(crash); free(dlq); free(stat); free(k7); free(k8);
    free(k9);
    free_keys(sk, nsk);
    if (argv != argv_s) {
        free(argv);
        free(lens);
    }
    if (bad) return C360_EINVAL; /* a blob ch_staged_pack did not make */
    int ok = r && r->type == REDIS_REPLY_INTEGER;
    if (ok && result) *result = r->integer;
    if (!ok) ch_qw_redis_failed(ch_qmode_name(o->mode), r);
    if (r) freeReplyObject(r);
    return ok ? C360_OK : C360_EIO;
}

/* Per item of qw_lua_outcome_ok before its records and staged writes: id,
 * connection index, nrec, source plugin, event time, duration, request
 * id, attempt, nw. */
#define OK_ITEM_ARGS 9
/* Number texts of an item: connection index, nrec, event time, duration,
 * attempt, nw. */
typedef struct ok_nums {
    char j[16], nrec[24], et[24], ms[24], att[24], nw[24];
} ok_nums;

int32_t ch_qw_outcome_ok_events(const char *tenant, const ch_qok *oks, size_t n,
                                long long *results)
{
    if (!ch_id_valid(tenant) || !oks || n == 0 || n > 4096) return C360_EINVAL;
    size_t nargs = 0;
    for (size_t i = 0; i < n; i++) {
        const ch_qitem *it = oks[i].it;
        if (!it || it->kind != CH_Q_EV || !it->valid || !ch_id_valid(it->c)) return C360_EINVAL;
        /* The script takes an event's member to be its id. */
        if (strcmp(it->member, it->id) != 0) return C360_EINVAL;
        if (oks[i].nstate && (!oks[i].state || !oks[i].state_keys)) return C360_EINVAL;
        if (oks[i].nrec > 100000 || oks[i].nstate > 100000) return C360_EINVAL;
        nargs += OK_ITEM_ARGS + 3 * ((oks[i].records ? oks[i].nrec : 0) + oks[i].nstate);
    }
    /* The distinct connections, in first-seen order (a turn is usually
     * one connection's flood, so the scan stays short). */
    const char **conns = ch_calloc(n, sizeof *conns);
    size_t *cidx = ch_calloc(n, sizeof *cidx);
    size_t nc = 0;
    for (size_t i = 0; i < n; i++) {
        const char *c = oks[i].it->c;
        size_t j = 0;
        while (j < nc && strcmp(conns[j], c) != 0) j++;
        if (j == nc) conns[nc++] = c;
        cidx[i] = j;
    }
    /* After the connections' keys, the state key of each staged write. */
    size_t nkeys = 4 + 4 * nc;
    for (size_t i = 0; i < n; i++) nkeys += oks[i].nstate;
    size_t argc = nkeys + 3 + nc + nargs;
    const char **argv = ch_calloc(argc, sizeof *argv);
    size_t *lens = ch_calloc(argc, sizeof *lens);
    char **owned = ch_calloc(nkeys, sizeof *owned); /* the keys */
    ok_nums *nums = ch_calloc(n, sizeof *nums);
    owned[0] = ch_qw_stream_key(tenant, CH_Q_EV);
    owned[1] = ch_key_tenant(tenant, "att");
    owned[2] = ch_key_tenant(tenant, "crash");
    owned[3] = ch_key_tenant(tenant, "dl");
    for (size_t j = 0; j < nc; j++) {
        owned[4 + 4 * j] = ch_key_tenant(tenant, "conn:%s:stat", conns[j]);
        owned[5 + 4 * j] = ch_key_tenant(tenant, "routes:%s", conns[j]);
        owned[6 + 4 * j] = ch_key_tenant(tenant, "synclog:%s", conns[j]);
        owned[7 + 4 * j] = ch_key_tenant(tenant, "statever:%s", conns[j]);
    }
    for (size_t i = 0, kx = 4 + 4 * nc; i < n; i++) {
        for (size_t k = 0; k < oks[i].nstate; k++)
            owned[kx++] = ch_key_tenant(tenant, "state:%s:%s", oks[i].it->c, oks[i].state_keys[k]);
    }
    size_t a = 0;
    int32_t st = C360_OK;
#define ARG(s) (argv[a] = (s), lens[a] = strlen(argv[a]), a++)
    for (size_t k = 0; k < nkeys; k++) ARG(owned[k]);
    char cnt[24], ncs[24];
    snprintf(cnt, sizeof cnt, "%zu", n);
    snprintf(ncs, sizeof ncs, "%zu", nc);
    ARG(CH_QW_GROUP);
    ARG(cnt);
    ARG(ncs);
    for (size_t j = 0; j < nc; j++) ARG(conns[j]);
    for (size_t i = 0; i < n && st == C360_OK; i++) {
        const ch_qok *o = &oks[i];
        const ch_qitem *it = o->it;
        ok_nums *x = &nums[i];
        size_t nrec = o->records ? o->nrec : 0;
        snprintf(x->j, sizeof x->j, "%zu", cidx[i] + 1);
        snprintf(x->nrec, sizeof x->nrec, "%zu", nrec);
        snprintf(x->et, sizeof x->et, "%lld", (long long)it->t);
        snprintf(x->ms, sizeof x->ms, "%lld", (long long)(o->latency_ms > 0 ? o->latency_ms : 0));
        snprintf(x->att, sizeof x->att, "%lld", ch_qitem_attempt(it));
        snprintf(x->nw, sizeof x->nw, "%zu", o->nstate);
        ARG(it->id); ARG(x->j); ARG(x->nrec); ARG(it->p ? it->p : ""); ARG(x->et); ARG(x->ms);
        ARG(it->rid ? it->rid : ""); ARG(x->att); ARG(x->nw);
        /* The packed fields become arguments of their own, pointing into
         * the blobs (the caller keeps them until this returns). */
        if (unpack_fields(o->records, o->records_len, 3 * nrec, argv + a, lens + a) != 0 ||
            unpack_fields(o->state, o->state_len, 3 * o->nstate, argv + a + 3 * nrec,
                          lens + a + 3 * nrec) != 0)
            st = C360_EINVAL;
        a += 3 * (nrec + o->nstate);
    }
#undef ARG
    redisReply *r = NULL;
    if (st == C360_OK) r = ch_rconn_eval(&s_outcome_ok, (int)nkeys, (int)a, argv, lens);
    for (size_t k = 0; k < nkeys; k++) free(owned[k]);
    free(owned); free(nums); free(argv); free(lens); free(cidx); free(conns);
    if (st != C360_OK) return st;
    int ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == n;
    for (size_t i = 0; ok && i < n; i++)
        if (r->element[i]->type != REDIS_REPLY_INTEGER) ok = 0;
    if (ok && results)
        for (size_t i = 0; i < n; i++) results[i] = r->element[i]->integer;
    if (!ok) ch_qw_redis_failed("ok (batch)", r);
    if (r) freeReplyObject(r);
    return ok ? C360_OK : C360_EIO;
}

int32_t ch_qw_poison(const char *tenant, ch_qkind kind, const char *entry,
                     const char *conn, const char *err, int threshold,
                     long long *crashes, int *poisoned)
{
    *crashes = 0;
    *poisoned = 0;
    if (!ch_id_valid(tenant) || !entry || !*entry || strlen(entry) >= CH_QW_ID_MAX || threshold < 1)
        return C360_EINVAL;
    char member[CH_QW_MEMBER_MAX], thr[16];
    snprintf(member, sizeof member, "%s%s", kind == CH_Q_DL ? "dl:" : "", entry);
    snprintf(thr, sizeof thr, "%d", threshold);
    char *stream = ch_qw_stream_key(tenant, kind);
    char *att = ch_key_tenant(tenant, "att"), *retry = ch_key_tenant(tenant, "retry");
    char *crash = ch_key_tenant(tenant, "crash"), *dlq = ch_key_tenant(tenant, "dlq");
    char *stat = conn ? stat_key(tenant, conn) : NULL;
    const char *e = err ? err : "";
    const char *argv[] = {stream, att, retry, crash, dlq, stat ? stat : stream, CH_QW_GROUP, entry,
                          member, kind == CH_Q_DL ? "dl" : "ev", e, thr, stat ? "1" : "0"};
    size_t lens[13];
    for (int i = 0; i < 13; i++) lens[i] = strlen(argv[i]);
    lens[10] = cut(e, CH_QW_ERR_MAX);
    redisReply *r = ch_rconn_eval(&s_poison, 6, 13, argv, lens);
    free(stream); free(att); free(retry); free(crash); free(dlq); free(stat);
    int ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
             r->element[0]->type == REDIS_REPLY_INTEGER && r->element[1]->type == REDIS_REPLY_INTEGER;
    if (ok) {
        *crashes = r->element[0]->integer;
        *poisoned = r->element[1]->integer == 1;
    } else {
        ch_qw_redis_failed("poison", r);
    }
    if (r) freeReplyObject(r);
    return ok ? C360_OK : C360_EIO;
}
