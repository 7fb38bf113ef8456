/* ingress.c -- see ingress.h: URL parsing, lookups, webhook_verify,
 * webhook_route and the verdicts. The write is ingress_store.c. */
#include "ingress.h"

#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "conns.h"
#include "ingress_int.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define HOOKS_PREFIX "/hooks/"

static ing_plugin *find_plugin(ch_ingress *ing, const char *name, size_t len)
{
    for (size_t i = 0; i < ing->nplugins; i++)
        if (ing->plugins[i].name_len == len && memcmp(ing->plugins[i].name, name, len) == 0)
            return &ing->plugins[i];
    return NULL;
}

static void not_found(ch_ingress *ing, ch_req *req, const char *message)
{
    ing->st.not_found++;
    ch_metrics_inc(CH_M_EVENTS_REJECTED, 1);
    ing_error(req, 404, "not_found", message);
}

static void unavailable(ch_ingress *ing, ch_req *req, const char *code, const char *message)
{
    ing->st.unavailable++;
    ch_metrics_inc(CH_M_EVENTS_REJECTED, 1);
    ing_error(req, 503, code, message);
}

/* The plugin's reply for REPLIED, made safe to send: a status evhttp can
 * send, a content type without control characters (no header injection),
 * a body within the buffer. */
static void send_plugin_reply(ch_req *req, c360_webhook_reply *rp)
{
    int status = rp->status >= 200 && rp->status <= 599 ? rp->status : 200;
    rp->content_type[sizeof rp->content_type - 1] = '\0';
    const char *ct = rp->content_type;
    for (const char *c = ct; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) { ct = "text/plain"; break; }
    if (!*ct) ct = "text/plain";
    size_t len = rp->body_len > sizeof rp->body_buf ? sizeof rp->body_buf : rp->body_len;
    ch_req_reply(req, status, ct, rp->body_buf, len);
}

/* Runs webhook_verify and answers REPLIED / REJECT itself. Returns 1 when
 * the caller should store the event (ACCEPT). */
static int verify(ch_ingress *ing, ch_req *req, ing_plugin *pl, c360_call *call, void *inst_data,
                  const c360_webhook *wh)
{
    c360_webhook_reply rp;
    rp.struct_size = sizeof rp;
    rp.status = 200;
    memcpy(rp.content_type, "text/plain", sizeof "text/plain");
    rp.body_len = 0;
    int64_t t0 = ch_monotonic_ms();
    int32_t v = pl->ops->webhook_verify(call, pl->data, inst_data, wh, &rp);
    ch_metrics_observe_callback(pl->idx, CH_CB_WEBHOOK_VERIFY, ch_monotonic_ms() - t0);
    if (v == C360_VERDICT_ACCEPT) return 1;
    if (v == C360_VERDICT_REPLIED) {
        ing->st.replied++;
        send_plugin_reply(req, &rp);
        return 0;
    }
    ing->st.rejected++;
    ch_metrics_inc(CH_M_EVENTS_REJECTED, 1);
    if (rp.status == 403)
        ing_error(req, 403, "forbidden", "webhook verification failed");
    else
        ing_error(req, 401, "unauthorized", "webhook verification failed");
    return 0;
}

