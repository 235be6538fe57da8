/* ferry: the bodies of the runtime's HTTP endpoint, /status (JSON) and /metrics (Prometheus
 * text format 0.0.4). See process/runtime_internal.h. */
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/sink.h"
#include "ferry/version.h"
#include "runtime_internal.h"

/* /status, as JSON. Runs on the HTTP thread: the jobs and the generation are read under mu;
 * role, member_id and url are set before the server starts and never change. */
void ferry_rt_status_fill(void *opaque, struct ferry_buf *out)
{
    struct ferry_rt *rt = opaque;
    char source[1100];
    bool leading = atomic_load(&rt->leading);
    json_t *o = json_object(), *config = json_object(), *workers = json_array(),
           *sources = json_array();

    json_object_set_new(o, "id", json_string(rt->member_id));
    json_object_set_new(o, "role", json_string(rt->role));
    json_object_set_new(o, "version", json_string(FERRY_VERSION));
    json_object_set_new(o, "coordination", rt->have_coord ? json_string(rt->url) : json_null());
    json_object_set_new(o, "leading", json_boolean(leading));
    json_object_set_new(o, "fence",
                        leading && rt->coord ? json_integer(atomic_load(&rt->fence)) : json_null());
    if (rt->o->coord_url)
        snprintf(source, sizeof(source), "%s/config", rt->url);
    else
        snprintf(source, sizeof(source), "%s", rt->o->config_file ? rt->o->config_file : "");
    json_object_set_new(config, "source", json_string(source));
    pthread_mutex_lock(&rt->mu);
    const struct ferry_config *cfg = rt->cur->cfg;
    json_object_set_new(config, "version", json_integer(rt->cur->version));
    for (size_t i = 0; i < rt->nworkers; i++) {
        const struct ferry_rt_job *j = rt->workers[i];
        json_t *w = json_object();
        json_object_set_new(w, "name", json_string(j->w->name));
        json_object_set_new(w, "type", json_string(ferry_sink_lookup(j->w->type)->type));
        json_object_set_new(w, "written",
                            json_integer((json_int_t)ferry_worker_written(j->worker)));
        json_array_append_new(workers, w);
    }
    for (size_t i = 0; rt->o->agent && i < cfg->nsources; i++)
        json_array_append_new(sources, json_string(cfg->sources[i].name));
    pthread_mutex_unlock(&rt->mu);
    json_object_set_new(o, "config", config);
    json_object_set_new(o, "workers", workers);
    json_object_set_new(o, "sources", sources);
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (s && ferry_buf_add(out, s, strlen(s)) == 0)
        ferry_buf_add(out, "\n", 1);
    free(s);
}

