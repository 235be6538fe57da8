/* Unit tests for the LOAD DATA file (ferry_mysql_load_append, sinks/mysql_rows.c) and the
 * FIELDS/LINES clauses of the statement (FERRY_MYSQL_LOAD_FORMAT, used by sinks/mysql.c).
 *
 * What ferry writes is read back by a decoder written here from MariaDB's rules for LOAD DATA
 * (sql/sql_load.cc, READ_INFO::read_field and read_sep_field; the manual's "LOAD DATA
 * INFILE"), driven by the terminators the statement itself declares: a field ends at an
 * unescaped field terminator, a row at an unescaped line terminator; the escape character
 * followed by 0 b n r t Z gives NUL, backspace, newline, carriage return, tab, Ctrl-Z, and
 * followed by anything else gives that byte; a field that is exactly the escape character and
 * N is NULL (with ENCLOSED BY '' the word NULL is just text). Bytes of UTF-8 characters are
 * all 0x80 or above, so reading byte by byte is what the server does for valid utf8mb4. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../sinks/mysql.h"
#include "ferry/err.h"
#include "test_rng.h"

/* ---- the statement's clauses --------------------------------------------------------------- */

struct load_format {
    char field_term, line_term, escape;
    bool enclosed, starting; /* a non-empty ENCLOSED BY or LINES STARTING BY */
};

/* The value of the SQL string literal after `keyword` in the clause, decoded as MariaDB reads
 * a string literal ('\t' tab, '\n' newline, '\\' backslash). Returns its length. */
static size_t clause_literal(const char *clause, const char *keyword, char *out)
{
    const char *at = strstr(clause, keyword);
    if (!at)
        fail_msg("the LOAD DATA clause has no %s: %s", keyword, clause);
    at += strlen(keyword);
    while (*at == ' ')
        at++;
    assert_int_equal(*at, '\'');
    size_t n = 0;
    for (at++; *at != '\''; at++) {
        assert_true(*at != '\0');
        char c = *at;
        if (c == '\\') {
            c = *++at;
            c = c == 't' ? '\t' : c == 'n' ? '\n' : c == '0' ? '\0' : c;
        }
        out[n++] = c;
    }
    return n;
}

static struct load_format declared_format(void)
{
    const char *clause = FERRY_MYSQL_LOAD_FORMAT;
    char v[16];
    struct load_format f;
    assert_int_equal(clause_literal(clause, "FIELDS TERMINATED BY", v), 1);
    f.field_term = v[0];
    f.enclosed = clause_literal(clause, "ENCLOSED BY", v) != 0;
    assert_int_equal(clause_literal(clause, "ESCAPED BY", v), 1);
    f.escape = v[0];
    assert_int_equal(clause_literal(clause, "LINES TERMINATED BY", v), 1);
    f.line_term = v[0];
    f.starting = clause_literal(clause, "STARTING BY", v) != 0;
    return f;
}

static void statement_declares_the_format_the_file_has(void **state)
{
    (void)state;
    struct load_format f = declared_format();
    assert_int_equal(f.field_term, '\t');
    assert_int_equal(f.line_term, '\n');
    assert_int_equal(f.escape, '\\');
    assert_false(f.enclosed); /* "NULL" then stays text, and no quote needs escaping */
    assert_false(f.starting);
    /* no OPTIONALLY, no IGNORE n LINES: every row of the file is a row of the table */
    assert_null(strstr(FERRY_MYSQL_LOAD_FORMAT, "OPTIONALLY"));
    assert_null(strstr(FERRY_MYSQL_LOAD_FORMAT, "IGNORE"));
}

/* ---- the decoder ----------------------------------------------------------------------- */

struct field {
    bool null;
    char v[8192];
    size_t len;
};

static char unescape(char c, bool *found_null)
{
    switch (c) {
    case '0':
        return '\0';
    case 'b':
        return '\b';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'Z':
        return '\032';
    case 'N':
        *found_null = true;
        return 'N';
    default:
        return c;
    }
}

/* Reads rows of the file as the server would: *nrows rows of ncols fields into out (row
 * major). Fails the test on a row with another number of fields. */
