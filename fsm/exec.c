/*
 * The leader-side executor (see exec.h for the contract).
 *
 * A write batch runs on the node's one connection to its database:
 *
 *   BEGIN
 *     SAVEPOINT wr_req; <request 1>; RELEASE wr_req
 *       (or ROLLBACK TO wr_req; RELEASE wr_req when request 1 failed)
 *     ...
 *   COMMIT
 *
 * then fsm_poll() turns the committed pages into one FRAMES command (the VFS
 * keeps them invisible) and the proposer appends it to the log. The batch
 * stays "in flight" on its database until the proposal callback fires; only
 * then are the requests answered, so no client ever sees a result the log
 * might still lose.
 *
 * Isolation between the requests of a batch. They share one connection, so
 * two connection-wide values would leak from one client to the next: the
 * last insert rowid is reset to 0 before each request, and "changes" is
 * reported only for a last statement that actually counted changes (see
 * run_stmt()). A request that leaves a deferred foreign key unresolved fails
 * on its own at its RELEASE, instead of failing everybody's COMMIT. A request
 * that rolls back the whole transaction (INSERT OR ROLLBACK, RAISE(ROLLBACK)
 * in a trigger) fails on its own and the batch is run again without it.
 *
 * Sessions (exec.h). Before the first round, the requests that carry a
 * session are sorted by client (then by position) and checked against the
 * applied session table and against each other; those that must not run
 * (duplicates, old or repeated sequence numbers) are settled then and
 * skipped like a request that rolled the transaction back. After the
 * transaction, the last request of each client that succeeded gives that
 * client's record, and the records, in client order, go to
 * fsm_poll_sessions() with the pages.
 *
 * An authorizer keeps client SQL away from what the executor owns:
 * transaction control (each request already is a savepoint; interactive
 * transactions are a later feature), ATTACH/DETACH (every database is
 * reached by its own name and replicated on its own), and the few pragmas
 * whose settings the VFS relies on (ARCHITECTURE.md section 3). The
 * executor's own BEGIN/SAVEPOINT/RELEASE/COMMIT run while the authorizer is
 * in AUTH_INTERNAL mode, which allows everything. The connections belong
 * to the fsm, which runs its own statements on them; the authorizer stays
 * installed on them for the executor's life (fsm_set_authorizer()) and is in
 * AUTH_INTERNAL mode outside the executor's calls, because installing it
 * again around each call would make SQLite compile every kept statement
 * (fsm/stmts.h) again each time.
 *
 * Statements are taken from the connection's kept ones (fsm/stmts.h), under
 * the authorizer mode as tag: a statement compiled for a write is never
 * handed to a read. A text of several statements is compiled statement by
 * statement as it always was.
 */
#include "exec.h"

#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"
#include "stmts.h"

enum auth_mode {
    AUTH_INTERNAL, /* The executor's own statements: allow everything. */
    AUTH_WRITE,    /* A request of a write batch. */
    AUTH_READ      /* A request run by exec_read(). */
};

/* One batch whose proposal is outstanding. */
struct batch {
    struct exec *e;        /* NULL once exec_destroy() answered its requests;
                              the proposal callback then only frees. */
    struct fsm_db *db;     /* Valid until fsm_destroy(); not touched once
                              e is NULL. */
    uint64_t tx_id;        /* For fsm_abort(). */
    struct exec_req *reqs; /* Linked through next_. */
    struct batch *prev;
    struct batch *next;
};

/* An interactive transaction (exec.h). */
struct exec_tx {
    struct exec *e;
    struct fsm_db *db;
    uint64_t generation; /* fsm_db_generation() at BEGIN. */
    bool dead;           /* Rolled back under the client's feet. */
    char why[WR_ERRMSG_SIZE];
    struct exec_tx *next;
};

struct exec {
    struct fsm *f;
    struct exec_proposer *p;
    struct batch *batches; /* In flight, at most one per database. */
    struct exec_tx *txs;   /* Open interactive transactions, at most one
                              per database. */
    bool closing;          /* exec_destroy() is answering requests. */
    enum auth_mode mode;
    struct stmts *stmts;       /* The kept statements of the connection of
                                  the call under way, if any. */
    bool vacuuming;            /* A lone VACUUM request is running. */
    char deny[WR_ERRMSG_SIZE]; /* Why the authorizer refused, if it did. */
};

#define SAVEPOINT_SQL "SAVEPOINT wr_req"
#define RELEASE_SQL "RELEASE wr_req"
#define UNDO_SQL "ROLLBACK TO wr_req; RELEASE wr_req"

/* Pragmas a client may not set: the VFS depends on their values, they act
 * on the WAL behind its back, or (foreign_keys) they would change for every
 * later client of the shared connection what the fsm set up. A few of them
 * are no-ops inside the write transaction, but a read runs outside one.
 * NULL-terminated. */
static const char *const guarded_pragmas[] = {
    "journal_mode", "locking_mode", "synchronous", "page_size",
    "wal_autocheckpoint", "mmap_size", "query_only", "foreign_keys", NULL};

