/* ferry: the tail source — follows files named by glob patterns through rotation.
 *
 * Every file being read has a slot. An event's position token is its slot and its sequence
 * number in the slot's watermark (checkpoint.h); the checkpoint of a file is its watermark:
 * the offset below which Kafka acknowledged every event. Reading stops, and nothing is
 * dropped, when the producer's queue or a slot's in-flight window is full. An event Kafka
 * gives up on (a delivery that failed) is read again from its file and sent again under the
 * same token, after a growing wait; the watermark waits for it.
 *
 * A file is known by device, inode and its head, the first bytes it holds (sources/tail_scan.c
 * finds files, tells copies apart and matches them with checkpoints). A slot goes through
 * these states:
 *
 *   PENDING   found, not read yet: empty, or possibly a copy being written (copytruncate's
 *             cp); sources/tail_scan.c decides what it is as it grows
 *   LIVE      found under `paths`; read as it grows. Before bytes read are used, the file is
 *             checked for a truncation (shorter than what was read, or other first bytes)
 *   DETACHED  renamed away from `paths`, or deleted: read to its end, then closed once it has
 *             not grown for rotate_wait_ms
 *   ORPHAN    its file was truncated (copytruncate): the slot keeps what was read before and
 *             waits rotate_wait_ms for the copy (same head), which it then reads on from where
 *             the original left off, or, if the copy ends before that, takes as read; the
 *             truncated file itself starts again at 0 in a new slot
 *   DONE      closed; freed once every event it emitted is acknowledged */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry/clock.h"
#include "ferry/err.h"
#include "ferry/log.h"
#include "tail.h"

#define MAX_IN_FLIGHT_PER_FILE (1u << 20)
#define READ_ROUNDS            16    /* reads per file per poll, so that no file starves others */
#define REFUSED_FOR_NOW        1     /* resend(): the producer refused the event for now */
#define RETRY_FIRST_MS         200   /* the first attempt after a failed delivery; doubles, up to */
#define RETRY_MAX_MS           30000 /* this */

const char *ferry_tail_state_name(enum tail_state st)
{
    switch (st) {
    case TF_PENDING:
        return "pending";
    case TF_LIVE:
        return "live";
    case TF_DETACHED:
        return "detached";
    case TF_ORPHAN:
        return "orphan";
    case TF_DONE:
        return "done";
    }
    return "?";
}

static uint32_t take_slot(struct ferry_source *s, bool *ok)
{
    *ok = false;
    if (s->nfree) {
        *ok = true;
        return s->free_slots[--s->nfree];
    }
    if (s->nfiles == TAIL_MAX_SLOTS)
        return 0;
    if (s->nfiles == s->capfiles) {
        size_t cap = s->capfiles ? s->capfiles * 2 : 16;
        struct tail_file **v = realloc(s->files, cap * sizeof(*v));
        uint32_t *fr = realloc(s->free_slots, cap * sizeof(*fr));
        if (v)
            s->files = v;
        if (fr)
            s->free_slots = fr;
        if (!v || !fr)
            return 0;
        s->capfiles = cap;
    }
    s->files[s->nfiles] = NULL;
    *ok = true;
    return (uint32_t)s->nfiles++;
}

struct tail_file *ferry_tail_file_new(struct ferry_source *s, const char *path, int fd,
                                      const struct stat *st, int64_t now)
{
    bool ok;
    uint32_t slot = take_slot(s, &ok);
    if (!ok)
        return NULL;
    struct tail_file *f = calloc(1, sizeof(*f));
    if (!f || !(f->path = strdup(path))) {
        free(f);
        s->free_slots[s->nfree++] = slot;
        return NULL;
    }
    f->slot = slot;
    f->state = TF_PENDING;
    f->fd = fd;
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    f->copy_size = -1;
    f->pend_size = -1;
    f->last_growth = now;
    f->seen = true;
    ssize_t r = pread(fd, f->head, sizeof(f->head), 0);
    f->head_len = r > 0 ? (size_t)r : 0;
    f->fp = ferry_fingerprint(f->head, f->head_len);
    s->files[slot] = f;
    return f;
}

