/*
 * Encoding and decoding of the Raft log's commands.
 *
 * The byte format is the one in command.h; this file implements it and adds
 * the rules the decoder enforces. A command arrives from the network and the
 * disk, so the decoder trusts nothing: it checks the header, that the buffer
 * is exactly the body padded to a multiple of 8, and the CRC-32C of the body
 * before it parses the body, then checks every field and every length
 * against what is left of the body before it touches the bytes behind it.
 * Lengths are added and multiplied in 64 bits, where no combination of u32
 * and u16 fields can overflow. Nothing is allocated until every check that
 * can be made without decompressing has passed, and then only a host-order
 * copy of page numbers that are present in the buffer plus, for a compressed
 * payload, the pages it must expand to, which check_payload() has bounded by
 * LZ4's largest possible expansion of the stored bytes and by the size limit.
 *
 * Rules beyond the layout, all enforced in both directions:
 *
 * - Every reserved field and every padding byte is zero.
 * - An unknown version, type or flag bit is WR_UNSUPPORTED (a newer writer,
 *   most likely); anything else malformed is WR_CORRUPT.
 * - The buffer is exactly 24 + body length rounded up to a multiple of 8;
 *   there is no slack before or after it, so a truncated entry is refused
 *   however short the cut.
 * - The body ends exactly where the payload ends, or where the last session
 *   record ends when records follow.
 * - Session records name distinct clients, in strictly increasing client id
 *   order (so one command records at most one write per client and every
 *   node applies them in the same order), none with client id or sequence
 *   number 0; a command that says records follow carries at least one.
 * - A compressed payload is strictly smaller than the raw pages (the encoder
 *   keeps compression only when it saves space), so flipping the flag on an
 *   uncompressed command can never be mistaken for a valid one.
 * - A delta payload (flag bit 2) is likewise strictly smaller than the raw
 *   pages, never flagged LZ4 as well, and its block lengths are each at
 *   least 1 and add up to exactly what the payload holds after its header
 *   and length array. command_decode() checks all that but expands nothing:
 *   the bases belong to the applying node's database, so command_expand()
 *   does it, and the CRC of the expanded pages proves the bases were the
 *   leader's.
 * - A command, taken in its uncompressed form, is at most COMMAND_SIZE_MAX
 *   bytes. The limit is on the uncompressed form so that whether a
 *   transaction fits does not depend on how well its pages compress, and so
 *   that a follower never allocates more than that for a compressed payload
 *   the leader accepted.
 *
 * Decoded output. frames.pages is one run of n_pages × page_size bytes: for a
 * raw payload it points into the caller's buffer (zero copy); for a
 * compressed one it points into the scratch block. frames.page_nos is an
 * array of host-order uint32_t in the scratch block, so callers index it
 * directly whatever the alignment of their buffer; the scratch block is one
 * malloc: the page numbers, padded to 16 bytes, then (when compressed) the
 * decompressed pages, which end exactly at the end of the block so that any
 * overrun would be caught by ASan. frames.page_ptrs is NULL; the encoder
 * falls back to frames.pages when page_ptrs is NULL, so a decoded command can
 * be re-encoded as it is. frames.db_name points at the struct's own db_name
 * array, so a decoded struct must not be copied or moved.
 */
#include "command.h"

#include <lz4.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/byteorder.h"
#include "../lib/crc32c.h"
#include "../lib/err.h"

/* Largest command, in its uncompressed form (see the top of this file). */
#define COMMAND_SIZE_MAX ((uint64_t)1 << 30)

/* Bits of the header's flags. */
#define FLAG_LZ4 0x0001u
#define FLAG_SESSIONS 0x0002u
#define FLAG_DELTA 0x0004u

/* Base size and reserved word at the start of a delta payload. */
#define DELTA_HEADER_SIZE 8

/* Fixed part of the SESSIONS body, before the name. */
#define SESSIONS_FIXED_SIZE 8

/* Count and reserved word before the session records; one record. */
#define SESSIONS_HEADER_SIZE 8
#define SESSION_RECORD_SIZE 32

/* Fixed part of the FRAMES body, before the name. */
#define FRAMES_FIXED_SIZE 24

/* Stored payload length and its reserved word. */
#define PAYLOAD_HEADER_SIZE 8

/* LZ4 writes at most 255 output bytes per input byte (a match length is
 * extended by bytes of up to 255 each), so a payload claiming more than this
 * per stored byte is a lie and is refused before anything is allocated. */
#define LZ4_MAX_RATIO 256

#define PAGE_SIZE_MIN 512
#define PAGE_SIZE_MAX 65536

static uint64_t pad8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

/* Size of a whole command, header and padding included, if its payload were
 * stored raw. Cannot overflow: the largest result is about 2^48. */
static uint64_t frames_raw_size(uint32_t name_len,
                                uint32_t n_pages,
                                uint32_t page_size)
{
    return COMMAND_HEADER_SIZE + FRAMES_FIXED_SIZE + pad8(name_len) +
           pad8((uint64_t)n_pages * 4) + PAYLOAD_HEADER_SIZE +
           (uint64_t)n_pages * page_size;
}

/* Bytes the session records of a command take, count word included. */
static uint64_t sessions_size(uint32_t n)
{
    return n == 0 ? 0 : SESSIONS_HEADER_SIZE + (uint64_t)n * SESSION_RECORD_SIZE;
}

