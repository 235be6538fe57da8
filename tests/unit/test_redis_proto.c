/* Unit tests for the Redis sink's protocol layout (sinks/redis_proto.c, used by sinks/redis.c):
 * RESP commands, command templates expanded with an event's fields, offset keys and the
 * WATCH / MGET / MSET commands of a batch's transaction.
 *
 * Expected bytes are written out by hand from the RESP specification ("*<n>\r\n", then
 * "$<len>\r\n<bytes>\r\n" per argument), and binary arguments are also checked against
 * hiredis's own encoder (redisFormatCommandArgv) and read back by a decoder written here. */
#include <hiredis/hiredis.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../sinks/redis_proto.h"
#include "ferry/err.h"
#include "ferry/fields.h"

#define S(lit) lit, sizeof(lit) - 1

static void expect_bytes(const struct ferry_buf *b, const char *want, size_t n)
{
    if (b->len != n || memcmp(b->p, want, n)) {
        print_error("got  %zu bytes: %.*s\nwant %zu bytes: %.*s\n", b->len, (int)b->len, b->p, n,
                    (int)n, want);
        fail();
    }
}

/* Reads one RESP array of bulk strings at p[*at..n): its arguments into argv/lens (pointing
 * into p). Returns argc; fails the test on anything else. */
static int decode(const char *p, size_t n, size_t *at, const char **argv, size_t *lens, int max)
{
    char *end;
    assert_true(*at < n && p[*at] == '*');
    long argc = strtol(p + *at + 1, &end, 10);
    assert_true(end[0] == '\r' && end[1] == '\n' && argc > 0 && argc <= max);
    *at = (size_t)(end + 2 - p);
    for (long i = 0; i < argc; i++) {
        assert_true(*at < n && p[*at] == '$');
        long len = strtol(p + *at + 1, &end, 10);
        assert_true(end[0] == '\r' && end[1] == '\n' && len >= 0);
        const char *v = end + 2;
        assert_true((size_t)(v - p) + (size_t)len + 2 <= n);
        assert_true(v[len] == '\r' && v[len + 1] == '\n');
        argv[i] = v;
        lens[i] = (size_t)len;
        *at = (size_t)(v + len + 2 - p);
    }
    return (int)argc;
}

/* ---- RESP -------------------------------------------------------------------------------- */

static void command_layout(void **state)
{
    (void)state;
    struct ferry_buf b = {0};
    const char *argv[] = {"HINCRBY", "u:alice", "n", "1"};
    size_t lens[] = {7, 7, 1, 1};
    assert_int_equal(ferry_resp_command(&b, 4, argv, lens), 0);
    assert_int_equal(ferry_resp_word(&b, "EXEC"), 0);
    expect_bytes(&b, S("*4\r\n$7\r\nHINCRBY\r\n$7\r\nu:alice\r\n$1\r\nn\r\n$1\r\n1\r\n"
                       "*1\r\n$4\r\nEXEC\r\n"));
    ferry_buf_release(&b);
}

static void arguments_are_binary_safe(void **state)
{
    (void)state;
    /* NUL, CR LF, what looks like RESP itself, bytes above 0x7f, a long one */
    static char big[70000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 7);
    const char *argv[] = {"SET", "k\0ey", "\r\n", "*1\r\n$4\r\nEXEC\r\n", "\xff\x80\xc3", big};
    size_t lens[] = {3, 4, 2, 14, 3, sizeof(big)};
    struct ferry_buf b = {0};
    assert_int_equal(ferry_resp_command(&b, 6, argv, lens), 0);
    char *hi = NULL;
    int hn = redisFormatCommandArgv(&hi, 6, argv, lens);
    assert_true(hn > 0);
    expect_bytes(&b, hi, (size_t)hn);
    redisFreeCommand(hi);
    const char *got[8];
    size_t glens[8], at = 0;
    assert_int_equal(decode(b.p, b.len, &at, got, glens, 8), 6);
    assert_int_equal(at, b.len);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(glens[i], lens[i]);
        assert_memory_equal(got[i], argv[i], lens[i]);
    }
    ferry_buf_release(&b);
}

static void empty_arguments_are_sent(void **state)
{
    (void)state;
    const char *argv[] = {"SET", "", ""};
    size_t lens[] = {3, 0, 0};
    struct ferry_buf b = {0};
    assert_int_equal(ferry_resp_command(&b, 3, argv, lens), 0);
    expect_bytes(&b, S("*3\r\n$3\r\nSET\r\n$0\r\n\r\n$0\r\n\r\n"));
    ferry_buf_release(&b);
}

/* ---- templates ----------------------------------------------------------------------------- */

struct event {
    struct ferry_parser *p;
    struct ferry_fields f;
    struct ferry_buf arena, out;
    char err[256];
};

