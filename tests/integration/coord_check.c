/* coord_check URL: runs the same checks of ferry/coord.h against whichever backend URL names
 * ("etcd://127.0.0.1:2379/ferry-test", "zk://127.0.0.1:2181/ferry-test"). Each run works below
 * its own prefix (URL's prefix + "/t<pid>"). Prints one line per check; exits 1 at the first
 * failure, 2 on bad usage. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ferry/coord.h"
#include "ferry/err.h"

#define TTL_MS 3000

static struct ferry_coord_options opts;
static char err[512];

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000}, NULL);
}

static void ok(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("ok: ");
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
}

__attribute__((format(printf, 1, 2), noreturn)) static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL: ");
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
    exit(1);
}

static struct ferry_coord *open_session(const char *who)
{
    struct ferry_coord *c;
    if (ferry_coord_open(&opts, &c, err, sizeof(err)) < 0)
        fail("open session %s: %s", who, err);
    return c;
}

/* ---- keys and values ---------------------------------------------------------------- */

static int64_t put(struct ferry_coord *c, const char *key, const char *value)
{
    int64_t v = 0;
    if (ferry_coord_put(c, key, value, strlen(value), &v, err, sizeof(err)) < 0)
        fail("put %s: %s", key, err);
    if (v <= 0)
        fail("put %s: version %" PRId64 ", want > 0", key, v);
    return v;
}

static void expect_get(struct ferry_coord *c, const char *key, const char *want, int64_t wantv)
{
    char *value = NULL;
    size_t len = 0;
    int64_t v = 0;
    int rc = ferry_coord_get(c, key, &value, &len, &v, err, sizeof(err));
    if (rc < 0)
        fail("get %s: %s", key, err);
    if (!want) {
        if (rc != 1)
            fail("get %s: want missing (1), got %d with '%s'", key, rc, value ? value : "");
        return;
    }
    if (rc != 0 || len != strlen(want) || strcmp(value, want) != 0)
        fail("get %s: want '%s', got rc %d '%s'", key, want, rc, rc == 0 ? value : "");
    if (v != wantv)
        fail("get %s: version %" PRId64 ", want the put's %" PRId64, key, v, wantv);
    free(value);
}

static void check_kv(struct ferry_coord *c)
{
    int64_t v1 = put(c, "kv", "one");
    expect_get(c, "kv", "one", v1);
    int64_t v2 = put(c, "kv", "two");
    if (v2 <= v1)
        fail("put kv again: version %" PRId64 " not above %" PRId64, v2, v1);
    expect_get(c, "kv", "two", v2);
    ok("put/get: values read back, versions %" PRId64 " < %" PRId64, v1, v2);
    int rc = ferry_coord_delete(c, "kv", err, sizeof(err));
    if (rc != 0)
        fail("delete kv: want 0, got %d %s", rc, rc < 0 ? err : "");
    expect_get(c, "kv", NULL, 0);
    rc = ferry_coord_delete(c, "kv", err, sizeof(err));
    if (rc != 1)
        fail("delete kv again: want 1 (missing), got %d %s", rc, rc < 0 ? err : "");
    expect_get(c, "nothing/here", NULL, 0);
    ok("delete: key gone, a second delete and a get of a missing key return 1");
}

/* ---- watch -------------------------------------------------------------------------- */

struct later {
    struct ferry_coord *c;
    const char *key, *value;     /* value NULL: delete */
    volatile sig_atomic_t *flag; /* set instead, when not NULL */
    long delay_ms;
    pthread_t t;
};

static void *later_main(void *arg)
{
    struct later *l = arg;
    char e[512];
    sleep_ms(l->delay_ms);
    if (l->flag)
        *l->flag = 1;
    else if (l->value &&
             ferry_coord_put(l->c, l->key, l->value, strlen(l->value), NULL, e, sizeof(e)) < 0)
        fprintf(stderr, "coord_check: put %s: %s\n", l->key, e);
    else if (!l->value && ferry_coord_delete(l->c, l->key, e, sizeof(e)) < 0)
        fprintf(stderr, "coord_check: delete %s: %s\n", l->key, e);
    return NULL;
}

static void later_start(struct later *l)
{
    if (pthread_create(&l->t, NULL, later_main, l) != 0)
        fail("cannot start a thread");
}

struct watched {
    int rc;
    char *value;
    size_t len;
    int64_t version;
    int64_t took_ms;
};

