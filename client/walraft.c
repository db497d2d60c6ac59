/*
 * The handle (walraft.h): opening and closing, the error a failed call
 * leaves behind, bookmarks and levels, wr_exec(), and transactions as
 * plain statements.
 *
 * The client id of exactly-once writes is drawn at random for each handle:
 * a node refuses a sequence number lower than the last it recorded for a
 * client, so two handles (or two runs of a program) must never share one.
 */
#include "api.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void api_error(struct wr_db *db,
               int code,
               int sql_code,
               bool definite,
               const char *fmt,
               ...)
{
    va_list ap;

    db->errcode = code;
    db->sql_code = sql_code;
    db->definite = definite;
    va_start(ap, fmt);
    vsnprintf(db->errmsg, sizeof db->errmsg, fmt, ap);
    va_end(ap);
}

void api_clear_error(struct wr_db *db)
{
    db->errcode = WR_OK;
    db->sql_code = 0;
    db->definite = true;
    db->errmsg[0] = '\0';
}

void api_seen_bookmark(struct wr_db *db, uint64_t bookmark)
{
    if (bookmark > db->bookmark) {
        db->bookmark = bookmark;
    }
}

/* A client id that no other handle is likely to hold: 64 random bits, or
 * the clock and the pid where the kernel has no getrandom(). Never 0. */
static uint64_t new_client_id(void)
{
    uint64_t id = 0;
    struct timespec ts;

    while (id == 0) {
        if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id) {
            clock_gettime(CLOCK_REALTIME, &ts);
            id = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
                 ((uint64_t)getpid() << 16) ^ (uint64_t)(uintptr_t)&ts;
        }
    }
    return id;
}

/* Split @addresses into db->addrs. Returns WR_OK, WR_INVALID or
 * WR_NOMEM. */
static int split_addresses(struct wr_db *db, const char *addresses)
{
    const char *p = addresses;

    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        char **grown;
        if (n == 0 || memchr(p, ':', n) == NULL) {
            return WR_INVALID;
        }
        grown = realloc(db->addrs, (db->n_addrs + 1) * sizeof *grown);
        if (grown == NULL) {
            return WR_NOMEM;
        }
        db->addrs = grown;
        db->addrs[db->n_addrs] = strndup(p, n);
        if (db->addrs[db->n_addrs] == NULL) {
            return WR_NOMEM;
        }
        db->n_addrs++;
        p += n;
        if (*p == ',') {
            p++;
            if (*p == '\0') {
                return WR_INVALID;
            }
        }
    }
    return db->n_addrs > 0 ? WR_OK : WR_INVALID;
}

static bool level_valid(int level)
{
    return level >= WR_LEVEL_DEFAULT && level <= WR_LEVEL_STRONG;
}

WR_API int wr_open(const char *addresses,
                   const struct wr_options *opts,
                   wr_db **out)
{
    struct wr_options none;
    struct wr_db *db;
    int rv;

    if (out == NULL) {
        return WR_INVALID;
    }
    *out = NULL;
    if (addresses == NULL) {
        return WR_INVALID;
    }
    if (opts == NULL) {
        memset(&none, 0, sizeof none);
        opts = &none;
    }
    if (!level_valid(opts->consistency)) {
        return WR_INVALID;
    }
    db = calloc(1, sizeof *db);
    if (db == NULL) {
        return WR_NOMEM;
    }
    rv = split_addresses(db, addresses);
    if (rv != WR_OK) {
        goto err_after_alloc;
    }
    db->addresses = strdup(addresses);
    db->database = strdup(opts->database != NULL && opts->database[0] != '\0'
                              ? opts->database
                              : API_DEFAULT_DATABASE);
    if (db->addresses == NULL || db->database == NULL) {
        rv = WR_NOMEM;
        goto err_after_alloc;
    }
    db->connect_timeout_ms = opts->connect_timeout_ms != 0
                                 ? opts->connect_timeout_ms
                                 : API_CONNECT_TIMEOUT_MS;
    db->request_timeout_ms = opts->request_timeout_ms != 0
                                 ? opts->request_timeout_ms
                                 : API_REQUEST_TIMEOUT_MS;
    db->failover_timeout_ms = opts->failover_timeout_ms != 0
                                  ? opts->failover_timeout_ms
                                  : API_FAILOVER_TIMEOUT_MS;
    db->level = opts->consistency;
    db->max_staleness_ms = opts->max_staleness_ms;
    db->flags = opts->flags;
    db->sessions = (opts->flags & WR_OPEN_NO_SESSIONS) != 0 ? 0 : -1;
    db->client_id = new_client_id();
    api_clear_error(db);
    *out = db;
    return WR_OK;

err_after_alloc:
    wr_close(db);
    return rv;
}

