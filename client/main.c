/*
 * The `walraft` command: one executable, one subcommand per job. Each entry
 * of the table below owns its own arguments and returns the process's exit
 * code (client/cluster.h lists them); main() only picks the entry.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "cluster.h"
#include "shell.h"

#ifndef WALRAFT_VERSION
#define WALRAFT_VERSION "unknown"
#endif

static void usage(FILE *f);

static int version_main(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "walraft version: takes no arguments\n");
        return EXIT_USAGE;
    }
    printf("walraft %s\n", WALRAFT_VERSION);
    return EXIT_OK;
}

static int help_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    usage(stdout);
    return EXIT_OK;
}

static const struct command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command's name. */
    const char *summary;
} commands[] = {
    {"shell", shell_main, "an interactive SQL shell on a cluster"},
    {"exec", exec_main, "run one statement that writes"},
    {"query", query_main, "run one query and print its rows"},
    {"bench", bench_main, "dqlite-benchmark's workloads on a cluster"},
    {"cluster", cluster_main, "start and control a local cluster"},
    {"version", version_main, "print the version"},
    {"help", help_main, "print this help"},
};

static void usage(FILE *f)
{
    size_t i;
    fprintf(f,
            "usage: walraft COMMAND [ARGS...]\n"
            "\n"
            "Commands:\n");
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(f,
            "\n"
            "walraft COMMAND --help shows a command's own options.\n"
            "Exit codes: 0 success, 1 an operation failed, 2 usage error,\n"
            "3 cluster unavailable.\n");
}

int main(int argc, char **argv)
{
    size_t i;

    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        return version_main(1, argv + 1);
    }
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "walraft: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
