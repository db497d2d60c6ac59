/*
 * The node: one walraftd process's Raft server, state machine and client
 * gateway, wired on one libuv loop (node.h has the lifecycle).
 *
 * Layout of the data directory:
 *
 *   DIR/raft/   raft_uv's log segments, metadata and snapshots
 *   DIR/db/     the SQLite database files (rebuilt from the snapshot and the
 *               log at every start: ARCHITECTURE.md section 7)
 *
 * The policies of ARCHITECTURE.md section 8 that live here:
 *  - raft_uv's auto-recovery is off: a corrupt log is the loss of the node;
 *  - the raft_io guard (raft/io.h) sits over raft_uv; a storage error it
 *    sees, or a raft instance that becomes unavailable, ends the process
 *    with status 1 so that the supervisor restarts it from disk;
 *  - pre-vote is on;
 *  - a leader serves nothing before its start-of-term barrier is applied
 *    (raft/leader.h), membership changes included;
 *  - membership changes go one at a time, and only while every voter (but
 *    the one a change removes) is caught up with the leader;
 *  - raft_transfer requests live as long as the node (libraft 0.15 may
 *    touch a transfer request after its callback).
 *
 * Membership (ARCHITECTURE.md section 5): a new node asks the leader to add
 * it (as a spare) before it starts Raft; the leader then promotes caught-up
 * spares and standbys to voter while the cluster has fewer voters than its
 * target, and makes the remaining spares standbys.
 */
#include "node.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <jansson.h>
#include <raft.h>
#include <raft/uv.h>

#include "../client/conn.h"
#include "../fsm/exec.h"
#include "../fsm/fsm.h"
#include "../lib/log.h"
#include "../raft/fsm_adapter.h"
#include "../raft/io.h"
#include "../raft/leader.h"
#include "../raft/log_view.h"
#include "../raft/proposer.h"
#include "../raft/transport.h"
#include "../raft/uv_watch.h"
#include "gateway.h"
#include "peer.h"
#include "queue.h"

/* How often the node looks at its raft state (membership, availability). */
#define NODE_TICK_MS 100
#define DISK_HANDOVER_MS 10000

/* A voter whose log is this close to the leader's last index counts as
 * caught up for membership decisions. */
#define CAUGHT_UP_SLACK 64

/* libraft 0.15's counters overflow past 262,144 entries (C14): a snapshot is
 * taken once this many follow the last one, whatever the cost rule says. */
#define LOG_MAX_ENTRIES 65536

/* How long a joining node keeps asking to be added. */
#define JOIN_DEADLINE_MS 30000

/* A completion to report on the next loop turn (node.h promises that
 * callbacks never fire inside the call that started them). */
struct done {
    node_done_cb cb;
    void *arg;
    int status;
    char errmsg[WR_ERRMSG_SIZE];
    struct done *next;
};

/* A membership change in flight. */
struct change {
    struct raft_change req;
    struct node *n;
    node_done_cb cb; /* NULL for the node's own promotions. */
    void *arg;
    char what[96];
};

/* A leadership transfer; freed only in node_destroy(). */
struct transfer {
    struct raft_transfer req;
    struct node *n;
    node_done_cb cb;
    void *arg;
    raft_id target;
    bool fired;
    struct transfer *next;
};

struct node {
    struct node_config config;
    char address[TRANSPORT_MAX_ADDRESS + 1];
    char *data_dir;
    char *join;
    char raft_dir[PATH_MAX];
    char db_dir[PATH_MAX];
    uv_loop_t loop;
    struct transport transport;
    struct raft_io io;
    struct uv_watch uv_watch; /* raft_uv's swallowed storage errors. */
    struct raft raft;
    struct raft_io_guard guard;
    struct fsm *fsm;
    struct fsm_adapter adapter;
    struct proposer proposer;
    struct exec *exec;
    struct leader_watch watch;
    struct queue *queue;
    struct gateway *gateway;
    struct peers *peers;
    struct read_index ri;      /* This node's rounds while it leads. */
    /* A follower's linearizable reads: those waiting for the next question
     * to the leader, and those the question in flight will answer. */
    struct node_read *reads_waiting;
    struct node_read *reads_waiting_tail;
    struct node_read *reads_asked;
    bool read_question_in_flight;
    struct peer_req read_question;
    uv_check_t check;
    uv_timer_t tick;
    uv_timer_t handover;
    uv_async_t kick;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    bool io_init;      /* raft_uv_init() succeeded. */
    bool raft_init;    /* raft_init() succeeded. */
    bool handles_init; /* The uv handles above are initialised. */
    bool started;
    bool stopping;     /* node_stop() was called. */
    bool closing;      /* Past the handover: closing everything. */
    int closing_parts; /* raft and transport still closing. */
    bool was_ready;
    raft_term ready_term;
    struct change *change; /* At most one in flight. */
    struct transfer *transfers;
    struct done *done_head;
    struct done *done_tail;
    uint64_t weight;
    uint64_t free_bytes;     /* Measured on the last tick. */
    bool low_space_logged;
    uint64_t disk_handover_at; /* Loop time of the last hand-over for
                                  want of disk space, 0 if none. */
    uint64_t stall_warned_at; /* Loop time of the last warning about an
                                 unbounded log, 0 if none. */
    bool compact_in_flight;   /* An idle-compaction barrier. */
    raft_index compact_index; /* Last command index it was issued after. */
};

/*
 * Small helpers.
 */

static int mkdir_p(const char *path, char *errmsg)
{
    char tmp[PATH_MAX];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof tmp) {
        err_printf(errmsg, "bad directory \"%s\"", path);
        return WR_INVALID;
    }
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p != '\0'; p++) {
        if (*p != '/') {
            continue;
        }
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            err_printf(errmsg, "create %s: %s", tmp, strerror(errno));
            return WR_IOERR;
        }
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
        err_printf(errmsg, "create %s: %s", tmp, strerror(errno));
        return WR_IOERR;
    }
    return 0;
}

/* True when raft_uv has state in @dir: it writes its metadata files at
 * bootstrap and whenever the term or vote changes. */
static bool has_raft_state(const char *dir)
{
    char path[PATH_MAX + 16];
    struct stat st;

    for (int i = 1; i <= 2; i++) {
        snprintf(path, sizeof path, "%s/metadata%d", dir, i);
        if (stat(path, &st) == 0) {
            return true;
        }
    }
    return false;
}

static const char *role_name(int raft_role)
{
    switch (raft_role) {
        case RAFT_VOTER:
            return "voter";
        case RAFT_STANDBY:
            return "standby";
        case RAFT_SPARE:
            return "spare";
    }
    return "none";
}

static const char *state_name(int state)
{
    switch (state) {
        case RAFT_LEADER:
            return "leader";
        case RAFT_FOLLOWER:
            return "follower";
        case RAFT_CANDIDATE:
            return "candidate";
    }
    return "unavailable";
}

static int raft_role_from_proto(int role)
{
    switch (role) {
        case PROTO_VOTER:
            return RAFT_VOTER;
        case PROTO_STANDBY:
            return RAFT_STANDBY;
        case PROTO_SPARE:
            return RAFT_SPARE;
    }
    return -1;
}

/* A membership or transfer status from libraft, to the tree's codes. */
static int status_from_raft(int rv)
{
    switch (rv) {
        case RAFT_CANTCHANGE:
            return WR_BUSY;
        case RAFT_BADID:
        case RAFT_BADROLE:
        case RAFT_DUPLICATEID:
        case RAFT_DUPLICATEADDRESS:
        case RAFT_NOTFOUND:
            return WR_INVALID;
    }
    return proposer_status_from_raft(rv);
}

