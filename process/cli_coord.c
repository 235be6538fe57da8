/* ferry: the commands that talk to the coordination service: what they share, and config
 * push|get|watch (status is in cli_status.c).
 *
 * Each command resolves the service from --coord and/or -c FILE (the file's coordination
 * section), opens one session, does its work and closes the session again. Nothing here
 * exits: every command returns its exit code to main(). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli_internal.h"
#include "ferry/cli.h"
#include "ferry/config.h"
#include "ferry/coord.h"
#include "ferry/err.h"
#include "ferry/log.h"

#define WATCH_POLL_MS 5000

static const char config_usage[] =
    "usage: ferry config push -c FILE [--coord URL]\n"
    "       ferry config get [--coord URL | -c FILE]\n"
    "       ferry config watch [--coord URL | -c FILE]\n"
    "\n"
    "  push    validate FILE and store its bytes, as they are, at PREFIX/config\n"
    "  get     print the stored document exactly as it was pushed\n"
    "  watch   print the stored document, then again at every change, until SIGINT/SIGTERM\n"
    "\n"
    "options:\n"
    "  --coord URL          etcd://HOST:PORT[,HOST:PORT…]/PREFIX or zk://HOST:PORT[,…]/PREFIX\n"
    "  -c, --config FILE    configuration file; without --coord its coordination section\n"
    "                       names the service (with --coord it still gives the credentials)\n"
    "  -l, --log-level L    error, warn (default), info or debug\n"
    "  -h, --help           this text\n";

/* ---- what every command shares ---------------------------------------------------------- */

