/* ferry: the etcd coordination backend, through etcd's JSON gateway (/v3/…) with libcurl.
 *
 * Every call builds its own curl easy handle, so any thread may call any function. The gateway
 * speaks base64 for keys and values and strings for int64s. Endpoints are tried in turn; the
 * one that answered last is tried first next time.
 *
 * The session is one lease, kept alive by a thread of its own every TTL/3. When the lease is
 * known lost (a keepalive answers TTL 0, or none succeeded for longer than the TTL), the
 * thread clears the leadership at once, grants a new lease and puts every registered member
 * again.
 *
 * The election needs no herd: each session's candidate is prefix/leader/<lease in hex>; the
 * one with the lowest create revision leads, and every other waits for the deletion of the
 * candidate just before its own. */
#define _GNU_SOURCE /* asprintf */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/coord.h"
#include "ferry/err.h"
#include "ferry/log.h"

#define MAX_RESPONSE (64u << 20) /* a larger answer is an error, not an allocation */
#define POLL_MS      100         /* how often a watch looks at its cancel flag and deadline */

struct member {
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
    struct member *members;
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

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- base64 and JSON helpers -------------------------------------------------------- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const void *data, size_t n)
{
    const unsigned char *p = data;
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        *o++ = B64[v >> 18 & 63];
        *o++ = B64[v >> 12 & 63];
        *o++ = i + 1 < n ? B64[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? B64[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* Decodes s into *out (malloc'd, NUL-terminated); -1 on bad input or no memory. */
static int b64_decode(const char *s, char **out, size_t *outlen)
{
    size_t n = strlen(s), at = 0;
    char *buf = malloc(n / 4 * 3 + 3);
    uint32_t v = 0;
    int bits = 0;
    if (!buf)
        return -1;
    for (const char *c = s; *c && *c != '='; c++) {
        const char *pos = strchr(B64, *c);
        if (!pos) {
            free(buf);
            return -1;
        }
        v = v << 6 | (uint32_t)(pos - B64);
        if ((bits += 6) >= 8) {
            bits -= 8;
            buf[at++] = (char)(v >> bits & 0xff);
        }
    }
    buf[at] = '\0';
    *out = buf;
    if (outlen)
        *outlen = at;
    return 0;
}

/* An int64 field, which the gateway writes as a string; 0 when absent. */
static int64_t jint(const json_t *o, const char *field)
{
    json_t *v = json_object_get(o, field);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static json_t *jb64(const char *s, size_t n)
{
    char *b = b64_encode(s, n);
    json_t *j = b ? json_string(b) : NULL;
    free(b);
    return j;
}

/* s is never NULL: cppcheck cannot tell, through the campaign's hand-over of its key */
static json_t *jkey(const char *s)
{
    // cppcheck-suppress nullPointerRedundantCheck
    return jb64(s, strlen(s));
}

/* "a/b/" → "a/b0": the end of the range of every key starting with prefix. */
static json_t *jrange_end(const char *prefix)
{
    char *s = strdup(prefix);
    size_t n = strlen(prefix);
    if (!s)
        return NULL;
    while (n > 0 && (unsigned char)s[n - 1] == 0xff)
        n--;
    s[n - 1]++;
    json_t *j = jb64(s, n);
    free(s);
    return j;
}

static char *full_key(const struct etcd *e, const char *key)
{
    char *s;
    return asprintf(&s, "%s/%s", e->prefix, key) < 0 ? NULL : s;
}

/* The value of a kv object into *value / *len (malloc'd); -1 on bad base64 or no memory. */
static int kv_value(const json_t *kv, char **value, size_t *len)
{
    const char *v = json_string_value(json_object_get(kv, "value"));
    return b64_decode(v ? v : "", value, len);
}

/* ---- HTTP --------------------------------------------------------------------------- */

struct buf {
    char *data;
    size_t len;
    bool overflow;
};

static size_t buf_write(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    size_t add = size * n;
    if (b->len + add > MAX_RESPONSE) {
        b->overflow = true;
        return 0;
    }
    char *d = realloc(b->data, b->len + add + 1);
    if (!d)
        return 0;
    memcpy(d + b->len, p, add);
    b->data = d;
    b->len += add;
    d[b->len] = '\0';
    return add;
}

/* An easy handle that POSTs body to endpoint i's /v3/<path>; NULL when out of memory. */
static CURL *easy_new(struct etcd *e, size_t i, const char *path, const char *body,
                      struct curl_slist **headers, char *curlerr)
{
    char url[512], auth[1024];
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    snprintf(url, sizeof(url), "%s://%s/v3/%s", e->scheme, e->endpoints[i], path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curlerr);
    curlerr[0] = '\0';
    if (e->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, e->ca_file);
    if (e->cert_file)
        curl_easy_setopt(h, CURLOPT_SSLCERT, e->cert_file);
    if (e->key_file)
        curl_easy_setopt(h, CURLOPT_SSLKEY, e->key_file);
    *headers = curl_slist_append(NULL, "Content-Type: application/json");
    pthread_mutex_lock(&e->mu);
    if (e->token) {
        snprintf(auth, sizeof(auth), "Authorization: %s", e->token);
        *headers = curl_slist_append(*headers, auth);
    }
    pthread_mutex_unlock(&e->mu);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, *headers);
    return h;
}

/* The gRPC error in a gateway answer (unary: top level; streams: under "error"). */
static bool grpc_error(const json_t *r, int *code, const char **msg)
{
    json_t *er = json_object_get(r, "error");
    if (!er)
        return false;
    if (json_is_object(er)) {
        *code = (int)json_integer_value(json_object_get(er, "grpc_code"));
        *msg = json_string_value(json_object_get(er, "message"));
    } else {
        *code = (int)json_integer_value(json_object_get(r, "code"));
        *msg = json_string_value(er);
    }
    if (!*msg)
        *msg = "unknown error";
    return true;
}

static bool auth_rejected(int code, const char *msg)
{
    return code == 16 || strstr(msg, "auth token") || strstr(msg, "auth store is old");
}

/* POSTs body to /v3/<path>, trying each endpoint in turn on connection failure, and parses
 * the answer into *out (the caller's). gRPC errors are left in *out for the caller. */
static int post(struct etcd *e, const char *path, const char *body, long timeout_ms, json_t **out,
                char *err, size_t errlen)
{
    size_t start = atomic_load(&e->cur), n = e->nendpoints;
    char curlerr[CURL_ERROR_SIZE];
    int rc = 0;

    for (size_t k = 0; k < n; k++) {
        size_t i = (start + k) % n;
        struct buf b = {0};
        struct curl_slist *headers = NULL;
        long status = 0;
        CURL *h = easy_new(e, i, path, body, &headers, curlerr);
        if (!h)
            return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, buf_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 2000 ? timeout_ms : 2000);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
        CURLcode cc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(h);
        curl_slist_free_all(headers);
        if (cc != CURLE_OK) {
            rc = ferry_seterr(err, errlen, b.overflow ? FERRY_ERR_FATAL : FERRY_ERR_RETRY,
                              "etcd: %s: %s", e->endpoints[i],
                              b.overflow   ? "answer larger than 64 MiB"
                              : curlerr[0] ? curlerr
                                           : curl_easy_strerror(cc));
            free(b.data);
            if (b.overflow)
                return rc;
            continue;
        }
        atomic_store(&e->cur, i);
        *out = b.data ? json_loads(b.data, 0, NULL) : NULL;
        if (!*out) {
            rc = ferry_seterr(err, errlen, FERRY_ERR_FATAL, "etcd: %s: /v3/%s: http %ld: %.200s",
                              e->endpoints[i], path, status, b.data ? b.data : "empty answer");
            free(b.data);
            return rc;
        }
        free(b.data);
        return 0;
    }
    return rc;
}

static int authenticate(struct etcd *e, char *err, size_t errlen);

/* One unary gateway call: body (stolen) to /v3/<path>, the answer in *out (the caller's).
 * Re-authenticates once when the token is rejected. */
static int call(struct etcd *e, const char *path, json_t *body, long timeout_ms, json_t **out,
                char *err, size_t errlen)
{
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    int rc = 0;
    json_decref(body);
    if (!s)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    for (int attempt = 0;; attempt++) {
        json_t *r = NULL;
        int code;
        const char *msg;
        if ((rc = post(e, path, s, timeout_ms, &r, err, errlen)) < 0)
            break;
        if (!grpc_error(r, &code, &msg)) {
            json_t *res = json_object_get(r, "result"); /* streaming endpoints wrap it */
            *out = res ? json_incref(res) : json_incref(r);
            json_decref(r);
            break;
        }
        if (attempt == 0 && e->user && auth_rejected(code, msg) &&
            authenticate(e, err, errlen) == 0) {
            json_decref(r);
            continue;
        }
        rc = ferry_seterr(err, errlen, code == 14 || code == 4 ? FERRY_ERR_RETRY : FERRY_ERR_FATAL,
                          "etcd: %s: /v3/%s: %s", e->endpoints[atomic_load(&e->cur)], path, msg);
        json_decref(r);
        break;
    }
    free(s);
    return rc;
}

static long unary_timeout(const struct etcd *e)
{
    return e->ttl_s * 1000;
}

static int authenticate(struct etcd *e, char *err, size_t errlen)
{
    json_t *r = NULL;
    pthread_mutex_lock(&e->mu);
    free(e->token);
    e->token = NULL;
    pthread_mutex_unlock(&e->mu);
    json_t *body =
        json_pack("{s:s,s:s}", "name", e->user, "password", e->password ? e->password : "");
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!s)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    int rc = post(e, "auth/authenticate", s, unary_timeout(e), &r, err, errlen);
    free(s);
    if (rc < 0)
        return rc;
    int code;
    const char *msg = "no token in the answer";
    const char *token = json_string_value(json_object_get(r, "token"));
    if (grpc_error(r, &code, &msg) || !token) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_INVALID, "etcd: authenticate as %s: %s", e->user,
                          msg);
    } else {
        pthread_mutex_lock(&e->mu);
        e->token = strdup(token);
        pthread_mutex_unlock(&e->mu);
    }
    json_decref(r);
    return rc;
}

