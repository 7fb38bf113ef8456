/* meta_graph.c -- one Graph API call, the way every call of the plugin is
 * made:
 *
 *  1. budgets first (a unit per call; a batch request counts one per
 *     operation, as Meta does): the app's bucket (C360_RL_APP
 *     "app:<app id>:<fp>", shared by the connections holding that app's
 *     secret: one Meta app's limits; the secret's fingerprint keeps a
 *     tenant that merely names someone's app id out of that app's budget)
 *     and, for calls about a page or an ad account, that object's bucket
 *     (C360_RL_TENANT). A short wait is slept; a long one gives the work
 *     back with C360_RETRY. A batch request over several pages takes its
 *     budgets before it is written (meta_graph_batch_budget: each page its
 *     operations', the app their sum) and is then sent `prepaid`.
 *  2. the request: {graph}/{version}/{path}?{query}&appsecret_proof=..,
 *     the token in an Authorization header (never in the URL, so it is in
 *     no log line), provider URL (no SSRF policy: the operator's base URL).
 *     A batch request carries its tokens and proofs in its form body.
 *  3. the usage headers, each reported to the bucket it is about, so the
 *     buckets slow down before Meta throttles (meta_answer_reports: one
 *     report per bucket; a batch's are gathered with its operations' and
 *     sent once per bucket by its caller).
 *  4. the outcome: throttling codes back off (at least throttle_min_ms,
 *     60 s by default, or Meta's regain time), 190 goes to
 *     meta_token_rejected, transient errors retry, the rest is permanent
 *     with an excerpt of Meta's message (never a token). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "meta.h"

#define URL_MAX 4096
#define DEFAULT_MAX_BYTES (4u << 20)

/* Local guards only: Meta's real limits arrive as usage reports. */
static const c360_rl_limit app_budget = {sizeof(c360_rl_limit), 6000, 60000, 300};
static const c360_rl_limit obj_budget = {sizeof(c360_rl_limit), 1200, 60000, 60};
/* A batch's units in one take: the host refuses a cost over the burst. */
_Static_assert(META_BATCH_MAX <= 60, "a batch fits the smallest burst");

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {}
}

/* Ends a reservation (its units lapse) and starts over from one unit. */
static void resv_drop(meta_ctx *x, meta_resv *r)
{
    if (r == NULL) return;
    pthread_mutex_lock(&x->c->cache.lock);
    r->left = 0;
    r->until = 0;
    r->want = 1;
    pthread_mutex_unlock(&x->c->cache.lock);
}

/* `units` at once, without a reservation: a short wait is slept. */
static int32_t take_units(meta_ctx *x, int32_t scope, const char *bucket,
                          const c360_rl_limit *lim, uint32_t units, const uint32_t *refused)
{
    const c360_host_api *h = x->host;
    for (int tries = 0;; tries++) {
        uint32_t wait = 0;
        int32_t st = C360_RETRY;
        /* refused: the caller has just asked for exactly these units and
         * been told to wait that long; not asked again at once. */
        if (tries == 0 && refused != NULL) wait = *refused;
        else st = h->ratelimit_take(x->call, scope, bucket, lim, units, &wait);
        if (st != C360_RETRY) return st;
        /* Sleep through a short wait if the deadline allows it; a long one
         * (a pause after a throttling report) is the pipeline's to wait. */
        if (tries < 3 && wait <= 1500 && h->call_time_left_ms(x->call) > wait + 5000) {
            sleep_ms(wait);
            continue;
        }
        h->call_retry_after(x->call, wait);
        h->call_error(x->call, "waiting %u ms for the Meta rate budget (%s)", wait,
                      scope == C360_RL_APP ? "app" : "page or ad account");
        return C360_RETRY;
    }
}


/* `units` of a budget: 1 for a call, a batch's operations for a batch
 * request. The budget lives in Redis (every host and process spends from
 * it); to spare a round trip per call, a process busy with a bucket
 * reserves units ahead and spends them locally: a take that finds all its
 * units in this process's reservation `r` (NULL: none) uses them; else one
 * take asks Redis for the units and the reservation's next size (want - 1
 * more, kept for the next calls and batches for META_RESV_MS; at most
 * META_RESV_MAX and a quarter of the burst, and never over the burst with
 * the units: META_BATCH_MAX is below the smallest). `want` is doubled
 * when the last reservation was used up within its life, halved when its
 * units lapsed unused. Units are spent in Redis before they are used, so
 * no host ever exceeds the budget; a lapsed unit is lost (spent without a
 * call), which only makes the guard stricter. A reservation lives at most
 * META_RESV_MS, so a pause or slowdown reported by another host applies
 * here at most that late; one reported here applies at once (resv_drop).
 * When that many are not free, the units alone are asked (and the
 * reservation starts over from one unit); then a short wait is slept when
 * `sleep` (a call, a batch's app), else C360_RETRY comes at once without
 * call_error (a batch's page: its leads are left out). */
