/* dlq_int.h -- the filtered scan shared by dlq.c and dlq_list.c; private. */
#ifndef CH_DLQ_INT_H
#define CH_DLQ_INT_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "dlq.h"

/* Called for each matching entry (fields: the flat field/value array of
 * the entry, every element a string). Return non-zero to stop the scan
 * after this entry. */
typedef int (*ch_dlq_visit_fn)(const char *id, const redisReply *fields, void *arg);

/* Walks c360:{t:T}:dlq newest first (newest_first) or oldest first,
 * starting after `cursor` (NULL = the end of the filter's time range),
 * calling visit for entries matching f, examining at most CH_DLQ_SCAN_MAX.
 * last_id (CH_DLQ_ID_MAX bytes) gets the last entry examined ("" if none);
 * *exhausted is 1 when no entry is left in the range after last_id.
 * C360_OK, C360_EINVAL (bad tenant, cursor or filter), C360_EIO. */
int32_t ch_dlq_scan(const char *tenant, const ch_dlq_filter *f, int newest_first,
                    const char *cursor, ch_dlq_visit_fn visit, void *arg,
                    char *last_id, int *exhausted);

/* The value of field `name` in a flat field/value reply, or NULL. */
const redisReply *ch_dlq_field(const redisReply *fields, const char *name);

#endif
