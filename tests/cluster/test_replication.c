/*
 * Replication scenarios on raft_fixture clusters running the real state
 * machine (issue 2, items 2 to 9). Each test states its scenario in one
 * sentence above it. Seeds are printed; WR_SEED overrides them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/harness.h"
#include "fsm/command.h"
#include "lib/byteorder.h"

#define BIG_ROWS 240       /* x 100 kB of random bytes: 24 MB. */
#define BIG_ROW_SIZE 100000

static struct cluster_options opts(unsigned n, uint64_t seed)
{
    struct cluster_options o;
    memset(&o, 0, sizeof o);
    o.n = n;
    o.seed = seed;
    return o;
}

/* File images a test holds, freed by the teardown if the test fails. */
static void *images[8];

static void *track(void *img)
{
    for (unsigned i = 0; i < sizeof images / sizeof images[0]; i++) {
        if (images[i] == NULL) {
            images[i] = img;
            return img;
        }
    }
    fail_msg("too many images");
    return NULL;
}

static void release(void *img)
{
    for (unsigned i = 0; i < sizeof images / sizeof images[0]; i++) {
        if (images[i] == img) {
            images[i] = NULL;
        }
    }
    free(img);
}

static int teardown(void **state)
{
    for (unsigned i = 0; i < sizeof images / sizeof images[0]; i++) {
        free(images[i]);
        images[i] = NULL;
    }
    return cluster_teardown(state);
}

/* Checkpointed image of database @db's main file on node @i. */
static void *node_image(struct cluster *c, unsigned i, const char *db,
                        size_t *len)
{
    char errmsg[WR_ERRMSG_SIZE];
    struct fsm_db *h;

    assert_int_equal(fsm_checkpoint_all(c->nodes[i].fsm), 0);
    assert_int_equal(fsm_db_open(c->nodes[i].fsm, db, &h, errmsg), 0);
    return track(harness_read_file(fsm_db_path(h), len));
}

static void *fsm_image(struct fsm *f, const char *db, size_t *len)
{
    char errmsg[WR_ERRMSG_SIZE];
    struct fsm_db *h;

    assert_int_equal(fsm_checkpoint_all(f), 0);
    assert_int_equal(fsm_db_open(f, db, &h, errmsg), 0);
    return track(harness_read_file(fsm_db_path(h), len));
}

static void assert_same_image(const void *a, size_t len_a, const void *b,
                              size_t len_b, const char *what)
{
    const unsigned char *pa = a;
    const unsigned char *pb = b;
    size_t n = len_a < len_b ? len_a : len_b;
    size_t i;

    for (i = 0; i < n && pa[i] == pb[i]; i++) {
    }
    if (i < n) {
        size_t last = n;
        while (last > i && pa[last - 1] == pb[last - 1]) {
            last--;
        }
        fail_msg("%s: the database file changed: page %zu, bytes %zu to %zu "
                 "of the page differ (first: 0x%02x before, 0x%02x after); "
                 "%zu bytes before, %zu after",
                 what, i / 4096 + 1, i % 4096, (last - 1) % 4096, pa[i], pb[i],
                 len_a, len_b);
    }
    if (len_a != len_b) {
        fail_msg("%s: the database file changed from %zu to %zu bytes", what,
                 len_a, len_b);
    }
}

static void assert_count_everywhere(struct cluster *c, const char *db,
                                    const char *sql, int64_t want)
{
    for (unsigned i = 0; i < c->n; i++) {
        int64_t got;
        if (c->nodes[i].killed) {
            continue;
        }
        got = cluster_query_int(c, i, db, sql);
        if (got != want) {
            fail_msg("node %u: \"%s\" on %s gave %lld, expected %lld", i, sql,
                     db, (long long)got, (long long)want);
        }
    }
}

/* ---- 2. Transactions larger than the page cache -------------------------- */

/* A 24 MB insert, far beyond SQLite's 2 MB default page cache so pages spill
 * to the WAL before the commit, replicates and every node ends identical. */
static void big_transaction_spills_and_replicates(void **state)
{
    struct cluster *c;
    char sql[256];
    (void)state;

    c = cluster_create("big_txn", &(struct cluster_options){.n = 3, .seed = 2});
    cluster_exec_ok(c, "db",
                    "CREATE TABLE big(id INTEGER PRIMARY KEY, b BLOB)");
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s "
             "WHERE x < %d) INSERT INTO big SELECT x, randomblob(%d) FROM s",
             BIG_ROWS, BIG_ROW_SIZE);
    cluster_exec_ok(c, "db", sql);
    /* And a big update of every row in place. */
    cluster_exec_ok(c, "db", "UPDATE big SET b = randomblob(length(b))");
    cluster_check(c);
    assert_count_everywhere(c, "db", "SELECT count(*) FROM big", BIG_ROWS);
    assert_count_everywhere(c, "db", "SELECT sum(length(b)) FROM big",
                            (int64_t)BIG_ROWS * BIG_ROW_SIZE);
    cluster_destroy(c);
}

/* A request that writes 24 MB and then violates a constraint is rolled back
 * to its savepoint: its batch neighbour commits, none of the big data reaches
 * the log or any node, and a batch of only that request changes no file. */
