/*
 * The replicated state machine: named databases, apply, local checkpoints,
 * snapshots and restore. See fsm.h for the contract and vfs.c for how pages
 * are captured and applied.
 *
 * Snapshot format. A snapshot is the concatenation of these buffers, all
 * integers little-endian:
 *
 *   header, 24 bytes:
 *     0 u32 magic "WRSN" (0x4e535257)   4 u32 format version, 2
 *     8 u32 number of databases D      12 u32 page size (4096)
 *    16 u64 reserved, zero
 *   then for each of the D databases:
 *     0 u32 number of pages N           4 u32 CRC-32C of the N pages
 *     8 u16 name length L              10 u16 reserved
 *    12 u32 number of session records S (at most 2^24)
 *    16 u64 commands applied to the database (the sessions' clock)
 *    24 u32 CRC-32C of the S session records   28 u32 reserved
 *    32 L bytes of name, zero-padded to a multiple of 8
 *     .  S session records of 40 bytes, least recently written first:
 *          0 u64 client id (not 0, each once)   8 u64 sequence number (not 0)
 *         16 i64 changes                       24 i64 last insert rowid
 *         32 u64 clock value when last written
 *     .  N pages of page-size bytes: the database as of the applied index
 *
 * Version 1 (no session fields; a 16-byte database header) is refused: a
 * node restoring it would forget every client and run retries twice.
 *
 * The session table of a database (fsm.h) is a hash of clients over an
 * array, with the clients also on a list from least to most recently
 * written. The array only grows, up to sessions_max; past that a new client
 * takes the slot of the least recently written one. Room for a command's
 * records is reserved before its pages are applied, so once the pages are
 * in, recording the sessions cannot fail: both happen or neither.
 *
 * The pages of a database come from its main file where the committed WAL
 * does not hold a newer version. The main file is mapped, not copied, and
 * checkpoints are held off until libraft has written the snapshot, so the
 * mapping cannot change underneath; a restore in the meantime replaces the
 * file by rename, which leaves the mapped inode alone. WAL pages are copied
 * (the WAL is bounded by the checkpoint threshold). The pages' CRCs are
 * computed apart (fsm_snapshot_checksum()), so that libraft can have them
 * computed on a thread: reading every page of a large database on the loop
 * stalled every write in flight at every snapshot.
 */
#include "fsm.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/byteorder.h"
#include "../lib/crc32c.h"
#include "../lib/err.h"
#include "../lib/log.h"
#include "command.h"
#include "stmts.h"
#include "vfs.h"

#define SNAPSHOT_MAGIC 0x4e535257u
#define SNAPSHOT_VERSION 2
#define SNAPSHOT_HEADER_SIZE 24
#define SNAPSHOT_DB_HEADER_SIZE 32
#define SNAPSHOT_SESSION_SIZE 40
#define SNAPSHOT_SESSIONS_MAX (1u << 24)

#define NONE UINT32_MAX

/* One client of a session table. */
struct session {
    struct command_session rec;
    uint64_t written_at; /* The table's clock when last written. */
    uint32_t hnext;      /* Next in the hash chain. */
    uint32_t older;      /* Neighbours on the recency list. */
    uint32_t newer;
};

/* The session table of one database (top of this file). */
struct sessions {
    struct session *v;
    uint32_t n;
    uint32_t cap;
    uint32_t *buckets; /* n_buckets heads, a power of two, >= cap. */
    uint32_t n_buckets;
    uint32_t oldest;
    uint32_t newest;
    uint64_t clock; /* Commands applied to the database. */
};
#define DEFAULT_CHECKPOINT_THRESHOLD 1000
#define STMTS_MAX 64 /* Statements kept per connection (stmts.h). */
#define UNMAP_OFF_LOOP_BYTES ((size_t)16 << 20) /* See unmap(). */

struct fsm_db {
    struct fsm_db *next;
    struct fsm *fsm;
    char *name;
    char *path;
    sqlite3 *conn;
    sqlite3 *tx_conn;   /* Interactive transactions (fsm_db_tx_conn()). */
    struct stmts stmts;    /* conn's. */
    struct stmts tx_stmts; /* tx_conn's. */
    uint64_t generation; /* Bumped when connections go (fsm.h). */
    struct vfs_db *vdb; /* Set once a connection opened the file. */
    bool exists;        /* False after a restore that did not include it. */
    struct sessions sessions;
    unsigned checkpoint_at; /* After a failed checkpoint: the WAL frames at
                               which apply tries again (0: none failed). */
};

/* A main file mapped for a snapshot. */
struct mapping {
    void *base;
    size_t len;
};

/* What a snapshot being written by libraft holds on to. */
struct snapshot {
    bool active;
    struct fsm_buf *bufs;
    unsigned n_bufs;
    void **allocs; /* Headers and WAL page copies. */
    unsigned n_allocs;
    struct mapping *maps;
    unsigned n_maps;
    struct {
        uint8_t *hdr;   /* The database's header: its CRC goes at +4. */
        unsigned first; /* Its first page in bufs. */
        uint32_t n;     /* Its pages. */
    } *sums;            /* Filled by fsm_snapshot_checksum(). */
    unsigned n_sums;
};

struct fsm {
    char *dir;
    struct fsm_config config;
    struct vfs *vfs;
    struct fsm_db *dbs;
    uint64_t log_bytes;
    struct snapshot snap;
    fsm_authorizer auth; /* Installed on every connection (fsm.h). */
    void *auth_arg;
};

static unsigned vfs_counter;

/* ---------------------------------------------------------------------- */
/* Session tables. */

static void sessions_init(struct sessions *t)
{
    memset(t, 0, sizeof *t);
    t->oldest = NONE;
    t->newest = NONE;
}

static void sessions_close(struct sessions *t)
{
    free(t->v);
    free(t->buckets);
    sessions_init(t);
}

static uint32_t sessions_bucket(const struct sessions *t, uint64_t id)
{
    uint64_t h = id * 0x9e3779b97f4a7c15ULL;
    return (uint32_t)(h ^ (h >> 32)) & (t->n_buckets - 1);
}

static uint32_t sessions_find(const struct sessions *t, uint64_t id)
{
    if (t->n == 0) {
        return NONE;
    }
    for (uint32_t i = t->buckets[sessions_bucket(t, id)]; i != NONE;
         i = t->v[i].hnext) {
        if (t->v[i].rec.client_id == id) {
            return i;
        }
    }
    return NONE;
}

