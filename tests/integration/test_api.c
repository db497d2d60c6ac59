/*
 * libwalraft's API (client/walraft.h) against a live cluster, through
 * nothing but the public header, linked like a user's program.
 *
 *   test_api checks ADDRESSES FOLLOWER
 *
 * runs the scenarios below in order and prints one "ok:" or "FAIL:" line
 * per check (exit 0 if every check held). FOLLOWER is a node that is not
 * the leader.
 *
 *   test_api load ADDRESSES DB SECONDS FILE [--no-sessions]
 *
 * inserts keys 1, 2, ... into table w of database DB, one statement
 * at a time, for SECONDS seconds, and writes one line per key to FILE:
 * "ok K" (acknowledged), "maybe K MESSAGE" (the library said the outcome is
 * unknown: with sessions off, a write is not retried after that) or
 * "fail K MESSAGE" (definitely not written). Every 50 writes it reads the
 * row count back, which must be at least the writes acknowledged so far.
 * Exit 0 unless a write failed definitely, a read failed or was stale, or,
 * with sessions, a write was left unknown or nothing was retried (the
 * script kills the leader during the load).
 *
 *   test_api fake PORT
 *
 * checks what a live cluster cannot show on demand, against a fake node
 * on 127.0.0.1:PORT that this program runs itself (proto/'s codec, one
 * forked process per connection): a node that refuses exactly-once
 * sessions makes the handle fall back to plain writes once and for good,
 * and a plain write whose connection drops is reported indefinite and not
 * sent again; a node that serves sessions gets the retry of a dropped
 * write with the same client id and sequence number.
 *
 *   test_api verify ADDRESSES DB FILE
 *
 * reads table w of DB back: every "ok" key is there exactly once, a "maybe" key
 * at most once, a "fail" key not at all, and no other key. Exit 0 if so.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The fake node speaks the protocol with the tree's codec; its error
 * table comes first, so walraft.h skips its identical copy. The API checks
 * use nothing but walraft.h. */
#include "lib/buf.h"
#include "lib/err.h"
#include "proto/wire.h"
#include "walraft.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned failures;

static void check(bool ok, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    printf("%s: ", ok ? "ok" : "FAIL");
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    va_end(ap);
    failures += !ok;
}

static wr_db *open_db(const char *addresses, const char *name, int level)
{
    struct wr_options o = {.database = name,
                           .consistency = level,
                           .failover_timeout_ms = 20000};
    wr_db *db = NULL;
    int rv = wr_open(addresses, &o, &db);
    if (rv != WR_OK) {
        fprintf(stderr, "wr_open %s: %s\n", addresses, wr_errstr(rv));
        exit(1);
    }
    return db;
}

static bool exec_ok(wr_db *db, const char *sql)
{
    int rv = wr_exec(db, sql, NULL, NULL, NULL);
    if (rv != WR_OK) {
        printf("  exec \"%s\": %s\n", sql, wr_errmsg(db));
    }
    return rv == WR_OK;
}

/* The one integer that @sql returns, or INT64_MIN on error. */
static int64_t one_int(wr_db *db, const char *sql)
{
    wr_stmt *s;
    int64_t v = INT64_MIN;

    if (wr_prepare(db, sql, -1, &s, NULL) != WR_OK) {
        return v;
    }
    if (wr_step(s) == WR_ROW) {
        v = wr_column_int64(s, 0);
    } else {
        printf("  \"%s\": %s\n", sql, wr_errmsg(db));
    }
    wr_finalize(s);
    return v;
}

/* Every type round-trips, bound and read back: NULL, integers at the
 * int64 limits, doubles down to subnormals, empty and non-ASCII text,
 * empty blobs and blobs with NUL bytes, a blob larger than one ROWS
 * message. */
