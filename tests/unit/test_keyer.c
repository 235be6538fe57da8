/* Unit tests for partitioning keys (agent/keyer.c).
 *
 * Expected keys are written out by hand from the JSON and regex rules in keyer.h; nothing is
 * computed with the code under test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/err.h"
#include "ferry/keyer.h"

static struct ferry_keyer *keyer(const char *json_field, const char *regex, const char *group,
                                 const char *fixed)
{
    struct ferry_key_config cfg = {(char *)json_field, (char *)regex, (char *)group, (char *)fixed};
    struct ferry_keyer *k = NULL;
    char err[256];
    assert_int_equal(ferry_keyer_new(&k, &cfg, err, sizeof(err)), 0);
    assert_non_null(k);
    return k;
}

/* The result of extracting from data[0..len); on FERRY_KEY_OK the key must equal want. */
static enum ferry_key_result extract(struct ferry_keyer *k, const char *data, size_t len,
                                     const char *want, size_t want_len)
{
    const char *key = (const char *)1;
    size_t key_len = 99;
    enum ferry_key_result r = ferry_keyer_extract(k, data, len, &key, &key_len);
    if (r == FERRY_KEY_OK) {
        assert_non_null(key);
        assert_int_equal(key_len, want_len);
        assert_memory_equal(key, want, want_len);
    } else {
        assert_null(key);
        assert_int_equal(key_len, 0);
    }
    return r;
}

#define JSON_OK(k, line, want)                                                                     \
    assert_int_equal(extract(k, line, strlen(line), want, strlen(want)), FERRY_KEY_OK)
#define JSON_NOT(k, line, result) assert_int_equal(extract(k, line, strlen(line), "", 0), result)

static void json_strings(void **state)
{
    (void)state;
    struct ferry_keyer *k = keyer("user_id", NULL, NULL, NULL);
    JSON_OK(k, "{\"user_id\":\"alice\"}", "alice");
    JSON_OK(k, "  {\"a\": 1, \"user_id\" : \"bob\" , \"z\": 2}  ", "bob");
    JSON_OK(k, "{ \"n\" : 11 ,\t\"user_id\"\t:\t\"ws\" }", "ws");
    JSON_OK(k, "{\"user_id\": \"Zo\xc3\xab-\xe6\x97\xa5\"}", "Zo\xc3\xab-\xe6\x97\xa5");
    JSON_OK(k, "{\"user_id\": \"a b,c}d{ ]\"}", "a b,c}d{ ]");
    /* escapes, decoded as JSON says: \" \\ \/ \u00e9 and a surrogate pair */
    JSON_OK(k, "{\"user_id\": \"a\\\"b\\\\c\\/\\u00e9\\ud83d\\ude00\"}",
            "a\"b\\c/\xc3\xa9\xf0\x9f\x98\x80");
    /* a member name written with an escape is still user_id */
    JSON_OK(k, "{\"user\\u005fid\": \"esc\"}", "esc");
    /* only top-level members count, whatever nests or quotes before */
    JSON_OK(k,
            "{\"inner\": {\"user_id\": \"wrong\"}, \"arr\": [{\"user_id\": 1}, \"]}\"], "
            "\"s\": \"\\\"user_id\\\": 2\", \"user_id\": \"right\"}",
            "right");
    /* the first occurrence wins; what follows the member is not examined */
    JSON_OK(k, "{\"user_id\": \"first\", \"user_id\": \"second\"}", "first");
    JSON_OK(k, "{\"user_id\": \"kept\", broken", "kept");
    ferry_keyer_destroy(k);
}

static void json_empty_key_is_a_key(void **state)
{
    (void)state;
    struct ferry_keyer *k = keyer("user_id", NULL, NULL, NULL);
    const char *line = "{\"user_id\": \"\"}";
    const char *key = NULL;
    size_t key_len = 7;
    assert_int_equal(ferry_keyer_extract(k, line, strlen(line), &key, &key_len), FERRY_KEY_OK);
    assert_non_null(key); /* not NULL: Kafka gets an empty key, not no key */
    assert_int_equal(key_len, 0);
    ferry_keyer_destroy(k);
}