static size_t decode(const char *p, size_t n, size_t ncols, struct field *out, size_t max)
{
    struct load_format f = declared_format();
    size_t at = 0, rows = 0;
    while (at < n) {
        assert_true(rows < max);
        for (size_t c = 0; c < ncols; c++) {
            struct field *x = &out[rows * ncols + c];
            bool found_null = false, end_of_line = false;
            x->len = 0;
            for (;;) {
                assert_true(at < n); /* the file ends with a line terminator */
                char ch = p[at++];
                if (ch == f.escape) {
                    assert_true(at < n);
                    ch = unescape(p[at++], &found_null);
                } else if (ch == f.field_term) {
                    break;
                } else if (ch == f.line_term) {
                    end_of_line = true;
                    break;
                }
                assert_true(x->len < sizeof(x->v));
                x->v[x->len++] = ch;
            }
            x->null = found_null && x->len == 1;
            if (end_of_line != (c == ncols - 1))
                fail_msg("row %zu: field %zu %s the line", rows, c,
                         end_of_line ? "ends" : "does not end");
        }
        rows++;
    }
    return rows;
}

/* ---- building rows --------------------------------------------------------------------- */

#define MAXCELLS 4096

static size_t used; /* cells of the table being built */

struct table {
    struct ferry_mysql_rows r;
    struct ferry_mysql_cell cells[MAXCELLS];
};

static void table_init(struct table *t, size_t ncols)
{
    memset(t, 0, sizeof(*t));
    t->r.ncols = ncols;
    t->r.cells = t->cells;
    used = 0;
}

static void text_cell(struct table *t, enum ferry_column_type type, const char *p, size_t len,
                      bool copy)
{
    struct ferry_mysql_cell *c = &t->cells[used++];
    c->type = type;
    c->len = len;
    if (copy) { /* held in the rows' own storage, as copy_text does */
        c->p = NULL;
        c->off = t->r.text.len;
        assert_int_equal(ferry_buf_add(&t->r.text, p, len), 0);
    } else {
        c->p = p;
    }
}

static void null_cell(struct table *t, enum ferry_column_type type)
{
    struct ferry_mysql_cell *c = &t->cells[used++];
    c->type = type;
    c->null = true;
}

static void int_cell(struct table *t, enum ferry_column_type type, int64_t v)
{
    struct ferry_mysql_cell *c = &t->cells[used++];
    c->type = type;
    c->i = v;
}

static void float_cell(struct table *t, double v)
{
    struct ferry_mysql_cell *c = &t->cells[used++];
    c->type = FERRY_COLUMN_FLOAT;
    c->f = v;
}

static void end_row(struct table *t)
{
    t->r.n++;
    assert_int_equal(used, t->r.n * t->r.ncols);
}

static struct ferry_buf serialize_all(struct table *t)
{
    struct ferry_buf b = {0};
    assert_int_equal(ferry_mysql_load_append(&b, &t->r, 0, t->r.n * t->r.ncols), 0);
    return b;
}

static void table_release(struct table *t)
{
    ferry_buf_release(&t->r.text);
    used = 0;
}

static struct field fields[MAXCELLS];

static void expect_text(const struct field *f, const char *p, size_t len)
{
    assert_false(f->null);
    assert_int_equal(f->len, len);
    assert_memory_equal(f->v, p, len);
}

/* One string column holding `value`: what the file holds, and what the server reads. */
static void one_value(const char *value, size_t len, const char *want_file, size_t want_len)
{
    struct table t;
    table_init(&t, 1);
    text_cell(&t, FERRY_COLUMN_STRING, value, len, false);
    end_row(&t);
    struct ferry_buf b = serialize_all(&t);
    assert_int_equal(b.len, want_len);
    assert_memory_equal(b.p, want_file, want_len);
    assert_int_equal(decode(b.p, b.len, 1, fields, 1), 1);
    expect_text(&fields[0], value, len);
    ferry_buf_release(&b);
    table_release(&t);
}

#define ONE(v, file) one_value(v, sizeof(v) - 1, file, sizeof(file) - 1)

static void each_special_byte_is_escaped(void **state)
{
    (void)state;
    ONE("\t", "\\t\n");
    ONE("\n", "\\n\n");
    ONE("\\", "\\\\\n");
    ONE("\r", "\\r\n");
    ONE("\0", "\\0\n");
    ONE("a\tb\nc\\d\re\0f", "a\\tb\\nc\\\\d\\re\\0f\n");
    /* at the start and at the end of a value */
    ONE("\tx\t", "\\tx\\t\n");
    ONE("x\\", "x\\\\\n"); /* a last backslash must not escape the row's newline */
    ONE("\\\\\\", "\\\\\\\\\\\\\n");
    ONE("\\\t", "\\\\\\t\n");
}

