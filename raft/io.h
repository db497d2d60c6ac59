/*
 * A `struct raft_io` decorator that keeps libraft 0.15's core correct when its
 * own code would not be (shared/research/libraft.md, section 2, level B;
 * ARCHITECTURE.md section 8). It sits between the core and the real I/O
 * (raft_uv in the node, raft_fixture's in-memory I/O in tests) and:
 *
 *  - fail-stops on every storage error (append, both its return value and
 *    its callback status; truncate; snapshot_put; set_term; set_vote;
 *    bootstrap; recover) before the core sees it: 0.15 mishandles all of
 *    them (C3, C4, C10, C11, C13, U1);
 *  - tracks the persisted log tail (index and term of the last completed
 *    append, lowered by truncate, set by a snapshot install) and makes every
 *    outgoing RequestVote, pre-vote included, advertise it instead of the
 *    in-memory tail (C5, and C6's early logRestore);
 *  - on a leader, drops inbound AppendEntries results while the persisted
 *    last term is below current_term, so the leader cannot commit an earlier
 *    term's entry by counting replicas (C1, the Raft paper's Figure 8);
 *  - sends no AppendEntries result from an append or snapshot completion
 *    unless the node is a follower, deciding before the message's address
 *    is read (C6; a candidate's or leader's refusal sent from inside recv,
 *    to the sender of the message refused, goes out), and drops
 *    AppendEntries and InstallSnapshot messages of a leader's own term (only
 *    a second leader in the same term could send them; 0.15 would corrupt
 *    its leader state);
 *  - clamps a follower's success reply to what it checked and persisted:
 *    the persisted tail, and the range of the AppendEntries (or the index of
 *    the InstallSnapshot) being answered; drops replies from an append or
 *    snapshot completion once current_term moved on since it was issued
 *    (C7, C8);
 *  - puts the node's own term in a pre-vote refusal when it is above the
 *    requested one (0.15 echoes the request's term, so a candidate behind
 *    in term never learns it and a cluster can deadlock for good: P1 in
 *    raft/README.md, found by this tree's random schedules);
 *  - keeps a follower from turning candidate while an append it issued
 *    holding a RAFT_CHANGE entry is in flight (0.15 adopts a follower's
 *    change only if the append completes while it is still a follower: P4,
 *    found by this tree's chaos schedules; upstream's own fix, 634cb11);
 *  - after a snapshot install, clears the mark of a membership change the
 *    snapshot already covers (0.15's snapshotRestore() leaves
 *    configuration_uncommitted_index set for good: the node would refuse
 *    every later change as leader, and never snapshot again: P5);
 *  - rolls back an uncommitted membership change itself, from a copy of the
 *    last committed configuration it keeps, when an AppendEntries that
 *    overwrites the change reaches a follower whose committed configuration
 *    entry is already compacted into a snapshot (0.15's membershipRollback()
 *    decodes that entry from the in-memory log and dereferences NULL: C9);
 *  - makes an AppendEntries that starts below the node's own snapshot start
 *    at it, and answers an InstallSnapshot older than that snapshot with the
 *    snapshot's index (0.15 refuses the former forever, or with
 *    prev_log_index 0 corrupts its log, and keeps the leader re-sending the
 *    older snapshot: P3, also found by the random schedules).
 *
 * The decorator is a second `struct raft_io` (the first member of struct
 * raft_io_guard) whose methods forward to the wrapped one; installing it
 * points `r->io` at it. A decorator patched into the wrapped table in place
 * would have nowhere to find its own state: the wrapped implementation owns
 * `io->impl` and the core owns `io->data`. The wrapped table is left
 * untouched, so code below the decorator (raft_uv_set_*(), a test's own
 * layer over raft_fixture) keeps working on it. Calls that the wrapped I/O
 * makes back into the core (tick, recv, close and request callbacks) still
 * come with the wrapped `struct raft_io *`, whose `data` is the raft
 * instance as before; the decorator finds itself through `r->io`. So it
 * must be the outermost layer: nothing may replace `r->io` after it.
 *
 * Everything runs on the raft instance's loop thread, like the core.
 */
#ifndef WR_RAFT_IO_H
#define WR_RAFT_IO_H

#include <stdbool.h>

#include <raft.h>

#include "../lib/err.h"

