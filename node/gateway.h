/*
 * Client connections: dqlite's wire protocol, version 1 (proto/wire.h), on
 * the node's one port (the transport hands them over after the first
 * header).
 *
 * One request at a time per connection, as in dqlite: the connection stops
 * reading while a request is served and resumes once its response (all the
 * ROWS messages of a result set) is written; only an INTERRUPT is read
 * while ROWS are being streamed. Writes go to the group-commit queue, reads
 * run at once on the executor; the choice is made by sqlite3_stmt_readonly()
 * over every statement, never by the request type. gateway.c documents the
 * answers that differ from dqlite 1.11 (transactions, zero-column queries,
 * definite/indefinite errors).
 *
 * Everything runs on the node's loop thread.
 */
#ifndef WR_NODE_GATEWAY_H
#define WR_NODE_GATEWAY_H

#include <stdint.h>

#include <uv.h>

struct node;
struct gateway;

/* Create the gateway of @n; it reads node_config(@n) now (limits,
 * max_connections, max_statements) and calls the node's functions later.
 * Returns 0 or WR_NOMEM. */
int gateway_create(struct node *n, struct gateway **out);

/* The transport's client callback body: take over @stream (a uv_tcp_t from
 * raft_malloc(), not reading) whose first TRANSPORT_HEAD_SIZE bytes @head
 * were already read (version word, first header); the stream is closed and
 * raft_free()d by the gateway. No reference to @head is kept. */
void gateway_accept(struct gateway *g, uv_stream_t *stream, const uint8_t *head);

/* Close every client connection and refuse new ones (closed at once); @cb(arg)
 * fires once every connection's handle is closed (inside the call if there
 * is none). A connection still waiting for a callback of the node (a
 * membership change, a write) keeps its small record until that fires; the
 * node's queue_destroy()/exec_destroy() answer writes synchronously. */
void gateway_close(struct gateway *g, void (*cb)(void *arg), void *arg);

/* Free the gateway. Call after gateway_close()'s callback fired (or before
 * any connection was accepted). Connection records still waiting for a node
 * callback then free themselves when it fires. */
void gateway_destroy(struct gateway *g);

/* Connections open. */
unsigned gateway_connections(const struct gateway *g);

/* Linearizable reads this node, as a follower, sent to the leader without
 * asking for a read index first (@direct), and those it served, as the
 * leader, on a follower's vouch (@vouched), since it started. */
void gateway_read_stats(const struct gateway *g,
                        uint64_t *direct,
                        uint64_t *vouched);

/* Serve the requests that wait for a bookmark this node has now applied,
 * or whose wait is over. The node calls it after every loop turn. */
void gateway_poll(struct gateway *g);

/* Roll back interactive transactions idle for longer than the node's
 * tx_timeout_ms, or all of them if the node is no longer ready. The node
 * calls it from its periodic timer. */
void gateway_tick(struct gateway *g);

#endif /* WR_NODE_GATEWAY_H */
