/* Unit tests for rollup windows (ferry_rollup_window_* and ferry_rollup_span, sinks/rollup.c).
 *
 * Instants are written as ms since the epoch, each next to the UTC time it stands for (taken
 * from `date -u -d … +%s%3N`, not from the code under test). Windows are UTC only: there is no
 * time zone setting, and TZ must not move them (the process may run with any TZ). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ferry/rollup.h"
#include "test_rng.h"

#define MIN  60000LL
#define HOUR 3600000LL
#define DAY  86400000LL

static void window_lengths(void **state)
{
    (void)state;
    assert_int_equal(ferry_rollup_window_ms(FERRY_WINDOW_MINUTE), MIN);
    assert_int_equal(ferry_rollup_window_ms(FERRY_WINDOW_HOUR), HOUR);
    assert_int_equal(ferry_rollup_window_ms(FERRY_WINDOW_DAY), DAY);
}

static void window_start_minute_hour_day(void **state)
{
    (void)state;
    const int64_t t = 1795631501123; /* 2026-11-25T18:31:41.123Z */
    assert_int_equal(ferry_rollup_window_start(t, MIN), 1795631460000);  /* 18:31:00 */
    assert_int_equal(ferry_rollup_window_start(t, HOUR), 1795629600000); /* 18:00:00 */
    assert_int_equal(ferry_rollup_window_start(t, DAY), 1795564800000);  /* 00:00:00 */
}

static void window_boundaries_belong_to_the_window_they_start(void **state)
{
    (void)state;
    const int64_t m = 1795631460000, h = 1795629600000, d = 1795564800000;
    assert_int_equal(ferry_rollup_window_start(m, MIN), m);
    assert_int_equal(ferry_rollup_window_start(m - 1, MIN), m - MIN);
    assert_int_equal(ferry_rollup_window_start(m + MIN - 1, MIN), m);
    assert_int_equal(ferry_rollup_window_start(h, HOUR), h);
    assert_int_equal(ferry_rollup_window_start(h - 1, HOUR), h - HOUR);
    assert_int_equal(ferry_rollup_window_start(d, DAY), d);
    assert_int_equal(ferry_rollup_window_start(d - 1, DAY), d - DAY);
    /* a leap day, and the last millisecond before the next month */
    assert_int_equal(ferry_rollup_window_start(1709251199999, DAY), 1709164800000); /* 02-29 */
    assert_int_equal(ferry_rollup_window_start(1709251200000, DAY), 1709251200000); /* 03-01 */
    assert_int_equal(ferry_rollup_window_start(0, DAY), 0);
}

static void windows_before_1970(void **state)
{
    (void)state;
    assert_int_equal(ferry_rollup_window_start(-1, MIN), -60000);     /* 1969-12-31T23:59Z */
    assert_int_equal(ferry_rollup_window_start(-1, HOUR), -3600000);  /* 1969-12-31T23:00Z */
    assert_int_equal(ferry_rollup_window_start(-1, DAY), -86400000);  /* 1969-12-31T00:00Z */
    assert_int_equal(ferry_rollup_window_start(-60000, MIN), -60000); /* its own start */
    assert_int_equal(ferry_rollup_window_start(-60001, MIN), -120000);
}

/* Windows are UTC days whatever TZ says, also on the day Europe's clocks go forward (that
 * local day has 23 hours; a UTC day always has 24). */
