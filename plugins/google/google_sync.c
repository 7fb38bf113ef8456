/* google_sync.c -- what changed in the mailbox, and the watch:
 *
 *  - g_sync: users.history.list from the stored history id (state
 *    "history_id") with paging; HTTP 404 (the id is too old) -> a resync
 *    of the last resync_days days with users.messages.list
 *    (q=newer_than:Nd). Each new message is read with users.messages.get
 *    (format=metadata, or format=full with include_body), filtered, and
 *    emitted as a c360.email.v1 record. The cursor and the "seen" marks
 *    (state "msg:<id>", 8 days) are written only when everything went
 *    well, so a retried event or tick does it all again and emits the same
 *    records (same ids). Messages the tick finds that no push delivered
 *    are counted in state "missed_webhooks".
 *  - g_watch: users.watch when under 2 days are left of the 7 (or none is
 *    known); a renewal that fails shows in the connection's status.
 *  - g_keys_fetch: Google's OIDC keys (JWKS) for the push check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google.h"

#define MAX_MSGS 500              /* messages read per call */
#define MAX_HISTORY_PAGES 50
#define MAX_LIST_PAGES 10
#define RESERVE_MS 3000
#define RENEW_BEFORE_MS (2LL * 86400 * 1000)
#define KEYS_TTL_MS (6LL * 3600 * 1000)

typedef struct idset {
    char (*id)[G_ID_MAX + 1];
    size_t n;
} idset;

static bool idset_add(idset *s, const char *id)
{
    if (!g_id_ok(id)) return true; /* ignored */
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->id[i], id) == 0) return true;
    if (s->n == MAX_MSGS) return false;
    snprintf(s->id[s->n++], G_ID_MAX + 1, "%s", id);
    return true;
}

static bool state_str(g_ctx *x, const char *key, char *out, size_t cap)
{
    uint8_t *v = NULL;
    size_t len = 0;
    out[0] = '\0';
    if (x->host->state_get(x->call, key, &v, &len, NULL) != C360_OK) return false;
    snprintf(out, cap, "%.*s", (int)(len < cap ? len : cap - 1), (const char *)v);
    x->host->free(v);
    return true;
}

static unsigned long long num(const char *s)
{
    return g_digits_ok(s) ? strtoull(s, NULL, 10) : 0;
}

static bool watched(const g_cfg *cfg, const json_t *labels)
{
    if (cfg->nwatch == 0 || labels == NULL) return true;
    for (size_t i = 0; i < json_array_size(labels); i++)
        for (size_t j = 0; j < cfg->nwatch; j++)
            if (json_is_string(json_array_get(labels, i)) &&
                strcmp(json_string_value(json_array_get(labels, i)), cfg->watch_labels[j]) == 0)
                return true;
    return false;
}

/* history.list; *gone when the start id is too old (404). */
static int32_t read_history(g_ctx *x, const char *cursor, idset *ids, char *new_cursor,
                            size_t cap, bool *gone)
{
    const g_cfg *cfg = &x->c->cfg;
    char page[512] = "", query[1024];
    char last_done[24];
    snprintf(last_done, sizeof last_done, "%s", cursor);
    *gone = false;
    for (int pg = 0; pg < MAX_HISTORY_PAGES; pg++) {
        snprintf(query, sizeof query, "startHistoryId=%s&historyTypes=messageAdded&maxResults=100",
                 cursor);
        if (cfg->nwatch == 1) {
            strcat(query, "&labelId=");
            g_urlenc_cat(query, sizeof query, cfg->watch_labels[0]);
        }
        if (page[0] != '\0') {
            strcat(query, "&pageToken=");
            if (!g_urlenc_cat(query, sizeof query, page)) return C360_ERROR;
        }
        json_t *out = NULL;
        g_req r = {.path = "history", .query = query, .cost = 2};
        int32_t st = g_api(x, &r, &out, NULL);
        if (st == C360_ENOTFOUND) {
            *gone = true;
            return C360_OK;
        }
        if (st != C360_OK) return st;
        const json_t *hist = json_object_get(out, "history");
        for (size_t i = 0; i < json_array_size(hist); i++) {
            const json_t *hr = json_array_get(hist, i);
            const json_t *added = json_object_get(hr, "messagesAdded");
            bool full = false;
            for (size_t j = 0; j < json_array_size(added) && !full; j++) {
                const json_t *m = json_object_get(json_array_get(added, j), "message");
                if (watched(cfg, json_object_get(m, "labelIds")))
                    full = !idset_add(ids, g_str(m, "id"));
            }
            if (full) {
                /* Stop at a whole history record: the next call goes on
                 * from the last one fully read. */
                snprintf(new_cursor, cap, "%s", last_done);
                json_decref(out);
                return C360_OK;
            }
            const char *hid = g_str(hr, "id");
            if (g_digits_ok(hid)) snprintf(last_done, sizeof last_done, "%s", hid);
        }
        const char *next = g_str(out, "nextPageToken");
        const char *hid = g_str(out, "historyId");
        if (next == NULL || strlen(next) >= sizeof page) {
            snprintf(new_cursor, cap, "%s", g_digits_ok(hid) ? hid : last_done);
            json_decref(out);
            return C360_OK;
        }
        snprintf(page, sizeof page, "%s", next);
        json_decref(out);
    }
    snprintf(new_cursor, cap, "%s", last_done);
    return C360_OK;
}

