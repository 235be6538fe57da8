/* ferry: the Redis sink — command templates run for every event, effectively once.
 *
 * A batch becomes one Lua script call per partition it holds, all pipelined. The script (see
 * APPLY below) reads the partition's stored offset from the hash `ferry:offsets:<group>`
 * (field `<topic>:<partition>`), runs only the commands of events at or above it, and stores
 * the offset after the batch's last event, all in one atomic step: Redis runs a script as a
 * whole. A batch written again after a lost connection, a worker's crash or a rebalance
 * therefore applies nothing twice, INCR-style commands included. On assignment the worker
 * starts each partition at the stored offset (stored_offsets).
 *
 * A command that Redis answers with an error (WRONGTYPE, …) is a problem of that event: the
 * script goes on with the next command (redis.pcall), and the error is logged and counted. An
 * event that lacks a field a command needs skips that command, counted. The guarantee holds
 * per Redis instance: the script touches keys it was not told about, which a Redis Cluster
 * would refuse. */
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/err.h"
#include "ferry/fields.h"
#include "ferry/log.h"
#include "ferry/sink.h"

/* KEYS[1]: hash of stored offsets. ARGV[1]: its field for this partition; ARGV[2]: the offset
 * after the batch's last event of the partition; then per command: the event's offset, the
 * number of arguments, the arguments. Returns {applied, skipped, failed, first error}. */
static const char APPLY[] =
    "local stored = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')\n"
    "local i, applied, skipped, failed, first = 3, 0, 0, 0, ''\n"
    "while i <= #ARGV do\n"
    "  local off, argc = tonumber(ARGV[i]), tonumber(ARGV[i + 1])\n"
    "  if off >= stored then\n"
    "    local r = redis.pcall(unpack(ARGV, i + 2, i + 1 + argc))\n"
    "    if type(r) == 'table' and r.err then\n"
    "      failed = failed + 1\n"
    "      if first == '' then first = r.err end\n"
    "    else\n"
    "      applied = applied + 1\n"
    "    end\n"
    "  else\n"
    "    skipped = skipped + 1\n"
    "  end\n"
    "  i = i + 2 + argc\n"
    "end\n"
    "if tonumber(ARGV[2]) > stored then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end\n"
    "return {applied, skipped, failed, first}\n";

#define MAX_ARGS 64

/* The arguments of one script call: bytes in one arena, positions beside them. */
struct call {
    struct ferry_buf arena;
    size_t *off, *len;
    size_t n, cap;
    const char **argv; /* built when the call is complete */
};

struct ferry_sink {
    const struct ferry_worker_config *cfg;
    redisContext *rc;
    char sha[41]; /* the loaded script's SHA-1; "" until loaded on this connection */
    char *offsets_key;
    struct ferry_parser *parser;
    struct ferry_fields fields;
    struct call call;
    uint64_t parse_errors, missing_fields, command_errors, replayed;
};

static void disconnect(struct ferry_sink *s)
{
    if (s->rc)
        redisFree(s->rc);
    s->rc = NULL;
    s->sha[0] = 0;
}

/* A reply to something ferry sent: NULL (the connection failed: it is closed, err says why) or
 * the reply, which the caller frees. */
static redisReply *roundtrip(struct ferry_sink *s, redisReply *r, char *err, size_t errlen)
{
    if (!r) {
        ferry_seterr(err, errlen, FERRY_ERR_RETRY, "redis %s: %s", s->cfg->name, s->rc->errstr);
        disconnect(s);
    }
    return r;
}

static int command(struct ferry_sink *s, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = roundtrip(s, redisvCommand(s->rc, fmt, ap), err, errlen);
    va_end(ap);
    if (!r)
        return FERRY_ERR_RETRY;
    int bad = r->type == REDIS_REPLY_ERROR;
    if (bad)
        ferry_seterr(err, errlen, FERRY_ERR_FATAL, "redis %s: %s", s->cfg->name, r->str);
    freeReplyObject(r);
    return bad ? FERRY_ERR_FATAL : 0;
}

