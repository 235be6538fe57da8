/* ferry status: the members registered below the prefix, the leader and its token, and the
 * consumer lag of every sink worker. See include/ferry/cli.h. */
#include <inttypes.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_internal.h"
#include "ferry/cli.h"
#include "ferry/config.h"
#include "ferry/coord.h"
#include "ferry/err.h"
#include "ferry/kafka.h"

#define KAFKA_TIMEOUT_MS 10000

static const char status_usage[] =
    "usage: ferry status [--coord URL | -c FILE]\n"
    "\n"
    "Prints the members registered below the prefix, the leader and its fence token, and\n"
    "the consumer lag of every sink worker, per partition: committed offset, end, lag.\n"
    "The workers come from FILE when given, else from the stored configuration.\n"
    "\n"
    "options:\n"
    "  --coord URL          etcd://HOST:PORT[,HOST:PORT…]/PREFIX or zk://HOST:PORT[,…]/PREFIX\n"
    "  -c, --config FILE    configuration file (the coordination section and the workers)\n"
    "  -l, --log-level L    error, warn (default), info or debug\n"
    "  -h, --help           this text\n";

/* ---- aligned plain-text tables ---------------------------------------------------------- */

#define TABLE_MAX_COLS 8

struct table {
    size_t ncols, nrows, cap;
    unsigned right; /* bit i: column i is right-aligned (numbers) */
    char **cells;   /* nrows × ncols, row-major, owned */
    bool nomem;
};

/* Appends a row of t->ncols strings (NULL: "-"), copied. */
static void table_add(struct table *t, ...)
{
    va_list ap;

    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **v = realloc(t->cells, cap * t->ncols * sizeof(*v));
        if (!v) {
            t->nomem = true;
            return;
        }
        t->cells = v;
        t->cap = cap;
    }
    va_start(ap, t);
    for (size_t i = 0; i < t->ncols; i++) {
        const char *s = va_arg(ap, const char *);
        char *copy = strdup(s ? s : "-");
        t->nomem |= !copy;
        t->cells[t->nrows * t->ncols + i] = copy;
    }
    va_end(ap);
    t->nrows++;
}

static void table_print(const struct table *t, const char *indent)
{
    size_t w[TABLE_MAX_COLS] = {0};

    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            size_t n = s ? strlen(s) : 0;
            w[c] = n > w[c] ? n : w[c];
        }
    for (size_t r = 0; r < t->nrows; r++) {
        fputs(indent, stdout);
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            bool last = c + 1 == t->ncols;
            if (t->right & (1u << c))
                printf("%*s", (int)w[c], s ? s : "");
            else
                printf("%-*s", last ? 0 : (int)w[c], s ? s : "");
            fputs(last ? "\n" : "  ", stdout);
        }
    }
}

static void table_release(struct table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
}

/* ---- status: members and leader --------------------------------------------------------- */

static int member_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ferry_coord_member *)a)->id,
                  ((const struct ferry_coord_member *)b)->id);
}

/* The strings of a JSON array, joined with ','; NULL when absent or empty. */
static void join_strings(const json_t *arr, char *buf, size_t len, const char **out)
{
    size_t at = 0;

    *out = NULL;
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *v = json_array_get(arr, i);
        const char *s = json_is_string(v) ? json_string_value(v) : "?";
        int n = snprintf(buf + at, len - at, "%s%s", i ? "," : "", s);
        if (n < 0 || (size_t)n >= len - at)
            break;
        at += (size_t)n;
    }
    *out = buf;
}

