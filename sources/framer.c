/* ferry: line framing — lines, long lines, unterminated lines and multiline events. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/err.h"
#include "ferry/framer.h"

int ferry_framer_cfg_init(struct ferry_framer_cfg *c, const struct ferry_source_config *src,
                          char *err, size_t errlen)
{
    const char *pat = src->ml_start ? src->ml_start : src->ml_continue;
    int code;
    PCRE2_SIZE where;

    memset(c, 0, sizeof(*c));
    c->max_line = (size_t)src->max_line_bytes;
    c->split = src->long_lines == FERRY_LONG_SPLIT;
    c->partial_ms = src->partial_flush_ms;
    if (!pat)
        return 0;
    /* bytes, not UTF-8: a log line may hold anything, and a match must never fail on it */
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, 0, &code, &where, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof(msg));
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                            "multiline pattern '%s': at offset %zu: %s", pat, (size_t)where,
                            (const char *)msg);
    }
    c->ml = re;
    c->ml_match = pcre2_match_data_create_from_pattern(re, NULL);
    if (!c->ml_match) {
        pcre2_code_free(re);
        c->ml = NULL;
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "multiline: out of memory");
    }
    c->ml_continue = src->ml_continue != NULL;
    c->ml_max_lines = (size_t)src->ml_max_lines;
    c->ml_flush_ms = src->ml_flush_ms;
    return 0;
}

void ferry_framer_cfg_release(struct ferry_framer_cfg *c)
{
    pcre2_match_data_free(c->ml_match);
    pcre2_code_free(c->ml);
    c->ml = c->ml_match = NULL;
}

int ferry_framer_init(struct ferry_framer *f, struct ferry_framer_cfg *cfg, int64_t offset)
{
    memset(f, 0, sizeof(*f));
    f->cfg = cfg;
    f->buf_off = offset;
    f->cap = FERRY_FRAMER_READ < cfg->max_line + 1 ? FERRY_FRAMER_READ : cfg->max_line + 1;
    f->buf = malloc(f->cap);
    return f->buf ? 0 : FERRY_ERR_NOMEM;
}

void ferry_framer_release(struct ferry_framer *f)
{
    free(f->buf);
    free(f->cut);
    ferry_buf_release(&f->ev);
    memset(f, 0, sizeof(*f));
}

char *ferry_framer_space(struct ferry_framer *f, size_t *room)
{
    if (f->pos > 0) {
        memmove(f->buf, f->buf + f->pos, f->len - f->pos);
        f->len -= f->pos;
        f->buf_off += (int64_t)f->pos;
        f->pos = 0;
    }
    size_t limit = f->cfg->max_line + FERRY_FRAMER_READ;
    if (f->len == f->cap && f->cap < limit) {
        size_t cap = f->cap * 2 < limit ? f->cap * 2 : limit;
        char *b = realloc(f->buf, cap);
        if (b) {
            f->buf = b;
            f->cap = cap;
        }
    }
    *room = f->cap - f->len;
    return f->buf + f->len;
}

void ferry_framer_commit(struct ferry_framer *f, size_t n)
{
    f->len += n;
}

int64_t ferry_framer_next_offset(const struct ferry_framer *f)
{
    return f->buf_off + (int64_t)f->len;
}

bool ferry_framer_empty(const struct ferry_framer *f)
{
    return f->pos == f->len && !f->skipping && f->ev_lines == 0;
}

/* Whether a line begins a new multiline event. */
static bool starts_event(const struct ferry_framer *f, const char *line, size_t len)
{
    const struct ferry_framer_cfg *c = f->cfg;
    int rc = pcre2_match(c->ml, (PCRE2_SPTR)line, len, 0, 0, c->ml_match, NULL);
    return c->ml_continue ? rc < 0 : rc >= 0;
}

static int ship_event(struct ferry_framer *f, ferry_frame_fn *fn, void *opaque)
{
    int rc = fn(opaque, f->ev.p, f->ev.len, f->ev_start, f->ev_end);
    if (rc < 0)
        return rc;
    f->ev.len = 0;
    f->ev_lines = 0;
    f->ev_open = false;
    return 0;
}

/* One line, or piece of one, from the input: shipped as it is, or added to the multiline
 * event after the event gathered so far was shipped if this line cannot belong to it. `whole`
 * says whether the piece ends its line. On FERRY_ERR_AGAIN the piece was not taken. */
static int frame(struct ferry_framer *f, ferry_frame_fn *fn, void *opaque, const char *data,
                 size_t len, int64_t start, int64_t end, bool whole, int64_t now)
{
    const struct ferry_framer_cfg *c = f->cfg;
    if (!c->ml)
        return fn(opaque, data, len, start, end);
    /* the rest of a line whose beginning was flushed into the event joins it as it is */
    bool joins = f->ev_lines > 0 && f->ev_open;
    size_t sep = f->ev_lines > 0 && !joins;
    if (f->ev_lines > 0 &&
        (f->ev.len + sep + len > c->max_line ||
         (!joins && (f->ev_lines >= c->ml_max_lines || starts_event(f, data, len))))) {
        int rc = ship_event(f, fn, opaque);
        if (rc < 0)
            return rc;
        joins = false;
        sep = 0;
    }
    size_t before = f->ev.len;
    if ((sep && ferry_buf_add(&f->ev, "\n", 1) < 0) || ferry_buf_add(&f->ev, data, len) < 0) {
        f->ev.len = before;
        return FERRY_ERR_AGAIN; /* out of memory: the line stays, try again later */
    }
    if (f->ev_lines == 0)
        f->ev_start = start;
    if (!joins)
        f->ev_lines++;
    f->ev_end = end;
    f->ev_last = now;
    f->ev_open = !whole;
    return 0;
}

