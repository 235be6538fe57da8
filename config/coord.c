/* ferry: the coordination interface: URL parsing and dispatch to the chosen backend. */
#define _GNU_SOURCE /* memrchr */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/config.h"
#include "ferry/coord.h"
#include "ferry/err.h"

struct ferry_coord {
    const struct ferry_coord_ops *ops;
    void *self;
};

static int push_endpoint(struct ferry_coord_options *o, const char *s, size_t n)
{
    char **v = realloc(o->endpoints, (o->nendpoints + 1) * sizeof(*v));
    if (!v)
        return FERRY_ERR_NOMEM;
    o->endpoints = v;
    if (!(v[o->nendpoints] = strndup(s, n)))
        return FERRY_ERR_NOMEM;
    o->nendpoints++;
    return 0;
}

bool ferry_coord_endpoint_ok(const char *s, size_t n)
{
    const char *colon = memrchr(s, ':', n);
    if (!colon || colon == s || (size_t)(colon - s) + 1 == n)
        return false;
    long port = 0;
    for (const char *p = colon + 1; p < s + n; p++) {
        if (*p < '0' || *p > '9' || (port = port * 10 + (*p - '0')) > 65535)
            return false;
    }
    return port > 0;
}

int ferry_coord_url_parse(const char *url, struct ferry_coord_options *o, char *err, size_t errlen)
{
    static const struct {
        const char *scheme;
        enum ferry_coord_backend backend;
    } schemes[] = {
        {"etcd://", FERRY_COORD_ETCD},
        {"zk://", FERRY_COORD_ZOOKEEPER},
        {"zookeeper://", FERRY_COORD_ZOOKEEPER},
    };
    const char *rest = NULL;

    memset(o, 0, sizeof(*o));
    o->ttl_ms = 10000;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t n = strlen(schemes[i].scheme);
        if (!strncmp(url, schemes[i].scheme, n)) {
            o->backend = schemes[i].backend;
            rest = url + n;
            break;
        }
    }
    if (!rest)
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                            "%s: a coordination URL starts with etcd:// or zk://", url);
    const char *slash = strchr(rest, '/');
    const char *hosts_end = slash ? slash : rest + strlen(rest);
    /* every item between commas is checked, an empty one too ("h:1,", ",h:1") */
    for (const char *p = rest; p < hosts_end || (p == hosts_end && p > rest && p[-1] == ',');) {
        const char *comma = memchr(p, ',', (size_t)(hosts_end - p));
        const char *end = comma ? comma : hosts_end;
        if (!ferry_coord_endpoint_ok(p, (size_t)(end - p))) {
            ferry_coord_options_release(o);
            return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "%s: '%.*s' is not host:port", url,
                                (int)(end - p), p);
        }
        if (push_endpoint(o, p, (size_t)(end - p)) < 0) {
            ferry_coord_options_release(o);
            return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
        }
        p = comma ? comma + 1 : end;
    }
    if (o->nendpoints == 0) {
        ferry_coord_options_release(o);
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "%s: no host:port given", url);
    }
    /* the prefix: what follows the hosts, without trailing slashes; "/ferry" by default */
    const char *prefix = slash && slash[1] ? slash : "/ferry";
    size_t plen = strlen(prefix);
    while (plen > 1 && prefix[plen - 1] == '/')
        plen--;
    if (strstr(prefix, "//") || (plen == 1)) {
        ferry_coord_options_release(o);
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                            "%s: the prefix must be a path such as /ferry/prod", url);
    }
    if (!(o->prefix = strndup(prefix, plen))) {
        ferry_coord_options_release(o);
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    }
    return 0;
}

void ferry_coord_options_release(struct ferry_coord_options *o)
{
    for (size_t i = 0; i < o->nendpoints; i++)
        free(o->endpoints[i]);
    free(o->endpoints);
    free(o->prefix);
    free(o->user);
    free(o->password);
    free(o->ca_file);
    free(o->cert_file);
    free(o->key_file);
    memset(o, 0, sizeof(*o));
}

const char *ferry_coord_url_format(const struct ferry_coord_options *o, char *buf, size_t len)
{
    size_t at = 0;
    int n = snprintf(buf, len, "%s://", o->backend == FERRY_COORD_ETCD ? "etcd" : "zk");
    at = n > 0 ? (size_t)n : 0;
    for (size_t i = 0; i < o->nendpoints && at < len; i++) {
        n = snprintf(buf + at, len - at, "%s%s", i ? "," : "", o->endpoints[i]);
        at += n > 0 ? (size_t)n : 0;
    }
    if (at < len)
        snprintf(buf + at, len - at, "%s", o->prefix ? o->prefix : "");
    return buf;
}

static int dup_opt(char **dst, const char *src)
{
    if (!src)
        return 0;
    free(*dst);
    return (*dst = strdup(src)) ? 0 : FERRY_ERR_NOMEM;
}

int ferry_coord_resolve(const char *url, const struct ferry_coordination_config *local,
                        struct ferry_coord_options *o, char *err, size_t errlen)
{
    bool have_local = local && local->backend != FERRY_COORD_NONE;
    int rc;

