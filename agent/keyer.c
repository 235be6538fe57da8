/* ferry: the partitioning key of an event (see keyer.h).
 *
 * JSON lines are not parsed whole: a small scanner walks the members of the top-level object,
 * skipping values it does not need, and stops at the wanted member. Only a string with
 * escapes is handed to jansson, to decode it exactly as a JSON parser must. What follows the
 * wanted member is not examined, so a line broken after it still yields its key. The scanner
 * keeps no stack (nesting is a counter), so no line, however long or deep, can exhaust one. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "ferry/err.h"
#include "ferry/keyer.h"

enum key_kind { KIND_JSON, KIND_REGEX, KIND_STATIC };

struct ferry_keyer {
    enum key_kind kind;
    char *field; /* KIND_JSON */
    size_t field_len;
    char *fixed; /* KIND_STATIC */
    size_t fixed_len;
    pcre2_code *re; /* KIND_REGEX */
    pcre2_match_data *md;
    uint32_t group;
    char *buf; /* decoded JSON strings; grows to the longest one */
    size_t cap;
};

const char *ferry_keyer_result_name(enum ferry_key_result r)
{
    static const char *const names[] = {
        "ok",       "not json",    "no field", "not a string or number", "invalid utf-8",
        "no match", "match limit",
    };
    return (unsigned)r < FERRY_KEY_NRESULTS ? names[r] : "?";
}

/* ---- regex ---------------------------------------------------------------------------- */

/* UTF mode, so that `.` and classes see characters; invalid UTF-8 in a line never matches
 * (it is not an error), so any bytes may be searched. */
#define RE_OPTIONS (PCRE2_UTF | PCRE2_MATCH_INVALID_UTF)

/* The group number `group` names: NULL is the first capture group, digits a group number
 * (0: the whole match), anything else a group name. */
static int resolve_group(pcre2_code *re, const char *group, uint32_t *out, char *err, size_t errlen)
{
    uint32_t ncap = 0;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &ncap);
    if (!group) {
        if (ncap == 0)
            return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                                "the pattern has no capture group: put the key in ( )");
        *out = 1;
        return 0;
    }
    if (*group && strspn(group, "0123456789") == strlen(group)) {
        unsigned long n = strtoul(group, NULL, 10);
        if (n > ncap)
            return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                                "group %s: the pattern has %u capture groups", group, ncap);
        *out = (uint32_t)n;
        return 0;
    }
    int n = pcre2_substring_number_from_name(re, (PCRE2_SPTR)group);
    if (n == PCRE2_ERROR_NOUNIQUESUBSTRING)
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "group name '%s' is not unique", group);
    if (n < 0)
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "no group named '%s'", group);
    *out = (uint32_t)n;
    return 0;
}

static pcre2_code *compile_regex(const char *pattern, const char *group, uint32_t *gnum, char *err,
                                 size_t errlen)
{
    int code;
    PCRE2_SIZE where;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, RE_OPTIONS, &code, &where, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof(msg));
        ferry_seterr(err, errlen, FERRY_ERR_INVALID, "bad pattern at offset %zu: %s", (size_t)where,
                     (const char *)msg);
        return NULL;
    }
    if (resolve_group(re, group, gnum, err, errlen) < 0) {
        pcre2_code_free(re);
        return NULL;
    }
    return re;
}

int ferry_keyer_check_regex(const char *pattern, const char *group, char *err, size_t errlen)
{
    uint32_t g;
    pcre2_code *re = compile_regex(pattern, group, &g, err, errlen);
    if (!re)
        return FERRY_ERR_INVALID;
    pcre2_code_free(re);
    return 0;
}

static enum ferry_key_result regex_key(struct ferry_keyer *k, const char *s, size_t n,
                                       const char **key, size_t *key_len)
{
    int rc = pcre2_match(k->re, (PCRE2_SPTR)s, n, 0, 0, k->md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH)
        return FERRY_KEY_NO_MATCH;
    if (rc < 0)
        return FERRY_KEY_MATCH_FAILED;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(k->md);
    if (ov[2 * k->group] == PCRE2_UNSET)
        return FERRY_KEY_NO_MATCH;
    *key = s + ov[2 * k->group];
    *key_len = ov[2 * k->group + 1] - ov[2 * k->group];
    return FERRY_KEY_OK;
}

/* ---- JSON ----------------------------------------------------------------------------- */

