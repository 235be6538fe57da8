/* ferry: configuration generations and reloads. See process/runtime_internal.h.
 *
 * Configurations are generations: a job keeps the generation it started with (it borrows
 * pointers into it) and a generation is freed when its last job and the runtime let go. A
 * reload makes a new generation current and restarts only the jobs whose settings differ. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/config.h"
#include "ferry/coord.h"
#include "ferry/log.h"
#include "runtime_internal.h"

/* ---- generations ------------------------------------------------------------------------- */

struct ferry_rt_gen *ferry_rt_gen_new(struct ferry_config *cfg, int64_t version)
{
    struct ferry_rt_gen *g = calloc(1, sizeof(*g));
    if (!g) {
        ferry_config_destroy(cfg);
        return NULL;
    }
    g->cfg = cfg;
    g->version = version;
    g->refs = 1;
    return g;
}

struct ferry_rt_gen *ferry_rt_gen_hold(struct ferry_rt *rt, struct ferry_rt_gen *g)
{
    pthread_mutex_lock(&rt->mu);
    g->refs++;
    pthread_mutex_unlock(&rt->mu);
    return g;
}

void ferry_rt_gen_release(struct ferry_rt *rt, struct ferry_rt_gen *g)
{
    if (!g)
        return;
    pthread_mutex_lock(&rt->mu);
    int left = --g->refs;
    pthread_mutex_unlock(&rt->mu);
    if (left == 0) {
        ferry_config_destroy(g->cfg);
        free(g);
    }
}

struct ferry_rt_gen *ferry_rt_gen_current(struct ferry_rt *rt)
{
    pthread_mutex_lock(&rt->mu);
    struct ferry_rt_gen *g = rt->cur;
    g->refs++;
    pthread_mutex_unlock(&rt->mu);
    return g;
}

/* ---- loading ----------------------------------------------------------------------------- */

int ferry_rt_load_file(const char *path, struct ferry_config **cfg, bool running)
{
    return ferry_config_load_report(path, cfg, running ? NULL : stderr);
}

int ferry_rt_parse_text(struct ferry_rt *rt, const char *text, size_t len,
                        struct ferry_config **cfg, bool running)
{
    char name[1100];
    snprintf(name, sizeof(name), "%s/config", rt->url);
    return ferry_config_parse_report(name, text, len, cfg, running ? NULL : stderr);
}

/* ---- the watch thread -------------------------------------------------------------------- */

void *ferry_rt_watch_main(void *arg)
{
    struct ferry_rt *rt = arg;
    int64_t version = rt->cur->version;
    char err[512];
    int quiet = 0;

    while (!rt->stopping) {
        char *value = NULL;
        size_t len = 0;
        int64_t nv = 0;
        int rc = ferry_coord_watch(rt->coord, "config", version, 5000, &rt->stopping, &value, &len,
                                   &nv, err, sizeof(err));
        if (rc < 0) {
            if (quiet++ % 30 == 0)
                ferry_warn("config", "watching %s/config: %s", rt->url, err);
            ferry_rt_nap(1000, &rt->stopping);
            continue;
        }
        quiet = 0;
        if (rc == 1)
            continue;
        version = nv;
        if (!value) {
            ferry_warn("config", "%s/config was deleted: the running configuration stays", rt->url);
            continue;
        }
        pthread_mutex_lock(&rt->mu);
        free(rt->pending);
        rt->pending = value;
        rt->pending_len = len;
        rt->pending_version = nv;
        pthread_mutex_unlock(&rt->mu);
    }
    return NULL;
}

/* ---- the diff applied -------------------------------------------------------------------- */

/* What a reload did, for its log line: names joined with ", ". */
struct changes {
    char restarted[512], started[512], stopped[512];
    size_t nre, nst, nsp, kept;
};

static void join_name(char *buf, size_t len, const char *what, size_t *n)
{
    size_t at = strlen(buf);
    if (at < len)
        snprintf(buf + at, len - at, "%s%s", *n > 0 ? ", " : "", what);
    (*n)++;
}

/* A part of the new configuration could not start (its old settings are gone already): the
 * process stops with exit code 1, for its supervisor to start it again, rather than run on
 * without that part. The other parts are started all the same. */
static bool part_failed(struct ferry_rt *rt, const char *what, const char *err)
{
    ferry_error("config", "%s: %s: stopping", what, err);
    rt->failed = true;
    rt->ended = 1;
    return true;
}

/* Whether cfg can be applied at all while this process runs; warns of the settings that wait
 * for the next start. */
static bool applicable(struct ferry_rt *rt, const struct ferry_config *old,
                       const struct ferry_config *cfg, int64_t version)
{
    if (old->kafka.embedded != cfg->kafka.embedded ||
        (old->kafka.embedded && !ferry_config_same_kafka(old, cfg))) {
        ferry_error("config",
                    "version %lld refused: an embedded cluster cannot change while it "
                    "runs (restart the process)",
                    (long long)version);
        return false;
    }
    if (!ferry_config_same_coordination(old, cfg) && !rt->o->coord_url)
        ferry_warn("config", "coordination settings change at the next start, not now");
    if ((old->http_listen == NULL) != (cfg->http_listen == NULL) ||
        (old->http_listen && strcmp(old->http_listen, cfg->http_listen)))
        ferry_warn("config", "http.listen changes at the next start, not now");
    return true;
}

