/*
 * `walraft cluster`: a cluster of local walraftd processes.
 *
 * Everything about a cluster lives in one directory (default
 * ./walraft-cluster):
 *
 *   cluster.json   the record: port base, voter target, extra walraftd
 *                  flags, and per node its id, address, data directory,
 *                  log, pid (0 when not running) and whether it was removed
 *   cluster.lock   flock()ed while a command changes the cluster, so two
 *                  commands on one directory take turns
 *   I/             node I's data directory
 *   I.log          node I's stdout and stderr, appended across restarts
 *   I.pid          node I's pid while it runs
 *
 * Node I listens on 127.0.0.1:(port + I - 1). Ids are never reused: `add`
 * takes one more than the highest id ever recorded, removed nodes included.
 *
 * For the fault harness (jepsen/netns.c), a cluster may instead put each
 * node in a network namespace of its own: `up --host A.B.C.D
 * --netns-prefix P` makes node I listen on (A.B.C.D + I - 1):(port + I -
 * 1) inside namespace PI (/run/netns/PI, made beforehand with `ip netns
 * add`), and `add --address --netns` places one new node. The child
 * enters the namespace with setns() before it executes walraftd, which is
 * what `ip netns exec` does for the network. cluster.json records "host"
 * and "netns_prefix", and "netns" per node, only when they are set, so
 * that a cluster without them has the record it always had.
 *
 * The nodes are not children of any walraft process for long: each is
 * started in its own session with stdin from /dev/null, and this command
 * exits. Whether a recorded pid still runs walraftd is read from /proc, so
 * a pid reused by another program after a reboot is not mistaken for a
 * node.
 *
 * What the nodes say about themselves comes from STATUS (proto/wire.h,
 * node/node.h documents the keys); membership changes go to the leader
 * (conn_open_leader()).
 */
#include "cluster.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "conn.h"

#define DEFAULT_DIR "./walraft-cluster"
#define DEFAULT_PORT 9001
#define UP_TIMEOUT_MS 30000
#define STOP_TIMEOUT_MS 10000
#define STATUS_TIMEOUT_MS 1000
#define MAX_EXTRA_ARGS 32

struct node_rec {
    uint64_t id;
    char address[64];
    char data_dir[PATH_MAX];
    char log[PATH_MAX];
    pid_t pid;
    bool removed;
    char netns[32]; /* The network namespace it runs in; "" the caller's. */
};

struct cluster {
    char dir[PATH_MAX - 64]; /* Room for "/ID.log" in PATH_MAX. */
    unsigned port;
    unsigned voters;
    char host[16];      /* First node's IPv4 address; "" for 127.0.0.1. */
    char netns_prefix[24]; /* Node I's namespace is this and I; "" none. */
    char *extra[MAX_EXTRA_ARGS]; /* Flags passed to every walraftd. */
    int n_extra;
    struct node_rec *nodes;
    size_t n;
};

/* What one node said about itself, or that it said nothing. */
struct view {
    bool alive;    /* Its process runs. */
    bool answered; /* It answered STATUS. */
    json_t *doc;   /* The STATUS document when answered. */
    const char *state;
    const char *role;
    uint64_t leader_id;
    uint64_t applied;
    bool ready;
    char why[WR_ERRMSG_SIZE]; /* Why not answered. */
};

/* Parsed command line. */
struct opts {
    const char *cmd;
    const char *dir;
    unsigned port;
    unsigned nodes;
    bool json;
    uint64_t id;
    bool has_id;
    const char *host;         /* up --host */
    const char *netns_prefix; /* up --netns-prefix */
    const char *address;      /* add --address */
    const char *netns;        /* add --netns */
    char **extra;
    int n_extra;
};

/*
 * Small helpers.
 */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (s == NULL || *s == '\0' || *s == '-') {
        return false;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return false;
    }
    *out = v;
    return true;
}

static int mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    char *p;
    if (strlen(path) >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(tmp, path);
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

/* Whether @pid still runs the node whose data directory is @data_dir: not
 * a zombie, and not some other program that got the pid later (its
 * command line must name the data directory; a wrapper such as valgrind
 * in $WALRAFTD keeps it). */
static bool pid_alive(pid_t pid, const char *data_dir)
{
    char path[64];
    char buf[8192];
    FILE *f;
    size_t n;
    size_t i;
    const char *close_paren;

    if (pid <= 0) {
        return false;
    }
    /* Reap it if it is our own child that has exited. */
    (void)waitpid(pid, NULL, WNOHANG);
    if (kill(pid, 0) != 0 && errno != EPERM) {
        return false;
    }
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return true; /* No /proc: trust kill(). */
    }
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (comm) S ...": the state follows the last parenthesis. */
    close_paren = strrchr(buf, ')');
    if (close_paren != NULL && close_paren[1] != '\0' &&
        (close_paren[2] == 'Z' || close_paren[2] == 'X')) {
        return false;
    }
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return false; /* It exited since. */
    }
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    for (i = 0; i < n; i++) {
        if (strcmp(buf + i, data_dir) == 0 ||
            strstr(buf + i, "walraftd") != NULL) {
            return true;
        }
        i += strlen(buf + i);
    }
    return false;
}

/* Print the last @lines lines of @path to stderr, indented. */
static void print_tail(const char *path, int lines)
{
    char buf[4096];
    FILE *f = fopen(path, "r");
    long size;
    size_t n;
    char *p;
    int seen = 0;

    if (f == NULL) {
        fprintf(stderr, "  (cannot read %s: %s)\n", path, strerror(errno));
        return;
    }
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0,
          SEEK_SET);
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (n > 0 && buf[n - 1] == '\n') {
        buf[--n] = '\0';
    }
    for (p = buf + n; p > buf; p--) {
        if (p[-1] == '\n' && ++seen == lines) {
            break;
        }
    }
    fprintf(stderr, "--- last lines of %s ---\n%s\n", path, p);
}

/*
 * The cluster record.
 */

static void cluster_free(struct cluster *cl)
{
    int i;
    for (i = 0; i < cl->n_extra; i++) {
        free(cl->extra[i]);
    }
    free(cl->nodes);
    memset(cl, 0, sizeof *cl);
}

static struct node_rec *find_node(struct cluster *cl, uint64_t id)
{
    size_t i;
    for (i = 0; i < cl->n; i++) {
        if (cl->nodes[i].id == id) {
            return &cl->nodes[i];
        }
    }
    return NULL;
}

static struct node_rec *add_node(struct cluster *cl, uint64_t id)
{
    struct node_rec *nodes = realloc(cl->nodes, (cl->n + 1) * sizeof *nodes);
    struct node_rec *r;
    if (nodes == NULL) {
        return NULL;
    }
    cl->nodes = nodes;
    r = &nodes[cl->n++];
    memset(r, 0, sizeof *r);
    r->id = id;
    if (cl->host[0] != '\0') {
        struct in_addr a;
        char ip[INET_ADDRSTRLEN] = "0.0.0.0";
        if (inet_pton(AF_INET, cl->host, &a) == 1) {
            a.s_addr = htonl(ntohl(a.s_addr) + (uint32_t)(id - 1));
            inet_ntop(AF_INET, &a, ip, sizeof ip);
        }
        snprintf(r->address, sizeof r->address, "%s:%llu", ip,
                 (unsigned long long)(cl->port + id - 1));
    } else {
        snprintf(r->address, sizeof r->address, "127.0.0.1:%llu",
                 (unsigned long long)(cl->port + id - 1));
    }
    if (cl->netns_prefix[0] != '\0') {
        snprintf(r->netns, sizeof r->netns, "%s%llu", cl->netns_prefix,
                 (unsigned long long)id);
    }
    snprintf(r->data_dir, sizeof r->data_dir, "%s/%llu", cl->dir,
             (unsigned long long)id);
    snprintf(r->log, sizeof r->log, "%s/%llu.log", cl->dir,
             (unsigned long long)id);
    return r;
}

