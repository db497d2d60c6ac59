/*
 * Framing and the message codecs generated from the X-macro tables in
 * wire.h. The list kinds (parameters, servers, files, rows) are in tuple.c.
 * The byte layouts are at the top of wire.h.
 */
#include "wire.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../lib/byteorder.h"
#include "../lib/err.h"
#include "codec.h"

static const struct proto_limits default_limits = PROTO_LIMITS_DEFAULT;

/* A decoder given no body (len 0) reads from here, so that the cursor never
 * does arithmetic on a NULL pointer. */
static const uint8_t empty_body[PROTO_WORD];

void proto_limits_default(struct proto_limits *lim)
{
    *lim = default_limits;
}

void proto__enc_fail(struct enc *e, int rv, const char *fmt, ...)
{
    va_list ap;

    if (e->rv != 0) {
        return; /* Keep the first error. */
    }
    e->rv = rv;
    va_start(ap, fmt);
    vsnprintf(e->errmsg, WR_ERRMSG_SIZE, fmt, ap);
    va_end(ap);
}

/*
 * Fixed field kinds. Each kind K has size_K (size pass, checks the input),
 * put_K (write pass) and get_K (decode).
 */

static void size_U32(struct enc *e, const uint32_t *v)
{
    (void)v;
    enc_add(e, 4);
}

static void put_U32(struct wr *w, const uint32_t *v, struct enc *e)
{
    (void)e;
    wr_u32(w, *v);
}

static int get_U32(struct rd *r, uint32_t *v, struct dec *d)
{
    return rd_u32(r, v, d->errmsg);
}

static void size_U64(struct enc *e, const uint64_t *v)
{
    (void)v;
    enc_add(e, 8);
}

static void put_U64(struct wr *w, const uint64_t *v, struct enc *e)
{
    (void)e;
    wr_u64(w, *v);
}

static int get_U64(struct rd *r, uint64_t *v, struct dec *d)
{
    return rd_u64(r, v, d->errmsg);
}

/* A NULL text is sent as "" (dqlite does the same for an unknown leader's
 * address, gateway.c handle_leader). */
static void size_TEXT(struct enc *e, const char *const *v)
{
    enc_add(e, pad8((uint64_t)text_len(*v) + 1));
}

static void put_TEXT(struct wr *w, const char *const *v, struct enc *e)
{
    (void)e;
    wr_text(w, *v, text_len(*v));
}

static int get_TEXT(struct rd *r, const char **v, struct dec *d)
{
    return rd_text(r, d->lim->max_text, v, NULL, d->errmsg);
}

/* Optional trailing u64: present iff bytes remain (gateway.c
 * handle_assign). */
static void size_OPT_U64(struct enc *e, const struct proto_opt_u64 *v)
{
    enc_add(e, v->present ? 8 : 0);
}

static void put_OPT_U64(struct wr *w,
                        const struct proto_opt_u64 *v,
                        struct enc *e)
{
    (void)e;
    if (v->present) {
        wr_u64(w, v->value);
    }
}

static int get_OPT_U64(struct rd *r, struct proto_opt_u64 *v, struct dec *d)
{
    if (rd_left(r) == 0) {
        v->present = false;
        v->value = 0;
        return 0;
    }
    v->present = true;
    return rd_u64(r, &v->value, d->errmsg);
}

#define size_PARAMS proto__size_PARAMS
#define put_PARAMS proto__put_PARAMS
#define get_PARAMS proto__get_PARAMS
#define size_NODES proto__size_NODES
#define put_NODES proto__put_NODES
#define get_NODES proto__get_NODES
#define size_NODES0 proto__size_NODES0
#define put_NODES0 proto__put_NODES0
#define get_NODES0 proto__get_NODES0
#define size_FILES proto__size_FILES
#define put_FILES proto__put_FILES
#define get_FILES proto__get_FILES
#define size_ROWSET proto__size_ROWSET
#define put_ROWSET proto__put_ROWSET
#define get_ROWSET proto__get_ROWSET

/*
 * Generated codecs: for every message struct S, S_size(), S_put() and
 * S_get(), each a sequence of the field kinds' functions in table order.
 */

