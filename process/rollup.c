/* ferry: rollups — the leader's summary tables (see include/ferry/rollup.h).
 *
 * One run of a rollup is one transaction on the rollup's own connection:
 *   INSERT IGNORE INTO ferry_fence … (?, -1); SELECT token … FOR UPDATE; [UPDATE … token = ?]
 *   SELECT done_until FROM ferry_rollups …   (the first time: MIN(time_column) of the raw table)
 *   INSERT INTO summary (…) SELECT <window>, <group_by>…, <measures>… FROM raw
 *     WHERE time_column >= ? AND time_column < ? GROUP BY 1, … ON DUPLICATE KEY UPDATE …
 *   INSERT INTO ferry_rollups … ON DUPLICATE KEY UPDATE done_until = ?; COMMIT
 * The fence row's lock serializes the writers of one leadership name: a newer leader waits
 * for the older one's transaction, then raises the token, and the older one then finds it.
 * Identifiers were validated at load and are quoted; every value is bound. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ferry/err.h"
#include "ferry/log.h"
#include "ferry/mysql.h"
#include "ferry/rollup.h"

#define SUMMARY_VARCHAR 191 /* utf8mb4 characters that fit an InnoDB index prefix (767 bytes) */

struct rollup {
    const struct ferry_rollup_config *cfg;
    const struct ferry_worker_config *src;
    const struct ferry_mysql_config *my; /* src's settings: src is a mysql worker */
    char *who;                           /* "rollup <name>", for messages */
    char *create_sql;                    /* CREATE TABLE of the summary; NULL unless create_table */
    char *fill_sql;                      /* INSERT … SELECT, two parameters: from, to */
    char *min_sql;                       /* SELECT MIN(time_column) of the raw table */
    int64_t window_ms;                   /* 60 s, 1 h or 1 d: UTC has no other lengths for these */
    int64_t due_ms;                      /* when to run next; 0: at once */
    MYSQL *db; /* NULL until connected, and after the connection was lost */
};

struct ferry_rollups {
    char *fence_name;
    struct rollup *v;
    size_t n;
};

/* ---- SQL text --------------------------------------------------------------------------- */

struct sql {
    struct ferry_buf b;
    bool failed;
};

static void put(struct sql *q, const char *s)
{
    if (ferry_buf_add(&q->b, s, strlen(s)) < 0)
        q->failed = true;
}

static void put_id(struct sql *q, const char *id)
{
    put(q, "`");
    put(q, id);
    put(q, "`");
}

/* The text built, or NULL (nothing left to free) when memory ran out. */
static char *sql_done(struct sql *q)
{
    if (q->failed) {
        ferry_buf_release(&q->b);
        return NULL;
    }
    return q->b.p;
}

/* A column of the raw table as ferry creates it (sinks/mysql.c). */
struct raw_col {
    enum ferry_column_type type;
    const char *sql; /* its SQL type; NULL for strings (see varchar) */
    long length;     /* strings: VARCHAR(length), 0 for TEXT */
};

static int raw_column(const struct ferry_mysql_config *w, const char *name, struct raw_col *out)
{
    static const char *const types[] = {
        [FERRY_COLUMN_INT] = "BIGINT",      [FERRY_COLUMN_FLOAT] = "DOUBLE",
        [FERRY_COLUMN_BOOL] = "TINYINT(1)", [FERRY_COLUMN_DATETIME] = "DATETIME(3)",
        [FERRY_COLUMN_JSON] = "JSON",       [FERRY_COLUMN_STRING] = NULL,
    };
    for (size_t i = 0; i < w->ncolumns; i++) {
        const struct ferry_column_config *c = &w->columns[i];
        if (!strcasecmp(c->name, name)) {
            *out = (struct raw_col){c->type, types[c->type], c->length};
            return 0;
        }
    }
    if (!strcasecmp(name, "kafka_topic"))
        *out = (struct raw_col){FERRY_COLUMN_STRING, NULL, 249};
    else if (!strcasecmp(name, "kafka_partition"))
        *out = (struct raw_col){FERRY_COLUMN_INT, "INT", 0};
    else if (!strcasecmp(name, "kafka_offset"))
        *out = (struct raw_col){FERRY_COLUMN_INT, "BIGINT", 0};
    else if (!strcasecmp(name, "kafka_ts") || !strcasecmp(name, "received_at"))
        *out = (struct raw_col){FERRY_COLUMN_DATETIME, "DATETIME(3)", 0};
    else
        return -1;
    return 0;
}

