/* lead_graph.c -- c360-bench-lead-graph: the Meta Graph API as the lead
 * pipeline benchmark (bench/run_lead_e2e.sh) needs it, and nothing else.
 * tests/fakes/fake_graph keeps every lead in a JSON array searched one by
 * one and must be told each lead first; here every lead exists: its
 * answer is made from its id, in constant time, so the fake is never what
 * limits the pipeline. Same wire format (/work/shared/reference/
 * providers.md, Meta); no usage headers (nothing to slow down for).
 *
 *   c360-bench-lead-graph [--port N] [--apps ID,ID,..] [--form ID]
 *
 * prints "port N" once listening. Paths may carry a version (/v25.0/...);
 * every call needs "Authorization: Bearer <token>" (code 104 otherwise).
 * appsecret_proof is not checked (fake_graph's tests cover it).
 *
 *   GET /me                     with a page token "PT-<page>": {"id":"<page>"}
 *                               (the plugin's proof of access)
 *   GET /{page}/subscribed_apps every app of --apps, subscribed to leadgen
 *   GET /{page}/leadgen_forms   no forms (the catch-up poll finds nothing)
 *   GET /{form}?fields=..       the form --form (default 555): two questions
 *   GET /{lead}?fields=..       any id of 10 digits or more is a lead: email
 *                               lead<id>@example.com, full name "Lead <id>",
 *                               one custom answer, one consent, form --form
 *   POST /{version}/ (or /)     Graph's batch API: form fields batch=[{"method":
 *                               "GET","relative_url":"<path>?<query>"},..] (1 to
 *                               50), access_token (or a Bearer header); each
 *                               operation answered as its GET above, with the
 *                               access_token of its relative_url (else the
 *                               request's -- so one request may read the
 *                               leads of several pages): [{"code":..,
 *                               "headers":[..],"body":"<JSON as a
 *                               string>"},..]; headers (Content-Type only:
 *                               the GETs carry no usage headers either)
 *                               unless include_headers=false
 *   GET /stats                  {"calls":..,"leads":..,"errors":..,
 *                               "batches":..,"batch_ops":..}: calls are HTTP
 *                               requests, a batch's operations are batch_ops
 * Anything else: Graph's error 100/33 with HTTP 400.
 *
 * Cheap on the batch path too: the batch is not parsed as JSON, its
 * relative_urls are picked out of it (the plugin writes them without
 * escapes; one with an escape is answered as an error), and each answer is
 * written once into a reused buffer and escaped once into the reply. */
#include <inttypes.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "bench_common.h"

#define BATCH_MAX 50
#define BODY_MAX (2 << 20)

static const char *g_apps = "1111";
static const char *g_form = "555";
static struct evbuffer *g_out, *g_op;
static uint64_t g_calls, g_leads, g_errors, g_batches, g_batch_ops;

static void send_out(struct evhttp_request *req, int code)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Bad Request", g_out);
}

/* Graph's error body into out; its status. */
static int error_body(struct evbuffer *out, const char *msg, int code, int sub)
{
    evbuffer_add_printf(out,
                        "{\"error\":{\"message\":\"%s\",\"type\":\"OAuthException\",\"code\":%d,"
                        "\"error_subcode\":%d,\"fbtrace_id\":\"bench\"}}", msg, code, sub);
    g_errors++;
    return 400;
}