static void per_connection(ch_ingress *ing, ch_req *req, ing_plugin *pl, const char *conn,
                           const c360_webhook *wh)
{
    ch_cc_entry e;
    if (!ch_conncache_get(ing->cache, conn, &e)) {
        /* A disconnected connection's URL says so for a while (a
         * tombstone, conns.h), so that the provider stops retrying. */
        if (ch_conncache_gone(ing->cache, conn)) {
            ing->st.gone++;
            ch_metrics_inc(CH_M_EVENTS_REJECTED, 1);
            ing_error(req, 410, "gone", "the connection was disconnected");
        } else {
            not_found(ing, req, "no such connection");
        }
        return;
    }
    if (strcmp(e.plugin, pl->name) != 0) {
        not_found(ing, req, "no such connection");
        return;
    }
    if (strcmp(e.state, CH_CONN_STATE_DISABLED) == 0) {
        ing->st.gone++;
        ch_metrics_inc(CH_M_EVENTS_REJECTED, 1);
        ing_error(req, 410, "gone", "the connection is disabled");
        return;
    }
    ch_inst *inst = ch_instance_peek(ing->instances, e.tenant, conn, e.version);
    if (!inst) {
        unavailable(ing, req, "connection_starting", "the connection is being opened; retry");
        return;
    }
    c360_call call;
    ch_call_init(&call, pl->name, ch_inst_instance(inst), ch_req_id(req), 0);
    int accept = verify(ing, req, pl, &call, ch_inst_data(inst), wh);
    ch_instance_release(inst);
    if (accept) {
        ing_tin *t = &ing->tin[0];
        memcpy(t->tenant, e.tenant, sizeof t->tenant);
        memcpy(t->id, e.id, sizeof t->id);
        t->ndd = 0;
        if (call.dedup_key[0]) t->dd[t->ndd++] = call.dedup_key;
        ing_store(ing, req, pl->name, ing->tin, 1, wh->received_at_ms);
    }
    ch_call_done(&call);
}

/* Resolves the sink's routing keys to connections (ing->tin): each
 * connection once, with every dedup key that led to it. */
static size_t resolve(ch_ingress *ing, ing_plugin *pl)
{
    size_t n = 0;
    for (size_t i = 0; i < ing->sink.n; i++) {
        const ch_route_item *it = &ing->sink.item[i];
        size_t m = ch_conncache_route(ing->cache, pl->name, it->key, ing->found,
                                      CH_INGRESS_MAX_TARGETS);
        if (m > CH_INGRESS_MAX_TARGETS) m = CH_INGRESS_MAX_TARGETS;
        for (size_t k = 0; k < m; k++) {
            const ch_cc_target *f = &ing->found[k];
            ch_cc_entry e;
            /* The index may lag the connection: trust only a live entry
             * of this plugin and tenant that is not disabled. */
            if (!ch_conncache_get(ing->cache, f->id, &e) || strcmp(e.plugin, pl->name) != 0 ||
                strcmp(e.tenant, f->tenant) != 0 || strcmp(e.state, CH_CONN_STATE_DISABLED) == 0)
                continue;
            size_t j = 0;
            while (j < n && strcmp(ing->tin[j].id, f->id) != 0) j++;
            if (j == n) {
                if (n == CH_INGRESS_MAX_TARGETS) continue;
                memcpy(ing->tin[n].tenant, f->tenant, sizeof ing->tin[n].tenant);
                memcpy(ing->tin[n].id, f->id, sizeof ing->tin[n].id);
                ing->tin[n].ndd = 0;
                n++;
            }
            ing_tin *t = &ing->tin[j];
            if (!it->dedup[0] || t->ndd == CH_QI_DEDUP_MAX) continue;
            size_t d = 0;
            while (d < t->ndd && strcmp(t->dd[d], it->dedup) != 0) d++;
            if (d == t->ndd) t->dd[t->ndd++] = it->dedup;
        }
    }
    return n;
}

static void app_level(ch_ingress *ing, ch_req *req, ing_plugin *pl, const c360_webhook *wh)
{
    if (!pl->ops->webhook_route) {
        not_found(ing, req, "this plugin has no app-level webhook URL");
        return;
    }
    c360_call call;
    ch_call_init(&call, pl->name, NULL, ch_req_id(req), 0);
    if (!verify(ing, req, pl, &call, NULL, wh)) {
        ch_call_done(&call);
        return;
    }
    ch_route_sink_reset(&ing->sink);
    call.route = &ing->sink;
    int64_t t0 = ch_monotonic_ms();
    int32_t st = pl->ops->webhook_route(&call, pl->data, wh);
    ch_metrics_observe_callback(pl->idx, CH_CB_WEBHOOK_ROUTE, ch_monotonic_ms() - t0);
    call.route = NULL;
    ch_call_done(&call);
    if (st != C360_OK) {
        ing->st.unrouted++;
        ch_metrics_inc(CH_M_EVENTS_UNROUTED, 1);
        ing_error(req, 400, "unroutable", "the plugin could not route this event");
        return;
    }
    size_t n = resolve(ing, pl);
    if (n == 0) {
        ing->st.unrouted++;
        ch_metrics_inc(CH_M_EVENTS_UNROUTED, 1);
        ing_error(req, 404, "unrouted", "the event belongs to no connection");
        return;
    }
    ing_store(ing, req, pl->name, ing->tin, n, wh->received_at_ms);
}

