/*
 * Unit tests of the group-commit write queue (node/queue.c) over a real fsm
 * and executor, with a fake proposer standing in for Raft (as in
 * test_exec.c): each proposal waits until the test applies or fails it. The
 * queue's clock is a variable the test moves, and the test calls
 * queue_tick() itself, as the node does after every loop turn.
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
#include "node/queue.h"

#include "fake_proposer.h"

/* Fixture. */

struct fixture {
    char dir[PATH_MAX];
    uv_loop_t loop;
    struct fsm *f;
    struct fake fk;
    struct exec *e;
    struct queue *q;
    uint64_t now;
    bool ready;
};

static uint64_t next_node_id = 1;

static uint64_t clock_cb(void *arg)
{
    struct fixture *t = arg;
    return t->now;
}

static bool ready_cb(void *arg)
{
    struct fixture *t = arg;
    return t->ready;
}

static void fixture_queue(struct fixture *t, unsigned max_batch)
{
    struct queue_config c = {0};

    c.timeout_ms = 100;
    c.max_batch = max_batch;
    c.now_ms = clock_cb;
    c.now_arg = t;
    assert_int_equal(queue_create(&t->loop, t->e, &c, ready_cb, t, &t->q), 0);
}

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
    mkdir(base, 0700);
    snprintf(t->dir, sizeof t->dir, "%s/test_queue-XXXXXX", base);
    assert_non_null(mkdtemp(t->dir));
    assert_int_equal(uv_loop_init(&t->loop), 0);

    config.dir = t->dir;
    config.node_id = next_node_id++;
    config.seed = 7;
    rv = fsm_create(&config, &t->f, errmsg);
    if (rv != 0) {
        print_error("fsm_create: %s\n", errmsg);
    }
    assert_int_equal(rv, 0);
    t->fk.p.data = &t->fk;
    t->fk.p.propose = fake_propose;
    t->fk.f = t->f;
    assert_int_equal(exec_create(t->f, &t->fk.p, &t->e), 0);
    t->ready = true;
    t->now = 1000;
    fixture_queue(t, 0);
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

    /* The node's order: queue, executor, then Raft's leftovers, fsm. */
    queue_destroy(t->q);
    assert_int_equal(uv_run(&t->loop, UV_RUN_DEFAULT), 0);
    exec_destroy(t->e);
    while (t->fk.n > 0) {
        fake_fail_next(&t->fk, WR_SHUTDOWN);
    }
    fsm_destroy(t->f);
    assert_int_equal(uv_loop_close(&t->loop), 0);
    nftw(t->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(t);
    return 0;
}

/* Helpers. */

#define DB "db1"

struct call {
    int calls;
    struct exec_req *req;
};

static void count_cb(struct exec_req *req)
{
    struct call *c = req->data;
    assert_ptr_equal(c->req, req); /* The caller's data is back. */
    c->calls++;
}

static void req_init(struct exec_req *req, const char *sql, struct call *c)
{
    memset(req, 0, sizeof *req);
    memset(c, 0, sizeof *c);
    c->req = req;
    req->sql = sql;
    req->cb = count_cb;
    req->data = c;
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

/* Submit @sql, let the queue start it and the entry commit. */
static void write1(struct fixture *t, const char *sql)
{
    struct exec_req req;
    struct call c;

    req_init(&req, sql, &c);
    queue_submit(t->q, DB, &req);
    queue_tick(t->q);
    assert_int_equal(t->fk.n, 1);
    fake_apply_next(&t->fk);
    assert_int_equal(c.calls, 1);
    assert_req_ok(&req);
    exec_req_close(&req);
}

static int64_t read_int(struct fixture *t, const char *sql)
{
    struct exec_req req;
    int64_t v;

    memset(&req, 0, sizeof req);
    req.sql = sql;
    assert_int_equal(exec_read(t->e, DB, &req), 0);
    assert_int_equal(req.rows.n_rows, 1);
    v = req.rows.values[0].integer;
    exec_req_close(&req);
    return v;
}

/* Tests. */

/* Three writers that arrive in the same turn go out as one proposal, and
 * none of them is answered inside queue_submit(). */
static void concurrent_writes_share_one_proposal(void **state)
{
    struct fixture *t = *state;
    struct exec_req r[3];
    struct call c[3];

    write1(t, "CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)");
    req_init(&r[0], "INSERT INTO t (x) VALUES ('a')", &c[0]);
    req_init(&r[1], "INSERT INTO t (x) VALUES ('b')", &c[1]);
    req_init(&r[2], "INSERT INTO t (x) VALUES ('c')", &c[2]);
    for (int i = 0; i < 3; i++) {
        queue_submit(t->q, DB, &r[i]);
        assert_int_equal(c[i].calls, 0);
    }
    assert_int_equal(queue_length(t->q), 3);
    queue_tick(t->q);
    assert_int_equal(queue_length(t->q), 0);
    assert_int_equal(t->fk.n, 1);
    fake_apply_next(&t->fk);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(c[i].calls, 1);
        assert_req_ok(&r[i]);
        assert_int_equal(r[i].last_insert_id, i + 1);
        assert_int_equal(r[i].bookmark, 2);
        exec_req_close(&r[i]);
    }
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 3);
}

