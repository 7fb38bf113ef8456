/* fuzz_meta_webhook.c -- the meta connector: webhook verification (and routing, and the event callback) of a request.
 * Input format: fz_plugin.h.
 *
 * Also differential: the request's body (and the whole input) through
 * meta_payload_scan and through json_loadb + meta_payload_walk; whenever
 * the scanner is sure, its verdict, the walk's result and the changes it
 * reported must be Jansson's, else abort. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* First: it sets the ABI minor the SDK header then reads. */
#include "meta.h"

#include "fz_host.h"
#include "fz_spec_meta.h"

typedef struct seen {
    uint64_t h; /* FNV-1a over the changes, in order */
    int n;
} seen;

static void mix(seen *s, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) s->h = (s->h ^ b[i]) * 0x100000001b3u;
}

static int on_change(void *arg, const meta_change *c)
{
    seen *s = arg;
    int64_t t = c->entry_time;
    mix(s, &c->kind, sizeof c->kind);
    mix(s, &c->instagram, sizeof c->instagram);
    mix(s, &t, sizeof t);
    mix(s, c->owner, strlen(c->owner) + 1);
    mix(s, c->dedup, strnlen(c->dedup, sizeof c->dedup));
    s->n++;
    return 0;
}

static void scan_diff(const uint8_t *data, size_t len)
{
    /* An exact-size copy: a read past the body trips ASan. */
    uint8_t *b = malloc(len ? len : 1);
    if (b == NULL) return;
    if (len) memcpy(b, data, len);
    seen a = {0xcbf29ce484222325u, 0}, j = {0xcbf29ce484222325u, 0};
    int fa = 0, fj = 0;
    int sc = meta_payload_scan(b, len, on_change, &a, &fa);
    json_t *root = json_loadb((const char *)b, len, 0, NULL);
    if (root != NULL) {
        fj = meta_payload_walk(root, on_change, &j);
        json_decref(root);
    }
    free(b);
    if ((sc == META_SCAN_INVALID && root != NULL) ||
        (sc == META_SCAN_OK && (root == NULL || fa != fj || a.n != j.n || a.h != j.h))) {
        fprintf(stderr, "meta_payload_scan disagrees with Jansson: scan %d found %d/%d, "
                        "jansson %s found %d/%d\n", sc, fa, a.n, root ? "valid" : "invalid", fj, j.n);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 1) {
        fz_request rq;
        fz_request_parse(data + 1, size - 1, &rq);
        scan_diff(rq.body, rq.body_len);
        fz_request_free(&rq);
    }
    scan_diff(data, size);
    return fz_webhook_one(&spec, data, size);
}
