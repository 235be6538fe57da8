/* Unit tests for line framing (sources/framer.c): the byte range of every event, refusals by
 * the callback (FERRY_ERR_AGAIN), long lines cut or split, unterminated lines, multiline
 * events, and a randomized test that rebuilds the input from what was emitted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/config.h"
#include "ferry/err.h"
#include "ferry/framer.h"
#include "test_rng.h"

/* ---- what the callback saw -------------------------------------------------------------- */

struct seen {
    size_t n, cap;
    char **data;
    size_t *len;
    int64_t *start, *end;
    unsigned refuse_pct; /* refuse this share of offers (FERRY_ERR_AGAIN) */
    unsigned refused;
    int refuse_next;       /* refuse the next offer, whatever the share */
    unsigned offers;       /* offers so far */
    unsigned refuse_offer; /* refuse this offer (1: the first), whatever the share */
};

static int collect(void *opaque, const char *data, size_t len, int64_t start, int64_t end)
{
    struct seen *s = opaque;
    s->offers++;
    if (s->refuse_next || s->offers == s->refuse_offer ||
        (s->refuse_pct && rng_below(100) < s->refuse_pct)) {
        s->refuse_next = 0;
        s->refused++;
        return FERRY_ERR_AGAIN;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->data = realloc(s->data, s->cap * sizeof(*s->data));
        s->len = realloc(s->len, s->cap * sizeof(*s->len));
        s->start = realloc(s->start, s->cap * sizeof(*s->start));
        s->end = realloc(s->end, s->cap * sizeof(*s->end));
        assert_true(s->data && s->len && s->start && s->end);
    }
    s->data[s->n] = malloc(len + 1);
    assert_non_null(s->data[s->n]);
    memcpy(s->data[s->n], data, len);
    s->data[s->n][len] = 0;
    s->len[s->n] = len;
    s->start[s->n] = start;
    s->end[s->n] = end;
    s->n++;
    return 0;
}

static void seen_release(struct seen *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->data[i]);
    free(s->data);
    free(s->len);
    free(s->start);
    free(s->end);
    memset(s, 0, sizeof(*s));
}

/* ---- a framer with a configuration -------------------------------------------------------- */

struct fixture {
    struct ferry_source_config src;
    struct ferry_framer_cfg cfg;
    struct ferry_framer fr;
    struct seen seen;
};

static void fx_init(struct fixture *x, long max_line, bool split, long partial_ms,
                    const char *ml_start, const char *ml_continue, long max_lines, long flush_ms)
{
    char err[256];
    memset(x, 0, sizeof(*x));
    x->src.max_line_bytes = max_line;
    x->src.long_lines = split ? FERRY_LONG_SPLIT : FERRY_LONG_TRUNCATE;
    x->src.partial_flush_ms = partial_ms;
    x->src.ml_start = (char *)ml_start;
    x->src.ml_continue = (char *)ml_continue;
    x->src.ml_max_lines = max_lines;
    x->src.ml_flush_ms = flush_ms;
    assert_int_equal(ferry_framer_cfg_init(&x->cfg, &x->src, err, sizeof(err)), 0);
    assert_int_equal(ferry_framer_init(&x->fr, &x->cfg, 0), 0);
}

static void fx_release(struct fixture *x)
{
    ferry_framer_release(&x->fr);
    ferry_framer_cfg_release(&x->cfg);
    seen_release(&x->seen);
}

/* Feeds all of data (in as many pieces as room allows), draining in between. */
static void feed(struct fixture *x, const char *data, size_t len, int64_t now)
{
    while (len > 0) {
        size_t room;
        char *p = ferry_framer_space(&x->fr, &room);
        if (room == 0) {
            assert_true(ferry_framer_drain(&x->fr, collect, &x->seen, now) >= 0);
            continue;
        }
        size_t n = len < room ? len : room;
        memcpy(p, data, n);
        ferry_framer_commit(&x->fr, n);
        data += n;
        len -= n;
        assert_true(ferry_framer_drain(&x->fr, collect, &x->seen, now) >= 0);
    }
}

static void feed_str(struct fixture *x, const char *s, int64_t now)
{
    feed(x, s, strlen(s), now);
}

