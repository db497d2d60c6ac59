/*
 * The walraft VFS. See vfs.h for the verbs; this file is about how they map
 * onto SQLite 3.40's WAL code, which is used unpatched.
 *
 * Formats (SQLite's "WAL-mode file format" and the wal.c header comment):
 *
 *   WAL header, 32 bytes, big-endian:
 *     0 magic 0x377f0682 | (1 if checksums are big-endian)
 *     4 format version 3007000     8 page size     12 checkpoint sequence
 *    16 salt-1   20 salt-2   24 checksum-1   28 checksum-2 (of bytes 0..23)
 *   Frame header, 24 bytes, big-endian, followed by the page:
 *     0 page number
 *     4 for the last frame of a transaction, the database size in pages
 *       after it (the commit marker); otherwise 0
 *     8 salt-1  12 salt-2 (copied from the WAL header)
 *    16 checksum-1  20 checksum-2: cumulative over the WAL header's checksum,
 *       then bytes 0..7 of every frame header and every page so far
 *   wal-index header (shm region 0), native byte order, two copies of 48 bytes
 *   at offsets 0 and 48:
 *     0 version  4 unused  8 change counter  12 isInit  13 bigEndCksum
 *    14 page size  16 mxFrame (last valid frame)  20 nPage (db size)
 *    24 checksum of the last frame (2 × u32)  32 salts (2 × u32)
 *    40 checksum of bytes 0..39 (2 × u32)
 *
 * Capture. A committing connection writes its frames through xWrite (they
 * land after the committed frames), updates the wal-index header, then
 * releases the WAL write lock (xShmLock unlock of slot 0). At that unlock the
 * header's mxFrame tells whether it committed (mxFrame moved past our
 * committed frames) or rolled back (it did not: a cache spill followed by a
 * rollback, whose frames have no commit marker). A commit becomes the pending
 * transaction: we save SQLite's header, rewrite both copies to describe only
 * the committed frames (so every reader keeps seeing the state before it),
 * and keep the write lock held on SQLite's behalf so no other writer or
 * checkpoint can start. Frames past mxFrame (left over when a savepoint was
 * rolled back after a spill) are garbage and dropped.
 *
 * Publish restores SQLite's saved header and releases the lock: the hash
 * entries SQLite wrote for the frames are already in the wal-index. Abort
 * drops the frames and releases the lock; the stale hash entries past mxFrame
 * are cleaned by SQLite itself on the next append (walCleanupHash).
 *
 * Append (apply on nodes that did not capture the transaction) builds frame
 * headers with this node's salts and running checksum, then brings the
 * wal-index up to date the way SQLite's own commit does (walIndexAppend and
 * walIndexWriteHdr): a page-number entry and a hash slot per frame, then a
 * new header. The wal-index layout: 32 KiB blocks; block 0 starts with the
 * two header copies and the checkpoint info (136 bytes), then 4062 u32 page
 * numbers; every later block holds 4096; each block ends with 8192 u16 hash
 * slots keyed by (page number × 383) mod 8192 with linear probing, holding
 * the frame's index within the block. When the index is not in the expected
 * state (never built, a fresh WAL, stale slots left by an aborted
 * transaction), the header is marked invalid instead (isInit = 0 in both
 * copies) and the next reader rebuilds the index from the WAL with
 * walIndexRecover, which verifies every checksum. Recovery needs every lock
 * slot from the checkpoint lock up, so it must not be started while another
 * connection is inside a read transaction; the node never leaves a statement
 * open across an event-loop turn.
 */
#include "vfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../lib/byteorder.h"
#include "../lib/err.h"
#include "../lib/log.h"

#define WAL_HDR_SIZE 32
#define FRAME_HDR_SIZE 24
#define FRAME_SIZE (FRAME_HDR_SIZE + VFS_PAGE_SIZE)
#define WAL_MAGIC 0x377f0682u
#define WAL_VERSION 3007000u
#define WALINDEX_HDR_SIZE 48
#define WRITE_LOCK 0
#define WALINDEX_BLOCK 32768
#define WALINDEX_PREFIX 136 /* Two header copies and WalCkptInfo. */
#define HASH_NPAGE 4096
#define HASH_NPAGE_ONE (HASH_NPAGE - WALINDEX_PREFIX / 4)
#define HASH_NSLOT 8192

struct frame {
    uint8_t hdr[FRAME_HDR_SIZE];
    uint8_t page[VFS_PAGE_SIZE];
};

struct wal {
    uint8_t hdr[WAL_HDR_SIZE];
    bool has_hdr;
    struct frame **frames; /* [0, n_committed) committed, then written by a
                              transaction still in progress or pending. */
    unsigned n_committed;
    unsigned n_frames;
    unsigned cap;
    uint32_t ckpt_seq; /* For headers we write ourselves. */
    uint32_t salt1;
    /* latest[pgno] - 1: the index of a committed frame of page pgno,
     * written for every frame as it becomes committed and never cleared,
     * so an entry is trusted only if that frame is committed and holds
     * that page (then it is the last one: a later committed frame of the
     * page would have overwritten the entry). For the bases of delta
     * commands, without scanning the WAL. NULL with latest_broken after an
     * allocation failure: scan instead. */
    uint32_t *latest;
    uint32_t latest_cap;
    bool latest_broken;
};

struct shm {
    uint8_t **regions;
    unsigned n_regions;
    unsigned region_size;
    unsigned shared[SQLITE_SHM_NLOCK];
    unsigned exclusive[SQLITE_SHM_NLOCK];
};

struct vfs_db {
    struct vfs_db *next;
    struct vfs *vfs;
    char *path;
    unsigned n_open; /* Main-file handles. */
    struct wal wal;
    struct shm shm;
    bool pending;
    uint64_t tx_id;
    uint8_t tx_hdr[WALINDEX_HDR_SIZE]; /* SQLite's header for the commit. */
};

struct vfs {
    sqlite3_vfs base;
    sqlite3_vfs *unix;
    char *name;
    uint64_t node_id;
    uint64_t rng;
    uint32_t epoch;
    uint32_t tx_seq;
    struct vfs_db *dbs;
};

enum { FILE_MAIN = 1, FILE_WAL };

