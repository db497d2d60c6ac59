/*
 * Preallocating raft_uv's log segments with written zeros.
 *
 * raft_uv 0.15 prepares each open segment (8 MiB) with posix_fallocate()
 * (UvFsAllocateFile(), src/uv_fs.c), which on ext4 and xfs leaves
 * *unwritten* extents. Every append then writes into them with O_DIRECT,
 * O_DSYNC and RWF_NOWAIT through kernel AIO (src/uv_writer.c), and a write
 * that must convert an unwritten extent, or that starts in the block it
 * partly wrote before and ends in a fresh one (every append does), cannot
 * be done without blocking: the kernel completes it with EAGAIN and raft_uv
 * resubmits it on the libuv thread pool, where a thread waits for it. On
 * this project's machine nearly every append went that way (1,620 of 1,629
 * in an strace of the leader): two thread hand-offs per append per node,
 * and a journal commit inside each synchronous write.
 *
 * libraft2 is a shared library and calls glibc's posix_fallocate(), so
 * walraftd defines it: once prealloc_start() was called, the range is
 * filled with zeros by ordinary writes instead (what glibc itself does on
 * file systems without fallocate, and what raft_uv's own emulation does),
 * so the blocks are written and later appends overwrite them: the AIO write
 * completes without the thread pool and without a metadata commit. The
 * file's size and content (zeros) are what posix_fallocate() gives; the
 * cost is writing each segment's 8 MiB once more, on the thread pool while
 * the segment is being prepared, ahead of need. Errors are returned as
 * posix_fallocate() does (an errno value, ENOSPC included).
 *
 * SQLite does not call posix_fallocate() with walraft's settings (only
 * with SQLITE_FCNTL_CHUNK_SIZE, which we never set), so only raft_uv's
 * files are affected. Before prealloc_start(), and in every other program
 * that links this file, the call goes to glibc unchanged.
 */
#ifndef WR_NODE_PREALLOC_H
#define WR_NODE_PREALLOC_H

/* From now on, posix_fallocate() writes zeros. */
void prealloc_start(void);

/* Ranges posix_fallocate() filled with zeros so far (tests). */
unsigned long prealloc_count(void);

#endif /* WR_NODE_PREALLOC_H */
