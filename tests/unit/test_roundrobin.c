/* Unit tests for round-robin placement (agent/roundrobin.c, used by agent/producer.c).
 *
 * The expected sequences are written out by hand from the rule in roundrobin.h: the first
 * partition with a leader at or after the one following the last pick. */
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ferry/roundrobin.h"

#define MAXP 64

/* Which partitions have a leader; read by every picking thread. */
struct leaders {
    bool up[MAXP];
};

static bool available(void *opaque, int32_t partition)
{
    const struct leaders *l = opaque;
    assert_true(partition >= 0 && partition < MAXP);
    return l->up[partition];
}

static void all_up(struct leaders *l)
{
    for (int i = 0; i < MAXP; i++)
        l->up[i] = true;
}

/* n picks into out, as a string of digits (partitions < 10) */
static void picks(struct ferry_rr *rr, int32_t cnt, struct leaders *l, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        int32_t p = ferry_rr_pick(rr, cnt, available, l);
        assert_true(p >= 0 && p < cnt);
        out[i] = (char)('0' + p);
    }
    out[n] = '\0';
}

static void spreads_in_turn_over_all_partitions(void **state)
{
    (void)state;
    struct ferry_rr rr = {0};
    struct leaders l;
    char got[64];
    all_up(&l);
    picks(&rr, 6, &l, 20, got);
    assert_string_equal(got, "01234501234501234501");
}

static void spreads_evenly(void **state)
{
    (void)state;
    struct ferry_rr rr = {0};
    struct leaders l;
    size_t count[MAXP] = {0};
    all_up(&l);
    for (int i = 0; i < 7 * 1000; i++)
        count[ferry_rr_pick(&rr, 7, available, &l)]++;
    for (int p = 0; p < 7; p++)
        assert_int_equal(count[p], 1000);
}

static void skips_partitions_without_a_leader(void **state)
{
    (void)state;
    struct ferry_rr rr = {0};
    struct leaders l;
    char got[64];
    all_up(&l);
    l.up[2] = l.up[4] = false;
    picks(&rr, 6, &l, 12, got);
    assert_string_equal(got, "013501350135");
    /* the first partition is skipped too, also right after a wrap */
    l.up[0] = false;
    picks(&rr, 6, &l, 9, got);
    assert_string_equal(got, "135135135");
}

static void a_leader_back_is_used_again_in_its_turn(void **state)
{
    (void)state;
    struct ferry_rr rr = {0};
    struct leaders l;
    char got[64];
    all_up(&l);
    l.up[1] = false;
    picks(&rr, 4, &l, 4, got);
    assert_string_equal(got, "0230");
    l.up[1] = true; /* next would have been 1: it is taken at once */
    picks(&rr, 4, &l, 6, got);
    assert_string_equal(got, "123012");
}

static void without_any_leader_still_goes_in_turn(void **state)
{
    (void)state;
    struct ferry_rr rr = {0};
    struct leaders l;
    char got[64];
    memset(&l, 0, sizeof(l));
    picks(&rr, 3, &l, 7, got);
    assert_string_equal(got, "0120120");
    /* one leader back: everything goes there until the others return */
    l.up[2] = true;
    picks(&rr, 3, &l, 4, got);
    assert_string_equal(got, "2222");
}

static void one_partition(void **state)
{
    (void)state;
    struct ferry_rr rr = {0};
    struct leaders l;
    char got[64];
    all_up(&l);
    picks(&rr, 1, &l, 5, got);
    assert_string_equal(got, "00000");
    l.up[0] = false;
    picks(&rr, 1, &l, 3, got);
    assert_string_equal(got, "000");
}

static void follows_a_change_of_partition_count(void **state)
{
    (void)state;
    struct ferry_rr rr = {0};
    struct leaders l;
    char got[64];
    all_up(&l);
    picks(&rr, 8, &l, 7, got); /* next would be 7 */
    assert_string_equal(got, "0123456");
    picks(&rr, 4, &l, 5, got); /* fewer partitions: 7 % 4, in range */
    assert_string_equal(got, "30123");
    picks(&rr, 6, &l, 4, got); /* more: the new ones get their turn */
    assert_string_equal(got, "4501");
}