static int authorize_cb(void *arg,
                        int action,
                        const char *arg1,
                        const char *arg2,
                        const char *db_name,
                        const char *trigger)
{
    struct exec *e = arg;
    (void)db_name;
    (void)trigger;

    if (e->mode == AUTH_INTERNAL) {
        return SQLITE_OK;
    }
    switch (action) {
        case SQLITE_TRANSACTION:
        case SQLITE_SAVEPOINT:
            if (e->vacuuming) {
                return SQLITE_OK; /* VACUUM's own transaction. */
            }
            if (e->mode == AUTH_WRITE) {
                err_printf(e->deny,
                           "%s is not allowed inside a statement batch: "
                           "send BEGIN, COMMIT and ROLLBACK as requests of "
                           "their own",
                           arg1 != NULL ? arg1 : "transaction control");
            } else {
                err_printf(e->deny,
                           "%s is not allowed in a read: each read already "
                           "runs as its own transaction",
                           arg1 != NULL ? arg1 : "transaction control");
            }
            return SQLITE_DENY;
        case SQLITE_ATTACH:
        case SQLITE_DETACH:
            /* VACUUM attaches its scratch database ("" AS vacuum_db) and
             * detaches it; VACUUM INTO 'file' would write a file on this
             * node only, and stays refused. */
            if (e->vacuuming && arg1 != NULL &&
                (action == SQLITE_ATTACH ? arg1[0] == '\0'
                                         : strcmp(arg1, "vacuum_db") == 0)) {
                return SQLITE_OK;
            }
            err_printf(e->deny,
                       "ATTACH and DETACH are not allowed: every database is "
                       "replicated on its own and reached by its own name");
            return SQLITE_DENY;
        case SQLITE_CREATE_TEMP_TABLE:
        case SQLITE_CREATE_TEMP_INDEX:
        case SQLITE_CREATE_TEMP_TRIGGER:
        case SQLITE_CREATE_TEMP_VIEW:
            /* TEMP objects live in the leader's connection only: they are
             * not replicated and would vanish, or leak between clients. */
            err_printf(e->deny,
                       "TEMP tables, indexes, triggers and views are not "
                       "allowed: they would live on one node only");
            return SQLITE_DENY;
        case SQLITE_PRAGMA:
            if (arg1 == NULL) {
                return SQLITE_OK;
            }
            if (sqlite3_stricmp(arg1, "wal_checkpoint") == 0) {
                err_printf(e->deny,
                           "PRAGMA wal_checkpoint is not allowed: the node "
                           "checkpoints on its own");
                return SQLITE_DENY;
            }
            for (unsigned i = 0; guarded_pragmas[i] != NULL; i++) {
                if (arg2 != NULL &&
                    sqlite3_stricmp(arg1, guarded_pragmas[i]) == 0) {
                    err_printf(e->deny,
                               "PRAGMA %s cannot be changed: the node relies "
                               "on its setting",
                               guarded_pragmas[i]);
                    return SQLITE_DENY;
                }
            }
            return SQLITE_OK;
        default:
            return SQLITE_OK;
    }
}

/* The tree's code for an SQLite result code that failed something larger
 * than one statement. */
static int code_from_sqlite(int rc)
{
    switch (rc & 0xff) {
        case SQLITE_NOMEM:
            return WR_NOMEM;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            return WR_BUSY;
        case SQLITE_IOERR:
        case SQLITE_FULL:
        case SQLITE_CANTOPEN:
            return WR_IOERR;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
            return WR_CORRUPT;
        case SQLITE_TOOBIG:
            return WR_TOOBIG;
        default:
            return WR_SQL;
    }
}

