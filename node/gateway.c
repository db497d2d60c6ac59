/*
 * Client connections (see gateway.h).
 *
 * A connection reads frames (8-byte header, then the body it announces) into
 * one growing buffer, decodes one request with proto_request_decode(),
 * copies out what it needs (SQL, parameters, names), drops the frame, and
 * stops reading until the response is written. Every decode error of a body
 * gets a FAILURE and the connection goes on; a header that announces more
 * than the limit closes it (the framing is lost).
 *
 * Lifetime: a connection is referenced by its TCP handle (until the close
 * callback), by each uv_write in flight, and by each callback of the node it
 * waits for (a queued write, a membership change). It is freed when the last
 * reference goes, so a callback that fires after the client hung up finds
 * its record and only drops it.
 *
 * Answers that differ from dqlite 1.11, and why:
 *
 * - Transactions. go-dqlite's database/sql driver sends "BEGIN", "COMMIT"
 *   and "ROLLBACK" as EXEC_SQL (the `dqlite` shell wraps each line in a
 *   transaction). A request that is exactly one of those (tx_verb()) drives
 *   an interactive transaction of the executor (fsm/exec.h): BEGIN waits
 *   in the write queue for the writer like any write, then every request
 *   of the connection runs inside the transaction until COMMIT (one Raft
 *   entry, answered once applied) or ROLLBACK. A transaction whose
 *   statements were all read-only (the `dqlite` shell's SELECTs) commits
 *   without a log entry: its COMMIT costs what its reads' level costs (a
 *   read-index round for linearizable, nothing for WEAK and NONE, a
 *   barrier still for STRONG; commit_read()). A transaction idle for
 *   longer than the node's --tx-timeout, or open when the node stops
 *   leading, is rolled back; the client's next request hears why, and so
 *   does every one after it until it sends COMMIT (which fails) or
 *   ROLLBACK (which succeeds). Transaction control inside a larger request
 *   is refused by the executor.
 *
 * - A QUERY whose statements return no columns (CREATE, an INSERT without
 *   RETURNING). dqlite never sends a 0-column ROWS (query.c fails such a
 *   QUERY with SQLITE_ERROR before stepping it), and go-dqlite could not
 *   read one: with no column slots its Rows.Next() never reaches the end
 *   marker. We do the same as dqlite, before running anything, with a
 *   sentence: "... send it with EXEC". If a result without columns appears
 *   anyway after the statements ran (a statement could not be prepared
 *   ahead because an earlier one creates its table), the answer is a ROWS
 *   with one column named "" and no row, which go-dqlite reads as an empty
 *   result, since the write did happen.
 *
 * - Errors. Every FAILURE message ends in " (definite)" (it did not happen)
 *   or " (indefinite)" (it may have happened). A write whose entry's outcome
 *   is unknown answers SQLITE_IOERR_LEADERSHIP_LOST (10506); a node that is
 *   not leader or is shutting down answers SQLITE_IOERR_NOT_LEADER (10250),
 *   so that go-dqlite looks for the leader again; a queue timeout answers
 *   SQLITE_ERROR with the queue's sentence, never SQLITE_BUSY. With the
 *   legacy protocol version the legacy codes (8202, 8458) are used.
 *
 * - Column types follow dqlite (proto_column_type()): an INTEGER in a
 *   column declared DATETIME, DATE or TIMESTAMP goes as UNIXTIME, a TEXT
 *   there as ISO8601, an INTEGER in a BOOLEAN column as BOOLEAN; where
 *   dqlite would assert (a TEXT in a BOOLEAN column), the value keeps its
 *   own type.
 *
 * - Reads and writes are told apart by sqlite3_stmt_readonly() over every
 *   statement, whatever request carried them, so INSERT ... RETURNING sent
 *   as a QUERY is a replicated write.
 */
#include "gateway.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <raft.h>
#include <sqlite3.h>

#include "../fsm/exec.h"
#include "../fsm/fsm.h"
#include "../fsm/stmts.h"
#include "../lib/buf.h"
#include "../lib/err.h"
#include "../lib/log.h"
#include "../proto/wire.h"
#include "../raft/transport.h"
#include "node.h"
#include "queue.h"

#define DEFAULT_MAX_CONNECTIONS 1024
#define DEFAULT_MAX_STATEMENTS 1024
#define HEARTBEAT_TIMEOUT_MS 15000
#define ROWS_BUDGET (64 * 1024)
#define READ_CHUNK (64 * 1024)
/* How long a request waits for this node to apply its bookmark. */
#define BOOKMARK_WAIT_MS 5000
#define BEHIND_MEMORY_MS 1000
#define DIRECT_PROBE_EVERY 8

/* The envelope's fields (proto/wire.h), whichever request carried it. */
struct envelope {
    uint64_t flags;
    uint64_t bookmark;
    uint64_t max_staleness_ms;
    uint64_t client_id;
    uint64_t seq;
};

/* Set the envelope fields of request body @f from @e. */
#define ENVELOPE_PUT(f, e)                                         \
    ((f).flags = (e).flags, (f).bookmark = (e).bookmark,           \
     (f).max_staleness_ms = (e).max_staleness_ms,                  \
     (f).client_id = (e).client_id, (f).seq = (e).seq)

#define ENVELOPE_OF(f)                                             \
    ((struct envelope){.flags = (f).flags,                         \
                       .bookmark = (f).bookmark,                   \
                       .max_staleness_ms = (f).max_staleness_ms,   \
                       .client_id = (f).client_id,                 \
                       .seq = (f).seq})

struct stmt {
    uint32_t id;
    char *sql; /* The first statement's text. */
};

struct conn {
    struct gateway *g; /* NULL once gateway_destroy() let go. */
    uv_tcp_t *tcp;     /* NULL once closed. */
    struct conn *prev;
    struct conn *next;
    unsigned refs;
    bool closing;
    bool close_after_write; /* Refused: close once the FAILURE is out. */
    bool legacy;
    bool ext; /* The current request came in walraft's envelope: answer
                 with FAILURE_EXT, RESULT_EXT and ROWS_EXT. */
    struct envelope env;    /* ... its fields (all zero if not). */
    struct peer_req fwd;    /* Forwarded to the leader (a follower). */
    struct buf fwd_out;     /* The answer, gathered for the client. */
    int fwd_status;         /* The first error relaying it; 0: none. */
    char fwd_error[WR_ERRMSG_SIZE];
    bool level_none;        /* ... at level NONE: a read may run here. */
    bool level_weak;        /* ... at level WEAK: on the leader, as is. */
    bool level_strong;      /* ... at level STRONG: through the log. */
    bool bookmark_ahead;    /* Its bookmark is past what this follower
                               applied: a read goes to the leader. */
    /* Any other read is linearizable: it runs here once the node has
     * applied a read index (node_read_index()). */
    struct node_read read;
    bool read_waiting;      /* For read_index to be applied here. */
    uint64_t read_index;
    uint64_t read_deadline; /* Loop time. */
    uint64_t park_deadline; /* Loop time until which the request in the
                               buffer waits for its bookmark; 0: none. */
    uint64_t park_bookmark;

    /* Input. */
    uint8_t *in;
    size_t in_len;
    size_t in_cap;
    bool have_header;
    struct proto_header hdr;
    size_t body_len;
    bool reading;

    /* The request being served. */
    bool busy;
    uint8_t type;
    bool want_rows; /* QUERY, QUERY_SQL. */
    bool is_write;
    bool waiting;   /* For a node callback (write or membership). */
    struct exec_req req;
    char *sql;
    struct value *params;
    unsigned n_params;

    /* ROWS being streamed from req.rows. */
    bool streaming;
    bool interrupted;
    unsigned next_row;

    /* Database and statements. */
    struct fsm_db *db;
    char *db_name;
    struct stmt *stmts;
    unsigned n_stmts;
    unsigned stmts_cap;
    uint32_t next_stmt_id;
    struct exec_tx *tx;      /* Open interactive transaction. */
    struct exec_tx *tx_new;  /* Filled by the queue when BEGIN runs. */
    bool tx_wrote;           /* A statement of it may have written. */
    uint64_t tx_used_at;     /* Loop time of its last request. */
    char tx_lost[WR_ERRMSG_SIZE]; /* Why it was rolled back behind the
                                     client's back; "" if it was not. */
};

struct gateway {
    struct node *n;
    struct proto_limits limits;
    unsigned max_connections;
    unsigned max_statements;
    struct conn *conns; /* Every live record. */
    unsigned n_open;    /* Connections whose handle is not closed yet. */
    bool closing;
    void (*close_cb)(void *arg);
    void *close_arg;
    /* Linearizable reads on a follower while writes are in flight: the
     * read index they get from the leader is past what this node applied,
     * so they end up on the leader anyway (forward_read_at()). While that
     * is so they go there at once, vouched for (read_direct()): one round
     * trip instead of two. Every DIRECT_PROBE_EVERY-th still asks for the
     * index, to see whether this node caught up. */
    uint64_t behind_at;    /* Loop time a read last found this node
                              behind, 0 once one found it caught up. */
    unsigned direct_reads; /* Sent at once since the last question. */
    uint64_t n_direct;     /* gateway_read_stats(). */
    uint64_t n_vouched;
};

struct write_req {
    uv_write_t w;
    struct buf b;
    struct conn *c;
};

static void conn_close(struct conn *c);
static void conn_process(struct conn *c);
static void rows_next_part(struct conn *c);
static void respond_empty(struct conn *c);

/*
 * Lifetime.
 */

static void conn_clear_request(struct conn *c)
{
    exec_req_close(&c->req);
    memset(&c->req, 0, sizeof c->req);
    for (unsigned i = 0; i < c->n_params; i++) {
        value_clear(&c->params[i]);
    }
    free(c->params);
    c->params = NULL;
    c->n_params = 0;
    free(c->sql);
    c->sql = NULL;
    buf_close(&c->fwd_out);
    c->streaming = false;
    c->interrupted = false;
    c->next_row = 0;
    c->waiting = false;
}

