/* ferry: the agent — every source read on one thread, each into its own producer. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/agent.h"
#include "ferry/clock.h"
#include "ferry/err.h"
#include "ferry/keyer.h"
#include "ferry/log.h"
#include "ferry/producer.h"
#include "ferry/source.h"

struct agent_source {
    const struct ferry_source_config *cfg;
    const struct ferry_source_ops *ops;
    struct ferry_source *src;
    struct ferry_producer *prod;
    struct ferry_keyer *keyer;         /* partitioning.mode key; else NULL */
    uint64_t keys[FERRY_KEY_NRESULTS]; /* events sent, by what key extraction found */
    /* counters, read by the HTTP thread too */
    _Atomic uint64_t sent, refused, queue_full;
    bool blocked;            /* the last send found the producer's queue full */
    uint64_t send_retries;   /* sends refused for now (FERRY_ERR_RETRY) */
    int64_t retry_logged_ms; /* when such a refusal was last logged: once a minute at most */
};

struct ferry_agent {
    const struct ferry_config *cfg;
    struct agent_source *v;
    size_t n;
};

/* Delivery reports, on the agent's thread (inside ferry_producer_poll). */
static void on_delivery(void *opaque, uint64_t pos, int ok)
{
    struct agent_source *as = opaque;
    as->ops->acked(as->src, pos, ok);
}

static const char *fallback_name(enum ferry_partition_fallback f)
{
    return f == FERRY_FALLBACK_EXPLICIT      ? "explicit"
           : f == FERRY_FALLBACK_ROUND_ROBIN ? "round_robin"
                                             : "default";
}

static int on_emit(void *opaque, const struct ferry_event *ev)
{
    struct agent_source *as = opaque;
    struct ferry_event keyed;
    enum ferry_key_result kr = FERRY_KEY_OK;
    char err[512];
    if (as->keyer) {
        keyed = *ev;
        kr = ferry_keyer_extract(as->keyer, ev->data, ev->len, &keyed.key, &keyed.key_len);
        ev = &keyed;
    }
    int rc = ferry_producer_send(as->prod, ev, err, sizeof(err));
    if (rc == 0 && as->keyer && as->keys[kr]++ == 0 && kr != FERRY_KEY_OK)
        ferry_warn("agent",
                   "%s: an event without a key (%s) goes to fallback %s; such events "
                   "are counted from here on",
                   as->cfg->name, ferry_keyer_result_name(kr),
                   fallback_name(as->cfg->partitioning.fallback));
    if (rc == 0) {
        atomic_fetch_add_explicit(&as->sent, 1, memory_order_relaxed);
        as->blocked = false;
    } else if (rc == FERRY_ERR_AGAIN) {
        if (!as->blocked) /* reading stops here until the queue has room */
            atomic_fetch_add_explicit(&as->queue_full, 1, memory_order_relaxed);
        as->blocked = true;
    } else if (rc == FERRY_ERR_RETRY) { /* the source sends it again later */
        int64_t now = ferry_mono_ms();
        as->blocked = false;
        as->send_retries++;
        if (!as->retry_logged_ms || now - as->retry_logged_ms >= 60000) { /* once a minute */
            as->retry_logged_ms = now;
            ferry_warn("agent",
                       "%s: %s: held back and sent again later (%llu such refusals so far)",
                       as->cfg->name, err, (unsigned long long)as->send_retries);
        }
    } else {
        atomic_fetch_add_explicit(&as->refused, 1, memory_order_relaxed);
        ferry_error("agent", "%s: %s", as->cfg->name, err);
    }
    return rc;
}

int ferry_agent_new(struct ferry_agent **out, const struct ferry_config *cfg, const char *bootstrap,
                    char *err, size_t errlen)
{
    struct ferry_agent *a = calloc(1, sizeof(*a));
    int rc = 0;

    if (!a)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "agent: out of memory");
    a->cfg = cfg;
    a->v = calloc(cfg->nsources + 1, sizeof(*a->v));
    if (!a->v) {
        free(a);
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "agent: out of memory");
    }
    for (size_t i = 0; i < cfg->nsources; i++) {
        struct agent_source *as = &a->v[i];
        as->cfg = &cfg->sources[i];
        as->ops = ferry_source_lookup(as->cfg->type);
        if (!as->ops) {
            rc = ferry_seterr(err, errlen, FERRY_ERR_INVALID, "source %s: type not available",
                              as->cfg->name);
            break;
        }
        rc = ferry_producer_new(&as->prod, &cfg->kafka, bootstrap, as->cfg, on_delivery, as, err,
                                errlen);
        if (rc < 0)
            break;
        a->n++;
        if (as->cfg->partitioning.mode == FERRY_PARTITION_KEY) {
            rc = ferry_keyer_new(&as->keyer, &as->cfg->partitioning.key, err, errlen);
            if (rc < 0)
                break;
        }
        rc = as->ops->open(&as->src, as->cfg, cfg->state_dir, err, errlen);
        if (rc < 0)
            break;
    }
    if (rc < 0) {
        ferry_agent_destroy(a);
        return rc;
    }
    *out = a;
    return 0;
}

