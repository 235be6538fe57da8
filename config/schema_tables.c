/* ferry: the key tables of the shared sections — kafka, agent and its sources' shared keys,
 * sinks and its workers' shared keys, the top level. A source's or a worker's own keys are
 * its plugin's (sources/, sinks/); coordination, rollups and http are in schema_coord.c. */
#include <stddef.h>

#include "ferry/sink.h"
#include "ferry/source.h"
#include "schema.h"

/* ---- enums -------------------------------------------------------------------------------- */

static const char *const acks_names[] = {"0", "1", "all", NULL};
static const char *const long_line_names[] = {"truncate", "split", NULL};
const char *const ferry_schema_format_names[] = {"raw", "json", "combined", "regex", NULL};
static const char *const partition_mode_names[] = {"default", "key", "explicit", "round_robin",
                                                   NULL};
static const char *const fallback_names[] = {"default", "round_robin", "explicit", NULL};

const char *ferry_acks_name(enum ferry_acks a)
{
    return acks_names[a];
}

const char *ferry_format_name(enum ferry_format f)
{
    return ferry_schema_format_names[f];
}

/* ---- kafka -------------------------------------------------------------------------------- */

#define KAFKA struct ferry_kafka_config
static const struct ferry_key embedded_keys[] = {
    {FERRY_KEY_INT("brokers", KAFKA, embedded_brokers, "3", 1, 16,
                   "number of brokers of the in-process cluster")},
    {FERRY_KEY_INT("partitions", KAFKA, embedded_partitions, "4", 1, 1024,
                   "partitions of every topic the configuration names")},
    {0},
};
static const struct ferry_section embedded_section = {.keys = embedded_keys};

static const struct ferry_key kafka_keys[] = {
    {FERRY_KEY_STRING("brokers", KAFKA, brokers, NULL,
                      "bootstrap servers, `host:port,host:port`; `embedded` starts librdkafka's "
                      "mock cluster in-process (for `ferry run`, demos and tests)"),
     .flags = FERRY_KEY_REQUIRED},
    {FERRY_KEY_GROUP("embedded", &embedded_section,
                     "shape of the embedded cluster; only with `brokers: embedded`")},
    {FERRY_KEY_KVS("properties", KAFKA, properties,
                   "librdkafka properties given to every producer and consumer as they are (see "
                   "librdkafka's CONFIGURATION.md); a bad name or value is a start-up error "
                   "naming the key")},
    {FERRY_KEY_KVS("producer", KAFKA, producer,
                   "librdkafka properties for the agent's producers only, applied after "
                   "`properties` (e.g. `compression.type`, `linger.ms`)")},
    {FERRY_KEY_KVS("consumer", KAFKA, consumer,
                   "librdkafka properties for the sink workers' consumers only, applied after "
                   "`properties` (e.g. `session.timeout.ms`, `fetch.max.bytes`)")},
    {0},
};
#undef KAFKA
const struct ferry_section ferry_kafka_section = {.keys = kafka_keys,
                                                  .check = ferry_schema_check_kafka};

/* ---- agent.sources[]: what every source has ------------------------------------------------ */

#define SRC struct ferry_source_config
static const struct ferry_key multiline_keys[] = {
    {FERRY_KEY_STRING("start", SRC, ml_start, NULL,
                      "PCRE2 pattern of an event's first line (e.g. a timestamp): a line that "
                      "matches starts a new event, one that does not is appended to the current "
                      "one")},
    {FERRY_KEY_STRING("continue", SRC, ml_continue, NULL,
                      "PCRE2 pattern of a continuation line (e.g. `^\\s`): a line that matches "
                      "is appended to the current event, one that does not starts a new one; "
                      "give `start` or `continue`")},
    {FERRY_KEY_INT("max_lines", SRC, ml_max_lines, "500", 1, 1000000,
                   "an event is shipped when it has this many lines; the next line starts "
                   "another")},
    {FERRY_KEY_INT("flush_ms", SRC, ml_flush_ms, "1000", 1, 3600000,
                   "an event is shipped when no line was added to it for this long (the last "
                   "event of a quiet file)")},
    {0},
};
static const struct ferry_section multiline_section = {.keys = multiline_keys};

#define KEY struct ferry_key_config
static const struct ferry_key key_keys[] = {
    {FERRY_KEY_STRING("json_field", KEY, json_field, NULL,
                      "a top-level member of a JSON object line: a string gives its text (an "
                      "empty string is an empty key, not a missing one), a number its JSON text "
                      "as written (`1.50` stays `1.50`)")},
    {FERRY_KEY_STRING("regex", KEY, regex, NULL,
                      "a PCRE2 pattern searched in the line (UTF-8 mode: invalid UTF-8 never "
                      "matches); the key is the text of its first capture group, or of `group`")},
    {FERRY_KEY_STRING("group", KEY, group, NULL,
                      "with `regex`: the group that holds the key, by name (`(?<user>\\w+)`) or "
                      "number (0: the whole match)")},
    {FERRY_KEY_STRING("static", KEY, static_key, NULL,
                      "the same key for every event: they all go to the one partition Java would "
                      "choose for it")},
    {0},
};
#undef KEY
static const struct ferry_section key_section = {.keys = key_keys, .check = ferry_schema_check_key};

