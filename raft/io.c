/*
 * The raft_io decorator of io.h. What it relies on in libraft 0.15.0 (tag
 * v0.15.0 of canonical/raft, identical to Debian's libraft-dev 0.15.0-1;
 * the package is built with NDEBUG, so none of the asserts quoted in those
 * files runs):
 *
 *  - src/raft.c, raft_init(): `r->io = io; r->io->data = r;`, then
 *    io->init(). Nothing else in the core keeps the raft_io pointer: every
 *    call goes through r->io (election.c, membership.c, raft.c, recv*.c,
 *    replication.c, start.c, tick.c), so replacing r->io before raft_start()
 *    puts the decorator under every call. The core's tick, recv and close
 *    callbacks find the instance through `io->data` of whatever raft_io they
 *    are given (tick.c tickCb, recv.c recvCb, raft.c ioCloseCb).
 *  - src/start.c, raft_start(): io->load(), then restoreEntries() sets
 *    r->last_stored to the last loaded index, then io->start(). So at start
 *    the persisted tail is r->last_stored and its term.
 *  - src/replication.c: io->append() is called from appendLeader() and
 *    replicationAppend() only, each time with the entries that end the
 *    in-memory log (both append them with logAppend() first, then
 *    logAcquire() from the first new index to the end). So the first index
 *    of an append is the in-memory last index minus n, plus one.
 *  - src/replication.c, deleteConflictingEntries(): io->truncate(index) is
 *    called before logTruncate(), so the entry at index - 1 is still in the
 *    in-memory log when the decorator looks up its term.
 *  - src/replication.c, replicationInstallSnapshot(): an install is
 *    snapshot_put(trailing 0); at most one snapshot_put is in flight
 *    (r->snapshot.put).
 *  - Follower replies (struct raft_append_entries_result: term, rejected,
 *    last_log_index): recv_append_entries.c sends the synchronous one from
 *    inside recv (last_log_index = r->last_stored when nothing new had to be
 *    written); replication.c appendFollowerCb() sends one from inside the
 *    append callback (last_log_index = r->last_stored, taken at completion,
 *    after the term may have changed) and installSnapshotCb() one from
 *    inside the snapshot_put callback; recv_install_snapshot.c answers an
 *    InstallSnapshot whose entries it already has with last_log_index =
 *    args->last_index, whether or not they are persisted (C8). The async
 *    ones address r->follower_state.current_leader, a union member that is
 *    garbage unless r->state == RAFT_FOLLOWER (C6). The synchronous ones are
 *    addressed to the inbound message's sender; a candidate or leader sends
 *    one only from the `reply:` path of a lower-term message (a refusal with
 *    its own term): recvAppendEntries() turns a same-term candidate into a
 *    follower before replicationAppend().
 *  - A reply cannot be dropped by failing io->send(): recvAppendEntries()
 *    frees the AppendEntries' entries before sending its reply and returns
 *    the send's error, and recv.c recvMessage() then frees them again on any
 *    non-zero code (double free, found by this file's tests under ASan). So
 *    a dropped reply is accepted (send returns 0) and its callback fires
 *    later, with RAFT_NOCONNECTION, from the next tick or at close, as a
 *    lost connection's would. The callbacks of all three reply senders
 *    (recvSendAppendEntriesResultCb, sendAppendEntriesResultCb,
 *    installSnapshotSendCb) only free the request.
 *  - src/election.c electionSend() fills struct raft_request_vote
 *    last_log_index/last_log_term from logLastIndex()/logLastTerm() of the
 *    in-memory log (C5); pre-vote requests too.
 *  - src/replication.c replicationUpdate() (reached from
 *    recv_append_entries_result.c for a leader) calls
 *    replicationQuorum(r, r->last_stored), which commits by counting
 *    match_index with no check of the entry's term (C1). Results carry no
 *    heap memory, so dropping one inbound is just returning.
 *  - src/recv_request_vote.c: a refused pre-vote is answered with
 *    result->term = args->term, not the refuser's current_term; and
 *    src/recv_request_vote_result.c makes a candidate in pre-vote bump its
 *    term (and step down) only when result->term > current_term + 1. So a
 *    candidate whose term is two or more behind its voters never learns
 *    their term from pre-votes (P1). Reporting the voter's real, higher term
 *    in a refusal is what Figure 3.1 prescribes for any response.
 *  - src/replication.c replicationInstallSnapshot(): an InstallSnapshot
 *    older than the follower's own snapshot is a no-op answered from
 *    recv_install_snapshot.c with last_log_index = args->last_index; the
 *    leader's replicationUpdate() returns early when progressMaybeUpdate()
 *    finds nothing new, so a progress in snapshot mode stays there until
 *    install_snapshot_timeout, then probes with a prev_log_index inside the
 *    follower's snapshot, which checkLogMatchingProperty() rejects
 *    (logTermOf() is 0 below the snapshot), and sends the same snapshot
 *    again: P3, for good until the leader takes a newer snapshot.
 *    An AppendEntries with prev_log_index below the follower's snapshot is
 *    refused the same way, and with prev_log_index 0 deleteConflictingEntries()
 *    stops at the first entry (logTermOf() 0), replicationAppend() appends
 *    all entries after the last one, logAcquire() from prev + 1 finds none,
 *    and the error path logTruncate()s from below the log's start (P3 too).
 *    All of this is unchanged in v0.18.1.
 *  - src/recv_append_entries.c: a leader that receives an AppendEntries of
 *    its own term (possible only with two leaders in one term) writes
 *    follower_state over leader_state (recvUpdateLeader()); recv.c frees a
 *    dropped message's entries with entryBatchesDestroy() (each distinct
 *    batch, then the array) and an InstallSnapshot's conf and data.
 *  - src/replication.c appendFollowerCb(), 867-883: after
 *    updateLastStored(), `if (i == 0 || r->state != RAFT_FOLLOWER) goto
 *    out;` comes before the loop that calls membershipUncommittedChange()
 *    for each RAFT_CHANGE entry written. An append issued as a follower
 *    (replicationAppend(); recv_append_entries.c turns a candidate, and a
 *    leader of a lower term, into a follower first) that completes after
 *    the server turned candidate never makes its change the configuration,
 *    and nothing later does: applyChange() (replication.c 1369-1380) only
 *    moves configuration_index (and clears a matching
 *    configuration_uncommitted_index); a follower adopts only in
 *    appendFollowerCb(); start.c restores the last change only at start
 *    (P4). A follower turns candidate only in tick.c tickFollower(), when
 *    electionTimerExpired() (election.c: now - r->election_timer_start >=
 *    follower_state.randomized_election_timeout, all public in raft.h),
 *    and in recv_timeout_now.c recvTimeoutNow() (start.c maybeSelfElect()
 *    runs before any append). Adopting the change afterwards instead is not
 *    open to the decorator: a candidate's candidate_state.votes array is
 *    sized by the voters of r->configuration at election start (convert.c
 *    convertToCandidate(), election.c electionTally() indexes it by the
 *    current configuration) and a leader's progress array by its servers
 *    (client.c calls the internal progressRebuildArray() when they change).
 *    Upstream fixed P4 the way the decorator does (634cb11, "Don't convert
 *    to candidate while entries are being persisted", after v0.15.0):
 *    tickFollower() resets the election timer while a follower append is in
 *    flight. recv.c frees nothing of a TimeoutNow message.
 *  - src/replication.c deleteConflictingEntries() (reached from
 *    recv_append_entries.c recvAppendEntries() -> replicationAppend()):
 *    for the first entry of an AppendEntries whose index has a local term
 *    (logTermOf() != 0) different from its own, not committed, it calls
 *    src/membership.c membershipRollback() if
 *    configuration_uncommitted_index >= that index, before io->truncate().
 *    membershipRollback() closes r->configuration, decodes
 *    logGet(&r->log, r->configuration_index) into it (no NULL check: the
 *    asserts are compiled out) and sets configuration_uncommitted_index to
 *    0; nothing else. logGet() (log.c locateEntry()) is NULL for an index
 *    outside offset + 1 .. the last index, so once a snapshot (own, or
 *    installed) has compacted the committed configuration entry the
 *    rollback dereferences NULL (C9). It is the only caller. What runs
 *    first, all mirrored by the decorator: recvEnsureMatchingTerms()
 *    (lower term: refused), a candidate (or, after a term bump, anyone)
 *    converted to follower (convert.c: convertToFollower() leaves the
 *    configuration alone), recvUpdateLeader(), the entries ignored while
 *    replicationInstallSnapshotBusy() (r->last_stored == 0 &&
 *    r->snapshot.put.data != NULL, all public), replicationAppend()'s
 *    checkLogMatchingProperty() (prev_log_index 0 passes; else logTermOf()
 *    of it must be non-zero and equal prev_log_term), then the conflict
 *    loop, which stops at the first index without a local term. So the
 *    decorator can roll back first, the way membershipRollback() does, and
 *    the core's check then finds nothing uncommitted.
 *    include/raft.h documents, for configuration_uncommitted_index == 0,
 *    that r->configuration matches the entry at configuration_index; the
 *    core keeps that: start.c (configuration_index set with the restored
 *    configuration), snapshot.c snapshotRestore() (both from the snapshot;
 *    a mark the snapshot covers is cleared by P5 below), client.c
 *    clientChangeConfiguration() and membership.c
 *    membershipUncommittedChange() (each sets the mark with the new
 *    configuration; raft_assign() edits r->configuration in place first,
 *    but outside tick and recv, so between the decorator's looks the mark
 *    is set), replication.c applyChange() (moves configuration_index to a
 *    committed change, clearing the mark only for that change). The copy is
 *    therefore taken, from tick and recv and after completions, whenever no
 *    change is pending and configuration_index moved; if the
 *    configuration_index a rollback needs is not the copy's (a follower
 *    that adopted a second change before the first was applied), the
 *    decorator does nothing. Under P4 (with HOLD_CANDIDACY off) and after a
 *    restart with an uncommitted change in the log, the invariant holds as
 *    0.15 sees it, and the copy is what its rollback would decode.
 *  - raft_uv (src/uv_append.c) completes pending appends with RAFT_CANCELED
 *    when closed; that is not a storage error.
 *  - The raft_log fields (entries, size, front, back, offset,
 *    snapshot.last_index/last_term) are public in include/raft.h; log.c's
 *    logTermOf() returns the snapshot's term at its index, 0 outside the
 *    log, else the entry's term. log_term() below mirrors it.
 */
