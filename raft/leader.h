/*
 * The start-of-term barrier (ARCHITECTURE.md sections 4 and 8).
 *
 * libraft 0.15 appends nothing when a leader is elected. Until a new leader
 * has committed an entry of its own term it cannot know which entries of
 * earlier terms are committed, and under the raft_io guard (io.h) it even
 * ignores AppendEntries results until it has persisted one, so check-quorum
 * would depose it. A leader_watch proposes a barrier the moment its node is
 * leader of a term that has none, and says when that barrier is applied:
 * only then may the node serve writes, weak/linearizable/strong reads, read
 * indexes or membership changes.
 *
 * Call leader_watch_tick() after every event-loop turn (a uv_check handle in
 * the node; after every step in fixture tests). Everything runs on the raft
 * instance's loop thread.
 */
#ifndef WR_RAFT_LEADER_H
#define WR_RAFT_LEADER_H

#include <stdbool.h>
#include <stdint.h>

#include <raft.h>

/* Caller-allocated. It must stay at the same address until the raft
 * instance's close callback has fired: a barrier in flight refers to it, and
 * libraft fires its callback during raft_close() at the latest. */
struct leader_watch {
    /* Private. */
    struct raft *raft_;
    raft_term proposed_term_; /* Term of the barrier in flight or applied. */
    raft_term ready_term_;    /* Term whose barrier was applied. */
    uint64_t ready_index_;    /* Its index. */
    bool in_flight_;
    bool closing_;
};

/* Watch @r, which must outlive the watch's use. No barrier is proposed until
 * the first leader_watch_tick(). */
void leader_watch_init(struct leader_watch *w, struct raft *r);

/* If the node leads a term without a barrier of its own, propose one. A
 * refused or failed barrier is proposed again on a later tick while the node
 * still leads that term. */
void leader_watch_tick(struct leader_watch *w);

/* True while the node is leader and has applied its current term's barrier:
 * every entry of earlier terms is then known committed and applied here. */
bool leader_watch_ready(const struct leader_watch *w);

/* Index of the current term's barrier, valid when leader_watch_ready(). */
uint64_t leader_watch_index(const struct leader_watch *w);

/* The node is closing: propose nothing more. Call before raft_close(). */
void leader_watch_close(struct leader_watch *w);

#endif /* WR_RAFT_LEADER_H */