static void rolled_back_big_request_replicates_nothing(void **state)
{
    struct cluster_options o = opts(3, 3);
    struct cluster *c;
    struct cluster_batch *b;
    const struct cluster_command *cmds;
    size_t n_cmds;
    char big[512];
    const char *reqs[2];
    void *before[3];
    size_t before_len[3];
    (void)state;

    o.record_commands = true;
    o.record_node = 1;
    c = cluster_create("big_rollback", &o);
    cluster_exec_ok(c, "db",
                    "CREATE TABLE big(id INTEGER PRIMARY KEY, b BLOB);"
                    "CREATE TABLE uniq(k INTEGER PRIMARY KEY);"
                    "CREATE TABLE small(s TEXT);"
                    "INSERT INTO uniq VALUES(1)");
    snprintf(big, sizeof big,
             "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s "
             "WHERE x < %d) INSERT INTO big SELECT x, randomblob(%d) FROM s;"
             "INSERT INTO uniq VALUES(1)",
             BIG_ROWS, BIG_ROW_SIZE);
    reqs[0] = big;
    reqs[1] = "INSERT INTO small VALUES('kept')";
    b = cluster_write(c, "db", reqs, 2);
    assert_int_equal(b->reqs[0].status, WR_SQL);
    assert_int_equal(b->reqs[0].sqlite_code, SQLITE_CONSTRAINT_PRIMARYKEY);
    assert_true(b->reqs[0].definite);
    assert_int_equal(b->reqs[1].status, 0);
    cluster_batch_free(b);
    cluster_check(c);
    assert_count_everywhere(c, "db", "SELECT count(*) FROM big", 0);
    assert_count_everywhere(c, "db",
                            "SELECT count(*) FROM small WHERE s = 'kept'", 1);
    assert_count_everywhere(c, "db", "SELECT count(*) FROM uniq", 1);
    cmds = cluster_recorded(c, &n_cmds);
    assert_true(n_cmds >= 2);
    if (cmds[n_cmds - 1].len > 64 * 1024) {
        fail_msg("the committed batch's command is %zu bytes: the rolled "
                 "back data went into the log",
                 cmds[n_cmds - 1].len);
    }

    /* The failing request alone: nothing to replicate, no file changes. */
    for (unsigned i = 0; i < 3; i++) {
        before[i] = node_image(c, i, "db", &before_len[i]);
    }
    b = cluster_write(c, "db", reqs, 1);
    assert_int_equal(b->reqs[0].status, WR_SQL);
    cluster_batch_free(b);
    cluster_check(c);
    for (unsigned i = 0; i < 3; i++) {
        size_t len;
        void *after = node_image(c, i, "db", &len);
        assert_same_image(before[i], before_len[i], after, len,
                          "a batch whose only request failed");
        release(after);
        release(before[i]);
    }
    assert_count_everywhere(c, "db", "SELECT count(*) FROM big", 0);
    cluster_destroy(c);
}

/* ---- 3. Shrinking the file ----------------------------------------------- */

static size_t file_size_on(struct cluster *c, unsigned i, const char *db)
{
    size_t len;
    void *img = node_image(c, i, db, &len);
    release(img);
    return len;
}

/* After most rows are deleted, VACUUM rewrites and shrinks the database; the
 * smaller file replicates identically (the commit size travels in the
 * command) and passes integrity_check everywhere. */
static void vacuum_shrinks_identically(void **state)
{
    struct cluster *c;
    size_t before;
    size_t after;
    (void)state;

    c = cluster_create("vacuum", &(struct cluster_options){.n = 3, .seed = 4});
    cluster_exec_ok(c, "db",
                    "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB);"
                    "CREATE INDEX t_b ON t(b)");
    cluster_exec_ok(c, "db",
                    "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                    "FROM s WHERE x < 3000) INSERT INTO t SELECT x, "
                    "randomblob(1000) FROM s");
    cluster_check(c);
    before = file_size_on(c, 0, "db");
    cluster_exec_ok(c, "db", "DELETE FROM t WHERE id % 10 != 0");
    cluster_check(c);
    cluster_exec_ok(c, "db", "VACUUM");
    cluster_check(c);
    after = file_size_on(c, cluster_leader(c), "db");
    if (after * 3 > before) {
        fail_msg("VACUUM left the file at %zu bytes (was %zu)", after, before);
    }
    assert_count_everywhere(c, "db", "SELECT count(*) FROM t", 300);
    /* The database keeps working after the shrink. */
    cluster_exec_ok(c, "db", "INSERT INTO t VALUES(5001, randomblob(5000))");
    cluster_check(c);
    cluster_destroy(c);
}

/* With auto_vacuum=FULL, deleting rows and dropping a table truncate the file
 * at commit; the shrinks replicate and every node ends identical. */
static void auto_vacuum_shrinks_identically(void **state)
{
    struct cluster *c;
    size_t full;
    size_t shrunk;
    size_t empty;
    (void)state;

    c = cluster_create("auto_vacuum",
                       &(struct cluster_options){.n = 3, .seed = 5});
    /* A database's page 1 exists from its creation on (the switch to WAL
     * writes it), so auto_vacuum takes effect through VACUUM, as SQLite
     * documents for any existing database. */
    cluster_exec_ok(c, "av", "PRAGMA auto_vacuum = FULL");
    cluster_exec_ok(c, "av", "VACUUM");
    cluster_exec_ok(c, "av",
                    "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB);"
                    "CREATE TABLE u(id INTEGER PRIMARY KEY, b BLOB)");
    if (cluster_query_int(c, 0, "av", "PRAGMA auto_vacuum") != 1) {
        fail_msg("PRAGMA auto_vacuum = FULL then VACUUM had no effect");
    }
    cluster_exec_ok(c, "av",
                    "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                    "FROM s WHERE x < 2000) INSERT INTO t SELECT x, "
                    "randomblob(1500) FROM s;"
                    "INSERT INTO u SELECT id, b FROM t WHERE id <= 500");
    cluster_check(c);
    full = file_size_on(c, 0, "av");
    cluster_exec_ok(c, "av", "DELETE FROM t WHERE id > 200");
    cluster_check(c);
    shrunk = file_size_on(c, 0, "av");
    cluster_exec_ok(c, "av", "DROP TABLE u");
    cluster_check(c);
    empty = file_size_on(c, 0, "av");
    if (!(shrunk < full / 2 && empty < shrunk)) {
        fail_msg("auto_vacuum sizes: %zu, then %zu after DELETE, then %zu "
                 "after DROP TABLE",
                 full, shrunk, empty);
    }
    assert_count_everywhere(c, "av", "SELECT count(*) FROM t", 200);
    cluster_destroy(c);
}

/* ---- 4. Readers while an entry is in flight ------------------------------ */

/* While a write's entry is in flight, a reader on the leader (and on each
 * follower) sees the state before it, step after step, until that node has
 * applied the entry; from then on it sees the new state. */
