/* ferry: the dead-letter topic — where a worker puts events its sink cannot write.
 *
 * A rejected event goes out unchanged (value, key, headers) with these headers added:
 *   ferry.error      why it was rejected ("json: unexpected token near 'x' at 1:5", …)
 *   ferry.topic, ferry.partition, ferry.offset, ferry.timestamp   where it came from
 *   ferry.worker, ferry.group                                    who rejected it
 * The worker collects a batch's rejects (ferry_dlq_add) and, before the sink commits, sends
 * them and waits until Kafka acknowledged every one (ferry_dlq_flush): an event is either in
 * the sink or in the dead-letter topic, never in neither. One worker thread per instance. */
#ifndef FERRY_DLQ_H
#define FERRY_DLQ_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/config.h"

struct ferry_dlq;

/* A producer for cfg->dead_letter_topic (acks=all, idempotent): 0 and *out (the caller owns
 * it: ferry_dlq_destroy), or FERRY_ERR_INVALID (a bad Kafka property) / FERRY_ERR_NOMEM with
 * err, *out untouched. cfg, bootstrap, worker and group are borrowed and outlive it. The
 * worker's thread makes every call; librdkafka's threads only send. */
int ferry_dlq_new(struct ferry_dlq **out, const struct ferry_config *cfg, const char *bootstrap,
                  const char *worker, const char *group, char *err, size_t errlen);
/* Remembers m (borrowed: it must live until the next flush or forget) as rejected for
 * `reason` (copied). Logs the first rejects and then every 1000th, with where they came
 * from. */
void ferry_dlq_add(struct ferry_dlq *d, const rd_kafka_message_t *m, const char *reason);
/* Sends what was added and waits for Kafka (at most 30 s). 0 when every event is
 * acknowledged; FERRY_ERR_RETRY with err otherwise. The list is empty afterwards either way. */
int ferry_dlq_flush(struct ferry_dlq *d, char *err, size_t errlen);
/* Forgets what was added (the batch is given back and will come again). */
void ferry_dlq_forget(struct ferry_dlq *d);
/* Events acknowledged by the dead-letter topic so far; 0 for NULL. Any thread. */
uint64_t ferry_dlq_sent(const struct ferry_dlq *d);
/* Frees d (NULL is fine); events added and not flushed are dropped. */
void ferry_dlq_destroy(struct ferry_dlq *d);

#endif
