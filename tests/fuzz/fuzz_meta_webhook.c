/* fuzz_meta_webhook.c -- the meta connector: webhook verification (and routing, and the event callback) of a request.
 * Input format: fz_plugin.h.
 *
 * Also differential: the request's body (and the whole input) through
 * meta_payload_scan and through json_loadb + meta_payload_walk; whenever
 * the scanner is sure, its verdict, the walk's result and the changes it
 * reported must be Jansson's, else abort. Each lead's hint (what the lead
 * record reads of the change's value) is mixed in, read from the value's
 * bytes (meta_scan_hint) on the scan's side, from its tree on the walk's;
 * and when meta_event_plan sends the event callback down the byte path,
 * the scan must be sure, all its changes leads and every hint sure. */
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
    uint64_t hh;       /* the same over the leads' hints */
    bool hint_unsure;  /* a lead's hint the bytes could not tell */
    bool not_lead;     /* a change other than a lead */
} seen;

static void mix_into(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) *h = (*h ^ b[i]) * 0x100000001b3u;
}

static void mix(seen *s, const void *p, size_t n) { mix_into(&s->h, p, n); }

static int on_change(void *arg, const meta_change *c)
{
    seen *s = arg;
    int64_t t = c->entry_time;
    mix(s, &c->kind, sizeof c->kind);
    mix(s, &c->instagram, sizeof c->instagram);
    mix(s, &t, sizeof t);
    mix(s, c->owner, strlen(c->owner) + 1);
    mix(s, c->dedup, strnlen(c->dedup, sizeof c->dedup));
    if (c->kind == META_LEAD) {
        meta_hint hint;
        memset(&hint, 0, sizeof hint);
        if (c->value != NULL) meta_hint_of_tree(&hint, c->value);
        else if (!meta_scan_hint(c->value_b, c->value_e, &hint)) s->hint_unsure = true;
        for (int i = 0; i < META_HINT_IDS; i++) {
            mix_into(&s->hh, &hint.has[i], sizeof hint.has[i]);
            if (hint.has[i]) mix_into(&s->hh, hint.id[i], strlen(hint.id[i]) + 1);
        }
        mix_into(&s->hh, &hint.created_time, sizeof hint.created_time);
    } else {
        s->not_lead = true;
    }
    s->n++;
    return 0;
}

static void scan_diff(const uint8_t *data, size_t len)
{
    /* An exact-size copy: a read past the body trips ASan. */
    uint8_t *b = malloc(len ? len : 1);
    if (b == NULL) return;
    if (len) memcpy(b, data, len);
    seen a = {0xcbf29ce484222325u, 0, 0xcbf29ce484222325u, false, false};
    seen j = a;
    int fa = 0, fj = 0;
    meta_change kept[4];
    size_t nkept = 0;
    int plan = meta_event_plan(b, len, kept, 4, &nkept);
    /* The changes the plan kept for event_run are the scan's: the same
     * hashes over them. */
    seen k = a;
    for (size_t i = 0; plan == META_EVENT_BYTES && i < nkept && i < 4; i++)
        on_change(&k, &kept[i]);
    int sc = meta_payload_scan(b, len, on_change, &a, &fa);
    json_t *root = json_loadb((const char *)b, len, 0, NULL);
    if (root != NULL) {
        fj = meta_payload_walk(root, on_change, &j);
        json_decref(root);
    }
    free(b);
    if ((sc == META_SCAN_INVALID && root != NULL) ||
        (sc == META_SCAN_OK && (root == NULL || fa != fj || a.n != j.n || a.h != j.h ||
                                (!a.hint_unsure && a.hh != j.hh))) ||
        (plan == META_EVENT_BYTES &&
         (sc != META_SCAN_OK || a.hint_unsure || a.not_lead || fa < 0 ||
          nkept != (size_t)a.n || (nkept <= 4 && (k.h != a.h || k.hh != a.hh))))) {
        fprintf(stderr, "meta_payload_scan disagrees with Jansson: scan %d found %d/%d, "
                        "jansson %s found %d/%d (plan %d, hints unsure %d)\n", sc, fa, a.n,
                root ? "valid" : "invalid", fj, j.n, plan, (int)a.hint_unsure);
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
