/*
 * The node's one port: a dispatcher in front of raft_uv and the client
 * protocol, and the `struct raft_uv_transport` raft_uv uses to reach peers.
 *
 * ## The handshake, byte by byte
 *
 * Every connection, Raft or client, starts like a dqlite client connection
 * (proto/wire.h): all integers little-endian.
 *
 *   0   u64  protocol version: 1 (PROTO_VERSION); clients may also send
 *            0x86104dd760433fe5 (PROTO_VERSION_LEGACY)
 *   8   u32  body length of the first message in 8-byte words (n)
 *  12   u8   type of the first message
 *  13   u8   schema, 0
 *  14   u16  unused
 *
 * A Raft peer sends version 1 and CONNECT (type 11, schema 0) whose body is
 *
 *  16   u64  the peer's raft id, not 0
 *  24   text the peer's address: its bytes, a NUL, zero bytes up to a word
 *            boundary (1 to TRANSPORT_MAX_ADDRESS bytes before the NUL)
 *
 * so n is 2 to 33 (16 to 264 bytes). Right after the body the stream
 * carries raft_uv's own messages (0.15 src/uv_encoding.c).
 *
 * Closed at once: a version other than 1 and legacy; a first header that
 * proto_header_decode() refuses (body beyond the default 64 MiB limit);
 * type 11 under the legacy version; type 11 whose n is out of 2..33, whose
 * body proto_request_decode() refuses under limits that allow only this
 * much, whose id is 0 or address empty, or that arrives while raft_uv is
 * not listening (before raft_start(), after raft_close()). Anything else is
 * a client connection and goes to the client callback with the 16 bytes
 * read so far (closed if there is no callback). Whatever the path, the
 * first 16 bytes, and for a peer the CONNECT body, must arrive within the
 * handshake timeout, and at most max_handshakes connections may be in
 * their handshake at once.
 *
 * Nothing past the handshake is read here: the alloc callback offers
 * exactly the bytes still missing and reading stops before the stream is
 * handed over, so raft messages a peer pipelines behind its CONNECT stay in
 * the socket for raft_uv (libuv's uv__read() loop stops once the read
 * callback called uv_read_stop(), and runs on with the new callbacks if the
 * taker started reading).
 *
 * ## What this relies on in libraft 0.15.0 (tag v0.15.0 of canonical/raft)
 *
 *  - include/raft/uv.h: struct raft_uv_transport is data, impl, errmsg,
 *    init, listen, connect, close; 0.15 has no version field (later
 *    releases added one). accept_cb must not keep @address; the stream
 *    becomes raft_uv's. connect's @req may be freed only after its cb.
 *  - src/uv.c: raft_uv_init() sets transport->data = NULL and uvInit()
 *    (raft_init() -> io->init) calls transport->init(id, address), then
 *    sets transport->data = uv. So data is raft_uv's and our state is
 *    found through impl. uvClose() calls transport->close() only if data is
 *    not NULL and waits for its callback (uvTransportCloseCb, which clears
 *    data) before raft_uv's own close callback.
 *  - src/raft.c: raft_init() passes r->address, a copy it owns; we copy it
 *    again rather than rely on that.
 *  - src/uv_recv.c: raft_start() -> uvStart() -> UvRecvStart() calls
 *    transport->listen(uvRecvAcceptCb). uvRecvAcceptCb() copies the address
 *    (uvServerInit), takes stream->data and starts reading; it asserts
 *    !uv->closing (compiled out), so it must never run after the transport
 *    was closed. It frees the stream with RaftHeapFree() (uvServerDestroy,
 *    and uv_close(stream, RaftHeapFree) when it cannot take it): streams
 *    must come from raft_malloc(), which uses the same heap.
 *  - src/uv_send.c: uvClientConnect() treats a non-zero return from
 *    transport->connect() as a failed attempt and retries after
 *    connect_retry_delay without expecting the callback; uvClientConnectCb()
 *    takes the stream on status 0 (stream->data, later uv_close() and
 *    RaftHeapFree()), disconnects it at once if raft_uv is closing, and
 *    retries on any non-zero status. raft_uv never reads from a stream it
 *    dialed.
 *  - src/uv_tcp_connect.c, uv_tcp.c (the stock transport, for the
 *    contract as raft_uv expects it): the connect callback fires after the
 *    handshake is written; failures report RAFT_NOCONNECTION; on close
 *    every pending connect fires its callback with RAFT_CANCELED before the
 *    transport's close callback, which is always asynchronous.
 *  - src/uv_tcp_listen.c: the stock handshake (u64 protocol 1, u64 id, u64
 *    address length, address) mallocs whatever length the peer claims and
 *    has no timeout: T2. It reads exactly the handshake and calls
 *    uv_read_stop() before accept_cb, as we do.
 *  - src/uv_ip.c: IPv4 literals only (T1); we refuse a missing port instead
 *    of defaulting to 8080.
 */
