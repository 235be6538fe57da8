/* ferry: from an event's fields to typed column values (sinks.workers[].columns).
 *
 * A mapping is compiled once per worker from its column configuration. Applied to the fields
 * of one event it gives one canonical value per column, or the reason why the event cannot be
 * stored ("column status: 'abc' is not an integer"). Canonical values know nothing of any
 * database: an integer is an int64_t, a time is milliseconds since the epoch in UTC, a JSON
 * value is JSON text. One thread at a time per mapping.
 *
 * Conversions from text, per type:
 *   string    the text as it is
 *   int       an optional sign and decimal digits, within a signed 64-bit integer
 *   float     a decimal number, optionally with a fraction and an exponent (no inf, no nan)
 *   bool      true/false, yes/no, 1/0 (letters in any case)
 *   datetime  per ferry_time_format; years 1000 to 9999 (the range of a MySQL DATETIME);
 *             kept to the millisecond (finer digits are dropped, not rounded)
 *   json      a JSON document's member: its own JSON (a string member becomes a JSON
 *             string); any other field: its text, which must be valid JSON
 * For int, float, bool and datetime an empty text or a lone "-" (what access logs write for
 * "none") counts as a missing field. */
#ifndef FERRY_MAPPING_H
#define FERRY_MAPPING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/config.h"
#include "ferry/fields.h"

/* sinks.workers[].columns: the type a column's value is converted to, from a field's text. */
enum ferry_column_type {
    FERRY_COLUMN_STRING,
    FERRY_COLUMN_INT,      /* 64-bit signed */
    FERRY_COLUMN_FLOAT,    /* IEEE double */
    FERRY_COLUMN_BOOL,     /* true/false, 1/0, yes/no */
    FERRY_COLUMN_DATETIME, /* a point in time, kept to the millisecond, in UTC */
    FERRY_COLUMN_JSON      /* any JSON value */
};
/* How a datetime column reads its field. */
enum ferry_time_format {
    FERRY_TIME_AUTO,     /* ISO 8601 or access-log time, told apart by their shape */
    FERRY_TIME_ISO8601,  /* 2026-11-25T18:31:41.123+01:00 */
    FERRY_TIME_CLF,      /* 25/Nov/2026:18:31:41 +0100 */
    FERRY_TIME_EPOCH_S,  /* seconds since 1970-01-01 UTC, with an optional fraction */
    FERRY_TIME_EPOCH_MS, /* milliseconds since 1970-01-01 UTC */
    /* not a configuration value: `auto` for a column reading field `ts`, which is the event's
     * own field when it has one (a date and time) and else the metadata (milliseconds) */
    FERRY_TIME_AUTO_OR_MS,
};
struct ferry_column_config {
    char *name;  /* the column: a valid MySQL identifier, not one of ferry's own */
    char *field; /* the field its value comes from; defaults to the column's name */
    enum ferry_column_type type;
    enum ferry_time_format time_format; /* datetime columns only */
    char *def;   /* `default`: text converted like a field's value when the field is missing;
                    NULL: none (validated: it converts) */
    bool null;   /* a missing field without a default is NULL (true) or a reject (false);
                    always false for the columns of an upsert key */
    long length; /* string columns: VARCHAR(length) when ferry creates the table; 0: TEXT */
};

struct ferry_value {
    bool null;
    enum ferry_column_type type;
    int64_t i;     /* INT; BOOL: 0 or 1; DATETIME: ms since 1970-01-01T00:00:00Z */
    double f;      /* FLOAT (finite) */
    const char *s; /* STRING, JSON: the text, not NUL-terminated; borrowed (see below); INT,
                      FLOAT: the text the number was read from (a valid SQL literal) */
    size_t len;
};

/* The longest text ferry_value_format writes, NUL included. */
#define FERRY_VALUE_TEXT_MAX 32

/* Converts text s (len bytes, borrowed) to type t; fmt applies to DATETIME. Returns 0 with *out
 * set (for STRING, JSON, INT and FLOAT out->s points into s), or FERRY_ERR_INVALID with err
 * saying why ("'abc' is not an integer"). An empty text or "-" is not special here. */
int ferry_value_parse(enum ferry_column_type t, enum ferry_time_format fmt, const char *s,
                      size_t len, struct ferry_value *out, char *err, size_t errlen);

/* The canonical text of an INT, FLOAT, BOOL or DATETIME value: "-42", "0.1" (the shortest
 * text that reads back as the same double), "1"/"0", "2026-11-25 18:31:41.123" (UTC). Writes
 * it NUL-terminated to buf (at least FERRY_VALUE_TEXT_MAX bytes) and returns its length; 0
 * for NULL, STRING and JSON values (their text is v->s). */
size_t ferry_value_format(const struct ferry_value *v, char *buf);

/* The format a datetime column reads its field with: its time_format, except that `auto`
 * reads the metadata fields ts and kafka_timestamp (milliseconds) as FERRY_TIME_EPOCH_MS. */
enum ferry_time_format ferry_column_time_format(const struct ferry_column_config *c);

/* "string", "int", "float", "bool", "datetime" or "json". */
const char *ferry_column_type_name(enum ferry_column_type t);
/* The same names by enum value, NULL-terminated (a key table's enum). */
extern const char *const ferry_column_type_names[];

struct ferry_mapping;

/* Compiles the columns (borrowed: they must outlive the mapping). Every default must convert
 * (the configuration validator checks it). 0 and *out (the caller destroys it), or
 * FERRY_ERR_INVALID (a default does not convert) / FERRY_ERR_NOMEM with err, *out untouched.
 * One thread uses a mapping at a time. */
int ferry_mapping_new(struct ferry_mapping **out, const struct ferry_column_config *cols, size_t n,
                      char *err, size_t errlen);
void ferry_mapping_destroy(struct ferry_mapping *m);

/* Converts the fields of one event into out[0 .. n-1], one value per column in configuration
 * order. A missing field gives the column's default, else NULL, else (null: false) a reject.
 * Values borrow from f and from the mapping: valid until the next apply or until f changes.
 * Returns 0, or FERRY_ERR_INVALID with err saying which column and why ("column status: 'abc'
 * is not an integer"); out is then partly set. */
int ferry_mapping_apply(struct ferry_mapping *m, const struct ferry_fields *f,
                        struct ferry_value *out, char *err, size_t errlen);

#endif
