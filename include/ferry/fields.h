/* ferry: from an event's bytes to named fields, and from fields to command arguments.
 *
 * A parser is compiled once per worker; a ferry_fields is reused for every event of that
 * worker (parse resets it). Field values borrow from the event's bytes or from storage inside
 * the ferry_fields: they are valid until the next parse or release. One thread at a time. */
#ifndef FERRY_FIELDS_H
#define FERRY_FIELDS_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/config.h"

#define FERRY_FIELDS_MAX 128 /* more top-level JSON members than this are ignored, counted */

struct ferry_buf {
    char *p;
    size_t len, cap;
};
int ferry_buf_add(struct ferry_buf *b, const char *s, size_t n);
void ferry_buf_release(struct ferry_buf *b);

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
    int64_t ts_ms; /* event time: parsed from the event, else the Kafka timestamp */
    /* metadata, set by ferry_fields_set_meta and available as fields of the same names */
    const char *raw;
    size_t raw_len;
    const char *topic;
    char partition[16], offset[24], minute[20], hour[16], day[12], ts[24];
};

struct ferry_parser;

struct ferry_parser *ferry_parser_new(enum ferry_format format, char *err, size_t errlen);
void ferry_parser_destroy(struct ferry_parser *p);

/* Parses data (borrowed; must outlive the field values) into f. kafka_ts_ms is the event
 * time used when the event carries none of its own. Returns 0, or FERRY_ERR_INVALID with err
 * saying what does not match; the metadata fields are set even then. */
int ferry_fields_parse(struct ferry_parser *p, struct ferry_fields *f, const char *data, size_t len,
                       int64_t kafka_ts_ms, char *err, size_t errlen);
/* Sets topic, partition and offset (topic is borrowed). */
void ferry_fields_set_meta(struct ferry_fields *f, const char *topic, int32_t partition,
                           int64_t offset);
/* Finds a field. Metadata names (raw, topic, partition, offset, ts, minute, hour, day) come
 * first. Returns 0 and the value, or -1 when absent. */
int ferry_fields_get(const struct ferry_fields *f, const char *name, size_t name_len,
                     const char **val, size_t *len);
void ferry_fields_release(struct ferry_fields *f);

/* Appends the expansion of template tpl to out: "{name}" is the field's value, "{{" and "}}"
 * are literal braces. Returns 0, or FERRY_ERR_INVALID naming the missing field (out then
 * holds a partial expansion). */
int ferry_template_expand(const char *tpl, const struct ferry_fields *f, struct ferry_buf *out,
                          char *err, size_t errlen);
/* Checks a template's syntax; 0 or FERRY_ERR_INVALID with err. */
int ferry_template_check(const char *tpl, char *err, size_t errlen);

/* Parses an access-log time "10/Oct/2000:13:55:36 -0700" into ms since the epoch; -1 if bad. */
int64_t ferry_clf_time(const char *s, size_t len);

#endif
