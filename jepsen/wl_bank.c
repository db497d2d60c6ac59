/*
 * The bank workload: ACCOUNTS accounts in table
 * accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL), each
 * created with INITIAL, so the total is ACCOUNTS * INITIAL for good.
 *
 * A transfer is an interactive transaction on the leader: BEGIN, read both
 * balances, refuse (ROLLBACK, a definite "fail") a transfer that would
 * make the source negative, else write both new balances as absolute
 * values computed from what it read (so a transaction that read a stale
 * balance would change the total), COMMIT. A read is one SELECT of every
 * balance at the run's read level: one statement is one SQLite read
 * transaction, a consistent snapshot on whichever node serves it. Every
 * read must sum to the total with no negative balance (check_bank); the
 * transfers' own outcomes do not matter to the checker.
 */
#include <stdlib.h>
#include <string.h>

#include "runner.h"

#define ACCOUNTS 5
#define INITIAL 10
#define MAX_AMOUNT 5
#define FINAL_TRIES 10

struct bank_worker {
    wr_stmt *balance, *set_balance, *read_all;
};

static int bank_setup(struct run *r, wr_db *db)
{
    char sql[512];
    size_t len;
    int i;

    (void)r;
    len = (size_t)snprintf(sql, sizeof sql,
                           "CREATE TABLE IF NOT EXISTS accounts "
                           "(id INTEGER PRIMARY KEY, "
                           "balance INTEGER NOT NULL); "
                           "INSERT OR IGNORE INTO accounts (id, balance) "
                           "VALUES ");
    for (i = 0; i < ACCOUNTS && len < sizeof sql; i++) {
        len += (size_t)snprintf(sql + len, sizeof sql - len, "%s(%d, %d)",
                                i > 0 ? ", " : "", i, INITIAL);
    }
    return setup_exec(db, sql);
}

static int bank_open(struct worker *w)
{
    struct bank_worker *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return -1;
    }
    w->wl = s;
    if (wr_prepare(w->db, "SELECT balance FROM accounts WHERE id = ?", -1,
                   &s->balance, NULL) != WR_OK ||
        wr_prepare(w->db, "UPDATE accounts SET balance = ? WHERE id = ?", -1,
                   &s->set_balance, NULL) != WR_OK ||
        wr_prepare(w->db, "SELECT id, balance FROM accounts ORDER BY id", -1,
                   &s->read_all, NULL) != WR_OK) {
        return -1;
    }
    return 0;
}

static void bank_close(struct worker *w)
{
    struct bank_worker *s = w->wl;
    if (s != NULL) {
        wr_finalize(s->balance);
        wr_finalize(s->set_balance);
        wr_finalize(s->read_all);
        free(s);
    }
    w->wl = NULL;
}

/* The balance of account @id inside the open transaction, into @out.
 * Returns WR_OK, WR_NOTFOUND (no such account; the handle's error is not
 * set) or the error. */
static int balance(struct worker *w, int64_t id, int64_t *out)
{
    wr_stmt *s = ((struct bank_worker *)w->wl)->balance;
    bool found = false;
    int rc;

    wr_bind_int64(s, 1, id);
    while ((rc = wr_step(s)) == WR_ROW) {
        *out = wr_column_int64(s, 0);
        found = true;
    }
    wr_reset(s);
    return rc != WR_DONE ? rc : found ? WR_OK : WR_NOTFOUND;
}

static int set_balance(struct worker *w, int64_t id, int64_t v)
{
    wr_stmt *s = ((struct bank_worker *)w->wl)->set_balance;
    int rc;

    wr_bind_int64(s, 1, v);
    wr_bind_int64(s, 2, id);
    rc = wr_step(s);
    wr_reset(s);
    if (rc != WR_DONE) {
        return rc;
    }
    return wr_changes(w->db) == 1 ? WR_OK : WR_NOTFOUND;
}

static json_t *transfer_value(int64_t from, int64_t to, int64_t amount)
{
    return json_pack("{s:I, s:I, s:I}", "from", (json_int_t)from, "to",
                     (json_int_t)to, "amount", (json_int_t)amount);
}

