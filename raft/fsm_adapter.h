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

/* When the adapter lets libraft take a snapshot, and how much of the log it
 * keeps after one. libraft 0.15 holds every entry since the last snapshot in
 * memory, plus `trailing` entries before it, and asks for a snapshot only
 * after applying entries, once `threshold` entries follow the last one; a
 * snapshot copies the whole of every database. So the policy weighs the
 * cost of a snapshot (the databases' size) against the memory the log holds
 * (its bytes), within hard caps. All zero: whenever libraft asks (the fsm's
 * own size rule still applies). Byte counts are those of the commands
 * applied since the last snapshot (fsm_log_bytes_since_snapshot()). */
struct fsm_adapter_policy {
    /* The cost rule: at least min_bytes and ratio_percent of the databases'
     * size (the file sizes on disk). */
    uint64_t min_bytes;
    unsigned ratio_percent;
    /* The caps: a snapshot is taken whatever the cost rule says once the
     * log since the last one holds this many bytes or entries (0: none).
     * The entry cap keeps 0.15 far from 262,144 entries (C14). */
    uint64_t max_bytes;
    uint64_t max_entries;
    /* Idle compaction: a request finding no command applied in the last
     * idle_ms (loop time) is granted once idle_bytes are in the log (0: no
     * idle rule). The node makes such requests happen with a barrier. */
    unsigned idle_ms;
    uint64_t idle_bytes;
    /* Trailing entries kept after a snapshot: when trailing_bytes is not 0,
     * the adapter sets libraft's trailing count at each snapshot to the
     * most entries before it that fit in trailing_bytes, at least 1 (0
     * would mean "replace everything" to raft_uv) and at most
     * trailing_entries. */
    uint64_t trailing_bytes;
    unsigned trailing_entries;
    /* Give freed heap back to the system (malloc_trim) after a snapshot
     * has truncated the log and after a restore: glibc keeps it otherwise. */
    bool trim;
};

struct fsm_adapter_config {
    fsm_adapter_fatal_cb fatal; /* NULL: log and exit(1). */
    void *fatal_arg;
    fsm_adapter_applied_cb on_applied; /* Optional. */
    void *on_applied_arg;
    fsm_adapter_command_cb on_command; /* Optional. */
    void *on_command_arg;
    struct fsm_adapter_policy policy; /* All zero: see the struct. */
};

/* Caller-allocated. Hand &a->raft_fsm to raft_init() (or
 * raft_fixture_grow()); it must stay at the same address until the raft
 * instance is closed. */
/* What the adapter did with libraft's snapshot requests. */
struct fsm_adapter_stats {
    unsigned long long snapshots_taken;
    unsigned long long refused_config;  /* A membership change was not yet
                                           committed and applied (C9). */
    unsigned long long refused_fsm;     /* The fsm said not now (one in
                                           progress, or its own size rule
                                           when configured). */
    unsigned long long refused_policy;  /* The adapter's cost rule said not
                                           yet. */
    unsigned long long by_cap;          /* Of those taken: granted by
                                           max_bytes or max_entries. */
    unsigned long long by_idle;         /* Of those taken: granted by the
                                           idle rule. */
    unsigned long long restores;
    unsigned last_trailing;             /* Trailing count set at the last
                                           snapshot (0: never set). */
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
    /* Loop time of the last command applied (or of set_raft). */
    raft_time last_command_at_;
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
 * and applied entries are reported with index and term 0. When the raft's
 * io has async_work, snapshots' checksums are computed on its thread from
 * then on (fsm_adapter.c). */
void fsm_adapter_set_raft(struct fsm_adapter *a, struct raft *r);

/* Index and loop time of the last command applied (0 and the time of
 * fsm_adapter_set_raft() if none yet). The node's idle compaction uses them
 * to tell when writes stopped. */
void fsm_adapter_last_command(const struct fsm_adapter *a,
                              raft_index *index,
                              raft_time *at);

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
