/*
 * walraft's envelope (proto/wire.h) against a running cluster: every
 * answer to a request in an envelope carries a bookmark, and every failure
 * says whether it is definite.
 *
 *   test_envelope --addresses A,B,C
 *
 * Scenarios, in order, on the leader:
 *   - writes in the envelope (EXEC_SQL, and EXEC of a prepared statement)
 *     answer RESULT_EXT with strictly increasing bookmarks;
 *   - a read in the envelope answers ROWS_EXT with a bookmark at least the
 *     last write's, and sees that write;
 *   - a failing statement answers FAILURE_EXT marked definite;
 *   - reads at levels WEAK and LINEARIZABLE see every write; a read at
 *     level STRONG goes through the log: its bookmark is a new entry's;
 *   - a bookmark this node does not apply within its wait, or an
 *     exactly-once write without a client id or sent as a QUERY:
 *     FAILURE_EXT, definite, and nothing is written;
 *   - an exactly-once write's retry answers the recorded result and
 *     changes nothing; a retry older than the client's last write is
 *     refused;
 *   - the same connection still answers plain dqlite requests with plain
 *     RESULT (a dqlite client sees nothing new).
 * Then on every follower:
 *   - a read at level NONE carrying the last write's bookmark waits until
 *     the follower applied it, and sees the write;
 *   - reads at the default level and at LINEARIZABLE (a read-index round
 *     through the leader), and at WEAK and STRONG (forwarded to the
 *     leader), see every write, at a bookmark no older than the last
 *     write's;
 *   - a write, in the envelope (even at level NONE) or plain, is forwarded
 *     to the leader and answered in kind, failures included;
 *   - a bookmark the cluster never reached fails, definite, after the
 *     node's bookmark wait.
 *
 *   test_envelope --stale ADDRESS MS
 *
 * reads at level NONE on ADDRESS with a max staleness of MS: exit 0 if the
 * node refused (definite, "last heard" or "knows no leader"), 1 if it
 * answered; with MS 0 (no bound), exit 0 if it answered.
 *
 *   test_envelope --write ADDRESSES VALUE
 *
 * sets the one row of table r (database "envelope") to VALUE on the leader
 * found through ADDRESSES: exit 0 once acknowledged.
 *
 *   test_envelope --read ADDRESS LEVEL
 *
 * reads that row on ADDRESS at LEVEL (a PROTO_LEVEL_* number) and prints
 * "value N" (exit 0) or "refused: ..." when the node refused, definitely
 * (exit 3); any other outcome exits 1.
 *
 * Exit status 0 if every check held.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/conn.h"
#include "lib/err.h"
#include "proto/wire.h"

static unsigned failures;

static void check(bool ok, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    printf("%s: ", ok ? "ok" : "FAIL");
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    failures += !ok;
}

/* EXEC_SQL or QUERY_SQL @sql in an envelope with @flags and @bookmark. */
static int sql_ext(struct conn *c,
                   bool query,
                   const char *sql,
                   uint64_t flags,
                   uint64_t bookmark,
                   struct proto_response *resp,
                   char *errmsg)
{
    struct proto_request req;

    memset(&req, 0, sizeof req);
    if (query) {
        req.type = PROTO_REQ_QUERY_SQL_EXT;
        req.query_sql_ext.flags = flags;
        req.query_sql_ext.bookmark = bookmark;
        req.query_sql_ext.sql = sql;
    } else {
        req.type = PROTO_REQ_EXEC_SQL_EXT;
        req.exec_sql_ext.flags = flags;
        req.exec_sql_ext.bookmark = bookmark;
        req.exec_sql_ext.sql = sql;
    }
    return conn_request(c, &req, query ? PROTO_RESP_ROWS_EXT
                                       : PROTO_RESP_RESULT_EXT,
                        resp, errmsg);
}

/* EXEC_SQL_EXT (or QUERY_SQL_EXT if @query) @sql as exactly-once write
 * @seq of client @cid. */
