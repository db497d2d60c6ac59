/*
 * The list-append workload, after Elle: transactions of 1 to MAX_MOPS
 * micro-ops, each an append of a value to a key's list or a read of a
 * key's whole list, run as one interactive transaction on the leader
 * (BEGIN ... COMMIT), and judged for strict serializability by
 * check_list_append.
 *
 * A key's list is one row of lists (k INTEGER PRIMARY KEY, v TEXT NOT
 * NULL), its values comma-separated in append order:
 *
 *   append  INSERT INTO lists (k, v) VALUES (?, ?)
 *           ON CONFLICT (k) DO UPDATE SET v = v || ',' || excluded.v
 *   read    SELECT v FROM lists WHERE k = ?      (no row: the empty list)
 *
 * Values are 1, 2, 3, ... per key, so every (key, value) is appended by
 * one invocation at most. KEYS_AT_ONCE keys are in use at any moment; a
 * key retires after WRITES_PER_KEY appends and a fresh key takes its
 * place, as Elle's generator does, so lists stay short, the keys hot and
 * the history checkable. After the heal every key handed out is read once,
 * FINAL_BATCH keys per transaction.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"

#define KEYS_AT_ONCE 4
#define WRITES_PER_KEY 32
#define MAX_MOPS 4
#define FINAL_BATCH 16
#define FINAL_TRIES 10

struct la {                       /* Guarded by run.lock. */
    int64_t active[KEYS_AT_ONCE]; /* The keys in use. */
    int64_t *last_value;          /* Per key: the last value handed out. */
    size_t n_keys;                /* Keys handed out: 0 .. n_keys - 1. */
    size_t cap;
};

struct la_worker {
    wr_stmt *append, *read;
};

/* A fresh key, into @key. Returns 0, or -1 out of memory. Called with the
 * run's lock held. */
static int new_key(struct la *g, int64_t *key)
{
    if (g->n_keys == g->cap) {
        size_t cap = g->cap != 0 ? g->cap * 2 : 64;
        int64_t *v = realloc(g->last_value, cap * sizeof *v);
        if (v == NULL) {
            return -1;
        }
        g->last_value = v;
        g->cap = cap;
    }
    g->last_value[g->n_keys] = 0;
    *key = (int64_t)g->n_keys++;
    return 0;
}

static int la_setup(struct run *r, wr_db *db)
{
    struct la *g = calloc(1, sizeof *g);
    int i;

    if (g == NULL) {
        fprintf(stderr, "walraft-jepsen: out of memory\n");
        return -1;
    }
    r->wl = g;
    for (i = 0; i < KEYS_AT_ONCE; i++) {
        if (new_key(g, &g->active[i]) != 0) {
            fprintf(stderr, "walraft-jepsen: out of memory\n");
            return -1;
        }
    }
    return setup_exec(db, "CREATE TABLE IF NOT EXISTS lists "
                             "(k INTEGER PRIMARY KEY, v TEXT NOT NULL)");
}

static void la_destroy(struct run *r)
{
    struct la *g = r->wl;
    if (g != NULL) {
        free(g->last_value);
        free(g);
    }
    r->wl = NULL;
}

static int la_open(struct worker *w)
{
    struct la_worker *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return -1;
    }
    w->wl = s;
    if (wr_prepare(w->db,
                   "INSERT INTO lists (k, v) VALUES (?, ?) "
                   "ON CONFLICT (k) DO UPDATE SET v = v || ',' || excluded.v",
                   -1, &s->append, NULL) != WR_OK ||
        wr_prepare(w->db, "SELECT v FROM lists WHERE k = ?", -1, &s->read,
                   NULL) != WR_OK) {
        return -1;
    }
    return 0;
}

static void la_close(struct worker *w)
{
    struct la_worker *s = w->wl;
    if (s != NULL) {
        wr_finalize(s->append);
        wr_finalize(s->read);
        free(s);
    }
    w->wl = NULL;
}

static int append(struct worker *w, int64_t key, int64_t v)
{
    wr_stmt *s = ((struct la_worker *)w->wl)->append;
    char text[32];
    int rc;

    snprintf(text, sizeof text, "%lld", (long long)v);
    wr_bind_int64(s, 1, key);
    wr_bind_text(s, 2, text, -1);
    rc = wr_step(s);
    wr_reset(s);
    return rc == WR_DONE ? WR_OK : rc;
}

/* The list @text holds, as a JSON array of integers; an element that is
 * not a decimal integer is kept as a string, for the checker to flag.
 * NULL out of memory. */
static json_t *parse_list(const char *text)
{
    json_t *list = json_array();
    const char *p = text;

    while (list != NULL && p != NULL && *p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        char *end;
        long long v;
        json_t *e;

        errno = 0;
        v = strtoll(p, &end, 10);
        e = errno == 0 && end == p + len && len > 0
                ? json_integer(v)
                : json_stringn(p, len);
        if (json_array_append_new(list, e) != 0) {
            json_decref(list);
            list = NULL;
        }
        p = comma != NULL ? comma + 1 : NULL;
    }
    return list;
}

/* Read @key's list into *@out (a new reference). */
static int read_list(struct worker *w, int64_t key, json_t **out)
{
    wr_stmt *s = ((struct la_worker *)w->wl)->read;
    json_t *list = NULL;
    int rc;

    wr_bind_int64(s, 1, key);
    while ((rc = wr_step(s)) == WR_ROW) {
        const char *text = wr_column_text(s, 0);
        json_decref(list);
        list = text != NULL ? parse_list(text) : json_null();
        if (list == NULL) {
            rc = WR_NOMEM;
            break;
        }
    }
    wr_reset(s);
    if (rc != WR_DONE) {
        json_decref(list);
        return rc;
    }
    *out = list != NULL ? list : json_array();
    return *out != NULL ? WR_OK : WR_NOMEM;
}

