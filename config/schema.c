/* ferry: the configuration schema — key tables per section, one loader, one validator.
 *
 * Each section is a table of keys (name, type, default, limits, documentation, where the
 * value goes). load_map() walks a YAML mapping against such a table: unknown keys, wrong
 * types, bad enum values, out-of-range numbers and missing required keys are diagnostics
 * with the position of the offending node. Checks that span keys (a mysql worker needs a
 * table, names are unique) run in each section's `check` callback. The same tables free a
 * config and write docs/configuration.md's reference, so the three never disagree. */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "ferry/config.h"
#include "ferry/err.h"
#include "ferry/fields.h"
#include "ferry/keyer.h"
#include "ferry/log.h"
#include "ferry/mapping.h"

#include "schema.h"

/* ---- enums ---------------------------------------------------------------------------- */

static const char *const acks_names[] = {"0", "1", "all", NULL};
static const char *const start_names[] = {"beginning", "end", NULL};
static const char *const source_type_names[] = {"tail", "stdin", NULL};
static const char *const long_line_names[] = {"truncate", "split", NULL};
static const char *const sink_type_names[] = {"mysql", "redis", NULL};
static const char *const mysql_mode_names[] = {"insert", "upsert", NULL};
static const char *const column_type_names[] = {"string",   "int",  "float", "bool",
                                                "datetime", "json", NULL};
static const char *const time_format_names[] = {"auto",    "iso8601",  "clf",
                                                "epoch_s", "epoch_ms", NULL};
static const char *const format_names[] = {"raw", "json", "combined", "regex", NULL};
static const char *const partition_mode_names[] = {"default", "key", "explicit", "round_robin",
                                                   NULL};
static const char *const fallback_names[] = {"default", "round_robin", "explicit", NULL};

const char *ferry_acks_name(enum ferry_acks a)
{
    return acks_names[a];
}

const char *ferry_format_name(enum ferry_format f)
{
    return format_names[f];
}

/* ---- section tables ------------------------------------------------------------------- */

static void check_kafka(struct ctx *, void *, const struct ferry_node *, const char *);
static void check_source(struct ctx *, void *, const struct ferry_node *, const char *);
static void check_worker(struct ctx *, void *, const struct ferry_node *, const char *);
static void check_column(struct ctx *, void *, const struct ferry_node *, const char *);
static void check_mysql(struct ctx *, void *, const struct ferry_node *, const char *);
static void check_key(struct ctx *, void *, const struct ferry_node *, const char *);
static void check_partitioning(struct ctx *, void *, const struct ferry_node *, const char *);

static const struct key embedded_keys[] = {
    {"brokers", KT_INT, 0, OFF(struct ferry_kafka_config, embedded_brokers), 0, "3", NULL, NULL, 1,
     16, "number of brokers of the in-process cluster"},
    {"partitions", KT_INT, 0, OFF(struct ferry_kafka_config, embedded_partitions), 0, "4", NULL,
     NULL, 1, 1024, "partitions of every topic the configuration names"},
    {0},
};
static const struct section embedded_section = {"kafka.embedded", embedded_keys, 0, NULL};

static const struct key kafka_keys[] = {
    {"brokers", KT_STRING, K_REQUIRED, OFF(struct ferry_kafka_config, brokers), 0, NULL, NULL, NULL,
     0, 0,
     "bootstrap servers, `host:port,host:port`; `embedded` starts librdkafka's mock cluster "
     "in-process (for `ferry run`, demos and tests)"},
    {"embedded", KT_SECTION, 0, 0, 0, NULL, NULL, &embedded_section, 0, 0,
     "shape of the embedded cluster; only with `brokers: embedded`"},
    {"properties", KT_KVS, 0, OFF(struct ferry_kafka_config, properties), 0, NULL, NULL, NULL, 0, 0,
     "librdkafka properties given to every producer and consumer as they are (see librdkafka's "
     "CONFIGURATION.md); a bad name or value is a start-up error naming the key"},
    {"producer", KT_KVS, 0, OFF(struct ferry_kafka_config, producer), 0, NULL, NULL, NULL, 0, 0,
     "librdkafka properties for the agent's producers only, applied after `properties` "
     "(e.g. `compression.type`, `linger.ms`)"},
    {"consumer", KT_KVS, 0, OFF(struct ferry_kafka_config, consumer), 0, NULL, NULL, NULL, 0, 0,
     "librdkafka properties for the sink workers' consumers only, applied after `properties` "
     "(e.g. `session.timeout.ms`, `fetch.max.bytes`)"},
    {0},
};
static const struct section kafka_section = {"kafka", kafka_keys, 0, check_kafka};

static const struct key multiline_keys[] = {
    {"start", KT_STRING, 0, OFF(struct ferry_source_config, ml_start), 0, NULL, NULL, NULL, 0, 0,
     "PCRE2 pattern of an event's first line (e.g. a timestamp): a line that matches starts a "
     "new event, one that does not is appended to the current one"},
    {"continue", KT_STRING, 0, OFF(struct ferry_source_config, ml_continue), 0, NULL, NULL, NULL, 0,
     0,
     "PCRE2 pattern of a continuation line (e.g. `^\\s`): a line that matches is appended to "
     "the current event, one that does not starts a new one; give `start` or `continue`"},
    {"max_lines", KT_INT, 0, OFF(struct ferry_source_config, ml_max_lines), 0, "500", NULL, NULL, 1,
     1000000, "an event is shipped when it has this many lines; the next line starts another"},
    {"flush_ms", KT_INT, 0, OFF(struct ferry_source_config, ml_flush_ms), 0, "1000", NULL, NULL, 1,
     3600000,
     "an event is shipped when no line was added to it for this long (the last event of a "
     "quiet file)"},
    {0},
};
static const struct section multiline_section = {"multiline", multiline_keys, 0, NULL};

static const struct key key_keys[] = {
    {"json_field", KT_STRING, 0, OFF(struct ferry_key_config, json_field), 0, NULL, NULL, NULL, 0,
     0,
     "a top-level member of a JSON object line: a string gives its text (an empty string is "
     "an empty key, not a missing one), a number its JSON text as written (`1.50` stays "
     "`1.50`)"},
    {"regex", KT_STRING, 0, OFF(struct ferry_key_config, regex), 0, NULL, NULL, NULL, 0, 0,
     "a PCRE2 pattern searched in the line (UTF-8 mode: invalid UTF-8 never matches); the key "
     "is the text of its first capture group, or of `group`"},
    {"group", KT_STRING, 0, OFF(struct ferry_key_config, group), 0, NULL, NULL, NULL, 0, 0,
     "with `regex`: the group that holds the key, by name (`(?<user>\\w+)`) or number (0: the "
     "whole match)"},
    {"static", KT_STRING, 0, OFF(struct ferry_key_config, static_key), 0, NULL, NULL, NULL, 0, 0,
     "the same key for every event: they all go to the one partition Java would choose for it"},
    {0},
};
static const struct section key_section = {"key", key_keys, 0, check_key};

static const struct key partitioning_keys[] = {
    {"mode", KT_ENUM, 0, OFF(struct ferry_partitioning_config, mode), 0, "default",
     partition_mode_names, NULL, 0, 0,
     "`default`: librdkafka's choice for unkeyed messages (one partition for a few ms, then "
     "another at random); `key`: a key taken from each event (see `key`) and hashed with "
     "murmur2 as the Java client does, so a key lands where a Java producer would put it; "
     "`explicit`: every event to `partition`; `round_robin`: each event to the next "
     "available partition in turn"},
    {"key", KT_SECTION, 0, OFF(struct ferry_partitioning_config, key), 0, NULL, NULL, &key_section,
     0, 0,
     "with `mode: key`, where the key comes from: exactly one of `json_field`, `regex`, "
     "`static`"},
    {"fallback", KT_ENUM, 0, OFF(struct ferry_partitioning_config, fallback), 0, "default",
     fallback_names, NULL, 0, 0,
     "with `mode: key`, where an event goes when its key cannot be extracted (not JSON, field "
     "absent or not a string or number, no match): `default`, `round_robin` or `explicit` "
     "(to `partition`); such events are counted and shipped, never dropped"},
    {"partition", KT_INT, 0, OFF(struct ferry_partitioning_config, partition), 0, NULL, NULL, NULL,
     0, 2147483647,
     "the partition of `mode: explicit` and of `fallback: explicit`; the agent refuses to start "
     "when the topic has no such partition"},
    {0},
};
static const struct section partitioning_section = {"partitioning", partitioning_keys, 0,
                                                    check_partitioning};

