/*
 * A blocking connection to one walraft node (conn.h).
 *
 * The socket stays in blocking mode, but nothing ever blocks on it without
 * first asking poll() whether it is ready, with the time left until the
 * operation's deadline: a node that stops answering costs the caller at
 * most the connection's timeout per call, never a hang. The deadline covers
 * a whole exchange (sending the request and reading the whole answer), so
 * a node that trickles bytes cannot stretch it either.
 *
 * The last answer's body stays in c->in until the next call: decoded
 * responses point into it (proto/wire.h decodes zero-copy).
 */
#include "conn.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <fcntl.h>

struct conn {
    int fd;
    unsigned timeout_ms;
    bool broken;        /* A timeout or a broken stream: refuse more calls. */
    char *address;      /* As given to conn_open(). */
    struct buf out;     /* The request being sent. */
    struct buf in;      /* The body of the last answer. */
    struct proto_limits limits;
};

/* Milliseconds on a clock that never jumps. */
static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int ms_left(uint64_t deadline)
{
    uint64_t now = now_ms();
    if (now >= deadline) {
        return 0;
    }
    return deadline - now > 1000000 ? 1000000 : (int)(deadline - now);
}

/* Wait until @fd is ready for @events or the deadline passes. Returns 0,
 * or WR_IOERR with @errmsg set. */
static int wait_fd(int fd, short events, uint64_t deadline, char *errmsg)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int left = ms_left(deadline);
        int rv;
        if (left == 0) {
            err_printf(errmsg, "timed out");
            return WR_IOERR;
        }
        rv = poll(&p, 1, left);
        if (rv < 0) {
            if (errno == EINTR) {
                continue;
            }
            err_printf(errmsg, "poll: %s", strerror(errno));
            return WR_IOERR;
        }
        if (rv > 0) {
            return 0; /* Ready, or an error the next call will report. */
        }
    }
}

/* Split "host:port" (or "[v6]:port") into @host and @port. */
static int split_address(const char *address,
                         char *host,
                         size_t host_size,
                         char *port,
                         size_t port_size)
{
    const char *colon = strrchr(address, ':');
    const char *h = address;
    size_t hlen;
    size_t plen;

    if (colon == NULL || colon == address || colon[1] == '\0') {
        return WR_INVALID;
    }
    hlen = (size_t)(colon - address);
    if (h[0] == '[') {
        if (hlen < 2 || h[hlen - 1] != ']') {
            return WR_INVALID;
        }
        h++;
        hlen -= 2;
    }
    plen = strlen(colon + 1);
    if (hlen == 0 || hlen >= host_size || plen >= port_size ||
        strspn(colon + 1, "0123456789") != plen) {
        return WR_INVALID;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memcpy(port, colon + 1, plen + 1);
    return 0;
}

/* Connect a new socket to @ai within the deadline. Returns the socket or
 * -1 with @errmsg set. */
static int connect_one(const struct addrinfo *ai,
                       uint64_t deadline,
                       char *errmsg)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
    int flags;
    int one = 1;
    int soerr = 0;
    socklen_t len = sizeof soerr;

    if (fd < 0) {
        err_printf(errmsg, "socket: %s", strerror(errno));
        return -1;
    }
    /* Connect without blocking so that the timeout bounds it, then go
     * back to blocking mode: poll() bounds everything after. */
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        err_printf(errmsg, "fcntl: %s", strerror(errno));
        goto err_after_socket;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) {
            err_printf(errmsg, "connect: %s", strerror(errno));
            goto err_after_socket;
        }
        if (wait_fd(fd, POLLOUT, deadline, errmsg) != 0) {
            err_wrap(errmsg, "connect");
            goto err_after_socket;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) {
            soerr = errno;
        }
        if (soerr != 0) {
            err_printf(errmsg, "connect: %s", strerror(soerr));
            goto err_after_socket;
        }
    }
    if (fcntl(fd, F_SETFL, flags) < 0) {
        err_printf(errmsg, "fcntl: %s", strerror(errno));
        goto err_after_socket;
    }
    /* One small request, then wait for its answer: never let Nagle hold
     * the request back. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;

err_after_socket:
    close(fd);
    return -1;
}

/* Write all of c->out before the deadline. */
static int send_all(struct conn *c, uint64_t deadline, char *errmsg)
{
    size_t off = 0;
    while (off < c->out.len) {
        ssize_t n;
        int rv = wait_fd(c->fd, POLLOUT, deadline, errmsg);
        if (rv != 0) {
            return rv;
        }
        n = send(c->fd, c->out.p + off, c->out.len - off,
                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
                continue;
            }
            err_printf(errmsg, "send: %s", strerror(errno));
            return WR_IOERR;
        }
        off += (size_t)n;
    }
    return 0;
}