static void conn_unref(struct conn *c)
{
    struct gateway *g = c->g;

    assert(c->refs > 0);
    if (--c->refs > 0) {
        return;
    }
    if (g != NULL) {
        if (c->prev != NULL) {
            c->prev->next = c->next;
        } else {
            g->conns = c->next;
        }
        if (c->next != NULL) {
            c->next->prev = c->prev;
        }
    }
    conn_clear_request(c);
    for (unsigned i = 0; i < c->n_stmts; i++) {
        free(c->stmts[i].sql);
    }
    free(c->stmts);
    free(c->db_name);
    free(c->in);
    free(c);
}

static void maybe_closed(struct gateway *g)
{
    if (g->closing && g->n_open == 0 && g->close_cb != NULL) {
        void (*cb)(void *arg) = g->close_cb;
        g->close_cb = NULL;
        cb(g->close_arg);
    }
}

static void tcp_close_cb(uv_handle_t *handle)
{
    struct conn *c = handle->data;
    struct gateway *g = c->g;

    raft_free(handle);
    c->tcp = NULL;
    if (g != NULL) {
        g->n_open--;
    }
    conn_unref(c);
    if (g != NULL) {
        maybe_closed(g);
    }
}

static void conn_close(struct conn *c)
{
    if (c->closing) {
        return;
    }
    c->closing = true;
    if (c->tx != NULL) {
        exec_tx_rollback(c->tx);
        c->tx = NULL;
    }
    if (c->reading) {
        uv_read_stop((uv_stream_t *)c->tcp);
        c->reading = false;
    }
    uv_close((uv_handle_t *)c->tcp, tcp_close_cb);
}

/*
 * Output.
 */

static void request_done(struct conn *c)
{
    c->busy = false;
    c->ext = false;
    memset(&c->env, 0, sizeof c->env);
    c->level_none = false;
    c->level_weak = false;
    c->level_strong = false;
    c->bookmark_ahead = false;
    c->read_waiting = false;
    conn_clear_request(c);
    conn_process(c);
}

static void write_cb(uv_write_t *w, int status)
{
    struct write_req *wr = w->data;
    struct conn *c = wr->c;

    buf_close(&wr->b);
    free(wr);
    if (c->closing) {
        conn_unref(c);
        return;
    }
    if (status != 0 || c->close_after_write) {
        conn_close(c);
        conn_unref(c);
        return;
    }
    if (c->streaming &&
        (c->next_row < c->req.rows.n_rows && !c->interrupted)) {
        rows_next_part(c);
    } else if (c->streaming && c->interrupted) {
        /* The rest of the result set is dropped; the INTERRUPT's EMPTY
         * goes now, and ends the request. */
        c->streaming = false;
        respond_empty(c);
    } else if (c->busy && !c->waiting) {
        request_done(c);
    }
    conn_unref(c);
}

/* Write the messages in @b (taken over) to the client. */
static void conn_send(struct conn *c, struct buf *b)
{
    struct write_req *wr;
    uv_buf_t ub;

    if (c->closing) {
        buf_close(b);
        return;
    }
    wr = calloc(1, sizeof *wr);
    if (wr == NULL) {
        buf_close(b);
        conn_close(c);
        return;
    }
    wr->b = *b;
    buf_init(b);
    wr->c = c;
    wr->w.data = wr;
    ub.base = (char *)wr->b.p;
    ub.len = wr->b.len;
    c->refs++;
    if (uv_write(&wr->w, (uv_stream_t *)c->tcp, &ub, 1, write_cb) != 0) {
        buf_close(&wr->b);
        free(wr);
        c->refs--;
        conn_close(c);
    }
}

/* Encode @r and send it as the whole answer to the current request. */
static void respond(struct conn *c, const struct proto_response *r)
{
    struct buf b;
    char errmsg[WR_ERRMSG_SIZE] = "";
    int rv;

    buf_init(&b);
    rv = proto_response_encode(&b, r, errmsg);
    if (rv != 0) {
        struct proto_response f = {.kind = PROTO_RESP_FAILURE};
        char msg[WR_ERRMSG_SIZE];
        log_warn("gateway: encode %s: %s", proto_response_name(r->kind),
                 errmsg);
        err_printf(msg, "encode the response: %s (definite)", errmsg);
        f.failure.code = SQLITE_ERROR;
        f.failure.message = msg;
        buf_reset(&b);
        if (proto_response_encode(&b, &f, errmsg) != 0) {
            buf_close(&b);
            conn_close(c);
            return;
        }
    }
    conn_send(c, &b);
}

/* The bookmark of what the current request saw or did: the index of its
 * write's entry, else the state this node has applied. */
static uint64_t applied_index(struct conn *c)
{
    return raft_last_applied(node_raft(c->g->n));
}

static uint64_t result_bookmark(struct conn *c)
{
    return c->req.bookmark != 0 ? c->req.bookmark : applied_index(c);
}

/* FAILURE with @code and @msg, marked definite or not. */
static void respond_failure(struct conn *c,
                            uint64_t code,
                            bool definite,
                            const char *msg)
{
    struct proto_response r = {.kind = PROTO_RESP_FAILURE};
    char text[WR_ERRMSG_SIZE + 16];

    snprintf(text, sizeof text, "%s (%s)", msg,
             definite ? "definite" : "indefinite");
    if (c->ext) {
        r.kind = PROTO_RESP_FAILURE_EXT;
        r.failure_ext.code = code;
        r.failure_ext.flags = definite ? PROTO_FLAG_DEFINITE : 0;
        r.failure_ext.bookmark = applied_index(c);
        r.failure_ext.message = text;
    } else {
        r.failure.code = code;
        r.failure.message = text;
    }
    respond(c, &r);
}

static uint64_t code_not_leader(const struct conn *c)
{
    return c->legacy ? PROTO_ERR_NOT_LEADER_LEGACY : PROTO_ERR_NOT_LEADER;
}

static uint64_t code_leadership_lost(const struct conn *c)
{
    return c->legacy ? PROTO_ERR_LEADERSHIP_LOST_LEGACY
                     : PROTO_ERR_LEADERSHIP_LOST;
}

static void respond_not_leader(struct conn *c)
{
    respond_failure(c, code_not_leader(c), true, "not leader");
}

static void respond_empty(struct conn *c)
{
    struct proto_response r = {.kind = PROTO_RESP_EMPTY};
    respond(c, &r);
}

/* The FAILURE for a request of the node that failed with @status. */
static void respond_status(struct conn *c,
                           int status,
                           int sqlite_code,
                           bool definite,
                           const char *msg)
{
    uint64_t code = SQLITE_ERROR;

    if (status == WR_SQL && sqlite_code != 0) {
        code = (uint64_t)sqlite_code;
    } else if (!definite) {
        code = code_leadership_lost(c);
    } else if (status == WR_NOTLEADER || status == WR_SHUTDOWN) {
        code = code_not_leader(c);
    } else if (status == WR_NOMEM) {
        code = SQLITE_NOMEM;
    }
    respond_failure(c, code, definite, msg);
}

/*
 * Results.
 */

/* Send the next ROWS message of c->req.rows. */
static void rows_next_part(struct conn *c)
{
    const struct rows *rows = &c->req.rows;
    struct proto_rows_writer w;
    uint8_t *hints;
    struct buf b;
    char errmsg[WR_ERRMSG_SIZE] = "";
    int rv;

    hints = calloc(rows->n_cols, sizeof *hints);
    if (hints == NULL) {
        conn_close(c);
        return;
    }
    buf_init(&b);
    if (c->ext) {
        rv = proto_rows_begin_ext(&w, &b, result_bookmark(c), rows->n_cols,
                                  (const char *const *)rows->col_names,
                                  ROWS_BUDGET, errmsg);
    } else {
        rv = proto_rows_begin(&w, &b, rows->n_cols,
                              (const char *const *)rows->col_names,
                              ROWS_BUDGET, errmsg);
    }
    while (rv == 0 && c->next_row < rows->n_rows) {
        const struct value *row =
            &rows->values[(size_t)c->next_row * rows->n_cols];
        bool added = false;
        /* dqlite's types for declared DATETIME, DATE, TIMESTAMP and
         * BOOLEAN columns (proto_column_type()). */
        for (unsigned i = 0; i < rows->n_cols; i++) {
            hints[i] = (uint8_t)proto_column_type(
                rows->decl_types != NULL ? rows->decl_types[i] : NULL,
                row[i].type);
        }
        rv = proto_rows_add(&w, row, hints, &added, errmsg);
        if (rv != 0 || !added) {
            break;
        }
        c->next_row++;
    }
    free(hints);
    if (rv == 0) {
        rv = proto_rows_finish(&w, c->next_row < rows->n_rows);
    } else {
        proto_rows_abort(&w);
    }
    if (rv != 0) {
        /* Mid-stream the client cannot be told in-band: close. */
        log_warn("gateway: encode ROWS: %s", errmsg);
        buf_close(&b);
        if (c->next_row == 0) {
            c->streaming = false;
            respond_failure(c, SQLITE_ERROR, true, "encode the result rows");
        } else {
            conn_close(c);
        }
        return;
    }
    conn_send(c, &b);
}