static int load_script(struct ferry_sink *s, char *err, size_t errlen)
{
    redisReply *r = roundtrip(s, redisCommand(s->rc, "SCRIPT LOAD %s", APPLY), err, errlen);
    if (!r)
        return FERRY_ERR_RETRY;
    int ok = r->type == REDIS_REPLY_STRING && r->len == 40;
    if (ok)
        memcpy(s->sha, r->str, 41);
    else
        ferry_seterr(err, errlen, FERRY_ERR_FATAL, "redis %s: SCRIPT LOAD: %s", s->cfg->name,
                     r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
    return ok ? 0 : FERRY_ERR_FATAL;
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
    if (c->password) { /* with a user: Redis 6's ACL form; a user alone is refused at load */
        rc = c->user ? command(s, err, errlen, "AUTH %s %s", c->user, c->password)
                     : command(s, err, errlen, "AUTH %s", c->password);
        if (rc < 0)
            return rc;
    }
    if (c->db && (rc = command(s, err, errlen, "SELECT %ld", c->db)) < 0)
        return rc;
    return load_script(s, err, errlen);
}

static int redis_open(struct ferry_sink **out, const struct ferry_worker_config *cfg,
                      const char *group, char *err, size_t errlen)
{
    struct ferry_sink *s = calloc(1, sizeof(*s));
    int rc;

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
    }
    size_t n = strlen(group) + sizeof("ferry:offsets:");
    s->offsets_key = malloc(n);
    s->parser = ferry_parser_new(cfg->format, cfg->pattern, err, errlen);
    if (!s->offsets_key || !s->parser) {
        rc = s->parser ? ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "redis: out of memory")
                       : FERRY_ERR_FATAL; /* the parser said why in err */
        free(s->offsets_key);
        ferry_parser_destroy(s->parser);
        free(s);
        return rc;
    }
    snprintf(s->offsets_key, n, "ferry:offsets:%s", group);
    rc = connect_redis(s, err, errlen);
    if (rc == FERRY_ERR_FATAL) { /* AUTH, SELECT or the script refused: configuration */
        disconnect(s);
        ferry_parser_destroy(s->parser);
        free(s->offsets_key);
        free(s);
        return rc;
    }
    *out = s;
    return rc;
}

/* ---- building a script call ------------------------------------------------------------ */

static int call_push(struct call *c, size_t off, size_t len)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        size_t *o = realloc(c->off, cap * sizeof(*o)),
               *l = o ? realloc(c->len, cap * sizeof(*l)) : NULL;
        if (o)
            c->off = o;
        if (l)
            c->len = l;
        if (!o || !l)
            return FERRY_ERR_NOMEM;
        c->cap = cap;
    }
    c->off[c->n] = off;
    c->len[c->n++] = len;
    return 0;
}

