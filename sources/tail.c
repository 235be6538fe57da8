/* ferry: the tail source — follows files named by glob patterns, line by line.
 *
 * Every line read becomes an event whose position token names the file's slot and the
 * line's sequence number in that file's watermark (checkpoint.h). The checkpoint of a file is
 * its watermark: the offset below which Kafka acknowledged every line. Reading stops, and
 * nothing is dropped, when the producer's queue or a file's in-flight window is full. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ferry/checkpoint.h"
#include "ferry/err.h"
#include "ferry/log.h"
#include "ferry/source.h"

#define READ_CHUNK             (64 * 1024)
#define MAX_IN_FLIGHT_PER_FILE (1u << 20)
#define SEQ_BITS               40
#define SEQ_MASK               ((1ull << SEQ_BITS) - 1)
#define MAX_FILES              (1u << 20)

struct tail_file {
    char *path;
    dev_t dev;
    ino_t ino;
    int fd;
    int64_t read_off; /* file offset of the next byte read() returns */
    char *buf;        /* bytes read and not yet emitted: [start, len) */
    size_t start, len, cap;
    int64_t buf_off;  /* file offset of buf[0] */
    int overlong;     /* longbuf holds a truncated line; input is skipped until its newline */
    char *longbuf;    /* max_line_bytes, allocated on the first overlong line */
    int64_t long_off; /* file offset of the line in longbuf */
    struct ferry_watermark wm;
};

struct ferry_source {
    const struct ferry_source_config *cfg;
    char *cp_path;
    struct ferry_checkpoint resume; /* loaded at open; consulted for files found later */
    struct tail_file **files;       /* slot -> file; slots are never reused */
    size_t nfiles, capfiles;
    int64_t next_scan_ms;
    int first_scan_done;
    uint64_t lines, truncated;
};

static int64_t now_ms(int clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int excluded(const struct ferry_source_config *cfg, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (size_t i = 0; i < cfg->exclude.n; i++)
        if (!fnmatch(cfg->exclude.v[i], path, 0) || !fnmatch(cfg->exclude.v[i], base, 0))
            return 1;
    return 0;
}

static struct tail_file *find_file(struct ferry_source *s, dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < s->nfiles; i++)
        if (s->files[i] && s->files[i]->dev == dev && s->files[i]->ino == ino)
            return s->files[i];
    return NULL;
}

/* Where a newly found file starts: its checkpoint, else start_at for files present at
 * start-up, else 0 (a file created while we run is read whole). */
static int64_t start_offset(struct ferry_source *s, const char *path, const struct stat *st)
{
    for (size_t i = 0; i < s->resume.n; i++) {
        const struct ferry_checkpoint_entry *e = &s->resume.v[i];
        if (e->dev == (uint64_t)st->st_dev && e->ino == (uint64_t)st->st_ino) {
            if (e->offset > st->st_size) {
                ferry_warn("tail", "%s: shorter (%lld) than its checkpoint (%lld): reading from 0",
                           path, (long long)st->st_size, (long long)e->offset);
                return 0;
            }
            return e->offset;
        }
    }
    if (!s->first_scan_done && s->cfg->start_at == FERRY_START_END)
        return st->st_size;
    return 0;
}

static void add_file(struct ferry_source *s, const char *path)
{
    struct stat st;
    struct tail_file *f;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        ferry_warn("tail", "%s: open: %s", path, strerror(errno));
        return;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || find_file(s, st.st_dev, st.st_ino)) {
        close(fd);
        return;
    }
    if (s->nfiles == MAX_FILES) {
        ferry_error("tail", "%s: more than %u files in one source", path, MAX_FILES);
        close(fd);
        return;
    }
    if (s->nfiles == s->capfiles) {
        size_t cap = s->capfiles ? s->capfiles * 2 : 16;
        struct tail_file **v = realloc(s->files, cap * sizeof(*v));
        if (!v) {
            close(fd);
            return;
        }
        s->files = v;
        s->capfiles = cap;
    }
    f = calloc(1, sizeof(*f));
    size_t cap = READ_CHUNK;
    if (!f || !(f->buf = malloc(cap)) || !(f->path = strdup(path))) {
        if (f) {
            free(f->buf);
            free(f);
        }
        close(fd);
        return;
    }
    f->cap = cap;
    f->fd = fd;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    f->read_off = start_offset(s, path, &st);
    f->buf_off = f->read_off;
    if (ferry_watermark_init(&f->wm, f->read_off, MAX_IN_FLIGHT_PER_FILE) < 0) {
        free(f->path);
        free(f->buf);
        free(f);
        close(fd);
        return;
    }
    s->files[s->nfiles++] = f;
    ferry_info("tail", "%s: following from offset %lld", path, (long long)f->read_off);
}