#include "transport.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/buf.h"
#include "../lib/byteorder.h"
#include "../lib/log.h"
#include "../proto/wire.h"

#define DEFAULT_HANDSHAKE_TIMEOUT_MS 5000
#define DEFAULT_MAX_HANDSHAKES 256

/* Largest CONNECT body: the id word and the longest address, NUL included,
 * padded to a word boundary. */
#define CONNECT_MIN_BODY 16
#define CONNECT_MAX_BODY (8 + ((TRANSPORT_MAX_ADDRESS + 1 + 7) / 8) * 8)

enum { LISTENER_NONE, LISTENER_OPEN, LISTENER_CLOSING, LISTENER_CLOSED };
enum { RAFT_SIDE_NEVER, RAFT_SIDE_INIT, RAFT_SIDE_CLOSING, RAFT_SIDE_CLOSED };

/* One accepted connection in its handshake. */
struct tr_incoming {
    struct transport *t;
    uv_tcp_t *tcp; /* raft_malloc(): handed over as is. */
    uint64_t deadline;
    uint8_t head[TRANSPORT_HEAD_SIZE];
    size_t nread;
    bool in_body;
    struct proto_header header;
    uint8_t body[CONNECT_MAX_BODY];
    size_t body_len;
    struct tr_incoming *prev;
    struct tr_incoming *next;
};

/* One outbound connection attempt, until its callback fires. */
struct tr_dial {
    struct transport *t;
    struct raft_uv_connect *req;
    uv_tcp_t *tcp; /* raft_malloc(): handed over as is. */
    uv_connect_t connect;
    uv_write_t write;
    struct buf hs; /* The handshake bytes. */
    int status;    /* Reported when the handle has closed. */
    bool aborting;
    struct tr_dial *prev;
    struct tr_dial *next;
};

static void maybe_finish_close(struct transport *t);

/* Close callback of a handle nobody else knows about: free its memory. */
static void free_handle_cb(uv_handle_t *handle)
{
    raft_free(handle);
}

/*
 * Addresses.
 */

int transport_parse_address(const char *address, struct sockaddr_in *out)
{
    char host[INET_ADDRSTRLEN];
    const char *colon;
    size_t n;
    unsigned long port;
    char *end;

    if (address == NULL) {
        return WR_INVALID;
    }
    colon = strchr(address, ':');
    if (colon == NULL) {
        return WR_INVALID;
    }
    n = (size_t)(colon - address);
    if (n == 0 || n >= sizeof host) {
        return WR_INVALID;
    }
    memcpy(host, address, n);
    host[n] = '\0';
    if (colon[1] < '0' || colon[1] > '9') {
        return WR_INVALID;
    }
    port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || port == 0 || port > 65535) {
        return WR_INVALID;
    }
    memset(out, 0, sizeof *out);
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &out->sin_addr) != 1) {
        return WR_INVALID;
    }
    return 0;
}

