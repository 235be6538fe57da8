/* Unit tests for typed column values (sinks/mapping.c): conversions from text, canonical text,
 * and whole mappings applied to parsed events.
 *
 * Expected epoch values were computed apart from the code under test (days since 1970-01-01
 * from the calendar, then the time of day, then the zone offset). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/err.h"
#include "ferry/mapping.h"

static char err[512];

static struct ferry_value parse_ok(enum ferry_column_type t, enum ferry_time_format fmt,
                                   const char *s)
{
    struct ferry_value v;
    err[0] = '\0';
    int rc = ferry_value_parse(t, fmt, s, strlen(s), &v, err, sizeof(err));
    if (rc != 0)
        fail_msg("'%s' as %s: %s", s, ferry_column_type_name(t), err);
    assert_false(v.null);
    assert_int_equal(v.type, t);
    return v;
}

/* Fails unless s is refused, with a message containing `want`. */
static void parse_bad(enum ferry_column_type t, enum ferry_time_format fmt, const char *s,
                      const char *want)
{
    struct ferry_value v;
    err[0] = '\0';
    assert_int_equal(ferry_value_parse(t, fmt, s, strlen(s), &v, err, sizeof(err)),
                     FERRY_ERR_INVALID);
    if (!strstr(err, want))
        fail_msg("'%s' as %s: message '%s' lacks '%s'", s, ferry_column_type_name(t), err, want);
}

static int64_t ms_of(enum ferry_time_format fmt, const char *s)
{
    return parse_ok(FERRY_COLUMN_DATETIME, fmt, s).i;
}

static const char *text_of(const struct ferry_value *v)
{
    static char buf[FERRY_VALUE_TEXT_MAX];
    ferry_value_format(v, buf);
    return buf;
}

static void integers(void **state)
{
    (void)state;
    assert_int_equal(parse_ok(FERRY_COLUMN_INT, 0, "42").i, 42);
    assert_int_equal(parse_ok(FERRY_COLUMN_INT, 0, "-7").i, -7);
    assert_int_equal(parse_ok(FERRY_COLUMN_INT, 0, "+3").i, 3);
    assert_int_equal(parse_ok(FERRY_COLUMN_INT, 0, "007").i, 7);
    assert_true(parse_ok(FERRY_COLUMN_INT, 0, "9223372036854775807").i == INT64_MAX);
    assert_true(parse_ok(FERRY_COLUMN_INT, 0, "-9223372036854775808").i == INT64_MIN);
    parse_bad(FERRY_COLUMN_INT, 0, "9223372036854775808", "out of range for a 64-bit integer");
    parse_bad(FERRY_COLUMN_INT, 0, "-9223372036854775809", "out of range");
    parse_bad(FERRY_COLUMN_INT, 0, "abc", "'abc' is not an integer");
    parse_bad(FERRY_COLUMN_INT, 0, "1.5", "is not an integer");
    parse_bad(FERRY_COLUMN_INT, 0, "1e3", "is not an integer");
    parse_bad(FERRY_COLUMN_INT, 0, " 1", "is not an integer");
    parse_bad(FERRY_COLUMN_INT, 0, "1 ", "is not an integer");
    parse_bad(FERRY_COLUMN_INT, 0, "-", "is not an integer");
    parse_bad(FERRY_COLUMN_INT, 0, "", "is not an integer");
    struct ferry_value v = parse_ok(FERRY_COLUMN_INT, 0, "-0042");
    assert_string_equal(text_of(&v), "-42");
}

