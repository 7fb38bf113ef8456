/* ctl_http.c -- one admin API request with libcurl, and what the user
 * sees when it fails.
 *
 * Every request carries "Authorization: Bearer <key>" and a fresh
 * X-Request-Id, printed with any error so an operator can find the
 * request in c360d's log and audit entries. Redirects are not followed (a
 * redirect must not carry the key to another host); only http and https
 * are spoken. The key is read on the first request, so --help and usage
 * errors never need one. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "ctl.h"

#define RESP_MAX (64u << 20)   /* a response larger than this is refused */

typedef struct resp_buf {
    ctl_str body;
    int too_big;
    char rid[80];        /* X-Request-Id of the answer */
    char retry_after[16];
} resp_buf;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    resp_buf *r = ud;
    size_t len = sz * n;
    if (r->body.len + len > RESP_MAX) {
        r->too_big = 1;
        return 0;
    }
    ctl_str_addn(&r->body, p, len);
    return len;
}

/* Copies a header's value when its name matches (case-insensitively). */
static void header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    if (len <= n + 1 || strncasecmp(line, name, n) != 0 || line[n] != ':') return;
    const char *v = line + n + 1;
    size_t vl = len - n - 1;
    while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ')) vl--;
    if (vl >= cap) vl = cap - 1;
    /* Printable only: it is printed to the user's terminal. */
    size_t o = 0;
    for (size_t i = 0; i < vl; i++)
        if (v[i] > ' ' && v[i] < 0x7f) out[o++] = v[i];
    out[o] = '\0';
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    resp_buf *r = ud;
    size_t len = sz * n;
    header_value(p, len, "x-request-id", r->rid, sizeof r->rid);
    header_value(p, len, "retry-after", r->retry_after, sizeof r->retry_after);
    return len;
}

void ctl_request_id(char *buf, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[12];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, rnd, sizeof rnd) : -1;
    if (fd >= 0) close(fd);
    if (got != (ssize_t)sizeof rnd) {
        /* Not a secret, only unique enough to find in a log. */
        uint64_t x = (uint64_t)ctl_now_ms() * 6364136223846793005ULL ^ (uint64_t)getpid();
        for (size_t i = 0; i < sizeof rnd; i++) rnd[i] = (unsigned char)(x >> (i % 8 * 8)) ^ (unsigned char)i;
    }
    char out[4 + 2 * sizeof rnd + 1] = "ctl-";
    for (size_t i = 0; i < sizeof rnd; i++) {
        out[4 + 2 * i] = hex[rnd[i] >> 4];
        out[5 + 2 * i] = hex[rnd[i] & 15];
    }
    out[sizeof out - 1] = '\0';
    snprintf(buf, cap, "%s", out);
}

/* The key, and a readable CA file: local problems are told apart from
 * the TLS failures curl would report for them. */
static int load_key(ctl_ctx *c)
{
    if (c->have_key) return CTL_OK;
    if (c->conf.cacert[0] && access(c->conf.cacert, R_OK) != 0) {
        fprintf(stderr, "c360ctl: CA file %s: %s\n", c->conf.cacert, strerror(errno));
        return CTL_LOCAL;
    }
    char err[512];
    int rc = ctl_conf_key(&c->conf, c->key, err, sizeof err);
    if (rc != CTL_OK) {
        fprintf(stderr, "c360ctl: %s\n", err);
        return rc;
    }
    /* Like ssh with its keys, but a warning: the key still works. */
    struct stat st;
    if (c->conf.key_file[0] && stat(c->conf.key_file, &st) == 0 && (st.st_mode & 077))
        fprintf(stderr, "c360ctl: warning: key file %s can be read by other users (mode %03o): "
                        "chmod 600 it\n",
                c->conf.key_file, (unsigned)(st.st_mode & 0777));
    c->have_key = 1;
    return CTL_OK;
}

static int net_code(CURLcode cc)
{
    switch (cc) {
    case CURLE_OUT_OF_MEMORY:
    case CURLE_READ_ERROR:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_FILE_COULDNT_READ_FILE:
        return CTL_LOCAL;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return CTL_USAGE;
    default:
        return CTL_NET;
    }
}