#include "io.h"
#include "log_view.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"

/* What the core is doing when it sends an AppendEntries result. */
enum {
    CTX_NONE = 0,  /* Nothing the decorator knows about. */
    CTX_RECV,      /* Answering an inbound AppendEntries. */
    CTX_RECV_SNAP, /* Answering an inbound InstallSnapshot. */
    CTX_DONE       /* Inside an append or snapshot_put completion. */
};

#define NO_BOUND UINT64_MAX

/* One append in flight, in issue order on g->head_. */
struct raft_io_guard_append {
    struct raft_io_append req; /* Handed to the wrapped append. */
    struct raft_io_append *orig;
    raft_io_append_cb cb;
    struct raft_io_guard *g;
    const struct raft_entry *entries; /* The core's, valid until cb. */
    raft_index first;
    unsigned n;
    raft_term issue_term; /* current_term when issued. */
    raft_index bound;     /* End of the AppendEntries it answers, if any. */
    raft_index limit;     /* Entries from here on were truncated since. */
    bool change;          /* Issued by a follower, holds a RAFT_CHANGE. */
    bool done;            /* Completed, waiting for an older one. */
    raft_index done_index; /* What it made durable (0: nothing). */
    raft_term done_term;
    struct raft_io_guard_append *next;
};

/* A reply the decorator dropped, whose callback is still due. */
struct guard_dropped {
    struct raft_io_send *req;
    raft_io_send_cb cb;
    struct guard_dropped *next;
};

/* A request that failed on call after the fatal hook returned (tests
 * only), to be completed as a success from the next tick or at close. */
struct guard_deferred {
    struct raft_io_append *append; /* One of the two. */
    raft_io_append_cb append_cb;
    struct raft_io_snapshot_put *put;
    raft_io_snapshot_put_cb put_cb;
    struct guard_deferred *next;
};

/* One snapshot_put in flight. */
struct guard_put {
    struct raft_io_snapshot_put req;
    struct raft_io_snapshot_put *orig;
    raft_io_snapshot_put_cb cb;
    struct raft_io_guard *g;
    unsigned trailing;
    raft_index index;
    raft_term term;
    raft_term issue_term;
};

/* ---- Helpers ------------------------------------------------------------- */

static bool on(const struct raft_io_guard *g, unsigned protection)
{
    return (g->config_.disable & protection) == 0;
}

static struct raft_io_guard *guard_of(struct raft_io *io)
{
    return (struct raft_io_guard *)(void *)((char *)io -
                                            offsetof(struct raft_io_guard, io));
}

/* The decorator from the wrapped raft_io, as the wrapped I/O passes it to
 * the recv callback: its data is the raft instance, whose io is us. */
static struct raft_io_guard *guard_of_inner(struct raft_io *inner)
{
    struct raft *r = inner->data;
    struct raft_io_guard *g = guard_of(r->io);
    if (g->inner_ != inner) {
        log_error("raft io guard: r->io was replaced after installation");
        abort();
    }
    return g;
}

static raft_term log_term(const struct raft_log *l, raft_index index)
{
    const struct raft_entry *e;
    if (index == 0) {
        return 0;
    }
    if (index == l->snapshot.last_index) {
        return l->snapshot.last_term;
    }
    e = log_view_entry(l, index);
    return e != NULL ? e->term : 0;
}

