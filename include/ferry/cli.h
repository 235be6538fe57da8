/* ferry: the commands that talk to the coordination service (process/cli_coord.c: config
 * push|get|watch; process/cli_status.c: status).
 *
 * Each returns the process's exit code: 0 success, 1 runtime failure, 2 usage or configuration
 * error, and says what failed on stderr. argv is borrowed for the call (getopt may reorder
 * it). Call them from the main thread: they parse options with getopt (optind), set the
 * process's log level, and write to stdout and stderr. Every session and configuration they
 * open is closed and freed before they return. */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

/* ferry config push|get|watch …: argv[0] is "config". watch installs SIGINT and SIGTERM
 * handlers (left installed on return) and runs until one arrives or stdout is closed. */
int ferry_cmd_config(int argc, char **argv);
/* ferry status [-c FILE] [--coord URL]: argv[0] is "status". */
int ferry_cmd_status(int argc, char **argv);

#endif
