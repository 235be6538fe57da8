/* ferry: the etcd backend's session: one lease, kept alive by a thread of its own every
 * TTL/3, and the members registered under it.
 *
 * When the lease is known lost (a keepalive answers TTL 0, or none succeeded for longer than
 * the TTL), the thread clears the leadership at once, grants a new lease and puts every
 * registered member again. */
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etcd_internal.h"
#include "ferry/clock.h"
#include "ferry/err.h"
#include "ferry/log.h"

int ferry_etcd_grant(struct etcd *e, int64_t *lease, char *err, size_t errlen)
{
    json_t *r = NULL;
    int rc = ferry_etcd_call(e, "lease/grant", json_pack("{s:I}", "TTL", (json_int_t)e->ttl_s),
                             ferry_etcd_unary_timeout(e), &r, err, errlen);
    if (rc == 0 && (*lease = ferry_etcd_jint(r, "ID")) == 0)
        rc = ferry_seterr(err, errlen, FERRY_ERR_FATAL, "etcd: lease grant: no lease id");
    json_decref(r);
    return rc;
}

int ferry_etcd_revoke(struct etcd *e, int64_t lease, char *err, size_t errlen)
{
    json_t *r = NULL;
    int rc = ferry_etcd_call(e, "lease/revoke", json_pack("{s:I}", "ID", (json_int_t)lease),
                             ferry_etcd_unary_timeout(e), &r, err, errlen);
    json_decref(r);
    return rc;
}

/* The lease is gone: leadership ends at once; the keepalive thread grants a new one. */
static void lease_lost(struct etcd *e, const char *why)
{
    pthread_mutex_lock(&e->mu);
    atomic_store(&e->leading, false);
    ferry_warn("coord", "etcd: lease %" PRIx64 " lost (%s): leadership dropped, granting a new one",
               (uint64_t)e->lease, why);
    if (e->lease)
        e->stale = e->lease;
    e->lease = 0;
    e->epoch++;
    free(e->cand_key);
    e->cand_key = NULL;
    pthread_mutex_unlock(&e->mu);
}

/* Grants a new lease and puts every registered member again under it. */
static void session_rebuild(struct etcd *e)
{
    char err[512];
    int64_t lease;
    pthread_mutex_lock(&e->mu);
    int64_t stale = e->stale;
    pthread_mutex_unlock(&e->mu);
    if (stale) { /* etcd may still hold it (a partition, not an expiry): its candidate key
                    would hold up the election for a TTL, its members linger; best effort */
        int rc = ferry_etcd_revoke(e, stale, err, sizeof(err));
        pthread_mutex_lock(&e->mu);
        if (rc == 0 || strstr(err, "not found"))
            e->stale = 0;
        pthread_mutex_unlock(&e->mu);
    }
    if (ferry_etcd_grant(e, &lease, err, sizeof(err)) < 0) {
        ferry_warn("coord", "%s", err);
        return;
    }
    pthread_mutex_lock(&e->reg_mu);
    pthread_mutex_lock(&e->mu);
    e->lease = lease;
    e->epoch++;
    pthread_mutex_unlock(&e->mu);
    for (size_t i = 0; i < e->nmembers; i++) {
        char *fkey, *json = strdup(e->members[i].json);
        if (!json || asprintf(&fkey, "%s/members/%s", e->prefix, e->members[i].id) < 0) {
            free(json);
            continue;
        }
        if (ferry_etcd_put_full(e, fkey, json, strlen(json), lease, NULL, err, sizeof(err)) < 0)
            ferry_warn("coord", "etcd: register %s again: %s", e->members[i].id, err);
        free(fkey);
        free(json);
    }
    ferry_warn("coord", "etcd: new lease %" PRIx64 ", %zu member(s) registered again",
               (uint64_t)lease, e->nmembers);
    pthread_mutex_unlock(&e->reg_mu);
}

static int keepalive_once(struct etcd *e, int64_t lease, int64_t *ttl, long timeout_ms, char *err,
                          size_t errlen)
{
    json_t *r = NULL;
    int rc = ferry_etcd_call(e, "lease/keepalive", json_pack("{s:I}", "ID", (json_int_t)lease),
                             timeout_ms, &r, err, errlen);
    if (rc == 0)
        *ttl = ferry_etcd_jint(r, "TTL");
    json_decref(r);
    return rc;
}