    if (url) {
        if ((rc = ferry_coord_url_parse(url, o, err, errlen)) < 0)
            return rc;
    } else if (have_local) {
        memset(o, 0, sizeof(*o));
        o->backend = local->backend;
        for (size_t i = 0; i < local->endpoints.n; i++) {
            const char *e = local->endpoints.v[i];
            if (push_endpoint(o, e, strlen(e)) < 0)
                goto nomem;
        }
        if (dup_opt(&o->prefix, local->prefix ? local->prefix : "/ferry") < 0)
            goto nomem;
    } else {
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                            "no coordination service: give --coord etcd://HOST:PORT/PREFIX (or "
                            "zk://…), or a coordination section with a backend");
    }
    if (local && (have_local || url)) {
        o->ttl_ms = local->ttl_ms ? local->ttl_ms : o->ttl_ms;
        if (dup_opt(&o->user, local->user) < 0 || dup_opt(&o->password, local->password) < 0 ||
            dup_opt(&o->ca_file, local->ca_file) < 0 ||
            dup_opt(&o->cert_file, local->cert_file) < 0 ||
            dup_opt(&o->key_file, local->key_file) < 0)
            goto nomem;
    }
    return 0;
nomem:
    ferry_coord_options_release(o);
    return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
}

int ferry_coord_open(const struct ferry_coord_options *o, struct ferry_coord **out, char *err,
                     size_t errlen)
{
    if (o->backend != FERRY_COORD_ETCD && o->backend != FERRY_COORD_ZOOKEEPER)
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "coordination: no backend chosen");
    struct ferry_coord *c = calloc(1, sizeof(*c));
    if (!c)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    c->ops = o->backend == FERRY_COORD_ETCD ? &ferry_coord_etcd_ops : &ferry_coord_zookeeper_ops;
    int rc = c->ops->open(o, &c->self, err, errlen);
    if (rc < 0) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void ferry_coord_close(struct ferry_coord *c)
{
    if (!c)
        return;
    c->ops->close(c->self);
    free(c);
}

int ferry_coord_get(struct ferry_coord *c, const char *key, char **value, size_t *len,
                    int64_t *version, char *err, size_t errlen)
{
    return c->ops->get(c->self, key, value, len, version, err, errlen);
}

int ferry_coord_put(struct ferry_coord *c, const char *key, const char *value, size_t len,
                    int64_t *version, char *err, size_t errlen)
{
    return c->ops->put(c->self, key, value, len, version, err, errlen);
}

int ferry_coord_delete(struct ferry_coord *c, const char *key, char *err, size_t errlen)
{
    return c->ops->del(c->self, key, err, errlen);
}

int ferry_coord_watch(struct ferry_coord *c, const char *key, int64_t version, int timeout_ms,
                      volatile sig_atomic_t *cancel, char **value, size_t *len,
                      int64_t *new_version, char *err, size_t errlen)
{
    return c->ops->watch(c->self, key, version, timeout_ms, cancel, value, len, new_version, err,
                         errlen);
}

int ferry_coord_register(struct ferry_coord *c, const char *id, const char *json, char *err,
                         size_t errlen)
{
    return c->ops->register_member(c->self, id, json, err, errlen);
}

static int member_cmp(const void *a, const void *b)
{
    return strcmp(((const struct ferry_coord_member *)a)->id,
                  ((const struct ferry_coord_member *)b)->id);
}

int ferry_coord_members(struct ferry_coord *c, struct ferry_coord_member **out, size_t *n,
                        char *err, size_t errlen)
{
    int rc = c->ops->members(c->self, out, n, err, errlen);
    if (rc >= 0 && *n > 1)
        qsort(*out, *n, sizeof(**out), member_cmp);
    return rc;
}

void ferry_coord_members_free(struct ferry_coord_member *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].id);
        free(m[i].value);
    }
    free(m);
}

int ferry_coord_campaign(struct ferry_coord *c, const char *value, int64_t *fence,
                         volatile sig_atomic_t *cancel, char *err, size_t errlen)
{
    return c->ops->campaign(c->self, value, fence, cancel, err, errlen);
}

bool ferry_coord_leading(struct ferry_coord *c)
{
    return c->ops->leading(c->self);
}

int ferry_coord_resign(struct ferry_coord *c, char *err, size_t errlen)
{
    return c->ops->resign(c->self, err, errlen);
}

int ferry_coord_leader(struct ferry_coord *c, char **value, int64_t *fence, char *err,
                       size_t errlen)
{
    return c->ops->leader(c->self, value, fence, err, errlen);
}

int ferry_coord_connect(const char *url, const struct ferry_coordination_config *local,
                        struct ferry_coord_options *o, bool *resolved, struct ferry_coord **out,
                        char *where, size_t wherelen, char *err, size_t errlen)
{
    int rc;
    *resolved = false;
    if ((rc = ferry_coord_resolve(url, local, o, err, errlen)) < 0)
        return rc;
    *resolved = true;
    ferry_coord_url_format(o, where, wherelen);
    return ferry_coord_open(o, out, err, errlen);
}
