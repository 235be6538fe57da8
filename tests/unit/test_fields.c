/* Unit tests for event parsing and command templates (sinks/fields.c).
 *
 * Expected epoch values were worked out by hand from the calendar (days since 1970-01-01,
 * then the time of day, then the zone offset), not taken from the code under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/err.h"
#include "ferry/fields.h"

struct fx {
    struct ferry_parser *p;
    struct ferry_fields f;
    char err[512];
};

static int setup_parser(void **state, enum ferry_format format, const char *pattern)
{
    struct fx *x = calloc(1, sizeof(*x));
    if (!x)
        return -1;
    x->p = NULL;
    ferry_parser_new(&x->p, format, pattern, x->err, sizeof(x->err));
    if (!x->p) {
        free(x);
        return -1;
    }
    *state = x;
    return 0;
}

static int setup_format(void **state, enum ferry_format format)
{
    return setup_parser(state, format, NULL);
}

/* an optional group (port) and a group that can match an empty text (msg) */
static const char regex_pattern[] =
    "^(?<level>[A-Z]+) (?<host>[a-z0-9.]+)(?::(?<port>\\d+))? ?(?<msg>.*)$";

static int setup_regex(void **state)
{
    return setup_parser(state, FERRY_FORMAT_REGEX, regex_pattern);
}

static int setup_combined(void **state)
{
    return setup_format(state, FERRY_FORMAT_COMBINED);
}

static int setup_json(void **state)
{
    return setup_format(state, FERRY_FORMAT_JSON);
}

static int setup_raw(void **state)
{
    return setup_format(state, FERRY_FORMAT_RAW);
}

/* a fixture whose test makes its own parser */
static int setup_empty(void **state)
{
    *state = calloc(1, sizeof(struct fx));
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    struct fx *x = *state;
    ferry_fields_release(&x->f);
    ferry_parser_destroy(x->p);
    free(x);
    return 0;
}

static int parse(struct fx *x, const char *line, int64_t kafka_ts_ms)
{
    x->err[0] = '\0';
    return ferry_fields_parse(x->p, &x->f, line, strlen(line), kafka_ts_ms, x->err, sizeof(x->err));
}

/* Asserts that field `name` exists with value `want`. */
static void field_is(const struct ferry_fields *f, const char *name, const char *want)
{
    const char *v = NULL;
    size_t len = 0;
    if (ferry_fields_get(f, name, strlen(name), &v, &len) != 0)
        fail_msg("field '%s' is absent, expected '%s'", name, want);
    char *got = strndup(v, len);
    assert_non_null(got);
    if (strcmp(got, want) != 0)
        fail_msg("field '%s' is '%s', expected '%s'", name, got, want);
    free(got);
}

static void field_absent(const struct ferry_fields *f, const char *name)
{
    const char *v = NULL;
    size_t len = 0;
    if (ferry_fields_get(f, name, strlen(name), &v, &len) != -1)
        fail_msg("field '%s' is present ('%.*s'), expected absent", name, (int)len, v);
}

/* ---- ferry_clf_time ------------------------------------------------------------------- */

static int64_t clf(const char *s)
{
    return ferry_clf_time(s, strlen(s));
}

static void clf_time_known_values(void **state)
{
    (void)state;
    /* 1970-01-01 + 11240 days = 2000-10-10; 13:55:36 at -0700 is 20:55:36 UTC */
    assert_int_equal(clf("10/Oct/2000:13:55:36 -0700"), 971211336000LL);
    assert_int_equal(clf("10/Oct/2000:20:55:36 +0000"), 971211336000LL);
    assert_int_equal(clf("01/Jan/1970:00:00:00 +0000"), 0);
    assert_int_equal(clf("01/Jan/1970:02:00:00 +0200"), 0);
    /* 2024 is a leap year: 19782 days to 2024-02-29 */
    assert_int_equal(clf("29/Feb/2024:12:00:00 +0000"), 1709208000000LL);
    /* +0200 reaches back across midnight into the leap day */
    assert_int_equal(clf("01/Mar/2024:01:30:00 +0200"), 1709249400000LL);
    /* -0500 reaches forward into the next year */
    assert_int_equal(clf("31/Dec/1999:20:00:00 -0500"), 946688400000LL);
    /* half-hour zones, both signs */
    assert_int_equal(clf("15/Aug/2021:05:30:00 +0530"), 1628985600000LL);
    assert_int_equal(clf("01/Jan/2020:00:00:00 -0930"), 1577871000000LL);
    /* past 2^31 seconds */
    assert_int_equal(clf("19/Jan/2038:03:14:08 +0000"), 2147483648000LL);
    /* a leap second is accepted (and lands on the next second) */
    assert_int_equal(clf("31/Dec/2016:23:59:60 +0000"), 1483228800000LL);
    /* 2000 is a leap year (divisible by 400): 10957 days to 2000-01-01, then 31 + 28 */
    assert_int_equal(clf("29/Feb/2000:00:00:00 +0000"), 951782400000LL);
    /* the last day of a leap year: 2024-01-01 is day 19723, 31/Dec/2024 is 365 days on */
    assert_int_equal(clf("31/Dec/2024:00:00:00 +0000"), 1735603200000LL);
    /* the furthest zones: 14 hours ahead, 12 behind */
    assert_int_equal(clf("01/Jan/2000:00:00:00 +1400"), 946634400000LL);
    assert_int_equal(clf("01/Jan/2000:00:00:00 -1200"), 946728000000LL);
}

