/* ferry: typed column values from an event's fields (see include/ferry/mapping.h).
 *
 * Every conversion is strict and written out here rather than left to strtol, strptime or
 * the database: what is accepted is exactly what the header says, a value is either right or
 * the event is rejected with a reason, and the text handed to a database never needs the
 * server to guess (a value the server would truncate or coerce is refused before it). */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ferry/calendar.h"
#include "ferry/err.h"
#include "ferry/mapping.h"

#define MS_PER_DAY FERRY_MS_PER_DAY

/* The range of a MySQL DATETIME: 1000-01-01 00:00:00.000 to 9999-12-31 23:59:59.999. */
static int in_datetime_range(int64_t ms)
{
    return ms >= ferry_cal_days_from_date(1000, 1, 1) * MS_PER_DAY &&
           ms < ferry_cal_days_from_date(10000, 1, 1) * MS_PER_DAY;
}

/* "[.,]ddd…" at s[*i]: the first three digits as milliseconds, finer ones dropped. */
static int fraction_ms(const char *s, size_t len, size_t *i, int *ms)
{
    size_t start = ++*i;
    int v = 0, k = 0;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        if (k < 3) {
            v = v * 10 + (s[*i] - '0');
            k++;
        }
        ++*i;
    }
    if (*i == start)
        return -1;
    while (k++ < 3)
        v *= 10;
    *ms = v;
    return 0;
}

/* A zone at s[*i]: "Z", or "+HH:MM", "+HHMM", "+HH" (or "-"); seconds east of UTC. */
static int zone(const char *s, size_t len, size_t *i, int64_t *east)
{
    int zh, zm = 0;
    if (s[*i] == 'Z' || s[*i] == 'z') {
        ++*i;
        *east = 0;
        return 0;
    }
    int sign = s[*i] == '-' ? -1 : 1;
    if ((s[*i] != '+' && s[*i] != '-') || len - *i < 3 || ferry_cal_digits(s + *i + 1, 2, &zh) < 0)
        return -1;
    *i += 3;
    if (*i < len && s[*i] == ':')
        ++*i;
    if (*i < len) {
        if (len - *i < 2 || ferry_cal_digits(s + *i, 2, &zm) < 0)
            return -1;
        *i += 2;
    }
    if (zh > 14 || zm > 59)
        return -1;
    *east = sign * (zh * 3600 + zm * 60);
    return 0;
}

/* ISO 8601, extended format: YYYY-MM-DD, then optionally [T or space]HH:MM[:SS[.fff…]], then
 * optionally a zone; without a zone the time is UTC. A leap second (:60) is the next second. */
static int parse_iso8601(const char *s, size_t len, int64_t *ms)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
    int64_t east = 0;
    size_t i = 10;

    if (len < 10 || s[4] != '-' || s[7] != '-' || ferry_cal_digits(s, 4, &y) < 0 ||
        ferry_cal_digits(s + 5, 2, &mo) < 0 || ferry_cal_digits(s + 8, 2, &d) < 0)
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > ferry_cal_month_days(y, mo) || y < 1)
        return -1;
    if (i < len) {
        if ((s[i] != 'T' && s[i] != 't' && s[i] != ' ') || len - i < 6 || s[i + 3] != ':' ||
            ferry_cal_digits(s + i + 1, 2, &h) < 0 || ferry_cal_digits(s + i + 4, 2, &mi) < 0)
            return -1;
        i += 6;
        if (i < len && s[i] == ':') {
            if (len - i < 3 || ferry_cal_digits(s + i + 1, 2, &sec) < 0)
                return -1;
            i += 3;
            if (i < len && (s[i] == '.' || s[i] == ',') && fraction_ms(s, len, &i, &frac) < 0)
                return -1;
        }
        if (h > 23 || mi > 59 || sec > 60)
            return -1;
        if (i < len && zone(s, len, &i, &east) < 0)
            return -1;
    }
    if (i != len)
        return -1;
    *ms = ferry_cal_days_from_date(y, mo, d) * MS_PER_DAY +
          ((int64_t)h * 3600 + mi * 60 + sec - east) * 1000 + frac;
    return 0;
}

/* "-?digits[.digits]" as units of `scale` ms (1000: seconds, 1: milliseconds); digits beyond
 * the millisecond are dropped. */
