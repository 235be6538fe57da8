/* ferry: line framing — from a byte stream to events.
 *
 * A framer buffers the bytes of one input (a file, standard input) and cuts them into events:
 * one per line, or, with multiline patterns, one per group of lines (a stack trace). It knows
 * each event's byte range in the input, so that a source can checkpoint the offset just past
 * the last event Kafka acknowledged.
 *
 * The input is fed in order: ferry_framer_space() gives room at the end of the buffer,
 * ferry_framer_commit() says how much was put there. ferry_framer_drain() hands complete
 * events to a callback; when the callback has no room (FERRY_ERR_AGAIN) the event stays where
 * it is and is offered again on the next drain: nothing is dropped, nothing is offered twice
 * once taken.
 *
 * Memory is bounded: the buffer holds at most max_line_bytes plus one read; a multiline event
 * at most max_line_bytes (a longer one is shipped in parts). One thread at a time. */
#ifndef FERRY_FRAMER_H
#define FERRY_FRAMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ferry/config.h"
#include "ferry/fields.h"

#define FERRY_FRAMER_READ (64 * 1024) /* the unit in which the buffer grows */

/* Settings shared by every framer of a source; built once from its configuration. */
struct ferry_framer_cfg {
    size_t max_line;       /* max_line_bytes */
    bool split;            /* long_lines: split (else truncate) */
    int64_t partial_ms;    /* partial_flush_ms; 0: never */
    void *ml;              /* compiled multiline pattern (pcre2_code *), or NULL */
    void *ml_match;        /* its match data */
    bool ml_continue;      /* the pattern marks continuation lines (else first lines) */
    size_t ml_max_lines;   /* multiline.max_lines */
    int64_t ml_flush_ms;   /* multiline.flush_ms */
    uint64_t truncated;    /* lines cut to max_line bytes (truncate) or split, all framers */
    uint64_t partial_sent; /* unterminated lines shipped after partial_ms or at the end */
};

/* Compiles the source's multiline pattern and copies its limits. 0, or FERRY_ERR_INVALID with
 * err naming the pattern's problem. Release with ferry_framer_cfg_release. */
int ferry_framer_cfg_init(struct ferry_framer_cfg *c, const struct ferry_source_config *src,
                          char *err, size_t errlen);
void ferry_framer_cfg_release(struct ferry_framer_cfg *c);

/* Receives one event: data[0..len) covers input bytes [start, end) (end is just past the
 * event's last newline, or its last byte when it has none). Returns 0 when taken, or
 * FERRY_ERR_AGAIN for no room now (the framer keeps the event and offers it again). data is
 * valid only during the call. */
typedef int ferry_frame_fn(void *opaque, const char *data, size_t len, int64_t start, int64_t end);

struct ferry_framer {
    struct ferry_framer_cfg *cfg; /* borrowed; its counters are updated */
    char *buf;                    /* input bytes not yet framed: [pos, len) */
    size_t pos, len, cap;
    int64_t buf_off;     /* input offset of buf[0] */
    bool skipping;       /* inside a long line's rest: bytes are dropped up to its newline */
    int64_t cut_start;   /* truncate: input offset where the long line started */
    char *cut;           /* truncate: its first max_line bytes, until its newline comes */
    int64_t partial_off; /* input offset and length of the unterminated tail last seen, */
    size_t partial_len;  /* and since when (monotonic ms); partial_len 0: none */
    int64_t partial_since;
    struct ferry_buf ev; /* multiline: the event being gathered */
    size_t ev_lines;
    bool ev_open; /* its last line was shipped early (partial_flush_ms): what follows of that
                     line is appended to it without a newline */
    int64_t ev_start, ev_end, ev_last; /* its input range; when its last line came (ms) */
};

/* Starts at input offset `offset`. 0 or FERRY_ERR_NOMEM. */
int ferry_framer_init(struct ferry_framer *f, struct ferry_framer_cfg *cfg, int64_t offset);
void ferry_framer_release(struct ferry_framer *f);

/* Room for the next bytes of input, at least 1 byte unless the buffer is at its limit (then
 * *room is 0: drain first). Valid until the next call on f. */
char *ferry_framer_space(struct ferry_framer *f, size_t *room);
/* n bytes were written at the space given. */
void ferry_framer_commit(struct ferry_framer *f, size_t n);
/* Input offset of the next byte expected. */
int64_t ferry_framer_next_offset(const struct ferry_framer *f);

/* Hands every complete event to fn: lines, long lines (cut or split), multiline events whose
 * next line arrived or that are due (flush_ms, max_lines), and an unterminated last line that
 * waited partial_ms (with multiline, it joins the event gathered, and what follows of that
 * line later is appended to it as it is). now_ms is a monotonic clock. Returns how many lines
 * or pieces were framed and events shipped (a measure of progress), or FERRY_ERR_AGAIN when
 * fn ran out of room (what was taken before is not offered again: call again later). */
int ferry_framer_drain(struct ferry_framer *f, ferry_frame_fn *fn, void *opaque, int64_t now_ms);
/* The input ended for good (a rotated file drained, standard input closed): ships an
 * unterminated last line and a gathered multiline event too. Same returns as drain. */
int ferry_framer_finish(struct ferry_framer *f, ferry_frame_fn *fn, void *opaque);
/* Nothing buffered and nothing gathered. */
bool ferry_framer_empty(const struct ferry_framer *f);

#endif
