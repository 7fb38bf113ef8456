/* httpc.c -- see httpc.h: request validation, the curl options of one
 * request, and how curl's outcome maps onto c360 status codes. Settings and
 * handles are httpc_conf.c, the transfer callbacks httpc_xfer.c, the
 * counters httpc_metrics.c. */
#include "httpc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <sodium.h>

#include "call.h"
#include "httpc_conf.h"
#include "httpc_metrics.h"
#include "httpc_xfer.h"
#include "util.h"

#define MAX_REDIRECTS 5

static int32_t fail(int32_t rc, char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int32_t fail(int32_t rc, char *err, size_t errcap, const char *fmt, ...)
{
    if (err && errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errcap, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int method_valid(const char *m)
{
    if (!m) return 0;
    size_t n = strnlen(m, 17);
    if (n == 0 || n > 16) return 0;
    for (size_t i = 0; i < n; i++)
        if (m[i] < 'A' || m[i] > 'Z') return 0;
    return 1;
}

/* Header lines carry credentials (Authorization): wipe before freeing. */
static void slist_wipe_free(struct curl_slist *l)
{
    for (struct curl_slist *p = l; p; p = p->next)
        if (p->data) sodium_memzero(p->data, strlen(p->data));
    curl_slist_free_all(l);
}

/* Request headers become one slist; refuses anything that could split or
 * smuggle a header (CR, LF, NUL are impossible in C strings, but CR/LF
 * are not). */
static int32_t build_headers(const c360_http_request *req, struct curl_slist **out,
                             char *err, size_t errcap)
{
    struct curl_slist *l = NULL;
    int has_expect = 0;
    if (req->header_count > CH_HTTPC_MAX_REQ_HEADERS)
        return fail(C360_EINVAL, err, errcap, "too many request headers (max %d)",
                    CH_HTTPC_MAX_REQ_HEADERS);
    if (req->header_count && !req->headers)
        return fail(C360_EINVAL, err, errcap, "header_count set but headers is NULL");
    for (uint32_t i = 0; i < req->header_count; i++) {
        const char *nm = req->headers[i].name, *v = req->headers[i].value;
        if (!nm || !v) goto bad;
        size_t nl = strnlen(nm, CH_HTTPC_MAX_HEADER_LINE + 1);
        size_t vl = strnlen(v, CH_HTTPC_MAX_HEADER_LINE + 1);
        if (nl == 0 || nl + vl + 2 > CH_HTTPC_MAX_HEADER_LINE) goto bad;
        for (size_t k = 0; k < nl; k++)
            if (!ch_httpc_tchar((unsigned char)nm[k])) goto bad;
        for (size_t k = 0; k < vl; k++)
            if (v[k] == '\r' || v[k] == '\n') goto bad;
        if (strcasecmp(nm, "expect") == 0) has_expect = 1;
        /* "Name;" is curl's way to send a header with an empty value;
         * "Name:" would remove the header instead. */
        char *line = vl ? ch_asprintf("%s: %s", nm, v) : ch_asprintf("%s;", nm);
        struct curl_slist *nl2 = curl_slist_append(l, line);
        sodium_memzero(line, strlen(line)); /* may be an Authorization header */
        free(line);
        if (!nl2) abort(); /* out of memory: the host's policy */
        l = nl2;
        continue;
    bad:
        slist_wipe_free(l);
        return fail(C360_EINVAL, err, errcap, "request header %u is invalid", (unsigned)i);
    }
    /* Large bodies would otherwise wait a second for "100 Continue". */
    if (!has_expect) {
        struct curl_slist *nl2 = curl_slist_append(l, "Expect:");
        if (!nl2) abort();
        l = nl2;
    }
    *out = l;
    return C360_OK;
}

/* curl's error buffer names hosts and ports, which is useful; it must not
 * carry the URL's path, query or user info (tokens travel there). */
static void safe_detail(const char *errbuf, CURLU *u, char *out, size_t cap)
{
    snprintf(out, cap, "%s", errbuf);
    const CURLUPart parts[] = {CURLUPART_QUERY, CURLUPART_USER, CURLUPART_PASSWORD,
                               CURLUPART_PATH};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        char *s = NULL;
        if (curl_url_get(u, parts[i], &s, 0) == CURLUE_OK && s && strlen(s) > 1 && strstr(out, s))
            out[0] = '\0';
        curl_free(s);
    }
}

static int32_t map_curl(CURLcode cc, ch_httpc_xfer *x, const char *detail, const char *host,
                        char *err, size_t errcap)
{
    const char *what = curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        return fail(C360_ETIMEOUT, err, errcap, "timed out (host %s): %s", host, detail);
    case CURLE_FILESIZE_EXCEEDED:
        return fail(C360_ETOOBIG, err, errcap, "response body over %zu bytes (host %s)",
                    x->max_body, host);
    case CURLE_WRITE_ERROR:
        if (x->too_big)
            return fail(C360_ETOOBIG, err, errcap,
                        "response over the limit (body %zu bytes, %u headers, %u header bytes; host %s)",
                        x->max_body, (unsigned)x->conf->max_header_count,
                        (unsigned)x->conf->max_header_bytes, host);
        break;
    case CURLE_COULDNT_CONNECT:
        if (x->denied) return fail(C360_EDENIED, err, errcap, "%s", x->deny_why);
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
        return fail(C360_EDENIED, err, errcap, "redirect to a scheme other than http/https refused (host %s)", host);
    case CURLE_URL_MALFORMAT:
        return fail(C360_EINVAL, err, errcap, "malformed URL");
    case CURLE_OUT_OF_MEMORY:
        abort();
    default:
        break;
    }
    return fail(C360_EIO, err, errcap, "%s (host %s)%s%s", what, host,
                detail[0] ? ": " : "", detail);
}

/* Copies the caller's request, zero-filling what an older caller's struct
 * does not cover. */
static int32_t copy_request(const c360_http_request *in, c360_http_request *out)
{
    memset(out, 0, sizeof *out);
    if (!in || in->struct_size < offsetof(c360_http_request, url) + sizeof in->url)
        return C360_EINVAL;
    size_t n = in->struct_size < sizeof *out ? in->struct_size : sizeof *out;
    memcpy(out, in, n);
    return C360_OK;
}

static void set_method(CURL *h, const c360_http_request *r)
{
    int has_body = r->body_len > 0;
    if (strcmp(r->method, "GET") == 0 && !has_body) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        return;
    }
    if (strcmp(r->method, "HEAD") == 0 && !has_body) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
        return;
    }
    if (strcmp(r->method, "POST") != 0 || !has_body) {
        /* PUT, PATCH, DELETE, ... and a POST without body still send the
         * method itself; the body (if any) rides on POSTFIELDS. */
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }
    if (has_body || strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, has_body ? (const char *)r->body : "");
    }
}

