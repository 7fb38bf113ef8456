/* zoom_records.c -- Zoom webhook bodies and the records made from them
 * (docs/connectors/zoom.md, "The records"): c360.registrant.v1 from
 * meeting./webinar.registration_created and from the registrants list of
 * the REST API, c360.attendance.v1 from meeting./webinar.participant_joined.
 * Pure: libc and Jansson. A registrant's join_url is a credential (it
 * lets anyone join as that person) and is never copied into a record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zoom.h"

#define TEXT_MAX 1024     /* longest text value kept */
#define ANSWERS_MAX 100

static const char *text(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > TEXT_MAX)
        return NULL;
    return json_string_value(v);
}

int zoom_ev_parse(const json_t *root, zoom_ev *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->event_ms = ev->join_s = -1;
    const char *event = zoom_str(root, "event");
    if (!json_is_object(root) || event == NULL || strlen(event) > 64) return -1;
    ev->event = event;
    const json_t *ts = json_object_get(root, "event_ts");
    if (json_is_integer(ts) && json_integer_value(ts) > 0) ev->event_ms = json_integer_value(ts);
    const json_t *payload = json_object_get(root, "payload");
    if (!json_is_object(payload)) return -1;
    if (strcmp(event, "endpoint.url_validation") == 0) {
        ev->plain_token = zoom_str(payload, "plainToken");
        ev->kind = ZOOM_EV_VALIDATION;
        return 0;
    }
    zoom_id_from_json(json_object_get(payload, "account_id"), ev->account_id);
    bool reg = strcmp(event, "meeting.registration_created") == 0 ||
               strcmp(event, "webinar.registration_created") == 0;
    bool joined = strcmp(event, "meeting.participant_joined") == 0 ||
                  strcmp(event, "webinar.participant_joined") == 0;
    if (!reg && !joined) return 0; /* authentic, of no interest */
    ev->webinar = event[0] == 'w';
    ev->object = json_object_get(payload, "object");
    if (!json_is_object(ev->object) || ev->account_id[0] == '\0' ||
        !zoom_num_from_json(json_object_get(ev->object, "id"), ev->object_id))
        return 0;
    char mw = ev->webinar ? 'w' : 'm';
    if (reg) {
        zoom_id rid;
        ev->item = json_object_get(ev->object, "registrant");
        if (!json_is_object(ev->item) || !zoom_id_from_json(json_object_get(ev->item, "id"), rid))
            return 0;
        snprintf(ev->dedup, sizeof ev->dedup, "registration:%c:%s:%s", mw, ev->object_id, rid);
        ev->kind = ZOOM_EV_REGISTRATION;
        return 0;
    }
    ev->item = json_object_get(ev->object, "participant");
    if (!json_is_object(ev->item)) return 0;
    if (!zoom_id_from_json(json_object_get(ev->item, "participant_uuid"), ev->participant) &&
        !zoom_id_from_json(json_object_get(ev->item, "id"), ev->participant) &&
        !zoom_id_from_json(json_object_get(ev->item, "user_id"), ev->participant))
        return 0;
    ev->join_s = zoom_time_parse(zoom_str(ev->item, "join_time"));
    if (ev->join_s < 0) return 0;
    snprintf(ev->dedup, sizeof ev->dedup, "joined:%c:%s:%s:%lld", mw, ev->object_id,
             ev->participant, (long long)ev->join_s);
    ev->kind = ZOOM_EV_JOINED;
    return 0;
}

static void put_text(json_t *o, const char *key, const char *v)
{
    if (v != NULL) json_object_set_new(o, key, json_string(v));
}

/* A copy of s with surrounding white space removed (NULL if empty). */
static char *trimmed(const char *s)
{
    if (s == NULL) return NULL;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    if (n == 0) return NULL;
    char *o = malloc(n + 1);
    if (o == NULL) return NULL;
    memcpy(o, s, n);
    o[n] = '\0';
    return o;
}

static void put_trim(json_t *o, const char *key, const char *v)
{
    char *t = trimmed(v);
    if (t != NULL) json_object_set_new(o, key, json_string(t));
    free(t);
}

static void common(json_t *r, const char *schema, const char *type, const char *id,
                   const zoom_rec_ctx *x, int64_t created_ms)
{
    json_object_set_new(r, "schema", json_string(schema));
    json_object_set_new(r, "id", json_string(id));
    json_object_set_new(r, "type", json_string(type));
    json_object_set_new(r, "provider", json_string("zoom"));
    json_object_set_new(r, "source", json_pack("{s:s,s:s}", "plugin", "zoom", "connection",
                                               x->connection != NULL ? x->connection : ""));
    json_object_set_new(r, "via", json_string(x->via));
    if (created_ms >= 0) {
        char t[32];
        zoom_rfc3339(created_ms / 1000, t);
        json_object_set_new(r, "created_at", json_string(t));
        json_object_set_new(r, "created_at_ms", json_integer(created_ms));
    }
    json_object_set_new(r, "received_at_ms", json_integer(x->received_at_ms));
}