/* The rules on session records (top of this file), for both directions:
 * the encoder refuses with WR_INVALID, the decoder with WR_CORRUPT. */
static int check_sessions(const struct command_session *s,
                          uint32_t n,
                          int code,
                          char *errmsg)
{
    if (n > COMMAND_SESSIONS_MAX) {
        err_printf(errmsg, "%u session records, over the limit of %d", n,
                   COMMAND_SESSIONS_MAX);
        return code;
    }
    if (n > 0 && s == NULL) {
        err_printf(errmsg, "session records are NULL");
        return code;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (s[i].client_id == 0 || s[i].seq == 0) {
            err_printf(errmsg,
                       "session record %u has client id %llu and sequence "
                       "number %llu: neither may be 0",
                       i, (unsigned long long)s[i].client_id,
                       (unsigned long long)s[i].seq);
            return code;
        }
        if (i > 0 && s[i].client_id <= s[i - 1].client_id) {
            err_printf(errmsg,
                       "session client ids are not strictly increasing: "
                       "%llu follows %llu at record %u",
                       (unsigned long long)s[i].client_id,
                       (unsigned long long)s[i - 1].client_id, i);
            return code;
        }
    }
    return 0;
}

/* Write the count word and the @n records at @p; returns the end. */
static uint8_t *put_sessions(uint8_t *p,
                             const struct command_session *s,
                             uint32_t n)
{
    put_le32(p, n);
    put_le32(p + 4, 0);
    p += SESSIONS_HEADER_SIZE;
    for (uint32_t i = 0; i < n; i++) {
        put_le64(p, s[i].client_id);
        put_le64(p + 8, s[i].seq);
        put_le64(p + 16, (uint64_t)s[i].changes);
        put_le64(p + 24, (uint64_t)s[i].last_insert_id);
        p += SESSION_RECORD_SIZE;
    }
    return p;
}

/* Fill in the 24-byte header of a command whose body is in place. */
static void put_header(uint8_t *out,
                       unsigned type,
                       uint16_t flags,
                       size_t body_len)
{
    put_le32(out, COMMAND_MAGIC);
    out[4] = COMMAND_VERSION;
    out[5] = (uint8_t)type;
    put_le16(out + 6, flags);
    put_le32(out + 8, (uint32_t)body_len);
    put_le32(out + 12, crc32c(0, out + COMMAND_HEADER_SIZE, body_len));
    put_le64(out + 16, 0);
}

static bool page_size_ok(uint32_t page_size)
{
    return page_size >= PAGE_SIZE_MIN && page_size <= PAGE_SIZE_MAX &&
           (page_size & (page_size - 1)) == 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0) {
            return false;
        }
    }
    return true;
}

/* The base of a page past the base size: zeros, never written. */
static uint8_t zero_page[PAGE_SIZE_MAX];

/*
 * Encoder.
 */

/* Length of the NUL-terminated @s, reading at most @max + 1 bytes of it
 * (strnlen is POSIX, not C11). Returns @max + 1 if @s is longer than @max. */
static size_t bounded_strlen(const char *s, size_t max)
{
    size_t n = 0;
    while (n <= max && s[n] != '\0') {
        n++;
    }
    return n;
}

/* Check what the caller handed in and measure the name. */
static int check_frames(const struct command_frames *f,
                        size_t *name_len,
                        char *errmsg)
{
    uint32_t i;

    if (f->db_name == NULL) {
        err_printf(errmsg, "database name is NULL");
        return WR_INVALID;
    }
    /* Not strlen: a caller's unterminated or huge name is read no further
     * than the longest name we accept plus one byte. */
    *name_len = bounded_strlen(f->db_name, WR_DB_NAME_MAX);
    if (*name_len == 0) {
        err_printf(errmsg, "database name is empty");
        return WR_INVALID;
    }
    if (*name_len > WR_DB_NAME_MAX) {
        err_printf(errmsg, "database name is longer than %d bytes",
                   WR_DB_NAME_MAX);
        return WR_INVALID;
    }
    if (!page_size_ok(f->page_size)) {
        err_printf(errmsg, "page size %u is not a power of two in %d..%d",
                   f->page_size, PAGE_SIZE_MIN, PAGE_SIZE_MAX);
        return WR_INVALID;
    }
    if (f->n_pages == 0) {
        err_printf(errmsg, "no pages");
        return WR_INVALID;
    }
    if (f->page_nos == NULL) {
        err_printf(errmsg, "page numbers are NULL");
        return WR_INVALID;
    }
    if (f->page_ptrs == NULL && f->pages == NULL) {
        err_printf(errmsg, "neither page pointers nor pages given");
        return WR_INVALID;
    }
    for (i = 0; i < f->n_pages; i++) {
        uint32_t pgno = f->page_nos[i];
        if (pgno == 0 || pgno > f->commit_size) {
            err_printf(errmsg,
                       "page number %u (index %u) is outside 1..%u, the "
                       "commit size",
                       pgno, i, f->commit_size);
            return WR_INVALID;
        }
        if (i > 0 && pgno <= f->page_nos[i - 1]) {
            err_printf(errmsg,
                       "page numbers are not strictly increasing: %u follows "
                       "%u at index %u",
                       pgno, f->page_nos[i - 1], i);
            return WR_INVALID;
        }
        if (f->page_ptrs != NULL && f->page_ptrs[i] == NULL) {
            err_printf(errmsg, "page pointer %u is NULL", i);
            return WR_INVALID;
        }
    }
    return check_sessions(f->sessions, f->n_sessions, WR_INVALID, errmsg);
}

