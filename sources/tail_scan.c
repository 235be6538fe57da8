/* ferry: the tail source's discovery — globs, identity, checkpoints, inotify.
 *
 * A scan expands every pattern of `paths` (again every refresh_ms, and at once when inotify
 * reports a new, moved or deleted name in a watched directory). A file found that is being
 * read already (same device and inode) is checked for a truncation; a file being read that
 * the scan no longer finds was renamed away and is read to its end. Any other file gets a
 * PENDING slot, and classification decides what it is, in this order:
 *   1. a file with a checkpoint: same device and inode, and the same first bytes: resumed;
 *   2. the copy an orphan waits for (copytruncate's copy): it begins with the orphan's head,
 *      at least TAIL_FP_MIN bytes of it: the orphan reads it on from where it left off;
 *   3. a copy of a file being read (copytruncate's cp before the truncation, or a backup):
 *      it begins like that file over at least TAIL_FP_MIN bytes and is no longer than it:
 *      left alone, so that its lines are not read twice. While it holds fewer bytes than
 *      that and they all match, it waits for more, or for TAIL_SETTLE_MS without growth;
 *   4. a file with a checkpoint by its first bytes alone (copied or moved while ferry was
 *      stopped): resumed, at its end if it is shorter than the checkpoint;
 *   5. new: read from the start, or from its end with `start_at: end` for files found at the
 *      source's first start (no checkpoint yet).
 * An empty file waits: it has nothing to read yet, and may be a copy about to be written.
 * Classification runs after every scan, after a truncation, and when a PENDING file grows. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "ferry/err.h"
#include "ferry/log.h"
#include "tail.h"

bool ferry_tail_head_check(struct tail_file *f)
{
    char head[TAIL_FP_BYTES];
    ssize_t r = pread(f->fd, head, sizeof(head), 0);
    if (r < 0)
        return true; /* cannot tell; a failing read is reported by the reads */
    if ((size_t)r < f->head_len || memcmp(head, f->head, f->head_len) != 0)
        return false;
    if ((size_t)r > f->head_len) {
        memcpy(f->head + f->head_len, head + f->head_len, (size_t)r - f->head_len);
        f->head_len = (size_t)r;
        f->fp = ferry_fingerprint(f->head, f->head_len);
    }
    return true;
}

/* head[0..hlen) begins with the n bytes whose fingerprint is fp. */
static bool same_start(const char *head, size_t hlen, uint64_t fp, size_t n)
{
    return n > 0 && hlen >= n && ferry_fingerprint(head, n) == fp;
}

static void warn_once(struct ferry_source *s, const char *path, const char *why)
{
    s->skipped++;
    for (size_t i = 0; i < s->nwarned; i++)
        if (!strcmp(s->warned[i], path))
            return;
    ferry_warn("tail", "%s: %s: skipped", path, why);
    if (s->nwarned < TAIL_MAX_WARN) {
        char **v = realloc(s->warned, (s->nwarned + 1) * sizeof(*v));
        if (v) {
            s->warned = v;
            if ((v[s->nwarned] = strdup(path)))
                s->nwarned++;
        }
    }
}

static bool excluded(const struct ferry_tail_config *cfg, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (size_t i = 0; i < cfg->exclude.n; i++)
        if (!fnmatch(cfg->exclude.v[i], path, 0) || !fnmatch(cfg->exclude.v[i], base, 0))
            return true;
    return false;
}

static struct tail_file *find_open(struct ferry_source *s, dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < s->nfiles; i++) {
        struct tail_file *f = s->files[i];
        if (f && f->fd >= 0 && f->dev == dev && f->ino == ino)
            return f;
    }
    return NULL;
}

/* The checkpoint entry of this very file (same device, inode and first bytes): its offset,
 * or -1. */
static int64_t resume_by_inode(struct ferry_source *s, const struct tail_file *x, int64_t size)
{
    const struct ferry_checkpoint *cp = &s->resume;
    for (size_t i = 0; i < cp->n; i++) {
        const struct ferry_checkpoint_entry *e = &cp->v[i];
        /* without first bytes (nothing was read: an empty file) an entry says nothing: its
         * inode may hold anything now. Entries from before fingerprints have an offset. */
        if (s->resume_used[i] || e->dev != (uint64_t)x->dev || e->ino != (uint64_t)x->ino ||
            (e->fp_len ? !same_start(x->head, x->head_len, e->fp, e->fp_len) : e->offset == 0))
            continue;
        s->resume_used[i] = true;
        if (e->offset <= size)
            return e->offset;
        ferry_warn("tail", "%s: shorter (%lld) than its checkpoint (%lld): reading from 0", x->path,
                   (long long)size, (long long)e->offset);
        return 0;
    }
    return -1;
}