struct vfile {
    sqlite3_file base;
    int kind;
    struct vfs_db *db;
    sqlite3_file *real; /* FILE_MAIN: the "unix" file underneath. */
};

static uint64_t next_random(struct vfs *v)
{
    /* splitmix64: deterministic under a fixed seed, which tests rely on. */
    uint64_t z = (v->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t load32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void store32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, sizeof v);
}

/* SQLite's walChecksumBytes() for native byte order; @n is a multiple of 8. */
static void wal_checksum(const uint8_t *data, size_t n, uint32_t s[2])
{
    uint32_t s1 = s[0];
    uint32_t s2 = s[1];
    for (size_t i = 0; i < n; i += 8) {
        s1 += load32(data + i) + s2;
        s2 += load32(data + i + 4) + s1;
    }
    s[0] = s1;
    s[1] = s2;
}

static bool host_big_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 0;
}

/* ---------------------------------------------------------------------- */
/* The in-memory WAL. */

static void wal_drop_frames(struct wal *w, unsigned from)
{
    for (unsigned i = from; i < w->n_frames; i++) {
        free(w->frames[i]);
    }
    w->n_frames = from;
    if (w->n_committed > from) {
        w->n_committed = from;
    }
}

/* Frames [from, n_committed) just became committed: note them in
 * w->latest. */
static void wal_note_committed(struct wal *w, unsigned from)
{
    for (unsigned i = from; i < w->n_committed && !w->latest_broken; i++) {
        uint32_t pgno = get_be32(w->frames[i]->hdr);
        if (pgno >= w->latest_cap) {
            uint32_t cap = w->latest_cap == 0 ? 1024 : w->latest_cap;
            uint32_t *grown;
            while (cap <= pgno && cap < UINT32_MAX / 2) {
                cap *= 2;
            }
            grown = cap > pgno ? realloc(w->latest, (size_t)cap * 4) : NULL;
            if (grown == NULL) {
                free(w->latest);
                w->latest = NULL;
                w->latest_cap = 0;
                w->latest_broken = true;
                return;
            }
            memset(grown + w->latest_cap, 0,
                   (size_t)(cap - w->latest_cap) * 4);
            w->latest = grown;
            w->latest_cap = cap;
        }
        w->latest[pgno] = i + 1;
    }
}

/* The last committed frame of page @pgno, or NULL. */
static const struct frame *wal_latest(const struct wal *w, uint32_t pgno)
{
    if (w->latest_broken) {
        for (unsigned f = w->n_committed; f > 0; f--) {
            if (get_be32(w->frames[f - 1]->hdr) == pgno) {
                return w->frames[f - 1];
            }
        }
        return NULL;
    }
    if (pgno < w->latest_cap && w->latest[pgno] != 0) {
        uint32_t i = w->latest[pgno] - 1;
        if (i < w->n_committed && get_be32(w->frames[i]->hdr) == pgno) {
            return w->frames[i];
        }
    }
    return NULL;
}

static int wal_reserve(struct wal *w, unsigned n)
{
    if (w->n_frames + n <= w->cap) {
        return 0;
    }
    unsigned cap = w->cap != 0 ? w->cap : 64;
    while (cap < w->n_frames + n) {
        cap *= 2;
    }
    struct frame **frames = realloc(w->frames, cap * sizeof *frames);
    if (frames == NULL) {
        return WR_NOMEM;
    }
    w->frames = frames;
    w->cap = cap;
    return 0;
}

static uint64_t wal_size(const struct wal *w)
{
    return w->has_hdr ? WAL_HDR_SIZE + (uint64_t)w->n_frames * FRAME_SIZE : 0;
}

static void wal_last_checksum(const struct wal *w, unsigned n, uint32_t s[2])
{
    const uint8_t *src = n > 0 ? w->frames[n - 1]->hdr + 16 : w->hdr + 24;
    s[0] = get_be32(src);
    s[1] = get_be32(src + 4);
}

/* Write a fresh WAL header, as SQLite does after a checkpoint restart: next
 * checkpoint sequence, salt-1 incremented, salt-2 random. New salts make
 * every header that readers cached before differ from the next one. */
static void wal_start(struct vfs *v, struct wal *w)
{
    uint32_t s[2] = {0, 0};
    w->ckpt_seq++;
    w->salt1++;
    put_be32(w->hdr, WAL_MAGIC | (host_big_endian() ? 1u : 0u));
    put_be32(w->hdr + 4, WAL_VERSION);
    put_be32(w->hdr + 8, VFS_PAGE_SIZE);
    put_be32(w->hdr + 12, w->ckpt_seq);
    put_be32(w->hdr + 16, w->salt1);
    put_be32(w->hdr + 20, (uint32_t)next_random(v));
    wal_checksum(w->hdr, 24, s);
    put_be32(w->hdr + 24, s[0]);
    put_be32(w->hdr + 28, s[1]);
    w->has_hdr = true;
}

static int wal_read(struct wal *w, void *buf, int amt, sqlite3_int64 off)
{
    uint8_t *out = buf;
    uint64_t size = wal_size(w);
    uint64_t pos = (uint64_t)off;
    size_t left = (size_t)amt;

    while (left > 0 && pos < size) {
        const uint8_t *src;
        size_t avail;
        if (pos < WAL_HDR_SIZE) {
            src = w->hdr + pos;
            avail = WAL_HDR_SIZE - pos;
        } else {
            uint64_t i = (pos - WAL_HDR_SIZE) / FRAME_SIZE;
            uint64_t within = (pos - WAL_HDR_SIZE) % FRAME_SIZE;
            src = (const uint8_t *)w->frames[i] + within;
            avail = FRAME_SIZE - within;
        }
        size_t n = avail < left ? avail : left;
        memcpy(out, src, n);
        out += n;
        pos += n;
        left -= n;
    }
    if (left > 0) {
        memset(out, 0, left);
        return SQLITE_IOERR_SHORT_READ;
    }
    return SQLITE_OK;
}

