/*
 * The node's one port (raft/transport.h) with real sockets and real disks:
 * three raft instances in this process on one libuv loop, each on raft_uv
 * over its own data directory and our transport on a 127.0.0.1 port, with
 * the raft_io guard, the real state machine, the proposer, the executor and
 * the start-of-term barrier, as the node will run them. Each test states its
 * scenario in one sentence above it.
 *
 * Ports come from a range derived from the pid; a port in use is skipped.
 * Every wait is bounded: the loop runs in UV_RUN_ONCE steps until a
 * condition holds or a deadline passes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "fsm/exec.h"
#include "fsm/fsm.h"
#include "lib/byteorder.h"
#include "lib/err.h"
#include "proto/wire.h"
#include "raft/fsm_adapter.h"
#include "raft/io.h"
#include "raft/leader.h"
#include "raft/proposer.h"
#include "raft/transport.h"

#define N 3
#define DB "test"
#define WAIT_MS 15000
#define HANDSHAKE_TIMEOUT_MS 300

struct node {
    unsigned id;
    char address[32];
    char dir[700];
    struct transport tr;
    bool tr_closed;
    struct raft_io io;
    bool io_inited;
    struct raft raft;
    bool raft_inited;
    bool raft_closed;
    struct raft_io_guard guard;
    struct fsm *fsm;
    struct fsm_adapter adapter;
    struct proposer proposer;
    struct exec *exec;
    struct leader_watch watch;
    bool stopped; /* raft closed; not restarted (libraft.md U3/U4). */
    /* The client callback's record. */
    unsigned n_clients;
    uint8_t client_head[TRANSPORT_HEAD_SIZE];
    uv_tcp_t *client;
    uint8_t client_body[PROTO_WORD];
    size_t client_nread;
    bool client_closed;
};

static uv_loop_t loop;
static uv_check_t check;
static struct node nodes[N];
static char root[600];
static unsigned next_port;

/*
 * Running the loop.
 */

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000u;
}

/* Run the loop until @cond(@arg) holds or @ms pass; true if it held. */
static bool run_until(bool (*cond)(void *), void *arg, unsigned ms)
{
    uint64_t deadline = now_ms() + ms;
    while (!cond(arg)) {
        if (now_ms() >= deadline) {
            return false;
        }
        uv_run(&loop, UV_RUN_ONCE);
    }
    return true;
}

static bool flag_set(void *arg)
{
    return *(bool *)arg;
}

static void check_cb(uv_check_t *handle)
{
    (void)handle;
    for (unsigned i = 0; i < N; i++) {
        if (nodes[i].raft_inited && !nodes[i].stopped) {
            leader_watch_tick(&nodes[i].watch);
        }
    }
}

/*
 * Setting up and tearing down a cluster.
 */

static int rm_cb(const char *path, const struct stat *st, int flag,
                 struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Listen on the next free port of this process's range. */
static void tr_close_cb(struct transport *t);

static void node_listen(struct node *n)
{
    struct transport_config tc = {.handshake_timeout_ms =
                                      HANDSHAKE_TIMEOUT_MS};

    for (unsigned attempt = 0; attempt < 200; attempt++) {
        int rv;
        snprintf(n->address, sizeof n->address, "127.0.0.1:%u", next_port++);
        rv = transport_listen(&n->tr, n->address);
        if (rv == 0) {
            return;
        }
        if (rv != WR_BUSY) {
            fail_msg("listen %s: %s", n->address, transport_errmsg(&n->tr));
        }
        /* In use: close this transport and make it again. */
        transport_close(&n->tr, tr_close_cb);
        if (!run_until(flag_set, &n->tr_closed, WAIT_MS)) {
            fail_msg("transport %u did not close", n->id);
        }
        n->tr_closed = false;
        assert_int_equal(transport_init(&n->tr, &loop, &tc), 0);
        n->tr.data = n;
    }
    fail_msg("no free port near %u", next_port);
}

static void free_handle_cb(uv_handle_t *h)
{
    raft_free(h);
}

static void client_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct node *n = h->data;
    (void)suggested;
    buf->base = (char *)n->client_body + n->client_nread;
    buf->len = sizeof n->client_body - n->client_nread;
}