/* Make room so that @extra more clients can be put without allocating,
 * the table never holding more than @max. */
static int sessions_reserve(struct sessions *t, uint32_t extra, uint32_t max)
{
    uint64_t want = (uint64_t)t->n + extra;
    uint32_t n_buckets;
    uint32_t *buckets;
    struct session *v;

    if (want > max) {
        want = max;
    }
    if (want <= t->cap) {
        return 0;
    }
    if (want < 2 * (uint64_t)t->cap) {
        want = 2 * (uint64_t)t->cap < max ? 2 * (uint64_t)t->cap : max;
    }
    v = realloc(t->v, (size_t)want * sizeof *v);
    if (v == NULL) {
        return WR_NOMEM;
    }
    t->v = v; /* Larger but not yet counted in cap: harmless. */
    n_buckets = t->n_buckets == 0 ? 16 : t->n_buckets;
    while (n_buckets < want) {
        n_buckets *= 2;
    }
    if (n_buckets == t->n_buckets) {
        t->cap = (uint32_t)want;
        return 0;
    }
    buckets = malloc((size_t)n_buckets * sizeof *buckets);
    if (buckets == NULL) {
        return WR_NOMEM;
    }
    t->cap = (uint32_t)want;
    free(t->buckets);
    t->buckets = buckets;
    t->n_buckets = n_buckets;
    for (uint32_t b = 0; b < n_buckets; b++) {
        buckets[b] = NONE;
    }
    for (uint32_t i = 0; i < t->n; i++) {
        uint32_t b = sessions_bucket(t, t->v[i].rec.client_id);
        t->v[i].hnext = buckets[b];
        buckets[b] = i;
    }
    return 0;
}

static void sessions_unlink(struct sessions *t, uint32_t i)
{
    struct session *s = &t->v[i];
    uint32_t *pp = &t->buckets[sessions_bucket(t, s->rec.client_id)];

    while (*pp != i) {
        pp = &t->v[*pp].hnext;
    }
    *pp = s->hnext;
    if (s->older != NONE) {
        t->v[s->older].newer = s->newer;
    } else {
        t->oldest = s->newer;
    }
    if (s->newer != NONE) {
        t->v[s->newer].older = s->older;
    } else {
        t->newest = s->older;
    }
}

/* Record @rec, written at clock value @at, as the most recent write. Room
 * was reserved with sessions_reserve(t, .., @max) for a new client. */
static void sessions_put(struct sessions *t,
                         const struct command_session *rec,
                         uint64_t at,
                         uint32_t max)
{
    uint32_t i = sessions_find(t, rec->client_id);
    uint32_t b;

    if (i != NONE) {
        sessions_unlink(t, i);
    } else if (t->n < max) {
        assert(t->n < t->cap);
        i = t->n++;
    } else {
        /* Full: forget the client written least recently. */
        i = t->oldest;
        sessions_unlink(t, i);
    }
    t->v[i].rec = *rec;
    t->v[i].written_at = at;
    b = sessions_bucket(t, rec->client_id);
    t->v[i].hnext = t->buckets[b];
    t->buckets[b] = i;
    t->v[i].older = t->newest;
    t->v[i].newer = NONE;
    if (t->newest != NONE) {
        t->v[t->newest].newer = i;
    } else {
        t->oldest = i;
    }
    t->newest = i;
}

static uint32_t sessions_max(const struct fsm *f)
{
    unsigned max = f->config.sessions_max;
    if (max == 0) {
        return FSM_SESSIONS_MAX;
    }
    return max < SNAPSHOT_SESSIONS_MAX ? max : SNAPSHOT_SESSIONS_MAX;
}

static size_t pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* Database files in @dir are leftovers: the state is rebuilt from the log. */
static int clear_dir(const char *dir, char *errmsg)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    if (d == NULL) {
        err_printf(errmsg, "open %s: %s", dir, strerror(errno));
        return WR_IOERR;
    }
    while ((e = readdir(d)) != NULL) {
        char path[PATH_MAX];
        struct stat st;
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >=
            (int)sizeof path) {
            continue; /* Not a name this module made. */
        }
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
            unlink(path) != 0) {
            err_printf(errmsg, "remove %s: %s", path, strerror(errno));
            closedir(d);
            return WR_IOERR;
        }
    }
    closedir(d);
    return 0;
}

int fsm_create(const struct fsm_config *config, struct fsm **out, char *errmsg)
{
    char name[64];
    char real[PATH_MAX];
    struct fsm *f;
    int rv;

    if (mkdir(config->dir, 0755) != 0 && errno != EEXIST) {
        err_printf(errmsg, "create %s: %s", config->dir, strerror(errno));
        return WR_IOERR;
    }
    if (realpath(config->dir, real) == NULL) {
        err_printf(errmsg, "resolve %s: %s", config->dir, strerror(errno));
        return WR_IOERR;
    }
    rv = clear_dir(real, errmsg);
    if (rv != 0) {
        return rv;
    }
    f = calloc(1, sizeof *f);
    if (f == NULL) {
        goto err_nomem;
    }
    f->dir = strdup(real);
    if (f->dir == NULL) {
        goto err_after_alloc;
    }
    f->config = *config;
    f->config.dir = f->dir;
    if (f->config.checkpoint_threshold == 0) {
        f->config.checkpoint_threshold = DEFAULT_CHECKPOINT_THRESHOLD;
    }
    snprintf(name, sizeof name, "walraft-%llu-%u",
             (unsigned long long)config->node_id, ++vfs_counter);
    rv = vfs_create(name, config->node_id, config->seed, &f->vfs);
    if (rv != 0) {
        err_printf(errmsg, "register VFS %s: %s", name, err_str(rv));
        free(f->dir);
        free(f);
        return rv;
    }
    *out = f;
    return 0;

err_after_alloc:
    free(f);
err_nomem:
    err_printf(errmsg, "%s", err_str(WR_NOMEM));
    return WR_NOMEM;
}

static void close_one(struct fsm_db *db, sqlite3 **conn, struct stmts *stmts)
{
    if (*conn != NULL) {
        int rv;
        stmts_close(stmts);
        rv = sqlite3_close(*conn);
        if (rv != SQLITE_OK) {
            /* Only an unfinalized statement can cause this: a bug. */
            log_error("fsm: close %s: %s", db->name, sqlite3_errstr(rv));
            sqlite3_close_v2(*conn);
        }
        *conn = NULL;
    }
}

