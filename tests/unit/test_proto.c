/*
 * Unit tests for the client wire protocol codec (proto/wire.h, wire.c,
 * tuple.c) and the growable buffer under it (lib/buf.c).
 *
 * Three kinds of checks:
 *   - golden vectors: messages written out byte by byte, by hand, from the
 *     specification (reference/wire-protocol.md in canonical/dqlite-docs)
 *     and dqlite's sources, so that the encoder is checked against the spec
 *     and a mistake shared by encoder and decoder cannot hide;
 *   - round trips of every request and response type with representative
 *     values, including re-encoding what was decoded;
 *   - hostile input: every truncation and every single-bit flip of sample
 *     messages, absurd lengths, unknown types, broken limits, random bytes.
 *     A decoder must refuse such input or return a message that is valid
 *     (it re-encodes and decodes again), never crash or read past the body.
 *
 * Every body handed to a decoder is malloc'ed to its exact length, so ASan
 * reports any read past its end. Random data comes from a fixed-seed
 * generator; the seed is printed.
 */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../lib/buf.h"
#include "../../lib/err.h"
#include "../../lib/value.h"
#include "../../proto/wire.h"

#define SEED 0x70c0de5eed1ULL

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

/* A heap copy of exactly @n bytes (NULL when n is 0), so that ASan catches
 * a read of even one byte past the end. */
static uint8_t *dup_exact(const void *p, size_t n)
{
    uint8_t *q;
    if (n == 0) {
        return NULL;
    }
    q = malloc(n);
    assert_non_null(q);
    memcpy(q, p, n);
    return q;
}

/* One message: its header and its body in an exactly-sized heap buffer. */
struct msg {
    struct proto_header h;
    uint8_t *body;
    size_t len;
};

static void msg_from_bytes(struct msg *m, const uint8_t *bytes, size_t n)
{
    char errmsg[WR_ERRMSG_SIZE];
    size_t len = 0;

    assert_true(n >= PROTO_HEADER_SIZE);
    assert_int_equal(proto_header_decode(bytes, NULL, &m->h, &len, errmsg),
                     0);
    assert_int_equal(len, n - PROTO_HEADER_SIZE);
    m->len = len;
    m->body = dup_exact(bytes + PROTO_HEADER_SIZE, len);
}

static void msg_free(struct msg *m)
{
    free(m->body);
    m->body = NULL;
}

static void encode_request(struct buf *b, const struct proto_request *r)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    int rv;

    buf_init(b);
    rv = proto_request_encode(b, r, errmsg);
    if (rv != 0) {
        fail_msg("encode request %d: %s", r->type, errmsg);
    }
}

static void encode_response(struct buf *b, const struct proto_response *r)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    int rv;

    buf_init(b);
    rv = proto_response_encode(b, r, errmsg);
    if (rv != 0) {
        fail_msg("encode response %d: %s", r->kind, errmsg);
    }
}

/* The value a peer should read back for @sent: the wire type the encoder
 * picks for it and, for BOOLEAN, 0 or 1. */
static void assert_value_eq(const struct proto_value *sent,
                            const struct proto_value *got)
{
    int wire = proto_wire_type(&sent->v, sent->wire);

    assert_int_equal(got->wire, wire);
    assert_int_equal(got->v.type, sent->v.type);
    switch (sent->v.type) {
        case VALUE_INTEGER:
            if (wire == PROTO_BOOLEAN) {
                assert_int_equal(got->v.integer, sent->v.integer != 0);
            } else {
                assert_true(got->v.integer == sent->v.integer);
            }
            break;
        case VALUE_FLOAT:
            assert_memory_equal(&got->v.real, &sent->v.real, sizeof(double));
            break;
        case VALUE_TEXT:
            assert_int_equal(got->v.text.n, sent->v.text.n);
            if (sent->v.text.n > 0) {
                assert_memory_equal(got->v.text.p, sent->v.text.p,
                                    sent->v.text.n);
            }
            assert_int_equal(got->v.text.p[got->v.text.n], '\0');
            break;
        case VALUE_BLOB:
            assert_int_equal(got->v.blob.n, sent->v.blob.n);
            if (sent->v.blob.n > 0) {
                assert_memory_equal(got->v.blob.p, sent->v.blob.p,
                                    sent->v.blob.n);
            }
            break;
        default:
            assert_int_equal(sent->v.type, VALUE_NULL);
            break;
    }
}

/*
 * Field-by-field equality, generated from the same X-macro tables as the
 * codec: one eq_KIND per field kind.
 */

static void eq_U32(const uint32_t *a, const uint32_t *b)
{
    assert_int_equal(*a, *b);
}

static void eq_U64(const uint64_t *a, const uint64_t *b)
{
    assert_true(*a == *b);
}

static void eq_TEXT(const char *const *a, const char *const *b)
{
    assert_non_null(*b);
    assert_string_equal(*a != NULL ? *a : "", *b);
}

static void eq_OPT_U64(const struct proto_opt_u64 *a,
                       const struct proto_opt_u64 *b)
{
    assert_int_equal(a->present, b->present);
    if (a->present) {
        assert_true(a->value == b->value);
    }
}

static void eq_PARAMS(const struct proto_params *a,
                      const struct proto_params *b)
{
    struct proto_params_iter ia;
    struct proto_params_iter ib;
    struct proto_value va;
    struct proto_value vb;

    assert_int_equal(a->n, b->n);
    proto_params_iter_init(&ia, a);
    proto_params_iter_init(&ib, b);
    while (proto_params_next(&ia, &va)) {
        assert_true(proto_params_next(&ib, &vb));
        assert_value_eq(&va, &vb);
    }
    assert_false(proto_params_next(&ib, &vb));
}

static void eq_NODES(const struct proto_nodes *a, const struct proto_nodes *b)
{
    struct proto_iter ia;
    struct proto_iter ib;
    struct proto_node na;
    struct proto_node nb;
    bool role = b->with_role;

    assert_true(a->n == b->n);
    proto_nodes_iter_init(&ia, a);
    proto_nodes_iter_init(&ib, b);
    while (proto_nodes_next(&ia, &na)) {
        assert_true(proto_nodes_next(&ib, &nb));
        assert_true(na.id == nb.id);
        assert_string_equal(na.address != NULL ? na.address : "",
                            nb.address);
        assert_true(nb.role == (role ? na.role : 0));
    }
    assert_false(proto_nodes_next(&ib, &nb));
}

#define eq_NODES0 eq_NODES

static void eq_FILES(const struct proto_files *a, const struct proto_files *b)
{
    struct proto_iter ia;
    struct proto_iter ib;
    struct proto_file fa;
    struct proto_file fb;

    assert_true(a->n == b->n);
    proto_files_iter_init(&ia, a);
    proto_files_iter_init(&ib, b);
    while (proto_files_next(&ia, &fa)) {
        assert_true(proto_files_next(&ib, &fb));
        assert_string_equal(fa.name, fb.name);
        assert_true(fa.size == fb.size);
        if (fa.size > 0) {
            assert_memory_equal(fa.data, fb.data, (size_t)fa.size);
        }
    }
    assert_false(proto_files_next(&ib, &fb));
}

/* Names of a rowset, whichever way it was filled. */
static const char **rowset_names(const struct proto_rowset *rs)
{
    const char **names = calloc((size_t)rs->n_cols, sizeof *names);
    assert_non_null(names);
    if (rs->names != NULL) {
        for (uint64_t c = 0; c < rs->n_cols; c++) {
            names[c] = rs->names[c] != NULL ? rs->names[c] : "";
        }
    } else {
        proto_rows_names(rs, names);
    }
    return names;
}

static void eq_ROWSET(const struct proto_rowset *a,
                      const struct proto_rowset *b)
{
    size_t n_cols = (size_t)a->n_cols;
    const char **na;
    const char **nb;
    struct proto_value *ra;
    struct proto_value *rb;
    struct proto_rows_iter ia;
    struct proto_rows_iter ib;
    size_t rows = 0;

    assert_true(a->n_cols == b->n_cols);
    assert_true(a->marker == b->marker);
    assert_int_equal(a->n_rows, b->n_rows);
    na = rowset_names(a);
    nb = rowset_names(b);
    for (size_t c = 0; c < n_cols; c++) {
        assert_string_equal(na[c], nb[c]);
    }
    ra = calloc(n_cols, sizeof *ra);
    rb = calloc(n_cols, sizeof *rb);
    assert_non_null(ra);
    assert_non_null(rb);
    proto_rows_iter_init(&ib, b);
    if (a->names == NULL) {
        proto_rows_iter_init(&ia, a);
    }
    for (;;) {
        if (a->names != NULL) {
            if (rows == a->n_rows) {
                break;
            }
            for (size_t c = 0; c < n_cols; c++) {
                size_t off = rows * n_cols + c;
                ra[c].v = a->values[off];
                ra[c].wire = a->wire_types != NULL ? a->wire_types[off] : 0;
            }
        } else if (!proto_rows_next(&ia, ra)) {
            break;
        }
        assert_true(proto_rows_next(&ib, rb));
        for (size_t c = 0; c < n_cols; c++) {
            assert_value_eq(&ra[c], &rb[c]);
        }
        rows++;
    }
    assert_false(proto_rows_next(&ib, rb));
    assert_int_equal(rows, b->n_rows);
    free(ra);
    free(rb);
    free(na);
    free(nb);
}

#define EQ_FIELD(KIND, name) eq_##KIND(&x->name, &y->name);

static void request_eq(const struct proto_request *a,
                       const struct proto_request *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->schema, b->schema);
    switch (a->type) {
#define EQ_CASE(lower, UPPER, code_, schema_)            \
    case code_: {                                        \
        const struct proto_req_##lower *x = &a->lower;   \
        const struct proto_req_##lower *y = &b->lower;   \
        PROTO_FIELDS_REQ_##UPPER(EQ_FIELD)               \
        break;                                           \
    }
        PROTO_REQUESTS(EQ_CASE)
#undef EQ_CASE
        default:
            fail_msg("unknown request type %d", a->type);
    }
}

static void response_eq(const struct proto_response *a,
                        const struct proto_response *b)
{
    assert_int_equal(a->kind, b->kind);
    switch (a->kind) {
#define EQ_CASE(lower, UPPER, code_, schema_)            \
    case PROTO_RESP_##UPPER: {                           \
        const struct proto_resp_##lower *x = &a->lower;  \
        const struct proto_resp_##lower *y = &b->lower;  \
        PROTO_FIELDS_RESP_##UPPER(EQ_FIELD)              \
        break;                                           \
    }
        PROTO_RESPONSES(EQ_CASE)
#undef EQ_CASE
        default:
            fail_msg("unknown response kind %d", a->kind);
    }
}

/* Read every byte a decoded message points at (lists included), so that
 * ASan sees any pointer that leads outside the body. */
static unsigned touch_value(const struct proto_value *v)
{
    unsigned sum = 0;
    if (v->v.type == VALUE_TEXT) {
        for (size_t i = 0; i <= v->v.text.n; i++) {
            sum += (unsigned char)v->v.text.p[i];
        }
    } else if (v->v.type == VALUE_BLOB) {
        for (size_t i = 0; i < v->v.blob.n; i++) {
            sum += ((const unsigned char *)v->v.blob.p)[i];
        }
    }
    return sum;
}

static unsigned touch_text(const char *s)
{
    unsigned sum = 0;
    for (size_t i = 0; s[i] != '\0'; i++) {
        sum += (unsigned char)s[i];
    }
    return sum;
}

static unsigned touch_params(const struct proto_params *p)
{
    struct proto_params_iter it;
    struct proto_value v;
    unsigned sum = 0;
    proto_params_iter_init(&it, p);
    while (proto_params_next(&it, &v)) {
        sum += touch_value(&v);
    }
    return sum;
}

static unsigned touch_request(const struct proto_request *r)
{
    switch (r->type) {
        case PROTO_REQ_EXEC:
            return touch_params(&r->exec.params);
        case PROTO_REQ_QUERY:
            return touch_params(&r->query.params);
        case PROTO_REQ_EXEC_SQL:
            return touch_text(r->exec_sql.sql) +
                   touch_params(&r->exec_sql.params);
        case PROTO_REQ_QUERY_SQL:
            return touch_text(r->query_sql.sql) +
                   touch_params(&r->query_sql.params);
        case PROTO_REQ_OPEN:
            return touch_text(r->open.name) + touch_text(r->open.vfs);
        case PROTO_REQ_PREPARE:
            return touch_text(r->prepare.sql);
    }
    return 0;
}