static void client_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct node *n = s->data;
    (void)buf;
    if (nread > 0) {
        n->client_nread += (size_t)nread;
        if (n->client_nread == sizeof n->client_body) {
            uv_read_stop(s);
        }
    }
}

static void client_close_cb(uv_handle_t *h)
{
    struct node *n = h->data;
    raft_free(h);
    n->client = NULL;
    n->client_closed = true;
}

/* The stub client handler: record the connection, keep it, and read the
 * first message's body (the bytes the dispatcher must have left). */
static void client_cb(struct transport *t, uv_stream_t *stream,
                      const uint8_t *head, void *arg)
{
    struct node *n = arg;
    (void)t;
    n->n_clients++;
    memcpy(n->client_head, head, TRANSPORT_HEAD_SIZE);
    if (n->client != NULL) {
        stream->data = NULL;
        uv_close((uv_handle_t *)stream, free_handle_cb);
        return;
    }
    n->client = (uv_tcp_t *)stream;
    n->client_nread = 0;
    n->client_closed = false;
    stream->data = n;
    assert_int_equal(uv_read_start(stream, client_alloc_cb, client_read_cb),
                     0);
}

static void cluster_setup_nodes(void)
{
    const char *tmp = getenv("WR_TEST_TMP");
    struct raft_configuration conf;
    char errmsg[WR_ERRMSG_SIZE];
    int rv;

    if (tmp == NULL || *tmp == '\0') {
        tmp = "/tmp";
    }
    mkdir(tmp, 0755);
    snprintf(root, sizeof root, "%s/transport-XXXXXX", tmp);
    assert_non_null(mkdtemp(root));
    if (next_port == 0) {
        next_port = 20000 + (unsigned)(getpid() * 37 % 20000);
    }
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(uv_check_init(&loop, &check), 0);
    assert_int_equal(uv_check_start(&check, check_cb), 0);

    memset(nodes, 0, sizeof nodes);
    for (unsigned i = 0; i < N; i++) {
        struct node *n = &nodes[i];
        struct transport_config tc = {.handshake_timeout_ms =
                                          HANDSHAKE_TIMEOUT_MS};
        n->id = i + 1;
        assert_int_equal(transport_init(&n->tr, &loop, &tc), 0);
        n->tr.data = n;
        node_listen(n);
        transport_set_client_cb(&n->tr, client_cb, n);
    }

    raft_configuration_init(&conf);
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(raft_configuration_add(&conf, nodes[i].id,
                                                nodes[i].address, RAFT_VOTER),
                         0);
    }
    for (unsigned i = 0; i < N; i++) {
        struct node *n = &nodes[i];
        struct fsm_config fc;
        char raft_dir[800];
        char db_dir[800];

        snprintf(n->dir, sizeof n->dir, "%s/node%u", root, n->id);
        snprintf(raft_dir, sizeof raft_dir, "%s/raft", n->dir);
        assert_int_equal(mkdir(n->dir, 0755), 0);
        assert_int_equal(mkdir(raft_dir, 0755), 0);

        memset(&fc, 0, sizeof fc);
        assert_true(snprintf(db_dir, sizeof db_dir, "%s/db", n->dir) <
                    (int)sizeof db_dir);
        fc.dir = db_dir;
        fc.node_id = n->id;
        fc.seed = 0x7a000000u + n->id;
        rv = fsm_create(&fc, &n->fsm, errmsg);
        if (rv != 0) {
            fail_msg("fsm %u: %s", n->id, errmsg);
        }
        fsm_adapter_init(&n->adapter, n->fsm, NULL);

        rv = raft_uv_init(&n->io, &loop, raft_dir, &n->tr.raft);
        if (rv != 0) {
            fail_msg("raft_uv_init %u: %s", n->id, n->io.errmsg);
        }
        n->io_inited = true;
        raft_uv_set_auto_recovery(&n->io, false);
        raft_uv_set_connect_retry_delay(&n->io, 100);
        rv = raft_init(&n->raft, &n->io, &n->adapter.raft_fsm, n->id,
                       n->address);
        if (rv != 0) {
            fail_msg("raft_init %u: %s", n->id, raft_errmsg(&n->raft));
        }
        n->raft_inited = true;
        n->raft.data = n;
        raft_set_election_timeout(&n->raft, 1000);
        raft_set_heartbeat_timeout(&n->raft, 100);
        raft_set_pre_vote(&n->raft, true);
        fsm_adapter_set_raft(&n->adapter, &n->raft);
        assert_int_equal(raft_io_guard_install(&n->guard, &n->raft, NULL), 0);
        rv = raft_bootstrap(&n->raft, &conf);
        if (rv != 0) {
            fail_msg("bootstrap %u: %s", n->id, raft_errmsg(&n->raft));
        }
        proposer_init(&n->proposer, &n->raft, &n->adapter);
        assert_int_equal(exec_create(n->fsm, &n->proposer.base, &n->exec), 0);
        leader_watch_init(&n->watch, &n->raft);
    }
    raft_configuration_close(&conf);
    for (unsigned i = 0; i < N; i++) {
        int rv2 = raft_start(&nodes[i].raft);
        if (rv2 != 0) {
            fail_msg("raft_start %u: %s", nodes[i].id,
                     raft_errmsg(&nodes[i].raft));
        }
    }
}

