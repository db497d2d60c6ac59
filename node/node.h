/*
 * walraftd's node: one Raft server (raft_uv storage behind the raft_io
 * guard, the one-port transport), the replicated SQLite state machine, the
 * executor, the start-of-term barrier, membership, and the client gateway.
 *
 * node.c owns the wiring and the lifecycle; gateway.c owns client
 * connections and calls back into the node through the functions below.
 * Everything runs on the node's event-loop thread.
 *
 * Lifecycle: node_create() (opens storage, binds the port, bootstraps or
 * joins), node_start() (starts Raft), then uv_run() on node_loop(); a
 * SIGTERM or SIGINT, or node_stop(), hands leadership over if the node leads
 * and then closes everything; uv_run() returns once all is closed; then
 * node_destroy(). A node whose Raft instance becomes unavailable, or that
 * hits a storage error, exits the process with status 1 so that its
 * supervisor restarts it from disk (ARCHITECTURE.md section 8).
 */
#ifndef WR_NODE_NODE_H
#define WR_NODE_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "../lib/err.h"
#include "../proto/wire.h"
#include "../raft/read_index.h"
#include "peer.h"

struct exec;
struct fsm;
struct raft;
struct queue;

struct node_config {
    uint64_t id;              /* > 0. */
    const char *address;      /* IPv4 "a.b.c.d:port": Raft and clients. */
    const char *data_dir;     /* Created if missing. */
    const char *join;         /* NULL, or "host:port,host:port,...": join
                                 an existing cluster when the data
                                 directory holds no Raft state yet. */
    unsigned election_timeout_ms;  /* 0: 1000. */
    unsigned heartbeat_timeout_ms; /* 0: 100. */
    unsigned voters;               /* Voter target; 0: 3. */
    unsigned snapshot_threshold;   /* Entries after which libraft asks
                                      for a snapshot; 0: 1. */
    unsigned snapshot_trailing;    /* Most entries kept after one; 0: 8192. */
    uint64_t snapshot_min_bytes;   /* Cost rule: least log bytes; 0: 1 MiB. */
    unsigned snapshot_ratio_percent; /* ... and percent of the databases'
                                        size; 0: 100. */
    uint64_t snapshot_max_bytes;   /* Log bytes since the last snapshot that
                                      force one whatever the cost rule (the
                                      log lives in memory); 0: 64 MiB. */
    uint64_t snapshot_trailing_bytes; /* Most bytes of entries kept after a
                                         snapshot; 0: 16 MiB. */
    unsigned compact_idle_ms;      /* After this long without writes, the
                                      leader's barrier lets every node
                                      snapshot once its log holds a quarter
                                      of snapshot_max_bytes; 0: 5000. */
    bool compact_idle_off;         /* --compact-idle 0. */
    unsigned queue_timeout_ms;     /* A write waiting longer fails; 0: 10000. */
    unsigned tx_timeout_ms;        /* An interactive transaction idle longer
                                      is rolled back; 0: 10000. */
    uint64_t min_free_bytes;       /* Writes are refused while the data
                                      directory's filesystem has less free
                                      space; 0: 64 MiB. */
    unsigned max_batch;            /* Requests per batch; 0: 256. */
    size_t max_batch_bytes;        /* SQL + parameter bytes; 0: 4 MiB. */
    unsigned max_connections;      /* Client connections; 0: 1024. */
    unsigned max_statements;       /* Prepared per connection; 0: 1024. */
    struct proto_limits limits;    /* All zero: PROTO_LIMITS_DEFAULT with
                                      16 MiB messages. */
    bool unsafe_skip_read_index;   /* Testing the fault harness only
                                      (--unsafe-skip-read-index, not in
                                      --help): linearizable reads skip the
                                      read-index round, which makes them
                                      stale under partitions. */
};

struct node;

/* Create the node and open its storage. No reference to @config is kept
 * (strings are copied). Returns 0, or an error with @errmsg set. */
int node_create(const struct node_config *config,
                struct node **out,
                char *errmsg);

/* Bootstrap or join if the data directory is new, then start Raft, the
 * listener and the timers. Returns 0 or an error with @errmsg set. */
int node_start(struct node *n, char *errmsg);

/* Hand leadership over if this node leads, then close everything; uv_run()
 * returns once it is all closed. Safe to call more than once. */
void node_stop(struct node *n);

/* Release the node. Call after uv_run() returned. */
void node_destroy(struct node *n);

uv_loop_t *node_loop(struct node *n);

/*
 * What the gateway uses.
 */

uint64_t node_id(const struct node *n);
const char *node_address(const struct node *n);
const struct node_config *node_config(const struct node *n);

/* The node's Raft instance (read-only use: raft_state(), the
 * configuration, raft_leader()). */
struct raft *node_raft(struct node *n);

/* True when this node is leader and its start-of-term barrier is applied:
 * only then may it run writes, serve reads as leader or change membership. */
bool node_ready(const struct node *n);

/* The leader as far as this node knows: itself once node_ready(); another
 * server if Raft knows one; else id 0 and "". @address stays valid until
 * the next event-loop turn. */
void node_leader(struct node *n, uint64_t *id, const char **address);

struct fsm *node_fsm(struct node *n);
struct exec *node_exec(struct node *n);
struct queue *node_queue(struct node *n);

