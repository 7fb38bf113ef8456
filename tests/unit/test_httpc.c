/* test_httpc -- the outbound HTTP client (httpc.h) against real servers on
 * 127.0.0.1: the fake_http server (tests/fakes) and, for TLS verification,
 * `openssl s_server` with a throwaway self-signed certificate.
 *
 * Nothing here sends a packet off this machine: the SSRF cases that name
 * 169.254.169.254 are refused before a socket exists (asserted first with
 * the pure check, and by timing). */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../fakes/fake_client.h"
#include "call.h"
#include "check.h"
#include "httpc.h"
#include "ssrf.h"

static int g_port;
static char g_base[64];
/* A loopback port that is bound but not listening: connections to it are
 * refused for as long as the test runs (a fixed "unused" port such as 1
 * may be anybody's on a shared machine). */
static int g_closed_port;
static char g_closed[64];

static void hold_closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0) {
        perror("closed port");
        exit(1);
    }
    g_closed_port = ntohs(a.sin_port);
    snprintf(g_closed, sizeof g_closed, "127.0.0.1:%d", g_closed_port);
}

static const char *hget(const c360_http_response *r, const char *name)
{
    for (uint32_t i = 0; r && i < r->header_count; i++)
        if (strcmp(r->headers[i].name, name) == 0) return r->headers[i].value;
    return NULL;
}

/* One request; returns the status code, fills *out (caller frees). */
static int32_t req(const char *method, const char *url, const c360_header *h, uint32_t nh,
                   const char *body, uint32_t flags, uint32_t timeout_ms,
                   uint32_t max_bytes, c360_http_response **out, char *err, size_t errcap)
{
    c360_http_request r = {
        .struct_size = sizeof r, .header_count = nh, .method = method, .url = url,
        .headers = h, .body = (const uint8_t *)body, .body_len = body ? strlen(body) : 0,
        .timeout_ms = timeout_ms, .max_response_bytes = max_bytes, .flags = flags};
    return ch_httpc_request(&r, out, err, errcap);
}

static char *url(const char *path)
{
    static _Thread_local char buf[4][512]; /* test_threads calls it from 4 threads */
    static _Thread_local int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s%s", g_base, path);
    return buf[i];
}

static json_t *body_json(const c360_http_response *r)
{
    return r ? json_loadb((const char *)r->body, r->body_len, 0, NULL) : NULL;
}

static void test_roundtrip(void)
{
    char err[256];
    c360_http_response *r = NULL;
    c360_header h[] = {{"X-Test", "abc"}, {"Authorization", "Bearer sekret-token"},
                       {"X-Empty", ""}};
    CHECK(req("GET", url("/echo?q=1"), h, 3, NULL, 0, 0, 0, &r, err, sizeof err) == C360_OK);
    CHECK(r && r->status == 200);
    CHECK(r && r->struct_size == sizeof *r && r->elapsed_ms >= 0);
    CHECK_STR(hget(r, "x-fake"), "yes");
    CHECK_STR(hget(r, "x-mixed-case"), "Value"); /* names lowered, values kept */
    CHECK_STR(hget(r, "content-type"), "application/json");
    CHECK(r && r->body[r->body_len] == '\0');
    json_t *j = body_json(r);
    CHECK_STR(json_string_value(json_object_get(j, "method")), "GET");
    CHECK_STR(json_string_value(json_object_get(j, "query")), "q=1");
    json_t *jh = json_object_get(j, "headers");
    CHECK_STR(json_string_value(json_object_get(jh, "x-test")), "abc");
    CHECK_STR(json_string_value(json_object_get(jh, "authorization")), "Bearer sekret-token");
    CHECK_STR(json_string_value(json_object_get(jh, "x-empty")), "");
    CHECK(json_object_get(jh, "expect") == NULL);
    json_decref(j);
    ch_http_response_free(r);

    /* POST with body and content type; PUT / PATCH / DELETE keep their
     * method and body. */
    const char *methods[] = {"POST", "PUT", "PATCH", "DELETE"};
    for (int i = 0; i < 4; i++) {
        c360_header ct[] = {{"Content-Type", "application/json"}};
        r = NULL;
        CHECK(req(methods[i], url("/echo"), ct, 1, "{\"a\":1}", 0, 0, 0, &r, err, sizeof err) == C360_OK);
        j = body_json(r);
        CHECK_STR(json_string_value(json_object_get(j, "method")), methods[i]);
        CHECK_STR(json_string_value(json_object_get(j, "body")), "{\"a\":1}");
        CHECK_STR(json_string_value(json_object_get(json_object_get(j, "headers"), "content-type")),
                  "application/json");
        json_decref(j);
        ch_http_response_free(r);
    }

    /* A large body goes out at once (no "Expect: 100-continue" stall). */
    size_t big = 300 * 1024;
    char *bb = malloc(big + 1);
    memset(bb, 'b', big);
    bb[big] = '\0';
    int64_t t0 = ch_monotonic_ms();
    r = NULL;
    CHECK(req("POST", url("/echo"), NULL, 0, bb, 0, 0, 0, &r, err, sizeof err) == C360_OK);
    CHECK(ch_monotonic_ms() - t0 < 900);
    j = body_json(r);
    CHECK(json_integer_value(json_object_get(j, "body_len")) == (json_int_t)big);
    json_decref(j);
    ch_http_response_free(r);
    free(bb);

    /* HEAD: headers, no body. */
    r = NULL;
    CHECK(req("HEAD", url("/echo"), NULL, 0, NULL, 0, 0, 0, &r, err, sizeof err) == C360_OK);
    CHECK(r && r->status == 200 && r->body_len == 0);
    ch_http_response_free(r);
}