static void floats(void **state)
{
    (void)state;
    assert_true(parse_ok(FERRY_COLUMN_FLOAT, 0, "1.5").f == 1.5);
    assert_true(parse_ok(FERRY_COLUMN_FLOAT, 0, "-0.25").f == -0.25);
    assert_true(parse_ok(FERRY_COLUMN_FLOAT, 0, "1e3").f == 1000.0);
    assert_true(parse_ok(FERRY_COLUMN_FLOAT, 0, "2.5E-1").f == 0.25);
    assert_true(parse_ok(FERRY_COLUMN_FLOAT, 0, ".5").f == 0.5);
    assert_true(parse_ok(FERRY_COLUMN_FLOAT, 0, "7").f == 7.0);
    parse_bad(FERRY_COLUMN_FLOAT, 0, "abc", "'abc' is not a number");
    parse_bad(FERRY_COLUMN_FLOAT, 0, "nan", "is not a number");
    parse_bad(FERRY_COLUMN_FLOAT, 0, "inf", "is not a number");
    parse_bad(FERRY_COLUMN_FLOAT, 0, "0x10", "is not a number");
    parse_bad(FERRY_COLUMN_FLOAT, 0, "1e", "is not a number");
    parse_bad(FERRY_COLUMN_FLOAT, 0, ".", "is not a number");
    parse_bad(FERRY_COLUMN_FLOAT, 0, "1e400", "out of range for a double");
    /* the canonical text is the shortest that reads back as the same double */
    struct ferry_value v = parse_ok(FERRY_COLUMN_FLOAT, 0, "0.1");
    assert_string_equal(text_of(&v), "0.1");
    v = parse_ok(FERRY_COLUMN_FLOAT, 0, "0.30000000000000004");
    assert_string_equal(text_of(&v), "0.30000000000000004");
    v = parse_ok(FERRY_COLUMN_FLOAT, 0, "1e21");
    assert_string_equal(text_of(&v), "1e+21");
}

static void booleans(void **state)
{
    static const char *const yes[] = {"true", "TRUE", "True", "yes", "YES", "1"};
    static const char *const no[] = {"false", "False", "no", "No", "0"};
    (void)state;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        struct ferry_value v = parse_ok(FERRY_COLUMN_BOOL, 0, yes[i]);
        assert_int_equal(v.i, 1);
        assert_string_equal(text_of(&v), "1");
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        struct ferry_value v = parse_ok(FERRY_COLUMN_BOOL, 0, no[i]);
        assert_int_equal(v.i, 0);
        assert_string_equal(text_of(&v), "0");
    }
    parse_bad(FERRY_COLUMN_BOOL, 0, "2", "'2' is not a boolean");
    parse_bad(FERRY_COLUMN_BOOL, 0, "y", "is not a boolean");
    parse_bad(FERRY_COLUMN_BOOL, 0, "truee", "is not a boolean");
    parse_bad(FERRY_COLUMN_BOOL, 0, "on", "is not a boolean");
}

static void iso8601(void **state)
{
    (void)state;
    assert_true(ms_of(FERRY_TIME_ISO8601, "2024-02-29T12:34:56Z") == 1709210096000);
    assert_true(ms_of(FERRY_TIME_ISO8601, "2024-02-29t12:34:56z") == 1709210096000);
    assert_true(ms_of(FERRY_TIME_ISO8601, "2024-02-29 12:34:56") == 1709210096000);
    assert_true(ms_of(FERRY_TIME_ISO8601, "2024-02-29T12:34:56.789+02:00") == 1709202896789);
    assert_true(ms_of(FERRY_TIME_ISO8601, "2024-02-29T12:34:56,789+0200") == 1709202896789);
    assert_true(ms_of(FERRY_TIME_ISO8601, "2024-02-29T12:34:56.789+02") == 1709202896789);
    assert_true(ms_of(FERRY_TIME_ISO8601, "2024-02-29T18:04:56+05:30") == 1709210096000);
    /* finer than a millisecond: dropped, not rounded */
    assert_true(ms_of(FERRY_TIME_ISO8601, "2024-02-29T12:34:56.9999Z") == 1709210096999);
    assert_true(ms_of(FERRY_TIME_ISO8601, "2024-02-29T12:34:56.5Z") == 1709210096500);
    assert_true(ms_of(FERRY_TIME_ISO8601, "2024-02-29T12:34Z") == 1709210040000);
    assert_true(ms_of(FERRY_TIME_ISO8601, "2024-01-01") == 1704067200000);
    assert_true(ms_of(FERRY_TIME_ISO8601, "2023-12-31T23:59:60Z") == 1704067200000);
    assert_true(ms_of(FERRY_TIME_AUTO, "2026-11-25T18:31:41Z") == 1795631501000);
    parse_bad(FERRY_COLUMN_DATETIME, FERRY_TIME_ISO8601, "2023-02-29", "is not an ISO 8601");
    parse_bad(FERRY_COLUMN_DATETIME, FERRY_TIME_ISO8601, "2024-13-01", "is not an ISO 8601");
    parse_bad(FERRY_COLUMN_DATETIME, FERRY_TIME_ISO8601, "2024-04-31", "is not");
    parse_bad(FERRY_COLUMN_DATETIME, FERRY_TIME_ISO8601, "2024-01-01T24:00:00", "is not");
    parse_bad(FERRY_COLUMN_DATETIME, FERRY_TIME_ISO8601, "2024-01-01T12:60", "is not");
    parse_bad(FERRY_COLUMN_DATETIME, FERRY_TIME_ISO8601, "2024-01-01T12:00:00+15:00", "is not");
    parse_bad(FERRY_COLUMN_DATETIME, FERRY_TIME_ISO8601, "2024-01-01T12:00:00.Z", "is not");
    parse_bad(FERRY_COLUMN_DATETIME, FERRY_TIME_ISO8601, "2024-01-01T12:00:00Zjunk", "is not");
    parse_bad(FERRY_COLUMN_DATETIME, FERRY_TIME_ISO8601, "2024-1-01", "is not");
    parse_bad(FERRY_COLUMN_DATETIME, FERRY_TIME_AUTO, "yesterday",
              "'yesterday' is not a date and time (ISO 8601 or access-log time)");
    parse_bad(FERRY_COLUMN_DATETIME, FERRY_TIME_AUTO, "1700000000", "is not a date and time");
}