/* Both connections go (a transaction open on the second is rolled back by
 * the close); whoever kept one sees the generation move. */
static void db_close_conn(struct fsm_db *db)
{
    if (db->conn != NULL || db->tx_conn != NULL) {
        db->generation++;
    }
    close_one(db, &db->tx_conn, &db->tx_stmts);
    close_one(db, &db->conn, &db->stmts);
}

void fsm_destroy(struct fsm *f)
{
    if (f == NULL) {
        return;
    }
    fsm_snapshot_finalize(f, f->snap.bufs, f->snap.n_bufs);
    while (f->dbs != NULL) {
        struct fsm_db *db = f->dbs;
        f->dbs = db->next;
        if (db->vdb != NULL) {
            vfs_abort_any(db->vdb);
        }
        db_close_conn(db);
        sessions_close(&db->sessions);
        free(db->name);
        free(db->path);
        free(db);
    }
    vfs_destroy(f->vfs);
    free(f->dir);
    free(f);
}

/* Names become file names: keep them plain. */
static bool name_valid(const char *name)
{
    static const char *suffixes[] = {"-wal", "-shm", "-journal", ".restore"};
    size_t n = strlen(name);
    if (n == 0 || n > WR_DB_NAME_MAX || name[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')) {
            return false;
        }
    }
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        size_t m = strlen(suffixes[i]);
        if (n >= m && strcmp(name + n - m, suffixes[i]) == 0) {
            return false;
        }
    }
    return true;
}

static struct fsm_db *db_find(struct fsm *f, const char *name)
{
    for (struct fsm_db *db = f->dbs; db != NULL; db = db->next) {
        if (strcmp(db->name, name) == 0) {
            return db;
        }
    }
    return NULL;
}

static int exec_pragma(sqlite3 *conn, const char *sql, char *errmsg)
{
    char *msg = NULL;
    int rv = sqlite3_exec(conn, sql, NULL, NULL, &msg);
    if (rv != SQLITE_OK) {
        err_printf(errmsg, "%s: %s", sql, msg != NULL ? msg : sqlite3_errstr(rv));
        sqlite3_free(msg);
        return WR_IOERR;
    }
    return 0;
}

/* Open a connection with the settings the VFS depends on. Opening a new
 * database writes its page 1 (the switch to WAL mode) straight to the main
 * file; that page is the same on every node, and replicated frames replace
 * it from the first transaction on. */
