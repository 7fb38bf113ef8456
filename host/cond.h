/* cond.h -- condition variables that wait on the monotonic clock. Every
 * thread of ours that sleeps with a deadline (maintenance, notifications,
 * the instance opener, the connection cache, a disconnect's wait) uses
 * these, so a wall-clock step (NTP) neither stalls nor hurries it. */
#ifndef CH_COND_H
#define CH_COND_H

#include <pthread.h>
#include <stdint.h>

/* pthread_cond_init with CLOCK_MONOTONIC. */
void ch_cond_init_monotonic(pthread_cond_t *cv);

/* pthread_cond_timedwait for at most wait_ms (<= 0: returns at once with
 * ETIMEDOUT) on a cv made by ch_cond_init_monotonic; mu is held. Returns
 * pthread_cond_timedwait's result (0 when signalled). */
int ch_cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t wait_ms);

#endif
