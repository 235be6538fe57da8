/* ferry: from an event's bytes to named fields, and from fields to command arguments.
 *
 * A parser is compiled once per worker; a ferry_fields is reused for every event of that
 * worker (parse resets it). Field values borrow from the event's bytes or from storage inside
 * the ferry_fields: they are valid until the next parse or release. One thread at a time. */
#ifndef FERRY_FIELDS_H
#define FERRY_FIELDS_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/buf.h"
#include "ferry/config.h"

#define FERRY_FIELDS_MAX 128 /* more top-level JSON members than this are ignored, counted */

struct ferry_field {
    const char *name; /* borrowed from the parser or the event */
    size_t name_len;
    const char *ext; /* value in the event's bytes, or NULL: value at `off` in scratch */
    size_t off, len;
};

struct ferry_fields {
    struct ferry_field v[FERRY_FIELDS_MAX];
    size_t n;
    size_t dropped; /* members beyond FERRY_FIELDS_MAX in the last parse */
    struct ferry_buf scratch;
    void *json;    /* json_t * of the last JSON parse */
    int64_t ts_ms; /* event time: parsed from the event, else the Kafka timestamp; -1: none */
    /* metadata, available as fields of the same names; partition, offset and the time
     * buckets below are absent fields while they are empty strings */
    const char *raw;
    size_t raw_len;
    const char *topic;
    /* partition, offset, ts and kafka_ts are written out when first asked for: "\1" until
     * then, with the number in the *_v fields (most templates never ask) */
    char partition[16], offset[24], minute[20], hour[16], day[12], ts[24];
    int64_t partition_v, offset_v, kafka_ts_v;
    int64_t minute_of; /* 1 + the minute (ms / 60000) minute, hour and day were made for; 0: none */
    char kafka_ts[24]; /* kafka_timestamp: the message's, in ms; "" none */
    const rd_kafka_headers_t *headers; /* header.NAME; borrowed, NULL: none */
};

struct ferry_parser;

/* A parser for `format`. pattern (borrowed; read only here) is the PCRE2 pattern of
 * FERRY_FORMAT_REGEX, whose named groups become fields; it must be NULL for the other formats.
 * 0 and *out (the caller destroys it), or FERRY_ERR_INVALID / FERRY_ERR_NOMEM with err saying
 * why and *out untouched. One thread uses a parser at a time. */
int ferry_parser_new(struct ferry_parser **out, enum ferry_format format, const char *pattern,
                     char *err, size_t errlen);
void ferry_parser_destroy(struct ferry_parser *p);
/* Checks a `format: regex` pattern: it compiles and has at least one named group. Returns 0,
 * or FERRY_ERR_INVALID with err (a compile error gives PCRE2's offset in the pattern). */
int ferry_parser_check_pattern(const char *pattern, char *err, size_t errlen);

/* Parses data (borrowed; must outlive the field values) into f. kafka_ts_ms is the event
 * time used when the event carries none of its own; when it is negative (Kafka's -1, no
 * timestamp) and the event has no time either, ts, minute, hour and day are absent. Returns 0,
 * or FERRY_ERR_INVALID with err saying what does not match; raw and the time fields are set
 * even then. */
int ferry_fields_parse(struct ferry_parser *p, struct ferry_fields *f, const char *data, size_t len,
                       int64_t kafka_ts_ms, char *err, size_t errlen);
/* Sets topic, partition and offset (topic is borrowed); until the first call they are absent
 * fields. Parsing does not reset them. */
void ferry_fields_set_meta(struct ferry_fields *f, const char *topic, int32_t partition,
                           int64_t offset);
/* Sets the Kafka headers that the fields `header.NAME` read (borrowed: they must outlive the
 * field values; NULL: none). Parsing does not reset them. */
void ferry_fields_set_headers(struct ferry_fields *f, const rd_kafka_headers_t *headers);
/* Finds a field. Metadata names (raw, topic, partition, offset, ts, minute, hour, day,
 * kafka_timestamp, and header.NAME: the value of the message's last header NAME) come
 * first. Returns 0 and the value, or -1 when absent. */
int ferry_fields_get(const struct ferry_fields *f, const char *name, size_t name_len,
                     const char **val, size_t *len);
void ferry_fields_release(struct ferry_fields *f);
/* 1 when `name` is a metadata name (see ferry_fields_get), whether present or not; else 0. */
int ferry_fields_is_meta(const char *name, size_t name_len);

/* Appends the expansion of template tpl to out: "{name}" is the field's value, "{{" and "}}"
 * are literal braces. Returns 0, or FERRY_ERR_INVALID naming the missing field (out then
 * holds a partial expansion). */
int ferry_template_expand(const char *tpl, const struct ferry_fields *f, struct ferry_buf *out,
                          char *err, size_t errlen);
/* Checks a template's syntax; 0 or FERRY_ERR_INVALID with err. */
int ferry_template_check(const char *tpl, char *err, size_t errlen);

/* Writes the decimal digits of v (and a '-') at out, without a NUL; returns how many (at most
 * 20). For hot paths, where snprintf costs more than the rest of a small event. */
size_t ferry_format_i64(char *out, int64_t v);

/* Parses an access-log time "10/Oct/2000:13:55:36 -0700" into ms since the epoch; -1 if bad.
 * Exactly "DD/Mon/YYYY:HH:MM:SS +HHMM": two-digit day valid for the month (leap years
 * included), English month abbreviation, four-digit year from 0001, hour < 24, minute < 60,
 * second <= 60 (a leap second counts as the next second), zone hours <= 14, minutes < 60. */
int64_t ferry_clf_time(const char *s, size_t len);

#endif