static int32_t resv_take(meta_ctx *x, int32_t scope, const char *bucket,
                         const c360_rl_limit *lim, meta_resv *r, uint32_t units, bool sleep)
{
    const c360_host_api *h = x->host;
    int64_t now = h->monotonic_ms();
    uint32_t keep = 0;
    if (r != NULL) {
        pthread_mutex_lock(&x->c->cache.lock);
        bool live = now < r->until;
        if (live && r->left >= units) {
            r->left -= units;
            pthread_mutex_unlock(&x->c->cache.lock);
            return C360_OK;
        }
        /* The last reservation is over (a batch may instead find a live
         * one with too few units: that one is left to the calls that
         * spend it). Resized once, by the take that finds it over. */
        if ((!live || r->left == 0) && r->until != 0) {
            if (live && r->want < META_RESV_MAX) r->want *= 2;
            else if (!live && r->left > 0 && r->want > 1) r->want /= 2;
            r->left = 0;
            r->until = 0;
        }
        uint32_t burst = lim->burst ? lim->burst : lim->limit;
        uint32_t want = r->want < burst / 4 ? r->want : burst / 4;
        keep = want > 1 ? want - 1 : 0;
        if (units + keep > burst) keep = units < burst ? burst - units : 0;
        pthread_mutex_unlock(&x->c->cache.lock);
    }
    uint32_t wait = 0;
    int32_t st = h->ratelimit_take(x->call, scope, bucket, lim, units + keep, &wait);
    if (st == C360_OK) {
        if (r != NULL) {
            pthread_mutex_lock(&x->c->cache.lock);
            /* Units still live (this or another thread's) are kept: they
             * were taken from the shared budget too. */
            r->left = (now < r->until ? r->left : 0) + keep;
            r->until = now + META_RESV_MS;
            pthread_mutex_unlock(&x->c->cache.lock);
        }
        return C360_OK;
    }
    if (st != C360_RETRY) return st;
    /* Not that many free now: the units alone, as without a cache, until
     * the budget is free again; the reservation starts over from one
     * unit. (keep == 0: the units alone were asked already.) */
    if (keep > 0) resv_drop(x, r);
    if (sleep) return take_units(x, scope, bucket, lim, units, keep > 0 ? NULL : &wait);
    if (keep > 0) st = h->ratelimit_take(x->call, scope, bucket, lim, units, &wait);
    return st;
}

/* One report sent: its bucket's usage and pause, in Redis. */
static void send_report(meta_ctx *x, const meta_report *r)
{
    char b[64];
    if (!r->app) meta_key(b, sizeof b, "obj:", r->id);
    /* High usage or a pause: this process's reservation ends, so the next
     * take meets the slowdown or pause in Redis at once. (A low report
     * leaves it: it runs out within META_RESV_MS anyway.) */
    if (r->pct >= META_RESV_KEEP_PCT || r->pause_ms > 0)
        resv_drop(x, meta_cache_resv(x->c, r->app ? NULL : r->id));
    x->host->ratelimit_report(x->call, r->app ? C360_RL_APP : C360_RL_TENANT,
                              r->app ? x->c->app_bucket : b, r->pct < 0 ? 0 : (uint32_t)r->pct,
                              r->pause_ms);
}

void meta_graph_reports(meta_ctx *x, meta_reports *a)
{
    for (size_t i = 0; i < a->n; i++) send_report(x, &a->v[i]);
    a->n = 0;
}

void meta_graph_gather(meta_ctx *x, meta_reports *a, const meta_report *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (meta_reports_merge(a, &r[i])) continue;
        /* Full (hostile or odd usage headers naming many ids): what was
         * gathered goes now, and the gathering starts again. */
        meta_graph_reports(x, a);
        meta_reports_merge(a, &r[i]);
    }
}

/* An answer's reports (meta_answer_reports), merged into `into` or, when
 * it is NULL, sent: one per bucket. Returns the throttling pause (0: not
 * a throttling error). */