static void event_parse(struct event *e, enum ferry_format format, const char *data, size_t len,
                        int64_t kafka_ts)
{
    memset(e, 0, sizeof(*e));
    e->p = NULL;
    ferry_parser_new(&e->p, format, NULL, e->err, sizeof(e->err));
    assert_non_null(e->p);
    if (ferry_fields_parse(e->p, &e->f, data, len, kafka_ts, e->err, sizeof(e->err)) < 0)
        fail_msg("%.*s: %s", (int)len, data, e->err);
    ferry_fields_set_meta(&e->f, "web", 7, 123456);
}

static void event_release(struct event *e)
{
    ferry_parser_destroy(e->p);
    ferry_fields_release(&e->f);
    ferry_buf_release(&e->arena);
    ferry_buf_release(&e->out);
}

/* Expands the template (its arguments, NULL-terminated) and, when every field is there,
 * appends the command to e->out as redis.c does. Returns ferry_redis_expand's result. */
static int run_template(struct event *e, const char *const *args)
{
    struct ferry_strv cmd = {(char **)args, 0};
    size_t offs[FERRY_REDIS_MAX_ARGS], lens[FERRY_REDIS_MAX_ARGS];
    const char *argv[FERRY_REDIS_MAX_ARGS];
    while (args[cmd.n])
        cmd.n++;
    int rc = ferry_redis_expand(&cmd, &e->f, &e->arena, offs, lens, e->err, sizeof(e->err));
    if (rc < 0)
        return rc;
    for (size_t a = 0; a < cmd.n; a++)
        argv[a] = e->arena.p + offs[a];
    assert_int_equal(ferry_resp_command(&e->out, (int)cmd.n, argv, lens), 0);
    return 0;
}

#define EVENT_TS 1795631501123 /* 2026-11-25T18:31:41.123Z */

static void templates_expand_fields_and_metadata(void **state)
{
    (void)state;
    static const char line[] = "{\"url\": \"/a b\", \"user_id\": \"alice\", \"n\": 3}";
    struct event e;
    event_parse(&e, FERRY_FORMAT_JSON, S(line), EVENT_TS);
    static const char *const c1[] = {"INCR", "hits:{url}:{minute}", NULL};
    static const char *const c2[] = {"HINCRBY", "u:{user_id}:{day}", "{hour}", "{n}", NULL};
    static const char *const c3[] = {"SET", "last:{topic}:{partition}", "{offset}", NULL};
    static const char *const c4[] = {"LPUSH", "{{raw}}", "{raw}", NULL};
    assert_int_equal(run_template(&e, c1), 0);
    assert_int_equal(run_template(&e, c2), 0);
    assert_int_equal(run_template(&e, c3), 0);
    assert_int_equal(run_template(&e, c4), 0);
    expect_bytes(&e.out, S("*2\r\n$4\r\nINCR\r\n$26\r\nhits:/a b:2026-11-25T18:31\r\n"
                           "*4\r\n$7\r\nHINCRBY\r\n$18\r\nu:alice:2026-11-25\r\n"
                           "$13\r\n2026-11-25T18\r\n$1\r\n3\r\n"
                           "*3\r\n$3\r\nSET\r\n$10\r\nlast:web:7\r\n$6\r\n123456\r\n"
                           "*3\r\n$5\r\nLPUSH\r\n$5\r\n{raw}\r\n"
                           "$43\r\n{\"url\": \"/a b\", \"user_id\": \"alice\", \"n\": 3}\r\n"));
    event_release(&e);
}

/* Field values with bytes that mean something in RESP or in a template go through as data.
 * (A JSON event with \u0000 does not parse: jansson refuses it; a NUL byte reaches a command
 * through {raw}, below.) */
static void field_values_are_binary_safe(void **state)
{
    (void)state;
    static const char line[] =
        "{\"k\": \"a\\r\\n*1\\r\\n$4\\r\\nPING\\r\\n\", \"z\": \"caf\\u00e9$\", \"b\": \"{url}\"}";
    struct event e;
    event_parse(&e, FERRY_FORMAT_JSON, S(line), EVENT_TS);
    static const char *const c[] = {"SET", "{k}", "{z}{b}", NULL};
    assert_int_equal(run_template(&e, c), 0);
    expect_bytes(&e.out, S("*3\r\n$3\r\nSET\r\n$17\r\na\r\n*1\r\n$4\r\nPING\r\n\r\n"
                           "$11\r\ncaf\xc3\xa9${url}\r\n"));
    const char *argv[4];
    size_t lens[4], at = 0;
    assert_int_equal(decode(e.out.p, e.out.len, &at, argv, lens, 4), 3);
    assert_int_equal(at, e.out.len);
    event_release(&e);

    /* a raw event with CR and NUL bytes, as {raw} */
    static const char raw[] = "x\r\n\0y";
    event_parse(&e, FERRY_FORMAT_RAW, raw, sizeof(raw) - 1, EVENT_TS);
    static const char *const r[] = {"RPUSH", "l", "{raw}", NULL};
    assert_int_equal(run_template(&e, r), 0);
    expect_bytes(&e.out, S("*3\r\n$5\r\nRPUSH\r\n$1\r\nl\r\n$5\r\nx\r\n\0y\r\n"));
    event_release(&e);
}

