/* ferry: the ZooKeeper backend's leader election: EPHEMERAL_SEQUENTIAL candidates
 * prefix/leader/n_<guid>_<seq>. The lowest sequence number leads; every other candidate
 * watches the one just before its own. The guid names this process's candidates, so that a
 * create whose answer a disconnection lost is found again rather than repeated. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/err.h"
#include "zookeeper_internal.h"

struct zk_candidate {
    int64_t seq;
    const char *name; /* borrowed from the children vector */
};

static int candidate_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct zk_candidate *)a)->seq, y = ((const struct zk_candidate *)b)->seq;
    return x < y ? -1 : x > y;
}

/* The candidates among kids, sorted by sequence number; the count in *n. */
static struct zk_candidate *sort_candidates(const struct String_vector *kids, size_t *n)
{
    struct zk_candidate *c = malloc(((size_t)kids->count + 1) * sizeof(*c));
    *n = 0;
    for (int32_t i = 0; c && i < kids->count; i++) {
        const char *s = kids->data[i];
        size_t l = strlen(s);
        if (strncmp(s, "n_", 2) || l < 2 + ZK_SEQ_DIGITS)
            continue;
        char *end;
        long long seq = strtoll(s + l - ZK_SEQ_DIGITS, &end, 10);
        if (*end)
            continue;
        c[*n].seq = seq;
        c[(*n)++].name = s;
    }
    if (c && *n > 1)
        qsort(c, *n, sizeof(*c), candidate_cmp);
    return c;
}

/* Records c[own] as this session's candidate, then leads (ZOK, *fence set) when it is the
 * first and the session is connected, or watches the candidate just before it (1; ZNONODE
 * when that one is gone already). hlock held shared. */
static int take_place(struct zk *z, zhandle_t *zh, const char *dir, const struct zk_candidate *c,
                      size_t own, int64_t *fence)
{
    struct Stat st;
    char *path = ferry_zk_path_join(dir, c[own].name);
    char *prev = own ? ferry_zk_path_join(dir, c[own - 1].name) : NULL;
    int64_t seq = c[own].seq;
    if (!path || (own && !prev)) {
        free(path), free(prev);
        return ZSYSTEMERROR;
    }
    pthread_mutex_lock(&z->mu);
    if (!z->candidate || strcmp(z->candidate, path)) {
        free(z->candidate);
        z->candidate = path, path = NULL;
    }
    if (!own && z->state != ZOO_CONNECTED_STATE) {
        own = SIZE_MAX; /* the session is failing: decide once it is back */
    } else if (!own) {
        z->leading = true;
        z->candidate_seq = seq;
        *fence = seq;
    }
    pthread_mutex_unlock(&z->mu);
    free(path);
    if (own == SIZE_MAX) {
        free(prev);
        return 1;
    }
    if (!own)
        return ZOK;
    int rc = zoo_wexists(zh, prev, ferry_zk_node_watcher, z, &st);
    free(prev);
    return rc == ZOK ? 1 : rc;
}

/* One step of the campaign, hlock held shared: makes sure this session has a candidate (found
 * among the children by guid first, so a create lost to a disconnection is not repeated),
 * then leads (returns 0) or watches the candidate just before its own (returns 1). */
static int campaign_step(struct zk *z, zhandle_t *zh, const char *dir, const char *value,
                         int64_t *fence)
{
    char mine[48];
    snprintf(mine, sizeof(mine), "n_%s_", z->guid);
    for (int round = 0; round < 3; round++) {
        struct String_vector kids = {0};
        size_t n = 0, own = 0;
        struct Stat st;
        int rc = zoo_get_children(zh, dir, 0, &kids);
        if (rc == ZNONODE) {
            rc = ferry_zk_make_parents(z, zh, dir);
            if (rc == ZOK)
                rc = zoo_create(zh, dir, "", 0, ferry_zk_acl(z), ZOO_PERSISTENT, NULL, 0);
            if (rc == ZOK || rc == ZNODEEXISTS)
                continue;
        }
        if (rc != ZOK)
            return rc;
        struct zk_candidate *c = sort_candidates(&kids, &n);
        if (!c) {
            deallocate_String_vector(&kids);
            return ZSYSTEMERROR;
        }
        while (own < n && strncmp(c[own].name, mine, strlen(mine)))
            own++;
        if (own == n) {
            free(c);
            deallocate_String_vector(&kids);
            char *base = ferry_zk_path_join(dir, mine);
            rc = base ? ferry_zk_create_node(z, zh, base, value, strlen(value),
                                             ZOO_EPHEMERAL_SEQUENTIAL, NULL, 0, &st)
                      : ZSYSTEMERROR;
            free(base);
            if (rc != ZOK)
                return rc;
            continue; /* list again: our node's name comes with the children */
        }
        rc = take_place(z, zh, dir, c, own, fence);
        free(c);
        deallocate_String_vector(&kids);
        if (rc != ZNONODE) /* ZNONODE: the one before ours is gone already: look again */
            return rc;
    }
    return 1;
}