WR_API void wr_close(wr_db *db)
{
    unsigned i;

    if (db == NULL) {
        return;
    }
    while (db->stmts != NULL) {
        wr_finalize(db->stmts);
    }
    route_close(&db->leader);
    route_close(&db->read);
    for (i = 0; i < db->n_addrs; i++) {
        free(db->addrs[i]);
    }
    free(db->addrs);
    free(db->addresses);
    free(db->database);
    free(db);
}

WR_API int wr_errcode(const wr_db *db)
{
    return db->errcode;
}

WR_API const char *wr_errmsg(const wr_db *db)
{
    return db->errmsg;
}

WR_API int wr_error_definite(const wr_db *db)
{
    return db->definite ? 1 : 0;
}

WR_API int wr_sql_errcode(const wr_db *db)
{
    return db->sql_code;
}

WR_API const char *wr_errstr(int code)
{
    switch (code) {
        case WR_ROW:
            return "another row is ready";
        case WR_DONE:
            return "the statement has finished";
        case WR_ABORT:
            return "the callback asked to stop";
        default:
            return err_str(code);
    }
}

WR_API int64_t wr_last_insert_rowid(const wr_db *db)
{
    return db->last_insert_rowid;
}

WR_API int64_t wr_changes(const wr_db *db)
{
    return db->changes;
}

WR_API int wr_set_consistency(wr_db *db, int level, uint64_t max_staleness_ms)
{
    if (!level_valid(level)) {
        api_error(db, WR_INVALID, 0, true, "unknown consistency level %d",
                  level);
        return WR_INVALID;
    }
    db->level = level;
    db->max_staleness_ms = max_staleness_ms;
    return WR_OK;
}

WR_API uint64_t wr_bookmark(const wr_db *db)
{
    return db->bookmark;
}

WR_API void wr_set_bookmark(wr_db *db, uint64_t bookmark)
{
    api_seen_bookmark(db, bookmark);
}

WR_API int wr_sessions(const wr_db *db)
{
    return db->sessions;
}

WR_API uint64_t wr_retries(const wr_db *db)
{
    return db->retries;
}

WR_API int wr_in_transaction(const wr_db *db)
{
    return db->in_tx ? 1 : 0;
}

WR_API int wr_begin(wr_db *db)
{
    return wr_exec(db, "BEGIN", NULL, NULL, NULL);
}

WR_API int wr_commit(wr_db *db)
{
    return wr_exec(db, "COMMIT", NULL, NULL, NULL);
}

WR_API int wr_rollback(wr_db *db)
{
    return wr_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

WR_API void wr_free(void *p)
{
    free(p);
}

/* Hand each row of @s to @cb as sqlite3_exec() would. */
static int exec_rows(wr_stmt *s,
                     int (*cb)(void *arg, int n, char **values, char **names),
                     void *arg)
{
    int n = wr_column_count(s);
    char **names = NULL;
    char **values = NULL;
    int rv;
    int i;

    while ((rv = wr_step(s)) == WR_ROW) {
        if (cb == NULL) {
            continue;
        }
        if (names == NULL) {
            n = wr_column_count(s);
            names = calloc((size_t)n + 1, sizeof *names);
            values = calloc((size_t)n + 1, sizeof *values);
            if (names == NULL || values == NULL) {
                api_error(s->db, WR_NOMEM, 0, true, "out of memory");
                rv = WR_NOMEM;
                break;
            }
            for (i = 0; i < n; i++) {
                names[i] = (char *)wr_column_name(s, i);
            }
        }
        for (i = 0; i < n; i++) {
            values[i] = wr_column_type(s, i) == WR_NULL
                            ? NULL
                            : (char *)wr_column_text(s, i);
        }
        if (cb(arg, n, values, names) != 0) {
            api_error(s->db, WR_ABORT, 0, true,
                      "the callback asked to stop");
            rv = WR_ABORT;
            break;
        }
    }
    free(names);
    free(values);
    return rv == WR_DONE ? WR_OK : rv;
}

WR_API int wr_exec(wr_db *db,
                   const char *sql,
                   int (*cb)(void *arg, int n, char **values, char **names),
                   void *arg,
                   char **errmsg)
{
    const char *tail = sql;
    int rv = WR_OK;

    if (errmsg != NULL) {
        *errmsg = NULL;
    }
    if (sql == NULL) {
        api_error(db, WR_INVALID, 0, true, "no SQL");
        rv = WR_INVALID;
        goto out;
    }
    api_clear_error(db);
    while (rv == WR_OK && *tail != '\0') {
        wr_stmt *s = NULL;
        rv = wr_prepare(db, tail, -1, &s, &tail);
        if (rv != WR_OK || s == NULL) {
            break;
        }
        rv = exec_rows(s, cb, arg);
        /* The statement's rows were all read: finalize cannot fail in a
         * way that matters more than rv. */
        wr_finalize(s);
    }

out:
    if (rv != WR_OK && errmsg != NULL) {
        *errmsg = strdup(db->errmsg);
    }
    return rv;
}