/* The loop alone drives the queue: a submitted write is proposed on the
 * next loop turn without the node calling queue_tick(). */
static void loop_turn_starts_the_batch(void **state)
{
    struct fixture *t = *state;
    struct exec_req req;
    struct call c;

    req_init(&req, "CREATE TABLE t (x)", &c);
    queue_submit(t->q, DB, &req);
    assert_int_equal(t->fk.n, 0);
    uv_run(&t->loop, UV_RUN_NOWAIT);
    assert_int_equal(t->fk.n, 1);
    fake_apply_next(&t->fk);
    assert_int_equal(c.calls, 1);
    assert_req_ok(&req);
    exec_req_close(&req);
}

/* One request of a batch violates a UNIQUE constraint: it alone fails,
 * with SQLite's code, and the others commit. */
static void error_stays_with_its_request(void **state)
{
    struct fixture *t = *state;
    struct exec_req r[3];
    struct call c[3];

    write1(t, "CREATE TABLE t (x INTEGER UNIQUE)");
    req_init(&r[0], "INSERT INTO t VALUES (1)", &c[0]);
    req_init(&r[1], "INSERT INTO t VALUES (1)", &c[1]);
    req_init(&r[2], "INSERT INTO t VALUES (2)", &c[2]);
    for (int i = 0; i < 3; i++) {
        queue_submit(t->q, DB, &r[i]);
    }
    queue_tick(t->q);
    assert_int_equal(t->fk.n, 1);
    fake_apply_next(&t->fk);
    assert_req_ok(&r[0]);
    assert_int_equal(r[1].status, WR_SQL);
    assert_int_equal(r[1].sqlite_code, SQLITE_CONSTRAINT_UNIQUE);
    assert_true(r[1].definite);
    assert_req_ok(&r[2]);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(c[i].calls, 1);
        exec_req_close(&r[i]);
    }
    assert_int_equal(read_int(t, "SELECT sum(x) FROM t"), 3);
}

/* A write arriving while a batch is in flight waits for it, then goes in
 * the next batch. */
static void writes_wait_for_the_batch_in_flight(void **state)
{
    struct fixture *t = *state;
    struct exec_req a, b;
    struct call ca, cb;

    write1(t, "CREATE TABLE t (x)");
    req_init(&a, "INSERT INTO t VALUES (1)", &ca);
    req_init(&b, "INSERT INTO t VALUES (2)", &cb);
    queue_submit(t->q, DB, &a);
    queue_tick(t->q);
    queue_submit(t->q, DB, &b);
    queue_tick(t->q);
    assert_int_equal(t->fk.n, 1);
    assert_int_equal(queue_length(t->q), 1);
    fake_apply_next(&t->fk);
    assert_int_equal(ca.calls, 1);
    assert_int_equal(cb.calls, 0);
    queue_tick(t->q);
    assert_int_equal(t->fk.n, 1);
    fake_apply_next(&t->fk);
    assert_int_equal(cb.calls, 1);
    assert_req_ok(&a);
    assert_req_ok(&b);
    assert_int_equal(b.bookmark, a.bookmark + 1);
    exec_req_close(&a);
    exec_req_close(&b);
}

