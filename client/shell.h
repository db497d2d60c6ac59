/*
 * `walraft shell`, `walraft exec` and `walraft query`: SQL against a
 * cluster through libwalraft (client/walraft.h).
 *
 *   walraft shell [-c ADDRS] [DB]
 *       Interactive, with line editing and history (libedit), when stdin is
 *       a terminal; otherwise reads statements from stdin. Dot commands:
 *       .help lists them.
 *   walraft exec|query [-c ADDRS] [--db DB] [--consistency LEVEL]
 *                      [--format table|csv|json|line] SQL [ARGS...]
 *       Statements for scripts; ARGS bind to the first one's parameters in
 *       order (an argument that is an integer or a real number binds as
 *       one, "NULL" as NULL, anything else as text). query prints the rows;
 *       exec prints what the write changed (a JSON object with --format
 *       json).
 *
 * ADDRS defaults to $WALRAFT_ADDRESSES, else the local cluster that
 * scripts/start runs (127.0.0.1:9001-9003); DB defaults to "main". Exit
 * codes (client/cluster.h): 0 success, 1 an SQL error, 2 a usage error, 3
 * the cluster was unavailable.
 */
#ifndef WR_CLIENT_SHELL_H
#define WR_CLIENT_SHELL_H

/* Each takes the command's arguments (@argv[0] is the command's name) and
 * returns the exit code. */
int shell_main(int argc, char **argv);
int exec_main(int argc, char **argv);
int query_main(int argc, char **argv);

#endif /* WR_CLIENT_SHELL_H */