static const struct raft_server *find_server(const struct raft *r,
                                             raft_id id,
                                             unsigned *index)
{
    for (unsigned i = 0; i < r->configuration.n; i++) {
        if (r->configuration.servers[i].id == id) {
            if (index != NULL) {
                *index = i;
            }
            return &r->configuration.servers[i];
        }
    }
    return NULL;
}

/* The leader's view: server @i's log is within CAUGHT_UP_SLACK entries of
 * ours (our own entry always is). */
static bool caught_up(struct node *n, unsigned i)
{
    struct raft *r = &n->raft;
    raft_index last = raft_last_index(r);

    if (r->configuration.servers[i].id == n->config.id) {
        return true;
    }
    return r->leader_state.progress[i].match_index + CAUGHT_UP_SLACK >= last;
}

static unsigned count_voters(const struct raft *r)
{
    unsigned voters = 0;
    for (unsigned i = 0; i < r->configuration.n; i++) {
        voters += r->configuration.servers[i].role == RAFT_VOTER;
    }
    return voters;
}

/* A membership change may start now: this node is ready, no change is in
 * flight, and every voter other than @except (0: none) is caught up. */
static int can_change(struct node *n, raft_id except, char *errmsg)
{
    struct raft *r = &n->raft;

    if (!node_ready(n)) {
        err_printf(errmsg, "not leader");
        return WR_NOTLEADER;
    }
    if (n->change != NULL || r->configuration_uncommitted_index != 0) {
        err_printf(errmsg, "another membership change is in progress");
        return WR_BUSY;
    }
    for (unsigned i = 0; i < r->configuration.n; i++) {
        const struct raft_server *s = &r->configuration.servers[i];
        if (s->role == RAFT_VOTER && s->id != except && !caught_up(n, i)) {
            err_printf(errmsg,
                       "voter %llu is not connected or not caught up; "
                       "membership changes wait until every voter is",
                       (unsigned long long)s->id);
            return WR_BUSY;
        }
    }
    return 0;
}

/* Report @status for @cb on the next loop turn. */
static void defer_done(struct node *n,
                       node_done_cb cb,
                       void *arg,
                       int status,
                       const char *errmsg)
{
    struct done *d = calloc(1, sizeof *d);

    if (d == NULL) {
        /* Out of memory: report now rather than never. */
        cb(arg, WR_NOMEM, "out of memory");
        return;
    }
    d->cb = cb;
    d->arg = arg;
    d->status = status;
    snprintf(d->errmsg, sizeof d->errmsg, "%s", errmsg != NULL ? errmsg : "");
    if (n->done_tail != NULL) {
        n->done_tail->next = d;
    } else {
        n->done_head = d;
    }
    n->done_tail = d;
    uv_async_send(&n->kick);
}

static void run_done(struct node *n)
{
    while (n->done_head != NULL) {
        struct done *d = n->done_head;
        n->done_head = d->next;
        if (n->done_head == NULL) {
            n->done_tail = NULL;
        }
        d->cb(d->arg, d->status, d->errmsg);
        free(d);
    }
}

/*
 * Membership.
 */

static void change_cb(struct raft_change *req, int status)
{
    struct change *c = req->data;
    struct node *n = c->n;
    char errmsg[WR_ERRMSG_SIZE] = "";

    if (n->change == c) {
        n->change = NULL;
    }
    if (status == 0) {
        log_info("membership: %s: done", c->what);
    } else {
        err_printf(errmsg, "%s: %s", c->what, raft_strerror(status));
        log_warn("membership: %s", errmsg);
    }
    if (c->cb != NULL) {
        c->cb(c->arg, status_from_raft(status), errmsg);
    }
    free(c);
}

static struct change *change_new(struct node *n,
                                 node_done_cb cb,
                                 void *arg,
                                 char *errmsg)
{
    struct change *c = calloc(1, sizeof *c);

    if (c == NULL) {
        err_printf(errmsg, "out of memory");
        return NULL;
    }
    c->req.data = c;
    c->n = n;
    c->cb = cb;
    c->arg = arg;
    return c;
}

/* Start @c with the result @rv of raft_add/assign/remove. */
static int change_started(struct node *n, struct change *c, int rv,
                          char *errmsg)
{
    if (rv != 0) {
        err_printf(errmsg, "%s: %s", c->what, raft_strerror(rv));
        free(c);
        return status_from_raft(rv);
    }
    n->change = c;
    log_info("membership: %s", c->what);
    return 0;
}

int node_add(struct node *n,
             uint64_t id,
             const char *address,
             node_done_cb cb,
             void *arg,
             char *errmsg)
{
    const struct raft_server *s;
    struct sockaddr_in sa;
    struct change *c;
    int rv;

    if (id == 0) {
        err_printf(errmsg, "node id 0 is reserved");
        return WR_INVALID;
    }
    if (address == NULL || transport_parse_address(address, &sa) != 0) {
        err_printf(errmsg, "address \"%s\" is not an IPv4 \"a.b.c.d:port\"",
                   address != NULL ? address : "");
        return WR_INVALID;
    }
    if (!node_ready(n)) {
        err_printf(errmsg, "not leader");
        return WR_NOTLEADER;
    }
    s = find_server(&n->raft, id, NULL);
    if (s != NULL) {
        if (strcmp(s->address, address) == 0) {
            /* A node that retries its join after a crash. */
            defer_done(n, cb, arg, 0, "");
            return 0;
        }
        err_printf(errmsg, "node %llu is already a member, at %s",
                   (unsigned long long)id, s->address);
        return WR_INVALID;
    }
    rv = can_change(n, 0, errmsg);
    if (rv != 0) {
        return rv;
    }
    c = change_new(n, cb, arg, errmsg);
    if (c == NULL) {
        return WR_NOMEM;
    }
    snprintf(c->what, sizeof c->what, "add node %llu at %s as spare",
             (unsigned long long)id, address);
    return change_started(n, c, raft_add(&n->raft, &c->req, id, address,
                                         change_cb),
                          errmsg);
}

int node_assign(struct node *n,
                uint64_t id,
                int role,
                node_done_cb cb,
                void *arg,
                char *errmsg)
{
    int raft_role = raft_role_from_proto(role);
    const struct raft_server *s;
    struct change *c;
    int rv;

    if (raft_role < 0) {
        err_printf(errmsg, "unknown role %d", role);
        return WR_INVALID;
    }
    if (!node_ready(n)) {
        err_printf(errmsg, "not leader");
        return WR_NOTLEADER;
    }
    s = find_server(&n->raft, id, NULL);
    if (s == NULL) {
        err_printf(errmsg, "node %llu is not a member",
                   (unsigned long long)id);
        return WR_INVALID;
    }
    if (s->role == raft_role) {
        defer_done(n, cb, arg, 0, "");
        return 0;
    }
    if (id == n->config.id && raft_role != RAFT_VOTER) {
        err_printf(errmsg, "the leader cannot demote itself; transfer "
                           "leadership first");
        return WR_INVALID;
    }
    /* Demoting a voter that is gone must stay possible. */
    rv = can_change(n, s->role == RAFT_VOTER ? id : 0, errmsg);
    if (rv != 0) {
        return rv;
    }
    c = change_new(n, cb, arg, errmsg);
    if (c == NULL) {
        return WR_NOMEM;
    }
    snprintf(c->what, sizeof c->what, "make node %llu a %s",
             (unsigned long long)id, role_name(raft_role));
    return change_started(n, c, raft_assign(&n->raft, &c->req, id, raft_role,
                                            change_cb),
                          errmsg);
}