static void json_numbers_keep_their_text(void **state)
{
    (void)state;
    struct ferry_keyer *k = keyer("id", NULL, NULL, NULL);
    JSON_OK(k, "{\"id\": 12345}", "12345");
    JSON_OK(k, "{\"id\":0}", "0");
    JSON_OK(k, "{\"id\": -0.5e10 }", "-0.5e10");
    JSON_OK(k, "{\"id\": 1.50, \"x\": 1}", "1.50");
    JSON_OK(k, "{\"id\": 123456789012345678901234567890}", "123456789012345678901234567890");
    JSON_OK(k, "{\"id\": 1E+2}", "1E+2");
    JSON_NOT(k, "{\"id\": 01}", FERRY_KEY_NOT_JSON);
    JSON_NOT(k, "{\"id\": 1.}", FERRY_KEY_NOT_JSON);
    JSON_NOT(k, "{\"id\": -}", FERRY_KEY_NOT_JSON);
    JSON_NOT(k, "{\"id\": 1e}", FERRY_KEY_NOT_JSON);
    JSON_NOT(k, "{\"id\": 12abc}", FERRY_KEY_NOT_JSON);
    JSON_NOT(k, "{\"id\": +1}", FERRY_KEY_NOT_JSON);
    ferry_keyer_destroy(k);
}

static void json_without_a_key(void **state)
{
    (void)state;
    struct ferry_keyer *k = keyer("user_id", NULL, NULL, NULL);
    JSON_NOT(k, "", FERRY_KEY_NOT_JSON);
    JSON_NOT(k, "plain text user_id", FERRY_KEY_NOT_JSON);
    JSON_NOT(k, "[{\"user_id\": \"x\"}]", FERRY_KEY_NOT_JSON);
    JSON_NOT(k, "\"user_id\"", FERRY_KEY_NOT_JSON);
    JSON_NOT(k, "{\"user_id\": \"unterminated", FERRY_KEY_NOT_JSON);
    JSON_NOT(k, "{\"user_id\" \"x\"}", FERRY_KEY_NOT_JSON);
    JSON_NOT(k, "{\"user_id\": \"x\" \"y\"}", FERRY_KEY_NOT_JSON);
    JSON_NOT(k, "{\"a\": [1, 2}", FERRY_KEY_NOT_JSON);
    JSON_NOT(k, "{\"a\": 1 \"user_id\": \"x\"}", FERRY_KEY_NOT_JSON);
    JSON_NOT(k, "{\"user_id\": \"bad \\q escape\"}", FERRY_KEY_NOT_JSON);
    JSON_NOT(k, "{\"user_id\": \"\\ud800 lone surrogate\"}", FERRY_KEY_NOT_JSON);
    JSON_NOT(k, "{\"user_id\": garbage}", FERRY_KEY_NOT_JSON);
    JSON_NOT(k, "{}", FERRY_KEY_NO_FIELD);
    JSON_NOT(k, "{\"other\": \"x\", \"user\": 1}", FERRY_KEY_NO_FIELD);
    JSON_NOT(k, "{\"user_id\": null}", FERRY_KEY_NOT_SCALAR);
    JSON_NOT(k, "{\"user_id\": true}", FERRY_KEY_NOT_SCALAR);
    JSON_NOT(k, "{\"user_id\": {\"a\": 1}}", FERRY_KEY_NOT_SCALAR);
    JSON_NOT(k, "{\"user_id\": [1]}", FERRY_KEY_NOT_SCALAR);
    JSON_NOT(k, "{\"user_id\": \"\xff\xfe\"}", FERRY_KEY_BAD_UTF8);
    JSON_NOT(k, "{\"user_id\": \"\xc0\xaf overlong\"}", FERRY_KEY_BAD_UTF8);
    JSON_NOT(k, "{\"user_id\": \"\xed\xa0\x80 surrogate\"}", FERRY_KEY_BAD_UTF8);
    JSON_NOT(k, "{\"user_id\": \"cut \xe6\x97\"}", FERRY_KEY_BAD_UTF8);
    ferry_keyer_destroy(k);
}

