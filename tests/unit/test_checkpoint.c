/* Unit tests for acknowledged watermarks and checkpoint files (agent/checkpoint.c). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "ferry/checkpoint.h"
#include "ferry/err.h"
#include "test_rng.h"

/* ---- watermarks ----------------------------------------------------------------------- */

static void push_ok(struct ferry_watermark *w, int64_t end, uint64_t want_seq)
{
    uint64_t seq = UINT64_MAX;
    assert_int_equal(ferry_watermark_push(w, end, &seq), 0);
    assert_int_equal(seq, want_seq);
}

static void watermark_starts_at_offset(void **state)
{
    struct ferry_watermark w;
    (void)state;

    assert_int_equal(ferry_watermark_init(&w, 4096, 64), 0);
    assert_int_equal(w.offset, 4096);
    assert_int_equal(ferry_watermark_in_flight(&w), 0);
    push_ok(&w, 4100, 0);
    push_ok(&w, 4200, 1);
    assert_int_equal(ferry_watermark_in_flight(&w), 2);
    assert_int_equal(w.offset, 4096); /* nothing acknowledged yet */
    ferry_watermark_release(&w);
    assert_null(w.ends);
    assert_null(w.acked);
}

static void watermark_in_order_acks(void **state)
{
    struct ferry_watermark w;
    (void)state;

    assert_int_equal(ferry_watermark_init(&w, 0, 16), 0);
    push_ok(&w, 10, 0);
    push_ok(&w, 25, 1);
    push_ok(&w, 27, 2);
    ferry_watermark_ack(&w, 0);
    assert_int_equal(w.offset, 10);
    assert_int_equal(ferry_watermark_in_flight(&w), 2);
    ferry_watermark_ack(&w, 1);
    assert_int_equal(w.offset, 25);
    ferry_watermark_ack(&w, 2);
    assert_int_equal(w.offset, 27);
    assert_int_equal(ferry_watermark_in_flight(&w), 0);
    ferry_watermark_release(&w);
}

static void watermark_stops_at_gap(void **state)
{
    struct ferry_watermark w;
    (void)state;

    assert_int_equal(ferry_watermark_init(&w, 100, 16), 0);
    for (uint64_t i = 0; i < 5; i++)
        push_ok(&w, 100 + 10 * (int64_t)(i + 1), i); /* ends 110, 120, 130, 140, 150 */

    ferry_watermark_ack(&w, 2);
    ferry_watermark_ack(&w, 4);
    assert_int_equal(w.offset, 100); /* event 0 is still out */
    assert_int_equal(ferry_watermark_in_flight(&w), 5);

    ferry_watermark_ack(&w, 0);
    assert_int_equal(w.offset, 110); /* event 1 is the gap now */
    assert_int_equal(ferry_watermark_in_flight(&w), 4);

    ferry_watermark_ack(&w, 3);
    assert_int_equal(w.offset, 110);

    ferry_watermark_ack(&w, 1); /* fills the gap: 1, 2, 3 and 4 are contiguous */
    assert_int_equal(w.offset, 150);
    assert_int_equal(ferry_watermark_in_flight(&w), 0);
    ferry_watermark_release(&w);
}

static void watermark_full(void **state)
{
    struct ferry_watermark w;
    uint64_t seq = 777;
    (void)state;

    assert_int_equal(ferry_watermark_init(&w, 0, 4), 0);
    for (uint64_t i = 0; i < 4; i++)
        push_ok(&w, (int64_t)(i + 1) * 100, i);
    assert_int_equal(ferry_watermark_push(&w, 500, &seq), FERRY_ERR_AGAIN);
    /* nothing changed */
    assert_int_equal(seq, 777);
    assert_int_equal(ferry_watermark_in_flight(&w), 4);
    assert_int_equal(w.next_seq, 4);

    ferry_watermark_ack(&w, 1); /* not the oldest: still no room */
    assert_int_equal(ferry_watermark_push(&w, 500, &seq), FERRY_ERR_AGAIN);
    ferry_watermark_ack(&w, 0);
    assert_int_equal(w.offset, 200);
    push_ok(&w, 500, 4);
    push_ok(&w, 600, 5);
    assert_int_equal(ferry_watermark_push(&w, 700, &seq), FERRY_ERR_AGAIN);
    for (uint64_t i = 2; i < 6; i++)
        ferry_watermark_ack(&w, i);
    assert_int_equal(w.offset, 600);
    ferry_watermark_release(&w);
}

