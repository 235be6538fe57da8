/* Unit tests for the configuration loader and validator (config/yaml.c, config/schema_*.c, and
 * the plugins' own key tables).
 *
 * A broken document must produce every problem, in document order, as "file:line:col:
 * message". Each bad-document test compares the whole formatted output, one diagnostic per
 * line, so an extra, missing or misplaced diagnostic fails the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../sinks/redis.h"
#include "../../sources/tail.h"
#include "ferry/config.h"
#include "ferry/err.h"
#include "ferry/mysql.h"

#define NAME "ferry.yaml"

/* The first line of most documents below: the one section every document needs. The line
 * numbers of their expected diagnostics count it as line 1. */
#define PREAMBLE "kafka: {brokers: \"k1:9092\"}\n"
/* ... and the start of a list of workers */
#define WORKERS PREAMBLE "sinks:\n  workers:\n"

/* A worker's or a source's own settings, of the type the test expects. */
static const struct ferry_mysql_config *my(const struct ferry_worker_config *w)
{
    assert_string_equal(w->type, "mysql");
    return ferry_mysql_worker(w);
}

static const struct ferry_redis_config *rd(const struct ferry_worker_config *w)
{
    assert_string_equal(w->type, "redis");
    return ferry_worker_plugin(w);
}

static const struct ferry_tail_config *tl(const struct ferry_source_config *s)
{
    assert_string_equal(s->type, "tail");
    return ferry_source_plugin(s);
}

/* Every diagnostic of d, formatted, each followed by a newline. Caller frees. */
static char *all_diags(const struct ferry_diags *d)
{
    size_t cap = 1, len = 0;
    char line[2048];
    for (size_t i = 0; i < d->n; i++)
        cap += strlen(ferry_diags_format(d, i, line, sizeof(line))) + 1;
    char *out = malloc(cap);
    assert_non_null(out);
    out[0] = '\0';
    for (size_t i = 0; i < d->n; i++) {
        ferry_diags_format(d, i, line, sizeof(line));
        len += (size_t)snprintf(out + len, cap - len, "%s\n", line);
    }
    return out;
}

/* Parses a document that must be rejected and compares all of its diagnostics with want. */
static void expect_diags(const char *yaml, const char *want)
{
    struct ferry_diags d;
    struct ferry_config *cfg = (struct ferry_config *)(uintptr_t)1;

    ferry_diags_init(&d, NAME);
    int rc = ferry_config_parse(NAME, yaml, strlen(yaml), &cfg, &d);
    char *got = all_diags(&d);
    assert_string_equal(got, want);
    assert_int_equal(rc, FERRY_ERR_INVALID);
    assert_null(cfg);
    free(got);
    ferry_diags_release(&d);
}

/* Parses a document that must be accepted; the caller destroys the result. */
static struct ferry_config *parse_ok(const char *yaml)
{
    struct ferry_diags d;
    struct ferry_config *cfg = NULL;

    ferry_diags_init(&d, NAME);
    int rc = ferry_config_parse(NAME, yaml, strlen(yaml), &cfg, &d);
    char *got = all_diags(&d);
    assert_string_equal(got, "");
    assert_int_equal(rc, 0);
    assert_non_null(cfg);
    free(got);
    ferry_diags_release(&d);
    return cfg;
}

/* ---- diagnostics ---------------------------------------------------------------------- */

static void diags_format_and_sort(void **state)
{
    struct ferry_diags d;
    char buf[256];
    (void)state;

    ferry_diags_init(&d, "x.yaml");
    ferry_diags_add(&d, 3, 5, "third %s", "line");
    ferry_diags_add(&d, 1, 9, "first");
    ferry_diags_add(&d, 3, 5, "also third, added later");
    ferry_diags_add(&d, 2, 1, "second %d", 2);
    ferry_diags_add(&d, 0, 0, "no position");
    ferry_diags_sort(&d, 1); /* the first one stays where it is */
    assert_int_equal(d.n, 5);
    assert_string_equal(ferry_diags_format(&d, 0, buf, sizeof(buf)), "x.yaml:3:5: third line");
    assert_string_equal(ferry_diags_format(&d, 1, buf, sizeof(buf)), "x.yaml: no position");
    assert_string_equal(ferry_diags_format(&d, 2, buf, sizeof(buf)), "x.yaml:1:9: first");
    assert_string_equal(ferry_diags_format(&d, 3, buf, sizeof(buf)), "x.yaml:2:1: second 2");
    assert_string_equal(ferry_diags_format(&d, 4, buf, sizeof(buf)),
                        "x.yaml:3:5: also third, added later");
    /* a short buffer is truncated, never overrun, and stays terminated */
    char small[8];
    memset(small, 'z', sizeof(small));
    assert_string_equal(ferry_diags_format(&d, 2, small, sizeof(small)), "x.yaml:");
    ferry_diags_release(&d);
    assert_int_equal(d.n, 0);
    assert_null(d.v);
}

/* ---- documents that must be rejected --------------------------------------------------- */

static void unknown_key_with_hint(void **state)
{
    (void)state;
    expect_diags("kafka:\n"
                 "  brokers: \"k1:9092\"\n"
                 "  propertes: {acks: all}\n",
                 NAME ":3:3: kafka: unknown key 'propertes' (did you mean 'properties'?)\n");
}

static void unknown_key_without_hint(void **state)
{
    (void)state;
    expect_diags(PREAMBLE "logging: debug\n", NAME ":2:1: unknown key 'logging'\n");
}

static void unknown_key_in_nested_section(void **state)
{
    (void)state;
    expect_diags(
        WORKERS "    - name: hits\n"
                "      type: redis\n"
                "      topics: [web]\n"
                "      redis: {host: cache}\n"
                "      commands: [[INCR, \"hits\"]]\n"
                "      batch: {max_row: 10}\n",
        NAME ":9:15: sinks.workers[0].batch: unknown key 'max_row' (did you mean 'max_rows'?)\n");
}

static void unknown_key_hint_distance(void **state)
{
    (void)state;
    /* two edits away still gets a hint; three edits away does not */
    expect_diags(PREAMBLE "agent:\n"
                          "  sources:\n"
                          "    - name: web\n"
                          "      paths: [/var/log/web.log]\n"
                          "      topci: web\n"
                          "      xcks: all\n",
                 NAME ":4:7: agent.sources[0]: missing required key 'topic'\n" NAME
                      ":6:7: agent.sources[0]: unknown key 'topci' (did you mean 'topic'?)\n" NAME
                      ":7:7: agent.sources[0]: unknown key 'xcks' (did you mean 'acks'?)\n");
    expect_diags(PREAMBLE "agent: {stat_dirr: /tmp, sate_dri: /tmp}\n",
                 NAME ":2:9: agent: unknown key 'stat_dirr' (did you mean 'state_dir'?)\n" NAME
                      ":2:26: agent: unknown key 'sate_dri'\n");
}

static void string_where_integer(void **state)
{
    (void)state;
    expect_diags(PREAMBLE "agent:\n"
                          "  checkpoint_ms: often\n",
                 NAME ":3:18: agent.checkpoint_ms: expected an integer, got 'often'\n");
}

static void integer_syntax(void **state)
{
    (void)state;
    expect_diags(WORKERS "    - name: cache\n"
                         "      type: redis\n"
                         "      topics: [web]\n"
                         "      redis: {port: 0x18eb, db: 1.5}\n"
                         "      commands: [[INCR, hits]]\n"
                         "      batch: {max_rows: 99999999999999999999}\n",
                 NAME ":7:21: sinks.workers[0].redis.port: expected an integer, got '0x18eb'\n" NAME
                      ":7:33: sinks.workers[0].redis.db: expected an integer, got '1.5'\n" NAME
                      ":9:25: sinks.workers[0].batch.max_rows: 99999999999999999999 is out of "
                      "range (1 to 1000000)\n");
    expect_diags("kafka:\n"
                 "  brokers: embedded\n"
                 "  embedded: {partitions: -99999999999999999999}\n",
                 NAME ":3:26: kafka.embedded.partitions: -99999999999999999999 is out of range (1 "
                      "to 1024)\n");
}

static void mapping_where_list(void **state)
{
    (void)state;
    expect_diags(PREAMBLE "agent:\n"
                          "  sources:\n"
                          "    - name: web\n"
                          "      paths: {glob: /var/log/*.log}\n"
                          "      topic: web\n",
                 NAME ":5:14: agent.sources[0].paths: expected a list of strings, got a mapping\n");
}

static void mapping_where_list_of_mappings(void **state)
{
    (void)state;
    expect_diags(PREAMBLE "agent:\n"
                          "  sources:\n"
                          "    name: web\n",
                 NAME ":4:5: agent.sources: expected a list, got a mapping\n");
}

static void list_where_string_or_mapping(void **state)
{
    (void)state;
    expect_diags("kafka: [one, two]\n"
                 "agent:\n"
                 "  state_dir: [/a, /b]\n",
                 NAME ":1:8: kafka: expected a mapping, got a list\n" NAME
                      ":3:14: agent.state_dir: expected a string, got a list\n");
}