/* Parses --coord and -c. Returns -1 to go on, or the exit code (0 after -h, 2 on misuse). */
int ferry_cli_parse(struct ferry_cli *cli, int argc, char **argv, const char *usage)
{
    static const struct option opts[] = {
        {"coord", required_argument, NULL, 'C'},
        {"config", required_argument, NULL, 'c'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    enum ferry_log_level level = FERRY_LOG_WARN; /* the output says what happened */
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:l:h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            if (ferry_log_parse_level(optarg, &level) < 0) {
                fprintf(stderr, "%s: unknown log level '%s'\n", cli->cmd, optarg);
                return 2;
            }
            break;
        case 'C':
            cli->url = optarg;
            break;
        case 'c':
            cli->file = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", cli->cmd, argv[optind]);
        return 2;
    }
    if (!cli->url && !cli->file) {
        fprintf(stderr, "%s: give --coord URL or -c FILE\n", cli->cmd);
        return 2;
    }
    ferry_log_set_level(level);
    return -1;
}

/* Loads -c FILE, printing every diagnostic as file:line:column: message. 0 or exit code 2. */
int ferry_cli_load(struct ferry_cli *cli)
{
    int rc;

    if (!cli->file)
        return 0;
    rc = ferry_config_load_report(cli->file, &cli->cfg, stderr);
    return rc < 0 ? 2 : 0;
}

/* Resolves the service and opens a session. 0, 2 when nothing names a service, 1 when it
 * cannot be reached. */
int ferry_cli_open(struct ferry_cli *cli)
{
    char err[1024];
    if (ferry_coord_connect(cli->url, cli->cfg ? &cli->cfg->coordination : NULL, &cli->opts,
                            &cli->have_opts, &cli->coord, cli->where, sizeof(cli->where), err,
                            sizeof(err)) == 0)
        return 0;
    fprintf(stderr, "%s: %s\n", cli->cmd, err);
    return cli->have_opts ? 1 : 2;
}

void ferry_cli_release(struct ferry_cli *cli)
{
    ferry_coord_close(cli->coord);
    if (cli->have_opts)
        ferry_coord_options_release(&cli->opts);
    ferry_config_destroy(cli->cfg);
}

/* Reads the whole file at path into *buf (malloc'd, NUL-terminated). */
static int read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *b = NULL;
    size_t n = 0, cap = 0;

    if (!f)
        return ferry_seterr(err, errlen, FERRY_ERR_IO, "%s: cannot open: %s", path,
                            strerror(errno));
    for (;;) {
        if (cap - n < 4096) {
            char *nb = realloc(b, cap = cap ? cap * 2 : 65536);
            if (!nb) {
                free(b);
                fclose(f);
                return ferry_seterr(err, errlen, FERRY_ERR_NOMEM, "%s: out of memory", path);
            }
            b = nb;
        }
        size_t got = fread(b + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(b);
        fclose(f);
        return ferry_seterr(err, errlen, FERRY_ERR_IO, "%s: read: %s", path, strerror(errno));
    }
    fclose(f);
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

/* ---- config push | get | watch ---------------------------------------------------------- */

static int cmd_push(struct ferry_cli *cli)
{
    char err[1024], *text = NULL;
    size_t len = 0;
    int64_t version = 0;
    int rc;

    if (!cli->file) {
        fprintf(stderr, "%s: -c FILE is required\n", cli->cmd);
        return 2;
    }
    if ((rc = ferry_cli_load(cli)) != 0)
        return rc; /* a file that does not validate is never stored */
    if (read_file(cli->file, &text, &len, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s: %s\n", cli->cmd, err);
        return 1;
    }
    if ((rc = ferry_cli_open(cli)) != 0)
        goto out;
    if (ferry_coord_put(cli->coord, FERRY_CLI_CONFIG_KEY, text, len, &version, err, sizeof(err)) <
        0) {
        fprintf(stderr, "%s: %s\n", cli->cmd, err);
        rc = 1;
        goto out;
    }
    printf("pushed %s to %s/%s (version %" PRId64 ")\n", cli->file, cli->where,
           FERRY_CLI_CONFIG_KEY, version);
out:
    free(text);
    return rc;
}

static int cmd_get(struct ferry_cli *cli)
{
    char err[1024], *value = NULL;
    size_t len = 0;
    int64_t version = 0;
    int rc;

    if ((rc = ferry_cli_load(cli)) != 0 || (rc = ferry_cli_open(cli)) != 0)
        return rc;
    rc =
        ferry_coord_get(cli->coord, FERRY_CLI_CONFIG_KEY, &value, &len, &version, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", cli->cmd, err);
        return 1;
    }
    if (rc == 1) {
        fprintf(stderr, "%s: no configuration at %s/%s\n", cli->cmd, cli->where,
                FERRY_CLI_CONFIG_KEY);
        return 1;
    }
    rc = fwrite(value, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : 1;
    if (rc)
        fprintf(stderr, "%s: stdout: %s\n", cli->cmd, strerror(errno));
    free(value);
    return rc;
}

/* Set from the SIGINT/SIGTERM handler; ferry_coord_watch looks at it every 200 ms. */
static volatile sig_atomic_t watch_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    watch_stop = 1;
}

static void sleep_ms(long ms)
{
    for (; ms > 0 && !watch_stop; ms -= 100)
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000000L}, NULL);
}

/* One version as `watch` shows it: a comment line, then the document (ending in a newline, so
 * that the next comment starts a line of its own). */
static int print_version(const struct ferry_cli *cli, const char *value, size_t len,
                         int64_t version)
{
    if (!value) {
        printf("# %s/%s deleted\n", cli->where, FERRY_CLI_CONFIG_KEY);
    } else {
        printf("# %s/%s version %" PRId64 "\n", cli->where, FERRY_CLI_CONFIG_KEY, version);
        fwrite(value, 1, len, stdout);
        if (len > 0 && value[len - 1] != '\n')
            putchar('\n');
    }
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : -1;
}

static int cmd_watch(struct ferry_cli *cli)
{
    struct sigaction sa = {.sa_handler = on_stop_signal}; /* no SA_RESTART */
    char err[1024], *value = NULL;
    size_t len = 0;
    int64_t version = 0, seen;
    int rc;

    if ((rc = ferry_cli_load(cli)) != 0 || (rc = ferry_cli_open(cli)) != 0)
        return rc;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rc =
        ferry_coord_get(cli->coord, FERRY_CLI_CONFIG_KEY, &value, &len, &version, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", cli->cmd, err);
        return 1;
    }
    if (rc == 0 && print_version(cli, value, len, version) < 0)
        goto stdout_failed;
    free(value);
    seen = rc == 0 ? version : 0;
    while (!watch_stop) {
        value = NULL;
        rc = ferry_coord_watch(cli->coord, FERRY_CLI_CONFIG_KEY, seen, WATCH_POLL_MS, &watch_stop,
                               &value, &len, &version, err, sizeof(err));
        if (rc == FERRY_ERR_RETRY) {
            fprintf(stderr, "%s: %s (retrying)\n", cli->cmd, err);
            sleep_ms(1000);
            continue;
        }
        if (rc < 0) {
            fprintf(stderr, "%s: %s\n", cli->cmd, err);
            return 1;
        }
        if (rc == 1)
            continue; /* timeout, or a signal: the loop's condition tells */
        if (print_version(cli, value, len, version) < 0)
            goto stdout_failed;
        free(value);
        seen = version;
    }
    return 0;
stdout_failed:
    free(value);
    return 1; /* stdout closed (a pipe's reader gone): nothing left to do */
}

int ferry_cmd_config(int argc, char **argv)
{
    struct ferry_cli cli = {0};
    int rc;

    if (argc < 2) {
        fputs(config_usage, stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "-h") || !strcmp(sub, "--help") || !strcmp(sub, "help")) {
        fputs(config_usage, stdout);
        return 0;
    }
    if (strcmp(sub, "push") && strcmp(sub, "get") && strcmp(sub, "watch")) {
        fprintf(stderr, "ferry config: unknown command '%s'\n", sub);
        fputs(config_usage, stderr);
        return 2;
    }
    cli.cmd = !strcmp(sub, "push")  ? "ferry config push"
              : !strcmp(sub, "get") ? "ferry config get"
                                    : "ferry config watch";
    if ((rc = ferry_cli_parse(&cli, argc - 1, argv + 1, config_usage)) >= 0)
        return rc;
    if (!strcmp(sub, "push"))
        rc = cmd_push(&cli);
    else if (!strcmp(sub, "get"))
        rc = cmd_get(&cli);
    else
        rc = cmd_watch(&cli);
    ferry_cli_release(&cli);
    return rc;
}
