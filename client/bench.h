/*
 * `walraft bench`: dqlite-benchmark's workloads through libwalraft
 * (bench.c has the details).
 */
#ifndef WR_CLIENT_BENCH_H
#define WR_CLIENT_BENCH_H

/* @argv[0] is "bench". Returns the exit code. */
int bench_main(int argc, char **argv);

#endif /* WR_CLIENT_BENCH_H */
