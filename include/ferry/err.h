/* ferry: error codes shared by every module.
 *
 * Fallible functions return 0 on success or a negative enum ferry_err, and fill a
 * caller-provided `char *err, size_t errlen` with a message that names what failed first,
 * in lower case, without a full stop: "mysql: connect 127.0.0.1:3306: access denied".
 * These functions keep no state: any thread. */
#ifndef FERRY_ERR_H
#define FERRY_ERR_H

#include <stddef.h>

enum ferry_err {
    FERRY_OK = 0,
    FERRY_ERR_INVALID = -1, /* bad argument or configuration: retrying will not help */
    FERRY_ERR_NOMEM = -2,   /* allocation failed */
    FERRY_ERR_IO = -3,      /* a file or socket operation failed */
    FERRY_ERR_RETRY = -4,   /* transient: the peer is down or busy; try again later */
    FERRY_ERR_FATAL = -5,   /* permanent failure of this unit of work */
    FERRY_ERR_AGAIN = -6,   /* no room now (a full queue); call again after draining */
};

/* A static description of `code`; never NULL. */
const char *ferry_strerror(int code);

/* snprintf into err (if err is non-NULL and errlen > 0) and return `code`. */
int ferry_seterr(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
