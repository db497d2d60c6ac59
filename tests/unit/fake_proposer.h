/*
 * A fake executor proposer for unit tests (fsm/exec.h: struct
 * exec_proposer), standing in for Raft: it queues each proposal and the test
 * decides when and how it ends (applied with fsm_apply(), as every node
 * would, failed with an error, or refused synchronously). Shared by the
 * executor's and the write queue's tests; include it after cmocka.h.
 */
#ifndef WR_TESTS_UNIT_FAKE_PROPOSER_H
#define WR_TESTS_UNIT_FAKE_PROPOSER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fsm/exec.h"
#include "fsm/fsm.h"
#include "lib/err.h"

#define FAKE_MAX 8

struct proposal {
    void *buf;
    size_t len;
    exec_proposal_cb cb;
    void *arg;
};

struct fake {
    struct exec_proposer p;
    struct fsm *f;
    int sync_rv;  /* When non-zero, propose() refuses with it. */
    struct proposal queue[FAKE_MAX];
    unsigned n;   /* Proposals waiting, oldest first. */
    uint64_t index;
    unsigned n_frames;
    unsigned n_barriers;
    unsigned n_proposals;
    bool last_was_barrier;
};

static inline int fake_propose(struct exec_proposer *p,
                        void *buf,
                        size_t len,
                        exec_proposal_cb cb,
                        void *arg)
{
    struct fake *fk = p->data;

    if (fk->sync_rv != 0) {
        return fk->sync_rv;
    }
    assert_true(fk->n < FAKE_MAX);
    if (buf == NULL) {
        fk->n_barriers++;
    } else {
        assert_int_equal(len % 8, 0);
        fk->n_frames++;
    }
    fk->last_was_barrier = buf == NULL;
    fk->n_proposals++;
    fk->queue[fk->n++] = (struct proposal){buf, len, cb, arg};
    return 0;
}

static inline struct proposal fake_pop(struct fake *fk)
{
    struct proposal prop;

    assert_true(fk->n > 0);
    prop = fk->queue[0];
    memmove(&fk->queue[0], &fk->queue[1], --fk->n * sizeof fk->queue[0]);
    return prop;
}

/* The oldest proposal commits: apply it like every node would. */
static inline void fake_apply_next(struct fake *fk)
{
    struct proposal prop = fake_pop(fk);
    char errmsg[WR_ERRMSG_SIZE] = "";

    if (prop.buf != NULL) {
        int rv = fsm_apply(fk->f, prop.buf, prop.len, errmsg);
        if (rv != 0) {
            print_error("fsm_apply: %s\n", errmsg);
        }
        assert_int_equal(rv, 0);
        free(prop.buf);
    }
    prop.cb(prop.arg, 0, ++fk->index);
}

/* The oldest proposal ends with @status. */
static inline void fake_fail_next(struct fake *fk, int status)
{
    struct proposal prop = fake_pop(fk);

    free(prop.buf);
    prop.cb(prop.arg, status, 0);
}

#endif /* WR_TESTS_UNIT_FAKE_PROPOSER_H */
