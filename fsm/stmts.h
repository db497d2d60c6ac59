/*
 * A connection's prepared statements, kept by SQL text.
 *
 * Every write request used to be compiled anew, and so were the executor's
 * own SAVEPOINT and RELEASE around it: on a leader taking 13,000 writes a
 * second, compiling was a sixth of its loop (issue 7). Clients send the same
 * few texts over and over, so each connection the fsm opens keeps its last
 * statements, compiled with SQLITE_PREPARE_PERSISTENT, and hands them out
 * again, reset and with their bindings cleared.
 *
 * Only a text that is exactly one statement (trailing whitespace aside) is
 * kept; for any other text stmts_take() says so, remembers it, and the
 * caller compiles it statement by statement as before. A statement is keyed
 * by its text and by a tag the caller chooses: the executor's authorizer
 * allows different things for writes and reads, and a statement is only
 * handed out again under the tag it was compiled under. SQLite compiles a
 * statement again, under whatever authorizer is installed then, whenever the
 * schema changed (and sqlite3_set_authorizer() expires every statement of
 * the connection), so a cached statement never skips a check.
 *
 * Single-threaded, like the connection. stmts_close() must run before the
 * connection is closed.
 */
#ifndef WR_FSM_STMTS_H
#define WR_FSM_STMTS_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

struct stmts_entry;

struct stmts {
    sqlite3 *conn;
    struct stmts_entry *v;
    unsigned n;
    unsigned max;
    uint64_t clock; /* For least-recently-used eviction. */
};

/* Start an empty cache of at most @max texts for @conn. */
void stmts_init(struct stmts *s, sqlite3 *conn, unsigned max);

/* Finalize every statement and free the cache. */
void stmts_close(struct stmts *s);

/* The statement for @sql under @tag, compiled now if it is not kept yet.
 * Returns SQLITE_OK with *@stmt set (give it back with stmts_give()), or
 * SQLITE_OK with *@stmt NULL when @sql is not exactly one statement, is too
 * long to keep, or its statement is already out: compile it yourself. Any
 * other code is the compile error, with the connection's error message set
 * as sqlite3_prepare_v2() would have left it. */
int stmts_take(struct stmts *s, int tag, const char *sql, sqlite3_stmt **stmt);

/* Give back a statement from stmts_take(): reset, bindings cleared. */
void stmts_give(struct stmts *s, sqlite3_stmt *stmt);

/* A kept statement for @sql under any tag, not taken, for reading what it
 * is (sqlite3_stmt_readonly(), sqlite3_column_count()) without running it;
 * NULL if there is none. */
sqlite3_stmt *stmts_peek(struct stmts *s, const char *sql);

#endif /* WR_FSM_STMTS_H */