int32_t ch_httpc_request(const c360_http_request *req_in,
                         c360_http_response **resp, char *err, size_t errcap)
{
    if (err && errcap) err[0] = '\0';
    if (!resp) return fail(C360_EINVAL, err, errcap, "resp is NULL");
    *resp = NULL;
    c360_http_request req;
    int32_t rc = copy_request(req_in, &req);
    if (rc != C360_OK) {
        ch_httpc_metrics_record(C360_EINVAL, 0, -1);
        return fail(rc, err, errcap, "request is NULL or its struct_size too small");
    }
    if (!method_valid(req.method)) {
        ch_httpc_metrics_record(C360_EINVAL, 0, -1);
        return fail(C360_EINVAL, err, errcap, "invalid method");
    }
    if (req.body_len && !req.body) {
        ch_httpc_metrics_record(C360_EINVAL, 0, -1);
        return fail(C360_EINVAL, err, errcap, "body_len set but body is NULL");
    }
    if (!req.url || strnlen(req.url, CH_HTTPC_MAX_URL + 1) > CH_HTTPC_MAX_URL) {
        ch_httpc_metrics_record(C360_EINVAL, 0, -1);
        return fail(C360_EINVAL, err, errcap, "URL missing or longer than %d bytes", CH_HTTPC_MAX_URL);
    }

    ch_httpc_curl_init();
    CURLU *u = curl_url();
    if (!u) abort();
    char *scheme = NULL, *host = NULL;
    if (curl_url_set(u, CURLUPART_URL, req.url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        curl_free(scheme);
        curl_free(host);
        curl_url_cleanup(u);
        ch_httpc_metrics_record(C360_EINVAL, 0, -1);
        return fail(C360_EINVAL, err, errcap, "URL is not a valid http:// or https:// URL");
    }
    curl_free(scheme);

    struct curl_slist *hl = NULL;
    rc = build_headers(&req, &hl, err, errcap);
    if (rc != C360_OK) {
        curl_free(host);
        curl_url_cleanup(u);
        ch_httpc_metrics_record(rc, 0, -1);
        return rc;
    }

    ch_httpc_conf *conf = ch_httpc_conf_acquire();
    int customer = (req.flags & C360_HTTP_CUSTOMER_URL) != 0;
    ch_httpc_xfer x = {.conf = conf};
    /* The operator's limit is a ceiling as well as the default: a plugin
     * may ask for less, never for more memory. */
    x.max_body = req.max_response_bytes && req.max_response_bytes < conf->max_response_bytes
                     ? req.max_response_bytes
                     : conf->max_response_bytes;
    char errbuf[CURL_ERROR_SIZE] = "";

    CURL *h = ch_httpc_handle(customer, conf);
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, req.url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM DNS timeouts */
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(req.connect_timeout_ms ? req.connect_timeout_ms : conf->connect_timeout_ms));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
                     (long)(req.timeout_ms ? req.timeout_ms : conf->timeout_ms));
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (conf->ca_file) curl_easy_setopt(h, CURLOPT_CAINFO, conf->ca_file);
    if (req.flags & C360_HTTP_FOLLOW_REDIRECTS) {
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)MAX_REDIRECTS);
    }
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x.max_body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ch_httpc_on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, ch_httpc_on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "c360/" C360_VERSION);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    if (customer) {
        curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, ch_httpc_on_opensocket);
        curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &x);
        curl_easy_setopt(h, CURLOPT_PROXY, ""); /* see httpc.h: no proxy */
    }
    set_method(h, &req);

    int64_t t0 = ch_monotonic_ms();
    CURLcode cc = curl_easy_perform(h);
    int64_t elapsed = ch_monotonic_ms() - t0;
    long status = 0;
    if (cc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        *resp = ch_httpc_build_response(&x, status, elapsed);
        rc = C360_OK;
    } else {
        char detail[CURL_ERROR_SIZE];
        safe_detail(errbuf, u, detail, sizeof detail);
        rc = map_curl(cc, &x, detail, host, err, errcap);
    }
    /* The handle keeps pointers to these until the next reset. */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
    slist_wipe_free(hl);
    ch_httpc_buf_wipe(&x.body);
    ch_httpc_buf_wipe(&x.hdrs);
    curl_free(host);
    curl_url_cleanup(u);
    ch_httpc_conf_release(conf);
    ch_httpc_metrics_record(rc, (int)status, elapsed);
    return rc;
}
