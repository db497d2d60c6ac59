/*
 * The register workload: read, write and compare-and-set on a few keys
 * of table r (k INTEGER PRIMARY KEY, v INTEGER), with unique values, at
 * the run's read level; judged per key by the Wing-Gong-Lowe checker.
 * The keys rotate every few seconds so that each key's history stays
 * short enough for the linearizability search.
 */
#include <stdlib.h>
#include <string.h>

#include "runner.h"

#define KEYS_AT_ONCE 3                /* Keys in use at any moment. */
#define KEY_PERIOD_NS (8 * NS_PER_S)  /* How long a set of keys lives. */

struct reg {                          /* Guarded by run.lock. */
    int64_t next_value;
    int64_t *last_value;              /* Per key: the last value seen. */
    bool *key_used;
    size_t n_keys;
};

struct reg_worker {
    wr_stmt *read, *write, *cas;
};

static int reg_setup(struct run *r, wr_db *db)
{
    struct reg *g = calloc(1, sizeof *g);
    size_t k;

    if (g == NULL) {
        return -1;
    }
    r->wl = g;
    /* One more epoch than the run lasts, and the last key for the final
     * write, which no worker reaches. */
    g->n_keys = (size_t)((int64_t)r->cfg->time_s * NS_PER_S / KEY_PERIOD_NS +
                         2) * KEYS_AT_ONCE;
    g->last_value = malloc(g->n_keys * sizeof *g->last_value);
    g->key_used = calloc(g->n_keys, sizeof *g->key_used);
    if (g->last_value == NULL || g->key_used == NULL) {
        fprintf(stderr, "walraft-jepsen: out of memory\n");
        return -1;
    }
    for (k = 0; k < g->n_keys; k++) {
        g->last_value[k] = -1;
    }
    return setup_exec(db, "CREATE TABLE IF NOT EXISTS r "
                             "(k INTEGER PRIMARY KEY, v INTEGER)");
}

static void reg_destroy(struct run *r)
{
    struct reg *g = r->wl;
    if (g != NULL) {
        free(g->last_value);
        free(g->key_used);
        free(g);
    }
    r->wl = NULL;
}

static int reg_open(struct worker *w)
{
    struct reg_worker *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return -1;
    }
    w->wl = s;
    if (wr_prepare(w->db, "SELECT v FROM r WHERE k = ?", -1, &s->read,
                   NULL) != WR_OK ||
        wr_prepare(w->db,
                   "INSERT INTO r (k, v) VALUES (?, ?) "
                   "ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                   -1, &s->write, NULL) != WR_OK ||
        wr_prepare(w->db, "UPDATE r SET v = ? WHERE k = ? AND v = ?", -1,
                   &s->cas, NULL) != WR_OK) {
        return -1;
    }
    return 0;
}

static void reg_close(struct worker *w)
{
    struct reg_worker *s = w->wl;
    if (s != NULL) {
        wr_finalize(s->read);
        wr_finalize(s->write);
        wr_finalize(s->cas);
        free(s);
    }
    w->wl = NULL;
}

static void note_value(struct run *r, int64_t key, int64_t v)
{
    struct reg *g = r->wl;
    pthread_mutex_lock(&r->lock);
    if ((size_t)key < g->n_keys) {
        g->last_value[key] = v;
    }
    pthread_mutex_unlock(&r->lock);
}

/* One read of @key: the value, -1 for null; records the operation. */
static int do_read(struct worker *w, int64_t key, int64_t *out)
{
    wr_stmt *s = ((struct reg_worker *)w->wl)->read;
    int rc;
    int64_t v = -1;

    op_invoke(w, "read", key, NULL);
    wr_bind_int64(s, 1, key);
    while ((rc = wr_step(s)) == WR_ROW) {
        if (wr_column_type(s, 0) != WR_NULL) {
            v = wr_column_int64(s, 0);
        }
    }
    wr_reset(s);
    if (rc != WR_DONE) {
        op_failed(w, "read", key, NULL, rc);
        return rc;
    }
    op_ok(w, "ok", "read", key, v < 0 ? NULL : json_integer(v));
    if (v >= 0) {
        note_value(w->run, key, v);
    }
    *out = v;
    return 0;
}