/* Copy the caller's pages, in order, to @dst. */
static void gather_pages(const struct command_frames *f, uint8_t *dst)
{
    size_t page_size = f->page_size;

    if (f->page_ptrs == NULL) {
        memcpy(dst, f->pages, (size_t)f->n_pages * page_size);
        return;
    }
    for (uint32_t i = 0; i < f->n_pages; i++) {
        memcpy(dst + (size_t)i * page_size, f->page_ptrs[i], page_size);
    }
}

static const uint8_t *page_at(const struct command_frames *f, uint32_t i)
{
    if (f->page_ptrs != NULL) {
        return f->page_ptrs[i];
    }
    return (const uint8_t *)f->pages + (size_t)i * f->page_size;
}

/* Write the delta payload of @f (format at the top of command.h) at @dst,
 * in at most @cap bytes, and the CRC of its pages to *@crc. Returns its
 * length, 0 if it does not fit in @cap (store the pages otherwise), or -1
 * if out of memory. */
static long encode_delta(const struct command_frames *f,
                         uint8_t *dst,
                         size_t cap,
                         uint32_t *crc)
{
    size_t lens_size = (size_t)pad8((uint64_t)f->n_pages * 4);
    size_t off = DELTA_HEADER_SIZE + lens_size;
    LZ4_stream_t *stream;
    int page_size = (int)f->page_size;

    if (cap <= off) {
        return 0;
    }
    stream = LZ4_createStream();
    if (stream == NULL) {
        return -1;
    }
    put_le32(dst, f->base_size);
    put_le32(dst + 4, 0);
    memset(dst + DELTA_HEADER_SIZE, 0, lens_size);
    *crc = 0;
    for (uint32_t i = 0; i < f->n_pages; i++) {
        const uint8_t *page = page_at(f, i);
        const void *base = f->bases[i] != NULL ? f->bases[i] : zero_page;
        int n;

        /* LZ4_loadDict() resets the stream: each page is compressed with
         * its own base only, so it can be expanded on its own. */
        LZ4_loadDict(stream, base, page_size);
        n = LZ4_compress_fast_continue(stream, (const char *)page,
                                       (char *)dst + off, page_size,
                                       (int)(cap - off), 1);
        if (n <= 0) {
            LZ4_freeStream(stream);
            return 0;
        }
        put_le32(dst + DELTA_HEADER_SIZE + (size_t)i * 4, (uint32_t)n);
        off += (size_t)n;
        *crc = crc32c(*crc, page, f->page_size);
    }
    LZ4_freeStream(stream);
    return (long)off;
}