int node_remove(struct node *n,
                uint64_t id,
                node_done_cb cb,
                void *arg,
                char *errmsg)
{
    struct change *c;
    int rv;

    if (!node_ready(n)) {
        err_printf(errmsg, "not leader");
        return WR_NOTLEADER;
    }
    if (find_server(&n->raft, id, NULL) == NULL) {
        err_printf(errmsg, "node %llu is not a member",
                   (unsigned long long)id);
        return WR_INVALID;
    }
    if (id == n->config.id) {
        err_printf(errmsg, "the leader cannot remove itself; transfer "
                           "leadership first");
        return WR_INVALID;
    }
    rv = can_change(n, id, errmsg);
    if (rv != 0) {
        return rv;
    }
    c = change_new(n, cb, arg, errmsg);
    if (c == NULL) {
        return WR_NOMEM;
    }
    snprintf(c->what, sizeof c->what, "remove node %llu",
             (unsigned long long)id);
    return change_started(n, c, raft_remove(&n->raft, &c->req, id, change_cb),
                          errmsg);
}

/* The leader's own housekeeping, one change at a time: a spare (a node
 * that just joined; libraft sends spares nothing) becomes a standby, so it
 * receives the log; a standby that caught up becomes a voter while the
 * cluster has fewer voters than its target. libraft's own catch-up rounds
 * then run before the promotion is appended. */
static void manage_membership(struct node *n)
{
    struct raft *r = &n->raft;
    char errmsg[WR_ERRMSG_SIZE];
    bool want_voters = count_voters(r) < n->config.voters;
    int role = PROTO_STANDBY;
    int pick = -1;

    if (n->stopping || can_change(n, 0, errmsg) != 0) {
        return;
    }
    for (unsigned i = 0; i < r->configuration.n && pick < 0; i++) {
        if (r->configuration.servers[i].role == RAFT_SPARE) {
            pick = (int)i;
        }
    }
    for (unsigned i = 0; i < r->configuration.n && pick < 0 && want_voters;
         i++) {
        if (r->configuration.servers[i].role == RAFT_STANDBY &&
            caught_up(n, i)) {
            pick = (int)i;
            role = PROTO_VOTER;
        }
    }
    if (pick >= 0) {
        raft_id id = r->configuration.servers[pick].id;
        if (node_assign(n, id, role, NULL, NULL, errmsg) != 0) {
            log_warn("membership: promote node %llu: %s",
                     (unsigned long long)id, errmsg);
        }
    }
}

/*
 * Leadership transfer.
 */

static void transfer_cb(struct raft_transfer *req)
{
    struct transfer *t = req->data;
    struct node *n = t->n;
    raft_id leader_id = 0;
    const char *leader_address = NULL;
    char errmsg[WR_ERRMSG_SIZE] = "";
    int status = 0;

    t->fired = true;
    raft_leader(&n->raft, &leader_id, &leader_address);
    if (leader_id == n->config.id || leader_id == 0 ||
        (t->target != 0 && leader_id != t->target)) {
        status = WR_BUSY;
        err_printf(errmsg, "leadership transfer did not complete in time "
                           "(leader now %llu)",
                   (unsigned long long)leader_id);
    } else {
        log_info("leadership transferred to node %llu",
                 (unsigned long long)leader_id);
    }
    if (t->cb != NULL) {
        t->cb(t->arg, status, errmsg);
    }
}

int node_transfer(struct node *n,
                  uint64_t id,
                  node_done_cb cb,
                  void *arg,
                  char *errmsg)
{
    struct transfer *t;
    const struct raft_server *s;
    int rv;

    if (raft_state(&n->raft) != RAFT_LEADER) {
        err_printf(errmsg, "not leader");
        return WR_NOTLEADER;
    }
    if (id != 0) {
        s = find_server(&n->raft, id, NULL);
        if (s == NULL || s->role != RAFT_VOTER) {
            err_printf(errmsg, "node %llu is not a voter",
                       (unsigned long long)id);
            return WR_INVALID;
        }
        if (id == n->config.id) {
            err_printf(errmsg, "node %llu already leads",
                       (unsigned long long)id);
            return WR_INVALID;
        }
    }
    t = calloc(1, sizeof *t);
    if (t == NULL) {
        err_printf(errmsg, "out of memory");
        return WR_NOMEM;
    }
    t->req.data = t;
    t->n = n;
    t->cb = cb;
    t->arg = arg;
    t->target = id;
    rv = raft_transfer(&n->raft, &t->req, id, transfer_cb);
    if (rv != 0) {
        err_printf(errmsg, "transfer leadership: %s", raft_strerror(rv));
        free(t);
        return status_from_raft(rv);
    }
    /* Kept until node_destroy(): see the top of this file. */
    t->next = n->transfers;
    n->transfers = t;
    log_info("transferring leadership to %s",
             id == 0 ? "the most up-to-date voter" : "the chosen node");
    return 0;
}

/*
 * The loop's turns.
 */

/* After every loop turn: the start-of-term barrier, leadership changes,
 * and the write queue. */
static void check_cb(uv_check_t *check)
{
    struct node *n = check->data;
    bool ready;

    if (n->closing) {
        return;
    }
    leader_watch_tick(&n->watch);
    ready = node_ready(n);
    if (ready && (!n->was_ready || n->ready_term != n->raft.current_term)) {
        log_info("leader for term %llu: start-of-term barrier applied at "
                 "index %llu, serving",
                 (unsigned long long)n->raft.current_term,
                 (unsigned long long)leader_watch_index(&n->watch));
        n->ready_term = n->raft.current_term;
    }
    if (!ready && n->was_ready) {
        log_info("no longer leader (state %s, term %llu)",
                 state_name(raft_state(&n->raft)),
                 (unsigned long long)n->raft.current_term);
        queue_fail_all(n->queue, WR_NOTLEADER, "not leader");
    }
    n->was_ready = ready;
    read_index_tick(&n->ri);
    queue_tick(n->queue);
    gateway_poll(n->gateway);
}

/* Free space on the data directory's filesystem. */
static void measure_disk(struct node *n)
{
    struct statvfs st;

    if (statvfs(n->data_dir, &st) != 0) {
        n->free_bytes = UINT64_MAX; /* Unknown: let raft_uv decide. */
        return;
    }
    n->free_bytes = (uint64_t)st.f_bavail * st.f_frsize;
    if (n->free_bytes < n->config.min_free_bytes && !n->low_space_logged) {
        log_warn("only %llu MiB free in %s: refusing writes until at least "
                 "%llu MiB are",
                 (unsigned long long)(n->free_bytes >> 20), n->data_dir,
                 (unsigned long long)(n->config.min_free_bytes >> 20));
        n->low_space_logged = true;
    } else if (n->free_bytes >= n->config.min_free_bytes &&
               n->low_space_logged) {
        log_info("disk space is back: accepting writes");
        n->low_space_logged = false;
    }
}

static void disk_handover_cb(void *arg, int status, const char *errmsg)
{
    (void)arg;
    if (status != 0) {
        log_warn("disk full: leadership hand-over: %s", errmsg);
    }
}

/* A leader that refuses writes for want of disk space hands leadership to
 * another voter, whose disk may have room: the cluster keeps taking writes
 * and this node stays up as a follower. At most once every
 * DISK_HANDOVER_MS, so that a cluster whose disks are all full does not
 * pass leadership around without pause. */
static void handover_when_disk_full(struct node *n)
{
    uint64_t now = uv_now(&n->loop);
    char errmsg[WR_ERRMSG_SIZE];

    if (n->free_bytes >= n->config.min_free_bytes || n->stopping ||
        !node_ready(n) || count_voters(&n->raft) < 2 ||
        (n->disk_handover_at != 0 &&
         now - n->disk_handover_at < DISK_HANDOVER_MS)) {
        return;
    }
    n->disk_handover_at = now;
    log_warn("disk full: handing leadership to another voter");
    if (node_transfer(n, 0, disk_handover_cb, NULL, errmsg) != 0) {
        log_warn("disk full: leadership hand-over: %s", errmsg);
    }
}

