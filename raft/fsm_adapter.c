/*
 * The raft_fsm adapter (see fsm_adapter.h for the contract).
 *
 * Facts about libraft 0.15.0 this file relies on, checked in the v0.15.0
 * source (src/replication.c, src/snapshot.c, src/start.c, src/log.c,
 * src/fixture.c):
 *
 * - Index at apply time. replicationApply() walks
 *   `for (index = r->last_applied + 1; index <= r->commit_index; index++)`,
 *   calls applyCommand(r, index, &entry->buf) for RAFT_COMMAND entries only
 *   (barriers and configuration changes never reach the fsm) and sets
 *   r->last_applied = index only after apply returned 0. So the entry being
 *   applied is r->last_applied + 1. applyCommand() fires the proposing
 *   leader's raft_apply callback right after apply, with *result.
 *
 * - Term of the entry. No public function returns an entry's term. The
 *   buffer libraft passes to apply is &entry->buf of the entry in r->log,
 *   and struct raft_log (public in raft.h) is a circular buffer whose slot
 *   for index i is (front + i - 1 - offset) % size (log.c: locateEntry).
 *   entry_term() reads that slot and uses its term only if the slot's
 *   buffer is the very buffer being applied; otherwise it reports term 0.
 *
 * - Snapshot buffers (fsm version 2 and up). takeSnapshot() sets
 *   pending.index = r->last_applied and calls fsm->snapshot(&bufs, &n_bufs)
 *   on the loop thread. RAFT_BUSY is ignored ("retry next time"); any
 *   other error is returned by replicationApply() and can make the node
 *   unavailable, so this adapter answers RAFT_BUSY for every transient
 *   failure. On success the buffers are handed to io->snapshot_put(), which
 *   may read them from another thread until its callback. Whether the put
 *   succeeds or fails (takeSnapshotCb, putSnapshot), takeSnapshotClose()
 *   then calls fsm->snapshot_finalize(&bufs, &n_bufs) when it is set and
 *   the version is 2 or more, and frees nothing itself: the array and every
 *   base stay owned by the fsm, which releases them in snapshot_finalize.
 *   (With version 1, or a NULL snapshot_finalize, libraft would raft_free()
 *   each base and the array.) So the raft_buffer array built here is ours
 *   and is freed in finalize, together with fsm_snapshot_finalize().
 *
 * - Version 3: with snapshot_async set, takeSnapshot() calls it through
 *   io->async_work() (raft_uv: the libuv thread pool) after snapshot()
 *   succeeded, and only in that work's callback, on the loop, puts the
 *   snapshot (takeSnapshotDoneCb); a failed work or put still ends in
 *   takeSnapshotClose(). r->snapshot.pending.term stays set throughout, and
 *   replicationInstallSnapshot() refuses to install a snapshot meanwhile. So
 *   snapshot_cb() gathers the buffers on the loop and snapshot_async_cb()
 *   computes the pages' CRCs on the thread (fsm_snapshot_checksum()).
 *   raft_init() refuses an fsm of version 3 with snapshot_async unless
 *   io->version is 2 or more and io->async_work is set, and 0.15's raft_uv
 *   sets async_work (UvAsyncWork, uv_work.c) but declares version 1 (as
 *   does the fixture). takeSnapshot() reads fsm->version at each snapshot,
 *   so fsm_adapter_set_raft(), after raft_init(), turns version 3 on when
 *   the raft's io has async_work; until then the fsm is version 2 and
 *   snapshots are whole on the loop.
 *
 * - Restore buffer. fsm->restore(&snapshot->bufs[0]) is called with one
 *   buffer (snapshotRestore asserts n_bufs == 1) allocated with
 *   raft_malloc(). On success, libraft frees only the bufs array: "ownership
 *   [of the data buffer] has been transferred to the fsm", so restore must
 *   raft_free(buf->base). On failure libraft frees it itself
 *   (installSnapshotCb's discard path, snapshotDestroy() at start), so
 *   restore must not.
 *
 * - When snapshots are asked for, and what is kept. shouldTakeSnapshot()
 *   (replication.c) asks only from replicationApply(), after applying
 *   entries (commands, barriers or changes), when no snapshot is pending or
 *   being installed and last_applied - log.snapshot.last_index >=
 *   snapshot.threshold. takeSnapshotCb() calls logSnapshot(&r->log, index,
 *   r->snapshot.trailing), which frees the entries up to index - trailing,
 *   and only then takeSnapshotClose() (our snapshot_finalize); putSnapshot()
 *   hands the same r->snapshot.trailing to io->snapshot_put(), where 0 means
 *   "replace the whole log" (uv_snapshot.c). So a trailing count set with
 *   raft_set_snapshot_trailing() inside the snapshot hook governs both the
 *   memory and the segments kept for that snapshot, and must not be 0; and
 *   by finalize the log is already truncated, the moment to trim the heap.
 *
 * - An error returned by apply is retried forever (libraft.md section 3), so
 *   apply always returns 0 and sets *result = NULL (a result is only ever
 *   delivered on the proposing leader, and anything allocated elsewhere
 *   would leak).
 */
