/*
 * `walraft bench`: dqlite-benchmark's workloads (ARCHITECTURE.md section 9)
 * through libwalraft, so that walraft and dqlite are measured the same way
 * on the same machine.
 *
 *   walraft bench [-c ADDRS] [--db DB] --workload kvwrite|kvread|kvreadwrite
 *                 [--workers N] [--duration S] [--key-size 32]
 *                 [--value-size 1024] [--keys 1000] [--consistency LEVEL]
 *                 [--json]
 *
 * Table model(key TEXT, value TEXT, UNIQUE(key)). kvwrite: INSERT OR
 * REPLACE of a random key (key-size letters) and a value half one repeated
 * letter, half random letters. kvread: SELECT value FROM model WHERE key =
 * ? on one of --keys keys written before the run. kvreadwrite: each worker
 * alternates a write and a read of a key it wrote. Every worker has its own
 * handle. A progress line goes to stderr every second; the result is one
 * line of text, or with --json one object (ops_per_sec, errors, p50_ms,
 * p90_ms, p99_ms, p999_ms, ...). Exit status 0 if any operation succeeded.
 */
#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "walraft.h"

#define MAX_WORKERS 1024
#define DEFAULT_ADDRESSES "127.0.0.1:9001,127.0.0.1:9002,127.0.0.1:9003"

enum workload { KVWRITE, KVREAD, KVREADWRITE };

struct bench {
    const char *addresses;
    const char *database;
    enum workload workload;
    unsigned workers;
    unsigned duration_s;
    unsigned key_size;
    unsigned value_size;
    unsigned keys;
    int level;
    bool json;
    atomic_uint_fast64_t ops;
    atomic_uint_fast64_t errors;
    atomic_bool stop;
};

struct worker {
    struct bench *b;
    pthread_t thread;
    uint64_t rng;
    uint32_t *us; /* Latency of each successful operation. */
    size_t n;
    size_t cap;
    uint64_t errors;
    char last_error[256];
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void random_letters(uint64_t *rng, char *out, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        out[i] = (char)('a' + next_rand(rng) % 26);
    }
    out[n] = '\0';
}

/* The value: half one repeated letter, half random letters. */
static void make_value(uint64_t *rng, char *out, unsigned n)
{
    char letter = (char)('a' + next_rand(rng) % 26);
    unsigned half = n / 2;

    memset(out, letter, half);
    random_letters(rng, out + half, n - half);
}

/* The key of index @i of the kvread set. */
static void read_key(unsigned i, char *out, unsigned n)
{
    uint64_t rng = 0x5eed0000ULL + i;
    random_letters(&rng, out, n);
}

static int run_stmt(wr_db *db,
                    wr_stmt **stmt,
                    const char *sql,
                    const char *key,
                    const char *value)
{
    int rv;

    if (*stmt == NULL && (rv = wr_prepare(db, sql, -1, stmt, NULL)) != WR_OK) {
        return rv;
    }
    wr_reset(*stmt);
    wr_bind_text(*stmt, 1, key, -1);
    if (value != NULL) {
        wr_bind_text(*stmt, 2, value, -1);
    }
    while ((rv = wr_step(*stmt)) == WR_ROW) {
    }
    return rv == WR_DONE ? WR_OK : rv;
}

static void record(struct worker *w, int64_t t0)
{
    int64_t dt = mono_us() - t0;

    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 4096;
        uint32_t *us = realloc(w->us, cap * sizeof *us);
        if (us == NULL) {
            return; /* The operation counts; its latency is dropped. */
        }
        w->us = us;
        w->cap = cap;
    }
    w->us[w->n++] = (uint32_t)(dt > UINT32_MAX ? UINT32_MAX : dt);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct bench *b = w->b;
    struct wr_options opts;
    wr_stmt *put = NULL;
    wr_stmt *get = NULL;
    wr_db *db = NULL;
    char *key = malloc(b->key_size + 1);
    char *value = malloc(b->value_size + 1);
    bool write_next = true;

    memset(&opts, 0, sizeof opts);
    opts.database = b->database;
    opts.consistency = b->level;
    if (key == NULL || value == NULL ||
        wr_open(b->addresses, &opts, &db) != WR_OK) {
        snprintf(w->last_error, sizeof w->last_error, "cannot open a handle");
        w->errors++;
        goto out;
    }
    while (!atomic_load(&b->stop)) {
        int64_t t0 = mono_us();
        int rv;

        if (b->workload == KVREAD ||
            (b->workload == KVREADWRITE && !write_next)) {
            if (b->workload == KVREAD) {
                read_key((unsigned)(next_rand(&w->rng) % b->keys), key,
                         b->key_size);
            }
            rv = run_stmt(db, &get, "SELECT value FROM model WHERE key = ?",
                          key, NULL);
        } else {
            random_letters(&w->rng, key, b->key_size);
            make_value(&w->rng, value, b->value_size);
            rv = run_stmt(db, &put,
                          "INSERT OR REPLACE INTO model(key, value) "
                          "VALUES(?, ?)",
                          key, value);
        }
        write_next = !write_next;
        if (rv == WR_OK) {
            record(w, t0);
            atomic_fetch_add(&b->ops, 1);
        } else {
            w->errors++;
            atomic_fetch_add(&b->errors, 1);
            snprintf(w->last_error, sizeof w->last_error, "%s",
                     wr_errmsg(db));
            write_next = true;
        }
    }
