/* ferry: a sink worker — one consumer in the worker's group, one sink, one thread.
 *
 * Offsets: enable.auto.offset.store is off; an offset is stored only after the sink made
 * the batch durable, and auto-commit (plus a synchronous commit on every revoke and at
 * close) sends stored offsets to Kafka. On every assignment the worker asks the sink for the
 * offsets it keeps itself (MySQL's ferry_offsets) and starts there; Kafka's committed offset
 * is used where the sink keeps none.
 *
 * Batches: up to batch.max_rows events or batch.max_ms of waiting. A batch never spans a
 * rebalance: revoke writes it first. A sink that writes in two halves (write_begin, write_end:
 * Redis) has one batch in flight while the next is gathered: it is confirmed, and its offsets
 * stored, before the next is sent, before any rebalance is handled and at the stop; when it
 * fails, it and the batch gathered after it are given back together. When the sink fails, the
 * batch's partitions are sought back to the batch's first offsets, the whole assignment is paused,
 * and after a backoff (exponential, jittered, at most 30 s) consumption resumes and the same events
 * come again. Memory is bounded by max_rows plus librdkafka's fetch queue
 * (queued.max.messages.kbytes). */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ferry/agent.h"
#include "ferry/clock.h"
#include "ferry/dlq.h"
#include "ferry/err.h"
#include "ferry/kafka.h"
#include "ferry/log.h"
#include "ferry/sink.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 30000
#define STOP_POLL_MS   100 /* the longest wait for a message before looking at the stop flag */

struct ferry_worker {
    const struct ferry_config *cfg;
    const struct ferry_worker_config *w;
    char group[512];
    rd_kafka_t *rk;
    const struct ferry_sink_ops *ops;
    struct ferry_sink *sink;
    struct ferry_dlq *dlq;
    rd_kafka_message_t **batch;
    size_t n;
    /* a sink with write_begin/write_end: the batch sent and not yet confirmed (its array
     * swaps with batch), while the next one is consumed */
    rd_kafka_message_t **flying;
    size_t nflying;
    struct ferry_batch flying_batch;
    uint64_t flying_replayed; /* of its events, those the sink counted as had before */
    int64_t batch_started_ms;
    int backoff_ms;
    /* counters, read by the HTTP thread too */
    _Atomic uint64_t consumed, written, failures, replayed, conflicts, refused, assigned, revoked;
    unsigned int seed;
};

static void count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* The sink's own counts, copied where the HTTP thread reads them. Returns how many events
 * the sink left out as already written since the last call: a write that succeeded made only
 * the others durable. Worker's thread. */
static uint64_t sync_counters(struct ferry_worker *wk)
{
    struct ferry_sink_counters c = {0};
    if (!wk->sink || !wk->ops->counters)
        return 0;
    wk->ops->counters(wk->sink, &c);
    uint64_t before = atomic_exchange_explicit(&wk->replayed, c.replayed, memory_order_relaxed);
    atomic_store_explicit(&wk->conflicts, c.conflicts, memory_order_relaxed);
    atomic_store_explicit(&wk->refused, c.refused, memory_order_relaxed);
    return c.replayed > before ? c.replayed - before : 0;
}

/* The first (rewind) or next (store) offset of every partition in msgs. */
static rd_kafka_topic_partition_list_t *offsets_of(rd_kafka_message_t **msgs, size_t n, int next)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = msgs[i];
        const char *t = rd_kafka_topic_name(m->rkt);
        rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(l, t, m->partition);
        if (!p) {
            p = rd_kafka_topic_partition_list_add(l, t, m->partition);
            p->offset = m->offset + (next ? 1 : 0);
        } else if (next) {
            p->offset = m->offset + 1;
        }
    }
    return l;
}

static void drop_msgs(rd_kafka_message_t **msgs, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        rd_kafka_message_destroy(msgs[i]);
    *n = 0;
}

static void drop_batch(struct ferry_worker *wk)
{
    drop_msgs(wk->batch, &wk->n);
}

/* Gives msgs back: their partitions are sought to their first offsets so that the same
 * events are consumed again. */