/* Run one of the executor's own statements. */
static int exec_internal(struct exec *e,
                         sqlite3 *conn,
                         const char *sql,
                         char *errmsg)
{
    enum auth_mode saved = e->mode;
    sqlite3_stmt *stmt = NULL;
    int rc = SQLITE_OK;
    int rv = 0;

    e->mode = AUTH_INTERNAL;
    if (e->stmts != NULL) {
        rc = stmts_take(e->stmts, AUTH_INTERNAL, sql, &stmt);
    }
    if (rc == SQLITE_OK && stmt != NULL) {
        rc = sqlite3_step(stmt);
        rc = rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
    } else if (rc == SQLITE_OK) {
        rc = sqlite3_exec(conn, sql, NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        err_printf(errmsg, "%s: %s", sql, sqlite3_errmsg(conn));
        rv = code_from_sqlite(sqlite3_extended_errcode(conn));
    }
    if (stmt != NULL) {
        stmts_give(e->stmts, stmt);
    }
    e->mode = saved;
    return rv;
}

/* A call of the executor on @conn, one of @db's connections, begins: its
 * kept statements are the ones to use until end_call(). */
static void begin_call(struct exec *e, struct fsm_db *db, sqlite3 *conn)
{
    e->stmts = fsm_db_stmts(db, conn);
}

static void end_call(struct exec *e)
{
    e->stmts = NULL;
}

/* Reset the outputs of @req, which the caller closed or never used. */
static void req_reset(struct exec_req *req)
{
    req->status = 0;
    req->sqlite_code = 0;
    req->definite = false;
    req->errmsg[0] = '\0';
    req->changes = 0;
    req->last_insert_id = 0;
    memset(&req->rows, 0, sizeof req->rows);
    req->bookmark = 0;
    req->duplicate = false;
    req->next_ = NULL;
}

/* Drop what a request produced and record an error instead. */
static void req_fail(struct exec_req *req,
                     int status,
                     int sqlite_code,
                     bool definite,
                     const char *msg)
{
    rows_clear(&req->rows);
    req->status = status;
    req->sqlite_code = sqlite_code;
    req->definite = definite;
    req->changes = 0;
    req->last_insert_id = 0;
    if (msg != req->errmsg) {
        err_printf(req->errmsg, "%s", msg);
    }
}

/* The request failed on an SQLite error (prepare or step) on @conn. */
static int req_fail_sqlite(struct exec *e, struct exec_req *req, sqlite3 *conn)
{
    int code = sqlite3_extended_errcode(conn);
    const char *msg = sqlite3_errmsg(conn);

    if (code == SQLITE_AUTH && e->deny[0] != '\0') {
        msg = e->deny;
    }
    req_fail(req, WR_SQL, code, true, msg);
    return WR_SQL;
}

void exec_req_close(struct exec_req *req)
{
    rows_clear(&req->rows);
    req_reset(req);
}

/* Start a new result set for @stmt, replacing the previous one. */
static int rows_begin(struct rows *rows, size_t *cap, sqlite3_stmt *stmt)
{
    int n = sqlite3_column_count(stmt);

    assert(n > 0);
    rows_clear(rows);
    *cap = 0;
    rows->col_names = calloc((size_t)n, sizeof *rows->col_names);
    rows->decl_types = calloc((size_t)n, sizeof *rows->decl_types);
    if (rows->col_names == NULL || rows->decl_types == NULL) {
        return WR_NOMEM;
    }
    rows->n_cols = (unsigned)n;
    for (int i = 0; i < n; i++) {
        const char *name = sqlite3_column_name(stmt, i);
        const char *decl = sqlite3_column_decltype(stmt, i);
        if (name == NULL || (rows->col_names[i] = strdup(name)) == NULL ||
            (decl != NULL && (rows->decl_types[i] = strdup(decl)) == NULL)) {
            return WR_NOMEM;
        }
    }
    return 0;
}

static int column_value(sqlite3_stmt *stmt, int i, struct value *v)
{
    const void *p;
    size_t n;

    memset(v, 0, sizeof *v);
    switch (sqlite3_column_type(stmt, i)) {
        case SQLITE_INTEGER:
            v->type = VALUE_INTEGER;
            v->integer = sqlite3_column_int64(stmt, i);
            return 0;
        case SQLITE_FLOAT:
            v->type = VALUE_FLOAT;
            v->real = sqlite3_column_double(stmt, i);
            return 0;
        case SQLITE_TEXT:
            p = sqlite3_column_text(stmt, i);
            n = (size_t)sqlite3_column_bytes(stmt, i);
            if (p == NULL && n > 0) {
                return WR_NOMEM;
            }
            v->text.p = malloc(n + 1);
            if (v->text.p == NULL) {
                v->type = VALUE_NULL;
                return WR_NOMEM;
            }
            if (n > 0) {
                memcpy(v->text.p, p, n);
            }
            v->text.p[n] = '\0';
            v->text.n = n;
            v->type = VALUE_TEXT;
            return 0;
        case SQLITE_BLOB:
            /* An empty blob is {NULL, 0}, still of type BLOB. */
            p = sqlite3_column_blob(stmt, i);
            n = (size_t)sqlite3_column_bytes(stmt, i);
            v->type = VALUE_BLOB;
            if (n == 0) {
                return 0;
            }
            if (p == NULL || (v->blob.p = malloc(n)) == NULL) {
                v->type = VALUE_NULL;
                return WR_NOMEM;
            }
            memcpy(v->blob.p, p, n);
            v->blob.n = n;
            return 0;
        default:
            v->type = VALUE_NULL;
            return 0;
    }
}

/* Append the row @stmt stands on to @rows (begun by rows_begin()). */
static int rows_append(struct rows *rows, size_t *cap, sqlite3_stmt *stmt)
{
    size_t n_cols = rows->n_cols;
    size_t need;
    struct value *row;
    int rv;

    if (rows->n_rows == UINT_MAX) {
        return WR_TOOBIG;
    }
    need = ((size_t)rows->n_rows + 1) * n_cols;
    if (need > *cap) {
        size_t new_cap = *cap < 16 * n_cols ? 16 * n_cols : *cap * 2;
        struct value *values;
        if (new_cap > SIZE_MAX / sizeof *values) {
            return WR_TOOBIG;
        }
        values = realloc(rows->values, new_cap * sizeof *values);
        if (values == NULL) {
            return WR_NOMEM;
        }
        rows->values = values;
        *cap = new_cap;
    }
    row = &rows->values[(size_t)rows->n_rows * n_cols];
    for (size_t c = 0; c < n_cols; c++) {
        rv = column_value(stmt, (int)c, &row[c]);
        if (rv != 0) {
            /* The row is not counted yet: release its first c values. */
            while (c > 0) {
                value_clear(&row[--c]);
            }
            return rv;
        }
    }
    rows->n_rows++;
    return 0;
}

static int bind_params(struct exec_req *req, sqlite3_stmt *stmt)
{
    sqlite3 *conn = sqlite3_db_handle(stmt);
    int expected = sqlite3_bind_parameter_count(stmt);

    if (expected < 0 || (unsigned)expected != req->n_params) {
        char msg[WR_ERRMSG_SIZE];
        err_printf(msg,
                   "the statement takes %d parameter%s but the request "
                   "carries %u",
                   expected, expected == 1 ? "" : "s", req->n_params);
        req_fail(req, WR_INVALID, 0, true, msg);
        return WR_INVALID;
    }
    for (unsigned i = 0; i < req->n_params; i++) {
        const struct value *v = &req->params[i];
        int idx = (int)i + 1;
        int rc;

        /* The parameters stay valid until the callback, and the statement
         * is finalized before exec_write() returns: no copy needed. */
        switch (v->type) {
            case VALUE_NULL:
                rc = sqlite3_bind_null(stmt, idx);
                break;
            case VALUE_INTEGER:
                rc = sqlite3_bind_int64(stmt, idx, v->integer);
                break;
            case VALUE_FLOAT:
                rc = sqlite3_bind_double(stmt, idx, v->real);
                break;
            case VALUE_TEXT:
                rc = sqlite3_bind_text64(stmt, idx,
                                         v->text.p != NULL ? v->text.p : "",
                                         v->text.n, SQLITE_STATIC,
                                         SQLITE_UTF8);
                break;
            case VALUE_BLOB:
                /* A NULL pointer would bind SQL NULL, not an empty blob. */
                if (v->blob.n == 0) {
                    rc = sqlite3_bind_zeroblob(stmt, idx, 0);
                } else {
                    rc = sqlite3_bind_blob64(stmt, idx, v->blob.p, v->blob.n,
                                             SQLITE_STATIC);
                }
                break;
            default: {
                char msg[WR_ERRMSG_SIZE];
                err_printf(msg, "parameter %u has unknown type %d", i + 1,
                           v->type);
                req_fail(req, WR_INVALID, 0, true, msg);
                return WR_INVALID;
            }
        }
        if (rc != SQLITE_OK) {
            char msg[WR_ERRMSG_SIZE];
            err_printf(msg, "bind parameter %u: %s", i + 1,
                       sqlite3_errmsg(conn));
            req_fail(req, WR_SQL, sqlite3_extended_errcode(conn), true, msg);
            return WR_SQL;
        }
    }
    return 0;
}

/* Run the @index-th statement (from 0) of @req to completion: bind the
 * request's parameters if it is the first, collect its rows if it returns
 * any, record its changes. Returns 0, or the request's failure status with
 * its outputs set. */
static int run_stmt(struct exec *e,
                    sqlite3 *conn,
                    sqlite3_stmt *stmt,
                    struct exec_req *req,
                    unsigned index,
                    size_t *rows_cap)
{
    bool has_rows = sqlite3_column_count(stmt) > 0;
    sqlite3_int64 total_before;
    int rc;
    int rv;

    if (index == 0) {
        rv = bind_params(req, stmt);
        if (rv != 0) {
            return rv;
        }
    } else if (sqlite3_bind_parameter_count(stmt) > 0) {
        /* They would silently be NULL. */
        char msg[WR_ERRMSG_SIZE];
        err_printf(msg,
                   "statement %u of the request has parameters: only the "
                   "first statement of a request takes parameters",
                   index + 1);
        req_fail(req, WR_INVALID, 0, true, msg);
        return WR_INVALID;
    }
    if (has_rows) {
        rv = rows_begin(&req->rows, rows_cap, stmt);
        if (rv != 0) {
            req_fail(req, rv, 0, true, "collect rows: out of memory");
            return rv;
        }
    }
    total_before = sqlite3_total_changes64(conn);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (!has_rows) {
            continue;
        }
        rv = rows_append(&req->rows, rows_cap, stmt);
        if (rv != 0) {
            req_fail(req, rv, 0, true,
                     rv == WR_NOMEM ? "collect rows: out of memory"
                                    : "collect rows: too many rows");
            return rv;
        }
    }
    if (rc != SQLITE_DONE) {
        return req_fail_sqlite(e, req, conn);
    }
    /* sqlite3_changes64() keeps the count of the last INSERT, UPDATE or
     * DELETE on the connection, which may be another client's. Only such a
     * statement moves the total, so trust it only then; one that changed no
     * row leaves the total alone and its count is 0 anyway. */
    req->changes = sqlite3_total_changes64(conn) != total_before
                       ? sqlite3_changes64(conn)
                       : 0;
    return 0;
}