int ctl_call(ctl_ctx *c, const char *method, const char *path_query, json_t *body,
             const ctl_str *raw, const char *if_match, json_t **resp, long *status)
{
    *resp = NULL;
    if (status) *status = 0;
    int rc = load_key(c);
    if (rc != CTL_OK) return rc;
    if (!c->curl && !(c->curl = curl_easy_init())) {
        fputs("c360ctl: cannot initialise libcurl\n", stderr);
        return CTL_LOCAL;
    }
    CURL *h = c->curl;
    curl_easy_reset(h);

    ctl_str url = {0}, auth = {0}, payload = {0};
    ctl_str_add(&url, c->conf.url);
    ctl_str_add(&url, path_query);
    ctl_request_id(c->last_rid, sizeof c->last_rid);

    /* The body: the caller's raw text (a secret, already JSON), else the
     * object, else "{}" for methods that carry one. */
    const char *data = NULL;
    size_t data_len = 0;
    if (raw) {
        data = raw->s ? raw->s : "";
        data_len = raw->len;
    } else if (body) {
        char *s = json_dumps(body, JSON_COMPACT);
        if (!s) {
            fputs("c360ctl: cannot encode the request body\n", stderr);
            ctl_str_free(&url);
            return CTL_LOCAL;
        }
        ctl_str_add(&payload, s);
        free(s);
        data = payload.s;
        data_len = payload.len;
    } else if (strcmp(method, "GET") != 0 && strcmp(method, "DELETE") != 0) {
        data = "{}";
        data_len = 2;
    }

    struct curl_slist *hdrs = NULL;
    ctl_str_add(&auth, "Authorization: Bearer ");
    ctl_str_add(&auth, c->key);
    hdrs = curl_slist_append(hdrs, auth.s);
    ctl_str_wipe(&auth);
    char line[160];
    snprintf(line, sizeof line, "X-Request-Id: %s", c->last_rid);
    hdrs = curl_slist_append(hdrs, line);
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (data) hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    if (if_match) {
        snprintf(line, sizeof line, "If-Match: \"%.100s\"", if_match);
        hdrs = curl_slist_append(hdrs, line);
    }

    resp_buf r = {0};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url.s);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (data) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, data);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)data_len);
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "c360ctl/" C360_VERSION);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->conf.timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     c->conf.timeout_ms < 10000 ? c->conf.timeout_ms : 10000L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (c->conf.cacert[0]) curl_easy_setopt(h, CURLOPT_CAINFO, c->conf.cacert);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);

    if (c->verbose) fprintf(stderr, "> %s %s (request id %s)\n", method, url.s, c->last_rid);
    int64_t t0 = ctl_now_ms();
    CURLcode cc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdrs);
    ctl_str_wipe(&payload);
    if (c->verbose && cc == CURLE_OK)
        fprintf(stderr, "< %ld (%zu bytes, %lld ms)\n", code, r.body.len,
                (long long)(ctl_now_ms() - t0));

    const char *rid = r.rid[0] ? r.rid : c->last_rid;
    if (cc != CURLE_OK) {
        if (r.too_big) {
            fprintf(stderr, "c360ctl: %s %s: the response is larger than %u bytes\n"
                            "  request id: %s\n",
                    method, url.s, RESP_MAX, rid);
            rc = CTL_API;
        } else {
            fprintf(stderr, "c360ctl: %s %s: %s\n  request id: %s\n", method, url.s,
                    errbuf[0] ? errbuf : curl_easy_strerror(cc), c->last_rid);
            rc = net_code(cc);
        }
    } else if (code < 200 || code > 299) {
        ctl_print_api_error(stderr, code, r.body.s, r.body.len, rid);
        if (code == 401)
            fprintf(stderr, "  hint: check the API key (from %s)\n", c->conf.key_from);
        if (code == 429 && r.retry_after[0])
            fprintf(stderr, "  retry after %s s\n", r.retry_after);
        rc = CTL_API;
    } else if (r.body.len) {
        json_error_t je;
        *resp = json_loadb(r.body.s, r.body.len, JSON_DECODE_ANY, &je);
        if (!*resp) {
            fprintf(stderr, "c360ctl: %s %s answered %ld with a body that is not JSON "
                            "(%s)\n  request id: %s\n",
                    method, url.s, code, je.text, rid);
            rc = CTL_API;
        }
    }
    if (status) *status = code;
    ctl_str_wipe(&r.body); /* it may hold a new key or signing secret */
    ctl_str_free(&url);
    return rc;
}

void ctl_http_cleanup(ctl_ctx *c)
{
    if (c->curl) curl_easy_cleanup(c->curl);
    c->curl = NULL;
    ctl_wipe(c->key, sizeof c->key);
    c->have_key = 0;
}
