/*
 * Read-index rounds (raft/read_index.h) and bookmarks on raft_fixture
 * clusters running the real state machine (issue 5, proof 1). The waiting
 * itself (a request held until its node applied an index, failing after
 * the node's wait) is walraftd's gateway, tested with real processes
 * (process_envelope).
 *
 * Each node gets a struct read_index whose CONFIRM questions go through a
 * small in-test network: a question is held until the test delivers it, and
 * it is lost if the fixture's network cuts the two servers (cluster_isolate
 * saturates both directions) unless the test says to deliver anyway. The
 * answer is computed by read_index_answer() on the receiving server at
 * delivery time, so it reflects that server's state then, as a CONFIRM
 * served by walraftd's gateway would. A follower's linearizable read is
 * what walraftd does: get an index from the leader's round, wait until the
 * follower applied it, read there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/harness.h"
#include "raft/read_index.h"

#define MAX_QUESTIONS 64

struct question {
    unsigned from;
    unsigned to;
    uint64_t term;
    uint64_t leader_id;
    uint64_t round;
};

/* The in-test network of one cluster. */
static struct net {
    struct cluster *c;
    struct read_index ri[CLUSTER_MAX_NODES];
    unsigned self[CLUSTER_MAX_NODES]; /* ops data: the node's index. */
    struct question q[MAX_QUESTIONS];
    unsigned n_q;
} net;

/* One read waiting for its index. */
struct read {
    struct read_index_req req;
    bool done;
    int status;
    uint64_t index;
    char errmsg[WR_ERRMSG_SIZE];
};

static int ask(void *data,
               uint64_t id,
               const char *address,
               uint64_t term,
               uint64_t leader_id,
               uint64_t round)
{
    unsigned from = *(unsigned *)data;
    (void)address;

    assert_true(net.n_q < MAX_QUESTIONS);
    net.q[net.n_q++] = (struct question){.from = from,
                                         .to = (unsigned)id - 1,
                                         .term = term,
                                         .leader_id = leader_id,
                                         .round = round};
    return 0;
}

static void net_init(struct cluster *c)
{
    memset(&net, 0, sizeof net);
    net.c = c;
    for (unsigned i = 0; i < c->n; i++) {
        struct read_index_ops ops = {.data = &net.self[i], .ask = ask};
        net.self[i] = i;
        read_index_init(&net.ri[i], cluster_raft(c, i), &ops, 1000);
    }
}

static void net_close(void)
{
    for (unsigned i = 0; i < net.c->n; i++) {
        read_index_close(&net.ri[i]);
    }
}

/* Deliver every question held (and its answer at once), except those
 * between servers the fixture cuts, which are lost, unless @ignore_cuts. */
static void deliver(bool ignore_cuts)
{
    struct cluster *c = net.c;
    unsigned n = net.n_q;
    struct question q[MAX_QUESTIONS];

    memcpy(q, net.q, n * sizeof q[0]);
    net.n_q = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t term;
        uint64_t leader_id;

        if (c->nodes[q[i].to].killed ||
            (!ignore_cuts &&
             raft_fixture_saturated(&c->fixture, q[i].from, q[i].to))) {
            continue;
        }
        read_index_answer(cluster_raft(c, q[i].to), &term, &leader_id);
        read_index_received(&net.ri[q[i].from], q[i].to + 1, q[i].round,
                            term, leader_id);
    }
}

static void tick_all(void)
{
    for (unsigned i = 0; i < net.c->n; i++) {
        read_index_tick(&net.ri[i]);
    }
}

static void read_cb(struct read_index_req *req,
                    int status,
                    uint64_t index,
                    const char *errmsg)
{
    struct read *r = req->data;
    r->done = true;
    r->status = status;
    r->index = index;
    snprintf(r->errmsg, sizeof r->errmsg, "%s", errmsg);
}

static void request(unsigned node, struct read *r)
{
    memset(r, 0, sizeof *r);
    r->req.data = r;
    r->req.cb = read_cb;
    read_index_request(&net.ri[node], &r->req);
}

static struct cluster_options opts(unsigned n, uint64_t seed)
{
    struct cluster_options o;
    memset(&o, 0, sizeof o);
    o.n = n;
    o.seed = seed;
    return o;
}

static int teardown(void **state)
{
    if (net.c != NULL && cluster_current() == net.c) {
        net_close();
    }
    memset(&net, 0, sizeof net);
    return cluster_teardown(state);
}

