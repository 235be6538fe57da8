/* ferry: the commands that talk to the coordination service (agent/cli_coord.c). Each returns
 * the process's exit code: 0 success, 1 runtime failure, 2 usage or configuration error. */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

/* ferry config push|get|watch …: argv[0] is "config". */
int ferry_cmd_config(int argc, char **argv);
/* ferry status [-c FILE] [--coord URL]: argv[0] is "status". */
int ferry_cmd_status(int argc, char **argv);

#endif