static void clf_time_respects_len(void **state)
{
    static const char s[] = "10/Oct/2000:13:55:36 -0700] \"GET";
    (void)state;
    assert_int_equal(ferry_clf_time(s, 26), 971211336000LL);
    assert_int_equal(ferry_clf_time(s, 27), -1); /* the ']' is part of it now */
}

static void clf_time_rejects(void **state)
{
    static const char *const bad[] = {
        "",
        "10/Oct/2000:13:55:36",       /* no zone */
        "10/Oct/2000:13:55:36 0700",  /* zone without a sign */
        "10/Oct/2000:13:55:36 ~0700", /* zone with a wrong sign */
        "10/oct/2000:13:55:36 -0700", /* month names are capitalised */
        "10/October/2000:13:55:36 -0700",
        "10/Xyz/2000:13:55:36 -0700",
        "10/anF/2000:13:55:36 -0700", /* straddles two month names */
        "10/Oct/2000 13:55:36 -0700", /* space instead of ':' */
        "10-Oct-2000:13:55:36 -0700",
        "00/Oct/2000:13:55:36 +0000",
        "32/Oct/2000:13:55:36 +0000",
        "10/Oct/2000:24:00:00 +0000",
        "10/Oct/2000:13:60:00 +0000",
        "10/Oct/2000:13:55:61 +0000",
        "10/Oct/2000:13:55:36 -0700 ", /* trailing bytes */
        "10/Oct/2000:13:55:36 -0700x",
        "[10/Oct/2000:13:55:36 -0700]",
        "2000-10-10T13:55:36Z",
        "10/Oct/2000:13:55:36 +07",   /* short zone */
        "10/Oct/2000:13:55:36 +070",  /* three-digit zone */
        "10/Oct/2000:13:55:36 +0799", /* zone minutes past 59 */
        "10/Oct/2000:13:55:36 +0760",
        "10/Oct/2000:13:55:36 +1500", /* no zone is further than 14 hours */
        "10/Oct/2000:13:55:36 +-700", /* two signs */
        "10/Oct/2000:13:55:36 - 700",
        "10/Oct/2000:-1:55:36 +0000", /* negative fields */
        "10/Oct/2000:13:-5:36 +0000",
        "10/Oct/2000:13:55:-6 +0000",
        "-1/Oct/2000:13:55:36 +0000",
        "+1/Oct/2000:13:55:36 +0000",
        "1/Oct/2000:13:55:36 +0000", /* one-digit day */
        " 1/Oct/2000:13:55:36 +0000",
        "10/Oct/-200:13:55:36 +0000", /* negative year */
        "10/Oct/200:13:55:36 +0000",  /* three-digit year */
        "10/Oct/0000:13:55:36 +0000", /* there was no year 0 */
        "31/Feb/2024:12:00:00 +0000", /* no such day: it must not roll over into March */
        "30/Feb/2024:12:00:00 +0000",
        "29/Feb/2023:12:00:00 +0000", /* not a leap year */
        "29/Feb/1900:12:00:00 +0000", /* divisible by 100, not by 400 */
        "29/Feb/2100:12:00:00 +0000",
        "31/Apr/2021:12:00:00 +0000",
        "31/Jun/2021:12:00:00 +0000",
        "31/Sep/2021:12:00:00 +0000",
        "31/Nov/2021:12:00:00 +0000",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (clf(bad[i]) != -1)
            fail_msg("'%s' parsed as %lld, expected -1", bad[i], (long long)clf(bad[i]));
    }
    /* longer than any valid time */
    char long_line[128];
    memset(long_line, '1', sizeof(long_line) - 1);
    long_line[sizeof(long_line) - 1] = '\0';
    assert_int_equal(clf(long_line), -1);
}

/* ---- combined access logs ------------------------------------------------------------- */

static const char apache_line[] =
    "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326 "
    "\"http://www.example.com/start.html\" \"Mozilla/4.08 [en] (Win98; I ;Nav)\"";