static const char *json_str(json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : dflt;
}

static uint64_t json_u64(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) > 0
               ? (uint64_t)json_integer_value(v)
               : 0;
}

/* Load DIR/cluster.json. Returns 0, WR_NOTFOUND (no cluster there) or an
 * error, with @errmsg set. */
static int cluster_load(struct cluster *cl, const char *dir, char *errmsg)
{
    char path[PATH_MAX + 32];
    json_error_t jerr;
    json_t *root;
    json_t *nodes;
    json_t *extra;
    size_t i;

    memset(cl, 0, sizeof *cl);
    snprintf(path, sizeof path, "%s/cluster.json", dir);
    if (access(path, F_OK) != 0) {
        err_printf(errmsg, "no cluster in %s (start one with `walraft "
                   "cluster up --dir %s`)", dir, dir);
        return WR_NOTFOUND;
    }
    root = json_load_file(path, 0, &jerr);
    if (root == NULL) {
        err_printf(errmsg, "%s: line %d: %s", path, jerr.line, jerr.text);
        return WR_CORRUPT;
    }
    snprintf(cl->dir, sizeof cl->dir, "%s", json_str(root, "dir", dir));
    cl->port = (unsigned)json_u64(root, "port");
    cl->voters = (unsigned)json_u64(root, "voters");
    snprintf(cl->host, sizeof cl->host, "%s", json_str(root, "host", ""));
    snprintf(cl->netns_prefix, sizeof cl->netns_prefix, "%s",
             json_str(root, "netns_prefix", ""));
    extra = json_object_get(root, "extra_args");
    for (i = 0; i < json_array_size(extra) && cl->n_extra < MAX_EXTRA_ARGS;
         i++) {
        const char *s = json_string_value(json_array_get(extra, i));
        if (s != NULL) {
            cl->extra[cl->n_extra] = strdup(s);
            if (cl->extra[cl->n_extra] == NULL) {
                goto err_nomem;
            }
            cl->n_extra++;
        }
    }
    nodes = json_object_get(root, "nodes");
    for (i = 0; i < json_array_size(nodes); i++) {
        json_t *o = json_array_get(nodes, i);
        uint64_t id = json_u64(o, "id");
        struct node_rec *r;
        if (id == 0 || find_node(cl, id) != NULL) {
            err_printf(errmsg, "%s: node %zu has a bad or repeated id", path,
                       i);
            json_decref(root);
            cluster_free(cl);
            return WR_CORRUPT;
        }
        r = add_node(cl, id);
        if (r == NULL) {
            goto err_nomem;
        }
        snprintf(r->address, sizeof r->address, "%s",
                 json_str(o, "address", r->address));
        snprintf(r->data_dir, sizeof r->data_dir, "%s",
                 json_str(o, "data_dir", r->data_dir));
        snprintf(r->log, sizeof r->log, "%s", json_str(o, "log", r->log));
        snprintf(r->netns, sizeof r->netns, "%s",
                 json_str(o, "netns", r->netns));
        r->pid = (pid_t)json_u64(o, "pid");
        r->removed = json_is_true(json_object_get(o, "removed"));
    }
    json_decref(root);
    if (cl->port == 0 || cl->voters == 0) {
        err_printf(errmsg, "%s: port or voters missing", path);
        cluster_free(cl);
        return WR_CORRUPT;
    }
    return 0;

err_nomem:
    json_decref(root);
    cluster_free(cl);
    err_printf(errmsg, "out of memory");
    return WR_NOMEM;
}

/* Write DIR/cluster.json (atomically: a temporary file renamed over it)
 * and the pid files. */
static int cluster_save(const struct cluster *cl, char *errmsg)
{
    char path[PATH_MAX + 32];
    char tmp[PATH_MAX + 32];
    json_t *root = json_object();
    json_t *nodes = json_array();
    json_t *extra = json_array();
    size_t i;
    int j;

    if (root == NULL || nodes == NULL || extra == NULL) {
        goto err_nomem;
    }
    json_object_set_new(root, "version", json_integer(1));
    json_object_set_new(root, "dir", json_string(cl->dir));
    json_object_set_new(root, "port", json_integer(cl->port));
    json_object_set_new(root, "voters", json_integer(cl->voters));
    if (cl->host[0] != '\0') {
        json_object_set_new(root, "host", json_string(cl->host));
    }
    if (cl->netns_prefix[0] != '\0') {
        json_object_set_new(root, "netns_prefix",
                            json_string(cl->netns_prefix));
    }
    for (j = 0; j < cl->n_extra; j++) {
        json_array_append_new(extra, json_string(cl->extra[j]));
    }
    json_object_set(root, "extra_args", extra);
    for (i = 0; i < cl->n; i++) {
        const struct node_rec *r = &cl->nodes[i];
        json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:I, s:b}", "id",
                              (json_int_t)r->id, "address", r->address,
                              "data_dir", r->data_dir, "log", r->log, "pid",
                              (json_int_t)r->pid, "removed", r->removed);
        char pidfile[PATH_MAX + 32];
        if (o == NULL) {
            goto err_nomem;
        }
        if (r->netns[0] != '\0') {
            json_object_set_new(o, "netns", json_string(r->netns));
        }
        json_array_append_new(nodes, o);
        snprintf(pidfile, sizeof pidfile, "%s/%llu.pid", cl->dir,
                 (unsigned long long)r->id);
        if (r->pid > 0) {
            FILE *f = fopen(pidfile, "w");
            if (f != NULL) {
                fprintf(f, "%d\n", (int)r->pid);
                fclose(f);
            }
        } else {
            (void)unlink(pidfile);
        }
    }
    json_object_set(root, "nodes", nodes);

    snprintf(path, sizeof path, "%s/cluster.json", cl->dir);
    snprintf(tmp, sizeof tmp, "%s/cluster.json.tmp", cl->dir);
    if (json_dump_file(root, tmp, JSON_INDENT(2)) != 0 ||
        rename(tmp, path) != 0) {
        err_printf(errmsg, "write %s: %s", path, strerror(errno));
        json_decref(root);
        json_decref(nodes);
        json_decref(extra);
        return WR_IOERR;
    }
    json_decref(root);
    json_decref(nodes);
    json_decref(extra);
    return 0;

err_nomem:
    json_decref(root);
    json_decref(nodes);
    json_decref(extra);
    err_printf(errmsg, "out of memory");
    return WR_NOMEM;
}

/* Comma-separated addresses of the nodes not removed, but @skip. */
static void cluster_addresses(const struct cluster *cl,
                              uint64_t skip,
                              char *out,
                              size_t size)
{
    size_t i;
    size_t len = 0;
    out[0] = '\0';
    for (i = 0; i < cl->n; i++) {
        const struct node_rec *r = &cl->nodes[i];
        int n;
        if (r->removed || r->id == skip) {
            continue;
        }
        n = snprintf(out + len, size - len, "%s%s", len > 0 ? "," : "",
                     r->address);
        if (n < 0 || (size_t)n >= size - len) {
            break;
        }
        len += (size_t)n;
    }
}

static size_t cluster_members(const struct cluster *cl)
{
    size_t i;
    size_t n = 0;
    for (i = 0; i < cl->n; i++) {
        n += !cl->nodes[i].removed;
    }
    return n;
}

