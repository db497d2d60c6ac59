/*
 * walraft-jepsen: run a workload against a local walraft cluster while a
 * nemesis injects faults, record the history, and judge it.
 *
 *   walraft-jepsen run --nodes 3|5 --workload register --nemesis pause,kill
 *       --time S --rate R --concurrency C [--read-level L] [--seed X]
 *       [--port P] [--walraft PATH] [--unsafe-skip-read-index] --out DIR
 *   walraft-jepsen check DIR --workload W [walraft-jepsen-check options]
 *
 * This is the smallest useful runner of issue 8: the nodes run on loopback
 * (no network namespaces), so the partition, packet-loss, membership,
 * full-disk and leadership-transfer nemeses do not exist yet; only "pause"
 * (SIGSTOP the leader for 2-4 s, then SIGCONT: it comes back believing it
 * leads) and "kill" (SIGKILL a random node, restart it a few seconds
 * later). Only the register workload is implemented.
 *
 * A run: `walraft cluster up` in DIR/cluster; C worker threads, each with
 * its own libwalraft handle whose address list starts at a different node
 * (libwalraft reads from the first reachable address, so reads are spread
 * over every node, the paused-and-resumed old leader included), run read,
 * write and compare-and-set on a few keys at the chosen read level, R
 * operations per second in all. Every operation is recorded in
 * DIR/history.jsonl (format: history.h) as an invocation before the call
 * and a completion after it; a definite error is "fail", anything else
 * "info", and a worker whose operation ended in "info" continues as a new
 * process. The keys rotate every few seconds so that each key's history
 * stays short enough for the linearizability search. Faults stop before
 * the end, the cluster heals, and a final write to a fresh key and a
 * final read of every key must succeed.
 * Then the register checker judges the history: DIR/results.json,
 * DIR/verdict.txt. `walraft cluster down` always runs at the end.
 *
 * Exit 0 valid, 1 invalid, 2 unknown or unusable: the run meant nothing if
 * too few operations succeeded overall or none during faults, if a final
 * read failed, or if a node's log (DIR/cluster/ID.log) holds a sanitizer
 * report or a failed assertion.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../client/walraft.h"
#include "checker.h"
#include "history.h"

extern char **environ;

enum { EXIT_VALID = 0, EXIT_INVALID = 1, EXIT_UNKNOWN = 2 };

#define KEYS_AT_ONCE 3      /* Keys in use at any moment. */
#define KEY_PERIOD_NS (8 * NS_PER_S) /* How long a set of keys lives. */
#define NS_PER_S 1000000000LL
#define MIN_OK_OPS 50
#define MIN_OK_DURING_FAULTS 1
#define MAX_NODES 5

struct config {
    int nodes;
    const char *workload;
    bool pause, kill;
    int time_s;
    double rate;
    int concurrency;
    int read_level;
    const char *read_level_name;
    uint64_t seed;
    unsigned port;
    const char *walraft;
    bool unsafe_skip_read_index;
    const char *out;
};

/* The state of a run, shared by the workers and the nemesis. */
struct run {
    const struct config *cfg;
    char cluster_dir[PATH_MAX];
    char cmd_log[PATH_MAX];
    int64_t start_ns;             /* CLOCK_MONOTONIC at the start. */
    int64_t end_ns;               /* Workers stop here (relative). */
    int64_t faults_end_ns;        /* No fault may start after this. */

    pthread_mutex_t hist_lock;    /* Guards the fields below. */
    FILE *hist;
    int64_t hist_index;

    pthread_mutex_t lock;         /* Guards the fields below. */
    int64_t next_slot_ns;         /* The rate limiter's next start. */
    int64_t next_process;
    int64_t next_value;
    int64_t *last_value;          /* Per key: the last value seen. */
    bool *key_used;
    size_t n_keys;

    atomic_bool faulting;         /* A fault is in force. */
    atomic_bool stop;             /* SIGINT, or a fatal error. */
    atomic_long n_ok, n_fail, n_info, n_ok_faulting;
    atomic_int paused_pid;        /* To SIGCONT on the way out. */
};

static atomic_bool interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    atomic_store(&interrupted, true);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int64_t run_now(const struct run *r)
{
    return mono_ns() - r->start_ns;
}

static void sleep_ns(int64_t ns)
{
    if (ns <= 0) {
        return;
    }
    struct timespec ts = {.tv_sec = ns / NS_PER_S, .tv_nsec = ns % NS_PER_S};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* xorshift64*: each thread has its own state, derived from the seed, so a
 * run's choices are reproducible as far as the timing of the nodes lets
 * them be. */
static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t rnd_seed(uint64_t seed, uint64_t stream)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ULL + stream * 0xBF58476D1CE4E5B9ULL;
    return s != 0 ? s : 1;
}

/*
 * The history.
 */

/* Append one line. @process < 0 is the nemesis; @key < 0 means none.
 * @value (may be NULL) is taken over. Written and flushed under the lock,
 * so the order of lines is the real-time order of events. */