/* ---- keys and values ---------------------------------------------------------------- */

/* Ranges the full key fkey: *kv (the caller's, NULL when absent) and *rev (store revision). */
static int range_one(struct etcd *e, const char *fkey, json_t **kv, int64_t *rev, char *err,
                     size_t errlen)
{
    json_t *r = NULL;
    int rc = call(e, "kv/range", json_pack("{s:o}", "key", jkey(fkey)), unary_timeout(e), &r, err,
                  errlen);
    if (rc < 0)
        return rc;
    json_t *first = json_array_get(json_object_get(r, "kvs"), 0);
    *kv = first ? json_incref(first) : NULL;
    if (rev)
        *rev = jint(json_object_get(r, "header"), "revision");
    json_decref(r);
    return 0;
}

/* A kv into the caller's value / len / version; 1 when kv is NULL. */
static int kv_out(const json_t *kv, char **value, size_t *len, int64_t *version, char *err,
                  size_t errlen)
{
    if (!kv)
        return 1;
    if (kv_value(kv, value, len) < 0)
        return ferry_seterr(err, errlen, FERRY_ERR_FATAL, "etcd: a value is not base64");
    *version = jint(kv, "mod_revision");
    return 0;
}

static int etcd_get(void *self, const char *key, char **value, size_t *len, int64_t *version,
                    char *err, size_t errlen)
{
    struct etcd *e = self;
    json_t *kv = NULL;
    char *fkey = full_key(e, key);
    if (!fkey)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    int rc = range_one(e, fkey, &kv, NULL, err, errlen);
    free(fkey);
    if (rc == 0)
        rc = kv_out(kv, value, len, version, err, errlen);
    json_decref(kv);
    return rc;
}