static unsigned touch_response(const struct proto_response *r)
{
    struct proto_iter it;
    unsigned sum = 0;

    switch (r->kind) {
        case PROTO_RESP_SERVERS:
        case PROTO_RESP_SERVERS_V0: {
            const struct proto_nodes *l = r->kind == PROTO_RESP_SERVERS
                                              ? &r->servers.servers
                                              : &r->servers_v0.servers;
            struct proto_node n;
            proto_nodes_iter_init(&it, l);
            while (proto_nodes_next(&it, &n)) {
                sum += touch_text(n.address) + (unsigned)n.role;
            }
            break;
        }
        case PROTO_RESP_FILES: {
            struct proto_file f;
            proto_files_iter_init(&it, &r->files.files);
            while (proto_files_next(&it, &f)) {
                sum += touch_text(f.name);
                for (uint64_t i = 0; i < f.size; i++) {
                    sum += ((const uint8_t *)f.data)[i];
                }
            }
            break;
        }
        case PROTO_RESP_ROWS: {
            const struct proto_rowset *rs = &r->rows.rows;
            struct proto_value *row = calloc((size_t)rs->n_cols, sizeof *row);
            const char **names = calloc((size_t)rs->n_cols, sizeof *names);
            struct proto_rows_iter ri;
            assert_non_null(row);
            assert_non_null(names);
            proto_rows_names(rs, names);
            for (uint64_t c = 0; c < rs->n_cols; c++) {
                sum += touch_text(names[c]);
            }
            proto_rows_iter_init(&ri, rs);
            while (proto_rows_next(&ri, row)) {
                for (uint64_t c = 0; c < rs->n_cols; c++) {
                    sum += touch_value(&row[c]);
                }
            }
            free(row);
            free(names);
            break;
        }
        case PROTO_RESP_FAILURE:
            sum += touch_text(r->failure.message);
            break;
    }
    return sum;
}

static bool is_refusal(int rv)
{
    return rv == WR_CORRUPT || rv == WR_TOOBIG || rv == WR_UNSUPPORTED;
}

/* Decode a body (copied to an exactly-sized buffer) as a request, or as a
 * response of kind @expect. On success, walk everything it points at, then
 * re-encode it and decode the result again, which must succeed. Returns
 * the decoder's code; a refusal must come with a message. */
static int decode_robust(bool request,
                         int expect,
                         const struct proto_header *h,
                         const uint8_t *body,
                         size_t len)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    uint8_t *copy = dup_exact(body, len);
    struct proto_request req;
    struct proto_response resp;
    volatile unsigned sink = 0;
    struct buf b;
    struct msg m;
    int rv;

    if (request) {
        rv = proto_request_decode(h, copy, len, NULL, &req, errmsg);
    } else {
        rv = proto_response_decode(h, copy, len, expect, NULL, &resp, errmsg);
    }
    if (rv != 0) {
        assert_true(is_refusal(rv) || rv == WR_INVALID);
        assert_true(errmsg[0] != '\0');
        free(copy);
        return rv;
    }
    buf_init(&b);
    if (request) {
        struct proto_request again;
        sink += touch_request(&req);
        encode_request(&b, &req);
        msg_from_bytes(&m, b.p, b.len);
        assert_int_equal(
            proto_request_decode(&m.h, m.body, m.len, NULL, &again, errmsg),
            0);
        request_eq(&req, &again);
    } else {
        struct proto_response again;
        sink += touch_response(&resp);
        encode_response(&b, &resp);
        msg_from_bytes(&m, b.p, b.len);
        assert_int_equal(proto_response_decode(&m.h, m.body, m.len,
                                               resp.kind, NULL, &again,
                                               errmsg),
                         0);
        response_eq(&resp, &again);
    }
    (void)sink;
    msg_free(&m);
    buf_close(&b);
    free(copy);
    return 0;
}

/*
 * Sample values: every wire type and the edges of each.
 */

/* "héllo wörld ✓ 日本 😀": two-, three- and four-byte sequences. */
#define UTF8 \
    "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac " \
    "\xf0\x9f\x98\x80"

static const uint8_t blob1[1] = {0};
static const uint8_t blob8[8] = {0, 0, 0xff, 0, 0x80, 0, 0, 1};
static const uint8_t blob17[17] = {0, 1, 0, 2, 0, 0, 0, 0, 0xff,
                                   0, 0, 0, 0, 0, 0, 0, 0x7f};

#define N_SAMPLES 34

static struct proto_value text_value(int wire, const char *s)
{
    struct proto_value v = {.wire = wire};
    v.v.type = VALUE_TEXT;
    v.v.text.p = (char *)s;
    v.v.text.n = strlen(s);
    return v;
}

static struct proto_value int_value(int wire, int64_t i)
{
    struct proto_value v = {.wire = wire};
    v.v.type = VALUE_INTEGER;
    v.v.integer = i;
    return v;
}

static struct proto_value float_value(double d)
{
    struct proto_value v = {.wire = 0};
    v.v.type = VALUE_FLOAT;
    v.v.real = d;
    return v;
}

static struct proto_value blob_value(const void *p, size_t n)
{
    struct proto_value v = {.wire = 0};
    v.v.type = VALUE_BLOB;
    v.v.blob.p = (void *)p;
    v.v.blob.n = n;
    return v;
}

static struct proto_value null_value(void)
{
    struct proto_value v = {.wire = 0};
    v.v.type = VALUE_NULL;
    return v;
}

static void sample_values(struct proto_value *v)
{
    size_t i = 0;

    v[i++] = int_value(0, 0);
    v[i++] = int_value(0, 1);
    v[i++] = int_value(0, -1);
    v[i++] = int_value(0, INT64_MIN);
    v[i++] = int_value(0, INT64_MAX);
    v[i++] = float_value(0.0);
    v[i++] = float_value(-0.0);
    v[i++] = float_value(1.5);
    v[i++] = float_value(-2.25e300);
    v[i++] = float_value(DBL_MIN);
    v[i++] = float_value(4.9406564584124654e-324); /* denormal */
    v[i++] = float_value(DBL_MAX);
    v[i++] = float_value(INFINITY);
    v[i++] = float_value(-INFINITY);
    v[i++] = text_value(0, "");
    v[i++] = text_value(0, "a");
    v[i++] = text_value(0, "1234567");  /* NUL ends the first word */
    v[i++] = text_value(0, "12345678"); /* NUL needs a second word */
    v[i++] = text_value(0, UTF8);
    v[i++] = blob_value(NULL, 0);
    v[i++] = blob_value(blob1, sizeof blob1);
    v[i++] = blob_value(blob8, sizeof blob8);
    v[i++] = blob_value(blob17, sizeof blob17);
    v[i++] = null_value();
    v[i++] = int_value(PROTO_UNIXTIME, 1700000000);
    v[i++] = int_value(PROTO_UNIXTIME, -1);
    v[i++] = text_value(PROTO_ISO8601, "2024-01-02 03:04:05.678+01:00");
    v[i++] = text_value(PROTO_ISO8601, "");
    v[i++] = int_value(PROTO_BOOLEAN, 1);
    v[i++] = int_value(PROTO_BOOLEAN, 0);
    v[i++] = int_value(PROTO_BOOLEAN, 7); /* read back as 1 */
    v[i++] = int_value(PROTO_BOOLEAN, INT64_MIN);
    /* Hints that do not fit the value are ignored. */
    v[i++] = text_value(PROTO_BOOLEAN, "true");
    v[i++] = float_value(-1.0);
    assert_int_equal(i, N_SAMPLES);
}

/*
 * The buffer.
 */

/* Appending grows the buffer, zeroes new bytes and keeps old ones; a
 * reservation that cannot be made leaves it unchanged. */
static void buf_grows_and_refuses_overflow(void **state)
{
    struct buf b;
    uint8_t *p;

    (void)state;
    buf_init(&b);
    p = buf_append(&b, 0);
    assert_non_null(p);
    assert_int_equal(b.len, 0);
    for (size_t i = 0; i < 10000; i++) {
        p = buf_append(&b, 3);
        assert_non_null(p);
        assert_int_equal(p[0] | p[1] | p[2], 0);
        p[0] = (uint8_t)i;
    }
    assert_int_equal(b.len, 30000);
    for (size_t i = 0; i < 10000; i++) {
        assert_int_equal(b.p[i * 3], (uint8_t)i);
    }
    assert_int_equal(buf_reserve(&b, SIZE_MAX), WR_NOMEM);
    assert_null(buf_append(&b, SIZE_MAX - 10));
    assert_int_equal(b.len, 30000);
    buf_truncate(&b, 5);
    assert_int_equal(b.len, 5);
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    buf_close(&b);
    assert_null(b.p);
}

/*
 * Golden vectors, written from the specification.
 */

/* Encode @r: the bytes must be exactly @bytes; decode @bytes: the message
 * must equal @r. */
static void golden_request(const uint8_t *bytes,
                           size_t n,
                           const struct proto_request *r)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct proto_request out;
    struct buf b;
    struct msg m;
    int rv;

    encode_request(&b, r);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.p, bytes, n);
    buf_close(&b);
    msg_from_bytes(&m, bytes, n);
    rv = proto_request_decode(&m.h, m.body, m.len, NULL, &out, errmsg);
    if (rv != 0) {
        fail_msg("%s", errmsg);
    }
    request_eq(r, &out);
    msg_free(&m);
}

static void golden_response(const uint8_t *bytes,
                            size_t n,
                            const struct proto_response *r)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct proto_response out;
    struct buf b;
    struct msg m;
    int rv;

    encode_response(&b, r);
    assert_int_equal(b.len, n);
    assert_memory_equal(b.p, bytes, n);
    buf_close(&b);
    msg_from_bytes(&m, bytes, n);
    rv = proto_response_decode(&m.h, m.body, m.len, r->kind, NULL, &out,
                               errmsg);
    if (rv != 0) {
        fail_msg("%s", errmsg);
    }
    response_eq(r, &out);
    msg_free(&m);
}

/* The version word is 1, or the legacy magic, little-endian; anything else
 * is refused. */
