/* ferry: the etcd backend's internals, shared by its files. Private to config/.
 *
 *   etcd.c           open, close and the ops table
 *   etcd_http.c      the JSON gateway over libcurl: base64 and JSON, endpoint failover, auth
 *   etcd_kv.c        keys, values and watches
 *   etcd_session.c   the lease, its keepalive thread, and the members registered under it
 *   etcd_election.c  the leader election
 *
 * Unless said otherwise, every function here may be called from any thread, takes e->mu
 * itself when it needs it (never held across a request), and follows the errbuf convention. */
#ifndef FERRY_CONFIG_ETCD_INTERNAL_H
#define FERRY_CONFIG_ETCD_INTERNAL_H

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/coord.h"

#define ETCD_MAX_RESPONSE (64u << 20) /* a larger answer is an error, not an allocation */
#define ETCD_POLL_MS      100         /* how often a watch looks at its cancel flag and deadline */

struct etcd_member {
    char *id;
    char *json;
};

struct etcd {
    char **endpoints;
    size_t nendpoints;
    atomic_size_t cur; /* the endpoint that answered last */
    char *prefix;
    long ttl_s;
    char *user, *password, *ca_file, *cert_file, *key_file;
    const char *scheme;

    /* held across the puts of a registration or of a session rebuild, so that a member is
     * either seen by the rebuild or put under the new lease; guards members */
    pthread_mutex_t reg_mu;
    struct etcd_member *members;
    size_t nmembers;

    pthread_mutex_t mu; /* guards everything below; never held during a request */
    pthread_cond_t cond;
    char *token;
    int64_t lease;  /* 0 while lost and not yet granted again */
    int64_t stale;  /* a lease given up while etcd may still hold it: revoked on rebuild */
    uint64_t epoch; /* bumped whenever the lease changes */
    char *cand_key; /* this session's candidate key, while campaigning or leading */
    atomic_bool leading;
    bool stop;
    pthread_t keepalive;
    bool thread_started;
};

/* ---- etcd_http.c: the gateway ------------------------------------------------------- */

/* Monotonic milliseconds. */
/* curl_global_init, once per process; before the first easy handle. */
void ferry_etcd_http_init(void);

/* Decodes base64 s into *out (malloc'd, NUL-terminated; *outlen bytes when outlen is not
 * NULL); -1 on bad input or no memory, *out untouched. */
int ferry_etcd_b64_decode(const char *s, char **out, size_t *outlen);
/* An int64 field, which the gateway writes as a string; 0 when absent. */
int64_t ferry_etcd_jint(const json_t *o, const char *field);
/* The base64 JSON string of n bytes (a new reference), NULL when out of memory. */
json_t *ferry_etcd_jb64(const char *s, size_t n);
/* ferry_etcd_jb64 of a NUL-terminated key; s is never NULL. */
json_t *ferry_etcd_jkey(const char *s);
/* "a/b/" → "a/b0": the end of the range of every key starting with prefix (new reference). */
json_t *ferry_etcd_jrange_end(const char *prefix);

/* An answer being received: data (malloc'd, NUL-terminated) grows up to ETCD_MAX_RESPONSE. */
struct etcd_buf {
    char *data;
    size_t len;
    bool overflow;
};
/* A CURLOPT_WRITEFUNCTION appending to the struct etcd_buf in arg. */
size_t ferry_etcd_buf_write(char *p, size_t size, size_t n, void *arg);
/* An easy handle that POSTs body (borrowed: it must outlive the handle) to endpoint i's
 * /v3/<path>, with the token when there is one; *headers (the caller frees them with
 * curl_slist_free_all after the handle) and curlerr (CURL_ERROR_SIZE bytes) are set up for it.
 * NULL when out of memory. */
CURL *ferry_etcd_easy_new(struct etcd *e, size_t i, const char *path, const char *body,
                          struct curl_slist **headers, char *curlerr);
/* The gRPC error in a gateway answer (unary: top level; streams: under "error"): true with
 * *code and *msg (borrowed from r). */
bool ferry_etcd_grpc_error(const json_t *r, int *code, const char **msg);
/* True when the error says the token was refused or is stale. */
bool ferry_etcd_auth_rejected(int code, const char *msg);
/* One unary gateway call: body (stolen, even on failure; NULL counts as out of memory) to
 * /v3/<path>, trying each endpoint in turn on connection failure; 0 with the answer (its
 * "result" for streaming endpoints) in *out, the caller's. Re-authenticates once when the
 * token is rejected. FERRY_ERR_RETRY when no endpoint answers or etcd says unavailable. */