/* Run the statements of one write request, one at a time (a statement may
 * use a table the previous one created). Returns 0 or the request's failure
 * status with its outputs set. */
static int run_write_req(struct exec *e, sqlite3 *conn, struct exec_req *req)
{
    const char *tail = req->sql;
    unsigned n_stmts = 0;
    size_t rows_cap = 0;
    int rv;

    /* Otherwise the rowid of another client's insert would show through. */
    sqlite3_set_last_insert_rowid(conn, 0);
    e->mode = AUTH_WRITE;
    if (e->stmts != NULL && !e->vacuuming) {
        sqlite3_stmt *stmt;
        e->deny[0] = '\0';
        if (stmts_take(e->stmts, AUTH_WRITE, req->sql, &stmt) != SQLITE_OK) {
            rv = req_fail_sqlite(e, req, conn);
            goto out;
        }
        if (stmt != NULL) {
            rv = run_stmt(e, conn, stmt, req, 0, &rows_cap);
            stmts_give(e->stmts, stmt);
            if (rv != 0) {
                goto out;
            }
            tail = ""; /* The text was that one statement. */
            n_stmts = 1;
        }
    }
    while (*tail != '\0') {
        sqlite3_stmt *stmt;
        const char *next;
        int rc;

        e->deny[0] = '\0';
        rc = sqlite3_prepare_v2(conn, tail, -1, &stmt, &next);
        if (rc != SQLITE_OK) {
            rv = req_fail_sqlite(e, req, conn);
            goto out;
        }
        tail = next;
        if (stmt == NULL) { /* Whitespace or a comment. */
            continue;
        }
        rv = run_stmt(e, conn, stmt, req, n_stmts, &rows_cap);
        sqlite3_finalize(stmt);
        if (rv != 0) {
            goto out;
        }
        n_stmts++;
    }
    if (n_stmts == 0 && req->n_params > 0) {
        char msg[WR_ERRMSG_SIZE];
        err_printf(msg, "the request has no statement but carries %u "
                        "parameters", req->n_params);
        req_fail(req, WR_INVALID, 0, true, msg);
        rv = WR_INVALID;
        goto out;
    }
    req->last_insert_id = sqlite3_last_insert_rowid(conn);
    rv = 0;
out:
    e->mode = AUTH_INTERNAL;
    return rv;
}

/* A statement may leave a deferred foreign key violation behind; SQLite
 * would report it only at COMMIT, failing every request of the batch. The
 * requests before this one left none, so any that remains is this one's. */
static int check_deferred_fks(sqlite3 *conn, struct exec_req *req)
{
    int cur = 0;
    int hi = 0;

    if (sqlite3_db_status(conn, SQLITE_DBSTATUS_DEFERRED_FKS, &cur, &hi, 0) !=
            SQLITE_OK ||
        cur == 0) {
        return 0;
    }
    req_fail(req, WR_SQL, SQLITE_CONSTRAINT_FOREIGNKEY, true,
             "FOREIGN KEY constraint failed (a deferred constraint the "
             "request left unresolved)");
    return WR_SQL;
}

bool exec_is_vacuum(const char *sql)
{
    const char *p = sql;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ||
               *p == '\f') {
            p++;
        }
        if (p[0] == '-' && p[1] == '-') {
            p = strchr(p, '\n');
            if (p == NULL) {
                return false;
            }
        } else if (p[0] == '/' && p[1] == '*') {
            p = strstr(p + 2, "*/");
            if (p == NULL) {
                return false;
            }
            p += 2;
        } else {
            break;
        }
    }
    return sqlite3_strnicmp(p, "VACUUM", 6) == 0 &&
           !(p[6] == '_' || (p[6] >= '0' && p[6] <= '9') ||
             (p[6] >= 'a' && p[6] <= 'z') || (p[6] >= 'A' && p[6] <= 'Z'));
}

/* Run every request that has not failed yet as one committed transaction.
 * Returns 0 when it committed; -1 when a request rolled the whole
 * transaction back (that request has failed on its own: run again); or a
 * code with @errmsg set when the batch as a whole failed (nothing committed).
 */
static int run_batch(struct exec *e,
                     sqlite3 *conn,
                     struct exec_req **reqs,
                     const bool *skip,
                     unsigned n,
                     unsigned *killer,
                     char *errmsg)
{
    bool any_ok = false;
    int rv;

    if (n == 1 && !skip[0] && exec_is_vacuum(reqs[0]->sql)) {
        /* VACUUM cannot run inside a transaction; alone in its batch it
         * commits (or fails) on its own, and is captured like any other. */
        e->vacuuming = true;
        run_write_req(e, conn, reqs[0]);
        e->vacuuming = false;
        return 0;
    }
    rv = exec_internal(e, conn, "BEGIN", errmsg);
    if (rv != 0) {
        return rv;
    }
    for (unsigned i = 0; i < n; i++) {
        struct exec_req *req = reqs[i];

        if (skip[i]) {
            continue;
        }
        rv = exec_internal(e, conn, SAVEPOINT_SQL, errmsg);
        if (rv != 0) {
            goto err_rollback;
        }
        rv = run_write_req(e, conn, req);
        if (rv == 0) {
            rv = check_deferred_fks(conn, req);
        }
        if (sqlite3_get_autocommit(conn)) {
            /* The request ended the whole transaction. An SQL-level cause
             * (a ROLLBACK conflict clause, RAISE(ROLLBACK)) is the request's
             * own doing; anything else (I/O, memory) fails the batch. */
            int code = code_from_sqlite(req->sqlite_code);
            if (rv != 0 && code == WR_SQL) {
                *killer = i;
                return -1;
            }
            err_printf(errmsg, "request %u: %s", i + 1,
                       rv != 0 ? req->errmsg : "transaction ended");
            err_wrap(errmsg, "the transaction was rolled back");
            return rv != 0 ? code : WR_INVALID;
        }
        any_ok |= rv == 0;
        rv = exec_internal(e, conn, rv == 0 ? RELEASE_SQL : UNDO_SQL,
                           errmsg);
        if (rv != 0) {
            goto err_rollback;
        }
    }
    /* When every request failed, committing would still write page 1 (a
     * WAL commit needs at least one frame): roll back, and the batch goes
     * through the log as a barrier. */
    rv = exec_internal(e, conn, any_ok ? "COMMIT" : "ROLLBACK", errmsg);
    if (rv != 0) {
        goto err_rollback;
    }
    return 0;

err_rollback:
    if (!sqlite3_get_autocommit(conn)) {
        char scratch[WR_ERRMSG_SIZE];
        if (exec_internal(e, conn, "ROLLBACK", scratch) != 0) {
            log_error("executor: %s", scratch);
        }
    }
    assert(rv != 0);
    return rv;
}

