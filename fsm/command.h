/*
 * The Raft log's command format.
 *
 * Every entry walraft appends to the log is one command. All integers are
 * little-endian; every command is padded with zeros to a multiple of 8 bytes
 * (libraft 0.15 corrupts entries of any other length, catalogue U6).
 *
 * Header, 24 bytes:
 *
 *   0  u32  magic "WRCM" (0x4d435257 read little-endian)
 *   4  u8   format version, 1
 *   5  u8   type: 1 = FRAMES, 2 = SESSIONS
 *   6  u16  flags: bit 0 = the page payload is LZ4-compressed (FRAMES only),
 *                  bit 1 = session records follow the payload (FRAMES only),
 *                  bit 2 = the page payload is a delta payload (below;
 *                  FRAMES only, never with bit 0);
 *                  a SESSIONS command has no flag set
 *   8  u32  body length in bytes (everything after the header, before padding)
 *  12  u32  CRC-32C of the body
 *  16  u64  reserved, zero
 *
 * FRAMES body: the pages one committed SQLite transaction changed in one
 * database.
 *
 *   0  u64  tx id: chosen by the leader that captured the transaction, so that
 *           it recognises its own pending transaction when the entry is
 *           applied (other nodes ignore it)
 *   8  u32  commit size: the database size in pages after the transaction
 *  12  u32  page size in bytes (a power of two, 512..65536)
 *  16  u32  number of pages N (at least 1)
 *  20  u16  database name length L (1..WR_DB_NAME_MAX)
 *  22  u16  reserved, zero
 *  24  L bytes of name, zero-padded to a multiple of 8
 *   .  N × u32 page numbers, strictly increasing, each in 1..commit size,
 *      zero-padded to a multiple of 8
 *   .  u32 stored payload length S, u32 reserved zero, or with flag bit 2
 *      the CRC-32C of the N pages the delta payload expands to
 *   .  S bytes of payload: the N pages in page-number order, N × page size
 *      bytes, either raw (S = N × page size) or one LZ4 block that
 *      decompresses to exactly that many bytes, or (flag bit 2) a delta
 *      payload, S < N × page size:
 *        0  u32  base size B: the database size in pages before the
 *                transaction
 *        4  u32  reserved, zero
 *        8  N × u32 block lengths, each at least 1, zero-padded to a
 *           multiple of 8
 *        .  the N LZ4 blocks back to back, ending exactly at S. Block i
 *           decompresses to exactly one page, with page i's base as the LZ4
 *           dictionary: its content in the committed database before the
 *           transaction if its number is at most B, else a page of zeros
 *   .  only when flag bit 1 is set: zero padding of the payload to a
 *      multiple of 8, then the session records (below), at least one
 *
 * SESSIONS body: the session records of a batch that changed no page, so
 * that its clients' retries are recognised all the same (ARCHITECTURE.md
 * section 2, "Exactly-once writes").
 *
 *   0  u16  database name length L (1..WR_DB_NAME_MAX)
 *   2  u16  reserved, zero
 *   4  u32  reserved, zero
 *   8  L bytes of name, zero-padded to a multiple of 8
 *   .  the session records (below), at least one
 *
 * Session records, in both bodies:
 *
 *   0  u32  number of records R (1..COMMAND_SESSIONS_MAX)
 *   4  u32  reserved, zero
 *   8  R × 32 bytes, client ids strictly increasing:
 *        0  u64  client id (not 0)
 *        8  u64  sequence number (not 0): the client's latest write
 *       16  i64  rows that write changed
 *       24  i64  its last insert rowid
 *
 * The body ends exactly where the last record ends.
 *
 * Decoders check every field and length against the buffer before they touch
 * the data and refuse anything malformed with WR_CORRUPT and a message that
 * says which check failed; they never read past the buffer.
 */
#ifndef WR_FSM_COMMAND_H
#define WR_FSM_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COMMAND_MAGIC 0x4d435257u
#define COMMAND_VERSION 1
#define COMMAND_HEADER_SIZE 24
#define WR_DB_NAME_MAX 255

/* Most session records in one command: far above any batch size. */
#define COMMAND_SESSIONS_MAX 65536

enum command_type { COMMAND_FRAMES = 1, COMMAND_SESSIONS = 2 };

/* One client's latest write, recorded with the write (exactly-once
 * sessions, fsm.h). */
struct command_session {
    uint64_t client_id;
    uint64_t seq;
    int64_t changes;
    int64_t last_insert_id;
};