/*
 * Incoming connections.
 */

static void incoming_unlink(struct tr_incoming *in)
{
    struct transport *t = in->t;
    if (in->prev != NULL) {
        in->prev->next = in->next;
    } else {
        t->incoming_ = in->next;
    }
    if (in->next != NULL) {
        in->next->prev = in->prev;
    }
    in->prev = in->next = NULL;
    t->n_incoming_--;
}

static void incoming_close_cb(uv_handle_t *handle)
{
    struct tr_incoming *in = handle->data;
    struct transport *t = in->t;
    raft_free(in->tcp);
    free(in);
    t->n_aborting_--;
    maybe_finish_close(t);
}

/* Close a connection still in its handshake. */
static void incoming_abort(struct tr_incoming *in)
{
    struct transport *t = in->t;
    incoming_unlink(in);
    t->n_aborting_++;
    uv_close((uv_handle_t *)in->tcp, incoming_close_cb);
}

static void incoming_refuse(struct tr_incoming *in, const char *why)
{
    in->t->stats_.refused++;
    log_debug("transport: closing a connection: %s", why);
    incoming_abort(in);
}

static void incoming_alloc_cb(uv_handle_t *handle,
                              size_t suggested,
                              uv_buf_t *buf)
{
    struct tr_incoming *in = handle->data;
    (void)suggested;
    if (!in->in_body) {
        buf->base = (char *)in->head + in->nread;
        buf->len = sizeof in->head - in->nread;
    } else {
        buf->base = (char *)in->body + in->nread;
        buf->len = in->body_len - in->nread;
    }
}

/* The head is complete: a peer goes on to its CONNECT body, a client is
 * handed over now. */
static void incoming_head_done(struct tr_incoming *in)
{
    struct transport *t = in->t;
    char errmsg[WR_ERRMSG_SIZE];
    uint64_t version;
    size_t body_len;
    int rv;

    rv = proto_version_decode(in->head, &version, errmsg);
    if (rv != 0) {
        incoming_refuse(in, errmsg);
        return;
    }
    rv = proto_header_decode(in->head + 8, NULL, &in->header, &body_len,
                             errmsg);
    if (rv != 0) {
        incoming_refuse(in, errmsg);
        return;
    }
    if (in->header.type == PROTO_REQ_CONNECT) {
        if (version != PROTO_VERSION) {
            incoming_refuse(in, "CONNECT with the legacy protocol version");
            return;
        }
        if (body_len < CONNECT_MIN_BODY || body_len > CONNECT_MAX_BODY) {
            incoming_refuse(in, "CONNECT body of absurd length");
            return;
        }
        in->in_body = true;
        in->body_len = body_len;
        in->nread = 0;
        return;
    }
    if (t->client_cb_ == NULL || t->closing_) {
        incoming_refuse(in, "client connection and no client handler");
        return;
    }
    uv_read_stop((uv_stream_t *)in->tcp);
    incoming_unlink(in);
    t->stats_.to_client++;
    t->client_cb_(t, (uv_stream_t *)in->tcp, in->head, t->client_arg_);
    free(in);
}

/* The CONNECT body is complete: check it and hand the stream to raft_uv. */
static void incoming_body_done(struct tr_incoming *in)
{
    struct transport *t = in->t;
    struct proto_limits lim;
    struct proto_request req;
    char errmsg[WR_ERRMSG_SIZE];
    int rv;

    proto_limits_default(&lim);
    lim.max_message = CONNECT_MAX_BODY;
    lim.max_text = TRANSPORT_MAX_ADDRESS;
    rv = proto_request_decode(&in->header, in->body, in->body_len, &lim, &req,
                              errmsg);
    if (rv != 0) {
        incoming_refuse(in, errmsg);
        return;
    }
    if (req.connect.id == 0 || req.connect.address[0] == '\0') {
        incoming_refuse(in, "CONNECT without an id or an address");
        return;
    }
    if (t->accept_cb_ == NULL || t->raft_state_ != RAFT_SIDE_INIT) {
        incoming_refuse(in, "raft peer and raft is not listening");
        return;
    }
    uv_read_stop((uv_stream_t *)in->tcp);
    incoming_unlink(in);
    t->stats_.to_raft++;
    /* raft_uv copies the address (uvServerInit) before this returns. */
    t->accept_cb_(&t->raft, (raft_id)req.connect.id, req.connect.address,
                  (uv_stream_t *)in->tcp);
    free(in);
}

