/* ferry: the stdin source — lines from standard input (a pipe), until it ends.
 *
 * Standard input cannot be read again, so there is no checkpoint: what Kafka has not
 * acknowledged when ferry stops is lost with the pipe, and so is an event whose delivery
 * failed (counted and logged). The agent therefore waits, after the input ended, until every
 * event is acknowledged (ferry_source_ops.finished). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ferry/clock.h"
#include "ferry/err.h"
#include "ferry/framer.h"
#include "ferry/log.h"
#include "ferry/source.h"

struct ferry_source {
    const struct ferry_source_config *cfg;
    struct ferry_framer_cfg fcfg;
    struct ferry_framer fr;
    const struct ferry_emit *emit; /* during poll */
    int fd;
    bool eof;
    uint64_t events, acked, lost;
};

static int on_frame(void *opaque, const char *data, size_t len, int64_t start, int64_t end)
{
    struct ferry_source *s = opaque;
    (void)end;
    struct ferry_event ev = {
        .data = data,
        .len = len,
        .ts_ms = ferry_wall_ms(),
        .pos = s->events,
        .origin = "-",
        .offset = start,
    };
    int rc = s->emit->fn(s->emit->opaque, &ev);
    if (rc == FERRY_ERR_AGAIN || rc == FERRY_ERR_RETRY)
        return FERRY_ERR_AGAIN; /* offered again on a later poll: standard input cannot be
                                 * read twice, so the event waits here */
    s->events++;
    if (rc < 0)
        s->acked++; /* refused for good: logged and counted by the producer */
    return 0;
}

static int stdin_open(struct ferry_source **out, const struct ferry_source_config *cfg,
                      const char *state_dir, char *err, size_t errlen)
{
    struct ferry_source *s = calloc(1, sizeof(*s));
    int rc;
    (void)state_dir;
    if (!s)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "stdin %s: out of memory", cfg->name);
    s->cfg = cfg;
    s->fd = STDIN_FILENO;
    rc = ferry_framer_cfg_init(&s->fcfg, cfg, err, errlen);
    if (rc == 0 && ferry_framer_init(&s->fr, &s->fcfg, 0) < 0)
        rc = ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "stdin %s: out of memory", cfg->name);
    if (rc < 0) {
        ferry_framer_cfg_release(&s->fcfg);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int stdin_poll(struct ferry_source *s, const struct ferry_emit *emit, int timeout_ms)
{
    int total = 0;
    (void)timeout_ms;
    s->emit = emit;
    for (int round = 0; round < 16; round++) {
        int n = ferry_framer_drain(&s->fr, on_frame, s, ferry_mono_ms());
        if (n < 0)
            return total;
        total += n;
        if (s->eof)
            break;
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 0) <= 0)
            break;
        size_t room;
        char *buf = ferry_framer_space(&s->fr, &room);
        if (room == 0)
            break; /* the framer is full (out of memory to grow): not the end of the input */
        ssize_t r = read(s->fd, buf, room);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            break;
        if (r <= 0) {
            if (r < 0)
                ferry_warn("stdin", "%s: read: %s: treating as the end", s->cfg->name,
                           strerror(errno));
            s->eof = true;
            ferry_info("stdin", "%s: input ended after %lld bytes", s->cfg->name,
                       (long long)ferry_framer_next_offset(&s->fr));
            break;
        }
        ferry_framer_commit(&s->fr, (size_t)r);
    }
    if (s->eof) {
        int n = ferry_framer_finish(&s->fr, on_frame, s);
        if (n > 0)
            total += n;
    }
    return total;
}

static void stdin_acked(struct ferry_source *s, uint64_t pos, int ok)
{
    (void)pos;
    s->acked++;
    if (!ok)
        s->lost++; /* Kafka gave up on it (the producer logged why); a pipe is not read twice */
}

static int stdin_checkpoint(struct ferry_source *s, char *err, size_t errlen)
{
    (void)s;
    (void)err;
    (void)errlen;
    return 0; /* a pipe cannot be read again: nothing to remember */
}

static uint64_t stdin_in_flight(const struct ferry_source *s)
{
    return s->events - s->acked;
}

static bool stdin_finished(const struct ferry_source *s)
{
    return s->eof && ferry_framer_empty(&s->fr);
}

static void stdin_close(struct ferry_source *s)
{
    if (!s)
        return;
    ferry_info("stdin", "%s: %llu events; %llu long lines cut", s->cfg->name,
               (unsigned long long)s->events, (unsigned long long)s->fcfg.truncated);
    if (s->lost)
        ferry_error("stdin", "%s: %llu events Kafka did not take are lost", s->cfg->name,
                    (unsigned long long)s->lost);
    ferry_framer_release(&s->fr);
    ferry_framer_cfg_release(&s->fcfg);
    free(s);
}

static const struct ferry_key stdin_keys[] = {{0}}; /* none of its own */
static const struct ferry_section stdin_section = {
    .keys = stdin_keys,
    .doc = "Reads standard input (a pipe) until it ends, then exits once Kafka acknowledged "
           "every line",
};

const struct ferry_source_ops ferry_source_stdin = {
    .type = "stdin",
    .config = &stdin_section,
    .open = stdin_open,
    .poll = stdin_poll,
    .acked = stdin_acked,
    .checkpoint = stdin_checkpoint,
    .in_flight = stdin_in_flight,
    .finished = stdin_finished,
    .close = stdin_close,
};