static void types_round_trip(const char *all)
{
    static const unsigned char nuls[] = {0, 1, 0, 0xff, 0, 'a', 0};
    size_t big_n = 300 * 1024;
    unsigned char *big = malloc(big_n);
    wr_db *db = open_db(all, "api", WR_LEVEL_DEFAULT);
    wr_stmt *ins;
    wr_stmt *sel;
    int i;
    struct {
        int type;
        int64_t i;
        double d;
        const void *p;
        int n;
    } cases[] = {
        {WR_NULL, 0, 0, NULL, 0},
        {WR_INTEGER, INT64_MIN, 0, NULL, 0},
        {WR_INTEGER, INT64_MAX, 0, NULL, 0},
        {WR_INTEGER, 0, 0, NULL, 0},
        {WR_INTEGER, -1, 0, NULL, 0},
        {WR_FLOAT, 0, 0.0, NULL, 0},
        {WR_FLOAT, 0, -2.5, NULL, 0},
        {WR_FLOAT, 0, 3.141592653589793, NULL, 0},
        {WR_FLOAT, 0, 1.7976931348623157e308, NULL, 0},
        {WR_FLOAT, 0, 2.2250738585072014e-308, NULL, 0},
        {WR_FLOAT, 0, 4.9e-324, NULL, 0},
        {WR_TEXT, 0, 0, "", 0},
        {WR_TEXT, 0, 0, "h\xc3\xa9llo \xe2\x98\x83 'quoted' \"x\"", -1},
        {WR_TEXT, 0, 0, "12345678", 8},
        {WR_BLOB, 0, 0, "", 0},
        {WR_BLOB, 0, 0, nuls, (int)sizeof nuls},
        {WR_BLOB, 0, 0, NULL, 0}, /* big, below */
    };
    int n = (int)(sizeof cases / sizeof cases[0]);

    for (size_t k = 0; k < big_n; k++) {
        big[k] = (unsigned char)(k * 7 + (k >> 9));
    }
    big[17] = 0;
    cases[n - 1].p = big;
    cases[n - 1].n = (int)big_n;

    check(exec_ok(db, "DROP TABLE IF EXISTS types;"
                      "CREATE TABLE types (i INTEGER PRIMARY KEY, v)"),
          "types: create table");
    check(wr_prepare(db, "INSERT INTO types (i, v) VALUES (?, ?)", -1, &ins,
                     NULL) == WR_OK,
          "types: prepare insert");
    for (i = 0; i < n; i++) {
        int rv;
        wr_reset(ins);
        wr_bind_int64(ins, 1, i);
        switch (cases[i].type) {
            case WR_NULL:
                rv = wr_bind_null(ins, 2);
                break;
            case WR_INTEGER:
                rv = wr_bind_int64(ins, 2, cases[i].i);
                break;
            case WR_FLOAT:
                rv = wr_bind_double(ins, 2, cases[i].d);
                break;
            case WR_TEXT:
                rv = wr_bind_text(ins, 2, cases[i].p, cases[i].n);
                break;
            default:
                rv = wr_bind_blob(ins, 2, cases[i].p, cases[i].n);
                break;
        }
        rv = rv == WR_OK ? wr_step(ins) : rv;
        check(rv == WR_DONE && wr_changes(db) == 1 &&
                  wr_last_insert_rowid(db) == i,
              "types: insert case %d (type %d): %s", i, cases[i].type,
              rv == WR_DONE ? "done" : wr_errmsg(db));
    }
    wr_finalize(ins);

    check(wr_prepare(db, "SELECT i, v, typeof(v) FROM types ORDER BY i", -1,
                     &sel, NULL) == WR_OK,
          "types: prepare select");
    check(wr_column_count(sel) == 0, "types: no columns before the first step");
    for (i = 0; i < n; i++) {
        int rv = wr_step(sel);
        bool ok = rv == WR_ROW && wr_column_int64(sel, 0) == i &&
                  wr_column_type(sel, 1) == cases[i].type &&
                  wr_column_count(sel) == 3;
        if (ok) {
            switch (cases[i].type) {
                case WR_INTEGER:
                    ok = wr_column_int64(sel, 1) == cases[i].i;
                    break;
                case WR_FLOAT: {
                    double d = wr_column_double(sel, 1);
                    ok = memcmp(&d, &cases[i].d, sizeof d) == 0;
                    break;
                }
                case WR_TEXT: {
                    size_t len = cases[i].n < 0 ? strlen(cases[i].p)
                                                : (size_t)cases[i].n;
                    const char *t = wr_column_text(sel, 1);
                    ok = t != NULL &&
                         (size_t)wr_column_bytes(sel, 1) == len &&
                         memcmp(t, cases[i].p, len) == 0 && t[len] == '\0';
                    break;
                }
                case WR_BLOB: {
                    const void *b = wr_column_blob(sel, 1);
                    int len = wr_column_bytes(sel, 1);
                    ok = len == cases[i].n &&
                         (len == 0 || memcmp(b, cases[i].p, (size_t)len) == 0);
                    break;
                }
                default:
                    ok = wr_column_text(sel, 1) == NULL &&
                         wr_column_bytes(sel, 1) == 0;
                    break;
            }
        }
        check(ok, "types: case %d reads back as type %d (%s)", i,
              cases[i].type,
              rv == WR_ROW ? wr_column_text(sel, 2) : wr_errmsg(db));
    }
    check(wr_step(sel) == WR_DONE, "types: then WR_DONE");
    check(strcmp(wr_column_name(sel, 0), "i") == 0 &&
              strcmp(wr_column_name(sel, 2), "typeof(v)") == 0,
          "types: column names");
    wr_finalize(sel);

    /* Conversions, as SQLite makes them. */
    check(wr_prepare(db, "SELECT 42, 1.5, '17abc', NULL", -1, &sel, NULL) ==
                  WR_OK &&
              wr_step(sel) == WR_ROW &&
              strcmp(wr_column_text(sel, 0), "42") == 0 &&
              strcmp(wr_column_text(sel, 1), "1.5") == 0 &&
              wr_column_int64(sel, 2) == 17 &&
              wr_column_double(sel, 0) == 42.0 &&
              wr_column_text(sel, 3) == NULL &&
              wr_column_int64(sel, 3) == 0,
          "types: conversions between integer, float, text and NULL");
    wr_finalize(sel);

    check(wr_prepare(db, "SELECT ?", -1, &sel, NULL) == WR_OK &&
              wr_bind_text(sel, 1, "a\0b", 3) == WR_INVALID &&
              wr_error_definite(db) &&
              wr_bind_int64(sel, 0, 1) == WR_INVALID &&
              wr_bind_int64(sel, 40000, 1) == WR_INVALID,
          "types: text with a NUL byte and out-of-range parameters are "
          "refused");
    wr_finalize(sel);
    free(big);
    wr_close(db);
}