static void list_item_not_a_mapping(void **state)
{
    (void)state;
    expect_diags(PREAMBLE "agent:\n"
                          "  sources:\n"
                          "    - web\n"
                          "    - [a, b]\n",
                 NAME ":4:7: agent.sources[0]: expected a mapping, got a scalar\n" NAME
                      ":5:7: agent.sources[1]: expected a mapping, got a list\n");
}

static void non_scalar_values(void **state)
{
    (void)state;
    expect_diags("kafka:\n"
                 "  brokers: k1\n"
                 "  properties:\n"
                 "    linger.ms: [5]\n"
                 "    client.id: ~\n"
                 "agent:\n"
                 "  sources:\n"
                 "    - name: web\n"
                 "      paths:\n"
                 "      topic: web\n",
                 NAME
                 ":4:16: kafka.properties.linger.ms: expected a scalar value, got a list\n" NAME
                 ":5:16: kafka.properties.client.id: expected a scalar value, got null\n" NAME
                 ":9:13: agent.sources[0].paths: expected a string or a list of strings, "
                 "got null\n");
}

static void bad_boolean(void **state)
{
    (void)state;
    expect_diags(WORKERS "    - name: db\n"
                         "      type: mysql\n"
                         "      topics: web\n"
                         "      mysql: {user: ferry, database: logs}\n"
                         "      table: hits\n"
                         "      create_table: maybe\n",
                 NAME
                 ":9:21: sinks.workers[0].create_table: expected true or false, got 'maybe'\n");
}

static void bad_source_enums(void **state)
{
    (void)state;
    expect_diags(
        PREAMBLE "agent:\n"
                 "  sources:\n"
                 "    - name: web\n"
                 "      paths: [/var/log/web.log]\n"
                 "      topic: web\n"
                 "      acks: 2\n"
                 "      start_at: middle\n"
                 "    - name: api\n"
                 "      topic: api\n"
                 "      type: journald\n",
        NAME ":7:13: agent.sources[0].acks: invalid value '2' (expected one of: 0, 1, all)\n" NAME
             ":8:17: agent.sources[0].start_at: invalid value 'middle' (expected one of: "
             "beginning, end)\n" NAME
             ":11:13: agent.sources[1].type: invalid value 'journald' (expected one of: tail, "
             "stdin)\n");
}

static void bad_worker_enums(void **state)
{
    (void)state;
    expect_diags(WORKERS "    - name: db\n"
                         "      type: postgres\n"
                         "      topics: [web]\n"
                         "      format: csv\n"
                         "      mysql: {user: ferry, database: logs}\n"
                         "      table: hits\n",
                 NAME ":5:13: sinks.workers[0].type: invalid value 'postgres' (expected one of: "
                      "mysql, redis, stdout)\n" NAME
                      ":7:15: sinks.workers[0].format: invalid value 'csv' (expected one of: raw, "
                      "json, combined, regex)\n");
}

static void missing_required_keys(void **state)
{
    (void)state;
    expect_diags(PREAMBLE "agent:\n"
                          "  sources:\n"
                          "    - name: web\n"
                          "sinks:\n"
                          "  workers:\n"
                          "    - name: db\n"
                          "      topics: [web]\n",
                 NAME ":4:7: agent.sources[0]: missing required key 'topic'\n" NAME
                      ":4:7: agent.sources[0]: missing required key 'paths'\n" NAME
                      ":7:7: sinks.workers[0]: missing required key 'type'\n");
}

static void missing_kafka(void **state)
{
    (void)state;
    expect_diags("agent:\n"
                 "  state_dir: /tmp/ferry\n",
                 NAME ":1:1: missing required key 'kafka'\n");
    expect_diags("kafka: {}\n", NAME ":1:8: kafka: missing required key 'brokers'\n");
    /* the key is there, with nothing under it */
    expect_diags("kafka:\n", NAME ":1:7: kafka: is empty (needs 'brokers')\n");
    expect_diags("kafka: ~\n"
                 "agent: {state_dir: /tmp/ferry}\n",
                 NAME ":1:8: kafka: is empty (needs 'brokers')\n");
}

static void mysql_worker_needs(void **state)
{
    (void)state;
    expect_diags(WORKERS "    - name: db\n"
                         "      type: mysql\n"
                         "      topics: [web]\n"
                         "      mysql: {host: db1}\n",
                 NAME ":4:7: sinks.workers[0]: a mysql worker needs 'table'\n" NAME
                      ":7:14: sinks.workers[0].mysql: missing required key 'user'\n" NAME
                      ":7:14: sinks.workers[0].mysql: missing required key 'database'\n");
}

static void mysql_section_empty(void **state)
{
    (void)state;
    expect_diags(WORKERS "    - name: db\n"
                         "      type: mysql\n"
                         "      topics: [web]\n"
                         "      mysql:\n"
                         "      table: hits\n",
                 NAME ":7:13: sinks.workers[0].mysql: is empty (needs 'user' and 'database')\n");
}

static void invalid_worker_type_only(void **state)
{
    (void)state;
    /* nothing type-specific is said about a worker whose type is wrong; the rest still is */
    expect_diags(WORKERS "    - name: cache\n"
                         "      type: rediss\n"
                         "      topics: []\n"
                         "      redis: {host: cache}\n"
                         "      commands: [[INCR, hits]]\n",
                 NAME ":5:13: sinks.workers[0].type: invalid value 'rediss' (expected one of: "
                      "mysql, redis, stdout)\n" NAME
                      ":6:15: sinks.workers[0].topics: needs at least one topic\n");
}

static void redis_worker_needs_and_foreign_keys(void **state)
{
    (void)state;
    expect_diags(PREAMBLE "agent:\n"
                          "  sources:\n"
                          "    - {name: web/access, paths: /var/log/a.log, topic: a}\n"
                          "sinks:\n"
                          "  workers:\n"
                          "    - name: cache\n"
                          "      type: redis\n"
                          "      topics: [web]\n"
                          "      table: hits\n",
                 NAME ":4:14: agent.sources[0].name: must be non-empty and contain no '/'\n" NAME
                      ":7:7: sinks.workers[0]: a redis worker needs 'redis'\n" NAME
                      ":7:7: sinks.workers[0]: a redis worker needs 'commands'\n" NAME
                      ":10:14: sinks.workers[0].table: does not apply to a redis worker\n");
}

static void duplicate_source_names(void **state)
{
    (void)state;
    expect_diags(PREAMBLE "agent:\n"
                          "  sources:\n"
                          "    - {name: web, paths: /var/log/a.log, topic: a}\n"
                          "    - {name: web, paths: /var/log/b.log, topic: b}\n",
                 NAME ":5:14: agent.sources[1].name: duplicate source name 'web'\n");
}

static void duplicate_worker_names(void **state)
{
    (void)state;
    expect_diags(WORKERS "    - name: counts\n"
                         "      type: redis\n"
                         "      topics: [web]\n"
                         "      redis: {}\n"
                         "      commands: [[INCR, hits]]\n"
                         "    - name: counts\n"
                         "      type: redis\n"
                         "      topics: [api]\n"
                         "      redis: {}\n"
                         "      commands: [[INCR, api_hits]]\n",
                 NAME ":9:13: sinks.workers[1].name: duplicate worker name 'counts'\n");
}

static void duplicate_yaml_key(void **state)
{
    (void)state;
    expect_diags("kafka:\n"
                 "  brokers: \"k1:9092\"\n"
                 "  brokers: \"k2:9092\"\n",
                 NAME ":3:3: duplicate key 'brokers'\n");
}

static void non_scalar_key(void **state)
{
    (void)state;
    expect_diags("kafka: {brokers: k1}\n"
                 "? [a, b]\n"
                 ": c\n",
                 NAME ":2:3: a mapping key must be a plain string\n");
}

static void yaml_syntax_errors(void **state)
{
    (void)state;
    expect_diags("kafka: brokers: k1\n",
                 NAME ":1:15: yaml: mapping values are not allowed in this context\n");
    expect_diags("kafka:\n"
                 "\tbrokers: k1\n",
                 NAME ":2:1: tabs are not allowed for indentation in YAML\n");
    /* a character other than a tab keeps libyaml's words */
    expect_diags("kafka: {brokers: k1}\n"
                 "@x: 1\n",
                 NAME ":2:1: yaml: found character that cannot start any token while scanning "
                      "for the next token\n");
    /* an unterminated quote is reported where it opens */
    expect_diags("kafka: {brokers: \"k1:9092}\n",
                 NAME ":1:18: unterminated quoted string (found end of file at 2:1)\n");
    expect_diags("kafka:\n"
                 "  brokers: 'k1:9092\n"
                 "agent: {state_dir: /tmp}\n",
                 NAME ":2:12: unterminated quoted string (found end of file at 4:1)\n");
    /* other problems inside a construct say where it started */
    expect_diags("kafka: {brokers: k1\n",
                 NAME ":2:1: yaml: did not find expected ',' or '}' while parsing a flow mapping "
                      "(started at 1:8)\n");
}

