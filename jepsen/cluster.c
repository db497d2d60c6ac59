/*
 * The cluster under test: brought up, killed, restarted, changed and
 * stopped with the walraft command (`walraft cluster ...` in
 * DIR/cluster), whose output goes to DIR/walraft.log. Node i listens on
 * port --port + i - 1: by default each in its own network namespace at
 * 10.X.Y.i (netns.h; `walraft cluster up --host --netns-prefix`), else,
 * with --loopback or where namespaces cannot be made, on 127.0.0.1. With
 * the disk nemesis each data directory is a tmpfs of its own.
 */
#include "runner.h"

#include "nemesis.h"
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int walraft_cmd(struct run *r, const char *const *args, char *out,
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

/* Namespaces unless --loopback or they cannot be made; tmpfs data
 * directories for the disk nemesis; then `walraft cluster up`. */
int cluster_start(struct run *r)
{
    char nodes[8], port[8], host[40], prefix[40];
    char net_why[512] = "", disk_why[512] = "";
    const char *up[16 + MAX_NODE_FLAGS];
    int i, n = 0;

    net_names(r);
    for (i = 0; i < r->cfg->nodes; i++) {
        r->node_id[i] = (uint64_t)i + 1;
    }
    if (net_claim(r, net_why, sizeof net_why) != 0) {
        fprintf(stderr, "walraft-jepsen: %s\n", net_why);
        return -1;
    }
    net_sweep(r);
    if (r->cfg->loopback) {
        snprintf(net_why, sizeof net_why, "--loopback");
    } else if (geteuid() != 0) {
        snprintf(net_why, sizeof net_why,
                 "network namespaces need root");
    } else if (net_setup(r, net_why, sizeof net_why) == 0) {
        r->netns = true;
    }
    if (!r->netns) {
        for (i = 0; i < r->cfg->nodes; i++) {
            snprintf(r->addr[i], sizeof r->addr[i], "127.0.0.1:%u",
                     r->cfg->port + (unsigned)i);
        }
    }
    if (r->cfg->nemeses & (1u << NEM_DISK)) {
        r->tmpfs = true;
        for (i = 0; i < r->cfg->nodes && r->tmpfs; i++) {
            if (disk_mount(r, r->node_id[i], disk_why, sizeof disk_why) !=
                0) {
                r->tmpfs = false;
            }
        }
        if (!r->tmpfs) {
            for (i = 0; i < r->cfg->nodes; i++) {
                disk_umount(r, r->node_id[i]);
            }
        }
    }
    if (r->netns) {
        printf("walraft-jepsen: nodes in network namespaces %sn1..%d on "
               "bridge %sbr, %s.0/24 (clients at %s.254)\n",
               r->net_prefix, r->cfg->nodes, r->net_prefix, r->net_subnet,
               r->net_subnet);
    } else {
        printf("walraft-jepsen: nodes on loopback (%s)\n", net_why);
    }
    nemesis_plan(r, r->netns ? NULL : net_why, r->tmpfs ? NULL : disk_why);
    fflush(stdout);

    snprintf(nodes, sizeof nodes, "%d", r->cfg->nodes);
    snprintf(port, sizeof port, "%u", r->cfg->port);
    up[n++] = "cluster";
    up[n++] = "up";
    up[n++] = "--nodes";
    up[n++] = nodes;
    up[n++] = "--dir";
    up[n++] = r->cluster_dir;
    up[n++] = "--port";
    up[n++] = port;
    if (r->netns) {
        net_ip(r, 0, host, sizeof host);
        snprintf(prefix, sizeof prefix, "%sn", r->net_prefix);
        up[n++] = "--host";
        up[n++] = host;
        up[n++] = "--netns-prefix";
        up[n++] = prefix;
    }
    if (r->cfg->unsafe_skip_read_index || r->cfg->n_node_flags > 0) {
        up[n++] = "--";
    }
    if (r->cfg->unsafe_skip_read_index) {
        up[n++] = "--unsafe-skip-read-index";
    }
    for (i = 0; i < r->cfg->n_node_flags; i++) {
        up[n++] = r->cfg->node_flags[i];
    }
    up[n] = NULL;
    r->cluster_up = true;
    if (walraft_cmd(r, up, NULL, 0) != 0) {
        fprintf(stderr, "walraft-jepsen: walraft cluster up failed (see %s)\n",
                r->cmd_log);
        return -1;
    }
    return 0;
}

/* Stop the nodes, then remove their namespaces and disks. Safe to call
 * again, and after a cluster_start that failed half-way. */
void cluster_stop(struct run *r)
{
    const char *down[] = {"cluster", "down", "--dir", r->cluster_dir, NULL};
    char path[PATH_MAX + 16];

    snprintf(path, sizeof path, "%s/cluster.json", r->cluster_dir);
    if (access(path, F_OK) == 0) {
        walraft_cmd(r, down, NULL, 0);
    }
    r->cluster_up = false;
    net_teardown(r);
}

/* `walraft cluster VERB ID`. */
static int node_cmd(struct run *r, const char *verb, uint64_t id)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%llu", (unsigned long long)id);
    const char *args[] = {"cluster", verb, ids, "--dir", r->cluster_dir,
                          NULL};
    return walraft_cmd(r, args, NULL, 0) == 0 ? 0 : -1;
}

