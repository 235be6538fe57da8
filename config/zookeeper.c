/* ferry: the zookeeper coordination backend (being written). */
#include "ferry/coord.h"
#include "ferry/err.h"

static int open_zookeeper(const struct ferry_coord_options *o, void **self, char *err, size_t errlen)
{
    (void)o;
    *self = NULL;
    return ferry_seterr(err, errlen, FERRY_ERR_FATAL, "zookeeper: backend not built");
}

const struct ferry_coord_ops ferry_coord_zookeeper_ops = {.name = "zookeeper", .open = open_zookeeper};
