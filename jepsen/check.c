/*
 * walraft-jepsen-check: re-check a saved history.
 *
 *   walraft-jepsen-check --workload register|bank|set|list-append
 *       [--total N] [--allow-negative] [--exactly-once]
 *       [--max-steps N] [--max-seconds S] [--report] DIR
 *
 * Reads DIR/history.jsonl (format in history.h), runs the workload's
 * checker, prints the verdict and its explanation, and writes
 * DIR/results.json (for a history that cannot be parsed, one saying so:
 * {"valid": "unknown", "error": "..."}). With --report it then also
 * writes DIR/timeline.html, DIR/latency.png and DIR/throughput.png
 * (report_html.h); a report that cannot be drawn (no gnuplot, say) is a
 * warning on stderr and does not change the exit status. Rendering is
 * opt-in because it costs a gnuplot run per check, which loops of checks
 * in tests do not want. Exits 0 if valid, 1 if invalid, 2 if unknown or
 * if the history cannot be used. `walraft-jepsen check` runs this
 * program.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/err.h"
#include "checker.h"
#include "history.h"
#include "report_html.h"

enum { EXIT_VALID = 0, EXIT_INVALID = 1, EXIT_UNKNOWN = 2 };

static void usage(FILE *out)
{
    fprintf(out,
            "usage: walraft-jepsen-check --workload W [options] DIR\n"
            "  --workload W       register, bank, set or list-append\n"
            "  --total N          bank: the conserved total (default: the "
            "first read's)\n"
            "  --allow-negative   bank: negative balances are fine\n"
            "  --exactly-once     set: an element must not appear twice\n"
            "  --max-steps N      register, list-append: search budget\n"
            "  --max-seconds S    register: time budget per key\n"
            "  --report           also write DIR/timeline.html, "
            "latency.png and\n"
            "                     throughput.png\n"
            "Reads DIR/history.jsonl, writes DIR/results.json.\n"
            "Exit 0 valid, 1 invalid, 2 unknown or unusable.\n");
}

static int parse_i64(const char *s, long long *out)
{
    char *end;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return errno != 0 || end == s || *end != '\0' ? -1 : 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"workload", required_argument, NULL, 'w'},
        {"total", required_argument, NULL, 't'},
        {"allow-negative", no_argument, NULL, 'n'},
        {"exactly-once", no_argument, NULL, 'e'},
        {"max-steps", required_argument, NULL, 's'},
        {"max-seconds", required_argument, NULL, 'S'},
        {"report", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *workload = NULL;
    struct register_opts reg = {0};
    struct bank_opts bank = {.total = -1};
    struct set_opts set = {0};
    struct list_append_opts la = {0};
    long long n;
    bool report = false;
    int c;

    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
            case 'w':
                workload = optarg;
                break;
            case 't':
                if (parse_i64(optarg, &n) || n < 0) {
                    fprintf(stderr, "--total: not an integer >= 0: %s\n",
                            optarg);
                    return EXIT_UNKNOWN;
                }
                bank.total = n;
                break;
            case 'n':
                bank.allow_negative = true;
                break;
            case 'e':
                set.exactly_once = true;
                break;
            case 's':
                if (parse_i64(optarg, &n) || n <= 0) {
                    fprintf(stderr, "--max-steps: not an integer > 0: %s\n",
                            optarg);
                    return EXIT_UNKNOWN;
                }
                reg.max_steps = la.max_steps = (uint64_t)n;
                break;
            case 'S': {
                char *end;
                reg.max_seconds = strtod(optarg, &end);
                if (end == optarg || *end != '\0' || reg.max_seconds <= 0) {
                    fprintf(stderr, "--max-seconds: not a number > 0: %s\n",
                            optarg);
                    return EXIT_UNKNOWN;
                }
                break;
            }
            case 'r':
                report = true;
                break;
            case 'h':
                usage(stdout);
                return EXIT_VALID;
            default:
                usage(stderr);
                return EXIT_UNKNOWN;
        }
    }
    if (workload == NULL || optind != argc - 1) {
        usage(stderr);
        return EXIT_UNKNOWN;
    }
    const char *dir = argv[optind];
    if (strcmp(workload, "register") != 0 && strcmp(workload, "bank") != 0 &&
        strcmp(workload, "set") != 0 && strcmp(workload, "list-append") != 0) {
        fprintf(stderr, "walraft-jepsen-check: unknown workload \"%s\"\n",
                workload);
        return EXIT_UNKNOWN;
    }

    char path[4096];
    char errmsg[WR_ERRMSG_SIZE];
    struct history h;
    struct check_result r = {0};
    int rv;

    snprintf(path, sizeof path, "%s/history.jsonl", dir);
    rv = history_load(&h, path, errmsg);
    if (rv != 0) {
        fprintf(stderr, "walraft-jepsen-check: %s\n", errmsg);
        /* Say so in results.json too, so a stale verdict cannot stand. */
        if (rv != WR_IOERR) {
            json_t *res = json_pack("{s:s, s:s, s:s}", "checker", workload,
                                    "valid", "unknown", "error", errmsg);
            snprintf(path, sizeof path, "%s/results.json", dir);
            if (res != NULL)
                json_dump_file(res, path, JSON_INDENT(2) | JSON_SORT_KEYS);
            json_decref(res);
        }
        return EXIT_UNKNOWN;
    }
    if (strcmp(workload, "register") == 0) {
        rv = check_register(&h, &reg, &r);
    } else if (strcmp(workload, "bank") == 0) {
        rv = check_bank(&h, &bank, &r);
    } else if (strcmp(workload, "set") == 0) {
        rv = check_set(&h, &set, &r);
    } else {
        rv = check_list_append(&h, &la, &r);
    }
    if (rv != 0) {
        history_close(&h);
        fprintf(stderr, "walraft-jepsen-check: %s: %s\n", workload,
                err_str(rv));
        check_result_close(&r);
        return EXIT_UNKNOWN;
    }

    printf("%s: %s\n%s", workload, check_verdict_str(r.verdict),
           r.explanation);
    snprintf(path, sizeof path, "%s/results.json", dir);
    if (json_dump_file(r.json, path, JSON_INDENT(2) | JSON_SORT_KEYS) != 0) {
        fprintf(stderr, "walraft-jepsen-check: cannot write %s\n", path);
        history_close(&h);
        check_result_close(&r);
        return EXIT_UNKNOWN;
    }
    if (report && report_render(dir, &h, r.json, errmsg, sizeof errmsg) != 0)
        fprintf(stderr, "walraft-jepsen-check: warning: report: %s\n",
                errmsg);
    history_close(&h);
    int code = r.verdict == CHECK_VALID     ? EXIT_VALID
               : r.verdict == CHECK_INVALID ? EXIT_INVALID
                                            : EXIT_UNKNOWN;
    check_result_close(&r);
    return code;
}
