/*
 * struct exec_proposer over raft_apply() and raft_barrier().
 *
 * Facts about libraft 0.15.0 this file relies on (checked in src/client.c,
 * src/log.c, src/replication.c, src/convert.c and src/heap.c of v0.15.0):
 *
 * - raft_apply() that fails leaves the buffer with the caller. It appends
 *   the entry to the in-memory log (taking a reference), then calls
 *   replicationTrigger(); if that fails it undoes with logDiscard(), which
 *   drops the reference without freeing the buffer (removeSuffix with
 *   destroy = false), and appendLeader()'s own failure path only releases
 *   the extra reference it took. Nothing has been sent by then: appendLeader
 *   runs before triggerAll(). So a synchronous failure is definite.
 * - On success libraft owns the buffer and frees it with raft_free(). The
 *   default heap (heap.c: defaultMalloc/defaultFree) is malloc()/free(), and
 *   walraft never calls raft_heap_set(), so a buffer from malloc() may be
 *   handed over, as fsm_poll() and the codec produce.
 * - raft_apply() and raft_barrier() return RAFT_NOTLEADER when the node is
 *   not leader or a leadership transfer is pending. req->index is set before
 *   anything can fail and is the entry's index. The callback never fires
 *   from inside the call (appends complete asynchronously), and fires after
 *   the fsm applied the entry (applyCommand) or with RAFT_LEADERSHIPLOST
 *   when the leader steps down or is closed (convertClearLeader).
 * - One buffer per raft_apply(): with several, 0.15 fires the callback after
 *   the first entry only (libraft.md section 3).
 */
#include "proposer.h"

#include <stdlib.h>

struct request {
    union {
        struct raft_apply apply;
        struct raft_barrier barrier;
    } raft;
    struct proposer *p;
    exec_proposal_cb cb;
    void *arg;
};

int proposer_status_from_raft(int rv)
{
    switch (rv) {
        case 0:
            return 0;
        case RAFT_NOTLEADER:
            return WR_NOTLEADER;
        case RAFT_LEADERSHIPLOST:
            return WR_LEADERSHIP_LOST;
        case RAFT_SHUTDOWN:
            return WR_SHUTDOWN;
        case RAFT_NOMEM:
            return WR_NOMEM;
        default: /* RAFT_NOSPACE, RAFT_IOERR, ...: outcome unknown. */
            return WR_IOERR;
    }
}

/* Synchronous failure: nothing was appended. */
static int status_from_raft_sync(int rv)
{
    switch (rv) {
        case RAFT_NOTLEADER:
            return WR_NOTLEADER;
        case RAFT_NOMEM:
            return WR_NOMEM;
        case RAFT_SHUTDOWN:
            return WR_SHUTDOWN;
        default:
            return WR_IOERR;
    }
}

static void finish(struct request *req, int raft_status, uint64_t index)
{
    struct proposer *p = req->p;
    exec_proposal_cb cb = req->cb;
    void *arg = req->arg;
    int status = proposer_status_from_raft(raft_status);

    if (status == 0 && p->adapter_ != NULL &&
        fsm_adapter_stopped(p->adapter_)) {
        status = WR_SHUTDOWN;
    } else if (status != 0 && p->closing_) {
        status = WR_SHUTDOWN;
    }
    p->n_pending_--;
    free(req);
    cb(arg, status, status == 0 ? index : 0);
}

static void apply_cb(struct raft_apply *apply, int status, void *result)
{
    struct request *req = apply->data;

    (void)result; /* The adapter always sets it to NULL. */
    finish(req, status, apply->index);
}

static void barrier_cb(struct raft_barrier *barrier, int status)
{
    struct request *req = barrier->data;

    finish(req, status, barrier->index);
}

static int propose(struct exec_proposer *base,
                   void *buf,
                   size_t len,
                   exec_proposal_cb cb,
                   void *arg)
{
    struct proposer *p = base->data;
    struct request *req;
    struct raft_buffer rbuf;
    int rv;

    if (p->closing_) {
        return WR_SHUTDOWN;
    }
    if (buf != NULL && (len == 0 || len % 8 != 0)) {
        /* libraft 0.15 corrupts entries of other lengths (catalogue U6). */
        return WR_INVALID;
    }
    req = malloc(sizeof *req);
    if (req == NULL) {
        return WR_NOMEM;
    }
    req->p = p;
    req->cb = cb;
    req->arg = arg;

    if (buf == NULL) {
        req->raft.barrier.data = req;
        rv = raft_barrier(p->raft_, &req->raft.barrier, barrier_cb);
        if (rv == 0) {
            p->last_index_ = req->raft.barrier.index;
        }
    } else {
        rbuf.base = buf;
        rbuf.len = len;
        req->raft.apply.data = req;
        rv = raft_apply(p->raft_, &req->raft.apply, &rbuf, 1, apply_cb);
        if (rv == 0) {
            p->last_index_ = req->raft.apply.index;
        }
    }
    if (rv != 0) {
        free(req);
        return status_from_raft_sync(rv);
    }
    p->n_pending_++;
    return 0;
}

void proposer_init(struct proposer *p,
                   struct raft *r,
                   struct fsm_adapter *adapter)
{
    p->base.data = p;
    p->base.propose = propose;
    p->raft_ = r;
    p->adapter_ = adapter;
    p->closing_ = false;
    p->last_index_ = 0;
    p->n_pending_ = 0;
}

void proposer_close(struct proposer *p)
{
    p->closing_ = true;
}

uint64_t proposer_last_index(const struct proposer *p)
{
    return p->last_index_;
}

unsigned proposer_pending(const struct proposer *p)
{
    return p->n_pending_;
}