static void test_status_passthrough(void)
{
    char err[256];
    int codes[] = {404, 500, 503, 201};
    for (int i = 0; i < 4; i++) {
        char p[64];
        snprintf(p, sizeof p, "/status?code=%d", codes[i]);
        c360_http_response *r = NULL;
        CHECK(req("GET", url(p), NULL, 0, NULL, 0, 0, 0, &r, err, sizeof err) == C360_OK);
        CHECK(r && r->status == codes[i]);
        char want[32];
        snprintf(want, sizeof want, "status %d\n", codes[i]);
        CHECK(r && strcmp((const char *)r->body, want) == 0);
        ch_http_response_free(r);
    }
}

static void test_timeout(void)
{
    char err[256] = "";
    c360_http_response *r = (c360_http_response *)1;
    int64_t t0 = ch_monotonic_ms();
    CHECK(req("GET", url("/slow?ms=5000"), NULL, 0, NULL, 0, 300, 0, &r, err, sizeof err) == C360_ETIMEOUT);
    int64_t el = ch_monotonic_ms() - t0;
    CHECK(el >= 250 && el < 2000);
    CHECK(r == NULL);
    CHECK_CONTAINS(err, "timed out");
    /* A slow answer within the limit is fine. */
    r = NULL;
    CHECK(req("GET", url("/slow?ms=200"), NULL, 0, NULL, 0, 3000, 0, &r, err, sizeof err) == C360_OK);
    CHECK(r && r->status == 200);
    ch_http_response_free(r);
}

