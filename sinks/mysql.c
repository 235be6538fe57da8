/* ferry: the MySQL sink — rows and offsets in one transaction.
 *
 * Each batch is written in a single transaction that also reads (FOR UPDATE) and advances
 * ferry_offsets(consumer_group, topic, kafka_partition) -> next_offset. Events below the
 * stored offset are skipped before any row is built, so a replay after a crash, a rebalance
 * or a zombie writer never writes a row twice, and the worker seeks to these offsets on
 * every assignment. How the rows themselves go in (LOAD DATA, multi-row INSERT, one by one)
 * is sinks/mysql_rows.c's business; this file holds the connection, the tables, the offsets
 * and the transaction. Identifiers were validated at load and are quoted; every value is
 * bound or escaped. The connection and its statements belong to the worker's thread. */
#include <errmsg.h>
#include <inttypes.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ferry/err.h"
#include "ferry/log.h"
#include "mysql.h"

/* ---- errors ----------------------------------------------------------------------------- */

int ferry_mysql_row_error(unsigned int e)
{
    return e == ER_TRUNCATED_WRONG_VALUE_FOR_FIELD || e == ER_DATA_TOO_LONG ||
           e == ER_WARN_DATA_OUT_OF_RANGE || e == WARN_DATA_TRUNCATED ||
           e == ER_TRUNCATED_WRONG_VALUE || e == ER_BAD_NULL_ERROR || e == ER_NO_REFERENCED_ROW_2 ||
           e == ER_CONSTRAINT_FAILED || e == ER_WARN_NULL_TO_NOTNULL;
}

static void disconnect(struct ferry_sink *s)
{
    MYSQL_STMT **st[] = {&s->insert1,  &s->insert_n, &s->get_off,
                         &s->peek_off, &s->put_off,  &s->add_off};
    for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
        if (*st[i])
            mysql_stmt_close(*st[i]);
        *st[i] = NULL;
    }
    if (s->db)
        mysql_close(s->db);
    s->db = NULL;
}

int ferry_mysql_error(struct ferry_sink *s, MYSQL_STMT *st, const char *what, char *err,
                      size_t errlen)
{
    int code = ferry_mysql_db_error(s->db, st, s->cfg->name, what, err, errlen);
    if (code == FERRY_ERR_RETRY)
        disconnect(s); /* reconnect on the next call */
    return code;
}

/* COMMIT. On failure the transaction is rolled back where the connection is still open (a
 * refused COMMIT must not leave it, and its snapshot, to the next call), or the connection is
 * closed (the outcome unknown: the next write reads the offsets again). */
static int commit(struct ferry_sink *s, char *err, size_t errlen)
{
    if (!mysql_commit(s->db))
        return 0;
    int rc = ferry_mysql_error(s, NULL, "commit", err, errlen);
    if (s->db)
        mysql_rollback(s->db);
    return rc;
}

int ferry_mysql_exec(struct ferry_sink *s, const char *sql, char *err, size_t errlen)
{
    if (mysql_real_query(s->db, sql, strlen(sql)))
        return ferry_mysql_error(s, NULL, sql, err, errlen);
    return 0;
}

static MYSQL_STMT *prepare(struct ferry_sink *s, const char *sql, char *err, size_t errlen)
{
    MYSQL_STMT *st = mysql_stmt_init(s->db);
    if (!st) {
        ferry_mysql_error(s, NULL, "stmt_init", err, errlen);
        return NULL;
    }
    if (mysql_stmt_prepare(st, sql, strlen(sql))) {
        char what[240];
        snprintf(what, sizeof(what), "prepare %.200s", sql);
        ferry_mysql_error(s, st, what, err, errlen); /* closes the connection when retryable */
        mysql_stmt_close(st);
        return NULL;
    }
    return st;
}

/* ---- SQL text --------------------------------------------------------------------------- */

static void add(struct ferry_buf *b, const char *s)
{
    ferry_buf_add(b, s, strlen(s));
}

static void add_quoted(struct ferry_buf *b, const char *id)
{
    add(b, "`");
    add(b, id);
    add(b, "`");
}