/* A line over max_line bytes whose newline is not in the buffer yet. */
static int long_line(struct ferry_framer *f, ferry_frame_fn *fn, void *opaque, int64_t now)
{
    const char *p = f->buf + f->pos;
    int64_t off = f->buf_off + (int64_t)f->pos;
    size_t max = f->cfg->max_line;

    if (f->cfg->split) {
        int rc = frame(f, fn, opaque, p, max, off, off + (int64_t)max, false, now);
        if (rc < 0)
            return rc;
        f->pos += max;
        f->cfg->truncated++;
        return 1;
    }
    if (!f->cut && !(f->cut = malloc(max)))
        return FERRY_ERR_AGAIN;
    memcpy(f->cut, p, max);
    f->cut_start = off;
    f->skipping = true;
    f->pos = f->len; /* the rest is dropped up to the line's newline */
    f->cfg->truncated++;
    return 0;
}

/* Ships what is due without new input: an unterminated tail that waited partial_ms, a
 * multiline event that is full or waited flush_ms. */
static int due(struct ferry_framer *f, ferry_frame_fn *fn, void *opaque, int64_t now)
{
    const struct ferry_framer_cfg *c = f->cfg;
    size_t tail = f->len - f->pos;
    int64_t off = f->buf_off + (int64_t)f->pos;
    int n = 0, rc;

    if (f->skipping || tail == 0 || c->partial_ms <= 0) {
        f->partial_len = 0;
    } else if (f->partial_len != tail || f->partial_off != off) {
        f->partial_off = off; /* new or grown: wait partial_ms from now */
        f->partial_len = tail;
        f->partial_since = now;
    } else if (now - f->partial_since >= c->partial_ms) {
        rc = frame(f, fn, opaque, f->buf + f->pos, tail, off, off + (int64_t)tail, false, now);
        if (rc < 0)
            return rc;
        f->pos = f->len;
        f->partial_len = 0;
        f->cfg->partial_sent++;
        n++;
    }
    if (f->ev_lines > 0 && (f->ev_lines >= c->ml_max_lines || now - f->ev_last >= c->ml_flush_ms)) {
        rc = ship_event(f, fn, opaque);
        if (rc < 0)
            return rc;
        n++;
    }
    return n;
}

int ferry_framer_drain(struct ferry_framer *f, ferry_frame_fn *fn, void *opaque, int64_t now)
{
    size_t max = f->cfg->max_line;
    int n = 0, rc;

    while (f->pos < f->len) {
        char *p = f->buf + f->pos;
        size_t avail = f->len - f->pos;
        char *nl = memchr(p, '\n', avail);
        int64_t off = f->buf_off + (int64_t)f->pos;

        if (f->skipping) {
            if (!nl) {
                f->pos = f->len;
                break;
            }
            size_t used = (size_t)(nl - p) + 1;
            rc = frame(f, fn, opaque, f->cut, max, f->cut_start, off + (int64_t)used, true, now);
            if (rc < 0)
                return rc;
            f->skipping = false;
            f->pos += used;
        } else if (!nl) {
            if (avail <= max)
                break; /* an unterminated line: wait for its newline */
            rc = long_line(f, fn, opaque, now);
            if (rc < 0)
                return rc;
            n += rc;
            continue;
        } else {
            size_t len = (size_t)(nl - p);
            if (len > max && f->cfg->split) {
                rc = frame(f, fn, opaque, p, max, off, off + (int64_t)max, false, now);
                if (rc < 0)
                    return rc;
                f->pos += max;
                f->cfg->truncated++;
                n++;
                continue;
            }
            if (len > max)
                f->cfg->truncated++;
            rc = frame(f, fn, opaque, p, len > max ? max : len, off, off + (int64_t)len + 1, true,
                       now);
            if (rc < 0) {
                if (len > max)
                    f->cfg->truncated--; /* counted again when it is offered again */
                return rc;
            }
            f->pos += len + 1;
        }
        n++;
    }
    rc = due(f, fn, opaque, now);
    return rc < 0 ? rc : n + rc;
}

int ferry_framer_finish(struct ferry_framer *f, ferry_frame_fn *fn, void *opaque)
{
    int n = 0, rc;
    if (f->skipping) {
        rc = frame(f, fn, opaque, f->cut, f->cfg->max_line, f->cut_start,
                   ferry_framer_next_offset(f), true, 0);
        if (rc < 0)
            return rc;
        f->skipping = false;
        n++;
    }
    if (f->pos < f->len) {
        int64_t off = f->buf_off + (int64_t)f->pos;
        size_t tail = f->len - f->pos;
        rc = frame(f, fn, opaque, f->buf + f->pos, tail, off, off + (int64_t)tail, true, 0);
        if (rc < 0)
            return rc;
        f->pos = f->len;
        f->cfg->partial_sent++;
        n++;
    }
    if (f->ev_lines > 0) {
        rc = ship_event(f, fn, opaque);
        if (rc < 0)
            return rc;
        n++;
    }
    return n;
}
