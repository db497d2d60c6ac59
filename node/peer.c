/*
 * Client-protocol connections to the other nodes (see peer.h).
 *
 * A link is one TCP connection to one peer. It owns its handle (embedded,
 * freed in the close callback), the requests sent on it in order, and the
 * bytes written before the connection was established (sent from the
 * connect callback). A link that fails is taken off the list at once, its
 * requests fail, and it frees itself when its handle is closed.
 */
#include "peer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/buf.h"
#include "../lib/log.h"
#include "../raft/transport.h"

#define READ_CHUNK (16 * 1024)

struct link {
    struct peers *p;
    uint64_t id;
    char address[TRANSPORT_MAX_ADDRESS + 1];
    char *db;              /* The database it opened, or NULL. */
    struct peer_req open;  /* The OPEN of that database. */
    uv_tcp_t tcp;
    uv_connect_t connect;
    bool connected;
    bool failed;
    struct link *next;
    struct peer_req *head; /* Requests sent or to send, oldest first. */
    struct peer_req *tail;
    struct buf unsent;     /* Bytes to write once connected. */
    uint8_t *in;
    size_t in_len;
    size_t in_cap;
};

struct peers {
    uv_loop_t *loop;
    unsigned timeout_ms;
    struct proto_limits limits;
    struct link *links;
    unsigned n_handles; /* Links whose handle is not closed yet. */
    bool closing;
    void (*close_cb)(void *arg);
    void *close_arg;
};

struct write_req {
    uv_write_t w;
    struct buf b;
};

static void maybe_closed(struct peers *p)
{
    if (p->closing && p->n_handles == 0 && p->close_cb != NULL) {
        void (*cb)(void *arg) = p->close_cb;
        p->close_cb = NULL;
        cb(p->close_arg);
    }
}

static void close_cb(uv_handle_t *handle)
{
    struct link *l = handle->data;
    struct peers *p = l->p;

    buf_close(&l->unsent);
    free(l->in);
    free(l->db);
    free(l);
    p->n_handles--;
    maybe_closed(p);
}

/* Take @l off the list, close it, and fail its requests with @status. */
static void link_fail(struct link *l, int status, const char *errmsg)
{
    struct peers *p = l->p;
    struct peer_req *list = l->head;

    if (l->failed) {
        return;
    }
    l->failed = true;
    for (struct link **pp = &p->links; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    }
    l->head = NULL;
    l->tail = NULL;
    uv_close((uv_handle_t *)&l->tcp, close_cb);
    while (list != NULL) {
        struct peer_req *req = list;
        list = req->next_;
        req->cb(req, status, NULL, NULL, 0, errmsg);
    }
}

static void write_cb(uv_write_t *w, int status)
{
    struct write_req *wr = w->data;
    struct link *l = wr->w.handle->data;
    char msg[WR_ERRMSG_SIZE];

    buf_close(&wr->b);
    free(wr);
    if (status != 0 && status != UV_ECANCELED) {
        err_printf(msg, "node %llu at %s: write: %s",
                   (unsigned long long)l->id, l->address, uv_strerror(status));
        link_fail(l, WR_IOERR, msg);
    }
}

/* Write @b (taken over) on the established connection. */
static int link_write(struct link *l, struct buf *b)
{
    struct write_req *wr = calloc(1, sizeof *wr);
    uv_buf_t ub;

    if (wr == NULL) {
        buf_close(b);
        return WR_NOMEM;
    }
    wr->b = *b;
    buf_init(b);
    wr->w.data = wr;
    ub.base = (char *)wr->b.p;
    ub.len = wr->b.len;
    if (uv_write(&wr->w, (uv_stream_t *)&l->tcp, &ub, 1, write_cb) != 0) {
        buf_close(&wr->b);
        free(wr);
        return WR_IOERR;
    }
    return 0;
}

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *out)
{
    struct link *l = handle->data;
    (void)suggested;

    out->base = NULL;
    out->len = 0;
    if (l->in_cap - l->in_len < READ_CHUNK) {
        uint8_t *grown = realloc(l->in, l->in_len + READ_CHUNK);
        if (grown == NULL) {
            return; /* read_cb() gets UV_ENOBUFS. */
        }
        l->in = grown;
        l->in_cap = l->in_len + READ_CHUNK;
    }
    out->base = (char *)l->in + l->in_len;
    out->len = l->in_cap - l->in_len;
}

