/* ferry: clocks, in milliseconds. */
#include <time.h>

#include "ferry/clock.h"

static int64_t ms_of(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ferry_mono_ms(void)
{
    return ms_of(CLOCK_MONOTONIC);
}

int64_t ferry_coarse_ms(void)
{
    return ms_of(CLOCK_MONOTONIC_COARSE);
}

int64_t ferry_wall_ms(void)
{
    return ms_of(CLOCK_REALTIME);
}

void ferry_mono_cond_init(pthread_cond_t *c)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(c, &ca);
    pthread_condattr_destroy(&ca);
}

struct timespec ferry_mono_timespec(int64_t at_ms)
{
    return (struct timespec){.tv_sec = at_ms / 1000, .tv_nsec = (at_ms % 1000) * 1000000};
}
