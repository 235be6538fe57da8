/* ferry: librdkafka client configuration, shared by the agent's producers, the workers'
 * consumers and the dead-letter producer: ferry's log and error callbacks, and the order in
 * which ferry's defaults, the user's properties and the settings a guarantee needs apply. */
#include <librdkafka/rdkafka.h>
#include <stdio.h>

#include "ferry/err.h"
#include "ferry/kafka.h"
#include "ferry/log.h"

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
