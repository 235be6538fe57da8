/* ferry: the agent's Kafka producer — one per source. */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/err.h"
#include "ferry/kafka.h"
#include "ferry/log.h"

struct ferry_producer {
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    const struct ferry_source_config *src; /* borrowed */
    ferry_delivery_fn *cb;
    void *opaque;
    uint64_t acked, failed;
};

int ferry_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                         size_t errlen)
{
    char e[512];
    if (rd_kafka_conf_set(conf, name, value, e, sizeof(e)) != RD_KAFKA_CONF_OK)
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "kafka property %s: %s", name, e);
    return 0;
}

/* librdkafka's own log lines, on its internal threads: only format and write. */
static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    enum ferry_log_level l = level <= 3   ? FERRY_LOG_ERROR
                             : level <= 4 ? FERRY_LOG_WARN
                             : level <= 6 ? FERRY_LOG_INFO
                                          : FERRY_LOG_DEBUG;
    ferry_log(l, "kafka", "%s: %s: %s", rd_kafka_name(rk), fac, buf);
}

/* Client-level errors, on the thread that polls the client. Without this callback librdkafka
 * logs every error a second time (facility ERROR) after the line that already said what
 * happened (FAIL, …); here only what that line does not say is logged. */
static void kafka_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    char fatal[512];
    (void)opaque;
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        ferry_error("kafka", "%s: fatal error %s: %s", rd_kafka_name(rk), rd_kafka_err2name(orig),
                    fatal);
    } else if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        ferry_warn("kafka", "%s: all brokers down: %s (retrying; nothing is dropped)",
                   rd_kafka_name(rk), reason);
    } else {
        ferry_debug("kafka", "%s: %s: %s", rd_kafka_name(rk), rd_kafka_err2name(code), reason);
    }
}

/* An empty configuration with ferry's log and error callbacks. */
static rd_kafka_conf_t *kafka_conf_base(char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf) {
        ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "kafka: out of memory");
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, kafka_log);
    rd_kafka_conf_set_error_cb(conf, kafka_error);
    return conf;
}

static int conf_set_kvs(rd_kafka_conf_t *conf, const struct ferry_kvs *kvs, char *err,
                        size_t errlen)
{
    for (size_t i = 0; i < kvs->n; i++)
        if (ferry_kafka_conf_set(conf, kvs->v[i].key, kvs->v[i].value, err, errlen) < 0)
            return FERRY_ERR_INVALID;
    return 0;
}

static int conf_set_props(rd_kafka_conf_t *conf, const struct ferry_kafka_prop *v, size_t n,
                          char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        if (ferry_kafka_conf_set(conf, v[i].name, v[i].value, err, errlen) < 0)
            return FERRY_ERR_INVALID;
    return 0;
}

rd_kafka_conf_t *ferry_kafka_conf_new(const struct ferry_kafka_config *k,
                                      enum ferry_kafka_role role, const char *bootstrap,
                                      const struct ferry_kafka_prop *defaults, size_t n_defaults,
                                      const struct ferry_kafka_prop *fixed, size_t n_fixed,
                                      char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = kafka_conf_base(err, errlen);
    if (!conf)
        return NULL;
    if (conf_set_props(conf, defaults, n_defaults, err, errlen) < 0 ||
        ferry_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, errlen) < 0 ||
        conf_set_kvs(conf, &k->properties, err, errlen) < 0 ||
        conf_set_kvs(conf, role == FERRY_KAFKA_PRODUCER ? &k->producer : &k->consumer, err,
                     errlen) < 0 ||
        conf_set_props(conf, fixed, n_fixed, err, errlen) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

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

struct ferry_producer *ferry_producer_new(const struct ferry_kafka_config *k, const char *bootstrap,
                                          const struct ferry_source_config *src,
                                          ferry_delivery_fn *cb, void *opaque, char *err,
                                          size_t errlen)
{
    struct ferry_producer *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf = NULL;
    char e[512], id[300];

    if (!p) {
        ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "producer: out of memory");
        return NULL;
    }
    p->src = src;
    p->cb = cb;
    p->opaque = opaque;
    snprintf(id, sizeof(id), "ferry-agent-%s", src->name);
    const struct ferry_kafka_prop defaults[] = {
        {"client.id", id},
        /* the Java client's partitioner: keyed events land where Java would put them */
        {"partitioner", "murmur2_random"},
        /* never expire queued messages: a long broker outage must not drop lines */
        {"message.timeout.ms", "0"},
        {"linger.ms", "5"},
        /* no duplicates from retries whenever every replica must have the line */
        {"enable.idempotence", src->acks == FERRY_ACKS_ALL ? "true" : "false"},
    };
    /* the source's `acks` key is the one place acks are chosen */
    const struct ferry_kafka_prop fixed[] = {
        {"acks", src->acks == FERRY_ACKS_ALL      ? "all"
                 : src->acks == FERRY_ACKS_LEADER ? "1"
                                                  : "0"},
    };
    conf = ferry_kafka_conf_new(k, FERRY_KAFKA_PRODUCER, bootstrap, defaults,
                                sizeof(defaults) / sizeof(defaults[0]), fixed,
                                sizeof(fixed) / sizeof(fixed[0]), err, errlen);
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
    p->rkt = rd_kafka_topic_new(p->rk, src->topic, NULL);
    if (!p->rkt) {
        ferry_seterr(err, errlen, FERRY_ERR_FATAL, "producer %s: topic %s: %s", src->name,
                     src->topic, rd_kafka_err2str(rd_kafka_last_error()));
        goto fail;
    }
    return p;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    ferry_producer_destroy(p);
    return NULL;
}

int ferry_producer_send(struct ferry_producer *p, const struct ferry_event *ev, char *err,
                        size_t errlen)
{
    rd_kafka_resp_err_t e =
        rd_kafka_producev(p->rk, RD_KAFKA_V_RKT(p->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_VALUE((void *)ev->data, ev->len),
                          RD_KAFKA_V_KEY(ev->key, ev->key_len), RD_KAFKA_V_TIMESTAMP(ev->ts_ms),
                          RD_KAFKA_V_OPAQUE((void *)(uintptr_t)ev->pos), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        return FERRY_ERR_AGAIN;
    return ferry_seterr(err, errlen, FERRY_ERR_FATAL, "produce to %s: %s", p->src->topic,
                        rd_kafka_err2str(e));
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
    return p->acked;
}

uint64_t ferry_producer_failed(const struct ferry_producer *p)
{
    return p->failed;
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