static int open_conn(struct fsm_db *db, sqlite3 **slot, struct stmts *stmts,
                     char *errmsg)
{
    static const char *setup =
        "PRAGMA page_size=4096; PRAGMA synchronous=OFF; "
        "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;";
    sqlite3 *conn = NULL;
    int one = 1;
    int rv;

    rv = sqlite3_open_v2(db->path, &conn,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                             SQLITE_OPEN_NOMUTEX,
                         vfs_name(db->fsm->vfs));
    if (rv != SQLITE_OK) {
        err_printf(errmsg, "open %s: %s", db->name,
                   conn != NULL ? sqlite3_errmsg(conn) : sqlite3_errstr(rv));
        goto err_after_open;
    }
    sqlite3_extended_result_codes(conn, 1);
    rv = exec_pragma(conn, setup, errmsg);
    if (rv != 0) {
        goto err_after_open;
    }
    sqlite3_wal_autocheckpoint(conn, 0);
    sqlite3_db_config(conn, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    sqlite3_file_control(conn, "main", SQLITE_FCNTL_PERSIST_WAL, &one);
    db->vdb = vfs_db_lookup(db->fsm->vfs, db->path);
    if (db->vdb == NULL) {
        err_printf(errmsg, "open %s: not opened through the walraft VFS",
                   db->name);
        goto err_after_open;
    }
    if (db->fsm->auth != NULL) {
        sqlite3_set_authorizer(conn, db->fsm->auth, db->fsm->auth_arg);
    }
    *slot = conn;
    stmts_init(stmts, conn, STMTS_MAX);
    db->exists = true;
    return 0;

err_after_open:
    sqlite3_close(conn);
    return WR_IOERR;
}

int fsm_db_open(struct fsm *f, const char *name, struct fsm_db **out,
                char *errmsg)
{
    struct fsm_db *db = db_find(f, name);
    int rv;

    if (db == NULL) {
        if (!name_valid(name)) {
            err_printf(errmsg,
                       "invalid database name \"%.64s\": use 1 to 255 "
                       "letters, digits, '_', '-' or '.', not starting "
                       "with '.'",
                       name);
            return WR_INVALID;
        }
        db = calloc(1, sizeof *db);
        if (db == NULL) {
            err_printf(errmsg, "%s", err_str(WR_NOMEM));
            return WR_NOMEM;
        }
        db->fsm = f;
        sessions_init(&db->sessions);
        db->name = strdup(name);
        db->path = malloc(strlen(f->dir) + strlen(name) + 2);
        if (db->name == NULL || db->path == NULL) {
            free(db->name);
            free(db->path);
            free(db);
            err_printf(errmsg, "%s", err_str(WR_NOMEM));
            return WR_NOMEM;
        }
        sprintf(db->path, "%s/%s", f->dir, name);
        db->next = f->dbs;
        f->dbs = db;
    }
    if (db->conn == NULL) {
        rv = open_conn(db, &db->conn, &db->stmts, errmsg);
        if (rv != 0) {
            return rv;
        }
    }
    *out = db;
    return 0;
}

sqlite3 *fsm_db_conn(struct fsm_db *db, char *errmsg)
{
    if (db->conn == NULL && open_conn(db, &db->conn, &db->stmts, errmsg) != 0) {
        return NULL;
    }
    return db->conn;
}

sqlite3 *fsm_db_tx_conn(struct fsm_db *db, char *errmsg)
{
    /* The node's connection first: it is the one that sets the file up. */
    if (fsm_db_conn(db, errmsg) == NULL) {
        return NULL;
    }
    if (db->tx_conn == NULL &&
        open_conn(db, &db->tx_conn, &db->tx_stmts, errmsg) != 0) {
        return NULL;
    }
    return db->tx_conn;
}

void fsm_set_authorizer(struct fsm *f, fsm_authorizer auth, void *arg)
{
    f->auth = auth;
    f->auth_arg = arg;
    for (struct fsm_db *db = f->dbs; db != NULL; db = db->next) {
        if (db->conn != NULL) {
            sqlite3_set_authorizer(db->conn, auth, arg);
        }
        if (db->tx_conn != NULL) {
            sqlite3_set_authorizer(db->tx_conn, auth, arg);
        }
    }
}

struct stmts *fsm_db_stmts(struct fsm_db *db, sqlite3 *conn)
{
    if (conn != NULL && conn == db->conn) {
        return &db->stmts;
    }
    if (conn != NULL && conn == db->tx_conn) {
        return &db->tx_stmts;
    }
    return NULL;
}

uint64_t fsm_db_generation(const struct fsm_db *db)
{
    return db->generation;
}

/* Another node's frames are about to be appended to @db: a transaction
 * still open on the second connection must not outlive them (it holds
 * SQLite's WAL write lock and a snapshot the append makes stale; its commit
 * would write over the appended frames). Only a deposed leader can get
 * here with one open. */
static void end_open_tx(struct fsm_db *db)
{
    if (db->tx_conn != NULL && !sqlite3_get_autocommit(db->tx_conn)) {
        log_warn("fsm: %s: an interactive transaction was rolled back for "
                 "another leader's entry", db->name);
        sqlite3_exec(db->tx_conn, "ROLLBACK", NULL, NULL, NULL);
        db->generation++;
    }
}

const char *fsm_db_name(const struct fsm_db *db)
{
    return db->name;
}

const char *fsm_db_path(const struct fsm_db *db)
{
    return db->path;
}

bool fsm_db_pending(const struct fsm_db *db)
{
    return db->vdb != NULL && vfs_pending(db->vdb);
}

bool fsm_session_get(const struct fsm_db *db, uint64_t client_id,
                     struct command_session *out)
{
    uint32_t i = sessions_find(&db->sessions, client_id);
    if (i == NONE) {
        return false;
    }
    *out = db->sessions.v[i].rec;
    return true;
}

unsigned fsm_session_count(const struct fsm_db *db)
{
    return db->sessions.n;
}

uint64_t fsm_db_applied_commands(const struct fsm_db *db)
{
    return db->sessions.clock;
}

int fsm_poll(struct fsm_db *db, void **cmd, size_t *len, uint64_t *tx_id,
             char *errmsg)
{
    return fsm_poll_sessions(db, NULL, 0, cmd, len, tx_id, errmsg);
}

int fsm_poll_sessions(struct fsm_db *db,
                      const struct command_session *sessions,
                      unsigned n,
                      void **cmd,
                      size_t *len,
                      uint64_t *tx_id,
                      char *errmsg)
{
    struct vfs_tx tx;
    struct command_frames frames;
    const void **bases = NULL;
    void *base_buf = NULL;
    int rv;

    *cmd = NULL;
    *len = 0;
    *tx_id = 0;
    rv = db->vdb != NULL ? vfs_poll(db->vdb, &tx) : WR_NOTFOUND;
    if (rv == WR_NOTFOUND) {
        /* The transaction changed no page: only its sessions, if any, go
         * through the log. */
        if (n == 0) {
            return 0;
        }
        rv = command_sessions_encode(db->name, sessions, (uint32_t)n, cmd,
                                     len, errmsg);
        if (rv != 0) {
            err_wrap(errmsg, "encode %s", db->name);
        }
        return rv;
    }
    if (rv != 0) {
        err_printf(errmsg, "poll %s: %s", db->name, err_str(rv));
        vfs_abort_any(db->vdb);
        return rv;
    }
    frames = (struct command_frames){
        .tx_id = tx.id,
        .commit_size = tx.commit_size,
        .page_size = VFS_PAGE_SIZE,
        .n_pages = tx.n_pages,
        .db_name = db->name,
        .page_nos = tx.page_nos,
        .page_ptrs = tx.pages,
        .n_sessions = (uint32_t)n,
        .sessions = sessions,
    };
    if (db->fsm->config.compress) {
        /* Each page goes as a delta against its committed version, which
         * every node holds (command.h). Without the bases (out of memory,
         * a read error) the pages go whole: slower, never wrong. */
        bases = malloc((size_t)tx.n_pages * sizeof *bases);
        if (bases != NULL &&
            vfs_base_pages(db->vdb, tx.n_pages, tx.page_nos,
                           &frames.base_size, bases, &base_buf) == 0) {
            frames.bases = bases;
        }
    }
    rv = command_frames_encode(&frames, db->fsm->config.compress, cmd, len,
                               errmsg);
    free(bases);
    free(base_buf);
    vfs_tx_close(&tx);
    if (rv != 0) {
        err_wrap(errmsg, "encode %s", db->name);
        vfs_abort(db->vdb, frames.tx_id);
        return rv;
    }
    *tx_id = frames.tx_id;
    return 0;
}

/* Drop @db's pending transaction (@tx_id, or any when @any) and the
 * connection that made it. The connection goes because it still believes in
 * what the transaction did: its cached schema, for one, carries the bumped
 * schema cookie, and a later DDL from another leader that brings the file to
 * the same cookie would leave it with the wrong schema for good. */
static void drop_pending(struct fsm_db *db, uint64_t tx_id, bool any)
{
    if (db->vdb == NULL || !vfs_pending(db->vdb)) {
        return;
    }
    if (any) {
        vfs_abort_any(db->vdb);
    } else {
        vfs_abort(db->vdb, tx_id);
    }
    if (!vfs_pending(db->vdb)) {
        db_close_conn(db);
    }
}

void fsm_abort(struct fsm_db *db, uint64_t tx_id)
{
    drop_pending(db, tx_id, false);
}

static int checkpoint(struct fsm_db *db)
{
    int log = 0;
    int done = 0;
    int rv;

    if (db->conn == NULL || !vfs_idle(db->vdb) || db->fsm->snap.active) {
        return WR_BUSY;
    }
    rv = sqlite3_wal_checkpoint_v2(db->conn, "main",
                                   SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
    if (rv != SQLITE_OK || vfs_wal_frames(db->vdb) != 0) {
        /* A failing disk fails every try: apply tries again one threshold
         * of frames later, not after every entry (the WAL is in memory,
         * so nothing is lost meanwhile; it only grows). */
        db->checkpoint_at =
            vfs_wal_frames(db->vdb) + db->fsm->config.checkpoint_threshold;
        log_warn("fsm: checkpoint %s: %s (%d of %d frames); next try at %u "
                 "frames",
                 db->name, sqlite3_errstr(rv), done, log, db->checkpoint_at);
        return WR_BUSY;
    }
    db->checkpoint_at = 0;
    return 0;
}

/* Expand the delta payload of @cmd against @db's committed pages. A base
 * size that differs from the leader's means this database is not the one
 * the leader had at this index: WR_CORRUPT, like a checksum mismatch. */
static int expand(struct fsm_db *db, struct command_decoded *cmd,
                  char *errmsg)
{
    const void **bases;
    void *base_buf = NULL;
    uint32_t base_size = 0;
    int rv;

    bases = malloc((size_t)cmd->frames.n_pages * sizeof *bases);
    if (bases == NULL) {
        err_printf(errmsg, "apply %s: %s", db->name, err_str(WR_NOMEM));
        return WR_NOMEM;
    }
    rv = vfs_base_pages(db->vdb, cmd->frames.n_pages, cmd->frames.page_nos,
                        &base_size, bases, &base_buf);
    if (rv != 0) {
        err_printf(errmsg, "apply %s: read base pages: %s", db->name,
                   err_str(rv));
    } else if (base_size != cmd->delta_base_size) {
        err_printf(errmsg,
                   "apply %s: the database has %u pages, the leader's had "
                   "%u before this entry",
                   db->name, base_size, cmd->delta_base_size);
        rv = WR_CORRUPT;
    } else {
        rv = command_expand(cmd, bases, errmsg);
        if (rv != 0) {
            err_wrap(errmsg, "apply %s", db->name);
        }
    }
    free(bases);
    free(base_buf);
    return rv;
}

int fsm_apply(struct fsm *f, const void *buf, size_t len, char *errmsg)
{
    struct command_decoded cmd;
    struct fsm_db *db;
    int rv;

    rv = command_decode(buf, len, &cmd, errmsg);
    if (rv != 0) {
        err_wrap(errmsg, "apply: decode");
        return rv;
    }
    if (cmd.type == COMMAND_FRAMES && cmd.frames.page_size != VFS_PAGE_SIZE) {
        err_printf(errmsg, "apply: page size %u, this node uses %u",
                   cmd.frames.page_size, VFS_PAGE_SIZE);
        rv = WR_CORRUPT;
        goto out;
    }
    rv = fsm_db_open(f, cmd.db_name, &db, errmsg);
    if (rv != 0) {
        err_wrap(errmsg, "apply");
        rv = rv == WR_INVALID ? WR_CORRUPT : rv;
        goto out;
    }
    /* Before the pages: once they are in, the sessions must go in too. */
    rv = sessions_reserve(&db->sessions, cmd.n_sessions, sessions_max(f));
    if (rv != 0) {
        err_printf(errmsg, "apply %s: session table: %s", db->name,
                   err_str(rv));
        goto out;
    }
    if (cmd.type == COMMAND_SESSIONS) {
        /* Our own batches propose SESSIONS only with nothing pending, so a
         * pending transaction here lost its index to another leader. */
        if (vfs_pending(db->vdb)) {
            log_info("fsm: %s: pending transaction dropped for a newer "
                     "leader's entry", db->name);
            drop_pending(db, 0, true);
        }
    } else if (vfs_publish(db->vdb, cmd.frames.tx_id) != 0) {
        if (vfs_pending(db->vdb)) {
            /* Ours was superseded: another leader's entry won this index. */
            log_info("fsm: %s: pending transaction dropped for a newer "
                     "leader's entry", db->name);
            drop_pending(db, 0, true);
        }
        end_open_tx(db);
        if (command_needs_bases(&cmd)) {
            rv = expand(db, &cmd, errmsg);
            if (rv != 0) {
                goto out;
            }
        }
        rv = vfs_append(db->vdb, cmd.frames.commit_size, cmd.frames.n_pages,
                        cmd.frames.page_nos, cmd.frames.pages);
        if (rv != 0) {
            err_printf(errmsg, "apply %s: append frames: %s", db->name,
                       err_str(rv));
            goto out;
        }
    }
    db->sessions.clock++;
    for (uint32_t i = 0; i < cmd.n_sessions; i++) {
        sessions_put(&db->sessions, &cmd.sessions[i], db->sessions.clock,
                     sessions_max(f));
    }
    f->log_bytes += len;
    if (vfs_wal_frames(db->vdb) >= f->config.checkpoint_threshold &&
        vfs_wal_frames(db->vdb) >= db->checkpoint_at) {
        checkpoint(db);
    }
out:
    command_decoded_close(&cmd);
    return rv;
}

uint64_t fsm_log_bytes_since_snapshot(const struct fsm *f)
{
    return f->log_bytes;
}

int fsm_checkpoint_all(struct fsm *f)
{
    int rv = 0;
    for (struct fsm_db *db = f->dbs; db != NULL; db = db->next) {
        if (db->exists && db->vdb != NULL && vfs_wal_frames(db->vdb) > 0 &&
            checkpoint(db) != 0) {
            rv = WR_BUSY;
        }
    }
    return rv;
}

void fsm_foreach_db(struct fsm *f, void (*cb)(void *arg, struct fsm_db *db),
                    void *arg)
{
    for (struct fsm_db *db = f->dbs; db != NULL; db = db->next) {
        if (db->exists) {
            cb(arg, db);
        }
    }
}

/* ---------------------------------------------------------------------- */
/* Snapshots. */

static void *snap_alloc(struct snapshot *s, size_t n)
{
    void *p = calloc(1, n);
    if (p != NULL) {
        s->allocs[s->n_allocs++] = p;
    }
    return p;
}

/* Size the snapshot would have, to decide whether one is worth taking. */
static uint64_t databases_size(struct fsm *f)
{
    uint64_t total = 0;
    for (struct fsm_db *db = f->dbs; db != NULL; db = db->next) {
        struct stat st;
        if (db->exists && stat(db->path, &st) == 0) {
            total += (uint64_t)st.st_size;
        }
        if (db->exists && db->vdb != NULL) {
            total += (uint64_t)vfs_wal_frames(db->vdb) * VFS_PAGE_SIZE;
        }
    }
    return total;
}

static int snapshot_db(struct fsm *f, struct fsm_db *db, char *errmsg)
{
    struct snapshot *s = &f->snap;
    const uint8_t **wal_pages = NULL;
    uint32_t n = 0;
    uint8_t *hdr;
    uint8_t *copies;
    unsigned n_copies = 0;
    uint8_t *map = NULL;
    size_t map_len = 0;
    size_t name_len = strlen(db->name);
    size_t hdr_len;
    const struct sessions *t = &db->sessions;
    int rv;

    rv = vfs_committed(db->vdb, &n, &wal_pages);
    if (rv != 0) {
        err_printf(errmsg, "snapshot %s: %s", db->name, err_str(rv));
        return rv;
    }
    int fd = open(db->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        err_printf(errmsg, "snapshot %s: open: %s", db->name, strerror(errno));
        rv = WR_IOERR;
        goto out;
    }
    map_len = (size_t)st.st_size;
    if (map_len > 0) {
        map = mmap(NULL, map_len, PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
            err_printf(errmsg, "snapshot %s: mmap: %s", db->name,
                       strerror(errno));
            map = NULL;
            rv = WR_IOERR;
            goto out;
        }
        s->maps[s->n_maps].base = map;
        s->maps[s->n_maps].len = map_len;
        s->n_maps++;
    }
    for (uint32_t pgno = 1; pgno <= n; pgno++) {
        n_copies += wal_pages[pgno] != NULL;
    }
    hdr_len = SNAPSHOT_DB_HEADER_SIZE + pad8(name_len) +
              (size_t)t->n * SNAPSHOT_SESSION_SIZE;
    hdr = snap_alloc(s, hdr_len);
    copies = snap_alloc(s, (size_t)n_copies * VFS_PAGE_SIZE + 1);
    if (hdr == NULL || copies == NULL) {
        err_printf(errmsg, "snapshot %s: %s", db->name, err_str(WR_NOMEM));
        rv = WR_NOMEM;
        goto out;
    }
    s->bufs[s->n_bufs].base = hdr;
    s->bufs[s->n_bufs].len = hdr_len;
    s->n_bufs++;
    s->sums[s->n_sums].hdr = hdr;
    s->sums[s->n_sums].first = s->n_bufs;
    s->sums[s->n_sums].n = n;
    s->n_sums++;
    for (uint32_t pgno = 1; pgno <= n; pgno++) {
        void *page;
        if (wal_pages[pgno] != NULL) {
            page = copies;
            memcpy(page, wal_pages[pgno], VFS_PAGE_SIZE);
            copies += VFS_PAGE_SIZE;
        } else if ((size_t)pgno * VFS_PAGE_SIZE <= map_len) {
            page = map + (size_t)(pgno - 1) * VFS_PAGE_SIZE;
        } else {
            err_printf(errmsg, "snapshot %s: page %u is neither in the WAL "
                       "nor in the file", db->name, pgno);
            rv = WR_IOERR;
            goto out;
        }
        s->bufs[s->n_bufs].base = page;
        s->bufs[s->n_bufs].len = VFS_PAGE_SIZE;
        s->n_bufs++;
    }
    put_le32(hdr, n); /* The CRC at +4 comes later. */
    put_le16(hdr + 8, (uint16_t)name_len);
    put_le32(hdr + 12, t->n);
    put_le64(hdr + 16, t->clock);
    memcpy(hdr + SNAPSHOT_DB_HEADER_SIZE, db->name, name_len);
    {
        uint8_t *recs = hdr + SNAPSHOT_DB_HEADER_SIZE + pad8(name_len);
        uint8_t *r = recs;
        for (uint32_t i = t->oldest; i != NONE; i = t->v[i].newer) {
            put_le64(r, t->v[i].rec.client_id);
            put_le64(r + 8, t->v[i].rec.seq);
            put_le64(r + 16, (uint64_t)t->v[i].rec.changes);
            put_le64(r + 24, (uint64_t)t->v[i].rec.last_insert_id);
            put_le64(r + 32, t->v[i].written_at);
            r += SNAPSHOT_SESSION_SIZE;
        }
        put_le32(hdr + 24, crc32c(0, recs, (size_t)(r - recs)));
    }
out:
    if (fd >= 0) {
        close(fd);
    }
    free(wal_pages);
    return rv;
}

int fsm_snapshot_start(struct fsm *f, struct fsm_buf **bufs, unsigned *n_bufs,
                       char *errmsg)
{
    struct snapshot *s = &f->snap;
    unsigned n_dbs = 0;
    size_t max_bufs = 1;
    uint8_t *hdr;
    int rv;

    if (s->active) {
        err_printf(errmsg, "a snapshot is already being written");
        return WR_BUSY;
    }
    uint64_t size = databases_size(f);
    if (f->log_bytes < f->config.snapshot_min_bytes ||
        f->log_bytes * 100 < size * f->config.snapshot_ratio_percent) {
        err_printf(errmsg, "log since the last snapshot is still small");
        return WR_BUSY;
    }
    for (struct fsm_db *db = f->dbs; db != NULL; db = db->next) {
        if (db->exists && db->vdb != NULL) {
            n_dbs++;
            max_bufs += 1 + (size_t)vfs_wal_frames(db->vdb);
        }
    }
    max_bufs += size / VFS_PAGE_SIZE + n_dbs;
    memset(s, 0, sizeof *s);
    s->bufs = calloc(max_bufs, sizeof *s->bufs);
    s->allocs = calloc(1 + 2 * (size_t)n_dbs, sizeof *s->allocs);
    s->maps = calloc(n_dbs + 1, sizeof *s->maps);
    s->sums = calloc(n_dbs + 1, sizeof *s->sums);
    if (s->bufs == NULL || s->allocs == NULL || s->maps == NULL ||
        s->sums == NULL) {
        rv = WR_NOMEM;
        err_printf(errmsg, "snapshot: %s", err_str(rv));
        goto err;
    }
    hdr = snap_alloc(s, SNAPSHOT_HEADER_SIZE);
    if (hdr == NULL) {
        rv = WR_NOMEM;
        err_printf(errmsg, "snapshot: %s", err_str(rv));
        goto err;
    }
    put_le32(hdr, SNAPSHOT_MAGIC);
    put_le32(hdr + 4, SNAPSHOT_VERSION);
    put_le32(hdr + 8, n_dbs);
    put_le32(hdr + 12, VFS_PAGE_SIZE);
    s->bufs[s->n_bufs].base = hdr;
    s->bufs[s->n_bufs].len = SNAPSHOT_HEADER_SIZE;
    s->n_bufs++;
    for (struct fsm_db *db = f->dbs; db != NULL; db = db->next) {
        if (db->exists && db->vdb != NULL) {
            rv = snapshot_db(f, db, errmsg);
            if (rv != 0) {
                goto err;
            }
        }
    }
    s->active = true;
    f->log_bytes = 0;
    *bufs = s->bufs;
    *n_bufs = s->n_bufs;
    return 0;

err:
    s->active = true;
    fsm_snapshot_finalize(f, s->bufs, s->n_bufs);
    return rv;
}

struct unmap_job {
    struct mapping *maps;
    unsigned n;
};

static void unmap_now(struct mapping *maps, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        munmap(maps[i].base, maps[i].len);
    }
    free(maps);
}

static void *unmap_thread(void *arg)
{
    struct unmap_job *job = arg;

    unmap_now(job->maps, job->n);
    free(job);
    return NULL;
}

/* Unmap and free @maps. Unmapping a mapping whose pages were all read tears
 * down a page-table entry per page, 15-20 ms for 300 MB (perf, issue 7), and
 * finalize runs on the loop: large mappings go on a thread of their own,
 * which nothing waits for. */
static void unmap(struct mapping *maps, unsigned n)
{
    struct unmap_job *job;
    pthread_attr_t attr;
    pthread_t thread;
    size_t total = 0;
    bool started = false;

    for (unsigned i = 0; i < n; i++) {
        total += maps[i].len;
    }
    job = total >= UNMAP_OFF_LOOP_BYTES ? malloc(sizeof *job) : NULL;
    if (job != NULL && pthread_attr_init(&attr) == 0) {
        job->maps = maps;
        job->n = n;
        started = pthread_attr_setdetachstate(&attr,
                                              PTHREAD_CREATE_DETACHED) == 0 &&
                  pthread_create(&thread, &attr, unmap_thread, job) == 0;
        pthread_attr_destroy(&attr);
    }
    if (!started) {
        free(job);
        unmap_now(maps, n);
    }
}

void fsm_snapshot_finalize(struct fsm *f, struct fsm_buf *bufs, unsigned n)
{
    struct snapshot *s = &f->snap;
    (void)bufs;
    (void)n;
    if (!s->active) {
        return;
    }
    for (unsigned i = 0; i < s->n_allocs; i++) {
        free(s->allocs[i]);
    }
    unmap(s->maps, s->n_maps);
    free(s->allocs);
    free(s->sums);
    free(s->bufs);
    memset(s, 0, sizeof *s);
}

int fsm_snapshot(struct fsm *f, struct fsm_buf **bufs, unsigned *n_bufs,
                 char *errmsg)
{
    int rv = fsm_snapshot_start(f, bufs, n_bufs, errmsg);

    if (rv == 0) {
        fsm_snapshot_checksum(f);
    }
    return rv;
}

void fsm_snapshot_checksum(struct fsm *f)
{
    struct snapshot *s = &f->snap;

    for (unsigned i = 0; i < s->n_sums; i++) {
        uint32_t crc = 0;
        for (uint32_t k = 0; k < s->sums[i].n; k++) {
            crc = crc32c(crc, s->bufs[s->sums[i].first + k].base,
                         VFS_PAGE_SIZE);
        }
        put_le32(s->sums[i].hdr + 4, crc);
    }
}

/* One database of a snapshot being restored. */
struct restored {
    char name[WR_DB_NAME_MAX + 1];
    uint32_t n_pages;
    const uint8_t *pages;
    struct sessions sessions; /* Built by restore_parse(); owned. */
};

static void restored_free(struct restored *dbs, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        sessions_close(&dbs[i].sessions);
    }
    free(dbs);
}