static int is_key(const struct ferry_mysql_config *w, const char *column)
{
    for (size_t i = 0; w->mode == FERRY_MYSQL_UPSERT && i < w->key.n; i++)
        if (!strcasecmp(w->key.v[i], column))
            return 1;
    return 0;
}

/* The column list, the upsert clause and the LOAD DATA statement: fixed by the configuration,
 * built once. */
static int build_sql(struct ferry_sink *s, char *err, size_t errlen)
{
    const struct ferry_mysql_config *w = s->my;
    struct ferry_buf cols = {0}, upd = {0}, load = {0};

    add(&cols, "kafka_topic, kafka_partition, kafka_offset, kafka_ts");
    if (w->store_raw)
        add(&cols, ", raw");
    for (size_t i = 0; i < w->ncolumns; i++) {
        add(&cols, ", ");
        add_quoted(&cols, w->columns[i].name);
    }
    add(&upd, "");
    if (w->mode == FERRY_MYSQL_UPSERT) {
        add(&upd, " ON DUPLICATE KEY UPDATE kafka_topic = VALUES(kafka_topic), kafka_partition ="
                  " VALUES(kafka_partition), kafka_offset = VALUES(kafka_offset), kafka_ts ="
                  " VALUES(kafka_ts)");
        if (w->store_raw)
            add(&upd, ", raw = VALUES(raw)");
        for (size_t i = 0; i < w->ncolumns; i++) {
            if (is_key(w, w->columns[i].name))
                continue;
            add(&upd, ", ");
            add_quoted(&upd, w->columns[i].name);
            add(&upd, " = VALUES(");
            add_quoted(&upd, w->columns[i].name);
            add(&upd, ")");
        }
    }
    add(&load, "LOAD DATA LOCAL INFILE 'ferry-batch' INTO TABLE ");
    add_quoted(&load, w->table);
    add(&load, " CHARACTER SET utf8mb4 " FERRY_MYSQL_LOAD_FORMAT " (");
    ferry_buf_add(&load, cols.p, cols.len);
    add(&load, ")");
    if (!cols.p || !upd.p || !load.p) {
        ferry_buf_release(&cols);
        ferry_buf_release(&upd);
        ferry_buf_release(&load);
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "mysql: out of memory");
    }
    s->columns_sql = cols.p;
    s->update_sql = upd.p;
    s->load_sql = load.p;
    return 0;
}

MYSQL_STMT *ferry_mysql_prepare_insert(struct ferry_sink *s, size_t nrows, char *err, size_t errlen)
{
    struct ferry_buf sql = {0};
    size_t nc = s->rows.ncols;

    add(&sql, "INSERT INTO ");
    add_quoted(&sql, s->my->table);
    add(&sql, " (");
    add(&sql, s->columns_sql);
    add(&sql, ") VALUES ");
    for (size_t r = 0; r < nrows; r++) {
        add(&sql, r ? ", (?" : "(?");
        for (size_t c = 1; c < nc; c++)
            add(&sql, ", ?");
        add(&sql, ")");
    }
    add(&sql, s->update_sql);
    if (!sql.p) {
        ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "mysql: out of memory");
        return NULL;
    }
    MYSQL_STMT *st = prepare(s, sql.p, err, errlen);
    ferry_buf_release(&sql);
    return st;
}

/* The SQL type of a configured column, for CREATE TABLE. */
static void column_ddl(struct ferry_buf *b, const struct ferry_column_config *c, int key)
{
    static const char *const types[] = {
        [FERRY_COLUMN_INT] = "BIGINT",      [FERRY_COLUMN_FLOAT] = "DOUBLE",
        [FERRY_COLUMN_BOOL] = "TINYINT(1)", [FERRY_COLUMN_DATETIME] = "DATETIME(3)",
        [FERRY_COLUMN_JSON] = "JSON",       [FERRY_COLUMN_STRING] = "TEXT",
    };
    char t[32];
    add(b, ", ");
    add_quoted(b, c->name);
    if (c->type == FERRY_COLUMN_STRING && (c->length || key)) {
        snprintf(t, sizeof(t), " VARCHAR(%ld)", c->length ? c->length : 255);
        add(b, t);
    } else {
        add(b, " ");
        add(b, types[c->type]);
    }
    add(b, c->null ? " NULL" : " NOT NULL");
}