/* Membership changes and leadership transfer, answered on the leader.
 * @cb fires exactly once, later, with 0 or an error and a sentence, unless
 * the call returns an error (then it never fires and @errmsg says why:
 * WR_NOTLEADER, WR_BUSY when another change is in flight, WR_INVALID for an
 * unknown id or a bad role or address, WR_NOMEM). The callback may fire
 * during node_stop(); the caller keeps @arg valid until it fires. */
typedef void (*node_done_cb)(void *arg, int status, const char *errmsg);

int node_add(struct node *n,
             uint64_t id,
             const char *address,
             node_done_cb cb,
             void *arg,
             char *errmsg);
int node_assign(struct node *n,
                uint64_t id,
                int role, /* PROTO_VOTER, PROTO_STANDBY, PROTO_SPARE */
                node_done_cb cb,
                void *arg,
                char *errmsg);
int node_remove(struct node *n,
                uint64_t id,
                node_done_cb cb,
                void *arg,
                char *errmsg);
/* @id 0 lets the node choose the most up-to-date voter. Success means
 * another server now leads. */
int node_transfer(struct node *n,
                  uint64_t id,
                  node_done_cb cb,
                  void *arg,
                  char *errmsg);

/* Disk-space admission (raft/README.md, C3): false, with a sentence in
 * @errmsg, while the data directory's filesystem has less than
 * min_free_bytes free, so writes fail with a clear, definite error instead
 * of raft_uv running out of space (a storage error stops the node). Uses the
 * figure measured on the node's last tick (every 100 ms). */
bool node_disk_ok(const struct node *n, char *errmsg);

/* Milliseconds since this node last heard from a leader: 0 when it is the
 * ready leader, UINT64_MAX when it knows none (level NONE's max
 * staleness). */
uint64_t node_staleness_ms(struct node *n);

/*
 * Linearizable reads (ARCHITECTURE.md section 4, raft/read_index.h).
 */

struct node_read;
/* @status 0: the read may run once this node has applied @index. Otherwise
 * the read must not run (every such error is definite): WR_NOTLEADER (no
 * ready leader known, or this node stopped leading), WR_BUSY (no majority
 * confirmed in time), WR_IOERR (the leader could not be reached),
 * WR_SHUTDOWN; @errmsg says why. */
typedef void (*node_read_cb)(struct node_read *req,
                             int status,
                             uint64_t index,
                             const char *errmsg);

/* Caller-allocated; valid until its callback fired. */
struct node_read {
    void *data;
    node_read_cb cb;
    /* Private. */
    struct read_index_req ri_;
    struct node_read *next_;
};

/* Get a read index for a linearizable read: on the ready leader from a
 * read-index round, on a follower from the leader (READ_INDEX, which runs
 * a round there). Concurrent requests share rounds and questions. The
 * callback fires exactly once, possibly inside this call (the leader of a
 * one-voter cluster, or an immediate refusal). */
void node_read_index(struct node *n, struct node_read *req);

/* A READ_INDEX question from voter @asker_id, at @term and following
 * @leader_id: true, with *@index, when the asker's answer and this ready
 * leader's make a majority (raft/read_index.h, read_index_fast()). */
bool node_read_index_fast(struct node *n,
                          uint64_t asker_id,
                          uint64_t term,
                          uint64_t leader_id,
                          uint64_t *index);

/* The answer to a CONFIRM request (proto/wire.h): this node's term and the
 * leader it follows in it. */
void node_confirm_answer(struct node *n, uint64_t *term, uint64_t *leader_id);

/* Forward @r to the leader this node follows, on a connection that opened
 * database @db (node/peer.h): @req's callback fires once per message of
 * the answer, as peers_send() says. Returns WR_NOTLEADER when this node
 * follows no leader (then, as for any error, the callback never fires). */
int node_forward(struct node *n,
                 const char *db,
                 const struct proto_request *r,
                 int expect,
                 struct peer_req *req,
                 char *errmsg);

/* The node's weight (WEIGHT/DESCRIBE requests). */
uint64_t node_weight(const struct node *n);
void node_set_weight(struct node *n, uint64_t weight);

/* The STATUS document: a NUL-terminated JSON object allocated with
 * malloc(), owned by the caller; NULL when out of memory. Keys:
 *   id, address            this node
 *   state                  "leader", "follower", "candidate", "unavailable"
 *   role                   this node's role in the configuration it knows:
 *                          "voter", "standby", "spare", or "none"
 *   ready                  true when node_ready()
 *   leader_id, leader_address   as node_leader() (0 and "" if unknown)
 *   term, commit_index, applied_index, last_index, snapshot_index
 *   log_entries, log_bytes  entries held in memory by libraft and the
 *                          bytes of their payloads
 *   snapshots_taken, snapshots_by_cap, snapshots_by_idle: snapshots
 *                          this process took, and how many of them the caps
 *                          or idle compaction forced (fsm_adapter.h)
 *   snapshot_trailing      trailing count set at the last one (0: none)
 *   voter_target           the --voters setting
 *   servers                [{id, address, role, match_index}] of the
 *                          configuration; match_index is the leader's view
 *                          of that server's log (null on other nodes)
 *   databases              names of the databases opened so far
 *   connections            client connections open
 *   reads_sent_direct, reads_vouched: linearizable reads sent on to the
 *                          leader at once, as a follower, and served on a
 *                          follower's vouch, as the leader
 *                          (gateway_read_stats())
 *   queued_writes          writes waiting in the group-commit queue */
char *node_status_json(struct node *n);

#endif /* WR_NODE_NODE_H */
