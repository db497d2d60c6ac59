/*
 * The start-of-term barrier; see leader.h.
 *
 * One barrier at a time: the request is malloc'ed per proposal and freed by
 * its callback, which libraft 0.15 always fires (applied, failed with
 * RAFT_LEADERSHIPLOST on step-down, or during raft_close()).
 */
#include "leader.h"

#include <stdlib.h>

#include "../lib/log.h"

struct watch_barrier {
    struct raft_barrier req;
    struct leader_watch *w;
    raft_term term;
};

static void barrier_cb(struct raft_barrier *req, int status)
{
    struct watch_barrier *b = req->data;
    struct leader_watch *w = b->w;

    w->in_flight_ = false;
    if (status == 0 && !w->closing_) {
        w->ready_term_ = b->term;
        w->ready_index_ = req->index;
        log_debug("raft: term %llu barrier applied at %llu",
                  (unsigned long long)b->term,
                  (unsigned long long)req->index);
    } else if (w->proposed_term_ == b->term) {
        /* Try again if this node still leads that term. */
        w->proposed_term_ = 0;
    }
    free(b);
}

void leader_watch_init(struct leader_watch *w, struct raft *r)
{
    *w = (struct leader_watch){.raft_ = r};
}

void leader_watch_tick(struct leader_watch *w)
{
    struct raft *r = w->raft_;
    struct watch_barrier *b;

    if (w->closing_ || w->in_flight_ || raft_state(r) != RAFT_LEADER ||
        w->proposed_term_ == r->current_term) {
        return;
    }
    b = malloc(sizeof *b);
    if (b == NULL) {
        return; /* Next tick. */
    }
    b->req.data = b;
    b->w = w;
    b->term = r->current_term;
    if (raft_barrier(r, &b->req, barrier_cb) != 0) {
        free(b);
        return;
    }
    w->in_flight_ = true;
    w->proposed_term_ = b->term;
}

bool leader_watch_ready(const struct leader_watch *w)
{
    const struct raft *r = w->raft_;
    return !w->closing_ && raft_state((struct raft *)r) == RAFT_LEADER &&
           w->ready_term_ == r->current_term;
}

uint64_t leader_watch_index(const struct leader_watch *w)
{
    return w->ready_index_;
}

void leader_watch_close(struct leader_watch *w)
{
    w->closing_ = true;
}