out:
    wr_finalize(put);
    wr_finalize(get);
    wr_close(db);
    free(key);
    free(value);
    return NULL;
}

/* Create the table and, for kvread, its keys. */
static int prepare_data(struct bench *b)
{
    struct wr_options opts;
    wr_stmt *put = NULL;
    wr_db *db = NULL;
    char *key = malloc(b->key_size + 1);
    char *value = malloc(b->value_size + 1);
    uint64_t rng = 42;
    int rv;

    memset(&opts, 0, sizeof opts);
    opts.database = b->database;
    if (key == NULL || value == NULL ||
        (rv = wr_open(b->addresses, &opts, &db)) != WR_OK) {
        free(key);
        free(value);
        fprintf(stderr, "walraft bench: cannot open a handle\n");
        return EXIT_FAILED;
    }
    rv = wr_exec(db,
                 "CREATE TABLE IF NOT EXISTS model(key TEXT, value TEXT, "
                 "UNIQUE(key))",
                 NULL, NULL, NULL);
    for (unsigned i = 0; rv == WR_OK && b->workload == KVREAD && i < b->keys;
         i++) {
        read_key(i, key, b->key_size);
        make_value(&rng, value, b->value_size);
        rv = run_stmt(db, &put,
                      "INSERT OR REPLACE INTO model(key, value) VALUES(?, ?)",
                      key, value);
    }
    if (rv != WR_OK) {
        fprintf(stderr, "walraft bench: preparing the data: %s\n",
                wr_errmsg(db));
    }
    wr_finalize(put);
    wr_close(db);
    free(key);
    free(value);
    return rv == WR_OK ? EXIT_OK
                       : (rv == WR_IOERR || rv == WR_NOTLEADER ? EXIT_UNAVAILABLE
                                                               : EXIT_FAILED);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a;
    uint32_t y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(const uint32_t *all, size_t n, double p)
{
    return n == 0 ? 0 : all[(size_t)((double)(n - 1) * p)] / 1000.0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: walraft bench [-c ADDRS] [--db DB] --workload "
            "kvwrite|kvread|kvreadwrite\n"
            "                     [--workers N] [--duration S] [--key-size "
            "32] [--value-size 1024]\n"
            "                     [--keys 1000] [--consistency LEVEL] "
            "[--json]\n");
}