static void test_size_limits(void)
{
    char err[256];
    c360_http_response *r = NULL;
    /* Default 8 MiB: 9 MiB refused, declared (Content-Length) and chunked. */
    CHECK(req("GET", url("/huge?bytes=9437184"), NULL, 0, NULL, 0, 0, 0, &r, err, sizeof err) == C360_ETOOBIG);
    CHECK(r == NULL);
    CHECK(req("GET", url("/huge?bytes=9437184&chunked=1"), NULL, 0, NULL, 0, 0, 0, &r, err, sizeof err) == C360_ETOOBIG);
    CHECK(r == NULL);
    /* Exactly at a per-request limit passes; one byte more does not. */
    CHECK(req("GET", url("/huge?bytes=1000"), NULL, 0, NULL, 0, 0, 1000, &r, err, sizeof err) == C360_OK);
    CHECK(r && r->body_len == 1000 && r->body[0] == 'x' && r->body[1000] == '\0');
    ch_http_response_free(r);
    r = NULL;
    CHECK(req("GET", url("/huge?bytes=1001&chunked=1"), NULL, 0, NULL, 0, 0, 1000, &r, err, sizeof err) == C360_ETOOBIG);
    CHECK(req("GET", url("/huge?bytes=1001"), NULL, 0, NULL, 0, 0, 1000, &r, err, sizeof err) == C360_ETOOBIG);
    /* A request cannot raise the operator's limit, only lower it. */
    ch_httpc_settings s;
    ch_httpc_settings_default(&s);
    s.max_response_bytes = 4096;
    CHECK(ch_httpc_configure(&s, err, sizeof err) == C360_OK);
    CHECK(req("GET", url("/huge?bytes=5000&chunked=1"), NULL, 0, NULL, 0, 0, 1u << 30, &r, err, sizeof err) == C360_ETOOBIG);
    CHECK(req("GET", url("/huge?bytes=4096"), NULL, 0, NULL, 0, 0, 1u << 30, &r, err, sizeof err) == C360_OK);
    ch_http_response_free(r);
    r = NULL;
    CHECK(ch_httpc_configure(NULL, err, sizeof err) == C360_OK);
    /* 7 MiB under the default passes whole. */
    CHECK(req("GET", url("/huge?bytes=7340032&chunked=1"), NULL, 0, NULL, 0, 0, 0, &r, err, sizeof err) == C360_OK);
    CHECK(r && r->body_len == 7340032);
    ch_http_response_free(r);
    r = NULL;
    /* Header count bound (default 100). */
    CHECK(req("GET", url("/headers?n=50"), NULL, 0, NULL, 0, 0, 0, &r, err, sizeof err) == C360_OK);
    CHECK(r && r->header_count >= 50);
    CHECK_STR(hget(r, "x-h49"), "v");
    ch_http_response_free(r);
    r = NULL;
    CHECK(req("GET", url("/headers?n=150"), NULL, 0, NULL, 0, 0, 0, &r, err, sizeof err) == C360_ETOOBIG);
    CHECK(r == NULL);
}

static void test_redirects(void)
{
    char err[256];
    c360_http_response *r = NULL;
    CHECK(req("GET", url("/redirect?to=/echo"), NULL, 0, NULL, 0, 0, 0, &r, err, sizeof err) == C360_OK);
    CHECK(r && r->status == 302);
    CHECK_STR(hget(r, "location"), "/echo");
    ch_http_response_free(r);
    r = NULL;
    CHECK(req("GET", url("/redirect?to=/echo"), NULL, 0, NULL, C360_HTTP_FOLLOW_REDIRECTS, 0, 0,
              &r, err, sizeof err) == C360_OK);
    CHECK(r && r->status == 200);
    CHECK(hget(r, "location") == NULL); /* headers of the last response only */
    json_t *j = body_json(r);
    CHECK_STR(json_string_value(json_object_get(j, "path")), "/echo");
    json_decref(j);
    ch_http_response_free(r);
    r = NULL;
    /* A loop stops after 5 hops. */
    CHECK(req("GET", url("/redirect?loop=1"), NULL, 0, NULL, C360_HTTP_FOLLOW_REDIRECTS, 0, 0,
              &r, err, sizeof err) == C360_EIO);
    CHECK_CONTAINS(err, "redirect");
    /* Only http and https, also after a redirect. */
    CHECK(req("GET", url("/redirect?to=file:///etc/passwd"), NULL, 0, NULL,
              C360_HTTP_FOLLOW_REDIRECTS, 0, 0, &r, err, sizeof err) == C360_EDENIED);
    CHECK(r == NULL);
}