static const struct key source_keys[] = {
    {"name", KT_STRING, K_REQUIRED, OFF(struct ferry_source_config, name), 0, NULL, NULL, NULL, 0,
     0, "unique name of the source; checkpoints are kept under it"},
    {"type", KT_ENUM, 0, OFF(struct ferry_source_config, type), 0, "tail", source_type_names, NULL,
     0, 0,
     "`tail`: follow files named by `paths`; `stdin`: read standard input (a pipe) until it "
     "ends, then exit once Kafka acknowledged every line"},
    {"paths", KT_STRLIST, 0, OFF(struct ferry_source_config, paths), 0, NULL, NULL, NULL, 0, 0,
     "glob patterns of files to follow (required for `tail`); symbolic links are followed; "
     "new files are found at once through inotify and by a rescan every `refresh_ms`"},
    {"exclude", KT_STRLIST, 0, OFF(struct ferry_source_config, exclude), 0, NULL, NULL, NULL, 0, 0,
     "glob patterns of files to leave alone, matched against the full path"},
    {"start_at", KT_ENUM, 0, OFF(struct ferry_source_config, start_at), 0, "beginning", start_names,
     NULL, 0, 0,
     "where to start in the files present when the source starts for the first time (no "
     "checkpoint yet): `beginning` or `end`; files that appear later, also while ferry was "
     "stopped, are read from their beginning, and a file with a checkpoint resumes there"},
    {"max_line_bytes", KT_INT, 0, OFF(struct ferry_source_config, max_line_bytes), 0, "1048576",
     NULL, NULL, 16, 64L << 20,
     "longer lines are cut to this many bytes (see `long_lines`) and counted; the next line "
     "is intact"},
    {"long_lines", KT_ENUM, 0, OFF(struct ferry_source_config, long_lines), 0, "truncate",
     long_line_names, NULL, 0, 0,
     "what happens to a line over `max_line_bytes`: `truncate` keeps its first "
     "`max_line_bytes` bytes and skips the rest, `split` ships it as several events"},
    {"partial_flush_ms", KT_INT, 0, OFF(struct ferry_source_config, partial_flush_ms), 0, "0", NULL,
     NULL, 0, 3600000,
     "a last line without its newline is shipped after waiting this long for it; 0 waits "
     "forever (what follows in the file later is then a line of its own)"},
    {"rotate_wait_ms", KT_INT, 0, OFF(struct ferry_source_config, rotate_wait_ms), 0, "5000", NULL,
     NULL, 0, 3600000,
     "a file renamed away from `paths`, deleted, or truncated by copytruncate is still read to "
     "its end until it has not grown for this long, then closed"},
    {"multiline", KT_SECTION, 0, 0, 0, NULL, NULL, &multiline_section, 0, 0,
     "join lines into events (stack traces, tracebacks): `start` or `continue`, `max_lines`, "
     "`flush_ms`"},
    {"refresh_ms", KT_INT, 0, OFF(struct ferry_source_config, refresh_ms), 0, "1000", NULL, NULL,
     10, 3600000, "how often the glob patterns are expanded again to find new files"},
    {"topic", KT_STRING, K_REQUIRED, OFF(struct ferry_source_config, topic), 0, NULL, NULL, NULL, 0,
     0, "Kafka topic every line of this source is produced to"},
    {"acks", KT_ENUM, 0, OFF(struct ferry_source_config, acks), 0, "all", acks_names, NULL, 0, 0,
     "`0`, `1` or `all`; `all` also turns on idempotence (no duplicates from retries)"},
    {"partitioning", KT_SECTION, 0, OFF(struct ferry_source_config, partitioning), 0, NULL, NULL,
     &partitioning_section, 0, 0,
     "how events are spread over the topic's partitions: `mode`, `key`, `fallback`, "
     "`partition`"},
    {"headers", KT_BOOL, 0, OFF(struct ferry_source_config, headers), 0, "true", NULL, NULL, 0, 0,
     "provenance headers on every record: `ferry.host` (this host's name), `ferry.path` (the "
     "file) and `ferry.offset` (the event's byte offset in it, in decimal)"},
    {0},
};
static const struct section source_section = {"agent.sources[]", source_keys,
                                              sizeof(struct ferry_source_config), check_source};

static const struct key agent_keys[] = {
    {"state_dir", KT_STRING, 0, OFF(struct ferry_config, state_dir), 0, "/var/lib/ferry", NULL,
     NULL, 0, 0, "directory of the agent's checkpoints (created if missing)"},
    {"checkpoint_ms", KT_INT, 0, OFF(struct ferry_config, checkpoint_ms), 0, "1000", NULL, NULL, 10,
     3600000, "how often acknowledged file positions are written to `state_dir`"},
    {"shutdown_timeout_ms", KT_INT, 0, OFF(struct ferry_config, shutdown_timeout_ms), 0, "10000",
     NULL, NULL, 0, 3600000,
     "on SIGTERM, how long to wait for Kafka to acknowledge what is in flight"},
    {"sources", KT_LIST, 0, OFF(struct ferry_config, sources), OFF(struct ferry_config, nsources),
     NULL, NULL, &source_section, 0, 0, "the sources the agent reads (list)"},
    {0},
};
static const struct section agent_section = {"agent", agent_keys, 0, NULL};

static const struct key mysql_keys[] = {
    {"host", KT_STRING, 0, OFF(struct ferry_mysql_config, host), 0, "127.0.0.1", NULL, NULL, 0, 0,
     "server host"},
    {"port", KT_INT, 0, OFF(struct ferry_mysql_config, port), 0, "3306", NULL, NULL, 1, 65535,
     "server port"},
    {"socket", KT_STRING, 0, OFF(struct ferry_mysql_config, socket), 0, NULL, NULL, NULL, 0, 0,
     "unix socket path; used instead of host and port when set"},
    {"user", KT_STRING, K_REQUIRED, OFF(struct ferry_mysql_config, user), 0, NULL, NULL, NULL, 0, 0,
     "user name"},
    {"password", KT_STRING, 0, OFF(struct ferry_mysql_config, password), 0, NULL, NULL, NULL, 0, 0,
     "password (prefer `password_env`)"},
    {"password_env", KT_STRING, 0, OFF(struct ferry_mysql_config, password_env), 0, NULL, NULL,
     NULL, 0, 0, "name of the environment variable that holds the password"},
    {"database", KT_STRING, K_REQUIRED, OFF(struct ferry_mysql_config, database), 0, NULL, NULL,
     NULL, 0, 0, "database (schema) of the table"},
    {"ssl_ca", KT_STRING, 0, OFF(struct ferry_mysql_config, ssl_ca), 0, NULL, NULL, NULL, 0, 0,
     "path of the CA certificate(s), PEM, that signed the server's certificate; with it, or "
     "with `ssl_cert` and `ssl_key`, the connection uses TLS"},
    {"ssl_cert", KT_STRING, 0, OFF(struct ferry_mysql_config, ssl_cert), 0, NULL, NULL, NULL, 0, 0,
     "path of the client certificate, PEM, for servers that require one; with `ssl_key`"},
    {"ssl_key", KT_STRING, 0, OFF(struct ferry_mysql_config, ssl_key), 0, NULL, NULL, NULL, 0, 0,
     "path of the client certificate's private key, PEM; with `ssl_cert`"},
    {"ssl_verify_server_cert", KT_BOOL, 0, OFF(struct ferry_mysql_config, ssl_verify_server_cert),
     0, NULL, NULL, NULL, 0, 0,
     "check the server's certificate against `ssl_ca` and its name against `host`; the default "
     "is `true` when `ssl_ca` is given, else `false` (`true` needs `ssl_ca`)"},
    {0},
};
static const struct section mysql_section = {"mysql", mysql_keys, 0, check_mysql};

static const struct key redis_keys[] = {
    {"host", KT_STRING, 0, OFF(struct ferry_redis_config, host), 0, "127.0.0.1", NULL, NULL, 0, 0,
     "server host"},
    {"port", KT_INT, 0, OFF(struct ferry_redis_config, port), 0, "6379", NULL, NULL, 1, 65535,
     "server port"},
    {"user", KT_STRING, 0, OFF(struct ferry_redis_config, user), 0, NULL, NULL, NULL, 0, 0,
     "ACL user (Redis 6 and later): ferry sends `AUTH user password`; needs `password` or "
     "`password_env`. Without it, `AUTH password`"},
    {"password", KT_STRING, 0, OFF(struct ferry_redis_config, password), 0, NULL, NULL, NULL, 0, 0,
     "AUTH password (prefer `password_env`)"},
    {"password_env", KT_STRING, 0, OFF(struct ferry_redis_config, password_env), 0, NULL, NULL,
     NULL, 0, 0, "name of the environment variable that holds the password"},
    {"db", KT_INT, 0, OFF(struct ferry_redis_config, db), 0, "0", NULL, NULL, 0, 1 << 20,
     "database number (SELECT)"},
    {0},
};
static const struct section redis_section = {"redis", redis_keys, 0, NULL};

static const struct key batch_keys[] = {
    {"max_rows", KT_INT, 0, OFF(struct ferry_worker_config, batch_max_rows), 0, "1000", NULL, NULL,
     1, 1000000, "a batch is written when it holds this many events"},
    {"max_ms", KT_INT, 0, OFF(struct ferry_worker_config, batch_max_ms), 0, "200", NULL, NULL, 1,
     600000, "… or when its first event has waited this long"},
    {0},
};
static const struct section batch_section = {"batch", batch_keys, 0, NULL};

