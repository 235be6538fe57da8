/* ferry: the ZooKeeper backend's connection and session.
 *
 * Threads: the client's completion thread runs both watchers; they only update counters and
 * signal `cond`. A session thread of our own logs state changes, rebuilds an expired session
 * (re-registering members) and deletes candidates nobody campaigns with any more. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/clock.h"
#include "ferry/err.h"
#include "ferry/log.h"
#include "zookeeper_internal.h"

int ferry_zk_fail(struct zk *z, int rc, const char *what, char *err, size_t errlen)
{
    if (rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT)
        return ferry_seterr(err, errlen, FERRY_ERR_RETRY, "zookeeper: %s: connection loss",
                            z->hosts);
    if (rc == ZSESSIONEXPIRED || rc == ZINVALIDSTATE || rc == ZCLOSING || rc == ZSESSIONMOVED)
        return ferry_seterr(err, errlen, FERRY_ERR_RETRY, "zookeeper: %s: session lost", z->hosts);
    if (rc == ZSYSTEMERROR || rc == ZMARSHALLINGERROR)
        return ferry_seterr(err, errlen, FERRY_ERR_IO, "zookeeper: %s: %s", what, zerror(rc));
    int code = rc == ZNOAUTH || rc == ZAUTHFAILED || rc == ZINVALIDACL || rc == ZBADARGUMENTS
                   ? FERRY_ERR_INVALID
                   : FERRY_ERR_FATAL;
    return ferry_seterr(err, errlen, code, "zookeeper: %s: %s", what, zerror(rc));
}

bool ferry_zk_transient(int rc)
{
    return rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT || rc == ZSESSIONEXPIRED ||
           rc == ZINVALIDSTATE || rc == ZCLOSING || rc == ZSESSIONMOVED;
}

zhandle_t *ferry_zk_acquire(struct zk *z)
{
    pthread_rwlock_rdlock(&z->hlock);
    if (!z->zh)
        pthread_rwlock_unlock(&z->hlock);
    return z->zh;
}

void ferry_zk_release(struct zk *z)
{
    pthread_rwlock_unlock(&z->hlock);
}

bool ferry_zk_lost_too_long(struct zk *z)
{
    return z->disconnected_at && ferry_mono_ms() - z->disconnected_at > z->session_ms;
}

void ferry_zk_wait_event(struct zk *z, uint64_t seen, int64_t deadline)
{
    int64_t until = ferry_mono_ms() + ZK_WAIT_SLICE_MS;
    if (deadline && deadline < until)
        until = deadline;
    struct timespec ts = ferry_mono_timespec(until);
    pthread_mutex_lock(&z->mu);
    while (z->events == seen && !z->closing)
        if (pthread_cond_timedwait(&z->cond, &z->mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&z->mu);
}

uint64_t ferry_zk_events_now(struct zk *z)
{
    pthread_mutex_lock(&z->mu);
    uint64_t e = z->events;
    pthread_mutex_unlock(&z->mu);
    return e;
}

/* ---- watchers (client completion thread: never block) ------------------------------------ */

void ferry_zk_node_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    struct zk *z = ctx;
    (void)zh, (void)type, (void)state, (void)path;
    pthread_mutex_lock(&z->mu);
    z->events++;
    pthread_cond_broadcast(&z->cond);
    pthread_mutex_unlock(&z->mu);
}

static void session_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    struct zk_handle_ctx *h = ctx;
    struct zk *z = h->z;
    (void)zh, (void)path;
    if (type != ZOO_SESSION_EVENT)
        return;
    pthread_mutex_lock(&z->mu);
    if (h->gen == z->gen) {
        z->state = state;
        if (state == ZOO_CONNECTED_STATE && ferry_zk_lost_too_long(z))
            z->leading = false; /* back in time, but leadership past the timeout is gone */
        if (state == ZOO_CONNECTED_STATE)
            z->disconnected_at = 0;
        else if (!z->disconnected_at)
            z->disconnected_at = ferry_mono_ms();
        if (state == ZOO_EXPIRED_SESSION_STATE || state == ZOO_AUTH_FAILED_STATE) {
            z->leading = false;
            z->rebuild = true;
        }
        z->events++;
        pthread_cond_broadcast(&z->cond);
    }
    pthread_mutex_unlock(&z->mu);
}