static void golden_protocol_version(void **state)
{
    static const uint8_t v1[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t legacy[8] = {0xe5, 0x3f, 0x43, 0x60,
                                      0xd7, 0x4d, 0x10, 0x86};
    static const uint8_t v2[8] = {2, 0, 0, 0, 0, 0, 0, 0};
    char errmsg[WR_ERRMSG_SIZE];
    uint64_t v = 0;
    struct buf b;

    (void)state;
    buf_init(&b);
    assert_int_equal(proto_version_encode(&b, PROTO_VERSION), 0);
    assert_int_equal(proto_version_encode(&b, PROTO_VERSION_LEGACY), 0);
    assert_int_equal(b.len, 16);
    assert_memory_equal(b.p, v1, 8);
    assert_memory_equal(b.p + 8, legacy, 8);
    buf_close(&b);
    assert_int_equal(proto_version_decode(v1, &v, errmsg), 0);
    assert_true(v == 1);
    assert_int_equal(proto_version_decode(legacy, &v, errmsg), 0);
    assert_true(v == PROTO_VERSION_LEGACY);
    assert_int_equal(proto_version_decode(v2, &v, errmsg), WR_UNSUPPORTED);
    assert_non_null(strstr(errmsg, "version"));
}

/* LEADER: one unused word; the header says 1 word, type 0, schema 0. */
static void golden_leader(void **state)
{
    static const uint8_t bytes[] = {
        0x01, 0, 0, 0, 0x00, 0, 0, 0, /* 1 word, LEADER */
        0,    0, 0, 0, 0,    0, 0, 0, /* unused */
    };
    struct proto_request r = {.type = PROTO_REQ_LEADER};

    (void)state;
    golden_request(bytes, sizeof bytes, &r);
}

/* OPEN "test", flags 6, vfs "volatile": an 8-character text takes two
 * words because of its NUL. */
static void golden_open(void **state)
{
    static const uint8_t bytes[] = {
        0x04, 0,    0,    0,    0x03, 0,    0,    0,    /* 4 words, OPEN */
        't',  'e',  's',  't',  0,    0,    0,    0,    /* name */
        0x06, 0,    0,    0,    0,    0,    0,    0,    /* flags */
        'v',  'o',  'l',  'a',  't',  'i',  'l',  'e',  /* vfs... */
        0,    0,    0,    0,    0,    0,    0,    0,    /* ...its NUL */
    };
    struct proto_request r = {
        .type = PROTO_REQ_OPEN,
        .open = {.name = "test", .flags = 6, .vfs = "volatile"}};

    (void)state;
    golden_request(bytes, sizeof bytes, &r);
}

/* EXEC_SQL, schema 0: u64 db, text, then a params-tuple with a one-byte
 * count, one-byte type codes padded to the word, and the values. */
static void golden_exec_sql_params_schema0(void **state)
{
    static const uint8_t bytes[] = {
        0x06, 0,    0,    0,    0x08, 0,    0,    0,    /* 6 words, EXEC_SQL */
        0,    0,    0,    0,    0,    0,    0,    0,    /* db 0 */
        'S',  'E',  'L',  'E',  'C',  'T',  ' ',  '?',  /* sql */
        ',',  ' ',  '?',  0,    0,    0,    0,    0,    /*  */
        0x02, 0x01, 0x03, 0,    0,    0,    0,    0,    /* 2: INTEGER, TEXT */
        0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* -2 */
        'h',  'i',  0,    0,    0,    0,    0,    0,    /* "hi" */
    };
    struct proto_value params[2];
    struct proto_request r = {.type = PROTO_REQ_EXEC_SQL, .schema = 0};

    (void)state;
    params[0] = int_value(0, -2);
    params[1] = text_value(0, "hi");
    r.exec_sql.db_id = 0;
    r.exec_sql.sql = "SELECT ?, ?";
    r.exec_sql.params.n = 2;
    r.exec_sql.params.values = params;
    golden_request(bytes, sizeof bytes, &r);
}

/* EXEC, schema 1: two u32 ids, then a params32-tuple whose count is a u32;
 * NULL is a zero word, FLOAT its IEEE bits, BLOB a length and padded
 * bytes. */
static void golden_exec_params_schema1(void **state)
{
    static const uint8_t bytes[] = {
        0x06, 0,    0,    0,    0x05, 0x01, 0, 0,    /* 6 words, EXEC, s1 */
        0x01, 0,    0,    0,    0x02, 0,    0, 0,    /* db 1, stmt 2 */
        0x03, 0,    0,    0,    0x05, 0x02, 0x04, 0, /* 3: NULL FLOAT BLOB */
        0,    0,    0,    0,    0,    0,    0, 0,    /* NULL */
        0,    0,    0,    0,    0,    0,    0xf8, 0x3f, /* 1.5 */
        0x03, 0,    0,    0,    0,    0,    0, 0,    /* blob length 3 */
        0x00, 0xff, 0x00, 0,    0,    0,    0, 0,    /* blob bytes */
    };
    static const uint8_t blob[3] = {0x00, 0xff, 0x00};
    struct proto_value params[3];
    struct proto_request r = {.type = PROTO_REQ_EXEC, .schema = 1};

    (void)state;
    params[0] = null_value();
    params[1] = float_value(1.5);
    params[2] = blob_value(blob, sizeof blob);
    r.exec.db_id = 1;
    r.exec.stmt_id = 2;
    r.exec.params.n = 3;
    r.exec.params.values = params;
    golden_request(bytes, sizeof bytes, &r);
}

/* EXEC without parameters: the tuple is left out (go-dqlite), so the body
 * is the two u32 ids alone. */
static void golden_exec_no_params(void **state)
{
    static const uint8_t bytes[] = {
        0x01, 0, 0, 0, 0x05, 0, 0, 0, /* 1 word, EXEC */
        0x00, 0, 0, 0, 0x09, 0, 0, 0, /* db 0, stmt 9 */
    };
    struct proto_request r = {
        .type = PROTO_REQ_EXEC,
        .exec = {.db_id = 0, .stmt_id = 9, .params = {.n = 0}}};

    (void)state;
    golden_request(bytes, sizeof bytes, &r);
}

/* ASSIGN: id and the role (spare); go-dqlite always sends the role. */
static void golden_assign(void **state)
{
    static const uint8_t bytes[] = {
        0x02, 0, 0, 0, 0x0d, 0, 0, 0, /* 2 words, ASSIGN */
        0x03, 0, 0, 0, 0,    0, 0, 0, /* node 3 */
        0x02, 0, 0, 0, 0,    0, 0, 0, /* spare */
    };
    struct proto_request r = {
        .type = PROTO_REQ_ASSIGN,
        .assign = {.id = 3, .role = {.present = true, .value = PROTO_SPARE}}};

    (void)state;
    golden_request(bytes, sizeof bytes, &r);
}

/* FAILURE: a u64 code (SQLITE_IOERR_NOT_LEADER) and a text. */
static void golden_failure(void **state)
{
    static const uint8_t bytes[] = {
        0x03, 0,    0,    0,    0x00, 0,    0,    0,   /* 3 words, FAILURE */
        0x0a, 0x28, 0,    0,    0,    0,    0,    0,   /* 10250 */
        'n',  'o',  't',  ' ',  'l',  'e',  'a',  'd', /* message */
        'e',  'r',  0,    0,    0,    0,    0,    0,   /* */
    };
    struct proto_response r = {
        .kind = PROTO_RESP_FAILURE,
        .failure = {.code = PROTO_ERR_NOT_LEADER, .message = "not leader"}};

    (void)state;
    golden_response(bytes, sizeof bytes, &r);
}

/* STMT (u32 db, u32 id, u64 params) and DB (u32 id, u32 unused). */
static void golden_stmt_and_db(void **state)
{
    static const uint8_t stmt[] = {
        0x02, 0, 0, 0, 0x05, 0, 0, 0, /* 2 words, STMT */
        0x00, 0, 0, 0, 0x07, 0, 0, 0, /* db 0, stmt 7 */
        0x02, 0, 0, 0, 0,    0, 0, 0, /* 2 parameters */
    };
    static const uint8_t db[] = {
        0x01, 0, 0, 0, 0x04, 0, 0, 0, /* 1 word, DB */
        0x00, 0, 0, 0, 0,    0, 0, 0, /* id 0, unused */
    };
    struct proto_response r1 = {.kind = PROTO_RESP_STMT,
                                .stmt = {.db_id = 0, .id = 7, .params = 2}};
    struct proto_response r2 = {.kind = PROTO_RESP_DB, .db = {.id = 0}};

    (void)state;
    golden_response(stmt, sizeof stmt, &r1);
    golden_response(db, sizeof db, &r2);
}

/* SERVERS, format 1: a count, then id, address and role per server. */
static void golden_servers(void **state)
{
    static const uint8_t bytes[] = {
        0x05, 0,   0,   0,   0x03, 0,   0,   0,   /* 5 words, SERVERS */
        0x01, 0,   0,   0,   0,    0,   0,   0,   /* 1 server */
        0x01, 0,   0,   0,   0,    0,   0,   0,   /* id 1 */
        '1',  '2', '7', '.', '0',  '.', '0', '.', /* address */
        '1',  ':', '9', '0', '0',  '1', 0,   0,   /* */
        0x00, 0,   0,   0,   0,    0,   0,   0,   /* voter */
    };
    struct proto_node node = {.id = 1,
                              .address = "127.0.0.1:9001",
                              .role = PROTO_VOTER};
    struct proto_response r = {.kind = PROTO_RESP_SERVERS};

    (void)state;
    r.servers.servers.n = 1;
    r.servers.servers.nodes = &node;
    golden_response(bytes, sizeof bytes, &r);
}

/* ROWS: column count, names, then per row 4-bit type codes (column 0 in the
 * low nibble) padded to a word and the values, then the DONE marker. */
static void golden_rows(void **state)
{
    static const uint8_t bytes[] = {
        0x0b, 0,    0,    0,    0x07, 0,    0,    0,    /* 11 words, ROWS */
        0x02, 0,    0,    0,    0,    0,    0,    0,    /* 2 columns */
        'i',  'd',  0,    0,    0,    0,    0,    0,    /* "id" */
        'n',  'a',  'm',  'e',  0,    0,    0,    0,    /* "name" */
        0x31, 0,    0,    0,    0,    0,    0,    0,    /* INTEGER, TEXT */
        0x01, 0,    0,    0,    0,    0,    0,    0,    /* 1 */
        'a',  0,    0,    0,    0,    0,    0,    0,    /* "a" */
        0xab, 0,    0,    0,    0,    0,    0,    0,    /* BOOLEAN, ISO8601 */
        0x01, 0,    0,    0,    0,    0,    0,    0,    /* true */
        '2',  '0',  '2',  '4',  '-',  '0',  '1',  '-',  /* date */
        '0',  '2',  0,    0,    0,    0,    0,    0,    /* */
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* DONE */
    };
    static const char *const names[2] = {"id", "name"};
    struct value values[4];
    uint8_t hints[4] = {0, 0, PROTO_BOOLEAN, PROTO_ISO8601};
    struct proto_response r = {.kind = PROTO_RESP_ROWS};

    (void)state;
    values[0] = int_value(0, 1).v;
    values[1] = text_value(0, "a").v;
    values[2] = int_value(0, 1).v;
    values[3] = text_value(0, "2024-01-02").v;
    r.rows.rows.n_cols = 2;
    r.rows.rows.names = names;
    r.rows.rows.n_rows = 2;
    r.rows.rows.values = values;
    r.rows.rows.wire_types = hints;
    r.rows.rows.marker = PROTO_ROWS_DONE;
    golden_response(bytes, sizeof bytes, &r);
}

/* The PART marker is 0xee repeated; a ROWS part with no rows at all is
 * valid. */
static void golden_rows_part_marker(void **state)
{
    static const uint8_t bytes[] = {
        0x03, 0,    0,    0,    0x07, 0,    0,    0,    /* 3 words, ROWS */
        0x01, 0,    0,    0,    0,    0,    0,    0,    /* 1 column */
        'x',  0,    0,    0,    0,    0,    0,    0,    /* "x" */
        0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, /* PART */
    };
    static const char *const names[1] = {"x"};
    struct proto_response r = {.kind = PROTO_RESP_ROWS};

    (void)state;
    r.rows.rows.n_cols = 1;
    r.rows.rows.names = names;
    r.rows.rows.marker = PROTO_ROWS_PART;
    golden_response(bytes, sizeof bytes, &r);
}

/* FILES: count, then name, size and the bytes per file. */
static void golden_files(void **state)
{
    static const uint8_t bytes[] = {
        0x06, 0,   0,   0,   0x09, 0,   0,   0,   /* 6 words, FILES */
        0x02, 0,   0,   0,   0,    0,   0,   0,   /* 2 files */
        'd',  'b', 0,   0,   0,    0,   0,   0,   /* "db" */
        0x08, 0,   0,   0,   0,    0,   0,   0,   /* 8 bytes */
        'S',  'Q', 'L', 'i', 't',  'e', ' ', 'f', /* content */
        'd',  'b', '-', 'w', 'a',  'l', 0,   0,   /* "db-wal" */
        0x00, 0,   0,   0,   0,    0,   0,   0,   /* 0 bytes */
    };
    struct proto_file files[2] = {
        {.name = "db", .size = 8, .data = "SQLite f"},
        {.name = "db-wal", .size = 0, .data = NULL},
    };
    struct proto_response r = {.kind = PROTO_RESP_FILES};

    (void)state;
    r.files.files.n = 2;
    r.files.files.files = files;
    golden_response(bytes, sizeof bytes, &r);
}

/* SERVER_LEGACY, the legacy answer to LEADER, is a bare address under type
 * 1; the decoder reads it when told to expect it. */
static void golden_server_legacy(void **state)
{
    static const uint8_t bytes[] = {
        0x01, 0,   0,   0,   0x01, 0,   0,   0, /* 1 word, type 1 */
        '1',  '.', '2', ':', '3',  0,   0,   0, /* "1.2:3" */
    };
    struct proto_response r = {.kind = PROTO_RESP_SERVER_LEGACY,
                               .server_legacy = {.address = "1.2:3"}};

    (void)state;
    golden_response(bytes, sizeof bytes, &r);
}

/*
 * Round trips.
 */

static void roundtrip_request(const struct proto_request *in)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct proto_request out;
    struct buf b;
    struct buf b2;
    struct msg m;
    int rv;

    encode_request(&b, in);
    assert_int_equal(b.len % 8, 0);
    msg_from_bytes(&m, b.p, b.len);
    assert_int_equal(m.h.type, in->type);
    assert_int_equal(m.h.schema, in->schema);
    assert_int_equal(m.h.extra, 0);
    rv = proto_request_decode(&m.h, m.body, m.len, NULL, &out, errmsg);
    if (rv != 0) {
        fail_msg("decode %s: %s", proto_request_name(in->type), errmsg);
    }
    request_eq(in, &out);
    /* What was decoded re-encodes to the same bytes. */
    encode_request(&b2, &out);
    assert_int_equal(b2.len, b.len);
    assert_memory_equal(b2.p, b.p, b.len);
    buf_close(&b2);
    msg_free(&m);
    buf_close(&b);
}

