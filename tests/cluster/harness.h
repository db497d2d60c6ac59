/*
 * A walraft cluster inside one test process: N servers (3 or 5) on libraft's
 * deterministic in-memory raft_fixture, each with the real state machine
 * (its own data directory, fsm, raft_fsm adapter, proposer and executor).
 *
 * Everything is driven by stepping the fixture, so a run is a function of
 * its seed. The seed is printed ("seed=N" on stderr) and can be forced with
 * the environment variable WR_SEED. Data directories live under $WR_TEST_TMP
 * (default /tmp) as <test>-<seed>-XXXXXX/<i>; they are removed when the test
 * passes and kept (with the path printed) when it fails.
 *
 * Checks fail the running cmocka test with a message saying what differs.
 *
 * The usual shape of a test:
 *
 *     struct cluster *c = cluster_create("name", &opts);
 *     cluster_exec_ok(c, "db", "CREATE TABLE t(x)");
 *     ...
 *     cluster_check(c);    // settle, then files identical, integrity ok
 *     cluster_destroy(c);  // the test passed: remove the directories
 *
 * A test that fails before cluster_destroy() leaves the cluster in
 * cluster_current(); the group teardown cluster_teardown() then keeps the
 * directories, prints where they are and frees everything.
 */
#ifndef WR_TESTS_CLUSTER_HARNESS_H
#define WR_TESTS_CLUSTER_HARNESS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>
#include <raft.h>
#include <raft/fixture.h>

#include "fsm/exec.h"
#include "fsm/fsm.h"
#include "raft/fsm_adapter.h"
#include "raft/io.h"
#include "raft/leader.h"
#include "raft/proposer.h"

#define CLUSTER_MAX_NODES 5
#define CLUSTER_BATCH_MAX 16
#define CLUSTER_PAGE_SIZE 4096

struct cluster_options {
    unsigned n;                    /* Servers: 3 or 5 (default 3). */
    uint64_t seed;                 /* Test seed (WR_SEED overrides it). */
    unsigned checkpoint_threshold; /* fsm's; 0: its default. */
    uint64_t snapshot_min_bytes;   /* fsm's snapshot policy. */
    unsigned snapshot_ratio_percent;
    unsigned snapshot_threshold;   /* libraft's, on every server; 0: 1024. */
    unsigned snapshot_trailing;    /* libraft's; 0: libraft's default. */
    bool no_pre_vote;              /* Pre-vote is on unless this is set. */
    bool keep_alive_on_fatal;      /* Do not kill a node whose fatal hook
                                      fired (its adapter still stops). */
    bool record_commands;          /* Copy every command node record_node
                                      applies (cluster_recorded()). */
    unsigned record_node;
};

/* One applied command, as reported by the adapter's on_applied hook. */
struct cluster_applied {
    raft_index index;
    raft_term term;
    uint64_t hash;
};

/* A command applied on the recording node, with its bytes. */
struct cluster_command {
    raft_index index;
    void *buf;
    size_t len;
};

struct cluster;
struct append_wrap;

struct cluster_node {
    struct cluster *c;
    unsigned i;
    char dir[600];
    struct fsm *fsm;
    struct fsm_adapter adapter;
    struct proposer proposer;
    struct exec *exec;
    bool killed;            /* Killed by the fatal hook or the test. */
    unsigned n_fatal;       /* Times the fatal hook fired (at most 1). */
    char fatal_msg[WR_ERRMSG_SIZE];
    struct raft_io_guard guard;  /* The libraft 0.15 safety decorator. */
    struct leader_watch watch;   /* The start-of-term barrier. */
    bool barrier_pending;   /* A harness barrier (cluster_settle) is in
                               flight. */
    int barrier_status;
    uint64_t barrier_index;
    struct cluster_applied *applied;
    size_t n_applied;
    size_t cap_applied;
    char order_error[WR_ERRMSG_SIZE]; /* First out-of-order apply. */
    /* The raft_fixture I/O fix (harness.c). */
    int (*io_append)(struct raft_io *io,
                     struct raft_io_append *req,
                     const struct raft_entry entries[],
                     unsigned n,
                     raft_io_append_cb cb);
    int (*io_truncate)(struct raft_io *io, raft_index index);
    int (*io_snapshot_put)(struct raft_io *io,
                           unsigned trailing,
                           struct raft_io_snapshot_put *req,
                           const struct raft_snapshot *snapshot,
                           raft_io_snapshot_put_cb cb);
    int (*io_snapshot_get)(struct raft_io *io,
                           struct raft_io_snapshot_get *req,
                           raft_io_snapshot_get_cb cb);
    raft_index io_snap_conf_index; /* Of the snapshot the fixture stores. */
    raft_index io_offset;  /* Index before the fixture's first entry. */
    size_t io_n;           /* Entries in the fixture's persisted array. */
    raft_index io_install; /* Index of an InstallSnapshot being stored. */
    /* Appends not yet handed to the layer above, oldest first. */
    struct append_wrap *io_appends;
    struct append_wrap *io_appends_tail;
    unsigned n_change_skipped; /* Configuration changes libraft 0.15 never
                                  adopted here (P4, harness.c). */
};