static void expect_event(const struct seen *s, size_t i, const char *data, int64_t start,
                         int64_t end)
{
    assert_true(i < s->n);
    assert_int_equal(s->len[i], strlen(data));
    assert_memory_equal(s->data[i], data, s->len[i]);
    assert_int_equal(s->start[i], start);
    assert_int_equal(s->end[i], end);
}

/* ---- lines ---------------------------------------------------------------------------------- */

static void lines_have_their_byte_ranges(void **state)
{
    struct fixture x;
    (void)state;
    fx_init(&x, 1024, false, 0, NULL, NULL, 0, 0);
    feed_str(&x, "a\nbb\n\nccc\n", 0);
    assert_int_equal(x.seen.n, 4);
    expect_event(&x.seen, 0, "a", 0, 2);
    expect_event(&x.seen, 1, "bb", 2, 5);
    expect_event(&x.seen, 2, "", 5, 6);
    expect_event(&x.seen, 3, "ccc", 6, 10);
    assert_int_equal(ferry_framer_next_offset(&x.fr), 10);
    assert_true(ferry_framer_empty(&x.fr));
    fx_release(&x);
}

static void offsets_start_where_the_framer_starts(void **state)
{
    struct fixture x;
    (void)state;
    fx_init(&x, 1024, false, 0, NULL, NULL, 0, 0);
    ferry_framer_release(&x.fr);
    assert_int_equal(ferry_framer_init(&x.fr, &x.cfg, 1000), 0);
    feed_str(&x, "xy\nz\n", 0);
    expect_event(&x.seen, 0, "xy", 1000, 1003);
    expect_event(&x.seen, 1, "z", 1003, 1005);
    assert_int_equal(ferry_framer_next_offset(&x.fr), 1005);
    fx_release(&x);
}

static void unterminated_line_waits_for_its_newline(void **state)
{
    struct fixture x;
    (void)state;
    fx_init(&x, 1024, false, 0, NULL, NULL, 0, 0);
    feed_str(&x, "one\ntw", 0);
    assert_int_equal(x.seen.n, 1);
    assert_false(ferry_framer_empty(&x.fr));
    assert_int_equal(ferry_framer_drain(&x.fr, collect, &x.seen, 1000000), 0);
    assert_int_equal(x.seen.n, 1); /* partial_flush_ms 0: it waits forever */
    feed_str(&x, "o\n", 0);
    expect_event(&x.seen, 1, "two", 4, 8);
    fx_release(&x);
}

static void refused_events_are_offered_again_once(void **state)
{
    struct fixture x;
    (void)state;
    fx_init(&x, 1024, false, 0, NULL, NULL, 0, 0);
    size_t room;
    char *p = ferry_framer_space(&x.fr, &room);
    memcpy(p, "a\nb\nc\n", 6);
    ferry_framer_commit(&x.fr, 6);
    x.seen.refuse_next = 1;
    assert_int_equal(ferry_framer_drain(&x.fr, collect, &x.seen, 0), FERRY_ERR_AGAIN);
    assert_int_equal(x.seen.n, 0);
    assert_int_equal(ferry_framer_drain(&x.fr, collect, &x.seen, 0), 3);
    expect_event(&x.seen, 0, "a", 0, 2);
    expect_event(&x.seen, 2, "c", 4, 6);
    /* refused in the middle: what was taken is not offered again */
    p = ferry_framer_space(&x.fr, &room);
    memcpy(p, "d\ne\nf\n", 6);
    ferry_framer_commit(&x.fr, 6);
    x.seen.refuse_offer = x.seen.offers + 2;
    assert_int_equal(ferry_framer_drain(&x.fr, collect, &x.seen, 0), FERRY_ERR_AGAIN);
    assert_int_equal(x.seen.n, 4);
    assert_int_equal(ferry_framer_drain(&x.fr, collect, &x.seen, 0), 2);
    assert_int_equal(x.seen.n, 6);
    expect_event(&x.seen, 3, "d", 6, 8);
    expect_event(&x.seen, 4, "e", 8, 10);
    expect_event(&x.seen, 5, "f", 10, 12);
    fx_release(&x);
}

