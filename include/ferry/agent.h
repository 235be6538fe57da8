/* ferry: the two runtimes — the agent (sources -> Kafka) and the sink workers (Kafka -> sinks).
 *
 * Each runs on the thread that calls its _run function until *stop becomes non-zero (set it
 * from a signal handler or another thread), then shuts down cleanly: the agent stops reading,
 * waits up to shutdown_timeout_ms for acknowledgements and writes its checkpoints; a worker
 * writes or gives back its batch and commits what its sink made durable.
 *
 * Threads: _new on any thread; _run on one thread, once; _destroy after _run returned (or
 * instead of it), from any one thread. The _stats, _nsources and _written readers may be
 * called from any thread between _new and _destroy, also while _run runs. */
#ifndef FERRY_AGENT_H
#define FERRY_AGENT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/config.h"

struct ferry_agent;

/* Opens every source of cfg (reading its checkpoint) and a producer for each. cfg and
 * bootstrap are borrowed and must outlive the agent. Returns 0 and *out (the caller destroys
 * it), or a negative ferry_err with err saying what failed; then whatever was
 * opened is closed again and *out is untouched. */
int ferry_agent_new(struct ferry_agent **out, const struct ferry_config *cfg, const char *bootstrap,
                    char *err, size_t errlen);
/* Reads the sources into Kafka until *stop is set, or until every source ended (standard input
 * closed) and Kafka acknowledged all. Returns 0 then: what goes wrong while it runs (a failed
 * delivery, a refused event) is logged, counted or retried, never returned; err and errlen
 * are not written today. */
int ferry_agent_run(struct ferry_agent *a, volatile sig_atomic_t *stop, char *err, size_t errlen);
/* Closes the sources and producers (what Kafka did not acknowledge is read again at the next
 * start) and frees a. Accepts NULL. */
void ferry_agent_destroy(struct ferry_agent *a);

/* What the agent counted for one source since it started. */
struct ferry_source_stats {
    const char *name;    /* the source's name; borrowed from the configuration */
    uint64_t sent;       /* events handed to the producer */
    uint64_t acked;      /* events Kafka acknowledged */
    uint64_t failed;     /* deliveries that failed (the events are read again) */
    uint64_t refused;    /* events the producer refused for good (logged) */
    uint64_t queue_full; /* times reading stopped because the producer's queue was full */
    uint64_t resent;     /* failed deliveries read again from the source and sent again */
    uint64_t given_up;   /* failed deliveries the source could not read again (lost, logged) */
};

/* How many sources the agent runs. Any thread. */
size_t ferry_agent_nsources(const struct ferry_agent *a);
/* A snapshot of source i's counters (i < ferry_agent_nsources). Any thread: each field is read
 * atomically, the set is not one instant. */
void ferry_agent_stats(const struct ferry_agent *a, size_t i, struct ferry_source_stats *out);

struct ferry_worker;

/* Makes worker w of cfg: its consumer in group <sinks.group>.<w->name>, subscribed to w's
 * topics, its sink (a sink that cannot connect yet is tried again when the worker runs) and
 * its dead-letter producer. cfg, w and bootstrap are borrowed and must outlive the worker.
 * Returns 0 and *out (the caller destroys it), or a negative ferry_err with err saying what
 * failed; then nothing of the worker is left and *out is untouched. */
int ferry_worker_new(struct ferry_worker **out, const struct ferry_config *cfg,
                     const struct ferry_worker_config *w, const char *bootstrap, char *err,
                     size_t errlen);
/* Consumes and writes batches until *stop is set, then writes or gives back the last batch,
 * commits and leaves the group. Returns 0: a failed write is retried after a backoff, never
 * returned; err and errlen are not written today. */
int ferry_worker_run(struct ferry_worker *w, volatile sig_atomic_t *stop, char *err, size_t errlen);
/* Events written by the worker's sink so far. Any thread. */
uint64_t ferry_worker_written(const struct ferry_worker *w);

/* What a worker counted since it started (a reload that restarts it starts from 0). */
struct ferry_worker_stats {
    uint64_t consumed;      /* events taken from Kafka into a batch (again after a give-back) */
    uint64_t written;       /* events made durable by the sink (not those it had already) */
    uint64_t failed_writes; /* writes that failed: the batch was given back and comes again */
    uint64_t replayed;      /* events offered again that the sink already had (skipped) */
    uint64_t conflicts;     /* transactions given up: another writer moved an offset */
    uint64_t refused;       /* rows or commands the server refused for good (counted) */
    uint64_t dead_lettered; /* events sent to the dead-letter topic */
    uint64_t assigned;      /* partitions assigned to the worker */
    uint64_t revoked;       /* partitions taken from it (revoked or lost) */
};

/* A snapshot of w's counters. Any thread (the HTTP endpoint's): each field is read atomically,
 * the set is not one instant. */
void ferry_worker_stats(const struct ferry_worker *w, struct ferry_worker_stats *out);
/* Destroys the consumer (after ferry_worker_run it has left the group already), closes the sink
 * and the dead-letter producer, and frees w. Accepts NULL. */
void ferry_worker_destroy(struct ferry_worker *w);

#endif