static void scan(struct ferry_source *s)
{
    for (size_t i = 0; i < s->cfg->paths.n; i++) {
        glob_t g;
        int rc = glob(s->cfg->paths.v[i], GLOB_NOSORT, NULL, &g);
        if (rc == 0) {
            for (size_t j = 0; j < g.gl_pathc; j++)
                if (!excluded(s->cfg, g.gl_pathv[j]))
                    add_file(s, g.gl_pathv[j]);
        }
        globfree(&g);
    }
    s->first_scan_done = 1;
    s->next_scan_ms = now_ms(CLOCK_MONOTONIC) + s->cfg->refresh_ms;
}

static int tail_open(struct ferry_source **out, const struct ferry_source_config *cfg,
                     const char *state_dir, char *err, size_t errlen)
{
    struct ferry_source *s = calloc(1, sizeof(*s));
    int rc;

    if (!s)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "tail %s: out of memory", cfg->name);
    s->cfg = cfg;
    if (mkdir(state_dir, 0755) < 0 && errno != EEXIST) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_IO, "tail %s: state_dir %s: %s", cfg->name,
                          state_dir, strerror(errno));
        goto fail;
    }
    size_t n = strlen(state_dir) + strlen(cfg->name) + 32;
    s->cp_path = malloc(n);
    snprintf(s->cp_path, n, "%s/%s.checkpoint.json", state_dir, cfg->name);
    rc = ferry_checkpoint_read(s->cp_path, &s->resume, err, errlen);
    if (rc < 0)
        goto fail;
    scan(s);
    *out = s;
    return 0;
fail:
    free(s->cp_path);
    free(s);
    return rc;
}

/* Offers one line to the emitter and, when taken, registers it in the file's watermark.
 * `end` is the file offset just past the line's newline. Returns 0, or -1 for no room. */
static int emit_one(struct ferry_source *s, struct tail_file *f, size_t slot,
                    const struct ferry_emit *emit, const char *data, size_t len, int64_t start,
                    int64_t end)
{
    uint64_t seq;

    if (ferry_watermark_in_flight(&f->wm) >= MAX_IN_FLIGHT_PER_FILE)
        return -1;
    struct ferry_event ev = {
        .data = data,
        .len = len,
        .ts_ms = now_ms(CLOCK_REALTIME),
        .pos = ((uint64_t)slot << SEQ_BITS) | (f->wm.next_seq & SEQ_MASK),
        .origin = f->path,
        .offset = start,
    };
    int rc = emit->fn(emit->opaque, &ev);
    if (rc == FERRY_ERR_AGAIN)
        return -1;
    if (ferry_watermark_push(&f->wm, end, &seq) < 0)
        return -1; /* cannot happen: room was checked above */
    if (rc < 0) {
        /* the producer refused this line for good; it logged and counted it. Acknowledge it
         * so that the file's watermark is not stuck behind it forever. */
        ferry_watermark_ack(&f->wm, seq);
    }
    s->lines++;
    return 0;
}

static void warn_truncated(struct ferry_source *s, struct tail_file *f, int64_t off)
{
    s->truncated++;
    ferry_warn("tail", "%s: line at offset %lld longer than %ld bytes: truncated", f->path,
               (long long)off, s->cfg->max_line_bytes);
}

/* Emits complete lines from f's buffer. Returns events emitted, or -1 when emission had to
 * stop for lack of room (the unsent line stays in the buffer). A line longer than
 * max_line_bytes keeps its first max_line_bytes in f->longbuf and the rest is skipped up to
 * its newline; it is emitted, truncated, when that newline arrives. */
static int emit_lines(struct ferry_source *s, struct tail_file *f, size_t slot,
                      const struct ferry_emit *emit)
{
    size_t max = (size_t)s->cfg->max_line_bytes;
    int n = 0;

    while (f->start < f->len) {
        char *p = f->buf + f->start;
        size_t avail = f->len - f->start;
        char *nl = memchr(p, '\n', avail);
        int64_t off = f->buf_off + (int64_t)f->start;

        if (f->overlong) {
            if (!nl) {
                f->start = f->len; /* skipped: part of the truncated line */
                return n;
            }
            int64_t end = off + (nl - p) + 1;
            if (emit_one(s, f, slot, emit, f->longbuf, max, f->long_off, end) < 0) {
                return -1;
            }
            f->overlong = 0;
        } else if (!nl) {
            if (avail <= max)
                return n; /* a partial line: wait for its newline */
            if (!f->longbuf && !(f->longbuf = malloc(max)))
                return n;
            memcpy(f->longbuf, p, max);
            f->long_off = off;
            warn_truncated(s, f, off);
            f->overlong = 1;
            f->start = f->len;
            continue;
        } else {
            size_t len = (size_t)(nl - p);
            if (len > max) {
                warn_truncated(s, f, off);
                len = max;
            }
            if (emit_one(s, f, slot, emit, p, len, off, off + (nl - p) + 1) < 0)
                return -1;
        }
        f->start += (size_t)(nl - p) + 1;
        n++;
    }
    return n;
}

