/*
 * Destroying raft_uv's kernel AIO contexts off the event loop.
 *
 * raft_uv 0.15 gives every open log segment its own AIO context
 * (io_setup() in UvWriterInit(), src/uv_writer.c) and destroys it on the
 * loop thread when the segment is closed (UvOsIoDestroy() in
 * uvWriterCleanUpAndFireCloseCb()). io_destroy(2) waits for an RCU grace
 * period and then for every request of the context: 25 to 40 ms on this
 * project's machines, on every node, at every segment rollover (8 MiB of
 * log, about 1,200 single-row writes). The leader's loop does nothing else
 * meanwhile, so one write in a thousand waited that long (issue 7: p99.9 of
 * 30-40 ms with one writer; dqlite 1.11 shows the same io_destroy times).
 * Upstream has not changed this (canonical/raft master, uv_writer.c).
 *
 * libraft makes its AIO system calls through glibc's syscall(3) (src/
 * syscall.c: io_setup, io_destroy, io_submit, io_getevents), and libraft2
 * is a shared library, so walraftd defines syscall() itself: an
 * io_destroy is handed to one helper thread and reported as done at once;
 * every other call goes to glibc's syscall() unchanged. What makes this
 * safe: raft_uv closes the segment's file before it destroys the context
 * and never uses the context again; the only io_destroy whose result
 * raft_uv checks is the one in its start-up probe (uv_fs.c), which runs
 * before aio_reaper_start(). Delaying the destroy delays only the release
 * of the kernel's context, bounded by the queue below (when it is full
 * the call is made on the caller's thread, as before).
 *
 * Only walraftd starts the reaper; until then (and in every other program
 * that links this file) the wrapper forwards everything.
 */
#ifndef WR_NODE_AIO_REAPER_H
#define WR_NODE_AIO_REAPER_H

/* Start the helper thread; from now on io_destroy(2) made through
 * syscall(3) returns 0 at once and happens on that thread. Returns 0, or
 * an errno value if the thread cannot be started (then every call keeps
 * going straight to the kernel). Idempotent. */
int aio_reaper_start(void);

/* Destroy every context still queued, then stop and join the thread.
 * io_destroy is synchronous again afterwards. Idempotent. */
void aio_reaper_stop(void);

/* Contexts handed to the thread so far, and those destroyed (tests). */
unsigned long aio_reaper_deferred(void);
unsigned long aio_reaper_reaped(void);

#endif /* WR_NODE_AIO_REAPER_H */
