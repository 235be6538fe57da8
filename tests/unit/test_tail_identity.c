/* Unit tests for file identity in the tail source (sources/tail_scan.c, through the source
 * interface of include/ferry/source.h): which bytes of which file are read, once, when files
 * are renamed, copied and truncated, replaced, truncated and written again, reused under the
 * same inode, followed through symbolic links, and across a restart from the checkpoint.
 *
 * Real files in a temporary directory; every event is acknowledged at once, so the checkpoint
 * holds what was read. Each test states the exact events (path, byte offset, text) that must
 * arrive, and then polls on for a while (SETTLE_MS) so that a line read twice is seen. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ferry/config.h"
#include "ferry/err.h"
#include "ferry/source.h"

#define WAIT_MS   8000 /* for events that must come (a loaded machine) */
#define SETTLE_MS 400  /* polling on after them: longer than refresh_ms and rotate_wait_ms */

/* The tail source, found as the agent finds it. */
static const struct ferry_source_ops *tail(void)
{
    const struct ferry_source_ops *ops = ferry_source_lookup("tail");
    assert_non_null(ops);
    return ops;
}

struct ev {
    char path[256];
    int64_t offset;
    char data[256];
};

struct fx {
    char dir[64], logs[96], state[96];
    char yaml[1024];
    struct ferry_config *cfg;
    struct ferry_source *src;
    struct ev ev[256];
    size_t n;
    uint64_t pos[256]; /* to acknowledge */
    size_t npos;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int on_event(void *opaque, const struct ferry_event *e)
{
    struct fx *x = opaque;
    assert_true(x->n < 256);
    struct ev *v = &x->ev[x->n++];
    snprintf(v->path, sizeof(v->path), "%s", e->origin ? e->origin : "");
    v->offset = e->offset;
    snprintf(v->data, sizeof(v->data), "%.*s", (int)e->len, e->data);
    x->pos[x->npos++] = e->pos;
    return 0;
}

static void poll_once(struct fx *x)
{
    struct ferry_emit emit = {on_event, x};
    assert_true(tail()->poll(x->src, &emit, 10) >= 0);
    for (size_t i = 0; i < x->npos; i++)
        tail()->acked(x->src, x->pos[i], 1);
    x->npos = 0;
    usleep(10000);
}

/* Polls until n events in all arrived (or WAIT_MS passed), then SETTLE_MS more. */
static void pump(struct fx *x, size_t n)
{
    int64_t end = now_ms() + WAIT_MS;
    while (x->n < n && now_ms() < end)
        poll_once(x);
    end = now_ms() + SETTLE_MS;
    while (now_ms() < end)
        poll_once(x);
}

static void start(struct fx *x, const char *pattern)
{
    char err[512];
    struct ferry_diags d;
    snprintf(x->yaml, sizeof(x->yaml),
             "kafka: {brokers: embedded}\n"
             "agent:\n"
             "  state_dir: %s\n"
             "  sources:\n"
             "    - name: s\n"
             "      paths: ['%s/%s']\n"
             "      topic: t\n"
             "      refresh_ms: 20\n"
             "      rotate_wait_ms: 200\n",
             x->state, x->logs, pattern);
    ferry_diags_init(&d, "t.yaml");
    assert_int_equal(ferry_config_parse("t.yaml", x->yaml, strlen(x->yaml), &x->cfg, &d), 0);
    ferry_diags_release(&d);
    if (tail()->open(&x->src, &x->cfg->sources[0], x->cfg->state_dir, err, sizeof(err)) < 0)
        fail_msg("open: %s", err);
}

/* Writes the checkpoint and closes the source, as the agent does on SIGTERM. */
static void stop(struct fx *x)
{
    char err[512];
    if (x->src) {
        assert_int_equal(tail()->checkpoint(x->src, err, sizeof(err)), 0);
        tail()->close(x->src);
    }
    ferry_config_destroy(x->cfg);
    x->src = NULL;
    x->cfg = NULL;
}

static const char *at(struct fx *x, const char *name)
{
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof(p[k]), "%s/%s", x->logs, name);
    return p[k];
}