static struct watched watch(struct ferry_coord *c, const char *key, int64_t version, int timeout_ms,
                            volatile sig_atomic_t *cancel)
{
    struct watched w = {0};
    int64_t t0 = now_ms();
    w.rc = ferry_coord_watch(c, key, version, timeout_ms, cancel, &w.value, &w.len, &w.version, err,
                             sizeof(err));
    w.took_ms = now_ms() - t0;
    if (w.rc < 0)
        fail("watch %s: %s", key, err);
    return w;
}

static void check_watch(struct ferry_coord *c)
{
    volatile sig_atomic_t cancel = 0;
    int64_t v = put(c, "w", "first");

    struct watched w = watch(c, "w", v, 700, &cancel);
    if (w.rc != 1 || w.took_ms < 600 || w.took_ms > 2500)
        fail("watch timeout: want 1 after ~700 ms, got %d after %" PRId64 " ms", w.rc, w.took_ms);
    ok("watch: an unchanged key times out with 1 after %" PRId64 " ms", w.took_ms);

    struct later l = {.c = c, .key = "w", .value = "second", .delay_ms = 300};
    later_start(&l);
    w = watch(c, "w", v, 5000, &cancel);
    pthread_join(l.t, NULL);
    if (w.rc != 0 || !w.value || strcmp(w.value, "second") || w.len != 6 || w.version <= v)
        fail("watch: want 'second' with a version above %" PRId64 ", got rc %d '%s' %" PRId64, v,
             w.rc, w.value ? w.value : "(null)", w.version);
    ok("watch: a put from another thread is seen after %" PRId64 " ms", w.took_ms);
    free(w.value);

    int64_t v3 = put(c, "w", "third");
    w = watch(c, "w", v, 5000, &cancel); /* v is stale: "third" was put before the call */
    if (w.rc != 0 || !w.value || strcmp(w.value, "third") || w.version != v3 || w.took_ms > 1000)
        fail("watch stale: want 'third' v%" PRId64 " at once, got rc %d '%s' v%" PRId64
             " after %" PRId64 " ms",
             v3, w.rc, w.value ? w.value : "(null)", w.version, w.took_ms);
    ok("watch: a change made before the call returns at once (%" PRId64 " ms)", w.took_ms);
    free(w.value);

    l = (struct later){.c = c, .key = "w", .value = NULL, .delay_ms = 300};
    later_start(&l);
    w = watch(c, "w", v3, 5000, &cancel);
    pthread_join(l.t, NULL);
    if (w.rc != 0 || w.value || w.version != 0)
        fail("watch delete: want value NULL and version 0, got rc %d '%s' v%" PRId64, w.rc,
             w.value ? w.value : "(null)", w.version);
    ok("watch: a delete is seen as value NULL, version 0");

    l = (struct later){.c = c, .key = "w", .value = "reborn", .delay_ms = 300};
    later_start(&l);
    w = watch(c, "w", 0, 5000, &cancel);
    pthread_join(l.t, NULL);
    if (w.rc != 0 || !w.value || strcmp(w.value, "reborn") || w.version <= 0)
        fail("watch absent: want 'reborn', got rc %d '%s'", w.rc, w.value ? w.value : "(null)");
    ok("watch: a missing key (version 0) sees its creation");
    int64_t v5 = w.version;
    free(w.value);

    l = (struct later){.flag = &cancel, .delay_ms = 300};
    later_start(&l);
    w = watch(c, "w", v5, 20000, &cancel);
    pthread_join(l.t, NULL);
    if (w.rc != 1 || w.took_ms > 1300)
        fail("watch cancel: want 1 within ~1 s, got %d after %" PRId64 " ms", w.rc, w.took_ms);
    ok("watch: the cancel flag stops it after %" PRId64 " ms (set at 300 ms)", w.took_ms);
    ferry_coord_delete(c, "w", err, sizeof(err));
}

/* ---- membership --------------------------------------------------------------------- */