/* Adds one argument made with printf. */
static int call_addf(struct call *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int call_addf(struct call *c, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    size_t at = c->arena.len;
    if (n < 0 || (size_t)n >= sizeof(tmp) || ferry_buf_add(&c->arena, tmp, (size_t)n) < 0)
        return FERRY_ERR_NOMEM;
    return call_push(c, at, (size_t)n);
}

static void call_reset(struct call *c)
{
    c->arena.len = 0;
    c->n = 0;
}

static void call_release(struct call *c)
{
    ferry_buf_release(&c->arena);
    free(c->off);
    free(c->len);
    free(c->argv);
}

/* Adds the commands of one event to the call: for each, its offset, its argument count and
 * its expanded arguments. A command that needs a field the event lacks is left out. */
static int add_event(struct ferry_sink *s, const struct ferry_batch *b, size_t index)
{
    const rd_kafka_message_t *m = b->msgs[index];
    struct call *c = &s->call;
    char perr[256];
    rd_kafka_timestamp_type_t tstype;
    const char *topic = rd_kafka_topic_name(m->rkt);

    if (ferry_fields_parse(s->parser, &s->fields, m->payload ? m->payload : "", m->len,
                           rd_kafka_message_timestamp(m, &tstype), perr, sizeof(perr)) < 0) {
        s->parse_errors++;
        b->reject(b->opaque, m, perr); /* its offset still advances with the batch */
        return 0;
    }
    ferry_fields_set_meta(&s->fields, topic, m->partition, m->offset);
    for (size_t k = 0; k < s->cfg->ncommands; k++) {
        const struct ferry_strv *cmd = &s->cfg->commands[k];
        size_t arena = c->arena.len, n = c->n;
        int rc = call_addf(c, "%lld", (long long)m->offset);
        if (rc == 0)
            rc = call_addf(c, "%zu", cmd->n);
        for (size_t a = 0; a < cmd->n && rc == 0; a++) {
            size_t at = c->arena.len;
            rc = ferry_template_expand(cmd->v[a], &s->fields, &c->arena, perr, sizeof(perr));
            if (rc == 0)
                rc = call_push(c, at, c->arena.len - at);
        }
        if (rc == FERRY_ERR_NOMEM)
            return rc;
        if (rc < 0) {
            c->arena.len = arena; /* this command needs a field the event lacks: leave it out */
            c->n = n;
            if (s->missing_fields++ % 1000 == 0)
                ferry_warn("redis", "%s: %s [%d] offset %lld: %s: command %s skipped (%llu so far)",
                           s->cfg->name, topic, m->partition, (long long)m->offset, perr, cmd->v[0],
                           (unsigned long long)s->missing_fields);
        }
    }
    return 0;
}

/* Appends the script call for the events of one partition (topic, partition) to the pipeline. */
static int append_partition(struct ferry_sink *s, const struct ferry_batch *b, const char *topic,
                            int32_t partition)
{
    struct call *c = &s->call;
    int64_t last = -1;
    int rc;

    call_reset(c);
    if ((rc = call_addf(c, "EVALSHA")) < 0 || (rc = call_addf(c, "%s", s->sha)) < 0 ||
        (rc = call_addf(c, "1")) < 0 || (rc = call_addf(c, "%s", s->offsets_key)) < 0 ||
        (rc = call_addf(c, "%s:%d", topic, (int)partition)) < 0 || (rc = call_addf(c, "0")) < 0)
        return rc;
    size_t next_at = c->n - 1; /* ARGV[2], filled in below */
    for (size_t i = 0; i < b->n; i++) {
        const rd_kafka_message_t *m = b->msgs[i];
        if (m->partition != partition || strcmp(rd_kafka_topic_name(m->rkt), topic))
            continue;
        if ((rc = add_event(s, b, i)) < 0)
            return rc;
        last = m->offset;
    }
    size_t at = c->arena.len;
    char next[24];
    int n = snprintf(next, sizeof(next), "%lld", (long long)last + 1);
    if (ferry_buf_add(&c->arena, next, (size_t)n) < 0)
        return FERRY_ERR_NOMEM;
    c->off[next_at] = at;
    c->len[next_at] = (size_t)n;
    const char **argv = realloc(c->argv, c->n * sizeof(*argv));
    if (!argv)
        return FERRY_ERR_NOMEM;
    c->argv = argv;
    for (size_t i = 0; i < c->n; i++)
        argv[i] = c->arena.p + c->off[i];
    return redisAppendCommandArgv(s->rc, (int)c->n, argv, c->len) == REDIS_OK ? 0 : FERRY_ERR_NOMEM;
}

/* Reads one script reply. 0, FERRY_ERR_RETRY (connection lost, or the script vanished with a
 * restarted server: the batch is written again, and nothing is applied twice). */
static int read_reply(struct ferry_sink *s, char *err, size_t errlen)
{
    redisReply *r = NULL;
    if (redisGetReply(s->rc, (void **)&r) != REDIS_OK) {
        int rc =
            ferry_seterr(err, errlen, FERRY_ERR_RETRY, "redis %s: %s", s->cfg->name, s->rc->errstr);
        disconnect(s);
        return rc;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_RETRY, "redis %s: %s", s->cfg->name, r->str);
        if (!strncmp(r->str, "NOSCRIPT", 8))
            s->sha[0] = 0; /* loaded again before the retry */
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 4) {
        uint64_t failed = (uint64_t)r->element[2]->integer, before = s->command_errors;
        s->replayed += (uint64_t)r->element[1]->integer;
        s->command_errors += failed;
        if (failed && (before == 0 || before / 1000 != s->command_errors / 1000))
            ferry_warn("redis",
                       "%s: %llu commands failed in Redis, the first with: %s (%llu so "
                       "far)",
                       s->cfg->name, (unsigned long long)failed, r->element[3]->str,
                       (unsigned long long)s->command_errors);
    }
    freeReplyObject(r);
    return rc;
}

