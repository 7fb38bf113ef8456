/* notify_int.h -- shared by notify*.c; private. */
#ifndef CH_NOTIFY_INT_H
#define CH_NOTIFY_INT_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "notify.h"

#define CH_NOTIFY_TENANTS "c360:{idx}:notify-tenants"
#define CH_NOTIFY_DUE "c360:{idx}:notify-due"
/* The secrets service keeps the signing secret under this pseudo
 * connection id (connection ids are created by the admin API, which
 * reserves ids starting with "_"). */
#define CH_NOTIFY_SECRET_CONN "_notify"
#define CH_NOTIFY_SECRET_NAME "signing"
#define CH_NOTIFY_SECRET_PREFIX "whsec_"

/* Lua: now_ms() from the server clock; has_event(list, name) for the
 * comma-separated events field. */
#define CH_NOTIFY_LUA_COMMON                                                 \
    "local function now_ms()\n"                                              \
    "  local t = redis.call('TIME')\n"                                       \
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"   \
    "end\n"                                                                  \
    "local function has_event(list, name)\n"                                 \
    "  return list and string.find(',' .. list .. ',', ',' .. name .. ',', 1, true) ~= nil\n" \
    "end\n"

/* Marks the tenant due at once (ZADD LT: an earlier due time stays). */
void ch_notify_mark_due(const char *tenant);

/* The events field as text ("a,b") into out. */
void ch_notify_events_text(unsigned events, char *out, size_t cap);
unsigned ch_notify_events_from_text(const char *text);

/* Opens the signing secret and decodes it: *key (free with
 * ch_notify_key_free) of *len bytes. C360_OK, C360_ENOTFOUND, others from
 * the secrets service. */
int32_t ch_notify_key_load(const char *tenant, uint8_t **key, size_t *len);
void ch_notify_key_free(uint8_t *key, size_t len);

/* One POST of a notification body, signed. *code gets the HTTP status (0
 * when none arrived), err an excerpt of what went wrong ("" on 2xx).
 * Returns 1 when delivered (2xx). */
int ch_notify_post(const char *url, const uint8_t *key, size_t key_len, const char *nid,
                   const char *body, size_t body_len, uint32_t timeout_ms, int *code,
                   int64_t *took_ms, char *err, size_t errcap);

/* Builds the JSON body of a notification (a new string; free it). */
char *ch_notify_body(const char *nid, const char *type, const char *tenant, const char *conn,
                     const char *state, const char *cause, int64_t time_ms, const char *data_json);

/* Appends one attempt to the log (best effort, logged on failure). */
void ch_notify_log_add(const char *tenant, const char *nid, const char *type, const char *conn,
                       int code, long long attempts, const char *outcome, int64_t took_ms,
                       const char *err);

/* A fresh notification id "ntf_<32 hex>". */
void ch_notify_new_id(char out[CH_NOTIFY_ID_MAX]);

/* One SCAN page of the refresh-token pass (cursor "0" to begin, updated;
 * *done when the pass is complete). */
int32_t ch_notify_expiry_page(char *cursor, size_t cap, int64_t warn_ms, size_t *emitted,
                              int *done);

/* Field `name` of a flat field/value reply, or NULL. */
const redisReply *ch_notify_field(const redisReply *fields, const char *name);

#endif
