/* ferry: the runtime's jobs — the agent and each sink worker, on a thread of its own. See
 * process/runtime_internal.h.
 *
 * A job holds the generation it started with (it borrows pointers into it); the main thread
 * alone starts and stops jobs, and changes rt->agent and rt->workers under rt->mu because the
 * HTTP thread reads them. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/err.h"
#include "ferry/log.h"
#include "runtime_internal.h"

static const char *bootstrap_of(struct ferry_rt *rt, const struct ferry_rt_gen *g)
{
    return g->cfg->kafka.embedded ? ferry_mock_bootstraps(rt->mock) : g->cfg->kafka.brokers;
}

static void *job_main(void *arg)
{
    struct ferry_rt_job *j = arg;
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
static struct ferry_rt_job *job_start(struct ferry_rt *rt, struct ferry_rt_gen *g,
                                      const struct ferry_worker_config *w, char *err, size_t errlen)
{
    struct ferry_rt_job *j = calloc(1, sizeof(*j));
    int rc;
    if (!j) {
        ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "out of memory");
        return NULL;
    }
    j->rt = rt;
    j->w = w;
    j->gen = ferry_rt_gen_hold(rt, g);
    if (w)
        rc = ferry_worker_new(&j->worker, g->cfg, w, bootstrap_of(rt, g), err, errlen);
    else
        rc = ferry_agent_new(&j->agent, g->cfg, bootstrap_of(rt, g), err, errlen);
    if (rc < 0 || pthread_create(&j->tid, NULL, job_main, j) != 0) {
        if (rc == 0)
            ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "cannot start a thread");
        ferry_agent_destroy(j->agent);
        ferry_worker_destroy(j->worker);
        ferry_rt_gen_release(rt, j->gen);
        free(j);
        return NULL;
    }
    return j;
}

int ferry_rt_job_stop(struct ferry_rt *rt, struct ferry_rt_job *j)
{
    if (!j)
        return 0;
    j->stop = 1;
    pthread_join(j->tid, NULL);
    int rc = j->rc;
    ferry_agent_destroy(j->agent);
    ferry_worker_destroy(j->worker);
    ferry_rt_gen_release(rt, j->gen);
    free(j);
    return rc;
}

int ferry_rt_stop_agent(struct ferry_rt *rt)
{
    pthread_mutex_lock(&rt->mu);
    struct ferry_rt_job *a = rt->agent;
    rt->agent = NULL;
    pthread_mutex_unlock(&rt->mu);
    return ferry_rt_job_stop(rt, a);
}

int ferry_rt_stop_worker(struct ferry_rt *rt, size_t i)
{
    pthread_mutex_lock(&rt->mu); /* detached first: job_stop joins, and frees the job */
    struct ferry_rt_job *j = rt->workers[i];
    rt->workers[i] = rt->workers[--rt->nworkers];
    pthread_mutex_unlock(&rt->mu);
    return ferry_rt_job_stop(rt, j);
}

static int add_worker(struct ferry_rt *rt, struct ferry_rt_job *j)
{
    pthread_mutex_lock(&rt->mu);
    struct ferry_rt_job **v = realloc(rt->workers, (rt->nworkers + 1) * sizeof(*v));
    if (v) {
        rt->workers = v;
        v[rt->nworkers++] = j;
    }
    pthread_mutex_unlock(&rt->mu);
    return v ? 0 : FERRY_ERR_NOMEM;
}

static bool worker_runs(const struct ferry_rt *rt, const char *name)
{
    for (size_t i = 0; i < rt->nworkers; i++)
        if (!strcmp(rt->workers[i]->w->name, name))
            return true;
    return false;
}

int ferry_rt_start_parts(struct ferry_rt *rt, struct ferry_rt_gen *g, bool *started,
                         ferry_rt_part_failed_fn *failed)
{
    const struct ferry_config *cfg = g->cfg;
    char err[512];
    int rc = 0;

    if (rt->o->agent && !rt->agent && cfg->nsources > 0) {
        struct ferry_rt_job *a = job_start(rt, g, NULL, err, sizeof(err));
        pthread_mutex_lock(&rt->mu);
        rt->agent = a;
        pthread_mutex_unlock(&rt->mu);
        if (!a) {
            rc = FERRY_ERR_FATAL;
            if (!failed(rt, "agent", err))
                return rc;
        }
    }
    for (size_t k = 0; rt->o->sink && k < cfg->nworkers; k++) {
        if (worker_runs(rt, cfg->workers[k].name))
            continue;
        struct ferry_rt_job *j = job_start(rt, g, &cfg->workers[k], err, sizeof(err));
        if (!j || add_worker(rt, j) < 0) {
            ferry_rt_job_stop(rt, j);
            rc = FERRY_ERR_FATAL;
            if (!failed(rt, cfg->workers[k].name, j ? "out of memory" : err))
                return rc;
            continue;
        }
        if (started)
            started[k] = true;
    }
    return rc;
}
