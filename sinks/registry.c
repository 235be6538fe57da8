/* ferry: the table of sinks, searched by type name. Adding a sink is one file and one row
 * here (and its name in the declaration above the table). */
#include <string.h>

#include "ferry/sink.h"

extern const struct ferry_sink_ops ferry_sink_mysql, ferry_sink_redis, ferry_sink_stdout;

static const struct ferry_sink_ops *const sinks[] = {
    &ferry_sink_mysql,  /* sinks/mysql.c */
    &ferry_sink_redis,  /* sinks/redis.c */
    &ferry_sink_stdout, /* sinks/stdout.c */
};

#define NSINKS (sizeof(sinks) / sizeof(sinks[0]))

const struct ferry_sink_ops *ferry_sink_lookup(const char *type)
{
    for (size_t i = 0; type && i < NSINKS; i++)
        if (!strcmp(sinks[i]->type, type))
            return sinks[i];
    return NULL;
}

static const struct ferry_section *sink_at(size_t i, const char **type)
{
    if (i >= NSINKS)
        return NULL;
    *type = sinks[i]->type;
    return sinks[i]->config;
}

const struct ferry_plugins ferry_sink_plugins = {.noun = "worker", .at = sink_at};