static int session_write(struct conn *c,
                         const char *sql,
                         uint64_t cid,
                         uint64_t seq,
                         bool query,
                         struct proto_response *resp,
                         char *errmsg)
{
    struct proto_request req;

    memset(&req, 0, sizeof req);
    if (query) {
        req.type = PROTO_REQ_QUERY_SQL_EXT;
        req.query_sql_ext.flags = PROTO_FLAG_SESSION;
        req.query_sql_ext.client_id = cid;
        req.query_sql_ext.seq = seq;
        req.query_sql_ext.sql = sql;
        return conn_request(c, &req, PROTO_RESP_ROWS_EXT, resp, errmsg);
    }
    req.type = PROTO_REQ_EXEC_SQL_EXT;
    req.exec_sql_ext.flags = PROTO_FLAG_SESSION;
    req.exec_sql_ext.client_id = cid;
    req.exec_sql_ext.seq = seq;
    req.exec_sql_ext.sql = sql;
    return conn_request(c, &req, PROTO_RESP_RESULT_EXT, resp, errmsg);
}

/* Expect a definite FAILURE_EXT containing @needle. */
static void expect_refused(int rv,
                           const struct proto_response *resp,
                           const char *needle,
                           const char *what)
{
    bool ok = rv == WR_SQL && resp->kind == PROTO_RESP_FAILURE_EXT &&
              (resp->failure_ext.flags & PROTO_FLAG_DEFINITE) != 0 &&
              resp->failure_ext.bookmark > 0 &&
              strstr(resp->failure_ext.message, needle) != NULL;
    check(ok, "%s: FAILURE_EXT, definite, \"%s\"", what,
          rv == WR_SQL && resp->kind == PROTO_RESP_FAILURE_EXT
              ? resp->failure_ext.message
              : "(not a FAILURE_EXT)");
}

/* QUERY_SQL_EXT at level NONE with @bookmark and @max_staleness on @c. */
static int read_none(struct conn *c,
                     const char *sql,
                     uint64_t bookmark,
                     uint64_t max_staleness,
                     struct proto_response *resp,
                     char *errmsg)
{
    struct proto_request req;

    memset(&req, 0, sizeof req);
    req.type = PROTO_REQ_QUERY_SQL_EXT;
    req.query_sql_ext.flags = PROTO_LEVEL_NONE;
    req.query_sql_ext.bookmark = bookmark;
    req.query_sql_ext.max_staleness_ms = max_staleness;
    req.query_sql_ext.sql = sql;
    return conn_request(c, &req, PROTO_RESP_ROWS_EXT, resp, errmsg);
}

static int open_db(struct conn *c, char *errmsg)
{
    struct proto_request req;
    struct proto_response resp;

    memset(&req, 0, sizeof req);
    req.type = PROTO_REQ_OPEN;
    req.open.name = "envelope";
    req.open.vfs = "";
    return conn_request(c, &req, PROTO_RESP_DB, &resp, errmsg);
}