static void watermark_ignores_unknown_and_old_acks(void **state)
{
    struct ferry_watermark w;
    (void)state;

    assert_int_equal(ferry_watermark_init(&w, 0, 4), 0);
    ferry_watermark_ack(&w, 0); /* never pushed */
    assert_int_equal(w.offset, 0);
    assert_int_equal(w.done_seq, 0);

    push_ok(&w, 10, 0);
    push_ok(&w, 20, 1);
    ferry_watermark_ack(&w, 2); /* not pushed yet */
    ferry_watermark_ack(&w, 1000);
    ferry_watermark_ack(&w, UINT64_MAX);
    assert_int_equal(w.offset, 0);
    assert_int_equal(ferry_watermark_in_flight(&w), 2);

    push_ok(&w, 30, 2); /* a stale ack for seq 2 must not have marked it */
    ferry_watermark_ack(&w, 0);
    ferry_watermark_ack(&w, 1);
    assert_int_equal(w.offset, 20);
    assert_int_equal(ferry_watermark_in_flight(&w), 1);

    /* seq 3, 4, 5 reuse the ring slots of 0 and 1; acks of the old 0 and 1 are ignored */
    push_ok(&w, 40, 3);
    push_ok(&w, 50, 4);
    push_ok(&w, 60, 5);
    ferry_watermark_ack(&w, 0);
    ferry_watermark_ack(&w, 1);
    ferry_watermark_ack(&w, 1);
    ferry_watermark_ack(&w, 2);
    assert_int_equal(w.offset, 30);
    assert_int_equal(ferry_watermark_in_flight(&w), 3);

    ferry_watermark_ack(&w, 4);
    ferry_watermark_ack(&w, 4); /* twice: no effect */
    assert_int_equal(w.offset, 30);
    ferry_watermark_ack(&w, 3);
    assert_int_equal(w.offset, 50);
    ferry_watermark_ack(&w, 5);
    assert_int_equal(w.offset, 60);
    assert_int_equal(ferry_watermark_in_flight(&w), 0);
    ferry_watermark_release(&w);
}

static void watermark_grows_up_to_max(void **state)
{
    struct ferry_watermark w;
    uint64_t seq;
    (void)state;

    assert_int_equal(ferry_watermark_init(&w, 0, 2048), 0);
    /* events 0..299 end at 1..300; ack 1..299 before the ring has to grow */
    for (uint64_t i = 0; i < 300; i++)
        push_ok(&w, (int64_t)i + 1, i);
    for (uint64_t i = 1; i < 300; i++)
        ferry_watermark_ack(&w, i);
    assert_int_equal(w.offset, 0);
    /* more events than a small ring holds; the acks above must survive the growth */
    for (uint64_t i = 300; i < 2048; i++)
        push_ok(&w, (int64_t)i + 1, i);
    assert_int_equal(ferry_watermark_in_flight(&w), 2048);
    assert_int_equal(ferry_watermark_push(&w, 5000, &seq), FERRY_ERR_AGAIN);
    assert_int_equal(w.offset, 0);

    ferry_watermark_ack(&w, 0);
    assert_int_equal(w.offset, 300);
    for (uint64_t i = 2047; i >= 300; i--)
        ferry_watermark_ack(&w, i);
    assert_int_equal(w.offset, 2048);
    assert_int_equal(ferry_watermark_in_flight(&w), 0);
    ferry_watermark_release(&w);
}

static void watermark_grows_while_wrapped(void **state)
{
    struct ferry_watermark w;
    (void)state;

    assert_int_equal(ferry_watermark_init(&w, 0, 1024), 0);
    /* move the ring's start away from slot 0 */
    for (uint64_t i = 0; i < 200; i++) {
        push_ok(&w, (int64_t)i + 1, i);
        ferry_watermark_ack(&w, i);
    }
    assert_int_equal(w.offset, 200);
    /* 600 in flight: wraps around any ring smaller than that, then forces growth */
    for (uint64_t i = 200; i < 800; i++)
        push_ok(&w, (int64_t)i + 1, i);
    /* every odd one first: the watermark may not move */
    for (uint64_t i = 201; i < 800; i += 2)
        ferry_watermark_ack(&w, i);
    assert_int_equal(w.offset, 200);
    /* then the even ones in order: each fills a gap of one */
    for (uint64_t i = 200; i < 800; i += 2) {
        ferry_watermark_ack(&w, i);
        assert_int_equal(w.offset, (int64_t)i + 2);
    }
    assert_int_equal(ferry_watermark_in_flight(&w), 0);
    ferry_watermark_release(&w);
}

