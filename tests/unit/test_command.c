/*
 * Unit tests for the command codec (fsm/command.c) and the CRC-32C under it
 * (lib/crc32c.c).
 *
 * A node that decodes a corrupt command must refuse it with a message, never
 * crash and never apply garbage, so most of these tests feed the decoder
 * damaged input: every bit flip and every truncation of real commands, and
 * commands crafted field by field with a correct checksum so that the checks
 * behind the checksum are reached. The crafting is done by build(), a second
 * writer of the layout documented in fsm/command.h, independent of the
 * encoder, so that a mistake shared by encoder and decoder cannot hide.
 *
 * Every buffer handed to the decoder is malloc'ed to its exact length, so
 * ASan or valgrind report any read past its end. Random data comes from a
 * fixed-seed generator; the seed is printed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lz4.h>

#include "../../fsm/command.h"
#include "../../lib/byteorder.h"
#include "../../lib/crc32c.h"
#include "../../lib/err.h"

#define SEED 0x5eed0c0dec0ffeeULL

/* Mirrors COMMAND_SIZE_MAX in fsm/command.c, which is not exported. */
#define SIZE_MAX_COMMAND ((uint64_t)1 << 30)

/* Byte offsets of the fixed fields, from the layout in fsm/command.h. */
#define OFF_FLAGS 6
#define OFF_BODY_LEN 8
#define OFF_CRC 12
#define OFF_RESERVED 16
#define OFF_TX_ID 24
#define OFF_COMMIT 32
#define OFF_PAGE_SIZE 36
#define OFF_N_PAGES 40
#define OFF_NAME_LEN 44
#define OFF_RESERVED16 46
#define OFF_NAME 48

/*
 * Helpers.
 */

static uint64_t rng_state = SEED;

/* splitmix64: small, fast and the same everywhere. */
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void fill_random(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)rng_next();
    }
}

/* Something like a SQLite b-tree page: a few short records of repetitive
 * text, the rest zeros. */
static void fill_compressible(uint8_t *p, size_t n)
{
    static const char *const words[] = {"alpha", "beta", "gamma", "delta",
                                        "epsilon", "row", "value", "key"};
    size_t used = n / 4;

    memset(p, 0, n);
    for (size_t i = 0; i < used; i++) {
        const char *w = words[rng_next() % 8];
        size_t wl = strlen(w);
        if (i + wl + 1 > used) {
            break;
        }
        memcpy(p + i, w, wl);
        i += wl;
        p[i] = ' ';
    }
}

static size_t pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

enum kind { RANDOM, COMPRESSIBLE };

/* N pages, each malloc'ed on its own (so page_ptrs is a real scatter list),
 * plus the same pages contiguous, plus strictly increasing page numbers with
 * gaps. */
struct pageset {
    uint32_t page_size;
    uint32_t n;
    uint8_t *data;
    void **ptrs;
    uint32_t *nos;
};

static void pageset_init(struct pageset *s,
                         uint32_t page_size,
                         uint32_t n,
                         enum kind kind)
{
    uint32_t pgno = 0;

    s->page_size = page_size;
    s->n = n;
    s->data = malloc((size_t)n * page_size);
    s->ptrs = calloc(n, sizeof *s->ptrs);
    s->nos = calloc(n, sizeof *s->nos);
    assert_non_null(s->data);
    assert_non_null(s->ptrs);
    assert_non_null(s->nos);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *page = s->data + (size_t)i * page_size;
        if (kind == RANDOM) {
            fill_random(page, page_size);
        } else {
            fill_compressible(page, page_size);
        }
        s->ptrs[i] = malloc(page_size);
        assert_non_null(s->ptrs[i]);
        memcpy(s->ptrs[i], page, page_size);
        pgno += 1 + (uint32_t)(rng_next() % 5);
        s->nos[i] = pgno;
    }
}

static void pageset_close(struct pageset *s)
{
    for (uint32_t i = 0; i < s->n; i++) {
        free(s->ptrs[i]);
    }
    free(s->ptrs);
    free(s->nos);
    free(s->data);
}

static void frames_from_pageset(struct command_frames *f,
                                const struct pageset *s,
                                bool use_ptrs)
{
    memset(f, 0, sizeof *f);
    f->tx_id = 0xfedcba9876543210ULL;
    f->commit_size = s->nos[s->n - 1] + 3;
    f->page_size = s->page_size;
    f->n_pages = s->n;
    f->db_name = "test.db";
    f->page_nos = s->nos;
    if (use_ptrs) {
        f->page_ptrs = (const void *const *)s->ptrs;
    } else {
        f->pages = s->data;
    }
}

/* Copy @len bytes into a block of exactly that size, so ASan sees any read
 * past the end. */
static uint8_t *exact_copy(const void *p, size_t len)
{
    uint8_t *b = malloc(len > 0 ? len : 1);
    assert_non_null(b);
    if (len > 0) {
        memcpy(b, p, len);
    }
    return b;
}

static void fix_crc(uint8_t *b)
{
    uint32_t body_len = get_le32(b + OFF_BODY_LEN);
    put_le32(b + OFF_CRC, crc32c(0, b + COMMAND_HEADER_SIZE, body_len));
}

/* Every field of a FRAMES command, written as given: nothing is checked, so
 * tests can write lies. Page numbers are n_pages u32s; payload_len bytes of
 * payload follow. */
struct spec {
    uint8_t version;
    uint8_t type;
    uint16_t flags;
    uint64_t tx_id;
    uint32_t commit_size;
    uint32_t page_size;
    uint32_t n_pages;
    const char *name;
    uint16_t name_len;
    const uint32_t *page_nos;
    const void *payload;
    uint32_t payload_len;
};

static uint8_t *build(const struct spec *s, size_t *len)
{
    size_t body = 24 + pad8(s->name_len) + pad8((size_t)s->n_pages * 4) + 8 +
                  s->payload_len;
    size_t total = COMMAND_HEADER_SIZE + pad8(body);
    uint8_t *b = calloc(1, total);
    uint8_t *p;

    assert_non_null(b);
    put_le32(b, COMMAND_MAGIC);
    b[4] = s->version;
    b[5] = s->type;
    put_le16(b + OFF_FLAGS, s->flags);
    put_le32(b + OFF_BODY_LEN, (uint32_t)body);
    p = b + COMMAND_HEADER_SIZE;
    put_le64(p, s->tx_id);
    put_le32(p + 8, s->commit_size);
    put_le32(p + 12, s->page_size);
    put_le32(p + 16, s->n_pages);
    put_le16(p + 20, s->name_len);
    p += 24;
    memcpy(p, s->name, s->name_len);
    p += pad8(s->name_len);
    for (uint32_t i = 0; i < s->n_pages; i++) {
        put_le32(p + (size_t)i * 4, s->page_nos[i]);
    }
    p += pad8((size_t)s->n_pages * 4);
    put_le32(p, s->payload_len);
    p += 8;
    memcpy(p, s->payload, s->payload_len);
    fix_crc(b);
    *len = total;
    return b;
}

/* The small command most crafting tests start from: three 512-byte pages
 * (an odd count, so page numbers are padded), a 7-byte name (padded too),
 * raw payload whose last byte is not zero. */
static const uint32_t small_nos[3] = {2, 5, 9};
static uint8_t small_payload[3 * 512];

static void small_spec(struct spec *s)
{
    for (size_t i = 0; i < sizeof small_payload; i++) {
        small_payload[i] = (uint8_t)(i * 7 + 1);
    }
    small_payload[sizeof small_payload - 1] = 0x5a;
    memset(s, 0, sizeof *s);
    s->version = COMMAND_VERSION;
    s->type = COMMAND_FRAMES;
    s->tx_id = 0x0123456789abcdefULL;
    s->commit_size = 12;
    s->page_size = 512;
    s->n_pages = 3;
    s->name = "main.db";
    s->name_len = 7;
    s->page_nos = small_nos;
    s->payload = small_payload;
    s->payload_len = sizeof small_payload;
}

/* Offsets inside the small command. */
#define SMALL_OFF_NOS (OFF_NAME + 8)
#define SMALL_OFF_PAYLOAD_LEN (SMALL_OFF_NOS + 16)
#define SMALL_OFF_PAYLOAD (SMALL_OFF_PAYLOAD_LEN + 8)