/* Read exactly @len bytes into @p before the deadline. */
static int recv_all(struct conn *c,
                    void *p,
                    size_t len,
                    uint64_t deadline,
                    char *errmsg)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n;
        int rv = wait_fd(c->fd, POLLIN, deadline, errmsg);
        if (rv != 0) {
            return rv;
        }
        n = recv(c->fd, (uint8_t *)p + off, len - off, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
                continue;
            }
            err_printf(errmsg, "recv: %s", strerror(errno));
            return WR_IOERR;
        }
        if (n == 0) {
            err_printf(errmsg, "connection closed by the node");
            return WR_IOERR;
        }
        off += (size_t)n;
    }
    return 0;
}

int conn_open(const char *address,
              unsigned timeout_ms,
              struct conn **out,
              char *errmsg)
{
    char host[256];
    char port[16];
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    struct addrinfo *ai;
    uint64_t deadline = now_ms() + timeout_ms;
    struct conn *c;
    int rv;

    if (address == NULL ||
        split_address(address, host, sizeof host, port, sizeof port) != 0) {
        err_printf(errmsg, "bad address \"%s\": want host:port",
                   address != NULL ? address : "(null)");
        return WR_INVALID;
    }

    c = calloc(1, sizeof *c);
    if (c == NULL) {
        err_printf(errmsg, "out of memory");
        return WR_NOMEM;
    }
    c->fd = -1;
    c->timeout_ms = timeout_ms;
    c->limits = (struct proto_limits)PROTO_LIMITS_DEFAULT;
    buf_init(&c->out);
    buf_init(&c->in);
    c->address = strdup(address);
    if (c->address == NULL) {
        err_printf(errmsg, "out of memory");
        rv = WR_NOMEM;
        goto err_after_alloc;
    }

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    rv = getaddrinfo(host, port, &hints, &res);
    if (rv != 0) {
        err_printf(errmsg, "connect to %s: resolve %s: %s", address, host,
                   gai_strerror(rv));
        rv = WR_IOERR;
        goto err_after_alloc;
    }
    for (ai = res; ai != NULL && c->fd < 0; ai = ai->ai_next) {
        c->fd = connect_one(ai, deadline, errmsg);
    }
    freeaddrinfo(res);
    if (c->fd < 0) {
        err_wrap(errmsg, "connect to %s", address);
        rv = WR_IOERR;
        goto err_after_alloc;
    }

    rv = proto_version_encode(&c->out, PROTO_VERSION);
    if (rv != 0) {
        err_printf(errmsg, "out of memory");
        goto err_after_connect;
    }
    rv = send_all(c, deadline, errmsg);
    if (rv != 0) {
        err_wrap(errmsg, "send the protocol version to %s", address);
        goto err_after_connect;
    }
    *out = c;
    return 0;

err_after_connect:
    close(c->fd);
err_after_alloc:
    buf_close(&c->out);
    free(c->address);
    free(c);
    return rv;
}

