/* ferry: the etcd backend's keys, values and watches.
 *
 * A watch first ranges the key: a change made before the call is seen there. Only when the
 * key still holds the version the caller saw does it open a watch stream from the revision
 * after that range, so every event on the stream is the change waited for. A stream that
 * breaks or is compacted away is replaced by another range and stream. */
#define _GNU_SOURCE /* asprintf */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etcd_internal.h"
#include "ferry/clock.h"
#include "ferry/err.h"
#include "ferry/log.h"

char *ferry_etcd_full_key(const struct etcd *e, const char *key)
{
    char *s;
    return asprintf(&s, "%s/%s", e->prefix, key) < 0 ? NULL : s;
}

int ferry_etcd_kv_value(const json_t *kv, char **value, size_t *len)
{
    const char *v = json_string_value(json_object_get(kv, "value"));
    return ferry_etcd_b64_decode(v ? v : "", value, len);
}

/* Ranges the full key fkey: *kv (the caller's, NULL when absent) and *rev (store revision). */
static int range_one(struct etcd *e, const char *fkey, json_t **kv, int64_t *rev, char *err,
                     size_t errlen)
{
    json_t *r = NULL;
    int rc = ferry_etcd_call(e, "kv/range", json_pack("{s:o}", "key", ferry_etcd_jkey(fkey)),
                             ferry_etcd_unary_timeout(e), &r, err, errlen);
    if (rc < 0)
        return rc;
    json_t *first = json_array_get(json_object_get(r, "kvs"), 0);
    *kv = first ? json_incref(first) : NULL;
    if (rev)
        *rev = ferry_etcd_jint(json_object_get(r, "header"), "revision");
    json_decref(r);
    return 0;
}

/* A kv into the caller's value / len / version; 1 when kv is NULL. */
static int kv_out(const json_t *kv, char **value, size_t *len, int64_t *version, char *err,
                  size_t errlen)
{
    if (!kv)
        return 1;
    if (ferry_etcd_kv_value(kv, value, len) < 0)
        return ferry_seterr(err, errlen, FERRY_ERR_FATAL, "etcd: a value is not base64");
    *version = ferry_etcd_jint(kv, "mod_revision");
    return 0;
}

int ferry_etcd_get(void *self, const char *key, char **value, size_t *len, int64_t *version,
                   char *err, size_t errlen)
{
    struct etcd *e = self;
    json_t *kv = NULL;
    char *fkey = ferry_etcd_full_key(e, key);
    if (!fkey)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    int rc = range_one(e, fkey, &kv, NULL, err, errlen);
    free(fkey);
    if (rc == 0)
        rc = kv_out(kv, value, len, version, err, errlen);
    json_decref(kv);
    return rc;
}

int ferry_etcd_put_full(struct etcd *e, const char *fkey, const char *value, size_t len,
                        int64_t lease, int64_t *version, char *err, size_t errlen)
{
    json_t *r = NULL;
    json_t *body =
        json_pack("{s:o,s:o}", "key", ferry_etcd_jkey(fkey), "value", ferry_etcd_jb64(value, len));
    if (body && lease)
        json_object_set_new(body, "lease", json_integer(lease));
    int rc = ferry_etcd_call(e, "kv/put", body, ferry_etcd_unary_timeout(e), &r, err, errlen);
    if (rc == 0 && version)
        *version = ferry_etcd_jint(json_object_get(r, "header"), "revision");
    json_decref(r);
    return rc;
}

int ferry_etcd_put(void *self, const char *key, const char *value, size_t len, int64_t *version,
                   char *err, size_t errlen)
{
    struct etcd *e = self;
    char *fkey = ferry_etcd_full_key(e, key);
    if (!fkey)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    int rc = ferry_etcd_put_full(e, fkey, value, len, 0, version, err, errlen);
    free(fkey);
    return rc;
}

int ferry_etcd_del_full(struct etcd *e, const char *fkey, char *err, size_t errlen)
{
    json_t *r = NULL;
    int rc = ferry_etcd_call(e, "kv/deleterange", json_pack("{s:o}", "key", ferry_etcd_jkey(fkey)),
                             ferry_etcd_unary_timeout(e), &r, err, errlen);
    if (rc == 0)
        rc = ferry_etcd_jint(r, "deleted") == 0 ? 1 : 0;
    json_decref(r);
    return rc;
}

