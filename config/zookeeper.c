/* ferry: the ZooKeeper coordination backend (multi-threaded C client, ZooKeeper 3.5+).
 *
 * Layout below the prefix: persistent nodes for keys, EPHEMERAL nodes members/<id>, and
 * EPHEMERAL_SEQUENTIAL candidates leader/n_<guid>_<seq>. A key's version is its mzxid, which
 * grows on every change, even across a delete and re-create.
 *
 * Threads: the client's completion thread runs both watchers; they only update counters and
 * signal `cond`. A session thread of our own logs state changes, rebuilds an expired session
 * (re-registering members) and deletes candidates nobody campaigns with any more. */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zookeeper/zookeeper.h>

#include "ferry/coord.h"
#include "ferry/err.h"
#include "ferry/log.h"

#define WAIT_SLICE_MS  200 /* the longest a wait goes without looking at *cancel */
#define REBUILD_GAP_MS 1000
#define SEQ_DIGITS     10

struct zk;

/* The global watcher's context: which handle an event belongs to. */
struct zk_handle_ctx {
    struct zk *z;
    unsigned gen;
};

struct zk_member {
    char *id;
    char *json;
};

struct zk {
    char *hosts;  /* "h1:p1,h2:p2" */
    char *prefix; /* "/ferry/prod" */
    char *auth;   /* "user:password", or NULL */
    long ttl_ms;
    char guid[33]; /* names this process's election candidates */

    /* Held shared around every call on zh, exclusively (by the session thread) to swap it. */
    pthread_rwlock_t hlock;
    zhandle_t *zh; /* NULL while a session is being rebuilt; written under hlock and mu */
    struct zk_handle_ctx *hctx;

    pthread_mutex_t mu;  /* guards everything below */
    pthread_cond_t cond; /* CLOCK_MONOTONIC; broadcast on every event and state change */
    unsigned gen;        /* of the current handle */
    int state, logged_state;
    int64_t disconnected_at; /* monotonic ms when the connection was lost; 0 while connected */
    long session_ms;         /* negotiated session timeout */
    uint64_t events;         /* bumped by every watch event and session event */
    int64_t last_rebuild;
    bool rebuild, closing, leading, campaigning, members_dirty;
    char *candidate; /* full path of this session's candidate, or NULL */
    int64_t candidate_seq;
    struct zk_member *members;
    size_t nmembers;
    pthread_t thread;
    bool thread_started;
};

/* ---- helpers --------------------------------------------------------------------------- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timespec deadline_ts(int64_t at_ms)
{
    struct timespec ts = {.tv_sec = at_ms / 1000, .tv_nsec = (at_ms % 1000) * 1000000};
    return ts;
}

static bool cancelled(volatile sig_atomic_t *cancel)
{
    return cancel && *cancel;
}

static char *path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (p) {
        memcpy(p, a, la);
        p[la] = '/';
        memcpy(p + la + 1, b, lb + 1);
    }
    return p;
}

/* The full path of a relative key; NULL with err filled when the key is bad or memory short. */
static char *key_path(struct zk *z, const char *key, int *rc, char *err, size_t errlen)
{
    if (!key || !*key || key[0] == '/' || key[strlen(key) - 1] == '/' || strstr(key, "//")) {
        *rc =
            ferry_seterr(err, errlen, FERRY_ERR_INVALID, "zookeeper: bad key '%s'", key ? key : "");
        return NULL;
    }
    char *p = path_join(z->prefix, key);
    if (!p)
        *rc = ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    return p;
}

static int zk_fail(struct zk *z, int rc, const char *what, char *err, size_t errlen)
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

static bool transient(int rc)
{
    return rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT || rc == ZSESSIONEXPIRED ||
           rc == ZINVALIDSTATE || rc == ZCLOSING || rc == ZSESSIONMOVED;
}

/* The current handle with hlock held shared, or NULL (nothing held) while rebuilding. */
static zhandle_t *zk_acquire(struct zk *z)
{
    pthread_rwlock_rdlock(&z->hlock);
    if (!z->zh)
        pthread_rwlock_unlock(&z->hlock);
    return z->zh;
}

static void zk_release(struct zk *z)
{
    pthread_rwlock_unlock(&z->hlock);
}

static struct ACL_vector *zk_acl(struct zk *z)
{
    return z->auth ? &ZOO_CREATOR_ALL_ACL : &ZOO_OPEN_ACL_UNSAFE;
}