static int create_tables(struct ferry_sink *s, char *err, size_t errlen)
{
    const struct ferry_mysql_config *w = s->my;
    struct ferry_buf sql = {0};
    int rc;

    rc = ferry_mysql_exec(s,
                          "CREATE TABLE IF NOT EXISTS ferry_offsets ("
                          " consumer_group VARCHAR(255) NOT NULL,"
                          " topic VARCHAR(249) NOT NULL,"
                          " kafka_partition INT NOT NULL,"
                          " next_offset BIGINT NOT NULL,"
                          " updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)"
                          "  ON UPDATE CURRENT_TIMESTAMP(3),"
                          " PRIMARY KEY (consumer_group, topic, kafka_partition)"
                          ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
                          err, errlen);
    if (rc < 0 || !w->create_table)
        return rc;
    add(&sql, "CREATE TABLE IF NOT EXISTS ");
    add_quoted(&sql, w->table);
    add(&sql, " (kafka_topic VARCHAR(249) NOT NULL, kafka_partition INT NOT NULL,"
              " kafka_offset BIGINT NOT NULL, kafka_ts DATETIME(3) NULL,"
              " received_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)");
    if (w->store_raw)
        add(&sql, ", raw MEDIUMTEXT NOT NULL");
    for (size_t i = 0; i < w->ncolumns; i++)
        column_ddl(&sql, &w->columns[i], is_key(w, w->columns[i].name));
    if (w->mode == FERRY_MYSQL_UPSERT) {
        add(&sql, ", PRIMARY KEY (");
        for (size_t i = 0; i < w->key.n; i++) {
            add(&sql, i ? ", " : "");
            add_quoted(&sql, w->key.v[i]);
        }
        add(&sql, ")");
    } else {
        add(&sql, ", PRIMARY KEY (kafka_topic, kafka_partition, kafka_offset)");
    }
    add(&sql, ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
    rc = sql.p ? ferry_mysql_exec(s, sql.p, err, errlen)
               : ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "mysql: out of memory");
    ferry_buf_release(&sql);
    return rc;
}

/* ---- connection ------------------------------------------------------------------------- */

/* A failed prepare closed the connection when it was worth trying again. */
static int prepare_all(struct ferry_sink *s, char *err, size_t errlen)
{
    s->insert1 = ferry_mysql_prepare_insert(s, 1, err, errlen);
    s->insert_n = s->insert1 ? ferry_mysql_prepare_insert(s, s->chunk, err, errlen) : NULL;
    if (!s->insert_n)
        return s->db ? FERRY_ERR_FATAL : FERRY_ERR_RETRY;
    s->get_off = prepare(s,
                         "SELECT next_offset FROM ferry_offsets WHERE consumer_group = ?"
                         " AND topic = ? AND kafka_partition = ? FOR UPDATE",
                         err, errlen);
    s->peek_off = s->get_off ? prepare(s,
                                       "SELECT next_offset FROM ferry_offsets WHERE"
                                       " consumer_group = ? AND topic = ? AND kafka_partition = ?",
                                       err, errlen)
                             : NULL;
    s->put_off = s->peek_off ? prepare(s,
                                       "INSERT INTO ferry_offsets (consumer_group, topic,"
                                       " kafka_partition, next_offset) VALUES (?, ?, ?, ?)"
                                       " ON DUPLICATE KEY UPDATE next_offset = VALUES(next_offset)",
                                       err, errlen)
                             : NULL;
    s->add_off = s->put_off ? prepare(s,
                                      "INSERT IGNORE INTO ferry_offsets (consumer_group, topic,"
                                      " kafka_partition, next_offset) VALUES (?, ?, ?, -1)",
                                      err, errlen)
                            : NULL;
    return s->add_off ? 0 : s->db ? FERRY_ERR_FATAL : FERRY_ERR_RETRY;
}

