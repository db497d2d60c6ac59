/*
 * Watching raft_uv for the storage errors it swallows (raft/README.md,
 * U11).
 *
 * raft_uv 0.15 closes a full open segment in a worker thread: it truncates
 * open-N to what was written and renames it to its index range. When that
 * fails, and when unlinking segments for a truncation or syncing the
 * directory fails, it only sets a flag and traces a message; nothing calls
 * back. The node runs on with a disk that no longer matches its memory,
 * and the damage shows at the next start: a stale open-N loaded after
 * later closed segments, its entries numbered anew past them with the
 * term they were written in, or a start that fails on "closed segment ...
 * past last snapshot". Caught at once, before another segment is closed,
 * the stale open-N still follows the last closed segment and loads in its
 * place.
 *
 * So the watch is a raft_tracer (raft_uv_set_tracer()) that recognises
 * those messages and stops the process there and then, from whichever
 * thread traced them: @on_fatal, else a log line and _exit(1), without
 * running exit handlers while the loop thread goes on. Other messages go
 * to the debug log.
 *
 * libraft formats every message into one static buffer shared by all
 * threads (src/tracing.h), so a message can in principle be overwritten
 * while read; the watch copies a fatal one before it reports it.
 */
#ifndef WR_RAFT_UV_WATCH_H
#define WR_RAFT_UV_WATCH_H

#include <stdbool.h>

#include <raft.h>

struct uv_watch {
    struct raft_tracer tracer;
    /* Called with the message instead of exiting (tests); NULL: exit. */
    void (*on_fatal)(void *arg, const char *msg);
    void *on_fatal_arg;
};

/* Set @w up; then raft_uv_set_tracer(io, &w->tracer). */
void uv_watch_init(struct uv_watch *w);

/* Whether raft_uv @message reports a storage error that it swallows. */
bool uv_watch_is_fatal(const char *message);

#endif /* WR_RAFT_UV_WATCH_H */