/* True when the connection has been down so long that the server has expired the session.
 * Called with mu held. */
static bool lost_too_long(struct zk *z)
{
    return z->disconnected_at && now_ms() - z->disconnected_at > z->session_ms;
}

/* Waits (mu not held) until an event newer than `seen` arrives, for at most WAIT_SLICE_MS
 * and not past `deadline` (0: none). */
static void wait_event(struct zk *z, uint64_t seen, int64_t deadline)
{
    int64_t until = now_ms() + WAIT_SLICE_MS;
    if (deadline && deadline < until)
        until = deadline;
    struct timespec ts = deadline_ts(until);
    pthread_mutex_lock(&z->mu);
    while (z->events == seen && !z->closing)
        if (pthread_cond_timedwait(&z->cond, &z->mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&z->mu);
}

static uint64_t events_now(struct zk *z)
{
    pthread_mutex_lock(&z->mu);
    uint64_t e = z->events;
    pthread_mutex_unlock(&z->mu);
    return e;
}

/* ---- watchers (client completion thread: never block) ------------------------------------ */

static void node_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
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
        if (state == ZOO_CONNECTED_STATE && lost_too_long(z))
            z->leading = false; /* back in time, but leadership past the timeout is gone */
        if (state == ZOO_CONNECTED_STATE)
            z->disconnected_at = 0;
        else if (!z->disconnected_at)
            z->disconnected_at = now_ms();
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

/* ---- node helpers (hlock held shared) ---------------------------------------------------- */

/* Creates the missing ancestors of path as empty persistent nodes, like mkdir -p. */
static int make_parents(struct zk *z, zhandle_t *zh, const char *path)
{
    char *p = strdup(path);
    int rc = ZOK;
    if (!p)
        return ZSYSTEMERROR;
    for (char *s = strchr(p + 1, '/'); s && rc == ZOK; s = strchr(s + 1, '/')) {
        *s = '\0';
        rc = zoo_create(zh, p, "", 0, zk_acl(z), ZOO_PERSISTENT, NULL, 0);
        if (rc == ZNODEEXISTS)
            rc = ZOK;
        *s = '/';
    }
    free(p);
    return rc;
}

static int create_node(struct zk *z, zhandle_t *zh, const char *path, const char *value, size_t len,
                       int mode, char *out, int outlen, struct Stat *st)
{
    int rc = zoo_create2(zh, path, value, (int)len, zk_acl(z), mode, out, outlen, st);
    if (rc == ZNONODE && (rc = make_parents(z, zh, path)) == ZOK)
        rc = zoo_create2(zh, path, value, (int)len, zk_acl(z), mode, out, outlen, st);
    return rc;
}

/* Reads a node's data into *value (malloc'd, NUL-terminated) and its stat. */
static int read_node(zhandle_t *zh, const char *path, char **value, size_t *len, struct Stat *st)
{
    int rc = zoo_exists(zh, path, 0, st);
    for (int tries = 0; rc == ZOK && tries < 5; tries++) {
        int cap = st->dataLength > 0 ? st->dataLength : 0;
        int n = cap;
        char *buf = malloc((size_t)cap + 1);
        if (!buf)
            return ZSYSTEMERROR;
        rc = zoo_get(zh, path, 0, buf, &n, st);
        if (rc == ZOK && st->dataLength <= cap) {
            n = n < 0 ? 0 : n; /* -1: null data */
            buf[n] = '\0';
            *value = buf;
            *len = (size_t)n;
            return ZOK;
        }
        free(buf); /* grew between the calls: once more with the new size */
    }
    return rc == ZOK ? ZSYSTEMERROR : rc;
}

/* Creates (or replaces) an ephemeral member node owned by this session. */
static int create_member(struct zk *z, zhandle_t *zh, const char *path, const char *json)
{
    size_t len = strlen(json);
    struct Stat st;
    for (int tries = 0; tries < 5; tries++) {
        int rc = create_node(z, zh, path, json, len, ZOO_EPHEMERAL, NULL, 0, &st);
        if (rc != ZNODEEXISTS)
            return rc;
        if ((rc = zoo_exists(zh, path, 0, &st)) == ZNONODE)
            continue;
        if (rc != ZOK)
            return rc;
        if (st.ephemeralOwner == zoo_client_id(zh)->client_id)
            return zoo_set(zh, path, json, (int)len, -1);
        /* left by an older session of the same id: it would vanish with that session */
        rc = zoo_delete(zh, path, st.version);
        if (rc != ZOK && rc != ZNONODE && rc != ZBADVERSION)
            return rc;
    }
    return ZNODEEXISTS;
}

/* ---- sessions ---------------------------------------------------------------------------- */

/* Starts a client handle for a new session (connection in the background). */
/* The client's own messages (while a server is down it writes several a second) go to ferry's
 * debug log: what matters reaches ferry's log as state changes and errors of calls. */
static void client_log(const char *message)
{
    ferry_debug("zookeeper", "%s", message);
}

static int start_handle(struct zk *z, char *err, size_t errlen)
{
    struct zk_handle_ctx *h = malloc(sizeof(*h));
    if (!h)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    pthread_mutex_lock(&z->mu);
    h->z = z;
    h->gen = ++z->gen;
    z->state = z->logged_state = ZOO_CONNECTING_STATE; /* not worth a log line */
    if (!z->disconnected_at)
        z->disconnected_at = now_ms();
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

/* Closes the current handle, if any; its ephemeral nodes vanish with the session. */
static void stop_handle(struct zk *z)
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
    struct timespec ts = deadline_ts(z->last_rebuild + REBUILD_GAP_MS);
    while (!z->closing && now_ms() < z->last_rebuild + REBUILD_GAP_MS)
        pthread_cond_timedwait(&z->cond, &z->mu, &ts);
    z->last_rebuild = now_ms();
    z->rebuild = false;
    z->leading = false;
    bool closing = z->closing;
    pthread_mutex_unlock(&z->mu);
    if (closing)
        return;
    stop_handle(z);
    /* only now: no call on the old handle can still set them */
    pthread_mutex_lock(&z->mu);
    z->leading = false;
    free(z->candidate);
    z->candidate = NULL;
    z->members_dirty = true;
    pthread_mutex_unlock(&z->mu);
    if (start_handle(z, err, sizeof(err)) < 0) {
        ferry_warn("coord", "%s", err);
        pthread_mutex_lock(&z->mu);
        z->rebuild = true;
        pthread_mutex_unlock(&z->mu);
    }
}

static void log_state(struct zk *z, int state, bool first)
{
    if (state == ZOO_CONNECTED_STATE) {
        zhandle_t *zh = zk_acquire(z);
        if (zh) {
            long ms = zoo_recv_timeout(zh);
            long long id = (long long)zoo_client_id(zh)->client_id;
            zk_release(z);
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
        char *mdir = path_join(z->prefix, "members");
        paths[i] = mdir ? path_join(mdir, z->members[i].id) : NULL;
        jsons[i] = strdup(z->members[i].json);
        ok = paths[i] && jsons[i];
        free(mdir);
    }
    pthread_mutex_unlock(&z->mu);

    int failed = !ok;
    zhandle_t *zh = zk_acquire(z);
    if (zh) {
        if (stale) {
            int rc = zoo_delete(zh, stale, -1);
            if (rc != ZOK && rc != ZNONODE)
                failed = 1;
            else
                free(stale), stale = NULL;
        }
        for (size_t i = 0; ok && i < n; i++) {
            int rc = create_member(z, zh, paths[i], jsons[i]);
            if (rc != ZOK) {
                ferry_warn("coord", "zookeeper: %s: register again: %s", paths[i], zerror(rc));
                failed = 1;
            }
        }
        zk_release(z);
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

static void *session_main(void *arg)
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
        } else if (z->leading && lost_too_long(z)) {
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
                struct timespec ts = deadline_ts(now_ms() + WAIT_SLICE_MS);
                pthread_cond_timedwait(&z->cond, &z->mu, &ts);
                continue;
            }
            pthread_mutex_unlock(&z->mu);
            tidy(z);
            struct timespec ts = deadline_ts(now_ms() + WAIT_SLICE_MS);
            pthread_mutex_lock(&z->mu);
            pthread_cond_timedwait(&z->cond, &z->mu, &ts); /* no busy loop when tidy fails */
            continue;
        }
        pthread_mutex_lock(&z->mu);
    }
    pthread_mutex_unlock(&z->mu);
    return NULL;
}

