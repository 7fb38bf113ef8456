/* records.h -- the records a source plugin emits during one callback.
 *
 * record_emit (hostapi.c) appends to the buffer the worker hung on the call
 * (c360_call.records); nothing reaches Redis until the callback returned
 * C360_OK, when the worker commits the whole buffer together with the
 * acknowledgement of the event in one Lua script (queue_work.h): a retried
 * call emits its records again, and a crash in the middle leaves nothing
 * half-committed.
 *
 * Bounds (each a C360_ETOOBIG for the plugin, the buffer unchanged):
 * CH_RECORD_JSON_MAX bytes of JSON per record, CH_RECORDS_MAX records per
 * call, CH_RECORDS_BYTES_MAX bytes in all. Type and id: 1..200 bytes of
 * printable ASCII without space (keys.h ch_name_valid, the rule
 * c360-plugin-check applies too); json: a JSON object (checked:
 * destinations rely on it). Anything else is C360_EINVAL.
 *
 * Thread-safe: a plugin may emit from helper threads while its callback
 * runs. */
#ifndef CH_RECORDS_H
#define CH_RECORDS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define CH_RECORD_JSON_MAX (1024 * 1024)
#define CH_RECORDS_MAX 1000
#define CH_RECORDS_BYTES_MAX (16 * 1024 * 1024)

typedef struct ch_record_buf {
    char *type;
    char *id;
    char *json;
    size_t json_len;
} ch_record_buf;

typedef struct ch_records {
    pthread_mutex_t lock;
    ch_record_buf *v;
    size_t n, cap;
    size_t bytes;      /* type + id + json of every record kept */
    size_t refused;    /* emits refused (bounds, bad input) */
} ch_records;

void ch_records_init(ch_records *r);
/* Drops every record (the buffer is reused for the next call). */
void ch_records_reset(ch_records *r);
void ch_records_free(ch_records *r);

/* C360_OK, C360_EINVAL, C360_ETOOBIG (see the top). Copies everything. */
int32_t ch_records_add(ch_records *r, const char *type, const char *id,
                       const char *json, size_t json_len);

/* The records as one script argument: for each record its type, id and
 * json, each as "<decimal length>:<bytes>". Returns a fresh buffer (free
 * it) of *len bytes; NULL with *len = 0 when there are none. */
char *ch_records_pack(ch_records *r, size_t *len);

size_t ch_records_count(ch_records *r);

#endif