static void test_bad_input(void)
{
    char err[256];
    c360_http_response *r = NULL;
    CHECK(req("GET", "ftp://127.0.0.1/", NULL, 0, NULL, 0, 0, 0, &r, err, sizeof err) == C360_EINVAL);
    CHECK(req("GET", "file:///etc/passwd", NULL, 0, NULL, 0, 0, 0, &r, err, sizeof err) == C360_EINVAL);
    CHECK(req("GET", "not a url", NULL, 0, NULL, 0, 0, 0, &r, err, sizeof err) == C360_EINVAL);
    CHECK(req("get", url("/echo"), NULL, 0, NULL, 0, 0, 0, &r, err, sizeof err) == C360_EINVAL);
    CHECK(req("GE T", url("/echo"), NULL, 0, NULL, 0, 0, 0, &r, err, sizeof err) == C360_EINVAL);
    CHECK(req(NULL, url("/echo"), NULL, 0, NULL, 0, 0, 0, &r, err, sizeof err) == C360_EINVAL);
    CHECK(req("GET", NULL, NULL, 0, NULL, 0, 0, 0, &r, err, sizeof err) == C360_EINVAL);
    c360_header inj[] = {{"X-A", "ok\r\nX-Injected: 1"}};
    CHECK(req("GET", url("/echo"), inj, 1, NULL, 0, 0, 0, &r, err, sizeof err) == C360_EINVAL);
    c360_header badname[] = {{"X A", "v"}};
    CHECK(req("GET", url("/echo"), badname, 1, NULL, 0, 0, 0, &r, err, sizeof err) == C360_EINVAL);
    CHECK(req("GET", url("/echo"), NULL, 5, NULL, 0, 0, 0, &r, err, sizeof err) == C360_EINVAL);
    CHECK(ch_httpc_request(NULL, &r, err, sizeof err) == C360_EINVAL);
    c360_http_request tiny = {.struct_size = 4};
    CHECK(ch_httpc_request(&tiny, &r, err, sizeof err) == C360_EINVAL);
    CHECK(r == NULL);
    /* An old caller's smaller struct: the missing fields are defaults. */
    c360_http_request old = {.struct_size = offsetof(c360_http_request, timeout_ms),
                             .method = "GET", .url = url("/echo")};
    CHECK(ch_httpc_request(&old, &r, err, sizeof err) == C360_OK);
    CHECK(r && r->status == 200);
    ch_http_response_free(r);
    r = NULL;
    /* A connection refused is EIO, and its message holds neither path nor
     * query (tokens travel there). */
    char u[256];
    snprintf(u, sizeof u, "http://%s/secret-path?access_token=SEKRET", g_closed);
    CHECK(req("GET", u, NULL, 0, NULL, 0, 0, 0, &r, err, sizeof err) == C360_EIO);
    CHECK(strstr(err, "SEKRET") == NULL && strstr(err, "secret-path") == NULL);
    CHECK_CONTAINS(err, "127.0.0.1");
}

