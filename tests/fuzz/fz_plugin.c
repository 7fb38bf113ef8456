/* fz_plugin.c -- see fz_plugin.h. */
#include "fz_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"
#include "connector_api.h"
#include "fz_host.h"
#include "instance.h"
#include "route_sink.h"

const c360_plugin_desc *c360_plugin_entry(void);

static const c360_plugin_desc *g_desc;
static void *g_pd;

static void plugin_init(void)
{
    if (g_desc) return;
    /* No backoff floors worth sleeping for, no real endpoints. */
    setenv("C360_META_THROTTLE_MIN_MS", "100", 1);
    setenv("C360_GOOGLE_THROTTLE_MIN_MS", "100", 1);
    setenv("C360_LINKEDIN_THROTTLE_MIN_MS", "100", 1);
    setenv("C360_CRM_GENERIC_ALLOW_HTTP", "1", 1);
    g_desc = c360_plugin_entry();
    c360_call call;
    ch_call_init(&call, g_desc->name, NULL, "fz-init", 0);
    if (g_desc->init(&call, fz_host(), &g_pd) != C360_OK) {
        fprintf(stderr, "fz: plugin %s init failed: %s\n", g_desc->name, call.error);
        abort();
    }
    ch_call_done(&call);
}

typedef struct fz_inst {
    struct c360_instance ci;
    void *data;
    int open;
} fz_inst;

static void inst_open(const fz_spec *spec, const char *config, fz_inst *in)
{
    memset(in, 0, sizeof *in);
    in->ci.magic = CH_INSTANCE_MAGIC;
    in->ci.tenant = "t1";
    in->ci.connection = "c1";
    in->ci.plugin = g_desc->name;
    for (size_t i = 0; spec->secrets[i]; i += 2) fz_secret_set(spec->secrets[i], spec->secrets[i + 1]);
    c360_call call;
    ch_call_init(&call, g_desc->name, &in->ci, "fz-open", 60000);
    int32_t st = g_desc->instance_open(&call, g_pd, &in->ci, config, strlen(config), &in->data);
    ch_call_done(&call);
    in->open = st == C360_OK;
    in->ci.data = in->data;
}

static void inst_close(fz_inst *in)
{
    if (in->open && g_desc->instance_close) g_desc->instance_close(g_pd, in->data);
}

static void run_event(fz_inst *in, const char *event_id, const c360_header *h, uint32_t nh,
                      const uint8_t *body, size_t len)
{
    c360_event ev = {.struct_size = sizeof ev, .header_count = nh, .event_id = event_id,
                     .headers = h, .body = body, .body_len = len,
                     .received_at_ms = FZ_NOW_MS, .attempt = 1};
    c360_call call;
    ch_call_init(&call, g_desc->name, &in->ci, "fz-event", 60000);
    fz_host_call_begin();
    g_desc->event(&call, g_pd, in->data, &ev);
    ch_call_done(&call);
}

int fz_webhook_one(const fz_spec *spec, const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    plugin_init();
    fz_host_reset();
    uint8_t flags = data[0];
    int app = (flags & 4) && C360_DESC_HAS(g_desc, webhook_route) && g_desc->webhook_route;
    fz_inst in;
    inst_open(spec, spec->config, &in);
    if (!app && !in.open) {
        inst_close(&in);
        return 0;
    }
    fz_request rq;
    fz_request_parse(data + 1, size - 1, &rq);
    /* The body exactly as long as it is: the host promises no NUL after
     * it, so a plugin reading past body_len must trip ASan. */
    uint8_t *body = malloc(rq.body_len ? rq.body_len : 1);
    if (rq.body_len) memcpy(body, rq.body, rq.body_len);
    c360_webhook wh = {.struct_size = sizeof wh, .header_count = rq.nheaders,
                       .method = (flags & 2) ? "GET" : "POST",
                       .path = app ? "/hooks/x" : "/hooks/x/c1", .query = rq.query,
                       .headers = rq.headers, .body = body, .body_len = rq.body_len,
                       .received_at_ms = FZ_NOW_MS};
    c360_webhook_reply rp;
    memset(&rp, 0, sizeof rp);
    rp.struct_size = sizeof rp;
    rp.status = 200;
    strcpy(rp.content_type, "text/plain");
    fz_bypass_sig = flags & 1;
    c360_call call;
    ch_call_init(&call, g_desc->name, app ? NULL : &in.ci, "fz-verify", 0);
    int32_t v = g_desc->webhook_verify(&call, g_pd, app ? NULL : in.data, &wh, &rp);
    if (v == C360_VERDICT_REPLIED && rp.body_len > sizeof rp.body_buf) {
        fprintf(stderr, "fz: reply body_len %zu past the buffer\n", rp.body_len);
        abort();
    }
    if (v == C360_VERDICT_ACCEPT && app) {
        ch_route_sink sink;
        ch_route_sink_reset(&sink);
        call.route = &sink;
        g_desc->webhook_route(&call, g_pd, &wh);
        call.route = NULL;
    }
    ch_call_done(&call);
    fz_bypass_sig = 0;
    if (v == C360_VERDICT_ACCEPT && (flags & 8) && in.open)
        run_event(&in, "1767225600000-0", rq.headers, rq.nheaders, body, rq.body_len);
    free(body);
    fz_request_free(&rq);
    inst_close(&in);
    return 0;
}

