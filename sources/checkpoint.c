/* ferry: acknowledged watermarks and checkpoint files. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/checkpoint.h"
#include "ferry/err.h"

int ferry_watermark_init(struct ferry_watermark *w, int64_t offset, size_t max)
{
    memset(w, 0, sizeof(*w));
    w->offset = offset;
    w->max = max;
    w->cap = max < 256 ? max : 256;
    w->ends = calloc(w->cap, sizeof(*w->ends));
    w->acked = calloc(w->cap, 1);
    if (!w->ends || !w->acked) {
        ferry_watermark_release(w);
        return FERRY_ERR_NOMEM;
    }
    return 0;
}

void ferry_watermark_release(struct ferry_watermark *w)
{
    free(w->ends);
    free(w->acked);
    w->ends = NULL;
    w->acked = NULL;
}

static int grow(struct ferry_watermark *w)
{
    size_t cap = w->cap * 2;
    int64_t *ends = calloc(cap, sizeof(*ends));
    uint8_t *acked = calloc(cap, 1);
    if (!ends || !acked) {
        free(ends);
        free(acked);
        return FERRY_ERR_NOMEM;
    }
    for (uint64_t s = w->done_seq; s < w->next_seq; s++) {
        ends[s & (cap - 1)] = w->ends[s & (w->cap - 1)];
        acked[s & (cap - 1)] = w->acked[s & (w->cap - 1)];
    }
    free(w->ends);
    free(w->acked);
    w->ends = ends;
    w->acked = acked;
    w->cap = cap;
    return 0;
}

int ferry_watermark_push(struct ferry_watermark *w, int64_t end, uint64_t *seq)
{
    if (ferry_watermark_in_flight(w) == w->cap) {
        if (w->cap >= w->max || grow(w) < 0)
            return FERRY_ERR_AGAIN;
    }
    size_t i = w->next_seq & (w->cap - 1);
    w->ends[i] = end;
    w->acked[i] = 0;
    *seq = w->next_seq++;
    return 0;
}

void ferry_watermark_ack(struct ferry_watermark *w, uint64_t seq)
{
    if (seq < w->done_seq || seq >= w->next_seq)
        return;
    w->acked[seq & (w->cap - 1)] = 1;
    while (w->done_seq < w->next_seq && w->acked[w->done_seq & (w->cap - 1)]) {
        w->offset = w->ends[w->done_seq & (w->cap - 1)];
        w->done_seq++;
    }
}

void ferry_checkpoint_release(struct ferry_checkpoint *cp)
{
    for (size_t i = 0; i < cp->n; i++)
        free(cp->v[i].path);
    free(cp->v);
    cp->v = NULL;
    cp->n = 0;
}

int ferry_checkpoint_read(const char *file, struct ferry_checkpoint *cp, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root, *files;

    memset(cp, 0, sizeof(*cp));
    if (access(file, F_OK) != 0 && errno == ENOENT)
        return 0;
    root = json_load_file(file, 0, &je);
    if (!root)
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "checkpoint %s:%d:%d: %s", file,
                            je.line, je.column, je.text);
    files = json_object_get(root, "files");
    if (!json_is_array(files)) {
        json_decref(root);
        return ferry_seterr(err, errlen, FERRY_ERR_INVALID, "checkpoint %s: no 'files' array",
                            file);
    }
    cp->v = calloc(json_array_size(files) + 1, sizeof(*cp->v));
    for (size_t i = 0; i < json_array_size(files); i++) {
        json_t *f = json_array_get(files, i);
        const char *path = json_string_value(json_object_get(f, "path"));
        json_t *dev = json_object_get(f, "dev"), *ino = json_object_get(f, "ino"),
               *off = json_object_get(f, "offset");
        if (!path || !json_is_integer(dev) || !json_is_integer(ino) || !json_is_integer(off) ||
            json_integer_value(off) < 0) {
            ferry_checkpoint_release(cp);
            json_decref(root);
            return ferry_seterr(err, errlen, FERRY_ERR_INVALID,
                                "checkpoint %s: entry %zu is incomplete", file, i);
        }
        struct ferry_checkpoint_entry *e = &cp->v[cp->n++];
        e->path = strdup(path);
        e->dev = (uint64_t)json_integer_value(dev);
        e->ino = (uint64_t)json_integer_value(ino);
        e->offset = json_integer_value(off);
        const char *fp = json_string_value(json_object_get(f, "fp"));
        json_t *fp_len = json_object_get(f, "fp_len");
        if (fp && json_is_integer(fp_len) && json_integer_value(fp_len) > 0) {
            e->fp = strtoull(fp, NULL, 16);
            e->fp_len = (size_t)json_integer_value(fp_len);
        }
    }
    json_decref(root);
    return 0;
}

uint64_t ferry_fingerprint(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* A copy of s in which every byte that is not part of valid UTF-8 is '?': JSON strings must
 * be UTF-8, and a path may be any bytes. NULL when out of memory. */
