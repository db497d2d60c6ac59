/*
 * The executor's proposer (fsm/exec.h: struct exec_proposer) on top of
 * libraft: a command becomes one raft_apply() of one buffer, a barrier one
 * raft_barrier(). Each proposal allocates one request; the request is freed
 * when libraft fires its callback.
 *
 * Status codes, libraft 0.15 to walraft:
 *   synchronous (nothing was appended, the buffer is still the caller's):
 *     RAFT_NOTLEADER -> WR_NOTLEADER, RAFT_NOMEM -> WR_NOMEM,
 *     RAFT_SHUTDOWN -> WR_SHUTDOWN, anything else -> WR_IOERR;
 *   in the callback (the outcome is unknown unless the status is 0):
 *     0 -> 0 with the entry's index, RAFT_LEADERSHIPLOST ->
 *     WR_LEADERSHIP_LOST, RAFT_SHUTDOWN -> WR_SHUTDOWN, RAFT_NOTLEADER ->
 *     WR_NOTLEADER, RAFT_NOSPACE, RAFT_IOERR and anything else -> WR_IOERR.
 * libraft fails every pending request with RAFT_LEADERSHIPLOST when it is
 * closed; after proposer_close() those report WR_SHUTDOWN.
 *
 * Everything runs on the node's event-loop thread.
 */
#ifndef WR_RAFT_PROPOSER_H
#define WR_RAFT_PROPOSER_H

#include <stdbool.h>
#include <stdint.h>

#include <raft.h>

#include "../fsm/exec.h"
#include "fsm_adapter.h"

/* Caller-allocated. Hand &p->base to exec_create(). */
struct proposer {
    struct exec_proposer base;
    /* Private. */
    struct raft *raft_;
    struct fsm_adapter *adapter_;
    bool closing_;
    uint64_t last_index_;
    unsigned n_pending_;
};

/* Propose through @r. When @adapter is not NULL (the adapter of @r's fsm), a
 * proposal whose entry libraft reports as applied after the adapter stopped
 * (see fsm_adapter.h) fails with WR_SHUTDOWN instead: its command was not
 * applied. No reference is kept beyond the proposer's life; @r and @adapter
 * must outlive it. */
void proposer_init(struct proposer *p,
                   struct raft *r,
                   struct fsm_adapter *adapter);

/* The node is closing: refuse new proposals with WR_SHUTDOWN, and report
 * WR_SHUTDOWN for those libraft fails from now on. Call before raft_close();
 * the callbacks of pending proposals fire during raft_close(). */
void proposer_close(struct proposer *p);

/* Index of the last entry proposed successfully, 0 if none. */
uint64_t proposer_last_index(const struct proposer *p);

/* Proposals whose callback has not fired yet. */
unsigned proposer_pending(const struct proposer *p);

/* Map a libraft status from a callback (see above). */
int proposer_status_from_raft(int rv);

#endif /* WR_RAFT_PROPOSER_H */