/* Puts the full key fkey, with the lease when it is not 0. */
static int put_full(struct etcd *e, const char *fkey, const char *value, size_t len, int64_t lease,
                    int64_t *version, char *err, size_t errlen)
{
    json_t *r = NULL;
    json_t *body = json_pack("{s:o,s:o}", "key", jkey(fkey), "value", jb64(value, len));
    if (body && lease)
        json_object_set_new(body, "lease", json_integer(lease));
    int rc = call(e, "kv/put", body, unary_timeout(e), &r, err, errlen);
    if (rc == 0 && version)
        *version = jint(json_object_get(r, "header"), "revision");
    json_decref(r);
    return rc;
}

static int etcd_put(void *self, const char *key, const char *value, size_t len, int64_t *version,
                    char *err, size_t errlen)
{
    struct etcd *e = self;
    char *fkey = full_key(e, key);
    if (!fkey)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    int rc = put_full(e, fkey, value, len, 0, version, err, errlen);
    free(fkey);
    return rc;
}

static int del_full(struct etcd *e, const char *fkey, char *err, size_t errlen)
{
    json_t *r = NULL;
    int rc = call(e, "kv/deleterange", json_pack("{s:o}", "key", jkey(fkey)), unary_timeout(e), &r,
                  err, errlen);
    if (rc == 0)
        rc = jint(r, "deleted") == 0 ? 1 : 0;
    json_decref(r);
    return rc;
}

