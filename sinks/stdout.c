/* ferry: the stdout sink — each event's value, one line each, on standard output (or appended
 * to the file `path`): to see what a topic holds, or to hand it to another program.
 *
 * The value is written as it is, whatever the worker's `format` (a value holding a newline
 * spans lines); `metadata` puts the event's topic, partition, offset, key or timestamp before
 * it, tab-separated. A batch is written, then flushed, and only then does write() return, so
 * the worker stores the batch's offsets once the lines are out of ferry (Kafka's committed
 * offsets are the sink's: it keeps none itself). A batch that fails part-way (EPIPE, a full
 * disk) is written again whole: lines may repeat, none is skipped. What a failed write (or a
 * kill -9) left of a line is ended with a newline before anything else is written (at the next
 * write, and when a `path` file is opened), so it stands cut short on a line of its own and
 * is never joined to the next line. Workers sharing standard output write whole batches, one
 * at a time. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/err.h"
#include "ferry/sink.h"

/* metadata columns, by their name in `metadata` */
enum column { COL_TOPIC, COL_PARTITION, COL_OFFSET, COL_KEY, COL_TIMESTAMP };
static const char *const column_names[] = {"topic", "partition", "offset",
                                           "key",   "timestamp", NULL};
#define MAX_COLUMNS 16

struct stdout_config {
    struct ferry_strv metadata; /* each one of column_names (validated) */
    char *path;                 /* NULL: standard output */
};

struct ferry_sink {
    const struct ferry_worker_config *cfg;
    FILE *out;  /* stdout, or the file at path (owned) */
    bool owned; /* out is the sink's to close */
    bool torn;  /* the last write failed: it may have stopped inside a line */
    enum column cols[MAX_COLUMNS];
    size_t ncols;
};

static int column_of(const char *name)
{
    for (int i = 0; column_names[i]; i++)
        if (!strcmp(column_names[i], name))
            return i;
    return -1;
}

/* ---- configuration ---------------------------------------------------------------------- */

static void check_stdout(struct ferry_schema_ctx *c, void *obj, const struct ferry_node *map,
                         const char *path)
{
    const struct stdout_config *s = obj;
    const struct ferry_node *mn = ferry_node_get(map, "metadata");
    int line, col;

    if (s->metadata.n > MAX_COLUMNS) {
        ferry_schema_pos_of(map, "metadata", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.metadata: at most %d columns", path, MAX_COLUMNS);
    }
    for (size_t i = 0; i < s->metadata.n; i++) {
        const struct ferry_node *at =
            mn && mn->type == FERRY_NODE_SEQ && i < mn->n ? mn->items[i] : mn;
        if (column_of(s->metadata.v[i]) < 0)
            ferry_diags_add(c->d, at ? at->line : 1, at ? at->col : 1,
                            "%s.metadata: '%s' is not one of topic, partition, offset, key, "
                            "timestamp",
                            path, s->metadata.v[i]);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(s->metadata.v[i], s->metadata.v[j]))
                ferry_diags_add(c->d, at ? at->line : 1, at ? at->col : 1,
                                "%s.metadata: '%s' is named twice", path, s->metadata.v[i]);
    }
    if (s->path && !*s->path) {
        ferry_schema_pos_of(map, "path", &line, &col);
        ferry_diags_add(c->d, line, col, "%s.path: must not be empty", path);
    }
}

#define OUT struct stdout_config
static const struct ferry_key stdout_keys[] = {
    {FERRY_KEY_STRLIST("metadata", OUT, metadata,
                       "what goes before each value, tab-separated, in this order: `topic`, "
                       "`partition`, `offset`, `key` (empty when the event has none), "
                       "`timestamp` (Kafka's, ms since the epoch; -1 when it has none)")},
    {FERRY_KEY_STRING("path", OUT, path, NULL,
                      "a file the lines are appended to (created if missing) instead of "
                      "standard output")},
    {0},
};
#undef OUT

