/* ferry: the leader thread — the campaign in <prefix>/leader, and while this process leads,
 * the rollup passes of the current configuration, each fenced by the leadership's token.
 * Without a coordination service a sink process that has rollups leads alone (token 0). See
 * process/runtime_internal.h. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "ferry/clock.h"
#include "ferry/coord.h"
#include "ferry/log.h"
#include "ferry/rollup.h"
#include "runtime_internal.h"

/* The rollups of generation g, or NULL (logged) when they cannot be made. */
static struct ferry_rollups *rollups_of(struct ferry_rt *rt, const struct ferry_rt_gen *g)
{
    struct ferry_rollups *ru = NULL;
    char fence_name[512], err[1024];

    /* one row per leadership: the group, and the service and prefix whose tokens it compares
     * (tokens of different services or prefixes are not comparable) */
    snprintf(fence_name, sizeof(fence_name), "%s:%s%s", g->cfg->group,
             !rt->coord                              ? "none"
             : rt->copts.backend == FERRY_COORD_ETCD ? "etcd:"
                                                     : "zookeeper:",
             rt->coord ? rt->copts.prefix : "");
    if (ferry_rollups_new(g->cfg, fence_name, &ru, err, sizeof(err)) < 0)
        ferry_error("leader", "rollups: %s", err);
    return ru;
}

/* Leads until the leadership is lost, fenced off, or the process stops: the rollups of the
 * current configuration, each run fenced by `fence`. Returns true when fenced off. */
static bool lead(struct ferry_rt *rt, int64_t fence)
{
    struct ferry_rt_gen *g = NULL;
    struct ferry_rollups *ru = NULL;
    int64_t next = 0;
    long delay = 0;
    const char *d = getenv("FERRY_DEBUG_ROLLUP_DELAY_MS");
    bool fenced = false;
    char err[1024];

    if (d)
        delay = strtol(d, NULL, 10);
    atomic_store(&rt->fence, fence);
    atomic_store(&rt->leading, true);
    while (!rt->stopping && (!rt->coord || ferry_coord_leading(rt->coord))) {
        struct ferry_rt_gen *cur = ferry_rt_gen_current(rt);
        if (cur != g) { /* a new configuration: its rollups */
            ferry_rollups_destroy(ru);
            ferry_rt_gen_release(rt, g);
            g = cur;
            ru = rollups_of(rt, g);
            next = 0;
        } else {
            ferry_rt_gen_release(rt, cur);
        }
        int64_t now = ferry_wall_ms();
        if (ru && g->cfg->nrollups && now >= next) {
            if (delay > 0) { /* fault injection for tests: a pause between check and write */
                ferry_info("leader", "rollup pass in %ld ms (FERRY_DEBUG_ROLLUP_DELAY_MS)", delay);
                ferry_rt_nap(delay, &rt->stopping);
                if (rt->stopping)
                    break;
                now = ferry_wall_ms();
            }
            int rc = ferry_rollups_run(ru, fence, now, &next, err, sizeof(err));
            if (rc == FERRY_ROLLUP_FENCED) {
                ferry_warn("leader",
                           "fenced off: a leader with a newer token than %lld has written; "
                           "this process wrote nothing and steps down",
                           (long long)fence);
                fenced = true;
                break;
            }
            if (rc < 0)
                ferry_warn("leader", "rollups: %s", err);
        }
        int64_t wait = ru && g->cfg->nrollups ? next - ferry_wall_ms() : 100;
        ferry_rt_nap(wait < 100 ? (wait > 0 ? wait : 10) : 100, &rt->stopping);
    }
    if (!rt->stopping && !fenced && rt->coord)
        ferry_warn("leader", "%s lost the leadership (token %lld): leader work stopped",
                   rt->member_id, (long long)fence);
    atomic_store(&rt->leading, false);
    atomic_store(&rt->fence, 0);
    ferry_rollups_destroy(ru);
    ferry_rt_gen_release(rt, g);
    return fenced;
}

static void *leader_main(void *arg)
{
    struct ferry_rt *rt = arg;
    char err[512];

    while (!rt->stopping) {
        int64_t fence = 0;
        if (rt->coord) {
            int rc = ferry_coord_campaign(rt->coord, rt->member_id, &fence, &rt->stopping, err,
                                          sizeof(err));
            if (rc == 1)
                break;
            if (rc < 0) {
                ferry_warn("leader", "campaign: %s", err);
                ferry_rt_nap(1000, &rt->stopping);
                continue;
            }
            ferry_info("leader", "%s leads %s/leader with token %lld", rt->member_id, rt->url,
                       (long long)fence);
        }
        lead(rt, fence);
        if (!rt->coord)
            break;
        if (ferry_coord_resign(rt->coord, err, sizeof(err)) < 0)
            ferry_warn("leader", "resign: %s", err);
    }
    return NULL;
}

void ferry_rt_leader_start(struct ferry_rt *rt)
{
    if (rt->o->sink && !rt->electing && (rt->coord || rt->cur->cfg->nrollups))
        rt->electing = pthread_create(&rt->leader_tid, NULL, leader_main, rt) == 0;
}
