/* ferry: the MySQL sink's rows — events become rows, and rows go into the table.
 *
 * Staging parses an event, converts its values (sinks/mapping.c) and copies them into the
 * batch's rows; an event that does not parse or convert is rejected there, before any SQL.
 * The rows go in inside the transaction sinks/mysql.c holds:
 *
 *   insert mode  one LOAD DATA LOCAL INFILE whose "file" is the batch, escaped for the default
 *                FIELDS/LINES format and handed to the client library from memory through
 *                mysql_set_local_infile_handler. The events are converted while the client
 *                library reads, FERRY_MYSQL_FEED_ROWS at a time, so the server inserts rows
 *                while the next ones are parsed. With LOCAL the server turns data errors
 *                into warnings and skips or truncates the row, so any warning (or a row count
 *                that is off) undoes the load (ROLLBACK TO SAVEPOINT) and the rows go in one
 *                by one instead, where the server's refusal of a row rejects just that event.
 *   upsert mode  multi-row prepared INSERT … ON DUPLICATE KEY UPDATE, FERRY_MYSQL_CHUNK_ROWS rows
 *                a statement; a chunk that fails for its data goes again one row at a time.
 *                Also insert mode's way when the server does not allow LOAD DATA LOCAL. */
#include <errmsg.h>
#include <inttypes.h>
#include <mysqld_error.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/err.h"
#include "ferry/log.h"
#include "mysql.h"

#define INFILE_NAME "ferry-batch" /* as named in s->load_sql */

static int out_of_memory(struct ferry_sink *s, char *err, size_t errlen)
{
    return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "mysql %s: out of memory", s->cfg->name);
}

/* ---- staging ---------------------------------------------------------------------------- */

int ferry_mysql_rows_init(struct ferry_sink *s, char *err, size_t errlen)
{
    size_t nb = s->chunk * s->rows.ncols;
    s->values = calloc(s->my->ncolumns ? s->my->ncolumns : 1, sizeof(*s->values));
    s->binds = calloc(nb, sizeof(*s->binds));
    s->lens = calloc(nb, sizeof(*s->lens));
    if (!s->values || !s->binds || !s->lens)
        return out_of_memory(s, err, errlen);
    return 0;
}

void ferry_mysql_rows_release(struct ferry_sink *s)
{
    free(s->rows.msg);
    free(s->rows.cells);
    ferry_buf_release(&s->rows.text);
    ferry_buf_release(&s->load);
    free(s->values);
    free(s->binds);
    free(s->lens);
}

static int grow_rows(struct ferry_mysql_rows *r)
{
    if (r->n < r->cap)
        return 0;
    size_t cap = r->cap ? r->cap * 2 : 256;
    size_t *msg = realloc(r->msg, cap * sizeof(*msg));
    if (!msg)
        return FERRY_ERR_NOMEM;
    r->msg = msg;
    struct ferry_mysql_cell *cells = realloc(r->cells, cap * r->ncols * sizeof(*cells));
    if (!cells)
        return FERRY_ERR_NOMEM;
    r->cells = cells;
    r->cap = cap;
    return 0;
}

static const char *cell_text(const struct ferry_mysql_rows *r, const struct ferry_mysql_cell *c)
{
    return c->p ? c->p : r->text.p + c->off;
}

/* A copy of text into the rows' own storage (the fields are overwritten by the next event). */
static int copy_text(struct ferry_mysql_rows *r, struct ferry_mysql_cell *c, const char *p,
                     size_t len)
{
    c->p = NULL;
    c->off = r->text.len;
    c->len = len;
    return ferry_buf_add(&r->text, p, len);
}

