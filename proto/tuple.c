/*
 * Values and the list-shaped fields of the wire protocol: statement
 * parameters, the servers of SERVERS, the files of FILES, and the column
 * names and rows of ROWS, with the streaming ROWS writer. The byte layouts
 * are at the top of wire.h.
 *
 * Every list is checked whole when its message is decoded, so the iterators
 * that read it afterwards re-decode trusted bytes and cannot fail.
 */
#include <assert.h>
#include <string.h>
#include <strings.h>

#include "../lib/byteorder.h"
#include "../lib/err.h"
#include "codec.h"
#include "wire.h"

/* Limits for re-reading bytes a decoder has already checked. */
static const struct proto_limits unlimited = {
    .max_message = UINT64_MAX,
    .max_text = UINT64_MAX,
    .max_blob = UINT64_MAX,
    .max_params = UINT32_MAX,
    .max_columns = UINT32_MAX,
};

static const char *type_name(int wire)
{
    switch (wire) {
        case PROTO_INTEGER:
            return "INTEGER";
        case PROTO_FLOAT:
            return "FLOAT";
        case PROTO_TEXT:
            return "TEXT";
        case PROTO_BLOB:
            return "BLOB";
        case PROTO_NULL:
            return "NULL";
        case PROTO_UNIXTIME:
            return "UNIXTIME";
        case PROTO_ISO8601:
            return "ISO8601";
        case PROTO_BOOLEAN:
            return "BOOLEAN";
    }
    return "unknown";
}

/*
 * Values.
 */

bool proto__wire_type_valid(int wire)
{
    return (wire >= PROTO_INTEGER && wire <= PROTO_NULL) ||
           wire == PROTO_UNIXTIME || wire == PROTO_ISO8601 ||
           wire == PROTO_BOOLEAN;
}

int proto_wire_type(const struct value *v, int hint)
{
    switch (v->type) {
        case VALUE_INTEGER:
            if (hint == PROTO_UNIXTIME || hint == PROTO_BOOLEAN) {
                return hint;
            }
            return PROTO_INTEGER;
        case VALUE_TEXT:
            return hint == PROTO_ISO8601 ? PROTO_ISO8601 : PROTO_TEXT;
        case VALUE_FLOAT:
            return PROTO_FLOAT;
        case VALUE_BLOB:
            return PROTO_BLOB;
        case VALUE_NULL:
            return PROTO_NULL;
    }
    return 0;
}

/* dqlite compares the whole declared type, ignoring case (query.c
 * value_type): "DATETIME(3)" or "BOOL" are not special there, nor here. */
int proto_column_type(const char *decl_type, int sqlite_type)
{
    if (sqlite_type < VALUE_INTEGER || sqlite_type > VALUE_NULL) {
        return 0;
    }
    if (decl_type == NULL) {
        return sqlite_type;
    }
    if (strcasecmp(decl_type, "DATETIME") == 0 ||
        strcasecmp(decl_type, "DATE") == 0 ||
        strcasecmp(decl_type, "TIMESTAMP") == 0) {
        if (sqlite_type == VALUE_INTEGER) {
            return PROTO_UNIXTIME;
        }
        if (sqlite_type == VALUE_TEXT) {
            return PROTO_ISO8601;
        }
        return sqlite_type;
    }
    if (strcasecmp(decl_type, "BOOLEAN") == 0 && sqlite_type == VALUE_INTEGER) {
        return PROTO_BOOLEAN;
    }
    return sqlite_type;
}

void proto__value_size(struct enc *e, const struct value *v, int hint)
{
    const char *nul;

    switch (proto_wire_type(v, hint)) {
        case 0:
            proto__enc_fail(e, WR_INVALID, "value type %d is not a SQL type",
                            v->type);
            return;
        case PROTO_TEXT:
        case PROTO_ISO8601:
            if (v->text.p == NULL && v->text.n > 0) {
                proto__enc_fail(e, WR_INVALID, "text of %zu bytes is NULL",
                                v->text.n);
                return;
            }
            nul = v->text.n > 0 ? memchr(v->text.p, 0, v->text.n) : NULL;
            if (nul != NULL) {
                proto__enc_fail(e, WR_INVALID,
                                "text contains a NUL byte at offset %zu "
                                "(send it as a BLOB)",
                                (size_t)(nul - v->text.p));
                return;
            }
            if (v->text.n >= PROTO_MAX_BODY) {
                proto__enc_fail(e, WR_TOOBIG, "text of %zu bytes", v->text.n);
                return;
            }
            enc_add(e, pad8((uint64_t)v->text.n + 1));
            return;
        case PROTO_BLOB:
            if (v->blob.p == NULL && v->blob.n > 0) {
                proto__enc_fail(e, WR_INVALID, "blob of %zu bytes is NULL",
                                v->blob.n);
                return;
            }
            if (v->blob.n >= PROTO_MAX_BODY) {
                proto__enc_fail(e, WR_TOOBIG, "blob of %zu bytes", v->blob.n);
                return;
            }
            enc_add(e, PROTO_WORD + pad8(v->blob.n));
            return;
        default:
            enc_add(e, PROTO_WORD);
            return;
    }
}

