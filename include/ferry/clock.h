/* ferry: clocks, in milliseconds. Any thread. */
#ifndef FERRY_CLOCK_H
#define FERRY_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Monotonic: for timeouts and intervals. */
int64_t ferry_mono_ms(void);
/* Monotonic with a few milliseconds of resolution, cheaper to read: for a check made for every
 * event (a batch's max_ms; the precise clock cost a worker a sixth of its time where the
 * virtual clock is slow). */
int64_t ferry_coarse_ms(void);
/* Wall-clock time since the epoch: for timestamps. */
int64_t ferry_wall_ms(void);

/* A condition variable whose timed waits count on the monotonic clock (a wall-clock step does
 * not lengthen or shorten them); released with pthread_cond_destroy. */
void ferry_mono_cond_init(pthread_cond_t *c);
/* The monotonic time at_ms (from ferry_mono_ms) as the deadline pthread_cond_timedwait takes
 * for such a condition variable. */
struct timespec ferry_mono_timespec(int64_t at_ms);

#endif