/* A result set of many ROWS messages arrives whole, and two such
 * statements stepped in turns on one handle each see all their rows. */
static void large_results(const char *all)
{
    wr_db *db = open_db(all, "api", WR_LEVEL_DEFAULT);
    wr_stmt *a;
    wr_stmt *b;
    int64_t na = 0;
    int64_t nb = 0;
    int64_t sum = 0;
    int ra = WR_ROW;
    int rb = WR_ROW;

    check(exec_ok(db, "DROP TABLE IF EXISTS big;"
                      "CREATE TABLE big (n INTEGER, pad TEXT);"
                      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT "
                      "x + 1 FROM c WHERE x < 20000) INSERT INTO big "
                      "SELECT x, printf('%050d', x) FROM c"),
          "large: 20000 rows of about 60 bytes (WITH ... INSERT sent "
          "as EXEC)");
    wr_prepare(db, "SELECT n, pad FROM big ORDER BY n", -1, &a, NULL);
    wr_prepare(db, "SELECT n FROM big ORDER BY n DESC", -1, &b, NULL);
    while (ra == WR_ROW || rb == WR_ROW) {
        if (ra == WR_ROW && (ra = wr_step(a)) == WR_ROW) {
            na++;
            sum += wr_column_int64(a, 0);
            if (na == 1) {
                check(wr_column_bytes(a, 1) == 50, "large: padded text");
            }
        }
        if (rb == WR_ROW && (rb = wr_step(b)) == WR_ROW) {
            if (nb == 0) {
                check(wr_column_int64(b, 0) == 20000,
                      "large: the second statement's first row");
            }
            nb++;
        }
    }
    check(ra == WR_DONE && rb == WR_DONE && na == 20000 && nb == 20000 &&
              sum == 20000LL * 20001 / 2,
          "large: both statements saw all rows (%" PRId64 ", %" PRId64
          ", sum %" PRId64 ")",
          na, nb, sum);
    wr_finalize(a);
    wr_finalize(b);

    /* A statement abandoned halfway does not block the handle. */
    wr_prepare(db, "SELECT n FROM big", -1, &a, NULL);
    check(wr_step(a) == WR_ROW && wr_reset(a) == WR_OK &&
              one_int(db, "SELECT count(*) FROM big") == 20000 &&
              wr_step(a) == WR_ROW && wr_finalize(a) == WR_OK &&
              one_int(db, "SELECT 7") == 7,
          "large: reset and finalize halfway leave the handle usable");
    wr_close(db);
}

static int count_cb(void *arg, int n, char **values, char **names)
{
    int *count = arg;
    (void)n;
    (void)names;
    if (values[0] != NULL && strcmp(values[0], "stop") == 0) {
        return 1;
    }
    (*count)++;
    return 0;
}

/* Bad SQL and constraint violations are WR_SQL with the node's code and
 * sentence, definite; wr_exec() stops at the first failing statement and
 * hands out the message; a callback can stop it. */
static void errors(const char *all)
{
    wr_db *db = open_db(all, "api", WR_LEVEL_DEFAULT);
    char *msg = NULL;
    int count = 0;
    int rv;

    rv = wr_exec(db, "SELEKT 1", NULL, NULL, &msg);
    check(rv == WR_SQL && wr_errcode(db) == WR_SQL &&
              wr_sql_errcode(db) == 1 && wr_error_definite(db) &&
              msg != NULL && strstr(msg, "syntax error") != NULL,
          "errors: bad SQL: code %d, SQLite code %d, \"%s\"", rv,
          wr_sql_errcode(db), msg != NULL ? msg : "(null)");
    wr_free(msg);

    check(exec_ok(db, "DROP TABLE IF EXISTS u; CREATE TABLE u (k TEXT "
                      "UNIQUE); INSERT INTO u VALUES ('a')"),
          "errors: create a table with a unique column");
    rv = wr_exec(db, "INSERT INTO u VALUES ('b'); INSERT INTO u VALUES "
                     "('a'); INSERT INTO u VALUES ('c')",
                 NULL, NULL, NULL);
    check(rv == WR_SQL && (wr_sql_errcode(db) & 0xff) == 19 &&
              wr_error_definite(db) &&
              strstr(wr_errmsg(db), "UNIQUE") != NULL,
          "errors: a unique violation is SQLite code %d, definite: %s",
          wr_sql_errcode(db), wr_errmsg(db));
    check(one_int(db, "SELECT count(*) FROM u") == 2,
          "errors: wr_exec ran the statements before the failing one, "
          "not after");
    rv = wr_exec(db, "SELECT * FROM no_such_table", NULL, NULL, NULL);
    check(rv == WR_SQL && strstr(wr_errmsg(db), "no_such_table") != NULL &&
              wr_error_definite(db),
          "errors: a read of a missing table: %s", wr_errmsg(db));
    check(wr_exec(db, "SELECT 1; SELECT 2", count_cb, &count, NULL) ==
                  WR_OK &&
              count == 2 && wr_errcode(db) == WR_OK,
          "errors: wr_exec calls back once per row and clears the error");
    count = 0;
    check(wr_exec(db, "VALUES ('x'), ('stop'), ('y')", count_cb, &count,
                  NULL) == WR_ABORT &&
              count == 1 && one_int(db, "SELECT 3") == 3,
          "errors: a callback returning non-zero stops wr_exec with "
          "WR_ABORT");
    check(wr_exec(db,
                  "CREATE TRIGGER IF NOT EXISTS u_log AFTER INSERT ON u "
                  "BEGIN INSERT INTO u VALUES (new.k || '!'); "
                  "SELECT 1; END; INSERT INTO u VALUES ('t') -- done",
                  NULL, NULL, NULL) == WR_OK &&
              one_int(db, "SELECT count(*) FROM u WHERE k LIKE 't%'") == 2,
          "errors: a trigger body's semicolons do not split statements");
    check(wr_exec(db,
                  "CREATE TABLE IF NOT EXISTS w(k TEXT);"
                  "CREATE TRIGGER IF NOT EXISTS w_case AFTER INSERT ON w "
                  "BEGIN INSERT INTO u SELECT 'case-a' WHERE 1 = CASE "
                  "WHEN new.k = 'a' THEN 1 ELSE 0 END; END; INSERT INTO w "
                  "VALUES ('a')",
                  NULL, NULL, NULL) == WR_OK &&
              one_int(db, "SELECT count(*) FROM u WHERE k = 'case-a'") == 1,
          "errors: the END of a CASE inside a trigger does not end it: %s",
          wr_errmsg(db));
    wr_close(db);
}