/* Answer the current request from c->req, which succeeded. */
static void respond_result(struct conn *c)
{
    if (!c->want_rows) {
        struct proto_response r = {.kind = PROTO_RESP_RESULT};
        if (c->ext) {
            r.kind = PROTO_RESP_RESULT_EXT;
            r.result_ext.last_insert_id = (uint64_t)c->req.last_insert_id;
            r.result_ext.rows_affected = (uint64_t)c->req.changes;
            r.result_ext.bookmark = result_bookmark(c);
        } else {
            r.result.last_insert_id = (uint64_t)c->req.last_insert_id;
            r.result.rows_affected = (uint64_t)c->req.changes;
        }
        respond(c, &r);
        return;
    }
    if (c->req.rows.n_cols == 0) {
        /* The statements ran but none returns columns (see the top). */
        static const char *const names[] = {""};
        struct proto_rowset rs = {.n_cols = 1,
                                  .names = names,
                                  .n_rows = 0,
                                  .marker = PROTO_ROWS_DONE};
        struct proto_response r = {.kind = PROTO_RESP_ROWS};
        if (c->ext) {
            r.kind = PROTO_RESP_ROWS_EXT;
            r.rows_ext.bookmark = result_bookmark(c);
            r.rows_ext.rows = rs;
        } else {
            r.rows.rows = rs;
        }
        respond(c, &r);
        return;
    }
    c->streaming = true;
    c->next_row = 0;
    rows_next_part(c);
}

static void respond_req(struct conn *c)
{
    if (c->req.status != 0) {
        respond_status(c, c->req.status, c->req.sqlite_code, c->req.definite,
                       c->req.errmsg);
        return;
    }
    respond_result(c);
}

/* The transaction of @c is rolled back behind the client's back. */
static void tx_lose(struct conn *c, const char *why)
{
    if (c->tx != NULL) {
        exec_tx_rollback(c->tx);
        c->tx = NULL;
        snprintf(c->tx_lost, sizeof c->tx_lost, "%s", why);
    }
}

/* The queue ran (or failed) the BEGIN of the current request. */
static void begin_done_cb(struct exec_req *req)
{
    struct conn *c = req->data;

    c->waiting = false;
    if (c->closing) {
        if (c->tx_new != NULL) {
            exec_tx_rollback(c->tx_new);
            c->tx_new = NULL;
        }
        conn_clear_request(c);
        conn_unref(c);
        return;
    }
    if (req->status == 0) {
        c->tx = c->tx_new;
        c->tx_new = NULL;
        c->tx_used_at = uv_now(c->tcp->loop);
    }
    respond_req(c);
    conn_unref(c);
}

/* The queue or executor answered the current write. */
static void write_done_cb(struct exec_req *req)
{
    struct conn *c = req->data;

    c->waiting = false;
    if (c->closing) {
        conn_clear_request(c);
        conn_unref(c);
        return;
    }
    respond_req(c);
    conn_unref(c);
}

/* Run the linearizable read of @c if this node has applied its read
 * index; fail it once it has waited too long; else leave it waiting for
 * gateway_poll(). */
static void read_when_applied(struct conn *c)
{
    struct node *n = c->g->n;
    char msg[WR_ERRMSG_SIZE];

    c->read_waiting = false;
    if (applied_index(c) >= c->read_index) {
        if (node_exec(n) == NULL) {
            respond_failure(c, code_not_leader(c), true,
                            "the node is shutting down");
            return;
        }
        exec_read(node_exec(n), c->db_name, &c->req);
        respond_req(c);
    } else if (uv_now(c->tcp->loop) >= c->read_deadline) {
        err_printf(msg, "read index %llu was not applied on this node "
                        "within %u ms (applied index %llu)",
                   (unsigned long long)c->read_index, BOOKMARK_WAIT_MS,
                   (unsigned long long)applied_index(c));
        respond_failure(c, SQLITE_ERROR, true, msg);
    } else {
        c->read_waiting = true;
    }
}

static void forward_read_at(struct conn *c, uint64_t index, bool vouched);

/* Whether this node is a follower that knows its leader: then a read it
 * has not applied enough for can be sent there instead of waiting here
 * for the leader's next AppendEntries to say what is committed (up to a
 * heartbeat interval after a write). */
static bool follows_leader(struct conn *c)
{
    struct raft *r = node_raft(c->g->n);
    raft_id id = 0;
    const char *address = NULL;

    if (r == NULL || raft_state(r) != RAFT_FOLLOWER) {
        return false;
    }
    raft_leader(r, &id, &address);
    return id != 0 && id != node_id(c->g->n);
}

/* The node answered the read index of the current (linearizable) read. */
static void lin_read_cb(struct node_read *req,
                          int status,
                          uint64_t index,
                          const char *errmsg)
{
    struct conn *c = req->data;

    c->waiting = false;
    if (c->closing) {
        conn_clear_request(c);
        conn_unref(c);
        return;
    }
    if (index < c->env.bookmark) {
        index = c->env.bookmark;
    }
    if (status != 0) {
        respond_status(c, status, 0, true, errmsg);
    } else if (applied_index(c) < index && c->tx == NULL &&
               follows_leader(c) && c->sql != NULL) {
        c->g->behind_at = uv_now(c->tcp->loop);
        forward_read_at(c, index, false);
    } else {
        if (applied_index(c) >= index) {
            c->g->behind_at = 0;
        }
        c->read_index = index;
        c->read_deadline = uv_now(c->tcp->loop) + BOOKMARK_WAIT_MS;
        read_when_applied(c);
    }
    conn_unref(c);
}

/* The read index for the COMMIT of a read-only transaction of @c. */
static void commit_read_cb(struct node_read *req,
                           int status,
                           uint64_t index,
                           const char *errmsg)
{
    struct conn *c = req->data;

    (void)index;
    c->waiting = false;
    if (c->closing) {
        conn_clear_request(c);
        conn_unref(c);
        return;
    }
    if (status != 0) {
        respond_status(c, status, 0, true, errmsg);
    } else {
        respond_result(c);
    }
    conn_unref(c);
}

/* The COMMIT of a read-only transaction of @c ended it without a log
 * entry (exec_tx_commit_read()); c->waiting is set and @c referenced.
 * Its reads ran on this leader, holding the writer, on the state as of
 * its BEGIN, which includes every write acknowledged before it (the
 * start-of-term barrier was applied first, and this leader acknowledges
 * only applied writes). What is left to show for a linearizable level is
 * that this node still led when the reads were made: a read-index round
 * started now confirms that no newer leader existed before it, so none
 * could have acknowledged a write the reads missed. The read index itself
 * needs no waiting: the state read is already final. Levels NONE and WEAK
 * are answered at once, as their reads would be. */
static void commit_read(struct conn *c)
{
    if (c->level_none || c->level_weak) {
        c->waiting = false;
        respond_result(c);
        conn_unref(c);
        return;
    }
    c->read.data = c;
    c->read.cb = commit_read_cb;
    node_read_index(c->g->n, &c->read);
}

/* The node answered a READ_INDEX request (a follower's question). */
static void read_index_answer_cb(struct node_read *req,
                                 int status,
                                 uint64_t index,
                                 const char *errmsg)
{
    struct conn *c = req->data;
    struct proto_response r = {.kind = PROTO_RESP_READ_INDEX};

    c->waiting = false;
    if (c->closing) {
        conn_clear_request(c);
        conn_unref(c);
        return;
    }
    if (status != 0) {
        respond_status(c, status, 0, true, errmsg);
    } else {
        r.read_index.index = index;
        r.read_index.term = node_raft(c->g->n)->current_term;
        respond(c, &r);
    }
    conn_unref(c);
}

/*
 * Statements.
 */

static struct stmt *stmt_find(struct conn *c, uint32_t id)
{
    for (unsigned i = 0; i < c->n_stmts; i++) {
        if (c->stmts[i].id == id) {
            return &c->stmts[i];
        }
    }
    return NULL;
}

/* What a transaction-control statement does, if @sql is exactly one. */
enum tx_verb { TXV_NONE, TXV_BEGIN, TXV_COMMIT, TXV_ROLLBACK };

/* The next word of @p (letters, digits, underscore) after blanks and
 * comments: its start in *word and length; returns the position after. */
static const char *next_word(const char *p, const char **word, size_t *len)
{
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ||
               *p == '\f' || *p == ';') {
            p++;
        }
        if (p[0] == '-' && p[1] == '-') {
            const char *nl = strchr(p, '\n');
            p = nl != NULL ? nl : p + strlen(p);
        } else if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            p = end != NULL ? end + 2 : p + strlen(p);
        } else {
            break;
        }
    }
    *word = p;
    while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
           (*p >= '0' && *p <= '9') || *p == '_') {
        p++;
    }
    *len = (size_t)(p - *word);
    return p;
}

static bool word_is(const char *w, size_t len, const char *kw)
{
    return strlen(kw) == len && sqlite3_strnicmp(w, kw, (int)len) == 0;
}

/* BEGIN [DEFERRED|IMMEDIATE|EXCLUSIVE] [TRANSACTION], COMMIT|END
 * [TRANSACTION], ROLLBACK [TRANSACTION], and nothing else in @sql
 * (semicolons, blanks and comments aside). */
static enum tx_verb tx_verb(const char *sql)
{
    const char *w;
    size_t len;
    const char *p = next_word(sql, &w, &len);
    enum tx_verb verb;

    if (word_is(w, len, "BEGIN")) {
        verb = TXV_BEGIN;
        p = next_word(p, &w, &len);
        if (word_is(w, len, "DEFERRED") || word_is(w, len, "IMMEDIATE") ||
            word_is(w, len, "EXCLUSIVE")) {
            p = next_word(p, &w, &len);
        }
    } else if (word_is(w, len, "COMMIT") || word_is(w, len, "END")) {
        verb = TXV_COMMIT;
        p = next_word(p, &w, &len);
    } else if (word_is(w, len, "ROLLBACK")) {
        verb = TXV_ROLLBACK;
        p = next_word(p, &w, &len);
    } else {
        return TXV_NONE;
    }
    if (word_is(w, len, "TRANSACTION")) {
        next_word(p, &w, &len);
    }
    /* Anything left (a savepoint name, another statement) is not ours. */
    return len == 0 && *w == '\0' ? verb : TXV_NONE;
}

/* Decide whether @sql writes: prepare every statement on the database's
 * connection and finalize at once (the connection may be replaced between
 * loop turns). *has_cols is set if a statement returns columns; *unsure if
 * a statement could not be prepared (after a write its table may not exist
 * yet; otherwise running it reports the error), so the column count is not
 * known before running. */
