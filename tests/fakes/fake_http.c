/* fake_http -- a plain HTTP server on 127.0.0.1 for the outbound HTTP
 * client's tests (tests/unit/test_httpc.c).
 *
 *   fake_http [--port N]          N = 0 (default): a free port
 *
 * prints "port N" once listening. Endpoints (any method):
 *   /echo[?status=N]       JSON of what arrived: method, path, query,
 *                          headers (names lower-cased), body, body_len;
 *                          also sets response headers X-Fake: yes and
 *                          X-Mixed-Case: Value
 *   /status?code=N         status N with a short body
 *   /slow?ms=N             answers /echo-like after N ms (timer; the
 *                          server keeps serving others meanwhile)
 *   /huge?bytes=N[&chunked=1]  N bytes of 'x' (max 256 MiB); chunked=1
 *                          sends no Content-Length
 *   /headers?n=N           N response headers X-H<i>: v
 *   /redirect?to=URL       302 to URL (default /echo)
 *   /redirect?loop=1       302 to itself, forever
 *   /stats                 {"requests":N}: every request counted
 */
#include <stdint.h>

#include <jansson.h>

#include "fake_common.h"

static long g_requests;

static void send_json(struct evhttp_request *req, int code, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    fake_reply(req, code, "application/json", s ? s : "{}");
    free(s);
}

static json_t *describe(struct evhttp_request *req)
{
    static const char *const methods[] = {"GET", "POST", "HEAD", "PUT", "DELETE",
                                          "OPTIONS", "TRACE", "CONNECT", "PATCH"};
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const char *m = "?";
    for (unsigned i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (cmd == (enum evhttp_cmd_type)(1 << i)) m = methods[i];
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    json_t *hdrs = json_object();
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    for (struct evkeyval *kv = in->tqh_first; kv; kv = kv->next.tqe_next) {
        char lower[256];
        snprintf(lower, sizeof lower, "%s", kv->key);
        for (char *p = lower; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        json_object_set_new(hdrs, lower, json_string(kv->value));
    }
    size_t blen;
    char *body = fake_body(req, &blen);
    json_t *jb = json_stringn(body, blen);
    free(body);
    return json_pack("{s:s,s:s,s:s,s:o,s:o,s:I}", "method", m, "path",
                     u && evhttp_uri_get_path(u) ? evhttp_uri_get_path(u) : "", "query",
                     u && evhttp_uri_get_query(u) ? evhttp_uri_get_query(u) : "", "headers",
                     hdrs, "body", jb ? jb : json_null(), "body_len", (json_int_t)blen);
}

static void do_echo(struct evhttp_request *req, int code)
{
    json_t *j = describe(req);
    struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
    evhttp_add_header(oh, "X-Fake", "yes");
    evhttp_add_header(oh, "X-Mixed-Case", "Value");
    send_json(req, code, j);
    json_decref(j);
}

static void echo_ok(struct evhttp_request *req, void *arg)
{
    (void)arg;
    do_echo(req, 200);
}

static void do_slow(struct evhttp_request *req)
{
    char *ms = fake_query_param(req, "ms");
    long v = ms ? fake_parse_long("ms", ms, 0, 600000) : 1000;
    free(ms);
    fake_reply_later(req, v, echo_ok, NULL, NULL);
}

static void do_huge(struct evhttp_request *req)
{
    char *b = fake_query_param(req, "bytes");
    char *ch = fake_query_param(req, "chunked");
    long n = b ? fake_parse_long("bytes", b, 0, 256L << 20) : 1024;
    int chunked = ch && strcmp(ch, "1") == 0;
    free(b);
    free(ch);
    static char block[65536];
    memset(block, 'x', sizeof block);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
    if (!chunked) {
        struct evbuffer *out = evbuffer_new();
        for (long left = n; left > 0; left -= (long)sizeof block)
            evbuffer_add(out, block, left < (long)sizeof block ? (size_t)left : sizeof block);
        evhttp_send_reply(req, 200, "OK", out);
        evbuffer_free(out);
        return;
    }
    evhttp_send_reply_start(req, 200, "OK");
    struct evbuffer *out = evbuffer_new();
    for (long left = n; left > 0; left -= (long)sizeof block) {
        evbuffer_add(out, block, left < (long)sizeof block ? (size_t)left : sizeof block);
        evhttp_send_reply_chunk(req, out);
    }
    evbuffer_free(out);
    evhttp_send_reply_end(req);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    g_requests++;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u && evhttp_uri_get_path(u) ? evhttp_uri_get_path(u) : "/";
    if (strcmp(path, "/echo") == 0) {
        char *st = fake_query_param(req, "status");
        int code = st ? (int)fake_parse_long("status", st, 200, 599) : 200;
        free(st);
        do_echo(req, code);
    } else if (strcmp(path, "/status") == 0) {
        char *c = fake_query_param(req, "code");
        int code = c ? (int)fake_parse_long("code", c, 200, 599) : 200;
        free(c);
        char body[64];
        snprintf(body, sizeof body, "status %d\n", code);
        fake_reply(req, code, "text/plain", body);
    } else if (strcmp(path, "/slow") == 0) {
        do_slow(req);
    } else if (strcmp(path, "/huge") == 0) {
        do_huge(req);
    } else if (strcmp(path, "/headers") == 0) {
        char *c = fake_query_param(req, "n");
        long n = c ? fake_parse_long("n", c, 0, 10000) : 10;
        free(c);
        struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
        for (long i = 0; i < n; i++) {
            char name[32];
            snprintf(name, sizeof name, "X-H%ld", i);
            evhttp_add_header(oh, name, "v");
        }
        fake_reply(req, 200, "text/plain", "many headers\n");
    } else if (strcmp(path, "/redirect") == 0) {
        char *to = fake_query_param(req, "to");
        char *loop = fake_query_param(req, "loop");
        const char *where = loop ? evhttp_request_get_uri(req) : to ? to : "/echo";
        evhttp_add_header(evhttp_request_get_output_headers(req), "Location", where);
        free(to);
        free(loop);
        fake_reply(req, 302, "text/plain", "moved\n");
    } else if (strcmp(path, "/stats") == 0) {
        char body[64];
        snprintf(body, sizeof body, "{\"requests\":%ld}", g_requests);
        fake_reply(req, 200, "application/json", body);
    } else {
        fake_reply(req, 404, "text/plain", "no such endpoint\n");
    }
}

int main(int argc, char **argv)
{
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = fake_parse_port(argv[++i]);
        else { fprintf(stderr, "usage: fake_http [--port N]\n"); return 2; }
    }
    fake_serve(port,
               EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                   EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS,
               on_request);
    return 0;
}