/* The follower checks on @address, given the last write's @bookmark. */
static void follower_checks(const char *address, uint64_t bookmark)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct proto_response resp;
    struct proto_rows_iter it;
    struct proto_value row[1];
    struct conn *c;
    int rv;

    if (conn_open(address, 15000, &c, errmsg) != 0 || open_db(c, errmsg) != 0) {
        check(false, "follower %s: connect and OPEN: %s", address, errmsg);
        return;
    }
    rv = read_none(c, "SELECT sum(x) FROM e", bookmark, 0, &resp, errmsg);
    check(rv == 0 && resp.rows_ext.bookmark >= bookmark,
          "follower %s: NONE read at bookmark %" PRIu64
          " answers ROWS_EXT at %" PRIu64 "%s%s",
          address, bookmark, rv == 0 ? resp.rows_ext.bookmark : 0,
          rv == 0 ? "" : ": ", rv == 0 ? "" : errmsg);
    if (rv == 0) {
        proto_rows_iter_init(&it, &resp.rows_ext.rows);
        check(proto_rows_next(&it, row) && row[0].v.integer == 15,
              "follower %s: it sees every write (sum 15)", address);
    }
    for (uint64_t level = PROTO_LEVEL_DEFAULT; level <= PROTO_LEVEL_STRONG;
         level += level == PROTO_LEVEL_DEFAULT ? 2 : 1) {
        rv = sql_ext(c, true, "SELECT sum(x) FROM e", level, 0, &resp,
                     errmsg);
        check(rv == 0 && resp.rows_ext.bookmark >= bookmark,
              "follower %s: a read at level %" PRIu64
              " answers ROWS_EXT at %" PRIu64 "%s%s",
              address, level, rv == 0 ? resp.rows_ext.bookmark : 0,
              rv == 0 ? "" : ": ", rv == 0 ? "" : errmsg);
        if (rv == 0) {
            proto_rows_iter_init(&it, &resp.rows_ext.rows);
            check(proto_rows_next(&it, row) && row[0].v.integer == 15,
                  "follower %s: the read at level %" PRIu64
                  " sees every write (sum 15)",
                  address, level);
        }
    }
    rv = sql_ext(c, false,
                 "CREATE TABLE IF NOT EXISTS fw(x); INSERT INTO fw VALUES (1)",
                 PROTO_LEVEL_NONE, 0, &resp, errmsg);
    check(rv == 0 && resp.kind == PROTO_RESP_RESULT_EXT &&
              resp.result_ext.bookmark > bookmark,
          "follower %s: a write, even at level NONE, is forwarded to the "
          "leader and answers RESULT_EXT at a later bookmark%s%s",
          address, rv == 0 ? "" : ": ", rv == 0 ? "" : errmsg);
    {
        struct proto_request req;
        memset(&req, 0, sizeof req);
        req.type = PROTO_REQ_EXEC_SQL;
        req.exec_sql.sql = "INSERT INTO fw VALUES (2)";
        rv = conn_request(c, &req, PROTO_RESP_RESULT, &resp, errmsg);
        check(rv == 0 && resp.kind == PROTO_RESP_RESULT &&
                  resp.result.rows_affected == 1,
              "follower %s: a plain EXEC_SQL is forwarded and answers plain "
              "RESULT%s%s",
              address, rv == 0 ? "" : ": ", rv == 0 ? "" : errmsg);
        req.exec_sql.sql = "INSERT INTO missing VALUES (1)";
        rv = conn_request(c, &req, PROTO_RESP_RESULT, &resp, errmsg);
        check(rv == WR_SQL && resp.kind == PROTO_RESP_FAILURE,
              "follower %s: a forwarded failing write answers plain FAILURE",
              address);
    }
    rv = read_none(c, "SELECT 1", bookmark + 1000000, 0, &resp, errmsg);
    expect_refused(rv, &resp, "was not applied on this node within",
                   "a bookmark never reached");
    conn_close(c);
}

/* --stale ADDRESS MS (see the top). */
static int stale_check(const char *address, uint64_t max_staleness)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct proto_response resp;
    struct conn *c;
    int rv;

    if (conn_open(address, 15000, &c, errmsg) != 0 || open_db(c, errmsg) != 0) {
        fprintf(stderr, "test_envelope: %s: %s\n", address, errmsg);
        return 2;
    }
    rv = read_none(c, "SELECT count(*) FROM sqlite_schema", 0, max_staleness,
                   &resp, errmsg);
    conn_close(c);
    if (max_staleness == 0) {
        printf("%s: unbounded NONE read: %s\n", address,
               rv == 0 ? "answered" : errmsg);
        return rv == 0 ? 0 : 1;
    }
    if (rv == WR_SQL && resp.kind == PROTO_RESP_FAILURE_EXT &&
        (resp.failure_ext.flags & PROTO_FLAG_DEFINITE) != 0) {
        printf("%s: refused: %s\n", address, errmsg);
        return 0;
    }
    printf("%s: answered a read bounded to %" PRIu64 " ms of staleness\n",
           address, max_staleness);
    return 1;
}

/* --write ADDRESSES VALUE (see the top). */
static int write_value(const char *addresses, const char *value)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    char sql[256];
    struct proto_response resp;
    struct conn *c;
    int rv;

    rv = conn_open_leader(addresses, 5000, 30000, &c, errmsg);
    if (rv != 0 || (rv = open_db(c, errmsg)) != 0) {
        fprintf(stderr, "test_envelope: %s\n", errmsg);
        return 1;
    }
    snprintf(sql, sizeof sql,
             "CREATE TABLE IF NOT EXISTS r(x); DELETE FROM r; "
             "INSERT INTO r VALUES (%lld)",
             strtoll(value, NULL, 10));
    rv = sql_ext(c, false, sql, 0, 0, &resp, errmsg);
    if (rv == 0) {
        printf("wrote %s on %s at bookmark %" PRIu64 "\n", value,
               conn_address(c), resp.result_ext.bookmark);
    } else {
        fprintf(stderr, "test_envelope: write %s: %s\n", value, errmsg);
    }
    conn_close(c);
    return rv == 0 ? 0 : 1;
}

