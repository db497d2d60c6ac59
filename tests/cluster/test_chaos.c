/*
 * Seeded random schedules on raft_fixture clusters running the real state
 * machine, the raft_io guard and the start-of-term barrier on every server
 * (issue 3, proof 5).
 *
 * A schedule starts three servers and runs a few hundred random operations,
 * stepping the fixture for 10 to 300 ms of its time after each:
 *  - client writes: batches of 1 to 4 inserts, each of a key never used
 *    before, sent to the ready leader (one batch in flight per database on
 *    it; batches left on a deposed, cut-off or killed leader stay in flight
 *    until it learns its fate);
 *  - partitions: one server cut off from all others, or the servers split
 *    in two random groups; and heals;
 *  - kills and revivals (raft_fixture_kill/revive: a killed server is
 *    frozen and cut off, and continues from its memory when revived; at
 *    least two servers stay alive);
 *  - disk latency changes, from 10 ms up to twice the election timeout;
 *  - membership changes, one at a time and only while every voter is alive,
 *    connected to every other and has the leader's committed entries in its
 *    log (ARCHITECTURE.md section 8): add a new server (raft_add() makes it
 *    a spare; at most five servers ever exist), make a spare a standby or a
 *    voter or a standby a voter, remove a voter (three voters at least; the
 *    leader too) or a non-voter. A server whose removal is committed is shut
 *    down for good (killed), as an operator would.
 * Each seed also picks libraft's snapshot threshold (16 to 1024 entries), so
 * servers that fall behind often catch up by InstallSnapshot.
 * Then everything heals and settles, and the run must show: never two
 * leaders of one term (checked after every step, harness.c), every server
 * applied increasing indexes and the same entry at each index (the applied
 * records), every acknowledged insert present exactly once, every insert
 * that failed definitely absent, the ones whose outcome is unknown
 * (WR_LEADERSHIP_LOST) present at most once, no server stopped on a fatal
 * error, every live server holding the leader's configuration (libraft
 * 0.15's P4, which the raft_io guard neutralises; see
 * check_configurations()), no server marking an applied change uncommitted
 * (libraft 0.15's P5, which the raft_io guard neutralises; see
 * stale_uncommitted()), and every
 * server's database files identical page for page and intact
 * (cluster_check).
 *
 * Seeds are printed ("seed=N"); seeds 1 to WR_CHAOS_SEEDS (default 300,
 * about 6 s in a release build and 35 s under ASan) run. WR_SEED replays
 * one seed, WR_CHAOS_OPS sets the operations per schedule (default 300),
 * WR_GUARD_DISABLE switches protections of the raft_io guard off (raft/io.h
 * bits; P4 and P5 are then reported, not failed on, unless WR_CHAOS_STRICT
 * is set), and WR_VERBOSE narrates every
 * operation and dumps every server's raft state before the final checks.
 *
 * A second test, rollback_after_compaction_keeps_running, runs the seeds
 * that reach catalogue C9's rollback crash (raft/README.md): WR_SEED=2267
 * and WR_SEED=3052, where a follower must roll back an uncommitted change
 * while its last committed configuration entry is already compacted into a
 * snapshot. libraft 0.15's membershipRollback() then dereferences NULL;
 * the raft_io guard rolls the change back itself
 * (RAFT_IO_GUARD_ROLLBACK_CONFIG), and the test fails if it did not on each
 * of them. With WR_GUARD_DISABLE=512 they segfault.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/harness.h"

#define N_DBS 2
#define MAX_FLIGHTS 32
#define MIN_VOTERS 3

static const char *const db_names[N_DBS] = {"c0", "c1"};

/* What is known about an insert of one key. */
enum {
    KEY_UNSENT = 0,
    KEY_ACKED,      /* Acknowledged: must be present exactly once. */
    KEY_FAILED,     /* Failed definitely: must be absent. */
    KEY_INDEFINITE, /* Outcome unknown: present at most once. */
};

/* A batch in flight and the first of its consecutive keys. */
struct flight {
    struct cluster_batch *b;
    uint64_t first_key;
};

struct change {
    struct raft_change req;
    bool pending;
    int status;
    const char *what;
    unsigned node;
};

struct chaos {
    struct cluster *c;
    uint64_t rng;
    unsigned op;
    bool cut[CLUSTER_MAX_NODES][CLUSTER_MAX_NODES];
    bool ever_member[CLUSTER_MAX_NODES]; /* Seen in a committed config. */
    bool removed[CLUSTER_MAX_NODES];     /* Removal committed: shut down. */
    struct change change;
    struct flight flights[MAX_FLIGHTS];
    unsigned n_flights;
    unsigned char *keys; /* KEY_* of key k at keys[k]. */
    unsigned char *seen; /* Copies of key k found, at the end. */
    uint64_t next_key;
    uint64_t cap_keys;
    /* Statistics. */
    unsigned writes_acked;
    unsigned writes_failed;
    unsigned writes_indefinite;
    unsigned indefinite_present;
    unsigned isolations;
    unsigned splits;
    unsigned kills;
    unsigned revivals;
    unsigned latencies;
    unsigned adds;
    unsigned promotions;
    unsigned removals;
    unsigned changes_lost;
    unsigned p4_divergences;
    unsigned p5_servers;
};