/* COMMIT makes a transaction's writes visible to other handles, ROLLBACK
 * drops them, and a transaction sees its own writes before it commits. */
static void transactions(const char *all, const char *follower)
{
    wr_db *db = open_db(follower, "api", WR_LEVEL_DEFAULT);
    wr_db *other = open_db(all, "api", WR_LEVEL_DEFAULT);

    check(exec_ok(db, "DROP TABLE IF EXISTS tx; CREATE TABLE tx (n)"),
          "tx: create table");
    check(wr_begin(db) == WR_OK && wr_in_transaction(db),
          "tx: BEGIN through a handle listing only a follower");
    check(exec_ok(db, "INSERT INTO tx VALUES (1); INSERT INTO tx VALUES (2)"),
          "tx: two inserts");
    check(one_int(db, "SELECT count(*) FROM tx") == 2,
          "tx: the transaction sees its own writes");
    check(one_int(other, "SELECT count(*) FROM tx") == 0,
          "tx: another handle does not, yet");
    check(wr_commit(db) == WR_OK && !wr_in_transaction(db), "tx: COMMIT");
    check(one_int(other, "SELECT count(*) FROM tx") == 2,
          "tx: after COMMIT another handle sees both rows");

    check(exec_ok(db, "BEGIN; INSERT INTO tx VALUES (3)") &&
              wr_in_transaction(db) && wr_rollback(db) == WR_OK &&
              !wr_in_transaction(db),
          "tx: BEGIN and an insert through wr_exec, then ROLLBACK");
    check(one_int(other, "SELECT count(*) FROM tx") == 2 &&
              one_int(db, "SELECT count(*) FROM tx") == 2,
          "tx: the rolled-back row is nowhere");
    check(wr_commit(db) == WR_SQL && wr_error_definite(db) &&
              !wr_in_transaction(db),
          "tx: COMMIT without a transaction fails: %s", wr_errmsg(db));
    wr_close(db);
    wr_close(other);
}

/* Reads at every level see the handle's writes; a handle listing only a
 * follower, reading at level NONE with a writer's bookmark, sees that
 * write at once; a bookmark the cluster never reached fails, definite. */