/* Decode and insist on refusal with @want_rc and a message containing
 * @want_msg; the output must come back zeroed. */
static void assert_refused(const uint8_t *buf,
                           size_t len,
                           int want_rc,
                           const char *want_msg)
{
    struct command_decoded d;
    char errmsg[WR_ERRMSG_SIZE] = "";
    uint8_t *copy = exact_copy(buf, len);
    int rv;

    memset(&d, 0xa5, sizeof d);
    rv = command_decode(copy, len, &d, errmsg);
    if (rv != want_rc || strstr(errmsg, want_msg) == NULL) {
        print_error("wanted rc %d and \"%s\", got rc %d and \"%s\"\n",
                    want_rc, want_msg, rv, errmsg);
    }
    assert_int_equal(rv, want_rc);
    assert_non_null(strstr(errmsg, want_msg));
    assert_null(d.scratch);
    assert_null(d.frames.pages);
    assert_null(d.frames.page_nos);
    command_decoded_close(&d);
    free(copy);
}

/* Build from @s and expect refusal. */
static void assert_spec_refused(const struct spec *s,
                                int want_rc,
                                const char *want_msg)
{
    size_t len;
    uint8_t *b = build(s, &len);
    assert_refused(b, len, want_rc, want_msg);
    free(b);
}

/* Build the small command, let @poke change it, fix the CRC, and expect
 * refusal. */
static void assert_small_poke_refused(size_t off,
                                      uint32_t value,
                                      int width,
                                      const char *want_msg)
{
    struct spec s;
    size_t len;
    uint8_t *b;

    small_spec(&s);
    b = build(&s, &len);
    if (width == 4) {
        put_le32(b + off, value);
    } else if (width == 2) {
        put_le16(b + off, (uint16_t)value);
    } else {
        b[off] = (uint8_t)value;
    }
    fix_crc(b);
    assert_refused(b, len, WR_CORRUPT, want_msg);
    free(b);
}

static int encode_ok(const struct command_frames *f,
                     bool compress,
                     uint8_t **buf,
                     size_t *len)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    void *out = NULL;
    int rv = command_frames_encode(f, compress, &out, len, errmsg);
    if (rv != 0) {
        print_error("encode: %s\n", errmsg);
    }
    assert_int_equal(rv, 0);
    *buf = out;
    return rv;
}

/*
 * CRC-32C.
 */

/* The standard check value, and an empty input leaves any CRC unchanged. */
static void crc32c_check_value(void **state)
{
    (void)state;
    assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283u);
    assert_int_equal(crc32c(0, NULL, 0), 0);
    assert_int_equal(crc32c(0xdeadbeefu, NULL, 0), 0xdeadbeefu);
    assert_int_equal(crc32c(0, "a", 1), 0xc1d04330u);
}

/* The test vectors of RFC 3720 (iSCSI), appendix B.4. */
static void crc32c_rfc3720_vectors(void **state)
{
    uint8_t b[32];
    (void)state;

    memset(b, 0, sizeof b);
    assert_int_equal(crc32c(0, b, sizeof b), 0x8a9136aau);
    memset(b, 0xff, sizeof b);
    assert_int_equal(crc32c(0, b, sizeof b), 0x62a8ab43u);
    for (int i = 0; i < 32; i++) {
        b[i] = (uint8_t)i;
    }
    assert_int_equal(crc32c(0, b, sizeof b), 0x46dd794eu);
    for (int i = 0; i < 32; i++) {
        b[i] = (uint8_t)(31 - i);
    }
    assert_int_equal(crc32c(0, b, sizeof b), 0x113fdb5cu);
}

/* Splitting an input at any point and chaining gives the CRC of the whole. */
static void crc32c_chains_at_every_split(void **state)
{
    uint8_t b[300];
    uint32_t whole;
    (void)state;

    fill_random(b, sizeof b);
    whole = crc32c(0, b, sizeof b);
    for (size_t i = 0; i <= sizeof b; i++) {
        assert_int_equal(crc32c(crc32c(0, b, i), b + i, sizeof b - i), whole);
    }
}

static uint32_t crc32c_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) {
            c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
        }
    }
    return ~c;
}

/* On a megabyte of random data (which touches every table entry) and on
 * random slices of it at every alignment, slice-by-8 and crc32c() (the CPU's
 * instruction where it has one) agree with the bit-at-a-time definition. */
static void crc32c_matches_bitwise_reference(void **state)
{
    size_t n = 1 << 20;
    uint8_t *b = malloc(n);
    (void)state;

    assert_non_null(b);
    fill_random(b, n);
    assert_int_equal(crc32c_sw(0, b, n), crc32c_bitwise(b, n));
    assert_int_equal(crc32c(0, b, n), crc32c_bitwise(b, n));
    for (int i = 0; i < 2000; i++) {
        size_t off = rng_next() % 4096;
        size_t len = rng_next() % 200;
        uint32_t want = crc32c_bitwise(b + off, len);
        assert_int_equal(crc32c_sw(0, b + off, len), want);
        assert_int_equal(crc32c(0, b + off, len), want);
        /* Chained from a nonzero CRC, as the page checksums are. */
        assert_int_equal(crc32c(crc32c_sw(0, b, off), b + off, len),
                         crc32c_sw(0, b, off + len));
    }
    free(b);
}

/*
 * Round trips.
 */

/* Encode a page set, check the bytes the header promises, decode, check
 * every field, and re-encode the decoded struct to the same bytes. */
static void roundtrip(uint32_t page_size,
                      uint32_t n,
                      enum kind kind,
                      bool compress,
                      bool use_ptrs)
{
    struct pageset s;
    struct command_frames f;
    struct command_decoded d;
    char errmsg[WR_ERRMSG_SIZE] = "";
    uint8_t *buf;
    uint8_t *again;
    size_t len;
    size_t again_len;
    size_t raw_len;
    size_t payload = (size_t)n * page_size;
    uint16_t flags;
    int rv;

    pageset_init(&s, page_size, n, kind);
    frames_from_pageset(&f, &s, use_ptrs);
    encode_ok(&f, compress, &buf, &len);

    raw_len = COMMAND_HEADER_SIZE + 24 + 8 + pad8((size_t)n * 4) + 8 + payload;
    flags = get_le16(buf + OFF_FLAGS);
    assert_int_equal(len % 8, 0);
    assert_int_equal(get_le32(buf), COMMAND_MAGIC);
    if (compress && kind == COMPRESSIBLE) {
        assert_int_equal(flags, 1);
        assert_true(len < raw_len);
    } else {
        /* Random pages do not compress, so the encoder keeps them raw. */
        assert_int_equal(flags, 0);
        assert_int_equal(len, raw_len);
    }

    rv = command_decode(buf, len, &d, errmsg);
    if (rv != 0) {
        print_error("decode: %s\n", errmsg);
    }
    assert_int_equal(rv, 0);
    assert_int_equal(d.type, COMMAND_FRAMES);
    assert_true(d.frames.tx_id == 0xfedcba9876543210ULL);
    assert_int_equal(d.frames.commit_size, f.commit_size);
    assert_int_equal(d.frames.page_size, page_size);
    assert_int_equal(d.frames.n_pages, n);
    assert_string_equal(d.frames.db_name, "test.db");
    assert_ptr_equal(d.frames.db_name, d.db_name);
    assert_memory_equal(d.frames.page_nos, s.nos, (size_t)n * 4);
    assert_memory_equal(d.frames.pages, s.data, payload);
    assert_null(d.frames.page_ptrs);
    if (flags == 0) {
        /* Zero copy: the pages are the tail of the body, in the buffer. */
        assert_ptr_equal(d.frames.pages, buf + len - payload);
    } else {
        /* Decompressed into memory the decoded struct owns. */
        const uint8_t *pages = d.frames.pages;
        assert_non_null(d.scratch);
        assert_true(pages + payload <= buf || pages >= buf + len);
    }

    /* A decoded struct is valid encoder input (pages, no page_ptrs). */
    encode_ok(&d.frames, compress, &again, &again_len);
    assert_int_equal(again_len, len);
    assert_memory_equal(again, buf, len);

    free(again);
    command_decoded_close(&d);
    free(buf);
    pageset_close(&s);
}

