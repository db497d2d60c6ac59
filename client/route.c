/*
 * Where a statement goes and what happens when that fails (api.h).
 *
 * Two links per handle: the leader link, found with conn_open_leader(), and
 * the read link, to the first node of the address list that answers (the
 * leader link itself when that node is the leader). Writes, statements that
 * may write while returning rows, and everything inside an interactive
 * transaction go to the leader link; reads go to the read link, and the
 * node serves them locally or forwards them (weak, strong).
 *
 * Every request travels in walraft's envelope, so every answer carries a
 * bookmark and every failure says whether it is definite. The loop in
 * route_run() decides, for each failure, between retrying and giving up:
 *
 *   answer                                  read   session write  write
 *   not leader, definite                    retry  retry          retry
 *   outcome unknown (leadership lost,       retry  retry, same    give up,
 *     a broken or timed-out connection)            seq            indefinite
 *   the write is in flight (BUSY)           -      retry, same    -
 *                                                  seq
 *   sessions not served                     -      fall back to plain
 *                                                  writes, once per handle
 *   any other failure                       give up with it
 *
 * Nothing is retried inside a transaction. Retries are spaced by a short
 * nap that grows, and stop at the handle's failover timeout.
 */
#include "api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static unsigned ms_until(uint64_t deadline)
{
    uint64_t now = now_ms();
    return now >= deadline ? 0 : (unsigned)(deadline - now);
}

