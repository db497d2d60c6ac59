/*
 * libwalraft: the C client library of a walraft cluster.
 *
 * The API follows SQLite's, so a sqlite3 user knows it already: open a
 * handle on a cluster (wr_open), prepare a statement (wr_prepare), bind its
 * parameters (wr_bind_*), step through its rows (wr_step, wr_column_*),
 * reset or finalize it; wr_exec runs a string of statements with a row
 * callback. What is new is the cluster:
 *
 * - Routing. A handle keeps up to two connections: one to the leader, for
 *   writes and interactive transactions, and one to the first reachable
 *   node of the address list (which may be the leader), for reads. Reads at
 *   the default level (linearizable), at WR_LEVEL_NONE and with a bookmark
 *   are served by that node itself; it forwards weak and strong reads to
 *   the leader. Put a nearby node first in the list to read from it.
 *
 * - Bookmarks. Every answer carries a bookmark: the Raft index of the state
 *   the node read or of the entry that made a write visible. The handle
 *   remembers the highest bookmark of its own writes and reads and sends it
 *   with every read, so a handle always reads its own writes and never
 *   reads an older state than one it saw, on any node, at any level.
 *   wr_bookmark() hands it out so that another handle (another process,
 *   another node) can wait for the same state with wr_set_bookmark().
 *
 * - Failover. The handle finds the leader itself (asking the nodes of the
 *   list), and when the leader changes or a connection breaks it reconnects
 *   and retries, within the failover timeout. A connection the node
 *   closed while it was idle (the node stopped, leadership moved) is
 *   noticed before a statement is sent on it, so that statement's outcome
 *   stays certain. Reads are always safe to retry. A write is retried
 *   after its outcome became unknown (the connection broke, the leader was
 *   deposed before it committed) only under its exactly-once identity: the
 *   handle's client id and the write's sequence number, which the node
 *   remembers, so that a retry never applies twice. Autocommit writes
 *   (sent with EXEC) carry one whenever the node serves sessions. Nodes that do not serve exactly-once sessions
 *   refuse them, definitely; the handle then falls back to plain writes,
 *   once and for good, and from then on a write whose outcome is unknown is
 *   returned to the caller with wr_error_definite() == 0: it may or may not
 *   have happened. Statements that return rows (RETURNING) and the
 *   statements of an interactive transaction have no exactly-once identity
 *   either, and are never retried once sent.
 *
 * - Transactions. BEGIN (wr_begin, or BEGIN through wr_exec or a statement)
 *   pins the handle to the leader connection until COMMIT or ROLLBACK. A
 *   transaction is never retried: if its connection breaks, the statement
 *   fails; before COMMIT that is definite (nothing of it committed), for
 *   COMMIT itself it is indefinite.
 *
 * Thread safety: a handle and its statements are used by one thread at a
 * time. Different handles are independent and may be used by different
 * threads at once. The library has no global state.
 *
 * Errors: functions that can fail return an int code from the table below
 * (WR_OK on success). The handle then remembers the code, a sentence
 * (wr_errmsg), the node's SQLite error code when the node refused the
 * statement (wr_sql_errcode), and whether the failure is definite
 * (wr_error_definite). Functions that succeed leave those alone, except
 * that wr_step() clears them when it starts running a statement, and
 * wr_exec() when it starts.
 *
 * Ownership: no function keeps a pointer to memory the caller passed,
 * except where it says so. Pointers the library returns are valid until the
 * event each function names.
 */
#ifndef WALRAFT_H
#define WALRAFT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(WALRAFT_BUILD) && defined(__GNUC__)
#define WR_API __attribute__((visibility("default")))
#else
#define WR_API
#endif

/* Result codes: the same table the whole walraft tree uses (the
 * definitions are skipped inside the tree, which has its own copy). */