static void incoming_read_cb(uv_stream_t *stream,
                             ssize_t nread,
                             const uv_buf_t *buf)
{
    struct tr_incoming *in = stream->data;
    size_t want;
    (void)buf;

    if (nread == 0) {
        return;
    }
    if (nread < 0) {
        /* EOF or an error before the handshake completed. */
        in->t->stats_.hung_up++;
        log_debug("transport: connection lost in its handshake: %s",
                  uv_strerror((int)nread));
        incoming_abort(in);
        return;
    }
    in->nread += (size_t)nread;
    want = in->in_body ? in->body_len : sizeof in->head;
    if (in->nread < want) {
        return;
    }
    if (!in->in_body) {
        incoming_head_done(in);
    } else {
        incoming_body_done(in);
    }
}

static void reject_pending(struct transport *t);

static void listen_cb(uv_stream_t *server, int status)
{
    struct transport *t = server->data;
    struct tr_incoming *in;
    int rv;

    if (status != 0) {
        log_warn("transport: accept: %s", uv_strerror(status));
        return;
    }
    if (t->closing_) {
        return;
    }
    in = calloc(1, sizeof *in);
    if (in == NULL) {
        goto err;
    }
    in->t = t;
    in->tcp = raft_malloc(sizeof *in->tcp);
    if (in->tcp == NULL) {
        goto err_after_alloc;
    }
    rv = uv_tcp_init(t->loop_, in->tcp);
    if (rv != 0) {
        goto err_after_tcp_alloc;
    }
    in->tcp->data = in;
    rv = uv_accept(server, (uv_stream_t *)in->tcp);
    if (rv != 0) {
        goto err_after_tcp_init;
    }
    /* Raft messages and client answers are small next to loopback's MSS,
     * and each is written whole (one uv_write): Nagle would only hold one
     * back behind an unacknowledged one until the peer's delayed ACK, 40 ms
     * on Linux, which is what one write in a few took before (issue 7).
     * Failure only costs latency. */
    (void)uv_tcp_nodelay(in->tcp, 1);
    t->stats_.accepted++;
    /* Link first: refusing below unlinks. */
    in->next = t->incoming_;
    if (t->incoming_ != NULL) {
        t->incoming_->prev = in;
    }
    t->incoming_ = in;
    t->n_incoming_++;
    if (t->n_incoming_ > t->config_.max_handshakes) {
        incoming_refuse(in, "too many connections in their handshake");
        return;
    }
    in->deadline = uv_now(t->loop_) + t->config_.handshake_timeout_ms;
    rv = uv_read_start((uv_stream_t *)in->tcp, incoming_alloc_cb,
                       incoming_read_cb);
    if (rv != 0) {
        incoming_refuse(in, uv_strerror(rv));
    }
    return;

err_after_tcp_init:
    /* The handle is initialised: it must be closed before it is freed. */
    uv_close((uv_handle_t *)in->tcp, free_handle_cb);
    free(in);
    return;
err_after_tcp_alloc:
    raft_free(in->tcp);
err_after_alloc:
    free(in);
err:
    /* libuv stops watching the listener until the pending connection is
     * accepted (src/unix/stream.c uv__server_io), so accept it into the
     * spare handle and close it. */
    log_warn("transport: accept: out of memory or handles");
    reject_pending(t);
}