/* libraft 0.15 keeps every entry since the last snapshot in memory and
 * overflows its counters past 262,144 (C14): say so when snapshots stop
 * keeping up (the state machine refuses them while a membership change is
 * uncommitted or while its size policy says not yet). */
static void watch_log_size(struct node *n)
{
    struct raft *r = &n->raft;
    raft_index since = raft_last_index(r) - r->log.snapshot.last_index;
    uint64_t now = uv_now(&n->loop);
    uint64_t bound = LOG_MAX_ENTRIES + 8 * (uint64_t)n->config.snapshot_threshold;

    if (since > bound &&
        (n->stall_warned_at == 0 || now - n->stall_warned_at >= 60000)) {
        log_warn("%llu log entries since the last snapshot (at %llu): "
                 "snapshots are not keeping up",
                 (unsigned long long)since,
                 (unsigned long long)r->log.snapshot.last_index);
        n->stall_warned_at = now;
    }
}

uint64_t node_staleness_ms(struct node *n)
{
    struct raft *r = &n->raft;
    uint64_t leader_id;
    const char *leader_address;
    uint64_t now = uv_now(&n->loop);

    if (node_ready(n)) {
        return 0;
    }
    node_leader(n, &leader_id, &leader_address);
    if (leader_id == 0 || raft_state(r) != RAFT_FOLLOWER) {
        return UINT64_MAX;
    }
    /* libraft resets the timer on every AppendEntries and InstallSnapshot
     * of the current leader (recv_append_entries.c, recv_install_snapshot.c);
     * raft_uv's clock is the loop's. */
    return now > r->election_timer_start ? now - r->election_timer_start : 0;
}

bool node_disk_ok(const struct node *n, char *errmsg)
{
    if (n->free_bytes >= n->config.min_free_bytes) {
        return true;
    }
    err_printf(errmsg,
               "not enough disk space on the leader: %llu MiB free, writes "
               "need at least %llu MiB",
               (unsigned long long)(n->free_bytes >> 20),
               (unsigned long long)(n->config.min_free_bytes >> 20));
    return false;
}

struct compact_barrier {
    struct raft_barrier req;
    struct node *n;
};

static void compact_barrier_cb(struct raft_barrier *req, int status)
{
    struct compact_barrier *b = req->data;
    struct node *n = b->n;

    n->compact_in_flight = false;
    if (status != 0) {
        n->compact_index = 0; /* Again on a later tick if still leading. */
    }
    free(b);
}

/* Idle compaction. libraft asks for a snapshot only after applying entries,
 * so a node whose writes stopped would keep up to snapshot_max_bytes of log
 * in memory for good. Once the leader has applied no command for
 * compact_idle_ms, it commits one barrier; applying it, every node asks its
 * adapter, whose idle rule grants a snapshot when a quarter of the cap has
 * piled up. One barrier per pause in the writes. */
static void compact_when_idle(struct node *n)
{
    struct compact_barrier *b;
    raft_index index;
    raft_time at;

    if (n->config.compact_idle_off || n->compact_in_flight ||
        !node_ready(n)) {
        return;
    }
    fsm_adapter_last_command(&n->adapter, &index, &at);
    if (index == n->compact_index ||
        uv_now(&n->loop) - at < n->config.compact_idle_ms) {
        return;
    }
    b = malloc(sizeof *b);
    if (b == NULL) {
        return; /* Next tick. */
    }
    b->req.data = b;
    b->n = n;
    if (raft_barrier(&n->raft, &b->req, compact_barrier_cb) != 0) {
        free(b);
        return;
    }
    n->compact_in_flight = true;
    n->compact_index = index;
}

static void tick_cb(uv_timer_t *timer)
{
    struct node *n = timer->data;

    if (n->closing) {
        return;
    }
    measure_disk(n);
    handover_when_disk_full(n);
    watch_log_size(n);
    compact_when_idle(n);
    if (n->started && raft_state(&n->raft) == RAFT_UNAVAILABLE) {
        log_error("raft became unavailable: exiting so that the node is "
                  "restarted from disk");
        exit(1);
    }
    gateway_tick(n->gateway);
    peers_tick(n->peers);
    if (node_ready(n)) {
        manage_membership(n);
    }
}

static void kick_cb(uv_async_t *async)
{
    run_done(async->data);
}

/*
 * Linearizable reads.
 */

/* A CONFIRM question of a read-index round in flight. */
struct confirm {
    struct peer_req req;
    struct node *n;
    uint64_t id;
};

static void confirm_cb(struct peer_req *req,
                       int status,
                       const struct proto_response *resp,
                       const uint8_t *raw,
                       size_t raw_len,
                       const char *errmsg)
{
    struct confirm *q = req->data;
    struct node *n = q->n;
    (void)raw;
    (void)raw_len;

    if (status == 0 && resp->kind == PROTO_RESP_CONFIRM && !n->closing) {
        read_index_received(&n->ri, q->id, resp->confirm.round,
                            resp->confirm.term, resp->confirm.leader_id);
    } else if (status != 0 && status != WR_SHUTDOWN) {
        log_debug("read index: %s", errmsg);
    }
    free(q);
}

/* read_index_ops.ask: send CONFIRM to a voter. */
static int confirm_ask(void *data,
                       uint64_t id,
                       const char *address,
                       uint64_t term,
                       uint64_t leader_id,
                       uint64_t round)
{
    struct node *n = data;
    struct proto_request r = {.type = PROTO_REQ_CONFIRM};
    char errmsg[WR_ERRMSG_SIZE];
    struct confirm *q = calloc(1, sizeof *q);
    int rv;

    if (q == NULL) {
        return WR_NOMEM;
    }
    q->n = n;
    q->id = id;
    q->req.data = q;
    q->req.cb = confirm_cb;
    r.confirm.term = term;
    r.confirm.leader_id = leader_id;
    r.confirm.round = round;
    rv = peers_send(n->peers, id, address, NULL, &r, PROTO_RESP_CONFIRM, 0,
                    &q->req, errmsg);
    if (rv != 0) {
        log_debug("read index: %s", errmsg);
        free(q);
    }
    return rv;
}

void node_confirm_answer(struct node *n, uint64_t *term, uint64_t *leader_id)
{
    read_index_answer(&n->raft, term, leader_id);
}

static void leader_read_cb(struct read_index_req *ri,
                           int status,
                           uint64_t index,
                           const char *errmsg)
{
    struct node_read *req = ri->data;
    req->cb(req, status, index, errmsg);
}

/* Complete the reads of @list. */
static void reads_finish(struct node_read *list,
                         int status,
                         uint64_t index,
                         const char *errmsg)
{
    while (list != NULL) {
        struct node_read *req = list;
        list = req->next_;
        req->next_ = NULL;
        req->cb(req, status, index, errmsg);
    }
}

static void ask_leader(struct node *n);