/* Answer the requests whose responses are complete in the input. */
static void link_process(struct link *l)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    size_t off = 0;

    while (!l->failed && l->in_len - off >= PROTO_HEADER_SIZE) {
        struct proto_header h;
        struct proto_response resp;
        struct peer_req *req;
        size_t body_len;
        int rv;

        rv = proto_header_decode(l->in + off, &l->p->limits, &h, &body_len,
                                 errmsg);
        if (rv != 0) {
            link_fail(l, rv, errmsg);
            return;
        }
        if (l->in_len - off - PROTO_HEADER_SIZE < body_len) {
            break;
        }
        req = l->head;
        if (req == NULL) {
            err_printf(errmsg, "node %llu at %s: an answer to no request",
                       (unsigned long long)l->id, l->address);
            link_fail(l, WR_CORRUPT, errmsg);
            return;
        }
        rv = proto_response_decode(&h, l->in + off + PROTO_HEADER_SIZE,
                                   body_len, req->expect_, &l->p->limits,
                                   &resp, errmsg);
        if (rv != 0) {
            err_wrap(errmsg, "node %llu at %s", (unsigned long long)l->id,
                     l->address);
            link_fail(l, rv, errmsg);
            return;
        }
        if (!proto_response_continues(&resp)) {
            l->head = req->next_;
            if (l->head == NULL) {
                l->tail = NULL;
            }
        }
        req->cb(req, 0, &resp, l->in + off, PROTO_HEADER_SIZE + body_len,
                "");
        off += PROTO_HEADER_SIZE + body_len;
    }
    if (!l->failed && off > 0) {
        memmove(l->in, l->in + off, l->in_len - off);
        l->in_len -= off;
    }
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
    struct link *l = stream->data;
    char msg[WR_ERRMSG_SIZE];
    (void)b;

    if (nread < 0) {
        err_printf(msg, "node %llu at %s: %s", (unsigned long long)l->id,
                   l->address,
                   nread == UV_EOF ? "connection closed"
                                   : uv_strerror((int)nread));
        link_fail(l, WR_IOERR, msg);
        return;
    }
    l->in_len += (size_t)nread;
    link_process(l);
}

static void connect_cb(uv_connect_t *connect, int status)
{
    struct link *l = connect->data;
    char msg[WR_ERRMSG_SIZE];
    int rv;

    if (l->failed) {
        return;
    }
    if (status != 0) {
        err_printf(msg, "node %llu at %s: connect: %s",
                   (unsigned long long)l->id, l->address, uv_strerror(status));
        link_fail(l, WR_IOERR, msg);
        return;
    }
    l->connected = true;
    uv_tcp_nodelay(&l->tcp, 1);
    rv = uv_read_start((uv_stream_t *)&l->tcp, alloc_cb, read_cb);
    if (rv == 0) {
        rv = link_write(l, &l->unsent) == 0 ? 0 : -1;
    }
    if (rv != 0) {
        err_printf(msg, "node %llu at %s: cannot start the connection",
                   (unsigned long long)l->id, l->address);
        link_fail(l, WR_IOERR, msg);
    }
}

/* The OPEN of a link's database was answered. A refusal is only logged:
 * the requests that follow fail on the peer with a sentence of their own. */
static void open_cb(struct peer_req *req,
                    int status,
                    const struct proto_response *resp,
                    const uint8_t *raw,
                    size_t raw_len,
                    const char *errmsg)
{
    struct link *l = req->data;
    (void)raw;
    (void)raw_len;

    if (status == 0 && resp->kind != PROTO_RESP_DB) {
        log_warn("node %llu at %s: cannot open database %s",
                 (unsigned long long)l->id, l->address, l->db);
    } else if (status != 0 && status != WR_SHUTDOWN) {
        log_debug("%s", errmsg);
    }
}

static unsigned queue_length(const struct link *l)
{
    unsigned n = 0;
    for (const struct peer_req *r = l->head; r != NULL; r = r->next_) {
        n++;
    }
    return n;
}

