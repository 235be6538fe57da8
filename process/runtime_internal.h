/* ferry: what the pieces of the process runtime share (private to process/).
 *
 *   runtime.c   ferry_serve: the first configuration, start, the signal loop, stop
 *   jobs.c      the agent and the workers, one thread each
 *   reload.c    generations, loading a configuration, the diff applied on a reload, the watch
 *   member.c    this process's member entry in the coordination service
 *   leader.c    the election and the leader's rollup passes
 *   status.c    the bodies of /status and /metrics
 *
 * Threads: the main thread runs ferry_serve, the signal loop and every reload; it alone starts
 * and stops jobs and threads. The HTTP thread reads the jobs and the current generation under
 * rt->mu; the leader, watch and membership threads read what ferry_serve set before starting
 * them (role, member_id, url, copts, coord) and take the current generation under rt->mu. */
#ifndef FERRY_RUNTIME_INTERNAL_H
#define FERRY_RUNTIME_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ferry/agent.h"
#include "ferry/config.h"
#include "ferry/coord.h"
#include "ferry/fields.h"
#include "ferry/http.h"
#include "ferry/mock.h"
#include "ferry/runtime.h"

/* A configuration generation: jobs borrow pointers into cfg for as long as they hold it. */
struct ferry_rt_gen {
    struct ferry_config *cfg; /* owned */
    int64_t version;          /* the stored document's version; 0 for a file */
    int refs;                 /* under ferry_rt.mu */
};

struct ferry_rt;

/* The agent (agent set) or one worker (worker and w set), on a thread of its own. */
struct ferry_rt_job {
    struct ferry_rt *rt;
    pthread_t tid;
    struct ferry_agent *agent;
    struct ferry_worker *worker;
    const struct ferry_worker_config *w; /* a worker's settings, in gen */
    struct ferry_rt_gen *gen;            /* held */
    volatile sig_atomic_t stop;          /* set to stop this job alone */
    volatile sig_atomic_t ended;         /* its thread returned */
    int rc;
    char err[512];
};

struct ferry_rt {
    const struct ferry_serve_options *o;
    const char *role;
    pthread_mutex_t mu;
    struct ferry_rt_gen *cur;
    struct ferry_mock *mock;
    struct ferry_rt_job *agent; /* changed by the main thread under mu: the HTTP thread reads it */
    struct ferry_rt_job **workers; /* likewise */
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

/* Sleeps ms, in slices of 100 ms, returning early once *flag is set. */
static inline void ferry_rt_nap(int64_t ms, volatile sig_atomic_t *flag)
{
    while (ms > 0 && !*flag) {
        int64_t slice = ms < 100 ? ms : 100;
        struct timespec ts = {0, (long)slice * 1000000};
        nanosleep(&ts, NULL);
        ms -= slice;
    }
}

/* ---- reload.c: generations and configurations ------------------------------------------- */

/* A generation of cfg, holding one reference. Takes cfg over: on failure (out of memory) cfg
 * is destroyed and NULL returned. */
struct ferry_rt_gen *ferry_rt_gen_new(struct ferry_config *cfg, int64_t version);
/* Another reference to g (returned). Any thread. */
struct ferry_rt_gen *ferry_rt_gen_hold(struct ferry_rt *rt, struct ferry_rt_gen *g);
/* The current generation, held. Any thread. */
struct ferry_rt_gen *ferry_rt_gen_current(struct ferry_rt *rt);
/* Lets go of one reference; the last frees g and its configuration. Accepts NULL. Any thread. */
void ferry_rt_gen_release(struct ferry_rt *rt, struct ferry_rt_gen *g);

/* Loads the file at path into *cfg (caller destroys it). Before the process runs (running
 * false) every diagnostic goes to stderr as file:line:column, later to the log. 0, or a
 * negative ferry_err with nothing left behind. */
int ferry_rt_load_file(const char *path, struct ferry_config **cfg, bool running);
/* The same for a document of the coordination service, named <url>/config in diagnostics. */
int ferry_rt_parse_text(struct ferry_rt *rt, const char *text, size_t len,
                        struct ferry_config **cfg, bool running);

/* Main thread: SIGHUP: reads the file, or the stored document, again and applies it. A
 * document that does not load is refused (counted) and the running configuration stays. */
void ferry_rt_reload_sighup(struct ferry_rt *rt);
/* Main thread: applies the document the watch thread left in rt->pending, unless what runs is
 * that version or a newer one already. */
void ferry_rt_reload_pending(struct ferry_rt *rt);
/* The watch thread (pthread start routine, arg the runtime): hands every new version of
 * <prefix>/config to the main thread through rt->pending, until rt->stopping. */
void *ferry_rt_watch_main(void *arg);

/* ---- jobs.c: the agent and the workers -------------------------------------------------- */

/* Called for a part (the agent, or a worker by name) that could not start, with why; returns
 * true to go on starting the others, false to stop there. */
typedef bool ferry_rt_part_failed_fn(struct ferry_rt *rt, const char *part, const char *err);

/* Main thread. Starts from generation g what this process runs and what does not run yet: the
 * agent (when it runs one, none runs and g has sources) and each worker of g that no running
 * job has the name of. started, when not NULL, has one flag per worker of g, set for each
 * worker started here. A part that cannot start leaves nothing of itself behind and is handed
 * to failed. Returns 0 when everything started, else FERRY_ERR_FATAL (what did start runs). */
int ferry_rt_start_parts(struct ferry_rt *rt, struct ferry_rt_gen *g, bool *started,
                         ferry_rt_part_failed_fn *failed);
/* Main thread. Stops job j at its safe point, joins its thread and frees it (releasing its
 * generation). Detach it from rt first. Returns the job's own result; accepts NULL (0). */
int ferry_rt_job_stop(struct ferry_rt *rt, struct ferry_rt_job *j);
/* Main thread. Detaches the agent's job (under mu: the HTTP thread reads it) and stops it;
 * returns what ferry_rt_job_stop returns (0 when none ran). */
int ferry_rt_stop_agent(struct ferry_rt *rt);
/* Main thread. Detaches worker job i (under mu; the last one takes its place) and stops it. */
int ferry_rt_stop_worker(struct ferry_rt *rt, size_t i);

/* ---- member.c: membership --------------------------------------------------------------- */

/* Puts this process's member entry (id, role, host, pid, what it runs of cfg). A failure is
 * logged: the membership thread puts the entry again when it finds it missing. */
void ferry_rt_register_member(struct ferry_rt *rt, const struct ferry_config *cfg);
/* The membership thread (pthread start routine, arg the runtime): every 2 s, puts the member
 * entry again when the service has lost it, until rt->stopping. */
void *ferry_rt_check_main(void *arg);

/* ---- leader.c: the election and the leader's work --------------------------------------- */

/* Main thread. Starts the leader thread when this process runs sinks, none runs yet, and
 * there is something to lead: a coordination service to campaign in, or rollups to fill.
 * rt->electing says whether it runs. */
void ferry_rt_leader_start(struct ferry_rt *rt);

/* ---- status.c: the HTTP endpoint's bodies ----------------------------------------------- */

/* /status (JSON) and /metrics (Prometheus text 0.0.4); ferry_http_fill callbacks, opaque the
 * runtime. They run on the HTTP thread. */
void ferry_rt_status_fill(void *opaque, struct ferry_buf *out);
void ferry_rt_metrics_fill(void *opaque, struct ferry_buf *out);

#endif
