/* ferry: the agent's Kafka producer, one per source. Every call comes from the agent's thread;
 * delivery reports are served by ferry_producer_poll on that thread. */
#ifndef FERRY_PRODUCER_H
#define FERRY_PRODUCER_H

#include <stdint.h>

#include "ferry/config.h"
#include "ferry/kafka.h"
#include "ferry/source.h"

/* Called from ferry_producer_poll's thread for each delivery report: ok != 0 when the broker
 * acknowledged the message under the source's acks setting. */
typedef void ferry_delivery_fn(void *opaque, uint64_t pos, int ok);

struct ferry_producer;

/* One producer per source: acks and idempotence follow the source's `acks`, and the topic is
 * checked (an explicit partition it lacks, a topic that does not exist: FERRY_ERR_INVALID; a
 * cluster that does not answer within 5 s is only a warning). 0 and *out (the caller owns it:
 * ferry_producer_destroy), or a negative ferry_err with err, *out untouched. k, bootstrap and
 * src are borrowed and outlive the producer; cb is called with opaque for every delivery
 * report, on the thread that calls ferry_producer_poll. */
int ferry_producer_new(struct ferry_producer **out, const struct ferry_kafka_config *k,
                       const char *bootstrap, const struct ferry_source_config *src,
                       ferry_delivery_fn *cb, void *opaque, char *err, size_t errlen);
/* Enqueues ev for the source's topic. 0, FERRY_ERR_AGAIN (queue full: poll and call again),
 * FERRY_ERR_RETRY (the topic or partition is missing from the metadata, or may not be
 * written, now: send it again later; counted with the failed deliveries), or FERRY_ERR_FATAL
 * (it can never be sent as it is, e.g. too large; err says why). Not thread-safe against
 * itself. */
int ferry_producer_send(struct ferry_producer *p, const struct ferry_event *ev, char *err,
                        size_t errlen);
/* Serves delivery reports, waiting up to timeout_ms; returns how many were served. */
int ferry_producer_poll(struct ferry_producer *p, int timeout_ms);
/* Messages enqueued and not yet reported. */
int ferry_producer_outq(struct ferry_producer *p);
/* Counters since start; any thread. */
uint64_t ferry_producer_acked(const struct ferry_producer *p);
uint64_t ferry_producer_failed(const struct ferry_producer *p);
/* Purges what is still queued (not reported to cb: the source's checkpoint never covered it,
 * so it is read and sent again on the next start) and frees p; NULL is fine. */
void ferry_producer_destroy(struct ferry_producer *p);

#endif