void proto__value_put(struct wr *w, const struct value *v, int hint)
{
    uint64_t bits;

    switch (proto_wire_type(v, hint)) {
        case PROTO_INTEGER:
        case PROTO_UNIXTIME:
            wr_u64(w, (uint64_t)v->integer);
            break;
        case PROTO_BOOLEAN:
            /* spec: 0 for false and 1 for true. */
            wr_u64(w, v->integer != 0 ? 1 : 0);
            break;
        case PROTO_FLOAT:
            memcpy(&bits, &v->real, sizeof bits);
            wr_u64(w, bits);
            break;
        case PROTO_TEXT:
        case PROTO_ISO8601:
            wr_text(w, v->text.p, v->text.n);
            break;
        case PROTO_BLOB:
            wr_u64(w, v->blob.n);
            wr_bytes_padded(w, v->blob.p, v->blob.n);
            break;
        default: /* PROTO_NULL; the size pass refused anything else. */
            wr_u64(w, 0);
            break;
    }
}

int proto__value_get(struct rd *r,
                     int wire,
                     const struct proto_limits *lim,
                     struct proto_value *out,
                     char *errmsg)
{
    uint64_t u = 0;
    const char *s;
    size_t n;
    int rv;

    memset(out, 0, sizeof *out);
    out->wire = wire;
    switch (wire) {
        case PROTO_INTEGER:
        case PROTO_UNIXTIME:
        case PROTO_BOOLEAN:
        case PROTO_FLOAT:
        case PROTO_NULL:
            rv = rd_u64(r, &u, errmsg);
            if (rv != 0) {
                return rv;
            }
            break;
        case PROTO_TEXT:
        case PROTO_ISO8601:
            rv = rd_text(r, lim->max_text, &s, &n, errmsg);
            if (rv != 0) {
                return rv;
            }
            out->v.type = VALUE_TEXT;
            out->v.text.p = (char *)s; /* Zero-copy: see wire.h. */
            out->v.text.n = n;
            return 0;
        case PROTO_BLOB:
            rv = rd_u64(r, &u, errmsg);
            if (rv != 0) {
                return rv;
            }
            if (u > lim->max_blob) {
                err_printf(errmsg,
                           "blob of %llu bytes exceeds the limit of "
                           "%llu",
                           (unsigned long long)u,
                           (unsigned long long)lim->max_blob);
                return WR_TOOBIG;
            }
            /* u <= left first, so that pad8() cannot wrap. */
            if (u > rd_left(r) || pad8(u) > rd_left(r)) {
                err_printf(errmsg,
                           "blob of %llu bytes runs past the %zu "
                           "bytes left",
                           (unsigned long long)u, rd_left(r));
                return WR_CORRUPT;
            }
            out->v.type = VALUE_BLOB;
            out->v.blob.p = (void *)r->p; /* Zero-copy: see wire.h. */
            out->v.blob.n = (size_t)u;
            rd_skip(r, (size_t)pad8(u));
            return 0;
        default:
            err_printf(errmsg, "unknown value type code %d", wire);
            return WR_CORRUPT;
    }
    switch (wire) {
        case PROTO_INTEGER:
        case PROTO_UNIXTIME:
            out->v.type = VALUE_INTEGER;
            out->v.integer = (int64_t)u;
            break;
        case PROTO_BOOLEAN:
            out->v.type = VALUE_INTEGER;
            out->v.integer = u != 0;
            break;
        case PROTO_FLOAT:
            out->v.type = VALUE_FLOAT;
            memcpy(&out->v.real, &u, sizeof u);
            break;
        default:
            out->v.type = VALUE_NULL;
            break;
    }
    return 0;
}

/*
 * Parameters.
 */

uint8_t proto_params_schema(uint32_t n)
{
    return n <= UINT8_MAX ? 0 : 1;
}

/* Bytes of the count: u8 with schema 0, u32 with schema 1. */
static unsigned count_width(uint8_t schema)
{
    return schema == 0 ? 1 : 4;
}

/* Count, type codes and padding. */
static uint64_t params_header_size(uint8_t schema, uint32_t n)
{
    return pad8((uint64_t)count_width(schema) + n);
}

void proto_params_iter_init(struct proto_params_iter *it,
                            const struct proto_params *params)
{
    it->params = params;
    it->i = 0;
    it->p = params->data.p;
}