/* A string group_by column's length in the summary table. */
static long varchar_len(const struct raw_col *c)
{
    return c->length > 0 && c->length <= SUMMARY_VARCHAR ? c->length : SUMMARY_VARCHAR;
}

/* The summary's column for a group_by column. */
static void group_column(struct sql *ddl, const char *name, const struct raw_col *c)
{
    char t[48];
    put(ddl, ", ");
    put_id(ddl, name);
    if (c->type == FERRY_COLUMN_STRING)
        snprintf(t, sizeof(t), " VARCHAR(%ld) NOT NULL", varchar_len(c));
    else
        snprintf(t, sizeof(t), " %s NOT NULL", c->sql);
    put(ddl, t);
}

/* What fills that column: never NULL, never longer than the column (the GROUP BY is by this
 * expression, so that values that share their first characters stay one group). */
static void group_expr(struct sql *sel, const char *name, const struct raw_col *c)
{
    char t[48];
    bool cut = c->type == FERRY_COLUMN_STRING && varchar_len(c) != c->length;
    put(sel, cut ? ", LEFT(COALESCE(" : ", COALESCE(");
    put_id(sel, name);
    if (cut) {
        snprintf(t, sizeof(t), ", ''), %ld)", varchar_len(c));
        put(sel, t);
    } else if (c->type == FERRY_COLUMN_STRING) {
        put(sel, ", '')");
    } else if (c->type == FERRY_COLUMN_DATETIME) {
        put(sel, ", TIMESTAMP '1970-01-01 00:00:00')");
    } else {
        put(sel, ", 0)");
    }
}

static void measure_expr(struct sql *q, const struct ferry_measure_config *m)
{
    static const char *const fn[] = {
        [FERRY_MEASURE_COUNT] = "COUNT(*)", [FERRY_MEASURE_COUNT_DISTINCT] = "COUNT(DISTINCT ",
        [FERRY_MEASURE_SUM] = "SUM(",       [FERRY_MEASURE_MIN] = "MIN(",
        [FERRY_MEASURE_MAX] = "MAX(",       [FERRY_MEASURE_AVG] = "AVG(",
    };
    put(q, fn[m->fn]);
    if (m->fn != FERRY_MEASURE_COUNT) {
        put_id(q, m->column);
        put(q, ")");
    }
}

