/* ferry: what the coordination commands share (private to process/): cli_coord.c (the
 * session every command opens, config push|get|watch) and cli_status.c (status).
 *
 * One struct ferry_cli per command run, on the main thread: ferry_cli_parse fills it from
 * argv, ferry_cli_load and ferry_cli_open add the configuration and the session, and
 * ferry_cli_release frees whatever of them was made. Every function says what failed on
 * stderr, prefixed with cli->cmd, and answers in exit codes (0, 1, 2) as include/ferry/cli.h
 * does. */
#ifndef FERRY_CLI_INTERNAL_H
#define FERRY_CLI_INTERNAL_H

#include <stdbool.h>

#include "ferry/config.h"
#include "ferry/coord.h"

#define FERRY_CLI_CONFIG_KEY "config" /* the document's key below the prefix */

struct ferry_cli {
    const char *cmd;          /* "ferry config push": what messages start with */
    const char *url;          /* --coord, or NULL */
    const char *file;         /* -c, or NULL */
    struct ferry_config *cfg; /* loaded from file */
    struct ferry_coord_options opts;
    bool have_opts;
    struct ferry_coord *coord;
    char where[1024]; /* the service's URL, with the prefix */
};

/* Parses --coord, -c and -l (the log level, set here; warn by default) from argv (borrowed:
 * cli keeps pointers into it). Returns -1 to go on, or the exit code (0 after -h, 2 on
 * misuse, with usage or the reason on stderr). */
int ferry_cli_parse(struct ferry_cli *cli, int argc, char **argv, const char *usage);
/* Loads -c FILE into cli->cfg, if given, printing every diagnostic as file:line:column:
 * message. 0, or exit code 2 (cli->cfg stays NULL). */
int ferry_cli_load(struct ferry_cli *cli);
/* Resolves the service from --coord and cli->cfg's coordination section and opens a session
 * (cli->coord, cli->where). 0; 2 when nothing names a service; 1 when it cannot be reached. */
int ferry_cli_open(struct ferry_cli *cli);
/* Closes the session and frees the configuration, whichever were made. */
void ferry_cli_release(struct ferry_cli *cli);

#endif
