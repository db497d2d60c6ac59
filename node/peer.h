/*
 * Client-protocol connections from this node to the other nodes: how a
 * leader asks the voters to confirm a read-index round (CONFIRM), how a
 * follower asks the leader for a read index (READ_INDEX), and how a
 * follower forwards writes and WEAK or STRONG reads to the leader, on the
 * same port and protocol as any client (proto/wire.h).
 *
 * Connections are opened on first use and reused. Without a database, one
 * connection per peer carries every request, pipelined and answered in
 * order (a node serves the requests of a connection one at a time). With a
 * database (opened with OPEN when the connection is made), a request goes
 * on an idle connection to that peer and database, or a new one, up to
 * PEER_MAX_LINKS; so forwarded writes still meet in the leader's group
 * commit. When a connection breaks, or its oldest request has waited
 * longer than its timeout, the connection is closed and every request on
 * it fails.
 *
 * Everything runs on the node's loop thread.
 */
#ifndef WR_NODE_PEER_H
#define WR_NODE_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "../lib/err.h"
#include "../proto/wire.h"

struct peer_req;

#define PEER_MAX_LINKS 64

/* One message of the answer to @req: status 0 with @resp decoded as the
 * kind the request expects, or as FAILURE/FAILURE_EXT (the peer refused
 * it), and @raw the whole message as received (@raw_len bytes, header
 * included); or an error (WR_IOERR: the connection broke or timed out;
 * WR_CORRUPT...: the answer could not be decoded; WR_SHUTDOWN) with @resp
 * and @raw NULL and @errmsg set. A ROWS or ROWS_EXT message ending in
 * PROTO_ROWS_PART is followed by another call for the same request; any
 * other call is the last. @resp and @raw point into the connection's
 * buffer: valid during the callback only. */
typedef void (*peer_cb)(struct peer_req *req,
                        int status,
                        const struct proto_response *resp,
                        const uint8_t *raw,
                        size_t raw_len,
                        const char *errmsg);

/* Caller-allocated; valid until its callback fired. */
struct peer_req {
    void *data;
    peer_cb cb;
    /* Private. */
    int expect_;
    uint64_t deadline_;
    unsigned timeout_ms_;
    struct peer_req *next_;
};

struct peers;

/* Connections of the node whose loop is @loop; a request waits at most
 * @timeout_ms for its answer. Returns 0 or WR_NOMEM. */
int peers_create(uv_loop_t *loop,
                 unsigned timeout_ms,
                 struct peers **out);

/* Send @r to node @id at @address (IPv4 "a.b.c.d:port"), on a connection
 * that opened database @db (NULL: none), and call @req's callback with its
 * answer, decoded as @expect (a PROTO_RESP_* kind). The answer must come
 * within @timeout_ms (0: the default given to peers_create()). The
 * callback fires later, once per message of the answer, unless this
 * returns an error (WR_NOMEM, WR_INVALID for a bad address or request,
 * WR_SHUTDOWN): then it never fires. No reference to @r, @address or @db is
 * kept. */
int peers_send(struct peers *p,
               uint64_t id,
               const char *address,
               const char *db,
               const struct proto_request *r,
               int expect,
               unsigned timeout_ms,
               struct peer_req *req,
               char *errmsg);

/* Fail the requests that waited longer than the timeout (closing their
 * connections). Call periodically. */
void peers_tick(struct peers *p);

/* Close every connection; every request still waiting fails with
 * WR_SHUTDOWN (inside this call). @cb(@arg) fires once every handle is
 * closed (possibly inside the call). Then peers_destroy(). */
void peers_close(struct peers *p, void (*cb)(void *arg), void *arg);

void peers_destroy(struct peers *p);

#endif /* WR_NODE_PEER_H */