bool proto_params_next(struct proto_params_iter *it, struct proto_value *out)
{
    const struct proto_params *ps = it->params;
    char errmsg[WR_ERRMSG_SIZE];
    struct rd r;
    int rv;

    if (it->i >= ps->n) {
        return false;
    }
    if (ps->values != NULL) {
        *out = ps->values[it->i++];
        return true;
    }
    r.p = it->p;
    r.end = ps->data.p + ps->data.len;
    rv = proto__value_get(&r, ps->types.p[it->i], &unlimited, out, errmsg);
    assert(rv == 0); /* Checked by proto__get_PARAMS(). */
    (void)rv;
    it->p = r.p;
    it->i++;
    return true;
}

/* No parameters: nothing at all on the wire (go-dqlite putNamedValues). A
 * decoded list (values NULL) is re-encoded from its view: the type codes
 * re-laid for the schema, the checked value bytes copied. */
void proto__size_PARAMS(struct enc *e, const struct proto_params *p)
{
    if (p->n == 0) {
        return;
    }
    if (e->schema == 0 && p->n > UINT8_MAX) {
        proto__enc_fail(e, WR_INVALID,
                        "%u parameters need schema 1 (a u8 count holds 255)",
                        p->n);
        return;
    }
    enc_add(e, params_header_size(e->schema, p->n));
    if (p->values == NULL) {
        if (p->types.p == NULL || p->types.len < p->n) {
            proto__enc_fail(e, WR_INVALID, "%u parameters but no values", p->n);
            return;
        }
        enc_add(e, p->data.len);
        return;
    }
    for (uint32_t i = 0; i < p->n && e->rv == 0; i++) {
        proto__value_size(e, &p->values[i].v, p->values[i].wire);
        if (e->rv != 0) {
            err_wrap(e->errmsg, "parameter %u", i + 1);
        }
    }
}

void proto__put_PARAMS(struct wr *w,
                       const struct proto_params *p,
                       struct enc *e)
{
    uint8_t *start = w->p;

    if (p->n == 0) {
        return;
    }
    if (e->schema == 0) {
        wr_u8(w, (uint8_t)p->n);
    } else {
        wr_u32(w, p->n);
    }
    for (uint32_t i = 0; i < p->n; i++) {
        int t = p->values != NULL
                    ? proto_wire_type(&p->values[i].v, p->values[i].wire)
                    : p->types.p[i];
        wr_u8(w, (uint8_t)t);
    }
    w->p = start + params_header_size(e->schema, p->n);
    if (p->values == NULL) {
        if (p->data.len > 0) {
            memcpy(w->p, p->data.p, p->data.len);
        }
        w->p += p->data.len;
        return;
    }
    for (uint32_t i = 0; i < p->n; i++) {
        proto__value_put(w, &p->values[i].v, p->values[i].wire);
    }
}

int proto__get_PARAMS(struct rd *r, struct proto_params *p, struct dec *d)
{
    uint64_t types_size;
    uint32_t n = 0;
    uint8_t n8;
    int rv;

    memset(p, 0, sizeof *p);
    /* Body exhausted: no parameters (bind.c bind__params). */
    if (rd_left(r) == 0) {
        p->types.p = r->p;
        p->data.p = r->p;
        return 0;
    }
    if (d->schema == 0) {
        rv = rd_u8(r, &n8, d->errmsg);
        n = n8;
    } else {
        rv = rd_u32(r, &n, d->errmsg);
    }
    if (rv != 0) {
        return rv;
    }
    if (n > d->lim->max_params) {
        err_printf(d->errmsg, "%u parameters exceed the limit of %u", n,
                   d->lim->max_params);
        return WR_TOOBIG;
    }
    types_size = params_header_size(d->schema, n) - count_width(d->schema);
    if (types_size > rd_left(r)) {
        err_printf(d->errmsg,
                   "type codes of %u parameters need %llu bytes, %zu left", n,
                   (unsigned long long)types_size, rd_left(r));
        return WR_CORRUPT;
    }
    p->types.p = r->p;
    p->types.len = n;
    rd_skip(r, (size_t)types_size);
    /* Every value takes at least a word: refuse an absurd count at once. */
    if ((uint64_t)n * PROTO_WORD > rd_left(r)) {
        err_printf(d->errmsg,
                   "%u parameters need at least %llu bytes, %zu left", n,
                   (unsigned long long)n * PROTO_WORD, rd_left(r));
        return WR_CORRUPT;
    }
    p->data.p = r->p;
    for (uint32_t i = 0; i < n; i++) {
        struct proto_value v;
        int t = p->types.p[i];
        if (!proto__wire_type_valid(t)) {
            err_printf(d->errmsg, "parameter %u: unknown type code %d", i + 1,
                       t);
            return WR_CORRUPT;
        }
        rv = proto__value_get(r, t, d->lim, &v, d->errmsg);
        if (rv != 0) {
            err_wrap(d->errmsg, "parameter %u (%s)", i + 1, type_name(t));
            return rv;
        }
    }
    p->data.len = (size_t)(r->p - p->data.p);
    p->n = n;
    return 0;
}