#ifndef WR_LIB_ERR_H
enum {
    WR_OK = 0,
    WR_NOMEM = 1,            /* out of memory */
    WR_INVALID = 2,          /* bad argument, or a call out of order */
    WR_CORRUPT = 3,          /* a node sent something that is not
                                the protocol */
    WR_IOERR = 4,            /* no node reachable, a connection broke or
                                timed out */
    WR_BUSY = 5,             /* the node is busy; try again */
    WR_NOTFOUND = 6,         /* not found */
    WR_SQL = 7,              /* the node refused the statement:
                                wr_sql_errcode() says why */
    WR_TOOBIG = 8,           /* a value or an answer is too big */
    WR_NOTLEADER = 9,        /* no leader found within the failover
                                timeout */
    WR_LEADERSHIP_LOST = 10, /* leadership lost, outcome unknown */
    WR_SHUTDOWN = 11,        /* the node is shutting down */
    WR_UNSUPPORTED = 12      /* the node does not support this */
};
#endif
enum {
    WR_ROW = 100,  /* wr_step(): a row is ready */
    WR_DONE = 101, /* wr_step(): the statement has finished */
    WR_ABORT = 102 /* wr_exec(): the callback returned non-zero */
};

/* Value types (SQLite's fundamental types, same numbers). */
enum {
    WR_INTEGER = 1,
    WR_FLOAT = 2,
    WR_TEXT = 3,
    WR_BLOB = 4,
    WR_NULL = 5
};

/* Consistency levels of a read (ARCHITECTURE.md section 4). */
enum {
    WR_LEVEL_DEFAULT = 0,      /* the handle's level; the handle's default
                                  is the node's, linearizable */
    WR_LEVEL_NONE = 1,         /* whatever the receiving node has applied
                                  (plus the bookmark) */
    WR_LEVEL_WEAK = 2,         /* the leader's state, unless it was deposed
                                  without noticing */
    WR_LEVEL_LINEARIZABLE = 3, /* every write acknowledged before the read
                                  started; served by any node */
    WR_LEVEL_STRONG = 4        /* through the Raft log */
};

/* wr_options.flags */
enum {
    /* Never use exactly-once sessions: writes whose outcome is unknown
     * are returned, indefinite, and never retried. */
    WR_OPEN_NO_SESSIONS = 1 << 0
};

typedef struct wr_db wr_db;
typedef struct wr_stmt wr_stmt;

/* Options of wr_open(). A zero field means the default. */
struct wr_options {
    const char *database;         /* Database name on the cluster ("main"). */
    unsigned connect_timeout_ms;  /* One connection attempt (5000). */
    unsigned request_timeout_ms;  /* One request and its answer (15000). */
    unsigned failover_timeout_ms; /* Finding a leader and retrying one
                                     statement, in all (30000). */
    int consistency;              /* WR_LEVEL_* for reads (default). */
    uint64_t max_staleness_ms;    /* WR_LEVEL_NONE: fail on a node that has
                                     not heard from a leader for longer
                                     (0: no bound). */
    unsigned flags;               /* WR_OPEN_* */
};

/*
 * Handles.
 */

/* Open a handle on the cluster reachable through @addresses, a
 * comma-separated list of "host:port" (IPv6 as "[addr]:port"); @opts may be
 * NULL. Nothing is kept from @addresses or @opts (the database name is
 * copied). The handle connects lazily: the first statement finds a node
 * and the leader, so a cluster that is down makes wr_open() succeed and
 * the first wr_step() fail with WR_IOERR or WR_NOTLEADER.
 *
 * On success *@out is the caller's: release it with wr_close(). Returns
 * WR_OK, WR_INVALID (no address, an empty or malformed one) or WR_NOMEM;
 * on error *@out is NULL. */
WR_API int wr_open(const char *addresses,
                   const struct wr_options *opts,
                   wr_db **out);

/* Finalize the handle's statements that are still open, close its
 * connections (an open transaction is rolled back by the node) and free
 * it. @db may be NULL. Never fails. */
WR_API void wr_close(wr_db *db);

/* The code, the sentence and the definite flag of the handle's last
 * failure (WR_OK, "", 1 if none). The string is the handle's and valid
 * until the next call on @db or its statements. wr_error_definite()
 * returns 1 if the failed statement certainly had no effect, 0 if it may
 * have had one (a write whose outcome is unknown). */
