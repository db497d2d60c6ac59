/*
 * `walraft cluster`: start and control a cluster of local walraftd
 * processes, for development, tests and the fault harness.
 */
#ifndef WR_CLIENT_CLUSTER_H
#define WR_CLIENT_CLUSTER_H

#include <stdio.h>

/* Exit codes of the `walraft` command. */
enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,      /* An operation failed. */
    EXIT_USAGE = 2,       /* Bad command line. */
    EXIT_UNAVAILABLE = 3  /* The cluster did not answer (no leader, ...). */
};

/* Run `walraft cluster ARGS...`: @argv[0] is "cluster". Returns the exit
 * code. */
int cluster_main(int argc, char **argv);

/* Print the usage of `walraft cluster` to @f. */
void cluster_usage(FILE *f);

#endif /* WR_CLIENT_CLUSTER_H */
