/*
 * Exactly-once write sessions on raft_fixture clusters running the real
 * state machine (ARCHITECTURE.md section 2): the session table is replicated
 * with the writes, so any later leader recognises a retry, including one
 * that learned the table from a snapshot. Each test states its scenario in
 * one sentence above it. Seeds are printed; WR_SEED overrides them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/harness.h"

#define DB "db"
#define CLIENT 4242

/* Run @sql with session (@client, @seq) on node @node and wait for it. */
static struct cluster_batch *write_session(struct cluster *c,
                                           unsigned node,
                                           const char *sql,
                                           uint64_t client,
                                           uint64_t seq)
{
    struct cluster_batch *b =
        cluster_batch_start_sessions(c, node, DB, &sql, &client, &seq, 1);

    if (b->rv != 0) {
        fail_msg("%s: exec_write on node %u: %s: %s", c->name, node,
                 err_str(b->rv), b->errmsg);
    }
    cluster_batch_wait(b, 60000);
    if (b->reqs[0].status != 0) {
        fail_msg("%s: \"%s\" with session (%llu, %llu) on node %u: %s: %s",
                 c->name, sql, (unsigned long long)client,
                 (unsigned long long)seq, node, err_str(b->reqs[0].status),
                 b->reqs[0].errmsg);
    }
    return b;
}

/* Every node not killed holds the same record for @client. */
static void assert_session_everywhere(struct cluster *c,
                                      uint64_t client,
                                      uint64_t seq,
                                      int64_t last_insert_id)
{
    char errmsg[WR_ERRMSG_SIZE];

    for (unsigned i = 0; i < c->n; i++) {
        struct command_session rec;
        struct fsm_db *db;
        if (c->nodes[i].killed) {
            continue;
        }
        assert_int_equal(fsm_db_open(c->nodes[i].fsm, DB, &db, errmsg), 0);
        if (!fsm_session_get(db, client, &rec)) {
            fail_msg("%s: node %u has no record of client %llu", c->name, i,
                     (unsigned long long)client);
        }
        assert_int_equal(rec.seq, seq);
        assert_int_equal(rec.last_insert_id, last_insert_id);
    }
}

static void assert_count_everywhere(struct cluster *c,
                                    const char *sql,
                                    int64_t want)
{
    for (unsigned i = 0; i < c->n; i++) {
        if (!c->nodes[i].killed) {
            int64_t got = cluster_query_int(c, i, DB, sql);
            if (got != want) {
                fail_msg("%s: node %u: %s gives %lld, expected %lld",
                         c->name, i, sql, (long long)got, (long long)want);
            }
        }
    }
}

/* A write with a session commits on leader A and is applied everywhere; A is
 * killed, B is elected, and the client's retry to B with the same sequence
 * number returns the recorded result without running: the row exists once. */
static void dedup_across_leader_change(void **state)
{
    struct cluster *c;
    struct cluster_batch *b;
    unsigned a;
    unsigned l;
    (void)state;

    c = cluster_create("sessions_leader_change",
                       &(struct cluster_options){.n = 3, .seed = 31});
    cluster_exec_ok(c, DB, "CREATE TABLE t(id INTEGER PRIMARY KEY, x)");
    a = cluster_ready_leader(c, 10000);
    b = write_session(c, a, "INSERT INTO t(x) VALUES('once')", CLIENT, 1);
    assert_false(b->reqs[0].duplicate);
    assert_int_equal(b->reqs[0].changes, 1);
    assert_int_equal(b->reqs[0].last_insert_id, 1);
    cluster_batch_free(b);
    cluster_settle(c);
    assert_session_everywhere(c, CLIENT, 1, 1);

    cluster_kill(c, a);
    l = cluster_ready_leader(c, 30000);
    assert_int_not_equal(l, a);
    cluster_exec_ok(c, DB, "INSERT INTO t(x) VALUES('other client')");

    b = write_session(c, l, "INSERT INTO t(x) VALUES('once')", CLIENT, 1);
    assert_true(b->reqs[0].duplicate);
    assert_int_equal(b->reqs[0].changes, 1);
    assert_int_equal(b->reqs[0].last_insert_id, 1);
    assert_true(b->reqs[0].bookmark > 0);
    cluster_batch_free(b);
    assert_count_everywhere(c, "SELECT count(*) FROM t WHERE x = 'once'", 1);

    b = write_session(c, l, "INSERT INTO t(x) VALUES('twice')", CLIENT, 2);
    assert_false(b->reqs[0].duplicate);
    assert_int_equal(b->reqs[0].last_insert_id, 3);
    cluster_batch_free(b);

    cluster_revive(c, a);
    cluster_check(c);
    assert_session_everywhere(c, CLIENT, 2, 3);
    assert_count_everywhere(c, "SELECT count(*) FROM t", 3);
    cluster_destroy(c);
}