WR_API int wr_errcode(const wr_db *db);
WR_API const char *wr_errmsg(const wr_db *db);
WR_API int wr_error_definite(const wr_db *db);

/* The SQLite extended error code the node answered with when the last
 * failure is WR_SQL (SQLITE_CONSTRAINT_UNIQUE 2067, say), else 0. */
WR_API int wr_sql_errcode(const wr_db *db);

/* A static string for a result code: "SQL error", ... Never NULL. */
WR_API const char *wr_errstr(int code);

/* Rowid of the last successful INSERT and rows changed by the last
 * successful write of this handle (as SQLite counts them). */
WR_API int64_t wr_last_insert_rowid(const wr_db *db);
WR_API int64_t wr_changes(const wr_db *db);

/* The handle's level and max staleness for reads (WR_LEVEL_*, see
 * struct wr_options). Returns WR_OK, or WR_INVALID for an unknown level. */
WR_API int wr_set_consistency(wr_db *db, int level, uint64_t max_staleness_ms);

/* The highest bookmark this handle has seen (0 before the first answer). */
WR_API uint64_t wr_bookmark(const wr_db *db);

/* Make every later read of the handle wait for @bookmark, typically one
 * that another handle got from wr_bookmark() after a write. Lowers nothing:
 * the handle keeps the higher of its own and @bookmark. */
WR_API void wr_set_bookmark(wr_db *db, uint64_t bookmark);

/* 1 if the handle uses exactly-once sessions for its writes, 0 if it
 * fell back to plain writes (the node refused sessions, or
 * WR_OPEN_NO_SESSIONS), -1 if it has not written yet. */
WR_API int wr_sessions(const wr_db *db);

/* How many times since wr_open() the handle tried a statement again: after
 * a refusal by a node that no longer leads, a broken connection, no node
 * reachable yet, or an unknown outcome retried under its exactly-once id.
 * For monitoring and tests. */
WR_API uint64_t wr_retries(const wr_db *db);

/* 1 inside an interactive transaction, else 0. */
WR_API int wr_in_transaction(const wr_db *db);

/* wr_exec() of BEGIN, COMMIT and ROLLBACK. */
WR_API int wr_begin(wr_db *db);
WR_API int wr_commit(wr_db *db);
WR_API int wr_rollback(wr_db *db);

/* Run the statements of @sql one after the other (like sqlite3_exec). For
 * each row, @cb (if not NULL) gets @arg, the number of columns, the values
 * as text (NULL for SQL NULL; a BLOB up to its first NUL byte) and the
 * column names; the strings are valid until @cb returns. A non-zero return
 * from @cb stops with WR_ABORT. On an error the remaining statements are
 * not run and, if @errmsg is not NULL, *@errmsg is a copy of wr_errmsg()
 * that the caller frees with wr_free() (else NULL). Returns WR_OK or the
 * code of the statement that failed. */
WR_API int wr_exec(wr_db *db,
                   const char *sql,
                   int (*cb)(void *arg, int n, char **values, char **names),
                   void *arg,
                   char **errmsg);

/* Free memory the library handed over (wr_exec()'s @errmsg). */
WR_API void wr_free(void *p);

/*
 * Statements.
 */

/* Prepare the first statement of @sql (@len bytes, or up to its NUL if
 * @len is negative). No request is sent: the node prepares it when it is
 * stepped, so SQL errors appear at the first wr_step(). If @tail is not
 * NULL, *@tail points into @sql just past the statement. On success
 * *@out is the caller's (release with wr_finalize()); if @sql holds no
 * statement (only blanks and comments) *@out is NULL and WR_OK is
 * returned. Returns WR_OK, WR_INVALID or WR_NOMEM. The SQL is copied. */
WR_API int wr_prepare(wr_db *db,
                      const char *sql,
                      int len,
                      wr_stmt **out,
                      const char **tail);

