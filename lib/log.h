/*
 * Leveled logging to stderr with timestamps.
 *
 * Every line is "2026-11-21T13:17:00.123Z LEVEL [tag] message". The level
 * and the tag (a node's id, say) are process-wide settings; the daemon sets
 * them from its flags, tests leave them at "warn".
 */
#ifndef WR_LIB_LOG_H
#define WR_LIB_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_FATAL };

void log_set_level(enum log_level level);
/* Parse "debug", "info", "warn", "error"; returns -1 if unknown. */
int log_parse_level(const char *s);
void log_set_tag(const char *tag);
int log_enabled(enum log_level level);

void log_emit(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...)                  \
    do {                                \
        if (log_enabled(LOG_DEBUG))     \
            log_emit(LOG_DEBUG, __VA_ARGS__); \
    } while (0)
#define log_info(...) log_emit(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_emit(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_emit(LOG_ERROR, __VA_ARGS__)

#endif /* WR_LIB_LOG_H */