int bench_main(int argc, char **argv)
{
    static const char *const workloads[] = {"kvwrite", "kvread",
                                            "kvreadwrite"};
    static const char *const levels[] = {"default", "none", "weak",
                                         "linearizable", "strong"};
    struct bench b = {.database = "bench",
                      .workers = 1,
                      .duration_s = 10,
                      .key_size = 32,
                      .value_size = 1024,
                      .keys = 1000};
    const char *env = getenv("WALRAFT_ADDRESSES");
    bool have_workload = false;
    struct worker *w;
    int64_t start;
    int rv;

    b.addresses = env != NULL && env[0] != '\0' ? env : DEFAULT_ADDRESSES;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            b.json = true;
            continue;
        } else if (v == NULL) {
            ok = false;
        } else if (strcmp(a, "-c") == 0) {
            b.addresses = v;
        } else if (strcmp(a, "--db") == 0) {
            b.database = v;
        } else if (strcmp(a, "--workload") == 0) {
            ok = false;
            for (int k = 0; k < 3; k++) {
                if (strcmp(v, workloads[k]) == 0) {
                    b.workload = (enum workload)k;
                    ok = have_workload = true;
                }
            }
        } else if (strcmp(a, "--consistency") == 0) {
            ok = false;
            for (int k = 0; k < 5; k++) {
                if (strcmp(v, levels[k]) == 0) {
                    b.level = k;
                    ok = true;
                }
            }
        } else if (strcmp(a, "--workers") == 0) {
            b.workers = (unsigned)strtoul(v, NULL, 10);
            ok = b.workers >= 1 && b.workers <= MAX_WORKERS;
        } else if (strcmp(a, "--duration") == 0) {
            b.duration_s = (unsigned)strtoul(v, NULL, 10);
            ok = b.duration_s >= 1;
        } else if (strcmp(a, "--key-size") == 0) {
            b.key_size = (unsigned)strtoul(v, NULL, 10);
            ok = b.key_size >= 1 && b.key_size <= 4096;
        } else if (strcmp(a, "--value-size") == 0) {
            b.value_size = (unsigned)strtoul(v, NULL, 10);
            ok = b.value_size <= (1u << 24);
        } else if (strcmp(a, "--keys") == 0) {
            b.keys = (unsigned)strtoul(v, NULL, 10);
            ok = b.keys >= 1;
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "walraft bench: bad or incomplete argument %s\n",
                    a);
            usage(stderr);
            return EXIT_USAGE;
        }
        i++;
    }
    if (!have_workload) {
        usage(stderr);
        return EXIT_USAGE;
    }
    rv = prepare_data(&b);
    if (rv != EXIT_OK) {
        return rv;
    }

    w = calloc(b.workers, sizeof *w);
    if (w == NULL) {
        fprintf(stderr, "walraft bench: out of memory\n");
        return EXIT_FAILED;
    }
    start = mono_us();
    for (unsigned i = 0; i < b.workers; i++) {
        w[i].b = &b;
        w[i].rng = (uint64_t)start * 31 + i;
        if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
            fprintf(stderr, "walraft bench: cannot start worker %u\n", i);
            atomic_store(&b.stop, true);
            b.workers = i;
            break;
        }
    }
    for (unsigned s = 1; s <= b.duration_s && !atomic_load(&b.stop); s++) {
        int64_t until = start + (int64_t)s * 1000000;
        int64_t now = mono_us();
        if (until > now) {
            usleep((useconds_t)(until - now));
        }
        fprintf(stderr, "[%3us] %llu ops, %llu errors\r", s,
                (unsigned long long)atomic_load(&b.ops),
                (unsigned long long)atomic_load(&b.errors));
    }
    atomic_store(&b.stop, true);
    fputc('\n', stderr);
    double elapsed = (double)(mono_us() - start) / 1e6;

    size_t total = 0;
    uint64_t errors = 0;
    const char *last_error = "";
    for (unsigned i = 0; i < b.workers; i++) {
        pthread_join(w[i].thread, NULL);
        total += w[i].n;
        errors += w[i].errors;
        if (w[i].errors > 0) {
            last_error = w[i].last_error;
        }
    }
    uint32_t *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (unsigned i = 0; i < b.workers; i++) {
        if (all != NULL) {
            memcpy(all + k, w[i].us, w[i].n * sizeof *all);
        }
        k += w[i].n;
        free(w[i].us);
    }
    if (all == NULL) {
        fprintf(stderr, "walraft bench: out of memory\n");
        free(w);
        return EXIT_FAILED;
    }
    qsort(all, total, sizeof *all, cmp_u32);
    double ops = (double)atomic_load(&b.ops) / elapsed;
    if (b.json) {
        printf("{\"workload\": \"%s\", \"workers\": %u, \"duration_s\": %.3f, "
               "\"consistency\": \"%s\", \"ops\": %llu, \"ops_per_sec\": "
               "%.1f, \"errors\": %llu, \"p50_ms\": %.3f, \"p90_ms\": %.3f, "
               "\"p99_ms\": %.3f, \"p999_ms\": %.3f}\n",
               workloads[b.workload], b.workers, elapsed, levels[b.level],
               (unsigned long long)atomic_load(&b.ops), ops,
               (unsigned long long)errors, pct_ms(all, total, 0.50),
               pct_ms(all, total, 0.90), pct_ms(all, total, 0.99),
               pct_ms(all, total, 0.999));
    } else {
        printf("%s, %u workers, %.1f s, consistency %s: %.0f ops/s, %llu "
               "errors; latency p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, "
               "p99.9 %.3f ms\n",
               workloads[b.workload], b.workers, elapsed, levels[b.level], ops,
               (unsigned long long)errors, pct_ms(all, total, 0.50),
               pct_ms(all, total, 0.90), pct_ms(all, total, 0.99),
               pct_ms(all, total, 0.999));
    }
    if (errors > 0) {
        fprintf(stderr, "walraft bench: last error: %s\n", last_error);
    }
    free(all);
    free(w);
    return total > 0 ? EXIT_OK : EXIT_UNAVAILABLE;
}