/* log.c logTermOf() of 0.15, case for case (log_term() above differs only
 * where the snapshot index is past the log, which 0.15 never lets happen). */
static raft_term log_term_of(const struct raft_log *l, raft_index index)
{
    const struct raft_entry *e;
    if ((index < l->offset + 1 && index != l->snapshot.last_index) ||
        index > log_view_last_index(l)) {
        return 0;
    }
    if (index == l->snapshot.last_index) {
        return l->snapshot.last_term;
    }
    e = log_view_entry(l, index);
    return e != NULL ? e->term : 0;
}

/* True if logGet() would find @index (log.c locateEntry()). */
static bool log_has(const struct raft_log *l, raft_index index)
{
    return log_view_entry(l, index) != NULL;
}

/* Deep copy of @src into @dst, with libraft's allocator (the core closes
 * what ends up in r->configuration). On error @dst holds nothing. */
static int config_copy(struct raft_configuration *dst,
                       const struct raft_configuration *src)
{
    raft_configuration_init(dst);
    for (unsigned i = 0; i < src->n; i++) {
        const struct raft_server *s = &src->servers[i];
        int rv = raft_configuration_add(dst, s->id, s->address, s->role);
        if (rv != 0) {
            raft_configuration_close(dst);
            raft_configuration_init(dst);
            return rv;
        }
    }
    return 0;
}

/* C9: with no change pending, r->configuration is the one at
 * configuration_index (raft.h); keep a copy of it for a rollback. */
static void keep_committed(struct raft_io_guard *g)
{
    struct raft *r = g->raft_;
    struct raft_configuration copy;

    if (!on(g, RAFT_IO_GUARD_ROLLBACK_CONFIG) || g->closing_ ||
        r->state == RAFT_UNAVAILABLE ||
        r->configuration_uncommitted_index != 0 ||
        r->configuration_index == 0 ||
        r->configuration_index == g->committed_index_) {
        return;
    }
    raft_configuration_close(&g->committed_);
    raft_configuration_init(&g->committed_);
    g->committed_index_ = 0;
    if (config_copy(&copy, &r->configuration) == 0) {
        g->committed_ = copy;
        g->committed_index_ = r->configuration_index;
    }
}

/* True if (t1, i1) is a less up-to-date log tail than (t2, i2). */
static bool tail_less(raft_term t1, raft_index i1, raft_term t2, raft_index i2)
{
    return t1 < t2 || (t1 == t2 && i1 < i2);
}

static void copy_errmsg(struct raft_io_guard *g)
{
    memcpy(g->io.errmsg, g->inner_->errmsg, sizeof g->io.errmsg);
    g->io.errmsg[sizeof g->io.errmsg - 1] = '\0';
}

/* A storage operation failed with @rv: stop before the core sees it.
 *
 * In production the default hook aborts, so what follows a hook that returns
 * only matters to tests, which cut the node off in the hook. Handing it the
 * error would run 0.15's error paths, which corrupt memory (all seen under
 * ASan here: C3, a leader's failed write truncates its log by a wrong
 * range, double free at close; a follower's failed append call,
 * replicationAppend()'s error path, double free at close; C11, a failed
 * set_term in an election frees a garbage pointer). So once failed, the
 * decorator reports every storage failure to the core as a success: a
 * failed call returns 0 (an append or snapshot_put that failed on call
 * completes from the next tick or at close), a failed callback gets status
 * 0. Nothing the node does afterwards reaches the others, and it never
 * serves again. */
__attribute__((format(printf, 3, 4))) static void guard_fatal(
    struct raft_io_guard *g,
    int rv,
    const char *fmt,
    ...)
{
    char what[WR_ERRMSG_SIZE];
    const char *detail = g->inner_->errmsg;
    va_list ap;

    if (!on(g, RAFT_IO_GUARD_FAIL_STOP) || g->failed_) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    err_printf(g->fatal_msg_, "raft storage: %s: %s (%d)%s%.*s", what,
               raft_strerror(rv), rv, detail[0] != '\0' ? ": " : "",
               (int)(sizeof g->inner_->errmsg), detail);
    g->failed_ = true;
    g->stats_.fatal++;
    if (g->config_.on_fatal == NULL) {
        log_error("%s", g->fatal_msg_);
        abort();
    }
    g->config_.on_fatal(g->config_.on_fatal_arg, g->fatal_msg_);
}

/* Release what an inbound message the core will never see owns (recv.c). */
static void free_message(struct raft_message *m)
{
    if (m->type == RAFT_IO_APPEND_ENTRIES) {
        struct raft_append_entries *ae = &m->append_entries;
        void *batch = NULL;
        for (unsigned i = 0; i < ae->n_entries; i++) {
            if (ae->entries[i].batch != NULL && ae->entries[i].batch != batch) {
                batch = ae->entries[i].batch;
                raft_free(batch);
            }
        }
        raft_free(ae->entries);
    } else if (m->type == RAFT_IO_INSTALL_SNAPSHOT) {
        raft_configuration_close(&m->install_snapshot.conf);
        raft_free(m->install_snapshot.data.base);
    }
}

/* Pop completed appends off the head, in issue order, moving the persisted
 * tail over what each made durable. */
static void advance(struct raft_io_guard *g)
{
    while (g->head_ != NULL && g->head_->done) {
        struct raft_io_guard_append *a = g->head_;
        g->head_ = a->next;
        if (g->head_ == NULL) {
            g->tail_ = NULL;
        }
        if (a->done_index > g->tail_index_) {
            g->tail_index_ = a->done_index;
            g->tail_term_ = a->done_term;
        }
        free(a);
    }
}

/* Accept @req without sending it; its callback fires from the next tick
 * (or at close). Without memory for the record, it fires now: the three
 * reply senders of 0.15 do nothing after send() returns 0. */
static int drop_send(struct raft_io_guard *g,
                     struct raft_io_send *req,
                     raft_io_send_cb cb)
{
    struct guard_dropped *d = malloc(sizeof *d);
    req->cb = cb;
    if (d == NULL) {
        if (cb != NULL) {
            cb(req, RAFT_NOCONNECTION);
        }
        return 0;
    }
    d->req = req;
    d->cb = cb;
    d->next = g->dropped_;
    g->dropped_ = d;
    return 0;
}

/* Fire the callbacks of the dropped replies and of the deferred
 * requests. */
static void flush_dropped(struct raft_io_guard *g)
{
    while (g->dropped_ != NULL) {
        struct guard_dropped *d = g->dropped_;
        g->dropped_ = d->next;
        if (d->cb != NULL) {
            d->cb(d->req, RAFT_NOCONNECTION);
        }
        free(d);
    }
    while (g->deferred_ != NULL) {
        struct guard_deferred *d = g->deferred_;
        g->deferred_ = d->next;
        if (d->append != NULL) {
            d->append_cb(d->append, 0);
        } else {
            d->put_cb(d->put, 0);
        }
        free(d);
    }
}

