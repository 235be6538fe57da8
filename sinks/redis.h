/* ferry: the Redis sink's private header: its settings (sinks/redis_config.c declares their
 * keys and checks) and the state shared by sinks/redis.c and sinks/redis_conn.c. Not an API;
 * one worker thread uses a sink. */
#ifndef FERRY_SINKS_REDIS_H
#define FERRY_SINKS_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/config.h"
#include "ferry/fields.h"
#include "ferry/schema.h"
#include "ferry/sink.h"
#include "redis_proto.h"

/* sinks.workers[].redis */
struct ferry_redis_conn_config {
    char *host;
    long port;
    char *user; /* an ACL user (Redis 6): AUTH user password; needs a password (validated) */
    char *password;
    char *password_env;
    long db;
};

/* A redis worker's own settings (ferry_worker_plugin of a worker of type redis). */
struct ferry_redis_config {
    struct ferry_redis_conn_config conn; /* `redis` */
    struct ferry_strv *commands;         /* each: the argv template of one command */
    size_t ncommands;
};

extern const struct ferry_section ferry_redis_section;

/* ---- the sink's state, shared by redis.c (batches, transactions) and redis_conn.c -------- */

struct ferry_sink {
    const struct ferry_worker_config *cfg;
    const struct ferry_redis_config *rd; /* cfg's own settings (ferry_worker_plugin) */
    const char *group;
    redisContext *rc;
    struct ferry_parser *parser;
    struct ferry_fields fields;
    struct ferry_buf arena; /* the arguments of the command being built */
    struct ferry_buf keys;  /* the offset keys of the batch's partitions, one after another */
    struct ferry_buf out;   /* commands in Redis's protocol, handed to hiredis at once */
    struct ferry_redis_part parts[FERRY_REDIS_MAX_PARTS];
    size_t nparts;
    /* the commands of the transaction being built, in order: what each answer belongs to */
    struct qcmd {
        const rd_kafka_message_t *m;
        size_t k; /* its template */
    } * queued;
    size_t nqueued, cap_queued;
    /* commands of this batch Redis refused to queue (a key the ACL user may not touch): left
     * out when the transaction is built again; by their place in queued, with Redis's reason */
    struct refusal {
        size_t at;
        char why[160];
    } * refused;
    size_t nrefused, cap_refused;
    const struct ferry_batch *pending; /* sent by write_begin, its answers not read yet */
    size_t pending_queued;
    bool again;      /* building a batch's transaction a second time: rejects were made already */
    size_t nskipped; /* refused commands left out of the transaction being built */
    /* commands of the transaction being built left out as applied before: counted in replayed
     * once it ran (a transaction that fails is built again and would count them twice) */
    uint64_t skipped_applied;
    uint64_t parse_errors, missing_fields, command_errors, replayed, conflicts;
};

/* Connects (and AUTH, SELECT, checks every command template with COMMAND INFO, copies offsets
 * kept in the older per-group hash): 0, FERRY_ERR_RETRY (unreachable: try again later), or
 * FERRY_ERR_FATAL (refused: configuration); on failure s->rc is NULL. */
int ferry_redis_connect(struct ferry_sink *s, char *err, size_t errlen);
/* Closes the connection (s->rc NULL afterwards); a new one watches nothing. */
void ferry_redis_disconnect(struct ferry_sink *s);
/* r, the answer of a command just sent, or NULL with err filled and the connection closed
 * when there is none (the caller frees r). */
redisReply *ferry_redis_roundtrip(struct ferry_sink *s, redisReply *r, char *err, size_t errlen);
/* The next answer of a pipeline, or NULL with err filled and the connection closed. */
redisReply *ferry_redis_next_reply(struct ferry_sink *s, char *err, size_t errlen);

#endif