static void time_zone_does_not_move_windows(void **state)
{
    (void)state;
    static const char *const zones[] = {"UTC", "Europe/Berlin", "Asia/Kolkata", "America/St_Johns",
                                        "Pacific/Chatham"};
    const int64_t noon = 1774785600000; /* 2026-03-29T12:00:00Z */
    const char *saved = getenv("TZ");
    char *keep = saved ? strdup(saved) : NULL;
    for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
        setenv("TZ", zones[i], 1);
        tzset();
        assert_int_equal(ferry_rollup_window_start(noon, DAY), 1774742400000); /* 03-29T00Z */
        assert_int_equal(ferry_rollup_window_start(noon + 30 * MIN, HOUR), noon);
        int64_t to;
        bool behind;
        /* the day closes 24 h after it starts, plus lateness, in every zone */
        assert_false(ferry_rollup_span(1774742400000, 1774828800000 - 1, 0, DAY, &to, &behind));
        assert_true(ferry_rollup_span(1774742400000, 1774828800000, 0, DAY, &to, &behind));
        assert_int_equal(to, 1774828800000); /* 2026-03-30T00:00:00Z */
    }
    if (keep)
        setenv("TZ", keep, 1);
    else
        unsetenv("TZ");
    tzset();
    free(keep);
}

/* A window [s, s + W) is closed once now >= s + W + lateness, and not a millisecond before. */
static void a_window_closes_lateness_after_its_end(void **state)
{
    (void)state;
    const int64_t s = 1795631460000; /* 18:31:00 */
    int64_t to;
    bool behind;
    static const int64_t lateness[] = {0, 1, 30000, 60000, 90000, 3600000};
    for (size_t i = 0; i < sizeof(lateness) / sizeof(lateness[0]); i++) {
        int64_t l = lateness[i];
        assert_false(ferry_rollup_span(s, s + MIN + l - 1, l, MIN, &to, &behind));
        assert_int_equal(to, s);
        assert_true(ferry_rollup_span(s, s + MIN + l, l, MIN, &to, &behind));
        assert_int_equal(to, s + MIN);
        assert_false(behind);
        /* the next window is not closed until its own end plus lateness */
        assert_true(ferry_rollup_span(s, s + 2 * MIN + l - 1, l, MIN, &to, &behind));
        assert_int_equal(to, s + MIN);
    }
    /* hours and days the same way */
    const int64_t h = 1795629600000, d = 1795564800000;
    assert_false(ferry_rollup_span(h, h + HOUR + 59999, 60000, HOUR, &to, &behind));
    assert_true(ferry_rollup_span(h, h + HOUR + 60000, 60000, HOUR, &to, &behind));
    assert_int_equal(to, h + HOUR);
    assert_false(ferry_rollup_span(d, d + DAY + 59999, 60000, DAY, &to, &behind));
    assert_true(ferry_rollup_span(d, d + DAY + 60000, 60000, DAY, &to, &behind));
    assert_int_equal(to, d + DAY);
}

/* The first run starts at the window of the oldest row and ends at the last closed window:
 * the window still open (or within its lateness) is never part of a span. */
static void first_and_last_window(void **state)
{
    (void)state;
    const int64_t oldest = 1795631501123, first = 1795631460000; /* 18:31:41.123, 18:31 */
    const int64_t now = 1795632000000 + 45000;                   /* 18:40:45 */
    int64_t to;
    bool behind;
    assert_true(
        ferry_rollup_span(ferry_rollup_window_start(oldest, MIN), now, 60000, MIN, &to, &behind));
    /* 18:40:45 - 60 s = 18:39:45: the 18:38 window ended 18:39 and is closed, 18:39 is not */
    assert_int_equal(to, 1795631940000); /* 18:39:00 */
    assert_int_equal((to - first) / MIN, 8);
    assert_false(behind);
    /* and the run after it, at the same moment, has nothing to do */
    assert_false(ferry_rollup_span(to, now, 60000, MIN, &to, &behind));
}

/* A lateness raised by a reload, or a clock set back, leaves `from` after the last closed
 * end: nothing to fill, and never a span that runs backwards. */
static void nothing_when_from_is_past_the_closed_end(void **state)
{
    (void)state;
    const int64_t s = 1795631460000;
    int64_t to;
    bool behind;
    assert_false(ferry_rollup_span(s + 10 * MIN, s + 5 * MIN, 0, MIN, &to, &behind));
    assert_false(behind);
    assert_false(ferry_rollup_span(s, s + 10 * MIN, 3600000, MIN, &to, &behind));
    assert_false(behind);
}