void conn_close(struct conn *c)
{
    if (c == NULL) {
        return;
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    buf_close(&c->out);
    buf_close(&c->in);
    free(c->address);
    free(c);
}

void conn_set_timeout(struct conn *c, unsigned timeout_ms)
{
    c->timeout_ms = timeout_ms;
}

bool conn_alive(struct conn *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int rv;

    if (c->broken) {
        return false;
    }
    do {
        rv = poll(&p, 1, 0);
    } while (rv < 0 && errno == EINTR);
    if (rv == 0) {
        return true; /* Quiet, as an idle connection should be. */
    }
    /* Readable between requests means end of stream, an error, or bytes
     * nobody asked for: none of them leaves the stream usable. */
    c->broken = true;
    return false;
}

const char *conn_address(const struct conn *c)
{
    return c->address;
}

/* Read and decode one message. */
static int receive(struct conn *c,
                   int expect,
                   struct proto_response *resp,
                   uint64_t deadline,
                   char *errmsg)
{
    uint8_t header[PROTO_HEADER_SIZE];
    struct proto_header h;
    size_t len;
    int rv;

    rv = recv_all(c, header, sizeof header, deadline, errmsg);
    if (rv != 0) {
        goto err_broken;
    }
    rv = proto_header_decode(header, &c->limits, &h, &len, errmsg);
    if (rv != 0) {
        goto err_broken;
    }
    buf_reset(&c->in);
    if (len > 0 && buf_append(&c->in, len) == NULL) {
        err_printf(errmsg, "out of memory for a %zu-byte answer", len);
        rv = WR_NOMEM;
        goto err_broken;
    }
    rv = recv_all(c, c->in.p, len, deadline, errmsg);
    if (rv != 0) {
        goto err_broken;
    }
    rv = proto_response_decode(&h, c->in.p, len, expect, &c->limits, resp,
                               errmsg);
    if (rv != 0) {
        goto err_broken;
    }
    if (resp->kind == PROTO_RESP_FAILURE && expect != PROTO_RESP_FAILURE) {
        err_printf(errmsg, "%s (code %llu)", resp->failure.message,
                   (unsigned long long)resp->failure.code);
        return WR_SQL;
    }
    if (resp->kind == PROTO_RESP_FAILURE_EXT &&
        expect != PROTO_RESP_FAILURE_EXT) {
        err_printf(errmsg, "%s (code %llu)", resp->failure_ext.message,
                   (unsigned long long)resp->failure_ext.code);
        return WR_SQL;
    }
    return 0;

err_broken:
    /* The stream may be out of step: nothing more can be read from it. */
    c->broken = true;
    err_wrap(errmsg, "%s", c->address);
    return rv;
}

static int check_usable(struct conn *c, char *errmsg)
{
    if (c->broken) {
        err_printf(errmsg, "%s: connection is broken", c->address);
        return WR_IOERR;
    }
    return 0;
}

int conn_request(struct conn *c,
                 const struct proto_request *req,
                 int expect,
                 struct proto_response *resp,
                 char *errmsg)
{
    uint64_t deadline = now_ms() + c->timeout_ms;
    int rv = check_usable(c, errmsg);
    if (rv != 0) {
        return rv;
    }
    buf_reset(&c->out);
    rv = proto_request_encode(&c->out, req, errmsg);
    if (rv != 0) {
        err_wrap(errmsg, "encode %s", proto_request_name(req->type));
        return rv;
    }
    rv = send_all(c, deadline, errmsg);
    if (rv != 0) {
        c->broken = true;
        err_wrap(errmsg, "%s: send %s", c->address,
                 proto_request_name(req->type));
        return rv;
    }
    return receive(c, expect, resp, deadline, errmsg);
}

int conn_next(struct conn *c,
              int expect,
              struct proto_response *resp,
              char *errmsg)
{
    int rv = check_usable(c, errmsg);
    if (rv != 0) {
        return rv;
    }
    return receive(c, expect, resp, now_ms() + c->timeout_ms, errmsg);
}

int conn_leader(struct conn *c,
                uint64_t *id,
                char *address,
                size_t size,
                char *errmsg)
{
    struct proto_request req;
    struct proto_response resp;
    size_t n;
    int rv;

    memset(&req, 0, sizeof req);
    req.type = PROTO_REQ_LEADER;
    rv = conn_request(c, &req, PROTO_RESP_SERVER, &resp, errmsg);
    if (rv != 0) {
        return rv;
    }
    n = strlen(resp.server.address);
    if (n >= size) {
        err_printf(errmsg, "%s: leader address of %zu bytes is too long",
                   c->address, n);
        return WR_TOOBIG;
    }
    memcpy(address, resp.server.address, n + 1);
    *id = resp.server.id;
    if (*id == 0 || n == 0) {
        /* One without the other is no leader we can reach. */
        *id = 0;
        address[0] = '\0';
    }
    return 0;
}

/* Sleep @ms milliseconds, but not past @deadline. */
static void nap(unsigned ms, uint64_t deadline)
{
    int left = ms_left(deadline);
    struct timespec ts;
    if ((unsigned)left < ms) {
        ms = (unsigned)left;
    }
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Ask the node at @address who leads; if it is the leader, hand back the
 * connection. Returns 0 with *@out set, WR_NOTLEADER with @leader filled
 * (possibly "") if it is not, or an error. */
static int try_node(const char *address,
                    unsigned timeout_ms,
                    char *leader,
                    size_t size,
                    struct conn **out,
                    char *errmsg)
{
    struct conn *c;
    uint64_t id;
    int rv = conn_open(address, timeout_ms, &c, errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = conn_leader(c, &id, leader, size, errmsg);
    if (rv != 0) {
        conn_close(c);
        return rv;
    }
    if (id != 0 && strcmp(leader, address) == 0) {
        *out = c;
        return 0;
    }
    conn_close(c);
    if (id == 0) {
        err_printf(errmsg, "%s knows no leader", address);
    } else {
        err_printf(errmsg, "%s says %s (id %llu) leads", address, leader,
                   (unsigned long long)id);
    }
    return WR_NOTLEADER;
}

int conn_open_leader(const char *addresses,
                     unsigned timeout_ms,
                     unsigned deadline_ms,
                     struct conn **out,
                     char *errmsg)
{
    uint64_t deadline = now_ms() + deadline_ms;
    char *list = strdup(addresses != NULL ? addresses : "");
    char last[WR_ERRMSG_SIZE] = "no address given";
    int last_rv = WR_IOERR;
    bool any_answer = false;

    if (list == NULL) {
        err_printf(errmsg, "out of memory");
        return WR_NOMEM;
    }
    do {
        char *save = NULL;
        char *addr;
        /* strtok_r() cuts the list up: work on a fresh copy each round. */
        strcpy(list, addresses);
        for (addr = strtok_r(list, ",", &save); addr != NULL;
             addr = strtok_r(NULL, ",", &save)) {
            char leader[256];
            char msg[WR_ERRMSG_SIZE];
            int rv = try_node(addr, timeout_ms, leader, sizeof leader, out,
                              msg);
            if (rv == 0) {
                free(list);
                return 0;
            }
            if (rv == WR_NOTLEADER && leader[0] != '\0') {
                /* Go where the node points; the leader must say so
                 * itself, or it is stale news. */
                rv = try_node(leader, timeout_ms, leader, sizeof leader, out,
                              msg);
                if (rv == 0) {
                    free(list);
                    return 0;
                }
            }
            if (rv == WR_NOTLEADER) {
                any_answer = true;
            }
            if (rv == WR_NOMEM) {
                free(list);
                memcpy(errmsg, msg, WR_ERRMSG_SIZE);
                return rv;
            }
            last_rv = rv;
            memcpy(last, msg, sizeof last);
        }
        nap(100, deadline);
    } while (ms_left(deadline) > 0);

    free(list);
    memcpy(errmsg, last, WR_ERRMSG_SIZE);
    err_wrap(errmsg, "no leader within %u ms", deadline_ms);
    return any_answer ? WR_NOTLEADER : last_rv;
}

int conn_status(struct conn *c, char **json, char *errmsg)
{
    struct proto_request req;
    struct proto_response resp;
    int rv;

    memset(&req, 0, sizeof req);
    req.type = PROTO_REQ_STATUS;
    req.status.format = 0;
    rv = conn_request(c, &req, PROTO_RESP_STATUS, &resp, errmsg);
    if (rv != 0) {
        return rv;
    }
    *json = strdup(resp.status.json);
    if (*json == NULL) {
        err_printf(errmsg, "out of memory");
        return WR_NOMEM;
    }
    return 0;
}