static void do_transfer(struct worker *w)
{
    int64_t from = (int64_t)(rnd(&w->rs) % ACCOUNTS);
    int64_t to = (from + 1 + (int64_t)(rnd(&w->rs) % (ACCOUNTS - 1))) %
                 ACCOUNTS;
    int64_t amount = 1 + (int64_t)(rnd(&w->rs) % MAX_AMOUNT);
    int64_t from_bal = 0, to_bal = 0;
    int rc;

    if (w->wl == NULL) {
        return;
    }
    op_invoke(w, "transfer", -1, transfer_value(from, to, amount));
    rc = wr_begin(w->db);
    if (rc != WR_OK) {
        /* BEGIN failed: no transaction is open (a broken connection
         * takes the node's with it). */
        op_failed_in_tx(w, "transfer", transfer_value(from, to, amount),
                             rc);
        return;
    }
    rc = balance(w, from, &from_bal);
    if (rc == WR_OK) {
        rc = balance(w, to, &to_bal);
    }
    if (rc == WR_OK && from_bal < amount) {
        /* The bank refuses: that is the transfer's definite outcome. */
        worker_rollback(w);
        op_ok(w, "fail", "transfer", -1, transfer_value(from, to, amount));
        return;
    }
    if (rc == WR_OK) {
        rc = set_balance(w, from, from_bal - amount);
    }
    if (rc == WR_OK) {
        rc = set_balance(w, to, to_bal + amount);
    }
    if (rc == WR_NOTFOUND) {
        /* Not a failure of the cluster's: the reads will show the
         * account missing. */
        hist_emit(w->run, w->process, "fail", "transfer", -1,
                  transfer_value(from, to, amount), "no such account");
        atomic_fetch_add(&w->run->n_fail, 1);
    } else if (rc != WR_OK) {
        op_failed_in_tx(w, "transfer", transfer_value(from, to, amount),
                             rc);
    }
    if (rc != WR_OK) {
        worker_rollback(w);
        return;
    }
    rc = wr_commit(w->db);
    if (rc != WR_OK) {
        /* A COMMIT whose answer was lost may have committed: op_failed
         * makes that "info". */
        op_failed(w, "transfer", -1, transfer_value(from, to, amount), rc);
        if (wr_in_transaction(w->db)) {
            worker_rollback(w); /* A COMMIT refused for a full disk. */
        }
        return;
    }
    op_ok(w, "ok", "transfer", -1, transfer_value(from, to, amount));
}

/* A read of every balance in one statement; records the operation.
 * Returns 0 or the error. */
static int do_read(struct worker *w)
{
    wr_stmt *s;
    json_t *balances;
    char id[32];
    int rc;

    if (w->wl == NULL) {
        return WR_INVALID;
    }
    s = ((struct bank_worker *)w->wl)->read_all;
    balances = json_object();
    if (balances == NULL) {
        return WR_NOMEM;
    }
    op_invoke(w, "read", -1, NULL);
    while ((rc = wr_step(s)) == WR_ROW) {
        snprintf(id, sizeof id, "%lld", (long long)wr_column_int64(s, 0));
        if (json_object_set_new(balances, id,
                                wr_column_type(s, 1) == WR_NULL
                                    ? json_null()
                                    : json_integer(wr_column_int64(s, 1))) !=
            0) {
            rc = WR_NOMEM;
            break;
        }
    }
    wr_reset(s);
    if (rc != WR_DONE) {
        json_decref(balances);
        op_failed(w, "read", -1, NULL, rc);
        return rc;
    }
    op_ok(w, "ok", "read", -1, balances);
    return 0;
}

static void bank_step(struct worker *w)
{
    if (rnd(&w->rs) % 2 == 0) {
        do_read(w);
    } else {
        do_transfer(w);
    }
}

static int bank_final(struct worker *w)
{
    int tries;

    for (tries = 0; tries < FINAL_TRIES; tries++) {
        if (do_read(w) == 0) {
            return 0;
        }
        sleep_ns(NS_PER_S);
    }
    fprintf(stderr, "walraft-jepsen: the final read failed: %s\n",
            w->db != NULL ? wr_errmsg(w->db) : "no handle");
    return -1;
}

static int bank_check(const struct run *r, const struct history *h,
                      struct check_result *res)
{
    struct bank_opts bo = {.total = (int64_t)ACCOUNTS * INITIAL,
                           .allow_negative = false};
    (void)r;
    return check_bank(h, &bo, res);
}

const struct workload workload_bank = {
    .name = "bank",
    .setup = bank_setup,
    .open = bank_open,
    .close = bank_close,
    .step = bank_step,
    .final = bank_final,
    .check = bank_check,
};