/* A write batch run through the executor of one node. The harness owns it
 * (so a failing test never leaves a request on a dead stack); read the
 * results, then cluster_batch_free() it. */
struct cluster_batch {
    struct cluster *c;
    unsigned node;
    char *db;
    unsigned n;
    unsigned n_done;
    int rv; /* exec_write()'s return. */
    char errmsg[WR_ERRMSG_SIZE];
    struct exec_req reqs[CLUSTER_BATCH_MAX];
    struct exec_req *ptrs[CLUSTER_BATCH_MAX];
    char *sql[CLUSTER_BATCH_MAX];
    struct cluster_batch *next;
};

struct cluster {
    char name[128];
    uint64_t seed;
    struct cluster_options opts;
    char root[512];
    struct raft_fixture fixture;
    unsigned n;
    struct cluster_node nodes[CLUSTER_MAX_NODES];
    struct cluster_batch *batches;
    struct cluster_command *commands;
    size_t n_commands;
    size_t cap_commands;
    struct fsm *extra[4]; /* Stand-alone fsms made by cluster_fsm_create(). */
    char **names;         /* Database names, while a check runs. */
    unsigned n_names;
    void *img_a;          /* File images, while a comparison runs. */
    void *img_b;
    unsigned n_extra;
    raft_id *leader_of_term; /* Server seen leading each term (0: none). */
    size_t cap_terms;
};

/* The seed to use: WR_SEED from the environment if set, else @dflt. Prints
 * "seed=N" on stderr. */
uint64_t cluster_seed(uint64_t dflt);

/* SplitMix64: the generator tests use for everything random. */
uint64_t cluster_rand(uint64_t *state);
/* Uniform in [0, n). */
uint64_t cluster_rand_below(uint64_t *state, uint64_t n);

/* Start a cluster named @name (the seed is taken with cluster_seed()):
 * bootstrap every server as a voter, start them and elect server 0. */
struct cluster *cluster_create(const char *name,
                               const struct cluster_options *opts);

/* The test passed: close everything and remove the directories. */
void cluster_destroy(struct cluster *c);

/* The cluster created last and not destroyed yet, or NULL. */
struct cluster *cluster_current(void);

/* cmocka teardown: if a test failed with a cluster alive, keep its
 * directories, print their path and release its memory. */
int cluster_teardown(void **state);

struct raft *cluster_raft(struct cluster *c, unsigned i);

/* Index of the node that is leader with the highest term among the nodes
 * not killed, or c->n if none. */
unsigned cluster_leader(struct cluster *c);

/* A leader that has applied a barrier of its own term (libraft 0.15 has no
 * start-of-term entry, so before that it may still hold committed entries it
 * has not applied: an executor on it would run on stale state). Steps until
 * there is one; fails the test if none within @max_ms of fixture time. */
unsigned cluster_ready_leader(struct cluster *c, unsigned max_ms);

/* Step the fixture once. */
void cluster_step(struct cluster *c);

/* Step until @pred returns true or @max_ms of fixture time passed. */
bool cluster_step_until(struct cluster *c,
                        bool (*pred)(struct cluster *c, void *arg),
                        void *arg,
                        unsigned max_ms);

/* Step for @ms of fixture time. */
void cluster_step_ms(struct cluster *c, unsigned ms);

/* Run @n requests (@sqls[i]) on database @db as one batch on the executor of
 * node @node (the current ready leader when @node >= c->n). Returns the batch
 * at once; batch->rv is exec_write()'s return and when it is not 0 no
 * callback will fire. */
struct cluster_batch *cluster_batch_start(struct cluster *c,
                                          unsigned node,
                                          const char *db,
                                          const char *const *sqls,
                                          unsigned n);

