/* ferry: the partitioning key of an event — a JSON field, a regex group, or a fixed string.
 *
 * A keyer is built once per source from its `partitioning.key` section and then applied to
 * every event. Extraction never fails loudly: an event whose key cannot be found (a line that
 * is not JSON, a field that is absent or not a string or number, no match, invalid UTF-8) gets
 * no key and a reason, which the agent counts; the producer sends it where `fallback` says.
 *
 * An extracted key may be empty: `{"user_id": ""}` gives a key of length 0, which Kafka's Java
 * client hashes like any other key. That is not the same as no key at all.
 *
 * A keyer is not thread-safe: one thread (the agent's) uses it. */
#ifndef FERRY_KEYER_H
#define FERRY_KEYER_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/config.h"

enum ferry_key_result {
    FERRY_KEY_OK = 0,
    FERRY_KEY_NOT_JSON,     /* json_field: the event is not a JSON object */
    FERRY_KEY_NO_FIELD,     /* json_field: the object has no such member */
    FERRY_KEY_NOT_SCALAR,   /* json_field: the member is not a string or a number */
    FERRY_KEY_BAD_UTF8,     /* json_field: the member's string is not valid UTF-8 */
    FERRY_KEY_NO_MATCH,     /* regex: no match, or the group took no part in it */
    FERRY_KEY_MATCH_FAILED, /* regex: PCRE2 gave up (match or heap limit) */
    FERRY_KEY_NRESULTS
};

struct ferry_keyer;

/* Builds a keyer for cfg (borrowed only during the call). Returns 0 and *out, or
 * FERRY_ERR_INVALID (a pattern PCRE2 refuses, an unknown group; err says which) or
 * FERRY_ERR_NOMEM. */
int ferry_keyer_new(struct ferry_keyer **out, const struct ferry_key_config *cfg, char *err,
                    size_t errlen);

/* The key of the event data[0..len). FERRY_KEY_OK sets *key (never NULL) and *key_len; the
 * key points into data or into the keyer, and is valid until data changes or the next call.
 * Any other result leaves *key NULL and *key_len 0. data may hold any bytes, NUL included. */
enum ferry_key_result ferry_keyer_extract(struct ferry_keyer *k, const char *data, size_t len,
                                          const char **key, size_t *key_len);

/* "ok", "not json", "no field", …: for logs. */
const char *ferry_keyer_result_name(enum ferry_key_result r);

/* Checks a `regex` key as ferry_keyer_new would compile it, for the configuration validator:
 * 0, or FERRY_ERR_INVALID with err saying what is wrong ("bad pattern at offset 7: missing
 * closing parenthesis", "the pattern has no capture group", "no group named 'uid'"). */
int ferry_keyer_check_regex(const char *pattern, const char *group, char *err, size_t errlen);

void ferry_keyer_destroy(struct ferry_keyer *k);

#endif
