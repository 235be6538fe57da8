/* ferry: error codes and the error buffer convention. */
#include <stdarg.h>
#include <stdio.h>

#include "ferry/err.h"

const char *ferry_strerror(int code)
{
    switch (code) {
    case FERRY_OK:
        return "success";
    case FERRY_ERR_INVALID:
        return "invalid argument or configuration";
    case FERRY_ERR_NOMEM:
        return "out of memory";
    case FERRY_ERR_IO:
        return "input/output error";
    case FERRY_ERR_RETRY:
        return "temporary failure";
    case FERRY_ERR_FATAL:
        return "permanent failure";
    case FERRY_ERR_AGAIN:
        return "no room now";
    }
    return "unknown error";
}

int ferry_seterr(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}
