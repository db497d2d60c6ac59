/*
 * The leader-side executor: runs a batch of write requests as one SQLite
 * transaction, replicates its pages through a proposer (Raft, provided by
 * raft/), and delivers each request's own result once the entry is applied.
 * Reads run against committed state only.
 *
 * Batching (ARCHITECTURE.md section 2): BEGIN; for each request SAVEPOINT,
 * run its statements, RELEASE on success or ROLLBACK TO + RELEASE on error
 * (so one failing request does not fail the others); COMMIT; fsm_poll(); then
 * one proposal. The next batch on a database may run only after the previous
 * one completed (exec_busy() says so), so each batch sees the one before it.
 *
 * A batch whose requests changed no page still goes through the log (a
 * barrier, or a SESSIONS command when it records sessions, below), so its
 * results are as linearizable as any write. VACUUM cannot
 * run inside a transaction: it must be the only request of its batch, and
 * then runs on its own.
 *
 * Exactly-once writes (ARCHITECTURE.md section 2). A write request may carry
 * a session: a client id and a sequence number that the client raises for
 * each new write and keeps for retries of the same write. Before running a
 * batch the executor looks each such request up in its database's session
 * table (fsm.h), which is complete then because the previous batch on the
 * database has been applied:
 *   - the same sequence number as the client's recorded write: the write
 *     already committed; the request is not run and succeeds with the
 *     recorded changes and last insert id, duplicate set, and the bookmark
 *     of this batch (which is after the recorded write);
 *   - a lower one: refused, definite (WR_INVALID);
 *   - a higher one, or an unknown client: run, and if it succeeds its
 *     result is recorded in the batch's own command, so the record commits
 *     with the write or not at all. A batch that changed no page but
 *     records sessions proposes a SESSIONS command instead of a barrier.
 * A request that fails on its own error is not recorded: the client may
 * retry it with the same sequence number. Two requests of one client in one
 * batch: a later one with a higher sequence number runs too (the last that
 * succeeds is recorded); one with the same number is refused as in flight
 * (WR_BUSY, definite: retry it), one with a lower number as old.
 * Rows are not recorded: the duplicate of a request whose statement
 * returned rows (RETURNING) returns none, so sessions belong on requests
 * whose answer is changes and last insert id. exec_read() and interactive
 * transactions ignore sessions.
 *
 * Everything runs on the node's event-loop thread.
 */
#ifndef WR_FSM_EXEC_H
#define WR_FSM_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/err.h"
#include "../lib/value.h"
#include "fsm.h"

/* How the executor hands commands to the replicated log. raft/ implements it
 * on top of raft_apply() and raft_barrier(); tests may stack faults on it. */
typedef void (*exec_proposal_cb)(void *arg, int status, uint64_t index);
struct exec_proposer {
    void *data;
    /* Append @buf (@len bytes, a multiple of 8) to the log, or a barrier when
     * @buf is NULL. On success ownership of @buf passes to the proposer (it
     * was allocated with malloc) and @cb fires exactly once, later, with
     * status 0 and the entry's index once it is applied on this node, or an
     * error: WR_LEADERSHIP_LOST or WR_IOERR when the outcome is unknown (the
     * entry may still be committed), WR_SHUTDOWN when the node closes. On
     * error (WR_NOTLEADER, WR_NOMEM, WR_SHUTDOWN) nothing was appended, @buf
     * still belongs to the caller and @cb never fires. */
    int (*propose)(struct exec_proposer *p,
                   void *buf,
                   size_t len,
                   exec_proposal_cb cb,
                   void *arg);
};

struct exec_req;
typedef void (*exec_req_cb)(struct exec_req *req);

/* One client request: one or more SQL statements run together. Input fields
 * are set by the caller and must stay valid until the callback; outputs are
 * valid in the callback and owned by the request until exec_req_close(). */
struct exec_req {
    void *data;
    /* Input. */
    const char *sql;             /* One or more statements. */
    const struct value *params;  /* Bound to the first statement. */
    unsigned n_params;
    exec_req_cb cb;
    uint64_t client_id;          /* Session (above); 0: none. */
    uint64_t seq;                /* At least 1 when client_id is not 0. */
    /* Output. */
    int status;        /* 0, WR_SQL, WR_LEADERSHIP_LOST, WR_NOTLEADER, ... */
    int sqlite_code;   /* Extended SQLite code when status is WR_SQL. */
    bool definite;     /* On error: true if it certainly did not happen. */
    char errmsg[WR_ERRMSG_SIZE];
    int64_t changes;        /* Rows changed by the last statement. */
    int64_t last_insert_id; /* sqlite3_last_insert_rowid() after it. */
    struct rows rows;       /* Rows of the last statement that returns
                               rows (a SELECT, or RETURNING), with its
                               column names even if it produced none. */
    uint64_t bookmark;      /* Raft index at which the effect is visible. */
    bool duplicate;         /* A retry of a write that already committed:
                               not run again; changes and last_insert_id
                               are the recorded ones, rows are empty. */
    /* Private. */
    struct exec_req *next_;
};

