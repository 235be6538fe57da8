/* ferry: the process runtime's serve loop — the first configuration, the start of every part,
 * the signal loop and the stop. See include/ferry/runtime.h; the other pieces (jobs, reloads,
 * membership, the leader, the status endpoint) are listed in process/runtime_internal.h. */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "ferry/err.h"
#include "ferry/log.h"
#include "runtime_internal.h"

/* ---- the first configuration ------------------------------------------------------------- */

/* Resolves the coordination service from --coord and the file's section, and opens a session.
 * 0, or the exit code (said on stderr): 2 for the settings, 1 when it cannot be reached. */
static int open_coord(struct ferry_rt *rt, const struct ferry_config *local)
{
    char err[1024];
    if (ferry_coord_connect(rt->o->coord_url, local ? &local->coordination : NULL, &rt->copts,
                            &rt->have_coord, &rt->coord, rt->url, sizeof(rt->url), err,
                            sizeof(err)) == 0)
        return 0;
    if (!rt->have_coord) {
        fprintf(stderr, "ferry: %s\n", err);
        return 2;
    }
    fprintf(stderr, "ferry: %s: %s\n", rt->url, err);
    return 1;
}

/* The document stored at <prefix>/config, parsed into *cfg. 0, or the exit code. */
static int stored_config(struct ferry_rt *rt, struct ferry_config **cfg, int64_t *version)
{
    char err[1024], *text = NULL;
    size_t len = 0;
    int rc = ferry_coord_get(rt->coord, "config", &text, &len, version, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "ferry: %s/config: %s\n", rt->url,
                rc == 1 ? "no configuration stored there (ferry config push)" : err);
        return rc == 1 ? 2 : 1;
    }
    rc = ferry_rt_parse_text(rt, text, len, cfg, false);
    free(text);
    return rc < 0 ? 2 : 0;
}

/* The first configuration: from the file, or from the service (the file, if any, then only
 * supplies the coordination section). Opens the coordination session when there is one. 0, or
 * the exit code (said on stderr). */
static int first_config(struct ferry_rt *rt)
{
    const struct ferry_serve_options *o = rt->o;
    struct ferry_config *local = NULL, *cfg = NULL;
    int64_t version = 0;
    int rc = 0;

    if (o->config_file && o->coord_url) { /* the file supplies the coordination section */
        if (ferry_config_load_coordination_report(o->config_file, &local, stderr) < 0)
            return 2;
    } else if (o->config_file && ferry_rt_load_file(o->config_file, &local, false) < 0) {
        return 2;
    }
    if (o->coord_url || (local && local->coordination.backend != FERRY_COORD_NONE))
        rc = open_coord(rt, local);
    if (rc == 0 && o->coord_url) {
        rc = stored_config(rt, &cfg, &version);
    } else if (rc == 0) {
        cfg = local;
        local = NULL; /* now the generation's */
    }
    ferry_config_destroy(local);
    if (rc != 0)
        return rc;
    if (!(rt->cur = ferry_rt_gen_new(cfg, version)))
        return 1;
    return 0;
}

/* ---- start ------------------------------------------------------------------------------- */

/* What the command runs must be configured. 0, or exit code 2 (said on stderr). */
static int check_roles(const struct ferry_rt *rt)
{
    const struct ferry_config *cfg = rt->cur->cfg;
    if (rt->o->agent && cfg->nsources == 0) {
        fprintf(stderr, "%s: agent.sources: no source configured\n", cfg->path);
        return 2;
    }
    if (rt->o->sink && cfg->nworkers == 0) {
        fprintf(stderr, "%s: sinks.workers: no worker configured\n", cfg->path);
        return 2;
    }
    return 0;
}

static int start_mock(struct ferry_rt *rt)
{
    const struct ferry_config *cfg = rt->cur->cfg;
    char err[1024];
    if (!cfg->kafka.embedded)
        return 0;
    if (!(rt->o->agent && rt->o->sink))
        ferry_warn("ferry", "kafka.brokers is 'embedded': the cluster lives in this process "
                            "only; use 'ferry run' or a real cluster");
    if (ferry_mock_new_for_config(&rt->mock, cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "ferry: %s\n", err);
        return 1;
    }
    return 0;
}

/* A part that cannot start at the start: said on stderr, and nothing more starts. */
static bool start_failed(struct ferry_rt *rt, const char *part, const char *err)
{
    (void)rt;
    (void)part;
    fprintf(stderr, "ferry: %s\n", err);
    return false;
}