static void put(struct ferry_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct ferry_buf *b, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        ferry_buf_add(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* A label value, escaped as the text format wants: backslash, double quote and newline. */
static void put_label(struct ferry_buf *b, const char *v)
{
    for (; *v; v++) {
        const char *e = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ? "\\n" : NULL;
        ferry_buf_add(b, e ? e : v, e ? 2 : 1);
    }
}

static void put_family(struct ferry_buf *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One counter family with a sample per worker (or source): name, help, and where the value
 * lies in the stats struct. */
struct family {
    const char *name, *help;
    size_t at;
};

#define WORKER_FAMILY(n, field, help)                                                              \
    {                                                                                              \
        "ferry_worker_" n "_total", help, offsetof(struct ferry_worker_stats, field)               \
    }
static const struct family worker_families[] = {
    WORKER_FAMILY("events_consumed", consumed,
                  "Events taken from Kafka into a batch; events given back after a failed write "
                  "count again"),
    WORKER_FAMILY("events_written", written,
                  "Events a sink worker wrote, not those the sink had already (replayed); "
                  "from 0 again when a reload restarts the worker"),
    WORKER_FAMILY("write_failures", failed_writes,
                  "Writes that failed; the batch was given back and is written again"),
    WORKER_FAMILY("events_replayed", replayed,
                  "Events offered again that the sink already had, left out (replays after a "
                  "crash, a rebalance or a lost connection)"),
    WORKER_FAMILY("write_conflicts", conflicts,
                  "Transactions given up because another writer moved an offset of their "
                  "partitions"),
    WORKER_FAMILY("events_refused", refused,
                  "Rows or commands the server refused for good, left out and counted"),
    WORKER_FAMILY("events_dead_lettered", dead_lettered, "Events sent to the dead-letter topic"),
    WORKER_FAMILY("partitions_assigned", assigned, "Partitions assigned to the worker"),
    WORKER_FAMILY("partitions_revoked", revoked,
                  "Partitions taken from the worker (revoked or lost)"),
};

#define SOURCE_FAMILY(n, field, help)                                                              \
    {                                                                                              \
        "ferry_source_" n "_total", help, offsetof(struct ferry_source_stats, field)               \
    }
static const struct family source_families[] = {
    SOURCE_FAMILY("events_sent", sent, "Events of a source handed to its Kafka producer"),
    SOURCE_FAMILY("events_acked", acked, "Events of a source Kafka acknowledged"),
    SOURCE_FAMILY("delivery_failures", failed,
                  "Deliveries that failed; the events are read from the source again"),
    SOURCE_FAMILY("events_refused", refused, "Events the producer refused for good (logged)"),
    SOURCE_FAMILY("queue_full", queue_full,
                  "Times reading stopped because the producer's queue was full"),
    SOURCE_FAMILY("events_resent", resent,
                  "Events whose delivery failed, read again from the source and sent again"),
    SOURCE_FAMILY("events_given_up", given_up,
                  "Events whose delivery failed and that the source could not read again (not "
                  "in Kafka, logged)"),
};

static uint64_t field_at(const void *stats, size_t at)
{
    uint64_t v;
    memcpy(&v, (const char *)stats + at, sizeof(v));
    return v;
}

/* Under rt->mu. */
static void put_worker_metrics(struct ferry_buf *out, struct ferry_rt *rt)
{
    struct ferry_worker_stats *st = calloc(rt->nworkers + 1, sizeof(*st));
    if (!st)
        return;
    for (size_t i = 0; i < rt->nworkers; i++)
        ferry_worker_stats(rt->workers[i]->worker, &st[i]);
    for (size_t f = 0; f < sizeof(worker_families) / sizeof(worker_families[0]); f++) {
        put_family(out, worker_families[f].name, "counter", worker_families[f].help);
        for (size_t i = 0; i < rt->nworkers; i++) {
            put(out, "%s{worker=\"", worker_families[f].name);
            put_label(out, rt->workers[i]->w->name);
            put(out, "\"} %" PRIu64 "\n", field_at(&st[i], worker_families[f].at));
        }
    }
    free(st);
}

static void put_source_metrics(struct ferry_buf *out, const struct ferry_agent *a)
{
    size_t n = ferry_agent_nsources(a);
    struct ferry_source_stats *st = calloc(n + 1, sizeof(*st));
    if (!st)
        return;
    for (size_t i = 0; i < n; i++)
        ferry_agent_stats(a, i, &st[i]);
    for (size_t f = 0; f < sizeof(source_families) / sizeof(source_families[0]); f++) {
        put_family(out, source_families[f].name, "counter", source_families[f].help);
        for (size_t i = 0; i < n; i++) {
            put(out, "%s{source=\"", source_families[f].name);
            put_label(out, st[i].name);
            put(out, "\"} %" PRIu64 "\n", field_at(&st[i], source_families[f].at));
        }
    }
    free(st);
}

/* /metrics, in the Prometheus text format 0.0.4. Runs on the HTTP thread, as /status does. */
void ferry_rt_metrics_fill(void *opaque, struct ferry_buf *out)
{
    struct ferry_rt *rt = opaque;
    bool leading = atomic_load(&rt->leading);

    put_family(out, "ferry_up", "gauge", "1 while the process runs");
    put(out, "ferry_up 1\n");
    pthread_mutex_lock(&rt->mu);
    put_worker_metrics(out, rt);
    if (rt->agent)
        put_source_metrics(out, rt->agent->agent);
    pthread_mutex_unlock(&rt->mu);
    put_family(out, "ferry_leader", "gauge", "1 while this process leads (fills the rollups)");
    put(out, "ferry_leader %d\n", leading ? 1 : 0);
    put_family(out, "ferry_leader_fence_token", "gauge",
               "The fencing token of the leadership held; 0 when none");
    put(out, "ferry_leader_fence_token %" PRId64 "\n", leading ? atomic_load(&rt->fence) : 0);
    put_family(out, "ferry_config_reloads_total", "counter",
               "Configurations applied after the first one");
    put(out, "ferry_config_reloads_total %" PRIu64 "\n", atomic_load(&rt->reloads));
    put_family(out, "ferry_config_rejected_total", "counter",
               "Configurations refused (the running one stayed in force)");
    put(out, "ferry_config_rejected_total %" PRIu64 "\n", atomic_load(&rt->rejected));
}