static int parse_epoch(const char *s, size_t len, int64_t scale, int64_t *ms)
{
    size_t i = 0;
    int neg = 0, frac = 0;
    int64_t v = 0;

    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    if (i == len || s[i] < '0' || s[i] > '9')
        return -1;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (v > 1000000000000000LL) /* far beyond year 9999 in any unit */
            return -2;
        v = v * 10 + (s[i] - '0');
    }
    if (i < len && s[i] == '.') {
        if (fraction_ms(s, len, &i, &frac) < 0)
            return -1;
        if (scale == 1)
            frac = 0; /* below the millisecond */
    }
    if (i != len)
        return -1;
    v = v * scale + frac;
    *ms = neg ? -v : v;
    return 0;
}

static int parse_datetime(enum ferry_time_format fmt, const char *s, size_t len, int64_t *ms,
                          char *err, size_t errlen)
{
    static const char *const want[] = {
        [FERRY_TIME_AUTO] = "a date and time (ISO 8601 or access-log time)",
        [FERRY_TIME_ISO8601] = "an ISO 8601 date and time",
        [FERRY_TIME_CLF] = "an access-log time",
        [FERRY_TIME_EPOCH_S] = "a number of seconds since the epoch",
        [FERRY_TIME_EPOCH_MS] = "a number of milliseconds since the epoch",
        [FERRY_TIME_AUTO_OR_MS] = "a date and time, or milliseconds since the epoch",
    };
    enum ferry_time_format as = fmt;
    int rc = -1;
    if (fmt == FERRY_TIME_AUTO_OR_MS) {
        size_t i = len && s[0] == '-' ? 1 : 0;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        as = len && i == len ? FERRY_TIME_EPOCH_MS : FERRY_TIME_AUTO;
    }
    if (as == FERRY_TIME_AUTO)
        as = len == 26 && s[2] == '/' ? FERRY_TIME_CLF : FERRY_TIME_ISO8601;
    switch (as) {
    case FERRY_TIME_ISO8601:
        rc = parse_iso8601(s, len, ms);
        break;
    case FERRY_TIME_CLF:
        *ms = ferry_clf_time(s, len);
        rc = *ms == -1 ? -1 : 0;
        break;
    case FERRY_TIME_EPOCH_S:
    case FERRY_TIME_EPOCH_MS:
        rc = parse_epoch(s, len, as == FERRY_TIME_EPOCH_S ? 1000 : 1, ms);
        break;
    case FERRY_TIME_AUTO:
    case FERRY_TIME_AUTO_OR_MS:
        break;
    }
    if (rc == -1)
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "'%.*s' is not %s",
                            (int)(len > 64 ? 64 : len), s, want[fmt]);
    if (rc < 0 || !in_datetime_range(*ms))
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                            "'%.*s' is out of the DATETIME range (years 1000 to 9999)",
                            (int)(len > 64 ? 64 : len), s);
    return 0;
}

/* ---- numbers, booleans, JSON ------------------------------------------------------------ */

static int parse_int(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    uint64_t v = 0, limit;

    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    if (i == len)
        return -1;
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            return -2;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* [+-] (digits [. digits*] | . digits) [(e|E) [+-] digits], then strtod. */
static int parse_float(const char *s, size_t len, double *out)
{
    char buf[128];
    size_t i = 0, mant = 0;

    if (len >= sizeof(buf))
        return -1;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
        mant++;
    if (i < len && s[i] == '.')
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            mant++;
    if (!mant)
        return -1;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t e = ++i;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            e = ++i;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            ;
        if (i == e)
            return -1;
    }
    if (i != len)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    *out = strtod(buf, NULL);
    return isfinite(*out) ? 0 : -2;
}

static int parse_bool(const char *s, size_t len, int64_t *out)
{
    static const char *const words[] = {"false", "true", "no", "yes", "0", "1", NULL};
    for (int i = 0; words[i]; i++) {
        if (strlen(words[i]) == len && !strncasecmp(s, words[i], len)) {
            *out = i % 2;
            return 0;
        }
    }
    return -1;
}

static int valid_json(const char *s, size_t len)
{
    json_error_t e;
    json_t *j = json_loadb(s, len, JSON_DECODE_ANY, &e);
    if (!j)
        return 0;
    json_decref(j);
    return 1;
}

