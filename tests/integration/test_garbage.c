/*
 * Malformed input against running nodes: every node must answer a broken
 * message with FAILURE or close the connection, never crash, never hang up
 * on a message it could frame, and still serve a normal client afterwards.
 *
 *   test_garbage --addresses A,B,C [--seed N]
 *
 * Raw sockets on purpose: the client library refuses to send most of this.
 * Each case opens its own connection and is one of three kinds:
 *
 *   answer   a message whose framing is intact but whose body is wrong (or
 *            whose type is unknown): the node must answer FAILURE, or close;
 *            if it answered, the same connection must then answer LEADER
 *            with SERVER (wire.h: "after a body error the framing is
 *            intact, so a server answers FAILURE and carries on").
 *   drain    bytes that lose the framing (random streams, a bad version
 *            word, truncated headers and bodies, absurd lengths), then a
 *            half-close: whatever the node answers must be well-formed
 *            messages, and it must close the connection within
 *            ANSWER_TIMEOUT_S.
 *   fuzz     one correctly framed message of a random type, schema and
 *            body: any well-formed answer, or a close.
 *
 * The random cases print the seed; rerun with --seed to repeat them. After
 * every node's cases a normal client (client/conn.h) asks LEADER, OPENs a
 * database and runs EXEC_SQL, which succeeds (a follower forwards it to
 * the leader). Exit status 0 if every case held.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "client/conn.h"
#include "lib/err.h"
#include "proto/wire.h"

#define ANSWER_TIMEOUT_S 5
#define MAX_ANSWER_WORDS (1u << 22) /* 32 MiB: more is a garbled answer. */
#define FUZZ_CASES 200
#define STREAM_CASES 40

static unsigned failures;
static unsigned cases;

static void failf(const char *node, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void failf(const char *node, const char *name, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s: %s: ", node, name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    failures++;
}

/* xorshift64*: the cases' only randomness, seeded from the command line. */
static uint64_t rng_state;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

/*
 * Building messages by hand.
 */

struct msg {
    uint8_t b[16384];
    size_t n;
};

static void put(struct msg *m, const void *p, size_t n)
{
    if (m->n + n > sizeof m->b)
        abort();
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static void put_u64(struct msg *m, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(m, b, 8);
}

static void put_u32(struct msg *m, uint32_t v)
{
    uint8_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put(m, b, 4);
}

/* Zero bytes up to the next word boundary. */
static void pad(struct msg *m)
{
    static const uint8_t zero[8];
    if (m->n % 8 != 0)
        put(m, zero, 8 - m->n % 8);
}

static void put_text(struct msg *m, const char *s)
{
    put(m, s, strlen(s) + 1);
    pad(m);
}

static void put_header(struct msg *m, uint32_t words, uint8_t type,
                       uint8_t schema)
{
    put_u32(m, words);
    uint8_t rest[4] = {type, schema, 0, 0};
    put(m, rest, 4);
}

/* The version word, then a header for @body (its words counted) and it. */
static void frame(struct msg *out, uint8_t type, uint8_t schema,
                  const struct msg *body)
{
    out->n = 0;
    put_u64(out, PROTO_VERSION);
    put_header(out, (uint32_t)(body->n / 8), type, schema);
    put(out, body->b, body->n);
}

/*
 * Sockets.
 */

static int dial(const char *address)
{
    char host[64];
    const char *colon = strrchr(address, ':');
    if (colon == NULL || (size_t)(colon - address) >= sizeof host)
        return -1;
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)atoi(colon + 1))};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = ANSWER_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Send everything; false if the node closed first (EPIPE, ECONNRESET). */
static bool send_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        b += w;
        n -= (size_t)w;
    }
    return true;
}

enum outcome {
    OUT_CLOSED,  /* EOF or reset before any byte of an answer. */
    OUT_FAILURE, /* A FAILURE message. */
    OUT_OTHER,   /* Another well-formed message. */
    OUT_TIMEOUT, /* Nothing within ANSWER_TIMEOUT_S. */
    OUT_GARBLED  /* Half a message, or an absurd one. */
};

static const char *outcome_name(enum outcome o)
{
    static const char *names[] = {"closed", "FAILURE", "an answer",
                                  "no answer (timeout)", "a garbled answer"};
    return names[o];
}

