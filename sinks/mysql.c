/* ferry: the MySQL sink — rows and offsets in one transaction.
 *
 * Each batch is written in a single transaction that also reads (FOR UPDATE) and advances
 * ferry_offsets(consumer_group, topic, kafka_partition) -> next_offset. Events below the
 * stored offset are skipped, so a replay after a crash, a rebalance or a zombie writer
 * never writes a row twice, and the worker seeks to these offsets on every assignment.
 * Every value is bound through a prepared statement; identifiers were validated at load
 * and are quoted. The connection and its statements belong to the worker's thread. */
#include <errmsg.h>
#include <inttypes.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/err.h"
#include "ferry/fields.h"
#include "ferry/log.h"
#include "ferry/sink.h"

struct ferry_sink {
    const struct ferry_worker_config *cfg;
    const char *group;
    MYSQL *db;
    MYSQL_STMT *insert, *get_off, *put_off;
    struct ferry_parser *parser;
    struct ferry_fields fields;
    uint64_t parse_errors;
};

static void disconnect(struct ferry_sink *s)
{
    if (s->insert)
        mysql_stmt_close(s->insert);
    if (s->get_off)
        mysql_stmt_close(s->get_off);
    if (s->put_off)
        mysql_stmt_close(s->put_off);
    if (s->db)
        mysql_close(s->db);
    s->insert = s->get_off = s->put_off = NULL;
    s->db = NULL;
}

/* Connection lost, server gone, lock wait or deadlock: worth trying again. */
static int retryable(unsigned int e)
{
    return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST || e == CR_CONNECTION_ERROR ||
           e == CR_CONN_HOST_ERROR || e == CR_SERVER_LOST_EXTENDED || e == ER_LOCK_DEADLOCK ||
           e == ER_LOCK_WAIT_TIMEOUT || e == ER_SERVER_SHUTDOWN || e == CR_COMMANDS_OUT_OF_SYNC ||
           e == ER_CON_COUNT_ERROR;
}

static int db_error(struct ferry_sink *s, const char *what, char *err, size_t errlen)
{
    unsigned int e = mysql_errno(s->db);
    int code = retryable(e) ? FERRY_ERR_RETRY : FERRY_ERR_FATAL;
    ferry_seterr(err, errlen, code, "mysql %s: %s: %s", s->cfg->name, what, mysql_error(s->db));
    if (code == FERRY_ERR_RETRY)
        disconnect(s); /* reconnect on the next call */
    return code;
}

static int stmt_error(struct ferry_sink *s, MYSQL_STMT *st, const char *what, char *err,
                      size_t errlen)
{
    unsigned int e = mysql_stmt_errno(st);
    int code = retryable(e) ? FERRY_ERR_RETRY : FERRY_ERR_FATAL;
    ferry_seterr(err, errlen, code, "mysql %s: %s: %s", s->cfg->name, what, mysql_stmt_error(st));
    if (code == FERRY_ERR_RETRY)
        disconnect(s);
    return code;
}

static int exec(struct ferry_sink *s, const char *sql, char *err, size_t errlen)
{
    if (mysql_real_query(s->db, sql, strlen(sql)))
        return db_error(s, sql, err, errlen);
    return 0;
}

static MYSQL_STMT *prepare(struct ferry_sink *s, const char *sql, char *err, size_t errlen)
{
    MYSQL_STMT *st = mysql_stmt_init(s->db);
    if (!st) {
        db_error(s, "stmt_init", err, errlen);
        return NULL;
    }
    if (mysql_stmt_prepare(st, sql, strlen(sql))) {
        ferry_seterr(err, errlen, FERRY_ERR_FATAL, "mysql %s: prepare %s: %s", s->cfg->name, sql,
                     mysql_stmt_error(st));
        mysql_stmt_close(st);
        return NULL;
    }
    return st;
}

static void buf_str(struct ferry_buf *b, const char *s)
{
    ferry_buf_add(b, s, strlen(s));
}

