/* ferry: this process's member entry in the coordination service (<prefix>/members/<id>). See
 * process/runtime_internal.h. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ferry/clock.h"
#include "ferry/log.h"
#include "ferry/version.h"
#include "runtime_internal.h"

#define CHECK_EVERY_MS 2000

static char *member_json(struct ferry_rt *rt, const struct ferry_config *cfg)
{
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    json_t *o = json_object(), *sources = json_array(), *workers = json_array();
    for (size_t i = 0; rt->o->agent && i < cfg->nsources; i++)
        json_array_append_new(sources, json_string(cfg->sources[i].name));
    for (size_t i = 0; rt->o->sink && i < cfg->nworkers; i++)
        json_array_append_new(workers, json_string(cfg->workers[i].name));
    json_object_set_new(o, "id", json_string(rt->member_id));
    json_object_set_new(o, "role", json_string(rt->role));
    json_object_set_new(o, "host", json_string(host));
    json_object_set_new(o, "pid", json_integer(getpid()));
    json_object_set_new(o, "version", json_string(FERRY_VERSION));
    json_object_set_new(o, "started", json_string(rt->started));
    json_object_set_new(o, "http",
                        rt->http ? json_string(ferry_http_address(rt->http)) : json_null());
    json_object_set_new(o, "group", json_string(cfg->group ? cfg->group : ""));
    json_object_set_new(o, "sources", sources);
    json_object_set_new(o, "workers", workers);
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

void ferry_rt_register_member(struct ferry_rt *rt, const struct ferry_config *cfg)
{
    char err[512];
    char *js = member_json(rt, cfg);
    if (js && ferry_coord_register(rt->coord, rt->member_id, js, err, sizeof(err)) < 0)
        ferry_warn("coord", "registering member %s: %s", rt->member_id, err);
    free(js);
}

/* This process's member entry, put again when it is missing: a registration that failed (the
 * service went away at that moment) or an entry lost with a session that came back. */
static void check_membership(struct ferry_rt *rt, int64_t *next)
{
    int64_t now = ferry_wall_ms();
    char key[300], err[512], *value = NULL;
    size_t len;
    int64_t version;
    if (!rt->coord || now < *next)
        return;
    *next = now + CHECK_EVERY_MS;
    snprintf(key, sizeof(key), "members/%s", rt->member_id);
    int rc = ferry_coord_get(rt->coord, key, &value, &len, &version, err, sizeof(err));
    free(value);
    if (rc != 1)
        return; /* there, or the service cannot say now */
    struct ferry_rt_gen *g = ferry_rt_gen_current(rt);
    ferry_info("coord", "member entry %s missing: registering it again", rt->member_id);
    ferry_rt_register_member(rt, g->cfg);
    ferry_rt_gen_release(rt, g);
}

void *ferry_rt_check_main(void *arg)
{
    struct ferry_rt *rt = arg;
    int64_t next = ferry_wall_ms() + CHECK_EVERY_MS;
    while (!rt->stopping) {
        check_membership(rt, &next);
        ferry_rt_nap(200, &rt->stopping);
    }
    return NULL;
}