/* CREATE TABLE of the summary; 0 or FERRY_ERR_NOMEM. */
static int build_create(struct rollup *ru)
{
    const struct ferry_rollup_config *c = ru->cfg;
    struct sql ddl = {0};
    struct raw_col col;

    put(&ddl, "CREATE TABLE IF NOT EXISTS ");
    put_id(&ddl, c->table);
    put(&ddl, " (`window_start` DATETIME NOT NULL");
    for (size_t i = 0; i < c->group_by.n; i++)
        if (raw_column(ru->my, c->group_by.v[i], &col) == 0) /* checked by rollup_init */
            group_column(&ddl, c->group_by.v[i], &col);
    for (size_t i = 0; i < c->nmeasures; i++) {
        const struct ferry_measure_config *m = &c->measures[i];
        bool count = m->fn == FERRY_MEASURE_COUNT || m->fn == FERRY_MEASURE_COUNT_DISTINCT;
        put(&ddl, ", ");
        put_id(&ddl, m->name);
        put(&ddl, count ? " BIGINT NOT NULL" : " DOUBLE NULL");
    }
    put(&ddl, ", PRIMARY KEY (`window_start`");
    for (size_t i = 0; i < c->group_by.n; i++) {
        put(&ddl, ", ");
        put_id(&ddl, c->group_by.v[i]);
    }
    put(&ddl, ")) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
    ru->create_sql = sql_done(&ddl);
    return ru->create_sql ? 0 : FERRY_ERR_NOMEM;
}

/* INSERT … SELECT … ON DUPLICATE KEY UPDATE of one rollup, parameters from and to; 0 or
 * FERRY_ERR_NOMEM. */
static int build_fill(struct rollup *ru)
{
    static const char *const bucket[] = {
        [FERRY_WINDOW_MINUTE] = "'%Y-%m-%d %H:%i:00'",
        [FERRY_WINDOW_HOUR] = "'%Y-%m-%d %H:00:00'",
        [FERRY_WINDOW_DAY] = "'%Y-%m-%d 00:00:00'",
    };
    const struct ferry_rollup_config *c = ru->cfg;
    struct sql q = {0};
    struct raw_col col;
    char n[24];

    put(&q, "INSERT INTO ");
    put_id(&q, c->table);
    put(&q, " (`window_start`");
    for (size_t i = 0; i < c->group_by.n; i++) {
        put(&q, ", ");
        put_id(&q, c->group_by.v[i]);
    }
    for (size_t i = 0; i < c->nmeasures; i++) {
        put(&q, ", ");
        put_id(&q, c->measures[i].name);
    }
    put(&q, ") SELECT CAST(DATE_FORMAT(");
    put_id(&q, c->time_column);
    put(&q, ", ");
    put(&q, bucket[c->window]);
    put(&q, ") AS DATETIME)");
    for (size_t i = 0; i < c->group_by.n; i++)
        if (raw_column(ru->my, c->group_by.v[i], &col) == 0)
            group_expr(&q, c->group_by.v[i], &col);
    for (size_t i = 0; i < c->nmeasures; i++) {
        put(&q, ", ");
        measure_expr(&q, &c->measures[i]);
    }
    put(&q, " FROM ");
    put_id(&q, ru->my->table);
    put(&q, " WHERE ");
    put_id(&q, c->time_column);
    put(&q, " >= ? AND ");
    put_id(&q, c->time_column);
    put(&q, " < ? GROUP BY 1");
    for (size_t i = 0; i < c->group_by.n; i++) {
        snprintf(n, sizeof(n), ", %zu", i + 2);
        put(&q, n);
    }
    put(&q, " ON DUPLICATE KEY UPDATE ");
    if (!c->nmeasures)
        put(&q, "`window_start` = VALUES(`window_start`)");
    for (size_t i = 0; i < c->nmeasures; i++) {
        put(&q, i ? ", " : "");
        put_id(&q, c->measures[i].name);
        put(&q, " = VALUES(");
        put_id(&q, c->measures[i].name);
        put(&q, ")");
    }
    ru->fill_sql = sql_done(&q);
    return ru->fill_sql ? 0 : FERRY_ERR_NOMEM;
}

/* ---- building the jobs ------------------------------------------------------------------ */

static const struct ferry_worker_config *find_worker(const struct ferry_config *cfg,
                                                     const struct ferry_rollup_config *c)
{
    if (c->source)
        return c->source;
    for (size_t i = 0; i < cfg->nworkers; i++)
        if (!strcmp(cfg->workers[i].name, c->worker))
            return &cfg->workers[i];
    return NULL;
}

/* The summary's columns are window_start, group_by… and measures…: each named once. */
static const char *twice(const struct ferry_rollup_config *c)
{
    size_t n = 1 + c->group_by.n + c->nmeasures;
    for (size_t i = 0; i < n; i++) {
        const char *a = i == 0               ? "window_start"
                        : i <= c->group_by.n ? c->group_by.v[i - 1]
                                             : c->measures[i - 1 - c->group_by.n].name;
        for (size_t j = i + 1; j < n; j++) {
            const char *b =
                j <= c->group_by.n ? c->group_by.v[j - 1] : c->measures[j - 1 - c->group_by.n].name;
            if (!strcasecmp(a, b))
                return a;
        }
    }
    return NULL;
}

/* Checks what the config validator leaves to the rollup, then builds its SQL. */
static int rollup_init(struct rollup *ru, const struct ferry_config *cfg,
                       const struct ferry_rollup_config *c, char *err, size_t errlen)
{
    struct raw_col col;
    const char *dup;

    ru->cfg = c;
    ru->window_ms = ferry_rollup_window_ms(c->window);
    ru->src = find_worker(cfg, c);
    ru->my = ru->src ? ferry_mysql_worker(ru->src) : NULL;
    if (!ru->my)
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "rollup %s: no mysql worker %s",
                            c->name, c->worker);
    for (size_t i = 0; i < c->group_by.n; i++)
        if (raw_column(ru->my, c->group_by.v[i], &col) < 0 || col.type == FERRY_COLUMN_JSON)
            return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                                "rollup %s: group_by %s: not a column of worker %s that can be "
                                "grouped by",
                                c->name, c->group_by.v[i], ru->src->name);
    for (size_t i = 0; i < c->nmeasures; i++) {
        const struct ferry_measure_config *m = &c->measures[i];
        if (m->fn == FERRY_MEASURE_COUNT)
            continue;
        if (!m->column || raw_column(ru->my, m->column, &col) < 0)
            return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                                "rollup %s: measure %s: no column %s in worker %s", c->name,
                                m->name, m->column ? m->column : "(none)", ru->src->name);
        if (m->fn != FERRY_MEASURE_COUNT_DISTINCT && col.type != FERRY_COLUMN_INT &&
            col.type != FERRY_COLUMN_FLOAT && col.type != FERRY_COLUMN_BOOL)
            return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                                "rollup %s: measure %s: column %s is not a number", c->name,
                                m->name, m->column);
    }
    if ((dup = twice(c)))
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                            "rollup %s: column %s of table %s named twice", c->name, dup, c->table);

    struct sql who = {0}, min = {0};
    put(&who, "rollup ");
    put(&who, c->name);
    put(&min, "SELECT MIN(");
    put_id(&min, c->time_column);
    put(&min, ") FROM ");
    put_id(&min, ru->my->table);
    ru->who = sql_done(&who);
    ru->min_sql = sql_done(&min);
    if (!ru->who || !ru->min_sql || build_fill(ru) < 0 || (c->create_table && build_create(ru) < 0))
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "rollup: out of memory");
    return 0;
}