static bool same_db(const char *a, const char *b)
{
    return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* The link to carry a request to @id at @address with database @db: the
 * one link when there is no database; else an idle one, a new one, or the
 * least busy of PEER_MAX_LINKS. */
static int link_get(struct peers *p,
                    uint64_t id,
                    const char *address,
                    const char *db,
                    struct link **out,
                    char *errmsg)
{
    struct sockaddr_in sa;
    struct link *best = NULL;
    unsigned n_links = 0;
    unsigned best_len = 0;
    struct link *l;
    int rv;

    for (l = p->links; l != NULL; l = l->next) {
        unsigned len;
        if (l->id != id || strcmp(l->address, address) != 0 ||
            !same_db(l->db, db)) {
            continue;
        }
        len = queue_length(l);
        if (db == NULL || len == 0) {
            *out = l;
            return 0;
        }
        n_links++;
        if (best == NULL || len < best_len) {
            best = l;
            best_len = len;
        }
    }
    if (best != NULL && n_links >= PEER_MAX_LINKS) {
        *out = best;
        return 0;
    }
    if (strlen(address) > TRANSPORT_MAX_ADDRESS ||
        transport_parse_address(address, &sa) != 0) {
        err_printf(errmsg, "node %llu: bad address \"%s\"",
                   (unsigned long long)id, address);
        return WR_INVALID;
    }
    l = calloc(1, sizeof *l);
    if (l == NULL) {
        err_printf(errmsg, "peer connection: out of memory");
        return WR_NOMEM;
    }
    l->p = p;
    l->id = id;
    snprintf(l->address, sizeof l->address, "%s", address);
    buf_init(&l->unsent);
    rv = proto_version_encode(&l->unsent, PROTO_VERSION);
    if (rv == 0 && db != NULL) {
        struct proto_request r = {.type = PROTO_REQ_OPEN};
        r.open.name = db;
        r.open.vfs = "";
        l->db = strdup(db);
        rv = l->db == NULL ? WR_NOMEM
                           : proto_request_encode(&l->unsent, &r, errmsg);
        l->open.data = l;
        l->open.cb = open_cb;
        l->open.expect_ = PROTO_RESP_DB;
        l->open.deadline_ = uv_now(p->loop) + p->timeout_ms;
        l->head = &l->open;
        l->tail = &l->open;
    }
    if (rv != 0) {
        buf_close(&l->unsent);
        free(l->db);
        free(l);
        err_printf(errmsg, "peer connection: %s", err_str(rv));
        return rv;
    }
    uv_tcp_init(p->loop, &l->tcp);
    l->tcp.data = l;
    l->connect.data = l;
    p->n_handles++;
    l->next = p->links;
    p->links = l;
    rv = uv_tcp_connect(&l->connect, &l->tcp, (const struct sockaddr *)&sa,
                        connect_cb);
    if (rv != 0) {
        err_printf(errmsg, "node %llu at %s: connect: %s",
                   (unsigned long long)id, address, uv_strerror(rv));
        link_fail(l, WR_IOERR, errmsg);
        return WR_IOERR;
    }
    *out = l;
    return 0;
}

int peers_create(uv_loop_t *loop, unsigned timeout_ms, struct peers **out)
{
    struct peers *p = calloc(1, sizeof *p);

    if (p == NULL) {
        return WR_NOMEM;
    }
    p->loop = loop;
    p->timeout_ms = timeout_ms;
    p->limits = (struct proto_limits)PROTO_LIMITS_DEFAULT;
    *out = p;
    return 0;
}

int peers_send(struct peers *p,
               uint64_t id,
               const char *address,
               const char *db,
               const struct proto_request *r,
               int expect,
               unsigned timeout_ms,
               struct peer_req *req,
               char *errmsg)
{
    struct buf b;
    struct link *l;
    int rv;

    if (p->closing) {
        err_printf(errmsg, "the node is shutting down");
        return WR_SHUTDOWN;
    }
    rv = link_get(p, id, address, db, &l, errmsg);
    if (rv != 0) {
        return rv;
    }
    buf_init(&b);
    rv = proto_request_encode(&b, r, errmsg);
    if (rv != 0) {
        buf_close(&b);
        return rv;
    }
    if (l->connected) {
        rv = link_write(l, &b);
        if (rv != 0) {
            err_printf(errmsg, "node %llu at %s: %s", (unsigned long long)id,
                       address, err_str(rv));
            return rv;
        }
    } else {
        uint8_t *dst = buf_append(&l->unsent, b.len);
        if (dst == NULL) {
            buf_close(&b);
            err_printf(errmsg, "peer connection: out of memory");
            return WR_NOMEM;
        }
        memcpy(dst, b.p, b.len);
        buf_close(&b);
    }
    req->expect_ = expect;
    req->timeout_ms_ = timeout_ms != 0 ? timeout_ms : p->timeout_ms;
    req->deadline_ = uv_now(p->loop) + req->timeout_ms_;
    req->next_ = NULL;
    if (l->tail != NULL) {
        l->tail->next_ = req;
    } else {
        l->head = req;
    }
    l->tail = req;
    return 0;
}

void peers_tick(struct peers *p)
{
    uint64_t now = uv_now(p->loop);
    struct link *l = p->links;
    char msg[WR_ERRMSG_SIZE];

    while (l != NULL) {
        struct link *next = l->next;
        if (l->head != NULL && now >= l->head->deadline_) {
            err_printf(msg, "node %llu at %s: no answer within %u ms",
                       (unsigned long long)l->id, l->address,
                       l->head->timeout_ms_ != 0 ? l->head->timeout_ms_
                                                 : p->timeout_ms);
            link_fail(l, WR_IOERR, msg);
        }
        l = next;
    }
}

void peers_close(struct peers *p, void (*cb)(void *arg), void *arg)
{
    p->closing = true;
    p->close_cb = cb;
    p->close_arg = arg;
    while (p->links != NULL) {
        link_fail(p->links, WR_SHUTDOWN, "the node is shutting down");
    }
    maybe_closed(p);
}

void peers_destroy(struct peers *p)
{
    free(p);
}