static bool sql_writes(struct conn *c, const char *sql, bool *has_cols,
                       bool *unsure)
{
    char errmsg[WR_ERRMSG_SIZE];
    sqlite3 *conn = fsm_db_conn(c->db, errmsg);
    sqlite3_stmt *kept;
    const char *tail = sql;
    bool writes = false;

    *has_cols = false;
    *unsure = false;
    if (conn == NULL) {
        return false; /* exec_read() reports the same failure. */
    }
    kept = stmts_peek(fsm_db_stmts(c->db, conn), sql);
    if (kept != NULL) {
        /* The executor ran this text before. Whether it writes, and whether
         * it returns columns, do not change with the schema. */
        *has_cols = sqlite3_column_count(kept) > 0;
        return !sqlite3_stmt_readonly(kept);
    }
    while (*tail != '\0') {
        sqlite3_stmt *stmt = NULL;
        const char *next = NULL;
        if (sqlite3_prepare_v2(conn, tail, -1, &stmt, &next) != SQLITE_OK) {
            /* Reads change no schema: after reads only, this is a genuine
             * error that exec_read() reports; after a write, the executor
             * runs the statements in order and decides. Either way the
             * columns are not known ahead. */
            *unsure = true;
            break;
        }
        tail = next;
        if (stmt == NULL) {
            continue;
        }
        if (!sqlite3_stmt_readonly(stmt)) {
            writes = true;
        }
        if (sqlite3_column_count(stmt) > 0) {
            *has_cols = true;
        }
        sqlite3_finalize(stmt);
    }
    return writes;
}

/* Copy decoded parameters (they point into the frame, which is dropped). */
static int copy_params(struct conn *c, const struct proto_params *params)
{
    struct proto_params_iter it;
    struct proto_value pv;
    unsigned i = 0;

    if (params->n == 0) {
        return 0;
    }
    c->params = calloc(params->n, sizeof *c->params);
    if (c->params == NULL) {
        return WR_NOMEM;
    }
    proto_params_iter_init(&it, params);
    while (proto_params_next(&it, &pv)) {
        struct value *v = &c->params[i];
        /* BOOLEAN and UNIXTIME arrive as INTEGER, ISO8601 as TEXT. */
        *v = pv.v;
        if (pv.v.type == VALUE_TEXT) {
            v->text.p = malloc(pv.v.text.n + 1);
            if (v->text.p == NULL) {
                v->type = VALUE_NULL;
                return WR_NOMEM;
            }
            memcpy(v->text.p, pv.v.text.p, pv.v.text.n);
            v->text.p[pv.v.text.n] = '\0';
        } else if (pv.v.type == VALUE_BLOB) {
            v->blob.p = NULL;
            if (pv.v.blob.n > 0) {
                v->blob.p = malloc(pv.v.blob.n);
                if (v->blob.p == NULL) {
                    v->type = VALUE_NULL;
                    return WR_NOMEM;
                }
                memcpy(v->blob.p, pv.v.blob.p, pv.v.blob.n);
            }
        }
        i++;
        c->n_params = i;
    }
    return 0;
}

static bool check_db(struct conn *c, uint64_t db_id)
{
    if (c->db == NULL || db_id != 0) {
        char msg[WR_ERRMSG_SIZE];
        err_printf(msg, "no database opened with id %llu",
                   (unsigned long long)db_id);
        respond_failure(c, PROTO_ERR_PROTO, true, msg);
        return false;
    }
    return true;
}

/* Add the leader's message @raw (@len bytes) to the answer for the client,
 * turned into its dqlite form if the client did not use the envelope. */
static int relay_message(struct conn *c,
                         const struct proto_response *resp,
                         const uint8_t *raw,
                         size_t len,
                         char *errmsg)
{
    struct proto_response plain;
    struct proto_header h;
    uint8_t *dst;

    if (c->ext || (resp->kind != PROTO_RESP_FAILURE_EXT &&
                   resp->kind != PROTO_RESP_RESULT_EXT &&
                   resp->kind != PROTO_RESP_ROWS_EXT)) {
        dst = buf_append(&c->fwd_out, len);
        if (dst == NULL) {
            return WR_NOMEM;
        }
        memcpy(dst, raw, len);
        return 0;
    }
    memset(&plain, 0, sizeof plain);
    switch (resp->kind) {
        case PROTO_RESP_FAILURE_EXT:
            plain.kind = PROTO_RESP_FAILURE;
            plain.failure.code = resp->failure_ext.code;
            plain.failure.message = resp->failure_ext.message;
            return proto_response_encode(&c->fwd_out, &plain, errmsg);
        case PROTO_RESP_RESULT_EXT:
            plain.kind = PROTO_RESP_RESULT;
            plain.result.last_insert_id = resp->result_ext.last_insert_id;
            plain.result.rows_affected = resp->result_ext.rows_affected;
            return proto_response_encode(&c->fwd_out, &plain, errmsg);
        default:
            /* ROWS_EXT is a bookmark word, then exactly a ROWS body. */
            dst = buf_append(&c->fwd_out, len - PROTO_WORD);
            if (dst == NULL) {
                return WR_NOMEM;
            }
            h.words = (uint32_t)((len - PROTO_HEADER_SIZE) / PROTO_WORD - 1);
            h.type = (uint8_t)proto_response_wire_type(PROTO_RESP_ROWS);
            h.schema = 0;
            h.extra = 0;
            proto_header_encode(dst, &h);
            memcpy(dst + PROTO_HEADER_SIZE,
                   raw + PROTO_HEADER_SIZE + PROTO_WORD,
                   len - PROTO_HEADER_SIZE - PROTO_WORD);
            return 0;
    }
}

/* A message of the leader's answer to a forwarded request. */
static void forward_cb(struct peer_req *req,
                       int status,
                       const struct proto_response *resp,
                       const uint8_t *raw,
                       size_t len,
                       const char *errmsg)
{
    struct conn *c = req->data;
    char msg[WR_ERRMSG_SIZE];
    bool last = status != 0 || !proto_response_continues(resp);
    int rv = 0;

    if (c->closing) {
        if (last) {
            c->waiting = false;
            conn_clear_request(c);
            conn_unref(c);
        }
        return;
    }
    if (status != 0) {
        /* The link to the leader failed. A read changed nothing and can
         * go to another node, so the client hears "not leader". */
        err_printf(msg, "forwarded to the leader: %s", errmsg);
        rv = c->is_write || status == WR_NOMEM ? status : WR_NOTLEADER;
    } else if (c->fwd_status == 0) {
        rv = relay_message(c, resp, raw, len, msg);
        if (rv != 0) {
            err_wrap(msg, "relaying the leader's answer");
        }
    }
    if (rv != 0 && c->fwd_status == 0) {
        c->fwd_status = rv;
        snprintf(c->fwd_error, sizeof c->fwd_error, "%s", msg);
    }
    if (!last) {
        return;
    }
    c->waiting = false;
    if (c->fwd_status != 0) {
        /* Whatever part of the answer arrived is dropped. A write may have
         * happened; a read did not change anything. */
        buf_reset(&c->fwd_out);
        respond_status(c, c->fwd_status, 0, !c->is_write, c->fwd_error);
    } else {
        struct buf out = c->fwd_out;
        buf_init(&c->fwd_out);
        conn_send(c, &out);
    }
    conn_unref(c);
}

/* Send the current request (@sql with @n @values, as c->env asks) to the
 * leader and answer the client with its answer. */
static void forward_values(struct conn *c,
                           const char *sql,
                           const struct proto_value *values,
                           unsigned n)
{
    struct proto_request r;
    char errmsg[WR_ERRMSG_SIZE];
    int rv;

    memset(&r, 0, sizeof r);
    r.schema = n > 255 ? 1 : 0;
    if (c->want_rows) {
        r.type = PROTO_REQ_QUERY_SQL_EXT;
        ENVELOPE_PUT(r.query_sql_ext, c->env);
        r.query_sql_ext.sql = sql;
        r.query_sql_ext.params.n = n;
        r.query_sql_ext.params.values = values;
    } else {
        r.type = PROTO_REQ_EXEC_SQL_EXT;
        ENVELOPE_PUT(r.exec_sql_ext, c->env);
        r.exec_sql_ext.sql = sql;
        r.exec_sql_ext.params.n = n;
        r.exec_sql_ext.params.values = values;
    }
    c->fwd.data = c;
    c->fwd.cb = forward_cb;
    c->fwd_status = 0;
    rv = node_forward(c->g->n, c->db_name, &r,
                      c->want_rows ? PROTO_RESP_ROWS_EXT : PROTO_RESP_RESULT_EXT,
                      &c->fwd, errmsg);
    if (rv == WR_NOTLEADER) {
        respond_not_leader(c);
        return;
    }
    if (rv != 0) {
        respond_status(c, rv, 0, true, errmsg);
        return;
    }
    c->waiting = true;
    c->refs++;
}

/* Forward the current request, @sql with @params as they arrived. */
static void forward(struct conn *c,
                    const char *sql,
                    const struct proto_params *params)
{
    struct proto_params_iter it;
    struct proto_value *values = NULL;
    unsigned n = 0;

    if (params->n > 0) {
        values = calloc(params->n, sizeof *values);
        if (values == NULL) {
            respond_failure(c, SQLITE_NOMEM, true, "out of memory");
            return;
        }
        proto_params_iter_init(&it, params);
        while (n < params->n && proto_params_next(&it, &values[n])) {
            n++;
        }
    }
    forward_values(c, sql, values, n);
    free(values);
}

/* Whether the linearizable read of @c, on a follower, should go to the
 * leader at once (forward_read_at(), vouched) rather than ask it for a
 * read index first. */
