/* ferry: the sink interface — something that makes a batch of Kafka messages durable,
 * together with the offsets that say how far it got.
 *
 * A sink never knows about files or consumer groups. A worker thread owns one sink: every
 * call below comes from that thread. */
#ifndef FERRY_SINK_H
#define FERRY_SINK_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "ferry/config.h"

struct ferry_batch {
    rd_kafka_message_t **msgs; /* borrowed; in consumption order, several partitions mixed */
    size_t n;
};

struct ferry_sink; /* each implementation defines its own */

struct ferry_sink_ops {
    const char *type;
    /* Connects and prepares (creates tables when configured). `group` is the consumer group
     * the offsets belong to. cfg and group are borrowed and outlive the sink. Returns 0, or
     * FERRY_ERR_RETRY when the server is unreachable (the worker tries again later). */
    int (*open)(struct ferry_sink **out, const struct ferry_worker_config *cfg, const char *group,
                char *err, size_t errlen);
    /* For each partition in parts whose next offset the sink itself stores, sets .offset to it;
     * leaves the others untouched (RD_KAFKA_OFFSET_INVALID: Kafka's committed offset applies).
     * NULL when the sink keeps no offsets. */
    int (*stored_offsets)(struct ferry_sink *sink, rd_kafka_topic_partition_list_t *parts,
                          char *err, size_t errlen);
    /* Writes the batch. 0: durable (with the offsets, for sinks that store them).
     * FERRY_ERR_RETRY: nothing or part of it was written and the sink wants the same batch
     * again later (sinks that store offsets skip what they already have).
     * FERRY_ERR_FATAL: the batch cannot be written as it is. */
    int (*write)(struct ferry_sink *sink, const struct ferry_batch *batch, char *err,
                 size_t errlen);
    void (*close)(struct ferry_sink *sink);
};

/* The sink implementation for `type`; never NULL for a valid enum. */
const struct ferry_sink_ops *ferry_sink_lookup(enum ferry_sink_type type);

extern const struct ferry_sink_ops ferry_sink_mysql;
extern const struct ferry_sink_ops ferry_sink_redis;

#endif
