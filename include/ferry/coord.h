/* ferry: coordination through etcd or ZooKeeper, behind one interface.
 *
 * A struct ferry_coord is one session with the coordination service: an etcd lease kept alive
 * by a thread of its own, or a ZooKeeper session. Everything ferry keeps there lives below one
 * prefix ("/ferry/prod"); keys passed to these functions are relative to it ("config",
 * "members/agent-web-1"), written with '/' between parts.
 *
 *   prefix/config            the YAML document pushed by `ferry config push`
 *   prefix/members/<id>      one ephemeral entry per running agent or worker process (JSON)
 *   prefix/leader            the sink workers' election
 *
 * Ephemeral entries (members, the election's candidate) belong to the session: they vanish
 * when the process dies or its lease or session expires. When a backend has to rebuild a lost
 * session it registers the process's members again by itself; leadership, though, is lost
 * for good and ferry_coord_leading() turns false at once: the caller campaigns again.
 *
 * Threads: every function may be called from any thread, and calls on one session may run
 * at once, with two exceptions: ferry_coord_close must be the last call (none other in
 * progress or to come), and one session runs one ferry_coord_campaign at a time. A backend runs
 * threads of its own (etcd: the lease's keepalive; ZooKeeper: the client's I/O and completion
 * threads and a session thread), started by ferry_coord_open and joined by ferry_coord_close;
 * they never call the caller's code. The `cancel` flags are volatile sig_atomic_t so that a
 * signal handler may set them; NULL means "never cancelled".
 *
 * Errors: functions return 0 (or the positive value documented) on success and a negative
 * enum ferry_err with a message in err otherwise; FERRY_ERR_RETRY means the service could not
 * be reached or answered in time: the same call may work later. A call blocks for about one
 * request timeout at most (ttl_ms; etcd: per endpoint tried) unless it says otherwise. A
 * write that fails with FERRY_ERR_RETRY may still have been applied: the answer was lost, not
 * necessarily the request. What a function hands back through its pointers means something
 * only on success (0), unless said otherwise, and nothing needs freeing after a failure or a
 * 1. */
#ifndef FERRY_COORD_H
#define FERRY_COORD_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Which service. The order is that of the configuration's `backend` names (none, etcd,
 * zookeeper: config/schema_coord.c stores the name's index). FERRY_COORD_NONE is only a
 * configuration's "no coordination"; the options of a session never hold it. */
enum ferry_coord_backend { FERRY_COORD_NONE, FERRY_COORD_ETCD, FERRY_COORD_ZOOKEEPER };

/* Every string is owned by the struct: allocated by ferry_coord_url_parse or
 * ferry_coord_resolve, freed by ferry_coord_options_release. */
struct ferry_coord_options {
    enum ferry_coord_backend backend;
    char **endpoints; /* "host:port", tried in turn (etcd) or handed to the client (zk) */
    size_t nendpoints;
    char *prefix; /* absolute, without a trailing '/': "/ferry/prod" */
    long ttl_ms;  /* etcd lease TTL (rounded up to whole seconds) / zk session timeout */
    char *user;   /* etcd user / zk digest user; NULL: no authentication */
    char *password;
    char *ca_file; /* etcd over TLS (https) when any of these is set */
    char *cert_file;
    char *key_file;
};

/* Parses "etcd://host:port[,host:port…]/prefix" or "zk://host:port[,…]/prefix" (also
 * "zookeeper://") into *o, whose strings it allocates (free with ferry_coord_options_release).
 * ttl_ms is set to 10000; the prefix is "/ferry" when the URL has none. FERRY_ERR_INVALID
 * for a bad URL; on failure *o is zeroed, with nothing to release. No I/O; any thread. */
int ferry_coord_url_parse(const char *url, struct ferry_coord_options *o, char *err, size_t errlen);
/* Frees o's strings and zeroes *o (a zeroed struct is fine; o itself is the caller's). */
void ferry_coord_options_release(struct ferry_coord_options *o);
/* An endpoint is host:port: a non-empty host and a port of digits only, 1 to 65535. The same
 * rule for URLs and for the coordination section's endpoints. s (n bytes, no NUL needed) is
 * borrowed. No I/O. */
bool ferry_coord_endpoint_ok(const char *s, size_t n);
/* "etcd://127.0.0.1:2379/ferry/prod": the URL that names these options, in buf (the
 * caller's, len > 0; cut short, still NUL-terminated, when too small). Returns buf. No I/O. */
const char *ferry_coord_url_format(const struct ferry_coord_options *o, char *buf, size_t len);

