/*
 * walraft-jepsen: run a workload against a local walraft cluster while a
 * nemesis injects faults, record the history, and judge it.
 *
 *   walraft-jepsen run --nodes 3|5 --workload W --nemesis N[,N...]
 *       --time S --rate R --concurrency C [--read-level L] [--seed X]
 *       [--port P] [--walraft PATH] [--unsafe-skip-read-index] [--loopback]
 *       --out DIR [-- WALRAFTD-FLAGS...]
 *   walraft-jepsen check DIR --workload W [walraft-jepsen-check options]
 *   walraft-jepsen ci --out DIR [--time S] [--port P] ... (ci.c)
 *
 * A run (runner.h): the cluster comes up in DIR/cluster (cluster.c), as
 * root each node in a network namespace of its own on a bridge named after
 * the port, the clients staying in the root namespace (netns.h); with
 * --loopback, or where namespaces cannot be made, on 127.0.0.1, and the
 * nemeses that need namespaces (partitions, loss) are skipped and named in
 * results.json (run.network, run.nemeses_skipped) and verdict.txt. With the
 * disk nemesis each data directory is a 256 MiB tmpfs. Leftovers of an
 * earlier run on the same port (namespaces, links, mounts) are swept first,
 * and this run's are removed at the end, also after SIGINT or a failure (a
 * second run on the same port is refused). The workload (wl_*.c) creates
 * its schema; C worker threads, each with its own libwalraft handle whose
 * address list starts at a different node (libwalraft reads from the first
 * reachable address, so reads are spread over every node), share R
 * operation slots per second. Every operation is recorded in
 * DIR/history.jsonl (format: history.h) as an invocation before the call
 * and a completion after it; a definite error is "fail", anything else
 * "info", and a worker whose operation ended in "info" continues as a new
 * process. The nemesis thread (nemesis.c) injects faults until the last
 * quarter of the run, which is fault-free, each recorded as nemesis events:
 * pause, kill, partitions (one, leader, halves, ring, bridge, one-way, or
 * "partition" for any), packet loss, membership (a member replaced by a
 * fresh one), a full disk, and leadership-transfer storms. Everything is
 * healed (nemesis_heal), and the workload's final operations must succeed.
 * The workload's checker judges the history: DIR/results.json,
 * DIR/verdict.txt; then DIR/timeline.html, DIR/latency.png and
 * DIR/throughput.png (report_html.h) show it. The cluster is always
 * stopped at the end.
 *
 * Exit 0 valid, 1 invalid, 2 unknown or unusable: the run meant nothing if
 * too few operations succeeded overall or none during faults, if a final
 * operation failed, if a member is not running and answering after the
 * heal, or if a node's log (DIR/cluster/ID.log) holds a sanitizer report
 * or a failed assertion.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ci.h"
#include "nemesis.h"
#include "report_html.h"
#include "runner.h"

#define MIN_OK_OPS 50
#define MIN_OK_DURING_FAULTS 1

static const struct workload *const workloads[] = {
    &workload_register,
    &workload_bank,
    &workload_set,
    &workload_list_append,
};

static void on_sigint(int sig)
{
    (void)sig;
    atomic_store(&interrupted, true);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    while (rate_wait(w->run)) {
        w->run->cfg->workload->step(w);
    }
    return NULL;
}

static void worker_close(struct worker *w)
{
    w->run->cfg->workload->close(w);
    wr_close(w->db);
    w->db = NULL;
}

/* After the heal, on a handle of its own: the workload's final
 * operations. Returns 0 or -1. */
static int final_ops(struct run *r)
{
    struct worker w = {.run = r, .id = 0};
    int rv = -1;

    w.process = new_process(r);
    w.rs = rnd_seed(r->cfg->seed, 0xf1a1);
    if (worker_connect(&w) == 0 && r->cfg->workload->open(&w) == 0) {
        rv = r->cfg->workload->final(&w);
    }
    worker_close(&w);
    return rv;
}

/* Create the schema through a handle that waits for a leader. */
static int setup(struct run *r)
{
    char addrs[MAX_NODES * 66];
    struct wr_options opts = {.failover_timeout_ms = 30000};
    wr_db *db = NULL;
    int rv = -1;

    addresses(r, 0, addrs, sizeof addrs);
    if (wr_open(addrs, &opts, &db) == WR_OK) {
        rv = r->cfg->workload->setup(r, db);
    }
    wr_close(db);
    return rv;
}

/* Judge the history and write results.json and verdict.txt. @unusable is
 * NULL or why the run meant nothing. Returns the exit code. */
