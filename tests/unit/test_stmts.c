/*
 * Unit tests for the kept prepared statements (fsm/stmts.c), on an
 * in-memory SQLite connection.
 *
 * What a kept statement must never do: carry a binding or a half-run state
 * from its last use into the next, be handed out twice at once, be handed to
 * a caller of another tag, or run a text of several statements as its first
 * one. Each test below is one of those scenarios.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "../../fsm/stmts.h"

struct fixture {
    sqlite3 *conn;
    struct stmts s;
};

static int setup(void **state)
{
    static struct fixture t;

    memset(&t, 0, sizeof t);
    assert_int_equal(sqlite3_open(":memory:", &t.conn), SQLITE_OK);
    assert_int_equal(sqlite3_exec(t.conn,
                                  "CREATE TABLE t (k INTEGER PRIMARY KEY, v);"
                                  "INSERT INTO t VALUES (1, 'one'), (2, 'two')",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    stmts_init(&t.s, t.conn, 4);
    *state = &t;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *t = *state;

    stmts_close(&t->s);
    /* Fails with SQLITE_BUSY if a statement was left unfinalized. */
    assert_int_equal(sqlite3_close(t->conn), SQLITE_OK);
    return 0;
}

static sqlite3_stmt *take(struct fixture *t, int tag, const char *sql)
{
    sqlite3_stmt *stmt = NULL;

    assert_int_equal(stmts_take(&t->s, tag, sql, &stmt), SQLITE_OK);
    return stmt;
}

/* The same text under the same tag gets the same statement back, reset and
 * with its binding cleared, even after it was given back half-run. */
static void same_text_same_statement_reset(void **state)
{
    struct fixture *t = *state;
    const char *sql = "SELECT v FROM t WHERE k = ?";
    sqlite3_stmt *a = take(t, 0, sql);
    sqlite3_stmt *b;

    assert_non_null(a);
    sqlite3_bind_int(a, 1, 2);
    assert_int_equal(sqlite3_step(a), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(a, 0), "two");
    stmts_give(&t->s, a); /* Half-run: one row not yet stepped past. */

    b = take(t, 0, sql);
    assert_ptr_equal(a, b);
    assert_int_equal(sqlite3_stmt_busy(b), 0);
    /* No binding: k = NULL matches nothing. */
    assert_int_equal(sqlite3_step(b), SQLITE_DONE);
    stmts_give(&t->s, b);
}

/* A statement that is out is not handed out again; the second caller is
 * told to compile the text itself. */
static void taken_statement_not_handed_twice(void **state)
{
    struct fixture *t = *state;
    sqlite3_stmt *a = take(t, 0, "SELECT count(*) FROM t");
    sqlite3_stmt *b = take(t, 0, "SELECT count(*) FROM t");

    assert_non_null(a);
    assert_null(b);
    stmts_give(&t->s, a);
    assert_ptr_equal(take(t, 0, "SELECT count(*) FROM t"), a);
    stmts_give(&t->s, a);
}

/* A statement compiled under one tag is not handed to another. */
static void tags_do_not_share(void **state)
{
    struct fixture *t = *state;
    sqlite3_stmt *a = take(t, 1, "SELECT 1");
    sqlite3_stmt *b = take(t, 2, "SELECT 1");

    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    stmts_give(&t->s, a);
    stmts_give(&t->s, b);
    /* peek finds either, for reading what it is. */
    assert_non_null(stmts_peek(&t->s, "SELECT 1"));
    assert_null(stmts_peek(&t->s, "SELECT 2"));
}

/* A text of two statements is not kept as its first: the caller compiles
 * it, and is told so again the next time without a second compile. */
static void several_statements_not_kept(void **state)
{
    struct fixture *t = *state;
    const char *sql = "UPDATE t SET v = 'x'; DELETE FROM t";

    assert_null(take(t, 0, sql));
    assert_null(take(t, 0, sql));
    assert_null(stmts_peek(&t->s, sql));
    /* Trailing blanks and a semicolon are still one statement. */
    sqlite3_stmt *one = take(t, 0, "SELECT v FROM t;  \n");
    assert_non_null(one);
    stmts_give(&t->s, one);
}

/* A text that does not compile gets SQLite's error and the connection's
 * message, and is not kept: it may compile after a schema change. */
static void compile_error_reported_not_kept(void **state)
{
    struct fixture *t = *state;
    sqlite3_stmt *stmt = NULL;

    assert_int_equal(stmts_take(&t->s, 0, "SELECT * FROM later", &stmt),
                     SQLITE_ERROR);
    assert_null(stmt);
    assert_non_null(strstr(sqlite3_errmsg(t->conn), "no such table"));
    assert_int_equal(sqlite3_exec(t->conn, "CREATE TABLE later (x)", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    stmt = take(t, 0, "SELECT * FROM later");
    assert_non_null(stmt);
    assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
    stmts_give(&t->s, stmt);
}

/* After a schema change a kept statement runs against the new schema. */
static void kept_statement_follows_schema(void **state)
{
    struct fixture *t = *state;
    sqlite3_stmt *stmt = take(t, 0, "SELECT * FROM t WHERE k = 1");

    assert_int_equal(sqlite3_column_count(stmt), 2);
    stmts_give(&t->s, stmt);
    assert_int_equal(sqlite3_exec(t->conn, "ALTER TABLE t ADD COLUMN w",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    stmt = take(t, 0, "SELECT * FROM t WHERE k = 1");
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_int_equal(sqlite3_column_count(stmt), 3);
    stmts_give(&t->s, stmt);
}

/* Past its size the cache drops the least recently used statement that is
 * not out; with every statement out, a new text runs uncached and is
 * finalized when given back (teardown's close checks nothing is left). */
static void eviction_spares_statements_out(void **state)
{
    struct fixture *t = *state;
    sqlite3_stmt *out[4];
    sqlite3_stmt *extra;
    char sql[32];

    for (int i = 0; i < 4; i++) {
        snprintf(sql, sizeof sql, "SELECT %d", i);
        out[i] = take(t, 0, sql);
        assert_non_null(out[i]);
    }
    extra = take(t, 0, "SELECT 99");
    assert_non_null(extra);
    assert_int_equal(sqlite3_step(extra), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(extra, 0), 99);
    stmts_give(&t->s, extra);
    for (int i = 0; i < 4; i++) {
        stmts_give(&t->s, out[i]);
    }
    /* "SELECT 0" is the least recently used: "SELECT 5" takes its place. */
    assert_non_null(stmts_peek(&t->s, "SELECT 1"));
    extra = take(t, 0, "SELECT 5");
    stmts_give(&t->s, extra);
    assert_null(stmts_peek(&t->s, "SELECT 0"));
    assert_non_null(stmts_peek(&t->s, "SELECT 1"));
    assert_non_null(stmts_peek(&t->s, "SELECT 5"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(same_text_same_statement_reset, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(taken_statement_not_handed_twice,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(tags_do_not_share, setup, teardown),
        cmocka_unit_test_setup_teardown(several_statements_not_kept, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(compile_error_reported_not_kept,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(kept_statement_follows_schema, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(eviction_spares_statements_out, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