/* ---- long lines ------------------------------------------------------------------------------ */

static void long_line_is_truncated_and_counted(void **state)
{
    struct fixture x;
    char line[200];
    (void)state;
    fx_init(&x, 16, false, 0, NULL, NULL, 0, 0);
    memset(line, 'L', 100);
    line[100] = '\n';
    feed(&x, line, 101, 0);
    feed_str(&x, "next\n", 0);
    assert_int_equal(x.seen.n, 2);
    expect_event(&x.seen, 0, "LLLLLLLLLLLLLLLL", 0, 101);
    expect_event(&x.seen, 1, "next", 101, 106);
    assert_int_equal(x.cfg.truncated, 1);
    fx_release(&x);
}

/* A line longer than the buffer can ever hold, arriving in small pieces. */
static void huge_line_in_pieces_is_truncated(void **state)
{
    struct fixture x;
    char chunk[1000];
    (void)state;
    fx_init(&x, 16, false, 0, NULL, NULL, 0, 0);
    for (int i = 0; i < 1000; i++)
        chunk[i] = (char)('a' + i % 26);
    int64_t total = 0;
    for (int i = 0; i < 300; i++) { /* 300 KB, more than max_line + one read */
        feed(&x, chunk, sizeof(chunk), 0);
        total += (int64_t)sizeof(chunk);
    }
    assert_int_equal(x.seen.n, 0);
    feed_str(&x, "\nok\n", 0);
    assert_int_equal(x.seen.n, 2);
    expect_event(&x.seen, 0, "abcdefghijklmnop", 0, total + 1);
    expect_event(&x.seen, 1, "ok", total + 1, total + 4);
    assert_int_equal(x.cfg.truncated, 1);
    fx_release(&x);
}

static void long_line_is_split_into_pieces(void **state)
{
    struct fixture x;
    (void)state;
    fx_init(&x, 16, true, 0, NULL, NULL, 0, 0);
    feed_str(&x, "0123456789abcdefGHIJKLMNOPQRSTUVwxyz\nnext\n", 0);
    assert_int_equal(x.seen.n, 4);
    expect_event(&x.seen, 0, "0123456789abcdef", 0, 16);
    expect_event(&x.seen, 1, "GHIJKLMNOPQRSTUV", 16, 32);
    expect_event(&x.seen, 2, "wxyz", 32, 37);
    expect_event(&x.seen, 3, "next", 37, 42);
    fx_release(&x);
}

static void split_line_of_exact_multiple(void **state)
{
    struct fixture x;
    (void)state;
    fx_init(&x, 16, true, 0, NULL, NULL, 0, 0);
    feed_str(&x, "0123456789abcdef0123456789ABCDEF\n", 0);
    assert_int_equal(x.seen.n, 2);
    expect_event(&x.seen, 0, "0123456789abcdef", 0, 16);
    expect_event(&x.seen, 1, "0123456789ABCDEF", 16, 33);
    fx_release(&x);
}

/* ---- unterminated lines: partial_flush_ms and finish --------------------------------------- */

static void partial_line_is_flushed_after_partial_ms(void **state)
{
    struct fixture x;
    (void)state;
    fx_init(&x, 1024, false, 100, NULL, NULL, 0, 0);
    feed_str(&x, "abc", 1000);
    assert_int_equal(ferry_framer_drain(&x.fr, collect, &x.seen, 1050), 0);
    assert_int_equal(ferry_framer_drain(&x.fr, collect, &x.seen, 1099), 0);
    assert_int_equal(ferry_framer_drain(&x.fr, collect, &x.seen, 1100), 1);
    expect_event(&x.seen, 0, "abc", 0, 3);
    assert_int_equal(x.cfg.partial_sent, 1);
    feed_str(&x, "def\n", 1200); /* the rest is a line of its own */
    expect_event(&x.seen, 1, "def", 3, 7);
    fx_release(&x);
}