static void read_question_cb(struct peer_req *preq,
                             int status,
                             const struct proto_response *resp,
                             const uint8_t *raw,
                             size_t raw_len,
                             const char *errmsg)
{
    struct node *n = preq->data;
    struct node_read *asked = n->reads_asked;
    char msg[WR_ERRMSG_SIZE];
    (void)raw;
    (void)raw_len;

    n->reads_asked = NULL;
    n->read_question_in_flight = false;
    if (status != 0) {
        /* Not this node's failure, nor the read's: the leader is gone or
         * unreachable, so the client is told to look for another node. */
        err_printf(msg, "cannot get a read index from the leader: %s",
                   errmsg);
        reads_finish(asked, status == WR_SHUTDOWN ? WR_SHUTDOWN : WR_NOTLEADER,
                     0, msg);
    } else if (resp->kind == PROTO_RESP_READ_INDEX) {
        reads_finish(asked, 0, resp->read_index.index, "");
    } else {
        const char *text = resp->kind == PROTO_RESP_FAILURE
                               ? resp->failure.message
                               : resp->failure_ext.message;
        err_printf(msg, "the leader refused a read index: %s", text);
        reads_finish(asked, WR_NOTLEADER, 0, msg);
    }
    if (n->reads_waiting != NULL && !n->closing) {
        ask_leader(n);
    }
}

/* Send one READ_INDEX question for every read waiting on this follower. */
static void ask_leader(struct node *n)
{
    struct proto_request r = {.type = PROTO_REQ_READ_INDEX};
    char errmsg[WR_ERRMSG_SIZE];
    uint64_t id;
    const char *address;
    int rv;

    n->reads_asked = n->reads_waiting;
    n->reads_waiting = NULL;
    n->reads_waiting_tail = NULL;
    node_leader(n, &id, &address);
    if (id == 0 || id == n->config.id || raft_state(&n->raft) !=
                                             RAFT_FOLLOWER) {
        struct node_read *asked = n->reads_asked;
        n->reads_asked = NULL;
        reads_finish(asked, WR_NOTLEADER, 0,
                     "this node knows no leader to confirm the read with");
        return;
    }
    /* Our own term and leader now, after the reads arrived: the leader
     * counts them as our answer (read_index_fast()). */
    r.read_index.id = n->config.id;
    read_index_answer(&n->raft, &r.read_index.term, &r.read_index.leader_id);
    n->read_question.data = n;
    n->read_question.cb = read_question_cb;
    rv = peers_send(n->peers, id, address, NULL, &r, PROTO_RESP_READ_INDEX, 0,
                    &n->read_question, errmsg);
    if (rv != 0) {
        struct node_read *asked = n->reads_asked;
        n->reads_asked = NULL;
        reads_finish(asked, rv == WR_SHUTDOWN ? WR_SHUTDOWN : WR_IOERR, 0,
                     errmsg);
        return;
    }
    n->read_question_in_flight = true;
}

bool node_read_index_fast(struct node *n,
                          uint64_t asker_id,
                          uint64_t term,
                          uint64_t leader_id,
                          uint64_t *index)
{
    return node_ready(n) &&
           read_index_fast(&n->ri, asker_id, term, leader_id, index);
}

void node_read_index(struct node *n, struct node_read *req)
{
    req->next_ = NULL;
    if (n->closing) {
        req->cb(req, WR_SHUTDOWN, 0, "the node is shutting down");
        return;
    }
    if (n->config.unsafe_skip_read_index) {
        /* The broken node of the fault harness: whatever this node has. */
        req->cb(req, 0, 0, "");
        return;
    }
    if (node_ready(n)) {
        req->ri_.data = req;
        req->ri_.cb = leader_read_cb;
        read_index_request(&n->ri, &req->ri_);
        return;
    }
    if (n->reads_waiting_tail != NULL) {
        n->reads_waiting_tail->next_ = req;
    } else {
        n->reads_waiting = req;
    }
    n->reads_waiting_tail = req;
    if (!n->read_question_in_flight) {
        ask_leader(n);
    }
}

int node_forward(struct node *n,
                 const char *db,
                 const struct proto_request *r,
                 int expect,
                 struct peer_req *req,
                 char *errmsg)
{
    uint64_t id;
    const char *address;

    node_leader(n, &id, &address);
    if (n->closing || id == 0 || id == n->config.id ||
        raft_state(&n->raft) != RAFT_FOLLOWER) {
        err_printf(errmsg, "not leader, and no leader to forward to");
        return WR_NOTLEADER;
    }
    /* A forwarded write may wait in the leader's queue for up to its
     * timeout, then for its entry. */
    return peers_send(n->peers, id, address, db, r, expect,
                      n->config.queue_timeout_ms +
                          2 * n->config.election_timeout_ms,
                      req, errmsg);
}

/*
 * Stopping.
 */

static void handle_close_cb(uv_handle_t *h)
{
    (void)h;
}

static void close_handles(struct node *n)
{
    uv_close((uv_handle_t *)&n->check, handle_close_cb);
    uv_close((uv_handle_t *)&n->tick, handle_close_cb);
    uv_close((uv_handle_t *)&n->handover, handle_close_cb);
    uv_close((uv_handle_t *)&n->kick, handle_close_cb);
    uv_close((uv_handle_t *)&n->sigterm, handle_close_cb);
    uv_close((uv_handle_t *)&n->sigint, handle_close_cb);
}

static void part_closed(struct node *n)
{
    if (--n->closing_parts == 0 && n->handles_init) {
        run_done(n);
        log_info("stopped");
        close_handles(n);
    }
}

static void raft_closed_cb(struct raft *r)
{
    struct node *n = r->data;
    part_closed(n);
}

static void transport_closed_cb(struct transport *t)
{
    struct node *n = t->data;
    part_closed(n);
}

static void gateway_closed_cb(void *arg)
{
    (void)arg;
}

static void peers_closed_cb(void *arg)
{
    part_closed(arg);
}

static void close_all(struct node *n)
{
    if (n->closing) {
        return;
    }
    n->closing = true;
    log_info("closing");
    uv_timer_stop(&n->handover);
    gateway_close(n->gateway, gateway_closed_cb, n);
    read_index_close(&n->ri);
    reads_finish(n->reads_waiting, WR_SHUTDOWN, 0, "the node is shutting down");
    n->reads_waiting = NULL;
    n->reads_waiting_tail = NULL;
    /* The reads asked of the leader fail in peers_close(). */
    /* Writes still waiting fail as not started; those in flight fail as
     * indefinite when raft closes. */
    queue_destroy(n->queue);
    n->queue = NULL;
    exec_destroy(n->exec);
    n->exec = NULL;
    leader_watch_close(&n->watch);
    proposer_close(&n->proposer);
    n->closing_parts = 3;
    if (n->raft_init) {
        raft_close(&n->raft, raft_closed_cb);
    } else {
        n->closing_parts--;
    }
    transport_close(&n->transport, transport_closed_cb);
    peers_close(n->peers, peers_closed_cb, n);
}

static void handover_timeout_cb(uv_timer_t *timer)
{
    struct node *n = timer->data;
    log_warn("leadership handover did not finish in time; stopping anyway");
    close_all(n);
}

static void handover_done_cb(void *arg, int status, const char *errmsg)
{
    struct node *n = arg;
    if (status != 0) {
        log_warn("leadership handover: %s; stopping anyway", errmsg);
    }
    close_all(n);
}

void node_stop(struct node *n)
{
    char errmsg[WR_ERRMSG_SIZE];

    if (n->stopping) {
        return;
    }
    n->stopping = true;
    if (n->started && raft_state(&n->raft) == RAFT_LEADER &&
        count_voters(&n->raft) > 1) {
        log_info("stopping: handing leadership over first");
        if (node_transfer(n, 0, handover_done_cb, n, errmsg) == 0) {
            uv_timer_start(&n->handover, handover_timeout_cb,
                           2 * n->config.election_timeout_ms, 0);
            return;
        }
        log_warn("leadership handover: %s", errmsg);
    }
    close_all(n);
}

