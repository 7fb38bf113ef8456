/* httpc_xfer.h -- private to the httpc module: what one transfer collects
 * through curl's callbacks, and the response block built from it. */
#ifndef CH_HTTPC_XFER_H
#define CH_HTTPC_XFER_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "connector_api.h"
#include "httpc_conf.h"

/* A growable buffer that wipes what it frees (bodies carry tokens). */
typedef struct ch_httpc_buf {
    char *p;
    size_t len, cap;
} ch_httpc_buf;

void ch_httpc_buf_wipe(ch_httpc_buf *b);

typedef struct ch_httpc_xfer {
    const ch_httpc_conf *conf;
    size_t max_body;
    ch_httpc_buf body;
    ch_httpc_buf hdrs;  /* "name\0value\0" pairs of the last response */
    uint32_t hdr_count;
    int too_big;        /* body or headers over their limit */
    int denied;         /* the SSRF hook refused at least one address */
    char deny_why[160];
} ch_httpc_xfer;

/* 1 for an RFC 9110 token character (header names, methods). */
int ch_httpc_tchar(unsigned char c);

/* CURLOPT_WRITEFUNCTION / HEADERFUNCTION / OPENSOCKETFUNCTION; ud is the
 * ch_httpc_xfer. Returning short (0) aborts the transfer when a bound is
 * hit (too_big is set). */
size_t ch_httpc_on_body(char *ptr, size_t size, size_t nmemb, void *ud);
size_t ch_httpc_on_header(char *ptr, size_t size, size_t nmemb, void *ud);
curl_socket_t ch_httpc_on_opensocket(void *ud, curlsocktype purpose, struct curl_sockaddr *a);

/* One allocation: struct, header array, header strings, body + NUL. */
c360_http_response *ch_httpc_build_response(ch_httpc_xfer *x, long status, int64_t elapsed);

#endif
