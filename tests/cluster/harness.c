/*
 * The in-process cluster the replication and workload tests run on (see
 * harness.h). It owns every request it hands to an executor, so a test that
 * fails half-way never leaves libraft or an executor pointing at a dead
 * stack frame, and its teardown can still close everything cleanly.
 */
#include "cluster/harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct cluster *current;

static void names_free(struct cluster *c);

/* ---- Seeds and randomness ------------------------------------------------ */

uint64_t cluster_seed(uint64_t dflt)
{
    const char *env = getenv("WR_SEED");
    uint64_t seed = dflt;

    if (env != NULL && *env != '\0') {
        seed = strtoull(env, NULL, 0);
    }
    fprintf(stderr, "seed=%llu\n", (unsigned long long)seed);
    return seed;
}

uint64_t cluster_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t cluster_rand_below(uint64_t *state, uint64_t n)
{
    return n == 0 ? 0 : cluster_rand(state) % n;
}

/* ---- Files --------------------------------------------------------------- */

void *harness_read_file(const char *path, size_t *len)
{
    struct stat st;
    char *buf;
    size_t got = 0;
    int fd;

    *len = 0;
    fd = open(path, O_RDONLY);
    if (fd < 0) {
        return NULL;
    }
    if (fstat(fd, &st) != 0) {
        close(fd);
        return NULL;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return NULL;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    *len = got;
    return buf;
}

static int mkdir_p(const char *path)
{
    char tmp[512];
    char *p;

    snprintf(tmp, sizeof tmp, "%s", path);
    for (p = tmp + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
        return -1;
    }
    return 0;
}

static int rm_cb(const char *path,
                 const struct stat *st,
                 int flag,
                 struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- Hooks --------------------------------------------------------------- */

static void fatal_cb(void *arg, const char *msg)
{
    struct cluster_node *node = arg;

    node->n_fatal++;
    if (node->n_fatal == 1) {
        snprintf(node->fatal_msg, sizeof node->fatal_msg, "%s", msg);
    }
    fprintf(stderr, "node %u: fatal: %s\n", node->i, msg);
    if (!node->c->opts.keep_alive_on_fatal) {
        cluster_kill(node->c, node->i);
    }
}

static void applied_cb(void *arg,
                       raft_index index,
                       raft_term term,
                       uint64_t hash)
{
    struct cluster_node *node = arg;
    struct cluster_applied *rec;

    if (node->n_applied > 0 &&
        index <= node->applied[node->n_applied - 1].index &&
        node->order_error[0] == '\0') {
        snprintf(node->order_error, sizeof node->order_error,
                 "node %u applied index %llu after index %llu", node->i,
                 (unsigned long long)index,
                 (unsigned long long)node->applied[node->n_applied - 1].index);
    }
    if (node->n_applied == node->cap_applied) {
        size_t cap = node->cap_applied == 0 ? 256 : node->cap_applied * 2;
        rec = realloc(node->applied, cap * sizeof *rec);
        assert_non_null(rec);
        node->applied = rec;
        node->cap_applied = cap;
    }
    rec = &node->applied[node->n_applied++];
    rec->index = index;
    rec->term = term;
    rec->hash = hash;
}

static void command_cb(void *arg, raft_index index, const void *buf, size_t len)
{
    struct cluster_node *node = arg;
    struct cluster *c = node->c;
    struct cluster_command *cmd;

    if (c->n_commands == c->cap_commands) {
        size_t cap = c->cap_commands == 0 ? 64 : c->cap_commands * 2;
        cmd = realloc(c->commands, cap * sizeof *cmd);
        assert_non_null(cmd);
        c->commands = cmd;
        c->cap_commands = cap;
    }
    cmd = &c->commands[c->n_commands++];
    cmd->index = index;
    cmd->len = len;
    cmd->buf = malloc(len > 0 ? len : 1);
    assert_non_null(cmd->buf);
    memcpy(cmd->buf, buf, len);
}

/* ---- A fix for raft_fixture's in-memory log -------------------------------
 *
 * libraft 0.15's raft_fixture keeps each server's persisted entries in an
 * array and its truncate(index) keeps the first index - 1 of them, assuming
 * the array starts at index 1. After an InstallSnapshot it does not: the
 * install empties the array (through truncate(1)) and the next entries land
 * at its start. A follower that later truncates conflicting entries then
 * copies past the end of the array (ASan: heap-buffer-overflow in
 * ioMethodTruncate, found by test_workload seed 301) and frees garbage;
 * truncating entries whose append has not completed yet does the same.
 * Upstream never fixed it (HEAD has the same code). The harness wraps the
 * server's raft_io, as ARCHITECTURE.md section 8 does with raft_uv: it
 * tracks where the array starts and how many entries it holds, and
 * translates (and clamps) each truncate. The fixture's persisted log is only
 * read when a server starts, which these tests never do again, so clamping
 * loses nothing.
 *
 * Second, the fixture stores and hands out snapshots through snapshotCopy(),
 * which in 0.15 does not copy configuration_index (fixed upstream in 0.17.1,
 * commit 0a0ffa4). Every InstallSnapshot the fixture sends therefore carries
 * uninitialized memory as its configuration index (0xbebebebebebebebe under
 * ASan), which the receiver adopts as r->configuration_index; the adapter's
 * configuration-change guard then refuses every later snapshot on that
 * server. The wrapper remembers the index of the snapshot the fixture last
 * stored and writes it into each snapshot it hands out. raft_uv stores the
 * index in its metadata and is not affected.
 *
 * Third, the fixture completes each request at its issue time plus the
 * server's disk latency, so lowering a server's latency
 * (raft_fixture_set_disk_latency()) lets a later append complete before an
 * earlier one; raft_uv, like raft_io's contract, completes them in order.
 * The wrapper hands completions to the layer above in issue order.
 *
 * It also counts the trigger of libraft 0.15's defect P4 (raft/README.md):
 * a follower's append holding a RAFT_CHANGE entry that completes once the
 * server is no longer a follower, so the core never adopts that
 * configuration (appendFollowerCb() returns early). */

struct append_wrap {
    struct raft_io_append req;
    struct raft_io_append *orig;
    raft_io_append_cb cb;
    struct cluster_node *node;
    unsigned n;
    bool done;   /* The fixture completed it... */
    int status;  /* ...with this status. */
    bool follower_change; /* Issued by a follower, holds a RAFT_CHANGE. */
    struct append_wrap *next; /* The next append issued on the node. */
};

static struct cluster_node *node_of_io(struct raft_io *io)
{
    for (unsigned i = 0; current != NULL && i < current->n; i++) {
        if (&current->fixture.servers[i].io == io) {
            return &current->nodes[i];
        }
    }
    fail_msg("raft_io of no node");
    return NULL;
}

static void io_append_cb(struct raft_io_append *req, int status)
{
    struct append_wrap *w = req->data;
    struct cluster_node *node = w->node;

    if (status == 0) {
        node->io_n += w->n;
    }
    w->done = true;
    w->status = status;
    /* Deliver every completed append at the head of the queue, oldest
     * first; a callback may issue new appends, which queue at the tail. */
    while ((w = node->io_appends) != NULL && w->done) {
        struct raft_io_append *orig = w->orig;
        raft_io_append_cb cb = w->cb;
        node->io_appends = w->next;
        if (node->io_appends == NULL) {
            node->io_appends_tail = NULL;
        }
        status = w->status;
        if (w->follower_change &&
            raft_state(cluster_raft(node->c, node->i)) != RAFT_FOLLOWER) {
            node->n_change_skipped++;
        }
        free(w);
        cb(orig, status);
    }
}

static int io_append(struct raft_io *io,
                     struct raft_io_append *req,
                     const struct raft_entry entries[],
                     unsigned n,
                     raft_io_append_cb cb)
{
    struct cluster_node *node = node_of_io(io);
    struct append_wrap *w = malloc(sizeof *w);
    int rv;

    if (w == NULL) {
        return RAFT_NOMEM;
    }
    w->req.data = w;
    w->orig = req;
    w->cb = cb;
    w->node = node;
    w->n = n;
    w->done = false;
    w->status = 0;
    w->next = NULL;
    w->follower_change = false;
    if (raft_state(cluster_raft(node->c, node->i)) == RAFT_FOLLOWER) {
        for (unsigned k = 0; k < n; k++) {
            w->follower_change |= entries[k].type == RAFT_CHANGE;
        }
    }
    req->cb = cb;
    rv = node->io_append(io, &w->req, entries, n, io_append_cb);
    if (rv != 0) {
        free(w);
        return rv;
    }
    if (node->io_appends_tail != NULL) {
        node->io_appends_tail->next = w;
    } else {
        node->io_appends = w;
    }
    node->io_appends_tail = w;
    return 0;
}

static int io_truncate(struct raft_io *io, raft_index index)
{
    struct cluster_node *node = node_of_io(io);
    raft_index keep;

    if (index == 1) {
        /* Everything goes: an InstallSnapshot being stored (the fixture
         * calls this itself) or a follower whose whole log conflicts. */
        node->io_offset = node->io_install;
        node->io_install = 0;
        node->io_n = 0;
        return node->io_truncate(io, 1);
    }
    keep = index > node->io_offset + 1 ? index - 1 - node->io_offset : 0;
    if (keep > node->io_n) {
        keep = node->io_n;
    }
    node->io_n = keep;
    return node->io_truncate(io, keep + 1);
}

struct put_wrap {
    struct raft_io_snapshot_put req;
    struct raft_io_snapshot_put *orig;
    raft_io_snapshot_put_cb cb;
    struct cluster_node *node;
    raft_index conf_index;
};

static void io_snapshot_put_cb(struct raft_io_snapshot_put *req, int status)
{
    struct put_wrap *w = req->data;
    struct raft_io_snapshot_put *orig = w->orig;
    raft_io_snapshot_put_cb cb = w->cb;

    if (status == 0) {
        w->node->io_snap_conf_index = w->conf_index;
    }
    free(w);
    if (cb != NULL) {
        cb(orig, status);
    }
}

static int io_snapshot_put(struct raft_io *io,
                           unsigned trailing,
                           struct raft_io_snapshot_put *req,
                           const struct raft_snapshot *snapshot,
                           raft_io_snapshot_put_cb cb)
{
    struct cluster_node *node = node_of_io(io);
    struct put_wrap *w = malloc(sizeof *w);
    int rv;

    if (w == NULL) {
        return RAFT_NOMEM;
    }
    w->req.data = w;
    w->orig = req;
    w->cb = cb;
    w->node = node;
    w->conf_index = snapshot->configuration_index;
    req->cb = cb;
    if (trailing == 0) {
        node->io_install = snapshot->index;
    }
    rv = node->io_snapshot_put(io, trailing, &w->req, snapshot,
                               io_snapshot_put_cb);
    if (rv != 0) {
        free(w);
    }
    return rv;
}

struct get_wrap {
    struct raft_io_snapshot_get req;
    struct raft_io_snapshot_get *orig;
    raft_io_snapshot_get_cb cb;
    struct cluster_node *node;
};

static void io_snapshot_get_cb(struct raft_io_snapshot_get *req,
                               struct raft_snapshot *snapshot,
                               int status)
{
    struct get_wrap *w = req->data;
    struct raft_io_snapshot_get *orig = w->orig;
    raft_io_snapshot_get_cb cb = w->cb;

    if (status == 0 && snapshot != NULL) {
        snapshot->configuration_index = w->node->io_snap_conf_index;
    }
    free(w);
    cb(orig, snapshot, status);
}

static int io_snapshot_get(struct raft_io *io,
                           struct raft_io_snapshot_get *req,
                           raft_io_snapshot_get_cb cb)
{
    struct cluster_node *node = node_of_io(io);
    struct get_wrap *w = malloc(sizeof *w);
    int rv;

    if (w == NULL) {
        return RAFT_NOMEM;
    }
    w->req.data = w;
    w->orig = req;
    w->cb = cb;
    w->node = node;
    req->cb = cb;
    rv = node->io_snapshot_get(io, &w->req, io_snapshot_get_cb);
    if (rv != 0) {
        free(w);
    }
    return rv;
}

static void fix_fixture_io(struct cluster_node *node, struct raft_io *io)
{
    node->io_append = io->append;
    node->io_truncate = io->truncate;
    node->io_snapshot_put = io->snapshot_put;
    node->io_snapshot_get = io->snapshot_get;
    io->append = io_append;
    io->truncate = io_truncate;
    io->snapshot_put = io_snapshot_put;
    io->snapshot_get = io_snapshot_get;
}

/* ---- Life cycle ---------------------------------------------------------- */

struct raft *cluster_raft(struct cluster *c, unsigned i)
{
    return raft_fixture_get(&c->fixture, i);
}

static unsigned guard_disabled(void)
{
    const char *v = getenv("WR_GUARD_DISABLE");
    return v != NULL ? (unsigned)strtoul(v, NULL, 0) : 0;
}

static void node_init(struct cluster *c, unsigned i)
{
    struct cluster_node *node = &c->nodes[i];
    struct fsm_config config;
    struct fsm_adapter_config ac;
    char errmsg[WR_ERRMSG_SIZE];
    uint64_t seed_state = c->seed ^ (0x1000ULL * (i + 1));
    struct raft *r;
    int rv;

    node->c = c;
    node->i = i;
    snprintf(node->dir, sizeof node->dir, "%s/%u", c->root, i);
    memset(&config, 0, sizeof config);
    config.dir = node->dir;
    config.node_id = i + 1;
    config.seed = cluster_rand(&seed_state);
    config.checkpoint_threshold = c->opts.checkpoint_threshold;
    config.compress = true;
    config.snapshot_min_bytes = c->opts.snapshot_min_bytes;
    config.snapshot_ratio_percent = c->opts.snapshot_ratio_percent;
    errmsg[0] = '\0';
    rv = fsm_create(&config, &node->fsm, errmsg);
    if (rv != 0) {
        fail_msg("node %u: fsm_create(%s): %s: %s", i, node->dir,
                 err_str(rv), errmsg);
    }

    memset(&ac, 0, sizeof ac);
    ac.fatal = fatal_cb;
    ac.fatal_arg = node;
    ac.on_applied = applied_cb;
    ac.on_applied_arg = node;
    if (c->opts.record_commands && c->opts.record_node == i) {
        ac.on_command = command_cb;
        ac.on_command_arg = node;
    }
    fsm_adapter_init(&node->adapter, node->fsm, &ac);

    rv = raft_fixture_grow(&c->fixture, &node->adapter.raft_fsm);
    if (rv != 0) {
        fail_msg("node %u: raft_fixture_grow: %s", i, raft_strerror(rv));
    }
    c->n = i + 1;
    fix_fixture_io(node, &c->fixture.servers[i].io);
    r = raft_fixture_get(&c->fixture, i);
    /* The decorator goes over everything else, as in the node. */
    rv = raft_io_guard_install(&node->guard, r,
                               &(struct raft_io_guard_config){
                                   .on_fatal = fatal_cb,
                                   .on_fatal_arg = node,
                                   /* Replays a run with protections off
                                    * (RAFT_IO_GUARD_* bits) to show what
                                    * each one prevents. */
                                   .disable = guard_disabled(),
                               });
    if (rv != 0) {
        fail_msg("node %u: raft_io_guard_install: %s", i, err_str(rv));
    }
    leader_watch_init(&node->watch, r);
    fsm_adapter_set_raft(&node->adapter, r);
    if (c->opts.snapshot_threshold != 0) {
        raft_set_snapshot_threshold(r, c->opts.snapshot_threshold);
    }
    if (c->opts.snapshot_trailing != 0) {
        raft_set_snapshot_trailing(r, c->opts.snapshot_trailing);
    }
    raft_set_pre_vote(r, !c->opts.no_pre_vote);

    proposer_init(&node->proposer, r, &node->adapter);
    rv = exec_create(node->fsm, &node->proposer.base, &node->exec);
    if (rv != 0) {
        fail_msg("node %u: exec_create: %s", i, err_str(rv));
    }
}

struct cluster *cluster_create(const char *name,
                               const struct cluster_options *opts)
{
    struct cluster *c;
    struct raft_configuration conf;
    const char *tmp = getenv("WR_TEST_TMP");
    unsigned n;
    unsigned i;
    int rv;

    if (current != NULL) {
        fail_msg("cluster_create(%s): cluster %s is still alive", name,
                 current->name);
    }
    c = calloc(1, sizeof *c);
    assert_non_null(c);
    current = c;
    snprintf(c->name, sizeof c->name, "%s", name);
    if (opts != NULL) {
        c->opts = *opts;
    }
    n = c->opts.n == 0 ? 3 : c->opts.n;
    if (n > CLUSTER_MAX_NODES) {
        fail_msg("cluster_create(%s): %u servers, at most %d", name, n,
                 CLUSTER_MAX_NODES);
    }
    c->seed = cluster_seed(c->opts.seed);
    fprintf(stderr, "%s: %u servers\n", name, n);

    if (tmp == NULL || *tmp == '\0') {
        tmp = "/tmp";
    }
    if (mkdir_p(tmp) != 0) {
        fail_msg("mkdir %s: %s", tmp, strerror(errno));
    }
    snprintf(c->root, sizeof c->root, "%s/%s-%llu-XXXXXX", tmp, name,
             (unsigned long long)c->seed);
    if (mkdtemp(c->root) == NULL) {
        fail_msg("mkdtemp %s: %s", c->root, strerror(errno));
    }

    raft_fixture_initialize(&c->fixture);
    for (i = 0; i < n; i++) {
        node_init(c, i);
    }

    raft_configuration_init(&conf);
    rv = raft_fixture_configuration(&c->fixture, n, &conf);
    if (rv == 0) {
        rv = raft_fixture_bootstrap(&c->fixture, &conf);
    }
    raft_configuration_close(&conf);
    if (rv != 0) {
        fail_msg("bootstrap: %s", raft_strerror(rv));
    }
    rv = raft_fixture_start(&c->fixture);
    if (rv != 0) {
        fail_msg("start: %s", raft_strerror(rv));
    }
    raft_fixture_elect(&c->fixture, 0);
    if (cluster_leader(c) != 0) {
        fail_msg("server 0 was not elected");
    }
    cluster_ready_leader(c, 10000);
    return c;
}

struct cluster *cluster_current(void)
{
    return current;
}

static void release(struct cluster *c, bool keep)
{
    struct cluster_batch *b;
    unsigned i;

    for (i = 0; i < c->n; i++) {
        proposer_close(&c->nodes[i].proposer);
        leader_watch_close(&c->nodes[i].watch);
    }
    /* Fires the callbacks of every pending proposal (the executors and the
     * fsms are still alive for them), then frees libraft's memory. */
    raft_fixture_close(&c->fixture);
    for (i = 0; i < c->n; i++) {
        struct cluster_node *node = &c->nodes[i];
        if (node->exec != NULL) {
            exec_destroy(node->exec);
        }
        fsm_adapter_close(&node->adapter);
        if (node->fsm != NULL) {
            fsm_destroy(node->fsm);
        }
        free(node->applied);
    }
    for (i = 0; i < c->n_extra; i++) {
        fsm_destroy(c->extra[i]);
    }
    while ((b = c->batches) != NULL) {
        unsigned j;
        c->batches = b->next;
        for (j = 0; j < b->n; j++) {
            exec_req_close(&b->reqs[j]);
            free(b->sql[j]);
        }
        free(b->db);
        free(b);
    }
    for (size_t k = 0; k < c->n_commands; k++) {
        free(c->commands[k].buf);
    }
    names_free(c);
    free(c->img_a);
    free(c->img_b);
    free(c->commands);
    free(c->leader_of_term);
    if (keep) {
        fprintf(stderr, "%s: test failed, data kept in %s\n", c->name,
                c->root);
    } else {
        rm_rf(c->root);
    }
    if (current == c) {
        current = NULL;
    }
    free(c);
}

void cluster_destroy(struct cluster *c)
{
    release(c, false);
}

int cluster_teardown(void **state)
{
    (void)state;
    if (current != NULL) {
        release(current, true);
    }
    return 0;
}

/* ---- Stepping and leaders ------------------------------------------------ */

/* Record which server leads each term; fail the test at the first step
 * that shows two leaders of one term. */
static void record_leaders(struct cluster *c)
{
    for (unsigned i = 0; i < c->n; i++) {
        struct raft *r = cluster_raft(c, i);
        raft_term term = r->current_term;

        if (raft_state(r) != RAFT_LEADER) {
            continue;
        }
        if (term >= c->cap_terms) {
            size_t cap = c->cap_terms == 0 ? 64 : c->cap_terms;
            raft_id *grown;
            while (cap <= term) {
                cap *= 2;
            }
            grown = realloc(c->leader_of_term, cap * sizeof *grown);
            assert_non_null(grown);
            memset(grown + c->cap_terms, 0,
                   (cap - c->cap_terms) * sizeof *grown);
            c->leader_of_term = grown;
            c->cap_terms = cap;
        }
        if (c->leader_of_term[term] == 0) {
            c->leader_of_term[term] = r->id;
        } else if (c->leader_of_term[term] != r->id) {
            fail_msg("%s: two leaders in term %llu: servers %llu and %llu "
                     "(at %llu ms of fixture time)",
                     c->name, (unsigned long long)term,
                     (unsigned long long)c->leader_of_term[term],
                     (unsigned long long)r->id,
                     (unsigned long long)c->fixture.time);
        }
    }
}

/* One fixture event, then what the node's event loop does after every turn:
 * a leader without a barrier of its term proposes one. */
static void step(struct cluster *c)
{
    raft_fixture_step(&c->fixture);
    record_leaders(c);
    for (unsigned i = 0; i < c->n; i++) {
        if (!c->nodes[i].killed) {
            leader_watch_tick(&c->nodes[i].watch);
        }
    }
}

void cluster_step(struct cluster *c)
{
    step(c);
}

bool cluster_step_until(struct cluster *c,
                        bool (*pred)(struct cluster *c, void *arg),
                        void *arg,
                        unsigned max_ms)
{
    raft_time deadline = c->fixture.time + max_ms;

    while (!pred(c, arg)) {
        if (c->fixture.time >= deadline) {
            return false;
        }
        step(c);
    }
    return true;
}

void cluster_step_ms(struct cluster *c, unsigned ms)
{
    raft_time deadline = c->fixture.time + ms;

    while (c->fixture.time < deadline) {
        step(c);
    }
}

unsigned cluster_leader(struct cluster *c)
{
    unsigned best = c->n;
    raft_term best_term = 0;
    unsigned i;

    for (i = 0; i < c->n; i++) {
        struct raft *r = cluster_raft(c, i);
        if (c->nodes[i].killed || !raft_fixture_alive(&c->fixture, i)) {
            continue;
        }
        if (raft_state(r) == RAFT_LEADER && r->current_term > best_term) {
            best = i;
            best_term = r->current_term;
        }
    }
    return best;
}

static void barrier_cb(void *arg, int status, uint64_t index)
{
    struct cluster_node *node = arg;

    node->barrier_pending = false;
    node->barrier_status = status;
    node->barrier_index = index;
}

static bool barrier_done(struct cluster *c, void *arg)
{
    (void)c;
    return !((struct cluster_node *)arg)->barrier_pending;
}

/* Commit a barrier on node @i and wait for it. Returns its status. */
static int node_barrier(struct cluster *c, unsigned i, unsigned max_ms)
{
    struct cluster_node *node = &c->nodes[i];
    int rv;

    if (!node->barrier_pending) {
        rv = node->proposer.base.propose(&node->proposer.base, NULL, 0,
                                         barrier_cb, node);
        if (rv != 0) {
            return rv;
        }
        node->barrier_pending = true;
    }
    if (!cluster_step_until(c, barrier_done, node, max_ms)) {
        return WR_BUSY;
    }
    return node->barrier_status;
}

unsigned cluster_ready_leader(struct cluster *c, unsigned max_ms)
{
    raft_time deadline = c->fixture.time + max_ms;

    for (;;) {
        unsigned l = cluster_leader(c);
        if (l < c->n && leader_watch_ready(&c->nodes[l].watch)) {
            return l;
        }
        if (c->fixture.time >= deadline) {
            fail_msg("%s: no leader that commits a barrier within %u ms of "
                     "fixture time",
                     c->name, max_ms);
        }
        step(c);
    }
}

/* ---- Batches ------------------------------------------------------------- */

static void batch_req_cb(struct exec_req *req)
{
    struct cluster_batch *b = req->data;
    b->n_done++;
}

struct cluster_batch *cluster_batch_start(struct cluster *c,
                                          unsigned node,
                                          const char *db,
                                          const char *const *sqls,
                                          unsigned n)
{
    return cluster_batch_start_sessions(c, node, db, sqls, NULL, NULL, n);
}

struct cluster_batch *cluster_batch_start_sessions(
    struct cluster *c,
    unsigned node,
    const char *db,
    const char *const *sqls,
    const uint64_t *client_ids,
    const uint64_t *seqs,
    unsigned n)
{
    struct cluster_batch *b;
    unsigned i;

    if (n == 0 || n > CLUSTER_BATCH_MAX) {
        fail_msg("cluster_batch_start: %u requests", n);
    }
    if (node >= c->n) {
        node = cluster_ready_leader(c, 30000);
    }
    b = calloc(1, sizeof *b);
    assert_non_null(b);
    b->c = c;
    b->node = node;
    b->n = n;
    b->db = strdup(db);
    assert_non_null(b->db);
    for (i = 0; i < n; i++) {
        b->sql[i] = strdup(sqls[i]);
        assert_non_null(b->sql[i]);
        b->reqs[i].data = b;
        b->reqs[i].sql = b->sql[i];
        b->reqs[i].cb = batch_req_cb;
        if (client_ids != NULL) {
            b->reqs[i].client_id = client_ids[i];
            b->reqs[i].seq = seqs[i];
        }
        b->ptrs[i] = &b->reqs[i];
    }
    b->next = c->batches;
    c->batches = b;
    b->rv = exec_write(c->nodes[node].exec, db, b->ptrs, n, b->errmsg);
    if (b->rv != 0) {
        b->n_done = n; /* No callback will fire. */
    }
    return b;
}

bool cluster_batch_done(const struct cluster_batch *b)
{
    return b->n_done >= b->n;
}

static bool batch_done_pred(struct cluster *c, void *arg)
{
    (void)c;
    return cluster_batch_done(arg);
}

void cluster_batch_wait(struct cluster_batch *b, unsigned max_ms)
{
    if (!cluster_step_until(b->c, batch_done_pred, b, max_ms)) {
        fail_msg("%s: batch on node %u (\"%.60s\"...) still in flight after "
                 "%u ms of fixture time: %u of %u answered",
                 b->c->name, b->node, b->sql[0], max_ms, b->n_done, b->n);
    }
}

void cluster_batch_free(struct cluster_batch *b)
{
    struct cluster *c = b->c;
    struct cluster_batch **pp;
    unsigned i;

    if (!cluster_batch_done(b)) {
        fail_msg("cluster_batch_free: batch still in flight");
    }
    for (pp = &c->batches; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    }
    for (i = 0; i < b->n; i++) {
        exec_req_close(&b->reqs[i]);
        free(b->sql[i]);
    }
    free(b->db);
    free(b);
}

struct cluster_batch *cluster_write(struct cluster *c,
                                    const char *db,
                                    const char *const *sqls,
                                    unsigned n)
{
    struct cluster_batch *b = cluster_batch_start(c, c->n, db, sqls, n);

    if (b->rv != 0) {
        fail_msg("%s: exec_write on node %u (\"%.60s\"): %s: %s", c->name,
                 b->node, sqls[0], err_str(b->rv), b->errmsg);
    }
    cluster_batch_wait(b, 60000);
    return b;
}

void cluster_exec_ok(struct cluster *c, const char *db, const char *sql)
{
    struct cluster_batch *b = cluster_write(c, db, &sql, 1);

    if (b->reqs[0].status != 0) {
        fail_msg("%s: \"%.200s\" on %s: %s (sqlite %d): %s", c->name, sql, db,
                 err_str(b->reqs[0].status), b->reqs[0].sqlite_code,
                 b->reqs[0].errmsg);
    }
    cluster_batch_free(b);
}

void cluster_exec_okf(struct cluster *c, const char *db, const char *fmt, ...)
{
    char *sql;
    va_list ap;
    int rv;

    va_start(ap, fmt);
    rv = vasprintf(&sql, fmt, ap);
    va_end(ap);
    assert_true(rv >= 0);
    cluster_exec_ok(c, db, sql);
    free(sql);
}

void cluster_read(struct cluster *c,
                  unsigned node,
                  const char *db,
                  const char *sql,
                  struct exec_req *req)
{
    int rv;

    memset(req, 0, sizeof *req);
    req->sql = sql;
    rv = exec_read(c->nodes[node].exec, db, req);
    if (rv != 0) {
        fail_msg("%s: read \"%.200s\" on node %u, %s: %s: %s", c->name, sql,
                 node, db, err_str(rv), req->errmsg);
    }
}

int64_t cluster_query_int(struct cluster *c,
                          unsigned node,
                          const char *db,
                          const char *sql)
{
    struct exec_req req;
    int64_t v;

    cluster_read(c, node, db, sql, &req);
    if (req.rows.n_rows == 0 || req.rows.n_cols == 0) {
        exec_req_close(&req);
        fail_msg("%s: \"%.200s\" on node %u returned no row", c->name, sql,
                 node);
    }
    if (req.rows.values[0].type != VALUE_INTEGER) {
        int type = req.rows.values[0].type;
        exec_req_close(&req);
        fail_msg("%s: \"%.200s\" on node %u: value of type %d, not integer",
                 c->name, sql, node, type);
    }
    v = req.rows.values[0].integer;
    exec_req_close(&req);
    return v;
}

/* ---- Convergence and comparison ------------------------------------------ */

struct applied_target {
    raft_index index;
};

static bool all_applied(struct cluster *c, void *arg)
{
    struct applied_target *t = arg;
    unsigned i;

    for (i = 0; i < c->n; i++) {
        if (c->nodes[i].killed) {
            continue;
        }
        if (raft_last_applied(cluster_raft(c, i)) < t->index) {
            return false;
        }
    }
    return true;
}

void cluster_settle(struct cluster *c)
{
    unsigned attempt;

    for (attempt = 0; attempt < 10; attempt++) {
        unsigned l = cluster_ready_leader(c, 30000);
        struct applied_target t;
        int rv = node_barrier(c, l, 10000);
        if (rv != 0) {
            continue;
        }
        t.index = c->nodes[l].barrier_index;
        if (cluster_step_until(c, all_applied, &t, 120000)) {
            return;
        }
        for (unsigned i = 0; i < c->n; i++) {
            if (!c->nodes[i].killed &&
                raft_last_applied(cluster_raft(c, i)) < t.index) {
                fail_msg("%s: node %u applied only up to %llu, leader %u "
                         "is at %llu after 120 s of fixture time",
                         c->name, i,
                         (unsigned long long)raft_last_applied(
                             cluster_raft(c, i)),
                         l, (unsigned long long)t.index);
            }
        }
    }
    fail_msg("%s: could not commit a barrier to settle the cluster", c->name);
}

/* Collect database names into c->names (the release frees them if a check
 * fails half-way). */
static void collect_name(void *arg, struct fsm_db *db)
{
    struct cluster *c = arg;
    const char *name = fsm_db_name(db);
    char **grown;
    unsigned i;

    for (i = 0; i < c->n_names; i++) {
        if (strcmp(c->names[i], name) == 0) {
            return;
        }
    }
    grown = realloc(c->names, (c->n_names + 1) * sizeof *grown);
    assert_non_null(grown);
    c->names = grown;
    c->names[c->n_names] = strdup(name);
    assert_non_null(c->names[c->n_names]);
    c->n_names++;
}

static void names_free(struct cluster *c)
{
    for (unsigned i = 0; i < c->n_names; i++) {
        free(c->names[i]);
    }
    free(c->names);
    c->names = NULL;
    c->n_names = 0;
}

struct find_db {
    const char *name;
    struct fsm_db *db;
};

static void find_db_cb(void *arg, struct fsm_db *db)
{
    struct find_db *f = arg;
    if (strcmp(fsm_db_name(db), f->name) == 0) {
        f->db = db;
    }
}

/* The bytes of database @name's main file on @f; an empty buffer when @f
 * has no such database. */
static void *db_file(struct fsm *f, const char *name, size_t *len)
{
    struct find_db fd = {name, NULL};
    void *buf;

    fsm_foreach_db(f, find_db_cb, &fd);
    if (fd.db == NULL) {
        *len = 0;
        return NULL;
    }
    buf = harness_read_file(fsm_db_path(fd.db), len);
    return buf;
}

static void integrity_ok(struct fsm *f,
                         const char *name,
                         const char *who)
{
    char errmsg[WR_ERRMSG_SIZE];
    struct fsm_db *db;
    sqlite3 *conn;
    sqlite3_stmt *stmt;
    int rc;

    errmsg[0] = '\0';
    if (fsm_db_open(f, name, &db, errmsg) != 0) {
        fail_msg("%s: open %s: %s", who, name, errmsg);
    }
    conn = fsm_db_conn(db, errmsg);
    if (conn == NULL) {
        fail_msg("%s: connection to %s: %s", who, name, errmsg);
    }
    rc = sqlite3_prepare_v2(conn, "PRAGMA integrity_check", -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        fail_msg("%s: %s: integrity_check: %s", who, name,
                 sqlite3_errmsg(conn));
    }
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_ROW ||
        strcmp((const char *)sqlite3_column_text(stmt, 0), "ok") != 0) {
        char what[1024] = "";
        size_t used = 0;
        unsigned rows = 0;
        if (rc != SQLITE_ROW) {
            snprintf(what, sizeof what, "%s", sqlite3_errmsg(conn));
        }
        while (rc == SQLITE_ROW && rows++ < 6 && used < sizeof what) {
            used += (size_t)snprintf(what + used, sizeof what - used, "%s%s",
                                     rows > 1 ? " | " : "",
                                     sqlite3_column_text(stmt, 0));
            rc = sqlite3_step(stmt);
        }
        sqlite3_finalize(stmt);
        fail_msg("%s: database %s: integrity_check: %s", who, name, what);
    }
    sqlite3_finalize(stmt);
}

/* Compare two images of database @name; fail with the first differing page.
 */
static void compare_images(const char *name,
                           const char *who_a,
                           const void *a,
                           size_t len_a,
                           const char *who_b,
                           const void *b,
                           size_t len_b)
{
    size_t n = len_a < len_b ? len_a : len_b;
    size_t off;

    for (off = 0; off < n; off += CLUSTER_PAGE_SIZE) {
        size_t chunk =
            n - off < CLUSTER_PAGE_SIZE ? n - off : CLUSTER_PAGE_SIZE;
        if (memcmp((const char *)a + off, (const char *)b + off, chunk) != 0) {
            size_t k = 0;
            while (((const unsigned char *)a)[off + k] ==
                   ((const unsigned char *)b)[off + k]) {
                k++;
            }
            fail_msg("database %s: %s and %s differ first on page %zu "
                     "(byte %zu of the page); sizes %zu and %zu bytes",
                     name, who_a, who_b, off / CLUSTER_PAGE_SIZE + 1, k, len_a,
                     len_b);
        }
    }
    if (len_a != len_b) {
        fail_msg("database %s: %s is %zu bytes (%zu pages), %s is %zu bytes "
                 "(%zu pages); the first %zu bytes are identical",
                 name, who_a, len_a, len_a / CLUSTER_PAGE_SIZE, who_b, len_b,
                 len_b / CLUSTER_PAGE_SIZE, n);
    }
}

static void open_conn_cb(void *arg, struct fsm_db *db)
{
    char errmsg[WR_ERRMSG_SIZE];

    (void)arg;
    (void)fsm_db_conn(db, errmsg); /* A failure shows as WR_BUSY below. */
}

/* Checkpoint every database of @f. A snapshot libraft is still writing holds
 * checkpoints off, so step the cluster (if any) a little while busy. A
 * database whose pending transaction was dropped (its node lost leadership
 * with a batch in flight) has no connection until its next apply or
 * request, and fsm_checkpoint_all() skips it as busy: open one first. */
static void checkpoint(struct cluster *c, struct fsm *f, const char *who)
{
    raft_time deadline = c != NULL ? c->fixture.time + 2000 : 0;
    int rv;

    fsm_foreach_db(f, open_conn_cb, NULL);
    while ((rv = fsm_checkpoint_all(f)) == WR_BUSY && c != NULL &&
           c->fixture.time < deadline) {
        step(c);
    }
    if (rv != 0) {
        fail_msg("%s: fsm_checkpoint_all: %s (for 2 s of fixture time)", who,
                 err_str(rv));
    }
}

void cluster_check_files(struct cluster *c, bool include_killed)
{
    unsigned ref = cluster_leader(c);
    unsigned i;
    unsigned k;

    if (ref >= c->n) {
        for (ref = 0; ref < c->n; ref++) {
            if (include_killed || !c->nodes[ref].killed) {
                break;
            }
        }
    }
    if (ref >= c->n) {
        fail_msg("%s: no node to compare with", c->name);
    }
    for (i = 0; i < c->n; i++) {
        char who[32];
        if (c->nodes[i].killed && !include_killed) {
            continue;
        }
        snprintf(who, sizeof who, "node %u", i);
        checkpoint(c, c->nodes[i].fsm, who);
        fsm_foreach_db(c->nodes[i].fsm, collect_name, c);
    }
    for (k = 0; k < c->n_names; k++) {
        const char *name = c->names[k];
        char who_ref[32];
        size_t len_ref;
        void *img_ref = db_file(c->nodes[ref].fsm, name, &len_ref);

        c->img_a = img_ref;

        snprintf(who_ref, sizeof who_ref, "node %u", ref);
        for (i = 0; i < c->n; i++) {
            char who[32];
            size_t len;
            void *img;
            if (i == ref || (c->nodes[i].killed && !include_killed)) {
                continue;
            }
            snprintf(who, sizeof who, "node %u", i);
            img = db_file(c->nodes[i].fsm, name, &len);
            c->img_b = img;
            compare_images(name, who_ref, img_ref, len_ref, who, img, len);
            c->img_b = NULL;
            free(img);
        }
        c->img_a = NULL;
        free(img_ref);
        for (i = 0; i < c->n; i++) {
            char who[32];
            if (c->nodes[i].killed && !include_killed) {
                continue;
            }
            snprintf(who, sizeof who, "node %u", i);
            integrity_ok(c->nodes[i].fsm, name, who);
        }
    }
    names_free(c);
}

void cluster_check_applied(struct cluster *c)
{
    unsigned a;
    unsigned b;

    for (a = 0; a < c->n; a++) {
        const struct cluster_node *node = &c->nodes[a];
        if (node->order_error[0] != '\0') {
            fail_msg("%s: %s", c->name, node->order_error);
        }
        for (size_t i = 0; i < node->n_applied; i++) {
            if (node->applied[i].index == 0 || node->applied[i].term == 0) {
                fail_msg("%s: node %u applied an entry reported with index "
                         "%llu and term %llu",
                         c->name, a,
                         (unsigned long long)node->applied[i].index,
                         (unsigned long long)node->applied[i].term);
            }
        }
    }
    for (a = 0; a < c->n; a++) {
        for (b = a + 1; b < c->n; b++) {
            const struct cluster_node *na = &c->nodes[a];
            const struct cluster_node *nb = &c->nodes[b];
            size_t i = 0;
            size_t j = 0;
            while (i < na->n_applied && j < nb->n_applied) {
                const struct cluster_applied *ra = &na->applied[i];
                const struct cluster_applied *rb = &nb->applied[j];
                if (ra->index < rb->index) {
                    i++;
                } else if (rb->index < ra->index) {
                    j++;
                } else {
                    if (ra->hash != rb->hash || ra->term != rb->term) {
                        fail_msg("%s: index %llu: node %u applied term %llu "
                                 "hash %016" PRIx64 ", node %u term %llu "
                                 "hash %016" PRIx64,
                                 c->name, (unsigned long long)ra->index, a,
                                 (unsigned long long)ra->term, ra->hash, b,
                                 (unsigned long long)rb->term, rb->hash);
                    }
                    i++;
                    j++;
                }
            }
        }
    }
}

void cluster_check(struct cluster *c)
{
    cluster_settle(c);
    cluster_check_files(c, false);
    cluster_check_applied(c);
}

void cluster_compare_fsm(struct cluster *c,
                         unsigned ref,
                         struct fsm *f,
                         const char *what)
{
    char who_ref[32];
    unsigned k;

    snprintf(who_ref, sizeof who_ref, "node %u", ref);
    checkpoint(c, c->nodes[ref].fsm, who_ref);
    checkpoint(c, f, what);
    fsm_foreach_db(c->nodes[ref].fsm, collect_name, c);
    fsm_foreach_db(f, collect_name, c);
    for (k = 0; k < c->n_names; k++) {
        size_t len_a;
        size_t len_b;
        void *a = db_file(c->nodes[ref].fsm, c->names[k], &len_a);
        void *b = db_file(f, c->names[k], &len_b);
        c->img_a = a;
        c->img_b = b;
        compare_images(c->names[k], who_ref, a, len_a, what, b, len_b);
        c->img_a = c->img_b = NULL;
        free(a);
        free(b);
        integrity_ok(f, c->names[k], what);
    }
    names_free(c);
}

/* ---- Faults -------------------------------------------------------------- */

void cluster_isolate(struct cluster *c, unsigned i)
{
    for (unsigned j = 0; j < c->n; j++) {
        if (j != i) {
            raft_fixture_saturate(&c->fixture, i, j);
            raft_fixture_saturate(&c->fixture, j, i);
        }
    }
}

void cluster_rejoin(struct cluster *c, unsigned i)
{
    for (unsigned j = 0; j < c->n; j++) {
        if (j != i && !c->nodes[j].killed) {
            raft_fixture_desaturate(&c->fixture, i, j);
            raft_fixture_desaturate(&c->fixture, j, i);
        }
    }
}

static bool stable_leader(struct cluster *c, void *arg)
{
    (void)arg;
    return c->fixture.leader_id != 0 &&
           !c->nodes[c->fixture.leader_id - 1].killed;
}

void cluster_depose(struct cluster *c)
{
    /* raft_fixture_depose() needs a leader the fixture considers stable (its
     * assertions are compiled out in Debian's build). */
    if (!cluster_step_until(c, stable_leader, NULL, 20000)) {
        fail_msg("%s: no stable leader to depose", c->name);
    }
    raft_fixture_depose(&c->fixture);
    cluster_ready_leader(c, 30000);
}

unsigned cluster_grow(struct cluster *c)
{
    unsigned i = c->n;
    int rv;

    if (i >= CLUSTER_MAX_NODES) {
        fail_msg("cluster_grow: already %u servers", i);
    }
    node_init(c, i);
    rv = raft_start(cluster_raft(c, i));
    if (rv != 0) {
        fail_msg("node %u: raft_start: %s", i, raft_strerror(rv));
    }
    return i;
}

void cluster_kill(struct cluster *c, unsigned i)
{
    if (!c->nodes[i].killed) {
        c->nodes[i].killed = true;
        raft_fixture_kill(&c->fixture, i);
    }
}

void cluster_revive(struct cluster *c, unsigned i)
{
    if (c->nodes[i].n_fatal > 0) {
        fail_msg("%s: cluster_revive: node %u stopped on a fatal error: %s",
                 c->name, i, c->nodes[i].fatal_msg);
    }
    if (c->nodes[i].killed) {
        c->nodes[i].killed = false;
        raft_fixture_revive(&c->fixture, i);
    }
}

raft_id cluster_leader_of_term(struct cluster *c, raft_term term)
{
    return term < c->cap_terms ? c->leader_of_term[term] : 0;
}

/* ---- Recording and stand-alone state machines ---------------------------- */

const struct cluster_command *cluster_recorded(struct cluster *c, size_t *n)
{
    *n = c->n_commands;
    return c->commands;
}

struct fsm *cluster_fsm_create(struct cluster *c,
                               const char *subdir,
                               uint64_t node_id)
{
    struct fsm_config config;
    char errmsg[WR_ERRMSG_SIZE];
    char dir[700];
    uint64_t seed_state = c->seed ^ (0x77ULL * node_id);
    struct fsm *f;
    int rv;

    if (c->n_extra == sizeof c->extra / sizeof c->extra[0]) {
        fail_msg("cluster_fsm_create: too many");
    }
    snprintf(dir, sizeof dir, "%s/%.150s", c->root, subdir);
    memset(&config, 0, sizeof config);
    config.dir = dir;
    config.node_id = node_id;
    config.seed = cluster_rand(&seed_state);
    config.checkpoint_threshold = c->opts.checkpoint_threshold;
    config.compress = true;
    errmsg[0] = '\0';
    rv = fsm_create(&config, &f, errmsg);
    if (rv != 0) {
        fail_msg("fsm_create(%s): %s: %s", dir, err_str(rv), errmsg);
    }
    c->extra[c->n_extra++] = f;
    return f;
}

int64_t fsm_query_int(struct fsm *f, const char *name, const char *sql)
{
    char errmsg[WR_ERRMSG_SIZE];
    struct fsm_db *db;
    sqlite3 *conn;
    sqlite3_stmt *stmt;
    int64_t v;

    errmsg[0] = '\0';
    if (fsm_db_open(f, name, &db, errmsg) != 0) {
        fail_msg("open %s: %s", name, errmsg);
    }
    conn = fsm_db_conn(db, errmsg);
    if (conn == NULL) {
        fail_msg("connection to %s: %s", name, errmsg);
    }
    if (sqlite3_prepare_v2(conn, sql, -1, &stmt, NULL) != SQLITE_OK) {
        fail_msg("\"%s\" on %s: %s", sql, name, sqlite3_errmsg(conn));
    }
    if (sqlite3_step(stmt) != SQLITE_ROW) {
        char what[256];
        snprintf(what, sizeof what, "%s", sqlite3_errmsg(conn));
        sqlite3_finalize(stmt);
        fail_msg("\"%s\" on %s: no row (%s)", sql, name, what);
    }
    v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return v;
}