/* messages.list of the resync window. */
static int32_t resync_list(g_ctx *x, idset *ids)
{
    const g_cfg *cfg = &x->c->cfg;
    char page[512] = "", query[2048];
    for (int pg = 0; pg < MAX_LIST_PAGES; pg++) {
        snprintf(query, sizeof query, "maxResults=100&q=newer_than%%3A%dd", cfg->resync_days);
        for (size_t i = 0; i < cfg->nwatch; i++) {
            strcat(query, "&labelIds=");
            g_urlenc_cat(query, sizeof query, cfg->watch_labels[i]);
        }
        if (page[0] != '\0') {
            strcat(query, "&pageToken=");
            if (!g_urlenc_cat(query, sizeof query, page)) return C360_ERROR;
        }
        json_t *out = NULL;
        g_req r = {.path = "messages", .query = query, .cost = 5};
        int32_t st = g_api(x, &r, &out, NULL);
        if (st == C360_ENOTFOUND) return C360_OK;
        if (st != C360_OK) return st;
        const json_t *ms = json_object_get(out, "messages");
        bool full = false;
        for (size_t i = 0; i < json_array_size(ms) && !full; i++)
            full = !idset_add(ids, g_str(json_array_get(ms, i), "id"));
        const char *next = g_str(out, "nextPageToken");
        if (full || next == NULL || strlen(next) >= sizeof page) {
            json_decref(out);
            return C360_OK;
        }
        snprintf(page, sizeof page, "%s", next);
        json_decref(out);
    }
    return C360_OK;
}

static bool seen(g_ctx *x, const char *id)
{
    char key[96];
    uint8_t *v = NULL;
    size_t len = 0;
    g_key(key, sizeof key, "msg:", id);
    if (x->host->state_get(x->call, key, &v, &len, NULL) != C360_OK) return false;
    x->host->free(v);
    return true;
}

/* One message: read, filter, emit. *done counts those to mark seen. */
static int32_t one_message(g_ctx *x, const char *id, const char *via, const char *mailbox,
                           unsigned long long *max_hid, size_t *emitted, size_t *filtered)
{
    const c360_host_api *h = x->host;
    char path[96], id_out[96];
    g_key(path, sizeof path, "messages/", id);
    const char *q = x->c->cfg.include_body
                        ? "format=full"
                        : "format=metadata&metadataHeaders=From&metadataHeaders=To&"
                          "metadataHeaders=Cc&metadataHeaders=Subject&metadataHeaders=Date&"
                          "metadataHeaders=Message-ID";
    json_t *msg = NULL;
    g_req r = {.path = path, .query = q, .cost = 5};
    int32_t st = g_api(x, &r, &msg, NULL);
    if (st == C360_ENOTFOUND) return C360_OK; /* deleted meanwhile */
    if (st != C360_OK) return st;
    unsigned long long hid = num(g_str(msg, "historyId"));
    if (hid > *max_hid) *max_hid = hid;
    g_rec_ctx rc = {h->instance_connection(x->c->inst), via, mailbox, x->c->cfg.include_body,
                    h->now_ms()};
    const char *why = NULL;
    json_t *rec = g_email_record(msg, &rc, id_out, sizeof id_out, &why);
    json_decref(msg);
    if (rec == NULL) {
        h->log(x->call, C360_LOG_WARN, "a message was skipped: %s", why);
        return C360_OK;
    }
    if (!g_filter_match(&x->c->cfg, x->c->has_re ? &x->c->subject_re : NULL, rec)) {
        json_decref(rec);
        (*filtered)++;
        return C360_OK;
    }
    char *s = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    if (s == NULL) return C360_ENOMEM;
    st = h->record_emit(x->call, "email", id_out, s, strlen(s));
    free(s);
    if (st == C360_ETOOBIG || st == C360_EINVAL) {
        h->log(x->call, C360_LOG_WARN, "email record %s refused by the host: %s", id_out,
               c360_strstatus(st));
        return C360_OK;
    }
    if (st == C360_OK) (*emitted)++;
    return st;
}