static void test_ssrf(void)
{
    char err[256];
    c360_http_response *r = NULL;
    long before = fake_stat(g_port, "requests");

    /* Defaults deny private destinations of customer URLs. */
    CHECK(ch_httpc_configure(NULL, err, sizeof err) == C360_OK);
    CHECK(req("GET", url("/echo"), NULL, 0, NULL, C360_HTTP_CUSTOMER_URL, 0, 0, &r, err, sizeof err) == C360_EDENIED);
    CHECK_CONTAINS(err, "loopback");
    CHECK(r == NULL);
    char lh[128];
    snprintf(lh, sizeof lh, "http://localhost:%d/echo", g_port);
    CHECK(req("GET", lh, NULL, 0, NULL, C360_HTTP_CUSTOMER_URL, 0, 0, &r, err, sizeof err) == C360_EDENIED);
    CHECK_CONTAINS(err, "loopback"); /* the name was resolved, the address refused */
    snprintf(lh, sizeof lh, "http://[::ffff:127.0.0.1]:%d/echo", g_port);
    CHECK(req("GET", lh, NULL, 0, NULL, C360_HTTP_CUSTOMER_URL, 0, 0, &r, err, sizeof err) == C360_EDENIED);
    /* None of those reached the server. */
    CHECK(fake_stat(g_port, "requests") == before + 1); /* +1: the /stats call itself */

    /* The metadata service: refused before any socket exists. Guarded by
     * the pure check first so that a broken policy fails here instead of
     * sending a packet to that address. */
    struct sockaddr_in md = {.sin_family = AF_INET, .sin_port = htons(80)};
    inet_pton(AF_INET, "169.254.169.254", &md.sin_addr);
    int pure_denies = ch_ssrf_check(1, NULL, 0, (struct sockaddr *)&md, sizeof md, NULL, 0) == C360_EDENIED;
    CHECK(pure_denies);
    if (pure_denies) {
        int64_t t0 = ch_monotonic_ms();
        CHECK(req("GET", "http://169.254.169.254/latest/meta-data/", NULL, 0, NULL,
                  C360_HTTP_CUSTOMER_URL, 0, 0, &r, err, sizeof err) == C360_EDENIED);
        CHECK(ch_monotonic_ms() - t0 < 200);
        CHECK_CONTAINS(err, "169.254.169.254:80 is link-local");
        CHECK(strstr(err, "meta-data") == NULL);
    }

    /* Provider URLs (no flag) may use loopback: fakes in tests. */
    CHECK(req("GET", url("/echo"), NULL, 0, NULL, 0, 0, 0, &r, err, sizeof err) == C360_OK);
    ch_http_response_free(r);
    r = NULL;

    /* Allowlisted: this port on 127.0.0.1 only. */
    char rule[64];
    snprintf(rule, sizeof rule, "127.0.0.1/32:%d", g_port);
    const char *allow[] = {rule};
    ch_httpc_settings s;
    ch_httpc_settings_default(&s);
    s.allow = allow;
    s.allow_count = 1;
    CHECK(ch_httpc_configure(&s, err, sizeof err) == C360_OK);
    CHECK(req("GET", url("/echo"), NULL, 0, NULL, C360_HTTP_CUSTOMER_URL, 0, 0, &r, err, sizeof err) == C360_OK);
    CHECK(r && r->status == 200);
    ch_http_response_free(r);
    r = NULL;
    snprintf(lh, sizeof lh, "http://localhost:%d/echo", g_port);
    CHECK(req("GET", lh, NULL, 0, NULL, C360_HTTP_CUSTOMER_URL, 0, 0, &r, err, sizeof err) == C360_OK);
    ch_http_response_free(r);
    r = NULL;
    /* Another port of the same address is not on the list... */
    char other[128];
    snprintf(other, sizeof other, "http://%s/", g_closed);
    CHECK(req("GET", other, NULL, 0, NULL, C360_HTTP_CUSTOMER_URL, 0, 0, &r, err, sizeof err) == C360_EDENIED);
    /* ...nor reachable through a redirect from an allowed one. */
    snprintf(other, sizeof other, "/redirect?to=http://%s/x", g_closed);
    CHECK(req("GET", url(other), NULL, 0, NULL,
              C360_HTTP_CUSTOMER_URL | C360_HTTP_FOLLOW_REDIRECTS, 0, 0, &r, err, sizeof err) == C360_EDENIED);
    char want[96];
    snprintf(want, sizeof want, "%s is loopback", g_closed);
    CHECK_CONTAINS(err, want);

    /* Taking the rule away closes the door at once, even though this
     * thread holds a kept-alive connection to that very server. */
    CHECK(ch_httpc_configure(NULL, err, sizeof err) == C360_OK);
    CHECK(req("GET", url("/echo"), NULL, 0, NULL, C360_HTTP_CUSTOMER_URL, 0, 0, &r, err, sizeof err) == C360_EDENIED);
    CHECK(r == NULL);

    /* deny_private off: everything goes (an operator's explicit choice). */
    ch_httpc_settings_default(&s);
    s.deny_private = 0;
    CHECK(ch_httpc_configure(&s, err, sizeof err) == C360_OK);
    CHECK(req("GET", url("/echo"), NULL, 0, NULL, C360_HTTP_CUSTOMER_URL, 0, 0, &r, err, sizeof err) == C360_OK);
    ch_http_response_free(r);
    r = NULL;

    /* Bad allowlist rules are refused and the old settings stay. */
    const char *bad[] = {"127.0.0.1/40"};
    s.allow = bad;
    s.allow_count = 1;
    CHECK(ch_httpc_configure(&s, err, sizeof err) == C360_EINVAL);
    CHECK_CONTAINS(err, "allowlist");
    CHECK(ch_httpc_configure(NULL, err, sizeof err) == C360_OK);
}

/* Provider requests honour the environment's proxy; customer requests
 * never use one (the SSRF check must see the real destination). */
static void test_proxy_env(void)
{
    char err[256];
    c360_http_response *r = NULL;
    char rule[64];
    snprintf(rule, sizeof rule, "127.0.0.1/32:%d", g_port);
    const char *allow[] = {rule};
    ch_httpc_settings s;
    ch_httpc_settings_default(&s);
    s.allow = allow;
    s.allow_count = 1;
    CHECK(ch_httpc_configure(&s, err, sizeof err) == C360_OK);
    ch_httpc_thread_close(); /* no kept-alive direct connection to reuse */
    char proxy[96];
    snprintf(proxy, sizeof proxy, "http://%s", g_closed);
    setenv("http_proxy", proxy, 1);
    CHECK(req("GET", url("/echo"), NULL, 0, NULL, 0, 0, 0, &r, err, sizeof err) == C360_EIO);
    CHECK(req("GET", url("/echo"), NULL, 0, NULL, C360_HTTP_CUSTOMER_URL, 0, 0, &r, err, sizeof err) == C360_OK);
    ch_http_response_free(r);
    r = NULL;
    unsetenv("http_proxy");
    CHECK(req("GET", url("/echo"), NULL, 0, NULL, 0, 0, 0, &r, err, sizeof err) == C360_OK);
    ch_http_response_free(r);
    CHECK(ch_httpc_configure(NULL, err, sizeof err) == C360_OK);
}