/* --read ADDRESS LEVEL (see the top). */
static int read_value(const char *address, const char *level)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct proto_response resp;
    struct proto_rows_iter it;
    struct proto_value row[1];
    struct conn *c;
    int rv;

    if (conn_open(address, 15000, &c, errmsg) != 0 ||
        open_db(c, errmsg) != 0) {
        fprintf(stderr, "test_envelope: %s: %s\n", address, errmsg);
        return 1;
    }
    rv = sql_ext(c, true, "SELECT x FROM r", strtoull(level, NULL, 10), 0,
                 &resp, errmsg);
    /* resp points into the connection's buffer: close it last. */
    if (rv == 0) {
        proto_rows_iter_init(&it, &resp.rows_ext.rows);
        if (!proto_rows_next(&it, row)) {
            printf("no row\n");
            rv = 1;
        } else {
            printf("value %" PRId64 " at bookmark %" PRIu64 "\n",
                   row[0].v.integer, resp.rows_ext.bookmark);
        }
    } else if (rv == WR_SQL && resp.kind == PROTO_RESP_FAILURE_EXT &&
               (resp.failure_ext.flags & PROTO_FLAG_DEFINITE) != 0) {
        printf("refused: %s\n", errmsg);
        rv = 3;
    } else {
        printf("error: %s\n", errmsg);
        rv = 1;
    }
    conn_close(c);
    return rv;
}

/* Read sum(x) of e on the leader at @level with bookmark @last: expect
 * ROWS_EXT with 10, at a bookmark after @last if @new_entry, else no older
 * than it. Returns the answer's bookmark (@last if it failed). */
static uint64_t check_sum_read(struct conn *c,
                               uint64_t level,
                               uint64_t last,
                               bool new_entry)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct proto_response resp;
    struct proto_rows_iter it;
    struct proto_value row[1];
    int rv;

    rv = sql_ext(c, true, "SELECT sum(x) FROM e", level, last, &resp, errmsg);
    check(rv == 0 && resp.kind == PROTO_RESP_ROWS_EXT &&
              (new_entry ? resp.rows_ext.bookmark > last
                         : resp.rows_ext.bookmark >= last),
          "read at level %" PRIu64 " answers ROWS_EXT at %" PRIu64
          " (last write %" PRIu64 ")%s%s",
          level, rv == 0 ? resp.rows_ext.bookmark : 0, last,
          rv == 0 ? "" : ": ", rv == 0 ? "" : errmsg);
    if (rv != 0) {
        return last;
    }
    proto_rows_iter_init(&it, &resp.rows_ext.rows);
    check(proto_rows_next(&it, row) && row[0].v.integer == 10,
          "the read at level %" PRIu64 " sees every write (sum 10)", level);
    return resp.rows_ext.bookmark;
}

static int64_t count_rows(struct conn *c, char *errmsg)
{
    struct proto_response resp;
    struct proto_rows_iter it;
    struct proto_value row[1];

    if (sql_ext(c, true, "SELECT count(*) FROM e", 0, 0, &resp, errmsg) != 0) {
        return -1;
    }
    proto_rows_iter_init(&it, &resp.rows_ext.rows);
    return proto_rows_next(&it, row) ? row[0].v.integer : -1;
}