static int etcd_del(void *self, const char *key, char *err, size_t errlen)
{
    struct etcd *e = self;
    char *fkey = full_key(e, key);
    if (!fkey)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    int rc = del_full(e, fkey, err, errlen);
    free(fkey);
    return rc;
}

/* ---- watch -------------------------------------------------------------------------- */

/* S_BROKEN: no stream could be opened; S_RESUME: an open stream broke */
enum stream_end { S_BROKEN, S_RESUME, S_EVENT, S_COMPACTED, S_STOPPED, S_FAILED };

struct stream {
    struct buf b;
    enum stream_end end;
    bool created;
    json_t *kv; /* the event's kv (PUT), NULL for DELETE */
    char msg[256];
    volatile sig_atomic_t *cancel;
    int64_t deadline;
};

/* One message of the watch stream; false once the stream has given its answer. */
static bool stream_message(struct stream *st, const char *line)
{
    json_t *m = json_loads(line, 0, NULL), *r = json_object_get(m, "result");
    int code;
    const char *msg;
    bool more = true;
    if (m && grpc_error(m, &code, &msg)) {
        snprintf(st->msg, sizeof(st->msg), "%s", msg);
        st->end = auth_rejected(code, msg) ? S_BROKEN : S_FAILED;
        more = false;
    } else if (json_is_true(json_object_get(r, "canceled"))) {
        const char *why = json_string_value(json_object_get(r, "cancel_reason"));
        snprintf(st->msg, sizeof(st->msg), "watch cancelled: %s", why ? why : "no reason");
        st->end = jint(r, "compact_revision") ? S_COMPACTED : S_FAILED;
        more = false;
    } else if (json_is_true(json_object_get(r, "created"))) {
        st->created = true;
    }
    json_t *ev = json_array_get(json_object_get(r, "events"), 0);
    if (more && ev) {
        const char *type = json_string_value(json_object_get(ev, "type"));
        st->kv = type && !strcmp(type, "DELETE") ? NULL : json_incref(json_object_get(ev, "kv"));
        st->end = S_EVENT;
        more = false;
    }
    json_decref(m);
    return more;
}

/* The gateway writes one JSON message per line. Thread: the watching caller's. */
static size_t stream_write(char *p, size_t size, size_t n, void *arg)
{
    struct stream *st = arg;
    if (buf_write(p, size, n, &st->b) != size * n)
        return 0;
    char *nl;
    while ((nl = memchr(st->b.data, '\n', st->b.len))) {
        *nl = '\0';
        bool more = stream_message(st, st->b.data);
        st->b.len -= (size_t)(nl + 1 - st->b.data);
        memmove(st->b.data, nl + 1, st->b.len + 1);
        if (!more)
            return 0; /* aborts the transfer: the answer is in st */
    }
    return size * n;
}