static int setup(void **state)
{
    (void)state;
    cluster_setup_nodes();
    return 0;
}

static void node_raft_close_cb(struct raft *r)
{
    struct node *n = r->data;
    n->raft_closed = true;
}

static void tr_close_cb(struct transport *t)
{
    struct node *n = t->data;
    n->tr_closed = true;
}

/* Close node @n's raft instance (the only way a node stops in one process:
 * it is never started again, libraft.md U3/U4). */
static void node_stop_raft(struct node *n)
{
    if (!n->raft_inited || n->stopped) {
        return;
    }
    n->stopped = true;
    leader_watch_close(&n->watch);
    proposer_close(&n->proposer);
    raft_close(&n->raft, node_raft_close_cb);
    if (!run_until(flag_set, &n->raft_closed, WAIT_MS)) {
        fail_msg("raft %u did not close", n->id);
    }
    raft_uv_close(&n->io);
    n->io_inited = false;
}

static void node_stop_transport(struct node *n)
{
    if (n->client != NULL) {
        uv_close((uv_handle_t *)n->client, client_close_cb);
        run_until(flag_set, &n->client_closed, WAIT_MS);
    }
    transport_close(&n->tr, tr_close_cb);
    if (!run_until(flag_set, &n->tr_closed, WAIT_MS)) {
        fail_msg("transport %u did not close", n->id);
    }
}

static void walk_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    fprintf(stderr, "handle left open: %s\n", uv_handle_type_name(h->type));
}

