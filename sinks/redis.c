/* ferry: the Redis sink — command templates run for every event, effectively once.
 *
 * Each (topic, partition) keeps the offset of the next event to apply in a key of its own,
 * `ferry:offsets:<group>:<topic>:<partition>`. A batch is written as one optimistic
 * transaction, all of it pipelined in two round trips:
 *
 *   WATCH <offset keys of the batch's partitions>   MGET <the same keys>
 *   MULTI  <the commands of every event at or above its partition's stored offset>
 *          MSET <offset keys> <offset after each partition's last event>  EXEC
 *
 * Events below the stored offset were applied before (a batch written again after a lost
 * connection, a crash or a rebalance) and are left out. If any offset key changed between
 * WATCH and EXEC, another writer took over a partition: Redis runs nothing, and the batch is
 * tried again from the MGET. Either every command of the batch and the new offsets are
 * applied, or none: INCR-style commands are never applied twice. Redis runs the commands
 * natively (a Lua script costs it about three times as much per command).
 *
 * A command that Redis refuses while running it (WRONGTYPE, …) fails alone: its error is in
 * EXEC's answer, logged and counted, and the others are applied. A command Redis refuses to
 * queue (an unknown command, a wrong number of arguments) is a configuration error found at
 * start-up by COMMAND INFO. An event that lacks a field a command needs skips that command,
 * counted. The guarantee holds per Redis instance. */
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/err.h"
#include "ferry/fields.h"
#include "ferry/log.h"
#include "ferry/sink.h"
#include "redis.h"
#include "redis_proto.h"

#define MAX_ARGS  FERRY_REDIS_MAX_ARGS
#define MAX_PARTS FERRY_REDIS_MAX_PARTS

static int redis_open(struct ferry_sink **out, const struct ferry_worker_config *cfg,
                      const char *group, char *err, size_t errlen)
{
    struct ferry_sink *s = calloc(1, sizeof(*s));
    int rc;

    if (!s)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "redis: out of memory");
    s->cfg = cfg;
    s->rd = ferry_worker_plugin(cfg);
    s->group = group;
    for (size_t i = 0; i < s->rd->ncommands; i++) {
        if (s->rd->commands[i].n > MAX_ARGS) {
            free(s);
            return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                                "redis %s: command %zu has more than %d arguments", cfg->name, i,
                                MAX_ARGS);
        }
    }
    if (ferry_parser_new(&s->parser, cfg->format, cfg->pattern, err, errlen) < 0) {
        free(s);
        return FERRY_ERR_FATAL; /* the parser said why in err */
    }
    rc = ferry_redis_connect(s, err, errlen);
    if (rc == FERRY_ERR_FATAL) { /* AUTH, SELECT or a command template refused: configuration */
        ferry_redis_disconnect(s);
        ferry_parser_destroy(s->parser);
        free(s);
        return rc;
    }
    *out = s;
    return rc;
}

/* ---- a batch ------------------------------------------------------------------------------ */

/* Commands are laid out in Redis's protocol by ferry itself (sinks/redis_proto.c), into one
 * buffer per round trip: hiredis would allocate and format every command on its own. */
/* The message a partition's entry was made for. */
static const rd_kafka_message_t *first_of(const struct ferry_redis_part *p)
{
    return p->first;
}

/* Hands what s->out holds to hiredis (sent with the next read of a reply). */
static int out_flush(struct ferry_sink *s)
{
    int rc =
        redisAppendFormattedCommand(s->rc, s->out.p, s->out.len) == REDIS_OK ? 0 : FERRY_ERR_NOMEM;
    s->out.len = 0;
    return rc;
}

/* Appends the partition's offset key to s->keys and remembers where. */
static int add_key(struct ferry_sink *s, struct ferry_redis_part *p)
{
    const rd_kafka_message_t *m = first_of(p);
    return ferry_redis_offset_key(&s->keys, s->group, rd_kafka_topic_name(m->rkt), m->partition, p);
}

/* The partition of event m among s->parts. */
static struct ferry_redis_part *part_of(struct ferry_sink *s, const rd_kafka_message_t *m)
{
    for (size_t j = 0; j < s->nparts; j++) {
        struct ferry_redis_part *p = &s->parts[j];
        if (first_of(p)->partition == m->partition && first_of(p)->rkt == m->rkt)
            return p;
    }
    return NULL;
}