static int connect_db(struct ferry_sink *s, char *err, size_t errlen)
{
    /* LOCAL INFILE: the only file ever sent is the batch in memory (see sinks/mysql_rows.c) */
    int rc = ferry_mysql_connect(&s->my->conn, s->cfg->name, FERRY_MYSQL_LOCAL_INFILE, &s->db, err,
                                 errlen);
    /* a server that refuses the worker is tried again like one that is down, as it always was:
     * the worker waits while credentials or grants are being fixed */
    if (rc == FERRY_ERR_FATAL)
        rc = FERRY_ERR_RETRY;
    if (rc < 0 || (rc = create_tables(s, err, errlen)) < 0 ||
        (rc = prepare_all(s, err, errlen)) < 0 ||
        (rc = ferry_mysql_exec(s, "COMMIT", err, errlen)) < 0) {
        disconnect(s);
        return rc;
    }
    return 0;
}

static void destroy(struct ferry_sink *s)
{
    disconnect(s);
    ferry_mysql_rows_release(s);
    ferry_mapping_destroy(s->mapping);
    ferry_parser_destroy(s->parser);
    ferry_fields_release(&s->fields);
    free(s->columns_sql);
    free(s->update_sql);
    free(s->load_sql);
    free(s->todo);
    free(s);
}

static int mysql_open(struct ferry_sink **out, const struct ferry_worker_config *cfg,
                      const char *group, char *err, size_t errlen)
{
    struct ferry_sink *s = calloc(1, sizeof(*s));
    int rc;

    if (!s)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "mysql: out of memory");
    s->cfg = cfg;
    s->my = ferry_worker_plugin(cfg);
    s->group = group;
    s->load_data = s->my->mode == FERRY_MYSQL_INSERT;
    s->rows.ncols = 4 + (s->my->store_raw ? 1 : 0) + s->my->ncolumns;
    s->chunk = FERRY_MYSQL_CHUNK_ROWS;
    if (s->chunk * s->rows.ncols > 65535)
        s->chunk = 65535 / s->rows.ncols;
    if (ferry_parser_new(&s->parser, cfg->format, cfg->pattern, err, errlen) < 0 ||
        ferry_mapping_new(&s->mapping, s->my->columns, s->my->ncolumns, err, errlen) < 0 ||
        build_sql(s, err, errlen) < 0 || ferry_mysql_rows_init(s, err, errlen) < 0) {
        destroy(s);
        return FERRY_ERR_FATAL;
    }
    rc = connect_db(s, err, errlen);
    if (rc == FERRY_ERR_FATAL) {
        destroy(s);
        return rc;
    }
    /* FERRY_ERR_RETRY: keep the sink; write() and stored_offsets() connect again */
    *out = s;
    return rc;
}

static int ensure_connected(struct ferry_sink *s, char *err, size_t errlen)
{
    return s->db ? 0 : connect_db(s, err, errlen);
}

/* ---- offsets ---------------------------------------------------------------------------- */

/* The stored next offset of (topic, partition), through st: get_off locks the row for this
 * transaction, peek_off reads the last committed value without waiting for anyone's lock.
 * *out is -1 if none (no row, or the row add_offset made); *found says whether a row exists. */
static int read_offset(struct ferry_sink *s, MYSQL_STMT *st, const char *topic, int32_t part,
                       int64_t *out, bool *found, char *err, size_t errlen)
{
    MYSQL_BIND in[3], res;
    unsigned long glen = strlen(s->group), tlen = strlen(topic);
    long long next = -1;
    my_bool isnull = 0;

    ferry_mysql_bind_param(&in[0], MYSQL_TYPE_STRING, s->group, &glen);
    ferry_mysql_bind_param(&in[1], MYSQL_TYPE_STRING, topic, &tlen);
    ferry_mysql_bind_param(&in[2], MYSQL_TYPE_LONG, &part, NULL);
    ferry_mysql_bind_param(&res, MYSQL_TYPE_LONGLONG, &next, NULL);
    res.is_null = &isnull;
    if (mysql_stmt_bind_param(st, in) || mysql_stmt_execute(st) ||
        mysql_stmt_bind_result(st, &res) || mysql_stmt_store_result(st))
        return ferry_mysql_error(s, st, "read ferry_offsets", err, errlen);
    int f = mysql_stmt_fetch(st);
    mysql_stmt_free_result(st);
    *found = f == 0;
    *out = (f == 0 && !isnull) ? next : -1;
    return 0;
}

static int get_offset(struct ferry_sink *s, const char *topic, int32_t part, int64_t *out,
                      char *err, size_t errlen)
{
    bool found;
    return read_offset(s, s->get_off, topic, part, out, &found, err, errlen);
}

