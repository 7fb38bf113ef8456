/* zoom_event.c -- one stored webhook of a connection. Zoom's registration
 * and participant events carry everything a record needs, so no API call
 * is made here: the record is built from the payload and emitted, but
 * only for the connection's account once it is PROVEN (zoom_prove: its own
 * credentials got a token for that account, so the payload tells it
 * nothing it could not read through the API). An event of another
 * account (a per-connection URL used by mistake), or of an account not
 * proven, is skipped. Called at least once per event: record ids are stable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zoom.h"

void zoom_seen_key(char *out, size_t cap, bool webinar, const char *object_id, const char *reg_id)
{
    snprintf(out, cap, "seen:%c:%s:%s", webinar ? 'w' : 'm', object_id, reg_id);
}

static int32_t emit(zoom_ctx *x, const char *type, const char *id, json_t *rec)
{
    const c360_host_api *h = x->host;
    char *s = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    if (s == NULL) return C360_ENOMEM;
    int32_t st = h->record_emit(x->call, type, id, s, strlen(s));
    free(s);
    if (st == C360_ETOOBIG || st == C360_EINVAL) {
        h->log(x->call, C360_LOG_WARN, "%s record %s refused by the host: %s", type, id,
               c360_strstatus(st));
        return C360_OK;
    }
    return st;
}

int32_t zoom_registrant_emit(zoom_ctx *x, const json_t *reg, bool webinar, const char *object_id,
                             const char *topic, const char *via)
{
    const c360_host_api *h = x->host;
    zoom_rec_ctx rc = {h->instance_connection(x->c->inst), via, h->now_ms(), -1};
    char id[160];
    const char *why = NULL;
    json_t *rec = zoom_registrant_record(reg, webinar, object_id, topic, &rc, id, sizeof id, &why);
    if (rec == NULL) {
        h->log(x->call, C360_LOG_WARN, "a registrant was skipped: %s", why);
        return C360_OK;
    }
    int32_t st = emit(x, "registrant", id, rec);
    if (st != C360_OK) return st;
    char key[160];
    zoom_id reg_id;
    zoom_id_from_json(json_object_get(reg, "id"), reg_id);
    zoom_seen_key(key, sizeof key, webinar, object_id, reg_id);
    h->state_set(x->call, key, via[0] == 'w' ? "w" : "p", 1, ZOOM_SEEN_TTL_MS, NULL);
    return C360_OK;
}

int32_t zoom_event(c360_call *call, void *pd, void *id, const c360_event *ev)
{
    zoom_ctx x = {pd, id, call, ((zoom_plugin *)pd)->host};
    const c360_host_api *h = x.host;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)ev->body, ev->body_len, 0, &jerr);
    if (root == NULL) {
        h->call_error(call, "event %s: the body is not JSON (line %d)", ev->event_id, jerr.line);
        return json_error_code(&jerr) == json_error_out_of_memory ? C360_ENOMEM : C360_ERROR;
    }
    zoom_ev e;
    int32_t st = C360_OK;
    if (zoom_ev_parse(root, &e) < 0 || e.kind == ZOOM_EV_NONE || e.kind == ZOOM_EV_VALIDATION) {
        h->log(call, C360_LOG_INFO, "event %s: nothing of interest; ignored", ev->event_id);
    } else if (strcmp(e.account_id, x.c->cfg.account_id) != 0) {
        h->log(call, C360_LOG_WARN, "event %s: of another Zoom account; ignored", ev->event_id);
    } else if (!x.c->proven && (zoom_prove(&x, false, false, NULL, 0), !x.c->proven)) {
        /* Only a proven account's events are processed (a proof made by
         * another process's tick counts: the cache is read again). */
        h->log(call, C360_LOG_WARN, "event %s: account %s not proven; ignored", ev->event_id,
               e.account_id);
    } else if (e.kind == ZOOM_EV_REGISTRATION) {
        const char *topic = zoom_str(e.object, "topic");
        char tkey[64];
        if (topic != NULL && strlen(topic) <= 300) {
            /* Remembered for the catch-up poll, whose list has no topic. */
            snprintf(tkey, sizeof tkey, "topic:%c:%s", e.webinar ? 'w' : 'm', e.object_id);
            h->state_set(call, tkey, topic, strlen(topic), 0, NULL);
        }
        zoom_rec_ctx rc = {h->instance_connection(x.c->inst), "webhook", h->now_ms(), e.event_ms};
        char rid[160];
        const char *why = NULL;
        json_t *rec = zoom_registrant_record(e.item, e.webinar, e.object_id, topic, &rc, rid,
                                             sizeof rid, &why);
        if (rec == NULL) {
            h->log(call, C360_LOG_WARN, "a registrant was skipped: %s", why);
        } else {
            st = emit(&x, "registrant", rid, rec);
            if (st == C360_OK) {
                char key[160];
                zoom_id reg;
                zoom_id_from_json(json_object_get(e.item, "id"), reg);
                zoom_seen_key(key, sizeof key, e.webinar, e.object_id, reg);
                h->state_set(call, key, "w", 1, ZOOM_SEEN_TTL_MS, NULL);
            }
        }
    } else if (e.kind == ZOOM_EV_JOINED) {
        if (!x.c->cfg.attendance) {
            h->log(call, C360_LOG_DEBUG, "event %s: attendance is off", ev->event_id);
        } else {
            zoom_rec_ctx rc = {h->instance_connection(x.c->inst), "webhook", h->now_ms(), e.event_ms};
            char rid[200];
            const char *why = NULL;
            json_t *rec = zoom_attendance_record(&e, &rc, rid, sizeof rid, &why);
            if (rec == NULL)
                h->log(call, C360_LOG_WARN, "an attendance was skipped: %s", why);
            else
                st = emit(&x, "attendance", rid, rec);
        }
    }
    json_decref(root);
    return st;
}