static int all_digits(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

static int lead(struct evbuffer *out, const char *id)
{
    /* Created a minute ago: younger than the poll's look-back, older
     * than nothing the plugin cares about. Formatted once a second. */
    static char ts[32];
    static time_t ts_at;
    time_t now = time(NULL);
    if (now != ts_at) {
        time_t t = now - 60;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S+0000", &tm);
        ts_at = now;
    }
    evbuffer_add_printf(out,
        "{\"id\":\"%s\",\"created_time\":\"%s\",\"ad_id\":\"31\",\"ad_name\":\"Ad 31\","
        "\"adset_id\":\"21\",\"adset_name\":\"Set 21\",\"campaign_id\":\"41\","
        "\"campaign_name\":\"Spring\",\"form_id\":\"%s\",\"is_organic\":false,\"platform\":\"fb\","
        "\"field_data\":[{\"name\":\"email\",\"values\":[\"lead%s@example.com\"]},"
        "{\"name\":\"full_name\",\"values\":[\"Lead %s\"]},"
        "{\"name\":\"budget\",\"values\":[\"10k-50k\"]}],"
        "\"custom_disclaimer_responses\":[{\"checkbox_key\":\"optin\",\"is_checked\":\"1\"}]}",
        id, ts, g_form, id, id);
    g_leads++;
    return 200;
}

static int subscribed_apps(struct evbuffer *out)
{
    evbuffer_add_printf(out, "{\"data\":[");
    const char *p = g_apps;
    for (int first = 1; *p; first = 0) {
        size_t n = strcspn(p, ",");
        evbuffer_add_printf(out, "%s{\"id\":\"%.*s\",\"name\":\"Connector 360\","
                            "\"subscribed_fields\":[\"leadgen\",\"feed\"]}",
                            first ? "" : ",", (int)n, p);
        p += n;
        if (*p == ',') p++;
    }
    evbuffer_add(out, "]}", 2);
    return 200;
}

/* One Graph call on path (no version, no leading '/') with token tok
 * (NULL: none): its body into out, its status returned. */
static int answer(struct evbuffer *out, const char *path, const char *tok, int get)
{
    if (!tok || !*tok)
        return error_body(out, "An access token is required to request this resource.", 104, 0);
    size_t n1 = strcspn(path, "/");
    const char *seg2 = path[n1] == '/' ? path + n1 + 1 : "";
    if (get && n1 == 2 && strncmp(path, "me", 2) == 0 && !*seg2) {
        if (strncmp(tok, "PT-", 3) != 0)
            return error_body(out, "bench: only page tokens PT-<page> are known", 190, 0);
        evbuffer_add_printf(out, "{\"id\":\"%.40s\",\"name\":\"A page\"}", tok + 3);
        return 200;
    }
    if (all_digits(path, n1) && strcmp(seg2, "subscribed_apps") == 0 && get)
        return subscribed_apps(out);
    if (all_digits(path, n1) && strcmp(seg2, "leadgen_forms") == 0 && get) {
        evbuffer_add(out, "{\"data\":[]}", 11);
        return 200;
    }
    if (get && !*seg2 && strcmp(path, g_form) == 0) {
        evbuffer_add_printf(out,
            "{\"id\":\"%s\",\"name\":\"Bench form\",\"questions\":[{\"key\":\"email\",\"label\":\"Email\"},"
            "{\"key\":\"budget\",\"label\":\"What is your budget?\"}],\"legal_content\":{"
            "\"custom_disclaimer\":{\"checkboxes\":[{\"key\":\"optin\",\"text\":\"Send me offers\"}]}}}",
            g_form);
        return 200;
    }
    if (get && !*seg2 && n1 >= 10 && n1 <= 40 && all_digits(path, n1)) return lead(out, path);
    return error_body(out, "Unsupported get request. Object does not exist, cannot be loaded due "
                           "to missing permissions, or does not support this operation.", 100, 33);
}

/* A path without its leading '/' and version (/v25.0/...). */
static const char *unversioned(const char *p)
{
    if (p[0] == '/') p++;
    if (p[0] == 'v' && strchr(p, '/')) p = strchr(p, '/') + 1;
    return p;
}

/* src as the inside of a JSON string, appended to dst: written into
 * dst's own space (at most 6 bytes per input byte), no call per escape --
 * a lead body has some sixty quotes, and this fake must stay cheap (it
 * shares the machine with what it measures). */
static void add_escaped(struct evbuffer *dst, const char *src, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(dst, (ev_ssize_t)(6 * n + 1), &v, 1) < 1) abort();
    char *o = v.iov_base;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *o++ = (char)c;
        } else if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else {
            memcpy(o, "\\u00", 4);
            o[4] = hx[c >> 4];
            o[5] = hx[c & 15];
            o += 6;
        }
    }
    v.iov_len = (size_t)(o - (char *)v.iov_base);
    if (evbuffer_commit_space(dst, &v, 1) != 0) abort();
}

/* The value of query parameter `name` in q[0..n) ("a=1&b=2"), decoded,
 * into out (cap bytes): 1, or 0 when absent or too long. The fake's own
 * reader, instead of evhttp_parse_query_str's list of every parameter. */
static int query_param(const char *q, size_t n, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && q[e] != '&') e++;
        if (e - i > nl && memcmp(q + i, name, nl) == 0 && q[i + nl] == '=') {
            size_t vl = e - i - nl - 1;
            if (vl >= cap) return 0;
            memcpy(out, q + i + nl + 1, vl);
            out[vl] = '\0';
            size_t dl = 0;
            char *d = evhttp_uridecode(out, 1, &dl);
            if (!d) return 0;
            if (dl >= cap) dl = cap - 1;
            memcpy(out, d, dl);
            out[dl] = '\0';
            free(d);
            return 1;
        }
        i = e + 1;
    }
    return 0;
}

/* One operation: relative_url rel[0..n) ("<path>?<query>"), the
 * request's token top; its element appended to g_out, with the headers
 * its GET's answer has (only a Content-Type: no usage headers here) when
 * `headers`. */