/* Thread: the watching caller's; called at least every POLL_MS by watch_stream's loop. */
static int stream_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct stream *st = arg;
    (void)dt, (void)dn, (void)ut, (void)un;
    if ((st->cancel && *st->cancel) || now_ms() >= st->deadline) {
        st->end = S_STOPPED;
        return 1;
    }
    return 0;
}

/* Watches fkey from revision `from` on the current endpoint until its first event, the
 * deadline or *cancel. The event's kv (NULL: deleted) goes to *kv. */
static enum stream_end watch_stream(struct etcd *e, const char *fkey, int64_t from,
                                    int64_t deadline, volatile sig_atomic_t *cancel, json_t **kv,
                                    char *msg, size_t msglen)
{
    struct stream st = {.end = S_BROKEN, .cancel = cancel, .deadline = deadline};
    struct curl_slist *headers = NULL;
    char curlerr[CURL_ERROR_SIZE];
    size_t i = atomic_load(&e->cur);
    json_t *body = json_pack("{s:{s:o,s:I}}", "create_request", "key", jkey(fkey), "start_revision",
                             (json_int_t)from);
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    CURL *h = s ? easy_new(e, i, "watch", s, &headers, curlerr) : NULL;
    CURLM *m = h ? curl_multi_init() : NULL;
    json_decref(body);
    if (!m) {
        snprintf(msg, msglen, "out of memory");
        goto done;
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, stream_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, stream_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &st);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_multi_add_handle(m, h);
    /* the multi loop wakes every POLL_MS, so the progress callback sees *cancel in time */
    for (int running = 1; running;) {
        if (curl_multi_perform(m, &running) != CURLM_OK)
            break;
        if (running)
            curl_multi_poll(m, NULL, 0, POLL_MS, NULL);
    }
    CURLMsg *cm;
    int left;
    while ((cm = curl_multi_info_read(m, &left))) {
        if (cm->msg == CURLMSG_DONE && st.end == S_BROKEN)
            snprintf(msg, msglen, "etcd: %s: watch: %s", e->endpoints[i],
                     cm->data.result == CURLE_OK ? "stream ended"
                     : curlerr[0]                ? curlerr
                                                 : curl_easy_strerror(cm->data.result));
    }
    if (st.end == S_FAILED || st.end == S_COMPACTED)
        snprintf(msg, msglen, "etcd: %s: watch: %s", e->endpoints[i], st.msg);
    if (st.end == S_BROKEN && st.created)
        st.end = S_RESUME;
    else if (st.end == S_BROKEN)
        atomic_store(&e->cur, (i + 1) % e->nendpoints); /* the next try goes elsewhere */
    curl_multi_remove_handle(m, h);
done:
    curl_multi_cleanup(m);
    curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    free(s);
    free(st.b.data);
    *kv = st.kv;
    return st.end;
}

/* Sleeps a little before the next try; false once cancelled or past the deadline. */
static bool watch_pause(int64_t deadline, volatile sig_atomic_t *cancel)
{
    int64_t left = deadline - now_ms();
    if ((cancel && *cancel) || left <= 0)
        return false;
    left = left < 2 * POLL_MS ? left : 2 * POLL_MS;
    nanosleep(&(struct timespec){.tv_nsec = (long)left * 1000000}, NULL);
    return true;
}

/* Waits until fkey's mod revision is no longer `version` (0: absent), until the deadline
 * (monotonic ms) or *cancel: 0 with the new value, or 1. While the service is away it tries
 * again until the deadline, then fails with FERRY_ERR_RETRY. */