/* The watermark against a model: a flag per event and the end of the contiguous prefix. */
static void watermark_random_against_model(void **state)
{
    enum { N = 10000 };
    static int64_t ends[N];
    static uint64_t order[N];
    static unsigned char acked[N];
    struct ferry_watermark w;
    (void)state;

    rng_seed(0x5eed0001);
    assert_int_equal(ferry_watermark_init(&w, 1000, 16384), 0);
    int64_t end = 1000;
    for (uint64_t i = 0; i < N; i++) {
        end += 1 + (int64_t)rng_below(300); /* a line of 1 to 300 bytes */
        ends[i] = end;
        push_ok(&w, end, i);
        order[i] = i;
        acked[i] = 0;
    }
    for (size_t i = N - 1; i > 0; i--) { /* Fisher-Yates */
        size_t j = rng_below(i + 1);
        uint64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    size_t prefix = 0, stalls = 0;
    for (size_t k = 0; k < N; k++) {
        acked[order[k]] = 1;
        ferry_watermark_ack(&w, order[k]);
        while (prefix < N && acked[prefix])
            prefix++;
        int64_t want = prefix ? ends[prefix - 1] : 1000;
        assert_int_equal(w.offset, want);
        assert_int_equal(ferry_watermark_in_flight(&w), N - prefix);
        stalls += prefix < k + 1;
    }
    assert_true(stalls > 0); /* the order really had gaps */
    assert_int_equal(w.offset, ends[N - 1]);
    ferry_watermark_release(&w);
}

/* Pushes and acks interleaved at random with a small limit: the ring wraps many times and
 * pushes meet FERRY_ERR_AGAIN; the model decides when that must happen. */
static void watermark_random_interleaved(void **state)
{
    enum { N = 20000, MAX = 64 };
    static int64_t ends[N];
    static unsigned char acked[N];
    struct ferry_watermark w;
    size_t pushed = 0, prefix = 0, agains = 0;
    (void)state;

    rng_seed(0x5eed0002);
    memset(acked, 0, sizeof(acked));
    assert_int_equal(ferry_watermark_init(&w, 0, MAX), 0);
    while (prefix < N) {
        size_t in_flight = pushed - prefix;
        if (pushed < N && rng_below(100) < 55) {
            uint64_t seq = UINT64_MAX;
            int64_t end = (pushed ? ends[pushed - 1] : 0) + 1 + (int64_t)rng_below(80);
            int rc = ferry_watermark_push(&w, end, &seq);
            if (in_flight == MAX) {
                assert_int_equal(rc, FERRY_ERR_AGAIN);
                agains++;
            } else {
                assert_int_equal(rc, 0);
                assert_int_equal(seq, pushed);
                ends[pushed++] = end;
            }
        } else if (in_flight > 0) {
            size_t seq = prefix + rng_below(in_flight);
            acked[seq] = 1;
            ferry_watermark_ack(&w, seq);
        } else {
            ferry_watermark_ack(&w, pushed + rng_below(10)); /* never pushed: ignored */
        }
        while (prefix < pushed && acked[prefix])
            prefix++;
        assert_int_equal(w.offset, prefix ? ends[prefix - 1] : 0);
        assert_int_equal(ferry_watermark_in_flight(&w), pushed - prefix);
    }
    assert_true(agains > 0);
    ferry_watermark_release(&w);
}

/* ---- checkpoint files ----------------------------------------------------------------- */

struct tmpdir {
    char dir[64];
    char file[128];
};

static int setup_dir(void **state)
{
    struct tmpdir *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    snprintf(t->dir, sizeof(t->dir), "/tmp/ferry-checkpoint-XXXXXX");
    if (!mkdtemp(t->dir)) {
        free(t);
        return -1;
    }
    snprintf(t->file, sizeof(t->file), "%s/web.checkpoint", t->dir);
    *state = t;
    return 0;
}

/* Removes the directory and whatever a test left in it (no subdirectories but "*.tmp"). */
static int teardown_dir(void **state)
{
    struct tmpdir *t = *state;
    DIR *d = opendir(t->dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof(p), "%s/%s", t->dir, e->d_name);
        if (unlink(p) < 0)
            rmdir(p);
    }
    if (d)
        closedir(d);
    rmdir(t->dir);
    free(t);
    return 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Names in dir, sorted and joined by spaces. */
static void list_dir(const char *dir, char *out, size_t len)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    assert_true(n >= 0);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..")) {
            size_t l = strlen(out);
            int w = snprintf(out + l, len - l, "%s%s", l ? " " : "", names[i]->d_name);
            assert_true(w >= 0 && (size_t)w < len - l);
        }
        free(names[i]);
    }
    free(names);
}