/* Build the session table of @r from @n records at @p, least recently
 * written first, checking what a table relies on. */
static int restore_sessions(struct restored *r, const uint8_t *p, uint32_t n,
                            uint32_t max, char *errmsg)
{
    struct sessions *t = &r->sessions;

    if (sessions_reserve(t, n, max) != 0) {
        err_printf(errmsg, "snapshot database %s: session table: %s",
                   r->name, err_str(WR_NOMEM));
        return WR_NOMEM;
    }
    for (uint32_t i = 0; i < n; i++, p += SNAPSHOT_SESSION_SIZE) {
        struct command_session rec = {
            .client_id = get_le64(p),
            .seq = get_le64(p + 8),
            .changes = (int64_t)get_le64(p + 16),
            .last_insert_id = (int64_t)get_le64(p + 24),
        };
        uint64_t at = get_le64(p + 32);
        if (rec.client_id == 0 || rec.seq == 0 ||
            sessions_find(t, rec.client_id) != NONE || at > t->clock) {
            err_printf(errmsg, "snapshot database %s: session record %u is "
                       "invalid or repeats client %llu", r->name, i,
                       (unsigned long long)rec.client_id);
            return WR_CORRUPT;
        }
        sessions_put(t, &rec, at, max);
    }
    return 0;
}