static int withdraw(struct zk *z, char *err, size_t errlen)
{
    pthread_mutex_lock(&z->mu);
    z->leading = false;
    char *path = z->candidate;
    z->candidate = NULL;
    unsigned gen = z->gen;
    pthread_mutex_unlock(&z->mu);
    if (!path)
        return 0;
    zhandle_t *zh = ferry_zk_acquire(z);
    int zrc = zh ? zoo_delete(zh, path, -1) : ZINVALIDSTATE;
    if (zh)
        ferry_zk_release(z);
    if (zrc == ZOK || zrc == ZNONODE) {
        free(path);
        return 0;
    }
    int rc = ferry_zk_fail(z, zrc, path, err, errlen);
    pthread_mutex_lock(&z->mu);
    if (!z->candidate && z->gen == gen) /* the session thread deletes it later */
        z->candidate = path, path = NULL;
    pthread_mutex_unlock(&z->mu);
    free(path);
    return rc;
}

int ferry_zk_campaign(void *self, const char *value, int64_t *fence, volatile sig_atomic_t *cancel,
                      char *err, size_t errlen)
{
    struct zk *z = self;
    char *dir = ferry_zk_path_join(z->prefix, "leader");
    if (!dir)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    pthread_mutex_lock(&z->mu);
    bool busy = z->campaigning, leading = z->leading;
    z->campaigning = !busy && !leading;
    *fence = leading ? z->candidate_seq : 0;
    pthread_mutex_unlock(&z->mu);
    if (busy || leading) {
        int rc = busy ? ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                                     "zookeeper: %s: a campaign is already running", dir)
                      : 0;
        free(dir);
        return rc;
    }
    int rc = 1;
    while (!ferry_zk_cancelled(cancel)) {
        uint64_t seen = ferry_zk_events_now(z);
        zhandle_t *zh = ferry_zk_acquire(z);
        int zrc = zh ? campaign_step(z, zh, dir, value ? value : "", fence) : ZINVALIDSTATE;
        if (zh)
            ferry_zk_release(z);
        if (zrc == ZOK) {
            rc = 0;
            break;
        }
        if (zrc != 1 && !ferry_zk_transient(zrc)) {
            rc = ferry_zk_fail(z, zrc, dir, err, errlen);
            break;
        }
        ferry_zk_wait_event(z, seen, 0); /* a transient error is waited out, watching *cancel */
    }
    pthread_mutex_lock(&z->mu);
    z->campaigning = false;
    pthread_mutex_unlock(&z->mu);
    if (rc != 0)
        withdraw(z, NULL, 0);
    free(dir);
    return rc;
}

bool ferry_zk_leading(void *self)
{
    struct zk *z = self;
    pthread_mutex_lock(&z->mu);
    bool leading = z->leading && !ferry_zk_lost_too_long(z);
    pthread_mutex_unlock(&z->mu);
    return leading;
}

int ferry_zk_resign(void *self, char *err, size_t errlen)
{
    struct zk *z = self;
    pthread_mutex_lock(&z->mu);
    bool campaigning = z->campaigning;
    pthread_mutex_unlock(&z->mu);
    if (campaigning) /* the campaign owns the candidate; only leadership is given up */
        return 0;
    return withdraw(z, err, errlen);
}

/* The lowest candidate's data and sequence number, hlock held shared: ZOK, or ZNONODE when
 * there is no candidate. */
static int read_leader(zhandle_t *zh, const char *dir, char **value, int64_t *fence)
{
    for (int tries = 0; tries < 5; tries++) {
        struct String_vector kids = {0};
        size_t n = 0, len;
        struct Stat st;
        int rc = zoo_get_children(zh, dir, 0, &kids);
        if (rc != ZOK)
            return rc;
        struct zk_candidate *c = sort_candidates(&kids, &n);
        char *path = c && n ? ferry_zk_path_join(dir, c[0].name) : NULL;
        if (!c || (n && !path))
            rc = ZSYSTEMERROR;
        else if (!n)
            rc = ZNONODE;
        else if ((rc = ferry_zk_read_node(zh, path, value, &len, &st)) == ZOK)
            *fence = c[0].seq;
        else if (rc == ZNONODE)
            rc = ZNOTHING; /* resigned meanwhile: look again */
        free(path);
        free(c);
        deallocate_String_vector(&kids);
        if (rc != ZNOTHING)
            return rc;
    }
    return ZOPERATIONTIMEOUT;
}

int ferry_zk_leader(void *self, char **value, int64_t *fence, char *err, size_t errlen)
{
    struct zk *z = self;
    char *dir = ferry_zk_path_join(z->prefix, "leader");
    if (!dir)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    zhandle_t *zh = ferry_zk_acquire(z);
    int zrc = zh ? read_leader(zh, dir, value, fence) : ZINVALIDSTATE;
    if (zh)
        ferry_zk_release(z);
    int rc = zrc == ZOK ? 0 : zrc == ZNONODE ? 1 : ferry_zk_fail(z, zrc, dir, err, errlen);
    free(dir);
    return rc;
}