static void growing_partial_line_waits_again(void **state)
{
    struct fixture x;
    (void)state;
    fx_init(&x, 1024, false, 100, NULL, NULL, 0, 0);
    feed_str(&x, "ab", 0);
    feed_str(&x, "c", 90);
    assert_int_equal(ferry_framer_drain(&x.fr, collect, &x.seen, 150), 0);
    assert_int_equal(ferry_framer_drain(&x.fr, collect, &x.seen, 190), 1);
    expect_event(&x.seen, 0, "abc", 0, 3);
    fx_release(&x);
}

/* A new unterminated tail of the same length as the previous one waits its own partial_ms. */
static void new_partial_of_same_length_waits(void **state)
{
    struct fixture x;
    (void)state;
    fx_init(&x, 1024, false, 100, NULL, NULL, 0, 0);
    feed_str(&x, "abc", 0);
    feed_str(&x, "\nxyz", 90);
    assert_int_equal(x.seen.n, 1);
    expect_event(&x.seen, 0, "abc", 0, 4);
    assert_int_equal(ferry_framer_drain(&x.fr, collect, &x.seen, 120), 0);
    assert_int_equal(x.seen.n, 1);
    assert_int_equal(ferry_framer_drain(&x.fr, collect, &x.seen, 190), 1);
    expect_event(&x.seen, 1, "xyz", 4, 7);
    fx_release(&x);
}

static void finish_ships_the_unterminated_line(void **state)
{
    struct fixture x;
    (void)state;
    fx_init(&x, 1024, false, 0, NULL, NULL, 0, 0);
    feed_str(&x, "a\nlast", 0);
    x.seen.refuse_next = 1;
    assert_int_equal(ferry_framer_finish(&x.fr, collect, &x.seen), FERRY_ERR_AGAIN);
    assert_int_equal(ferry_framer_finish(&x.fr, collect, &x.seen), 1);
    expect_event(&x.seen, 1, "last", 2, 6);
    assert_true(ferry_framer_empty(&x.fr));
    assert_int_equal(ferry_framer_finish(&x.fr, collect, &x.seen), 0);
    fx_release(&x);
}

static void finish_ships_a_line_being_truncated(void **state)
{
    struct fixture x;
    char line[100];
    (void)state;
    fx_init(&x, 16, false, 0, NULL, NULL, 0, 0);
    memset(line, 'x', sizeof(line));
    feed(&x, line, sizeof(line), 0);
    assert_int_equal(x.seen.n, 0);
    assert_false(ferry_framer_empty(&x.fr));
    assert_int_equal(ferry_framer_finish(&x.fr, collect, &x.seen), 1);
    expect_event(&x.seen, 0, "xxxxxxxxxxxxxxxx", 0, 100);
    assert_true(ferry_framer_empty(&x.fr));
    fx_release(&x);
}

/* ---- multiline ------------------------------------------------------------------------------- */

#define TS "^\\d{4}-\\d\\d-\\d\\d"

static const char java_trace[] = "2024-05-01 12:00:00 ERROR request failed\n"
                                 "java.lang.IllegalStateException: boom\n"
                                 "\tat com.example.Foo.bar(Foo.java:10)\n"
                                 "\tat com.example.Main.main(Main.java:5)\n"
                                 "Caused by: java.io.IOException: disk\n"
                                 "\t... 2 more\n";

static void multiline_start_pattern_groups_a_stack_trace(void **state)
{
    struct fixture x;
    (void)state;
    fx_init(&x, 4096, false, 0, TS, NULL, 500, 1000);
    feed_str(&x, java_trace, 0);
    assert_int_equal(x.seen.n, 0); /* the event may still grow */
    feed_str(&x, "2024-05-01 12:00:01 INFO next\n", 10);
    assert_int_equal(x.seen.n, 1);
    size_t len = strlen(java_trace);
    char want[sizeof(java_trace)];
    memcpy(want, java_trace, len - 1);
    want[len - 1] = 0; /* lines joined by newlines, without the last one */
    expect_event(&x.seen, 0, want, 0, (int64_t)len);
    /* the last event goes after flush_ms without a new line */
    assert_int_equal(ferry_framer_drain(&x.fr, collect, &x.seen, 500), 0);
    assert_int_equal(ferry_framer_drain(&x.fr, collect, &x.seen, 1010), 1);
    expect_event(&x.seen, 1, "2024-05-01 12:00:01 INFO next", (int64_t)len, (int64_t)len + 30);
    fx_release(&x);
}

