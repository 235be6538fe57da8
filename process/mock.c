/* ferry: the embedded Kafka cluster — librdkafka's mock brokers, served on 127.0.0.1.
 *
 * The mock speaks the real protocol on real sockets, so ferry's producers and consumers reach
 * it exactly as they reach a broker. It cannot create topics through the protocol: every
 * topic is created here, up front. It keeps a few MiB per partition. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/err.h"
#include "ferry/log.h"
#include "ferry/mock.h"

struct ferry_mock {
    rd_kafka_t *rk; /* owns the mock cluster's threads; never produces */
    rd_kafka_mock_cluster_t *mc;
    char *bootstraps;
};

static void mock_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* runs on librdkafka's threads: only format and write */
    (void)rk;
    if (level <= 3)
        ferry_error("mock-kafka", "%s: %s", fac, buf);
}

int ferry_mock_new(struct ferry_mock **out, int brokers, char *err, size_t errlen)
{
    struct ferry_mock *m = calloc(1, sizeof(*m));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char e[256];
    int rc;

    if (!m || !conf) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "mock-kafka: out of memory");
        goto fail;
    }
    rd_kafka_conf_set_log_cb(conf, mock_log);
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof(e));
    if (!m->rk) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_FATAL, "mock-kafka: %s", e);
        goto fail;
    }
    conf = NULL; /* now owned by m->rk */
    m->mc = rd_kafka_mock_cluster_new(m->rk, brokers);
    if (!m->mc) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_FATAL, "mock-kafka: cannot start %d brokers",
                          brokers);
        goto fail;
    }
    m->bootstraps = strdup(rd_kafka_mock_cluster_bootstraps(m->mc));
    if (!m->bootstraps) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "mock-kafka: out of memory");
        goto fail;
    }
    *out = m;
    return 0;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    ferry_mock_destroy(m);
    return rc;
}

int ferry_mock_topic(struct ferry_mock *m, const char *topic, int partitions, char *err,
                     size_t errlen)
{
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(m->mc, topic, partitions, 1);
    if (e)
        return ferry_seterr(err, errlen, FERRY_ERR_FATAL, "mock-kafka: create topic %s: %s", topic,
                            rd_kafka_err2str(e));
    return 0;
}

const char *ferry_mock_bootstraps(const struct ferry_mock *m)
{
    return m->bootstraps;
}

int ferry_mock_broker_set(struct ferry_mock *m, int broker, int up)
{
    rd_kafka_resp_err_t e = up ? rd_kafka_mock_broker_set_up(m->mc, broker)
                               : rd_kafka_mock_broker_set_down(m->mc, broker);
    return e ? FERRY_ERR_INVALID : 0;
}

void ferry_mock_destroy(struct ferry_mock *m)
{
    if (!m)
        return;
    if (m->mc)
        rd_kafka_mock_cluster_destroy(m->mc);
    if (m->rk)
        rd_kafka_destroy(m->rk);
    free(m->bootstraps);
    free(m);
}

static int seen(char **names, size_t n, const char *t)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(names[i], t))
            return 1;
    return 0;
}

/* The distinct topic names cfg has Kafka hold (borrowed from cfg), into names (room for
 * every source, every worker topic and the dead-letter topic). Returns how many. */
static size_t config_topics(const struct ferry_config *cfg, char **names)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg->nsources; i++)
        if (!seen(names, n, cfg->sources[i].topic))
            names[n++] = cfg->sources[i].topic;
    for (size_t i = 0; i < cfg->nworkers; i++)
        for (size_t j = 0; j < cfg->workers[i].topics.n; j++)
            if (!seen(names, n, cfg->workers[i].topics.v[j]))
                names[n++] = cfg->workers[i].topics.v[j];
    if (cfg->nworkers && cfg->dead_letter_topic && !seen(names, n, cfg->dead_letter_topic))
        names[n++] = cfg->dead_letter_topic;
    return n;
}

int ferry_mock_new_for_config(struct ferry_mock **out, const struct ferry_config *cfg, char *err,
                              size_t errlen)
{
    struct ferry_mock *m = NULL;
    size_t cap = cfg->nsources + 2, n;
    char **names = NULL;
    int rc;

    for (size_t i = 0; i < cfg->nworkers; i++)
        cap += cfg->workers[i].topics.n;
    if ((rc = ferry_mock_new(&m, (int)cfg->kafka.embedded_brokers, err, errlen)) < 0)
        return rc;
    if (!(names = calloc(cap, sizeof(*names)))) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "mock-kafka: out of memory");
        goto fail;
    }
    n = config_topics(cfg, names);
    for (size_t i = 0; i < n; i++)
        if ((rc = ferry_mock_topic(m, names[i], (int)cfg->kafka.embedded_partitions, err, errlen)) <
            0)
            goto fail;
    ferry_info("mock-kafka", "embedded cluster of %ld brokers at %s, %zu topics of %ld partitions",
               cfg->kafka.embedded_brokers, m->bootstraps, n, cfg->kafka.embedded_partitions);
    free(names);
    *out = m;
    return 0;
fail:
    free(names);
    ferry_mock_destroy(m);
    return rc;
}
