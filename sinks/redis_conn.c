/* ferry: the Redis sink — connection: connect (AUTH, SELECT, COMMAND INFO of the templates,
 * offsets kept in the older per-group hash copied), round trips, and closing. */
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/err.h"
#include "ferry/log.h"
#include "redis.h"

void ferry_redis_disconnect(struct ferry_sink *s)
{
    if (s->rc)
        redisFree(s->rc);
    s->rc = NULL;
}

/* A reply to something ferry sent: NULL (the connection failed: it is closed, err says why) or
 * the reply, which the caller frees. */
redisReply *ferry_redis_roundtrip(struct ferry_sink *s, redisReply *r, char *err, size_t errlen)
{
    if (!r) {
        ferry_seterr(err, errlen, FERRY_ERR_RETRY, "redis %s: %s", s->cfg->name, s->rc->errstr);
        ferry_redis_disconnect(s);
    }
    return r;
}

/* The next pipelined reply, or NULL with the connection closed and err set. */
redisReply *ferry_redis_next_reply(struct ferry_sink *s, char *err, size_t errlen)
{
    redisReply *r = NULL;
    if (redisGetReply(s->rc, (void **)&r) != REDIS_OK) {
        ferry_seterr(err, errlen, FERRY_ERR_RETRY, "redis %s: %s", s->cfg->name, s->rc->errstr);
        ferry_redis_disconnect(s);
        return NULL;
    }
    return r;
}

static int command(struct ferry_sink *s, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = ferry_redis_roundtrip(s, redisvCommand(s->rc, fmt, ap), err, errlen);
    va_end(ap);
    if (!r)
        return FERRY_ERR_RETRY;
    int bad = r->type == REDIS_REPLY_ERROR;
    if (bad)
        ferry_seterr(err, errlen, FERRY_ERR_FATAL, "redis %s: %s", s->cfg->name, r->str);
    freeReplyObject(r);
    return bad ? FERRY_ERR_FATAL : 0;
}

/* Commands that would break the transaction a batch is written in. */
static bool forbidden(const char *name)
{
    static const char *const names[] = {"MULTI",     "EXEC",       "DISCARD", "WATCH",
                                        "UNWATCH",   "SELECT",     "SWAPDB",  "RESET",
                                        "SUBSCRIBE", "PSUBSCRIBE", "MONITOR"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcasecmp(name, names[i]))
            return true;
    return false;
}

/* Asks the server whether each template names a command it knows, with a number of arguments
 * it accepts: a command Redis would refuse to queue would abort every batch. A server that
 * does not answer COMMAND INFO (renamed, or not allowed to this user) is taken at its word. */
static int check_commands(struct ferry_sink *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < s->rd->ncommands; i++) {
        const struct ferry_strv *cmd = &s->rd->commands[i];
        if (forbidden(cmd->v[0]))
            return ferry_seterr(err, errlen, FERRY_ERR_FATAL,
                                "redis %s: command %zu: %s cannot be a command template",
                                s->cfg->name, i + 1, cmd->v[0]);
        redisReply *r = ferry_redis_roundtrip(s, redisCommand(s->rc, "COMMAND INFO %s", cmd->v[0]),
                                              err, errlen);
        if (!r)
            return FERRY_ERR_RETRY;
        int rc = 0;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
            const redisReply *info = r->element[0];
            if (info->type != REDIS_REPLY_ARRAY) {
                rc = ferry_seterr(err, errlen, FERRY_ERR_FATAL,
                                  "redis %s: command %zu: Redis knows no command %s", s->cfg->name,
                                  i + 1, cmd->v[0]);
            } else if (info->elements > 1 && info->element[1]->type == REDIS_REPLY_INTEGER) {
                long long arity = info->element[1]->integer, argc = (long long)cmd->n;
                if ((arity > 0 && argc != arity) || (arity < 0 && argc < -arity))
                    rc = ferry_seterr(err, errlen, FERRY_ERR_FATAL,
                                      "redis %s: command %zu: %s takes %s%lld arguments with its "
                                      "name, the template has %lld",
                                      s->cfg->name, i + 1, cmd->v[0], arity < 0 ? "at least " : "",
                                      arity < 0 ? -arity : arity, argc);
            }
        }
        freeReplyObject(r);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Offsets stored by earlier versions of ferry, in one hash per group (`ferry:offsets:<group>`,
 * field `<topic>:<partition>`), are copied to the keys of their partitions unless those exist
 * already: without them, a worker would start where Kafka's committed offset is, and apply
 * again what Redis had after it. SET NX: a newer offset is never replaced, and every worker
 * of the group may copy at the same time. The hash is left as it was. */
static int migrate_offsets(struct ferry_sink *s, char *err, size_t errlen)
{
    redisReply *r = ferry_redis_roundtrip(
        s, redisCommand(s->rc, "HGETALL ferry:offsets:%s", s->group), err, errlen);
    if (!r)
        return FERRY_ERR_RETRY;
    size_t copied = 0;
    int rc = 0;
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements && rc == 0; i += 2) {
        redisReply *x = ferry_redis_roundtrip(
            s,
            redisCommand(s->rc, "SET ferry:offsets:%s:%b %b NX", s->group, r->element[i]->str,
                         (size_t)r->element[i]->len, r->element[i + 1]->str,
                         (size_t)r->element[i + 1]->len),
            err, errlen);
        if (!x) {
            rc = FERRY_ERR_RETRY;
            break;
        }
        copied += x->type == REDIS_REPLY_STATUS;
        freeReplyObject(x);
    }
    if (copied)
        ferry_info("redis", "%s: %zu stored offsets copied from the hash ferry:offsets:%s",
                   s->cfg->name, copied, s->group);
    freeReplyObject(r);
    return rc;
}

int ferry_redis_connect(struct ferry_sink *s, char *err, size_t errlen)
{
    const struct ferry_redis_conn_config *c = &s->rd->conn;
    struct timeval tv = {5, 0};
    int rc;

    s->rc = redisConnectWithTimeout(c->host, (int)c->port, tv);
    if (!s->rc || s->rc->err) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_RETRY, "redis %s: connect %s:%ld: %s",
                          s->cfg->name, c->host, c->port, s->rc ? s->rc->errstr : "out of memory");
        ferry_redis_disconnect(s);
        return rc;
    }
    struct timeval io = {60, 0};
    redisSetTimeout(s->rc, io);
    rc = 0;
    if (c->password) /* with a user: Redis 6's ACL form; a user alone is refused at load */
        rc = c->user ? command(s, err, errlen, "AUTH %s %s", c->user, c->password)
                     : command(s, err, errlen, "AUTH %s", c->password);
    if (rc == 0 && c->db)
        rc = command(s, err, errlen, "SELECT %ld", c->db);
    if (rc == 0)
        rc = check_commands(s, err, errlen);
    if (rc == 0)
        rc = migrate_offsets(s, err, errlen);
    if (rc < 0) /* never a connection half set up: the next write would use it as it is */
        ferry_redis_disconnect(s);
    return rc;
}
