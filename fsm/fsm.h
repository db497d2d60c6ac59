/*
 * The replicated state machine: every named database of one node, the VFS
 * that captures and applies their page sets, and snapshots of them all.
 *
 * All calls happen on one thread (the node's event loop). That is an
 * invariant the VFS relies on (ARCHITECTURE.md section 3): between a commit
 * and the moment the VFS hides it, no other SQLite work may run.
 *
 * The leader side:
 *   1. fsm_db_open() gives the node's connection to a database;
 *   2. the executor runs a transaction on it and commits;
 *   3. fsm_poll() encodes the committed pages as one FRAMES command; the pages
 *      stay invisible to every reader;
 *   4. the command goes through Raft; fsm_apply() makes the pages visible,
 *      or fsm_abort() drops them if the entry failed.
 * Every node, the leader included, runs fsm_apply() on every committed entry.
 *
 * Exactly-once sessions (ARCHITECTURE.md section 2). Each database keeps a
 * table of clients: per client id, the sequence number of its latest write
 * and that write's result. The table changes only in fsm_apply(), from the
 * session records a command carries with its pages (or alone, in a SESSIONS
 * command), so it is the same on every node at every index, and snapshots
 * carry it. The leader's executor reads it (fsm_session_get()) before it
 * runs a batch; since a batch runs only once the previous one on its
 * database is applied, the table then holds every write that committed.
 * Expiry is deterministic: each database counts the commands applied to it,
 * and when a new client would make the table exceed sessions_max, the client
 * written least recently (by that count; ties in the order of the records
 * of the command) is forgotten. A retry from a forgotten client runs again.
 */
#ifndef WR_FSM_FSM_H
#define WR_FSM_FSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "command.h"

struct fsm;
struct fsm_db;
struct stmts;

struct fsm_config {
    const char *dir;               /* Data directory for the database files;
                                      created if missing. Existing database
                                      files in it are removed at create time:
                                      the state is rebuilt from the Raft log
                                      and the latest snapshot. */
    uint64_t node_id;              /* Unique in the process (names the VFS). */
    uint64_t seed;                 /* Seeds WAL salts and transaction ids. */
    unsigned checkpoint_threshold; /* WAL frames; 0 means 1000. */
    bool compress;                 /* LZ4 for FRAMES payloads. */
    /* When fsm_snapshot() agrees to take a snapshot: once the commands
     * applied since the last one add up to at least snapshot_min_bytes and
     * to snapshot_ratio_percent of the databases' size. Both 0 (tests):
     * whenever libraft asks. The node passes 0 and 0: its policy, with a
     * cap on the log's bytes held in memory, is the fsm adapter's
     * (raft/fsm_adapter.h). */
    uint64_t snapshot_min_bytes;
    unsigned snapshot_ratio_percent;
    /* Clients remembered per database; 0 means FSM_SESSIONS_MAX. Part of
     * the replicated state machine: every node must use the same value, or
     * their tables drift apart. */
    unsigned sessions_max;
};

#define FSM_SESSIONS_MAX 16384

/* A buffer of a snapshot; same layout as struct raft_buffer. */
struct fsm_buf {
    void *base;
    size_t len;
};

/* Create the state machine. On success *@out is owned by the caller (release
 * with fsm_destroy()). Returns 0, WR_NOMEM or WR_IOERR with @errmsg set. */
int fsm_create(const struct fsm_config *config,
               struct fsm **out,
               char *errmsg);

/* Close every connection and release everything. */
void fsm_destroy(struct fsm *f);

/* The database named @name, created empty if it does not exist yet. The
 * handle stays valid until fsm_destroy(). Returns 0, WR_INVALID (bad name),
 * WR_NOMEM or WR_IOERR with @errmsg set. */
int fsm_db_open(struct fsm *f,
                const char *name,
                struct fsm_db **out,
                char *errmsg);

/* The node's connection to @db, opened with the settings the VFS requires.
 * Owned by the fsm; it may be closed and replaced by fsm_restore(), so do not
 * keep it (or statements prepared on it) across an event-loop turn.
 * Returns NULL and sets @errmsg if it cannot be opened. */
sqlite3 *fsm_db_conn(struct fsm_db *db, char *errmsg);

/* A second connection to @db, for interactive transactions (fsm/exec.h):
 * same settings, opened on first use, owned by the fsm. A transaction open
 * on it keeps the node's connection serving committed state meanwhile.
 * Applying another node's frames to @db rolls back a transaction still open
 * on it, and a restore or a dropped pending transaction closes it; either
 * way fsm_db_generation() moves. Do not keep it (or statements prepared on
 * it) across an event-loop turn without checking the generation. Returns
 * NULL and sets @errmsg if it cannot be opened. */
sqlite3 *fsm_db_tx_conn(struct fsm_db *db, char *errmsg);

/* An SQLite authorizer callback (sqlite3_set_authorizer()). */
typedef int (*fsm_authorizer)(void *arg,
                              int action,
                              const char *arg1,
                              const char *arg2,
                              const char *db_name,
                              const char *trigger);

/* Install @auth (with @arg; NULL for none) on every connection the fsm has
 * open and opens later, for good. Installing an authorizer makes SQLite
 * compile every statement of the connection again, so the executor installs
 * its one once instead of around each call (stmts.h); its callback must
 * allow the fsm's own statements (pragmas, checkpoints) whenever no call of
 * its own is running. */
void fsm_set_authorizer(struct fsm *f, fsm_authorizer auth, void *arg);

