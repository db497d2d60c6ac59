/*
 * walraft-fsm-bench: the cost of the state machine's own work per page,
 * without Raft or the network.
 *
 * A "leader" fsm runs the dqlite-benchmark kvwrite statement (an upsert of a
 * random 32-byte key and a 1024-byte value, ARCHITECTURE.md section 9) in
 * batches; each committed transaction is captured (poll + encode), applied on
 * the leader (publish) and on a "follower" fsm (decode + append), and the
 * follower then answers one point read (its first after the apply). Each
 * phase is timed separately and reported per transaction and per page.
 *
 * Usage: walraft-fsm-bench [--txns N] [--batch B] [--no-compress] [--dir D]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../fsm/command.h"
#include "../fsm/fsm.h"
#include "../lib/err.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "walraft-fsm-bench: %s: %s\n", what, msg);
    exit(1);
}

static void random_text(char *out, size_t n, unsigned *seed, bool half_same)
{
    for (size_t i = 0; i < n; i++) {
        int c = half_same && i < n / 2 ? 'a' : 'a' + rand_r(seed) % 26;
        out[i] = (char)c;
    }
    out[n] = '\0';
}

static sqlite3 *conn_of(struct fsm *f, struct fsm_db **db)
{
    char errmsg[WR_ERRMSG_SIZE];
    if (fsm_db_open(f, "bench", db, errmsg) != 0) {
        die("open", errmsg);
    }
    return fsm_db_conn(*db, errmsg);
}

int main(int argc, char **argv)
{
    unsigned txns = 5000, batch = 1, seed = 1;
    bool compress = true;
    const char *base = "/tmp";
    char errmsg[WR_ERRMSG_SIZE];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--txns") == 0 && i + 1 < argc) {
            txns = (unsigned)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            batch = (unsigned)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--no-compress") == 0) {
            compress = false;
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            base = argv[++i];
        } else {
            fprintf(stderr, "usage: walraft-fsm-bench [--txns N] [--batch B] "
                            "[--no-compress] [--dir D]\n");
            return 2;
        }
    }

    char root[512], dirs[2][600];
    snprintf(root, sizeof root, "%s/walraft-fsm-bench-XXXXXX", base);
    if (mkdtemp(root) == NULL) {
        die("mkdtemp", root);
    }
    struct fsm *nodes[2];
    for (int i = 0; i < 2; i++) {
        snprintf(dirs[i], sizeof dirs[i], "%s/%d", root, i);
        struct fsm_config c = {.dir = dirs[i], .node_id = (uint64_t)i + 1,
                               .seed = 7, .compress = compress};
        if (fsm_create(&c, &nodes[i], errmsg) != 0) {
            die("fsm_create", errmsg);
        }
    }
    struct fsm_db *ldb, *fdb;
    sqlite3 *leader = conn_of(nodes[0], &ldb);
    sqlite3 *follower = conn_of(nodes[1], &fdb);
    sqlite3_stmt *upsert, *select;
    sqlite3_exec(leader,
                 "CREATE TABLE model(key TEXT, value TEXT, UNIQUE(key))",
                 NULL, NULL, NULL);
    {
        void *cmd;
        size_t len;
        uint64_t id;
        fsm_poll(ldb, &cmd, &len, &id, errmsg);
        fsm_apply(nodes[0], cmd, len, errmsg);
        fsm_apply(nodes[1], cmd, len, errmsg);
        free(cmd);
    }
    sqlite3_prepare_v2(leader,
                       "INSERT OR REPLACE INTO model(key, value) VALUES(?, ?)",
                       -1, &upsert, NULL);
    sqlite3_prepare_v2(follower, "SELECT value FROM model WHERE key = ?", -1,
                       &select, NULL);

    double t_sql = 0, t_poll = 0, t_publish = 0, t_apply = 0, t_read = 0;
    uint64_t pages = 0, bytes = 0;
    char key[33], value[1025];
    unsigned rs = seed;
    for (unsigned t = 0; t < txns; t++) {
        double t0 = now();
        sqlite3_exec(leader, "BEGIN", NULL, NULL, NULL);
        for (unsigned b = 0; b < batch; b++) {
            random_text(key, 32, &rs, false);
            random_text(value, 1024, &rs, true);
            sqlite3_bind_text(upsert, 1, key, 32, SQLITE_STATIC);
            sqlite3_bind_text(upsert, 2, value, 1024, SQLITE_STATIC);
            if (sqlite3_step(upsert) != SQLITE_DONE) {
                die("upsert", sqlite3_errmsg(leader));
            }
            sqlite3_reset(upsert);
        }
        if (sqlite3_exec(leader, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            die("commit", sqlite3_errmsg(leader));
        }
        double t1 = now();
        void *cmd;
        size_t len;
        uint64_t id;
        if (fsm_poll(ldb, &cmd, &len, &id, errmsg) != 0 || cmd == NULL) {
            die("poll", errmsg);
        }
        double t2 = now();
        if (fsm_apply(nodes[0], cmd, len, errmsg) != 0) {
            die("publish", errmsg);
        }
        double t3 = now();
        if (fsm_apply(nodes[1], cmd, len, errmsg) != 0) {
            die("apply", errmsg);
        }
        double t4 = now();
        sqlite3_bind_text(select, 1, key, 32, SQLITE_STATIC);
        if (sqlite3_step(select) != SQLITE_ROW) {
            die("read", sqlite3_errmsg(follower));
        }
        sqlite3_reset(select);
        double t5 = now();
        struct command_decoded d;
        command_decode(cmd, len, &d, errmsg);
        pages += d.frames.n_pages;
        command_decoded_close(&d);
        bytes += len;
        free(cmd);
        t_sql += t1 - t0;
        t_poll += t2 - t1;
        t_publish += t3 - t2;
        t_apply += t4 - t3;
        t_read += t5 - t4;
    }
    sqlite3_finalize(upsert);
    sqlite3_finalize(select);

    double pp = (double)pages;
    printf("transactions        %u (batch of %u kvwrite upserts, %s)\n", txns,
           batch, compress ? "LZ4" : "uncompressed");
    printf("pages per txn       %.2f\n", pp / txns);
    printf("command bytes/txn   %.0f (%.0f per upsert)\n",
           (double)bytes / txns, (double)bytes / txns / batch);
    printf("SQL + commit        %8.2f us/txn\n", t_sql / txns * 1e6);
    printf("capture (poll+enc)  %8.2f us/txn %8.2f us/page\n",
           t_poll / txns * 1e6, t_poll / pp * 1e6);
    printf("publish (leader)    %8.2f us/txn %8.2f us/page\n",
           t_publish / txns * 1e6, t_publish / pp * 1e6);
    printf("apply (follower)    %8.2f us/txn %8.2f us/page\n",
           t_apply / txns * 1e6, t_apply / pp * 1e6);
    printf("follower point read %8.2f us/txn (first read after the apply)\n",
           t_read / txns * 1e6);

    fsm_destroy(nodes[0]);
    fsm_destroy(nodes[1]);
    char cmdline[700];
    snprintf(cmdline, sizeof cmdline, "rm -rf '%s'", root);
    return system(cmdline) == 0 ? 0 : 1;
}