static void hist_emit(struct run *r, int64_t process, const char *type,
                      const char *f, int64_t key, json_t *value,
                      const char *error)
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

/*
 * The walraft command.
 */

/* Run @walraft with @args (NULL-terminated, without argv[0]); its stderr,
 * and its stdout unless @out is given, go to the run's command log. With
 * @out, stdout is collected there (NUL-terminated, cut at @size). Returns
 * the exit status, or -1 if it could not run. */
static int walraft_cmd(struct run *r, const char *const *args, char *out,
                       size_t size)
{
    const char *argv[32];
    int n = 0, pipefd[2] = {-1, -1}, status, rv = -1;
    posix_spawn_file_actions_t fa;
    pid_t pid;

    argv[n++] = r->cfg->walraft;
    for (; *args != NULL && n < 31; args++) {
        argv[n++] = *args;
    }
    argv[n] = NULL;
    if (out != NULL && pipe2(pipefd, O_CLOEXEC) != 0) {
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, r->cmd_log,
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out != NULL) {
        posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    } else {
        posix_spawn_file_actions_adddup2(&fa, 2, 1);
    }
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv,
                     environ) != 0) {
        goto out;
    }
    if (out != NULL) {
        size_t len = 0;
        ssize_t got;
        close(pipefd[1]);
        pipefd[1] = -1;
        while ((got = read(pipefd[0], out + len, size - 1 - len)) > 0 ||
               (got < 0 && errno == EINTR)) {
            if (got > 0) {
                len += (size_t)got;
            }
            if (len == size - 1) {
                break;
            }
        }
        out[len] = '\0';
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    rv = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
out:
    posix_spawn_file_actions_destroy(&fa);
    if (pipefd[0] >= 0) {
        close(pipefd[0]);
    }
    if (pipefd[1] >= 0) {
        close(pipefd[1]);
    }
    return rv;
}

/* The id and pid of a node that says it leads ("state": "leader" in
 * `walraft cluster status --format json`), or 0. */
static uint64_t find_leader(struct run *r, pid_t *pid)
{
    const char *args[] = {"cluster", "status", "--format", "json", "--dir",
                          r->cluster_dir, NULL};
    char out[16384];
    uint64_t id = 0;

    if (walraft_cmd(r, args, out, sizeof out) != 0) {
        return 0;
    }
    json_t *arr = json_loads(out, 0, NULL);
    size_t i;
    json_t *node;
    json_array_foreach(arr, i, node)
    {
        const char *state =
            json_string_value(json_object_get(node, "state"));
        json_int_t p = json_integer_value(json_object_get(node, "pid"));
        if (state != NULL && strcmp(state, "leader") == 0 && p > 0) {
            id = (uint64_t)json_integer_value(json_object_get(node, "id"));
            *pid = (pid_t)p;
            break;
        }
    }
    json_decref(arr);
    return id;
}

/*
 * The nemesis.
 */

static void fault_pause(struct run *r, uint64_t *rs)
{
    pid_t pid = 0;
    uint64_t id = 0;
    int tries;

    for (tries = 0; tries < 10 && id == 0; tries++) {
        if ((id = find_leader(r, &pid)) == 0) {
            sleep_ns(NS_PER_S / 2);
        }
    }
    if (id == 0) {
        hist_emit(r, -1, "info", "pause", -1, NULL, "no leader found");
        return;
    }
    atomic_store(&r->paused_pid, pid);
    atomic_store(&r->faulting, true);
    if (kill(pid, SIGSTOP) != 0) {
        atomic_store(&r->paused_pid, 0);
        atomic_store(&r->faulting, false);
        hist_emit(r, -1, "info", "pause", -1, json_integer((json_int_t)id),
                  strerror(errno));
        return;
    }
    hist_emit(r, -1, "info", "pause", -1, json_integer((json_int_t)id), NULL);
    sleep_ns(2 * NS_PER_S + (int64_t)(rnd(rs) % (2 * NS_PER_S)));
    kill(pid, SIGCONT);
    atomic_store(&r->paused_pid, 0);
    hist_emit(r, -1, "info", "resume", -1, json_integer((json_int_t)id),
              NULL);
    /* Reads against the resumed node, which may still believe it leads,
     * are the point: count them as during the fault for a moment. */
    sleep_ns(NS_PER_S);
    atomic_store(&r->faulting, false);
}