/*
 * Servers (SERVERS): u64 n, then n x (u64 id, text address[, u64 role]).
 */

void proto_nodes_iter_init(struct proto_iter *it, const struct proto_nodes *l)
{
    it->array = l->nodes;
    it->p = l->raw.p;
    it->i = 0;
    it->n = l->n;
    it->with_role = l->with_role;
}

bool proto_nodes_next(struct proto_iter *it, struct proto_node *out)
{
    const uint8_t *p = it->p;
    size_t n;

    if (it->i >= it->n) {
        return false;
    }
    if (it->array != NULL) {
        *out = ((const struct proto_node *)it->array)[it->i++];
        return true;
    }
    /* Checked by nodes_get(): the NUL and the padding are there. */
    out->id = get_le64(p);
    p += 8;
    out->address = (const char *)p;
    n = strlen(out->address);
    p += pad8((uint64_t)n + 1);
    out->role = 0;
    if (it->with_role) {
        out->role = get_le64(p);
        p += 8;
    }
    it->p = p;
    it->i++;
    return true;
}

static void nodes_size(struct enc *e, const struct proto_nodes *l, bool role)
{
    enc_add(e, PROTO_WORD);
    if (l->nodes == NULL) {
        if (l->n > 0 && (l->raw.p == NULL || l->with_role != role)) {
            proto__enc_fail(e, WR_INVALID, "%llu servers but no array",
                            (unsigned long long)l->n);
            return;
        }
        enc_add(e, l->raw.len);
        return;
    }
    for (uint64_t i = 0; i < l->n; i++) {
        enc_add(e,
                PROTO_WORD + pad8((uint64_t)text_len(l->nodes[i].address) + 1));
        if (role) {
            enc_add(e, PROTO_WORD);
        }
    }
}

static void nodes_put(struct wr *w, const struct proto_nodes *l, bool role)
{
    wr_u64(w, l->n);
    if (l->nodes == NULL) {
        if (l->raw.len > 0) {
            memcpy(w->p, l->raw.p, l->raw.len);
        }
        w->p += l->raw.len;
        return;
    }
    for (uint64_t i = 0; i < l->n; i++) {
        const struct proto_node *s = &l->nodes[i];
        wr_u64(w, s->id);
        wr_text(w, s->address, text_len(s->address));
        if (role) {
            wr_u64(w, s->role);
        }
    }
}

static int nodes_get(struct rd *r,
                     struct proto_nodes *l,
                     struct dec *d,
                     bool role)
{
    uint64_t min = role ? 24 : 16; /* id, shortest text[, role] */
    uint64_t n;
    int rv;

    memset(l, 0, sizeof *l);
    l->with_role = role;
    rv = rd_u64(r, &n, d->errmsg);
    if (rv != 0) {
        return rv;
    }
    if (n > rd_left(r) / min) {
        err_printf(d->errmsg,
                   "%llu servers need at least %llu bytes each, "
                   "%zu left",
                   (unsigned long long)n, (unsigned long long)min, rd_left(r));
        return WR_CORRUPT;
    }
    l->raw.p = r->p;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t u;
        const char *addr;
        rv = rd_u64(r, &u, d->errmsg);
        if (rv == 0) {
            rv = rd_text(r, d->lim->max_text, &addr, NULL, d->errmsg);
        }
        if (rv == 0 && role) {
            rv = rd_u64(r, &u, d->errmsg);
        }
        if (rv != 0) {
            err_wrap(d->errmsg, "server %llu", (unsigned long long)i + 1);
            return rv;
        }
    }
    l->raw.len = (size_t)(r->p - l->raw.p);
    l->n = n;
    return 0;
}

void proto__size_NODES(struct enc *e, const struct proto_nodes *l)
{
    nodes_size(e, l, true);
}

void proto__put_NODES(struct wr *w, const struct proto_nodes *l, struct enc *e)
{
    (void)e;
    nodes_put(w, l, true);
}

int proto__get_NODES(struct rd *r, struct proto_nodes *l, struct dec *d)
{
    return nodes_get(r, l, d, true);
}

void proto__size_NODES0(struct enc *e, const struct proto_nodes *l)
{
    nodes_size(e, l, false);
}

void proto__put_NODES0(struct wr *w, const struct proto_nodes *l, struct enc *e)
{
    (void)e;
    nodes_put(w, l, false);
}

int proto__get_NODES0(struct rd *r, struct proto_nodes *l, struct dec *d)
{
    return nodes_get(r, l, d, false);
}

/*
 * Files (FILES): u64 n, then n x (text name, u64 size, bytes, padding).
 */

void proto_files_iter_init(struct proto_iter *it, const struct proto_files *l)
{
    it->array = l->files;
    it->p = l->raw.p;
    it->i = 0;
    it->n = l->n;
    it->with_role = false;
}