static void reject_close_cb(uv_handle_t *handle)
{
    struct transport *t = handle->data;
    t->reject_busy_ = false;
    maybe_finish_close(t);
}

static void reject_pending(struct transport *t)
{
    if (t->reject_busy_ || uv_tcp_init(t->loop_, &t->reject_) != 0) {
        return;
    }
    t->reject_.data = t;
    t->reject_busy_ = true;
    uv_accept((uv_stream_t *)&t->listener_, (uv_stream_t *)&t->reject_);
    uv_close((uv_handle_t *)&t->reject_, reject_close_cb);
}

/* Close handshakes older than the timeout. */
static void sweep_cb(uv_timer_t *timer)
{
    struct transport *t = timer->data;
    uint64_t now = uv_now(t->loop_);
    struct tr_incoming *in = t->incoming_;
    while (in != NULL) {
        struct tr_incoming *next = in->next;
        if (now >= in->deadline) {
            t->stats_.timed_out++;
            log_debug("transport: closing a connection: handshake timeout");
            incoming_abort(in);
        }
        in = next;
    }
}

/*
 * Outbound connections (the raft side's connect).
 */

static void dial_unlink(struct tr_dial *d)
{
    struct transport *t = d->t;
    if (d->prev != NULL) {
        d->prev->next = d->next;
    } else {
        t->dials_ = d->next;
    }
    if (d->next != NULL) {
        d->next->prev = d->prev;
    }
    d->prev = d->next = NULL;
}

/* The handle is closed after a failure or cancellation: fire the request's
 * callback without a stream. */
static void dial_close_cb(uv_handle_t *handle)
{
    struct tr_dial *d = handle->data;
    struct transport *t = d->t;
    struct raft_uv_connect *req = d->req;
    int status = d->status;

    raft_free(d->tcp);
    dial_unlink(d);
    buf_close(&d->hs);
    free(d);
    if (status != RAFT_CANCELED) {
        t->stats_.dial_failed++;
    }
    req->cb(req, NULL, status);
    maybe_finish_close(t);
}

static void dial_abort(struct tr_dial *d, int status)
{
    if (d->aborting) {
        return;
    }
    d->aborting = true;
    d->status = status;
    uv_close((uv_handle_t *)d->tcp, dial_close_cb);
}

static void dial_write_cb(uv_write_t *write, int status)
{
    struct tr_dial *d = write->data;
    struct transport *t = d->t;
    struct raft_uv_connect *req = d->req;
    uv_tcp_t *tcp = d->tcp;

    if (d->aborting) {
        return; /* Cancelled; dial_close_cb reports it. */
    }
    if (status != 0) {
        snprintf(t->raft.errmsg, sizeof t->raft.errmsg,
                 "write handshake: %s", uv_strerror(status));
        dial_abort(d, RAFT_NOCONNECTION);
        return;
    }
    dial_unlink(d);
    buf_close(&d->hs);
    free(d);
    t->stats_.dialed++;
    tcp->data = NULL;
    req->cb(req, (uv_stream_t *)tcp, 0);
    maybe_finish_close(t);
}

static void dial_connect_cb(uv_connect_t *connect, int status)
{
    struct tr_dial *d = connect->data;
    struct transport *t = d->t;
    uv_buf_t b;
    int rv;

    if (d->aborting) {
        return;
    }
    if (status != 0) {
        snprintf(t->raft.errmsg, sizeof t->raft.errmsg, "connect: %s",
                 uv_strerror(status));
        dial_abort(d, RAFT_NOCONNECTION);
        return;
    }
    /* As on the accepting side (incoming connections, above). */
    (void)uv_tcp_nodelay(d->tcp, 1);
    b = uv_buf_init((char *)d->hs.p, (unsigned)d->hs.len);
    rv = uv_write(&d->write, (uv_stream_t *)d->tcp, &b, 1, dial_write_cb);
    if (rv != 0) {
        snprintf(t->raft.errmsg, sizeof t->raft.errmsg,
                 "write handshake: %s", uv_strerror(rv));
        dial_abort(d, RAFT_NOCONNECTION);
    }
}