static void signal_cb(uv_signal_t *sig, int signum)
{
    struct node *n = sig->data;
    log_info("received %s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    node_stop(n);
}

/*
 * Fatal conditions.
 */

static void guard_fatal_cb(void *arg, const char *msg)
{
    (void)arg;
    log_error("storage: %s: exiting so that the node is restarted from disk",
              msg);
    exit(1);
}

static void client_cb(struct transport *t,
                      uv_stream_t *stream,
                      const uint8_t *head,
                      void *arg)
{
    struct node *n = arg;
    (void)t;
    gateway_accept(n->gateway, stream, head);
}

/*
 * Creation.
 */

static void config_defaults(struct node_config *c)
{
    struct proto_limits zero;

    if (c->election_timeout_ms == 0) {
        c->election_timeout_ms = 1000;
    }
    if (c->heartbeat_timeout_ms == 0) {
        c->heartbeat_timeout_ms = 100;
    }
    if (c->voters == 0) {
        c->voters = 3;
    }
    if (c->snapshot_threshold == 0) {
        c->snapshot_threshold = 1;
    }
    if (c->snapshot_trailing == 0) {
        c->snapshot_trailing = 8192;
    }
    if (c->snapshot_min_bytes == 0) {
        c->snapshot_min_bytes = 1u << 20;
    }
    if (c->snapshot_ratio_percent == 0) {
        c->snapshot_ratio_percent = 100;
    }
    if (c->snapshot_max_bytes == 0) {
        c->snapshot_max_bytes = 64u << 20;
    }
    if (c->snapshot_trailing_bytes == 0) {
        c->snapshot_trailing_bytes = 16u << 20;
    }
    if (c->compact_idle_ms == 0) {
        c->compact_idle_ms = 5000;
    }
    if (c->queue_timeout_ms == 0) {
        c->queue_timeout_ms = 10000;
    }
    if (c->tx_timeout_ms == 0) {
        c->tx_timeout_ms = 10000;
    }
    if (c->min_free_bytes == 0) {
        c->min_free_bytes = 64u << 20;
    }
    if (c->max_batch == 0) {
        c->max_batch = 256;
    }
    if (c->max_batch_bytes == 0) {
        c->max_batch_bytes = 4u << 20;
    }
    if (c->max_connections == 0) {
        c->max_connections = 1024;
    }
    if (c->max_statements == 0) {
        c->max_statements = 1024;
    }
    memset(&zero, 0, sizeof zero);
    if (memcmp(&c->limits, &zero, sizeof zero) == 0) {
        proto_limits_default(&c->limits);
        c->limits.max_message = 16u << 20;
    }
}

static bool queue_ready_cb(void *arg)
{
    return node_ready(arg);
}

static uint64_t random_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
        seed = (uint64_t)getpid() ^ (uint64_t)uv_hrtime();
    }
    return seed;
}

/* The snapshot policy (fsm_adapter.h). libraft 0.15 holds every entry since
 * the last snapshot, and the trailing ones before it, in memory, and a
 * snapshot copies every database whole: the cost rule (min bytes and ratio)
 * keeps a large database from being copied after every few writes, the byte
 * cap bounds the memory whatever the databases' size (at the price of a
 * copy every snapshot_max_bytes of log), trailing entries are counted in
 * bytes too, and a node whose writes stopped compacts down to a quarter of
 * the cap (tick_cb's idle barrier). libraft asks only once
 * snapshot_threshold entries follow the last snapshot, so that threshold is
 * 1 by default and the adapter decides: a few large entries can be the
 * whole cap, and an idle barrier must find libraft willing to ask. */
static void adapter_config_init(const struct node *n,
                                struct fsm_adapter_config *ac)
{
    const struct node_config *c = &n->config;
    struct fsm_adapter_policy *p = &ac->policy;

    memset(ac, 0, sizeof *ac);
    p->min_bytes = c->snapshot_min_bytes;
    p->ratio_percent = c->snapshot_ratio_percent;
    p->max_bytes = c->snapshot_max_bytes;
    p->max_entries = LOG_MAX_ENTRIES;
    /* The leader's barrier comes compact_idle_ms after its last write;
     * followers applied theirs a little later. */
    p->idle_ms = c->compact_idle_off ? 0
                 : c->compact_idle_ms > 1 ? c->compact_idle_ms / 2
                                          : 1;
    p->idle_bytes = c->snapshot_max_bytes / 4 > c->snapshot_min_bytes
                        ? c->snapshot_max_bytes / 4
                        : c->snapshot_min_bytes;
    p->trailing_bytes = c->snapshot_trailing_bytes;
    p->trailing_entries = c->snapshot_trailing;
    p->trim = true;
}

