/* ferry: the process runtime — jobs (the agent, one thread per worker), reloads, membership and
 * the leader's loop. See include/ferry/runtime.h.
 *
 * Configurations are generations: a job keeps the generation it started with (it borrows
 * pointers into it) and a generation is freed when its last job and the runtime let go. A
 * reload makes a new generation current and restarts only the jobs whose settings differ. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "ferry/agent.h"
#include "ferry/config.h"
#include "ferry/coord.h"
#include "ferry/err.h"
#include "ferry/http.h"
#include "ferry/log.h"
#include "ferry/mock.h"
#include "ferry/rollup.h"
#include "ferry/runtime.h"
#include "ferry/sink.h"
#include "ferry/version.h"

struct gen {
    struct ferry_config *cfg;
    int64_t version; /* the stored document's version; 0 for a file */
    int refs;        /* under runtime.mu */
};

struct runtime;

struct job {
    struct runtime *rt;
    pthread_t tid;
    struct ferry_agent *agent;
    struct ferry_worker *worker;
    const struct ferry_worker_config *w; /* a worker's settings, in gen */
    struct gen *gen;
    volatile sig_atomic_t stop;  /* set to stop this job alone */
    volatile sig_atomic_t ended; /* its thread returned */
    int rc;
    char err[512];
};

struct runtime {
    const struct ferry_serve_options *o;
    const char *role;
    pthread_mutex_t mu;
    struct gen *cur;
    struct ferry_mock *mock;
    struct job *agent;
    struct job **workers; /* changed by the main thread under mu: the HTTP thread reads them */
    size_t nworkers;
    /* coordination */
    bool have_coord;
    struct ferry_coord_options copts;
    struct ferry_coord *coord;
    char url[1024];      /* copts as a URL, for messages */
    char member_id[256]; /* <role>-<host>-<pid>: also this process's candidacy */
    char started[32];
    pthread_t watch_tid, leader_tid, check_tid;
    bool watching, electing, checking;
    volatile sig_atomic_t stopping; /* the process is stopping */
    volatile sig_atomic_t ended;    /* a job ended by itself: the process stops */
    bool failed;                    /* a job failed */
    /* a document the watch thread saw, for the main thread (under mu) */
    char *pending;
    size_t pending_len;
    int64_t pending_version;
    /* the status endpoint, and what it reports that no lock guards */
    struct ferry_http *http;
    _Atomic bool leading;               /* set by the leader thread while it leads */
    _Atomic int64_t fence;              /* its token then (0: none) */
    _Atomic uint64_t reloads, rejected; /* configurations applied after the first; refused */
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps ms, in slices, returning early once *flag is set. */
static void nap(int64_t ms, volatile sig_atomic_t *flag)
{
    while (ms > 0 && !*flag) {
        int64_t slice = ms < 100 ? ms : 100;
        struct timespec ts = {0, (long)slice * 1000000};
        nanosleep(&ts, NULL);
        ms -= slice;
    }
}

/* ---- generations ------------------------------------------------------------------------- */

static struct gen *gen_new(struct ferry_config *cfg, int64_t version)
{
    struct gen *g = calloc(1, sizeof(*g));
    if (!g) {
        ferry_config_destroy(cfg);
        return NULL;
    }
    g->cfg = cfg;
    g->version = version;
    g->refs = 1;
    return g;
}

static struct gen *gen_hold(struct runtime *rt, struct gen *g)
{
    pthread_mutex_lock(&rt->mu);
    g->refs++;
    pthread_mutex_unlock(&rt->mu);
    return g;
}

static void gen_release(struct runtime *rt, struct gen *g)
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

/* The current generation, held: release it with gen_release. */
static struct gen *gen_current(struct runtime *rt)
{
    pthread_mutex_lock(&rt->mu);
    struct gen *g = rt->cur;
    g->refs++;
    pthread_mutex_unlock(&rt->mu);
    return g;
}

/* ---- loading ----------------------------------------------------------------------------- */

static int load_file(const char *path, struct ferry_config **cfg, bool running)
{
    return ferry_config_load_report(path, cfg, running ? NULL : stderr);
}

static int parse_text(struct runtime *rt, const char *text, size_t len, struct ferry_config **cfg,
                      bool running)
{
    char name[1100];
    snprintf(name, sizeof(name), "%s/config", rt->url);
    return ferry_config_parse_report(name, text, len, cfg, running ? NULL : stderr);
}

/* ---- jobs -------------------------------------------------------------------------------- */

static const char *bootstrap_of(struct runtime *rt, const struct gen *g)
{
    return g->cfg->kafka.embedded ? ferry_mock_bootstraps(rt->mock) : g->cfg->kafka.brokers;
}

static void *job_main(void *arg)
{
    struct job *j = arg;
    if (j->agent)
        j->rc = ferry_agent_run(j->agent, &j->stop, j->err, sizeof(j->err));
    else
        j->rc = ferry_worker_run(j->worker, &j->stop, j->err, sizeof(j->err));
    if (j->rc < 0)
        ferry_error("ferry", "%s", j->err);
    if (!j->stop)
        j->rt->ended = 1; /* one part ending by itself stops the process */
    j->ended = 1;
    return NULL;
}

/* Creates and starts the agent (w NULL) or worker w of generation g. */
static struct job *job_start(struct runtime *rt, struct gen *g, const struct ferry_worker_config *w,
                             char *err, size_t errlen)
{
    struct job *j = calloc(1, sizeof(*j));
    int rc;
    if (!j) {
        ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
        return NULL;
    }
    j->rt = rt;
    j->w = w;
    j->gen = gen_hold(rt, g);
    if (w)
        rc = ferry_worker_new(&j->worker, g->cfg, w, bootstrap_of(rt, g), err, errlen);
    else
        rc = ferry_agent_new(&j->agent, g->cfg, bootstrap_of(rt, g), err, errlen);
    if (rc < 0 || pthread_create(&j->tid, NULL, job_main, j) != 0) {
        if (rc == 0)
            ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "cannot start a thread");
        ferry_agent_destroy(j->agent);
        ferry_worker_destroy(j->worker);
        gen_release(rt, j->gen);
        free(j);
        return NULL;
    }
    return j;
}