/* The descriptor cluster_lock() holds, so that the process takes it once:
 * flock() locks belong to open files, and a second open of the lock file
 * would wait for the first forever. */
static int lock_fd = -1;

/* Serialise commands on one directory. The lock is released when the
 * process exits. */
static int cluster_lock(const char *dir, char *errmsg)
{
    char path[PATH_MAX + 32];
    int fd;
    if (lock_fd >= 0) {
        return 0;
    }
    snprintf(path, sizeof path, "%s/cluster.lock", dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        err_printf(errmsg, "open %s: %s", path, strerror(errno));
        return WR_IOERR;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            err_printf(errmsg, "lock %s: %s", path, strerror(errno));
            close(fd);
            return WR_IOERR;
        }
    }
    lock_fd = fd;
    return 0;
}

/*
 * Processes.
 */

/* The walraftd to run: next to this executable, else $WALRAFTD, else the
 * first one on $PATH. */
static int find_walraftd(char *out, size_t size, char *errmsg)
{
    char self[PATH_MAX - 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    const char *env = getenv("WALRAFTD");
    const char *path = getenv("PATH");

    if (n > 0) {
        char *slash;
        self[n] = '\0';
        slash = strrchr(self, '/');
        if (slash != NULL) {
            *slash = '\0';
            snprintf(out, size, "%s/walraftd", self);
            if (access(out, X_OK) == 0) {
                return 0;
            }
        }
    }
    if (env != NULL && env[0] != '\0') {
        if (strchr(env, '/') != NULL) {
            snprintf(out, size, "%s", env);
            if (access(out, X_OK) == 0) {
                return 0;
            }
            err_printf(errmsg, "WALRAFTD=%s is not executable", env);
            return WR_NOTFOUND;
        }
    }
    while (path != NULL && *path != '\0') {
        const char *end = strchr(path, ':');
        size_t len = end != NULL ? (size_t)(end - path) : strlen(path);
        snprintf(out, size, "%.*s/%s", (int)len, path,
                 env != NULL && env[0] != '\0' ? env : "walraftd");
        if (len > 0 && access(out, X_OK) == 0) {
            return 0;
        }
        path = end != NULL ? end + 1 : NULL;
    }
    err_printf(errmsg, "walraftd not found next to walraft, in $WALRAFTD "
                       "or on $PATH");
    return WR_NOTFOUND;
}

/* Start node @r in the background. @join is NULL or the addresses to join
 * through. Sets r->pid. */
static int node_spawn(const struct cluster *cl,
                      struct node_rec *r,
                      const char *join,
                      char *errmsg)
{
    char exe[PATH_MAX];
    char id[32];
    char voters[32];
    char *argv[16 + MAX_EXTRA_ARGS];
    int argc = 0;
    int pipefd[2];
    int child_errno = 0;
    ssize_t n;
    pid_t pid;
    int i;
    int rv;

    rv = find_walraftd(exe, sizeof exe, errmsg);
    if (rv != 0) {
        return rv;
    }
    snprintf(id, sizeof id, "%llu", (unsigned long long)r->id);
    snprintf(voters, sizeof voters, "%u", cl->voters);
    argv[argc++] = exe;
    argv[argc++] = "--id";
    argv[argc++] = id;
    argv[argc++] = "--address";
    argv[argc++] = r->address;
    argv[argc++] = "--data-dir";
    argv[argc++] = r->data_dir;
    if (join != NULL && join[0] != '\0') {
        argv[argc++] = "--join";
        argv[argc++] = (char *)join;
    }
    argv[argc++] = "--voters";
    argv[argc++] = voters;
    for (i = 0; i < cl->n_extra; i++) {
        argv[argc++] = cl->extra[i];
    }
    argv[argc] = NULL;

    /* The child reports a failed exec through a close-on-exec pipe: an
     * empty read means the exec happened. */
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        err_printf(errmsg, "pipe: %s", strerror(errno));
        return WR_IOERR;
    }
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        err_printf(errmsg, "fork: %s", strerror(errno));
        close(pipefd[0]);
        close(pipefd[1]);
        return WR_IOERR;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        int log = open(r->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int e;
        close(pipefd[0]);
        setsid();
        if (devnull < 0 || log < 0 || dup2(devnull, 0) < 0 ||
            dup2(log, 1) < 0 || dup2(log, 2) < 0) {
            e = errno;
            (void)!write(pipefd[1], &e, sizeof e);
            _exit(127);
        }
        if (r->netns[0] != '\0') {
            char nspath[64];
            int nsfd;
            snprintf(nspath, sizeof nspath, "/run/netns/%s", r->netns);
            nsfd = open(nspath, O_RDONLY | O_CLOEXEC);
            if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) {
                e = errno;
                dprintf(2, "=== walraft cluster: enter %s: %s\n", nspath,
                        strerror(e));
                (void)!write(pipefd[1], &e, sizeof e);
                _exit(127);
            }
            close(nsfd);
            dprintf(1, "=== walraft cluster: in network namespace %s\n",
                    r->netns);
        }
        dprintf(1, "=== walraft cluster: starting node %s:", id);
        for (i = 0; argv[i] != NULL; i++) {
            dprintf(1, " %s", argv[i]);
        }
        dprintf(1, "\n");
        signal(SIGPIPE, SIG_DFL);
        execv(exe, argv);
        e = errno;
        (void)!write(pipefd[1], &e, sizeof e);
        _exit(127);
    }
    close(pipefd[1]);
    do {
        n = read(pipefd[0], &child_errno, sizeof child_errno);
    } while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n > 0) {
        (void)waitpid(pid, NULL, 0);
        err_printf(errmsg, "start node %llu: %s %s: %s",
                   (unsigned long long)r->id,
                   r->netns[0] != '\0' ? "enter namespace or exec" : "exec",
                   exe, strerror(child_errno));
        return WR_IOERR;
    }
    /* The exec has happened, but /proc may show the new command line a
     * moment later: wait for it, so that pid_alive() is right from now on
     * (a node that exits at once is reaped there and reads as dead). */
    for (i = 0; i < 200 && kill(pid, 0) == 0 && !pid_alive(pid, r->data_dir);
         i++) {
        sleep_ms(5);
    }
    r->pid = pid;
    return 0;
}

/* Send @sig to node @r and wait up to @timeout_ms for it to exit; then
 * SIGKILL it. Clears r->pid. */
static void node_stop(struct node_rec *r, int sig, unsigned timeout_ms)
{
    uint64_t deadline = now_ms() + timeout_ms;
    if (!pid_alive(r->pid, r->data_dir)) {
        r->pid = 0;
        return;
    }
    (void)kill(r->pid, sig);
    while (pid_alive(r->pid, r->data_dir) && now_ms() < deadline) {
        sleep_ms(50);
    }
    if (pid_alive(r->pid, r->data_dir)) {
        fprintf(stderr, "node %llu (pid %d) still runs after %u ms: "
                "SIGKILL\n", (unsigned long long)r->id, (int)r->pid,
                timeout_ms);
        (void)kill(r->pid, SIGKILL);
        while (pid_alive(r->pid, r->data_dir)) {
            sleep_ms(20);
        }
    }
    r->pid = 0;
}

/*
 * Asking the nodes.
 */

static void view_clear(struct view *v)
{
    json_decref(v->doc);
    memset(v, 0, sizeof *v);
}

/* Ask node @r for its STATUS within @timeout_ms. */
static void view_fetch(const struct node_rec *r,
                       unsigned timeout_ms,
                       struct view *v)
{
    struct conn *c;
    char *text;
    json_error_t jerr;
    char errmsg[WR_ERRMSG_SIZE];