/* Release what the outputs of @req own. The request may be reused after. */
void exec_req_close(struct exec_req *req);

struct exec;

/* Create an executor over @f that proposes through @p. No reference to @p's
 * memory is taken beyond its lifetime: @p must outlive the executor. */
int exec_create(struct fsm *f, struct exec_proposer *p, struct exec **out);

/* Roll back every open interactive transaction (their handles become
 * invalid), fail every batch still waiting with WR_SHUTDOWN (indefinite)
 * and free.
 * A proposal still outstanding keeps its small batch record alive: the
 * proposer must still fire its callback later (libraft does when it
 * closes), and that callback then only frees the record, touching neither
 * the executor nor the fsm. The pending transaction is left to the fsm. */
void exec_destroy(struct exec *e);

/* Run @reqs (@n ≥ 1) on database @db as one transaction and propose it.
 * Returns 0: each request's callback fires exactly once, later, after the
 * batch's entry is applied (status 0 or that request's own SQL error) or has
 * failed (every request then gets the proposal's error, indefinite unless
 * the request had already failed on its own). Returns WR_BUSY if a batch on
 * @db is still in flight, or another error (WR_NOTLEADER, WR_NOMEM,
 * WR_INVALID...) with @errmsg set: then no callback fires and nothing
 * happened. A COMMIT that fails is such an error. The requests must be
 * distinct structs. */
int exec_write(struct exec *e,
               const char *db,
               struct exec_req **reqs,
               unsigned n,
               char *errmsg);

/* True if @sql starts with the VACUUM keyword (after blanks and comments):
 * such a request must be alone in its batch. */
bool exec_is_vacuum(const char *sql);

/* True while a batch on @db is in flight. */
bool exec_busy(struct exec *e, const char *db);

/* Run the read-only @req on @db against committed state, synchronously: the
 * outputs are set on return and the callback is not used. A statement that
 * would write is refused with WR_INVALID (definite); writes go through
 * exec_write() whatever request carried them. Returns req->status. */
int exec_read(struct exec *e, const char *db, struct exec_req *req);

/*
 * Interactive transactions (ARCHITECTURE.md section 2): one client's BEGIN,
 * statements, COMMIT or ROLLBACK over several requests. The transaction
 * runs on the database's second connection (fsm_db_tx_conn()), so readers
 * on the node's connection keep seeing committed state, and it holds the
 * writer: while it is open exec_busy() is true for its database and no
 * batch runs there. Its statements run at once, reads and writes alike
 * (they see the transaction's own changes); its COMMIT is one proposal,
 * answered like a batch of one request once applied. The transaction can
 * be rolled back under the client's feet (an error SQLite ends it on, or
 * this node stops leading and another leader's entry arrives); every later
 * call then fails with a sentence saying so. The caller bounds how long one
 * may stay idle.
 */
struct exec_tx;

/* Open a transaction on @db (BEGIN IMMEDIATE). On success *@out is the
 * caller's until exec_tx_commit() or exec_tx_rollback(). Returns WR_BUSY if
 * a batch or another transaction is in flight on @db (wait for the writer),
 * or another error with @errmsg set. */
int exec_tx_begin(struct exec *e,
                  const char *db,
                  struct exec_tx **out,
                  char *errmsg);

/* Run @req's statements inside @tx, synchronously, like exec_read(): the
 * outputs are set on return and the callback is not used. Returns
 * req->status. */
int exec_tx_run(struct exec_tx *tx, struct exec_req *req);

/* False once @tx was rolled back under the client's feet. */
bool exec_tx_alive(struct exec_tx *tx);

/* COMMIT @tx and propose it. @tx is released whatever happens. Returns 0:
 * @req's callback fires once, later, as for exec_write(). Otherwise nothing
 * was committed (definite), @errmsg says why and the callback never fires. */
int exec_tx_commit(struct exec_tx *tx, struct exec_req *req, char *errmsg);

/* exec_tx_commit() for a transaction the caller believes read-only (every
 * statement it ran was sqlite3_stmt_readonly()): when its COMMIT wrote no
 * page, nothing is proposed, since there is nothing to replicate and a log
 * entry would only cost an fsync on a majority (issue 7). Then it returns
 * 0 with *@proposed false, @tx released, @req's outputs set as for a
 * write that changed nothing (bookmark 0) and its callback never fires:
 * the caller vouches for the reads at their own consistency level (a
 * read-index round for linearizable). When the COMMIT did write, it is
 * proposed exactly as by exec_tx_commit() and *@proposed is true. Errors
 * as exec_tx_commit(). */
int exec_tx_commit_read(struct exec_tx *tx,
                        struct exec_req *req,
                        bool *proposed,
                        char *errmsg);

/* ROLLBACK @tx (if still open) and release it. */
void exec_tx_rollback(struct exec_tx *tx);

#endif /* WR_FSM_EXEC_H */