static bool read_direct(struct conn *c)
{
    struct gateway *g = c->g;

    if (g->behind_at == 0 || c->tx != NULL || !follows_leader(c) ||
        uv_now(c->tcp->loop) - g->behind_at > BEHIND_MEMORY_MS) {
        return false;
    }
    return ++g->direct_reads % DIRECT_PROBE_EVERY != 0;
}

/* The linearizable read of @c, on a follower, got read index @index from
 * the leader, and this node has not applied it. A follower learns that an
 * entry is committed only from the leader's next AppendEntries: after a
 * write, up to a heartbeat interval (100 ms) later. Rather than wait, the
 * read goes to the leader at level NONE with @index as its bookmark: any
 * node's state once it has applied the read index is linearizable for a
 * read that got that index, and the leader has, or is about to. The
 * session flag stays behind: this is a read. @vouched (with @index 0): the
 * read has no index yet and goes as a linearizable one, with this node's
 * term as its answer to the leader's read-index round (proto/wire.h). */
static void forward_read_at(struct conn *c, uint64_t index, bool vouched)
{
    struct proto_value *values = NULL;

    if (c->n_params > 0) {
        values = calloc(c->n_params, sizeof *values);
        if (values == NULL) {
            respond_failure(c, SQLITE_NOMEM, true, "out of memory");
            return;
        }
        for (unsigned i = 0; i < c->n_params; i++) {
            values[i].v = c->params[i];
        }
    }
    c->env.flags = PROTO_LEVEL_NONE;
    c->env.max_staleness_ms = 0;
    c->env.client_id = 0;
    c->env.seq = 0;
    if (vouched) {
        c->env.flags = PROTO_LEVEL_LINEARIZABLE | PROTO_FLAG_VOUCHED;
        c->env.client_id = node_id(c->g->n);
        c->env.seq = node_raft(c->g->n)->current_term;
    }
    if (c->env.bookmark < index) {
        c->env.bookmark = index;
    }
    forward_values(c, c->sql, values, c->n_params);
    free(values);
}

/* EXEC, QUERY, EXEC_SQL, QUERY_SQL: run @sql with @params. */
static void handle_sql(struct conn *c,
                       const char *sql,
                       const struct proto_params *params)
{
    struct node *n = c->g->n;
    char errmsg[WR_ERRMSG_SIZE];
    enum tx_verb verb;
    bool has_cols;
    bool unsure;
    int rv;

    /* Reads at level NONE and linearizable reads run on any node;
     * everything else on the ready leader. */
    if (node_queue(n) == NULL || node_exec(n) == NULL) {
        respond_not_leader(c);
        return;
    }
    verb = tx_verb(sql);
    if (!node_ready(n) && (c->level_weak || c->level_strong) &&
        verb == TXV_NONE && c->tx == NULL) {
        forward(c, sql, params); /* Served as is by the leader. */
        return;
    }
    if (c->bookmark_ahead && c->level_none && verb == TXV_NONE) {
        /* The leader waits for the bookmark, if it must, and reads. */
        forward(c, sql, params);
        return;
    }
    if (!node_ready(n) && (verb != TXV_NONE || c->tx != NULL)) {
        respond_not_leader(c);
        return;
    }
    if (verb != TXV_NONE && params->n > 0) {
        respond_failure(c, SQLITE_RANGE, true,
                        "transaction control takes no parameters");
        return;
    }
    if ((c->env.flags & PROTO_FLAG_SESSION) != 0 &&
        (verb != TXV_NONE || c->tx != NULL)) {
        respond_failure(c, SQLITE_MISUSE, true,
                        "an exactly-once write cannot be part of an "
                        "interactive transaction");
        return;
    }
    if (c->tx_lost[0] != '\0') {
        /* Until the client ends the transaction it thinks it is in. */
        if (verb == TXV_ROLLBACK) {
            c->tx_lost[0] = '\0';
            memset(&c->req, 0, sizeof c->req);
            respond_result(c);
            return;
        }
        if (verb == TXV_COMMIT || verb == TXV_BEGIN) {
            c->tx_lost[0] = verb == TXV_COMMIT ? '\0' : c->tx_lost[0];
        }
        respond_failure(c, SQLITE_ABORT, true, c->tx_lost);
        return;
    }
    switch (verb) {
        case TXV_BEGIN:
            if (c->tx != NULL) {
                respond_failure(c, SQLITE_ERROR, true,
                                "cannot start a transaction within a "
                                "transaction");
                return;
            }
            memset(&c->req, 0, sizeof c->req);
            c->tx_wrote = false;
            c->req.data = c;
            c->req.cb = begin_done_cb;
            c->waiting = true;
            c->refs++;
            queue_submit_begin(node_queue(n), c->db_name, &c->req,
                               &c->tx_new);
            return;
        case TXV_COMMIT:
            if (c->tx == NULL) {
                respond_failure(c, SQLITE_ERROR, true,
                                "cannot commit - no transaction is active");
                return;
            } else if (c->tx_wrote && !node_disk_ok(n, errmsg)) {
                /* The transaction stays open: the client may retry the
                 * COMMIT once space is back, or roll back. */
                respond_failure(c, SQLITE_FULL, true, errmsg);
                return;
            } else {
                struct exec_tx *tx = c->tx;
                bool proposed = true;

                c->tx = NULL;
                memset(&c->req, 0, sizeof c->req);
                c->req.data = c;
                c->req.cb = write_done_cb;
                c->is_write = true;
                c->waiting = true;
                c->refs++;
                /* A transaction that only read needs no log entry, only
                 * what its reads' level needs; STRONG is through the log
                 * by definition, so it keeps its barrier. */
                if (!c->tx_wrote && !c->level_strong) {
                    rv = exec_tx_commit_read(tx, &c->req, &proposed, errmsg);
                } else {
                    rv = exec_tx_commit(tx, &c->req, errmsg);
                }
                if (rv != 0) {
                    c->waiting = false;
                    c->refs--;
                    respond_status(c, rv,
                                   rv == WR_SQL ? SQLITE_CONSTRAINT : 0, true,
                                   errmsg);
                } else if (!proposed) {
                    c->is_write = false;
                    commit_read(c);
                }
            }
            return;
        case TXV_ROLLBACK:
            if (c->tx == NULL) {
                respond_failure(c, SQLITE_ERROR, true,
                                "cannot rollback - no transaction is active");
                return;
            }
            exec_tx_rollback(c->tx);
            c->tx = NULL;
            memset(&c->req, 0, sizeof c->req);
            respond_result(c);
            return;
        default:
            break;
    }

    c->is_write = sql_writes(c, sql, &has_cols, &unsure);
    if (!node_ready(n) && (c->is_write || unsure)) {
        forward(c, sql, params); /* A write, or a read that cannot tell. */
        return;
    }
    if (c->want_rows && !has_cols && !unsure) {
        respond_failure(c, SQLITE_ERROR, true,
                        "the statement returns no rows: send it with EXEC "
                        "instead of QUERY");
        return;
    }
    c->sql = strdup(sql);
    if (c->sql == NULL || (rv = copy_params(c, params)) != 0) {
        respond_failure(c, SQLITE_NOMEM, true, "out of memory");
        return;
    }
    c->req.data = c;
    c->req.sql = c->sql;
    c->req.params = c->params;
    c->req.n_params = c->n_params;
    c->req.cb = write_done_cb;
    if ((c->env.flags & PROTO_FLAG_SESSION) != 0) {
        c->req.client_id = c->env.client_id;
        c->req.seq = c->env.seq;
    }
    if (c->tx != NULL) {
        /* Reads and writes alike, at once, inside the transaction. A write
         * is checked against the disk only at COMMIT: until then it is in
         * memory. */
        c->tx_wrote |= c->is_write || unsure;
        c->tx_used_at = uv_now(c->tcp->loop);
        exec_tx_run(c->tx, &c->req);
        respond_req(c);
        return;
    }
    if (c->is_write && !node_disk_ok(n, errmsg)) {
        respond_failure(c, SQLITE_FULL, true, errmsg);
        return;
    }
    if (c->is_write || c->level_strong) {
        /* A STRONG read goes the way of a write: it runs in the next
         * batch, whose entry (a barrier if nothing changed) is committed
         * and applied before the rows are answered (fsm/exec.h). */
        c->waiting = true;
        c->refs++;
        queue_submit(node_queue(n), c->db_name, &c->req);
        return;
    }
    if (!c->level_none && !c->level_weak) {
        uint64_t index;

        if (read_direct(c)) {
            c->g->n_direct++;
            forward_read_at(c, 0, true);
            return;
        }
        if ((c->env.flags & PROTO_FLAG_VOUCHED) != 0 && node_ready(n) &&
            node_read_index_fast(n, c->env.client_id, c->env.seq,
                                 node_id(n), &index)) {
            /* A follower's read, sent on with its vouch, which together
             * with this leader is a majority of the voters. */
            c->g->n_vouched++;
            c->read_index = index > c->env.bookmark ? index : c->env.bookmark;
            c->read_deadline = uv_now(c->tcp->loop) + BOOKMARK_WAIT_MS;
            read_when_applied(c);
            return;
        }
        c->waiting = true;
        c->refs++;
        c->read.data = c;
        c->read.cb = lin_read_cb;
        node_read_index(n, &c->read);
        return;
    }
    exec_read(node_exec(n), c->db_name, &c->req);
    respond_req(c);
}

static void handle_open(struct conn *c, const struct proto_req_open *r)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct fsm_db *db;
    int rv;

    if (c->db != NULL) {
        respond_failure(c, PROTO_ERR_PROTO, true,
                        "a database is already open on this connection");
        return;
    }
    rv = fsm_db_open(node_fsm(c->g->n), r->name, &db, errmsg);
    if (rv != 0) {
        respond_failure(c, rv == WR_INVALID ? SQLITE_CANTOPEN : SQLITE_ERROR,
                        true, errmsg);
        return;
    }
    c->db_name = strdup(r->name);
    if (c->db_name == NULL) {
        respond_failure(c, SQLITE_NOMEM, true, "out of memory");
        return;
    }
    c->db = db;
    {
        struct proto_response resp = {.kind = PROTO_RESP_DB};
        resp.db.id = 0;
        respond(c, &resp);
    }
}