static int judge(struct run *r, const char *unusable)
{
    char path[PATH_MAX + 32];
    char errmsg[512];
    struct history h;
    struct check_result res = {0};
    const char *wname = r->cfg->workload->name;
    char nemeses[256];
    const char *verdict;
    int code, rv;
    json_t *results;
    FILE *f;

    snprintf(path, sizeof path, "%s/history.jsonl", r->cfg->out);
    rv = history_load(&h, path, errmsg);
    if (rv != 0) {
        results = json_pack("{s:s, s:s, s:s}", "checker", wname, "valid",
                            "unknown", "error", errmsg);
        verdict = "unknown";
        code = EXIT_UNKNOWN;
    } else {
        rv = r->cfg->workload->check(r, &h, &res);
        history_close(&h);
        if (rv != 0 || res.json == NULL) {
            snprintf(errmsg, sizeof errmsg, "the checker ran out of memory");
            results = json_pack("{s:s, s:s, s:s}", "checker", wname,
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
        "nodes", r->cfg->nodes, "workload", wname, "time",
        r->cfg->time_s, "rate", r->cfg->rate, "concurrency",
        r->cfg->concurrency, "read_level", r->cfg->read_level_name, "seed",
        (json_int_t)r->cfg->seed, "unsafe_skip_read_index",
        r->cfg->unsafe_skip_read_index, "ok", (json_int_t)r->n_ok, "fail",
        (json_int_t)r->n_fail, "info", (json_int_t)r->n_info,
        "ok_during_faults", (json_int_t)r->n_ok_faulting, "usable",
        unusable == NULL, "unusable_because", unusable);
    json_object_set_new(run, "nemesis", nemesis_names_json(r->cfg->nemeses));
    json_object_set_new(run, "network", json_string(
                                            r->netns ? "namespaces"
                                                     : "loopback"));
    json_object_set_new(run, "tmpfs_disks", json_boolean(r->tmpfs));
    json_t *flags = json_array();
    for (int i = 0; i < r->cfg->n_node_flags; i++) {
        json_array_append_new(flags, json_string(r->cfg->node_flags[i]));
    }
    json_object_set_new(run, "walraftd_flags", flags);
    json_object_set_new(run, "nemeses_skipped",
                        nemesis_names_json(r->skipped));
    if (r->skipped != 0) {
        json_object_set_new(run, "nemeses_skipped_because",
                            json_string(r->skipped_why));
    }
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
    nemesis_names(r->cfg->nemeses, nemeses, sizeof nemeses);
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
                "%s checker: %s\n"
                "%d nodes, nemesis %s, %d s, %g ops/s, %d workers, "
                "reads %s, seed %llu%s\n"
                "%ld ok, %ld fail, %ld info; %ld ok during faults\n",
                wname, verdict, r->cfg->nodes, nemeses, r->cfg->time_s,
                r->cfg->rate,
                r->cfg->concurrency, r->cfg->read_level_name,
                (unsigned long long)r->cfg->seed,
                r->cfg->unsafe_skip_read_index
                    ? ", nodes with --unsafe-skip-read-index"
                    : "",
                (long)r->n_ok, (long)r->n_fail, (long)r->n_info,
                (long)r->n_ok_faulting);
        fprintf(o, "nodes on %s%s\n",
                r->netns ? "network namespaces" : "loopback",
                r->tmpfs ? ", data directories on tmpfs" : "");
        if (r->cfg->n_node_flags > 0) {
            fprintf(o, "walraftd flags:");
            for (int i = 0; i < r->cfg->n_node_flags; i++) {
                fprintf(o, " %s", r->cfg->node_flags[i]);
            }
            fprintf(o, "\n");
        }
        if (r->skipped != 0) {
            fprintf(o, "nemeses skipped: %s\n", r->skipped_why);
        }
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
    /* The timeline and plots are for people: a failure to draw them is
     * said, and changes nothing in the verdict. */
    if (report_render_dir(r->cfg->out, errmsg, sizeof errmsg) != 0) {
        fprintf(stderr, "walraft-jepsen: warning: report: %s\n", errmsg);
    }
    return code;
}

static int run_main(const struct config *cfg)
{
    struct run r = {.cfg = cfg};
    struct worker *workers = NULL;
    pthread_t nemesis;
    bool nemesis_started = false, up = false;
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
        goto out;
    }
    snprintf(r.cluster_dir, sizeof r.cluster_dir, "%s/cluster", cfg->out);
    snprintf(r.cmd_log, sizeof r.cmd_log, "%s/walraft.log", cfg->out);
    if (stat(r.cluster_dir, &st) == 0) {
        fprintf(stderr, "walraft-jepsen: %s exists: choose a fresh --out\n",
                r.cluster_dir);
        goto out;
    }
    snprintf(path, sizeof path, "%s/history.jsonl", cfg->out);
    r.hist = fopen(path, "w");
    if (r.hist == NULL) {
        fprintf(stderr, "walraft-jepsen: %s: %s\n", path, strerror(errno));
        goto out;
    }
    workers = calloc((size_t)cfg->concurrency, sizeof *workers);
    if (workers == NULL) {
        fprintf(stderr, "walraft-jepsen: out of memory\n");
        goto out;
    }
    printf("walraft-jepsen: seed %llu, out %s\n",
           (unsigned long long)cfg->seed, cfg->out);
    fflush(stdout);

    up = true;
    if (cluster_start(&r) != 0 || setup(&r) != 0) {
        goto out;
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
        if (worker_connect(w) != 0 || cfg->workload->open(w) != 0) {
            fprintf(stderr, "walraft-jepsen: open a handle: %s\n",
                    w->db != NULL ? wr_errmsg(w->db) : "out of memory");
            atomic_store(&r.stop, true);
            break;
        }
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            atomic_store(&r.stop, true);
            break;
        }
        n_started++;
    }
    if (run_going(&r) && cfg->nemeses != 0) {
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
        if (workers[i].run != NULL) {
            worker_close(&workers[i]);
        }
    }
    nemesis_heal(&r);
    if (!run_going(&r)) {
        unusable = "the run was interrupted";
    } else if (final_ops(&r) != 0) {
        unusable = "a final operation failed after the heal";
    } else if (cluster_all_up(&r, why, sizeof why) != 0) {
        /* A node that cannot start from its own data (raft_uv's U7, U9
         * in raft/README.md) leaves the others serving: say so. */
        unusable = why;
    } else if (r.n_ok < MIN_OK_OPS) {
        snprintf(why, sizeof why, "only %ld operations succeeded (%d needed)",
                 (long)r.n_ok, MIN_OK_OPS);
        unusable = why;
    } else if ((cfg->nemeses & ~r.skipped) != 0 &&
               r.n_ok_faulting < MIN_OK_DURING_FAULTS) {
        unusable = "no operation succeeded during a fault";
    }
    fclose(r.hist);
    r.hist = NULL;

    cluster_stop(&r);
    up = false;
    if (unusable == NULL && logs_dirty(&r, why, sizeof why)) {
        unusable = why;
    }
    code = judge(&r, unusable);