int ferry_tail_file_start(struct ferry_source *s, struct tail_file *f, int64_t offset)
{
    if (ferry_framer_init(&f->fr, &s->fcfg, offset) < 0 ||
        ferry_watermark_init(&f->wm, offset, MAX_IN_FLIGHT_PER_FILE) < 0) {
        ferry_framer_release(&f->fr);
        ferry_watermark_release(&f->wm);
        return FERRY_ERR_NOMEM;
    }
    f->state = f->seen ? TF_LIVE : TF_DETACHED;
    return 0;
}

void ferry_tail_file_free(struct ferry_source *s, struct tail_file *f)
{
    s->files[f->slot] = NULL;
    s->free_slots[s->nfree++] = f->slot;
    if (f->fd >= 0)
        close(f->fd);
    ferry_framer_release(&f->fr);
    ferry_watermark_release(&f->wm);
    free(f->path);
    free(f);
}

/* The framer's callback: one event of the file being polled (s->cur) to the emitter. */
static bool retry_later(struct ferry_source *s, struct tail_file *f, uint64_t pos, int64_t now);

static int on_frame(void *opaque, const char *data, size_t len, int64_t start, int64_t end)
{
    struct ferry_source *s = opaque;
    struct tail_file *f = s->cur;
    uint64_t seq;

    if (ferry_watermark_in_flight(&f->wm) >= MAX_IN_FLIGHT_PER_FILE)
        return FERRY_ERR_AGAIN;
    if (s->hold_until) { /* reading stops while the producer refuses sends */
        if (ferry_mono_ms() < s->hold_until)
            return FERRY_ERR_AGAIN;
        s->hold_until = 0;
    }
    struct ferry_event ev = {
        .data = data,
        .len = len,
        .ts_ms = ferry_wall_ms(),
        .pos = ((uint64_t)f->slot << TAIL_SEQ_BITS) | (f->wm.next_seq & TAIL_SEQ_MASK),
        .origin = f->path,
        .offset = start,
    };
    int rc = s->emit->fn(s->emit->opaque, &ev);
    if (rc == FERRY_ERR_AGAIN)
        return rc;
    if (ferry_watermark_push(&f->wm, end, &seq) < 0)
        return FERRY_ERR_AGAIN; /* cannot happen: room was checked above */
    if (rc == FERRY_ERR_RETRY && retry_later(s, f, ev.pos, ferry_mono_ms())) {
        /* refused for now (a partition missing from the metadata): read again and sent
         * again later, as a failed delivery is; the watermark waits for it, and no new line
         * is read for a while (the retry list holds this line, not the rest of the file) */
        s->hold_ms = s->hold_ms ? (s->hold_ms * 2 < RETRY_MAX_MS ? s->hold_ms * 2 : RETRY_MAX_MS)
                                : RETRY_FIRST_MS;
        s->hold_until = ferry_mono_ms() + s->hold_ms;
    } else if (rc < 0) {
        /* the producer refused this event for good; it logged and counted it. Acknowledge it
         * so that the file's watermark is not stuck behind it forever. */
        if (rc == FERRY_ERR_RETRY) { /* no memory to remember it for a retry */
            atomic_fetch_add_explicit(&s->given_up, 1, memory_order_relaxed);
            ferry_error("tail", "%s: out of memory: the event at offset %lld is not sent again",
                        f->path, (long long)start);
        }
        ferry_watermark_ack(&f->wm, seq);
    }
    if (rc == 0)
        s->hold_ms = 0;
    s->events++;
    return 0;
}

/* The file was truncated below what was read (copytruncate, or `> file`): what was read
 * stays with this slot, now an orphan waiting for the copy; the file starts again at 0 in a
 * new slot. */
