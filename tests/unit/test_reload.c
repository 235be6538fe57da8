/* Unit tests for the reload diff (ferry_config_same_* in config/schema_load.c).
 *
 * process/reload.c `apply` restarts the agent when kafka or agent differ, every worker when
 * kafka or sinks (group, dead_letter_topic) differ, one worker when its own settings differ,
 * and warns that coordination changes wait for the next start. Each case here changes one
 * line of a base document and says, by hand, which of those comparisons must see it: a
 * setting that is missed leaves a job running on old settings; a difference seen where there
 * is none restarts a job for nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/config.h"
#include "ferry/err.h"

#define NAME "ferry.yaml"

/* Every line is unique, so that a case can replace exactly one of them. */
static const char base_doc[] = "kafka:\n"
                               "  brokers: k1:9092,k2:9092\n"
                               "  properties: {socket.timeout.ms: '30000'}\n"
                               "  producer: {linger.ms: '5'}\n"
                               "  consumer: {session.timeout.ms: '10000'}\n"
                               "agent:\n"
                               "  state_dir: /var/lib/ferry-test\n"
                               "  checkpoint_ms: 1000\n"
                               "  sources:\n"
                               "    - name: web\n"
                               "      paths: [/var/log/web/*.log]\n"
                               "      exclude: ['*.gz']\n"
                               "      topic: web\n"
                               "      max_line_bytes: 4096\n"
                               "      multiline: {start: '^20'}\n"
                               "      partitioning:\n"
                               "        mode: key\n"
                               "        key: {json_field: user_id}\n"
                               "        fallback: round_robin\n"
                               "sinks:\n"
                               "  group: prod\n"
                               "  dead_letter_topic: dlq\n"
                               "  workers:\n"
                               "    - name: db\n"
                               "      type: mysql\n"
                               "      topics: [web]\n"
                               "      format: json\n"
                               "      batch: {max_rows: 500, max_ms: 100}\n"
                               "      mysql:\n"
                               "        host: db1\n"
                               "        port: 3306\n"
                               "        user: u\n"
                               "        password: pw\n"
                               "        database: d\n"
                               "      table: events\n"
                               "      columns:\n"
                               "        ts: {type: datetime}\n"
                               "        url: url\n"
                               "        n: {field: bytes, type: int, default: '0'}\n"
                               "        agent: {field: user_agent, length: 200}\n"
                               "    - name: cache\n"
                               "      type: redis\n"
                               "      topics: [web, api]\n"
                               "      format: json\n"
                               "      redis: {host: r1, port: 6379, db: 0}\n"
                               "      commands:\n"
                               "        - [INCR, 'hits:{url}']\n"
                               "        - [HINCRBY, 'u:{user_id}', n, '1']\n"
                               "rollups:\n"
                               "  - name: pv\n"
                               "    worker: db\n"
                               "    table: pv\n"
                               "    time_column: ts\n"
                               "    window: hour\n"
                               "    measures: {views: count}\n"
                               "coordination:\n"
                               "  backend: etcd\n"
                               "  endpoints: [e1:2379, e2:2379]\n"
                               "  prefix: /ferry/prod\n"
                               "  ttl_ms: 4000\n"
                               "http:\n"
                               "  listen: 127.0.0.1:0\n";

static struct ferry_config *parse_ok(const char *yaml)
{
    struct ferry_diags d;
    struct ferry_config *cfg = NULL;
    char line[1024];

    ferry_diags_init(&d, NAME);
    int rc = ferry_config_parse(NAME, yaml, strlen(yaml), &cfg, &d);
    for (size_t i = 0; i < d.n; i++)
        print_error("%s\n", ferry_diags_format(&d, i, line, sizeof(line)));
    assert_int_equal(d.n, 0);
    assert_int_equal(rc, 0);
    assert_non_null(cfg);
    ferry_diags_release(&d);
    return cfg;
}