/* After the fatal hook returned: accept a request that failed on call and
 * complete it later as a success (see guard_fatal()). Without memory, the
 * error goes to the core after all. */
static int defer(struct raft_io_guard *g,
                 struct raft_io_append *append,
                 raft_io_append_cb append_cb,
                 struct raft_io_snapshot_put *put,
                 raft_io_snapshot_put_cb put_cb,
                 int rv)
{
    struct guard_deferred *d = malloc(sizeof *d);
    if (d == NULL) {
        return rv;
    }
    d->append = append;
    d->append_cb = append_cb;
    d->put = put;
    d->put_cb = put_cb;
    d->next = g->deferred_;
    g->deferred_ = d;
    return 0;
}

/* ---- Storage: fail-stop and the persisted tail --------------------------- */

static int guard_init(struct raft_io *io, raft_id id, const char *address)
{
    struct raft_io_guard *g = guard_of(io);
    int rv = g->inner_->init(g->inner_, id, address);
    if (rv != 0) {
        copy_errmsg(g);
    }
    return rv;
}

static void guard_close(struct raft_io *io, raft_io_close_cb cb)
{
    struct raft_io_guard *g = guard_of(io);
    g->closing_ = true;
    flush_dropped(g);
    raft_configuration_close(&g->committed_);
    raft_configuration_init(&g->committed_);
    g->committed_index_ = 0;
    g->inner_->close(g->inner_, cb);
}

static int guard_load(struct raft_io *io,
                      raft_term *term,
                      raft_id *voted_for,
                      struct raft_snapshot **snapshot,
                      raft_index *start_index,
                      struct raft_entry *entries[],
                      size_t *n_entries)
{
    struct raft_io_guard *g = guard_of(io);
    int rv = g->inner_->load(g->inner_, term, voted_for, snapshot,
                             start_index, entries, n_entries);
    if (rv != 0) {
        copy_errmsg(g);
    }
    return rv;
}

static void guard_recv(struct raft_io *inner, struct raft_message *m);

/* P4: true while a follower must not turn candidate, an append it issued
 * holding a RAFT_CHANGE entry being in flight: 0.15 adopts that change only
 * if the append completes while the server is still a follower. The cost
 * is upstream's (634cb11), paid only while a change is being written: a
 * follower whose election timer runs out meanwhile starts its election no
 * earlier than that write's completion, and a leadership transfer to it
 * (TimeoutNow) fails. */
static bool holding(const struct raft_io_guard *g)
{
    return on(g, RAFT_IO_GUARD_HOLD_CANDIDACY) && g->change_appends_ > 0 &&
           g->raft_->state == RAFT_FOLLOWER;
}

static void guard_tick(struct raft_io *inner)
{
    struct raft_io_guard *g = guard_of_inner(inner);
    struct raft *r = g->raft_;

    flush_dropped(g);
    keep_committed(g);
    if (holding(g)) {
        /* What tickFollower() would find expired, it finds just restarted,
         * as upstream's electionResetTimer() there leaves it. */
        raft_time now = g->inner_->time(g->inner_);
        if (now - r->election_timer_start >=
            r->follower_state.randomized_election_timeout) {
            r->election_timer_start = now;
            g->stats_.candidacies_held++;
        }
    }
    g->tick_(inner);
}

static int guard_start(struct raft_io *io,
                       unsigned msecs,
                       raft_io_tick_cb tick,
                       raft_io_recv_cb recv)
{
    struct raft_io_guard *g = guard_of(io);
    struct raft *r = g->raft_;
    int rv;

    /* start.c: everything load() returned is in the log by now. */
    g->tail_index_ = r->last_stored;
    g->tail_term_ = log_term(&r->log, r->last_stored);
    g->tick_ = tick;
    g->recv_ = recv;
    rv = g->inner_->start(g->inner_, msecs, guard_tick, guard_recv);
    if (rv != 0) {
        copy_errmsg(g);
    }
    return rv;
}

static int guard_bootstrap(struct raft_io *io,
                           const struct raft_configuration *conf)
{
    struct raft_io_guard *g = guard_of(io);
    int rv = g->inner_->bootstrap(g->inner_, conf);
    if (rv != 0) {
        copy_errmsg(g);
        /* Already bootstrapped is an answer, not a storage failure. */
        if (rv != RAFT_CANTBOOTSTRAP) {
            guard_fatal(g, rv, "bootstrap");
        }
    }
    return rv;
}

static int guard_recover(struct raft_io *io,
                         const struct raft_configuration *conf)
{
    struct raft_io_guard *g = guard_of(io);
    int rv = g->inner_->recover(g->inner_, conf);
    if (rv != 0) {
        copy_errmsg(g);
        guard_fatal(g, rv, "recover");
    }
    return rv;
}

static int guard_set_term(struct raft_io *io, raft_term term)
{
    struct raft_io_guard *g = guard_of(io);
    int rv = g->inner_->set_term(g->inner_, term);
    if (rv != 0) {
        copy_errmsg(g);
        guard_fatal(g, rv, "persist term %llu", term);
        if (g->failed_) {
            return 0; /* See guard_fatal(). */
        }
    }
    return rv;
}

static int guard_set_vote(struct raft_io *io, raft_id server_id)
{
    struct raft_io_guard *g = guard_of(io);
    int rv = g->inner_->set_vote(g->inner_, server_id);
    if (rv != 0) {
        copy_errmsg(g);
        guard_fatal(g, rv, "persist vote for %llu", server_id);
        if (g->failed_) {
            return 0; /* See guard_fatal(). */
        }
    }
    return rv;
}

static void guard_recv(struct raft_io *inner, struct raft_message *m);

/* Hold back a result the C1 gate keeps from the core: the last one of each
 * sender. Dropping it instead would be as safe, but it would leave a new
 * leader's progress for that follower in probe mode until the next
 * heartbeat, 100 ms or more into the term, with the start-of-term barrier
 * (and every write) waiting for it. Delivered later, it is just a delayed
 * message, which Raft must take anyway. */
static void hold_result(struct raft_io_guard *g, const struct raft_message *m)
{
    struct raft *r = g->raft_;
    unsigned i;

    if (g->held_term_ != r->current_term) {
        g->n_held_ = 0;
        g->held_term_ = r->current_term;
    }
    if (m->server_address == NULL ||
        strlen(m->server_address) >= RAFT_IO_GUARD_ADDRESS_MAX) {
        return;
    }
    for (i = 0; i < g->n_held_ && g->held_[i].id != m->server_id; i++) {
    }
    if (i == RAFT_IO_GUARD_HELD_MAX) {
        return; /* No room: lost, as before holding existed. */
    }
    if (i == g->n_held_) {
        g->n_held_++;
    }
    g->held_[i].id = m->server_id;
    strcpy(g->held_[i].address, m->server_address);
    g->held_[i].result = m->append_entries_result;
}