static void auth_done(int rc, const void *data)
{
    (void)rc, (void)data; /* a failure arrives as ZOO_AUTH_FAILED_STATE */
}

/* ---- sessions ---------------------------------------------------------------------------- */

/* The client's own messages (while a server is down it writes several a second) go to ferry's
 * debug log: what matters reaches ferry's log as state changes and errors of calls. */
static void client_log(const char *message)
{
    ferry_debug("zookeeper", "%s", message);
}

int ferry_zk_start_handle(struct zk *z, char *err, size_t errlen)
{
    struct zk_handle_ctx *h = malloc(sizeof(*h));
    if (!h)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    pthread_mutex_lock(&z->mu);
    h->z = z;
    h->gen = ++z->gen;
    z->state = z->logged_state = ZOO_CONNECTING_STATE; /* not worth a log line */
    if (!z->disconnected_at)
        z->disconnected_at = ferry_mono_ms();
    pthread_mutex_unlock(&z->mu);
    zhandle_t *zh =
        zookeeper_init2(z->hosts, session_watcher, (int)z->ttl_ms, NULL, h, 0, client_log);
    if (!zh) {
        int e = errno;
        free(h);
        return ferry_seterr(err, errlen, e == EINVAL ? FERRY_ERR_INVALID : FERRY_ERR_RETRY,
                            "zookeeper: %s: %s", z->hosts, strerror(e));
    }
    if (z->auth)
        zoo_add_auth(zh, "digest", z->auth, (int)strlen(z->auth), auth_done, NULL);
    pthread_rwlock_wrlock(&z->hlock);
    pthread_mutex_lock(&z->mu);
    z->zh = zh;
    z->hctx = h;
    pthread_mutex_unlock(&z->mu);
    pthread_rwlock_unlock(&z->hlock);
    return 0;
}

void ferry_zk_stop_handle(struct zk *z)
{
    pthread_rwlock_wrlock(&z->hlock);
    pthread_mutex_lock(&z->mu);
    zhandle_t *zh = z->zh;
    struct zk_handle_ctx *h = z->hctx;
    z->zh = NULL;
    z->hctx = NULL;
    z->gen++; /* events of the old handle are ignored from now on */
    pthread_mutex_unlock(&z->mu);
    pthread_rwlock_unlock(&z->hlock);
    if (zh)
        zookeeper_close(zh); /* joins the client's threads: no callback runs after this */
    free(h);
}

/* Replaces an expired session. Leadership is lost; members are registered again by tidy(). */
static void rebuild(struct zk *z)
{
    char err[256];
    pthread_mutex_lock(&z->mu);
    struct timespec ts = ferry_mono_timespec(z->last_rebuild + ZK_REBUILD_GAP_MS);
    while (!z->closing && ferry_mono_ms() < z->last_rebuild + ZK_REBUILD_GAP_MS)
        pthread_cond_timedwait(&z->cond, &z->mu, &ts);
    z->last_rebuild = ferry_mono_ms();
    z->rebuild = false;
    z->leading = false;
    bool closing = z->closing;
    pthread_mutex_unlock(&z->mu);
    if (closing)
        return;
    ferry_zk_stop_handle(z);
    /* only now: no call on the old handle can still set them */
    pthread_mutex_lock(&z->mu);
    z->leading = false;
    free(z->candidate);
    z->candidate = NULL;
    z->members_dirty = true;
    pthread_mutex_unlock(&z->mu);
    if (ferry_zk_start_handle(z, err, sizeof(err)) < 0) {
        ferry_warn("coord", "%s", err);
        pthread_mutex_lock(&z->mu);
        z->rebuild = true;
        pthread_mutex_unlock(&z->mu);
    }
}

static void log_state(struct zk *z, int state, bool first)
{
    if (state == ZOO_CONNECTED_STATE) {
        zhandle_t *zh = ferry_zk_acquire(z);
        if (zh) {
            long ms = zoo_recv_timeout(zh);
            long long id = (long long)zoo_client_id(zh)->client_id;
            ferry_zk_release(z);
            pthread_mutex_lock(&z->mu);
            z->session_ms = ms > 0 ? ms : z->ttl_ms;
            pthread_mutex_unlock(&z->mu);
            ferry_log(first ? FERRY_LOG_INFO : FERRY_LOG_WARN, "coord",
                      "zookeeper: %s: connected, session 0x%llx, timeout %ld ms", z->hosts, id, ms);
        }
    } else if (state == ZOO_CONNECTING_STATE) {
        ferry_warn("coord", "zookeeper: %s: connection lost, reconnecting", z->hosts);
    } else if (state == ZOO_EXPIRED_SESSION_STATE) {
        ferry_warn("coord", "zookeeper: %s: session expired, opening a new one", z->hosts);
    } else if (state == ZOO_AUTH_FAILED_STATE) {
        ferry_warn("coord", "zookeeper: %s: authentication failed, opening a new session",
                   z->hosts);
    }
}

