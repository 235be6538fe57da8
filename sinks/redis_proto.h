/* ferry: the Redis sink's protocol layout, shared by sinks/redis.c (the transaction) and the
 * unit tests. Not an API. Pure functions over buffers: no connection, any thread, each call
 * on its own buffers.
 *
 * Commands are written in Redis's protocol (RESP: "*<argc>\r\n" then "$<len>\r\n<bytes>\r\n"
 * per argument) by ferry itself, into one buffer per round trip; every argument is counted,
 * so any byte (NUL, CR, LF) and an empty argument are sent as they are. */
#ifndef FERRY_SINKS_REDIS_PROTO_H
#define FERRY_SINKS_REDIS_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/fields.h"

#define FERRY_REDIS_MAX_ARGS  64  /* arguments of a command template, with its name */
#define FERRY_REDIS_MAX_PARTS 512 /* partitions of one batch */

/* Appends one command of argc arguments (argv[i], lens[i] bytes each; borrowed) to o.
 * 0, or FERRY_ERR_NOMEM with o holding part of it (the caller starts o afresh). */
int ferry_resp_command(struct ferry_buf *o, int argc, const char *const *argv, const size_t *lens);
/* The same for a command of one word (MULTI, EXEC). */
int ferry_resp_word(struct ferry_buf *o, const char *word);

/* Expands every argument template of cmd with the fields f into arena (emptied first):
 * argument a is arena->p[offs[a] .. offs[a] + lens[a]) (offsets: arena may move while it
 * grows). 0; FERRY_ERR_INVALID when a template names a field f lacks (err names it; the
 * command is to be left out); FERRY_ERR_NOMEM. offs and lens hold cmd->n entries. */
int ferry_redis_expand(const struct ferry_strv *cmd, const struct ferry_fields *f,
                       struct ferry_buf *arena, size_t *offs, size_t *lens, char *err,
                       size_t errlen);

/* One (topic, partition) of a batch. */
struct ferry_redis_part {
    const void *first;      /* its first event in the batch (rd_kafka_message_t; redis.c) */
    int64_t stored;         /* the next offset to apply, as Redis had it; -1: none */
    int64_t stored_first;   /* stored, as the batch's first transaction saw it */
    int64_t next;           /* the offset after its last event in the batch */
    size_t key_at, key_len; /* its offset key in the keys buffer */
};

/* Appends the offset key of (group, topic, partition),
 * `ferry:offsets:<group>:<topic>:<partition>`, to keys and sets p->key_at and p->key_len.
 * 0 or FERRY_ERR_NOMEM. */
int ferry_redis_offset_key(struct ferry_buf *keys, const char *group, const char *topic,
                           int32_t partition, struct ferry_redis_part *p);
/* Appends `verb` followed by the offset keys (in keys) of parts[0..n), n at most
 * FERRY_REDIS_MAX_PARTS, to o: WATCH and MGET name every key; with `values` (MSET) each key
 * is followed by its next offset in decimal, and only the partitions whose next offset is
 * above the stored one are named. Nothing is appended when no key is named. Returns how
 * many keys it named, or FERRY_ERR_NOMEM. */
int ferry_redis_append_keys(struct ferry_buf *o, const char *verb,
                            const struct ferry_redis_part *parts, size_t n, const char *keys,
                            bool values);

#endif