/* Deliver the held results once the leader that held them has persisted an
 * entry of its own term; forget them if the term moved on. Each goes
 * through guard_recv() again, so the gate still applies. */
static void release_held(struct raft_io_guard *g)
{
    struct raft *r = g->raft_;
    struct raft_io_guard_held held[RAFT_IO_GUARD_HELD_MAX];
    unsigned n = g->n_held_;

    if (n == 0) {
        return;
    }
    if (r->state != RAFT_LEADER || g->held_term_ != r->current_term) {
        g->n_held_ = 0;
        return;
    }
    if (g->tail_term_ < r->current_term) {
        return;
    }
    /* The core may send, and so reach hold_result() again, from inside
     * recv: work on a copy. */
    memcpy(held, g->held_, n * sizeof *held);
    g->n_held_ = 0;
    for (unsigned i = 0; i < n; i++) {
        struct raft_message m = {
            .type = RAFT_IO_APPEND_ENTRIES_RESULT,
            .server_id = held[i].id,
            .server_address = held[i].address,
            .append_entries_result = held[i].result,
        };
        g->stats_.results_released++;
        guard_recv(g->inner_, &m);
    }
}

static void guard_append_cb(struct raft_io_append *req, int status)
{
    struct raft_io_guard_append *a =
        (struct raft_io_guard_append *)(void *)((char *)req -
            offsetof(struct raft_io_guard_append, req));
    struct raft_io_guard *g = a->g;
    struct raft_io_append *orig = a->orig;
    raft_io_append_cb cb = a->cb;
    int saved_kind = g->ctx_kind_;
    raft_index saved_bound = g->ctx_bound_;
    raft_term saved_term = g->ctx_term_;

    if (a->change) {
        /* The core's callback runs with the server still a follower (P4,
         * holding()). */
        g->change_appends_--;
    }
    if (status != 0 && !(g->closing_ && status == RAFT_CANCELED)) {
        copy_errmsg(g);
        guard_fatal(g, status, "append %u entr%s at index %llu", a->n,
                    a->n == 1 ? "y" : "ies", a->first);
        if (g->failed_) {
            status = 0; /* See guard_fatal(). */
        }
    }
    if (status == 0) {
        /* Entries truncated while the write was in flight are not durable
         * (raft_uv orders the truncate after this write); the entries array
         * is the core's and valid until its callback. */
        raft_index last = a->first + a->n - 1;
        if (a->limit != NO_BOUND && last >= a->limit) {
            last = a->limit > a->first ? a->limit - 1 : 0;
        }
        if (a->n > 0 && last >= a->first) {
            a->done_index = last;
            a->done_term = a->entries[last - a->first].term;
        }
    }
    g->ctx_kind_ = CTX_DONE;
    g->ctx_bound_ = a->bound;
    g->ctx_term_ = a->issue_term;
    a->done = true;
    advance(g); /* May free a. */
    cb(orig, status);
    g->ctx_kind_ = saved_kind;
    g->ctx_bound_ = saved_bound;
    g->ctx_term_ = saved_term;
    keep_committed(g);
    if (!g->closing_ && !g->failed_) {
        release_held(g);
    }
}

static int guard_append(struct raft_io *io,
                        struct raft_io_append *req,
                        const struct raft_entry entries[],
                        unsigned n,
                        raft_io_append_cb cb)
{
    struct raft_io_guard *g = guard_of(io);
    struct raft *r = g->raft_;
    struct raft_io_guard_append *a;
    int rv;

    a = malloc(sizeof *a);
    if (a == NULL) {
        guard_fatal(g, RAFT_NOMEM, "append %u entr%s", n,
                    n == 1 ? "y" : "ies");
        return RAFT_NOMEM;
    }
    /* The entries end the in-memory log (replication.c). */
    a->first = log_view_last_index(&r->log) + 1 - n;
    a->n = n;
    a->orig = req;
    a->cb = cb;
    a->g = g;
    a->issue_term = r->current_term;
    a->bound = g->ctx_kind_ == CTX_RECV ? g->ctx_bound_ : NO_BOUND;
    a->limit = NO_BOUND;
    a->change = false;
    if (r->state == RAFT_FOLLOWER) {
        for (unsigned k = 0; k < n && !a->change; k++) {
            a->change = entries[k].type == RAFT_CHANGE;
        }
    }
    a->done = false;
    a->done_index = 0;
    a->done_term = 0;
    a->next = NULL;
    a->entries = entries;
    a->req.data = NULL; /* The wrapped I/O sets req.cb. */
    req->cb = cb;
    g->change_appends_ += a->change;

    rv = g->inner_->append(g->inner_, &a->req, entries, n, guard_append_cb);
    if (rv != 0) {
        copy_errmsg(g);
        g->change_appends_ -= a->change;
        free(a);
        guard_fatal(g, rv, "append %u entr%s at index %llu", n,
                    n == 1 ? "y" : "ies",
                    log_view_last_index(&r->log) + 1 - n);
        return g->failed_ ? defer(g, req, cb, NULL, NULL, rv) : rv;
    }
    if (g->tail_ == NULL) {
        g->head_ = a;
    } else {
        g->tail_->next = a;
    }
    g->tail_ = a;
    return 0;
}

static int guard_truncate(struct raft_io *io, raft_index index)
{
    struct raft_io_guard *g = guard_of(io);
    struct raft *r = g->raft_;
    raft_term term;
    int rv;

    rv = g->inner_->truncate(g->inner_, index);
    if (rv != 0) {
        copy_errmsg(g);
        guard_fatal(g, rv, "truncate from index %llu", index);
        return g->failed_ ? 0 : rv; /* See guard_fatal(). */
    }
    /* replication.c truncates the in-memory log after this call, so the
     * entry before @index is still there. */
    term = log_term(&r->log, index - 1);
    for (struct raft_io_guard_append *a = g->head_; a != NULL; a = a->next) {
        if (a->limit == NO_BOUND || a->limit > index) {
            a->limit = index;
        }
        if (a->done && a->done_index >= index) {
            a->done_index = index - 1;
            a->done_term = term;
        }
    }
    if (g->tail_index_ >= index) {
        g->tail_index_ = index - 1;
        g->tail_term_ = term;
    }
    return 0;
}

