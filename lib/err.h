/*
 * One table of error codes for the whole tree.
 *
 * Functions return 0 on success or one of these codes. Each code has one
 * short string; objects that fail keep a longer message in an errmsg buffer
 * that every layer prefixes with its own context on the way up ("apply
 * frames: decode: checksum mismatch"), so a user reads a sentence.
 *
 * The table is an X-macro so codes and strings cannot drift apart.
 */
#ifndef WR_LIB_ERR_H
#define WR_LIB_ERR_H

#include <stdarg.h>
#include <stddef.h>

#define WR_ERR_TABLE(X)                                                  \
    X(WR_NOMEM, 1, "out of memory")                                      \
    X(WR_INVALID, 2, "invalid argument")                                 \
    X(WR_CORRUPT, 3, "malformed or corrupt data")                        \
    X(WR_IOERR, 4, "I/O error")                                          \
    X(WR_BUSY, 5, "busy")                                                \
    X(WR_NOTFOUND, 6, "not found")                                       \
    X(WR_SQL, 7, "SQL error")                                            \
    X(WR_TOOBIG, 8, "too big")                                           \
    X(WR_NOTLEADER, 9, "not leader")                                     \
    X(WR_LEADERSHIP_LOST, 10, "leadership lost, outcome unknown")        \
    X(WR_SHUTDOWN, 11, "shutting down")                                  \
    X(WR_UNSUPPORTED, 12, "unsupported")

enum {
    WR_OK = 0,
#define WR__ERR_ENUM(name, code, str) name = code,
    WR_ERR_TABLE(WR__ERR_ENUM)
#undef WR__ERR_ENUM
};

/* Static string for a code; never NULL. */
const char *err_str(int code);

/* Size of every errmsg buffer in the tree. */
#define WR_ERRMSG_SIZE 256

/* Format into @buf (WR_ERRMSG_SIZE bytes). */
void err_printf(char *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prefix @buf, in place, with a formatted context and ": ". A message that
 * no longer fits is truncated at the end, never at the front. */
void err_wrap(char *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* WR_LIB_ERR_H */