int command_frames_encode(const struct command_frames *frames,
                          bool compress,
                          void **buf,
                          size_t *len,
                          char *errmsg)
{
    size_t name_len;
    uint64_t raw_total;
    size_t raw_payload;
    size_t payload_size;
    size_t body_len;
    size_t total;
    uint16_t flags = 0;
    uint8_t *out;
    uint8_t *p;
    uint8_t *payload_len_at;
    uint8_t *gathered = NULL;
    int rv;

    rv = check_frames(frames, &name_len, errmsg);
    if (rv != 0) {
        return rv;
    }
    /* The raw payload is a multiple of 512 bytes, so session records
     * follow it without padding; a smaller compressed one pads to at most
     * its size. */
    raw_total = frames_raw_size((uint32_t)name_len, frames->n_pages,
                                frames->page_size) +
                sessions_size(frames->n_sessions);
    if (raw_total > COMMAND_SIZE_MAX) {
        err_printf(errmsg,
                   "%u pages of %u bytes make a command of %llu bytes, over "
                   "the limit of %llu",
                   frames->n_pages, frames->page_size,
                   (unsigned long long)raw_total,
                   (unsigned long long)COMMAND_SIZE_MAX);
        return WR_TOOBIG;
    }
    /* From here every size is at most 1 GiB: it fits size_t, the u32 length
     * fields and LZ4's int. */
    raw_payload = (size_t)frames->n_pages * frames->page_size;

    /* Allocate for the raw form, the largest the command can be; shrink at
     * the end if compression won. */
    out = malloc((size_t)raw_total);
    if (out == NULL) {
        goto err_nomem;
    }

    p = out + COMMAND_HEADER_SIZE;
    put_le64(p, frames->tx_id);
    put_le32(p + 8, frames->commit_size);
    put_le32(p + 12, frames->page_size);
    put_le32(p + 16, frames->n_pages);
    put_le16(p + 20, (uint16_t)name_len);
    put_le16(p + 22, 0);
    p += FRAMES_FIXED_SIZE;

    memset(p, 0, (size_t)pad8(name_len));
    memcpy(p, frames->db_name, name_len);
    p += pad8(name_len);

    for (uint32_t i = 0; i < frames->n_pages; i++) {
        put_le32(p, frames->page_nos[i]);
        p += 4;
    }
    if (frames->n_pages % 2 != 0) {
        put_le32(p, 0);
        p += 4;
    }

    payload_len_at = p;
    p += PAYLOAD_HEADER_SIZE;

    payload_size = raw_payload;
    if (compress && frames->bases != NULL) {
        /* Strictly smaller than the raw pages, as the decoder requires. */
        uint32_t crc = 0;
        long n = encode_delta(frames, p, raw_payload - 1, &crc);
        if (n < 0) {
            goto err_after_alloc;
        }
        if (n > 0) {
            payload_size = (size_t)n;
            flags |= FLAG_DELTA;
            put_le32(payload_len_at + 4, crc);
        } else {
            gather_pages(frames, p);
            put_le32(payload_len_at + 4, 0);
        }
    } else if (compress) {
        const char *src = frames->pages;
        int n;
        if (frames->page_ptrs != NULL) {
            /* LZ4 compresses one contiguous block, and the format stores
             * one block. */
            gathered = malloc(raw_payload);
            if (gathered == NULL) {
                goto err_after_alloc;
            }
            gather_pages(frames, gathered);
            src = (const char *)gathered;
        }
        /* With room for one byte less than the input, LZ4 returns 0 as
         * soon as its output could not be smaller, and we store raw. */
        n = LZ4_compress_default(src, (char *)p, (int)raw_payload,
                                 (int)raw_payload - 1);
        if (n > 0) {
            payload_size = (size_t)n;
            flags |= FLAG_LZ4;
        } else {
            memcpy(p, src, raw_payload);
        }
        free(gathered);
        put_le32(payload_len_at + 4, 0);
    } else {
        gather_pages(frames, p);
        put_le32(payload_len_at + 4, 0);
    }
    put_le32(payload_len_at, (uint32_t)payload_size);
    p += payload_size;
    if (frames->n_sessions > 0) {
        size_t pad = (size_t)pad8(payload_size) - payload_size;
        memset(p, 0, pad);
        p = put_sessions(p + pad, frames->sessions, frames->n_sessions);
        flags |= FLAG_SESSIONS;
    }

    body_len = (size_t)(p - out) - COMMAND_HEADER_SIZE;
    total = COMMAND_HEADER_SIZE + (size_t)pad8(body_len);
    memset(p, 0, total - (size_t)(p - out));
    put_header(out, COMMAND_FRAMES, flags, body_len);

    if (total < raw_total) {
        /* Shrinking; if realloc cannot, the larger block is still fine. */
        uint8_t *smaller = realloc(out, total);
        if (smaller != NULL) {
            out = smaller;
        }
    }

    *buf = out;
    *len = total;
    return 0;

err_after_alloc:
    free(out);
err_nomem:
    err_printf(errmsg, "out of memory encoding %u pages of %u bytes",
               frames->n_pages, frames->page_size);
    return WR_NOMEM;
}

int command_sessions_encode(const char *db_name,
                            const struct command_session *sessions,
                            uint32_t n,
                            void **buf,
                            size_t *len,
                            char *errmsg)
{
    size_t name_len;
    size_t body_len;
    uint8_t *out;
    uint8_t *p;
    int rv;

    if (db_name == NULL) {
        err_printf(errmsg, "database name is NULL");
        return WR_INVALID;
    }
    name_len = bounded_strlen(db_name, WR_DB_NAME_MAX);
    if (name_len == 0 || name_len > WR_DB_NAME_MAX) {
        err_printf(errmsg, "database name must be 1..%d bytes",
                   WR_DB_NAME_MAX);
        return WR_INVALID;
    }
    if (n == 0) {
        err_printf(errmsg, "a SESSIONS command needs at least one record");
        return WR_INVALID;
    }
    rv = check_sessions(sessions, n, WR_INVALID, errmsg);
    if (rv != 0) {
        return rv;
    }
    /* At most 8 + 256 + 8 + 2 MiB: no overflow, and a multiple of 8. */
    body_len = SESSIONS_FIXED_SIZE + (size_t)pad8(name_len) +
               (size_t)sessions_size(n);
    out = calloc(1, COMMAND_HEADER_SIZE + body_len);
    if (out == NULL) {
        err_printf(errmsg, "out of memory encoding %u session records", n);
        return WR_NOMEM;
    }
    p = out + COMMAND_HEADER_SIZE;
    put_le16(p, (uint16_t)name_len);
    p += SESSIONS_FIXED_SIZE;
    memcpy(p, db_name, name_len);
    p += pad8(name_len);
    put_sessions(p, sessions, n);
    put_header(out, COMMAND_SESSIONS, 0, body_len);
    *buf = out;
    *len = COMMAND_HEADER_SIZE + body_len;
    return 0;
}

/*
 * Decoder.
 */

/* What is left of the body. */
struct cursor {
    const uint8_t *p;
    uint64_t left;
};

/* Take @n bytes. If they are not there, refuse with "truncated: " @what
 * and the numbers, @what being the subject and its verb ("page numbers
 * need") so the message reads as a sentence. */
static const uint8_t *take(struct cursor *c,
                           uint64_t n,
                           const char *what,
                           char *errmsg)
{
    const uint8_t *p = c->p;

    if (n > c->left) {
        err_printf(errmsg, "truncated: %s %llu bytes, %llu left", what,
                   (unsigned long long)n, (unsigned long long)c->left);
        return NULL;
    }
    c->p += n;
    c->left -= n;
    return p;
}

/* Check the page numbers, stored little-endian at @p, before anything is
 * allocated for them. */
