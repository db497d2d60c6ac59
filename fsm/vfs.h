/*
 * The walraft SQLite VFS: main database files on disk, WAL and wal-index in
 * memory, and the three verbs the state machine needs (ARCHITECTURE.md
 * section 3):
 *
 *   capture  when a connection commits, its frames are set apart as the
 *            pending transaction, hidden from every reader, and the WAL write
 *            lock is kept on SQLite's behalf until the entry is settled;
 *   publish  (apply on the node that captured it) the pending frames become
 *            committed and visible;
 *   append   (apply anywhere else) pages from a command are appended as
 *            frames built locally, and the wal-index is invalidated so the
 *            next reader rebuilds it from the WAL;
 *   abort    the pending frames are dropped.
 *
 * Only stock SQLite is needed. The VFS relies on all SQLite work of a node
 * happening on one thread: between SQLite's commit and the moment the write
 * lock is released nothing else may touch the database.
 *
 * One VFS is registered per node (tests run several nodes in one process).
 * Databases are identified by the full path of their main file.
 */
#ifndef WR_FSM_VFS_H
#define WR_FSM_VFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VFS_PAGE_SIZE 4096

struct vfs;
struct vfs_db;

/* Create and register (not as default) a VFS named @name, delegating files it
 * does not own to SQLite's "unix" VFS. @seed seeds WAL salts and transaction
 * ids. Returns 0, WR_NOMEM or WR_IOERR. */
int vfs_create(const char *name, uint64_t node_id, uint64_t seed,
               struct vfs **out);

/* Unregister and free. Every connection using it must be closed. */
void vfs_destroy(struct vfs *v);

const char *vfs_name(const struct vfs *v);

/* The database whose main file is @path, or NULL if no connection opened it
 * yet. The handle lives until vfs_destroy() or vfs_db_forget(). */
struct vfs_db *vfs_db_lookup(struct vfs *v, const char *path);

const char *vfs_db_path(const struct vfs_db *db);

/* A captured transaction: its distinct pages in page-number order (the last
 * version of each), with pages beyond the commit size dropped. The pointers
 * stay valid until the transaction is published or aborted. */
struct vfs_tx {
    uint64_t id;
    uint32_t commit_size; /* Database size in pages after the commit. */
    unsigned n_pages;
    uint32_t *page_nos;   /* Owned: free with vfs_tx_close(). */
    const void **pages;   /* Owned array; pages belong to the WAL. */
};

/* True while @db has a pending transaction. */
bool vfs_pending(const struct vfs_db *db);

/* Describe @db's pending transaction. Returns 0, WR_NOTFOUND if none is
 * pending, or WR_NOMEM. */
int vfs_poll(struct vfs_db *db, struct vfs_tx *tx);
void vfs_tx_close(struct vfs_tx *tx);

/* Make pending transaction @tx_id committed and visible. Returns 0, or
 * WR_NOTFOUND if that transaction is not the pending one. */
int vfs_publish(struct vfs_db *db, uint64_t tx_id);

/* Drop pending transaction @tx_id; no-op if it is not the pending one. */
void vfs_abort(struct vfs_db *db, uint64_t tx_id);

/* Drop whatever transaction is pending (another leader's entry arrived). */
void vfs_abort_any(struct vfs_db *db);

/* Append @n pages (@page_nos, @pages contiguous) as a committed transaction
 * whose commit size is @commit_size, with frame headers computed locally.
 * A pending transaction must not exist. Returns 0 or WR_NOMEM (nothing
 * appended). */
int vfs_append(struct vfs_db *db,
               uint32_t commit_size,
               unsigned n,
               const uint32_t *page_nos,
               const void *pages);

/* Frames in the committed WAL. */
unsigned vfs_wal_frames(const struct vfs_db *db);

/* True when no connection holds any wal-index lock and nothing is pending:
 * a checkpoint or a wal-index reset is safe. */
bool vfs_idle(const struct vfs_db *db);

/* The committed view of @db, for snapshots: *@n_pages is the database size
 * in pages; (*@wal_pages)[pgno] (1 ≤ pgno ≤ n) points at the last committed
 * WAL version of that page, or is NULL if the page is only in the main file.
 * The array is malloc'ed and owned by the caller; the page pointers are valid
 * until the WAL is checkpointed or reset. Returns 0, WR_NOMEM or WR_IOERR. */
int vfs_committed(struct vfs_db *db,
                  uint32_t *n_pages,
                  const uint8_t ***wal_pages);

/* The committed version of each of @n pages of @db (@page_nos strictly
 * increasing), the bases of a delta command (command.h): *@base_size is
 * the committed database size in pages; bases[i] is NULL when page_nos[i]
 * is past it, else it points at the page's last committed WAL frame or at
 * a copy read from the main file into *@buf. A pending transaction is
 * ignored. *@buf is malloc'ed (NULL if nothing was read) and the caller's;
 * the pointers are valid until it is freed and the WAL changes. Returns 0,
 * WR_NOMEM or WR_IOERR (a page that should be in the file is not). */
int vfs_base_pages(struct vfs_db *db,
                   unsigned n,
                   const uint32_t *page_nos,
                   uint32_t *base_size,
                   const void **bases,
                   void **buf);

/* Forget @db's WAL and wal-index entirely, after its main file was replaced
 * (snapshot restore). No connection may be open on it. */
void vfs_db_reset(struct vfs_db *db);

#endif /* WR_FSM_VFS_H */