static const struct ferry_section stdout_section = {
    .keys = stdout_keys,
    .size = sizeof(struct stdout_config),
    .check = check_stdout,
    .doc = "Prints each event's value, as it is, one per line, on standard output (or to "
           "`path`); `format` does not apply. The offsets are committed to Kafka once the lines "
           "are flushed",
};

/* ---- the sink --------------------------------------------------------------------------- */

static int stdout_open(struct ferry_sink **out, const struct ferry_worker_config *cfg,
                       const char *group, char *err, size_t errlen)
{
    const struct stdout_config *c = ferry_worker_plugin(cfg);
    struct ferry_sink *s = calloc(1, sizeof(*s));
    (void)group;

    if (!s)
        return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "stdout: out of memory");
    s->cfg = cfg;
    for (size_t i = 0; i < c->metadata.n && i < MAX_COLUMNS; i++)
        s->cols[s->ncols++] = (enum column)column_of(c->metadata.v[i]);
    s->out = stdout;
    if (c->path) {
        s->out = fopen(c->path, "a+");
        s->owned = true;
        /* a file whose last line was cut short (a crash mid-write): end it first */
        s->torn = s->out && fseek(s->out, -1, SEEK_END) == 0 && getc(s->out) != '\n';
    }
    if (!s->out) {
        int rc = ferry_seterr(err, errlen, FERRY_ERR_FATAL, "stdout %s: %s: %s", cfg->name, c->path,
                              strerror(errno));
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static void put_column(FILE *f, enum column col, const rd_kafka_message_t *m)
{
    switch (col) {
    case COL_TOPIC:
        fputs(rd_kafka_topic_name(m->rkt), f);
        break;
    case COL_PARTITION:
        fprintf(f, "%" PRId32, m->partition);
        break;
    case COL_OFFSET:
        fprintf(f, "%" PRId64, m->offset);
        break;
    case COL_KEY:
        if (m->key)
            fwrite(m->key, 1, m->key_len, f);
        break;
    case COL_TIMESTAMP:
        fprintf(f, "%" PRId64, rd_kafka_message_timestamp(m, NULL));
        break;
    }
    putc('\t', f);
}

static int stdout_write(struct ferry_sink *s, const struct ferry_batch *batch, char *err,
                        size_t errlen)
{
    FILE *f = s->out;
    int bad;

    flockfile(f); /* a whole batch at a time among the workers that share f */
    if (s->torn)  /* end what the failed write left of a line (a spare empty line at worst) */
        putc('\n', f);
    for (size_t i = 0; i < batch->n; i++) {
        const rd_kafka_message_t *m = batch->msgs[i];
        for (size_t j = 0; j < s->ncols; j++)
            put_column(f, s->cols[j], m);
        if (m->payload)
            fwrite(m->payload, 1, m->len, f);
        putc('\n', f);
    }
    errno = 0;
    bad = fflush(f) != 0 || ferror(f);
    int e = errno;
    if (bad)
        clearerr(f);
    s->torn = bad;
    funlockfile(f);
    if (bad)
        return ferry_seterr(err, errlen, FERRY_ERR_RETRY, "stdout %s: write: %s", s->cfg->name,
                            e ? strerror(e) : "write error");
    /* nothing is ever rejected; the contract still wants it called before the commit */
    if (batch->before_commit(batch->opaque) < 0)
        return ferry_seterr(err, errlen, FERRY_ERR_RETRY,
                            "stdout %s: the dead-letter topic did not take the batch's events",
                            s->cfg->name);
    return 0;
}

static void stdout_close(struct ferry_sink *s)
{
    if (!s)
        return;
    if (s->owned)
        fclose(s->out);
    else
        fflush(s->out);
    free(s);
}

const struct ferry_sink_ops ferry_sink_stdout = {
    .type = "stdout",
    .config = &stdout_section,
    .open = stdout_open,
    .write = stdout_write,
    .close = stdout_close,
};