static void roundtrip_all_inputs(bool compress, enum kind kind)
{
    static const uint32_t sizes[] = {512, 4096, 65536};

    for (size_t i = 0; i < 3; i++) {
        uint32_t many = sizes[i] == 65536 ? 9 : 100;
        roundtrip(sizes[i], 1, kind, compress, true);
        roundtrip(sizes[i], 1, kind, compress, false);
        roundtrip(sizes[i], many, kind, compress, true);
        roundtrip(sizes[i], many, kind, compress, false);
    }
}

/* Raw commands of 1 and many random pages of 512, 4096 and 65536 bytes, from
 * page pointers and from contiguous pages, decode to what was encoded. */
static void roundtrip_raw_random(void **state)
{
    (void)state;
    roundtrip_all_inputs(false, RANDOM);
}

/* The same with compressible pages and compression off: stored raw. */
static void roundtrip_raw_compressible(void **state)
{
    (void)state;
    roundtrip_all_inputs(false, COMPRESSIBLE);
}

/* With compression on, compressible pages are stored compressed and decode
 * to what was encoded. */
static void roundtrip_compressed(void **state)
{
    (void)state;
    roundtrip_all_inputs(true, COMPRESSIBLE);
}

/* With compression on, random pages do not shrink and are stored raw. */
static void roundtrip_compression_declined(void **state)
{
    (void)state;
    roundtrip_all_inputs(true, RANDOM);
}

/* All-zero pages compress close to LZ4's best ratio and still decode: the
 * decoder's bound on the expansion ratio does not refuse real commands. */
static void roundtrip_zero_pages_at_best_ratio(void **state)
{
    uint32_t n = 256;
    uint32_t *nos = calloc(n, sizeof *nos);
    uint8_t *pages = calloc(n, 65536);
    struct command_frames f = {0};
    struct command_decoded d;
    char errmsg[WR_ERRMSG_SIZE] = "";
    uint8_t *buf;
    size_t len;
    (void)state;

    assert_non_null(nos);
    assert_non_null(pages);
    for (uint32_t i = 0; i < n; i++) {
        nos[i] = i + 1;
    }
    f.commit_size = n;
    f.page_size = 65536;
    f.n_pages = n;
    f.db_name = "z";
    f.page_nos = nos;
    f.pages = pages;
    encode_ok(&f, true, &buf, &len);
    /* 16 MiB in well under 100 KiB: close to LZ4's limit of 255 to 1. */
    assert_true(len < 100 * 1024);
    assert_int_equal(command_decode(buf, len, &d, errmsg), 0);
    assert_memory_equal(d.frames.pages, pages, (size_t)n * 65536);
    command_decoded_close(&d);
    free(buf);
    free(pages);
    free(nos);
}

/* Three 4 KiB pages like a kvwrite's: page 2 changed a few bytes of its
 * base, page 5 is its base with 1 KiB inserted, page 9 is new (past the
 * base size of 8, so its base is zeros). */
struct delta_case {
    uint8_t base[3][4096];
    uint8_t page[3][4096];
    uint32_t nos[3];
    const void *ptrs[3];
    const void *bases[3];
    struct command_frames f;
};

static void delta_case_init(struct delta_case *c)
{
    memset(c, 0, sizeof *c);
    fill_random(c->base[0], 4096);
    fill_random(c->base[1], 4096);
    memcpy(c->page[0], c->base[0], 4096);
    c->page[0][100] ^= 0xff;
    c->page[0][3000] ^= 0x0f;
    memcpy(c->page[1], c->base[1], 2048);
    fill_random(c->page[1] + 2048, 1024);
    memcpy(c->page[1] + 3072, c->base[1] + 2048, 1024);
    fill_random(c->page[2], 512);
    for (int i = 0; i < 3; i++) {
        c->ptrs[i] = c->page[i];
        c->bases[i] = i < 2 ? c->base[i] : NULL;
    }
    c->nos[0] = 2;
    c->nos[1] = 5;
    c->nos[2] = 9;
    c->f.tx_id = 7;
    c->f.commit_size = 9;
    c->f.page_size = 4096;
    c->f.n_pages = 3;
    c->f.db_name = "db";
    c->f.page_nos = c->nos;
    c->f.page_ptrs = c->ptrs;
    c->f.bases = c->bases;
    c->f.base_size = 8;
}

/* Pages encoded against their bases take a fraction of plain LZ4's bytes,
 * and expand to exactly the pages with the same bases; the decoder hands
 * out no pages before the expansion, and the base size travels. */
static void delta_roundtrip_is_small_and_exact(void **state)
{
    struct delta_case c;
    struct command_decoded d;
    char errmsg[WR_ERRMSG_SIZE] = "";
    uint8_t *buf;
    uint8_t *plain;
    size_t len;
    size_t plain_len;
    (void)state;

    delta_case_init(&c);
    encode_ok(&c.f, true, &buf, &len);
    c.f.bases = NULL;
    encode_ok(&c.f, true, &plain, &plain_len);
    /* 2 KiB of new random bytes are the only real change. */
    assert_true(len < 2048 + 1024);
    assert_true(len * 3 < plain_len);
    assert_int_equal(command_decode(buf, len, &d, errmsg), 0);
    assert_true(command_needs_bases(&d));
    assert_null(d.frames.pages);
    assert_int_equal(d.delta_base_size, 8);
    assert_int_equal(command_expand(&d, c.bases, errmsg), 0);
    assert_false(command_needs_bases(&d));
    for (int i = 0; i < 3; i++) {
        assert_memory_equal((const uint8_t *)d.frames.pages + i * 4096,
                            c.page[i], 4096);
    }
    command_decoded_close(&d);
    assert_int_equal(command_decode(plain, plain_len, &d, errmsg), 0);
    assert_false(command_needs_bases(&d));
    command_decoded_close(&d);
    free(plain);
    free(buf);
}

/* A node whose base differs from the leader's by one byte gets WR_CORRUPT
 * from the expansion, never a page that differs from the leader's. */
static void delta_with_wrong_base_is_corrupt(void **state)
{
    struct delta_case c;
    struct command_decoded d;
    char errmsg[WR_ERRMSG_SIZE] = "";
    uint8_t *buf;
    size_t len;
    (void)state;

    delta_case_init(&c);
    encode_ok(&c.f, true, &buf, &len);
    c.base[1][100] ^= 1;
    assert_int_equal(command_decode(buf, len, &d, errmsg), 0);
    assert_int_equal(command_expand(&d, c.bases, errmsg), WR_CORRUPT);
    assert_non_null(strstr(errmsg, "a base page differs"));
    command_decoded_close(&d);
    free(buf);
}

/* A delta payload whose block lengths do not add up, with an empty block,
 * or flagged LZ4 as well, is refused before anything is expanded. */
static void delta_malformed_is_refused(void **state)
{
    struct delta_case c;
    uint8_t *buf;
    size_t len;
    size_t lens_at;
    uint32_t body_len;
    (void)state;

    delta_case_init(&c);
    encode_ok(&c.f, true, &buf, &len);
    /* Header 24, fixed 24, name 8, page numbers 16, payload header 8, then
     * the base size and reserved word. */
    lens_at = 24 + 24 + 8 + 16 + 8 + 8;
    body_len = get_le32(buf + 8);

    put_le32(buf + lens_at, get_le32(buf + lens_at) + 1);
    put_le32(buf + 12, crc32c(0, buf + 24, body_len));
    assert_refused(buf, len, WR_CORRUPT, "delta blocks take");
    put_le32(buf + lens_at, 0);
    put_le32(buf + 12, crc32c(0, buf + 24, body_len));
    assert_refused(buf, len, WR_CORRUPT, "delta block 0 is empty");
    free(buf);

    encode_ok(&c.f, true, &buf, &len);
    put_le16(buf + 6, (uint16_t)(get_le16(buf + 6) | 0x0001));
    assert_refused(buf, len, WR_CORRUPT, "both LZ4 and delta");
    free(buf);
}