out:
    nemesis_heal(&r);
    if (up) {
        cluster_stop(&r);
    }
    if (r.hist != NULL) {
        fclose(r.hist);
    }
    if (cfg->workload->destroy != NULL) {
        cfg->workload->destroy(&r);
    }
    free(workers);
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
        "usage: walraft-jepsen run --nodes 3|5 --workload W "
        "--nemesis N[,N...]\n"
        "           --time S --rate R --concurrency C [--read-level L] "
        "[--seed X]\n"
        "           [--port P] [--walraft PATH] [--unsafe-skip-read-index] "
        "[--loopback]\n"
        "           --out DIR [-- WALRAFTD-FLAGS...]\n"
        "       walraft-jepsen check DIR --workload W [options of "
        "walraft-jepsen-check]\n"
        "       walraft-jepsen ci --out DIR [options]: the CI set (ci --help)\n"
        "Read levels: linearizable (default), none, weak, strong.\n"
        "Workloads: register, bank, set, list-append.\n"
        "Nemeses (none: no faults):\n");
    nemesis_usage(out);
    fprintf(out,
        "Nodes run in network namespaces of their own on a bridge (as "
        "root; names\n"
        "wjPORT..., subnet 10.(P/256).(P%%256).0/24), clients in the root "
        "namespace;\n"
        "with --loopback, or where namespaces cannot be made, on "
        "127.0.0.1, and the\n"
        "[namespaces] nemeses are skipped (results.json: "
        "run.nemeses_skipped).\n"
        "Flags after -- go to every walraftd (e.g. -- --min-free-space 1, "
        "so that the\n"
        "disk nemesis fills the disk under the nodes' writes).\n"
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
        {"loopback", no_argument, NULL, 'L'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct config cfg = {
        .nodes = 3,
        .workload = &workload_register,
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
            case 'w': {
                size_t i, n_wl = sizeof workloads / sizeof *workloads;
                for (i = 0; i < n_wl && strcmp(optarg, workloads[i]->name);
                     i++) {
                }
                if (i == n_wl) {
                    fprintf(stderr, "--workload: no workload \"%s\"; there "
                            "are", optarg);
                    for (i = 0; i < n_wl; i++) {
                        fprintf(stderr, " %s", workloads[i]->name);
                    }
                    fprintf(stderr, "\n");
                    return EXIT_UNKNOWN;
                }
                cfg.workload = workloads[i];
                break;
            }
            case 'N':
                if (nemesis_parse(optarg, &cfg.nemeses) != 0) {
                    return EXIT_UNKNOWN;
                }
                break;
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
            case 'L':
                cfg.loopback = true;
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
    if (optind < argc && strcmp(argv[optind - 1], "--") == 0) {
        /* Everything after -- is for walraftd; walraft cluster up keeps
         * it for restarts and new members too. */
        cfg.node_flags = argv + optind;
        cfg.n_node_flags = argc - optind;
        optind = argc;
        if (cfg.n_node_flags > MAX_NODE_FLAGS) {
            fprintf(stderr, "walraft-jepsen: at most %d walraftd flags "
                            "after --\n", MAX_NODE_FLAGS);
            return EXIT_UNKNOWN;
        }
    }
    if (cfg.out == NULL || optind != argc) {
        usage(stderr);
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
    if (strcmp(argv[1], "ci") == 0) {
        return cmd_ci(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return EXIT_VALID;
    }
    usage(stderr);
    return EXIT_UNKNOWN;
}
