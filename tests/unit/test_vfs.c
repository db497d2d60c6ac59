/*
 * The VFS and the state machine without Raft: a "leader" fsm captures
 * transactions, and the commands are applied by hand to itself and to
 * "follower" fsms. Each test states its scenario in one sentence.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../fsm/fsm.h"
#include "../../lib/err.h"

struct node {
    char dir[512];
    struct fsm *fsm;
};

static char root[400];
static unsigned n_nodes;

static unsigned checkpoint_threshold = 1000;

static void node_init(struct node *n, uint64_t id)
{
    char errmsg[WR_ERRMSG_SIZE];
    struct fsm_config config = {
        .node_id = id,
        .seed = 42,
        .checkpoint_threshold = checkpoint_threshold,
        .compress = true,
    };
    snprintf(n->dir, sizeof n->dir, "%s/%u", root, n_nodes++);
    config.dir = n->dir;
    int rv = fsm_create(&config, &n->fsm, errmsg);
    if (rv != 0) {
        fail_msg("fsm_create: %s", errmsg);
    }
}

static int setup(void **state)
{
    const char *tmp = getenv("WR_TEST_TMP");
    (void)state;
    if (tmp == NULL) {
        tmp = "/tmp";
    }
    mkdir(tmp, 0755);
    snprintf(root, sizeof root, "%s/test_vfs-XXXXXX", tmp);
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state)
{
    char cmd[500];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static sqlite3 *conn(struct node *n, const char *db)
{
    char errmsg[WR_ERRMSG_SIZE];
    struct fsm_db *d;
    if (fsm_db_open(n->fsm, db, &d, errmsg) != 0) {
        fail_msg("open %s: %s", db, errmsg);
    }
    return fsm_db_conn(d, errmsg);
}

static void exec_sql(struct node *n, const char *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(conn(n, db), sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail_msg("%s: %s", sql, msg);
    }
}

static int64_t query_int(struct node *n, const char *db, const char *sql)
{
    sqlite3_stmt *stmt;
    int64_t v;
    assert_int_equal(sqlite3_prepare_v2(conn(n, db), sql, -1, &stmt, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return v;
}

/* Capture the transaction just committed on @leader's @db; NULL if none. */
static void *poll_cmd(struct node *leader, const char *db, size_t *len,
                      uint64_t *tx_id)
{
    char errmsg[WR_ERRMSG_SIZE];
    struct fsm_db *d;
    void *cmd;
    assert_int_equal(fsm_db_open(leader->fsm, db, &d, errmsg), 0);
    if (fsm_poll(d, &cmd, len, tx_id, errmsg) != 0) {
        fail_msg("poll: %s", errmsg);
    }
    return cmd;
}

static void apply(struct node *n, const void *cmd, size_t len)
{
    char errmsg[WR_ERRMSG_SIZE];
    if (fsm_apply(n->fsm, cmd, len, errmsg) != 0) {
        fail_msg("apply: %s", errmsg);
    }
}

/* Run @sql on the leader, replicate it to every node in @nodes. */
static void replicate(struct node *nodes, unsigned n, const char *db,
                      const char *sql)
{
    size_t len;
    uint64_t tx_id;
    exec_sql(&nodes[0], db, sql);
    void *cmd = poll_cmd(&nodes[0], db, &len, &tx_id);
    if (cmd == NULL) {
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        apply(&nodes[i], cmd, len);
    }
    free(cmd);
}

static void read_file(const char *path, uint8_t **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc(*len + 1);
    assert_int_equal(fread(*buf, 1, *len, f), *len);
    fclose(f);
}