static void datetime_range(void **state)
{
    (void)state;
    struct ferry_value v = parse_ok(FERRY_COLUMN_DATETIME, 0, "1000-01-01T00:00:00Z");
    assert_true(v.i == -30610224000000);
    assert_string_equal(text_of(&v), "1000-01-01 00:00:00.000");
    v = parse_ok(FERRY_COLUMN_DATETIME, 0, "9999-12-31T23:59:59.999Z");
    assert_true(v.i == 253402300799999);
    assert_string_equal(text_of(&v), "9999-12-31 23:59:59.999");
    parse_bad(FERRY_COLUMN_DATETIME, 0, "0999-12-31T23:59:59Z",
              "is out of the DATETIME range (years 1000 to 9999)");
    parse_bad(FERRY_COLUMN_DATETIME, 0, "9999-12-31T23:30:00-01:00", "out of the DATETIME range");
    parse_bad(FERRY_COLUMN_DATETIME, FERRY_TIME_EPOCH_S, "99999999999999", "out of the DATETIME");
    parse_bad(FERRY_COLUMN_DATETIME, FERRY_TIME_EPOCH_MS, "99999999999999999999999", "out of");
}

static void clf_and_epochs(void **state)
{
    (void)state;
    assert_true(ms_of(FERRY_TIME_CLF, "10/Oct/2000:13:55:36 -0700") == 971211336000);
    assert_true(ms_of(FERRY_TIME_AUTO, "10/Oct/2000:13:55:36 -0700") == 971211336000);
    parse_bad(FERRY_COLUMN_DATETIME, FERRY_TIME_CLF, "31/Feb/2000:13:55:36 -0700",
              "is not an access-log time");
    parse_bad(FERRY_COLUMN_DATETIME, FERRY_TIME_CLF, "2000-10-10T13:55:36Z", "access-log");
    assert_true(ms_of(FERRY_TIME_EPOCH_S, "1700000000") == 1700000000000);
    assert_true(ms_of(FERRY_TIME_EPOCH_S, "1700000000.5") == 1700000000500);
    assert_true(ms_of(FERRY_TIME_EPOCH_S, "1700000000.123456") == 1700000000123);
    assert_true(ms_of(FERRY_TIME_EPOCH_S, "-1.5") == -1500);
    assert_true(ms_of(FERRY_TIME_EPOCH_MS, "1700000000123") == 1700000000123);
    assert_true(ms_of(FERRY_TIME_EPOCH_MS, "1700000000123.9") == 1700000000123);
    parse_bad(FERRY_COLUMN_DATETIME, FERRY_TIME_EPOCH_S, "abc",
              "'abc' is not a number of seconds since the epoch");
    parse_bad(FERRY_COLUMN_DATETIME, FERRY_TIME_EPOCH_MS, "1e12", "milliseconds since the epoch");
    parse_bad(FERRY_COLUMN_DATETIME, FERRY_TIME_EPOCH_S, "1.", "is not");
}

