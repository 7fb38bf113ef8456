/* conns_int.h -- helpers shared by conns*.c (not an API: conns.h is). */
#ifndef CH_CONNS_INT_H
#define CH_CONNS_INT_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "conns.h"

#define CH_IDX_CONN "c360:{idx}:conn"
#define CH_IDX_TENANTS "c360:{idx}:tenants"
#define CH_SCHED_DUE "c360:{sched}:due"

/* Logs a failed Redis step and returns C360_EIO. */
int32_t ch_conns_io(const char *op, const redisReply *r);

/* 1 if plugin is [a-z0-9_]{1,32}. */
int ch_conns_plugin_valid(const char *plugin);

/* "T/c" into out (at least 2 * CH_ID_MAX + 2 bytes). */
void ch_conns_member(const char *tenant, const char *id, char *out,
                     size_t cap);

/* Appends one audit entry; a failure is logged (the change is made). */
void ch_conns_audit(const char *tenant, const char *id, const char *actor,
                    const char *action, const char *target,
                    const char *outcome, const char *request_id);

/* Valid actor for an audit entry (checked before anything changes). */
int ch_conns_actor_valid(const char *actor);

/* The string elements of an array reply, sorted, as owned strings. Returns
 * C360_EIO if r is not an array of strings. */
int32_t ch_conns_strings(const redisReply *r, char ***out, size_t *n);

/* In or out of c360:{sched}:due: ZADD NX score now, or ZREM. */
int32_t ch_conns_sched(const char *tenant, const char *id, int in);

/* The routing-key index script: removes member from keys rm[0..nrm) and
 * adds it to keys add[0..nadd) of c360:{idx}:rk:<plugin>. */
int32_t ch_conns_rk_index(const char *plugin, const char *member,
                          char *const *rm, size_t nrm,
                          const char *const *add, size_t nadd);

#endif