int ferry_etcd_del(void *self, const char *key, char *err, size_t errlen)
{
    struct etcd *e = self;
    char *fkey = ferry_etcd_full_key(e, key);
    if (!fkey)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    int rc = ferry_etcd_del_full(e, fkey, err, errlen);
    free(fkey);
    return rc;
}

int ferry_etcd_range_prefix(struct etcd *e, const char *fprefix, json_t *extra, json_t **r,
                            char *err, size_t errlen)
{
    json_t *body = json_pack("{s:o,s:o}", "key", ferry_etcd_jkey(fprefix), "range_end",
                             ferry_etcd_jrange_end(fprefix));
    if (body && extra)
        json_object_update(body, extra);
    json_decref(extra);
    return ferry_etcd_call(e, "kv/range", body, ferry_etcd_unary_timeout(e), r, err, errlen);
}

/* ---- watch -------------------------------------------------------------------------- */

/* S_BROKEN: no stream could be opened; S_RESUME: an open stream broke */
enum stream_end { S_BROKEN, S_RESUME, S_EVENT, S_COMPACTED, S_STOPPED, S_FAILED };

struct stream {
    struct etcd_buf b;
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
    if (m && ferry_etcd_grpc_error(m, &code, &msg)) {
        snprintf(st->msg, sizeof(st->msg), "%s", msg);
        st->end = ferry_etcd_auth_rejected(code, msg) ? S_BROKEN : S_FAILED;
        more = false;
    } else if (json_is_true(json_object_get(r, "canceled"))) {
        const char *why = json_string_value(json_object_get(r, "cancel_reason"));
        snprintf(st->msg, sizeof(st->msg), "watch cancelled: %s", why ? why : "no reason");
        st->end = ferry_etcd_jint(r, "compact_revision") ? S_COMPACTED : S_FAILED;
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
    if (ferry_etcd_buf_write(p, size, n, &st->b) != size * n)
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

/* Thread: the watching caller's; called at least every ETCD_POLL_MS by watch_stream's loop. */
static int stream_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct stream *st = arg;
    (void)dt, (void)dn, (void)ut, (void)un;
    if ((st->cancel && *st->cancel) || ferry_mono_ms() >= st->deadline) {
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
    json_t *body = json_pack("{s:{s:o,s:I}}", "create_request", "key", ferry_etcd_jkey(fkey),
                             "start_revision", (json_int_t)from);
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    CURL *h = s ? ferry_etcd_easy_new(e, i, "watch", s, &headers, curlerr) : NULL;
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
    /* the multi loop wakes every ETCD_POLL_MS, so the progress callback sees *cancel in time */
    for (int running = 1; running;) {
        if (curl_multi_perform(m, &running) != CURLM_OK)
            break;
        if (running)
            curl_multi_poll(m, NULL, 0, ETCD_POLL_MS, NULL);
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
    int64_t left = deadline - ferry_mono_ms();
    if ((cancel && *cancel) || left <= 0)
        return false;
    left = left < 2 * ETCD_POLL_MS ? left : 2 * ETCD_POLL_MS;
    nanosleep(&(struct timespec){.tv_nsec = (long)left * 1000000}, NULL);
    return true;
}

int ferry_etcd_watch_full(struct etcd *e, const char *fkey, int64_t version, int64_t deadline,
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
        if ((kv ? ferry_etcd_jint(kv, "mod_revision") : 0) == version) { /* else: changed already */
            json_decref(kv);
            kv = NULL;
            if ((cancel && *cancel) || ferry_mono_ms() >= deadline)
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
                ferry_etcd_authenticate(e, err, errlen);
            if (!watch_pause(deadline, cancel))
                return ferry_seterr(err, errlen, FERRY_ERR_RETRY, "%s", msg);
            break;
        }
    }
}

int ferry_etcd_watch(void *self, const char *key, int64_t version, int timeout_ms,
                     volatile sig_atomic_t *cancel, char **value, size_t *len, int64_t *new_version,
                     char *err, size_t errlen)
{
    struct etcd *e = self;
    char *fkey = ferry_etcd_full_key(e, key);
    if (!fkey)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    int rc = ferry_etcd_watch_full(e, fkey, version, ferry_mono_ms() + timeout_ms, cancel, value,
                                   len, new_version, err, errlen);
    free(fkey);
    return rc;
}