static bool applied_at_least(struct cluster *c, void *arg)
{
    const uint64_t *want = arg;
    return raft_last_applied(cluster_raft(c, (unsigned)want[0])) >= want[1];
}

/* A linearizable read on @node with @index from the leader: wait until the
 * node applied it, then read x. */
static int64_t read_at(struct cluster *c, unsigned node, uint64_t index)
{
    uint64_t want[2] = {node, index};
    assert_true(cluster_step_until(c, applied_at_least, want, 5000));
    return cluster_query_int(c, node, "db", "SELECT x FROM t");
}

/* A write acknowledged by the leader is seen by a linearizable read on the
 * leader and on every follower once each applied the round's index. */
static void read_index_on_leader_and_followers(void **state)
{
    struct cluster_options o = opts(3, 11);
    struct cluster *c = cluster_create("read_index_basic", &o);
    struct cluster_batch *b;
    const char *sql = "UPDATE t SET x = 2";
    unsigned leader;
    struct read r;
    uint64_t bookmark;
    (void)state;

    net_init(c);
    cluster_exec_ok(c, "db", "CREATE TABLE t(x)");
    cluster_exec_ok(c, "db", "INSERT INTO t VALUES (1)");
    b = cluster_write(c, "db", &sql, 1);
    bookmark = b->reqs[0].bookmark;
    cluster_batch_free(b);
    leader = cluster_ready_leader(c, 5000);

    request(leader, &r);
    assert_false(r.done); /* It needs a majority's answers. */
    deliver(false);
    assert_true(r.done);
    assert_int_equal(r.status, 0);
    assert_true(r.index >= bookmark);
    for (unsigned i = 0; i < c->n; i++) {
        assert_int_equal(read_at(c, i, r.index), 2);
    }
    assert_int_equal(read_index_rounds(&net.ri[leader]), 1);
    net_close();
    cluster_destroy(c);
}

/* Reads that arrive while a round is out share the next round; reads that
 * arrive together share one. */
static void concurrent_reads_share_rounds(void **state)
{
    struct cluster_options o = opts(3, 12);
    struct cluster *c = cluster_create("read_index_share", &o);
    struct read r[5];
    unsigned leader;
    (void)state;

    net_init(c);
    cluster_exec_ok(c, "db", "CREATE TABLE t(x)");
    leader = cluster_ready_leader(c, 5000);
    request(leader, &r[0]);
    request(leader, &r[1]);
    request(leader, &r[2]);
    assert_int_equal(net.n_q, 2); /* One question per other voter. */
    deliver(false);
    /* r[0] started round 1; r[1] and r[2] arrived after it started, so
     * they waited for round 2, which started when round 1 ended. */
    assert_true(r[0].done);
    assert_int_equal(r[0].status, 0);
    assert_false(r[1].done);
    assert_int_equal(net.n_q, 2);
    request(leader, &r[3]);
    request(leader, &r[4]);
    deliver(false);
    assert_true(r[1].done && r[2].done);
    assert_int_equal(r[1].index, r[2].index);
    deliver(false);
    assert_true(r[3].done && r[4].done);
    assert_int_equal(r[3].status, 0);
    assert_int_equal(r[3].index, r[4].index);
    assert_int_equal(read_index_rounds(&net.ri[leader]), 3);
    net_close();
    cluster_destroy(c);
}

/* A leader cut off from every other voter gets no majority: its reads
 * fail (timeout, or not leader once it stepped down); none answers. */
static void round_fails_without_majority(void **state)
{
    struct cluster_options o = opts(3, 13);
    struct cluster *c = cluster_create("read_index_minority", &o);
    struct read r;
    unsigned leader;
    (void)state;

    net_init(c);
    cluster_exec_ok(c, "db", "CREATE TABLE t(x)");
    leader = cluster_ready_leader(c, 5000);
    cluster_isolate(c, leader);
    request(leader, &r);
    for (unsigned ms = 0; ms < 3000 && !r.done; ms += 10) {
        deliver(false);
        cluster_step_ms(c, 10);
        tick_all();
    }
    assert_true(r.done);
    assert_int_not_equal(r.status, 0);
    assert_true(r.status == WR_BUSY || r.status == WR_NOTLEADER);
    cluster_rejoin(c, leader);
    net_close();
    cluster_destroy(c);
}