/* Why deltas (issue 7): a single-row upsert changes three pages (table
 * leaf, index leaf, page 1) by a few hundred bytes each, yet plain LZ4
 * stores about 6.7 KB for them. Compressing each page against its previous
 * version stores little more than the changed bytes, and every node holds
 * that previous version: its committed database is the same, page for
 * page, at every index. The base size in the payload lets an applying node
 * check that, and the CRC of the expanded pages catches any base that
 * differs; either mismatch is WR_CORRUPT, never a silently wrong page. */

/* The pages of one transaction. Either form of the payload may be used by the
 * encoder: @pages (N contiguous pages) or @page_ptrs (N separate pages). */
struct command_frames {
    uint64_t tx_id;
    uint32_t commit_size;
    uint32_t page_size;
    uint32_t n_pages;
    const char *db_name;      /* NUL-terminated. */
    const uint32_t *page_nos; /* N page numbers, strictly increasing. */
    const void *const *page_ptrs; /* Encoder input: N pointers to pages. */
    const void *pages;        /* Decoder output: N × page_size bytes; NULL
                                 until command_expand() for a delta. */
    /* Encoder input, optional: N pointers to the base version of each page
     * (NULL: a page of zeros) and the base size B. With @bases set and
     * compression on, the payload is a delta payload when that is smaller
     * than the raw pages. */
    const void *const *bases;
    uint32_t base_size;
    /* Session records written with the pages (0 and NULL: none). */
    uint32_t n_sessions;
    const struct command_session *sessions;
};

/* Encode @frames into a newly malloc'ed buffer whose length is a multiple of
 * 8, with its session records when n_sessions > 0 (client ids strictly
 * increasing, at most COMMAND_SESSIONS_MAX). When @compress is true the
 * payload is LZ4-compressed if that makes it smaller. On success *@buf and *@len are set and ownership of *@buf passes to
 * the caller (free it with free()). Returns 0, WR_NOMEM, WR_INVALID (bad
 * input, with @errmsg set) or WR_TOOBIG. */
int command_frames_encode(const struct command_frames *frames,
                          bool compress,
                          void **buf,
                          size_t *len,
                          char *errmsg);

/* Encode a SESSIONS command for database @db_name carrying @n (1 ≤ n ≤
 * COMMAND_SESSIONS_MAX) records, client ids strictly increasing. Ownership
 * as for command_frames_encode(). Returns 0, WR_NOMEM or WR_INVALID (with
 * @errmsg set). */
int command_sessions_encode(const char *db_name,
                            const struct command_session *sessions,
                            uint32_t n,
                            void **buf,
                            size_t *len,
                            char *errmsg);

/* A decoded command. It may point into the buffer it was decoded from, so it
 * is valid until that buffer is released and until command_decoded_close().
 * Whatever the type, db_name names the database and sessions/n_sessions are
 * the session records (frames.sessions too, for a FRAMES command). */
struct command_decoded {
    int type;
    struct command_frames frames; /* When type == COMMAND_FRAMES. */
    char db_name[WR_DB_NAME_MAX + 1];
    uint32_t n_sessions;
    const struct command_session *sessions; /* Host order; in records. */
    void *scratch; /* Page numbers and decompressed payload; owned. */
    void *records; /* Session records; owned. */
    /* A delta payload still to expand (frames.pages is NULL until then):
     * the blocks, their lengths, the base size and the pages' CRC. */
    const uint8_t *delta;
    const uint8_t *delta_lens;
    uint32_t delta_base_size;
    uint32_t delta_crc;
};

/* Decode @len bytes at @buf. No reference to @buf is kept beyond what the
 * decoded struct points at. Returns 0, WR_CORRUPT (with @errmsg saying which
 * check failed), WR_UNSUPPORTED (unknown version or type, with @errmsg) or
 * WR_NOMEM. On error nothing needs closing. */
int command_decode(const void *buf,
                   size_t len,
                   struct command_decoded *out,
                   char *errmsg);

/* True if @d is a FRAMES command whose pages are stored as deltas: call
 * command_expand() before using frames.pages. d->delta_base_size is the
 * database size in pages the bases must come from. */
bool command_needs_bases(const struct command_decoded *d);

/* Expand the delta payload of @d into frames.pages, with @bases[i] (NULL: a
 * page of zeros) as the base of page i; no reference to @bases is kept.
 * Returns 0, or WR_CORRUPT with @errmsg set if a block does not expand to
 * exactly one page or the pages do not match the command's CRC (a base
 * that differs from the leader's). Call once. */
int command_expand(struct command_decoded *d,
                   const void *const *bases,
                   char *errmsg);

/* Release what command_decode() allocated. */
void command_decoded_close(struct command_decoded *d);

#endif /* WR_FSM_COMMAND_H */