/* ---- open and close ---------------------------------------------------------------------- */

static void set_client_logging(void)
{
    zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
}

static void zk_free(struct zk *z)
{
    for (size_t i = 0; i < z->nmembers; i++)
        free(z->members[i].id), free(z->members[i].json);
    free(z->members);
    free(z->candidate);
    free(z->hosts);
    free(z->prefix);
    free(z->auth);
    pthread_rwlock_destroy(&z->hlock);
    pthread_mutex_destroy(&z->mu);
    pthread_cond_destroy(&z->cond);
    free(z);
}

static int zk_init_state(struct zk *z, const struct ferry_coord_options *o)
{
    size_t hl = 0;
    for (size_t i = 0; i < o->nendpoints; i++)
        hl += strlen(o->endpoints[i]) + 1;
    if (!(z->hosts = calloc(1, hl + 1)) || !(z->prefix = strdup(o->prefix)))
        return -1;
    for (size_t i = 0; i < o->nendpoints; i++)
        strcat(strcat(z->hosts, i ? "," : ""), o->endpoints[i]);
    if (o->user) {
        size_t n = strlen(o->user) + (o->password ? strlen(o->password) : 0) + 2;
        if (!(z->auth = malloc(n)))
            return -1;
        snprintf(z->auth, n, "%s:%s", o->user, o->password ? o->password : "");
    }
    unsigned char rnd[16];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        uint64_t t = (uint64_t)now_ms() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)z;
        for (size_t i = 0; i < sizeof(rnd); i++, t = t * 6364136223846793005ULL + 1)
            rnd[i] = (unsigned char)(t >> 56);
    }
    for (size_t i = 0; i < sizeof(rnd); i++)
        snprintf(z->guid + 2 * i, 3, "%02x", rnd[i]);
    z->ttl_ms = o->ttl_ms > 0 ? o->ttl_ms : 10000;
    z->session_ms = z->ttl_ms;
    return 0;
}

