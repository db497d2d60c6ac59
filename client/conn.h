/*
 * A blocking connection to one walraft node, speaking the client protocol
 * (proto/wire.h): what the `walraft` command and the integration tests use
 * to talk to nodes. libwalraft will be built on it.
 *
 * One request at a time: conn_request() sends one message and reads the
 * answer. Every wait is bounded by the connection's timeout; a timeout or a
 * broken stream leaves the connection unusable (close it). A FAILURE answer
 * leaves it usable.
 *
 * A connection is used by one thread at a time.
 */
#ifndef WR_CLIENT_CONN_H
#define WR_CLIENT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../lib/buf.h"
#include "../lib/err.h"
#include "../proto/wire.h"

struct conn;

/* Connect to @address (IPv4 "a.b.c.d:port", or "host:port" resolved with
 * getaddrinfo) within @timeout_ms, and send the protocol version. The same
 * timeout then bounds every later send and receive. On success *@out is the
 * caller's (release with conn_close()). Returns 0, WR_INVALID (bad address),
 * WR_IOERR (cannot connect: @errmsg says why) or WR_NOMEM. */
int conn_open(const char *address,
              unsigned timeout_ms,
              struct conn **out,
              char *errmsg);

void conn_close(struct conn *c);

/* Bound every later exchange on @c by @timeout_ms instead of the timeout
 * given to conn_open() (libwalraft connects and requests with different
 * timeouts). */
void conn_set_timeout(struct conn *c, unsigned timeout_ms);

/* Send @req and read one response, decoded as @expect (a PROTO_RESP_* kind,
 * or PROTO_RESP_ANY). *@resp points into the connection's buffer and is
 * valid until the next call on @c. Returns:
 *   0           *@resp is the expected kind;
 *   WR_SQL      the node answered FAILURE or FAILURE_EXT: *@resp holds
 *               it (code, message, and for FAILURE_EXT the definite flag
 *               and bookmark) and @errmsg is "<message> (code N)"; the
 *               connection is still usable;
 *   WR_IOERR    the connection broke or timed out (close it);
 *   WR_CORRUPT, WR_TOOBIG, WR_UNSUPPORTED  the answer could not be decoded
 *               (close it);
 *   WR_INVALID, WR_NOMEM  the request could not be encoded (nothing sent).
 */
int conn_request(struct conn *c,
                 const struct proto_request *req,
                 int expect,
                 struct proto_response *resp,
                 char *errmsg);

/* Read one more response without sending anything: the next ROWS message
 * after one that ended with PROTO_ROWS_PART. Same returns. */
int conn_next(struct conn *c,
              int expect,
              struct proto_response *resp,
              char *errmsg);

/* Whether @c can still carry a request: false if it is broken, or if the
 * node has closed it (or sent something unasked) since the last answer.
 * Checked without waiting, so that a client can tell a connection that
 * died while idle, where a request would certainly not arrive, from one
 * that dies with a request in flight. */
bool conn_alive(struct conn *c);

/* The address given to conn_open(). */
const char *conn_address(const struct conn *c);

/*
 * Helpers over conn_request() for the common exchanges. They return the
 * same codes; on WR_SQL *@code (when not NULL) is the FAILURE code.
 */

/* Ask @c's node who leads: *@id (0 if unknown) and @address (a buffer of
 * @size bytes; "" if unknown). */
int conn_leader(struct conn *c,
                uint64_t *id,
                char *address,
                size_t size,
                char *errmsg);

/* Connect to the leader of the cluster reachable through any of @addresses
 * (comma-separated): ask each in turn who leads and connect there; retry
 * until @deadline_ms milliseconds have passed (a cluster in an election has
 * no leader for a moment). Returns 0 with *@out connected to the leader, or
 * WR_IOERR / WR_NOTLEADER (no leader found in time) with @errmsg set. */
int conn_open_leader(const char *addresses,
                     unsigned timeout_ms,
                     unsigned deadline_ms,
                     struct conn **out,
                     char *errmsg);

/* The STATUS document of @c's node (proto/wire.h, type 120), copied with
 * malloc() into *@json (the caller frees it). */
int conn_status(struct conn *c, char **json, char *errmsg);

#endif /* WR_CLIENT_CONN_H */