/* The distinct (topic, partition) pairs of a batch, in the order they first appear. */
static size_t partitions_of(const struct ferry_batch *b, const rd_kafka_message_t **first,
                            size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        const rd_kafka_message_t *m = b->msgs[i];
        size_t j = 0;
        while (j < n && (first[j]->partition != m->partition || first[j]->rkt != m->rkt))
            j++;
        if (j == n && n < max)
            first[n++] = m;
    }
    return n;
}

static int redis_write(struct ferry_sink *s, const struct ferry_batch *batch, char *err,
                       size_t errlen)
{
    const rd_kafka_message_t *first[512];
    size_t nparts = partitions_of(batch, first, 512);
    int rc = 0;

    if (!s->rc && (rc = connect_redis(s, err, errlen)) < 0)
        return rc == FERRY_ERR_FATAL ? rc : FERRY_ERR_RETRY;
    if (!s->sha[0] && (rc = load_script(s, err, errlen)) < 0)
        return FERRY_ERR_RETRY;
    if (nparts == 512)
        return ferry_seterr(err, errlen, FERRY_ERR_FATAL,
                            "redis %s: a batch spans more than 511 partitions", s->cfg->name);
    for (size_t p = 0; p < nparts; p++) {
        rc = append_partition(s, batch, rd_kafka_topic_name(first[p]->rkt), first[p]->partition);
        if (rc < 0) {
            disconnect(s); /* part of a pipeline may be queued: start afresh */
            return ferry_seterr(err, errlen, FERRY_ERR_RETRY, "redis %s: out of memory",
                                s->cfg->name);
        }
    }
    /* the scripts are still in hiredis's buffer: the rejected events go first */
    if (batch->before_commit(batch->opaque) < 0) {
        disconnect(s);
        return ferry_seterr(err, errlen, FERRY_ERR_RETRY,
                            "redis %s: rejected events not in the dead-letter topic: batch given "
                            "back",
                            s->cfg->name);
    }
    for (size_t p = 0; p < nparts && s->rc; p++) {
        int r = read_reply(s, err, errlen);
        if (r < 0 && rc == 0)
            rc = r;
    }
    return rc;
}

static int read_offsets(struct ferry_sink *s, rd_kafka_topic_partition_list_t *parts, char *err,
                        size_t errlen)
{
    int rc;
    if (!s->rc && (rc = connect_redis(s, err, errlen)) < 0)
        return rc;
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        redisReply *r = roundtrip(
            s, redisCommand(s->rc, "HGET %s %s:%d", s->offsets_key, p->topic, (int)p->partition),
            err, errlen);
        if (!r)
            return FERRY_ERR_RETRY;
        if (r->type == REDIS_REPLY_STRING)
            p->offset = strtoll(r->str, NULL, 10);
        freeReplyObject(r);
    }
    return 0;
}

/* A connection found closed (a restarted server) is opened again, once. */
static int redis_stored_offsets(struct ferry_sink *s, rd_kafka_topic_partition_list_t *parts,
                                char *err, size_t errlen)
{
    int rc = read_offsets(s, parts, err, errlen);
    return rc == FERRY_ERR_RETRY ? read_offsets(s, parts, err, errlen) : rc;
}

static void redis_close_sink(struct ferry_sink *s)
{
    if (!s)
        return;
    if (s->replayed || s->command_errors || s->missing_fields || s->parse_errors)
        ferry_info("redis",
                   "%s: %llu commands not applied again (already applied before a retry), "
                   "%llu failed in Redis, %llu skipped for a missing field, %llu events not "
                   "parsed (to the dead-letter topic)",
                   s->cfg->name, (unsigned long long)s->replayed,
                   (unsigned long long)s->command_errors, (unsigned long long)s->missing_fields,
                   (unsigned long long)s->parse_errors);
    disconnect(s);
    call_release(&s->call);
    ferry_parser_destroy(s->parser);
    ferry_fields_release(&s->fields);
    free(s->offsets_key);
    free(s);
}

const struct ferry_sink_ops ferry_sink_redis = {
    .type = "redis",
    .open = redis_open,
    .stored_offsets = redis_stored_offsets,
    .write = redis_write,
    .close = redis_close_sink,
};