static int restore_parse(const uint8_t *p, size_t len, uint32_t max,
                         struct restored **out, unsigned *n_out,
                         char *errmsg)
{
    struct restored *dbs = NULL;
    uint32_t n;
    size_t off = SNAPSHOT_HEADER_SIZE;
    int rv = WR_CORRUPT;

    if (len < SNAPSHOT_HEADER_SIZE || get_le32(p) != SNAPSHOT_MAGIC) {
        err_printf(errmsg, "not a walraft snapshot");
        return WR_CORRUPT;
    }
    if (get_le32(p + 4) != SNAPSHOT_VERSION) {
        err_printf(errmsg, "unknown snapshot format version %u",
                   get_le32(p + 4));
        return WR_CORRUPT;
    }
    if (get_le32(p + 12) != VFS_PAGE_SIZE) {
        err_printf(errmsg, "snapshot page size %u, this node uses %u",
                   get_le32(p + 12), VFS_PAGE_SIZE);
        return WR_CORRUPT;
    }
    n = get_le32(p + 8);
    if (n > (len - off) / SNAPSHOT_DB_HEADER_SIZE) {
        err_printf(errmsg, "snapshot claims %u databases", n);
        return WR_CORRUPT;
    }
    dbs = calloc((size_t)n + 1, sizeof *dbs);
    if (dbs == NULL) {
        err_printf(errmsg, "%s", err_str(WR_NOMEM));
        return WR_NOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        sessions_init(&dbs[i].sessions);
    }
    for (uint32_t i = 0; i < n; i++) {
        struct restored *r = &dbs[i];
        if (len - off < SNAPSHOT_DB_HEADER_SIZE) {
            err_printf(errmsg, "snapshot truncated in database %u header", i);
            goto err;
        }
        uint32_t pages = get_le32(p + off);
        uint32_t crc = get_le32(p + off + 4);
        size_t name_len = get_le16(p + off + 8);
        uint32_t n_sessions = get_le32(p + off + 12);
        uint64_t clock = get_le64(p + off + 16);
        uint32_t sessions_crc = get_le32(p + off + 24);
        size_t sessions_len;
        if (get_le16(p + off + 10) != 0 || get_le32(p + off + 28) != 0) {
            err_printf(errmsg, "snapshot database %u: reserved field is not "
                       "zero", i);
            goto err;
        }
        off += SNAPSHOT_DB_HEADER_SIZE;
        if (name_len == 0 || name_len > WR_DB_NAME_MAX ||
            pad8(name_len) > len - off) {
            err_printf(errmsg, "snapshot database %u: bad name length %zu", i,
                       name_len);
            goto err;
        }
        memcpy(r->name, p + off, name_len);
        r->name[name_len] = '\0';
        off += pad8(name_len);
        if (strlen(r->name) != name_len || !name_valid(r->name)) {
            err_printf(errmsg, "snapshot database %u: invalid name", i);
            goto err;
        }
        if (n_sessions > SNAPSHOT_SESSIONS_MAX ||
            (uint64_t)n_sessions * SNAPSHOT_SESSION_SIZE > len - off) {
            err_printf(errmsg, "snapshot database %s: %u session records, "
                       "%zu bytes left", r->name, n_sessions, len - off);
            goto err;
        }
        sessions_len = (size_t)n_sessions * SNAPSHOT_SESSION_SIZE;
        if (crc32c(0, p + off, sessions_len) != sessions_crc) {
            err_printf(errmsg, "snapshot database %s: session records "
                       "checksum mismatch", r->name);
            goto err;
        }
        r->sessions.clock = clock;
        rv = restore_sessions(r, p + off, n_sessions, max, errmsg);
        if (rv != 0) {
            goto err;
        }
        rv = WR_CORRUPT;
        off += sessions_len;
        if ((uint64_t)pages * VFS_PAGE_SIZE > len - off) {
            err_printf(errmsg, "snapshot database %s: %u pages, %zu bytes "
                       "left", r->name, pages, len - off);
            goto err;
        }
        r->n_pages = pages;
        r->pages = p + off;
        off += (size_t)pages * VFS_PAGE_SIZE;
        if (crc32c(0, r->pages, (size_t)pages * VFS_PAGE_SIZE) != crc) {
            err_printf(errmsg, "snapshot database %s: checksum mismatch",
                       r->name);
            goto err;
        }
        for (uint32_t j = 0; j < i; j++) {
            if (strcmp(dbs[j].name, r->name) == 0) {
                err_printf(errmsg, "snapshot names database %s twice",
                           r->name);
                goto err;
            }
        }
    }
    *out = dbs;
    *n_out = n;
    return 0;

err:
    restored_free(dbs, n);
    return rv;
}