/* The longest allowed name (255 bytes) survives a round trip. */
static void roundtrip_longest_name(void **state)
{
    char name[WR_DB_NAME_MAX + 1];
    uint8_t page[512];
    const void *ptrs[1] = {page};
    uint32_t nos[1] = {1};
    struct command_frames f = {0};
    struct command_decoded d;
    char errmsg[WR_ERRMSG_SIZE] = "";
    uint8_t *buf;
    size_t len;
    (void)state;

    memset(name, 'n', WR_DB_NAME_MAX);
    name[WR_DB_NAME_MAX] = '\0';
    fill_random(page, sizeof page);
    f.commit_size = 1;
    f.page_size = 512;
    f.n_pages = 1;
    f.db_name = name;
    f.page_nos = nos;
    f.page_ptrs = ptrs;
    encode_ok(&f, false, &buf, &len);
    assert_int_equal(command_decode(buf, len, &d, errmsg), 0);
    assert_string_equal(d.frames.db_name, name);
    command_decoded_close(&d);
    free(buf);
}

/* The encoder writes exactly the layout documented in command.h: its output
 * equals build()'s, field for field. */
static void encode_matches_documented_layout(void **state)
{
    struct spec s;
    struct command_frames f = {0};
    const void *ptrs[3];
    uint8_t *want;
    uint8_t *got;
    size_t want_len;
    size_t got_len;
    (void)state;

    small_spec(&s);
    want = build(&s, &want_len);
    for (int i = 0; i < 3; i++) {
        ptrs[i] = small_payload + i * 512;
    }
    f.tx_id = s.tx_id;
    f.commit_size = s.commit_size;
    f.page_size = s.page_size;
    f.n_pages = s.n_pages;
    f.db_name = s.name;
    f.page_nos = s.page_nos;
    f.page_ptrs = ptrs;
    encode_ok(&f, false, &got, &got_len);

    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, "WRCM\x01\x01\x00\x00", 8);
    assert_int_equal(get_le32(got + OFF_BODY_LEN), want_len - 24);
    assert_true(get_le64(got + OFF_TX_ID) == 0x0123456789abcdefULL);
    assert_memory_equal(got + OFF_NAME, "main.db\0", 8);
    assert_int_equal(get_le32(got + SMALL_OFF_NOS + 8), 9);
    assert_int_equal(get_le32(got + SMALL_OFF_NOS + 12), 0);
    assert_int_equal(get_le32(got + SMALL_OFF_PAYLOAD_LEN), 1536);
    assert_memory_equal(got, want, want_len);
    free(got);
    free(want);
}

/*
 * Encoder refusals.
 */

static void assert_encode_refused(const struct command_frames *f,
                                  int want_rc,
                                  const char *want_msg)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    void *buf = (void *)&errmsg; /* A sentinel that must survive. */
    size_t len = 12345;
    int rv = command_frames_encode(f, true, &buf, &len, errmsg);

    if (rv != want_rc || strstr(errmsg, want_msg) == NULL) {
        print_error("wanted rc %d and \"%s\", got rc %d and \"%s\"\n",
                    want_rc, want_msg, rv, errmsg);
    }
    assert_int_equal(rv, want_rc);
    assert_non_null(strstr(errmsg, want_msg));
    assert_ptr_equal(buf, (void *)&errmsg);
    assert_int_equal(len, 12345);
}

/* A page number above the commit size (the database's size after the
 * transaction) is refused, while one equal to it is accepted. */
static void encode_refuses_page_beyond_commit_size(void **state)
{
    uint8_t page[512] = {0};
    const void *ptrs[2] = {page, page};
    uint32_t nos[2] = {3, 8};
    struct command_frames f = {0};
    uint8_t *buf;
    size_t len;
    (void)state;

    f.commit_size = 7;
    f.page_size = 512;
    f.n_pages = 2;
    f.db_name = "db";
    f.page_nos = nos;
    f.page_ptrs = ptrs;
    assert_encode_refused(&f, WR_INVALID,
                          "page number 8 (index 1) is outside 1..7");
    f.commit_size = 8;
    encode_ok(&f, false, &buf, &len);
    free(buf);
}

/* Each kind of bad input is refused with WR_INVALID and a message naming
 * it, and nothing is returned. */
static void encode_refuses_invalid_input(void **state)
{
    uint8_t page[512] = {0};
    const void *ptrs[3] = {page, page, page};
    const void *null_ptrs[3] = {page, NULL, page};
    uint32_t nos[3] = {1, 2, 3};
    uint32_t dup[3] = {1, 2, 2};
    uint32_t down[3] = {1, 3, 2};
    uint32_t zero[3] = {0, 2, 3};
    char long_name[WR_DB_NAME_MAX + 2];
    static const uint32_t bad_sizes[] = {0, 256, 1000, 4097, 131072};
    struct command_frames good = {0};
    struct command_frames f;
    (void)state;

    good.commit_size = 10;
    good.page_size = 512;
    good.n_pages = 3;
    good.db_name = "db";
    good.page_nos = nos;
    good.page_ptrs = ptrs;

    f = good;
    f.db_name = NULL;
    assert_encode_refused(&f, WR_INVALID, "database name is NULL");
    f = good;
    f.db_name = "";
    assert_encode_refused(&f, WR_INVALID, "database name is empty");
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    f = good;
    f.db_name = long_name;
    assert_encode_refused(&f, WR_INVALID, "longer than 255");
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        f = good;
        f.page_size = bad_sizes[i];
        assert_encode_refused(&f, WR_INVALID, "is not a power of two");
    }
    f = good;
    f.n_pages = 0;
    assert_encode_refused(&f, WR_INVALID, "no pages");
    f = good;
    f.page_nos = NULL;
    assert_encode_refused(&f, WR_INVALID, "page numbers are NULL");
    f = good;
    f.page_ptrs = NULL;
    assert_encode_refused(&f, WR_INVALID, "neither page pointers nor pages");
    f = good;
    f.page_ptrs = null_ptrs;
    assert_encode_refused(&f, WR_INVALID, "page pointer 1 is NULL");
    f = good;
    f.page_nos = dup;
    assert_encode_refused(&f, WR_INVALID, "2 follows 2 at index 2");
    f = good;
    f.page_nos = down;
    assert_encode_refused(&f, WR_INVALID, "2 follows 3 at index 2");
    f = good;
    f.page_nos = zero;
    assert_encode_refused(&f, WR_INVALID, "page number 0 (index 0)");
}

/* A transaction of exactly 1 GiB of pages (16384 pages of 64 KiB) makes a
 * command over the limit and is refused with WR_TOOBIG before anything is
 * allocated or copied (every page pointer is the same page). */
static void encode_refuses_over_one_gib(void **state)
{
    uint32_t n = (uint32_t)(SIZE_MAX_COMMAND / 65536);
    uint8_t *page = calloc(1, 65536);
    const void **ptrs = calloc(n, sizeof *ptrs);
    uint32_t *nos = calloc(n, sizeof *nos);
    struct command_frames f = {0};
    (void)state;

    assert_non_null(page);
    assert_non_null(ptrs);
    assert_non_null(nos);
    for (uint32_t i = 0; i < n; i++) {
        ptrs[i] = page;
        nos[i] = i + 1;
    }
    f.commit_size = n;
    f.page_size = 65536;
    f.n_pages = n;
    f.db_name = "big";
    f.page_nos = nos;
    f.page_ptrs = ptrs;
    assert_encode_refused(&f, WR_TOOBIG, "over the limit of 1073741824");
    free(nos);
    free(ptrs);
    free(page);
}

/*
 * Decoder refusals: damage to real commands.
 */

/* A small raw command and a small compressed one, from the encoder. */
static uint8_t *small_command(bool compressed, size_t *len)
{
    struct pageset s;
    struct command_frames f;
    uint8_t *buf;

    pageset_init(&s, 512, 3, compressed ? COMPRESSIBLE : RANDOM);
    frames_from_pageset(&f, &s, true);
    encode_ok(&f, compressed, &buf, len);
    assert_int_equal(get_le16(buf + OFF_FLAGS), compressed ? 1 : 0);
    pageset_close(&s);
    return buf;
}