static void batch_link(struct exec *e, struct batch *b)
{
    b->e = e;
    b->prev = NULL;
    b->next = e->batches;
    if (e->batches != NULL) {
        e->batches->prev = b;
    }
    e->batches = b;
}

static void batch_unlink(struct exec *e, struct batch *b)
{
    if (b->prev != NULL) {
        b->prev->next = b->next;
    } else {
        e->batches = b->next;
    }
    if (b->next != NULL) {
        b->next->prev = b->prev;
    }
    b->prev = b->next = NULL;
}

/* The sentence for a request whose outcome the proposal's failure left
 * unknown. */
static void fail_indefinite(struct exec_req *req, int status)
{
    char msg[WR_ERRMSG_SIZE];
    const char *what;

    switch (status) {
        case WR_LEADERSHIP_LOST:
        case WR_NOTLEADER:
            what = "leadership lost";
            break;
        case WR_SHUTDOWN:
            what = "the node shut down";
            break;
        default:
            what = err_str(status);
            break;
    }
    err_printf(msg,
               "%s while the write was in flight; it may or may not have "
               "been applied",
               what);
    req_fail(req, status, 0, false, msg);
}

/* Deliver the results of the requests of a finished batch. The batch is no
 * longer in flight, so a callback may start the next one. Nothing here
 * touches the executor: a callback may even destroy it. */
static void answer(struct exec_req *reqs, int status, uint64_t index)
{
    struct exec_req *req;
    struct exec_req *next;

    for (req = reqs; req != NULL; req = next) {
        next = req->next_;
        req->next_ = NULL;
        if (status == 0) {
            req->bookmark = index;
        } else if (req->status == 0) {
            fail_indefinite(req, status);
        }
        req->cb(req);
    }
}

static void proposal_cb(void *arg, int status, uint64_t index)
{
    struct batch *b = arg;
    struct exec_req *reqs = b->reqs;

    if (b->e == NULL) {
        /* exec_destroy() already answered the requests; the fsm may be gone
         * too. */
        free(b);
        return;
    }
    batch_unlink(b->e, b);
    if (status != 0) {
        fsm_abort(b->db, b->tx_id);
    } else if (fsm_db_pending(b->db)) {
        log_error("executor: database \"%s\" still has a pending "
                  "transaction after its entry %llu was applied",
                  fsm_db_name(b->db), (unsigned long long)index);
    }
    free(b);
    answer(reqs, status, index);
}

int exec_create(struct fsm *f, struct exec_proposer *p, struct exec **out)
{
    struct exec *e = calloc(1, sizeof *e);

    if (e == NULL) {
        return WR_NOMEM;
    }
    e->f = f;
    e->p = p;
    e->mode = AUTH_INTERNAL;
    fsm_set_authorizer(f, authorize_cb, e);
    *out = e;
    return 0;
}

void exec_destroy(struct exec *e)
{
    e->closing = true;
    while (e->txs != NULL) {
        exec_tx_rollback(e->txs);
    }
    /* The connections outlive the executor. */
    fsm_set_authorizer(e->f, NULL, NULL);
    while (e->batches != NULL) {
        struct batch *b = e->batches;
        struct exec_req *reqs = b->reqs;

        /* The proposal callback will only free the batch. The pending
         * transaction is left to the fsm: the entry may still commit. */
        batch_unlink(e, b);
        b->e = NULL;
        b->reqs = NULL;
        answer(reqs, WR_SHUTDOWN, 0);
    }
    free(e);
}

bool exec_busy(struct exec *e, const char *db)
{
    for (struct batch *b = e->batches; b != NULL; b = b->next) {
        if (strcmp(fsm_db_name(b->db), db) == 0) {
            return true;
        }
    }
    for (struct exec_tx *tx = e->txs; tx != NULL; tx = tx->next) {
        if (strcmp(fsm_db_name(tx->db), db) == 0) {
            return true;
        }
    }
    return false;
}

/* The transaction @b's requests just committed on b->db: turn its pages
 * into one command (none: a barrier) and propose it. On success the batch is
 * in flight; on error nothing was proposed, the pages are dropped, and @b is
 * still the caller's. With @proposed not NULL, a transaction that changed
 * nothing (and carries no session) is not proposed at all: 0 with
 * *@proposed false, and @b is still the caller's. */
static int capture_and_propose(struct exec *e,
                               struct batch *b,
                               unsigned n,
                               const struct command_session *sessions,
                               unsigned n_sessions,
                               bool *proposed,
                               char *errmsg)
{
    void *cmd = NULL;
    size_t len = 0;
    int rv;

    rv = fsm_poll_sessions(b->db, sessions, n_sessions, &cmd, &len,
                           &b->tx_id, errmsg);
    if (rv != 0) {
        err_wrap(errmsg, "capture the transaction");
        return rv;
    }
    if (proposed != NULL) {
        *proposed = cmd != NULL;
        if (cmd == NULL) {
            return 0;
        }
    }
    /* In flight from now on: a proposer breaking its contract by firing
     * the callback at once would still find the batch consistent. */
    batch_link(e, b);
    log_debug("executor: propose %s of %u request%s on \"%s\"",
              cmd == NULL          ? "a barrier"
              : b->tx_id == 0      ? "session records"
                                   : "a transaction",
              n,
              n == 1 ? "" : "s", fsm_db_name(b->db));
    rv = e->p->propose(e->p, cmd, len, proposal_cb, b);
    if (rv != 0) {
        batch_unlink(e, b);
        fsm_abort(b->db, b->tx_id);
        free(cmd);
        err_printf(errmsg, "propose: %s", err_str(rv));
        return rv;
    }
    return 0;
}

