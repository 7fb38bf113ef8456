/* fake_fault.h -- fault injection shared by the fake providers (include
 * after fake_common.h). A fake routes its provider requests through
 * fake_fault_take() first; while a fault is armed, the request gets the
 * fault instead of the provider's answer. The faults imitate what a
 * provider's edge does on a bad day, for the fault-injection tests
 * (tests/integration/faults_*.sh):
 *
 *   POST /__fault?mode=M[&count=N][&path=SUB][&status=S][&ms=T][&bytes=B]
 *                 [&retry_after=S]
 *     M = timeout    never answers (the client gives up)
 *         5xx        status S (500 to 599, default 500): 500 with a JSON
 *                    error marked transient, others with an HTML page as
 *                    a load balancer sends
 *         429        HTTP 429 with Retry-After: S (default 1) and the
 *                    provider's own rate-limit headers (the fake's hook)
 *         malformed  200, application/json, a cut JSON document
 *         huge       200, a valid JSON object of B bytes (default 2 MiB,
 *                    at most 64 MiB)
 *         trickle    200, headers at once, then a JSON body one byte
 *                    every T ms (default 200): never done before any sane
 *                    client deadline
 *         off        disarms the fault of that path (without path: all)
 *     count: the next N matching requests get it (default: until "off");
 *     path: only requests whose path contains SUB match (default: all).
 *     Up to FAKE_FAULT_SLOTS faults are armed at once, one per path (a
 *     new one for the same path replaces it); a request gets the first
 *     armed fault that matches, so tests can run faults side by side.
 *   GET  /__fault  {"hits":N,"armed":[{"mode":"..","left":N,"path":".."},..]}:
 *                  hits = requests that got a fault since the fake started
 *
 * Everything here is `static inline`, so a fake that includes the header
 * without using a piece of it compiles warning-free. */
#ifndef C360_FAKE_FAULT_H
#define C360_FAKE_FAULT_H

#include <stdint.h>

#include <event2/http.h>

#define FAKE_FAULT_HUGE_MAX (64L << 20)

enum fake_fault_mode { FF_OFF, FF_TIMEOUT, FF_5XX, FF_429, FF_MALFORMED, FF_HUGE, FF_TRICKLE };
static const char *const fake_fault_names[] = {"off", "timeout", "5xx", "429",
                                               "malformed", "huge", "trickle"};

#define FAKE_FAULT_SLOTS 8

typedef struct fake_fault_slot {
    enum fake_fault_mode mode; /* FF_OFF: a free slot */
    long left;                 /* -1: until off */
    int status;
    long ms, bytes, retry_after;
    char path[128];
} fake_fault_slot;

static struct {
    fake_fault_slot slot[FAKE_FAULT_SLOTS];
    long hits;
    /* The provider's rate-limit headers on a 429 (set by the fake). */
    void (*rate_headers)(struct evhttp_request *req);
} fake_fault;

/* ---- trickle: one byte per tick until the client leaves -------------------- */
typedef struct fake_trickle {
    struct evhttp_request *req;
    struct event *timer;
    long sent, ms;
} fake_trickle;

static const char fake_trickle_body[] = "{\"data\":[{\"id\":\"trickle\",\"note\":\"one byte at a time\"}]}";

static inline void fake_trickle_free(fake_trickle *t)
{
    event_free(t->timer);
    free(t);
}

/* The client left mid-body. libevent detaches a request whose reply was
 * started but not ended from its dying connection and leaves it to the
 * server to end: ending it then frees it. */
static inline void fake_trickle_on_close(struct evhttp_connection *c, void *arg)
{
    (void)c;
    fake_trickle *t = arg;
    struct evhttp_request *req = t->req;
    fake_trickle_free(t);
    if (!evhttp_request_get_connection(req)) evhttp_send_reply_end(req);
}

