/* c360_abuse.c -- the hostile client of abuse_http.sh: many connections
 * held open or trickling a request a byte at a time (slow-loris), raw bytes
 * that curl would never send, and the latency of real requests meanwhile.
 * Plain sockets and poll(), 127.0.0.1 only.
 *
 *   c360-abuse hold PORT N SECONDS [trickle-ms] [http|tls]
 *       opens N connections; with trickle-ms > 0 sends, on each, the start
 *       of a request one byte every trickle-ms (http: a header that never
 *       ends; tls: a ClientHello record that never completes). Prints
 *       "established E" once connected, then, after SECONDS or once the
 *       server closed them all, "held N established E closed C
 *       first_close_ms F median_close_ms M last_close_ms L" (close times
 *       since the connect; -1 when none) and closes the rest.
 *   c360-abuse send PORT WAIT_MS < BYTES
 *       sends stdin as is, then prints the first line of the answer
 *       ("HTTP/1.1 400 Bad Request"), "closed" (closed without an
 *       answer) or "silent" (nothing within WAIT_MS; the socket stays
 *       open until then). Exit 0 in all three cases.
 *   c360-abuse pipe PORT N
 *       N GET /healthz pipelined in one write on one connection; prints
 *       "ok K of N" (K: the 200s back within 5 s).
 *   c360-abuse routes < OPENAPI_JSON
 *       prints "METHOD PATH" for every operation of the document.
 *   c360-abuse lat PORT N [PATH]
 *       N GETs of PATH (default /healthz), each on a new connection, one
 *       after another; prints "ok K p50_ms A p90_ms B p99_ms C max_ms D"
 *       (K: the 200s).
 * Exit 2 on usage errors, 1 when the connections cannot be made. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long arg_num(const char *s, long min, long max)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < min || v > max) {
        fprintf(stderr, "c360-abuse: %s is not a number in [%ld, %ld]\n", s, min, max);
        exit(2);
    }
    return v;
}

static int open_to(int port, int nonblock)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* --- hold ------------------------------------------------------------------------- */

/* A header that never ends, and a TLS record (ClientHello, 512 bytes
 * announced) that never completes: both keep a parser waiting. */