static int wal_write(struct vfs_db *db, const void *buf, int amt,
                     sqlite3_int64 off)
{
    struct wal *w = &db->wal;

    if (off == 0) {
        if (amt != WAL_HDR_SIZE || get_be32((const uint8_t *)buf + 8) !=
                                       VFS_PAGE_SIZE) {
            return SQLITE_IOERR_WRITE;
        }
        if (w->n_committed > 0) {
            /* A WAL restart over committed frames: only happens after a
             * checkpoint that SQLite ran by itself, which walraft never
             * lets it do (wal_autocheckpoint=0, wal_checkpoint refused). */
            log_error("vfs: %s: WAL restart over %u committed frames refused",
                      db->path, w->n_committed);
            return SQLITE_IOERR_WRITE;
        }
        memcpy(w->hdr, buf, WAL_HDR_SIZE);
        w->has_hdr = true;
        w->ckpt_seq = get_be32(w->hdr + 12);
        w->salt1 = get_be32(w->hdr + 16);
        return SQLITE_OK;
    }
    if (off < WAL_HDR_SIZE || !w->has_hdr) {
        return SQLITE_IOERR_WRITE;
    }
    uint64_t i = ((uint64_t)off - WAL_HDR_SIZE) / FRAME_SIZE;
    uint64_t within = ((uint64_t)off - WAL_HDR_SIZE) % FRAME_SIZE;
    if (i < w->n_committed || i > w->n_frames ||
        within + (uint64_t)amt > FRAME_SIZE) {
        log_error("vfs: %s: WAL write at %lld (%d bytes) outside the open "
                  "transaction", db->path, (long long)off, amt);
        return SQLITE_IOERR_WRITE;
    }
    if (i == w->n_frames) {
        if (wal_reserve(w, 1) != 0) {
            return SQLITE_IOERR_NOMEM;
        }
        struct frame *fr = malloc(sizeof *fr);
        if (fr == NULL) {
            return SQLITE_IOERR_NOMEM;
        }
        memset(fr->hdr, 0, FRAME_HDR_SIZE);
        w->frames[w->n_frames++] = fr;
    }
    memcpy((uint8_t *)w->frames[i] + within, buf, (size_t)amt);
    return SQLITE_OK;
}

/* ---------------------------------------------------------------------- */
/* The wal-index and its locks. */

static uint8_t *shm_header(struct vfs_db *db)
{
    return db->shm.n_regions > 0 ? db->shm.regions[0] : NULL;
}

static void shm_write_header(struct vfs_db *db, const uint8_t hdr[48])
{
    uint8_t *h = shm_header(db);
    if (h == NULL) {
        return; /* No reader ever mapped it: nothing to describe. */
    }
    /* Copy 2 first, then copy 1, as walIndexWriteHdr() does. */
    memcpy(h + WALINDEX_HDR_SIZE, hdr, WALINDEX_HDR_SIZE);
    __sync_synchronize();
    memcpy(h, hdr, WALINDEX_HDR_SIZE);
}

/* Rewrite the wal-index header to describe the committed frames only. */
static void shm_hide_pending(struct vfs_db *db)
{
    struct wal *w = &db->wal;
    uint8_t h[WALINDEX_HDR_SIZE];
    uint32_t s[2] = {0, 0};

    memcpy(h, db->tx_hdr, sizeof h);
    store32(h + 16, w->n_committed);
    /* nPage 0 with an empty WAL means "the size of the main file". */
    store32(h + 20, w->n_committed > 0
                        ? get_be32(w->frames[w->n_committed - 1]->hdr + 4)
                        : 0);
    wal_last_checksum(w, w->n_committed, s);
    store32(h + 24, s[0]);
    store32(h + 28, s[1]);
    s[0] = s[1] = 0;
    wal_checksum(h, 40, s);
    store32(h + 40, s[0]);
    store32(h + 44, s[1]);
    shm_write_header(db, h);
}

static void shm_invalidate(struct vfs_db *db)
{
    uint8_t *h = shm_header(db);
    if (h != NULL) {
        h[12] = 0;
        h[WALINDEX_HDR_SIZE + 12] = 0;
    }
}

static int shm_map(struct vfs_db *db, int region, int size, int extend,
                   void volatile **out)
{
    struct shm *s = &db->shm;

    if (s->region_size == 0) {
        s->region_size = (unsigned)size;
    } else if (s->region_size != (unsigned)size) {
        return SQLITE_IOERR_SHMMAP;
    }
    if ((unsigned)region >= s->n_regions) {
        if (!extend) {
            *out = NULL;
            return SQLITE_OK;
        }
        uint8_t **regions =
            realloc(s->regions, ((size_t)region + 1) * sizeof *regions);
        if (regions == NULL) {
            return SQLITE_NOMEM;
        }
        s->regions = regions;
        while (s->n_regions <= (unsigned)region) {
            s->regions[s->n_regions] = calloc(1, s->region_size);
            if (s->regions[s->n_regions] == NULL) {
                return SQLITE_NOMEM;
            }
            s->n_regions++;
        }
    }
    *out = s->regions[region];
    return SQLITE_OK;
}

/* True if the wal-index header is valid and describes exactly the first @n
 * committed frames of the WAL, so frames can be indexed incrementally. */
static bool index_current(struct vfs_db *db, unsigned n)
{
    uint8_t *h = shm_header(db);
    uint32_t s[2] = {0, 0};

    if (h == NULL || db->shm.region_size != WALINDEX_BLOCK || n == 0 ||
        memcmp(h, h + WALINDEX_HDR_SIZE, WALINDEX_HDR_SIZE) != 0 ||
        h[12] != 1 || h[13] != (host_big_endian() ? 1 : 0) ||
        load32(h + 16) != n ||
        memcmp(h + 32, db->wal.hdr + 16, 8) != 0) {
        return false;
    }
    wal_checksum(h, 40, s);
    return s[0] == load32(h + 40) && s[1] == load32(h + 44);
}

/* Index frame @frame (1-based) holding page @pgno, as walIndexAppend()
 * does. Returns false when the block holds stale entries or is full of
 * collisions: then the caller lets SQLite rebuild the index. */