static void multiline_continue_pattern(void **state)
{
    struct fixture x;
    (void)state;
    fx_init(&x, 4096, false, 0, NULL, "^\\s", 500, 1000);
    feed_str(&x, "Traceback line\n  File x\n  File y\nValueError: bad\nnext\n", 0);
    assert_int_equal(x.seen.n, 2);
    expect_event(&x.seen, 0, "Traceback line\n  File x\n  File y", 0, 33);
    expect_event(&x.seen, 1, "ValueError: bad", 33, 49);
    assert_int_equal(ferry_framer_finish(&x.fr, collect, &x.seen), 1);
    expect_event(&x.seen, 2, "next", 49, 54);
    fx_release(&x);
}

static void multiline_max_lines(void **state)
{
    struct fixture x;
    (void)state;
    fx_init(&x, 4096, false, 0, TS, NULL, 3, 1000);
    feed_str(&x, "2024-01-01 a\n b\n c\n d\n e\n", 0);
    assert_int_equal(x.seen.n, 1);
    expect_event(&x.seen, 0, "2024-01-01 a\n b\n c", 0, 19);
    /* two lines wait; max_lines is not reached, flush_ms ships them */
    assert_int_equal(ferry_framer_drain(&x.fr, collect, &x.seen, 999), 0);
    assert_int_equal(ferry_framer_drain(&x.fr, collect, &x.seen, 1000), 1);
    expect_event(&x.seen, 1, " d\n e", 19, 25);
    fx_release(&x);
}

static void multiline_event_is_bounded_by_max_line(void **state)
{
    struct fixture x;
    (void)state;
    fx_init(&x, 20, false, 0, TS, NULL, 500, 1000);
    feed_str(&x, "2024-01-01 aaaa\n bbbbbb\n cccccc\n", 0);
    /* 15 + 1 + 7 > 20: the event is shipped before the second line would overflow it */
    assert_int_equal(x.seen.n, 1);
    expect_event(&x.seen, 0, "2024-01-01 aaaa", 0, 16);
    assert_int_equal(ferry_framer_finish(&x.fr, collect, &x.seen), 1);
    expect_event(&x.seen, 1, " bbbbbb\n cccccc", 16, 32);
    fx_release(&x);
}

static void multiline_refusals_lose_and_double_nothing(void **state)
{
    struct fixture x;
    (void)state;
    fx_init(&x, 4096, false, 0, TS, NULL, 500, 1000);
    feed_str(&x, "2024-01-01 one\n x\n", 0);
    x.seen.refuse_next = 1;
    size_t room;
    char *p = ferry_framer_space(&x.fr, &room);
    memcpy(p, "2024-01-02 two\n", 15);
    ferry_framer_commit(&x.fr, 15);
    assert_int_equal(ferry_framer_drain(&x.fr, collect, &x.seen, 0), FERRY_ERR_AGAIN);
    assert_int_equal(x.seen.n, 0);
    assert_int_equal(ferry_framer_drain(&x.fr, collect, &x.seen, 0), 1);
    expect_event(&x.seen, 0, "2024-01-01 one\n x", 0, 18);
    x.seen.refuse_next = 1;
    assert_int_equal(ferry_framer_finish(&x.fr, collect, &x.seen), FERRY_ERR_AGAIN);
    assert_int_equal(ferry_framer_finish(&x.fr, collect, &x.seen), 1);
    expect_event(&x.seen, 1, "2024-01-02 two", 18, 33);
    fx_release(&x);
}

/* A line flushed early into a multiline event is completed, not joined with a newline, and
 * its rest is never taken for the start of a new event. */
static void multiline_partial_line_is_completed_in_place(void **state)
{
    struct fixture x;
    (void)state;
    fx_init(&x, 4096, false, 100, TS, NULL, 500, 1000);
    feed_str(&x, "2024-01-01 one\n x", 0);
    assert_true(ferry_framer_drain(&x.fr, collect, &x.seen, 100) >= 0); /* into the event */
    assert_int_equal(x.seen.n, 0);
    feed_str(&x, "2024-01-01 y\n", 150);
    assert_int_equal(ferry_framer_finish(&x.fr, collect, &x.seen), 1);
    expect_event(&x.seen, 0, "2024-01-01 one\n x2024-01-01 y", 0, 30);
    fx_release(&x);
}