/* A checkpoint entry with the same first bytes (the file was moved or copied while ferry was
 * stopped; the entry of an orphan): its offset, at most the file's size; or -1. */
static int64_t resume_by_content(struct ferry_source *s, const struct tail_file *x, int64_t size)
{
    const struct ferry_checkpoint *cp = &s->resume;
    for (size_t i = 0; i < cp->n; i++) {
        const struct ferry_checkpoint_entry *e = &cp->v[i];
        if (s->resume_used[i] || e->fp_len < TAIL_FP_MIN ||
            !same_start(x->head, x->head_len, e->fp, e->fp_len))
            continue;
        s->resume_used[i] = true;
        int64_t off = e->offset <= size ? e->offset : size;
        ferry_info("tail", "%s: holds what %s held (same first bytes): resuming at %lld", x->path,
                   e->path, (long long)off);
        return off;
    }
    return -1;
}

/* The orphan whose copy x is: x begins with its head. */
static struct tail_file *orphan_for(struct ferry_source *s, const struct tail_file *x)
{
    for (size_t i = 0; i < s->nfiles; i++) {
        struct tail_file *o = s->files[i];
        if (o && o->state == TF_ORPHAN && o->head_len >= TAIL_FP_MIN &&
            x->head_len >= o->head_len && !memcmp(x->head, o->head, o->head_len))
            return o;
    }
    return NULL;
}

/* The orphan o takes its copy x over: o reads on from where its original left off, and x's
 * slot is freed. A copy shorter than that was read in full from the original. */
static void adopt(struct ferry_source *s, struct tail_file *o, struct tail_file *x, int64_t size,
                  int64_t now)
{
    int64_t read = ferry_framer_next_offset(&o->fr);
    o->fd = x->fd;
    x->fd = -1;
    o->dev = x->dev;
    o->ino = x->ino;
    free(o->path);
    o->path = x->path;
    x->path = NULL;
    o->seen = x->seen;
    o->state = x->seen ? TF_LIVE : TF_DETACHED;
    o->last_growth = now;
    o->copy_size = size < read ? size : -1;
    if (x->head_len > o->head_len) {
        memcpy(o->head, x->head, x->head_len);
        o->head_len = x->head_len;
        o->fp = x->fp;
    }
    s->copies_found++;
    if (o->copy_size >= 0)
        ferry_info("tail",
                   "%s: the copy of the truncated file, %lld bytes: all of it was read from "
                   "the original (up to %lld)",
                   o->path, (long long)size, (long long)read);
    else
        ferry_info("tail", "%s: the copy of the truncated file: reading it on from %lld", o->path,
                   (long long)read);
    ferry_tail_file_free(s, x);
}

/* Whether x (size bytes) is a copy of a file being read: 1 yes, 0 maybe (a short beginning
 * like one of them: wait), -1 no, -2 a file it resembles turned out truncated (look for
 * orphans again). */
static int copy_of_open(struct ferry_source *s, struct tail_file *x, int64_t size, int64_t now)
{
    int verdict = -1;
    for (size_t i = 0; i < s->nfiles; i++) {
        struct tail_file *g = s->files[i];
        struct stat st;
        if (!g || g == x || g->fd < 0 || (g->state != TF_LIVE && g->state != TF_DETACHED))
            continue;
        size_t m = x->head_len < g->head_len ? x->head_len : g->head_len;
        if (m == 0 || memcmp(x->head, g->head, m) != 0)
            continue;
        ferry_tail_check_content(s, g, now); /* cp, then truncate: is g still what it was? */
        if (g->state == TF_ORPHAN)
            return -2;
        if (fstat(g->fd, &st) < 0 || size > st.st_size)
            continue; /* longer than g: not a copy of it */
        if (m >= TAIL_FP_MIN) {
            if (!x->noted) {
                x->noted = true;
                s->copies_left++;
                ferry_info("tail", "%s: a copy of %s, which is being read: left alone", x->path,
                           g->path);
            }
            return 1;
        }
        if (now - x->last_growth < TAIL_SETTLE_MS)
            verdict = 0;
    }
    return verdict;
}