static void append(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* The same inode, its content replaced (O_TRUNC): a truncation. */
static void rewrite(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void copy_file(const char *from, const char *to)
{
    char buf[8192];
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(in >= 0 && out >= 0);
    ssize_t r;
    while ((r = read(in, buf, sizeof(buf))) > 0)
        assert_int_equal(write(out, buf, (size_t)r), r);
    close(in);
    close(out);
}

static ino_t inode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_ino;
}

/* The events so far, one per line as "name@offset:text" (name relative to logs). */
static void expect(struct fx *x, const char *want)
{
    char got[8192] = "";
    size_t len = 0, skip = strlen(x->logs) + 1;
    for (size_t i = 0; i < x->n; i++) {
        const char *p = x->ev[i].path;
        if (!strncmp(p, x->logs, skip - 1) && p[skip - 1] == '/')
            p += skip;
        len += (size_t)snprintf(got + len, sizeof(got) - len, "%s@%lld:%s\n", p,
                                (long long)x->ev[i].offset, x->ev[i].data);
    }
    if (strcmp(got, want)) {
        print_error("got:\n%swant:\n%s", got, want);
        fail();
    }
}

static int setup(void **state)
{
    struct fx *x = calloc(1, sizeof(*x));
    if (!x)
        return -1;
    snprintf(x->dir, sizeof(x->dir), "/tmp/ferry-tail-XXXXXX");
    if (!mkdtemp(x->dir)) {
        free(x);
        return -1;
    }
    snprintf(x->logs, sizeof(x->logs), "%s/logs", x->dir);
    snprintf(x->state, sizeof(x->state), "%s/state", x->dir);
    if (mkdir(x->logs, 0755) < 0) {
        rmdir(x->dir);
        free(x);
        return -1;
    }
    *state = x;
    return 0;
}

static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rm_tree(p);
        else
            unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static int teardown(void **state)
{
    struct fx *x = *state;
    if (x->src)
        tail()->close(x->src);
    ferry_config_destroy(x->cfg);
    rm_tree(x->dir);
    free(x);
    return 0;
}

/* Lines long enough that a file's first bytes (TAIL_FP_MIN, 64) tell it apart. */
#define L1 "line 1 of the first file, long enough to be told apart\n" /* 55 bytes */
#define L2 "line 2 of the first file, and more of it\n"               /* 41 bytes */

/* ---- while running ------------------------------------------------------------------------ */

/* logrotate's default: the file is renamed, the writer writes its last lines to it, then a
 * new file takes the name. The renamed file is read to its end, the new one from its start. */
static void rename_rotation(void **state)
{
    struct fx *x = *state;
    append(at(x, "app.log"), L1 L2);
    start(x, "*.log");
    pump(x, 2);
    assert_int_equal(rename(at(x, "app.log"), at(x, "app.log.1")), 0);
    append(at(x, "app.log.1"), "late line\n");
    append(at(x, "app.log"), "new file\n");
    pump(x, 4);
    /* the late line is the renamed file's, at its offset there, under the name the file was
     * last found by (app.log.1 is not under paths); the two files may come in either order */
    if (x->n == 4 && !strcmp(x->ev[2].data, "new file")) {
        struct ev t = x->ev[2];
        x->ev[2] = x->ev[3];
        x->ev[3] = t;
    }
    char want[1024];
    snprintf(want, sizeof(want),
             "app.log@0:%.*s\napp.log@55:%.*s\napp.log@96:late line\napp.log@0:new file\n", 54, L1,
             40, L2);
    expect(x, want);
}

/* copytruncate: the file is copied (the copy is under paths too here) and truncated in place;
 * the copy's lines were read from the original and are not read again, and what is written
 * after the truncation is read from offset 0. */
static void copytruncate(void **state)
{
    struct fx *x = *state;
    append(at(x, "app.log"), L1 L2);
    start(x, "app.log*");
    pump(x, 2);
    copy_file(at(x, "app.log"), at(x, "app.log.1"));
    rewrite(at(x, "app.log"), "");
    pump(x, 2);
    append(at(x, "app.log"), "after truncation\n");
    pump(x, 3);
    char want[1024];
    snprintf(want, sizeof(want), "app.log@0:%.*s\napp.log@55:%.*s\napp.log@0:after truncation\n",
             54, L1, 40, L2);
    expect(x, want);
}

/* A new file moved over the old name (another inode): read from its start; the old one was
 * read to its end before. */
static void file_replaced_by_another_inode(void **state)
{
    struct fx *x = *state;
    append(at(x, "app.log"), L1);
    start(x, "*.log");
    pump(x, 1);
    ino_t before = inode_of(at(x, "app.log"));
    append(at(x, "new.tmp"), "replacement 1\nreplacement 2\n");
    assert_int_equal(rename(at(x, "new.tmp"), at(x, "app.log")), 0);
    assert_true(inode_of(at(x, "app.log")) != before);
    pump(x, 3);
    char want[512];
    snprintf(want, sizeof(want),
             "app.log@0:%.*s\napp.log@0:replacement 1\napp.log@14:replacement 2\n", 54, L1);
    expect(x, want);
}

/* Truncated to less than was read: read again from 0. */
static void truncated_shorter(void **state)
{
    struct fx *x = *state;
    append(at(x, "app.log"), L1 L2);
    start(x, "*.log");
    pump(x, 2);
    rewrite(at(x, "app.log"), "short\n");
    pump(x, 3);
    char want[512];
    snprintf(want, sizeof(want), "app.log@0:%.*s\napp.log@55:%.*s\napp.log@0:short\n", 54, L1, 40,
             L2);
    expect(x, want);
}

/* Truncated and written again past the old size before the source looked: the size says
 * nothing, the first bytes do. The new content is read from 0, whole. */
static void truncated_and_longer_again(void **state)
{
    struct fx *x = *state;
    append(at(x, "app.log"), L1);
    start(x, "*.log");
    pump(x, 1);
    rewrite(at(x, "app.log"), "other content, first line, longer than the first file's line\n"
                              "other content, second line\n");
    pump(x, 3);
    char want[512];
    snprintf(want, sizeof(want),
             "app.log@0:%.*s\napp.log@0:other content, first line, longer than the first "
             "file's line\napp.log@61:other content, second line\n",
             54, L1);
    expect(x, want);
}

/* Symbolic links are followed, and a file reached by two names is one file, read once. */
static void symlinks_are_one_file(void **state)
{
    struct fx *x = *state;
    char target[160];
    snprintf(target, sizeof(target), "%s/real.txt", x->dir);
    append(target, "through a link\n");
    assert_int_equal(symlink(target, at(x, "a.log")), 0);
    assert_int_equal(symlink(target, at(x, "b.log")), 0);
    start(x, "*.log");
    pump(x, 1);
    assert_int_equal(x->n, 1);
    assert_string_equal(x->ev[0].data, "through a link");
    assert_int_equal(x->ev[0].offset, 0);
    append(target, "second\n");
    pump(x, 2);
    assert_int_equal(x->n, 2);
    assert_string_equal(x->ev[1].data, "second");
    assert_int_equal(x->ev[1].offset, 15);
    /* a dangling link is nothing to read, and no failure */
    assert_int_equal(symlink("/nonexistent/x", at(x, "c.log")), 0);
    pump(x, 3);
    assert_int_equal(x->n, 2);
}

/* ---- across a restart ----------------------------------------------------------------------- */

static void restart_resumes_where_it_stopped(void **state)
{
    struct fx *x = *state;
    append(at(x, "app.log"), L1);
    start(x, "*.log");
    pump(x, 1);
    stop(x);
    append(at(x, "app.log"), L2);
    start(x, "*.log");
    pump(x, 2);
    char want[512];
    snprintf(want, sizeof(want), "app.log@0:%.*s\napp.log@55:%.*s\n", 54, L1, 40, L2);
    expect(x, want);
}

/* The checkpoint's inode holds other first bytes now (deleted, and the inode given to a new
 * file; here: the same inode rewritten while stopped): a new file, read from 0, not from the
 * old offset. */
static void same_inode_other_content_is_a_new_file(void **state)
{
    struct fx *x = *state;
    append(at(x, "app.log"), L1 L2);
    start(x, "*.log");
    pump(x, 2);
    stop(x);
    ino_t ino = inode_of(at(x, "app.log"));
    rewrite(at(x, "app.log"), "a new file in the old inode, with a first line of its own and "
                              "more\nsecond line of the new one\n");
    assert_true(inode_of(at(x, "app.log")) == ino);
    start(x, "*.log");
    pump(x, 4);
    char want[512];
    snprintf(want, sizeof(want),
             "app.log@0:%.*s\napp.log@55:%.*s\napp.log@0:a new file in the old inode, with a "
             "first line of its own and more\napp.log@67:second line of the new one\n",
             54, L1, 40, L2);
    expect(x, want);
}

/* Renamed while stopped (same inode, same first bytes): resumed by inode under its new name. */
static void renamed_while_stopped_resumes(void **state)
{
    struct fx *x = *state;
    append(at(x, "app.log"), L1);
    start(x, "*.log");
    pump(x, 1);
    stop(x);
    assert_int_equal(rename(at(x, "app.log"), at(x, "moved.log")), 0);
    append(at(x, "moved.log"), L2);
    start(x, "*.log");
    pump(x, 2);
    char want[512];
    snprintf(want, sizeof(want), "app.log@0:%.*s\nmoved.log@55:%.*s\n", 54, L1, 40, L2);
    expect(x, want);
}

/* Copied to a new inode while stopped, the original gone: the same first bytes (at least 64)
 * resume it by content, at the checkpoint's offset. */
static void copied_while_stopped_resumes_by_content(void **state)
{
    struct fx *x = *state;
    append(at(x, "app.log"), L1 L2);
    start(x, "*.log");
    pump(x, 2);
    stop(x);
    copy_file(at(x, "app.log"), at(x, "copy.log"));
    unlink(at(x, "app.log"));
    append(at(x, "copy.log"), "after the copy\n");
    start(x, "*.log");
    pump(x, 3);
    char want[512];
    snprintf(want, sizeof(want), "app.log@0:%.*s\napp.log@55:%.*s\ncopy.log@96:after the copy\n",
             54, L1, 40, L2);
    expect(x, want);
}

/* Truncated while stopped, to fewer bytes than the checkpoint: read from 0. */
static void shorter_than_checkpoint_after_restart(void **state)
{
    struct fx *x = *state;
    append(at(x, "app.log"), L1 L2);
    start(x, "*.log");
    pump(x, 2);
    stop(x);
    rewrite(at(x, "app.log"), "");
    append(at(x, "app.log"), "x\n");
    start(x, "*.log");
    pump(x, 3);
    char want[512];
    snprintf(want, sizeof(want), "app.log@0:%.*s\napp.log@55:%.*s\napp.log@0:x\n", 54, L1, 40, L2);
    expect(x, want);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(rename_rotation),
        T(copytruncate),
        T(file_replaced_by_another_inode),
        T(truncated_shorter),
        T(truncated_and_longer_again),
        T(symlinks_are_one_file),
        T(restart_resumes_where_it_stopped),
        T(same_inode_other_content_is_a_new_file),
        T(renamed_while_stopped_resumes),
        T(copied_while_stopped_resumes_by_content),
        T(shorter_than_checkpoint_after_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