static void reader_sees_old_state_until_applied(void **state)
{
    struct cluster *c;
    struct cluster_batch *b;
    struct cluster_batch *other;
    const char *sql = "INSERT INTO t VALUES(2)";
    const char *sql2 = "INSERT INTO t VALUES(3)";
    raft_index idx;
    unsigned l;
    unsigned steps = 0;
    unsigned old_reads_on_leader = 0;
    (void)state;

    c = cluster_create("in_flight_read",
                       &(struct cluster_options){.n = 3, .seed = 6});
    cluster_exec_ok(c, "db", "CREATE TABLE t(x); INSERT INTO t VALUES(1)");
    cluster_settle(c);
    l = cluster_ready_leader(c, 10000);
    b = cluster_batch_start(c, l, "db", &sql, 1);
    assert_int_equal(b->rv, 0);
    idx = proposer_last_index(&c->nodes[l].proposer);
    assert_true(exec_busy(c->nodes[l].exec, "db"));
    /* A second batch on the same database must wait its turn. */
    other = cluster_batch_start(c, l, "db", &sql2, 1);
    assert_int_equal(other->rv, WR_BUSY);
    cluster_batch_free(other);

    while (!cluster_batch_done(b)) {
        for (unsigned i = 0; i < c->n; i++) {
            bool applied = raft_last_applied(cluster_raft(c, i)) >= idx;
            int64_t n = cluster_query_int(c, i, "db",
                                          "SELECT count(*) FROM t");
            if (n != (applied ? 2 : 1)) {
                fail_msg("step %u: node %u (applied up to %llu, entry %llu) "
                         "sees %lld rows",
                         steps, i,
                         (unsigned long long)raft_last_applied(
                             cluster_raft(c, i)),
                         (unsigned long long)idx, (long long)n);
            }
            if (i == l && !applied) {
                old_reads_on_leader++;
            }
        }
        cluster_step(c);
        if (++steps > 10000) {
            fail_msg("the entry was not applied within 10000 steps");
        }
    }
    assert_true(old_reads_on_leader >= 3);
    assert_int_equal(b->reqs[0].status, 0);
    assert_int_equal((int64_t)b->reqs[0].bookmark, (int64_t)idx);
    assert_int_equal(cluster_query_int(c, l, "db", "SELECT count(*) FROM t"),
                     2);
    cluster_batch_free(b);
    cluster_check(c);
    assert_count_everywhere(c, "db", "SELECT count(*) FROM t", 2);
    cluster_destroy(c);
}

/* ---- 5. Leadership lost with an entry in flight -------------------------- */

struct stored_arg {
    unsigned leader;
    raft_index index;
};

/* The entry is on disk on a majority (the leader included). */
static bool stored_on_majority(struct cluster *c, void *arg)
{
    struct stored_arg *s = arg;
    unsigned n = 0;

    for (unsigned i = 0; i < c->n; i++) {
        if (cluster_raft(c, i)->last_stored >= s->index) {
            n++;
        }
    }
    return n > c->n / 2;
}

/* The deposed leader dropped the pages of its failed entry. */
static void assert_no_pending(struct cluster *c, unsigned i, const char *db)
{
    char errmsg[WR_ERRMSG_SIZE];
    struct fsm_db *h;

    assert_int_equal(fsm_db_open(c->nodes[i].fsm, db, &h, errmsg), 0);
    if (fsm_db_pending(h)) {
        fail_msg("node %u still holds the pending transaction of its failed "
                 "entry",
                 i);
    }
}

static bool other_leader(struct cluster *c, void *arg)
{
    unsigned old = *(unsigned *)arg;
    unsigned l = cluster_leader(c);
    return l < c->n && l != old;
}

/* The leader is cut off after its entry reached a majority but before it
 * learned that: its executor answers WR_LEADERSHIP_LOST (indefinite), the new
 * leader commits the entry, and after the old leader rejoins and more writes
 * every node holds the write and is identical. */
static void leader_lost_after_majority_entry_survives(void **state)
{
    struct cluster *c;
    struct cluster_batch *b;
    struct stored_arg s;
    const char *sql = "INSERT INTO t VALUES('in flight')";
    unsigned l;
    (void)state;

    c = cluster_create("lost_after_majority",
                       &(struct cluster_options){.n = 3, .seed = 7});
    cluster_exec_ok(c, "db", "CREATE TABLE t(x); INSERT INTO t VALUES('one')");
    l = cluster_ready_leader(c, 10000);
    b = cluster_batch_start(c, l, "db", &sql, 1);
    assert_int_equal(b->rv, 0);
    s.leader = l;
    s.index = proposer_last_index(&c->nodes[l].proposer);
    assert_true(cluster_step_until(c, stored_on_majority, &s, 5000));
    if (cluster_raft(c, l)->commit_index >= s.index ||
        cluster_batch_done(b)) {
        fail_msg("the leader learned of the commit before it was cut off");
    }
    cluster_isolate(c, l);
    assert_true(cluster_step_until(c, other_leader, &l, 20000));
    cluster_batch_wait(b, 20000);
    assert_int_equal(b->reqs[0].status, WR_LEADERSHIP_LOST);
    assert_false(b->reqs[0].definite);
    cluster_batch_free(b);
    assert_no_pending(c, l, "db");

    cluster_exec_ok(c, "db", "INSERT INTO t VALUES('new leader')");
    cluster_rejoin(c, l);
    cluster_exec_ok(c, "db", "INSERT INTO t VALUES('after rejoin')");
    cluster_check(c);
    assert_count_everywhere(c, "db",
                            "SELECT count(*) FROM t WHERE x = 'in flight'", 1);
    assert_count_everywhere(c, "db", "SELECT count(*) FROM t", 4);
    cluster_destroy(c);
}

/* The leader is cut off before its entry reached anyone: its executor answers
 * WR_LEADERSHIP_LOST, the new leader never sees the entry, and after the old
 * leader rejoins (its entry replaced) every node lacks the write and is
 * identical. Five servers. */
static void leader_lost_before_replication_entry_dropped(void **state)
{
    struct cluster *c;
    struct cluster_batch *b;
    const char *sql = "INSERT INTO t VALUES('in flight')";
    unsigned l;
    (void)state;

    c = cluster_create("lost_before_replication",
                       &(struct cluster_options){.n = 5, .seed = 8});
    cluster_exec_ok(c, "db", "CREATE TABLE t(x); INSERT INTO t VALUES('one')");
    l = cluster_ready_leader(c, 10000);
    b = cluster_batch_start(c, l, "db", &sql, 1);
    assert_int_equal(b->rv, 0);
    cluster_isolate(c, l);
    assert_true(cluster_step_until(c, other_leader, &l, 20000));
    cluster_exec_ok(c, "db", "INSERT INTO t VALUES('new leader')");
    cluster_batch_wait(b, 20000);
    assert_int_equal(b->reqs[0].status, WR_LEADERSHIP_LOST);
    assert_false(b->reqs[0].definite);
    cluster_batch_free(b);
    assert_no_pending(c, l, "db");

    cluster_rejoin(c, l);
    cluster_exec_ok(c, "db", "INSERT INTO t VALUES('after rejoin')");
    cluster_check(c);
    assert_count_everywhere(c, "db",
                            "SELECT count(*) FROM t WHERE x = 'in flight'", 0);
    assert_count_everywhere(c, "db", "SELECT count(*) FROM t", 3);
    cluster_destroy(c);
}

