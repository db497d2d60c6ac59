/*
 * `walraft-jepsen ci`: the CI set of issue 8, one run after another, each
 * a `walraft-jepsen run` of its own in OUT/NAME, judged against the exit
 * code it must have:
 *
 *   register-partition    register, partitions                     valid
 *   register-pause-kill   register, pause and kill                 valid
 *   bank-partition-kill   bank, partitions and kill                valid
 *   set-kill-membership   set, kill and membership changes         valid
 *   list-append-partition list-append, partitions                  valid
 *   broken-node           register, pause, on nodes started with
 *                         --unsafe-skip-read-index                 invalid
 *
 * Prints a line per run and a summary, also written to OUT/ci.txt.
 * Exit 0 when every run ended as it must; 1 when a run that must be valid
 * was invalid, or the broken node was not caught; 2 when a run was
 * unusable or unknown (and nothing was invalid).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ci.h"
#include "runner.h"

extern char **environ;

struct scenario {
    const char *name;
    const char *workload;
    const char *nemesis;
    bool broken;
    int want;
};

static const struct scenario scenarios[] = {
    {"register-partition", "register", "partition", false, EXIT_VALID},
    {"register-pause-kill", "register", "pause,kill", false, EXIT_VALID},
    {"bank-partition-kill", "bank", "partition,kill", false, EXIT_VALID},
    {"set-kill-membership", "set", "kill,membership", false, EXIT_VALID},
    {"list-append-partition", "list-append", "partition", false, EXIT_VALID},
    {"broken-node", "register", "pause", true, EXIT_INVALID},
};

#define N_SCENARIOS (sizeof scenarios / sizeof *scenarios)

static void ci_usage(FILE *out)
{
    fprintf(out,
            "usage: walraft-jepsen ci --out DIR [--time S] [--port P] "
            "[--seed X] [--walraft PATH]\n"
            "       [--only NAME[,NAME...]] [--loopback]\n"
            "Runs the CI set, each run in DIR/NAME (S seconds each, default "
            "45; ports from P,\n"
            "default 26600, 10 per run). Runs:");
    for (size_t i = 0; i < N_SCENARIOS; i++) {
        fprintf(out, " %s", scenarios[i].name);
    }
    fprintf(out, ".\nExit 0 all as expected, 1 a wrong verdict, 2 a run "
                 "unusable.\n");
}

static const char *exit_name(int code)
{
    return code == EXIT_VALID     ? "valid"
           : code == EXIT_INVALID ? "invalid"
                                  : "unknown/unusable";
}

/* Whether @name is in the comma-separated @list (NULL: every name). */
static bool selected(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list;
    if (list == NULL) {
        return true;
    }
    while ((p = strstr(p, name)) != NULL) {
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) {
            return true;
        }
        p += n;
    }
    return false;
}

/* The first line of DIR/verdict.txt's run summary ("N ok, ..."), for the
 * report. */
static void run_counts(const char *dir, char *buf, size_t size)
{
    char path[PATH_MAX + 80], line[512];
    FILE *f;

    snprintf(buf, size, "-");
    snprintf(path, sizeof path, "%s/verdict.txt", dir);
    if ((f = fopen(path, "r")) == NULL) {
        return;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        if (strstr(line, " ok, ") != NULL) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(buf, size, "%s", line);
            break;
        }
    }
    fclose(f);
}

