/* ferry: error strings and logging. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "ferry/err.h"
#include "ferry/log.h"

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

static int log_level = FERRY_LOG_INFO;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void ferry_log_set_level(enum ferry_log_level level)
{
    log_level = level;
}

int ferry_log_parse_level(const char *name, enum ferry_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (!strcmp(name, level_names[i])) {
            *out = (enum ferry_log_level)i;
            return 0;
        }
    }
    return -1;
}

int ferry_log_enabled(enum ferry_log_level level)
{
    return (int)level <= log_level;
}

void ferry_log(enum ferry_log_level level, const char *module, const char *fmt, ...)
{
    char line[2048];
    struct timeval tv;
    struct tm tm;
    va_list ap;
    int n;

    if (!ferry_log_enabled(level))
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = snprintf(line, sizeof(line),
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s: ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000),
                 level_names[level], module);
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    n = (int)strlen(line);
    line[n] = '\n';
    /* one write per line: lines from different threads never interleave */
    fwrite(line, 1, (size_t)n + 1, stderr);
}
