/* ferry: the ZooKeeper coordination backend (multi-threaded C client, ZooKeeper 3.5+): open,
 * close and the ops table. The pieces (see zookeeper_internal.h): zookeeper_session.c keeps
 * the connection and rebuilds an expired session, zookeeper_kv.c keeps keys and watches them,
 * zookeeper_members.c the ephemeral member nodes, zookeeper_election.c the leader election.
 *
 * Layout below the prefix: persistent nodes for keys, EPHEMERAL nodes members/<id>, and
 * EPHEMERAL_SEQUENTIAL candidates leader/n_<guid>_<seq>.
 *
 * Threads: the client's own (I/O and completion), and a session thread of ours, both started
 * by open and joined by close; any thread may call the functions of the ops table. */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "ferry/clock.h"
#include "ferry/err.h"
#include "zookeeper_internal.h"

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
        uint64_t t = (uint64_t)ferry_mono_ms() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)z;
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
    ferry_mono_cond_init(&z->cond);
    pthread_mutex_init(&z->mu, NULL);
    if (zk_init_state(z, o) < 0) {
        zk_free(z);
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    }

    int rc = ferry_zk_start_handle(z, err, errlen);
    if (rc < 0)
        goto fail;
    int64_t deadline = ferry_mono_ms() + z->ttl_ms;
    struct timespec ts = ferry_mono_timespec(deadline);
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
    if (pthread_create(&z->thread, NULL, ferry_zk_session_main, z) != 0) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_FATAL, "zookeeper: cannot start a thread");
        goto fail;
    }
    z->thread_started = true;
    *self = z;
    return 0;

fail:
    ferry_zk_stop_handle(z);
    zk_free(z);
    return rc;
}

static void zk_close(void *self)
{
    struct zk *z = self;
    if (!z)
        return;
    ferry_zk_resign(z, NULL, 0);
    pthread_mutex_lock(&z->mu);
    z->closing = true;
    pthread_cond_broadcast(&z->cond);
    pthread_mutex_unlock(&z->mu);
    if (z->thread_started)
        pthread_join(z->thread, NULL);
    ferry_zk_stop_handle(z);
    zk_free(z);
}

const struct ferry_coord_ops ferry_coord_zookeeper_ops = {
    .name = "zookeeper",
    .open = zk_open,
    .close = zk_close,
    .get = ferry_zk_get,
    .put = ferry_zk_put,
    .del = ferry_zk_del,
    .watch = ferry_zk_watch,
    .register_member = ferry_zk_register,
    .members = ferry_zk_members,
    .campaign = ferry_zk_campaign,
    .leading = ferry_zk_leading,
    .resign = ferry_zk_resign,
    .leader = ferry_zk_leader,
};