static void batch_op(const char *rel, size_t n, const char *top, int headers)
{
    char url[1024], tok[1024];
    int code;
    g_batch_ops++;
    if (n >= sizeof url || memchr(rel, '\\', n)) {
        code = error_body(g_op, "bench: a relative_url this fake cannot read", 100, 0);
    } else {
        memcpy(url, rel, n);
        url[n] = '\0';
        char *q = strchr(url, '?');
        if (q) *q++ = '\0';
        int has = q && query_param(q, strlen(q), "access_token", tok, sizeof tok);
        code = answer(g_op, unversioned(url), has ? tok : top, 1);
    }
    size_t len = evbuffer_get_length(g_op);
    evbuffer_add_printf(g_out, "{\"code\":%d,", code);
    if (headers) {
        static const char h[] =
            "\"headers\":[{\"name\":\"Content-Type\",\"value\":\"application/json\"}],";
        evbuffer_add(g_out, h, sizeof h - 1);
    }
    evbuffer_add(g_out, "\"body\":\"", 8);
    add_escaped(g_out, (const char *)evbuffer_pullup(g_op, -1), len);
    evbuffer_add(g_out, "\"}", 2);
    evbuffer_drain(g_op, len);
}

static void batch(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t blen = evbuffer_get_length(in);
    char *body = malloc(blen + 1);
    if (!body) abort();
    evbuffer_copyout(in, body, blen);
    body[blen] = '\0';
    struct evkeyvalq kv;
    TAILQ_INIT(&kv);
    evhttp_parse_query_str(body, &kv);
    free(body);
    g_batches++;
    const char *top = evhttp_find_header(&kv, "access_token");
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!top && auth && strncmp(auth, "Bearer ", 7) == 0 && auth[7]) top = auth + 7;
    const char *b = evhttp_find_header(&kv, "batch");
    /* Meta's default is to include each operation's headers. */
    const char *ih = evhttp_find_header(&kv, "include_headers");
    int headers = !ih || strcmp(ih, "false") != 0;
    /* The relative_urls, in order: "relative_url":"..." as the plugin
     * writes them. */
    static const char key[] = "\"relative_url\":\"";
    const char *at[BATCH_MAX];
    size_t len[BATCH_MAX], n = 0;
    int ok = b && b[strspn(b, " \t\r\n")] == '[';
    for (const char *p = b; ok && (p = strstr(p, key)) != NULL;) {
        p += sizeof key - 1;
        const char *e = strchr(p, '"');
        if (!e || n == BATCH_MAX) {
            ok = 0;
            break;
        }
        at[n] = p;
        len[n++] = (size_t)(e - p);
        p = e + 1;
    }
    if (!top) {
        send_out(req, error_body(g_out, "An access token is required to request this resource.", 104, 0));
    } else if (!ok || n == 0) {
        send_out(req, error_body(g_out, "(#100) The batch parameter must be a JSON array of 1 to "
                                        "50 requests", 100, 0));
    } else {
        evbuffer_add(g_out, "[", 1);
        for (size_t i = 0; i < n; i++) {
            if (i) evbuffer_add(g_out, ",", 1);
            batch_op(at[i], len[i], top, headers);
        }
        evbuffer_add(g_out, "]", 1);
        send_out(req, 200);
    }
    evhttp_clear_headers(&kv);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u && evhttp_uri_get_path(u) ? evhttp_uri_get_path(u) : "/";
    if (strcmp(path, "/stats") == 0) {
        evbuffer_add_printf(g_out, "{\"calls\":%" PRIu64 ",\"leads\":%" PRIu64 ",\"errors\":%" PRIu64
                            ",\"batches\":%" PRIu64 ",\"batch_ops\":%" PRIu64 "}",
                            g_calls, g_leads, g_errors, g_batches, g_batch_ops);
        send_out(req, 200);
        return;
    }
    g_calls++;
    path = unversioned(path);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd == EVHTTP_REQ_POST && !*path) {
        batch(req);
        return;
    }
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    const char *tok = auth && strncmp(auth, "Bearer ", 7) == 0 ? auth + 7 : NULL;
    send_out(req, answer(g_out, path, tok, cmd == EVHTTP_REQ_GET));
}

int main(int argc, char **argv)
{
    int port = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) goto usage;
        if (strcmp(a, "--port") == 0) port = bench_port_arg(v);
        else if (strcmp(a, "--apps") == 0) g_apps = v;
        else if (strcmp(a, "--form") == 0) g_form = v;
        else goto usage;
        i++;
    }
    if (!all_digits(g_form, strlen(g_form)) || strlen(g_form) >= 10) goto usage;
    signal(SIGPIPE, SIG_IGN);
    bench_base = event_base_new();
    g_out = evbuffer_new();
    g_op = evbuffer_new();
    struct evhttp *http = evhttp_new(bench_base);
    evhttp_set_max_body_size(http, BODY_MAX);
    evhttp_set_gencb(http, on_request, NULL);
    bench_listen(http, port);
    event_base_dispatch(bench_base);
    evhttp_free(http);
    evbuffer_free(g_out);
    evbuffer_free(g_op);
    bench_close();
    event_base_free(bench_base);
    return 0;
usage:
    fprintf(stderr, "usage: c360-bench-lead-graph [--port N] [--apps ID,ID,..] [--form ID (under 10 digits)]\n");
    return 2;
}