/* A row for (topic, partition) with next_offset -1 ("nothing written yet") unless it has one.
 * With the row there, a writer's SELECT … FOR UPDATE locks that row rather than the gap where
 * it would go: two workers writing the first batches of different partitions then do not
 * deadlock on each other's gap locks. */
static int add_offset(struct ferry_sink *s, const char *topic, int32_t part, char *err,
                      size_t errlen)
{
    MYSQL_BIND in[3];
    unsigned long glen = strlen(s->group), tlen = strlen(topic);

    ferry_mysql_bind_param(&in[0], MYSQL_TYPE_STRING, s->group, &glen);
    ferry_mysql_bind_param(&in[1], MYSQL_TYPE_STRING, topic, &tlen);
    ferry_mysql_bind_param(&in[2], MYSQL_TYPE_LONG, &part, NULL);
    if (mysql_stmt_bind_param(s->add_off, in) || mysql_stmt_execute(s->add_off))
        return ferry_mysql_error(s, s->add_off, "add to ferry_offsets", err, errlen);
    return 0;
}

static int put_offset(struct ferry_sink *s, const char *topic, int32_t part, int64_t next,
                      char *err, size_t errlen)
{
    MYSQL_BIND in[4];
    unsigned long glen = strlen(s->group), tlen = strlen(topic);
    long long v = next;

    ferry_mysql_bind_param(&in[0], MYSQL_TYPE_STRING, s->group, &glen);
    ferry_mysql_bind_param(&in[1], MYSQL_TYPE_STRING, topic, &tlen);
    ferry_mysql_bind_param(&in[2], MYSQL_TYPE_LONG, &part, NULL);
    ferry_mysql_bind_param(&in[3], MYSQL_TYPE_LONGLONG, &v, NULL);
    if (mysql_stmt_bind_param(s->put_off, in) || mysql_stmt_execute(s->put_off))
        return ferry_mysql_error(s, s->put_off, "write ferry_offsets", err, errlen);
    return 0;
}

/* ---- the transaction -------------------------------------------------------------------- */

/* The partitions of a batch, each with the offset range it covers there. */
struct part_range {
    const char *topic;
    int32_t partition;
    int64_t stored; /* next offset already in the table; -1 none */
    int64_t next;   /* next offset after this batch */
};

#define MAX_PARTS 64

static size_t find_part(const struct part_range *parts, size_t np, const rd_kafka_message_t *m)
{
    const char *t = rd_kafka_topic_name(m->rkt);
    size_t j = 0;
    while (j < np && !(parts[j].partition == m->partition && !strcmp(parts[j].topic, t)))
        j++;
    return j;
}

/* The partitions of the batch's first *n events, at most MAX_PARTS of them: *n is cut short
 * at the first event of a partition beyond those. */
static size_t collect_parts(const struct ferry_batch *batch, struct part_range *parts, size_t *n)
{
    size_t np = 0;
    for (size_t i = 0; i < *n; i++) {
        const rd_kafka_message_t *m = batch->msgs[i];
        size_t j = find_part(parts, np, m);
        if (j == np) {
            if (np == MAX_PARTS) {
                *n = i;
                break;
            }
            parts[np++] = (struct part_range){rd_kafka_topic_name(m->rkt), m->partition, -1, -1};
        }
        parts[j].next = m->offset + 1;
    }
    return np;
}

/* Reads and locks the partitions' stored offsets, then picks the events at or above them
 * (s->todo): only those become rows. */
static int pick_events(struct ferry_sink *s, const struct ferry_batch *batch,
                       struct part_range *parts, size_t np, size_t *skipped, char *err,
                       size_t errlen)
{
    int rc;
    for (size_t j = 0; j < np; j++)
        if ((rc = get_offset(s, parts[j].topic, parts[j].partition, &parts[j].stored, err,
                             errlen)) < 0)
            return rc;
    if (batch->n > s->todo_cap) {
        size_t *t = realloc(s->todo, batch->n * sizeof(*t));
        if (!t)
            return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "mysql: out of memory");
        s->todo = t;
        s->todo_cap = batch->n;
    }
    s->ntodo = 0;
    for (size_t i = 0; i < batch->n; i++) {
        const rd_kafka_message_t *m = batch->msgs[i];
        if (m->offset < parts[find_part(parts, np, m)].stored)
            ++*skipped; /* already written by an earlier transaction */
        else
            s->todo[s->ntodo++] = i;
    }
    return 0;
}