/* The prepared statements kept for @conn, one of @db's two connections
 * (stmts.h); NULL for any other. They go when the connection does. */
struct stmts *fsm_db_stmts(struct fsm_db *db, sqlite3 *conn);

/* A counter that moves whenever the fsm closes @db's connections or rolls
 * back a transaction open on the second one. */
uint64_t fsm_db_generation(const struct fsm_db *db);

const char *fsm_db_name(const struct fsm_db *db);

/* True while @db has a captured transaction waiting for its entry. */
bool fsm_db_pending(const struct fsm_db *db);

/* After a transaction committed on @db's connection: encode its pages as a
 * FRAMES command. On success *@cmd (malloc'ed, length a multiple of 8) and
 * *@len are set and ownership passes to the caller; *@cmd is NULL when the
 * transaction changed no page (nothing to replicate). *@tx_id identifies the
 * pending transaction for fsm_abort(). Until fsm_apply() or fsm_abort(), the
 * pages are invisible to readers and no other transaction can write @db.
 * Returns 0, WR_NOMEM (the transaction is aborted) or WR_INVALID. */
int fsm_poll(struct fsm_db *db,
             void **cmd,
             size_t *len,
             uint64_t *tx_id,
             char *errmsg);

/* fsm_poll() for a batch that records @n session records (@sessions, client
 * ids strictly increasing, at most COMMAND_SESSIONS_MAX; no reference kept):
 * they go into the FRAMES command with the pages, or, when the transaction
 * changed no page, into a SESSIONS command (*@tx_id is then 0). With @n 0
 * this is fsm_poll(). Same returns and ownership. */
int fsm_poll_sessions(struct fsm_db *db,
                      const struct command_session *sessions,
                      unsigned n,
                      void **cmd,
                      size_t *len,
                      uint64_t *tx_id,
                      char *errmsg);

/* The latest write recorded on @db for client @client_id, as of the last
 * applied command: true and *@out set, or false if the client is unknown
 * (never seen, or forgotten). */
bool fsm_session_get(const struct fsm_db *db,
                     uint64_t client_id,
                     struct command_session *out);

/* Clients recorded on @db. */
unsigned fsm_session_count(const struct fsm_db *db);

/* Commands applied to @db since it was created (the sessions' clock; kept
 * in snapshots). */
uint64_t fsm_db_applied_commands(const struct fsm_db *db);

/* The entry carrying pending transaction @tx_id failed: drop its pages. A
 * no-op if that transaction is no longer pending (it was applied, or a later
 * apply from another leader discarded it). */
void fsm_abort(struct fsm_db *db, uint64_t tx_id);

/* Apply one committed command. Returns 0; WR_CORRUPT or WR_UNSUPPORTED when
 * the command is refused (nothing was applied; @errmsg says why); WR_NOMEM or
 * WR_IOERR when applying failed internally (the caller must stop the node:
 * the state may be partly applied). */
int fsm_apply(struct fsm *f, const void *buf, size_t len, char *errmsg);

/* Bytes of commands applied since the last snapshot was taken or restored. */
uint64_t fsm_log_bytes_since_snapshot(const struct fsm *f);

/* Take a snapshot of every database as of the last applied command. Returns
 * WR_BUSY when a snapshot should not be taken now: one is already being
 * written, or the log since the last snapshot is still small next to the size
 * of a snapshot (the threshold grows with the databases). On success the
 * buffers are immutable, owned by the fsm and valid until
 * fsm_snapshot_finalize(); checkpoints are held off until then. */
int fsm_snapshot(struct fsm *f,
                 struct fsm_buf **bufs,
                 unsigned *n_bufs,
                 char *errmsg);

/* fsm_snapshot() in two parts. fsm_snapshot_start() gathers the buffers on
 * the loop (WAL pages copied, the main files mapped) but leaves the pages'
 * CRCs out; fsm_snapshot_checksum() reads every page and writes them in. It
 * touches nothing but the snapshot's own memory and mappings (checkpoints
 * are held off, and a restore renames the file from under the mapping), so
 * it may run on another thread while the loop goes on, as long as nothing
 * finalizes the snapshot meanwhile. The buffers are complete only after it. */
int fsm_snapshot_start(struct fsm *f,
                       struct fsm_buf **bufs,
                       unsigned *n_bufs,
                       char *errmsg);
void fsm_snapshot_checksum(struct fsm *f);

/* Release the buffers of the snapshot taken last. */
void fsm_snapshot_finalize(struct fsm *f, struct fsm_buf *bufs, unsigned n_bufs);

/* Replace every database with the content of a snapshot (the concatenation of
 * the buffers fsm_snapshot() produced). No reference to @buf is kept. Open
 * connections are closed. Returns 0, WR_CORRUPT (nothing changed) or
 * WR_NOMEM/WR_IOERR (the node must stop). */
int fsm_restore(struct fsm *f, const void *buf, size_t len, char *errmsg);

/* Run a TRUNCATE checkpoint on every database that can take one now. Used by
 * tests before comparing files; the fsm checkpoints on its own after apply.
 * Returns 0 or WR_BUSY if some database could not be checkpointed. */
int fsm_checkpoint_all(struct fsm *f);

/* Names of the databases, for tests and status: calls @cb for each. */
void fsm_foreach_db(struct fsm *f,
                    void (*cb)(void *arg, struct fsm_db *db),
                    void *arg);

/* Path of @db's main file on disk. */
const char *fsm_db_path(const struct fsm_db *db);

#endif /* WR_FSM_FSM_H */