int ferry_etcd_call(struct etcd *e, const char *path, json_t *body, long timeout_ms, json_t **out,
                    char *err, size_t errlen);
/* Drops the token and asks for a new one as e->user; on failure there is no token. */
int ferry_etcd_authenticate(struct etcd *e, char *err, size_t errlen);

/* How long a unary call may take: the lease's TTL. */
static inline long ferry_etcd_unary_timeout(const struct etcd *e)
{
    return e->ttl_s * 1000;
}

/* ---- etcd_kv.c: keys, values, watches ------------------------------------------------ */

/* prefix/key (malloc'd), NULL when out of memory. */
char *ferry_etcd_full_key(const struct etcd *e, const char *key);
/* The value of a kv object into *value / *len (malloc'd; len may be NULL); -1 on bad base64
 * or no memory. */
int ferry_etcd_kv_value(const json_t *kv, char **value, size_t *len);
/* Puts the full key fkey, with the lease when it is not 0; *version (may be NULL) the new
 * store revision. */
int ferry_etcd_put_full(struct etcd *e, const char *fkey, const char *value, size_t len,
                        int64_t lease, int64_t *version, char *err, size_t errlen);
/* Deletes the full key fkey; 1 when it did not exist. */
int ferry_etcd_del_full(struct etcd *e, const char *fkey, char *err, size_t errlen);
/* Ranges every key below the full prefix fprefix ("…/members/"), with the fields of extra
 * (stolen; may be NULL) added to the request: 0 with the answer in *r, the caller's. */
int ferry_etcd_range_prefix(struct etcd *e, const char *fprefix, json_t *extra, json_t **r,
                            char *err, size_t errlen);
/* Waits until fkey's mod revision is no longer `version` (0: absent), until the deadline
 * (monotonic ms) or *cancel: 0 with the new value (len may be NULL), or 1. While the service
 * is away it tries again until the deadline, then fails with FERRY_ERR_RETRY. */
int ferry_etcd_watch_full(struct etcd *e, const char *fkey, int64_t version, int64_t deadline,
                          volatile sig_atomic_t *cancel, char **value, size_t *len,
                          int64_t *new_version, char *err, size_t errlen);

int ferry_etcd_get(void *self, const char *key, char **value, size_t *len, int64_t *version,
                   char *err, size_t errlen);
int ferry_etcd_put(void *self, const char *key, const char *value, size_t len, int64_t *version,
                   char *err, size_t errlen);
int ferry_etcd_del(void *self, const char *key, char *err, size_t errlen);
int ferry_etcd_watch(void *self, const char *key, int64_t version, int timeout_ms,
                     volatile sig_atomic_t *cancel, char **value, size_t *len, int64_t *new_version,
                     char *err, size_t errlen);

/* ---- etcd_session.c: lease, keepalive, members ---------------------------------------- */

/* Grants a lease of e->ttl_s seconds: its id in *lease. */
int ferry_etcd_grant(struct etcd *e, int64_t *lease, char *err, size_t errlen);
/* Revokes a lease: its keys (members, the candidate) go at once. */
int ferry_etcd_revoke(struct etcd *e, int64_t lease, char *err, size_t errlen);
/* The keepalive thread's body (pthread_create's start routine, arg: the struct etcd): runs
 * until e->stop is set under e->mu and e->cond is signalled. */
void *ferry_etcd_keepalive_main(void *arg);

int ferry_etcd_register(void *self, const char *id, const char *json, char *err, size_t errlen);
int ferry_etcd_members(void *self, struct ferry_coord_member **out, size_t *n, char *err,
                       size_t errlen);

/* ---- etcd_election.c ------------------------------------------------------------------ */

int ferry_etcd_campaign(void *self, const char *value, int64_t *fence,
                        volatile sig_atomic_t *cancel, char *err, size_t errlen);
bool ferry_etcd_leading(void *self);
int ferry_etcd_resign(void *self, char *err, size_t errlen);
int ferry_etcd_leader(void *self, char **value, int64_t *fence, char *err, size_t errlen);

#endif