static void anchors_and_aliases(void **state)
{
    (void)state;
    expect_diags("kafka: {brokers: &b \"k1:9092\"}\n"
                 "agent:\n"
                 "  state_dir: *b\n",
                 NAME ":1:18: yaml anchors (&name) are not supported\n" NAME
                      ":3:14: yaml aliases (*name) are not supported\n");
}

static void document_shapes(void **state)
{
    (void)state;
    expect_diags("", NAME ":1:1: the document is empty\n");
    expect_diags("- a\n- b\n", NAME ":1:1: the document must be a mapping, got a list\n");
    expect_diags("just words\n", NAME ":1:1: the document must be a mapping, got a scalar\n");
    expect_diags("kafka: {brokers: a}\n"
                 "---\n"
                 "kafka: {brokers: b}\n",
                 NAME ":2:1: only one YAML document is allowed\n");
}

static void undefined_variable(void **state)
{
    (void)state;
    assert_int_equal(unsetenv("FERRY_TEST_UNDEFINED"), 0);
    expect_diags("kafka:\n"
                 "  brokers: ${FERRY_TEST_UNDEFINED}\n",
                 NAME ":2:12: environment variable FERRY_TEST_UNDEFINED is not set\n");
}

static void malformed_variables(void **state)
{
    (void)state;
    expect_diags("kafka:\n"
                 "  brokers: \"${1BROKERS}\"\n"
                 "agent:\n"
                 "  state_dir: ${STATE\n",
                 NAME ":2:12: invalid variable name in '${1BROKERS}'\n" NAME
                      ":4:14: unterminated ${ in '${STATE'\n");
}

static void invalid_identifiers(void **state)
{
    (void)state;
    expect_diags(WORKERS "    - name: db\n"
                         "      type: mysql\n"
                         "      topics: [web]\n"
                         "      mysql: {user: ferry, database: logs}\n"
                         "      table: access-log\n"
                         "      columns:\n"
                         "        status code: status\n"
                         "        kafka_offset: offset\n"
                         "        \"2024\": day\n",
                 NAME ":8:14: sinks.workers[0].table: invalid identifier 'access-log' (letters, "
                      "digits, '_' and '$', at most 64)\n" NAME
                      ":10:9: sinks.workers[0].columns: invalid column name 'status code' "
                      "(letters, digits, '_' and '$', at most 64)\n" NAME
                      ":11:9: sinks.workers[0].columns: 'kafka_offset' is one of ferry's own "
                      "columns\n" NAME
                      ":12:9: sinks.workers[0].columns: invalid column name '2024' (letters, "
                      "digits, '_' and '$', at most 64)\n");
}

static void column_positions_after_bad_value(void **state)
{
    (void)state;
    expect_diags(WORKERS "    - name: db\n"
                         "      type: mysql\n"
                         "      topics: [web]\n"
                         "      mysql: {user: ferry, database: logs}\n"
                         "      table: hits\n"
                         "      columns:\n"
                         "        a: [x]\n"
                         "        ok_col: url\n"
                         "        bad col: status\n",
                 NAME ":10:12: sinks.workers[0].columns.a: expected a string or a mapping, got a "
                      "list\n" NAME
                      ":12:9: sinks.workers[0].columns: invalid column name 'bad col' (letters, "
                      "digits, '_' and '$', at most 64)\n");
}

static void identifier_length(void **state)
{
    char yaml[1024], want[512];
    char n64[65], n65[66];
    (void)state;

    memset(n64, 'a', 64);
    n64[64] = '\0';
    memset(n65, 'b', 65);
    n65[65] = '\0';
    snprintf(yaml, sizeof(yaml),
             WORKERS "    - name: db\n"
                     "      type: mysql\n"
                     "      topics: [web]\n"
                     "      mysql: {user: ferry, database: logs}\n"
                     "      table: %s\n"
                     "      columns: {%s: url, t$x_1: status}\n",
             n65, n64);
    snprintf(want, sizeof(want),
             NAME ":8:14: sinks.workers[0].table: invalid identifier '%s' (letters, digits, '_' "
                  "and '$', at most 64)\n",
             n65);
    expect_diags(yaml, want);
}

static void typed_columns(void **state)
{
    (void)state;
    struct ferry_config *cfg = parse_ok(WORKERS "    - name: db\n"
                                                "      type: mysql\n"
                                                "      topics: [web]\n"
                                                "      format: json\n"
                                                "      mysql: {user: ferry, database: logs}\n"
                                                "      table: users\n"
                                                "      mode: upsert\n"
                                                "      key: [User_Id]\n"
                                                "      raw: false\n"
                                                "      columns:\n"
                                                "        url: url\n"
                                                "        user_id: {type: int}\n"
                                                "        seen: {field: t, type: datetime, format: "
                                                "epoch_s, default: \"0\", null: false}\n"
                                                "        name: {type: string, length: 80}\n"
                                                "        trace: {field: header.trace}\n");
    const struct ferry_worker_config *w = &cfg->workers[0];
    assert_int_equal(my(w)->mode, FERRY_MYSQL_UPSERT);
    assert_int_equal(my(w)->key.n, 1);
    assert_false(my(w)->store_raw);
    assert_int_equal(my(w)->ncolumns, 5);
    assert_string_equal(my(w)->columns[0].field, "url");
    assert_int_equal(my(w)->columns[0].type, FERRY_COLUMN_STRING);
    assert_string_equal(my(w)->columns[1].name, "user_id");
    assert_string_equal(my(w)->columns[1].field, "user_id"); /* the column's name by default */
    assert_int_equal(my(w)->columns[1].type, FERRY_COLUMN_INT);
    assert_false(my(w)->columns[1].null); /* a key column */
    assert_int_equal(my(w)->columns[2].type, FERRY_COLUMN_DATETIME);
    assert_int_equal(my(w)->columns[2].time_format, FERRY_TIME_EPOCH_S);
    assert_string_equal(my(w)->columns[2].def, "0");
    assert_false(my(w)->columns[2].null);
    assert_int_equal(my(w)->columns[3].length, 80);
    assert_true(my(w)->columns[3].null);
    assert_int_equal(my(w)->columns[3].length, 80);
    assert_string_equal(my(w)->columns[4].field, "header.trace");
    ferry_config_destroy(cfg);
}

static void typed_column_errors(void **state)
{
    (void)state;
    expect_diags(
        WORKERS "    - name: db\n"
                "      type: mysql\n"
                "      topics: [web]\n"
                "      mysql: {user: ferry, database: logs}\n"
                "      table: hits\n"
                "      key: [status]\n"
                "      columns:\n"
                "        status: {type: integer}\n"
                "        at: {type: datetime, format: rfc2822}\n"
                "        n: {type: int, default: many}\n"
                "        when: {type: datetime, default: \"2023-02-29\"}\n"
                "        s: {format: iso8601, length: 0}\n"
                "        f: {type: float, length: 10}\n"
                "        N: n\n"
                "    - name: up\n"
                "      type: mysql\n"
                "      topics: [web]\n"
                "      mysql: {user: ferry, database: logs}\n"
                "      table: users\n"
                "      mode: upsert\n"
                "      key: [id, ID, nope, doc]\n"
                "      columns: {id: id, doc: {type: json}}\n"
                "    - name: nokey\n"
                "      type: mysql\n"
                "      topics: [web]\n"
                "      mysql: {user: ferry, database: logs}\n"
                "      table: users\n"
                "      mode: upsert\n",
        NAME ":9:12: sinks.workers[0].key: applies only with mode: upsert\n" NAME
             ":11:24: sinks.workers[0].columns.status.type: invalid value 'integer' "
             "(expected one of: string, int, float, bool, datetime, json)\n" NAME
             ":12:38: sinks.workers[0].columns.at.format: invalid value 'rfc2822' "
             "(expected one of: auto, iso8601, clf, epoch_s, epoch_ms)\n" NAME
             ":13:33: sinks.workers[0].columns.n.default: 'many' is not an integer\n" NAME
             ":14:41: sinks.workers[0].columns.when.default: '2023-02-29' is not a date "
             "and time (ISO 8601 or access-log time)\n" NAME
             ":15:21: sinks.workers[0].columns.s.format: applies only to type "
             "datetime\n" NAME ":15:38: sinks.workers[0].columns.s.length: 0 is out of range (1 to "
             "16383)\n" NAME
             ":16:34: sinks.workers[0].columns.f.length: applies only to type string\n" NAME
             ":17:9: sinks.workers[0].columns: 'n' and 'N' are the same column to "
             "MySQL\n" NAME ":24:17: sinks.workers[1].key: 'ID' is named twice\n" NAME
             ":24:21: sinks.workers[1].key: 'nope' is not one of the columns\n" NAME
             ":24:27: sinks.workers[1].key: 'doc' is a json column, which a key cannot "
             "hold\n" NAME ":31:13: sinks.workers[2]: mode upsert needs 'key': the columns of the "
             "table's unique key\n");
}

