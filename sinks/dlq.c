/* ferry: the dead-letter topic's producer. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/dlq.h"
#include "ferry/err.h"
#include "ferry/kafka.h"
#include "ferry/log.h"

#define FLUSH_MS 30000

struct reject {
    const rd_kafka_message_t *m; /* borrowed from the worker's batch */
    char *reason;
};

struct ferry_dlq {
    const struct ferry_config *cfg;
    const char *worker, *group;
    rd_kafka_t *rk;
    struct reject *v;
    size_t n, cap;
    uint64_t added, failed; /* failed: delivery reports with an error, this flush */
    _Atomic uint64_t sent;  /* read by the HTTP thread too */
    bool dropped;           /* an add found no memory: this batch must come again */
};

/* Delivery reports, inside rd_kafka_flush on the worker's thread. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct ferry_dlq *d = opaque;
    (void)rk;
    if (m->err) {
        d->failed++;
        ferry_error("dlq", "%s: %s: %s", d->worker, d->cfg->dead_letter_topic,
                    rd_kafka_err2str(m->err));
    } else {
        d->sent++;
    }
}

int ferry_dlq_new(struct ferry_dlq **out, const struct ferry_config *cfg, const char *bootstrap,
                  const char *worker, const char *group, char *err, size_t errlen)
{
    struct ferry_dlq *d = calloc(1, sizeof(*d));
    char id[300], e[512];
    if (!d)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "dlq: out of memory");
    d->cfg = cfg;
    d->worker = worker;
    d->group = group;
    snprintf(id, sizeof(id), "ferry-dlq-%s", worker);
    const struct ferry_kafka_prop defaults[] = {{"client.id", id}, {"linger.ms", "0"}};
    /* a flush that gives up must not leave events queued forever: they would arrive after the
     * batch was given back, and again with it */
    const struct ferry_kafka_prop fixed[] = {
        {"acks", "all"}, {"enable.idempotence", "true"}, {"message.timeout.ms", "30000"}};
    rd_kafka_conf_t *conf = ferry_kafka_conf_new(&cfg->kafka, FERRY_KAFKA_PRODUCER, bootstrap,
                                                 defaults, 2, fixed, 3, err, errlen);
    if (!conf) {
        free(d);
        return FERRY_ERR_INVALID;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, d);
    d->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
    if (!d->rk) {
        rd_kafka_conf_destroy(conf);
        free(d);
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "dlq %s: %s", worker, e);
    }
    *out = d; /* conf now owned by d->rk */
    return 0;
}

void ferry_dlq_add(struct ferry_dlq *d, const rd_kafka_message_t *m, const char *reason)
{
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        struct reject *v = realloc(d->v, cap * sizeof(*v));
        if (!v) {
            d->dropped = true; /* flush fails, and the batch comes again */
            return;
        }
        d->v = v;
        d->cap = cap;
    }
    char *r = strdup(reason);
    if (!r)
        d->dropped = true;
    d->v[d->n++] = (struct reject){m, r};
    if (d->added++ < 10 || d->added % 1000 == 0)
        ferry_warn("dlq", "%s: %s [%d] offset %lld to %s: %s (%llu so far)", d->worker,
                   rd_kafka_topic_name(m->rkt), m->partition, (long long)m->offset,
                   d->cfg->dead_letter_topic, reason, (unsigned long long)d->added);
}

void ferry_dlq_forget(struct ferry_dlq *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->v[i].reason);
    d->n = 0;
    d->dropped = false;
}

static rd_kafka_headers_t *headers_for(struct ferry_dlq *d, const struct reject *r)
{
    rd_kafka_headers_t *orig = NULL, *h;
    /* librdkafka parses the headers lazily, into the message: hence not const */
    rd_kafka_message_t *m = (rd_kafka_message_t *)r->m;
    rd_kafka_timestamp_type_t tstype;
    char part[16], off[24], ts[24];

    h = rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR
            ? rd_kafka_headers_copy(orig)
            : rd_kafka_headers_new(8);
    snprintf(part, sizeof(part), "%d", (int)m->partition);
    snprintf(off, sizeof(off), "%lld", (long long)m->offset);
    snprintf(ts, sizeof(ts), "%lld", (long long)rd_kafka_message_timestamp(m, &tstype));
    rd_kafka_header_add(h, "ferry.error", -1, r->reason ? r->reason : "rejected", -1);
    rd_kafka_header_add(h, "ferry.topic", -1, rd_kafka_topic_name(m->rkt), -1);
    rd_kafka_header_add(h, "ferry.partition", -1, part, -1);
    rd_kafka_header_add(h, "ferry.offset", -1, off, -1);
    rd_kafka_header_add(h, "ferry.timestamp", -1, ts, -1);
    rd_kafka_header_add(h, "ferry.worker", -1, d->worker, -1);
    rd_kafka_header_add(h, "ferry.group", -1, d->group, -1);
    return h;
}

int ferry_dlq_flush(struct ferry_dlq *d, char *err, size_t errlen)
{
    size_t n = d->n;
    int rc = 0;
    if (d->dropped) {
        ferry_dlq_forget(d);
        return ferry_seterr(err, errlen, FERRY_ERR_RETRY, "dead-letter topic: out of memory");
    }
    if (!n)
        return 0;
    d->failed = 0;
    uint64_t before = d->sent;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct reject *r = &d->v[i];
        rd_kafka_headers_t *h = headers_for(d, r);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            d->rk, RD_KAFKA_V_TOPIC(d->cfg->dead_letter_topic),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(r->m->payload, r->m->len),
            RD_KAFKA_V_KEY(r->m->key, r->m->key_len), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        if (e) {
            rd_kafka_headers_destroy(h); /* not taken */
            rc = ferry_seterr(err, errlen, FERRY_ERR_RETRY, "dead-letter topic %s: %s",
                              d->cfg->dead_letter_topic, rd_kafka_err2str(e));
        }
    }
    rd_kafka_flush(d->rk, FLUSH_MS);
    if (rc == 0 && (d->failed || d->sent - before < n))
        rc = ferry_seterr(err, errlen, FERRY_ERR_RETRY,
                          "dead-letter topic %s: %llu of %zu rejected events not acknowledged",
                          d->cfg->dead_letter_topic, (unsigned long long)(n - (d->sent - before)),
                          n);
    ferry_dlq_forget(d);
    return rc;
}

uint64_t ferry_dlq_sent(const struct ferry_dlq *d)
{
    return d ? atomic_load_explicit(&d->sent, memory_order_relaxed) : 0;
}

void ferry_dlq_destroy(struct ferry_dlq *d)
{
    if (!d)
        return;
    ferry_dlq_forget(d);
    free(d->v);
    if (d->rk) {
        rd_kafka_flush(d->rk, 5000);
        rd_kafka_destroy(d->rk);
    }
    free(d);
}