int ferry_value_parse(enum ferry_column_type t, enum ferry_time_format fmt, const char *s,
                      size_t len, struct ferry_value *out, char *err, size_t errlen)
{
    int q = (int)(len > 64 ? 64 : len), rc = 0;
    memset(out, 0, sizeof(*out));
    out->type = t;
    switch (t) {
    case FERRY_COLUMN_STRING:
        out->s = s;
        out->len = len;
        return 0;
    case FERRY_COLUMN_JSON:
        if (!valid_json(s, len))
            return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "'%.*s' is not valid JSON", q, s);
        out->s = s;
        out->len = len;
        return 0;
    case FERRY_COLUMN_INT:
        out->s = s; /* the text it was read from, for a database to read again */
        out->len = len;
        rc = parse_int(s, len, &out->i);
        if (rc == -2)
            return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                                "'%.*s' is out of range for a 64-bit integer", q, s);
        break;
    case FERRY_COLUMN_FLOAT:
        out->s = s;
        out->len = len;
        rc = parse_float(s, len, &out->f);
        if (rc == -2)
            return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                                "'%.*s' is out of range for a double", q, s);
        break;
    case FERRY_COLUMN_BOOL:
        rc = parse_bool(s, len, &out->i);
        break;
    case FERRY_COLUMN_DATETIME:
        return parse_datetime(fmt, s, len, &out->i, err, errlen);
    }
    if (rc < 0) {
        static const char *const what[] = {[FERRY_COLUMN_INT] = "an integer",
                                           [FERRY_COLUMN_FLOAT] = "a number",
                                           [FERRY_COLUMN_BOOL] = "a boolean"};
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "'%.*s' is not %s", q, s, what[t]);
    }
    return 0;
}

/* ---- canonical text --------------------------------------------------------------------- */

static size_t format_datetime(int64_t ms, char *buf)
{
    int64_t days = ms / MS_PER_DAY, rem = ms % MS_PER_DAY;
    if (rem < 0) {
        rem += MS_PER_DAY;
        days--;
    }
    int64_t y = 1970 + days / 366;
    while (y > 1 && ferry_cal_days_from_date(y, 1, 1) > days)
        y--;
    while (ferry_cal_days_from_date(y + 1, 1, 1) <= days)
        y++;
    int m = 1;
    int64_t d = days - ferry_cal_days_from_date(y, 1, 1);
    while (d >= ferry_cal_month_days(y, m))
        d -= ferry_cal_month_days(y, m++);
    if (y < 0 || y > 9999) /* beyond any DATETIME: still readable */
        return (size_t)snprintf(buf, FERRY_VALUE_TEXT_MAX, "%" PRId64 "-%02d-%02d", y, m,
                                (int)d + 1);
    /* by hand: it runs for every datetime value of every row */
    int sec = (int)(rem / 1000),
        f[] = {(int)y / 100, (int)y % 100, m, (int)d + 1, sec / 3600, sec / 60 % 60, sec % 60};
    static const char sep[7] = {0, 0, '-', '-', ' ', ':', ':'}; /* before each field */
    char *o = buf;
    for (int i = 0; i < 7; i++) {
        if (sep[i])
            *o++ = sep[i];
        *o++ = (char)('0' + f[i] / 10);
        *o++ = (char)('0' + f[i] % 10);
    }
    *o++ = '.';
    *o++ = (char)('0' + rem % 1000 / 100);
    *o++ = (char)('0' + rem % 100 / 10);
    *o++ = (char)('0' + rem % 10);
    *o = '\0';
    return (size_t)(o - buf);
}

size_t ferry_value_format(const struct ferry_value *v, char *buf)
{
    buf[0] = '\0';
    if (v->null)
        return 0;
    switch (v->type) {
    case FERRY_COLUMN_INT:
        return (size_t)snprintf(buf, FERRY_VALUE_TEXT_MAX, "%" PRId64, v->i);
    case FERRY_COLUMN_BOOL:
        return (size_t)snprintf(buf, FERRY_VALUE_TEXT_MAX, "%d", v->i ? 1 : 0);
    case FERRY_COLUMN_FLOAT:
        /* the shortest of 15, 16 and 17 digits that reads back as the same double */
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, FERRY_VALUE_TEXT_MAX, "%.*g", prec, v->f);
            if (strtod(buf, NULL) == v->f)
                break;
        }
        return strlen(buf);
    case FERRY_COLUMN_DATETIME:
        return format_datetime(v->i, buf);
    case FERRY_COLUMN_STRING:
    case FERRY_COLUMN_JSON:
        break;
    }
    return 0;
}

enum ferry_time_format ferry_column_time_format(const struct ferry_column_config *c)
{
    if (c->time_format == FERRY_TIME_AUTO && c->field && !strcmp(c->field, "kafka_timestamp"))
        return FERRY_TIME_EPOCH_MS;
    if (c->time_format == FERRY_TIME_AUTO && c->field && !strcmp(c->field, "ts"))
        return FERRY_TIME_AUTO_OR_MS;
    return c->time_format;
}