/* A leader whose in-flight batch drops a table loses its leadership; the new
 * leader makes another schema change, so the schema cookie the old
 * leader's connection cached for its aborted transaction now matches the
 * file again. After it rejoins, that connection must still see the
 * committed schema: the dropped table exists, the new one too, and
 * integrity_check (which walks the schema's root pages) is ok. */
static void deposed_leader_forgets_aborted_schema_change(void **state)
{
    struct cluster *c;
    struct cluster_batch *b;
    const char *drop = "DROP TABLE a";
    unsigned l;
    (void)state;

    c = cluster_create("aborted_schema",
                       &(struct cluster_options){.n = 3, .seed = 18});
    cluster_exec_ok(c, "db",
                    "CREATE TABLE a(x); CREATE TABLE b(y);"
                    "INSERT INTO a VALUES(1), (2); INSERT INTO b VALUES(3)");
    cluster_settle(c);
    l = cluster_ready_leader(c, 10000);
    b = cluster_batch_start(c, l, "db", &drop, 1);
    assert_int_equal(b->rv, 0);
    cluster_isolate(c, l);
    assert_true(cluster_step_until(c, other_leader, &l, 20000));
    cluster_exec_ok(c, "db", "CREATE TABLE z(w); INSERT INTO z VALUES(4)");
    cluster_batch_wait(b, 20000);
    assert_int_equal(b->reqs[0].status, WR_LEADERSHIP_LOST);
    cluster_batch_free(b);
    cluster_rejoin(c, l);
    cluster_settle(c);
    assert_count_everywhere(c, "db", "SELECT count(*) FROM a", 2);
    assert_count_everywhere(c, "db", "SELECT count(*) FROM z", 1);
    cluster_check(c);
    cluster_destroy(c);
}

/* ---- 6. Snapshots -------------------------------------------------------- */

/* A follower cut off while the others write past several snapshots (small
 * libraft thresholds) catches up through InstallSnapshot and ends identical,
 * and keeps following afterwards. */
static void lagging_follower_catches_up_by_snapshot(void **state)
{
    struct cluster_options o = opts(3, 9);
    struct cluster *c;
    unsigned f;
    unsigned before;
    (void)state;

    o.snapshot_threshold = 8;
    o.snapshot_trailing = 4;
    c = cluster_create("install_snapshot", &o);
    cluster_exec_ok(c, "db", "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)");
    cluster_exec_ok(c, "other", "CREATE TABLE o(x)");
    f = (cluster_ready_leader(c, 10000) + 2) % c->n;
    cluster_isolate(c, f);
    for (int k = 0; k < 40; k++) {
        cluster_exec_okf(c, k % 4 == 0 ? "other" : "db",
                         k % 4 == 0
                             ? "INSERT INTO o VALUES(%d)"
                             : "INSERT INTO t VALUES(%d, randomblob(3000))",
                         k);
    }
    cluster_exec_ok(c, "db", "DELETE FROM t WHERE id % 3 = 0");
    {
        struct raft *lr = cluster_raft(c, cluster_leader(c));
        struct raft *fr = cluster_raft(c, f);
        if (lr->log.snapshot.last_index <= raft_last_index(fr)) {
            fail_msg("the leader's snapshot (%llu) does not cover the "
                     "follower's log (%llu)",
                     (unsigned long long)lr->log.snapshot.last_index,
                     (unsigned long long)raft_last_index(cluster_raft(c, f)));
        }
    }
    before = raft_fixture_n_recv(&c->fixture, f, RAFT_IO_INSTALL_SNAPSHOT);
    cluster_rejoin(c, f);
    cluster_check(c);
    if (raft_fixture_n_recv(&c->fixture, f, RAFT_IO_INSTALL_SNAPSHOT) <=
        before) {
        fail_msg("node %u caught up without an InstallSnapshot", f);
    }
    assert_count_everywhere(c, "db", "SELECT count(*) FROM t", 20);
    assert_count_everywhere(c, "other", "SELECT count(*) FROM o", 10);
    for (int k = 100; k < 110; k++) {
        cluster_exec_okf(c, "db", "INSERT INTO t VALUES(%d, randomblob(100))",
                         k);
    }
    cluster_check(c);
    cluster_destroy(c);
}

struct change {
    struct raft_change req;
    bool done;
    int status;
};

static void change_cb(struct raft_change *req, int status)
{
    struct change *ch = req->data;
    ch->done = true;
    ch->status = status;
}

static bool change_done(struct cluster *c, void *arg)
{
    (void)c;
    return ((struct change *)arg)->done;
}

/* Issue 3, proof 4: a snapshot libraft asks for while a membership change
 * (adding a server) is appended but not yet committed and applied is
 * refused (catalogue C9), and snapshots are taken again once it is; the new
 * server, promoted to voter, ends identical to the others. */