/* Read exactly @n bytes: 1 done, 0 EOF before any, -1 EOF midway or error,
 * -2 timeout. */
static int read_exact(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, p + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return -2;
        if (r < 0 && errno == ECONNRESET)
            return got == 0 ? 0 : -1;
        if (r <= 0)
            return got == 0 && r == 0 ? 0 : -1;
        got += (size_t)r;
    }
    return 1;
}

/* Read one answer. On OUT_FAILURE @code and @text hold it; on OUT_OTHER
 * *type is its type. */
static enum outcome read_answer(int fd, uint64_t *code, char *text,
                                size_t text_size, uint8_t *type)
{
    uint8_t h[8];
    int rv = read_exact(fd, h, 8);
    if (rv == 0)
        return OUT_CLOSED;
    if (rv == -2)
        return OUT_TIMEOUT;
    if (rv < 0)
        return OUT_GARBLED;
    uint32_t words = (uint32_t)h[0] | (uint32_t)h[1] << 8 |
                     (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
    *type = h[4];
    if (words > MAX_ANSWER_WORDS)
        return OUT_GARBLED;
    size_t len = (size_t)words * 8;
    uint8_t *body = malloc(len > 0 ? len : 1);
    if (body == NULL)
        abort();
    rv = read_exact(fd, body, len);
    if (rv != 1 && len > 0) {
        free(body);
        return rv == -2 ? OUT_TIMEOUT : OUT_GARBLED;
    }
    enum outcome out = OUT_OTHER;
    if (*type == 0) {
        /* FAILURE: u64 code, text message. */
        if (len < 16) {
            out = OUT_GARBLED;
        } else {
            *code = 0;
            for (int i = 0; i < 8; i++)
                *code |= (uint64_t)body[i] << (8 * i);
            size_t tn = strnlen((const char *)body + 8, len - 8);
            if (tn == len - 8) {
                out = OUT_GARBLED; /* No NUL. */
            } else {
                snprintf(text, text_size, "%s", (const char *)body + 8);
                out = OUT_FAILURE;
            }
        }
    }
    free(body);
    return out;
}

/* Send LEADER on @fd and expect SERVER (type 1). */
static bool still_framed(int fd, char *why, size_t size)
{
    struct msg body = {.n = 0}, m;
    put_u64(&body, 0);
    m.n = 0;
    put_header(&m, 1, PROTO_REQ_LEADER, 0);
    put(&m, body.b, body.n);
    if (!send_all(fd, m.b, m.n)) {
        snprintf(why, size, "send LEADER: connection closed");
        return false;
    }
    uint64_t code;
    char text[256];
    uint8_t type = 0;
    enum outcome o = read_answer(fd, &code, text, sizeof text, &type);
    if (o == OUT_OTHER && type == 1)
        return true;
    if (o == OUT_FAILURE)
        snprintf(why, size, "LEADER answered FAILURE %" PRIu64 " \"%s\"",
                 code, text);
    else
        snprintf(why, size, "LEADER answered %s (type %u)", outcome_name(o),
                 type);
    return false;
}

/* An "answer" case: @m is a whole message after the version word. */
static void case_answer(const char *node, const char *name,
                        const struct msg *m)
{
    cases++;
    int fd = dial(node);
    if (fd < 0) {
        failf(node, name, "cannot connect: %s", strerror(errno));
        return;
    }
    if (!send_all(fd, m->b, m->n)) {
        close(fd); /* Closed on us: allowed. */
        return;
    }
    uint64_t code = 0;
    char text[256] = "";
    uint8_t type = 0;
    enum outcome o = read_answer(fd, &code, text, sizeof text, &type);
    if (o == OUT_FAILURE) {
        char why[300];
        if (!still_framed(fd, why, sizeof why))
            failf(node, name,
                  "FAILURE %" PRIu64 " \"%s\" but then the connection "
                  "lost its framing: %s",
                  code, text, why);
        else
            printf("  %-40s FAILURE %" PRIu64 " %s\n", name, code, text);
    } else if (o == OUT_CLOSED) {
        printf("  %-40s closed\n", name);
    } else {
        failf(node, name, "expected FAILURE or a close, got %s (type %u)",
              outcome_name(o), type);
    }
    close(fd);
}

/* An "answer" case on a connection that has OPENed a database first: the
 * bad message is built by @build with the id the DB answer gave. */
static void case_answer_on_db(const char *node, const char *name,
                              void (*build)(struct msg *m, uint32_t db_id))
{
    struct msg body = {.n = 0}, m;
    uint64_t code = 0;
    char text[256] = "";
    uint8_t type = 0;
    cases++;
    int fd = dial(node);
    if (fd < 0) {
        failf(node, name, "cannot connect: %s", strerror(errno));
        return;
    }
    put_text(&body, "garbage");
    put_u64(&body, 0);
    put_text(&body, "");
    frame(&m, PROTO_REQ_OPEN, 0, &body);
    if (!send_all(fd, m.b, m.n)) {
        failf(node, name, "send OPEN: connection closed");
        close(fd);
        return;
    }
    /* DB: u32 db id, u32 unused. Read it by hand to get the id. */
    uint8_t h[8], db[8];
    if (read_exact(fd, h, 8) != 1 || h[4] != 4 || h[0] != 1 ||
        read_exact(fd, db, 8) != 1) {
        failf(node, name, "OPEN did not answer DB");
        close(fd);
        return;
    }
    uint32_t db_id = (uint32_t)db[0] | (uint32_t)db[1] << 8 |
                     (uint32_t)db[2] << 16 | (uint32_t)db[3] << 24;
    m.n = 0;
    build(&m, db_id);
    if (!send_all(fd, m.b, m.n)) {
        close(fd); /* Closed on us: allowed. */
        return;
    }
    enum outcome o = read_answer(fd, &code, text, sizeof text, &type);
    if (o == OUT_FAILURE) {
        char why[300];
        if (!still_framed(fd, why, sizeof why))
            failf(node, name,
                  "FAILURE %" PRIu64 " \"%s\" but then the connection "
                  "lost its framing: %s",
                  code, text, why);
        else
            printf("  %-40s FAILURE %" PRIu64 " %s\n", name, code, text);
    } else if (o == OUT_CLOSED) {
        printf("  %-40s closed\n", name);
    } else {
        failf(node, name, "expected FAILURE or a close, got %s (type %u)",
              outcome_name(o), type);
    }
    close(fd);
}

static void build_exec_unknown_stmt(struct msg *m, uint32_t db_id)
{
    put_header(m, 1, PROTO_REQ_EXEC, 0);
    put_u32(m, db_id);
    put_u32(m, 9999);
}

static void build_finalize_unknown_stmt(struct msg *m, uint32_t db_id)
{
    put_header(m, 1, PROTO_REQ_FINALIZE, 0);
    put_u32(m, db_id);
    put_u32(m, 9999);
}

static void build_bad_sql(struct msg *m, uint32_t db_id)
{
    put_header(m, 3, PROTO_REQ_EXEC_SQL, 0);
    put_u64(m, db_id);
    put_text(m, "SELEC 1 FROM");
}

/* A "drain" case: send @p, half-close, read answers until EOF. */
static void case_drain(const char *node, const char *name, const void *p,
                       size_t n)
{
    cases++;
    int fd = dial(node);
    if (fd < 0) {
        failf(node, name, "cannot connect: %s", strerror(errno));
        return;
    }
    unsigned answers = 0, fails = 0;
    if (send_all(fd, p, n)) {
        shutdown(fd, SHUT_WR);
        for (;;) {
            uint64_t code;
            char text[256];
            uint8_t type = 0;
            enum outcome o = read_answer(fd, &code, text, sizeof text, &type);
            if (o == OUT_CLOSED)
                break;
            if (o == OUT_TIMEOUT || o == OUT_GARBLED) {
                failf(node, name,
                      "after %u answers: %s (the node must close a stream "
                      "whose peer has finished)",
                      answers, outcome_name(o));
                break;
            }
            answers++;
            fails += o == OUT_FAILURE;
            if (answers > 10000) {
                failf(node, name, "more than 10000 answers");
                break;
            }
        }
    }
    printf("  %-40s closed after %u answers (%u FAILURE)\n", name, answers,
           fails);
    close(fd);
}

/* A "fuzz" case: one framed message; any well-formed answer or a close. */
static void case_fuzz(const char *node, const char *name, const struct msg *m)
{
    cases++;
    int fd = dial(node);
    if (fd < 0) {
        failf(node, name, "cannot connect: %s", strerror(errno));
        return;
    }
    if (send_all(fd, m->b, m->n)) {
        uint64_t code;
        char text[256];
        uint8_t type = 0;
        enum outcome o = read_answer(fd, &code, text, sizeof text, &type);
        if (o == OUT_TIMEOUT || o == OUT_GARBLED)
            failf(node, name, "%s", outcome_name(o));
    }
    close(fd);
}

/*
 * The cases.
 */

static void run_answer_cases(const char *node)
{
    struct msg body, m;
    char name[64];

    /* Every request type with an empty body: each has at least one field. */
    for (unsigned t = 0; t <= 19; t++) {
        if (t == PROTO_REQ_CONNECT)
            continue; /* Hands the stream to the raft transport. */
        body.n = 0;
        frame(&m, (uint8_t)t, 0, &body);
        snprintf(name, sizeof name, "empty %s", proto_request_name((int)t));
        case_answer(node, name, &m);
    }

    /* Unknown and reserved types, with a one-word body. */
    static const unsigned unknown[] = {20, 21, 63, 64, 65, 99, 119, 123,
                                       127, 128, 200, 255};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        body.n = 0;
        put_u64(&body, 0);
        frame(&m, (uint8_t)unknown[i], 0, &body);
        snprintf(name, sizeof name, "unknown type %u", unknown[i]);
        case_answer(node, name, &m);
    }

    /* A schema nobody defined. */
    body.n = 0;
    put_u64(&body, 0);
    put_text(&body, "SELECT 1");
    frame(&m, PROTO_REQ_EXEC_SQL, 7, &body);
    case_answer(node, "EXEC_SQL schema 7", &m);

    /* Trailing bytes after the last field. */
    body.n = 0;
    put_u64(&body, 0);
    put_u64(&body, 0xdeadbeef);
    put_u64(&body, 0xdeadbeef);
    frame(&m, PROTO_REQ_LEADER, 0, &body);
    case_answer(node, "LEADER with trailing words", &m);

    /* Texts without their NUL. */
    body.n = 0;
    put_u64(&body, 0);
    put(&body, "SELECT 1SELECT 1", 16);
    frame(&m, PROTO_REQ_EXEC_SQL, 0, &body);
    case_answer(node, "EXEC_SQL text without NUL", &m);

    body.n = 0;
    put(&body, "abcdefgh", 8);
    frame(&m, PROTO_REQ_OPEN, 0, &body);
    case_answer(node, "OPEN name without NUL", &m);

    body.n = 0;
    put_text(&body, "x");
    put_u64(&body, 0);
    frame(&m, PROTO_REQ_OPEN, 0, &body);
    case_answer(node, "OPEN without vfs", &m);

    /* Parameters: a count the body cannot hold, an unknown type code, a
     * text value without NUL, a blob of absurd length. */
    body.n = 0;
    put_u64(&body, 0);
    put_text(&body, "SELECT ?");
    put_u64(&body, 255); /* count 255, then nothing */
    frame(&m, PROTO_REQ_QUERY_SQL, 0, &body);
    case_answer(node, "QUERY_SQL 255 params, none sent", &m);

    body.n = 0;
    put_u64(&body, 0);
    put_text(&body, "SELECT ?");
    put_u64(&body, 1 | 7u << 8); /* count 1, type 7 */
    put_u64(&body, 42);
    frame(&m, PROTO_REQ_QUERY_SQL, 0, &body);
    case_answer(node, "QUERY_SQL param of type 7", &m);

    body.n = 0;
    put_u64(&body, 0);
    put_text(&body, "SELECT ?");
    put_u64(&body, 1 | (uint64_t)PROTO_TEXT << 8);
    put(&body, "ABCDEFGH", 8);
    frame(&m, PROTO_REQ_QUERY_SQL, 0, &body);
    case_answer(node, "QUERY_SQL text param without NUL", &m);

    body.n = 0;
    put_u64(&body, 0);
    put_text(&body, "SELECT ?");
    put_u64(&body, 1 | (uint64_t)PROTO_BLOB << 8);
    put_u64(&body, UINT64_C(1) << 62);
    put_u64(&body, 0);
    frame(&m, PROTO_REQ_QUERY_SQL, 0, &body);
    case_answer(node, "QUERY_SQL blob of 2^62 bytes", &m);

    body.n = 0;
    put_u64(&body, 0);
    put_text(&body, "SELECT ?");
    put_u32(&body, 0xffffffffu); /* schema 1: u32 count */
    put_u32(&body, 0);
    frame(&m, PROTO_REQ_QUERY_SQL, 1, &body);
    case_answer(node, "QUERY_SQL schema 1, 2^32-1 params", &m);

    /* Well framed and well formed, but naming things that do not exist. */
    body.n = 0;
    put_u32(&body, 12345);
    put_u32(&body, 678);
    frame(&m, PROTO_REQ_EXEC, 0, &body);
    case_answer(node, "EXEC of an unknown statement", &m);

    body.n = 0;
    put_u64(&body, 4242);
    put_text(&body, "SELECT 1");
    frame(&m, PROTO_REQ_PREPARE, 0, &body);
    case_answer(node, "PREPARE on an unopened db", &m);

    body.n = 0;
    put_u64(&body, 99);
    frame(&m, PROTO_REQ_CLUSTER, 0, &body);
    case_answer(node, "CLUSTER format 99", &m);

    body.n = 0;
    put_u64(&body, 7);
    frame(&m, PROTO_REQ_DESCRIBE, 0, &body);
    case_answer(node, "DESCRIBE format 7", &m);

    case_answer_on_db(node, "EXEC of an unknown statement id",
                      build_exec_unknown_stmt);
    case_answer_on_db(node, "FINALIZE of an unknown statement id",
                      build_finalize_unknown_stmt);
    case_answer_on_db(node, "EXEC_SQL of malformed SQL", build_bad_sql);
}

