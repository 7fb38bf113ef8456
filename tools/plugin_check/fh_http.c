/* fh_http.c -- host->http without a network. The request is checked as
 * host/services/httpc.h checks it (struct_size, method, URL scheme and
 * host, headers) and recorded -- method, URL, header NAMES, body length;
 * never header values or the body, which carry tokens -- and the answer is
 * a canned response: status 200 (or --http-status N, to run the plugin's
 * error paths), content-type application/json, body "{}". The response is
 * one host-allocated block, released with host->http_free (fh_mem.h).
 *
 * No network on purpose: a checker run must not depend on, or hit, a
 * provider; what it checks is how the plugin uses the service. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "call.h"
#include "fh_internal.h"
#include "fh_mem.h"
#include "httpc.h"

#define FH_HTTP_BODY "{}"

/* Guarded by fh_lock. */
static int fh_status_code = 200;

void fh_set_http_status(int status)
{
    pthread_mutex_lock(&fh_lock);
    fh_status_code = status;
    pthread_mutex_unlock(&fh_lock);
}

int fh_http_url_ok(const char *url)
{
    if (url == NULL || strnlen(url, CH_HTTPC_MAX_URL + 1) > CH_HTTPC_MAX_URL)
        return 0;
    /* curl's parser, as the real client uses: no scheme guessing, so
     * "example.com/x" is refused as it is there. */
    CURLU *u = curl_url();
    if (u == NULL)
        fh_need(NULL);
    char *scheme = NULL, *host = NULL;
    int ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
             (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0);
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok;
}

/* 1..16 upper-case letters, as httpc.c accepts. */
static bool fh_method_ok(const char *m)
{
    if (m == NULL)
        return false;
    size_t n = strnlen(m, 17);
    if (n == 0 || n > 16)
        return false;
    for (size_t i = 0; i < n; i++)
        if (m[i] < 'A' || m[i] > 'Z')
            return false;
    return true;
}

/* An RFC 9110 token character (header names). */
static bool fh_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* NULL if every header is one the real client would send, else why not. */
static const char *fh_headers_problem(const c360_http_request *r)
{
    if (r->header_count > CH_HTTPC_MAX_REQ_HEADERS)
        return "too many request headers (max 100)";
    if (r->header_count != 0 && r->headers == NULL)
        return "header_count is set but headers is NULL";
    for (uint32_t i = 0; i < r->header_count; i++) {
        const char *nm = r->headers[i].name, *v = r->headers[i].value;
        if (nm == NULL || v == NULL)
            return "a header name or value is NULL";
        size_t nl = strnlen(nm, CH_HTTPC_MAX_HEADER_LINE + 1);
        size_t vl = strnlen(v, CH_HTTPC_MAX_HEADER_LINE + 1);
        if (nl == 0 || nl + vl + 2 > CH_HTTPC_MAX_HEADER_LINE)
            return "a header is empty or over 8 KiB";
        for (size_t k = 0; k < nl; k++)
            if (!fh_tchar((unsigned char)nm[k]))
                return "a header name has a character that is not an "
                       "RFC 9110 token character";
        if (memchr(v, '\r', vl) != NULL || memchr(v, '\n', vl) != NULL)
            return "a header value has CR or LF (header splitting)";
    }
    return NULL;
}

/* What the plugin asked, as far as its struct_size reaches. Header names
 * only when the headers themselves are sound enough to read. */
static void fh_request_args(json_t *e, const c360_http_request *r)
{
    fh_named_str(e, "method", r->method);
    fh_named_str(e, "url", r->url);
    json_t *names = fh_need(json_array());
    if (r->headers != NULL && r->header_count <= CH_HTTPC_MAX_REQ_HEADERS)
        for (uint32_t i = 0; i < r->header_count; i++)
            json_array_append_new(names, fh_json_text(r->headers[i].name));
    fh_named_new(e, "header_names", names);
    fh_named_int(e, "body_len", (json_int_t)r->body_len);
    if (r->flags != 0)
        fh_named_int(e, "flags", r->flags);
}

/* The canned response as one block, laid out as the real client's:
 * struct, header array, strings, body (NUL-terminated, not counted). */
static c360_http_response *fh_canned_locked(int status)
{
    static const char name[] = "content-type";
    static const char value[] = "application/json";
    size_t body_len = sizeof(FH_HTTP_BODY) - 1;
    size_t size = sizeof(c360_http_response) + sizeof(c360_header) +
                  sizeof(name) + sizeof(value) + body_len + 1;
    unsigned char *block = fh_mem_alloc_locked(FH_MEM_HTTP, size, "http");
    c360_http_response *resp = (c360_http_response *)(void *)block;
    c360_header *hdr = (c360_header *)(void *)(block + sizeof(*resp));
    char *strings = (char *)(hdr + 1);
    memcpy(strings, name, sizeof(name));
    memcpy(strings + sizeof(name), value, sizeof(value));
    char *body = strings + sizeof(name) + sizeof(value);
    memcpy(body, FH_HTTP_BODY, body_len + 1);
    hdr->name = strings;
    hdr->value = strings + sizeof(name);
    *resp = (c360_http_response){
        .struct_size = (uint32_t)sizeof(*resp),
        .status = status,
        .header_count = 1,
        .headers = hdr,
        .body = (const uint8_t *)body,
        .body_len = body_len,
        .elapsed_ms = 0,
    };
    return resp;
}

/* hostapi.c takes only a full ABI 1.1 request: every field of it means
 * something (timeouts, limits, flags), so a shorter one is refused rather
 * than half-read. */
static bool fh_request_sized(const c360_http_request *in)
{
    return in != NULL && in->struct_size >= sizeof(c360_http_request);
}

static int32_t fh_http_locked(json_t *e, c360_call *call,
                              const c360_http_request *r,
                              c360_http_response **resp)
{
    if (resp == NULL)
        return fh_invalid_locked(e, "http", "resp is required");
    *resp = NULL;
    int32_t st = fh_gate_locked(e, "http", call);
    if (st != C360_OK)
        return st;
    if (!fh_request_sized(r))
        return fh_invalid_locked(e, "http", "request is NULL or its "
                                 "struct_size is below ABI 1.1's");
    /* A request never outlives the callback's deadline (hostapi.c). */
    if (call->deadline_ms != 0 && call->deadline_ms <= ch_monotonic_ms()) {
        fh_detail(e, "the call's deadline has passed");
        return fh_status(e, C360_ETIMEOUT);
    }
    const char *why = NULL;
    if (!fh_method_ok(r->method))
        why = "invalid method (1..16 upper-case letters)";
    else if (r->body_len != 0 && r->body == NULL)
        why = "body_len is set but body is NULL";
    else if (!fh_http_url_ok(r->url))
        why = "URL is not a valid http:// or https:// URL";
    else
        why = fh_headers_problem(r);
    if (why != NULL) {
        fh_call_reason_locked(call, "%s", why);
        return fh_invalid_locked(e, "http", why);
    }
    *resp = fh_canned_locked(fh_status_code);
    fh_detail(e, "status %d, %zu bytes of body (canned: no network call)",
              fh_status_code, (*resp)->body_len);
    return fh_status(e, C360_OK);
}

int32_t fh_http(c360_call *call, const c360_http_request *req,
                c360_http_response **resp)
{
    pthread_mutex_lock(&fh_lock);
    json_t *e = fh_entry_named("http");
    if (fh_request_sized(req))
        fh_request_args(e, req);
    int32_t st = fh_http_locked(e, call, req, resp);
    fh_record_locked(e);
    pthread_mutex_unlock(&fh_lock);
    return st;
}
