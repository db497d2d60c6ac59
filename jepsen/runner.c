/*
 * What the parts of walraft-jepsen share: time, randomness, the history
 * and the recording of operations (runner.h).
 */
#include "runner.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

atomic_bool interrupted;

int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

int64_t run_now(const struct run *r)
{
    return mono_ns() - r->start_ns;
}

void sleep_ns(int64_t ns)
{
    if (ns <= 0) {
        return;
    }
    struct timespec ts = {.tv_sec = ns / NS_PER_S, .tv_nsec = ns % NS_PER_S};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

bool run_going(const struct run *r)
{
    return !atomic_load(&r->stop) && !atomic_load(&interrupted);
}

uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

uint64_t rnd_seed(uint64_t seed, uint64_t stream)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + stream * 0xBF58476D1CE4E5B9ULL;
    return s != 0 ? s : 1;
}

void hist_emit(struct run *r, int64_t process, const char *type,
               const char *f, int64_t key, json_t *value, const char *error)
{
    json_t *o = json_object();
    if (o == NULL) {
        json_decref(value);
        atomic_store(&r->stop, true);
        return;
    }
    pthread_mutex_lock(&r->hist_lock);
    json_object_set_new(o, "index", json_integer(r->hist_index++));
    json_object_set_new(o, "time", json_integer(run_now(r)));
    json_object_set_new(o, "process", process < 0
                                          ? json_string("nemesis")
                                          : json_integer(process));
    json_object_set_new(o, "type", json_string(type));
    json_object_set_new(o, "f", json_string(f));
    if (key >= 0) {
        json_object_set_new(o, "key", json_integer(key));
    }
    json_object_set_new(o, "value", value != NULL ? value : json_null());
    if (error != NULL) {
        json_object_set_new(o, "error", json_string(error));
    }
    if (json_dumpf(o, r->hist, JSON_COMPACT) != 0 ||
        fputc('\n', r->hist) == EOF || fflush(r->hist) != 0) {
        atomic_store(&r->stop, true);
    }
    pthread_mutex_unlock(&r->hist_lock);
    json_decref(o);
}

int64_t new_process(struct run *r)
{
    pthread_mutex_lock(&r->lock);
    int64_t p = r->next_process++;
    pthread_mutex_unlock(&r->lock);
    return p;
}

bool rate_wait(struct run *r)
{
    int64_t interval = (int64_t)((double)NS_PER_S / r->cfg->rate);
    pthread_mutex_lock(&r->lock);
    int64_t now = run_now(r);
    int64_t slot = r->next_slot_ns > now ? r->next_slot_ns : now;
    r->next_slot_ns = slot + interval;
    pthread_mutex_unlock(&r->lock);
    if (slot >= r->end_ns) {
        return false;
    }
    sleep_ns(slot - run_now(r));
    return run_going(r);
}

void op_invoke(struct worker *w, const char *f, int64_t key, json_t *value)
{
    hist_emit(w->run, w->process, "invoke", f, key, value, NULL);
}

void op_failed(struct worker *w, const char *f, int64_t key, json_t *value,
               int rc)
{
    struct run *r = w->run;
    char error[256];
    /* An I/O error or a lost leadership leaves a write's fate open even
     * when the library calls the error definite for a read. */
    bool definite = wr_error_definite(w->db) && rc != WR_IOERR &&
                    rc != WR_LEADERSHIP_LOST;
    snprintf(error, sizeof error, "%s: %s", wr_errstr(rc),
             wr_errmsg(w->db));
    hist_emit(r, w->process, definite ? "fail" : "info", f, key, value,
              error);
    if (definite) {
        atomic_fetch_add(&r->n_fail, 1);
    } else {
        atomic_fetch_add(&r->n_info, 1);
        w->process = new_process(r);
    }
}

void op_ok(struct worker *w, const char *type, const char *f, int64_t key,
           json_t *value)
{
    struct run *r = w->run;
    hist_emit(r, w->process, type, f, key, value, NULL);
    if (strcmp(type, "ok") == 0) {
        atomic_fetch_add(&r->n_ok, 1);
        if (atomic_load(&r->faulting)) {
            atomic_fetch_add(&r->n_ok_faulting, 1);
        }
    } else {
        atomic_fetch_add(&r->n_fail, 1);
    }
}

void addresses(const struct run *r, int first, char *buf, size_t size)
{
    size_t len = 0;
    int i;
    buf[0] = '\0';
    for (i = 0; i < r->cfg->nodes && len < size; i++) {
        int node = (first + i) % r->cfg->nodes;
        len += (size_t)snprintf(buf + len, size - len, "%s%s",
                                i > 0 ? "," : "", r->addr[node]);
    }
}

int worker_connect(struct worker *w)
{
    char addrs[MAX_NODES * 66];
    struct wr_options opts = {
        .connect_timeout_ms = 1000,
        .request_timeout_ms = 5000,
        .failover_timeout_ms = 5000,
        .consistency = w->run->cfg->read_level,
    };
    addresses(w->run, w->id % w->run->cfg->nodes, addrs, sizeof addrs);
    return wr_open(addrs, &opts, &w->db) == WR_OK ? 0 : -1;
}

/* Replace @w's handle by a fresh one that has seen as much (its bookmark),
 * for a handle left inside a transaction it cannot end. Returns 0, or -1
 * with w->wl NULL: then the worker's later operations are skipped. */
static int worker_reopen(struct worker *w)
{
    const struct workload *wl = w->run->cfg->workload;
    uint64_t bookmark = wr_bookmark(w->db);

    wl->close(w);
    wr_close(w->db);
    w->db = NULL;
    if (worker_connect(w) != 0) {
        return -1;
    }
    wr_set_bookmark(w->db, bookmark);
    if (wl->open(w) != 0) {
        wl->close(w);
        return -1;
    }
    return 0;
}

void worker_rollback(struct worker *w)
{
    if (w->wl == NULL) {
        return; /* worker_reopen() failed: the handle is gone. */
    }
    if (wr_rollback(w->db) == WR_OK || !wr_in_transaction(w->db)) {
        return;
    }
    if (worker_reopen(w) != 0) {
        fprintf(stderr, "walraft-jepsen: worker %d: cannot reopen its "
                "handle\n", w->id);
    }
}

void op_failed_in_tx(struct worker *w, const char *f, json_t *value, int rc)
{
    char error[256];

    if (!wr_error_definite(w->db)) {
        op_failed(w, f, -1, value, rc);
        return;
    }
    snprintf(error, sizeof error, "%s: %s", wr_errstr(rc),
             wr_errmsg(w->db));
    hist_emit(w->run, w->process, "fail", f, -1, value, error);
    atomic_fetch_add(&w->run->n_fail, 1);
}

int setup_exec(wr_db *db, const char *sql)
{
    char *err = NULL;
    int rc = wr_exec(db, sql, NULL, NULL, &err);

    if (rc != WR_OK) {
        fprintf(stderr, "walraft-jepsen: create the schema: %s\n",
                err != NULL ? err : wr_errstr(rc));
    }
    wr_free(err);
    return rc == WR_OK ? 0 : -1;
}