static int watch_full(struct etcd *e, const char *fkey, int64_t version, int64_t deadline,
                      volatile sig_atomic_t *cancel, char **value, size_t *len,
                      int64_t *new_version, char *err, size_t errlen)
{
    for (;;) {
        json_t *kv = NULL;
        int64_t rev = 0;
        char msg[512];
        enum stream_end end = S_EVENT;
        int rc = range_one(e, fkey, &kv, &rev, err, errlen);
        if (rc == FERRY_ERR_RETRY && watch_pause(deadline, cancel))
            continue;
        if (rc < 0)
            return rc;
        if ((kv ? jint(kv, "mod_revision") : 0) == version) { /* else: changed already */
            json_decref(kv);
            kv = NULL;
            if ((cancel && *cancel) || now_ms() >= deadline)
                return 1;
            /* every event after the range is the change we wait for */
            end = watch_stream(e, fkey, rev + 1, deadline, cancel, &kv, msg, sizeof(msg));
        }
        switch (end) {
        case S_EVENT:
            *new_version = 0;
            *value = NULL;
            if (len)
                *len = 0;
            rc = kv ? kv_out(kv, value, len, new_version, err, errlen) : 0;
            json_decref(kv);
            return rc;
        case S_STOPPED:
            return 1;
        case S_FAILED:
            return ferry_seterr(err, errlen, FERRY_ERR_FATAL, "%s", msg);
        case S_COMPACTED:
        case S_RESUME: /* range again: a change meanwhile is seen there */
            ferry_debug("coord", "%s: watching again", msg);
            watch_pause(deadline, cancel);
            break;
        case S_BROKEN:
            if (e->user && strstr(msg, "auth"))
                authenticate(e, err, errlen);
            if (!watch_pause(deadline, cancel))
                return ferry_seterr(err, errlen, FERRY_ERR_RETRY, "%s", msg);
            break;
        }
    }
}

static int etcd_watch(void *self, const char *key, int64_t version, int timeout_ms,
                      volatile sig_atomic_t *cancel, char **value, size_t *len,
                      int64_t *new_version, char *err, size_t errlen)
{
    struct etcd *e = self;
    char *fkey = full_key(e, key);
    if (!fkey)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    int rc = watch_full(e, fkey, version, now_ms() + timeout_ms, cancel, value, len, new_version,
                        err, errlen);
    free(fkey);
    return rc;
}

/* ---- session ------------------------------------------------------------------------ */

static int grant(struct etcd *e, int64_t *lease, char *err, size_t errlen)
{
    json_t *r = NULL;
    int rc = call(e, "lease/grant", json_pack("{s:I}", "TTL", (json_int_t)e->ttl_s),
                  unary_timeout(e), &r, err, errlen);
    if (rc == 0 && (*lease = jint(r, "ID")) == 0)
        rc = ferry_seterr(err, errlen, FERRY_ERR_FATAL, "etcd: lease grant: no lease id");
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
        json_t *r = NULL;
        int rc = call(e, "lease/revoke", json_pack("{s:I}", "ID", (json_int_t)stale),
                      unary_timeout(e), &r, err, sizeof(err));
        json_decref(r);
        pthread_mutex_lock(&e->mu);
        if (rc == 0 || strstr(err, "not found"))
            e->stale = 0;
        pthread_mutex_unlock(&e->mu);
    }
    if (grant(e, &lease, err, sizeof(err)) < 0) {
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
        if (put_full(e, fkey, json, strlen(json), lease, NULL, err, sizeof(err)) < 0)
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
    int rc = call(e, "lease/keepalive", json_pack("{s:I}", "ID", (json_int_t)lease), timeout_ms, &r,
                  err, errlen);
    if (rc == 0)
        *ttl = jint(r, "TTL");
    json_decref(r);
    return rc;
}

