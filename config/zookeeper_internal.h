/* ferry: the ZooKeeper backend's internals, shared by its files. Private to config/.
 *
 *   zookeeper.c           open, close and the ops table
 *   zookeeper_session.c   the client handle, its watchers, and the session thread (state
 *                         logging, rebuilding an expired session, tidying up after it)
 *   zookeeper_kv.c        nodes, keys and values, watches
 *   zookeeper_members.c   the ephemeral member nodes
 *   zookeeper_election.c  the leader election
 *
 * Locks: hlock (a rwlock) is held shared around every call on zh and exclusively only to swap
 * the handle; mu guards the rest of struct zk and is never held across a call on zh. Functions
 * that take a zhandle_t * expect hlock held shared (ferry_zk_acquire) and return a zk error
 * code (ZOK, ZNONODE, …); the others take their locks themselves. */
#ifndef FERRY_CONFIG_ZOOKEEPER_INTERNAL_H
#define FERRY_CONFIG_ZOOKEEPER_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <zookeeper/zookeeper.h>

#include "ferry/coord.h"

#define ZK_WAIT_SLICE_MS  200 /* the longest a wait goes without looking at *cancel */
#define ZK_REBUILD_GAP_MS 1000
#define ZK_SEQ_DIGITS     10

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

static inline bool ferry_zk_cancelled(volatile sig_atomic_t *cancel)
{
    return cancel && *cancel;
}

static inline struct ACL_vector *ferry_zk_acl(const struct zk *z)
{
    return z->auth ? &ZOO_CREATOR_ALL_ACL : &ZOO_OPEN_ACL_UNSAFE;
}

/* ---- zookeeper_session.c -------------------------------------------------------------- */

/* Monotonic milliseconds, and such a time as the timespec pthread_cond_timedwait wants (the
 * condition variable runs on CLOCK_MONOTONIC). */

/* A zk error code as a ferry_err with its message in err: connection and session trouble is
 * FERRY_ERR_RETRY, refused credentials or arguments FERRY_ERR_INVALID. */
int ferry_zk_fail(struct zk *z, int rc, const char *what, char *err, size_t errlen);
/* True for the codes that a new connection or session may cure. */
bool ferry_zk_transient(int rc);

/* The current handle with hlock held shared, or NULL (nothing held) while rebuilding. */
zhandle_t *ferry_zk_acquire(struct zk *z);
void ferry_zk_release(struct zk *z);

/* True when the connection has been down so long that the server has expired the session.
 * Called with mu held. */
bool ferry_zk_lost_too_long(struct zk *z);
/* The event counter now; then ferry_zk_wait_event waits (mu not held) until an event newer
 * than `seen` arrives, for at most ZK_WAIT_SLICE_MS and not past `deadline` (0: none). */
uint64_t ferry_zk_events_now(struct zk *z);
void ferry_zk_wait_event(struct zk *z, uint64_t seen, int64_t deadline);
/* The watcher for a node (ctx: the struct zk). Thread: the client's completion thread; it only
 * counts the event and wakes the waiters. */
void ferry_zk_node_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx);

/* Starts a client handle for a new session (connection in the background). */
int ferry_zk_start_handle(struct zk *z, char *err, size_t errlen);
/* Closes the current handle, if any; its ephemeral nodes vanish with the session. Takes hlock
 * exclusively: no call on the handle may be in progress on this thread. */
void ferry_zk_stop_handle(struct zk *z);
/* The session thread's body (pthread_create's start routine, arg: the struct zk): runs until
 * z->closing is set under z->mu and z->cond is broadcast. */
void *ferry_zk_session_main(void *arg);

/* ---- zookeeper_kv.c ------------------------------------------------------------------- */

/* "a" + "/" + "b" (malloc'd), NULL when out of memory. */
char *ferry_zk_path_join(const char *a, const char *b);
/* Creates the missing ancestors of path as empty persistent nodes, like mkdir -p. */
int ferry_zk_make_parents(struct zk *z, zhandle_t *zh, const char *path);
/* zoo_create2, creating the missing ancestors first when there are any. */
int ferry_zk_create_node(struct zk *z, zhandle_t *zh, const char *path, const char *value,
                         size_t len, int mode, char *out, int outlen, struct Stat *st);
/* Reads a node's data into *value (malloc'd, NUL-terminated; *len bytes) and its stat;
 * *value untouched unless ZOK. */
int ferry_zk_read_node(zhandle_t *zh, const char *path, char **value, size_t *len, struct Stat *st);

int ferry_zk_get(void *self, const char *key, char **value, size_t *len, int64_t *version,
                 char *err, size_t errlen);
int ferry_zk_put(void *self, const char *key, const char *value, size_t len, int64_t *version,
                 char *err, size_t errlen);
int ferry_zk_del(void *self, const char *key, char *err, size_t errlen);
int ferry_zk_watch(void *self, const char *key, int64_t version, int timeout_ms,
                   volatile sig_atomic_t *cancel, char **value, size_t *len, int64_t *new_version,
                   char *err, size_t errlen);

/* ---- zookeeper_members.c -------------------------------------------------------------- */

/* prefix/members/<id> (malloc'd), NULL when out of memory. */
char *ferry_zk_member_path(const struct zk *z, const char *id);
/* Creates (or replaces) an ephemeral member node owned by this session. */
int ferry_zk_create_member(struct zk *z, zhandle_t *zh, const char *path, const char *json);

int ferry_zk_register(void *self, const char *id, const char *json, char *err, size_t errlen);
int ferry_zk_members(void *self, struct ferry_coord_member **out, size_t *n, char *err,
                     size_t errlen);

/* ---- zookeeper_election.c ------------------------------------------------------------- */

int ferry_zk_campaign(void *self, const char *value, int64_t *fence, volatile sig_atomic_t *cancel,
                      char *err, size_t errlen);
bool ferry_zk_leading(void *self);
int ferry_zk_resign(void *self, char *err, size_t errlen);
int ferry_zk_leader(void *self, char **value, int64_t *fence, char *err, size_t errlen);

#endif
