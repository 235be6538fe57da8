/* ferry: the agent's Kafka producer — one per source. */
#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ferry/clock.h"
#include "ferry/err.h"
#include "ferry/kafka.h"
#include "ferry/log.h"
#include "ferry/producer.h"
#include "ferry/roundrobin.h"

/* How long the agent waits at start for the topic's metadata before carrying on without it. */
#define TOPIC_CHECK_MS 5000

struct ferry_producer {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    const struct ferry_source_config *src;        /* borrowed */
    const struct ferry_partitioning_config *part; /* &src->partitioning */
    ferry_delivery_fn *cb;
    void *opaque;
    _Atomic uint64_t acked, failed; /* read by the HTTP thread too */
    struct ferry_rr rr; /* round robin: where the search for the next partition starts */
    char host[256];     /* the ferry.host header */
    size_t host_len;
};

/* Runs on the thread that calls ferry_producer_poll. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct ferry_producer *p = opaque;
    (void)rk;
    if (m->err) {
        p->failed++;
        ferry_error("producer", "%s: delivery to %s failed: %s", p->src->name,
                    rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
    } else {
        p->acked++;
    }
    if (p->cb)
        p->cb(p->opaque, (uint64_t)(uintptr_t)m->_private, m->err == 0);
}

/* ---- partitioners --------------------------------------------------------------------- */

static bool partition_available(void *opaque, int32_t partition)
{
    return rd_kafka_topic_partition_available(opaque, partition);
}

/* See ferry/roundrobin.h: librdkafka calls partitioners on the producing thread, and also on
 * its own thread for events produced before the topic's metadata was known. */
static int32_t next_available(const rd_kafka_topic_t *rkt, int32_t cnt, struct ferry_producer *p)
{
    return ferry_rr_pick(&p->rr, cnt, partition_available, (void *)rkt);
}

/* partitioning.mode round_robin; any thread (see next_available). */
static int32_t partition_round_robin(const rd_kafka_topic_t *rkt, const void *key, size_t keylen,
                                     int32_t cnt, void *rkt_opaque, void *msg_opaque)
{
    (void)key;
    (void)keylen;
    (void)msg_opaque;
    return next_available(rkt, cnt, rkt_opaque);
}

/* mode key with fallback round_robin: a key (empty ones too) is hashed exactly as
 * partitioner=murmur2_random does; an event without one goes round robin. Any thread. */
static int32_t partition_key_or_next(const rd_kafka_topic_t *rkt, const void *key, size_t keylen,
                                     int32_t cnt, void *rkt_opaque, void *msg_opaque)
{
    if (key)
        return rd_kafka_msg_partitioner_murmur2_random(rkt, key, keylen, cnt, rkt_opaque,
                                                       msg_opaque);
    return next_available(rkt, cnt, rkt_opaque);
}

typedef int32_t partitioner_fn(const rd_kafka_topic_t *, const void *, size_t, int32_t, void *,
                               void *);

/* Our partitioner callback, or NULL when the `partitioner` property does the work. */
static partitioner_fn *partitioner_for(const struct ferry_partitioning_config *c)
{
    if (c->mode == FERRY_PARTITION_ROUND_ROBIN)
        return partition_round_robin;
    if (c->mode == FERRY_PARTITION_KEY && c->fallback == FERRY_FALLBACK_ROUND_ROBIN)
        return partition_key_or_next;
    return NULL;
}

/* ---- creation ------------------------------------------------------------------------- */