/* base_doc with its one occurrence of `from` replaced by `to`. Caller frees. */
static char *variant(const char *from, const char *to)
{
    const char *at = strstr(base_doc, from);
    if (!at || strstr(at + 1, from))
        fail_msg("'%s' is not exactly once in the base document", from);
    size_t head = (size_t)(at - base_doc), n = strlen(base_doc) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%.*s%s%s", (int)head, base_doc, to, at + strlen(from));
    return out;
}

static const struct ferry_worker_config *worker(const struct ferry_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nworkers; i++)
        if (!strcmp(cfg->workers[i].name, name))
            return &cfg->workers[i];
    return NULL;
}

/* What apply() decides from the comparisons, one letter each, upper case for "same":
 * K kafka, A agent, S sinks, D worker db, C worker cache, O coordination ('-': the worker is
 * in only one of the two configurations). */
static void verdicts(const struct ferry_config *a, const struct ferry_config *b, char out[7])
{
    const struct ferry_worker_config *db = worker(b, "db"), *cache = worker(b, "cache");
    const struct ferry_worker_config *db0 = worker(a, "db"), *cache0 = worker(a, "cache");
    out[0] = ferry_config_same_kafka(a, b) ? 'K' : 'k';
    out[1] = ferry_config_same_agent(a, b) ? 'A' : 'a';
    out[2] = ferry_config_same_sinks(a, b) ? 'S' : 's';
    out[3] = !db || !db0 ? '-' : ferry_config_same_worker(db0, db) ? 'D' : 'd';
    out[4] = !cache || !cache0 ? '-' : ferry_config_same_worker(cache0, cache) ? 'C' : 'c';
    out[5] = ferry_config_same_coordination(a, b) ? 'O' : 'o';
    out[6] = '\0';
}

struct change {
    const char *from, *to;
    const char *want; /* as verdicts() writes it */
};

/* A row that adds `extra` right after `from`. */
#define ADDED(from, extra, want)                                                                   \
    {                                                                                              \
        from, from extra, want                                                                     \
    }

/* A test of one table of changes, ended by a row of NULLs: *state is the table. */
static void check_changes(void **state)
{
    const struct change *v = *state;
    struct ferry_config *a = parse_ok(base_doc);
    int bad = 0;
    for (size_t i = 0; v[i].from; i++) {
        char *doc = variant(v[i].from, v[i].to);
        struct ferry_config *b = parse_ok(doc);
        char got[7], back[7];
        verdicts(a, b, got);
        verdicts(b, a, back); /* the comparison must not depend on the direction */
        if (strcmp(got, v[i].want) || strcmp(back, v[i].want)) {
            print_error("'%s' -> '%s': want %s, got %s (and %s the other way)\n", v[i].from,
                        v[i].to, v[i].want, got, back);
            bad++;
        }
        ferry_config_destroy(b);
        free(doc);
    }
    ferry_config_destroy(a);
    assert_int_equal(bad, 0);
}

#define N(v) (sizeof(v) / sizeof((v)[0]))

static void same_document_is_same_everywhere(void **state)
{
    (void)state;
    struct ferry_config *a = parse_ok(base_doc), *b = parse_ok(base_doc);
    char got[7];
    verdicts(a, b, got);
    assert_string_equal(got, "KASDCO");
    verdicts(a, a, got);
    assert_string_equal(got, "KASDCO");
    ferry_config_destroy(a);
    ferry_config_destroy(b);
}

static const struct change kafka_changes_are_kafka_only[] = {
    {"brokers: k1:9092,k2:9092", "brokers: k1:9092,k3:9092", "kASDCO"},
    {"brokers: k1:9092,k2:9092", "brokers: k1:9092", "kASDCO"},
    {"{socket.timeout.ms: '30000'}", "{socket.timeout.ms: '30001'}", "kASDCO"},
    {"{socket.timeout.ms: '30000'}", "{socket.timeout.ms: '30000', client.rack: r1}", "kASDCO"},
    {"{socket.timeout.ms: '30000'}", "{}", "kASDCO"},
    {"{socket.timeout.ms: '30000'}", "{socket.connection.setup.timeout.ms: '30000'}", "kASDCO"},
    {"{linger.ms: '5'}", "{linger.ms: '50'}", "kASDCO"},
    {"{linger.ms: '5'}", "{linger.ms: '5', compression.type: zstd}", "kASDCO"},
    {"{session.timeout.ms: '10000'}", "{session.timeout.ms: '12000'}", "kASDCO"},
    /* a property moved from consumers only to every client is a change for producers */
    {"  properties: {socket.timeout.ms: '30000'}\n",
     "  properties: {socket.timeout.ms: '30000', session.timeout.ms: '10000'}\n", "kASDCO"},
    {NULL, NULL, NULL},
};