static int zk_open(const struct ferry_coord_options *o, void **self, char *err, size_t errlen)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, set_client_logging);
    *self = NULL;
    if (!o->nendpoints || !o->prefix || o->prefix[0] != '/')
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                            "zookeeper: endpoints and an absolute prefix are required");
    struct zk *z = calloc(1, sizeof(*z));
    if (!z)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    /* writer-preferring: the session thread must get the handle even under steady load */
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&z->hlock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&z->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&z->mu, NULL);
    if (zk_init_state(z, o) < 0) {
        zk_free(z);
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    }

    int rc = start_handle(z, err, errlen);
    if (rc < 0)
        goto fail;
    int64_t deadline = now_ms() + z->ttl_ms;
    struct timespec ts = deadline_ts(deadline);
    pthread_mutex_lock(&z->mu);
    while (z->state != ZOO_CONNECTED_STATE && z->state != ZOO_AUTH_FAILED_STATE &&
           z->state != ZOO_EXPIRED_SESSION_STATE) {
        if (pthread_cond_timedwait(&z->cond, &z->mu, &ts) == ETIMEDOUT)
            break;
    }
    int state = z->logged_state = z->state;
    pthread_mutex_unlock(&z->mu);
    if (state == ZOO_AUTH_FAILED_STATE) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                          "zookeeper: %s: authentication failed for '%s'", z->hosts, o->user);
        goto fail;
    }
    if (state != ZOO_CONNECTED_STATE) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_RETRY, "zookeeper: %s: no session within %ld ms",
                          z->hosts, z->ttl_ms);
        goto fail;
    }
    z->logged_state = -1; /* the session thread logs the first connection */
    if (pthread_create(&z->thread, NULL, session_main, z) != 0) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_FATAL, "zookeeper: cannot start a thread");
        goto fail;
    }
    z->thread_started = true;
    *self = z;
    return 0;

fail:
    stop_handle(z);
    zk_free(z);
    return rc;
}

static int zk_resign(void *self, char *err, size_t errlen);

static void zk_close(void *self)
{
    struct zk *z = self;
    if (!z)
        return;
    zk_resign(z, NULL, 0);
    pthread_mutex_lock(&z->mu);
    z->closing = true;
    pthread_cond_broadcast(&z->cond);
    pthread_mutex_unlock(&z->mu);
    if (z->thread_started)
        pthread_join(z->thread, NULL);
    stop_handle(z);
    zk_free(z);
}

/* ---- keys and values --------------------------------------------------------------------- */