void ferry_rollups_destroy(struct ferry_rollups *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        struct rollup *ru = &r->v[i];
        if (ru->db)
            mysql_close(ru->db);
        free(ru->who);
        free(ru->create_sql);
        free(ru->fill_sql);
        free(ru->min_sql);
    }
    free(r->v);
    free(r->fence_name);
    free(r);
}

int ferry_rollups_new(const struct ferry_config *cfg, const char *fence_name,
                      struct ferry_rollups **out, char *err, size_t errlen)
{
    struct ferry_rollups *r = calloc(1, sizeof(*r));
    int rc = FERRY_ERR_NOMEM;

    *out = NULL;
    if (!r || !(r->fence_name = strdup(fence_name)) ||
        (cfg->nrollups && !(r->v = calloc(cfg->nrollups, sizeof(*r->v))))) {
        ferry_seterr(err, errlen, rc, "rollup: out of memory");
        goto fail;
    }
    for (; r->n < cfg->nrollups; r->n++)
        if ((rc = rollup_init(&r->v[r->n], cfg, &cfg->rollups[r->n], err, errlen)) < 0) {
            r->n++; /* what it allocated is freed with the rest */
            goto fail;
        }
    *out = r;
    return 0;
fail:
    ferry_rollups_destroy(r);
    return rc;
}

/* ---- statements ------------------------------------------------------------------------- */

static void disconnect(struct rollup *ru)
{
    if (ru->db)
        mysql_close(ru->db);
    ru->db = NULL;
}

/* The error of the last call as a ferry_err; a connection worth trying again is closed. */
static int db_error(struct rollup *ru, MYSQL_STMT *st, const char *what, char *err, size_t errlen)
{
    int rc = ferry_mysql_db_error(ru->db, st, ru->who, what, err, errlen);
    if (rc == FERRY_ERR_RETRY)
        disconnect(ru);
    return rc;
}

/* Prepares, binds `in`, runs sql; with `out`, fetches the first row into it (*found: whether
 * there was one). *affected (if not NULL): the rows the statement changed. */