static void checkpoint_all(struct ferry_agent *a)
{
    char err[512];
    for (size_t i = 0; i < a->n; i++) {
        struct agent_source *as = &a->v[i];
        if (as->src && as->ops->checkpoint(as->src, err, sizeof(err)) < 0)
            ferry_error("agent", "%s: %s", as->cfg->name, err);
    }
}

static uint64_t in_flight(struct ferry_agent *a)
{
    uint64_t n = 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->v[i].src)
            n += a->v[i].ops->in_flight(a->v[i].src);
    return n;
}

/* "web: 980 events keyed, 20 without a key (fallback round_robin): not json 15, no field 5" */
static void log_keys(const struct agent_source *as)
{
    char why[512] = "";
    uint64_t missed = 0;
    for (int r = FERRY_KEY_OK + 1; r < FERRY_KEY_NRESULTS; r++) {
        size_t l = strlen(why);
        missed += as->keys[r];
        if (as->keys[r])
            snprintf(why + l, sizeof(why) - l, "%s%s %llu", l ? ", " : ": ",
                     ferry_keyer_result_name(r), (unsigned long long)as->keys[r]);
    }
    ferry_info("agent", "%s: %llu events keyed, %llu without a key (fallback %s)%s", as->cfg->name,
               (unsigned long long)as->keys[FERRY_KEY_OK], (unsigned long long)missed,
               fallback_name(as->cfg->partitioning.fallback), why);
}

/* Every source ended for good (standard input closed) and Kafka has all it sent. */
static bool all_finished(struct ferry_agent *a)
{
    for (size_t i = 0; i < a->n; i++) {
        const struct agent_source *as = &a->v[i];
        if (!as->ops->finished || !as->ops->finished(as->src))
            return false;
    }
    return in_flight(a) == 0;
}

int ferry_agent_run(struct ferry_agent *a, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    int64_t next_cp = ferry_mono_ms() + a->cfg->checkpoint_ms;
    (void)err;
    (void)errlen;

    ferry_info("agent", "started: %zu sources", a->n);
    while (!*stop) {
        int read = 0;
        for (size_t i = 0; i < a->n; i++) {
            struct agent_source *as = &a->v[i];
            struct ferry_emit emit = {on_emit, as};
            int rc = as->ops->poll(as->src, &emit, 0);
            if (rc > 0)
                read += rc;
            ferry_producer_poll(as->prod, 0);
        }
        if (read == 0) {
            /* idle, or every queue is full: wait for delivery reports (a short sleep) */
            for (size_t i = 0; i < a->n; i++)
                ferry_producer_poll(a->v[i].prod, a->n > 1 ? 10 : 50);
        }
        if (ferry_mono_ms() >= next_cp) {
            checkpoint_all(a);
            next_cp = ferry_mono_ms() + a->cfg->checkpoint_ms;
        }
        if (read == 0 && all_finished(a)) {
            ferry_info("agent", "every source ended and Kafka acknowledged all: stopping");
            break;
        }
    }

    /* Stop reading; give Kafka shutdown_timeout_ms to acknowledge what is in flight. */
    int64_t deadline = ferry_mono_ms() + a->cfg->shutdown_timeout_ms;
    while (in_flight(a) > 0 && ferry_mono_ms() < deadline)
        for (size_t i = 0; i < a->n; i++)
            ferry_producer_poll(a->v[i].prod, 10);
    uint64_t left = in_flight(a);
    if (left)
        ferry_warn("agent",
                   "stopping with %llu lines unacknowledged: they are read again on the "
                   "next start",
                   (unsigned long long)left);
    checkpoint_all(a);
    for (size_t i = 0; i < a->n; i++)
        ferry_info("agent", "%s: %llu lines acknowledged by Kafka, %llu failed", a->v[i].cfg->name,
                   (unsigned long long)ferry_producer_acked(a->v[i].prod),
                   (unsigned long long)ferry_producer_failed(a->v[i].prod));
    for (size_t i = 0; i < a->n; i++)
        if (a->v[i].keyer)
            log_keys(&a->v[i]);
    return 0;
}

size_t ferry_agent_nsources(const struct ferry_agent *a)
{
    return a->n;
}

void ferry_agent_stats(const struct ferry_agent *a, size_t i, struct ferry_source_stats *out)
{
    const struct agent_source *as = &a->v[i];
    *out = (struct ferry_source_stats){
        .name = as->cfg->name,
        .sent = atomic_load_explicit(&as->sent, memory_order_relaxed),
        .acked = ferry_producer_acked(as->prod),
        .failed = ferry_producer_failed(as->prod),
        .refused = atomic_load_explicit(&as->refused, memory_order_relaxed),
        .queue_full = atomic_load_explicit(&as->queue_full, memory_order_relaxed),
    };
    if (as->src && as->ops->redelivered)
        as->ops->redelivered(as->src, &out->resent, &out->given_up);
}

void ferry_agent_destroy(struct ferry_agent *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++) {
        /* the producer first: its purge may still report to the source */
        ferry_producer_destroy(a->v[i].prod);
        ferry_keyer_destroy(a->v[i].keyer);
        if (a->v[i].src)
            a->v[i].ops->close(a->v[i].src);
    }
    free(a->v);
    free(a);
}