static int zk_get(void *self, const char *key, char **value, size_t *len, int64_t *version,
                  char *err, size_t errlen)
{
    struct zk *z = self;
    int rc;
    char *path = key_path(z, key, &rc, err, errlen);
    if (!path)
        return rc;
    zhandle_t *zh = zk_acquire(z);
    struct Stat st;
    int zrc = zh ? read_node(zh, path, value, len, &st) : ZINVALIDSTATE;
    if (zh)
        zk_release(z);
    if (zrc == ZOK)
        *version = st.mzxid, rc = 0;
    else
        rc = zrc == ZNONODE ? 1 : zk_fail(z, zrc, path, err, errlen);
    free(path);
    return rc;
}

static int zk_put(void *self, const char *key, const char *value, size_t len, int64_t *version,
                  char *err, size_t errlen)
{
    struct zk *z = self;
    int rc;
    if (len > INT_MAX)
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "zookeeper: %s: value too large", key);
    char *path = key_path(z, key, &rc, err, errlen);
    if (!path)
        return rc;
    zhandle_t *zh = zk_acquire(z);
    struct Stat st;
    int zrc = zh ? ZNODEEXISTS : ZINVALIDSTATE;
    for (int tries = 0; zh && zrc == ZNODEEXISTS && tries < 5; tries++) {
        zrc = zoo_set2(zh, path, value, (int)len, -1, &st);
        if (zrc == ZNONODE) /* ZNODEEXISTS when it appeared meanwhile: set it */
            zrc = create_node(z, zh, path, value, len, ZOO_PERSISTENT, NULL, 0, &st);
    }
    if (zh)
        zk_release(z);
    rc = zrc == ZOK ? 0 : zk_fail(z, zrc, path, err, errlen);
    if (zrc == ZOK && version)
        *version = st.mzxid;
    free(path);
    return rc;
}

static int zk_del(void *self, const char *key, char *err, size_t errlen)
{
    struct zk *z = self;
    int rc;
    char *path = key_path(z, key, &rc, err, errlen);
    if (!path)
        return rc;
    zhandle_t *zh = zk_acquire(z);
    int zrc = zh ? zoo_delete(zh, path, -1) : ZINVALIDSTATE;
    if (zh)
        zk_release(z);
    rc = zrc == ZOK ? 0 : zrc == ZNONODE ? 1 : zk_fail(z, zrc, path, err, errlen);
    free(path);
    return rc;
}

/* One look at the key, leaving a watch on it: 0 with the new state when its version differs
 * from `version`, 1 when it does not, or a zk error code. */
static int watch_once(struct zk *z, const char *path, int64_t version, char **value, size_t *len,
                      int64_t *new_version)
{
    zhandle_t *zh = zk_acquire(z);
    if (!zh)
        return ZINVALIDSTATE;
    struct Stat st;
    int rc = zoo_wexists(zh, path, node_watcher, z, &st);
    int64_t seen = rc == ZOK ? st.mzxid : 0;
    if ((rc == ZOK || rc == ZNONODE) && seen != version) {
        rc = seen ? read_node(zh, path, value, len, &st) : ZNONODE;
        if (rc == ZOK) {
            *new_version = st.mzxid;
        } else if (rc == ZNONODE) {
            *value = NULL, *len = 0, *new_version = 0;
            rc = version ? ZOK : ZNONODE; /* deleted again before we read it: no change */
        }
        rc = rc == ZNONODE ? 1 : rc;
    } else if (rc == ZOK || rc == ZNONODE) {
        rc = 1;
    }
    zk_release(z);
    return rc;
}

static int zk_watch(void *self, const char *key, int64_t version, int timeout_ms,
                    volatile sig_atomic_t *cancel, char **value, size_t *len, int64_t *new_version,
                    char *err, size_t errlen)
{
    struct zk *z = self;
    int rc;
    char *path = key_path(z, key, &rc, err, errlen);
    if (!path)
        return rc;
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        uint64_t seen = events_now(z);
        int zrc = watch_once(z, path, version, value, len, new_version);
        if (zrc == ZOK) {
            rc = 0;
            break;
        }
        if (zrc != 1 && !transient(zrc)) {
            rc = zk_fail(z, zrc, path, err, errlen);
            break;
        }
        /* a transient error is waited out like no change, and reported at the deadline */
        if (cancelled(cancel) || now_ms() >= deadline) {
            rc = zrc == 1 || cancelled(cancel) ? 1 : zk_fail(z, zrc, path, err, errlen);
            break;
        }
        wait_event(z, seen, deadline);
    }
    free(path);
    return rc;
}

/* ---- membership -------------------------------------------------------------------------- */