/* Batches of two databases are in flight at the same time. */
static void databases_run_in_parallel(void **state)
{
    struct fixture *t = *state;
    struct exec_req a, b;
    struct call ca, cb;

    req_init(&a, "CREATE TABLE t (x)", &ca);
    req_init(&b, "CREATE TABLE u (x)", &cb);
    queue_submit(t->q, "one", &a);
    queue_submit(t->q, "two", &b);
    queue_tick(t->q);
    assert_int_equal(t->fk.n, 2);
    fake_apply_next(&t->fk);
    fake_apply_next(&t->fk);
    assert_int_equal(ca.calls + cb.calls, 2);
    assert_req_ok(&a);
    assert_req_ok(&b);
    exec_req_close(&a);
    exec_req_close(&b);
}

/* A VACUUM between two inserts runs alone: three batches, in order. */
static void vacuum_goes_alone(void **state)
{
    struct fixture *t = *state;
    struct exec_req r[3];
    struct call c[3];

    write1(t, "CREATE TABLE t (x)");
    req_init(&r[0], "INSERT INTO t VALUES (1)", &c[0]);
    req_init(&r[1], "  /* compact */ vacuum", &c[1]);
    req_init(&r[2], "INSERT INTO t VALUES (2)", &c[2]);
    for (int i = 0; i < 3; i++) {
        queue_submit(t->q, DB, &r[i]);
    }
    for (int i = 0; i < 3; i++) {
        queue_tick(t->q);
        assert_int_equal(t->fk.n, 1);
        assert_int_equal(queue_length(t->q), 2 - i);
        fake_apply_next(&t->fk);
        assert_int_equal(c[i].calls, 1);
        assert_req_ok(&r[i]);
        exec_req_close(&r[i]);
    }
    assert_int_equal(read_int(t, "SELECT count(*) FROM t"), 2);
}

/* With max_batch 2, three waiting writes go out as batches of 2 and 1. */
static void batch_is_bounded_by_count(void **state)
{
    struct fixture *t = *state;
    struct exec_req r[3];
    struct call c[3];

    queue_destroy(t->q);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    fixture_queue(t, 2);
    write1(t, "CREATE TABLE t (x)");
    for (int i = 0; i < 3; i++) {
        req_init(&r[i], "INSERT INTO t VALUES (1)", &c[i]);
        queue_submit(t->q, DB, &r[i]);
    }
    queue_tick(t->q);
    assert_int_equal(queue_length(t->q), 1);
    fake_apply_next(&t->fk);
    assert_int_equal(c[0].calls + c[1].calls + c[2].calls, 2);
    queue_tick(t->q);
    fake_apply_next(&t->fk);
    assert_int_equal(c[2].calls, 1);
    assert_int_equal(t->fk.n_proposals, 3);
    for (int i = 0; i < 3; i++) {
        assert_req_ok(&r[i]);
        exec_req_close(&r[i]);
    }
}

/* While ready() is false writes stay queued; once it is true they go. */
static void not_ready_holds_writes(void **state)
{
    struct fixture *t = *state;
    struct exec_req req;
    struct call c;

    t->ready = false;
    req_init(&req, "CREATE TABLE t (x)", &c);
    queue_submit(t->q, DB, &req);
    queue_tick(t->q);
    uv_run(&t->loop, UV_RUN_NOWAIT);
    assert_int_equal(t->fk.n, 0);
    assert_int_equal(c.calls, 0);
    assert_int_equal(queue_length(t->q), 1);
    t->ready = true;
    queue_tick(t->q);
    assert_int_equal(t->fk.n, 1);
    fake_apply_next(&t->fk);
    assert_int_equal(c.calls, 1);
    assert_req_ok(&req);
    exec_req_close(&req);
}

/* A write that waits longer than the timeout fails with WR_BUSY, definite,
 * and says how long it waited; one queued later is still waiting. */
