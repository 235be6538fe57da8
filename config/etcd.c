/* ferry: the etcd coordination backend, through etcd's JSON gateway (/v3/…) with libcurl:
 * open, close and the ops table. The pieces (see etcd_internal.h): etcd_http.c talks to the
 * gateway, etcd_kv.c keeps keys and watches them, etcd_session.c keeps the lease alive and
 * the members registered under it, etcd_election.c runs the leader election.
 *
 * Threads: every call builds its own curl easy handle, so any thread may call any function;
 * the keepalive thread, started by open and joined by close, is the only one of our own. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etcd_internal.h"
#include "ferry/clock.h"
#include "ferry/err.h"
#include "ferry/log.h"

static void etcd_free(struct etcd *e)
{
    for (size_t i = 0; i < e->nendpoints; i++)
        free(e->endpoints[i]);
    free(e->endpoints);
    for (size_t i = 0; i < e->nmembers; i++) {
        free(e->members[i].id);
        free(e->members[i].json);
    }
    free(e->members);
    free(e->prefix);
    free(e->user);
    free(e->password);
    free(e->ca_file);
    free(e->cert_file);
    free(e->key_file);
    free(e->token);
    free(e->cand_key);
    pthread_cond_destroy(&e->cond);
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->reg_mu);
    free(e);
}

static char *dup_opt(const char *s, bool *ok)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *ok = false;
    return d;
}

static int etcd_open(const struct ferry_coord_options *o, void **self, char *err, size_t errlen)
{
    struct etcd *e = calloc(1, sizeof(*e));
    bool ok = true;
    int rc;

    ferry_etcd_http_init();
    if (!e)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->reg_mu, NULL);
    ferry_mono_cond_init(&e->cond);
    if (o->nendpoints == 0 || !o->prefix) {
        etcd_free(e);
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "etcd: no endpoint or no prefix");
    }
    e->endpoints = calloc(o->nendpoints, sizeof(char *));
    ok = e->endpoints != NULL;
    for (size_t i = 0; ok && i < o->nendpoints; i++, e->nendpoints++)
        e->endpoints[i] = dup_opt(o->endpoints[i], &ok);
    e->prefix = dup_opt(o->prefix, &ok);
    e->user = dup_opt(o->user, &ok);
    e->password = dup_opt(o->password, &ok);
    e->ca_file = dup_opt(o->ca_file, &ok);
    e->cert_file = dup_opt(o->cert_file, &ok);
    e->key_file = dup_opt(o->key_file, &ok);
    if (!ok) {
        etcd_free(e);
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    }
    e->scheme = o->ca_file || o->cert_file || o->key_file ? "https" : "http";
    e->ttl_s = (o->ttl_ms + 999) / 1000;
    if (e->ttl_s < 2)
        e->ttl_s = 2;
    if ((e->user && (rc = ferry_etcd_authenticate(e, err, errlen)) < 0) ||
        (rc = ferry_etcd_grant(e, &e->lease, err, errlen)) < 0) {
        etcd_free(e);
        return rc;
    }
    if (pthread_create(&e->keepalive, NULL, ferry_etcd_keepalive_main, e) != 0) {
        etcd_free(e);
        return ferry_seterr(err, errlen, FERRY_ERR_FATAL, "etcd: cannot start a thread");
    }
    e->thread_started = true;
    *self = e;
    return 0;
}

static void etcd_close(void *self)
{
    struct etcd *e = self;
    char err[512];
    if (!e)
        return;
    ferry_etcd_resign(e, err, sizeof(err));
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->mu);
    if (e->thread_started)
        pthread_join(e->keepalive, NULL);
    if (e->lease && ferry_etcd_revoke(e, e->lease, err, sizeof(err)) < 0)
        ferry_warn("coord", "etcd: revoke the lease: %s", err);
    etcd_free(e);
}

const struct ferry_coord_ops ferry_coord_etcd_ops = {
    .name = "etcd",
    .open = etcd_open,
    .close = etcd_close,
    .get = ferry_etcd_get,
    .put = ferry_etcd_put,
    .del = ferry_etcd_del,
    .watch = ferry_etcd_watch,
    .register_member = ferry_etcd_register,
    .members = ferry_etcd_members,
    .campaign = ferry_etcd_campaign,
    .leading = ferry_etcd_leading,
    .resign = ferry_etcd_resign,
    .leader = ferry_etcd_leader,
};