static void assert_identical(struct node *a, struct node *b, const char *db)
{
    char errmsg[WR_ERRMSG_SIZE];
    struct fsm_db *da, *dbb;
    uint8_t *x, *y;
    size_t nx, ny;

    assert_int_equal(fsm_checkpoint_all(a->fsm), 0);
    assert_int_equal(fsm_checkpoint_all(b->fsm), 0);
    assert_int_equal(fsm_db_open(a->fsm, db, &da, errmsg), 0);
    assert_int_equal(fsm_db_open(b->fsm, db, &dbb, errmsg), 0);
    read_file(fsm_db_path(da), &x, &nx);
    read_file(fsm_db_path(dbb), &y, &ny);
    assert_int_equal(nx, ny);
    for (size_t off = 0; off < nx; off += 4096) {
        if (memcmp(x + off, y + off, 4096) != 0) {
            fail_msg("%s: page %zu differs", db, off / 4096 + 1);
        }
    }
    free(x);
    free(y);
    sqlite3_stmt *stmt;
    for (int i = 0; i < 2; i++) {
        struct node *n = i == 0 ? a : b;
        assert_int_equal(sqlite3_prepare_v2(conn(n, db),
                                            "PRAGMA integrity_check", -1,
                                            &stmt, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "ok");
        sqlite3_finalize(stmt);
    }
}

/* A committed transaction stays invisible to readers on the leader until its
 * command is applied, and is then visible; a follower gets the same file. */
static void test_capture_hide_publish(void **state)
{
    struct node n[2];
    size_t len;
    uint64_t tx_id;
    (void)state;
    node_init(&n[0], 1);
    node_init(&n[1], 2);

    replicate(n, 2, "db", "CREATE TABLE t(x)");
    exec_sql(&n[0], "db", "INSERT INTO t VALUES(1)");
    void *cmd = poll_cmd(&n[0], "db", &len, &tx_id);
    assert_non_null(cmd);
    assert_int_equal(len % 8, 0);
    assert_int_equal(query_int(&n[0], "db", "SELECT count(*) FROM t"), 0);
    /* A second writer must wait: the lock is held for the pending entry. */
    char *msg = NULL;
    assert_int_equal(sqlite3_exec(conn(&n[0], "db"), "INSERT INTO t VALUES(2)",
                                  NULL, NULL, &msg) & 0xff,
                     SQLITE_BUSY);
    sqlite3_free(msg);
    apply(&n[0], cmd, len);
    apply(&n[1], cmd, len);
    free(cmd);
    assert_int_equal(query_int(&n[0], "db", "SELECT count(*) FROM t"), 1);
    assert_int_equal(query_int(&n[1], "db", "SELECT count(*) FROM t"), 1);
    assert_identical(&n[0], &n[1], "db");
    fsm_destroy(n[0].fsm);
    fsm_destroy(n[1].fsm);
}

/* An aborted transaction disappears and the next one commits normally. */
static void test_abort(void **state)
{
    struct node n[2];
    size_t len;
    uint64_t tx_id;
    struct fsm_db *d;
    char errmsg[WR_ERRMSG_SIZE];
    (void)state;
    node_init(&n[0], 1);
    node_init(&n[1], 2);

    replicate(n, 2, "db", "BEGIN; CREATE TABLE t(x); INSERT INTO t VALUES(1); COMMIT");
    exec_sql(&n[0], "db", "INSERT INTO t VALUES(2)");
    void *cmd = poll_cmd(&n[0], "db", &len, &tx_id);
    assert_non_null(cmd);
    assert_int_equal(fsm_db_open(n[0].fsm, "db", &d, errmsg), 0);
    fsm_abort(d, tx_id);
    free(cmd);
    assert_false(fsm_db_pending(d));
    assert_int_equal(query_int(&n[0], "db", "SELECT sum(x) FROM t"), 1);
    replicate(n, 2, "db", "INSERT INTO t VALUES(3)");
    assert_int_equal(query_int(&n[0], "db", "SELECT sum(x) FROM t"), 4);
    assert_int_equal(query_int(&n[1], "db", "SELECT sum(x) FROM t"), 4);
    assert_identical(&n[0], &n[1], "db");
    fsm_destroy(n[0].fsm);
    fsm_destroy(n[1].fsm);
}

/* The leader's pending transaction is superseded by another leader's entry
 * for the same database: it is dropped and the other entry applied. */
static void test_superseded(void **state)
{
    struct node n[3];
    size_t len, len2;
    uint64_t tx_id, tx2;
    (void)state;
    node_init(&n[0], 1);
    node_init(&n[1], 2);
    node_init(&n[2], 3);

    replicate(n, 3, "db", "CREATE TABLE t(x)");
    exec_sql(&n[0], "db", "INSERT INTO t VALUES(10)");
    void *lost = poll_cmd(&n[0], "db", &len, &tx_id);
    /* Node 1 becomes leader and commits its own write. */
    exec_sql(&n[1], "db", "INSERT INTO t VALUES(20)");
    void *won = poll_cmd(&n[1], "db", &len2, &tx2);
    for (int i = 0; i < 3; i++) {
        apply(&n[i], won, len2);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(query_int(&n[i], "db", "SELECT sum(x) FROM t"), 20);
    }
    free(lost);
    free(won);
    assert_identical(&n[0], &n[1], "db");
    assert_identical(&n[0], &n[2], "db");
    for (int i = 0; i < 3; i++) {
        fsm_destroy(n[i].fsm);
    }
}

/* A transaction bigger than the page cache spills; committed it replicates,
 * rolled back it leaves nothing pending. */
static void test_spill(void **state)
{
    struct node n[2];
    size_t len;
    uint64_t tx_id;
    (void)state;
    node_init(&n[0], 1);
    node_init(&n[1], 2);

    replicate(n, 2, "db", "PRAGMA cache_size=10; CREATE TABLE t(x)");
    exec_sql(&n[0], "db", "PRAGMA cache_size=10");
    exec_sql(&n[0], "db",
             "BEGIN; WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 "
             "FROM c WHERE i < 2000) INSERT INTO t SELECT randomblob(3000) "
             "FROM c; ROLLBACK;");
    assert_null(poll_cmd(&n[0], "db", &len, &tx_id));
    replicate(n, 2, "db",
              "BEGIN; WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 "
              "FROM c WHERE i < 2000) INSERT INTO t SELECT randomblob(3000) "
              "FROM c; DELETE FROM t WHERE rowid % 3 = 0; COMMIT;");
    assert_int_equal(query_int(&n[1], "db", "SELECT count(*) FROM t"), 1334);
    assert_identical(&n[0], &n[1], "db");
    fsm_destroy(n[0].fsm);
    fsm_destroy(n[1].fsm);
}

/* VACUUM shrinks the file identically on every node. */
static void test_vacuum(void **state)
{
    struct node n[2];
    struct stat a, b;
    (void)state;
    node_init(&n[0], 1);
    node_init(&n[1], 2);

    replicate(n, 2, "db", "CREATE TABLE t(x)");
    for (int i = 0; i < 20; i++) {
        replicate(n, 2, "db", "INSERT INTO t VALUES(randomblob(8000))");
    }
    replicate(n, 2, "db", "DELETE FROM t WHERE rowid > 2");
    replicate(n, 2, "db", "VACUUM");
    assert_identical(&n[0], &n[1], "db");
    char errmsg[WR_ERRMSG_SIZE];
    struct fsm_db *d0, *d1;
    fsm_db_open(n[0].fsm, "db", &d0, errmsg);
    fsm_db_open(n[1].fsm, "db", &d1, errmsg);
    stat(fsm_db_path(d0), &a);
    stat(fsm_db_path(d1), &b);
    assert_int_equal(a.st_size, b.st_size);
    assert_true(a.st_size < 10 * 4096);
    fsm_destroy(n[0].fsm);
    fsm_destroy(n[1].fsm);
}

/* Settings the replication relies on cannot be changed by SQL. */
static void test_pragmas_refused(void **state)
{
    struct node n;
    static const char *bad[] = {
        "PRAGMA journal_mode=DELETE", "PRAGMA page_size=8192",
        "PRAGMA locking_mode=EXCLUSIVE", "PRAGMA wal_checkpoint",
        "PRAGMA wal_autocheckpoint=100",
    };
    (void)state;
    node_init(&n, 1);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *msg = NULL;
        assert_int_not_equal(
            sqlite3_exec(conn(&n, "db"), bad[i], NULL, NULL, &msg), SQLITE_OK);
        assert_non_null(msg);
        sqlite3_free(msg);
    }
    fsm_destroy(n.fsm);
}

