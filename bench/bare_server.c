/* bare_server.c -- c360-bench-bare: the ceiling of the ingress benchmark.
 * A libevent evhttp server on one event loop (as c360d's master) that
 * answers every request with 200 and a two-byte body: no verification, no
 * storage. Whatever it reaches is what this machine, this client and
 * libevent's HTTP code allow; the durable servers are measured against it.
 *
 *   c360-bench-bare [--port N]      prints "port N" once listening */
#include <event2/buffer.h>

#include "bench_common.h"

static void on_request(struct evhttp_request *req, void *arg)
{
    struct evbuffer *out = arg;
    evbuffer_add(out, "ok", 2);
    evhttp_send_reply(req, 200, "OK", out);
}

int main(int argc, char **argv)
{
    int port = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) port = bench_port_arg(argv[++i]);
        else { fprintf(stderr, "usage: c360-bench-bare [--port N]\n"); return 2; }
    }
    signal(SIGPIPE, SIG_IGN);
    bench_base = event_base_new();
    struct evhttp *http = evhttp_new(bench_base);
    /* The same body limit as c360d's default (http.max_body_bytes). */
    evhttp_set_max_body_size(http, 1024 * 1024);
    struct evbuffer *out = evbuffer_new();
    evhttp_set_gencb(http, on_request, out);
    bench_listen(http, port);
    event_base_dispatch(bench_base);
    evhttp_free(http);
    evbuffer_free(out);
    bench_close();
    event_base_free(bench_base);
    return 0;
}