#define PART struct ferry_partitioning_config
static const struct ferry_key partitioning_keys[] = {
    {FERRY_KEY_ENUM("mode", PART, mode, "default", partition_mode_names,
                    "`default`: librdkafka's choice for unkeyed messages (one partition for a "
                    "few ms, then another at random); `key`: a key taken from each event (see "
                    "`key`) and hashed with murmur2 as the Java client does, so a key lands "
                    "where a Java producer would put it; `explicit`: every event to "
                    "`partition`; `round_robin`: each event to the next available partition in "
                    "turn")},
    {FERRY_KEY_SECTION("key", PART, key, &key_section,
                       "with `mode: key`, where the key comes from: exactly one of "
                       "`json_field`, `regex`, `static`")},
    {FERRY_KEY_ENUM("fallback", PART, fallback, "default", fallback_names,
                    "with `mode: key`, where an event goes when its key cannot be extracted "
                    "(not JSON, field absent or not a string or number, no match): `default`, "
                    "`round_robin` or `explicit` (to `partition`); such events are counted and "
                    "shipped, never dropped")},
    {FERRY_KEY_INT("partition", PART, partition, NULL, 0, 2147483647,
                   "the partition of `mode: explicit` and of `fallback: explicit`; the agent "
                   "refuses to start when the topic has no such partition")},
    {0},
};
#undef PART
static const struct ferry_section partitioning_section = {.keys = partitioning_keys,
                                                          .check = ferry_schema_check_partitioning};

static const struct ferry_key source_keys[] = {
    {FERRY_KEY_STRING("name", SRC, name, NULL,
                      "unique name of the source; checkpoints are kept under it"),
     .flags = FERRY_KEY_REQUIRED},
    {FERRY_KEY_PLUGIN("type", SRC, type, plugin, &ferry_source_plugins, "tail",
                      "what the source reads; each type's own keys are below")},
    {FERRY_KEY_INT("max_line_bytes", SRC, max_line_bytes, "1048576", 16, 64L << 20,
                   "longer lines are cut to this many bytes (see `long_lines`) and counted; the "
                   "next line is intact")},
    {FERRY_KEY_ENUM("long_lines", SRC, long_lines, "truncate", long_line_names,
                    "what happens to a line over `max_line_bytes`: `truncate` keeps its first "
                    "`max_line_bytes` bytes and skips the rest, `split` ships it as several "
                    "events")},
    {FERRY_KEY_INT("partial_flush_ms", SRC, partial_flush_ms, "0", 0, 3600000,
                   "a last line without its newline is shipped after waiting this long for it; "
                   "0 waits forever (what follows in the file later is then a line of its "
                   "own)")},
    {FERRY_KEY_GROUP("multiline", &multiline_section,
                     "join lines into events (stack traces, tracebacks): `start` or "
                     "`continue`, `max_lines`, `flush_ms`")},
    {FERRY_KEY_STRING("topic", SRC, topic, NULL,
                      "Kafka topic every line of this source is produced to"),
     .flags = FERRY_KEY_REQUIRED},
    {FERRY_KEY_ENUM("acks", SRC, acks, "all", acks_names,
                    "`0`, `1` or `all`; `all` also turns on idempotence (no duplicates from "
                    "retries)")},
    {FERRY_KEY_SECTION("partitioning", SRC, partitioning, &partitioning_section,
                       "how events are spread over the topic's partitions: `mode`, `key`, "
                       "`fallback`, `partition`")},
    {FERRY_KEY_BOOL("headers", SRC, headers, "true",
                    "provenance headers on every record: `ferry.host` (this host's name), "
                    "`ferry.path` (the file) and `ferry.offset` (the event's byte offset in it, "
                    "in decimal)")},
    {0},
};
#undef SRC
static const struct ferry_section source_section = {.keys = source_keys,
                                                    .size = sizeof(struct ferry_source_config),
                                                    .check = ferry_schema_check_source};

#define CFG struct ferry_config
static const struct ferry_key agent_keys[] = {
    {FERRY_KEY_STRING("state_dir", CFG, state_dir, "/var/lib/ferry",
                      "directory of the agent's checkpoints (created if missing)")},
    {FERRY_KEY_INT("checkpoint_ms", CFG, checkpoint_ms, "1000", 10, 3600000,
                   "how often acknowledged file positions are written to `state_dir`")},
    {FERRY_KEY_INT("shutdown_timeout_ms", CFG, shutdown_timeout_ms, "10000", 0, 3600000,
                   "on SIGTERM, how long to wait for Kafka to acknowledge what is in flight")},
    {FERRY_KEY_LIST("sources", CFG, sources, nsources, &source_section,
                    "the sources the agent reads (list)")},
    {0},
};
const struct ferry_section ferry_agent_section = {.keys = agent_keys};