static void out_of_range(void **state)
{
    (void)state;
    expect_diags("kafka:\n"
                 "  brokers: embedded\n"
                 "  embedded: {brokers: 0, partitions: 2048}\n"
                 "agent:\n"
                 "  checkpoint_ms: 5\n"
                 "  shutdown_timeout_ms: -1\n"
                 "sinks:\n"
                 "  workers:\n"
                 "    - name: db\n"
                 "      type: mysql\n"
                 "      topics: [web]\n"
                 "      mysql: {user: ferry, database: logs, port: 70000}\n"
                 "      table: hits\n"
                 "      batch: {max_rows: 0, max_ms: 600001}\n",
                 NAME
                 ":3:23: kafka.embedded.brokers: 0 is out of range (1 to 16)\n" NAME
                 ":3:38: kafka.embedded.partitions: 2048 is out of range (1 to 1024)\n" NAME
                 ":5:18: agent.checkpoint_ms: 5 is out of range (10 to 3600000)\n" NAME
                 ":6:24: agent.shutdown_timeout_ms: -1 is out of range (0 to 3600000)\n" NAME
                 ":12:50: sinks.workers[0].mysql.port: 70000 is out of range (1 to 65535)\n" NAME
                 ":14:25: sinks.workers[0].batch.max_rows: 0 is out of range (1 to 1000000)\n" NAME
                 ":14:36: sinks.workers[0].batch.max_ms: 600001 is out of range (1 to 600000)\n");
}

static void bad_redis_commands(void **state)
{
    (void)state;
    expect_diags(WORKERS "    - name: a\n"
                         "      type: redis\n"
                         "      topics: [web]\n"
                         "      redis: {}\n"
                         "      commands: INCR hits\n"
                         "    - name: b\n"
                         "      type: redis\n"
                         "      topics: [web]\n"
                         "      redis: {}\n"
                         "      commands:\n"
                         "        - [SET, \"last:{day}\", {raw: 1}]\n"
                         "        - []\n"
                         "        - \"INCR hits\"\n",
                 NAME ":8:17: sinks.workers[0].commands: expected a list of commands, got a "
                      "scalar\n" NAME
                      ":14:31: sinks.workers[1].commands[0][2]: expected a string, got a "
                      "mapping\n" NAME
                      ":15:11: sinks.workers[1].commands[1]: expected a command as a list such as "
                      "[INCR, \"key\"], got an empty list\n" NAME
                      ":16:11: sinks.workers[1].commands[2]: expected a command as a list such as "
                      "[INCR, \"key\"], got a scalar\n");
}

static void bad_redis_templates(void **state)
{
    (void)state;
    expect_diags(WORKERS "    - name: cache\n"
                         "      type: redis\n"
                         "      topics: [web]\n"
                         "      redis: {}\n"
                         "      commands:\n"
                         "        - [SET, \"k:{day\", \"}\"]\n"
                         "        - [INCR, \"hits:{day}\", \"{}\"]\n"
                         "        - [HINCRBY, \"s:{{x}}\", \"{status}\", 1]\n",
                 NAME
                 ":9:17: sinks.workers[0].commands[0][1]: template 'k:{day': unclosed '{'\n" NAME
                 ":9:27: sinks.workers[0].commands[0][2]: template '}': unmatched '}' (write "
                 "'}}' for a literal one)\n" NAME
                 ":10:32: sinks.workers[0].commands[1][2]: template '{}': empty or nested "
                 "field name\n");
}

static void regex_format_pattern_errors(void **state)
{
    (void)state;
    expect_diags(PREAMBLE
                 "sinks:\n"
                 "  workers:\n"
                 "    - {name: a, type: redis, topics: [t], redis: {}, commands: [[INCR, x]],\n"
                 "       format: regex}\n"
                 "    - {name: b, type: redis, topics: [t], redis: {}, commands: [[INCR, x]],\n"
                 "       format: json, pattern: '(?<a>x)'}\n"
                 "    - {name: c, type: redis, topics: [t], redis: {}, commands: [[INCR, x]],\n"
                 "       pattern: '(?<a>x)'}\n"
                 "    - name: d\n"
                 "      type: mysql\n"
                 "      topics: [t]\n"
                 "      mysql: {user: ferry, database: logs}\n"
                 "      table: hits\n"
                 "      format: regex\n"
                 "      pattern: '^(?<level>\\w+) (?<msg'\n"
                 "    - {name: e, type: redis, topics: [t], redis: {}, commands: [[INCR, x]],\n"
                 "       format: regex, pattern: '^(\\w+) (.*)$'}\n"
                 "    - {name: f, type: redis, topics: [t], redis: {}, commands: [[INCR, x]],\n"
                 "       format: regex, pattern: [a]}\n",
                 NAME ":5:16: sinks.workers[0]: format regex needs 'pattern'\n" NAME
                      ":7:31: sinks.workers[1].pattern: applies only with format: regex\n" NAME
                      ":9:17: sinks.workers[2].pattern: applies only with format: regex\n" NAME
                      ":16:16: sinks.workers[3].pattern: bad pattern at offset 21: syntax error "
                      "in subpattern name (missing terminator?)\n" NAME
                      ":18:32: sinks.workers[4].pattern: needs at least one named group, such as "
                      "(?<name>...)\n" NAME
                      ":20:32: sinks.workers[5].pattern: expected a string, got a list\n");
}

static void regex_format_accepted(void **state)
{
    (void)state;
    struct ferry_config *cfg =
        parse_ok(WORKERS "    - name: cache\n"
                         "      type: redis\n"
                         "      topics: [app]\n"
                         "      format: regex\n"
                         "      pattern: '^(?<level>[A-Z]+) (?<msg>.*)'\n"
                         "      redis: {}\n"
                         "      commands: [[INCR, \"{level}\"]]\n"
                         "    - {name: db, type: redis, topics: [app], redis: {},\n"
                         "       commands: [[INCR, x]]}\n");
    assert_int_equal(cfg->workers[0].format, FERRY_FORMAT_REGEX);
    assert_string_equal(cfg->workers[0].pattern, "^(?<level>[A-Z]+) (?<msg>.*)");
    assert_null(cfg->workers[1].pattern);
    ferry_config_destroy(cfg);
}

/* A stdin source has no keys of its own: the tail source's are refused, not ignored. */
static void stdin_source_refuses_tail_keys(void **state)
{
    (void)state;
    expect_diags(PREAMBLE "agent:\n"
                          "  sources:\n"
                          "    - {name: in, type: stdin, topic: t, start_at: end, exclude: [x]}\n",
                 NAME ":4:51: agent.sources[0].start_at: does not apply to a stdin source\n" NAME
                      ":4:65: agent.sources[0].exclude: does not apply to a stdin source\n");
}

/* A third sink declares its own keys; the others' keys do not apply to it, and its own to them. */
static void stdout_worker(void **state)
{
    (void)state;
    struct ferry_config *cfg = parse_ok(WORKERS "    - {name: look, type: stdout, topics: [t]}\n"
                                                "    - name: cols\n"
                                                "      type: stdout\n"
                                                "      topics: [t]\n"
                                                "      metadata: [partition, offset, key]\n"
                                                "      path: /tmp/out.txt\n");
    assert_string_equal(cfg->workers[0].type, "stdout");
    assert_non_null(ferry_worker_plugin(&cfg->workers[0]));
    assert_null(ferry_mysql_worker(&cfg->workers[0]));
    ferry_config_destroy(cfg);

    expect_diags(WORKERS "    - name: look\n"
                         "      type: stdout\n"
                         "      topics: [t]\n"
                         "      metadata: [offset, headers]\n"
                         "      table: hits\n"
                         "      path: ''\n"
                         "    - {name: db, type: mysql, topics: [t], table: x, metadata: [key],\n"
                         "       mysql: {user: u, database: d}}\n"
                         "    - {name: other, type: stdout, topics: [t], metdata: [key]}\n",
                 NAME ":7:26: sinks.workers[0].metadata: 'headers' is not one of topic, "
                      "partition, offset, key, timestamp\n" NAME
                      ":8:14: sinks.workers[0].table: does not apply to a stdout worker\n" NAME
                      ":9:13: sinks.workers[0].path: must not be empty\n" NAME
                      ":10:64: sinks.workers[1].metadata: does not apply to a mysql worker\n" NAME
                      ":12:48: sinks.workers[2]: unknown key 'metdata' (did you mean "
                      "'metadata'?)\n");
    expect_diags(WORKERS
                 "    - {name: twice, type: stdout, topics: [t], metadata: [key, offset, key]}\n",
                 NAME ":4:72: sinks.workers[0].metadata: 'key' is named twice\n");
}