#define SIZE_FIELD(KIND, name)                \
    if (e->rv == 0) {                         \
        size_##KIND(e, &m->name);             \
        if (e->rv != 0) {                     \
            err_wrap(e->errmsg, "%s", #name); \
        }                                     \
    }
#define PUT_FIELD(KIND, name) put_##KIND(w, &m->name, e);
#define GET_FIELD(KIND, name)             \
    rv = get_##KIND(r, &m->name, d);      \
    if (rv != 0) {                        \
        err_wrap(d->errmsg, "%s", #name); \
        return rv;                        \
    }

#define DEFINE_CODEC(S, FIELDS)                                         \
    static void S##_size(const struct S *m, struct enc *e)              \
    {                                                                   \
        FIELDS(SIZE_FIELD)                                              \
    }                                                                   \
    static void S##_put(const struct S *m, struct wr *w, struct enc *e) \
    {                                                                   \
        FIELDS(PUT_FIELD)                                               \
    }                                                                   \
    static int S##_get(struct S *m, struct rd *r, struct dec *d)        \
    {                                                                   \
        int rv;                                                         \
        FIELDS(GET_FIELD)                                               \
        return 0;                                                       \
    }

#define DEFINE_REQ(lower, UPPER, code_, schema_) \
    DEFINE_CODEC(proto_req_##lower, PROTO_FIELDS_REQ_##UPPER)
PROTO_REQUESTS(DEFINE_REQ)

#define DEFINE_RESP(lower, UPPER, code_, schema_) \
    DEFINE_CODEC(proto_resp_##lower, PROTO_FIELDS_RESP_##UPPER)
PROTO_RESPONSES(DEFINE_RESP)

/*
 * Names and tables.
 */

const char *proto_request_name(int type)
{
    switch (type) {
#define NAME_CASE(lower, UPPER, code_, schema_) \
    case code_:                                 \
        return #UPPER;
        PROTO_REQUESTS(NAME_CASE)
#undef NAME_CASE
    }
    return "unknown";
}

/* Highest schema accepted for request @type, or -1 if the type is unknown. */
static int request_max_schema(int type)
{
    switch (type) {
#define SCHEMA_CASE(lower, UPPER, code_, schema_) \
    case code_:                                   \
        return schema_;
        PROTO_REQUESTS(SCHEMA_CASE)
#undef SCHEMA_CASE
    }
    return -1;
}

const char *proto_response_name(int kind)
{
    switch (kind) {
#define NAME_CASE(lower, UPPER, code_, schema_) \
    case PROTO_RESP_##UPPER:                    \
        return #UPPER;
        PROTO_RESPONSES(NAME_CASE)
#undef NAME_CASE
    }
    return "unknown";
}

int proto_response_wire_type(int kind)
{
    switch (kind) {
#define TYPE_CASE(lower, UPPER, code_, schema_) \
    case PROTO_RESP_##UPPER:                    \
        return code_;
        PROTO_RESPONSES(TYPE_CASE)
#undef TYPE_CASE
    }
    return -1;
}

bool proto_response_continues(const struct proto_response *r)
{
    return (r->kind == PROTO_RESP_ROWS &&
            r->rows.rows.marker == PROTO_ROWS_PART) ||
           (r->kind == PROTO_RESP_ROWS_EXT &&
            r->rows_ext.rows.marker == PROTO_ROWS_PART);
}

int proto_response_schema(int kind)
{
    switch (kind) {
#define SCHEMA_CASE(lower, UPPER, code_, schema_) \
    case PROTO_RESP_##UPPER:                      \
        return schema_;
        PROTO_RESPONSES(SCHEMA_CASE)
#undef SCHEMA_CASE
    }
    return -1;
}

/*
 * Framing.
 */

int proto_version_encode(struct buf *b, uint64_t version)
{
    uint8_t *p = buf_append(b, PROTO_WORD);
    if (p == NULL) {
        return WR_NOMEM;
    }
    put_le64(p, version);
    return 0;
}

int proto_version_decode(const uint8_t *in, uint64_t *version, char *errmsg)
{
    uint64_t v = get_le64(in);

    if (v != PROTO_VERSION && v != PROTO_VERSION_LEGACY) {
        err_printf(errmsg, "unknown protocol version %#llx",
                   (unsigned long long)v);
        return WR_UNSUPPORTED;
    }
    *version = v;
    return 0;
}

void proto_header_encode(uint8_t *out, const struct proto_header *h)
{
    put_le32(out, h->words);
    out[4] = h->type;
    out[5] = h->schema;
    put_le16(out + 6, h->extra);
}

int proto_header_decode(const uint8_t *in,
                        const struct proto_limits *lim,
                        struct proto_header *h,
                        size_t *body_len,
                        char *errmsg)
{
    uint64_t n;

    if (lim == NULL) {
        lim = &default_limits;
    }
    h->words = get_le32(in);
    h->type = in[4];
    h->schema = in[5];
    h->extra = get_le16(in + 6);
    n = (uint64_t)h->words * PROTO_WORD;
    if (n > lim->max_message || n > SIZE_MAX) {
        err_printf(errmsg,
                   "message type %u: body of %llu bytes (%u words) exceeds "
                   "the limit of %llu",
                   h->type, (unsigned long long)n, h->words,
                   (unsigned long long)lim->max_message);
        return WR_TOOBIG;
    }
    *body_len = (size_t)n;
    return 0;
}

/* Append the header and a zeroed body of @size bytes; point @w at the
 * body. */
static int message_begin(struct buf *b,
                         uint8_t type,
                         uint8_t schema,
                         uint64_t size,
                         struct wr *w,
                         char *errmsg)
{
    struct proto_header h;
    uint8_t *p;

    /* The tables' field lists add up to whole words (u32 fields come in
     * pairs); only a hand-made list view could break that. */
    if (size % PROTO_WORD != 0 && size != UINT64_MAX) {
        err_printf(errmsg, "body of %llu bytes is not a whole number of words",
                   (unsigned long long)size);
        return WR_INVALID;
    }
    if (size > PROTO_MAX_BODY || size > SIZE_MAX - PROTO_HEADER_SIZE) {
        err_printf(errmsg,
                   "body of %llu bytes exceeds the %llu a header "
                   "can describe",
                   (unsigned long long)size,
                   (unsigned long long)PROTO_MAX_BODY);
        return WR_TOOBIG;
    }
    p = buf_append(b, PROTO_HEADER_SIZE + (size_t)size);
    if (p == NULL) {
        err_printf(errmsg, "out of memory for a %llu-byte message",
                   (unsigned long long)size);
        return WR_NOMEM;
    }
    h.words = (uint32_t)(size / PROTO_WORD);
    h.type = type;
    h.schema = schema;
    h.extra = 0;
    proto_header_encode(p, &h);
    w->p = p + PROTO_HEADER_SIZE;
    return 0;
}

/* Common checks before decoding a body. */
static int body_check(const struct proto_header *h,
                      size_t len,
                      const struct proto_limits *lim,
                      char *errmsg)
{
    if ((uint64_t)h->words * PROTO_WORD != len) {
        err_printf(errmsg, "body of %zu bytes given for a header of %u words",
                   len, h->words);
        return WR_INVALID;
    }
    if (len > lim->max_message) {
        err_printf(errmsg, "body of %zu bytes exceeds the limit of %llu", len,
                   (unsigned long long)lim->max_message);
        return WR_TOOBIG;
    }
    return 0;
}

static bool ext_type(unsigned type)
{
    return type >= PROTO_EXT_TYPE_FIRST && type <= PROTO_EXT_TYPE_LAST;
}

/*
 * Requests.
 */

int proto_request_encode(struct buf *b,
                         const struct proto_request *r,
                         char *errmsg)
{
    struct enc e = {.schema = r->schema, .size = 0, .rv = 0, .errmsg = errmsg};
    const char *name = proto_request_name(r->type);
    int max_schema = request_max_schema(r->type);
    struct wr w;
    int rv;

    if (max_schema < 0) {
        err_printf(errmsg, "encode: unknown request type %u", r->type);
        return WR_INVALID;
    }
    if (r->schema > max_schema) {
        err_printf(errmsg, "encode %s: schema %u is not defined", name,
                   r->schema);
        return WR_INVALID;
    }
    switch (r->type) {
#define SIZE_CASE(lower, UPPER, code_, schema_)  \
    case code_:                                  \
        proto_req_##lower##_size(&r->lower, &e); \
        break;
        PROTO_REQUESTS(SIZE_CASE)
#undef SIZE_CASE
    }
    if (e.rv != 0) {
        err_wrap(errmsg, "encode %s", name);
        return e.rv;
    }
    rv = message_begin(b, r->type, r->schema, e.size, &w, errmsg);
    if (rv != 0) {
        err_wrap(errmsg, "encode %s", name);
        return rv;
    }
    switch (r->type) {
#define PUT_CASE(lower, UPPER, code_, schema_)      \
    case code_:                                     \
        proto_req_##lower##_put(&r->lower, &w, &e); \
        break;
        PROTO_REQUESTS(PUT_CASE)
#undef PUT_CASE
    }
    assert(w.p == b->p + b->len);
    return 0;
}

int proto_request_decode(const struct proto_header *h,
                         const void *body,
                         size_t len,
                         const struct proto_limits *lim,
                         struct proto_request *out,
                         char *errmsg)
{
    const char *name = proto_request_name(h->type);
    struct dec d;
    struct rd r;
    int max_schema;
    int rv;

    if (lim == NULL) {
        lim = &default_limits;
    }
    memset(out, 0, sizeof *out);
    out->type = h->type;
    out->schema = h->schema;
    rv = body_check(h, len, lim, errmsg);
    if (rv != 0) {
        err_wrap(errmsg, "decode %s", name);
        return rv;
    }
    max_schema = request_max_schema(h->type);
    if (max_schema < 0 && ext_type(h->type)) {
        err_printf(errmsg,
                   "walraft extension request type %u is not implemented",
                   h->type);
        return WR_UNSUPPORTED;
    }
    if (max_schema < 0) {
        err_printf(errmsg, "unknown request type %u", h->type);
        return WR_UNSUPPORTED;
    }
    if (h->schema > max_schema) {
        err_printf(errmsg, "decode %s: unknown schema version %u", name,
                   h->schema);
        return WR_UNSUPPORTED;
    }
    r.p = len > 0 ? body : empty_body;
    r.end = r.p + len;
    d.schema = h->schema;
    d.lim = lim;
    d.errmsg = errmsg;
    switch (h->type) {
#define GET_CASE(lower, UPPER, code_, schema_)             \
    case code_:                                            \
        rv = proto_req_##lower##_get(&out->lower, &r, &d); \
        break;
        PROTO_REQUESTS(GET_CASE)
#undef GET_CASE
    }
    if (rv == 0 && rd_left(&r) != 0) {
        err_printf(errmsg, "%zu trailing bytes after the last field",
                   rd_left(&r));
        rv = WR_CORRUPT;
    }
    if (rv != 0) {
        err_wrap(errmsg, "decode %s", name);
    }
    return rv;
}

/*
 * Responses.
 */

int proto_response_encode(struct buf *b,
                          const struct proto_response *r,
                          char *errmsg)
{
    int type = proto_response_wire_type(r->kind);
    int schema = proto_response_schema(r->kind);
    const char *name = proto_response_name(r->kind);
    struct enc e = {.schema = 0, .size = 0, .rv = 0, .errmsg = errmsg};
    struct wr w;
    int rv;

    if (type < 0) {
        err_printf(errmsg, "encode: unknown response kind %d", r->kind);
        return WR_INVALID;
    }
    e.schema = (uint8_t)schema;
    switch (r->kind) {
#define SIZE_CASE(lower, UPPER, code_, schema_)   \
    case PROTO_RESP_##UPPER:                      \
        proto_resp_##lower##_size(&r->lower, &e); \
        break;
        PROTO_RESPONSES(SIZE_CASE)
#undef SIZE_CASE
    }
    if (e.rv != 0) {
        err_wrap(errmsg, "encode %s", name);
        return e.rv;
    }
    rv = message_begin(b, (uint8_t)type, (uint8_t)schema, e.size, &w, errmsg);
    if (rv != 0) {
        err_wrap(errmsg, "encode %s", name);
        return rv;
    }
    switch (r->kind) {
#define PUT_CASE(lower, UPPER, code_, schema_)       \
    case PROTO_RESP_##UPPER:                         \
        proto_resp_##lower##_put(&r->lower, &w, &e); \
        break;
        PROTO_RESPONSES(PUT_CASE)
#undef PUT_CASE
    }
    assert(w.p == b->p + b->len);
    return 0;
}

static bool response_type_known(unsigned type)
{
    for (int k = 0; k < PROTO_RESP__COUNT; k++) {
        if (proto_response_wire_type(k) == (int)type) {
            return true;
        }
    }
    return false;
}

/* Choose the kind to decode a message as, from its header and what the
 * caller expects (FAILURE is always welcome). Returns 0 or an error code
 * with @errmsg set. */
static int response_kind(const struct proto_header *h,
                         int expect,
                         int *kind,
                         char *errmsg)
{
    if (ext_type(h->type) && !response_type_known(h->type)) {
        err_printf(errmsg,
                   "walraft extension response type %u is not implemented",
                   h->type);
        return WR_UNSUPPORTED;
    }
    if (h->type == proto_response_wire_type(PROTO_RESP_FAILURE)) {
        expect = PROTO_RESP_FAILURE;
    } else if (h->type == proto_response_wire_type(PROTO_RESP_FAILURE_EXT)) {
        expect = PROTO_RESP_FAILURE_EXT;
    }
    if (expect == PROTO_RESP_ANY) {
#define ANY_CASE(lower, UPPER, code_, schema_)      \
    if (h->type == code_ && h->schema == schema_) { \
        *kind = PROTO_RESP_##UPPER;                 \
        return 0;                                   \
    }
        PROTO_RESPONSES(ANY_CASE)
#undef ANY_CASE
        for (int k = 0; k < PROTO_RESP__COUNT; k++) {
            if (proto_response_wire_type(k) == h->type) {
                err_printf(errmsg, "response type %u: unknown schema %u",
                           h->type, h->schema);
                return WR_UNSUPPORTED;
            }
        }
        err_printf(errmsg, "unknown response type %u", h->type);
        return WR_UNSUPPORTED;
    }
    if (proto_response_wire_type(expect) < 0) {
        err_printf(errmsg, "decode: unknown response kind %d", expect);
        return WR_INVALID;
    }
    if (h->type != proto_response_wire_type(expect)) {
        err_printf(errmsg, "expected %s (type %d), got type %u",
                   proto_response_name(expect),
                   proto_response_wire_type(expect), h->type);
        return WR_CORRUPT;
    }
    if (h->schema != proto_response_schema(expect)) {
        err_printf(errmsg, "decode %s: unknown schema version %u",
                   proto_response_name(expect), h->schema);
        return WR_UNSUPPORTED;
    }
    *kind = expect;
    return 0;
}

int proto_response_decode(const struct proto_header *h,
                          const void *body,
                          size_t len,
                          int expect,
                          const struct proto_limits *lim,
                          struct proto_response *out,
                          char *errmsg)
{
    struct dec d;
    struct rd r;
    int kind = -1;
    int rv;

    if (lim == NULL) {
        lim = &default_limits;
    }
    memset(out, 0, sizeof *out);
    out->kind = -1;
    rv = body_check(h, len, lim, errmsg);
    if (rv != 0) {
        err_wrap(errmsg, "decode response type %u", h->type);
        return rv;
    }
    rv = response_kind(h, expect, &kind, errmsg);
    if (rv != 0) {
        return rv;
    }
    out->kind = kind;
    r.p = len > 0 ? body : empty_body;
    r.end = r.p + len;
    d.schema = h->schema;
    d.lim = lim;
    d.errmsg = errmsg;
    switch (kind) {
#define GET_CASE(lower, UPPER, code_, schema_)              \
    case PROTO_RESP_##UPPER:                                \
        rv = proto_resp_##lower##_get(&out->lower, &r, &d); \
        break;
        PROTO_RESPONSES(GET_CASE)
#undef GET_CASE
    }
    if (rv == 0 && rd_left(&r) != 0) {
        err_printf(errmsg, "%zu trailing bytes after the last field",
                   rd_left(&r));
        rv = WR_CORRUPT;
    }
    if (rv != 0) {
        err_wrap(errmsg, "decode %s", proto_response_name(kind));
    }
    return rv;
}