/* ---- sinks.workers[]: what every worker has ------------------------------------------------ */

#define WORKER struct ferry_worker_config
static const struct ferry_key batch_keys[] = {
    {FERRY_KEY_INT("max_rows", WORKER, batch_max_rows, "1000", 1, 1000000,
                   "a batch is written when it holds this many events")},
    {FERRY_KEY_INT("max_ms", WORKER, batch_max_ms, "200", 1, 600000,
                   "… or when its first event has waited this long")},
    {0},
};
static const struct ferry_section batch_section = {.keys = batch_keys};

static const struct ferry_key worker_keys[] = {
    {FERRY_KEY_STRING("name", WORKER, name, NULL,
                      "unique name; the worker's consumer group is `<sinks.group>.<name>`"),
     .flags = FERRY_KEY_REQUIRED},
    {FERRY_KEY_PLUGIN("type", WORKER, type, plugin, &ferry_sink_plugins, NULL,
                      "what the worker writes to; each type's own keys are below"),
     .flags = FERRY_KEY_REQUIRED},
    {FERRY_KEY_STRLIST("topics", WORKER, topics, "topics the worker consumes"),
     .flags = FERRY_KEY_REQUIRED},
    {FERRY_KEY_ENUM("format", WORKER, format, "raw", ferry_schema_format_names,
                    "how an event becomes fields: `raw` (only `raw`), `json` (top-level "
                    "members), `combined` (nginx/Apache combined log: remote_addr, remote_user, "
                    "time, method, url, protocol, status, bytes, referer, user_agent), `regex` "
                    "(the named groups of `pattern`)")},
    {FERRY_KEY_STRING("pattern", WORKER, pattern, NULL,
                      "`format: regex` only, and required there: a PCRE2 pattern searched in the "
                      "event (anchor it with `^` to match from the start); each named group "
                      "`(?<name>...)` that matches is a field, one that takes no part is absent; "
                      "an event that does not match goes to the dead-letter topic")},
    {FERRY_KEY_GROUP("batch", &batch_section, "batching: `max_rows`, `max_ms`")},
    {0},
};
#undef WORKER
const struct ferry_section ferry_worker_section = {.keys = worker_keys,
                                                   .size = sizeof(struct ferry_worker_config),
                                                   .check = ferry_schema_check_worker};

static const struct ferry_key sinks_keys[] = {
    {FERRY_KEY_STRING("group", CFG, group, "ferry", "prefix of the workers' consumer group ids")},
    {FERRY_KEY_STRING("dead_letter_topic", CFG, dead_letter_topic, "ferry-dlq",
                      "where a worker sends an event it cannot write (it does not parse, a value "
                      "does not convert, the server refuses the row): unchanged, with headers "
                      "saying why and where it came from; the sink commits only after Kafka has "
                      "it, so none is lost (a missing topic stops the partition until it "
                      "exists)")},
    {FERRY_KEY_LIST("workers", CFG, workers, nworkers, &ferry_worker_section,
                    "the sink workers (list)")},
    {0},
};
const struct ferry_section ferry_sinks_section = {.keys = sinks_keys};

/* ---- the top level ------------------------------------------------------------------------ */

static const struct ferry_key root_keys[] = {
    {FERRY_KEY_SECTION("kafka", CFG, kafka, &ferry_kafka_section, "the Kafka cluster"),
     .flags = FERRY_KEY_REQUIRED},
    {FERRY_KEY_GROUP("agent", &ferry_agent_section, "file sources (`ferry agent`)")},
    {FERRY_KEY_GROUP("sinks", &ferry_sinks_section, "consumer-group workers (`ferry sink`)")},
    {FERRY_KEY_LIST("rollups", CFG, rollups, nrollups, &ferry_rollup_section,
                    "summary tables the sinks' leader fills from a mysql worker's table, per "
                    "closed time window (list)")},
    {FERRY_KEY_SECTION("coordination", CFG, coordination, &ferry_coordination_section,
                       "etcd or ZooKeeper: leader election, membership, the configuration "
                       "overlay")},
    {FERRY_KEY_GROUP("http", &ferry_http_section, "the HTTP status endpoint")},
    {0},
};
#undef CFG

static void check_root(struct ferry_schema_ctx *c, void *obj, const struct ferry_node *map,
                       const char *path)
{
    (void)obj;
    (void)path;
    ferry_schema_check_rollups(c, map);
}

const struct ferry_section ferry_root_section = {.keys = root_keys, .check = check_root};