static void run_drain_cases(const char *node)
{
    struct msg m, body;

    /* A version word nobody speaks. */
    m.n = 0;
    put_u64(&m, 0x0123456789abcdefULL);
    put_header(&m, 1, PROTO_REQ_LEADER, 0);
    put_u64(&m, 0);
    case_drain(node, "bad version word", m.b, m.n);

    /* Half a version word. */
    m.n = 0;
    put_u32(&m, 1);
    case_drain(node, "half a version word", m.b, m.n);

    /* Half a header. */
    m.n = 0;
    put_u64(&m, PROTO_VERSION);
    put_u32(&m, 1);
    case_drain(node, "truncated header", m.b, m.n);

    /* A body shorter than its header says. */
    m.n = 0;
    put_u64(&m, PROTO_VERSION);
    put_header(&m, 4, PROTO_REQ_EXEC_SQL, 0);
    put_u64(&m, 0);
    case_drain(node, "truncated body", m.b, m.n);

    /* 8 MiB announced, 24 bytes sent. */
    m.n = 0;
    put_u64(&m, PROTO_VERSION);
    put_header(&m, 1u << 20, PROTO_REQ_EXEC_SQL, 0);
    put_u64(&m, 0);
    put_text(&m, "SELECT 1");
    case_drain(node, "8 MiB announced, 24 bytes sent", m.b, m.n);

    /* Absurd lengths: the largest a header can say, and just past 16 MiB. */
    static const uint32_t absurd[] = {0xffffffffu, (16u << 17) + 1,
                                      0x80000000u};
    for (size_t i = 0; i < sizeof absurd / sizeof absurd[0]; i++) {
        char name[64];
        m.n = 0;
        put_u64(&m, PROTO_VERSION);
        put_header(&m, absurd[i], PROTO_REQ_EXEC_SQL, 0);
        put_u64(&m, 0);
        snprintf(name, sizeof name, "body of %u words", absurd[i]);
        case_drain(node, name, m.b, m.n);
    }

    /* Good messages, then garbage on the same stream: the good ones are
     * answered, then the garbage ends the conversation. */
    m.n = 0;
    put_u64(&m, PROTO_VERSION);
    for (int i = 0; i < 50; i++) {
        put_header(&m, 1, PROTO_REQ_LEADER, 0);
        put_u64(&m, 0);
    }
    put_header(&m, 0xfffffff0u, 3, 0);
    for (int i = 0; i < 16; i++)
        put_u64(&m, rng());
    case_drain(node, "50 LEADERs then an absurd header", m.b, m.n);

    /* A raft CONNECT with a broken body, then nothing. */
    body.n = 0;
    put_u64(&body, 1);
    put(&body, "1270.0.1", 8); /* address without NUL */
    m.n = 0;
    put_u64(&m, PROTO_VERSION);
    put_header(&m, (uint32_t)(body.n / 8), PROTO_REQ_CONNECT, 0);
    put(&m, body.b, body.n);
    case_drain(node, "CONNECT with a broken address", m.b, m.n);

    /* Random streams, half of them after a good version word. */
    for (int i = 0; i < STREAM_CASES; i++) {
        char name[64];
        size_t n = 1 + rng() % 4096;
        m.n = 0;
        if (i % 2 == 0)
            put_u64(&m, PROTO_VERSION);
        while (m.n < n + (i % 2 == 0 ? 8 : 0)) {
            uint8_t byte = (uint8_t)rng();
            put(&m, &byte, 1);
        }
        snprintf(name, sizeof name, "random stream %d (%zu bytes)", i, m.n);
        case_drain(node, name, m.b, m.n);
    }
}