/* A path that is not UTF-8 cannot be a JSON string: its odd bytes become '?', and the entry,
 * identified by device, inode and fingerprint, is kept. */
static void checkpoint_path_not_utf8(void **state)
{
    struct tmpdir *t = *state;
    struct ferry_checkpoint_entry e[2] = {
        {"/var/log/caf\xe9.log", 1, 2, 300, 0, 0},
        {"/var/log/ok-\xc3\xa9.log", 1, 3, 400, 0, 0},
    };
    struct ferry_checkpoint cp = {e, 2}, back;
    char err[512] = "";

    assert_int_equal(ferry_checkpoint_write(t->file, &cp, err, sizeof(err)), 0);
    assert_int_equal(ferry_checkpoint_read(t->file, &back, err, sizeof(err)), 0);
    assert_int_equal(back.n, 2);
    assert_string_equal(back.v[0].path, "/var/log/caf?.log");
    assert_int_equal(back.v[0].ino, 2);
    assert_int_equal(back.v[0].offset, 300);
    assert_string_equal(back.v[1].path, "/var/log/ok-\xc3\xa9.log");
    assert_int_equal(back.v[1].offset, 400);
    ferry_checkpoint_release(&back);
}

static void checkpoint_round_trip(void **state)
{
    struct tmpdir *t = *state;
    struct ferry_checkpoint_entry e[3] = {
        {"/var/log/nginx/access.log", 2049, 131074, 0, 0xcbf29ce484222325ull, 1024},
        {"/var/log/with space/app.log", 64769, 1ULL << 40, 123456789012345, 0xffffffffffffffffull,
         64},
        {"/var/log/\"quoted\"\\back.log", 0, 1, 7, 0, 0},
    };
    struct ferry_checkpoint cp = {e, 3}, back;
    char err[512] = "";

    assert_int_equal(ferry_checkpoint_write(t->file, &cp, err, sizeof(err)), 0);
    assert_int_equal(ferry_checkpoint_read(t->file, &back, err, sizeof(err)), 0);
    assert_int_equal(back.n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(back.v[i].path, e[i].path);
        assert_int_equal(back.v[i].dev, e[i].dev);
        assert_int_equal(back.v[i].ino, e[i].ino);
        assert_int_equal(back.v[i].offset, e[i].offset);
        assert_int_equal(back.v[i].fp, e[i].fp);
        assert_int_equal(back.v[i].fp_len, e[i].fp_len);
    }
    ferry_checkpoint_release(&back);
    assert_int_equal(back.n, 0);
    assert_null(back.v);

    /* a second write replaces the first */
    e[0].offset = 4096;
    cp.n = 1;
    assert_int_equal(ferry_checkpoint_write(t->file, &cp, err, sizeof(err)), 0);
    assert_int_equal(ferry_checkpoint_read(t->file, &back, err, sizeof(err)), 0);
    assert_int_equal(back.n, 1);
    assert_string_equal(back.v[0].path, "/var/log/nginx/access.log");
    assert_int_equal(back.v[0].offset, 4096);
    ferry_checkpoint_release(&back);

    /* and an empty checkpoint is a valid one */
    cp.n = 0;
    assert_int_equal(ferry_checkpoint_write(t->file, &cp, err, sizeof(err)), 0);
    assert_int_equal(ferry_checkpoint_read(t->file, &back, err, sizeof(err)), 0);
    assert_int_equal(back.n, 0);
    ferry_checkpoint_release(&back);
}

static void checkpoint_missing_file_is_empty(void **state)
{
    struct tmpdir *t = *state;
    struct ferry_checkpoint cp;
    char err[256] = "untouched";

    memset(&cp, 0xa5, sizeof(cp));
    assert_int_equal(ferry_checkpoint_read(t->file, &cp, err, sizeof(err)), 0);
    assert_int_equal(cp.n, 0);
    assert_null(cp.v);
    ferry_checkpoint_release(&cp);
}