static void truncated(struct ferry_source *s, struct tail_file *f, const struct stat *st,
                      int64_t now)
{
    struct tail_file *n = ferry_tail_file_new(s, f->path, f->fd, st, now);
    if (!n)
        return; /* no room for a slot now: noticed again later */
    if (ferry_tail_file_start(s, n, 0) < 0) {
        n->fd = -1; /* still f's */
        ferry_tail_file_free(s, n);
        return;
    }
    n->state = f->state == TF_DETACHED ? TF_DETACHED : TF_LIVE;
    s->truncations++;
    ferry_warn("tail", "%s: truncated from %lld to %lld bytes: reading it again from 0%s", f->path,
               (long long)ferry_framer_next_offset(&f->fr), (long long)st->st_size,
               f->head_len >= TAIL_FP_MIN ? ", and the copy of what it held, if one appears" : "");
    f->fd = -1;
    f->dev = 0;
    f->ino = 0;
    f->copy_size = -1;
    f->state = TF_ORPHAN;
    f->last_growth = now;
    s->scan_now = true;
    s->classify_now = true;
}

int64_t ferry_tail_min_size(const struct tail_file *f)
{
    return f->copy_size >= 0 ? f->copy_size : ferry_framer_next_offset(&f->fr);
}

/* At the end of what was there: truncated? deleted? */
static void at_eof(struct ferry_source *s, struct tail_file *f, int64_t now)
{
    struct stat st;
    if (fstat(f->fd, &st) < 0)
        return;
    if (st.st_size < ferry_tail_min_size(f)) {
        truncated(s, f, &st, now);
    } else if (st.st_nlink == 0 && f->state == TF_LIVE) {
        f->state = TF_DETACHED;
        s->deleted++;
        ferry_info("tail", "%s: deleted: reading it to its end", f->path);
    }
}

void ferry_tail_check_content(struct ferry_source *s, struct tail_file *f, int64_t now)
{
    struct stat st;
    if (f->fd < 0 || f->state == TF_PENDING || fstat(f->fd, &st) < 0)
        return;
    if (st.st_size < ferry_tail_min_size(f) || !ferry_tail_head_check(f))
        truncated(s, f, &st, now);
}

/* Reads the next bytes into the framer. Bytes read, 0 at the end of the file, -1 when
 * nothing was read (no room, an error, or the file turned out to be truncated). */
static ssize_t read_more(struct ferry_source *s, struct tail_file *f, int64_t now)
{
    size_t room;
    char *p = ferry_framer_space(&f->fr, &room);
    int64_t off = ferry_framer_next_offset(&f->fr);
    struct stat st;

    if (room == 0)
        return -1;
    ssize_t r = pread(f->fd, p, room, off);
    if (r < 0) {
        if (errno != EINTR && errno != EAGAIN && !f->read_failed) {
            f->read_failed = true;
            s->read_errors++;
            ferry_warn("tail", "%s: read: %s", f->path, strerror(errno));
        }
        return -1;
    }
    f->read_failed = false;
    if (r == 0)
        return 0;
    /* Were these bytes still the file's? After a truncation (copytruncate) and new writes
     * past `off`, they would be the middle of other lines. */
    if (fstat(f->fd, &st) < 0)
        return -1; /* cannot tell: read again later */
    if (st.st_size < off + r) {
        ferry_framer_commit(&f->fr, (size_t)r); /* read before it shrank: they count */
        truncated(s, f, &st, now);
        return r;
    }
    if (!ferry_tail_head_check(f)) {
        truncated(s, f, &st, now); /* truncated and written again: the bytes are dropped */
        return -1;
    }
    ferry_framer_commit(&f->fr, (size_t)r);
    return r;
}

/* Emits what f has and reads more while there is room. Events emitted, or FERRY_ERR_AGAIN. */
static int poll_file(struct ferry_source *s, struct tail_file *f, int64_t now)
{
    int total = 0;
    s->cur = f;
    for (int round = 0; round < READ_ROUNDS; round++) {
        int n = ferry_framer_drain(&f->fr, on_frame, s, now);
        if (n < 0)
            return n;
        total += n;
        if (f->fd < 0)
            break;
        ssize_t r = read_more(s, f, now);
        if (r > 0) {
            f->last_growth = now;
            continue;
        }
        if (r == 0)
            at_eof(s, f, now);
        break;
    }
    return total;
}

/* A detached or orphaned file that stayed quiet for rotate_wait_ms is finished: its last
 * unterminated line and multiline event are shipped, and it is closed. */