static char *utf8_or_marks(const char *s)
{
    char *out = strdup(s);
    unsigned char *p = (unsigned char *)out;
    if (!out)
        return NULL;
    while (*p) {
        size_t n = *p < 0x80             ? 1
                   : (*p & 0xe0) == 0xc0 ? 2
                   : (*p & 0xf0) == 0xe0 ? 3
                   : (*p & 0xf8) == 0xf0 ? 4
                                         : 0;
        size_t ok = n;
        for (size_t i = 1; i < n; i++)
            if ((p[i] & 0xc0) != 0x80)
                ok = 0;
        if (n == 2 && *p < 0xc2)
            ok = 0; /* overlong */
        if (!ok) {
            *p++ = '?';
            continue;
        }
        p += n;
    }
    return out;
}

int ferry_checkpoint_write(const char *file, const struct ferry_checkpoint *cp, char *err,
                           size_t errlen)
{
    char tmp[4096], dir[4096];
    json_t *root = json_object(), *files = json_array();
    int fd = -1, rc = 0;
    char *text = NULL;

    json_object_set_new(root, "version", json_integer(2));
    for (size_t i = 0; i < cp->n; i++) {
        const struct ferry_checkpoint_entry *e = &cp->v[i];
        char fp[17], *path = utf8_or_marks(e->path);
        snprintf(fp, sizeof(fp), "%016llx", (unsigned long long)e->fp);
        json_t *item = json_pack("{s:s, s:I, s:I, s:I, s:s, s:I}", "path", path ? path : "?", "dev",
                                 (json_int_t)e->dev, "ino", (json_int_t)e->ino, "offset",
                                 (json_int_t)e->offset, "fp", fp, "fp_len", (json_int_t)e->fp_len);
        free(path);
        if (!item || json_array_append_new(files, item) < 0) {
            json_decref(root);
            json_decref(files);
            return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "checkpoint %s: out of memory", file);
        }
    }
    json_object_set_new(root, "files", files);
    text = json_dumps(root, JSON_INDENT(1));
    json_decref(root);
    if (!text)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "checkpoint %s: out of memory", file);

    snprintf(tmp, sizeof(tmp), "%s.tmp", file);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_IO, "checkpoint %s: %s", tmp, strerror(errno));
        goto out;
    }
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = ferry_seterr(err, errlen, FERRY_ERR_IO, "checkpoint %s: write: %s", tmp,
                              strerror(errno));
            goto out;
        }
        done += (size_t)w;
    }
    if (fsync(fd) < 0) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_IO, "checkpoint %s: fsync: %s", tmp,
                          strerror(errno));
        goto out;
    }
    close(fd);
    fd = -1;
    if (rename(tmp, file) < 0) {
        rc = ferry_seterr(err, errlen, FERRY_ERR_IO, "checkpoint %s: rename: %s", file,
                          strerror(errno));
        goto out;
    }
    /* make the rename itself durable */
    snprintf(dir, sizeof(dir), "%s", file);
    fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0)
        fsync(fd);
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(tmp);
    free(text);
    return rc;
}