/* The version word and CONNECT with our id and address. */
static int encode_handshake(struct transport *t, struct buf *b)
{
    struct proto_request req;
    char errmsg[WR_ERRMSG_SIZE];
    int rv;

    rv = proto_version_encode(b, PROTO_VERSION);
    if (rv != 0) {
        return rv;
    }
    memset(&req, 0, sizeof req);
    req.type = PROTO_REQ_CONNECT;
    req.connect.id = t->id_;
    req.connect.address = t->address_;
    rv = proto_request_encode(b, &req, errmsg);
    if (rv != 0) {
        snprintf(t->raft.errmsg, sizeof t->raft.errmsg, "encode CONNECT: %.200s",
                 errmsg);
    }
    return rv;
}

static int raft_side_connect(struct raft_uv_transport *rt,
                             struct raft_uv_connect *req,
                             raft_id id,
                             const char *address,
                             raft_uv_connect_cb cb)
{
    struct transport *t = rt->impl;
    struct sockaddr_in addr;
    struct tr_dial *d;
    int rv;
    (void)id;

    if (t->raft_state_ != RAFT_SIDE_INIT) {
        snprintf(rt->errmsg, sizeof rt->errmsg, "transport is closing");
        return RAFT_CANCELED;
    }
    if (transport_parse_address(address, &addr) != 0) {
        snprintf(rt->errmsg, sizeof rt->errmsg,
                 "not an IPv4 address and port: %.100s", address);
        return RAFT_NOCONNECTION;
    }
    d = calloc(1, sizeof *d);
    if (d == NULL) {
        rv = RAFT_NOMEM;
        goto err;
    }
    d->t = t;
    d->req = req;
    d->connect.data = d;
    d->write.data = d;
    buf_init(&d->hs);
    if (encode_handshake(t, &d->hs) != 0) {
        rv = RAFT_NOMEM;
        goto err_after_alloc;
    }
    d->tcp = raft_malloc(sizeof *d->tcp);
    if (d->tcp == NULL) {
        rv = RAFT_NOMEM;
        goto err_after_encode;
    }
    rv = uv_tcp_init(t->loop_, d->tcp);
    if (rv != 0) {
        snprintf(rt->errmsg, sizeof rt->errmsg, "uv_tcp_init: %s",
                 uv_strerror(rv));
        rv = RAFT_NOCONNECTION;
        goto err_after_tcp_alloc;
    }
    d->tcp->data = d;
    rv = uv_tcp_connect(&d->connect, d->tcp, (const struct sockaddr *)&addr,
                        dial_connect_cb);
    if (rv != 0) {
        snprintf(rt->errmsg, sizeof rt->errmsg, "uv_tcp_connect: %s",
                 uv_strerror(rv));
        rv = RAFT_NOCONNECTION;
        goto err_after_tcp_init;
    }
    req->cb = cb;
    d->next = t->dials_;
    if (t->dials_ != NULL) {
        t->dials_->prev = d;
    }
    t->dials_ = d;
    return 0;

err_after_tcp_init:
    uv_close((uv_handle_t *)d->tcp, free_handle_cb);
    d->tcp = NULL;
err_after_tcp_alloc:
    raft_free(d->tcp);
err_after_encode:
    buf_close(&d->hs);
err_after_alloc:
    free(d);
err:
    if (rv == RAFT_NOMEM) {
        snprintf(rt->errmsg, sizeof rt->errmsg, "out of memory");
    }
    return rv;
}

/*
 * The rest of the raft side.
 */