bool proto_files_next(struct proto_iter *it, struct proto_file *out)
{
    const uint8_t *p = it->p;

    if (it->i >= it->n) {
        return false;
    }
    if (it->array != NULL) {
        *out = ((const struct proto_file *)it->array)[it->i++];
        return true;
    }
    /* Checked by proto__get_FILES(). */
    out->name = (const char *)p;
    p += pad8((uint64_t)strlen(out->name) + 1);
    out->size = get_le64(p);
    p += 8;
    out->data = p;
    p += pad8(out->size);
    it->p = p;
    it->i++;
    return true;
}

void proto__size_FILES(struct enc *e, const struct proto_files *l)
{
    enc_add(e, PROTO_WORD);
    if (l->files == NULL) {
        if (l->n > 0 && l->raw.p == NULL) {
            proto__enc_fail(e, WR_INVALID, "%llu files but no array",
                            (unsigned long long)l->n);
            return;
        }
        enc_add(e, l->raw.len);
        return;
    }
    for (uint64_t i = 0; i < l->n; i++) {
        const struct proto_file *f = &l->files[i];
        if (f->data == NULL && f->size > 0) {
            proto__enc_fail(e, WR_INVALID, "file %llu: %llu bytes of NULL",
                            (unsigned long long)i + 1,
                            (unsigned long long)f->size);
            return;
        }
        if (f->size >= PROTO_MAX_BODY) {
            proto__enc_fail(e, WR_TOOBIG, "file %llu: %llu bytes",
                            (unsigned long long)i + 1,
                            (unsigned long long)f->size);
            return;
        }
        enc_add(e, pad8((uint64_t)text_len(f->name) + 1) + PROTO_WORD +
                       pad8(f->size));
    }
}

void proto__put_FILES(struct wr *w, const struct proto_files *l, struct enc *e)
{
    (void)e;
    wr_u64(w, l->n);
    if (l->files == NULL) {
        if (l->raw.len > 0) {
            memcpy(w->p, l->raw.p, l->raw.len);
        }
        w->p += l->raw.len;
        return;
    }
    for (uint64_t i = 0; i < l->n; i++) {
        const struct proto_file *f = &l->files[i];
        wr_text(w, f->name, text_len(f->name));
        wr_u64(w, f->size);
        wr_bytes_padded(w, f->data, (size_t)f->size);
    }
}

int proto__get_FILES(struct rd *r, struct proto_files *l, struct dec *d)
{
    uint64_t n;
    int rv;

    memset(l, 0, sizeof *l);
    rv = rd_u64(r, &n, d->errmsg);
    if (rv != 0) {
        return rv;
    }
    if (n > rd_left(r) / 16) { /* shortest name and the size */
        err_printf(d->errmsg,
                   "%llu files need at least 16 bytes each, %zu "
                   "left",
                   (unsigned long long)n, rd_left(r));
        return WR_CORRUPT;
    }
    l->raw.p = r->p;
    for (uint64_t i = 0; i < n; i++) {
        const char *name;
        uint64_t size = 0;
        rv = rd_text(r, d->lim->max_text, &name, NULL, d->errmsg);
        if (rv == 0) {
            rv = rd_u64(r, &size, d->errmsg);
        }
        if (rv == 0 && (size > rd_left(r) || pad8(size) > rd_left(r))) {
            err_printf(d->errmsg,
                       "%llu bytes of content run past the %zu "
                       "bytes left",
                       (unsigned long long)size, rd_left(r));
            rv = WR_CORRUPT;
        }
        if (rv != 0) {
            err_wrap(d->errmsg, "file %llu", (unsigned long long)i + 1);
            return rv;
        }
        rd_skip(r, (size_t)pad8(size));
    }
    l->raw.len = (size_t)(r->p - l->raw.p);
    l->n = n;
    return 0;
}

/*
 * Rows (ROWS): u64 column count, the names, rows, the end marker.
 */

/* Bytes of a row's type-code header: a nibble per column, padded. */
static uint64_t row_header_size(uint64_t n_cols)
{
    return pad8((n_cols + 1) / 2);
}

static int row_type(const uint8_t *header, uint64_t c)
{
    uint8_t b = header[c / 2];
    return c % 2 == 0 ? (b & 0x0f) : (b >> 4);
}

static void row_size(struct enc *e,
                     uint64_t n_cols,
                     const struct value *row,
                     const uint8_t *hints)
{
    enc_add(e, row_header_size(n_cols));
    for (uint64_t c = 0; c < n_cols && e->rv == 0; c++) {
        proto__value_size(e, &row[c], hints != NULL ? hints[c] : 0);
        if (e->rv != 0) {
            err_wrap(e->errmsg, "column %llu", (unsigned long long)c + 1);
        }
    }
}

