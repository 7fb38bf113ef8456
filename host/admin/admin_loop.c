/* admin_loop.c -- moving admin requests between the event loop and the
 * admin threads. The loop copies what a handler may read (headers, body)
 * while it still owns the request, defers the request, and queues a job;
 * a thread runs the dispatcher; the loop sends the answer. Only the loop
 * ever touches the evhttp request. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin_int.h"
#include "apikeys.h"
#include "connector_api.h"
#include "http.h"
#include "log.h"
#include "rconn.h"
#include "util.h"

struct ch_ajob {
    ch_ajob *next;
    ch_req *req;
    ch_actx x;
    char *method, *path, *query, *rid, *ip, *ctype, *ifmatch, *accept, *auth;
    uint8_t *body;
};

static char *dup_or_null(const char *s) { return s ? ch_strdup(s) : NULL; }

static void job_free(ch_ajob *j)
{
    ch_actx_clear(&j->x);
    free(j->method);
    free(j->path);
    free(j->query);
    free(j->rid);
    free(j->ip);
    free(j->ctype);
    free(j->ifmatch);
    free(j->accept);
    if (j->auth) {
        /* the key text: do not leave it in freed memory */
        memset(j->auth, 0, strlen(j->auth));
        free(j->auth);
    }
    if (j->body) {
        /* bodies carry secrets (PUT .../secrets/{name}) */
        memset(j->body, 0, j->x.body_len);
        free(j->body);
    }
    free(j);
}

static void send_answer(ch_ajob *j)
{
    ch_req *r = j->req;
    ch_actx *x = &j->x;
    if (ch_req_gone(r)) {
        ch_req_drop(r);
        return;
    }
    for (size_t i = 0; i < x->nheaders; i++) ch_req_add_header(r, x->hname[i], x->hval[i]);
    int head = strcmp(ch_req_method(r), "HEAD") == 0;
    if (x->raw) {
        ch_req_reply(r, x->status, x->raw_type, x->raw, head ? 0 : x->raw_len);
    } else if (x->resp && !head) {
        ch_req_json(r, x->status, x->resp);
        x->resp = NULL; /* stolen */
    } else {
        ch_req_reply(r, x->status, "application/json", "", 0);
    }
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ch_admin *a = arg;
    pthread_mutex_lock(&a->mu);
    ch_ajob *j = a->done_head;
    a->done_head = a->done_tail = NULL;
    pthread_mutex_unlock(&a->mu);
    while (j) {
        ch_ajob *next = j->next;
        send_answer(j);
        job_free(j);
        j = next;
    }
}

/* The first start: make the operator key once Redis answers. The log
 * names the file, never the key. */
static void bootstrap(ch_admin *a)
{
    for (int attempt = 0;; attempt++) {
        int created = 0;
        int32_t st = ch_apikey_bootstrap(a->operator_key_file, &created);
        if (st == C360_OK) {
            if (created)
                ch_log(CH_LOG_WARN, "operator key written: read it, store it safely, delete the file",
                       "file", a->operator_key_file, NULL);
            return;
        }
        if (attempt == 0)
            ch_log(CH_LOG_WARN, "cannot check or create the first operator key yet; retrying",
                   "file", a->operator_key_file, "status", c360_strstatus(st), NULL);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 2;
        pthread_mutex_lock(&a->mu);
        int stop = a->stopping;
        if (!stop) pthread_cond_timedwait(&a->cv, &a->mu, &ts);
        stop = a->stopping;
        pthread_mutex_unlock(&a->mu);
        if (stop) return;
    }
}

static void *bootstrap_main(void *arg)
{
    bootstrap(arg);
    ch_rconn_thread_close();
    return NULL;
}