static void ordinary_bytes_are_written_as_they_are(void **state)
{
    (void)state;
    ONE("plain", "plain\n");
    ONE("", "\n");
    /* what the server would unescape were it behind a backslash, here on their own */
    ONE("0bnrtZN", "0bnrtZN\n");
    ONE("\b\032", "\b\032\n");
    ONE("'\"`,;", "'\"`,;\n");
    ONE("Zo\xc3\xab \xe6\x97\xa5 \xf0\x9f\x98\x80", "Zo\xc3\xab \xe6\x97\xa5 \xf0\x9f\x98\x80\n");
}

static void null_and_the_text_backslash_n_differ(void **state)
{
    (void)state;
    struct table t;
    table_init(&t, 6);
    null_cell(&t, FERRY_COLUMN_STRING);
    text_cell(&t, FERRY_COLUMN_STRING, "\\N", 2, false);
    text_cell(&t, FERRY_COLUMN_STRING, "N", 1, false);
    text_cell(&t, FERRY_COLUMN_STRING, "NULL", 4, true);
    text_cell(&t, FERRY_COLUMN_STRING, "", 0, false);
    null_cell(&t, FERRY_COLUMN_INT);
    end_row(&t);
    struct ferry_buf b = serialize_all(&t);
    static const char want[] = "\\N\t\\\\N\tN\tNULL\t\t\\N\n";
    assert_int_equal(b.len, sizeof(want) - 1);
    assert_memory_equal(b.p, want, sizeof(want) - 1);
    assert_int_equal(decode(b.p, b.len, 6, fields, 1), 1);
    assert_true(fields[0].null);
    expect_text(&fields[1], "\\N", 2);
    expect_text(&fields[2], "N", 1);
    expect_text(&fields[3], "NULL", 4);
    expect_text(&fields[4], "", 0); /* an empty string, not NULL */
    assert_true(fields[5].null);
    ferry_buf_release(&b);
    table_release(&t);
}

static void every_byte_value_round_trips(void **state)
{
    (void)state;
    char all[256 * 3];
    for (int i = 0; i < 256 * 3; i++)
        all[i] = (char)(i % 256);
    struct table t;
    table_init(&t, 2);
    text_cell(&t, FERRY_COLUMN_STRING, all, sizeof(all), false);
    text_cell(&t, FERRY_COLUMN_JSON, all + 1, sizeof(all) - 1, true);
    end_row(&t);
    struct ferry_buf b = serialize_all(&t);
    assert_int_equal(decode(b.p, b.len, 2, fields, 1), 1);
    expect_text(&fields[0], all, sizeof(all));
    expect_text(&fields[1], all + 1, sizeof(all) - 1);
    /* only the two terminators are bare in the file: one tab, one newline */
    size_t tabs = 0, newlines = 0;
    for (size_t i = 0; i < b.len; i++) {
        tabs += b.p[i] == '\t';
        newlines += b.p[i] == '\n';
        assert_true(b.p[i] != '\0' && b.p[i] != '\r');
    }
    assert_int_equal(tabs, 1);
    assert_int_equal(newlines, 1);
    ferry_buf_release(&b);
    table_release(&t);
}

static void numbers_are_written_in_full(void **state)
{
    (void)state;
    static const int64_t ints[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN};
    static const double floats[] = {0.0,       -0.0,    0.1,     1.0 / 3,
                                    -2.5e-300, DBL_MAX, DBL_MIN, 123456789.125};
    struct table t;
    table_init(&t, 4);
    for (size_t i = 0; i < 8; i++) {
        int_cell(&t, FERRY_COLUMN_INT, ints[i % 6]);
        int_cell(&t, FERRY_COLUMN_BOOL, (int64_t)(i % 2));
        float_cell(&t, floats[i]);
        text_cell(&t, FERRY_COLUMN_FLOAT, "1.50", 4, false); /* a float as written */
        end_row(&t);
    }
    struct ferry_buf b = serialize_all(&t);
    assert_int_equal(decode(b.p, b.len, 4, fields, 8), 8);
    for (size_t i = 0; i < 8; i++) {
        char want[32];
        struct field *f = &fields[i * 4];
        snprintf(want, sizeof(want), "%lld", (long long)ints[i % 6]);
        expect_text(&f[0], want, strlen(want));
        expect_text(&f[1], i % 2 ? "1" : "0", 1);
        f[2].v[f[2].len] = '\0';
        double back = strtod(f[2].v, NULL);
        assert_memory_equal(&back, &floats[i], sizeof(back)); /* the same double, -0 too */
        expect_text(&f[3], "1.50", 4);
    }
    ferry_buf_release(&b);
    table_release(&t);
}