static void datetime_text(void **state)
{
    struct ferry_value v = {.type = FERRY_COLUMN_DATETIME};
    (void)state;
    v.i = 1709202896789;
    assert_string_equal(text_of(&v), "2024-02-29 10:34:56.789");
    v.i = -1;
    assert_string_equal(text_of(&v), "1969-12-31 23:59:59.999");
    v.i = 0;
    assert_string_equal(text_of(&v), "1970-01-01 00:00:00.000");
    v.i = 951782400000; /* 2000-02-29, a leap day of a century leap year */
    assert_string_equal(text_of(&v), "2000-02-29 00:00:00.000");
    v.null = true;
    assert_int_equal(ferry_value_format(&v, (char[FERRY_VALUE_TEXT_MAX]){0}), 0);
}

static void json_text(void **state)
{
    (void)state;
    struct ferry_value v = parse_ok(FERRY_COLUMN_JSON, 0, "{\"a\": [1, 2]}");
    assert_int_equal(v.len, 13);
    parse_ok(FERRY_COLUMN_JSON, 0, "\"text\"");
    parse_ok(FERRY_COLUMN_JSON, 0, "12");
    parse_bad(FERRY_COLUMN_JSON, 0, "{a: 1}", "is not valid JSON");
    parse_bad(FERRY_COLUMN_JSON, 0, "hello", "'hello' is not valid JSON");
    v = parse_ok(FERRY_COLUMN_STRING, 0, "any\ttext");
    assert_int_equal(v.len, 8);
    assert_int_equal(ferry_value_format(&v, (char[FERRY_VALUE_TEXT_MAX]){0}), 0);
}

/* ---- mappings --------------------------------------------------------------------------- */

struct fx {
    struct ferry_parser *p;
    struct ferry_fields f;
    struct ferry_mapping *m;
    struct ferry_value v[16];
    rd_kafka_headers_t *h;
};

static int teardown(void **state)
{
    struct fx *x = *state;
    ferry_mapping_destroy(x->m);
    ferry_fields_release(&x->f);
    ferry_parser_destroy(x->p);
    if (x->h)
        rd_kafka_headers_destroy(x->h);
    free(x);
    return 0;
}

static struct fx *fixture(void **state, enum ferry_format format,
                          const struct ferry_column_config *cols, size_t n)
{
    struct fx *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    *state = x;
    x->p = NULL;
    ferry_parser_new(&x->p, format, NULL, err, sizeof(err));
    assert_non_null(x->p);
    x->m = NULL;
    ferry_mapping_new(&x->m, cols, n, err, sizeof(err));
    if (!x->m)
        fail_msg("mapping: %s", err);
    return x;
}

static int apply(struct fx *x, const char *event, int64_t kafka_ts)
{
    char perr[256];
    assert_int_equal(
        ferry_fields_parse(x->p, &x->f, event, strlen(event), kafka_ts, perr, sizeof(perr)), 0);
    ferry_fields_set_meta(&x->f, "web-logs", 3, 1234);
    ferry_fields_set_headers(&x->f, x->h);
    err[0] = '\0';
    return ferry_mapping_apply(x->m, &x->f, x->v, err, sizeof(err));
}

static void assert_text(const struct ferry_value *v, const char *want)
{
    assert_false(v->null);
    if (v->len != strlen(want) || memcmp(v->s, want, v->len))
        fail_msg("value '%.*s', want '%s'", (int)v->len, v->s, want);
}

#define COL(n, f, t)                                                                               \
    {                                                                                              \
        .name = n, .field = f, .type = t, .null = true                                             \
    }
#define DT(n, f, fmt)                                                                              \
    {                                                                                              \
        .name = n, .field = f, .type = FERRY_COLUMN_DATETIME, .time_format = fmt, .null = true     \
    }