static void timeout_fails_the_waiting_write(void **state)
{
    struct fixture *t = *state;
    struct exec_req a, b;
    struct call ca, cb;

    t->ready = false;
    req_init(&a, "CREATE TABLE t (x)", &ca);
    req_init(&b, "CREATE TABLE u (x)", &cb);
    queue_submit(t->q, DB, &a);
    t->now += 50;
    queue_submit(t->q, DB, &b);
    t->now += 49;
    queue_tick(t->q);
    assert_int_equal(ca.calls, 0);
    t->now += 1;
    queue_tick(t->q);
    assert_int_equal(ca.calls, 1);
    assert_int_equal(cb.calls, 0);
    assert_int_equal(a.status, WR_BUSY);
    assert_true(a.definite);
    assert_string_equal(a.errmsg,
                        "write queue timeout: waited 100 ms for the writer");
    assert_int_equal(queue_length(t->q), 1);
    t->ready = true;
    queue_tick(t->q);
    fake_apply_next(&t->fk);
    assert_int_equal(cb.calls, 1);
    assert_req_ok(&b);
    exec_req_close(&a);
    exec_req_close(&b);
}

/* The node stops leading: every waiting write fails with its status,
 * definite; the batch already in flight is left to the executor. */
static void fail_all_fails_waiting_writes(void **state)
{
    struct fixture *t = *state;
    struct exec_req r[3];
    struct call c[3];

    write1(t, "CREATE TABLE t (x)");
    for (int i = 0; i < 3; i++) {
        req_init(&r[i], "INSERT INTO t VALUES (1)", &c[i]);
        queue_submit(t->q, DB, &r[i]);
        if (i == 0) {
            queue_tick(t->q); /* r[0] in flight. */
        }
    }
    queue_fail_all(t->q, WR_NOTLEADER, "not leader");
    assert_int_equal(queue_length(t->q), 0);
    assert_int_equal(c[0].calls, 0);
    for (int i = 1; i < 3; i++) {
        assert_int_equal(c[i].calls, 1);
        assert_int_equal(r[i].status, WR_NOTLEADER);
        assert_true(r[i].definite);
        assert_string_equal(r[i].errmsg, "not leader");
    }
    fake_fail_next(&t->fk, WR_LEADERSHIP_LOST);
    assert_int_equal(c[0].calls, 1);
    assert_int_equal(r[0].status, WR_LEADERSHIP_LOST);
    assert_false(r[0].definite);
    for (int i = 0; i < 3; i++) {
        exec_req_close(&r[i]);
    }
}

/* The proposer refuses synchronously: the batch's requests fail with that
 * error, definite, and the queue carries on once it accepts again. */
static void refused_proposal_fails_the_batch(void **state)
{
    struct fixture *t = *state;
    struct exec_req a, b;
    struct call ca, cb;

    write1(t, "CREATE TABLE t (x)");
    t->fk.sync_rv = WR_NOTLEADER;
    req_init(&a, "INSERT INTO t VALUES (1)", &ca);
    queue_submit(t->q, DB, &a);
    queue_tick(t->q);
    assert_int_equal(ca.calls, 1);
    assert_int_equal(a.status, WR_NOTLEADER);
    assert_true(a.definite);
    t->fk.sync_rv = 0;
    req_init(&b, "INSERT INTO t VALUES (2)", &cb);
    queue_submit(t->q, DB, &b);
    queue_tick(t->q);
    fake_apply_next(&t->fk);
    assert_req_ok(&b);
    assert_int_equal(read_int(t, "SELECT sum(x) FROM t"), 2);
    exec_req_close(&a);
    exec_req_close(&b);
}

/* Destroying the queue fails waiting writes with WR_SHUTDOWN, definite;
 * a write in flight is still answered by the executor afterwards. */
