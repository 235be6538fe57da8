/* ferry: logging to stderr, one line per call, safe from any thread.
 *
 * Lines look like "2026-11-25T18:31:41.123Z info agent: shipped 100 lines". The level
 * filter is process-wide; set it once before starting threads. */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

enum ferry_log_level {
    FERRY_LOG_ERROR = 0,
    FERRY_LOG_WARN = 1,
    FERRY_LOG_INFO = 2,
    FERRY_LOG_DEBUG = 3,
};

void ferry_log_set_level(enum ferry_log_level level);
/* Parses "error", "warn", "info" or "debug"; returns 0, or -1 when the name is unknown. */
int ferry_log_parse_level(const char *name, enum ferry_log_level *out);
int ferry_log_enabled(enum ferry_log_level level);

void ferry_log(enum ferry_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define ferry_error(mod, ...) ferry_log(FERRY_LOG_ERROR, mod, __VA_ARGS__)
#define ferry_warn(mod, ...)  ferry_log(FERRY_LOG_WARN, mod, __VA_ARGS__)
#define ferry_info(mod, ...)  ferry_log(FERRY_LOG_INFO, mod, __VA_ARGS__)
#define ferry_debug(mod, ...)                                                                      \
    do {                                                                                           \
        if (ferry_log_enabled(FERRY_LOG_DEBUG))                                                    \
            ferry_log(FERRY_LOG_DEBUG, mod, __VA_ARGS__);                                          \
    } while (0)

#endif
