/* ferry: the configuration schema of `coordination`, `rollups` and `http`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ferry/coord.h"
#include "ferry/mysql.h"
#include "schema.h"

static const char *const backend_names[] = {"none", "etcd", "zookeeper", NULL};
static const char *const window_names[] = {"minute", "hour", "day", NULL};
static const char *const measure_names[] = {"count", "count_distinct", "sum", "min", "max", "avg",
                                            NULL};

/* ---- coordination ------------------------------------------------------------------------ */

static void check_coordination(struct ferry_schema_ctx *c, void *obj, const struct ferry_node *map,
                               const char *path)
{
    struct ferry_coordination_config *k = obj;
    static const char *const etcd_only[] = {"ca_file", "cert_file", "key_file", NULL};
    int line, col;

    if (!map)
        return;
    ferry_schema_resolve_password(c, &k->password, k->password_env, map, path);
    if (k->prefix) {
        size_t n = strlen(k->prefix);
        if (k->prefix[0] != '/' || n < 2 || k->prefix[n - 1] == '/' || strstr(k->prefix, "//")) {
            ferry_schema_pos_of(map, "prefix", &line, &col);
            ferry_diags_add(c->d, line, col,
                            "%s.prefix: '%s' is not a path such as /ferry/prod (absolute, no "
                            "trailing '/')",
                            path, k->prefix);
        }
    }
    if (k->backend == FERRY_COORD_NONE)
        return;
    if (!k->endpoints.v || k->endpoints.n == 0) {
        ferry_schema_pos_of(map, "backend", &line, &col);
        ferry_diags_add(c->d, line, col, "%s: backend %s needs 'endpoints' (host:port, …)", path,
                        backend_names[k->backend]);
    }
    for (size_t i = 0; k->endpoints.v && i < k->endpoints.n; i++) {
        const char *e = k->endpoints.v[i];
        if (!ferry_coord_endpoint_ok(e, strlen(e))) {
            ferry_schema_pos_of(map, "endpoints", &line, &col);
            ferry_diags_add(c->d, line, col, "%s.endpoints: '%s' is not host:port", path, e);
        }
    }
    if (k->user && !k->password) {
        ferry_schema_pos_of(map, "user", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.user: needs 'password' or 'password_env'", path);
    }
    for (int i = 0; k->backend == FERRY_COORD_ZOOKEEPER && etcd_only[i]; i++) {
        if (ferry_node_get(map, etcd_only[i])) {
            ferry_schema_pos_of(map, etcd_only[i], &line, &col);
            ferry_diags_add(c->d, line, col, "%s.%s: applies only to backend etcd", path,
                            etcd_only[i]);
        }
    }
}

#define COORD struct ferry_coordination_config
static const struct ferry_key coordination_keys[] = {
    {FERRY_KEY_ENUM("backend", COORD, backend, "none", backend_names,
                    "`etcd` (3.4 or later, through its JSON gateway), `zookeeper` (3.5 or later) "
                    "or `none`; with one, sink processes elect a leader for the rollups, every "
                    "process registers as a member, and `--coord` can load the configuration "
                    "from there")},
    {FERRY_KEY_STRLIST("endpoints", COORD, endpoints,
                       "the servers, `host:port` each (etcd: tried in turn; ZooKeeper: the "
                       "ensemble)")},
    {FERRY_KEY_STRING("prefix", COORD, prefix, "/ferry",
                      "where ferry keeps its keys: `<prefix>/config`, `<prefix>/members/<id>`, "
                      "`<prefix>/leader`; one prefix per pipeline")},
    {FERRY_KEY_INT("ttl_ms", COORD, ttl_ms, "10000", 2000, 300000,
                   "etcd lease TTL (whole seconds) / ZooKeeper session timeout: how long a dead "
                   "process keeps its membership and leadership")},
    {FERRY_KEY_STRING("user", COORD, user, NULL,
                      "etcd user, or ZooKeeper digest user (the nodes ferry creates are then "
                      "readable by it alone)")},
    {FERRY_KEY_STRING("password", COORD, password, NULL, "its password (prefer `password_env`)")},
    {FERRY_KEY_STRING("password_env", COORD, password_env, NULL,
                      "name of the environment variable that holds the password")},
    {FERRY_KEY_STRING("ca_file", COORD, ca_file, NULL,
                      "etcd over TLS: the CA certificate(s), PEM; any of the three TLS keys "
                      "means https")},
    {FERRY_KEY_STRING("cert_file", COORD, cert_file, NULL,
                      "etcd over TLS: the client certificate, PEM")},
    {FERRY_KEY_STRING("key_file", COORD, key_file, NULL,
                      "etcd over TLS: the client certificate's key, PEM")},
    {0},
};
#undef COORD
const struct ferry_section ferry_coordination_section = {.keys = coordination_keys,
                                                         .check = check_coordination};

/* ---- rollups ----------------------------------------------------------------------------- */

#define MEASURE struct ferry_measure_config
static const struct ferry_key measure_keys[] = {
    {FERRY_KEY_ENUM("fn", MEASURE, fn, NULL, measure_names,
                    "`count` (rows), `count_distinct` (of any column), `sum`, `min`, `max` or "
                    "`avg` (of a numeric `column`); `name: count` is short for `name: {fn: "
                    "count}`"),
     .flags = FERRY_KEY_REQUIRED},
    {FERRY_KEY_STRING("column", MEASURE, column, NULL,
                      "the raw table's column it is computed over (all but `count`)")},
    {0},
};
#undef MEASURE

static void check_measure(struct ferry_schema_ctx *c, void *obj, const struct ferry_node *map,
                          const char *path)
{
    struct ferry_measure_config *m = obj;
    int line, col;
    if (m->fn == FERRY_MEASURE_COUNT && m->column) {
        ferry_schema_pos_of(map, "column", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.column: count counts rows and takes no column", path);
    }
    /* a function without a column is reported by check_rollup: the shorthand has no map */
}

static const struct ferry_section measure_section = {
    .keys = measure_keys, .size = sizeof(struct ferry_measure_config), .check = check_measure};

#define ROLLUP struct ferry_rollup_config
static const struct ferry_key rollup_keys[] = {
    {FERRY_KEY_STRING("name", ROLLUP, name, NULL,
                      "unique name; its progress is kept in MySQL's `ferry_rollups` under it"),
     .flags = FERRY_KEY_REQUIRED},
    {FERRY_KEY_STRING("worker", ROLLUP, worker, NULL,
                      "a mysql worker of `sinks.workers`: its table is the raw table read, its "
                      "connection the one used"),
     .flags = FERRY_KEY_REQUIRED},
    {FERRY_KEY_STRING("table", ROLLUP, table, NULL,
                      "the summary table: `window_start`, the `group_by` columns, one column per "
                      "measure"),
     .flags = FERRY_KEY_REQUIRED},
    {FERRY_KEY_STRING("time_column", ROLLUP, time_column, "kafka_ts",
                      "the raw table's datetime column that places a row in its window: a "
                      "`datetime` column of the worker, `kafka_ts` or `received_at`")},
    {FERRY_KEY_ENUM("window", ROLLUP, window, "minute", window_names,
                    "`minute`, `hour` or `day` (UTC)")},
    {FERRY_KEY_STRLIST("group_by", ROLLUP, group_by,
                       "columns of the raw table that split a window into groups (none: one row "
                       "per window)")},
    {FERRY_KEY_NAMED("measures", ROLLUP, measures, nmeasures, &measure_section,
                     "the summary's values, `column: fn` or `column: {fn, column}`, e.g. "
                     "`{views: count, users: {fn: count_distinct, column: user_id}}`"),
     .flags = FERRY_KEY_REQUIRED},
    {FERRY_KEY_INT("interval_ms", ROLLUP, interval_ms, "10000", 100, 86400000,
                   "how often the leader looks for windows that closed")},
    {FERRY_KEY_INT("lateness_ms", ROLLUP, lateness_ms, "60000", 0, 86400000,
                   "a window is closed, and summed up, this long after its end (by the leader's "
                   "clock); rows that arrive later for a closed window are not counted")},
    {FERRY_KEY_BOOL("create_table", ROLLUP, create_table, "true",
                    "create the summary table if absent")},
    {0},
};
#undef ROLLUP

/* Names of one rollup: identifiers, none of ferry's own tables or window_start, distinct. */
static void check_rollup(struct ferry_schema_ctx *c, void *obj, const struct ferry_node *map,
                         const char *path)
{
    struct ferry_rollup_config *r = obj;
    static const char *const reserved[] = {"ferry_offsets", "ferry_rollups", "ferry_fence", NULL};
    int line, col;

    for (size_t i = 0; r->name && c->cfg->rollups + i != r; i++) {
        if (c->cfg->rollups[i].name && !strcmp(c->cfg->rollups[i].name, r->name)) {
            ferry_schema_pos_of(map, "name", &line, &col);
            ferry_diags_add(c->d, line, col, "%s.name: duplicate rollup name '%s'", path, r->name);
        }
    }
    if (r->table && !ferry_schema_valid_identifier(r->table)) {
        ferry_schema_pos_of(map, "table", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.table: invalid identifier '%s'", path, r->table);
    }
    for (int i = 0; r->table && reserved[i]; i++) {
        if (!strcasecmp(r->table, reserved[i])) {
            ferry_schema_pos_of(map, "table", &line, &col);
            ferry_diags_add(c->d, line, col, "%s.table: '%s' is one of ferry's own tables", path,
                            r->table);
        }
    }
    if (r->time_column && !ferry_schema_valid_identifier(r->time_column)) {
        ferry_schema_pos_of(map, "time_column", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.time_column: invalid identifier '%s'", path,
                        r->time_column);
    }
    /* the summary's columns: window_start, group_by, measures; all distinct to MySQL */
    const char *names[128];
    size_t n = 0;
    names[n++] = "window_start";
    for (size_t i = 0; r->group_by.v && i < r->group_by.n && n < 128; i++)
        names[n++] = r->group_by.v[i];
    for (size_t i = 0; i < r->nmeasures && n < 128; i++)
        names[n++] = r->measures[i].name;
    for (size_t i = 1; i < n; i++) {
        const char *where = i <= r->group_by.n ? "group_by" : "measures";
        bool ok = ferry_schema_valid_identifier(names[i]);
        ferry_schema_pos_of(map, where, &line, &col);
        if (!ok)
            ferry_diags_add(c->d, line, col, "%s.%s: invalid column name '%s'", path, where,
                            names[i]);
        for (size_t j = 0; ok && j < i; j++) {
            if (!strcasecmp(names[i], names[j])) {
                ferry_diags_add(c->d, line, col, "%s.%s: '%s' is already a column of the summary",
                                path, where, names[i]);
                break;
            }
        }
    }
    const struct ferry_node *ms = ferry_node_get(map, "measures");
    for (size_t i = 0; i < r->nmeasures; i++) {
        const struct ferry_measure_config *m = &r->measures[i];
        if (m->fn != FERRY_MEASURE_COUNT && !m->column) {
            ferry_schema_pos_of(ms, m->name, &line, &col);
            ferry_diags_add(c->d, line, col, "%s.measures.%s: %s needs 'column'", path, m->name,
                            measure_names[m->fn]);
        }
        if (r->measures[i].column && !ferry_schema_valid_identifier(r->measures[i].column)) {
            ferry_schema_pos_of(map, "measures", &line, &col);
            ferry_diags_add(c->d, line, col, "%s.measures.%s.column: invalid identifier '%s'", path,
                            r->measures[i].name, r->measures[i].column);
        }
    }
    if (map && r->nmeasures == 0 && ferry_node_get(map, "measures")) {
        ferry_schema_pos_of(map, "measures", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.measures: needs at least one measure", path);
    }
}

const struct ferry_section ferry_rollup_section = {
    .keys = rollup_keys, .size = sizeof(struct ferry_rollup_config), .check = check_rollup};

/* The column `name` of worker w: one of its own (*type set), or one of ferry's (kafka_topic,
 * kafka_partition, kafka_offset: *type -1 for text, -2 for numbers; kafka_ts, received_at:
 * datetime). 0 when the table has no such column. */
static int worker_column(const struct ferry_mysql_config *w, const char *name, int *type)
{
    static const struct {
        const char *name;
        int type;
    } own[] = {{"kafka_topic", FERRY_COLUMN_STRING},
               {"kafka_partition", FERRY_COLUMN_INT},
               {"kafka_offset", FERRY_COLUMN_INT},
               {"kafka_ts", FERRY_COLUMN_DATETIME},
               {"received_at", FERRY_COLUMN_DATETIME}};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
        if (!strcasecmp(name, own[i].name)) {
            *type = own[i].type;
            return 1;
        }
    }
    for (size_t i = 0; i < w->ncolumns; i++) {
        if (!strcasecmp(name, w->columns[i].name)) {
            *type = (int)w->columns[i].type;
            return 1;
        }
    }
    return 0;
}

/* The item of `rollups` whose name is `name` (for positions), or the list itself. */
static const struct ferry_node *rollup_node(const struct ferry_node *list, const char *name)
{
    for (size_t i = 0; list && list->type == FERRY_NODE_SEQ && i < list->n; i++) {
        const struct ferry_node *nn = ferry_node_get(list->items[i], "name");
        if (nn && nn->scalar && !strcmp(nn->scalar, name))
            return list->items[i];
    }
    return list;
}

void ferry_schema_check_rollups(struct ferry_schema_ctx *c, const struct ferry_node *root)
{
    const struct ferry_node *list = ferry_node_get(root, "rollups");
    int line, col, type;

    for (size_t i = 0; i < c->cfg->nrollups; i++) {
        struct ferry_rollup_config *r = &c->cfg->rollups[i];
        const struct ferry_node *map = r->name ? rollup_node(list, r->name) : list;
        char path[64];
        snprintf(path, sizeof(path), "rollups[%zu]", i);
        if (!r->worker)
            continue;
        for (size_t j = 0; j < c->cfg->nworkers && !r->source; j++)
            if (c->cfg->workers[j].name && !strcmp(c->cfg->workers[j].name, r->worker))
                r->source = &c->cfg->workers[j];
        ferry_schema_pos_of(map, "worker", &line, &col);
        const struct ferry_mysql_config *my = r->source ? ferry_mysql_worker(r->source) : NULL;
        if (!my) {
            ferry_diags_add(c->d, line, col,
                            "%s.worker: '%s' is not a mysql worker of sinks.workers", path,
                            r->worker);
            r->source = NULL;
            continue;
        }
        const struct ferry_worker_config *w = r->source;
        if (r->table && my->table && !strcasecmp(r->table, my->table)) {
            ferry_schema_pos_of(map, "table", &line, &col);
            ferry_diags_add(c->d, line, col, "%s.table: '%s' is the worker's own table", path,
                            r->table);
        }
        if (r->time_column &&
            (!worker_column(my, r->time_column, &type) || type != FERRY_COLUMN_DATETIME)) {
            ferry_schema_pos_of(map, "time_column", &line, &col);
            ferry_diags_add(
                c->d, line, col,
                "%s.time_column: '%s' is not a datetime column of the table of worker '%s'", path,
                r->time_column, w->name);
        }
        for (size_t g = 0; r->group_by.v && g < r->group_by.n; g++) {
            if (!worker_column(my, r->group_by.v[g], &type) || type == FERRY_COLUMN_JSON) {
                ferry_schema_pos_of(map, "group_by", &line, &col);
                ferry_diags_add(c->d, line, col,
                                "%s.group_by: '%s' is not a column of the table of worker '%s' "
                                "that can be grouped by",
                                path, r->group_by.v[g], w->name);
            }
        }
        for (size_t m = 0; m < r->nmeasures; m++) {
            const struct ferry_measure_config *me = &r->measures[m];
            if (!me->column || me->fn == FERRY_MEASURE_COUNT)
                continue;
            bool numeric_fn = me->fn != FERRY_MEASURE_COUNT_DISTINCT; /* the summary holds DOUBLE */
            if (!worker_column(my, me->column, &type) || type == FERRY_COLUMN_JSON ||
                (numeric_fn && type != FERRY_COLUMN_INT && type != FERRY_COLUMN_FLOAT &&
                 type != FERRY_COLUMN_BOOL)) {
                ferry_schema_pos_of(map, "measures", &line, &col);
                ferry_diags_add(c->d, line, col,
                                "%s.measures.%s: '%s' is not a column of the table of "
                                "worker '%s' that %s applies to",
                                path, me->name, me->column, w->name, measure_names[me->fn]);
            }
        }
    }
}

/* ---- http -------------------------------------------------------------------------------- */

static void check_http(struct ferry_schema_ctx *c, void *obj, const struct ferry_node *map,
                       const char *path)
{
    const struct ferry_config *cfg = obj;
    int line, col;
    if (!cfg->http_listen)
        return;
    const char *colon = strrchr(cfg->http_listen, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || colon == cfg->http_listen || !end || *end || port < 0 || port > 65535) {
        ferry_schema_pos_of(map, "listen", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.listen: '%s' is not host:port", path,
                        cfg->http_listen);
    }
}

static const struct ferry_key http_keys[] = {
    {FERRY_KEY_STRING("listen", struct ferry_config, http_listen, NULL,
                      "`host:port` of the HTTP endpoint: `/healthz`, `/status` (JSON) and "
                      "`/metrics` (Prometheus text); port 0 picks a free one (the member entry "
                      "says which); absent: no endpoint")},
    {0},
};
const struct ferry_section ferry_http_section = {.keys = http_keys, .check = check_http};