struct transfer {
    struct raft_transfer req;
    bool done;
};

static void transfer_cb(struct raft_transfer *req)
{
    ((struct transfer *)req->data)->done = true;
}

static bool leads(struct cluster *c, void *arg)
{
    unsigned want = *(unsigned *)arg;
    return cluster_leader(c) == want;
}

/* A follower cut off while the others write past several snapshots (small
 * libraft thresholds), one write carrying a session, catches up through
 * InstallSnapshot; made leader, it recognises the client's retry from the
 * restored table. */
static void sessions_survive_snapshot_and_restore(void **state)
{
    struct cluster_options o;
    struct cluster *c;
    struct cluster_batch *b;
    struct transfer tr;
    unsigned l;
    unsigned f;
    unsigned before;
    int rv;
    (void)state;

    memset(&o, 0, sizeof o);
    o.n = 3;
    o.seed = 32;
    o.snapshot_threshold = 8;
    o.snapshot_trailing = 4;
    c = cluster_create("sessions_snapshot", &o);
    cluster_exec_ok(c, DB, "CREATE TABLE t(id INTEGER PRIMARY KEY, x)");
    l = cluster_ready_leader(c, 10000);
    f = (l + 2) % c->n;
    cluster_isolate(c, f);

    b = write_session(c, l, "INSERT INTO t(x) VALUES('once')", CLIENT, 5);
    assert_int_equal(b->reqs[0].last_insert_id, 1);
    cluster_batch_free(b);
    for (int k = 0; k < 30; k++) {
        /* Other clients, some with sessions, some writes changing no page. */
        b = write_session(c, c->n,
                          k % 3 == 0 ? "UPDATE t SET x = x WHERE id < 0"
                                     : "INSERT INTO t(x) VALUES('filler')",
                          100 + (uint64_t)k, 1);
        cluster_batch_free(b);
        cluster_exec_okf(c, DB, "INSERT INTO t(x) VALUES(%d)", k);
    }
    l = cluster_leader(c);
    if (cluster_raft(c, l)->log.snapshot.last_index <=
        raft_last_index(cluster_raft(c, f))) {
        fail_msg("the leader's snapshot (%llu) does not cover the "
                 "follower's log (%llu)",
                 (unsigned long long)cluster_raft(c, l)->log.snapshot.last_index,
                 (unsigned long long)raft_last_index(cluster_raft(c, f)));
    }
    before = raft_fixture_n_recv(&c->fixture, f, RAFT_IO_INSTALL_SNAPSHOT);
    cluster_rejoin(c, f);
    cluster_check(c);
    if (raft_fixture_n_recv(&c->fixture, f, RAFT_IO_INSTALL_SNAPSHOT) <=
        before) {
        fail_msg("node %u caught up without an InstallSnapshot", f);
    }
    assert_session_everywhere(c, CLIENT, 5, 1);
    assert_session_everywhere(c, 100, 1, 0);

    /* Hand leadership to the restored node. */
    l = cluster_leader(c);
    memset(&tr, 0, sizeof tr);
    tr.req.data = &tr;
    rv = raft_transfer(cluster_raft(c, l), &tr.req,
                       cluster_raft(c, f)->id, transfer_cb);
    if (rv != 0) {
        fail_msg("raft_transfer to node %u: %s", f, raft_strerror(rv));
    }
    if (!cluster_step_until(c, leads, &f, 30000)) {
        fail_msg("node %u did not take over the leadership", f);
    }
    assert_int_equal(cluster_ready_leader(c, 30000), f);
    cluster_step_ms(c, 100); /* Let the transfer callback fire. */

    b = write_session(c, f, "INSERT INTO t(x) VALUES('once')", CLIENT, 5);
    assert_true(b->reqs[0].duplicate);
    assert_int_equal(b->reqs[0].last_insert_id, 1);
    cluster_batch_free(b);
    b = cluster_batch_start_sessions(
        c, f, DB, (const char *const[]){"INSERT INTO t(x) VALUES('old')"},
        (const uint64_t[]){CLIENT}, (const uint64_t[]){4}, 1);
    assert_int_equal(b->rv, 0);
    cluster_batch_wait(b, 60000);
    assert_int_equal(b->reqs[0].status, WR_INVALID);
    assert_true(b->reqs[0].definite);
    cluster_batch_free(b);
    cluster_check(c);
    assert_count_everywhere(c, "SELECT count(*) FROM t WHERE x = 'once'", 1);
    assert_count_everywhere(c, "SELECT count(*) FROM t WHERE x = 'old'", 0);
    cluster_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(dedup_across_leader_change,
                                  cluster_teardown),
        cmocka_unit_test_teardown(sessions_survive_snapshot_and_restore,
                                  cluster_teardown),
    };
    if (getenv("WR_TEST_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("WR_TEST_FILTER"));
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