static void snapshot_waits_for_membership_change(void **state)
{
    struct cluster_options o = opts(3, 21);
    struct cluster *c;
    struct change add = {0};
    struct change promote = {0};
    const char *sql[] = {"INSERT INTO t VALUES(1000, randomblob(500))"};
    unsigned long long refused = 0;
    raft_index config_index;
    unsigned l;
    unsigned n;
    (void)state;

    o.snapshot_threshold = 1; /* Every apply asks for a snapshot. */
    o.snapshot_trailing = 8;
    c = cluster_create("membership_snapshot", &o);
    cluster_exec_ok(c, "db", "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)");
    for (int k = 0; k < 5; k++) {
        cluster_exec_okf(c, "db", "INSERT INTO t VALUES(%d, randomblob(200))",
                         k);
    }
    l = cluster_ready_leader(c, 10000);
    n = cluster_grow(c);
    /* Let the snapshots of those writes finish: libraft asks for no new
     * one while one is being written. */
    cluster_step_ms(c, 1000);
    struct cluster_batch *b = cluster_batch_start(c, l, "db", sql, 1);
    assert_int_equal(b->rv, 0);
    add.req.data = &add;
    assert_int_equal(raft_add(cluster_raft(c, l), &add.req,
                              cluster_raft(c, n)->id,
                              cluster_raft(c, n)->address, change_cb),
                     0);
    config_index = raft_last_index(cluster_raft(c, l));
    /* Asked now, as libraft asks after applying entries, the leader's state
     * machine refuses: the change is appended, not committed. */
    {
        struct raft_fsm *rf = &c->nodes[l].adapter.raft_fsm;
        struct raft_buffer *bufs = NULL;
        unsigned n_bufs = 0;
        assert_int_equal(rf->snapshot(rf, &bufs, &n_bufs), RAFT_BUSY);
        assert_null(bufs);
    }
    if (!cluster_step_until(c, change_done, &add, 10000) || add.status != 0) {
        fail_msg("adding server %u did not commit (status %d)", n, add.status);
    }
    cluster_batch_wait(b, 10000);
    assert_int_equal(b->reqs[0].status, 0);
    cluster_batch_free(b);
    for (unsigned i = 0; i < n; i++) {
        refused += fsm_adapter_stats(&c->nodes[i].adapter)->refused_config;
    }
    if (refused == 0) {
        fail_msg("no snapshot was refused during the membership change");
    }
    /* Once the change is applied, the same request is granted. */
    {
        struct raft_fsm *rf = &c->nodes[l].adapter.raft_fsm;
        struct raft_buffer *bufs = NULL;
        unsigned n_bufs = 0;
        cluster_step_ms(c, 1000);
        assert_int_equal(rf->snapshot(rf, &bufs, &n_bufs), 0);
        assert_non_null(bufs);
        assert_int_equal(rf->snapshot_finalize(rf, &bufs, &n_bufs), 0);
    }

    promote.req.data = &promote;
    assert_int_equal(raft_assign(cluster_raft(c, cluster_ready_leader(c, 10000)),
                                 &promote.req, cluster_raft(c, n)->id,
                                 RAFT_VOTER, change_cb),
                     0);
    if (!cluster_step_until(c, change_done, &promote, 30000) ||
        promote.status != 0) {
        fail_msg("promoting server %u failed (status %d)", n,
                 promote.status);
    }
    for (int k = 10; k < 20; k++) {
        cluster_exec_okf(c, "db", "INSERT INTO t VALUES(%d, randomblob(300))",
                         k);
    }
    cluster_check(c);
    for (unsigned i = 0; i < c->n; i++) {
        struct raft *r = cluster_raft(c, i);
        if (r->log.snapshot.last_index <= config_index) {
            fail_msg("node %u: no snapshot after the change (snapshot at "
                     "%llu, change at %llu)",
                     i, (unsigned long long)r->log.snapshot.last_index,
                     (unsigned long long)config_index);
        }
    }
    assert_count_everywhere(c, "db", "SELECT count(*) FROM t", 16);
    cluster_destroy(c);
}

/* Write @n small batches alternating between databases "a" and "b". */
static void write_some(struct cluster *c, int from, int n)
{
    for (int k = from; k < from + n; k++) {
        cluster_exec_okf(c, k % 2 ? "a" : "b",
                         "INSERT INTO t VALUES(%d, randomblob(%d))", k,
                         100 + (k * 37) % 3000);
    }
}

/* A server that caught up through InstallSnapshot later leads, and loses its
 * leadership with a batch in flight on each of two databases; after it
 * rejoins and more writes, every node's own connection still reads intact
 * databases identical to the others (found by test_workload seed 4). */
static void restored_leader_deposed_with_batches_in_flight(void **state)
{
    struct cluster_options o = opts(3, 17);
    struct cluster *c;
    struct cluster_batch *ba;
    struct cluster_batch *bb;
    const char *sa = "INSERT INTO t VALUES(-1, randomblob(2000))";
    const char *sb = "INSERT INTO t VALUES(-2, randomblob(2000))";
    unsigned l;
    (void)state;

    o.snapshot_threshold = 8;
    o.snapshot_trailing = 4;
    c = cluster_create("restored_leader_deposed", &o);
    cluster_exec_ok(c, "a", "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)");
    cluster_exec_ok(c, "b", "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)");
    /* Server 0 leads; cut it off so server 1 takes over, and let it fall
     * behind by more than a snapshot. */
    l = cluster_ready_leader(c, 10000);
    assert_int_equal(l, 0);
    cluster_isolate(c, 0);
    assert_true(cluster_step_until(c, other_leader, &l, 20000));
    write_some(c, 0, 30);
    cluster_rejoin(c, 0);
    cluster_check(c);
    if (raft_fixture_n_recv(&c->fixture, 0, RAFT_IO_INSTALL_SNAPSHOT) == 0) {
        fail_msg("server 0 caught up without an InstallSnapshot");
    }
    /* Server 0 (the shortest election timeout) leads again. */
    l = cluster_ready_leader(c, 10000);
    cluster_isolate(c, l);
    assert_true(cluster_step_until(c, other_leader, &l, 20000));
    cluster_rejoin(c, l);
    l = cluster_ready_leader(c, 10000);
    while (l != 0) {
        cluster_depose(c);
        l = cluster_ready_leader(c, 10000);
    }
    write_some(c, 100, 6);
    /* Now it loses leadership with a batch in flight on each database. */
    ba = cluster_batch_start(c, l, "a", &sa, 1);
    bb = cluster_batch_start(c, l, "b", &sb, 1);
    assert_int_equal(ba->rv, 0);
    assert_int_equal(bb->rv, 0);
    cluster_isolate(c, l);
    assert_true(cluster_step_until(c, other_leader, &l, 20000));
    write_some(c, 200, 6);
    cluster_batch_wait(ba, 20000);
    cluster_batch_wait(bb, 20000);
    assert_int_equal(ba->reqs[0].status, WR_LEADERSHIP_LOST);
    assert_int_equal(bb->reqs[0].status, WR_LEADERSHIP_LOST);
    cluster_batch_free(ba);
    cluster_batch_free(bb);
    cluster_rejoin(c, l);
    write_some(c, 300, 6);
    cluster_check(c);
    assert_count_everywhere(c, "a", "SELECT count(*) FROM t WHERE id < 0", 0);
    cluster_destroy(c);
}

static bool snapshot_taken(struct cluster *c, void *arg)
{
    (void)c;
    return *(bool *)arg;
}

/* A fresh state machine in a new directory, restored from one node's
 * snapshot (its buffers concatenated) and then fed every command that node
 * applied after it, in order, ends byte-identical to the cluster. */