static const struct key column_keys[] = {
    {"field", KT_STRING, 0, OFF(struct ferry_column_config, field), 0, NULL, NULL, NULL, 0, 0,
     "the field the value comes from (default: the column's name): a field of the `format`, or "
     "metadata: `topic`, `partition`, `offset`, `kafka_timestamp` (ms), `ts`, `header.NAME` "
     "(a Kafka header's value), `raw`, …"},
    {"type", KT_ENUM, 0, OFF(struct ferry_column_config, type), 0, "string", column_type_names,
     NULL, 0, 0,
     "`string` (TEXT), `int` (BIGINT), `float` (DOUBLE), `bool` (TINYINT(1); true/false, "
     "yes/no, 1/0), `datetime` (DATETIME(3), UTC) or `json` (JSON); an event whose value does "
     "not convert goes to the dead-letter topic, with the column and the reason"},
    {"format", KT_ENUM, 0, OFF(struct ferry_column_config, time_format), 0, "auto",
     time_format_names, NULL, 0, 0,
     "datetime columns: `iso8601` (`2026-11-25T18:31:41.5+01:00`; no zone: UTC), `clf` "
     "(access-log time `25/Nov/2026:18:31:41 +0100`), `epoch_s` (seconds, fraction allowed), "
     "`epoch_ms`, or `auto`: ISO 8601 or access-log time by their shape (milliseconds for "
     "`kafka_timestamp`, and for `ts` when it is all digits)"},
    {"default", KT_STRING, 0, OFF(struct ferry_column_config, def), 0, NULL, NULL, NULL, 0, 0,
     "the value when the field is missing, written as the field would be; it must convert"},
    {"null", KT_BOOL, 0, OFF(struct ferry_column_config, null), 0, "true", NULL, NULL, 0, 0,
     "a missing field without `default` is NULL; `false`: the event goes to the dead-letter "
     "topic instead (NOT NULL when ferry creates the table; always so for upsert key columns)"},
    {"length", KT_INT, 0, OFF(struct ferry_column_config, length), 0, NULL, NULL, NULL, 1, 16383,
     "string columns: VARCHAR(length) instead of TEXT when ferry creates the table (a key "
     "column without it is VARCHAR(255))"},
    {0},
};
static const struct section column_section = {"column", column_keys,
                                              sizeof(struct ferry_column_config), check_column};

static const struct key worker_keys[] = {
    {"name", KT_STRING, K_REQUIRED, OFF(struct ferry_worker_config, name), 0, NULL, NULL, NULL, 0,
     0, "unique name; the worker's consumer group is `<sinks.group>.<name>`"},
    {"type", KT_ENUM, K_REQUIRED, OFF(struct ferry_worker_config, type), 0, NULL, sink_type_names,
     NULL, 0, 0, "`mysql` or `redis`"},
    {"topics", KT_STRLIST, K_REQUIRED, OFF(struct ferry_worker_config, topics), 0, NULL, NULL, NULL,
     0, 0, "topics the worker consumes"},
    {"format", KT_ENUM, 0, OFF(struct ferry_worker_config, format), 0, "raw", format_names, NULL, 0,
     0,
     "how an event becomes fields: `raw` (only `raw`), `json` (top-level members), `combined` "
     "(nginx/Apache combined log: remote_addr, remote_user, time, method, url, protocol, "
     "status, bytes, referer, user_agent), `regex` (the named groups of `pattern`)"},
    {"pattern", KT_STRING, 0, OFF(struct ferry_worker_config, pattern), 0, NULL, NULL, NULL, 0, 0,
     "`format: regex` only, and required there: a PCRE2 pattern searched in the event (anchor "
     "it with `^` to match from the start); each named group `(?<name>...)` that matches is a "
     "field, one that takes no part is absent; an event that does not match goes to the "
     "dead-letter topic"},
    {"batch", KT_SECTION, 0, 0, 0, NULL, NULL, &batch_section, 0, 0,
     "batching: `max_rows`, `max_ms`"},
    {"mysql", KT_SECTION, 0, OFF(struct ferry_worker_config, mysql), 0, NULL, NULL, &mysql_section,
     0, 0, "mysql workers: the connection"},
    {"table", KT_STRING, 0, OFF(struct ferry_worker_config, table), 0, NULL, NULL, NULL, 0, 0,
     "mysql workers: the table rows go to"},
    {"create_table", KT_BOOL, 0, OFF(struct ferry_worker_config, create_table), 0, "true", NULL,
     NULL, 0, 0, "mysql workers: create the table (and `ferry_offsets`) if absent"},
    {"columns", KT_NAMED, 0, OFF(struct ferry_worker_config, columns),
     OFF(struct ferry_worker_config, ncolumns), NULL, NULL, &column_section, 0, 0,
     "mysql workers: the table's own columns besides ferry's, each `column: field` (a string "
     "column) or `column: {field, type, format, default, null, length}`"},
    {"mode", KT_ENUM, 0, OFF(struct ferry_worker_config, mode), 0, "insert", mysql_mode_names, NULL,
     0, 0,
     "mysql workers: `insert` (a row per event, primary key topic, partition, offset) or "
     "`upsert` (a row per `key`: INSERT … ON DUPLICATE KEY UPDATE of the other columns)"},
    {"key", KT_STRLIST, 0, OFF(struct ferry_worker_config, key), 0, NULL, NULL, NULL, 0, 0,
     "mysql workers, `mode: upsert`: the columns of the table's unique key (names from "
     "`columns`); `create_table` makes them the primary key"},
    {"raw", KT_BOOL, 0, OFF(struct ferry_worker_config, store_raw), 0, "true", NULL, NULL, 0, 0,
     "mysql workers: store the event as it was read in column `raw`; `false` leaves that "
     "column out (of the table ferry creates, and of every row)"},
    {"redis", KT_SECTION, 0, OFF(struct ferry_worker_config, redis), 0, NULL, NULL, &redis_section,
     0, 0, "redis workers: the connection"},
    {"commands", KT_CMDS, 0, OFF(struct ferry_worker_config, commands),
     OFF(struct ferry_worker_config, ncommands), NULL, NULL, NULL, 0, 0,
     "redis workers: command templates run for every event; `{field}`, `{raw}`, `{topic}`, "
     "`{partition}`, `{offset}`, `{minute}`, `{hour}`, `{day}`; `{{` is a literal `{`"},
    {0},
};
static const struct section worker_section = {"sinks.workers[]", worker_keys,
                                              sizeof(struct ferry_worker_config), check_worker};

static const struct key sinks_keys[] = {
    {"group", KT_STRING, 0, OFF(struct ferry_config, group), 0, "ferry", NULL, NULL, 0, 0,
     "prefix of the workers' consumer group ids"},
    {"dead_letter_topic", KT_STRING, 0, OFF(struct ferry_config, dead_letter_topic), 0, "ferry-dlq",
     NULL, NULL, 0, 0,
     "where a worker sends an event it cannot write (it does not parse, a value does not "
     "convert, the server refuses the row): unchanged, with headers saying why and where it "
     "came from; the sink commits only after Kafka has it, so none is lost (a missing topic "
     "stops the partition until it exists)"},
    {"workers", KT_LIST, 0, OFF(struct ferry_config, workers), OFF(struct ferry_config, nworkers),
     NULL, NULL, &worker_section, 0, 0, "the sink workers (list)"},
    {0},
};
static const struct section sinks_section = {"sinks", sinks_keys, 0, NULL};

static const struct key root_keys[] = {
    {"kafka", KT_SECTION, K_REQUIRED, OFF(struct ferry_config, kafka), 0, NULL, NULL,
     &kafka_section, 0, 0, "the Kafka cluster"},
    {"agent", KT_SECTION, 0, 0, 0, NULL, NULL, &agent_section, 0, 0,
     "file sources (`ferry agent`)"},
    {"sinks", KT_SECTION, 0, 0, 0, NULL, NULL, &sinks_section, 0, 0,
     "consumer-group workers (`ferry sink`)"},
    {"rollups", KT_LIST, 0, OFF(struct ferry_config, rollups), OFF(struct ferry_config, nrollups),
     NULL, NULL, &ferry_rollup_section, 0, 0,
     "summary tables the sinks' leader fills from a mysql worker's table, per closed time "
     "window (list)"},
    {"coordination", KT_SECTION, 0, OFF(struct ferry_config, coordination), 0, NULL, NULL,
     &ferry_coordination_section, 0, 0,
     "etcd or ZooKeeper: leader election, membership, the configuration overlay"},
    {"http", KT_SECTION, 0, 0, 0, NULL, NULL, &ferry_http_section, 0, 0,
     "the HTTP status endpoint"},
    {0},
};

static void check_root(struct ctx *c, void *obj, const struct ferry_node *map, const char *path)
{
    (void)obj;
    (void)path;
    schema_check_rollups(c, map);
}

static const struct section root_section = {"", root_keys, 0, check_root};

/* ---- the loader ----------------------------------------------------------------------- */

static void load_map(struct ctx *c, const struct section *s, char *base,
                     const struct ferry_node *map, const char *path);
static void load_named(struct ctx *c, const struct key *k, char *base, const struct ferry_node *n,
                       const char *path);

