/* queue_work_int.h -- shared by queue_work*.c only. */
#ifndef CH_QUEUE_WORK_INT_H
#define CH_QUEUE_WORK_INT_H

#include <hiredis/hiredis.h>

/* Logs a failed script/command (r NULL: Redis unreachable) and counts
 * CH_M_REDIS_ERRORS. Does not free r. */
void ch_qw_redis_failed(const char *what, const redisReply *r);

#endif