/* Registers the members again after a rebuild, and deletes a candidate nobody campaigns
 * with (cancelled, failed, or past its session timeout) so that it does not block others. */
static void tidy(struct zk *z)
{
    pthread_mutex_lock(&z->mu);
    char *stale = NULL;
    unsigned gen = z->gen;
    if (z->candidate && !z->leading && !z->campaigning) {
        stale = z->candidate;
        z->candidate = NULL;
    }
    bool dirty = z->members_dirty;
    z->members_dirty = false;
    size_t n = dirty ? z->nmembers : 0;
    char **paths = calloc(n ? n : 1, sizeof(*paths)), **jsons = calloc(n ? n : 1, sizeof(*jsons));
    bool ok = paths && jsons;
    for (size_t i = 0; ok && i < n; i++) {
        paths[i] = ferry_zk_member_path(z, z->members[i].id);
        jsons[i] = strdup(z->members[i].json);
        ok = paths[i] && jsons[i];
    }
    pthread_mutex_unlock(&z->mu);

    int failed = !ok;
    zhandle_t *zh = ferry_zk_acquire(z);
    if (zh) {
        if (stale) {
            int rc = zoo_delete(zh, stale, -1);
            if (rc != ZOK && rc != ZNONODE)
                failed = 1;
            else
                free(stale), stale = NULL;
        }
        for (size_t i = 0; ok && i < n; i++) {
            int rc = ferry_zk_create_member(z, zh, paths[i], jsons[i]);
            if (rc != ZOK) {
                ferry_warn("coord", "zookeeper: %s: register again: %s", paths[i], zerror(rc));
                failed = 1;
            }
        }
        ferry_zk_release(z);
    } else {
        failed = 1;
    }
    pthread_mutex_lock(&z->mu);
    if (stale && !z->candidate && z->gen == gen)
        z->candidate = stale, stale = NULL;
    if (failed && dirty)
        z->members_dirty = true;
    pthread_mutex_unlock(&z->mu);
    free(stale);
    for (size_t i = 0; i < n && paths && jsons; i++)
        free(paths[i]), free(jsons[i]);
    free(paths);
    free(jsons);
}

void *ferry_zk_session_main(void *arg)
{
    struct zk *z = arg;
    pthread_mutex_lock(&z->mu);
    while (!z->closing) {
        if (z->state != z->logged_state) {
            bool first = z->logged_state == -1;
            int state = z->logged_state = z->state;
            pthread_mutex_unlock(&z->mu);
            log_state(z, state, first);
        } else if (z->rebuild) {
            pthread_mutex_unlock(&z->mu);
            rebuild(z);
        } else if (z->leading && ferry_zk_lost_too_long(z)) {
            z->leading = false;
            pthread_mutex_unlock(&z->mu);
            ferry_warn("coord",
                       "zookeeper: %s: disconnected past the session timeout, "
                       "leadership lost",
                       z->hosts);
        } else {
            bool work = z->state == ZOO_CONNECTED_STATE &&
                        (z->members_dirty || (z->candidate && !z->leading && !z->campaigning));
            if (!work) {
                struct timespec ts = ferry_mono_timespec(ferry_mono_ms() + ZK_WAIT_SLICE_MS);
                pthread_cond_timedwait(&z->cond, &z->mu, &ts);
                continue;
            }
            pthread_mutex_unlock(&z->mu);
            tidy(z);
            struct timespec ts = ferry_mono_timespec(ferry_mono_ms() + ZK_WAIT_SLICE_MS);
            pthread_mutex_lock(&z->mu);
            pthread_cond_timedwait(&z->cond, &z->mu, &ts); /* no busy loop when tidy fails */
            continue;
        }
        pthread_mutex_lock(&z->mu);
    }
    pthread_mutex_unlock(&z->mu);
    return NULL;
}