static void guard_put_cb(struct raft_io_snapshot_put *req, int status)
{
    struct guard_put *p = (struct guard_put *)(void *)((char *)req -
                                      offsetof(struct guard_put, req));
    struct raft_io_guard *g = p->g;
    struct raft_io_snapshot_put *orig = p->orig;
    raft_io_snapshot_put_cb cb = p->cb;
    int saved_kind = g->ctx_kind_;
    raft_index saved_bound = g->ctx_bound_;
    raft_term saved_term = g->ctx_term_;
    bool install = p->trailing == 0;

    if (status != 0 && !(g->closing_ && status == RAFT_CANCELED)) {
        copy_errmsg(g);
        guard_fatal(g, status, "store snapshot at index %llu (trailing %u)",
                    p->index, p->trailing);
        if (g->failed_) {
            status = 0; /* See guard_fatal(). */
        }
    }
    if (p->trailing == 0) {
        g->installing_ = false;
        if (status == 0) {
            g->tail_index_ = p->index;
            g->tail_term_ = p->term;
        }
    }
    g->ctx_kind_ = CTX_DONE;
    g->ctx_bound_ = p->trailing == 0 ? p->index : NO_BOUND;
    g->ctx_term_ = p->issue_term;
    free(p);
    cb(orig, status);
    g->ctx_kind_ = saved_kind;
    g->ctx_bound_ = saved_bound;
    g->ctx_term_ = saved_term;
    if (install && status == 0 && !g->failed_ &&
        on(g, RAFT_IO_GUARD_INSTALL_CONFIG)) {
        struct raft *r = g->raft_;
        /* P5. The core's callback (installSnapshotCb(), then
         * snapshotRestore()) has just replaced r->configuration with the
         * snapshot's and moved r->log's snapshot index, but never clears
         * configuration_uncommitted_index. A change at or below the
         * snapshot's index is inside the snapshot's committed prefix: it is
         * committed, and the configuration now in force includes it. */
        if (r->configuration_uncommitted_index != 0 &&
            r->configuration_uncommitted_index <=
                r->log.snapshot.last_index) {
            r->configuration_uncommitted_index = 0;
            g->stats_.config_marks_cleared++;
        }
    }
    keep_committed(g);
}

static int guard_snapshot_put(struct raft_io *io,
                              unsigned trailing,
                              struct raft_io_snapshot_put *req,
                              const struct raft_snapshot *snapshot,
                              raft_io_snapshot_put_cb cb)
{
    struct raft_io_guard *g = guard_of(io);
    struct guard_put *p;
    int rv;

    p = malloc(sizeof *p);
    if (p == NULL) {
        guard_fatal(g, RAFT_NOMEM, "store snapshot at index %llu",
                    snapshot->index);
        return RAFT_NOMEM;
    }
    p->orig = req;
    p->cb = cb;
    p->g = g;
    p->trailing = trailing;
    p->index = snapshot->index;
    p->term = snapshot->term;
    p->issue_term = g->raft_->current_term;
    p->req.data = NULL;
    req->cb = cb;

    rv = g->inner_->snapshot_put(g->inner_, trailing, &p->req, snapshot,
                                 guard_put_cb);
    if (rv != 0) {
        copy_errmsg(g);
        free(p);
        guard_fatal(g, rv, "store snapshot at index %llu (trailing %u)",
                    snapshot->index, trailing);
        return g->failed_ ? defer(g, NULL, NULL, req, cb, rv) : rv;
    }
    if (trailing == 0) {
        /* An install replaces the whole log: writes issued before it make
         * nothing durable that survives it. Until it completes, what is on
         * disk is the old log or the snapshot. */
        for (struct raft_io_guard_append *a = g->head_; a != NULL;
             a = a->next) {
            a->limit = 0;
            a->done_index = 0;
            a->done_term = 0;
        }
        g->installing_ = true;
        g->install_index_ = snapshot->index;
        g->install_term_ = snapshot->term;
    }
    return 0;
}

/* ---- Network: what leaves and what enters -------------------------------- */

static int guard_send(struct raft_io *io,
                      struct raft_io_send *req,
                      const struct raft_message *message,
                      raft_io_send_cb cb)
{
    struct raft_io_guard *g = guard_of(io);
    struct raft *r = g->raft_;
    struct raft_message m;
    int rv;

    if (message->type == RAFT_IO_REQUEST_VOTE &&
        on(g, RAFT_IO_GUARD_VOTE_TAIL)) {
        raft_index index = g->tail_index_;
        raft_term term = g->tail_term_;
        const struct raft_request_vote *rv_args = &message->request_vote;
        if (g->installing_ &&
            tail_less(g->install_term_, g->install_index_, term, index)) {
            index = g->install_index_;
            term = g->install_term_;
        }
        if (tail_less(term, index, rv_args->last_log_term,
                      rv_args->last_log_index)) {
            m = *message;
            m.request_vote.last_log_index = index;
            m.request_vote.last_log_term = term;
            message = &m;
            g->stats_.votes_clamped++;
        }
    } else if (message->type == RAFT_IO_REQUEST_VOTE_RESULT &&
               on(g, RAFT_IO_GUARD_PREVOTE_TERM)) {
        const struct raft_request_vote_result *res =
            &message->request_vote_result;
        if (res->pre_vote == raft_tribool_true && !res->vote_granted &&
            res->term < r->current_term) {
            m = *message;
            m.request_vote_result.term = r->current_term;
            message = &m;
            g->stats_.prevote_terms++;
        }
    } else if (message->type == RAFT_IO_APPEND_ENTRIES_RESULT) {
        /* First, before anything of the message is read: only a follower's
         * current_leader is valid (C6). A reply sent from inside recv is
         * addressed to the message's sender and is let through: from a
         * candidate or leader it can only be the refusal carrying our
         * higher term, without which a stale leader that hears from nobody
         * else never steps down (found by the random schedules: a
         * candidate of term 45 and a leader of term 4, for good). */
        if (on(g, RAFT_IO_GUARD_FOLLOWER_ONLY) && r->state != RAFT_FOLLOWER &&
            g->ctx_kind_ != CTX_RECV && g->ctx_kind_ != CTX_RECV_SNAP) {
            g->stats_.acks_not_follower++;
            return drop_send(g, req, cb);
        }
        if (on(g, RAFT_IO_GUARD_ACK_CLAMP)) {
            const struct raft_append_entries_result *res =
                &message->append_entries_result;
            raft_index limit = g->tail_index_;
            if (g->ctx_kind_ == CTX_DONE && r->current_term != g->ctx_term_) {
                g->stats_.acks_stale++;
                return drop_send(g, req, cb);
            }
            if (g->ctx_kind_ != CTX_NONE && g->ctx_bound_ < limit) {
                limit = g->ctx_bound_;
            }
            if (res->rejected == 0 && res->last_log_index > limit) {
                m = *message;
                m.append_entries_result.last_log_index = limit;
                message = &m;
                g->stats_.acks_clamped++;
            }
        }
        /* P3: an InstallSnapshot older than our own snapshot is answered
         * "have more recent snapshot" with the leader's index; say ours,
         * which holds only committed entries and is on disk. */
        if (on(g, RAFT_IO_GUARD_SNAPSHOT_AHEAD) &&
            g->ctx_kind_ == CTX_RECV_SNAP && !g->installing_ &&
            message->append_entries_result.rejected == 0 &&
            message->append_entries_result.last_log_index <
                r->log.snapshot.last_index &&
            r->log.snapshot.last_index <= g->tail_index_) {
            if (message != &m) {
                m = *message;
                message = &m;
            }
            m.append_entries_result.last_log_index = r->log.snapshot.last_index;
            g->stats_.snapshot_acks++;
        }
    }
    rv = g->inner_->send(g->inner_, req, message, cb);
    if (rv != 0) {
        copy_errmsg(g);
    }
    return rv;
}

