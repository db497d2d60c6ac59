/*
 * Unit tests of the leader-side executor (fsm/exec.c) on a real fsm, with a
 * fake in-process proposer standing in for Raft: it queues each proposal and
 * the test decides when and how it ends (applied with fsm_apply(), failed
 * with an error, or refused synchronously).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "fsm/exec.h"
#include "fsm/fsm.h"
#include "lib/err.h"

#include "fake_proposer.h"

/* Fixture. */

struct fixture {
    char dir[PATH_MAX];
    struct fsm *f;
    struct fake fk;
    struct exec *e;
};

static uint64_t next_node_id = 1;

/* fsm_config.sessions_max for the next setup() (0: the default). */
static unsigned setup_sessions_max;

static int setup(void **state)
{
    struct fixture *t = calloc(1, sizeof *t);
    const char *base = getenv("WR_TEST_TMP");
    struct fsm_config config = {0};
    char errmsg[WR_ERRMSG_SIZE] = "";
    int rv;

    assert_non_null(t);
    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    mkdir(base, 0700); /* ctest names it; it may not exist yet. */
    snprintf(t->dir, sizeof t->dir, "%s/test_exec-XXXXXX", base);
    assert_non_null(mkdtemp(t->dir));

    config.dir = t->dir;
    config.node_id = next_node_id++;
    config.seed = 42;
    config.sessions_max = setup_sessions_max;
    rv = fsm_create(&config, &t->f, errmsg);
    if (rv != 0) {
        print_error("fsm_create: %s\n", errmsg);
    }
    assert_int_equal(rv, 0);

    t->fk.p.data = &t->fk;
    t->fk.p.propose = fake_propose;
    t->fk.f = t->f;
    assert_int_equal(exec_create(t->f, &t->fk.p, &t->e), 0);
    *state = t;
    return 0;
}

static int rm_cb(const char *path,
                 const struct stat *sb,
                 int flag,
                 struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *t = *state;

    /* The node's order: the executor goes, then Raft fires what is left,
     * then the fsm goes. */
    if (t->e != NULL) {
        exec_destroy(t->e);
    }
    while (t->fk.n > 0) {
        fake_fail_next(&t->fk, WR_SHUTDOWN);
    }
    fsm_destroy(t->f);
    nftw(t->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(t);
    return 0;
}

/* Helpers. */

#define DB "db1"

static void count_cb(struct exec_req *req)
{
    int *calls = req->data;
    (*calls)++;
}

static void req_init(struct exec_req *req, const char *sql, int *calls)
{
    memset(req, 0, sizeof *req);
    req->sql = sql;
    req->cb = count_cb;
    req->data = calls;
}

#define assert_req_ok(req)                                              \
    do {                                                                \
        if ((req)->status != 0) {                                       \
            print_error("request failed: %s (%d): %s\n",                \
                        err_str((req)->status), (req)->sqlite_code,     \
                        (req)->errmsg);                                 \
        }                                                               \
        assert_int_equal((req)->status, 0);                             \
    } while (0)

#define assert_contains(haystack, needle)                               \
    do {                                                                \
        if (strstr((haystack), (needle)) == NULL) {                     \
            print_error("\"%s\" does not contain \"%s\"\n", (haystack), \
                        (needle));                                      \
            fail();                                                     \
        }                                                               \
    } while (0)

/* Run @sql as a one-request batch on @db and let it commit. */
static void write_db(struct fixture *t, const char *db, const char *sql)
{
    struct exec_req req;
    struct exec_req *reqs[] = {&req};
    char errmsg[WR_ERRMSG_SIZE] = "";
    int calls = 0;
    int rv;

    req_init(&req, sql, &calls);
    rv = exec_write(t->e, db, reqs, 1, errmsg);
    if (rv != 0) {
        print_error("exec_write: %s\n", errmsg);
    }
    assert_int_equal(rv, 0);
    fake_apply_next(&t->fk);
    assert_int_equal(calls, 1);
    assert_req_ok(&req);
    exec_req_close(&req);
}

static void write1(struct fixture *t, const char *sql)
{
    write_db(t, DB, sql);
}

/* The one integer @sql reads from @db. */
static int64_t read_int_db(struct fixture *t, const char *db, const char *sql)
{
    struct exec_req req;
    int64_t v;

    req_init(&req, sql, NULL);
    assert_int_equal(exec_read(t->e, db, &req), req.status);
    assert_req_ok(&req);
    assert_int_equal(req.rows.n_rows, 1);
    assert_int_equal(req.rows.n_cols, 1);
    assert_int_equal(req.rows.values[0].type, VALUE_INTEGER);
    v = req.rows.values[0].integer;
    exec_req_close(&req);
    return v;
}

static int64_t read_int(struct fixture *t, const char *sql)
{
    return read_int_db(t, DB, sql);
}

static int write_batch(struct fixture *t, struct exec_req **reqs, unsigned n)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    int rv = exec_write(t->e, DB, reqs, n, errmsg);

    if (rv != 0 && rv != WR_BUSY && rv != WR_NOTLEADER) {
        print_error("exec_write: %s\n", errmsg);
    }
    return rv;
}

/* Tests. */

/* A batch of three inserts commits as one entry, and each request gets its
 * own last insert id, change count and the entry's index as bookmark. */
static void batch_of_three_inserts(void **state)
{
    struct fixture *t = *state;
    struct exec_req r[3];
    struct exec_req *reqs[] = {&r[0], &r[1], &r[2]};
    int calls[3] = {0};

    write1(t, "CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)");
    req_init(&r[0], "INSERT INTO t (x) VALUES ('a')", &calls[0]);
    req_init(&r[1], "INSERT INTO t (x) VALUES ('b'), ('c')", &calls[1]);
    req_init(&r[2], "INSERT INTO t (x) VALUES ('d')", &calls[2]);
    assert_int_equal(write_batch(t, reqs, 3), 0);
    assert_int_equal(t->fk.n, 1);
    assert_false(t->fk.last_was_barrier);
    assert_int_equal(calls[0] + calls[1] + calls[2], 0);

    fake_apply_next(&t->fk);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(calls[i], 1);
        assert_req_ok(&r[i]);
        assert_true(r[i].definite == false);
        assert_int_equal(r[i].bookmark, 2);
    }
    assert_int_equal(r[0].last_insert_id, 1);
    assert_int_equal(r[0].changes, 1);
    assert_int_equal(r[1].last_insert_id, 3);
    assert_int_equal(r[1].changes, 2);
    assert_int_equal(r[2].last_insert_id, 4);
    assert_int_equal(r[2].changes, 1);
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 4);
    for (int i = 0; i < 3; i++) {
        exec_req_close(&r[i]);
    }
}

/* The middle request of three violates a UNIQUE constraint: the other two
 * commit, and it alone reports a definite SQLITE_CONSTRAINT_UNIQUE. */
static void unique_violation_fails_only_that_request(void **state)
{
    struct fixture *t = *state;
    struct exec_req r[3];
    struct exec_req *reqs[] = {&r[0], &r[1], &r[2]};
    int calls[3] = {0};

    write1(t, "CREATE TABLE t (x INTEGER UNIQUE)");
    req_init(&r[0], "INSERT INTO t VALUES (1)", &calls[0]);
    req_init(&r[1], "INSERT INTO t VALUES (1)", &calls[1]);
    req_init(&r[2], "INSERT INTO t VALUES (2)", &calls[2]);
    assert_int_equal(write_batch(t, reqs, 3), 0);
    fake_apply_next(&t->fk);

    assert_int_equal(calls[0] + calls[1] + calls[2], 3);
    assert_req_ok(&r[0]);
    assert_int_equal(r[1].status, WR_SQL);
    assert_int_equal(r[1].sqlite_code, SQLITE_CONSTRAINT_UNIQUE);
    assert_true(r[1].definite);
    assert_contains(r[1].errmsg, "UNIQUE");
    assert_req_ok(&r[2]);
    assert_int_equal(r[2].last_insert_id, 2);
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 2);
    assert_int_equal(read_int(t, "SELECT sum(x) FROM t"), 3);
    for (int i = 0; i < 3; i++) {
        exec_req_close(&r[i]);
    }
}

/* INSERT ... RETURNING hands back its rows with their column names. */
static void insert_returning_returns_rows(void **state)
{
    struct fixture *t = *state;
    struct exec_req req;
    struct exec_req *reqs[] = {&req};
    int calls = 0;

    write1(t, "CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER)");
    req_init(&req,
             "INSERT INTO t (x) VALUES (10), (20) RETURNING id, x * 2 AS twice",
             &calls);
    assert_int_equal(write_batch(t, reqs, 1), 0);
    fake_apply_next(&t->fk);

    assert_int_equal(calls, 1);
    assert_req_ok(&req);
    assert_int_equal(req.changes, 2);
    assert_int_equal(req.last_insert_id, 2);
    assert_int_equal(req.rows.n_cols, 2);
    assert_string_equal(req.rows.col_names[0], "id");
    assert_string_equal(req.rows.col_names[1], "twice");
    assert_int_equal(req.rows.n_rows, 2);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(req.rows.values[i].type, VALUE_INTEGER);
    }
    assert_int_equal(req.rows.values[0].integer, 1);
    assert_int_equal(req.rows.values[1].integer, 20);
    assert_int_equal(req.rows.values[2].integer, 2);
    assert_int_equal(req.rows.values[3].integer, 40);
    exec_req_close(&req);
    assert_int_equal(req.rows.n_rows, 0);
    assert_null(req.rows.values);
}

/* A read while a batch is in flight sees the state before the batch; once
 * the entry is applied it sees the batch. */