json_t *zoom_registrant_record(const json_t *reg, bool webinar, const char *object_id,
                               const char *topic, const zoom_rec_ctx *x, char *id,
                               size_t idcap, const char **why)
{
    zoom_id rid;
    if (!json_is_object(reg) || !zoom_id_from_json(json_object_get(reg, "id"), rid)) {
        *why = "a registrant without a usable id";
        return NULL;
    }
    if (!zoom_num_valid(object_id)) {
        *why = "no meeting or webinar id";
        return NULL;
    }
    int n = snprintf(id, idcap, "zoom:registrant:%s:%s", object_id, rid);
    if (n <= 0 || (size_t)n >= idcap) {
        *why = "the record id is too long";
        return NULL;
    }
    int64_t created = zoom_time_parse(text(reg, "create_time"));
    int64_t created_ms = created >= 0 ? created * 1000 : x->event_ms;
    json_t *r = json_object();
    common(r, "c360.registrant.v1", "registrant", id, x, created_ms);

    json_t *c = json_object();
    put_trim(c, "email", text(reg, "email"));
    put_trim(c, "first_name", text(reg, "first_name"));
    put_trim(c, "last_name", text(reg, "last_name"));
    put_trim(c, "phone", text(reg, "phone"));
    put_trim(c, "company", text(reg, "org"));
    put_trim(c, "job_title", text(reg, "job_title"));
    put_trim(c, "street", text(reg, "address"));
    put_trim(c, "city", text(reg, "city"));
    put_trim(c, "state", text(reg, "state"));
    put_trim(c, "zip", text(reg, "zip"));
    put_trim(c, "country", text(reg, "country"));
    char *fn = trimmed(text(reg, "first_name")), *ln = trimmed(text(reg, "last_name"));
    if (fn != NULL || ln != NULL) {
        char full[2 * TEXT_MAX + 2];
        snprintf(full, sizeof full, "%s%s%s", fn != NULL ? fn : "",
                 fn != NULL && ln != NULL ? " " : "", ln != NULL ? ln : "");
        put_trim(c, "full_name", full);
    }
    free(fn);
    free(ln);
    json_object_set_new(r, "contact", c);

    json_t *answers = json_array();
    const json_t *cq = json_object_get(reg, "custom_questions");
    for (size_t i = 0; i < json_array_size(cq) && i < ANSWERS_MAX; i++) {
        const json_t *q = json_array_get(cq, i);
        const char *title = text(q, "title"), *value = text(q, "value");
        if (title == NULL) continue;
        json_array_append_new(answers, json_pack("{s:s,s:s,s:[s]}", "key", title, "label", title,
                                                 "values", value != NULL ? value : ""));
    }
    /* Zoom's standard questions that have no contact field. */
    static const char *const extra[] = {"industry", "no_of_employees", "purchasing_time_frame",
                                        "role_in_purchase_process", "comments"};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        const char *v = text(reg, extra[i]);
        if (v != NULL)
            json_array_append_new(answers, json_pack("{s:s,s:[s]}", "key", extra[i], "values", v));
    }
    if (json_array_size(answers) > 0)
        json_object_set_new(r, "answers", answers);
    else
        json_decref(answers);

    json_t *obj = json_pack("{s:s}", "id", object_id);
    put_text(obj, "topic", topic);
    json_object_set_new(r, webinar ? "webinar" : "meeting", obj);
    put_text(r, "status", text(reg, "status"));
    json_object_set_new(r, "provider_ids",
                        json_pack("{s:s,s:s}", "registrant_id", rid,
                                  webinar ? "webinar_id" : "meeting_id", object_id));
    return r;
}

json_t *zoom_attendance_record(const zoom_ev *ev, const zoom_rec_ctx *x, char *id, size_t idcap,
                               const char **why)
{
    if (ev->kind != ZOOM_EV_JOINED) {
        *why = "not a participant_joined event";
        return NULL;
    }
    int n = snprintf(id, idcap, "zoom:attendance:%s:%s:%lld", ev->object_id, ev->participant,
                     (long long)ev->join_s);
    if (n <= 0 || (size_t)n >= idcap) {
        *why = "the record id is too long";
        return NULL;
    }
    const json_t *p = ev->item;
    json_t *r = json_object();
    common(r, "c360.attendance.v1", "attendance", id, x, ev->join_s * 1000);
    char t[32];
    zoom_rfc3339(ev->join_s, t);
    json_object_set_new(r, "action", json_string("joined"));
    json_object_set_new(r, "joined_at", json_string(t));
    json_t *c = json_object();
    put_trim(c, "email", text(p, "email"));
    put_trim(c, "full_name", text(p, "user_name"));
    json_object_set_new(r, "contact", c);
    json_t *obj = json_pack("{s:s}", "id", ev->object_id);
    put_text(obj, "topic", text(ev->object, "topic"));
    json_object_set_new(r, ev->webinar ? "webinar" : "meeting", obj);
    json_t *ids = json_pack("{s:s,s:s}", ev->webinar ? "webinar_id" : "meeting_id", ev->object_id,
                            "account_id", ev->account_id);
    zoom_id v;
    static const char *const keys[] = {"participant_uuid", "id", "user_id", "registrant_id"};
    static const char *const names[] = {"participant_uuid", "participant_id", "user_id",
                                        "registrant_id"};
    for (size_t i = 0; i < 4; i++)
        if (zoom_id_from_json(json_object_get(p, keys[i]), v))
            json_object_set_new(ids, names[i], json_string(v));
    if (zoom_id_from_json(json_object_get(ev->object, "uuid"), v))
        json_object_set_new(ids, "meeting_uuid", json_string(v));
    json_object_set_new(r, "provider_ids", ids);
    return r;
}
