/* ferry: event parsing (raw, json, combined access logs, regex) and command templates. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <inttypes.h>
#include <jansson.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/calendar.h"
#include "ferry/err.h"
#include "ferry/fields.h"

/* nginx's and Apache's "combined" format:
 *   $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
 *   "$http_referer" "$http_user_agent"
 * A request that is not "METHOD URL PROTOCOL" (garbage from scanners) is kept whole in
 * `request`; referer and user agent are optional (plain "common" lines match too). */
static const char combined_re[] =
    "^(?<remote_addr>\\S+) \\S+ (?<remote_user>\\S+) \\[(?<time>[^\\]]+)\\] "
    "\"(?:(?<method>[A-Z]+) (?<url>[^ \"]+)(?: "
    "(?<protocol>[^\"]*))?|(?<request>(?:[^\"\\\\]|\\\\.)*))\" "
    "(?<status>\\d{3}) (?<bytes>\\d+|-)"
    "(?: \"(?<referer>(?:[^\"\\\\]|\\\\.)*)\" \"(?<user_agent>(?:[^\"\\\\]|\\\\.)*)\")?";

struct ferry_parser {
    enum ferry_format format;
    pcre2_code *re;
    pcre2_match_data *md;
    uint32_t name_count, name_size;
    PCRE2_SPTR names;
};

/* Compiles pattern into re; 0, or FERRY_ERR_INVALID with err naming `what` and PCRE2's offset.
 * Nothing is left to free on failure. */
static int compile(const char *pattern, const char *what, pcre2_code **re, char *err, size_t errlen)
{
    int code;
    PCRE2_SIZE at;
    *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &code, &at, NULL);
    if (*re)
        return 0;
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof(msg));
    return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "%s: bad pattern at offset %zu: %s", what,
                        (size_t)at, (char *)msg);
}

static uint32_t name_count(const pcre2_code *re)
{
    uint32_t n = 0;
    pcre2_pattern_info(re, PCRE2_INFO_NAMECOUNT, &n);
    return n;
}

int ferry_parser_check_pattern(const char *pattern, char *err, size_t errlen)
{
    pcre2_code *re;
    int rc = compile(pattern, "pattern", &re, err, errlen);
    if (rc < 0)
        return rc;
    uint32_t n = name_count(re);
    pcre2_code_free(re);
    if (n == 0)
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                            "pattern: needs at least one named group, such as (?<name>...)");
    return 0;
}

int ferry_parser_new(struct ferry_parser **out, enum ferry_format format, const char *pattern,
                     char *err, size_t errlen)
{
    struct ferry_parser *p = calloc(1, sizeof(*p));
    int rc = FERRY_ERR_INVALID;

    if (!p)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "parser: out of memory");
    p->format = format;
    if ((format == FERRY_FORMAT_REGEX) != (pattern != NULL)) {
        ferry_seterr(err, errlen, FERRY_ERR_INVALID, "parser: a pattern goes with format regex");
        goto fail;
    }
    if (format == FERRY_FORMAT_REGEX) {
        if (ferry_parser_check_pattern(pattern, err, errlen) < 0 ||
            compile(pattern, "parser", &p->re, err, errlen) < 0)
            goto fail;
    } else if (format == FERRY_FORMAT_COMBINED) {
        if (compile(combined_re, "parser: combined", &p->re, err, errlen) < 0)
            goto fail;
    } else {
        *out = p;
        return 0;
    }
    pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE); /* without JIT it still works, slower */
    p->md = pcre2_match_data_create_from_pattern(p->re, NULL);
    if (!p->md) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "parser: out of memory");
        goto fail;
    }
    p->name_count = name_count(p->re);
    pcre2_pattern_info(p->re, PCRE2_INFO_NAMEENTRYSIZE, &p->name_size);
    pcre2_pattern_info(p->re, PCRE2_INFO_NAMETABLE, &p->names);
    *out = p;
    return 0;

fail:
    ferry_parser_destroy(p);
    return rc;
}

void ferry_parser_destroy(struct ferry_parser *p)
{
    if (!p)
        return;
    pcre2_match_data_free(p->md);
    pcre2_code_free(p->re);
    free(p);
}

static void reset(struct ferry_fields *f)
{
    f->n = 0;
    f->dropped = 0;
    f->scratch.len = 0;
    if (f->json) {
        json_decref(f->json);
        f->json = NULL;
    }
}

void ferry_fields_release(struct ferry_fields *f)
{
    reset(f);
    ferry_buf_release(&f->scratch);
}

static void add_ext(struct ferry_fields *f, const char *name, size_t nlen, const char *v,
                    size_t len)
{
    if (f->n == FERRY_FIELDS_MAX) {
        f->dropped++;
        return;
    }
    f->v[f->n++] = (struct ferry_field){name, nlen, v, 0, len};
}