static void set_cursor(g_ctx *x, unsigned long long v)
{
    char cur[24], b[24];
    /* Never backwards (a concurrent event may have gone further). */
    if (state_str(x, "history_id", cur, sizeof cur) && num(cur) >= v) return;
    snprintf(b, sizeof b, "%llu", v);
    x->host->state_set(x->call, "history_id", b, strlen(b), 0, NULL);
}

int32_t g_sync(g_ctx *x, const char *via, const char *hint_hid, const char *mailbox)
{
    const c360_host_api *h = x->host;
    char cursor[24], new_cursor[24] = "";
    if (!state_str(x, "history_id", cursor, sizeof cursor) || !g_digits_ok(cursor)) {
        /* No watch has run yet: start from the notification's id. */
        if (hint_hid != NULL && g_digits_ok(hint_hid)) {
            set_cursor(x, num(hint_hid));
            h->log(x->call, C360_LOG_INFO, "no history id yet: starting from %s", hint_hid);
        }
        return C360_OK;
    }
    if (hint_hid != NULL && num(hint_hid) != 0 && num(hint_hid) <= num(cursor))
        return C360_OK; /* already read past it */
    idset ids = {calloc(MAX_MSGS, sizeof *ids.id), 0};
    if (ids.id == NULL) return C360_ENOMEM;
    bool gone = false;
    int32_t st = read_history(x, cursor, &ids, new_cursor, sizeof new_cursor, &gone);
    if (st == C360_OK && gone) {
        ids.n = 0;
        h->log(x->call, C360_LOG_WARN,
               "history %s is too old (404): reading the last %d days again", cursor,
               x->c->cfg.resync_days);
        st = resync_list(x, &ids);
        snprintf(new_cursor, sizeof new_cursor, "%s", hint_hid != NULL ? hint_hid : "");
    }
    unsigned long long max_hid = 0;
    size_t emitted = 0, filtered = 0, done = 0;
    for (size_t i = 0; st == C360_OK && i < ids.n; i++, done++) {
        if (h->call_time_left_ms(x->call) < RESERVE_MS) {
            h->call_retry_after(x->call, 0);
            h->call_error(x->call, "the deadline is near after %zu of %zu messages; retrying",
                          i, ids.n);
            st = C360_RETRY;
            break;
        }
        if (seen(x, ids.id[i])) continue;
        st = one_message(x, ids.id[i], via, mailbox, &max_hid, &emitted, &filtered);
    }
    if (st == C360_OK) {
        for (size_t i = 0; i < done; i++) {
            char key[96];
            g_key(key, sizeof key, "msg:", ids.id[i]);
            h->state_set(x->call, key, via[0] == 'w' ? "w" : "p", 1, G_SEEN_TTL_MS, NULL);
        }
        unsigned long long nc = num(new_cursor);
        if (gone) {
            if (max_hid > nc) nc = max_hid;
            h->state_incr(x->call, "resyncs", 1, NULL);
            if (nc == 0) h->state_delete(x->call, "history_id"); /* the watch sets it */
        }
        if (nc != 0) set_cursor(x, nc);
        if (filtered > 0) h->state_incr(x->call, "filtered", (int64_t)filtered, NULL);
        if (via[0] == 'p' && emitted > 0) {
            h->state_incr(x->call, "missed_webhooks", (int64_t)emitted, NULL);
            h->log(x->call, C360_LOG_INFO, "catch-up: %zu messages no push announced", emitted);
        }
        h->log(x->call, C360_LOG_DEBUG, "%s: %zu messages, %zu emitted, %zu filtered out%s", via,
               ids.n, emitted, filtered, gone ? " (resync)" : "");
    }
    free(ids.id);
    return st;
}