static void redis_user(void **state)
{
    (void)state;
    assert_int_equal(setenv("FERRY_TEST_REDIS_ACL_PASSWORD", "s3cret", 1), 0);
    struct ferry_config *cfg = parse_ok(
        WORKERS "    - {name: a, type: redis, topics: [t], commands: [[INCR, x]],\n"
                "       redis: {user: ferry, password: pw}}\n"
                "    - {name: b, type: redis, topics: [t], commands: [[INCR, x]],\n"
                "       redis: {user: ferry, password_env: FERRY_TEST_REDIS_ACL_PASSWORD}}\n"
                "    - {name: c, type: redis, topics: [t], commands: [[INCR, x]],\n"
                "       redis: {password: pw}}\n");
    assert_string_equal(rd(&cfg->workers[0])->conn.user, "ferry");
    assert_string_equal(rd(&cfg->workers[0])->conn.password, "pw");
    assert_string_equal(rd(&cfg->workers[1])->conn.user, "ferry");
    assert_string_equal(rd(&cfg->workers[1])->conn.password, "s3cret");
    assert_null(rd(&cfg->workers[2])->conn.user);
    ferry_config_destroy(cfg);

    expect_diags(WORKERS "    - {name: a, type: redis, topics: [t], commands: [[INCR, x]],\n"
                         "       redis: {host: cache1, user: ferry}}\n",
                 NAME ":5:36: sinks.workers[0].redis.user: needs 'password' or 'password_env'\n");
}

static void mysql_tls(void **state)
{
    (void)state;
    struct ferry_config *cfg = parse_ok(
        WORKERS "    - {name: plain, type: mysql, topics: [t], table: x,\n"
                "       mysql: {user: u, database: d}}\n"
                "    - {name: ca, type: mysql, topics: [t], table: x,\n"
                "       mysql: {user: u, database: d, ssl_ca: /etc/ferry/ca.pem}}\n"
                "    - name: mutual\n"
                "      type: mysql\n"
                "      topics: [t]\n"
                "      table: x\n"
                "      mysql:\n"
                "        user: u\n"
                "        database: d\n"
                "        ssl_ca: /etc/ferry/ca.pem\n"
                "        ssl_cert: /etc/ferry/client.pem\n"
                "        ssl_key: /etc/ferry/client.key\n"
                "        ssl_verify_server_cert: false\n"
                "    - {name: cert, type: mysql, topics: [t], table: x,\n"
                "       mysql: {user: u, database: d, ssl_cert: c.pem, ssl_key: k.pem}}\n");
    const struct ferry_mysql_conn_config *m = &my(&cfg->workers[0])->conn;
    assert_null(m->ssl_ca);
    assert_null(m->ssl_cert);
    assert_null(m->ssl_key);
    assert_false(m->ssl_verify_server_cert);
    m = &my(&cfg->workers[1])->conn;
    assert_string_equal(m->ssl_ca, "/etc/ferry/ca.pem");
    assert_true(m->ssl_verify_server_cert); /* a CA given: verified unless said otherwise */
    m = &my(&cfg->workers[2])->conn;
    assert_string_equal(m->ssl_ca, "/etc/ferry/ca.pem");
    assert_string_equal(m->ssl_cert, "/etc/ferry/client.pem");
    assert_string_equal(m->ssl_key, "/etc/ferry/client.key");
    assert_false(m->ssl_verify_server_cert);
    m = &my(&cfg->workers[3])->conn;
    assert_null(m->ssl_ca);
    assert_string_equal(m->ssl_cert, "c.pem");
    assert_false(m->ssl_verify_server_cert);
    ferry_config_destroy(cfg);

    expect_diags(PREAMBLE
                 "sinks:\n"
                 "  workers:\n"
                 "    - name: a\n"
                 "      type: mysql\n"
                 "      topics: [t]\n"
                 "      table: x\n"
                 "      mysql:\n"
                 "        user: u\n"
                 "        database: d\n"
                 "        ssl_cert: /etc/ferry/client.pem\n"
                 "        ssl_verify_server_cert: true\n"
                 "    - {name: b, type: mysql, topics: [t], table: x,\n"
                 "       mysql: {user: u, database: d, ssl_key: k.pem, ssl_verify_server_cert: "
                 "maybe}}\n",
                 NAME ":11:19: sinks.workers[0].mysql.ssl_cert: needs 'ssl_key' too\n" NAME
                      ":12:33: sinks.workers[0].mysql.ssl_verify_server_cert: needs 'ssl_ca', "
                      "the CA that signed the server's certificate\n" NAME
                      ":14:47: sinks.workers[1].mysql.ssl_key: needs 'ssl_cert' too\n" NAME
                      ":14:78: sinks.workers[1].mysql.ssl_verify_server_cert: expected true or "
                      "false, got 'maybe'\n");
}

static void empty_lists_and_brokers(void **state)
{
    (void)state;
    expect_diags("kafka:\n"
                 "  brokers: \"\"\n"
                 "  embedded: {partitions: 8}\n"
                 "agent:\n"
                 "  sources:\n"
                 "    - {name: \"\", paths: [], topic: web}\n",
                 NAME ":2:12: kafka.brokers: must not be empty\n" NAME
                      ":3:13: kafka.embedded: applies only with 'brokers: embedded'\n" NAME
                      ":6:14: agent.sources[0].name: must be non-empty and contain no '/'\n" NAME
                      ":6:25: agent.sources[0].paths: needs at least one pattern\n");
}

static void password_env_problems(void **state)
{
    (void)state;
    assert_int_equal(unsetenv("FERRY_TEST_NO_SUCH_SECRET"), 0);
    expect_diags(WORKERS "    - name: cache\n"
                         "      type: redis\n"
                         "      topics: [web]\n"
                         "      redis: {password_env: FERRY_TEST_NO_SUCH_SECRET}\n"
                         "      commands: [[INCR, hits]]\n",
                 NAME ":7:29: sinks.workers[0].redis.password_env: environment variable "
                      "FERRY_TEST_NO_SUCH_SECRET is not set\n");
}

static void many_errors_in_one_document(void **state)
{
    (void)state;
    expect_diags(
        "kafka:\n"
        "  brokers: \"k1:9092\"\n"
        "  embeded: {brokers: 1}\n"
        "agent:\n"
        "  sources:\n"
        "    - name: web\n"
        "      paths: []\n"
        "      topic: web\n"
        "      acks: none\n"
        "    - name: web\n"
        "      path: /var/log/api.log\n"
        "      topic: api\n"
        "sinks:\n"
        "  group: ferry\n"
        "  workers:\n"
        "    - name: db\n"
        "      type: mysql\n"
        "      topics: []\n"
        "      mysql: {user: ferry, database: logs, password: x, password_env: "
        "FERRY_TEST_DB_PASSWORD}\n"
        "      table: hits\n"
        "      commands: [[INCR, hits]]\n",
        NAME
        ":3:3: kafka: unknown key 'embeded' (did you mean 'embedded'?)\n" NAME
        ":7:14: agent.sources[0].paths: needs at least one pattern\n" NAME
        ":9:13: agent.sources[0].acks: invalid value 'none' (expected one of: 0, 1, all)\n" NAME
        ":10:7: agent.sources[1]: missing required key 'paths'\n" NAME
        ":10:13: agent.sources[1].name: duplicate source name 'web'\n" NAME
        ":11:7: agent.sources[1]: unknown key 'path' (did you mean 'paths'?)\n" NAME
        ":18:15: sinks.workers[0].topics: needs at least one topic\n" NAME
        ":19:71: sinks.workers[0].mysql: give either 'password' or 'password_env', not "
        "both\n" NAME ":21:17: sinks.workers[0].commands: does not apply to a mysql worker\n");
}

/* ---- documents that must be accepted --------------------------------------------------- */

static void minimal_document_defaults(void **state)
{
    (void)state;
    struct ferry_config *cfg = parse_ok(PREAMBLE);

    assert_string_equal(cfg->path, NAME);
    assert_string_equal(cfg->kafka.brokers, "k1:9092");
    assert_false(cfg->kafka.embedded);
    assert_int_equal(cfg->kafka.embedded_brokers, 3);
    assert_int_equal(cfg->kafka.embedded_partitions, 4);
    assert_int_equal(cfg->kafka.properties.n, 0);
    assert_string_equal(cfg->state_dir, "/var/lib/ferry");
    assert_int_equal(cfg->checkpoint_ms, 1000);
    assert_int_equal(cfg->shutdown_timeout_ms, 10000);
    assert_int_equal(cfg->nsources, 0);
    assert_string_equal(cfg->group, "ferry");
    assert_int_equal(cfg->nworkers, 0);
    ferry_config_destroy(cfg);
    ferry_config_destroy(NULL);
}