static void check_members(void)
{
    static const char *ja = "{\"host\":\"a\",\"n\":1}", *jb = "{\"host\":\"b\",\"n\":2}";
    struct ferry_coord *a = open_session("A"), *b = open_session("B");
    struct ferry_coord_member *m;
    size_t n;

    if (ferry_coord_register(a, "worker-b", jb, err, sizeof(err)) < 0 ||
        ferry_coord_register(a, "worker-a", ja, err, sizeof(err)) < 0)
        fail("register: %s", err);
    if (ferry_coord_members(b, &m, &n, err, sizeof(err)) < 0)
        fail("members: %s", err);
    if (n != 2 || strcmp(m[0].id, "worker-a") || strcmp(m[0].value, ja) ||
        strcmp(m[1].id, "worker-b") || strcmp(m[1].value, jb))
        fail("members: want worker-a, worker-b with their JSON, got %zu: %s=%s %s=%s", n,
             n > 0 ? m[0].id : "", n > 0 ? m[0].value : "", n > 1 ? m[1].id : "",
             n > 1 ? m[1].value : "");
    ferry_coord_members_free(m, n);
    ok("members: two ids registered by session A are listed by session B, sorted, intact");

    ferry_coord_close(a);
    int64_t t0 = now_ms();
    for (;;) {
        if (ferry_coord_members(b, &m, &n, err, sizeof(err)) < 0)
            fail("members: %s", err);
        ferry_coord_members_free(m, n);
        if (n == 0)
            break;
        if (now_ms() - t0 > TTL_MS + 2000)
            fail("members: %zu still listed %d ms after session A closed", n, TTL_MS + 2000);
        sleep_ms(100);
    }
    ok("members: none listed %" PRId64 " ms after session A closed", now_ms() - t0);
    ferry_coord_close(b);
}

/* ---- election ----------------------------------------------------------------------- */

struct candidate {
    struct ferry_coord *c;
    char value[32];
    volatile sig_atomic_t cancel;
    int64_t fence;
    int rc;
    atomic_bool done;
    char err[512];
    pthread_t t;
};

static void *campaign_main(void *arg)
{
    struct candidate *k = arg;
    k->rc = ferry_coord_campaign(k->c, k->value, &k->fence, &k->cancel, k->err, sizeof(k->err));
    atomic_store(&k->done, true);
    return NULL;
}

static void campaign(struct candidate *k)
{
    k->cancel = 0;
    k->rc = 0;
    k->fence = 0;
    atomic_store(&k->done, false);
    if (pthread_create(&k->t, NULL, campaign_main, k) != 0)
        fail("cannot start a thread");
}

/* Waits up to wait_ms for a campaign among the live ones to win; returns it. */
static struct candidate *wait_winner(struct candidate *k, const bool *live, size_t n, long wait_ms)
{
    int64_t t0 = now_ms();
    for (;;) {
        for (size_t i = 0; i < n; i++) {
            if (!live[i] || !atomic_load(&k[i].done))
                continue;
            pthread_join(k[i].t, NULL);
            if (k[i].rc != 0)
                fail("campaign %s: rc %d: %s", k[i].value, k[i].rc, k[i].err);
            return &k[i];
        }
        if (now_ms() - t0 > wait_ms)
            fail("election: nobody won within %ld ms", wait_ms);
        sleep_ms(20);
    }
}

/* For 2 s, every 50 ms: exactly the winner reports leading() and leader() names it. */
static void check_one_leader(struct candidate *k, const bool *live, size_t n,
                             const struct candidate *w)
{
    for (int64_t t0 = now_ms(); now_ms() - t0 < 2000; sleep_ms(50)) {
        for (size_t i = 0; i < n; i++) {
            if (live[i] && ferry_coord_leading(k[i].c) != (&k[i] == w))
                fail("election: %s reports leading() %d while %s won", k[i].value,
                     !ferry_coord_leading(k[i].c), w->value);
        }
        char *value = NULL;
        int64_t fence = 0;
        int rc = ferry_coord_leader(w->c, &value, &fence, err, sizeof(err));
        if (rc != 0 || strcmp(value, w->value) || fence != w->fence)
            fail("election: leader() says rc %d '%s' fence %" PRId64 ", want '%s' %" PRId64 " (%s)",
                 rc, rc == 0 ? value : "", fence, w->value, w->fence, rc < 0 ? err : "");
        free(value);
    }
}

