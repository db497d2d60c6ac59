/*
 * Proofs for the raft_io decorator of raft/io.h (issue 3, proofs 1 to 3 and
 * 5; raft/README.md maps them to the catalogue): scripted scenarios on
 * libraft 0.15's deterministic raft_fixture that reproduce a bug with one
 * protection switched off and show it gone with the decorator whole, plus
 * seeded random schedules.
 *
 * Each server runs a minimal state machine of this file (not walraft's
 * SQLite one): a command is 8 bytes holding a unique value, and applying it
 * records (index, value) for that server. Every apply is checked as it
 * happens: a server applies indexes in increasing order, each once, and
 * every server that applies an index applies the same value there.
 *
 * Between the decorator and raft_fixture's in-memory I/O sits a thin test
 * layer (the "disk" below), patched into the fixture's raft_io in place:
 *  - it completes appends in the order they were issued (the fixture
 *    completes them by deadline, so changing a server's disk latency could
 *    reorder them; raft_io's contract and raft_uv keep the order);
 *  - it translates truncations as tests/cluster/harness.c does (0.15's
 *    fixture copies past its array when entries still being written are
 *    truncated: ASan heap-buffer-overflow);
 *  - it can make the next append of a server fail synchronously (through
 *    raft_fixture_io_fault()) or asynchronously (the fixture writes it, the
 *    callback says RAFT_IOERR; the fixture cannot fail asynchronously);
 *  - it records the RequestVote messages that leave each server, after the
 *    decorator rewrote them.
 *
 * What the fixture cannot do: restart a server from its persisted state
 * (0.15 has no API for it), so "kill" here is raft_fixture_kill(): the
 * server is cut off and not ticked, but its pending disk writes still
 * complete. Crash recovery is left to the raft_uv fault harness.
 *
 * Besides the applies, a hook after every fixture step checks that no two
 * servers lead the same term and that each index a leader commits is on the
 * disks (persisted tails) of a majority, which is what survives a minority
 * of crashes.
 *
 * Seeds are printed ("seed=N"); WR_SEED replays one seed of the random
 * schedules, WR_RAFT_SAFETY_SEEDS sets how many run (default 200, about
 * 15 s under ASan), and WR_RAFT_SAFETY_DISABLE (RAFT_IO_GUARD_* bits) runs
 * them with protections off, to see what the schedules catch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <raft.h>
#include <raft/fixture.h>

#include "raft/io.h"

#define MAX_NODES 5
#define ELECTION_TIMEOUT 1000 /* raft_fixture's. */
#define FAST_TIMEOUT 1000     /* Randomized timeout of the server we elect. */
#define SLOW_TIMEOUT 1900     /* ... and of the others. */
#define MAX_VOTES 512

/* ---- Test context ------------------------------------------------------- */

struct node;

/* One append in flight in the test disk layer. */
struct disk_append {
    struct raft_io_append req;
    struct raft_io_append *orig;
    raft_io_append_cb cb;
    struct node *node;
    unsigned n;
    bool fail; /* Report RAFT_IOERR although the fixture wrote it. */
    bool done;
    int status;
    struct disk_append *next;
};

struct applied {
    raft_index index;
    uint64_t value;
};

struct node {
    unsigned i;
    struct raft_fsm fsm;
    struct raft_io_guard guard;
    bool killed;          /* By the test or by the fatal hook. */
    unsigned n_fatal;
    char fatal_msg[WR_ERRMSG_SIZE];
    struct applied *applied;
    size_t n_applied;
    size_t cap_applied;
    raft_term led_term;          /* Last term seen leading. */
    raft_index commit_checked;   /* Commit index checked as a leader. */
    raft_term barrier_term;      /* Term of the last policy barrier. */
    raft_term barrier_done_term; /* Term of the last one applied. */
    /* The disk layer: the fixture's methods it wraps, and its state. */
    int (*fix_append)(struct raft_io *io,
                      struct raft_io_append *req,
                      const struct raft_entry entries[],
                      unsigned n,
                      raft_io_append_cb cb);
    int (*fix_truncate)(struct raft_io *io, raft_index index);
    int (*fix_send)(struct raft_io *io,
                    struct raft_io_send *req,
                    const struct raft_message *message,
                    raft_io_send_cb cb);
    raft_index io_offset; /* Index before the fixture's first entry. */
    size_t io_n;          /* Entries in the fixture's persisted array. */
    struct disk_append *head;
    struct disk_append *tail;
    bool fail_next_sync;
    bool fail_next_async;
};

/* A RequestVote as it left a server. */
struct vote_msg {
    unsigned from;
    raft_term term;
    raft_index last_index;
    raft_term last_term;
    bool pre_vote;
    bool installing; /* The sender was storing an InstallSnapshot. */
};

struct acked {
    raft_index index;
    uint64_t value;
};

struct ctx {
    struct raft_fixture f;
    unsigned n;
    struct node nodes[MAX_NODES];
    bool barrier_policy; /* A new leader proposes a barrier at once. */
    uint64_t next_value;
    /* Checks made as things happen. */
    unsigned n_violations;
    char violation[512];
    raft_id *leader_of_term;
    size_t cap_terms;
    uint64_t *value_at; /* Index -> value first applied there (0: none). */
    size_t cap_values;
    struct acked *acked;
    size_t n_acked;
    size_t cap_acked;
    struct vote_msg votes[MAX_VOTES];
    unsigned n_votes;
    unsigned n_stray_results; /* AppendEntries results to no server. */
    bool snapshots;           /* The state machine takes snapshots. */
};

static struct ctx *cur;