/* Stops a job at its safe point and frees it. */
static int job_stop(struct runtime *rt, struct job *j)
{
    if (!j)
        return 0;
    j->stop = 1;
    pthread_join(j->tid, NULL);
    int rc = j->rc;
    ferry_agent_destroy(j->agent);
    ferry_worker_destroy(j->worker);
    gen_release(rt, j->gen);
    free(j);
    return rc;
}

/* The HTTP thread reads rt->agent under mu. */
static void set_agent(struct runtime *rt, struct job *j)
{
    pthread_mutex_lock(&rt->mu);
    rt->agent = j;
    pthread_mutex_unlock(&rt->mu);
}

static int add_worker(struct runtime *rt, struct job *j)
{
    pthread_mutex_lock(&rt->mu);
    struct job **v = realloc(rt->workers, (rt->nworkers + 1) * sizeof(*v));
    if (v) {
        rt->workers = v;
        v[rt->nworkers++] = j;
    }
    pthread_mutex_unlock(&rt->mu);
    return v ? 0 : FERRY_ERR_NOMEM;
}

/* ---- membership -------------------------------------------------------------------------- */

static char *member_json(struct runtime *rt, const struct ferry_config *cfg)
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

static void register_member(struct runtime *rt, const struct ferry_config *cfg)
{
    char err[512];
    char *js = member_json(rt, cfg);
    if (js && ferry_coord_register(rt->coord, rt->member_id, js, err, sizeof(err)) < 0)
        ferry_warn("coord", "registering member %s: %s", rt->member_id, err);
    free(js);
}

/* ---- the leader's loop ------------------------------------------------------------------- */

/* Leads until the leadership is lost, fenced off, or the process stops: the rollups of the
 * current configuration, each run fenced by `fence`. Returns true when fenced off. */