static inline void fake_trickle_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what;
    fake_trickle *t = arg;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, fake_trickle_body + t->sent % (long)(sizeof fake_trickle_body - 1), 1);
    evhttp_send_reply_chunk(t->req, b);
    evbuffer_free(b);
    t->sent++;
    struct timeval tv = {t->ms / 1000, (t->ms % 1000) * 1000};
    evtimer_add(t->timer, &tv);
}

static inline void fake_trickle_start(struct evhttp_request *req, long ms)
{
    fake_trickle *t = calloc(1, sizeof *t);
    if (!t) abort();
    t->req = req;
    t->ms = ms > 0 ? ms : 1;
    t->timer = evtimer_new(fake_base, fake_trickle_tick, t);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply_start(req, 200, "OK");
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), fake_trickle_on_close, t);
    fake_trickle_tick(-1, 0, t);
}

/* ---- control ------------------------------------------------------------------ */
static inline int fake_fault_num(struct evhttp_request *req, const char *name, long lo,
                                 long hi, long *out)
{
    char *v = fake_query_param(req, name);
    if (!v) return 1;
    char *end;
    long n = strtol(v, &end, 10);
    int ok = *v && !*end && n >= lo && n <= hi;
    free(v);
    if (ok) *out = n;
    return ok;
}

/* The slot armed for path (or a free one when arming); NULL if none. */
static inline fake_fault_slot *fake_fault_slot_of(const char *path, int take_free)
{
    fake_fault_slot *free_slot = NULL;
    for (int i = 0; i < FAKE_FAULT_SLOTS; i++) {
        fake_fault_slot *f = &fake_fault.slot[i];
        if (f->mode != FF_OFF && strcmp(f->path, path) == 0) return f;
        if (f->mode == FF_OFF && !free_slot) free_slot = f;
    }
    return take_free ? free_slot : NULL;
}

/* Serves /__fault. Returns 1 if the request was that (and answered). */
static inline int fake_fault_control(struct evhttp_request *req, const char *path)
{
    if (strcmp(path, "/__fault") != 0) return 0;
    if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
        char *m = fake_query_param(req, "mode"), *p = fake_query_param(req, "path");
        int found = -1;
        for (int i = 0; m && i < (int)(sizeof fake_fault_names / sizeof fake_fault_names[0]); i++)
            if (strcmp(m, fake_fault_names[i]) == 0) found = i;
        long count = -1, status = 500, ms = 200, bytes = 2L << 20, ra = 1;
        int ok = found >= 0 && fake_fault_num(req, "count", 1, 1000000000, &count) &&
                 fake_fault_num(req, "status", 500, 599, &status) &&
                 fake_fault_num(req, "ms", 1, 600000, &ms) &&
                 fake_fault_num(req, "bytes", 16, FAKE_FAULT_HUGE_MAX, &bytes) &&
                 fake_fault_num(req, "retry_after", 0, 86400, &ra) &&
                 (!p || strlen(p) < sizeof fake_fault.slot[0].path);
        fake_fault_slot *f = NULL;
        if (ok && found == FF_OFF) {
            for (int i = 0; i < FAKE_FAULT_SLOTS; i++)
                if (!p || strcmp(fake_fault.slot[i].path, p) == 0) fake_fault.slot[i].mode = FF_OFF;
        } else if (ok && !(f = fake_fault_slot_of(p ? p : "", 1))) {
            ok = 0; /* every slot armed */
        } else if (ok) {
            *f = (fake_fault_slot){.mode = (enum fake_fault_mode)found, .left = count,
                                   .status = (int)status, .ms = ms, .bytes = bytes,
                                   .retry_after = ra};
            snprintf(f->path, sizeof f->path, "%s", p ? p : "");
        }
        free(m);
        free(p);
        if (!ok) {
            fake_reply(req, 400, "application/json", "{\"error\":\"bad fault\"}");
            return 1;
        }
    }
    struct evbuffer *out = evbuffer_new();
    evbuffer_add_printf(out, "{\"hits\":%ld,\"armed\":[", fake_fault.hits);
    const char *sep = "";
    for (int i = 0; i < FAKE_FAULT_SLOTS; i++) {
        const fake_fault_slot *f = &fake_fault.slot[i];
        if (f->mode == FF_OFF) continue;
        evbuffer_add_printf(out, "%s{\"mode\":\"%s\",\"left\":%ld,\"path\":\"%s\"}", sep,
                            fake_fault_names[f->mode], f->left, f->path);
        sep = ",";
    }
    evbuffer_add_printf(out, "]}");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
    return 1;
}