static void fault_kill(struct run *r, uint64_t *rs)
{
    uint64_t id = 1 + rnd(rs) % (uint64_t)r->cfg->nodes;
    char ids[24];
    snprintf(ids, sizeof ids, "%llu", (unsigned long long)id);
    const char *kill_args[] = {"cluster", "kill", ids, "--dir",
                               r->cluster_dir, NULL};
    const char *restart_args[] = {"cluster", "restart", ids, "--dir",
                                  r->cluster_dir, NULL};
    int rv;

    atomic_store(&r->faulting, true);
    rv = walraft_cmd(r, kill_args, NULL, 0);
    hist_emit(r, -1, "info", "kill", -1, json_integer((json_int_t)id),
              rv == 0 ? NULL : "walraft cluster kill failed");
    sleep_ns(2 * NS_PER_S + (int64_t)(rnd(rs) % (2 * NS_PER_S)));
    rv = walraft_cmd(r, restart_args, NULL, 0);
    hist_emit(r, -1, "info", "restart", -1, json_integer((json_int_t)id),
              rv == 0 ? NULL : "walraft cluster restart failed");
    sleep_ns(NS_PER_S);
    atomic_store(&r->faulting, false);
}

/* Every 2-4 s a fault among those enabled, until faults_end_ns; each fault
 * is healed before the next starts. A fault lasts at most about 10 s (a
 * restart waits for the node), so none starts later than that before the
 * end of the fault period. */
static void *nemesis_main(void *arg)
{
    struct run *r = arg;
    uint64_t rs = rnd_seed(r->cfg->seed, 0xfa417);

    /* With both, they alternate from a random first one, so that even a
     * short run has each. */
    bool pause = r->cfg->pause && (!r->cfg->kill || rnd(&rs) % 2 == 0);

    sleep_ns(3 * NS_PER_S);
    while (!atomic_load(&r->stop) && !atomic_load(&interrupted) &&
           run_now(r) + 10 * NS_PER_S < r->faults_end_ns) {
        if (pause) {
            fault_pause(r, &rs);
        } else if (r->cfg->kill) {
            fault_kill(r, &rs);
        } else {
            break;
        }
        if (r->cfg->pause && r->cfg->kill) {
            pause = !pause;
        }
        sleep_ns(2 * NS_PER_S + (int64_t)(rnd(&rs) % (2 * NS_PER_S)));
    }
    return NULL;
}

/*
 * The register workload.
 */

struct worker {
    struct run *run;
    int id;
    pthread_t thread;
    wr_db *db;
    wr_stmt *read, *write, *cas;
    int64_t process;
    uint64_t rs;
};

/* The address list of every node, starting at node @first (0-based). */
static void addresses(const struct run *r, int first, char *buf, size_t size)
{
    size_t len = 0;
    int i;
    buf[0] = '\0';
    for (i = 0; i < r->cfg->nodes; i++) {
        int node = (first + i) % r->cfg->nodes;
        len += (size_t)snprintf(buf + len, size - len, "%s127.0.0.1:%u",
                                i > 0 ? "," : "",
                                r->cfg->port + (unsigned)node);
    }
}

static int worker_open(struct worker *w)
{
    char addrs[512];
    struct wr_options opts = {
        .connect_timeout_ms = 1000,
        .request_timeout_ms = 5000,
        .failover_timeout_ms = 5000,
        .consistency = w->run->cfg->read_level,
    };
    addresses(w->run, w->id % w->run->cfg->nodes, addrs, sizeof addrs);
    if (wr_open(addrs, &opts, &w->db) != WR_OK ||
        wr_prepare(w->db, "SELECT v FROM r WHERE k = ?", -1, &w->read,
                   NULL) != WR_OK ||
        wr_prepare(w->db,
                   "INSERT INTO r (k, v) VALUES (?, ?) "
                   "ON CONFLICT (k) DO UPDATE SET v = excluded.v",
                   -1, &w->write, NULL) != WR_OK ||
        wr_prepare(w->db, "UPDATE r SET v = ? WHERE k = ? AND v = ?", -1,
                   &w->cas, NULL) != WR_OK) {
        return -1;
    }
    return 0;
}

static void worker_close(struct worker *w)
{
    wr_finalize(w->read);
    wr_finalize(w->write);
    wr_finalize(w->cas);
    wr_close(w->db);
}

static int64_t new_process(struct run *r)
{
    pthread_mutex_lock(&r->lock);
    int64_t p = r->next_process++;
    pthread_mutex_unlock(&r->lock);
    return p;
}

/* Wait for the next of the R slots per second; false when the run ends. */
static bool rate_wait(struct run *r)
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
    return !atomic_load(&r->stop) && !atomic_load(&interrupted);
}

/* Complete the worker's open operation after an error: "fail" if it
 * certainly had no effect, else "info" and a new process. */