static bool lead(struct runtime *rt, int64_t fence)
{
    struct gen *g = NULL;
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
        struct gen *cur = gen_current(rt);
        if (cur != g) { /* a new configuration: its rollups */
            char fence_name[512];
            ferry_rollups_destroy(ru);
            ru = NULL;
            gen_release(rt, g);
            g = cur;
            /* one row per leadership: the group, and the service and prefix whose tokens
             * it compares (tokens of different services or prefixes are not comparable) */
            snprintf(fence_name, sizeof(fence_name), "%s:%s%s", g->cfg->group,
                     !rt->coord                              ? "none"
                     : rt->copts.backend == FERRY_COORD_ETCD ? "etcd:"
                                                             : "zookeeper:",
                     rt->coord ? rt->copts.prefix : "");
            if (ferry_rollups_new(g->cfg, fence_name, &ru, err, sizeof(err)) < 0)
                ferry_error("leader", "rollups: %s", err);
            next = 0;
        } else {
            gen_release(rt, cur);
        }
        int64_t now = wall_ms();
        if (ru && g->cfg->nrollups && now >= next) {
            if (delay > 0) { /* fault injection for tests: a pause between check and write */
                ferry_info("leader", "rollup pass in %ld ms (FERRY_DEBUG_ROLLUP_DELAY_MS)", delay);
                nap(delay, &rt->stopping);
                if (rt->stopping)
                    break;
                now = wall_ms();
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
        int64_t wait = ru && g->cfg->nrollups ? next - wall_ms() : 100;
        nap(wait < 100 ? (wait > 0 ? wait : 10) : 100, &rt->stopping);
    }
    if (!rt->stopping && !fenced && rt->coord)
        ferry_warn("leader", "%s lost the leadership (token %lld): leader work stopped",
                   rt->member_id, (long long)fence);
    atomic_store(&rt->leading, false);
    atomic_store(&rt->fence, 0);
    ferry_rollups_destroy(ru);
    gen_release(rt, g);
    return fenced;
}

static void *leader_main(void *arg)
{
    struct runtime *rt = arg;
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
                nap(1000, &rt->stopping);
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

/* ---- reloads ----------------------------------------------------------------------------- */

/* The watch thread: hands every new version of <prefix>/config to the main thread. */
static void *watch_main(void *arg)
{
    struct runtime *rt = arg;
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
            nap(1000, &rt->stopping);
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

static const char *join_names(char *buf, size_t len, const char *what, size_t n)
{
    size_t at = strlen(buf);
    if (at < len)
        snprintf(buf + at, len - at, "%s%s", n > 0 ? ", " : "", what);
    return buf;
}

/* A part of the new configuration could not start (its old settings are gone already): the
 * process stops with exit code 1, for its supervisor to start it again, rather than run on
 * without that part. */
static void part_failed(struct runtime *rt, const char *what, const char *err)
{
    ferry_error("config", "%s: %s: stopping", what, err);
    rt->failed = true;
    rt->ended = 1;
}

/* Makes cfg current: restarts what differs, starts what is new, stops what is gone. */
static void apply(struct runtime *rt, struct ferry_config *cfg, int64_t version)
{
    struct ferry_config *old = rt->cur->cfg;
    char restarted[512] = "", started[512] = "", stopped[512] = "", err[512];
    size_t nre = 0, nst = 0, nsp = 0, kept = 0;

    if (old->kafka.embedded != cfg->kafka.embedded ||
        (old->kafka.embedded && !ferry_config_same_kafka(old, cfg))) {
        ferry_error("config",
                    "version %lld refused: an embedded cluster cannot change while it "
                    "runs (restart the process)",
                    (long long)version);
        atomic_fetch_add(&rt->rejected, 1);
        ferry_config_destroy(cfg);
        return;
    }
    if (!ferry_config_same_coordination(old, cfg) && !rt->o->coord_url)
        ferry_warn("config", "coordination settings change at the next start, not now");
    if ((old->http_listen == NULL) != (cfg->http_listen == NULL) ||
        (old->http_listen && strcmp(old->http_listen, cfg->http_listen)))
        ferry_warn("config", "http.listen changes at the next start, not now");
    struct gen *g = gen_new(cfg, version);
    if (!g)
        return;
    bool kafka = !ferry_config_same_kafka(old, cfg);
    if (rt->o->agent && (kafka || !ferry_config_same_agent(old, cfg))) {
        if (rt->agent) {
            struct job *a = rt->agent;
            set_agent(rt, NULL);
            job_stop(rt, a);
        }
        if (cfg->nsources == 0)
            ferry_warn("config", "agent.sources: no source configured: the agent stops");
        else if (set_agent(rt, job_start(rt, g, NULL, err, sizeof(err))), !rt->agent)
            part_failed(rt, "agent", err);
        join_names(restarted, sizeof(restarted), "agent", nre++);
    }
    bool all = kafka || !ferry_config_same_sinks(old, cfg);
    bool *again = calloc(cfg->nworkers ? cfg->nworkers : 1, sizeof(*again)); /* restarted */
    for (size_t i = 0; rt->o->sink && i < rt->nworkers;) {
        struct job *j = rt->workers[i];
        const struct ferry_worker_config *nw = NULL;
        for (size_t k = 0; k < cfg->nworkers && !nw; k++)
            if (!strcmp(cfg->workers[k].name, j->w->name))
                nw = &cfg->workers[k];
        if (nw && !all && ferry_config_same_worker(j->w, nw)) {
            kept++;
            i++;
            continue;
        }
        join_names(nw ? restarted : stopped, sizeof(restarted), j->w->name, nw ? nre++ : nsp++);
        if (nw && again)
            again[nw - cfg->workers] = true;
        pthread_mutex_lock(&rt->mu); /* detached first: job_stop joins, and frees j */
        rt->workers[i] = rt->workers[--rt->nworkers];
        pthread_mutex_unlock(&rt->mu);
        job_stop(rt, j);
    }
    for (size_t k = 0; rt->o->sink && k < cfg->nworkers; k++) {
        size_t i = 0;
        while (i < rt->nworkers && strcmp(rt->workers[i]->w->name, cfg->workers[k].name))
            i++;
        if (i < rt->nworkers)
            continue;
        struct job *j = job_start(rt, g, &cfg->workers[k], err, sizeof(err));
        if (!j || add_worker(rt, j) < 0) {
            part_failed(rt, cfg->workers[k].name, j ? "out of memory" : err);
            job_stop(rt, j);
            continue;
        }
        if (!again || !again[k])
            join_names(started, sizeof(started), cfg->workers[k].name, nst++);
    }
    free(again);
    pthread_mutex_lock(&rt->mu);
    struct gen *prev = rt->cur;
    rt->cur = g;
    pthread_mutex_unlock(&rt->mu);
    gen_release(rt, prev);
    atomic_fetch_add(&rt->reloads, 1);
    if (rt->coord)
        register_member(rt, cfg);
    if (rt->o->sink && !rt->electing && cfg->nrollups) /* the first rollups: someone fills them */
        rt->electing = pthread_create(&rt->leader_tid, NULL, leader_main, rt) == 0;
    ferry_info("config",
               "version %lld applied: restarted [%s], started [%s], stopped [%s], %zu unchanged "
               "worker(s) kept running",
               (long long)version, restarted, started, stopped, kept);
}

static void reload_file(struct runtime *rt)
{
    struct ferry_config *cfg = NULL;
    ferry_info("config", "SIGHUP: reading %s again", rt->o->config_file);
    if (load_file(rt->o->config_file, &cfg, true) < 0) {
        ferry_error("config", "%s refused: the running configuration stays", rt->o->config_file);
        atomic_fetch_add(&rt->rejected, 1);
        return;
    }
    apply(rt, cfg, 0);
}

static void reload_text(struct runtime *rt, const char *text, size_t len, int64_t version)
{
    struct ferry_config *cfg = NULL;
    if (parse_text(rt, text, len, &cfg, true) < 0) {
        ferry_error("config", "%s/config version %lld refused: the running configuration stays",
                    rt->url, (long long)version);
        atomic_fetch_add(&rt->rejected, 1);
        return;
    }
    ferry_info("config", "%s/config version %lld: applying", rt->url, (long long)version);
    apply(rt, cfg, version);
}

/* ---- the status endpoint ----------------------------------------------------------------- */

/* /status, as JSON. Runs on the HTTP thread: the jobs and the generation are read under mu;
 * role, member_id and url are set before the server starts and never change. */
static void status_fill(void *opaque, struct ferry_buf *out)
{
    struct runtime *rt = opaque;
    char source[1100];
    bool leading = atomic_load(&rt->leading);
    json_t *o = json_object(), *config = json_object(), *workers = json_array(),
           *sources = json_array();

    json_object_set_new(o, "id", json_string(rt->member_id));
    json_object_set_new(o, "role", json_string(rt->role));
    json_object_set_new(o, "version", json_string(FERRY_VERSION));
    json_object_set_new(o, "coordination", rt->have_coord ? json_string(rt->url) : json_null());
    json_object_set_new(o, "leading", json_boolean(leading));
    json_object_set_new(o, "fence",
                        leading && rt->coord ? json_integer(atomic_load(&rt->fence)) : json_null());
    if (rt->o->coord_url)
        snprintf(source, sizeof(source), "%s/config", rt->url);
    else
        snprintf(source, sizeof(source), "%s", rt->o->config_file ? rt->o->config_file : "");
    json_object_set_new(config, "source", json_string(source));
    pthread_mutex_lock(&rt->mu);
    const struct ferry_config *cfg = rt->cur->cfg;
    json_object_set_new(config, "version", json_integer(rt->cur->version));
    for (size_t i = 0; i < rt->nworkers; i++) {
        const struct job *j = rt->workers[i];
        json_t *w = json_object();
        json_object_set_new(w, "name", json_string(j->w->name));
        json_object_set_new(w, "type", json_string(ferry_sink_lookup(j->w->type)->type));
        json_object_set_new(w, "written",
                            json_integer((json_int_t)ferry_worker_written(j->worker)));
        json_array_append_new(workers, w);
    }
    for (size_t i = 0; rt->o->agent && i < cfg->nsources; i++)
        json_array_append_new(sources, json_string(cfg->sources[i].name));
    pthread_mutex_unlock(&rt->mu);
    json_object_set_new(o, "config", config);
    json_object_set_new(o, "workers", workers);
    json_object_set_new(o, "sources", sources);
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (s && ferry_buf_add(out, s, strlen(s)) == 0)
        ferry_buf_add(out, "\n", 1);
    free(s);
}

static void put(struct ferry_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct ferry_buf *b, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        ferry_buf_add(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* A label value, escaped as the text format wants: backslash, double quote and newline. */
static void put_label(struct ferry_buf *b, const char *v)
{
    for (; *v; v++) {
        const char *e = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ? "\\n" : NULL;
        ferry_buf_add(b, e ? e : v, e ? 2 : 1);
    }
}

static void put_family(struct ferry_buf *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One counter family with a sample per worker (or source): name, help, and where the value
 * lies in the stats struct. */
struct family {
    const char *name, *help;
    size_t at;
};

#define WORKER_FAMILY(n, field, help)                                                              \
    {                                                                                              \
        "ferry_worker_" n "_total", help, offsetof(struct ferry_worker_stats, field)               \
    }
static const struct family worker_families[] = {
    WORKER_FAMILY("events_consumed", consumed,
                  "Events taken from Kafka into a batch; events given back after a failed write "
                  "count again"),
    WORKER_FAMILY("events_written", written,
                  "Events a sink worker wrote, not those the sink had already (replayed); "
                  "from 0 again when a reload restarts the worker"),
    WORKER_FAMILY("write_failures", failed_writes,
                  "Writes that failed; the batch was given back and is written again"),
    WORKER_FAMILY("events_replayed", replayed,
                  "Events offered again that the sink already had, left out (replays after a "
                  "crash, a rebalance or a lost connection)"),
    WORKER_FAMILY("write_conflicts", conflicts,
                  "Transactions given up because another writer moved an offset of their "
                  "partitions"),
    WORKER_FAMILY("events_refused", refused,
                  "Rows or commands the server refused for good, left out and counted"),
    WORKER_FAMILY("events_dead_lettered", dead_lettered, "Events sent to the dead-letter topic"),
    WORKER_FAMILY("partitions_assigned", assigned, "Partitions assigned to the worker"),
    WORKER_FAMILY("partitions_revoked", revoked,
                  "Partitions taken from the worker (revoked or lost)"),
};

#define SOURCE_FAMILY(n, field, help)                                                              \
    {                                                                                              \
        "ferry_source_" n "_total", help, offsetof(struct ferry_source_stats, field)               \
    }
static const struct family source_families[] = {
    SOURCE_FAMILY("events_sent", sent, "Events of a source handed to its Kafka producer"),
    SOURCE_FAMILY("events_acked", acked, "Events of a source Kafka acknowledged"),
    SOURCE_FAMILY("delivery_failures", failed,
                  "Deliveries that failed; the events are read from the source again"),
    SOURCE_FAMILY("events_refused", refused, "Events the producer refused for good (logged)"),
    SOURCE_FAMILY("queue_full", queue_full,
                  "Times reading stopped because the producer's queue was full"),
    SOURCE_FAMILY("events_resent", resent,
                  "Events whose delivery failed, read again from the source and sent again"),
    SOURCE_FAMILY("events_given_up", given_up,
                  "Events whose delivery failed and that the source could not read again (not "
                  "in Kafka, logged)"),
};

static uint64_t field_at(const void *stats, size_t at)
{
    uint64_t v;
    memcpy(&v, (const char *)stats + at, sizeof(v));
    return v;
}

/* Under rt->mu. */
static void put_worker_metrics(struct ferry_buf *out, struct runtime *rt)
{
    struct ferry_worker_stats *st = calloc(rt->nworkers + 1, sizeof(*st));
    if (!st)
        return;
    for (size_t i = 0; i < rt->nworkers; i++)
        ferry_worker_stats(rt->workers[i]->worker, &st[i]);
    for (size_t f = 0; f < sizeof(worker_families) / sizeof(worker_families[0]); f++) {
        put_family(out, worker_families[f].name, "counter", worker_families[f].help);
        for (size_t i = 0; i < rt->nworkers; i++) {
            put(out, "%s{worker=\"", worker_families[f].name);
            put_label(out, rt->workers[i]->w->name);
            put(out, "\"} %" PRIu64 "\n", field_at(&st[i], worker_families[f].at));
        }
    }
    free(st);
}

static void put_source_metrics(struct ferry_buf *out, const struct ferry_agent *a)
{
    size_t n = ferry_agent_nsources(a);
    struct ferry_source_stats *st = calloc(n + 1, sizeof(*st));
    if (!st)
        return;
    for (size_t i = 0; i < n; i++)
        ferry_agent_stats(a, i, &st[i]);
    for (size_t f = 0; f < sizeof(source_families) / sizeof(source_families[0]); f++) {
        put_family(out, source_families[f].name, "counter", source_families[f].help);
        for (size_t i = 0; i < n; i++) {
            put(out, "%s{source=\"", source_families[f].name);
            put_label(out, st[i].name);
            put(out, "\"} %" PRIu64 "\n", field_at(&st[i], source_families[f].at));
        }
    }
    free(st);
}

/* /metrics, in the Prometheus text format 0.0.4. Runs on the HTTP thread, like status_fill. */
static void metrics_fill(void *opaque, struct ferry_buf *out)
{
    struct runtime *rt = opaque;
    bool leading = atomic_load(&rt->leading);

    put_family(out, "ferry_up", "gauge", "1 while the process runs");
    put(out, "ferry_up 1\n");
    pthread_mutex_lock(&rt->mu);
    put_worker_metrics(out, rt);
    if (rt->agent)
        put_source_metrics(out, rt->agent->agent);
    pthread_mutex_unlock(&rt->mu);
    put_family(out, "ferry_leader", "gauge", "1 while this process leads (fills the rollups)");
    put(out, "ferry_leader %d\n", leading ? 1 : 0);
    put_family(out, "ferry_leader_fence_token", "gauge",
               "The fencing token of the leadership held; 0 when none");
    put(out, "ferry_leader_fence_token %" PRId64 "\n", leading ? atomic_load(&rt->fence) : 0);
    put_family(out, "ferry_config_reloads_total", "counter",
               "Configurations applied after the first one");
    put(out, "ferry_config_reloads_total %" PRIu64 "\n", atomic_load(&rt->reloads));
    put_family(out, "ferry_config_rejected_total", "counter",
               "Configurations refused (the running one stayed in force)");
    put(out, "ferry_config_rejected_total %" PRIu64 "\n", atomic_load(&rt->rejected));
}

/* ---- start and stop ---------------------------------------------------------------------- */

/* The first configuration: from the file, or from the service (the file, if any, then only
 * supplies the coordination section). Opens the coordination session when there is one. */
static int start_config(struct runtime *rt)
{
    const struct ferry_serve_options *o = rt->o;
    struct ferry_config *local = NULL, *cfg = NULL;
    char err[1024];
    int64_t version = 0;

    if (o->config_file && o->coord_url) { /* the file supplies the coordination section */
        if (ferry_config_load_coordination_report(o->config_file, &local, stderr) < 0)
            return 2;
    } else if (o->config_file && load_file(o->config_file, &local, false) < 0) {
        return 2;
    }
    if (o->coord_url || (local && local->coordination.backend != FERRY_COORD_NONE)) {
        if (ferry_coord_resolve(o->coord_url, local ? &local->coordination : NULL, &rt->copts, err,
                                sizeof(err)) < 0) {
            fprintf(stderr, "ferry: %s\n", err);
            ferry_config_destroy(local);
            return 2;
        }
        rt->have_coord = true;
        ferry_coord_url_format(&rt->copts, rt->url, sizeof(rt->url));
        if (ferry_coord_open(&rt->copts, &rt->coord, err, sizeof(err)) < 0) {
            fprintf(stderr, "ferry: %s: %s\n", rt->url, err);
            ferry_config_destroy(local);
            return 1;
        }
    }
    if (o->coord_url) {
        char *text = NULL;
        size_t len = 0;
        int rc = ferry_coord_get(rt->coord, "config", &text, &len, &version, err, sizeof(err));
        if (rc != 0) {
            fprintf(stderr, "ferry: %s/config: %s\n", rt->url,
                    rc == 1 ? "no configuration stored there (ferry config push)" : err);
            ferry_config_destroy(local);
            return rc == 1 ? 2 : 1;
        }
        rc = parse_text(rt, text, len, &cfg, false);
        free(text);
        ferry_config_destroy(local);
        if (rc < 0)
            return 2;
    } else {
        cfg = local;
    }
    if (!(rt->cur = gen_new(cfg, version)))
        return 1;
    return 0;
}

static void stop_all(struct runtime *rt)
{
    ferry_http_stop(rt->http); /* first: no status request runs from here on */
    rt->http = NULL;
    pthread_mutex_lock(&rt->mu);
    struct job **workers = rt->workers;
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
        if (job_stop(rt, workers[i]) < 0)
            rt->failed = true;
    free(workers);
    struct job *a = rt->agent;
    set_agent(rt, NULL);
    if (a && job_stop(rt, a) < 0)
        rt->failed = true;
}

/* Waits for signals and reloads until the process stops. */
/* This process's member entry, put again when it is missing: a registration that failed (the
 * service went away at that moment) or an entry lost with a session that came back. */
static void check_membership(struct runtime *rt, int64_t *next)
{
    int64_t now = wall_ms();
    char key[300], err[512], *value = NULL;
    size_t len;
    int64_t version;
    if (!rt->coord || now < *next)
        return;
    *next = now + 2000;
    snprintf(key, sizeof(key), "members/%s", rt->member_id);
    int rc = ferry_coord_get(rt->coord, key, &value, &len, &version, err, sizeof(err));
    free(value);
    if (rc != 1)
        return; /* there, or the service cannot say now */
    struct gen *g = gen_current(rt);
    ferry_info("coord", "member entry %s missing: registering it again", rt->member_id);
    register_member(rt, g->cfg);
    gen_release(rt, g);
}

static void *check_main(void *arg)
{
    struct runtime *rt = arg;
    int64_t next = wall_ms() + 2000;
    while (!rt->stopping) {
        check_membership(rt, &next);
        nap(200, &rt->stopping);
    }
    return NULL;
}

static void main_loop(struct runtime *rt, const sigset_t *set)
{
    struct timespec tick = {0, 200 * 1000 * 1000};
    while (!rt->ended) {
        int sig = sigtimedwait(set, NULL, &tick);
        if (sig == SIGHUP) {
            if (rt->o->coord_url) {
                char *text = NULL, err[512];
                size_t len = 0;
                int64_t version = 0;
                int rc =
                    ferry_coord_get(rt->coord, "config", &text, &len, &version, err, sizeof(err));
                if (rc == 0)
                    reload_text(rt, text, len, version);
                else
                    ferry_error("config", "SIGHUP: %s/config: %s", rt->url,
                                rc == 1 ? "deleted" : err);
                free(text);
            } else {
                reload_file(rt);
            }
        } else if (sig > 0) {
            ferry_info("ferry", "signal %d: stopping", sig);
            return;
        }
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
}

int ferry_serve(const struct ferry_serve_options *o)
{
    struct runtime rt = {.o = o};
    char err[1024], host[200] = "";
    int rc;
    sigset_t set;

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
    if ((rc = start_config(&rt)) != 0)
        goto out;
    struct ferry_config *cfg = rt.cur->cfg;
    rc = 2;
    if (o->agent && cfg->nsources == 0) {
        fprintf(stderr, "%s: agent.sources: no source configured\n", cfg->path);
        goto out;
    }
    if (o->sink && cfg->nworkers == 0) {
        fprintf(stderr, "%s: sinks.workers: no worker configured\n", cfg->path);
        goto out;
    }
    rc = 1;
    if (cfg->kafka.embedded) {
        if (!(o->agent && o->sink))
            ferry_warn("ferry", "kafka.brokers is 'embedded': the cluster lives in this process "
                                "only; use 'ferry run' or a real cluster");
        if (ferry_mock_new_for_config(&rt.mock, cfg, err, sizeof(err)) < 0) {
            fprintf(stderr, "ferry: %s\n", err);
            goto out;
        }
    }
    /* Memory crosses threads both ways: the agent's thread allocates every message and
     * librdkafka's threads free them (with one arena per thread glibc spent a fifth of the
     * agent's time moving memory between arenas, tests/bench/agent.sh); a worker frees what
     * librdkafka's broker threads fetched, and each broker thread's arena kept its own high
     * water mark: a worker with a full 64 MiB prefetch held 250 MiB instead of 105 MiB
     * (tests/integration/sink_paused_memory.sh). One arena for every process. */
    mallopt(M_ARENA_MAX, 1);

    if (o->agent && (set_agent(&rt, job_start(&rt, rt.cur, NULL, err, sizeof(err))), !rt.agent)) {
        fprintf(stderr, "ferry: %s\n", err);
        goto out;
    }
    for (size_t i = 0; o->sink && i < cfg->nworkers; i++) {
        struct job *j = job_start(&rt, rt.cur, &cfg->workers[i], err, sizeof(err));
        if (!j || add_worker(&rt, j) < 0) {
            fprintf(stderr, "ferry: %s\n", j ? "out of memory" : err);
            job_stop(&rt, j);
            stop_all(&rt);
            goto out;
        }
    }
    if (rt.coord) {
        gethostname(host, sizeof(host) - 1);
        snprintf(rt.member_id, sizeof(rt.member_id), "%s-%s-%d", rt.role, host, (int)getpid());
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(rt.started, sizeof(rt.started), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    if (cfg->http_listen) { /* after the member id: the server's thread reads it */
        if (ferry_http_start(&rt.http, cfg->http_listen, status_fill, metrics_fill, &rt, err,
                             sizeof(err)) < 0) {
            fprintf(stderr, "ferry: %s\n", err);
            stop_all(&rt);
            goto out;
        }
        ferry_info("http", "listening on %s", ferry_http_address(rt.http));
    }
    if (rt.coord) {
        register_member(&rt, cfg);
        ferry_info("coord", "member %s of %s", rt.member_id, rt.url);
        if (o->coord_url)
            rt.watching = pthread_create(&rt.watch_tid, NULL, watch_main, &rt) == 0;
        rt.checking = pthread_create(&rt.check_tid, NULL, check_main, &rt) == 0;
    }
    if (o->sink && (rt.coord || cfg->nrollups))
        rt.electing = pthread_create(&rt.leader_tid, NULL, leader_main, &rt) == 0;
    main_loop(&rt, &set);
    stop_all(&rt);
    rc = rt.failed ? 1 : 0;
out:
    if (rt.coord)
        ferry_coord_close(rt.coord);
    if (rt.have_coord)
        ferry_coord_options_release(&rt.copts);
    free(rt.workers);
    free(rt.pending);
    if (rt.cur)
        gen_release(&rt, rt.cur);
    ferry_mock_destroy(rt.mock);
    pthread_mutex_destroy(&rt.mu);
    return rc;
}