static const char *json_str(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void member_row(struct table *t, const struct ferry_coord_member *m)
{
    json_error_t jerr;
    json_t *j = json_loads(m->value ? m->value : "", 0, &jerr);
    char pid[32] = "-", sources[512], workers[512], bad[256];
    const char *src, *wrk;

    if (!json_is_object(j)) {
        snprintf(bad, sizeof(bad), "(not a JSON object: %s)", j ? "another type" : jerr.text);
        table_add(t, m->id, "?", (const char *)NULL, (const char *)NULL, (const char *)NULL,
                  (const char *)NULL, (const char *)NULL, bad); /* last: not padded */
        json_decref(j);
        return;
    }
    json_t *p = json_object_get(j, "pid");
    if (json_is_integer(p))
        snprintf(pid, sizeof(pid), "%" JSON_INTEGER_FORMAT, json_integer_value(p));
    join_strings(json_object_get(j, "sources"), sources, sizeof(sources), &src);
    join_strings(json_object_get(j, "workers"), workers, sizeof(workers), &wrk);
    table_add(t, m->id, json_str(j, "role"), json_str(j, "host"), pid, json_str(j, "version"),
              json_str(j, "started"), src, wrk);
    json_decref(j);
}

static int print_members(struct ferry_cli *cli)
{
    struct ferry_coord_member *m = NULL;
    struct table t = {.ncols = 8, .right = 1u << 3};
    char err[1024];
    size_t n = 0;

    if (ferry_coord_members(cli->coord, &m, &n, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", cli->cmd, err);
        return 1;
    }
    qsort(m, n, sizeof(*m), member_cmp);
    if (n == 0) {
        printf("members: none\n");
    } else {
        printf("members: %zu\n", n);
        table_add(&t, "id", "role", "host", "pid", "version", "started", "sources", "workers");
        for (size_t i = 0; i < n; i++)
            member_row(&t, &m[i]);
        table_print(&t, "  ");
    }
    ferry_coord_members_free(m, n);
    table_release(&t);
    return t.nomem ? 1 : 0;
}

static int print_leader(struct ferry_cli *cli)
{
    char err[1024], *value = NULL;
    int64_t fence = 0;
    int rc = ferry_coord_leader(cli->coord, &value, &fence, err, sizeof(err));

    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", cli->cmd, err);
        return 1;
    }
    if (rc == 1)
        printf("\nleader: no leader\n");
    else
        printf("\nleader: %s (fence token %" PRId64 ")\n", value, fence);
    free(value);
    return 0;
}

/* ---- status: consumer lag --------------------------------------------------------------- */

/* A consumer in `group` that never subscribes: it only asks for metadata, committed offsets
 * and watermarks, and commits nothing. */
static rd_kafka_t *lag_consumer(const struct ferry_config *cfg, const char *group, char *err,
                                size_t errlen)
{
    const struct ferry_kafka_prop defaults[] = {{"client.id", "ferry-status"}};
    const struct ferry_kafka_prop fixed[] = {
        {"group.id", group},
        {"enable.auto.commit", "false"},
    };
    char e[512];
    rd_kafka_conf_t *conf = ferry_kafka_conf_new(
        &cfg->kafka, FERRY_KAFKA_CONSUMER, cfg->kafka.brokers, defaults, 1, fixed, 2, err, errlen);
    if (!conf)
        return NULL;
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, e, sizeof(e));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        ferry_seterr(err, errlen, FERRY_ERR_INVALID, "kafka: %s", e);
    }
    return rk;
}

static int int32_cmp(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Adds every partition of topic to parts, in order. 0, or negative with err. */
static int add_partitions(rd_kafka_t *rk, const char *topic, rd_kafka_topic_partition_list_t *parts,
                          char *err, size_t errlen)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e;
    int rc = 0;

    if (!rkt)
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "topic %s: %s", topic,
                            rd_kafka_err2str(rd_kafka_last_error()));
    e = rd_kafka_metadata(rk, 0, rkt, &md, KAFKA_TIMEOUT_MS);
    if (!e && md->topic_cnt == 1)
        e = md->topics[0].err;
    if (e) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_RETRY, "topic %s: metadata: %s", topic,
                          rd_kafka_err2str(e));
    } else {
        int n = md->topics[0].partition_cnt;
        int32_t *ids = calloc((size_t)n + 1, sizeof(*ids));
        if (!ids) {
            rc = ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
        } else {
            for (int i = 0; i < n; i++)
                ids[i] = md->topics[0].partitions[i].id;
            qsort(ids, (size_t)n, sizeof(*ids), int32_cmp);
            for (int i = 0; i < n; i++)
                rd_kafka_topic_partition_list_add(parts, topic, ids[i]);
            free(ids);
        }
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return rc;
}

/* One row per partition in parts (whose offsets are the committed ones), and the total. */
static void lag_rows(rd_kafka_t *rk, const char *worker, rd_kafka_topic_partition_list_t *parts,
                     struct table *t, struct table *notes)
{
    char part[16], committed[32], end[32], lag[32], note[1024];
    int64_t total = 0;
    bool all_known = true;

    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &lo,
                                                                 &hi, KAFKA_TIMEOUT_MS);
        bool have_committed = !p->err && p->offset >= 0;
        snprintf(part, sizeof(part), "%" PRId32, p->partition);
        snprintf(committed, sizeof(committed), "%" PRId64, p->offset);
        snprintf(end, sizeof(end), "%" PRId64, hi);
        if (p->err || e) {
            snprintf(note, sizeof(note), "%s: %s [%" PRId32 "]: %s", worker, p->topic, p->partition,
                     rd_kafka_err2str(p->err ? p->err : e));
            table_add(notes, note);
            table_add(t, worker, p->topic, part,
                      p->err           ? "?"
                      : have_committed ? committed
                                       : NULL,
                      e ? "?" : end, "?");
            all_known = false;
            continue;
        }
        int64_t l = hi - (have_committed ? p->offset : lo);
        total += l;
        snprintf(lag, sizeof(lag), "%" PRId64, l);
        table_add(t, worker, p->topic, part, have_committed ? committed : NULL, end, lag);
    }
    snprintf(lag, sizeof(lag), "%" PRId64 "%s", total, all_known ? "" : "+?");
    table_add(t, worker, "(total)", (const char *)NULL, (const char *)NULL, (const char *)NULL,
              lag);
}

