/* ferry: the command line. Only this file chooses exit codes:
 * 0 success, 1 runtime failure, 2 usage or configuration error. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry/agent.h"
#include "ferry/cli.h"
#include "ferry/config.h"
#include "ferry/err.h"
#include "ferry/kafka.h"
#include "ferry/log.h"
#include "ferry/mock.h"
#include "ferry/runtime.h"
#include "ferry/version.h"

static const char usage_text[] =
    "usage: ferry [--version] [--help] COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  agent -c FILE        tail the configured sources and produce every line to Kafka\n"
    "  sink -c FILE         run the configured sink workers (Kafka -> MySQL / Redis)\n"
    "  run -c FILE          agent and sinks in one process (single node, demos)\n"
    "                       agent, sink and run take --coord URL (etcd://HOST:PORT/PREFIX or\n"
    "                       zk://HOST:PORT/PREFIX) to load the configuration from there and\n"
    "                       follow its changes; SIGHUP reloads the configuration\n"
    "  check -c FILE        validate FILE; print 'ok' or every error as file:line:column\n"
    "  mock-kafka --brokers N --topic NAME:PARTITIONS [--topic ...] [--bootstrap-file F]\n"
    "                       run an in-memory Kafka cluster (librdkafka's mock) until SIGTERM;\n"
    "                       SIGUSR1 takes every broker down, SIGUSR2 brings them back\n"
    "  config reference     print every configuration key as Markdown\n"
    "  config push -c FILE [--coord URL]\n"
    "                       validate FILE and store it in etcd or ZooKeeper\n"
    "  config get|watch [--coord URL | -c FILE]\n"
    "                       print the stored configuration (watch: again at every change)\n"
    "  status [--coord URL | -c FILE]\n"
    "                       members, the leader and its token, per-partition consumer lag\n"
    "\n"
    "options:\n"
    "  -c, --config FILE    configuration file\n"
    "      --coord URL      the coordination service and prefix\n"
    "  -l, --log-level L    error, warn, info (default) or debug\n";

static int usage(FILE *f, int code)
{
    fputs(usage_text, f);
    return code;
}

/* ---- check, mock-kafka, config -------------------------------------------------------- */

static int cmd_check(const char *path)
{
    struct ferry_config *cfg = NULL;
    if (ferry_config_load_report(path, &cfg, stderr) < 0)
        return 2;
    printf("ok\n");
    ferry_config_destroy(cfg);
    return 0;
}

struct mock_options {
    int brokers;
    char *topics[256]; /* NAME:PARTITIONS, in argv */
    int ntopics;
    const char *file; /* --bootstrap-file */
};

/* -1 to go on, or the exit code (0 after --help, 2 on misuse). */
static int mock_parse(int argc, char **argv, struct mock_options *mo)
{
    static const struct option opts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"bootstrap-file", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "b:t:f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'b': {
            char *end;
            long v = strtol(optarg, &end, 10);
            mo->brokers = *optarg && !*end && v >= 1 && v <= 16 ? (int)v : 0;
            break;
        }
        case 't':
            if (mo->ntopics == 256) {
                fprintf(stderr, "ferry mock-kafka: at most 256 --topic\n");
                return 2;
            }
            mo->topics[mo->ntopics++] = optarg;
            break;
        case 'f':
            mo->file = optarg;
            break;
        default:
            return usage(c == 'h' ? stdout : stderr, c == 'h' ? 0 : 2);
        }
    }
    if (mo->brokers < 1 || mo->brokers > 16) {
        fprintf(stderr, "ferry mock-kafka: --brokers must be a number from 1 to 16\n");
        return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "ferry mock-kafka: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return -1;
}

/* Creates every --topic NAME:PARTITIONS (the colon is overwritten). 0, or the exit code. */
static int mock_topics(struct ferry_mock *m, const struct mock_options *mo)
{
    char err[512];
    for (int i = 0; i < mo->ntopics; i++) {
        char *colon = strrchr(mo->topics[i], ':'), *end = NULL;
        long parts = colon ? strtol(colon + 1, &end, 10) : 1;
        if (colon && (!colon[1] || *end || parts > 100000))
            parts = 0;
        if (colon)
            *colon = '\0';
        if (!*mo->topics[i] || parts < 1) {
            fprintf(stderr, "ferry mock-kafka: --topic wants NAME:PARTITIONS\n");
            return 2;
        }
        if (ferry_mock_topic(m, mo->topics[i], (int)parts, err, sizeof(err)) < 0) {
            fprintf(stderr, "ferry: %s\n", err);
            return 1;
        }
    }
    return 0;
}