static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], len, cp, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            len = 2, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
            len = 3, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
            len = 4, cp = c & 0x07, min = 0x10000;
        else
            return 0;
        if (n - i < len)
            return 0;
        for (unsigned j = 1; j < len; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += len;
    }
    return 1;
}

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* The string token at s[i] == '"': the index just past its closing quote, or 0 when it is
 * unterminated or holds a control character. *esc tells whether it has escapes. */
static size_t scan_string(const char *s, size_t i, size_t n, int *esc)
{
    *esc = 0;
    for (i++; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"')
            return i + 1;
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            *esc = 1;
            i++;
        }
    }
    return 0;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static size_t scan_digits(const char *s, size_t i, size_t n)
{
    while (i < n && is_digit(s[i]))
        i++;
    return i;
}

/* A number as JSON's grammar has it: the index just past it, or 0. */
static size_t scan_number(const char *s, size_t i, size_t n)
{
    size_t d;
    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9')
        i = scan_digits(s, i, n);
    else
        return 0;
    if (i < n && s[i] == '.') {
        d = i + 1;
        if ((i = scan_digits(s, d, n)) == d)
            return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        d = i + 1;
        if (d < n && (s[d] == '+' || s[d] == '-'))
            d++;
        if ((i = scan_digits(s, d, n)) == d)
            return 0;
    }
    return i;
}

/* Skips the value at s[i]: the index just past it, or 0 when there is none. Objects and
 * arrays are skipped by counting brackets outside strings. */
