/*
 * wr_load: the integration tests' client for a running walraft cluster.
 *
 * It is the part of the process tests that must be exact, so it is in C on
 * the client connection (client/conn.h) rather than in shell:
 *
 *   wr_load load --cluster A,B,C --db NAME --writers N --seconds S
 *                --out FILE [--prefix P] [--value-size B] [--no-errors]
 *       N threads, each with its own connection to the leader, insert rows
 *       with unique keys for S seconds. Every acknowledged key is written to
 *       FILE as "ok KEY MS", every write whose outcome is unknown (an
 *       indefinite error, or a connection that broke while the write was in
 *       flight) as "maybe KEY MS", and every write that definitely did not
 *       happen as "fail KEY MS"; MS is the wall-clock time of the answer in
 *       milliseconds since the epoch, so a script can count acknowledgements
 *       after an event. On "not leader" or a broken connection a thread
 *       reconnects to whoever leads now and carries on; it gives up after
 *       RECONNECT_ATTEMPTS failed reconnections in a row. The last line on
 *       stdout is "ok=N definite=N indefinite=N notleader=N reconnects=N
 *       gaveup=N". Exit status: 0; 1 if a thread gave up or nothing was
 *       acknowledged; 2 if --no-errors was given and any write failed.
 *       With --sessions every write is an exactly-once write (walraft's
 *       envelope with a client id per thread and a sequence number per key)
 *       and a write whose outcome is unknown is retried, same key, same
 *       sequence number, on whoever leads, until it gets a definite answer
 *       (up to 15 s past --seconds): a retry of a write that committed must
 *       be answered from the node's session table without running again.
 *
 *   wr_load verify --cluster A,B,C --db NAME [--keys FILE]... [--exact]
 *                  [--timeout S]
 *       Waits until every node in --cluster has applied what the leader has
 *       applied (STATUS applied_index), DUMPs NAME from every node, compares
 *       the images byte for byte, then opens one with SQLite and checks that
 *       every "ok" key of the key files is in table t exactly once, that no
 *       "maybe" key is there twice, (with --exact) that no other key is
 *       there, and PRAGMA integrity_check. Exit status 0 if all holds.
 *
 *   wr_load reads --cluster A,B,C --address A --level L --clients N
 *                 --seconds S [--rows R]
 *       Read latency at one consistency level: fills table kv of database
 *       "reads" with R rows (default 1000) through the leader, then N
 *       threads, each with its own connection to node A, read one random
 *       row per request (QUERY_SQL in walraft's envelope at level L, a
 *       PROTO_LEVEL_* number) for S seconds. Prints one line: reads/s,
 *       errors, and p50/p90/p99 latency in milliseconds. Exit status 0 if
 *       any read succeeded.
 *
 *   wr_load status --address A
 *       Prints the STATUS document of one node.
 *
 *   wr_load json FIELD...
 *       Reads a JSON object or array of objects on stdin and prints, for
 *       each object, the named fields separated by tabs (strings unquoted,
 *       booleans true/false, a missing field as "-"). Lets the shell tests
 *       read `walraft cluster status --format json` without jq.
 *
 * The table: t(id INTEGER PRIMARY KEY, k TEXT NOT NULL, v TEXT, writer
 * INTEGER) with a non-unique index on k, so a write applied twice would show
 * up as two rows instead of being hidden by a constraint.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "client/conn.h"
#include "lib/err.h"
#include "proto/wire.h"

#define CONN_TIMEOUT_MS 15000     /* One request, or one connect. */
#define LEADER_DEADLINE_MS 15000  /* Finding a leader after a failure. */
#define RECONNECT_ATTEMPTS 8      /* In a row, per thread. */
#define MAX_WRITERS 1024
#define MAX_NODES 16
#define MAX_KEY_FILES 8

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "wr_load: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static struct proto_value text_value(char *s)
{
    struct proto_value v = {0};
    v.v.type = VALUE_TEXT;
    v.v.text.p = s;
    v.v.text.n = strlen(s);
    return v;
}

/* OPEN @db on @c: *db_id. */
static int open_db(struct conn *c, const char *db, uint64_t *db_id,
                   char *errmsg)
{
    struct proto_request req = {.type = PROTO_REQ_OPEN};
    struct proto_response resp;
    req.open.name = db;
    req.open.flags = 0;
    req.open.vfs = "";
    int rv = conn_request(c, &req, PROTO_RESP_DB, &resp, errmsg);
    if (rv == 0)
        *db_id = resp.db.id;
    return rv;
}

/* EXEC_SQL without parameters. */
static int exec_sql(struct conn *c, uint64_t db_id, const char *sql,
                    char *errmsg)
{
    struct proto_request req = {.type = PROTO_REQ_EXEC_SQL};
    struct proto_response resp;
    req.exec_sql.db_id = db_id;
    req.exec_sql.sql = sql;
    return conn_request(c, &req, PROTO_RESP_RESULT, &resp, errmsg);
}