/* `why` completes "following from offset N". */
static void start(struct ferry_source *s, struct tail_file *x, int64_t off, const char *why)
{
    if (ferry_tail_file_start(s, x, off) < 0) {
        x->recheck = true; /* out of memory: stays pending */
        return;
    }
    ferry_info("tail", "%s: following from offset %lld%s%s", x->path, (long long)off, why,
               x->state == TF_DETACHED ? " (no longer under paths: to its end)" : "");
}

/* Rules 2 to 5 of the header for the PENDING file x. */
static void decide(struct ferry_source *s, struct tail_file *x, int64_t now)
{
    int64_t size = x->pend_size;
    x->recheck = false;
    if (size == 0) {
        if (!x->seen)
            start(s, x, 0, ""); /* renamed away empty: what is written to it now is read */
        return;
    }
    for (int tries = 0;; tries++) {
        struct tail_file *o = orphan_for(s, x);
        if (o) {
            adopt(s, o, x, size, now);
            return;
        }
        int c = copy_of_open(s, x, size, now);
        if (c == -2 && tries < 8)
            continue;
        if (c == 1 && !x->seen)
            ferry_tail_file_free(s, x); /* a copy, gone from paths */
        if (c == 1)
            return;
        if (c == 0 && x->seen) {
            x->recheck = true;
            return;
        }
        break;
    }
    int64_t off = resume_by_content(s, x, size);
    if (off >= 0) {
        start(s, x, off, "");
        return;
    }
    bool at_end = x->at_start && s->tc->start_at == FERRY_START_END && !s->had_checkpoint;
    start(s, x, at_end ? size : 0, at_end ? " (its end: start_at)" : "");
}

/* Reads x's size and head again. -1 when it cannot be read. */
static int refresh(struct tail_file *x, int64_t now)
{
    struct stat st;
    if (fstat(x->fd, &st) < 0)
        return -1;
    ssize_t r = pread(x->fd, x->head, sizeof(x->head), 0);
    x->head_len = r > 0 ? (size_t)r : 0;
    x->fp = ferry_fingerprint(x->head, x->head_len);
    if (st.st_size != x->pend_size)
        x->last_growth = now;
    x->pend_size = st.st_size;
    return 0;
}

void ferry_tail_classify(struct ferry_source *s, int64_t now)
{
    s->classify_now = false;
    /* every file's own checkpoint first, so that none is taken for a copy of another */
    for (size_t i = 0; i < s->nfiles; i++) {
        struct tail_file *x = s->files[i];
        if (!x || x->state != TF_PENDING || refresh(x, now) < 0)
            continue;
        int64_t off = resume_by_inode(s, x, x->pend_size);
        if (off >= 0)
            start(s, x, off, " (its checkpoint)");
    }
    for (size_t i = 0; i < s->nfiles; i++) {
        struct tail_file *x = s->files[i];
        if (x && x->state == TF_PENDING)
            decide(s, x, now);
    }
}