static void restored_fsm_fed_rest_of_log_is_identical(void **state)
{
    struct cluster_options o = opts(3, 10);
    struct cluster *c;
    const struct cluster_command *cmds;
    size_t n_cmds;
    struct fsm_buf *bufs = NULL;
    unsigned n_bufs = 0;
    char errmsg[WR_ERRMSG_SIZE];
    raft_index at = 0;
    struct fsm *fresh;
    char *snap = NULL;
    size_t snap_len = 0;
    size_t applied = 0;
    bool taken = false;
    unsigned tries;
    (void)state;

    o.record_commands = true;
    o.record_node = 1;
    c = cluster_create("restore_and_replay", &o);
    cluster_exec_ok(c, "db",
                    "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, b BLOB)");
    for (int k = 0; k < 10; k++) {
        cluster_exec_okf(c, "db",
                         "INSERT INTO t VALUES(%d, 'v%d', randomblob(%d))", k,
                         k, 500 * (k + 1));
    }
    cluster_exec_ok(c, "second", "CREATE TABLE s(x); INSERT INTO s VALUES(1)");
    cluster_settle(c);

    for (tries = 0; tries < 100 && !taken; tries++) {
        int rv;
        errmsg[0] = '\0';
        rv = fsm_snapshot(c->nodes[1].fsm, &bufs, &n_bufs, errmsg);
        if (rv == WR_BUSY) {
            cluster_step(c);
            continue;
        }
        if (rv != 0) {
            fail_msg("fsm_snapshot: %s: %s", err_str(rv), errmsg);
        }
        at = raft_last_applied(cluster_raft(c, 1));
        taken = true;
    }
    assert_true(cluster_step_until(c, snapshot_taken, &taken, 1));
    for (unsigned i = 0; i < n_bufs; i++) {
        snap_len += bufs[i].len;
    }
    snap = track(malloc(snap_len > 0 ? snap_len : 1));
    assert_non_null(snap);
    snap_len = 0;
    for (unsigned i = 0; i < n_bufs; i++) {
        memcpy(snap + snap_len, bufs[i].base, bufs[i].len);
        snap_len += bufs[i].len;
    }
    fsm_snapshot_finalize(c->nodes[1].fsm, bufs, n_bufs);

    /* The rest of the log: updates, deletes, schema changes, a new table in
     * the second database, a leadership change. */
    cluster_exec_ok(c, "db", "UPDATE t SET v = v || '!' WHERE id % 2 = 0");
    cluster_exec_ok(c, "db", "DELETE FROM t WHERE id = 3");
    cluster_exec_ok(c, "db", "CREATE INDEX t_v ON t(v)");
    cluster_exec_ok(c, "db", "ALTER TABLE t ADD COLUMN w INTEGER DEFAULT 7");
    cluster_exec_ok(c, "second",
                    "CREATE TABLE s2(y); INSERT INTO s2 VALUES(2)");
    cluster_depose(c);
    for (int k = 20; k < 30; k++) {
        cluster_exec_okf(c, "db",
                         "INSERT INTO t(id, v, b) VALUES(%d, datetime('now'), "
                         "randomblob(%d))",
                         k, 100 * k);
    }
    cluster_check(c);

    fresh = cluster_fsm_create(c, "fresh", 100);
    errmsg[0] = '\0';
    if (fsm_restore(fresh, snap, snap_len, errmsg) != 0) {
        fail_msg("fsm_restore: %s", errmsg);
    }
    release(snap);
    cmds = cluster_recorded(c, &n_cmds);
    for (size_t k = 0; k < n_cmds; k++) {
        int rv;
        if (cmds[k].index <= at) {
            continue;
        }
        errmsg[0] = '\0';
        rv = fsm_apply(fresh, cmds[k].buf, cmds[k].len, errmsg);
        if (rv != 0) {
            fail_msg("fsm_apply of entry %llu: %s: %s",
                     (unsigned long long)cmds[k].index, err_str(rv), errmsg);
        }
        applied++;
    }
    assert_true(applied >= 15);
    cluster_compare_fsm(c, cluster_leader(c), fresh, "restored fsm");
    assert_int_equal(fsm_query_int(fresh, "db", "SELECT count(*) FROM t"), 19);
    cluster_destroy(c);
}

/* ---- 7. Corrupt commands ------------------------------------------------- */

enum corruption { FLIP_BYTE, TRUNCATE, UNKNOWN_VERSION };

/* A copy of @cmd damaged as @how says; *@len is updated. */
static void *corrupt(const void *cmd, size_t *len, enum corruption how)
{
    unsigned char *buf = malloc(*len);
    uint32_t body_len;

    assert_non_null(buf);
    memcpy(buf, cmd, *len);
    assert_true(*len > COMMAND_HEADER_SIZE);
    body_len = get_le32(buf + 8);
    switch (how) {
        case FLIP_BYTE:
            buf[COMMAND_HEADER_SIZE + body_len / 2] ^= 0x40;
            break;
        case TRUNCATE:
            *len = (*len / 2) & ~(size_t)7;
            break;
        case UNKNOWN_VERSION:
            buf[4] = COMMAND_VERSION + 1;
            break;
    }
    return buf;
}

static int expected_error(enum corruption how)
{
    return how == UNKNOWN_VERSION ? WR_UNSUPPORTED : WR_CORRUPT;
}

static void raw_apply_cb(struct raft_apply *req, int status, void *result)
{
    (void)status;
    (void)result;
    free(req);
}

static bool all_fatal(struct cluster *c, void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < c->n; i++) {
        if (c->nodes[i].n_fatal == 0) {
            return false;
        }
    }
    return true;
}

/* A damaged copy of a real command, appended with raft_apply(), is refused
 * on every node: each node's fatal hook fires once with a message naming the
 * entry and the error, nothing is applied (files unchanged), nothing
 * crashes. Nodes are kept running after the hook so the commit reaches them
 * all. */
