/*
 * The set workload: unique integers inserted into table
 * s (id INTEGER PRIMARY KEY, v INTEGER NOT NULL), one autocommit INSERT
 * each, with an occasional read of the whole set (SELECT v FROM s) at the
 * run's read level if that level is linearizable or strong, and after the
 * heal a final read of the whole set, at least linearizable. v has no
 * UNIQUE constraint on purpose: a write applied twice shows as a
 * duplicate.
 *
 * Adds are exactly-once: libwalraft tags every autocommit write with its
 * session (client id, sequence number) and retries one whose outcome is
 * unknown under the same number, so a retry never applies twice. If the
 * handle gives up retrying, the add stays "info" (op_failed): it may or may
 * not be in the set, and the checker allows both. So the checker runs with
 * exactly_once, unless some handle fell back to plain writes (a node that
 * does not serve sessions), in which case a duplicate is only counted.
 */
#include <stdlib.h>
#include <string.h>

#include "runner.h"

/* One operation in READ_EVERY is a read of the whole set. */
#define READ_EVERY 16
#define FINAL_TRIES 10

struct set {                  /* Guarded by run.lock. */
    int64_t next_value;
    bool no_sessions;         /* Some handle wrote without sessions. */
};

struct set_worker {
    wr_stmt *add, *read;
};

static int set_setup(struct run *r, wr_db *db)
{
    struct set *g = calloc(1, sizeof *g);

    if (g == NULL) {
        fprintf(stderr, "walraft-jepsen: out of memory\n");
        return -1;
    }
    r->wl = g;
    return setup_exec(db, "CREATE TABLE IF NOT EXISTS s "
                             "(id INTEGER PRIMARY KEY, v INTEGER NOT NULL)");
}

static void set_destroy(struct run *r)
{
    free(r->wl);
    r->wl = NULL;
}

static int set_open(struct worker *w)
{
    struct set_worker *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return -1;
    }
    w->wl = s;
    if (wr_prepare(w->db, "INSERT INTO s (v) VALUES (?)", -1, &s->add,
                   NULL) != WR_OK ||
        wr_prepare(w->db, "SELECT v FROM s", -1, &s->read, NULL) != WR_OK) {
        return -1;
    }
    return 0;
}

/* Note whether the handle wrote without a session: then a duplicate may
 * be a legitimate double application, not a bug. */
static void note_sessions(struct worker *w)
{
    struct run *r = w->run;
    struct set *g = r->wl;
    if (w->db != NULL && wr_sessions(w->db) == 0) {
        pthread_mutex_lock(&r->lock);
        g->no_sessions = true;
        pthread_mutex_unlock(&r->lock);
    }
}

static void set_close(struct worker *w)
{
    struct set_worker *s = w->wl;
    note_sessions(w);
    if (s != NULL) {
        wr_finalize(s->add);
        wr_finalize(s->read);
        free(s);
    }
    w->wl = NULL;
}

static void do_add(struct worker *w)
{
    struct run *r = w->run;
    struct set *g = r->wl;
    wr_stmt *s = ((struct set_worker *)w->wl)->add;
    int64_t v;
    int rc;

    pthread_mutex_lock(&r->lock);
    v = g->next_value++;
    pthread_mutex_unlock(&r->lock);
    op_invoke(w, "add", -1, json_integer(v));
    wr_bind_int64(s, 1, v);
    rc = wr_step(s);
    wr_reset(s);
    if (rc != WR_DONE) {
        op_failed(w, "add", -1, json_integer(v), rc);
        return;
    }
    op_ok(w, "ok", "add", -1, json_integer(v));
}

/* One read of the whole set at @level (WR_LEVEL_DEFAULT: the handle's);
 * records the operation. Returns 0 or the error. */
static int do_read(struct worker *w, int level)
{
    wr_stmt *s = ((struct set_worker *)w->wl)->read;
    json_t *elems = json_array();
    int rc;

    if (elems == NULL) {
        return WR_NOMEM;
    }
    wr_stmt_set_consistency(s, level, 0);
    op_invoke(w, "read", -1, NULL);
    while ((rc = wr_step(s)) == WR_ROW) {
        if (json_array_append_new(elems, json_integer(wr_column_int64(s, 0)))
            != 0) {
            rc = WR_NOMEM;
            break;
        }
    }
    wr_reset(s);
    if (rc != WR_DONE) {
        json_decref(elems);
        op_failed(w, "read", -1, NULL, rc);
        return rc;
    }
    op_ok(w, "ok", "read", -1, elems);
    return 0;
}

/* Whether a read at the run's level sees every add acknowledged before
 * it began. The checker takes every read invoked after the last
 * acknowledged add as a final read, which must hold every acknowledged
 * add; a stale read (none, weak) there would look like a lost add. */
static bool reads_fresh(const struct run *r)
{
    return r->cfg->read_level == WR_LEVEL_LINEARIZABLE ||
           r->cfg->read_level == WR_LEVEL_STRONG;
}

static void set_step(struct worker *w)
{
    /* Periodic reads only where they are fresh. */
    if (rnd(&w->rs) % READ_EVERY == 0 && reads_fresh(w->run)) {
        do_read(w, WR_LEVEL_DEFAULT);
    } else {
        do_add(w);
    }
}

/* A read of the whole set, tried until one succeeds. It must see every
 * acknowledged add, so it is linearizable even when the run's reads are
 * weaker (a lagging follower would make acknowledged adds look lost). */
static int set_final(struct worker *w)
{
    int level = reads_fresh(w->run) ? WR_LEVEL_DEFAULT
                                    : WR_LEVEL_LINEARIZABLE;
    int tries;

    for (tries = 0; tries < FINAL_TRIES; tries++) {
        if (do_read(w, level) == 0) {
            return 0;
        }
        sleep_ns(NS_PER_S);
    }
    fprintf(stderr, "walraft-jepsen: the final read failed: %s\n",
            wr_errmsg(w->db));
    return -1;
}

static int set_check(const struct run *r, const struct history *h,
                     struct check_result *res)
{
    const struct set *g = r->wl;
    struct set_opts so = {.exactly_once = !g->no_sessions};
    if (g->no_sessions) {
        fprintf(stderr, "walraft-jepsen: a handle wrote without sessions; "
                "duplicates are allowed\n");
    }
    return check_set(h, &so, res);
}

const struct workload workload_set = {
    .name = "set",
    .setup = set_setup,
    .open = set_open,
    .close = set_close,
    .step = set_step,
    .final = set_final,
    .check = set_check,
    .destroy = set_destroy,
};