    memset(v, 0, sizeof *v);
    v->alive = pid_alive(r->pid, r->data_dir);
    if (!v->alive) {
        snprintf(v->why, sizeof v->why, "not running");
        return;
    }
    if (conn_open(r->address, timeout_ms, &c, errmsg) != 0) {
        snprintf(v->why, sizeof v->why, "%s", errmsg);
        return;
    }
    if (conn_status(c, &text, errmsg) != 0) {
        snprintf(v->why, sizeof v->why, "%s", errmsg);
        conn_close(c);
        return;
    }
    conn_close(c);
    v->doc = json_loads(text, 0, &jerr);
    free(text);
    if (!json_is_object(v->doc)) {
        snprintf(v->why, sizeof v->why, "STATUS is not a JSON object: %s",
                 jerr.text);
        json_decref(v->doc);
        v->doc = NULL;
        return;
    }
    v->answered = true;
    v->state = json_str(v->doc, "state", "?");
    v->role = json_str(v->doc, "role", "?");
    v->leader_id = json_u64(v->doc, "leader_id");
    v->applied = json_u64(v->doc, "applied_index");
    v->ready = json_is_true(json_object_get(v->doc, "ready"));
}

/* Role of a server entry in STATUS "servers": a name, or a number. */
static const char *server_role(json_t *server)
{
    json_t *role = json_object_get(server, "role");
    if (json_is_string(role)) {
        return json_string_value(role);
    }
    switch (json_integer_value(role)) {
        case PROTO_VOTER:
            return "voter";
        case PROTO_STANDBY:
            return "standby";
        case PROTO_SPARE:
            return "spare";
    }
    return "?";
}

/* Role of node @id in the configuration that @leader reports, or NULL if
 * it is not in it. */
static const char *config_role(const struct view *leader, uint64_t id)
{
    json_t *servers = json_object_get(leader->doc, "servers");
    size_t i;
    for (i = 0; i < json_array_size(servers); i++) {
        json_t *s = json_array_get(servers, i);
        if (json_u64(s, "id") == id) {
            return server_role(s);
        }
    }
    return NULL;
}

/* Ask every node not removed; @views has cl->n slots. Returns the index
 * of the node that leads (it says so and is ready), or -1. If several
 * claim it (a deposed leader that has not noticed), the one with the
 * highest term. */
static int views_fetch(const struct cluster *cl,
                       unsigned timeout_ms,
                       struct view *views)
{
    size_t i;
    int leader = -1;
    uint64_t term = 0;
    for (i = 0; i < cl->n; i++) {
        if (cl->nodes[i].removed) {
            memset(&views[i], 0, sizeof views[i]);
            continue;
        }
        view_fetch(&cl->nodes[i], timeout_ms, &views[i]);
        if (views[i].answered && strcmp(views[i].state, "leader") == 0) {
            uint64_t t = json_u64(views[i].doc, "term");
            if (leader < 0 || t > term) {
                leader = (int)i;
                term = t;
            }
        }
    }
    return leader;
}

static void views_clear(const struct cluster *cl, struct view *views)
{
    size_t i;
    for (i = 0; i < cl->n; i++) {
        view_clear(&views[i]);
    }
}

/* Whether the cluster is settled: every node answers and follows one ready
 * leader, every node is in the leader's configuration as voter or standby,
 * and there are as many voters as the target allows. If not, @why says
 * what is missing. */
static bool settled(const struct cluster *cl,
                    const struct view *views,
                    int leader,
                    char *why,
                    size_t size)
{
    size_t members = cluster_members(cl);
    size_t want = members < cl->voters ? members : cl->voters;
    size_t voters = 0;
    size_t i;

    if (leader < 0) {
        snprintf(why, size, "no leader");
        return false;
    }
    if (!views[leader].ready) {
        snprintf(why, size, "leader %llu is not ready yet",
                 (unsigned long long)cl->nodes[leader].id);
        return false;
    }
    for (i = 0; i < cl->n; i++) {
        const struct node_rec *r = &cl->nodes[i];
        const char *role;
        if (r->removed) {
            continue;
        }
        if (!views[i].answered) {
            snprintf(why, size, "node %llu: %.200s", (unsigned long long)r->id,
                     views[i].why);
            return false;
        }
        if (views[i].leader_id != cl->nodes[leader].id) {
            snprintf(why, size, "node %llu sees leader %llu, not %llu",
                     (unsigned long long)r->id,
                     (unsigned long long)views[i].leader_id,
                     (unsigned long long)cl->nodes[leader].id);
            return false;
        }
        role = config_role(&views[leader], r->id);
        if (role == NULL) {
            snprintf(why, size, "node %llu is not in the configuration yet",
                     (unsigned long long)r->id);
            return false;
        }
        if (strcmp(role, "voter") == 0) {
            voters++;
        } else if (strcmp(role, "standby") != 0) {
            snprintf(why, size, "node %llu is %s", (unsigned long long)r->id,
                     role);
            return false;
        }
    }
    if (voters < want) {
        snprintf(why, size, "%zu voters of %zu", voters, want);
        return false;
    }
    return true;
}

/* Tell what went wrong, with the logs of the nodes that went wrong (or of
 * all, when none stands out). */
static void report_nodes(const struct cluster *cl, const struct view *views)
{
    size_t i;
    bool any = false;
    for (i = 0; i < cl->n; i++) {
        if (!cl->nodes[i].removed && !views[i].answered) {
            fprintf(stderr, "node %llu: %s\n",
                    (unsigned long long)cl->nodes[i].id, views[i].why);
            print_tail(cl->nodes[i].log, 15);
            any = true;
        }
    }
    for (i = 0; i < cl->n && !any; i++) {
        if (!cl->nodes[i].removed) {
            print_tail(cl->nodes[i].log, 8);
        }
    }
}

/* Wait until settled(), at most @timeout_ms. On success print the nodes
 * and return 0; otherwise report and return an exit code. */
static int wait_settled(const struct cluster *cl, unsigned timeout_ms)
{
    uint64_t deadline = now_ms() + timeout_ms;
    struct view *views = calloc(cl->n + 1, sizeof *views);
    char why[WR_ERRMSG_SIZE] = "";
    int leader = -1;
    size_t i;

    if (views == NULL) {
        fprintf(stderr, "walraft cluster: out of memory\n");
        return EXIT_FAILED;
    }
    for (;;) {
        bool dead = false;
        leader = views_fetch(cl, STATUS_TIMEOUT_MS, views);
        if (settled(cl, views, leader, why, sizeof why)) {
            break;
        }
        for (i = 0; i < cl->n; i++) {
            if (!cl->nodes[i].removed && !views[i].alive) {
                dead = true;
            }
        }
        if (dead || now_ms() >= deadline) {
            fprintf(stderr, "walraft cluster: %s: %s\n",
                    dead ? "a node exited" : "cluster not ready in time",
                    why);
            report_nodes(cl, views);
            views_clear(cl, views);
            free(views);
            return dead ? EXIT_FAILED : EXIT_UNAVAILABLE;
        }
        views_clear(cl, views);
        sleep_ms(200);
    }
    for (i = 0; i < cl->n; i++) {
        const struct node_rec *r = &cl->nodes[i];
        if (!r->removed) {
            printf("node %llu %s %s\n", (unsigned long long)r->id,
                   r->address, config_role(&views[leader], r->id));
        }
    }
    printf("leader %llu %s\n", (unsigned long long)cl->nodes[leader].id,
           cl->nodes[leader].address);
    views_clear(cl, views);
    free(views);
    return EXIT_OK;
}