/* Writes the bootstrap list to file whole (a temporary file renamed over it). 0, or 1. */
static int write_bootstrap_file(const char *file, const char *bs)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", file);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%s\n", bs) < 0 || fclose(f) != 0 || rename(tmp, file) < 0) {
        fprintf(stderr, "ferry mock-kafka: %s: %s\n", file, strerror(errno));
        return 1;
    }
    return 0;
}

static int cmd_mock_kafka(int argc, char **argv)
{
    struct mock_options mo = {.brokers = 3};
    struct ferry_mock *m = NULL;
    char err[512];
    sigset_t set;
    int rc, sig;

    if ((rc = mock_parse(argc, argv, &mo)) >= 0)
        return rc;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (ferry_mock_new(&m, mo.brokers, err, sizeof(err)) < 0) {
        fprintf(stderr, "ferry: %s\n", err);
        return 1;
    }
    const char *bs = ferry_mock_bootstraps(m);
    if ((rc = mock_topics(m, &mo)) != 0 || (mo.file && (rc = write_bootstrap_file(mo.file, bs))))
        goto out;
    ferry_info("mock-kafka", "%d brokers at %s", mo.brokers, bs);
    printf("%s\n", bs);
    fflush(stdout);
    /* For outage tests: SIGUSR1 takes every broker down (connections refused, clients retry),
     * SIGUSR2 brings them back. */
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    while (sigwait(&set, &sig) == 0 && (sig == SIGUSR1 || sig == SIGUSR2)) {
        int up = sig == SIGUSR2;
        for (int b = 1; b <= mo.brokers; b++)
            ferry_mock_broker_set(m, b, up);
        ferry_info("mock-kafka", "every broker %s", up ? "up again" : "down");
    }
out:
    ferry_mock_destroy(m);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},    {"coord", required_argument, NULL, 'C'},
        {"log-level", required_argument, NULL, 'l'}, {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},         {0},
    };
    const char *cmd, *config = NULL, *coord = NULL;
    int c;

    if (argc < 2)
        return usage(stderr, 2);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
        return usage(stdout, 0);
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("ferry %s (librdkafka %s)\n", FERRY_VERSION, rd_kafka_version_str());
        return 0;
    }
    cmd = argv[1];
    if (!strcmp(cmd, "mock-kafka"))
        return cmd_mock_kafka(argc - 1, argv + 1);
    if (!strcmp(cmd, "config")) {
        if (argc == 3 && !strcmp(argv[2], "reference")) {
            ferry_config_write_reference(stdout);
            return 0;
        }
        return ferry_cmd_config(argc - 1, argv + 1);
    }
    if (!strcmp(cmd, "status"))
        return ferry_cmd_status(argc - 1, argv + 1);
    optind = 2;
    while ((c = getopt_long(argc, argv, "c:l:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config = optarg;
            break;
        case 'C':
            coord = optarg;
            break;
        case 'l': {
            enum ferry_log_level l;
            if (ferry_log_parse_level(optarg, &l) < 0) {
                fprintf(stderr, "ferry: unknown log level '%s'\n", optarg);
                return 2;
            }
            ferry_log_set_level(l);
            break;
        }
        case 'h':
            return usage(stdout, 0);
        default:
            return usage(stderr, 2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ferry: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    bool serving = !strcmp(cmd, "agent") || !strcmp(cmd, "sink") || !strcmp(cmd, "run");
    if (!config && !(coord && serving)) {
        fprintf(stderr, "ferry %s: -c FILE is required%s\n", cmd,
                serving ? " (or --coord URL)" : "");
        return 2;
    }
    if (!strcmp(cmd, "check"))
        return cmd_check(config);
    if (serving) {
        struct ferry_serve_options so = {
            .config_file = config,
            .coord_url = coord,
            .agent = strcmp(cmd, "sink") != 0,
            .sink = strcmp(cmd, "agent") != 0,
        };
        return ferry_serve(&so);
    }
    fprintf(stderr, "ferry: unknown command '%s'\n", cmd);
    return usage(stderr, 2);
}