static size_t skip_value(const char *s, size_t i, size_t n)
{
    int esc;
    size_t depth = 0, start = i;
    if (i < n && s[i] == '"')
        return scan_string(s, i, n, &esc);
    if (i < n && s[i] != '{' && s[i] != '[') {
        while (i < n && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\t' &&
               s[i] != '\r' && s[i] != '\n')
            i++;
        return i > start ? i : 0;
    }
    while (i < n) {
        if (s[i] == '"') {
            if (!(i = scan_string(s, i, n, &esc)))
                return 0;
            continue;
        }
        if (s[i] == '{' || s[i] == '[')
            depth++;
        else if ((s[i] == '}' || s[i] == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return 0;
}

/* Decodes the string token tok[0..len) (quotes included) into k->buf with jansson. */
static int decode_string(struct ferry_keyer *k, const char *tok, size_t len, size_t *out_len)
{
    json_error_t jerr;
    json_t *j = json_loadb(tok, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j || !json_is_string(j)) {
        json_decref(j);
        return -1;
    }
    size_t n = json_string_length(j);
    if (n + 1 > k->cap) {
        char *nb = realloc(k->buf, n + 1);
        if (!nb) {
            json_decref(j);
            return -1;
        }
        k->buf = nb;
        k->cap = n + 1;
    }
    memcpy(k->buf, json_string_value(j), n);
    *out_len = n;
    json_decref(j);
    return 0;
}

/* 1 when the member name tok[0..len) (quotes included) is the wanted field, 0 when it is
 * not, -1 when it does not decode. */
static int name_matches(struct ferry_keyer *k, const char *tok, size_t len, int esc)
{
    size_t n;
    if (!esc)
        return len - 2 == k->field_len && !memcmp(tok + 1, k->field, k->field_len);
    if (decode_string(k, tok, len, &n) < 0)
        return -1;
    return n == k->field_len && !memcmp(k->buf, k->field, n);
}

/* The wanted member's value at s[i]. */
static enum ferry_key_result json_value(struct ferry_keyer *k, const char *s, size_t i, size_t n,
                                        const char **key, size_t *key_len)
{
    size_t end;
    int esc = 0;
    if (i < n && s[i] == '"')
        end = scan_string(s, i, n, &esc);
    else if (i < n && (s[i] == '-' || is_digit(s[i])))
        end = scan_number(s, i, n);
    else if (i < n && (s[i] == 't' || s[i] == 'f' || s[i] == 'n' || s[i] == '{' || s[i] == '['))
        return FERRY_KEY_NOT_SCALAR;
    else
        return FERRY_KEY_NOT_JSON;
    size_t after = end ? skip_ws(s, end, n) : 0;
    if (!end || after >= n || (s[after] != ',' && s[after] != '}'))
        return FERRY_KEY_NOT_JSON;
    if (s[i] != '"') {
        *key = s + i; /* a number: its JSON text, as written */
        *key_len = end - i;
        return FERRY_KEY_OK;
    }
    if (!utf8_valid((const unsigned char *)s + i + 1, end - i - 2))
        return FERRY_KEY_BAD_UTF8;
    if (!esc) {
        *key = s + i + 1;
        *key_len = end - i - 2;
        return FERRY_KEY_OK;
    }
    if (decode_string(k, s + i, end - i, key_len) < 0)
        return FERRY_KEY_NOT_JSON;
    *key = k->buf;
    return FERRY_KEY_OK;
}

static enum ferry_key_result json_key(struct ferry_keyer *k, const char *s, size_t n,
                                      const char **key, size_t *key_len)
{
    size_t i = skip_ws(s, 0, n);
    if (i >= n || s[i] != '{')
        return FERRY_KEY_NOT_JSON;
    i = skip_ws(s, i + 1, n);
    if (i < n && s[i] == '}')
        return FERRY_KEY_NO_FIELD;
    for (;;) {
        int esc;
        size_t end = i < n && s[i] == '"' ? scan_string(s, i, n, &esc) : 0;
        if (!end)
            return FERRY_KEY_NOT_JSON;
        int match = name_matches(k, s + i, end - i, esc);
        i = skip_ws(s, end, n);
        if (match < 0 || i >= n || s[i] != ':')
            return FERRY_KEY_NOT_JSON;
        i = skip_ws(s, i + 1, n);
        if (match)
            return json_value(k, s, i, n, key, key_len);
        if (!(i = skip_value(s, i, n)))
            return FERRY_KEY_NOT_JSON;
        i = skip_ws(s, i, n);
        if (i < n && s[i] == '}')
            return FERRY_KEY_NO_FIELD;
        if (i >= n || s[i] != ',')
            return FERRY_KEY_NOT_JSON;
        i = skip_ws(s, i + 1, n);
    }
}

/* ---- the keyer ------------------------------------------------------------------------ */

static int keyer_init(struct ferry_keyer *k, const struct ferry_key_config *cfg, char *err,
                      size_t errlen)
{
    if (cfg->json_field) {
        k->kind = KIND_JSON;
        k->field_len = strlen(cfg->json_field);
        k->field = strdup(cfg->json_field);
        return k->field ? 0 : FERRY_ERR_NOMEM;
    }
    if (cfg->static_key) {
        k->kind = KIND_STATIC;
        k->fixed_len = strlen(cfg->static_key);
        k->fixed = strdup(cfg->static_key);
        return k->fixed ? 0 : FERRY_ERR_NOMEM;
    }
    if (!cfg->regex)
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                            "key: needs json_field, regex or static");
    k->kind = KIND_REGEX;
    k->re = compile_regex(cfg->regex, cfg->group, &k->group, err, errlen);
    if (!k->re)
        return FERRY_ERR_INVALID;
    /* JIT when the platform allows it; the interpreter gives the same answers otherwise */
    pcre2_jit_compile(k->re, PCRE2_JIT_COMPLETE);
    k->md = pcre2_match_data_create_from_pattern(k->re, NULL);
    return k->md ? 0 : FERRY_ERR_NOMEM;
}

int ferry_keyer_new(struct ferry_keyer **out, const struct ferry_key_config *cfg, char *err,
                    size_t errlen)
{
    struct ferry_keyer *k = calloc(1, sizeof(*k));
    int rc;
    *out = NULL;
    if (!k)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "keyer: out of memory");
    rc = keyer_init(k, cfg, err, errlen);
    if (rc < 0) {
        if (rc == FERRY_ERR_NOMEM)
            ferry_seterr(err, errlen, rc, "keyer: out of memory");
        ferry_keyer_destroy(k);
        return rc;
    }
    *out = k;
    return 0;
}

enum ferry_key_result ferry_keyer_extract(struct ferry_keyer *k, const char *data, size_t len,
                                          const char **key, size_t *key_len)
{
    enum ferry_key_result r;
    *key = NULL;
    *key_len = 0;
    switch (k->kind) {
    case KIND_JSON:
        r = json_key(k, data, len, key, key_len);
        break;
    case KIND_REGEX:
        r = regex_key(k, data, len, key, key_len);
        break;
    default:
        *key = k->fixed;
        *key_len = k->fixed_len;
        r = FERRY_KEY_OK;
        break;
    }
    if (r != FERRY_KEY_OK) {
        *key = NULL;
        *key_len = 0;
    }
    return r;
}

void ferry_keyer_destroy(struct ferry_keyer *k)
{
    if (!k)
        return;
    pcre2_match_data_free(k->md);
    pcre2_code_free(k->re);
    free(k->field);
    free(k->fixed);
    free(k->buf);
    free(k);
}