static bool index_append(struct vfs_db *db, uint32_t frame, uint32_t pgno)
{
    unsigned block = (frame + HASH_NPAGE - HASH_NPAGE_ONE - 1) / HASH_NPAGE;
    void volatile *region;
    uint32_t *pgnos;
    uint16_t *slots;
    uint32_t zero;

    if (shm_map(db, (int)block, WALINDEX_BLOCK, 1, &region) != SQLITE_OK) {
        return false;
    }
    pgnos = (uint32_t *)(uintptr_t)region;
    slots = (uint16_t *)(pgnos + HASH_NPAGE);
    if (block == 0) {
        pgnos += WALINDEX_PREFIX / 4;
        zero = 0;
    } else {
        zero = HASH_NPAGE_ONE + (block - 1) * HASH_NPAGE;
    }
    unsigned idx = frame - zero;
    if (idx == 1) {
        memset(pgnos, 0, (size_t)((uint8_t *)(slots + HASH_NSLOT) -
                                  (uint8_t *)pgnos));
    }
    if (pgnos[idx - 1] != 0) {
        return false;
    }
    unsigned key = (pgno * 383u) & (HASH_NSLOT - 1);
    for (unsigned collide = idx; slots[key] != 0;
         key = (key + 1) & (HASH_NSLOT - 1)) {
        if (collide-- == 0) {
            return false;
        }
    }
    pgnos[idx - 1] = pgno;
    slots[key] = (uint16_t)idx;
    return true;
}

/* Publish frames appended after @first: the header SQLite would write. */
static void index_publish(struct vfs_db *db)
{
    struct wal *w = &db->wal;
    uint8_t h[WALINDEX_HDR_SIZE];
    uint32_t s[2] = {0, 0};

    memcpy(h, shm_header(db), sizeof h);
    store32(h + 8, load32(h + 8) + 1);
    store32(h + 16, w->n_committed);
    store32(h + 20, get_be32(w->frames[w->n_committed - 1]->hdr + 4));
    wal_last_checksum(w, w->n_committed, s);
    store32(h + 24, s[0]);
    store32(h + 28, s[1]);
    s[0] = s[1] = 0;
    wal_checksum(h, 40, s);
    store32(h + 40, s[0]);
    store32(h + 44, s[1]);
    shm_write_header(db, h);
}

/* The connection that wrote frames released the WAL write lock. Returns true
 * if the lock must stay held because a transaction is now pending. */
static bool capture(struct vfs_db *db)
{
    struct wal *w = &db->wal;
    uint8_t *h = shm_header(db);
    uint32_t mx;

    if (w->n_frames == w->n_committed) {
        return false;
    }
    mx = h != NULL ? load32(h + 16) : 0;
    if (mx <= w->n_committed || mx > w->n_frames ||
        get_be32(w->frames[mx - 1]->hdr + 4) == 0) {
        if (mx > w->n_committed) {
            log_error("vfs: %s: wal-index mxFrame %u does not match %u "
                      "written frames; dropping them", db->path, mx,
                      w->n_frames);
        }
        wal_drop_frames(w, w->n_committed); /* Rolled back. */
        return false;
    }
    wal_drop_frames(w, mx);
    memcpy(db->tx_hdr, h, WALINDEX_HDR_SIZE);
    db->pending = true;
    db->tx_id = (db->vfs->node_id & 0xffff) << 48 |
                (uint64_t)(db->vfs->epoch & 0xffff) << 32 |
                ++db->vfs->tx_seq;
    shm_hide_pending(db);
    return true;
}

static int shm_lock(struct vfs_db *db, int ofst, int n, int flags)
{
    struct shm *s = &db->shm;

    if (ofst < 0 || n < 1 || ofst + n > SQLITE_SHM_NLOCK) {
        return SQLITE_IOERR_SHMLOCK;
    }
    if (flags & SQLITE_SHM_LOCK) {
        for (int i = ofst; i < ofst + n; i++) {
            if (s->exclusive[i] > 0 ||
                ((flags & SQLITE_SHM_EXCLUSIVE) && s->shared[i] > 0)) {
                return SQLITE_BUSY;
            }
        }
        for (int i = ofst; i < ofst + n; i++) {
            if (flags & SQLITE_SHM_EXCLUSIVE) {
                s->exclusive[i] = 1;
            } else {
                s->shared[i]++;
            }
        }
        return SQLITE_OK;
    }
    for (int i = ofst; i < ofst + n; i++) {
        if (flags & SQLITE_SHM_EXCLUSIVE) {
            if (i == WRITE_LOCK && capture(db)) {
                continue; /* Held on SQLite's behalf until settled. */
            }
            s->exclusive[i] = 0;
        } else if (s->shared[i] > 0) {
            s->shared[i]--;
        }
    }
    return SQLITE_OK;
}

/* ---------------------------------------------------------------------- */
/* sqlite3_io_methods for the main file (wrapping "unix") and the WAL. */

static int main_close(sqlite3_file *file)
{
    struct vfile *f = (struct vfile *)file;
    int rv = f->real->pMethods->xClose(f->real);
    sqlite3_free(f->real);
    f->db->n_open--;
    return rv;
}

static int main_read(sqlite3_file *file, void *buf, int amt, sqlite3_int64 off)
{
    struct vfile *f = (struct vfile *)file;
    return f->real->pMethods->xRead(f->real, buf, amt, off);
}

static int main_write(sqlite3_file *file, const void *buf, int amt,
                      sqlite3_int64 off)
{
    struct vfile *f = (struct vfile *)file;
    return f->real->pMethods->xWrite(f->real, buf, amt, off);
}

static int main_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    struct vfile *f = (struct vfile *)file;
    return f->real->pMethods->xTruncate(f->real, size);
}

static int main_sync(sqlite3_file *file, int flags)
{
    struct vfile *f = (struct vfile *)file;
    return f->real->pMethods->xSync(f->real, flags);
}

static int main_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    struct vfile *f = (struct vfile *)file;
    return f->real->pMethods->xFileSize(f->real, size);
}

static int main_lock(sqlite3_file *file, int lock)
{
    struct vfile *f = (struct vfile *)file;
    return f->real->pMethods->xLock(f->real, lock);
}

static int main_unlock(sqlite3_file *file, int lock)
{
    struct vfile *f = (struct vfile *)file;
    return f->real->pMethods->xUnlock(f->real, lock);
}

static int main_check_reserved(sqlite3_file *file, int *out)
{
    struct vfile *f = (struct vfile *)file;
    return f->real->pMethods->xCheckReservedLock(f->real, out);
}