static void corrupt_command_stops_every_node(enum corruption how,
                                             uint64_t seed,
                                             const char *name)
{
    struct cluster_options o = opts(3, seed);
    struct cluster *c;
    const struct cluster_command *cmds;
    size_t n_cmds;
    struct raft_buffer rbuf;
    struct raft_apply *req;
    void *before[3];
    size_t before_len[3];
    size_t len;
    unsigned l;

    o.keep_alive_on_fatal = true;
    o.record_commands = true;
    o.record_node = 0;
    c = cluster_create(name, &o);
    cluster_exec_ok(c, "db", "CREATE TABLE t(x)");
    cluster_exec_ok(c, "db", "INSERT INTO t VALUES(randomblob(5000))");
    cluster_check(c);
    for (unsigned i = 0; i < 3; i++) {
        before[i] = node_image(c, i, "db", &before_len[i]);
    }
    cmds = cluster_recorded(c, &n_cmds);
    assert_true(n_cmds >= 2);
    len = cmds[n_cmds - 1].len;
    rbuf.base = corrupt(cmds[n_cmds - 1].buf, &len, how);
    rbuf.len = len;

    l = cluster_ready_leader(c, 10000);
    req = calloc(1, sizeof *req);
    assert_non_null(req);
    assert_int_equal(raft_apply(cluster_raft(c, l), req, &rbuf, 1,
                                raw_apply_cb),
                     0);
    if (!cluster_step_until(c, all_fatal, NULL, 20000)) {
        for (unsigned i = 0; i < c->n; i++) {
            fprintf(stderr, "node %u: %u fatal, applied up to %llu\n", i,
                    c->nodes[i].n_fatal,
                    (unsigned long long)raft_last_applied(cluster_raft(c, i)));
        }
        fail_msg("not every node refused the corrupt entry");
    }
    for (unsigned i = 0; i < c->n; i++) {
        const char *msg = c->nodes[i].fatal_msg;
        assert_int_equal(c->nodes[i].n_fatal, 1);
        assert_true(fsm_adapter_stopped(&c->nodes[i].adapter));
        if (strstr(msg, "apply entry") == NULL ||
            strstr(msg, err_str(expected_error(how))) == NULL) {
            fail_msg("node %u: unclear fatal message: \"%s\"", i, msg);
        }
    }
    for (unsigned i = 0; i < c->n; i++) {
        cluster_kill(c, i);
    }
    cluster_check_files(c, true);
    for (unsigned i = 0; i < 3; i++) {
        size_t after_len;
        void *after = node_image(c, i, "db", &after_len);
        assert_same_image(before[i], before_len[i], after, after_len,
                          "after a corrupt entry");
        release(after);
        release(before[i]);
        assert_int_equal(
            fsm_query_int(c->nodes[i].fsm, "db", "SELECT count(*) FROM t"), 1);
    }
    cluster_check_applied(c);
    cluster_destroy(c);
}

/* A command with one payload byte flipped stops every node, applying
 * nothing. */
static void corrupt_flipped_byte_stops_every_node(void **state)
{
    (void)state;
    corrupt_command_stops_every_node(FLIP_BYTE, 11, "corrupt_flip");
}

/* A command cut to half its length stops every node, applying nothing. */
static void corrupt_truncated_stops_every_node(void **state)
{
    (void)state;
    corrupt_command_stops_every_node(TRUNCATE, 12, "corrupt_truncate");
}

/* A command of an unknown format version stops every node, applying
 * nothing. */
static void corrupt_unknown_version_stops_every_node(void **state)
{
    (void)state;
    corrupt_command_stops_every_node(UNKNOWN_VERSION, 13, "corrupt_version");
}

/* fsm_apply() on a single state machine refuses a flipped byte and a
 * truncated command with WR_CORRUPT and an unknown version with
 * WR_UNSUPPORTED, each with a message, and leaves the database unchanged;
 * the intact command then applies. */
static void apply_refuses_corrupt_commands(void **state)
{
    struct cluster_options o = opts(3, 14);
    static const enum corruption hows[] = {FLIP_BYTE, TRUNCATE,
                                           UNKNOWN_VERSION};
    struct cluster *c;
    const struct cluster_command *cmds;
    size_t n_cmds;
    struct fsm *single;
    char errmsg[WR_ERRMSG_SIZE];
    void *before;
    size_t before_len;
    (void)state;

    o.record_commands = true;
    o.record_node = 2;
    c = cluster_create("apply_corrupt", &o);
    cluster_exec_ok(c, "db", "CREATE TABLE t(x)");
    cluster_exec_ok(c, "db", "INSERT INTO t VALUES(randomblob(3000))");
    cluster_exec_ok(c, "db", "INSERT INTO t VALUES(randomblob(3000))");
    cluster_check(c);
    cmds = cluster_recorded(c, &n_cmds);
    assert_true(n_cmds >= 3);

    single = cluster_fsm_create(c, "single", 200);
    for (size_t k = 0; k + 1 < n_cmds; k++) {
        assert_int_equal(fsm_apply(single, cmds[k].buf, cmds[k].len, errmsg),
                         0);
    }
    assert_int_equal(fsm_query_int(single, "db", "SELECT count(*) FROM t"), 1);
    before = fsm_image(single, "db", &before_len);

    for (size_t h = 0; h < sizeof hows / sizeof hows[0]; h++) {
        size_t len = cmds[n_cmds - 1].len;
        void *bad = corrupt(cmds[n_cmds - 1].buf, &len, hows[h]);
        size_t after_len;
        void *after;
        int rv;

        errmsg[0] = '\0';
        rv = fsm_apply(single, bad, len, errmsg);
        free(bad);
        if (rv != expected_error(hows[h])) {
            fail_msg("corruption %zu: fsm_apply returned %s (%s), expected %s",
                     h, err_str(rv), errmsg, err_str(expected_error(hows[h])));
        }
        if (strlen(errmsg) < 8) {
            fail_msg("corruption %zu: no clear message: \"%s\"", h, errmsg);
        }
        fprintf(stderr, "corruption %zu refused: %s\n", h, errmsg);
        assert_int_equal(
            fsm_query_int(single, "db", "SELECT count(*) FROM t"), 1);
        after = fsm_image(single, "db", &after_len);
        assert_same_image(before, before_len, after, after_len,
                          "after a refused command");
        release(after);
    }
    release(before);

    assert_int_equal(fsm_apply(single, cmds[n_cmds - 1].buf,
                               cmds[n_cmds - 1].len, errmsg),
                     0);
    assert_int_equal(fsm_query_int(single, "db", "SELECT count(*) FROM t"), 2);
    cluster_compare_fsm(c, cluster_leader(c), single, "single fsm");
    cluster_destroy(c);
}

/* ---- 8. Several databases ------------------------------------------------ */

/* Writes to databases "a" and "b" interleave, sometimes with one batch in
 * flight on each at once, and a failure on one does not touch the other:
 * each database holds only its own tables and rows, and each file is
 * identical on every node. */
