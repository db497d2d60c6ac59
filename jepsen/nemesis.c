/*
 * The nemeses (nemesis.h). Each fault function injects its fault, holds
 * it, heals it, and records both ends in the history. Node ids are looked
 * up per slot (r->node_id), since the membership nemesis replaces nodes.
 *
 * A partition is a grudge: for each node, the nodes whose packets it
 * drops (Jepsen's term). It is recorded as {"kind": name, "grudge":
 * {"ID": [IDs it does not hear], ...}} and applied as nft rules in the
 * nodes' namespaces (netns.h).
 */
#include "nemesis.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "netns.h"

typedef void (*fault_fn)(struct run *r, uint64_t *rs);

enum { NEED_NETNS = 1, NEED_TMPFS = 2, NEED_5 = 4 };

static void fault_pause(struct run *r, uint64_t *rs);
static void fault_kill(struct run *r, uint64_t *rs);
static void fault_partition(struct run *r, uint64_t *rs);
static void fault_partition_one(struct run *r, uint64_t *rs);
static void fault_partition_leader(struct run *r, uint64_t *rs);
static void fault_partition_halves(struct run *r, uint64_t *rs);
static void fault_partition_ring(struct run *r, uint64_t *rs);
static void fault_partition_bridge(struct run *r, uint64_t *rs);
static void fault_partition_oneway(struct run *r, uint64_t *rs);
static void fault_loss(struct run *r, uint64_t *rs);
static void fault_membership(struct run *r, uint64_t *rs);
static void fault_disk(struct run *r, uint64_t *rs);
static void fault_transfer(struct run *r, uint64_t *rs);

static const struct {
    const char *name;
    fault_fn fault;
    int needs;
    const char *what;
} nemeses[NEM_COUNT] = {
    [NEM_PAUSE] = {"pause", fault_pause, 0,
                   "SIGSTOP the leader 2-8 s, SIGCONT"},
    [NEM_KILL] = {"kill", fault_kill, 0, "kill -9 a node, restart it"},
    [NEM_PARTITION] = {"partition", fault_partition, NEED_NETNS,
                       "one of the partition-* at random each time"},
    [NEM_PARTITION_ONE] = {"partition-one", fault_partition_one, NEED_NETNS,
                           "a random node isolated"},
    [NEM_PARTITION_LEADER] = {"partition-leader", fault_partition_leader,
                              NEED_NETNS, "the leader isolated"},
    [NEM_PARTITION_HALVES] = {"partition-halves", fault_partition_halves,
                              NEED_NETNS, "random halves"},
    [NEM_PARTITION_RING] = {"partition-ring", fault_partition_ring,
                            NEED_NETNS | NEED_5,
                            "each node hears its 2 ring neighbours (5 "
                            "nodes)"},
    [NEM_PARTITION_BRIDGE] = {"partition-bridge", fault_partition_bridge,
                              NEED_NETNS,
                              "two halves, one node hears both"},
    [NEM_PARTITION_ONEWAY] = {"partition-oneway", fault_partition_oneway,
                              NEED_NETNS,
                              "a node that cannot receive, or cannot send"},
    [NEM_LOSS] = {"loss", fault_loss, NEED_NETNS,
                  "drop 10-30% of packets into some nodes"},
    [NEM_MEMBERSHIP] = {"membership", fault_membership, 0,
                        "remove a non-leader, add a fresh node in its "
                        "place"},
    [NEM_DISK] = {"disk", fault_disk, NEED_TMPFS,
                  "fill a node's 256 MiB tmpfs, free it, restart the node "
                  "if it stopped"},
    [NEM_TRANSFER] = {"transfer", fault_transfer, 0,
                      "3-5 leadership transfers in a row"},
};

int nemesis_parse(const char *list, unsigned *set)
{
    char *copy = strdup(list), *save = NULL, *tok;
    int i, rv = 0;

    if (copy == NULL) {
        return -1;
    }
    *set = 0;
    for (tok = strtok_r(copy, ",", &save); tok != NULL && rv == 0;
         tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "none") == 0) {
            continue;
        }
        for (i = 0; i < NEM_COUNT && strcmp(tok, nemeses[i].name) != 0; i++) {
        }
        if (i == NEM_COUNT) {
            fprintf(stderr, "--nemesis: no nemesis \"%s\"; there are", tok);
            for (i = 0; i < NEM_COUNT; i++) {
                fprintf(stderr, " %s", nemeses[i].name);
            }
            fprintf(stderr, " and none\n");
            rv = -1;
            break;
        }
        *set |= 1u << i;
    }
    free(copy);
    return rv;
}