/* One `walraft-jepsen run`; returns its exit code (2 if it died). */
static int run_one(const char *self, const struct scenario *s,
                   const char *dir, const char *time_s, unsigned port,
                   const char *seed, const char *walraft, bool loopback)
{
    char port_s[16];
    const char *argv[32];
    int n = 0, status;
    pid_t pid;

    snprintf(port_s, sizeof port_s, "%u", port);
    argv[n++] = self;
    argv[n++] = "run";
    argv[n++] = "--nodes";
    argv[n++] = "3";
    argv[n++] = "--workload";
    argv[n++] = s->workload;
    argv[n++] = "--nemesis";
    argv[n++] = s->nemesis;
    argv[n++] = "--time";
    argv[n++] = time_s;
    argv[n++] = "--rate";
    argv[n++] = "100";
    argv[n++] = "--concurrency";
    argv[n++] = "6";
    argv[n++] = "--port";
    argv[n++] = port_s;
    argv[n++] = "--out";
    argv[n++] = dir;
    if (seed != NULL) {
        argv[n++] = "--seed";
        argv[n++] = seed;
    }
    if (walraft != NULL) {
        argv[n++] = "--walraft";
        argv[n++] = walraft;
    }
    if (loopback) {
        argv[n++] = "--loopback";
    }
    if (s->broken) {
        argv[n++] = "--unsafe-skip-read-index";
    }
    argv[n] = NULL;
    if (posix_spawn(&pid, self, NULL, NULL, (char *const *)argv, environ) !=
        0) {
        fprintf(stderr, "walraft-jepsen ci: cannot run %s: %s\n", self,
                strerror(errno));
        return EXIT_UNKNOWN;
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_UNKNOWN;
}

int cmd_ci(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},
        {"time", required_argument, NULL, 't'},
        {"port", required_argument, NULL, 'p'},
        {"seed", required_argument, NULL, 's'},
        {"walraft", required_argument, NULL, 'W'},
        {"only", required_argument, NULL, 'O'},
        {"loopback", no_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *time_s = "45", *seed = NULL, *walraft = NULL,
               *only = NULL;
    unsigned port = 26600;
    bool loopback = false;
    char self[PATH_MAX], dir[PATH_MAX], path[PATH_MAX + 16];
    char counts[512];
    int c, worst = EXIT_VALID, runs = 0;
    FILE *report;
    ssize_t len;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
            case 'o':
                out = optarg;
                break;
            case 't':
                time_s = optarg;
                break;
            case 'p':
                port = (unsigned)strtoul(optarg, NULL, 10);
                if (port == 0 || port > 65535 - 10 * N_SCENARIOS) {
                    fprintf(stderr, "--port: 1..%zu\n",
                            65535 - 10 * N_SCENARIOS);
                    return EXIT_UNKNOWN;
                }
                break;
            case 's':
                seed = optarg;
                break;
            case 'W':
                walraft = optarg;
                break;
            case 'O':
                only = optarg;
                break;
            case 'L':
                loopback = true;
                break;
            case 'h':
                ci_usage(stdout);
                return EXIT_VALID;
            default:
                ci_usage(stderr);
                return EXIT_UNKNOWN;
        }
    }
    if (out == NULL || optind != argc) {
        ci_usage(stderr);
        return EXIT_UNKNOWN;
    }
    len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        fprintf(stderr, "walraft-jepsen ci: cannot find myself\n");
        return EXIT_UNKNOWN;
    }
    self[len] = '\0';
    if (mkdir(out, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "walraft-jepsen ci: mkdir %s: %s\n", out,
                strerror(errno));
        return EXIT_UNKNOWN;
    }
    snprintf(path, sizeof path, "%s/ci.txt", out);
    if ((report = fopen(path, "w")) == NULL) {
        fprintf(stderr, "walraft-jepsen ci: %s: %s\n", path, strerror(errno));
        return EXIT_UNKNOWN;
    }
    for (size_t i = 0; i < N_SCENARIOS && !atomic_load(&interrupted); i++) {
        const struct scenario *s = &scenarios[i];
        time_t t0 = time(NULL);
        int got;

        if (!selected(only, s->name)) {
            continue;
        }
        snprintf(dir, sizeof dir, "%s/%s", out, s->name);
        printf("walraft-jepsen ci: %s: %s under %s%s, %s s\n", s->name,
               s->workload, s->nemesis,
               s->broken ? " on broken nodes" : "", time_s);
        fflush(stdout);
        got = run_one(self, s, dir, time_s, port + 10 * (unsigned)i, seed,
                      walraft, loopback);
        run_counts(dir, counts, sizeof counts);
        runs++;
        for (int pass = 0; pass < 2; pass++) {
            FILE *o = pass == 0 ? stdout : report;
            fprintf(o, "%-22s %-8s must be %-8s was %-16s %3lds  %s\n",
                    s->name, got == s->want ? "PASS" : "FAIL",
                    exit_name(s->want), exit_name(got),
                    (long)(time(NULL) - t0), counts);
            fflush(o);
        }
        if (got != s->want) {
            /* A wrong verdict outranks an unusable run. */
            int bad = got == EXIT_UNKNOWN ? EXIT_UNKNOWN : EXIT_INVALID;
            if (worst == EXIT_VALID || bad == EXIT_INVALID) {
                worst = bad;
            }
        }
    }
    if (atomic_load(&interrupted)) {
        worst = worst == EXIT_VALID ? EXIT_UNKNOWN : worst;
    }
    for (int pass = 0; pass < 2; pass++) {
        FILE *o = pass == 0 ? stdout : report;
        fprintf(o, "walraft-jepsen ci: %d runs, %s\n", runs,
                worst == EXIT_VALID     ? "all as expected"
                : worst == EXIT_INVALID ? "a wrong verdict"
                                        : "a run was unusable");
    }
    fclose(report);
    return runs == 0 ? EXIT_UNKNOWN : worst;
}