static void add_scratch(struct ferry_fields *f, const char *name, size_t nlen, const char *v,
                        size_t len)
{
    if (f->n == FERRY_FIELDS_MAX) {
        f->dropped++;
        return;
    }
    size_t off = f->scratch.len;
    if (ferry_buf_add(&f->scratch, v, len) < 0)
        return;
    f->v[f->n++] = (struct ferry_field){name, nlen, NULL, off, len};
}

int64_t ferry_clf_time(const char *s, size_t len)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    int day, mon, year, hh, mm, ss, zh, zm;

    /* "DD/Mon/YYYY:HH:MM:SS +HHMM", every field at a fixed place */
    if (len != 26 || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[14] != ':' || s[17] != ':' ||
        s[20] != ' ' || (s[21] != '+' && s[21] != '-'))
        return -1;
    if (ferry_cal_digits(s, 2, &day) < 0 || ferry_cal_digits(s + 7, 4, &year) < 0 ||
        ferry_cal_digits(s + 12, 2, &hh) < 0 || ferry_cal_digits(s + 15, 2, &mm) < 0 ||
        ferry_cal_digits(s + 18, 2, &ss) < 0 || ferry_cal_digits(s + 22, 2, &zh) < 0 ||
        ferry_cal_digits(s + 24, 2, &zm) < 0)
        return -1;
    for (mon = 0; mon < 12 && memcmp(s + 3, months + 3 * mon, 3); mon++)
        ;
    if (mon == 12 || year < 1)
        return -1;
    if (day < 1 || day > ferry_cal_month_days(year, mon + 1) || hh > 23 || mm > 59 || ss > 60 ||
        zh > 14 || zm > 59)
        return -1;
    int64_t days = ferry_cal_days_from_date(year, mon + 1, day);
    int64_t t = days * 86400 + hh * 3600 + mm * 60 + ss; /* ss 60, a leap second: the next one */
    int64_t off = zh * 3600 + zm * 60;
    t += s[21] == '+' ? -off : off;
    return t * 1000;
}

size_t ferry_format_i64(char *out, int64_t v)
{
    char tmp[24];
    size_t n = 0, len = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    return len;
}

/* The same, NUL-terminated (25 bytes are enough). */
static size_t put_i64(char *out, int64_t v)
{
    size_t len = ferry_format_i64(out, v);
    out[len] = '\0';
    return len;
}

static void put_2digits(char *out, int v)
{
    out[0] = (char)('0' + v / 10);
    out[1] = (char)('0' + v % 10);
}

/* ms < 0 (no time known): the time fields are absent. */
static void set_time(struct ferry_fields *f, int64_t ms)
{
    f->ts_ms = ms < 0 ? -1 : ms;
    if (ms < 0) {
        f->day[0] = f->hour[0] = f->minute[0] = f->ts[0] = '\0';
        f->minute_of = 0;
        return;
    }
    f->ts[0] = '\1'; /* written out from ts_ms when asked for */
    f->ts[1] = '\0';
    if (ms / 60000 + 1 == f->minute_of)
        return; /* events come in time order, mostly: the buckets are those of the last one */
    f->minute_of = ms / 60000 + 1;
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    int year = tm.tm_year + 1900;
    if (year > 9999) { /* more than four digits: let strftime lay it out */
        strftime(f->day, sizeof(f->day), "%Y-%m-%d", &tm);
        strftime(f->hour, sizeof(f->hour), "%Y-%m-%dT%H", &tm);
        strftime(f->minute, sizeof(f->minute), "%Y-%m-%dT%H:%M", &tm);
        return;
    }
    /* "YYYY-MM-DDTHH:MM"; the hour and the day are its first 13 and 10 characters */
    char *m = f->minute;
    put_2digits(m, year / 100);
    put_2digits(m + 2, year % 100);
    m[4] = '-';
    put_2digits(m + 5, tm.tm_mon + 1);
    m[7] = '-';
    put_2digits(m + 8, tm.tm_mday);
    m[10] = 'T';
    put_2digits(m + 11, tm.tm_hour);
    m[13] = ':';
    put_2digits(m + 14, tm.tm_min);
    m[16] = '\0';
    memcpy(f->hour, m, 13);
    f->hour[13] = '\0';
    memcpy(f->day, m, 10);
    f->day[10] = '\0';
}

/* Matches the parser's pattern; each named group that took part becomes a field (an unset
 * optional group is absent). Returns PCRE2's code: negative when the line does not match. */
static int match_groups(struct ferry_parser *p, struct ferry_fields *f, const char *data,
                        size_t len)
{
    int rc = pcre2_match(p->re, (PCRE2_SPTR)data, len, 0, 0, p->md, NULL);
    if (rc < 0)
        return rc;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);
    for (uint32_t i = 0; i < p->name_count; i++) {
        PCRE2_SPTR e = p->names + i * p->name_size;
        int g = (e[0] << 8) | e[1];
        if (ov[2 * g] == PCRE2_UNSET)
            continue;
        const char *name = (const char *)(e + 2);
        add_ext(f, name, strlen(name), data + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
    }
    return rc;
}