static void violation(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void violation(const char *fmt, ...)
{
    va_list ap;
    if (cur->n_violations++ > 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(cur->violation, sizeof cur->violation, fmt, ap);
    va_end(ap);
}

static struct raft *R(unsigned i)
{
    return raft_fixture_get(&cur->f, i);
}

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
    size_t n = *cap;
    if (need <= n) {
        return p;
    }
    while (n < need) {
        n = n == 0 ? 64 : 2 * n;
    }
    p = realloc(p, n * size);
    if (p == NULL) {
        abort();
    }
    memset((char *)p + *cap * size, 0, (n - *cap) * size);
    *cap = n;
    return p;
}

/* Same as logTermOf()/logGet() in libraft's log.c, on the public struct. */
static const struct raft_entry *log_entry(const struct raft_log *l,
                                          raft_index index)
{
    size_t n = l->front <= l->back ? l->back - l->front
                                   : l->size - l->front + l->back;
    if (index <= l->offset || index > l->offset + n) {
        return NULL;
    }
    return &l->entries[(l->front + (size_t)(index - 1 - l->offset)) % l->size];
}

static raft_index log_last(const struct raft_log *l)
{
    size_t n = l->front <= l->back ? l->back - l->front
                                   : l->size - l->front + l->back;
    return l->offset + n;
}

/* ---- The state machine -------------------------------------------------- */

static void record_apply(struct node *node, raft_index index, uint64_t value)
{
    if (node->n_applied > 0 &&
        node->applied[node->n_applied - 1].index >= index) {
        violation("server %u applied index %llu after %llu", node->i, index,
                  node->applied[node->n_applied - 1].index);
    }
    node->applied = grow(node->applied, &node->cap_applied,
                         node->n_applied + 1, sizeof *node->applied);
    node->applied[node->n_applied].index = index;
    node->applied[node->n_applied].value = value;
    node->n_applied++;

    cur->value_at = grow(cur->value_at, &cur->cap_values, (size_t)index + 1,
                         sizeof *cur->value_at);
    if (cur->value_at[index] == 0) {
        cur->value_at[index] = value;
    } else if (cur->value_at[index] != value) {
        violation("index %llu: server %u applied value %llu, another "
                  "server applied %llu",
                  index, node->i, (unsigned long long)value,
                  (unsigned long long)cur->value_at[index]);
    }
}

static int fsm_apply(struct raft_fsm *fsm,
                     const struct raft_buffer *buf,
                     void **result)
{
    struct node *node = fsm->data;
    uint64_t value = 0;
    /* replication.c replicationApply() bumps last_applied after apply. */
    raft_index index = R(node->i)->last_applied + 1;

    if (buf->len == sizeof value) {
        memcpy(&value, buf->base, sizeof value);
    }
    record_apply(node, index, value);
    *result = NULL;
    return 0;
}

/* A snapshot is the server's applied record: a count, then (index, value)
 * pairs, 8 bytes each, host order. Restoring one replaces the record, after
 * checking every pair against what other servers applied. Unless a test
 * asks for snapshots, none is taken. */
static int fsm_snapshot(struct raft_fsm *fsm,
                        struct raft_buffer *bufs[],
                        unsigned *n_bufs)
{
    struct node *node = fsm->data;
    uint64_t count = node->n_applied;
    uint8_t *p;

    if (!cur->snapshots) {
        return RAFT_BUSY;
    }
    *bufs = raft_malloc(sizeof **bufs);
    assert_non_null(*bufs);
    (*bufs)[0].len = 8 + (size_t)count * 16;
    (*bufs)[0].base = raft_malloc((*bufs)[0].len);
    assert_non_null((*bufs)[0].base);
    p = (*bufs)[0].base;
    memcpy(p, &count, 8);
    for (size_t k = 0; k < count; k++) {
        uint64_t index = node->applied[k].index;
        memcpy(p + 8 + 16 * k, &index, 8);
        memcpy(p + 16 + 16 * k, &node->applied[k].value, 8);
    }
    *n_bufs = 1;
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct node *node = fsm->data;
    const uint8_t *p = buf->base;
    uint64_t count = 0;

    if (buf->len >= 8) {
        memcpy(&count, p, 8);
    }
    if (buf->len != 8 + count * 16) {
        violation("server %u restored a malformed snapshot", node->i);
        count = 0;
    }
    node->n_applied = 0;
    for (size_t k = 0; k < count; k++) {
        uint64_t index;
        uint64_t value;
        memcpy(&index, p + 8 + 16 * k, 8);
        memcpy(&value, p + 16 + 16 * k, 8);
        record_apply(node, index, value);
    }
    raft_free(buf->base);
    return 0;
}

/* The applied value of server @i at @index, or 0. */
static uint64_t applied_at(unsigned i, raft_index index)
{
    struct node *node = &cur->nodes[i];
    for (size_t k = 0; k < node->n_applied; k++) {
        if (node->applied[k].index == index) {
            return node->applied[k].value;
        }
    }
    return 0;
}

/* ---- The disk layer under the decorator --------------------------------- */

static struct node *node_of_io(struct raft_io *io)
{
    for (unsigned i = 0; i < cur->n; i++) {
        if (&cur->f.servers[i].io == io) {
            return &cur->nodes[i];
        }
    }
    fprintf(stderr, "raft_io of no server\n");
    abort();
}

/* Hand completed appends to the layer above, oldest first. */
static void disk_deliver(struct node *node)
{
    while (node->head != NULL && node->head->done) {
        struct disk_append *d = node->head;
        node->head = d->next;
        if (node->head == NULL) {
            node->tail = NULL;
        }
        d->cb(d->orig, d->status);
        free(d);
    }
}

static void disk_append_cb(struct raft_io_append *req, int status)
{
    struct disk_append *d = req->data;
    if (status == 0) {
        d->node->io_n += d->n;
    }
    d->done = true;
    d->status = d->fail ? RAFT_IOERR : status;
    disk_deliver(d->node);
}

static int disk_append(struct raft_io *io,
                       struct raft_io_append *req,
                       const struct raft_entry entries[],
                       unsigned n,
                       raft_io_append_cb cb)
{
    struct node *node = node_of_io(io);
    struct disk_append *d;
    int rv;

    if (node->fail_next_sync) {
        node->fail_next_sync = false;
        raft_fixture_io_fault(&cur->f, node->i, 0, 1);
    }
    d = calloc(1, sizeof *d);
    assert_non_null(d);
    d->req.data = d;
    d->orig = req;
    d->cb = cb;
    d->node = node;
    d->n = n;
    req->cb = cb;
    rv = node->fix_append(io, &d->req, entries, n, disk_append_cb);
    if (rv != 0) {
        free(d);
        return rv;
    }
    d->fail = node->fail_next_async;
    node->fail_next_async = false;
    if (node->tail == NULL) {
        node->head = d;
    } else {
        node->tail->next = d;
    }
    node->tail = d;
    return 0;
}

static int disk_truncate(struct raft_io *io, raft_index index)
{
    struct node *node = node_of_io(io);
    raft_index keep;

    if (index == 1) {
        node->io_n = 0;
        return node->fix_truncate(io, 1);
    }
    keep = index > node->io_offset + 1 ? index - 1 - node->io_offset : 0;
    if (keep > node->io_n) {
        keep = node->io_n;
    }
    node->io_n = (size_t)keep;
    return node->fix_truncate(io, keep + 1);
}

static int disk_send(struct raft_io *io,
                     struct raft_io_send *req,
                     const struct raft_message *message,
                     raft_io_send_cb cb)
{
    struct node *node = node_of_io(io);
    if (message->type == RAFT_IO_REQUEST_VOTE && cur->n_votes < MAX_VOTES) {
        struct vote_msg *v = &cur->votes[cur->n_votes++];
        v->from = node->i;
        v->term = message->request_vote.term;
        v->last_index = message->request_vote.last_log_index;
        v->last_term = message->request_vote.last_log_term;
        v->pre_vote = message->request_vote.pre_vote;
        v->installing = R(node->i)->snapshot.put.data != NULL &&
                        R(node->i)->last_stored == 0;
    }
    if (message->type == RAFT_IO_APPEND_ENTRIES_RESULT &&
        (message->server_id == 0 || message->server_id > cur->n)) {
        cur->n_stray_results++;
    }
    return node->fix_send(io, req, message, cb);
}

/* ---- Cluster ------------------------------------------------------------ */

static void on_fatal(void *arg, const char *msg)
{
    struct node *node = arg;
    node->n_fatal++;
    snprintf(node->fatal_msg, sizeof node->fatal_msg, "%s", msg);
    fprintf(stderr, "  server %u stopped: %s\n", node->i, msg);
    node->killed = true;
    raft_fixture_kill(&cur->f, node->i);
}

/* Barriers proposed by the policy; they free themselves. */
struct barrier {
    struct raft_barrier req;
    unsigned node;
    raft_term term;
};

static void barrier_cb(struct raft_barrier *req, int status)
{
    struct barrier *b = req->data;
    if (status == 0) {
        cur->nodes[b->node].barrier_done_term = b->term;
    }
    free(b);
}

static raft_index persisted_index(unsigned i)
{
    raft_index index;
    raft_term term;
    raft_io_guard_persisted(&cur->nodes[i].guard, &index, &term);
    return index;
}

/* Server @j has @index, holding @e, in a snapshot it has stored: a
 * snapshot holds applied entries, so for a command the value applied there
 * must be @e's. */
static bool in_stored_snapshot(unsigned j, raft_index index,
                               const struct raft_entry *e)
{
    struct raft *r = R(j);
    uint64_t value;

    if (index > r->log.snapshot.last_index ||
        (r->snapshot.put.data != NULL && r->last_stored == 0)) {
        return false;
    }
    if (e->type != RAFT_COMMAND || e->buf.len != sizeof value) {
        return true;
    }
    memcpy(&value, e->buf.base, sizeof value);
    return index < cur->cap_values && cur->value_at[index] == value;
}

/* What a leader commits must be on the disks of a majority: the entry it
 * holds at each newly committed index, with the same term, within the
 * persisted tail (or a stored snapshot) of more than half of the servers.
 * This is what survives any minority of crashes, which raft_fixture cannot
 * simulate. */
static void check_commit(unsigned i)
{
    struct raft *r = R(i);
    struct node *node = &cur->nodes[i];

    if (node->led_term != r->current_term) {
        /* Newly elected: only what it commits from now on is its doing. */
        node->led_term = r->current_term;
        if (node->commit_checked < r->commit_index) {
            node->commit_checked = r->commit_index;
        }
    }
    if (r->commit_index <= node->commit_checked) {
        return;
    }
    for (raft_index index = node->commit_checked + 1; index <= r->commit_index;
         index++) {
        const struct raft_entry *e = log_entry(&r->log, index);
        unsigned holders = 0;
        if (e == NULL) {
            continue; /* Already in a snapshot. */
        }
        for (unsigned j = 0; j < cur->n; j++) {
            const struct raft_entry *o = log_entry(&R(j)->log, index);
            if (o != NULL && o->term == e->term &&
                persisted_index(j) >= index) {
                holders++;
            } else if (o == NULL && in_stored_snapshot(j, index, e)) {
                holders++;
            }
        }
        if (holders <= cur->n / 2) {
            if (cur->n_violations == 0) {
                for (unsigned j = 0; j < cur->n; j++) {
                    const struct raft_entry *o = log_entry(&R(j)->log, index);
                    fprintf(stderr,
                            "  server %u: term %llu at %llu, persisted %llu, "
                            "stored %llu, snapshot %llu, state %u, term %llu",
                            j, o != NULL ? o->term : 0, index,
                            persisted_index(j), R(j)->last_stored,
                            R(j)->log.snapshot.last_index, R(j)->state,
                            R(j)->current_term);
                    if (R(j)->state == RAFT_LEADER) {
                        fprintf(stderr, ", match");
                        for (unsigned k = 0; k < cur->n; k++) {
                            fprintf(stderr, " %llu",
                                    R(j)->leader_state.progress[k].match_index);
                        }
                    }
                    fprintf(stderr, "\n");
                }
            }
            violation("leader %u committed index %llu (term %llu) which only "
                      "%u servers hold on disk",
                      i, index, e->term, holders);
        }
    }
    node->commit_checked = r->commit_index;
}

/* After every step: one leader per term; commits on a majority; the barrier
 * policy. */
static void step_hook(struct raft_fixture *f, struct raft_fixture_event *e)
{
    (void)f;
    (void)e;
    for (unsigned i = 0; i < cur->n; i++) {
        struct raft *r = R(i);
        if (r->state != RAFT_LEADER) {
            continue;
        }
        check_commit(i);
        cur->leader_of_term =
            grow(cur->leader_of_term, &cur->cap_terms,
                 (size_t)r->current_term + 1, sizeof *cur->leader_of_term);
        if (cur->leader_of_term[r->current_term] == 0) {
            cur->leader_of_term[r->current_term] = r->id;
        } else if (cur->leader_of_term[r->current_term] != r->id) {
            violation("two leaders in term %llu: %llu and %llu",
                      r->current_term, cur->leader_of_term[r->current_term],
                      r->id);
        }
        if (cur->barrier_policy && !cur->nodes[i].killed &&
            cur->nodes[i].barrier_term != r->current_term) {
            struct barrier *b = calloc(1, sizeof *b);
            assert_non_null(b);
            b->req.data = b;
            b->node = i;
            b->term = r->current_term;
            if (raft_barrier(r, &b->req, barrier_cb) == 0) {
                cur->nodes[i].barrier_term = r->current_term;
            } else {
                free(b);
            }
        }
    }
}

/* Start @n servers, each under a decorator with @disable switched off, all
 * voters, bootstrapped and started; nobody is leader yet. */
static struct ctx *cluster_start(unsigned n, unsigned disable, bool pre_vote)
{
    struct raft_configuration conf;
    struct ctx *c = calloc(1, sizeof *c);
    int rv;

    assert_non_null(c);
    cur = c;
    c->n = n;
    c->next_value = 1;
    rv = raft_fixture_initialize(&c->f);
    assert_int_equal(rv, 0);
    for (unsigned i = 0; i < n; i++) {
        struct node *node = &c->nodes[i];
        struct raft_io *io;
        struct raft_io_guard_config gc;
        struct raft *r;

        node->i = i;
        node->fsm.version = 1;
        node->fsm.data = node;
        node->fsm.apply = fsm_apply;
        node->fsm.snapshot = fsm_snapshot;
        node->fsm.restore = fsm_restore;
        rv = raft_fixture_grow(&c->f, &node->fsm);
        assert_int_equal(rv, 0);
        r = raft_fixture_get(&c->f, i);
        raft_set_snapshot_threshold(r, 1u << 30);
        raft_set_pre_vote(r, pre_vote);

        io = &c->f.servers[i].io;
        node->fix_append = io->append;
        node->fix_truncate = io->truncate;
        node->fix_send = io->send;
        io->append = disk_append;
        io->truncate = disk_truncate;
        io->send = disk_send;

        memset(&gc, 0, sizeof gc);
        gc.on_fatal = on_fatal;
        gc.on_fatal_arg = node;
        gc.disable = disable;
        rv = raft_io_guard_install(&node->guard, r, &gc);
        assert_int_equal(rv, 0);
        assert_ptr_equal(r->io, &node->guard.io);
    }
    rv = raft_fixture_configuration(&c->f, n, &conf);
    assert_int_equal(rv, 0);
    rv = raft_fixture_bootstrap(&c->f, &conf);
    assert_int_equal(rv, 0);
    raft_configuration_close(&conf);
    rv = raft_fixture_start(&c->f);
    assert_int_equal(rv, 0);
    raft_fixture_hook(&c->f, step_hook);
    return c;
}

static void cluster_stop(struct ctx *c)
{
    raft_fixture_close(&c->f);
    for (unsigned i = 0; i < c->n; i++) {
        free(c->nodes[i].applied);
    }
    free(c->leader_of_term);
    free(c->value_at);
    free(c->acked);
    free(c);
    cur = NULL;
}

/* cmocka teardown: release a cluster a failed test left behind. */
static int teardown(void **state)
{
    (void)state;
    if (cur != NULL) {
        cluster_stop(cur);
    }
    return 0;
}

static bool alive(unsigned i)
{
    return !cur->nodes[i].killed && raft_fixture_alive(&cur->f, i);
}

static void kill_node(unsigned i)
{
    cur->nodes[i].killed = true;
    raft_fixture_kill(&cur->f, i);
}

static void revive_node(unsigned i)
{
    if (cur->nodes[i].n_fatal > 0) {
        return; /* A stopped server stays down. */
    }
    cur->nodes[i].killed = false;
    raft_fixture_revive(&cur->f, i);
}

static void cut(unsigned i, unsigned j)
{
    raft_fixture_disconnect(&cur->f, i, j);
    raft_fixture_disconnect(&cur->f, j, i);
}

static void uncut(unsigned i, unsigned j)
{
    raft_fixture_reconnect(&cur->f, i, j);
    raft_fixture_reconnect(&cur->f, j, i);
}

/* The live leader with the highest term, or cur->n. */
static unsigned leader(void)
{
    unsigned l = cur->n;
    for (unsigned i = 0; i < cur->n; i++) {
        if (alive(i) && R(i)->state == RAFT_LEADER &&
            (l == cur->n || R(i)->current_term > R(l)->current_term)) {
            l = i;
        }
    }
    return l;
}

static bool step_until(bool (*pred)(void *arg), void *arg, unsigned max_ms)
{
    raft_time start = cur->f.time;
    while (!pred(arg)) {
        if (cur->f.time - start >= max_ms) {
            return false;
        }
        raft_fixture_step(&cur->f);
    }
    return true;
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

static void step_ms(unsigned ms)
{
    step_until(never, NULL, ms);
}

/* Server @arg leads, in a term no live server is past. */
static bool is_leader(void *arg)
{
    unsigned i = *(unsigned *)arg;
    if (!alive(i) || R(i)->state != RAFT_LEADER) {
        return false;
    }
    for (unsigned j = 0; j < cur->n; j++) {
        if (alive(j) && R(j)->current_term > R(i)->current_term) {
            return false;
        }
    }
    return true;
}

/* Make server @i time out first from now on, the others later. */
static void favour(unsigned i)
{
    for (unsigned j = 0; j < cur->n; j++) {
        struct raft *r = R(j);
        unsigned t = j == i ? FAST_TIMEOUT : SLOW_TIMEOUT;
        raft_fixture_set_randomized_election_timeout(&cur->f, j, t);
        /* The running timer: the first member of both unions. */
        if (r->state == RAFT_FOLLOWER) {
            r->follower_state.randomized_election_timeout = t;
        } else if (r->state == RAFT_CANDIDATE) {
            r->candidate_state.randomized_election_timeout = t;
        }
    }
}

/* Give every server its own timeout (libraft's "random" timeouts come from
 * the fixture, fixed per server; favour() makes the others equal, and two
 * survivors with equal timeouts split the vote forever). */
static void spread_timeouts(void)
{
    for (unsigned j = 0; j < cur->n; j++) {
        struct raft *r = R(j);
        unsigned t = FAST_TIMEOUT + 150 * j;
        raft_fixture_set_randomized_election_timeout(&cur->f, j, t);
        if (r->state == RAFT_FOLLOWER) {
            r->follower_state.randomized_election_timeout = t;
        } else if (r->state == RAFT_CANDIDATE) {
            r->candidate_state.randomized_election_timeout = t;
        }
    }
}

/* Step until server @i is leader; fail the test if it is not within 20 s. */
static void elect(unsigned i)
{
    favour(i);
    if (!step_until(is_leader, &i, 20000)) {
        fail_msg("server %u was not elected (leader: %u)", i, leader());
    }
    fprintf(stderr, "  server %u leads term %llu\n", i, R(i)->current_term);
}

/* Proposals; they free themselves when libraft is done with them. */
struct proposal {
    struct raft_apply req;
    uint64_t value;
    int *status; /* Where to store the outcome, or NULL. */
};

static void proposal_cb(struct raft_apply *req, int status, void *result)
{
    struct proposal *p = req->data;
    (void)result;
    if (status == 0) {
        cur->acked = grow(cur->acked, &cur->cap_acked, cur->n_acked + 1,
                          sizeof *cur->acked);
        cur->acked[cur->n_acked].index = req->index;
        cur->acked[cur->n_acked].value = p->value;
        cur->n_acked++;
    }
    if (p->status != NULL) {
        *p->status = status;
    }
    free(p);
}

/* Propose a new unique value on server @i; returns raft_apply()'s code and
 * the value in @value. */
static int propose(unsigned i, uint64_t *value, int *status)
{
    struct proposal *p = calloc(1, sizeof *p);
    struct raft_buffer buf;
    int rv;

    assert_non_null(p);
    p->value = cur->next_value++;
    p->status = status;
    p->req.data = p;
    buf.len = sizeof p->value;
    buf.base = raft_malloc(buf.len);
    assert_non_null(buf.base);
    memcpy(buf.base, &p->value, buf.len);
    if (value != NULL) {
        *value = p->value;
    }
    rv = raft_apply(R(i), &p->req, &buf, 1, proposal_cb);
    if (rv != 0) {
        raft_free(buf.base);
        free(p);
    }
    return rv;
}

/* Print every server's state, for a failing test. */
static void dump(void)
{
    for (unsigned i = 0; i < cur->n; i++) {
        struct raft *r = R(i);
        raft_index last = log_last(&r->log);
        const struct raft_entry *e = log_entry(&r->log, last);
        fprintf(stderr,
                "  server %u: %s state %u term %llu vote %llu last %llu/%llu "
                "persisted %llu commit %llu applied %llu fatal %u\n",
                i, alive(i) ? "alive" : "down", r->state, r->current_term,
                r->voted_for, last, e != NULL ? e->term : 0,
                persisted_index(i), r->commit_index, r->last_applied,
                cur->nodes[i].n_fatal);
        fprintf(stderr, "    snapshot %llu/%llu offset %llu put %s\n",
                r->log.snapshot.last_index, r->log.snapshot.last_term,
                r->log.offset, r->snapshot.put.data != NULL ? "busy" : "idle");
        if (r->state == RAFT_LEADER) {
            for (unsigned j = 0; j < r->configuration.n; j++) {
                struct raft_progress *p = &r->leader_state.progress[j];
                fprintf(stderr,
                        "    progress %u: state %u next %llu match %llu "
                        "snapshot %llu\n",
                        j, p->state, p->next_index, p->match_index,
                        p->snapshot_index);
            }
        }
    }
}

static void assert_no_violation(void)
{
    if (cur->n_violations > 0) {
        fail_msg("%u violation(s), first: %s", cur->n_violations,
                 cur->violation);
    }
}


struct at_index {
    unsigned i;
    raft_index index;
};

static bool has_persisted(void *arg)
{
    struct at_index *a = arg;
    return persisted_index(a->i) >= a->index;
}

static bool all_applied(void *arg)
{
    struct at_index *a = arg; /* a->i: first server of those 1..n-1 */
    for (unsigned i = a->i; i < cur->n; i++) {
        if (R(i)->last_applied < a->index) {
            return false;
        }
    }
    return true;
}

static bool has_applied(void *arg)
{
    struct at_index *a = arg;
    return R(a->i)->last_applied >= a->index;
}

/* ---- 1. Figure 8 --------------------------------------------------------- */

/* The Raft paper's Figure 8 on five servers S1..S5 (indexes 0..4); the
 * entry at index 1 is the bootstrap configuration. Returns the values of X,
 * Y and Z. */
static void figure8(uint64_t *x, uint64_t *y, uint64_t *z)
{
    struct at_index a;
    raft_time t0;

    /* (a) S1 leads and writes X at index 2 on itself and S2 only. */
    elect(0);
    cut(0, 2);
    cut(0, 3);
    cut(0, 4);
    assert_int_equal(propose(0, x, NULL), 0);
    a = (struct at_index){1, 2};
    assert_true(step_until(has_persisted, &a, 1000));
    a = (struct at_index){0, 2};
    assert_true(step_until(has_persisted, &a, 1000));
    assert_int_equal(R(0)->commit_index, 1);
    kill_node(0);

    /* (b) With S2 down and S3, S4 unable to reach each other, S5 is elected
     * by S3, S4 and itself, writes Y at index 2 and goes down before
     * sending it. */
    kill_node(1);
    cut(2, 3);
    elect(4);
    assert_int_equal(propose(4, y, NULL), 0);
    kill_node(4);
    a = (struct at_index){4, 2};
    assert_true(step_until(has_persisted, &a, 1000));

    /* (c) S1 and S2 come back; S2 cannot reach S3 and S4, so only S1 can
     * win. S1 is elected (by S1, S2, S3), copies X to S3 and, on 0.15,
     * commits it by counting three replicas of an entry of an older term.
     * S1 applies X and goes down before anyone learns the new commit
     * index. */
    revive_node(0);
    revive_node(1);
    uncut(0, 2);
    uncut(0, 3);
    cut(1, 2);
    cut(1, 3);
    elect(0);
    t0 = cur->f.time;
    while (R(0)->last_applied < 2 && cur->f.time - t0 < 3000) {
        raft_fixture_step(&cur->f);
    }
    fprintf(stderr, "  S1 applied up to %llu before going down\n",
            R(0)->last_applied);
    kill_node(0);

    /* (d) S5 comes back. Its last term (3) is above S2, S3 and S4's (2),
     * and they cannot reach each other, so S5 is elected by them; it
     * replaces X with Y at index 2 on all of them and commits Y with Z, an
     * entry of its own term. */
    revive_node(4);
    elect(4);
    assert_int_equal(propose(4, z, NULL), 0);
    a = (struct at_index){1, 3};
    if (!step_until(all_applied, &a, 5000)) {
        fail_msg("S2..S5 did not apply index 3");
    }
}

/* Figure 8 without the result gate: S1 applies X at index 2, which S5 then
 * overwrites with Y on every other server (the bug, C1). */
static void figure8_without_gate_overwrites_applied_entry(void **state)
{
    uint64_t x;
    uint64_t y;
    uint64_t z;

    (void)state;
    fprintf(stderr, "seed=0 (scripted)\n");
    cluster_start(5, RAFT_IO_GUARD_RESULT_GATE, false);
    figure8(&x, &y, &z);

    /* S1 committed and applied X, of term 2, while leading term 5. */
    assert_int_equal(applied_at(0, 2), x);
    assert_true(log_entry(&R(0)->log, 2)->term < R(0)->current_term);
    for (unsigned i = 1; i < 5; i++) {
        assert_int_equal(applied_at(i, 2), y); /* ...the others Y. */
        assert_int_equal(applied_at(i, 3), z);
    }
    assert_true(cur->n_violations > 0);
    fprintf(stderr, "  reproduced: %s\n", cur->violation);
    cluster_stop(cur);
}

/* Figure 8 with the decorator whole: S1 ignores results until it has
 * persisted an entry of its own term, so it never commits X; Y and Z are
 * the only entries applied at 2 and 3, everywhere. */
static void figure8_with_guard_applies_no_overwritten_entry(void **state)
{
    uint64_t x;
    uint64_t y;
    uint64_t z;

    (void)state;
    fprintf(stderr, "seed=0 (scripted)\n");
    cluster_start(5, 0, false);
    figure8(&x, &y, &z);

    assert_int_equal(applied_at(0, 2), 0);
    for (unsigned i = 1; i < 5; i++) {
        assert_int_equal(applied_at(i, 2), y);
        assert_int_equal(applied_at(i, 3), z);
    }
    assert_true(raft_io_guard_stats(&cur->nodes[0].guard)->results_dropped >
                0);
    assert_no_violation();
    cluster_stop(cur);
}

/* ---- 1b. Held results: a new leader does not wait for a heartbeat ------- */

/* How long, in fixture milliseconds, a new leader whose own disk is slower
 * than its followers' takes from its election to committing and applying a
 * first entry of its term. With @disable, the decorator's protections that
 * it names are off. */
static raft_time first_commit_after_election(unsigned disable)
{
    struct at_index a;
    raft_time elected;
    int status = -1;

    cluster_start(3, disable, false);
    elect(0);
    assert_int_equal(propose(0, NULL, NULL), 0);
    a = (struct at_index){1, log_last(&R(0)->log)};
    if (!step_until(all_applied, &a, 5000)) {
        fail_msg("S2 and S3 did not apply the first entry");
    }
    /* S2's disk takes 60 ms, S3's 1 ms: S3 answers S2's first heartbeat
     * before S2 has persisted anything of its new term. */
    raft_fixture_set_disk_latency(&cur->f, 1, 60);
    raft_fixture_set_disk_latency(&cur->f, 2, 1);
    kill_node(0);
    elect(1);
    elected = cur->f.time;
    assert_int_equal(propose(1, NULL, &status), 0);
    a = (struct at_index){1, log_last(&R(1)->log)};
    if (!step_until(has_applied, &a, 5000)) {
        fail_msg("S2 did not commit its entry");
    }
    assert_int_equal(status, 0);
    assert_no_violation();
    return cur->f.time - elected;
}

/* A new leader whose followers answer its first heartbeat before its own
 * disk has persisted an entry of its term gets their answers once it has,
 * and commits about when its own disk is done (91 ms here), not a
 * heartbeat interval (100 ms) after that (201 ms). */
static void held_results_commit_without_waiting_for_heartbeat(void **state)
{
    raft_time took;

    (void)state;
    fprintf(stderr, "seed=0 (scripted)\n");
    took = first_commit_after_election(0);
    fprintf(stderr, "  first commit %llu ms after the election\n",
            (unsigned long long)took);
    assert_true(raft_io_guard_stats(&cur->nodes[1].guard)->results_released >
                0);
    assert_true(took < 100);
    cluster_stop(cur);
}

/* The same with results dropped instead of held: the commit waits for the
 * next heartbeat's answers (what the test above would see without the
 * holding). */
static void dropped_results_wait_for_heartbeat(void **state)
{
    raft_time took;

    (void)state;
    fprintf(stderr, "seed=0 (scripted)\n");
    took = first_commit_after_election(RAFT_IO_GUARD_HOLD_RESULTS);
    fprintf(stderr, "  first commit %llu ms after the election\n",
            (unsigned long long)took);
    assert_true(raft_io_guard_stats(&cur->nodes[1].guard)->results_dropped >
                0);
    assert_int_equal(
        raft_io_guard_stats(&cur->nodes[1].guard)->results_released, 0);
    assert_true(took >= 100);
    cluster_stop(cur);
}

/* How long, in fixture milliseconds, after its leader dies a 3-server
 * cluster whose two survivors time out at 1,000 and 1,900 ms takes to
 * elect the first of them. */
static raft_time election_after_leader_death(unsigned disable)
{
    unsigned next = 1;
    struct at_index a;
    raft_time killed;

    cluster_start(3, disable, true);
    elect(0);
    assert_int_equal(propose(0, NULL, NULL), 0);
    a = (struct at_index){1, log_last(&R(0)->log)};
    if (!step_until(all_applied, &a, 5000)) {
        fail_msg("S2 and S3 did not apply the first entry");
    }
    kill_node(0);
    killed = cur->f.time;
    favour(1);
    if (!step_until(is_leader, &next, 20000)) {
        fail_msg("S2 was not elected (leader: %u)", leader());
    }
    assert_no_violation();
    return cur->f.time - killed;
}

/* S3 no longer heard from the dead leader for an election timeout when
 * S2's (pre-)vote request comes, so it grants it: S2 leads about one
 * timeout after the death (1,145 ms here, against 4,145 without). */
static void silent_leader_is_forgotten_for_votes(void **state)
{
    raft_time took;

    (void)state;
    fprintf(stderr, "seed=0 (scripted)\n");
    took = election_after_leader_death(0);
    fprintf(stderr, "  S2 leads %llu ms after the leader died\n",
            (unsigned long long)took);
    assert_true(raft_io_guard_stats(&cur->nodes[2].guard)->leaders_forgotten >
                0);
    assert_true(took < 1500);
    cluster_stop(cur);
}

/* Without forgetting, libraft 0.15's S3 refuses S2 while it still knows
 * the dead leader, until its own 1,900 ms have run out. */
static void remembered_leader_delays_election(void **state)
{
    raft_time took;

    (void)state;
    fprintf(stderr, "seed=0 (scripted)\n");
    took = election_after_leader_death(RAFT_IO_GUARD_FORGET_LEADER);
    fprintf(stderr, "  S2 leads %llu ms after the leader died\n",
            (unsigned long long)took);
    assert_true(took >= 1900);
    cluster_stop(cur);
}

/* ---- 2. RequestVote advertises the persisted tail ------------------------ */

/* S1 leads and replicates three entries; S2's disk is so slow that it holds
 * them in memory only, S3 persists them. S1 goes down and S2 times out
 * first. Returns the server that leads within 5 s, or cur->n. */
static unsigned unpersisted_candidate(void)
{
    struct at_index a = {2, 4};
    raft_time t0;

    elect(0);
    raft_fixture_set_disk_latency(&cur->f, 1, 60000);
    for (unsigned k = 0; k < 3; k++) {
        assert_int_equal(propose(0, NULL, NULL), 0);
    }
    assert_true(step_until(has_applied, &a, 2000));
    assert_int_equal(log_last(&R(1)->log), 4); /* In S2's memory... */
    assert_int_equal(persisted_index(1), 1);   /* ...not on its disk. */

    kill_node(0);
    cur->n_votes = 0;
    favour(1);
    t0 = cur->f.time;
    while (leader() == cur->n && cur->f.time - t0 < 5000) {
        raft_fixture_step(&cur->f);
    }
    return leader();
}

/* A candidate whose last entries are only in memory (disk latency) asks for
 * votes with its persisted tail (index 1), so S3, which persisted them,
 * refuses it: it is not elected in 5 s of trying, S3 is. */
static void candidate_advertises_persisted_tail(void **state)
{
    unsigned n_from_s2 = 0;
    unsigned l;

    (void)state;
    fprintf(stderr, "seed=0 (scripted)\n");
    cluster_start(3, 0, false);
    l = unpersisted_candidate();
    assert_true(l != 1); /* S3 refused S2 all along. */
    for (unsigned k = 0; k < cur->n_votes; k++) {
        if (cur->votes[k].from == 1) {
            n_from_s2++;
            assert_int_equal(cur->votes[k].last_index, 1);
            assert_int_equal(cur->votes[k].last_term, 1);
        }
    }
    assert_true(n_from_s2 > 0);
    /* S3 may have won already (it grants no vote to S2, but once it has
     * forgotten the dead leader S2 may grant it one, FORGET_LEADER); else
     * 0.15's fixed timeouts keep S2 first in every round, and S3 needs a
     * head start to win; with it, it does: its log has what S2 has. */
    if (l != 2) {
        elect(2);
    }
    assert_true(raft_io_guard_stats(&cur->nodes[1].guard)->votes_clamped > 0);
    assert_no_violation();
    cluster_stop(cur);
}

/* The same without the vote clamp: S2 advertises its in-memory tail
 * (index 4, term 2) and is elected on entries it has not persisted (C5). */
static void candidate_without_clamp_advertises_memory(void **state)
{
    bool advertised = false;
    unsigned l;

    (void)state;
    fprintf(stderr, "seed=0 (scripted)\n");
    cluster_start(3, RAFT_IO_GUARD_VOTE_TAIL, false);
    l = unpersisted_candidate();
    for (unsigned k = 0; k < cur->n_votes; k++) {
        if (cur->votes[k].from == 1 && cur->votes[k].last_index == 4) {
            advertised = true;
        }
    }
    assert_true(advertised);
    assert_int_equal(l, 1);
    assert_true(persisted_index(1) < log_last(&R(1)->log));
    cluster_stop(cur);
}

/* ---- 3. Storage failures stop the server -------------------------------- */

struct ready {
    raft_index index; /* Out: the leader's last index. */
};

/* A live leader has applied the barrier of its term and every live server
 * has applied everything it has. */
static bool settled(void *arg)
{
    struct ready *ready = arg;
    unsigned l = leader();
    raft_index last;

    if (l == cur->n || cur->nodes[l].barrier_done_term != R(l)->current_term) {
        return false;
    }
    last = log_last(&R(l)->log);
    for (unsigned i = 0; i < cur->n; i++) {
        if (alive(i) && R(i)->last_applied != last) {
            return false;
        }
    }
    if (ready != NULL) {
        ready->index = last;
    }
    return true;
}

/* Every acknowledged value is applied at its index on every live server,
 * and the live servers applied the same sequence. */
static void check_live_agree(void)
{
    unsigned first = cur->n;

    for (unsigned i = 0; i < cur->n; i++) {
        struct node *a;
        struct node *b;
        if (!alive(i)) {
            continue;
        }
        for (size_t k = 0; k < cur->n_acked; k++) {
            if (applied_at(i, cur->acked[k].index) != cur->acked[k].value) {
                fail_msg("server %u lacks acknowledged value %llu at %llu", i,
                         (unsigned long long)cur->acked[k].value,
                         cur->acked[k].index);
            }
        }
        if (first == cur->n) {
            first = i;
            continue;
        }
        a = &cur->nodes[first];
        b = &cur->nodes[i];
        if (a->n_applied != b->n_applied ||
            (a->n_applied > 0 &&
             memcmp(a->applied, b->applied,
                    a->n_applied * sizeof *a->applied) != 0)) {
            fail_msg("servers %u and %u applied different sequences (%zu and "
                     "%zu entries)",
                     first, i, a->n_applied, b->n_applied);
        }
    }
}

/* Three servers, S1 leading with two commands applied everywhere; then
 * @victim's next append fails (@async: in its callback, else on return).
 * The fatal hook must stop exactly @victim; the two others go on electing
 * and committing. */
static void storage_failure(unsigned victim, bool async)
{
    struct ready ready;
    unsigned l;
    int rv;

    fprintf(stderr, "seed=0 (scripted)\n");
    cluster_start(3, 0, false);
    cur->barrier_policy = true;
    elect(0);
    for (unsigned k = 0; k < 2; k++) {
        assert_int_equal(propose(0, NULL, NULL), 0);
    }
    assert_true(step_until(settled, NULL, 5000));

    if (async) {
        cur->nodes[victim].fail_next_async = true;
    } else {
        cur->nodes[victim].fail_next_sync = true;
    }
    /* Even when S1's own append fails on call, raft_apply() succeeds: the
     * hook stopped S1 and the decorator keeps 0.15's error paths away. */
    rv = propose(0, NULL, NULL);
    assert_int_equal(rv, 0);
    step_ms(100);
    for (unsigned i = 0; i < 3; i++) {
        assert_int_equal(cur->nodes[i].n_fatal, i == victim ? 1 : 0);
        assert_int_equal(raft_io_guard_failed(&cur->nodes[i].guard),
                         i == victim);
    }
    assert_non_null(strstr(cur->nodes[victim].fatal_msg, "append"));
    assert_false(alive(victim));

    /* The survivors (re-)elect a leader, which commits its barrier and
     * three new commands on both. */
    spread_timeouts();
    assert_true(step_until(settled, NULL, 20000));
    l = leader();
    assert_true(l != victim);
    for (unsigned k = 0; k < 3; k++) {
        assert_int_equal(propose(l, NULL, NULL), 0);
    }
    assert_true(step_until(settled, &ready, 5000));
    assert_true(ready.index >= 8);
    check_live_agree();
    assert_no_violation();
    cluster_stop(cur);
}

/* The leader's disk refuses a write (append returns an error): the leader
 * stops, the two followers elect one of them and commit. */
static void leader_append_error_stops_leader(void **state)
{
    (void)state;
    storage_failure(0, false);
}

/* The leader's write fails after the entry was sent (the append callback
 * reports RAFT_IOERR, C3's trigger): the leader stops; the entry's outcome
 * is unknown, but the followers agree on it and go on. */
static void leader_append_callback_error_stops_leader(void **state)
{
    (void)state;
    storage_failure(0, true);
}

/* A follower's disk refuses a write: the follower stops, the leader and the
 * other follower go on committing. */
static void follower_append_error_stops_follower(void **state)
{
    (void)state;
    storage_failure(1, false);
}

/* A follower's write fails in its callback (C4's trigger): the follower
 * stops instead of keeping the entries in memory only. */
static void follower_append_callback_error_stops_follower(void **state)
{
    (void)state;
    storage_failure(1, true);
}

static bool s2_stopped(void *arg)
{
    (void)arg;
    return cur->nodes[1].n_fatal > 0;
}

/* S1 goes down; S2 times out first, and persisting its new term fails
 * (raft_fixture_io_fault() on its next I/O call, which is set_term in
 * electionStart()). S2 stops before libraft sees the error (0.15 would
 * free a garbage pointer: C11); S3, S4 and S5 elect and commit. */
static void candidate_term_write_error_stops_candidate(void **state)
{
    (void)state;
    fprintf(stderr, "seed=0 (scripted)\n");
    cluster_start(5, 0, false);
    cur->barrier_policy = true;
    elect(0);
    assert_int_equal(propose(0, NULL, NULL), 0);
    assert_true(step_until(settled, NULL, 5000));
    kill_node(0);
    raft_fixture_io_fault(&cur->f, 1, 0, 1);
    favour(1);
    assert_true(step_until(s2_stopped, NULL, 5000));
    assert_non_null(strstr(cur->nodes[1].fatal_msg, "persist term"));
    assert_false(alive(1));
    spread_timeouts();
    assert_true(step_until(settled, NULL, 20000));
    for (unsigned k = 0; k < 3; k++) {
        assert_int_equal(propose(leader(), NULL, NULL), 0);
    }
    assert_true(step_until(settled, NULL, 5000));
    check_live_agree();
    assert_no_violation();
    cluster_stop(cur);
}

/* ---- C6: an install that outlives its leader --------------------------- */

static bool s3_installing(void *arg)
{
    (void)arg;
    return R(2)->snapshot.put.data != NULL && R(2)->last_stored == 0;
}

/* S1 leads and compacts its log (snapshot every 4 entries, 1 trailing)
 * while S3 is down; S3 comes back with a slow disk (5 s), so the snapshot
 * S1 sends it takes 5 s to store. S1 and S2 then go down: S3 becomes a
 * candidate while storing, and the install completes while it is one. */
static void install_outlives_leader(void)
{
    struct at_index a = {1, 12};
    raft_index snapshot_index;

    cur->snapshots = true;
    for (unsigned i = 0; i < cur->n; i++) {
        raft_set_snapshot_threshold(R(i), 4);
        raft_set_snapshot_trailing(R(i), 1);
    }
    elect(0);
    kill_node(2);
    for (unsigned k = 0; k < 11; k++) {
        assert_int_equal(propose(0, NULL, NULL), 0);
    }
    assert_true(step_until(has_applied, &a, 3000));
    snapshot_index = R(0)->log.snapshot.last_index;
    assert_true(snapshot_index >= 8);

    raft_fixture_set_disk_latency(&cur->f, 2, 5000);
    revive_node(2);
    assert_true(step_until(s3_installing, NULL, 3000));
    kill_node(0);
    kill_node(1);
    cur->n_votes = 0;
    cur->n_stray_results = 0;
    step_ms(7000);
    assert_int_equal(R(2)->state, RAFT_CANDIDATE);
    assert_true(R(2)->log.snapshot.last_index >= snapshot_index);
}

/* Without the protections (the vote tail, follower-only replies, and the
 * ack clamp, whose stale-term drop also stops that reply), S3 asks for
 * votes with the index of the snapshot it has not stored yet, and when the
 * store completes it answers "the leader" through follower_state while a
 * candidate: the message goes to a server id made of a candidate_state
 * pointer, with a garbage address (raft_uv would read it: C6). */
static void install_without_guard_replies_to_garbage(void **state)
{
    bool advertised = false;

    (void)state;
    fprintf(stderr, "seed=0 (scripted)\n");
    cluster_start(3,
                  RAFT_IO_GUARD_FOLLOWER_ONLY | RAFT_IO_GUARD_VOTE_TAIL |
                      RAFT_IO_GUARD_ACK_CLAMP,
                  false);
    install_outlives_leader();
    for (unsigned k = 0; k < cur->n_votes; k++) {
        if (cur->votes[k].from == 2 && cur->votes[k].installing &&
            cur->votes[k].last_index >= 8) {
            advertised = true;
        }
    }
    assert_true(advertised);
    assert_true(cur->n_stray_results > 0);
    cluster_stop(cur);
}

/* With the decorator, S3's votes during the store advertise what is on its
 * disk, and the reply from the completed store is dropped. */
static void install_with_guard_stays_quiet(void **state)
{
    unsigned n_installing = 0;

    (void)state;
    fprintf(stderr, "seed=0 (scripted)\n");
    cluster_start(3, 0, false);
    install_outlives_leader();
    for (unsigned k = 0; k < cur->n_votes; k++) {
        if (cur->votes[k].from == 2 && cur->votes[k].installing) {
            n_installing++;
            assert_true(cur->votes[k].last_index < 8);
        }
    }
    assert_true(n_installing > 0);
    assert_int_equal(cur->n_stray_results, 0);
    assert_true(raft_io_guard_stats(&cur->nodes[2].guard)->acks_not_follower >
                0);
    assert_no_violation();
    cluster_stop(cur);
}

/* ---- P4: a membership change written while the follower turns candidate */

static struct raft_change change_req; /* Outlives a failed test's cluster. */

static bool s3_holds(void *arg)
{
    return log_last(&R(2)->log) >= *(raft_index *)arg;
}

static bool s3_stored(void *arg)
{
    return R(2)->last_stored >= *(raft_index *)arg;
}

static bool s3_committed(void *arg)
{
    return R(2)->configuration_index >= *(raft_index *)arg;
}

/* Five voters; S1 leads and removes S5 (five, not four: this file's
 * commit check counts a majority of every server started, and the new
 * configuration's majority must be one of those). S3's disk takes 5 s, so
 * S3 holds
 * the change in memory at once but stores it 5 s later; it is cut off from
 * everyone as soon as it holds it, and its election timer (1.9 s) runs out
 * while the write is in flight. Returns the change's index, once S3 has
 * stored it. */
static raft_index change_outlives_follower(void)
{
    raft_index index;

    cur->barrier_policy = true;
    elect(0);
    assert_true(step_until(settled, NULL, 5000));
    raft_fixture_set_disk_latency(&cur->f, 2, 5000);
    index = log_last(&R(0)->log) + 1;
    memset(&change_req, 0, sizeof change_req);
    assert_int_equal(raft_remove(R(0), &change_req, 5, NULL), 0);
    assert_true(step_until(s3_holds, &index, 2000));
    assert_true(persisted_index(2) < index);
    assert_int_equal(R(2)->configuration.n, 5);
    for (unsigned j = 0; j < cur->n; j++) {
        if (j != 2) {
            cut(2, j);
        }
    }
    assert_true(step_until(s3_stored, &index, 8000));
    assert_int_equal(log_entry(&R(2)->log, index)->type, RAFT_CHANGE);
    return index;
}

/* Without the protection, S3 is a candidate when the write completes, and
 * 0.15 never makes the change its configuration (appendFollowerCb() returns
 * before membershipUncommittedChange()): S3 keeps five servers while its
 * log ends with the four-server change (P4). */
static void change_without_guard_is_never_adopted(void **state)
{
    raft_index index;

    (void)state;
    fprintf(stderr, "seed=0 (scripted)\n");
    cluster_start(5, RAFT_IO_GUARD_HOLD_CANDIDACY, false);
    index = change_outlives_follower();
    assert_int_equal(R(2)->state, RAFT_CANDIDATE);
    assert_int_equal(R(2)->configuration.n, 5);
    assert_true(R(2)->configuration_uncommitted_index != index);
    /* Healed, S3 commits the change: applyChange() moves
     * configuration_index past it and leaves the five servers. */
    kill_node(4);
    for (unsigned j = 0; j < 4; j++) {
        if (j != 2) {
            uncut(2, j);
        }
    }
    spread_timeouts();
    assert_true(step_until(s3_committed, &index, 20000));
    assert_true(R(2)->configuration_index >= index);
    assert_int_equal(R(2)->configuration.n, 5);
    cluster_stop(cur);
}

/* With the decorator, S3 stays a follower until the write completes (its
 * expired election timer is restarted), adopts the change as 0.15 does for
 * a follower, and only then runs for election; healed, the cluster agrees
 * on four servers. */
static void change_with_guard_is_adopted(void **state)
{
    raft_index index;

    (void)state;
    fprintf(stderr, "seed=0 (scripted)\n");
    cluster_start(5, 0, false);
    index = change_outlives_follower();
    assert_int_equal(R(2)->configuration.n, 4);
    assert_int_equal(R(2)->configuration_uncommitted_index, index);
    assert_true(
        raft_io_guard_stats(&cur->nodes[2].guard)->candidacies_held > 0);
    kill_node(4); /* Removed: shut down, as an operator would. */
    for (unsigned j = 0; j < 4; j++) {
        if (j != 2) {
            uncut(2, j);
        }
    }
    spread_timeouts();
    assert_true(step_until(settled, NULL, 20000));
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(R(i)->configuration.n, 4);
        assert_true(R(i)->configuration_index >= index);
        assert_int_equal(R(i)->configuration_uncommitted_index, 0);
    }
    assert_no_violation();
    cluster_stop(cur);
}

/* ---- 4. A follower's reply claims no more than it checked --------------- */

static bool follows_s3(void *arg)
{
    (void)arg;
    return R(1)->state == RAFT_FOLLOWER &&
           R(1)->current_term == R(2)->current_term &&
           R(1)->follower_state.current_leader.id == 3;
}

/* S2 holds a stale tail (indexes 3..5 of term 2) that S1 wrote on S1 and S2
 * only. S1 and, after the election, S5 go down; S3 is elected by S3, S4 and
 * S5. S3's first heartbeat checks S2 up to index 2 only, and S2's reply is
 * slow (network latency 200 ms); S3's later messages to S2 are lost.
 * Meanwhile S3 writes E at index 3 (its own term) on S3 and S4. Returns when
 * S2's reply has had time to land. */
static void stale_tail(void)
{
    struct at_index a = {4, 2};

    elect(0);
    assert_int_equal(propose(0, NULL, NULL), 0); /* A at 2, everywhere. */
    assert_true(step_until(has_applied, &a, 2000));
    cut(0, 2);
    cut(0, 3);
    cut(0, 4);
    for (unsigned k = 0; k < 3; k++) {
        assert_int_equal(propose(0, NULL, NULL), 0);
    }
    a = (struct at_index){1, 5};
    assert_true(step_until(has_persisted, &a, 1000));
    kill_node(0);

    raft_fixture_set_network_latency(&cur->f, 1, 200);
    elect(2);
    kill_node(4);
    /* Once S2 has S3's first heartbeat (and has answered it), nothing more
     * from S3 reaches S2: S2 keeps B at index 3. */
    assert_true(step_until(follows_s3, NULL, 1000));
    raft_fixture_saturate(&cur->f, 2, 1);
    assert_int_equal(propose(2, NULL, NULL), 0); /* E at 3. */
    step_ms(400);
}

/* Without the ack clamp, S2 answers S3's heartbeat with its whole stale tail
 * (last_log_index 5); S3 caps it at its own last index, 3, and commits E
 * counting S2, which holds B there: E is committed on two disks of five
 * (C7). */
static void stale_tail_without_clamp_commits_on_minority(void **state)
{
    (void)state;
    fprintf(stderr, "seed=0 (scripted)\n");
    cluster_start(5, RAFT_IO_GUARD_ACK_CLAMP, false);
    stale_tail();
    assert_int_equal(R(2)->commit_index, 3);
    assert_true(cur->n_violations > 0);
    assert_non_null(strstr(cur->violation, "committed index 3"));
    fprintf(stderr, "  reproduced: %s\n", cur->violation);
    cluster_stop(cur);
}

/* With the decorator, S2's reply claims index 2, what the heartbeat checked,
 * so E stays uncommitted until a real majority holds it. */
static void stale_tail_with_guard_claims_checked_range(void **state)
{
    (void)state;
    fprintf(stderr, "seed=0 (scripted)\n");
    cluster_start(5, 0, false);
    stale_tail();
    assert_int_equal(R(2)->commit_index, 2);
    assert_true(raft_io_guard_stats(&cur->nodes[1].guard)->acks_clamped > 0);
    assert_no_violation();
    cluster_stop(cur);
}

/* ---- 5. Pre-vote refusals carry the voter's term ------------------------ */

static bool has_leader(void *arg)
{
    (void)arg;
    return leader() != cur->n;
}

static bool not_leader(void *arg)
{
    unsigned i = *(unsigned *)arg;
    return R(i)->state != RAFT_LEADER;
}

static raft_term gap_terms[4];

/* Five servers with pre-vote. S1 and S2 end up in term 2 with the longer
 * log (A, B, C); S3 and S4 in term 4 or more with only A, because S3, S4
 * and S5 elected two leaders, neither of which wrote anything, while cut
 * off from S1 and S2; S5 then dies. Everything else heals. Returns the
 * leader after 30 s, or cur->n. */
static unsigned prevote_term_gap(void)
{
    struct at_index a = {4, 2};
    unsigned s3 = 2;
    unsigned s4 = 3;

    elect(0);
    assert_int_equal(propose(0, NULL, NULL), 0); /* A at 2, everywhere. */
    assert_true(step_until(has_applied, &a, 2000));
    for (unsigned i = 0; i < 2; i++) {
        for (unsigned j = 2; j < 5; j++) {
            cut(i, j);
        }
    }
    for (unsigned k = 0; k < 2; k++) {
        assert_int_equal(propose(0, NULL, NULL), 0); /* B, C: S1, S2. */
    }
    a = (struct at_index){1, 4};
    assert_true(step_until(has_persisted, &a, 1000));

    /* A leader with no entry of its own term is deposed after an election
     * timeout (the decorator's result gate): two terms go by. */
    elect(s3);
    assert_true(step_until(not_leader, &s3, 5000));
    elect(s4);
    assert_true(R(s4)->current_term >= 4);
    kill_node(4);
    assert_true(step_until(not_leader, &s4, 5000));

    for (unsigned i = 0; i < 2; i++) {
        for (unsigned j = 2; j < 4; j++) {
            uncut(i, j);
        }
    }
    spread_timeouts();
    for (unsigned i = 0; i < 4; i++) {
        gap_terms[i] = R(i)->current_term;
    }
    fprintf(stderr, "  terms: %llu %llu %llu %llu\n", gap_terms[0],
            gap_terms[1], gap_terms[2], gap_terms[3]);
    step_until(has_leader, NULL, 30000);
    return leader();
}

/* Without the fix, S1 and S2 ask for pre-votes in term 3 and are refused by
 * S3 and S4 "in term 3" (0.15 echoes the request's term), so they never
 * learn the higher term; S3 and S4 are refused for their shorter log. No
 * term ever moves and no leader is ever elected (P1). */
static void prevote_without_term_fix_deadlocks(void **state)
{
    (void)state;
    fprintf(stderr, "seed=0 (scripted)\n");
    cluster_start(5, RAFT_IO_GUARD_PREVOTE_TERM, true);
    assert_int_equal(prevote_term_gap(), cur->n);
    /* A fixed point: 30 s later nobody's term moved. */
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(R(i)->current_term, gap_terms[i]);
        assert_int_equal(R(i)->state, RAFT_CANDIDATE);
    }
    cluster_stop(cur);
}