/* Fills s->parts with the distinct partitions of the batch and their offset keys. */
static int collect_parts(struct ferry_sink *s, const struct ferry_batch *b, char *err,
                         size_t errlen)
{
    s->nparts = 0;
    s->keys.len = 0;
    for (size_t i = 0; i < b->n; i++) {
        const rd_kafka_message_t *m = b->msgs[i];
        struct ferry_redis_part *p = part_of(s, m);
        if (!p) {
            if (s->nparts == MAX_PARTS)
                return ferry_seterr(err, errlen, FERRY_ERR_FATAL,
                                    "redis %s: a batch spans more than %d partitions", s->cfg->name,
                                    MAX_PARTS);
            p = &s->parts[s->nparts++];
            p->first = m;
            p->stored = -1;
            if (add_key(s, p) < 0)
                return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "redis: out of memory");
        }
        p->next = m->offset + 1;
    }
    return 0;
}

/* Writes VERB followed by the offset keys of every partition (with each next offset when
 * `values`; only those that move forward) to s->out. Returns how many keys it named, or
 * FERRY_ERR_NOMEM. */
static int append_keys(struct ferry_sink *s, const char *verb, bool values)
{
    return ferry_redis_append_keys(&s->out, verb, s->parts, s->nparts, s->keys.p, values);
}

/* WATCH the batch's offset keys and read them (one round trip): fills parts[].stored. */
static int read_stored(struct ferry_sink *s, char *err, size_t errlen)
{
    s->out.len = 0;
    if (append_keys(s, "WATCH", false) < 0 || append_keys(s, "MGET", false) < 0 || out_flush(s) < 0)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "redis: out of memory");
    redisReply *w = ferry_redis_next_reply(s, err, errlen),
               *r = w ? ferry_redis_next_reply(s, err, errlen) : NULL;
    int rc = 0;
    if (!r) {
        rc = FERRY_ERR_RETRY;
    } else if (w->type == REDIS_REPLY_ERROR || r->type != REDIS_REPLY_ARRAY ||
               r->elements != s->nparts) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_RETRY, "redis %s: WATCH/MGET: %s", s->cfg->name,
                          w->type == REDIS_REPLY_ERROR   ? w->str
                          : r->type == REDIS_REPLY_ERROR ? r->str
                                                         : "unexpected reply");
        /* a WATCH that Redis took (it does while loading or running a script, when it refuses
         * MGET) would stay on the connection and abort the next EXEC for a change made
         * meanwhile, such as the keys a loading Redis reads from its files: start afresh */
        ferry_redis_disconnect(s);
    } else {
        for (size_t j = 0; j < s->nparts; j++)
            if (r->element[j]->type == REDIS_REPLY_STRING)
                s->parts[j].stored = strtoll(r->element[j]->str, NULL, 10);
    }
    if (w)
        freeReplyObject(w);
    if (r)
        freeReplyObject(r);
    return rc;
}

static bool is_refused(const struct ferry_sink *s, size_t at)
{
    for (size_t i = 0; i < s->nrefused; i++)
        if (s->refused[i].at == at)
            return true;
    return false;
}

/* Errors Redis gives while queueing that pass: out of memory, a replica, a busy or loading
 * server, a failed snapshot. The batch is tried again later, whole. Any other refusal of a
 * command (NOPERM: the ACL user may not touch a key built from the event) would come back
 * every time: that command is left out and counted, as a command failing in EXEC is. */
static bool transient_refusal(const char *e)
{
    static const char *const codes[] = {"OOM",        "READONLY", "MISCONF",    "LOADING",
                                        "BUSY",       "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN",
                                        "NOREPLICAS", "NOTREADY"};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        size_t n = strlen(codes[i]);
        if (!strncmp(e, codes[i], n) && (e[n] == ' ' || e[n] == '\0'))
            return true;
    }
    return false;
}

/* Appends the commands of one event to the transaction: a command that needs a field the
 * event lacks is left out. Returns how many it appended, or FERRY_ERR_NOMEM. */