/* Write @r as a new file and rename it over the database's main file. */
static int restore_file(const char *path, const struct restored *r,
                        char *errmsg)
{
    char tmp[PATH_MAX];
    size_t len = (size_t)r->n_pages * VFS_PAGE_SIZE;
    size_t done = 0;
    int fd;

    if (snprintf(tmp, sizeof tmp, "%s.restore", path) >= (int)sizeof tmp) {
        err_printf(errmsg, "restore %s: path too long", path);
        return WR_INVALID;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        err_printf(errmsg, "restore %s: %s", tmp, strerror(errno));
        return WR_IOERR;
    }
    while (done < len) {
        ssize_t n = pwrite(fd, r->pages + done, len - done, (off_t)done);
        if (n <= 0) {
            err_printf(errmsg, "restore %s: write: %s", tmp,
                       n < 0 ? strerror(errno) : "no progress");
            close(fd);
            unlink(tmp);
            return WR_IOERR;
        }
        done += (size_t)n;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        err_printf(errmsg, "restore %s: %s", path, strerror(errno));
        unlink(tmp);
        return WR_IOERR;
    }
    return 0;
}

int fsm_restore(struct fsm *f, const void *buf, size_t len, char *errmsg)
{
    struct restored *dbs;
    unsigned n;
    int rv;

    rv = restore_parse(buf, len, sessions_max(f), &dbs, &n, errmsg);
    if (rv != 0) {
        err_wrap(errmsg, "restore");
        return rv;
    }
    /* Every connection goes: their caches describe the old content. */
    for (struct fsm_db *db = f->dbs; db != NULL; db = db->next) {
        if (db->vdb != NULL) {
            vfs_abort_any(db->vdb);
        }
        db_close_conn(db);
    }
    for (struct fsm_db *db = f->dbs; db != NULL; db = db->next) {
        bool kept = false;
        for (unsigned i = 0; i < n; i++) {
            kept |= strcmp(dbs[i].name, db->name) == 0;
        }
        if (!kept && db->exists) {
            if (unlink(db->path) != 0 && errno != ENOENT) {
                err_printf(errmsg, "restore: remove %s: %s", db->path,
                           strerror(errno));
                rv = WR_IOERR;
                goto out;
            }
            db->exists = false;
            if (db->vdb != NULL) {
                vfs_db_reset(db->vdb);
            }
        }
        if (!kept) {
            sessions_close(&db->sessions);
        }
    }
    for (unsigned i = 0; i < n; i++) {
        struct fsm_db *db;
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", f->dir, dbs[i].name) >=
            (int)sizeof path) {
            err_printf(errmsg, "restore: path too long");
            rv = WR_IOERR;
            goto out;
        }
        rv = restore_file(path, &dbs[i], errmsg);
        if (rv != 0) {
            goto out;
        }
        db = db_find(f, dbs[i].name);
        if (db != NULL && db->vdb != NULL) {
            vfs_db_reset(db->vdb);
        }
        rv = fsm_db_open(f, dbs[i].name, &db, errmsg);
        if (rv != 0) {
            err_wrap(errmsg, "restore");
            goto out;
        }
        /* The snapshot's table replaces ours (ownership moves). */
        sessions_close(&db->sessions);
        db->sessions = dbs[i].sessions;
        sessions_init(&dbs[i].sessions);
    }
    f->log_bytes = 0;
out:
    restored_free(dbs, n);
    return rv;
}