static void check_election(void)
{
    struct candidate k[3] = {0};
    bool live[3] = {true, true, true};
    for (size_t i = 0; i < 3; i++) {
        snprintf(k[i].value, sizeof(k[i].value), "candidate-%zu", i);
        k[i].c = open_session(k[i].value);
        campaign(&k[i]);
    }
    struct candidate *w = wait_winner(k, live, 3, 5000);
    check_one_leader(k, live, 3, w);
    ok("election: exactly %s leads for 2 s, leader() names it with fence %" PRId64, w->value,
       w->fence);

    int64_t t0 = now_ms();
    if (ferry_coord_resign(w->c, err, sizeof(err)) < 0)
        fail("resign: %s", err);
    if (ferry_coord_leading(w->c))
        fail("resign: %s still reports leading()", w->value);
    live[w - k] = false;
    struct candidate *w2 = wait_winner(k, live, 3, 2000);
    if (w2->fence <= w->fence)
        fail("election: fence %" PRId64 " of %s not above %" PRId64, w2->fence, w2->value,
             w->fence);
    ok("election: after %s resigned, %s leads within %" PRId64 " ms, fence %" PRId64 " > %" PRId64,
       w->value, w2->value, now_ms() - t0, w2->fence, w->fence);
    check_one_leader(k, live, 3, w2);

    struct candidate *waiting = NULL;
    for (size_t i = 0; i < 3; i++)
        if (live[i] && &k[i] != w2)
            waiting = &k[i];
    t0 = now_ms();
    waiting->cancel = 1;
    while (!atomic_load(&waiting->done) && now_ms() - t0 < 1500)
        sleep_ms(20);
    if (!atomic_load(&waiting->done))
        fail("election: a cancelled campaign did not return within 1.5 s");
    pthread_join(waiting->t, NULL);
    if (waiting->rc != 1)
        fail("election: a cancelled campaign returned %d, want 1 (%s)", waiting->rc, waiting->err);
    if (ferry_coord_leading(waiting->c))
        fail("election: a cancelled candidate reports leading()");
    ok("election: cancelling a waiting campaign returns 1 after %" PRId64 " ms", now_ms() - t0);

    /* the first winner campaigns again, then the leader's session closes */
    live[waiting - k] = false;
    live[w - k] = true;
    live[w2 - k] = false;
    campaign(w);
    sleep_ms(300);
    if (atomic_load(&w->done))
        fail("election: %s won while %s still leads", w->value, w2->value);
    t0 = now_ms();
    int64_t old_fence = w2->fence;
    ferry_coord_close(w2->c);
    w2->c = NULL;
    struct candidate *w3 = wait_winner(k, live, 3, TTL_MS + 2000);
    if (w3->fence <= old_fence)
        fail("election: fence %" PRId64 " not above %" PRId64, w3->fence, old_fence);
    ok("election: closing the leader's session hands leadership to %s within %" PRId64 " ms",
       w3->value, now_ms() - t0);
    check_one_leader(k, live, 3, w3);
    for (size_t i = 0; i < 3; i++)
        ferry_coord_close(k[i].c);
}

/* coord_check --put URL KEY FILE: stores FILE's bytes at KEY under the URL's prefix as they
 * are, unvalidated (tests push broken configurations this way). */
static int put_raw(const char *url, const char *key, const char *file)
{
    char buf[1 << 16];
    FILE *f = fopen(file, "rb");
    if (!f) {
        perror(file);
        return 2;
    }
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    if (ferry_coord_url_parse(url, &opts, err, sizeof(err)) < 0) {
        fprintf(stderr, "coord_check: %s\n", err);
        return 2;
    }
    struct ferry_coord *c = open_session("put");
    int64_t version = 0;
    if (ferry_coord_put(c, key, buf, n, &version, err, sizeof(err)) < 0) {
        fprintf(stderr, "coord_check: put %s: %s\n", key, err);
        return 1;
    }
    printf("stored %zu bytes at %s (version %lld)\n", n, key, (long long)version);
    ferry_coord_close(c);
    ferry_coord_options_release(&opts);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "--put"))
        return put_raw(argv[2], argv[3], argv[4]);
    if (argc != 2) {
        fprintf(stderr, "usage: coord_check etcd://host:port/prefix | zk://host:port/prefix\n");
        return 2;
    }
    if (ferry_coord_url_parse(argv[1], &opts, err, sizeof(err)) < 0) {
        fprintf(stderr, "coord_check: %s\n", err);
        return 2;
    }
    char *prefix;
    if (asprintf(&prefix, "%s/t%ld", opts.prefix, (long)getpid()) < 0)
        return 2;
    free(opts.prefix);
    opts.prefix = prefix;
    opts.ttl_ms = TTL_MS;
    char url[1024];
    printf("coord_check: %s\n", ferry_coord_url_format(&opts, url, sizeof(url)));

    struct ferry_coord *c = open_session("main");
    check_kv(c);
    check_watch(c);
    ferry_coord_close(c);
    check_members();
    check_election();
    ferry_coord_options_release(&opts);
    printf("coord_check: all checks passed\n");
    return 0;
}
