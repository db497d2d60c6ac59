/*
 * One TCP port per node for Raft and the client protocol (ARCHITECTURE.md
 * section 5), as a `struct raft_uv_transport` that raft_uv drives, plus the
 * dispatcher API the node drives.
 *
 * The node owns the one listener (transport_listen()). Every accepted
 * connection first sends dqlite's protocol version word and one message
 * header (raft/transport.c describes the bytes). A connection whose version
 * is 1 and whose first message is CONNECT (type 11: peer id and address) is
 * a Raft peer: its body is read and checked, and the stream goes to
 * raft_uv's accept callback. Any other first message goes to the client
 * callback (transport_set_client_cb()). A connection that sends an unknown
 * version, an absurd CONNECT, or not enough bytes within the handshake
 * timeout is closed.
 *
 * Outbound, the transport's connect dials the peer's IPv4 literal
 * "a.b.c.d:port", writes the version and a CONNECT with our id and address,
 * then hands the stream to raft_uv.
 *
 * Lifetimes: transport_init() before raft_uv_init(io, loop, dir,
 * &t->raft); raft_init() then calls the transport's init, raft_start() its
 * listen, raft_close() its close. transport_listen() may come before or after
 * raft_start(): until raft_uv listens (and after it closed), CONNECT
 * connections are closed. transport_close() may be called at any time; its
 * callback fires once the listener and every connection still in its
 * handshake are closed and the raft side is closed too (or raft_uv never
 * initialised it). Only then may @t be freed.
 *
 * Everything runs on the loop's thread.
 */
#ifndef WR_RAFT_TRANSPORT_H
#define WR_RAFT_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "../lib/err.h"

/* Bytes a connection sends before the dispatcher decides: the protocol
 * version word and the first message header. */
#define TRANSPORT_HEAD_SIZE 16

/* Longest peer address accepted in a CONNECT or given to init, NUL
 * excluded ("255.255.255.255:65535" is 21). */
#define TRANSPORT_MAX_ADDRESS 255

struct transport;

/* A client connection. @stream (a uv_tcp_t allocated with raft_malloc())
 * becomes the callee's: it is not reading; the callee starts reading, and
 * eventually uv_close()s it and raft_free()s it in the close callback.
 * @head holds the TRANSPORT_HEAD_SIZE bytes already read from it: the
 * version word (PROTO_VERSION or PROTO_VERSION_LEGACY) and the first
 * message's header; that message's body is the next thing on the stream.
 * @head is valid only during the call. */
typedef void (*transport_client_cb)(struct transport *t,
                                    uv_stream_t *stream,
                                    const uint8_t *head,
                                    void *arg);

typedef void (*transport_close_cb)(struct transport *t);

struct transport_config {
    /* A connection that has not sent its whole handshake (head, and the
     * CONNECT body for a peer) within this many milliseconds is closed.
     * 0: 5000. */
    unsigned handshake_timeout_ms;
    /* Connections in their handshake at once; more are closed at accept.
     * 0: 256. */
    unsigned max_handshakes;
};

/* What the dispatcher did, for tests and diagnostics. */
struct transport_stats {
    unsigned long long accepted;      /* Connections accepted. */
    unsigned long long to_raft;       /* Handed to raft_uv. */
    unsigned long long to_client;     /* Handed to the client callback. */
    unsigned long long refused;       /* Closed: bad version, absurd or
                                         malformed CONNECT, no taker, too
                                         many handshakes. */
    unsigned long long timed_out;     /* Closed: handshake too slow. */
    unsigned long long hung_up;       /* The peer closed it (or an error)
                                         during its handshake. */
    unsigned long long dialed;        /* Outbound handshakes completed. */
    unsigned long long dial_failed;   /* Outbound attempts that failed. */
};

struct tr_incoming; /* Private (transport.c). */
struct tr_dial;     /* Private (transport.c). */

/* Caller-allocated; it must stay at the same address until the callback of
 * transport_close() has fired. */
struct transport {
    /* Hand &t->raft to raft_uv_init(). Its data field belongs to raft_uv
     * (raft_uv_init() and raft_init() overwrite it); impl points to @t. */
    struct raft_uv_transport raft;
    void *data; /* The caller's. */
    /* Private. */
    uv_loop_t *loop_;
    struct transport_config config_;
    uv_tcp_t listener_;
    uv_timer_t sweep_;  /* Handshake timeouts. */
    uv_timer_t defer_;  /* Fires the raft side's close callback. */
    uv_tcp_t reject_;   /* Accepts and closes a connection we cannot
                           take (out of memory). */
    bool reject_busy_;
    int listener_state_; /* 0 none, 1 open, 2 closing, 3 closed. */
    int raft_state_;     /* 0 never, 1 initialised, 2 closing, 3 closed. */
    int handles_open_;   /* sweep_ and defer_ until the final close. */
    bool closing_;
    bool closed_;
    transport_close_cb close_cb_;
    transport_client_cb client_cb_;
    void *client_arg_;
    raft_uv_accept_cb accept_cb_;
    raft_uv_transport_close_cb raft_close_cb_;
    raft_id id_;
    char address_[TRANSPORT_MAX_ADDRESS + 1];
    struct tr_incoming *incoming_; /* In their handshake. */
    unsigned n_incoming_;
    unsigned n_aborting_;          /* Incoming connections being closed. */
    struct tr_dial *dials_;        /* Outbound, until their callback. */
    struct transport_stats stats_;
    char errmsg_[WR_ERRMSG_SIZE];
};

/* Set up @t on @loop. No reference to @config is kept; NULL gives the
 * defaults. Returns 0 (it cannot fail today; callers check anyway). Then
 * transport_close() must be called before @t goes. */
int transport_init(struct transport *t,
                   uv_loop_t *loop,
                   const struct transport_config *config);

/* Where connections that are not Raft peers go. Without one they are
 * closed. @arg is passed back; no other reference is kept. */
void transport_set_client_cb(struct transport *t,
                             transport_client_cb cb,
                             void *arg);

/* Bind and listen on @address, an IPv4 literal "a.b.c.d:port" (no
 * reference kept). Returns 0; WR_INVALID for a malformed address or a
 * second call; WR_BUSY if the address is in use (EADDRINUSE); WR_IOERR for
 * another bind or listen failure. On error nothing is listening and
 * transport_errmsg() says why; the transport can still be closed. */
int transport_listen(struct transport *t, const char *address);

/* Stop listening, close every connection still in its handshake, and fire
 * @cb (may be NULL) once that is done and the raft side is closed as well
 * (raft_close() on the raft instance using it, if any). Handed-over
 * streams are not touched: they belong to raft_uv or the client code. */
void transport_close(struct transport *t, transport_close_cb cb);

/* The last error, as a sentence. */
const char *transport_errmsg(const struct transport *t);

/* Counters; valid while @t is. */
const struct transport_stats *transport_stats(const struct transport *t);

/* Parse an IPv4 literal "a.b.c.d:port" (port 1..65535, nothing else). Returns
 * 0 or WR_INVALID. */
int transport_parse_address(const char *address, struct sockaddr_in *out);

#endif /* WR_RAFT_TRANSPORT_H */