static void an_empty_field_is_an_empty_argument(void **state)
{
    (void)state;
    static const char line[] = "{\"url\": \"\", \"user_id\": \"bob\"}";
    struct event e;
    event_parse(&e, FERRY_FORMAT_JSON, S(line), EVENT_TS);
    static const char *const c[] = {"HSET", "h:{user_id}", "{url}", "{url}{url}", NULL};
    assert_int_equal(run_template(&e, c), 0);
    expect_bytes(&e.out, S("*4\r\n$4\r\nHSET\r\n$5\r\nh:bob\r\n$0\r\n\r\n$0\r\n\r\n"));
    event_release(&e);
}

static void a_missing_field_skips_the_command(void **state)
{
    (void)state;
    static const char line[] = "{\"url\": \"/a\"}";
    struct event e;
    event_parse(&e, FERRY_FORMAT_JSON, S(line), EVENT_TS);
    static const char *const ok[] = {"INCR", "hits:{url}", NULL};
    static const char *const first[] = {"INCR", "u:{user_id}", NULL};
    static const char *const later[] = {"HINCRBY", "hits:{url}", "{url}", "{bytes}", NULL};
    assert_int_equal(run_template(&e, ok), 0);
    size_t before = e.out.len;
    assert_int_equal(run_template(&e, first), FERRY_ERR_INVALID);
    assert_non_null(strstr(e.err, "user_id"));
    /* a field missing after others expanded: still left out whole */
    assert_int_equal(run_template(&e, later), FERRY_ERR_INVALID);
    assert_non_null(strstr(e.err, "bytes"));
    assert_int_equal(e.out.len, before);
    /* the commands after it are not affected */
    assert_int_equal(run_template(&e, ok), 0);
    expect_bytes(&e.out, S("*2\r\n$4\r\nINCR\r\n$7\r\nhits:/a\r\n"
                           "*2\r\n$4\r\nINCR\r\n$7\r\nhits:/a\r\n"));
    event_release(&e);

    /* an event without a time has no {minute}: the command that needs it is left out */
    event_parse(&e, FERRY_FORMAT_JSON, S(line), -1);
    static const char *const m[] = {"INCR", "hits:{minute}", NULL};
    assert_int_equal(run_template(&e, m), FERRY_ERR_INVALID);
    assert_int_equal(e.out.len, 0);
    event_release(&e);
}

/* ---- offset keys and the transaction's key commands ------------------------------------- */

static void offset_keys(void **state)
{
    (void)state;
    struct ferry_buf keys = {0};
    struct ferry_redis_part p[3];
    assert_int_equal(ferry_redis_offset_key(&keys, "prod.counts", "web", 0, &p[0]), 0);
    assert_int_equal(ferry_redis_offset_key(&keys, "prod.counts", "web-2", 11, &p[1]), 0);
    assert_int_equal(ferry_redis_offset_key(&keys, "g", "t", 2147483647, &p[2]), 0);
    assert_int_equal(p[0].key_len, strlen("ferry:offsets:prod.counts:web:0"));
    assert_memory_equal(keys.p + p[0].key_at, "ferry:offsets:prod.counts:web:0", p[0].key_len);
    assert_memory_equal(keys.p + p[1].key_at, "ferry:offsets:prod.counts:web-2:11", p[1].key_len);
    assert_int_equal(p[1].key_len, strlen("ferry:offsets:prod.counts:web-2:11"));
    assert_memory_equal(keys.p + p[2].key_at, "ferry:offsets:g:t:2147483647", p[2].key_len);
    assert_int_equal(p[2].key_len, strlen("ferry:offsets:g:t:2147483647"));
    ferry_buf_release(&keys);
}

