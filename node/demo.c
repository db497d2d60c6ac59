/*
 * walraft-demo: the state machine at work, until the real node exists.
 *
 * Starts three servers inside this process on libraft's in-memory cluster
 * (raft_fixture: simulated disks, network and clock), each with the real
 * replicated SQLite state machine and its files in a temporary directory.
 * It writes through the leader, shows that every server holds the same
 * rows, kills the leader, lets the other two elect a new one, writes again
 * and shows the rows once more. Exits 0 when every step worked.
 */
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <raft.h>
#include <raft/fixture.h>

#include "../fsm/exec.h"
#include "../fsm/fsm.h"
#include "../lib/err.h"
#include "../raft/fsm_adapter.h"
#include "../raft/io.h"
#include "../raft/leader.h"
#include "../raft/proposer.h"

#define N_SERVERS 3
#define DB "demo"

struct server {
    char dir[600];
    struct fsm *fsm;
    struct fsm_adapter adapter;
    struct proposer proposer;
    struct exec *exec;
    struct raft_io_guard guard;
    struct leader_watch watch;
    bool dead;
};

static struct raft_fixture fixture;
static struct server servers[N_SERVERS];
static char root[512];

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...)
{
    va_list ap;
    fputs("walraft-demo: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static unsigned leader(void)
{
    unsigned best = N_SERVERS;
    raft_term term = 0;

    for (unsigned i = 0; i < N_SERVERS; i++) {
        struct raft *r = raft_fixture_get(&fixture, i);
        if (!servers[i].dead && raft_state(r) == RAFT_LEADER &&
            r->current_term > term) {
            best = i;
            term = r->current_term;
        }
    }
    return best;
}

/* One event of the simulated cluster, then what each node's event loop does
 * after every turn: a new leader proposes its start-of-term barrier. */
static void step(void)
{
    raft_fixture_step(&fixture);
    for (unsigned i = 0; i < N_SERVERS; i++) {
        if (!servers[i].dead) {
            leader_watch_tick(&servers[i].watch);
        }
    }
}

/* Step the simulated cluster until *@flag is set or @ms of its time pass. */
static bool step_until_set(const bool *flag, unsigned ms)
{
    raft_time deadline = raft_fixture_time(&fixture) + ms;
    while (!*flag) {
        if (raft_fixture_time(&fixture) >= deadline) {
            return false;
        }
        step();
    }
    return true;
}

/* libraft 0.15 appends nothing when a leader is elected: wait until the
 * leader has applied its start-of-term barrier (raft/leader.h), so it has
 * applied everything before it runs a transaction. */
static int start_of_term(unsigned l)
{
    raft_time deadline = raft_fixture_time(&fixture) + 10000;
    while (!leader_watch_ready(&servers[l].watch)) {
        if (raft_fixture_time(&fixture) >= deadline) {
            return WR_BUSY;
        }
        step();
    }
    return 0;
}

static void req_cb(struct exec_req *req)
{
    *(bool *)req->data = true;
}

static int write_sql(unsigned l, const char *sql)
{
    struct exec_req req;
    struct exec_req *reqs[1] = {&req};
    char errmsg[WR_ERRMSG_SIZE];
    bool done = false;
    int rv;

    memset(&req, 0, sizeof req);
    req.sql = sql;
    req.cb = req_cb;
    req.data = &done;
    rv = exec_write(servers[l].exec, DB, reqs, 1, errmsg);
    if (rv != 0) {
        return die("write on server %u: %s", l + 1, errmsg);
    }
    if (!step_until_set(&done, 10000)) {
        return die("the write was not committed in time");
    }
    rv = req.status;
    if (rv != 0) {
        die("write on server %u: %s", l + 1, req.errmsg);
    } else {
        say("  server %u committed it at log index %llu: %s", l + 1,
            (unsigned long long)req.bookmark, sql);
    }
    exec_req_close(&req);
    return rv;
}

static void format_value(const struct value *v, char *out, size_t size)
{
    switch (v->type) {
        case VALUE_INTEGER:
            snprintf(out, size, "%lld", (long long)v->integer);
            break;
        case VALUE_FLOAT:
            snprintf(out, size, "%g", v->real);
            break;
        case VALUE_TEXT:
            snprintf(out, size, "%s", v->text.p);
            break;
        case VALUE_BLOB:
            snprintf(out, size, "<%zu bytes>", v->blob.n);
            break;
        default:
            snprintf(out, size, "NULL");
            break;
    }
}

/* Followers learn that an entry is committed with the leader's next
 * message: step until every live server applied what server @l applied. */
static int catch_up(unsigned l)
{
    raft_index target = raft_last_applied(raft_fixture_get(&fixture, l));
    raft_time deadline = raft_fixture_time(&fixture) + 10000;

    for (unsigned i = 0; i < N_SERVERS; i++) {
        while (!servers[i].dead &&
               raft_last_applied(raft_fixture_get(&fixture, i)) < target) {
            if (raft_fixture_time(&fixture) >= deadline) {
                return die("server %u did not catch up", i + 1);
            }
            step();
        }
    }
    return 0;
}

/* Print the rows of every live server and check they are the same. */
static int show_rows(unsigned l)
{
    char first[4096] = "";
    bool have_first = false;

    if (catch_up(l) != 0) {
        return 1;
    }
    for (unsigned i = 0; i < N_SERVERS; i++) {
        struct exec_req req;
        char text[4096] = "";
        size_t used = 0;

        if (servers[i].dead) {
            say("  server %u is down", i + 1);
            continue;
        }
        memset(&req, 0, sizeof req);
        req.sql = "SELECT id, body, lucky, at FROM notes ORDER BY id";
        if (exec_read(servers[i].exec, DB, &req) != 0) {
            int rv = die("read on server %u: %s", i + 1, req.errmsg);
            exec_req_close(&req);
            return rv;
        }
        say("  server %u has %u rows:", i + 1, req.rows.n_rows);
        for (unsigned r = 0; r < req.rows.n_rows; r++) {
            char line[512] = "   ";
            for (unsigned col = 0; col < req.rows.n_cols; col++) {
                char v[128];
                format_value(&req.rows.values[r * req.rows.n_cols + col], v,
                             sizeof v);
                strncat(line, " | ", sizeof line - strlen(line) - 1);
                strncat(line, v, sizeof line - strlen(line) - 1);
            }
            say("%s", line);
            used += (size_t)snprintf(text + used, sizeof text - used, "%s\n",
                                     line);
            if (used >= sizeof text) {
                used = sizeof text - 1;
            }
        }
        exec_req_close(&req);
        if (!have_first) {
            snprintf(first, sizeof first, "%s", text);
            have_first = true;
        } else if (strcmp(first, text) != 0) {
            return die("server %u differs from the others", i + 1);
        }
    }
    say("  Every live server holds exactly the same rows.");
    return 0;
}

static int rm_cb(const char *path, const struct stat *st, int flag,
                 struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static int setup(void)
{
    const char *tmp = getenv("TMPDIR");
    struct raft_configuration conf;
    char errmsg[WR_ERRMSG_SIZE];
    int rv;

    snprintf(root, sizeof root, "%s/walraft-demo-XXXXXX",
             tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
    if (mkdtemp(root) == NULL) {
        return die("cannot create a directory in %s", root);
    }
    raft_fixture_initialize(&fixture);
    for (unsigned i = 0; i < N_SERVERS; i++) {
        struct server *s = &servers[i];
        struct fsm_config config;
        struct raft *r;

        snprintf(s->dir, sizeof s->dir, "%s/server%u", root, i + 1);
        memset(&config, 0, sizeof config);
        config.dir = s->dir;
        config.node_id = i + 1;
        config.seed = 0x5eed0000u + i;
        config.compress = true;
        config.snapshot_min_bytes = 1 << 20;
        config.snapshot_ratio_percent = 100;
        rv = fsm_create(&config, &s->fsm, errmsg);
        if (rv != 0) {
            return die("state machine of server %u: %s", i + 1, errmsg);
        }
        fsm_adapter_init(&s->adapter, s->fsm, NULL);
        rv = raft_fixture_grow(&fixture, &s->adapter.raft_fsm);
        if (rv != 0) {
            return die("raft server %u: %s", i + 1, raft_strerror(rv));
        }
        r = raft_fixture_get(&fixture, i);
        fsm_adapter_set_raft(&s->adapter, r);
        /* As in the node: the libraft 0.15 safety decorator outermost. */
        rv = raft_io_guard_install(&s->guard, r, NULL);
        if (rv != 0) {
            return die("server %u: raft_io_guard_install: %s", i + 1,
                       err_str(rv));
        }
        leader_watch_init(&s->watch, r);
        raft_set_pre_vote(r, true);
        proposer_init(&s->proposer, r, &s->adapter);
        rv = exec_create(s->fsm, &s->proposer.base, &s->exec);
        if (rv != 0) {
            return die("executor of server %u: %s", i + 1, err_str(rv));
        }
    }
    raft_configuration_init(&conf);
    rv = raft_fixture_configuration(&fixture, N_SERVERS, &conf);
    if (rv == 0) {
        rv = raft_fixture_bootstrap(&fixture, &conf);
    }
    raft_configuration_close(&conf);
    if (rv == 0) {
        rv = raft_fixture_start(&fixture);
    }
    if (rv != 0) {
        return die("starting the cluster: %s", raft_strerror(rv));
    }
    return 0;
}

static void teardown(void)
{
    for (unsigned i = 0; i < N_SERVERS; i++) {
        proposer_close(&servers[i].proposer);
        leader_watch_close(&servers[i].watch);
    }
    raft_fixture_close(&fixture);
    for (unsigned i = 0; i < N_SERVERS; i++) {
        if (servers[i].exec != NULL) {
            exec_destroy(servers[i].exec);
        }
        fsm_adapter_close(&servers[i].adapter);
        if (servers[i].fsm != NULL) {
            fsm_destroy(servers[i].fsm);
        }
    }
    nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static int run(void)
{
    unsigned l;
    unsigned old;
    int rv;

    say("Starting three walraft servers in this process, on a simulated "
        "network and disks.");
    say("Their SQLite files live in %s.", root);
    raft_fixture_elect(&fixture, 0);
    l = leader();
    if (l >= N_SERVERS) {
        return die("no leader was elected");
    }
    say("Server %u was elected leader in term %llu.", l + 1,
        (unsigned long long)raft_fixture_get(&fixture, l)->current_term);
    if ((rv = start_of_term(l)) != 0) {
        return die("start-of-term barrier: %s", err_str(rv));
    }

    say("\nWriting through the leader; each write is one Raft entry holding "
        "the SQLite pages it changed:");
    if (write_sql(l, "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT, "
                     "lucky INTEGER, at TEXT)") != 0 ||
        write_sql(l, "INSERT INTO notes(body, lucky, at) VALUES('hello from "
                     "the first leader', random() % 1000, datetime('now'))") !=
            0 ||
        write_sql(l, "INSERT INTO notes(body, lucky, at) VALUES('random() "
                     "and the clock run once, on the leader', random() % "
                     "1000, datetime('now'))") != 0) {
        return 1;
    }
    say("\nReading on every server (random() and datetime('now') were "
        "evaluated once, so all agree):");
    if (show_rows(l) != 0) {
        return 1;
    }

    old = l;
    say("\nKilling the leader, server %u.", old + 1);
    raft_fixture_kill(&fixture, old);
    servers[old].dead = true;
    {
        raft_time deadline = raft_fixture_time(&fixture) + 30000;
        while ((l = leader()) >= N_SERVERS) {
            if (raft_fixture_time(&fixture) >= deadline) {
                return die("no new leader was elected");
            }
            step();
        }
    }
    say("The other two elected server %u in term %llu.", l + 1,
        (unsigned long long)raft_fixture_get(&fixture, l)->current_term);
    if ((rv = start_of_term(l)) != 0) {
        return die("start-of-term barrier: %s", err_str(rv));
    }

    say("\nWriting through the new leader:");
    if (write_sql(l, "INSERT INTO notes(body, lucky, at) VALUES('written "
                     "after the first leader died', random() % 1000, "
                     "datetime('now'))") != 0) {
        return 1;
    }
    say("\nReading on every server still running:");
    if (show_rows(l) != 0) {
        return 1;
    }
    say("\nDone: every write was replicated, and the cluster kept working "
        "after losing its leader.");
    return 0;
}

int main(void)
{
    int rv = setup();
    if (rv == 0) {
        rv = run();
    }
    teardown();
    return rv == 0 ? 0 : 1;
}