static int append_event(struct ferry_sink *s, const struct ferry_batch *b, size_t index)
{
    const rd_kafka_message_t *m = b->msgs[index];
    const char *argv[MAX_ARGS];
    size_t lens[MAX_ARGS], offs[MAX_ARGS];
    char perr[256];
    rd_kafka_timestamp_type_t tstype;
    const char *topic = rd_kafka_topic_name(m->rkt);
    int appended = 0;

    if (ferry_fields_parse(s->parser, &s->fields, m->payload ? m->payload : "", m->len,
                           rd_kafka_message_timestamp(m, &tstype), perr, sizeof(perr)) < 0) {
        if (!s->again) {
            s->parse_errors++;
            b->reject(b->opaque, m, perr); /* its offset still advances with the batch */
        }
        return 0;
    }
    ferry_fields_set_meta(&s->fields, topic, m->partition, m->offset);
    for (size_t k = 0; k < s->rd->ncommands; k++) {
        const struct ferry_strv *cmd = &s->rd->commands[k];
        int rc = 0;
        rc = ferry_redis_expand(cmd, &s->fields, &s->arena, offs, lens, perr, sizeof(perr));
        if (rc == FERRY_ERR_NOMEM)
            return rc;
        if (rc < 0) { /* this command needs a field the event lacks: leave it out */
            if (s->missing_fields++ % 1000 == 0)
                ferry_warn("redis", "%s: %s [%d] offset %lld: %s: command %s skipped (%llu so far)",
                           s->cfg->name, topic, m->partition, (long long)m->offset, perr, cmd->v[0],
                           (unsigned long long)s->missing_fields);
            continue;
        }
        size_t at = s->nqueued + s->nskipped;
        if (is_refused(s, at)) { /* refused for good in the first try */
            s->nskipped++;
            continue;
        }
        if (s->nqueued == s->cap_queued) {
            size_t cap = s->cap_queued ? s->cap_queued * 2 : 1024;
            struct qcmd *q = realloc(s->queued, cap * sizeof(*q));
            if (!q)
                return FERRY_ERR_NOMEM;
            s->queued = q;
            s->cap_queued = cap;
        }
        s->queued[s->nqueued++] = (struct qcmd){m, k};
        for (size_t a = 0; a < cmd->n; a++)
            argv[a] = s->arena.p + offs[a];
        if (ferry_resp_command(&s->out, (int)cmd->n, argv, lens) < 0)
            return FERRY_ERR_NOMEM;
        appended++;
    }
    return appended;
}

/* The answers to a transaction are one +QUEUED per command and one array with a result per
 * command: ferry needs only to count the errors among them. While reading them the connection's
 * reader builds no reply objects (hiredis would allocate two per command) but this summary. */
struct tally {
    int type;        /* the type of the last whole answer read */
    size_t elements; /* its elements, when an array */
    size_t errors;   /* error answers inside it, or 1 when it is an error itself */
    char first[256]; /* the first error's text */
};

static char tally_object; /* what the reader is given back for every answer */

static void *tally_string(const redisReadTask *task, char *str, size_t len)
{
    struct tally *t = task->privdata;
    if (!task->parent)
        t->type = task->type;
    if (task->type == REDIS_REPLY_ERROR && t->errors++ == 0)
        snprintf(t->first, sizeof(t->first), "%.*s", (int)len, str);
    return &tally_object;
}

static void *tally_array(const redisReadTask *task, int elements)
{
    struct tally *t = task->privdata;
    if (!task->parent) {
        t->type = REDIS_REPLY_ARRAY;
        t->elements = elements > 0 ? (size_t)elements : 0;
    }
    return &tally_object;
}

static void *tally_integer(const redisReadTask *task, long long value)
{
    struct tally *t = task->privdata;
    (void)value;
    if (!task->parent)
        t->type = REDIS_REPLY_INTEGER;
    return &tally_object;
}

static void *tally_nil(const redisReadTask *task)
{
    struct tally *t = task->privdata;
    if (!task->parent)
        t->type = REDIS_REPLY_NIL;
    return &tally_object;
}

static void tally_free(void *obj)
{
    (void)obj;
}

static redisReplyObjectFunctions tally_functions = {
    tally_string, tally_array, tally_integer, tally_nil, tally_free,
};

/* Reads one whole answer into t (reset first). 0, or FERRY_ERR_RETRY with the connection
 * closed. */
