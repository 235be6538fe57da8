/* ferry: the etcd coordination backend (being written). */
#include "ferry/coord.h"
#include "ferry/err.h"

static int open_etcd(const struct ferry_coord_options *o, void **self, char *err, size_t errlen)
{
    (void)o;
    *self = NULL;
    return ferry_seterr(err, errlen, FERRY_ERR_FATAL, "etcd: backend not built");
}

const struct ferry_coord_ops ferry_coord_etcd_ops = {.name = "etcd", .open = open_etcd};