static int stage_value(struct ferry_mysql_rows *r, struct ferry_mysql_cell *c,
                       const struct ferry_value *v)
{
    char buf[FERRY_VALUE_TEXT_MAX];
    memset(c, 0, sizeof(*c));
    c->null = v->null;
    c->type = v->type;
    if (v->null)
        return 0;
    switch (v->type) {
    case FERRY_COLUMN_STRING:
    case FERRY_COLUMN_JSON:
        return copy_text(r, c, v->s, v->len);
    case FERRY_COLUMN_DATETIME: /* as text in both ways of writing: "2026-11-25 18:31:41.123" */
        return copy_text(r, c, buf, ferry_value_format(v, buf));
    case FERRY_COLUMN_FLOAT: /* and its text, exact for a server to read again */
        c->f = v->f;
        return v->s ? copy_text(r, c, v->s, v->len) : 0;
    case FERRY_COLUMN_INT:
    case FERRY_COLUMN_BOOL:
        c->i = v->i;
        return 0;
    }
    return 0;
}

/* kafka_topic, kafka_partition, kafka_offset, kafka_ts and raw. */
static int stage_fixed(struct ferry_sink *s, struct ferry_mysql_cell *c,
                       const rd_kafka_message_t *m, int64_t ts)
{
    struct ferry_value t = {.type = FERRY_COLUMN_DATETIME, .i = ts, .null = ts < 0};
    const char *topic = rd_kafka_topic_name(m->rkt);
    memset(c, 0, 3 * sizeof(*c));
    c[0] = (struct ferry_mysql_cell){.type = FERRY_COLUMN_STRING, .p = topic, .len = strlen(topic)};
    c[1].type = c[2].type = FERRY_COLUMN_INT;
    c[1].i = m->partition;
    c[2].i = m->offset;
    if (stage_value(&s->rows, &c[3], &t) < 0)
        return FERRY_ERR_NOMEM;
    if (s->my->store_raw)
        c[4] = (struct ferry_mysql_cell){.type = FERRY_COLUMN_STRING,
                                         .p = m->payload ? (const char *)m->payload : "",
                                         .len = m->len};
    return 0;
}

/* Event `index` of the batch as a row, or a reject. 0, or FERRY_ERR_NOMEM. */
static int stage(struct ferry_sink *s, const struct ferry_batch *batch, size_t index)
{
    const rd_kafka_message_t *m = batch->msgs[index];
    struct ferry_mysql_rows *r = &s->rows;
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);
    rd_kafka_headers_t *headers = NULL;
    char why[512];
    int rc;

    rc = ferry_fields_parse(s->parser, &s->fields, m->payload ? m->payload : "", m->len, ts, why,
                            sizeof(why));
    if (rc == 0) {
        ferry_fields_set_meta(&s->fields, rd_kafka_topic_name(m->rkt), m->partition, m->offset);
        if (rd_kafka_message_headers(m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR)
            headers = NULL;
        ferry_fields_set_headers(&s->fields, headers);
        rc = ferry_mapping_apply(s->mapping, &s->fields, s->values, why, sizeof(why));
    }
    if (rc == FERRY_ERR_INVALID) {
        s->parse_errors++;
        batch->reject(batch->opaque, m, why);
        return 0;
    }
    if (rc < 0 || grow_rows(r) < 0)
        return FERRY_ERR_NOMEM;
    struct ferry_mysql_cell *c = &r->cells[r->n * r->ncols];
    size_t first = r->ncols - s->my->ncolumns;
    rc = stage_fixed(s, c, m, ts);
    for (size_t i = 0; rc == 0 && i < s->my->ncolumns; i++)
        rc = stage_value(r, &c[first + i], &s->values[i]);
    if (rc < 0)
        return FERRY_ERR_NOMEM;
    r->msg[r->n++] = index;
    return 0;
}

/* Stages the next events of s->todo until `rows` rows are staged or none is left. */
static int stage_upto(struct ferry_sink *s, size_t rows)
{
    while (s->staged < s->ntodo && s->rows.n < rows) {
        if (stage(s, s->batch, s->todo[s->staged]) < 0)
            return FERRY_ERR_NOMEM;
        s->staged++;
    }
    return 0;
}