static void roundtrip_response(const struct proto_response *in)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct proto_response out;
    struct buf b;
    struct buf b2;
    struct msg m;
    int rv;

    encode_response(&b, in);
    assert_int_equal(b.len % 8, 0);
    msg_from_bytes(&m, b.p, b.len);
    assert_int_equal(m.h.type, proto_response_wire_type(in->kind));
    assert_int_equal(m.h.schema, proto_response_schema(in->kind));
    rv = proto_response_decode(&m.h, m.body, m.len, in->kind, NULL, &out,
                               errmsg);
    if (rv != 0) {
        fail_msg("decode %s: %s", proto_response_name(in->kind), errmsg);
    }
    response_eq(in, &out);
    encode_response(&b2, &out);
    assert_int_equal(b2.len, b.len);
    assert_memory_equal(b2.p, b.p, b.len);
    buf_close(&b2);
    msg_free(&m);
    buf_close(&b);
}

/* Every request type, with parameters of every wire type, round-trips. */
static void roundtrip_every_request(void **state)
{
    struct proto_value samples[N_SAMPLES];
    struct proto_value many[300];
    bool seen[128] = {false};
    size_t n;

    (void)state;
    sample_values(samples);
    for (size_t i = 0; i < 300; i++) {
        many[i] = samples[i % N_SAMPLES];
    }
    const struct proto_request reqs[] = {
        {.type = PROTO_REQ_LEADER, .leader = {.unused = 0}},
        {.type = PROTO_REQ_CLIENT, .client = {.id = UINT64_MAX}},
        {.type = PROTO_REQ_HEARTBEAT,
         .heartbeat = {.timestamp = 1700000000123ULL}},
        {.type = PROTO_REQ_OPEN,
         .open = {.name = "test.db", .flags = 6, .vfs = ""}},
        {.type = PROTO_REQ_OPEN, .open = {.name = UTF8, .vfs = NULL}},
        {.type = PROTO_REQ_PREPARE,
         .prepare = {.db_id = 0, .sql = "SELECT * FROM t WHERE a = ?"}},
        {.type = PROTO_REQ_PREPARE,
         .schema = 1,
         .prepare = {.db_id = 0, .sql = "SELECT 1; SELECT 2"}},
        {.type = PROTO_REQ_EXEC,
         .exec = {.db_id = 0,
                  .stmt_id = UINT32_MAX,
                  .params = {.n = N_SAMPLES, .values = samples}}},
        {.type = PROTO_REQ_EXEC, .exec = {.db_id = 1, .stmt_id = 2}},
        {.type = PROTO_REQ_EXEC,
         .schema = 1,
         .exec = {.stmt_id = 3, .params = {.n = 300, .values = many}}},
        {.type = PROTO_REQ_QUERY,
         .query = {.db_id = UINT32_MAX,
                   .stmt_id = 0,
                   .params = {.n = 7, .values = samples}}},
        {.type = PROTO_REQ_QUERY,
         .schema = 1,
         .query = {.stmt_id = 1, .params = {.n = 4, .values = samples + 14}}},
        {.type = PROTO_REQ_FINALIZE, .finalize = {.db_id = 1, .stmt_id = 2}},
        {.type = PROTO_REQ_EXEC_SQL,
         .exec_sql = {.db_id = 0,
                      .sql = "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      .params = {.n = 8, .values = samples + 16}}},
        {.type = PROTO_REQ_EXEC_SQL,
         .exec_sql = {.db_id = 0, .sql = "CREATE TABLE t (x); DELETE FROM t"}},
        {.type = PROTO_REQ_EXEC_SQL,
         .schema = 1,
         .exec_sql = {.sql = "", .params = {.n = 255, .values = many}}},
        {.type = PROTO_REQ_QUERY_SQL,
         .query_sql = {.db_id = 0,
                       .sql = "SELECT ?",
                       .params = {.n = 1, .values = samples + 18}}},
        {.type = PROTO_REQ_QUERY_SQL,
         .schema = 1,
         .query_sql = {.sql = "SELECT 1", .params = {.n = 0}}},
        {.type = PROTO_REQ_INTERRUPT, .interrupt = {.db_id = 0}},
        {.type = PROTO_REQ_CONNECT,
         .connect = {.id = 2, .address = "10.0.0.2:9001"}},
        {.type = PROTO_REQ_ADD, .add = {.id = 4, .address = "[::1]:9004"}},
        {.type = PROTO_REQ_ASSIGN,
         .assign = {.id = 4, .role = {.present = true, .value = 1}}},
        {.type = PROTO_REQ_ASSIGN, .assign = {.id = 5}},
        {.type = PROTO_REQ_REMOVE, .remove = {.id = UINT64_MAX}},
        {.type = PROTO_REQ_DUMP, .dump = {.name = "test.db"}},
        {.type = PROTO_REQ_CLUSTER,
         .cluster = {.format = PROTO_CLUSTER_FORMAT_V1}},
        {.type = PROTO_REQ_TRANSFER, .transfer = {.id = 0}},
        {.type = PROTO_REQ_DESCRIBE,
         .describe = {.format = PROTO_DESCRIBE_FORMAT_V0}},
        {.type = PROTO_REQ_WEIGHT, .weight = {.weight = 42}},
        {.type = PROTO_REQ_STATUS, .status = {.format = 0}},
        {.type = PROTO_REQ_READ_INDEX,
         .read_index = {.id = 3, .term = 7, .leader_id = 1}},
        {.type = PROTO_REQ_CONFIRM,
         .confirm = {.term = 9, .leader_id = 2, .round = UINT64_MAX}},
        {.type = PROTO_REQ_EXEC_EXT,
         .exec_ext = {.flags = PROTO_LEVEL_STRONG | PROTO_FLAG_SESSION,
                      .bookmark = 77,
                      .client_id = UINT64_MAX,
                      .seq = 3,
                      .db_id = 0,
                      .stmt_id = 9,
                      .params = {.n = 2, .values = samples}}},
        {.type = PROTO_REQ_QUERY_EXT,
         .query_ext = {.flags = PROTO_LEVEL_NONE,
                       .max_staleness_ms = 250,
                       .stmt_id = 1}},
        {.type = PROTO_REQ_EXEC_SQL_EXT,
         .schema = 1,
         .exec_sql_ext = {.bookmark = 5,
                          .sql = "INSERT INTO t VALUES (?)",
                          .params = {.n = 1, .values = samples + 1}}},
        {.type = PROTO_REQ_QUERY_SQL_EXT,
         .query_sql_ext = {.flags = PROTO_LEVEL_LINEARIZABLE,
                           .sql = "SELECT 1"}},
    };

    n = sizeof reqs / sizeof reqs[0];
    for (size_t i = 0; i < n; i++) {
        roundtrip_request(&reqs[i]);
        seen[reqs[i].type] = true;
    }
    for (int t = 0; t < 128; t++) {
        if (strcmp(proto_request_name(t), "unknown") != 0 && !seen[t]) {
            fail_msg("request type %d is not covered", t);
        }
    }
}

/* Every response kind round-trips, ROWS with rows of every wire type and
 * more than 16 columns (a type-code header of several words). */
static void roundtrip_every_response(void **state)
{
    struct proto_value samples[N_SAMPLES];
    struct value values[3 * N_SAMPLES];
    uint8_t hints[3 * N_SAMPLES];
    const char *names[N_SAMPLES];
    char name_buf[N_SAMPLES][16];
    uint8_t page[4096];
    static const uint8_t odd[3] = {1, 0, 2};
    bool seen[PROTO_RESP__COUNT] = {false};
    size_t n;

    (void)state;
    sample_values(samples);
    /* Three rows: the samples, then rotated by 1 and by 7. */
    for (size_t r = 0; r < 3; r++) {
        size_t shift = r == 0 ? 0 : (r == 1 ? 1 : 7);
        for (size_t c = 0; c < N_SAMPLES; c++) {
            const struct proto_value *s = &samples[(c + shift) % N_SAMPLES];
            values[r * N_SAMPLES + c] = s->v;
            hints[r * N_SAMPLES + c] = (uint8_t)s->wire;
        }
    }
    for (size_t c = 0; c < N_SAMPLES; c++) {
        snprintf(name_buf[c], sizeof name_buf[c], "col%zu", c);
        names[c] = c == 3 ? UTF8 : (c == 4 ? "" : name_buf[c]);
    }
    for (size_t i = 0; i < sizeof page; i++) {
        page[i] = (uint8_t)(i % 7 == 0 ? 0 : i);
    }
    struct proto_node nodes[3] = {
        {.id = 1, .address = "127.0.0.1:9001", .role = PROTO_VOTER},
        {.id = 2, .address = "127.0.0.1:9002", .role = PROTO_STANDBY},
        {.id = UINT64_MAX, .address = "", .role = PROTO_SPARE},
    };
    struct proto_file files[3] = {
        {.name = "test.db", .size = sizeof page, .data = page},
        {.name = "test.db-wal", .size = 0, .data = NULL},
        {.name = "odd", .size = sizeof odd, .data = odd},
    };
    const struct proto_response resps[] = {
        {.kind = PROTO_RESP_FAILURE,
         .failure = {.code = PROTO_ERR_NOT_LEADER, .message = "not leader"}},
        {.kind = PROTO_RESP_FAILURE,
         .failure = {.code = UINT64_MAX, .message = UTF8}},
        {.kind = PROTO_RESP_FAILURE, .failure = {.code = 1, .message = NULL}},
        {.kind = PROTO_RESP_SERVER,
         .server = {.id = 1, .address = "127.0.0.1:9001"}},
        {.kind = PROTO_RESP_SERVER, .server = {.id = 0, .address = ""}},
        {.kind = PROTO_RESP_SERVER_LEGACY,
         .server_legacy = {.address = "10.0.0.1:9001"}},
        {.kind = PROTO_RESP_WELCOME, .welcome = {.heartbeat_timeout = 15000}},
        {.kind = PROTO_RESP_SERVERS,
         .servers = {.servers = {.n = 3, .nodes = nodes}}},
        {.kind = PROTO_RESP_SERVERS, .servers = {.servers = {.n = 0}}},
        {.kind = PROTO_RESP_SERVERS_V0,
         .servers_v0 = {.servers = {.n = 2, .nodes = nodes}}},
        {.kind = PROTO_RESP_DB, .db = {.id = 0, .unused = 0}},
        {.kind = PROTO_RESP_STMT,
         .stmt = {.db_id = 0, .id = UINT32_MAX, .params = 2}},
        {.kind = PROTO_RESP_STMT_WITH_OFFSET,
         .stmt_with_offset = {.db_id = 0, .id = 7, .params = 1, .offset = 9}},
        {.kind = PROTO_RESP_RESULT,
         .result = {.last_insert_id = (uint64_t)INT64_MIN,
                    .rows_affected = 3}},
        {.kind = PROTO_RESP_ROWS,
         .rows = {.rows = {.n_cols = N_SAMPLES,
                           .names = names,
                           .n_rows = 3,
                           .values = values,
                           .wire_types = hints,
                           .marker = PROTO_ROWS_DONE}}},
        {.kind = PROTO_RESP_ROWS,
         .rows = {.rows = {.n_cols = 1,
                           .names = names,
                           .n_rows = 5,
                           .values = values + 14,
                           .marker = PROTO_ROWS_PART}}},
        {.kind = PROTO_RESP_ROWS,
         .rows = {.rows = {.n_cols = 17,
                           .names = names,
                           .n_rows = 0,
                           .marker = PROTO_ROWS_DONE}}},
        {.kind = PROTO_RESP_EMPTY, .empty = {.unused = 0}},
        {.kind = PROTO_RESP_FILES,
         .files = {.files = {.n = 3, .files = files}}},
        {.kind = PROTO_RESP_FILES, .files = {.files = {.n = 0}}},
        {.kind = PROTO_RESP_METADATA,
         .metadata = {.failure_domain = 1, .weight = 42}},
        {.kind = PROTO_RESP_FAILURE_EXT,
         .failure_ext = {.code = PROTO_ERR_LEADERSHIP_LOST,
                         .flags = 0,
                         .bookmark = 12,
                         .message = "leadership lost"}},
        {.kind = PROTO_RESP_RESULT_EXT,
         .result_ext = {.last_insert_id = 4, .rows_affected = 1,
                        .bookmark = UINT64_MAX}},
        {.kind = PROTO_RESP_ROWS_EXT,
         .rows_ext = {.bookmark = 42,
                      .rows = {.n_cols = 1,
                               .names = names,
                               .n_rows = 5,
                               .values = values + 14,
                               .marker = PROTO_ROWS_DONE}}},
        {.kind = PROTO_RESP_STATUS,
         .status = {.json = "{\"id\": 1, \"role\": \"voter\"}"}},
        {.kind = PROTO_RESP_READ_INDEX,
         .read_index = {.index = 1234567, .term = 3}},
        {.kind = PROTO_RESP_CONFIRM,
         .confirm = {.term = 3, .leader_id = 0, .round = 17}},
    };

    n = sizeof resps / sizeof resps[0];
    for (size_t i = 0; i < n; i++) {
        roundtrip_response(&resps[i]);
        seen[resps[i].kind] = true;
    }
    for (int k = 0; k < PROTO_RESP__COUNT; k++) {
        if (!seen[k]) {
            fail_msg("response kind %s is not covered",
                     proto_response_name(k));
        }
    }
}

/* Decoded texts and blobs point into the body they came from; nothing is
 * copied. */
static void decode_is_zero_copy(void **state)
{
    char errmsg[WR_ERRMSG_SIZE];
    struct proto_value p = text_value(0, "abc");
    struct proto_request r = {
        .type = PROTO_REQ_QUERY_SQL,
        .query_sql = {.sql = "SELECT ?", .params = {.n = 1, .values = &p}}};
    struct proto_request out;
    struct proto_params_iter it;
    struct proto_value v;
    struct buf b;
    struct msg m;

    (void)state;
    encode_request(&b, &r);
    msg_from_bytes(&m, b.p, b.len);
    assert_int_equal(
        proto_request_decode(&m.h, m.body, m.len, NULL, &out, errmsg), 0);
    assert_ptr_equal(out.query_sql.sql, (const char *)m.body + 8);
    proto_params_iter_init(&it, &out.query_sql.params);
    assert_true(proto_params_next(&it, &v));
    assert_true((uint8_t *)v.v.text.p > m.body &&
                (uint8_t *)v.v.text.p < m.body + m.len);
    msg_free(&m);
    buf_close(&b);
}

/* ASSIGN's role is optional: a one-word body is the old PROMOTE. */
static void assign_without_role_decodes(void **state)
{
    static const uint8_t body[8] = {7, 0, 0, 0, 0, 0, 0, 0};
    struct proto_header h = {.words = 1, .type = PROTO_REQ_ASSIGN};
    char errmsg[WR_ERRMSG_SIZE];
    struct proto_request out;
    uint8_t *copy = dup_exact(body, sizeof body);

    (void)state;
    assert_int_equal(
        proto_request_decode(&h, copy, sizeof body, NULL, &out, errmsg), 0);
    assert_true(out.assign.id == 7);
    assert_false(out.assign.role.present);
    free(copy);
}

/* A parameter count of zero, written out with its padding, is the same as
 * no tuple at all. */
static void params_explicit_zero_count(void **state)
{
    static const uint8_t body[16] = {1, 0, 0, 0, 2, 0, 0, 0,
                                     0, 0, 0, 0, 0, 0, 0, 0};
    struct proto_header h = {.words = 2, .type = PROTO_REQ_EXEC};
    char errmsg[WR_ERRMSG_SIZE];
    struct proto_request out;
    uint8_t *copy = dup_exact(body, sizeof body);

    (void)state;
    assert_int_equal(
        proto_request_decode(&h, copy, sizeof body, NULL, &out, errmsg), 0);
    assert_int_equal(out.exec.params.n, 0);
    free(copy);
}

/*
 * Rows: the declared-type mapping and streaming.
 */

/* proto_column_type() maps like dqlite's query.c, but a value that does not
 * fit its declared type keeps its own type instead of crashing. */
static void column_type_mapping(void **state)
{
    (void)state;
    assert_int_equal(proto_column_type("DATETIME", VALUE_INTEGER),
                     PROTO_UNIXTIME);
    assert_int_equal(proto_column_type("date", VALUE_INTEGER), PROTO_UNIXTIME);
    assert_int_equal(proto_column_type("TimeStamp", VALUE_TEXT),
                     PROTO_ISO8601);
    assert_int_equal(proto_column_type("DATETIME", VALUE_NULL), PROTO_NULL);
    assert_int_equal(proto_column_type("DATETIME", VALUE_FLOAT), PROTO_FLOAT);
    assert_int_equal(proto_column_type("DATE", VALUE_BLOB), PROTO_BLOB);
    assert_int_equal(proto_column_type("BOOLEAN", VALUE_INTEGER),
                     PROTO_BOOLEAN);
    assert_int_equal(proto_column_type("boolean", VALUE_INTEGER),
                     PROTO_BOOLEAN);
    assert_int_equal(proto_column_type("BOOLEAN", VALUE_TEXT), PROTO_TEXT);
    assert_int_equal(proto_column_type("BOOLEAN", VALUE_NULL), PROTO_NULL);
    assert_int_equal(proto_column_type("BOOLEAN", VALUE_FLOAT), PROTO_FLOAT);
    /* Only exact names count, as in dqlite. */
    assert_int_equal(proto_column_type("DATETIME(3)", VALUE_INTEGER),
                     PROTO_INTEGER);
    assert_int_equal(proto_column_type("BOOL", VALUE_INTEGER), PROTO_INTEGER);
    assert_int_equal(proto_column_type("INTEGER", VALUE_INTEGER),
                     PROTO_INTEGER);
    assert_int_equal(proto_column_type(NULL, VALUE_TEXT), PROTO_TEXT);
    assert_int_equal(proto_column_type("", VALUE_BLOB), PROTO_BLOB);
    assert_int_equal(proto_column_type("TEXT", 0), 0);
    assert_int_equal(proto_column_type("TEXT", 6), 0);
}

/* A TEXT in a BOOLEAN column, hinted BOOLEAN by a careless caller, still
 * goes out as TEXT: the row's type nibble is 3 and the value is the text. */
static void mismatched_hint_sends_own_type(void **state)
{
    static const char *const names[2] = {"flag", "when"};
    char errmsg[WR_ERRMSG_SIZE];
    struct value row[2];
    uint8_t hints[2] = {PROTO_BOOLEAN, PROTO_UNIXTIME};
    struct proto_response out;
    struct proto_rows_iter it;
    struct proto_value got[2];
    size_t done;
    struct buf b;
    struct msg m;

    (void)state;
    row[0] = text_value(0, "yes").v;
    row[1] = float_value(2.5).v;
    buf_init(&b);
    assert_int_equal(proto_rows_encode(&b, 2, names, row, hints, 1, 4096,
                                       &done, errmsg),
                     0);
    assert_int_equal(done, 1);
    /* header, count, two names, then the row's type byte */
    assert_int_equal(b.p[8 + 8 + 16], PROTO_TEXT | PROTO_FLOAT << 4);
    msg_from_bytes(&m, b.p, b.len);
    assert_int_equal(proto_response_decode(&m.h, m.body, m.len,
                                           PROTO_RESP_ROWS, NULL, &out,
                                           errmsg),
                     0);
    proto_rows_iter_init(&it, &out.rows.rows);
    assert_true(proto_rows_next(&it, got));
    assert_int_equal(got[0].wire, PROTO_TEXT);
    assert_string_equal(got[0].v.text.p, "yes");
    assert_int_equal(got[1].wire, PROTO_FLOAT);
    assert_false(proto_rows_next(&it, got));
    msg_free(&m);
    buf_close(&b);
}

#define STREAM_ROWS 1000
#define STREAM_COLS 3

/* A result set of 1000 rows under a 1 KiB budget goes out as many ROWS
 * messages, each within the budget, all PART but the last DONE, each
 * repeating the column names; reading them in order gives every row back. */
static void rows_split_across_parts(void **state)
{
    static const char *const names[STREAM_COLS] = {"id", "label", "data"};
    static char labels[STREAM_ROWS][32];
    static uint8_t data[64];
    struct value *values = calloc(STREAM_ROWS * STREAM_COLS, sizeof *values);
    char errmsg[WR_ERRMSG_SIZE] = "";
    size_t budget = 1024;
    size_t done = 0;
    size_t messages = 0;
    size_t seen = 0;
    struct buf b;

    (void)state;
    assert_non_null(values);
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)(i * 37);
    }
    for (size_t i = 0; i < STREAM_ROWS; i++) {
        snprintf(labels[i], sizeof labels[i], "row %zu%.*s", i, (int)(i % 13),
                 "xxxxxxxxxxxxx");
        values[i * STREAM_COLS + 0] = int_value(0, (int64_t)i * 1000003).v;
        values[i * STREAM_COLS + 1] = text_value(0, labels[i]).v;
        values[i * STREAM_COLS + 2] = blob_value(data, i % 64).v;
    }
    buf_init(&b);
    while (done < STREAM_ROWS || messages == 0) {
        struct proto_response out;
        struct proto_rows_iter it;
        struct proto_value row[STREAM_COLS];
        const char *got_names[STREAM_COLS];
        size_t k = 0;
        struct msg m;

        buf_reset(&b);
        assert_int_equal(proto_rows_encode(&b, STREAM_COLS, names,
                                           values + done * STREAM_COLS, NULL,
                                           STREAM_ROWS - done, budget, &k,
                                           errmsg),
                         0);
        assert_true(k >= 1);
        assert_true(b.len - PROTO_HEADER_SIZE <= budget);
        msg_from_bytes(&m, b.p, b.len);
        assert_int_equal(proto_response_decode(&m.h, m.body, m.len,
                                               PROTO_RESP_ROWS, NULL, &out,
                                               errmsg),
                         0);
        assert_int_equal(out.rows.rows.n_rows, k);
        assert_true(out.rows.rows.marker ==
                    (done + k < STREAM_ROWS ? PROTO_ROWS_PART
                                            : PROTO_ROWS_DONE));
        proto_rows_names(&out.rows.rows, got_names);
        for (size_t c = 0; c < STREAM_COLS; c++) {
            assert_string_equal(got_names[c], names[c]);
        }
        proto_rows_iter_init(&it, &out.rows.rows);
        while (proto_rows_next(&it, row)) {
            for (size_t c = 0; c < STREAM_COLS; c++) {
                struct proto_value sent = {.v = values[seen * STREAM_COLS + c]};
                assert_value_eq(&sent, &row[c]);
            }
            seen++;
        }
        msg_free(&m);
        done += k;
        messages++;
    }
    assert_int_equal(seen, STREAM_ROWS);
    assert_true(messages > 10);
    buf_close(&b);
    free(values);
}