static void flip_every_bit(bool compressed)
{
    size_t len;
    uint8_t *buf = small_command(compressed, &len);
    struct command_decoded d;
    char errmsg[WR_ERRMSG_SIZE];

    assert_int_equal(command_decode(buf, len, &d, errmsg), 0);
    command_decoded_close(&d);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            int rv;
            buf[i] ^= (uint8_t)(1u << bit);
            errmsg[0] = '\0';
            rv = command_decode(buf, len, &d, errmsg);
            if (rv == 0) {
                fail_msg("flipping bit %d of byte %zu decoded", bit, i);
            }
            assert_true(rv == WR_CORRUPT || rv == WR_UNSUPPORTED);
            assert_true(errmsg[0] != '\0');
            assert_null(d.scratch);
            buf[i] ^= (uint8_t)(1u << bit);
        }
    }
    free(buf);
}

/* No single flipped bit anywhere in a raw command decodes successfully. */
static void decode_refuses_every_bit_flip_raw(void **state)
{
    (void)state;
    flip_every_bit(false);
}

/* No single flipped bit anywhere in a compressed command decodes
 * successfully, and none makes LZ4 read or write out of bounds. */
static void decode_refuses_every_bit_flip_compressed(void **state)
{
    (void)state;
    flip_every_bit(true);
}

static void truncate_everywhere(bool compressed)
{
    size_t len;
    uint8_t *buf = small_command(compressed, &len);
    uint8_t *longer;
    size_t body_end = 24 + get_le32(buf + OFF_BODY_LEN);
    struct command_decoded d;
    char errmsg[WR_ERRMSG_SIZE];

    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = exact_copy(buf, cut);
        errmsg[0] = '\0';
        assert_int_equal(command_decode(copy, cut, &d, errmsg), WR_CORRUPT);
        if (cut < 24) {
            assert_non_null(strstr(errmsg, "truncated: header"));
        } else if (cut < body_end) {
            assert_non_null(strstr(errmsg, "truncated: body"));
        } else {
            /* The body is whole; only padding is missing. */
            assert_non_null(strstr(errmsg, "pads to"));
        }
        free(copy);
    }
    /* Extra zero bytes after a complete command are refused too. */
    longer = calloc(1, len + 8);
    assert_non_null(longer);
    memcpy(longer, buf, len);
    assert_refused(longer, len + 8, WR_CORRUPT, "pads to");
    free(longer);
    free(buf);
}

/* Every truncation of a raw command, down to zero bytes, is refused. */
static void decode_refuses_every_truncation_raw(void **state)
{
    (void)state;
    truncate_everywhere(false);
}

/* Every truncation of a compressed command, padding included, is refused. */
static void decode_refuses_every_truncation_compressed(void **state)
{
    (void)state;
    truncate_everywhere(true);
}

/* Versions 0, 2 and 255 are refused as unsupported, naming the version. */
static void decode_refuses_unknown_version(void **state)
{
    struct spec s;
    char errmsg[WR_ERRMSG_SIZE];
    static const uint8_t versions[] = {0, 2, 255};
    (void)state;

    for (size_t i = 0; i < 3; i++) {
        small_spec(&s);
        s.version = versions[i];
        snprintf(errmsg, sizeof errmsg, "unknown command format version %u",
                 (unsigned)versions[i]);
        assert_spec_refused(&s, WR_UNSUPPORTED, errmsg);
    }
}

/* Types 0, 2 and 255 are refused as unsupported, naming the type. */
static void decode_refuses_unknown_type(void **state)
{
    struct spec s;
    (void)state;

    small_spec(&s);
    s.type = 0;
    assert_spec_refused(&s, WR_UNSUPPORTED, "unknown command type 0");
    s.type = 3;
    assert_spec_refused(&s, WR_UNSUPPORTED, "unknown command type 3");
    s.type = 255;
    assert_spec_refused(&s, WR_UNSUPPORTED, "unknown command type 255");
}

/* Flag bits other than bits 0, 1 and 2 are refused as unsupported. */
static void decode_refuses_unknown_flags(void **state)
{
    struct spec s;
    (void)state;

    small_spec(&s);
    s.flags = 0x0008;
    assert_spec_refused(&s, WR_UNSUPPORTED, "unknown command flags 0x0008");
    s.flags = 0x8000;
    assert_spec_refused(&s, WR_UNSUPPORTED, "unknown command flags 0x8000");
}

/* A buffer that does not start with "WRCM" is refused as corrupt. */
static void decode_refuses_wrong_magic(void **state)
{
    struct spec s;
    size_t len;
    uint8_t *b;
    (void)state;

    small_spec(&s);
    b = build(&s, &len);
    memcpy(b, "WRCX", 4);
    assert_refused(b, len, WR_CORRUPT, "bad magic 0x58435257");
    memset(b, 0, 4);
    assert_refused(b, len, WR_CORRUPT, "bad magic 0x00000000");
    free(b);
}

/* Non-zero bytes in any padding or reserved field are refused: after the
 * body (not covered by the CRC), after the name, after the page numbers,
 * and in the three reserved fields. */
static void decode_refuses_nonzero_padding(void **state)
{
    struct command_frames f = {0};
    uint8_t page[1024];
    uint32_t nos[2] = {1, 2};
    uint8_t *buf = NULL;
    size_t len = 0;
    size_t body_end = 0;
    (void)state;

    /* Find compressible pages whose compressed body is not a multiple of
     * 8, so the command has trailing padding. */
    for (int attempt = 0; attempt < 64; attempt++) {
        fill_compressible(page, sizeof page);
        f.commit_size = 2;
        f.page_size = 512;
        f.n_pages = 2;
        f.db_name = "db";
        f.page_nos = nos;
        f.pages = page;
        encode_ok(&f, true, &buf, &len);
        body_end = 24 + get_le32(buf + OFF_BODY_LEN);
        if (body_end < len) {
            break;
        }
        free(buf);
        buf = NULL;
    }
    assert_non_null(buf);
    buf[len - 1] = 1;
    assert_refused(buf, len, WR_CORRUPT, "padding after the body is not zero");
    buf[len - 1] = 0;
    buf[body_end] = 0x80;
    assert_refused(buf, len, WR_CORRUPT, "padding after the body is not zero");
    free(buf);

    assert_small_poke_refused(OFF_NAME + 7, 'x', 1,
                              "database name padding is not zero");
    assert_small_poke_refused(SMALL_OFF_NOS + 12, 1, 4,
                              "page number padding is not zero");
    assert_small_poke_refused(OFF_RESERVED + 7, 1, 1,
                              "header reserved field is not zero");
    assert_small_poke_refused(OFF_RESERVED16, 1, 2,
                              "frames header reserved field is not zero");
    assert_small_poke_refused(SMALL_OFF_PAYLOAD_LEN + 4, 1, 4,
                              "payload reserved field is not zero");
}

/* A body length that disagrees with the buffer or with the body's own
 * contents is refused, with or without a matching checksum. */
static void decode_refuses_lying_body_length(void **state)
{
    struct spec s;
    size_t len;
    uint8_t *b;
    uint8_t *longer;
    uint32_t body;
    (void)state;

    small_spec(&s);
    b = build(&s, &len);
    body = get_le32(b + OFF_BODY_LEN);

    /* Longer than the buffer. */
    put_le32(b + OFF_BODY_LEN, body + 8);
    assert_refused(b, len, WR_CORRUPT, "truncated: body needs 1600 bytes");
    /* Shorter, leaving more than the padding after it. */
    put_le32(b + OFF_BODY_LEN, body - 8);
    assert_refused(b, len, WR_CORRUPT, "a body of 1584 bytes pads to 1608");
    /* Shorter by one, so the last payload byte (0x5a) becomes padding. */
    put_le32(b + OFF_BODY_LEN, body - 1);
    assert_refused(b, len, WR_CORRUPT, "padding after the body is not zero");
    /* ... and if that byte is zero, the checksum no longer matches. */
    b[len - 1] = 0;
    assert_refused(b, len, WR_CORRUPT, "checksum mismatch");
    b[len - 1] = 0x5a;

    /* Shorter, buffer cut to match and checksum fixed: the payload runs
     * past the end of the body. */
    put_le32(b + OFF_BODY_LEN, body - 8);
    fix_crc(b);
    assert_refused(b, len - 8, WR_CORRUPT,
                   "truncated: payload needs 1536 bytes, 1528 left");

    /* Longer, buffer grown to match and checksum fixed: stray bytes. */
    longer = calloc(1, len + 8);
    assert_non_null(longer);
    memcpy(longer, b, len);
    put_le32(longer + OFF_BODY_LEN, body + 8);
    fix_crc(longer);
    assert_refused(longer, len + 8, WR_CORRUPT,
                   "8 stray bytes after the payload");
    free(longer);
    free(b);
}

