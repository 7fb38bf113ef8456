/* http_tls.c -- see http_tls.h. */
#include <stdio.h>
#include <stdlib.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "http_tls.h"
#include "util.h"

struct ch_tls {
    SSL_CTX *ctx;
};

static void ssl_reason(char *err, size_t cap, const char *what, const char *file)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "unknown error";
    if (e) ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    snprintf(err, cap, "%s %s: %s", what, file, buf);
}

ch_tls *ch_tls_new(const char *cert_file, const char *key_file, char *err, size_t errcap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, errcap, "cannot create a TLS context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* Renegotiation and compression buy nothing here and have a history. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        ssl_reason(err, errcap, "cannot load the certificate", cert_file);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        ssl_reason(err, errcap, "cannot load the private key", key_file);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ssl_reason(err, errcap, "the private key does not match the certificate", key_file);
        SSL_CTX_free(ctx);
        return NULL;
    }
    ch_tls *t = ch_calloc(1, sizeof *t);
    t->ctx = ctx;
    return t;
}

struct bufferevent *ch_tls_bev(ch_tls *t, struct event_base *base)
{
    SSL *ssl = SSL_new(t->ctx);
    if (!ssl) return NULL;
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) SSL_free(ssl);
    return bev;
}

void ch_tls_free(ch_tls *t)
{
    if (!t) return;
    SSL_CTX_free(t->ctx);
    free(t);
}
