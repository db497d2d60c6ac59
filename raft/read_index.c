/*
 * Read index rounds (see read_index.h).
 */
#include "read_index.h"

#include <stdlib.h>
#include <string.h>

/* Complete every request of @list with @status. */
static void finish(struct read_index_req *list,
                   int status,
                   uint64_t index,
                   const char *errmsg)
{
    while (list != NULL) {
        struct read_index_req *req = list;
        list = req->next_;
        req->next_ = NULL;
        req->cb(req, status, index, errmsg);
    }
}

static bool is_voter(const struct raft *r, uint64_t id)
{
    for (unsigned i = 0; i < r->configuration.n; i++) {
        if (r->configuration.servers[i].id == id) {
            return r->configuration.servers[i].role == RAFT_VOTER;
        }
    }
    return false;
}

static void start_round(struct read_index *ri);

/* The round in flight ends with @status; the next one starts if requests
 * wait for it. */
static void end_round(struct read_index *ri, int status, const char *errmsg)
{
    struct read_index_req *done = ri->in_round_;
    uint64_t index = ri->index_;

    ri->in_round_ = NULL;
    ri->round_ = 0;
    if (status == 0) {
        ri->rounds_++;
    }
    if (ri->waiting_ != NULL) {
        start_round(ri);
    }
    finish(done, status, index, errmsg);
}

static void check_majority(struct read_index *ri)
{
    if (ri->round_ != 0 && ri->yes_ >= ri->needed_) {
        end_round(ri, 0, "");
    }
}

/* Start a round for the waiting requests. */
static void start_round(struct read_index *ri)
{
    struct raft *r = ri->raft_;
    struct raft_configuration *conf = &r->configuration;
    unsigned voters = 0;
    uint64_t round;

    ri->in_round_ = ri->waiting_;
    ri->waiting_ = NULL;
    ri->waiting_tail_ = NULL;
    if (raft_state(r) != RAFT_LEADER) {
        ri->round_ = 0;
        finish(ri->in_round_, WR_NOTLEADER, 0, "this node is not the leader");
        ri->in_round_ = NULL;
        return;
    }
    if (conf->n > ri->cap_confirmed_) {
        uint64_t *ids = realloc(ri->confirmed_, conf->n * sizeof *ids);
        if (ids == NULL) {
            struct read_index_req *list = ri->in_round_;
            ri->in_round_ = NULL;
            finish(list, WR_NOMEM, 0, "read index: out of memory");
            return;
        }
        ri->confirmed_ = ids;
        ri->cap_confirmed_ = conf->n;
    }
    for (unsigned i = 0; i < conf->n; i++) {
        voters += conf->servers[i].role == RAFT_VOTER;
    }
    round = ++ri->next_round_;
    ri->round_ = round;
    ri->term_ = r->current_term;
    ri->index_ = r->commit_index;
    ri->started_ = r->io->time(r->io);
    ri->needed_ = voters / 2 + 1;
    ri->yes_ = 0;
    ri->n_confirmed_ = 0;
    if (is_voter(r, r->id)) {
        ri->confirmed_[ri->n_confirmed_++] = r->id;
        ri->yes_ = 1;
    }
    for (unsigned i = 0; i < conf->n && ri->round_ == round; i++) {
        const struct raft_server *s = &conf->servers[i];
        if (s->role != RAFT_VOTER || s->id == r->id) {
            continue;
        }
        /* A voter we cannot ask simply does not count. The answer of one
         * we did ask may come back inside the call (tests); then the round
         * may already be over. */
        (void)ri->ops_.ask(ri->ops_.data, s->id, s->address, ri->term_,
                           r->id, round);
    }
    if (ri->round_ == round) {
        check_majority(ri);
    }
}

void read_index_init(struct read_index *ri,
                     struct raft *r,
                     const struct read_index_ops *ops,
                     unsigned timeout_ms)
{
    memset(ri, 0, sizeof *ri);
    ri->raft_ = r;
    ri->ops_ = *ops;
    ri->timeout_ms_ = timeout_ms;
}

