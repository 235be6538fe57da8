/* ferry: acknowledged watermarks and the checkpoint file that persists them.
 *
 * A watermark follows the events of one input (one file) in the order they were read. Each
 * event gets a sequence number and the input offset just past it; acknowledgements may come
 * back in any order (different partitions, retries), and the watermark only moves over a
 * contiguous run of acknowledged events: offset() is the highest input offset below which
 * every event has been acknowledged. That offset, not "the last one sent", is what gets
 * checkpointed, so a restart re-reads at most what was in flight and skips nothing.
 *
 * Threads: a watermark belongs to its source and is used by one thread (the agent's); the
 * checkpoint file functions touch only the files they are given and may run on any thread. */
#ifndef FERRY_CHECKPOINT_H
#define FERRY_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

struct ferry_watermark {
    uint64_t next_seq; /* sequence number of the next event */
    uint64_t done_seq; /* every event below this one is acknowledged */
    int64_t offset;    /* input offset just past event done_seq - 1 */
    size_t cap;        /* ring size, a power of two; grows up to max */
    size_t max;
    int64_t *ends; /* ring: end offset of event seq, at seq & (cap - 1) */
    uint8_t *acked;
};

/* Starts at input offset `offset`; at most `max` events may be in flight (a power of two). */
int ferry_watermark_init(struct ferry_watermark *w, int64_t offset, size_t max);
void ferry_watermark_release(struct ferry_watermark *w);
/* Registers the next event, ending at input offset `end`; returns its sequence number in
 * *seq, or FERRY_ERR_AGAIN when `max` events are already in flight (nothing changes). */
int ferry_watermark_push(struct ferry_watermark *w, int64_t end, uint64_t *seq);
/* Marks event seq acknowledged and advances the watermark over what became contiguous.
 * Sequence numbers already passed, or never pushed, are ignored. */
void ferry_watermark_ack(struct ferry_watermark *w, uint64_t seq);
static inline uint64_t ferry_watermark_in_flight(const struct ferry_watermark *w)
{
    return w->next_seq - w->done_seq;
}

/* One checkpointed input. Its identity is the device and inode it had, and a fingerprint of
 * its first bytes, so that a file whose inode was reused is told apart from the one that had
 * it, and a copy (copytruncate) is recognised by its content. */
struct ferry_checkpoint_entry {
    char *path; /* for people reading the file; bytes that are not UTF-8 are written as '?' */
    uint64_t dev, ino;
    int64_t offset;
    uint64_t fp;   /* ferry_fingerprint of the first fp_len bytes */
    size_t fp_len; /* 0: no fingerprint (an empty file, or a checkpoint from before them) */
};

/* 64-bit FNV-1a of n bytes: the fingerprint of a file's first bytes. */
uint64_t ferry_fingerprint(const void *data, size_t n);

struct ferry_checkpoint {
    struct ferry_checkpoint_entry *v;
    size_t n;
};

/* Reads the checkpoint file; a missing file is an empty checkpoint (0). A corrupt one is
 * FERRY_ERR_INVALID with err saying where. */
int ferry_checkpoint_read(const char *file, struct ferry_checkpoint *cp, char *err, size_t errlen);
/* Writes it atomically: a temporary file, fsync, rename, fsync of the directory. On failure
 * the previous file is intact. */
int ferry_checkpoint_write(const char *file, const struct ferry_checkpoint *cp, char *err,
                           size_t errlen);
void ferry_checkpoint_release(struct ferry_checkpoint *cp);

#endif