/* The writer of database @name, if it is free: no batch or transaction
 * in flight, nothing pending. *@conn is the node's connection, or the
 * second one for an interactive transaction when @for_tx. */
static int open_writer(struct exec *e,
                       const char *name,
                       bool for_tx,
                       struct fsm_db **db,
                       sqlite3 **conn,
                       char *errmsg)
{
    int rv;

    if (exec_busy(e, name)) {
        err_printf(errmsg, "database \"%s\" has a write in flight", name);
        return WR_BUSY;
    }
    rv = fsm_db_open(e->f, name, db, errmsg);
    if (rv != 0) {
        err_wrap(errmsg, "open database \"%s\"", name);
        return rv;
    }
    *conn = for_tx ? fsm_db_tx_conn(*db, errmsg) : fsm_db_conn(*db, errmsg);
    if (*conn == NULL) {
        err_wrap(errmsg, "open database \"%s\"", name);
        return WR_IOERR;
    }
    if (fsm_db_pending(*db) || !sqlite3_get_autocommit(*conn)) {
        err_printf(errmsg, "database \"%s\" has a transaction in progress",
                   name);
        return WR_BUSY;
    }
    return 0;
}

static int check_reqs(struct exec_req **reqs, unsigned n, char *errmsg)
{
    if (reqs == NULL || n == 0) {
        err_printf(errmsg, "a batch needs at least one request");
        return WR_INVALID;
    }
    for (unsigned i = 0; i < n; i++) {
        const struct exec_req *req = reqs[i];
        if (req == NULL || req->sql == NULL || req->cb == NULL ||
            (req->n_params > 0 && req->params == NULL)) {
            err_printf(errmsg,
                       "request %u: it needs SQL, a callback, and its "
                       "parameters",
                       i + 1);
            return WR_INVALID;
        }
    }
    return 0;
}

/* For sorting the requests that carry a session: by client, then by
 * position in the batch. */
struct session_ref {
    uint64_t client_id;
    unsigned i;
};

static int session_ref_cmp(const void *pa, const void *pb)
{
    const struct session_ref *a = pa;
    const struct session_ref *b = pb;

    if (a->client_id != b->client_id) {
        return a->client_id < b->client_id ? -1 : 1;
    }
    return a->i < b->i ? -1 : a->i > b->i;
}

/* Settle, before anything runs, each request whose session says it must
 * not run (exec.h), and mark it in @skip. @refs (@n_refs, sorted) are the
 * requests with a client id. */
static void sessions_check(struct fsm_db *db,
                           struct exec_req **reqs,
                           const struct session_ref *refs,
                           unsigned n_refs,
                           bool *skip)
{
    struct command_session rec = {0};
    bool known = false;
    uint64_t in_batch = 0; /* Highest seq of this client set to run. */
    char msg[WR_ERRMSG_SIZE];

    for (unsigned k = 0; k < n_refs; k++) {
        struct exec_req *req = reqs[refs[k].i];

        if (k == 0 || refs[k].client_id != refs[k - 1].client_id) {
            known = fsm_session_get(db, refs[k].client_id, &rec);
            in_batch = 0;
        }
        if (req->seq == 0) {
            err_printf(msg, "a write of client %llu needs a sequence number "
                       "of at least 1",
                       (unsigned long long)req->client_id);
            req_fail(req, WR_INVALID, 0, true, msg);
        } else if (in_batch != 0 && req->seq == in_batch) {
            err_printf(msg, "a write with sequence number %llu of client "
                       "%llu is already in flight in this batch, retry",
                       (unsigned long long)req->seq,
                       (unsigned long long)req->client_id);
            req_fail(req, WR_BUSY, 0, true, msg);
        } else if (in_batch != 0 && req->seq < in_batch) {
            err_printf(msg, "sequence number %llu is older than client "
                       "%llu's last write %llu (in flight)",
                       (unsigned long long)req->seq,
                       (unsigned long long)req->client_id,
                       (unsigned long long)in_batch);
            req_fail(req, WR_INVALID, 0, true, msg);
        } else if (known && req->seq == rec.seq) {
            req->duplicate = true;
            req->changes = rec.changes;
            req->last_insert_id = rec.last_insert_id;
        } else if (known && req->seq < rec.seq) {
            err_printf(msg, "sequence number %llu is older than client "
                       "%llu's last write %llu",
                       (unsigned long long)req->seq,
                       (unsigned long long)req->client_id,
                       (unsigned long long)rec.seq);
            req_fail(req, WR_INVALID, 0, true, msg);
        } else {
            in_batch = req->seq;
            continue;
        }
        skip[refs[k].i] = true;
    }
}

/* The records the batch's command carries: per client, its last request
 * that ran and succeeded. Returns how many were written to @out. */
static unsigned sessions_collect(struct exec_req **reqs,
                                 const struct session_ref *refs,
                                 unsigned n_refs,
                                 struct command_session *out)
{
    unsigned n = 0;

    for (unsigned k = 0; k < n_refs; k++) {
        const struct exec_req *req = reqs[refs[k].i];

        if (req->status != 0 || req->duplicate) {
            continue;
        }
        if (n > 0 && out[n - 1].client_id == req->client_id) {
            n--; /* A later write of the same client replaces it. */
        }
        out[n].client_id = req->client_id;
        out[n].seq = req->seq;
        out[n].changes = req->changes;
        out[n].last_insert_id = req->last_insert_id;
        n++;
    }
    return n;
}

