/* A small deterministic PRNG (xorshift64*) for the unit tests: the same seed gives the same
 * sequence on every machine, so a failing random case can be run again. One per test program,
 * one thread. */
#ifndef FERRY_TEST_RNG_H
#define FERRY_TEST_RNG_H

#include <stddef.h>
#include <stdint.h>

static uint64_t rng_state = 1;

static inline void rng_seed(uint64_t seed)
{
    rng_state = seed ? seed : 1;
}

static inline uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

/* A number in [0, n), n > 0. */
static inline size_t rng_below(size_t n)
{
    return (size_t)(rng_next() % n);
}

#endif