static void json_nul_bytes(void **state)
{
    (void)state;
    struct ferry_keyer *k = keyer("user_id", NULL, NULL, NULL);
    static const char raw_nul[] = "{\"user_id\": \"a\0b\"}";
    static const char lead_nul[] = "\0{\"user_id\": \"x\"}";
    static const char after[] = "{\"user_id\": \"x\"}\0garbage";
    assert_int_equal(extract(k, raw_nul, sizeof(raw_nul) - 1, "", 0), FERRY_KEY_NOT_JSON);
    assert_int_equal(extract(k, lead_nul, sizeof(lead_nul) - 1, "", 0), FERRY_KEY_NOT_JSON);
    assert_int_equal(extract(k, after, sizeof(after) - 1, "x", 1), FERRY_KEY_OK);
    /* an escaped NUL is text like any other */
    const char *esc = "{\"user_id\": \"a\\u0000b\"}";
    assert_int_equal(extract(k, esc, strlen(esc), "a\0b", 3), FERRY_KEY_OK);
    ferry_keyer_destroy(k);
}

/* A long line, a deep one, and one cut anywhere: no crash, the right answer. */
static void json_huge_and_deep(void **state)
{
    (void)state;
    struct ferry_keyer *k = keyer("user_id", NULL, NULL, NULL);
    size_t pad = 8u << 20, depth = 1u << 20;
    char *line = malloc(pad + 2 * depth + 64);
    assert_non_null(line);
    size_t n = (size_t)sprintf(line, "{\"pad\": \"");
    memset(line + n, 'x', pad);
    n += pad;
    n += (size_t)sprintf(line + n, "\", \"deep\": ");
    memset(line + n, '[', depth);
    memset(line + n + depth, ']', depth);
    n += 2 * depth;
    n += (size_t)sprintf(line + n, ", \"user_id\": \"end\"}");
    assert_int_equal(extract(k, line, n, "end", 3), FERRY_KEY_OK);
    for (size_t cut = n - 20; cut < n; cut++) /* every prefix that stops in the member */
        assert_int_not_equal(extract(k, line, cut, "", 0), FERRY_KEY_OK);
    memcpy(line, "{\"a\": ", 6); /* a value of a million opening brackets, never closed */
    memset(line + 6, '[', 1u << 20);
    assert_int_equal(extract(k, line, 6 + (1u << 20), "", 0), FERRY_KEY_NOT_JSON);
    free(line);
    ferry_keyer_destroy(k);
}

static void regex_groups(void **state)
{
    (void)state;
    struct ferry_keyer *k = keyer(NULL, "user=(\\w+)", NULL, NULL);
    JSON_OK(k, "GET /x user=alice_1 status=200", "alice_1");
    JSON_NOT(k, "GET /x user= status=200", FERRY_KEY_NO_MATCH);
    JSON_NOT(k, "", FERRY_KEY_NO_MATCH);
    ferry_keyer_destroy(k);

    k = keyer(NULL, "uid=(?<uid>[^ ]*) ", "uid", NULL);
    JSON_OK(k, "uid=abc rest", "abc");
    const char *line = "uid= rest"; /* an empty group is an empty key */
    assert_int_equal(extract(k, line, strlen(line), "", 0), FERRY_KEY_OK);
    JSON_OK(k, "uid=\xc3\xa9\xe2\x82\xac rest", "\xc3\xa9\xe2\x82\xac");
    ferry_keyer_destroy(k);

    k = keyer(NULL, "(a)|(b)", "1", NULL); /* group 1 took no part in matching "b" */
    JSON_OK(k, "xa", "a");
    JSON_NOT(k, "xb", FERRY_KEY_NO_MATCH);
    ferry_keyer_destroy(k);

    k = keyer(NULL, "tenant-\\d+", "0", NULL); /* group 0: the whole match */
    JSON_OK(k, "for tenant-42 only", "tenant-42");
    ferry_keyer_destroy(k);
}

static void regex_any_bytes(void **state)
{
    (void)state;
    struct ferry_keyer *k = keyer(NULL, "user=(\\w+)", NULL, NULL);
    static const char bad_utf8[] = "\xff\xfe user=bob\xff\xfe";
    static const char nul[] = "a\0b user=nul_key\0zero";
    assert_int_equal(extract(k, bad_utf8, sizeof(bad_utf8) - 1, "bob", 3), FERRY_KEY_OK);
    assert_int_equal(extract(k, nul, sizeof(nul) - 1, "nul_key", 7), FERRY_KEY_OK);
    static const char only_bad[] = "\xc0\x80\xed\xa0\x80\xf8\x88\x80\x80\x80";
    assert_int_equal(extract(k, only_bad, sizeof(only_bad) - 1, "", 0), FERRY_KEY_NO_MATCH);
    ferry_keyer_destroy(k);
}