int exec_write(struct exec *e,
               const char *name,
               struct exec_req **reqs,
               unsigned n,
               char *errmsg)
{
    struct fsm_db *db;
    sqlite3 *conn;
    struct batch *b;
    bool *skip;
    struct session_ref *refs = NULL;
    struct command_session *records = NULL;
    unsigned n_refs = 0;
    unsigned n_records = 0;
    unsigned killer = 0;
    int rv;

    if (e->closing) {
        err_printf(errmsg, "the executor is shutting down");
        return WR_SHUTDOWN;
    }
    rv = check_reqs(reqs, n, errmsg);
    if (rv != 0) {
        return rv;
    }
    for (unsigned i = 0; n > 1 && i < n; i++) {
        if (exec_is_vacuum(reqs[i]->sql)) {
            err_printf(errmsg, "request %u: VACUUM cannot share a batch with "
                       "other requests", i + 1);
            return WR_INVALID;
        }
    }
    rv = open_writer(e, name, false, &db, &conn, errmsg);
    if (rv != 0) {
        return rv;
    }
    b = calloc(1, sizeof *b);
    skip = calloc(n, sizeof *skip);
    if (b == NULL || skip == NULL) {
        err_printf(errmsg, "out of memory");
        rv = WR_NOMEM;
        goto err_after_alloc;
    }
    for (unsigned i = 0; i < n; i++) {
        req_reset(reqs[i]);
        n_refs += reqs[i]->client_id != 0;
    }
    if (n_refs > 0) {
        refs = calloc(n_refs, sizeof *refs);
        records = calloc(n_refs, sizeof *records);
        if (refs == NULL || records == NULL) {
            err_printf(errmsg, "out of memory");
            rv = WR_NOMEM;
            goto err_after_alloc;
        }
        for (unsigned i = 0, k = 0; i < n; i++) {
            if (reqs[i]->client_id != 0) {
                refs[k].client_id = reqs[i]->client_id;
                refs[k].i = i;
                k++;
            }
        }
        qsort(refs, n_refs, sizeof *refs, session_ref_cmp);
        sessions_check(db, reqs, refs, n_refs, skip);
    }

    begin_call(e, db, conn);
    /* Each round leaves out one more request that rolled the whole
     * transaction back, so this ends after at most n rounds. */
    while ((rv = run_batch(e, conn, reqs, skip, n, &killer, errmsg)) == -1) {
        skip[killer] = true;
        for (unsigned i = 0; i < n; i++) {
            if (!skip[i]) {
                rows_clear(&reqs[i]->rows);
                req_reset(reqs[i]);
            }
        }
    }
    end_call(e);
    if (rv != 0) {
        goto err_after_alloc;
    }
    for (unsigned i = 0; i + 1 < n; i++) {
        reqs[i]->next_ = reqs[i + 1];
    }
    b->db = db;
    b->reqs = reqs[0];
    n_records = sessions_collect(reqs, refs, n_refs, records);
    rv = capture_and_propose(e, b, n, records, n_records, NULL, errmsg);
    if (rv != 0) {
        goto err_after_alloc;
    }
    free(records);
    free(refs);
    free(skip);
    return 0;

err_after_alloc:
    /* Nothing happened: give the requests back clean. */
    for (unsigned i = 0; i < n; i++) {
        rows_clear(&reqs[i]->rows);
        req_reset(reqs[i]);
    }
    free(records);
    free(refs);
    free(skip);
    free(b);
    assert(rv != 0);
    return rv;
}

int exec_read(struct exec *e, const char *name, struct exec_req *req)
{
    char errmsg[WR_ERRMSG_SIZE];
    struct fsm_db *db;
    sqlite3 *conn;
    sqlite3_stmt **stmts = NULL;
    sqlite3_stmt *kept = NULL;
    unsigned n_stmts = 0;
    unsigned cap = 0;
    size_t rows_cap = 0;
    const char *tail;
    int rv;

    req_reset(req);
    if (e->closing) {
        req_fail(req, WR_SHUTDOWN, 0, true, "the executor is shutting down");
        return req->status;
    }
    if (req->sql == NULL || (req->n_params > 0 && req->params == NULL)) {
        req_fail(req, WR_INVALID, 0, true,
                 "a read needs SQL and its parameters");
        return req->status;
    }
    rv = fsm_db_open(e->f, name, &db, errmsg);
    if (rv != 0) {
        err_wrap(errmsg, "open database \"%s\"", name);
        req_fail(req, rv, 0, true, errmsg);
        return req->status;
    }
    conn = fsm_db_conn(db, errmsg);
    if (conn == NULL) {
        err_wrap(errmsg, "open database \"%s\"", name);
        req_fail(req, WR_IOERR, 0, true, errmsg);
        return req->status;
    }

    begin_call(e, db, conn);
    e->mode = AUTH_READ;
    e->deny[0] = '\0';
    if (e->stmts != NULL &&
        stmts_take(e->stmts, AUTH_READ, req->sql, &kept) != SQLITE_OK) {
        req_fail_sqlite(e, req, conn);
        goto out;
    }
    if (kept != NULL) {
        if (!sqlite3_stmt_readonly(kept)) {
            req_fail(req, WR_INVALID, 0, true,
                     "statement writes: send it as a write");
        } else {
            run_stmt(e, conn, kept, req, 0, &rows_cap);
        }
        goto out;
    }
    /* Prepare every statement before running any, so that a read carrying
     * a write runs nothing at all. Reads change no schema, so preparing
     * ahead is safe. */
    tail = req->sql;
    while (*tail != '\0') {
        sqlite3_stmt *stmt;
        const char *next;

        e->deny[0] = '\0';
        if (sqlite3_prepare_v2(conn, tail, -1, &stmt, &next) != SQLITE_OK) {
            req_fail_sqlite(e, req, conn);
            goto out;
        }
        tail = next;
        if (stmt == NULL) {
            continue;
        }
        if (n_stmts == cap) {
            unsigned new_cap = cap == 0 ? 4 : cap * 2;
            sqlite3_stmt **grown = realloc(stmts, new_cap * sizeof *grown);
            if (grown == NULL) {
                sqlite3_finalize(stmt);
                req_fail(req, WR_NOMEM, 0, true, "out of memory");
                goto out;
            }
            stmts = grown;
            cap = new_cap;
        }
        stmts[n_stmts++] = stmt;
        if (!sqlite3_stmt_readonly(stmt)) {
            req_fail(req, WR_INVALID, 0, true,
                     "statement writes: send it as a write");
            goto out;
        }
    }
    if (n_stmts == 0 && req->n_params > 0) {
        err_printf(errmsg, "the request has no statement but carries %u "
                           "parameters", req->n_params);
        req_fail(req, WR_INVALID, 0, true, errmsg);
        goto out;
    }
    for (unsigned i = 0; i < n_stmts; i++) {
        if (run_stmt(e, conn, stmts[i], req, i, &rows_cap) != 0) {
            goto out;
        }
    }

out:
    if (kept != NULL) {
        stmts_give(e->stmts, kept);
    }
    for (unsigned i = 0; i < n_stmts; i++) {
        sqlite3_finalize(stmts[i]);
    }
    free(stmts);
    e->mode = AUTH_INTERNAL;
    end_call(e);
    return req->status;
}

