/* notify_receiver.h -- a tiny in-process HTTP receiver for the notification
 * tests: a thread that accepts on 127.0.0.1, reads one request per
 * connection (headers and a Content-Length body), keeps the
 * webhook-* headers and the body, and answers with the next status of a
 * script (then 200). Header-only, like the other fixtures. */
#ifndef C360_TEST_NOTIFY_RECEIVER_H
#define C360_TEST_NOTIFY_RECEIVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define NR_MAX 256

typedef struct nr_req {
    char id[128];
    char ts[32];
    char sig[256];
    char *body;
    int status; /* what was answered */
} nr_req;

typedef struct nr_server {
    int fd;
    int port;
    pthread_t th;
    pthread_mutex_t mu;
    int stop;
    nr_req reqs[NR_MAX];
    int n;
    int script[32]; /* statuses to answer first, in order */
    int nscript, used;
} nr_server;

static void nr_header(const char *head, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    size_t nl = strlen(name);
    for (const char *p = head; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nl + 1 && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ') v++;
            size_t vl = len - (size_t)(v - p);
            if (vl >= cap) vl = cap - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return;
        }
        p = eol ? eol + 2 : NULL;
    }
}

static void nr_handle(nr_server *s, int c)
{
    static char buf[1 << 20];
    size_t got = 0;
    char *sep = NULL;
    while (got < sizeof buf - 1) {
        ssize_t r = recv(c, buf + got, sizeof buf - 1 - got, 0);
        if (r <= 0) return;
        got += (size_t)r;
        buf[got] = '\0';
        if ((sep = strstr(buf, "\r\n\r\n"))) break;
    }
    if (!sep) return;
    *sep = '\0';
    char cl[32];
    nr_header(buf, "content-length", cl, sizeof cl);
    size_t want = (size_t)atol(cl), have = got - (size_t)(sep + 4 - buf);
    while (have < want && got < sizeof buf - 1) {
        ssize_t r = recv(c, buf + got, sizeof buf - 1 - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
        have += (size_t)r;
    }
    pthread_mutex_lock(&s->mu);
    int status = s->used < s->nscript ? s->script[s->used++] : 200;
    if (s->n < NR_MAX) {
        nr_req *q = &s->reqs[s->n++];
        nr_header(buf, "webhook-id", q->id, sizeof q->id);
        nr_header(buf, "webhook-timestamp", q->ts, sizeof q->ts);
        nr_header(buf, "webhook-signature", q->sig, sizeof q->sig);
        q->body = strndup(sep + 4, want);
        q->status = status;
    }
    pthread_mutex_unlock(&s->mu);
    char resp[256];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 %d X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", status);
    (void)!send(c, resp, (size_t)n, MSG_NOSIGNAL);
}

static void *nr_run(void *arg)
{
    nr_server *s = arg;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0) break;
        pthread_mutex_lock(&s->mu);
        int stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        if (stop) {
            close(c);
            break;
        }
        struct timeval tv = {5, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        nr_handle(s, c);
        close(c);
    }
    return NULL;
}

static void nr_start(nr_server *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->fd, 16) != 0) {
        perror("receiver");
        exit(1);
    }
    socklen_t len = sizeof a;
    getsockname(s->fd, (struct sockaddr *)&a, &len);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->th, NULL, nr_run, s);
}

/* Statuses for the next requests (then 200 again). */
static void nr_script(nr_server *s, const int *st, int n)
{
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < n && i < 32; i++) s->script[i] = st[i];
    s->nscript = n;
    s->used = 0;
    pthread_mutex_unlock(&s->mu);
}

static int nr_count(nr_server *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void nr_reset(nr_server *s)
{
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < s->n; i++) free(s->reqs[i].body);
    s->n = 0;
    s->nscript = s->used = 0;
    pthread_mutex_unlock(&s->mu);
}

static void nr_stop(nr_server *s)
{
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_mutex_unlock(&s->mu);
    /* wake accept() with a connection of our own */
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c, (struct sockaddr *)&a, sizeof a) == 0) close(c);
    else close(c);
    pthread_join(s->th, NULL);
    close(s->fd);
    nr_reset(s);
    pthread_mutex_destroy(&s->mu);
}

#endif
