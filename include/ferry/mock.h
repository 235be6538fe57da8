/* ferry: the embedded cluster (librdkafka's mock): a protocol-real in-memory Kafka for the demo,
 * `kafka.brokers: embedded` and `ferry mock-kafka`. It runs on librdkafka's threads; these calls
 * may come from any one thread at a time. */
#ifndef FERRY_MOCK_H
#define FERRY_MOCK_H

#include <stddef.h>

#include "ferry/config.h"

struct ferry_mock;

struct ferry_mock *ferry_mock_new(int brokers, char *err, size_t errlen);
int ferry_mock_topic(struct ferry_mock *m, const char *topic, int partitions, char *err,
                     size_t errlen);
/* "host:port,…"; valid until ferry_mock_destroy. */
const char *ferry_mock_bootstraps(const struct ferry_mock *m);
/* Takes broker id (1..n) down or up; for fault tests. */
int ferry_mock_broker_set(struct ferry_mock *m, int broker, int up);
void ferry_mock_destroy(struct ferry_mock *m);

/* Starts an embedded cluster holding every topic the configuration names, each with
 * kafka.embedded.partitions partitions. */
struct ferry_mock *ferry_mock_for_config(const struct ferry_config *cfg, char *err, size_t errlen);

#endif