/* The streaming writer puts a row bigger than the budget in a message of
 * its own, and refuses the next row to a full message until the caller
 * starts a new one. */
static void rows_writer_big_row_goes_alone(void **state)
{
    static const char *const names[1] = {"blob"};
    static uint8_t big[10000];
    struct proto_rows_writer w;
    char errmsg[WR_ERRMSG_SIZE];
    struct value small = int_value(0, 1).v;
    struct value huge = blob_value(big, sizeof big).v;
    bool added = false;
    struct buf b;
    struct msg m;
    struct proto_response out;

    (void)state;
    buf_init(&b);
    /* Some earlier message stays untouched in front. */
    assert_int_equal(proto_version_encode(&b, PROTO_VERSION), 0);
    assert_int_equal(proto_rows_begin(&w, &b, 1, names, 256, errmsg), 0);
    assert_int_equal(proto_rows_add(&w, &huge, NULL, &added, errmsg), 0);
    assert_true(added);
    assert_int_equal(proto_rows_add(&w, &small, NULL, &added, errmsg), 0);
    assert_false(added);
    assert_int_equal(proto_rows_finish(&w, true), 0);
    msg_from_bytes(&m, b.p + 8, b.len - 8);
    assert_int_equal(proto_response_decode(&m.h, m.body, m.len,
                                           PROTO_RESP_ROWS, NULL, &out,
                                           errmsg),
                     0);
    assert_int_equal(out.rows.rows.n_rows, 1);
    assert_true(out.rows.rows.marker == PROTO_ROWS_PART);
    msg_free(&m);

    /* The next message takes the small row; abort leaves the buffer as it
     * was. */
    buf_reset(&b);
    assert_int_equal(proto_rows_begin(&w, &b, 1, names, 256, errmsg), 0);
    assert_int_equal(proto_rows_add(&w, &small, NULL, &added, errmsg), 0);
    assert_true(added);
    proto_rows_abort(&w);
    assert_int_equal(b.len, 0);

    /* A bad value leaves the message as it was. */
    struct value bad = {.type = 42};
    assert_int_equal(proto_rows_begin(&w, &b, 1, names, 256, errmsg), 0);
    assert_int_equal(proto_rows_add(&w, &bad, NULL, &added, errmsg),
                     WR_INVALID);
    assert_false(added);
    assert_int_equal(proto_rows_finish(&w, false), 0);
    msg_from_bytes(&m, b.p, b.len);
    assert_int_equal(proto_response_decode(&m.h, m.body, m.len,
                                           PROTO_RESP_ROWS, NULL, &out,
                                           errmsg),
                     0);
    assert_int_equal(out.rows.rows.n_rows, 0);
    msg_free(&m);
    buf_close(&b);
}