static void read_during_inflight_batch_sees_committed_state(void **state)
{
    struct fixture *t = *state;
    struct exec_req req;
    struct exec_req *reqs[] = {&req};
    int calls = 0;

    write1(t, "CREATE TABLE t (x INTEGER)");
    write1(t, "INSERT INTO t VALUES (1)");
    req_init(&req, "INSERT INTO t VALUES (2)", &calls);
    assert_int_equal(write_batch(t, reqs, 1), 0);
    assert_true(exec_busy(t->e, DB));

    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 1);
    assert_int_equal(read_int(t, "SELECT max(x) FROM t"), 1);
    assert_int_equal(calls, 0);

    fake_apply_next(&t->fk);
    assert_int_equal(calls, 1);
    assert_req_ok(&req);
    assert_false(exec_busy(t->e, DB));
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 2);
    assert_int_equal(read_int(t, "SELECT max(x) FROM t"), 2);
    exec_req_close(&req);
}

/* Leadership is lost while the batch is in flight: every request that had
 * not failed on its own gets an indefinite WR_LEADERSHIP_LOST, nothing is
 * visible afterwards, and the next batch works. */
static void leadership_lost_makes_requests_indefinite(void **state)
{
    struct fixture *t = *state;
    struct exec_req r[3];
    struct exec_req *reqs[] = {&r[0], &r[1], &r[2]};
    int calls[3] = {0};

    write1(t, "CREATE TABLE t (x INTEGER UNIQUE)");
    write1(t, "INSERT INTO t VALUES (0)");
    req_init(&r[0], "INSERT INTO t VALUES (1) RETURNING x", &calls[0]);
    req_init(&r[1], "INSERT INTO t VALUES (0)", &calls[1]);
    req_init(&r[2], "INSERT INTO t VALUES (2)", &calls[2]);
    assert_int_equal(write_batch(t, reqs, 3), 0);
    fake_fail_next(&t->fk, WR_LEADERSHIP_LOST);

    assert_int_equal(calls[0] + calls[1] + calls[2], 3);
    for (int i = 0; i < 3; i += 2) {
        assert_int_equal(r[i].status, WR_LEADERSHIP_LOST);
        assert_false(r[i].definite);
        assert_contains(r[i].errmsg, "leadership lost");
        assert_contains(r[i].errmsg, "may or may not have been applied");
        assert_int_equal(r[i].rows.n_rows, 0);
        assert_int_equal(r[i].bookmark, 0);
    }
    assert_int_equal(r[1].status, WR_SQL);
    assert_int_equal(r[1].sqlite_code, SQLITE_CONSTRAINT_UNIQUE);
    assert_true(r[1].definite);
    assert_false(exec_busy(t->e, DB));
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 1);

    write1(t, "INSERT INTO t VALUES (1)");
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 2);
    for (int i = 0; i < 3; i++) {
        exec_req_close(&r[i]);
    }
}

/* The proposer refuses at once with WR_NOTLEADER: exec_write() returns it,
 * no callback fires, the database is unchanged and the next batch works. */
static void notleader_at_propose_fires_no_callback(void **state)
{
    struct fixture *t = *state;
    struct exec_req r[2];
    struct exec_req *reqs[] = {&r[0], &r[1]};
    int calls[2] = {0};
    char errmsg[WR_ERRMSG_SIZE] = "";

    write1(t, "CREATE TABLE t (x INTEGER)");
    req_init(&r[0], "INSERT INTO t VALUES (1)", &calls[0]);
    req_init(&r[1], "INSERT INTO t VALUES (2) RETURNING x", &calls[1]);
    t->fk.sync_rv = WR_NOTLEADER;
    assert_int_equal(exec_write(t->e, DB, reqs, 2, errmsg), WR_NOTLEADER);
    assert_contains(errmsg, "not leader");
    assert_int_equal(calls[0] + calls[1], 0);
    assert_int_equal(r[1].rows.n_rows, 0); /* Nothing left to close. */
    assert_false(exec_busy(t->e, DB));
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 0);

    t->fk.sync_rv = 0;
    write1(t, "INSERT INTO t VALUES (3)");
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 1);
    assert_int_equal(read_int(t, "SELECT x FROM t"), 3);
}

/* A second batch on a database with one in flight is refused with WR_BUSY,
 * while another database may run its own batch at the same time. */
static void write_while_busy_is_refused(void **state)
{
    struct fixture *t = *state;
    struct exec_req a, b, c;
    struct exec_req *ra[] = {&a};
    struct exec_req *rb[] = {&b};
    struct exec_req *rc[] = {&c};
    int calls = 0;
    char errmsg[WR_ERRMSG_SIZE] = "";

    write1(t, "CREATE TABLE t (x INTEGER)");
    req_init(&a, "INSERT INTO t VALUES (1)", &calls);
    req_init(&b, "INSERT INTO t VALUES (2)", &calls);
    req_init(&c, "CREATE TABLE u (y INTEGER)", &calls);
    assert_int_equal(exec_write(t->e, DB, ra, 1, errmsg), 0);
    assert_int_equal(exec_write(t->e, DB, rb, 1, errmsg), WR_BUSY);
    assert_false(exec_busy(t->e, "db2"));
    assert_int_equal(exec_write(t->e, "db2", rc, 1, errmsg), 0);
    assert_true(exec_busy(t->e, DB));
    assert_true(exec_busy(t->e, "db2"));
    assert_int_equal(calls, 0);

    fake_apply_next(&t->fk);
    fake_apply_next(&t->fk);
    assert_int_equal(calls, 2);
    assert_req_ok(&a);
    assert_req_ok(&c);
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 1);
    assert_int_equal(read_int_db(t, "db2", "SELECT count(*) FROM u"), 0);
    assert_int_equal(exec_write(t->e, DB, rb, 1, errmsg), 0);
    fake_apply_next(&t->fk);
    assert_req_ok(&b);
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 2);
}

/* exec_read() refuses a statement that writes (definite WR_INVALID, and a
 * read carrying one runs nothing), transaction control, ATTACH and the
 * pragmas the VFS depends on. */
static void read_refuses_writes_and_transaction_control(void **state)
{
    struct fixture *t = *state;
    struct exec_req req;
    static const char *const refused_auth[] = {
        "BEGIN", "COMMIT", "SAVEPOINT s", "ATTACH 'other.db' AS other",
        "PRAGMA wal_checkpoint", "PRAGMA journal_mode = DELETE", NULL};

    write1(t, "CREATE TABLE t (x INTEGER)");

    req_init(&req, "INSERT INTO t VALUES (1)", NULL);
    assert_int_equal(exec_read(t->e, DB, &req), WR_INVALID);
    assert_true(req.definite);
    assert_contains(req.errmsg, "statement writes: send it as a write");
    exec_req_close(&req);

    req_init(&req, "SELECT 1; INSERT INTO t VALUES (2) RETURNING x", NULL);
    assert_int_equal(exec_read(t->e, DB, &req), WR_INVALID);
    assert_int_equal(req.rows.n_rows, 0);
    exec_req_close(&req);

    for (int i = 0; refused_auth[i] != NULL; i++) {
        req_init(&req, refused_auth[i], NULL);
        assert_int_equal(exec_read(t->e, DB, &req), WR_SQL);
        assert_int_equal(req.sqlite_code, SQLITE_AUTH);
        assert_true(req.definite);
        assert_null(strstr(req.errmsg, "not authorized"));
        exec_req_close(&req);
    }
    req_init(&req, "BEGIN", NULL);
    exec_read(t->e, DB, &req);
    assert_contains(req.errmsg, "BEGIN is not allowed in a read");
    exec_req_close(&req);

    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 0);
    write1(t, "INSERT INTO t VALUES (3)");
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 1);
}

/* A request with BEGIN (or COMMIT) inside is refused with a clear error and
 * rolled back to its savepoint, while the other requests commit. */
static void transaction_control_in_request_is_refused(void **state)
{
    struct fixture *t = *state;
    struct exec_req r[4];
    struct exec_req *reqs[] = {&r[0], &r[1], &r[2], &r[3]};
    int calls[4] = {0};

    write1(t, "CREATE TABLE t (x INTEGER)");
    req_init(&r[0], "INSERT INTO t VALUES (1)", &calls[0]);
    req_init(&r[1], "BEGIN; INSERT INTO t VALUES (2); COMMIT", &calls[1]);
    req_init(&r[2], "INSERT INTO t VALUES (4)", &calls[2]);
    req_init(&r[3], "INSERT INTO t VALUES (8); COMMIT", &calls[3]);
    assert_int_equal(write_batch(t, reqs, 4), 0);
    fake_apply_next(&t->fk);

    assert_req_ok(&r[0]);
    assert_req_ok(&r[2]);
    for (int i = 1; i < 4; i += 2) {
        assert_int_equal(calls[i], 1);
        assert_int_equal(r[i].status, WR_SQL);
        assert_int_equal(r[i].sqlite_code, SQLITE_AUTH);
        assert_true(r[i].definite);
        assert_contains(r[i].errmsg, "as requests of their own");
    }
    assert_contains(r[1].errmsg, "BEGIN is not allowed inside a statement");
    assert_contains(r[3].errmsg, "COMMIT is not allowed inside a statement");
    /* Request 4 inserted 8 before its COMMIT was refused: rolled back. */
    assert_int_equal(read_int(t, "SELECT sum(x) FROM t"), 5);
    for (int i = 0; i < 4; i++) {
        exec_req_close(&r[i]);
    }
}

#define UTF8_TEXT "h\xc3\xa9llo \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89"

static const unsigned char binary[] = {0x00, 0x01, 0x00, 0xff, 0x00};

