#include "redis_url.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

static int parse_db(const char *s, int *db)
{
    long long v;
    if (ch_parse_ll(s, 0, 15, &v) < 0) return -1;
    *db = (int)v;
    return 0;
}

int ch_redis_url_parse(const char *url, ch_redis_url *out, char *err,
                       size_t errcap)
{
    memset(out, 0, sizeof *out);
    if (strncmp(url, "unix://", 7) == 0) {
        const char *path = url + 7;
        const char *q = strchr(path, '?');
        size_t plen = q ? (size_t)(q - path) : strlen(path);
        if (plen == 0 || path[0] != '/') {
            snprintf(err, errcap, "unix URL needs an absolute path: unix:///path/to/redis.sock");
            return -1;
        }
        if (plen >= sizeof out->path) {
            snprintf(err, errcap, "unix socket path longer than %zu bytes", sizeof out->path - 1);
            return -1;
        }
        memcpy(out->path, path, plen);
        out->is_unix = 1;
        if (q) {
            if (strncmp(q, "?db=", 4) != 0 || parse_db(q + 4, &out->db) < 0) {
                snprintf(err, errcap, "only ?db=N (0-15) is accepted after a unix socket path");
                return -1;
            }
        }
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        snprintf(err, errcap, "must start with redis:// or unix://");
        return -1;
    }
    const char *hp = url + 8;
    if (strchr(hp, '@')) {
        snprintf(err, errcap, "must not carry credentials; set redis.username and redis.password_file (or C360_REDIS_PASSWORD)");
        return -1;
    }
    const char *slash = strchr(hp, '/');
    size_t hplen = slash ? (size_t)(slash - hp) : strlen(hp);
    char hostport[300];
    if (hplen == 0 || hplen >= sizeof hostport) {
        snprintf(err, errcap, "missing or overlong host");
        return -1;
    }
    memcpy(hostport, hp, hplen);
    hostport[hplen] = '\0';
    char *colon = strrchr(hostport, ':');
    char *rb = strrchr(hostport, ']');
    if (colon && rb && colon < rb) colon = NULL; /* inside [v6] */
    out->port = 6379;
    if (colon) {
        long long p;
        if (ch_parse_ll(colon + 1, 1, 65535, &p) < 0) {
            snprintf(err, errcap, "port must be 1-65535");
            return -1;
        }
        out->port = (int)p;
        *colon = '\0';
    }
    /* [::1] -> ::1: hiredis wants the bare address. */
    size_t hl = strlen(hostport);
    if (hl >= 2 && hostport[0] == '[' && hostport[hl - 1] == ']') {
        memmove(hostport, hostport + 1, hl - 2);
        hostport[hl - 2] = '\0';
    } else if (strchr(hostport, ':') || strchr(hostport, '[') || strchr(hostport, ']')) {
        snprintf(err, errcap, "IPv6 addresses go in brackets: redis://[::1]:6379");
        return -1;
    }
    if (!hostport[0] || strlen(hostport) >= sizeof out->host) {
        snprintf(err, errcap, "missing host");
        return -1;
    }
    memcpy(out->host, hostport, strlen(hostport) + 1);
    if (slash && slash[1] && parse_db(slash + 1, &out->db) < 0) {
        snprintf(err, errcap, "database number after / must be 0-15");
        return -1;
    }
    return 0;
}