static int read_tally(struct ferry_sink *s, struct tally *t, char *err, size_t errlen)
{
    void *obj = NULL;
    t->type = 0;
    t->elements = t->errors = 0;
    t->first[0] = '\0';
    if (redisGetReply(s->rc, &obj) != REDIS_OK) {
        ferry_seterr(err, errlen, FERRY_ERR_RETRY, "redis %s: %s", s->cfg->name, s->rc->errstr);
        ferry_redis_disconnect(s);
        return FERRY_ERR_RETRY;
    }
    return 0;
}

#define REFUSED 1 /* read_transaction: Redis refused to queue commands for good */

/* Remembers that Redis refused to queue the command at `index`. Nothing is counted yet: the
 * batch may come again whole (a refusal that passes, such as OOM, in the same transaction). */
static int note_refused(struct ferry_sink *s, size_t index, const char *why)
{
    if (s->nrefused == s->cap_refused) {
        size_t cap = s->cap_refused ? s->cap_refused * 2 : 16;
        struct refusal *v = realloc(s->refused, cap * sizeof(*v));
        if (!v)
            return FERRY_ERR_NOMEM;
        s->refused = v;
        s->cap_refused = cap;
    }
    struct refusal *r = &s->refused[s->nrefused++];
    r->at = index; /* its place among the commands, as built again */
    snprintf(r->why, sizeof(r->why), "%s", why);
    return 0;
}

/* The refused commands are left out for good: counted, and said. */
static void report_refused(struct ferry_sink *s)
{
    for (size_t i = 0; i < s->nrefused; i++) {
        const struct qcmd *q = &s->queued[s->refused[i].at];
        s->command_errors++;
        ferry_warn("redis", "%s: %s [%d] offset %lld: Redis refused command %s: %s: left out",
                   s->cfg->name, rd_kafka_topic_name(q->m->rkt), q->m->partition,
                   (long long)q->m->offset, s->rd->commands[q->k].v[0], s->refused[i].why);
    }
}

/* Reads the answers to MULTI, the `queued` commands and EXEC. */
static int read_transaction(struct ferry_sink *s, size_t queued, char *err, size_t errlen)
{
    struct tally t;
    char refused[256] = "";
    int rc = 0;

    redisReplyObjectFunctions *saved = s->rc->reader->fn;
    void *saved_priv = s->rc->reader->privdata;
    s->rc->reader->fn = &tally_functions;
    s->rc->reader->privdata = &t;
    bool transient = false, offsets = false;
    s->nrefused = 0;
    for (size_t i = 0; i < queued + 1 && rc == 0; i++) { /* MULTI's +OK, then +QUEUED each */
        rc = read_tally(s, &t, err, errlen);
        if (rc < 0 || !t.errors)
            continue;
        if (!refused[0])
            snprintf(refused, sizeof(refused), "%s", t.first);
        transient |= transient_refusal(t.first);
        if (i == 0 || i - 1 >= s->nqueued) { /* MULTI or MSET: nothing to leave out */
            offsets = true;
            continue;
        }
        if (note_refused(s, i - 1, t.first) < 0)
            transient = true; /* out of memory: try the batch again later */
    }
    if (rc == 0)
        rc = read_tally(s, &t, err, errlen);
    if (s->rc) {
        s->rc->reader->fn = saved;
        s->rc->reader->privdata = saved_priv;
    }
    if (rc < 0)
        return rc;
    if (t.type == REDIS_REPLY_NIL) { /* an offset key changed after WATCH: nothing ran */
        s->conflicts++;
        return ferry_seterr(err, errlen, FERRY_ERR_RETRY,
                            "redis %s: another writer moved an offset of this batch's "
                            "partitions: nothing written, the batch is tried again",
                            s->cfg->name);
    }
    if (t.type != REDIS_REPLY_ARRAY && refused[0] && !transient && !offsets && s->nrefused) {
        if (!s->again) /* built again without them; a second refusal gives the batch back */
            report_refused(s);
        return REFUSED;
    }
    if (t.type != REDIS_REPLY_ARRAY)
        return ferry_seterr(err, errlen, offsets && !transient ? FERRY_ERR_FATAL : FERRY_ERR_RETRY,
                            "redis %s: EXEC: %s%s%s", s->cfg->name,
                            t.type == REDIS_REPLY_ERROR ? t.first : "unexpected reply",
                            refused[0] ? ": " : "", refused);
    s->replayed += s->skipped_applied;
    s->skipped_applied = 0;
    uint64_t before = s->command_errors;
    s->command_errors += t.errors;
    if (t.errors && (before == 0 || before / 1000 != s->command_errors / 1000))
        ferry_warn("redis", "%s: %zu commands failed in Redis, the first with: %s (%llu so far)",
                   s->cfg->name, t.errors, t.first, (unsigned long long)s->command_errors);
    return 0;
}

