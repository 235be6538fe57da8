/* ferry: the ZooKeeper backend's nodes, keys and values, and watches.
 *
 * Keys are persistent nodes below the prefix. A key's version is its mzxid, which grows on
 * every change, even across a delete and re-create. A watch looks at the node and leaves a
 * watch on it in the same call, so a change after the look wakes it. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/clock.h"
#include "ferry/err.h"
#include "zookeeper_internal.h"

char *ferry_zk_path_join(const char *a, const char *b)
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

/* The full path of a relative key into *path (the caller frees it): 0, or an error with err
 * filled and *path NULL when the key is bad or memory short. */
static int key_path(struct zk *z, const char *key, char **path, char *err, size_t errlen)
{
    *path = NULL;
    if (!key || !*key || key[0] == '/' || key[strlen(key) - 1] == '/' || strstr(key, "//"))
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "zookeeper: bad key '%s'",
                            key ? key : "");
    *path = ferry_zk_path_join(z->prefix, key);
    return *path ? 0 : ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
}

/* ---- node helpers (hlock held shared) ---------------------------------------------------- */

int ferry_zk_make_parents(struct zk *z, zhandle_t *zh, const char *path)
{
    char *p = strdup(path);
    int rc = ZOK;
    if (!p)
        return ZSYSTEMERROR;
    for (char *s = strchr(p + 1, '/'); s && rc == ZOK; s = strchr(s + 1, '/')) {
        *s = '\0';
        rc = zoo_create(zh, p, "", 0, ferry_zk_acl(z), ZOO_PERSISTENT, NULL, 0);
        if (rc == ZNODEEXISTS)
            rc = ZOK;
        *s = '/';
    }
    free(p);
    return rc;
}

int ferry_zk_create_node(struct zk *z, zhandle_t *zh, const char *path, const char *value,
                         size_t len, int mode, char *out, int outlen, struct Stat *st)
{
    int rc = zoo_create2(zh, path, value, (int)len, ferry_zk_acl(z), mode, out, outlen, st);
    if (rc == ZNONODE && (rc = ferry_zk_make_parents(z, zh, path)) == ZOK)
        rc = zoo_create2(zh, path, value, (int)len, ferry_zk_acl(z), mode, out, outlen, st);
    return rc;
}

int ferry_zk_read_node(zhandle_t *zh, const char *path, char **value, size_t *len, struct Stat *st)
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

/* ---- keys and values --------------------------------------------------------------------- */

int ferry_zk_get(void *self, const char *key, char **value, size_t *len, int64_t *version,
                 char *err, size_t errlen)
{
    struct zk *z = self;
    char *path;
    int rc = key_path(z, key, &path, err, errlen);
    if (rc)
        return rc;
    zhandle_t *zh = ferry_zk_acquire(z);
    struct Stat st;
    int zrc = zh ? ferry_zk_read_node(zh, path, value, len, &st) : ZINVALIDSTATE;
    if (zh)
        ferry_zk_release(z);
    if (zrc == ZOK)
        *version = st.mzxid, rc = 0;
    else
        rc = zrc == ZNONODE ? 1 : ferry_zk_fail(z, zrc, path, err, errlen);
    free(path);
    return rc;
}

int ferry_zk_put(void *self, const char *key, const char *value, size_t len, int64_t *version,
                 char *err, size_t errlen)
{
    struct zk *z = self;
    if (len > INT_MAX)
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "zookeeper: %s: value too large", key);
    char *path;
    int rc = key_path(z, key, &path, err, errlen);
    if (rc)
        return rc;
    zhandle_t *zh = ferry_zk_acquire(z);
    struct Stat st;
    int zrc = zh ? ZNODEEXISTS : ZINVALIDSTATE;
    for (int tries = 0; zh && zrc == ZNODEEXISTS && tries < 5; tries++) {
        zrc = zoo_set2(zh, path, value, (int)len, -1, &st);
        if (zrc == ZNONODE) /* ZNODEEXISTS when it appeared meanwhile: set it */
            zrc = ferry_zk_create_node(z, zh, path, value, len, ZOO_PERSISTENT, NULL, 0, &st);
    }
    if (zh)
        ferry_zk_release(z);
    rc = zrc == ZOK ? 0 : ferry_zk_fail(z, zrc, path, err, errlen);
    if (zrc == ZOK && version)
        *version = st.mzxid;
    free(path);
    return rc;
}

int ferry_zk_del(void *self, const char *key, char *err, size_t errlen)
{
    struct zk *z = self;
    char *path;
    int rc = key_path(z, key, &path, err, errlen);
    if (rc)
        return rc;
    zhandle_t *zh = ferry_zk_acquire(z);
    int zrc = zh ? zoo_delete(zh, path, -1) : ZINVALIDSTATE;
    if (zh)
        ferry_zk_release(z);
    rc = zrc == ZOK ? 0 : zrc == ZNONODE ? 1 : ferry_zk_fail(z, zrc, path, err, errlen);
    free(path);
    return rc;
}

/* ---- watch ------------------------------------------------------------------------------- */

/* One look at the key, leaving a watch on it: 0 with the new state when its version differs
 * from `version`, 1 when it does not, or a zk error code. */
static int watch_once(struct zk *z, const char *path, int64_t version, char **value, size_t *len,
                      int64_t *new_version)
{
    zhandle_t *zh = ferry_zk_acquire(z);
    if (!zh)
        return ZINVALIDSTATE;
    struct Stat st;
    int rc = zoo_wexists(zh, path, ferry_zk_node_watcher, z, &st);
    int64_t seen = rc == ZOK ? st.mzxid : 0;
    if ((rc == ZOK || rc == ZNONODE) && seen != version) {
        rc = seen ? ferry_zk_read_node(zh, path, value, len, &st) : ZNONODE;
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
    ferry_zk_release(z);
    return rc;
}

int ferry_zk_watch(void *self, const char *key, int64_t version, int timeout_ms,
                   volatile sig_atomic_t *cancel, char **value, size_t *len, int64_t *new_version,
                   char *err, size_t errlen)
{
    struct zk *z = self;
    char *path;
    int rc = key_path(z, key, &path, err, errlen);
    if (rc)
        return rc;
    int64_t deadline = ferry_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        uint64_t seen = ferry_zk_events_now(z);
        int zrc = watch_once(z, path, version, value, len, new_version);
        if (zrc == ZOK) {
            rc = 0;
            break;
        }
        if (zrc != 1 && !ferry_zk_transient(zrc)) {
            rc = ferry_zk_fail(z, zrc, path, err, errlen);
            break;
        }
        /* a transient error is waited out like no change, and reported at the deadline */
        if (ferry_zk_cancelled(cancel) || ferry_mono_ms() >= deadline) {
            rc = zrc == 1 || ferry_zk_cancelled(cancel) ? 1
                                                        : ferry_zk_fail(z, zrc, path, err, errlen);
            break;
        }
        ferry_zk_wait_event(z, seen, deadline);
    }
    free(path);
    return rc;
}