void schema_join(char *out, size_t len, const char *path, const char *name)
{
    snprintf(out, len, "%s%s%s", path, *path ? "." : "", name);
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), prev[64], cur[64];
    if (la >= 63 || lb >= 63)
        return 99;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof(size_t));
    }
    return prev[lb];
}

static void unknown_key(struct ctx *c, const struct section *s, const struct ferry_node *k,
                        const char *path)
{
    const char *best = NULL;
    size_t bestd = 3;
    for (const struct key *key = s->keys; key->name; key++) {
        size_t dist = edit_distance(k->scalar, key->name);
        if (dist < bestd) {
            bestd = dist;
            best = key->name;
        }
    }
    if (best)
        ferry_diags_add(c->d, k->line, k->col, "%s%sunknown key '%s' (did you mean '%s'?)", path,
                        *path ? ": " : "", k->scalar, best);
    else
        ferry_diags_add(c->d, k->line, k->col, "%s%sunknown key '%s'", path, *path ? ": " : "",
                        k->scalar);
}

static int scalar_text(struct ctx *c, const struct ferry_node *n, const char *path,
                       const char *what)
{
    if (n->type == FERRY_NODE_SCALAR && n->scalar)
        return 0;
    ferry_diags_add(c->d, n->line, n->col, "%s: expected %s, got %s", path, what,
                    ferry_node_type_name(n));
    return -1;
}

/* 0, -1 when s is not a decimal integer, -2 when it is one too large for a long. */
static int parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || isspace((unsigned char)*s))
        return -1;
    if (errno == ERANGE)
        return -2;
    if (errno)
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "True", "Yes", "On", "TRUE", NULL};
    static const char *const no[] = {"false", "no", "off", "False", "No", "Off", "FALSE", NULL};
    for (int i = 0; yes[i]; i++)
        if (!strcmp(s, yes[i]))
            return *out = true, 0;
    for (int i = 0; no[i]; i++)
        if (!strcmp(s, no[i]))
            return *out = false, 0;
    return -1;
}

static int load_strv(struct ctx *c, const struct ferry_node *n, const char *path,
                     struct ferry_strv *out)
{
    if (n->type == FERRY_NODE_SCALAR) {
        if (scalar_text(c, n, path, "a string or a list of strings") < 0)
            return -1;
        out->v = calloc(1, sizeof(char *));
        out->v[0] = strdup(n->scalar);
        out->n = 1;
        return 0;
    }
    if (n->type != FERRY_NODE_SEQ) {
        ferry_diags_add(c->d, n->line, n->col, "%s: expected a list of strings, got %s", path,
                        ferry_node_type_name(n));
        return -1;
    }
    out->v = calloc(n->n ? n->n : 1, sizeof(char *));
    for (size_t i = 0; i < n->n; i++) {
        char p[256];
        snprintf(p, sizeof(p), "%s[%zu]", path, i);
        if (scalar_text(c, n->items[i], p, "a string") < 0)
            continue;
        out->v[out->n++] = strdup(n->items[i]->scalar);
    }
    return 0;
}

static void load_value(struct ctx *c, const struct key *k, char *base, const struct ferry_node *n,
                       const char *path)
{
    void *field = base + k->off;

    switch (k->type) {
    case KT_STRING:
        if (scalar_text(c, n, path, "a string") == 0)
            *(char **)field = strdup(n->scalar);
        break;
    case KT_INT: {
        long v;
        if (scalar_text(c, n, path, "an integer") < 0)
            break;
        int rc = parse_long(n->scalar, &v);
        if (rc == -1)
            ferry_diags_add(c->d, n->line, n->col, "%s: expected an integer, got '%s'", path,
                            n->scalar);
        else if (rc < 0)
            ferry_diags_add(c->d, n->line, n->col, "%s: %s is out of range (%ld to %ld)", path,
                            n->scalar, k->min, k->max);
        else if (v < k->min || v > k->max)
            ferry_diags_add(c->d, n->line, n->col, "%s: %ld is out of range (%ld to %ld)", path, v,
                            k->min, k->max);
        else
            *(long *)field = v;
        break;
    }
    case KT_BOOL:
        if (scalar_text(c, n, path, "true or false") < 0)
            break;
        if (parse_bool(n->scalar, (bool *)field) < 0)
            ferry_diags_add(c->d, n->line, n->col, "%s: expected true or false, got '%s'", path,
                            n->scalar);
        break;
    case KT_ENUM: {
        char list[256] = "";
        if (scalar_text(c, n, path, "a string") < 0)
            break;
        for (int i = 0; k->enums[i]; i++) {
            if (!strcmp(n->scalar, k->enums[i])) {
                *(int *)field = i;
                return;
            }
            size_t l = strlen(list);
            snprintf(list + l, sizeof(list) - l, "%s%s", i ? ", " : "", k->enums[i]);
        }
        ferry_diags_add(c->d, n->line, n->col, "%s: invalid value '%s' (expected one of: %s)", path,
                        n->scalar, list);
        break;
    }
    case KT_STRLIST:
        load_strv(c, n, path, field);
        break;
    case KT_KVS: {
        struct ferry_kvs *kv = field;
        if (n->type != FERRY_NODE_MAP) {
            ferry_diags_add(c->d, n->line, n->col, "%s: expected a mapping, got %s", path,
                            ferry_node_type_name(n));
            break;
        }
        kv->v = calloc(n->n ? n->n : 1, sizeof(*kv->v));
        for (size_t i = 0; i < n->n; i++) {
            char p[256];
            schema_join(p, sizeof(p), path, n->keys[i]->scalar);
            if (scalar_text(c, n->items[i], p, "a scalar value") < 0)
                continue;
            kv->v[kv->n].key = strdup(n->keys[i]->scalar);
            kv->v[kv->n].value = strdup(n->items[i]->scalar);
            kv->n++;
        }
        break;
    }
    case KT_CMDS: {
        struct ferry_strv **cmds = field;
        size_t *count = (size_t *)(base + k->count_off);
        if (n->type != FERRY_NODE_SEQ) {
            ferry_diags_add(c->d, n->line, n->col, "%s: expected a list of commands, got %s", path,
                            ferry_node_type_name(n));
            break;
        }
        *cmds = calloc(n->n ? n->n : 1, sizeof(**cmds));
        for (size_t i = 0; i < n->n; i++) {
            char p[256];
            snprintf(p, sizeof(p), "%s[%zu]", path, i);
            const struct ferry_node *item = n->items[i];
            if (item->type != FERRY_NODE_SEQ || item->n == 0) {
                ferry_diags_add(
                    c->d, item->line, item->col,
                    "%s: expected a command as a list such as [INCR, \"key\"], got %s", p,
                    item->type == FERRY_NODE_SEQ ? "an empty list" : ferry_node_type_name(item));
                continue;
            }
            if (load_strv(c, item, p, &(*cmds)[*count]) == 0)
                (*count)++;
        }
        break;
    }
    case KT_SECTION:
        if (n->type != FERRY_NODE_MAP) {
            ferry_diags_add(c->d, n->line, n->col, "%s: expected a mapping, got %s", path,
                            ferry_node_type_name(n));
            load_map(c, k->sub, field, NULL, path); /* defaults, so the object is whole */
            break;
        }
        load_map(c, k->sub, field, n, path);
        break;
    case KT_LIST: {
        char **arr = field;
        size_t *count = (size_t *)(base + k->count_off);
        if (n->type != FERRY_NODE_SEQ) {
            ferry_diags_add(c->d, n->line, n->col, "%s: expected a list, got %s", path,
                            ferry_node_type_name(n));
            break;
        }
        *arr = calloc(n->n ? n->n : 1, k->sub->size);
        for (size_t i = 0; i < n->n; i++) {
            char p[256];
            snprintf(p, sizeof(p), "%s[%zu]", path, i);
            const struct ferry_node *item = n->items[i];
            if (item->type != FERRY_NODE_MAP) {
                ferry_diags_add(c->d, item->line, item->col, "%s: expected a mapping, got %s", p,
                                ferry_node_type_name(item));
                continue;
            }
            char *obj = *arr + *count * k->sub->size;
            (*count)++;
            load_map(c, k->sub, obj, item, p);
        }
        break;
    }
    case KT_NAMED:
        load_named(c, k, base, n, path);
        break;
    }
}

/* KT_NAMED: `name: {key: value, …}`, or `name: value` for the sub-section's first key. */
static void load_named(struct ctx *c, const struct key *k, char *base, const struct ferry_node *n,
                       const char *path)
{
    char **arr = (char **)(base + k->off);
    size_t *count = (size_t *)(base + k->count_off);
    if (n->type != FERRY_NODE_MAP) {
        ferry_diags_add(c->d, n->line, n->col, "%s: expected a mapping, got %s", path,
                        ferry_node_type_name(n));
        return;
    }
    *arr = calloc(n->n ? n->n : 1, k->sub->size);
    for (size_t i = 0; i < n->n; i++) {
        char p[256];
        const struct ferry_node *item = n->items[i];
        char *obj = *arr + *count * k->sub->size;
        schema_join(p, sizeof(p), path, n->keys[i]->scalar);
        if (item->type == FERRY_NODE_SEQ || (item->type == FERRY_NODE_SCALAR && !item->scalar)) {
            ferry_diags_add(c->d, item->line, item->col,
                            "%s: expected a string or a mapping, got %s", p,
                            ferry_node_type_name(item));
            continue;
        }
        *(char **)obj = strdup(n->keys[i]->scalar);
        (*count)++;
        if (item->type == FERRY_NODE_SCALAR)
            load_value(c, &k->sub->keys[0], obj, item, p);
        load_map(c, k->sub, obj, item->type == FERRY_NODE_MAP ? item : NULL, p);
    }
}

