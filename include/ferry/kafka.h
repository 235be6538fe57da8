/* ferry: librdkafka client configuration, one place for every client ferry makes (the agent's
 * producers, the workers' consumers, the dead-letter producer). Any thread. */
#ifndef FERRY_KAFKA_H
#define FERRY_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "ferry/config.h"

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

#endif