/*
 * load
 */

struct load {
    const char *cluster;
    const char *db;
    const char *prefix;
    unsigned writers;
    unsigned seconds;
    unsigned value_size;
    bool no_errors;
    bool sessions;
    FILE *out;
    pthread_mutex_t mu; /* Guards out and the counters. */
    uint64_t ok, definite, indefinite, notleader, reconnects, gaveup;
    int64_t deadline; /* mono_ms() */
};

struct writer {
    struct load *load;
    unsigned index;
    pthread_t thread;
};

static void record(struct load *l, const char *what, const char *key)
{
    pthread_mutex_lock(&l->mu);
    fprintf(l->out, "%s %s %" PRId64 "\n", what, key, now_ms());
    pthread_mutex_unlock(&l->mu);
}

static void count(struct load *l, uint64_t *counter)
{
    pthread_mutex_lock(&l->mu);
    (*counter)++;
    pthread_mutex_unlock(&l->mu);
}

/* Connect to the leader and open the database, bounded by the deadline of
 * conn_open_leader(). Returns NULL after logging why. */
static struct conn *connect_leader(struct load *l, uint64_t *db_id,
                                   unsigned who)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct conn *c = NULL;
    int rv = conn_open_leader(l->cluster, CONN_TIMEOUT_MS, LEADER_DEADLINE_MS,
                              &c, errmsg);
    if (rv != 0) {
        fprintf(stderr, "wr_load: writer %u: find leader: %s\n", who, errmsg);
        return NULL;
    }
    rv = open_db(c, l->db, db_id, errmsg);
    if (rv != 0) {
        fprintf(stderr, "wr_load: writer %u: open %s on %s: %s\n", who, l->db,
                conn_address(c), errmsg);
        conn_close(c);
        return NULL;
    }
    return c;
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct load *l = w->load;
    struct conn *c = NULL;
    uint64_t db_id = 0;
    unsigned failed_connects = 0;
    uint64_t seq = 0;
    bool retry = false; /* The last write's outcome is unknown. */
    uint64_t client_id = 0;
    char key[128];
    char *value = malloc(l->value_size + 1);
    char writer_str[16];
    char errmsg[WR_ERRMSG_SIZE];

    if (value == NULL)
        die("out of memory");
    snprintf(writer_str, sizeof writer_str, "%u", w->index);
    while (client_id == 0) {
        client_id = ((uint64_t)now_ms() << 20) ^
                    ((uint64_t)getpid() << 8) ^
                    (0x9e3779b97f4a7c15ULL * (w->index + 1));
    }

    while (mono_ms() < l->deadline ||
           (retry && mono_ms() < l->deadline + 15000)) {
        if (c == NULL) {
            c = connect_leader(l, &db_id, w->index);
            if (c == NULL) {
                if (++failed_connects >= RECONNECT_ATTEMPTS) {
                    fprintf(stderr,
                            "wr_load: writer %u: gave up after %u failed "
                            "reconnections\n",
                            w->index, failed_connects);
                    count(l, &l->gaveup);
                    break;
                }
                sleep_ms(200);
                continue;
            }
            failed_connects = 0;
        }

        if (!retry) {
            snprintf(key, sizeof key, "%s-%u-%" PRIu64, l->prefix, w->index,
                     seq++);
            for (unsigned i = 0; i < l->value_size; i++)
                value[i] = (char)('a' + (seq + i) % 26);
            value[l->value_size] = '\0';
        }

        struct proto_value params[3] = {text_value(key), text_value(value),
                                        {0}};
        params[2].v.type = VALUE_INTEGER;
        params[2].v.integer = w->index;
        struct proto_request req = {.type = PROTO_REQ_EXEC_SQL};
        struct proto_response resp;
        req.exec_sql.db_id = db_id;
        req.exec_sql.sql = "INSERT INTO t(k, v, writer) VALUES(?, ?, ?)";
        req.exec_sql.params.n = 3;
        req.exec_sql.params.values = params;
        if (l->sessions) {
            struct proto_req_exec_sql base = req.exec_sql;
            req.type = PROTO_REQ_EXEC_SQL_EXT;
            memset(&req.exec_sql_ext, 0, sizeof req.exec_sql_ext);
            req.exec_sql_ext.flags = PROTO_FLAG_SESSION;
            req.exec_sql_ext.client_id = client_id;
            req.exec_sql_ext.seq = seq; /* seq was advanced: 1, 2, ... */
            req.exec_sql_ext.db_id = base.db_id;
            req.exec_sql_ext.sql = base.sql;
            req.exec_sql_ext.params = base.params;
        }
        errmsg[0] = '\0';
        int rv = conn_request(c, &req,
                              l->sessions ? PROTO_RESP_RESULT_EXT
                                          : PROTO_RESP_RESULT,
                              &resp, errmsg);
        if (rv == 0) {
            record(l, "ok", key);
            count(l, &l->ok);
            retry = false;
            continue;
        }
        if (rv == WR_SQL) {
            bool ext = resp.kind == PROTO_RESP_FAILURE_EXT;
            uint64_t code = ext ? resp.failure_ext.code : resp.failure.code;
            const char *msg = ext ? resp.failure_ext.message
                                  : resp.failure.message;
            if (code == PROTO_ERR_NOT_LEADER ||
                code == PROTO_ERR_NOT_LEADER_LEGACY) {
                /* The write was refused before it ran: definite. With a
                 * session an earlier attempt may still be unresolved:
                 * ask the new leader. */
                if (!l->sessions || !retry)
                    record(l, "fail", key);
                count(l, &l->notleader);
                conn_close(c);
                c = NULL;
                count(l, &l->reconnects);
                continue;
            }
            if (ends_with(msg, "(definite)")) {
                fprintf(stderr, "wr_load: writer %u: %s: %s\n", w->index, key,
                        errmsg);
                record(l, retry ? "maybe" : "fail", key);
                count(l, &l->definite);
                retry = false;
                continue;
            }
            /* "(indefinite)", leadership lost, or unmarked: it may have
             * happened. A lost leadership also means this connection no
             * longer reaches the leader. */
            fprintf(stderr, "wr_load: writer %u: %s: %s\n", w->index, key,
                    errmsg);
            if (l->sessions)
                retry = true;
            else
                record(l, "maybe", key);
            count(l, &l->indefinite);
            conn_close(c);
            c = NULL;
            count(l, &l->reconnects);
            continue;
        }
        /* The connection broke or timed out with the write in flight (or
         * before it was sent: we cannot tell). */
        if (rv == WR_INVALID || rv == WR_NOMEM)
            die("writer %u: encode: %s", w->index, errmsg);
        fprintf(stderr, "wr_load: writer %u: %s on %s: %s (%s)\n", w->index,
                key, conn_address(c), errmsg, err_str(rv));
        if (l->sessions)
            retry = true;
        else
            record(l, "maybe", key);
        count(l, &l->indefinite);
        conn_close(c);
        c = NULL;
        count(l, &l->reconnects);
    }
    if (retry)
        record(l, "maybe", key); /* Never resolved. */
    if (c != NULL)
        conn_close(c);
    free(value);
    return NULL;
}