static const char full_doc[] = "# every key, most of them away from their defaults\n"
                               "kafka:\n"
                               "  brokers: \"k1:9092,k2:9092\"\n"
                               "  properties:\n"
                               "    linger.ms: 5\n"
                               "    compression.type: lz4\n"
                               "agent:\n"
                               "  state_dir: /srv/ferry/state\n"
                               "  checkpoint_ms: 250\n"
                               "  shutdown_timeout_ms: 0\n"
                               "  sources:\n"
                               "    - name: web\n"
                               "      type: tail\n"
                               "      paths: [/var/log/nginx/*.log, /var/log/extra/*.log]\n"
                               "      exclude: [\"*.gz\"]\n"
                               "      start_at: end\n"
                               "      max_line_bytes: 4096\n"
                               "      refresh_ms: 500\n"
                               "      topic: web-logs\n"
                               "      acks: 1\n"
                               "    - name: app\n"
                               "      paths: /var/log/app.log\n"
                               "      topic: app-logs\n"
                               "      acks: \"0\"\n"
                               "sinks:\n"
                               "  group: analytics\n"
                               "  workers:\n"
                               "    - name: db\n"
                               "      type: mysql\n"
                               "      topics: [web-logs, app-logs]\n"
                               "      format: combined\n"
                               "      batch: {max_rows: 500, max_ms: 50}\n"
                               "      mysql:\n"
                               "        host: db.internal\n"
                               "        port: \"3307\"\n"
                               "        user: ferry\n"
                               "        password: \"s3cret\"\n"
                               "        database: logs\n"
                               "        socket: /run/mysqld/mysqld.sock\n"
                               "      table: access_log\n"
                               "      create_table: false\n"
                               "      columns:\n"
                               "        status: status\n"
                               "        page: url\n"
                               "    - name: counters\n"
                               "      type: redis\n"
                               "      topics: web-logs\n"
                               "      format: json\n"
                               "      redis: {host: cache.internal, port: 6380, db: 2}\n"
                               "      commands:\n"
                               "        - [INCR, \"hits:{day}\"]\n"
                               "        - [HINCRBY, \"status:{day}\", \"{status}\", \"1\"]\n";

static void full_document_sources(void **state)
{
    (void)state;
    struct ferry_config *cfg = parse_ok(full_doc);

    assert_string_equal(cfg->kafka.brokers, "k1:9092,k2:9092");
    assert_false(cfg->kafka.embedded);
    assert_int_equal(cfg->kafka.properties.n, 2);
    assert_string_equal(cfg->kafka.properties.v[0].key, "linger.ms");
    assert_string_equal(cfg->kafka.properties.v[0].value, "5");
    assert_string_equal(cfg->kafka.properties.v[1].key, "compression.type");
    assert_string_equal(cfg->kafka.properties.v[1].value, "lz4");
    assert_string_equal(cfg->state_dir, "/srv/ferry/state");
    assert_int_equal(cfg->checkpoint_ms, 250);
    assert_int_equal(cfg->shutdown_timeout_ms, 0);

    assert_int_equal(cfg->nsources, 2);
    const struct ferry_source_config *s = &cfg->sources[0];
    assert_string_equal(s->name, "web");
    assert_string_equal(s->type, "tail");
    assert_int_equal(tl(s)->paths.n, 2);
    assert_string_equal(tl(s)->paths.v[0], "/var/log/nginx/*.log");
    assert_string_equal(tl(s)->paths.v[1], "/var/log/extra/*.log");
    assert_int_equal(tl(s)->exclude.n, 1);
    assert_string_equal(tl(s)->exclude.v[0], "*.gz");
    assert_int_equal(tl(s)->start_at, FERRY_START_END);
    assert_int_equal(s->max_line_bytes, 4096);
    assert_int_equal(tl(s)->refresh_ms, 500);
    assert_string_equal(s->topic, "web-logs");
    assert_int_equal(s->acks, FERRY_ACKS_LEADER);

    s = &cfg->sources[1]; /* defaults */
    assert_string_equal(s->name, "app");
    assert_string_equal(s->type, "tail");
    assert_int_equal(tl(s)->paths.n, 1);
    assert_string_equal(tl(s)->paths.v[0], "/var/log/app.log");
    assert_int_equal(tl(s)->exclude.n, 0);
    assert_int_equal(tl(s)->start_at, FERRY_START_BEGINNING);
    assert_int_equal(s->max_line_bytes, 1048576);
    assert_int_equal(tl(s)->refresh_ms, 1000);
    assert_string_equal(s->topic, "app-logs");
    assert_int_equal(s->acks, FERRY_ACKS_NONE);
    ferry_config_destroy(cfg);
}

static void full_document_workers(void **state)
{
    (void)state;
    struct ferry_config *cfg = parse_ok(full_doc);

    assert_string_equal(cfg->group, "analytics");
    assert_int_equal(cfg->nworkers, 2);

    const struct ferry_worker_config *w = &cfg->workers[0];
    assert_string_equal(w->name, "db");
    assert_string_equal(w->type, "mysql");
    assert_int_equal(w->topics.n, 2);
    assert_string_equal(w->topics.v[0], "web-logs");
    assert_string_equal(w->topics.v[1], "app-logs");
    assert_int_equal(w->format, FERRY_FORMAT_COMBINED);
    assert_int_equal(w->batch_max_rows, 500);
    assert_int_equal(w->batch_max_ms, 50);
    assert_string_equal(my(w)->conn.host, "db.internal");
    assert_int_equal(my(w)->conn.port, 3307);
    assert_string_equal(my(w)->conn.user, "ferry");
    assert_string_equal(my(w)->conn.password, "s3cret");
    assert_null(my(w)->conn.password_env);
    assert_string_equal(my(w)->conn.database, "logs");
    assert_string_equal(my(w)->conn.socket, "/run/mysqld/mysqld.sock");
    assert_string_equal(my(w)->table, "access_log");
    assert_false(my(w)->create_table);
    assert_int_equal(my(w)->ncolumns, 2);
    assert_string_equal(my(w)->columns[0].name, "status");
    assert_string_equal(my(w)->columns[0].field, "status");
    assert_int_equal(my(w)->columns[0].type, FERRY_COLUMN_STRING);
    assert_true(my(w)->columns[0].null);
    assert_string_equal(my(w)->columns[1].name, "page");
    assert_string_equal(my(w)->columns[1].field, "url");

    w = &cfg->workers[1];
    assert_string_equal(w->name, "counters");
    assert_string_equal(w->type, "redis");
    assert_int_equal(w->topics.n, 1);
    assert_string_equal(w->topics.v[0], "web-logs");
    assert_int_equal(w->format, FERRY_FORMAT_JSON);
    assert_int_equal(w->batch_max_rows, 1000);
    assert_int_equal(w->batch_max_ms, 200);
    assert_string_equal(rd(w)->conn.host, "cache.internal");
    assert_int_equal(rd(w)->conn.port, 6380);
    assert_int_equal(rd(w)->conn.db, 2);
    assert_null(rd(w)->conn.password);
    assert_null(ferry_mysql_worker(w)); /* nothing of a mysql worker's */
    assert_int_equal(rd(w)->ncommands, 2);
    assert_int_equal(rd(w)->commands[0].n, 2);
    assert_string_equal(rd(w)->commands[0].v[0], "INCR");
    assert_string_equal(rd(w)->commands[0].v[1], "hits:{day}");
    assert_int_equal(rd(w)->commands[1].n, 4);
    assert_string_equal(rd(w)->commands[1].v[0], "HINCRBY");
    assert_string_equal(rd(w)->commands[1].v[1], "status:{day}");
    assert_string_equal(rd(w)->commands[1].v[2], "{status}");
    assert_string_equal(rd(w)->commands[1].v[3], "1");
    ferry_config_destroy(cfg);
}

static void connection_defaults(void **state)
{
    (void)state;
    struct ferry_config *cfg = parse_ok(WORKERS "    - name: db\n"
                                                "      type: mysql\n"
                                                "      topics: [web]\n"
                                                "      mysql: {user: ferry, database: logs}\n"
                                                "      table: hits\n"
                                                "    - name: cache\n"
                                                "      type: redis\n"
                                                "      topics: [web]\n"
                                                "      redis:\n"
                                                "      commands: [[INCR, hits]]\n");
    const struct ferry_worker_config *w = &cfg->workers[0];
    assert_int_equal(w->format, FERRY_FORMAT_RAW);
    assert_true(my(w)->create_table);
    assert_string_equal(my(w)->conn.host, "127.0.0.1");
    assert_int_equal(my(w)->conn.port, 3306);
    assert_null(my(w)->conn.socket);
    assert_null(my(w)->conn.password);
    assert_int_equal(my(w)->ncolumns, 0);
    assert_int_equal(my(w)->mode, FERRY_MYSQL_INSERT);
    assert_true(my(w)->store_raw);
    w = &cfg->workers[1];
    assert_string_equal(rd(w)->conn.host, "127.0.0.1");
    assert_int_equal(rd(w)->conn.port, 6379);
    assert_int_equal(rd(w)->conn.db, 0);
    ferry_config_destroy(cfg);
}