json_t *nemesis_names_json(unsigned set)
{
    json_t *arr = json_array();
    int i;
    for (i = 0; i < NEM_COUNT && arr != NULL; i++) {
        if (set & (1u << i)) {
            json_array_append_new(arr, json_string(nemeses[i].name));
        }
    }
    return arr;
}

void nemesis_names(unsigned set, char *buf, size_t size)
{
    size_t len = 0;
    int i;
    buf[0] = '\0';
    for (i = 0; i < NEM_COUNT && len < size; i++) {
        if (set & (1u << i)) {
            len += (size_t)snprintf(buf + len, size - len, "%s%s",
                                    len > 0 ? "," : "", nemeses[i].name);
        }
    }
    if (len == 0) {
        snprintf(buf, size, "none");
    }
}

void nemesis_usage(FILE *out)
{
    int i;
    for (i = 0; i < NEM_COUNT; i++) {
        fprintf(out, "  %-17s %s%s\n", nemeses[i].name, nemeses[i].what,
                nemeses[i].needs & NEED_NETNS ? " [namespaces]" : "");
    }
}

void nemesis_plan(struct run *r, const char *net_why, const char *disk_why)
{
    unsigned set = r->cfg->nemeses;
    size_t len = 0;
    char names[256];
    int i;

    r->skipped = 0;
    r->skipped_why[0] = '\0';
    for (i = 0; i < NEM_COUNT; i++) {
        const char *why = NULL;
        if (!(set & (1u << i))) {
            continue;
        }
        if ((nemeses[i].needs & NEED_NETNS) && net_why != NULL) {
            why = "needs network namespaces";
        } else if ((nemeses[i].needs & NEED_TMPFS) && disk_why != NULL) {
            why = disk_why;
        } else if ((nemeses[i].needs & NEED_5) && r->cfg->nodes < 5) {
            why = "needs 5 nodes (on 3 every node neighbours both others)";
        }
        if (why != NULL) {
            r->skipped |= 1u << i;
            len += (size_t)snprintf(r->skipped_why + len,
                                    len < sizeof r->skipped_why
                                        ? sizeof r->skipped_why - len
                                        : 0,
                                    "%s%s: %s", len > 0 ? "; " : "",
                                    nemeses[i].name, why);
            if (len >= sizeof r->skipped_why) {
                len = sizeof r->skipped_why - 1;
            }
        }
    }
    if (r->skipped != 0) {
        nemesis_names(r->skipped, names, sizeof names);
        printf("walraft-jepsen: skipped nemeses %s (%s%s%s)\n", names,
               r->skipped_why, net_why != NULL ? "; namespaces: " : "",
               net_why != NULL ? net_why : "");
    }
}

/* Sleep @ns, or less if the run is interrupted. */
static void nap(const struct run *r, int64_t ns)
{
    int64_t end = mono_ns() + ns;
    while (run_going(r) && mono_ns() < end) {
        int64_t left = end - mono_ns();
        sleep_ns(left < NS_PER_S / 10 ? left : NS_PER_S / 10);
    }
}

/* Hold a fault for 2-4 s. */
static void hold(struct run *r, uint64_t *rs)
{
    nap(r, 2 * NS_PER_S + (int64_t)(rnd(rs) % (2 * NS_PER_S)));
}

/* The leader's id (and pid), trying for a few seconds; 0 if none. */
static uint64_t leader(struct run *r, pid_t *pid)
{
    pid_t ignored;
    uint64_t id = 0;
    int tries;
    for (tries = 0; tries < 10 && id == 0 && run_going(r); tries++) {
        if ((id = find_leader(r, pid != NULL ? pid : &ignored)) == 0) {
            sleep_ns(NS_PER_S / 2);
        }
    }
    return id;
}

static json_t *id_json(const struct run *r, int slot)
{
    return json_integer((json_int_t)r->node_id[slot]);
}

