/* ferry: the Redis sink's settings, shared by sinks/redis.c (the sink) and
 * sinks/redis_config.c (its keys and their checks). Not an API. */
#ifndef FERRY_SINKS_REDIS_H
#define FERRY_SINKS_REDIS_H

#include <stddef.h>

#include "ferry/config.h"
#include "ferry/schema.h"

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

#endif