static void combined_full_line(void **state)
{
    struct fx *x = *state;

    assert_int_equal(parse(x, apache_line, 1700000000123LL), 0);
    field_is(&x->f, "remote_addr", "127.0.0.1");
    field_is(&x->f, "remote_user", "frank");
    field_is(&x->f, "time", "10/Oct/2000:13:55:36 -0700");
    field_is(&x->f, "method", "GET");
    field_is(&x->f, "url", "/apache_pb.gif");
    field_is(&x->f, "protocol", "HTTP/1.0");
    field_is(&x->f, "status", "200");
    field_is(&x->f, "bytes", "2326");
    field_is(&x->f, "referer", "http://www.example.com/start.html");
    field_is(&x->f, "user_agent", "Mozilla/4.08 [en] (Win98; I ;Nav)");
    field_absent(&x->f, "request");
    field_absent(&x->f, "nonexistent");
    /* the event time is the line's, not Kafka's, and the buckets are in UTC */
    assert_int_equal(x->f.ts_ms, 971211336000LL);
    field_is(&x->f, "ts", "971211336000");
    field_is(&x->f, "day", "2000-10-10");
    field_is(&x->f, "hour", "2000-10-10T20");
    field_is(&x->f, "minute", "2000-10-10T20:55");
    field_is(&x->f, "raw", apache_line);
}

static void combined_nginx_line(void **state)
{
    struct fx *x = *state;
    static const char line[] =
        "2001:db8::17 - - [01/Mar/2024:01:30:59 +0200] \"POST /api/v1/items?id=7&x=%20y "
        "HTTP/2.0\" 201 0 \"-\" \"curl/8.5.0\"";

    assert_int_equal(parse(x, line, 0), 0);
    field_is(&x->f, "remote_addr", "2001:db8::17");
    field_is(&x->f, "remote_user", "-");
    field_is(&x->f, "method", "POST");
    field_is(&x->f, "url", "/api/v1/items?id=7&x=%20y");
    field_is(&x->f, "protocol", "HTTP/2.0");
    field_is(&x->f, "status", "201");
    field_is(&x->f, "bytes", "0");
    field_is(&x->f, "referer", "-");
    field_is(&x->f, "user_agent", "curl/8.5.0");
    /* 01:30:59 at +0200 is 23:30:59 UTC on the day before, a leap day */
    field_is(&x->f, "ts", "1709249459000");
    field_is(&x->f, "day", "2024-02-29");
    field_is(&x->f, "hour", "2024-02-29T23");
    field_is(&x->f, "minute", "2024-02-29T23:30");
}

static void combined_common_log_line(void **state)
{
    struct fx *x = *state;
    static const char line[] =
        "192.168.1.20 - - [31/Dec/1999:20:00:00 -0500] \"GET /index.html HTTP/1.1\" 304 -";

    assert_int_equal(parse(x, line, 0), 0);
    field_is(&x->f, "remote_addr", "192.168.1.20");
    field_is(&x->f, "status", "304");
    field_is(&x->f, "bytes", "-");
    field_absent(&x->f, "referer");
    field_absent(&x->f, "user_agent");
    field_is(&x->f, "day", "2000-01-01");
    field_is(&x->f, "hour", "2000-01-01T01");
    field_is(&x->f, "minute", "2000-01-01T01:00");
}

static void combined_fields_do_not_leak_between_lines(void **state)
{
    struct fx *x = *state;
    static const char common[] = "10.0.0.9 - - [10/Oct/2000:13:55:36 -0700] \"HEAD / HTTP/1.1\" "
                                 "200 0";

    assert_int_equal(parse(x, apache_line, 0), 0);
    field_is(&x->f, "referer", "http://www.example.com/start.html");
    assert_int_equal(parse(x, common, 0), 0);
    field_is(&x->f, "remote_addr", "10.0.0.9");
    field_is(&x->f, "method", "HEAD");
    field_absent(&x->f, "referer");
    field_absent(&x->f, "user_agent");
}

static void combined_odd_request_lines(void **state)
{
    struct fx *x = *state;
    /* a TLS handshake sent to a plain-text port, as nginx logs it */
    static const char tls[] = "203.0.113.5 - - [10/Oct/2000:13:55:36 -0700] "
                              "\"\\x16\\x03\\x01\\x00\\xA5\" 400 157 \"-\" \"-\"";
    static const char dash[] = "203.0.113.5 - - [10/Oct/2000:13:55:36 -0700] \"-\" 408 0";
    static const char escaped[] = "198.51.100.1 - - [10/Oct/2000:13:55:36 -0700] "
                                  "\"GET /q HTTP/1.1\" 200 5 \"-\" \"Bot \\\"x\\\" 1.0\"";

    assert_int_equal(parse(x, tls, 0), 0);
    field_is(&x->f, "request", "\\x16\\x03\\x01\\x00\\xA5");
    field_absent(&x->f, "method");
    field_absent(&x->f, "url");
    field_absent(&x->f, "protocol");
    field_is(&x->f, "status", "400");
    field_is(&x->f, "bytes", "157");

    assert_int_equal(parse(x, dash, 0), 0);
    field_is(&x->f, "request", "-");
    field_absent(&x->f, "method");
    field_is(&x->f, "status", "408");

    assert_int_equal(parse(x, escaped, 0), 0);
    field_is(&x->f, "user_agent", "Bot \\\"x\\\" 1.0");
    field_absent(&x->f, "request");
}