static void static_key(void **state)
{
    (void)state;
    struct ferry_keyer *k = keyer(NULL, NULL, NULL, "tenant-a");
    JSON_OK(k, "anything", "tenant-a");
    JSON_OK(k, "", "tenant-a");
    ferry_keyer_destroy(k);
    k = keyer(NULL, NULL, NULL, "");
    const char *key = NULL;
    size_t key_len = 3;
    assert_int_equal(ferry_keyer_extract(k, "x", 1, &key, &key_len), FERRY_KEY_OK);
    assert_non_null(key);
    assert_int_equal(key_len, 0);
    ferry_keyer_destroy(k);
}

static void check_regex_messages(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(ferry_keyer_check_regex("user=(\\w+)", NULL, err, sizeof(err)), 0);
    assert_int_equal(ferry_keyer_check_regex("(?<u>x)", "u", err, sizeof(err)), 0);
    assert_int_equal(ferry_keyer_check_regex("user=(\\w+", NULL, err, sizeof(err)),
                     FERRY_ERR_INVALID);
    assert_string_equal(err, "bad pattern at offset 9: missing closing parenthesis");
    assert_int_equal(ferry_keyer_check_regex("user=\\w+", NULL, err, sizeof(err)),
                     FERRY_ERR_INVALID);
    assert_non_null(strstr(err, "no capture group"));
    assert_int_equal(ferry_keyer_check_regex("(?<u>x)", "v", err, sizeof(err)), FERRY_ERR_INVALID);
    assert_string_equal(err, "no group named 'v'");
    assert_int_equal(ferry_keyer_check_regex("(x)", "2", err, sizeof(err)), FERRY_ERR_INVALID);
    assert_string_equal(err, "group 2: the pattern has 1 capture groups");

    struct ferry_key_config cfg = {NULL, "(", NULL, NULL};
    struct ferry_keyer *k = (struct ferry_keyer *)1;
    assert_int_equal(ferry_keyer_new(&k, &cfg, err, sizeof(err)), FERRY_ERR_INVALID);
    assert_null(k);
}

/* Random bytes, and random cuts of real lines, through every kind of keyer: whatever comes
 * back, a key is inside the line or the keyer and nothing crashes (run it under ASan). */
static void random_input(void **state)
{
    (void)state;
    struct ferry_keyer *ks[] = {keyer("user_id", NULL, NULL, NULL),
                                keyer(NULL, "user=(\\w+)", NULL, NULL),
                                keyer(NULL, "(?<u>[^\"]*)\"", "u", NULL)};
    static const char alphabet[] = "{}[]\":,\\ u0user_id=\xff\xc3\xa9\0-1e.tn";
    char buf[256];
    unsigned seed = 12345;
    for (int round = 0; round < 200000; round++) {
        size_t n = (size_t)(rand_r(&seed) % sizeof(buf));
        for (size_t i = 0; i < n; i++)
            buf[i] = alphabet[rand_r(&seed) % (sizeof(alphabet) - 1)];
        if (round % 3 == 0 && n > 16)
            memcpy(buf, "{\"user_id\": \"", 13);
        for (size_t j = 0; j < sizeof(ks) / sizeof(ks[0]); j++) {
            const char *key;
            size_t key_len;
            if (ferry_keyer_extract(ks[j], buf, n, &key, &key_len) == FERRY_KEY_OK)
                assert_true(key_len <= n);
        }
    }
    for (size_t j = 0; j < sizeof(ks) / sizeof(ks[0]); j++)
        ferry_keyer_destroy(ks[j]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_strings),
        cmocka_unit_test(json_empty_key_is_a_key),
        cmocka_unit_test(json_numbers_keep_their_text),
        cmocka_unit_test(json_without_a_key),
        cmocka_unit_test(json_nul_bytes),
        cmocka_unit_test(json_huge_and_deep),
        cmocka_unit_test(regex_groups),
        cmocka_unit_test(regex_any_bytes),
        cmocka_unit_test(static_key),
        cmocka_unit_test(check_regex_messages),
        cmocka_unit_test(random_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