/* Thread: the session's own; sleeps on e->cond between keepalives. */
static void *keepalive_main(void *arg)
{
    struct etcd *e = arg;
    long interval = e->ttl_s * 1000 / 3;
    int64_t last_ok = now_ms(); /* when the last successful keepalive was sent */
    bool failed = false;
    char err[512];

    pthread_mutex_lock(&e->mu);
    while (!e->stop) {
        /* a failed keepalive is tried again soon: the lease is lost at last_ok + TTL */
        long wait = !e->lease ? 500 : failed ? 250 : interval;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += wait % 1000 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        while (!e->stop && pthread_cond_timedwait(&e->cond, &e->mu, &ts) != ETIMEDOUT)
            ;
        if (e->stop)
            break;
        int64_t lease = e->lease, ttl = 0, sent = now_ms();
        pthread_mutex_unlock(&e->mu);
        err[0] = '\0';
        failed = false;
        if (lease == 0) {
            session_rebuild(e);
            last_ok = now_ms();
        } else if (keepalive_once(e, lease, &ttl, interval, err, sizeof(err)) == 0 && ttl > 0) {
            last_ok = sent;
        } else if (!err[0] || strstr(err, "lease not found")) {
            lease_lost(e, err[0] ? err : "the keepalive found no such lease");
        } else if (now_ms() - last_ok > e->ttl_s * 1000) {
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
    pthread_condattr_t ca;
    bool ok = true;
    int rc;

    pthread_once(&curl_once, curl_init_once);
    if (!e)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->reg_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->cond, &ca);
    pthread_condattr_destroy(&ca);
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
    if ((e->user && (rc = authenticate(e, err, errlen)) < 0) ||
        (rc = grant(e, &e->lease, err, errlen)) < 0) {
        etcd_free(e);
        return rc;
    }
    if (pthread_create(&e->keepalive, NULL, keepalive_main, e) != 0) {
        etcd_free(e);
        return ferry_seterr(err, errlen, FERRY_ERR_FATAL, "etcd: cannot start a thread");
    }
    e->thread_started = true;
    *self = e;
    return 0;
}

static int etcd_resign(void *self, char *err, size_t errlen);

static void etcd_close(void *self)
{
    struct etcd *e = self;
    char err[512];
    if (!e)
        return;
    etcd_resign(e, err, sizeof(err));
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&e->mu);
    if (e->thread_started)
        pthread_join(e->keepalive, NULL);
    if (e->lease) {
        json_t *r = NULL;
        if (call(e, "lease/revoke", json_pack("{s:I}", "ID", (json_int_t)e->lease),
                 unary_timeout(e), &r, err, sizeof(err)) < 0)
            ferry_warn("coord", "etcd: revoke the lease: %s", err);
        json_decref(r);
    }
    etcd_free(e);
}

/* ---- membership --------------------------------------------------------------------- */

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
    struct member *m = realloc(e->members, (e->nmembers + 1) * sizeof(*m));
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

static int etcd_register(void *self, const char *id, const char *json, char *err, size_t errlen)
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
        rc = put_full(e, fkey, json, strlen(json), lease, NULL, err, errlen);
    pthread_mutex_unlock(&e->reg_mu);
    free(fkey);
    return rc;
}

/* Ranges every key below the full prefix fprefix ("…/members/"), sorted as `sort`. */
static int range_prefix(struct etcd *e, const char *fprefix, json_t *extra, json_t **r, char *err,
                        size_t errlen)
{
    json_t *body = json_pack("{s:o,s:o}", "key", jkey(fprefix), "range_end", jrange_end(fprefix));
    if (body && extra)
        json_object_update(body, extra);
    json_decref(extra);
    return call(e, "kv/range", body, unary_timeout(e), r, err, errlen);
}

