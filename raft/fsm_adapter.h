/*
 * The bridge between libraft and the state machine: a `struct raft_fsm`
 * (version 2: apply, snapshot, restore, snapshot_finalize) over `struct fsm`.
 *
 * libraft 0.15 retries a failed apply forever and a follower whose apply
 * fails becomes unavailable for good (shared/research/libraft.md section 3),
 * so apply never returns an error to libraft. A command the state machine
 * refuses (corrupt, unknown version) or cannot apply (disk, memory) is a
 * fatal condition for the node: the adapter calls its fatal hook, whose
 * default logs the message and exits the process so the supervisor restarts
 * it from disk. Tests install a hook that records the message instead; from
 * then on the adapter is stopped and applies nothing more, so a node never
 * applies garbage or anything after it.
 *
 * Every call happens on the node's event-loop thread, like libraft's.
 */
#ifndef WR_RAFT_FSM_ADAPTER_H
#define WR_RAFT_FSM_ADAPTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <raft.h>

#include "../fsm/fsm.h"
#include "../lib/err.h"

/* Called once, with a sentence saying what failed, when the node must stop.
 * The default logs it with log_error() and calls exit(1). A hook that
 * returns leaves the adapter stopped. */
typedef void (*fsm_adapter_fatal_cb)(void *arg, const char *msg);

/* Called after each command was applied, with the entry's index, its term
 * (0 if it could not be found, see fsm_adapter.c) and a 64-bit FNV-1a hash of
 * its bytes. Lets tests and the fault harness check that every node applied
 * the same entry at each index, each index once and in order. */
typedef void (*fsm_adapter_applied_cb)(void *arg,
                                       raft_index index,
                                       raft_term term,
                                       uint64_t hash);

/* Called after each command was applied, with its bytes (valid only during
 * the call). Tests use it to replay a node's log on another state machine. */
typedef void (*fsm_adapter_command_cb)(void *arg,
                                       raft_index index,
                                       const void *buf,
                                       size_t len);

struct fsm_adapter_config {
    fsm_adapter_fatal_cb fatal; /* NULL: log and exit(1). */
    void *fatal_arg;
    fsm_adapter_applied_cb on_applied; /* Optional. */
    void *on_applied_arg;
    fsm_adapter_command_cb on_command; /* Optional. */
    void *on_command_arg;
};

/* Caller-allocated. Hand &a->raft_fsm to raft_init() (or
 * raft_fixture_grow()); it must stay at the same address until the raft
 * instance is closed. */
/* What the adapter did with libraft's snapshot requests. */
struct fsm_adapter_stats {
    unsigned long long snapshots_taken;
    unsigned long long refused_config;  /* A membership change was not yet
                                           committed and applied (C9). */
    unsigned long long refused_fsm;     /* The fsm said not now (size
                                           policy, or one in progress). */
    unsigned long long restores;
};

struct fsm_adapter {
    struct raft_fsm raft_fsm;
    /* Private. */
    struct fsm *fsm_;
    struct raft *raft_;
    struct fsm_adapter_config config_;
    bool stopped_;
    char fatal_msg_[WR_ERRMSG_SIZE];
    /* The snapshot handed to libraft, until snapshot_finalize. */
    struct fsm_buf *snap_fsm_bufs_;
    unsigned snap_n_bufs_;
    struct raft_buffer *snap_raft_bufs_;
    /* Last applied index seen, to check that each index is applied once. */
    raft_index last_index_;
    struct fsm_adapter_stats stats_;
};

/* Counters since fsm_adapter_init(); valid while @a is. */
const struct fsm_adapter_stats *fsm_adapter_stats(const struct fsm_adapter *a);

/* Initialize @a over @f. No reference to @config is kept (its fields are
 * copied); @config may be NULL for the defaults. @f must outlive the adapter
 * and the raft instance using it. */
void fsm_adapter_init(struct fsm_adapter *a,
                      struct fsm *f,
                      const struct fsm_adapter_config *config);

/* Tell the adapter which raft instance drives it, once raft_init() has run.
 * Needed for the applied index and term and for refusing snapshots during a
 * configuration change; until it is set, snapshots are refused (RAFT_BUSY)
 * and applied entries are reported with index and term 0. */
void fsm_adapter_set_raft(struct fsm_adapter *a, struct raft *r);

/* Release what the adapter holds (a snapshot libraft never finalized). Call
 * after the raft instance is closed. Does not destroy the fsm. */
void fsm_adapter_close(struct fsm_adapter *a);

/* True once the fatal hook fired: the adapter applies nothing more. */
bool fsm_adapter_stopped(const struct fsm_adapter *a);

/* The message given to the fatal hook, or "" if it never fired. */
const char *fsm_adapter_fatal_msg(const struct fsm_adapter *a);

/* The adapter behind @rf, which must have been initialized by
 * fsm_adapter_init(). */
struct fsm_adapter *fsm_adapter_from_raft_fsm(struct raft_fsm *rf);

/* Hash of @len bytes at @buf (CRC-32C and length), as reported to
 * on_applied. */
uint64_t fsm_adapter_hash(const void *buf, size_t len);

#endif /* WR_RAFT_FSM_ADAPTER_H */