/* Create the table, retrying through elections for a bounded time. */
static void create_table(struct load *l)
{
    static const char *ddl[] = {
        "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, k TEXT NOT "
        "NULL, v TEXT, writer INTEGER)",
        "CREATE INDEX IF NOT EXISTS t_k ON t(k)"};
    char errmsg[WR_ERRMSG_SIZE];
    for (unsigned attempt = 0; attempt < RECONNECT_ATTEMPTS; attempt++) {
        uint64_t db_id;
        struct conn *c = connect_leader(l, &db_id, 0);
        if (c == NULL) {
            sleep_ms(500);
            continue;
        }
        int rv = 0;
        for (size_t i = 0; i < sizeof ddl / sizeof ddl[0] && rv == 0; i++)
            rv = exec_sql(c, db_id, ddl[i], errmsg);
        conn_close(c);
        if (rv == 0)
            return;
        fprintf(stderr, "wr_load: create table: %s\n", errmsg);
        sleep_ms(500);
    }
    die("could not create table t in %s", l->db);
}

static int cmd_load(int argc, char **argv)
{
    struct load l = {.writers = 8, .seconds = 5, .value_size = 64};
    const char *out_path = NULL;
    char prefix[32];

    snprintf(prefix, sizeof prefix, "p%ld", (long)getpid());
    l.prefix = prefix;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-errors") == 0) {
            l.no_errors = true;
            continue;
        }
        if (strcmp(a, "--sessions") == 0) {
            l.sessions = true;
            continue;
        }
        if (v == NULL)
            die("load: %s needs a value", a);
        i++;
        if (strcmp(a, "--cluster") == 0)
            l.cluster = v;
        else if (strcmp(a, "--db") == 0)
            l.db = v;
        else if (strcmp(a, "--writers") == 0)
            l.writers = (unsigned)atoi(v);
        else if (strcmp(a, "--seconds") == 0)
            l.seconds = (unsigned)atoi(v);
        else if (strcmp(a, "--value-size") == 0)
            l.value_size = (unsigned)atoi(v);
        else if (strcmp(a, "--out") == 0)
            out_path = v;
        else if (strcmp(a, "--prefix") == 0)
            l.prefix = v;
        else
            die("load: unknown option %s", a);
    }
    if (l.cluster == NULL || l.db == NULL || out_path == NULL)
        die("load: --cluster, --db and --out are required");
    if (l.writers == 0 || l.writers > MAX_WRITERS || l.seconds == 0 ||
        l.value_size > (1u << 20))
        die("load: bad --writers, --seconds or --value-size");
    l.out = fopen(out_path, "a");
    if (l.out == NULL)
        die("load: open %s: %s", out_path, strerror(errno));
    pthread_mutex_init(&l.mu, NULL);

    create_table(&l);

    struct writer *ws = calloc(l.writers, sizeof *ws);
    if (ws == NULL)
        die("out of memory");
    int64_t start = mono_ms();
    l.deadline = start + (int64_t)l.seconds * 1000;
    for (unsigned i = 0; i < l.writers; i++) {
        ws[i].load = &l;
        ws[i].index = i;
        if (pthread_create(&ws[i].thread, NULL, writer_main, &ws[i]) != 0)
            die("pthread_create failed");
    }
    for (unsigned i = 0; i < l.writers; i++)
        pthread_join(ws[i].thread, NULL);
    int64_t elapsed = mono_ms() - start;
    free(ws);
    if (fclose(l.out) != 0)
        die("load: write %s: %s", out_path, strerror(errno));
    pthread_mutex_destroy(&l.mu);

    printf("elapsed_ms=%" PRId64 " writes_per_s=%.0f\n", elapsed,
           elapsed > 0 ? (double)l.ok * 1000.0 / (double)elapsed : 0.0);
    printf("ok=%" PRIu64 " definite=%" PRIu64 " indefinite=%" PRIu64
           " notleader=%" PRIu64 " reconnects=%" PRIu64 " gaveup=%" PRIu64
           "\n",
           l.ok, l.definite, l.indefinite, l.notleader, l.reconnects,
           l.gaveup);
    fflush(stdout);
    if (l.gaveup > 0 || l.ok == 0)
        return 1;
    if (l.no_errors && (l.definite + l.indefinite + l.notleader) > 0)
        return 2;
    return 0;
}