static int maybe_close(struct ferry_source *s, struct tail_file *f, int64_t now)
{
    if ((f->state != TF_DETACHED && f->state != TF_ORPHAN) ||
        (f->redo > 0 && f->state == TF_DETACHED) || now - f->last_growth < s->tc->rotate_wait_ms)
        return 0; /* (an event to send again is read from the file) */
    s->cur = f;
    int rc = ferry_framer_finish(&f->fr, on_frame, s);
    if (rc < 0)
        return rc;
    if (f->state == TF_ORPHAN) {
        s->copies_missed++;
        ferry_warn("tail",
                   "%s: no copy of the truncated file appeared within rotate_wait_ms: what was "
                   "written to it after offset %lld before the truncation, if anything, was "
                   "not read",
                   f->path, (long long)ferry_framer_next_offset(&f->fr));
    } else {
        ferry_info("tail", "%s: read to its end (%lld): closed", f->path,
                   (long long)ferry_framer_next_offset(&f->fr));
    }
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    f->state = TF_DONE;
    return rc;
}

/* A pending file that changed size, or waits to settle, is classified on the next poll. */
static void watch_pending(struct ferry_source *s, struct tail_file *f)
{
    struct stat st;
    if (f->recheck || (fstat(f->fd, &st) == 0 && st.st_size != f->pend_size))
        s->classify_now = true;
}

/* ---- deliveries Kafka gave up on ------------------------------------------------------- */

static uint64_t seq_of(const struct ferry_watermark *w, uint64_t pos)
{
    uint64_t low = pos & TAIL_SEQ_MASK;
    return w->done_seq + ((low - w->done_seq) & TAIL_SEQ_MASK);
}

/* The input range [start, end) of event seq, not acknowledged yet: events are contiguous, so
 * it begins where the one before it ended. */
static void event_range(const struct ferry_watermark *w, uint64_t seq, int64_t *start, int64_t *end)
{
    *end = w->ends[seq & (w->cap - 1)];
    *start = seq == w->done_seq ? w->offset : w->ends[(seq - 1) & (w->cap - 1)];
}

static struct tail_retry *retry_find(struct ferry_source *s, const struct tail_file *f,
                                     uint64_t pos)
{
    for (size_t i = 0; f->redo && i < s->nretry; i++)
        if (s->retry[i].pos == pos)
            return &s->retry[i];
    return NULL;
}

static void retry_forget(struct ferry_source *s, struct tail_file *f, struct tail_retry *r)
{
    *r = s->retry[--s->nretry];
    f->redo--;
}

/* Schedules another attempt at event pos of f; false when out of memory. */
static bool retry_later(struct ferry_source *s, struct tail_file *f, uint64_t pos, int64_t now)
{
    struct tail_retry *r = retry_find(s, f, pos);
    if (!r) {
        if (s->nretry == s->capretry) {
            size_t cap = s->capretry ? 2 * s->capretry : 16;
            struct tail_retry *v = realloc(s->retry, cap * sizeof(*v));
            if (!v)
                return false;
            s->retry = v;
            s->capretry = cap;
        }
        r = &s->retry[s->nretry++];
        *r = (struct tail_retry){.pos = pos};
        f->redo++;
    }
    r->tries++;
    int64_t wait = (int64_t)RETRY_FIRST_MS << (r->tries < 8 ? r->tries - 1 : 7);
    r->due = now + (wait < RETRY_MAX_MS ? wait : RETRY_MAX_MS);
    r->sent = false;
    return true;
}

/* Reads event r of f again and emits it under its position token. 0; FERRY_ERR_AGAIN (no
 * room now); FERRY_ERR_RETRY (the file was truncated: look again once the copy, if any, is
 * found); REFUSED_FOR_NOW (the producer cannot take it now: back off); or another error: the
 * event cannot be sent again. The event's data is rebuilt from
 * its bytes as the framer cut it: without the newline that ended it, at most max_line. */