/* Many applies cross the checkpoint threshold on leader and follower; a
 * snapshot restored into a fresh node, then fed the entries that followed
 * it, ends identical; a corrupt snapshot is refused and changes nothing. */
static void test_checkpoint_snapshot_restore(void **state)
{
    struct node n[3];
    struct fsm_buf *bufs;
    unsigned n_bufs;
    char errmsg[WR_ERRMSG_SIZE];
    void *later[2];
    size_t later_len[2];
    uint64_t tx_id;
    (void)state;
    node_init(&n[0], 1);
    node_init(&n[1], 2);
    node_init(&n[2], 3);

    replicate(n, 2, "a", "CREATE TABLE t(x)");
    replicate(n, 2, "b", "CREATE TABLE u(y)");
    for (int i = 0; i < 400; i++) {
        replicate(n, 2, i % 2 ? "a" : "b",
                  i % 2 ? "INSERT INTO t VALUES(randomblob(5000))"
                        : "INSERT INTO u VALUES(random())");
    }
    assert_int_equal(fsm_snapshot(n[1].fsm, &bufs, &n_bufs, errmsg), 0);
    size_t total = 0;
    for (unsigned i = 0; i < n_bufs; i++) {
        total += bufs[i].len;
    }
    uint8_t *flat = malloc(total);
    size_t off = 0;
    /* Entries keep coming while the snapshot is being written. */
    const char *sql[2] = {"DELETE FROM t WHERE rowid % 2 = 0",
                          "UPDATE u SET y = y / 2"};
    for (int i = 0; i < 2; i++) {
        exec_sql(&n[0], i ? "b" : "a", sql[i]);
        later[i] = poll_cmd(&n[0], i ? "b" : "a", &later_len[i], &tx_id);
        apply(&n[0], later[i], later_len[i]);
        apply(&n[1], later[i], later_len[i]);
    }
    for (unsigned i = 0; i < n_bufs; i++) {
        memcpy(flat + off, bufs[i].base, bufs[i].len);
        off += bufs[i].len;
    }
    fsm_snapshot_finalize(n[1].fsm, bufs, n_bufs);
    replicate(&n[2], 1, "c", "CREATE TABLE stray(z)");
    flat[total - 1] ^= 1;
    assert_int_equal(fsm_restore(n[2].fsm, flat, total, errmsg), WR_CORRUPT);
    assert_int_equal(query_int(&n[2], "c", "SELECT count(*) FROM stray"), 0);
    flat[total - 1] ^= 1;
    assert_int_equal(fsm_restore(n[2].fsm, flat, total, errmsg), 0);
    free(flat);
    for (int i = 0; i < 2; i++) {
        apply(&n[2], later[i], later_len[i]);
        free(later[i]);
    }
    assert_identical(&n[0], &n[2], "a");
    assert_identical(&n[0], &n[2], "b");
    assert_identical(&n[1], &n[2], "a");
    for (int i = 0; i < 3; i++) {
        fsm_destroy(n[i].fsm);
    }
}