static void bad_multiline_pattern_is_an_error(void **state)
{
    struct ferry_source_config src = {.max_line_bytes = 100, .ml_start = "(unclosed"};
    struct ferry_framer_cfg c;
    char err[256];
    (void)state;
    assert_int_equal(ferry_framer_cfg_init(&c, &src, err, sizeof(err)), FERRY_ERR_INVALID);
    assert_non_null(strstr(err, "(unclosed"));
}

/* ---- randomized: the input rebuilt from the events ----------------------------------------- */

/* Random lines: short, empty, long (over max_line), some that match the start pattern,
 * bytes of every value but newline; the last one maybe without its newline. */
static size_t random_input(char *buf, size_t cap, size_t max_line)
{
    size_t n = 0;
    while (n + 3 * max_line + 16 < cap) {
        size_t len = rng_below(10) == 0 ? rng_below(3 * max_line) : rng_below(max_line / 2 + 1);
        if (rng_below(3) == 0 && len >= 10) {
            memcpy(buf + n, "2024-01-01", 10);
            n += 10;
            len -= 10;
        }
        for (size_t i = 0; i < len; i++) {
            char c = (char)rng_below(256);
            buf[n++] = c == '\n' ? ' ' : c;
        }
        buf[n++] = '\n';
    }
    if (rng_below(2))
        n -= 1; /* unterminated */
    return n;
}

/* Every event covers input[start, end): its data, plus the newline that ended it if any. */
static void check_rebuilt(const struct seen *s, const char *in, size_t n, const char *what)
{
    int64_t at = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->start[i] != at)
            fail_msg("%s: event %zu starts at %lld, the one before ended at %lld", what, i,
                     (long long)s->start[i], (long long)at);
        size_t span = (size_t)(s->end[i] - s->start[i]);
        assert_true(span == s->len[i] || span == s->len[i] + 1);
        if (memcmp(in + at, s->data[i], s->len[i]) != 0)
            fail_msg("%s: event %zu at %lld differs from the input", what, i, (long long)at);
        if (span == s->len[i] + 1 && in[at + (int64_t)s->len[i]] != '\n')
            fail_msg("%s: event %zu claims a newline that is not there", what, i);
        at = s->end[i];
    }
    if (at != (int64_t)n)
        fail_msg("%s: events end at %lld, the input at %zu", what, (long long)at, n);
}

/* With split_lines, lines over max_line are split; without, max_line is above every line. */
static void random_run(uint64_t seed, const char *ml, bool split_lines, long partial_ms)
{
    static char in[256 * 1024];
    struct fixture x;
    char what[128];
    long scale = 16 + (long)(seed % 5) * 97;
    long max_line = split_lines ? scale : 1 << 20;

    rng_seed(seed);
    snprintf(what, sizeof(what), "seed %llu ml %s split %d partial %ld", (unsigned long long)seed,
             ml ? ml : "-", split_lines, partial_ms);
    fx_init(&x, max_line, split_lines, partial_ms, ml, NULL, 1 + (long)rng_below(8), 50);
    x.seen.refuse_pct = (unsigned)rng_below(40);
    size_t n = random_input(in, 8 * 1024 + rng_below(24 * 1024), (size_t)scale);
    size_t fed = 0;
    int64_t now = 0;
    while (fed < n || !ferry_framer_empty(&x.fr)) {
        now += (int64_t)rng_below(30);
        if (fed < n && rng_below(3)) {
            size_t room;
            char *p = ferry_framer_space(&x.fr, &room);
            size_t k = 1 + rng_below(rng_below(4) ? 64 : 4096);
            k = k > n - fed ? n - fed : k;
            k = k > room ? room : k;
            memcpy(p, in + fed, k);
            ferry_framer_commit(&x.fr, k);
            fed += k;
        }
        int rc = fed < n || rng_below(4) ? ferry_framer_drain(&x.fr, collect, &x.seen, now)
                                         : ferry_framer_finish(&x.fr, collect, &x.seen);
        assert_true(rc >= 0 || rc == FERRY_ERR_AGAIN);
    }
    assert_int_equal(ferry_framer_next_offset(&x.fr), (int64_t)n);
    check_rebuilt(&x.seen, in, n, what);
    fx_release(&x);
}