int node_create(const struct node_config *config,
                struct node **out,
                char *errmsg)
{
    struct fsm_adapter_config ac;
    struct fsm_config fc;
    struct queue_config qc;
    struct raft_io_guard_config gc;
    struct sockaddr_in sa;
    struct node *n;
    int rv;

    if (config->id == 0) {
        err_printf(errmsg, "--id must be a positive integer");
        return WR_INVALID;
    }
    if (config->address == NULL ||
        strlen(config->address) > TRANSPORT_MAX_ADDRESS ||
        transport_parse_address(config->address, &sa) != 0) {
        err_printf(errmsg, "--address must be an IPv4 \"a.b.c.d:port\"");
        return WR_INVALID;
    }
    if (config->data_dir == NULL || config->data_dir[0] == '\0') {
        err_printf(errmsg, "--data-dir is required");
        return WR_INVALID;
    }
    n = calloc(1, sizeof *n);
    if (n == NULL) {
        err_printf(errmsg, "out of memory");
        return WR_NOMEM;
    }
    n->config = *config;
    config_defaults(&n->config);
    snprintf(n->address, sizeof n->address, "%s", config->address);
    n->config.address = n->address;
    n->data_dir = strdup(config->data_dir);
    n->join = config->join != NULL ? strdup(config->join) : NULL;
    if (n->data_dir == NULL || (config->join != NULL && n->join == NULL)) {
        err_printf(errmsg, "out of memory");
        rv = WR_NOMEM;
        goto err_after_alloc;
    }
    n->config.data_dir = n->data_dir;
    n->config.join = n->join;
    if ((size_t)snprintf(n->raft_dir, sizeof n->raft_dir, "%s/raft",
                         n->data_dir) >= sizeof n->raft_dir ||
        (size_t)snprintf(n->db_dir, sizeof n->db_dir, "%s/db", n->data_dir) >=
            sizeof n->db_dir) {
        err_printf(errmsg, "--data-dir is too long");
        rv = WR_INVALID;
        goto err_after_alloc;
    }
    rv = mkdir_p(n->raft_dir, errmsg);
    if (rv != 0) {
        goto err_after_alloc;
    }

    rv = uv_loop_init(&n->loop);
    if (rv != 0) {
        err_printf(errmsg, "event loop: %s", uv_strerror(rv));
        rv = WR_IOERR;
        goto err_after_alloc;
    }

    memset(&fc, 0, sizeof fc);
    fc.dir = n->db_dir;
    fc.node_id = n->config.id;
    fc.seed = random_seed();
    fc.compress = true;
    /* The snapshot policy is the adapter's (it needs the log and the
     * caps): the fsm agrees whenever it can. */
    fc.snapshot_min_bytes = 0;
    fc.snapshot_ratio_percent = 0;
    rv = fsm_create(&fc, &n->fsm, errmsg);
    if (rv != 0) {
        err_wrap(errmsg, "state machine");
        goto err_after_loop;
    }
    adapter_config_init(n, &ac);
    fsm_adapter_init(&n->adapter, n->fsm, &ac);

    transport_init(&n->transport, &n->loop, NULL);
    n->transport.data = n;
    transport_set_client_cb(&n->transport, client_cb, n);

    rv = raft_uv_init(&n->io, &n->loop, n->raft_dir, &n->transport.raft);
    if (rv != 0) {
        err_printf(errmsg, "raft storage in %s: %s", n->raft_dir,
                   n->io.errmsg);
        rv = WR_IOERR;
        goto err_after_fsm;
    }
    n->io_init = true;
    raft_uv_set_auto_recovery(&n->io, false);
    uv_watch_init(&n->uv_watch);
    raft_uv_set_tracer(&n->io, &n->uv_watch.tracer);
    /* Snapshots are written as they are. With compression, 0.15 builds an
     * LZ4 copy of the whole snapshot in the heap before writing it
     * (makeFileCompressed() in uv_snapshot.c): up to one more database's
     * worth of memory, and CPU, per snapshot (bench/rss: peak RSS 1.9 GiB
     * with it, 1.25 GiB without, same write rate), for half the disk on
     * bench/rss's half-random values. Loading takes either kind
     * (uvSnapshotLoad() checks the LZ4 magic; fsm.c's SNAPSHOT_MAGIC
     * differs). */
    rv = raft_uv_set_snapshot_compression(&n->io, false);
    if (rv != 0) {
        err_printf(errmsg, "raft storage: snapshot compression: %s",
                   raft_strerror(rv));
        rv = WR_IOERR;
        goto err_after_fsm;
    }

    rv = raft_init(&n->raft, &n->io, &n->adapter.raft_fsm, n->config.id,
                   n->address);
    if (rv != 0) {
        err_printf(errmsg, "raft: %s", raft_errmsg(&n->raft));
        rv = WR_IOERR;
        goto err_after_fsm;
    }
    n->raft_init = true;
    n->raft.data = n;
    fsm_adapter_set_raft(&n->adapter, &n->raft);
    raft_set_election_timeout(&n->raft, n->config.election_timeout_ms);
    raft_set_heartbeat_timeout(&n->raft, n->config.heartbeat_timeout_ms);
    raft_set_pre_vote(&n->raft, true);
    raft_set_snapshot_threshold(&n->raft, n->config.snapshot_threshold);
    raft_set_snapshot_trailing(&n->raft, n->config.snapshot_trailing);

    memset(&gc, 0, sizeof gc);
    gc.on_fatal = guard_fatal_cb;
    gc.on_fatal_arg = n;
    rv = raft_io_guard_install(&n->guard, &n->raft, &gc);
    if (rv != 0) {
        err_printf(errmsg, "raft_io guard: %s", err_str(rv));
        goto err_after_fsm;
    }

    proposer_init(&n->proposer, &n->raft, &n->adapter);
    rv = exec_create(n->fsm, &n->proposer.base, &n->exec);
    if (rv != 0) {
        err_printf(errmsg, "executor: %s", err_str(rv));
        goto err_after_fsm;
    }
    leader_watch_init(&n->watch, &n->raft);
    rv = peers_create(&n->loop, n->config.election_timeout_ms, &n->peers);
    if (rv != 0) {
        err_printf(errmsg, "peer connections: %s", err_str(rv));
        goto err_after_fsm;
    }
    {
        struct read_index_ops ops = {.data = n, .ask = confirm_ask};
        read_index_init(&n->ri, &n->raft, &ops,
                        n->config.election_timeout_ms);
    }

    memset(&qc, 0, sizeof qc);
    qc.timeout_ms = n->config.queue_timeout_ms;
    qc.max_batch = n->config.max_batch;
    qc.max_batch_bytes = n->config.max_batch_bytes;
    rv = queue_create(&n->loop, n->exec, &qc, queue_ready_cb, n, &n->queue);
    if (rv != 0) {
        err_printf(errmsg, "write queue: %s", err_str(rv));
        goto err_after_fsm;
    }
    rv = gateway_create(n, &n->gateway);
    if (rv != 0) {
        err_printf(errmsg, "gateway: %s", err_str(rv));
        goto err_after_fsm;
    }

    uv_check_init(&n->loop, &n->check);
    n->check.data = n;
    uv_timer_init(&n->loop, &n->tick);
    n->tick.data = n;
    uv_timer_init(&n->loop, &n->handover);
    n->handover.data = n;
    uv_async_init(&n->loop, &n->kick, kick_cb);
    n->kick.data = n;
    uv_signal_init(&n->loop, &n->sigterm);
    n->sigterm.data = n;
    uv_signal_init(&n->loop, &n->sigint);
    n->sigint.data = n;
    n->handles_init = true;

    *out = n;
    return 0;

err_after_fsm:
    /* Nothing has run on the loop yet: undo synchronously. */
    if (n->gateway != NULL) {
        gateway_destroy(n->gateway);
    }
    if (n->queue != NULL) {
        queue_destroy(n->queue);
    }
    if (n->exec != NULL) {
        exec_destroy(n->exec);
    }
    if (n->peers != NULL) {
        read_index_close(&n->ri);
        peers_destroy(n->peers);
    }
    if (n->raft_init) {
        n->closing = true;
        n->closing_parts = 2;
        raft_close(&n->raft, raft_closed_cb);
        transport_close(&n->transport, transport_closed_cb);
    } else {
        transport_close(&n->transport, NULL);
    }
    uv_run(&n->loop, UV_RUN_DEFAULT);
    if (n->io_init) {
        raft_uv_close(&n->io);
    }
    fsm_adapter_close(&n->adapter);
    fsm_destroy(n->fsm);
err_after_loop:
    uv_loop_close(&n->loop);
err_after_alloc:
    free(n->join);
    free(n->data_dir);
    free(n);
    assert(rv != 0);
    return rv;
}

/* Ask the cluster reachable through --join to add this node, until the
 * leader says it is a member or the deadline passes. Runs before Raft
 * starts: a spare counts for no quorum, so the leader commits the change
 * without us. */
static int join_cluster(struct node *n, char *errmsg)
{
    uint64_t deadline = uv_hrtime() / 1000000 + JOIN_DEADLINE_MS;
    int rv = WR_IOERR;

    while (uv_hrtime() / 1000000 < deadline) {
        struct proto_request req;
        struct proto_response resp;
        struct conn *c;

        rv = conn_open_leader(n->join, 2000, 5000, &c, errmsg);
        if (rv == 0) {
            memset(&req, 0, sizeof req);
            req.type = PROTO_REQ_ADD;
            req.add.id = n->config.id;
            req.add.address = n->address;
            rv = conn_request(c, &req, PROTO_RESP_EMPTY, &resp, errmsg);
            conn_close(c);
            if (rv == 0) {
                log_info("joined the cluster through %s", n->join);
                return 0;
            }
        }
        log_warn("join through %s: %s; retrying", n->join, errmsg);
        usleep(500 * 1000);
    }
    err_wrap(errmsg, "join through %s", n->join);
    return rv;
}