static int resend(struct ferry_source *s, struct tail_file *f, const struct tail_retry *r,
                  int64_t now)
{
    size_t max = s->fcfg.max_line;
    int64_t start, end;
    event_range(&f->wm, seq_of(&f->wm, r->pos), &start, &end);
    if (f->fd < 0) /* an orphan may still find its copy; closed, its bytes are gone */
        return f->state == TF_ORPHAN ? FERRY_ERR_RETRY : FERRY_ERR_IO;
    if (f->copy_size >= 0 && end > f->copy_size)
        return FERRY_ERR_IO; /* read from the original before its truncation, not copied */
    size_t span = (size_t)(end - start), n = span > max + 1 ? max + 1 : span;
    if (n > s->rbuf_cap) {
        char *b = realloc(s->rbuf, n);
        if (!b)
            return FERRY_ERR_AGAIN;
        s->rbuf = b;
        s->rbuf_cap = n;
    }
    ssize_t got = pread(f->fd, s->rbuf, n, start);
    if (got < 0)
        return FERRY_ERR_RETRY;
    if ((size_t)got < n || !ferry_tail_head_check(f)) {
        ferry_tail_check_content(s, f, now); /* truncated: f becomes an orphan */
        return FERRY_ERR_RETRY;
    }
    size_t len = n;
    if (n == span && len > 0 && s->rbuf[len - 1] == '\n')
        len--;
    struct ferry_event ev = {
        .data = s->rbuf,
        .len = len > max ? max : len,
        .ts_ms = ferry_wall_ms(),
        .pos = r->pos,
        .origin = f->path,
        .offset = start,
    };
    int rc = s->emit->fn(s->emit->opaque, &ev);
    return rc == FERRY_ERR_RETRY ? REFUSED_FOR_NOW : rc;
}

static void give_up(struct ferry_source *s, struct tail_file *f, struct tail_retry *r)
{
    uint64_t seq = seq_of(&f->wm, r->pos);
    int64_t start, end;
    event_range(&f->wm, seq, &start, &end);
    atomic_fetch_add_explicit(&s->given_up, 1, memory_order_relaxed);
    ferry_error("tail",
                "%s: the event at offset %lld, which Kafka did not take, cannot be sent again "
                "(its file was truncated or the producer refuses it): it is not in Kafka",
                f->path, (long long)start);
    retry_forget(s, f, r);
    ferry_watermark_ack(&f->wm, seq);
}

/* Sends again the failed deliveries that are due; FERRY_ERR_AGAIN when there is no room. */
static int retry_send(struct ferry_source *s, int64_t now)
{
    for (size_t i = 0; i < s->nretry;) {
        struct tail_retry *r = &s->retry[i];
        struct tail_file *f = s->files[r->pos >> TAIL_SEQ_BITS];
        if (r->sent || r->due > now) {
            i++;
            continue;
        }
        int rc = resend(s, f, r, now);
        if (rc == FERRY_ERR_AGAIN)
            return rc;
        if (rc == FERRY_ERR_RETRY) {
            r->due = now + RETRY_FIRST_MS;
            i++;
        } else if (rc == REFUSED_FOR_NOW) {
            retry_later(s, f, r->pos, now); /* r is found again: its wait doubles */
            i++;
        } else if (rc < 0) {
            give_up(s, f, r); /* r now holds the last entry: not i++ */
        } else {
            r->sent = true;
            s->hold_until = s->hold_ms = 0; /* the producer takes sends again: read on */
            atomic_fetch_add_explicit(&s->resent, 1, memory_order_relaxed);
            i++;
        }
    }
    return 0;
}

static int tail_poll(struct ferry_source *s, const struct ferry_emit *emit, int timeout_ms)
{
    int64_t now = ferry_mono_ms();
    int total = 0;
    (void)timeout_ms;

    s->emit = emit;
    if (s->nretry && retry_send(s, now) < 0)
        return 0; /* no room */
    ferry_tail_watch_events(s);
    if (s->scan_now || now >= s->next_scan)
        ferry_tail_scan(s, now);
    else if (s->classify_now)
        ferry_tail_classify(s, now);
    size_t n = s->nfiles, first = n ? s->next_first % n : 0;
    s->next_first = first + 1;
    for (size_t k = 0; k < n && k < s->nfiles; k++) {
        struct tail_file *f = s->files[(first + k) % n];
        if (!f)
            continue;
        if (f->state == TF_PENDING) {
            watch_pending(s, f);
            continue;
        }
        int rc = poll_file(s, f, now);
        if (rc < 0)
            return total; /* no room: stop reading everything until it drains */
        total += rc;
        rc = maybe_close(s, f, now);
        if (rc < 0)
            return total;
        total += rc;
        if (f->state == TF_DONE && ferry_watermark_in_flight(&f->wm) == 0)
            ferry_tail_file_free(s, f);
    }
    return total;
}