/* Applies the default of key k (or nothing, when it has none). */
static void load_default(struct ctx *c, const struct key *k, char *base, const char *path)
{
    if (k->type == KT_SECTION) {
        load_map(c, k->sub, base + k->off, NULL, path);
        return;
    }
    if (!k->def)
        return;
    struct ferry_node n = {.type = FERRY_NODE_SCALAR, .scalar = (char *)k->def};
    load_value(c, k, base, &n, path);
}

/* A section key written with nothing under it ("mysql:") gets the section's defaults; when
 * the section has required keys, they are missing, and that is said at the empty value. */
static void empty_section(struct ctx *c, const struct key *k, const struct ferry_node *v,
                          const char *path)
{
    char need[256] = "";
    size_t total = 0, n = 0;
    for (const struct key *sk = k->sub->keys; sk->name; sk++)
        total += (sk->flags & K_REQUIRED) != 0;
    if (total == 0)
        return;
    for (const struct key *sk = k->sub->keys; sk->name; sk++) {
        if (!(sk->flags & K_REQUIRED))
            continue;
        size_t len = strlen(need);
        snprintf(need + len, sizeof(need) - len, "%s'%s'",
                 n == 0 ? "" : (n + 1 == total ? " and " : ", "), sk->name);
        n++;
    }
    ferry_diags_add(c->d, v->line, v->col, "%s: is empty (needs %s)", path, need);
}

/* Loads `map` into the object at base. map NULL: the section is absent, so only defaults
 * apply (whether it may be absent is the parent's or a check's business). */
static void load_map(struct ctx *c, const struct section *s, char *base,
                     const struct ferry_node *map, const char *path)
{
    if (map) {
        for (size_t i = 0; i < map->n; i++) {
            const struct ferry_node *kn = map->keys[i];
            const struct key *k = s->keys;
            while (k->name && strcmp(k->name, kn->scalar))
                k++;
            if (!k->name)
                unknown_key(c, s, kn, path);
        }
    }
    for (const struct key *k = s->keys; k->name; k++) {
        char p[256];
        schema_join(p, sizeof(p), path, k->name);
        const struct ferry_node *v = ferry_node_get(map, k->name);
        int empty = v && v->type == FERRY_NODE_SCALAR && !v->scalar && k->type == KT_SECTION;
        if (v && !empty) {
            load_value(c, k, base, v, p);
        } else if (empty) {
            empty_section(c, k, v, p);
            load_default(c, k, base, p);
        } else if ((k->flags & K_REQUIRED) && map) {
            ferry_diags_add(c->d, map->line, map->col, "%s%smissing required key '%s'", path,
                            *path ? ": " : "", k->name);
        } else if (!(k->flags & K_REQUIRED)) {
            load_default(c, k, base, p);
        }
    }
    if (s->check)
        s->check(c, base, map, path);
}

/* ---- cross-key checks ----------------------------------------------------------------- */

void schema_pos_of(const struct ferry_node *map, const char *key, int *line, int *col)
{
    const struct ferry_node *n = ferry_node_get(map, key);
    if (!n)
        n = map;
    *line = n ? n->line : 1;
    *col = n ? n->col : 1;
}

/* MySQL identifiers we accept: ASCII letters, digits, '_' and '$', not all digits, ≤ 64. */
int schema_valid_identifier(const char *s)
{
    size_t n = strlen(s);
    int digits = 1;
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (!isalnum(ch) && ch != '_' && ch != '$')
            return 0;
        if (!isdigit(ch))
            digits = 0;
    }
    return !digits;
}

static void check_kafka(struct ctx *c, void *obj, const struct ferry_node *map, const char *path)
{
    struct ferry_kafka_config *k = obj;
    int line, col;
    (void)path;
    if (!k->brokers)
        return;
    k->embedded = strcmp(k->brokers, "embedded") == 0;
    if (!k->embedded && ferry_node_get(map, "embedded")) {
        schema_pos_of(map, "embedded", &line, &col);
        ferry_diags_add(c->d, line, col, "kafka.embedded: applies only with 'brokers: embedded'");
    }
    if (!k->embedded && !*k->brokers) {
        schema_pos_of(map, "brokers", &line, &col);
        ferry_diags_add(c->d, line, col, "kafka.brokers: must not be empty");
    }
}

/* A pattern that PCRE2 refuses is reported at the pattern's own position. */
static void check_pattern(struct ctx *c, const struct ferry_node *ml, const char *key,
                          const char *pattern, const char *path)
{
    int code, line, col;
    PCRE2_SIZE where;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &code, &where, NULL);
    if (re) {
        pcre2_code_free(re);
        return;
    }
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof(msg));
    schema_pos_of(ml, key, &line, &col);
    ferry_diags_add(c->d, line, col, "%s.multiline.%s: bad pattern at offset %zu: %s", path, key,
                    (size_t)where, (const char *)msg);
}

static void check_multiline(struct ctx *c, struct ferry_source_config *s,
                            const struct ferry_node *map, const char *path)
{
    const struct ferry_node *ml = ferry_node_get(map, "multiline");
    int line, col;
    if (!ml || ml->type != FERRY_NODE_MAP)
        return;
    if (s->ml_start && s->ml_continue) {
        schema_pos_of(ml, "continue", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.multiline: give 'start' or 'continue', not both",
                        path);
    } else if (!s->ml_start && !s->ml_continue) {
        ferry_diags_add(c->d, ml->line, ml->col, "%s.multiline: needs 'start' or 'continue'", path);
    }
    if (s->ml_start)
        check_pattern(c, ml, "start", s->ml_start, path);
    if (s->ml_continue)
        check_pattern(c, ml, "continue", s->ml_continue, path);
}

