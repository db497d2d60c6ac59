/*
 * walraft-jepsen's runner: what the command line (run.c), the cluster
 * control (cluster.c), the nemeses (nemesis.c) and the workloads
 * (wl_*.c) share.
 *
 * A run: the cluster comes up, the workload creates its schema, C worker
 * threads each take R/C operation slots per second and run one workload
 * operation per slot, recording an invocation before the call and a
 * completion after it (history.h), while the nemesis thread injects
 * faults. Faults stop before the end, everything heals, the workload's
 * final operations must succeed, and its checker judges the history.
 */
#ifndef WR_JEPSEN_RUNNER_H
#define WR_JEPSEN_RUNNER_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "../client/walraft.h"
#include "checker.h"
#include "history.h"

enum { EXIT_VALID = 0, EXIT_INVALID = 1, EXIT_UNKNOWN = 2 };

#define NS_PER_S 1000000000LL
#define MAX_NODES 5
#define MAX_NODE_FLAGS 32         /* walraftd flags after -- on run. */

struct workload;

struct config {
    int nodes;
    const struct workload *workload;
    unsigned nemeses;             /* Bit (1u << i) for nemesis i (nemesis.h). */
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
    bool loopback;                /* --loopback: no network namespaces. */
    char *const *node_flags;      /* After --: given to every walraftd. */
    int n_node_flags;
};

/* The state of a run, shared by the workers and the nemesis. */
struct run {
    const struct config *cfg;
    char cluster_dir[PATH_MAX];
    char cmd_log[PATH_MAX];
    char addr[MAX_NODES][64];     /* Node i + 1's client address. */
    int64_t start_ns;             /* CLOCK_MONOTONIC at the start. */
    int64_t end_ns;               /* Workers stop here (relative). */
    int64_t faults_end_ns;        /* No fault may start after this. */

    pthread_mutex_t hist_lock;    /* Guards the fields below. */
    FILE *hist;
    int64_t hist_index;

    pthread_mutex_t lock;         /* Guards the fields below. */
    int64_t next_slot_ns;         /* The rate limiter's next start. */
    int64_t next_process;
    void *wl;                     /* The workload's own state. */

    atomic_bool faulting;         /* A fault is in force. */
    atomic_bool stop;             /* SIGINT, or a fatal error. */
    atomic_long n_ok, n_fail, n_info, n_ok_faulting;
    atomic_int paused_pid;        /* To SIGCONT on the way out. */

    /* Where the nodes run (cluster.c, netns.c). Set by cluster_start. */
    bool netns;                   /* Each node in its own namespace. */
    bool tmpfs;                   /* Each data directory a small tmpfs. */
    bool net_made;                /* Namespaces or bridge may exist. */
    bool cluster_up;              /* Between cluster_start and _stop. */
    char net_prefix[16];          /* "wj" PORT: every name we make. */
    char net_subnet[16];          /* "10.X.Y": the bridge's /24. */
    uint64_t node_id[MAX_NODES];  /* Node id in slot i: membership
                                   * changes it, r->addr[i] stays. */
    unsigned skipped;             /* Nemeses that cannot run here. */
    char skipped_why[256];

    /* Faults in force, for nemesis_heal() (nemesis.c). */
    atomic_bool net_faulted;      /* nft rules in some namespace. */
    atomic_int balloon_slot;      /* Slot + 1 whose disk is full, or 0. */
    atomic_int removed_slot;      /* Slot + 1 removed, not re-added. */
};

/* One client thread with its own libwalraft handle. */
struct worker {
    struct run *run;
    int id;
    pthread_t thread;
    wr_db *db;
    int64_t process;              /* Jepsen process of its open operation. */
    uint64_t rs;                  /* Its random state. */
    void *wl;                     /* The workload's per-worker state. */
};

/*
 * A workload: its schema, its operations and its checker. Every hook
 * returns 0 on success, -1 (having said why on stderr) on failure.
 */
struct workload {
    const char *name;
    /* Create the schema (through @db, any node) and r->wl. */
    int (*setup)(struct run *r, wr_db *db);
    /* Prepare @w's statements on w->db (already open) and w->wl. */
    int (*open)(struct worker *w);
    /* Free what open made; safe after a failed open. */
    void (*close)(struct worker *w);
    /* One operation, recorded with op_invoke and op_ok/op_failed. */
    void (*step)(struct worker *w);
    /* After the heal, on @w (opened): the final operations, each retried
     * as a new process until it succeeds or its tries run out. */
    int (*final)(struct worker *w);
    /* Judge the history. Returns 0, or WR_NOMEM. */
    int (*check)(const struct run *r, const struct history *h,
                 struct check_result *res);
    /* Free r->wl. */
    void (*destroy)(struct run *r);
};