static rd_kafka_conf_t *producer_conf(struct ferry_producer *p, const struct ferry_kafka_config *k,
                                      const char *bootstrap, char *err, size_t errlen)
{
    const struct ferry_source_config *src = p->src;
    char id[300];
    snprintf(id, sizeof(id), "ferry-agent-%s", src->name);
    const struct ferry_kafka_prop defaults[] = {
        {"client.id", id},
        /* the Java client's partitioner: keyed events land where Java would put them */
        {"partitioner", "murmur2_random"},
        /* never expire queued messages: a long broker outage must not drop lines */
        {"message.timeout.ms", "0"},
        {"linger.ms", "5"},
        /* the bound of what a source may have in flight: when it is full, reading stops
         * (backpressure). 100,000 messages keep the pipeline full (20,000 cost a third of the
         * throughput in tests/bench/agent.sh); 32 MiB keep long lines from taking the 1 GiB
         * librdkafka would allow */
        {"queue.buffering.max.messages", "100000"},
        {"queue.buffering.max.kbytes", "32768"},
        /* no duplicates from retries whenever every replica must have the line */
        {"enable.idempotence", src->acks == FERRY_ACKS_ALL ? "true" : "false"},
    };
    /* what a guarantee depends on: the source's `acks` key is the one place acks are chosen;
     * keyed placement must stay Java's; a partitioner callback only sees unkeyed events when
     * librdkafka's sticky assignment is off */
    const struct ferry_kafka_prop fixed[] = {
        {"acks", src->acks == FERRY_ACKS_ALL      ? "all"
                 : src->acks == FERRY_ACKS_LEADER ? "1"
                                                  : "0"},
        {"partitioner", "murmur2_random"},
        {"sticky.partitioning.linger.ms", "0"},
    };
    size_t n_fixed = 1;
    if (p->part->mode == FERRY_PARTITION_KEY)
        n_fixed = 2;
    if (partitioner_for(p->part))
        n_fixed = 3;
    return ferry_kafka_conf_new(k, FERRY_KAFKA_PRODUCER, bootstrap, defaults,
                                sizeof(defaults) / sizeof(defaults[0]), fixed, n_fixed, err,
                                errlen);
}

static int producer_topic(struct ferry_producer *p, char *err, size_t errlen)
{
    rd_kafka_topic_conf_t *tc = NULL;
    partitioner_fn *fn = partitioner_for(p->part);
    if (fn) {
        tc = rd_kafka_default_topic_conf_dup(p->rk);
        if (!tc)
            return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "producer: out of memory");
        rd_kafka_topic_conf_set_partitioner_cb(tc, fn);
        rd_kafka_topic_conf_set_opaque(tc, p);
    }
    p->rkt = rd_kafka_topic_new(p->rk, p->src->topic, tc); /* tc is now owned by librdkafka */
    if (!p->rkt)
        return ferry_seterr(err, errlen, FERRY_ERR_FATAL, "source %s: topic %s: %s", p->src->name,
                            p->src->topic, rd_kafka_err2str(rd_kafka_last_error()));
    return 0;
}

/* The topic as the cluster sees it: FERRY_ERR_RETRY (err filled) when it does not exist or
 * lacks the explicit partition, FERRY_ERR_INVALID when it may not be written. */