/* A deposed leader that still believes it leads (frozen while the others
 * elect a new leader and write x = 2, as a SIGSTOP would) never returns the
 * old value at LINEARIZABLE: its round fails whether its questions are lost
 * or reach the other voters (they follow the new leader in a newer term),
 * and a STRONG read through its log never commits. */
static void deposed_leader_never_reads_stale(void **state)
{
    struct cluster_options o = opts(3, 14);
    struct cluster *c = cluster_create("read_index_deposed", &o);
    const char *sql = "SELECT x FROM t";
    struct cluster_batch *strong;
    unsigned old;
    unsigned fresh;
    struct read r;
    struct read r2;
    (void)state;

    net_init(c);
    cluster_exec_ok(c, "db", "CREATE TABLE t(x)");
    cluster_exec_ok(c, "db", "INSERT INTO t VALUES (1)");
    old = cluster_ready_leader(c, 5000);

    /* Freeze the leader; the others elect a new one and write x = 2. */
    cluster_kill(c, old);
    fresh = cluster_ready_leader(c, 10000);
    assert_int_not_equal(fresh, old);
    cluster_exec_ok(c, "db", "UPDATE t SET x = 2");

    /* It wakes up cut off, still leader of its old term, x = 1. */
    cluster_revive(c, old);
    cluster_isolate(c, old);
    assert_int_equal(raft_state(cluster_raft(c, old)), RAFT_LEADER);
    assert_int_equal(cluster_query_int(c, old, "db", "SELECT x FROM t"), 1);

    /* Linearizable reads on it: one whose questions are lost, one whose
     * questions reach the others anyway. */
    request(old, &r);
    request(old, &r2);
    deliver(true);
    deliver(true);
    for (unsigned ms = 0; ms < 3000 && !(r.done && r2.done); ms += 10) {
        deliver(false);
        cluster_step_ms(c, 10);
        tick_all();
    }
    assert_true(r.done && r2.done);
    assert_int_not_equal(r.status, 0);
    assert_int_not_equal(r2.status, 0);

    /* A follower's READ_INDEX question reaching it carries the newer term
     * and leader: no shortcut either. */
    for (unsigned i = 0; i < c->n; i++) {
        uint64_t term, leader_id, index;
        if (i == old) {
            continue;
        }
        read_index_answer(cluster_raft(c, i), &term, &leader_id);
        assert_false(
            read_index_fast(&net.ri[old], i + 1, term, leader_id, &index));
    }

/* A STRONG read on the old leader: a barrier in its log that cannot
     * commit; once it rejoins it hears of the new term and fails it. */
    if (raft_state(cluster_raft(c, old)) == RAFT_LEADER) {
        strong = cluster_batch_start(c, old, "db", &sql, 1);
        if (strong->rv == 0) {
            cluster_step_ms(c, 500);
            cluster_rejoin(c, old);
            cluster_batch_wait(strong, 10000);
            assert_int_not_equal(strong->reqs[0].status, 0);
        }
        cluster_batch_free(strong);
    }
    cluster_rejoin(c, old);

    /* Linearizable reads through the new leader see x = 2 everywhere,
     * the old leader included once it applied the index. */
    fresh = cluster_ready_leader(c, 10000);
    request(fresh, &r);
    deliver(false);
    assert_true(r.done);
    assert_int_equal(r.status, 0);
    for (unsigned i = 0; i < c->n; i++) {
        assert_int_equal(read_at(c, i, r.index), 2);
    }
    net_close();
    cluster_destroy(c);
}

/* In a 3-voter cluster a follower's own answer, carried by its READ_INDEX
 * question, and the leader's make a majority: no round is needed; not when
 * the follower names another term or leader, nor with 5 voters. */