static void embedded_cluster_shape_is_a_kafka_change(void **state)
{
    (void)state;
    /* apply() refuses a reload that changes an embedded cluster: it must see the change */
    static const char *const docs[] = {
        "kafka: {brokers: embedded}\n",
        "kafka: {brokers: embedded, embedded: {partitions: 8}}\n",
        "kafka: {brokers: embedded, embedded: {brokers: 1}}\n",
        "kafka: {brokers: 'k1:9092'}\n",
    };
    for (size_t i = 0; i < N(docs); i++) {
        struct ferry_config *a = parse_ok(docs[i]);
        for (size_t j = 0; j < N(docs); j++) {
            struct ferry_config *b = parse_ok(docs[j]);
            if (ferry_config_same_kafka(a, b) != (i == j))
                fail_msg("'%s' vs '%s': same_kafka %d", docs[i], docs[j], i != j);
            ferry_config_destroy(b);
        }
        ferry_config_destroy(a);
    }
    /* the default shape written out is the same shape */
    struct ferry_config *a = parse_ok(docs[0]),
                        *b = parse_ok("kafka: {brokers: embedded, embedded: {brokers: 3, "
                                      "partitions: 4}}\n");
    assert_true(ferry_config_same_kafka(a, b));
    ferry_config_destroy(a);
    ferry_config_destroy(b);
}

static const struct change agent_changes_restart_the_agent_only[] = {
    {"state_dir: /var/lib/ferry-test", "state_dir: /var/lib/ferry-other", "KaSDCO"},
    {"checkpoint_ms: 1000", "checkpoint_ms: 2000", "KaSDCO"},
    ADDED("checkpoint_ms: 1000", "\n  shutdown_timeout_ms: 500", "KaSDCO"),
    {"    - name: web\n", "    - name: web2\n", "KaSDCO"},
    {"paths: [/var/log/web/*.log]", "paths: [/var/log/web/*.log, /x/*.log]", "KaSDCO"},
    {"paths: [/var/log/web/*.log]", "paths: [/var/log/web/a*.log]", "KaSDCO"},
    {"exclude: ['*.gz']", "exclude: ['*.gz', '*.bz2']", "KaSDCO"},
    {"exclude: ['*.gz']", "exclude: []", "KaSDCO"},
    {"      topic: web\n", "      topic: web2\n", "KaSDCO"},
    ADDED("      topic: web\n", "      acks: '1'\n", "KaSDCO"),
    ADDED("      topic: web\n", "      start_at: end\n", "KaSDCO"),
    ADDED("      topic: web\n", "      headers: false\n", "KaSDCO"),
    ADDED("      topic: web\n", "      rotate_wait_ms: 100\n", "KaSDCO"),
    ADDED("      topic: web\n", "      refresh_ms: 100\n", "KaSDCO"),
    ADDED("      topic: web\n", "      partial_flush_ms: 100\n", "KaSDCO"),
    ADDED("      topic: web\n", "      long_lines: split\n", "KaSDCO"),
    {"max_line_bytes: 4096", "max_line_bytes: 4097", "KaSDCO"},
    {"multiline: {start: '^20'}", "multiline: {start: '^19'}", "KaSDCO"},
    {"multiline: {start: '^20'}", "multiline: {start: '^20', max_lines: 3}", "KaSDCO"},
    {"multiline: {start: '^20'}", "multiline: {start: '^20', flush_ms: 3}", "KaSDCO"},
    {"multiline: {start: '^20'}", "multiline: {continue: '^20'}", "KaSDCO"},
    {"fallback: round_robin", "fallback: explicit\n        partition: 3", "KaSDCO"},
    {"key: {json_field: user_id}", "key: {json_field: uid}", "KaSDCO"},
    {"key: {json_field: user_id}", "key: {regex: 'u=(\\w+)'}", "KaSDCO"},
    {"key: {json_field: user_id}", "key: {static: user_id}", "KaSDCO"},
    {"fallback: round_robin", "fallback: default", "KaSDCO"},
    /* a second source */
    {"sinks:\n",
     "    - {name: b, type: stdin, topic: web}\n"
     "sinks:\n",
     "KaSDCO"},
    {NULL, NULL, NULL},
};

