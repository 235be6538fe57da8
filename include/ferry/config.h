/* ferry: configuration — one YAML document, loaded, validated and made immutable.
 *
 * Loading happens in two steps. The YAML text is parsed into a tree of ferry_node that keeps
 * the line and column of every scalar, sequence and mapping. The tree is then checked against
 * the key tables of each section (config/schema_tables.c, and each plugin's own: see
 * include/ferry/schema.h) and copied into the typed structs below.
 * Every problem found is reported, not just the first, as "file:line:column: message".
 *
 * A struct ferry_config is never modified after ferry_config_load returns: a reload builds a
 * new one. All strings in it are owned by the config and live until ferry_config_destroy.
 * Threads: loading runs on one thread; a loaded configuration may be read by any number of
 * threads at once (nothing in it changes), and is destroyed once none of them reads it. */
#ifndef FERRY_CONFIG_H
#define FERRY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ferry/coord.h"

/* ---- diagnostics ---------------------------------------------------------------------- */

struct ferry_diag {
    int line, col; /* 1-based; 0 when the problem has no position (an unreadable file) */
    char *msg;     /* owned */
};

struct ferry_diags {
    char *file; /* owned; the name used in formatted messages */
    struct ferry_diag *v;
    size_t n, cap;
};

/* `file` (copied; NULL: "<config>") is what ferry_diags_format puts before every message. */
void ferry_diags_init(struct ferry_diags *d, const char *file);
void ferry_diags_release(struct ferry_diags *d);
void ferry_diags_add(struct ferry_diags *d, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sorts diagnostics from index `from` on by position (stable: equal positions keep their
 * order), so that they read in document order. */
void ferry_diags_sort(struct ferry_diags *d, size_t from);
/* Formats diagnostic i as "file:line:col: msg" into buf (always NUL-terminated). */
const char *ferry_diags_format(const struct ferry_diags *d, size_t i, char *buf, size_t len);

/* ---- the YAML tree -------------------------------------------------------------------- */

enum ferry_node_type { FERRY_NODE_SCALAR, FERRY_NODE_SEQ, FERRY_NODE_MAP };

struct ferry_node {
    enum ferry_node_type type;
    int line, col;
    bool quoted;               /* scalar written in quotes: never null, never a number */
    char *scalar;              /* SCALAR: the text, after ${VAR} expansion */
    size_t n;                  /* SEQ: items; MAP: pairs */
    struct ferry_node **items; /* SEQ items, or MAP values */
    struct ferry_node **keys;  /* MAP keys (scalar nodes); NULL for SEQ */
};

/* Parses one YAML document. Expands ${NAME} and ${NAME:-default} in scalars from the process
 * environment ("$$" is a literal "$"). Anchors and aliases, duplicate keys, non-scalar keys
 * and undefined variables are errors. Returns the root (caller frees with ferry_node_free),
 * or NULL with at least one diagnostic added. */
struct ferry_node *ferry_yaml_parse(const char *text, size_t len, struct ferry_diags *d);
void ferry_node_free(struct ferry_node *n);
/* The value of key `name` in a MAP node, or NULL. */
const struct ferry_node *ferry_node_get(const struct ferry_node *map, const char *name);
const char *ferry_node_type_name(const struct ferry_node *n);

/* ---- typed configuration -------------------------------------------------------------- */

struct ferry_strv {
    char **v;
    size_t n;
};

struct ferry_kv {
    char *key, *value;
};

struct ferry_kvs {
    struct ferry_kv *v;
    size_t n;
};

enum ferry_acks { FERRY_ACKS_NONE, FERRY_ACKS_LEADER, FERRY_ACKS_ALL };
enum ferry_long_lines { FERRY_LONG_TRUNCATE, FERRY_LONG_SPLIT };
enum ferry_format {
    FERRY_FORMAT_RAW,
    FERRY_FORMAT_JSON,
    FERRY_FORMAT_COMBINED,
    FERRY_FORMAT_REGEX /* the named groups of the worker's `pattern` */
};
enum ferry_partition_mode {
    FERRY_PARTITION_DEFAULT,    /* librdkafka's choice for unkeyed messages */
    FERRY_PARTITION_KEY,        /* a key from each event, hashed as the Java client does */
    FERRY_PARTITION_EXPLICIT,   /* every event to one partition */
    FERRY_PARTITION_ROUND_ROBIN /* each event to the next available partition */
};
/* Where an event goes when mode is KEY and no key can be extracted from it. */
enum ferry_partition_fallback {
    FERRY_FALLBACK_DEFAULT,
    FERRY_FALLBACK_ROUND_ROBIN,
    FERRY_FALLBACK_EXPLICIT
};

struct ferry_kafka_config {
    char *brokers;               /* "host:port,…" or "embedded" */
    bool embedded;               /* brokers == "embedded" */
    long embedded_brokers;       /* embedded.brokers */
    long embedded_partitions;    /* embedded.partitions: for every topic the config names */
    struct ferry_kvs properties; /* handed to librdkafka as they are, to every client */
    struct ferry_kvs producer;   /* then these, to producers only */
    struct ferry_kvs consumer;   /* then these, to consumers only */
};

/* partitioning.key: exactly one of json_field, regex and static_key is set (validated). */
struct ferry_key_config {
    char *json_field; /* a top-level member of a JSON object line */
    char *regex;      /* PCRE2 pattern; the key is the text of `group` */
    char *group;      /* a group's name or number; NULL: the first capture group */
    char *static_key; /* `static`: the same key for every event */
};

struct ferry_partitioning_config {
    enum ferry_partition_mode mode;
    struct ferry_key_config key; /* mode KEY */
    enum ferry_partition_fallback fallback;
    long partition; /* mode EXPLICIT or fallback EXPLICIT; -1 when not given */
};

/* agent.sources[]: what the agent needs of every source (name, topic, delivery, partitioning)
 * and the line framing every source's events go through (sources/framer.c). The rest is the
 * source plugin's own (ferry_source_plugin). */
struct ferry_source_config {
    char *name;
    char *type; /* a registered source's name (validated; see sources/registry.c) */
    long max_line_bytes;
    enum ferry_long_lines long_lines;
    long partial_flush_ms; /* 0: never */
    char *ml_start;        /* multiline.start: PCRE2 pattern, or NULL */
    char *ml_continue;     /* multiline.continue: PCRE2 pattern, or NULL */
    long ml_max_lines;
    long ml_flush_ms;
    char *topic;
    enum ferry_acks acks;
    struct ferry_partitioning_config partitioning;
    bool headers; /* provenance headers ferry.host, ferry.path, ferry.offset */
    void *plugin; /* the plugin's own settings, as its key table declares them; owned */
};

/* The source plugin's own settings: the struct its key table fills (sources/tail.c: struct
 * ferry_tail_config). Valid as long as the config. */
static inline const void *ferry_source_plugin(const struct ferry_source_config *s)
{
    return s->plugin;
}

/* sinks.workers[]: what the worker runtime needs of every worker (name, topics, batching) and
 * how events become fields (format, pattern: sinks/fields.c). The rest is the sink plugin's
 * own (ferry_worker_plugin). */
struct ferry_worker_config {
    char *name;
    char *type; /* a registered sink's name (validated; see sinks/registry.c) */
    struct ferry_strv topics;
    enum ferry_format format;
    char *pattern; /* format REGEX: a PCRE2 pattern with named groups (validated); else NULL */
    long batch_max_rows;
    long batch_max_ms;
    void *plugin; /* the plugin's own settings, as its key table declares them; owned */
};

/* The sink plugin's own settings: the struct its key table fills (sinks/mysql_config.c:
 * struct ferry_mysql_config). Valid as long as the config. */
static inline const void *ferry_worker_plugin(const struct ferry_worker_config *w)
{
    return w->plugin;
}

/* coordination: where the configuration overlay, the leader election and the member list live. */
struct ferry_coordination_config {
    enum ferry_coord_backend backend;
    struct ferry_strv endpoints; /* host:port */
    char *prefix;                /* "/ferry": absolute, no trailing '/' (validated) */
    long ttl_ms;                 /* etcd lease TTL / ZooKeeper session timeout */
    char *user;
    char *password; /* from `password`, or from the variable named by `password_env` */
    char *password_env;
    char *ca_file, *cert_file, *key_file; /* etcd over TLS */
};

/* rollups[].measures: one column of a summary table. */
enum ferry_measure_fn {
    FERRY_MEASURE_COUNT,          /* COUNT(*) */
    FERRY_MEASURE_COUNT_DISTINCT, /* COUNT(DISTINCT column) */
    FERRY_MEASURE_SUM,
    FERRY_MEASURE_MIN,
    FERRY_MEASURE_MAX,
    FERRY_MEASURE_AVG,
};

struct ferry_measure_config {
    char *name; /* the summary table's column */
    enum ferry_measure_fn fn;
    char *column; /* a column of the raw table; NULL for count (validated) */
};

enum ferry_rollup_window { FERRY_WINDOW_MINUTE, FERRY_WINDOW_HOUR, FERRY_WINDOW_DAY };

/* A summary table the sinks' leader fills from a mysql worker's table, one row per closed time
 * window and group. Validated (config/schema_coord.c): `worker` names a mysql worker; time_column
 * is one of its datetime columns; group_by and every measure's column are columns of its table (its
 * own `columns`, or kafka_topic / kafka_partition); every name is a valid identifier. */
struct ferry_rollup_config {
    char *name;
    char *worker;      /* the mysql worker whose connection and table are used */
    char *table;       /* the summary table */
    char *time_column; /* the raw table's datetime column that places a row in a window */
    enum ferry_rollup_window window;
    struct ferry_strv group_by;
    struct ferry_measure_config *measures; /* in the order written */
    size_t nmeasures;
    long interval_ms; /* how often the leader looks for newly closed windows */
    long lateness_ms; /* a window is closed this long after its end */
    bool create_table;
    const struct ferry_worker_config *source; /* the worker named by `worker` (set by the
                                                 validator) */
};

struct ferry_config {
    char *path; /* the file loaded, or the name given to ferry_config_parse */
    struct ferry_kafka_config kafka;
    char *state_dir;
    long checkpoint_ms;
    long shutdown_timeout_ms;
    struct ferry_source_config *sources;
    size_t nsources;
    char *group;
    char *dead_letter_topic;
    struct ferry_worker_config *workers;
    size_t nworkers;
    struct ferry_rollup_config *rollups;
    size_t nrollups;
    struct ferry_coordination_config coordination;
    char *http_listen; /* http.listen: "host:port" of the status endpoint; NULL: none */
};

/* Reads, parses and validates the file at `path`. On success *out owns a new config and 0 is
 * returned; otherwise *out is NULL, every problem is in `d`, and FERRY_ERR_INVALID (or
 * FERRY_ERR_IO when the file cannot be read) is returned. Messages carry the name given to
 * ferry_diags_init, not `path`: initialise `d` with the same path. */
int ferry_config_load(const char *path, struct ferry_config **out, struct ferry_diags *d);
/* The same for a document held in memory. `name` becomes the config's `path`; messages carry
 * the name given to ferry_diags_init. */
int ferry_config_parse(const char *name, const char *text, size_t len, struct ferry_config **out,
                       struct ferry_diags *d);
/* Reads only the coordination section of the file at path (a process that loads its
 * configuration from the coordination service takes that section from a local file); every
 * other key is ignored, and nothing else is required. */
int ferry_config_load_coordination(const char *path, struct ferry_config **out,
                                   struct ferry_diags *d);
void ferry_config_destroy(struct ferry_config *cfg);
/* The same three, saying every problem ("file:line:col: message", or "file: why" when the file
 * could not be read) on f, or in the log (level error, module "config") when f is NULL. */
int ferry_config_load_report(const char *path, struct ferry_config **out, FILE *f);
int ferry_config_parse_report(const char *name, const char *text, size_t len,
                              struct ferry_config **out, FILE *f);
int ferry_config_load_coordination_report(const char *path, struct ferry_config **out, FILE *f);

/* Whether two configurations hold the same settings: in kafka; in agent (its sources,
 * state_dir, …); in sinks apart from its workers (group, dead_letter_topic); in one worker;
 * in coordination. A reload restarts what differs and nothing else. */
bool ferry_config_same_kafka(const struct ferry_config *a, const struct ferry_config *b);
bool ferry_config_same_agent(const struct ferry_config *a, const struct ferry_config *b);
bool ferry_config_same_sinks(const struct ferry_config *a, const struct ferry_config *b);
bool ferry_config_same_worker(const struct ferry_worker_config *a,
                              const struct ferry_worker_config *b);
bool ferry_config_same_coordination(const struct ferry_config *a, const struct ferry_config *b);

/* Writes the key reference (every key, its type, default and meaning) as Markdown. */
void ferry_config_write_reference(FILE *f);

/* Names used in logs and messages. */
const char *ferry_acks_name(enum ferry_acks a);
const char *ferry_format_name(enum ferry_format f);

#endif