/*
 * reads
 */

struct reads {
    const char *address;
    unsigned level;
    unsigned rows;
    int64_t deadline; /* mono_ms() */
};

struct reader {
    struct reads *r;
    pthread_t thread;
    uint64_t seed;
    uint32_t *us; /* Latencies in microseconds. */
    size_t n;
    size_t cap;
    uint64_t errors;
    char last_error[WR_ERRMSG_SIZE];
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *reader_main(void *arg)
{
    struct reader *rd = arg;
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct conn *c = NULL;
    uint64_t db_id;

    if (conn_open(rd->r->address, CONN_TIMEOUT_MS, &c, errmsg) != 0 ||
        open_db(c, "reads", &db_id, errmsg) != 0) {
        snprintf(rd->last_error, sizeof rd->last_error, "%s", errmsg);
        rd->errors++;
        if (c != NULL)
            conn_close(c);
        return NULL;
    }
    while (mono_ms() < rd->r->deadline) {
        struct proto_request req = {.type = PROTO_REQ_QUERY_SQL_EXT};
        struct proto_response resp;
        struct proto_value key = {.wire = PROTO_INTEGER,
                                  .v = {.type = VALUE_INTEGER}};
        rd->seed = rd->seed * 6364136223846793005ULL + 1442695040888963407ULL;
        key.v.integer = (int64_t)((rd->seed >> 33) % rd->r->rows) + 1;
        req.query_sql_ext.flags = rd->r->level;
        req.query_sql_ext.db_id = db_id;
        req.query_sql_ext.sql = "SELECT v FROM kv WHERE k = ?";
        req.query_sql_ext.params.n = 1;
        req.query_sql_ext.params.values = &key;
        int64_t t0 = mono_us();
        int rv = conn_request(c, &req, PROTO_RESP_ROWS_EXT, &resp, errmsg);
        int64_t dt = mono_us() - t0;
        if (rv != 0) {
            rd->errors++;
            snprintf(rd->last_error, sizeof rd->last_error, "%s", errmsg);
            if (rv != WR_SQL)
                break;
            continue;
        }
        if (rd->n == rd->cap) {
            rd->cap = rd->cap ? 2 * rd->cap : 4096;
            rd->us = realloc(rd->us, rd->cap * sizeof *rd->us);
            if (rd->us == NULL)
                die("reads: out of memory");
        }
        rd->us[rd->n++] = (uint32_t)(dt > UINT32_MAX ? UINT32_MAX : dt);
    }
    conn_close(c);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmd_reads(int argc, char **argv)
{
    struct reads r = {.rows = 1000};
    const char *cluster = NULL;
    unsigned clients = 1, seconds = 5;
    char errmsg[WR_ERRMSG_SIZE] = "";

    for (int i = 0; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--cluster") == 0)
            cluster = v;
        else if (strcmp(a, "--address") == 0)
            r.address = v;
        else if (strcmp(a, "--level") == 0)
            r.level = (unsigned)atoi(v);
        else if (strcmp(a, "--clients") == 0)
            clients = (unsigned)atoi(v);
        else if (strcmp(a, "--seconds") == 0)
            seconds = (unsigned)atoi(v);
        else if (strcmp(a, "--rows") == 0)
            r.rows = (unsigned)atoi(v);
        else
            die("reads: unknown flag %s", a);
    }
    if (cluster == NULL || r.address == NULL || clients == 0 ||
        clients > MAX_WRITERS || r.rows == 0)
        die("reads: usage: reads --cluster A,B,C --address A --level L "
            "--clients N --seconds S [--rows R]");

    /* The rows, through the leader, in one request. */
    struct conn *c;
    uint64_t db_id;
    if (conn_open_leader(cluster, CONN_TIMEOUT_MS, LEADER_DEADLINE_MS, &c,
                         errmsg) != 0 ||
        open_db(c, "reads", &db_id, errmsg) != 0)
        die("reads: %s", errmsg);
    char sql[256];
    snprintf(sql, sizeof sql,
             "CREATE TABLE IF NOT EXISTS kv(k INTEGER PRIMARY KEY, v TEXT);"
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
             "WHERE i < %u) INSERT OR REPLACE INTO kv SELECT i, "
             "printf('%%064d', i) FROM n",
             r.rows);
    if (exec_sql(c, db_id, sql, errmsg) != 0)
        die("reads: fill: %s", errmsg);
    conn_close(c);
    /* Let every node apply it. */
    sleep_ms(500);

    struct reader *rd = calloc(clients, sizeof *rd);
    if (rd == NULL)
        die("reads: out of memory");
    r.deadline = mono_ms() + (int64_t)seconds * 1000;
    for (unsigned i = 0; i < clients; i++) {
        rd[i].r = &r;
        rd[i].seed = 0x9e3779b97f4a7c15ULL * (i + 1);
        if (pthread_create(&rd[i].thread, NULL, reader_main, &rd[i]) != 0)
            die("reads: pthread_create failed");
    }
    size_t total = 0;
    uint64_t errors = 0;
    const char *last_error = "";
    for (unsigned i = 0; i < clients; i++) {
        pthread_join(rd[i].thread, NULL);
        total += rd[i].n;
        errors += rd[i].errors;
        if (rd[i].errors > 0)
            last_error = rd[i].last_error;
    }
    uint32_t *all = malloc((total ? total : 1) * sizeof *all);
    if (all == NULL)
        die("reads: out of memory");
    size_t k = 0;
    for (unsigned i = 0; i < clients; i++) {
        memcpy(all + k, rd[i].us, rd[i].n * sizeof *all);
        k += rd[i].n;
        free(rd[i].us);
    }
    qsort(all, total, sizeof *all, cmp_u32);
#define PCT(p) (total ? all[(size_t)((double)(total - 1) * (p))] / 1000.0 : 0)
    printf("level=%u clients=%u reads_per_s=%.0f errors=%" PRIu64
           " p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f\n",
           r.level, clients, (double)total / seconds, errors, PCT(0.50),
           PCT(0.90), PCT(0.99));
#undef PCT
    if (errors > 0)
        fprintf(stderr, "reads: last error: %s\n", last_error);
    free(all);
    free(rd);
    return total > 0 ? 0 : 1;
}

/*
 * verify
 */

struct image {
    char address[64];
    unsigned char *data;
    size_t size;
    uint64_t wal_size;
};

/* STATUS of the node behind @c, parsed. */
static json_t *node_status(struct conn *c, char *errmsg)
{
    char *text = NULL;
    int rv = conn_status(c, &text, errmsg);
    if (rv != 0)
        return NULL;
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    if (doc == NULL)
        err_printf(errmsg, "STATUS is not JSON: %s", jerr.text);
    free(text);
    return doc;
}

static bool status_u64(json_t *doc, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(doc, key);
    if (!json_is_integer(v))
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

/* Split "a,b,c" into @out (at most MAX_NODES). */
static unsigned split_addresses(const char *list, char out[][64])
{
    unsigned n = 0;
    const char *p = list;
    while (*p != '\0' && n < MAX_NODES) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len > 0 && len < 64) {
            memcpy(out[n], p, len);
            out[n][len] = '\0';
            n++;
        }
        p += len + (comma ? 1 : 0);
    }
    return n;
}

/* Wait until every node has applied the leader's applied index. Returns
 * true, or false after @timeout_s with a report on stderr. */
static bool wait_caught_up(const char *cluster, char nodes[][64], unsigned n,
                           unsigned timeout_s)
{
    char errmsg[WR_ERRMSG_SIZE];
    int64_t deadline = mono_ms() + (int64_t)timeout_s * 1000;
    char last[2 * WR_ERRMSG_SIZE + 256] = "";
    while (mono_ms() < deadline) {
        struct conn *leader = NULL;
        errmsg[0] = '\0';
        if (conn_open_leader(cluster, CONN_TIMEOUT_MS, 5000, &leader,
                             errmsg) != 0) {
            snprintf(last, sizeof last, "find leader: %s", errmsg);
            sleep_ms(200);
            continue;
        }
        json_t *ls = node_status(leader, errmsg);
        conn_close(leader);
        uint64_t target = 0;
        if (ls == NULL || !status_u64(ls, "applied_index", &target)) {
            snprintf(last, sizeof last, "leader STATUS: %s", errmsg);
            json_decref(ls);
            sleep_ms(200);
            continue;
        }
        json_decref(ls);
        bool all = true;
        for (unsigned i = 0; i < n && all; i++) {
            struct conn *c = NULL;
            uint64_t applied = 0;
            errmsg[0] = '\0';
            if (conn_open(nodes[i], CONN_TIMEOUT_MS, &c, errmsg) != 0) {
                snprintf(last, sizeof last, "%.63s: connect: %s", nodes[i],
                         errmsg);
                all = false;
                break;
            }
            json_t *s = node_status(c, errmsg);
            conn_close(c);
            if (s == NULL || !status_u64(s, "applied_index", &applied)) {
                snprintf(last, sizeof last, "%.63s: STATUS: %s", nodes[i],
                         errmsg);
                all = false;
            } else if (applied != target) {
                snprintf(last, sizeof last,
                         "%.63s: applied_index %" PRIu64 ", leader's %" PRIu64,
                         nodes[i], applied, target);
                all = false;
            }
            json_decref(s);
        }
        if (all) {
            printf("verify: every node applied index %" PRIu64 "\n", target);
            return true;
        }
        sleep_ms(200);
    }
    fprintf(stderr, "wr_load: verify: nodes did not catch up in %u s: %s\n",
            timeout_s, last);
    return false;
}

/* DUMP @db from the node at @address into @img. */
static bool dump_image(const char *address, const char *db, struct image *img)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct conn *c = NULL;
    snprintf(img->address, sizeof img->address, "%.63s", address);
    if (conn_open(address, CONN_TIMEOUT_MS, &c, errmsg) != 0) {
        fprintf(stderr, "wr_load: verify: %s: connect: %s\n", address, errmsg);
        return false;
    }
    struct proto_request req = {.type = PROTO_REQ_DUMP};
    struct proto_response resp;
    req.dump.name = db;
    int rv = conn_request(c, &req, PROTO_RESP_FILES, &resp, errmsg);
    if (rv != 0) {
        fprintf(stderr, "wr_load: verify: %s: DUMP %s: %s\n", address, db,
                errmsg);
        conn_close(c);
        return false;
    }
    struct proto_iter it;
    struct proto_file f;
    bool have_db = false;
    char wal_name[256];
    snprintf(wal_name, sizeof wal_name, "%s-wal", db);
    proto_files_iter_init(&it, &resp.files.files);
    while (proto_files_next(&it, &f)) {
        if (strcmp(f.name, db) == 0) {
            img->data = malloc(f.size > 0 ? f.size : 1);
            if (img->data == NULL)
                die("out of memory");
            memcpy(img->data, f.data, f.size);
            img->size = f.size;
            have_db = true;
        } else if (strcmp(f.name, wal_name) == 0) {
            img->wal_size = f.size;
        }
    }
    conn_close(c);
    if (!have_db) {
        fprintf(stderr, "wr_load: verify: %s: DUMP has no file named %s\n",
                address, db);
        return false;
    }
    printf("verify: %s: %s is %zu bytes, %s-wal %" PRIu64 " bytes\n", address,
           db, img->size, db, img->wal_size);
    return true;
}

