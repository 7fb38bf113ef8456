/* gen_requests.c -- c360-bench-gen: distinct signed webhook bodies for the
 * ingress benchmark. wrk's Lua has no HMAC, so the requests are made here,
 * ahead of the run, and bench/signed.lua replays them.
 *
 *   c360-bench-gen --secret S --count N --out BASE [--files F] [--size B]
 *                  [--prefix P]
 *
 * Writes BASE.0 .. BASE.<F-1> (one per wrk thread, so no two threads send
 * the same body); event i goes to file i % F as one line
 *   sha256=<hex HMAC-SHA256 of the body with S> <body>
 * with body {"id":"<P><i>","n":<i>,"route":"bench","pad":"xxx..."} padded
 * to about B bytes (default 256, a typical small webhook). Bodies are
 * distinct, so a host that deduplicates by "id" (c360d with tsrc) stores
 * every one. Prints the number of lines written per file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define MAX_FILES 64
#define MAX_SIZE 65536

static long num(const char *what, const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "c360-bench-gen: bad %s '%s'\n", what, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    const char *secret = NULL, *out = NULL, *prefix = "b-";
    long count = 0, files = 1, size = 256;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--secret") == 0) secret = argv[i + 1];
        else if (strcmp(argv[i], "--out") == 0) out = argv[i + 1];
        else if (strcmp(argv[i], "--prefix") == 0) prefix = argv[i + 1];
        else if (strcmp(argv[i], "--count") == 0) count = num("count", argv[i + 1], 1, 100000000);
        else if (strcmp(argv[i], "--files") == 0) files = num("files", argv[i + 1], 1, MAX_FILES);
        else if (strcmp(argv[i], "--size") == 0) size = num("size", argv[i + 1], 64, MAX_SIZE);
        else { argc = 0; break; }
    }
    if (argc % 2 == 0 || !secret || !out || count <= 0) {
        fprintf(stderr, "usage: c360-bench-gen --secret S --count N --out BASE [--files F] [--size B] [--prefix P]\n");
        return 2;
    }
    for (const char *p = prefix; *p; p++)
        if (*p == '"' || *p == '\\' || *p <= ' ') {
            fprintf(stderr, "c360-bench-gen: prefix must need no JSON escapes and hold no spaces\n");
            return 2;
        }
    if (sodium_init() < 0) return 1;
    FILE *f[MAX_FILES];
    for (long k = 0; k < files; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s.%ld", out, k);
        if (!(f[k] = fopen(path, "w"))) {
            perror(path);
            return 1;
        }
    }
    static char body[MAX_SIZE + 256];
    char pad[MAX_SIZE + 1];
    memset(pad, 'x', sizeof pad - 1);
    pad[MAX_SIZE] = '\0';
    for (long i = 0; i < count; i++) {
        int n = snprintf(body, sizeof body, "{\"id\":\"%s%ld\",\"n\":%ld,\"route\":\"bench\",\"pad\":\"", prefix, i, i);
        long want = size - n - 2;
        if (want < 0) want = 0;
        n += snprintf(body + n, sizeof body - (size_t)n, "%.*s\"}", (int)want, pad);
        /* Not crypto_auth_hmacsha256(), which takes a 32-byte key: the
         * webhook secret has any length, and the streaming API takes keys
         * of any length (hashed first when over a block, as HMAC says). */
        unsigned char mac[crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, (unsigned long long)n);
        crypto_auth_hmacsha256_final(&st, mac);
        char hex[2 * sizeof mac + 1];
        sodium_bin2hex(hex, sizeof hex, mac, sizeof mac);
        fprintf(f[i % files], "sha256=%s %s\n", hex, body);
    }
    for (long k = 0; k < files; k++)
        if (fclose(f[k]) != 0) {
            perror("fclose");
            return 1;
        }
    printf("%ld\n", (count + files - 1) / files);
    return 0;
}
