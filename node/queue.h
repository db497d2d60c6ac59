/*
 * The leader's group-commit write queue (ARCHITECTURE.md section 2).
 *
 * Writers never see SQLITE_BUSY: a write waits here, per database, in FIFO
 * order, until that database's executor is idle; then everything waiting
 * (bounded by count and bytes) runs as one exec_write() batch, one SQLite
 * transaction and one Raft entry. Batches of different databases may be in
 * flight at once. A write that waits longer than the configured timeout
 * fails with WR_BUSY (definite) and a sentence saying how long it waited.
 *
 * The queue drives itself: it owns one uv_timer that wakes it for new
 * writes, finished batches and timeouts. The node also calls queue_tick()
 * after every loop turn (a uv_check handle), so that a batch starts as soon
 * as the previous one finished or the node became ready.
 *
 * Everything runs on the loop's thread.
 */
#ifndef WR_NODE_QUEUE_H
#define WR_NODE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "../fsm/exec.h"

struct queue_config {
    unsigned timeout_ms;    /* 0: 10000. */
    unsigned max_batch;     /* Requests per batch; 0: 256. */
    size_t max_batch_bytes; /* SQL + parameter bytes per batch; 0: 4 MiB.
                               A request larger than this still goes, alone. */
    /* The clock, in milliseconds (tests); NULL: uv_now() of the loop. */
    uint64_t (*now_ms)(void *arg);
    void *now_arg;
};

struct queue;

/* Create a queue on @loop feeding @e. No reference to @c is kept (NULL gives
 * the defaults). @ready(@ready_arg) says whether writes may start now (the
 * node: node_ready()); while it is false writes wait (and may time out).
 * Returns 0 or WR_NOMEM (also if the timer cannot be set up). */
int queue_create(uv_loop_t *loop,
                 struct exec *e,
                 const struct queue_config *c,
                 bool (*ready)(void *arg),
                 void *ready_arg,
                 struct queue **out);

/* Queue a write on database @db (the name is copied). The caller sets
 * req->sql, params, n_params, cb and data, and keeps them valid until the
 * callback; req->cb fires exactly once, later (never inside this call), with
 * the outputs set as exec.h says. While the request is in the queue's hands
 * req->cb is swapped for the queue's own callback and put back before the
 * caller's fires. */
void queue_submit(struct queue *q, const char *db, struct exec_req *req);

/* Queue the BEGIN of an interactive transaction on @db (fsm/exec.h): it
 * waits its turn like a write, and when the writer is free the queue opens
 * the transaction with exec_tx_begin() and stores it in *@tx (NULL until
 * then). req->cb fires once, later: status 0 with *@tx set, or the error
 * (a timeout included) with *@tx NULL. Only req->cb and req->data are
 * used; @tx must stay valid until the callback. */
void queue_submit_begin(struct queue *q,
                        const char *db,
                        struct exec_req *req,
                        struct exec_tx **tx);

/* Start what can start: for each database with waiting writes whose
 * executor is idle, while ready(), take up to max_batch requests and
 * max_batch_bytes in FIFO order (a VACUUM goes alone) and exec_write() them
 * as one batch. A batch refused synchronously fails its requests with that
 * error, definite (nothing happened) — except WR_BUSY (the database still
 * has a transaction in progress), after which they stay queued. Also fails
 * the requests whose wait passed the timeout. Callbacks may fire inside. */
void queue_tick(struct queue *q);

/* Fail every waiting (not yet handed to exec) request with @status,
 * definite, and @msg. Callbacks fire inside the call. */
void queue_fail_all(struct queue *q, int status, const char *msg);

/* Requests waiting (not handed to exec yet). */
unsigned queue_length(const struct queue *q);

/* Fail waiting requests with WR_SHUTDOWN (definite; callbacks fire inside
 * the call) and close the timer; the memory is freed in its close callback,
 * so the loop must run once more (uv_run()) before it is closed. Requests
 * already handed to the executor are answered by it (exec_destroy() or the
 * proposal's end); the queue no longer touched then. Call before
 * exec_destroy(). */
void queue_destroy(struct queue *q);

#endif /* WR_NODE_QUEUE_H */