/* The member id (<role>-<host>-<pid>) and the start time, with a coordination service. */
static void set_identity(struct ferry_rt *rt)
{
    char host[200] = "";
    struct tm tm;
    time_t now = time(NULL);

    if (!rt->coord)
        return;
    gethostname(host, sizeof(host) - 1);
    snprintf(rt->member_id, sizeof(rt->member_id), "%s-%s-%d", rt->role, host, (int)getpid());
    gmtime_r(&now, &tm);
    strftime(rt->started, sizeof(rt->started), "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int start_http(struct ferry_rt *rt)
{
    const struct ferry_config *cfg = rt->cur->cfg;
    char err[1024];
    if (!cfg->http_listen)
        return 0;
    if (ferry_http_start(&rt->http, cfg->http_listen, ferry_rt_status_fill, ferry_rt_metrics_fill,
                         rt, err, sizeof(err)) < 0) {
        fprintf(stderr, "ferry: %s\n", err);
        return 1;
    }
    ferry_info("http", "listening on %s", ferry_http_address(rt->http));
    return 0;
}

/* Registers this process and starts the watch and membership threads. */
static void join_coord(struct ferry_rt *rt)
{
    if (!rt->coord)
        return;
    ferry_rt_register_member(rt, rt->cur->cfg);
    ferry_info("coord", "member %s of %s", rt->member_id, rt->url);
    if (rt->o->coord_url)
        rt->watching = pthread_create(&rt->watch_tid, NULL, ferry_rt_watch_main, rt) == 0;
    rt->checking = pthread_create(&rt->check_tid, NULL, ferry_rt_check_main, rt) == 0;
}

/* ---- stop -------------------------------------------------------------------------------- */

static void stop_all(struct ferry_rt *rt)
{
    ferry_http_stop(rt->http); /* first: no status request runs from here on */
    rt->http = NULL;
    pthread_mutex_lock(&rt->mu);
    struct ferry_rt_job **workers = rt->workers;
    size_t n = rt->nworkers;
    rt->workers = NULL;
    rt->nworkers = 0;
    pthread_mutex_unlock(&rt->mu);
    /* every part told at once: the jobs' last batches and checkpoints must not wait for a
     * rollup pass or a resignation */
    rt->stopping = 1;
    for (size_t i = 0; i < n; i++)
        workers[i]->stop = 1;
    if (rt->agent)
        rt->agent->stop = 1;
    if (rt->electing)
        pthread_join(rt->leader_tid, NULL);
    if (rt->watching)
        pthread_join(rt->watch_tid, NULL);
    if (rt->checking)
        pthread_join(rt->check_tid, NULL);
    /* workers first: their last batches need the sinks, not the agent */
    for (size_t i = 0; i < n; i++)
        if (ferry_rt_job_stop(rt, workers[i]) < 0)
            rt->failed = true;
    free(workers);
    if (ferry_rt_stop_agent(rt) < 0)
        rt->failed = true;
}

static void release(struct ferry_rt *rt)
{
    if (rt->coord)
        ferry_coord_close(rt->coord);
    if (rt->have_coord)
        ferry_coord_options_release(&rt->copts);
    free(rt->workers);
    free(rt->pending);
    if (rt->cur)
        ferry_rt_gen_release(rt, rt->cur);
    ferry_mock_destroy(rt->mock);
    pthread_mutex_destroy(&rt->mu);
}

/* ---- serve ------------------------------------------------------------------------------- */

/* Waits for signals and reloads until the process stops. */
static void main_loop(struct ferry_rt *rt, const sigset_t *set)
{
    struct timespec tick = {0, 200 * 1000 * 1000};
    while (!rt->ended) {
        int sig = sigtimedwait(set, NULL, &tick);
        if (sig == SIGHUP) {
            ferry_rt_reload_sighup(rt);
        } else if (sig > 0) {
            ferry_info("ferry", "signal %d: stopping", sig);
            return;
        }
        ferry_rt_reload_pending(rt);
    }
}

/* Everything after the first configuration, up to the signal loop. 0, or the exit code (said
 * on stderr) with nothing left running. */
static int start(struct ferry_rt *rt)
{
    int rc;
    if ((rc = check_roles(rt)) != 0 || (rc = start_mock(rt)) != 0)
        return rc;
    /* Memory crosses threads both ways: the agent's thread allocates every message and
     * librdkafka's threads free them (with one arena per thread glibc spent a fifth of the
     * agent's time moving memory between arenas, tests/bench/agent.sh); a worker frees what
     * librdkafka's broker threads fetched, and each broker thread's arena kept its own high
     * water mark: a worker with a full 64 MiB prefetch held 250 MiB instead of 105 MiB
     * (tests/integration/sink_paused_memory.sh). One arena for every process. */
    mallopt(M_ARENA_MAX, 1);
    set_identity(rt);
    if (ferry_rt_start_parts(rt, rt->cur, NULL, start_failed) < 0 ||
        start_http(rt) != 0) { /* after the member id: the server's thread reads it */
        stop_all(rt);
        return 1;
    }
    join_coord(rt);
    ferry_rt_leader_start(rt);
    return 0;
}

int ferry_serve(const struct ferry_serve_options *o)
{
    struct ferry_rt rt = {.o = o};
    sigset_t set;
    int rc;

    rt.role = o->agent && o->sink ? "run" : o->agent ? "agent" : "sink";
    pthread_mutex_init(&rt.mu, NULL);
    /* before any thread starts (the coordination session's too): every thread inherits the
     * mask, and the signals reach the main thread's sigtimedwait alone. A peer that closed a
     * socket is an error of the write, not the end of the process. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if ((rc = first_config(&rt)) == 0 && (rc = start(&rt)) == 0) {
        main_loop(&rt, &set);
        stop_all(&rt);
        rc = rt.failed ? 1 : 0;
    }
    release(&rt);
    return rc;
}