static int zk_register(void *self, const char *id, const char *json, char *err, size_t errlen)
{
    struct zk *z = self;
    if (!id || !*id || strchr(id, '/'))
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "zookeeper: bad member id '%s'",
                            id ? id : "");
    char *mdir = path_join(z->prefix, "members");
    char *path = mdir ? path_join(mdir, id) : NULL;
    char *nid = strdup(id), *njson = strdup(json);
    free(mdir);
    pthread_mutex_lock(&z->mu);
    size_t i = 0;
    while (i < z->nmembers && strcmp(z->members[i].id, id))
        i++;
    struct zk_member *m = z->members;
    if (i == z->nmembers && path && nid && njson)
        m = realloc(z->members, (z->nmembers + 1) * sizeof(*m));
    if (!path || !nid || !njson || !m) {
        pthread_mutex_unlock(&z->mu);
        free(path), free(nid), free(njson);
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    }
    /* remembered first, so that a session rebuilt meanwhile registers it too */
    z->members = m;
    char *old_json = i < z->nmembers ? m[i].json : NULL;
    if (i < z->nmembers)
        free(nid);
    else
        m[i].id = nid, z->nmembers++;
    m[i].json = njson;
    pthread_mutex_unlock(&z->mu);

    zhandle_t *zh = zk_acquire(z);
    int zrc = zh ? create_member(z, zh, path, json) : ZINVALIDSTATE;
    if (zh)
        zk_release(z);
    int rc = zrc == ZOK ? 0 : zk_fail(z, zrc, path, err, errlen);
    if (rc < 0) { /* forget it again: the caller decides whether to retry */
        pthread_mutex_lock(&z->mu);
        for (i = 0; i < z->nmembers && strcmp(z->members[i].id, id); i++)
            ;
        if (i < z->nmembers && old_json) {
            free(z->members[i].json);
            z->members[i].json = old_json, old_json = NULL;
        } else if (i < z->nmembers) {
            free(z->members[i].id), free(z->members[i].json);
            z->members[i] = z->members[--z->nmembers];
        }
        pthread_mutex_unlock(&z->mu);
    }
    free(old_json);
    free(path);
    return rc;
}

static int member_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ferry_coord_member *)a)->id,
                  ((const struct ferry_coord_member *)b)->id);
}

static int zk_members(void *self, struct ferry_coord_member **out, size_t *n, char *err,
                      size_t errlen)
{
    struct zk *z = self;
    struct String_vector kids = {0};
    struct ferry_coord_member *m = NULL;
    size_t count = 0;
    char *mdir = path_join(z->prefix, "members");
    if (!mdir)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    zhandle_t *zh = zk_acquire(z);
    int zrc = zh ? zoo_get_children(zh, mdir, 0, &kids) : ZINVALIDSTATE;
    if (zrc == ZOK && kids.count > 0 && !(m = calloc((size_t)kids.count, sizeof(*m))))
        zrc = ZSYSTEMERROR;
    for (int32_t i = 0; zrc == ZOK && i < kids.count; i++) {
        char *path = path_join(mdir, kids.data[i]);
        struct Stat st;
        size_t len;
        int r = path ? read_node(zh, path, &m[count].value, &len, &st) : ZSYSTEMERROR;
        free(path);
        if (r == ZNONODE) /* left meanwhile */
            continue;
        if (r != ZOK || !(m[count].id = strdup(kids.data[i]))) {
            zrc = r != ZOK ? r : ZSYSTEMERROR;
            free(m[count].value);
            break;
        }
        count++;
    }
    if (zh)
        zk_release(z);
    if (zh)
        deallocate_String_vector(&kids);
    if (zrc != ZOK && zrc != ZNONODE) {
        ferry_coord_members_free(m, count);
        int rc = zrc == ZSYSTEMERROR ? ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory")
                                     : zk_fail(z, zrc, mdir, err, errlen);
        free(mdir);
        return rc;
    }
    free(mdir);
    if (count > 1)
        qsort(m, count, sizeof(*m), member_cmp);
    *out = m;
    *n = count;
    return 0;
}