/*
 * The subcommands.
 */

static int fail(const char *errmsg, int code)
{
    fprintf(stderr, "walraft cluster: %s\n", errmsg);
    return code;
}

static int exit_code_of(int rv)
{
    switch (rv) {
        case 0:
            return EXIT_OK;
        case WR_IOERR:
        case WR_NOTLEADER:
            return EXIT_UNAVAILABLE;
        default:
            return EXIT_FAILED;
    }
}

/* Open the cluster in @dir and lock it. */
static int open_cluster(const char *dir, struct cluster *cl)
{
    char errmsg[WR_ERRMSG_SIZE];
    int rv = cluster_load(cl, dir, errmsg);
    if (rv != 0) {
        return fail(errmsg, EXIT_FAILED);
    }
    rv = cluster_lock(cl->dir, errmsg);
    if (rv != 0) {
        cluster_free(cl);
        return fail(errmsg, EXIT_FAILED);
    }
    /* Reload under the lock: another command may have just changed it. */
    cluster_free(cl);
    rv = cluster_load(cl, dir, errmsg);
    if (rv != 0) {
        return fail(errmsg, EXIT_FAILED);
    }
    return EXIT_OK;
}

/* Start the nodes of @cl that do not run. A node started again passes
 * --join with the others: walraftd ignores it when its data directory
 * already holds Raft state, and if that state was lost it asks to join
 * instead of bootstrapping a second cluster. */
static int start_stopped(struct cluster *cl, char *errmsg)
{
    size_t i;
    for (i = 0; i < cl->n; i++) {
        struct node_rec *r = &cl->nodes[i];
        char join[1024];
        int rv;
        if (r->removed || pid_alive(r->pid, r->data_dir)) {
            continue;
        }
        cluster_addresses(cl, r->id, join, sizeof join);
        rv = node_spawn(cl, r, join, errmsg);
        if (rv != 0) {
            return rv;
        }
        printf("started node %llu (pid %d)\n", (unsigned long long)r->id,
               (int)r->pid);
    }
    return 0;
}

static int cmd_up(const struct opts *o)
{
    char errmsg[WR_ERRMSG_SIZE];
    char path[PATH_MAX + 32];
    struct cluster cl;
    unsigned i;
    int rv;

    if (mkdir_p(o->dir) != 0) {
        err_printf(errmsg, "create %s: %s", o->dir, strerror(errno));
        return fail(errmsg, EXIT_FAILED);
    }
    snprintf(path, sizeof path, "%s/cluster.json", o->dir);
    if (access(path, F_OK) == 0) {
        /* The cluster exists: start what does not run. */
        rv = open_cluster(o->dir, &cl);
        if (rv != EXIT_OK) {
            return rv;
        }
        if (o->nodes != 0 && o->nodes != cluster_members(&cl)) {
            fprintf(stderr, "walraft cluster: %s holds a cluster of %zu "
                    "nodes; --nodes %u ignored\n", cl.dir,
                    cluster_members(&cl), o->nodes);
        }
        rv = start_stopped(&cl, errmsg);
        if (cluster_save(&cl, errmsg) != 0 || rv != 0) {
            cluster_free(&cl);
            return fail(errmsg, EXIT_FAILED);
        }
        rv = wait_settled(&cl, UP_TIMEOUT_MS);
        cluster_free(&cl);
        return rv;
    }

    if (o->nodes == 0) {
        fprintf(stderr, "walraft cluster up: --nodes is required for a new "
                "cluster\n");
        return EXIT_USAGE;
    }
    if (o->n_extra > MAX_EXTRA_ARGS) {
        fprintf(stderr, "walraft cluster up: at most %d walraftd flags\n",
                MAX_EXTRA_ARGS);
        return EXIT_USAGE;
    }
    memset(&cl, 0, sizeof cl);
    if (realpath(o->dir, cl.dir) == NULL) {
        err_printf(errmsg, "%s: %s", o->dir, strerror(errno));
        return fail(errmsg, EXIT_FAILED);
    }
    rv = cluster_lock(cl.dir, errmsg);
    if (rv != 0) {
        return fail(errmsg, EXIT_FAILED);
    }
    if (access(path, F_OK) == 0) {
        /* Another `up` won the race. */
        return cmd_up(o);
    }
    cl.port = o->port;
    cl.voters = o->nodes;
    if (o->host != NULL) {
        snprintf(cl.host, sizeof cl.host, "%s", o->host);
    }
    if (o->netns_prefix != NULL) {
        snprintf(cl.netns_prefix, sizeof cl.netns_prefix, "%s",
                 o->netns_prefix);
    }
    for (i = 0; i < (unsigned)o->n_extra; i++) {
        cl.extra[i] = strdup(o->extra[i]);
        if (cl.extra[i] == NULL) {
            cluster_free(&cl);
            return fail("out of memory", EXIT_FAILED);
        }
        cl.n_extra++;
    }
    for (i = 1; i <= o->nodes; i++) {
        if (add_node(&cl, i) == NULL) {
            cluster_free(&cl);
            return fail("out of memory", EXIT_FAILED);
        }
    }

    /* A port already answering belongs to something else (another
     * cluster, say): starting there would report that one as ours. */
    for (i = 0; i < cl.n; i++) {
        struct conn *c = NULL;
        char ignored[WR_ERRMSG_SIZE];
        if (conn_open(cl.nodes[i].address, 300, &c, ignored) == 0) {
            conn_close(c);
            err_printf(errmsg, "%s is already in use by another process: "
                               "choose another --port",
                       cl.nodes[i].address);
            cluster_free(&cl);
            return fail(errmsg, EXIT_FAILED);
        }
    }

    /* Node 1 bootstraps; the others join through the nodes started before
     * them. Record every pid as soon as it exists, so that `down` can
     * stop what `up` started even if `up` fails half-way. */
    for (i = 0; i < cl.n; i++) {
        char join[1024] = "";
        size_t k;
        for (k = 0; k < i; k++) {
            size_t len = strlen(join);
            snprintf(join + len, sizeof join - len, "%s%s",
                     len > 0 ? "," : "", cl.nodes[k].address);
        }
        rv = node_spawn(&cl, &cl.nodes[i], join, errmsg);
        if (rv == 0) {
            rv = cluster_save(&cl, errmsg);
        }
        if (rv != 0) {
            char ignored[WR_ERRMSG_SIZE];
            (void)cluster_save(&cl, ignored);
            cluster_free(&cl);
            return fail(errmsg, EXIT_FAILED);
        }
    }
    rv = wait_settled(&cl, UP_TIMEOUT_MS);
    cluster_free(&cl);
    return rv;
}

