/* ferry: the two runtimes — the agent (sources -> Kafka) and the sink workers (Kafka -> sinks).
 *
 * Each runs on the thread that calls its _run function until *stop becomes non-zero (set it
 * from a signal handler or another thread), then shuts down cleanly: the agent stops reading,
 * waits up to shutdown_timeout_ms for acknowledgements and writes its checkpoints; a worker
 * finishes or abandons its batch and commits what its sink made durable. */
#ifndef FERRY_AGENT_H
#define FERRY_AGENT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/config.h"

struct ferry_agent;

/* cfg and bootstrap are borrowed and must outlive the agent. */
int ferry_agent_new(struct ferry_agent **out, const struct ferry_config *cfg, const char *bootstrap,
                    char *err, size_t errlen);
/* Returns 0 after a clean stop, or a negative ferry_err (err says why). */
int ferry_agent_run(struct ferry_agent *a, volatile sig_atomic_t *stop, char *err, size_t errlen);
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

int ferry_worker_new(struct ferry_worker **out, const struct ferry_config *cfg,
                     const struct ferry_worker_config *w, const char *bootstrap, char *err,
                     size_t errlen);
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
void ferry_worker_destroy(struct ferry_worker *w);

#endif