static void run_fuzz_cases(const char *node)
{
    /* Types whose valid bodies change the cluster (ADD, ASSIGN, REMOVE,
     * TRANSFER, WEIGHT) or hand the stream to raft (CONNECT) are left out:
     * a random body could, however unlikely, be valid. */
    static const uint8_t types[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                    15, 16, 18, 120, 121, 122, 66, 200};
    unsigned printed = 0;
    unsigned before = failures;
    for (int i = 0; i < FUZZ_CASES; i++) {
        struct msg body = {.n = 0}, m;
        uint8_t type = types[rng() % sizeof types];
        uint8_t schema = (uint8_t)(rng() % 4 == 0 ? rng() % 3 : 0);
        unsigned words = (unsigned)(rng() % 9);
        for (unsigned w = 0; w < words; w++) {
            uint64_t v = rng();
            /* Small numbers and texts now and then, so some bodies get
             * past the first field. */
            if (rng() % 3 == 0)
                v %= 4;
            else if (rng() % 4 == 0)
                v = 0x0031205443454c45ULL; /* "ELECT 1\0" */
            put_u64(&body, v);
        }
        frame(&m, type, schema, &body);
        char name[64];
        snprintf(name, sizeof name, "fuzz %d (type %u schema %u words %u)", i,
                 type, schema, words);
        case_fuzz(node, name, &m);
        if (failures > before && printed++ < 1)
            fprintf(stderr, "  (first fuzz failure above; seed repeats it)\n");
    }
    printf("  %d fuzz cases\n", FUZZ_CASES);
}