static void random_chunks_and_refusals_rebuild_the_input(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 150; seed++) {
        random_run(seed, NULL, false, 0);
        random_run(seed, NULL, false, 40);
        random_run(seed, TS, false, 40);
        random_run(seed, NULL, true, 0);
        random_run(seed, NULL, true, 40);
        random_run(seed, TS, true, 0);
        random_run(seed, TS, true, 40);
    }
}

/* Truncating mode: every line appears once, cut to max_line, and nothing else. */
static void random_truncation_keeps_line_starts(void **state)
{
    static char in[64 * 1024];
    (void)state;
    for (uint64_t seed = 1; seed <= 100; seed++) {
        struct fixture x;
        rng_seed(seed);
        fx_init(&x, 32, false, 0, NULL, NULL, 0, 0);
        x.seen.refuse_pct = (unsigned)rng_below(30);
        size_t n = random_input(in, sizeof(in) / 2 + rng_below(sizeof(in) / 2), 32);
        for (size_t fed = 0; fed < n;) {
            size_t room, k = 1 + rng_below(3000);
            char *p = ferry_framer_space(&x.fr, &room);
            k = k > n - fed ? n - fed : k;
            k = k > room ? room : k;
            memcpy(p, in + fed, k);
            ferry_framer_commit(&x.fr, k);
            fed += k;
            while (ferry_framer_drain(&x.fr, collect, &x.seen, 0) < 0)
                ;
        }
        while (ferry_framer_finish(&x.fr, collect, &x.seen) < 0)
            ;
        int64_t at = 0;
        for (size_t i = 0; i < x.seen.n; i++) {
            assert_int_equal(x.seen.start[i], at);
            const char *line = in + at;
            const char *nl = memchr(line, '\n', n - (size_t)at);
            size_t len = nl ? (size_t)(nl - line) : n - (size_t)at;
            assert_int_equal(x.seen.len[i], len > 32 ? 32 : len);
            assert_memory_equal(x.seen.data[i], line, x.seen.len[i]);
            at += (int64_t)len + (nl ? 1 : 0);
            assert_int_equal(x.seen.end[i], at);
        }
        assert_int_equal(at, (int64_t)n);
        fx_release(&x);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lines_have_their_byte_ranges),
        cmocka_unit_test(offsets_start_where_the_framer_starts),
        cmocka_unit_test(unterminated_line_waits_for_its_newline),
        cmocka_unit_test(refused_events_are_offered_again_once),
        cmocka_unit_test(long_line_is_truncated_and_counted),
        cmocka_unit_test(huge_line_in_pieces_is_truncated),
        cmocka_unit_test(long_line_is_split_into_pieces),
        cmocka_unit_test(split_line_of_exact_multiple),
        cmocka_unit_test(partial_line_is_flushed_after_partial_ms),
        cmocka_unit_test(growing_partial_line_waits_again),
        cmocka_unit_test(new_partial_of_same_length_waits),
        cmocka_unit_test(finish_ships_the_unterminated_line),
        cmocka_unit_test(finish_ships_a_line_being_truncated),
        cmocka_unit_test(multiline_start_pattern_groups_a_stack_trace),
        cmocka_unit_test(multiline_continue_pattern),
        cmocka_unit_test(multiline_max_lines),
        cmocka_unit_test(multiline_event_is_bounded_by_max_line),
        cmocka_unit_test(multiline_refusals_lose_and_double_nothing),
        cmocka_unit_test(multiline_partial_line_is_completed_in_place),
        cmocka_unit_test(bad_multiline_pattern_is_an_error),
        cmocka_unit_test(random_chunks_and_refusals_rebuild_the_input),
        cmocka_unit_test(random_truncation_keeps_line_starts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