static int raft_side_init(struct raft_uv_transport *rt,
                          raft_id id,
                          const char *address)
{
    struct transport *t = rt->impl;
    size_t n;

    if (t->raft_state_ == RAFT_SIDE_INIT ||
        t->raft_state_ == RAFT_SIDE_CLOSING || t->closing_) {
        snprintf(rt->errmsg, sizeof rt->errmsg,
                 "transport already in use or closing");
        return RAFT_INVALID;
    }
    n = strlen(address);
    if (id == 0 || n == 0 || n > TRANSPORT_MAX_ADDRESS) {
        snprintf(rt->errmsg, sizeof rt->errmsg,
                 "id must not be 0, address 1 to %d bytes",
                 TRANSPORT_MAX_ADDRESS);
        return RAFT_INVALID;
    }
    t->id_ = id;
    memcpy(t->address_, address, n + 1);
    t->accept_cb_ = NULL;
    t->raft_state_ = RAFT_SIDE_INIT;
    return 0;
}

static int raft_side_listen(struct raft_uv_transport *rt, raft_uv_accept_cb cb)
{
    struct transport *t = rt->impl;
    if (t->raft_state_ != RAFT_SIDE_INIT) {
        snprintf(rt->errmsg, sizeof rt->errmsg, "transport not initialised");
        return RAFT_INVALID;
    }
    t->accept_cb_ = cb;
    return 0;
}

static void maybe_fire_raft_close(struct transport *t)
{
    raft_uv_transport_close_cb cb;
    if (t->raft_state_ != RAFT_SIDE_CLOSING || t->dials_ != NULL) {
        return;
    }
    t->raft_state_ = RAFT_SIDE_CLOSED;
    cb = t->raft_close_cb_;
    t->raft_close_cb_ = NULL;
    if (cb != NULL) {
        cb(&t->raft);
    }
}

static void defer_cb(uv_timer_t *timer)
{
    struct transport *t = timer->data;
    maybe_finish_close(t);
}

static void raft_side_close(struct raft_uv_transport *rt,
                            raft_uv_transport_close_cb cb)
{
    struct transport *t = rt->impl;
    struct tr_dial *d;

    t->raft_state_ = RAFT_SIDE_CLOSING;
    t->raft_close_cb_ = cb;
    t->accept_cb_ = NULL;
    for (d = t->dials_; d != NULL; d = d->next) {
        dial_abort(d, RAFT_CANCELED);
    }
    /* The callback is always asynchronous, like the stock transport's: the
     * last dial's close callback or the deferral timer fires it. */
    if (t->dials_ == NULL) {
        uv_timer_start(&t->defer_, defer_cb, 0, 0);
    }
}

/*
 * The dispatcher API.
 */

int transport_init(struct transport *t,
                   uv_loop_t *loop,
                   const struct transport_config *config)
{
    memset(t, 0, sizeof *t);
    t->loop_ = loop;
    if (config != NULL) {
        t->config_ = *config;
    }
    if (t->config_.handshake_timeout_ms == 0) {
        t->config_.handshake_timeout_ms = DEFAULT_HANDSHAKE_TIMEOUT_MS;
    }
    if (t->config_.max_handshakes == 0) {
        t->config_.max_handshakes = DEFAULT_MAX_HANDSHAKES;
    }
    /* uv_timer_init() cannot fail (libuv src/timer.c). */
    uv_timer_init(loop, &t->sweep_);
    uv_timer_init(loop, &t->defer_);
    t->sweep_.data = t;
    t->defer_.data = t;
    t->handles_open_ = 2;
    t->raft.impl = t;
    t->raft.init = raft_side_init;
    t->raft.listen = raft_side_listen;
    t->raft.connect = raft_side_connect;
    t->raft.close = raft_side_close;
    return 0;
}

void transport_set_client_cb(struct transport *t,
                             transport_client_cb cb,
                             void *arg)
{
    t->client_cb_ = cb;
    t->client_arg_ = arg;
}

static void listener_close_cb(uv_handle_t *handle);