static int do_write(struct worker *w, int64_t key, int64_t v)
{
    wr_stmt *s = ((struct reg_worker *)w->wl)->write;
    int rc;

    op_invoke(w, "write", key, json_integer(v));
    wr_bind_int64(s, 1, key);
    wr_bind_int64(s, 2, v);
    rc = wr_step(s);
    wr_reset(s);
    if (rc != WR_DONE) {
        op_failed(w, "write", key, json_integer(v), rc);
        return rc;
    }
    op_ok(w, "ok", "write", key, json_integer(v));
    note_value(w->run, key, v);
    return 0;
}

static void do_cas(struct worker *w, int64_t key, int64_t old, int64_t v)
{
    wr_stmt *s = ((struct reg_worker *)w->wl)->cas;
    int rc;

    op_invoke(w, "cas", key,
              json_pack("[I,I]", (json_int_t)old, (json_int_t)v));
    wr_bind_int64(s, 1, v);
    wr_bind_int64(s, 2, key);
    wr_bind_int64(s, 3, old);
    rc = wr_step(s);
    wr_reset(s);
    json_t *value = json_pack("[I,I]", (json_int_t)old, (json_int_t)v);
    if (rc != WR_DONE) {
        op_failed(w, "cas", key, value, rc);
        return;
    }
    if (wr_changes(w->db) == 1) {
        op_ok(w, "ok", "cas", key, value);
        note_value(w->run, key, v);
    } else {
        op_ok(w, "fail", "cas", key, value);
    }
}

static void reg_step(struct worker *w)
{
    struct run *r = w->run;
    struct reg *g = r->wl;
    int64_t epoch = run_now(r) / KEY_PERIOD_NS;
    int64_t key =
        epoch * KEYS_AT_ONCE + (int64_t)(rnd(&w->rs) % KEYS_AT_ONCE);
    uint64_t dice = rnd(&w->rs) % 4;
    int64_t v, old;

    pthread_mutex_lock(&r->lock);
    /* The last epoch's keys are the final write's. */
    if ((size_t)key >= g->n_keys - KEYS_AT_ONCE) {
        pthread_mutex_unlock(&r->lock);
        return;
    }
    g->key_used[key] = true;
    v = g->next_value++;
    old = g->last_value[key];
    pthread_mutex_unlock(&r->lock);

    if (dice < 2) {
        int64_t got;
        do_read(w, key, &got);
    } else if (dice == 2 || old < 0) {
        do_write(w, key, v);
    } else {
        do_cas(w, key, old, v);
    }
}

/* A write to a fresh key, then one read of every key used. */
static int reg_final(struct worker *w)
{
    struct run *r = w->run;
    struct reg *g = r->wl;
    int64_t fresh = (int64_t)g->n_keys - 1;
    size_t k;
    int rv = 0, tries;

    g->key_used[fresh] = true;
    for (tries = 0; tries < 5; tries++) {
        pthread_mutex_lock(&r->lock);
        int64_t v = g->next_value++;
        pthread_mutex_unlock(&r->lock);
        if (do_write(w, fresh, v) == 0) {
            break;
        }
        sleep_ns(NS_PER_S);
    }
    if (tries == 5) {
        fprintf(stderr, "walraft-jepsen: the final write failed: %s\n",
                wr_errmsg(w->db));
        rv = -1;
    }
    for (k = 0; k < g->n_keys; k++) {
        int64_t got;
        if (!g->key_used[k]) {
            continue;
        }
        for (tries = 0; tries < 5; tries++) {
            if (do_read(w, (int64_t)k, &got) == 0) {
                break;
            }
            sleep_ns(NS_PER_S);
        }
        if (tries == 5) {
            fprintf(stderr, "walraft-jepsen: final read of key %zu failed: "
                    "%s\n", k, wr_errmsg(w->db));
            rv = -1;
        }
    }
    return rv;
}

static int reg_check(const struct run *r, const struct history *h,
                     struct check_result *res)
{
    struct register_opts ro = {.max_seconds = 60};
    (void)r;
    return check_register(h, &ro, res);
}

const struct workload workload_register = {
    .name = "register",
    .setup = reg_setup,
    .open = reg_open,
    .close = reg_close,
    .step = reg_step,
    .final = reg_final,
    .check = reg_check,
    .destroy = reg_destroy,
};