static void follower_question_counts_as_answer(void **state)
{
    struct cluster_options o3 = opts(3, 16);
    struct cluster_options o5 = opts(5, 17);
    struct cluster *c = cluster_create("read_index_fast3", &o3);
    unsigned leader;
    unsigned f;
    uint64_t term, leader_id, index = 0;
    const char *sql = "UPDATE t SET x = 3";
    struct cluster_batch *b;
    (void)state;

    net_init(c);
    cluster_exec_ok(c, "db", "CREATE TABLE t(x)");
    cluster_exec_ok(c, "db", "INSERT INTO t VALUES (1)");
    b = cluster_write(c, "db", &sql, 1);
    leader = cluster_ready_leader(c, 5000);
    f = (leader + 1) % c->n;
    read_index_answer(cluster_raft(c, f), &term, &leader_id);
    assert_true(read_index_fast(&net.ri[leader], f + 1, term, leader_id,
                                &index));
    assert_true(index >= b->reqs[0].bookmark);
    assert_int_equal(read_at(c, f, index), 3);
    cluster_batch_free(b);
    assert_false(read_index_fast(&net.ri[leader], f + 1, term + 1, leader_id,
                                 &index));
    assert_false(read_index_fast(&net.ri[leader], f + 1, term,
                                 (leader + 2) % c->n + 1, &index));
    assert_false(read_index_fast(&net.ri[leader], leader + 1, term,
                                 leader_id, &index));
    assert_false(read_index_fast(&net.ri[f], leader + 1, term, leader_id,
                                 &index));
    net_close();
    cluster_destroy(c);

    c = cluster_create("read_index_fast5", &o5);
    net_init(c);
    leader = cluster_ready_leader(c, 5000);
    f = (leader + 1) % c->n;
    read_index_answer(cluster_raft(c, f), &term, &leader_id);
    assert_false(read_index_fast(&net.ri[leader], f + 1, term, leader_id,
                                 &index));
    net_close();
    cluster_destroy(c);
}

/* A write's bookmark is the index at which its effect is visible: a
 * follower that has applied that index sees the write (read-your-writes
 * across nodes), while a follower cut off before the write never reaches
 * the bookmark, so a bookmark read there waits and then fails instead of
 * answering without the write; once it rejoins it reaches the bookmark and
 * sees the write. */
static void bookmark_is_where_the_write_is_visible(void **state)
{
    struct cluster_options o = opts(3, 18);
    struct cluster *c = cluster_create("read_index_bookmark", &o);
    const char *sql = "UPDATE t SET x = 9";
    struct cluster_batch *b;
    unsigned leader;
    unsigned cut;
    unsigned other;
    uint64_t bookmark;
    uint64_t want[2];
    (void)state;

    net_init(c);
    cluster_exec_ok(c, "db", "CREATE TABLE t(x)");
    cluster_exec_ok(c, "db", "INSERT INTO t VALUES (1)");
    leader = cluster_ready_leader(c, 5000);
    cut = (leader + 1) % c->n;
    other = (leader + 2) % c->n;
    cluster_settle(c);
    cluster_isolate(c, cut);
    b = cluster_write(c, "db", &sql, 1);
    assert_int_equal(b->reqs[0].status, 0);
    bookmark = b->reqs[0].bookmark;
    cluster_batch_free(b);

    /* The follower that is connected reaches the bookmark and sees it. */
    assert_int_equal(read_at(c, other, bookmark), 9);

    /* The cut-off one does not reach it within any wait; its state is the
     * old one, which a bookmark read must not return. */
    want[0] = cut;
    want[1] = bookmark;
    assert_false(cluster_step_until(c, applied_at_least, want, 5000));
    assert_true(raft_last_applied(cluster_raft(c, cut)) < bookmark);
    assert_int_equal(cluster_query_int(c, cut, "db", "SELECT x FROM t"), 1);

    cluster_rejoin(c, cut);
    assert_int_equal(read_at(c, cut, bookmark), 9);
    net_close();
    cluster_destroy(c);
}

/* Every voter of a settled cluster answers a CONFIRM with the leader's term
 * and id. */
static void answer_reflects_raft_state(void **state)
{
    struct cluster_options o = opts(3, 15);
    struct cluster *c = cluster_create("read_index_answer", &o);
    unsigned leader;
    uint64_t term;
    uint64_t leader_id;
    (void)state;

    net_init(c);
    leader = cluster_ready_leader(c, 5000);
    for (unsigned i = 0; i < c->n; i++) {
        read_index_answer(cluster_raft(c, i), &term, &leader_id);
        assert_int_equal(term, cluster_raft(c, leader)->current_term);
        assert_int_equal(leader_id, leader + 1);
    }
    net_close();
    cluster_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(read_index_on_leader_and_followers,
                                  teardown),
        cmocka_unit_test_teardown(concurrent_reads_share_rounds, teardown),
        cmocka_unit_test_teardown(round_fails_without_majority, teardown),
        cmocka_unit_test_teardown(deposed_leader_never_reads_stale,
                                  teardown),
        cmocka_unit_test_teardown(follower_question_counts_as_answer,
                                  teardown),
        cmocka_unit_test_teardown(bookmark_is_where_the_write_is_visible,
                                  teardown),
        cmocka_unit_test_teardown(answer_reflects_raft_state, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