void read_index_close(struct read_index *ri)
{
    struct read_index_req *a = ri->in_round_;
    struct read_index_req *b = ri->waiting_;

    ri->in_round_ = NULL;
    ri->waiting_ = NULL;
    ri->waiting_tail_ = NULL;
    ri->round_ = 0;
    finish(a, WR_SHUTDOWN, 0, "the node is shutting down");
    finish(b, WR_SHUTDOWN, 0, "the node is shutting down");
    free(ri->confirmed_);
    ri->confirmed_ = NULL;
    ri->cap_confirmed_ = 0;
}

void read_index_request(struct read_index *ri, struct read_index_req *req)
{
    req->next_ = NULL;
    if (ri->waiting_tail_ != NULL) {
        ri->waiting_tail_->next_ = req;
    } else {
        ri->waiting_ = req;
    }
    ri->waiting_tail_ = req;
    if (ri->round_ == 0) {
        start_round(ri);
    }
}

bool read_index_fast(struct read_index *ri,
                     uint64_t asker_id,
                     uint64_t term,
                     uint64_t leader_id,
                     uint64_t *index)
{
    struct raft *r = ri->raft_;
    unsigned voters = 0;

    if (raft_state(r) != RAFT_LEADER || term != r->current_term ||
        leader_id != r->id || asker_id == r->id || !is_voter(r, r->id) ||
        !is_voter(r, asker_id)) {
        return false;
    }
    for (unsigned i = 0; i < r->configuration.n; i++) {
        voters += r->configuration.servers[i].role == RAFT_VOTER;
    }
    if (2 < voters / 2 + 1) {
        return false;
    }
    *index = r->commit_index;
    return true;
}

void read_index_received(struct read_index *ri,
                         uint64_t id,
                         uint64_t round,
                         uint64_t term,
                         uint64_t leader_id)
{
    struct raft *r = ri->raft_;

    if (round == 0 || round != ri->round_) {
        return; /* A late answer to a round that is over. */
    }
    if (term > ri->term_) {
        end_round(ri, WR_NOTLEADER,
                  "a newer term exists: this node no longer leads");
        return;
    }
    if (term != ri->term_ || leader_id != r->id || !is_voter(r, id)) {
        return; /* Not a yes. */
    }
    for (unsigned i = 0; i < ri->n_confirmed_; i++) {
        if (ri->confirmed_[i] == id) {
            return;
        }
    }
    if (ri->n_confirmed_ < ri->cap_confirmed_) {
        ri->confirmed_[ri->n_confirmed_++] = id;
        ri->yes_++;
    }
    check_majority(ri);
}

void read_index_tick(struct read_index *ri)
{
    struct raft *r = ri->raft_;
    char msg[WR_ERRMSG_SIZE];

    if (ri->round_ == 0) {
        return;
    }
    if (raft_state(r) != RAFT_LEADER || r->current_term != ri->term_) {
        end_round(ri, WR_NOTLEADER,
                  "this node stopped leading during the read index round");
    } else if (r->io->time(r->io) - ri->started_ >= ri->timeout_ms_) {
        err_printf(msg, "no majority of the voters confirmed this node's "
                        "leadership within %u ms",
                   ri->timeout_ms_);
        end_round(ri, WR_BUSY, msg);
    }
}

uint64_t read_index_rounds(const struct read_index *ri)
{
    return ri->rounds_;
}

void read_index_answer(struct raft *r, uint64_t *term, uint64_t *leader_id)
{
    raft_id id = 0;
    const char *address = NULL;

    *term = r->current_term;
    if (raft_state(r) == RAFT_LEADER || raft_state(r) == RAFT_FOLLOWER) {
        raft_leader(r, &id, &address);
    }
    *leader_id = id;
}