/* The node still serves a normal client: LEADER, OPEN, EXEC_SQL. */
/* A client that sends three requests at once, a write among them (which
 * waits in the write queue while the others arrive), gets three answers,
 * in order: RESULT, FAILURE for the bad SQL, SERVER. */
static void case_pipelined(const char *node)
{
    static const uint8_t want[] = {6, 0, 1}; /* RESULT, FAILURE, SERVER */
    struct msg body = {.n = 0}, m, all = {.n = 0};
    uint8_t h[8], db[8];
    uint32_t db_id;
    cases++;
    int fd = dial(node);
    if (fd < 0) {
        failf(node, "pipelined", "cannot connect: %s", strerror(errno));
        return;
    }
    put_text(&body, "garbage");
    put_u64(&body, 0);
    put_text(&body, "");
    frame(&m, PROTO_REQ_OPEN, 0, &body);
    if (!send_all(fd, m.b, m.n) || read_exact(fd, h, 8) != 1 || h[4] != 4 ||
        h[0] != 1 || read_exact(fd, db, 8) != 1) {
        failf(node, "pipelined", "OPEN did not answer DB");
        close(fd);
        return;
    }
    db_id = (uint32_t)db[0] | (uint32_t)db[1] << 8 | (uint32_t)db[2] << 16 |
            (uint32_t)db[3] << 24;
    /* After OPEN, messages go without the version word. */
    body.n = 0;
    put_u64(&body, db_id);
    put_text(&body, "CREATE TABLE IF NOT EXISTS pipelined (x INTEGER)");
    put_header(&all, (uint32_t)(body.n / 8), PROTO_REQ_EXEC_SQL, 0);
    put(&all, body.b, body.n);
    build_bad_sql(&all, db_id);
    put_header(&all, 1, PROTO_REQ_LEADER, 0);
    put_u64(&all, 0);
    if (!send_all(fd, all.b, all.n)) {
        failf(node, "pipelined", "send: connection closed");
        close(fd);
        return;
    }
    for (unsigned i = 0; i < sizeof want; i++) {
        uint64_t code = 0;
        char text[256] = "";
        uint8_t type = 0xff;
        enum outcome o = read_answer(fd, &code, text, sizeof text, &type);
        if (o == OUT_CLOSED || o == OUT_TIMEOUT || o == OUT_GARBLED ||
            type != want[i]) {
            failf(node, "pipelined",
                  "answer %u: %s of type %u (\"%s\"), expected type %u", i + 1,
                  outcome_name(o), type, text, want[i]);
            close(fd);
            return;
        }
    }
    printf("  %-40s RESULT, FAILURE, SERVER in order\n", "pipelined");
    close(fd);
}