static const struct change sinks_changes_restart_every_worker[] = {
    ADDED("group: prod", "2", "KAsDCO"),
    ADDED("dead_letter_topic: dlq", "2", "KAsDCO"),
    /* a worker added, or removed: not a sinks change (the others keep running) */
    {"rollups:\n",
     "    - {name: more, type: redis, topics: [x], redis: {}, commands: [[INCR, a]]}\n"
     "rollups:\n",
     "KASDCO"},
    {NULL, NULL, NULL},
};

static const struct change a_worker_change_restarts_that_worker[] = {
    /* mysql worker db */
    {"      topics: [web]\n", "      topics: [web, api]\n", "KASdCO"},
    {"      topics: [web]\n", "      topics: [web2]\n", "KASdCO"},
    {"      format: json\n      batch", "      format: combined\n      batch", "KASdCO"},
    {"      format: json\n      batch",
     "      format: regex\n      pattern: '(?<url>\\S+)'\n      batch", "KASdCO"},
    {"max_rows: 500", "max_rows: 501", "KASdCO"},
    {"max_ms: 100", "max_ms: 101", "KASdCO"},
    {"host: db1", "host: db2", "KASdCO"},
    {"port: 3306", "port: 3307", "KASdCO"},
    {"user: u\n", "user: v\n", "KASdCO"},
    ADDED("password: pw", "2", "KASdCO"),
    {"database: d\n", "database: e\n", "KASdCO"},
    ADDED("database: d\n", "        socket: /run/mysqld.sock\n", "KASdCO"),
    ADDED("database: d\n", "        ssl_ca: /ca.pem\n", "KASdCO"),
    {"database: d\n",
     "database: d\n        ssl_ca: /ca.pem\n        ssl_verify_server_cert: "
     "false\n",
     "KASdCO"},
    ADDED("table: events", "2", "KASdCO"),
    ADDED("table: events", "\n      create_table: false", "KASdCO"),
    ADDED("table: events", "\n      raw: false", "KASdCO"),
    ADDED("table: events", "\n      mode: upsert\n      key: [url]", "KASdCO"),
    {"ts: {type: datetime}", "ts: {type: datetime, format: epoch_ms}", "KASdCO"},
    {"type: int, default: '0'", "type: float, default: '0'", "KASdCO"},
    {"        url: url\n", "        url2: url\n", "KASdCO"},
    {"        url: url\n", "        url: path\n", "KASdCO"},
    {"        url: url\n", "        url: {field: url, null: false}\n", "KASdCO"},
    {"default: '0'", "default: '1'", "KASdCO"},
    {"length: 200", "length: 201", "KASdCO"},
    ADDED("        url: url\n", "        extra: extra\n", "KASdCO"),
    /* the same columns in another order: another INSERT column list */
    {"        ts: {type: datetime}\n        url: url\n",
     "        url: url\n        ts: {type: datetime}\n", "KASdCO"},
    /* redis worker cache */
    {"topics: [web, api]", "topics: [api, web]", "KASDcO"},
    {"{host: r1, port: 6379, db: 0}", "{host: r2, port: 6379, db: 0}", "KASDcO"},
    {"{host: r1, port: 6379, db: 0}", "{host: r1, port: 6380, db: 0}", "KASDcO"},
    {"{host: r1, port: 6379, db: 0}", "{host: r1, port: 6379, db: 1}", "KASDcO"},
    {"{host: r1, port: 6379, db: 0}", "{host: r1, port: 6379, db: 0, password: x}", "KASDcO"},
    {"{host: r1, port: 6379, db: 0}", "{host: r1, port: 6379, db: 0, user: a, password: x}",
     "KASDcO"},
    {"[INCR, 'hits:{url}']", "[INCR, 'hits:{uri}']", "KASDcO"},
    {"[INCR, 'hits:{url}']", "[INCRBY, 'hits:{url}', '1']", "KASDcO"},
    {"[HINCRBY, 'u:{user_id}', n, '1']", "[HINCRBY, 'u:{user_id}', n, '2']", "KASDcO"},
    {"[HINCRBY, 'u:{user_id}', n, '1']", "[HINCRBY, 'u:{user_id}', n]", "KASDcO"},
    {"        - [HINCRBY, 'u:{user_id}', n, '1']\n", "", "KASDcO"},
    {"        - [INCR, 'hits:{url}']\n        - [HINCRBY, 'u:{user_id}', n, '1']\n",
     "        - [HINCRBY, 'u:{user_id}', n, '1']\n        - [INCR, 'hits:{url}']\n", "KASDcO"},
    /* an argument split in two is another command, though the text joined is the same */
    {"[INCR, 'hits:{url}']", "[INCR, 'hits:', '{url}']", "KASDcO"},
    {"      format: json\n      redis", "      format: raw\n      redis", "KASDcO"},
    {"      format: json\n      redis",
     "      format: json\n      batch: {max_rows: 7}\n"
     "      redis",
     "KASDcO"},
    {NULL, NULL, NULL},
};