static void on_hook(ch_req *req, void *arg)
{
    ch_ingress *ing = arg;
    ing->st.requests++;
    const char *path = ch_req_path(req);
    const char *rest = path + strlen(HOOKS_PREFIX);
    const char *slash = strchr(rest, '/');
    size_t plen = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *conn = slash ? slash + 1 : NULL;
    ing_plugin *pl = plen < CH_CONN_PLUGIN_MAX ? find_plugin(ing, rest, plen) : NULL;
    if (!pl || !pl->webhook || (conn && !ch_id_valid(conn))) {
        not_found(ing, req, "no such webhook");
        return;
    }
    if (!ch_conncache_loaded(ing->cache)) {
        unavailable(ing, req, "starting", "the host is starting; retry");
        return;
    }
    if (ing_collect_headers(ing, req) != 0) {
        ch_metrics_inc(CH_M_EVENTS_REJECTED, 1);
        ing_error(req, 431, "too_many_headers", "too many request headers");
        return;
    }
    size_t len;
    const uint8_t *body = ch_req_body(req, &len);
    c360_webhook wh = {.struct_size = sizeof wh, .header_count = (uint32_t)ing->nhv,
                       .method = ch_req_method(req), .path = path, .query = ch_req_query(req),
                       .headers = ing->hv, .body = body, .body_len = len,
                       .received_at_ms = ch_now_ms()};
    if (conn) per_connection(ing, req, pl, conn, &wh);
    else app_level(ing, req, pl, &wh);
}

ch_ingress *ch_ingress_new(struct event_base *base, ch_http *http, ch_redis *redis,
                           ch_conncache *cache, ch_instances *instances, const ch_loader *ld,
                           const ch_ingress_opts *opts)
{
    ch_ingress *ing = ch_calloc(1, sizeof *ing);
    ing->wake_ev = event_new(base, -1, 0, ing_wake_cb, ing);
    ing->http = http;
    ing->redis = redis;
    ing->cache = cache;
    ing->instances = instances;
    ing->dedup_window_s = opts && opts->dedup_window_s > 0 ? opts->dedup_window_s : 7 * 86400;
    ing->refs = 1;
    ing->nplugins = ch_loader_count(ld);
    ing->plugins = ch_calloc(ing->nplugins ? ing->nplugins : 1, sizeof *ing->plugins);
    for (size_t i = 0; i < ing->nplugins; i++) {
        const ch_plugin *p = ch_loader_get(ld, i);
        ing_plugin *x = &ing->plugins[i];
        x->p = p;
        x->name = ch_plugin_name(p);
        x->name_len = strlen(x->name);
        x->ops = ch_plugin_ops_get(p);
        x->data = ch_plugin_data(p);
        x->idx = i;
        x->webhook = (ch_plugin_desc(p)->capabilities & C360_CAP_SOURCE_WEBHOOK) &&
                     x->ops->webhook_verify != NULL;
    }
    ch_http_route(http, "POST", HOOKS_PREFIX "*", on_hook, ing);
    ch_http_route(http, "GET", HOOKS_PREFIX "*", on_hook, ing);
    return ing;
}

void ing_unref(ch_ingress *ing)
{
    if (--ing->refs) return;
    if (ing->nwake) ing_wake_cb(-1, 0, ing); /* what is owed, if Redis is there */
    event_free(ing->wake_ev);
    ing_pool_free(ing);
    ch_qi_shutdown();
    free(ing->plugins);
    free(ing->names);
    free(ing);
}

void ch_ingress_free(ch_ingress *ing)
{
    if (ing) ing_unref(ing);
}

void ch_ingress_get_stats(const ch_ingress *ing, ch_ingress_stats *out) { *out = ing->st; }