/* A stored payload length that disagrees with the body or with the pages is
 * refused even with a matching checksum. */
static void decode_refuses_lying_payload_length(void **state)
{
    struct spec s;
    size_t len;
    uint8_t *b;
    (void)state;

    assert_small_poke_refused(SMALL_OFF_PAYLOAD_LEN, 1537, 4,
                              "truncated: payload needs 1537 bytes, 1536 left");
    assert_small_poke_refused(SMALL_OFF_PAYLOAD_LEN, 1528, 4,
                              "8 stray bytes after the payload");

    /* Consistent with the body but not with N x page size. */
    small_spec(&s);
    s.payload_len = 1528;
    assert_spec_refused(&s, WR_CORRUPT,
                        "raw payload is 1528 bytes, the pages need 1536");

    /* Flagged compressed but as large as the raw pages. */
    small_spec(&s);
    s.flags = 1;
    assert_spec_refused(&s, WR_CORRUPT,
                        "compressed payload of 1536 bytes is not smaller");

    /* Same as the raw small command, re-flagged by hand: refused. */
    small_spec(&s);
    b = build(&s, &len);
    b[OFF_FLAGS] = 1;
    assert_refused(b, len, WR_CORRUPT, "is not smaller");
    free(b);
}

/* A compressed payload that is valid LZ4 but expands to fewer or more bytes
 * than the pages need, or is not valid LZ4, is refused; the CRC is right, so
 * only the decompression check can catch it. */
static void decode_refuses_wrong_decompressed_size(void **state)
{
    uint8_t pages[3 * 512];
    char lz[2048];
    uint32_t nos[2] = {1, 2};
    struct spec s;
    int n;
    (void)state;

    fill_compressible(pages, sizeof pages);
    memset(&s, 0, sizeof s);
    s.version = COMMAND_VERSION;
    s.type = COMMAND_FRAMES;
    s.flags = 1;
    s.commit_size = 2;
    s.page_size = 512;
    s.n_pages = 2;
    s.name = "db";
    s.name_len = 2;
    s.page_nos = nos;
    s.payload = lz;

    /* One page where two are needed. */
    n = LZ4_compress_default((const char *)pages, lz, 512, (int)sizeof lz);
    assert_true(n > 0 && n < 1024);
    s.payload_len = (uint32_t)n;
    assert_spec_refused(&s, WR_CORRUPT,
                        "compressed payload expands to 512 bytes, the pages "
                        "need 1024");

    /* Three pages where two are needed. */
    n = LZ4_compress_default((const char *)pages, lz, 1536, (int)sizeof lz);
    assert_true(n > 0 && n < 1024);
    s.payload_len = (uint32_t)n;
    assert_spec_refused(&s, WR_CORRUPT,
                        "corrupt or expands to more than the 1024 bytes");

    /* Not LZ4 at all: a token promising literals that are not there. */
    memset(lz, 0xff, 100);
    s.payload_len = 100;
    assert_spec_refused(&s, WR_CORRUPT, "compressed payload is corrupt");
}

/* Duplicate, decreasing, zero and beyond-commit-size page numbers are
 * refused, crafted with a correct checksum. */
static void decode_refuses_bad_page_numbers(void **state)
{
    struct spec s;
    uint32_t dup[3] = {2, 2, 9};
    uint32_t down[3] = {5, 2, 9};
    uint32_t zero[3] = {0, 2, 9};
    uint32_t high[3] = {2, 5, 13};
    (void)state;

    small_spec(&s);
    s.page_nos = dup;
    assert_spec_refused(&s, WR_CORRUPT,
                        "not strictly increasing: 2 follows 2 at index 1");
    s.page_nos = down;
    assert_spec_refused(&s, WR_CORRUPT,
                        "not strictly increasing: 2 follows 5 at index 1");
    s.page_nos = zero;
    assert_spec_refused(&s, WR_CORRUPT,
                        "page number 0 (index 0) is outside 1..12");
    s.page_nos = high;
    assert_spec_refused(&s, WR_CORRUPT,
                        "page number 13 (index 2) is outside 1..12");
}

/* A database name of length 0, one containing a NUL byte and one longer
 * than 255 bytes are refused. */
static void decode_refuses_bad_names(void **state)
{
    struct spec s;
    char long_name[256];
    (void)state;

    small_spec(&s);
    s.name = "";
    s.name_len = 0;
    assert_spec_refused(&s, WR_CORRUPT, "database name is empty");
    s.name = "ab\0cd";
    s.name_len = 5;
    assert_spec_refused(&s, WR_CORRUPT, "database name contains a NUL byte");
    memset(long_name, 'x', sizeof long_name);
    s.name = long_name;
    s.name_len = 256;
    assert_spec_refused(&s, WR_CORRUPT, "database name length 256 is over 255");
}

/* Absurd lengths (0xFFFFFFFF and friends) in every length field are refused
 * by a bounds check, named in the message, which in the decoder comes before
 * any allocation: it never allocates by a length it has not matched against
 * the buffer, and never reads past the buffer (ASan and valgrind watch the
 * exact-size copies). */
static void decode_refuses_absurd_lengths(void **state)
{
    struct spec s;
    uint8_t junk[64];
    uint32_t *nos;
    uint32_t n_big = (uint32_t)(SIZE_MAX_COMMAND / 65536) + 1;
    size_t len;
    uint8_t *b;
    (void)state;

    assert_small_poke_refused(OFF_N_PAGES, 0xffffffffu, 4,
                              "truncated: page numbers need 17179869184 "
                              "bytes, 1560 left");
    assert_small_poke_refused(OFF_N_PAGES, 0x10000000u, 4,
                              "truncated: page numbers need 1073741824 bytes");
    assert_small_poke_refused(OFF_NAME_LEN, 0xffff, 2,
                              "database name length 65535 is over 255");
    assert_small_poke_refused(SMALL_OFF_PAYLOAD_LEN, 0xffffffffu, 4,
                              "truncated: payload needs 4294967295 bytes");
    assert_small_poke_refused(OFF_PAGE_SIZE, 0xffffffffu, 4,
                              "page size 4294967295 is not a power of two");
    assert_small_poke_refused(OFF_PAGE_SIZE, 0x80000000u, 4,
                              "page size 2147483648 is not a power of two");
    assert_small_poke_refused(OFF_PAGE_SIZE, 0, 4,
                              "page size 0 is not a power of two");
    assert_small_poke_refused(OFF_N_PAGES, 0, 4, "no pages");

    /* A body length of 0xFFFFFFFF (the CRC cannot even be computed). */
    small_spec(&s);
    b = build(&s, &len);
    put_le32(b + OFF_BODY_LEN, 0xffffffffu);
    assert_refused(b, len, WR_CORRUPT,
                   "truncated: body needs 4294967295 bytes");
    free(b);

    /* A few stored bytes claiming three 64 KiB pages: LZ4 cannot expand
     * that much, so nothing is allocated for the claim. */
    memset(junk, 0, sizeof junk);
    small_spec(&s);
    s.flags = 1;
    s.page_size = 65536;
    s.commit_size = 12;
    s.payload = junk;
    s.payload_len = 8;
    assert_spec_refused(&s, WR_CORRUPT,
                        "compressed payload of 8 bytes cannot expand to "
                        "196608 bytes");

    /* Real page numbers for 16385 pages of 64 KiB, over 1 GiB: refused by
     * the size limit before the payload is looked at. */
    nos = calloc(n_big, sizeof *nos);
    assert_non_null(nos);
    for (uint32_t i = 0; i < n_big; i++) {
        nos[i] = i + 1;
    }
    s.commit_size = n_big;
    s.n_pages = n_big;
    s.page_nos = nos;
    s.payload_len = sizeof junk;
    assert_spec_refused(&s, WR_CORRUPT, "over the command size limit");
    free(nos);
}