static void rewind_msgs(struct ferry_worker *wk, rd_kafka_message_t **msgs, size_t *n)
{
    if (!*n)
        return;
    rd_kafka_topic_partition_list_t *l = offsets_of(msgs, *n, 0);
    rd_kafka_error_t *e = rd_kafka_seek_partitions(wk->rk, l, 5000);
    if (e) {
        ferry_error("worker", "%s: seek back: %s", wk->w->name, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].err)
            ferry_error("worker", "%s: seek %s [%d] to %" PRId64 ": %s", wk->w->name,
                        l->elems[i].topic, l->elems[i].partition, l->elems[i].offset,
                        rd_kafka_err2str(l->elems[i].err));
    rd_kafka_topic_partition_list_destroy(l);
    drop_msgs(msgs, n);
}

/* Gives the batch back, and the one in flight before it (whose offsets come first). */
static void rewind_batch(struct ferry_worker *wk)
{
    rewind_msgs(wk, wk->batch, &wk->n);
    rewind_msgs(wk, wk->flying, &wk->nflying);
}

/* The sink cannot write event m of the batch: it goes to the dead-letter topic. */
static void on_reject(void *opaque, const rd_kafka_message_t *m, const char *reason)
{
    struct ferry_worker *wk = opaque;
    ferry_dlq_add(wk->dlq, m, reason);
}

/* Before the sink commits: the rejected events are in the dead-letter topic. */
static int on_before_commit(void *opaque)
{
    struct ferry_worker *wk = opaque;
    char err[512];
    int rc = ferry_dlq_flush(wk->dlq, err, sizeof(err));
    if (rc < 0)
        ferry_error("worker", "%s: %s", wk->w->name, err);
    return rc;
}

/* msgs are durable: their offsets are stored, they are dropped. `replayed` of them the sink
 * had before this write (left out): they are not counted as written again. */