static int check_topic(struct ferry_producer *p, const rd_kafka_metadata_t *md, char *err,
                       size_t errlen)
{
    const char *name = p->src->name, *topic = p->src->topic;
    const rd_kafka_metadata_topic_t *t = NULL;
    for (int i = 0; i < md->topic_cnt; i++)
        if (!strcmp(md->topics[i].topic, topic))
            t = &md->topics[i];
    if (t && t->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        return ferry_seterr(err, errlen, FERRY_ERR_RETRY, "source %s: topic %s does not exist",
                            name, topic);
    if (t && t->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                            "source %s: topic %s may not be written (authorization failed)", name,
                            topic);
    if (!t || t->err || t->partition_cnt <= 0) {
        ferry_warn("producer", "%s: topic %s: no partitions known yet (%s); carrying on", name,
                   topic, t ? rd_kafka_err2str(t->err) : "not in the metadata");
        return 0;
    }
    long want = p->part->partition;
    if (want >= t->partition_cnt)
        return ferry_seterr(err, errlen, FERRY_ERR_RETRY,
                            "source %s: topic %s has %d partitions (0-%d): partition %ld does "
                            "not exist",
                            name, topic, t->partition_cnt, t->partition_cnt - 1, want);
    ferry_info("producer", "%s: topic %s has %d partitions", name, topic, t->partition_cnt);
    return 0;
}

/* A missing topic or partition is an error only once TOPIC_CHECK_MS have confirmed it: a
 * broker may not know yet of a topic (or partitions) created a moment ago. A cluster that does
 * not answer in time is only a warning: the agent must start during a broker outage, and
 * librdkafka keeps the events until it ends. */
static int producer_check_topic(struct ferry_producer *p, char *err, size_t errlen)
{
    int64_t deadline = ferry_mono_ms() + TOPIC_CHECK_MS;
    for (;;) {
        const rd_kafka_metadata_t *md = NULL;
        int64_t left = deadline - ferry_mono_ms();
        rd_kafka_resp_err_t e =
            rd_kafka_metadata(p->rk, 0, p->rkt, &md, left > 100 ? (int)left : 100);
        if (e) {
            ferry_warn("producer",
                       "%s: no metadata for topic %s within %d ms (%s): starting without "
                       "checking it; events wait in the queue until the cluster answers",
                       p->src->name, p->src->topic, TOPIC_CHECK_MS, rd_kafka_err2str(e));
            return 0;
        }
        int rc = check_topic(p, md, err, errlen);
        rd_kafka_metadata_destroy(md);
        if (rc != FERRY_ERR_RETRY)
            return rc;
        if (ferry_mono_ms() + 250 >= deadline)
            return FERRY_ERR_INVALID;
        usleep(250 * 1000);
    }
}

int ferry_producer_new(struct ferry_producer **out, const struct ferry_kafka_config *k,
                       const char *bootstrap, const struct ferry_source_config *src,
                       ferry_delivery_fn *cb, void *opaque, char *err, size_t errlen)
{
    struct ferry_producer *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf = NULL;
    char e[512];
    int rc = FERRY_ERR_INVALID;

    if (!p)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "producer: out of memory");
    p->src = src;
    p->part = &src->partitioning;
    p->cb = cb;
    p->opaque = opaque;
    if (gethostname(p->host, sizeof(p->host) - 1) < 0)
        snprintf(p->host, sizeof(p->host), "unknown");
    p->host_len = strlen(p->host);
    conf = producer_conf(p, k, bootstrap, err, errlen);
    if (!conf)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
    if (!p->rk) {
        ferry_seterr(err, errlen, FERRY_ERR_INVALID, "producer %s: %s", src->name, e);
        goto fail;
    }
    conf = NULL; /* now owned by p->rk */
    if ((rc = producer_topic(p, err, errlen)) < 0 ||
        (rc = producer_check_topic(p, err, errlen)) < 0)
        goto fail;
    *out = p;
    return 0;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    ferry_producer_destroy(p);
    return rc < 0 ? rc : FERRY_ERR_INVALID;
}

/* ---- sending -------------------------------------------------------------------------- */

/* The partition an event is sent to, or RD_KAFKA_PARTITION_UA: the partitioner decides. */
static int32_t fixed_partition(const struct ferry_partitioning_config *c,
                               const struct ferry_event *ev)
{
    if (c->mode == FERRY_PARTITION_EXPLICIT ||
        (c->mode == FERRY_PARTITION_KEY && !ev->key && c->fallback == FERRY_FALLBACK_EXPLICIT))
        return (int32_t)c->partition;
    return RD_KAFKA_PARTITION_UA;
}

static rd_kafka_vu_t *vu_add(rd_kafka_vu_t *vu, size_t *n, rd_kafka_vtype_t type)
{
    rd_kafka_vu_t *v = &vu[(*n)++];
    v->vtype = type;
    return v;
}

static void vu_mem(rd_kafka_vu_t *vu, size_t *n, rd_kafka_vtype_t type, const void *ptr,
                   size_t size)
{
    rd_kafka_vu_t *v = vu_add(vu, n, type);
    v->u.mem.ptr = (void *)ptr;
    v->u.mem.size = size;
}

/* The provenance headers of ev; NULL when out of memory (the event then goes without).
 *
 * The list is built here and handed over with RD_KAFKA_VTYPE_HEADERS, not added header by
 * header with RD_KAFKA_VTYPE_HEADER: librdkafka 2.0.2's rd_kafka_produceva() frees a list it
 * built itself twice when the partitioner fails (an unknown partition, while a new topic's
 * metadata settles), which crashes the agent. A list the application passes stays the
 * application's when produceva() fails: ferry_producer_send() destroys it then. */
