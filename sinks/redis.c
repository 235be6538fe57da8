/* ferry: the Redis sink — command templates run for every event, pipelined.
 *
 * A batch is appended to the connection as one pipeline and the replies are read back; the
 * batch is durable in Redis once every reply arrived. A command that Redis answers with an
 * error (WRONGTYPE, …) is a problem of that event, logged and counted; a lost connection
 * makes the worker retry the batch on a new connection (at-least-once: commands of a batch
 * that were applied before the loss are applied again). */
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/err.h"
#include "ferry/fields.h"
#include "ferry/log.h"
#include "ferry/sink.h"

#define MAX_ARGS 64

struct ferry_sink {
    const struct ferry_worker_config *cfg;
    redisContext *rc;
    struct ferry_parser *parser;
    struct ferry_fields fields;
    struct ferry_buf args[MAX_ARGS];
    uint64_t parse_errors, missing_fields, command_errors;
};

static void disconnect(struct ferry_sink *s)
{
    if (s->rc)
        redisFree(s->rc);
    s->rc = NULL;
}

static int command(struct ferry_sink *s, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(s->rc, fmt, ap);
    va_end(ap);
    if (!r) {
        ferry_seterr(err, errlen, FERRY_ERR_RETRY, "redis %s: %s", s->cfg->name, s->rc->errstr);
        disconnect(s);
        return FERRY_ERR_RETRY;
    }
    int bad = r->type == REDIS_REPLY_ERROR;
    if (bad)
        ferry_seterr(err, errlen, FERRY_ERR_FATAL, "redis %s: %s", s->cfg->name, r->str);
    freeReplyObject(r);
    return bad ? FERRY_ERR_FATAL : 0;
}

static int connect_redis(struct ferry_sink *s, char *err, size_t errlen)
{
    const struct ferry_redis_config *c = &s->cfg->redis;
    struct timeval tv = {5, 0};
    int rc;

    s->rc = redisConnectWithTimeout(c->host, (int)c->port, tv);
    if (!s->rc || s->rc->err) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_RETRY, "redis %s: connect %s:%ld: %s",
                          s->cfg->name, c->host, c->port, s->rc ? s->rc->errstr : "out of memory");
        disconnect(s);
        return rc;
    }
    struct timeval io = {60, 0};
    redisSetTimeout(s->rc, io);
    if (c->password && (rc = command(s, err, errlen, "AUTH %s", c->password)) < 0)
        return rc;
    if (c->db && (rc = command(s, err, errlen, "SELECT %ld", c->db)) < 0)
        return rc;
    return 0;
}

static int redis_open(struct ferry_sink **out, const struct ferry_worker_config *cfg,
                      const char *group, char *err, size_t errlen)
{
    struct ferry_sink *s = calloc(1, sizeof(*s));
    int rc;
    (void)group;

    if (!s)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "redis: out of memory");
    s->cfg = cfg;
    for (size_t i = 0; i < cfg->ncommands; i++) {
        if (cfg->commands[i].n > MAX_ARGS) {
            free(s);
            return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                                "redis %s: command %zu has more than %d arguments", cfg->name, i,
                                MAX_ARGS);
        }
        for (size_t j = 0; j < cfg->commands[i].n; j++) {
            if (ferry_template_check(cfg->commands[i].v[j], err, errlen) < 0) {
                free(s);
                return FERRY_ERR_INVALID;
            }
        }
    }
    s->parser = ferry_parser_new(cfg->format, err, errlen);
    if (!s->parser) {
        free(s);
        return FERRY_ERR_FATAL;
    }
    rc = connect_redis(s, err, errlen);
    if (rc == FERRY_ERR_FATAL) { /* AUTH or SELECT refused: configuration */
        disconnect(s);
        ferry_parser_destroy(s->parser);
        free(s);
        return rc;
    }
    *out = s;
    return rc;
}

/* Appends the commands of one event to the pipeline; returns how many were appended. */
static int append_event(struct ferry_sink *s, const rd_kafka_message_t *m)
{
    const char *argv[MAX_ARGS];
    size_t argl[MAX_ARGS];
    char perr[256];
    rd_kafka_timestamp_type_t tstype;
    int n = 0;
    const char *topic = rd_kafka_topic_name(m->rkt);

    if (ferry_fields_parse(s->parser, &s->fields, m->payload ? m->payload : "", m->len,
                           rd_kafka_message_timestamp(m, &tstype), perr, sizeof(perr)) < 0) {
        if (s->parse_errors++ % 1000 == 0)
            ferry_warn("redis", "%s: %s [%d] offset %lld: %s (%llu so far)", s->cfg->name, topic,
                       m->partition, (long long)m->offset, perr,
                       (unsigned long long)s->parse_errors);
    }
    ferry_fields_set_meta(&s->fields, topic, m->partition, m->offset);
    for (size_t c = 0; c < s->cfg->ncommands; c++) {
        const struct ferry_strv *cmd = &s->cfg->commands[c];
        int ok = 1;
        for (size_t a = 0; a < cmd->n && ok; a++) {
            s->args[a].len = 0;
            if (ferry_template_expand(cmd->v[a], &s->fields, &s->args[a], perr, sizeof(perr)) < 0)
                ok = 0;
            argv[a] = s->args[a].p;
            argl[a] = s->args[a].len;
        }
        if (!ok) {
            /* this command needs a field the event lacks: skip it, count it */
            if (s->missing_fields++ % 1000 == 0)
                ferry_warn("redis", "%s: %s [%d] offset %lld: %s: command %s skipped (%llu so far)",
                           s->cfg->name, topic, m->partition, (long long)m->offset, perr, cmd->v[0],
                           (unsigned long long)s->missing_fields);
            continue;
        }
        redisAppendCommandArgv(s->rc, (int)cmd->n, argv, argl);
        n++;
    }
    return n;
}

static int redis_write(struct ferry_sink *s, const struct ferry_batch *batch, char *err,
                       size_t errlen)
{
    size_t pending = 0;
    int rc;

    if (!s->rc && (rc = connect_redis(s, err, errlen)) < 0)
        return rc == FERRY_ERR_FATAL ? rc : FERRY_ERR_RETRY;
    for (size_t i = 0; i < batch->n; i++)
        pending += (size_t)append_event(s, batch->msgs[i]);
    for (size_t i = 0; i < pending; i++) {
        redisReply *r = NULL;
        if (redisGetReply(s->rc, (void **)&r) != REDIS_OK) {
            rc = ferry_seterr(err, errlen, FERRY_ERR_RETRY, "redis %s: %s", s->cfg->name,
                              s->rc->errstr);
            disconnect(s);
            return rc;
        }
        if (r->type == REDIS_REPLY_ERROR && s->command_errors++ % 1000 == 0)
            ferry_warn("redis", "%s: command failed: %s (%llu so far)", s->cfg->name, r->str,
                       (unsigned long long)s->command_errors);
        freeReplyObject(r);
    }
    return 0;
}

static void redis_close_sink(struct ferry_sink *s)
{
    if (!s)
        return;
    disconnect(s);
    for (int i = 0; i < MAX_ARGS; i++)
        ferry_buf_release(&s->args[i]);
    ferry_parser_destroy(s->parser);
    ferry_fields_release(&s->fields);
    free(s);
}

const struct ferry_sink_ops ferry_sink_redis = {
    .type = "redis",
    .open = redis_open,
    .stored_offsets = NULL,
    .write = redis_write,
    .close = redis_close_sink,
};