/* Stops the agent when its settings (or Kafka's) differ in cfg. */
static void stop_changed_agent(struct ferry_rt *rt, const struct ferry_config *old,
                               const struct ferry_config *cfg, bool kafka, struct changes *ch)
{
    if (!rt->o->agent || !(kafka || !ferry_config_same_agent(old, cfg)))
        return;
    ferry_rt_stop_agent(rt);
    if (cfg->nsources == 0)
        ferry_warn("config", "agent.sources: no source configured: the agent stops");
    join_name(ch->restarted, sizeof(ch->restarted), "agent", &ch->nre);
}

/* Stops every worker whose settings differ in cfg, or that cfg no longer has; all: every
 * worker. again[k] is set for worker k of cfg when it was stopped to start again. */
static void stop_changed_workers(struct ferry_rt *rt, const struct ferry_config *cfg, bool all,
                                 bool *again, struct changes *ch)
{
    for (size_t i = 0; rt->o->sink && i < rt->nworkers;) {
        const struct ferry_worker_config *w = rt->workers[i]->w, *nw = NULL;
        for (size_t k = 0; k < cfg->nworkers && !nw; k++)
            if (!strcmp(cfg->workers[k].name, w->name))
                nw = &cfg->workers[k];
        if (nw && !all && ferry_config_same_worker(w, nw)) {
            ch->kept++;
            i++;
            continue;
        }
        if (nw)
            join_name(ch->restarted, sizeof(ch->restarted), w->name, &ch->nre);
        else
            join_name(ch->stopped, sizeof(ch->stopped), w->name, &ch->nsp);
        if (nw && again)
            again[nw - cfg->workers] = true;
        ferry_rt_stop_worker(rt, i); /* w is gone with it */
    }
}

/* Makes cfg current (taking it over): stops what differs or is gone, then starts what is new
 * or changed. */
static void apply(struct ferry_rt *rt, struct ferry_config *cfg, int64_t version)
{
    struct ferry_config *old = rt->cur->cfg;
    struct changes ch = {0};

    if (!applicable(rt, old, cfg, version)) {
        atomic_fetch_add(&rt->rejected, 1);
        ferry_config_destroy(cfg);
        return;
    }
    struct ferry_rt_gen *g = ferry_rt_gen_new(cfg, version);
    if (!g)
        return;
    size_t n = cfg->nworkers ? cfg->nworkers : 1;
    bool kafka = !ferry_config_same_kafka(old, cfg);
    bool *again = calloc(n, sizeof(*again)), *started = calloc(n, sizeof(*started));
    stop_changed_agent(rt, old, cfg, kafka, &ch);
    stop_changed_workers(rt, cfg, kafka || !ferry_config_same_sinks(old, cfg), again, &ch);
    ferry_rt_start_parts(rt, g, started, part_failed);
    for (size_t k = 0; started && k < cfg->nworkers; k++)
        if (started[k] && (!again || !again[k]))
            join_name(ch.started, sizeof(ch.started), cfg->workers[k].name, &ch.nst);
    free(again);
    free(started);
    pthread_mutex_lock(&rt->mu);
    struct ferry_rt_gen *prev = rt->cur;
    rt->cur = g;
    pthread_mutex_unlock(&rt->mu);
    ferry_rt_gen_release(rt, prev);
    atomic_fetch_add(&rt->reloads, 1);
    if (rt->coord)
        ferry_rt_register_member(rt, cfg);
    ferry_rt_leader_start(rt); /* the first rollups: someone fills them */
    ferry_info("config",
               "version %lld applied: restarted [%s], started [%s], stopped [%s], %zu unchanged "
               "worker(s) kept running",
               (long long)version, ch.restarted, ch.started, ch.stopped, ch.kept);
}

/* ---- reloads ----------------------------------------------------------------------------- */

static void reload_file(struct ferry_rt *rt)
{
    struct ferry_config *cfg = NULL;
    ferry_info("config", "SIGHUP: reading %s again", rt->o->config_file);
    if (ferry_rt_load_file(rt->o->config_file, &cfg, true) < 0) {
        ferry_error("config", "%s refused: the running configuration stays", rt->o->config_file);
        atomic_fetch_add(&rt->rejected, 1);
        return;
    }
    apply(rt, cfg, 0);
}

static void reload_text(struct ferry_rt *rt, const char *text, size_t len, int64_t version)
{
    struct ferry_config *cfg = NULL;
    if (ferry_rt_parse_text(rt, text, len, &cfg, true) < 0) {
        ferry_error("config", "%s/config version %lld refused: the running configuration stays",
                    rt->url, (long long)version);
        atomic_fetch_add(&rt->rejected, 1);
        return;
    }
    ferry_info("config", "%s/config version %lld: applying", rt->url, (long long)version);
    apply(rt, cfg, version);
}

void ferry_rt_reload_sighup(struct ferry_rt *rt)
{
    if (!rt->o->coord_url) {
        reload_file(rt);
        return;
    }
    char *text = NULL, err[512];
    size_t len = 0;
    int64_t version = 0;
    int rc = ferry_coord_get(rt->coord, "config", &text, &len, &version, err, sizeof(err));
    if (rc == 0)
        reload_text(rt, text, len, version);
    else
        ferry_error("config", "SIGHUP: %s/config: %s", rt->url, rc == 1 ? "deleted" : err);
    free(text);
}

void ferry_rt_reload_pending(struct ferry_rt *rt)
{
    pthread_mutex_lock(&rt->mu);
    char *text = rt->pending;
    size_t len = rt->pending_len;
    int64_t version = rt->pending_version;
    rt->pending = NULL;
    if (text && version <= rt->cur->version) { /* SIGHUP applied it, or a newer one */
        free(text);
        text = NULL;
    }
    pthread_mutex_unlock(&rt->mu);
    if (text) {
        reload_text(rt, text, len, version);
        free(text);
    }
}
