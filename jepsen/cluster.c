/*
 * The cluster under test: brought up, killed, restarted and stopped with
 * the walraft command (`walraft cluster ...` in DIR/cluster), whose
 * output goes to DIR/walraft.log. The nodes listen on loopback, node i on
 * port --port + i - 1.
 */
#include "runner.h"

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

int cluster_start(struct run *r)
{
    char nodes[8], port[8];
    int i;

    snprintf(nodes, sizeof nodes, "%d", r->cfg->nodes);
    snprintf(port, sizeof port, "%u", r->cfg->port);
    const char *up[] = {"cluster", "up", "--nodes", nodes, "--dir",
                        r->cluster_dir, "--port", port,
                        r->cfg->unsafe_skip_read_index ? "--" : NULL,
                        "--unsafe-skip-read-index", NULL};
    for (i = 0; i < r->cfg->nodes; i++) {
        snprintf(r->addr[i], sizeof r->addr[i], "127.0.0.1:%u",
                 r->cfg->port + (unsigned)i);
    }
    if (walraft_cmd(r, up, NULL, 0) != 0) {
        fprintf(stderr, "walraft-jepsen: walraft cluster up failed (see %s)\n",
                r->cmd_log);
        return -1;
    }
    return 0;
}

void cluster_stop(struct run *r)
{
    const char *down[] = {"cluster", "down", "--dir", r->cluster_dir, NULL};
    walraft_cmd(r, down, NULL, 0);
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