/* cluster_batch_start() with exactly-once sessions: request i carries
 * client id @client_ids[i] and sequence number @seqs[i] (fsm/exec.h). */
struct cluster_batch *cluster_batch_start_sessions(
    struct cluster *c,
    unsigned node,
    const char *db,
    const char *const *sqls,
    const uint64_t *client_ids,
    const uint64_t *seqs,
    unsigned n);

bool cluster_batch_done(const struct cluster_batch *b);

/* Step until every callback of @b fired; fails the test otherwise. */
void cluster_batch_wait(struct cluster_batch *b, unsigned max_ms);

void cluster_batch_free(struct cluster_batch *b);

/* Start a batch on the ready leader and wait for it. Fails the test if
 * exec_write() refuses it. */
struct cluster_batch *cluster_write(struct cluster *c,
                                    const char *db,
                                    const char *const *sqls,
                                    unsigned n);

/* One request that must succeed. */
void cluster_exec_ok(struct cluster *c, const char *db, const char *sql);
void cluster_exec_okf(struct cluster *c, const char *db, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A read on node @node through its executor; fails the test unless it
 * succeeds. The caller closes @req with exec_req_close(). */
void cluster_read(struct cluster *c,
                  unsigned node,
                  const char *db,
                  const char *sql,
                  struct exec_req *req);

/* First column of the first row of a read on @node, as an integer (the test
 * fails if there is no row). */
int64_t cluster_query_int(struct cluster *c,
                          unsigned node,
                          const char *db,
                          const char *sql);

/* Every node not killed has applied everything: commit a barrier on the
 * ready leader and step until each of them applied it. */
void cluster_settle(struct cluster *c);

/* Settle, checkpoint every node not killed, and check that for every
 * database their main files are byte-identical to the leader's and
 * PRAGMA integrity_check says ok; and that the applied records agree (each
 * node applied increasing indexes, the same entry at each index). */
void cluster_check(struct cluster *c);

/* Like cluster_check() but without settling and including killed nodes:
 * for a cluster that can no longer make progress. */
void cluster_check_files(struct cluster *c, bool include_killed);

/* The applied records of every pair of nodes agree. */
void cluster_check_applied(struct cluster *c);

/* Checkpoint @f and compare every database of @f with node @ref's. */
void cluster_compare_fsm(struct cluster *c, unsigned ref, struct fsm *f,
                         const char *what);

/* Add a new, empty server to the fixture and start it (not yet a member:
 * raft_add() it on the leader). Returns its index. */
unsigned cluster_grow(struct cluster *c);

/* Cut node @i off from every other node (messages dropped both ways), and
 * join it back. */
void cluster_isolate(struct cluster *c, unsigned i);
void cluster_rejoin(struct cluster *c, unsigned i);

/* Depose the leader (raft_fixture_depose(): its followers stop answering
 * until it steps down), then wait for a ready leader, which may be the same
 * server in a new term. */
void cluster_depose(struct cluster *c);

/* Kill node @i (raft_fixture_kill) and mark it killed. */
void cluster_kill(struct cluster *c, unsigned i);

/* Bring killed node @i back (raft_fixture_revive: it reconnects to every
 * live node, whatever cuts there were, and continues from its in-memory
 * state, as raft_fixture keeps a killed server's memory and completes its
 * pending writes). Fails the test if the node stopped on a fatal error. */
void cluster_revive(struct cluster *c, unsigned i);

/* The id of the server seen leading @term after some step, or 0. Every step
 * records the leaders and fails the test when two lead the same term. */
raft_id cluster_leader_of_term(struct cluster *c, raft_term term);

/* Commands applied on the recording node, in order. */
const struct cluster_command *cluster_recorded(struct cluster *c, size_t *n);

/* A stand-alone fsm in <root>/<subdir>, released with the cluster. */
struct fsm *cluster_fsm_create(struct cluster *c,
                               const char *subdir,
                               uint64_t node_id);

/* First column of the first row of @sql on @f's database @db, read on the
 * fsm's own connection; fails the test on error. */
int64_t fsm_query_int(struct fsm *f, const char *db, const char *sql);

/* Read a whole file into a malloc'ed buffer; NULL (and *len 0) if it does
 * not exist. */
void *harness_read_file(const char *path, size_t *len);

#endif /* WR_TESTS_CLUSTER_HARNESS_H */