static void handle_prepare(struct conn *c,
                           const struct proto_req_prepare *r,
                           uint8_t schema)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct proto_response resp;
    sqlite3 *conn;
    sqlite3_stmt *stmt = NULL;
    const char *tail = NULL;
    struct stmt *s;
    int n_params;

    if (!check_db(c, r->db_id)) {
        return;
    }
    if (c->n_stmts >= c->g->max_statements) {
        err_printf(errmsg, "too many prepared statements on this "
                           "connection (at most %u): finalize some",
                   c->g->max_statements);
        respond_failure(c, SQLITE_ERROR, true, errmsg);
        return;
    }
    conn = fsm_db_conn(c->db, errmsg);
    if (conn == NULL) {
        respond_failure(c, SQLITE_CANTOPEN, true, errmsg);
        return;
    }
    if (sqlite3_prepare_v2(conn, r->sql, -1, &stmt, &tail) != SQLITE_OK) {
        respond_failure(c, (uint64_t)sqlite3_extended_errcode(conn), true,
                        sqlite3_errmsg(conn));
        return;
    }
    if (stmt == NULL) {
        respond_failure(c, SQLITE_ERROR, true, "empty statement");
        return;
    }
    n_params = sqlite3_bind_parameter_count(stmt);
    sqlite3_finalize(stmt);
    if (c->n_stmts == c->stmts_cap) {
        unsigned cap = c->stmts_cap == 0 ? 4 : c->stmts_cap * 2;
        struct stmt *grown = realloc(c->stmts, cap * sizeof *grown);
        if (grown == NULL) {
            respond_failure(c, SQLITE_NOMEM, true, "out of memory");
            return;
        }
        c->stmts = grown;
        c->stmts_cap = cap;
    }
    s = &c->stmts[c->n_stmts];
    s->sql = strndup(r->sql, (size_t)(tail - r->sql));
    if (s->sql == NULL) {
        respond_failure(c, SQLITE_NOMEM, true, "out of memory");
        return;
    }
    s->id = c->next_stmt_id++;
    c->n_stmts++;
    memset(&resp, 0, sizeof resp);
    if (schema >= 1) {
        resp.kind = PROTO_RESP_STMT_WITH_OFFSET;
        resp.stmt_with_offset.db_id = 0;
        resp.stmt_with_offset.id = s->id;
        resp.stmt_with_offset.params = (uint64_t)n_params;
        resp.stmt_with_offset.offset = (uint64_t)(tail - r->sql);
    } else {
        resp.kind = PROTO_RESP_STMT;
        resp.stmt.db_id = 0;
        resp.stmt.id = s->id;
        resp.stmt.params = (uint64_t)n_params;
    }
    respond(c, &resp);
}

static struct stmt *lookup_stmt(struct conn *c, uint32_t db_id, uint32_t id)
{
    struct stmt *s;

    if (!check_db(c, db_id)) {
        return NULL;
    }
    s = stmt_find(c, id);
    if (s == NULL) {
        char msg[WR_ERRMSG_SIZE];
        err_printf(msg, "no statement with id %u", id);
        respond_failure(c, PROTO_ERR_PROTO, true, msg);
    }
    return s;
}

static void handle_finalize(struct conn *c, const struct proto_req_finalize *r)
{
    struct stmt *s = lookup_stmt(c, r->db_id, r->stmt_id);

    if (s == NULL) {
        return;
    }
    free(s->sql);
    *s = c->stmts[--c->n_stmts];
    respond_empty(c);
}

/* A membership change or transfer finished. */
static void member_cb(void *arg, int status, const char *errmsg)
{
    struct conn *c = arg;

    c->waiting = false;
    if (!c->closing) {
        if (status == 0) {
            respond_empty(c);
        } else {
            respond_status(c, status, 0, true,
                           errmsg != NULL ? errmsg : err_str(status));
        }
    }
    conn_unref(c);
}

/* After node_add() and friends returned @rv. */
static void member_started(struct conn *c, int rv, const char *errmsg)
{
    if (rv != 0) {
        respond_status(c, rv, 0, true, errmsg);
        return;
    }
    c->waiting = true;
    c->refs++;
}

struct find {
    const char *name;
    struct fsm_db *db;
};

static void find_db_cb(void *arg, struct fsm_db *db)
{
    struct find *find = arg;
    if (find->db == NULL && strcmp(fsm_db_name(db), find->name) == 0) {
        find->db = db;
    }
}

static void handle_dump(struct conn *c, const char *name)
{
    struct proto_response resp = {.kind = PROTO_RESP_FILES};
    struct proto_file files[2];
    char errmsg[WR_ERRMSG_SIZE] = "";
    char *wal_name;
    struct fsm_db *db = NULL;
    sqlite3 *conn;
    sqlite3_int64 size = -1; /* Stays so if serializing fails. */
    unsigned char *image;

    /* fsm_db_open() would create it: look among the known ones. */
    struct find find = {name, NULL};
    fsm_foreach_db(node_fsm(c->g->n), find_db_cb, &find);
    db = find.db;
    if (db == NULL) {
        err_printf(errmsg, "no database named \"%s\"", name);
        respond_failure(c, SQLITE_ERROR, true, errmsg);
        return;
    }
    conn = fsm_db_conn(db, errmsg);
    if (conn == NULL) {
        respond_failure(c, SQLITE_CANTOPEN, true, errmsg);
        return;
    }
    image = sqlite3_serialize(conn, "main", &size, 0);
    if (image == NULL && size != 0) {
        /* NULL with size 0 is an empty database. */
        respond_failure(c, SQLITE_NOMEM, true, "serialize: out of memory");
        return;
    }
    wal_name = malloc(strlen(name) + 5);
    if (wal_name == NULL) {
        sqlite3_free(image);
        respond_failure(c, SQLITE_NOMEM, true, "out of memory");
        return;
    }
    strcpy(wal_name, name);
    strcat(wal_name, "-wal");
    files[0].name = name;
    files[0].size = image != NULL ? (uint64_t)size : 0;
    files[0].data = image;
    files[1].name = wal_name;
    files[1].size = 0;
    files[1].data = NULL;
    resp.files.files.n = 2;
    resp.files.files.files = files;
    respond(c, &resp);
    sqlite3_free(image);
    free(wal_name);
}

static void handle_cluster(struct conn *c, uint64_t format)
{
    struct raft *r = node_raft(c->g->n);
    struct proto_response resp;
    struct proto_node *nodes;
    unsigned n = r->configuration.n;

    if (format > PROTO_CLUSTER_FORMAT_V1) {
        respond_failure(c, SQLITE_PROTOCOL, true,
                        "unrecognized cluster format");
        return;
    }
    nodes = calloc(n > 0 ? n : 1, sizeof *nodes);
    if (nodes == NULL) {
        respond_failure(c, SQLITE_NOMEM, true, "out of memory");
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        const struct raft_server *s = &r->configuration.servers[i];
        nodes[i].id = s->id;
        nodes[i].address = s->address != NULL ? s->address : "";
        switch (s->role) {
            case RAFT_VOTER:
                nodes[i].role = PROTO_VOTER;
                break;
            case RAFT_STANDBY:
                nodes[i].role = PROTO_STANDBY;
                break;
            default:
                nodes[i].role = PROTO_SPARE;
                break;
        }
    }
    memset(&resp, 0, sizeof resp);
    if (format == PROTO_CLUSTER_FORMAT_V1) {
        resp.kind = PROTO_RESP_SERVERS;
        resp.servers.servers.n = n;
        resp.servers.servers.nodes = nodes;
    } else {
        resp.kind = PROTO_RESP_SERVERS_V0;
        resp.servers_v0.servers.n = n;
        resp.servers_v0.servers.nodes = nodes;
    }
    respond(c, &resp);
    free(nodes);
}

/* Serve one decoded request. Every path sends exactly one answer (or, for a
 * write or a membership change, arranges for one). */
static void handle(struct conn *c, const struct proto_request *r);

/* If @r is in an envelope: its fields in *@env and, when @base is not
 * NULL, the dqlite request inside it in *@base (pointing into @r's body). */
static bool unwrap_envelope(const struct proto_request *r,
                            struct envelope *env,
                            struct proto_request *base)
{
    struct proto_request b;

    memset(&b, 0, sizeof b);
    b.schema = r->schema;
    switch (r->type) {
        case PROTO_REQ_EXEC_EXT:
            *env = ENVELOPE_OF(r->exec_ext);
            b.type = PROTO_REQ_EXEC;
            b.exec.db_id = r->exec_ext.db_id;
            b.exec.stmt_id = r->exec_ext.stmt_id;
            b.exec.params = r->exec_ext.params;
            break;
        case PROTO_REQ_QUERY_EXT:
            *env = ENVELOPE_OF(r->query_ext);
            b.type = PROTO_REQ_QUERY;
            b.query.db_id = r->query_ext.db_id;
            b.query.stmt_id = r->query_ext.stmt_id;
            b.query.params = r->query_ext.params;
            break;
        case PROTO_REQ_EXEC_SQL_EXT:
            *env = ENVELOPE_OF(r->exec_sql_ext);
            b.type = PROTO_REQ_EXEC_SQL;
            b.exec_sql.db_id = r->exec_sql_ext.db_id;
            b.exec_sql.sql = r->exec_sql_ext.sql;
            b.exec_sql.params = r->exec_sql_ext.params;
            break;
        case PROTO_REQ_QUERY_SQL_EXT:
            *env = ENVELOPE_OF(r->query_sql_ext);
            b.type = PROTO_REQ_QUERY_SQL;
            b.query_sql.db_id = r->query_sql_ext.db_id;
            b.query_sql.sql = r->query_sql_ext.sql;
            b.query_sql.params = r->query_sql_ext.params;
            break;
        default:
            return false;
    }
    if (base != NULL) {
        *base = b;
    }
    return true;
}