static int create_tables(struct ferry_sink *s, char *err, size_t errlen)
{
    struct ferry_buf sql = {0};
    int rc;

    rc = exec(s,
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
    if (rc < 0 || !s->cfg->create_table)
        return rc;
    buf_str(&sql, "CREATE TABLE IF NOT EXISTS `");
    buf_str(&sql, s->cfg->table);
    const char *fixed = "` ("
                        " kafka_topic VARCHAR(249) NOT NULL,"
                        " kafka_partition INT NOT NULL,"
                        " kafka_offset BIGINT NOT NULL,"
                        " kafka_ts DATETIME(3) NULL,"
                        " received_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),"
                        " raw MEDIUMTEXT NOT NULL,";
    buf_str(&sql, fixed);
    for (size_t i = 0; i < s->cfg->columns.n; i++) {
        const char *c = s->cfg->columns.v[i].key;
        buf_str(&sql, " `");
        buf_str(&sql, c);
        buf_str(&sql, "` TEXT NULL,");
    }
    const char *tail = " PRIMARY KEY (kafka_topic, kafka_partition, kafka_offset)"
                       ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
    buf_str(&sql, tail);
    rc = exec(s, sql.p, err, errlen);
    ferry_buf_release(&sql);
    return rc;
}

static int prepare_all(struct ferry_sink *s, char *err, size_t errlen)
{
    struct ferry_buf sql = {0};
    char head[128];

    snprintf(head, sizeof(head),
             "INSERT INTO `%s` (kafka_topic, kafka_partition, kafka_offset,"
             " kafka_ts, raw",
             s->cfg->table);
    buf_str(&sql, head);
    for (size_t i = 0; i < s->cfg->columns.n; i++) {
        const char *c = s->cfg->columns.v[i].key;
        buf_str(&sql, ", `");
        buf_str(&sql, c);
        buf_str(&sql, "`");
    }
    buf_str(&sql, ") VALUES (?, ?, ?, ?, ?");
    for (size_t i = 0; i < s->cfg->columns.n; i++)
        buf_str(&sql, ", ?");
    buf_str(&sql, ")");
    s->insert = prepare(s, sql.p, err, errlen);
    ferry_buf_release(&sql);
    if (!s->insert)
        return FERRY_ERR_FATAL;
    s->get_off = prepare(s,
                         "SELECT next_offset FROM ferry_offsets WHERE consumer_group = ?"
                         " AND topic = ? AND kafka_partition = ? FOR UPDATE",
                         err, errlen);
    s->put_off = s->get_off ? prepare(s,
                                      "INSERT INTO ferry_offsets (consumer_group, topic,"
                                      " kafka_partition, next_offset) VALUES (?, ?, ?, ?)"
                                      " ON DUPLICATE KEY UPDATE next_offset = VALUES(next_offset)",
                                      err, errlen)
                            : NULL;
    return s->put_off ? 0 : FERRY_ERR_FATAL;
}

static int connect_db(struct ferry_sink *s, char *err, size_t errlen)
{
    const struct ferry_mysql_config *m = &s->cfg->mysql;
    unsigned int timeout = 5, rw_timeout = 60;
    int rc;

    s->db = mysql_init(NULL);
    if (!s->db)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "mysql: out of memory");
    mysql_options(s->db, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(s->db, MYSQL_OPT_READ_TIMEOUT, &rw_timeout);
    mysql_options(s->db, MYSQL_OPT_WRITE_TIMEOUT, &rw_timeout);
    mysql_options(s->db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (!mysql_real_connect(s->db, m->socket ? NULL : m->host, m->user, m->password, m->database,
                            (unsigned int)m->port, m->socket, 0)) {
        rc =
            ferry_seterr(err, errlen, FERRY_ERR_RETRY, "mysql %s: connect %s:%ld: %s", s->cfg->name,
                         m->socket ? m->socket : m->host, m->port, mysql_error(s->db));
        disconnect(s);
        return rc;
    }
    mysql_autocommit(s->db, 0);
    if ((rc = exec(s, "SET time_zone = '+00:00'", err, errlen)) < 0 ||
        (rc = create_tables(s, err, errlen)) < 0 || (rc = prepare_all(s, err, errlen)) < 0 ||
        (rc = exec(s, "COMMIT", err, errlen)) < 0) {
        disconnect(s);
        return rc;
    }
    return 0;
}

static int mysql_open(struct ferry_sink **out, const struct ferry_worker_config *cfg,
                      const char *group, char *err, size_t errlen)
{
    struct ferry_sink *s = calloc(1, sizeof(*s));
    int rc;

    if (!s)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "mysql: out of memory");
    s->cfg = cfg;
    s->group = group;
    s->parser = ferry_parser_new(cfg->format, err, errlen);
    if (!s->parser) {
        free(s);
        return FERRY_ERR_FATAL;
    }
    rc = connect_db(s, err, errlen);
    if (rc == FERRY_ERR_FATAL) {
        ferry_parser_destroy(s->parser);
        free(s);
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

static void bind_str(MYSQL_BIND *b, const char *v, unsigned long *len)
{
    memset(b, 0, sizeof(*b));
    b->buffer_type = MYSQL_TYPE_STRING;
    b->buffer = (void *)v;
    b->buffer_length = *len;
    b->length = len;
    if (!v) {
        static my_bool is_null = 1;
        b->is_null = &is_null;
    }
}

static void bind_long(MYSQL_BIND *b, enum enum_field_types t, void *v)
{
    memset(b, 0, sizeof(*b));
    b->buffer_type = t;
    b->buffer = v;
}

/* The stored next offset of (topic, partition), locked for this transaction; -1 if none. */
static int get_offset(struct ferry_sink *s, const char *topic, int32_t part, int64_t *out,
                      char *err, size_t errlen)
{
    MYSQL_BIND in[3], res;
    unsigned long glen = strlen(s->group), tlen = strlen(topic);
    long long next = -1;
    my_bool isnull = 0;

    bind_str(&in[0], s->group, &glen);
    bind_str(&in[1], topic, &tlen);
    bind_long(&in[2], MYSQL_TYPE_LONG, &part);
    memset(&res, 0, sizeof(res));
    res.buffer_type = MYSQL_TYPE_LONGLONG;
    res.buffer = &next;
    res.is_null = &isnull;
    if (mysql_stmt_bind_param(s->get_off, in) || mysql_stmt_execute(s->get_off) ||
        mysql_stmt_bind_result(s->get_off, &res) || mysql_stmt_store_result(s->get_off))
        return stmt_error(s, s->get_off, "read ferry_offsets", err, errlen);
    int f = mysql_stmt_fetch(s->get_off);
    mysql_stmt_free_result(s->get_off);
    *out = (f == 0 && !isnull) ? next : -1;
    return 0;
}

static int put_offset(struct ferry_sink *s, const char *topic, int32_t part, int64_t next,
                      char *err, size_t errlen)
{
    MYSQL_BIND in[4];
    unsigned long glen = strlen(s->group), tlen = strlen(topic);
    long long v = next;

    bind_str(&in[0], s->group, &glen);
    bind_str(&in[1], topic, &tlen);
    bind_long(&in[2], MYSQL_TYPE_LONG, &part);
    bind_long(&in[3], MYSQL_TYPE_LONGLONG, &v);
    if (mysql_stmt_bind_param(s->put_off, in) || mysql_stmt_execute(s->put_off))
        return stmt_error(s, s->put_off, "write ferry_offsets", err, errlen);
    return 0;
}

static int insert_row(struct ferry_sink *s, const rd_kafka_message_t *m, char *err, size_t errlen)
{
    size_t nc = s->cfg->columns.n;
    MYSQL_BIND b[5 + nc];
    unsigned long lens[5 + nc];
    const char *topic = rd_kafka_topic_name(m->rkt);
    int32_t part = m->partition;
    long long off = m->offset;
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);
    MYSQL_TIME mt;
    my_bool ts_null = ts < 0;
    char perr[256];

    memset(&mt, 0, sizeof(mt));
    if (ts >= 0) {
        time_t t = (time_t)(ts / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        mt.year = (unsigned)tm.tm_year + 1900;
        mt.month = (unsigned)tm.tm_mon + 1;
        mt.day = (unsigned)tm.tm_mday;
        mt.hour = (unsigned)tm.tm_hour;
        mt.minute = (unsigned)tm.tm_min;
        mt.second = (unsigned)tm.tm_sec;
        mt.second_part = (unsigned long)(ts % 1000) * 1000;
        mt.time_type = MYSQL_TIMESTAMP_DATETIME;
    }
    if (ferry_fields_parse(s->parser, &s->fields, m->payload ? m->payload : "", m->len, ts, perr,
                           sizeof(perr)) < 0) {
        /* the row is still written, raw, with NULL columns */
        if (s->parse_errors++ % 1000 == 0)
            ferry_warn("mysql", "%s: %s [%d] offset %lld: %s (%llu so far)", s->cfg->name, topic,
                       part, off, perr, (unsigned long long)s->parse_errors);
    }
    ferry_fields_set_meta(&s->fields, topic, part, m->offset);
    lens[0] = strlen(topic);
    bind_str(&b[0], topic, &lens[0]);
    bind_long(&b[1], MYSQL_TYPE_LONG, &part);
    bind_long(&b[2], MYSQL_TYPE_LONGLONG, &off);
    memset(&b[3], 0, sizeof(b[3]));
    b[3].buffer_type = MYSQL_TYPE_DATETIME;
    b[3].buffer = &mt;
    b[3].is_null = &ts_null;
    lens[4] = (unsigned long)m->len;
    bind_str(&b[4], m->payload ? m->payload : "", &lens[4]);
    for (size_t i = 0; i < nc; i++) {
        const char *v = NULL, *field = s->cfg->columns.v[i].value;
        size_t len = 0;
        if (ferry_fields_get(&s->fields, field, strlen(field), &v, &len) < 0)
            v = NULL;
        lens[5 + i] = (unsigned long)len;
        bind_str(&b[5 + i], v, &lens[5 + i]);
    }
    if (mysql_stmt_bind_param(s->insert, b) || mysql_stmt_execute(s->insert))
        return stmt_error(s, s->insert, "insert", err, errlen);
    return 0;
}

/* The partitions of a batch, each with the offset range it covers there. */
struct part_range {
    const char *topic;
    int32_t partition;
    int64_t stored; /* next offset already in the table; -1 none */
    int64_t next;   /* next offset after this batch */
};

static int mysql_write(struct ferry_sink *s, const struct ferry_batch *batch, char *err,
                       size_t errlen)
{
    struct part_range parts[64];
    size_t np = 0;
    int rc;

    if ((rc = ensure_connected(s, err, errlen)) < 0)
        return rc;
    /* Collect the partitions; a batch never spans more than the worker's assignment, and a
     * worker with more partitions than fit here writes in several transactions. */
    for (size_t i = 0; i < batch->n; i++) {
        const rd_kafka_message_t *m = batch->msgs[i];
        const char *t = rd_kafka_topic_name(m->rkt);
        size_t j = 0;
        while (j < np && !(parts[j].partition == m->partition && !strcmp(parts[j].topic, t)))
            j++;
        if (j == np) {
            if (np == sizeof(parts) / sizeof(parts[0])) {
                struct ferry_batch head = {batch->msgs, i}, rest = {batch->msgs + i, batch->n - i};
                rc = mysql_write(s, &head, err, errlen);
                return rc < 0 ? rc : mysql_write(s, &rest, err, errlen);
            }
            parts[np++] = (struct part_range){t, m->partition, -1, -1};
        }
        parts[j].next = m->offset + 1;
    }
    for (size_t j = 0; j < np; j++)
        if ((rc = get_offset(s, parts[j].topic, parts[j].partition, &parts[j].stored, err,
                             errlen)) < 0)
            goto rollback;
    size_t written = 0, skipped = 0;
    for (size_t i = 0; i < batch->n; i++) {
        const rd_kafka_message_t *m = batch->msgs[i];
        const char *t = rd_kafka_topic_name(m->rkt);
        size_t j = 0;
        while (!(parts[j].partition == m->partition && !strcmp(parts[j].topic, t)))
            j++;
        if (m->offset < parts[j].stored) {
            skipped++; /* already written by an earlier transaction */
            continue;
        }
        if ((rc = insert_row(s, m, err, errlen)) < 0)
            goto rollback;
        written++;
    }
    for (size_t j = 0; j < np; j++) {
        if (parts[j].next <= parts[j].stored)
            continue;
        if ((rc = put_offset(s, parts[j].topic, parts[j].partition, parts[j].next, err, errlen)) <
            0)
            goto rollback;
    }
    if (mysql_commit(s->db))
        return db_error(s, "commit", err, errlen);
    if (skipped)
        ferry_info("mysql", "%s: skipped %zu events already written", s->cfg->name, skipped);
    return 0;
rollback:
    if (s->db)
        mysql_rollback(s->db);
    return rc;
}

static int mysql_stored_offsets(struct ferry_sink *s, rd_kafka_topic_partition_list_t *parts,
                                char *err, size_t errlen)
{
    int rc;
    if ((rc = ensure_connected(s, err, errlen)) < 0)
        return rc;
    for (int i = 0; i < parts->cnt; i++) {
        int64_t next;
        /* a plain read: FOR UPDATE locks are released by the rollback below */
        if ((rc = get_offset(s, parts->elems[i].topic, parts->elems[i].partition, &next, err,
                             errlen)) < 0)
            return rc;
        if (next >= 0)
            parts->elems[i].offset = next;
    }
    mysql_rollback(s->db);
    return 0;
}

static void mysql_close_sink(struct ferry_sink *s)
{
    if (!s)
        return;
    disconnect(s);
    ferry_parser_destroy(s->parser);
    ferry_fields_release(&s->fields);
    free(s);
}

const struct ferry_sink_ops ferry_sink_mysql = {
    .type = "mysql",
    .open = mysql_open,
    .stored_offsets = mysql_stored_offsets,
    .write = mysql_write,
    .close = mysql_close_sink,
};