/* The eight values every bind test uses, in column order a..h. */
static void make_params(struct value *p)
{
    memset(p, 0, 8 * sizeof *p);
    p[0].type = VALUE_NULL;
    p[1].type = VALUE_INTEGER;
    p[1].integer = INT64_MIN;
    p[2].type = VALUE_INTEGER;
    p[2].integer = INT64_MAX;
    p[3].type = VALUE_FLOAT;
    p[3].real = 0.1;
    p[4].type = VALUE_TEXT;
    p[4].text.p = (char *)"";
    p[4].text.n = 0;
    p[5].type = VALUE_TEXT;
    p[5].text.p = (char *)UTF8_TEXT;
    p[5].text.n = strlen(UTF8_TEXT);
    p[6].type = VALUE_BLOB;
    p[6].blob.p = NULL;
    p[6].blob.n = 0;
    p[7].type = VALUE_BLOB;
    p[7].blob.p = (void *)binary;
    p[7].blob.n = sizeof binary;
}

static void check_values(const struct value *v)
{
    assert_int_equal(v[0].type, VALUE_NULL);
    assert_int_equal(v[1].type, VALUE_INTEGER);
    assert_true(v[1].integer == INT64_MIN);
    assert_int_equal(v[2].type, VALUE_INTEGER);
    assert_true(v[2].integer == INT64_MAX);
    assert_int_equal(v[3].type, VALUE_FLOAT);
    assert_true(v[3].real == 0.1);
    assert_int_equal(v[4].type, VALUE_TEXT);
    assert_int_equal(v[4].text.n, 0);
    assert_non_null(v[4].text.p);
    assert_string_equal(v[4].text.p, "");
    assert_int_equal(v[5].type, VALUE_TEXT);
    assert_int_equal(v[5].text.n, strlen(UTF8_TEXT));
    assert_string_equal(v[5].text.p, UTF8_TEXT);
    assert_int_equal(v[6].type, VALUE_BLOB);
    assert_int_equal(v[6].blob.n, 0);
    assert_int_equal(v[7].type, VALUE_BLOB);
    assert_int_equal(v[7].blob.n, sizeof binary);
    assert_memory_equal(v[7].blob.p, binary, sizeof binary);
}

/* Parameters of every type survive the round trip through a write
 * (RETURNING), the file, and a read: NULL, the extreme 64-bit integers, a
 * double, empty text, multi-byte UTF-8, an empty blob and a blob holding
 * zero bytes. */
static void params_of_every_type_round_trip(void **state)
{
    struct fixture *t = *state;
    struct value params[8];
    struct exec_req req;
    struct exec_req *reqs[] = {&req};
    int calls = 0;

    make_params(params);
    write1(t, "CREATE TABLE v (a, b, c, d, e, f, g, h)");
    req_init(&req, "INSERT INTO v VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
             &calls);
    req.params = params;
    req.n_params = 8;
    assert_int_equal(write_batch(t, reqs, 1), 0);
    fake_apply_next(&t->fk);
    assert_req_ok(&req);
    assert_int_equal(req.rows.n_rows, 1);
    assert_int_equal(req.rows.n_cols, 8);
    check_values(req.rows.values);
    exec_req_close(&req);

    req_init(&req, "SELECT * FROM v", NULL);
    assert_int_equal(exec_read(t->e, DB, &req), 0);
    assert_int_equal(req.rows.n_rows, 1);
    check_values(req.rows.values);
    exec_req_close(&req);

    /* The same values bound to a read find the row again. */
    req_init(&req,
             "SELECT count(*) FROM v WHERE a IS ? AND b = ? AND c = ? AND "
             "d = ? AND e = ? AND f = ? AND g = ? AND h = ?",
             NULL);
    req.params = params;
    req.n_params = 8;
    assert_int_equal(exec_read(t->e, DB, &req), 0);
    assert_int_equal(req.rows.values[0].integer, 1);
    exec_req_close(&req);
    assert_int_equal(read_int(t, "SELECT count(*) FROM v WHERE typeof(g) = "
                                 "'blob' AND typeof(e) = 'text'"),
                     1);
}

/* A request whose parameters do not match its statement fails on its own
 * with a clear message, as does one with parameters past its first
 * statement; the others commit. */
static void param_count_mismatch_fails_that_request(void **state)
{
    struct fixture *t = *state;
    struct value one = {.type = VALUE_INTEGER, .integer = 7};
    struct exec_req r[3];
    struct exec_req *reqs[] = {&r[0], &r[1], &r[2]};
    int calls[3] = {0};

    write1(t, "CREATE TABLE t (x INTEGER, y INTEGER)");
    req_init(&r[0], "INSERT INTO t VALUES (?, ?)", &calls[0]);
    r[0].params = &one;
    r[0].n_params = 1;
    req_init(&r[1], "INSERT INTO t VALUES (?, 0)", &calls[1]);
    r[1].params = &one;
    r[1].n_params = 1;
    req_init(&r[2], "INSERT INTO t VALUES (?, 1); INSERT INTO t VALUES (?, 2)",
             &calls[2]);
    r[2].params = &one;
    r[2].n_params = 1;
    assert_int_equal(write_batch(t, reqs, 3), 0);
    fake_apply_next(&t->fk);

    assert_int_equal(r[0].status, WR_INVALID);
    assert_true(r[0].definite);
    assert_contains(r[0].errmsg, "takes 2 parameters but the request carries 1");
    assert_req_ok(&r[1]);
    assert_int_equal(r[2].status, WR_INVALID);
    assert_contains(r[2].errmsg, "only the first statement");
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 1);
    assert_int_equal(read_int(t, "SELECT x FROM t"), 7);
    for (int i = 0; i < 3; i++) {
        exec_req_close(&r[i]);
    }
}

/* A batch that changes no page (an UPDATE matching no row, a SELECT) still
 * completes through the log, as a barrier. */
static void no_page_change_goes_through_a_barrier(void **state)
{
    struct fixture *t = *state;
    struct exec_req r[2];
    struct exec_req *reqs[] = {&r[0], &r[1]};
    int calls[2] = {0};

    write1(t, "CREATE TABLE t (x INTEGER)");
    write1(t, "INSERT INTO t VALUES (1)");
    assert_int_equal(t->fk.n_barriers, 0);
    req_init(&r[0], "UPDATE t SET x = 5 WHERE x = 999", &calls[0]);
    req_init(&r[1], "SELECT count(*) AS n FROM t", &calls[1]);
    assert_int_equal(write_batch(t, reqs, 2), 0);
    assert_int_equal(t->fk.n_barriers, 1);
    assert_true(t->fk.last_was_barrier);
    assert_true(exec_busy(t->e, DB));
    assert_int_equal(calls[0] + calls[1], 0);

    fake_apply_next(&t->fk);
    assert_int_equal(calls[0] + calls[1], 2);
    assert_req_ok(&r[0]);
    assert_int_equal(r[0].changes, 0);
    assert_int_equal(r[0].bookmark, 3);
    assert_req_ok(&r[1]);
    assert_int_equal(r[1].changes, 0);
    assert_string_equal(r[1].rows.col_names[0], "n");
    assert_int_equal(r[1].rows.values[0].integer, 1);
    assert_false(exec_busy(t->e, DB));
    write1(t, "INSERT INTO t VALUES (2)");
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 2);
    for (int i = 0; i < 2; i++) {
        exec_req_close(&r[i]);
    }
}

/* A batch whose every request fails changes nothing and is replicated as a
 * barrier, not as a commit of page 1. */
static void all_failed_batch_is_a_barrier(void **state)
{
    struct fixture *t = *state;
    struct exec_req r[2];
    struct exec_req *reqs[] = {&r[0], &r[1]};
    int calls[2] = {0};

    write1(t, "CREATE TABLE t (x INTEGER UNIQUE)");
    write1(t, "INSERT INTO t VALUES (1)");
    req_init(&r[0], "INSERT INTO t VALUES (2); INSERT INTO t VALUES (1)",
             &calls[0]);
    req_init(&r[1], "INSERT INTO nowhere VALUES (1)", &calls[1]);
    assert_int_equal(write_batch(t, reqs, 2), 0);
    assert_true(t->fk.last_was_barrier);
    fake_apply_next(&t->fk);
    assert_int_equal(r[0].status, WR_SQL);
    assert_int_equal(r[1].status, WR_SQL);
    assert_true(r[0].definite && r[1].definite);
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 1);
    for (int i = 0; i < 2; i++) {
        exec_req_close(&r[i]);
    }
}

/* VACUUM runs alone and is replicated like any write; it may not share a
 * batch, and VACUUM INTO (a file on one node) is refused. */
static void vacuum_runs_alone(void **state)
{
    struct fixture *t = *state;
    struct exec_req r[2];
    struct exec_req *reqs[] = {&r[0], &r[1]};
    int calls[2] = {0};
    char errmsg[WR_ERRMSG_SIZE] = "";

    write1(t, "CREATE TABLE t (x)");
    write1(t, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c "
              "WHERE i < 300) INSERT INTO t SELECT randomblob(2000) FROM c");
    write1(t, "DELETE FROM t WHERE rowid > 10");
    int64_t before = read_int(t, "PRAGMA page_count");
    write1(t, "  -- compact\n VACUUM");
    assert_true(read_int(t, "PRAGMA page_count") < before / 4);
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 10);

    req_init(&r[0], "INSERT INTO t VALUES (1)", &calls[0]);
    req_init(&r[1], "vacuum", &calls[1]);
    assert_int_equal(exec_write(t->e, DB, reqs, 2, errmsg), WR_INVALID);
    assert_contains(errmsg, "VACUUM cannot share a batch");
    assert_int_equal(calls[0] + calls[1], 0);

    req_init(&r[0], "VACUUM INTO '/tmp/walraft-vacuum-into.db'", &calls[0]);
    assert_int_equal(write_batch(t, reqs, 1), 0);
    fake_apply_next(&t->fk);
    assert_int_equal(r[0].status, WR_SQL);
    assert_contains(r[0].errmsg, "ATTACH and DETACH are not allowed");
    assert_int_equal(access("/tmp/walraft-vacuum-into.db", F_OK), -1);
    exec_req_close(&r[0]);
}