static int cmd_status(const struct opts *o)
{
    struct cluster cl;
    struct view *views;
    json_t *out = NULL;
    int leader;
    uint64_t leader_applied = 0;
    size_t i;
    char errmsg[WR_ERRMSG_SIZE];
    int rv = cluster_load(&cl, o->dir, errmsg);

    if (rv != 0) {
        return fail(errmsg, EXIT_FAILED);
    }
    views = calloc(cl.n + 1, sizeof *views);
    if (views == NULL) {
        cluster_free(&cl);
        return fail("out of memory", EXIT_FAILED);
    }
    leader = views_fetch(&cl, STATUS_TIMEOUT_MS, views);
    if (leader >= 0) {
        leader_applied = views[leader].applied;
    }
    if (o->json) {
        out = json_array();
    } else {
        printf("%-4s %-21s %-8s %-9s %-6s %10s %6s %s\n", "ID", "ADDRESS",
               "ROLE", "STATE", "LEADER", "APPLIED", "LAG", "UP");
    }
    for (i = 0; i < cl.n; i++) {
        const struct node_rec *r = &cl.nodes[i];
        const struct view *v = &views[i];
        long long lag = 0;
        bool have_lag = v->answered && leader >= 0;
        if (r->removed) {
            continue;
        }
        if (have_lag) {
            lag = (long long)leader_applied - (long long)v->applied;
        }
        if (out != NULL) {
            json_t *row = json_pack(
                "{s:I, s:s, s:s, s:s, s:I, s:I, s:o, s:b, s:I}", "id",
                (json_int_t)r->id, "address", r->address, "role",
                v->answered ? v->role : "unknown", "state",
                v->answered ? v->state : "unknown", "leader",
                (json_int_t)v->leader_id, "applied", (json_int_t)v->applied,
                "lag", have_lag ? json_integer(lag) : json_null(), "up",
                v->answered, "pid", (json_int_t)(v->alive ? r->pid : 0));
            if (row != NULL && !v->answered) {
                json_object_set_new(row, "error", json_string(v->why));
            }
            json_array_append_new(out, row);
        } else if (v->answered) {
            char lagtxt[24];
            char leadtxt[24];
            snprintf(lagtxt, sizeof lagtxt, "%lld", lag);
            snprintf(leadtxt, sizeof leadtxt, "%llu",
                     (unsigned long long)v->leader_id);
            printf("%-4llu %-21s %-8s %-9s %-6s %10llu %6s %s\n",
                   (unsigned long long)r->id, r->address, v->role, v->state,
                   v->leader_id != 0 ? leadtxt : "-",
                   (unsigned long long)v->applied, have_lag ? lagtxt : "-",
                   "up");
        } else {
            printf("%-4llu %-21s %-8s %-9s %-6s %10s %6s %s (%s)\n",
                   (unsigned long long)r->id, r->address, "-", "-", "-", "-",
                   "-", "down", v->why);
        }
    }
    if (out != NULL) {
        char *text = json_dumps(out, JSON_INDENT(2));
        if (text != NULL) {
            printf("%s\n", text);
            free(text);
        }
        json_decref(out);
    }
    views_clear(&cl, views);
    free(views);
    cluster_free(&cl);
    return EXIT_OK;
}

static int cmd_down(const struct opts *o)
{
    struct cluster cl;
    char errmsg[WR_ERRMSG_SIZE];
    size_t i;
    uint64_t deadline;
    int rv = open_cluster(o->dir, &cl);

    if (rv != EXIT_OK) {
        return rv;
    }
    /* All at once, so that a large cluster stops in one timeout. */
    for (i = 0; i < cl.n; i++) {
        if (pid_alive(cl.nodes[i].pid, cl.nodes[i].data_dir)) {
            (void)kill(cl.nodes[i].pid, SIGTERM);
            printf("stopping node %llu\n",
                   (unsigned long long)cl.nodes[i].id);
        }
    }
    deadline = now_ms() + STOP_TIMEOUT_MS;
    for (i = 0; i < cl.n; i++) {
        uint64_t now = now_ms();
        node_stop(&cl.nodes[i], SIGTERM,
                  deadline > now ? (unsigned)(deadline - now) : 0);
    }
    rv = cluster_save(&cl, errmsg);
    cluster_free(&cl);
    return rv != 0 ? fail(errmsg, EXIT_FAILED) : EXIT_OK;
}

static int cmd_add(const struct opts *o)
{
    struct cluster cl;
    char errmsg[WR_ERRMSG_SIZE];
    char join[1024];
    struct node_rec *r;
    uint64_t id = 0;
    uint64_t deadline;
    size_t i;
    int rv = open_cluster(o->dir, &cl);

    if (rv != EXIT_OK) {
        return rv;
    }
    for (i = 0; i < cl.n; i++) {
        if (cl.nodes[i].id > id) {
            id = cl.nodes[i].id;
        }
    }
    id++;
    if (o->address == NULL && cl.port + id - 1 > 65535) {
        cluster_free(&cl);
        return fail("no port left for another node", EXIT_FAILED);
    }
    cluster_addresses(&cl, 0, join, sizeof join);
    r = add_node(&cl, id);
    if (r == NULL) {
        cluster_free(&cl);
        return fail("out of memory", EXIT_FAILED);
    }
    if (o->address != NULL) {
        snprintf(r->address, sizeof r->address, "%s", o->address);
    }
    if (o->netns != NULL) {
        snprintf(r->netns, sizeof r->netns, "%s", o->netns);
    }
    rv = node_spawn(&cl, r, join, errmsg);
    if (rv == 0) {
        rv = cluster_save(&cl, errmsg);
    }
    if (rv != 0) {
        cluster_free(&cl);
        return fail(errmsg, EXIT_FAILED);
    }

    /* Wait until the leader lists it as voter or standby. */
    deadline = now_ms() + UP_TIMEOUT_MS;
    for (;;) {
        struct view *views = calloc(cl.n + 1, sizeof *views);
        int leader;
        const char *role = NULL;
        if (views == NULL) {
            cluster_free(&cl);
            return fail("out of memory", EXIT_FAILED);
        }
        leader = views_fetch(&cl, STATUS_TIMEOUT_MS, views);
        if (leader >= 0) {
            role = config_role(&views[leader], id);
        }
        if (role != NULL &&
            (strcmp(role, "voter") == 0 || strcmp(role, "standby") == 0)) {
            printf("node %llu %s %s\n", (unsigned long long)id,
                   cl.nodes[cl.n - 1].address, role);
            views_clear(&cl, views);
            free(views);
            break;
        }
        if (!views[cl.n - 1].alive || now_ms() >= deadline) {
            fprintf(stderr, "walraft cluster add: node %llu %s\n",
                    (unsigned long long)id,
                    !views[cl.n - 1].alive ? "exited"
                    : role != NULL ? "was not promoted in time"
                                   : "did not join in time");
            print_tail(cl.nodes[cl.n - 1].log, 15);
            rv = !views[cl.n - 1].alive ? EXIT_FAILED : EXIT_UNAVAILABLE;
            views_clear(&cl, views);
            free(views);
            cluster_free(&cl);
            return rv;
        }
        views_clear(&cl, views);
        free(views);
        sleep_ms(200);
    }
    cluster_free(&cl);
    return EXIT_OK;
}

