/* ferry: the mysql sink's configuration — its keys (the connection, the table, the columns,
 * insert or upsert) and their checks, which the schema engine runs for a worker of type
 * mysql (see include/ferry/schema.h). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ferry/schema.h"
#include "mysql.h"

static const char *const mysql_mode_names[] = {"insert", "upsert", NULL};
static const char *const time_format_names[] = {"auto",    "iso8601",  "clf",
                                                "epoch_s", "epoch_ms", NULL};

/* TLS: a client certificate comes with its key; verification defaults to on with a CA, and
 * needs one. */
static void check_conn(struct ferry_schema_ctx *c, void *obj, const struct ferry_node *map,
                       const char *path)
{
    struct ferry_mysql_conn_config *m = obj;
    int line, col;
    if (!map)
        return;
    if ((m->ssl_cert != NULL) != (m->ssl_key != NULL)) {
        const char *given = m->ssl_cert ? "ssl_cert" : "ssl_key";
        ferry_schema_pos_of(map, given, &line, &col);
        ferry_diags_add(c->d, line, col, "%s.%s: needs '%s' too", path, given,
                        m->ssl_cert ? "ssl_key" : "ssl_cert");
    }
    if (!ferry_node_get(map, "ssl_verify_server_cert")) {
        m->ssl_verify_server_cert = m->ssl_ca != NULL;
    } else if (m->ssl_verify_server_cert && !m->ssl_ca) {
        ferry_schema_pos_of(map, "ssl_verify_server_cert", &line, &col);
        ferry_diags_add(c->d, line, col,
                        "%s.ssl_verify_server_cert: needs 'ssl_ca', the CA that signed the "
                        "server's certificate",
                        path);
    }
}

#define CONN struct ferry_mysql_conn_config
static const struct ferry_key conn_keys[] = {
    {FERRY_KEY_STRING("host", CONN, host, "127.0.0.1", "server host")},
    {FERRY_KEY_INT("port", CONN, port, "3306", 1, 65535, "server port")},
    {FERRY_KEY_STRING("socket", CONN, socket, NULL,
                      "unix socket path; used instead of host and port when set")},
    {FERRY_KEY_STRING("user", CONN, user, NULL, "user name"), .flags = FERRY_KEY_REQUIRED},
    {FERRY_KEY_STRING("password", CONN, password, NULL, "password (prefer `password_env`)")},
    {FERRY_KEY_STRING("password_env", CONN, password_env, NULL,
                      "name of the environment variable that holds the password")},
    {FERRY_KEY_STRING("database", CONN, database, NULL, "database (schema) of the table"),
     .flags = FERRY_KEY_REQUIRED},
    {FERRY_KEY_STRING("ssl_ca", CONN, ssl_ca, NULL,
                      "path of the CA certificate(s), PEM, that signed the server's certificate; "
                      "with it, or with `ssl_cert` and `ssl_key`, the connection uses TLS")},
    {FERRY_KEY_STRING("ssl_cert", CONN, ssl_cert, NULL,
                      "path of the client certificate, PEM, for servers that require one; with "
                      "`ssl_key`")},
    {FERRY_KEY_STRING("ssl_key", CONN, ssl_key, NULL,
                      "path of the client certificate's private key, PEM; with `ssl_cert`")},
    {FERRY_KEY_BOOL("ssl_verify_server_cert", CONN, ssl_verify_server_cert, NULL,
                    "check the server's certificate against `ssl_ca` and its name against "
                    "`host`; the default is `true` when `ssl_ca` is given, else `false` (`true` "
                    "needs `ssl_ca`)")},
    {0},
};
#undef CONN
static const struct ferry_section conn_section = {.keys = conn_keys, .check = check_conn};

/* One column: `field` defaults to the column's name, `format` and `length` fit its type, and
 * a default converts. map is NULL for the shorthand `column: field`. */
static void check_column(struct ferry_schema_ctx *c, void *obj, const struct ferry_node *map,
                         const char *path)
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
                        strcmp(tn->scalar, ferry_column_type_name(col->type)) != 0)))
        return;
    if (col->type != FERRY_COLUMN_DATETIME && ferry_node_get(map, "format")) {
        ferry_schema_pos_of(map, "format", &line, &pos);
        ferry_diags_add(c->d, line, pos, "%s.format: applies only to type datetime", path);
    }
    if (col->type != FERRY_COLUMN_STRING && ferry_node_get(map, "length")) {
        ferry_schema_pos_of(map, "length", &line, &pos);
        ferry_diags_add(c->d, line, pos, "%s.length: applies only to type string", path);
    }
    if (col->def && ferry_value_parse(col->type, ferry_column_time_format(col), col->def,
                                      strlen(col->def), &v, why, sizeof(why)) < 0) {
        ferry_schema_pos_of(map, "default", &line, &pos);
        ferry_diags_add(c->d, line, pos, "%s.default: %s", path, why);
    }
}

