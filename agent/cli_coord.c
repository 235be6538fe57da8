/* ferry: config push|get|watch and status (being written). */
#include <stdio.h>

#include "ferry/cli.h"

int ferry_cmd_config(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ferry config: not built yet\n");
    return 1;
}

int ferry_cmd_status(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "ferry status: not built yet\n");
    return 1;
}
