/* ferry: the embedded cluster (librdkafka's mock): a protocol-real in-memory Kafka for the demo,
 * `kafka.brokers: embedded` and `ferry mock-kafka`, listening on 127.0.0.1.
 *
 * Threads: the brokers run on librdkafka's own threads. These calls may come from any thread,
 * one at a time (the caller serialises them); ferry_mock_bootstraps from any thread while the
 * cluster lives. */
#ifndef FERRY_MOCK_H
#define FERRY_MOCK_H

#include <stddef.h>

#include "ferry/config.h"

struct ferry_mock;

/* Starts a cluster of `brokers` brokers (ids 1..brokers) holding no topic. Returns 0 and *out
 * (the caller destroys it with ferry_mock_destroy), or a negative ferry_err with err saying
 * why ("mock-kafka: cannot start 3 brokers"); then nothing runs and *out is untouched. */
int ferry_mock_new(struct ferry_mock **out, int brokers, char *err, size_t errlen);

/* Starts a cluster of kafka.embedded.brokers brokers holding every topic cfg names (its
 * sources', its workers' and, with workers, the dead-letter topic), each with
 * kafka.embedded.partitions partitions. cfg is only read during the call. Returns 0 and *out,
 * or a negative ferry_err with err; then nothing runs and *out is untouched. */
int ferry_mock_new_for_config(struct ferry_mock **out, const struct ferry_config *cfg, char *err,
                              size_t errlen);

/* Creates topic (copied) with `partitions` partitions, replication factor 1. 0, or a negative
 * ferry_err with err (the cluster is unchanged). */
int ferry_mock_topic(struct ferry_mock *m, const char *topic, int partitions, char *err,
                     size_t errlen);

/* "host:port,…"; owned by m, valid until ferry_mock_destroy. */
const char *ferry_mock_bootstraps(const struct ferry_mock *m);

/* Takes broker id (1..n) down (connections refused; clients retry) or up again; for fault
 * tests. 0, or FERRY_ERR_INVALID for an unknown broker (nothing changes). */
int ferry_mock_broker_set(struct ferry_mock *m, int broker, int up);

/* Stops the brokers (clients still connected see them go away) and frees m. Accepts NULL. */
void ferry_mock_destroy(struct ferry_mock *m);

#endif
