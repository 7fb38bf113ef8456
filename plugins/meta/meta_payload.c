/* meta_payload.c -- what a Meta webhook body holds, read the same way by
 * webhook_verify / webhook_route (to route it) and by event (to process
 * it). Wire format: ../shared/reference/providers.md, Meta:
 *
 *   {"object":"page","entry":[{"id":"<page>","time":..,"changes":[
 *      {"field":"leadgen","value":{"leadgen_id":..,"form_id":..,..}},
 *      {"field":"feed","value":{"item":"comment","verb":"add",
 *                               "comment_id":..,"created_time":..,..}}]}]}
 *   {"object":"instagram","entry":[{"id":"<ig user>","time":..,"changes":[
 *      {"field":"comments","value":{"id":..,"from":{..},"text":..,..}}]}]}
 *
 * Ids may be numbers or strings. Everything else in a body (reactions,
 * posts, messages, other objects) is not of interest and is skipped.
 * Bounded: at most META_MAX_ENTRIES entries and META_MAX_CHANGES changes
 * are looked at. */
#include <stdio.h>
#include <string.h>

#include "meta.h"

_Static_assert(META_ID_MAX + 6 <= META_DEDUP_MAX, "a lead dedup key fits");

static bool comment_verb(const char *v)
{
    return v != NULL && (strcmp(v, "add") == 0 || strcmp(v, "edited") == 0 ||
                         strcmp(v, "remove") == 0 || strcmp(v, "hide") == 0);
}

/* Fills c (kind, dedup) for one change; false if it is not of interest. */
static bool classify(bool instagram, const char *field, const json_t *value,
                     meta_change *c)
{
    meta_id id;
    if (!json_is_object(value) || field == NULL) return false;
    if (!instagram && strcmp(field, "leadgen") == 0) {
        if (!meta_id_from_json(json_object_get(value, "leadgen_id"), false, id))
            return false;
        c->kind = META_LEAD;
        /* Fits: see the _Static_assert above. Not snprintf: this runs
         * on the event loop for every webhook. */
        memcpy(c->dedup, "lead:", 5);
        memcpy(c->dedup + 5, id, strlen(id) + 1);
        return true;
    }
    if (!instagram && strcmp(field, "feed") == 0) {
        const char *item = meta_str(value, "item");
        const char *verb = meta_str(value, "verb");
        if (item == NULL || strcmp(item, "comment") != 0 || !comment_verb(verb) ||
            !meta_id_from_json(json_object_get(value, "comment_id"), true, id))
            return false;
        int64_t t = meta_time_from_json(json_object_get(value, "created_time"));
        if (t < 0) t = c->entry_time;
        if (t < 0) return false; /* no time: no stable record id */
        c->kind = META_COMMENT;
        snprintf(c->dedup, sizeof c->dedup, "comment:%s:%s:%lld", id, verb,
                 (long long)t);
        return true;
    }
    if (instagram && strcmp(field, "comments") == 0) {
        /* Only ever added: the comment id alone names it (entry.time is
         * the batch's, and differs between redeliveries). */
        if (!meta_id_from_json(json_object_get(value, "id"), true, id))
            return false;
        c->kind = META_IG_COMMENT;
        snprintf(c->dedup, sizeof c->dedup, "comment:%s:add", id);
        return true;
    }
    return false;
}

int meta_payload_walk(const json_t *root, meta_change_fn fn, void *arg)
{
    const char *object = meta_str(root, "object");
    bool instagram;
    if (object != NULL && strcmp(object, "page") == 0)
        instagram = false;
    else if (object != NULL && strcmp(object, "instagram") == 0)
        instagram = true;
    else
        return -1;
    const json_t *entries = json_object_get(root, "entry");
    if (!json_is_array(entries)) return 0;
    int found = 0;
    size_t seen = 0;
    size_t ne = json_array_size(entries);
    if (ne > META_MAX_ENTRIES) ne = META_MAX_ENTRIES;
    for (size_t i = 0; i < ne; i++) {
        const json_t *e = json_array_get(entries, i);
        meta_change c;
        memset(&c, 0, sizeof c);
        if (!json_is_object(e) ||
            !meta_id_from_json(json_object_get(e, "id"), false, c.owner))
            continue;
        c.instagram = instagram;
        c.entry_time = meta_time_from_json(json_object_get(e, "time"));
        const json_t *changes = json_object_get(e, "changes");
        if (!json_is_array(changes)) continue;
        for (size_t k = 0; k < json_array_size(changes); k++) {
            if (seen++ >= META_MAX_CHANGES) return found;
            const json_t *ch = json_array_get(changes, k);
            const json_t *value = json_object_get(ch, "value");
            if (!classify(instagram, meta_str(ch, "field"), value, &c)) continue;
            c.value = value;
            found++;
            if (fn != NULL && fn(arg, &c) != 0) return found;
        }
    }
    return found;
}

