/*
 * The nodes' own network and disks (netns.h): iproute2 and nft commands,
 * and tmpfs mounts.
 */
#include "netns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define NFT_TABLE "walraft_jepsen"

/* The claim on the run's prefix (net_claim), held until net_teardown or
 * the process's end: one run per process. */
static int claim_fd = -1;

/* @name's path in the usual directories, so that a PATH without the sbin
 * directories (a test runner's) still finds ip and nft. */
static void tool_path(const char *name, char *buf, size_t size)
{
    static const char *const dirs[] = {"/usr/sbin", "/sbin", "/usr/bin",
                                       "/bin", "/usr/local/sbin"};
    size_t i;
    for (i = 0; i < sizeof dirs / sizeof *dirs && strchr(name, '/') == NULL;
         i++) {
        snprintf(buf, size, "%s/%s", dirs[i], name);
        if (access(buf, X_OK) == 0) {
            return;
        }
    }
    snprintf(buf, size, "%s", name);
}

int sys_cmd(struct run *r, const char *const *argv, const char *input,
            char *out, size_t size)
{
    int in[2] = {-1, -1}, outp[2] = {-1, -1}, status, rv = -1;
    posix_spawn_file_actions_t fa;
    char exe[PATH_MAX];
    pid_t pid;
    FILE *log;

    log = fopen(r->cmd_log, "a");
    if (log != NULL) {
        fprintf(log, "+");
        for (const char *const *a = argv; *a != NULL; a++) {
            fprintf(log, " %s", *a);
        }
        fprintf(log, "\n");
        if (input != NULL) {
            fprintf(log, "%s", input);
        }
        fclose(log);
    }
    tool_path(argv[0], exe, sizeof exe);
    if ((input != NULL && pipe2(in, O_CLOEXEC) != 0) ||
        (out != NULL && pipe2(outp, O_CLOEXEC) != 0)) {
        goto out;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, r->cmd_log,
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out != NULL) {
        posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    } else {
        posix_spawn_file_actions_adddup2(&fa, 2, 1);
    }
    if (input != NULL) {
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    } else {
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    }
    if (posix_spawnp(&pid, exe, &fa, NULL, (char *const *)argv, environ) !=
        0) {
        posix_spawn_file_actions_destroy(&fa);
        goto out;
    }
    posix_spawn_file_actions_destroy(&fa);
    if (input != NULL) {
        size_t len = strlen(input), done = 0;
        close(in[0]);
        in[0] = -1;
        while (done < len) {
            ssize_t n = write(in[1], input + done, len - done);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                break;
            }
            done += (size_t)n;
        }
        close(in[1]);
        in[1] = -1;
    }
    if (out != NULL) {
        size_t len = 0;
        ssize_t got;
        close(outp[1]);
        outp[1] = -1;
        while (len < size - 1 &&
               ((got = read(outp[0], out + len, size - 1 - len)) > 0 ||
                (got < 0 && errno == EINTR))) {
            if (got > 0) {
                len += (size_t)got;
            }
        }
        out[len] = '\0';
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            goto out;
        }
    }
    rv = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
out:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0) {
            close(in[i]);
        }
        if (outp[i] >= 0) {
            close(outp[i]);
        }
    }
    return rv;
}

void net_names(struct run *r)
{
    unsigned port = r->cfg->port;
    snprintf(r->net_prefix, sizeof r->net_prefix, "wj%u", port);
    snprintf(r->net_subnet, sizeof r->net_subnet, "10.%u.%u",
             (port >> 8) & 255, port & 255);
}

int net_claim(struct run *r, char *why, size_t size)
{
    const char *dir = access("/run/lock", W_OK) == 0 ? "/run/lock" : "/tmp";
    char path[128], pid[32] = "";
    int fd;

    if (claim_fd >= 0) {
        return 0;
    }
    snprintf(path, sizeof path, "%s/walraft-jepsen-%s.lock", dir,
             r->net_prefix);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(why, size, "open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        snprintf(why, size,
                 "another walraft-jepsen run (pid %s) uses port %u (%s): "
                 "choose another --port",
                 pid[0] != '\0' ? pid : "?", r->cfg->port, path);
        close(fd);
        return -1;
    }
    snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    /* Only for the message of a second run: failing here is harmless. */
    (void)!ftruncate(fd, 0);
    (void)!pwrite(fd, pid, strlen(pid), 0);
    claim_fd = fd;
    return 0;
}

void net_ns_name(const struct run *r, int slot, char *buf, size_t size)
{
    snprintf(buf, size, "%sn%d", r->net_prefix, slot + 1);
}

void net_ip(const struct run *r, int slot, char *buf, size_t size)
{
    snprintf(buf, size, "%s.%d", r->net_subnet, slot + 1);
}

/* Whether @name is one we make: the prefix, then a letter (so that the
 * prefix of port 2610 does not take port 26100's names). */