/*
 * Decoder behaviour on valid input.
 */

/* A command at an odd address decodes, and its page numbers are usable as a
 * host-order array whatever the alignment of the buffer. */
static void decode_accepts_unaligned_buffer(void **state)
{
    struct spec s;
    struct command_decoded d;
    char errmsg[WR_ERRMSG_SIZE] = "";
    size_t len;
    uint8_t *b;
    uint8_t *odd;
    (void)state;

    small_spec(&s);
    b = build(&s, &len);
    odd = malloc(len + 1);
    assert_non_null(odd);
    memcpy(odd + 1, b, len);
    assert_int_equal(command_decode(odd + 1, len, &d, errmsg), 0);
    assert_int_equal(d.frames.page_nos[0], 2);
    assert_int_equal(d.frames.page_nos[1], 5);
    assert_int_equal(d.frames.page_nos[2], 9);
    assert_ptr_equal(d.frames.pages, odd + 1 + SMALL_OFF_PAYLOAD);
    assert_string_equal(d.db_name, "main.db");
    command_decoded_close(&d);
    free(odd);
    free(b);
}

/* Closing a zeroed struct, or one closed already, does nothing harmful. */
static void decode_close_is_safe_on_zeroed_struct(void **state)
{
    struct command_decoded d;
    (void)state;

    memset(&d, 0, sizeof d);
    command_decoded_close(&d);
    command_decoded_close(&d);
    assert_null(d.scratch);
}

/*
 * Session records (exactly-once writes).
 */

static const struct command_session three_sessions[3] = {
    {7, 1, 1, 42},
    {9, 12, 0, 0},
    {0xffffffffffffff01ULL, 0xfffffffffffffff0ULL, -1, INT64_MIN},
};

static void assert_sessions_equal(const struct command_session *a,
                                  const struct command_session *b,
                                  uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        assert_true(a[i].client_id == b[i].client_id);
        assert_true(a[i].seq == b[i].seq);
        assert_true(a[i].changes == b[i].changes);
        assert_true(a[i].last_insert_id == b[i].last_insert_id);
    }
}

/* A FRAMES command with session records, raw or compressed, decodes to the
 * same pages and records, and re-encodes to the same bytes. */
static void roundtrip_frames_with_sessions(void **state)
{
    (void)state;
    for (int compress = 0; compress <= 1; compress++) {
        struct pageset ps;
        struct command_frames f;
        struct command_decoded d;
        char errmsg[WR_ERRMSG_SIZE] = "";
        uint8_t *buf;
        uint8_t *copy;
        uint8_t *again;
        size_t len;
        size_t again_len;
        uint32_t body_len;

        pageset_init(&ps, 512, 5, compress ? COMPRESSIBLE : RANDOM);
        frames_from_pageset(&f, &ps, true);
        f.n_sessions = 3;
        f.sessions = three_sessions;
        encode_ok(&f, compress != 0, &buf, &len);
        assert_int_equal(get_le16(buf + OFF_FLAGS), compress ? 3 : 2);
        /* The records end the body, which the 32-byte records keep a
         * multiple of 8: no padding after it. */
        body_len = get_le32(buf + OFF_BODY_LEN);
        assert_int_equal(COMMAND_HEADER_SIZE + body_len, len);
        assert_int_equal(get_le32(buf + len - 8 - 3 * 32), 3);
        assert_true(get_le64(buf + len - 32) == 0xffffffffffffff01ULL);

        copy = exact_copy(buf, len);
        assert_int_equal(command_decode(copy, len, &d, errmsg), 0);
        assert_int_equal(d.type, COMMAND_FRAMES);
        assert_int_equal(d.n_sessions, 3);
        assert_int_equal(d.frames.n_sessions, 3);
        assert_ptr_equal(d.frames.sessions, d.sessions);
        assert_sessions_equal(d.sessions, three_sessions, 3);
        assert_memory_equal(d.frames.pages, ps.data, 5 * 512);
        encode_ok(&d.frames, compress != 0, &again, &again_len);
        assert_int_equal(again_len, len);
        assert_memory_equal(again, buf, len);
        free(again);
        command_decoded_close(&d);
        free(copy);
        free(buf);
        pageset_close(&ps);
    }
}

/* A SESSIONS command has the documented layout and decodes to its name and
 * records. */
static void roundtrip_sessions_command(void **state)
{
    struct command_decoded d;
    char errmsg[WR_ERRMSG_SIZE] = "";
    void *out;
    uint8_t *buf;
    size_t len;
    (void)state;

    assert_int_equal(command_sessions_encode("main.db", three_sessions, 3,
                                             &out, &len, errmsg),
                     0);
    buf = exact_copy(out, len);
    free(out);
    assert_int_equal(len, 24 + 8 + 8 + 8 + 3 * 32);
    assert_int_equal(get_le32(buf), COMMAND_MAGIC);
    assert_int_equal(buf[4], COMMAND_VERSION);
    assert_int_equal(buf[5], COMMAND_SESSIONS);
    assert_int_equal(get_le16(buf + OFF_FLAGS), 0);
    assert_int_equal(get_le32(buf + OFF_BODY_LEN), len - 24);
    assert_int_equal(get_le16(buf + 24), 7);
    assert_memory_equal(buf + 32, "main.db\0", 8);
    assert_int_equal(get_le32(buf + 40), 3);
    assert_true(get_le64(buf + 48) == 7);
    assert_true(get_le64(buf + 56) == 1);
    assert_true(get_le64(buf + 64) == 1);
    assert_true(get_le64(buf + 72) == 42);

    assert_int_equal(command_decode(buf, len, &d, errmsg), 0);
    assert_int_equal(d.type, COMMAND_SESSIONS);
    assert_string_equal(d.db_name, "main.db");
    assert_int_equal(d.n_sessions, 3);
    assert_sessions_equal(d.sessions, three_sessions, 3);
    command_decoded_close(&d);
    free(buf);
}

/* The encoders refuse records that break the rules: no records in a
 * SESSIONS command, a zero client id or sequence number, ids out of order
 * or repeated, too many. */
static void encode_refuses_bad_sessions(void **state)
{
    struct command_session bad[3];
    struct command_session *many;
    char errmsg[WR_ERRMSG_SIZE];
    void *buf = NULL;
    size_t len;
    struct pageset ps;
    struct command_frames f;
    (void)state;

    assert_int_equal(command_sessions_encode("db", three_sessions, 0, &buf,
                                             &len, errmsg),
                     WR_INVALID);
    assert_non_null(strstr(errmsg, "at least one record"));
    memcpy(bad, three_sessions, sizeof bad);
    bad[1].client_id = 0;
    assert_int_equal(command_sessions_encode("db", bad, 3, &buf, &len,
                                             errmsg),
                     WR_INVALID);
    assert_non_null(strstr(errmsg, "neither may be 0"));
    memcpy(bad, three_sessions, sizeof bad);
    bad[2].seq = 0;
    assert_int_equal(command_sessions_encode("db", bad, 3, &buf, &len,
                                             errmsg),
                     WR_INVALID);
    memcpy(bad, three_sessions, sizeof bad);
    bad[2].client_id = bad[1].client_id;
    assert_int_equal(command_sessions_encode("db", bad, 3, &buf, &len,
                                             errmsg),
                     WR_INVALID);
    assert_non_null(strstr(errmsg, "not strictly increasing"));
    many = calloc(COMMAND_SESSIONS_MAX + 1, sizeof *many);
    assert_non_null(many);
    for (uint32_t i = 0; i <= COMMAND_SESSIONS_MAX; i++) {
        many[i].client_id = i + 1;
        many[i].seq = 1;
    }
    assert_int_equal(command_sessions_encode("db", many, COMMAND_SESSIONS_MAX,
                                             &buf, &len, errmsg),
                     0);
    free(buf);
    buf = NULL;
    assert_int_equal(command_sessions_encode("db", many,
                                             COMMAND_SESSIONS_MAX + 1, &buf,
                                             &len, errmsg),
                     WR_INVALID);
    assert_non_null(strstr(errmsg, "over the limit"));

    pageset_init(&ps, 512, 2, RANDOM);
    frames_from_pageset(&f, &ps, false);
    f.n_sessions = 3;
    f.sessions = bad;
    assert_encode_refused(&f, WR_INVALID, "not strictly increasing");
    f.sessions = NULL;
    assert_encode_refused(&f, WR_INVALID, "session records are NULL");
    pageset_close(&ps);
    free(many);
    assert_null(buf);
}