int transport_listen(struct transport *t, const char *address)
{
    struct sockaddr_in addr;
    unsigned period;
    int rv;

    if (t->listener_state_ != LISTENER_NONE || t->closing_) {
        err_printf(t->errmsg_, "listen: already listening or closing");
        return WR_INVALID;
    }
    if (transport_parse_address(address, &addr) != 0) {
        err_printf(t->errmsg_, "listen: not an IPv4 address and port: %.100s",
                   address);
        return WR_INVALID;
    }
    rv = uv_tcp_init(t->loop_, &t->listener_);
    if (rv != 0) {
        err_printf(t->errmsg_, "listen: %s", uv_strerror(rv));
        return WR_IOERR;
    }
    t->listener_.data = t;
    t->listener_state_ = LISTENER_OPEN;
    rv = uv_tcp_bind(&t->listener_, (const struct sockaddr *)&addr, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&t->listener_, 128, listen_cb);
    }
    if (rv != 0) {
        /* libuv reports EADDRINUSE from bind or, deferred, from listen. */
        err_printf(t->errmsg_, "listen on %s: %s", address, uv_strerror(rv));
        t->listener_state_ = LISTENER_CLOSING;
        uv_close((uv_handle_t *)&t->listener_, listener_close_cb);
        return rv == UV_EADDRINUSE ? WR_BUSY : WR_IOERR;
    }
    period = t->config_.handshake_timeout_ms / 4;
    if (period == 0) {
        period = 1;
    }
    uv_timer_start(&t->sweep_, sweep_cb, period, period);
    /* Connections in their handshake keep the loop alive, not the sweep. */
    uv_unref((uv_handle_t *)&t->sweep_);
    return 0;
}

static void listener_close_cb(uv_handle_t *handle)
{
    struct transport *t = handle->data;
    t->listener_state_ = LISTENER_CLOSED;
    maybe_finish_close(t);
}

static void timer_close_cb(uv_handle_t *handle)
{
    struct transport *t = handle->data;
    t->handles_open_--;
    if (t->handles_open_ == 0) {
        transport_close_cb cb = t->close_cb_;
        t->closed_ = true;
        if (cb != NULL) {
            cb(t);
        }
    }
}

/* Called after anything that may complete a close: fires the raft side's
 * callback when its dials are gone, and closes the timers (then fires the
 * transport's callback) when everything is. */
static void maybe_finish_close(struct transport *t)
{
    maybe_fire_raft_close(t);
    if (!t->closing_ || t->closed_ || t->handles_open_ != 2) {
        return;
    }
    if (t->listener_state_ == LISTENER_OPEN ||
        t->listener_state_ == LISTENER_CLOSING) {
        return;
    }
    if (t->incoming_ != NULL || t->n_aborting_ != 0 || t->reject_busy_) {
        return;
    }
    if (t->raft_state_ == RAFT_SIDE_INIT ||
        t->raft_state_ == RAFT_SIDE_CLOSING) {
        return;
    }
    uv_close((uv_handle_t *)&t->sweep_, timer_close_cb);
    uv_close((uv_handle_t *)&t->defer_, timer_close_cb);
}

void transport_close(struct transport *t, transport_close_cb cb)
{
    if (t->closing_) {
        return;
    }
    t->closing_ = true;
    t->close_cb_ = cb;
    uv_timer_stop(&t->sweep_);
    while (t->incoming_ != NULL) {
        incoming_abort(t->incoming_);
    }
    if (t->listener_state_ == LISTENER_OPEN) {
        t->listener_state_ = LISTENER_CLOSING;
        uv_close((uv_handle_t *)&t->listener_, listener_close_cb);
    }
    /* Asynchronous in every case: the deferral timer checks. */
    uv_timer_start(&t->defer_, defer_cb, 0, 0);
}

const char *transport_errmsg(const struct transport *t)
{
    return t->errmsg_;
}

const struct transport_stats *transport_stats(const struct transport *t)
{
    return &t->stats_;
}
