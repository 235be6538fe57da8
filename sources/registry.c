/* ferry: the table of sources, searched by type name. Adding a source is one file and one
 * row here (and its name in the declaration above the table). */
#include <string.h>

#include "ferry/source.h"

extern const struct ferry_source_ops ferry_source_tail, ferry_source_stdin;

static const struct ferry_source_ops *const sources[] = {
    &ferry_source_tail,  /* sources/tail.c */
    &ferry_source_stdin, /* sources/stdin.c */
};

#define NSOURCES (sizeof(sources) / sizeof(sources[0]))

const struct ferry_source_ops *ferry_source_lookup(const char *type)
{
    for (size_t i = 0; type && i < NSOURCES; i++)
        if (!strcmp(sources[i]->type, type))
            return sources[i];
    return NULL;
}

static const struct ferry_section *source_at(size_t i, const char **type)
{
    if (i >= NSOURCES)
        return NULL;
    *type = sources[i]->type;
    return sources[i]->config;
}

const struct ferry_plugins ferry_source_plugins = {.noun = "source", .at = source_at};