static rd_kafka_headers_t *provenance(const struct ferry_producer *p, const struct ferry_event *ev)
{
    char offset[24];
    rd_kafka_headers_t *h = rd_kafka_headers_new(3);
    if (!h)
        return NULL;
    rd_kafka_header_add(h, "ferry.host", -1, p->host, (ssize_t)p->host_len);
    if (ev->origin)
        rd_kafka_header_add(h, "ferry.path", -1, ev->origin, -1);
    if (ev->offset >= 0) {
        int len = snprintf(offset, sizeof(offset), "%lld", (long long)ev->offset);
        rd_kafka_header_add(h, "ferry.offset", -1, offset, len);
    }
    return h;
}

int ferry_producer_send(struct ferry_producer *p, const struct ferry_event *ev, char *err,
                        size_t errlen)
{
    rd_kafka_vu_t vu[12];
    rd_kafka_headers_t *hdrs = NULL;
    size_t n = 0;
    int32_t part = fixed_partition(p->part, ev);

    vu_add(vu, &n, RD_KAFKA_VTYPE_RKT)->u.rkt = p->rkt;
    vu_add(vu, &n, RD_KAFKA_VTYPE_MSGFLAGS)->u.i = RD_KAFKA_MSG_F_COPY;
    vu_mem(vu, &n, RD_KAFKA_VTYPE_VALUE, ev->data, ev->len);
    if (ev->key) /* an empty key is a key (Java hashes it): only NULL means none */
        vu_mem(vu, &n, RD_KAFKA_VTYPE_KEY, ev->key, ev->key_len);
    if (part != RD_KAFKA_PARTITION_UA)
        vu_add(vu, &n, RD_KAFKA_VTYPE_PARTITION)->u.i32 = part;
    vu_add(vu, &n, RD_KAFKA_VTYPE_TIMESTAMP)->u.i64 = ev->ts_ms;
    vu_add(vu, &n, RD_KAFKA_VTYPE_OPAQUE)->u.ptr = (void *)(uintptr_t)ev->pos;
    if (p->src->headers && (hdrs = provenance(p, ev)))
        vu_add(vu, &n, RD_KAFKA_VTYPE_HEADERS)->u.headers = hdrs;
    rd_kafka_error_t *error = rd_kafka_produceva(p->rk, vu, n);
    if (!error)
        return 0; /* hdrs now belong to the message */
    if (hdrs)
        rd_kafka_headers_destroy(hdrs);
    rd_kafka_resp_err_t e = rd_kafka_error_code(error);
    rd_kafka_error_destroy(error);
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        return FERRY_ERR_AGAIN;
    /* the topic or partition is not in the metadata now (deleted and being created again,
     * shrunk under an explicit partition), or writing it is not allowed now: it may come
     * back, so the event is not given up; counted as a failed delivery */
    bool transient = e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
                     e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
                     e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                     e == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED;
    if (transient)
        atomic_fetch_add_explicit(&p->failed, 1, memory_order_relaxed);
    return ferry_seterr(err, errlen, transient ? FERRY_ERR_RETRY : FERRY_ERR_FATAL,
                        "produce to %s: %s", p->src->topic, rd_kafka_err2str(e));
}

int ferry_producer_poll(struct ferry_producer *p, int timeout_ms)
{
    return rd_kafka_poll(p->rk, timeout_ms);
}

int ferry_producer_outq(struct ferry_producer *p)
{
    return rd_kafka_outq_len(p->rk);
}

uint64_t ferry_producer_acked(const struct ferry_producer *p)
{
    return atomic_load_explicit(&p->acked, memory_order_relaxed);
}

uint64_t ferry_producer_failed(const struct ferry_producer *p)
{
    return atomic_load_explicit(&p->failed, memory_order_relaxed);
}

void ferry_producer_destroy(struct ferry_producer *p)
{
    if (!p)
        return;
    if (p->rk) {
        /* what is still queued is given up: the source's checkpoint never covered it, so it
         * is read and sent again on the next start */
        p->cb = NULL;
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(p->rk, 0);
    }
    if (p->rkt)
        rd_kafka_topic_destroy(p->rkt);
    if (p->rk)
        rd_kafka_destroy(p->rk);
    free(p);
}