/* P3: an AppendEntries whose prev_log_index is below our own snapshot
 * would be refused (replication.c checkLogMatchingProperty(): logTermOf()
 * is 0 there), or, with prev_log_index 0, appended after our last entry at
 * the wrong indexes, after which replicationAppend()'s error path truncates
 * below the log's start (ASan: double free). Everything up to our snapshot
 * index S is committed and on our disk, and a leader of our term or a later
 * one holds the same entries (Leader Completeness), so the message is
 * rewritten to start at S: prev_log_index S with our snapshot's term, and
 * only the entries after S. A lower-term message is left alone (the core
 * refuses it on its term), and so is one of our own term reaching us as a
 * leader (see the FOLLOWER_ONLY drop); a higher-term one reaching a leader
 * is rewritten, since the core makes us a follower before appending. The entries array keeps its start (the core
 * frees it); batches only dropped entries used are freed here. */
static void skip_snapshotted(struct raft_io_guard *g,
                             struct raft_append_entries *ae)
{
    struct raft *r = g->raft_;
    raft_index snapshot = r->log.snapshot.last_index;
    unsigned k;

    if (!on(g, RAFT_IO_GUARD_SNAPSHOT_AHEAD) || g->installing_ ||
        snapshot == 0 || ae->prev_log_index >= snapshot ||
        snapshot > g->tail_index_ || ae->term < r->current_term ||
        (r->state == RAFT_LEADER && ae->term == r->current_term)) {
        return;
    }
    k = snapshot - ae->prev_log_index < ae->n_entries
            ? (unsigned)(snapshot - ae->prev_log_index)
            : ae->n_entries;
    if (k > 0 && ae->prev_log_index + k == snapshot &&
        ae->entries[k - 1].term != r->log.snapshot.last_term) {
        log_error("raft io guard: AppendEntries from %llu has term %llu at "
                  "our snapshot index %llu (term %llu): left alone",
                  r->follower_state.current_leader.id, ae->entries[k - 1].term,
                  snapshot, r->log.snapshot.last_term);
        return;
    }
    for (unsigned i = 0; i < k; i++) {
        void *batch = ae->entries[i].batch;
        bool kept = false;
        bool seen = false;
        for (unsigned j = k; j < ae->n_entries && !kept; j++) {
            kept = ae->entries[j].batch == batch;
        }
        for (unsigned j = 0; j < i && !seen; j++) {
            seen = ae->entries[j].batch == batch;
        }
        if (batch != NULL && !kept && !seen) {
            raft_free(batch);
        }
    }
    if (k > 0 && k < ae->n_entries) {
        memmove(ae->entries, ae->entries + k,
                (ae->n_entries - k) * sizeof *ae->entries);
    }
    ae->n_entries -= k;
    if (ae->n_entries == 0 && ae->entries != NULL) {
        raft_free(ae->entries);
        ae->entries = NULL;
    }
    ae->prev_log_index = snapshot;
    ae->prev_log_term = r->log.snapshot.last_term;
    g->stats_.snapshot_skips++;
}

/* C9: if the core is about to overwrite an uncommitted change while the
 * committed configuration entry is no longer in its log, roll the change
 * back first, as membershipRollback() would, from the decorator's copy.
 * Every condition on the way to deleteConflictingEntries() is mirrored (see
 * the top of this file); when one cannot be, nothing is done. */
static void roll_back_change(struct raft_io_guard *g,
                             const struct raft_append_entries *ae)
{
    struct raft *r = g->raft_;
    struct raft_configuration conf;
    raft_index conflict = 0;

    if (!on(g, RAFT_IO_GUARD_ROLLBACK_CONFIG) ||
        r->state == RAFT_UNAVAILABLE ||
        r->configuration_uncommitted_index == 0 ||
        ae->term < r->current_term ||
        (ae->term == r->current_term && r->state == RAFT_LEADER)) {
        return;
    }
    if (r->last_stored == 0 && r->snapshot.put.data != NULL &&
        ae->n_entries > 0) {
        return; /* Ignored during an install. */
    }
    if (ae->prev_log_index != 0) {
        raft_term t = log_term_of(&r->log, ae->prev_log_index);
        if (t == 0 || t != ae->prev_log_term) {
            return; /* Refused, or RAFT_SHUTDOWN. */
        }
    }
    for (unsigned j = 0; j < ae->n_entries && conflict == 0; j++) {
        raft_index index = ae->prev_log_index + 1 + j;
        raft_term t = log_term_of(&r->log, index);
        if (t == 0) {
            return; /* Appended from here, nothing overwritten. */
        }
        if (t != ae->entries[j].term) {
            if (index <= r->commit_index ||
                r->configuration_uncommitted_index < index) {
                return; /* RAFT_SHUTDOWN, or no rollback. */
            }
            conflict = index;
        }
    }
    if (conflict == 0 || r->configuration_index == 0 ||
        log_has(&r->log, r->configuration_index)) {
        return; /* No rollback, or the core's works. */
    }
    if (g->committed_index_ != r->configuration_index ||
        config_copy(&conf, &g->committed_) != 0) {
        log_error("raft io guard: server %llu must roll back the change at "
                  "%llu to the configuration at %llu, compacted, and has no "
                  "copy of it: left to libraft",
                  r->id, r->configuration_uncommitted_index,
                  r->configuration_index);
        return;
    }
    raft_configuration_close(&r->configuration);
    r->configuration = conf;
    r->configuration_uncommitted_index = 0;
    g->stats_.config_rollbacks++;
}

/* libraft 0.15 refuses every vote and pre-vote while a follower knows a
 * leader (recv_request_vote.c, has_leader), however long ago it last heard
 * from it; the thesis (4.2.3) refuses only "within the minimum election
 * timeout of hearing from a current leader". So when a leader dies, no
 * candidate wins before the last voter's own randomized timeout has run
 * out too: with 3 voters, about 1.67 election timeouts on average instead
 * of 1.33. Before a RequestVote reaches the core, a follower that has not
 * heard from its leader for a whole election timeout forgets it, the
 * thesis's rule; granting votes is always safe, this only decides whether
 * a vote is considered. Not while one of its appends is in flight: its
 * completion addresses follower_state.current_leader (replication.c
 * appendFollowerCb()). The address stays allocated; recvUpdateLeader()
 * and convertClearFollower() own it as before. */