static int check_page_nos(const uint8_t *p,
                          uint32_t n_pages,
                          uint32_t commit_size,
                          char *errmsg)
{
    uint32_t prev = 0;

    for (uint32_t i = 0; i < n_pages; i++) {
        uint32_t pgno = get_le32(p + (size_t)i * 4);
        if (pgno == 0 || pgno > commit_size) {
            err_printf(errmsg,
                       "page number %u (index %u) is outside 1..%u, the "
                       "commit size",
                       pgno, i, commit_size);
            return WR_CORRUPT;
        }
        if (i > 0 && pgno <= prev) {
            err_printf(errmsg,
                       "page numbers are not strictly increasing: %u follows "
                       "%u at index %u",
                       pgno, prev, i);
            return WR_CORRUPT;
        }
        prev = pgno;
    }
    return 0;
}

/* Check the stored payload length @stored against the @raw bytes of pages
 * it must yield. */
static int check_payload(bool compressed,
                         uint64_t stored,
                         uint64_t raw,
                         char *errmsg)
{
    if (!compressed) {
        if (stored != raw) {
            err_printf(errmsg,
                       "raw payload is %llu bytes, the pages need %llu",
                       (unsigned long long)stored, (unsigned long long)raw);
            return WR_CORRUPT;
        }
        return 0;
    }
    if (stored >= raw) {
        err_printf(errmsg,
                   "compressed payload of %llu bytes is not smaller than the "
                   "%llu bytes of pages",
                   (unsigned long long)stored, (unsigned long long)raw);
        return WR_CORRUPT;
    }
    if (raw > stored * LZ4_MAX_RATIO) {
        err_printf(errmsg,
                   "compressed payload of %llu bytes cannot expand to %llu "
                   "bytes of pages",
                   (unsigned long long)stored, (unsigned long long)raw);
        return WR_CORRUPT;
    }
    return 0;
}

/* Take the name of @name_len bytes and its padding, check it and copy it to
 * out->db_name. */
static int take_name(struct cursor *c,
                     uint16_t name_len,
                     struct command_decoded *out,
                     char *errmsg)
{
    const uint8_t *name;

    if (name_len == 0) {
        err_printf(errmsg, "database name is empty");
        return WR_CORRUPT;
    }
    if (name_len > WR_DB_NAME_MAX) {
        err_printf(errmsg, "database name length %u is over %d",
                   (unsigned)name_len, WR_DB_NAME_MAX);
        return WR_CORRUPT;
    }
    name = take(c, pad8(name_len), "database name needs", errmsg);
    if (name == NULL) {
        return WR_CORRUPT;
    }
    if (memchr(name, '\0', name_len) != NULL) {
        err_printf(errmsg, "database name contains a NUL byte");
        return WR_CORRUPT;
    }
    if (!all_zero(name + name_len, (size_t)pad8(name_len) - name_len)) {
        err_printf(errmsg, "database name padding is not zero");
        return WR_CORRUPT;
    }
    memcpy(out->db_name, name, name_len);
    out->db_name[name_len] = '\0';
    return 0;
}

/* Take the session records, which must end the body, into a host-order
 * array in out->records. On error nothing is left allocated. */
static int take_sessions(struct cursor *c,
                         struct command_decoded *out,
                         char *errmsg)
{
    const uint8_t *hdr;
    const uint8_t *p;
    struct command_session *s;
    uint32_t n;
    int rv;

    hdr = take(c, SESSIONS_HEADER_SIZE, "session count needs", errmsg);
    if (hdr == NULL) {
        return WR_CORRUPT;
    }
    n = get_le32(hdr);
    if (get_le32(hdr + 4) != 0) {
        err_printf(errmsg, "session count reserved field is not zero");
        return WR_CORRUPT;
    }
    if (n == 0) {
        err_printf(errmsg, "session records are announced but there are none");
        return WR_CORRUPT;
    }
    if (n > COMMAND_SESSIONS_MAX) {
        err_printf(errmsg, "%u session records, over the limit of %d", n,
                   COMMAND_SESSIONS_MAX);
        return WR_CORRUPT;
    }
    p = take(c, (uint64_t)n * SESSION_RECORD_SIZE, "session records need",
             errmsg);
    if (p == NULL) {
        return WR_CORRUPT;
    }
    if (c->left != 0) {
        err_printf(errmsg, "%llu stray bytes after the session records",
                   (unsigned long long)c->left);
        return WR_CORRUPT;
    }
    s = malloc((size_t)n * sizeof *s);
    if (s == NULL) {
        err_printf(errmsg, "out of memory decoding %u session records", n);
        return WR_NOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *r = p + (size_t)i * SESSION_RECORD_SIZE;
        s[i].client_id = get_le64(r);
        s[i].seq = get_le64(r + 8);
        s[i].changes = (int64_t)get_le64(r + 16);
        s[i].last_insert_id = (int64_t)get_le64(r + 24);
    }
    rv = check_sessions(s, n, WR_CORRUPT, errmsg);
    if (rv != 0) {
        free(s);
        return rv;
    }
    out->records = s;
    out->sessions = s;
    out->n_sessions = n;
    return 0;
}