/* Sums over the seeds run. */
static struct {
    unsigned seeds;
    unsigned acked;
    unsigned unknown;
    unsigned changes;
    unsigned kills;
    unsigned snapshots;
    unsigned p4_triggers;
    unsigned p4_seeds;
    unsigned p5_seeds;
    unsigned c9_rollbacks;
} totals;

/* Static, not on the test's stack: libraft may fire a change callback while
 * the teardown closes a failed test's cluster. */
static struct chaos chaos;

/* Up to twice raft_fixture's election timeout (1 s). */
static const unsigned disk_latencies[] = {10, 10, 10, 30, 100, 300, 800,
                                          2000};

static bool verbose(void)
{
    return getenv("WR_VERBOSE") != NULL;
}

static void narrate(struct chaos *ch, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void narrate(struct chaos *ch, const char *fmt, ...)
{
    va_list ap;

    if (!verbose()) {
        return;
    }
    fprintf(stderr, "op %u (%llu ms): ", ch->op,
            (unsigned long long)ch->c->fixture.time);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? strtoull(v, NULL, 0) : dflt;
}

static uint64_t rnd(struct chaos *ch, uint64_t n)
{
    return cluster_rand_below(&ch->rng, n);
}

/* ---- The network: cuts over raft_fixture's saturation ---------------------
 *
 * raft_fixture_revive() reconnects a server to every live one, so the cuts
 * live here and are applied again after every change. */

static void apply_net(struct chaos *ch)
{
    struct cluster *c = ch->c;

    for (unsigned i = 0; i < c->n; i++) {
        for (unsigned j = 0; j < c->n; j++) {
            if (i == j || c->nodes[i].killed || c->nodes[j].killed) {
                continue; /* raft_fixture_kill() cut a killed server. */
            }
            if (ch->cut[i][j]) {
                raft_fixture_saturate(&c->fixture, i, j);
            } else {
                raft_fixture_desaturate(&c->fixture, i, j);
            }
        }
    }
}

static void heal(struct chaos *ch)
{
    memset(ch->cut, 0, sizeof ch->cut);
    apply_net(ch);
}

static void isolate(struct chaos *ch, unsigned i)
{
    for (unsigned j = 0; j < ch->c->n; j++) {
        if (j != i) {
            ch->cut[i][j] = ch->cut[j][i] = true;
        }
    }
    apply_net(ch);
    ch->isolations++;
    narrate(ch, "node %u cut off", i);
}

/* Split the servers into two non-empty groups that cannot talk. */
static void split(struct chaos *ch)
{
    unsigned n = ch->c->n;
    unsigned mask = 1 + (unsigned)rnd(ch, (1u << n) - 2);

    for (unsigned i = 0; i < n; i++) {
        for (unsigned j = 0; j < n; j++) {
            bool a = (mask >> i) & 1;
            bool b = (mask >> j) & 1;
            ch->cut[i][j] = a != b;
        }
    }
    apply_net(ch);
    ch->splits++;
    narrate(ch, "split, group mask %#x", mask);
}

/* ---- Writes -------------------------------------------------------------- */

static void key_set(struct chaos *ch, uint64_t k, unsigned state)
{
    if (k >= ch->cap_keys) {
        uint64_t cap = ch->cap_keys == 0 ? 1024 : ch->cap_keys;
        unsigned char *grown;
        while (cap <= k) {
            cap *= 2;
        }
        grown = realloc(ch->keys, cap);
        assert_non_null(grown);
        memset(grown + ch->cap_keys, 0, cap - ch->cap_keys);
        ch->keys = grown;
        ch->cap_keys = cap;
    }
    ch->keys[k] = (unsigned char)state;
}

static unsigned key_get(const struct chaos *ch, uint64_t k)
{
    return k < ch->cap_keys ? ch->keys[k] : KEY_UNSENT;
}

/* The leader with the highest term among live servers, if it has applied
 * its term's barrier, else c->n. Never fails the test. */
static unsigned ready_leader(struct chaos *ch)
{
    struct cluster *c = ch->c;
    unsigned l = cluster_leader(c);

    if (l < c->n && leader_watch_ready(&c->nodes[l].watch)) {
        return l;
    }
    return c->n;
}

static const struct raft_server *member(const struct raft *r, raft_id id);

/* A ready leader whose term no voter of its configuration, killed or not,
 * is past, else c->n. Its configuration is then the latest one committed (a
 * later commit needs a leader of a later term, elected by voters of this
 * configuration); a revived leader of an older term may still think it
 * leads, with an older configuration and older data. (A spare may be far
 * ahead in term: one that received its promotion to voter from a leader
 * that lost it campaigns on its own, unheard, for good.) */
static unsigned current_leader(struct chaos *ch)
{
    struct cluster *c = ch->c;
    unsigned l = ready_leader(ch);

    for (unsigned i = 0; l < c->n && i < c->n; i++) {
        const struct raft *r = cluster_raft(c, i);
        const struct raft_server *s = member(cluster_raft(c, l), r->id);
        if (s != NULL && s->role == RAFT_VOTER &&
            r->current_term > cluster_raft(c, l)->current_term) {
            return c->n;
        }
    }
    return l;
}

static void write_batch(struct chaos *ch)
{
    struct cluster *c = ch->c;
    unsigned l = ready_leader(ch);
    const char *db = db_names[rnd(ch, N_DBS)];
    char sqls[CLUSTER_BATCH_MAX][128];
    const char *ptrs[CLUSTER_BATCH_MAX];
    unsigned n = 1 + (unsigned)rnd(ch, 4);
    struct cluster_batch *b;

    if (l >= c->n || exec_busy(c->nodes[l].exec, db) ||
        ch->n_flights == MAX_FLIGHTS) {
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        unsigned size = rnd(ch, 10) == 0 ? 4000 + (unsigned)rnd(ch, 20000)
                                         : 8 + (unsigned)rnd(ch, 600);
        snprintf(sqls[i], sizeof sqls[i],
                 "INSERT INTO kv(k, v) VALUES(%" PRIu64 ", randomblob(%u))",
                 ch->next_key + i, size);
        ptrs[i] = sqls[i];
    }
    b = cluster_batch_start(c, l, db, ptrs, n);
    if (b->rv != 0) {
        /* Refused at once: nothing happened, the keys stay unused. */
        if (b->rv != WR_NOTLEADER && b->rv != WR_BUSY) {
            fail_msg("exec_write on node %u: %s: %s", l, err_str(b->rv),
                     b->errmsg);
        }
        cluster_batch_free(b);
        return;
    }
    narrate(ch, "batch of keys %" PRIu64 "..%" PRIu64 " on %s of node %u "
            "(term %llu)",
            ch->next_key, ch->next_key + n - 1, db, l,
            (unsigned long long)cluster_raft(c, l)->current_term);
    ch->flights[ch->n_flights].b = b;
    ch->flights[ch->n_flights].first_key = ch->next_key;
    ch->n_flights++;
    for (unsigned i = 0; i < n; i++) {
        key_set(ch, ch->next_key + i, KEY_INDEFINITE);
    }
    ch->next_key += n;
}

/* Account for a finished batch. */
static void reap(struct chaos *ch, const struct flight *f)
{
    const struct cluster_batch *b = f->b;

    for (unsigned i = 0; i < b->n; i++) {
        const struct exec_req *req = &b->reqs[i];
        uint64_t k = f->first_key + i;

        if (req->status == 0) {
            key_set(ch, k, KEY_ACKED);
            ch->writes_acked++;
        } else if (req->status == WR_SQL) {
            fail_msg("insert of key %" PRIu64 " on node %u failed on its "
                     "own: %s",
                     k, b->node, req->errmsg);
        } else if (req->definite) {
            if (req->status == WR_LEADERSHIP_LOST) {
                fail_msg("key %" PRIu64 ": leadership lost reported as "
                         "definite",
                         k);
            }
            key_set(ch, k, KEY_FAILED);
            ch->writes_failed++;
        } else {
            key_set(ch, k, KEY_INDEFINITE);
            ch->writes_indefinite++;
        }
    }
    narrate(ch, "batch of keys %" PRIu64 "..%" PRIu64 " on %s of node %u: "
            "%s (index %llu)",
            f->first_key, f->first_key + b->n - 1, b->db, b->node,
            b->reqs[0].status == 0 ? "ok" : err_str(b->reqs[0].status),
            (unsigned long long)b->reqs[0].bookmark);
}

/* Reap the finished batches. A batch left on a server that was removed
 * and shut down never finishes: its client never learns the outcome (the
 * harness frees the batch with the cluster). */
static void reap_done(struct chaos *ch)
{
    unsigned i = 0;

    while (i < ch->n_flights) {
        struct flight *f = &ch->flights[i];
        if (cluster_batch_done(f->b)) {
            reap(ch, f);
            cluster_batch_free(f->b);
            *f = ch->flights[--ch->n_flights];
        } else if (ch->removed[f->b->node]) {
            ch->writes_indefinite += f->b->n;
            narrate(ch, "batch of keys %" PRIu64 "..%" PRIu64 " abandoned "
                    "on removed node %u",
                    f->first_key, f->first_key + f->b->n - 1, f->b->node);
            *f = ch->flights[--ch->n_flights];
        } else {
            i++;
        }
    }
}

/* ---- Kills, revivals, disks ---------------------------------------------- */

static unsigned n_alive(struct chaos *ch)
{
    unsigned n = 0;
    for (unsigned i = 0; i < ch->c->n; i++) {
        n += ch->c->nodes[i].killed ? 0 : 1;
    }
    return n;
}

static void kill_one(struct chaos *ch)
{
    struct cluster *c = ch->c;
    unsigned i = (unsigned)rnd(ch, c->n);

    if (c->nodes[i].killed || n_alive(ch) <= 2) {
        return;
    }
    cluster_kill(c, i);
    ch->kills++;
    narrate(ch, "node %u killed%s", i,
            raft_state(cluster_raft(c, i)) == RAFT_LEADER ? " (a leader)"
                                                          : "");
}

static void revive_one(struct chaos *ch)
{
    struct cluster *c = ch->c;
    unsigned i = (unsigned)rnd(ch, c->n);

    if (!c->nodes[i].killed || ch->removed[i] || c->nodes[i].n_fatal > 0) {
        return;
    }
    cluster_revive(c, i);
    apply_net(ch);
    ch->revivals++;
    narrate(ch, "node %u revived", i);
}

static void set_latency(struct chaos *ch)
{
    unsigned i = (unsigned)rnd(ch, ch->c->n);
    unsigned ms = disk_latencies[rnd(
        ch, sizeof disk_latencies / sizeof disk_latencies[0])];

    raft_fixture_set_disk_latency(&ch->c->fixture, i, ms);
    ch->latencies++;
    narrate(ch, "node %u disk latency %u ms", i, ms);
}

/* ---- Membership ---------------------------------------------------------- */

static const struct raft_server *member(const struct raft *r, raft_id id)
{
    for (unsigned k = 0; k < r->configuration.n; k++) {
        if (r->configuration.servers[k].id == id) {
            return &r->configuration.servers[k];
        }
    }
    return NULL;
}

/* A configuration change @r marks uncommitted although it has applied its
 * index: libraft 0.15's defect P5 (raft/README.md). snapshotRestore() sets
 * the configuration and configuration_index of an installed snapshot but
 * leaves configuration_uncommitted_index alone, so a server that had a
 * change pending (its own, as a leader that lost it, or a follower's) and
 * catches up past it by InstallSnapshot never clears it: as leader it
 * refuses every membership change (RAFT_CANTCHANGE), and walraft's fsm
 * adapter refuses it every snapshot (C9 policy), for good. */
static bool stale_uncommitted(const struct raft *r)
{
    return r->configuration_uncommitted_index != 0 &&
           r->configuration_uncommitted_index <= r->last_applied;
}

static void change_cb(struct raft_change *req, int status)
{
    struct change *chg = req->data;

    chg->pending = false;
    chg->status = status;
    if (status != 0) {
        chaos.changes_lost++;
    }
    narrate(&chaos, "%s node %u: %s", chg->what, chg->node,
            status == 0 ? "committed" : raft_strerror(status));
}

/* With @r the current leader (current_leader()) and its configuration
 * committed: servers that were replicating members (voters or standbys) and
 * are no longer are shut down for good. */
static void reconcile(struct chaos *ch, const struct raft *r)
{
    struct cluster *c = ch->c;

    for (unsigned i = 0; i < c->n; i++) {
        const struct raft_server *s = member(r, cluster_raft(c, i)->id);
        if (s != NULL && s->role != RAFT_SPARE) {
            ch->ever_member[i] = true;
        } else if (ch->ever_member[i] && !ch->removed[i]) {
            ch->removed[i] = true;
            cluster_kill(c, i);
            narrate(ch, "node %u removed: shut down", i);
        }
    }
}

/* Every voter of @r's configuration is alive, connected to every other and
 * has every entry @r committed in its log. */
static bool voters_ready(struct chaos *ch, const struct raft *r)
{
    struct cluster *c = ch->c;

    for (unsigned i = 0; i < c->n; i++) {
        const struct raft_server *s = member(r, cluster_raft(c, i)->id);
        if (s == NULL || s->role != RAFT_VOTER) {
            continue;
        }
        if (c->nodes[i].killed ||
            raft_last_index(cluster_raft(c, i)) < r->commit_index) {
            return false;
        }
        for (unsigned j = 0; j < c->n; j++) {
            const struct raft_server *t = member(r, cluster_raft(c, j)->id);
            if (t != NULL && t->role == RAFT_VOTER && ch->cut[i][j]) {
                return false;
            }
        }
    }
    return true;
}

static void start_change(struct chaos *ch, unsigned l, const char *what,
                         unsigned node, int rv)
{
    if (rv != 0) {
        narrate(ch, "%s node %u refused: %s", what, node, raft_strerror(rv));
        return;
    }
    ch->change.pending = true;
    ch->change.what = what;
    ch->change.node = node;
    narrate(ch, "leader %u: %s node %u", l, what, node);
}

static void change_membership(struct chaos *ch)
{
    struct cluster *c = ch->c;
    unsigned l = current_leader(ch);
    struct raft *r;
    unsigned spare = c->n;
    unsigned standby = c->n;
    unsigned voters = 0;
    unsigned kind;
    int rv;

    if (l >= c->n || ch->change.pending) {
        return;
    }
    r = cluster_raft(c, l);
    if (r->configuration_uncommitted_index != 0 && !stale_uncommitted(r)) {
        return;
    }
    reconcile(ch, r);
    if (!voters_ready(ch, r)) {
        return;
    }
    for (unsigned i = 0; i < c->n; i++) {
        const struct raft_server *s = member(r, cluster_raft(c, i)->id);
        if (s == NULL) {
            if (!ch->removed[i] && !c->nodes[i].killed) {
                spare = i;
            }
        } else if (s->role == RAFT_VOTER) {
            voters++;
        } else {
            standby = i; /* A spare (raft_add() adds one) or a standby. */
        }
    }
    memset(&ch->change.req, 0, sizeof ch->change.req);
    ch->change.req.data = &ch->change;
    kind = (unsigned)rnd(ch, 4);
    if (kind <= 1 && standby < c->n) {
        /* A spare becomes a standby or a voter, a standby a voter. */
        int role = member(r, cluster_raft(c, standby)->id)->role ==
                               RAFT_SPARE &&
                           rnd(ch, 3) == 0
                       ? RAFT_STANDBY
                       : RAFT_VOTER;
        rv = raft_assign(r, &ch->change.req, cluster_raft(c, standby)->id,
                         role, change_cb);
        start_change(ch, l, role == RAFT_VOTER ? "make voter" : "make standby",
                     standby, rv);
        ch->promotions += rv == 0;
    } else if (kind == 2 && (spare < c->n || c->n < CLUSTER_MAX_NODES)) {
        if (spare >= c->n) {
            spare = cluster_grow(c);
            apply_net(ch);
        }
        rv = raft_add(r, &ch->change.req, cluster_raft(c, spare)->id,
                      cluster_raft(c, spare)->address, change_cb);
        start_change(ch, l, "add", spare, rv);
        ch->adds += rv == 0;
    } else if (kind == 3 && (voters > MIN_VOTERS || standby < c->n)) {
        unsigned victim = standby;
        if (voters > MIN_VOTERS && (standby >= c->n || rnd(ch, 2) == 0)) {
            do {
                victim = (unsigned)rnd(ch, c->n);
            } while (member(r, cluster_raft(c, victim)->id) == NULL ||
                     member(r, cluster_raft(c, victim)->id)->role !=
                         RAFT_VOTER);
        }
        rv = raft_remove(r, &ch->change.req, cluster_raft(c, victim)->id,
                         change_cb);
        start_change(ch, l, "remove", victim, rv);
        ch->removals += rv == 0;
    }
}

/* ---- One schedule -------------------------------------------------------- */

/* Entry @index of @l, or NULL (as logGet() in libraft's log.c). */
static const struct raft_entry *log_entry(const struct raft_log *l,
                                          raft_index index)
{
    size_t n = l->front <= l->back ? l->back - l->front
                                   : l->size - l->front + l->back;
    if (index <= l->offset || index > l->offset + n) {
        return NULL;
    }
    return &l->entries[(l->front + (size_t)(index - 1 - l->offset)) % l->size];
}

/* Print every server's raft state (WR_VERBOSE). */
static void dump(struct chaos *ch)
{
    struct cluster *c = ch->c;

    if (!verbose()) {
        return;
    }
    for (unsigned i = 0; i < c->n; i++) {
        struct raft *r = cluster_raft(c, i);
        fprintf(stderr,
                "  node %u%s%s: state %d term %llu last %llu commit %llu "
                "applied %llu snapshot %llu conf %u servers (uncommitted "
                "%llu)\n",
                i, c->nodes[i].killed ? " killed" : "",
                ch->removed[i] ? " removed" : "", raft_state(r),
                (unsigned long long)r->current_term,
                (unsigned long long)raft_last_index(r),
                (unsigned long long)r->commit_index,
                (unsigned long long)r->last_applied,
                (unsigned long long)r->log.snapshot.last_index,
                r->configuration.n,
                (unsigned long long)r->configuration_uncommitted_index);
        fprintf(stderr, "    configuration index %llu; changes at",
                (unsigned long long)r->configuration_index);
        for (raft_index k = 1; k <= raft_last_index(r); k++) {
            const struct raft_entry *e = log_entry(&r->log, k);
            if (e != NULL && e->type == RAFT_CHANGE) {
                fprintf(stderr, " %llu/%llu", (unsigned long long)k,
                        (unsigned long long)e->term);
            }
        }
        fprintf(stderr, "\n");
        for (unsigned k = 0; k < r->configuration.n; k++) {
            fprintf(stderr, "    server %llu role %d",
                    (unsigned long long)r->configuration.servers[k].id,
                    r->configuration.servers[k].role);
            if (raft_state(r) == RAFT_LEADER) {
                const struct raft_progress *p = &r->leader_state.progress[k];
                fprintf(stderr, " progress state %d next %llu match %llu",
                        p->state, (unsigned long long)p->next_index,
                        (unsigned long long)p->match_index);
            }
            fprintf(stderr, "\n");
        }
    }
}

static bool quiet(struct cluster *c, void *arg)
{
    struct chaos *ch = arg;
    (void)c;
    reap_done(ch);
    return ch->n_flights == 0 && !ch->change.pending;
}

static bool config_committed(struct cluster *c, void *arg)
{
    struct chaos *ch = arg;
    unsigned l = current_leader(ch);
    const struct raft *r;

    if (l >= c->n) {
        return false;
    }
    r = cluster_raft(c, l);
    return r->configuration_uncommitted_index == 0 || stale_uncommitted(r);
}

/* True unless WR_GUARD_DISABLE switches @protection of the raft_io guard
 * off. */
static bool guarded(unsigned protection)
{
    const char *off = getenv("WR_GUARD_DISABLE");
    return off == NULL || (strtoul(off, NULL, 0) & protection) == 0;
}

/* Fail on every live server showing P5: the raft_io guard clears such a
 * mark after the install (RAFT_IO_GUARD_INSTALL_CONFIG). Only with that
 * protection switched off (WR_GUARD_DISABLE) is P5 merely reported. */
static void check_uncommitted(struct chaos *ch)
{
    struct cluster *c = ch->c;
    bool on = guarded(RAFT_IO_GUARD_INSTALL_CONFIG);

    for (unsigned i = 0; i < c->n; i++) {
        const struct raft *r = cluster_raft(c, i);
        if (c->nodes[i].killed || !stale_uncommitted(r)) {
            continue;
        }
        if (on || getenv("WR_CHAOS_STRICT") != NULL) {
            fail_msg("node %u: configuration change at %llu still marked "
                     "uncommitted, applied up to %llu (libraft 0.15 defect "
                     "P5)",
                     i, (unsigned long long)r->configuration_uncommitted_index,
                     (unsigned long long)r->last_applied);
        }
        ch->p5_servers++;
        fprintf(stderr,
                "chaos seed=%llu: KNOWN LIBRAFT 0.15 DEFECT P5: node %u%s "
                "marks its configuration change at %llu uncommitted, "
                "applied up to %llu, snapshot at %llu: no membership change "
                "nor snapshot from it again\n",
                (unsigned long long)c->seed, i,
                r->state == RAFT_LEADER ? " (the leader)" : "",
                (unsigned long long)r->configuration_uncommitted_index,
                (unsigned long long)r->last_applied,
                (unsigned long long)r->log.snapshot.last_index);
    }
}

/* After settling, every live server holds the leader's configuration: the
 * same servers with the same roles. libraft 0.15's defect P4
 * (raft/README.md): a follower adopts a RAFT_CHANGE entry only if its
 * append completes while it is still a follower; if it has turned candidate
 * by then (cut off, slow disk) it never does, yet commits the entry later
 * and moves configuration_index past it, and may lead with the
 * configuration from before the change. The raft_io guard keeps a follower
 * from turning candidate while such an append is in flight
 * (RAFT_IO_GUARD_HOLD_CANDIDACY). Only with that protection switched off
 * (WR_GUARD_DISABLE) is a divergence merely reported and counted, and
 * only when the harness saw the trigger on one of the two servers
 * (n_change_skipped). */
static void check_configurations(struct chaos *ch)
{
    struct cluster *c = ch->c;
    unsigned li = cluster_ready_leader(c, 60000);
    const struct raft *l = cluster_raft(c, li);
    bool on = guarded(RAFT_IO_GUARD_HOLD_CANDIDACY);

    for (unsigned i = 0; on && i < c->n; i++) {
        if (c->nodes[i].n_change_skipped > 0) {
            fail_msg("node %u: %u appends holding a configuration change "
                     "completed after it stopped being a follower, with "
                     "the raft_io guard on (libraft 0.15 defect P4)",
                     i, c->nodes[i].n_change_skipped);
        }
    }

    for (unsigned i = 0; i < c->n; i++) {
        const struct raft *r = cluster_raft(c, i);
        bool same = r->configuration.n == l->configuration.n;
        bool p4 = c->nodes[i].n_change_skipped > 0 ||
                  c->nodes[li].n_change_skipped > 0;
        for (unsigned k = 0; same && k < l->configuration.n; k++) {
            const struct raft_server *s =
                member(r, l->configuration.servers[k].id);
            same = s != NULL && s->role == l->configuration.servers[k].role;
        }
        if (c->nodes[i].killed || same) {
            continue;
        }
        if (p4 && !on && getenv("WR_CHAOS_STRICT") == NULL) {
            ch->p4_divergences++;
            fprintf(stderr,
                    "chaos seed=%llu: KNOWN LIBRAFT 0.15 DEFECT P4: node %u "
                    "holds a configuration of %u servers, the leader (node "
                    "%u) one of %u, both at configuration index %llu/%llu; "
                    "changes never adopted: %u on node %u, %u on the "
                    "leader\n",
                    (unsigned long long)c->seed, i, r->configuration.n, li,
                    l->configuration.n,
                    (unsigned long long)r->configuration_index,
                    (unsigned long long)l->configuration_index,
                    c->nodes[i].n_change_skipped, i,
                    c->nodes[li].n_change_skipped);
            continue;
        }
        dump(ch);
        fail_msg("node %u holds a configuration of %u servers, the leader "
                 "(node %u) one of %u, both at configuration index "
                 "%llu/%llu%s",
                 i, r->configuration.n, li, l->configuration.n,
                 (unsigned long long)r->configuration_index,
                 (unsigned long long)l->configuration_index,
                 p4 ? " (libraft 0.15 defect P4)" : "");
    }
}

/* Every acknowledged key is present once, every definitely failed one
 * absent, every unknown one at most once, and nothing else is there. */
static void check_keys(struct chaos *ch)
{
    struct cluster *c = ch->c;
    unsigned l = cluster_ready_leader(c, 60000);
    unsigned char *seen;
    unsigned present = 0;

    seen = ch->seen = calloc(ch->next_key + 1, 1);
    assert_non_null(seen);
    for (unsigned d = 0; d < N_DBS; d++) {
        struct exec_req req;
        cluster_read(c, l, db_names[d],
                     "SELECT k, count(*) FROM kv GROUP BY k ORDER BY k",
                     &req);
        for (unsigned row = 0; row < req.rows.n_rows; row++) {
            const struct value *v = &req.rows.values[row * 2];
            uint64_t k = (uint64_t)v[0].integer;
            int64_t n = v[1].integer;
            if (k >= ch->next_key || key_get(ch, k) == KEY_UNSENT) {
                exec_req_close(&req);
                fail_msg("key %" PRIu64 " is in %s but was never written", k,
                         db_names[d]);
            }
            if (n + seen[k] > 1) {
                exec_req_close(&req);
                fail_msg("key %" PRIu64 " is present %lld times", k,
                         (long long)(n + seen[k]));
            }
            seen[k] = 1;
        }
        exec_req_close(&req);
    }
    for (uint64_t k = 0; k < ch->next_key; k++) {
        unsigned state = key_get(ch, k);
        if (state == KEY_ACKED && !seen[k]) {
            for (unsigned i = 0; i < c->n; i++) {
                char sql[128];
                snprintf(sql, sizeof sql,
                         "SELECT count(*) FROM kv WHERE k = %" PRIu64, k);
                fprintf(stderr, "  node %u%s: c0 %lld, c1 %lld\n", i,
                        c->nodes[i].killed ? " (killed)" : "",
                        (long long)fsm_query_int(c->nodes[i].fsm, "c0", sql),
                        (long long)fsm_query_int(c->nodes[i].fsm, "c1", sql));
            }
            fail_msg("acknowledged key %" PRIu64 " is missing", k);
        }
        if (state == KEY_FAILED && seen[k]) {
            fail_msg("key %" PRIu64 " failed definitely but is present", k);
        }
        if (state == KEY_INDEFINITE && seen[k]) {
            ch->indefinite_present++;
        }
        present += seen[k];
    }
    if (present < ch->writes_acked) {
        fail_msg("%u keys present, %u acknowledged", present,
                 ch->writes_acked);
    }
}

static void chaos_free(struct chaos *ch)
{
    free(ch->keys);
    free(ch->seen);
    ch->keys = NULL;
    ch->seen = NULL;
}

static void run_schedule(uint64_t seed, unsigned ops)
{
    static const unsigned thresholds[] = {16, 32, 64, 1024};
    struct cluster_options o;
    struct cluster *c;
    raft_term terms;
    unsigned leaders = 0;
    unsigned snapshots = 0;
    unsigned p4_triggers = 0;
    unsigned c9_rollbacks = 0;

    chaos_free(&chaos);
    memset(&chaos, 0, sizeof chaos);
    memset(&o, 0, sizeof o);
    o.n = 3;
    o.seed = seed;
    o.snapshot_min_bytes = 0;
    o.snapshot_ratio_percent = 0;
    o.checkpoint_threshold = 200;
    c = cluster_create("chaos", &o);
    chaos.c = c;
    chaos.rng = c->seed;
    /* Servers that fall behind often need InstallSnapshot. */
    o.snapshot_threshold = thresholds[rnd(&chaos, 4)];
    for (unsigned i = 0; i < c->n; i++) {
        raft_set_snapshot_threshold(cluster_raft(c, i), o.snapshot_threshold);
        raft_set_snapshot_trailing(cluster_raft(c, i),
                                   o.snapshot_threshold / 2);
        chaos.ever_member[i] = true;
    }
    c->opts.snapshot_threshold = o.snapshot_threshold;
    c->opts.snapshot_trailing = o.snapshot_threshold / 2;
    for (unsigned d = 0; d < N_DBS; d++) {
        cluster_exec_ok(c, db_names[d],
                        "CREATE TABLE kv(seq INTEGER PRIMARY KEY, "
                        "k INTEGER NOT NULL, v BLOB)");
    }

    for (chaos.op = 0; chaos.op < ops; chaos.op++) {
        unsigned action = (unsigned)rnd(&chaos, 100);

        if (action < 40) {
            write_batch(&chaos);
        } else if (action < 46) {
            /* Half of the time the leader, if there is one. */
            unsigned l = cluster_leader(c);
            isolate(&chaos, l < c->n && rnd(&chaos, 2) == 0
                                ? l
                                : (unsigned)rnd(&chaos, c->n));
        } else if (action < 50) {
            split(&chaos);
        } else if (action < 62) {
            heal(&chaos);
            narrate(&chaos, "network healed");
        } else if (action < 68) {
            kill_one(&chaos);
        } else if (action < 76) {
            revive_one(&chaos);
        } else if (action < 84) {
            set_latency(&chaos);
        } else if (action < 94) {
            change_membership(&chaos);
        }
        cluster_step_ms(c, 10 + (unsigned)rnd(&chaos, 290));
        reap_done(&chaos);
    }

    /* Heal: every server that was not shut down comes back, disks get fast,
     * every batch and change learns its outcome. */
    narrate(&chaos, "heal everything");
    for (unsigned i = 0; i < c->n; i++) {
        if (c->nodes[i].n_fatal > 0) {
            fail_msg("node %u stopped: %s", i, c->nodes[i].fatal_msg);
        }
        if (!chaos.removed[i]) {
            cluster_revive(c, i);
        }
        raft_fixture_set_disk_latency(&c->fixture, i, 10);
    }
    heal(&chaos);
    if (!cluster_step_until(c, quiet, &chaos, 120000)) {
        fail_msg("after healing, %u batches and %s change still in flight "
                 "after 120 s of fixture time",
                 chaos.n_flights, chaos.change.pending ? "a" : "no");
    }
    if (!cluster_step_until(c, config_committed, &chaos, 60000)) {
        dump(&chaos);
        fail_msg("no ready leader with a committed configuration");
    }
    reconcile(&chaos, cluster_raft(c, current_leader(&chaos)));
    /* A server that never became a voter or standby (its addition did not
     * commit, or it stayed a spare) receives no entries: shut it down too. */
    for (unsigned i = 0; i < c->n; i++) {
        if (!chaos.ever_member[i]) {
            cluster_kill(c, i);
        }
    }

    /* Every live server applies a barrier of the current term, so the
     * leader check_keys() reads on holds every committed write. */
    dump(&chaos);
    cluster_settle(c);
    check_uncommitted(&chaos);
    check_configurations(&chaos);
    check_keys(&chaos);
    cluster_check(c);
    for (unsigned i = 0; i < c->n; i++) {
        if (c->nodes[i].n_fatal > 0) {
            fail_msg("node %u stopped: %s", i, c->nodes[i].fatal_msg);
        }
        snapshots +=
            raft_fixture_n_recv(&c->fixture, i, RAFT_IO_INSTALL_SNAPSHOT);
    }
    for (unsigned i = 0; i < c->n; i++) {
        p4_triggers += c->nodes[i].n_change_skipped;
        c9_rollbacks += (unsigned)raft_io_guard_stats(&c->nodes[i].guard)
                            ->config_rollbacks;
    }
    terms = cluster_raft(c, cluster_leader(c))->current_term;
    for (raft_term t = 1; t <= terms; t++) {
        leaders += cluster_leader_of_term(c, t) != 0;
    }
    fprintf(stderr,
            "chaos seed=%llu: %u ops, %llu ms; writes %u acked, %u failed, "
            "%u unknown (%u present); %u isolations, %u splits, %u kills, "
            "%u revivals, %u latency changes; %u adds, %u promotions, %u "
            "removals (%u lost); %u servers, %llu terms (%u with a leader), "
            "%u snapshots installed; P4: %u changes not adopted, %u "
            "servers diverged; P5: %u servers; C9: %u rollbacks by the "
            "guard\n",
            (unsigned long long)c->seed, ops,
            (unsigned long long)c->fixture.time, chaos.writes_acked,
            chaos.writes_failed, chaos.writes_indefinite,
            chaos.indefinite_present, chaos.isolations, chaos.splits,
            chaos.kills, chaos.revivals, chaos.latencies, chaos.adds,
            chaos.promotions, chaos.removals, chaos.changes_lost, c->n,
            (unsigned long long)terms, leaders, snapshots, p4_triggers,
            chaos.p4_divergences, chaos.p5_servers, c9_rollbacks);
    totals.seeds++;
    totals.acked += chaos.writes_acked;
    totals.unknown += chaos.writes_indefinite;
    totals.changes += chaos.adds + chaos.promotions + chaos.removals;
    totals.kills += chaos.kills;
    totals.snapshots += snapshots;
    totals.p4_triggers += p4_triggers;
    totals.c9_rollbacks += c9_rollbacks;
    totals.p4_seeds += chaos.p4_divergences > 0;
    totals.p5_seeds += chaos.p5_servers > 0;
    if (chaos.writes_acked == 0) {
        fail_msg("the schedule is degenerate: no write was acknowledged");
    }
    cluster_destroy(c);
    chaos_free(&chaos);
}

/* Many seeded schedules of writes, partitions, kills, revivals, disk
 * latencies and membership changes end with one leader per term, the same
 * entry at every index, every acknowledged write present exactly once and
 * identical, intact databases on every server. */
static void random_schedules_keep_every_acknowledged_write(void **state)
{
    uint64_t n_seeds = env_u64("WR_CHAOS_SEEDS", 300);
    unsigned ops = (unsigned)env_u64("WR_CHAOS_OPS", 300);
    (void)state;

    if (getenv("WR_SEED") != NULL && getenv("WR_SEED")[0] != '\0') {
        run_schedule(0, ops); /* cluster_seed() takes WR_SEED. */
        return;
    }
    for (uint64_t seed = 1; seed <= n_seeds; seed++) {
        run_schedule(seed, ops);
    }
    fprintf(stderr,
            "chaos: %u seeds; %u writes acknowledged, %u unknown; %u "
            "membership changes, %u kills, %u snapshots installed; P4: %u "
            "changes not adopted, configurations diverged on %u seeds; P5 "
            "on %u seeds\n",
            totals.seeds, totals.acked, totals.unknown, totals.changes,
            totals.kills, totals.snapshots, totals.p4_triggers,
            totals.p4_seeds, totals.p5_seeds);
}

/* Schedules in which a follower must roll back an uncommitted membership
 * change whose committed configuration entry a snapshot has already
 * compacted (catalogue C9; libraft 0.15's membershipRollback() dereferences
 * NULL there) end like any other, the raft_io guard having rolled the
 * change back itself. Found by the schedules above: seeds 2267 and 3052 of
 * 300 operations (1 to 6,000 searched; the seeds move whenever the
 * decorator's timing does: 1286 and 5089 of 1,500 operations reached C9
 * before results were held and silent leaders forgotten). With
 * WR_GUARD_DISABLE=512 each of them segfaults. Skipped when WR_SEED
 * replays one schedule. */
static void rollback_after_compaction_keeps_running(void **state)
{
    static const struct {
        uint64_t seed;
        unsigned ops;
    } seeds[] = {{2267, 300}, {3052, 300}};
    unsigned before = totals.c9_rollbacks;
    (void)state;

    if (getenv("WR_SEED") != NULL && getenv("WR_SEED")[0] != '\0') {
        return;
    }
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        unsigned seen = totals.c9_rollbacks;
        run_schedule(seeds[i].seed, seeds[i].ops);
        if (guarded(RAFT_IO_GUARD_ROLLBACK_CONFIG) &&
            totals.c9_rollbacks == seen) {
            fail_msg("seed %llu: the guard rolled no change back; the "
                     "schedule no longer reaches C9",
                     (unsigned long long)seeds[i].seed);
        }
    }
    fprintf(stderr, "chaos: C9: %u rollbacks by the guard\n",
            totals.c9_rollbacks - before);
}

static int teardown(void **state)
{
    cluster_teardown(state);
    chaos_free(&chaos);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(
            random_schedules_keep_every_acknowledged_write, teardown),
        cmocka_unit_test_teardown(rollback_after_compaction_keeps_running,
                                  teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