static void written(struct ferry_worker *wk, rd_kafka_message_t **msgs, size_t *n,
                    uint64_t replayed)
{
    rd_kafka_topic_partition_list_t *l = offsets_of(msgs, *n, 1);
    rd_kafka_resp_err_t e = rd_kafka_offsets_store(wk->rk, l);
    if (e && e != RD_KAFKA_RESP_ERR__STATE) /* __STATE: partition no longer assigned */
        ferry_warn("worker", "%s: store offsets: %s", wk->w->name, rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
    count(&wk->written, *n > replayed ? *n - replayed : 0);
    drop_msgs(msgs, n);
    wk->backoff_ms = 0;
}

/* A write of n events failed with rc: counted, logged, and everything given back (rewound).
 * Returns rc. */
static int write_failed(struct ferry_worker *wk, size_t n, int rc, const char *err)
{
    count(&wk->failures, 1);
    ferry_error("worker", "%s: write of %zu events failed: %s", wk->w->name, n, err);
    rewind_batch(wk);
    return rc;
}

/* Waits for the batch in flight. 0 when it is durable and its offsets stored; otherwise it
 * and the batch being gathered are given back (rewound). */
static int flush_end(struct ferry_worker *wk)
{
    char err[1024];
    if (!wk->nflying)
        return 0;
    int rc = wk->ops->write_end(wk->sink, err, sizeof(err));
    uint64_t replayed = wk->flying_replayed + sync_counters(wk);
    wk->flying_replayed = 0;
    if (rc < 0)
        return write_failed(wk, wk->nflying, rc, err);
    written(wk, wk->flying, &wk->nflying, replayed);
    return 0;
}

/* Sends the batch (the one in flight, if any, ended first): it becomes the one in flight. On
 * failure everything is given back. */
static int flush_begin(struct ferry_worker *wk)
{
    char err[1024];
    int rc = flush_end(wk);
    if (rc < 0 || !wk->n)
        return rc;
    wk->flying_batch = (struct ferry_batch){wk->batch, wk->n, on_reject, on_before_commit, wk};
    rc = wk->ops->write_begin(wk->sink, &wk->flying_batch, err, sizeof(err));
    wk->flying_replayed = sync_counters(wk);
    ferry_dlq_forget(wk->dlq); /* flushed by before_commit, or the batch comes again */
    if (rc < 0)
        return write_failed(wk, wk->n, rc, err);
    rd_kafka_message_t **swap = wk->flying;
    wk->flying = wk->batch;
    wk->nflying = wk->n;
    wk->batch = swap;
    wk->n = 0;
    return 0;
}

/* Writes the batch (and the one in flight). Returns 0 when everything is durable and its
 * offsets stored; otherwise everything was given back. */
static int flush(struct ferry_worker *wk)
{
    char err[1024];
    struct ferry_batch b = {wk->batch, wk->n, on_reject, on_before_commit, wk};
    int rc;

    if (wk->ops->write_begin) {
        rc = flush_begin(wk);
        return rc < 0 ? rc : flush_end(wk);
    }
    if (!wk->n)
        return 0;
    rc = wk->ops->write(wk->sink, &b, err, sizeof(err));
    uint64_t replayed = sync_counters(wk);
    ferry_dlq_forget(wk->dlq); /* flushed by before_commit, or the batch comes again */
    if (rc < 0)
        return write_failed(wk, wk->n, rc, err);
    written(wk, wk->batch, &wk->n, replayed);
    return 0;
}

static void commit_sync(struct ferry_worker *wk)
{
    rd_kafka_resp_err_t e = rd_kafka_commit(wk->rk, NULL, 0);
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
        ferry_warn("worker", "%s: commit: %s", wk->w->name, rd_kafka_err2str(e));
}

/* Runs inside rd_kafka_consumer_poll, on the worker's thread. */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t e,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct ferry_worker *wk = opaque;
    int cooperative = !strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE");
    char err[512];

    if (e == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (wk->nflying) /* the sink answers nothing else before it */
            flush_end(wk);
        if (wk->ops->stored_offsets &&
            wk->ops->stored_offsets(wk->sink, parts, err, sizeof(err)) < 0)
            /* safe: Kafka's committed offsets never pass the sink's, and the sink skips what
             * it already has */
            ferry_warn("worker", "%s: %s: starting from Kafka's committed offsets", wk->w->name,
                       err);
        for (int i = 0; i < parts->cnt; i++)
            ferry_info("worker", "%s: assigned %s [%d] at %s", wk->w->name, parts->elems[i].topic,
                       parts->elems[i].partition,
                       parts->elems[i].offset >= 0 ? "the sink's offset" : "the committed offset");
        count(&wk->assigned, (uint64_t)parts->cnt);
        rd_kafka_error_t *x = NULL;
        if (cooperative)
            x = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        if (x) {
            ferry_error("worker", "%s: assign: %s", wk->w->name, rd_kafka_error_string(x));
            rd_kafka_error_destroy(x);
        }
        return;
    }
    /* revoke (or an error): finish the batches, commit, give the partitions up */
    flush(wk); /* what fails is given back */
    commit_sync(wk);
    count(&wk->revoked, parts ? (uint64_t)parts->cnt : 0);
    ferry_info("worker", "%s: %d partitions revoked", wk->w->name, parts ? parts->cnt : 0);
    if (cooperative) {
        rd_kafka_error_t *x = rd_kafka_incremental_unassign(rk, parts);
        if (x)
            rd_kafka_error_destroy(x);
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

/* The consumer's configuration: ferry's defaults, the user's properties, then what the
 * guarantee needs. NULL with err on a bad property. */
static rd_kafka_conf_t *consumer_conf(struct ferry_worker *wk, const char *bootstrap, char *err,
                                      size_t errlen)
{
    char id[600];
    snprintf(id, sizeof(id), "ferry-sink-%s", wk->w->name);
    const struct ferry_kafka_prop defaults[] = {
        {"client.id", id},
        {"enable.auto.commit", "true"},
        {"auto.offset.reset", "earliest"},
        /* the embedded cluster holds a rebalance for session.timeout.ms - 1 s */
        {"session.timeout.ms", wk->cfg->kafka.embedded ? "6000" : "45000"},
        /* a subscribed topic that does not exist yet (or is not in the metadata of the broker
         * asked) is looked for again after this, not after librdkafka's 5 minutes */
        {"topic.metadata.refresh.interval.ms", "10000"},
        /* prefetch bounded by bytes, not by librdkafka's 100,000 messages, which left the
         * worker waiting on fetches (tests/bench/sink.sh: 147k -> 369k Redis commands/s).
         * 64 MiB per worker is the bound: librdkafka 2.0.2 stops fetching for about half a
         * second each time its queue reaches the bound (it has no fetch.queue.backoff.ms),
         * which 32 MiB made happen twice per million events when a worker catches up */
        {"queued.min.messages", "1000000"},
        {"queued.max.messages.kbytes", "65536"},
    };
    /* the guarantee depends on these: offsets are stored only after the sink's write */
    const struct ferry_kafka_prop fixed[] = {
        {"enable.auto.offset.store", "false"},
        {"group.id", wk->group},
    };
    return ferry_kafka_conf_new(&wk->cfg->kafka, FERRY_KAFKA_CONSUMER, bootstrap, defaults,
                                sizeof(defaults) / sizeof(defaults[0]), fixed,
                                sizeof(fixed) / sizeof(fixed[0]), err, errlen);
}

int ferry_worker_new(struct ferry_worker **out, const struct ferry_config *cfg,
                     const struct ferry_worker_config *w, const char *bootstrap, char *err,
                     size_t errlen)
{
    struct ferry_worker *wk = calloc(1, sizeof(*wk));
    rd_kafka_conf_t *conf = NULL;
    char e[512];
    int rc = FERRY_ERR_INVALID;

    if (!wk)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "worker: out of memory");
    wk->cfg = cfg;
    wk->w = w;
    wk->ops = ferry_sink_lookup(w->type);
    wk->seed = (unsigned int)(time(NULL) ^ (uintptr_t)wk);
    snprintf(wk->group, sizeof(wk->group), "%s.%s", cfg->group, w->name);
    wk->batch = calloc((size_t)w->batch_max_rows, sizeof(*wk->batch));
    wk->flying = calloc((size_t)w->batch_max_rows, sizeof(*wk->flying));
    if (!wk->batch || !wk->flying) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "worker: out of memory");
        goto fail;
    }
    if (!(conf = consumer_conf(wk, bootstrap, err, errlen)))
        goto fail;
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_opaque(conf, wk);

    if ((rc = ferry_dlq_new(&wk->dlq, cfg, bootstrap, w->name, wk->group, err, errlen)) < 0)
        goto fail;
    rc = wk->ops->open(&wk->sink, w, wk->group, err, errlen);
    if (rc == FERRY_ERR_RETRY) {
        ferry_warn("worker", "%s: %s: will retry", w->name, err);
    } else if (rc < 0) {
        goto fail;
    }
    wk->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
    if (!wk->rk) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_INVALID, "worker %s: %s", w->name, e);
        goto fail;
    }
    conf = NULL; /* now owned by wk->rk */
    rd_kafka_poll_set_consumer(wk->rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new((int)w->topics.n);
    for (size_t i = 0; i < w->topics.n; i++)
        rd_kafka_topic_partition_list_add(topics, w->topics.v[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t se = rd_kafka_subscribe(wk->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (se) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_FATAL, "worker %s: subscribe: %s", w->name,
                          rd_kafka_err2str(se));
        goto fail;
    }
    *out = wk;
    return 0;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    ferry_worker_destroy(wk);
    return rc < 0 ? rc : FERRY_ERR_INVALID;
}

/* After a failed write: pause everything, wait out the backoff while serving the group, and
 * resume. The batch was given back (rewound) before. */
static void back_off(struct ferry_worker *wk, volatile sig_atomic_t *stop)
{
    rd_kafka_topic_partition_list_t *assigned = NULL;

    wk->backoff_ms = wk->backoff_ms ? wk->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (wk->backoff_ms > BACKOFF_MAX_MS)
        wk->backoff_ms = BACKOFF_MAX_MS;
    int wait = wk->backoff_ms / 2 + rand_r(&wk->seed) % (wk->backoff_ms / 2 + 1);
    ferry_info("worker", "%s: pausing for %d ms", wk->w->name, wait);
    if (rd_kafka_assignment(wk->rk, &assigned) == 0)
        rd_kafka_pause_partitions(wk->rk, assigned);
    int64_t until = ferry_coarse_ms() + wait;
    /* messages fetched before the pause are given back too: each partition is sought to the
     * lowest offset seen, so that a later message of it never moves the position past an
     * earlier one */
    rd_kafka_topic_partition_list_t *seen = rd_kafka_topic_partition_list_new(8);
    while (!*stop && ferry_coarse_ms() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(wk->rk, 100);
        if (m && !m->err) {
            const char *t = rd_kafka_topic_name(m->rkt);
            rd_kafka_topic_partition_t *p =
                rd_kafka_topic_partition_list_find(seen, t, m->partition);
            if (!p)
                (p = rd_kafka_topic_partition_list_add(seen, t, m->partition))->offset = m->offset;
            else if (m->offset < p->offset)
                p->offset = m->offset;
            rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(l, t, m->partition)->offset = p->offset;
            rd_kafka_error_t *e = rd_kafka_seek_partitions(wk->rk, l, 5000);
            if (e)
                rd_kafka_error_destroy(e);
            rd_kafka_topic_partition_list_destroy(l);
        }
        if (m)
            rd_kafka_message_destroy(m);
    }
    rd_kafka_topic_partition_list_destroy(seen);
    /* the assignment may have changed meanwhile: resume what is assigned now */
    if (assigned)
        rd_kafka_topic_partition_list_destroy(assigned);
    if (rd_kafka_assignment(wk->rk, &assigned) == 0) {
        rd_kafka_resume_partitions(wk->rk, assigned);
        rd_kafka_topic_partition_list_destroy(assigned);
    }
}

int ferry_worker_run(struct ferry_worker *wk, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    ferry_info("worker", "%s: %s worker in group %s, batches of up to %ld events or %ld ms",
               wk->w->name, wk->ops->type, wk->group, wk->w->batch_max_rows, wk->w->batch_max_ms);
    while (!*stop) {
        /* never longer than STOP_POLL_MS: *stop is looked at between polls, and a batch's
         * deadline (batch.max_ms, up to 10 min) would otherwise hold up the stop */
        int timeout = STOP_POLL_MS;
        if (wk->n) {
            int64_t left = wk->batch_started_ms + wk->w->batch_max_ms - ferry_coarse_ms();
            timeout = left < 0 ? 0 : left < STOP_POLL_MS ? (int)left : STOP_POLL_MS;
        }
        if (wk->nflying && timeout > 5)
            timeout = 5; /* a batch in flight is confirmed as soon as nothing else comes */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(wk->rk, timeout);
        if (m && m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                ferry_warn("worker", "%s: consumer: %s", wk->w->name, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
        } else if (m) {
            if (!wk->n)
                wk->batch_started_ms = ferry_coarse_ms();
            wk->batch[wk->n++] = m;
            count(&wk->consumed, 1);
        }
        if (wk->n && ((size_t)wk->n >= (size_t)wk->w->batch_max_rows ||
                      ferry_coarse_ms() >= wk->batch_started_ms + wk->w->batch_max_ms)) {
            /* a two-half sink: sent now, confirmed while the next batch is gathered */
            if ((wk->ops->write_begin ? flush_begin(wk) : flush(wk)) < 0)
                back_off(wk, stop); /* everything was given back */
        } else if (wk->nflying && !m && flush_end(wk) < 0) {
            back_off(wk, stop);
        }
    }
    /* last batches, then leave the group: close revokes (committing) and commits once more */
    flush(wk); /* what fails is given back */
    commit_sync(wk);
    rd_kafka_consumer_close(wk->rk);
    ferry_info("worker",
               "%s: stopped; %llu events written, %llu to the dead-letter topic, %llu failed "
               "writes",
               wk->w->name, (unsigned long long)ferry_worker_written(wk),
               (unsigned long long)ferry_dlq_sent(wk->dlq),
               (unsigned long long)atomic_load(&wk->failures));
    return 0;
}

uint64_t ferry_worker_written(const struct ferry_worker *wk)
{
    return atomic_load_explicit(&wk->written, memory_order_relaxed);
}

void ferry_worker_stats(const struct ferry_worker *wk, struct ferry_worker_stats *out)
{
    *out = (struct ferry_worker_stats){
        .consumed = atomic_load_explicit(&wk->consumed, memory_order_relaxed),
        .written = atomic_load_explicit(&wk->written, memory_order_relaxed),
        .failed_writes = atomic_load_explicit(&wk->failures, memory_order_relaxed),
        .replayed = atomic_load_explicit(&wk->replayed, memory_order_relaxed),
        .conflicts = atomic_load_explicit(&wk->conflicts, memory_order_relaxed),
        .refused = atomic_load_explicit(&wk->refused, memory_order_relaxed),
        .dead_lettered = ferry_dlq_sent(wk->dlq),
        .assigned = atomic_load_explicit(&wk->assigned, memory_order_relaxed),
        .revoked = atomic_load_explicit(&wk->revoked, memory_order_relaxed),
    };
}

void ferry_worker_destroy(struct ferry_worker *wk)
{
    if (!wk)
        return;
    if (wk->batch)
        drop_batch(wk);
    if (wk->flying)
        drop_msgs(wk->flying, &wk->nflying);
    if (wk->rk)
        rd_kafka_destroy(wk->rk);
    if (wk->sink)
        wk->ops->close(wk->sink);
    ferry_dlq_destroy(wk->dlq);
    free(wk->batch);
    free(wk->flying);
    free(wk);
}
