/* ferry: the ZooKeeper backend's members: EPHEMERAL nodes prefix/members/<id>, owned by the
 * session that created them. The list of registered members is kept so that the session
 * thread can register them again after rebuilding an expired session. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/err.h"
#include "zookeeper_internal.h"

char *ferry_zk_member_path(const struct zk *z, const char *id)
{
    char *mdir = ferry_zk_path_join(z->prefix, "members");
    char *path = mdir ? ferry_zk_path_join(mdir, id) : NULL;
    free(mdir);
    return path;
}

int ferry_zk_create_member(struct zk *z, zhandle_t *zh, const char *path, const char *json)
{
    size_t len = strlen(json);
    struct Stat st;
    for (int tries = 0; tries < 5; tries++) {
        int rc = ferry_zk_create_node(z, zh, path, json, len, ZOO_EPHEMERAL, NULL, 0, &st);
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

int ferry_zk_register(void *self, const char *id, const char *json, char *err, size_t errlen)
{
    struct zk *z = self;
    if (!id || !*id || strchr(id, '/'))
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "zookeeper: bad member id '%s'",
                            id ? id : "");
    char *path = ferry_zk_member_path(z, id);
    char *nid = strdup(id), *njson = strdup(json);
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

    zhandle_t *zh = ferry_zk_acquire(z);
    int zrc = zh ? ferry_zk_create_member(z, zh, path, json) : ZINVALIDSTATE;
    if (zh)
        ferry_zk_release(z);
    int rc = zrc == ZOK ? 0 : ferry_zk_fail(z, zrc, path, err, errlen);
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

/* Unsorted: ferry_coord_members sorts. */
int ferry_zk_members(void *self, struct ferry_coord_member **out, size_t *n, char *err,
                     size_t errlen)
{
    struct zk *z = self;
    struct String_vector kids = {0};
    struct ferry_coord_member *m = NULL;
    size_t count = 0;
    char *mdir = ferry_zk_path_join(z->prefix, "members");
    if (!mdir)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
    zhandle_t *zh = ferry_zk_acquire(z);
    int zrc = zh ? zoo_get_children(zh, mdir, 0, &kids) : ZINVALIDSTATE;
    if (zrc == ZOK && kids.count > 0 && !(m = calloc((size_t)kids.count, sizeof(*m))))
        zrc = ZSYSTEMERROR;
    for (int32_t i = 0; zrc == ZOK && i < kids.count; i++) {
        char *path = ferry_zk_path_join(mdir, kids.data[i]);
        struct Stat st;
        size_t len;
        int r = path ? ferry_zk_read_node(zh, path, &m[count].value, &len, &st) : ZSYSTEMERROR;
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
        ferry_zk_release(z);
    if (zh)
        deallocate_String_vector(&kids);
    if (zrc != ZOK && zrc != ZNONODE) {
        ferry_coord_members_free(m, count);
        int rc = zrc == ZSYSTEMERROR ? ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory")
                                     : ferry_zk_fail(z, zrc, mdir, err, errlen);
        free(mdir);
        return rc;
    }
    free(mdir);
    *out = m;
    *n = count;
    return 0;
}