static bool compare_images(const struct image *a, const struct image *b)
{
    if (a->size != b->size) {
        fprintf(stderr,
                "wr_load: verify: %s has %zu bytes but %s has %zu bytes\n",
                a->address, a->size, b->address, b->size);
        return false;
    }
    for (size_t off = 0; off < a->size; off += 4096) {
        size_t len = a->size - off < 4096 ? a->size - off : 4096;
        if (memcmp(a->data + off, b->data + off, len) != 0) {
            fprintf(stderr,
                    "wr_load: verify: %s and %s differ in page %zu\n",
                    a->address, b->address, off / 4096 + 1);
            return false;
        }
    }
    return true;
}

static int64_t query_int(sqlite3 *s, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(s, sql, -1, &st, NULL) != SQLITE_OK)
        die("verify: prepare %s: %s", sql, sqlite3_errmsg(s));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    else
        die("verify: %s: %s", sql, sqlite3_errmsg(s));
    sqlite3_finalize(st);
    return v;
}

/* Load the key files into temp.ack(k, status). */
static void load_keys(sqlite3 *s, const char *const *paths, unsigned n)
{
    sqlite3_stmt *ins;
    if (sqlite3_exec(s,
                     "CREATE TEMP TABLE ack(k TEXT PRIMARY KEY, status TEXT);"
                     "BEGIN",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s,
                           "INSERT OR REPLACE INTO ack(k, status) VALUES(?, ?)",
                           -1, &ins, NULL) != SQLITE_OK)
        die("verify: key table: %s", sqlite3_errmsg(s));
    for (unsigned i = 0; i < n; i++) {
        FILE *f = fopen(paths[i], "r");
        if (f == NULL)
            die("verify: open %s: %s", paths[i], strerror(errno));
        char line[512], status[16], key[256];
        unsigned lineno = 0;
        while (fgets(line, sizeof line, f) != NULL) {
            lineno++;
            if (sscanf(line, "%15s %255s", status, key) != 2)
                die("verify: %s:%u: malformed line", paths[i], lineno);
            if (strcmp(status, "fail") == 0)
                continue;
            sqlite3_bind_text(ins, 1, key, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(ins, 2, status, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(ins) != SQLITE_DONE)
                die("verify: insert key: %s", sqlite3_errmsg(s));
            sqlite3_reset(ins);
        }
        fclose(f);
    }
    sqlite3_finalize(ins);
    if (sqlite3_exec(s, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        die("verify: %s", sqlite3_errmsg(s));
}

/* Open @img with SQLite and check its content. */
static bool check_content(const struct image *img, const char *const *keys,
                          unsigned n_keys, bool exact)
{
    sqlite3 *s;
    bool ok = true;
    if (img->size < 100) {
        fprintf(stderr, "wr_load: verify: image of %zu bytes is no database\n",
                img->size);
        return false;
    }
    if (sqlite3_open(":memory:", &s) != SQLITE_OK)
        die("verify: sqlite3_open failed");
    unsigned char *copy = sqlite3_malloc64(img->size);
    if (copy == NULL)
        die("out of memory");
    memcpy(copy, img->data, img->size);
    /* The image is a WAL-mode database (file format bytes 18 and 19 are 2);
     * the in-memory VFS cannot open a WAL, so read it as a rollback-journal
     * database. Nothing else in the file depends on the mode. */
    copy[18] = 1;
    copy[19] = 1;
    int rv = sqlite3_deserialize(s, "main", copy, (sqlite3_int64)img->size,
                                 (sqlite3_int64)img->size,
                                 SQLITE_DESERIALIZE_FREEONCLOSE |
                                     SQLITE_DESERIALIZE_RESIZEABLE);
    if (rv != SQLITE_OK)
        die("verify: deserialize: %s", sqlite3_errmsg(s));

    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s, "PRAGMA integrity_check", -1, &st, NULL) !=
        SQLITE_OK)
        die("verify: integrity_check: %s", sqlite3_errmsg(s));
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st, 0);
        if (line == NULL || strcmp(line, "ok") != 0) {
            fprintf(stderr, "wr_load: verify: integrity_check: %s\n",
                    line ? line : "(null)");
            ok = false;
        }
    }
    sqlite3_finalize(st);

    int64_t rows = query_int(s, "SELECT count(*) FROM t");
    printf("verify: table t has %" PRId64 " rows\n", rows);
    if (n_keys > 0) {
        load_keys(s, keys, n_keys);
        int64_t acked =
            query_int(s, "SELECT count(*) FROM ack WHERE status = 'ok'");
        int64_t maybe =
            query_int(s, "SELECT count(*) FROM ack WHERE status = 'maybe'");
        int64_t missing = query_int(
            s, "SELECT count(*) FROM ack WHERE status = 'ok' AND k NOT IN "
               "(SELECT k FROM main.t)");
        int64_t dups = query_int(
            s, "SELECT count(*) FROM (SELECT k FROM main.t GROUP BY k "
               "HAVING count(*) > 1)");
        int64_t maybe_in = query_int(
            s, "SELECT count(*) FROM ack WHERE status = 'maybe' AND k IN "
               "(SELECT k FROM main.t)");
        int64_t unknown = query_int(
            s, "SELECT count(*) FROM main.t WHERE k NOT IN (SELECT k FROM "
               "ack)");
        printf("verify: %" PRId64 " acknowledged keys, %" PRId64
               " missing; %" PRId64 " maybe keys, %" PRId64
               " of them present; %" PRId64 " keys more than once; %" PRId64
               " rows with keys not in the key files\n",
               acked, missing, maybe, maybe_in, dups, unknown);
        if (missing > 0 || dups > 0 || (exact && unknown > 0))
            ok = false;
        if (missing > 0) {
            if (sqlite3_prepare_v2(
                    s,
                    "SELECT k FROM ack WHERE status = 'ok' AND k NOT IN "
                    "(SELECT k FROM main.t) LIMIT 5",
                    -1, &st, NULL) == SQLITE_OK) {
                while (sqlite3_step(st) == SQLITE_ROW)
                    fprintf(stderr, "wr_load: verify: missing key %s\n",
                            sqlite3_column_text(st, 0));
                sqlite3_finalize(st);
            }
        }
    }
    sqlite3_close(s);
    return ok;
}

