#include "err.h"

#include <stdio.h>
#include <string.h>

const char *err_str(int code)
{
    switch (code) {
        case WR_OK:
            return "ok";
#define WR__ERR_CASE(name, c, str) \
    case name:                     \
        return str;
            WR_ERR_TABLE(WR__ERR_CASE)
#undef WR__ERR_CASE
    }
    return "unknown error";
}

void err_printf(char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, WR_ERRMSG_SIZE, fmt, ap);
    va_end(ap);
}

void err_wrap(char *buf, const char *fmt, ...)
{
    char prefix[WR_ERRMSG_SIZE];
    char tail[WR_ERRMSG_SIZE];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(tail, buf, WR_ERRMSG_SIZE);
    tail[WR_ERRMSG_SIZE - 1] = '\0';
    /* Prefix, ": ", then as much of the old message as fits. */
    size_t n = strlen(prefix);
    memcpy(buf, prefix, n);
    if (n + 2 < WR_ERRMSG_SIZE) {
        memcpy(buf + n, ": ", 2);
        n += 2;
        size_t m = strlen(tail);
        if (m > WR_ERRMSG_SIZE - 1 - n) {
            m = WR_ERRMSG_SIZE - 1 - n;
        }
        memcpy(buf + n, tail, m);
        n += m;
    }
    buf[n] = '\0';
}
