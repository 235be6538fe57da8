/* ferry: the etcd backend's leader election.
 *
 * The election needs no herd: each session's candidate is prefix/leader/<lease in hex>; the
 * one with the lowest create revision leads, and every other waits for the deletion of the
 * candidate just before its own. The candidate lives under the lease, so it goes with it. */
#define _GNU_SOURCE /* asprintf */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd_internal.h"
#include "ferry/clock.h"
#include "ferry/err.h"

/* The candidate of prefix/leader/ with the highest create revision at most max (0: the one
 * with the lowest of all): 0 with *kv (the caller's) or 1 when none. */
static int candidate(struct etcd *e, int64_t max, json_t **kv, char *err, size_t errlen)
{
    json_t *r = NULL, *extra;
    char *fprefix;
    if (asprintf(&fprefix, "%s/leader/", e->prefix) < 0)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    if (max)
        extra = json_pack("{s:I,s:s,s:s,s:i}", "max_create_revision", (json_int_t)max, "sort_order",
                          "DESCEND", "sort_target", "CREATE", "limit", 1);
    else
        extra =
            json_pack("{s:s,s:s,s:i}", "sort_order", "ASCEND", "sort_target", "CREATE", "limit", 1);
    int rc = ferry_etcd_range_prefix(e, fprefix, extra, &r, err, errlen);
    free(fprefix);
    if (rc < 0)
        return rc;
    json_t *first = json_array_get(json_object_get(r, "kvs"), 0);
    *kv = first ? json_incref(first) : NULL;
    json_decref(r);
    return first ? 0 : 1;
}

/* Creates (or updates) this session's candidate key: its create revision in *rev. */
static int stand(struct etcd *e, const char *fkey, const char *value, int64_t lease, int64_t *rev,
                 char *err, size_t errlen)
{
    json_t *r = NULL;
    json_t *body = json_pack(
        "{s:[{s:o,s:s,s:s,s:i}],s:[{s:{s:o,s:o,s:I}}],s:[{s:{s:o}}]}", "compare", "key",
        ferry_etcd_jkey(fkey), "target", "CREATE", "result", "EQUAL", "create_revision", 0,
        "success", "request_put", "key", ferry_etcd_jkey(fkey), "value", ferry_etcd_jkey(value),
        "lease", (json_int_t)lease, "failure", "request_range", "key", ferry_etcd_jkey(fkey));
    int rc = ferry_etcd_call(e, "kv/txn", body, ferry_etcd_unary_timeout(e), &r, err, errlen);
    if (rc < 0)
        return rc;
    if (json_is_true(json_object_get(r, "succeeded"))) {
        *rev = ferry_etcd_jint(json_object_get(r, "header"), "revision");
    } else {
        json_t *res =
            json_object_get(json_array_get(json_object_get(r, "responses"), 0), "response_range");
        *rev = ferry_etcd_jint(json_array_get(json_object_get(res, "kvs"), 0), "create_revision");
        /* ours already (an earlier campaign of this session): keep its place, new value */
        rc = ferry_etcd_put_full(e, fkey, value, strlen(value), lease, NULL, err, errlen);
    }
    json_decref(r);
    return rc;
}

/* Waits (at most a TTL) for pred, the candidate just before ours, to go or change: 0 then, on
 * timeout and on cancel (the caller checks the lease and the cancel flag, then looks again),
 * or an error. */
static int await_predecessor(struct etcd *e, const json_t *pred, volatile sig_atomic_t *cancel,
                             char *err, size_t errlen)
{
    char *pk = NULL, *pv = NULL;
    int64_t nv;
    int rc;
    const char *kb = json_string_value(json_object_get(pred, "key"));
    if (!kb || ferry_etcd_b64_decode(kb, &pk, NULL) < 0)
        rc = ferry_seterr(err, errlen, FERRY_ERR_FATAL, "etcd: campaign: bad key");
    else
        rc = ferry_etcd_watch_full(e, pk, ferry_etcd_jint(pred, "mod_revision"),
                                   ferry_mono_ms() + e->ttl_s * 1000, cancel, &pv, NULL, &nv, err,
                                   errlen);
    free(pk);
    free(pv);
    return rc == 1 ? 0 : rc;
}

int ferry_etcd_campaign(void *self, const char *value, int64_t *fence,
                        volatile sig_atomic_t *cancel, char *err, size_t errlen)
{
    struct etcd *e = self;
    char *key = NULL, *fkey; /* fkey: the key while this call owns it, NULL once handed over */
    int64_t own = 0;

    pthread_mutex_lock(&e->mu);
    int64_t lease = e->lease;
    uint64_t epoch = e->epoch;
    pthread_mutex_unlock(&e->mu);
    if (!lease)
        return ferry_seterr(err, errlen, FERRY_ERR_RETRY, "etcd: campaign: the lease is lost");
    if (asprintf(&key, "%s/leader/%" PRIx64, e->prefix, (uint64_t)lease) < 0)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    int rc = stand(e, key, value, lease, &own, err, errlen);
    fkey = key;
    for (; rc == 0;) {
        json_t *pred = NULL;
        pthread_mutex_lock(&e->mu);
        bool same = e->epoch == epoch, withdrawn = !fkey && !e->cand_key;
        if (same && !e->cand_key && fkey) {
            e->cand_key = fkey;
            fkey = NULL;
        }
        pthread_mutex_unlock(&e->mu);
        if (!same) {
            rc = ferry_seterr(err, errlen, FERRY_ERR_RETRY, "etcd: campaign: the lease was lost");
            break;
        }
        if ((cancel && *cancel) || withdrawn) { /* withdrawn: resigned from another thread */
            rc = 1;
            break;
        }
        if ((rc = candidate(e, own - 1, &pred, err, errlen)) == 1) {
            pthread_mutex_lock(&e->mu);
            if (e->epoch == epoch && e->cand_key) {
                atomic_store(&e->leading, true);
                *fence = own;
                rc = 0;
            }
            pthread_mutex_unlock(&e->mu);
            if (rc == 1) { /* lost meanwhile: said on the next turn */
                rc = 0;
                continue;
            }
            break;
        }
        if (rc < 0)
            break;
        /* wait for the candidate just before ours to go (or change), then look again */
        rc = await_predecessor(e, pred, cancel, err, errlen);
        json_decref(pred);
    }
    if (rc != 0) {
        char e2[256];
        ferry_etcd_resign(e, e2, sizeof(e2)); /* withdraw */
    }
    free(fkey);
    return rc;
}

bool ferry_etcd_leading(void *self)
{
    struct etcd *e = self;
    return atomic_load(&e->leading);
}

int ferry_etcd_resign(void *self, char *err, size_t errlen)
{
    struct etcd *e = self;
    pthread_mutex_lock(&e->mu);
    char *fkey = e->cand_key;
    e->cand_key = NULL;
    atomic_store(&e->leading, false);
    pthread_mutex_unlock(&e->mu);
    int rc = fkey ? ferry_etcd_del_full(e, fkey, err, errlen) : 0;
    free(fkey);
    return rc < 0 ? rc : 0;
}

int ferry_etcd_leader(void *self, char **value, int64_t *fence, char *err, size_t errlen)
{
    struct etcd *e = self;
    json_t *kv = NULL;
    int rc = candidate(e, 0, &kv, err, errlen);
    if (rc == 0) {
        if (ferry_etcd_kv_value(kv, value, NULL) < 0)
            rc = ferry_seterr(err, errlen, FERRY_ERR_FATAL, "etcd: leader: bad value");
        *fence = ferry_etcd_jint(kv, "create_revision");
    }
    json_decref(kv);
    return rc;
}
