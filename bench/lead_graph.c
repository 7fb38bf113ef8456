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
 *   GET /stats                  {"calls":..,"leads":..,"errors":..}
 * Anything else: Graph's error 100/33 with HTTP 400. */
#include <inttypes.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "bench_common.h"

static const char *g_apps = "1111";
static const char *g_form = "555";
static struct evbuffer *g_out;
static uint64_t g_calls, g_leads, g_errors;

static void send_json(struct evhttp_request *req, int code, const char *json, size_t len)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evbuffer_add(g_out, json, len);
    evhttp_send_reply(req, code, code == 200 ? "OK" : "Bad Request", g_out);
}

static void send_error(struct evhttp_request *req, const char *msg, int code, int sub)
{
    char b[512];
    int n = snprintf(b, sizeof b,
                     "{\"error\":{\"message\":\"%s\",\"type\":\"OAuthException\",\"code\":%d,"
                     "\"error_subcode\":%d,\"fbtrace_id\":\"bench\"}}", msg, code, sub);
    g_errors++;
    send_json(req, 400, b, (size_t)n);
}

static int all_digits(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

static void lead(struct evhttp_request *req, const char *id)
{
    /* Created a minute ago: younger than the poll's look-back, older
     * than nothing the plugin cares about. */
    char ts[32], b[1024];
    time_t t = time(NULL) - 60;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S+0000", &tm);
    int n = snprintf(b, sizeof b,
        "{\"id\":\"%s\",\"created_time\":\"%s\",\"ad_id\":\"31\",\"ad_name\":\"Ad 31\","
        "\"adset_id\":\"21\",\"adset_name\":\"Set 21\",\"campaign_id\":\"41\","
        "\"campaign_name\":\"Spring\",\"form_id\":\"%s\",\"is_organic\":false,\"platform\":\"fb\","
        "\"field_data\":[{\"name\":\"email\",\"values\":[\"lead%s@example.com\"]},"
        "{\"name\":\"full_name\",\"values\":[\"Lead %s\"]},"
        "{\"name\":\"budget\",\"values\":[\"10k-50k\"]}],"
        "\"custom_disclaimer_responses\":[{\"checkbox_key\":\"optin\",\"is_checked\":\"1\"}]}",
        id, ts, g_form, id, id);
    g_leads++;
    send_json(req, 200, b, (size_t)n);
}

static void subscribed_apps(struct evhttp_request *req)
{
    evbuffer_add_printf(g_out, "{\"data\":[");
    const char *p = g_apps;
    for (int first = 1; *p; first = 0) {
        size_t n = strcspn(p, ",");
        evbuffer_add_printf(g_out, "%s{\"id\":\"%.*s\",\"name\":\"Connector 360\","
                            "\"subscribed_fields\":[\"leadgen\",\"feed\"]}",
                            first ? "" : ",", (int)n, p);
        p += n;
        if (*p == ',') p++;
    }
    send_json(req, 200, "]}", 2);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u && evhttp_uri_get_path(u) ? evhttp_uri_get_path(u) : "/";
    if (strcmp(path, "/stats") == 0) {
        char b[256];
        int n = snprintf(b, sizeof b, "{\"calls\":%" PRIu64 ",\"leads\":%" PRIu64 ",\"errors\":%" PRIu64 "}",
                         g_calls, g_leads, g_errors);
        send_json(req, 200, b, (size_t)n);
        return;
    }
    g_calls++;
    if (path[0] == '/') path++;
    if (path[0] == 'v' && strchr(path, '/')) path = strchr(path, '/') + 1; /* /v25.0/ */
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!auth || strncmp(auth, "Bearer ", 7) != 0 || !auth[7]) {
        send_error(req, "An access token is required to request this resource.", 104, 0);
        return;
    }
    const char *tok = auth + 7;
    size_t n1 = strcspn(path, "/");
    const char *seg2 = path[n1] == '/' ? path + n1 + 1 : "";
    int get = evhttp_request_get_command(req) == EVHTTP_REQ_GET;
    if (get && n1 == 2 && strncmp(path, "me", 2) == 0 && !*seg2) {
        if (strncmp(tok, "PT-", 3) != 0) {
            send_error(req, "bench: only page tokens PT-<page> are known", 190, 0);
            return;
        }
        char b[128];
        int n = snprintf(b, sizeof b, "{\"id\":\"%.40s\",\"name\":\"A page\"}", tok + 3);
        send_json(req, 200, b, (size_t)n);
    } else if (all_digits(path, n1) && strcmp(seg2, "subscribed_apps") == 0 && get) {
        subscribed_apps(req);
    } else if (all_digits(path, n1) && strcmp(seg2, "leadgen_forms") == 0 && get) {
        send_json(req, 200, "{\"data\":[]}", 11);
    } else if (get && !*seg2 && strcmp(path, g_form) == 0) {
        char b[512];
        int n = snprintf(b, sizeof b,
            "{\"id\":\"%s\",\"name\":\"Bench form\",\"questions\":[{\"key\":\"email\",\"label\":\"Email\"},"
            "{\"key\":\"budget\",\"label\":\"What is your budget?\"}],\"legal_content\":{"
            "\"custom_disclaimer\":{\"checkboxes\":[{\"key\":\"optin\",\"text\":\"Send me offers\"}]}}}",
            g_form);
        send_json(req, 200, b, (size_t)n);
    } else if (get && !*seg2 && n1 >= 10 && n1 <= 40 && all_digits(path, n1)) {
        lead(req, path);
    } else {
        send_error(req, "Unsupported get request. Object does not exist, cannot be loaded due to "
                        "missing permissions, or does not support this operation.", 100, 33);
    }
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
    struct evhttp *http = evhttp_new(bench_base);
    evhttp_set_gencb(http, on_request, NULL);
    bench_listen(http, port);
    event_base_dispatch(bench_base);
    evhttp_free(http);
    evbuffer_free(g_out);
    bench_close();
    event_base_free(bench_base);
    return 0;
usage:
    fprintf(stderr, "usage: c360-bench-lead-graph [--port N] [--apps ID,ID,..] [--form ID (under 10 digits)]\n");
    return 2;
}