static void levels_and_bookmarks(const char *all, const char *follower)
{
    wr_db *w = open_db(all, "api", WR_LEVEL_DEFAULT);
    wr_db *r = open_db(follower, "api", WR_LEVEL_NONE);
    wr_db *self = open_db(follower, "api", WR_LEVEL_NONE);
    wr_stmt *s;
    uint64_t b0;
    int level;
    int i;

    check(exec_ok(w, "DROP TABLE IF EXISTS bm; CREATE TABLE bm (n)"),
          "levels: create table");
    for (level = WR_LEVEL_NONE; level <= WR_LEVEL_STRONG; level++) {
        char sql[64];
        snprintf(sql, sizeof sql, "INSERT INTO bm VALUES (%d)", level);
        b0 = wr_bookmark(w);
        check(exec_ok(w, sql) && wr_bookmark(w) > b0 &&
                  wr_set_consistency(w, level, 0) == WR_OK &&
                  one_int(w, "SELECT count(*) FROM bm") == level,
              "levels: level %d sees the handle's write (bookmark %" PRIu64
              ")",
              level, wr_bookmark(w));
    }
    check(wr_set_consistency(w, 9, 0) == WR_INVALID,
          "levels: an unknown level is refused");

    /* Many writes, each read back at once on the follower with the
     * writer's bookmark at level NONE: never a stale answer. */
    for (i = 0; i < 50; i++) {
        int64_t got;
        char sql[64];
        snprintf(sql, sizeof sql, "INSERT INTO bm VALUES (%d)", 100 + i);
        if (!exec_ok(w, sql)) {
            check(false, "bookmark: write %d", i);
            break;
        }
        wr_set_bookmark(r, wr_bookmark(w));
        got = one_int(r, "SELECT count(*) FROM bm");
        if (got != 5 + i) {
            check(false, "bookmark: read %d on the follower saw %" PRId64
                         " rows, not %d", i, got, 5 + i);
            break;
        }
    }
    check(i == 50, "bookmark: 50 writes each read back at level NONE on %s",
          follower);
    check(wr_bookmark(r) >= wr_bookmark(w),
          "bookmark: the reader's bookmark rose to the writer's");
    check(wr_set_consistency(r, WR_LEVEL_NONE, 60000) == WR_OK &&
              one_int(r, "SELECT count(*) FROM bm") == 54 &&
              wr_set_consistency(r, WR_LEVEL_NONE, 0) == WR_OK,
          "levels: NONE with a max staleness on a follower that hears from "
          "its leader");

    /* Per statement: level and bookmark. */
    wr_prepare(r, "SELECT count(*) FROM bm", -1, &s, NULL);
    check(wr_stmt_set_consistency(s, WR_LEVEL_LINEARIZABLE, 0) == WR_OK &&
              wr_step(s) == WR_ROW && wr_column_int64(s, 0) == 54 &&
              wr_stmt_bookmark(s) >= wr_bookmark(w),
          "bookmark: a linearizable statement on a handle at NONE");
    wr_reset(s);
    wr_stmt_set_consistency(s, WR_LEVEL_DEFAULT, 0);
    wr_stmt_set_bookmark(s, wr_bookmark(w) + 1000000);
    check(wr_step(s) == WR_SQL && wr_error_definite(wr_db_handle(s)) &&
              strstr(wr_errmsg(r), "bookmark") != NULL,
          "bookmark: one the cluster never reached fails, definite: %s",
          wr_errmsg(r));
    wr_finalize(s);

    /* A handle reads its own writes on a follower at level NONE. */
    for (i = 0; i < 20; i++) {
        char sql[64];
        snprintf(sql, sizeof sql, "INSERT INTO bm VALUES (%d)", 1000 + i);
        if (!exec_ok(self, sql) ||
            one_int(self, "SELECT count(*) FROM bm WHERE n >= 1000") !=
                i + 1) {
            break;
        }
    }
    check(i == 20, "bookmark: a handle on a follower reads its own 20 "
                   "writes at level NONE");
    check(wr_sessions(self) == 0 || wr_sessions(self) == 1,
          "sessions: the handle %s exactly-once sessions",
          wr_sessions(self) == 1 ? "uses" : "fell back from");
    printf("info: sessions %s\n", wr_sessions(self) == 1 ? "on" : "off");

    wr_close(w);
    wr_close(r);
    wr_close(self);
}

/* INSERT ... RETURNING hands back its rows and writes once; a PRAGMA or
 * a WITH ... INSERT without rows is resent as EXEC and runs once. */
static void returning(const char *all)
{
    wr_db *db = open_db(all, "api", WR_LEVEL_DEFAULT);
    wr_stmt *s;

    check(exec_ok(db, "DROP TABLE IF EXISTS ret; CREATE TABLE ret (id "
                      "INTEGER PRIMARY KEY, v)"),
          "returning: create table");
    wr_prepare(db, "INSERT INTO ret (v) VALUES ('a'), ('b') RETURNING id, v",
               -1, &s, NULL);
    check(wr_step(s) == WR_ROW && wr_column_int64(s, 0) == 1 &&
              wr_step(s) == WR_ROW &&
              strcmp(wr_column_text(s, 1), "b") == 0 &&
              wr_step(s) == WR_DONE,
          "returning: two rows back");
    wr_finalize(s);
    check(one_int(db, "SELECT count(*) FROM ret") == 2,
          "returning: written once");
    check(exec_ok(db, "WITH x(v) AS (VALUES ('c')) INSERT INTO ret (v) "
                      "SELECT v FROM x") &&
              wr_changes(db) == 1 &&
              one_int(db, "SELECT count(*) FROM ret") == 3,
          "returning: WITH ... INSERT without rows");
    check(exec_ok(db, "PRAGMA user_version = 7") &&
              one_int(db, "PRAGMA user_version") == 7,
          "returning: PRAGMA set and read");
    wr_close(db);
}

/* A handle opened with WR_OPEN_NO_SESSIONS writes without them; a
 * handle on no reachable node fails with WR_IOERR or WR_NOTLEADER,
 * definite, within its failover timeout. */
static void options(const char *all)
{
    struct wr_options o = {.database = "api", .flags = WR_OPEN_NO_SESSIONS};
    struct wr_options dead = {.connect_timeout_ms = 200,
                              .failover_timeout_ms = 1000};
    wr_db *db = NULL;
    int rv;

    check(wr_open(all, &o, &db) == WR_OK && wr_sessions(db) == 0 &&
              exec_ok(db, "INSERT INTO ret (v) VALUES ('plain')") &&
              wr_sessions(db) == 0,
          "options: WR_OPEN_NO_SESSIONS writes without sessions");
    wr_close(db);
    check(wr_open("", NULL, &db) == WR_INVALID && db == NULL &&
              wr_open("a,,b", NULL, &db) == WR_INVALID,
          "options: empty addresses are refused");
    check(wr_open("127.0.0.1:1", &dead, &db) == WR_OK, "options: lazy open");
    rv = wr_exec(db, "INSERT INTO x VALUES (1)", NULL, NULL, NULL);
    check((rv == WR_IOERR || rv == WR_NOTLEADER) && wr_error_definite(db),
          "options: no node: %s, definite: %s", wr_errstr(rv),
          wr_errmsg(db));
    rv = wr_exec(db, "SELECT 1", NULL, NULL, NULL);
    check(rv == WR_IOERR && wr_error_definite(db),
          "options: a read with no node: %s", wr_errmsg(db));
    wr_close(db);
}