static void rows_appended_in_parts_are_the_same_file(void **state)
{
    (void)state;
    struct table t;
    table_init(&t, 3);
    for (int i = 0; i < 10; i++) {
        char v[32];
        int n = snprintf(v, sizeof(v), "row\t%d\\", i);
        text_cell(&t, FERRY_COLUMN_STRING, v, (size_t)n, true);
        int_cell(&t, FERRY_COLUMN_INT, i);
        if (i % 3)
            null_cell(&t, FERRY_COLUMN_DATETIME);
        else
            text_cell(&t, FERRY_COLUMN_DATETIME, "2026-11-25 18:31:41.123", 23, false);
        end_row(&t);
    }
    struct ferry_buf whole = serialize_all(&t), parts = {0};
    assert_int_equal(ferry_mysql_load_append(&parts, &t.r, 0, 3 * 3), 0);
    assert_int_equal(ferry_mysql_load_append(&parts, &t.r, 3 * 3, 4 * 3), 0);
    assert_int_equal(ferry_mysql_load_append(&parts, &t.r, 4 * 3, 10 * 3), 0);
    assert_int_equal(parts.len, whole.len);
    assert_memory_equal(parts.p, whole.p, whole.len);
    assert_int_equal(decode(whole.p, whole.len, 3, fields, 10), 10);
    for (int i = 0; i < 10; i++) {
        char v[32];
        int n = snprintf(v, sizeof(v), "row\t%d\\", i);
        expect_text(&fields[i * 3], v, (size_t)n);
        assert_int_equal(fields[i * 3 + 2].null, i % 3 != 0);
    }
    ferry_buf_release(&whole);
    ferry_buf_release(&parts);
    table_release(&t);
}

/* Seeded random rows of random bytes (weighted towards the special ones), some NULL, some
 * long: each reads back as it was, and the buffer's size estimate holds (ASan build). */
static void random_rows_round_trip(void **state)
{
    (void)state;
    static const char special[] = {'\t', '\n', '\\', '\r', '\0', 'N', '0', 'n', 't', '\032'};
    static char values[MAXCELLS][64];
    static size_t lens[MAXCELLS];
    static bool nulls[MAXCELLS];
    rng_seed(20261125);
    for (int round = 0; round < 50; round++) {
        struct table t;
        size_t ncols = 1 + round % 7, nrows = 1 + (size_t)(round * 37 % 200);
        if (nrows * ncols > MAXCELLS)
            nrows = MAXCELLS / ncols;
        table_init(&t, ncols);
        for (size_t k = 0; k < nrows * ncols; k++) {
            uint64_t x = rng_next();
            nulls[k] = x % 11 == 0;
            lens[k] = (size_t)(x >> 8) % sizeof(values[k]);
            for (size_t i = 0; i < lens[k]; i++) {
                x = rng_next();
                values[k][i] = x % 3 ? special[x % sizeof(special)] : (char)(x >> 16);
            }
            if (nulls[k])
                null_cell(&t, FERRY_COLUMN_STRING);
            else
                text_cell(&t, FERRY_COLUMN_STRING, values[k], lens[k], k % 2);
            if ((k + 1) % ncols == 0)
                end_row(&t);
        }
        struct ferry_buf b = serialize_all(&t);
        assert_int_equal(decode(b.p, b.len, ncols, fields, nrows), nrows);
        for (size_t k = 0; k < nrows * ncols; k++) {
            if (nulls[k])
                assert_true(fields[k].null);
            else
                expect_text(&fields[k], values[k], lens[k]);
        }
        ferry_buf_release(&b);
        table_release(&t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(statement_declares_the_format_the_file_has),
        cmocka_unit_test(each_special_byte_is_escaped),
        cmocka_unit_test(ordinary_bytes_are_written_as_they_are),
        cmocka_unit_test(null_and_the_text_backslash_n_differ),
        cmocka_unit_test(every_byte_value_round_trips),
        cmocka_unit_test(numbers_are_written_in_full),
        cmocka_unit_test(rows_appended_in_parts_are_the_same_file),
        cmocka_unit_test(random_rows_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