/* The protections, each a bit. All are on unless a test switches some off
 * (raft_io_guard_config.disable) to show the bug it prevents. */
enum {
    RAFT_IO_GUARD_FAIL_STOP = 1u << 0,     /* C3 C4 C10 C11 C13 U1 */
    RAFT_IO_GUARD_VOTE_TAIL = 1u << 1,     /* C5 C6 */
    RAFT_IO_GUARD_RESULT_GATE = 1u << 2,   /* C1 */
    RAFT_IO_GUARD_FOLLOWER_ONLY = 1u << 3, /* C6 */
    RAFT_IO_GUARD_ACK_CLAMP = 1u << 4,     /* C7 C8 */
    RAFT_IO_GUARD_PREVOTE_TERM = 1u << 5,  /* P1 (raft/README.md) */
    RAFT_IO_GUARD_SNAPSHOT_AHEAD = 1u << 6, /* P3 (raft/README.md) */
    RAFT_IO_GUARD_INSTALL_CONFIG = 1u << 7, /* P5 (raft/README.md) */
    RAFT_IO_GUARD_HOLD_CANDIDACY = 1u << 8,   /* P4 (raft/README.md) */
    RAFT_IO_GUARD_ROLLBACK_CONFIG = 1u << 9,  /* C9's rollback crash */
    RAFT_IO_GUARD_HOLD_RESULTS = 1u << 10, /* Speed, not safety: results the
                                              C1 gate keeps back are held,
                                              not dropped. */
    RAFT_IO_GUARD_FORGET_LEADER = 1u << 11, /* Speed: votes after the
                                               minimum election timeout. */
    RAFT_IO_GUARD_ALL = (1u << 12) - 1
};

/* Called once, with a sentence saying what failed, when the node must stop:
 * a storage error, or memory the decorator could not get for a write. The
 * default (NULL) logs the sentence with log_error() and calls abort(): the
 * supervisor restarts the node from disk. A hook that returns (tests only)
 * must cut the node off for good (tests call raft_fixture_kill()): the
 * decorator is failed from then on and keeps libraft away from 0.15's
 * error paths, which corrupt memory, by reporting that failure and every
 * later one as a success (io.c, guard_fatal()). */
typedef void (*raft_io_guard_fatal_cb)(void *arg, const char *msg);

struct raft_io_guard_config {
    raft_io_guard_fatal_cb on_fatal; /* NULL: log_error() and abort(). */
    void *on_fatal_arg;
    unsigned disable; /* Tests only: RAFT_IO_GUARD_* bits to switch off. */
};

/* What the decorator did, for tests and diagnostics. */
struct raft_io_guard_stats {
    unsigned long long results_dropped; /* C1: results before own term,
                                           held back (or lost if no room). */
    unsigned long long results_released; /* Held results delivered once an
                                            own-term entry was persisted. */
    unsigned long long leaders_forgotten; /* Silent leaders forgotten so a
                                             RequestVote can be granted. */
    unsigned long long votes_clamped;   /* C5: RequestVotes rewritten. */
    unsigned long long acks_clamped;    /* C7/C8: last_log_index lowered. */
    unsigned long long acks_stale;      /* C7: dropped, term moved on. */
    unsigned long long acks_not_follower; /* C6: dropped, not follower. */
    unsigned long long inbound_dropped; /* Same-term AE/snapshot to leader. */
    unsigned long long prevote_terms;   /* P1: pre-vote refusals given our
                                           term. */
    unsigned long long snapshot_acks;   /* P3: replies raised to our own
                                           snapshot. */
    unsigned long long snapshot_skips;  /* P3: AppendEntries rewritten to
                                           start at our snapshot. */
    unsigned long long config_marks_cleared; /* P5: a pending change the
                                                installed snapshot covers. */
    unsigned long long candidacies_held; /* P4: ticks on which a follower
                                            whose election timer had run out
                                            stayed follower, a change being
                                            written. */
    unsigned long long timeout_nows_dropped; /* P4: TimeoutNow dropped for
                                                the same reason. */
    unsigned long long config_rollbacks; /* C9: uncommitted changes rolled
                                            back from the decorator's copy,
                                            the committed configuration
                                            entry being compacted. */
    unsigned fatal;                     /* Times the fatal hook fired. */
};