static void nap(unsigned ms, uint64_t deadline)
{
    unsigned left = ms_until(deadline);
    struct timespec ts;

    if (left < ms) {
        ms = left;
    }
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void route_close(struct link *l)
{
    if (l->streaming != NULL) {
        l->streaming->broken = true;
        l->streaming->more = false;
        l->streaming = NULL;
    }
    conn_close(l->conn);
    l->conn = NULL;
    l->db_id = 0;
}

/* OPEN the handle's database on a fresh connection and keep it in @l. */
static int link_attach(struct wr_db *db,
                       struct link *l,
                       struct conn *c,
                       char *errmsg)
{
    struct proto_request req;
    struct proto_response resp;
    int rv;

    conn_set_timeout(c, db->request_timeout_ms);
    memset(&req, 0, sizeof req);
    req.type = PROTO_REQ_OPEN;
    req.open.name = db->database;
    req.open.vfs = "";
    rv = conn_request(c, &req, PROTO_RESP_DB, &resp, errmsg);
    if (rv != 0) {
        err_wrap(errmsg, "open database \"%s\"", db->database);
        conn_close(c);
        return rv;
    }
    l->conn = c;
    l->db_id = resp.db.id;
    l->streaming = NULL;
    return 0;
}

/* The leader link, connecting within @deadline if needed. */
static int leader_link(struct wr_db *db,
                       uint64_t deadline,
                       struct link **out,
                       char *errmsg)
{
    struct conn *c;
    int rv;

    if (db->leader.conn == NULL) {
        unsigned left = ms_until(deadline);
        rv = conn_open_leader(db->addresses, db->connect_timeout_ms,
                              left > 0 ? left : 1, &c, errmsg);
        if (rv != 0) {
            return rv;
        }
        rv = link_attach(db, &db->leader, c, errmsg);
        if (rv != 0) {
            return rv;
        }
    }
    *out = &db->leader;
    return 0;
}

/* The read link: the first node of the list, from db->read_next on, that
 * accepts a connection. */
static int read_link(struct wr_db *db, struct link **out, char *errmsg)
{
    unsigned k;
    int rv = WR_IOERR;

    if (db->read.conn != NULL) {
        *out = &db->read;
        return 0;
    }
    for (k = 0; k < db->n_addrs; k++) {
        unsigned i = (db->read_next + k) % db->n_addrs;
        const char *a = db->addrs[i];
        struct conn *c;
        if (db->leader.conn != NULL &&
            strcmp(conn_address(db->leader.conn), a) == 0) {
            db->read_next = i;
            *out = &db->leader;
            return 0;
        }
        rv = conn_open(a, db->connect_timeout_ms, &c, errmsg);
        if (rv == 0) {
            rv = link_attach(db, &db->read, c, errmsg);
        }
        if (rv == 0) {
            db->read_next = i;
            *out = &db->read;
            return 0;
        }
        if (rv == WR_NOMEM) {
            return rv;
        }
    }
    err_wrap(errmsg, "no node of %s answers", db->addresses);
    return rv;
}

/* Give the link up after it failed, and make the read link start from
 * the next node of the list. */
static void link_failed(struct wr_db *db, struct link *l)
{
    if (l == &db->read ||
        (l == &db->leader && db->read.conn == NULL && db->n_addrs > 0)) {
        db->read_next = (db->read_next + 1) % db->n_addrs;
    }
    route_close(l);
    if (l == &db->leader && db->in_tx) {
        /* The node rolls back a transaction whose connection goes. */
        db->in_tx = false;
        db->tx_lost = true;
    }
}

int route_drain(struct link *l, bool keep)
{
    struct wr_stmt *s = l->streaming;
    struct proto_response resp;
    char errmsg[WR_ERRMSG_SIZE] = "";
    int rv = 0;

    while (s != NULL && s->more) {
        rv = conn_next(l->conn, PROTO_RESP_ROWS_EXT, &resp, errmsg);
        if (rv != 0) {
            break;
        }
        s->more = resp.rows_ext.rows.marker == PROTO_ROWS_PART;
        if (keep) {
            rv = stmt_add_rows(s, &resp.rows_ext.rows);
            if (rv != 0) {
                s->more = false; /* Keep what fitted; the link goes. */
                break;
            }
        }
    }
    l->streaming = NULL;
    if (rv != 0) {
        struct wr_db *db = s->db;
        link_failed(db, l);
        s->broken = keep;
        if (!keep) {
            api_error(db, rv, 0, true, "discard the rest of the rows: %s",
                      errmsg);
        }
    }
    return rv;
}

int route_next(struct wr_stmt *s)
{
    struct wr_db *db = s->db;
    struct proto_response resp;
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct link *l = s->link;
    int rv;

    rv = conn_next(l->conn, PROTO_RESP_ROWS_EXT, &resp, errmsg);
    if (rv != 0) {
        l->streaming = NULL;
        s->more = false;
        if (rv == WR_SQL) {
            api_error(db, WR_SQL, (int)resp.failure_ext.code,
                      (resp.failure_ext.flags & PROTO_FLAG_DEFINITE) != 0,
                      "%s", errmsg);
            return WR_SQL;
        }
        link_failed(db, l);
        api_error(db, rv, 0, s->kind == KIND_READ,
                  "read the rest of the rows: %s", errmsg);
        return rv;
    }
    s->more = resp.rows_ext.rows.marker == PROTO_ROWS_PART;
    if (!s->more) {
        l->streaming = NULL;
    }
    rv = stmt_add_rows(s, &resp.rows_ext.rows);
    if (rv != 0) {
        api_error(db, rv, 0, true, "keep the rows: %s", wr_errstr(rv));
        if (s->more) {
            l->streaming = s;
            route_drain(l, false);
        }
        return rv;
    }
    return 0;
}

/* Send @s once on @l. */
static int send_once(struct wr_stmt *s,
                     struct link *l,
                     bool query,
                     uint64_t flags,
                     uint64_t bookmark,
                     uint64_t max_staleness_ms,
                     uint64_t seq,
                     struct proto_response *resp,
                     char *errmsg)
{
    struct proto_request req;
    struct proto_value *params = NULL;
    unsigned k;
    int rv;

    if (s->n_params > 0) {
        params = calloc(s->n_params, sizeof *params);
        if (params == NULL) {
            err_printf(errmsg, "out of memory");
            return WR_NOMEM;
        }
        for (k = 0; k < s->n_params; k++) {
            params[k].v = s->params[k];
        }
    }
    memset(&req, 0, sizeof req);
    req.schema = proto_params_schema(s->n_params);
    /* EXEC_SQL_EXT and QUERY_SQL_EXT have the same fields. */
#define FILL(m)                                                    \
    do {                                                           \
        req.m.flags = flags;                                       \
        req.m.bookmark = bookmark;                                 \
        req.m.max_staleness_ms = max_staleness_ms;                 \
        req.m.client_id = seq != 0 ? s->db->client_id : 0;         \
        req.m.seq = seq;                                           \
        req.m.db_id = l->db_id;                                    \
        req.m.sql = s->sql;                                        \
        req.m.params.n = s->n_params;                              \
        req.m.params.values = params;                              \
    } while (0)
    if (query) {
        req.type = PROTO_REQ_QUERY_SQL_EXT;
        FILL(query_sql_ext);
    } else {
        req.type = PROTO_REQ_EXEC_SQL_EXT;
        FILL(exec_sql_ext);
    }
#undef FILL
    rv = conn_request(l->conn, &req,
                      query ? PROTO_RESP_ROWS_EXT : PROTO_RESP_RESULT_EXT,
                      resp, errmsg);
    free(params);
    return rv;
}

static bool is_not_leader(uint64_t code)
{
    return code == PROTO_ERR_NOT_LEADER || code == PROTO_ERR_NOT_LEADER_LEGACY;
}

static bool is_leadership_lost(uint64_t code)
{
    return code == PROTO_ERR_LEADERSHIP_LOST ||
           code == PROTO_ERR_LEADERSHIP_LOST_LEGACY;
}

/* The statement succeeded: keep what the answer says. */
static int took(struct wr_stmt *s,
                struct link *l,
                bool query,
                const struct proto_response *resp)
{
    struct wr_db *db = s->db;
    int rv;

    if (!query) {
        s->bookmark = resp->result_ext.bookmark;
        db->last_insert_rowid = (int64_t)resp->result_ext.last_insert_id;
        db->changes = (int64_t)resp->result_ext.rows_affected;
    } else {
        s->bookmark = resp->rows_ext.bookmark;
        s->link = l;
        s->more = resp->rows_ext.rows.marker == PROTO_ROWS_PART;
        l->streaming = s->more ? s : NULL;
        rv = stmt_add_rows(s, &resp->rows_ext.rows);
        if (rv != 0) {
            api_error(db, rv, 0, s->kind == KIND_READ, "keep the rows: %s",
                      wr_errstr(rv));
            if (s->more) {
                route_drain(l, false);
            }
            return rv;
        }
    }
    api_seen_bookmark(db, s->bookmark);
    switch (s->kind) {
        case KIND_BEGIN:
            db->in_tx = true;
            break;
        case KIND_COMMIT:
        case KIND_ROLLBACK:
            db->in_tx = false;
            break;
        default:
            break;
    }
    return 0;
}

/* A transaction-control statement failed with @code: is the transaction
 * still open? A COMMIT refused for a full disk leaves it open (the node
 * says so); every other failure of COMMIT or ROLLBACK ends it. */
static void tx_failed(struct wr_stmt *s, int code, bool definite)
{
    if (s->kind == KIND_COMMIT &&
        !(definite && (code & 0xff) == API_SQLITE_FULL)) {
        s->db->in_tx = false;
    } else if (s->kind == KIND_ROLLBACK) {
        s->db->in_tx = false;
    }
}

int route_run(struct wr_stmt *s)
{
    struct wr_db *db = s->db;
    uint64_t deadline = now_ms() + db->failover_timeout_ms;
    bool query = s->kind == KIND_READ || s->kind == KIND_ROWS;
    bool in_tx = db->in_tx;
    bool to_leader = in_tx || s->kind != KIND_READ;
    bool session = false;
    bool unknown = false; /* Some attempt may have taken effect. */
    bool resend = false;  /* Send again at once, changed. */
    /* Statements that change nothing if they are lost halfway. */
    bool idempotent = s->kind == KIND_READ || s->kind == KIND_BEGIN;
    uint64_t seq = 0;
    int level = s->level != WR_LEVEL_DEFAULT ? s->level : db->level;
    uint64_t staleness = s->level != WR_LEVEL_DEFAULT ? s->max_staleness_ms
                                                      : db->max_staleness_ms;
    char errmsg[WR_ERRMSG_SIZE] = "";
    int last_rv = WR_IOERR;
    int last_sql = 0;
    unsigned attempt;

    if (db->tx_lost) {
        /* As the node does: until the caller ends the transaction it
         * believes in, nothing runs outside it by mistake. */
        if (s->kind == KIND_ROLLBACK) {
            db->tx_lost = false;
            return 0;
        }
        if (s->kind == KIND_COMMIT) {
            db->tx_lost = false;
        }
        api_error(db, WR_IOERR, 0, true,
                  "the connection to the leader broke during the "
                  "transaction, which was rolled back%s",
                  s->kind == KIND_COMMIT ? "" : "; end it with ROLLBACK");
        return WR_IOERR;
    }
    if (s->kind == KIND_WRITE && !in_tx && db->sessions != 0) {
        session = true;
        seq = ++db->seq;
    }
    for (attempt = 0;; attempt++) {
        struct proto_response resp;
        struct link *l = NULL;
        uint64_t flags;
        uint64_t bookmark;
        bool definite;
        uint64_t code;
        int rv;

        if (attempt > 0 && !resend) {
            if (in_tx || ms_until(deadline) == 0) {
                break;
            }
            nap(attempt < 10 ? 20u * attempt : 200u, deadline);
        }
        resend = false;
        if (attempt > 0) {
            db->retries++;
        }
        rv = to_leader ? leader_link(db, deadline, &l, errmsg)
                       : read_link(db, &l, errmsg);
        if (rv != 0) {
            last_rv = rv;
            last_sql = 0;
            if (rv == WR_NOMEM) {
                break;
            }
            if (in_tx) {
                err_printf(errmsg, "the connection to the leader is gone, "
                                   "and the transaction with it");
            }
            continue;
        }
        if (l->streaming != NULL) {
            rv = route_drain(l, true);
            if (rv != 0) {
                last_rv = rv;
                continue; /* Nothing of ours was sent. */
            }
        } else if (!conn_alive(l->conn)) {
            /* The node hung up while the link was idle (it stopped, or
             * the leader went): reconnect before sending, so that the
             * statement's outcome stays certain. */
            err_printf(errmsg, "%s closed the connection",
                       conn_address(l->conn));
            last_rv = WR_IOERR;
            link_failed(db, l);
            if (in_tx) {
                /* The node rolled the transaction back. */
                db->tx_lost = s->kind != KIND_COMMIT &&
                              s->kind != KIND_ROLLBACK;
                if (s->kind == KIND_ROLLBACK) {
                    return 0;
                }
                api_error(db, WR_IOERR, 0, true,
                          "%s; the transaction was rolled back", errmsg);
                return WR_IOERR;
            }
            continue;
        }
        flags = (uint64_t)level;
        bookmark = db->bookmark > s->bookmark_min ? db->bookmark
                                                  : s->bookmark_min;
        if (!query) {
            flags = 0;
            bookmark = 0;
            staleness = 0;
        }
        if (session) {
            flags |= PROTO_FLAG_SESSION;
        }
        rv = send_once(s, l, query, flags, bookmark, staleness,
                       session ? seq : 0, &resp, errmsg);
        if (rv == 0) {
            if (session) {
                db->sessions = 1;
            } else if (s->kind == KIND_WRITE && db->sessions == -1 &&
                       !in_tx) {
                db->sessions = 0;
            }
            return took(s, l, query, &resp);
        }
        last_rv = rv;
        if (rv == WR_NOMEM || rv == WR_INVALID) {
            /* Not encoded, so not sent. */
            api_error(db, rv, 0, !unknown, "%s", errmsg);
            return rv;
        }
        if (rv != WR_SQL) {
            /* The connection broke or timed out: the request may have
             * arrived and had its effect. */
            link_failed(db, l);
            if (in_tx) {
                if (s->kind == KIND_ROLLBACK) {
                    /* Rolled back, by the node if not by the request:
                     * the node rolls back a transaction whose connection
                     * goes. */
                    db->tx_lost = false;
                    return 0;
                }
                if (s->kind == KIND_COMMIT) {
                    db->tx_lost = false; /* COMMIT ended it, somehow. */
                }
                api_error(db, rv, 0, s->kind != KIND_COMMIT,
                          "%s; the transaction is lost%s", errmsg,
                          s->kind == KIND_COMMIT
                              ? ", and whether it committed is unknown"
                              : "");
                return rv;
            }
            if (!idempotent) {
                unknown = true;
                if (!session) {
                    api_error(db, rv, 0, false,
                              "%s; the write may or may not have happened",
                              errmsg);
                    return rv;
                }
            }
            continue;
        }

        /* The node answered with a failure. */
        if (resp.kind == PROTO_RESP_FAILURE_EXT) {
            code = resp.failure_ext.code;
            definite = (resp.failure_ext.flags & PROTO_FLAG_DEFINITE) != 0;
        } else {
            code = resp.failure.code;
            definite = false;
        }
        last_sql = (int)code;
        if (session && definite &&
            strstr(errmsg, API_NO_SESSIONS_MESSAGE) != NULL) {
            /* A node from before sessions: plain writes from now on. */
            db->sessions = 0;
            session = false;
            seq = 0;
            resend = true;
            continue;
        }
        if (s->kind == KIND_ROWS && definite &&
            strstr(errmsg, "send it with EXEC") != NULL) {
            /* A WITH or PRAGMA that returns no rows: it did not run. */
            query = false;
            s->kind = KIND_WRITE;
            if (!in_tx && db->sessions != 0) {
                session = true;
                seq = ++db->seq;
            }
            resend = true;
            continue;
        }
        if (in_tx) {
            if (!definite && s->kind == KIND_COMMIT) {
                db->in_tx = false;
            }
            tx_failed(s, (int)code, definite);
            api_error(db, WR_SQL, (int)code, definite, "%s", errmsg);
            return WR_SQL;
        }
        if (is_not_leader(code) && definite) {
            /* Look for the leader again; a follower that cannot reach
             * one for a read is left for the next node of the list. */
            link_failed(db, l);
            continue;
        }
        if (!definite || is_leadership_lost(code)) {
            if (!idempotent) {
                unknown = true;
                if (!session) {
                    api_error(db, WR_SQL, (int)code, false, "%s", errmsg);
                    return WR_SQL;
                }
            }
            if (l == &db->leader) {
                link_failed(db, l);
            }
            continue;
        }
        if (session && strstr(errmsg, "already in flight") != NULL) {
            continue; /* Our own earlier try is in the same batch. */
        }
        /* After an unknown outcome, a definite answer to the retry of a
         * session write is the truth: had the first try committed, the
         * node would have answered its recorded result. */
        tx_failed(s, (int)code, definite);
        api_error(db, WR_SQL, (int)code, !unknown || session, "%s", errmsg);
        return WR_SQL;
    }

    if (in_tx && s->kind == KIND_COMMIT) {
        db->in_tx = false;
    }
    api_error(db, last_rv == WR_SQL ? WR_SQL : last_rv, last_sql, !unknown,
              "%s%s", errmsg,
              in_tx ? ""
                    : unknown ? " (gave up retrying within the failover "
                                "timeout; the write may or may not have "
                                "happened)"
                              : " (gave up within the failover timeout)");
    return last_rv;
}