static uint32_t account(meta_ctx *x, const c360_http_response *resp, const meta_err *e,
                        const char *object, meta_reports *into)
{
    meta_usage u;
    meta_report rep[META_ANSWER_REPORTS];
    uint32_t wait = 0;
    meta_usage_parse(resp->headers, resp->header_count, &u);
    size_t n = meta_answer_reports(&u, e, object, x->p->throttle_min_ms, rep, &wait);
    if (into != NULL) {
        meta_graph_gather(x, into, rep, n);
    } else {
        for (size_t i = 0; i < n; i++) send_report(x, &rep[i]);
    }
    return wait;
}

/* The budget limits of this plugin, scaled (C360_META_BUDGET_SCALE, 1 to
 * 1000, multiplies rates and bursts). */
static void limits(meta_ctx *x, c360_rl_limit *app, c360_rl_limit *obj)
{
    *app = app_budget;
    *obj = obj_budget;
    app->limit *= x->p->budget_scale;
    app->burst *= x->p->budget_scale;
    obj->limit *= x->p->budget_scale;
    obj->burst *= x->p->budget_scale;
}

int32_t meta_graph_batch_budget(meta_ctx *x, const char *const *pages, const uint32_t *units,
                                size_t n, uint32_t min_units, bool *granted, uint32_t *total)
{
    c360_rl_limit app_lim, obj_lim;
    limits(x, &app_lim, &obj_lim);
    char b[64];
    uint32_t sum = 0;
    *total = 0;
    /* The pages first: their buckets are the narrower, and a page without
     * room only leaves its own leads out (their events wait for it). */
    for (size_t i = 0; i < n; i++) {
        granted[i] = false;
        if (units[i] == 0 || units[i] > META_BATCH_MAX || sum + units[i] > META_BATCH_MAX)
            continue;
        meta_key(b, sizeof b, "obj:", pages[i]);
        int32_t st = resv_take(x, C360_RL_TENANT, b, &obj_lim, meta_cache_resv(x->c, pages[i]),
                               units[i], false);
        if (st == C360_RETRY) continue;
        if (st != C360_OK) return st;
        granted[i] = true;
        sum += units[i];
    }
    /* Too few to send: the granted pages' units lapse (spent unused,
     * which only makes the guard stricter). */
    if (sum == 0 || sum < min_units) return C360_OK;
    int32_t st = resv_take(x, C360_RL_APP, x->c->app_bucket, &app_lim,
                           meta_cache_resv(x->c, NULL), sum, true);
    if (st == C360_OK) *total = sum;
    return st;
}

void meta_proof(meta_ctx *x, const char *tok, char hex[65])
{
    uint8_t mac[32];
    meta_app_mac(&x->p->crypto, x->c->app, tok, strlen(tok), mac);
    meta_hex(mac, sizeof mac, hex);
}

/* Notes a copy of tok in the call's list of sent tokens (once; what does
 * not fit is still cut from its own request's answer). */
static void sent_note(meta_ctx *x, const char *tok)
{
    meta_sent *s = x->sent;
    if (s == NULL || tok == NULL || s->n >= META_SENT_MAX) return;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->tok[i], tok) == 0) return;
    size_t len = strlen(tok);
    char *d = malloc(len + 1);
    if (d == NULL) return;
    memcpy(d, tok, len + 1);
    s->tok[s->n++] = d;
}

void meta_sent_free(meta_sent *s)
{
    for (size_t i = 0; i < s->n; i++) meta_token_free(NULL, s->tok[i]);
    s->n = 0;
}

/* Copies of the page tokens the connection holds now (its cache), into
 * held; their count. A copy, since another thread may replace a token
 * while the caller cuts. */
static size_t held_tokens(meta_ctx *x, char *held[META_MAX_PAGES])
{
    meta_cache *c = &x->c->cache;
    size_t n = 0;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < META_MAX_PAGES; i++) {
        if (c->tok[i] == NULL) continue;
        size_t len = strlen(c->tok[i]);
        char *d = malloc(len + 1);
        if (d == NULL) continue;
        memcpy(d, c->tok[i], len + 1);
        held[n++] = d;
    }
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* tok appended to the cut list cuts[0..*n), unless NULL or there already
 * (the same pointer or the same text): each token is searched for once in
 * Meta's message. cuts has room for every token the caller may add. */
static void cut_add(const char **cuts, size_t *n, const char *tok)
{
    if (tok == NULL) return;
    for (size_t i = 0; i < *n; i++)
        if (cuts[i] == tok || strcmp(cuts[i], tok) == 0) return;
    cuts[(*n)++] = tok;
}

/* Whether the answer's body opens with '[' after JSON's white space. */
static bool opens_array(const c360_http_response *resp)
{
    size_t i = 0;
    while (i < resp->body_len && (resp->body[i] == ' ' || resp->body[i] == '\t' ||
                                  resp->body[i] == '\n' || resp->body[i] == '\r'))
        i++;
    return i < resp->body_len && resp->body[i] == '[';
}