/*
 * Encoder input checks.
 */

/* The encoders refuse what cannot be sent, with a message, and leave the
 * buffer as it was. */
static void encode_refuses_invalid_input(void **state)
{
    char errmsg[WR_ERRMSG_SIZE];
    struct proto_value many[256];
    struct proto_value nul_text = {.v = {.type = VALUE_TEXT}};
    struct proto_value bad_type = {.v = {.type = 9}};
    struct proto_value null_blob = {.v = {.type = VALUE_BLOB}};
    static const char *const names[1] = {"x"};
    struct buf b;

    (void)state;
    for (size_t i = 0; i < 256; i++) {
        many[i] = null_value();
    }
    nul_text.v.text.p = "a\0b";
    nul_text.v.text.n = 3;
    null_blob.v.blob.n = 4;
    buf_init(&b);
    assert_int_equal(proto_version_encode(&b, PROTO_VERSION), 0);

    struct proto_request r1 = {.type = 20};
    assert_int_equal(proto_request_encode(&b, &r1, errmsg), WR_INVALID);
    struct proto_request r2 = {.type = PROTO_REQ_LEADER, .schema = 1};
    assert_int_equal(proto_request_encode(&b, &r2, errmsg), WR_INVALID);
    struct proto_request r3 = {
        .type = PROTO_REQ_EXEC,
        .exec = {.params = {.n = 256, .values = many}}};
    assert_int_equal(proto_request_encode(&b, &r3, errmsg), WR_INVALID);
    assert_non_null(strstr(errmsg, "schema 1"));
    r3.schema = proto_params_schema(256);
    assert_int_equal(r3.schema, 1);
    struct proto_request r4 = {
        .type = PROTO_REQ_EXEC_SQL,
        .exec_sql = {.sql = "?", .params = {.n = 1, .values = &nul_text}}};
    assert_int_equal(proto_request_encode(&b, &r4, errmsg), WR_INVALID);
    assert_non_null(strstr(errmsg, "NUL"));
    r4.exec_sql.params.values = &bad_type;
    assert_int_equal(proto_request_encode(&b, &r4, errmsg), WR_INVALID);
    r4.exec_sql.params.values = &null_blob;
    assert_int_equal(proto_request_encode(&b, &r4, errmsg), WR_INVALID);
    r4.exec_sql.params.values = NULL;
    assert_int_equal(proto_request_encode(&b, &r4, errmsg), WR_INVALID);

    struct proto_response p1 = {.kind = PROTO_RESP_ROWS,
                                .rows = {.rows = {.n_cols = 0,
                                                  .names = names,
                                                  .marker = PROTO_ROWS_DONE}}};
    assert_int_equal(proto_response_encode(&b, &p1, errmsg), WR_INVALID);
    p1.rows.rows.n_cols = 1;
    p1.rows.rows.marker = 0;
    assert_int_equal(proto_response_encode(&b, &p1, errmsg), WR_INVALID);
    struct proto_response p2 = {.kind = PROTO_RESP__COUNT};
    assert_int_equal(proto_response_encode(&b, &p2, errmsg), WR_INVALID);
    struct proto_response p3 = {.kind = PROTO_RESP_SERVERS,
                                .servers = {.servers = {.n = 2}}};
    assert_int_equal(proto_response_encode(&b, &p3, errmsg), WR_INVALID);
    assert_int_equal(proto_rows_begin(NULL, &b, 0, names, 10, errmsg),
                     WR_INVALID);

    assert_int_equal(b.len, 8);
    buf_close(&b);
}

/*
 * Hostile input.
 */

struct sample {
    const char *what;
    bool request;
    int expect; /* response kind */
    struct buf b;
};

/* A few varied messages to damage: every list kind and optional field. */
static size_t make_samples(struct sample *s)
{
    static struct proto_value params[N_SAMPLES];
    static struct value values[2 * 6];
    static const char *const names[6] = {"a", "bb", "", "dddddddd", UTF8,
                                          "f"};
    static const uint8_t page[24] = {1, 2, 3, 0, 0, 0, 4};
    static struct proto_node nodes[2] = {
        {.id = 1, .address = "127.0.0.1:9001", .role = 0},
        {.id = 2, .address = "h:2", .role = 2},
    };
    static struct proto_file files[2] = {
        {.name = "db", .size = sizeof page, .data = page},
        {.name = "db-wal", .size = 5, .data = page},
    };
    size_t n = 0;

    sample_values(params);
    for (size_t i = 0; i < 12; i++) {
        values[i] = params[(i * 5) % N_SAMPLES].v;
    }

    struct proto_request exec_sql = {
        .type = PROTO_REQ_EXEC_SQL,
        .exec_sql = {.sql = "INSERT INTO t VALUES (?)",
                     .params = {.n = N_SAMPLES, .values = params}}};
    struct proto_request exec1 = {
        .type = PROTO_REQ_EXEC,
        .schema = 1,
        .exec = {.db_id = 1, .stmt_id = 2,
                 .params = {.n = 9, .values = params + 14}}};
    struct proto_request open = {
        .type = PROTO_REQ_OPEN, .open = {.name = "x.db", .vfs = "vfs"}};
    struct proto_request assign = {
        .type = PROTO_REQ_ASSIGN,
        .assign = {.id = 9, .role = {.present = true, .value = 1}}};
    struct proto_response rows = {
        .kind = PROTO_RESP_ROWS,
        .rows = {.rows = {.n_cols = 6,
                          .names = names,
                          .n_rows = 2,
                          .values = values,
                          .marker = PROTO_ROWS_PART}}};
    struct proto_response servers = {
        .kind = PROTO_RESP_SERVERS,
        .servers = {.servers = {.n = 2, .nodes = nodes}}};
    struct proto_response filesr = {
        .kind = PROTO_RESP_FILES, .files = {.files = {.n = 2, .files = files}}};
    struct proto_response failure = {
        .kind = PROTO_RESP_FAILURE,
        .failure = {.code = 1, .message = "no such table: t"}};

    s[n] = (struct sample){"EXEC_SQL", true, 0, {0}};
    encode_request(&s[n++].b, &exec_sql);
    s[n] = (struct sample){"EXEC schema 1", true, 0, {0}};
    encode_request(&s[n++].b, &exec1);
    s[n] = (struct sample){"OPEN", true, 0, {0}};
    encode_request(&s[n++].b, &open);
    s[n] = (struct sample){"ASSIGN", true, 0, {0}};
    encode_request(&s[n++].b, &assign);
    s[n] = (struct sample){"ROWS", false, PROTO_RESP_ROWS, {0}};
    encode_response(&s[n++].b, &rows);
    s[n] = (struct sample){"SERVERS", false, PROTO_RESP_SERVERS, {0}};
    encode_response(&s[n++].b, &servers);
    s[n] = (struct sample){"FILES", false, PROTO_RESP_FILES, {0}};
    encode_response(&s[n++].b, &filesr);
    s[n] = (struct sample){"FAILURE", false, PROTO_RESP_FAILURE, {0}};
    encode_response(&s[n++].b, &failure);
    return n;
}

static void free_samples(struct sample *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        buf_close(&s[i].b);
    }
}

/* Every truncation of the body of each sample, to any length, decodes to a
 * refusal or to a valid message; a length that is not whole words does not
 * match any header and is refused as such; the whole body decodes. */
static void every_truncation_refused_or_valid(void **state)
{
    struct sample s[8];
    size_t n = make_samples(s);

    (void)state;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *msg = s[i].b.p;
        size_t len = s[i].b.len - PROTO_HEADER_SIZE;
        struct proto_header h;
        size_t body_len;
        char errmsg[WR_ERRMSG_SIZE];

        assert_int_equal(proto_header_decode(msg, NULL, &h, &body_len,
                                             errmsg),
                         0);
        for (size_t k = 0; k <= len; k++) {
            struct proto_header t = h;
            int rv;
            t.words = (uint32_t)(k / 8);
            rv = decode_robust(s[i].request, s[i].expect, &t,
                               msg + PROTO_HEADER_SIZE, k);
            if (k % 8 != 0) {
                assert_int_equal(rv, WR_INVALID);
            } else if (k == len) {
                assert_int_equal(rv, 0);
            } else {
                assert_true(rv == 0 || is_refusal(rv));
            }
        }
    }
    free_samples(s, n);
}

/* Every single-bit flip of each sample, header included, decodes to a
 * refusal or to a valid message. A flip in the length word changes how much
 * a server reads: the body is then cut short or followed by zeros. */
static void every_bit_flip_refused_or_valid(void **state)
{
    struct proto_limits lim = PROTO_LIMITS_DEFAULT;
    struct sample s[8];
    size_t n = make_samples(s);
    size_t accepted = 0;
    size_t refused = 0;

    (void)state;
    lim.max_message = 1 << 16;
    for (size_t i = 0; i < n; i++) {
        size_t total = s[i].b.len;
        uint8_t *copy = malloc(total);
        assert_non_null(copy);
        for (size_t bit = 0; bit < total * 8; bit++) {
            char errmsg[WR_ERRMSG_SIZE];
            struct proto_header h;
            size_t body_len;
            uint8_t *body;
            int rv;

            memcpy(copy, s[i].b.p, total);
            copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            rv = proto_header_decode(copy, &lim, &h, &body_len, errmsg);
            if (rv != 0) {
                assert_int_equal(rv, WR_TOOBIG);
                refused++;
                continue;
            }
            body = calloc(1, body_len + 1);
            assert_non_null(body);
            memcpy(body, copy + PROTO_HEADER_SIZE,
                   body_len < total - 8 ? body_len : total - 8);
            rv = decode_robust(s[i].request, s[i].expect, &h, body, body_len);
            assert_true(rv == 0 || is_refusal(rv));
            if (!s[i].request) {
                int rv2 = decode_robust(false, PROTO_RESP_ANY, &h, body,
                                        body_len);
                assert_true(rv2 == 0 || is_refusal(rv2));
            }
            if (rv == 0) {
                accepted++;
            } else {
                refused++;
            }
            free(body);
        }
        free(copy);
    }
    print_message("bit flips: %zu accepted, %zu refused\n", accepted,
                  refused);
    assert_true(refused > 0);
    free_samples(s, n);
}

/* Decode one hand-made body and check the refusal code and that the
 * message names what was wrong. */