int32_t g_watch(g_ctx *x)
{
    const c360_host_api *h = x->host;
    char b[32];
    int64_t now = h->now_ms();
    int64_t exp = state_str(x, "watch_expiration", b, sizeof b) ? (int64_t)num(b) : 0;
    if (exp - now > RENEW_BEFORE_MS) return C360_OK;
    json_t *body = json_object(), *labels = json_array();
    for (size_t i = 0; i < x->c->cfg.nwatch; i++)
        json_array_append_new(labels, json_string(x->c->cfg.watch_labels[i]));
    json_object_set_new(body, "topicName", json_string(x->c->cfg.topic));
    json_object_set_new(body, "labelIds", labels);
    json_object_set_new(body, "labelFilterBehavior", json_string("INCLUDE"));
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (s == NULL) return C360_ENOMEM;
    json_t *out = NULL;
    g_err e;
    g_req r = {.method = "POST", .path = "watch", .json = s, .cost = 100};
    int32_t st = g_api(x, &r, &out, &e);
    free(s);
    if (st == C360_OK) {
        const char *ex = g_str(out, "expiration"), *hid = g_str(out, "historyId");
        int64_t nexp = ex != NULL ? (int64_t)num(ex) : 0;
        if (nexp <= now) nexp = now + 7LL * 86400 * 1000;
        snprintf(b, sizeof b, "%lld", (long long)nexp);
        h->state_set(x->call, "watch_expiration", b, strlen(b), 0, NULL);
        char cur[24];
        if (!state_str(x, "history_id", cur, sizeof cur) && g_digits_ok(hid))
            h->state_set(x->call, "history_id", hid, strlen(hid), 0, NULL);
        h->state_incr(x->call, "watch_renewals", 1, NULL);
        char when[32];
        g_rfc3339_ms(nexp, when);
        h->log(x->call, C360_LOG_INFO, "Gmail watch renewed until %s", when);
        if (state_str(x, "watch_failing", cur, sizeof cur)) {
            h->state_delete(x->call, "watch_failing");
            h->connection_status(x->call, C360_CONN_ACTIVE, "Gmail watch renewed");
        }
        json_decref(out);
        return C360_OK;
    }
    if (st == C360_EAUTH || st == C360_ENOMEM) return st;
    /* Not renewed. Throttling and outages are retried quietly while the
     * watch has more than a day left; a refusal, or an answer that is not
     * a success with less than a day left, is shown to the customer. (No
     * answer at all -- a wait for the budget -- is just retried.) */
    if (st == C360_ENOTFOUND) st = C360_ERROR;
    if (st == C360_ERROR || (e.http_status != 0 && exp - now < 86400LL * 1000)) {
        char cause[300], when[32];
        if (exp > 0) g_rfc3339_ms(exp, when);
        if (e.http_status != 0)
            snprintf(cause, sizeof cause, "Gmail watch renewal failed (HTTP %d %s: %.120s); %s%s",
                     e.http_status, e.reason, e.msg,
                     exp > now ? "push notifications stop at " : "no push notifications",
                     exp > now ? when : "");
        else /* no answer: the request itself failed */
            snprintf(cause, sizeof cause, "Gmail watch renewal failed (%s); %s%s",
                     c360_strstatus(st),
                     exp > now ? "push notifications stop at " : "no push notifications",
                     exp > now ? when : "");
        h->state_set(x->call, "watch_failing", "1", 1, 0, NULL);
        h->connection_status(x->call, C360_CONN_FAILING, cause);
    }
    return st;
}

int32_t g_keys_fetch(g_plugin *p, g_conn *c, c360_call *call)
{
    const c360_host_api *h = p->host;
    c360_header hdr[1] = {{"accept", "application/json"}};
    c360_http_request req = {.struct_size = sizeof req, .header_count = 1, .method = "GET",
                             .url = p->certs_url, .headers = hdr, .timeout_ms = 10000,
                             .max_response_bytes = 256 * 1024};
    c360_http_response *resp = NULL;
    int32_t st = h->http(call, &req, &resp);
    if (st != C360_OK) return st;
    size_t n = 0;
    g_jwks *ks = resp->status == 200 ? g_jwks_parse((const char *)resp->body, resp->body_len, &n)
                                     : NULL;
    int status = resp->status;
    h->http_free(resp);
    if (ks == NULL) {
        h->call_error(call, "Google's OIDC keys unusable (HTTP %d)", status);
        return C360_RETRY;
    }
    pthread_rwlock_wrlock(&c->klock);
    g_jwks *old = c->keys;
    c->keys = ks;
    c->keys_at_ms = h->now_ms();
    pthread_rwlock_unlock(&c->klock);
    g_jwks_free(old);
    h->log(call, C360_LOG_DEBUG, "%zu Google OIDC keys loaded", n);
    return C360_OK;
}

bool g_keys_stale(g_conn *c, int64_t now)
{
    pthread_rwlock_rdlock(&c->klock);
    bool stale = c->keys == NULL || now - c->keys_at_ms > KEYS_TTL_MS;
    pthread_rwlock_unlock(&c->klock);
    return stale;
}