/* ---- the faults ------------------------------------------------------------------ */
static inline void fake_fault_never(struct evhttp_request *req, void *arg)
{
    (void)arg;
    fake_reply(req, 504, "text/plain", "the fake gave up waiting itself\n");
}

/* Gives req the armed fault if it matches. Returns 1 if it did (the
 * request is answered, or will be, or never will be: timeout). */
static inline int fake_fault_take(struct evhttp_request *req, const char *path)
{
    fake_fault_slot *f = NULL;
    for (int i = 0; i < FAKE_FAULT_SLOTS && !f; i++) {
        fake_fault_slot *c = &fake_fault.slot[i];
        if (c->mode != FF_OFF && (!c->path[0] || strstr(path, c->path))) f = c;
    }
    if (!f) return 0;
    enum fake_fault_mode m = f->mode;
    fake_fault.hits++;
    if (f->left > 0 && --f->left == 0) f->mode = FF_OFF; /* its settings stay for this one */
    struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
    switch (m) {
    case FF_TIMEOUT:
        /* Held for 10 minutes: every client leaves first, and the close
         * callback frees it. */
        fake_reply_later(req, 600000, fake_fault_never, NULL, NULL);
        return 1;
    case FF_5XX:
        if (f->status == 500)
            fake_reply(req, 500, "application/json",
                       "{\"error\":{\"message\":\"An unexpected error has occurred. Please "
                       "retry your request later.\",\"type\":\"OAuthException\","
                       "\"is_transient\":true,\"code\":2,\"fbtrace_id\":\"AfaultTrace\"}}");
        else
            fake_reply(req, f->status, "text/html",
                       "<html><head><title>Service Unavailable</title></head><body>"
                       "<h1>Service Unavailable</h1></body></html>\n");
        return 1;
    case FF_429: {
        char ra[24];
        snprintf(ra, sizeof ra, "%ld", f->retry_after);
        evhttp_add_header(oh, "Retry-After", ra);
        if (fake_fault.rate_headers) fake_fault.rate_headers(req);
        fake_reply(req, 429, "application/json",
                   "{\"error\":{\"message\":\"Too many requests\",\"code\":4}}");
        return 1;
    }
    case FF_MALFORMED:
        fake_reply(req, 200, "application/json",
                   "{\"id\":\"malformed\",\"field_data\":[{\"name\":\"email\",\"values\":[\"x@");
        return 1;
    case FF_HUGE: {
        struct evbuffer *out = evbuffer_new();
        static const char head[] = "{\"id\":\"huge\",\"pad\":\"", tail[] = "\"}";
        long pad = f->bytes - (long)(sizeof head - 1) - (long)(sizeof tail - 1);
        static char block[65536];
        memset(block, 'x', sizeof block);
        evbuffer_add(out, head, sizeof head - 1);
        for (long left = pad; left > 0; left -= (long)sizeof block)
            evbuffer_add(out, block, left < (long)sizeof block ? (size_t)left : sizeof block);
        evbuffer_add(out, tail, sizeof tail - 1);
        evhttp_add_header(oh, "Content-Type", "application/json");
        evhttp_send_reply(req, 200, "OK", out);
        evbuffer_free(out);
        return 1;
    }
    case FF_TRICKLE:
        fake_trickle_start(req, f->ms);
        return 1;
    case FF_OFF:
        break;
    }
    return 0;
}

#endif