static void check_serves(const char *node)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct conn *c = NULL;
    cases++;
    if (conn_open(node, 5000, &c, errmsg) != 0) {
        failf(node, "normal client", "connect: %s", errmsg);
        return;
    }
    uint64_t leader_id = 0;
    char leader[64] = "";
    if (conn_leader(c, &leader_id, leader, sizeof leader, errmsg) != 0) {
        failf(node, "normal client", "LEADER: %s", errmsg);
        goto out;
    }
    if (leader_id == 0) {
        failf(node, "normal client", "LEADER: no leader known");
        goto out;
    }
    struct proto_request req = {.type = PROTO_REQ_OPEN};
    struct proto_response resp;
    req.open.name = "garbage";
    req.open.flags = 0;
    req.open.vfs = "";
    if (conn_request(c, &req, PROTO_RESP_DB, &resp, errmsg) != 0) {
        failf(node, "normal client", "OPEN: %s", errmsg);
        goto out;
    }
    uint32_t db_id = resp.db.id;
    req = (struct proto_request){.type = PROTO_REQ_EXEC_SQL};
    req.exec_sql.db_id = db_id;
    req.exec_sql.sql = "CREATE TABLE IF NOT EXISTS survived(x INTEGER)";
    int rv = conn_request(c, &req, PROTO_RESP_RESULT, &resp, errmsg);
    bool is_leader = strcmp(leader, node) == 0;
    if (rv != 0)
        failf(node, "normal client", "EXEC_SQL on the %s: %s",
              is_leader ? "leader" : "follower", errmsg);
    else
        printf("  normal client: leader is %s, EXEC_SQL %s\n", leader,
               is_leader ? "ran" : "forwarded to it");
out:
    conn_close(c);
}

int main(int argc, char **argv)
{
    const char *addresses = NULL;
    uint64_t seed = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--addresses") == 0)
            addresses = argv[i + 1];
        else if (strcmp(argv[i], "--seed") == 0)
            seed = strtoull(argv[i + 1], NULL, 10);
    }
    if (addresses == NULL) {
        fprintf(stderr, "usage: test_garbage --addresses A,B,C [--seed N]\n");
        return 2;
    }
    printf("test_garbage: seed %" PRIu64 "\n", seed);
    rng_state = seed ? seed : 1;

    char list[1024];
    snprintf(list, sizeof list, "%s", addresses);
    char *save = NULL;
    for (char *node = strtok_r(list, ",", &save); node != NULL;
         node = strtok_r(NULL, ",", &save)) {
        printf("node %s\n", node);
        run_answer_cases(node);
        run_drain_cases(node);
        run_fuzz_cases(node);
        case_pipelined(node);
        check_serves(node);
    }
    printf("test_garbage: %u cases, %u failures (seed %" PRIu64 ")\n", cases,
           failures, seed);
    return failures == 0 ? 0 : 1;
}