static void destroy_fails_waiting_writes(void **state)
{
    struct fixture *t = *state;
    struct exec_req a, b;
    struct call ca, cb;

    write1(t, "CREATE TABLE t (x)");
    req_init(&a, "INSERT INTO t VALUES (1)", &ca);
    req_init(&b, "INSERT INTO t VALUES (2)", &cb);
    queue_submit(t->q, DB, &a);
    queue_tick(t->q);
    queue_submit(t->q, DB, &b);
    queue_destroy(t->q);
    assert_int_equal(cb.calls, 1);
    assert_int_equal(b.status, WR_SHUTDOWN);
    assert_true(b.definite);
    uv_run(&t->loop, UV_RUN_DEFAULT);
    fake_apply_next(&t->fk);
    assert_int_equal(ca.calls, 1);
    assert_req_ok(&a);
    fixture_queue(t, 0); /* For the teardown. */
    exec_req_close(&a);
    exec_req_close(&b);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

/* A BEGIN waits in line behind a batch in flight, then gets the writer:
 * writes queued after it wait until its COMMIT is applied, and then go. */
static void begin_waits_its_turn_and_holds_the_writer(void **state)
{
    struct fixture *t = *state;
    struct exec_req a, begin, b, commit;
    struct call ca, cbegin, cb, ccommit;
    struct exec_tx *tx = NULL;
    char errmsg[WR_ERRMSG_SIZE] = "";

    write1(t, "CREATE TABLE t (x)");
    req_init(&a, "INSERT INTO t VALUES (1)", &ca);
    queue_submit(t->q, DB, &a);
    queue_tick(t->q);
    assert_int_equal(t->fk.n, 1);

    req_init(&begin, NULL, &cbegin);
    queue_submit_begin(t->q, DB, &begin, &tx);
    req_init(&b, "INSERT INTO t VALUES (4)", &cb);
    queue_submit(t->q, DB, &b);
    queue_tick(t->q);
    assert_int_equal(cbegin.calls, 0);
    assert_null(tx);

    fake_apply_next(&t->fk);
    queue_tick(t->q);
    assert_int_equal(cbegin.calls, 1);
    assert_req_ok(&begin);
    assert_non_null(tx);
    assert_int_equal(t->fk.n, 0); /* b waits behind the transaction. */
    assert_int_equal(queue_length(t->q), 1);

    req_init(&commit, "INSERT INTO t VALUES (2)", &ccommit);
    assert_int_equal(exec_tx_run(tx, &commit), 0);
    exec_req_close(&commit);
    req_init(&commit, "COMMIT", &ccommit);
    assert_int_equal(exec_tx_commit(tx, &commit, errmsg), 0);
    queue_tick(t->q);
    assert_int_equal(t->fk.n, 1);
    fake_apply_next(&t->fk);
    assert_int_equal(ccommit.calls, 1);
    assert_req_ok(&commit);
    queue_tick(t->q);
    assert_int_equal(t->fk.n, 1);
    fake_apply_next(&t->fk);
    assert_int_equal(cb.calls, 1);
    assert_req_ok(&b);
    assert_int_equal(read_int(t, "SELECT sum(x) FROM t"), 7);
    exec_req_close(&a);
    exec_req_close(&b);
    exec_req_close(&commit);
}

/* A BEGIN still waiting when the node stops leading fails, definite, and
 * opens nothing. */
static void begin_fails_with_the_queue(void **state)
{
    struct fixture *t = *state;
    struct exec_req a, begin;
    struct call ca, cbegin;
    struct exec_tx *tx = NULL;

    write1(t, "CREATE TABLE t (x)");
    req_init(&a, "INSERT INTO t VALUES (1)", &ca);
    queue_submit(t->q, DB, &a);
    queue_tick(t->q);
    req_init(&begin, NULL, &cbegin);
    queue_submit_begin(t->q, DB, &begin, &tx);
    queue_tick(t->q);
    queue_fail_all(t->q, WR_NOTLEADER, "not leader");
    assert_int_equal(cbegin.calls, 1);
    assert_int_equal(begin.status, WR_NOTLEADER);
    assert_true(begin.definite);
    assert_null(tx);
    fake_apply_next(&t->fk);
    exec_req_close(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(concurrent_writes_share_one_proposal),
        T(loop_turn_starts_the_batch),
        T(error_stays_with_its_request),
        T(writes_wait_for_the_batch_in_flight),
        T(databases_run_in_parallel),
        T(vacuum_goes_alone),
        T(batch_is_bounded_by_count),
        T(not_ready_holds_writes),
        T(timeout_fails_the_waiting_write),
        T(fail_all_fails_waiting_writes),
        T(refused_proposal_fails_the_batch),
        T(destroy_fails_waiting_writes),
        T(begin_waits_its_turn_and_holds_the_writer),
        T(begin_fails_with_the_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