struct ferry_coordination_config;
/* The options of a process: from `url` (--coord) when given, else from the configuration's
 * coordination section; with both, the section still supplies ttl_ms, the credentials and the
 * TLS files (the URL names the service and the prefix; the section's backend may be absent).
 * `local` may be NULL; it and url are borrowed (what *o needs is copied). Fails with
 * FERRY_ERR_INVALID when neither names a backend or the URL is bad; a failure leaves nothing
 * to release (*o untouched when neither names a backend, zeroed otherwise). Release with
 * ferry_coord_options_release. No I/O; any thread. */
int ferry_coord_resolve(const char *url, const struct ferry_coordination_config *local,
                        struct ferry_coord_options *o, char *err, size_t errlen);

struct ferry_coord;

/* Connects and opens the session (grants the lease, or waits for the ZooKeeper session), then
 * starts the backend's threads. o is borrowed: what the session needs is copied, so the caller
 * may release it at once. On success *out is the caller's, to close with ferry_coord_close.
 * Fails with FERRY_ERR_RETRY when no endpoint answers within ttl_ms, FERRY_ERR_INVALID for
 * refused credentials or options without a backend; a failure leaves no thread or allocation
 * behind, and *out untouched. */
int ferry_coord_open(const struct ferry_coord_options *o, struct ferry_coord **out, char *err,
                     size_t errlen);

/* ferry_coord_resolve, ferry_coord_url_format into where (wherelen > 0), then ferry_coord_open:
 * what every command that talks to the service does first. 0 with *out open and *o resolved
 * (the caller releases both). On failure *resolved says which step failed: false, the
 * settings are wrong (nothing to release); true, the session did not open (release *o). */
int ferry_coord_connect(const char *url, const struct ferry_coordination_config *local,
                        struct ferry_coord_options *o, bool *resolved, struct ferry_coord **out,
                        char *where, size_t wherelen, char *err, size_t errlen);
/* Resigns if leading, deletes this session's ephemeral entries (revokes the lease / closes the
 * session), joins the backend's threads and frees everything; c may be NULL. Best effort: when
 * the service is away, the entries go when the lease or session expires, and close returns
 * after a few request timeouts. No other call on c may be in progress or follow. */
void ferry_coord_close(struct ferry_coord *c);

/* ---- keys and values ---------------------------------------------------------------- */

/* Reads key. Returns 0 with *value (malloc'd, the caller frees it; NUL-terminated, *len bytes
 * without the NUL) and *version (> 0: etcd mod_revision, zk mzxid) set, or 1 when the key
 * does not exist. key, value, len and version are all required. */
int ferry_coord_get(struct ferry_coord *c, const char *key, char **value, size_t *len,
                    int64_t *version, char *err, size_t errlen);
/* Creates or replaces key (persistent) with len bytes of value (borrowed; copied to the
 * service). *version, when version is not NULL, is the new version (set on success only). */
int ferry_coord_put(struct ferry_coord *c, const char *key, const char *value, size_t len,
                    int64_t *version, char *err, size_t errlen);
/* Deletes key; 1 when it did not exist. */
int ferry_coord_delete(struct ferry_coord *c, const char *key, char *err, size_t errlen);

/* Waits until key holds a version other than `version` (0: the caller saw no key), for at most
 * timeout_ms, returning early when *cancel becomes non-zero (checked at least every 200 ms).
 * Returns 0 with the new *value / *len / *version (value NULL and version 0 when the key was
 * deleted), or 1 on timeout or cancel. A change made while nobody was waiting is still seen:
 * the comparison is with `version`, not with the moment of the call. *value, when not NULL,
 * is malloc'd and the caller's; on 1 or a failure nothing is left to free (the outputs may
 * read NULL / 0). len is required. While the service is away the watch keeps trying until the
 * deadline and then fails with FERRY_ERR_RETRY; a request under way at the deadline is let
 * finish (at most about ttl_ms more). Several watches may run at once on one session. */
int ferry_coord_watch(struct ferry_coord *c, const char *key, int64_t version, int timeout_ms,
                      volatile sig_atomic_t *cancel, char **value, size_t *len,
                      int64_t *new_version, char *err, size_t errlen);

/* ---- membership --------------------------------------------------------------------- */

/* One entry of ferry_coord_members: both strings malloc'd, owned by the array. */
struct ferry_coord_member {
    char *id;
    char *value; /* what was registered: a JSON object */
};

/* Registers (or replaces) prefix/members/<id> as an ephemeral entry of this session; id (not
 * empty, no '/') and json are borrowed and copied. The backend remembers it and registers it
 * again after rebuilding a lost session. What a failure leaves behind differs: when the put
 * failed etcd keeps the entry remembered (it is put again with the next lease), ZooKeeper
 * forgets it (the previous value, if any, is remembered again); either way the caller may
 * simply register again. While
 * an etcd lease is lost and not yet granted again, this returns 0 and the keepalive thread
 * puts the entry with the new lease. */