/* ---- leader election --------------------------------------------------------------------- */

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
        if (strncmp(s, "n_", 2) || l < 2 + SEQ_DIGITS)
            continue;
        char *end;
        long long seq = strtoll(s + l - SEQ_DIGITS, &end, 10);
        if (*end)
            continue;
        c[*n].seq = seq;
        c[(*n)++].name = s;
    }
    if (c && *n > 1)
        qsort(c, *n, sizeof(*c), candidate_cmp);
    return c;
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
            rc = make_parents(z, zh, dir);
            if (rc == ZOK)
                rc = zoo_create(zh, dir, "", 0, zk_acl(z), ZOO_PERSISTENT, NULL, 0);
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
            char *base = path_join(dir, mine);
            rc = base ? create_node(z, zh, base, value, strlen(value), ZOO_EPHEMERAL_SEQUENTIAL,
                                    NULL, 0, &st)
                      : ZSYSTEMERROR;
            free(base);
            if (rc != ZOK)
                return rc;
            continue; /* list again: our node's name comes with the children */
        }
        char *path = path_join(dir, c[own].name);
        char *prev = own ? path_join(dir, c[own - 1].name) : NULL;
        int64_t seq = c[own].seq;
        free(c);
        deallocate_String_vector(&kids);
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
        rc = zoo_wexists(zh, prev, node_watcher, z, &st);
        free(prev);
        if (rc == ZNONODE) /* gone already: look again */
            continue;
        return rc == ZOK ? 1 : rc;
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
    zhandle_t *zh = zk_acquire(z);
    int zrc = zh ? zoo_delete(zh, path, -1) : ZINVALIDSTATE;
    if (zh)
        zk_release(z);
    if (zrc == ZOK || zrc == ZNONODE) {
        free(path);
        return 0;
    }
    int rc = zk_fail(z, zrc, path, err, errlen);
    pthread_mutex_lock(&z->mu);
    if (!z->candidate && z->gen == gen) /* the session thread deletes it later */
        z->candidate = path, path = NULL;
    pthread_mutex_unlock(&z->mu);
    free(path);
    return rc;
}

static int zk_campaign(void *self, const char *value, int64_t *fence, volatile sig_atomic_t *cancel,
                       char *err, size_t errlen)
{
    struct zk *z = self;
    char *dir = path_join(z->prefix, "leader");
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
    while (!cancelled(cancel)) {
        uint64_t seen = events_now(z);
        zhandle_t *zh = zk_acquire(z);
        int zrc = zh ? campaign_step(z, zh, dir, value ? value : "", fence) : ZINVALIDSTATE;
        if (zh)
            zk_release(z);
        if (zrc == ZOK) {
            rc = 0;
            break;
        }
        if (zrc != 1 && !transient(zrc)) {
            rc = zk_fail(z, zrc, dir, err, errlen);
            break;
        }
        wait_event(z, seen, 0); /* a transient error is waited out, watching *cancel */
    }
    pthread_mutex_lock(&z->mu);
    z->campaigning = false;
    pthread_mutex_unlock(&z->mu);
    if (rc != 0)
        withdraw(z, NULL, 0);
    free(dir);
    return rc;
}

static bool zk_leading(void *self)
{
    struct zk *z = self;
    pthread_mutex_lock(&z->mu);
    bool leading = z->leading && !lost_too_long(z);
    pthread_mutex_unlock(&z->mu);
    return leading;
}

static int zk_resign(void *self, char *err, size_t errlen)
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
        char *path = c && n ? path_join(dir, c[0].name) : NULL;
        if (!c || (n && !path))
            rc = ZSYSTEMERROR;
        else if (!n)
            rc = ZNONODE;
        else if ((rc = read_node(zh, path, value, &len, &st)) == ZOK)
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

static int zk_leader(void *self, char **value, int64_t *fence, char *err, size_t errlen)
{
    struct zk *z = self;
    char *dir = path_join(z->prefix, "leader");
    if (!dir)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    zhandle_t *zh = zk_acquire(z);
    int zrc = zh ? read_leader(zh, dir, value, fence) : ZINVALIDSTATE;
    if (zh)
        zk_release(z);
    int rc = zrc == ZOK ? 0 : zrc == ZNONODE ? 1 : zk_fail(z, zrc, dir, err, errlen);
    free(dir);
    return rc;
}

const struct ferry_coord_ops ferry_coord_zookeeper_ops = {
    .name = "zookeeper",
    .open = zk_open,
    .close = zk_close,
    .get = zk_get,
    .put = zk_put,
    .del = zk_del,
    .watch = zk_watch,
    .register_member = zk_register,
    .members = zk_members,
    .campaign = zk_campaign,
    .leading = zk_leading,
    .resign = zk_resign,
    .leader = zk_leader,
};