static void booleans(void **state)
{
    static const char *const yes[] = {"true", "yes", "on", "True", "\"true\""};
    static const char *const no[] = {"false", "no", "off", "FALSE", "'no'"};
    char yaml[512];
    (void)state;

    for (size_t i = 0; i < 2 * 5; i++) {
        const char *word = i < 5 ? yes[i] : no[i - 5];
        snprintf(yaml, sizeof(yaml),
                 WORKERS "    - {name: db, type: mysql, topics: web, table: t, create_table: %s,\n"
                         "       mysql: {user: u, database: d}}\n",
                 word);
        struct ferry_config *cfg = parse_ok(yaml);
        assert_int_equal(my(&cfg->workers[0])->create_table, i < 5);
        ferry_config_destroy(cfg);
    }
}

static void variable_expansion(void **state)
{
    (void)state;
    assert_int_equal(setenv("FERRY_TEST_BROKERS", "k1:9092,k2:9092", 1), 0);
    assert_int_equal(setenv("FERRY_TEST_CHECKPOINT_MS", "2500", 1), 0);
    assert_int_equal(setenv("FERRY_TEST_LOG_DIR", "/data/logs", 1), 0);
    assert_int_equal(setenv("FERRY_TEST_EMPTY", "", 1), 0);
    assert_int_equal(setenv("FERRY_TEST_SET", "set", 1), 0);
    assert_int_equal(unsetenv("FERRY_TEST_UNSET_DIR"), 0);

    struct ferry_config *cfg = parse_ok("kafka:\n"
                                        "  brokers: \"${FERRY_TEST_BROKERS}\"\n"
                                        "  properties:\n"
                                        "    \"${FERRY_TEST_SET}\": \"${FERRY_TEST_SET:-unused}\"\n"
                                        "agent:\n"
                                        "  state_dir: ${FERRY_TEST_UNSET_DIR:-/tmp/ferry-state}\n"
                                        "  checkpoint_ms: ${FERRY_TEST_CHECKPOINT_MS}\n"
                                        "  sources:\n"
                                        "    - name: web\n"
                                        "      paths:\n"
                                        "        - \"${FERRY_TEST_LOG_DIR}/*.log\"\n"
                                        "        - /cost/$$5/$HOME/${FERRY_TEST_EMPTY}x\n"
                                        "        - ${FERRY_TEST_SET}${FERRY_TEST_SET}$\n"
                                        "      topic: ${FERRY_TEST_EMPTY:-fallback}-logs\n");
    assert_string_equal(cfg->kafka.brokers, "k1:9092,k2:9092");
    /* keys are never expanded */
    assert_int_equal(cfg->kafka.properties.n, 1);
    assert_string_equal(cfg->kafka.properties.v[0].key, "${FERRY_TEST_SET}");
    assert_string_equal(cfg->kafka.properties.v[0].value, "set");
    assert_string_equal(cfg->state_dir, "/tmp/ferry-state");
    assert_int_equal(cfg->checkpoint_ms, 2500);
    const struct ferry_source_config *s = &cfg->sources[0];
    assert_int_equal(tl(s)->paths.n, 3);
    assert_string_equal(tl(s)->paths.v[0], "/data/logs/*.log");
    assert_string_equal(tl(s)->paths.v[1], "/cost/$5/$HOME/x");
    assert_string_equal(tl(s)->paths.v[2], "setset$");
    assert_string_equal(s->topic, "fallback-logs");
    ferry_config_destroy(cfg);
}

static void password_env_resolves(void **state)
{
    (void)state;
    assert_int_equal(setenv("FERRY_TEST_MYSQL_PASSWORD", "correct horse", 1), 0);
    assert_int_equal(setenv("FERRY_TEST_REDIS_PASSWORD", "r3d1s", 1), 0);

    struct ferry_config *cfg =
        parse_ok(WORKERS "    - name: db\n"
                         "      type: mysql\n"
                         "      topics: [web]\n"
                         "      mysql: {user: ferry, database: logs,\n"
                         "              password_env: FERRY_TEST_MYSQL_PASSWORD}\n"
                         "      table: hits\n"
                         "    - name: cache\n"
                         "      type: redis\n"
                         "      topics: [web]\n"
                         "      redis: {password_env: FERRY_TEST_REDIS_PASSWORD}\n"
                         "      commands: [[INCR, hits]]\n");
    assert_string_equal(my(&cfg->workers[0])->conn.password_env, "FERRY_TEST_MYSQL_PASSWORD");
    assert_string_equal(my(&cfg->workers[0])->conn.password, "correct horse");
    assert_string_equal(rd(&cfg->workers[1])->conn.password_env, "FERRY_TEST_REDIS_PASSWORD");
    assert_string_equal(rd(&cfg->workers[1])->conn.password, "r3d1s");
    ferry_config_destroy(cfg);
}

static void embedded_brokers(void **state)
{
    (void)state;
    struct ferry_config *cfg = parse_ok("kafka: {brokers: embedded}\n");
    assert_string_equal(cfg->kafka.brokers, "embedded");
    assert_true(cfg->kafka.embedded);
    assert_int_equal(cfg->kafka.embedded_brokers, 3);
    assert_int_equal(cfg->kafka.embedded_partitions, 4);
    ferry_config_destroy(cfg);

    cfg = parse_ok("kafka:\n"
                   "  brokers: embedded\n"
                   "  embedded: {brokers: 1, partitions: 1024}\n");
    assert_true(cfg->kafka.embedded);
    assert_int_equal(cfg->kafka.embedded_brokers, 1);
    assert_int_equal(cfg->kafka.embedded_partitions, 1024);
    ferry_config_destroy(cfg);
}

static void enum_names(void **state)
{
    (void)state;
    assert_string_equal(ferry_acks_name(FERRY_ACKS_NONE), "0");
    assert_string_equal(ferry_acks_name(FERRY_ACKS_LEADER), "1");
    assert_string_equal(ferry_acks_name(FERRY_ACKS_ALL), "all");
    assert_string_equal(ferry_format_name(FERRY_FORMAT_RAW), "raw");
    assert_string_equal(ferry_format_name(FERRY_FORMAT_JSON), "json");
    assert_string_equal(ferry_format_name(FERRY_FORMAT_COMBINED), "combined");
    assert_string_equal(ferry_format_name(FERRY_FORMAT_REGEX), "regex");
}

static void names_in_messages_and_config(void **state)
{
    struct ferry_diags d;
    struct ferry_config *cfg = NULL;
    char buf[256];
    (void)state;

    /* messages carry the diagnostics' name; the parse name becomes the config's path */
    ferry_diags_init(&d, "shown.yaml");
    assert_int_equal(ferry_config_parse("given.yaml", "kafka: {}\n", 10, &cfg, &d),
                     FERRY_ERR_INVALID);
    assert_int_equal(d.n, 1);
    assert_string_equal(ferry_diags_format(&d, 0, buf, sizeof(buf)),
                        "shown.yaml:1:8: kafka: missing required key 'brokers'");
    ferry_diags_release(&d);

    ferry_diags_init(&d, "shown.yaml");
    assert_int_equal(ferry_config_parse("given.yaml", "kafka: {brokers: k1}\n", 21, &cfg, &d), 0);
    assert_string_equal(cfg->path, "given.yaml");
    ferry_config_destroy(cfg);
    ferry_diags_release(&d);
}