static void check_source(struct ctx *c, void *obj, const struct ferry_node *map, const char *path)
{
    struct ferry_source_config *s = obj;
    int line, col;
    if (s->type == FERRY_SOURCE_TAIL && !ferry_node_get(map, "paths")) {
        ferry_diags_add(c->d, map->line, map->col, "%s: missing required key 'paths'", path);
    } else if (s->type == FERRY_SOURCE_TAIL && s->paths.v && s->paths.n == 0) {
        schema_pos_of(map, "paths", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.paths: needs at least one pattern", path);
    } else if (s->type == FERRY_SOURCE_STDIN && s->paths.v) {
        schema_pos_of(map, "paths", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.paths: does not apply to a stdin source", path);
    }
    check_multiline(c, s, map, path);
    for (size_t i = 0; s->name && c->cfg->sources + i != s; i++) {
        if (c->cfg->sources[i].name && !strcmp(c->cfg->sources[i].name, s->name)) {
            schema_pos_of(map, "name", &line, &col);
            ferry_diags_add(c->d, line, col, "%s.name: duplicate source name '%s'", path, s->name);
            break;
        }
    }
    if (s->name && (!*s->name || strchr(s->name, '/'))) {
        schema_pos_of(map, "name", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.name: must be non-empty and contain no '/'", path);
    }
}

/* Resolves `password_env` into `password`; both given is an error. */
void schema_resolve_password(struct ctx *c, char **password, const char *env,
                             const struct ferry_node *sect, const char *path)
{
    int line, col;
    if (!env)
        return;
    schema_pos_of(sect, "password_env", &line, &col);
    if (*password) {
        ferry_diags_add(c->d, line, col, "%s: give either 'password' or 'password_env', not both",
                        path);
        return;
    }
    const char *v = getenv(env);
    if (!v)
        ferry_diags_add(c->d, line, col, "%s.password_env: environment variable %s is not set",
                        path, env);
    else
        *password = strdup(v);
}

/* TLS: a client certificate comes with its key; verification defaults to on with a CA, and
 * needs one. */
static void check_mysql(struct ctx *c, void *obj, const struct ferry_node *map, const char *path)
{
    struct ferry_mysql_config *m = obj;
    int line, col;
    if (!map)
        return;
    if ((m->ssl_cert != NULL) != (m->ssl_key != NULL)) {
        const char *given = m->ssl_cert ? "ssl_cert" : "ssl_key";
        schema_pos_of(map, given, &line, &col);
        ferry_diags_add(c->d, line, col, "%s.%s: needs '%s' too", path, given,
                        m->ssl_cert ? "ssl_key" : "ssl_cert");
    }
    if (!ferry_node_get(map, "ssl_verify_server_cert")) {
        m->ssl_verify_server_cert = m->ssl_ca != NULL;
    } else if (m->ssl_verify_server_cert && !m->ssl_ca) {
        schema_pos_of(map, "ssl_verify_server_cert", &line, &col);
        ferry_diags_add(c->d, line, col,
                        "%s.ssl_verify_server_cert: needs 'ssl_ca', the CA that signed the "
                        "server's certificate",
                        path);
    }
}

/* partitioning.key: exactly one kind of key; a regex PCRE2 compiles, with the group named. */
static void check_key(struct ctx *c, void *obj, const struct ferry_node *map, const char *path)
{
    static const char *const kinds[] = {"json_field", "regex", "static", NULL};
    struct ferry_key_config *k = obj;
    const char *first = NULL;
    char e[512];
    int line, col;
    if (!map)
        return; /* absent: check_partitioning says whether it is needed */
    for (int i = 0; kinds[i]; i++) {
        if (!ferry_node_get(map, kinds[i]))
            continue;
        if (first) {
            schema_pos_of(map, kinds[i], &line, &col);
            ferry_diags_add(c->d, line, col,
                            "%s: give one of json_field, regex and static, not "
                            "both %s and %s",
                            path, first, kinds[i]);
        } else {
            first = kinds[i];
        }
    }
    if (!first)
        ferry_diags_add(c->d, map->line, map->col, "%s: needs one of json_field, regex or static",
                        path);
    if (k->group && !ferry_node_get(map, "regex")) {
        schema_pos_of(map, "group", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.group: applies only with regex", path);
    }
    if (!k->regex)
        return;
    /* the pattern first, at its own position; then the group, at the group's */
    const char *key = "regex";
    if (ferry_keyer_check_regex(k->regex, "0", e, sizeof(e)) == 0) {
        if (ferry_keyer_check_regex(k->regex, k->group, e, sizeof(e)) == 0)
            return;
        if (k->group)
            key = "group";
    }
    schema_pos_of(map, key, &line, &col);
    ferry_diags_add(c->d, line, col, "%s.%s: %s", path, key, e);
}

static void check_partitioning(struct ctx *c, void *obj, const struct ferry_node *map,
                               const char *path)
{
    struct ferry_partitioning_config *p = obj;
    const struct ferry_node *key = ferry_node_get(map, "key");
    int keyed = p->mode == FERRY_PARTITION_KEY, line, col;
    int explicit =
        p->mode == FERRY_PARTITION_EXPLICIT || (keyed && p->fallback == FERRY_FALLBACK_EXPLICIT);
    if (!ferry_node_get(map, "partition"))
        p->partition = -1;
    if (keyed && (!key || (key->type == FERRY_NODE_SCALAR && !key->scalar))) {
        schema_pos_of(map, "mode", &line, &col);
        ferry_diags_add(c->d, line, col,
                        "%s: mode key needs a 'key' section (json_field, regex "
                        "or static)",
                        path);
    }
    static const char *const keyed_only[] = {"key", "fallback", NULL};
    for (int i = 0; !keyed && keyed_only[i]; i++) {
        if (ferry_node_get(map, keyed_only[i])) {
            schema_pos_of(map, keyed_only[i], &line, &col);
            ferry_diags_add(c->d, line, col, "%s.%s: applies only with mode: key", path,
                            keyed_only[i]);
        }
    }
    if (explicit && !ferry_node_get(map, "partition")) {
        schema_pos_of(map, p->mode == FERRY_PARTITION_EXPLICIT ? "mode" : "fallback", &line, &col);
        ferry_diags_add(c->d, line, col, "%s: %s explicit needs 'partition'", path,
                        p->mode == FERRY_PARTITION_EXPLICIT ? "mode" : "fallback");
    } else if (!explicit && ferry_node_get(map, "partition")) {
        schema_pos_of(map, "partition", &line, &col);
        ferry_diags_add(c->d, line, col,
                        "%s.partition: applies only with mode: explicit or fallback: explicit",
                        path);
    }
}

/* One column: `field` defaults to the column's name, `format` and `length` fit its type, and
 * a default converts. map is NULL for the shorthand `column: field`. */
static void check_column(struct ctx *c, void *obj, const struct ferry_node *map, const char *path)
{
    struct ferry_column_config *col = obj;
    const struct ferry_node *tn = ferry_node_get(map, "type");
    struct ferry_value v;
    char why[256];
    int line, pos;

    if (!col->field)
        col->field = strdup(col->name);
    /* a type that is invalid is already reported; col->type then means nothing */
    if (!map || (tn && (tn->type != FERRY_NODE_SCALAR || !tn->scalar ||
                        strcmp(tn->scalar, column_type_names[col->type]) != 0)))
        return;
    if (col->type != FERRY_COLUMN_DATETIME && ferry_node_get(map, "format")) {
        schema_pos_of(map, "format", &line, &pos);
        ferry_diags_add(c->d, line, pos, "%s.format: applies only to type datetime", path);
    }
    if (col->type != FERRY_COLUMN_STRING && ferry_node_get(map, "length")) {
        schema_pos_of(map, "length", &line, &pos);
        ferry_diags_add(c->d, line, pos, "%s.length: applies only to type string", path);
    }
    if (col->def && ferry_value_parse(col->type, ferry_column_time_format(col), col->def,
                                      strlen(col->def), &v, why, sizeof(why)) < 0) {
        schema_pos_of(map, "default", &line, &pos);
        ferry_diags_add(c->d, line, pos, "%s.default: %s", path, why);
    }
}

/* mode and key: an upsert names its key columns, each one of `columns`, once; they are never
 * NULL. */
static void check_upsert(struct ctx *c, struct ferry_worker_config *w, const struct ferry_node *map,
                         const char *path)
{
    const struct ferry_node *kn = ferry_node_get(map, "key");
    int line, col;
    if (w->mode != FERRY_MYSQL_UPSERT) {
        if (kn) {
            schema_pos_of(map, "key", &line, &col);
            ferry_diags_add(c->d, line, col, "%s.key: applies only with mode: upsert", path);
        }
        return;
    }
    if (!w->key.v || w->key.n == 0) {
        schema_pos_of(map, kn ? "key" : "mode", &line, &col);
        ferry_diags_add(c->d, line, col,
                        "%s: mode upsert needs 'key': the columns of the table's unique key", path);
        return;
    }
    for (size_t i = 0; i < w->key.n; i++) {
        const struct ferry_node *at = kn->type == FERRY_NODE_SEQ && i < kn->n ? kn->items[i] : kn;
        size_t j = 0, k = 0;
        while (j < w->ncolumns && strcasecmp(w->columns[j].name, w->key.v[i]))
            j++;
        while (k < i && strcasecmp(w->key.v[k], w->key.v[i]))
            k++;
        if (j == w->ncolumns)
            ferry_diags_add(c->d, at->line, at->col, "%s.key: '%s' is not one of the columns", path,
                            w->key.v[i]);
        else if (k < i)
            ferry_diags_add(c->d, at->line, at->col, "%s.key: '%s' is named twice", path,
                            w->key.v[i]);
        else if (w->columns[j].type == FERRY_COLUMN_JSON)
            ferry_diags_add(c->d, at->line, at->col,
                            "%s.key: '%s' is a json column, which a key cannot hold", path,
                            w->key.v[i]);
        else
            w->columns[j].null = false;
    }
}

/* Column names are MySQL identifiers, not ferry's own columns, and distinct (MySQL ignores
 * case). A column whose value was refused is not in w->columns, so each name's key node is
 * found by name (YAML keys are unique), not by index. */
static void check_columns(struct ctx *c, const struct ferry_worker_config *w,
                          const struct ferry_node *cols, const char *path)
{
    static const char *const fixed[] = {
        "kafka_topic", "kafka_partition", "kafka_offset", "kafka_ts", "received_at", "raw", NULL};
    for (size_t i = 0; cols && i < w->ncolumns; i++) {
        const char *name = w->columns[i].name;
        const struct ferry_node *kn = cols;
        for (size_t j = 0; j < cols->n; j++) {
            if (cols->keys[j]->scalar && !strcmp(cols->keys[j]->scalar, name)) {
                kn = cols->keys[j];
                break;
            }
        }
        int clash = 0;
        for (int j = 0; fixed[j]; j++)
            clash |= !strcasecmp(name, fixed[j]);
        if (!schema_valid_identifier(name))
            ferry_diags_add(c->d, kn->line, kn->col,
                            "%s.columns: invalid column name '%s' (letters, digits, '_' and "
                            "'$', at most 64)",
                            path, name);
        else if (clash)
            ferry_diags_add(c->d, kn->line, kn->col,
                            "%s.columns: '%s' is one of ferry's own columns", path, name);
        for (size_t j = 0; j < i; j++) {
            if (!strcasecmp(w->columns[j].name, name)) {
                ferry_diags_add(c->d, kn->line, kn->col,
                                "%s.columns: '%s' and '%s' are the same column to MySQL", path,
                                w->columns[j].name, name);
                break;
            }
        }
    }
}

/* Every argument of a redis command is a template; a malformed one is reported here, at its
 * own position, rather than when the sink starts. Shapes load_value refused are skipped. */
static void check_templates(struct ctx *c, const struct ferry_node *cmds, const char *path)
{
    char err[512];
    if (!cmds || cmds->type != FERRY_NODE_SEQ)
        return;
    for (size_t i = 0; i < cmds->n; i++) {
        const struct ferry_node *cmd = cmds->items[i];
        for (size_t j = 0; cmd->type == FERRY_NODE_SEQ && j < cmd->n; j++) {
            const struct ferry_node *arg = cmd->items[j];
            if (arg->type != FERRY_NODE_SCALAR || !arg->scalar)
                continue;
            if (ferry_template_check(arg->scalar, err, sizeof(err)) < 0)
                ferry_diags_add(c->d, arg->line, arg->col, "%s.commands[%zu][%zu]: %s", path, i, j,
                                err);
        }
    }
}

/* format regex needs `pattern`, which compiles with a named group; other formats take none.
 * A format that is invalid is already reported; w->format then means nothing. */
static void check_format_pattern(struct ctx *c, struct ferry_worker_config *w,
                                 const struct ferry_node *map, const char *path)
{
    const struct ferry_node *fn = ferry_node_get(map, "format");
    char e[512];
    int line, col;
    if (fn && (fn->type != FERRY_NODE_SCALAR || !fn->scalar ||
               strcmp(fn->scalar, format_names[w->format]) != 0))
        return;
    if (w->format != FERRY_FORMAT_REGEX) {
        if (ferry_node_get(map, "pattern")) {
            schema_pos_of(map, "pattern", &line, &col);
            ferry_diags_add(c->d, line, col, "%s.pattern: applies only with format: regex", path);
        }
        return;
    }
    if (!w->pattern) {
        if (!ferry_node_get(map, "pattern")) { /* present but refused: already reported */
            schema_pos_of(map, "format", &line, &col);
            ferry_diags_add(c->d, line, col, "%s: format regex needs 'pattern'", path);
        }
        return;
    }
    if (ferry_parser_check_pattern(w->pattern, e, sizeof(e)) < 0) {
        schema_pos_of(map, "pattern", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.%s", path, e);
    }
}

static void check_worker(struct ctx *c, void *obj, const struct ferry_node *map, const char *path)
{
    struct ferry_worker_config *w = obj;
    static const char *const mysql_only[] = {"mysql", "table", "create_table", "columns",
                                             "mode",  "key",   "raw",          NULL};
    static const char *const redis_only[] = {"redis", "commands", NULL};
    int line, col;
    char p[256];

    for (size_t i = 0; w->name && c->cfg->workers + i != w; i++) {
        if (c->cfg->workers[i].name && !strcmp(c->cfg->workers[i].name, w->name)) {
            schema_pos_of(map, "name", &line, &col);
            ferry_diags_add(c->d, line, col, "%s.name: duplicate worker name '%s'", path, w->name);
            break;
        }
    }
    if (w->topics.v && w->topics.n == 0) {
        schema_pos_of(map, "topics", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.topics: needs at least one topic", path);
    }
    check_format_pattern(c, w, map, path);
    /* a type that is missing or invalid is already reported; w->type then means nothing */
    const struct ferry_node *tn = ferry_node_get(map, "type");
    if (!tn || tn->type != FERRY_NODE_SCALAR || !tn->scalar ||
        strcmp(tn->scalar, sink_type_names[w->type]) != 0)
        return;
    const char *tname = sink_type_names[w->type];
    const char *const *foreign = w->type == FERRY_SINK_MYSQL ? redis_only : mysql_only;
    const char *const *needed = w->type == FERRY_SINK_MYSQL ? mysql_only : redis_only;
    for (int i = 0; foreign[i]; i++) {
        if (ferry_node_get(map, foreign[i])) {
            schema_pos_of(map, foreign[i], &line, &col);
            ferry_diags_add(c->d, line, col, "%s.%s: does not apply to a %s worker", path,
                            foreign[i], tname);
        }
    }
    for (int i = 0; i < 2; i++) {
        if (!ferry_node_get(map, needed[i]))
            ferry_diags_add(c->d, map->line, map->col, "%s: a %s worker needs '%s'", path, tname,
                            needed[i]);
    }
    if (w->type == FERRY_SINK_MYSQL) {
        const struct ferry_node *sect = ferry_node_get(map, "mysql");
        schema_join(p, sizeof(p), path, "mysql");
        schema_resolve_password(c, &w->mysql.password, w->mysql.password_env, sect, p);
        if (w->table && !schema_valid_identifier(w->table)) {
            schema_pos_of(map, "table", &line, &col);
            ferry_diags_add(c->d, line, col,
                            "%s.table: invalid identifier '%s' (letters, digits, '_' and '$', "
                            "at most 64)",
                            path, w->table);
        }
        check_columns(c, w, ferry_node_get(map, "columns"), path);
        check_upsert(c, w, map, path);
    } else {
        const struct ferry_node *sect = ferry_node_get(map, "redis");
        schema_join(p, sizeof(p), path, "redis");
        schema_resolve_password(c, &w->redis.password, w->redis.password_env, sect, p);
        if (w->redis.user && !w->redis.password && !w->redis.password_env) {
            schema_pos_of(sect, "user", &line, &col);
            ferry_diags_add(c->d, line, col, "%s.user: needs 'password' or 'password_env'", p);
        }
        check_templates(c, ferry_node_get(map, "commands"), path);
    }
}

/* ---- freeing -------------------------------------------------------------------------- */

static void free_strv(struct ferry_strv *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i]);
    free(v->v);
}

static void free_obj(const struct section *s, char *base)
{
    for (const struct key *k = s->keys; k->name; k++) {
        void *field = base + k->off;
        switch (k->type) {
        case KT_STRING:
            free(*(char **)field);
            break;
        case KT_STRLIST:
            free_strv(field);
            break;
        case KT_KVS: {
            struct ferry_kvs *kv = field;
            for (size_t i = 0; i < kv->n; i++) {
                free(kv->v[i].key);
                free(kv->v[i].value);
            }
            free(kv->v);
            break;
        }
        case KT_CMDS: {
            struct ferry_strv *cmds = *(struct ferry_strv **)field;
            size_t n = *(size_t *)(base + k->count_off);
            for (size_t i = 0; i < n; i++)
                free_strv(&cmds[i]);
            free(cmds);
            break;
        }
        case KT_SECTION:
            free_obj(k->sub, field);
            break;
        case KT_LIST:
        case KT_NAMED: {
            char *arr = *(char **)field;
            size_t n = *(size_t *)(base + k->count_off);
            for (size_t i = 0; i < n; i++) {
                if (k->type == KT_NAMED)
                    free(*(char **)(arr + i * k->sub->size));
                free_obj(k->sub, arr + i * k->sub->size);
            }
            free(arr);
            break;
        }
        default:
            break;
        }
    }
}

void ferry_config_destroy(struct ferry_config *cfg)
{
    if (!cfg)
        return;
    free_obj(&root_section, (char *)cfg);
    /* password_env resolutions are extra strings only when password came from the env; they
     * live in the password fields, which free_obj already released */
    free(cfg->path);
    free(cfg);
}

/* ---- comparing ---------------------------------------------------------------------- */

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static bool same_strv(const struct ferry_strv *a, const struct ferry_strv *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (!same_str(a->v[i], b->v[i]))
            return false;
    return true;
}

/* Two objects of section s hold the same settings, by the same key tables that loaded them. */
static bool same_obj(const struct section *s, const char *a, const char *b, const char *skip)
{
    for (const struct key *k = s->keys; k->name; k++) {
        const void *fa = a + k->off, *fb = b + k->off;
        if (skip && !strcmp(k->name, skip))
            continue;
        switch (k->type) {
        case KT_STRING:
            if (!same_str(*(char *const *)fa, *(char *const *)fb))
                return false;
            break;
        case KT_INT:
            if (*(const long *)fa != *(const long *)fb)
                return false;
            break;
        case KT_BOOL:
            if (*(const bool *)fa != *(const bool *)fb)
                return false;
            break;
        case KT_ENUM:
            if (*(const int *)fa != *(const int *)fb)
                return false;
            break;
        case KT_STRLIST:
            if (!same_strv(fa, fb))
                return false;
            break;
        case KT_KVS: {
            const struct ferry_kvs *ka = fa, *kb = fb;
            if (ka->n != kb->n)
                return false;
            for (size_t i = 0; i < ka->n; i++)
                if (!same_str(ka->v[i].key, kb->v[i].key) ||
                    !same_str(ka->v[i].value, kb->v[i].value))
                    return false;
            break;
        }
        case KT_CMDS: {
            size_t na = *(const size_t *)(a + k->count_off),
                   nb = *(const size_t *)(b + k->count_off);
            const struct ferry_strv *ca = *(struct ferry_strv *const *)fa,
                                    *cb = *(struct ferry_strv *const *)fb;
            if (na != nb)
                return false;
            for (size_t i = 0; i < na; i++)
                if (!same_strv(&ca[i], &cb[i]))
                    return false;
            break;
        }
        case KT_SECTION:
            if (!same_obj(k->sub, fa, fb, NULL))
                return false;
            break;
        case KT_LIST:
        case KT_NAMED: {
            size_t na = *(const size_t *)(a + k->count_off),
                   nb = *(const size_t *)(b + k->count_off);
            const char *la = *(char *const *)fa, *lb = *(char *const *)fb;
            if (na != nb)
                return false;
            for (size_t i = 0; i < na; i++) {
                const char *ia = la + i * k->sub->size, *ib = lb + i * k->sub->size;
                if (k->type == KT_NAMED && !same_str(*(char *const *)ia, *(char *const *)ib))
                    return false;
                if (!same_obj(k->sub, ia, ib, NULL))
                    return false;
            }
            break;
        }
        }
    }
    return true;
}

bool ferry_config_same_kafka(const struct ferry_config *a, const struct ferry_config *b)
{
    return same_obj(&kafka_section, (const char *)&a->kafka, (const char *)&b->kafka, NULL);
}

bool ferry_config_same_agent(const struct ferry_config *a, const struct ferry_config *b)
{
    return same_obj(&agent_section, (const char *)a, (const char *)b, NULL);
}

bool ferry_config_same_sinks(const struct ferry_config *a, const struct ferry_config *b)
{
    return same_obj(&sinks_section, (const char *)a, (const char *)b, "workers");
}

bool ferry_config_same_worker(const struct ferry_worker_config *a,
                              const struct ferry_worker_config *b)
{
    return same_obj(&worker_section, (const char *)a, (const char *)b, NULL);
}

bool ferry_config_same_coordination(const struct ferry_config *a, const struct ferry_config *b)
{
    return same_obj(&ferry_coordination_section, (const char *)&a->coordination,
                    (const char *)&b->coordination, NULL);
}

/* ---- entry points --------------------------------------------------------------------- */

int ferry_config_parse(const char *name, const char *text, size_t len, struct ferry_config **out,
                       struct ferry_diags *d)
{
    struct ferry_node *root;
    struct ferry_config *cfg;
    size_t before = d->n;

    *out = NULL;
    root = ferry_yaml_parse(text, len, d);
    if (!root)
        return FERRY_ERR_INVALID;
    if (root->type != FERRY_NODE_MAP) {
        ferry_diags_add(d, root->line, root->col, "the document must be a mapping, got %s",
                        ferry_node_type_name(root));
        ferry_node_free(root);
        return FERRY_ERR_INVALID;
    }
    cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        ferry_node_free(root);
        return FERRY_ERR_NOMEM;
    }
    struct ctx c = {.d = d, .cfg = cfg};
    load_map(&c, &root_section, (char *)cfg, root, "");
    ferry_node_free(root);
    ferry_diags_sort(d, before);
    if (d->n > before) {
        ferry_config_destroy(cfg);
        return FERRY_ERR_INVALID;
    }
    cfg->path = strdup(name);
    *out = cfg;
    return 0;
}

/* Reads the file at path (at most 16 MiB) into *buf (malloc'd); diagnostics in d. */
static int read_file(const char *path, char **out, size_t *outlen, struct ferry_diags *d)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;

    if (!f) {
        ferry_diags_add(d, 0, 0, "cannot open: %s", strerror(errno));
        return FERRY_ERR_IO;
    }
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 16384;
            if (cap > (16u << 20)) {
                ferry_diags_add(d, 0, 0, "file larger than 16 MiB");
                free(buf);
                fclose(f);
                return FERRY_ERR_INVALID;
            }
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return FERRY_ERR_NOMEM;
            }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0)
            break;
    }
    int ioerr = ferror(f);
    fclose(f);
    if (ioerr) {
        ferry_diags_add(d, 0, 0, "read error");
        free(buf);
        return FERRY_ERR_IO;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

int ferry_config_load(const char *path, struct ferry_config **out, struct ferry_diags *d)
{
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = read_file(path, &buf, &len, d);
    if (rc < 0)
        return rc;
    rc = ferry_config_parse(path, buf, len, out, d);
    free(buf);
    return rc;
}

int ferry_config_load_coordination(const char *path, struct ferry_config **out,
                                   struct ferry_diags *d)
{
    char *buf = NULL;
    size_t len = 0, before = d->n;
    *out = NULL;
    int rc = read_file(path, &buf, &len, d);
    if (rc < 0)
        return rc;
    struct ferry_node *root = ferry_yaml_parse(buf, len, d);
    free(buf);
    if (!root)
        return FERRY_ERR_INVALID;
    struct ferry_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) {
        ferry_node_free(root);
        return FERRY_ERR_NOMEM;
    }
    struct ctx c = {.d = d, .cfg = cfg};
    const struct ferry_node *sect =
        root->type == FERRY_NODE_MAP ? ferry_node_get(root, "coordination") : NULL;
    if (root->type != FERRY_NODE_MAP)
        ferry_diags_add(d, root->line, root->col, "the document must be a mapping, got %s",
                        ferry_node_type_name(root));
    else if (sect && sect->type != FERRY_NODE_MAP)
        ferry_diags_add(d, sect->line, sect->col, "coordination: expected a mapping, got %s",
                        ferry_node_type_name(sect));
    else
        load_map(&c, &ferry_coordination_section, (char *)&cfg->coordination, sect, "coordination");
    ferry_node_free(root);
    ferry_diags_sort(d, before);
    if (d->n > before) {
        ferry_config_destroy(cfg);
        return FERRY_ERR_INVALID;
    }
    cfg->path = strdup(path);
    *out = cfg;
    return 0;
}