static void databases_stay_independent(void **state)
{
    struct cluster *c;
    (void)state;

    c = cluster_create("two_dbs",
                       &(struct cluster_options){.n = 3, .seed = 15});
    cluster_exec_ok(c, "a", "CREATE TABLE ta(x)");
    cluster_exec_ok(c, "b", "CREATE TABLE tb(y)");
    for (int k = 0; k < 20; k++) {
        if (k % 3 == 2) {
            char sa[64];
            char sb[64];
            const char *pa = sa;
            const char *pb = sb;
            struct cluster_batch *ba;
            struct cluster_batch *bb;
            snprintf(sa, sizeof sa, "INSERT INTO ta VALUES(%d)", k);
            snprintf(sb, sizeof sb, "INSERT INTO tb VALUES(%d)", k);
            ba = cluster_batch_start(c, c->n, "a", &pa, 1);
            bb = cluster_batch_start(c, c->n, "b", &pb, 1);
            assert_int_equal(ba->rv, 0);
            assert_int_equal(bb->rv, 0);
            cluster_batch_wait(ba, 20000);
            cluster_batch_wait(bb, 20000);
            assert_int_equal(ba->reqs[0].status, 0);
            assert_int_equal(bb->reqs[0].status, 0);
            cluster_batch_free(ba);
            cluster_batch_free(bb);
        } else {
            cluster_exec_okf(c, k % 2 ? "a" : "b", "INSERT INTO %s VALUES(%d)",
                             k % 2 ? "ta" : "tb", k);
        }
    }
    {
        const char *bad = "INSERT INTO tb VALUES(1)"; /* No tb in "a". */
        struct cluster_batch *b = cluster_write(c, "a", &bad, 1);
        assert_int_equal(b->reqs[0].status, WR_SQL);
        cluster_batch_free(b);
    }
    cluster_check(c);
    assert_count_everywhere(c, "a", "SELECT count(*) FROM ta", 13);
    assert_count_everywhere(c, "b", "SELECT count(*) FROM tb", 13);
    assert_count_everywhere(c, "a",
                            "SELECT count(*) FROM sqlite_master WHERE name = "
                            "'tb'",
                            0);
    assert_count_everywhere(c, "b",
                            "SELECT count(*) FROM sqlite_master WHERE name = "
                            "'ta'",
                            0);
    assert_count_everywhere(c, "a", "SELECT sum(x) FROM ta",
                            (2 + 5 + 8 + 11 + 14 + 17) +
                                (1 + 3 + 7 + 9 + 13 + 15 + 19));
    cluster_destroy(c);
}

/* ---- 9. A failing request in a batch ------------------------------------- */

/* In a batch of four requests the second violates a UNIQUE constraint: it
 * alone fails (WR_SQL, definite, SQLITE_CONSTRAINT_UNIQUE) while the others
 * commit with their own results, on every node. */
static void batch_with_failing_request_commits_others(void **state)
{
    struct cluster *c;
    struct cluster_batch *b;
    const char *reqs[] = {
        "INSERT INTO u VALUES(2, 'two')",
        "INSERT INTO u VALUES(3, 'one')",
        "INSERT INTO u VALUES(4, 'four') RETURNING k",
        "UPDATE u SET v = 'uno' WHERE k = 1",
    };
    (void)state;

    c = cluster_create("batch_failure",
                       &(struct cluster_options){.n = 3, .seed = 16});
    cluster_exec_ok(c, "db",
                    "CREATE TABLE u(k INTEGER PRIMARY KEY, v TEXT UNIQUE);"
                    "INSERT INTO u VALUES(1, 'one')");
    b = cluster_write(c, "db", reqs, 4);
    assert_int_equal(b->reqs[0].status, 0);
    assert_int_equal(b->reqs[0].changes, 1);
    assert_int_equal(b->reqs[0].last_insert_id, 2);
    assert_int_equal(b->reqs[1].status, WR_SQL);
    assert_int_equal(b->reqs[1].sqlite_code, SQLITE_CONSTRAINT_UNIQUE);
    assert_true(b->reqs[1].definite);
    assert_non_null(strstr(b->reqs[1].errmsg, "UNIQUE"));
    assert_int_equal(b->reqs[2].status, 0);
    assert_int_equal(b->reqs[2].rows.n_rows, 1);
    assert_int_equal(b->reqs[2].rows.values[0].integer, 4);
    assert_int_equal(b->reqs[3].status, 0);
    assert_int_equal(b->reqs[3].changes, 1);
    assert_true(b->reqs[0].bookmark > 0);
    assert_int_equal(b->reqs[0].bookmark, b->reqs[2].bookmark);
    assert_int_equal(b->reqs[0].bookmark, b->reqs[3].bookmark);
    cluster_batch_free(b);
    cluster_check(c);
    assert_count_everywhere(c, "db", "SELECT count(*) FROM u", 3);
    assert_count_everywhere(c, "db", "SELECT count(*) FROM u WHERE k = 3", 0);
    assert_count_everywhere(c, "db",
                            "SELECT count(*) FROM u WHERE k = 1 AND v = 'uno'",
                            1);
    cluster_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(big_transaction_spills_and_replicates,
                                  teardown),
        cmocka_unit_test_teardown(rolled_back_big_request_replicates_nothing,
                                  teardown),
        cmocka_unit_test_teardown(vacuum_shrinks_identically,
                                  teardown),
        cmocka_unit_test_teardown(auto_vacuum_shrinks_identically,
                                  teardown),
        cmocka_unit_test_teardown(reader_sees_old_state_until_applied,
                                  teardown),
        cmocka_unit_test_teardown(leader_lost_after_majority_entry_survives,
                                  teardown),
        cmocka_unit_test_teardown(leader_lost_before_replication_entry_dropped,
                                  teardown),
        cmocka_unit_test_teardown(deposed_leader_forgets_aborted_schema_change,
                                  teardown),
        cmocka_unit_test_teardown(lagging_follower_catches_up_by_snapshot,
                                  teardown),
        cmocka_unit_test_teardown(snapshot_waits_for_membership_change,
                                  cluster_teardown),
        cmocka_unit_test_teardown(restored_fsm_fed_rest_of_log_is_identical,
                                  teardown),
        cmocka_unit_test_teardown(
            restored_leader_deposed_with_batches_in_flight, teardown),
        cmocka_unit_test_teardown(corrupt_flipped_byte_stops_every_node,
                                  teardown),
        cmocka_unit_test_teardown(corrupt_truncated_stops_every_node,
                                  teardown),
        cmocka_unit_test_teardown(corrupt_unknown_version_stops_every_node,
                                  teardown),
        cmocka_unit_test_teardown(apply_refuses_corrupt_commands,
                                  teardown),
        cmocka_unit_test_teardown(databases_stay_independent,
                                  teardown),
        cmocka_unit_test_teardown(batch_with_failing_request_commits_others,
                                  teardown),
    };
    if (getenv("WR_TEST_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("WR_TEST_FILTER"));
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
