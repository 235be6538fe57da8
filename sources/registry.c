/* ferry: the source implementations, by configured type. */
#include "ferry/source.h"

const struct ferry_source_ops *ferry_source_lookup(enum ferry_source_type type)
{
    switch (type) {
    case FERRY_SOURCE_TAIL:
        return &ferry_source_tail;
    case FERRY_SOURCE_STDIN:
        return &ferry_source_stdin;
    }
    return NULL;
}
