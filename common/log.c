/* ferry: logging: one line per message, on stderr. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "ferry/log.h"

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
