/* sched_int.h -- helpers shared by sched.c and sched_claim.c; private. */
#ifndef CH_SCHED_INT_H
#define CH_SCHED_INT_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

/* The current settings (ch_sched_configure). */
int ch_sched_floor_s(void);
int ch_sched_lease_ms(void);
int ch_sched_default_s(void);

/* "T/c" into out after validating both ids; 0, or -1 if invalid. */
int ch_sched_member(const char *tenant, const char *conn, char *out, size_t cap);

/* Logs a failed call (r NULL: unreachable; else an error or unexpected
 * reply; r is not freed) and returns C360_EIO. */
int32_t ch_sched_io_error(const char *what, redisReply *r);

/* LPUSH the tenants on c360:{idx}:wake (then LTRIM to CH_SCHED_WAKE_MAX)
 * so idle workers pick their new work up at once. Failures are logged
 * only: workers also poll. Used by the claim and by replays. */
void ch_sched_wake(const char **tenants, size_t n);

/* 1 if s is a stream id "<ms>-<seq>" (decimal, each 1..20 digits). */
int ch_stream_id_valid(const char *s);
/* The milliseconds part of a valid stream id. */
int64_t ch_stream_id_ms(const char *s);

#endif