static const char k_http_prefix[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
static const unsigned char k_tls_prefix[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc,
                                             0x03, 0x03};

static int cmd_hold(int port, long n, long secs, long trickle, int tls)
{
    int *fd = calloc((size_t)n, sizeof *fd);
    int64_t *opened = calloc((size_t)n, sizeof *opened), *closed_at = calloc((size_t)n, sizeof *closed_at);
    size_t *sent = calloc((size_t)n, sizeof *sent);
    struct pollfd *p = calloc((size_t)n, sizeof *p);
    if (!fd || !opened || !closed_at || !sent || !p) return 1;
    long established = 0, closed = 0;
    /* Connect in batches, each waited for, so the listen backlog is never
     * the limit being measured. */
    for (long i = 0; i < n; i += 100) {
        long end = i + 100 < n ? i + 100 : n;
        for (long j = i; j < end; j++) {
            fd[j] = open_to(port, 1);
            opened[j] = now_ms();
            closed_at[j] = -1;
            p[j].fd = fd[j];
            p[j].events = POLLOUT;
        }
        int64_t deadline = now_ms() + 5000;
        long pending = end - i;
        while (pending > 0 && now_ms() < deadline) {
            if (poll(p + i, (nfds_t)(end - i), 100) <= 0) continue;
            for (long j = i; j < end; j++) {
                if (p[j].fd < 0 || !(p[j].revents & (POLLOUT | POLLERR | POLLHUP))) continue;
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(fd[j], SOL_SOCKET, SO_ERROR, &err, &el);
                if (err == 0) established++;
                else {
                    close(fd[j]);
                    fd[j] = -1;
                }
                p[j].fd = -1;
                pending--;
            }
        }
    }
    printf("established %ld\n", established);
    fflush(stdout);
    for (long j = 0; j < n; j++) {
        p[j].fd = fd[j];
        p[j].events = POLLIN;
    }
    const unsigned char *pre = tls ? k_tls_prefix : (const unsigned char *)k_http_prefix;
    size_t prelen = tls ? sizeof k_tls_prefix : sizeof k_http_prefix - 1;
    int64_t start = now_ms(), next_trickle = start;
    while (now_ms() - start < secs * 1000 && closed < established) {
        int64_t t = now_ms();
        if (trickle > 0 && t >= next_trickle) {
            for (long j = 0; j < n; j++) {
                if (p[j].fd < 0) continue;
                unsigned char b = sent[j] < prelen ? pre[sent[j]] : (tls ? 0 : 'a');
                if (send(fd[j], &b, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) sent[j]++;
            }
            next_trickle = t + trickle;
        }
        int wait = trickle > 0 ? (int)(next_trickle - now_ms()) : 200;
        if (wait < 0) wait = 0;
        if (poll(p, (nfds_t)n, wait) <= 0) continue;
        for (long j = 0; j < n; j++) {
            if (p[j].fd < 0 || !p[j].revents) continue;
            char buf[4096];
            ssize_t r = recv(fd[j], buf, sizeof buf, MSG_DONTWAIT);
            if (r > 0) continue; /* an answer (an error page): wait for the close */
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            closed_at[j] = now_ms() - opened[j];
            closed++;
            p[j].fd = -1;
        }
    }
    int64_t *ct = calloc((size_t)(closed ? closed : 1), sizeof *ct);
    long k = 0;
    for (long j = 0; j < n; j++)
        if (closed_at[j] >= 0) ct[k++] = closed_at[j];
    qsort(ct, (size_t)k, sizeof *ct, cmp_i64);
    printf("held %ld established %ld closed %ld first_close_ms %lld median_close_ms %lld "
           "last_close_ms %lld\n",
           n, established, closed, k ? (long long)ct[0] : -1LL, k ? (long long)ct[k / 2] : -1LL,
           k ? (long long)ct[k - 1] : -1LL);
    for (long j = 0; j < n; j++)
        if (fd[j] >= 0) close(fd[j]);
    free(ct);
    free(fd);
    free(opened);
    free(closed_at);
    free(sent);
    free(p);
    return established == n ? 0 : 1;
}

/* --- send ------------------------------------------------------------------------- */

static int cmd_send(int port, long wait_ms)
{
    static char in[4 << 20];
    size_t len = fread(in, 1, sizeof in, stdin);
    int fd = open_to(port, 0);
    if (fd < 0) {
        printf("refused\n");
        return 1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, in + off, len - off, MSG_NOSIGNAL);
        if (w <= 0) break; /* the server closed early: read what it said */
        off += (size_t)w;
    }
    char out[8192];
    size_t got = 0;
    int64_t end = now_ms() + wait_ms;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int eof = 0;
    while (!eof && got < sizeof out - 1 && !memchr(out, '\n', got)) {
        int left = (int)(end - now_ms());
        if (left <= 0 || poll(&p, 1, left) <= 0) break;
        ssize_t r = recv(fd, out + got, sizeof out - 1 - got, 0);
        if (r <= 0) eof = 1;
        else got += (size_t)r;
    }
    out[got] = '\0';
    close(fd);
    char *nl = strpbrk(out, "\r\n");
    if (nl) *nl = '\0';
    if (got) printf("%s\n", out);
    else printf("%s\n", eof ? "closed" : "silent");
    return 0;
}

/* --- pipe ------------------------------------------------------------------------ */

/* N requests in one write on one connection; counts the 200s that come back. */
static int cmd_pipe(int port, long n)
{
    static const char one[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    size_t len = (size_t)n * (sizeof one - 1);
    char *all = malloc(len), *in = malloc(1 << 20);
    if (!all || !in) return 1;
    for (long i = 0; i < n; i++) memcpy(all + (size_t)i * (sizeof one - 1), one, sizeof one - 1);
    int fd = open_to(port, 0);
    if (fd < 0 || send(fd, all, len, MSG_NOSIGNAL) != (ssize_t)len) return 1;
    size_t got = 0;
    long ok = 0;
    int64_t end = now_ms() + 5000;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (ok < n && got < (1 << 20) - 1) {
        int left = (int)(end - now_ms());
        if (left <= 0 || poll(&p, 1, left) <= 0) break;
        ssize_t r = recv(fd, in + got, (1 << 20) - 1 - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
        in[got] = '\0';
        ok = 0;
        for (const char *q = in; (q = strstr(q, "HTTP/1.1 200 ")); q++) ok++;
    }
    close(fd);
    printf("ok %ld of %ld\n", ok, n);
    free(all);
    free(in);
    return 0;
}

/* --- routes ---------------------------------------------------------------------- */

/* The operations of an OpenAPI document on stdin, one "METHOD PATH" line
 * each (isolation.sh tries every one, so a new route is covered the day
 * the document has it). */
static int cmd_routes(void)
{
    json_error_t je;
    json_t *doc = json_loadf(stdin, 0, &je);
    json_t *paths = json_object_get(doc, "paths");
    if (!json_is_object(paths)) {
        fprintf(stderr, "c360-abuse: no OpenAPI paths on stdin\n");
        return 1;
    }
    const char *path, *method;
    json_t *ops, *op;
    json_object_foreach(paths, path, ops) {
        json_object_foreach(ops, method, op) {
            if (strcmp(method, "parameters") == 0) continue;
            char up[16];
            size_t i = 0;
            for (; method[i] && i < sizeof up - 1; i++)
                up[i] = (char)(method[i] >= 'a' && method[i] <= 'z' ? method[i] - 32 : method[i]);
            up[i] = '\0';
            printf("%s %s\n", up, path);
        }
    }
    json_decref(doc);
    return 0;
}

/* --- lat -------------------------------------------------------------------------- */

static int cmd_lat(int port, long n, const char *path)
{
    int64_t *t = calloc((size_t)n, sizeof *t);
    if (!t) return 1;
    long ok = 0;
    char req[512];
    int rl = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
                      path);
    for (long i = 0; i < n; i++) {
        int64_t t0 = now_ms();
        int fd = open_to(port, 0);
        struct timeval tv = {5, 0};
        if (fd >= 0) {
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            char buf[512];
            ssize_t r = -1;
            if (send(fd, req, (size_t)rl, MSG_NOSIGNAL) == rl) r = recv(fd, buf, sizeof buf - 1, 0);
            if (r > 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0) ok++;
            close(fd);
        }
        t[i] = now_ms() - t0;
        if (t[i] >= 200 && getenv("C360_ABUSE_VERBOSE"))
            fprintf(stderr, "request %ld took %lld ms\n", i, (long long)t[i]);
    }
    qsort(t, (size_t)n, sizeof *t, cmp_i64);
    printf("ok %ld p50_ms %lld p90_ms %lld p99_ms %lld max_ms %lld\n", ok, (long long)t[n / 2],
           (long long)t[(n * 9) / 10],
           (long long)t[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1], (long long)t[n - 1]);
    free(t);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "hold") == 0) {
        int port = (int)arg_num(argv[2], 1, 65535);
        long n = arg_num(argv[3], 1, 100000), secs = arg_num(argv[4], 1, 3600);
        long trickle = argc > 5 ? arg_num(argv[5], 0, 60000) : 0;
        int tls = argc > 6 && strcmp(argv[6], "tls") == 0;
        return cmd_hold(port, n, secs, trickle, tls);
    }
    if (argc == 4 && strcmp(argv[1], "send") == 0)
        return cmd_send((int)arg_num(argv[2], 1, 65535), arg_num(argv[3], 1, 60000));
    if (argc == 2 && strcmp(argv[1], "routes") == 0) return cmd_routes();
    if (argc == 4 && strcmp(argv[1], "pipe") == 0)
        return cmd_pipe((int)arg_num(argv[2], 1, 65535), arg_num(argv[3], 1, 10000));
    if (argc >= 4 && strcmp(argv[1], "lat") == 0)
        return cmd_lat((int)arg_num(argv[2], 1, 65535), arg_num(argv[3], 1, 100000),
                       argc > 4 ? argv[4] : "/healthz");
    fprintf(stderr, "usage: c360-abuse hold PORT N SECONDS [trickle-ms] [http|tls]\n"
                    "       c360-abuse send PORT WAIT_MS < BYTES\n"
                    "       c360-abuse pipe PORT N\n"
                    "       c360-abuse routes < openapi.json\n"
                    "       c360-abuse lat PORT N [PATH]\n");
    return 2;
}