static int parse_regex(struct ferry_parser *p, struct ferry_fields *f, const char *data, size_t len,
                       char *err, size_t errlen)
{
    int rc = match_groups(p, f, data, len);
    if (rc == PCRE2_ERROR_NOMATCH)
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "regex: the line does not match");
    if (rc < 0) { /* a resource limit (backtracking, depth) */
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof(msg));
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "regex: %s", (char *)msg);
    }
    return 0;
}

static int parse_combined(struct ferry_parser *p, struct ferry_fields *f, const char *data,
                          size_t len, char *err, size_t errlen)
{
    if (match_groups(p, f, data, len) < 0)
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "not a combined access-log line");
    const char *t;
    size_t tlen;
    if (ferry_fields_get(f, "time", 4, &t, &tlen) == 0) {
        int64_t ms = ferry_clf_time(t, tlen);
        if (ms >= 0)
            set_time(f, ms);
    }
    return 0;
}

/* The shortest of %.15g, %.16g and %.17g that reads back as d (17 digits always do), so
 * that 0.1 is "0.1" and not "0.10000000000000001". */
static void format_double(char *buf, size_t len, double d)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            return;
    }
}

static int parse_json(struct ferry_fields *f, const char *data, size_t len, char *err,
                      size_t errlen)
{
    json_error_t je;
    json_t *root = json_loadb(data, len, JSON_DECODE_ANY, &je);
    const char *k;
    json_t *v;

    if (!root)
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "json: %s at column %d", je.text,
                            je.column);
    if (!json_is_object(root)) {
        json_decref(root);
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "json: not an object");
    }
    f->json = root;
    json_object_foreach(root, k, v)
    {
        char num[64];
        switch (json_typeof(v)) {
        case JSON_STRING:
            add_ext(f, k, strlen(k), json_string_value(v), json_string_length(v));
            break;
        case JSON_INTEGER:
            add_scratch(f, k, strlen(k), num, put_i64(num, json_integer_value(v)));
            break;
        case JSON_REAL:
            format_double(num, sizeof(num), json_real_value(v));
            add_scratch(f, k, strlen(k), num, strlen(num));
            break;
        case JSON_TRUE:
        case JSON_FALSE:
            add_scratch(f, k, strlen(k), json_is_true(v) ? "true" : "false",
                        json_is_true(v) ? 4 : 5);
            break;
        case JSON_NULL:
            break; /* an absent field */
        default: {
            char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            if (s) {
                add_scratch(f, k, strlen(k), s, strlen(s));
                free(s);
            }
        }
        }
    }
    return 0;
}

int ferry_fields_parse(struct ferry_parser *p, struct ferry_fields *f, const char *data, size_t len,
                       int64_t kafka_ts_ms, char *err, size_t errlen)
{
    reset(f);
    f->raw = data;
    f->raw_len = len;
    set_time(f, kafka_ts_ms);
    f->kafka_ts_v = kafka_ts_ms;
    f->kafka_ts[0] = kafka_ts_ms >= 0 ? '\1' : '\0';
    f->kafka_ts[1] = '\0';
    switch (p->format) {
    case FERRY_FORMAT_RAW:
        return 0;
    case FERRY_FORMAT_JSON:
        return parse_json(f, data, len, err, errlen);
    case FERRY_FORMAT_COMBINED:
        return parse_combined(p, f, data, len, err, errlen);
    case FERRY_FORMAT_REGEX:
        return parse_regex(p, f, data, len, err, errlen);
    }
    return 0;
}

void ferry_fields_set_meta(struct ferry_fields *f, const char *topic, int32_t partition,
                           int64_t offset)
{
    f->topic = topic;
    f->partition_v = partition;
    f->offset_v = offset;
    f->partition[0] = f->offset[0] = '\1';
    f->partition[1] = f->offset[1] = '\0';
}

void ferry_fields_set_headers(struct ferry_fields *f, const rd_kafka_headers_t *headers)
{
    f->headers = headers;
}

/* header.NAME: the value of the last header NAME; absent without one, or with a NULL value. */
static int header(const struct ferry_fields *f, const char *name, size_t n, const char **val,
                  size_t *len)
{
    char key[256];
    const void *v;
    size_t size;
    if (!f->headers || n >= sizeof(key))
        return -1;
    memcpy(key, name, n);
    key[n] = '\0';
    if (rd_kafka_header_get_last(f->headers, key, &v, &size) != RD_KAFKA_RESP_ERR_NO_ERROR || !v)
        return -1;
    *val = v;
    *len = size;
    return 0;
}

