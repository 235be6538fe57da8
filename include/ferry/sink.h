/* ferry: the sink interface — something that makes a batch of Kafka messages durable,
 * together with the offsets that say how far it got.
 *
 * A sink never knows about files or consumer groups. A worker thread owns one sink: every
 * call below comes from that thread. */
#ifndef FERRY_SINK_H
#define FERRY_SINK_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/config.h"
#include "ferry/schema.h"

/* An event (one of the batch's msgs) the sink cannot write as it is (it does not parse, a value
 * does not convert, the server refuses the row): the worker sends it, unchanged, to the dead-letter
 * topic with `reason` in its headers. Runs on the worker's thread, inside write(); reason is
 * copied. */
typedef void ferry_reject_fn(void *opaque, const rd_kafka_message_t *m, const char *reason);

/* Called by write() once, after every reject and before the sink commits: the worker makes
 * the rejected events durable in the dead-letter topic. 0, or FERRY_ERR_RETRY when that
 * failed: the sink then gives up the transaction and returns FERRY_ERR_RETRY (the batch
 * comes again; the dead-letter topic may see an event twice, the sink never). */
typedef int ferry_before_commit_fn(void *opaque);

struct ferry_batch {
    rd_kafka_message_t **msgs; /* borrowed; in consumption order, several partitions mixed */
    size_t n;
    ferry_reject_fn *reject;               /* never NULL */
    ferry_before_commit_fn *before_commit; /* never NULL */
    void *opaque;
};

struct ferry_sink; /* each implementation defines its own */

/* What a sink counted since it was opened, for /metrics. */
struct ferry_sink_counters {
    uint64_t replayed;  /* events offered again that the sink already had: left out (a batch
                         * written again after a crash, a rebalance or a lost connection) */
    uint64_t conflicts; /* transactions given up because another writer moved an offset of
                         * their partitions (a zombie's, or the new owner's after one) */
    uint64_t refused;   /* commands or rows the server refused for good: left out, counted */
};

struct ferry_sink_ops {
    const char *type; /* what `type` selects it by */
    /* Its own keys, written in the worker's mapping next to the shared ones; the schema
     * engine loads them into a struct of config->size bytes that open() finds with
     * ferry_worker_plugin(cfg) (see include/ferry/schema.h). */
    const struct ferry_section *config;
    /* Connects and prepares (creates tables when configured). `group` is the consumer group
     * the offsets belong to. cfg and group are borrowed and outlive the sink. Returns 0, or
     * FERRY_ERR_RETRY when the server is unreachable: *out is set then too (the sink exists,
     * unconnected; every call below connects again first, and the worker tries later);
     * any other negative ferry_err leaves nothing behind and *out untouched. */
    int (*open)(struct ferry_sink **out, const struct ferry_worker_config *cfg, const char *group,
                char *err, size_t errlen);
    /* For each partition in parts whose next offset the sink itself stores, sets .offset to it;
     * leaves the others untouched (RD_KAFKA_OFFSET_INVALID: Kafka's committed offset applies).
     * NULL when the sink keeps no offsets. */
    int (*stored_offsets)(struct ferry_sink *sink, rd_kafka_topic_partition_list_t *parts,
                          char *err, size_t errlen);
    /* Writes the batch. 0: durable (with the offsets, for sinks that store them), every event
     * either written or rejected (batch->reject), and batch->before_commit called before the
     * sink's commit. FERRY_ERR_RETRY: nothing or part of it was written and the sink wants
     * the same batch again later (sinks that store offsets skip what they already have).
     * FERRY_ERR_FATAL: the batch cannot be written and rejecting events would not help (a
     * missing table, no privilege): the worker retries with backoff, nothing is skipped. */
    int (*write)(struct ferry_sink *sink, const struct ferry_batch *batch, char *err,
                 size_t errlen);
    /* Optional, both or neither: write() in two halves, so that the worker consumes its next
     * batch while the server works. write_begin sends the batch's writes (rejects and
     * before_commit happen here) and returns once they are on their way; write_end waits for
     * them and returns what write() would have. The batch and its messages stay valid until
     * write_end returns; no other call comes in between. */
    int (*write_begin)(struct ferry_sink *sink, const struct ferry_batch *batch, char *err,
                       size_t errlen);
    int (*write_end)(struct ferry_sink *sink, char *err, size_t errlen);
    /* Optional: fills *out with the counts so far. Called on the worker's thread, between
     * writes. */
    void (*counters)(const struct ferry_sink *sink, struct ferry_sink_counters *out);
    /* Frees the sink and closes its connection; NULL is fine. */
    void (*close)(struct ferry_sink *sink);
};

/* The sink whose type is `type` (sinks/registry.c), or NULL; never NULL for the type of a
 * validated worker. */
const struct ferry_sink_ops *ferry_sink_lookup(const char *type);
/* The same table, as the schema engine reads it (the `type` of sinks.workers[]). */
extern const struct ferry_plugins ferry_sink_plugins;

#endif