static int teardown(void **state)
{
    (void)state;
    for (unsigned i = 0; i < N; i++) {
        struct node *n = &nodes[i];
        if (n->exec != NULL) {
            exec_destroy(n->exec);
            n->exec = NULL;
        }
        node_stop_raft(n);
        node_stop_transport(n);
        fsm_adapter_close(&n->adapter);
        if (n->fsm != NULL) {
            fsm_destroy(n->fsm);
        }
    }
    uv_close((uv_handle_t *)&check, NULL);
    for (int i = 0; i < 10; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    if (uv_loop_close(&loop) != 0) {
        uv_walk(&loop, walk_cb, NULL);
        fail_msg("loop still has handles");
    }
    nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/*
 * Cluster helpers.
 */

static bool have_ready_leader(void *arg)
{
    unsigned *out = arg;
    for (unsigned i = 0; i < N; i++) {
        if (!nodes[i].stopped && raft_state(&nodes[i].raft) == RAFT_LEADER &&
            leader_watch_ready(&nodes[i].watch)) {
            *out = i;
            return true;
        }
    }
    return false;
}

static unsigned wait_leader(void)
{
    unsigned l = N;
    if (!run_until(have_ready_leader, &l, WAIT_MS)) {
        fail_msg("no leader with its barrier applied within %d ms", WAIT_MS);
    }
    return l;
}

static void req_cb(struct exec_req *req)
{
    *(bool *)req->data = true;
}

/* Run @sql through node @l's executor and wait until it is applied there. */
static uint64_t write_sql(unsigned l, const char *sql)
{
    struct exec_req req;
    struct exec_req *reqs[1] = {&req};
    char errmsg[WR_ERRMSG_SIZE];
    bool done = false;
    uint64_t bookmark;
    int rv;

    memset(&req, 0, sizeof req);
    req.sql = sql;
    req.cb = req_cb;
    req.data = &done;
    rv = exec_write(nodes[l].exec, DB, reqs, 1, errmsg);
    if (rv != 0) {
        fail_msg("write on node %u: %s", nodes[l].id, errmsg);
    }
    if (!run_until(flag_set, &done, WAIT_MS)) {
        fail_msg("write on node %u not applied in time", nodes[l].id);
    }
    if (req.status != 0) {
        fail_msg("write on node %u: %s", nodes[l].id, req.errmsg);
    }
    bookmark = req.bookmark;
    exec_req_close(&req);
    return bookmark;
}

struct applied_arg {
    raft_index index;
};

static bool all_applied(void *arg)
{
    struct applied_arg *a = arg;
    for (unsigned i = 0; i < N; i++) {
        if (!nodes[i].stopped && raft_last_applied(&nodes[i].raft) < a->index) {
            return false;
        }
    }
    return true;
}

static void wait_applied(raft_index index)
{
    struct applied_arg a = {index};
    if (!run_until(all_applied, &a, WAIT_MS)) {
        fail_msg("not every live node applied index %llu",
                 (unsigned long long)index);
    }
}

static void path_cb(void *arg, struct fsm_db *db)
{
    if (strcmp(fsm_db_name(db), DB) == 0) {
        snprintf(arg, 800, "%s", fsm_db_path(db));
    }
}

static void *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    void *p;
    long size;
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    assert_true(size >= 0);
    rewind(f);
    p = malloc((size_t)size + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *len = (size_t)size;
    return p;
}

/* Checkpoint every live node and check their database files are equal. */
static void assert_files_identical(void)
{
    void *first = NULL;
    size_t first_len = 0;
    for (unsigned i = 0; i < N; i++) {
        char path[800] = "";
        void *img;
        size_t len;
        if (nodes[i].stopped) {
            continue;
        }
        assert_int_equal(fsm_checkpoint_all(nodes[i].fsm), 0);
        fsm_foreach_db(nodes[i].fsm, path_cb, path);
        assert_true(path[0] != '\0');
        img = read_file(path, &len);
        assert_true(len > 0);
        if (first == NULL) {
            first = img;
            first_len = len;
            continue;
        }
        if (len != first_len || memcmp(img, first, len) != 0) {
            free(img);
            free(first);
            fail_msg("node %u's database file differs", nodes[i].id);
        }
        free(img);
    }
    free(first);
}

static void write_rows_and_check(unsigned l, unsigned from, unsigned count)
{
    uint64_t last = 0;
    for (unsigned k = from; k < from + count; k++) {
        char sql[200];
        snprintf(sql, sizeof sql,
                 "INSERT INTO t(id, body) VALUES (%u, 'row %u on node %u')", k,
                 k, nodes[l].id);
        last = write_sql(l, sql);
    }
    wait_applied(last);
    assert_files_identical();
}

/*
 * Raw sockets, for clients and garbage.
 */

static int dial(const struct node *n)
{
    struct sockaddr_in addr;
    int fd;
    assert_int_equal(transport_parse_address(n->address, &addr), 0);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
    assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

struct closed_arg {
    int fd;
};

/* True once the peer closed @fd (EOF or reset), draining what it sent. */
static bool peer_closed(void *arg)
{
    struct closed_arg *a = arg;
    char b[256];
    ssize_t n = recv(a->fd, b, sizeof b, MSG_DONTWAIT);
    if (n == 0) {
        return true;
    }
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK;
}

static void assert_closed_by_node(int fd)
{
    struct closed_arg a = {fd};
    if (!run_until(peer_closed, &a, WAIT_MS)) {
        fail_msg("the node did not close the connection");
    }
    close(fd);
}

/* Version word and one message header. */
static void put_head(uint8_t *p, uint64_t version, uint32_t words,
                     uint8_t type)
{
    struct proto_header h = {.words = words, .type = type};
    put_le64(p, version);
    proto_header_encode(p + 8, &h);
}

static bool hung_up_some(void *arg)
{
    const struct transport_stats *s = arg;
    return s->hung_up > 0;
}

static bool client_body_read(void *arg)
{
    const struct node *n = arg;
    return n->client_nread == sizeof n->client_body;
}

/*
 * Scenarios.
 */

/* The cluster elects a leader, writes through the executor replicate to
 * every node, and their database files end identical. */
static void writes_replicate_over_one_port(void **state)
{
    unsigned l;
    (void)state;
    l = wait_leader();
    write_sql(l, "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT)");
    write_rows_and_check(l, 1, 20);
    for (unsigned i = 0; i < N; i++) {
        const struct transport_stats *s = transport_stats(&nodes[i].tr);
        /* Raft traffic went through the dispatcher both ways: the leader
         * dialed and was dialed by each follower (replies travel on the
         * follower's own connection); every node did both at least once. */
        unsigned want = i == l ? N - 1 : 1;
        assert_true(s->to_raft >= want);
        assert_true(s->dialed >= want);
        assert_int_equal(s->to_client, 0);
        assert_int_equal(s->refused, 0);
    }
}

/* A client connection to a node's port (protocol version and a LEADER
 * request) reaches the client callback, not raft, with the request's body
 * left on the stream, while raft traffic goes on. */
static void client_connection_reaches_client_handler(void **state)
{
    unsigned l;
    unsigned target;
    uint8_t msg[TRANSPORT_HEAD_SIZE + PROTO_WORD];
    unsigned long long to_raft;
    struct proto_header h;
    size_t body_len;
    char errmsg[WR_ERRMSG_SIZE];
    int fd;
    (void)state;

    l = wait_leader();
    write_sql(l, "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT)");
    target = (l + 1) % N; /* A follower: clients reach any node. */
    to_raft = transport_stats(&nodes[target].tr)->to_raft;

    put_head(msg, PROTO_VERSION, 1, PROTO_REQ_LEADER);
    put_le64(msg + TRANSPORT_HEAD_SIZE, 0x1122334455667788ULL);
    fd = dial(&nodes[target]);
    send_all(fd, msg, sizeof msg);

    if (!run_until(client_body_read, &nodes[target], WAIT_MS)) {
        fail_msg("the client callback did not get the connection");
    }
    assert_int_equal(nodes[target].n_clients, 1);
    assert_int_equal(nodes[target].client_nread, PROTO_WORD);
    assert_int_equal(get_le64(nodes[target].client_head), PROTO_VERSION);
    assert_int_equal(proto_header_decode(nodes[target].client_head + 8, NULL,
                                         &h, &body_len, errmsg),
                     0);
    assert_int_equal(h.type, PROTO_REQ_LEADER);
    assert_int_equal(body_len, PROTO_WORD);
    assert_int_equal(get_le64(nodes[target].client_body),
                     0x1122334455667788ULL);
    assert_int_equal(transport_stats(&nodes[target].tr)->to_client, 1);
    assert_int_equal(transport_stats(&nodes[target].tr)->to_raft, to_raft);

    /* Raft traffic continues while the client connection is open. */
    write_rows_and_check(l, 1, 10);
    close(fd);
}

/* Garbage sent to the port (random bytes, a CONNECT with an absurd length,
 * a CONNECT whose body is malformed, a connection that sends nothing) closes
 * that connection, and the node keeps working. */
static void garbage_closes_connection_node_keeps_working(void **state)
{
    unsigned l;
    unsigned target;
    uint8_t msg[64];
    unsigned seed = 12345;
    const struct transport_stats *s;
    int fd;
    (void)state;

    l = wait_leader();
    write_sql(l, "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT)");
    target = (l + 1) % N;
    s = transport_stats(&nodes[target].tr);
    fprintf(stderr, "garbage seed %u\n", seed);

    /* Random bytes: the version word is neither 1 nor legacy. */
    for (size_t i = 0; i < sizeof msg; i++) {
        seed = seed * 1103515245u + 12345u;
        msg[i] = (uint8_t)(seed >> 16);
    }
    msg[0] ^= 0x80; /* Never 1 nor the legacy word. */
    fd = dial(&nodes[target]);
    send_all(fd, msg, sizeof msg);
    assert_closed_by_node(fd);
    assert_int_equal(s->refused, 1);

    /* CONNECT claiming 2^32-1 words (beyond any message limit). */
    put_head(msg, PROTO_VERSION, UINT32_MAX, PROTO_REQ_CONNECT);
    fd = dial(&nodes[target]);
    send_all(fd, msg, TRANSPORT_HEAD_SIZE);
    assert_closed_by_node(fd);
    assert_int_equal(s->refused, 2);

    /* CONNECT of 1000 words: a valid message size, absurd for a CONNECT. */
    put_head(msg, PROTO_VERSION, 1000, PROTO_REQ_CONNECT);
    fd = dial(&nodes[target]);
    send_all(fd, msg, TRANSPORT_HEAD_SIZE);
    assert_closed_by_node(fd);
    assert_int_equal(s->refused, 3);

    /* CONNECT of plausible length whose address has no NUL. */
    put_head(msg, PROTO_VERSION, 3, PROTO_REQ_CONNECT);
    put_le64(msg + 16, 7);
    memset(msg + 24, 'x', 16);
    fd = dial(&nodes[target]);
    send_all(fd, msg, TRANSPORT_HEAD_SIZE + 24);
    assert_closed_by_node(fd);
    assert_int_equal(s->refused, 4);

    /* CONNECT with id 0. */
    put_head(msg, PROTO_VERSION, 2, PROTO_REQ_CONNECT);
    put_le64(msg + 16, 0);
    memcpy(msg + 24, "1.2.3.4", 8);
    fd = dial(&nodes[target]);
    send_all(fd, msg, TRANSPORT_HEAD_SIZE + 16);
    assert_closed_by_node(fd);
    assert_int_equal(s->refused, 5);

    /* CONNECT under the legacy version word: only clients may use it. */
    put_head(msg, PROTO_VERSION_LEGACY, 2, PROTO_REQ_CONNECT);
    fd = dial(&nodes[target]);
    send_all(fd, msg, TRANSPORT_HEAD_SIZE);
    assert_closed_by_node(fd);
    assert_int_equal(s->refused, 6);

    /* A peer that hangs up in the middle of its head. */
    fd = dial(&nodes[target]);
    send_all(fd, msg, 5);
    close(fd);
    if (!run_until(hung_up_some, (void *)s, WAIT_MS)) {
        fail_msg("the half-sent connection was not noticed");
    }

    /* A connection that sends nothing, and one that stops half-way
     * through its head: both closed after the handshake timeout. */
    fd = dial(&nodes[target]);
    {
        int fd2 = dial(&nodes[target]);
        put_head(msg, PROTO_VERSION, 2, PROTO_REQ_CONNECT);
        send_all(fd2, msg, 11);
        assert_closed_by_node(fd);
        assert_closed_by_node(fd2);
    }
    assert_int_equal(s->timed_out, 2);
    assert_int_equal(s->to_client, 0);

    /* The node keeps working: it replicates, and a client still gets in. */
    write_rows_and_check(l, 1, 10);
    put_head(msg, PROTO_VERSION, 1, PROTO_REQ_LEADER);
    put_le64(msg + 16, 0);
    fd = dial(&nodes[target]);
    send_all(fd, msg, TRANSPORT_HEAD_SIZE + 8);
    if (!run_until(client_body_read, &nodes[target], WAIT_MS)) {
        fail_msg("the client callback did not get the connection");
    }
    assert_int_equal(s->to_client, 1);
    close(fd);
}

static bool refused_some(void *arg)
{
    const struct node *n = arg;
    return transport_stats(&n->tr)->refused > 0;
}

static bool dial_failed_some(void *arg)
{
    const struct node *n = arg;
    return transport_stats(&n->tr)->dial_failed > 0;
}

/* Stopping the leader (raft_close, no restart in this process) makes the
 * other two elect a new leader and accept writes; while its port is still
 * open, their CONNECTs to it are refused (raft there no longer listens),
 * and once the port is closed their dials fail. */
static void leader_stops_others_elect_and_write(void **state)
{
    unsigned l;
    unsigned l2;
    (void)state;

    l = wait_leader();
    write_sql(l, "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT)");
    write_rows_and_check(l, 1, 5);

    exec_destroy(nodes[l].exec);
    nodes[l].exec = NULL;
    node_stop_raft(&nodes[l]);

    l2 = wait_leader();
    assert_int_not_equal(l2, l);
    write_rows_and_check(l2, 100, 10);
    if (!run_until(refused_some, &nodes[l], WAIT_MS)) {
        fail_msg("no CONNECT reached the stopped node's open port");
    }
    assert_int_equal(transport_stats(&nodes[l].tr)->to_client, 0);

    node_stop_transport(&nodes[l]);
    if (!run_until(dial_failed_some, &nodes[l2], WAIT_MS)) {
        fail_msg("the new leader never failed to dial the stopped node");
    }
    write_rows_and_check(l2, 200, 5);
}

static void close_flag_cb(struct transport *t)
{
    *(bool *)t->data = true;
}

/* A second listener on a taken address gets WR_BUSY (the cue to pick
 * another port), a malformed address WR_INVALID, and both transports
 * close cleanly without raft ever using them. */
static void listen_reports_busy_and_invalid(void **state)
{
    struct transport a;
    struct transport b;
    bool a_closed = false;
    bool b_closed = false;
    char addr[32];
    const char *bad[] = {"localhost:9001", "127.0.0.1", "127.0.0.1:0",
                         "127.0.0.1:65536", "127.0.0.1:9x", ":9001",
                         "::1:9001", "127.0.0.1:"};
    struct sockaddr_in sin;
    int rv = WR_BUSY;
    (void)state;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(transport_parse_address(bad[i], &sin), WR_INVALID);
    }
    assert_int_equal(uv_loop_init(&loop), 0);
    if (next_port == 0) {
        next_port = 20000 + (unsigned)(getpid() * 37 % 20000);
    }
    assert_int_equal(transport_init(&a, &loop, NULL), 0);
    a.data = &a_closed;
    assert_int_equal(transport_listen(&a, "127.0.0.1:99999"), WR_INVALID);
    for (unsigned k = 0; k < 200 && rv == WR_BUSY; k++) {
        snprintf(addr, sizeof addr, "127.0.0.1:%u", next_port++);
        rv = transport_listen(&a, addr);
        if (rv == WR_BUSY) {
            /* Only one listen per transport: make it again. */
            transport_close(&a, close_flag_cb);
            assert_true(run_until(flag_set, &a_closed, WAIT_MS));
            a_closed = false;
            assert_int_equal(transport_init(&a, &loop, NULL), 0);
            a.data = &a_closed;
        }
    }
    assert_int_equal(rv, 0);
    assert_int_equal(transport_init(&b, &loop, NULL), 0);
    b.data = &b_closed;
    assert_int_equal(transport_listen(&b, addr), WR_BUSY);
    assert_non_null(strstr(transport_errmsg(&b), "in use"));
    assert_int_equal(transport_listen(&a, addr), WR_INVALID);
    transport_close(&a, close_flag_cb);
    transport_close(&b, close_flag_cb);
    assert_true(run_until(flag_set, &a_closed, WAIT_MS));
    assert_true(run_until(flag_set, &b_closed, WAIT_MS));
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* What the raft side's callbacks saw, in order. */
struct contract {
    char events[8][48];
    unsigned n;
    raft_id accepted_id;
    char accepted_address[64];
    bool closed;
};
static struct contract ct;

static void ct_event(const char *what, unsigned long long v)
{
    assert_true(ct.n < 8);
    snprintf(ct.events[ct.n++], sizeof ct.events[0], "%s %llu", what, v);
}

static void ct_accept_cb(struct raft_uv_transport *rt, raft_id id,
                         const char *address, uv_stream_t *stream)
{
    (void)rt;
    ct.accepted_id = id;
    snprintf(ct.accepted_address, sizeof ct.accepted_address, "%s", address);
    ct_event("accept", id);
    uv_close((uv_handle_t *)stream, free_handle_cb);
}

static void ct_connect_cb(struct raft_uv_connect *req, uv_stream_t *stream,
                          int status)
{
    (void)req;
    ct_event("connect", (unsigned long long)status);
    if (status == 0) {
        assert_non_null(stream);
        uv_close((uv_handle_t *)stream, free_handle_cb);
    } else {
        assert_null(stream);
    }
}

static void ct_close_cb(struct raft_uv_transport *rt)
{
    (void)rt;
    ct_event("close", 0);
    ct.closed = true;
}

static bool ct_events(void *arg)
{
    return ct.n >= *(unsigned *)arg;
}

/* The raft_uv_transport contract, driven directly as raft_uv drives it: a
 * dial to our own port completes with a stream and is accepted with our id
 * and address; a dial that cannot start returns an error and never calls
 * back; a dial pending at close is cancelled (RAFT_CANCELED, no stream)
 * before the close callback, which never fires synchronously; after close
 * nothing is accepted and no dial starts. */
static void raft_side_keeps_the_contract(void **state)
{
    struct transport t;
    struct raft_uv_connect req1;
    struct raft_uv_connect req2;
    bool closed = false;
    char addr[32];
    unsigned want;
    int rv = WR_BUSY;
    (void)state;

    memset(&ct, 0, sizeof ct);
    assert_int_equal(uv_loop_init(&loop), 0);
    if (next_port == 0) {
        next_port = 20000 + (unsigned)(getpid() * 37 % 20000);
    }
    assert_int_equal(transport_init(&t, &loop, NULL), 0);
    t.data = &closed;
    for (unsigned k = 0; k < 200 && rv == WR_BUSY; k++) {
        snprintf(addr, sizeof addr, "127.0.0.1:%u", next_port++);
        rv = transport_listen(&t, addr);
        if (rv == WR_BUSY) {
            transport_close(&t, close_flag_cb);
            assert_true(run_until(flag_set, &closed, WAIT_MS));
            closed = false;
            assert_int_equal(transport_init(&t, &loop, NULL), 0);
            t.data = &closed;
        }
    }
    assert_int_equal(rv, 0);
    assert_int_equal(t.raft.init(&t.raft, 7, addr), 0);
    assert_int_equal(t.raft.listen(&t.raft, ct_accept_cb), 0);

    /* A dial to ourselves: connected, then accepted as id 7. */
    assert_int_equal(t.raft.connect(&t.raft, &req1, 7, addr, ct_connect_cb),
                     0);
    want = 2;
    assert_true(run_until(ct_events, &want, WAIT_MS));
    /* Either may come first: they are two ends of one connection. */
    assert_true((strcmp(ct.events[0], "connect 0") == 0 &&
                 strcmp(ct.events[1], "accept 7") == 0) ||
                (strcmp(ct.events[1], "connect 0") == 0 &&
                 strcmp(ct.events[0], "accept 7") == 0));
    assert_int_equal(ct.accepted_id, 7);
    assert_string_equal(ct.accepted_address, addr);

    /* A dial that cannot start: an error, and its callback never fires. */
    assert_int_not_equal(
        t.raft.connect(&t.raft, &req2, 8, "example.com:1", ct_connect_cb), 0);

    /* A dial still pending when the raft side closes is cancelled first. */
    assert_int_equal(t.raft.connect(&t.raft, &req2, 7, addr, ct_connect_cb),
                     0);
    t.raft.close(&t.raft, ct_close_cb);
    assert_false(ct.closed);
    want = 4;
    assert_true(run_until(ct_events, &want, WAIT_MS));
    {
        char expect[48];
        snprintf(expect, sizeof expect, "connect %llu",
                 (unsigned long long)RAFT_CANCELED);
        assert_string_equal(ct.events[2], expect);
    }
    assert_string_equal(ct.events[3], "close 0");
    assert_int_not_equal(
        t.raft.connect(&t.raft, &req2, 7, addr, ct_connect_cb), 0);

    /* Nothing pending: the transport closes. */
    transport_close(&t, close_flag_cb);
    assert_true(run_until(flag_set, &closed, WAIT_MS));
    for (int i = 0; i < 4; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    assert_int_equal(ct.n, 4);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(writes_replicate_over_one_port, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            client_connection_reaches_client_handler, setup, teardown),
        cmocka_unit_test_setup_teardown(
            garbage_closes_connection_node_keeps_working, setup, teardown),
        cmocka_unit_test_setup_teardown(leader_stops_others_elect_and_write,
                                        setup, teardown),
        cmocka_unit_test(listen_reports_busy_and_invalid),
        cmocka_unit_test(raft_side_keeps_the_contract),
    };
    /* raft_uv writes to peers with uv_write(): a peer that went away
     * raises SIGPIPE, which would kill the process. The node's main must
     * ignore it too. */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