/* Offsets in the SESSIONS command of sessions_cmd(): name "main.db". */
#define SESS_OFF_NAME_LEN 24
#define SESS_OFF_RESERVED 26
#define SESS_OFF_COUNT 40
#define SESS_OFF_COUNT_RESERVED 44
#define SESS_OFF_RECORDS 48

static uint8_t *sessions_cmd(size_t *len)
{
    char errmsg[WR_ERRMSG_SIZE];
    void *buf;
    assert_int_equal(command_sessions_encode("main.db", three_sessions, 3,
                                             &buf, len, errmsg),
                     0);
    return buf;
}

/* Poke @value (of @width bytes) at @off of a valid SESSIONS command, fix the
 * checksum and expect WR_CORRUPT with @want_msg. */
static void assert_sessions_poke_refused(size_t off,
                                         uint64_t value,
                                         int width,
                                         const char *want_msg)
{
    size_t len;
    uint8_t *b = sessions_cmd(&len);

    if (width == 8) {
        put_le64(b + off, value);
    } else if (width == 4) {
        put_le32(b + off, (uint32_t)value);
    } else {
        put_le16(b + off, (uint16_t)value);
    }
    fix_crc(b);
    assert_refused(b, len, WR_CORRUPT, want_msg);
    free(b);
}

/* Malformed session records and counts are refused with a sentence, and
 * nothing is read past the buffer: counts that lie either way, reserved
 * words, zero ids, ids out of order, flags on a SESSIONS command, a FRAMES
 * command that announces records it does not carry, every truncation and
 * every bit flip. */
static void decode_refuses_bad_session_records(void **state)
{
    struct command_decoded d;
    char errmsg[WR_ERRMSG_SIZE];
    size_t len;
    uint8_t *b;
    (void)state;

    assert_sessions_poke_refused(SESS_OFF_COUNT, 0, 4,
                                 "announced but there are none");
    assert_sessions_poke_refused(SESS_OFF_COUNT, 4, 4,
                                 "truncated: session records need 128 bytes");
    assert_sessions_poke_refused(SESS_OFF_COUNT, 2, 4,
                                 "32 stray bytes after the session records");
    assert_sessions_poke_refused(SESS_OFF_COUNT, COMMAND_SESSIONS_MAX + 1, 4,
                                 "over the limit");
    assert_sessions_poke_refused(SESS_OFF_COUNT, 0xffffffffu, 4,
                                 "over the limit");
    assert_sessions_poke_refused(SESS_OFF_COUNT_RESERVED, 1, 4,
                                 "session count reserved field");
    assert_sessions_poke_refused(SESS_OFF_RESERVED, 1, 2,
                                 "sessions header reserved field");
    assert_sessions_poke_refused(SESS_OFF_NAME_LEN, 0, 2,
                                 "database name is empty");
    assert_sessions_poke_refused(SESS_OFF_NAME_LEN, 300, 2,
                                 "database name length 300");
    assert_sessions_poke_refused(SESS_OFF_RECORDS, 0, 8, "neither may be 0");
    assert_sessions_poke_refused(SESS_OFF_RECORDS + 8, 0, 8,
                                 "neither may be 0");
    assert_sessions_poke_refused(SESS_OFF_RECORDS + 32, 7, 8,
                                 "not strictly increasing");

    b = sessions_cmd(&len);
    put_le16(b + OFF_FLAGS, 1);
    fix_crc(b);
    assert_refused(b, len, WR_CORRUPT, "flags 0x0001 on a SESSIONS command");
    free(b);

    /* Every cut and every flipped bit. */
    b = sessions_cmd(&len);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *copy = exact_copy(b, cut);
        assert_int_not_equal(command_decode(copy, cut, &d, errmsg), 0);
        free(copy);
    }
    for (size_t bit = 0; bit < len * 8; bit++) {
        uint8_t *copy = exact_copy(b, len);
        int rv;
        copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        rv = command_decode(copy, len, &d, errmsg);
        assert_int_not_equal(rv, 0);
        free(copy);
    }
    free(b);

    /* A FRAMES command whose flag says records follow, without them; and
     * one whose records have a non-zero count reserved word. */
    {
        struct spec s;
        small_spec(&s);
        s.flags = 0x0002;
        assert_spec_refused(&s, WR_CORRUPT,
                            "truncated: session count needs 8 bytes, 0 left");
    }
    {
        struct pageset ps;
        struct command_frames f;
        uint8_t *fb;
        size_t flen;
        pageset_init(&ps, 512, 3, RANDOM);
        frames_from_pageset(&f, &ps, false);
        f.n_sessions = 3;
        f.sessions = three_sessions;
        encode_ok(&f, false, &fb, &flen);
        put_le32(fb + flen - 3 * 32 - 4, 9);
        fix_crc(fb);
        assert_refused(fb, flen, WR_CORRUPT, "session count reserved field");
        put_le32(fb + flen - 3 * 32 - 4, 0);
        put_le16(fb + OFF_FLAGS, 0);
        fix_crc(fb);
        assert_refused(fb, flen, WR_CORRUPT, "stray bytes after the payload");
        free(fb);
        pageset_close(&ps);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32c_check_value),
        cmocka_unit_test(crc32c_rfc3720_vectors),
        cmocka_unit_test(crc32c_chains_at_every_split),
        cmocka_unit_test(crc32c_matches_bitwise_reference),
        cmocka_unit_test(roundtrip_raw_random),
        cmocka_unit_test(roundtrip_raw_compressible),
        cmocka_unit_test(roundtrip_compressed),
        cmocka_unit_test(roundtrip_compression_declined),
        cmocka_unit_test(roundtrip_zero_pages_at_best_ratio),
        cmocka_unit_test(roundtrip_longest_name),
        cmocka_unit_test(delta_roundtrip_is_small_and_exact),
        cmocka_unit_test(delta_with_wrong_base_is_corrupt),
        cmocka_unit_test(delta_malformed_is_refused),
        cmocka_unit_test(encode_matches_documented_layout),
        cmocka_unit_test(encode_refuses_page_beyond_commit_size),
        cmocka_unit_test(encode_refuses_invalid_input),
        cmocka_unit_test(encode_refuses_over_one_gib),
        cmocka_unit_test(decode_refuses_every_bit_flip_raw),
        cmocka_unit_test(decode_refuses_every_bit_flip_compressed),
        cmocka_unit_test(decode_refuses_every_truncation_raw),
        cmocka_unit_test(decode_refuses_every_truncation_compressed),
        cmocka_unit_test(decode_refuses_unknown_version),
        cmocka_unit_test(decode_refuses_unknown_type),
        cmocka_unit_test(decode_refuses_unknown_flags),
        cmocka_unit_test(decode_refuses_wrong_magic),
        cmocka_unit_test(decode_refuses_nonzero_padding),
        cmocka_unit_test(decode_refuses_lying_body_length),
        cmocka_unit_test(decode_refuses_lying_payload_length),
        cmocka_unit_test(decode_refuses_wrong_decompressed_size),
        cmocka_unit_test(decode_refuses_bad_page_numbers),
        cmocka_unit_test(decode_refuses_bad_names),
        cmocka_unit_test(decode_refuses_absurd_lengths),
        cmocka_unit_test(decode_accepts_unaligned_buffer),
        cmocka_unit_test(decode_close_is_safe_on_zeroed_struct),
        cmocka_unit_test(roundtrip_frames_with_sessions),
        cmocka_unit_test(roundtrip_sessions_command),
        cmocka_unit_test(encode_refuses_bad_sessions),
        cmocka_unit_test(decode_refuses_bad_session_records),
    };

    print_message("test_command: seed 0x%llx\n", (unsigned long long)SEED);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