static void load_from_file(void **state)
{
    char dir[] = "/tmp/ferry-config-XXXXXX", path[256], missing[256];
    struct ferry_diags d;
    struct ferry_config *cfg = NULL;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/ferry.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("kafka:\n  brokers: \"k9:9092\"\nagent:\n  checkpoint_ms: 40\n", f);
    assert_int_equal(fclose(f), 0);

    ferry_diags_init(&d, path);
    assert_int_equal(ferry_config_load(path, &cfg, &d), 0);
    assert_int_equal(d.n, 0);
    assert_non_null(cfg);
    assert_string_equal(cfg->path, path);
    assert_string_equal(cfg->kafka.brokers, "k9:9092");
    assert_int_equal(cfg->checkpoint_ms, 40);
    ferry_config_destroy(cfg);
    ferry_diags_release(&d);

    snprintf(missing, sizeof(missing), "%s/absent.yaml", dir);
    ferry_diags_init(&d, missing);
    cfg = (struct ferry_config *)(uintptr_t)1;
    assert_int_equal(ferry_config_load(missing, &cfg, &d), FERRY_ERR_IO);
    assert_null(cfg);
    char *got = all_diags(&d), want[512];
    snprintf(want, sizeof(want), "%s: cannot open: No such file or directory\n", missing);
    assert_string_equal(got, want);
    free(got);
    ferry_diags_release(&d);

    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* ---- coordination and rollups ----------------------------------------------------------- */

#define ROLLUP_WORKERS                                                                             \
    "kafka: {brokers: embedded}\n"                                                                 \
    "sinks:\n"                                                                                     \
    "  workers:\n"                                                                                 \
    "    - name: events\n"                                                                         \
    "      type: mysql\n"                                                                          \
    "      topics: [web]\n"                                                                        \
    "      mysql: {user: u, database: d}\n"                                                        \
    "      table: events\n"                                                                        \
    "      columns: {ts: {type: datetime}, url: url, user_id: user_id, bytes: {type: int}}\n"      \
    "    - name: counts\n"                                                                         \
    "      type: redis\n"                                                                          \
    "      topics: [web]\n"                                                                        \
    "      redis: {}\n"                                                                            \
    "      commands: [[INCR, n]]\n"

static void rollups_and_coordination_load(void **state)
{
    (void)state;
    struct ferry_config *cfg =
        parse_ok(ROLLUP_WORKERS
                 "rollups:\n"
                 "  - name: pv\n"
                 "    worker: events\n"
                 "    table: pageviews\n"
                 "    time_column: ts\n"
                 "    window: hour\n"
                 "    group_by: [url, kafka_topic]\n"
                 "    measures: {views: count, users: {fn: count_distinct, column: user_id},\n"
                 "               bytes: {fn: sum, column: bytes}}\n"
                 "coordination:\n"
                 "  backend: zookeeper\n"
                 "  endpoints: [127.0.0.1:2181, 'zk2:2181']\n"
                 "  prefix: /ferry/prod\n"
                 "  ttl_ms: 4000\n");
    assert_int_equal(cfg->nrollups, 1);
    const struct ferry_rollup_config *r = &cfg->rollups[0];
    assert_string_equal(r->name, "pv");
    assert_ptr_equal(r->source, &cfg->workers[0]);
    assert_string_equal(r->time_column, "ts");
    assert_int_equal(r->window, FERRY_WINDOW_HOUR);
    assert_int_equal(r->group_by.n, 2);
    assert_int_equal(r->nmeasures, 3);
    assert_string_equal(r->measures[0].name, "views");
    assert_int_equal(r->measures[0].fn, FERRY_MEASURE_COUNT);
    assert_null(r->measures[0].column);
    assert_int_equal(r->measures[1].fn, FERRY_MEASURE_COUNT_DISTINCT);
    assert_string_equal(r->measures[1].column, "user_id");
    assert_int_equal(r->interval_ms, 10000);
    assert_int_equal(r->lateness_ms, 60000);
    assert_true(r->create_table);
    assert_int_equal(cfg->coordination.backend, FERRY_COORD_ZOOKEEPER);
    assert_int_equal(cfg->coordination.endpoints.n, 2);
    assert_string_equal(cfg->coordination.endpoints.v[1], "zk2:2181");
    assert_string_equal(cfg->coordination.prefix, "/ferry/prod");
    assert_int_equal(cfg->coordination.ttl_ms, 4000);
    ferry_config_destroy(cfg);

    cfg = parse_ok(ROLLUP_WORKERS);
    assert_int_equal(cfg->nrollups, 0);
    assert_int_equal(cfg->coordination.backend, FERRY_COORD_NONE);
    assert_string_equal(cfg->coordination.prefix, "/ferry");
    ferry_config_destroy(cfg);
}

static void bad_rollups(void **state)
{
    (void)state;
    expect_diags(ROLLUP_WORKERS "rollups:\n"
                                "  - name: a\n"
                                "    worker: counts\n"
                                "    table: t1\n"
                                "    measures: {n: count}\n"
                                "  - name: b\n"
                                "    worker: events\n"
                                "    table: events\n"
                                "    time_column: url\n"
                                "    group_by: [nope, url]\n"
                                "    measures: {url: count, s: sum, m: {fn: max, column: url}}\n"
                                "  - name: b\n"
                                "    worker: events\n"
                                "    table: ferry_fence\n"
                                "    measures: {}\n",
                 NAME
                 ":17:13: rollups[0].worker: 'counts' is not a mysql worker of sinks.workers\n" NAME
                 ":22:12: rollups[1].table: 'events' is the worker's own table\n" NAME
                 ":23:18: rollups[1].time_column: 'url' is not a datetime column of the table of "
                 "worker 'events'\n" NAME
                 ":24:15: rollups[1].group_by: 'nope' is not a column of the table of worker "
                 "'events' that can be grouped by\n" NAME
                 ":25:15: rollups[1].measures: 'url' is already a column of the summary\n" NAME
                 ":25:15: rollups[1].measures.m: 'url' is not a column of the table of worker "
                 "'events' that max applies to\n" NAME
                 ":25:31: rollups[1].measures.s: sum needs 'column'\n" NAME
                 ":26:11: rollups[2].name: duplicate rollup name 'b'\n" NAME
                 ":28:12: rollups[2].table: 'ferry_fence' is one of ferry's own tables\n" NAME
                 ":29:15: rollups[2].measures: needs at least one measure\n");
}

static void bad_coordination(void **state)
{
    (void)state;
    expect_diags("kafka: {brokers: embedded}\n"
                 "coordination: {backend: etcd, endpoints: ['h: 80', 'h:+80']}\n"
                 "http: {listen: nohost}\n",
                 NAME ":2:42: coordination.endpoints: 'h: 80' is not host:port\n" NAME
                      ":2:42: coordination.endpoints: 'h:+80' is not host:port\n" NAME
                      ":3:16: http.listen: 'nohost' is not host:port\n");
    expect_diags(
        "kafka: {brokers: embedded}\n"
        "coordination:\n"
        "  backend: consul\n",
        NAME ":3:12: coordination.backend: invalid value 'consul' (expected one of: none, etcd, "
             "zookeeper)\n");
    expect_diags("kafka: {brokers: embedded}\n"
                 "coordination:\n"
                 "  backend: etcd\n"
                 "  endpoints: [localhost, 'h:99999']\n"
                 "  prefix: /a//b\n"
                 "  user: root\n",
                 NAME ":4:14: coordination.endpoints: 'localhost' is not host:port\n" NAME
                      ":4:14: coordination.endpoints: 'h:99999' is not host:port\n" NAME
                      ":5:11: coordination.prefix: '/a//b' is not a path such as /ferry/prod "
                      "(absolute, no trailing '/')\n" NAME
                      ":6:9: coordination.user: needs 'password' or 'password_env'\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(diags_format_and_sort),
        cmocka_unit_test(rollups_and_coordination_load),
        cmocka_unit_test(bad_rollups),
        cmocka_unit_test(bad_coordination),
        cmocka_unit_test(unknown_key_with_hint),
        cmocka_unit_test(unknown_key_without_hint),
        cmocka_unit_test(unknown_key_in_nested_section),
        cmocka_unit_test(unknown_key_hint_distance),
        cmocka_unit_test(string_where_integer),
        cmocka_unit_test(integer_syntax),
        cmocka_unit_test(mapping_where_list),
        cmocka_unit_test(mapping_where_list_of_mappings),
        cmocka_unit_test(list_where_string_or_mapping),
        cmocka_unit_test(list_item_not_a_mapping),
        cmocka_unit_test(non_scalar_values),
        cmocka_unit_test(bad_boolean),
        cmocka_unit_test(bad_source_enums),
        cmocka_unit_test(bad_worker_enums),
        cmocka_unit_test(missing_required_keys),
        cmocka_unit_test(missing_kafka),
        cmocka_unit_test(mysql_worker_needs),
        cmocka_unit_test(mysql_section_empty),
        cmocka_unit_test(invalid_worker_type_only),
        cmocka_unit_test(redis_worker_needs_and_foreign_keys),
        cmocka_unit_test(duplicate_source_names),
        cmocka_unit_test(duplicate_worker_names),
        cmocka_unit_test(duplicate_yaml_key),
        cmocka_unit_test(non_scalar_key),
        cmocka_unit_test(yaml_syntax_errors),
        cmocka_unit_test(anchors_and_aliases),
        cmocka_unit_test(document_shapes),
        cmocka_unit_test(undefined_variable),
        cmocka_unit_test(malformed_variables),
        cmocka_unit_test(invalid_identifiers),
        cmocka_unit_test(column_positions_after_bad_value),
        cmocka_unit_test(identifier_length),
        cmocka_unit_test(typed_columns),
        cmocka_unit_test(typed_column_errors),
        cmocka_unit_test(out_of_range),
        cmocka_unit_test(bad_redis_commands),
        cmocka_unit_test(bad_redis_templates),
        cmocka_unit_test(regex_format_pattern_errors),
        cmocka_unit_test(regex_format_accepted),
        cmocka_unit_test(stdout_worker),
        cmocka_unit_test(stdin_source_refuses_tail_keys),
        cmocka_unit_test(redis_user),
        cmocka_unit_test(mysql_tls),
        cmocka_unit_test(empty_lists_and_brokers),
        cmocka_unit_test(password_env_problems),
        cmocka_unit_test(many_errors_in_one_document),
        cmocka_unit_test(minimal_document_defaults),
        cmocka_unit_test(full_document_sources),
        cmocka_unit_test(full_document_workers),
        cmocka_unit_test(connection_defaults),
        cmocka_unit_test(booleans),
        cmocka_unit_test(variable_expansion),
        cmocka_unit_test(password_env_resolves),
        cmocka_unit_test(embedded_brokers),
        cmocka_unit_test(enum_names),
        cmocka_unit_test(names_in_messages_and_config),
        cmocka_unit_test(load_from_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