/* The lag of one worker's group over its topics, into t; problems into notes. */
static void worker_lag(const struct ferry_config *cfg, const struct ferry_worker_config *w,
                       struct table *t, struct table *notes)
{
    char group[512], err[1024], note[1200];
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_t *rk;

    snprintf(group, sizeof(group), "%s.%s", cfg->group, w->name);
    if (!(rk = lag_consumer(cfg, group, err, sizeof(err))))
        goto fail;
    parts = rd_kafka_topic_partition_list_new(16);
    for (size_t i = 0; i < w->topics.n; i++) {
        if (add_partitions(rk, w->topics.v[i], parts, err, sizeof(err)) < 0) {
            snprintf(note, sizeof(note), "%s: %s", w->name, err);
            table_add(notes, note);
        }
    }
    if (parts->cnt > 0) {
        rd_kafka_resp_err_t e = rd_kafka_committed(rk, parts, KAFKA_TIMEOUT_MS);
        if (e) {
            snprintf(err, sizeof(err), "group %s: committed offsets: %s", group,
                     rd_kafka_err2str(e));
            goto fail;
        }
        lag_rows(rk, w->name, parts, t, notes);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return;
fail:
    snprintf(note, sizeof(note), "%s: %s", w->name, err);
    table_add(notes, note);
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
}

/* The stored configuration, parsed; NULL (having said why) when there is none to use. */
static struct ferry_config *stored_config(struct ferry_cli *cli, const char *name)
{
    struct ferry_config *cfg = NULL;
    char err[1024], *text = NULL;
    size_t len = 0;
    int64_t version = 0;
    int rc =
        ferry_coord_get(cli->coord, FERRY_CLI_CONFIG_KEY, &text, &len, &version, err, sizeof(err));

    if (rc < 0) {
        printf("  the stored configuration could not be read: %s\n", err);
        return NULL;
    }
    if (rc == 1) {
        printf("  no configuration at %s: give -c FILE for the workers' lag\n", name);
        return NULL;
    }
    if (ferry_config_parse_report(name, text, len, &cfg, stderr) < 0)
        printf("  the configuration at %s does not validate (see above): lag skipped\n", name);
    free(text);
    return cfg;
}

static void print_lag(struct ferry_cli *cli)
{
    struct table t = {.ncols = 6, .right = 1u << 2 | 1u << 3 | 1u << 4 | 1u << 5};
    struct table notes = {.ncols = 1};
    struct ferry_config *stored = NULL;
    const struct ferry_config *cfg = cli->cfg;
    char name[1200];

    if (cfg) {
        printf("\nlag (workers of %s):\n", cli->file);
    } else {
        snprintf(name, sizeof(name), "%s/%s", cli->where, FERRY_CLI_CONFIG_KEY);
        printf("\nlag (workers of %s):\n", name);
        if (!(cfg = stored = stored_config(cli, name)))
            return;
    }
    if (cfg->nworkers == 0) {
        printf("  no sink workers configured\n");
    } else if (!cfg->kafka.brokers) {
        printf("  kafka.brokers is not set\n");
    } else if (cfg->kafka.embedded) {
        printf("  kafka.brokers is 'embedded': that cluster lives inside one ferry process and "
               "cannot be reached from here\n");
    } else {
        table_add(&t, "worker", "topic", "partition", "committed", "end", "lag");
        for (size_t i = 0; i < cfg->nworkers; i++)
            worker_lag(cfg, &cfg->workers[i], &t, &notes);
        if (t.nrows > 1)
            table_print(&t, "  ");
        if (notes.nrows > 0) {
            printf("  problems:\n");
            table_print(&notes, "    ");
        }
    }
    table_release(&t);
    table_release(&notes);
    ferry_config_destroy(stored);
}

int ferry_cmd_status(int argc, char **argv)
{
    struct ferry_cli cli = {.cmd = "ferry status"};
    int rc;

    if ((rc = ferry_cli_parse(&cli, argc, argv, status_usage)) >= 0)
        return rc;
    if ((rc = ferry_cli_load(&cli)) == 0 && (rc = ferry_cli_open(&cli)) == 0) {
        printf("coordination: %s\n\n", cli.where);
        if ((rc = print_members(&cli)) == 0 && (rc = print_leader(&cli)) == 0)
            print_lag(&cli);
        fflush(stdout);
    }
    ferry_cli_release(&cli);
    return rc;
}
