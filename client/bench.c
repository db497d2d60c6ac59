/*
 * `walraft bench`: dqlite-benchmark's workloads (ARCHITECTURE.md section 9)
 * through libwalraft, so that walraft and dqlite are measured the same way
 * on the same machine.
 *
 *   walraft bench [-c ADDRS] [--db DB] --workload kvwrite|kvread|kvreadwrite
 *                 [--workers N] [--duration S] [--key-size 32]
 *                 [--value-size 1024] [--keys 1000] [--consistency LEVEL]
 *                 [--json] [--plot FILE.png] [--trace FILE]
 *
 * Table model(key TEXT, value TEXT, UNIQUE(key)). kvwrite: INSERT OR
 * REPLACE of a random key (key-size letters) and a value half one repeated
 * letter, half random letters. kvread: SELECT value FROM model WHERE key =
 * ? on one of --keys keys written before the run. kvreadwrite: each worker
 * alternates a write and a read of a key it wrote. Every worker has its own
 * handle. A progress line goes to stderr every second; the result is one
 * line of text, or with --json one object (ops_per_sec, errors, p50_ms,
 * p90_ms, p99_ms, p999_ms, and the same per kind of operation:
 * write_p50_ms, read_p50_ms, ...). Exit status 0 if any operation
 * succeeded.
 *
 * --plot FILE.png draws every operation's latency against the time it
 * ended (log scale) and the p50 and p99 of each second, with gnuplot run as
 * a child process on two temporary files (its script and its data). The
 * path is checked before the run, so a typo costs nothing; if gnuplot is
 * missing or fails, the figures are still printed and the exit status is
 * 1.
 *
 * --trace FILE writes one line per successful operation, in the order they
 * ended: the Unix time it ended in milliseconds, its latency in
 * milliseconds, and "w" or "r". bench/failover reads it to find the first
 * write after it killed the leader.
 */
#include "bench.h"

#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster.h"
#include "walraft.h"

extern char **environ; /* For posix_spawnp(). */

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
    const char *plot;
    const char *trace;
    int64_t start_us;
    int64_t start_unix_ms; /* start_us on the wall clock, for --trace. */
    atomic_uint_fast64_t ops;
    atomic_uint_fast64_t errors;
    atomic_bool stop;
};

/* One successful operation. 12 bytes, so a minute at 20,000 ops/s costs
 * 14 MB. */
struct sample {
    uint32_t end_ms; /* When it ended, since the workers started. */
    uint32_t us;     /* Its latency. */
    uint8_t read;    /* A SELECT (kvread, kvreadwrite), else a write. */
};

struct worker {
    struct bench *b;
    pthread_t thread;
    uint64_t rng;
    struct sample *s;
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

static void record(struct worker *w, int64_t t0, bool read)
{
    int64_t now = mono_us();
    int64_t dt = now - t0;
    struct sample *s;

    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 4096;
        s = realloc(w->s, cap * sizeof *s);
        if (s == NULL) {
            return; /* The operation counts; its latency is dropped. */
        }
        w->s = s;
        w->cap = cap;
    }
    s = &w->s[w->n++];
    s->end_ms = (uint32_t)((now - w->b->start_us) / 1000);
    s->us = (uint32_t)(dt > UINT32_MAX ? UINT32_MAX : dt);
    s->read = read;
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
        bool read = b->workload == KVREAD ||
                    (b->workload == KVREADWRITE && !write_next);
        int rv;