/* The memory under @w is zero (buf_append), so the nibbles are or-ed in. */
static void row_put(struct wr *w,
                    uint64_t n_cols,
                    const struct value *row,
                    const uint8_t *hints)
{
    for (uint64_t c = 0; c < n_cols; c++) {
        int t = proto_wire_type(&row[c], hints != NULL ? hints[c] : 0);
        w->p[c / 2] |= (uint8_t)(c % 2 == 0 ? t : t << 4);
    }
    w->p += row_header_size(n_cols);
    for (uint64_t c = 0; c < n_cols; c++) {
        proto__value_put(w, &row[c], hints != NULL ? hints[c] : 0);
    }
}

static uint64_t names_size(uint64_t n_cols, const char *const *names)
{
    uint64_t size = 0;
    for (uint64_t c = 0; c < n_cols; c++) {
        size += pad8((uint64_t)text_len(names[c]) + 1);
    }
    return size;
}

static void names_put(struct wr *w, uint64_t n_cols, const char *const *names)
{
    for (uint64_t c = 0; c < n_cols; c++) {
        wr_text(w, names[c], text_len(names[c]));
    }
}

void proto_rows_names(const struct proto_rowset *rs, const char **names)
{
    const uint8_t *p = rs->names_raw.p;

    if (rs->names != NULL) { /* Filled by a caller to encode. */
        for (uint64_t c = 0; c < rs->n_cols; c++) {
            names[c] = rs->names[c] != NULL ? rs->names[c] : "";
        }
        return;
    }
    for (uint64_t c = 0; c < rs->n_cols; c++) {
        names[c] = (const char *)p;
        p += pad8((uint64_t)strlen((const char *)p) + 1);
    }
}

void proto_rows_iter_init(struct proto_rows_iter *it,
                          const struct proto_rowset *rs)
{
    it->rs = rs;
    it->p = rs->rows_raw.p;
    it->end = rs->rows_raw.p != NULL ? rs->rows_raw.p + rs->rows_raw.len : NULL;
}

bool proto_rows_next(struct proto_rows_iter *it, struct proto_value *row)
{
    uint64_t n_cols = it->rs->n_cols;
    char errmsg[WR_ERRMSG_SIZE];
    const uint8_t *header;
    struct rd r;

    if (it->p >= it->end) {
        return false;
    }
    r.p = it->p;
    r.end = it->end;
    header = r.p;
    rd_skip(&r, (size_t)row_header_size(n_cols));
    for (uint64_t c = 0; c < n_cols; c++) {
        int rv = proto__value_get(&r, row_type(header, c), &unlimited, &row[c],
                                  errmsg);
        assert(rv == 0); /* Checked by proto__get_ROWSET(). */
        (void)rv;
    }
    it->p = r.p;
    return true;
}

static bool marker_valid(uint64_t m)
{
    return m == PROTO_ROWS_DONE || m == PROTO_ROWS_PART;
}

/* A ROWS without columns is refused both ways: dqlite never sends one
 * (query.c query__batch fails), and its rows would be empty, which
 * go-dqlite would read forever. */
void proto__size_ROWSET(struct enc *e, const struct proto_rowset *rs)
{
    if (rs->n_cols == 0) {
        proto__enc_fail(e, WR_INVALID, "ROWS needs at least one column");
        return;
    }
    if (!marker_valid(rs->marker)) {
        proto__enc_fail(e, WR_INVALID,
                        "end marker %#llx is neither DONE "
                        "nor PART",
                        (unsigned long long)rs->marker);
        return;
    }
    enc_add(e, PROTO_WORD);
    if (rs->names == NULL) {
        /* A decoded rowset is re-encoded from its views. */
        if (rs->names_raw.p == NULL || rs->rows_raw.p == NULL) {
            proto__enc_fail(e, WR_INVALID, "no column names");
            return;
        }
        enc_add(e, rs->names_raw.len + rs->rows_raw.len + PROTO_WORD);
        return;
    }
    if (rs->n_cols > UINT32_MAX) {
        proto__enc_fail(e, WR_INVALID, "%llu columns",
                        (unsigned long long)rs->n_cols);
        return;
    }
    if (rs->values == NULL && rs->n_rows > 0) {
        proto__enc_fail(e, WR_INVALID, "%zu rows but no values", rs->n_rows);
        return;
    }
    enc_add(e, names_size(rs->n_cols, rs->names));
    for (size_t i = 0; i < rs->n_rows && e->rv == 0; i++) {
        size_t off = i * (size_t)rs->n_cols;
        row_size(e, rs->n_cols, rs->values + off,
                 rs->wire_types != NULL ? rs->wire_types + off : NULL);
        if (e->rv != 0) {
            err_wrap(e->errmsg, "row %zu", i + 1);
        }
    }
    enc_add(e, PROTO_WORD);
}