#define COLUMN struct ferry_column_config
static const struct ferry_key column_keys[] = {
    {FERRY_KEY_STRING("field", COLUMN, field, NULL,
                      "the field the value comes from (default: the column's name): a field of "
                      "the `format`, or metadata: `topic`, `partition`, `offset`, "
                      "`kafka_timestamp` (ms), `ts`, `header.NAME` (a Kafka header's value), "
                      "`raw`, …")},
    {FERRY_KEY_ENUM("type", COLUMN, type, "string", ferry_column_type_names,
                    "`string` (TEXT), `int` (BIGINT), `float` (DOUBLE), `bool` (TINYINT(1); "
                    "true/false, yes/no, 1/0), `datetime` (DATETIME(3), UTC) or `json` (JSON); "
                    "an event whose value does not convert goes to the dead-letter topic, with "
                    "the column and the reason")},
    {FERRY_KEY_ENUM("format", COLUMN, time_format, "auto", time_format_names,
                    "datetime columns: `iso8601` (`2026-11-25T18:31:41.5+01:00`; no zone: UTC), "
                    "`clf` (access-log time `25/Nov/2026:18:31:41 +0100`), `epoch_s` (seconds, "
                    "fraction allowed), `epoch_ms`, or `auto`: ISO 8601 or access-log time by "
                    "their shape (milliseconds for `kafka_timestamp`, and for `ts` when it is "
                    "all digits)")},
    {FERRY_KEY_STRING("default", COLUMN, def, NULL,
                      "the value when the field is missing, written as the field would be; it "
                      "must convert")},
    {FERRY_KEY_BOOL("null", COLUMN, null, "true",
                    "a missing field without `default` is NULL; `false`: the event goes to the "
                    "dead-letter topic instead (NOT NULL when ferry creates the table; always so "
                    "for upsert key columns)")},
    {FERRY_KEY_INT("length", COLUMN, length, NULL, 1, 16383,
                   "string columns: VARCHAR(length) instead of TEXT when ferry creates the table "
                   "(a key column without it is VARCHAR(255))")},
    {0},
};
#undef COLUMN
static const struct ferry_section column_section = {
    .keys = column_keys, .size = sizeof(struct ferry_column_config), .check = check_column};

/* mode and key: an upsert names its key columns, each one of `columns`, once; they are never
 * NULL. */
static void check_upsert(struct ferry_schema_ctx *c, struct ferry_mysql_config *w,
                         const struct ferry_node *map, const char *path)
{
    const struct ferry_node *kn = ferry_node_get(map, "key");
    int line, col;
    if (w->mode != FERRY_MYSQL_UPSERT) {
        if (kn) {
            ferry_schema_pos_of(map, "key", &line, &col);
            ferry_diags_add(c->d, line, col, "%s.key: applies only with mode: upsert", path);
        }
        return;
    }
    if (!w->key.v || w->key.n == 0) {
        ferry_schema_pos_of(map, kn ? "key" : "mode", &line, &col);
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
static void check_columns(struct ferry_schema_ctx *c, const struct ferry_mysql_config *w,
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
        if (!ferry_schema_valid_identifier(name))
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

static void check_mysql(struct ferry_schema_ctx *c, void *obj, const struct ferry_node *map,
                        const char *path)
{
    struct ferry_mysql_config *w = obj;
    int line, col;
    char p[256];

    ferry_schema_join(p, sizeof(p), path, "mysql");
    ferry_schema_resolve_password(c, &w->conn.password, w->conn.password_env,
                                  ferry_node_get(map, "mysql"), p);
    if (w->table && !ferry_schema_valid_identifier(w->table)) {
        ferry_schema_pos_of(map, "table", &line, &col);
        ferry_diags_add(c->d, line, col,
                        "%s.table: invalid identifier '%s' (letters, digits, '_' and '$', at "
                        "most 64)",
                        path, w->table);
    }
    check_columns(c, w, ferry_node_get(map, "columns"), path);
    check_upsert(c, w, map, path);
}

#define MY struct ferry_mysql_config
static const struct ferry_key mysql_keys[] = {
    {FERRY_KEY_SECTION("mysql", MY, conn, &conn_section, "the connection"),
     .flags = FERRY_KEY_REQUIRED},
    {FERRY_KEY_STRING("table", MY, table, NULL, "the table rows go to"),
     .flags = FERRY_KEY_REQUIRED},
    {FERRY_KEY_BOOL("create_table", MY, create_table, "true",
                    "create the table (and `ferry_offsets`) if absent")},
    {FERRY_KEY_NAMED("columns", MY, columns, ncolumns, &column_section,
                     "the table's own columns besides ferry's, each `column: field` (a string "
                     "column) or `column: {field, type, format, default, null, length}`")},
    {FERRY_KEY_ENUM("mode", MY, mode, "insert", mysql_mode_names,
                    "`insert` (a row per event, primary key topic, partition, offset) or "
                    "`upsert` (a row per `key`: INSERT … ON DUPLICATE KEY UPDATE of the other "
                    "columns)")},
    {FERRY_KEY_STRLIST("key", MY, key,
                       "`mode: upsert`: the columns of the table's unique key (names from "
                       "`columns`); `create_table` makes them the primary key")},
    {FERRY_KEY_BOOL("raw", MY, store_raw, "true",
                    "store the event as it was read in column `raw`; `false` leaves that column "
                    "out (of the table ferry creates, and of every row)")},
    {0},
};
#undef MY

const struct ferry_section ferry_mysql_section = {
    .keys = mysql_keys,
    .size = sizeof(struct ferry_mysql_config),
    .check = check_mysql,
    .doc = "Writes rows to a MySQL table, and the offsets to `ferry_offsets`, in one transaction "
           "per batch",
};

const struct ferry_mysql_config *ferry_mysql_worker(const struct ferry_worker_config *w)
{
    return w->type && ferry_sink_lookup(w->type) == &ferry_sink_mysql ? ferry_worker_plugin(w)
                                                                      : NULL;
}