struct raft_io_guard_append; /* One in-flight append, private (io.c). */
struct guard_dropped;         /* One dropped reply, private (io.c). */
struct guard_deferred;        /* One deferred request, private (io.c). */

/* Caller-allocated; fill it with raft_io_guard_install(). It must stay at
 * the same address until the raft instance's close callback has fired.
 * The decorator's close (raft_close() calls it) releases its copy of the
 * committed configuration. Nothing else needs releasing afterwards: each
 * in-flight request is freed by its completion, which every raft_io
 * implementation fires before its close callback, and the callbacks of
 * dropped replies (and of requests deferred after a fatal hook returned)
 * fire at close at the latest. */
/* Room for held-back results: senders, and the longest address kept. */
#define RAFT_IO_GUARD_HELD_MAX 8
#define RAFT_IO_GUARD_ADDRESS_MAX 64

struct raft_io_guard {
    struct raft_io io; /* What r->io points to once installed. */
    /* Private. */
    struct raft_io *inner_;
    struct raft *raft_;
    struct raft_io_guard_config config_;
    raft_io_tick_cb tick_;
    raft_io_recv_cb recv_;
    raft_index tail_index_; /* Persisted tail. */
    raft_term tail_term_;
    bool installing_; /* A snapshot install (trailing 0) is in flight. */
    raft_index install_index_;
    raft_term install_term_;
    unsigned change_appends_; /* Follower appends holding a RAFT_CHANGE
                                 entry, in flight (P4). */
    struct raft_configuration committed_; /* Copy of the configuration at */
    raft_index committed_index_;          /* this configuration_index (0:
                                             none), taken with no change
                                             pending (C9). */
    struct raft_io_guard_append *head_; /* In-flight appends, oldest */
    struct raft_io_guard_append *tail_; /* first. */
    struct guard_dropped *dropped_;   /* Replies dropped, callbacks due. */
    /* AppendEntries results held back from a leader that has not persisted
     * an entry of its own term (C1): the last one of each sender, of the
     * term in held_term_, delivered once it has (see io.c). */
    struct raft_io_guard_held {
        raft_id id;
        char address[RAFT_IO_GUARD_ADDRESS_MAX];
        struct raft_append_entries_result result;
    } held_[RAFT_IO_GUARD_HELD_MAX];
    unsigned n_held_;
    raft_term held_term_;
    struct guard_deferred *deferred_; /* After a fatal hook returned. */
    /* What the core is doing when it sends a reply (see io.c). */
    int ctx_kind_;
    raft_index ctx_bound_;
    raft_term ctx_term_;
    bool closing_;
    bool failed_;
    char fatal_msg_[WR_ERRMSG_SIZE];
    struct raft_io_guard_stats stats_;
};

/* Wrap the raft_io of @r in @g and point r->io at @g->io. Call it after
 * raft_init() (for raft_uv: after raft_uv_init() and raft_init(); in tests:
 * after raft_fixture_grow()) and before raft_bootstrap(), raft_recover() and
 * raft_start() (raft_fixture_bootstrap()/raft_fixture_start()). Returns 0,
 * or WR_INVALID if @r was already started (its state is not
 * RAFT_UNAVAILABLE). No reference to @config is kept (it is copied); it may
 * be NULL for the defaults. */
int raft_io_guard_install(struct raft_io_guard *g,
                          struct raft *r,
                          const struct raft_io_guard_config *config);

/* The wrapped raft_io (the one r->io pointed to before). */
struct raft_io *raft_io_guard_inner(const struct raft_io_guard *g);

/* The persisted tail as the decorator sees it: index and term of the last
 * entry known to be on stable storage (0 and 0 for an empty log). */
void raft_io_guard_persisted(const struct raft_io_guard *g,
                             raft_index *index,
                             raft_term *term);

/* True once the fatal hook fired. */
bool raft_io_guard_failed(const struct raft_io_guard *g);

/* The message given to the fatal hook, or "" if it never fired. */
const char *raft_io_guard_fatal_msg(const struct raft_io_guard *g);

/* Counters of what the decorator did; valid while @g is. */
const struct raft_io_guard_stats *raft_io_guard_stats(
    const struct raft_io_guard *g);

#endif /* WR_RAFT_IO_H */
