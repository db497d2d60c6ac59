/*
 * Internals shared by proto/wire.c (framing, the generated message codecs)
 * and proto/tuple.c (values, parameters, rows). Not for use outside proto/.
 *
 * Encoding is two passes over the same input: a size pass that also checks
 * the input (struct enc records the first error), then a write pass into
 * memory reserved for exactly that size, which cannot fail. Decoding is one
 * pass through a struct rd, a cursor that knows where the body ends.
 */
#ifndef WR_PROTO_CODEC_H
#define WR_PROTO_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../lib/byteorder.h"
#include "../lib/err.h"
#include "wire.h"

static inline uint64_t pad8(uint64_t n)
{
    return (n + 7) & ~(uint64_t)7;
}

/* Encoding context. */
struct enc {
    uint8_t schema;
    uint64_t size; /* Size pass: bytes so far. Saturates at UINT64_MAX. */
    int rv;        /* First error found, 0 if none. */
    char *errmsg;
};

/* Record an error (the first one wins) with a formatted message. */
void proto__enc_fail(struct enc *e, int rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void enc_add(struct enc *e, uint64_t n)
{
    e->size = n > UINT64_MAX - e->size ? UINT64_MAX : e->size + n;
}

/* Write cursor over memory already reserved. */
struct wr {
    uint8_t *p;
};

static inline void wr_u8(struct wr *w, uint8_t v)
{
    *w->p++ = v;
}

static inline void wr_u32(struct wr *w, uint32_t v)
{
    put_le32(w->p, v);
    w->p += 4;
}

static inline void wr_u64(struct wr *w, uint64_t v)
{
    put_le64(w->p, v);
    w->p += 8;
}

/* @n bytes then zero padding to a word boundary. The reserved memory came
 * from buf_append(), already zero, so padding is skipped, not written. */
static inline void wr_bytes_padded(struct wr *w, const void *p, size_t n)
{
    if (n > 0) {
        memcpy(w->p, p, n);
    }
    w->p += pad8(n);
}

/* Text: the bytes, a NUL and padding. */
static inline void wr_text(struct wr *w, const char *s, size_t n)
{
    if (n > 0) {
        memcpy(w->p, s, n);
    }
    w->p += pad8((uint64_t)n + 1);
}

/* Decoding context. */
struct dec {
    uint8_t schema;
    const struct proto_limits *lim;
    char *errmsg;
};

/* Read cursor: [p, end) is what is left of the body. */
struct rd {
    const uint8_t *p;
    const uint8_t *end;
};

static inline size_t rd_left(const struct rd *r)
{
    return (size_t)(r->end - r->p);
}

static inline int rd_short(const struct rd *r, size_t need, char *errmsg)
{
    err_printf(errmsg, "needs %zu bytes, %zu left", need, rd_left(r));
    return WR_CORRUPT;
}

static inline int rd_u8(struct rd *r, uint8_t *v, char *errmsg)
{
    if (rd_left(r) < 1) {
        return rd_short(r, 1, errmsg);
    }
    *v = *r->p++;
    return 0;
}

static inline int rd_u32(struct rd *r, uint32_t *v, char *errmsg)
{
    if (rd_left(r) < 4) {
        return rd_short(r, 4, errmsg);
    }
    *v = get_le32(r->p);
    r->p += 4;
    return 0;
}

static inline int rd_u64(struct rd *r, uint64_t *v, char *errmsg)
{
    if (rd_left(r) < 8) {
        return rd_short(r, 8, errmsg);
    }
    *v = get_le64(r->p);
    r->p += 8;
    return 0;
}

/* Skip @n bytes the caller has already checked are there. */
static inline void rd_skip(struct rd *r, size_t n)
{
    r->p += n;
}

/* A text of at most @max bytes: the NUL must be within the body, and so
 * must the padding after it. *s points into the body. */
static inline int rd_text(struct rd *r,
                          uint64_t max,
                          const char **s,
                          size_t *n,
                          char *errmsg)
{
    size_t left = rd_left(r);
    const uint8_t *nul = left > 0 ? memchr(r->p, 0, left) : NULL;
    size_t len;

    if (nul == NULL) {
        err_printf(errmsg, "text has no NUL terminator in the %zu bytes left",
                   left);
        return WR_CORRUPT;
    }
    len = (size_t)(nul - r->p);
    if (len > max) {
        err_printf(errmsg, "text of %zu bytes exceeds the limit of %llu", len,
                   (unsigned long long)max);
        return WR_TOOBIG;
    }
    if (pad8((uint64_t)len + 1) > left) {
        err_printf(errmsg, "text padding runs %llu bytes past the body",
                   (unsigned long long)(pad8((uint64_t)len + 1) - left));
        return WR_CORRUPT;
    }
    *s = (const char *)r->p;
    if (n != NULL) {
        *n = len;
    }
    r->p += pad8((uint64_t)len + 1);
    return 0;
}

/* Length of the NUL-terminated @s (NULL counts as ""). */
static inline size_t text_len(const char *s)
{
    return s == NULL ? 0 : strlen(s);
}

/* Values (tuple.c). */
void proto__value_size(struct enc *e, const struct value *v, int hint);
void proto__value_put(struct wr *w, const struct value *v, int hint);
int proto__value_get(struct rd *r,
                     int wire,
                     const struct proto_limits *lim,
                     struct proto_value *out,
                     char *errmsg);
bool proto__wire_type_valid(int wire);

/* List field kinds (tuple.c). The fixed kinds are in wire.c. */
void proto__size_PARAMS(struct enc *e, const struct proto_params *p);
void proto__put_PARAMS(struct wr *w,
                       const struct proto_params *p,
                       struct enc *e);
int proto__get_PARAMS(struct rd *r, struct proto_params *p, struct dec *d);

void proto__size_NODES(struct enc *e, const struct proto_nodes *l);
void proto__put_NODES(struct wr *w, const struct proto_nodes *l, struct enc *e);
int proto__get_NODES(struct rd *r, struct proto_nodes *l, struct dec *d);
void proto__size_NODES0(struct enc *e, const struct proto_nodes *l);
void proto__put_NODES0(struct wr *w,
                       const struct proto_nodes *l,
                       struct enc *e);
int proto__get_NODES0(struct rd *r, struct proto_nodes *l, struct dec *d);

void proto__size_FILES(struct enc *e, const struct proto_files *l);
void proto__put_FILES(struct wr *w, const struct proto_files *l, struct enc *e);
int proto__get_FILES(struct rd *r, struct proto_files *l, struct dec *d);

void proto__size_ROWSET(struct enc *e, const struct proto_rowset *rs);
void proto__put_ROWSET(struct wr *w,
                       const struct proto_rowset *rs,
                       struct enc *e);
int proto__get_ROWSET(struct rd *r, struct proto_rowset *rs, struct dec *d);

#endif /* WR_PROTO_CODEC_H */
