#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static enum log_level current = LOG_WARN;
static char tag[32];

static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR", "FATAL"};

void log_set_level(enum log_level level)
{
    current = level;
}

int log_parse_level(const char *s)
{
    for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
        if (strcasecmp(s, names[i]) == 0 ||
            (i == LOG_WARN && strcasecmp(s, "warning") == 0)) {
            return i;
        }
    }
    return -1;
}

void log_set_tag(const char *t)
{
    snprintf(tag, sizeof tag, "%s", t != NULL ? t : "");
}

int log_enabled(enum log_level level)
{
    return level >= current;
}

void log_emit(enum log_level level, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n;

    if (!log_enabled(level)) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof line,
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s%s%s", 
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[level],
                 tag[0] != '\0' ? "[" : "", tag, tag[0] != '\0' ? "] " : "");
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One write per line so lines of concurrent processes do not mix. */
    fprintf(stderr, "%s\n", line);
}