static const struct change coordination_changes_are_coordination_only[] = {
    {"backend: etcd", "backend: zookeeper", "KASDCo"},
    {"endpoints: [e1:2379, e2:2379]", "endpoints: [e1:2379]", "KASDCo"},
    {"endpoints: [e1:2379, e2:2379]", "endpoints: [e2:2379, e1:2379]", "KASDCo"},
    {"prefix: /ferry/prod", "prefix: /ferry/test", "KASDCo"},
    {"ttl_ms: 4000", "ttl_ms: 5000", "KASDCo"},
    ADDED("ttl_ms: 4000", "\n  user: a\n  password: b", "KASDCo"),
    ADDED("ttl_ms: 4000", "\n  ca_file: /ca.pem", "KASDCo"),
    {NULL, NULL, NULL},
};

/* What changes nothing a job runs on must restart nothing. */
static const struct change what_jobs_do_not_use_restarts_nothing[] = {
    ADDED("checkpoint_ms: 1000", " # once a second", "KASDCO"),
    {"sinks:\n", "# the sinks\nsinks:\n", "KASDCO"},
    /* defaults written out are the defaults */
    ADDED("      topic: web\n", "      acks: all\n      headers: true\n", "KASDCO"),
    ADDED("table: events", "\n      create_table: true\n      mode: insert", "KASDCO"),
    {"{host: r1, port: 6379, db: 0}", "{host: r1}", "KASDCO"},
    {"        url: url\n", "        url: {field: url, type: string}\n", "KASDCO"},
    /* flow or block style, key order, quotes around a string */
    {"batch: {max_rows: 500, max_ms: 100}", "batch:\n        max_ms: 100\n        max_rows: 500",
     "KASDCO"},
    {"host: db1", "host: 'db1'", "KASDCO"},
    {"{linger.ms: '5'}", "\n    linger.ms: '5'", "KASDCO"},
    /* a rollup is rebuilt with every configuration; http.listen waits for a restart */
    {"window: hour", "window: day", "KASDCO"},
    ADDED("measures: {views: count}", "\n    lateness_ms: 1000", "KASDCO"),
    {"listen: 127.0.0.1:0", "listen: 127.0.0.1:8080", "KASDCO"},
    /* a worker removed: the other one keeps running */
    {"    - name: cache\n"
     "      type: redis\n"
     "      topics: [web, api]\n"
     "      format: json\n"
     "      redis: {host: r1, port: 6379, db: 0}\n"
     "      commands:\n"
     "        - [INCR, 'hits:{url}']\n"
     "        - [HINCRBY, 'u:{user_id}', n, '1']\n",
     "", "KASD-O"},
    {NULL, NULL, NULL},
};