static void forget_silent_leader(struct raft_io_guard *g)
{
    struct raft *r = g->raft_;

    if (!on(g, RAFT_IO_GUARD_FORGET_LEADER) || r->state != RAFT_FOLLOWER ||
        r->follower_state.current_leader.id == 0 || g->head_ != NULL) {
        return;
    }
    if (g->inner_->time(g->inner_) - r->election_timer_start >=
        r->election_timeout) {
        r->follower_state.current_leader.id = 0;
        g->stats_.leaders_forgotten++;
    }
}

static void guard_recv(struct raft_io *inner, struct raft_message *m)
{
    struct raft_io_guard *g = guard_of_inner(inner);
    struct raft *r = g->raft_;
    int saved_kind = g->ctx_kind_;
    raft_index saved_bound = g->ctx_bound_;
    raft_term saved_term = g->ctx_term_;

    keep_committed(g);
    switch (m->type) {
        case RAFT_IO_APPEND_ENTRIES_RESULT:
            /* A leader that has not persisted an entry of its own term
             * would commit by counting replicas of older terms (C1). A
             * higher-term result still goes through: it deposes us. */
            if (on(g, RAFT_IO_GUARD_RESULT_GATE) && r->state == RAFT_LEADER &&
                m->append_entries_result.term <= r->current_term &&
                g->tail_term_ < r->current_term) {
                g->stats_.results_dropped++;
                if (on(g, RAFT_IO_GUARD_HOLD_RESULTS)) {
                    hold_result(g, m);
                }
                return;
            }
            break;
        case RAFT_IO_APPEND_ENTRIES:
        case RAFT_IO_INSTALL_SNAPSHOT: {
            raft_term term = m->type == RAFT_IO_APPEND_ENTRIES
                                 ? m->append_entries.term
                                 : m->install_snapshot.term;
            if (on(g, RAFT_IO_GUARD_FOLLOWER_ONLY) &&
                r->state == RAFT_LEADER && term == r->current_term) {
                log_error("raft io guard: leader %llu got %s of its own term "
                          "%llu from %llu: dropped",
                          r->id,
                          m->type == RAFT_IO_APPEND_ENTRIES ? "AppendEntries"
                                                            : "InstallSnapshot",
                          term, m->server_id);
                g->stats_.inbound_dropped++;
                free_message(m);
                return;
            }
            if (m->type == RAFT_IO_APPEND_ENTRIES) {
                skip_snapshotted(g, &m->append_entries);
                roll_back_change(g, &m->append_entries);
            }
            g->ctx_kind_ =
                m->type == RAFT_IO_APPEND_ENTRIES ? CTX_RECV : CTX_RECV_SNAP;
            g->ctx_bound_ = m->type == RAFT_IO_APPEND_ENTRIES
                                ? m->append_entries.prev_log_index +
                                      m->append_entries.n_entries
                                : m->install_snapshot.last_index;
            g->ctx_term_ = r->current_term;
            break;
        }
        case RAFT_IO_REQUEST_VOTE:
            forget_silent_leader(g);
            break;
        case RAFT_IO_TIMEOUT_NOW:
            /* The other way a follower turns candidate (P4, holding()). The
             * leader's transfer times out instead. */
            if (holding(g)) {
                g->stats_.timeout_nows_dropped++;
                return;
            }
            break;
        default:
            break;
    }
    g->recv_(inner, m);
    g->ctx_kind_ = saved_kind;
    g->ctx_bound_ = saved_bound;
    g->ctx_term_ = saved_term;
    keep_committed(g);
}

/* ---- Pass-through -------------------------------------------------------- */

static int guard_snapshot_get(struct raft_io *io,
                              struct raft_io_snapshot_get *req,
                              raft_io_snapshot_get_cb cb)
{
    struct raft_io_guard *g = guard_of(io);
    int rv = g->inner_->snapshot_get(g->inner_, req, cb);
    if (rv != 0) {
        copy_errmsg(g);
    }
    return rv;
}

static raft_time guard_time(struct raft_io *io)
{
    struct raft_io_guard *g = guard_of(io);
    return g->inner_->time(g->inner_);
}

static int guard_random(struct raft_io *io, int min, int max)
{
    struct raft_io_guard *g = guard_of(io);
    return g->inner_->random(g->inner_, min, max);
}

static int guard_async_work(struct raft_io *io,
                            struct raft_io_async_work *req,
                            raft_io_async_work_cb cb)
{
    struct raft_io_guard *g = guard_of(io);
    int rv = g->inner_->async_work(g->inner_, req, cb);
    if (rv != 0) {
        copy_errmsg(g);
    }
    return rv;
}

/* ---- API ----------------------------------------------------------------- */

int raft_io_guard_install(struct raft_io_guard *g,
                          struct raft *r,
                          const struct raft_io_guard_config *config)
{
    struct raft_io *inner = r->io;

    if (r->state != RAFT_UNAVAILABLE || inner == NULL) {
        return WR_INVALID;
    }
    memset(g, 0, sizeof *g);
    if (config != NULL) {
        g->config_ = *config;
    }
    g->inner_ = inner;
    g->raft_ = r;
    raft_configuration_init(&g->committed_);

    g->io.version = inner->version;
    g->io.data = r;
    g->io.impl = inner->impl; /* Code reading r->io->impl still finds it. */
    memcpy(g->io.errmsg, inner->errmsg, sizeof g->io.errmsg);
    g->io.init = guard_init;
    g->io.close = guard_close;
    g->io.load = guard_load;
    g->io.start = guard_start;
    g->io.bootstrap = guard_bootstrap;
    g->io.recover = guard_recover;
    g->io.set_term = guard_set_term;
    g->io.set_vote = guard_set_vote;
    g->io.send = guard_send;
    g->io.append = guard_append;
    g->io.truncate = guard_truncate;
    g->io.snapshot_put = guard_snapshot_put;
    g->io.snapshot_get = guard_snapshot_get;
    g->io.time = guard_time;
    g->io.random = guard_random;
    g->io.async_work = inner->async_work != NULL ? guard_async_work : NULL;
    r->io = &g->io;
    return 0;
}

struct raft_io *raft_io_guard_inner(const struct raft_io_guard *g)
{
    return g->inner_;
}

void raft_io_guard_persisted(const struct raft_io_guard *g,
                             raft_index *index,
                             raft_term *term)
{
    *index = g->tail_index_;
    *term = g->tail_term_;
}

bool raft_io_guard_failed(const struct raft_io_guard *g)
{
    return g->failed_;
}

const char *raft_io_guard_fatal_msg(const struct raft_io_guard *g)
{
    return g->fatal_msg_;
}

const struct raft_io_guard_stats *raft_io_guard_stats(
    const struct raft_io_guard *g)
{
    return &g->stats_;
}