static void checkpoint_corrupt_json(void **state)
{
    struct tmpdir *t = *state;
    struct ferry_checkpoint cp;
    char err[512] = "", want[256];

    write_text(t->file, "{\n"
                        "  \"version\": 1,\n"
                        "  \"files\": [{\"path\": \"/a\", \"dev\": 1,, \"ino\": 2}]\n"
                        "}\n");
    assert_int_equal(ferry_checkpoint_read(t->file, &cp, err, sizeof(err)), FERRY_ERR_INVALID);
    assert_int_equal(cp.n, 0);
    /* names the file and the line of the problem */
    snprintf(want, sizeof(want), "checkpoint %s:3:", t->file);
    assert_memory_equal(err, want, strlen(want));
    assert_true(strlen(err) > strlen(want) + 4);

    /* a file cut short, as by a crash while it was being written in place */
    write_text(t->file, "{\"version\": 1, \"files\": [{\"path\": \"/a\", \"de");
    err[0] = '\0';
    assert_int_equal(ferry_checkpoint_read(t->file, &cp, err, sizeof(err)), FERRY_ERR_INVALID);
    snprintf(want, sizeof(want), "checkpoint %s:1:", t->file);
    assert_memory_equal(err, want, strlen(want));

    write_text(t->file, "");
    err[0] = '\0';
    assert_int_equal(ferry_checkpoint_read(t->file, &cp, err, sizeof(err)), FERRY_ERR_INVALID);
    snprintf(want, sizeof(want), "checkpoint %s:", t->file);
    assert_memory_equal(err, want, strlen(want));
}

static void checkpoint_wrong_shape(void **state)
{
    struct tmpdir *t = *state;
    struct ferry_checkpoint cp;
    char err[512], want[512];

    write_text(t->file, "{\"version\": 1, \"entries\": []}\n");
    assert_int_equal(ferry_checkpoint_read(t->file, &cp, err, sizeof(err)), FERRY_ERR_INVALID);
    snprintf(want, sizeof(want), "checkpoint %s: no 'files' array", t->file);
    assert_string_equal(err, want);

    write_text(t->file, "[1, 2]\n");
    assert_int_equal(ferry_checkpoint_read(t->file, &cp, err, sizeof(err)), FERRY_ERR_INVALID);
    assert_string_equal(err, want);

    write_text(t->file, "{\"files\": {\"path\": \"/a\"}}\n");
    assert_int_equal(ferry_checkpoint_read(t->file, &cp, err, sizeof(err)), FERRY_ERR_INVALID);
    assert_string_equal(err, want);

    static const char *const incomplete[] = {
        /* entry 1 lacks its offset */
        "{\"files\": [{\"path\": \"/a\", \"dev\": 1, \"ino\": 2, \"offset\": 3},"
        " {\"path\": \"/b\", \"dev\": 1, \"ino\": 2}]}",
        /* entry 1's offset is negative */
        "{\"files\": [{\"path\": \"/a\", \"dev\": 1, \"ino\": 2, \"offset\": 3},"
        " {\"path\": \"/b\", \"dev\": 1, \"ino\": 2, \"offset\": -1}]}",
        /* entry 1's path is not a string */
        "{\"files\": [{\"path\": \"/a\", \"dev\": 1, \"ino\": 2, \"offset\": 3},"
        " {\"path\": 5, \"dev\": 1, \"ino\": 2, \"offset\": 3}]}",
        /* entry 1's inode is a string */
        "{\"files\": [{\"path\": \"/a\", \"dev\": 1, \"ino\": 2, \"offset\": 3},"
        " {\"path\": \"/b\", \"dev\": 1, \"ino\": \"2\", \"offset\": 3}]}",
        /* entry 1 is not an object */
        "{\"files\": [{\"path\": \"/a\", \"dev\": 1, \"ino\": 2, \"offset\": 3}, 17]}",
    };
    snprintf(want, sizeof(want), "checkpoint %s: entry 1 is incomplete", t->file);
    for (size_t i = 0; i < sizeof(incomplete) / sizeof(incomplete[0]); i++) {
        write_text(t->file, incomplete[i]);
        memset(&cp, 0, sizeof(cp));
        assert_int_equal(ferry_checkpoint_read(t->file, &cp, err, sizeof(err)), FERRY_ERR_INVALID);
        assert_string_equal(err, want);
        /* nothing half-read is handed back */
        assert_int_equal(cp.n, 0);
        assert_null(cp.v);
    }
}