static int checks(const char *all, const char *follower)
{
    types_round_trip(all);
    large_results(all);
    errors(all);
    transactions(all, follower);
    levels_and_bookmarks(all, follower);
    returning(all);
    options(all);
    printf("%u check(s) failed\n", failures);
    return failures == 0 ? 0 : 1;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int load(const char *all,
                const char *name,
                unsigned seconds,
                const char *file,
                bool sessions)
{
    struct wr_options o = {.database = name,
                           .failover_timeout_ms = 20000,
                           .request_timeout_ms = 5000,
                           .flags = sessions ? 0 : WR_OPEN_NO_SESSIONS};
    uint64_t end = now_ms() + seconds * 1000ull;
    FILE *out = fopen(file, "w");
    wr_db *db;
    wr_stmt *s;
    int64_t k;
    unsigned ok = 0, maybe = 0, fail = 0, reads = 0, stale = 0;
    bool used;

    if (out == NULL || wr_open(all, &o, &db) != WR_OK) {
        return 1;
    }
    if (!exec_ok(db, "CREATE TABLE IF NOT EXISTS w (k INTEGER)")) {
        return 1;
    }
    wr_prepare(db, "INSERT INTO w (k) VALUES (?)", -1, &s, NULL);
    for (k = 1; now_ms() < end; k++) {
        int rv;
        wr_reset(s);
        wr_bind_int64(s, 1, k);
        rv = wr_step(s);
        if (rv == WR_DONE) {
            fprintf(out, "ok %" PRId64 "\n", k);
            ok++;
        } else if (!wr_error_definite(db)) {
            fprintf(out, "maybe %" PRId64 " %s\n", k, wr_errmsg(db));
            maybe++;
        } else {
            fprintf(out, "fail %" PRId64 " %s\n", k, wr_errmsg(db));
            fail++;
        }
        fflush(out);
        if (k % 50 == 0) {
            /* Read-your-writes across the failover, on whichever node
             * the handle reads from. */
            int64_t n = one_int(db, "SELECT count(*) FROM w");
            if (n < (int64_t)ok) {
                printf("load: read %" PRId64 " rows after %u acknowledged "
                       "writes: %s\n",
                       n, ok, n == INT64_MIN ? wr_errmsg(db) : "stale");
                stale++;
            }
            reads++;
        }
    }
    used = wr_sessions(db) == 1;
    printf("load: %u acknowledged, %u unknown, %u failed; %u reads, %u "
           "stale or failed; %" PRIu64 " retries; sessions %s\n",
           ok, maybe, fail, reads, stale, wr_retries(db), used ? "on" : "off");
    if (sessions && used && wr_retries(db) == 0) {
        printf("load: the leader was killed, yet nothing was retried\n");
        fail++;
    }
    wr_finalize(s);
    wr_close(db);
    fclose(out);
    if (fail > 0 || stale > 0 || (used && maybe > 0)) {
        return 1;
    }
    return 0;
}

static int verify(const char *all, const char *name, const char *file)
{
    wr_db *db = open_db(all, name, WR_LEVEL_DEFAULT);
    FILE *in = fopen(file, "r");
    char line[512];
    char *state = NULL;
    int64_t max = 0;
    int64_t *seen = NULL;
    wr_stmt *s;
    unsigned bad = 0, doubled = 0, lost = 0;
    int rv;

    if (in == NULL) {
        return 1;
    }
    /* state[k]: 'o' ok, 'm' maybe, 'f' fail. */
    while (fgets(line, sizeof line, in) != NULL) {
        char kind[8];
        int64_t k;
        if (sscanf(line, "%7s %" SCNd64, kind, &k) != 2 || k < 1) {
            continue;
        }
        if (k > max) {
            state = realloc(state, (size_t)k + 1);
            memset(state + max + 1, 0, (size_t)(k - max));
            max = k;
        }
        state[k] = kind[0];
    }
    fclose(in);
    seen = calloc((size_t)max + 2, sizeof *seen);
    wr_prepare(db, "SELECT k FROM w", -1, &s, NULL);
    while ((rv = wr_step(s)) == WR_ROW) {
        int64_t k = wr_column_int64(s, 0);
        if (k < 1 || k > max) {
            bad++;
        } else {
            seen[k]++;
        }
    }
    wr_finalize(s);
    if (rv != WR_DONE) {
        printf("verify: read: %s\n", wr_errmsg(db));
        return 1;
    }
    for (int64_t k = 1; k <= max; k++) {
        if (seen[k] > 1) {
            printf("verify: key %" PRId64 " is there %" PRId64 " times\n", k,
                   seen[k]);
            doubled++;
        } else if (state[k] == 'o' && seen[k] == 0) {
            printf("verify: acknowledged key %" PRId64 " is missing\n", k);
            lost++;
        } else if (state[k] == 'f' && seen[k] != 0) {
            printf("verify: key %" PRId64 " failed definitely but is "
                   "there\n", k);
            bad++;
        }
    }
    printf("verify: %" PRId64 " keys: %u lost, %u doubled, %u unexpected\n",
           max, lost, doubled, bad);
    free(seen);
    free(state);
    wr_close(db);
    return lost + doubled + bad == 0 ? 0 : 1;
}


/*
 * The fake node.
 */

struct fake_stats {
    unsigned session_refused; /* Session writes refused. */
    unsigned plain;           /* Plain writes seen. */
    unsigned session;         /* Session writes seen (sessions served). */
    unsigned dropped;         /* Connections dropped instead of answering. */
    uint64_t last_client, last_seq;
    unsigned same_id_twice;   /* A session write repeated client and seq. */
};

static bool io_all(int fd, void *p, size_t n, bool writing)
{
    size_t off = 0;
    while (off < n) {
        ssize_t k = writing ? write(fd, (char *)p + off, n - off)
                            : read(fd, (char *)p + off, n - off);
        if (k <= 0) {
            return false;
        }
        off += (size_t)k;
    }
    return true;
}

/* Serve one client connection until it closes. */
static void fake_conn(int fd, const char *self, bool sessions,
                      struct fake_stats *st)
{
    uint8_t word[PROTO_HEADER_SIZE];
    char errmsg[WR_ERRMSG_SIZE];
    struct buf out;

    buf_init(&out);
    if (!io_all(fd, word, sizeof word, false)) {
        return;
    }
    for (;;) {
        struct proto_header h;
        struct proto_request req;
        struct proto_response r;
        struct value row[3];
        const char *names[3] = {"plain", "refused", "dropped"};
        size_t len;
        uint8_t *body;

        if (!io_all(fd, word, sizeof word, false) ||
            proto_header_decode(word, NULL, &h, &len, errmsg) != 0) {
            break;
        }
        body = malloc(len + 1);
        if (body == NULL || !io_all(fd, body, len, false) ||
            proto_request_decode(&h, body, len, NULL, &req, errmsg) != 0) {
            free(body);
            break;
        }
        memset(&r, 0, sizeof r);
        switch (req.type) {
            case PROTO_REQ_LEADER:
                r.kind = PROTO_RESP_SERVER;
                r.server.id = 1;
                r.server.address = self;
                break;
            case PROTO_REQ_OPEN:
                r.kind = PROTO_RESP_DB;
                break;
            case PROTO_REQ_EXEC_SQL_EXT: {
                const struct proto_req_exec_sql_ext *e = &req.exec_sql_ext;
                bool drop = strstr(e->sql, "drop") != NULL;
                if ((e->flags & PROTO_FLAG_SESSION) != 0 && !sessions) {
                    st->session_refused++;
                    r.kind = PROTO_RESP_FAILURE_EXT;
                    r.failure_ext.code = 1;
                    r.failure_ext.flags = PROTO_FLAG_DEFINITE;
                    r.failure_ext.bookmark = 5;
                    r.failure_ext.message = "exactly-once sessions are not "
                                            "served by this node yet "
                                            "(definite)";
                    break;
                }
                if ((e->flags & PROTO_FLAG_SESSION) != 0) {
                    if (st->session > 0 && e->client_id == st->last_client &&
                        e->seq == st->last_seq) {
                        st->same_id_twice++;
                        drop = false; /* The retry is answered. */
                    }
                    st->session++;
                    st->last_client = e->client_id;
                    st->last_seq = e->seq;
                } else {
                    st->plain++;
                }
                if (drop) {
                    st->dropped++;
                    free(body);
                    goto out; /* Hang up without an answer. */
                }
                r.kind = PROTO_RESP_RESULT_EXT;
                r.result_ext.last_insert_id = st->plain + st->session;
                r.result_ext.rows_affected = 1;
                r.result_ext.bookmark = 10 + st->plain + st->session;
                break;
            }
            case PROTO_REQ_QUERY_SQL_EXT:
                /* Every read answers the counters. */
                for (int i = 0; i < 3; i++) {
                    row[i].type = VALUE_INTEGER;
                }
                row[0].integer = st->plain + st->session;
                row[1].integer = st->session_refused;
                row[2].integer = st->dropped;
                r.kind = PROTO_RESP_ROWS_EXT;
                r.rows_ext.bookmark = 100;
                r.rows_ext.rows.n_cols = 3;
                r.rows_ext.rows.names = names;
                r.rows_ext.rows.n_rows = 1;
                r.rows_ext.rows.values = row;
                r.rows_ext.rows.marker = PROTO_ROWS_DONE;
                break;
            default:
                r.kind = PROTO_RESP_FAILURE;
                r.failure.code = 1;
                r.failure.message = "not faked";
                break;
        }
        free(body);
        buf_reset(&out);
        if (proto_response_encode(&out, &r, errmsg) != 0 ||
            !io_all(fd, out.p, out.len, true)) {
            break;
        }
    }
out:
    buf_close(&out);
}

/* Run a fake node on @port in a child process; returns its pid. */
static pid_t fake_start(int port, bool sessions, struct fake_stats *st)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char self[64];
    int one = 1;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    pid_t pid;

    snprintf(self, sizeof self, "127.0.0.1:%d", port);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(lfd, 16) != 0) {
        perror("fake node: bind");
        exit(1);
    }
    pid = fork();
    if (pid != 0) {
        close(lfd);
        return pid;
    }
    signal(SIGCHLD, SIG_IGN); /* No zombies from the per-connection forks. */
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        if (fork() == 0) {
            close(lfd);
            fake_conn(fd, self, sessions, st);
            close(fd);
            _exit(0);
        }
        close(fd);
    }
}