#include "fsm_adapter.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "../lib/crc32c.h"
#include "../lib/log.h"
#include "log_view.h"

static void default_fatal(void *arg, const char *msg)
{
    (void)arg;
    log_error("state machine: %s; stopping the node", msg);
    exit(1);
}

uint64_t fsm_adapter_hash(const void *buf, size_t len)
{
    /* CRC-32C of the bytes and their length: cheap enough to keep on in
     * the fault harness (about 2 GB/s), and enough to tell entries apart. */
    return (uint64_t)crc32c(0, buf, len) << 32 | (uint32_t)len;
}

/* Stop the node: remember why, then hand over to the hook. */
static void stop(struct fsm_adapter *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void stop(struct fsm_adapter *a, const char *fmt, ...)
{
    va_list ap;

    if (a->stopped_) {
        return;
    }
    a->stopped_ = true;
    va_start(ap, fmt);
    vsnprintf(a->fatal_msg_, sizeof a->fatal_msg_, fmt, ap);
    va_end(ap);
    a->config_.fatal(a->config_.fatal_arg, a->fatal_msg_);
}

/* Term of the entry at @index whose buffer libraft handed us as @buf, or 0. */
static raft_term entry_term(const struct raft *r,
                            raft_index index,
                            const struct raft_buffer *buf)
{
    const struct raft_entry *e = log_view_entry(&r->log, index);
    return e != NULL && &e->buf == buf ? e->term : 0;
}

static int apply_cb(struct raft_fsm *rf,
                    const struct raft_buffer *buf,
                    void **result)
{
    struct fsm_adapter *a = rf->data;
    char errmsg[WR_ERRMSG_SIZE];
    raft_index index = 0;
    raft_term term = 0;
    int rv;

    *result = NULL;
    if (a->stopped_) {
        return 0;
    }
    if (a->raft_ != NULL) {
        index = a->raft_->last_applied + 1;
        term = entry_term(a->raft_, index, buf);
        if (a->last_index_ != 0 && index <= a->last_index_) {
            stop(a,
                 "apply entry %llu: index already applied (last %llu)",
                 (unsigned long long)index,
                 (unsigned long long)a->last_index_);
            return 0;
        }
    }

    errmsg[0] = '\0';
    rv = fsm_apply(a->fsm_, buf->base, buf->len, errmsg);
    if (rv != 0) {
        stop(a,
             "apply entry %llu (term %llu, %zu bytes): %s: %s",
             (unsigned long long)index, (unsigned long long)term, buf->len,
             err_str(rv), errmsg);
        return 0;
    }
    a->last_index_ = index;
    if (a->raft_ != NULL) {
        a->last_command_at_ = a->raft_->io->time(a->raft_->io);
    }

    if (a->config_.on_applied != NULL) {
        a->config_.on_applied(a->config_.on_applied_arg, index, term,
                              fsm_adapter_hash(buf->base, buf->len));
    }
    if (a->config_.on_command != NULL) {
        a->config_.on_command(a->config_.on_command_arg, index, buf->base,
                              buf->len);
    }
    return 0;
}

static void add_db_size(void *arg, struct fsm_db *db)
{
    uint64_t *total = arg;
    struct stat st;

    if (stat(fsm_db_path(db), &st) == 0) {
        *total += (uint64_t)st.st_size;
    }
}

enum grant { GRANT_NO, GRANT_COST, GRANT_CAP, GRANT_IDLE };

/* Whether the policy grants a snapshot now, and by which rule. */
static enum grant policy_grants(const struct fsm_adapter *a,
                                const struct raft *r)
{
    const struct fsm_adapter_policy *p = &a->config_.policy;
    uint64_t bytes = fsm_log_bytes_since_snapshot(a->fsm_);
    uint64_t entries = r->last_applied - r->log.snapshot.last_index;
    uint64_t size = 0;

    if ((p->max_bytes != 0 && bytes >= p->max_bytes) ||
        (p->max_entries != 0 && entries >= p->max_entries)) {
        return GRANT_CAP;
    }
    if (p->idle_ms != 0 && bytes >= p->idle_bytes &&
        r->io->time(r->io) - a->last_command_at_ >= p->idle_ms) {
        return GRANT_IDLE;
    }
    if (bytes < p->min_bytes) {
        return GRANT_NO;
    }
    if (p->ratio_percent != 0) {
        /* One stat() per database, only past min_bytes: the hook runs after
         * every apply once `threshold` entries follow the last snapshot. */
        fsm_foreach_db(a->fsm_, add_db_size, &size);
        if (bytes * 100 < size * p->ratio_percent) {
            return GRANT_NO;
        }
    }
    return GRANT_COST;
}

/* The trailing count for a snapshot at r->last_applied: the most entries up
 * to it whose bytes fit in trailing_bytes, between 1 and trailing_entries.
 * Entries that arrived in one message (or were loaded from one write) share
 * one allocation, `batch`, freed when the last of them is: a count that cut
 * through a batch would keep all of it. So the count ends on a batch
 * boundary, and the bytes counted are those of whole batches. */
static unsigned trailing_for(const struct fsm_adapter *a, const struct raft *r)
{
    const struct fsm_adapter_policy *p = &a->config_.policy;
    raft_index last = r->last_applied;
    uint64_t bytes = 0;
    unsigned best = 0;
    unsigned n = 0;

    while (n < p->trailing_entries) {
        const struct raft_entry *e = log_view_entry(&r->log, last - n);
        const struct raft_entry *prev;
        if (e == NULL || bytes + e->buf.len > p->trailing_bytes) {
            break;
        }
        bytes += e->buf.len;
        n++;
        prev = log_view_entry(&r->log, last - n);
        if (e->batch == NULL || prev == NULL || prev->batch != e->batch) {
            best = n; /* Entries before this one are not in its batch. */
        }
    }
    return best > 0 ? best : 1;
}

static int snapshot_cb(struct raft_fsm *rf,
                       struct raft_buffer *bufs[],
                       unsigned *n_bufs)
{
    struct fsm_adapter *a = rf->data;
    const struct raft *r = a->raft_;
    char errmsg[WR_ERRMSG_SIZE];
    struct fsm_buf *fbufs;
    struct raft_buffer *rbufs;
    enum grant grant;
    unsigned n;
    unsigned i;
    int rv;

    *bufs = NULL;
    *n_bufs = 0;
    if (a->stopped_ || r == NULL || a->snap_fsm_bufs_ != NULL) {
        return RAFT_BUSY;
    }
    /* A snapshot taken now would carry a configuration that may never be
     * committed, labelled with the committed index (catalogue C9). */
    if (r->configuration_uncommitted_index != 0 ||
        r->configuration_index > r->last_applied) {
        a->stats_.refused_config++;
        return RAFT_BUSY;
    }
    grant = policy_grants(a, r);
    if (grant == GRANT_NO) {
        a->stats_.refused_policy++;
        return RAFT_BUSY;
    }

    errmsg[0] = '\0';
    rv = fsm_snapshot_start(a->fsm_, &fbufs, &n, errmsg);
    if (rv == WR_BUSY) {
        a->stats_.refused_fsm++;
        return RAFT_BUSY;
    }
    if (rv != 0) {
        /* Any other code would reach replicationApply()'s caller and could
         * make the node unavailable; a snapshot can wait. */
        log_warn("snapshot at %llu: %s: %s; will retry",
                 (unsigned long long)r->last_applied, err_str(rv), errmsg);
        return RAFT_BUSY;
    }

    rbufs = malloc((n > 0 ? n : 1) * sizeof *rbufs);
    if (rbufs == NULL) {
        fsm_snapshot_finalize(a->fsm_, fbufs, n);
        return RAFT_BUSY;
    }
    for (i = 0; i < n; i++) {
        rbufs[i].base = fbufs[i].base;
        rbufs[i].len = fbufs[i].len;
    }
    if (a->config_.policy.trailing_bytes != 0) {
        /* Read by libraft when this snapshot is stored (see the top). */
        a->stats_.last_trailing = trailing_for(a, r);
        raft_set_snapshot_trailing(a->raft_, a->stats_.last_trailing);
    }
    a->snap_fsm_bufs_ = fbufs;
    a->snap_n_bufs_ = n;
    a->snap_raft_bufs_ = rbufs;
    *bufs = rbufs;
    *n_bufs = n;
    a->stats_.snapshots_taken++;
    a->stats_.by_cap += grant == GRANT_CAP;
    a->stats_.by_idle += grant == GRANT_IDLE;
    return 0;
}

/* On libraft's thread (raft_io async_work), between snapshot_cb() and the
 * snapshot's put: only the snapshot's own memory is read and written. */
static int snapshot_async_cb(struct raft_fsm *rf,
                             struct raft_buffer *bufs[],
                             unsigned *n_bufs)
{
    struct fsm_adapter *a = rf->data;
    (void)bufs;
    (void)n_bufs;

    fsm_snapshot_checksum(a->fsm_);
    return 0;
}

const struct fsm_adapter_stats *fsm_adapter_stats(const struct fsm_adapter *a)
{
    return &a->stats_;
}

/* Give the heap's free pages back: glibc keeps freed log entries (a few
 * hundred KB each, sbrk'ed once its mmap threshold has grown) otherwise. */
static void trim(const struct fsm_adapter *a)
{
#ifdef __GLIBC__
    if (a->config_.policy.trim) {
        malloc_trim(0);
    }
#else
    (void)a;
#endif
}

static void release_snapshot(struct fsm_adapter *a)
{
    if (a->snap_raft_bufs_ == NULL) {
        return;
    }
    fsm_snapshot_finalize(a->fsm_, a->snap_fsm_bufs_, a->snap_n_bufs_);
    free(a->snap_raft_bufs_);
    a->snap_fsm_bufs_ = NULL;
    a->snap_raft_bufs_ = NULL;
    a->snap_n_bufs_ = 0;
}

static int snapshot_finalize_cb(struct raft_fsm *rf,
                                struct raft_buffer *bufs[],
                                unsigned *n_bufs)
{
    struct fsm_adapter *a = rf->data;

    if (*bufs != a->snap_raft_bufs_) {
        /* Not the snapshot we handed out: leave it alone. */
        log_warn("snapshot finalize: unknown buffers, ignored");
        return 0;
    }
    release_snapshot(a);
    *bufs = NULL;
    *n_bufs = 0;
    /* libraft has already truncated the log (takeSnapshotCb). */
    trim(a);
    return 0;
}

static int restore_cb(struct raft_fsm *rf, struct raft_buffer *buf)
{
    struct fsm_adapter *a = rf->data;
    char errmsg[WR_ERRMSG_SIZE];
    int rv;

    if (a->stopped_) {
        return RAFT_SHUTDOWN; /* libraft frees the buffer. */
    }
    errmsg[0] = '\0';
    rv = fsm_restore(a->fsm_, buf->base, buf->len, errmsg);
    if (rv != 0) {
        /* A snapshot we cannot load would be sent again and again; stop the
         * node instead, as for a command. */
        stop(a, "restore snapshot (%zu bytes): %s: %s", buf->len,
             err_str(rv), errmsg);
        return rv == WR_CORRUPT ? RAFT_CORRUPT : RAFT_IOERR;
    }
    raft_free(buf->base);
    buf->base = NULL;
    a->stats_.restores++;
    trim(a);
    /* libraft sets last_applied to the snapshot's index after we return, and
     * applies from the entry after it. */
    a->last_index_ = 0;
    return 0;
}

void fsm_adapter_init(struct fsm_adapter *a,
                      struct fsm *f,
                      const struct fsm_adapter_config *config)
{
    memset(a, 0, sizeof *a);
    a->fsm_ = f;
    if (config != NULL) {
        a->config_ = *config;
    }
    if (a->config_.fatal == NULL) {
        a->config_.fatal = default_fatal;
        a->config_.fatal_arg = NULL;
    }
    a->raft_fsm.version = 2; /* 3 once the raft is known: see the top. */
    a->raft_fsm.data = a;
    a->raft_fsm.apply = apply_cb;
    a->raft_fsm.snapshot = snapshot_cb;
    a->raft_fsm.restore = restore_cb;
    a->raft_fsm.snapshot_finalize = snapshot_finalize_cb;
    a->raft_fsm.snapshot_async = NULL;
}

void fsm_adapter_set_raft(struct fsm_adapter *a, struct raft *r)
{
    a->raft_ = r;
    if (r != NULL && r->io != NULL) {
        a->last_command_at_ = r->io->time(r->io);
        if (r->io->async_work != NULL) {
            a->raft_fsm.version = 3;
            a->raft_fsm.snapshot_async = snapshot_async_cb;
        }
    }
}

void fsm_adapter_last_command(const struct fsm_adapter *a,
                              raft_index *index,
                              raft_time *at)
{
    *index = a->last_index_;
    *at = a->last_command_at_;
}

void fsm_adapter_close(struct fsm_adapter *a)
{
    release_snapshot(a);
}

bool fsm_adapter_stopped(const struct fsm_adapter *a)
{
    return a->stopped_;
}

const char *fsm_adapter_fatal_msg(const struct fsm_adapter *a)
{
    return a->fatal_msg_;
}

struct fsm_adapter *fsm_adapter_from_raft_fsm(struct raft_fsm *rf)
{
    return rf->data;
}