static int mysql_write(struct ferry_sink *s, const struct ferry_batch *batch, char *err,
                       size_t errlen)
{
    struct part_range parts[MAX_PARTS];
    size_t n = batch->n, skipped = 0, np;
    int rc;

    if ((rc = ensure_connected(s, err, errlen)) < 0)
        return rc;
    np = collect_parts(batch, parts, &n);
    if (n < batch->n) { /* more partitions than one transaction takes: the rest after */
        struct ferry_batch head = *batch, rest = *batch;
        head.n = n;
        rest.msgs += n;
        rest.n -= n;
        rc = mysql_write(s, &head, err, errlen);
        return rc < 0 ? rc : mysql_write(s, &rest, err, errlen);
    }
    if ((rc = pick_events(s, batch, parts, np, &skipped, err, errlen)) < 0 ||
        (rc = ferry_mysql_write_rows(s, batch, err, errlen)) < 0)
        goto rollback;
    for (size_t j = 0; j < np; j++) {
        if (parts[j].next <= parts[j].stored)
            continue;
        if ((rc = put_offset(s, parts[j].topic, parts[j].partition, parts[j].next, err, errlen)) <
            0)
            goto rollback;
    }
    if (batch->before_commit(batch->opaque) < 0) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_RETRY,
                          "mysql %s: rejected events not in the dead-letter topic: batch given "
                          "back",
                          s->cfg->name);
        goto rollback;
    }
    if ((rc = commit(s, err, errlen)) < 0)
        return rc;
    if (skipped)
        ferry_info("mysql", "%s: skipped %zu events already written", s->cfg->name, skipped);
    s->replayed += skipped;
    return 0;
rollback:
    if (s->db)
        mysql_rollback(s->db);
    return rc;
}

/* Runs in the rebalance callback: it must not wait for another writer's row lock (a zombie
 * holding its batch's transaction open would hold the assignment up for the lock wait
 * timeout). The committed value is enough: a write reads the rows again, locked, and skips
 * what a writer committed meanwhile. */
static int mysql_stored_offsets(struct ferry_sink *s, rd_kafka_topic_partition_list_t *parts,
                                char *err, size_t errlen)
{
    int rc;
    if ((rc = ensure_connected(s, err, errlen)) < 0)
        return rc;
    for (int i = 0; i < parts->cnt; i++) {
        int64_t next;
        bool found;
        if ((rc = read_offset(s, s->peek_off, parts->elems[i].topic, parts->elems[i].partition,
                              &next, &found, err, errlen)) < 0 ||
            (!found && (rc = add_offset(s, parts->elems[i].topic, parts->elems[i].partition, err,
                                        errlen)) < 0))
            goto rollback;
        if (next >= 0)
            parts->elems[i].offset = next;
    }
    return commit(s, err, errlen);
rollback:
    if (s->db)
        mysql_rollback(s->db);
    return rc;
}

static void mysql_close_sink(struct ferry_sink *s)
{
    if (!s)
        return;
    if (s->parse_errors || s->rejected || s->fallbacks)
        ferry_info("mysql",
                   "%s: %" PRIu64 " events did not parse or convert, %" PRIu64
                   " rows refused by the server (to the dead-letter topic); %" PRIu64
                   " batches written row by row",
                   s->cfg->name, s->parse_errors, s->rejected, s->fallbacks);
    destroy(s);
}

static void mysql_counters(const struct ferry_sink *s, struct ferry_sink_counters *out)
{
    *out = (struct ferry_sink_counters){.replayed = s->replayed, .refused = s->rejected};
}

const struct ferry_sink_ops ferry_sink_mysql = {
    .type = "mysql",
    .config = &ferry_mysql_section,
    .open = mysql_open,
    .stored_offsets = mysql_stored_offsets,
    .write = mysql_write,
    .counters = mysql_counters,
    .close = mysql_close_sink,
};
