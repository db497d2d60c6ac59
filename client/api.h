/*
 * libwalraft's insides, shared by its files (never installed): the handle
 * and statement structs, and the few functions one file calls in another.
 *
 *   walraft.c  the handle: options, errors, bookmarks, wr_exec, and
 *              transactions
 *   route.c    connections and the request loop: which node a statement
 *              goes to, reconnecting, and when a retry is safe
 *   stmt.c     statements: splitting SQL, classifying it, bindings, rows
 *              and column conversions
 *
 * Include conn.h (which brings lib/err.h) before walraft.h: the public
 * header skips its copy of the error table when the tree's is present.
 */
#ifndef WR_CLIENT_API_H
#define WR_CLIENT_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/value.h"
#include "conn.h"
#define WALRAFT_BUILD
#include "walraft.h"

#define API_DEFAULT_DATABASE "main"
#define API_CONNECT_TIMEOUT_MS 5000
#define API_REQUEST_TIMEOUT_MS 15000
#define API_FAILOVER_TIMEOUT_MS 30000
#define API_MAX_PARAMS 32766

/* The node's refusal of exactly-once sessions before it served them. */
#define API_NO_SESSIONS_MESSAGE "exactly-once sessions are not served"

/* SQLite codes the library reacts to (the library does not link SQLite). */
#define API_SQLITE_FULL 13

/* One connection and the database it opened there. */
struct link {
    struct conn *conn;         /* NULL when not connected. */
    uint32_t db_id;
    struct wr_stmt *streaming; /* Whose ROWS are still coming on conn. */
};

/* What a statement is, as far as routing and retrying care. */
enum stmt_kind {
    KIND_READ,      /* SELECT, VALUES, EXPLAIN: rows, no effect, retry at
                       will, on the read node */
    KIND_ROWS,      /* may return rows and may write (RETURNING, WITH,
                       PRAGMA): the leader, never retried once sent */
    KIND_WRITE,     /* everything else: EXEC on the leader, exactly-once */
    KIND_BEGIN,
    KIND_COMMIT,
    KIND_ROLLBACK
};

struct wr_db {
    char **addrs; /* The address list, split. */
    unsigned n_addrs;
    char *addresses; /* As given, for conn_open_leader(). */
    unsigned read_next; /* The address the read link tries first. */
    char *database;
    unsigned connect_timeout_ms;
    unsigned request_timeout_ms;
    unsigned failover_timeout_ms;
    int level;
    uint64_t max_staleness_ms;
    unsigned flags;

    struct link leader;
    struct link read; /* Unused while the read node is the leader. */

    uint64_t bookmark;
    int sessions; /* -1 not known yet, 0 off, 1 on. */
    uint64_t client_id;
    uint64_t seq;
    bool in_tx;
    bool tx_lost; /* The leader link broke inside the transaction. */
    int64_t last_insert_rowid;
    int64_t changes;
    uint64_t retries;

    int errcode;
    int sql_code;
    bool definite;
    char errmsg[WR_ERRMSG_SIZE];

    struct wr_stmt *stmts; /* Open statements, for wr_close(). */
};

struct wr_stmt {
    struct wr_db *db;
    struct wr_stmt *prev, *next;
    char *sql;
    enum stmt_kind kind;
    struct value *params; /* Owned copies; unbound slots are NULL. */
    unsigned n_params;
    int level;
    uint64_t max_staleness_ms;
    uint64_t bookmark_min; /* wr_stmt_set_bookmark() */
    uint64_t bookmark;     /* Of the last answer. */

    bool running;  /* Sent; rows (or WR_DONE) are being handed out. */
    bool more;     /* More ROWS messages to read from link. */
    bool broken;   /* The link broke while rows were still coming. */
    struct link *link;
    unsigned n_cols;
    char **names;
    struct value *vals; /* n_rows x n_cols, owned. */
    size_t n_rows;
    size_t cap_rows;
    size_t cursor; /* Rows handed out; the current one is cursor - 1. */
    char **scratch; /* Per column: a conversion to text, owned. */
};

/* walraft.c */

/* Set the handle's error: @code, the node's @sql_code (0 if none),
 * @definite, and the message. */
void api_error(struct wr_db *db,
               int code,
               int sql_code,
               bool definite,
               const char *fmt,
               ...) __attribute__((format(printf, 5, 6)));
void api_clear_error(struct wr_db *db);
void api_seen_bookmark(struct wr_db *db, uint64_t bookmark);

/* route.c */

/* Send @s's request, failing over and retrying as the top of walraft.h
 * says. On 0, a write has updated db->changes and friends, a read has its
 * first batch of rows in @s (s->more if more follow on s->link). Else the
 * handle's error is set and returned. */
int route_run(struct wr_stmt *s);

/* Read the next ROWS message of @s into it (s->more was set). */
int route_next(struct wr_stmt *s);

/* Read and keep every ROWS message still coming for the statement
 * streaming on @l, so the link is free for another request. */
int route_drain(struct link *l, bool keep);

/* Close @l (its streaming statement is marked broken). */
void route_close(struct link *l);

/* stmt.c */

/* Classify the statement starting at @sql. */
enum stmt_kind stmt_classify(const char *sql);

/* Forget @s's rows (not the names if @keep_names) and scratch texts. */
void stmt_clear_rows(struct wr_stmt *s, bool keep_names);

/* Append the rows of one decoded ROWS message to @s (names too, the first
 * time). Returns 0 or WR_NOMEM. */
int stmt_add_rows(struct wr_stmt *s, const struct proto_rowset *rs);

#endif /* WR_CLIENT_API_H */