static void watch_mget_and_mset_layout(void **state)
{
    (void)state;
    struct ferry_buf keys = {0}, out = {0};
    struct ferry_redis_part p[3] = {{.stored = -1, .next = 10},   /* never stored */
                                    {.stored = 500, .next = 500}, /* all replayed */
                                    {.stored = 7, .next = 1000000000000}};
    assert_int_equal(ferry_redis_offset_key(&keys, "g", "web", 0, &p[0]), 0);
    assert_int_equal(ferry_redis_offset_key(&keys, "g", "web", 1, &p[1]), 0);
    assert_int_equal(ferry_redis_offset_key(&keys, "g", "api", 0, &p[2]), 0);
    assert_int_equal(ferry_redis_append_keys(&out, "WATCH", p, 3, keys.p, false), 3);
    assert_int_equal(ferry_redis_append_keys(&out, "MGET", p, 3, keys.p, false), 3);
    /* MSET: only offsets that move forward (partition 1 had everything already) */
    assert_int_equal(ferry_redis_append_keys(&out, "MSET", p, 3, keys.p, true), 2);
    expect_bytes(&out, S("*4\r\n$5\r\nWATCH\r\n$21\r\nferry:offsets:g:web:0\r\n"
                         "$21\r\nferry:offsets:g:web:1\r\n$21\r\nferry:offsets:g:api:0\r\n"
                         "*4\r\n$4\r\nMGET\r\n$21\r\nferry:offsets:g:web:0\r\n"
                         "$21\r\nferry:offsets:g:web:1\r\n$21\r\nferry:offsets:g:api:0\r\n"
                         "*5\r\n$4\r\nMSET\r\n$21\r\nferry:offsets:g:web:0\r\n$2\r\n10\r\n"
                         "$21\r\nferry:offsets:g:api:0\r\n$13\r\n1000000000000\r\n"));
    ferry_buf_release(&out);
    ferry_buf_release(&keys);
}

static void mset_with_nothing_to_move_is_left_out(void **state)
{
    (void)state;
    struct ferry_buf keys = {0}, out = {0};
    struct ferry_redis_part p[2] = {{.stored = 9, .next = 9}, {.stored = 12, .next = 5}};
    assert_int_equal(ferry_redis_offset_key(&keys, "g", "web", 0, &p[0]), 0);
    assert_int_equal(ferry_redis_offset_key(&keys, "g", "web", 1, &p[1]), 0);
    assert_int_equal(ferry_redis_append_keys(&out, "MSET", p, 2, keys.p, true), 0);
    assert_int_equal(out.len, 0); /* not an MSET without arguments, which Redis refuses */
    assert_int_equal(ferry_redis_append_keys(&out, "WATCH", p, 0, keys.p, false), 0);
    assert_int_equal(out.len, 0);
    ferry_buf_release(&out);
    ferry_buf_release(&keys);
}

static void the_most_partitions_fit(void **state)
{
    (void)state;
    static struct ferry_redis_part p[FERRY_REDIS_MAX_PARTS];
    struct ferry_buf keys = {0}, out = {0};
    for (int i = 0; i < FERRY_REDIS_MAX_PARTS; i++) {
        assert_int_equal(ferry_redis_offset_key(&keys, "group", "topic", i, &p[i]), 0);
        p[i].stored = -1;
        p[i].next = (int64_t)i * 1000 + 1;
    }
    assert_int_equal(ferry_redis_append_keys(&out, "MSET", p, FERRY_REDIS_MAX_PARTS, keys.p, true),
                     FERRY_REDIS_MAX_PARTS);
    static const char *argv[1 + 2 * FERRY_REDIS_MAX_PARTS];
    static size_t lens[1 + 2 * FERRY_REDIS_MAX_PARTS];
    size_t at = 0;
    assert_int_equal(decode(out.p, out.len, &at, argv, lens, 1 + 2 * FERRY_REDIS_MAX_PARTS),
                     1 + 2 * FERRY_REDIS_MAX_PARTS);
    assert_int_equal(at, out.len);
    char want[64];
    for (int i = 0; i < FERRY_REDIS_MAX_PARTS; i++) {
        int n = snprintf(want, sizeof(want), "ferry:offsets:group:topic:%d", i);
        assert_int_equal(lens[1 + 2 * i], (size_t)n);
        assert_memory_equal(argv[1 + 2 * i], want, (size_t)n);
        n = snprintf(want, sizeof(want), "%d", i * 1000 + 1);
        assert_int_equal(lens[2 + 2 * i], (size_t)n);
        assert_memory_equal(argv[2 + 2 * i], want, (size_t)n);
    }
    ferry_buf_release(&out);
    ferry_buf_release(&keys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(command_layout),
        cmocka_unit_test(arguments_are_binary_safe),
        cmocka_unit_test(empty_arguments_are_sent),
        cmocka_unit_test(templates_expand_fields_and_metadata),
        cmocka_unit_test(field_values_are_binary_safe),
        cmocka_unit_test(an_empty_field_is_an_empty_argument),
        cmocka_unit_test(a_missing_field_skips_the_command),
        cmocka_unit_test(offset_keys),
        cmocka_unit_test(watch_mget_and_mset_layout),
        cmocka_unit_test(mset_with_nothing_to_move_is_left_out),
        cmocka_unit_test(the_most_partitions_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