static int run_stmt(struct rollup *ru, const char *what, const char *sql, MYSQL_BIND *in,
                    MYSQL_BIND *out, bool *found, uint64_t *affected, char *err, size_t errlen)
{
    MYSQL_STMT *st = mysql_stmt_init(ru->db);
    int rc = 0;

    if (!st)
        return db_error(ru, NULL, what, err, errlen);
    if (mysql_stmt_prepare(st, sql, strlen(sql)) || (in && mysql_stmt_bind_param(st, in)) ||
        mysql_stmt_execute(st)) {
        rc = db_error(ru, st, what, err, errlen);
        goto done;
    }
    if (affected)
        *affected = mysql_stmt_affected_rows(st);
    if (out) {
        if (mysql_stmt_bind_result(st, out) || mysql_stmt_store_result(st)) {
            rc = db_error(ru, st, what, err, errlen);
            goto done;
        }
        int f = mysql_stmt_fetch(st);
        *found = f == 0 || f == MYSQL_DATA_TRUNCATED;
        mysql_stmt_free_result(st);
    }
done:
    mysql_stmt_close(st);
    return rc;
}

static int exec(struct rollup *ru, const char *sql, char *err, size_t errlen)
{
    if (mysql_real_query(ru->db, sql, strlen(sql)))
        return db_error(ru, NULL, sql, err, errlen);
    return 0;
}

/* ---- time ------------------------------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b < 0);
}

int64_t ferry_rollup_window_ms(enum ferry_rollup_window w)
{
    static const int64_t ms[] = {[FERRY_WINDOW_MINUTE] = 60000,
                                 [FERRY_WINDOW_HOUR] = 3600000,
                                 [FERRY_WINDOW_DAY] = 86400000};
    return ms[w];
}

int64_t ferry_rollup_window_start(int64_t t_ms, int64_t window_ms)
{
    return floor_div(t_ms, window_ms) * window_ms;
}

bool ferry_rollup_span(int64_t from, int64_t now_ms, int64_t lateness_ms, int64_t window_ms,
                       int64_t *to, bool *behind)
{
    *to = ferry_rollup_window_start(now_ms - lateness_ms, window_ms); /* the last closed end */
    *behind = false;
    if (*to - from > (int64_t)FERRY_ROLLUP_MAX_WINDOWS * window_ms) {
        *to = from + (int64_t)FERRY_ROLLUP_MAX_WINDOWS * window_ms;
        *behind = true;
    }
    return from < *to;
}