int32_t meta_graph_not_json(meta_ctx *x, const meta_gr *r)
{
    const c360_host_api *h = x->host;
    h->call_error(x->call, "Graph API answered %s without a JSON %s",
                  r->path[0] != '\0' ? r->path : "a batch", r->any_json ? "document" : "object");
    h->call_retry_after(x->call, 0);
    return C360_RETRY;
}

int32_t meta_graph(meta_ctx *x, const meta_gr *r, json_t **out, meta_err *err_out)
{
    const c360_host_api *h = x->host;
    meta_conn *c = x->c;
    meta_err local = {0}; /* set below through e; = {0} for cppcheck */
    meta_err *e = err_out != NULL ? err_out : &local;
    char obj_bucket[64];
    int32_t st;

    *out = NULL;
    if (r->raw != NULL) *r->raw = NULL;
    memset(e, 0, sizeof *e);
    c360_rl_limit app_lim, obj_lim;
    limits(x, &app_lim, &obj_lim);
    uint32_t units = r->units != 0 ? r->units : 1;
    if (units > META_BATCH_MAX) {
        h->call_error(x->call, "a Graph request of %u calls is over the batch limit", units);
        return C360_ERROR;
    }
    if (!r->prepaid &&
        (st = resv_take(x, C360_RL_APP, c->app_bucket, &app_lim, meta_cache_resv(c, NULL), units,
                        true)) != C360_OK)
        return st;
    if (!r->prepaid && r->object != NULL) {
        meta_key(obj_bucket, sizeof obj_bucket, "obj:", r->object);
        if ((st = resv_take(x, C360_RL_TENANT, obj_bucket, &obj_lim,
                            meta_cache_resv(c, r->object), units, true)) != C360_OK)
            return st;
    }

    char *url = malloc(URL_MAX);
    if (url == NULL) return C360_ENOMEM;
    int n = snprintf(url, URL_MAX, "%s/%s%s%s%s%s", x->p->graph_url,
                     r->no_version ? "" : c->cfg.version, r->no_version ? "" : "/",
                     r->path, r->query != NULL ? "?" : "", r->query != NULL ? r->query : "");
    if (r->token != NULL && !r->token_in_form && n > 0 && (size_t)n < URL_MAX - 100) {
        /* appsecret_proof: Meta then refuses the token from anywhere that
         * does not also hold the app secret. */
        char hex[65];
        meta_proof(x, r->token, hex);
        n = snprintf(url + n, URL_MAX - (size_t)n, "%sappsecret_proof=%s",
                     r->query != NULL ? "&" : "?", hex) + n;
    }
    if (n <= 0 || (size_t)n >= URL_MAX) {
        free(url);
        h->call_error(x->call, "Graph API URL too long");
        return C360_ERROR;
    }

    char *auth = NULL;
    c360_header hdr[3];
    uint32_t nh = 0;
    hdr[nh++] = (c360_header){"accept", "application/json"};
    if (r->token != NULL && !r->token_in_form) {
        size_t al = strlen(r->token) + sizeof "Bearer ";
        auth = malloc(al);
        if (auth == NULL) {
            free(url);
            return C360_ENOMEM;
        }
        snprintf(auth, al, "Bearer %s", r->token);
        hdr[nh++] = (c360_header){"authorization", auth};
    }
    if (r->form != NULL)
        hdr[nh++] = (c360_header){"content-type", "application/x-www-form-urlencoded"};
    c360_http_request req = {
        .struct_size = sizeof req,
        .header_count = nh,
        .method = r->method != NULL ? r->method : "GET",
        .url = url,
        .headers = hdr,
        .body = (const uint8_t *)r->form,
        .body_len = r->form != NULL ? strlen(r->form) : 0,
        .timeout_ms = r->timeout_ms != 0 ? r->timeout_ms : 30000,
        .max_response_bytes = r->max_bytes != 0 ? r->max_bytes : DEFAULT_MAX_BYTES,
    };
    c360_http_response *resp = NULL;
    st = h->http(x->call, &req, &resp);
    /* Whatever came of it, these went out: a later answer of the call is
     * cut of them too. */
    sent_note(x, r->token);
    for (size_t i = 0; i < r->ncuts && i < META_BATCH_MAX; i++) sent_note(x, r->cuts[i]);
    if (auth != NULL) {
        volatile char *w = auth;
        for (size_t i = 0; w[i] != '\0'; i++) w[i] = 0;
        free(auth);
    }
    free(url);
    if (st != C360_OK) {
        /* host->http set the reason (without the URL's query). Network
         * trouble and timeouts are retried by the pipeline; a too-big
         * answer or a policy refusal would not get better. */
        return st == C360_ETOOBIG || st == C360_EDENIED || st == C360_EINVAL ? C360_ERROR : st;
    }

    if (r->raw != NULL && resp->status >= 200 && resp->status < 300 && opens_array(resp)) {
        /* A batch's array, left to its caller's reader (meta_batch_read)
         * rather than parsed into a tree here. What the parse below would
         * have told: a 2xx answer whose body is an array or no JSON at all
         * has no top-level "error" object, so meta_err_classify_cuts gives
         * META_ERR_NONE without looking at j or the cuts (no held token is
         * copied either). */
        meta_err_classify_cuts(resp->status, NULL, NULL, 0, e);
        account(x, resp, e, r->object, r->reports);
        *r->raw = resp;
        return C360_OK;
    }
    /* The body is parsed once: for its error, and for the caller. */
    json_t *j = resp->body_len > 0 ? json_loadb((const char *)resp->body, resp->body_len, 0, NULL)
                                   : NULL;
    {
        /* Every token of the request is cut from Meta's message; and, when
         * the answer is an error (whose message may be shown), every page
         * token the connection holds too: a token sent in an earlier
         * request must not come back in a later one's error either. */
        const char *cuts[1 + META_BATCH_MAX + META_MAX_PAGES + META_SENT_MAX];
        char *held[META_MAX_PAGES] = {NULL};
        size_t ncuts = 0, nheld = 0;
        cut_add(cuts, &ncuts, r->token);
        for (size_t i = 0; i < r->ncuts && i < META_BATCH_MAX; i++)
            cut_add(cuts, &ncuts, r->cuts[i]);
        if (resp->status >= 300 || json_object_get(j, "error") != NULL) {
            /* The request's own tokens are among those the call sent (noted
             * above), and a held token was usually sent too: cut_add keeps
             * each once. */
            nheld = held_tokens(x, held);
            for (size_t i = 0; x->sent != NULL && i < x->sent->n; i++)
                cut_add(cuts, &ncuts, x->sent->tok[i]);
        }
        for (size_t i = 0; i < nheld; i++) cut_add(cuts, &ncuts, held[i]);
        meta_err_classify_cuts(resp->status, j, cuts, ncuts, e);
        for (size_t i = 0; i < nheld; i++) meta_token_free(x, held[i]);
    }
    /* Usage headers, and a throttling error's pause, each to the bucket
     * it is about, so the buckets slow down before Meta throttles. */
    uint32_t wait = account(x, resp, e, r->object, r->reports);
    if (e->cls == META_ERR_NONE) {
        h->http_free(resp);
        if (json_is_object(j) || (r->any_json && j != NULL)) {
            *out = j;
            return C360_OK;
        }
        json_decref(j);
        return meta_graph_not_json(x, r);
    }
    json_decref(j);
    h->http_free(resp);

    switch (e->cls) {
    case META_ERR_THROTTLE: {
        /* Reported above (account) with the usage headers. */
        h->call_retry_after(x->call, wait);
        h->call_error(x->call, "Meta rate limit (code %lld): retrying in %u s",
                      (long long)e->code, (wait + 999) / 1000);
        return C360_RETRY;
    }
    case META_ERR_AUTH:
        if (r->quiet_auth) {
            h->call_error(x->call, "Meta token invalid (code 190/%lld)", (long long)e->subcode);
            return C360_EAUTH;
        }
        return meta_token_rejected(x, e);
    case META_ERR_PROOF:
        /* The operator rotated the app secret: the host reopens the
         * connection when its secrets change, and the retry then signs
         * with the new one. */
        h->call_retry_after(x->call, 60000);
        h->call_error(x->call, "Meta refused the appsecret_proof (code 100): the app secret "
                      "was probably rotated; store the new app_secret in the connection");
        return C360_RETRY;
    case META_ERR_TRANSIENT:
        h->call_retry_after(x->call, 0);
        h->call_error(x->call, "Meta API temporarily unavailable (HTTP %d, code %lld): %s",
                      e->http_status, (long long)e->code, e->msg);
        return C360_RETRY;
    default:
        h->call_error(x->call, "Meta API error (HTTP %d, code %lld/%lld): %s",
                      e->http_status, (long long)e->code, (long long)e->subcode, e->msg);
        return C360_ERROR;
    }
}