static bool ours(const struct run *r, const char *name, char kind)
{
    size_t len = strlen(r->net_prefix);
    return strncmp(name, r->net_prefix, len) == 0 &&
           (kind == 0 ? (name[len] >= 'a' && name[len] <= 'z')
                      : name[len] == kind);
}

/* Kill every process in namespace @ns (nodes of a run that died). */
static void kill_in_ns(struct run *r, const char *ns)
{
    const char *args[] = {"ip", "netns", "pids", ns, NULL};
    char out[4096], *p, *end;
    if (sys_cmd(r, args, NULL, out, sizeof out) != 0) {
        return;
    }
    for (p = out; *p != '\0'; p = end) {
        long pid = strtol(p, &end, 10);
        if (end == p) {
            break;
        }
        if (pid > 1 && pid != getpid()) {
            kill((pid_t)pid, SIGKILL);
        }
    }
}

void net_sweep(struct run *r)
{
    char name[256];
    DIR *d;
    struct dirent *e;
    FILE *f;

    if (r->net_prefix[0] == '\0' || claim_fd < 0) {
        return;
    }
    /* The data directories first (mount targets with spaces, escaped in
     * /proc/self/mounts, are not found: ours have none), then the
     * namespaces with any process left in them, then the links. */
    f = fopen("/proc/self/mounts", "r");
    if (f != NULL) {
        char line[PATH_MAX + 256], src[256], target[PATH_MAX];
        while (fgets(line, sizeof line, f) != NULL) {
            if (sscanf(line, "%255s %4095s", src, target) == 2 &&
                ours(r, src, 'd')) {
                if (umount2(target, MNT_DETACH) != 0) {
                    fprintf(stderr, "walraft-jepsen: umount %s: %s\n",
                            target, strerror(errno));
                }
            }
        }
        fclose(f);
    }
    d = opendir("/run/netns");
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (ours(r, e->d_name, 'n')) {
            snprintf(name, sizeof name, "%s", e->d_name);
            kill_in_ns(r, name);
            const char *del[] = {"ip", "netns", "delete", name, NULL};
            sys_cmd(r, del, NULL, NULL, 0);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    /* The veths went with their namespaces; what is left is the bridge
     * and any veth whose other end was never moved. */
    d = opendir("/sys/class/net");
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (ours(r, e->d_name, 0)) {
            snprintf(name, sizeof name, "%s", e->d_name);
            const char *del[] = {"ip", "link", "delete", name, NULL};
            sys_cmd(r, del, NULL, NULL, 0);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
}

/* Run `ip ARGS...` and say what failed in @why. */
static int ip(struct run *r, char *why, size_t size, const char *const *argv)
{
    int rc = sys_cmd(r, argv, NULL, NULL, 0);
    if (rc != 0) {
        size_t len = 0;
        len += (size_t)snprintf(why + len, size - len, "`");
        for (const char *const *a = argv; *a != NULL && len < size; a++) {
            len += (size_t)snprintf(why + len, size - len, "%s%s",
                                    a == argv ? "" : " ", *a);
        }
        if (len < size) {
            snprintf(why + len, size - len, "` failed (exit %d, see %s)", rc,
                     r->cmd_log);
        }
        return -1;
    }
    return 0;
}

int net_setup(struct run *r, char *why, size_t size)
{
    char br[40], ns[40], veth[40], peer[40], cidr[48], host[40];
    int i;

    net_sweep(r);
    r->net_made = true;
    snprintf(br, sizeof br, "%sbr", r->net_prefix);
    snprintf(cidr, sizeof cidr, "%s.254/24", r->net_subnet);
    {
        const char *a1[] = {"ip", "link", "add", br, "type", "bridge", NULL};
        const char *a2[] = {"ip", "addr", "add", cidr, "dev", br, NULL};
        const char *a3[] = {"ip", "link", "set", br, "up", NULL};
        if (ip(r, why, size, a1) || ip(r, why, size, a2) ||
            ip(r, why, size, a3)) {
            goto err;
        }
    }
    for (i = 0; i < r->cfg->nodes; i++) {
        net_ns_name(r, i, ns, sizeof ns);
        snprintf(veth, sizeof veth, "%sv%d", r->net_prefix, i + 1);
        snprintf(peer, sizeof peer, "%se%d", r->net_prefix, i + 1);
        net_ip(r, i, host, sizeof host);
        snprintf(cidr, sizeof cidr, "%s/24", host);
        const char *a1[] = {"ip", "netns", "add", ns, NULL};
        const char *a2[] = {"ip", "link", "add", veth, "type", "veth",
                            "peer", "name", peer, "netns", ns, NULL};
        const char *a3[] = {"ip", "link", "set", veth, "master", br, "up",
                            NULL};
        const char *a4[] = {"ip", "-n", ns, "addr", "add", cidr, "dev", peer,
                            NULL};
        const char *a5[] = {"ip", "-n", ns, "link", "set", peer, "up", NULL};
        const char *a6[] = {"ip", "-n", ns, "link", "set", "lo", "up", NULL};
        if (ip(r, why, size, a1) || ip(r, why, size, a2) ||
            ip(r, why, size, a3) || ip(r, why, size, a4) ||
            ip(r, why, size, a5) || ip(r, why, size, a6)) {
            goto err;
        }
        snprintf(r->addr[i], sizeof r->addr[i], "%s:%u", host,
                 r->cfg->port + (unsigned)i);
    }
    /* nft must work in there, or partitions would silently do nothing. */
    net_ns_name(r, 0, ns, sizeof ns);
    {
        const char *a[] = {"ip", "netns", "exec", ns, "nft", "-f", "-",
                           NULL};
        if (sys_cmd(r, a, "table inet " NFT_TABLE " {}\n"
                          "delete table inet " NFT_TABLE "\n",
                    NULL, 0) != 0) {
            snprintf(why, size, "nft does not work in a namespace (see %s)",
                     r->cmd_log);
            goto err;
        }
    }
    return 0;

err:
    net_teardown(r);
    return -1;
}

void net_teardown(struct run *r)
{
    if (r->net_made || r->tmpfs) {
        net_sweep(r);
    }
    r->net_made = false;
    if (claim_fd >= 0) {
        close(claim_fd);
        claim_fd = -1;
    }
}

int net_block(struct run *r, int slot, unsigned from, int loss_pct)
{
    char ns[40], ipaddr[40], script[2048];
    size_t len = 0;
    bool any = false;
    int i;

    len += (size_t)snprintf(
        script + len, sizeof script - len,
        "table inet " NFT_TABLE " {}\n"
        "delete table inet " NFT_TABLE "\n"
        "table inet " NFT_TABLE " {\n"
        "  chain input {\n"
        "    type filter hook input priority 0; policy accept;\n");
    if (from != 0) {
        len += (size_t)snprintf(script + len, sizeof script - len,
                                "    ip saddr { ");
        for (i = 0; i < r->cfg->nodes; i++) {
            if (from & (1u << i)) {
                net_ip(r, i, ipaddr, sizeof ipaddr);
                len += (size_t)snprintf(script + len, sizeof script - len,
                                        "%s%s", any ? ", " : "", ipaddr);
                any = true;
            }
        }
        len += (size_t)snprintf(script + len, sizeof script - len,
                                " } drop\n");
    }
    if (loss_pct > 0) {
        len += (size_t)snprintf(script + len, sizeof script - len,
                                "    ip saddr %s.0/24 numgen random mod 100 "
                                "< %d drop\n",
                                r->net_subnet, loss_pct);
    }
    snprintf(script + len, sizeof script - len, "  }\n}\n");
    net_ns_name(r, slot, ns, sizeof ns);
    const char *a[] = {"ip", "netns", "exec", ns, "nft", "-f", "-", NULL};
    atomic_store(&r->net_faulted, true);
    return sys_cmd(r, a, script, NULL, 0) == 0 ? 0 : -1;
}

int net_heal(struct run *r)
{
    char ns[40];
    int i, rv = 0;

    if (!r->netns || !r->net_made) {
        return 0;
    }
    for (i = 0; i < r->cfg->nodes; i++) {
        net_ns_name(r, i, ns, sizeof ns);
        const char *a[] = {"ip", "netns", "exec", ns, "nft", "-f", "-",
                           NULL};
        if (sys_cmd(r, a,
                    "table inet " NFT_TABLE " {}\n"
                    "delete table inet " NFT_TABLE "\n",
                    NULL, 0) != 0) {
            rv = -1;
        }
    }
    if (rv == 0) {
        atomic_store(&r->net_faulted, false);
    }
    return rv;
}

static void data_dir(const struct run *r, uint64_t id, char *buf,
                     size_t size)
{
    snprintf(buf, size, "%s/%llu", r->cluster_dir, (unsigned long long)id);
}

int disk_mount(struct run *r, uint64_t id, char *why, size_t size)
{
    char dir[PATH_MAX + 32], src[48], opts[64];

    data_dir(r, id, dir, sizeof dir);
    snprintf(src, sizeof src, "%sd%llu", r->net_prefix,
             (unsigned long long)id);
    snprintf(opts, sizeof opts, "size=%llu,mode=0755",
             (unsigned long long)DISK_BYTES);
    if ((mkdir(r->cluster_dir, 0755) != 0 && errno != EEXIST) ||
        (mkdir(dir, 0755) != 0 && errno != EEXIST)) {
        snprintf(why, size, "mkdir %s: %s", dir, strerror(errno));
        return -1;
    }
    if (mount(src, dir, "tmpfs", MS_NOSUID | MS_NODEV, opts) != 0) {
        snprintf(why, size, "mount a tmpfs on %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

void disk_umount(struct run *r, uint64_t id)
{
    char dir[PATH_MAX + 32];
    data_dir(r, id, dir, sizeof dir);
    umount2(dir, MNT_DETACH);
}

void disk_balloon_path(const struct run *r, uint64_t id, char *buf,
                       size_t size)
{
    snprintf(buf, size, "%s/%llu/jepsen-balloon", r->cluster_dir,
             (unsigned long long)id);
}
