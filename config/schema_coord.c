/* ferry: the configuration schema of `coordination` and `rollups`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ferry/coord.h"
#include "schema.h"

static const char *const backend_names[] = {"none", "etcd", "zookeeper", NULL};
static const char *const window_names[] = {"minute", "hour", "day", NULL};
static const char *const measure_names[] = {"count", "count_distinct", "sum", "min", "max", "avg",
                                            NULL};

/* ---- coordination ------------------------------------------------------------------------ */

static void check_coordination(struct ctx *c, void *obj, const struct ferry_node *map,
                               const char *path)
{
    struct ferry_coordination_config *k = obj;
    static const char *const etcd_only[] = {"ca_file", "cert_file", "key_file", NULL};
    int line, col;

    if (!map)
        return;
    schema_resolve_password(c, &k->password, k->password_env, map, path);
    if (k->prefix) {
        size_t n = strlen(k->prefix);
        if (k->prefix[0] != '/' || n < 2 || k->prefix[n - 1] == '/' || strstr(k->prefix, "//")) {
            schema_pos_of(map, "prefix", &line, &col);
            ferry_diags_add(c->d, line, col,
                            "%s.prefix: '%s' is not a path such as /ferry/prod (absolute, no "
                            "trailing '/')",
                            path, k->prefix);
        }
    }
    if (k->backend == FERRY_COORD_NONE)
        return;
    if (!k->endpoints.v || k->endpoints.n == 0) {
        schema_pos_of(map, "backend", &line, &col);
        ferry_diags_add(c->d, line, col, "%s: backend %s needs 'endpoints' (host:port, …)", path,
                        backend_names[k->backend]);
    }
    for (size_t i = 0; k->endpoints.v && i < k->endpoints.n; i++) {
        const char *e = k->endpoints.v[i];
        if (!ferry_coord_endpoint_ok(e, strlen(e))) {
            schema_pos_of(map, "endpoints", &line, &col);
            ferry_diags_add(c->d, line, col, "%s.endpoints: '%s' is not host:port", path, e);
        }
    }
    if (k->user && !k->password) {
        schema_pos_of(map, "user", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.user: needs 'password' or 'password_env'", path);
    }
    for (int i = 0; k->backend == FERRY_COORD_ZOOKEEPER && etcd_only[i]; i++) {
        if (ferry_node_get(map, etcd_only[i])) {
            schema_pos_of(map, etcd_only[i], &line, &col);
            ferry_diags_add(c->d, line, col, "%s.%s: applies only to backend etcd", path,
                            etcd_only[i]);
        }
    }
}

static const struct key coordination_keys[] = {
    {"backend", KT_ENUM, 0, OFF(struct ferry_coordination_config, backend), 0, "none",
     backend_names, NULL, 0, 0,
     "`etcd` (3.4 or later, through its JSON gateway), `zookeeper` (3.5 or later) or `none`; "
     "with one, sink processes elect a leader for the rollups, every process registers as a "
     "member, and `--coord` can load the configuration from there"},
    {"endpoints", KT_STRLIST, 0, OFF(struct ferry_coordination_config, endpoints), 0, NULL, NULL,
     NULL, 0, 0, "the servers, `host:port` each (etcd: tried in turn; ZooKeeper: the ensemble)"},
    {"prefix", KT_STRING, 0, OFF(struct ferry_coordination_config, prefix), 0, "/ferry", NULL, NULL,
     0, 0,
     "where ferry keeps its keys: `<prefix>/config`, `<prefix>/members/<id>`, "
     "`<prefix>/leader`; one prefix per pipeline"},
    {"ttl_ms", KT_INT, 0, OFF(struct ferry_coordination_config, ttl_ms), 0, "10000", NULL, NULL,
     2000, 300000,
     "etcd lease TTL (whole seconds) / ZooKeeper session timeout: how long a dead process "
     "keeps its membership and leadership"},
    {"user", KT_STRING, 0, OFF(struct ferry_coordination_config, user), 0, NULL, NULL, NULL, 0, 0,
     "etcd user, or ZooKeeper digest user (the nodes ferry creates are then readable by it "
     "alone)"},
    {"password", KT_STRING, 0, OFF(struct ferry_coordination_config, password), 0, NULL, NULL, NULL,
     0, 0, "its password (prefer `password_env`)"},
    {"password_env", KT_STRING, 0, OFF(struct ferry_coordination_config, password_env), 0, NULL,
     NULL, NULL, 0, 0, "name of the environment variable that holds the password"},
    {"ca_file", KT_STRING, 0, OFF(struct ferry_coordination_config, ca_file), 0, NULL, NULL, NULL,
     0, 0, "etcd over TLS: the CA certificate(s), PEM; any of the three TLS keys means https"},
    {"cert_file", KT_STRING, 0, OFF(struct ferry_coordination_config, cert_file), 0, NULL, NULL,
     NULL, 0, 0, "etcd over TLS: the client certificate, PEM"},
    {"key_file", KT_STRING, 0, OFF(struct ferry_coordination_config, key_file), 0, NULL, NULL, NULL,
     0, 0, "etcd over TLS: the client certificate's key, PEM"},
    {0},
};
const struct section ferry_coordination_section = {"coordination", coordination_keys, 0,
                                                   check_coordination};

/* ---- rollups ----------------------------------------------------------------------------- */

static const struct key measure_keys[] = {
    {"fn", KT_ENUM, K_REQUIRED, OFF(struct ferry_measure_config, fn), 0, NULL, measure_names, NULL,
     0, 0,
     "`count` (rows), `count_distinct` (of any column), `sum`, `min`, `max` or `avg` (of a "
     "numeric `column`); "
     "`name: count` is short for `name: {fn: count}`"},
    {"column", KT_STRING, 0, OFF(struct ferry_measure_config, column), 0, NULL, NULL, NULL, 0, 0,
     "the raw table's column it is computed over (all but `count`)"},
    {0},
};

static void check_measure(struct ctx *c, void *obj, const struct ferry_node *map, const char *path)
{
    struct ferry_measure_config *m = obj;
    int line, col;
    if (m->fn == FERRY_MEASURE_COUNT && m->column) {
        schema_pos_of(map, "column", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.column: count counts rows and takes no column", path);
    }
    /* a function without a column is reported by check_rollup: the shorthand has no map */
}

static const struct section measure_section = {"measure", measure_keys,
                                               sizeof(struct ferry_measure_config), check_measure};

static const struct key rollup_keys[] = {
    {"name", KT_STRING, K_REQUIRED, OFF(struct ferry_rollup_config, name), 0, NULL, NULL, NULL, 0,
     0, "unique name; its progress is kept in MySQL's `ferry_rollups` under it"},
    {"worker", KT_STRING, K_REQUIRED, OFF(struct ferry_rollup_config, worker), 0, NULL, NULL, NULL,
     0, 0,
     "a mysql worker of `sinks.workers`: its table is the raw table read, its connection the "
     "one used"},
    {"table", KT_STRING, K_REQUIRED, OFF(struct ferry_rollup_config, table), 0, NULL, NULL, NULL, 0,
     0, "the summary table: `window_start`, the `group_by` columns, one column per measure"},
    {"time_column", KT_STRING, 0, OFF(struct ferry_rollup_config, time_column), 0, "kafka_ts", NULL,
     NULL, 0, 0,
     "the raw table's datetime column that places a row in its window: a `datetime` column of "
     "the worker, `kafka_ts` or `received_at`"},
    {"window", KT_ENUM, 0, OFF(struct ferry_rollup_config, window), 0, "minute", window_names, NULL,
     0, 0, "`minute`, `hour` or `day` (UTC)"},
    {"group_by", KT_STRLIST, 0, OFF(struct ferry_rollup_config, group_by), 0, NULL, NULL, NULL, 0,
     0, "columns of the raw table that split a window into groups (none: one row per window)"},
    {"measures", KT_NAMED, K_REQUIRED, OFF(struct ferry_rollup_config, measures),
     OFF(struct ferry_rollup_config, nmeasures), NULL, NULL, &measure_section, 0, 0,
     "the summary's values, `column: fn` or `column: {fn, column}`, e.g. "
     "`{views: count, users: {fn: count_distinct, column: user_id}}`"},
    {"interval_ms", KT_INT, 0, OFF(struct ferry_rollup_config, interval_ms), 0, "10000", NULL, NULL,
     100, 86400000, "how often the leader looks for windows that closed"},
    {"lateness_ms", KT_INT, 0, OFF(struct ferry_rollup_config, lateness_ms), 0, "60000", NULL, NULL,
     0, 86400000,
     "a window is closed, and summed up, this long after its end (by the leader's clock); rows "
     "that arrive later for a closed window are not counted"},
    {"create_table", KT_BOOL, 0, OFF(struct ferry_rollup_config, create_table), 0, "true", NULL,
     NULL, 0, 0, "create the summary table if absent"},
    {0},
};

/* Names of one rollup: identifiers, none of ferry's own tables or window_start, distinct. */
static void check_rollup(struct ctx *c, void *obj, const struct ferry_node *map, const char *path)
{
    struct ferry_rollup_config *r = obj;
    static const char *const reserved[] = {"ferry_offsets", "ferry_rollups", "ferry_fence", NULL};
    int line, col;

    for (size_t i = 0; r->name && c->cfg->rollups + i != r; i++) {
        if (c->cfg->rollups[i].name && !strcmp(c->cfg->rollups[i].name, r->name)) {
            schema_pos_of(map, "name", &line, &col);
            ferry_diags_add(c->d, line, col, "%s.name: duplicate rollup name '%s'", path, r->name);
        }
    }
    if (r->table && !schema_valid_identifier(r->table)) {
        schema_pos_of(map, "table", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.table: invalid identifier '%s'", path, r->table);
    }
    for (int i = 0; r->table && reserved[i]; i++) {
        if (!strcasecmp(r->table, reserved[i])) {
            schema_pos_of(map, "table", &line, &col);
            ferry_diags_add(c->d, line, col, "%s.table: '%s' is one of ferry's own tables", path,
                            r->table);
        }
    }
    if (r->time_column && !schema_valid_identifier(r->time_column)) {
        schema_pos_of(map, "time_column", &line, &col);
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
        bool ok = schema_valid_identifier(names[i]);
        schema_pos_of(map, where, &line, &col);
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
            schema_pos_of(ms, m->name, &line, &col);
            ferry_diags_add(c->d, line, col, "%s.measures.%s: %s needs 'column'", path, m->name,
                            measure_names[m->fn]);
        }
        if (r->measures[i].column && !schema_valid_identifier(r->measures[i].column)) {
            schema_pos_of(map, "measures", &line, &col);
            ferry_diags_add(c->d, line, col, "%s.measures.%s.column: invalid identifier '%s'", path,
                            r->measures[i].name, r->measures[i].column);
        }
    }
    if (map && r->nmeasures == 0 && ferry_node_get(map, "measures")) {
        schema_pos_of(map, "measures", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.measures: needs at least one measure", path);
    }
}

const struct section ferry_rollup_section = {"rollups[]", rollup_keys,
                                             sizeof(struct ferry_rollup_config), check_rollup};

/* The column `name` of worker w: one of its own (*type set), or one of ferry's (kafka_topic,
 * kafka_partition, kafka_offset: *type -1 for text, -2 for numbers; kafka_ts, received_at:
 * datetime). 0 when the table has no such column. */
static int worker_column(const struct ferry_worker_config *w, const char *name, int *type)
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

void schema_check_rollups(struct ctx *c, const struct ferry_node *root)
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
        schema_pos_of(map, "worker", &line, &col);
        if (!r->source || r->source->type != FERRY_SINK_MYSQL) {
            ferry_diags_add(c->d, line, col,
                            "%s.worker: '%s' is not a mysql worker of sinks.workers", path,
                            r->worker);
            r->source = NULL;
            continue;
        }
        const struct ferry_worker_config *w = r->source;
        if (r->table && w->table && !strcasecmp(r->table, w->table)) {
            schema_pos_of(map, "table", &line, &col);
            ferry_diags_add(c->d, line, col, "%s.table: '%s' is the worker's own table", path,
                            r->table);
        }
        if (r->time_column &&
            (!worker_column(w, r->time_column, &type) || type != FERRY_COLUMN_DATETIME)) {
            schema_pos_of(map, "time_column", &line, &col);
            ferry_diags_add(
                c->d, line, col,
                "%s.time_column: '%s' is not a datetime column of the table of worker '%s'", path,
                r->time_column, w->name);
        }
        for (size_t g = 0; r->group_by.v && g < r->group_by.n; g++) {
            if (!worker_column(w, r->group_by.v[g], &type) || type == FERRY_COLUMN_JSON) {
                schema_pos_of(map, "group_by", &line, &col);
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
            if (!worker_column(w, me->column, &type) || type == FERRY_COLUMN_JSON ||
                (numeric_fn && type != FERRY_COLUMN_INT && type != FERRY_COLUMN_FLOAT &&
                 type != FERRY_COLUMN_BOOL)) {
                schema_pos_of(map, "measures", &line, &col);
                ferry_diags_add(c->d, line, col,
                                "%s.measures.%s: '%s' is not a column of the table of "
                                "worker '%s' that %s applies to",
                                path, me->name, me->column, w->name, measure_names[me->fn]);
            }
        }
    }
}

/* ---- http -------------------------------------------------------------------------------- */

static void check_http(struct ctx *c, void *obj, const struct ferry_node *map, const char *path)
{
    const struct ferry_config *cfg = obj;
    int line, col;
    if (!cfg->http_listen)
        return;
    const char *colon = strrchr(cfg->http_listen, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || colon == cfg->http_listen || !end || *end || port < 0 || port > 65535) {
        schema_pos_of(map, "listen", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.listen: '%s' is not host:port", path,
                        cfg->http_listen);
    }
}

static const struct key http_keys[] = {
    {"listen", KT_STRING, 0, OFF(struct ferry_config, http_listen), 0, NULL, NULL, NULL, 0, 0,
     "`host:port` of the HTTP endpoint: `/healthz`, `/status` (JSON) and `/metrics` "
     "(Prometheus text); port 0 picks a free one (the member entry says which); absent: no "
     "endpoint"},
    {0},
};
const struct section ferry_http_section = {"http", http_keys, 0, check_http};