static void consider(struct ferry_source *s, const char *path, int64_t now)
{
    struct stat st;

    if (stat(path, &st) < 0)
        return; /* gone since the glob */
    if (!S_ISREG(st.st_mode)) {
        warn_once(s, path, S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
        return;
    }
    struct tail_file *f = find_open(s, st.st_dev, st.st_ino);
    if (f) {
        f->seen = true;
        if (f->state == TF_DETACHED && st.st_nlink > 0)
            f->state = TF_LIVE; /* found again, under this name */
        if (strcmp(f->path, path)) {
            char *p = strdup(path);
            if (p) {
                free(f->path);
                f->path = p;
            }
        }
        ferry_tail_check_content(s, f, now);
        return;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        warn_once(s, path, strerror(errno));
        return;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return;
    }
    f = ferry_tail_file_new(s, path, fd, &st, now);
    if (!f) {
        ferry_error("tail", "%s: no room for another file (out of memory or slots)", path);
        close(fd);
        return;
    }
    f->at_start = !s->first_scan_done;
}

/* The directory part of a pattern, when it has no wildcard: a place to watch. */
static bool literal_dir(const char *pattern, char *dir, size_t len)
{
    const char *slash = strrchr(pattern, '/');
    size_t n = slash ? (size_t)(slash - pattern) : 0;
    if (!slash || n == 0 || n >= len || strpbrk(pattern, "*?[") < slash)
        return false;
    memcpy(dir, pattern, n);
    dir[n] = 0;
    return !strpbrk(dir, "*?[");
}

static void watch_dir(struct ferry_source *s, const char *dir)
{
    if (s->ino_fd < 0 || s->nwatches == TAIL_MAX_WATCH)
        return;
    for (size_t i = 0; i < s->nwatches; i++)
        if (!strcmp(s->watches[i].dir, dir))
            return;
    int wd = inotify_add_watch(s->ino_fd, dir,
                               IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR);
    if (wd < 0)
        return; /* missing for now: the next scan tries again */
    struct tail_watch *v = realloc(s->watches, (s->nwatches + 1) * sizeof(*v));
    char *d = strdup(dir);
    if (!v || !d) {
        free(d);
        if (v)
            s->watches = v;
        inotify_rm_watch(s->ino_fd, wd);
        return;
    }
    s->watches = v;
    v[s->nwatches++] = (struct tail_watch){wd, d};
}

static void expand(struct ferry_source *s, const char *pattern, int64_t now)
{
    char dir[PATH_MAX];
    glob_t g;
    if (literal_dir(pattern, dir, sizeof(dir)))
        watch_dir(s, dir);
    if (glob(pattern, GLOB_NOSORT, NULL, &g) == 0) {
        for (size_t j = 0; j < g.gl_pathc; j++) {
            const char *p = g.gl_pathv[j];
            if (excluded(s->tc, p))
                continue;
            consider(s, p, now);
            const char *slash = strrchr(p, '/');
            if (slash && slash > p && (size_t)(slash - p) < sizeof(dir)) {
                memcpy(dir, p, (size_t)(slash - p));
                dir[slash - p] = 0;
                watch_dir(s, dir);
            }
        }
    }
    globfree(&g);
}

void ferry_tail_scan(struct ferry_source *s, int64_t now)
{
    for (size_t i = 0; i < s->nfiles; i++)
        if (s->files[i])
            s->files[i]->seen = false;
    for (size_t i = 0; i < s->tc->paths.n; i++)
        expand(s, s->tc->paths.v[i], now);
    for (size_t i = 0; i < s->nfiles; i++) {
        struct tail_file *f = s->files[i];
        if (f && f->state == TF_LIVE && !f->seen) {
            f->state = TF_DETACHED;
            f->last_growth = now;
            s->renamed++;
            ferry_info("tail",
                       "%s: no longer under the source's paths (rotated?): reading it "
                       "to its end",
                       f->path);
        }
    }
    ferry_tail_classify(s, now);
    s->first_scan_done = true;
    s->scan_now = false;
    s->next_scan = now + s->tc->refresh_ms;
}

void ferry_tail_watch_init(struct ferry_source *s)
{
    s->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (s->ino_fd < 0)
        ferry_warn("tail", "%s: inotify: %s: new files are found every refresh_ms", s->cfg->name,
                   strerror(errno));
}

void ferry_tail_watch_events(struct ferry_source *s)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    if (s->ino_fd < 0)
        return;
    for (;;) {
        ssize_t r = read(s->ino_fd, buf, sizeof(buf));
        if (r <= 0)
            return;
        for (char *p = buf; p < buf + r;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->mask & IN_IGNORED) {
                for (size_t i = 0; i < s->nwatches; i++) {
                    if (s->watches[i].wd == ev->wd) {
                        free(s->watches[i].dir);
                        s->watches[i] = s->watches[--s->nwatches];
                        break;
                    }
                }
            }
            s->scan_now = true;
            p += sizeof(*ev) + ev->len;
        }
    }
}

void ferry_tail_scan_release(struct ferry_source *s)
{
    for (size_t i = 0; i < s->nwatches; i++)
        free(s->watches[i].dir);
    free(s->watches);
    for (size_t i = 0; i < s->nwarned; i++)
        free(s->warned[i]);
    free(s->warned);
    if (s->ino_fd >= 0)
        close(s->ino_fd);
}