/* A follower reads after every apply while its WAL grows past several
 * wal-index blocks (no checkpoint): every read sees exactly the leader's
 * committed rows, so the index kept up to date by the append is right. */
static void test_follower_reads_long_wal(void **state)
{
    struct node n[2];
    (void)state;
    checkpoint_threshold = 1000000;
    node_init(&n[0], 1);
    node_init(&n[1], 2);
    checkpoint_threshold = 1000;

    replicate(n, 2, "db", "CREATE TABLE t(k INTEGER PRIMARY KEY, v)");
    for (int i = 1; i <= 3000; i++) {
        char sql[200];
        snprintf(sql, sizeof sql,
                 "BEGIN; INSERT INTO t VALUES(%d, randomblob(900)); "
                 "UPDATE t SET v = randomblob(700) WHERE k = %d; COMMIT",
                 i, 1 + (i * 7919) % i);
        replicate(n, 2, "db", sql);
        if (i % 7 == 0 || i > 2900) {
            char q[100];
            snprintf(q, sizeof q,
                     "SELECT count(*) * 1000000 + sum(length(v)) FROM t "
                     "WHERE k <= %d", i);
            assert_int_equal(query_int(&n[1], "db", q),
                             query_int(&n[0], "db", q));
        }
    }
    assert_identical(&n[0], &n[1], "db");
    fsm_destroy(n[0].fsm);
    fsm_destroy(n[1].fsm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capture_hide_publish),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_superseded),
        cmocka_unit_test(test_spill),
        cmocka_unit_test(test_vacuum),
        cmocka_unit_test(test_pragmas_refused),
        cmocka_unit_test(test_checkpoint_snapshot_restore),
        cmocka_unit_test(test_follower_reads_long_wal),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