/* One request's INSERT OR ROLLBACK conflict rolls back the whole SQLite
 * transaction: that request fails on its own and the others still commit. */
static void insert_or_rollback_fails_only_that_request(void **state)
{
    struct fixture *t = *state;
    struct exec_req r[3];
    struct exec_req *reqs[] = {&r[0], &r[1], &r[2]};
    int calls[3] = {0};

    write1(t, "CREATE TABLE t (x INTEGER UNIQUE)");
    req_init(&r[0], "INSERT INTO t VALUES (1) RETURNING x", &calls[0]);
    req_init(&r[1], "INSERT OR ROLLBACK INTO t VALUES (1)", &calls[1]);
    req_init(&r[2], "INSERT INTO t VALUES (2)", &calls[2]);
    assert_int_equal(write_batch(t, reqs, 3), 0);
    fake_apply_next(&t->fk);

    assert_int_equal(calls[0] + calls[1] + calls[2], 3);
    assert_req_ok(&r[0]);
    assert_int_equal(r[0].rows.n_rows, 1); /* Not collected twice. */
    assert_int_equal(r[1].status, WR_SQL);
    assert_int_equal(r[1].sqlite_code, SQLITE_CONSTRAINT_UNIQUE);
    assert_true(r[1].definite);
    assert_req_ok(&r[2]);
    assert_int_equal(read_int(t, "SELECT sum(x) FROM t"), 3);
    for (int i = 0; i < 3; i++) {
        exec_req_close(&r[i]);
    }
}

/* Requests share one connection, yet one client's last insert id and change
 * count do not show in the next request's results. */
static void results_do_not_leak_between_requests(void **state)
{
    struct fixture *t = *state;
    struct exec_req r[4];
    struct exec_req *reqs[] = {&r[0], &r[1], &r[2], &r[3]};
    int calls[4] = {0};

    write1(t, "CREATE TABLE t (id INTEGER PRIMARY KEY, x INTEGER)");
    req_init(&r[0], "INSERT INTO t (x) VALUES (1), (2), (3)", &calls[0]);
    req_init(&r[1], "UPDATE t SET x = x + 1 WHERE id = 2", &calls[1]);
    req_init(&r[2], "SELECT x FROM t WHERE id = 2", &calls[2]);
    req_init(&r[3], "CREATE INDEX tx ON t (x)", &calls[3]);
    assert_int_equal(write_batch(t, reqs, 4), 0);
    fake_apply_next(&t->fk);

    for (int i = 0; i < 4; i++) {
        assert_req_ok(&r[i]);
    }
    assert_int_equal(r[0].changes, 3);
    assert_int_equal(r[0].last_insert_id, 3);
    assert_int_equal(r[1].changes, 1);
    assert_int_equal(r[1].last_insert_id, 0);
    assert_int_equal(r[2].changes, 0);
    assert_int_equal(r[2].last_insert_id, 0);
    assert_int_equal(r[2].rows.values[0].integer, 3);
    assert_int_equal(r[3].changes, 0);
    for (int i = 0; i < 4; i++) {
        exec_req_close(&r[i]);
    }
}

/* A write request may not change the pragmas the VFS relies on, ATTACH, or
 * create TEMP objects (which would live on one node only); it fails on its
 * own and the others commit. */
static void guarded_statements_in_request_are_refused(void **state)
{
    struct fixture *t = *state;
    struct exec_req r[4];
    struct exec_req *reqs[] = {&r[0], &r[1], &r[2], &r[3]};
    int calls[4] = {0};
    char errmsg[WR_ERRMSG_SIZE];
    struct fsm_db *db;
    sqlite3 *conn;
    sqlite3_stmt *stmt;

    write1(t, "CREATE TABLE t (x INTEGER)");
    req_init(&r[0], "PRAGMA journal_mode = DELETE", &calls[0]);
    req_init(&r[1], "ATTACH 'x.db' AS x", &calls[1]);
    req_init(&r[2], "INSERT INTO t VALUES (1)", &calls[2]);
    req_init(&r[3], "CREATE TEMP TABLE scratch (y)", &calls[3]);
    assert_int_equal(write_batch(t, reqs, 4), 0);
    fake_apply_next(&t->fk);

    assert_int_equal(r[0].sqlite_code, SQLITE_AUTH);
    assert_contains(r[0].errmsg, "journal_mode cannot be changed");
    assert_int_equal(r[1].sqlite_code, SQLITE_AUTH);
    assert_contains(r[1].errmsg, "ATTACH and DETACH are not allowed");
    assert_req_ok(&r[2]);
    assert_int_equal(r[3].sqlite_code, SQLITE_AUTH);
    assert_contains(r[3].errmsg, "TEMP tables");
    /* Straight on the fsm's connection: even the query form of this pragma
     * is not read-only to SQLite, so exec_read() would refuse it. */
    assert_int_equal(fsm_db_open(t->f, DB, &db, errmsg), 0);
    conn = fsm_db_conn(db, errmsg);
    assert_non_null(conn);
    assert_int_equal(sqlite3_prepare_v2(conn, "PRAGMA journal_mode", -1, &stmt,
                                        NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "wal");
    sqlite3_finalize(stmt);
    for (int i = 0; i < 4; i++) {
        exec_req_close(&r[i]);
    }
}

/* Statements are kept between requests (fsm/stmts.h): a refused text is
 * refused again the next time, as a write and as a read; a kept INSERT takes
 * each request's own parameters; and a kept statement whose column was
 * renamed away fails instead of running its old compilation. */
static void kept_statements_checked_every_time(void **state)
{
    struct fixture *t = *state;
    struct exec_req r[2];
    struct exec_req *reqs[] = {&r[0], &r[1]};
    struct value p[2] = {{.type = VALUE_INTEGER, .integer = 7},
                         {.type = VALUE_INTEGER, .integer = 8}};
    int calls[2] = {0};

    write1(t, "CREATE TABLE t (x INTEGER)");
    for (int round = 0; round < 2; round++) {
        req_init(&r[0], "ATTACH 'x.db' AS x", &calls[0]);
        req_init(&r[1], "INSERT INTO t VALUES (?)", &calls[1]);
        r[1].params = &p[round];
        r[1].n_params = 1;
        assert_int_equal(write_batch(t, reqs, 2), 0);
        fake_apply_next(&t->fk);
        assert_int_equal(r[0].sqlite_code, SQLITE_AUTH);
        assert_req_ok(&r[1]);
        exec_req_close(&r[0]);
        exec_req_close(&r[1]);

        req_init(&r[0], "ATTACH 'x.db' AS x", NULL);
        exec_read(t->e, DB, &r[0]);
        assert_int_not_equal(r[0].status, 0);
        exec_req_close(&r[0]);
    }
    assert_int_equal(read_int(t, "SELECT sum(x) FROM t"), 15);
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 2);

    write1(t, "ALTER TABLE t RENAME COLUMN x TO y");
    req_init(&r[0], "INSERT INTO t VALUES (?)", &calls[0]);
    r[0].params = &p[0];
    r[0].n_params = 1;
    req_init(&r[1], "SELECT sum(x) FROM t", NULL);
    assert_int_equal(write_batch(t, reqs, 1), 0);
    fake_apply_next(&t->fk);
    assert_req_ok(&r[0]); /* Recompiled: the table has one column still. */
    exec_read(t->e, DB, &r[1]);
    assert_int_equal(r[1].sqlite_code, SQLITE_ERROR);
    assert_contains(r[1].errmsg, "no such column");
    exec_req_close(&r[0]);
    exec_req_close(&r[1]);
    assert_int_equal(read_int(t, "SELECT sum(y) FROM t"), 22);
}

/* With foreign keys on (the fsm turns them on), a request that leaves a
 * deferred foreign key violation fails on its own instead of failing the
 * whole batch at COMMIT; one that resolves it before it ends succeeds. */
static void deferred_fk_violation_fails_only_that_request(void **state)
{
    struct fixture *t = *state;
    struct exec_req r[4];
    struct exec_req *reqs[] = {&r[0], &r[1], &r[2], &r[3]};
    int calls[4] = {0};

    write1(t, "CREATE TABLE p (id INTEGER PRIMARY KEY)");
    write1(t, "CREATE TABLE c (pid INTEGER REFERENCES p (id) "
              "DEFERRABLE INITIALLY DEFERRED)");
    req_init(&r[0], "INSERT INTO p VALUES (1)", &calls[0]);
    req_init(&r[1], "INSERT INTO c VALUES (2)", &calls[1]);
    req_init(&r[2], "INSERT INTO c VALUES (3); INSERT INTO p VALUES (3)",
             &calls[2]);
    req_init(&r[3], "INSERT INTO c VALUES (1)", &calls[3]);
    assert_int_equal(write_batch(t, reqs, 4), 0);
    fake_apply_next(&t->fk);

    assert_req_ok(&r[0]);
    assert_int_equal(r[1].status, WR_SQL);
    assert_int_equal(r[1].sqlite_code, SQLITE_CONSTRAINT_FOREIGNKEY);
    assert_true(r[1].definite);
    assert_contains(r[1].errmsg, "FOREIGN KEY constraint failed");
    assert_req_ok(&r[2]);
    assert_req_ok(&r[3]);
    assert_int_equal(read_int(t, "SELECT count(*) FROM c"), 2);
    assert_int_equal(read_int(t, "SELECT sum(pid) FROM c"), 4);
    for (int i = 0; i < 4; i++) {
        exec_req_close(&r[i]);
    }
}