typedef struct plan_run {
    bool tree;
    meta_change *keep;
    size_t cap, n;
} plan_run;

/* meta_event_plan's look at each change the scan gives. */
static int plan_change(void *arg, const meta_change *c)
{
    plan_run *p = arg;
    meta_hint h;
    if (c->kind != META_LEAD || !meta_scan_hint(c->value_b, c->value_e, &h)) {
        p->tree = true;
        return 1; /* decided: the rest need not be read */
    }
    if (p->n < p->cap) p->keep[p->n] = *c;
    p->n++;
    return 0;
}

int meta_event_plan(const uint8_t *body, size_t len, meta_change *keep, size_t cap,
                    size_t *nkept)
{
    plan_run p = {false, keep, cap, 0};
    int found = 0;
    /* Stopped early only when the tree is chosen: a sure answer otherwise
     * saw every change the event's walk will see (the same bounds). */
    int sc = meta_payload_scan(body, len, plan_change, &p, &found);
    *nkept = p.n;
    return sc == META_SCAN_OK && !p.tree && found >= 0 ? META_EVENT_BYTES : META_EVENT_TREE;
}

typedef struct pairs_run {
    const meta_match *apps;
    size_t napps;
    bool with_dedup;
    meta_pair *out;
    size_t max, n;
    bool more;
} pairs_run;

static int add_pairs(void *arg, const meta_change *c)
{
    pairs_run *r = arg;
    for (size_t a = 0; a < r->napps; a++) {
        meta_pair p;
        if (!meta_route_key(r->apps[a].app_id, r->apps[a].fp, c->instagram,
                            c->owner, p.key, sizeof p.key))
            continue;
        /* Both META_DEDUP_MAX: a bounded copy without snprintf's cost. */
        if (r->with_dedup) {
            size_t dl = strnlen(c->dedup, sizeof p.dedup - 1);
            memcpy(p.dedup, c->dedup, dl);
            p.dedup[dl] = '\0';
        } else {
            p.dedup[0] = '\0';
        }
        bool dup = false;
        for (size_t i = 0; i < r->n && !dup; i++)
            dup = strcmp(r->out[i].key, p.key) == 0 &&
                  strcmp(r->out[i].dedup, p.dedup) == 0;
        if (dup) continue;
        if (r->n == r->max) {
            r->more = true;
            return 1; /* full: the caller falls back to keys without dedup */
        }
        r->out[r->n++] = p;
    }
    return 0;
}

size_t meta_route_pairs(const json_t *root, const meta_match *apps,
                        size_t napps, bool with_dedup, meta_pair *out,
                        size_t max, bool *more, int *changes)
{
    pairs_run r = {apps, napps, with_dedup, out, max, 0, false};
    int found = meta_payload_walk(root, add_pairs, &r);
    if (changes != NULL) *changes = found;
    *more = r.more;
    return r.n;
}

bool meta_route_pairs_body(const uint8_t *body, size_t len, const meta_match *apps,
                           size_t napps, bool with_dedup, meta_pair *out, size_t max,
                           size_t *n, bool *more, int *changes)
{
    pairs_run r = {apps, napps, with_dedup, out, max, 0, false};
    int found;
    int sc = meta_payload_scan(body, len, add_pairs, &r, &found);
    if (sc == META_SCAN_INVALID) return false;
    if (sc == META_SCAN_UNSURE) {
        /* What the scanner gathered is dropped: r is not read again. */
        json_t *root = json_loadb((const char *)body, len, 0, NULL);
        if (root == NULL) return false;
        *n = meta_route_pairs(root, apps, napps, with_dedup, out, max, more, changes);
        json_decref(root);
        return true;
    }
    if (changes != NULL) *changes = found;
    *more = r.more;
    *n = r.n;
    return true;
}