void proto__put_ROWSET(struct wr *w,
                       const struct proto_rowset *rs,
                       struct enc *e)
{
    (void)e;
    wr_u64(w, rs->n_cols);
    if (rs->names == NULL) {
        memcpy(w->p, rs->names_raw.p, rs->names_raw.len);
        w->p += rs->names_raw.len;
        if (rs->rows_raw.len > 0) {
            memcpy(w->p, rs->rows_raw.p, rs->rows_raw.len);
        }
        w->p += rs->rows_raw.len;
    } else {
        names_put(w, rs->n_cols, rs->names);
        for (size_t i = 0; i < rs->n_rows; i++) {
            size_t off = i * (size_t)rs->n_cols;
            row_put(w, rs->n_cols, rs->values + off,
                    rs->wire_types != NULL ? rs->wire_types + off : NULL);
        }
    }
    wr_u64(w, rs->marker);
}

int proto__get_ROWSET(struct rd *r, struct proto_rowset *rs, struct dec *d)
{
    uint64_t n_cols;
    uint64_t header_size;
    uint64_t c;
    int rv;

    memset(rs, 0, sizeof *rs);
    rv = rd_u64(r, &n_cols, d->errmsg);
    if (rv != 0) {
        return rv;
    }
    if (n_cols == 0) {
        err_printf(d->errmsg, "no columns");
        return WR_CORRUPT;
    }
    if (n_cols > d->lim->max_columns) {
        err_printf(d->errmsg, "%llu columns exceed the limit of %u",
                   (unsigned long long)n_cols, d->lim->max_columns);
        return WR_TOOBIG;
    }
    if (n_cols > rd_left(r) / PROTO_WORD) {
        err_printf(d->errmsg,
                   "%llu column names need at least %llu bytes, "
                   "%zu left",
                   (unsigned long long)n_cols,
                   (unsigned long long)n_cols * PROTO_WORD, rd_left(r));
        return WR_CORRUPT;
    }
    rs->names_raw.p = r->p;
    for (c = 0; c < n_cols; c++) {
        const char *name;
        rv = rd_text(r, d->lim->max_text, &name, NULL, d->errmsg);
        if (rv != 0) {
            err_wrap(d->errmsg, "column %llu name", (unsigned long long)c + 1);
            return rv;
        }
    }
    rs->names_raw.len = (size_t)(r->p - rs->names_raw.p);
    rs->rows_raw.p = r->p;
    header_size = row_header_size(n_cols);
    for (;;) {
        const uint8_t *header;
        uint64_t word;
        if (rd_left(r) < PROTO_WORD) {
            err_printf(d->errmsg, "no end marker after %zu rows", rs->n_rows);
            return WR_CORRUPT;
        }
        word = get_le64(r->p);
        if (marker_valid(word)) {
            rs->rows_raw.len = (size_t)(r->p - rs->rows_raw.p);
            rs->marker = word;
            rd_skip(r, PROTO_WORD);
            break;
        }
        if (header_size > rd_left(r)) {
            err_printf(d->errmsg,
                       "row %zu: type codes need %llu bytes, %zu "
                       "left",
                       rs->n_rows + 1, (unsigned long long)header_size,
                       rd_left(r));
            return WR_CORRUPT;
        }
        header = r->p;
        rd_skip(r, (size_t)header_size);
        for (c = 0; c < n_cols; c++) {
            struct proto_value v;
            int t = row_type(header, c);
            if (!proto__wire_type_valid(t)) {
                err_printf(d->errmsg,
                           "row %zu column %llu: unknown type "
                           "code %d",
                           rs->n_rows + 1, (unsigned long long)c + 1, t);
                return WR_CORRUPT;
            }
            rv = proto__value_get(r, t, d->lim, &v, d->errmsg);
            if (rv != 0) {
                err_wrap(d->errmsg, "row %zu column %llu (%s)", rs->n_rows + 1,
                         (unsigned long long)c + 1, type_name(t));
                return rv;
            }
        }
        rs->n_rows++;
    }
    rs->n_cols = n_cols;
    return 0;
}

/*
 * Streaming ROWS.
 */

static int rows_begin(struct proto_rows_writer *w,
                      struct buf *b,
                      bool ext,
                      uint64_t bookmark,
                      unsigned n_cols,
                      const char *const *names,
                      size_t budget,
                      char *errmsg)
{
    size_t lead = ext ? PROTO_WORD : 0;
    uint64_t size;
    struct wr wr;
    uint8_t *p;

    if (n_cols == 0 || names == NULL) {
        err_printf(errmsg, "encode ROWS: %s",
                   n_cols == 0 ? "needs at least one column"
                               : "no column names");
        return WR_INVALID;
    }
    size = lead + PROTO_WORD + names_size(n_cols, names);
    if (size + PROTO_WORD > PROTO_MAX_BODY) {
        err_printf(errmsg, "encode ROWS: %llu bytes of column names",
                   (unsigned long long)size);
        return WR_TOOBIG;
    }
    p = buf_append(b, PROTO_HEADER_SIZE + (size_t)size);
    if (p == NULL) {
        err_printf(errmsg, "encode ROWS: out of memory");
        return WR_NOMEM;
    }
    w->buf = b;
    w->start = b->len - PROTO_HEADER_SIZE - (size_t)size;
    w->budget = budget;
    w->n_cols = n_cols;
    w->n_rows = 0;
    w->ext = ext;
    wr.p = p + PROTO_HEADER_SIZE;
    if (ext) {
        wr_u64(&wr, bookmark);
    }
    wr_u64(&wr, n_cols);
    names_put(&wr, n_cols, names);
    return 0;
}