static int etcd_members(void *self, struct ferry_coord_member **out, size_t *n, char *err,
                        size_t errlen)
{
    struct etcd *e = self;
    json_t *r = NULL;
    char *fprefix;
    if (asprintf(&fprefix, "%s/members/", e->prefix) < 0)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    int rc = range_prefix(e, fprefix, NULL, &r, err, errlen);
    json_t *kvs = json_object_get(r, "kvs");
    size_t count = json_array_size(kvs), got = 0;
    struct ferry_coord_member *m = rc == 0 ? calloc(count + 1, sizeof(*m)) : NULL;
    if (rc == 0 && !m)
        rc = ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < count; i++, got++) {
        json_t *kv = json_array_get(kvs, i);
        char *k = NULL;
        const char *kb = json_string_value(json_object_get(kv, "key"));
        if (!kb || b64_decode(kb, &k, NULL) < 0 || kv_value(kv, &m[i].value, NULL) < 0) {
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

/* ---- election ----------------------------------------------------------------------- */

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
    int rc = range_prefix(e, fprefix, extra, &r, err, errlen);
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
    json_t *body =
        json_pack("{s:[{s:o,s:s,s:s,s:i}],s:[{s:{s:o,s:o,s:I}}],s:[{s:{s:o}}]}", "compare", "key",
                  jkey(fkey), "target", "CREATE", "result", "EQUAL", "create_revision", 0,
                  "success", "request_put", "key", jkey(fkey), "value", jkey(value), "lease",
                  (json_int_t)lease, "failure", "request_range", "key", jkey(fkey));
    int rc = call(e, "kv/txn", body, unary_timeout(e), &r, err, errlen);
    if (rc < 0)
        return rc;
    if (json_is_true(json_object_get(r, "succeeded"))) {
        *rev = jint(json_object_get(r, "header"), "revision");
    } else {
        json_t *res =
            json_object_get(json_array_get(json_object_get(r, "responses"), 0), "response_range");
        *rev = jint(json_array_get(json_object_get(res, "kvs"), 0), "create_revision");
        /* ours already (an earlier campaign of this session): keep its place, new value */
        rc = put_full(e, fkey, value, strlen(value), lease, NULL, err, errlen);
    }
    json_decref(r);
    return rc;
}

static int etcd_campaign(void *self, const char *value, int64_t *fence,
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
        char *pk = NULL, *pv = NULL;
        int64_t nv;
        const char *kb = json_string_value(json_object_get(pred, "key"));
        if (!kb || b64_decode(kb, &pk, NULL) < 0)
            rc = ferry_seterr(err, errlen, FERRY_ERR_FATAL, "etcd: campaign: bad key");
        else
            rc = watch_full(e, pk, jint(pred, "mod_revision"), now_ms() + e->ttl_s * 1000, cancel,
                            &pv, NULL, &nv, err, errlen);
        free(pk);
        free(pv);
        json_decref(pred);
        if (rc == 1)
            rc = 0; /* a timeout: check the lease and the cancel flag, then look again */
    }
    if (rc != 0) {
        char e2[256];
        etcd_resign(e, e2, sizeof(e2)); /* withdraw */
    }
    free(fkey);
    return rc;
}

static bool etcd_leading(void *self)
{
    struct etcd *e = self;
    return atomic_load(&e->leading);
}

static int etcd_resign(void *self, char *err, size_t errlen)
{
    struct etcd *e = self;
    pthread_mutex_lock(&e->mu);
    char *fkey = e->cand_key;
    e->cand_key = NULL;
    atomic_store(&e->leading, false);
    pthread_mutex_unlock(&e->mu);
    int rc = fkey ? del_full(e, fkey, err, errlen) : 0;
    free(fkey);
    return rc < 0 ? rc : 0;
}

static int etcd_leader(void *self, char **value, int64_t *fence, char *err, size_t errlen)
{
    struct etcd *e = self;
    json_t *kv = NULL;
    int rc = candidate(e, 0, &kv, err, errlen);
    if (rc == 0) {
        if (kv_value(kv, value, NULL) < 0)
            rc = ferry_seterr(err, errlen, FERRY_ERR_FATAL, "etcd: leader: bad value");
        *fence = jint(kv, "create_revision");
    }
    json_decref(kv);
    return rc;
}

const struct ferry_coord_ops ferry_coord_etcd_ops = {
    .name = "etcd",
    .open = etcd_open,
    .close = etcd_close,
    .get = etcd_get,
    .put = etcd_put,
    .del = etcd_del,
    .watch = etcd_watch,
    .register_member = etcd_register,
    .members = etcd_members,
    .campaign = etcd_campaign,
    .leading = etcd_leading,
    .resign = etcd_resign,
    .leader = etcd_leader,
};