/* The text @sql reads from @db (one row, one column), in @out. */
static void read_text(struct fixture *t, const char *sql, char *out, size_t n)
{
    struct exec_req req;

    req_init(&req, sql, NULL);
    assert_int_equal(exec_read(t->e, DB, &req), req.status);
    assert_req_ok(&req);
    assert_int_equal(req.rows.n_rows, 1);
    assert_int_equal(req.rows.values[0].type, VALUE_TEXT);
    snprintf(out, n, "%s", req.rows.values[0].text.p);
    exec_req_close(&req);
}

/* Pages SQLite had to spill from the page cache on @t's connection. */
static int cache_spills(struct fixture *t)
{
    char errmsg[WR_ERRMSG_SIZE];
    struct fsm_db *db;
    int cur = 0;
    int hi = 0;

    assert_int_equal(fsm_db_open(t->f, DB, &db, errmsg), 0);
    assert_int_equal(sqlite3_db_status(fsm_db_conn(db, errmsg),
                                       SQLITE_DBSTATUS_CACHE_SPILL, &cur, &hi,
                                       0),
                     SQLITE_OK);
    return cur;
}

static void assert_integrity(struct fixture *t)
{
    char result[64];

    read_text(t, "PRAGMA integrity_check", result, sizeof result);
    assert_string_equal(result, "ok");
}

/* About 6 MiB: more than SQLite's default page cache, so the transaction
 * spills frames into the WAL before it commits. */
#define BIG_INSERT(first)                                                   \
    "WITH RECURSIVE s(i) AS (SELECT " #first " UNION ALL SELECT i + 1 "     \
    "FROM s WHERE i < " #first " + 1999) "                                  \
    "INSERT INTO t SELECT i, randomblob(3000) FROM s"

/* Requests larger than the page cache, one of which fails after spilling
 * (rolled back to its savepoint) and one of which rolls back the whole
 * transaction (the batch runs again without it): the others commit and the
 * database stays intact. */
static void spilled_transaction_with_rollbacks(void **state)
{
    struct fixture *t = *state;
    struct exec_req r[4];
    struct exec_req *reqs[] = {&r[0], &r[1], &r[2], &r[3]};
    int calls[4] = {0};

    write1(t, "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)");
    req_init(&r[0], BIG_INSERT(1), &calls[0]);
    req_init(&r[1], BIG_INSERT(10001) "; INSERT INTO t VALUES (1, NULL)",
             &calls[1]);
    req_init(&r[2], "INSERT OR ROLLBACK INTO t VALUES (2, NULL)", &calls[2]);
    req_init(&r[3], BIG_INSERT(20001), &calls[3]);
    assert_int_equal(write_batch(t, reqs, 4), 0);
    assert_true(cache_spills(t) > 0);
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 0);
    fake_apply_next(&t->fk);

    assert_req_ok(&r[0]);
    assert_int_equal(r[0].changes, 2000);
    assert_int_equal(r[1].sqlite_code, SQLITE_CONSTRAINT_PRIMARYKEY);
    assert_int_equal(r[2].sqlite_code, SQLITE_CONSTRAINT_PRIMARYKEY);
    assert_req_ok(&r[3]);
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 4000);
    assert_int_equal(read_int(t, "SELECT count(*) FROM t WHERE id > 10000 "
                                 "AND id < 20000"),
                     0);
    assert_integrity(t);
    write1(t, "DELETE FROM t WHERE id % 2 = 0");
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 2000);
    assert_integrity(t);
    for (int i = 0; i < 4; i++) {
        exec_req_close(&r[i]);
    }
}

/* A transaction larger than the page cache is lost with the leadership:
 * nothing of it is visible, the database stays intact, and the next large
 * batch works. */
static void spilled_transaction_aborted(void **state)
{
    struct fixture *t = *state;
    struct exec_req req;
    struct exec_req *reqs[] = {&req};
    int calls = 0;

    write1(t, "CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)");
    write1(t, "INSERT INTO t VALUES (0, x'00')");
    req_init(&req, BIG_INSERT(1), &calls);
    assert_int_equal(write_batch(t, reqs, 1), 0);
    assert_true(cache_spills(t) > 0);
    fake_fail_next(&t->fk, WR_LEADERSHIP_LOST);
    assert_int_equal(req.status, WR_LEADERSHIP_LOST);
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 1);
    assert_integrity(t);

    write1(t, BIG_INSERT(5));
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 2001);
    assert_integrity(t);
    exec_req_close(&req);
}

struct chain {
    struct fixture *t;
    struct exec_req next;
    int next_calls;
    int rv;
};

static void chain_cb(struct exec_req *req)
{
    struct chain *c = req->data;
    struct exec_req *reqs[] = {&c->next};
    char errmsg[WR_ERRMSG_SIZE];

    req_init(&c->next, "INSERT INTO t VALUES (2)", &c->next_calls);
    c->rv = exec_write(c->t->e, DB, reqs, 1, errmsg);
}

/* A callback may start the next batch on the same database: the batch is
 * done before its callbacks run. */
static void callback_may_start_next_batch(void **state)
{
    struct fixture *t = *state;
    struct chain c = {.t = t, .rv = -1};
    struct exec_req req;
    struct exec_req *reqs[] = {&req};

    write1(t, "CREATE TABLE t (x INTEGER)");
    req_init(&req, "INSERT INTO t VALUES (1)", NULL);
    req.cb = chain_cb;
    req.data = &c;
    assert_int_equal(write_batch(t, reqs, 1), 0);
    fake_apply_next(&t->fk);
    assert_req_ok(&req);
    assert_int_equal(c.rv, 0);
    assert_true(exec_busy(t->e, DB));
    fake_apply_next(&t->fk);
    assert_int_equal(c.next_calls, 1);
    assert_req_ok(&c.next);
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 2);
}

/* The executor is destroyed with a batch in flight: its requests get an
 * indefinite WR_SHUTDOWN at once (one that failed on its own keeps its
 * error), and the proposal's late callback only frees. */
static void destroy_with_batch_in_flight(void **state)
{
    struct fixture *t = *state;
    struct exec_req r[2];
    struct exec_req *reqs[] = {&r[0], &r[1]};
    int calls[2] = {0};

    write1(t, "CREATE TABLE t (x INTEGER)");
    req_init(&r[0], "INSERT INTO t VALUES (1) RETURNING x", &calls[0]);
    req_init(&r[1], "INSERT INTO nowhere VALUES (1)", &calls[1]);
    assert_int_equal(write_batch(t, reqs, 2), 0);

    exec_destroy(t->e);
    t->e = NULL;
    assert_int_equal(calls[0], 1);
    assert_int_equal(r[0].status, WR_SHUTDOWN);
    assert_false(r[0].definite);
    assert_contains(r[0].errmsg, "shut down");
    assert_int_equal(r[0].rows.n_rows, 0);
    assert_int_equal(calls[1], 1);
    assert_int_equal(r[1].status, WR_SQL);
    assert_true(r[1].definite);
    assert_contains(r[1].errmsg, "no such table");

    fake_fail_next(&t->fk, WR_SHUTDOWN);
    assert_int_equal(calls[0] + calls[1], 2);
    for (int i = 0; i < 2; i++) {
        exec_req_close(&r[i]);
    }
}

/* Malformed calls are refused with WR_INVALID before anything runs; a
 * read of a database that does not exist yet reads an empty one. */
static void invalid_calls_and_empty_database(void **state)
{
    struct fixture *t = *state;
    struct exec_req req;
    struct exec_req *reqs[] = {&req};
    char errmsg[WR_ERRMSG_SIZE] = "";

    assert_int_equal(exec_write(t->e, DB, reqs, 0, errmsg), WR_INVALID);
    req_init(&req, NULL, NULL);
    assert_int_equal(exec_write(t->e, DB, reqs, 1, errmsg), WR_INVALID);
    assert_int_equal(t->fk.n, 0);

    assert_int_equal(read_int_db(t, "fresh",
                                 "SELECT count(*) FROM sqlite_schema"),
                     0);
}

/* Interactive transactions. */

static struct exec_tx *tx_begin(struct fixture *t)
{
    struct exec_tx *tx = NULL;
    char errmsg[WR_ERRMSG_SIZE] = "";
    int rv = exec_tx_begin(t->e, DB, &tx, errmsg);

    if (rv != 0) {
        print_error("exec_tx_begin: %s\n", errmsg);
    }
    assert_int_equal(rv, 0);
    return tx;
}

static int64_t tx_read_int(struct exec_tx *tx, const char *sql)
{
    struct exec_req req;
    int64_t v;

    req_init(&req, sql, NULL);
    assert_int_equal(exec_tx_run(tx, &req), req.status);
    assert_req_ok(&req);
    assert_int_equal(req.rows.n_rows, 1);
    v = req.rows.values[0].integer;
    exec_req_close(&req);
    return v;
}

static int tx_run(struct exec_tx *tx, const char *sql, char *errmsg)
{
    struct exec_req req;
    int rv;

    req_init(&req, sql, NULL);
    rv = exec_tx_run(tx, &req);
    if (errmsg != NULL) {
        strcpy(errmsg, req.errmsg);
    }
    exec_req_close(&req);
    return rv;
}

/* A transaction sees its own writes at once while every other reader sees
 * committed state; its COMMIT is one entry, answered once applied, and the
 * writes are then visible to all. */