/* ---- row by row, and multi-row INSERTs --------------------------------------------------- */

/* Binds rows [first, first + n) to s->binds. The cells must not move until the statement ran. */
static void bind_rows(struct ferry_sink *s, size_t first, size_t n)
{
    const struct ferry_mysql_rows *r = &s->rows;
    for (size_t k = 0; k < n * r->ncols; k++) {
        struct ferry_mysql_cell *c = &r->cells[first * r->ncols + k];
        MYSQL_BIND *b = &s->binds[k];
        memset(b, 0, sizeof(*b));
        if (c->null) {
            b->buffer_type = MYSQL_TYPE_NULL;
        } else if (c->type == FERRY_COLUMN_INT || c->type == FERRY_COLUMN_BOOL) {
            b->buffer_type = MYSQL_TYPE_LONGLONG;
            b->buffer = &c->i;
        } else if (c->type == FERRY_COLUMN_FLOAT) {
            b->buffer_type = MYSQL_TYPE_DOUBLE;
            b->buffer = &c->f;
        } else {
            s->lens[k] = (unsigned long)c->len;
            b->buffer_type = MYSQL_TYPE_STRING;
            b->buffer = (void *)cell_text(r, c);
            b->buffer_length = s->lens[k];
            b->length = &s->lens[k];
        }
    }
}

/* Rows [from, to) one statement each; a row the server refuses for its data is rejected. */
static int write_each(struct ferry_sink *s, size_t from, size_t to, char *err, size_t errlen)
{
    for (size_t i = from; i < to; i++) {
        bind_rows(s, i, 1);
        if (!mysql_stmt_bind_param(s->insert1, s->binds) && !mysql_stmt_execute(s->insert1))
            continue;
        if (!ferry_mysql_row_error(mysql_stmt_errno(s->insert1)))
            return ferry_mysql_error(s, s->insert1, "insert", err, errlen);
        char why[600];
        snprintf(why, sizeof(why), "mysql: %s", mysql_stmt_error(s->insert1));
        s->rejected++;
        s->batch->reject(s->batch->opaque, s->batch->msgs[s->rows.msg[i]], why);
    }
    return 0;
}

/* How many rows from `first` go into one multi-row statement. */
static size_t chunk_rows(const struct ferry_sink *s, size_t first)
{
    const struct ferry_mysql_rows *r = &s->rows;
    size_t bytes = 0, n = 0;
    while (first + n < r->n && n < s->chunk) {
        const struct ferry_mysql_cell *c = &r->cells[(first + n) * r->ncols];
        size_t row = 0;
        for (size_t k = 0; k < r->ncols; k++)
            row += c[k].len + 8;
        if (n > 0 && bytes + row > FERRY_MYSQL_CHUNK_BYTES)
            break;
        bytes += row;
        n++;
    }
    return n;
}