static void *thread_main(void *arg)
{
    ch_admin *a = arg;
    for (;;) {
        pthread_mutex_lock(&a->mu);
        while (!a->todo_head && !a->stopping) pthread_cond_wait(&a->cv, &a->mu);
        if (a->stopping) {
            pthread_mutex_unlock(&a->mu);
            break;
        }
        ch_ajob *j = a->todo_head;
        a->todo_head = j->next;
        if (!a->todo_head) a->todo_tail = NULL;
        a->todo_n--;
        pthread_mutex_unlock(&a->mu);

        j->next = NULL;
        ch_admin_dispatch(a, &j->x, j->auth);

        pthread_mutex_lock(&a->mu);
        if (a->done_tail) a->done_tail->next = j;
        else a->done_head = j;
        a->done_tail = j;
        pthread_mutex_unlock(&a->mu);
        event_active(a->done_ev, EV_READ, 1);
    }
    ch_rconn_thread_close();
    return NULL;
}

static void on_request(ch_req *r, void *arg)
{
    ch_admin *a = arg;
    pthread_mutex_lock(&a->mu);
    int full = a->todo_n >= a->set.queue_max || a->stopping;
    pthread_mutex_unlock(&a->mu);
    if (full) {
        ch_req_add_header(r, "Retry-After", "1");
        ch_req_error(r, 503, "busy", "the admin API is busy; retry shortly");
        return;
    }
    ch_ajob *j = ch_calloc(1, sizeof *j);
    j->method = ch_strdup(strcmp(ch_req_method(r), "HEAD") == 0 ? "GET" : ch_req_method(r));
    j->path = ch_strdup(ch_req_path(r));
    j->query = ch_strdup(ch_req_query(r));
    j->rid = ch_strdup(ch_req_id(r));
    j->ip = ch_strdup(ch_req_peer(r));
    j->ctype = dup_or_null(ch_req_header(r, "Content-Type"));
    j->ifmatch = dup_or_null(ch_req_header(r, "If-Match"));
    j->accept = dup_or_null(ch_req_header(r, "Accept"));
    j->auth = dup_or_null(ch_req_header(r, "Authorization"));
    size_t len = 0;
    const uint8_t *b = ch_req_body(r, &len);
    j->body = ch_malloc(len + 1);
    if (len) memcpy(j->body, b, len);
    j->body[len] = '\0';
    j->x.method = j->method;
    j->x.path = j->path;
    j->x.query = j->query;
    j->x.request_id = j->rid;
    j->x.remote_ip = j->ip;
    j->x.content_type = j->ctype;
    j->x.if_match = j->ifmatch;
    j->x.accept = j->accept;
    j->x.body = j->body;
    j->x.body_len = len;
    j->req = ch_req_defer(r);

    pthread_mutex_lock(&a->mu);
    if (a->todo_tail) a->todo_tail->next = j;
    else a->todo_head = j;
    a->todo_tail = j;
    a->todo_n++;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

int ch_admin_attach(ch_admin *a, struct event_base *base, struct ch_http *h)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
    a->done_ev = event_new(base, -1, 0, on_done, a);
    if (!a->done_ev) return -1;
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++)
        ch_http_route(h, methods[i], "/v1/*", on_request, a);
    ch_http_route(h, "GET", "/oauth/callback", on_request, a);
    if (a->operator_key_file) {
        if (pthread_create(&a->boot, NULL, bootstrap_main, a) != 0) return -1;
        a->boot_started = 1;
    }
    for (unsigned i = 0; i < a->set.threads; i++) {
        if (pthread_create(&a->thr[i], NULL, thread_main, a) != 0) {
            ch_log(CH_LOG_ERROR, "cannot start an admin thread", NULL);
            return -1;
        }
        a->nthr++;
    }
    return 0;
}

void ch_admin_free(ch_admin *a)
{
    if (!a) return;
    pthread_mutex_lock(&a->mu);
    a->stopping = 1;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    for (unsigned i = 0; i < a->nthr; i++) pthread_join(a->thr[i], NULL);
    if (a->boot_started) pthread_join(a->boot, NULL);
    /* What no thread took, and answers the loop will not send any more. */
    for (ch_ajob **list = &a->todo_head; list; list = list == &a->todo_head ? &a->done_head : NULL) {
        for (ch_ajob *j = *list; j;) {
            ch_ajob *next = j->next;
            ch_req_drop(j->req);
            job_free(j);
            j = next;
        }
        *list = NULL;
    }
    if (a->done_ev) event_free(a->done_ev);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    free(a->public_url);
    free(a->operator_key_file);
    free(a);
}