/* Send a membership or leadership request about @id to the leader. */
static int leader_request(const struct cluster *cl,
                          struct proto_request *req,
                          char *errmsg)
{
    char addresses[1024];
    struct proto_response resp;
    struct conn *c;
    int rv;

    cluster_addresses(cl, 0, addresses, sizeof addresses);
    rv = conn_open_leader(addresses, 2000, 10000, &c, errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = conn_request(c, req, PROTO_RESP_EMPTY, &resp, errmsg);
    conn_close(c);
    if (rv != 0) {
        err_wrap(errmsg, "%s", proto_request_name(req->type));
    }
    return rv;
}

/* Open the cluster in o->dir (locked) and find the member o->id names.
 * Returns EXIT_OK with both set, or an exit code with nothing to free. */
static int open_node(const struct opts *o,
                     struct cluster *cl,
                     struct node_rec **r)
{
    int rv = open_cluster(o->dir, cl);

    if (rv != EXIT_OK) {
        return rv;
    }
    *r = find_node(cl, o->id);
    if (*r == NULL || (*r)->removed) {
        fprintf(stderr, "walraft cluster %s: no node %llu in %s\n", o->cmd,
                (unsigned long long)o->id, cl->dir);
        cluster_free(cl);
        return EXIT_FAILED;
    }
    return EXIT_OK;
}

/* Wait until node @id says it leads and is ready. */
static int wait_leader(const struct cluster *cl,
                       uint64_t id,
                       unsigned timeout_ms)
{
    uint64_t deadline = now_ms() + timeout_ms;
    const struct node_rec *r = NULL;
    size_t i;
    for (i = 0; i < cl->n; i++) {
        if (cl->nodes[i].id == id) {
            r = &cl->nodes[i];
        }
    }
    for (;;) {
        struct view v;
        bool ok;
        view_fetch(r, STATUS_TIMEOUT_MS, &v);
        ok = v.answered && strcmp(v.state, "leader") == 0 && v.ready;
        view_clear(&v);
        if (ok) {
            return 0;
        }
        if (now_ms() >= deadline) {
            return WR_NOTLEADER;
        }
        sleep_ms(100);
    }
}

static int cmd_remove(const struct opts *o)
{
    struct cluster cl;
    struct proto_request req;
    char errmsg[WR_ERRMSG_SIZE];
    struct node_rec *r;
    struct view v;
    int rv = open_node(o, &cl, &r);

    if (rv != EXIT_OK) {
        return rv;
    }
    /* A leader cannot be told to remove itself reliably: hand leadership
     * over first. */
    view_fetch(r, STATUS_TIMEOUT_MS, &v);
    if (v.answered && strcmp(v.state, "leader") == 0) {
        memset(&req, 0, sizeof req);
        req.type = PROTO_REQ_TRANSFER;
        req.transfer.id = 0;
        rv = leader_request(&cl, &req, errmsg);
        if (rv != 0) {
            fprintf(stderr, "walraft cluster remove: node %llu leads and "
                    "could not hand over: %s; removing it anyway\n",
                    (unsigned long long)o->id, errmsg);
        }
    }
    view_clear(&v);

    memset(&req, 0, sizeof req);
    req.type = PROTO_REQ_REMOVE;
    req.remove.id = o->id;
    rv = leader_request(&cl, &req, errmsg);
    if (rv != 0) {
        cluster_free(&cl);
        return fail(errmsg, exit_code_of(rv));
    }
    node_stop(r, SIGTERM, STOP_TIMEOUT_MS);
    r->removed = true;
    rv = cluster_save(&cl, errmsg);
    cluster_free(&cl);
    if (rv != 0) {
        return fail(errmsg, EXIT_FAILED);
    }
    printf("removed node %llu\n", (unsigned long long)o->id);
    return EXIT_OK;
}

static int cmd_transfer(const struct opts *o)
{
    struct cluster cl;
    struct node_rec *r;
    struct proto_request req;
    char errmsg[WR_ERRMSG_SIZE];
    int rv = open_node(o, &cl, &r);

    if (rv != EXIT_OK) {
        return rv;
    }
    memset(&req, 0, sizeof req);
    req.type = PROTO_REQ_TRANSFER;
    req.transfer.id = r->id;
    rv = leader_request(&cl, &req, errmsg);
    if (rv == 0) {
        rv = wait_leader(&cl, o->id, 10000);
        err_printf(errmsg, "node %llu did not take over leadership in 10 s",
                   (unsigned long long)o->id);
    }
    cluster_free(&cl);
    if (rv != 0) {
        return fail(errmsg, exit_code_of(rv));
    }
    printf("leader %llu\n", (unsigned long long)o->id);
    return EXIT_OK;
}

static int cmd_kill(const struct opts *o)
{
    struct cluster cl;
    char errmsg[WR_ERRMSG_SIZE];
    struct node_rec *r;
    int rv = open_node(o, &cl, &r);

    if (rv != EXIT_OK) {
        return rv;
    }
    node_stop(r, SIGKILL, STOP_TIMEOUT_MS);
    rv = cluster_save(&cl, errmsg);
    cluster_free(&cl);
    if (rv != 0) {
        return fail(errmsg, EXIT_FAILED);
    }
    printf("killed node %llu\n", (unsigned long long)o->id);
    return EXIT_OK;
}

static int cmd_restart(const struct opts *o)
{
    struct cluster cl;
    char errmsg[WR_ERRMSG_SIZE];
    char join[1024];
    struct node_rec *r;
    uint64_t deadline;
    int rv = open_node(o, &cl, &r);

    if (rv != EXIT_OK) {
        return rv;
    }
    node_stop(r, SIGTERM, STOP_TIMEOUT_MS);
    /* --join only matters if the node lost its data (start_stopped()). */
    cluster_addresses(&cl, r->id, join, sizeof join);
    rv = node_spawn(&cl, r, join, errmsg);
    if (rv == 0) {
        rv = cluster_save(&cl, errmsg);
    }
    if (rv != 0) {
        cluster_free(&cl);
        return fail(errmsg, EXIT_FAILED);
    }
    /* Wait until it answers, so that a caller can use it right away. */
    deadline = now_ms() + 10000;
    for (;;) {
        struct view v;
        bool answered;
        bool alive;
        view_fetch(r, STATUS_TIMEOUT_MS, &v);
        answered = v.answered;
        alive = v.alive;
        view_clear(&v);
        if (answered) {
            break;
        }
        if (!alive || now_ms() >= deadline) {
            fprintf(stderr, "walraft cluster restart: node %llu %s\n",
                    (unsigned long long)r->id,
                    alive ? "does not answer" : "exited");
            print_tail(r->log, 15);
            cluster_free(&cl);
            return alive ? EXIT_UNAVAILABLE : EXIT_FAILED;
        }
        sleep_ms(100);
    }
    printf("restarted node %llu (pid %d)\n", (unsigned long long)r->id,
           (int)r->pid);
    cluster_free(&cl);
    return EXIT_OK;
}

static int cmd_logs(const struct opts *o)
{
    struct cluster cl;
    char errmsg[WR_ERRMSG_SIZE];
    char buf[65536];
    struct node_rec *r;
    FILE *f;
    size_t n;
    int rv = cluster_load(&cl, o->dir, errmsg);

    if (rv != 0) {
        return fail(errmsg, EXIT_FAILED);
    }
    r = find_node(&cl, o->id);
    if (r == NULL) {
        fprintf(stderr, "walraft cluster logs: no node %llu in %s\n",
                (unsigned long long)o->id, cl.dir);
        cluster_free(&cl);
        return EXIT_FAILED;
    }
    f = fopen(r->log, "r");
    if (f == NULL) {
        err_printf(errmsg, "%s: %s", r->log, strerror(errno));
        cluster_free(&cl);
        return fail(errmsg, EXIT_FAILED);
    }
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        fwrite(buf, 1, n, stdout);
    }
    fclose(f);
    cluster_free(&cl);
    return EXIT_OK;
}

/*
 * The command line.
 */

static const struct subcommand {
    const char *name;
    int (*run)(const struct opts *o);
    bool takes_id;
} subcommands[] = {
    {"up", cmd_up, false},           {"status", cmd_status, false},
    {"down", cmd_down, false},       {"add", cmd_add, false},
    {"remove", cmd_remove, true},    {"transfer", cmd_transfer, true},
    {"kill", cmd_kill, true},        {"restart", cmd_restart, true},
    {"logs", cmd_logs, true},
};