/* Settings the replication depends on cannot be changed by SQL. */
static const char *pragma_refusal(const char *name, const char *value)
{
    if (strcasecmp(name, "journal_mode") == 0 && value != NULL &&
        strcasecmp(value, "wal") != 0) {
        return "walraft supports only journal_mode=WAL";
    }
    if (strcasecmp(name, "page_size") == 0 && value != NULL &&
        atoi(value) != VFS_PAGE_SIZE) {
        return "walraft uses a fixed page_size of 4096";
    }
    if (strcasecmp(name, "locking_mode") == 0 && value != NULL &&
        strcasecmp(value, "normal") != 0) {
        return "walraft supports only locking_mode=NORMAL";
    }
    if (strcasecmp(name, "wal_checkpoint") == 0) {
        return "checkpoints are run by walraft itself";
    }
    if (strcasecmp(name, "wal_autocheckpoint") == 0 && value != NULL &&
        atoi(value) != 0) {
        return "checkpoints are run by walraft itself";
    }
    return NULL;
}

static int main_file_control(sqlite3_file *file, int op, void *arg)
{
    struct vfile *f = (struct vfile *)file;

    switch (op) {
        case SQLITE_FCNTL_PRAGMA: {
            char **a = arg;
            const char *why = pragma_refusal(a[1], a[2]);
            if (why != NULL) {
                a[0] = sqlite3_mprintf("%s", why);
                return SQLITE_ERROR;
            }
            break;
        }
        case SQLITE_FCNTL_PERSIST_WAL:
            /* The WAL always persists: it lives as long as the node. */
            if (*(int *)arg < 0) {
                *(int *)arg = 1;
            }
            return SQLITE_OK;
        case SQLITE_FCNTL_COMMIT_PHASETWO:
            return SQLITE_OK; /* Captured already at the write-lock release. */
        default:
            break;
    }
    return f->real->pMethods->xFileControl(f->real, op, arg);
}

static int main_sector_size(sqlite3_file *file)
{
    struct vfile *f = (struct vfile *)file;
    return f->real->pMethods->xSectorSize(f->real);
}