static void checkpoint_write_leaves_no_temp_file(void **state)
{
    struct tmpdir *t = *state;
    struct ferry_checkpoint_entry e = {"/var/log/a.log", 1, 2, 3, 0, 0};
    struct ferry_checkpoint cp = {&e, 1};
    char err[512] = "", names[256];
    struct stat st;

    for (int i = 0; i < 3; i++) {
        e.offset = 1000 * i;
        assert_int_equal(ferry_checkpoint_write(t->file, &cp, err, sizeof(err)), 0);
        list_dir(t->dir, names, sizeof(names));
        assert_string_equal(names, "web.checkpoint");
    }
    assert_int_equal(stat(t->file, &st), 0);
    assert_true(S_ISREG(st.st_mode));
}

static void checkpoint_failed_write_keeps_previous(void **state)
{
    struct tmpdir *t = *state;
    struct ferry_checkpoint_entry e = {"/var/log/a.log", 1, 2, 1111, 0, 0};
    struct ferry_checkpoint cp = {&e, 1}, back;
    char err[512] = "", tmp[256], want[512];

    assert_int_equal(ferry_checkpoint_write(t->file, &cp, err, sizeof(err)), 0);
    /* the temporary file's name is taken by a directory: the write cannot happen */
    snprintf(tmp, sizeof(tmp), "%s.tmp", t->file);
    assert_int_equal(mkdir(tmp, 0755), 0);
    e.offset = 2222;
    assert_int_equal(ferry_checkpoint_write(t->file, &cp, err, sizeof(err)), FERRY_ERR_IO);
    snprintf(want, sizeof(want), "checkpoint %s: ", tmp);
    assert_memory_equal(err, want, strlen(want));
    assert_int_equal(rmdir(tmp), 0);

    assert_int_equal(ferry_checkpoint_read(t->file, &back, err, sizeof(err)), 0);
    assert_int_equal(back.n, 1);
    assert_int_equal(back.v[0].offset, 1111);
    ferry_checkpoint_release(&back);
}

static void checkpoint_failed_rename_removes_temp_file(void **state)
{
    struct tmpdir *t = *state;
    struct ferry_checkpoint_entry e = {"/var/log/a.log", 1, 2, 3, 0, 0};
    struct ferry_checkpoint cp = {&e, 1};
    char err[512] = "", want[512], inner[256], names[256];

    /* the checkpoint's name is taken by a non-empty directory: rename(2) fails */
    assert_int_equal(mkdir(t->file, 0755), 0);
    snprintf(inner, sizeof(inner), "%s/keep", t->file);
    write_text(inner, "x");
    assert_int_equal(ferry_checkpoint_write(t->file, &cp, err, sizeof(err)), FERRY_ERR_IO);
    snprintf(want, sizeof(want), "checkpoint %s: rename: ", t->file);
    assert_memory_equal(err, want, strlen(want));
    list_dir(t->dir, names, sizeof(names));
    assert_string_equal(names, "web.checkpoint");
    assert_int_equal(unlink(inner), 0);
}

static void checkpoint_write_into_missing_directory(void **state)
{
    struct tmpdir *t = *state;
    struct ferry_checkpoint_entry e = {"/var/log/a.log", 1, 2, 3, 0, 0};
    struct ferry_checkpoint cp = {&e, 1};
    char file[256], err[512] = "", want[512];

    snprintf(file, sizeof(file), "%s/absent/web.checkpoint", t->dir);
    assert_int_equal(ferry_checkpoint_write(file, &cp, err, sizeof(err)), FERRY_ERR_IO);
    snprintf(want, sizeof(want), "checkpoint %s.tmp: No such file or directory", file);
    assert_string_equal(err, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(watermark_starts_at_offset),
        cmocka_unit_test(watermark_in_order_acks),
        cmocka_unit_test(watermark_stops_at_gap),
        cmocka_unit_test(watermark_full),
        cmocka_unit_test(watermark_ignores_unknown_and_old_acks),
        cmocka_unit_test(watermark_grows_up_to_max),
        cmocka_unit_test(watermark_grows_while_wrapped),
        cmocka_unit_test(watermark_random_against_model),
        cmocka_unit_test(watermark_random_interleaved),
        cmocka_unit_test_setup_teardown(checkpoint_round_trip, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(checkpoint_path_not_utf8, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(checkpoint_missing_file_is_empty, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(checkpoint_corrupt_json, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(checkpoint_wrong_shape, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(checkpoint_write_leaves_no_temp_file, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(checkpoint_failed_write_keeps_previous, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(checkpoint_failed_rename_removes_temp_file, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(checkpoint_write_into_missing_directory, setup_dir,
                                        teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