extern const struct workload workload_register;
extern const struct workload workload_bank;
extern const struct workload workload_set;
extern const struct workload workload_list_append;

/* SIGINT or SIGTERM arrived. */
extern atomic_bool interrupted;

int64_t mono_ns(void);
int64_t run_now(const struct run *r);
void sleep_ns(int64_t ns);
/* Whether the run should go on: not stopped, not interrupted. */
bool run_going(const struct run *r);

/* xorshift64*: each thread has its own state, derived from the seed, so a
 * run's choices are reproducible as far as the timing of the nodes lets
 * them be. */
uint64_t rnd(uint64_t *s);
uint64_t rnd_seed(uint64_t seed, uint64_t stream);

/* Append one history line. @process < 0 is the nemesis; @key < 0 means
 * none. @value (may be NULL) is taken over. Written and flushed under the
 * lock, so the order of lines is the real-time order of events. */
void hist_emit(struct run *r, int64_t process, const char *type,
               const char *f, int64_t key, json_t *value, const char *error);

int64_t new_process(struct run *r);

/* Wait for the next of the R slots per second; false when the run ends. */
bool rate_wait(struct run *r);

/* Record @w's invocation of @f. @value is taken over. */
void op_invoke(struct worker *w, const char *f, int64_t key, json_t *value);
/* Complete @w's open operation after libwalraft error @rc: "fail" if it
 * certainly had no effect, else "info" and a new process. */
void op_failed(struct worker *w, const char *f, int64_t key, json_t *value,
               int rc);
/* Complete it with @type "ok" or "fail" (an operation that ran and
 * refused, such as a compare-and-set that did not match). */
void op_ok(struct worker *w, const char *type, const char *f, int64_t key,
           json_t *value);

/* Run a workload's schema @sql through @db (its setup hook); 0, or -1
 * having said why on stderr. */
int setup_exec(wr_db *db, const char *sql);

/* Complete @w's open operation after a statement of its interactive
 * transaction failed with @rc before COMMIT was sent: nothing of it can
 * commit (no COMMIT will be sent, and the node rolls back a transaction
 * whose connection goes), so whatever libwalraft calls definite is
 * "fail", an I/O error included, where op_failed() says "info" as it must
 * for an autocommit write. */
void op_failed_in_tx(struct worker *w, const char *f, json_t *value, int rc);

/* End the transaction a failure left behind on @w's handle, so that it is
 * usable again: ROLLBACK; failing that, the handle is replaced by a fresh
 * one with the same bookmark. */
void worker_rollback(struct worker *w);

/* The client address list of every node, starting at node @first
 * (0-based), comma-separated. */
void addresses(const struct run *r, int first, char *buf, size_t size);

/* Open w->db with the run's read level and time-outs, its address list
 * starting at node w->id (so reads spread over every node). */
int worker_connect(struct worker *w);

/*
 * The cluster (cluster.c).
 */

/* Run @walraft with @args (NULL-terminated, without argv[0]); its stderr,
 * and its stdout unless @out is given, go to the run's command log. With
 * @out, stdout is collected there (NUL-terminated, cut at @size). Returns
 * the exit status, or -1 if it could not run. */
int walraft_cmd(struct run *r, const char *const *args, char *out,
                size_t size);

/* Bring the cluster up and fill r->addr; stop it again. */
int cluster_start(struct run *r);
void cluster_stop(struct run *r);
/* kill -9 node @id (1-based); start it again with its data. */
int node_kill(struct run *r, uint64_t id);
int node_restart(struct run *r, uint64_t id);
/* The id and pid of a node that says it leads, or 0. */
uint64_t find_leader(struct run *r, pid_t *pid);
/* The slot (0-based) of node @id, or -1. */
int slot_of(const struct run *r, uint64_t id);
/* Whether node @id's process runs (`walraft cluster status`). */
bool node_running(struct run *r, uint64_t id);
/* `walraft cluster transfer|remove ID`. Return 0 or -1. */
int node_transfer(struct run *r, uint64_t id);
int node_remove(struct run *r, uint64_t id);
/* Start a new member (fresh data, a new id: set in r->node_id[@slot] and
 * *@id) at slot @slot's address and namespace, the slot's node having
 * been removed; `walraft cluster add`. Returns 0 or -1. */
int node_add(struct run *r, int slot, uint64_t *id);
/* Start every member that does not run and wait until the cluster
 * settles (`walraft cluster up` on the existing cluster). */
int cluster_revive(struct run *r);

/* 0 once every member's process runs and answers (within 10 s); else -1
 * with the first that does not named in @why. */
int cluster_all_up(struct run *r, char *why, size_t size);

/* Whether any node log holds a sanitizer report or a failed assertion;
 * names the first in @why. */
bool logs_dirty(const struct run *r, char *why, size_t size);

#endif /* WR_JEPSEN_RUNNER_H */