/* ---- loading with the diagnostics said ----------------------------------------------------- */

static void report(const struct ferry_diags *d, int rc, const char *name, FILE *f)
{
    char line[2048];
    for (size_t i = 0; i < d->n; i++) {
        if (f)
            fprintf(f, "%s\n", ferry_diags_format(d, i, line, sizeof(line)));
        else
            ferry_error("config", "%s", ferry_diags_format(d, i, line, sizeof(line)));
    }
    if (rc < 0 && d->n == 0) {
        if (f)
            fprintf(f, "%s: %s\n", name, ferry_strerror(rc));
        else
            ferry_error("config", "%s: %s", name, ferry_strerror(rc));
    }
}

int ferry_config_load_report(const char *path, struct ferry_config **out, FILE *f)
{
    struct ferry_diags d;
    ferry_diags_init(&d, path);
    int rc = ferry_config_load(path, out, &d);
    report(&d, rc, path, f);
    ferry_diags_release(&d);
    return rc;
}

int ferry_config_parse_report(const char *name, const char *text, size_t len,
                              struct ferry_config **out, FILE *f)
{
    struct ferry_diags d;
    ferry_diags_init(&d, name);
    int rc = ferry_config_parse(name, text, len, out, &d);
    report(&d, rc, name, f);
    ferry_diags_release(&d);
    return rc;
}