static void json_event(void **state)
{
    static const struct ferry_column_config cols[] = {
        COL("status", "status", FERRY_COLUMN_INT),   COL("n", "n", FERRY_COLUMN_INT),
        COL("ok", "ok", FERRY_COLUMN_BOOL),          COL("obj", "obj", FERRY_COLUMN_JSON),
        COL("s_json", "s", FERRY_COLUMN_JSON),       COL("s", "s", FERRY_COLUMN_STRING),
        COL("ratio", "ratio", FERRY_COLUMN_FLOAT),   DT("t", "t", FERRY_TIME_AUTO),
        COL("empty", "e", FERRY_COLUMN_INT),         COL("gone", "absent", FERRY_COLUMN_INT),
        COL("obj_text", "obj", FERRY_COLUMN_STRING), COL("nul", "nul", FERRY_COLUMN_JSON),
    };
    struct fx *x = fixture(state, FERRY_FORMAT_JSON, cols, sizeof(cols) / sizeof(cols[0]));
    assert_int_equal(apply(x,
                           "{\"status\":\"200\",\"n\":5,\"ok\":true,\"obj\":{\"x\":[1,2]},"
                           "\"s\":\"hi\",\"ratio\":0.5,\"t\":\"2024-02-29T12:34:56Z\","
                           "\"e\":\"\",\"nul\":null}",
                           -1),
                     0);
    assert_int_equal(x->v[0].i, 200);
    assert_int_equal(x->v[1].i, 5);
    assert_int_equal(x->v[2].i, 1);
    assert_text(&x->v[3], "{\"x\":[1,2]}");
    assert_text(&x->v[4], "\"hi\""); /* a JSON column keeps the member's JSON */
    assert_text(&x->v[5], "hi");
    assert_true(x->v[6].f == 0.5);
    assert_true(x->v[7].i == 1709210096000);
    assert_true(x->v[8].null); /* empty text: a missing value for a typed column */
    assert_true(x->v[9].null);
    assert_text(&x->v[10], "{\"x\":[1,2]}");
    assert_true(x->v[11].null);
}

static void rejects_name_column_and_value(void **state)
{
    static const struct ferry_column_config cols[] = {
        COL("s", "s", FERRY_COLUMN_STRING),
        COL("status", "code", FERRY_COLUMN_INT),
    };
    struct fx *x = fixture(state, FERRY_FORMAT_JSON, cols, 2);
    assert_int_equal(apply(x, "{\"s\":\"a\",\"code\":\"abc\"}", -1), FERRY_ERR_INVALID);
    assert_string_equal(err, "column status: 'abc' is not an integer");
    assert_int_equal(apply(x, "{\"s\":\"a\",\"code\":\"2024-02-30\"}", -1), FERRY_ERR_INVALID);
    assert_string_equal(err, "column status: '2024-02-30' is not an integer");
    assert_int_equal(apply(x, "{\"code\":12}", -1), 0);
    assert_true(x->v[0].null);
    assert_int_equal(x->v[1].i, 12);
}

static void defaults_and_not_null(void **state)
{
    static const struct ferry_column_config cols[] = {
        {.name = "bytes", .field = "bytes", .type = FERRY_COLUMN_INT, .def = "0", .null = true},
        {.name = "country", .field = "cc", .type = FERRY_COLUMN_STRING, .def = "--", .null = true},
        {.name = "user", .field = "user", .type = FERRY_COLUMN_INT, .null = false},
        {.name = "seen",
         .field = "seen",
         .type = FERRY_COLUMN_DATETIME,
         .def = "2024-01-01",
         .null = false},
    };
    struct fx *x = fixture(state, FERRY_FORMAT_JSON, cols, 4);
    assert_int_equal(apply(x, "{\"user\":7,\"bytes\":\"-\"}", -1), 0);
    assert_int_equal(x->v[0].i, 0);
    assert_text(&x->v[1], "--");
    assert_int_equal(x->v[2].i, 7);
    assert_true(x->v[3].i == 1704067200000);
    assert_int_equal(apply(x, "{\"bytes\":9}", -1), FERRY_ERR_INVALID);
    assert_string_equal(err, "column user: field 'user' is missing");
}

static void bad_default_is_refused(void **state)
{
    static const struct ferry_column_config cols[] = {
        {.name = "n", .field = "n", .type = FERRY_COLUMN_INT, .def = "zero", .null = true},
    };
    struct ferry_mapping *m = NULL;
    (void)state;
    assert_int_equal(ferry_mapping_new(&m, cols, 1, err, sizeof(err)), FERRY_ERR_INVALID);
    assert_string_equal(err, "column n: default 'zero' is not an integer");
}