static void assert_req_refused(uint8_t type,
                               uint8_t schema,
                               const uint8_t *body,
                               size_t len,
                               const struct proto_limits *lim,
                               int code,
                               const char *needle)
{
    struct proto_header h = {.words = (uint32_t)(len / 8),
                             .type = type,
                             .schema = schema};
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct proto_request out;
    uint8_t *copy = dup_exact(body, len);
    int rv = proto_request_decode(&h, copy, len, lim, &out, errmsg);

    if (rv != code || (needle != NULL && strstr(errmsg, needle) == NULL)) {
        fail_msg("type %u: got %d \"%s\", want %d with \"%s\"", type, rv,
                 errmsg, code, needle != NULL ? needle : "");
    }
    free(copy);
}

static void assert_resp_refused(int expect,
                                const uint8_t *body,
                                size_t len,
                                const struct proto_limits *lim,
                                int code,
                                const char *needle)
{
    struct proto_header h = {
        .words = (uint32_t)(len / 8),
        .type = (uint8_t)proto_response_wire_type(expect),
        .schema = (uint8_t)proto_response_schema(expect)};
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct proto_response out;
    uint8_t *copy = dup_exact(body, len);
    int rv = proto_response_decode(&h, copy, len, expect, lim, &out, errmsg);

    if (rv != code || (needle != NULL && strstr(errmsg, needle) == NULL)) {
        fail_msg("%s: got %d \"%s\", want %d with \"%s\"",
                 proto_response_name(expect), rv, errmsg, code,
                 needle != NULL ? needle : "");
    }
    free(copy);
}

/* A header announcing 0xffffffff words is refused before anything is read
 * or allocated; so is one just over the configured limit. */
static void absurd_header_length_refused(void **state)
{
    static const uint8_t huge[8] = {0xff, 0xff, 0xff, 0xff, 8, 0, 0, 0};
    struct proto_limits lim = PROTO_LIMITS_DEFAULT;
    char errmsg[WR_ERRMSG_SIZE];
    struct proto_header h;
    size_t len = 12345;
    uint8_t hdr[8];

    (void)state;
    assert_int_equal(proto_header_decode(huge, NULL, &h, &len, errmsg),
                     WR_TOOBIG);
    assert_non_null(strstr(errmsg, "exceeds the limit"));
    lim.max_message = 1024;
    h = (struct proto_header){.words = 128, .type = 4};
    proto_header_encode(hdr, &h);
    assert_int_equal(proto_header_decode(hdr, &lim, &h, &len, errmsg), 0);
    assert_int_equal(len, 1024);
    h.words = 129;
    proto_header_encode(hdr, &h);
    assert_int_equal(proto_header_decode(hdr, &lim, &h, &len, errmsg),
                     WR_TOOBIG);
    /* A body handed over despite the header check is refused too. */
    uint8_t body[1032] = {0};
    assert_req_refused(PROTO_REQ_DUMP, 0, body, sizeof body, &lim, WR_TOOBIG,
                       "exceeds the limit");
    /* And a length that does not match the header is a caller error. */
    h = (struct proto_header){.words = 2, .type = PROTO_REQ_LEADER};
    struct proto_request out;
    uint8_t *copy = dup_exact(body, 8);
    assert_int_equal(proto_request_decode(&h, copy, 8, NULL, &out, errmsg),
                     WR_INVALID);
    free(copy);
}

/* Texts without a NUL, or whose padding would run past the body, are
 * refused. */
static void text_without_nul_refused(void **state)
{
    uint8_t body[16];

    (void)state;
    memset(body, 'a', sizeof body);
    assert_req_refused(PROTO_REQ_DUMP, 0, body, 16, NULL, WR_CORRUPT,
                       "no NUL");
    assert_req_refused(PROTO_REQ_OPEN, 0, body, 16, NULL, WR_CORRUPT,
                       "name: text has no NUL");
    /* u64 db, then an SQL text that never ends. */
    memset(body, 0, 8);
    assert_req_refused(PROTO_REQ_PREPARE, 0, body, 16, NULL, WR_CORRUPT,
                       "sql: text has no NUL");
    /* A FAILURE whose message runs to the end of the body unterminated. */
    memset(body, 'b', sizeof body);
    memset(body, 0, 8);
    assert_resp_refused(PROTO_RESP_FAILURE, body, 16, NULL, WR_CORRUPT,
                        "message: text has no NUL");
}

/* Parameter counts larger than the body, or than the limit, are refused at
 * once; unknown type codes are refused; nothing is allocated for them. */
static void absurd_param_counts_refused(void **state)
{
    struct proto_limits lim = PROTO_LIMITS_DEFAULT;
    uint8_t body[24] = {0};

    (void)state;
    /* EXEC schema 0: db, stmt, count 255 in a two-word body. */
    body[8] = 255;
    assert_req_refused(PROTO_REQ_EXEC, 0, body, 16, NULL, WR_CORRUPT,
                       "type codes of 255 parameters need");
    /* Count 6 with valid types but only one word of values. */
    memset(body + 8, 0, 16);
    body[8] = 6;
    for (int i = 0; i < 6; i++) {
        body[9 + i] = PROTO_INTEGER;
    }
    assert_req_refused(PROTO_REQ_EXEC, 0, body, 24, NULL, WR_CORRUPT,
                       "6 parameters need at least 48 bytes");
    /* Schema 1: a u32 count of 0xffffffff is over the limit... */
    memset(body + 8, 0, 16);
    body[8] = body[9] = body[10] = body[11] = 0xff;
    assert_req_refused(PROTO_REQ_EXEC, 1, body, 24, NULL, WR_TOOBIG,
                       "4294967295 parameters exceed the limit of 32766");
    /* ...and, with no limit, larger than the body. */
    lim.max_params = UINT32_MAX;
    assert_req_refused(PROTO_REQ_EXEC, 1, body, 24, &lim, WR_CORRUPT,
                       "type codes of 4294967295 parameters need");
    /* The limit itself: 3 parameters allowed, 4 sent. */
    lim.max_params = 3;
    memset(body + 8, 0, 16);
    body[8] = 4;
    assert_req_refused(PROTO_REQ_QUERY, 0, body, 24, &lim, WR_TOOBIG,
                       "4 parameters exceed the limit of 3");
    /* Unknown type codes: 0, 6, 8, 12, 255. */
    static const uint8_t bad[] = {0, 6, 8, 12, 255};
    for (size_t i = 0; i < sizeof bad; i++) {
        memset(body + 8, 0, 16);
        body[8] = 1;
        body[9] = bad[i];
        assert_req_refused(PROTO_REQ_EXEC, 0, body, 24, NULL, WR_CORRUPT,
                           "parameter 1: unknown type code");
    }
    /* Trailing bytes after the last parameter. */
    uint8_t body2[32] = {0};
    body2[8] = 1;
    body2[9] = PROTO_NULL;
    assert_req_refused(PROTO_REQ_EXEC, 0, body2, 32, NULL, WR_CORRUPT,
                       "8 trailing bytes");
}

/* Blob lengths past the body or over the limit are refused without
 * wrapping around. */
static void absurd_blob_lengths_refused(void **state)
{
    struct proto_limits lim = PROTO_LIMITS_DEFAULT;
    uint8_t body[32] = {0};

    (void)state;
    /* EXEC schema 0: db, stmt | count 1, BLOB | length | one word. */
    body[8] = 1;
    body[9] = PROTO_BLOB;
    memset(body + 16, 0xff, 8);
    assert_req_refused(PROTO_REQ_EXEC, 0, body, 32, NULL, WR_TOOBIG,
                       "parameter 1 (BLOB): blob of 18446744073709551615 "
                       "bytes exceeds the limit");
    lim.max_blob = UINT64_MAX;
    assert_req_refused(PROTO_REQ_EXEC, 0, body, 32, &lim, WR_CORRUPT,
                       "runs past the 8 bytes left");
    /* 0xfffffffffffffff9 would wrap to 0 when padded. */
    body[16] = 0xf9;
    assert_req_refused(PROTO_REQ_EXEC, 0, body, 32, &lim, WR_CORRUPT,
                       "runs past");
    /* 9 bytes: the padding runs past one remaining word. */
    memset(body + 16, 0, 8);
    body[16] = 9;
    assert_req_refused(PROTO_REQ_EXEC, 0, body, 32, NULL, WR_CORRUPT,
                       "runs past");
    /* The limit itself. */
    lim.max_blob = 7;
    body[16] = 8;
    assert_req_refused(PROTO_REQ_EXEC, 0, body, 32, &lim, WR_TOOBIG,
                       "blob of 8 bytes exceeds the limit of 7");
}

/* Absurd counts in responses (servers, files, columns) and broken ROWS
 * bodies are refused. */
static void absurd_response_lists_refused(void **state)
{
    struct proto_limits lim = PROTO_LIMITS_DEFAULT;
    uint8_t body[48] = {0};

    (void)state;
    memset(body, 0xff, 8);
    assert_resp_refused(PROTO_RESP_SERVERS, body, 32, NULL, WR_CORRUPT,
                        "servers need at least 24 bytes each");
    assert_resp_refused(PROTO_RESP_FILES, body, 32, NULL, WR_CORRUPT,
                        "files need at least 16 bytes each");
    assert_resp_refused(PROTO_RESP_ROWS, body, 32, NULL, WR_TOOBIG,
                        "columns exceed the limit");
    lim.max_columns = UINT32_MAX;
    memset(body, 0, 8);
    body[0] = 0xff;
    body[1] = 0xff;
    body[2] = 0xff;
    body[3] = 0x0f;
    assert_resp_refused(PROTO_RESP_ROWS, body, 32, &lim, WR_CORRUPT,
                        "column names need at least");
    /* A file whose size runs past the body. */
    memset(body, 0, sizeof body);
    body[0] = 1;         /* one file */
    body[8] = 'f';       /* "f" */
    memset(body + 16, 0xff, 8);
    assert_resp_refused(PROTO_RESP_FILES, body, 32, NULL, WR_CORRUPT,
                        "file 1: 18446744073709551615 bytes of content");

    /* ROWS: one column "x", then no end marker. */
    memset(body, 0, sizeof body);
    body[0] = 1;
    body[8] = 'x';
    body[16] = PROTO_INTEGER;
    assert_resp_refused(PROTO_RESP_ROWS, body, 32, NULL, WR_CORRUPT,
                        "no end marker after 1 rows");
    /* ROWS with no columns. */
    memset(body, 0, sizeof body);
    memset(body + 8, 0xff, 8);
    assert_resp_refused(PROTO_RESP_ROWS, body, 16, NULL, WR_CORRUPT,
                        "no columns");
    /* ROWS: an unknown type nibble (12). */
    memset(body, 0, sizeof body);
    body[0] = 1;
    body[8] = 'x';
    body[16] = 0x0c;
    memset(body + 32, 0xff, 8);
    assert_resp_refused(PROTO_RESP_ROWS, body, 40, NULL, WR_CORRUPT,
                        "row 1 column 1: unknown type code 12");
    /* ROWS: a word after the end marker. */
    memset(body, 0, sizeof body);
    body[0] = 1;
    body[8] = 'x';
    memset(body + 16, 0xee, 8);
    assert_resp_refused(PROTO_RESP_ROWS, body, 32, NULL, WR_CORRUPT,
                        "8 trailing bytes");
}

/* Texts longer than max_text are refused with WR_TOOBIG; exactly max_text
 * bytes is fine. Column counts beyond max_columns likewise. */
