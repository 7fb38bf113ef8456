/* http_tls.h -- HTTPS for the listener: an OpenSSL context from a
 * certificate chain and key, and the bufferevent factory evhttp uses for
 * each accepted connection (libevent's OpenSSL bufferevents). Internal to
 * http.c. */
#ifndef CH_HTTP_TLS_H
#define CH_HTTP_TLS_H

#include <stddef.h>

struct bufferevent;
struct event_base;

typedef struct ch_tls ch_tls;

/* Loads cert (PEM chain) and key (PEM); TLS 1.2 or newer. NULL with a
 * reason in err. */
ch_tls *ch_tls_new(const char *cert_file, const char *key_file, char *err, size_t errcap);
/* A server-side TLS bufferevent for one accepted connection (evhttp sets
 * its socket), or NULL when no SSL object can be made. */
struct bufferevent *ch_tls_bev(ch_tls *t, struct event_base *base);
void ch_tls_free(ch_tls *t);

#endif