static void combined_rejects(void **state)
{
    struct fx *x = *state;
    static const char *const bad[] = {
        "",
        "hello world",
        "127.0.0.1 - - 10/Oct/2000:13:55:36 -0700 \"GET / HTTP/1.0\" 200 1",  /* no brackets */
        "127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] GET / HTTP/1.0 200 1",    /* no quotes */
        "127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 20 1", /* status */
        "127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 2000 1",
        "127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 abc", /* bytes */
        "127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200",
        "127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0 200 1", /* open quote */
        "127.0.0.1 - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 1", /* 2 dashes */
        " 127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 1",
        "{\"remote_addr\": \"127.0.0.1\", \"status\": 200}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse(x, bad[i], 0) != FERRY_ERR_INVALID)
            fail_msg("line %zu parsed: '%s'", i, bad[i]);
        assert_string_equal(x->err, "not a combined access-log line");
        field_absent(&x->f, "status");
        field_absent(&x->f, "remote_addr");
    }
}

static void combined_failure_keeps_metadata(void **state)
{
    struct fx *x = *state;
    static const char line[] = "garbage that is not an access log";

    ferry_fields_set_meta(&x->f, "web-logs", 3, 99);
    assert_int_equal(parse(x, line, 1700000000123LL), FERRY_ERR_INVALID);
    field_is(&x->f, "raw", line);
    field_is(&x->f, "topic", "web-logs");
    /* 1700000000 s is 2023-11-14 22:13:20 UTC */
    field_is(&x->f, "ts", "1700000000123");
    field_is(&x->f, "day", "2023-11-14");
    field_is(&x->f, "hour", "2023-11-14T22");
    field_is(&x->f, "minute", "2023-11-14T22:13");
}

static void combined_bad_time_falls_back_to_kafka(void **state)
{
    struct fx *x = *state;
    static const char line[] = "10.1.1.1 - - [yesterday at noon] \"GET / HTTP/1.1\" 200 12";

    assert_int_equal(parse(x, line, 1700000000123LL), 0);
    field_is(&x->f, "time", "yesterday at noon");
    field_is(&x->f, "status", "200");
    assert_int_equal(x->f.ts_ms, 1700000000123LL);
    field_is(&x->f, "day", "2023-11-14");
}

/* ---- regex ---------------------------------------------------------------------------- */

static void regex_named_groups(void **state)
{
    struct fx *x = *state;

    assert_int_equal(parse(x, "WARN db1.example:3306 disk almost full", 0), 0);
    field_is(&x->f, "level", "WARN");
    field_is(&x->f, "host", "db1.example");
    field_is(&x->f, "port", "3306");
    field_is(&x->f, "msg", "disk almost full");
    field_is(&x->f, "raw", "WARN db1.example:3306 disk almost full");
    assert_int_equal(x->f.n, 4);
}

static void regex_unset_group_absent(void **state)
{
    struct fx *x = *state;

    assert_int_equal(parse(x, "WARN db1.example:3306 disk full", 0), 0);
    assert_int_equal(parse(x, "INFO web2", 0), 0);
    field_is(&x->f, "level", "INFO");
    field_is(&x->f, "host", "web2");
    field_absent(&x->f, "port"); /* not left over from the line before */
    field_is(&x->f, "msg", "");  /* took part, matched nothing: present and empty */
}

static void regex_no_match(void **state)
{
    struct fx *x = *state;
    static const char line[] = "warn lower-case level";

    ferry_fields_set_meta(&x->f, "app-logs", 1, 7);
    assert_int_equal(parse(x, line, 1700000000123LL), FERRY_ERR_INVALID);
    assert_string_equal(x->err, "regex: the line does not match");
    field_absent(&x->f, "level");
    field_is(&x->f, "raw", line);
    field_is(&x->f, "topic", "app-logs");
    field_is(&x->f, "day", "2023-11-14");
}

static void regex_search_not_anchored(void **state)
{
    struct fx *x = *state;
    x->p = NULL;
    ferry_parser_new(&x->p, FERRY_FORMAT_REGEX, "user=(?<user>\\w+)", x->err, sizeof(x->err));
    assert_non_null(x->p);
    assert_int_equal(parse(x, "login ok user=ada from 10.0.0.1", 0), 0);
    field_is(&x->f, "user", "ada");
}

