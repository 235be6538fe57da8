/* ferry: round-robin placement over a topic's partitions, for `partitioning.mode: round_robin`
 * and `fallback: round_robin` (agent/producer.c).
 *
 * Each pick is the first partition with a leader at or after the one following the last
 * pick, so that events spread evenly over the partitions that have a leader and skip those
 * that have none. When none has a leader, the pick is the next partition in turn anyway (the
 * event waits there for a leader rather than piling up on one partition).
 *
 * A ferry_rr is shared by every thread that produces for one topic: librdkafka calls the
 * partitioner on the producing thread and also on its own thread for events produced before
 * the topic's metadata was known. Picks from several threads at once are serialised by one
 * compare-and-swap: with every partition available, n picks in all give each of cnt
 * partitions n / cnt of them (or one more), whichever thread made them. No locks, no memory
 * allocated, nothing can fail. */
#ifndef FERRY_ROUNDROBIN_H
#define FERRY_ROUNDROBIN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct ferry_rr {
    atomic_uint next; /* where the search for the next partition starts; 0 at first */
};

/* Whether partition has a leader now; called during ferry_rr_pick, on its thread, possibly
 * more than once per pick (when another thread's pick interleaves). */
typedef bool ferry_rr_available_fn(void *opaque, int32_t partition);

/* The partition (0 ≤ result < cnt) for the next event. cnt > 0: the topic's partition count,
 * which may change from one call to the next. */
int32_t ferry_rr_pick(struct ferry_rr *rr, int32_t cnt, ferry_rr_available_fn *available,
                      void *opaque);

#endif
