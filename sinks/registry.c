/* ferry: the table of sinks. Adding a sink is one file and one row here. */
#include "ferry/sink.h"

const struct ferry_sink_ops *ferry_sink_lookup(enum ferry_sink_type type)
{
    static const struct ferry_sink_ops *const sinks[] = {
        [FERRY_SINK_MYSQL] = &ferry_sink_mysql,
        [FERRY_SINK_REDIS] = &ferry_sink_redis,
    };
    return sinks[type];
}
