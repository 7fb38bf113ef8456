/* httpc_xfer.c -- one transfer's callbacks: body and header collection
 * with their bounds, the SSRF open-socket hook, and the response block
 * (see httpc_xfer.h). */
#include "httpc_xfer.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "ssrf.h"
#include "util.h"

void ch_httpc_buf_wipe(ch_httpc_buf *b)
{
    if (b->p) {
        sodium_memzero(b->p, b->cap);
        free(b->p);
    }
    b->p = NULL;
    b->len = b->cap = 0;
}

/* Appends n bytes; -1 if the result would exceed max. */
static int buf_add(ch_httpc_buf *b, const void *d, size_t n, size_t max)
{
    if (n > max || b->len > max - n) return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        /* Not realloc: bodies carry tokens (OAuth responses), and realloc
         * would leave the old copy in freed memory. */
        char *np = ch_malloc(cap);
        size_t len = b->len;
        if (len) memcpy(np, b->p, len);
        ch_httpc_buf_wipe(b);
        b->p = np;
        b->len = len;
        b->cap = cap;
    }
    memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

size_t ch_httpc_on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    ch_httpc_xfer *x = ud;
    size_t n = size * nmemb;
    if (buf_add(&x->body, ptr, n, x->max_body) < 0) {
        x->too_big = 1;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    return n;
}

int ch_httpc_tchar(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* curl hands over every header line of every response (redirects, 100
 * Continue), the status line first: keep only the last response's. */
size_t ch_httpc_on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    ch_httpc_xfer *x = ud;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        x->hdrs.len = 0;
        x->hdr_count = 0;
        return n;
    }
    size_t end = n;
    while (end > 0 && (ptr[end - 1] == '\r' || ptr[end - 1] == '\n')) end--;
    if (end == 0) return n; /* the blank line ending the block */
    const char *colon = memchr(ptr, ':', end);
    if (!colon || colon == ptr) return n; /* not a header (or obsolete folding): drop */
    size_t nlen = (size_t)(colon - ptr);
    for (size_t i = 0; i < nlen; i++)
        if (!ch_httpc_tchar((unsigned char)ptr[i])) return n;
    const char *v = colon + 1;
    const char *vend = ptr + end;
    while (v < vend && (*v == ' ' || *v == '\t')) v++;
    while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t')) vend--;
    if (memchr(v, '\0', (size_t)(vend - v))) return n; /* cannot be a C string */
    if (x->hdr_count >= x->conf->max_header_count) {
        x->too_big = 1;
        return 0;
    }
    char lower[256];
    if (nlen >= sizeof lower) {
        x->too_big = 1;
        return 0;
    }
    for (size_t i = 0; i < nlen; i++) lower[i] = (char)tolower((unsigned char)ptr[i]);
    lower[nlen] = '\0';
    size_t max = x->conf->max_header_bytes;
    if (buf_add(&x->hdrs, lower, nlen + 1, max) < 0 ||
        buf_add(&x->hdrs, v, (size_t)(vend - v), max) < 0 ||
        buf_add(&x->hdrs, "", 1, max) < 0) {
        x->too_big = 1;
        return 0;
    }
    x->hdr_count++;
    return n;
}

/* Called by curl for every socket it is about to connect, after DNS: the
 * SSRF decision is made on the address itself. */
curl_socket_t ch_httpc_on_opensocket(void *ud, curlsocktype purpose,
                                   struct curl_sockaddr *a)
{
    ch_httpc_xfer *x = ud;
    (void)purpose;
    char why[sizeof x->deny_why];
    if (ch_ssrf_check(x->conf->deny_private, x->conf->allow, x->conf->allow_count,
                      &a->addr, a->addrlen, why, sizeof why) != C360_OK) {
        if (!x->denied) memcpy(x->deny_why, why, sizeof why);
        x->denied = 1;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* One allocation holding the struct, the header array, the header strings
 * and the body (+ NUL), so the plugin side can release it with free(). */
c360_http_response *ch_httpc_build_response(ch_httpc_xfer *x, long status, int64_t elapsed)
{
    size_t head = sizeof(c360_http_response);
    size_t harr = (size_t)x->hdr_count * sizeof(c360_header);
    size_t total = head + harr + x->hdrs.len + x->body.len + 1;
    char *blk = ch_malloc(total);
    c360_http_response *r = (c360_http_response *)blk;
    memset(r, 0, sizeof *r);
    r->struct_size = sizeof *r;
    r->status = (int32_t)status;
    r->header_count = x->hdr_count;
    r->elapsed_ms = elapsed;
    c360_header *h = (c360_header *)(blk + head);
    char *strs = blk + head + harr;
    if (x->hdrs.len) memcpy(strs, x->hdrs.p, x->hdrs.len);
    const char *p = strs;
    for (uint32_t i = 0; i < x->hdr_count; i++) {
        h[i].name = p;
        p += strlen(p) + 1;
        h[i].value = p;
        p += strlen(p) + 1;
    }
    r->headers = x->hdr_count ? h : NULL;
    uint8_t *body = (uint8_t *)strs + x->hdrs.len;
    if (x->body.len) memcpy(body, x->body.p, x->body.len);
    body[x->body.len] = '\0';
    r->body = body;
    r->body_len = x->body.len;
    return r;
}

void ch_http_response_free(c360_http_response *resp) { free(resp); }