static void limits_enforced(void **state)
{
    struct proto_limits lim = PROTO_LIMITS_DEFAULT;
    char errmsg[WR_ERRMSG_SIZE];
    char sql[18];
    struct proto_request out;
    struct buf b;
    struct msg m;

    (void)state;
    lim.max_text = 16;
    memset(sql, 'x', 16);
    sql[16] = '\0';
    struct proto_request r = {.type = PROTO_REQ_PREPARE,
                              .prepare = {.sql = sql}};
    encode_request(&b, &r);
    msg_from_bytes(&m, b.p, b.len);
    assert_int_equal(proto_request_decode(&m.h, m.body, m.len, &lim, &out,
                                          errmsg),
                     0);
    msg_free(&m);
    buf_close(&b);
    sql[16] = 'y';
    sql[17] = '\0';
    encode_request(&b, &r);
    msg_from_bytes(&m, b.p, b.len);
    assert_int_equal(proto_request_decode(&m.h, m.body, m.len, &lim, &out,
                                          errmsg),
                     WR_TOOBIG);
    assert_non_null(strstr(errmsg, "decode PREPARE: sql: text of 17 bytes "
                                   "exceeds the limit of 16"));
    msg_free(&m);
    buf_close(&b);

    /* A text value inside a row, and the column count. */
    static const char *const names[3] = {"a", "b", "c"};
    struct value row[3];
    size_t done;
    struct proto_response resp;
    row[0] = text_value(0, "short").v;
    row[1] = text_value(0, "this one is too long").v;
    row[2] = null_value().v;
    buf_init(&b);
    assert_int_equal(
        proto_rows_encode(&b, 3, names, row, NULL, 1, 4096, &done, errmsg),
        0);
    msg_from_bytes(&m, b.p, b.len);
    assert_int_equal(proto_response_decode(&m.h, m.body, m.len,
                                           PROTO_RESP_ROWS, &lim, &resp,
                                           errmsg),
                     WR_TOOBIG);
    assert_non_null(strstr(errmsg, "row 1 column 2 (TEXT)"));
    lim.max_text = 100;
    lim.max_columns = 2;
    assert_int_equal(proto_response_decode(&m.h, m.body, m.len,
                                           PROTO_RESP_ROWS, &lim, &resp,
                                           errmsg),
                     WR_TOOBIG);
    assert_non_null(strstr(errmsg, "3 columns exceed the limit of 2"));
    lim.max_columns = 3;
    assert_int_equal(proto_response_decode(&m.h, m.body, m.len,
                                           PROTO_RESP_ROWS, &lim, &resp,
                                           errmsg),
                     0);
    msg_free(&m);
    buf_close(&b);
}

/* Unknown request types, walraft's reserved types and unknown schemas are
 * WR_UNSUPPORTED (the server answers FAILURE and carries on). */
static void unknown_types_and_schemas_unsupported(void **state)
{
    uint8_t body[8] = {0};

    (void)state;
    assert_req_refused(20, 0, body, 8, NULL, WR_UNSUPPORTED,
                       "unknown request type 20");
    assert_req_refused(63, 0, body, 8, NULL, WR_UNSUPPORTED,
                       "unknown request type 63");
    assert_req_refused(64, 0, body, 8, NULL, WR_UNSUPPORTED,
                       "walraft extension request type 64");
    assert_req_refused(127, 0, body, 8, NULL, WR_UNSUPPORTED,
                       "walraft extension");
    assert_req_refused(255, 0, body, 8, NULL, WR_UNSUPPORTED, "unknown");
    assert_req_refused(PROTO_REQ_LEADER, 1, body, 8, NULL, WR_UNSUPPORTED,
                       "decode LEADER: unknown schema version 1");
    assert_req_refused(PROTO_REQ_EXEC_SQL, 2, body, 8, NULL, WR_UNSUPPORTED,
                       "unknown schema version 2");
    /* A fixed-size message with an extra word. */
    uint8_t two[16] = {0};
    assert_req_refused(PROTO_REQ_CLIENT, 0, two, 16, NULL, WR_CORRUPT,
                       "decode CLIENT: 8 trailing bytes");
    /* An empty body for a message with fields. */
    assert_req_refused(PROTO_REQ_WEIGHT, 0, NULL, 0, NULL, WR_CORRUPT,
                       "decode WEIGHT: weight: needs 8 bytes, 0 left");
}

/* A client decoding a response says what it expects: FAILURE is always
 * accepted, another type is refused, SERVER_LEGACY and SERVERS_V0 are read
 * only when asked for, and PROTO_RESP_ANY picks by type and schema. */
static void response_expectations(void **state)
{
    char errmsg[WR_ERRMSG_SIZE];
    struct proto_response out;
    struct buf b;
    struct msg m;

    (void)state;
    struct proto_response fail = {
        .kind = PROTO_RESP_FAILURE,
        .failure = {.code = PROTO_ERR_PARSE, .message = "bad"}};
    encode_response(&b, &fail);
    msg_from_bytes(&m, b.p, b.len);
    assert_int_equal(proto_response_decode(&m.h, m.body, m.len,
                                           PROTO_RESP_ROWS, NULL, &out,
                                           errmsg),
                     0);
    assert_int_equal(out.kind, PROTO_RESP_FAILURE);
    assert_true(out.failure.code == 1005);
    msg_free(&m);
    buf_close(&b);

    struct proto_response result = {.kind = PROTO_RESP_RESULT,
                                    .result = {.rows_affected = 1}};
    encode_response(&b, &result);
    msg_from_bytes(&m, b.p, b.len);
    assert_int_equal(proto_response_decode(&m.h, m.body, m.len,
                                           PROTO_RESP_ROWS, NULL, &out,
                                           errmsg),
                     WR_CORRUPT);
    assert_non_null(strstr(errmsg, "expected ROWS (type 7), got type 6"));
    assert_int_equal(proto_response_decode(&m.h, m.body, m.len,
                                           PROTO_RESP_ANY, NULL, &out,
                                           errmsg),
                     0);
    assert_int_equal(out.kind, PROTO_RESP_RESULT);
    msg_free(&m);
    buf_close(&b);

    struct proto_response server = {.kind = PROTO_RESP_SERVER,
                                    .server = {.id = 3, .address = "a:1"}};
    encode_response(&b, &server);
    msg_from_bytes(&m, b.p, b.len);
    assert_int_equal(proto_response_decode(&m.h, m.body, m.len,
                                           PROTO_RESP_ANY, NULL, &out,
                                           errmsg),
                     0);
    assert_int_equal(out.kind, PROTO_RESP_SERVER);
    /* Read as legacy, an id word of 3 is a one-byte text plus trailing
     * bytes: refused, not misread. */
    assert_int_equal(proto_response_decode(&m.h, m.body, m.len,
                                           PROTO_RESP_SERVER_LEGACY, NULL,
                                           &out, errmsg),
                     WR_CORRUPT);
    msg_free(&m);
    buf_close(&b);

    struct proto_response stmt1 = {
        .kind = PROTO_RESP_STMT_WITH_OFFSET,
        .stmt_with_offset = {.id = 1, .params = 2, .offset = 3}};
    encode_response(&b, &stmt1);
    msg_from_bytes(&m, b.p, b.len);
    assert_int_equal(m.h.schema, 1);
    assert_int_equal(proto_response_decode(&m.h, m.body, m.len,
                                           PROTO_RESP_ANY, NULL, &out,
                                           errmsg),
                     0);
    assert_int_equal(out.kind, PROTO_RESP_STMT_WITH_OFFSET);
    assert_int_equal(proto_response_decode(&m.h, m.body, m.len,
                                           PROTO_RESP_STMT, NULL, &out,
                                           errmsg),
                     WR_UNSUPPORTED);
    msg_free(&m);
    buf_close(&b);

    uint8_t body[8] = {0};
    struct proto_header h = {.words = 1, .type = 11};
    uint8_t *copy = dup_exact(body, 8);
    assert_int_equal(proto_response_decode(&h, copy, 8, PROTO_RESP_ANY, NULL,
                                           &out, errmsg),
                     WR_UNSUPPORTED);
    h.type = 65;
    assert_int_equal(proto_response_decode(&h, copy, 8, PROTO_RESP_ANY, NULL,
                                           &out, errmsg),
                     WR_UNSUPPORTED);
    assert_non_null(strstr(errmsg, "walraft extension response type 65"));
    free(copy);
}

/* Random bodies of random lengths, decoded as every request type and every
 * response kind, never crash or over-read. */
static void random_bytes_never_crash(void **state)
{
    uint8_t body[256];

    (void)state;
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = (size_t)(rng_next() % 33) * 8;
        for (size_t i = 0; i < len; i++) {
            body[i] = (uint8_t)rng_next();
        }
        /* Small counts and lengths now and then, so decoders go deeper. */
        if (len >= 16 && rng_next() % 2 == 0) {
            memset(body + 1, 0, 7);
            body[0] = (uint8_t)(rng_next() % 4);
        }
        struct proto_header h = {.words = (uint32_t)(len / 8),
                                 .type = (uint8_t)(iter % 21),
                                 .schema = (uint8_t)(rng_next() % 2)};
        int rv = decode_robust(true, 0, &h, body, len);
        assert_true(rv == 0 || is_refusal(rv));
        int kind = iter % PROTO_RESP__COUNT;
        h.type = (uint8_t)proto_response_wire_type(kind);
        h.schema = (uint8_t)proto_response_schema(kind);
        rv = decode_robust(false, kind, &h, body, len);
        assert_true(rv == 0 || is_refusal(rv));
    }
}

/* A ROWS_EXT stream carries its bookmark in every message, PART and DONE
 * alike, and decodes like ROWS after it. */
static void rows_ext_stream_carries_bookmark(void **state)
{
    static const char *const names[1] = {"n"};
    struct proto_rows_writer w;
    char errmsg[WR_ERRMSG_SIZE];
    struct value v[3] = {int_value(0, 1).v, int_value(0, 2).v,
                         int_value(0, 3).v};
    struct proto_response out;
    struct proto_rows_iter it;
    struct proto_value row[1];
    bool added;
    struct buf b;
    struct msg m;
    int64_t sum = 0;

    (void)state;
    buf_init(&b);
    for (int part = 0; part < 2; part++) {
        buf_reset(&b);
        assert_int_equal(proto_rows_begin_ext(&w, &b, 900 + (uint64_t)part,
                                              1, names, 4096, errmsg),
                         0);
        for (int i = part; i < 3; i += 2) {
            assert_int_equal(proto_rows_add(&w, &v[i], NULL, &added, errmsg),
                             0);
            assert_true(added);
        }
        assert_int_equal(proto_rows_finish(&w, part == 0), 0);
        msg_from_bytes(&m, b.p, b.len);
        assert_int_equal(m.h.type, 71);
        assert_int_equal(proto_response_decode(&m.h, m.body, m.len,
                                               PROTO_RESP_ROWS_EXT, NULL,
                                               &out, errmsg),
                         0);
        assert_int_equal(out.rows_ext.bookmark, 900 + (uint64_t)part);
        assert_true(out.rows_ext.rows.marker ==
                    (part == 0 ? PROTO_ROWS_PART : PROTO_ROWS_DONE));
        proto_rows_iter_init(&it, &out.rows_ext.rows);
        while (proto_rows_next(&it, row)) {
            sum += row[0].v.integer;
        }
        msg_free(&m);
    }
    assert_int_equal(sum, 6);
    buf_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_grows_and_refuses_overflow),
        cmocka_unit_test(golden_protocol_version),
        cmocka_unit_test(golden_leader),
        cmocka_unit_test(golden_open),
        cmocka_unit_test(golden_exec_sql_params_schema0),
        cmocka_unit_test(golden_exec_params_schema1),
        cmocka_unit_test(golden_exec_no_params),
        cmocka_unit_test(golden_assign),
        cmocka_unit_test(golden_failure),
        cmocka_unit_test(golden_stmt_and_db),
        cmocka_unit_test(golden_servers),
        cmocka_unit_test(golden_rows),
        cmocka_unit_test(golden_rows_part_marker),
        cmocka_unit_test(golden_files),
        cmocka_unit_test(golden_server_legacy),
        cmocka_unit_test(roundtrip_every_request),
        cmocka_unit_test(rows_ext_stream_carries_bookmark),
        cmocka_unit_test(roundtrip_every_response),
        cmocka_unit_test(decode_is_zero_copy),
        cmocka_unit_test(assign_without_role_decodes),
        cmocka_unit_test(params_explicit_zero_count),
        cmocka_unit_test(column_type_mapping),
        cmocka_unit_test(mismatched_hint_sends_own_type),
        cmocka_unit_test(rows_split_across_parts),
        cmocka_unit_test(rows_writer_big_row_goes_alone),
        cmocka_unit_test(encode_refuses_invalid_input),
        cmocka_unit_test(every_truncation_refused_or_valid),
        cmocka_unit_test(every_bit_flip_refused_or_valid),
        cmocka_unit_test(absurd_header_length_refused),
        cmocka_unit_test(text_without_nul_refused),
        cmocka_unit_test(absurd_param_counts_refused),
        cmocka_unit_test(absurd_blob_lengths_refused),
        cmocka_unit_test(absurd_response_lists_refused),
        cmocka_unit_test(limits_enforced),
        cmocka_unit_test(unknown_types_and_schemas_unsupported),
        cmocka_unit_test(response_expectations),
        cmocka_unit_test(random_bytes_never_crash),
    };

    print_message("test_proto: seed 0x%llx\n", (unsigned long long)SEED);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