static int main_device_characteristics(sqlite3_file *file)
{
    struct vfile *f = (struct vfile *)file;
    return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int main_shm_map(sqlite3_file *file, int region, int size, int extend,
                        void volatile **out)
{
    return shm_map(((struct vfile *)file)->db, region, size, extend, out);
}

static int main_shm_lock(sqlite3_file *file, int ofst, int n, int flags)
{
    return shm_lock(((struct vfile *)file)->db, ofst, n, flags);
}

static void main_shm_barrier(sqlite3_file *file)
{
    (void)file;
    __sync_synchronize();
}

static int main_shm_unmap(sqlite3_file *file, int delete_flag)
{
    /* The wal-index lives as long as the database in this VFS, like the
     * WAL, so it is not released with the last connection. */
    (void)file;
    (void)delete_flag;
    return SQLITE_OK;
}

static const sqlite3_io_methods main_methods = {
    .iVersion = 2,
    .xClose = main_close,
    .xRead = main_read,
    .xWrite = main_write,
    .xTruncate = main_truncate,
    .xSync = main_sync,
    .xFileSize = main_file_size,
    .xLock = main_lock,
    .xUnlock = main_unlock,
    .xCheckReservedLock = main_check_reserved,
    .xFileControl = main_file_control,
    .xSectorSize = main_sector_size,
    .xDeviceCharacteristics = main_device_characteristics,
    .xShmMap = main_shm_map,
    .xShmLock = main_shm_lock,
    .xShmBarrier = main_shm_barrier,
    .xShmUnmap = main_shm_unmap,
};

static int wal_file_close(sqlite3_file *file)
{
    (void)file;
    return SQLITE_OK;
}

static int wal_file_read(sqlite3_file *file, void *buf, int amt,
                         sqlite3_int64 off)
{
    return wal_read(&((struct vfile *)file)->db->wal, buf, amt, off);
}

static int wal_file_write(sqlite3_file *file, const void *buf, int amt,
                          sqlite3_int64 off)
{
    return wal_write(((struct vfile *)file)->db, buf, amt, off);
}

static int wal_file_truncate(sqlite3_file *file, sqlite3_int64 size)
{
    struct vfs_db *db = ((struct vfile *)file)->db;
    struct wal *w = &db->wal;

    if ((uint64_t)size >= wal_size(w)) {
        return SQLITE_OK;
    }
    if (size != 0 || db->pending) {
        log_error("vfs: %s: WAL truncation to %lld refused", db->path,
                  (long long)size);
        return SQLITE_IOERR_TRUNCATE;
    }
    /* A TRUNCATE checkpoint copied every frame into the main file. */
    wal_drop_frames(w, 0);
    w->has_hdr = false;
    return SQLITE_OK;
}

static int wal_file_sync(sqlite3_file *file, int flags)
{
    /* Durability is the Raft log's job. */
    (void)file;
    (void)flags;
    return SQLITE_OK;
}

static int wal_file_size(sqlite3_file *file, sqlite3_int64 *size)
{
    *size = (sqlite3_int64)wal_size(&((struct vfile *)file)->db->wal);
    return SQLITE_OK;
}

static int wal_file_lock(sqlite3_file *file, int lock)
{
    (void)file;
    (void)lock;
    return SQLITE_OK;
}

static int wal_file_check_reserved(sqlite3_file *file, int *out)
{
    (void)file;
    *out = 0;
    return SQLITE_OK;
}

static int wal_file_control(sqlite3_file *file, int op, void *arg)
{
    (void)file;
    (void)op;
    (void)arg;
    return SQLITE_NOTFOUND;
}

static int wal_file_sector_size(sqlite3_file *file)
{
    (void)file;
    return 512;
}

static int wal_file_device_characteristics(sqlite3_file *file)
{
    (void)file;
    return SQLITE_IOCAP_SEQUENTIAL | SQLITE_IOCAP_POWERSAFE_OVERWRITE;
}

static const sqlite3_io_methods wal_methods = {
    .iVersion = 1,
    .xClose = wal_file_close,
    .xRead = wal_file_read,
    .xWrite = wal_file_write,
    .xTruncate = wal_file_truncate,
    .xSync = wal_file_sync,
    .xFileSize = wal_file_size,
    .xLock = wal_file_lock,
    .xUnlock = wal_file_lock,
    .xCheckReservedLock = wal_file_check_reserved,
    .xFileControl = wal_file_control,
    .xSectorSize = wal_file_sector_size,
    .xDeviceCharacteristics = wal_file_device_characteristics,
};

/* ---------------------------------------------------------------------- */
/* sqlite3_vfs methods. */

struct vfs_db *vfs_db_lookup(struct vfs *v, const char *path)
{
    for (struct vfs_db *db = v->dbs; db != NULL; db = db->next) {
        if (strcmp(db->path, path) == 0) {
            return db;
        }
    }
    return NULL;
}

/* The database whose WAL is @name ("<main path>-wal"), if known. */
static struct vfs_db *lookup_wal(struct vfs *v, const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (n <= 4 || strcmp(name + n - 4, "-wal") != 0) {
        return NULL;
    }
    for (struct vfs_db *db = v->dbs; db != NULL; db = db->next) {
        if (strlen(db->path) == n - 4 && strncmp(db->path, name, n - 4) == 0) {
            return db;
        }
    }
    return NULL;
}

static struct vfs_db *db_get(struct vfs *v, const char *path)
{
    struct vfs_db *db = vfs_db_lookup(v, path);
    if (db != NULL) {
        return db;
    }
    db = calloc(1, sizeof *db);
    if (db == NULL) {
        return NULL;
    }
    db->path = strdup(path);
    if (db->path == NULL) {
        free(db);
        return NULL;
    }
    db->vfs = v;
    db->wal.salt1 = (uint32_t)next_random(v);
    db->next = v->dbs;
    v->dbs = db;
    return db;
}

static int vfs_open(sqlite3_vfs *base, const char *name, sqlite3_file *file,
                    int flags, int *out_flags)
{
    struct vfs *v = (struct vfs *)base;
    struct vfile *f = (struct vfile *)file;
    int rv;

    memset(f, 0, sizeof *f);
    if (name != NULL && (flags & SQLITE_OPEN_WAL)) {
        struct vfs_db *db = lookup_wal(v, name);
        if (db == NULL) {
            return SQLITE_CANTOPEN;
        }
        f->kind = FILE_WAL;
        f->db = db;
        f->base.pMethods = &wal_methods;
        if (out_flags != NULL) {
            *out_flags = flags;
        }
        return SQLITE_OK;
    }
    if (name == NULL || !(flags & SQLITE_OPEN_MAIN_DB)) {
        /* Journals, temp files: the real "unix" VFS, in place. */
        return v->unix->xOpen(v->unix, name, file, flags, out_flags);
    }
    struct vfs_db *db = db_get(v, name);
    if (db == NULL) {
        return SQLITE_NOMEM;
    }
    f->real = sqlite3_malloc(v->unix->szOsFile);
    if (f->real == NULL) {
        return SQLITE_NOMEM;
    }
    memset(f->real, 0, (size_t)v->unix->szOsFile);
    rv = v->unix->xOpen(v->unix, name, f->real, flags, out_flags);
    if (rv != SQLITE_OK) {
        sqlite3_free(f->real);
        f->real = NULL;
        return rv;
    }
    f->kind = FILE_MAIN;
    f->db = db;
    db->n_open++;
    f->base.pMethods = &main_methods;
    return SQLITE_OK;
}

static int vfs_delete(sqlite3_vfs *base, const char *name, int sync_dir)
{
    struct vfs *v = (struct vfs *)base;
    struct vfs_db *db = lookup_wal(v, name);
    if (db != NULL) {
        /* SQLite deletes the WAL of an empty database file. Ours has no
         * committed frames then; anything else would lose data. */
        if (db->wal.n_committed > 0 || db->pending) {
            log_error("vfs: %s: refusing to delete a WAL with frames",
                      db->path);
            return SQLITE_IOERR_DELETE;
        }
        wal_drop_frames(&db->wal, 0);
        db->wal.has_hdr = false;
        return SQLITE_OK;
    }
    return v->unix->xDelete(v->unix, name, sync_dir);
}

static int vfs_access(sqlite3_vfs *base, const char *name, int flags,
                      int *out)
{
    struct vfs *v = (struct vfs *)base;
    if (lookup_wal(v, name) != NULL) {
        *out = 1;
        return SQLITE_OK;
    }
    return v->unix->xAccess(v->unix, name, flags, out);
}

static int vfs_full_pathname(sqlite3_vfs *base, const char *name, int n,
                             char *out)
{
    struct vfs *v = (struct vfs *)base;
    return v->unix->xFullPathname(v->unix, name, n, out);
}

static void *vfs_dl_open(sqlite3_vfs *base, const char *name)
{
    struct vfs *v = (struct vfs *)base;
    return v->unix->xDlOpen(v->unix, name);
}

static void vfs_dl_error(sqlite3_vfs *base, int n, char *msg)
{
    struct vfs *v = (struct vfs *)base;
    v->unix->xDlError(v->unix, n, msg);
}

static void (*vfs_dl_sym(sqlite3_vfs *base, void *h, const char *sym))(void)
{
    struct vfs *v = (struct vfs *)base;
    return v->unix->xDlSym(v->unix, h, sym);
}

static void vfs_dl_close(sqlite3_vfs *base, void *h)
{
    struct vfs *v = (struct vfs *)base;
    v->unix->xDlClose(v->unix, h);
}

static int vfs_randomness(sqlite3_vfs *base, int n, char *out)
{
    struct vfs *v = (struct vfs *)base;
    return v->unix->xRandomness(v->unix, n, out);
}

static int vfs_sleep(sqlite3_vfs *base, int us)
{
    struct vfs *v = (struct vfs *)base;
    return v->unix->xSleep(v->unix, us);
}

static int vfs_current_time(sqlite3_vfs *base, double *out)
{
    struct vfs *v = (struct vfs *)base;
    return v->unix->xCurrentTime(v->unix, out);
}

static int vfs_get_last_error(sqlite3_vfs *base, int n, char *out)
{
    struct vfs *v = (struct vfs *)base;
    return v->unix->xGetLastError(v->unix, n, out);
}

static int vfs_current_time_int64(sqlite3_vfs *base, sqlite3_int64 *out)
{
    struct vfs *v = (struct vfs *)base;
    return v->unix->xCurrentTimeInt64(v->unix, out);
}

/* ---------------------------------------------------------------------- */
/* The verbs. */

int vfs_create(const char *name, uint64_t node_id, uint64_t seed,
               struct vfs **out)
{
    sqlite3_vfs *unix = sqlite3_vfs_find("unix");
    struct vfs *v;
    int rv;

    if (unix == NULL) {
        return WR_IOERR;
    }
    v = calloc(1, sizeof *v);
    if (v == NULL) {
        return WR_NOMEM;
    }
    v->name = strdup(name);
    if (v->name == NULL) {
        free(v);
        return WR_NOMEM;
    }
    v->unix = unix;
    v->node_id = node_id;
    v->rng = seed ^ (node_id * 0x9e3779b97f4a7c15ull);
    v->epoch = (uint32_t)next_random(v);
    v->base = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(struct vfile) > unix->szOsFile
                        ? (int)sizeof(struct vfile)
                        : unix->szOsFile,
        .mxPathname = unix->mxPathname,
        .zName = v->name,
        .pAppData = v,
        .xOpen = vfs_open,
        .xDelete = vfs_delete,
        .xAccess = vfs_access,
        .xFullPathname = vfs_full_pathname,
        .xDlOpen = vfs_dl_open,
        .xDlError = vfs_dl_error,
        .xDlSym = vfs_dl_sym,
        .xDlClose = vfs_dl_close,
        .xRandomness = vfs_randomness,
        .xSleep = vfs_sleep,
        .xCurrentTime = vfs_current_time,
        .xGetLastError = vfs_get_last_error,
        .xCurrentTimeInt64 = vfs_current_time_int64,
    };
    rv = sqlite3_vfs_register(&v->base, 0);
    if (rv != SQLITE_OK) {
        free(v->name);
        free(v);
        return WR_IOERR;
    }
    *out = v;
    return 0;
}