int node_transfer(struct run *r, uint64_t id)
{
    return node_cmd(r, "transfer", id);
}

int node_remove(struct run *r, uint64_t id)
{
    return node_cmd(r, "remove", id);
}

int slot_of(const struct run *r, uint64_t id)
{
    int i;
    for (i = 0; i < r->cfg->nodes; i++) {
        if (r->node_id[i] == id) {
            return i;
        }
    }
    return -1;
}

/* The highest node id DIR/cluster/cluster.json records, removed nodes
 * included (`walraft cluster add` takes the next), or 0. */
static uint64_t max_id(const struct run *r)
{
    char path[PATH_MAX + 16];
    uint64_t max = 0;
    size_t i;
    json_t *node;

    snprintf(path, sizeof path, "%s/cluster.json", r->cluster_dir);
    json_t *root = json_load_file(path, 0, NULL);
    json_array_foreach(json_object_get(root, "nodes"), i, node)
    {
        json_int_t id = json_integer_value(json_object_get(node, "id"));
        if (id > 0 && (uint64_t)id > max) {
            max = (uint64_t)id;
        }
    }
    json_decref(root);
    return max;
}

int node_add(struct run *r, int slot, uint64_t *id)
{
    char ns[40], why[512];
    const char *args[10];
    int n = 0;
    uint64_t next = max_id(r) + 1;

    if (next == 1) {
        return -1;
    }
    if (r->tmpfs && disk_mount(r, next, why, sizeof why) != 0) {
        fprintf(stderr, "walraft-jepsen: %s\n", why);
        return -1;
    }
    args[n++] = "cluster";
    args[n++] = "add";
    args[n++] = "--dir";
    args[n++] = r->cluster_dir;
    args[n++] = "--address";
    args[n++] = r->addr[slot];
    if (r->netns) {
        net_ns_name(r, slot, ns, sizeof ns);
        args[n++] = "--netns";
        args[n++] = ns;
    }
    args[n] = NULL;
    /* The record has the node as soon as it was started, whether or not
     * it joined in time: from now on the slot is its. */
    int rc = walraft_cmd(r, args, NULL, 0);
    if (max_id(r) >= next) {
        r->node_id[slot] = next;
        *id = next;
    }
    return rc == 0 ? 0 : -1;
}

int cluster_revive(struct run *r)
{
    const char *args[] = {"cluster", "up", "--dir", r->cluster_dir, NULL};
    return walraft_cmd(r, args, NULL, 0) == 0 ? 0 : -1;
}

bool node_running(struct run *r, uint64_t id)
{
    const char *args[] = {"cluster", "status", "--format", "json", "--dir",
                          r->cluster_dir, NULL};
    char out[16384];
    bool running = false;
    size_t i;
    json_t *node;

    if (walraft_cmd(r, args, out, sizeof out) != 0) {
        return true; /* Cannot tell: do not restart it. */
    }
    json_t *arr = json_loads(out, 0, NULL);
    json_array_foreach(arr, i, node)
    {
        if ((uint64_t)json_integer_value(json_object_get(node, "id")) == id) {
            running = json_integer_value(json_object_get(node, "pid")) > 0;
        }
    }
    json_decref(arr);
    return running;
}

int node_kill(struct run *r, uint64_t id)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%llu", (unsigned long long)id);
    const char *args[] = {"cluster", "kill", ids, "--dir", r->cluster_dir,
                          NULL};
    return walraft_cmd(r, args, NULL, 0) == 0 ? 0 : -1;
}

int node_restart(struct run *r, uint64_t id)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%llu", (unsigned long long)id);
    const char *args[] = {"cluster", "restart", ids, "--dir", r->cluster_dir,
                          NULL};
    return walraft_cmd(r, args, NULL, 0) == 0 ? 0 : -1;
}

/* One look at `walraft cluster status`, for cluster_all_up(). */
static int all_up_once(struct run *r, char *why, size_t size)
{
    const char *args[] = {"cluster", "status", "--format", "json", "--dir",
                          r->cluster_dir, NULL};
    char out[16384];
    json_t *arr, *node;
    size_t i;
    int rv = 0;

    if (walraft_cmd(r, args, out, sizeof out) != 0 ||
        (arr = json_loads(out, 0, NULL)) == NULL) {
        snprintf(why, size, "walraft cluster status failed after the heal");
        return -1;
    }
    json_array_foreach(arr, i, node)
    {
        if (!json_is_true(json_object_get(node, "up"))) {
            json_int_t id = json_integer_value(json_object_get(node, "id"));
            snprintf(why, size,
                     "node %lld is %s after the heal (see its log in %s)",
                     (long long)id,
                     json_integer_value(json_object_get(node, "pid")) > 0
                         ? "not answering"
                         : "not running",
                     r->cluster_dir);
            rv = -1;
            break;
        }
    }
    json_decref(arr);
    return rv;
}

int cluster_all_up(struct run *r, char *why, size_t size)
{
    /* A node restarted by the heal may still be loading its data. */
    for (int i = 0; i < 20; i++) {
        if (all_up_once(r, why, size) == 0) {
            return 0;
        }
        sleep_ns(NS_PER_S / 2);
    }
    return -1;
}

/* "state": "leader" in `walraft cluster status --format json`. */
uint64_t find_leader(struct run *r, pid_t *pid)
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

bool logs_dirty(const struct run *r, char *why, size_t size)
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
