/* ferry: the tail source's internals, shared by sources/tail.c (reading, emitting,
 * checkpoints) and sources/tail_scan.c (finding files, identity, inotify). Not an API. */
#ifndef FERRY_SOURCES_TAIL_H
#define FERRY_SOURCES_TAIL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "ferry/checkpoint.h"
#include "ferry/framer.h"
#include "ferry/source.h"

#define TAIL_FP_BYTES  1024 /* a file's head (and fingerprint) covers up to this many bytes */
#define TAIL_FP_MIN    64   /* telling a copy by content alone needs at least this many */
#define TAIL_SETTLE_MS 250  /* a short new file like the start of another waits this long */
#define TAIL_SEQ_BITS  40   /* position token: slot << TAIL_SEQ_BITS | sequence number */
#define TAIL_SEQ_MASK  ((1ull << TAIL_SEQ_BITS) - 1)
#define TAIL_MAX_SLOTS (1u << 23)
#define TAIL_MAX_WATCH 1024 /* directories watched with inotify; beyond, the rescan finds files */
#define TAIL_MAX_WARN  256  /* paths remembered so that each is warned about once */

/* See sources/tail.c. */
enum tail_state { TF_PENDING, TF_LIVE, TF_DETACHED, TF_ORPHAN, TF_DONE };

struct tail_file {
    uint32_t slot;
    enum tail_state state;
    char *path; /* where it was last found */
    int fd;     /* -1 once closed, and while an orphan has no copy */
    dev_t dev;  /* 0 and 0 for an orphan: its inode now holds other content */
    ino_t ino;
    char head[TAIL_FP_BYTES]; /* the file's first bytes as far as known; never shrinks */
    size_t head_len;
    uint64_t fp;            /* ferry_fingerprint of head[0..head_len) */
    int64_t copy_size;      /* a copy shorter than what was read of its original (the rest was
                               read from the original before its truncation): its size; else -1 */
    int64_t pend_size;      /* PENDING: its size when last classified (-1: never) */
    int64_t last_growth;    /* monotonic ms: when it last grew, or changed state */
    bool seen;              /* found by the latest scan */
    bool at_start;          /* found by the first scan (start_at applies) */
    bool recheck;           /* PENDING: classify again on the next poll, grown or not */
    bool noted;             /* PENDING: its verdict was logged */
    bool read_failed;       /* a read error was logged (once until a read works again) */
    uint32_t redo;          /* its events waiting to be sent again (tail.c, retries) */
    struct ferry_framer fr; /* both zero while PENDING */
    struct ferry_watermark wm;
};

/* An event Kafka gave up on, to be read again from its file and sent again. */
struct tail_retry {
    uint64_t pos;   /* its position token, the same on every attempt */
    int64_t due;    /* monotonic ms of the next attempt */
    unsigned tries; /* failed deliveries so far */
    bool sent;      /* an attempt is in flight */
};

struct tail_watch {
    int wd;
    char *dir;
};

enum ferry_start_at { FERRY_START_BEGINNING, FERRY_START_END };

/* A tail source's own settings (ferry_source_plugin of a source of type tail; its keys are in
 * sources/tail.c). */
struct ferry_tail_config {
    struct ferry_strv paths;   /* glob patterns */
    struct ferry_strv exclude; /* glob patterns matched against the full path */
    enum ferry_start_at start_at;
    long rotate_wait_ms;
    long refresh_ms;
};

struct ferry_source {
    const struct ferry_source_config *cfg;
    const struct ferry_tail_config *tc; /* cfg's own settings */
    struct ferry_framer_cfg fcfg;
    char *cp_path;
    bool had_checkpoint;            /* a checkpoint file existed at open: start_at is moot */
    struct ferry_checkpoint resume; /* read at open; matched with files as they are found */
    bool *resume_used;
    struct tail_file **files; /* by slot; NULL: free */
    size_t nfiles, capfiles;  /* slots handed out so far, allocated */
    uint32_t *free_slots;     /* slots freed, reused first */
    size_t nfree;
    size_t next_first; /* the slot polled first next time, so that no file starves */
    int64_t next_scan;
    bool scan_now, classify_now, first_scan_done;
    int ino_fd; /* inotify, or -1 */
    struct tail_watch *watches;
    size_t nwatches;
    char **warned; /* paths already warned about */
    size_t nwarned;
    const struct ferry_emit *emit; /* during poll */
    struct tail_file *cur;         /* the file whose events the framer is cutting */
    /* failed deliveries: at most one per event in flight, which MAX_IN_FLIGHT_PER_FILE
     * (tail.c) bounds per file; at that bound reading of the file stops until Kafka answers */
    struct tail_retry *retry;
    size_t nretry, capretry;
    /* a send refused for now (a partition missing from the metadata): no new line is read
     * before hold_until (monotonic ms; 0: none), so that what waits is that one line and
     * what was in flight, not the rest of every file; hold_ms doubles up to 30 s */
    int64_t hold_until, hold_ms;
    char *rbuf; /* an event read again */
    size_t rbuf_cap;
    uint64_t events, truncations, copies_found, copies_missed, copies_left, deleted, renamed,
        skipped, read_errors;
    _Atomic uint64_t resent, given_up; /* read by the HTTP thread too */
};

const char *ferry_tail_state_name(enum tail_state st);

/* A new PENDING slot for fd (taken over) with its head read; NULL when out of slots or memory
 * (the caller still owns fd then). */
struct tail_file *ferry_tail_file_new(struct ferry_source *s, const char *path, int fd,
                                      const struct stat *st, int64_t now);
/* Starts reading a PENDING slot at `offset`: LIVE, or DETACHED when the latest scan did not
 * find it. 0, or FERRY_ERR_NOMEM with the slot still PENDING. */
int ferry_tail_file_start(struct ferry_source *s, struct tail_file *f, int64_t offset);
/* Closes and frees the slot; only for slots with nothing in flight. */
void ferry_tail_file_free(struct ferry_source *s, struct tail_file *f);
/* Reads f's first bytes again: true when they still begin with f's head (which then grows
 * up to TAIL_FP_BYTES), false when they changed: the file was truncated. */
bool ferry_tail_head_check(struct tail_file *f);
/* The size below which f's file has been truncated. */
int64_t ferry_tail_min_size(const struct tail_file *f);
/* Checks a file being read for a truncation (shorter than what was read, or other first
 * bytes) and handles it: the slot becomes an ORPHAN, the file is read again in a new slot. */
void ferry_tail_check_content(struct ferry_source *s, struct tail_file *f, int64_t now);

/* Expands `paths`, opens new files as PENDING, notices files renamed away, classifies;
 * schedules the next scan. */
void ferry_tail_scan(struct ferry_source *s, int64_t now);
/* Decides what each PENDING file is: a file with a checkpoint, the copy an orphan waits
 * for, a copy of a file being read (left alone), a new file; or waits. */
void ferry_tail_classify(struct ferry_source *s, int64_t now);
void ferry_tail_watch_init(struct ferry_source *s);
/* Reads pending inotify events; any of them asks for a scan. */
void ferry_tail_watch_events(struct ferry_source *s);
void ferry_tail_scan_release(struct ferry_source *s);

#endif
