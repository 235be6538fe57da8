/* ferry: the Kafka side — client configuration, the agent's producer, the embedded cluster. */
#ifndef FERRY_KAFKA_H
#define FERRY_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "ferry/config.h"
#include "ferry/source.h"

enum ferry_kafka_role { FERRY_KAFKA_PRODUCER, FERRY_KAFKA_CONSUMER };

struct ferry_kafka_prop {
    const char *name, *value;
};

/* A librdkafka configuration for one client, with ferry's log and error callbacks, built in
 * this order: `defaults` (n_defaults), bootstrap.servers, kafka.properties, then
 * kafka.producer or kafka.consumer for `role` (so the user's properties override ferry's
 * defaults), and last `fixed` (n_fixed): settings a guarantee depends on, which nothing
 * overrides. Returns NULL with err filled ("kafka property linger.ms: …") on a bad name or
 * value; the caller owns the result until rd_kafka_new takes it. */
rd_kafka_conf_t *ferry_kafka_conf_new(const struct ferry_kafka_config *k,
                                      enum ferry_kafka_role role, const char *bootstrap,
                                      const struct ferry_kafka_prop *defaults, size_t n_defaults,
                                      const struct ferry_kafka_prop *fixed, size_t n_fixed,
                                      char *err, size_t errlen);
/* Sets one property; returns 0 or FERRY_ERR_INVALID with err naming it. */
int ferry_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                         size_t errlen);

/* ---- producer ------------------------------------------------------------------------- */

/* Called from ferry_producer_poll's thread for each delivery report: ok != 0 when the broker
 * acknowledged the message under the source's acks setting. */
typedef void ferry_delivery_fn(void *opaque, uint64_t pos, int ok);

struct ferry_producer;

/* One producer per source: acks and idempotence follow the source's `acks`. */
struct ferry_producer *ferry_producer_new(const struct ferry_kafka_config *k, const char *bootstrap,
                                          const struct ferry_source_config *src,
                                          ferry_delivery_fn *cb, void *opaque, char *err,
                                          size_t errlen);
/* Enqueues ev for the source's topic. 0, FERRY_ERR_AGAIN (queue full: poll and call again),
 * or FERRY_ERR_FATAL (err says why). Not thread-safe against itself. */
int ferry_producer_send(struct ferry_producer *p, const struct ferry_event *ev, char *err,
                        size_t errlen);
/* Serves delivery reports, waiting up to timeout_ms; returns how many were served. */
int ferry_producer_poll(struct ferry_producer *p, int timeout_ms);
/* Messages enqueued and not yet reported. */
int ferry_producer_outq(struct ferry_producer *p);
/* Counters since start. */
uint64_t ferry_producer_acked(const struct ferry_producer *p);
uint64_t ferry_producer_failed(const struct ferry_producer *p);
void ferry_producer_destroy(struct ferry_producer *p);

/* ---- the embedded cluster (librdkafka's mock) ------------------------------------------ */

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