static void tail_acked(struct ferry_source *s, uint64_t pos, int ok)
{
    size_t slot = (size_t)(pos >> TAIL_SEQ_BITS);
    if (slot >= s->nfiles || !s->files[slot])
        return;
    struct tail_file *f = s->files[slot];
    /* Kafka gave up on it (the producer logged why): it is read again and sent again, and
     * the watermark, so the checkpoint, waits for it */
    if (!ok) {
        if (retry_later(s, f, pos, ferry_mono_ms()))
            return;
        ferry_error("tail", "%s: out of memory: an event Kafka did not take is dropped", f->path);
    }
    struct tail_retry *r = retry_find(s, f, pos);
    if (r)
        retry_forget(s, f, r);
    ferry_watermark_ack(&f->wm, seq_of(&f->wm, pos));
}

static int tail_checkpoint(struct ferry_source *s, char *err, size_t errlen)
{
    struct ferry_checkpoint cp = {0};
    int rc;

    cp.v = calloc(s->nfiles + 1, sizeof(*cp.v));
    if (!cp.v)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "tail: out of memory");
    for (size_t i = 0; i < s->nfiles; i++) {
        struct tail_file *f = s->files[i];
        if (!f || f->state == TF_PENDING || (f->head_len == 0 && f->wm.offset == 0))
            continue; /* nothing read from it: an entry would say nothing */
        int64_t off = f->wm.offset;
        if (f->copy_size >= 0 && off > f->copy_size)
            off = f->copy_size; /* the copy holds no more: it was read in full */
        cp.v[cp.n++] = (struct ferry_checkpoint_entry){
            .path = f->path,
            .dev = (uint64_t)f->dev,
            .ino = (uint64_t)f->ino,
            .offset = off,
            .fp = f->fp,
            .fp_len = f->head_len,
        };
    }
    rc = ferry_checkpoint_write(s->cp_path, &cp, err, errlen);
    free(cp.v); /* the paths belong to the files */
    return rc;
}

static uint64_t tail_in_flight(const struct ferry_source *s)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s->nfiles; i++)
        if (s->files[i])
            n += ferry_watermark_in_flight(&s->files[i]->wm);
    return n;
}

static void tail_redelivered(const struct ferry_source *s, uint64_t *resent, uint64_t *given_up)
{
    *resent = atomic_load_explicit(&s->resent, memory_order_relaxed);
    *given_up = atomic_load_explicit(&s->given_up, memory_order_relaxed);
}

static void tail_close(struct ferry_source *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nfiles; i++)
        if (s->files[i])
            ferry_tail_file_free(s, s->files[i]);
    ferry_info("tail",
               "%s: %llu events (%llu sent again, %llu given up); %llu long lines cut, %llu "
               "truncations (%llu copies found, %llu not), %llu copies of files being read "
               "left alone, %llu files deleted, %llu renamed away, %llu skipped",
               s->cfg->name, (unsigned long long)s->events,
               (unsigned long long)atomic_load_explicit(&s->resent, memory_order_relaxed),
               (unsigned long long)atomic_load_explicit(&s->given_up, memory_order_relaxed),
               (unsigned long long)s->fcfg.truncated, (unsigned long long)s->truncations,
               (unsigned long long)s->copies_found, (unsigned long long)s->copies_missed,
               (unsigned long long)s->copies_left, (unsigned long long)s->deleted,
               (unsigned long long)s->renamed, (unsigned long long)s->skipped);
    ferry_tail_scan_release(s);
    ferry_framer_cfg_release(&s->fcfg);
    ferry_checkpoint_release(&s->resume);
    free(s->resume_used);
    free(s->files);
    free(s->free_slots);
    free(s->retry);
    free(s->rbuf);
    free(s->cp_path);
    free(s);
}

