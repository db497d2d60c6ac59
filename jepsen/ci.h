/*
 * `walraft-jepsen ci`: the CI set of runs (ci.c).
 */
#ifndef WR_JEPSEN_CI_H
#define WR_JEPSEN_CI_H

/* argv[0] is "ci". Returns the exit code. */
int cmd_ci(int argc, char **argv);

#endif /* WR_JEPSEN_CI_H */