int proto_rows_begin(struct proto_rows_writer *w,
                     struct buf *b,
                     unsigned n_cols,
                     const char *const *names,
                     size_t budget,
                     char *errmsg)
{
    return rows_begin(w, b, false, 0, n_cols, names, budget, errmsg);
}

int proto_rows_begin_ext(struct proto_rows_writer *w,
                         struct buf *b,
                         uint64_t bookmark,
                         unsigned n_cols,
                         const char *const *names,
                         size_t budget,
                         char *errmsg)
{
    return rows_begin(w, b, true, bookmark, n_cols, names, budget, errmsg);
}

int proto_rows_add(struct proto_rows_writer *w,
                   const struct value *row,
                   const uint8_t *wire_types,
                   bool *added,
                   char *errmsg)
{
    struct enc e = {.schema = 0, .size = 0, .rv = 0, .errmsg = errmsg};
    uint64_t body = w->buf->len - w->start - PROTO_HEADER_SIZE;
    uint64_t after;
    struct wr wr;
    uint8_t *p;

    *added = false;
    row_size(&e, w->n_cols, row, wire_types);
    if (e.rv != 0) {
        err_wrap(errmsg, "encode ROWS: row %zu", w->n_rows + 1);
        return e.rv;
    }
    /* body <= PROTO_MAX_BODY, so with e.size checked first this cannot
     * wrap. The end marker is counted in. */
    after = e.size > PROTO_MAX_BODY ? UINT64_MAX : body + e.size + PROTO_WORD;
    if (after > PROTO_MAX_BODY) {
        if (w->n_rows > 0) {
            return 0; /* It may fit in a message of its own. */
        }
        err_printf(errmsg,
                   "encode ROWS: row of %llu bytes does not fit in a "
                   "message",
                   (unsigned long long)e.size);
        return WR_TOOBIG;
    }
    if (w->n_rows > 0 && after > w->budget) {
        return 0;
    }
    p = buf_append(w->buf, (size_t)e.size);
    if (p == NULL) {
        err_printf(errmsg, "encode ROWS: out of memory");
        return WR_NOMEM;
    }
    wr.p = p;
    row_put(&wr, w->n_cols, row, wire_types);
    assert(wr.p == w->buf->p + w->buf->len);
    w->n_rows++;
    *added = true;
    return 0;
}

int proto_rows_finish(struct proto_rows_writer *w, bool more)
{
    struct proto_header h;
    uint8_t *p = buf_append(w->buf, PROTO_WORD);
    size_t body;

    if (p == NULL) {
        proto_rows_abort(w);
        return WR_NOMEM;
    }
    put_le64(p, more ? PROTO_ROWS_PART : PROTO_ROWS_DONE);
    body = w->buf->len - w->start - PROTO_HEADER_SIZE;
    assert(body % PROTO_WORD == 0 && body <= PROTO_MAX_BODY);
    h.words = (uint32_t)(body / PROTO_WORD);
    h.type = (uint8_t)proto_response_wire_type(
        w->ext ? PROTO_RESP_ROWS_EXT : PROTO_RESP_ROWS);
    h.schema = 0;
    h.extra = 0;
    proto_header_encode(w->buf->p + w->start, &h);
    return 0;
}

void proto_rows_abort(struct proto_rows_writer *w)
{
    buf_truncate(w->buf, w->start);
}

int proto_rows_encode(struct buf *b,
                      unsigned n_cols,
                      const char *const *names,
                      const struct value *values,
                      const uint8_t *wire_types,
                      size_t n_rows,
                      size_t budget,
                      size_t *n_done,
                      char *errmsg)
{
    struct proto_rows_writer w;
    size_t i;
    int rv;

    *n_done = 0;
    rv = proto_rows_begin(&w, b, n_cols, names, budget, errmsg);
    if (rv != 0) {
        return rv;
    }
    for (i = 0; i < n_rows; i++) {
        size_t off = i * n_cols;
        bool added;
        rv = proto_rows_add(&w, values + off,
                            wire_types != NULL ? wire_types + off : NULL,
                            &added, errmsg);
        if (rv != 0) {
            proto_rows_abort(&w);
            return rv;
        }
        if (!added) {
            break;
        }
    }
    rv = proto_rows_finish(&w, i < n_rows);
    if (rv != 0) {
        err_printf(errmsg, "encode ROWS: out of memory");
        return rv;
    }
    *n_done = i;
    return 0;
}