/* 1 when a socket listening on 127.0.0.1:port is one of pid's descriptors,
 * 0 when none is (yet), -1 when the listener belongs to another process.
 * A successful connect() proves nothing: tests run in parallel, and another
 * test's server may hold the port we drew while our s_server is still
 * starting (it then fails to bind and exits). Seen once in CI: the TLS
 * handshake went to someone else's server. */
static int listener_owned_by(int port, pid_t pid)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f) return 0;
    char line[512];
    unsigned long inode = 0;
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned addr, lport, st;
        unsigned long ino;
        /* "sl local rem st tx:rx tr:when retrnsmt uid timeout inode" */
        if (sscanf(line, " %*d: %8X:%4X %*8X:%*4X %2X %*8X:%*8X %*2X:%*8X %*8X %*u %*d %lu",
                   &addr, &lport, &st, &ino) != 4)
            continue;
        if ((int)lport == port && st == 0x0A && ino != 0) {
            inode = ino;
            found = 1;
            break;
        }
    }
    fclose(f);
    if (!found) return 0;
    char want[64], dirp[64];
    snprintf(want, sizeof want, "socket:[%lu]", inode);
    snprintf(dirp, sizeof dirp, "/proc/%ld/fd", (long)pid);
    DIR *d = opendir(dirp);
    if (!d) return 0;
    int owned = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char fp[320], target[64];
        snprintf(fp, sizeof fp, "%s/%s", dirp, e->d_name);
        ssize_t n = readlink(fp, target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = '\0';
        if (strcmp(target, want) == 0) { owned = 1; break; }
    }
    closedir(d);
    return owned;
}

/* TLS verification is on: a self-signed server is refused, and accepted
 * once its certificate is the configured CA bundle. */