static int tail_open(struct ferry_source **out, const struct ferry_source_config *cfg,
                     const char *state_dir, char *err, size_t errlen)
{
    struct ferry_source *s = calloc(1, sizeof(*s));
    int rc;

    if (!s)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "tail %s: out of memory", cfg->name);
    s->cfg = cfg;
    s->tc = ferry_source_plugin(cfg);
    s->ino_fd = -1;
    rc = ferry_framer_cfg_init(&s->fcfg, cfg, err, errlen);
    if (rc < 0) {
        free(s);
        return rc;
    }
    if (mkdir(state_dir, 0755) < 0 && errno != EEXIST) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_IO, "tail %s: state_dir %s: %s", cfg->name,
                          state_dir, strerror(errno));
        goto fail;
    }
    size_t n = strlen(state_dir) + strlen(cfg->name) + 32;
    s->cp_path = malloc(n);
    if (!s->cp_path) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "tail %s: out of memory", cfg->name);
        goto fail;
    }
    snprintf(s->cp_path, n, "%s/%s.checkpoint.json", state_dir, cfg->name);
    s->had_checkpoint = access(s->cp_path, F_OK) == 0;
    rc = ferry_checkpoint_read(s->cp_path, &s->resume, err, errlen);
    if (rc < 0)
        goto fail;
    s->resume_used = calloc(s->resume.n + 1, sizeof(*s->resume_used));
    if (!s->resume_used) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "tail %s: out of memory", cfg->name);
        goto fail;
    }
    ferry_tail_watch_init(s);
    ferry_tail_scan(s, ferry_mono_ms());
    *out = s;
    return 0;
fail:
    tail_close(s);
    return rc;
}

/* ---- configuration ---------------------------------------------------------------------- */

/* `paths` is required, and says so in the words of a missing shared key; it needs a pattern. */
static void check_tail(struct ferry_schema_ctx *c, void *obj, const struct ferry_node *map,
                       const char *path)
{
    const struct ferry_tail_config *t = obj;
    int line, col;
    if (!ferry_node_get(map, "paths")) {
        ferry_diags_add(c->d, map->line, map->col, "%s: missing required key 'paths'", path);
    } else if (t->paths.v && t->paths.n == 0) {
        ferry_schema_pos_of(map, "paths", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.paths: needs at least one pattern", path);
    }
}

static const char *const start_names[] = {"beginning", "end", NULL};

#define TAIL struct ferry_tail_config
static const struct ferry_key tail_keys[] = {
    {FERRY_KEY_STRLIST("paths", TAIL, paths,
                       "glob patterns of files to follow (required); symbolic links are "
                       "followed; new files are found at once through inotify and by a rescan "
                       "every `refresh_ms`")},
    {FERRY_KEY_STRLIST("exclude", TAIL, exclude,
                       "glob patterns of files to leave alone, matched against the full path")},
    {FERRY_KEY_ENUM("start_at", TAIL, start_at, "beginning", start_names,
                    "where to start in the files present when the source starts for the first "
                    "time (no checkpoint yet): `beginning` or `end`; files that appear later, "
                    "also while ferry was stopped, are read from their beginning, and a file "
                    "with a checkpoint resumes there")},
    {FERRY_KEY_INT("rotate_wait_ms", TAIL, rotate_wait_ms, "5000", 0, 3600000,
                   "a file renamed away from `paths`, deleted, or truncated by copytruncate is "
                   "still read to its end until it has not grown for this long, then closed")},
    {FERRY_KEY_INT("refresh_ms", TAIL, refresh_ms, "1000", 10, 3600000,
                   "how often the glob patterns are expanded again to find new files")},
    {0},
};
#undef TAIL

static const struct ferry_section tail_section = {
    .keys = tail_keys,
    .size = sizeof(struct ferry_tail_config),
    .check = check_tail,
    .doc = "Follows the files named by `paths`, through renames and truncations, and keeps "
           "their positions in `state_dir`",
};

const struct ferry_source_ops ferry_source_tail = {
    .type = "tail",
    .config = &tail_section,
    .open = tail_open,
    .poll = tail_poll,
    .acked = tail_acked,
    .checkpoint = tail_checkpoint,
    .in_flight = tail_in_flight,
    .redelivered = tail_redelivered,
    .close = tail_close,
};