        if (read) {
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
            record(w, t0, read);
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

/* By end time, then by latency, so that equal runs sort alike. */
static int cmp_end(const void *a, const void *b)
{
    const struct sample *x = a;
    const struct sample *y = b;
    if (x->end_ms != y->end_ms) {
        return x->end_ms < y->end_ms ? -1 : 1;
    }
    return x->us < y->us ? -1 : x->us > y->us;
}

/* Latency percentiles of one kind of operation (or all, @kind -1), sorted
 * into @tmp (room for @n). */
struct pcts {
    size_t n;
    double p50, p90, p99, p999;
};

static struct pcts percentiles(const struct sample *s,
                               size_t n,
                               int kind,
                               uint32_t *tmp)
{
    struct pcts r = {0};

    for (size_t i = 0; i < n; i++) {
        if (kind < 0 || s[i].read == kind) {
            tmp[r.n++] = s[i].us;
        }
    }
    qsort(tmp, r.n, sizeof *tmp, cmp_u32);
    r.p50 = pct_ms(tmp, r.n, 0.50);
    r.p90 = pct_ms(tmp, r.n, 0.90);
    r.p99 = pct_ms(tmp, r.n, 0.99);
    r.p999 = pct_ms(tmp, r.n, 0.999);
    return r;
}

/* A temporary file for gnuplot, named into @path (room for 64). */
static FILE *temp_file(char *path, const char *what)
{
    const char *dir = getenv("TMPDIR");
    FILE *f = NULL;
    int fd;

    snprintf(path, 64, "%s/walraft-bench-%s.XXXXXX",
             dir != NULL && strlen(dir) < 24 ? dir : "/tmp", what);
    fd = mkstemp(path);
    if (fd >= 0 && (f = fdopen(fd, "w")) == NULL) {
        close(fd);
        unlink(path);
    }
    if (f == NULL) {
        fprintf(stderr, "walraft bench: --plot: cannot create %s: %s\n", path,
                strerror(errno));
    }
    return f;
}

/* Write gnuplot's data: block 0 is one line per operation (seconds,
 * milliseconds, 1 for a read), block 1 one line per second (its middle, p50,
 * p99) for each whole second of the run. @s is sorted by end time; @tmp has
 * room for @n. */
static void plot_data(FILE *f,
                      struct sample *s,
                      size_t n,
                      unsigned duration_s,
                      uint32_t *tmp)
{
    for (size_t i = 0; i < n; i++) {
        /* A log scale has no room for 0. */
        uint32_t us = s[i].us > 0 ? s[i].us : 1;
        fprintf(f, "%.3f %.3f %d\n", s[i].end_ms / 1000.0, us / 1000.0,
                s[i].read);
    }
    fprintf(f, "\n\n");
    for (size_t i = 0; i < n;) {
        uint32_t sec = s[i].end_ms / 1000;
        size_t k = 0;
        while (i < n && s[i].end_ms / 1000 == sec) {
            tmp[k++] = s[i].us > 0 ? s[i].us : 1;
            i++;
        }
        /* The last operations end just after the run: not a second. */
        if (sec >= duration_s) {
            break;
        }
        qsort(tmp, k, sizeof *tmp, cmp_u32);
        fprintf(f, "%.1f %.3f %.3f\n", sec + 0.5, pct_ms(tmp, k, 0.50),
                pct_ms(tmp, k, 0.99));
    }
}

/* Write --trace; @s is sorted by end time. Returns 0, or -1 after saying
 * why. */
static int trace(const struct bench *b, const struct sample *s, size_t n)
{
    FILE *f = fopen(b->trace, "w");

    if (f == NULL) {
        fprintf(stderr, "walraft bench: --trace: cannot write %s: %s\n",
                b->trace, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%lld %.3f %c\n",
                (long long)(b->start_unix_ms + s[i].end_ms), s[i].us / 1000.0,
                s[i].read ? 'r' : 'w');
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "walraft bench: --trace: writing %s: %s\n", b->trace,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* Quote @str as a gnuplot single-quoted string ('' stands for '). */
static void gp_quote(FILE *f, const char *str)
{
    fputc('\'', f);
    for (; *str != '\0'; str++) {
        if (*str == '\'') {
            fputc('\'', f);
        }
        fputc(*str, f);
    }
    fputc('\'', f);
}

/* Draw the plot into b->plot. Returns 0, or -1 after saying why. */
static int plot(const struct bench *b,
                const char *title,
                struct sample *s,
                size_t n,
                uint32_t *tmp)
{
    char data_path[64];
    char script_path[64];
    char *argv[] = {"gnuplot", script_path, NULL};
    FILE *data;
    FILE *script;
    pid_t pid;
    int status;
    int rv = -1;

    if (n == 0) {
        fprintf(stderr, "walraft bench: --plot: no operation succeeded, "
                        "nothing to plot\n");
        return -1;
    }
    if ((data = temp_file(data_path, "data")) == NULL) {
        return -1;
    }
    plot_data(data, s, n, b->duration_s, tmp);
    if (fclose(data) != 0) {
        fprintf(stderr, "walraft bench: --plot: writing %s: %s\n", data_path,
                strerror(errno));
        goto out_data;
    }
    if ((script = temp_file(script_path, "plot")) == NULL) {
        goto out_data;
    }
    /* pngcairo draws better; plain png (libgd) is the fallback some
     * builds of gnuplot have alone. */
    fprintf(script,
            "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) "
            "{ set terminal pngcairo size 1200,700 noenhanced } "
            "else { set terminal png size 1200,700 noenhanced }\n"
            "set output ");
    gp_quote(script, b->plot);
    fprintf(script, "\nset title ");
    gp_quote(script, title);
    fprintf(script,
            "\nset xlabel 'time since start (s)'\n"
            "set ylabel 'latency (ms, log scale)'\n"
            "set logscale y\n"
            "set grid\n"
            "set key outside top center horizontal\n"
            "data = ");
    gp_quote(script, data_path);
    fprintf(script, "\nplot ");
    if (b->workload != KVREAD) {
        fprintf(script, "data index 0 using 1:($3 == 0 ? $2 : 1/0) with "
                        "points pt 7 ps 0.25 lc rgb '#7090c0' title "
                        "'write', ");
    }
    if (b->workload != KVWRITE) {
        fprintf(script, "data index 0 using 1:($3 == 1 ? $2 : 1/0) with "
                        "points pt 7 ps 0.25 lc rgb '#90c070' title "
                        "'read', ");
    }
    fprintf(script,
            "data index 1 using 1:2 with linespoints lw 2 pt 5 ps 0.6 "
            "lc rgb '#000000' title 'p50 per second', "
            "data index 1 using 1:3 with linespoints lw 2 pt 5 ps 0.6 "
            "lc rgb '#d03020' title 'p99 per second'\n");
    if (fclose(script) != 0) {
        fprintf(stderr, "walraft bench: --plot: writing %s: %s\n",
                script_path, strerror(errno));
        goto out_script;
    }
    rv = posix_spawnp(&pid, "gnuplot", NULL, NULL, argv, environ);
    if (rv != 0) {
        fprintf(stderr,
                "walraft bench: --plot: cannot run gnuplot: %s%s\n",
                strerror(rv),
                rv == ENOENT ? " (install gnuplot, e.g. apt-get install "
                               "gnuplot-nox)"
                             : "");
        rv = -1;
        goto out_script;
    }
    while ((rv = (int)waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    if (rv < 0) {
        fprintf(stderr, "walraft bench: --plot: waiting for gnuplot: %s\n",
                strerror(errno));
        rv = -1;
        goto out_script;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "walraft bench: --plot: gnuplot failed (status %d)\n",
                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        rv = -1;
        goto out_script;
    }
    rv = 0;
out_script:
    unlink(script_path);
out_data:
    unlink(data_path);
    return rv;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: walraft bench [-c ADDRS] [--db DB] --workload "
            "kvwrite|kvread|kvreadwrite\n"
            "                     [--workers N] [--duration S] [--key-size "
            "32] [--value-size 1024]\n"
            "                     [--keys 1000] [--consistency LEVEL] "
            "[--json] [--plot FILE.png]\n"
            "                     [--trace FILE]\n");
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
        } else if (strcmp(a, "--plot") == 0) {
            b.plot = v;
        } else if (strcmp(a, "--trace") == 0) {
            b.trace = v;
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
    if (b.plot != NULL) {
        /* Find a bad path now, not after the run. gnuplot rewrites the
         * file; it is removed if the plot fails. */
        FILE *f = fopen(b.plot, "wb");
        if (f == NULL) {
            fprintf(stderr, "walraft bench: --plot: cannot write %s: %s\n",
                    b.plot, strerror(errno));
            return EXIT_USAGE;
        }
        fclose(f);
    }
    rv = prepare_data(&b);
    if (rv != EXIT_OK) {
        if (b.plot != NULL) {
            unlink(b.plot);
        }
        return rv;
    }

    w = calloc(b.workers, sizeof *w);
    if (w == NULL) {
        fprintf(stderr, "walraft bench: out of memory\n");
        return EXIT_FAILED;
    }
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    start = b.start_us = mono_us();
    b.start_unix_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
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
    struct sample *all = malloc((total ? total : 1) * sizeof *all);
    uint32_t *tmp = malloc((total ? total : 1) * sizeof *tmp);
    size_t k = 0;
    for (unsigned i = 0; i < b.workers; i++) {
        if (all != NULL) {
            memcpy(all + k, w[i].s, w[i].n * sizeof *all);
        }
        k += w[i].n;
        free(w[i].s);
    }
    free(w);
    if (all == NULL || tmp == NULL) {
        fprintf(stderr, "walraft bench: out of memory\n");
        free(all);
        free(tmp);
        return EXIT_FAILED;
    }
    struct pcts p = percentiles(all, total, -1, tmp);
    struct pcts pw = percentiles(all, total, 0, tmp);
    struct pcts pr = percentiles(all, total, 1, tmp);
    double ops = (double)atomic_load(&b.ops) / elapsed;
    if (b.json) {
        printf("{\"workload\": \"%s\", \"workers\": %u, \"duration_s\": %.3f, "
               "\"consistency\": \"%s\", \"ops\": %llu, \"ops_per_sec\": "
               "%.1f, \"errors\": %llu, \"p50_ms\": %.3f, \"p90_ms\": %.3f, "
               "\"p99_ms\": %.3f, \"p999_ms\": %.3f, \"writes\": %zu, "
               "\"write_p50_ms\": %.3f, \"write_p99_ms\": %.3f, \"reads\": "
               "%zu, \"read_p50_ms\": %.3f, \"read_p99_ms\": %.3f}\n",
               workloads[b.workload], b.workers, elapsed, levels[b.level],
               (unsigned long long)atomic_load(&b.ops), ops,
               (unsigned long long)errors, p.p50, p.p90, p.p99, p.p999, pw.n,
               pw.p50, pw.p99, pr.n, pr.p50, pr.p99);
    } else {
        printf("%s, %u workers, %.1f s, consistency %s: %.0f ops/s, %llu "
               "errors; latency p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, "
               "p99.9 %.3f ms\n",
               workloads[b.workload], b.workers, elapsed, levels[b.level], ops,
               (unsigned long long)errors, p.p50, p.p90, p.p99, p.p999);
        if (b.workload == KVREADWRITE) {
            printf("  writes: %zu, p50 %.3f ms, p99 %.3f ms; reads: %zu, p50 "
                   "%.3f ms, p99 %.3f ms\n",
                   pw.n, pw.p50, pw.p99, pr.n, pr.p50, pr.p99);
        }
    }
    fflush(stdout);
    if (errors > 0) {
        fprintf(stderr, "walraft bench: last error: %s\n", last_error);
    }
    rv = total > 0 ? EXIT_OK : EXIT_UNAVAILABLE;
    qsort(all, total, sizeof *all, cmp_end);
    if (b.trace != NULL && trace(&b, all, total) != 0) {
        rv = EXIT_FAILED;
    }
    if (b.plot != NULL) {
        char title[200];
        snprintf(title, sizeof title,
                 "walraft bench: %s, %u workers, consistency %s, %.0f ops/s, "
                 "%llu errors",
                 workloads[b.workload], b.workers, levels[b.level], ops,
                 (unsigned long long)errors);
        if (plot(&b, title, all, total, tmp) != 0) {
            unlink(b.plot);
            rv = EXIT_FAILED;
        }
    }
    free(all);
    free(tmp);
    return rv;
}