/* Thread: the session's own; sleeps on e->cond between keepalives. */
void *ferry_etcd_keepalive_main(void *arg)
{
    struct etcd *e = arg;
    long interval = e->ttl_s * 1000 / 3;
    int64_t last_ok = ferry_mono_ms(); /* when the last successful keepalive was sent */
    bool failed = false;
    char err[512];

    pthread_mutex_lock(&e->mu);
    while (!e->stop) {
        /* a failed keepalive is tried again soon: the lease is lost at last_ok + TTL */
        long wait = !e->lease ? 500 : failed ? 250 : interval;
        struct timespec ts = ferry_mono_timespec(ferry_mono_ms() + wait);
        while (!e->stop && pthread_cond_timedwait(&e->cond, &e->mu, &ts) != ETIMEDOUT)
            ;
        if (e->stop)
            break;
        int64_t lease = e->lease, ttl = 0, sent = ferry_mono_ms();
        pthread_mutex_unlock(&e->mu);
        err[0] = '\0';
        failed = false;
        if (lease == 0) {
            session_rebuild(e);
            last_ok = ferry_mono_ms();
        } else if (keepalive_once(e, lease, &ttl, interval, err, sizeof(err)) == 0 && ttl > 0) {
            last_ok = sent;
        } else if (!err[0] || strstr(err, "lease not found")) {
            lease_lost(e, err[0] ? err : "the keepalive found no such lease");
        } else if (ferry_mono_ms() - last_ok > e->ttl_s * 1000) {
            lease_lost(e, "no keepalive succeeded within the ttl");
        } else {
            ferry_warn("coord", "etcd: keepalive: %s", err);
            failed = true;
        }
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* ---- membership --------------------------------------------------------------------- */

/* Remembers (or replaces) a member for the next session rebuild; -1 when out of memory, the
 * list as it was. Called with reg_mu held. */
static int remember_member(struct etcd *e, const char *id, const char *json)
{
    for (size_t i = 0; i < e->nmembers; i++) {
        if (!strcmp(e->members[i].id, id)) {
            char *j = strdup(json);
            if (!j)
                return -1;
            free(e->members[i].json);
            e->members[i].json = j;
            return 0;
        }
    }
    struct etcd_member *m = realloc(e->members, (e->nmembers + 1) * sizeof(*m));
    if (!m)
        return -1;
    e->members = m;
    m[e->nmembers].id = strdup(id);
    m[e->nmembers].json = strdup(json);
    if (!m[e->nmembers].id || !m[e->nmembers].json) {
        free(m[e->nmembers].id);
        free(m[e->nmembers].json);
        return -1;
    }
    e->nmembers++;
    return 0;
}

int ferry_etcd_register(void *self, const char *id, const char *json, char *err, size_t errlen)
{
    struct etcd *e = self;
    char *fkey;
    int rc = 0;
    if (asprintf(&fkey, "%s/members/%s", e->prefix, id) < 0)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    pthread_mutex_lock(&e->reg_mu);
    pthread_mutex_lock(&e->mu);
    int64_t lease = e->lease;
    pthread_mutex_unlock(&e->mu);
    if (remember_member(e, id, json) < 0)
        rc = ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    else if (lease) /* else the keepalive thread puts it with the next lease */
        rc = ferry_etcd_put_full(e, fkey, json, strlen(json), lease, NULL, err, errlen);
    pthread_mutex_unlock(&e->reg_mu);
    free(fkey);
    return rc;
}

int ferry_etcd_members(void *self, struct ferry_coord_member **out, size_t *n, char *err,
                       size_t errlen)
{
    struct etcd *e = self;
    json_t *r = NULL;
    char *fprefix;
    if (asprintf(&fprefix, "%s/members/", e->prefix) < 0)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    int rc = ferry_etcd_range_prefix(e, fprefix, NULL, &r, err, errlen);
    json_t *kvs = json_object_get(r, "kvs");
    size_t count = json_array_size(kvs), got = 0;
    struct ferry_coord_member *m = rc == 0 ? calloc(count + 1, sizeof(*m)) : NULL;
    if (rc == 0 && !m)
        rc = ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < count; i++, got++) {
        json_t *kv = json_array_get(kvs, i);
        char *k = NULL;
        const char *kb = json_string_value(json_object_get(kv, "key"));
        if (!kb || ferry_etcd_b64_decode(kb, &k, NULL) < 0 ||
            ferry_etcd_kv_value(kv, &m[i].value, NULL) < 0) {
            free(k);
            rc = ferry_seterr(err, errlen, FERRY_ERR_FATAL, "etcd: members: bad key or value");
            break;
        }
        m[i].id = strdup(k + strlen(fprefix));
        free(k);
        if (!m[i].id)
            rc = ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    }
    json_decref(r);
    free(fprefix);
    if (rc < 0) {
        if (m)
            ferry_coord_members_free(m, got + 1);
        return rc;
    }
    *out = m;
    *n = count;
    return 0;
}