static void regex_parser_new_rejects(void **state)
{
    char err[256];
    struct ferry_parser *p = NULL;
    (void)state;
    assert_int_equal(ferry_parser_new(&p, FERRY_FORMAT_REGEX, NULL, err, sizeof(err)),
                     FERRY_ERR_INVALID);
    assert_string_equal(err, "parser: a pattern goes with format regex");
    assert_int_equal(ferry_parser_new(&p, FERRY_FORMAT_JSON, "(?<a>x)", err, sizeof(err)),
                     FERRY_ERR_INVALID);
    assert_string_equal(err, "parser: a pattern goes with format regex");
    assert_int_equal(ferry_parser_new(&p, FERRY_FORMAT_REGEX, "(\\w+)", err, sizeof(err)),
                     FERRY_ERR_INVALID);
    assert_string_equal(err, "pattern: needs at least one named group, such as (?<name>...)");
    assert_int_equal(ferry_parser_new(&p, FERRY_FORMAT_REGEX, "(?<a>x", err, sizeof(err)),
                     FERRY_ERR_INVALID);
    assert_string_equal(err, "pattern: bad pattern at offset 6: missing closing parenthesis");
}

static void regex_check_pattern(void **state)
{
    char err[256];
    (void)state;
    assert_int_equal(ferry_parser_check_pattern("(?<a>x)|(?<b>y)", err, sizeof(err)), 0);
    assert_int_equal(ferry_parser_check_pattern("x(y", err, sizeof(err)), FERRY_ERR_INVALID);
    assert_string_equal(err, "pattern: bad pattern at offset 3: missing closing parenthesis");
    assert_int_equal(ferry_parser_check_pattern("a(?<1x>b)", err, sizeof(err)), FERRY_ERR_INVALID);
    assert_non_null(strstr(err, "bad pattern at offset 4:"));
    assert_int_equal(ferry_parser_check_pattern("plain", err, sizeof(err)), FERRY_ERR_INVALID);
    assert_string_equal(err, "pattern: needs at least one named group, such as (?<name>...)");
}

/* ---- JSON and raw --------------------------------------------------------------------- */

static void json_members(void **state)
{
    struct fx *x = *state;
    static const char doc[] =
        "{\"user\": \"ann\", \"n\": 42, \"neg\": -7, \"half\": 1.5, \"ok\": true, \"no\": false,"
        " \"nothing\": null, \"obj\": {\"a\": [1, 2]}, \"arr\": [1, \"x\"], \"empty\": \"\","
        " \"s\": \"caf\\u00e9 \\\"q\\\"\", \"big\": 9007199254740993}";

    assert_int_equal(parse(x, doc, 1700000000123LL), 0);
    field_is(&x->f, "user", "ann");
    field_is(&x->f, "n", "42");
    field_is(&x->f, "neg", "-7");
    field_is(&x->f, "half", "1.5");
    field_is(&x->f, "ok", "true");
    field_is(&x->f, "no", "false");
    field_absent(&x->f, "nothing");
    field_is(&x->f, "obj", "{\"a\":[1,2]}");
    field_is(&x->f, "arr", "[1,\"x\"]");
    field_is(&x->f, "empty", "");
    field_is(&x->f, "s", "caf\xc3\xa9 \"q\"");
    field_is(&x->f, "big", "9007199254740993");
    field_absent(&x->f, "a"); /* only top-level members */
    /* JSON events take their time from Kafka */
    field_is(&x->f, "ts", "1700000000123");
    field_is(&x->f, "day", "2023-11-14");
    assert_int_equal(x->f.dropped, 0);
}

static void json_decimals_shortest(void **state)
{
    struct fx *x = *state;
    /* each decimal comes back as the shortest text that reads as the same double */
    static const char doc[] = "{\"tenth\": 0.1, \"huge\": 1e300, \"sum\": 0.30000000000000004,"
                              " \"third\": 0.3333333333333333, \"tiny\": -2.5e-7,"
                              " \"whole\": 100.0, \"max\": 1.7976931348623157e308}";

    assert_int_equal(parse(x, doc, 0), 0);
    field_is(&x->f, "tenth", "0.1");
    field_is(&x->f, "huge", "1e+300");
    field_is(&x->f, "sum", "0.30000000000000004");  /* 0.1 + 0.2 needs all 17 digits */
    field_is(&x->f, "third", "0.3333333333333333"); /* 16 */
    field_is(&x->f, "tiny", "-2.5e-07");
    field_is(&x->f, "whole", "100");
    field_is(&x->f, "max", "1.7976931348623157e+308");
}

static void json_rejects(void **state)
{
    struct fx *x = *state;

    assert_int_equal(parse(x, "{\"a\": 1", 0), FERRY_ERR_INVALID);
    assert_memory_equal(x->err, "json: ", 6);
    assert_non_null(strstr(x->err, "at column"));
    assert_int_equal(parse(x, "not json", 0), FERRY_ERR_INVALID);
    assert_memory_equal(x->err, "json: ", 6);
    assert_int_equal(parse(x, "", 0), FERRY_ERR_INVALID);
    assert_memory_equal(x->err, "json: ", 6);

    static const char *const not_objects[] = {"[1, 2]", "\"text\"", "42", "null", "true"};
    for (size_t i = 0; i < sizeof(not_objects) / sizeof(not_objects[0]); i++) {
        assert_int_equal(parse(x, not_objects[i], 0), FERRY_ERR_INVALID);
        assert_string_equal(x->err, "json: not an object");
        field_is(&x->f, "raw", not_objects[i]);
    }
}