static int meta(const struct ferry_fields *f, const char *name, size_t n, const char **val,
                size_t *len)
{
    /* the text fields are empty until set: an empty one is absent */
#define META(key, present, v, l)                                                                   \
    if (n == sizeof(key) - 1 && !memcmp(name, key, n)) {                                           \
        if (!(present))                                                                            \
            return -1;                                                                             \
        *val = (v);                                                                                \
        *len = (l);                                                                                \
        return 0;                                                                                  \
    }
#define META_TEXT(key, arr) META(key, (arr)[0] != '\0', arr, strlen(arr))
/* a number written out on first use: the fields are the sink's own, never a const object */
#define META_NUM(key, arr, v)                                                                      \
    if (n == sizeof(key) - 1 && !memcmp(name, key, n) && (arr)[0] == '\1')                         \
        put_i64((char *)(arr), (v));                                                               \
    META_TEXT(key, arr)
    META("raw", f->raw != NULL, f->raw, f->raw_len)
    META("topic", f->topic != NULL, f->topic, f->topic ? strlen(f->topic) : 0)
    META_NUM("partition", f->partition, f->partition_v)
    META_NUM("offset", f->offset, f->offset_v)
    META_NUM("ts", f->ts, f->ts_ms)
    META_TEXT("minute", f->minute)
    META_TEXT("hour", f->hour)
    META_TEXT("day", f->day)
    META_NUM("kafka_timestamp", f->kafka_ts, f->kafka_ts_v)
#undef META_NUM
#undef META_TEXT
#undef META
    if (n > 7 && !memcmp(name, "header.", 7))
        return header(f, name + 7, n - 7, val, len);
    return 1;
}

int ferry_fields_is_meta(const char *name, size_t name_len)
{
    static const struct ferry_fields none; /* every metadata field absent */
    const char *v;
    size_t len;
    return meta(&none, name, name_len, &v, &len) != 1;
}

/* ts, minute, hour and day: the event's own field of that name, when it has one, comes first
 * (a JSON event's "ts" is its time); the record's metadata (raw, topic, partition, offset,
 * kafka_timestamp, header.NAME) always wins. */
static bool event_first(const char *name, size_t n)
{
    return (n == 2 && !memcmp(name, "ts", 2)) || (n == 6 && !memcmp(name, "minute", 6)) ||
           (n == 4 && !memcmp(name, "hour", 4)) || (n == 3 && !memcmp(name, "day", 3));
}

int ferry_fields_get(const struct ferry_fields *f, const char *name, size_t name_len,
                     const char **val, size_t *len)
{
    bool late = event_first(name, name_len);
    int m = late ? 1 : meta(f, name, name_len, val, len);
    if (m <= 0)
        return m;
    for (size_t i = 0; i < f->n; i++) {
        const struct ferry_field *x = &f->v[i];
        if (x->name_len == name_len && !memcmp(x->name, name, name_len)) {
            *val = x->ext ? x->ext : f->scratch.p + x->off;
            *len = x->len;
            return 0;
        }
    }
    return late && meta(f, name, name_len, val, len) == 0 ? 0 : -1;
}

/* Walks tpl; for each literal run calls lit, for each {name} calls field. */
static int walk(const char *tpl, const struct ferry_fields *f, struct ferry_buf *out, char *err,
                size_t errlen)
{
    const char *p = tpl;
    while (*p) {
        if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
            if (out)
                ferry_buf_add(out, p, 1);
            p += 2;
            continue;
        }
        if (*p == '}')
            return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                                "template '%s': unmatched '}' (write '}}' for a literal one)", tpl);
        if (*p != '{') {
            size_t run = strcspn(p, "{}");
            if (out)
                ferry_buf_add(out, p, run);
            p += run;
            continue;
        }
        const char *end = strchr(p + 1, '}');
        if (!end)
            return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "template '%s': unclosed '{'", tpl);
        size_t n = (size_t)(end - p - 1);
        if (n == 0 || memchr(p + 1, '{', n))
            return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                                "template '%s': empty or nested field name", tpl);
        if (out) {
            const char *v;
            size_t len;
            if (ferry_fields_get(f, p + 1, n, &v, &len) < 0)
                return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "field '%.*s' is missing",
                                    (int)n, p + 1);
            ferry_buf_add(out, v, len);
        }
        p = end + 1;
    }
    return 0;
}

int ferry_template_expand(const char *tpl, const struct ferry_fields *f, struct ferry_buf *out,
                          char *err, size_t errlen)
{
    if (ferry_buf_add(out, "", 0) < 0)
        return FERRY_ERR_NOMEM;
    return walk(tpl, f, out, err, errlen);
}

int ferry_template_check(const char *tpl, char *err, size_t errlen)
{
    return walk(tpl, NULL, NULL, err, errlen);
}