/* Run the transaction @txn (micro-ops ["append", k, v] and ["r", k, null];
 * taken over) and record it. Returns 0 if it committed, else the error. */
static int do_txn(struct worker *w, json_t *txn)
{
    json_t *done = json_deep_copy(txn);
    size_t i;
    int rc;

    if (done == NULL) {
        json_decref(txn);
        return WR_NOMEM;
    }
    op_invoke(w, "txn", -1, json_deep_copy(txn));
    rc = wr_begin(w->db);
    if (rc != WR_OK) {
        /* No transaction is open (a broken connection takes the node's
         * with it). */
        op_failed_in_tx(w, "txn", txn, rc);
        json_decref(done);
        return rc;
    }
    for (i = 0; i < json_array_size(done) && rc == WR_OK; i++) {
        json_t *mop = json_array_get(done, i);
        const char *f = json_string_value(json_array_get(mop, 0));
        int64_t key = json_integer_value(json_array_get(mop, 1));
        if (strcmp(f, "append") == 0) {
            rc = append(w, key, json_integer_value(json_array_get(mop, 2)));
        } else {
            json_t *list = NULL;
            rc = read_list(w, key, &list);
            if (rc == WR_OK) {
                json_array_set_new(mop, 2, list);
            }
        }
    }
    if (rc != WR_OK) {
        op_failed_in_tx(w, "txn", txn, rc);
        json_decref(done);
        worker_rollback(w);
        return rc;
    }
    rc = wr_commit(w->db);
    if (rc != WR_OK) {
        /* A COMMIT whose answer was lost may have committed: op_failed
         * makes that "info". */
        op_failed(w, "txn", -1, txn, rc);
        json_decref(done);
        if (wr_in_transaction(w->db)) {
            worker_rollback(w); /* A COMMIT refused for a full disk. */
        }
        return rc;
    }
    json_decref(txn);
    op_ok(w, "ok", "txn", -1, done);
    return 0;
}

/* One micro-op on a key in use; NULL out of memory. Appends take the
 * key's next value, and retire the key after WRITES_PER_KEY of them. */
static json_t *gen_mop(struct worker *w)
{
    struct run *r = w->run;
    struct la *g = r->wl;
    size_t slot = (size_t)(rnd(&w->rs) % KEYS_AT_ONCE);
    bool is_append = rnd(&w->rs) % 2 == 0;
    int64_t key, v = 0;
    json_t *mop = NULL;

    pthread_mutex_lock(&r->lock);
    key = g->active[slot];
    if (is_append) {
        v = ++g->last_value[key];
        if (v >= WRITES_PER_KEY && new_key(g, &g->active[slot]) != 0) {
            pthread_mutex_unlock(&r->lock);
            return NULL;
        }
    }
    pthread_mutex_unlock(&r->lock);
    if (is_append) {
        mop = json_pack("[s, I, I]", "append", (json_int_t)key,
                        (json_int_t)v);
    } else {
        mop = json_pack("[s, I, n]", "r", (json_int_t)key);
    }
    return mop;
}

static void la_step(struct worker *w)
{
    size_t n = 1 + (size_t)(rnd(&w->rs) % MAX_MOPS), i;
    json_t *txn = json_array();

    if (w->wl == NULL) {
        json_decref(txn);
        return; /* The handle could not be reopened. */
    }
    for (i = 0; i < n && txn != NULL; i++) {
        if (json_array_append_new(txn, gen_mop(w)) != 0) {
            json_decref(txn);
            txn = NULL;
        }
    }
    if (txn == NULL) {
        fprintf(stderr, "walraft-jepsen: out of memory\n");
        atomic_store(&w->run->stop, true);
        return;
    }
    do_txn(w, txn);
}

/* One read of every key handed out, FINAL_BATCH keys per transaction,
 * each transaction tried until it commits. */
static int la_final(struct worker *w)
{
    struct run *r = w->run;
    struct la *g = r->wl;
    size_t first, k;
    int tries;

    for (first = 0; first < g->n_keys; first += FINAL_BATCH) {
        for (tries = 0; tries < FINAL_TRIES; tries++) {
            json_t *txn = json_array();
            for (k = first; k < first + FINAL_BATCH && k < g->n_keys &&
                            txn != NULL;
                 k++) {
                if (json_array_append_new(
                        txn, json_pack("[s, I, n]", "r", (json_int_t)k)) !=
                    0) {
                    json_decref(txn);
                    txn = NULL;
                }
            }
            if (txn == NULL) {
                fprintf(stderr, "walraft-jepsen: out of memory\n");
                return -1;
            }
            if (w->wl == NULL) {
                json_decref(txn);
                break;
            }
            if (do_txn(w, txn) == 0) {
                break;
            }
            sleep_ns(NS_PER_S);
        }
        if (tries == FINAL_TRIES || w->wl == NULL) {
            fprintf(stderr, "walraft-jepsen: the final read of keys %zu.. "
                    "failed: %s\n", first,
                    w->db != NULL ? wr_errmsg(w->db) : "no handle");
            return -1;
        }
    }
    return 0;
}

static int la_check(const struct run *r, const struct history *h,
                    struct check_result *res)
{
    struct list_append_opts lo = {0};
    (void)r;
    return check_list_append(h, &lo, res);
}

const struct workload workload_list_append = {
    .name = "list-append",
    .setup = la_setup,
    .open = la_open,
    .close = la_close,
    .step = la_step,
    .final = la_final,
    .check = la_check,
    .destroy = la_destroy,
};