/* Bind a value to parameter @i (1-based, as ?NNN numbers them; named
 * parameters count in order of first appearance, as in SQLite). Text and
 * blob bytes are copied. Text may not contain NUL bytes (the wire cannot
 * carry them): use a blob. @n is the byte count, or negative for
 * wr_bind_text() to take strlen(). Parameters not bound are NULL. Returns
 * WR_OK, WR_INVALID (@i out of 1..32766, a NUL inside text, or the
 * statement is running: reset it first) or WR_NOMEM. */
WR_API int wr_bind_int64(wr_stmt *s, int i, int64_t v);
WR_API int wr_bind_double(wr_stmt *s, int i, double v);
WR_API int wr_bind_text(wr_stmt *s, int i, const char *p, int n);
WR_API int wr_bind_blob(wr_stmt *s, int i, const void *p, int n);
WR_API int wr_bind_null(wr_stmt *s, int i);

/* Unbind every parameter (to NULL). Returns WR_OK. */
WR_API int wr_clear_bindings(wr_stmt *s);

/* Run the statement, or advance to its next row. Returns WR_ROW (a row is
 * ready for wr_column_*()), WR_DONE (finished: writes have updated
 * wr_changes() and wr_last_insert_rowid()), or an error code with the
 * handle's error set (WR_SQL for a statement the node refused). Stepping
 * again after WR_DONE or an error runs the statement again, like
 * sqlite3_step after an automatic reset. Large results arrive in several
 * messages; wr_step() reads them as it goes. */
WR_API int wr_step(wr_stmt *s);

/* Stop a running statement (its remaining rows are discarded), keep the
 * bindings. Returns WR_OK, or the error of discarding the rows. */
WR_API int wr_reset(wr_stmt *s);

/* Release a statement. @s may be NULL. Returns WR_OK, or the error of
 * discarding rows still pending (the statement is released anyway). */
WR_API int wr_finalize(wr_stmt *s);

/* Per statement level and max staleness (overriding the handle's; a level
 * of WR_LEVEL_DEFAULT means the handle's), and a bookmark to wait for in
 * addition to the handle's. Returns WR_OK, or WR_INVALID for an unknown
 * level. */
WR_API int wr_stmt_set_consistency(wr_stmt *s,
                                   int level,
                                   uint64_t max_staleness_ms);
WR_API void wr_stmt_set_bookmark(wr_stmt *s, uint64_t bookmark);

/* The bookmark of the statement's last answer (0 before one). */
WR_API uint64_t wr_stmt_bookmark(const wr_stmt *s);

/* The handle a statement belongs to. */
WR_API wr_db *wr_db_handle(const wr_stmt *s);

/* The statement's SQL, as prepared; valid until wr_finalize(). */
WR_API const char *wr_sql(const wr_stmt *s);

/*
 * Columns of the current row (after wr_step() returned WR_ROW). Column
 * numbers are 0-based; a column out of range reads as NULL. Values convert
 * like SQLite's: an integer read as text is its decimal form, text read as
 * an integer is its leading number, NULL reads as 0, 0.0 or a NULL
 * pointer. Pointers returned are the statement's, valid until the next
 * wr_step(), wr_reset() or wr_finalize() on it, or the next conversion of
 * the same column; text is NUL-terminated. Types are per row: the same
 * column may be an integer in one row and NULL in the next.
 */
WR_API int wr_column_count(const wr_stmt *s);
/* The column's name (valid until the statement is stepped again after
 * WR_DONE, reset or finalized). */
WR_API const char *wr_column_name(const wr_stmt *s, int i);
WR_API int wr_column_type(const wr_stmt *s, int i);
WR_API int64_t wr_column_int64(wr_stmt *s, int i);
WR_API double wr_column_double(wr_stmt *s, int i);
WR_API const char *wr_column_text(wr_stmt *s, int i);
WR_API const void *wr_column_blob(wr_stmt *s, int i);
/* Bytes of the value as text or blob (after wr_column_text() or
 * wr_column_blob(), as SQLite defines it), the NUL excluded. */
WR_API int wr_column_bytes(wr_stmt *s, int i);

#ifdef __cplusplus
}
#endif

#endif /* WALRAFT_H */