static int cmd_verify(int argc, char **argv)
{
    const char *cluster = NULL, *db = NULL;
    const char *keys[MAX_KEY_FILES];
    unsigned n_keys = 0, timeout_s = 60;
    bool exact = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--exact") == 0) {
            exact = true;
            continue;
        }
        if (v == NULL)
            die("verify: %s needs a value", a);
        i++;
        if (strcmp(a, "--cluster") == 0)
            cluster = v;
        else if (strcmp(a, "--db") == 0)
            db = v;
        else if (strcmp(a, "--keys") == 0 && n_keys < MAX_KEY_FILES)
            keys[n_keys++] = v;
        else if (strcmp(a, "--timeout") == 0)
            timeout_s = (unsigned)atoi(v);
        else
            die("verify: unknown option %s", a);
    }
    if (cluster == NULL || db == NULL)
        die("verify: --cluster and --db are required");

    char nodes[MAX_NODES][64];
    unsigned n = split_addresses(cluster, nodes);
    if (n == 0)
        die("verify: no addresses in %s", cluster);
    if (!wait_caught_up(cluster, nodes, n, timeout_s))
        return 1;

    struct image imgs[MAX_NODES];
    memset(imgs, 0, sizeof imgs);
    bool ok = true;
    for (unsigned i = 0; i < n; i++)
        if (!dump_image(nodes[i], db, &imgs[i]))
            ok = false;
    if (ok) {
        for (unsigned i = 0; i < n; i++) {
            if (imgs[i].wal_size != 0) {
                fprintf(stderr,
                        "wr_load: verify: %s: DUMP sent a %" PRIu64
                        "-byte WAL; the image should be complete\n",
                        imgs[i].address, imgs[i].wal_size);
                ok = false;
            }
            if (i > 0 && !compare_images(&imgs[0], &imgs[i]))
                ok = false;
        }
        if (ok)
            printf("verify: %u images identical, %zu bytes\n", n,
                   imgs[0].size);
    }
    if (ok && !check_content(&imgs[0], keys, n_keys, exact))
        ok = false;
    for (unsigned i = 0; i < n; i++)
        free(imgs[i].data);
    printf("verify: %s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}

/*
 * status, json
 */

static int cmd_status(int argc, char **argv)
{
    if (argc != 2 || strcmp(argv[0], "--address") != 0)
        die("status: usage: status --address A");
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct conn *c = NULL;
    char *text = NULL;
    if (conn_open(argv[1], 3000, &c, errmsg) != 0 ||
        conn_status(c, &text, errmsg) != 0) {
        fprintf(stderr, "wr_load: status %s: %s\n", argv[1], errmsg);
        if (c != NULL)
            conn_close(c);
        return 1;
    }
    conn_close(c);
    printf("%s\n", text);
    free(text);
    return 0;
}

static void print_fields(json_t *obj, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        json_t *v = json_object_get(obj, argv[i]);
        if (i > 0)
            putchar('\t');
        if (v == NULL)
            fputs("-", stdout);
        else if (json_is_string(v))
            fputs(json_string_value(v), stdout);
        else if (json_is_integer(v))
            printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_true(v))
            fputs("true", stdout);
        else if (json_is_false(v))
            fputs("false", stdout);
        else if (json_is_null(v))
            fputs("null", stdout);
        else {
            char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            fputs(s ? s : "?", stdout);
            free(s);
        }
    }
    putchar('\n');
}

static int cmd_json(int argc, char **argv)
{
    json_error_t jerr;
    json_t *doc = json_loadf(stdin, 0, &jerr);
    if (doc == NULL) {
        fprintf(stderr, "wr_load: json: line %d: %s\n", jerr.line, jerr.text);
        return 1;
    }
    if (json_is_array(doc)) {
        size_t i;
        json_t *obj;
        json_array_foreach(doc, i, obj) print_fields(obj, argc, argv);
    } else {
        print_fields(doc, argc, argv);
    }
    json_decref(doc);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2)
        die("usage: wr_load load|verify|reads|status|json ...");
    if (strcmp(argv[1], "load") == 0)
        return cmd_load(argc - 2, argv + 2);
    if (strcmp(argv[1], "verify") == 0)
        return cmd_verify(argc - 2, argv + 2);
    if (strcmp(argv[1], "reads") == 0)
        return cmd_reads(argc - 2, argv + 2);
    if (strcmp(argv[1], "status") == 0)
        return cmd_status(argc - 2, argv + 2);
    if (strcmp(argv[1], "json") == 0)
        return cmd_json(argc - 2, argv + 2);
    die("unknown command %s", argv[1]);
}
