/*
 * Read index: linearizable reads without writing the log (ARCHITECTURE.md
 * section 4).
 *
 * A leader that has applied its term's barrier (leader.h) records its
 * commit index, then asks every other voter whether it still follows this
 * leader in this term. Once a majority of the voters (itself included) said
 * yes, no newer leader can have existed when the round started: a newer
 * leader needs the votes of a majority in a higher term, terms never go
 * back, and every answer was given after the round started. Every write
 * acknowledged before the round started is then at or below the recorded
 * index, so a node that has applied that index may serve the read from its
 * own state: the leader itself, or the follower that asked the leader for
 * the index.
 *
 * Rounds are shared: a request joins the next round to start (one that
 * starts after it arrived), and every request of a round gets the same
 * index. At most one round is in flight.
 *
 * The question travels however the caller likes (walraftd: CONFIRM requests
 * on the client protocol, proto/wire.h; tests: direct calls between
 * raft_fixture servers). A voter answers with read_index_answer(), which
 * only reads its raft instance.
 *
 * Time comes from the raft instance's I/O (raft_io.time), so a raft_fixture
 * run is deterministic. Everything runs on the raft instance's loop thread.
 */
#ifndef WR_RAFT_READ_INDEX_H
#define WR_RAFT_READ_INDEX_H

#include <stdbool.h>
#include <stdint.h>

#include <raft.h>

#include "../lib/err.h"

struct read_index_req;

/* @status is 0 with the index to apply before reading, or an error (the read
 * did not happen, so every error is definite): WR_NOTLEADER (this node does
 * not lead, or stopped leading, or learnt of a newer term), WR_BUSY (no
 * majority confirmed within the timeout), WR_SHUTDOWN. @errmsg says why. */
typedef void (*read_index_cb)(struct read_index_req *req,
                              int status,
                              uint64_t index,
                              const char *errmsg);

/* Caller-allocated; valid until its callback fired. */
struct read_index_req {
    void *data;
    read_index_cb cb;
    /* Private. */
    struct read_index_req *next_;
};

/* How a round reaches the other voters. @ask sends "do you follow @leader_id
 * in @term?" tagged with @round to voter @id at @address, and returns 0, or
 * an error if it could not be sent (that voter then counts as no for this
 * round). The answer, if any, comes back later through
 * read_index_received(). */
struct read_index_ops {
    void *data;
    int (*ask)(void *data,
               uint64_t id,
               const char *address,
               uint64_t term,
               uint64_t leader_id,
               uint64_t round);
};

struct read_index {
    /* Private. */
    struct raft *raft_;
    struct read_index_ops ops_;
    unsigned timeout_ms_;
    uint64_t round_;       /* Id of the round in flight; 0: none. */
    raft_term term_;       /* Its term. */
    raft_index index_;     /* The commit index it recorded. */
    raft_time started_;    /* When it started. */
    unsigned yes_;         /* Voters that confirmed, this node included. */
    unsigned needed_;      /* A majority of the voters. */
    uint64_t *confirmed_;  /* Ids that confirmed (each counted once). */
    unsigned n_confirmed_;
    unsigned cap_confirmed_;
    uint64_t next_round_;
    struct read_index_req *in_round_;  /* Requests served by the round. */
    struct read_index_req *waiting_;   /* Requests for the next round. */
    struct read_index_req *waiting_tail_;
    uint64_t rounds_; /* Rounds completed (for status and tests). */
};

/* Serve rounds for @r, which must outlive @ri. A round that has no majority
 * after @timeout_ms fails its requests. No reference to @ops is kept. */
void read_index_init(struct read_index *ri,
                     struct raft *r,
                     const struct read_index_ops *ops,
                     unsigned timeout_ms);

/* Fail every request with WR_SHUTDOWN and release memory. */
void read_index_close(struct read_index *ri);

/* Ask for a read index. The caller has checked that the node leads and has
 * applied its term's barrier (leader_watch_ready()). The callback fires
 * exactly once: inside this call when the node is the only voter (or
 * cannot start a round), otherwise later. */
void read_index_request(struct read_index *ri, struct read_index_req *req);

/* A follower, voter @asker_id, asks for a read index and says it is at
 * @term and follows @leader_id: that is its answer, given after its reads
 * arrived. When this node and the asker are a majority of the voters (a
 * 3-voter cluster) and the asker follows this node in its current term,
 * their two answers confirm the leadership without a round: *@index is set
 * to the commit index and true returned. Otherwise false: use
 * read_index_request(). The caller has checked leader_watch_ready(). */
bool read_index_fast(struct read_index *ri,
                     uint64_t asker_id,
                     uint64_t term,
                     uint64_t leader_id,
                     uint64_t *index);

/* Voter @id answered round @round: it is at @term and follows @leader_id
 * (0: none). Answers to other rounds are ignored. */
void read_index_received(struct read_index *ri,
                         uint64_t id,
                         uint64_t round,
                         uint64_t term,
                         uint64_t leader_id);

/* Fail the round in flight if it timed out, or if the node no longer leads
 * the round's term. Call periodically (walraftd: every 100 ms, and after
 * each loop turn is fine too). */
void read_index_tick(struct read_index *ri);

/* Rounds completed so far. */
uint64_t read_index_rounds(const struct read_index *ri);

/* A voter's answer to "do you follow X in term T?": its current term and
 * the leader it follows in that term (0 if it follows none: it is a
 * candidate, or has not heard from a leader in this term). A leader answers
 * with itself. */
void read_index_answer(struct raft *r, uint64_t *term, uint64_t *leader_id);

#endif /* WR_RAFT_READ_INDEX_H */