static void op_failed(struct worker *w, const char *f, int64_t key,
                      json_t *value, int rc)
{
    struct run *r = w->run;
    char error[256];
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

static void op_ok(struct worker *w, const char *type, const char *f,
                  int64_t key, json_t *value)
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

static void note_value(struct run *r, int64_t key, int64_t v)
{
    pthread_mutex_lock(&r->lock);
    if ((size_t)key < r->n_keys) {
        r->last_value[key] = v;
    }
    pthread_mutex_unlock(&r->lock);
}

/* One read of @key: the value, -1 for null; records the operation. */
static int do_read(struct worker *w, int64_t key, int64_t *out)
{
    wr_stmt *s = w->read;
    int rc;
    int64_t v = -1;

    hist_emit(w->run, w->process, "invoke", "read", key, NULL, NULL);
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

static void do_write(struct worker *w, int64_t key, int64_t v)
{
    wr_stmt *s = w->write;
    int rc;

    hist_emit(w->run, w->process, "invoke", "write", key, json_integer(v),
              NULL);
    wr_bind_int64(s, 1, key);
    wr_bind_int64(s, 2, v);
    rc = wr_step(s);
    wr_reset(s);
    if (rc != WR_DONE) {
        op_failed(w, "write", key, json_integer(v), rc);
        return;
    }
    op_ok(w, "ok", "write", key, json_integer(v));
    note_value(w->run, key, v);
}

static void do_cas(struct worker *w, int64_t key, int64_t old, int64_t v)
{
    wr_stmt *s = w->cas;
    int rc;

    hist_emit(w->run, w->process, "invoke", "cas", key,
              json_pack("[I,I]", (json_int_t)old, (json_int_t)v), NULL);
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

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;

    while (rate_wait(r)) {
        int64_t epoch = run_now(r) / KEY_PERIOD_NS;
        int64_t key = epoch * KEYS_AT_ONCE +
                      (int64_t)(rnd(&w->rs) % KEYS_AT_ONCE);
        uint64_t dice = rnd(&w->rs) % 4;
        int64_t v, old = -1;

        pthread_mutex_lock(&r->lock);
        if ((size_t)key >= r->n_keys) {
            pthread_mutex_unlock(&r->lock);
            break;
        }
        r->key_used[key] = true;
        v = r->next_value++;
        old = r->last_value[key];
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
    return NULL;
}

/* After the heal: a write to a fresh key, then one read of every key
 * used; each must succeed (retried, as a new process after an info, while
 * the cluster recovers). Returns 0 or -1. */
static int final_ops(struct run *r)
{
    struct worker w = {.run = r, .id = 0};
    int64_t fresh = (int64_t)r->n_keys - 1;
    long ok_before;
    size_t k;
    int rv = 0, tries;

    w.process = new_process(r);
    if (worker_open(&w) != 0) {
        worker_close(&w);
        return -1;
    }
    /* No worker reaches the last key: they stop in the epoch before. */
    r->key_used[fresh] = true;
    for (tries = 0; tries < 5; tries++) {
        ok_before = atomic_load(&r->n_ok);
        pthread_mutex_lock(&r->lock);
        int64_t v = r->next_value++;
        pthread_mutex_unlock(&r->lock);
        do_write(&w, fresh, v);
        if (atomic_load(&r->n_ok) > ok_before) {
            break;
        }
        sleep_ns(NS_PER_S);
    }
    if (tries == 5) {
        fprintf(stderr, "walraft-jepsen: the final write failed: %s\n",
                wr_errmsg(w.db));
        rv = -1;
    }
    for (k = 0; k < r->n_keys; k++) {
        int64_t got;
        if (!r->key_used[k]) {
            continue;
        }
        for (tries = 0; tries < 5; tries++) {
            if (do_read(&w, (int64_t)k, &got) == 0) {
                break;
            }
            sleep_ns(NS_PER_S);
        }
        if (tries == 5) {
            fprintf(stderr, "walraft-jepsen: final read of key %zu failed: "
                    "%s\n", k, wr_errmsg(w.db));
            rv = -1;
        }
    }
    worker_close(&w);
    return rv;
}

/*
 * The run.
 */

/* Whether any node log holds a sanitizer report or a failed assertion;
 * names the first in @why. */
static bool logs_dirty(const struct run *r, char *why, size_t size)
{
    static const char *const marks[] = {"AddressSanitizer", "LeakSanitizer",
                                        "runtime error:", "Assertion `"};
    char pattern[PATH_MAX + 8];
    glob_t g;
    size_t i, m;
    bool dirty = false;

    snprintf(pattern, sizeof pattern, "%s/*.log", r->cluster_dir);
    if (glob(pattern, 0, NULL, &g) != 0) {
        return false;
    }
    for (i = 0; i < g.gl_pathc && !dirty; i++) {
        FILE *f = fopen(g.gl_pathv[i], "r");
        char line[4096];
        if (f == NULL) {
            continue;
        }
        while (!dirty && fgets(line, sizeof line, f) != NULL) {
            for (m = 0; m < sizeof marks / sizeof *marks; m++) {
                if (strstr(line, marks[m]) != NULL) {
                    snprintf(why, size, "%s: \"%s\"", g.gl_pathv[i],
                             marks[m]);
                    dirty = true;
                    break;
                }
            }
        }
        fclose(f);
    }
    globfree(&g);
    return dirty;
}

static int setup_schema(struct run *r)
{
    char addrs[512];
    struct wr_options opts = {.failover_timeout_ms = 30000};
    wr_db *db = NULL;
    char *err = NULL;
    int rc;

    addresses(r, 0, addrs, sizeof addrs);
    if (wr_open(addrs, &opts, &db) != WR_OK) {
        return -1;
    }
    rc = wr_exec(db,
                 "CREATE TABLE IF NOT EXISTS r "
                 "(k INTEGER PRIMARY KEY, v INTEGER)",
                 NULL, NULL, &err);
    if (rc != WR_OK) {
        fprintf(stderr, "walraft-jepsen: create the table: %s\n",
                err != NULL ? err : wr_errstr(rc));
    }
    wr_free(err);
    wr_close(db);
    return rc == WR_OK ? 0 : -1;
}

/* Judge the history and write results.json and verdict.txt. @unusable is
 * NULL or why the run meant nothing. Returns the exit code. */
static int judge(struct run *r, const char *unusable)
{
    char path[PATH_MAX + 32];
    char errmsg[512];
    struct history h;
    struct check_result res = {0};
    struct register_opts ro = {.max_seconds = 60};
    const char *verdict;
    int code, rv;
    json_t *results;
    FILE *f;

    snprintf(path, sizeof path, "%s/history.jsonl", r->cfg->out);
    rv = history_load(&h, path, errmsg);
    if (rv != 0) {
        results = json_pack("{s:s, s:s, s:s}", "checker", "register",
                            "valid", "unknown", "error", errmsg);
        verdict = "unknown";
        code = EXIT_UNKNOWN;
    } else {
        rv = check_register(&h, &ro, &res);
        history_close(&h);
        if (rv != 0 || res.json == NULL) {
            snprintf(errmsg, sizeof errmsg, "the checker ran out of memory");
            results = json_pack("{s:s, s:s, s:s}", "checker", "register",
                                "valid", "unknown", "error", errmsg);
            verdict = "unknown";
            code = EXIT_UNKNOWN;
        } else {
            results = json_incref(res.json);
            verdict = check_verdict_str(res.verdict);
            code = res.verdict == CHECK_VALID     ? EXIT_VALID
                   : res.verdict == CHECK_INVALID ? EXIT_INVALID
                                                  : EXIT_UNKNOWN;
        }
    }
    if (unusable != NULL) {
        code = EXIT_UNKNOWN;
    }
    json_t *run = json_pack(
        "{s:i, s:s, s:i, s:f, s:i, s:s, s:I, s:b, s:I, s:I, s:I, s:I, "
        "s:b, s:s?}",
        "nodes", r->cfg->nodes, "workload", r->cfg->workload, "time",
        r->cfg->time_s, "rate", r->cfg->rate, "concurrency",
        r->cfg->concurrency, "read_level", r->cfg->read_level_name, "seed",
        (json_int_t)r->cfg->seed, "unsafe_skip_read_index",
        r->cfg->unsafe_skip_read_index, "ok", (json_int_t)r->n_ok, "fail",
        (json_int_t)r->n_fail, "info", (json_int_t)r->n_info,
        "ok_during_faults", (json_int_t)r->n_ok_faulting, "usable",
        unusable == NULL, "unusable_because", unusable);
    json_t *nem = json_array();
    if (r->cfg->pause) {
        json_array_append_new(nem, json_string("pause"));
    }
    if (r->cfg->kill) {
        json_array_append_new(nem, json_string("kill"));
    }
    json_object_set_new(run, "nemesis", nem);
    json_object_set_new(run, "nemeses_missing_on_loopback",
                        json_pack("[s,s,s,s,s]", "partition", "packet-loss",
                                  "membership", "full-disk",
                                  "leadership-transfer"));
    json_object_set_new(results, "run", run);
    json_object_set_new(results, "exit", json_integer(code));
    snprintf(path, sizeof path, "%s/results.json", r->cfg->out);
    if (json_dump_file(results, path, JSON_INDENT(2) | JSON_SORT_KEYS) !=
        0) {
        fprintf(stderr, "walraft-jepsen: cannot write %s\n", path);
        code = EXIT_UNKNOWN;
    }
    json_decref(results);

    snprintf(path, sizeof path, "%s/verdict.txt", r->cfg->out);
    f = fopen(path, "w");
    for (int pass = 0; pass < 2; pass++) {
        FILE *o = pass == 0 ? stdout : f;
        if (o == NULL) {
            continue;
        }
        fprintf(o, "%s\n", code == EXIT_VALID     ? "VALID"
                           : code == EXIT_INVALID ? "INVALID"
                           : unusable != NULL     ? "UNUSABLE RUN"
                                                  : "UNKNOWN");
        if (unusable != NULL) {
            fprintf(o, "The run is unusable: %s.\n", unusable);
        }
        fprintf(o,
                "register checker: %s\n"
                "%d nodes, nemesis %s%s%s%s, %d s, %g ops/s, %d workers, "
                "reads %s, seed %llu%s\n"
                "%ld ok, %ld fail, %ld info; %ld ok during faults\n",
                verdict, r->cfg->nodes,
                !r->cfg->pause && !r->cfg->kill ? "none" : "",
                r->cfg->pause ? "pause" : "",
                r->cfg->pause && r->cfg->kill ? "," : "",
                r->cfg->kill ? "kill" : "", r->cfg->time_s, r->cfg->rate,
                r->cfg->concurrency, r->cfg->read_level_name,
                (unsigned long long)r->cfg->seed,
                r->cfg->unsafe_skip_read_index
                    ? ", nodes with --unsafe-skip-read-index"
                    : "",
                (long)r->n_ok, (long)r->n_fail, (long)r->n_info,
                (long)r->n_ok_faulting);
        if (res.explanation != NULL) {
            fprintf(o, "%s", res.explanation);
        } else if (rv != 0) {
            fprintf(o, "%s\n", errmsg);
        }
        fflush(o);
    }
    if (f != NULL && fclose(f) != 0) {
        code = EXIT_UNKNOWN;
    }
    check_result_close(&res);
    return code;
}

static int run_main(const struct config *cfg)
{
    struct run r = {.cfg = cfg};
    struct worker *workers = NULL;
    pthread_t nemesis;
    bool nemesis_started = false;
    int i, n_started = 0, code = EXIT_UNKNOWN;
    char path[PATH_MAX + 32];
    char why[PATH_MAX + 128];
    const char *unusable = NULL;
    struct stat st;

    pthread_mutex_init(&r.hist_lock, NULL);
    pthread_mutex_init(&r.lock, NULL);
    if (mkdir(cfg->out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "walraft-jepsen: mkdir %s: %s\n", cfg->out,
                strerror(errno));
        return EXIT_UNKNOWN;
    }
    snprintf(r.cluster_dir, sizeof r.cluster_dir, "%s/cluster", cfg->out);
    snprintf(r.cmd_log, sizeof r.cmd_log, "%s/walraft.log", cfg->out);
    if (stat(r.cluster_dir, &st) == 0) {
        fprintf(stderr, "walraft-jepsen: %s exists: choose a fresh --out\n",
                r.cluster_dir);
        return EXIT_UNKNOWN;
    }
    snprintf(path, sizeof path, "%s/history.jsonl", cfg->out);
    r.hist = fopen(path, "w");
    if (r.hist == NULL) {
        fprintf(stderr, "walraft-jepsen: %s: %s\n", path, strerror(errno));
        return EXIT_UNKNOWN;
    }
    r.n_keys = (size_t)((int64_t)cfg->time_s * NS_PER_S / KEY_PERIOD_NS +
                        2) * KEYS_AT_ONCE;
    r.last_value = malloc(r.n_keys * sizeof *r.last_value);
    r.key_used = calloc(r.n_keys, sizeof *r.key_used);
    workers = calloc((size_t)cfg->concurrency, sizeof *workers);
    if (r.last_value == NULL || r.key_used == NULL || workers == NULL) {
        fprintf(stderr, "walraft-jepsen: out of memory\n");
        goto err_after_open;
    }
    for (size_t k = 0; k < r.n_keys; k++) {
        r.last_value[k] = -1;
    }
    printf("walraft-jepsen: seed %llu, out %s\n",
           (unsigned long long)cfg->seed, cfg->out);
    fflush(stdout);

    {
        char nodes[8], port[8];
        snprintf(nodes, sizeof nodes, "%d", cfg->nodes);
        snprintf(port, sizeof port, "%u", cfg->port);
        const char *up[] = {"cluster", "up", "--nodes", nodes, "--dir",
                            r.cluster_dir, "--port", port,
                            cfg->unsafe_skip_read_index ? "--" : NULL,
                            "--unsafe-skip-read-index", NULL};
        if (walraft_cmd(&r, up, NULL, 0) != 0) {
            fprintf(stderr, "walraft-jepsen: walraft cluster up failed "
                    "(see %s)\n", r.cmd_log);
            goto err_after_up;
        }
    }
    if (setup_schema(&r) != 0) {
        goto err_after_up;
    }

    r.next_process = 0;
    r.start_ns = mono_ns();
    r.end_ns = (int64_t)cfg->time_s * NS_PER_S;
    /* The last quarter (at least 5 s) is free of faults. */
    r.faults_end_ns = r.end_ns - (cfg->time_s / 4 > 5 ? cfg->time_s / 4 : 5) *
                                     NS_PER_S;
    for (i = 0; i < cfg->concurrency; i++) {
        struct worker *w = &workers[i];
        w->run = &r;
        w->id = i;
        w->rs = rnd_seed(cfg->seed, (uint64_t)i + 1);
        w->process = new_process(&r);
        if (worker_open(w) != 0) {
            fprintf(stderr, "walraft-jepsen: open a handle: out of memory\n");
            atomic_store(&r.stop, true);
            break;
        }
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            atomic_store(&r.stop, true);
            break;
        }
        n_started++;
    }
    if (!atomic_load(&r.stop) && (cfg->pause || cfg->kill)) {
        nemesis_started =
            pthread_create(&nemesis, NULL, nemesis_main, &r) == 0;
    }
    if (nemesis_started) {
        pthread_join(nemesis, NULL);
    }
    for (i = 0; i < n_started; i++) {
        pthread_join(workers[i].thread, NULL);
    }
    for (i = 0; i < cfg->concurrency; i++) {
        worker_close(&workers[i]);
    }
    if (atomic_load(&interrupted) || atomic_load(&r.stop)) {
        unusable = "the run was interrupted";
    } else if (final_ops(&r) != 0) {
        unusable = "the final write or a final read failed after the heal";
    } else if (r.n_ok < MIN_OK_OPS) {
        snprintf(why, sizeof why, "only %ld operations succeeded (%d needed)",
                 (long)r.n_ok, MIN_OK_OPS);
        unusable = why;
    } else if ((cfg->pause || cfg->kill) &&
               r.n_ok_faulting < MIN_OK_DURING_FAULTS) {
        unusable = "no operation succeeded during a fault";
    }
    fclose(r.hist);
    r.hist = NULL;

    const char *stop[] = {"cluster", "down", "--dir", r.cluster_dir, NULL};
    walraft_cmd(&r, stop, NULL, 0);
    if (unusable == NULL && logs_dirty(&r, why, sizeof why)) {
        unusable = why;
    }
    code = judge(&r, unusable);
    goto out;

err_after_up:
    {
        const char *down[] = {"cluster", "down", "--dir", r.cluster_dir,
                              NULL};
        walraft_cmd(&r, down, NULL, 0);
    }
err_after_open:
    code = EXIT_UNKNOWN;
out:
    if (atomic_load(&r.paused_pid) > 0) {
        kill(atomic_load(&r.paused_pid), SIGCONT);
    }
    if (r.hist != NULL) {
        fclose(r.hist);
    }
    free(workers);
    free(r.last_value);
    free(r.key_used);
    pthread_mutex_destroy(&r.lock);
    pthread_mutex_destroy(&r.hist_lock);
    return code;
}

/*
 * Command line.
 */

static void usage(FILE *out)
{
    fprintf(out,
        "usage: walraft-jepsen run --nodes 3|5 --workload register "
        "--nemesis pause,kill\n"
        "           --time S --rate R --concurrency C [--read-level L] "
        "[--seed X]\n"
        "           [--port P] [--walraft PATH] [--unsafe-skip-read-index] "
        "--out DIR\n"
        "       walraft-jepsen check DIR --workload W [options of "
        "walraft-jepsen-check]\n"
        "Read levels: linearizable (default), none, weak, strong.\n"
        "Loopback only: the nemeses are pause (SIGSTOP the leader) and kill "
        "(kill -9, restart).\n"
        "Exit 0 valid, 1 invalid, 2 unknown or unusable.\n");
}

/* The directory this program lives in, with @name appended, if such a
 * file exists there; else NULL. */
static char *sibling(const char *name)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        return NULL;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL) {
        return NULL;
    }
    *slash = '\0';
    char *path = NULL;
    if (asprintf(&path, "%s/%s", self, name) < 0) {
        return NULL;
    }
    if (access(path, X_OK) != 0) {
        free(path);
        return NULL;
    }
    return path;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    *out = strtol(s, &end, 10);
    return errno != 0 || end == s || *end != '\0' || *out < lo || *out > hi
               ? -1
               : 0;
}