static void tx_isolated_until_commit_applied(void **state)
{
    struct fixture *t = *state;
    struct exec_req commit;
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct exec_tx *tx;
    int calls = 0;

    write1(t, "CREATE TABLE t (x INTEGER)");
    tx = tx_begin(t);
    assert_int_equal(tx_run(tx, "INSERT INTO t VALUES (1)", NULL), 0);
    assert_int_equal(tx_run(tx, "INSERT INTO t VALUES (2)", NULL), 0);
    assert_int_equal(tx_read_int(tx, "SELECT count(*) FROM t"), 2);
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 0);
    assert_int_equal(t->fk.n, 0);

    req_init(&commit, "COMMIT", &calls);
    assert_int_equal(exec_tx_commit(tx, &commit, errmsg), 0);
    assert_int_equal(t->fk.n, 1);
    assert_false(t->fk.last_was_barrier);
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 0);
    assert_true(exec_busy(t->e, DB));
    fake_apply_next(&t->fk);
    assert_int_equal(calls, 1);
    assert_req_ok(&commit);
    assert_int_equal(commit.bookmark, 2);
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 2);
    assert_false(exec_busy(t->e, DB));
    exec_req_close(&commit);
}

/* While a transaction is open it holds the writer: batches and a second
 * transaction on its database are refused as busy, other databases are
 * not. */
static void tx_holds_the_writer(void **state)
{
    struct fixture *t = *state;
    struct exec_req req;
    struct exec_req *reqs[] = {&req};
    struct exec_tx *tx;
    struct exec_tx *other = NULL;
    char errmsg[WR_ERRMSG_SIZE] = "";

    write1(t, "CREATE TABLE t (x INTEGER)");
    tx = tx_begin(t);
    assert_true(exec_busy(t->e, DB));
    req_init(&req, "INSERT INTO t VALUES (1)", NULL);
    assert_int_equal(exec_write(t->e, DB, reqs, 1, errmsg), WR_BUSY);
    assert_int_equal(exec_tx_begin(t->e, DB, &other, errmsg), WR_BUSY);
    write_db(t, "db2", "CREATE TABLE u (y INTEGER)");
    exec_tx_rollback(tx);
    assert_false(exec_busy(t->e, DB));
    write1(t, "INSERT INTO t VALUES (1)");
}

/* ROLLBACK discards the transaction's writes and proposes nothing. */
static void tx_rollback_discards(void **state)
{
    struct fixture *t = *state;
    struct exec_tx *tx;

    write1(t, "CREATE TABLE t (x INTEGER)");
    tx = tx_begin(t);
    assert_int_equal(tx_run(tx, "INSERT INTO t VALUES (1)", NULL), 0);
    exec_tx_rollback(tx);
    assert_int_equal(t->fk.n, 0);
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 0);
}

/* A statement that fails inside a transaction undoes only itself: the
 * transaction stays open and commits what came before. */
static void tx_statement_error_keeps_transaction(void **state)
{
    struct fixture *t = *state;
    struct exec_req commit;
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct exec_tx *tx;
    int calls = 0;

    write1(t, "CREATE TABLE t (x INTEGER UNIQUE)");
    tx = tx_begin(t);
    assert_int_equal(tx_run(tx, "INSERT INTO t VALUES (1)", NULL), 0);
    assert_int_equal(tx_run(tx, "INSERT INTO t VALUES (1)", errmsg), WR_SQL);
    assert_contains(errmsg, "UNIQUE");
    assert_int_equal(tx_run(tx, "SELEC nonsense", NULL), WR_SQL);
    assert_true(exec_tx_alive(tx));
    req_init(&commit, "COMMIT", &calls);
    assert_int_equal(exec_tx_commit(tx, &commit, errmsg), 0);
    fake_apply_next(&t->fk);
    assert_req_ok(&commit);
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 1);
    exec_req_close(&commit);
}

/* A transaction that only read ends at COMMIT without a log entry: no
 * barrier is proposed, the callback never fires and the writer is free at
 * once; the same transaction committed by exec_tx_commit() still costs a
 * barrier. */
static void tx_read_only_commit_proposes_nothing(void **state)
{
    struct fixture *t = *state;
    struct exec_req commit;
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct exec_tx *tx;
    bool proposed = true;
    int calls = 0;

    write1(t, "CREATE TABLE t (x INTEGER)");
    write1(t, "INSERT INTO t VALUES (1)");
    tx = tx_begin(t);
    assert_int_equal(tx_read_int(tx, "SELECT count(*) FROM t"), 1);
    req_init(&commit, "COMMIT", &calls);
    assert_int_equal(exec_tx_commit_read(tx, &commit, &proposed, errmsg), 0);
    assert_false(proposed);
    assert_int_equal(t->fk.n, 0);
    assert_int_equal(calls, 0);
    assert_int_equal(commit.status, 0);
    assert_int_equal(commit.changes, 0);
    assert_false(exec_busy(t->e, DB));
    write1(t, "INSERT INTO t VALUES (2)");
    exec_req_close(&commit);

    tx = tx_begin(t);
    assert_int_equal(tx_read_int(tx, "SELECT count(*) FROM t"), 2);
    req_init(&commit, "COMMIT", &calls);
    assert_int_equal(exec_tx_commit(tx, &commit, errmsg), 0);
    assert_int_equal(t->fk.n, 1);
    assert_true(t->fk.last_was_barrier);
    fake_apply_next(&t->fk);
    assert_int_equal(calls, 1);
    exec_req_close(&commit);
}

/* A transaction handed to exec_tx_commit_read() that did write (the
 * caller misjudged it) is proposed like any COMMIT: nothing is lost. */
static void tx_read_commit_of_a_write_is_proposed(void **state)
{
    struct fixture *t = *state;
    struct exec_req commit;
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct exec_tx *tx;
    bool proposed = false;
    int calls = 0;

    write1(t, "CREATE TABLE t (x INTEGER)");
    tx = tx_begin(t);
    assert_int_equal(tx_run(tx, "INSERT INTO t VALUES (1)", NULL), 0);
    req_init(&commit, "COMMIT", &calls);
    assert_int_equal(exec_tx_commit_read(tx, &commit, &proposed, errmsg), 0);
    assert_true(proposed);
    assert_int_equal(t->fk.n, 1);
    assert_false(t->fk.last_was_barrier);
    fake_apply_next(&t->fk);
    assert_int_equal(calls, 1);
    assert_req_ok(&commit);
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 1);
    exec_req_close(&commit);
}

/* A deferred foreign key left unresolved fails the COMMIT, definitely:
 * nothing is proposed and nothing of the transaction remains. */
static void tx_commit_refused_by_deferred_fk(void **state)
{
    struct fixture *t = *state;
    struct exec_req commit;
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct exec_tx *tx;
    int calls = 0;

    write1(t, "CREATE TABLE p (id INTEGER PRIMARY KEY); "
              "CREATE TABLE c (p INTEGER REFERENCES p(id) "
              "DEFERRABLE INITIALLY DEFERRED)");
    tx = tx_begin(t);
    assert_int_equal(tx_run(tx, "INSERT INTO c VALUES (7)", NULL), 0);
    req_init(&commit, "COMMIT", &calls);
    assert_int_not_equal(exec_tx_commit(tx, &commit, errmsg), 0);
    assert_contains(errmsg, "FOREIGN KEY");
    assert_int_equal(calls, 0);
    assert_int_equal(t->fk.n, 0);
    assert_false(exec_busy(t->e, DB));
    assert_int_equal(read_int(t, "SELECT count(*) FROM c"), 0);
    write1(t, "INSERT INTO p VALUES (1)");
}

/* A deposed leader with a transaction open applies another leader's entry
 * for the same database: the transaction is rolled back, the entry is
 * applied, and the client's next statement hears why. */
