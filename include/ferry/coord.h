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
 * Every function may be called from any thread. Functions return 0 (or the positive value
 * documented) on success and a negative enum ferry_err with a message in err otherwise;
 * FERRY_ERR_RETRY means the service could not be reached or answered in time. */
#ifndef FERRY_COORD_H
#define FERRY_COORD_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ferry_coord_backend { FERRY_COORD_ETCD, FERRY_COORD_ZOOKEEPER };

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
 * ttl_ms is set to 10000. */
int ferry_coord_url_parse(const char *url, struct ferry_coord_options *o, char *err, size_t errlen);
void ferry_coord_options_release(struct ferry_coord_options *o);
/* An endpoint is host:port: a non-empty host and a port of digits only, 1 to 65535. The same
 * rule for URLs and for the coordination section's endpoints. */
bool ferry_coord_endpoint_ok(const char *s, size_t n);
/* "etcd://127.0.0.1:2379/ferry/prod": the URL that names these options, in buf. */
const char *ferry_coord_url_format(const struct ferry_coord_options *o, char *buf, size_t len);

struct ferry_coordination_config;
/* The options of a process: from `url` (--coord) when given, else from the configuration's
 * coordination section; with both, the section still supplies ttl_ms, the credentials and the
 * TLS files (the URL names the service and the prefix; the section's backend may be absent).
 * `local` may be NULL. Fails with FERRY_ERR_INVALID when neither names a backend. Release with
 * ferry_coord_options_release. */
int ferry_coord_resolve(const char *url, const struct ferry_coordination_config *local,
                        struct ferry_coord_options *o, char *err, size_t errlen);

struct ferry_coord;

/* Connects and opens the session (grants the lease). Fails with FERRY_ERR_RETRY when no
 * endpoint answers within ttl_ms. */
int ferry_coord_open(const struct ferry_coord_options *o, struct ferry_coord **out, char *err,
                     size_t errlen);
/* Resigns if leading, deletes this session's ephemeral entries (revokes the lease / closes the
 * session) and frees everything. */
void ferry_coord_close(struct ferry_coord *c);

/* ---- keys and values ---------------------------------------------------------------- */

/* Reads key. Returns 0 with *value (malloc'd, NUL-terminated, *len bytes without the NUL) and
 * *version (> 0: etcd mod_revision, zk mzxid) set, or 1 when the key does not exist. */
int ferry_coord_get(struct ferry_coord *c, const char *key, char **value, size_t *len,
                    int64_t *version, char *err, size_t errlen);
/* Creates or replaces key (persistent). *version, when not NULL, is the new version. */
int ferry_coord_put(struct ferry_coord *c, const char *key, const char *value, size_t len,
                    int64_t *version, char *err, size_t errlen);
/* Deletes key; 1 when it did not exist. */
int ferry_coord_delete(struct ferry_coord *c, const char *key, char *err, size_t errlen);

/* Waits until key holds a version other than `version` (0: the caller saw no key), for at most
 * timeout_ms, returning early when *cancel becomes non-zero (checked at least every 200 ms).
 * Returns 0 with the new *value / *len / *version (value NULL and version 0 when the key was
 * deleted), or 1 on timeout or cancel. A change made while nobody was waiting is still seen:
 * the comparison is with `version`, not with the moment of the call. */
int ferry_coord_watch(struct ferry_coord *c, const char *key, int64_t version, int timeout_ms,
                      volatile sig_atomic_t *cancel, char **value, size_t *len,
                      int64_t *new_version, char *err, size_t errlen);

/* ---- membership --------------------------------------------------------------------- */

struct ferry_coord_member {
    char *id;
    char *value; /* what was registered: a JSON object */
};

/* Registers (or replaces) prefix/members/<id> as an ephemeral entry of this session. The
 * backend remembers it and registers it again after rebuilding a lost session. */
int ferry_coord_register(struct ferry_coord *c, const char *id, const char *json, char *err,
                         size_t errlen);
/* Every live member, sorted by id. Free with ferry_coord_members_free. */
int ferry_coord_members(struct ferry_coord *c, struct ferry_coord_member **out, size_t *n,
                        char *err, size_t errlen);
void ferry_coord_members_free(struct ferry_coord_member *m, size_t n);

/* ---- leader election (prefix/leader) ------------------------------------------------- */

/* Campaigns with `value` (who this candidate is) and blocks until this session leads, or
 * until *cancel becomes non-zero (checked at least every 200 ms). Returns 0 when leading, with
 * *fence set to the leadership's token: a number that every later leadership exceeds (etcd:
 * the create revision of the candidate's key; ZooKeeper: its sequence number). Returns 1 when
 * cancelled (the candidacy is withdrawn). */
int ferry_coord_campaign(struct ferry_coord *c, const char *value, int64_t *fence,
                         volatile sig_atomic_t *cancel, char *err, size_t errlen);
/* True while this session holds the leadership it won: false once it resigned or once the
 * lease or session is known lost (a keepalive refused or late past the TTL, a zk session
 * expired or disconnected for longer than its timeout). Cheap: a flag. */
bool ferry_coord_leading(struct ferry_coord *c);
/* Gives the leadership up at once (deletes the candidate's key) so the next candidate leads
 * after about one round trip. 0 also when not leading. */
int ferry_coord_resign(struct ferry_coord *c, char *err, size_t errlen);
/* Who leads now: 0 with *value (malloc'd) and *fence, or 1 when nobody does. */
int ferry_coord_leader(struct ferry_coord *c, char **value, int64_t *fence, char *err,
                       size_t errlen);

/* ---- backends ------------------------------------------------------------------------ */

/* Each backend fills one of these; ferry_coord_* dispatch to it. `self` is the backend's own
 * state, returned by open. Contracts are those of the functions above. */
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