/* Reads more of the file into f->buf. The buffer starts small and grows, up to
 * max_line_bytes plus one read, only while a single line needs it. */
static int read_more(struct ferry_source *s, struct tail_file *f)
{
    if (f->start > 0) {
        memmove(f->buf, f->buf + f->start, f->len - f->start);
        f->len -= f->start;
        f->buf_off += (int64_t)f->start;
        f->start = 0;
    }
    if (f->len == f->cap) {
        size_t limit = (size_t)s->cfg->max_line_bytes + READ_CHUNK;
        size_t cap = f->cap * 2 < limit ? f->cap * 2 : limit;
        char *b = cap > f->cap ? realloc(f->buf, cap) : NULL;
        if (!b)
            return 0;
        f->buf = b;
        f->cap = cap;
    }
    ssize_t r = pread(f->fd, f->buf + f->len, f->cap - f->len, f->read_off);
    if (r < 0) {
        if (errno != EINTR && errno != EAGAIN)
            ferry_warn("tail", "%s: read: %s", f->path, strerror(errno));
        return 0;
    }
    f->len += (size_t)r;
    f->read_off += r;
    return (int)r;
}

static int tail_poll(struct ferry_source *s, const struct ferry_emit *emit, int timeout_ms)
{
    int total = 0;
    (void)timeout_ms;

    if (now_ms(CLOCK_MONOTONIC) >= s->next_scan_ms)
        scan(s);
    for (size_t i = 0; i < s->nfiles; i++) {
        struct tail_file *f = s->files[i];
        /* a bounded amount per file per poll, so that one busy file cannot starve others */
        for (int rounds = 0; rounds < 16; rounds++) {
            int n = emit_lines(s, f, i, emit);
            if (n < 0)
                return total; /* no room: stop reading everything until it drains */
            total += n;
            if (read_more(s, f) <= 0)
                break;
        }
    }
    return total;
}

static void tail_acked(struct ferry_source *s, uint64_t pos, int ok)
{
    size_t slot = (size_t)(pos >> SEQ_BITS);
    (void)ok; /* a failed delivery was logged and counted by the producer; see emit_lines */
    if (slot >= s->nfiles || !s->files[slot])
        return;
    struct ferry_watermark *w = &s->files[slot]->wm;
    uint64_t low = pos & SEQ_MASK;
    uint64_t seq = w->done_seq + ((low - w->done_seq) & SEQ_MASK);
    ferry_watermark_ack(w, seq);
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
        if (!f)
            continue;
        cp.v[cp.n].path = f->path;
        cp.v[cp.n].dev = (uint64_t)f->dev;
        cp.v[cp.n].ino = (uint64_t)f->ino;
        cp.v[cp.n].offset = f->wm.offset;
        cp.n++;
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

static void tail_close(struct ferry_source *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nfiles; i++) {
        struct tail_file *f = s->files[i];
        if (!f)
            continue;
        close(f->fd);
        ferry_watermark_release(&f->wm);
        free(f->buf);
        free(f->longbuf);
        free(f->path);
        free(f);
    }
    ferry_info("tail", "%s: %llu lines read, %llu truncated", s->cfg->name,
               (unsigned long long)s->lines, (unsigned long long)s->truncated);
    ferry_checkpoint_release(&s->resume);
    free(s->files);
    free(s->cp_path);
    free(s);
}

static const struct ferry_source_ops tail_ops = {
    .type = "tail",
    .open = tail_open,
    .poll = tail_poll,
    .acked = tail_acked,
    .checkpoint = tail_checkpoint,
    .in_flight = tail_in_flight,
    .close = tail_close,
};

const struct ferry_source_ops *ferry_source_lookup(enum ferry_source_type type)
{
    switch (type) {
    case FERRY_SOURCE_TAIL:
        return &tail_ops;
    case FERRY_SOURCE_STDIN:
        return NULL;
    }
    return NULL;
}