static void far_behind_fills_at_most_the_limit(void **state)
{
    (void)state;
    const int64_t s = 1795631460000;
    const int64_t max = FERRY_ROLLUP_MAX_WINDOWS;
    int64_t to;
    bool behind;
    /* exactly the limit closed: all of it, not behind */
    assert_true(ferry_rollup_span(s, s + max * MIN, 0, MIN, &to, &behind));
    assert_int_equal(to, s + max * MIN);
    assert_false(behind);
    /* one more: the limit, behind */
    assert_true(ferry_rollup_span(s, s + (max + 1) * MIN, 0, MIN, &to, &behind));
    assert_int_equal(to, s + max * MIN);
    assert_true(behind);
    /* 400 days behind with day windows: within the limit, all of it */
    const int64_t d = 1795564800000; /* 2026-11-25T00:00:00Z */
    assert_true(ferry_rollup_span(d - 400 * DAY, d, 0, DAY, &to, &behind));
    assert_int_equal(to, d);
    assert_false(behind);
}

/* A raw table whose oldest row is from before 1970 (a time read as epoch seconds of a
 * negative number, a date such as 1969-12-31) still has windows to fill. */
static void oldest_row_before_1970_is_filled(void **state)
{
    (void)state;
    const int64_t from = -60000; /* 1969-12-31T23:59:00Z */
    int64_t to;
    bool behind;
    assert_true(ferry_rollup_span(from, 10 * MIN, 0, MIN, &to, &behind));
    assert_int_equal(to, 10 * MIN);
    assert_false(behind);
    /* and far behind from there, capped like any other start */
    assert_true(ferry_rollup_span(-86400000, 1795631460000, 0, MIN, &to, &behind));
    assert_int_equal(to, -86400000 + FERRY_ROLLUP_MAX_WINDOWS * MIN);
    assert_true(behind);
}

/* Runs at random moments, each starting where the last stopped, cover every closed window
 * exactly once: no gap, no overlap, never a window that was not closed at the run. */
static void successive_runs_cover_each_closed_window_once(void **state)
{
    (void)state;
    static const int64_t windows[] = {MIN, HOUR, DAY};
    rng_seed(0x9e3779b97f4a7c15ull);
    for (size_t k = 0; k < 3; k++) {
        const int64_t w = windows[k], lateness = 45000;
        int64_t done = ferry_rollup_window_start(1795631501123, w), now = 1795631501123;
        int64_t filled = 0, runs = 0;
        for (int i = 0; i < 20000; i++) {
            now += (int64_t)rng_below((size_t)(w / 2 + 1)); /* up to half a window later */
            int64_t to;
            bool behind;
            if (!ferry_rollup_span(done, now, lateness, w, &to, &behind))
                continue;
            assert_true(to > done);
            assert_int_equal((to - done) % w, 0);
            assert_true(to + lateness <= now);    /* its last window was closed */
            assert_true(to + w + lateness > now); /* the next one was not */
            filled += (to - done) / w;
            done = to;
            runs++;
        }
        /* every window from the first to the last closed one, once */
        assert_int_equal(filled, (ferry_rollup_window_start(now - lateness, w) -
                                  ferry_rollup_window_start(1795631501123, w)) /
                                     w);
        print_message("window %lld ms: %lld windows in %lld runs\n", (long long)w,
                      (long long)filled, (long long)runs);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(window_lengths),
        cmocka_unit_test(window_start_minute_hour_day),
        cmocka_unit_test(window_boundaries_belong_to_the_window_they_start),
        cmocka_unit_test(windows_before_1970),
        cmocka_unit_test(time_zone_does_not_move_windows),
        cmocka_unit_test(a_window_closes_lateness_after_its_end),
        cmocka_unit_test(first_and_last_window),
        cmocka_unit_test(nothing_when_from_is_past_the_closed_end),
        cmocka_unit_test(far_behind_fills_at_most_the_limit),
        cmocka_unit_test(oldest_row_before_1970_is_filled),
        cmocka_unit_test(successive_runs_cover_each_closed_window_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