static void json_fields_replaced_by_next_event(void **state)
{
    struct fx *x = *state;

    assert_int_equal(parse(x, "{\"a\": \"first\", \"n\": 1}", 0), 0);
    field_is(&x->f, "a", "first");
    assert_int_equal(parse(x, "{\"b\": 2}", 0), 0);
    field_absent(&x->f, "a");
    field_absent(&x->f, "n");
    field_is(&x->f, "b", "2");
    assert_int_equal(parse(x, "[]", 0), FERRY_ERR_INVALID);
    field_absent(&x->f, "b");
}

/* The record's metadata wins over event fields of the same name; time fields do not. */
static void json_metadata_wins(void **state)
{
    struct fx *x = *state;
    static const char doc[] = "{\"topic\": \"fake\", \"raw\": \"fake\", \"day\": \"fake\", "
                              "\"offset\": \"fake\", \"partition\": \"fake\", \"ts\": 1}";

    ferry_fields_set_meta(&x->f, "web-logs", 7, 123456789012LL);
    assert_int_equal(parse(x, doc, 86400000), 0);
    field_is(&x->f, "topic", "web-logs");
    field_is(&x->f, "raw", doc);
    field_is(&x->f, "partition", "7");
    field_is(&x->f, "offset", "123456789012");
    /* the event's own time fields come first: a JSON "ts" is the event's time */
    field_is(&x->f, "day", "fake");
    field_is(&x->f, "ts", "1");
    /* without them, the metadata of the same names */
    assert_int_equal(parse(x, "{\"a\": 1}", 86400000), 0);
    field_is(&x->f, "day", "1970-01-02");
    field_is(&x->f, "ts", "86400000");
}

static void json_too_many_members(void **state)
{
    struct fx *x = *state;
    char doc[FERRY_FIELDS_MAX * 16 + 64];
    size_t len = 0;

    len += (size_t)snprintf(doc + len, sizeof(doc) - len, "{");
    for (int i = 0; i < FERRY_FIELDS_MAX + 3; i++)
        len += (size_t)snprintf(doc + len, sizeof(doc) - len, "%s\"k%d\": %d", i ? ", " : "", i, i);
    snprintf(doc + len, sizeof(doc) - len, "}");
    assert_int_equal(parse(x, doc, 0), 0);
    assert_int_equal(x->f.n, FERRY_FIELDS_MAX);
    assert_int_equal(x->f.dropped, 3);
}