static void db_free(struct vfs_db *db)
{
    wal_drop_frames(&db->wal, 0);
    free(db->wal.frames);
    free(db->wal.latest);
    for (unsigned i = 0; i < db->shm.n_regions; i++) {
        free(db->shm.regions[i]);
    }
    free(db->shm.regions);
    free(db->path);
    free(db);
}

void vfs_destroy(struct vfs *v)
{
    if (v == NULL) {
        return;
    }
    sqlite3_vfs_unregister(&v->base);
    while (v->dbs != NULL) {
        struct vfs_db *db = v->dbs;
        v->dbs = db->next;
        if (db->n_open > 0) {
            log_error("vfs: %s: destroyed with %u open handles", db->path,
                      db->n_open);
        }
        db_free(db);
    }
    free(v->name);
    free(v);
}

const char *vfs_name(const struct vfs *v)
{
    return v->name;
}

const char *vfs_db_path(const struct vfs_db *db)
{
    return db->path;
}

bool vfs_pending(const struct vfs_db *db)
{
    return db->pending;
}

static int cmp_page(const void *a, const void *b)
{
    /* Sort (page number, frame index) pairs packed in a u64. */
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int vfs_poll(struct vfs_db *db, struct vfs_tx *tx)
{
    struct wal *w = &db->wal;
    unsigned n = w->n_frames - w->n_committed;
    uint64_t *order;

    memset(tx, 0, sizeof *tx);
    if (!db->pending) {
        return WR_NOTFOUND;
    }
    tx->id = db->tx_id;
    tx->commit_size = get_be32(w->frames[w->n_frames - 1]->hdr + 4);
    order = malloc(n * sizeof *order);
    tx->page_nos = malloc(n * sizeof *tx->page_nos);
    tx->pages = malloc(n * sizeof *tx->pages);
    if (order == NULL || tx->page_nos == NULL || tx->pages == NULL) {
        free(order);
        vfs_tx_close(tx);
        return WR_NOMEM;
    }
    /* A page may appear in several frames of one transaction (written,
     * spilled, written again); the last frame holds its final content.
     * Pages past the commit size were truncated away by the transaction. */
    for (unsigned i = 0; i < n; i++) {
        uint32_t pgno = get_be32(w->frames[w->n_committed + i]->hdr);
        order[i] = (uint64_t)pgno << 32 | i;
    }
    qsort(order, n, sizeof *order, cmp_page);
    for (unsigned i = 0; i < n; i++) {
        uint32_t pgno = (uint32_t)(order[i] >> 32);
        if (pgno == 0 || pgno > tx->commit_size ||
            (i + 1 < n && (uint32_t)(order[i + 1] >> 32) == pgno)) {
            continue;
        }
        tx->page_nos[tx->n_pages] = pgno;
        tx->pages[tx->n_pages] =
            w->frames[w->n_committed + (uint32_t)order[i]]->page;
        tx->n_pages++;
    }
    free(order);
    return 0;
}

void vfs_tx_close(struct vfs_tx *tx)
{
    free(tx->page_nos);
    free(tx->pages);
    memset(tx, 0, sizeof *tx);
}

int vfs_publish(struct vfs_db *db, uint64_t tx_id)
{
    if (!db->pending || db->tx_id != tx_id) {
        return WR_NOTFOUND;
    }
    unsigned from = db->wal.n_committed;
    db->wal.n_committed = db->wal.n_frames;
    wal_note_committed(&db->wal, from);
    shm_write_header(db, db->tx_hdr);
    db->pending = false;
    db->shm.exclusive[WRITE_LOCK] = 0;
    return 0;
}

void vfs_abort_any(struct vfs_db *db)
{
    if (!db->pending) {
        return;
    }
    wal_drop_frames(&db->wal, db->wal.n_committed);
    db->pending = false;
    db->shm.exclusive[WRITE_LOCK] = 0;
}

void vfs_abort(struct vfs_db *db, uint64_t tx_id)
{
    if (db->pending && db->tx_id == tx_id) {
        vfs_abort_any(db);
    }
}

int vfs_append(struct vfs_db *db,
               uint32_t commit_size,
               unsigned n,
               const uint32_t *page_nos,
               const void *pages)
{
    struct wal *w = &db->wal;
    uint32_t s[2];
    unsigned first;

    if (db->pending) {
        return WR_BUSY;
    }
    /* Frames of a transaction that never committed cannot be left over:
     * nothing runs between SQLite's rollback and its unlock. */
    wal_drop_frames(w, w->n_committed);
    if (wal_reserve(w, n) != 0) {
        return WR_NOMEM;
    }
    first = w->n_frames;
    for (unsigned i = 0; i < n; i++) {
        struct frame *fr = malloc(sizeof *fr);
        if (fr == NULL) {
            wal_drop_frames(w, first);
            return WR_NOMEM;
        }
        memcpy(fr->page, (const uint8_t *)pages + (size_t)i * VFS_PAGE_SIZE,
               VFS_PAGE_SIZE);
        w->frames[w->n_frames++] = fr;
    }
    bool incremental = index_current(db, first);
    if (first == 0) {
        wal_start(db->vfs, w);
    }
    wal_last_checksum(w, first, s);
    for (unsigned i = first; i < w->n_frames; i++) {
        struct frame *fr = w->frames[i];
        put_be32(fr->hdr, page_nos[i - first]);
        put_be32(fr->hdr + 4, i + 1 == w->n_frames ? commit_size : 0);
        memcpy(fr->hdr + 8, w->hdr + 16, 8);
        wal_checksum(fr->hdr, 8, s);
        wal_checksum(fr->page, VFS_PAGE_SIZE, s);
        put_be32(fr->hdr + 16, s[0]);
        put_be32(fr->hdr + 20, s[1]);
        incremental = incremental && index_append(db, i + 1, page_nos[i - first]);
    }
    w->n_committed = w->n_frames;
    wal_note_committed(w, first);
    if (incremental) {
        index_publish(db);
    } else {
        shm_invalidate(db);
    }
    return 0;
}

unsigned vfs_wal_frames(const struct vfs_db *db)
{
    return db->wal.n_committed;
}

bool vfs_idle(const struct vfs_db *db)
{
    if (db->pending) {
        return false;
    }
    for (int i = 0; i < SQLITE_SHM_NLOCK; i++) {
        if (db->shm.shared[i] > 0 || db->shm.exclusive[i] > 0) {
            return false;
        }
    }
    return true;
}

/* The committed database size in pages: the commit size of the last
 * committed frame, or, with an empty WAL, the main file's size (a complete
 * checkpoint truncates the file to the database size, and a restore writes
 * exactly that many pages). */
static int committed_size(struct vfs_db *db, uint32_t *n_pages)
{
    struct wal *w = &db->wal;
    struct stat st;

    if (w->n_committed > 0) {
        *n_pages = get_be32(w->frames[w->n_committed - 1]->hdr + 4);
        return 0;
    }
    if (stat(db->path, &st) != 0) {
        if (errno == ENOENT) {
            *n_pages = 0;
            return 0;
        }
        return WR_IOERR;
    }
    *n_pages = (uint32_t)(st.st_size / VFS_PAGE_SIZE);
    return 0;
}

int vfs_base_pages(struct vfs_db *db,
                   unsigned n,
                   const uint32_t *page_nos,
                   uint32_t *base_size,
                   const void **bases,
                   void **buf)
{
    struct wal *w = &db->wal;
    unsigned wanted = 0;
    unsigned found = 0;
    uint8_t *copies;
    int fd;
    int rv;

    *buf = NULL;
    rv = committed_size(db, base_size);
    if (rv != 0) {
        return rv;
    }
    /* Frames past the committed ones (a pending transaction) are not
     * looked at. */
    for (unsigned i = 0; i < n; i++) {
        const struct frame *fr = NULL;
        bases[i] = NULL;
        if (page_nos[i] > *base_size) {
            continue;
        }
        wanted++;
        fr = wal_latest(w, page_nos[i]);
        if (fr != NULL) {
            bases[i] = fr->page;
            found++;
        }
    }
    if (found == wanted) {
        return 0;
    }
    copies = malloc((size_t)(wanted - found) * VFS_PAGE_SIZE);
    if (copies == NULL) {
        return WR_NOMEM;
    }
    fd = open(db->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        free(copies);
        return WR_IOERR;
    }
    rv = 0;
    for (unsigned i = 0, k = 0; i < n && rv == 0; i++) {
        uint8_t *page = copies + (size_t)k * VFS_PAGE_SIZE;
        if (bases[i] != NULL || page_nos[i] > *base_size) {
            continue;
        }
        if (pread(fd, page, VFS_PAGE_SIZE,
                  (off_t)(page_nos[i] - 1) * VFS_PAGE_SIZE) != VFS_PAGE_SIZE) {
            log_error("vfs: %s: page %u of %u is neither in the WAL nor in "
                      "the file", db->path, page_nos[i], *base_size);
            rv = WR_IOERR;
        }
        bases[i] = page;
        k++;
    }
    close(fd);
    if (rv != 0) {
        free(copies);
        return rv;
    }
    *buf = copies;
    return 0;
}

int vfs_committed(struct vfs_db *db,
                  uint32_t *n_pages,
                  const uint8_t ***wal_pages)
{
    struct wal *w = &db->wal;
    uint32_t n;
    const uint8_t **map;

    if (w->n_committed > 0) {
        n = get_be32(w->frames[w->n_committed - 1]->hdr + 4);
    } else {
        struct stat st;
        if (stat(db->path, &st) != 0) {
            return WR_IOERR;
        }
        n = (uint32_t)(st.st_size / VFS_PAGE_SIZE);
    }
    map = calloc((size_t)n + 1, sizeof *map);
    if (map == NULL) {
        return WR_NOMEM;
    }
    for (unsigned i = 0; i < w->n_committed; i++) {
        uint32_t pgno = get_be32(w->frames[i]->hdr);
        if (pgno >= 1 && pgno <= n) {
            map[pgno] = w->frames[i]->page;
        }
    }
    *n_pages = n;
    *wal_pages = map;
    return 0;
}

void vfs_db_reset(struct vfs_db *db)
{
    vfs_abort_any(db);
    wal_drop_frames(&db->wal, 0);
    db->wal.has_hdr = false;
    for (unsigned i = 0; i < db->shm.n_regions; i++) {
        memset(db->shm.regions[i], 0, db->shm.region_size);
    }
    memset(db->shm.shared, 0, sizeof db->shm.shared);
    memset(db->shm.exclusive, 0, sizeof db->shm.exclusive);
}