static int write_chunks(struct ferry_sink *s, char *err, size_t errlen)
{
    for (size_t first = 0, n; first < s->rows.n; first += n) {
        n = chunk_rows(s, first);
        int own = n != s->chunk, rc = 0; /* a statement for this chunk only: closed below */
        MYSQL_STMT *st = own ? ferry_mysql_prepare_insert(s, n, err, errlen) : s->insert_n;
        if (!st)
            return s->db ? FERRY_ERR_FATAL : FERRY_ERR_RETRY;
        bind_rows(s, first, n);
        if (mysql_stmt_bind_param(st, s->binds) || mysql_stmt_execute(st)) {
            if (ferry_mysql_row_error(mysql_stmt_errno(st))) {
                s->fallbacks++; /* the statement did nothing: find the rows the server refuses */
                rc = write_each(s, first, first + n, err, errlen);
            } else {
                rc = ferry_mysql_error(s, st, "insert", err, errlen);
            }
        }
        if (own) /* (a lost connection closed s->insert_n, never this one) */
            mysql_stmt_close(st);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- LOAD DATA LOCAL INFILE from memory -------------------------------------------------- */

/* Appends p with the escapes of ESCAPED BY '\\': backslash, tab, newline, carriage return and
 * NUL. Room was reserved: the buffer does not grow here. Runs without any of them (most
 * values) are copied whole. */
static void put_escaped(struct ferry_buf *b, const char *p, size_t n)
{
    static const char esc[256] = {
        ['\\'] = '\\', ['\t'] = 't', ['\n'] = 'n', ['\r'] = 'r', [0] = '0'};
    char *out = b->p + b->len;
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        char e = esc[(unsigned char)p[i]];
        if (!e)
            continue;
        memcpy(out, p + run, i - run);
        out += i - run;
        *out++ = '\\';
        *out++ = e;
        run = i + 1;
    }
    memcpy(out, p + run, n - run);
    out += n - run;
    b->len = (size_t)(out - b->p);
}

int ferry_mysql_load_append(struct ferry_buf *b, const struct ferry_mysql_rows *r, size_t from,
                            size_t to)
{
    size_t need = 1;
    for (size_t k = from; k < to; k++)
        need += 2 * r->cells[k].len + FERRY_VALUE_TEXT_MAX + 1;
    if (b->len + need > b->cap) {
        char *p = realloc(b->p, b->len + need);
        if (!p)
            return FERRY_ERR_NOMEM;
        b->p = p;
        b->cap = b->len + need;
    }
    for (size_t k = from; k < to; k++) {
        const struct ferry_mysql_cell *c = &r->cells[k];
        char *out = b->p + b->len;
        if (c->null) {
            memcpy(out, "\\N", 2);
            b->len += 2;
        } else if (c->type == FERRY_COLUMN_INT || c->type == FERRY_COLUMN_BOOL) {
            b->len += ferry_format_i64(out, c->i);
        } else if (c->type == FERRY_COLUMN_FLOAT && c->len == 0) {
            /* 17 significant digits read back as the same double */
            b->len += (size_t)snprintf(out, FERRY_VALUE_TEXT_MAX, "%.17g", c->f);
        } else {
            put_escaped(b, cell_text(r, c), c->len);
        }
        b->p[b->len++] = (k + 1) % r->ncols ? '\t' : '\n';
    }
    return 0;
}

/* Appends the rows staged since the last call to the LOAD DATA file. What the client library
 * already read is dropped first. 0 or FERRY_ERR_NOMEM. */
static int serialize(struct ferry_sink *s)
{
    const struct ferry_mysql_rows *r = &s->rows;
    struct ferry_buf *b = &s->load;

    if (s->load_pos) {
        memmove(b->p, b->p + s->load_pos, b->len - s->load_pos);
        b->len -= s->load_pos;
        s->load_pos = 0;
    }
    if (ferry_mysql_load_append(b, r, s->sent * r->ncols, r->n * r->ncols) < 0)
        return FERRY_ERR_NOMEM;
    s->sent = r->n;
    return 0;
}

/* The client library's callbacks; they run inside mysql_real_query, on the worker's thread. */
static int infile_init(void **ptr, const char *name, void *userdata)
{
    *ptr = userdata;
    return strcmp(name, INFILE_NAME) != 0; /* a server asking for another file gets nothing */
}

/* Converts more events whenever what is serialized runs short, so that the server inserts
 * rows while the next ones are being parsed. */
static int infile_read(void *ptr, char *buf, unsigned int len)
{
    struct ferry_sink *s = ptr;
    while (s->load.len == s->load_pos && s->staged < s->ntodo) {
        if (stage_upto(s, s->rows.n + FERRY_MYSQL_FEED_ROWS) < 0 || serialize(s) < 0) {
            s->load_rc = FERRY_ERR_NOMEM;
            return -1;
        }
    }
    if (s->sent < s->rows.n && serialize(s) < 0) { /* the first row, staged before the query */
        s->load_rc = FERRY_ERR_NOMEM;
        return -1;
    }
    size_t n = s->load.len - s->load_pos;
    if (n > len)
        n = len;
    memcpy(buf, s->load.p + s->load_pos, n);
    s->load_pos += n;
    return (int)n;
}

static void infile_end(void *ptr)
{
    (void)ptr;
}

static int infile_error(void *ptr, char *msg, unsigned int len)
{
    struct ferry_sink *s = ptr;
    snprintf(msg, len, "%s",
             s->load_rc ? "out of memory" : "the server asked for a file other than the batch");
    return CR_UNKNOWN_ERROR;
}

/* LOAD DATA LOCAL refused by the server or the client library (local_infile off). MariaDB
 * (10.11 here) refuses with 4166 where older servers said ER_NOT_ALLOWED_COMMAND: without it
 * every batch failed as if the server were broken, and was retried for ever. */
static int load_refused(unsigned int e)
{
    return e == ER_NOT_ALLOWED_COMMAND ||
           e == 4166 /* MariaDB: ER_LOAD_INFILE_CAPABILITY_DISABLED */ ||
           e == 3948 /* MySQL 8: local files disabled */ ||
           e == 2068 /* MySQL 8 client: LOAD DATA LOCAL INFILE rejected */;
}

static int write_load(struct ferry_sink *s, char *err, size_t errlen)
{
    unsigned int warnings = 0;
    int rc;

    /* a first row, so that a batch with nothing to write sends nothing */
    if (stage_upto(s, 1) < 0)
        return out_of_memory(s, err, errlen);
    if (s->rows.n == 0)
        return 0;
    if ((rc = ferry_mysql_exec(s, "SAVEPOINT ferry_load", err, errlen)) < 0)
        return rc;
    s->load.len = s->load_pos = s->sent = 0;
    s->load_rc = 0;
    mysql_set_local_infile_handler(s->db, infile_init, infile_read, infile_end, infile_error, s);
    int failed = mysql_real_query(s->db, s->load_sql, strlen(s->load_sql)) != 0;
    /* whatever comes next (rows one by one, INSERTs) needs every row */
    if (s->load_rc < 0 || stage_upto(s, SIZE_MAX) < 0)
        return out_of_memory(s, err, errlen);
    if (failed) {
        unsigned int e = mysql_errno(s->db);
        if (load_refused(e)) {
            ferry_warn("mysql",
                       "%s: LOAD DATA LOCAL INFILE refused (%s): multi-row INSERTs from now on",
                       s->cfg->name, mysql_error(s->db));
            s->load_data = false;
            return write_chunks(s, err, errlen);
        }
        if (!ferry_mysql_row_error(e))
            return ferry_mysql_error(s, NULL, "load data", err, errlen);
    } else {
        warnings = mysql_warning_count(s->db);
        if (warnings == 0 && mysql_affected_rows(s->db) == (my_ulonglong)s->rows.n)
            return 0;
    }
    /* the server skipped, truncated or refused something: undo, then one row at a time */
    if ((rc = ferry_mysql_exec(s, "ROLLBACK TO SAVEPOINT ferry_load", err, errlen)) < 0)
        return rc;
    s->fallbacks++;
    ferry_info("mysql", "%s: LOAD DATA of %zu rows had %u warnings: writing them one by one",
               s->cfg->name, s->rows.n, warnings);
    return write_each(s, 0, s->rows.n, err, errlen);
}

int ferry_mysql_write_rows(struct ferry_sink *s, const struct ferry_batch *batch, char *err,
                           size_t errlen)
{
    s->batch = batch;
    s->staged = 0;
    s->rows.n = 0;
    s->rows.text.len = 0;
    if (s->load_data)
        return write_load(s, err, errlen);
    if (stage_upto(s, SIZE_MAX) < 0)
        return out_of_memory(s, err, errlen);
    return write_chunks(s, err, errlen);
}