/* With the decorator, S3's and S4's refusals carry their term, S1 and S2
 * move up to it, and one of them is elected. */
static void prevote_refusal_carries_voter_term(void **state)
{
    unsigned l;

    (void)state;
    fprintf(stderr, "seed=0 (scripted)\n");
    cluster_start(5, 0, true);
    l = prevote_term_gap();
    assert_true(l == 0 || l == 1);
    fprintf(stderr, "  server %u leads term %llu\n", l, R(l)->current_term);
    assert_true(raft_io_guard_stats(&cur->nodes[2].guard)->prevote_terms +
                    raft_io_guard_stats(&cur->nodes[3].guard)->prevote_terms >
                0);
    assert_no_violation();
    cluster_stop(cur);
}

/* ---- 6. Random schedules ------------------------------------------------- */

/* SplitMix64. */
static uint64_t rnd(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned below(uint64_t *state, unsigned n)
{
    return (unsigned)(rnd(state) % n);
}

static void heal_all(void)
{
    for (unsigned i = 0; i < cur->n; i++) {
        for (unsigned j = i + 1; j < cur->n; j++) {
            uncut(i, j);
        }
    }
}

static unsigned n_alive(void)
{
    unsigned n = 0;
    for (unsigned i = 0; i < cur->n; i++) {
        n += alive(i) ? 1 : 0;
    }
    return n;
}

/* The same entry (term, type, bytes) at every index up to the lowest commit
 * index of the live servers, where both still hold it (not in a snapshot:
 * the applied records, compared by check_live_agree(), cover those). */
static void check_logs_agree(void)
{
    raft_index commit = UINT64_MAX;
    unsigned first = cur->n;

    for (unsigned i = 0; i < cur->n; i++) {
        if (alive(i)) {
            if (first == cur->n) {
                first = i;
            }
            if (R(i)->commit_index < commit) {
                commit = R(i)->commit_index;
            }
        }
    }
    for (raft_index index = 1; first < cur->n && index <= commit; index++) {
        const struct raft_entry *a = log_entry(&R(first)->log, index);
        for (unsigned i = first + 1; i < cur->n; i++) {
            const struct raft_entry *b;
            if (!alive(i)) {
                continue;
            }
            b = log_entry(&R(i)->log, index);
            if (a == NULL || b == NULL) {
                continue; /* At or below its snapshot. */
            }
            if (a->term != b->term ||
                a->type != b->type || a->buf.len != b->buf.len ||
                (a->buf.len > 0 &&
                 memcmp(a->buf.base, b->buf.base, a->buf.len) != 0)) {
                fail_msg("servers %u and %u hold different entries at "
                         "committed index %llu",
                         first, i, index);
            }
        }
    }
}

static const unsigned disk_latencies[] = {10, 10, 30, 200, 800, 2500, 6000};
static const unsigned net_latencies[] = {5, 15, 15, 40, 150, 600};

/* Five servers with the decorator and the node's policies (pre-vote, a
 * barrier at the start of every term) under @ms of random partitions,
 * kills, revivals, disk and network latencies and at most one storage
 * failure, proposing all along, taking snapshots on even seeds; then
 * everything heals. */
static void random_schedule(uint64_t seed, unsigned ms, unsigned disable)
{
    uint64_t s = seed;
    struct ready ready;
    bool faulted = false;
    struct raft_io_guard_stats sum;

    cluster_start(5, disable, true);
    cur->barrier_policy = true;
    if (seed % 2 == 0) {
        /* Every other seed takes snapshots often, so servers that fall
         * behind get InstallSnapshot. */
        cur->snapshots = true;
        for (unsigned i = 0; i < cur->n; i++) {
            raft_set_snapshot_threshold(R(i), 8 + below(&s, 56));
            raft_set_snapshot_trailing(R(i), 1 + below(&s, 16));
        }
    }
    spread_timeouts();
    while (cur->f.time < ms) {
        unsigned action = below(&s, 100);
        unsigned i = below(&s, cur->n);
        unsigned j = below(&s, cur->n);
        unsigned l = leader();

        if (action < 40) {
            for (unsigned k = below(&s, 4); l != cur->n && k > 0; k--) {
                (void)propose(l, NULL, NULL);
            }
        } else if (action < 50) {
            if (i != j) {
                cut(i, j);
            }
        } else if (action < 60) {
            if (i != j) {
                uncut(i, j);
            }
        } else if (action < 67) {
            if (alive(i) && n_alive() > 2) {
                kill_node(i);
            }
        } else if (action < 77) {
            if (!alive(i)) {
                revive_node(i);
            }
        } else if (action < 86) {
            raft_fixture_set_disk_latency(
                &cur->f, i,
                disk_latencies[below(&s, sizeof disk_latencies /
                                             sizeof disk_latencies[0])]);
        } else if (action < 91) {
            raft_fixture_set_network_latency(
                &cur->f, i,
                net_latencies[below(&s, sizeof net_latencies /
                                            sizeof net_latencies[0])]);
        } else if (action < 95) {
            heal_all();
        } else if (action < 99) {
            raft_fixture_set_randomized_election_timeout(
                &cur->f, i, ELECTION_TIMEOUT + below(&s, ELECTION_TIMEOUT));
        } else if (!faulted && (disable & RAFT_IO_GUARD_FAIL_STOP) == 0 &&
                   below(&s, 3) == 0) {
            faulted = true;
            if (below(&s, 2) == 0) {
                cur->nodes[i].fail_next_sync = true;
            } else {
                cur->nodes[i].fail_next_async = true;
            }
        }
        step_ms(10 + below(&s, 150));
        if (cur->n_violations > 0) {
            break;
        }
    }
    assert_no_violation();

    /* Heal: every server that did not stop comes back, disks and network
     * get fast; the cluster must converge. */
    heal_all();
    for (unsigned i = 0; i < cur->n; i++) {
        revive_node(i);
        raft_fixture_set_disk_latency(&cur->f, i, 10);
        raft_fixture_set_network_latency(&cur->f, i, 15);
    }
    spread_timeouts();
    if (!step_until(settled, &ready, 60000)) {
        unsigned l = leader();
        dump();
        fail_msg("no convergence after healing (leader %u, term %llu)", l,
                 l < cur->n ? R(l)->current_term : 0);
    }
    assert_no_violation();
    check_live_agree();
    check_logs_agree();
    memset(&sum, 0, sizeof sum);
    for (unsigned i = 0; i < cur->n; i++) {
        const struct raft_io_guard_stats *st =
            raft_io_guard_stats(&cur->nodes[i].guard);
        sum.results_dropped += st->results_dropped;
        sum.votes_clamped += st->votes_clamped;
        sum.acks_clamped += st->acks_clamped;
        sum.acks_stale += st->acks_stale;
        sum.acks_not_follower += st->acks_not_follower;
        sum.inbound_dropped += st->inbound_dropped;
        sum.prevote_terms += st->prevote_terms;
        sum.snapshot_acks += st->snapshot_acks;
        sum.snapshot_skips += st->snapshot_skips;
        sum.fatal += st->fatal;
    }
    fprintf(stderr,
            "  %zu acknowledged, last index %llu, term %llu; guard: %llu "
            "results dropped, %llu votes clamped, %llu acks clamped, %llu "
            "stale, %llu not follower, %llu inbound dropped, %llu pre-vote "
            "terms, %llu snapshot acks, %llu snapshot skips, %u stopped\n",
            cur->n_acked, ready.index, R(leader())->current_term,
            sum.results_dropped, sum.votes_clamped, sum.acks_clamped,
            sum.acks_stale, sum.acks_not_follower, sum.inbound_dropped,
            sum.prevote_terms, sum.snapshot_acks, sum.snapshot_skips,
            sum.fatal);
    cluster_stop(cur);
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? strtoull(v, NULL, 10) : dflt;
}

/* Many seeded random schedules of partitions, kills, revivals, latencies
 * and a storage failure: one leader per term, each index applied once and
 * in order, the same value at each index everywhere, every commit on a
 * majority of disks, the same committed entries everywhere, every
 * acknowledged value applied on every live server at the end. */
static void random_schedules_keep_safety(void **state)
{
    uint64_t n_seeds = env_u64("WR_RAFT_SAFETY_SEEDS", 200);
    uint64_t first = 1;
    unsigned disable = (unsigned)env_u64("WR_RAFT_SAFETY_DISABLE", 0);

    (void)state;
    if (getenv("WR_SEED") != NULL) {
        first = env_u64("WR_SEED", 1);
        n_seeds = 1;
    }
    for (uint64_t seed = first; seed < first + n_seeds; seed++) {
        fprintf(stderr, "seed=%llu\n", (unsigned long long)seed);
        random_schedule(seed, 30000, disable);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(
            figure8_without_gate_overwrites_applied_entry, teardown),
        cmocka_unit_test_teardown(
            figure8_with_guard_applies_no_overwritten_entry, teardown),
        cmocka_unit_test_teardown(
            held_results_commit_without_waiting_for_heartbeat, teardown),
        cmocka_unit_test_teardown(dropped_results_wait_for_heartbeat,
                                  teardown),
        cmocka_unit_test_teardown(silent_leader_is_forgotten_for_votes,
                                  teardown),
        cmocka_unit_test_teardown(remembered_leader_delays_election,
                                  teardown),
        cmocka_unit_test_teardown(candidate_without_clamp_advertises_memory,
                                  teardown),
        cmocka_unit_test_teardown(candidate_advertises_persisted_tail,
                                  teardown),
        cmocka_unit_test_teardown(leader_append_error_stops_leader, teardown),
        cmocka_unit_test_teardown(leader_append_callback_error_stops_leader,
                                  teardown),
        cmocka_unit_test_teardown(follower_append_error_stops_follower,
                                  teardown),
        cmocka_unit_test_teardown(
            follower_append_callback_error_stops_follower, teardown),
        cmocka_unit_test_teardown(candidate_term_write_error_stops_candidate,
                                  teardown),
        cmocka_unit_test_teardown(install_without_guard_replies_to_garbage,
                                  teardown),
        cmocka_unit_test_teardown(install_with_guard_stays_quiet, teardown),
        cmocka_unit_test_teardown(
            stale_tail_without_clamp_commits_on_minority, teardown),
        cmocka_unit_test_teardown(stale_tail_with_guard_claims_checked_range,
                                  teardown),
        cmocka_unit_test_teardown(change_without_guard_is_never_adopted,
                                  teardown),
        cmocka_unit_test_teardown(change_with_guard_is_adopted, teardown),
        cmocka_unit_test_teardown(prevote_without_term_fix_deadlocks,
                                  teardown),
        cmocka_unit_test_teardown(prevote_refusal_carries_voter_term,
                                  teardown),
        cmocka_unit_test_teardown(random_schedules_keep_safety, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