static int write_once(struct ferry_sink *s, const struct ferry_batch *batch, char *err,
                      size_t errlen);
static int send_once(struct ferry_sink *s, const struct ferry_batch *batch, size_t *queued_out,
                     char *err, size_t errlen);

/* The two halves of redis_write, for a worker that consumes the next batch meanwhile. */
static int redis_write_begin(struct ferry_sink *s, const struct ferry_batch *batch, char *err,
                             size_t errlen)
{
    int rc;
    s->pending = NULL;
    if ((rc = collect_parts(s, batch, err, errlen)) < 0)
        return rc;
    s->again = false;
    s->nrefused = 0;
    if ((rc = send_once(s, batch, &s->pending_queued, err, errlen)) < 0)
        return rc;
    s->pending = batch;
    return 0;
}

static int redis_write_end(struct ferry_sink *s, char *err, size_t errlen)
{
    const struct ferry_batch *batch = s->pending;
    if (!batch)
        return 0;
    s->pending = NULL;
    if (!s->rc)
        return ferry_seterr(err, errlen, FERRY_ERR_RETRY, "redis %s: connection lost",
                            s->cfg->name);
    int rc = read_transaction(s, s->pending_queued, err, errlen);
    if (rc == REFUSED) { /* once more, without the refused commands, and wait for it */
        s->again = true;
        rc = write_once(s, batch, err, errlen);
    }
    s->again = false;
    s->nrefused = 0;
    return rc == REFUSED ? ferry_seterr(err, errlen, FERRY_ERR_RETRY,
                                        "redis %s: Redis refused commands twice", s->cfg->name)
                         : rc;
}

static int redis_write(struct ferry_sink *s, const struct ferry_batch *batch, char *err,
                       size_t errlen)
{
    int rc;

    if ((rc = collect_parts(s, batch, err, errlen)) < 0)
        return rc;
    s->again = false;
    s->nrefused = 0;
    for (;;) {
        rc = write_once(s, batch, err, errlen);
        if (rc != REFUSED || s->again)
            break;
        s->again = true; /* once more, without the refused commands */
    }
    s->again = false;
    s->nrefused = 0;
    return rc == REFUSED ? ferry_seterr(err, errlen, FERRY_ERR_RETRY,
                                        "redis %s: Redis refused commands twice", s->cfg->name)
                         : rc;
}

/* One transaction for the batch: 0, REFUSED, or a negative ferry_err. */
static int write_once(struct ferry_sink *s, const struct ferry_batch *batch, char *err,
                      size_t errlen)
{
    size_t queued = 0;
    int rc = send_once(s, batch, &queued, err, errlen);
    return rc < 0 ? rc : read_transaction(s, queued, err, errlen);
}

/* Builds the batch's transaction and sends it (the socket takes all of it before this
 * returns): the answers are read by read_transaction. *queued: the commands in it. */