static int cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"nodes", required_argument, NULL, 'n'},
        {"workload", required_argument, NULL, 'w'},
        {"nemesis", required_argument, NULL, 'N'},
        {"time", required_argument, NULL, 't'},
        {"rate", required_argument, NULL, 'r'},
        {"concurrency", required_argument, NULL, 'c'},
        {"read-level", required_argument, NULL, 'l'},
        {"seed", required_argument, NULL, 's'},
        {"port", required_argument, NULL, 'p'},
        {"walraft", required_argument, NULL, 'W'},
        {"unsafe-skip-read-index", no_argument, NULL, 'U'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct config cfg = {
        .nodes = 3,
        .workload = "register",
        .time_s = 60,
        .rate = 100,
        .concurrency = 5,
        .read_level = WR_LEVEL_LINEARIZABLE,
        .read_level_name = "linearizable",
        .seed = (uint64_t)time(NULL),
        .port = 26000,
    };
    char *walraft = NULL;
    long n;
    int c;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
            case 'n':
                if (parse_long(optarg, 3, 5, &n) || (n != 3 && n != 5)) {
                    fprintf(stderr, "--nodes: 3 or 5\n");
                    return EXIT_UNKNOWN;
                }
                cfg.nodes = (int)n;
                break;
            case 'w':
                cfg.workload = optarg;
                break;
            case 'N': {
                char *list = strdup(optarg), *save = NULL, *tok;
                if (list == NULL) {
                    return EXIT_UNKNOWN;
                }
                for (tok = strtok_r(list, ",", &save); tok != NULL;
                     tok = strtok_r(NULL, ",", &save)) {
                    if (strcmp(tok, "pause") == 0) {
                        cfg.pause = true;
                    } else if (strcmp(tok, "kill") == 0) {
                        cfg.kill = true;
                    } else if (strcmp(tok, "none") != 0) {
                        fprintf(stderr,
                                "--nemesis: \"%s\" is not available on "
                                "loopback (pause, kill, none)\n",
                                tok);
                        free(list);
                        return EXIT_UNKNOWN;
                    }
                }
                free(list);
                break;
            }
            case 't':
                if (parse_long(optarg, 10, 86400, &n)) {
                    fprintf(stderr, "--time: seconds, 10 or more\n");
                    return EXIT_UNKNOWN;
                }
                cfg.time_s = (int)n;
                break;
            case 'r': {
                char *end;
                cfg.rate = strtod(optarg, &end);
                if (end == optarg || *end != '\0' || !(cfg.rate > 0)) {
                    fprintf(stderr, "--rate: operations per second > 0\n");
                    return EXIT_UNKNOWN;
                }
                break;
            }
            case 'c':
                if (parse_long(optarg, 1, 256, &n)) {
                    fprintf(stderr, "--concurrency: 1..256\n");
                    return EXIT_UNKNOWN;
                }
                cfg.concurrency = (int)n;
                break;
            case 'l':
                cfg.read_level_name = optarg;
                if (strcmp(optarg, "linearizable") == 0) {
                    cfg.read_level = WR_LEVEL_LINEARIZABLE;
                } else if (strcmp(optarg, "none") == 0) {
                    cfg.read_level = WR_LEVEL_NONE;
                } else if (strcmp(optarg, "weak") == 0) {
                    cfg.read_level = WR_LEVEL_WEAK;
                } else if (strcmp(optarg, "strong") == 0) {
                    cfg.read_level = WR_LEVEL_STRONG;
                } else {
                    fprintf(stderr, "--read-level: linearizable, none, weak "
                            "or strong\n");
                    return EXIT_UNKNOWN;
                }
                break;
            case 's': {
                char *end;
                errno = 0;
                cfg.seed = strtoull(optarg, &end, 10);
                if (errno != 0 || end == optarg || *end != '\0') {
                    fprintf(stderr, "--seed: an integer\n");
                    return EXIT_UNKNOWN;
                }
                break;
            }
            case 'p':
                if (parse_long(optarg, 1, 65535 - MAX_NODES, &n)) {
                    fprintf(stderr, "--port: 1..%d\n", 65535 - MAX_NODES);
                    return EXIT_UNKNOWN;
                }
                cfg.port = (unsigned)n;
                break;
            case 'W':
                cfg.walraft = optarg;
                break;
            case 'U':
                cfg.unsafe_skip_read_index = true;
                break;
            case 'o':
                cfg.out = optarg;
                break;
            case 'h':
                usage(stdout);
                return EXIT_VALID;
            default:
                usage(stderr);
                return EXIT_UNKNOWN;
        }
    }
    if (cfg.out == NULL || optind != argc) {
        usage(stderr);
        return EXIT_UNKNOWN;
    }
    if (strcmp(cfg.workload, "register") != 0) {
        fprintf(stderr, "walraft-jepsen: workload \"%s\" is not implemented "
                "yet (register only)\n", cfg.workload);
        return EXIT_UNKNOWN;
    }
    if (cfg.walraft == NULL) {
        walraft = sibling("walraft");
        cfg.walraft = walraft != NULL             ? walraft
                      : getenv("WALRAFT") != NULL ? getenv("WALRAFT")
                                                  : "walraft";
    }
    int code = run_main(&cfg);
    free(walraft);
    return code;
}

/* `check DIR --workload W ...`: walraft-jepsen-check does the work. */
static int cmd_check(int argc, char **argv)
{
    char *check = sibling("walraft-jepsen-check");
    argv[0] = check != NULL ? check : "walraft-jepsen-check";
    execvp(argv[0], argv);
    fprintf(stderr, "walraft-jepsen: cannot run %s: %s\n", argv[0],
            strerror(errno));
    free(check);
    (void)argc;
    return EXIT_UNKNOWN;
}

int main(int argc, char **argv)
{
    struct sigaction sa = {.sa_handler = on_sigint};

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (argc < 2) {
        usage(stderr);
        return EXIT_UNKNOWN;
    }
    if (strcmp(argv[1], "run") == 0) {
        return cmd_run(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "check") == 0) {
        return cmd_check(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return EXIT_VALID;
    }
    usage(stderr);
    return EXIT_UNKNOWN;
}