int ferry_coord_register(struct ferry_coord *c, const char *id, const char *json, char *err,
                         size_t errlen);
/* Every live member, sorted by id: *out (an array of *n, possibly NULL when *n is 0) is the
 * caller's, to free with ferry_coord_members_free(*out, *n). */
int ferry_coord_members(struct ferry_coord *c, struct ferry_coord_member **out, size_t *n,
                        char *err, size_t errlen);
/* Frees the n entries of m and m itself; m may be NULL. */
void ferry_coord_members_free(struct ferry_coord_member *m, size_t n);

/* ---- leader election (prefix/leader) ------------------------------------------------- */

/* Campaigns with `value` (who this candidate is; borrowed, copied to the service) and blocks
 * until this session leads, or until *cancel becomes non-zero (checked at least every 200 ms).
 * Returns 0 when leading, with *fence set to the leadership's token: a number that every later
 * leadership exceeds (etcd: the create revision of the candidate's key; ZooKeeper: its
 * sequence number); a session that already leads gets 0 and its fence again. Returns 1 when
 * cancelled. On 1 and on failure the candidacy is withdrawn (its key deleted, or left to go
 * with the lease / session when the service is away). etcd fails with FERRY_ERR_RETRY when
 * the lease is lost before or during the campaign, or the service is away; ZooKeeper waits a
 * lost connection out. A resign from another thread meanwhile ends an etcd campaign with 1
 * and is ignored by a ZooKeeper one. One campaign at a time per session (ZooKeeper: a second
 * fails with FERRY_ERR_INVALID). */
int ferry_coord_campaign(struct ferry_coord *c, const char *value, int64_t *fence,
                         volatile sig_atomic_t *cancel, char *err, size_t errlen);
/* True while this session holds the leadership it won: false once it resigned or once the
 * lease or session is known lost (a keepalive refused or late past the TTL, a zk session
 * expired or disconnected for longer than its timeout). Cheap: a flag; never blocks on the
 * service. */
bool ferry_coord_leading(struct ferry_coord *c);
/* Gives the leadership up at once (deletes the candidate's key) so the next candidate leads
 * after about one round trip. 0 also when not leading. ferry_coord_leading() turns false at
 * once, even when this fails; a candidate the service could not delete stays until the
 * session ends (etcd: until the lease is revoked or lost; ZooKeeper: the session thread
 * deletes it once the service is back). */
int ferry_coord_resign(struct ferry_coord *c, char *err, size_t errlen);
/* Who leads now: 0 with *value (malloc'd, the caller's) and *fence, or 1 when nobody does. */
int ferry_coord_leader(struct ferry_coord *c, char **value, int64_t *fence, char *err,
                       size_t errlen);

/* ---- backends ------------------------------------------------------------------------ */

/* Each backend fills one of these; ferry_coord_* dispatch to it. `self` is the backend's own
 * state, set by open on success only and freed by close (which accepts NULL). Contracts are
 * those of the functions above, but members need not sort: ferry_coord_members does. */
struct ferry_coord_ops {
    const char *name;
    int (*open)(const struct ferry_coord_options *o, void **self, char *err, size_t errlen);
    void (*close)(void *self);
    int (*get)(void *self, const char *key, char **value, size_t *len, int64_t *version, char *err,
               size_t errlen);
    int (*put)(void *self, const char *key, const char *value, size_t len, int64_t *version,
               char *err, size_t errlen);
    int (*del)(void *self, const char *key, char *err, size_t errlen);
    int (*watch)(void *self, const char *key, int64_t version, int timeout_ms,
                 volatile sig_atomic_t *cancel, char **value, size_t *len, int64_t *new_version,
                 char *err, size_t errlen);
    int (*register_member)(void *self, const char *id, const char *json, char *err, size_t errlen);
    int (*members)(void *self, struct ferry_coord_member **out, size_t *n, char *err,
                   size_t errlen);
    int (*campaign)(void *self, const char *value, int64_t *fence, volatile sig_atomic_t *cancel,
                    char *err, size_t errlen);
    bool (*leading)(void *self);
    int (*resign)(void *self, char *err, size_t errlen);
    int (*leader)(void *self, char **value, int64_t *fence, char *err, size_t errlen);
};

extern const struct ferry_coord_ops ferry_coord_etcd_ops;      /* config/etcd.c */
extern const struct ferry_coord_ops ferry_coord_zookeeper_ops; /* config/zookeeper.c */

#endif