int ferry_config_load_coordination_report(const char *path, struct ferry_config **out, FILE *f)
{
    struct ferry_diags d;
    ferry_diags_init(&d, path);
    int rc = ferry_config_load_coordination(path, out, &d);
    report(&d, rc, path, f);
    ferry_diags_release(&d);
    return rc;
}

/* ---- reference ------------------------------------------------------------------------ */

static const char *type_doc(const struct key *k)
{
    switch (k->type) {
    case KT_STRING:
        return "string";
    case KT_INT:
        return "integer";
    case KT_BOOL:
        return "boolean";
    case KT_ENUM:
        return "enum";
    case KT_STRLIST:
        return "list of strings";
    case KT_KVS:
        return "mapping";
    case KT_CMDS:
        return "list of commands";
    case KT_SECTION:
        return "section";
    case KT_LIST:
        return "list of mappings";
    case KT_NAMED:
        return "mapping";
    }
    return "?";
}

static void write_section(FILE *f, const struct section *s, const char *path)
{
    fprintf(f, "\n### `%s`\n\n| key | type | default | meaning |\n|---|---|---|---|\n",
            *path ? path : "(top level)");
    for (const struct key *k = s->keys; k->name; k++) {
        char range[64] = "";
        if (k->type == KT_INT)
            snprintf(range, sizeof(range), " (%ld to %ld)", k->min, k->max);
        fprintf(f, "| `%s` | %s%s | %s | %s |\n", k->name, type_doc(k), range,
                (k->flags & K_REQUIRED) ? "required" : (k->def ? k->def : "—"), k->doc);
    }
    for (const struct key *k = s->keys; k->name; k++) {
        if (k->type == KT_SECTION || k->type == KT_LIST || k->type == KT_NAMED) {
            char p[256];
            schema_join(p, sizeof(p), path, k->name);
            if (k->type == KT_LIST)
                strncat(p, "[]", sizeof(p) - strlen(p) - 1);
            if (k->type == KT_NAMED)
                strncat(p, ".<name>", sizeof(p) - strlen(p) - 1);
            write_section(f, k->sub, p);
        }
    }
}

void ferry_config_write_reference(FILE *f)
{
    write_section(f, &root_section, "");
}