/*
 * Interactive transactions.
 */

static void tx_unlink(struct exec_tx *tx)
{
    struct exec_tx **p = &tx->e->txs;
    while (*p != tx) {
        p = &(*p)->next;
    }
    *p = tx->next;
}

/* The connection of @tx, or NULL with tx->why set if the transaction is
 * gone: rolled back by SQLite after an error, or by the fsm (another
 * leader's entry, a restore). */
static sqlite3 *tx_conn(struct exec_tx *tx)
{
    char errmsg[WR_ERRMSG_SIZE];
    sqlite3 *conn;

    if (tx->dead) {
        return NULL;
    }
    if (fsm_db_generation(tx->db) != tx->generation) {
        tx->dead = true;
        err_printf(tx->why, "the transaction was rolled back: this node "
                            "stopped leading while it was open");
        return NULL;
    }
    conn = fsm_db_tx_conn(tx->db, errmsg);
    if (conn == NULL || sqlite3_get_autocommit(conn)) {
        tx->dead = true;
        err_printf(tx->why, "the transaction was rolled back%s%s",
                   conn == NULL ? ": " : "", conn == NULL ? errmsg : "");
        return NULL;
    }
    return conn;
}

int exec_tx_begin(struct exec *e,
                  const char *name,
                  struct exec_tx **out,
                  char *errmsg)
{
    struct exec_tx *tx;
    struct fsm_db *db;
    sqlite3 *conn;
    int rv;

    if (e->closing) {
        err_printf(errmsg, "the executor is shutting down");
        return WR_SHUTDOWN;
    }
    rv = open_writer(e, name, true, &db, &conn, errmsg);
    if (rv != 0) {
        return rv;
    }
    tx = calloc(1, sizeof *tx);
    if (tx == NULL) {
        err_printf(errmsg, "out of memory");
        return WR_NOMEM;
    }
    /* IMMEDIATE: the writer is ours from the start, and every read of the
     * transaction sees one snapshot that no other write can change. */
    rv = exec_internal(e, conn, "BEGIN IMMEDIATE", errmsg);
    if (rv != 0) {
        free(tx);
        return rv;
    }
    tx->e = e;
    tx->db = db;
    tx->generation = fsm_db_generation(db);
    tx->next = e->txs;
    e->txs = tx;
    *out = tx;
    return 0;
}

bool exec_tx_alive(struct exec_tx *tx)
{
    return tx_conn(tx) != NULL;
}

int exec_tx_run(struct exec_tx *tx, struct exec_req *req)
{
    struct exec *e = tx->e;
    sqlite3 *conn;

    req_reset(req);
    if (req->sql == NULL || (req->n_params > 0 && req->params == NULL)) {
        req_fail(req, WR_INVALID, 0, true,
                 "a request needs SQL and its parameters");
        return req->status;
    }
    conn = tx_conn(tx);
    if (conn == NULL) {
        req_fail(req, WR_INVALID, 0, true, tx->why);
        return req->status;
    }
    begin_call(e, tx->db, conn);
    run_write_req(e, conn, req);
    end_call(e);
    if (req->status != 0 && sqlite3_get_autocommit(conn)) {
        /* SQLite ended the transaction on this error (SQLITE_FULL, an OR
         * ROLLBACK conflict, ...). */
        tx->dead = true;
        err_printf(tx->why, "the transaction was rolled back after: %s",
                   req->errmsg);
        err_wrap(req->errmsg, "the transaction was rolled back");
    }
    return req->status;
}

/* exec_tx_commit() and exec_tx_commit_read(): with @proposed NULL a
 * transaction that changed nothing goes through the log as a barrier. */
static int tx_commit(struct exec_tx *tx,
                     struct exec_req *req,
                     bool *proposed,
                     char *errmsg)
{
    struct exec *e = tx->e;
    struct batch *b = NULL;
    sqlite3 *conn;
    int rv;

    conn = tx_conn(tx);
    if (conn == NULL) {
        err_printf(errmsg, "%s", tx->why);
        rv = WR_INVALID;
        goto out;
    }
    if (req == NULL || req->cb == NULL) {
        err_printf(errmsg, "COMMIT needs a request with a callback");
        rv = WR_INVALID;
        goto out;
    }
    req_reset(req);
    b = calloc(1, sizeof *b);
    if (b == NULL) {
        err_printf(errmsg, "out of memory");
        rv = WR_NOMEM;
        goto out;
    }
    /* A COMMIT refused by a deferred foreign key leaves the transaction
     * open: tx_rollback() below ends it. */
    rv = exec_internal(e, conn, "COMMIT", errmsg);
    if (rv != 0) {
        goto out;
    }
    b->db = tx->db;
    b->reqs = req;
    tx_unlink(tx);
    free(tx);
    tx = NULL;
    rv = capture_and_propose(e, b, 1, NULL, 0, proposed, errmsg);
    if (rv == 0) {
        if (proposed != NULL && !*proposed) {
            free(b);
        }
        return 0;
    }

out:
    free(b);
    if (tx != NULL) {
        exec_tx_rollback(tx);
    }
    assert(rv != 0);
    return rv;
}

int exec_tx_commit(struct exec_tx *tx, struct exec_req *req, char *errmsg)
{
    return tx_commit(tx, req, NULL, errmsg);
}

int exec_tx_commit_read(struct exec_tx *tx,
                        struct exec_req *req,
                        bool *proposed,
                        char *errmsg)
{
    *proposed = true;
    return tx_commit(tx, req, proposed, errmsg);
}

void exec_tx_rollback(struct exec_tx *tx)
{
    char errmsg[WR_ERRMSG_SIZE];
    sqlite3 *conn = tx_conn(tx);

    if (conn != NULL && exec_internal(tx->e, conn, "ROLLBACK", errmsg) != 0) {
        log_error("executor: %s", errmsg);
    }
    tx_unlink(tx);
    free(tx);
}