int main(int argc, char **argv)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct proto_request req;
    struct proto_response resp;
    struct conn *c;
    uint64_t last = 0;
    uint64_t stmt_id;
    int rv;

    if (argc == 4 && strcmp(argv[1], "--stale") == 0) {
        return stale_check(argv[2], strtoull(argv[3], NULL, 10));
    }
    if (argc == 4 && strcmp(argv[1], "--write") == 0) {
        return write_value(argv[2], argv[3]);
    }
    if (argc == 4 && strcmp(argv[1], "--read") == 0) {
        return read_value(argv[2], argv[3]);
    }
    if (argc != 3 || strcmp(argv[1], "--addresses") != 0) {
        fprintf(stderr, "usage: test_envelope --addresses A,B,C | "
                        "--stale ADDRESS MS | --write ADDRESSES VALUE | "
                        "--read ADDRESS LEVEL\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    rv = conn_open_leader(argv[2], 15000, 30000, &c, errmsg);
    if (rv != 0) {
        fprintf(stderr, "test_envelope: %s\n", errmsg);
        return 1;
    }
    memset(&req, 0, sizeof req);
    req.type = PROTO_REQ_OPEN;
    req.open.name = "envelope";
    req.open.vfs = "";
    rv = conn_request(c, &req, PROTO_RESP_DB, &resp, errmsg);
    check(rv == 0, "OPEN: %s", rv == 0 ? "DB" : errmsg);

    /* Writes: strictly increasing bookmarks. */
    const char *writes[] = {"CREATE TABLE e (x INTEGER)",
                            "INSERT INTO e VALUES (1)",
                            "INSERT INTO e VALUES (2), (3)"};
    for (unsigned i = 0; i < 3; i++) {
        rv = sql_ext(c, false, writes[i], 0, last, &resp, errmsg);
        check(rv == 0 && resp.kind == PROTO_RESP_RESULT_EXT &&
                  resp.result_ext.bookmark > last,
              "write %u answers RESULT_EXT with bookmark %" PRIu64
              " after %" PRIu64 "%s%s",
              i + 1, rv == 0 ? resp.result_ext.bookmark : 0, last,
              rv == 0 ? "" : ": ", rv == 0 ? "" : errmsg);
        if (rv == 0) {
            last = resp.result_ext.bookmark;
        }
    }
    check(rv == 0 && resp.result_ext.rows_affected == 2,
          "the last write changed 2 rows");

    /* A prepared statement in the envelope. */
    memset(&req, 0, sizeof req);
    req.type = PROTO_REQ_PREPARE;
    req.prepare.sql = "INSERT INTO e VALUES (?)";
    rv = conn_request(c, &req, PROTO_RESP_STMT, &resp, errmsg);
    check(rv == 0, "PREPARE: %s", rv == 0 ? "STMT" : errmsg);
    stmt_id = rv == 0 ? resp.stmt.id : 0;
    struct proto_value four = {.wire = PROTO_INTEGER,
                               .v = {.type = VALUE_INTEGER, .integer = 4}};
    memset(&req, 0, sizeof req);
    req.type = PROTO_REQ_EXEC_EXT;
    req.exec_ext.bookmark = last;
    req.exec_ext.stmt_id = (uint32_t)stmt_id;
    req.exec_ext.params.n = 1;
    req.exec_ext.params.values = &four;
    rv = conn_request(c, &req, PROTO_RESP_RESULT_EXT, &resp, errmsg);
    check(rv == 0 && resp.result_ext.bookmark > last,
          "EXEC in the envelope answers RESULT_EXT with a later bookmark%s%s",
          rv == 0 ? "" : ": ", rv == 0 ? "" : errmsg);
    if (rv == 0) {
        last = resp.result_ext.bookmark;
    }

    /* A read sees the writes, at a bookmark no older than the last; a
     * STRONG read goes through the log, so its bookmark is a new entry's. */
    check_sum_read(c, 0, last, false);
    check_sum_read(c, PROTO_LEVEL_WEAK, last, false);
    check_sum_read(c, PROTO_LEVEL_LINEARIZABLE, last, false);
    last = check_sum_read(c, PROTO_LEVEL_STRONG, last, true);
    /* A vouch from no voter (client id and term 0, as a client could
     * send): the leader runs its own read-index round and answers. */
    check_sum_read(c, PROTO_LEVEL_LINEARIZABLE | PROTO_FLAG_VOUCHED, last,
                   false);

    /* Refusals, all definite, none writing. */
    rv = sql_ext(c, false, "INSERT INTO missing VALUES (1)", 0, 0, &resp,
                 errmsg);
    expect_refused(rv, &resp, "no such table", "a failing statement");
    rv = sql_ext(c, false, "INSERT INTO e VALUES (100)", 0, last + 1000000,
                 &resp, errmsg);
    expect_refused(rv, &resp, "was not applied on this node within",
                   "a future bookmark");
    rv = sql_ext(c, false, "INSERT INTO e VALUES (100)", PROTO_FLAG_SESSION,
                 0, &resp, errmsg);
    expect_refused(rv, &resp, "exactly-once",
                   "an exactly-once write without client id");
    rv = session_write(c, "INSERT INTO e VALUES (100) RETURNING x", 1, 1,
                       true, &resp, errmsg);
    expect_refused(rv, &resp, "not QUERY", "an exactly-once QUERY");
    rv = sql_ext(c, true, "SELECT 1", PROTO_LEVEL_NONE | (1u << 6), 0,
                 &resp, errmsg);
    expect_refused(rv, &resp, "unknown envelope flags",
                   "a read with an unknown envelope flag");
    check(count_rows(c, errmsg) == 4, "nothing refused was written");

    /* Exactly-once writes: a retry of a committed write is answered from
     * the session table and changes nothing; an older one is refused. */
    {
        uint64_t cid = 0x5e5510c0ffee0001ULL;
        uint64_t first;
        rv = sql_ext(c, false, "CREATE TABLE IF NOT EXISTS s(x)", 0, 0, &resp,
                     errmsg);
        check(rv == 0, "CREATE TABLE s%s%s", rv ? ": " : "", rv ? errmsg : "");
        rv = session_write(c, "INSERT INTO s VALUES (1)", cid, 1, false,
                           &resp, errmsg);
        check(rv == 0 && resp.result_ext.rows_affected == 1,
              "exactly-once write 1 answers RESULT_EXT%s%s", rv ? ": " : "",
              rv ? errmsg : "");
        first = rv == 0 ? resp.result_ext.last_insert_id : 0;
        rv = session_write(c, "INSERT INTO s VALUES (1)", cid, 1, false,
                           &resp, errmsg);
        check(rv == 0 && resp.result_ext.rows_affected == 1 &&
                  resp.result_ext.last_insert_id == first,
              "its retry answers the recorded result (rowid %" PRIu64 ")%s%s",
              first, rv ? ": " : "", rv ? errmsg : "");
        rv = session_write(c, "INSERT INTO s VALUES (2)", cid, 2, false,
                           &resp, errmsg);
        check(rv == 0, "exactly-once write 2%s%s", rv ? ": " : "",
              rv ? errmsg : "");
        rv = session_write(c, "INSERT INTO s VALUES (1)", cid, 1, false,
                           &resp, errmsg);
        expect_refused(rv, &resp, "older", "a retry older than the last write");
        rv = sql_ext(c, true, "SELECT count(*), sum(x) FROM s", 0, 0, &resp,
                     errmsg);
        if (rv == 0) {
            struct proto_rows_iter it;
            struct proto_value row[2];
            proto_rows_iter_init(&it, &resp.rows_ext.rows);
            check(proto_rows_next(&it, row) && row[0].v.integer == 2 &&
                      row[1].v.integer == 3,
                  "each exactly-once write is in the table once");
        } else {
            check(false, "read s: %s", errmsg);
        }
    }

    /* Plain dqlite requests on the same connection stay plain. */
    memset(&req, 0, sizeof req);
    req.type = PROTO_REQ_EXEC_SQL;
    req.exec_sql.sql = "INSERT INTO e VALUES (5)";
    rv = conn_request(c, &req, PROTO_RESP_RESULT, &resp, errmsg);
    check(rv == 0 && resp.kind == PROTO_RESP_RESULT,
          "plain EXEC_SQL answers plain RESULT%s%s", rv == 0 ? "" : ": ",
          rv == 0 ? "" : errmsg);
    req.exec_sql.sql = "INSERT INTO missing VALUES (1)";
    rv = conn_request(c, &req, PROTO_RESP_RESULT, &resp, errmsg);
    check(rv == WR_SQL && resp.kind == PROTO_RESP_FAILURE,
          "plain EXEC_SQL fails with plain FAILURE");
    rv = sql_ext(c, false, "SELECT 1", 0, 0, &resp, errmsg);
    if (rv == 0) {
        last = resp.result_ext.bookmark;
    }

    /* The followers. */
    {
        char list[1024];
        char *save = NULL;
        snprintf(list, sizeof list, "%s", argv[2]);
        for (char *a = strtok_r(list, ",", &save); a != NULL;
             a = strtok_r(NULL, ",", &save)) {
            if (strcmp(a, conn_address(c)) != 0) {
                follower_checks(a, last);
            }
        }
    }

    conn_close(c);
    printf("test_envelope: %u failures\n", failures);
    return failures == 0 ? 0 : 1;
}