static int decode_sessions(const uint8_t *body,
                           uint32_t body_len,
                           struct command_decoded *out,
                           char *errmsg)
{
    struct cursor c = {body, body_len};
    const uint8_t *fixed;
    int rv;

    fixed = take(&c, SESSIONS_FIXED_SIZE, "sessions header needs", errmsg);
    if (fixed == NULL) {
        return WR_CORRUPT;
    }
    if (get_le16(fixed + 2) != 0 || get_le32(fixed + 4) != 0) {
        err_printf(errmsg, "sessions header reserved field is not zero");
        return WR_CORRUPT;
    }
    rv = take_name(&c, get_le16(fixed), out, errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = take_sessions(&c, out, errmsg);
    if (rv != 0) {
        return rv;
    }
    out->type = COMMAND_SESSIONS;
    return 0;
}

/* Check the layout of the delta payload of @stored bytes at @payload for
 * @n_pages pages, before anything is allocated. */
static int check_delta(const uint8_t *payload,
                       uint32_t stored,
                       uint32_t n_pages,
                       char *errmsg)
{
    uint64_t lens_size = pad8((uint64_t)n_pages * 4);
    uint64_t blocks = 0;

    if ((uint64_t)stored < DELTA_HEADER_SIZE + lens_size) {
        err_printf(errmsg,
                   "truncated: delta payload of %u bytes, its header and "
                   "block lengths need %llu",
                   stored,
                   (unsigned long long)(DELTA_HEADER_SIZE + lens_size));
        return WR_CORRUPT;
    }
    if (get_le32(payload + 4) != 0) {
        err_printf(errmsg, "delta payload reserved field is not zero");
        return WR_CORRUPT;
    }
    for (uint32_t i = 0; i < n_pages; i++) {
        uint32_t n = get_le32(payload + DELTA_HEADER_SIZE + (size_t)i * 4);
        if (n == 0) {
            err_printf(errmsg, "delta block %u is empty", i);
            return WR_CORRUPT;
        }
        blocks += n;
    }
    if (!all_zero(payload + DELTA_HEADER_SIZE + (size_t)n_pages * 4,
                  (size_t)(lens_size - (uint64_t)n_pages * 4))) {
        err_printf(errmsg, "delta block length padding is not zero");
        return WR_CORRUPT;
    }
    if (DELTA_HEADER_SIZE + lens_size + blocks != stored) {
        err_printf(errmsg,
                   "delta blocks take %llu bytes, the payload has %llu for "
                   "them",
                   (unsigned long long)blocks,
                   (unsigned long long)(stored - DELTA_HEADER_SIZE -
                                        lens_size));
        return WR_CORRUPT;
    }
    return 0;
}

static int decode_frames(const uint8_t *body,
                         uint32_t body_len,
                         bool compressed,
                         bool delta,
                         bool with_sessions,
                         struct command_decoded *out,
                         char *errmsg)
{
    struct cursor c = {body, body_len};
    const uint8_t *fixed;
    const uint8_t *nos;
    const uint8_t *payload_hdr;
    const uint8_t *payload;
    uint64_t tx_id;
    uint32_t commit_size;
    uint32_t page_size;
    uint32_t n_pages;
    uint16_t name_len;
    uint32_t stored;
    uint64_t raw;
    size_t nos_size;
    uint8_t *scratch;
    uint32_t *page_nos;
    int rv;

    fixed = take(&c, FRAMES_FIXED_SIZE, "frames header needs", errmsg);
    if (fixed == NULL) {
        return WR_CORRUPT;
    }
    tx_id = get_le64(fixed);
    commit_size = get_le32(fixed + 8);
    page_size = get_le32(fixed + 12);
    n_pages = get_le32(fixed + 16);
    name_len = get_le16(fixed + 20);
    if (!page_size_ok(page_size)) {
        err_printf(errmsg, "page size %u is not a power of two in %d..%d",
                   page_size, PAGE_SIZE_MIN, PAGE_SIZE_MAX);
        return WR_CORRUPT;
    }
    if (n_pages == 0) {
        err_printf(errmsg, "no pages");
        return WR_CORRUPT;
    }
    if (name_len == 0) {
        err_printf(errmsg, "database name is empty");
        return WR_CORRUPT;
    }
    if (name_len > WR_DB_NAME_MAX) {
        err_printf(errmsg, "database name length %u is over %d",
                   (unsigned)name_len, WR_DB_NAME_MAX);
        return WR_CORRUPT;
    }
    if (get_le16(fixed + 22) != 0) {
        err_printf(errmsg, "frames header reserved field is not zero");
        return WR_CORRUPT;
    }
    rv = take_name(&c, name_len, out, errmsg);
    if (rv != 0) {
        return rv;
    }

    /* This take() bounds n_pages by the buffer's size, which is what keeps
     * every later product of n_pages small. */
    nos_size = (size_t)n_pages * 4;
    nos = take(&c, pad8(nos_size), "page numbers need", errmsg);
    if (nos == NULL) {
        return WR_CORRUPT;
    }
    rv = check_page_nos(nos, n_pages, commit_size, errmsg);
    if (rv != 0) {
        return rv;
    }
    if (!all_zero(nos + nos_size, (size_t)pad8(nos_size) - nos_size)) {
        err_printf(errmsg, "page number padding is not zero");
        return WR_CORRUPT;
    }
    if (frames_raw_size(name_len, n_pages, page_size) > COMMAND_SIZE_MAX) {
        err_printf(errmsg,
                   "%u pages of %u bytes are over the command size limit of "
                   "%llu bytes",
                   n_pages, page_size, (unsigned long long)COMMAND_SIZE_MAX);
        return WR_CORRUPT;
    }

    payload_hdr = take(&c, PAYLOAD_HEADER_SIZE, "payload length needs", errmsg);
    if (payload_hdr == NULL) {
        return WR_CORRUPT;
    }
    stored = get_le32(payload_hdr);
    if (!delta && get_le32(payload_hdr + 4) != 0) {
        err_printf(errmsg, "payload reserved field is not zero");
        return WR_CORRUPT;
    }
    payload = take(&c, stored, "payload needs", errmsg);
    if (payload == NULL) {
        return WR_CORRUPT;
    }
    if (with_sessions) {
        size_t pad = (size_t)pad8(stored) - stored;
        const uint8_t *zeros = take(&c, pad, "payload padding needs", errmsg);
        if (zeros == NULL) {
            return WR_CORRUPT;
        }
        if (!all_zero(zeros, pad)) {
            err_printf(errmsg, "payload padding is not zero");
            return WR_CORRUPT;
        }
        /* Allocates out->records, which command_decode() frees if a later
         * check fails. */
        rv = take_sessions(&c, out, errmsg);
        if (rv != 0) {
            return rv;
        }
        if (frames_raw_size(name_len, n_pages, page_size) +
                sessions_size(out->n_sessions) >
            COMMAND_SIZE_MAX) {
            err_printf(errmsg,
                       "%u pages of %u bytes and %u session records are over "
                       "the command size limit of %llu bytes",
                       n_pages, page_size, out->n_sessions,
                       (unsigned long long)COMMAND_SIZE_MAX);
            return WR_CORRUPT;
        }
    }
    if (c.left != 0) {
        err_printf(errmsg, "%llu stray bytes after the payload",
                   (unsigned long long)c.left);
        return WR_CORRUPT;
    }
    raw = (uint64_t)n_pages * page_size;
    rv = check_payload(compressed || delta, stored, raw, errmsg);
    if (rv != 0) {
        return rv;
    }
    if (delta) {
        rv = check_delta(payload, stored, n_pages, errmsg);
        if (rv != 0) {
            return rv;
        }
    }

    /* Every check that needs no decompression has passed. raw is now at
     * most COMMAND_SIZE_MAX, and nos_size at most the buffer's length. */
    nos_size = (nos_size + 15) & ~(size_t)15;
    scratch = malloc(nos_size + (compressed || delta ? (size_t)raw : 0));
    if (scratch == NULL) {
        err_printf(errmsg, "out of memory decoding %u pages of %u bytes",
                   n_pages, page_size);
        return WR_NOMEM;
    }
    page_nos = (uint32_t *)(void *)scratch;
    for (uint32_t i = 0; i < n_pages; i++) {
        page_nos[i] = get_le32(nos + (size_t)i * 4);
    }
    if (compressed) {
        /* stored < raw <= 1 GiB, so both fit in an int. */
        int n = LZ4_decompress_safe((const char *)payload,
                                    (char *)scratch + nos_size, (int)stored,
                                    (int)raw);
        if (n < 0) {
            err_printf(errmsg,
                       "compressed payload is corrupt or expands to more "
                       "than the %llu bytes of pages",
                       (unsigned long long)raw);
            goto err_after_alloc;
        }
        if ((uint64_t)n != raw) {
            err_printf(errmsg,
                       "compressed payload expands to %d bytes, the pages "
                       "need %llu",
                       n, (unsigned long long)raw);
            goto err_after_alloc;
        }
        payload = scratch + nos_size;
    }

    out->type = COMMAND_FRAMES;
    out->scratch = scratch;
    out->frames.tx_id = tx_id;
    out->frames.commit_size = commit_size;
    out->frames.page_size = page_size;
    out->frames.n_pages = n_pages;
    out->frames.db_name = out->db_name;
    out->frames.page_nos = page_nos;
    out->frames.page_ptrs = NULL;
    out->frames.pages = payload;
    if (delta) {
        /* Expanded by command_expand(), which needs the bases. */
        out->frames.pages = NULL;
        out->delta_base_size = get_le32(payload);
        out->delta_lens = payload + DELTA_HEADER_SIZE;
        out->delta = payload + DELTA_HEADER_SIZE + pad8((uint64_t)n_pages * 4);
        out->delta_crc = get_le32(payload_hdr + 4);
    }
    out->frames.n_sessions = out->n_sessions;
    out->frames.sessions = out->sessions;
    return 0;

err_after_alloc:
    free(scratch);
    return WR_CORRUPT;
}

int command_decode(const void *buf,
                   size_t len,
                   struct command_decoded *out,
                   char *errmsg)
{
    const uint8_t *p = buf;
    unsigned version;
    unsigned type;
    uint16_t flags;
    uint32_t body_len;
    uint64_t padded;
    uint32_t crc;
    int rv;

    memset(out, 0, sizeof *out);

    if (len < COMMAND_HEADER_SIZE) {
        err_printf(errmsg, "truncated: header needs %d bytes, %zu left",
                   COMMAND_HEADER_SIZE, len);
        return WR_CORRUPT;
    }
    if (get_le32(p) != COMMAND_MAGIC) {
        err_printf(errmsg, "bad magic 0x%08x, expected 0x%08x", get_le32(p),
                   COMMAND_MAGIC);
        return WR_CORRUPT;
    }
    /* The version comes before everything else: a later version may lay out
     * the rest of the header differently. */
    version = p[4];
    if (version != COMMAND_VERSION) {
        err_printf(errmsg, "unknown command format version %u", version);
        return WR_UNSUPPORTED;
    }
    type = p[5];
    if (type != COMMAND_FRAMES && type != COMMAND_SESSIONS) {
        err_printf(errmsg, "unknown command type %u", type);
        return WR_UNSUPPORTED;
    }
    flags = get_le16(p + 6);
    if ((flags & ~(FLAG_LZ4 | FLAG_SESSIONS | FLAG_DELTA)) != 0) {
        err_printf(errmsg, "unknown command flags 0x%04x", (unsigned)flags);
        return WR_UNSUPPORTED;
    }
    if (type == COMMAND_SESSIONS && flags != 0) {
        err_printf(errmsg, "flags 0x%04x on a SESSIONS command",
                   (unsigned)flags);
        return WR_CORRUPT;
    }
    if ((flags & FLAG_LZ4) != 0 && (flags & FLAG_DELTA) != 0) {
        err_printf(errmsg, "a payload cannot be both LZ4 and delta");
        return WR_CORRUPT;
    }
    if (get_le64(p + 16) != 0) {
        err_printf(errmsg, "header reserved field is not zero");
        return WR_CORRUPT;
    }

    body_len = get_le32(p + 8);
    if ((uint64_t)len - COMMAND_HEADER_SIZE < body_len) {
        err_printf(errmsg, "truncated: body needs %u bytes, %zu left",
                   body_len, len - COMMAND_HEADER_SIZE);
        return WR_CORRUPT;
    }
    padded = COMMAND_HEADER_SIZE + pad8(body_len);
    if ((uint64_t)len != padded) {
        err_printf(errmsg,
                   "command is %zu bytes, a body of %u bytes pads to %llu",
                   len, body_len, (unsigned long long)padded);
        return WR_CORRUPT;
    }
    if (!all_zero(p + COMMAND_HEADER_SIZE + body_len,
                  len - COMMAND_HEADER_SIZE - body_len)) {
        err_printf(errmsg, "padding after the body is not zero");
        return WR_CORRUPT;
    }
    crc = crc32c(0, p + COMMAND_HEADER_SIZE, body_len);
    if (crc != get_le32(p + 12)) {
        err_printf(errmsg,
                   "checksum mismatch: header says 0x%08x, body has 0x%08x",
                   get_le32(p + 12), crc);
        return WR_CORRUPT;
    }

    if (type == COMMAND_SESSIONS) {
        rv = decode_sessions(p + COMMAND_HEADER_SIZE, body_len, out, errmsg);
    } else {
        rv = decode_frames(p + COMMAND_HEADER_SIZE, body_len,
                           (flags & FLAG_LZ4) != 0,
                           (flags & FLAG_DELTA) != 0,
                           (flags & FLAG_SESSIONS) != 0, out, errmsg);
    }
    if (rv != 0) {
        /* The decoders own nothing but the session records on error; keep
         * @out zeroed so a caller's unconditional close stays harmless. */
        free(out->records);
        memset(out, 0, sizeof *out);
    }
    return rv;
}

bool command_needs_bases(const struct command_decoded *d)
{
    return d->type == COMMAND_FRAMES && d->delta != NULL;
}

int command_expand(struct command_decoded *d,
                   const void *const *bases,
                   char *errmsg)
{
    struct command_frames *f = &d->frames;
    size_t nos_size = ((size_t)f->n_pages * 4 + 15) & ~(size_t)15;
    uint8_t *dst = (uint8_t *)d->scratch + nos_size;
    const uint8_t *src = d->delta;
    int page_size = (int)f->page_size;
    uint32_t crc;

    if (!command_needs_bases(d)) {
        err_printf(errmsg, "the command has no delta payload to expand");
        return WR_INVALID;
    }
    for (uint32_t i = 0; i < f->n_pages; i++) {
        uint32_t len = get_le32(d->delta_lens + (size_t)i * 4);
        const void *base = bases[i] != NULL ? bases[i] : zero_page;
        /* check_delta() made the lengths add up to the payload, and the
         * payload is below 1 GiB. */
        int n = LZ4_decompress_safe_usingDict(
            (const char *)src, (char *)dst + (size_t)i * f->page_size,
            (int)len, page_size, base, page_size);
        if (n != page_size) {
            err_printf(errmsg,
                       "delta block %u (page %u) does not expand to one page",
                       i, f->page_nos[i]);
            return WR_CORRUPT;
        }
        src += len;
    }
    crc = crc32c(0, dst, (size_t)f->n_pages * f->page_size);
    if (crc != d->delta_crc) {
        err_printf(errmsg,
                   "expanded pages have checksum 0x%08x, the leader's had "
                   "0x%08x: a base page differs from the leader's",
                   crc, d->delta_crc);
        return WR_CORRUPT;
    }
    f->pages = dst;
    d->delta = NULL;
    d->delta_lens = NULL;
    return 0;
}

void command_decoded_close(struct command_decoded *d)
{
    free(d->scratch);
    free(d->records);
    memset(d, 0, sizeof *d);
}