static void deliver(const fz_spec *spec, fz_inst *in, int batch)
{
    c360_record recs[4];
    const c360_record *ptrs[4];
    char *bufs[4] = {0};
    size_t n = 0;
    for (size_t i = 0; i < 4 && spec->records[i]; i++) {
        bufs[i] = strdup(spec->records[i]);
        char *type = bufs[i], *id = strchr(type, '\n');
        *id++ = '\0';
        char *json = strchr(id, '\n');
        *json++ = '\0';
        recs[n] = (c360_record){.struct_size = sizeof recs[n], .attempt = 1, .type = type,
                                .id = id, .source_plugin = "meta", .json = json,
                                .json_len = strlen(json), .created_at_ms = FZ_NOW_MS};
        ptrs[n] = &recs[n];
        n++;
    }
    c360_call call;
    ch_call_init(&call, g_desc->name, &in->ci, "fz-deliver", 60000);
    if (batch && n > 1 && C360_DESC_HAS(g_desc, deliver_batch) && g_desc->deliver_batch) {
        int32_t st[4] = {-1, -1, -1, -1};
        g_desc->deliver_batch(&call, g_pd, in->data, ptrs, n, st);
    } else if (n) {
        g_desc->deliver(&call, g_pd, in->data, ptrs[0]);
    }
    ch_call_done(&call);
    for (size_t i = 0; i < 4; i++) free(bufs[i]);
}

/* The spec's event headers parsed as a webhook's: "\n" + headers + "\n"
 * (an empty query, the headers, no body). Free with fz_request_free. */
static void event_headers(const fz_spec *spec, fz_request *hr)
{
    const char *eh = spec->event_headers ? spec->event_headers : "";
    size_t hl = strlen(eh);
    char *tmp = malloc(hl + 3);
    tmp[0] = '\n';
    memcpy(tmp + 1, eh, hl);
    tmp[hl + 1] = '\n';
    tmp[hl + 2] = '\0';
    fz_request_parse((const uint8_t *)tmp, hl + 2, hr);
    free(tmp);
}

/* A copy of exactly len bytes (no NUL after it: the host promises none,
 * so a plugin reading past the body trips ASan). */
static uint8_t *dup_exact(const void *p, size_t len)
{
    uint8_t *b = malloc(len ? len : 1);
    if (len) memcpy(b, p, len);
    return b;
}

#define FZ_PF_EVENTS 7 /* six of the spec's and the input's own */

/* The look ahead (flags & 64; fz_plugin.h): data is what follows the
 * flags byte. */