static void wraps_from_any_starting_point(void **state)
{
    (void)state;
    struct leaders l;
    char got[64];
    all_up(&l);
    /* a counter at its largest value: the pick is in range and the next ones go on in turn */
    struct ferry_rr rr = {UINT_MAX};
    picks(&rr, 6, &l, 8, got);
    char want[9];
    for (int i = 0; i < 8; i++)
        want[i] = (char)('0' + (int)((UINT_MAX % 6 + (unsigned)i) % 6));
    want[8] = '\0';
    assert_string_equal(got, want);
    /* what is stored stays small: it never reaches the wrap itself */
    assert_true(atomic_load(&rr.next) <= 6);
}

/* ---- several threads --------------------------------------------------------------------- */

#define THREADS 4
#define PICKS   50000

struct worker_arg {
    struct ferry_rr *rr;
    struct leaders *l;
    int32_t cnt;
    size_t count[MAXP];
    pthread_barrier_t *go;
};

static void *picker(void *p)
{
    struct worker_arg *a = p;
    pthread_barrier_wait(a->go);
    for (int i = 0; i < PICKS; i++) {
        int32_t q = ferry_rr_pick(a->rr, a->cnt, available, a->l);
        if (q < 0 || q >= a->cnt)
            return p; /* counted as missing below */
        a->count[q]++;
    }
    return NULL;
}

/* Picks from several threads at once: each pick moves the shared position by exactly one
 * turn, so the totals are exact whatever the interleaving. */
static void run_threads(struct leaders *l, int32_t cnt, size_t *total)
{
    struct ferry_rr rr = {0};
    struct worker_arg args[THREADS];
    pthread_t tid[THREADS];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, THREADS);
    memset(total, 0, MAXP * sizeof(*total));
    for (int t = 0; t < THREADS; t++) {
        args[t] = (struct worker_arg){.rr = &rr, .l = l, .cnt = cnt, .go = &go};
        assert_int_equal(pthread_create(&tid[t], NULL, picker, &args[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        void *r = NULL;
        pthread_join(tid[t], &r);
        assert_null(r);
        for (int p = 0; p < cnt; p++)
            total[p] += args[t].count[p];
    }
    pthread_barrier_destroy(&go);
}

static void several_threads_spread_exactly_evenly(void **state)
{
    (void)state;
    struct leaders l;
    size_t total[MAXP];
    all_up(&l);
    run_threads(&l, 8, total);
    for (int p = 0; p < 8; p++) {
        print_message("partition %d: %zu\n", p, total[p]);
        assert_int_equal(total[p], THREADS * PICKS / 8);
    }
}

static void several_threads_skip_partitions_without_a_leader(void **state)
{
    (void)state;
    struct leaders l;
    size_t total[MAXP];
    all_up(&l);
    l.up[1] = l.up[3] = l.up[6] = false; /* 5 of 8 with a leader: 200,000 picks, 40,000 each */
    run_threads(&l, 8, total);
    for (int p = 0; p < 8; p++) {
        print_message("partition %d: %zu\n", p, total[p]);
        assert_int_equal(total[p], l.up[p] ? THREADS * PICKS / 5 : 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spreads_in_turn_over_all_partitions),
        cmocka_unit_test(spreads_evenly),
        cmocka_unit_test(skips_partitions_without_a_leader),
        cmocka_unit_test(a_leader_back_is_used_again_in_its_turn),
        cmocka_unit_test(without_any_leader_still_goes_in_turn),
        cmocka_unit_test(one_partition),
        cmocka_unit_test(follows_a_change_of_partition_count),
        cmocka_unit_test(wraps_from_any_starting_point),
        cmocka_unit_test(several_threads_spread_exactly_evenly),
        cmocka_unit_test(several_threads_skip_partitions_without_a_leader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