/* A request in walraft's envelope: serve the dqlite request inside it, and
 * answer in kind. Levels (ARCHITECTURE.md section 4): NONE reads run on any
 * node, refused when the node last heard from a leader longer ago than the
 * request's max staleness; WEAK reads on the ready leader, as it is; the
 * default, LINEARIZABLE, on any node once it applied a read index
 * (node_read_index()); STRONG through the log with the next batch. A
 * bookmark holds the request in conn_process() until the node applied it,
 * at most BOOKMARK_WAIT_MS. An exactly-once write (client id, sequence
 * number) goes to the executor's session table (fsm/exec.h); sessions are
 * refused on QUERY requests and in interactive transactions. */
static void handle_envelope(struct conn *c, const struct proto_request *r)
{
    struct proto_request base;
    struct envelope env;
    char msg[WR_ERRMSG_SIZE];
    unsigned level;

    unwrap_envelope(r, &env, &base);
    c->ext = true;
    c->env = env;
    level = (unsigned)(env.flags & PROTO_LEVEL_MASK);
    if (level == PROTO_LEVEL_NONE) {
        uint64_t stale = node_staleness_ms(c->g->n);
        if (env.max_staleness_ms != 0 && stale > env.max_staleness_ms) {
            if (stale == UINT64_MAX) {
                err_printf(msg, "this node knows no leader, and the read "
                                "allows at most %llu ms of staleness",
                           (unsigned long long)env.max_staleness_ms);
            } else {
                err_printf(msg, "this node last heard from the leader %llu "
                                "ms ago, more than the %llu ms the read "
                                "allows",
                           (unsigned long long)stale,
                           (unsigned long long)env.max_staleness_ms);
            }
            respond_failure(c, SQLITE_ERROR, true, msg);
            return;
        }
        c->level_none = true;
    } else if (level == PROTO_LEVEL_STRONG) {
        c->level_strong = true;
    } else if (level == PROTO_LEVEL_WEAK) {
        c->level_weak = true;
    } else if (level != PROTO_LEVEL_DEFAULT &&
               level != PROTO_LEVEL_LINEARIZABLE) {
        err_printf(msg, "unknown consistency level %u", level);
        respond_failure(c, SQLITE_ERROR, true, msg);
        return;
    }
    if (env.flags & ~(uint64_t)(PROTO_LEVEL_MASK | PROTO_FLAG_SESSION |
                                PROTO_FLAG_VOUCHED)) {
        respond_failure(c, SQLITE_ERROR, true, "unknown envelope flags");
        return;
    }
    if ((env.flags & PROTO_FLAG_SESSION) != 0) {
        if (env.client_id == 0 || env.seq == 0) {
            respond_failure(c, SQLITE_MISUSE, true,
                            "an exactly-once write needs a client id and a "
                            "sequence number of at least 1");
            return;
        }
        if (base.type == PROTO_REQ_QUERY || base.type == PROTO_REQ_QUERY_SQL) {
            /* The session table keeps changes and last insert id, not
             * rows: a retry could not answer what the first try did. */
            respond_failure(c, SQLITE_MISUSE, true,
                            "exactly-once writes are sent with EXEC or "
                            "EXEC_SQL, not QUERY");
            return;
        }
    }
    if (env.bookmark > applied_index(c) && c->tx == NULL &&
        follows_leader(c)) {
        c->bookmark_ahead = true; /* handle_sql() sends reads on. */
    } else if (env.bookmark > applied_index(c)) {
        /* conn_process() waited for it as long as the node allows. */
        err_printf(msg, "bookmark %llu was not applied on this node within "
                        "%u ms (applied index %llu)",
                   (unsigned long long)env.bookmark, BOOKMARK_WAIT_MS,
                   (unsigned long long)applied_index(c));
        respond_failure(c, SQLITE_ERROR, true, msg);
        return;
    }
    handle(c, &base);
}

static void handle(struct conn *c, const struct proto_request *r)
{
    struct node *n = c->g->n;
    struct proto_response resp;
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct stmt *s;
    int rv;

    memset(&resp, 0, sizeof resp);
    c->type = r->type;
    c->want_rows = false;
    c->is_write = false;
    switch (r->type) {
        case PROTO_REQ_EXEC_EXT:
        case PROTO_REQ_QUERY_EXT:
        case PROTO_REQ_EXEC_SQL_EXT:
        case PROTO_REQ_QUERY_SQL_EXT:
            handle_envelope(c, r);
            return;
        case PROTO_REQ_LEADER: {
            uint64_t id;
            const char *address;
            node_leader(n, &id, &address);
            if (c->legacy) {
                resp.kind = PROTO_RESP_SERVER_LEGACY;
                resp.server_legacy.address = address;
            } else {
                resp.kind = PROTO_RESP_SERVER;
                resp.server.id = id;
                resp.server.address = address;
            }
            respond(c, &resp);
            return;
        }
        case PROTO_REQ_CLIENT:
            resp.kind = PROTO_RESP_WELCOME;
            resp.welcome.heartbeat_timeout = HEARTBEAT_TIMEOUT_MS;
            respond(c, &resp);
            return;
        case PROTO_REQ_OPEN:
            handle_open(c, &r->open);
            return;
        case PROTO_REQ_PREPARE:
            handle_prepare(c, &r->prepare, r->schema);
            return;
        case PROTO_REQ_EXEC:
        case PROTO_REQ_QUERY: {
            /* EXEC and QUERY have the same fields. */
            const struct proto_req_exec *e = &r->exec;
            const struct proto_params *params = &e->params;
            uint32_t db_id = e->db_id;
            uint32_t stmt_id = e->stmt_id;
            if (r->type == PROTO_REQ_QUERY) {
                params = &r->query.params;
                db_id = r->query.db_id;
                stmt_id = r->query.stmt_id;
                c->want_rows = true;
            }
            s = lookup_stmt(c, db_id, stmt_id);
            if (s != NULL) {
                handle_sql(c, s->sql, params);
            }
            return;
        }
        case PROTO_REQ_EXEC_SQL:
            if (check_db(c, r->exec_sql.db_id)) {
                handle_sql(c, r->exec_sql.sql, &r->exec_sql.params);
            }
            return;
        case PROTO_REQ_QUERY_SQL:
            c->want_rows = true;
            if (check_db(c, r->query_sql.db_id)) {
                handle_sql(c, r->query_sql.sql, &r->query_sql.params);
            }
            return;
        case PROTO_REQ_FINALIZE:
            handle_finalize(c, &r->finalize);
            return;
        case PROTO_REQ_INTERRUPT:
            respond_empty(c);
            return;
        case PROTO_REQ_ADD:
            rv = node_add(n, r->add.id, r->add.address, member_cb, c, errmsg);
            member_started(c, rv, errmsg);
            return;
        case PROTO_REQ_ASSIGN: {
            uint64_t role = r->assign.role.present ? r->assign.role.value
                                                   : PROTO_VOTER;
            if (role > PROTO_SPARE) {
                respond_failure(c, SQLITE_ERROR, true, "unknown role");
                return;
            }
            rv = node_assign(n, r->assign.id, (int)role, member_cb, c,
                             errmsg);
            member_started(c, rv, errmsg);
            return;
        }
        case PROTO_REQ_REMOVE:
            rv = node_remove(n, r->remove.id, member_cb, c, errmsg);
            member_started(c, rv, errmsg);
            return;
        case PROTO_REQ_TRANSFER:
            rv = node_transfer(n, r->transfer.id, member_cb, c, errmsg);
            member_started(c, rv, errmsg);
            return;
        case PROTO_REQ_DUMP:
            handle_dump(c, r->dump.name);
            return;
        case PROTO_REQ_CLUSTER:
            handle_cluster(c, r->cluster.format);
            return;
        case PROTO_REQ_DESCRIBE:
            if (r->describe.format != PROTO_DESCRIBE_FORMAT_V0) {
                respond_failure(c, SQLITE_PROTOCOL, true,
                                "bad format version");
                return;
            }
            resp.kind = PROTO_RESP_METADATA;
            resp.metadata.failure_domain = 0;
            resp.metadata.weight = node_weight(n);
            respond(c, &resp);
            return;
        case PROTO_REQ_WEIGHT:
            node_set_weight(n, r->weight.weight);
            respond_empty(c);
            return;
        case PROTO_REQ_STATUS: {
            char *json = node_status_json(n);
            if (json == NULL) {
                respond_failure(c, SQLITE_NOMEM, true, "out of memory");
                return;
            }
            resp.kind = PROTO_RESP_STATUS;
            resp.status.json = json;
            respond(c, &resp);
            free(json);
            return;
        }
        case PROTO_REQ_READ_INDEX:
            if (!node_ready(n)) {
                respond_not_leader(c);
                return;
            }
            if (node_read_index_fast(n, r->read_index.id, r->read_index.term,
                                     r->read_index.leader_id,
                                     &resp.read_index.index)) {
                resp.kind = PROTO_RESP_READ_INDEX;
                resp.read_index.term = node_raft(n)->current_term;
                respond(c, &resp);
                return;
            }
            c->waiting = true;
            c->refs++;
            c->read.data = c;
            c->read.cb = read_index_answer_cb;
            node_read_index(n, &c->read);
            return;
        case PROTO_REQ_CONFIRM:
            resp.kind = PROTO_RESP_CONFIRM;
            node_confirm_answer(n, &resp.confirm.term,
                                &resp.confirm.leader_id);
            resp.confirm.round = r->confirm.round;
            respond(c, &resp);
            return;
        case PROTO_REQ_CONNECT:
            respond_failure(c, PROTO_ERR_PROTO, true,
                            "CONNECT is for Raft peers, not on a client "
                            "connection");
            return;
        default:
            /* HEARTBEAT, as dqlite 1.11, and anything decodable we do not
             * serve. */
            respond_failure(c, PROTO_ERR_PARSE, true,
                            "unrecognized request type");
            return;
    }
}