static void to_mysql_time(int64_t ms, MYSQL_TIME *t)
{
    time_t s = (time_t)floor_div(ms, 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    memset(t, 0, sizeof(*t));
    t->year = (unsigned)tm.tm_year + 1900;
    t->month = (unsigned)tm.tm_mon + 1;
    t->day = (unsigned)tm.tm_mday;
    t->hour = (unsigned)tm.tm_hour;
    t->minute = (unsigned)tm.tm_min;
    t->second = (unsigned)tm.tm_sec;
    t->second_part = (unsigned long)(ms - (int64_t)s * 1000) * 1000;
    t->time_type = MYSQL_TIMESTAMP_DATETIME;
}

static int64_t from_mysql_time(const MYSQL_TIME *t)
{
    struct tm tm = {.tm_year = (int)t->year - 1900,
                    .tm_mon = (int)t->month - 1,
                    .tm_mday = (int)t->day,
                    .tm_hour = (int)t->hour,
                    .tm_min = (int)t->minute,
                    .tm_sec = (int)t->second};
    return (int64_t)timegm(&tm) * 1000 + (int64_t)(t->second_part / 1000);
}

static const char *fmt_time(int64_t ms, char *buf, size_t len)
{
    time_t s = (time_t)floor_div(ms, 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

/* ---- one run ---------------------------------------------------------------------------- */

/* A connection with READ COMMITTED (the fill's SELECT then reads the raw table without
 * locking it against the workers) and the tables in place. */
static int ensure_open(struct rollup *ru, char *err, size_t errlen)
{
    int rc;
    if (ru->db && mysql_ping(ru->db)) /* gone while idle (wait_timeout): open a new one */
        disconnect(ru);
    if (ru->db)
        return 0;
    if ((rc = ferry_mysql_connect(&ru->my->conn, ru->who, 0, &ru->db, err, errlen)) < 0)
        return rc;
    if ((rc = exec(ru, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", err, errlen)) <
            0 ||
        (rc = exec(ru,
                   "CREATE TABLE IF NOT EXISTS ferry_rollups (name VARCHAR(191) NOT NULL"
                   " PRIMARY KEY, done_until DATETIME(3) NOT NULL) ENGINE=InnoDB DEFAULT"
                   " CHARSET=utf8mb4",
                   err, errlen)) < 0 ||
        (rc = exec(ru,
                   "CREATE TABLE IF NOT EXISTS ferry_fence (name VARCHAR(191) NOT NULL"
                   " PRIMARY KEY, token BIGINT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
                   err, errlen)) < 0 ||
        (ru->create_sql && (rc = exec(ru, ru->create_sql, err, errlen)) < 0) ||
        (rc = exec(ru, "COMMIT", err, errlen)) < 0) {
        disconnect(ru);
        return rc;
    }
    return 0;
}

/* Locks the fence row and raises it to `fence` (*raised); FERRY_ROLLUP_FENCED when it holds
 * more. */
static int check_fence(struct rollup *ru, const char *name, int64_t fence, bool *raised, char *err,
                       size_t errlen)
{
    unsigned long nlen = strlen(name);
    long long mine = fence, token = -1;
    my_bool isnull = 0;
    MYSQL_BIND in[2], res;
    bool found = false;
    int rc;

    ferry_mysql_bind_param(&in[0], MYSQL_TYPE_STRING, name, &nlen);
    ferry_mysql_bind_param(&res, MYSQL_TYPE_LONGLONG, &token, NULL);
    res.is_null = &isnull;
    if ((rc = run_stmt(ru, "add to ferry_fence",
                       "INSERT IGNORE INTO ferry_fence (name, token) VALUES (?, -1)", in, NULL,
                       NULL, NULL, err, errlen)) < 0 ||
        (rc = run_stmt(ru, "read ferry_fence",
                       "SELECT token FROM ferry_fence WHERE name = ? FOR UPDATE", in, &res, &found,
                       NULL, err, errlen)) < 0)
        return rc;
    if (found && token > mine) {
        ferry_warn("rollup", "%s: fenced off: token %lld is older than %lld", ru->cfg->name, mine,
                   token);
        return FERRY_ROLLUP_FENCED;
    }
    if (found && token == mine)
        return 0;
    *raised = true;
    ferry_mysql_bind_param(&in[0], MYSQL_TYPE_LONGLONG, &mine, NULL);
    ferry_mysql_bind_param(&in[1], MYSQL_TYPE_STRING, name, &nlen);
    return run_stmt(ru, "write ferry_fence", "UPDATE ferry_fence SET token = ? WHERE name = ?", in,
                    NULL, NULL, NULL, err, errlen);
}

/* Where this run starts: done_until, or the first time the window of the oldest raw row.
 * *have false: nothing to do (an empty table). A flag, not a sentinel value: a window's start
 * before 1970 is negative, and a table whose oldest row is from then still has windows. */
static int read_start(struct rollup *ru, bool *have, int64_t *from, char *err, size_t errlen)
{
    unsigned long nlen = strlen(ru->cfg->name);
    MYSQL_TIME t;
    my_bool isnull = 0;
    MYSQL_BIND in, res;
    bool found = false;
    int rc;

    *have = false;
    *from = 0;
    ferry_mysql_bind_param(&in, MYSQL_TYPE_STRING, ru->cfg->name, &nlen);
    ferry_mysql_bind_param(&res, MYSQL_TYPE_DATETIME, &t, NULL);
    res.is_null = &isnull;
    if ((rc = run_stmt(ru, "read ferry_rollups",
                       "SELECT done_until FROM ferry_rollups WHERE name = ?", &in, &res, &found,
                       NULL, err, errlen)) < 0)
        return rc;
    if (!found && (rc = run_stmt(ru, "read the oldest row", ru->min_sql, NULL, &res, &found, NULL,
                                 err, errlen)) < 0)
        return rc;
    if (found && !isnull) { /* a whole window: done_until was the end of one, or config changed */
        *have = true;
        *from = ferry_rollup_window_start(from_mysql_time(&t), ru->window_ms);
    }
    return 0;
}

/* Fills [from, to) and records to as done_until, inside the caller's transaction. */
static int fill(struct rollup *ru, int64_t from, int64_t to, uint64_t *rows, char *err,
                size_t errlen)
{
    unsigned long nlen = strlen(ru->cfg->name);
    MYSQL_TIME t[2];
    MYSQL_BIND in[2];
    int rc;

    to_mysql_time(from, &t[0]);
    to_mysql_time(to, &t[1]);
    ferry_mysql_bind_param(&in[0], MYSQL_TYPE_DATETIME, &t[0], NULL);
    ferry_mysql_bind_param(&in[1], MYSQL_TYPE_DATETIME, &t[1], NULL);
    if ((rc = run_stmt(ru, "fill", ru->fill_sql, in, NULL, NULL, rows, err, errlen)) < 0)
        return rc;
    ferry_mysql_bind_param(&in[0], MYSQL_TYPE_STRING, ru->cfg->name, &nlen);
    ferry_mysql_bind_param(&in[1], MYSQL_TYPE_DATETIME, &t[1], NULL);
    return run_stmt(ru, "write ferry_rollups",
                    "INSERT INTO ferry_rollups (name, done_until) VALUES (?, ?)"
                    " ON DUPLICATE KEY UPDATE done_until = VALUES(done_until)",
                    in, NULL, NULL, NULL, err, errlen);
}

/* One rollup's transaction. *behind: windows are closed beyond what this run filled. */
static int run_one(struct rollup *ru, const char *fence_name, int64_t fence, int64_t now_ms,
                   bool *behind, char *err, size_t errlen)
{
    int64_t from, to, w = ru->window_ms;
    uint64_t rows = 0;
    bool raised = false, have, work;
    char a[32], b[32];
    int rc;

    *behind = false;
    if ((rc = ensure_open(ru, err, errlen)) < 0)
        return rc;
    if ((rc = check_fence(ru, fence_name, fence, &raised, err, errlen)) != 0 ||
        (rc = read_start(ru, &have, &from, err, errlen)) < 0)
        goto rollback;
    work = have && ferry_rollup_span(from, now_ms, ru->cfg->lateness_ms, w, &to, behind);
    /* a new leadership's token goes in even with nothing to fill: the old leader is fenced
     * off from then on, not only from the new one's first fill */
    if (!work && !raised)
        goto rollback;
    if (work && (rc = fill(ru, from, to, &rows, err, errlen)) < 0)
        goto rollback;
    if (mysql_commit(ru->db))
        return db_error(ru, NULL, "commit", err, errlen);
    if (!work)
        return 0;
    ferry_info("rollup", "%s: filled windows %s to %s of %s: %" PRIu64 " rows changed",
               ru->cfg->name, fmt_time(from, a, sizeof(a)), fmt_time(to, b, sizeof(b)),
               ru->cfg->table, rows);
    return 0;
rollback:
    if (ru->db)
        mysql_rollback(ru->db);
    return rc;
}

int ferry_rollups_run(struct ferry_rollups *r, int64_t fence, int64_t now_ms, int64_t *next_ms,
                      char *err, size_t errlen)
{
    int rc = 0;

    for (size_t i = 0; i < r->n && rc == 0; i++) {
        struct rollup *ru = &r->v[i];
        bool behind = false;
        if (ru->due_ms > now_ms)
            continue;
        rc = run_one(ru, r->fence_name, fence, now_ms, &behind, err, errlen);
        if (rc < 0)
            ru->due_ms =
                now_ms + (ru->cfg->interval_ms < FERRY_ROLLUP_RETRY_MS ? ru->cfg->interval_ms
                                                                       : FERRY_ROLLUP_RETRY_MS);
        else if (rc == 0)
            ru->due_ms = behind ? now_ms : now_ms + ru->cfg->interval_ms;
    }
    *next_ms = now_ms + 3600000;
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].due_ms < *next_ms)
            *next_ms = r->v[i].due_ms < now_ms ? now_ms : r->v[i].due_ms;
    return rc;
}