static void test_tls(void)
{
    if (system("command -v openssl >/dev/null 2>&1") != 0) {
        printf("SKIP tls: no openssl command\n");
        return;
    }
    char dir[] = "/tmp/c360-tls-XXXXXX";
    if (!mkdtemp(dir)) { CHECK(0); return; }
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
             "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout %s/key.pem "
             "-out %s/cert.pem >/dev/null 2>&1", dir, dir);
    CHECK(system(cmd) == 0);
    int port = 0;
    pid_t pid = -1;
    srand((unsigned)getpid() ^ (unsigned)time(NULL));
    for (int attempt = 0; attempt < 10 && pid < 0; attempt++) {
        /* The C fixtures' range: below the ephemeral ports, apart from the
         * shell tests' (see redis_fixture.h). Loopback only. */
        port = 25000 + rand() % 7700;
        char ps[32], cert[300], key[300];
        snprintf(ps, sizeof ps, "127.0.0.1:%d", port);
        snprintf(cert, sizeof cert, "%s/cert.pem", dir);
        snprintf(key, sizeof key, "%s/key.pem", dir);
        pid = fork();
        if (pid == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            int dn = open("/dev/null", O_RDWR);
            dup2(dn, 0); dup2(dn, 1); dup2(dn, 2);
            execlp("openssl", "openssl", "s_server", "-accept", ps, "-cert", cert, "-key", key,
                   "-www", "-quiet", (char *)NULL);
            _exit(127);
        }
        int up = 0;
        for (int i = 0; i < 100 && !up; i++) {
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) break; /* port taken */
            int own = listener_owned_by(port, pid);
            if (own < 0) break; /* another test's server: draw another port */
            up = own == 1;
            if (!up) { struct timespec ts = {0, 50000000L}; nanosleep(&ts, NULL); }
        }
        if (!up) { kill(pid, SIGKILL); waitpid(pid, NULL, 0); pid = -1; }
    }
    CHECK(pid > 0);
    if (pid > 0) {
        char u[128], err[256];
        snprintf(u, sizeof u, "https://127.0.0.1:%d/", port);
        c360_http_response *r = NULL;
        CHECK(req("GET", u, NULL, 0, NULL, 0, 5000, 0, &r, err, sizeof err) == C360_EIO);
        CHECK_CONTAINS(err, "certificate");
        char cert[300];
        snprintf(cert, sizeof cert, "%s/cert.pem", dir);
        ch_httpc_settings s;
        ch_httpc_settings_default(&s);
        s.ca_file = cert;
        CHECK(ch_httpc_configure(&s, err, sizeof err) == C360_OK);
        CHECK(req("GET", u, NULL, 0, NULL, 0, 5000, 0, &r, err, sizeof err) == C360_OK);
        CHECK(r && r->status == 200);
        ch_http_response_free(r);
        CHECK(ch_httpc_configure(NULL, err, sizeof err) == C360_OK);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* Worker threads each use their own handle; thread exit frees it. */
static void *worker(void *arg)
{
    int *ok = arg;
    for (int i = 0; i < 25; i++) {
        char err[256];
        c360_http_response *r = NULL;
        if (req("GET", url("/echo"), NULL, 0, NULL, 0, 0, 0, &r, err, sizeof err) == C360_OK &&
            r->status == 200)
            (*ok)++;
        ch_http_response_free(r);
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t t[4];
    int ok[4] = {0};
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, worker, &ok[i]);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    CHECK(ok[0] + ok[1] + ok[2] + ok[3] == 100);
}

int main(void)
{
    fake_proc fp;
    fake_start(&fp, "fake_http", NULL);
    g_port = fp.port;
    hold_closed_port();
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", g_port);
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("https_proxy");
    unsetenv("all_proxy");
    unsetenv("ALL_PROXY");

    ch_httpc_metrics m0, m1;
    ch_httpc_metrics_get(&m0);

    test_roundtrip();        /* 11 calls: 1 + 4 + 1 + 1 (+ 4 in loop counted above) */
    test_status_passthrough();
    test_timeout();
    test_size_limits();
    test_redirects();
    test_bad_input();
    test_ssrf();
    test_proxy_env();
    test_threads();

    /* Metrics: every class of outcome above was counted. */
    ch_httpc_metrics_get(&m1);
    CHECK(m1.calls - m0.calls >= 60);
    CHECK(m1.status_class[2] - m0.status_class[2] >= 100 + 10);
    CHECK(m1.status_class[3] - m0.status_class[3] == 1);  /* the unfollowed 302 */
    CHECK(m1.status_class[4] - m0.status_class[4] == 1);  /* 404 */
    CHECK(m1.status_class[5] - m0.status_class[5] == 2);  /* 500, 503 */
    CHECK(m1.err_timeout - m0.err_timeout == 1);
    CHECK(m1.err_toobig - m0.err_toobig == 6);
    CHECK(m1.err_denied - m0.err_denied == 8);
    CHECK(m1.err_inval - m0.err_inval == 12);
    CHECK(m1.err_io - m0.err_io == 3);  /* redirect loop, port 1, proxy */
    uint64_t lat = 0;
    for (int i = 0; i < CH_HTTPC_LAT_BUCKETS; i++) lat += m1.lat_bucket[i] - m0.lat_bucket[i];
    CHECK(lat == (m1.calls - m0.calls) - (m1.err_inval - m0.err_inval));
    CHECK(m1.lat_bucket[CH_HTTPC_LAT_BUCKETS - 1] == m0.lat_bucket[CH_HTTPC_LAT_BUCKETS - 1]);
    json_t *mj = ch_httpc_metrics_json();
    CHECK(json_integer_value(json_object_get(mj, "calls")) == (json_int_t)m1.calls);
    json_t *bk = json_object_get(json_object_get(mj, "latency_ms"), "buckets");
    CHECK(json_array_size(bk) == CH_HTTPC_LAT_BUCKETS);
    CHECK(json_integer_value(json_object_get(json_array_get(bk, CH_HTTPC_LAT_BUCKETS - 1), "count")) ==
          (json_int_t)(m1.calls - m1.err_inval));
    json_decref(mj);

    test_tls();

    ch_httpc_thread_close();
    fake_stop(&fp);
    CHECK_DONE();
}