/*
 * Input.
 */

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *out)
{
    struct conn *c = handle->data;
    size_t want = READ_CHUNK;
    (void)suggested;

    if (c->have_header && c->body_len > c->in_len &&
        c->body_len - c->in_len > want) {
        want = c->body_len - c->in_len;
    }
    if (c->in_cap - c->in_len < want) {
        size_t cap = c->in_len + want;
        uint8_t *grown = realloc(c->in, cap);
        if (grown == NULL) {
            out->base = NULL;
            out->len = 0;
            return;
        }
        c->in = grown;
        c->in_cap = cap;
    }
    out->base = (char *)c->in + c->in_len;
    out->len = c->in_cap - c->in_len;
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    struct conn *c = stream->data;
    (void)b;

    if (nread < 0) {
        /* EOF, a reset, or no memory for the read buffer (UV_ENOBUFS). */
        conn_close(c);
        return;
    }
    c->in_len += (size_t)nread;
    conn_process(c);
}

/* Drop the first @n bytes of input. */
static void consume(struct conn *c, size_t n)
{
    if (n == 0) {
        return; /* c->in may still be NULL. */
    }
    if (c->in_len > n) {
        memmove(c->in, c->in + n, c->in_len - n);
    }
    c->in_len -= n;
    /* Give back a buffer grown for one large message. */
    if (c->in_cap > 4 * READ_CHUNK && c->in_len < READ_CHUNK) {
        uint8_t *shrunk = realloc(c->in, READ_CHUNK);
        if (shrunk != NULL) {
            c->in = shrunk;
            c->in_cap = READ_CHUNK;
        }
    }
}

/* Handle the frames that are complete in the input buffer, as long as the
 * connection is free to; then read if it wants more. */
/* The whole request at the front of the buffer is in an envelope whose
 * bookmark this node has not applied yet: leave it there until it is, or
 * until BOOKMARK_WAIT_MS passed (then handle_envelope() says so). */
static bool bookmark_pending(struct conn *c)
{
    char errmsg[WR_ERRMSG_SIZE];
    struct proto_request r;
    struct envelope env;
    uint64_t now = uv_now(c->tcp->loop);

    if (c->hdr.type < PROTO_EXT_TYPE_FIRST ||
        proto_request_decode(&c->hdr, c->in, c->body_len, &c->g->limits, &r,
                             errmsg) != 0 ||
        !unwrap_envelope(&r, &env, NULL) || env.bookmark <= applied_index(c) ||
        (c->tx == NULL && follows_leader(c))) {
        /* A follower sends what it cannot serve yet to the leader
         * (handle_envelope()). */
        c->park_deadline = 0;
        return false;
    }
    if (c->park_deadline == 0) {
        c->park_deadline = now + BOOKMARK_WAIT_MS;
    } else if (now >= c->park_deadline) {
        c->park_deadline = 0;
        return false;
    }
    c->park_bookmark = env.bookmark;
    return true;
}

static void conn_process(struct conn *c)
{
    struct gateway *g = c->g;
    bool want_read;

    while (!c->closing && g != NULL) {
        char errmsg[WR_ERRMSG_SIZE] = "";
        struct proto_request r;
        int rv;

        if (!c->have_header) {
            if (c->in_len < PROTO_HEADER_SIZE) {
                break;
            }
            rv = proto_header_decode(c->in, &g->limits, &c->hdr,
                                     &c->body_len, errmsg);
            if (rv != 0) {
                log_warn("gateway: %s: closing the connection", errmsg);
                conn_close(c);
                return;
            }
            consume(c, PROTO_HEADER_SIZE);
            c->have_header = true;
        }
        if (c->in_len < c->body_len) {
            break;
        }
        if (c->busy) {
            /* Only an INTERRUPT is served while ROWS are streamed. */
            if (!(c->streaming && c->hdr.type == PROTO_REQ_INTERRUPT)) {
                break;
            }
            consume(c, c->body_len);
            c->have_header = false;
            c->interrupted = true;
            continue;
        }
        if (bookmark_pending(c)) {
            break; /* gateway_poll() comes back when it is applied. */
        }
        c->busy = true;
        rv = proto_request_decode(&c->hdr, c->in, c->body_len, &g->limits,
                                  &r, errmsg);
        if (rv != 0) {
            respond_failure(c, PROTO_ERR_PROTO, true, errmsg);
        } else {
            handle(c, &r);
        }
        /* Everything needed was copied out of the frame. */
        consume(c, c->body_len);
        c->have_header = false;
    }
    if (c->closing) {
        return;
    }
    /* Reads go on while a request is served: a client that waits for each
     * answer sends nothing meanwhile, and stopping and restarting them cost
     * two epoll_ctl() calls per request. A whole frame waiting for its turn
     * stops them, so at most one frame is buffered. */
    want_read = !(c->have_header && c->in_len >= c->body_len);
    if (want_read && !c->reading) {
        if (uv_read_start((uv_stream_t *)c->tcp, alloc_cb, read_cb) != 0) {
            conn_close(c);
            return;
        }
        c->reading = true;
    } else if (!want_read && c->reading) {
        uv_read_stop((uv_stream_t *)c->tcp);
        c->reading = false;
    }
}

/*
 * Public API.
 */

int gateway_create(struct node *n, struct gateway **out)
{
    const struct node_config *config = node_config(n);
    struct gateway *g = calloc(1, sizeof *g);

    if (g == NULL) {
        return WR_NOMEM;
    }
    g->n = n;
    g->limits = config->limits;
    if (g->limits.max_message == 0 && g->limits.max_text == 0 &&
        g->limits.max_blob == 0 && g->limits.max_params == 0 &&
        g->limits.max_columns == 0) {
        proto_limits_default(&g->limits);
        g->limits.max_message = 16u << 20;
    }
    g->max_connections = config->max_connections != 0
                             ? config->max_connections
                             : DEFAULT_MAX_CONNECTIONS;
    g->max_statements = config->max_statements != 0
                            ? config->max_statements
                            : DEFAULT_MAX_STATEMENTS;
    *out = g;
    return 0;
}

static void refuse_close_cb(uv_handle_t *handle)
{
    raft_free(handle);
}

void gateway_accept(struct gateway *g, uv_stream_t *stream, const uint8_t *head)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    uint64_t version;
    struct conn *c;

    if (g->closing || proto_version_decode(head, &version, errmsg) != 0) {
        uv_close((uv_handle_t *)stream, refuse_close_cb);
        return;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL) {
        uv_close((uv_handle_t *)stream, refuse_close_cb);
        return;
    }
    c->g = g;
    c->tcp = (uv_tcp_t *)stream;
    stream->data = c;
    c->refs = 1; /* The handle. */
    c->legacy = version == PROTO_VERSION_LEGACY;
    c->next = g->conns;
    if (g->conns != NULL) {
        g->conns->prev = c;
    }
    g->conns = c;
    g->n_open++;

    if (g->n_open > g->max_connections) {
        c->close_after_write = true;
        c->busy = true;
        respond_failure(c, SQLITE_ERROR, true, "too many connections");
        return;
    }
    if (proto_header_decode(head + PROTO_WORD, &g->limits, &c->hdr,
                            &c->body_len, errmsg) != 0) {
        log_warn("gateway: %s: closing the connection", errmsg);
        conn_close(c);
        return;
    }
    c->have_header = true;
    conn_process(c);
}

void gateway_close(struct gateway *g, void (*cb)(void *arg), void *arg)
{
    g->closing = true;
    g->close_cb = cb;
    g->close_arg = arg;
    for (struct conn *c = g->conns; c != NULL; c = c->next) {
        conn_close(c);
    }
    maybe_closed(g);
}

void gateway_destroy(struct gateway *g)
{
    struct conn *c = g->conns;

    /* Records still waiting for a node callback free themselves then. */
    while (c != NULL) {
        struct conn *next = c->next;
        if (c->tcp != NULL) {
            log_warn("gateway: destroyed with a connection still open");
        }
        c->g = NULL;
        c->prev = c->next = NULL;
        c = next;
    }
    free(g);
}

unsigned gateway_connections(const struct gateway *g)
{
    return g->n_open;
}

void gateway_read_stats(const struct gateway *g,
                        uint64_t *direct,
                        uint64_t *vouched)
{
    *direct = g->n_direct;
    *vouched = g->n_vouched;
}

void gateway_poll(struct gateway *g)
{
    struct conn *c = g->conns;

    while (c != NULL) {
        struct conn *next = c->next;
        if (c->read_waiting && !c->closing) {
            c->refs++;
            read_when_applied(c);
            next = c->next;
            conn_unref(c);
            c = next;
            continue;
        }
        if (c->park_deadline != 0 && !c->busy && !c->closing &&
            (c->park_bookmark <= applied_index(c) ||
             uv_now(c->tcp->loop) >= c->park_deadline)) {
            c->refs++; /* conn_process() may close it. */
            conn_process(c);
            next = c->next;
            conn_unref(c);
        }
        c = next;
    }
}

void gateway_tick(struct gateway *g)
{
    struct node *n = g->n;
    unsigned timeout = node_config(n)->tx_timeout_ms;
    bool ready = node_ready(n);
    char why[WR_ERRMSG_SIZE];

    for (struct conn *c = g->conns; c != NULL; c = c->next) {
        if (c->tx == NULL) {
            continue;
        }
        if (!ready) {
            tx_lose(c, "the transaction was rolled back: this node stopped "
                       "leading");
        } else if (uv_now(c->tcp->loop) - c->tx_used_at >= timeout) {
            err_printf(why, "the transaction was rolled back: idle for more "
                            "than %u ms",
                       timeout);
            tx_lose(c, why);
        }
    }
}
