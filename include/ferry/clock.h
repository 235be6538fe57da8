/* ferry: clocks, in milliseconds. Any thread. */
#ifndef FERRY_CLOCK_H
#define FERRY_CLOCK_H

#include <stdint.h>

/* Monotonic: for timeouts and intervals. */
int64_t ferry_mono_ms(void);
/* Monotonic with a few milliseconds of resolution, cheaper to read: for a check made for every
 * event (a batch's max_ms; the precise clock cost a worker a sixth of its time where the
 * virtual clock is slow). */
int64_t ferry_coarse_ms(void);
/* Wall-clock time since the epoch: for timestamps. */
int64_t ferry_wall_ms(void);

#endif
