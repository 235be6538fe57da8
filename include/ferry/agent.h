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

struct ferry_worker;

int ferry_worker_new(struct ferry_worker **out, const struct ferry_config *cfg,
                     const struct ferry_worker_config *w, const char *bootstrap, char *err,
                     size_t errlen);
int ferry_worker_run(struct ferry_worker *w, volatile sig_atomic_t *stop, char *err, size_t errlen);
/* Events written by the worker's sink so far. */
uint64_t ferry_worker_written(const struct ferry_worker *w);
void ferry_worker_destroy(struct ferry_worker *w);

#endif