static void raw_format(void **state)
{
    struct fx *x = *state;
    static const char line[] = "{\"looks\": \"like json\"} but is kept whole";

    ferry_fields_set_meta(&x->f, "raw-topic", 0, 0);
    assert_int_equal(parse(x, line, 1700000000123LL), 0);
    assert_int_equal(x->f.n, 0);
    field_is(&x->f, "raw", line);
    field_absent(&x->f, "looks");
    field_is(&x->f, "topic", "raw-topic");
    field_is(&x->f, "partition", "0");
    field_is(&x->f, "offset", "0");
    field_is(&x->f, "minute", "2023-11-14T22:13");

    /* raw holds exactly len bytes, even with a NUL or newline inside */
    static const char bin[] = "a\0b\nc";
    assert_int_equal(ferry_fields_parse(x->p, &x->f, bin, 5, 0, x->err, sizeof(x->err)), 0);
    const char *v;
    size_t len;
    assert_int_equal(ferry_fields_get(&x->f, "raw", 3, &v, &len), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(v, bin, 5);
}

static void metadata_fields(void **state)
{
    struct fx *x = *state;

    /* before any metadata is set, topic, partition and offset are absent, not empty */
    field_absent(&x->f, "topic");
    field_absent(&x->f, "partition");
    field_absent(&x->f, "offset");
    struct ferry_buf out = {0};
    assert_int_equal(ferry_template_expand("p{partition}", &x->f, &out, x->err, sizeof(x->err)),
                     FERRY_ERR_INVALID);
    assert_string_equal(x->err, "field 'partition' is missing");
    ferry_buf_release(&out);
    ferry_fields_set_meta(&x->f, "orders", 2147483647, 9223372036854775807LL);
    field_is(&x->f, "topic", "orders");
    field_is(&x->f, "partition", "2147483647");
    field_is(&x->f, "offset", "9223372036854775807");
    ferry_fields_set_meta(&x->f, "orders.v2", -1, 0);
    field_is(&x->f, "topic", "orders.v2");
    field_is(&x->f, "partition", "-1");
    field_is(&x->f, "offset", "0");
    /* a name is matched whole, not by prefix */
    field_absent(&x->f, "top");
    field_absent(&x->f, "topics");
}

static void no_kafka_timestamp(void **state)
{
    struct fx *x = *state;
    struct ferry_buf out = {0};

    /* a message without a timestamp (-1) has no time fields, rather than 1970-01-01 */
    assert_int_equal(parse(x, "a line", 1700000000123LL), 0);
    field_is(&x->f, "day", "2023-11-14");
    assert_int_equal(parse(x, "another line", -1), 0);
    assert_int_equal(x->f.ts_ms, -1);
    field_absent(&x->f, "ts");
    field_absent(&x->f, "minute");
    field_absent(&x->f, "hour");
    field_absent(&x->f, "day");
    field_is(&x->f, "raw", "another line");
    assert_int_equal(ferry_template_expand("hits:{day}", &x->f, &out, x->err, sizeof(x->err)),
                     FERRY_ERR_INVALID);
    assert_string_equal(x->err, "field 'day' is missing");
    ferry_buf_release(&out);
}

static void no_kafka_timestamp_combined(void **state)
{
    struct fx *x = *state;

    /* the line's own time still counts */
    assert_int_equal(parse(x, apache_line, -1), 0);
    field_is(&x->f, "ts", "971211336000");
    field_is(&x->f, "day", "2000-10-10");
    /* a line whose time does not parse has none */
    assert_int_equal(parse(x, "10.1.1.1 - - [yesterday at noon] \"GET / HTTP/1.1\" 200 12", -1), 0);
    field_absent(&x->f, "ts");
    field_absent(&x->f, "day");
}

/* ---- templates ------------------------------------------------------------------------ */

/* Expands tpl over f into a fresh buffer; returns the result (caller frees) or NULL with
 * rc and err set. */
static char *expand(const char *tpl, const struct ferry_fields *f, int *rc, char *err,
                    size_t errlen)
{
    struct ferry_buf out = {0};
    *rc = ferry_template_expand(tpl, f, &out, err, errlen);
    if (*rc == 0)
        return out.p;
    ferry_buf_release(&out);
    return NULL;
}

static void template_expand_fields(void **state)
{
    struct fx *x = *state;
    int rc = 1;

    assert_int_equal(parse(x, apache_line, 0), 0);
    ferry_fields_set_meta(&x->f, "web-logs", 4, 1234);

    static const struct {
        const char *tpl, *want;
    } cases[] = {
        {"hits:{day}", "hits:2000-10-10"},
        {"{status}", "200"},
        {"{method} {url} -> {status}/{bytes}", "GET /apache_pb.gif -> 200/2326"},
        {"{topic}:{partition}:{offset}", "web-logs:4:1234"},
        {"plain text", "plain text"},
        {"", ""},
        {"{{literal}}", "{literal}"},
        {"{{{status}}}", "{200}"},
        {"a}}b{{c", "a}b{c"},
        {"}}", "}"},
        {"{hour}|{minute}", "2000-10-10T20|2000-10-10T20:55"},
        {"{remote_addr}{remote_user}", "127.0.0.1frank"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = expand(cases[i].tpl, &x->f, &rc, x->err, sizeof(x->err));
        if (!got)
            fail_msg("template '%s': rc %d: %s", cases[i].tpl, rc, x->err);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("template '%s' gave '%s', expected '%s'", cases[i].tpl, got, cases[i].want);
        free(got);
    }
}

static void template_expand_appends(void **state)
{
    struct fx *x = *state;
    struct ferry_buf out = {0};

    assert_int_equal(parse(x, apache_line, 0), 0);
    assert_int_equal(ferry_buf_add(&out, "pre|", 4), 0);
    assert_int_equal(ferry_template_expand("{status}|", &x->f, &out, x->err, sizeof(x->err)), 0);
    assert_int_equal(ferry_template_expand("{bytes}", &x->f, &out, x->err, sizeof(x->err)), 0);
    assert_string_equal(out.p, "pre|200|2326");
    assert_int_equal(out.len, strlen("pre|200|2326"));
    ferry_buf_release(&out);
    assert_null(out.p);
    assert_int_equal(out.len, 0);
}

static void template_missing_field(void **state)
{
    struct fx *x = *state;
    struct ferry_buf out = {0};
    static const char common[] = "10.0.0.9 - - [10/Oct/2000:13:55:36 -0700] \"HEAD / HTTP/1.1\" "
                                 "200 0";

    assert_int_equal(parse(x, common, 0), 0);
    assert_int_equal(
        ferry_template_expand("ua:{status}:{user_agent}:x", &x->f, &out, x->err, sizeof(x->err)),
        FERRY_ERR_INVALID);
    assert_string_equal(x->err, "field 'user_agent' is missing");
    assert_string_equal(out.p, "ua:200:"); /* the partial expansion */
    ferry_buf_release(&out);

    assert_int_equal(ferry_template_expand("{Status}", &x->f, &out, x->err, sizeof(x->err)),
                     FERRY_ERR_INVALID);
    assert_string_equal(x->err, "field 'Status' is missing");
    ferry_buf_release(&out);
}

static void template_syntax_errors(void **state)
{
    struct fx *x = *state;
    static const struct {
        const char *tpl, *err;
    } cases[] = {
        {"{", "template '{': unclosed '{'"},
        {"key:{day", "template 'key:{day': unclosed '{'"},
        {"a}b", "template 'a}b': unmatched '}' (write '}}' for a literal one)"},
        {"{day}}", "template '{day}}': unmatched '}' (write '}}' for a literal one)"},
        {"{}", "template '{}': empty or nested field name"},
        {"x{a{b}", "template 'x{a{b}': empty or nested field name"},
    };

    assert_int_equal(parse(x, apache_line, 0), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[256] = "";
        assert_int_equal(ferry_template_check(cases[i].tpl, err, sizeof(err)), FERRY_ERR_INVALID);
        assert_string_equal(err, cases[i].err);
        /* expansion refuses the same templates with the same message */
        struct ferry_buf out = {0};
        err[0] = '\0';
        assert_int_equal(ferry_template_expand(cases[i].tpl, &x->f, &out, err, sizeof(err)),
                         FERRY_ERR_INVALID);
        assert_string_equal(err, cases[i].err);
        ferry_buf_release(&out);
    }
}

static void template_check_accepts(void **state)
{
    static const char *const good[] = {
        "",
        "INCR",
        "hits:{day}",
        "{a}{b}",
        "{{",
        "}}",
        "{{x}}",
        "{{{x}}}",
        "{field with space}",
        "{unknown_fields_are_fine_here}",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char err[256] = "";
        if (ferry_template_check(good[i], err, sizeof(err)) != 0)
            fail_msg("template '%s' refused: %s", good[i], err);
    }
}

static void buf_add_grows(void **state)
{
    struct ferry_buf b = {0};
    char chunk[100];
    (void)state;

    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 50; i++)
        assert_int_equal(ferry_buf_add(&b, chunk, sizeof(chunk)), 0);
    assert_int_equal(b.len, 5000);
    assert_true(b.cap > b.len);
    assert_int_equal(b.p[b.len], '\0');
    assert_int_equal(b.p[0], 'x');
    assert_int_equal(b.p[4999], 'x');
    ferry_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(clf_time_known_values),
        cmocka_unit_test(clf_time_respects_len),
        cmocka_unit_test(clf_time_rejects),
        cmocka_unit_test_setup_teardown(combined_full_line, setup_combined, teardown),
        cmocka_unit_test_setup_teardown(combined_nginx_line, setup_combined, teardown),
        cmocka_unit_test_setup_teardown(combined_common_log_line, setup_combined, teardown),
        cmocka_unit_test_setup_teardown(combined_fields_do_not_leak_between_lines, setup_combined,
                                        teardown),
        cmocka_unit_test_setup_teardown(combined_odd_request_lines, setup_combined, teardown),
        cmocka_unit_test_setup_teardown(combined_rejects, setup_combined, teardown),
        cmocka_unit_test_setup_teardown(combined_failure_keeps_metadata, setup_combined, teardown),
        cmocka_unit_test_setup_teardown(combined_bad_time_falls_back_to_kafka, setup_combined,
                                        teardown),
        cmocka_unit_test_setup_teardown(regex_named_groups, setup_regex, teardown),
        cmocka_unit_test_setup_teardown(regex_unset_group_absent, setup_regex, teardown),
        cmocka_unit_test_setup_teardown(regex_no_match, setup_regex, teardown),
        cmocka_unit_test_setup_teardown(regex_search_not_anchored, setup_empty, teardown),
        cmocka_unit_test(regex_parser_new_rejects),
        cmocka_unit_test(regex_check_pattern),
        cmocka_unit_test_setup_teardown(json_members, setup_json, teardown),
        cmocka_unit_test_setup_teardown(json_decimals_shortest, setup_json, teardown),
        cmocka_unit_test_setup_teardown(json_rejects, setup_json, teardown),
        cmocka_unit_test_setup_teardown(json_fields_replaced_by_next_event, setup_json, teardown),
        cmocka_unit_test_setup_teardown(json_metadata_wins, setup_json, teardown),
        cmocka_unit_test_setup_teardown(json_too_many_members, setup_json, teardown),
        cmocka_unit_test_setup_teardown(raw_format, setup_raw, teardown),
        cmocka_unit_test_setup_teardown(metadata_fields, setup_raw, teardown),
        cmocka_unit_test_setup_teardown(no_kafka_timestamp, setup_raw, teardown),
        cmocka_unit_test_setup_teardown(no_kafka_timestamp_combined, setup_combined, teardown),
        cmocka_unit_test_setup_teardown(template_expand_fields, setup_combined, teardown),
        cmocka_unit_test_setup_teardown(template_expand_appends, setup_combined, teardown),
        cmocka_unit_test_setup_teardown(template_missing_field, setup_combined, teardown),
        cmocka_unit_test_setup_teardown(template_syntax_errors, setup_combined, teardown),
        cmocka_unit_test(template_check_accepts),
        cmocka_unit_test(buf_add_grows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