static void metadata_fields(void **state)
{
    static const struct ferry_column_config cols[] = {
        COL("topic", "topic", FERRY_COLUMN_STRING),
        COL("part", "partition", FERRY_COLUMN_INT),
        COL("off", "offset", FERRY_COLUMN_INT),
        DT("kts", "kafka_timestamp", FERRY_TIME_AUTO),
        COL("trace", "header.trace", FERRY_COLUMN_STRING),
        COL("attempt", "header.attempt", FERRY_COLUMN_INT),
        COL("nohdr", "header.nothing", FERRY_COLUMN_STRING),
        COL("meta_json", "header.doc", FERRY_COLUMN_JSON),
    };
    struct fx *x = fixture(state, FERRY_FORMAT_JSON, cols, sizeof(cols) / sizeof(cols[0]));
    x->h = rd_kafka_headers_new(4);
    rd_kafka_header_add(x->h, "trace", -1, "abc-123", 7);
    rd_kafka_header_add(x->h, "attempt", -1, "1", 1);
    rd_kafka_header_add(x->h, "attempt", -1, "2", 1); /* the last one counts */
    rd_kafka_header_add(x->h, "doc", -1, "[1,true]", 8);
    /* metadata wins over a member of the same name */
    assert_int_equal(apply(x, "{\"topic\":\"other\",\"doc\":{\"a\":1}}", 1709210096789), 0);
    assert_text(&x->v[0], "web-logs");
    assert_int_equal(x->v[1].i, 3);
    assert_int_equal(x->v[2].i, 1234);
    assert_true(x->v[3].i == 1709210096789);
    assert_text(&x->v[4], "abc-123");
    assert_int_equal(x->v[5].i, 2);
    assert_true(x->v[6].null);
    assert_text(&x->v[7], "[1,true]");
    assert_int_equal(apply(x, "{}", -1), 0); /* no Kafka timestamp: NULL */
    assert_true(x->v[3].null);
}

static void access_log_event(void **state)
{
    static const struct ferry_column_config cols[] = {
        DT("at", "time", FERRY_TIME_AUTO),
        COL("status", "status", FERRY_COLUMN_INT),
        COL("bytes", "bytes", FERRY_COLUMN_INT),
        DT("ts", "ts", FERRY_TIME_AUTO),
    };
    struct fx *x = fixture(state, FERRY_FORMAT_COMBINED, cols, 4);
    assert_int_equal(apply(x,
                           "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /a.gif "
                           "HTTP/1.0\" 304 - \"-\" \"curl/8\"",
                           5),
                     0);
    assert_true(x->v[0].i == 971211336000);
    assert_int_equal(x->v[1].i, 304);
    assert_true(x->v[2].null); /* "-": no body */
    assert_true(x->v[3].i == 971211336000);
    char buf[FERRY_VALUE_TEXT_MAX];
    ferry_value_format(&x->v[0], buf);
    assert_string_equal(buf, "2000-10-10 20:55:36.000");
}

static void time_format_of_metadata(void **state)
{
    struct ferry_column_config c = {.name = "a", .field = "ts", .type = FERRY_COLUMN_DATETIME};
    (void)state;
    /* ts: the metadata's milliseconds, or an event's own date and time */
    assert_int_equal(ferry_column_time_format(&c), FERRY_TIME_AUTO_OR_MS);
    assert_true(ms_of(FERRY_TIME_AUTO_OR_MS, "1700000000123") == 1700000000123);
    assert_true(ms_of(FERRY_TIME_AUTO_OR_MS, "2023-11-14T22:13:20.123Z") == 1700000000123);
    assert_true(ms_of(FERRY_TIME_AUTO_OR_MS, "14/Nov/2023:22:13:20 +0000") == 1700000000000);
    parse_bad(FERRY_COLUMN_DATETIME, FERRY_TIME_AUTO_OR_MS, "soon",
              "is not a date and time, or milliseconds since the epoch");
    c.field = "kafka_timestamp";
    assert_int_equal(ferry_column_time_format(&c), FERRY_TIME_EPOCH_MS);
    c.field = "when";
    assert_int_equal(ferry_column_time_format(&c), FERRY_TIME_AUTO);
    c.field = "ts";
    c.time_format = FERRY_TIME_EPOCH_S;
    assert_int_equal(ferry_column_time_format(&c), FERRY_TIME_EPOCH_S);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(integers),
        cmocka_unit_test(floats),
        cmocka_unit_test(booleans),
        cmocka_unit_test(iso8601),
        cmocka_unit_test(datetime_range),
        cmocka_unit_test(clf_and_epochs),
        cmocka_unit_test(datetime_text),
        cmocka_unit_test(json_text),
        cmocka_unit_test_teardown(json_event, teardown),
        cmocka_unit_test_teardown(rejects_name_column_and_value, teardown),
        cmocka_unit_test_teardown(defaults_and_not_null, teardown),
        cmocka_unit_test(bad_default_is_refused),
        cmocka_unit_test_teardown(metadata_fields, teardown),
        cmocka_unit_test_teardown(access_log_event, teardown),
        cmocka_unit_test(time_format_of_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
