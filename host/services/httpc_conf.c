/* httpc_conf.c -- the outbound HTTP settings and each thread's curl
 * handles (see httpc.h, httpc_conf.h). */
#include "httpc_conf.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* --- settings ------------------------------------------------------------ */

static pthread_mutex_t g_conf_lock = PTHREAD_MUTEX_INITIALIZER;
static ch_httpc_conf *g_conf;
static uint64_t g_gen;
static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;

void ch_httpc_settings_default(ch_httpc_settings *s)
{
    memset(s, 0, sizeof *s);
    s->deny_private = 1;
    s->connect_timeout_ms = 10000;
    s->timeout_ms = 30000;
    s->max_response_bytes = 8u * 1024 * 1024;
    s->max_header_count = 100;
    s->max_header_bytes = 64 * 1024;
}

void ch_httpc_conf_release(ch_httpc_conf *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1) {
        free(c->ca_file);
        free(c);
    }
}

/* Builds a snapshot from settings; NULL with err set on a bad rule. */
static ch_httpc_conf *conf_build(const ch_httpc_settings *in, char *err, size_t errcap)
{
    ch_httpc_settings d;
    ch_httpc_settings_default(&d);
    const ch_httpc_settings *s = in ? in : &d;
    if (s->allow_count > CH_HTTPC_MAX_ALLOW) {
        if (err) snprintf(err, errcap, "at most %d allowlist rules", CH_HTTPC_MAX_ALLOW);
        return NULL;
    }
    ch_httpc_conf *c = ch_calloc(1, sizeof *c);
    atomic_init(&c->refs, 1);
    c->deny_private = s->deny_private;
    for (size_t i = 0; i < s->allow_count; i++) {
        if (ch_ssrf_rule_parse(s->allow[i], &c->allow[i]) < 0) {
            if (err) snprintf(err, errcap, "bad allowlist rule %zu (want ADDR[/PREFIX[:PORT]])", i);
            free(c);
            return NULL;
        }
    }
    c->allow_count = s->allow_count;
    c->connect_timeout_ms = s->connect_timeout_ms ? s->connect_timeout_ms : d.connect_timeout_ms;
    c->timeout_ms = s->timeout_ms ? s->timeout_ms : d.timeout_ms;
    c->max_response_bytes = s->max_response_bytes ? s->max_response_bytes : d.max_response_bytes;
    c->max_header_count = s->max_header_count ? s->max_header_count : d.max_header_count;
    c->max_header_bytes = s->max_header_bytes ? s->max_header_bytes : d.max_header_bytes;
    c->ca_file = s->ca_file ? ch_strdup(s->ca_file) : NULL;
    return c;
}

int32_t ch_httpc_configure(const ch_httpc_settings *s, char *err, size_t errcap)
{
    ch_httpc_conf *c = conf_build(s, err, errcap);
    if (!c) return C360_EINVAL;
    pthread_mutex_lock(&g_conf_lock);
    c->gen = ++g_gen;
    ch_httpc_conf *old = g_conf;
    g_conf = c;
    pthread_mutex_unlock(&g_conf_lock);
    ch_httpc_conf_release(old);
    return C360_OK;
}

ch_httpc_conf *ch_httpc_conf_acquire(void)
{
    pthread_mutex_lock(&g_conf_lock);
    if (!g_conf) {
        g_conf = conf_build(NULL, NULL, 0);
        g_conf->gen = ++g_gen;
    }
    ch_httpc_conf *c = g_conf;
    atomic_fetch_add(&c->refs, 1);
    pthread_mutex_unlock(&g_conf_lock);
    return c;
}

/* --- per-thread handles --------------------------------------------------- */

typedef struct thandles {
    CURL *provider;
    CURL *customer;
    uint64_t customer_gen; /* settings generation the customer handle's
                              pooled connections were checked under */
} thandles;

static pthread_key_t g_tkey;
static pthread_once_t g_tkey_once = PTHREAD_ONCE_INIT;

static void thandles_destroy(void *p)
{
    thandles *t = p;
    if (!t) return;
    if (t->provider) curl_easy_cleanup(t->provider);
    if (t->customer) curl_easy_cleanup(t->customer);
    free(t);
}

static void make_tkey(void) { pthread_key_create(&g_tkey, thandles_destroy); }
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

void ch_httpc_curl_init(void) { pthread_once(&g_curl_once, curl_init_once); }

static thandles *thread_handles(void)
{
    pthread_once(&g_tkey_once, make_tkey);
    thandles *t = pthread_getspecific(g_tkey);
    if (!t) {
        t = ch_calloc(1, sizeof *t);
        pthread_setspecific(g_tkey, t);
    }
    return t;
}

void ch_httpc_thread_close(void)
{
    pthread_once(&g_tkey_once, make_tkey);
    thandles *t = pthread_getspecific(g_tkey);
    if (!t) return;
    pthread_setspecific(g_tkey, NULL);
    thandles_destroy(t);
}

/* The handle for this request. A customer handle whose connections were
 * vetted under older settings is replaced: an allowlist entry removed since
 * must not stay reachable through a kept-alive connection. */
CURL *ch_httpc_handle(int customer, const ch_httpc_conf *c)
{
    pthread_once(&g_curl_once, curl_init_once);
    thandles *t = thread_handles();
    if (customer) {
        if (t->customer && t->customer_gen != c->gen) {
            curl_easy_cleanup(t->customer);
            t->customer = NULL;
        }
        if (!t->customer) {
            t->customer = curl_easy_init();
            t->customer_gen = c->gen;
        }
        return t->customer;
    }
    if (!t->provider) t->provider = curl_easy_init();
    return t->provider;
}
