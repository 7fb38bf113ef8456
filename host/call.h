/* call.h -- the host side of c360_call: one invocation of one plugin
 * callback. Carries the request id, the deadline and the outcome the plugin
 * reports (retry delay, error text, config errors). Lives on the caller's
 * stack for the duration of the callback. */
#ifndef CH_CALL_H
#define CH_CALL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "connector_api.h"

#define CH_CALL_MAGIC 0x63616c6cu /* "call": checked on every host entry */
#define CH_CALL_ERROR_MAX 512
#define CH_CALL_CFGERR_MAX 64     /* config errors kept per call */
#define CH_CALL_DEDUP_MAX 200     /* dedup keys: printable ASCII (ABI 1.2) */

struct ch_route_sink; /* pipeline/route_sink.h */
struct ch_records;    /* pipeline/records.h */
struct ch_staged;     /* pipeline/state_staged.h */

typedef struct ch_cfgerr {
    char *pointer;  /* JSON Pointer, owned */
    char *message;  /* owned */
} ch_cfgerr;

struct c360_call {
    uint32_t magic;
    const char *plugin;          /* plugin name, for logs */
    const c360_instance *inst;   /* NULL outside a connection */
    char request_id[65];         /* ours (32 hex) or a caller's (<= 64) */
    int64_t deadline_ms;         /* monotonic; 0 = none */
    uint32_t retry_after_ms;
    int retry_set;
    char error[CH_CALL_ERROR_MAX];
    ch_cfgerr cfgerr[CH_CALL_CFGERR_MAX];
    size_t cfgerr_count;
    size_t cfgerr_dropped;       /* reported beyond CH_CALL_CFGERR_MAX */
    /* ABI 1.2 (pipeline ingress): what webhook_verify / webhook_route
     * named. route is non-NULL only while the ingress runs webhook_route. */
    char dedup_key[CH_CALL_DEDUP_MAX + 1]; /* "" = none */
    struct ch_route_sink *route;
    /* ABI 1.2 (pipeline workers): where record_emit buffers; non-NULL only
     * while a worker runs a source's event or tick callback. */
    struct ch_records *records;
    /* ABI 1.6: where state_set_on_commit stages; set and cleared with
     * records, so non-NULL only in a source's event or tick callback. */
    struct ch_staged *staged;
};

/* Prepares a call; request_id NULL = a fresh random id. timeout_ms 0 = no
 * deadline. */
void ch_call_init(c360_call *call, const char *plugin,
                  const c360_instance *inst, const char *request_id,
                  int64_t timeout_ms);
/* Frees what the call owns (config errors). */
void ch_call_done(c360_call *call);
/* NULL or a wrong magic -> 0. */
int ch_call_valid(const c360_call *call);

void ch_call_set_error(c360_call *call, const char *fmt, va_list ap);
void ch_call_add_cfgerr(c360_call *call, const char *pointer,
                        const char *message);

/* 32 lower-case hex characters of fresh randomness + NUL. */
void ch_request_id(char out[33]);

/* Normalises a plugin return value: unknown values become C360_ERROR;
 * C360_THROTTLED (ABI 1.5, meaningful only from deliver) C360_RETRY. */
int32_t ch_status_normalise(int32_t status);
/* The same for a status from deliver or deliver_batch, which keeps
 * C360_THROTTLED. */
int32_t ch_status_normalise_deliver(int32_t status);

int64_t ch_now_ms(void);
int64_t ch_monotonic_ms(void);

#endif