const char *const ferry_column_type_names[] = {"string",   "int",  "float", "bool",
                                               "datetime", "json", NULL};

const char *ferry_column_type_name(enum ferry_column_type t)
{
    return (unsigned)t <= FERRY_COLUMN_JSON ? ferry_column_type_names[t] : "?";
}

/* ---- the mapping ------------------------------------------------------------------------ */

struct column {
    const struct ferry_column_config *c;
    size_t field_len;
    int meta; /* the field is metadata: never a JSON document's member */
    enum ferry_time_format fmt;
    struct ferry_value def;
    int has_def;
    char *dump; /* JSON text of this column's value in the last apply (json_dumps) */
};

struct ferry_mapping {
    struct column *cols;
    size_t n;
};

int ferry_mapping_new(struct ferry_mapping **out, const struct ferry_column_config *cols, size_t n,
                      char *err, size_t errlen)
{
    struct ferry_mapping *m = calloc(1, sizeof(*m));
    char why[256];

    if (!m || !(m->cols = calloc(n ? n : 1, sizeof(*m->cols)))) {
        free(m);
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "mapping: out of memory");
    }
    m->n = n;
    for (size_t i = 0; i < n; i++) {
        struct column *c = &m->cols[i];
        c->c = &cols[i];
        c->field_len = strlen(cols[i].field);
        c->meta = ferry_fields_is_meta(cols[i].field, c->field_len);
        c->fmt = ferry_column_time_format(&cols[i]);
        if (!cols[i].def)
            continue;
        if (ferry_value_parse(cols[i].type, c->fmt, cols[i].def, strlen(cols[i].def), &c->def, why,
                              sizeof(why)) < 0) {
            ferry_mapping_destroy(m);
            return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "column %s: default %s",
                                cols[i].name, why);
        }
        c->has_def = 1;
    }
    *out = m;
    return 0;
}

void ferry_mapping_destroy(struct ferry_mapping *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->cols[i].dump);
    free(m->cols);
    free(m);
}

/* A JSON column reading a member of a JSON document: the member's own JSON. 1: found, 0:
 * missing (or null), -1: out of memory. */
static int json_member(struct column *c, const struct ferry_fields *f, struct ferry_value *v)
{
    json_t *j = json_object_getn(f->json, c->c->field, c->field_len);
    if (!j || json_is_null(j))
        return 0;
    c->dump = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!c->dump)
        return -1;
    v->type = FERRY_COLUMN_JSON;
    v->s = c->dump;
    v->len = strlen(c->dump);
    return 1;
}

static int missing(const struct column *c, struct ferry_value *v, char *err, size_t errlen)
{
    if (c->has_def) {
        *v = c->def;
        return 0;
    }
    if (!c->c->null)
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "column %s: field '%s' is missing",
                            c->c->name, c->c->field);
    memset(v, 0, sizeof(*v));
    v->null = true;
    v->type = c->c->type;
    return 0;
}

int ferry_mapping_apply(struct ferry_mapping *m, const struct ferry_fields *f,
                        struct ferry_value *out, char *err, size_t errlen)
{
    char why[256];
    for (size_t i = 0; i < m->n; i++) {
        struct column *c = &m->cols[i];
        enum ferry_column_type t = c->c->type;
        const char *s;
        size_t len;
        free(c->dump);
        c->dump = NULL;
        if (t == FERRY_COLUMN_JSON && !c->meta && f->json) {
            int rc = json_member(c, f, &out[i]);
            if (rc < 0)
                return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "column %s: out of memory",
                                    c->c->name);
            if (rc == 0 && missing(c, &out[i], err, errlen) < 0)
                return FERRY_ERR_INVALID;
            continue;
        }
        int absent = ferry_fields_get(f, c->c->field, c->field_len, &s, &len) < 0;
        if (!absent && t != FERRY_COLUMN_STRING && t != FERRY_COLUMN_JSON)
            absent = len == 0 || (len == 1 && s[0] == '-');
        if (absent) {
            if (missing(c, &out[i], err, errlen) < 0)
                return FERRY_ERR_INVALID;
            continue;
        }
        if (ferry_value_parse(t, c->fmt, s, len, &out[i], why, sizeof(why)) < 0)
            return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "column %s: %s", c->c->name, why);
    }
    return 0;
}