/* Workers are matched by name: the same two in the other order are both unchanged. */
static void worker_order_does_not_matter(void **state)
{
    (void)state;
    const char *db_start = strstr(base_doc, "    - name: db\n");
    const char *cache_start = strstr(base_doc, "    - name: cache\n");
    const char *rollups = strstr(base_doc, "rollups:\n");
    size_t n = strlen(base_doc) + 1;
    char *doc = malloc(n);
    assert_non_null(doc);
    snprintf(doc, n, "%.*s%.*s%.*s%s", (int)(db_start - base_doc), base_doc,
             (int)(rollups - cache_start), cache_start, (int)(cache_start - db_start), db_start,
             rollups);
    struct ferry_config *a = parse_ok(base_doc), *b = parse_ok(doc);
    assert_string_equal(b->workers[0].name, "cache");
    char got[7];
    verdicts(a, b, got);
    assert_string_equal(got, "KASDCO");
    ferry_config_destroy(a);
    ferry_config_destroy(b);
    free(doc);
}

/* A password read from the environment is compared by its value: rotating the secret behind
 * the same password_env must reconnect with the new one; the same value must not. */
static void password_env_is_compared_by_value(void **state)
{
    (void)state;
    char *doc = variant("password: pw", "password_env: FERRY_TEST_RELOAD_PW");
    setenv("FERRY_TEST_RELOAD_PW", "one", 1);
    struct ferry_config *a = parse_ok(doc), *b = parse_ok(doc);
    setenv("FERRY_TEST_RELOAD_PW", "two", 1);
    struct ferry_config *c = parse_ok(doc);
    char got[7];
    verdicts(a, b, got);
    assert_string_equal(got, "KASDCO");
    verdicts(a, c, got);
    assert_string_equal(got, "KASdCO");
    unsetenv("FERRY_TEST_RELOAD_PW");
    ferry_config_destroy(a);
    ferry_config_destroy(b);
    ferry_config_destroy(c);
    free(doc);

    /* the same for ${VAR} expansion anywhere: the expanded text is what counts */
    doc = variant("host: db1", "host: ${FERRY_TEST_RELOAD_HOST}");
    setenv("FERRY_TEST_RELOAD_HOST", "db1", 1);
    a = parse_ok(doc);
    b = parse_ok(base_doc);
    setenv("FERRY_TEST_RELOAD_HOST", "db9", 1);
    c = parse_ok(doc);
    verdicts(a, b, got);
    assert_string_equal(got, "KASDCO");
    verdicts(a, c, got);
    assert_string_equal(got, "KASdCO");
    unsetenv("FERRY_TEST_RELOAD_HOST");
    ferry_config_destroy(a);
    ferry_config_destroy(b);
    ferry_config_destroy(c);
    free(doc);
}

/* A table of changes run as a test of its own name. */
#define CHANGES_TEST(table)                                                                        \
    {                                                                                              \
        .name = #table, .test_func = check_changes, .initial_state = (void *)(table)               \
    }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_document_is_same_everywhere),
        CHANGES_TEST(kafka_changes_are_kafka_only),
        cmocka_unit_test(embedded_cluster_shape_is_a_kafka_change),
        CHANGES_TEST(agent_changes_restart_the_agent_only),
        CHANGES_TEST(sinks_changes_restart_every_worker),
        CHANGES_TEST(a_worker_change_restarts_that_worker),
        CHANGES_TEST(coordination_changes_are_coordination_only),
        CHANGES_TEST(what_jobs_do_not_use_restarts_nothing),
        cmocka_unit_test(worker_order_does_not_matter),
        cmocka_unit_test(password_env_is_compared_by_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