static int api_prefetch(const fz_spec *spec, uint8_t flags, const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t pf = data[0];
    data++, size--;
    uint8_t *bodies[FZ_PF_EVENTS];
    size_t lens[FZ_PF_EVENTS], n = 0;
    for (size_t i = 0; i < 6; i++) {
        if (!(pf & (1u << i)) || !spec->pf_events[i]) continue;
        lens[n] = strlen(spec->pf_events[i]);
        bodies[n] = dup_exact(spec->pf_events[i], lens[n]);
        n++;
    }
    if (pf & 64) {
        const uint8_t *sep = memmem(data, size, "\n@@@\n", 5);
        size_t bl = sep ? (size_t)(sep - data) : size;
        lens[n] = bl;
        bodies[n] = dup_exact(data, bl);
        n++;
        data += sep ? bl + 5 : bl;
        size -= sep ? bl + 5 : bl;
    }
    fz_http_script(data, size);
    for (size_t i = 0; spec->pf_state[i]; i += 2) fz_state_set(spec->pf_state[i], spec->pf_state[i + 1]);
    for (size_t i = 0; spec->pf_secrets[i]; i += 2)
        fz_secret_set(spec->pf_secrets[i], spec->pf_secrets[i + 1]);
    const char *config = (pf & 128) && spec->pf_config[1] ? spec->pf_config[1] : spec->pf_config[0];
    fz_inst in;
    inst_open(spec, config, &in);
    if (in.open) {
        fz_request hr;
        event_headers(spec, &hr);
        c360_event evs[FZ_PF_EVENTS];
        const c360_event *ptrs[FZ_PF_EVENTS];
        char ids[FZ_PF_EVENTS][32];
        for (size_t i = 0; i < n; i++) {
            snprintf(ids[i], sizeof ids[i], "1767225600000-%zu", i);
            evs[i] = (c360_event){.struct_size = sizeof evs[i], .header_count = hr.nheaders,
                                  .event_id = ids[i], .headers = hr.headers, .body = bodies[i],
                                  .body_len = lens[i], .received_at_ms = FZ_NOW_MS,
                                  .attempt = 1};
            ptrs[i] = &evs[i];
        }
        c360_call call;
        /* A 1 ms deadline: under the look ahead's reserve before its
         * first request, every time (its way out when time is short). */
        ch_call_init(&call, g_desc->name, &in.ci, "fz-prefetch", (flags & 4) ? 1 : 60000);
        fz_host_call_begin();
        g_desc->event_prefetch(&call, g_pd, in.data, ptrs, n);
        ch_call_done(&call);
        /* The events as the worker runs them next: each takes its leads
         * from what the look ahead cached, or reads them itself. */
        for (size_t i = 0; (flags & 2) && i < n; i++)
            run_event(&in, ids[i], hr.headers, hr.nheaders, bodies[i], lens[i]);
        fz_request_free(&hr);
    }
    inst_close(&in);
    for (size_t i = 0; i < n; i++) free(bodies[i]);
    return 0;
}

int fz_api_one(const fz_spec *spec, const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    plugin_init();
    fz_host_reset();
    uint8_t flags = data[0];
    /* The limiter's section first: what precedes it is cut as before. */
    size = 1 + fz_rl_split(data + 1, size - 1);
    if ((flags & 64) && spec->pf_config[0] && C360_DESC_HAS(g_desc, event_prefetch) &&
        g_desc->event_prefetch)
        return api_prefetch(spec, flags, data + 1, size - 1);
    fz_http_script(data + 1, size - 1);
    fz_inst in;
    inst_open(spec, spec->config, &in);
    if (!in.open) return 0;
    if ((flags & 1) && g_desc->tick) {
        c360_call call;
        ch_call_init(&call, g_desc->name, &in.ci, "fz-tick", 60000);
        fz_host_call_begin();
        g_desc->tick(&call, g_pd, in.data);
        ch_call_done(&call);
    }
    const char *evb = spec->events[(flags >> 2) & 3];
    if (!evb) evb = spec->events[0];
    if ((flags & 2) && g_desc->event && evb) {
        fz_request hr;
        event_headers(spec, &hr);
        run_event(&in, "1767225600000-0", hr.headers, hr.nheaders, (const uint8_t *)evb,
                  strlen(evb));
        fz_request_free(&hr);
    }
    if ((flags & 16) && g_desc->deliver) deliver(spec, &in, 0);
    if ((flags & 32) && g_desc->deliver) deliver(spec, &in, 1);
    inst_close(&in);
    return 0;
}
