/* ferry: the source interface — something that reads events and is told when Kafka has
 * acknowledged them.
 *
 * A source never knows about Kafka. The agent calls poll() on its own thread; poll() hands
 * each event to an emitter, which returns FERRY_ERR_AGAIN when the producer's queue is full:
 * the source then keeps that event and offers it again on a later poll (nothing is dropped,
 * reading simply stops). Every emitted event carries a position token; acked() returns that
 * token once Kafka has the event durably, and checkpoint() persists, per input, the highest
 * offset below which every event was acknowledged. */
#ifndef FERRY_SOURCE_H
#define FERRY_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/config.h"
#include "ferry/schema.h"

struct ferry_event {
    const char *data; /* borrowed: valid until the emitter returns */
    size_t len;
    const char *key; /* NULL: the partitioner decides */
    size_t key_len;
    int64_t ts_ms;      /* event time, ms since the epoch */
    uint64_t pos;       /* source-defined position token, returned through acked() */
    const char *origin; /* where it came from (a file's path, "-" for stdin); borrowed like
                           data; NULL when the source has no such notion */
    int64_t offset;     /* byte offset of the event's first byte in its origin; -1 if none */
};

/* Returns 0 when the event was taken, FERRY_ERR_AGAIN when there is no room now (offer it
 * again later), or another negative ferry_err when it can never be taken. */
typedef int ferry_emit_fn(void *opaque, const struct ferry_event *ev);

struct ferry_emit {
    ferry_emit_fn *fn;
    void *opaque;
};

struct ferry_source; /* each implementation defines its own */

struct ferry_source_ops {
    const char *type; /* what `type` selects it by */
    /* Its own keys, written in the source's mapping next to the shared ones; the schema
     * engine loads them into a struct of config->size bytes that open() finds with
     * ferry_source_plugin(cfg) (see include/ferry/schema.h). */
    const struct ferry_section *config;
    /* Creates the source: 0 and *out (the agent owns it: close), or a negative ferry_err with
     * err filled and nothing left behind (*out untouched). cfg and state_dir are borrowed and
     * outlive the source. Every call below comes from the agent's thread, one at a time,
     * unless it says otherwise. */
    int (*open)(struct ferry_source **out, const struct ferry_source_config *cfg,
                const char *state_dir, char *err, size_t errlen);
    /* Reads what is available and emits it; returns the number of events emitted (≥ 0) or a
     * negative ferry_err. Never blocks longer than timeout_ms. */
    int (*poll)(struct ferry_source *src, const struct ferry_emit *emit, int timeout_ms);
    /* Kafka acknowledged (ok != 0) or gave up on (ok == 0) the event with token pos. */
    void (*acked)(struct ferry_source *src, uint64_t pos, int ok);
    /* Persists the acknowledged watermark of every input; 0 or a negative ferry_err. */
    int (*checkpoint)(struct ferry_source *src, char *err, size_t errlen);
    /* Events emitted and not yet acknowledged. */
    uint64_t (*in_flight)(const struct ferry_source *src);
    /* The input ended for good and every event was emitted (standard input closed). NULL for
     * sources that never end (files may always grow). */
    bool (*finished)(const struct ferry_source *src);
    /* Of the events Kafka gave up on: how many were read again and emitted again (*resent),
     * and how many could not be (*given_up: not in Kafka, logged). Any thread: the HTTP
     * thread reads them while the agent's thread counts. NULL for sources that cannot read an
     * event twice. */
    void (*redelivered)(const struct ferry_source *src, uint64_t *resent, uint64_t *given_up);
    /* Frees the source; unacknowledged events are not checkpointed (they are read again on
     * the next start). */
    void (*close)(struct ferry_source *src);
};

/* The source whose type is `type` (sources/registry.c), or NULL; never NULL for the type of
 * a validated source. */
const struct ferry_source_ops *ferry_source_lookup(const char *type);
/* The same table, as the schema engine reads it (the `type` of agent.sources[]). */
extern const struct ferry_plugins ferry_source_plugins;

#endif