static void tx_rolled_back_by_foreign_entry(void **state)
{
    struct fixture *t = *state;
    struct fixture other;
    struct fsm_config config = {0};
    struct exec_req req;
    struct exec_req *reqs[] = {&req};
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct proposal prop;
    struct exec_tx *tx;
    int calls = 0;

    /* A second node, with the same history, makes the foreign entry. */
    memset(&other, 0, sizeof other);
    assert_true(strlen(t->dir) + 7 <= sizeof other.dir);
    memcpy(other.dir, t->dir, strlen(t->dir));
    strcpy(other.dir + strlen(t->dir), "-other");
    assert_int_equal(mkdir(other.dir, 0700), 0);
    config.dir = other.dir;
    config.node_id = next_node_id++;
    config.seed = 7;
    assert_int_equal(fsm_create(&config, &other.f, errmsg), 0);
    other.fk.p.data = &other.fk;
    other.fk.p.propose = fake_propose;
    other.fk.f = other.f;
    assert_int_equal(exec_create(other.f, &other.fk.p, &other.e), 0);

    write1(t, "CREATE TABLE t (x INTEGER)");
    req_init(&req, "CREATE TABLE t (x INTEGER)", &calls);
    assert_int_equal(exec_write(other.e, DB, reqs, 1, errmsg), 0);
    fake_apply_next(&other.fk);
    exec_req_close(&req);
    req_init(&req, "INSERT INTO t VALUES (40)", &calls);
    assert_int_equal(exec_write(other.e, DB, reqs, 1, errmsg), 0);
    prop = other.fk.queue[0];

    tx = tx_begin(t);
    assert_int_equal(tx_run(tx, "INSERT INTO t VALUES (1)", NULL), 0);
    assert_int_equal(fsm_apply(t->f, prop.buf, prop.len, errmsg), 0);
    assert_false(exec_tx_alive(tx));
    assert_int_equal(tx_run(tx, "INSERT INTO t VALUES (2)", errmsg),
                     WR_INVALID);
    assert_contains(errmsg, "rolled back");
    exec_tx_rollback(tx);
    assert_int_equal(read_int(t, "SELECT sum(x) FROM t"), 40);

    fake_apply_next(&other.fk);
    exec_req_close(&req);
    exec_destroy(other.e);
    fsm_destroy(other.f);
    nftw(other.dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* The executor goes with a transaction still open: it is rolled back. */
static void destroy_with_transaction_open(void **state)
{
    struct fixture *t = *state;
    struct exec_tx *tx;

    write1(t, "CREATE TABLE t (x INTEGER)");
    tx = tx_begin(t);
    assert_int_equal(tx_run(tx, "INSERT INTO t VALUES (1)", NULL), 0);
    exec_destroy(t->e);
    t->e = NULL;
}

/* Rows carry each column's declared type (NULL for an expression), so the
 * gateway can send DATETIME and BOOLEAN columns as dqlite does. */
static void rows_carry_declared_types(void **state)
{
    struct fixture *t = *state;
    struct exec_req req;

    write1(t, "CREATE TABLE t (at DATETIME, ok BOOLEAN, n)");
    write1(t, "INSERT INTO t VALUES (1700000000, 1, 2)");
    req_init(&req, "SELECT at, ok, n, n + 1 FROM t", NULL);
    assert_int_equal(exec_read(t->e, DB, &req), 0);
    assert_int_equal(req.rows.n_cols, 4);
    assert_string_equal(req.rows.decl_types[0], "DATETIME");
    assert_string_equal(req.rows.decl_types[1], "BOOLEAN");
    assert_null(req.rows.decl_types[2]);
    assert_null(req.rows.decl_types[3]);
    exec_req_close(&req);
}

/*
 * Exactly-once sessions.
 */

/* Run @sql as a one-request batch with session (@client, @seq) and let it
 * commit; the request is left in @req for the test to inspect and close. */
static void write_session(struct fixture *t,
                          const char *sql,
                          uint64_t client,
                          uint64_t seq,
                          struct exec_req *req)
{
    struct exec_req *reqs[] = {req};
    char errmsg[WR_ERRMSG_SIZE] = "";
    static int calls;
    int rv;

    req_init(req, sql, &calls);
    req->client_id = client;
    req->seq = seq;
    rv = exec_write(t->e, DB, reqs, 1, errmsg);
    if (rv != 0) {
        print_error("exec_write: %s\n", errmsg);
    }
    assert_int_equal(rv, 0);
    fake_apply_next(&t->fk);
}

/* A second node @o next to @t's, empty, with an executor. */
static void other_open(struct fixture *t,
                       struct fixture *o,
                       const char *suffix,
                       unsigned sessions_max)
{
    struct fsm_config config = {0};
    char errmsg[WR_ERRMSG_SIZE] = "";

    memset(o, 0, sizeof *o);
    assert_true(strlen(t->dir) + 1 + strlen(suffix) < sizeof o->dir);
    strcpy(o->dir, t->dir);
    strcat(o->dir, "-");
    strcat(o->dir, suffix);
    assert_int_equal(mkdir(o->dir, 0700), 0);
    config.dir = o->dir;
    config.node_id = next_node_id++;
    config.seed = 9;
    config.sessions_max = sessions_max;
    assert_int_equal(fsm_create(&config, &o->f, errmsg), 0);
    o->fk.p.data = &o->fk;
    o->fk.p.propose = fake_propose;
    o->fk.f = o->f;
    assert_int_equal(exec_create(o->f, &o->fk.p, &o->e), 0);
}

static void other_close(struct fixture *o)
{
    exec_destroy(o->e);
    fsm_destroy(o->f);
    nftw(o->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Snapshot @from and restore it into @to. */
static void snapshot_into(struct fsm *from, struct fsm *to)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct fsm_buf *bufs;
    unsigned n_bufs;
    uint8_t *all;
    size_t len = 0;

    assert_int_equal(fsm_snapshot(from, &bufs, &n_bufs, errmsg), 0);
    for (unsigned i = 0; i < n_bufs; i++) {
        len += bufs[i].len;
    }
    all = malloc(len);
    assert_non_null(all);
    len = 0;
    for (unsigned i = 0; i < n_bufs; i++) {
        memcpy(all + len, bufs[i].base, bufs[i].len);
        len += bufs[i].len;
    }
    fsm_snapshot_finalize(from, bufs, n_bufs);
    if (fsm_restore(to, all, len, errmsg) != 0) {
        print_error("fsm_restore: %s\n", errmsg);
        fail();
    }
    free(all);
}

/* Apply a SESSIONS command recording client @client's write @seq. */
static void apply_sessions(struct fsm *f, uint64_t client, uint64_t seq)
{
    struct command_session rec = {client, seq, 0, 0};
    char errmsg[WR_ERRMSG_SIZE] = "";
    void *buf;
    size_t len;

    assert_int_equal(command_sessions_encode(DB, &rec, 1, &buf, &len, errmsg),
                     0);
    assert_int_equal(fsm_apply(f, buf, len, errmsg), 0);
    free(buf);
}

static struct fsm_db *open_db(struct fsm *f)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct fsm_db *db;
    assert_int_equal(fsm_db_open(f, DB, &db, errmsg), 0);
    return db;
}

/* A retry of a write that committed is not run again: it returns the
 * recorded changes and last insert id, even after other clients wrote, and
 * the row exists once; the client's next sequence number runs. */
static void session_retry_after_commit_returns_recorded_result(void **state)
{
    struct fixture *t = *state;
    struct exec_req req;
    unsigned frames;

    write1(t, "CREATE TABLE t (x INTEGER)");
    write_session(t, "INSERT INTO t VALUES (10)", 5, 1, &req);
    assert_req_ok(&req);
    assert_false(req.duplicate);
    assert_int_equal(req.changes, 1);
    assert_int_equal(req.last_insert_id, 1);
    exec_req_close(&req);
    write1(t, "INSERT INTO t VALUES (20), (30)");

    frames = t->fk.n_frames;
    write_session(t, "INSERT INTO t VALUES (10)", 5, 1, &req);
    assert_req_ok(&req);
    assert_true(req.duplicate);
    assert_int_equal(req.changes, 1);
    assert_int_equal(req.last_insert_id, 1);
    assert_int_equal(req.bookmark, t->fk.index);
    assert_true(t->fk.last_was_barrier); /* Nothing ran, nothing recorded. */
    assert_int_equal(t->fk.n_frames, frames);
    exec_req_close(&req);
    assert_int_equal(read_int(t, "SELECT count(*) FROM t WHERE x = 10"), 1);

    write_session(t, "INSERT INTO t VALUES (10)", 5, 2, &req);
    assert_req_ok(&req);
    assert_false(req.duplicate);
    assert_int_equal(req.last_insert_id, 4);
    exec_req_close(&req);
    assert_int_equal(read_int(t, "SELECT count(*) FROM t WHERE x = 10"), 2);
}

/* A sequence number below the client's recorded one is refused, definite,
 * and so is 0; neither runs. */
static void session_older_seq_refused(void **state)
{
    struct fixture *t = *state;
    struct exec_req req;

    write1(t, "CREATE TABLE t (x INTEGER)");
    write_session(t, "INSERT INTO t VALUES (1)", 5, 3, &req);
    assert_req_ok(&req);
    exec_req_close(&req);

    write_session(t, "INSERT INTO t VALUES (2)", 5, 2, &req);
    assert_int_equal(req.status, WR_INVALID);
    assert_true(req.definite);
    assert_string_equal(req.errmsg,
                        "sequence number 2 is older than client 5's last "
                        "write 3");
    exec_req_close(&req);

    write_session(t, "INSERT INTO t VALUES (3)", 5, 0, &req);
    assert_int_equal(req.status, WR_INVALID);
    assert_true(req.definite);
    assert_contains(req.errmsg, "at least 1");
    exec_req_close(&req);
    assert_int_equal(read_int(t, "SELECT sum(x) FROM t"), 1);
}

/* A write with a session that changes no page is still recorded (through a
 * SESSIONS command, not a barrier), and its retry is a duplicate. */
static void session_no_page_write_recorded(void **state)
{
    struct fixture *t = *state;
    struct command_session rec;
    struct exec_req req;

    write1(t, "CREATE TABLE t (x INTEGER)");
    write_session(t, "UPDATE t SET x = 1 WHERE x = 99", 7, 1, &req);
    assert_req_ok(&req);
    assert_false(t->fk.last_was_barrier);
    assert_int_equal(req.changes, 0);
    exec_req_close(&req);
    assert_true(fsm_session_get(open_db(t->f), 7, &rec));
    assert_int_equal(rec.seq, 1);
    assert_int_equal(rec.changes, 0);

    write_session(t, "UPDATE t SET x = 1 WHERE x = 99", 7, 1, &req);
    assert_req_ok(&req);
    assert_true(req.duplicate);
    assert_true(t->fk.last_was_barrier);
    exec_req_close(&req);
}

/* Requests of one client in one batch: the same sequence number twice is
 * refused as in flight, a lower one as old, a higher one runs too and the
 * last that succeeded is recorded; a request that fails on its own SQL
 * error is not recorded and may be retried with the same number. */
static void session_duplicates_in_one_batch(void **state)
{
    struct fixture *t = *state;
    struct exec_req r[6];
    struct exec_req *reqs[] = {&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]};
    static const uint64_t client[6] = {1, 1, 1, 1, 2, 3};
    static const uint64_t seq[6] = {1, 1, 2, 1, 1, 4};
    struct command_session rec;
    struct fsm_db *db;
    int calls = 0;

    write1(t, "CREATE TABLE t (x INTEGER UNIQUE)");
    req_init(&r[0], "INSERT INTO t VALUES (1)", &calls);
    req_init(&r[1], "INSERT INTO t VALUES (2)", &calls);
    req_init(&r[2], "INSERT INTO t VALUES (3)", &calls);
    req_init(&r[3], "INSERT INTO t VALUES (4)", &calls);
    req_init(&r[4], "INSERT INTO t VALUES (1)", &calls); /* UNIQUE fails. */
    req_init(&r[5], "INSERT INTO t VALUES (6)", &calls);
    for (unsigned i = 0; i < 6; i++) {
        r[i].client_id = client[i];
        r[i].seq = seq[i];
    }
    assert_int_equal(write_batch(t, reqs, 6), 0);
    fake_apply_next(&t->fk);
    assert_int_equal(calls, 6);
    assert_req_ok(&r[0]);
    assert_int_equal(r[1].status, WR_BUSY);
    assert_true(r[1].definite);
    assert_contains(r[1].errmsg, "already in flight");
    assert_req_ok(&r[2]);
    assert_int_equal(r[3].status, WR_INVALID);
    assert_contains(r[3].errmsg, "older than client 1's last write 2");
    assert_int_equal(r[4].status, WR_SQL);
    assert_req_ok(&r[5]);
    for (unsigned i = 0; i < 6; i++) {
        exec_req_close(&r[i]);
    }
    assert_int_equal(read_int(t, "SELECT sum(x) FROM t"), 1 + 3 + 6);

    db = open_db(t->f);
    assert_true(fsm_session_get(db, 1, &rec));
    assert_int_equal(rec.seq, 2);
    assert_int_equal(rec.last_insert_id, 2);
    assert_false(fsm_session_get(db, 2, &rec));
    assert_true(fsm_session_get(db, 3, &rec));
    assert_int_equal(rec.seq, 4);

    /* Client 2 retries its failed write, now valid: it runs. */
    write_session(t, "INSERT INTO t VALUES (5)", 2, 1, &r[0]);
    assert_req_ok(&r[0]);
    assert_false(r[0].duplicate);
    exec_req_close(&r[0]);
    assert_int_equal(read_int(t, "SELECT sum(x) FROM t"), 1 + 3 + 5 + 6);
}

/* The session table is in the fsm snapshot: restored into a fresh fsm, it
 * has the same records and clock, and an executor there deduplicates. */
static void session_survives_snapshot_and_restore(void **state)
{
    struct fixture *t = *state;
    struct fixture other;
    struct command_session rec;
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct exec_req req;
    struct exec_req *reqs[] = {&req};
    int calls = 0;

    write1(t, "CREATE TABLE t (x INTEGER)");
    write_session(t, "INSERT INTO t VALUES (7)", 11, 3, &req);
    assert_req_ok(&req);
    exec_req_close(&req);
    write_session(t, "UPDATE t SET x = 8 WHERE x = 0", 12, 1, &req);
    exec_req_close(&req);

    other_open(t, &other, "restored", 0);
    apply_sessions(other.f, 99, 1); /* Replaced by the restore. */
    snapshot_into(t->f, other.f);

    assert_int_equal(fsm_session_count(open_db(other.f)), 2);
    assert_false(fsm_session_get(open_db(other.f), 99, &rec));
    assert_int_equal(fsm_db_applied_commands(open_db(other.f)),
                     fsm_db_applied_commands(open_db(t->f)));
    assert_true(fsm_session_get(open_db(other.f), 11, &rec));
    assert_int_equal(rec.seq, 3);
    assert_int_equal(rec.changes, 1);
    assert_int_equal(rec.last_insert_id, 1);
    assert_true(fsm_session_get(open_db(other.f), 12, &rec));
    assert_int_equal(rec.seq, 1);

    req_init(&req, "INSERT INTO t VALUES (7)", &calls);
    req.client_id = 11;
    req.seq = 3;
    assert_int_equal(exec_write(other.e, DB, reqs, 1, errmsg), 0);
    fake_apply_next(&other.fk);
    assert_req_ok(&req);
    assert_true(req.duplicate);
    assert_int_equal(req.last_insert_id, 1);
    exec_req_close(&req);
    assert_int_equal(read_int_db(&other, DB, "SELECT count(*) FROM t"), 1);
    other_close(&other);
}

/* With room for three clients, a fourth evicts the one written least
 * recently (by the database's count of applied commands, not by any clock),
 * and a node restored from a snapshot goes on evicting the same clients. */
static void session_expiry_is_deterministic(void **state)
{
    struct fixture *t = *state;
    struct fixture other;
    struct command_session rec;
    struct exec_req req;
    struct fsm_db *db;

    write1(t, "CREATE TABLE t (x INTEGER)");
    for (uint64_t c = 1; c <= 3; c++) {
        write_session(t, "INSERT INTO t VALUES (1)", c, 1, &req);
        assert_req_ok(&req);
        exec_req_close(&req);
    }
    write_session(t, "INSERT INTO t VALUES (1)", 1, 2, &req); /* 1 is fresh. */
    exec_req_close(&req);
    write_session(t, "INSERT INTO t VALUES (1)", 4, 1, &req);
    exec_req_close(&req);

    db = open_db(t->f);
    assert_int_equal(fsm_session_count(db), 3);
    assert_true(fsm_session_get(db, 1, &rec));
    assert_false(fsm_session_get(db, 2, &rec));
    assert_true(fsm_session_get(db, 3, &rec));
    assert_true(fsm_session_get(db, 4, &rec));

    /* Forgotten, client 2's retry runs again: the documented limit. */
    write_session(t, "INSERT INTO t VALUES (1)", 2, 1, &req);
    assert_false(req.duplicate);
    exec_req_close(&req);
    assert_false(fsm_session_get(db, 3, &rec));

    /* Recency order is 1, 4, 2. A node restored from a snapshot keeps it:
     * the next new client evicts client 1 on both. */
    other_open(t, &other, "restored", 3);
    snapshot_into(t->f, other.f);
    apply_sessions(t->f, 5, 1);
    apply_sessions(other.f, 5, 1);
    for (int k = 0; k < 2; k++) {
        db = open_db(k == 0 ? t->f : other.f);
        assert_int_equal(fsm_session_count(db), 3);
        assert_false(fsm_session_get(db, 1, &rec));
        assert_true(fsm_session_get(db, 2, &rec));
        assert_true(fsm_session_get(db, 4, &rec));
        assert_true(fsm_session_get(db, 5, &rec));
    }
    other_close(&other);
}

/* The default cap: one SESSIONS command naming FSM_SESSIONS_MAX + 1 new
 * clients leaves FSM_SESSIONS_MAX, the first of them forgotten. */
static void session_default_cap_evicts_in_record_order(void **state)
{
    struct fixture *t = *state;
    struct command_session *recs;
    struct command_session rec;
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct fsm_db *db;
    void *buf;
    size_t len;

    write1(t, "CREATE TABLE t (x INTEGER)");
    recs = calloc(FSM_SESSIONS_MAX + 1, sizeof *recs);
    assert_non_null(recs);
    for (uint32_t i = 0; i <= FSM_SESSIONS_MAX; i++) {
        recs[i].client_id = 100 + i;
        recs[i].seq = 1;
    }
    assert_int_equal(command_sessions_encode(DB, recs, FSM_SESSIONS_MAX + 1,
                                             &buf, &len, errmsg),
                     0);
    assert_int_equal(fsm_apply(t->f, buf, len, errmsg), 0);
    free(buf);
    free(recs);
    db = open_db(t->f);
    assert_int_equal(fsm_session_count(db), FSM_SESSIONS_MAX);
    assert_false(fsm_session_get(db, 100, &rec));
    assert_true(fsm_session_get(db, 101, &rec));
    assert_true(fsm_session_get(db, 100 + FSM_SESSIONS_MAX, &rec));
}

static int setup_three_sessions(void **state)
{
    int rv;
    setup_sessions_max = 3;
    rv = setup(state);
    setup_sessions_max = 0;
    return rv;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(batch_of_three_inserts),
        T(unique_violation_fails_only_that_request),
        T(insert_returning_returns_rows),
        T(read_during_inflight_batch_sees_committed_state),
        T(leadership_lost_makes_requests_indefinite),
        T(notleader_at_propose_fires_no_callback),
        T(write_while_busy_is_refused),
        T(read_refuses_writes_and_transaction_control),
        T(transaction_control_in_request_is_refused),
        T(params_of_every_type_round_trip),
        T(param_count_mismatch_fails_that_request),
        T(no_page_change_goes_through_a_barrier),
        T(insert_or_rollback_fails_only_that_request),
        T(all_failed_batch_is_a_barrier),
        T(vacuum_runs_alone),
        T(results_do_not_leak_between_requests),
        T(guarded_statements_in_request_are_refused),
        T(kept_statements_checked_every_time),
        T(deferred_fk_violation_fails_only_that_request),
        T(spilled_transaction_with_rollbacks),
        T(spilled_transaction_aborted),
        T(callback_may_start_next_batch),
        T(destroy_with_batch_in_flight),
        T(invalid_calls_and_empty_database),
        T(tx_isolated_until_commit_applied),
        T(tx_holds_the_writer),
        T(tx_rollback_discards),
        T(tx_statement_error_keeps_transaction),
        T(tx_commit_refused_by_deferred_fk),
        T(tx_read_only_commit_proposes_nothing),
        T(tx_read_commit_of_a_write_is_proposed),
        T(tx_rolled_back_by_foreign_entry),
        T(destroy_with_transaction_open),
        T(rows_carry_declared_types),
        T(session_retry_after_commit_returns_recorded_result),
        T(session_older_seq_refused),
        T(session_no_page_write_recorded),
        T(session_duplicates_in_one_batch),
        T(session_survives_snapshot_and_restore),
        cmocka_unit_test_setup_teardown(session_expiry_is_deterministic,
                                        setup_three_sessions, teardown),
        T(session_default_cap_evicts_in_record_order),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