static void fake_stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static int fake(int port)
{
    struct fake_stats *st = mmap(NULL, sizeof *st, PROT_READ | PROT_WRITE,
                                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    struct wr_options o = {.failover_timeout_ms = 3000,
                           .request_timeout_ms = 2000};
    char addr[64];
    wr_db *db;
    pid_t pid;
    int rv;

    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);

    /* A node from before sessions: one refusal, then plain writes. */
    memset(st, 0, sizeof *st);
    pid = fake_start(port, false, st);
    wr_open(addr, &o, &db);
    check(wr_sessions(db) == -1, "fake: sessions unknown before a write");
    rv = wr_exec(db, "INSERT 1", NULL, NULL, NULL);
    check(rv == WR_OK && wr_sessions(db) == 0 && st->session_refused == 1 &&
              st->plain == 1 && wr_bookmark(db) == 11,
          "fake: a node refusing sessions: the write is sent again without "
          "one and succeeds (%s)",
          rv == WR_OK ? "ok" : wr_errmsg(db));
    rv = wr_exec(db, "INSERT 2", NULL, NULL, NULL);
    check(rv == WR_OK && st->session_refused == 1 && st->plain == 2,
          "fake: the fallback holds for the handle: no second refusal");
    rv = wr_exec(db, "INSERT drop", NULL, NULL, NULL);
    check(rv == WR_IOERR && !wr_error_definite(db) && st->plain == 3 &&
              st->dropped == 1,
          "fake: a plain write whose connection drops is indefinite and "
          "sent once: %s",
          wr_errmsg(db));
    check(one_int(db, "SELECT plain") == 3,
          "fake: after the drop the handle reconnects for the next "
          "statement");
    rv = wr_exec(db, "BEGIN", NULL, NULL, NULL);
    check(rv == WR_OK && wr_in_transaction(db), "fake: BEGIN");
    rv = wr_exec(db, "ROLLBACK -- drop", NULL, NULL, NULL);
    check(rv == WR_OK && !wr_in_transaction(db),
          "fake: a ROLLBACK whose connection drops succeeds, the node "
          "rolling back a transaction whose connection goes (%s)",
          rv == WR_OK ? "ok" : wr_errmsg(db));
    rv = wr_exec(db, "INSERT 3", NULL, NULL, NULL);
    check(rv == WR_OK, "fake: and the handle goes on outside it (%s)",
          rv == WR_OK ? "ok" : wr_errmsg(db));
    wr_close(db);
    fake_stop(pid);

    /* A node that serves sessions: the dropped write is retried with the
     * same identity and answered. */
    memset(st, 0, sizeof *st);
    pid = fake_start(port, true, st);
    wr_open(addr, &o, &db);
    rv = wr_exec(db, "INSERT 1", NULL, NULL, NULL);
    check(rv == WR_OK && wr_sessions(db) == 1 && st->session == 1,
          "fake: a node serving sessions gets a session write");
    rv = wr_exec(db, "INSERT drop", NULL, NULL, NULL);
    check(rv == WR_OK && st->dropped == 1 && st->same_id_twice == 1 &&
              st->session == 3 && st->last_seq == 2 && wr_retries(db) == 1,
          "fake: a session write whose connection drops is retried with "
          "the same client id and sequence number (%s)",
          rv == WR_OK ? "ok" : wr_errmsg(db));
    wr_close(db);
    fake_stop(pid);

    munmap(st, sizeof *st);
    printf("%u check(s) failed\n", failures);
    return failures == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && strcmp(argv[1], "checks") == 0) {
        return checks(argv[2], argv[3]);
    }
    if ((argc == 6 || argc == 7) && strcmp(argv[1], "load") == 0) {
        return load(argv[2], argv[3], (unsigned)atoi(argv[4]), argv[5],
                    !(argc == 7 && strcmp(argv[6], "--no-sessions") == 0));
    }
    if (argc == 3 && strcmp(argv[1], "fake") == 0) {
        return fake(atoi(argv[2]));
    }
    if (argc == 5 && strcmp(argv[1], "verify") == 0) {
        return verify(argv[2], argv[3], argv[4]);
    }
    fprintf(stderr,
            "usage: %s checks ADDRESSES FOLLOWER\n"
            "       %s load ADDRESSES DB SECONDS FILE [--no-sessions]\n"
            "       %s verify ADDRESSES DB FILE\n"
            "       %s fake PORT\n",
            argv[0], argv[0], argv[0], argv[0]);
    return 2;
}