int node_start(struct node *n, char *errmsg)
{
    int rv;

    if (!has_raft_state(n->raft_dir)) {
        if (n->join != NULL) {
            rv = join_cluster(n, errmsg);
            if (rv != 0) {
                return rv;
            }
        } else {
            struct raft_configuration conf;
            raft_configuration_init(&conf);
            rv = raft_configuration_add(&conf, n->config.id, n->address,
                                        RAFT_VOTER);
            if (rv == 0) {
                rv = raft_bootstrap(&n->raft, &conf);
            }
            raft_configuration_close(&conf);
            if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {
                err_printf(errmsg, "bootstrap: %s", raft_strerror(rv));
                return WR_IOERR;
            }
            log_info("bootstrapped a new cluster: node %llu at %s",
                     (unsigned long long)n->config.id, n->address);
        }
    }
    rv = transport_listen(&n->transport, n->address);
    if (rv != 0) {
        err_printf(errmsg, "listen on %s: %s", n->address,
                   transport_errmsg(&n->transport));
        return rv;
    }
    rv = raft_start(&n->raft);
    if (rv != 0) {
        err_printf(errmsg, "start raft: %s", raft_errmsg(&n->raft));
        return WR_IOERR;
    }
    n->started = true;
    measure_disk(n);
    uv_check_start(&n->check, check_cb);
    uv_timer_start(&n->tick, tick_cb, NODE_TICK_MS, NODE_TICK_MS);
    uv_signal_start(&n->sigterm, signal_cb, SIGTERM);
    uv_signal_start(&n->sigint, signal_cb, SIGINT);
    if (n->config.unsafe_skip_read_index) {
        log_warn("--unsafe-skip-read-index: linearizable reads skip the "
                 "read-index round and may be stale");
    }
    log_info("node %llu serving Raft and clients on %s (data in %s)",
             (unsigned long long)n->config.id, n->address, n->data_dir);
    return 0;
}

void node_destroy(struct node *n)
{
    if (n == NULL) {
        return;
    }
    if (n->io_init) {
        raft_uv_close(&n->io);
    }
    fsm_adapter_close(&n->adapter);
    fsm_destroy(n->fsm);
    gateway_destroy(n->gateway);
    peers_destroy(n->peers);
    while (n->transfers != NULL) {
        struct transfer *t = n->transfers;
        n->transfers = t->next;
        free(t);
    }
    run_done(n);
    uv_loop_close(&n->loop);
    free(n->join);
    free(n->data_dir);
    free(n);
}

/*
 * Accessors.
 */

uv_loop_t *node_loop(struct node *n)
{
    return &n->loop;
}

uint64_t node_id(const struct node *n)
{
    return n->config.id;
}

const char *node_address(const struct node *n)
{
    return n->address;
}

const struct node_config *node_config(const struct node *n)
{
    return &n->config;
}

struct raft *node_raft(struct node *n)
{
    return &n->raft;
}

bool node_ready(const struct node *n)
{
    return n->started && !n->closing && leader_watch_ready(&n->watch);
}

void node_leader(struct node *n, uint64_t *id, const char **address)
{
    raft_id leader_id = 0;
    const char *leader_address = NULL;

    if (node_ready(n)) {
        *id = n->config.id;
        *address = n->address;
        return;
    }
    if (n->started && raft_state(&n->raft) == RAFT_FOLLOWER) {
        raft_leader(&n->raft, &leader_id, &leader_address);
    }
    if (leader_id == 0 || leader_id == n->config.id ||
        leader_address == NULL) {
        *id = 0;
        *address = "";
        return;
    }
    *id = leader_id;
    *address = leader_address;
}

struct fsm *node_fsm(struct node *n)
{
    return n->fsm;
}

struct exec *node_exec(struct node *n)
{
    return n->exec;
}

struct queue *node_queue(struct node *n)
{
    return n->queue;
}

uint64_t node_weight(const struct node *n)
{
    return n->weight;
}

void node_set_weight(struct node *n, uint64_t weight)
{
    n->weight = weight;
}

static void add_db_name(void *arg, struct fsm_db *db)
{
    json_array_append_new(arg, json_string(fsm_db_name(db)));
}

char *node_status_json(struct node *n)
{
    struct raft *r = &n->raft;
    uint64_t leader_id;
    const char *leader_address;
    const struct raft_server *self;
    json_t *o = json_object();
    json_t *servers = json_array();
    json_t *dbs = json_array();
    bool leading = raft_state(r) == RAFT_LEADER;
    char *out = NULL;

    if (o == NULL || servers == NULL || dbs == NULL) {
        goto out;
    }
    node_leader(n, &leader_id, &leader_address);
    self = find_server(r, n->config.id, NULL);
    json_object_set_new(o, "id", json_integer((json_int_t)n->config.id));
    json_object_set_new(o, "address", json_string(n->address));
    json_object_set_new(o, "state", json_string(state_name(raft_state(r))));
    json_object_set_new(o, "role",
                        json_string(self != NULL ? role_name(self->role)
                                                 : "none"));
    json_object_set_new(o, "ready", json_boolean(node_ready(n)));
    json_object_set_new(o, "leader_id", json_integer((json_int_t)leader_id));
    json_object_set_new(o, "leader_address", json_string(leader_address));
    json_object_set_new(o, "term", json_integer((json_int_t)r->current_term));
    json_object_set_new(o, "commit_index",
                        json_integer((json_int_t)r->commit_index));
    json_object_set_new(o, "applied_index",
                        json_integer((json_int_t)raft_last_applied(r)));
    json_object_set_new(o, "last_index",
                        json_integer((json_int_t)raft_last_index(r)));
    json_object_set_new(o, "snapshot_index",
                        json_integer((json_int_t)r->log.snapshot.last_index));
    {
        const struct fsm_adapter_stats *st = fsm_adapter_stats(&n->adapter);
        size_t count = log_view_count(&r->log);
        uint64_t bytes = 0;

        for (size_t i = 0; i < count; i++) {
            bytes += r->log.entries[(r->log.front + i) % r->log.size].buf.len;
        }
        json_object_set_new(o, "log_entries", json_integer((json_int_t)count));
        json_object_set_new(o, "log_bytes", json_integer((json_int_t)bytes));
        json_object_set_new(o, "snapshots_taken",
                            json_integer((json_int_t)st->snapshots_taken));
        json_object_set_new(o, "snapshots_by_cap",
                            json_integer((json_int_t)st->by_cap));
        json_object_set_new(o, "snapshots_by_idle",
                            json_integer((json_int_t)st->by_idle));
        json_object_set_new(o, "snapshot_trailing",
                            json_integer((json_int_t)st->last_trailing));
    }
    json_object_set_new(o, "voter_target",
                        json_integer((json_int_t)n->config.voters));
    for (unsigned i = 0; i < r->configuration.n; i++) {
        const struct raft_server *s = &r->configuration.servers[i];
        json_t *so = json_object();
        if (so == NULL) {
            goto out;
        }
        json_object_set_new(so, "id", json_integer((json_int_t)s->id));
        json_object_set_new(so, "address", json_string(s->address));
        json_object_set_new(so, "role", json_string(role_name(s->role)));
        json_object_set_new(
            so, "match_index",
            leading && r->leader_state.progress != NULL
                ? json_integer(
                      (json_int_t)(s->id == n->config.id
                                       ? raft_last_index(r)
                                       : r->leader_state.progress[i]
                                             .match_index))
                : json_null());
        json_array_append_new(servers, so);
    }
    json_object_set(o, "servers", servers);
    fsm_foreach_db(n->fsm, add_db_name, dbs);
    json_object_set(o, "databases", dbs);
    json_object_set_new(
        o, "connections",
        json_integer(n->gateway != NULL ? gateway_connections(n->gateway) : 0));
    if (n->gateway != NULL) {
        uint64_t direct, vouched;
        gateway_read_stats(n->gateway, &direct, &vouched);
        json_object_set_new(o, "reads_sent_direct",
                            json_integer((json_int_t)direct));
        json_object_set_new(o, "reads_vouched",
                            json_integer((json_int_t)vouched));
    }
    json_object_set_new(
        o, "queued_writes",
        json_integer(n->queue != NULL ? queue_length(n->queue) : 0));
    out = json_dumps(o, JSON_COMPACT);

out:
    json_decref(dbs);
    json_decref(servers);
    json_decref(o);
    return out;
}