static void fault_pause(struct run *r, uint64_t *rs)
{
    pid_t pid = 0;
    uint64_t id = leader(r, &pid);

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
    if (rnd(rs) % 3 == 0) {
        /* 6-8 s: past the workers' 5 s request time-out (runner.c), so
         * that what was in flight on the paused leader ends unknown
         * ("info"), and the checkers see indefinite outcomes. */
        nap(r, 6 * NS_PER_S + (int64_t)(rnd(rs) % (2 * NS_PER_S)));
    } else {
        hold(r, rs);
    }
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
    int slot = (int)(rnd(rs) % (uint64_t)r->cfg->nodes);
    uint64_t id = r->node_id[slot];

    atomic_store(&r->faulting, true);
    hist_emit(r, -1, "info", "kill", -1, json_integer((json_int_t)id),
              node_kill(r, id) == 0 ? NULL : "walraft cluster kill failed");
    hold(r, rs);
    hist_emit(r, -1, "info", "restart", -1, json_integer((json_int_t)id),
              node_restart(r, id) == 0 ? NULL
                                       : "walraft cluster restart failed");
    sleep_ns(NS_PER_S);
    atomic_store(&r->faulting, false);
}

/*
 * Partitions.
 */

/* A random order of the slots. */
static void shuffle(uint64_t *rs, int *order, int n)
{
    int i;
    for (i = 0; i < n; i++) {
        order[i] = i;
    }
    for (i = n - 1; i > 0; i--) {
        int j = (int)(rnd(rs) % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* Cut slots @a and @b from each other. */
static void cut(unsigned *grudge, int a, int b)
{
    grudge[a] |= 1u << b;
    grudge[b] |= 1u << a;
}

/* Apply @grudge (per slot: the slots it drops) with @loss_pct, record it
 * as @f with @kind, hold it, heal it. */
static void inflict(struct run *r, uint64_t *rs, const char *f,
                    const char *kind, const unsigned *grudge, int loss_pct)
{
    json_t *value = json_pack("{s:s}", "kind", kind);
    json_t *g = loss_pct > 0 ? json_array() : json_object();
    const char *error = NULL;
    int i, j;

    /* A partition's grudge: who does not hear whom. For loss, @grudge
     * only says which nodes lose packets. */
    for (i = 0; i < r->cfg->nodes; i++) {
        json_t *from;
        char key[24];
        if (loss_pct > 0) {
            if (grudge[i] != 0) {
                json_array_append_new(g, id_json(r, i));
            }
            continue;
        }
        from = json_array();
        for (j = 0; j < r->cfg->nodes; j++) {
            if (grudge[i] & (1u << j)) {
                json_array_append_new(from, id_json(r, j));
            }
        }
        snprintf(key, sizeof key, "%llu", (unsigned long long)r->node_id[i]);
        json_object_set_new(g, key, from);
    }
    if (loss_pct > 0) {
        json_object_set_new(value, "nodes", g);
        json_object_set_new(value, "percent", json_integer(loss_pct));
    } else {
        json_object_set_new(value, "grudge", g);
    }
    atomic_store(&r->faulting, true);
    for (i = 0; i < r->cfg->nodes; i++) {
        if (grudge[i] != 0 &&
            net_block(r, i, loss_pct > 0 ? 0 : grudge[i], loss_pct) != 0) {
            error = "nft failed (see walraft.log)";
        }
    }
    hist_emit(r, -1, "info", f, -1, value, error);
    hold(r, rs);
    error = net_heal(r) == 0 ? NULL : "nft failed (see walraft.log)";
    hist_emit(r, -1, "info", loss_pct > 0 ? "heal-loss" : "heal-partition",
              -1, json_pack("{s:s}", "kind", kind), error);
    sleep_ns(NS_PER_S);
    atomic_store(&r->faulting, false);
}

static void isolate(struct run *r, uint64_t *rs, const char *kind, int slot)
{
    unsigned grudge[MAX_NODES] = {0};
    int i;
    for (i = 0; i < r->cfg->nodes; i++) {
        if (i != slot) {
            cut(grudge, slot, i);
        }
    }
    inflict(r, rs, "partition", kind, grudge, 0);
}

static void fault_partition_one(struct run *r, uint64_t *rs)
{
    isolate(r, rs, "partition-one",
            (int)(rnd(rs) % (uint64_t)r->cfg->nodes));
}

static void fault_partition_leader(struct run *r, uint64_t *rs)
{
    uint64_t id = leader(r, NULL);
    int slot = slot_of(r, id);
    if (slot < 0) {
        hist_emit(r, -1, "info", "partition", -1,
                  json_pack("{s:s}", "kind", "partition-leader"),
                  "no leader found");
        return;
    }
    isolate(r, rs, "partition-leader", slot);
}

static void fault_partition_halves(struct run *r, uint64_t *rs)
{
    unsigned grudge[MAX_NODES] = {0};
    int order[MAX_NODES], n = r->cfg->nodes, half = n / 2, i, j;
    shuffle(rs, order, n);
    for (i = 0; i < half; i++) {
        for (j = half; j < n; j++) {
            cut(grudge, order[i], order[j]);
        }
    }
    inflict(r, rs, "partition", "partition-halves", grudge, 0);
}

static void fault_partition_ring(struct run *r, uint64_t *rs)
{
    unsigned grudge[MAX_NODES] = {0};
    int order[MAX_NODES], n = r->cfg->nodes, i, j;
    shuffle(rs, order, n);
    /* Positions i and j are neighbours when they are 1 apart around the
     * ring; every other pair is cut. */
    for (i = 0; i < n; i++) {
        for (j = i + 1; j < n; j++) {
            int d = j - i;
            if (d != 1 && d != n - 1) {
                cut(grudge, order[i], order[j]);
            }
        }
    }
    inflict(r, rs, "partition", "partition-ring", grudge, 0);
}

static void fault_partition_bridge(struct run *r, uint64_t *rs)
{
    unsigned grudge[MAX_NODES] = {0};
    int order[MAX_NODES], n = r->cfg->nodes, half = n / 2, i, j;
    /* order[0..half) and order[half+1..n) do not hear each other;
     * order[half], the bridge, hears both. */
    shuffle(rs, order, n);
    for (i = 0; i < half; i++) {
        for (j = half + 1; j < n; j++) {
            cut(grudge, order[i], order[j]);
        }
    }
    inflict(r, rs, "partition", "partition-bridge", grudge, 0);
}

static void fault_partition_oneway(struct run *r, uint64_t *rs)
{
    unsigned grudge[MAX_NODES] = {0};
    int slot = (int)(rnd(rs) % (uint64_t)r->cfg->nodes), i;
    bool deaf = rnd(rs) % 2 == 0;
    for (i = 0; i < r->cfg->nodes; i++) {
        if (i == slot) {
            continue;
        }
        if (deaf) {
            grudge[slot] |= 1u << i; /* It sends, but hears nobody. */
        } else {
            grudge[i] |= 1u << slot; /* It hears all, nobody hears it. */
        }
    }
    inflict(r, rs, "partition",
            deaf ? "partition-oneway (cannot receive)"
                 : "partition-oneway (cannot send)",
            grudge, 0);
}

static void fault_partition(struct run *r, uint64_t *rs)
{
    static const fault_fn kinds[] = {
        fault_partition_one,    fault_partition_leader,
        fault_partition_halves, fault_partition_bridge,
        fault_partition_oneway, fault_partition_ring,
    };
    size_t n = sizeof kinds / sizeof *kinds - (r->cfg->nodes < 5 ? 1 : 0);
    kinds[rnd(rs) % n](r, rs);
}

static void fault_loss(struct run *r, uint64_t *rs)
{
    unsigned grudge[MAX_NODES] = {0};
    int n = r->cfg->nodes, i;
    unsigned some = 0;
    while (some == 0) {
        some = (unsigned)(rnd(rs) % (1u << n));
    }
    for (i = 0; i < n; i++) {
        grudge[i] = (some & (1u << i)) ? 1u : 0;
    }
    inflict(r, rs, "loss", "loss", grudge, 10 + (int)(rnd(rs) % 21));
}

/*
 * Membership, disk, leadership.
 */

static void fault_membership(struct run *r, uint64_t *rs)
{
    uint64_t lead = leader(r, NULL), old, id = 0;
    int slot, tries;
    char addr[64];

    if (lead == 0) {
        hist_emit(r, -1, "info", "remove", -1, NULL, "no leader found");
        return;
    }
    /* One member at a time, never the leader, and always put back before
     * the next fault: the cluster keeps a majority of its voters. */
    for (tries = 0; tries < 10; tries++) {
        slot = (int)(rnd(rs) % (uint64_t)r->cfg->nodes);
        if (r->node_id[slot] != lead) {
            break;
        }
    }
    if (r->node_id[slot] == lead) {
        return;
    }
    old = r->node_id[slot];
    snprintf(addr, sizeof addr, "%s", r->addr[slot]);
    atomic_store(&r->faulting, true);
    if (node_remove(r, old) != 0) {
        hist_emit(r, -1, "info", "remove", -1,
                  json_pack("{s:I, s:s}", "node", (json_int_t)old,
                            "address", addr),
                  "walraft cluster remove failed");
        /* It may be half removed: make sure it runs, whatever it is. */
        cluster_revive(r);
        atomic_store(&r->faulting, false);
        return;
    }
    atomic_store(&r->removed_slot, slot + 1);
    hist_emit(r, -1, "info", "remove", -1,
              json_pack("{s:I, s:s}", "node", (json_int_t)old, "address",
                        addr),
              NULL);
    if (r->tmpfs) {
        disk_umount(r, old);
    }
    hold(r, rs);
    int rc = node_add(r, slot, &id);
    if (id != 0) {
        atomic_store(&r->removed_slot, 0);
    }
    hist_emit(r, -1, "info", "add", -1,
              json_pack("{s:I, s:I, s:s}", "node", (json_int_t)id,
                        "replaces", (json_int_t)old, "address", addr),
              rc == 0 ? NULL : "walraft cluster add failed");
    sleep_ns(NS_PER_S);
    atomic_store(&r->faulting, false);
}

/* Fill @path's filesystem up to @leave free bytes: fallocate most of it,
 * then write the rest. Returns the bytes taken. Only ever a tmpfs of the
 * run's own: should a data directory not be one (a mount that failed, a
 * node re-added elsewhere), filling it would fill the machine's disk. */
static uint64_t fill(const char *path, uint64_t leave)
{
    char dir[PATH_MAX], buf[65536];
    struct statvfs st;
    struct statfs fs;
    uint64_t avail, taken = 0;
    int fd;

    snprintf(dir, sizeof dir, "%s", path);
    if (strrchr(dir, '/') != NULL) {
        *strrchr(dir, '/') = '\0';
    }
    if (statfs(dir, &fs) != 0 || fs.f_type != TMPFS_MAGIC ||
        statvfs(dir, &st) != 0) {
        return 0;
    }
    avail = (uint64_t)st.f_bavail * st.f_frsize;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return 0;
    }
    if (avail > leave + sizeof buf &&
        fallocate(fd, 0, 0, (off_t)(avail - leave - sizeof buf)) == 0) {
        taken = avail - leave - sizeof buf;
    }
    memset(buf, 0xba, sizeof buf);
    for (;;) {
        size_t n = sizeof buf;
        if (statvfs(dir, &st) != 0) {
            break;
        }
        avail = (uint64_t)st.f_bavail * st.f_frsize;
        if (avail <= leave) {
            break;
        }
        if (avail - leave < n) {
            n = (size_t)(avail - leave);
        }
        ssize_t w = pwrite(fd, buf, n, (off_t)taken);
        if (w <= 0) {
            break;
        }
        taken += (uint64_t)w;
    }
    close(fd);
    return taken;
}

static void fault_disk(struct run *r, uint64_t *rs)
{
    int slot = (int)(rnd(rs) % (uint64_t)r->cfg->nodes);
    uint64_t id = r->node_id[slot];
    /* Full, or just below walraftd's --min-free-space default (64 MiB). */
    bool full = rnd(rs) % 2 == 0;
    uint64_t leave = full ? 0 : 1u << 20;
    char path[PATH_MAX];
    uint64_t taken;

    disk_balloon_path(r, id, path, sizeof path);
    atomic_store(&r->faulting, true);
    atomic_store(&r->balloon_slot, slot + 1);
    taken = fill(path, leave);
    hist_emit(r, -1, "info", "disk-fill", -1,
              json_pack("{s:I, s:s, s:I, s:I}", "node", (json_int_t)id,
                        "mode", full ? "full" : "nearly full", "balloon",
                        (json_int_t)taken, "free_left", (json_int_t)leave),
              taken > 0 ? NULL
                        : "no balloon written: not the run's own tmpfs, "
                          "or no room");
    hold(r, rs);
    nap(r, NS_PER_S);
    unlink(path);
    atomic_store(&r->balloon_slot, 0);
    bool up = node_running(r, id);
    hist_emit(r, -1, "info", "disk-free", -1,
              json_pack("{s:I, s:b}", "node", (json_int_t)id, "running", up),
              NULL);
    if (!up) {
        /* Stopping on a storage error is by design (raft/README.md U1):
         * with the space back it must come up with its data. */
        hist_emit(r, -1, "info", "restart", -1, json_integer((json_int_t)id),
                  node_restart(r, id) == 0
                      ? NULL
                      : "walraft cluster restart failed");
    }
    sleep_ns(NS_PER_S);
    atomic_store(&r->faulting, false);
}

static void fault_transfer(struct run *r, uint64_t *rs)
{
    uint64_t lead = leader(r, NULL);
    int n = 3 + (int)(rnd(rs) % 3), i;

    atomic_store(&r->faulting, true);
    for (i = 0; i < n && run_going(r); i++) {
        int slot = (int)(rnd(rs) % (uint64_t)r->cfg->nodes);
        if (r->node_id[slot] == lead) {
            slot = (slot + 1 + (int)(rnd(rs) % (uint64_t)(r->cfg->nodes - 1))) %
                   r->cfg->nodes;
        }
        uint64_t to = r->node_id[slot];
        int64_t t0 = mono_ns();
        int rc = node_transfer(r, to);
        hist_emit(r, -1, "info", "transfer", -1,
                  json_pack("{s:I, s:I, s:I}", "from", (json_int_t)lead,
                            "to", (json_int_t)to, "ms",
                            (json_int_t)((mono_ns() - t0) / 1000000)),
                  rc == 0 ? NULL : "walraft cluster transfer failed");
        if (rc == 0) {
            lead = to;
        }
    }
    sleep_ns(NS_PER_S);
    atomic_store(&r->faulting, false);
}

/* A fault lasts at most about 10 s (a restart waits for the node), so none
 * starts later than that before the end of the fault period. The enabled
 * nemeses take turns from a random first one, so that even a short run
 * has each. */
void *nemesis_main(void *arg)
{
    struct run *r = arg;
    uint64_t rs = rnd_seed(r->cfg->seed, 0xfa417);
    unsigned set = r->cfg->nemeses & ~r->skipped;
    int next = (int)(rnd(&rs) % NEM_COUNT);

    if (set == 0) {
        return NULL;
    }
    nap(r, 3 * NS_PER_S);
    while (run_going(r) && run_now(r) + 10 * NS_PER_S < r->faults_end_ns) {
        while (!(set & (1u << next))) {
            next = (next + 1) % NEM_COUNT;
        }
        nemeses[next].fault(r, &rs);
        next = (next + 1) % NEM_COUNT;
        nap(r, 2 * NS_PER_S + (int64_t)(rnd(&rs) % (2 * NS_PER_S)));
    }
    return NULL;
}

/* A nemesis event during the heal, if the history is still open. */
static void heal_emit(struct run *r, const char *f, json_t *value,
                      const char *error)
{
    if (r->hist != NULL) {
        hist_emit(r, -1, "info", f, -1, value, error);
    } else {
        json_decref(value);
    }
}

void nemesis_heal(struct run *r)
{
    int slot;

    if (atomic_load(&r->paused_pid) > 0) {
        kill(atomic_load(&r->paused_pid), SIGCONT);
        atomic_store(&r->paused_pid, 0);
    }
    if (atomic_load(&r->net_faulted)) {
        heal_emit(r, "heal-partition", json_pack("{s:s}", "kind", "all"),
                  net_heal(r) == 0 ? NULL : "nft failed");
    }
    if ((slot = atomic_load(&r->balloon_slot)) > 0) {
        char path[PATH_MAX];
        disk_balloon_path(r, r->node_id[slot - 1], path, sizeof path);
        unlink(path);
        atomic_store(&r->balloon_slot, 0);
        heal_emit(r, "disk-free",
                  json_integer((json_int_t)r->node_id[slot - 1]), NULL);
    }
    if (!r->cluster_up || r->cfg->nemeses == 0) {
        return;
    }
    if ((slot = atomic_load(&r->removed_slot)) > 0) {
        uint64_t id = 0;
        int rc = node_add(r, slot - 1, &id);
        atomic_store(&r->removed_slot, 0);
        heal_emit(r, "add", json_pack("{s:I}", "node", (json_int_t)id),
                  rc == 0 ? NULL : "walraft cluster add failed");
    }
    /* A node killed, or stopped on a full disk, whose restart did not
     * happen or failed. */
    if (cluster_revive(r) != 0) {
        heal_emit(r, "revive", NULL, "walraft cluster up failed");
    }
}
