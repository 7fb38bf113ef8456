/* gen_requests.c -- c360-bench-gen: distinct signed webhook bodies for the
 * ingress and lead benchmarks. wrk's Lua has no HMAC, so the requests are
 * made here, ahead of the run, and bench/signed.lua replays them.
 *
 *   c360-bench-gen --secret S --count N --out BASE [--files F] [--size B]
 *                  [--prefix P]
 *   c360-bench-gen --meta --app SECRET:PAGE[,PAGE..] [--app ...]
 *                  --count N --out BASE [--files F] [--lead-base L]
 *                  [--form ID]
 *
 * Writes BASE.0 .. BASE.<F-1> (one per wrk thread, so no two threads send
 * the same body); event i goes to file i % F as one line
 *   sha256=<hex HMAC-SHA256 of the body with S> <body>
 * with body {"id":"<P><i>","n":<i>,"route":"bench","pad":"xxx..."} padded
 * to about B bytes (default 256, a typical small webhook). Bodies are
 * distinct, so a host that deduplicates by "id" (c360d with tsrc) stores
 * every one.
 *
 * --meta writes Meta leadgen webhooks instead (the tsrc options --secret,
 * --size and --prefix do not apply): event i is lead L+i (default L =
 * 700000000000000) of form ID (555) on the i-th (app, page) pair in turn
 * (the pages of every --app, in order), the body
 *   {"object":"page","entry":[{"id":"<page>","time":<now>,"changes":[{
 *    "field":"leadgen","value":{"leadgen_id":"<lead>","page_id":"<page>",
 *    "form_id":"<form>","adgroup_id":"31","ad_id":"31","created_time":<now>}}]}]}
 * signed as Meta signs it (X-Hub-Signature-256: sha256=<hex HMAC-SHA256
 * of the raw body with that app's secret>): the same line format.
 *
 * Prints the number of lines written per file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <time.h>

#define MAX_FILES 64
#define MAX_SIZE 65536
#define MAX_PAIRS 4096

/* One (app secret, page) pair of --meta. */
typedef struct meta_pair {
    const char *secret;
    size_t secret_len;
    char page[32];
} meta_pair;

static meta_pair g_pairs[MAX_PAIRS];
static size_t g_npairs;

/* --app SECRET:PAGE,PAGE: the secret is everything before the last ':'. */
static int add_app(char *arg)
{
    char *colon = strrchr(arg, ':');
    if (!colon || colon == arg || !colon[1]) return -1;
    *colon = '\0';
    for (char *p = colon + 1; *p;) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n >= sizeof g_pairs[0].page || g_npairs == MAX_PAIRS) return -1;
        for (size_t k = 0; k < n; k++)
            if (p[k] < '0' || p[k] > '9') return -1;
        meta_pair *m = &g_pairs[g_npairs++];
        m->secret = arg;
        m->secret_len = strlen(arg);
        memcpy(m->page, p, n);
        m->page[n] = '\0';
        p += n;
        if (*p == ',') p++;
    }
    return 0;
}

static void sign(const char *secret, size_t slen, const char *body, size_t n, char hex[65])
{
    /* Not crypto_auth_hmacsha256(), which takes a 32-byte key: webhook
     * secrets have any length, and the streaming API takes keys of any
     * length (hashed first when over a block, as HMAC says). */
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, slen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, (unsigned long long)n);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_bin2hex(hex, 65, mac, sizeof mac);
}

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
    const char *secret = NULL, *out = NULL, *prefix = "b-", *form = "555";
    long count = 0, files = 1, size = 256;
    long long lead_base = 700000000000000LL;
    int meta = 0;
    if (argc > 1 && strcmp(argv[1], "--meta") == 0) {
        meta = 1;
        argv++;
        argc--;
    }
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--secret") == 0) secret = argv[i + 1];
        else if (meta && strcmp(argv[i], "--app") == 0) {
            if (add_app(argv[i + 1]) != 0) {
                fprintf(stderr, "c360-bench-gen: --app SECRET:PAGE[,PAGE..] (pages are digits)\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--form") == 0) form = argv[i + 1];
        else if (strcmp(argv[i], "--lead-base") == 0)
            lead_base = num("lead base", argv[i + 1], 1, 900000000000000000L);
        else if (strcmp(argv[i], "--out") == 0) out = argv[i + 1];
        else if (strcmp(argv[i], "--prefix") == 0) prefix = argv[i + 1];
        else if (strcmp(argv[i], "--count") == 0) count = num("count", argv[i + 1], 1, 100000000);
        else if (strcmp(argv[i], "--files") == 0) files = num("files", argv[i + 1], 1, MAX_FILES);
        else if (strcmp(argv[i], "--size") == 0) size = num("size", argv[i + 1], 64, MAX_SIZE);
        else { argc = 0; break; }
    }
    if (argc % 2 == 0 || (!meta && !secret) || (meta && g_npairs == 0) || !out || count <= 0 ||
        strspn(form, "0123456789") != strlen(form) || !*form) {
        fprintf(stderr, "usage: c360-bench-gen --secret S --count N --out BASE [--files F] [--size B] [--prefix P]\n"
                        "       c360-bench-gen --meta --app SECRET:PAGE[,PAGE..] [--app ..] --count N --out BASE\n"
                        "                      [--files F] [--lead-base L] [--form ID]\n");
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
    long long now = (long long)time(NULL);
    for (long i = 0; meta && i < count; i++) {
        const meta_pair *m = &g_pairs[(size_t)i % g_npairs];
        int n = snprintf(body, sizeof body,
                         "{\"object\":\"page\",\"entry\":[{\"id\":\"%s\",\"time\":%lld,\"changes\":[{"
                         "\"field\":\"leadgen\",\"value\":{\"leadgen_id\":\"%lld\",\"page_id\":\"%s\","
                         "\"form_id\":\"%s\",\"adgroup_id\":\"31\",\"ad_id\":\"31\",\"created_time\":%lld}}]}]}",
                         m->page, now, lead_base + i, m->page, form, now);
        char hex[65];
        sign(m->secret, m->secret_len, body, (size_t)n, hex);
        fprintf(f[i % files], "sha256=%s %s\n", hex, body);
    }
    for (long i = 0; !meta && i < count; i++) {
        int n = snprintf(body, sizeof body, "{\"id\":\"%s%ld\",\"n\":%ld,\"route\":\"bench\",\"pad\":\"", prefix, i, i);
        long want = size - n - 2;
        if (want < 0) want = 0;
        n += snprintf(body + n, sizeof body - (size_t)n, "%.*s\"}", (int)want, pad);
        char hex[65];
        sign(secret, strlen(secret), body, (size_t)n, hex);
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