void cluster_usage(FILE *f)
{
    fprintf(f,
        "usage: walraft cluster up --nodes 3|5 [--dir DIR] [--port P] "
        "[-- WALRAFTD-FLAGS...]\n"
        "       walraft cluster up ... [--host IP] [--netns-prefix NS]\n"
        "       walraft cluster status [--dir DIR] [--format table|json]\n"
        "       walraft cluster down [--dir DIR]\n"
        "       walraft cluster add [--dir DIR] [--address IP:PORT] "
        "[--netns NS]\n"
        "       walraft cluster remove|transfer|kill|restart|logs ID "
        "[--dir DIR]\n"
        "\n"
        "A cluster of local walraftd processes, recorded in DIR "
        "(default " DEFAULT_DIR ").\n"
        "Node I listens on 127.0.0.1:(P+I-1) (P defaults to %d), keeps "
        "its data in DIR/I\n"
        "and its output in DIR/I.log.\n"
        "\n"
        "  up        start the nodes and wait until they agree on a "
        "leader; on an existing\n"
        "            DIR, start the nodes that are not running\n"
        "  status    id, address, role, state, leader, applied index and "
        "lag of every node\n"
        "  down      stop every node (SIGTERM, SIGKILL after 10 s); the "
        "data stays\n"
        "  add       start one more node and wait until it is a member; "
        "--address and\n"
        "            --netns place it (default: as up places node ID)\n"
        "  remove    remove node ID from the cluster and stop it\n"
        "  transfer  make node ID the leader\n"
        "  kill      SIGKILL node ID\n"
        "  restart   start node ID again with its data\n"
        "  logs      print node ID's log\n"
        "\n"
        "Flags after -- go to every walraftd (e.g. -- --election-timeout "
        "500).\n"
        "With --host IP, node I listens on IP + I - 1 instead; with "
        "--netns-prefix NS\n"
        "it runs in the network namespace NS followed by I (made "
        "beforehand with\n"
        "`ip netns add`; the fault harness walraft-jepsen does this).\n"
        "walraftd is taken from walraft's directory, else $WALRAFTD, "
        "else $PATH.\n"
        "Exit codes: 0 success, 1 an operation failed, 2 usage error, 3 "
        "cluster unavailable.\n",
        DEFAULT_PORT);
}

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "walraft cluster: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n\n");
    cluster_usage(stderr);
    return EXIT_USAGE;
}

/* The value of "--name VALUE" or "--name=VALUE" at argv[*i], or NULL if
 * argv[*i] is not --name. Sets *missing if the value is absent. */
static const char *flag_value(int argc,
                              char **argv,
                              int *i,
                              const char *name,
                              bool *missing)
{
    size_t len = strlen(name);
    if (strncmp(argv[*i], name, len) != 0) {
        return NULL;
    }
    if (argv[*i][len] == '=') {
        return argv[*i] + len + 1;
    }
    if (argv[*i][len] != '\0') {
        return NULL;
    }
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

int cluster_main(int argc, char **argv)
{
    struct opts o;
    const struct subcommand *sub = NULL;
    const char *format = "table";
    size_t k;
    int i;

    memset(&o, 0, sizeof o);
    o.dir = DEFAULT_DIR;
    o.port = DEFAULT_PORT;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v;
        bool missing = false;
        uint64_t n;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cluster_usage(stdout);
            return EXIT_OK;
        }
        if (strcmp(a, "--") == 0) {
            o.extra = argv + i + 1;
            o.n_extra = argc - i - 1;
            break;
        }
        if ((v = flag_value(argc, argv, &i, "--dir", &missing)) != NULL) {
            if (v[0] == '\0') {
                return usage_error("--dir: empty");
            }
            o.dir = v;
        } else if ((v = flag_value(argc, argv, &i, "--port", &missing)) !=
                   NULL) {
            if (!parse_u64(v, &n) || n == 0 || n > 65535) {
                return usage_error("--port: \"%s\" is not a port", v);
            }
            o.port = (unsigned)n;
        } else if ((v = flag_value(argc, argv, &i, "--nodes", &missing)) !=
                   NULL) {
            if (!parse_u64(v, &n) || n == 0 || n > 64) {
                return usage_error("--nodes: \"%s\" is not 1..64", v);
            }
            o.nodes = (unsigned)n;
        } else if ((v = flag_value(argc, argv, &i, "--host", &missing)) !=
                   NULL) {
            struct in_addr ip;
            if (inet_pton(AF_INET, v, &ip) != 1) {
                return usage_error("--host: \"%s\" is not an IPv4 address",
                                   v);
            }
            o.host = v;
        } else if ((v = flag_value(argc, argv, &i, "--netns-prefix",
                                   &missing)) != NULL) {
            if (v[0] == '\0' || strlen(v) > 20 || strchr(v, '/') != NULL) {
                return usage_error("--netns-prefix: \"%s\" is not 1..20 "
                                   "characters without /", v);
            }
            o.netns_prefix = v;
        } else if ((v = flag_value(argc, argv, &i, "--netns", &missing)) !=
                   NULL) {
            if (v[0] == '\0' || strlen(v) > 30 || strchr(v, '/') != NULL) {
                return usage_error("--netns: \"%s\" is not 1..30 "
                                   "characters without /", v);
            }
            o.netns = v;
        } else if ((v = flag_value(argc, argv, &i, "--address", &missing)) !=
                   NULL) {
            const char *colon = strrchr(v, ':');
            if (colon == NULL || colon == v || !parse_u64(colon + 1, &n) ||
                n == 0 || n > 65535 || (size_t)(colon - v) > 15) {
                return usage_error("--address: \"%s\" is not IP:PORT", v);
            }
            o.address = v;
        } else if ((v = flag_value(argc, argv, &i, "--format", &missing)) !=
                   NULL) {
            if (strcmp(v, "table") != 0 && strcmp(v, "json") != 0) {
                return usage_error("--format: \"%s\" is not table or json",
                                   v);
            }
            format = v;
        } else if (missing) {
            return usage_error("%s needs a value", a);
        } else if (a[0] == '-') {
            return usage_error("unknown flag \"%s\"", a);
        } else if (sub == NULL) {
            for (k = 0; k < sizeof subcommands / sizeof subcommands[0];
                 k++) {
                if (strcmp(a, subcommands[k].name) == 0) {
                    sub = &subcommands[k];
                }
            }
            if (sub == NULL) {
                return usage_error("unknown subcommand \"%s\"", a);
            }
        } else if (sub->takes_id && !o.has_id) {
            if (!parse_u64(a, &o.id) || o.id == 0) {
                return usage_error("\"%s\" is not a node id", a);
            }
            o.has_id = true;
        } else {
            return usage_error("unexpected argument \"%s\"", a);
        }
    }
    if (sub == NULL) {
        return usage_error("which subcommand?");
    }
    if (sub->takes_id && !o.has_id) {
        return usage_error("%s needs a node ID", sub->name);
    }
    if (o.n_extra > 0 && strcmp(sub->name, "up") != 0) {
        return usage_error("walraftd flags after -- only go with up");
    }
    if (o.nodes != 0 && strcmp(sub->name, "up") != 0) {
        return usage_error("--nodes only goes with up");
    }
    if ((o.host != NULL || o.netns_prefix != NULL) &&
        strcmp(sub->name, "up") != 0) {
        return usage_error("--host and --netns-prefix only go with up");
    }
    if ((o.address != NULL || o.netns != NULL) &&
        strcmp(sub->name, "add") != 0) {
        return usage_error("--address and --netns only go with add");
    }
    if (strcmp(sub->name, "up") == 0 &&
        (uint64_t)o.port + (o.nodes > 0 ? o.nodes : 1) - 1 > 65535) {
        return usage_error("--port: no room for the nodes");
    }
    o.cmd = sub->name;
    o.json = strcmp(format, "json") == 0;
    return sub->run(&o);
}