static int send_once(struct ferry_sink *s, const struct ferry_batch *batch, size_t *queued_out,
                     char *err, size_t errlen)
{
    int rc;
    if (!s->rc && (rc = ferry_redis_connect(s, err, errlen)) < 0)
        return rc == FERRY_ERR_FATAL ? rc : FERRY_ERR_RETRY;
    if ((rc = read_stored(s, err, errlen)) < 0)
        return rc;
    for (size_t j = 0; j < s->nparts; j++) {
        struct ferry_redis_part *p = &s->parts[j];
        if (!s->again) {
            p->stored_first = p->stored;
        } else if (p->stored != p->stored_first) { /* the refusals' places no longer hold */
            redisReply *r = ferry_redis_roundtrip(s, redisCommand(s->rc, "UNWATCH"), err, errlen);
            if (r)
                freeReplyObject(r);
            return ferry_seterr(err, errlen, FERRY_ERR_RETRY,
                                "redis %s: another writer moved an offset of this batch's "
                                "partitions: the batch is tried again",
                                s->cfg->name);
        }
    }

    size_t queued = 0;
    s->out.len = 0;
    s->nqueued = s->nskipped = 0;
    s->skipped_applied = 0;
    if (ferry_resp_word(&s->out, "MULTI") < 0)
        goto nomem;
    for (size_t i = 0; i < batch->n; i++) {
        const rd_kafka_message_t *m = batch->msgs[i];
        if (m->offset < part_of(s, m)->stored) { /* applied before */
            s->skipped_applied += s->rd->ncommands;
            continue;
        }
        int n = append_event(s, batch, i);
        if (n < 0)
            goto nomem;
        queued += (size_t)n;
    }
    if ((rc = append_keys(s, "MSET", true)) < 0)
        goto nomem;
    queued += rc ? 1 : 0;
    if (ferry_resp_word(&s->out, "EXEC") < 0 || out_flush(s) < 0)
        goto nomem;
    /* the transaction is still in hiredis's buffer: the rejected events go first */
    if (!s->again && batch->before_commit(batch->opaque) < 0) {
        ferry_redis_disconnect(s);
        return ferry_seterr(err, errlen, FERRY_ERR_RETRY,
                            "redis %s: rejected events not in the dead-letter topic: batch given "
                            "back",
                            s->cfg->name);
    }
    for (int done = 0; !done;) { /* on its way: Redis runs it while the worker goes on */
        if (redisBufferWrite(s->rc, &done) != REDIS_OK) {
            rc = ferry_seterr(err, errlen, FERRY_ERR_RETRY, "redis %s: %s", s->cfg->name,
                              s->rc->errstr);
            ferry_redis_disconnect(s);
            return rc;
        }
    }
    *queued_out = queued;
    return 0;
nomem:
    ferry_redis_disconnect(s); /* part of a transaction may be queued: start afresh */
    return ferry_seterr(err, errlen, FERRY_ERR_RETRY, "redis %s: out of memory", s->cfg->name);
}

static int read_offsets(struct ferry_sink *s, rd_kafka_topic_partition_list_t *parts, char *err,
                        size_t errlen)
{
    int rc;
    if (!s->rc && (rc = ferry_redis_connect(s, err, errlen)) < 0)
        return rc;
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        redisReply *r = ferry_redis_roundtrip(s,
                                              redisCommand(s->rc, "GET ferry:offsets:%s:%s:%d",
                                                           s->group, p->topic, (int)p->partition),
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
    if (s->replayed || s->conflicts || s->command_errors || s->missing_fields || s->parse_errors)
        ferry_info("redis",
                   "%s: %llu commands not applied again (already applied before a retry), "
                   "%llu transactions retried after another writer, %llu failed in Redis, "
                   "%llu skipped for a missing field, %llu events not parsed (to the "
                   "dead-letter topic)",
                   s->cfg->name, (unsigned long long)s->replayed, (unsigned long long)s->conflicts,
                   (unsigned long long)s->command_errors, (unsigned long long)s->missing_fields,
                   (unsigned long long)s->parse_errors);
    ferry_redis_disconnect(s);
    ferry_buf_release(&s->arena);
    ferry_buf_release(&s->keys);
    ferry_buf_release(&s->out);
    free(s->queued);
    free(s->refused);
    ferry_parser_destroy(s->parser);
    ferry_fields_release(&s->fields);
    free(s);
}

static void redis_counters(const struct ferry_sink *s, struct ferry_sink_counters *out)
{
    *out = (struct ferry_sink_counters){
        /* replayed counts commands: the metric counts events */
        .replayed = s->rd->ncommands ? s->replayed / (uint64_t)s->rd->ncommands : 0,
        .conflicts = s->conflicts,
        .refused = s->command_errors};
}

const struct ferry_sink_ops ferry_sink_redis = {
    .type = "redis",
    .config = &ferry_redis_section,
    .open = redis_open,
    .stored_offsets = redis_stored_offsets,
    .write = redis_write,
    .write_begin = redis_write_begin,
    .write_end = redis_write_end,
    .counters = redis_counters,
    .close = redis_close_sink,
};
