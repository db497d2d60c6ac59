/*
 * Statements (walraft.h): where one statement of a SQL string ends, what
 * kind it is, its bindings, and the rows it hands out.
 *
 * The library does not link SQLite and the node prepares statements
 * itself, so the library only needs two facts about a statement, both read
 * from its first words: whether it may return rows (then it is sent as
 * QUERY_SQL, else EXEC_SQL), and whether it may change anything (then a
 * retry after a lost answer needs an exactly-once id, which only EXEC
 * requests carry). SELECT, VALUES and EXPLAIN read; WITH and PRAGMA may
 * read or write, and so may any statement with RETURNING; the rest write.
 * A WITH or PRAGMA that turns out to return no rows is refused by the node
 * before it runs ("send it with EXEC"), and resent as EXEC (route.c).
 *
 * Rows are copied out of the connection's buffer as each ROWS message
 * arrives: the connection is free for the next request, and another
 * statement's request first drains what is still coming for this one
 * (route_drain()), so statements can be stepped in any interleaving, as in
 * SQLite.
 */
#include "api.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Skip blanks and comments. */
static const char *skip_space(const char *p, const char *end)
{
    while (p < end) {
        if (isspace((unsigned char)*p)) {
            p++;
        } else if (p + 1 < end && p[0] == '-' && p[1] == '-') {
            while (p < end && *p != '\n') {
                p++;
            }
        } else if (p + 1 < end && p[0] == '/' && p[1] == '*') {
            const char *close = NULL;
            const char *q;
            for (q = p + 2; q + 1 < end; q++) {
                if (q[0] == '*' && q[1] == '/') {
                    close = q;
                    break;
                }
            }
            p = close != NULL ? close + 2 : end;
        } else {
            break;
        }
    }
    return p;
}

/* Length of the word at @p (letters, digits, underscores). */
static size_t word_len(const char *p, const char *end)
{
    size_t n = 0;
    while (p + n < end && (isalnum((unsigned char)p[n]) || p[n] == '_')) {
        n++;
    }
    return n;
}

static bool word_is(const char *p, size_t n, const char *word)
{
    return n == strlen(word) && strncasecmp(p, word, n) == 0;
}

/* Where the statement starting at @p ends: just past its ';', or @end.
 * Quotes, comments and the body of a CREATE TRIGGER are stepped over. As
 * in sqlite3_complete(), a trigger ends at "; END ;": an END that is the
 * first word after a ';' (the END of a CASE inside the body never is). */
static const char *statement_end(const char *p, const char *end)
{
    bool trigger = false;
    bool after_semicolon = false; /* The last token was ';'. */
    bool last_end = false; /* The last token was an END right after a
                              ';'. */
    size_t words = 0;
    const char *first = NULL;
    size_t first_n = 0;

    while (p < end) {
        char c = *p;
        const char *q = skip_space(p, end);
        if (q != p) {
            p = q;
            continue;
        }
        if (c == '\'' || c == '"' || c == '`' || c == '[') {
            char close = c == '[' ? ']' : c;
            p++;
            while (p < end) {
                if (*p == close) {
                    if (close != ']' && p + 1 < end && p[1] == close) {
                        p += 2; /* A doubled quote. */
                        continue;
                    }
                    break;
                }
                p++;
            }
            p = p < end ? p + 1 : end;
            last_end = false;
            after_semicolon = false;
        } else if (c == ';') {
            p++;
            if (!trigger || last_end) {
                return p;
            }
            after_semicolon = true;
            last_end = false;
        } else if (isalnum((unsigned char)c) || c == '_') {
            size_t n = word_len(p, end);
            words++;
            if (words == 1) {
                first = p;
                first_n = n;
            } else if (words <= 3 && word_is(first, first_n, "CREATE") &&
                       word_is(p, n, "TRIGGER")) {
                trigger = true;
            }
            last_end = after_semicolon && word_is(p, n, "END");
            after_semicolon = false;
            p += n;
        } else {
            last_end = false;
            after_semicolon = false;
            p++;
        }
    }
    return end;
}

/* Whether the word RETURNING appears outside quotes in @p..@end. */
static bool has_returning(const char *p, const char *end)
{
    while (p < end) {
        char c = *p;
        const char *q = skip_space(p, end);
        if (q != p) {
            p = q;
        } else if (c == '\'' || c == '"' || c == '`' || c == '[') {
            char close = c == '[' ? ']' : c;
            for (p++; p < end && *p != close; p++) {
            }
            p = p < end ? p + 1 : end;
        } else if (isalnum((unsigned char)c) || c == '_') {
            size_t n = word_len(p, end);
            if (word_is(p, n, "RETURNING")) {
                return true;
            }
            p += n;
        } else {
            p++;
        }
    }
    return false;
}

enum stmt_kind stmt_classify(const char *sql)
{
    const char *end = sql + strlen(sql);
    const char *p = skip_space(sql, end);
    size_t n;

    while (p < end && *p == '(') { /* (SELECT ...) UNION ... */
        p = skip_space(p + 1, end);
    }
    n = word_len(p, end);
    if (word_is(p, n, "BEGIN")) {
        return KIND_BEGIN;
    }
    if (word_is(p, n, "COMMIT") || word_is(p, n, "END")) {
        return KIND_COMMIT;
    }
    if (word_is(p, n, "ROLLBACK")) {
        /* ROLLBACK TO a savepoint keeps the transaction open. */
        const char *q = skip_space(p + n, end);
        size_t m = word_len(q, end);
        if (word_is(q, m, "TRANSACTION")) {
            q = skip_space(q + m, end);
            m = word_len(q, end);
        }
        return word_is(q, m, "TO") ? KIND_WRITE : KIND_ROLLBACK;
    }
    if (has_returning(p, end)) {
        return KIND_ROWS;
    }
    if (word_is(p, n, "SELECT") || word_is(p, n, "VALUES") ||
        word_is(p, n, "EXPLAIN")) {
        return KIND_READ;
    }
    if (word_is(p, n, "WITH") || word_is(p, n, "PRAGMA")) {
        return KIND_ROWS;
    }
    return KIND_WRITE;
}

WR_API int wr_prepare(wr_db *db,
                      const char *sql,
                      int len,
                      wr_stmt **out,
                      const char **tail)
{
    const char *end;
    const char *start;
    const char *stop;
    wr_stmt *s;

    if (out == NULL || sql == NULL) {
        api_error(db, WR_INVALID, 0, true, "wr_prepare: no SQL or no out");
        return WR_INVALID;
    }
    *out = NULL;
    end = sql + (len < 0 ? strlen(sql) : strnlen(sql, (size_t)len));
    start = skip_space(sql, end);
    /* Empty statements (";;") are skipped, as SQLite does. */
    while (start < end && *start == ';') {
        start = skip_space(start + 1, end);
    }
    stop = statement_end(start, end);
    if (tail != NULL) {
        *tail = stop;
    }
    if (start == end) {
        return WR_OK;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        goto err_nomem;
    }
    s->sql = strndup(start, (size_t)(stop - start));
    if (s->sql == NULL) {
        free(s);
        goto err_nomem;
    }
    s->db = db;
    s->kind = stmt_classify(s->sql);
    s->next = db->stmts;
    if (db->stmts != NULL) {
        db->stmts->prev = s;
    }
    db->stmts = s;
    *out = s;
    return WR_OK;

err_nomem:
    api_error(db, WR_NOMEM, 0, true, "out of memory");
    return WR_NOMEM;
}

void stmt_clear_rows(struct wr_stmt *s, bool keep_names)
{
    size_t i;
    unsigned c;

    for (i = 0; i < s->n_rows * s->n_cols; i++) {
        value_clear(&s->vals[i]);
    }
    s->n_rows = 0;
    s->cursor = 0;
    if (s->scratch != NULL) {
        for (c = 0; c < s->n_cols; c++) {
            free(s->scratch[c]);
            s->scratch[c] = NULL;
        }
    }
    if (keep_names) {
        return;
    }
    for (c = 0; c < s->n_cols && s->names != NULL; c++) {
        free(s->names[c]);
    }
    free(s->names);
    free(s->scratch);
    free(s->vals);
    s->names = NULL;
    s->scratch = NULL;
    s->vals = NULL;
    s->cap_rows = 0;
    s->n_cols = 0;
}

/* Copy @from (pointing into a message) into @to, owned. */
static int copy_value(struct value *to, const struct proto_value *from)
{
    *to = from->v;
    switch (from->v.type) {
        case VALUE_TEXT:
            to->text.p = malloc(from->v.text.n + 1);
            if (to->text.p == NULL) {
                to->type = VALUE_NULL;
                return WR_NOMEM;
            }
            memcpy(to->text.p, from->v.text.p, from->v.text.n);
            to->text.p[from->v.text.n] = '\0';
            break;
        case VALUE_BLOB:
            /* One byte more, so that an empty blob is not a NULL pointer
             * and a blob read as text is NUL-terminated. */
            to->blob.p = malloc(from->v.blob.n + 1);
            if (to->blob.p == NULL) {
                to->type = VALUE_NULL;
                return WR_NOMEM;
            }
            memcpy(to->blob.p, from->v.blob.p, from->v.blob.n);
            ((char *)to->blob.p)[from->v.blob.n] = '\0';
            break;
        default:
            break;
    }
    return 0;
}

int stmt_add_rows(struct wr_stmt *s, const struct proto_rowset *rs)
{
    struct proto_value *row;
    struct proto_rows_iter it;
    unsigned c;
    int rv = 0;

    if (s->names == NULL) {
        const char **names = calloc(rs->n_cols, sizeof *names);
        s->names = calloc(rs->n_cols, sizeof *s->names);
        s->scratch = calloc(rs->n_cols, sizeof *s->scratch);
        if (names == NULL || s->names == NULL || s->scratch == NULL) {
            free(names);
            return WR_NOMEM;
        }
        s->n_cols = (unsigned)rs->n_cols;
        proto_rows_names(rs, names);
        for (c = 0; c < s->n_cols; c++) {
            s->names[c] = strdup(names[c]);
            if (s->names[c] == NULL) {
                rv = WR_NOMEM;
            }
        }
        free(names);
        if (rv != 0) {
            return rv;
        }
    }
    if (rs->n_cols != s->n_cols) {
        return WR_CORRUPT;
    }
    if (s->n_rows + rs->n_rows > s->cap_rows) {
        size_t cap = s->n_rows + rs->n_rows;
        struct value *grown;
        cap = cap < 2 * s->cap_rows ? 2 * s->cap_rows : cap;
        grown = realloc(s->vals, cap * s->n_cols * sizeof *grown);
        if (grown == NULL) {
            return WR_NOMEM;
        }
        s->vals = grown;
        s->cap_rows = cap;
    }
    row = calloc(s->n_cols, sizeof *row);
    if (row == NULL) {
        return WR_NOMEM;
    }
    proto_rows_iter_init(&it, rs);
    while (proto_rows_next(&it, row)) {
        struct value *to = &s->vals[s->n_rows * s->n_cols];
        for (c = 0; c < s->n_cols; c++) {
            to[c].type = VALUE_NULL;
        }
        s->n_rows++;
        for (c = 0; c < s->n_cols && rv == 0; c++) {
            rv = copy_value(&to[c], &row[c]);
        }
        if (rv != 0) {
            break;
        }
    }
    free(row);
    return rv;
}

/*
 * Bindings.
 */

/* The slot of parameter @i, growing the array; NULL with the handle's
 * error set if @i is out of range or memory is short. */
static struct value *param_slot(wr_stmt *s, int i)
{
    if (s->running) {
        api_error(s->db, WR_INVALID, 0, true,
                  "bind: the statement is running: reset it first");
        return NULL;
    }
    if (i < 1 || i > API_MAX_PARAMS) {
        api_error(s->db, WR_INVALID, 0, true,
                  "bind: parameter %d is out of range 1..%d", i,
                  API_MAX_PARAMS);
        return NULL;
    }
    if ((unsigned)i > s->n_params) {
        struct value *grown = realloc(s->params, (size_t)i * sizeof *grown);
        unsigned k;
        if (grown == NULL) {
            api_error(s->db, WR_NOMEM, 0, true, "out of memory");
            return NULL;
        }
        for (k = s->n_params; k < (unsigned)i; k++) {
            grown[k].type = VALUE_NULL;
        }
        s->params = grown;
        s->n_params = (unsigned)i;
    }
    value_clear(&s->params[i - 1]);
    return &s->params[i - 1];
}

WR_API int wr_bind_int64(wr_stmt *s, int i, int64_t v)
{
    struct value *slot = param_slot(s, i);
    if (slot == NULL) {
        return s->db->errcode;
    }
    slot->type = VALUE_INTEGER;
    slot->integer = v;
    return WR_OK;
}

WR_API int wr_bind_double(wr_stmt *s, int i, double v)
{
    struct value *slot = param_slot(s, i);
    if (slot == NULL) {
        return s->db->errcode;
    }
    slot->type = VALUE_FLOAT;
    slot->real = v;
    return WR_OK;
}

WR_API int wr_bind_null(wr_stmt *s, int i)
{
    struct value *slot = param_slot(s, i);
    return slot == NULL ? s->db->errcode : WR_OK;
}

WR_API int wr_bind_text(wr_stmt *s, int i, const char *p, int n)
{
    size_t len;
    struct value *slot;

    if (p == NULL) {
        return wr_bind_null(s, i);
    }
    len = n < 0 ? strlen(p) : (size_t)n;
    if (memchr(p, '\0', len) != NULL) {
        api_error(s->db, WR_INVALID, 0, true,
                  "bind: parameter %d: text cannot hold a NUL byte on the "
                  "wire: bind it as a blob",
                  i);
        return WR_INVALID;
    }
    slot = param_slot(s, i);
    if (slot == NULL) {
        return s->db->errcode;
    }
    slot->text.p = malloc(len + 1);
    if (slot->text.p == NULL) {
        api_error(s->db, WR_NOMEM, 0, true, "out of memory");
        return WR_NOMEM;
    }
    memcpy(slot->text.p, p, len);
    slot->text.p[len] = '\0';
    slot->text.n = len;
    slot->type = VALUE_TEXT;
    return WR_OK;
}

WR_API int wr_bind_blob(wr_stmt *s, int i, const void *p, int n)
{
    size_t len = n < 0 ? 0 : (size_t)n;
    struct value *slot = param_slot(s, i);

    if (slot == NULL) {
        return s->db->errcode;
    }
    if (p == NULL && len > 0) {
        api_error(s->db, WR_INVALID, 0, true, "bind: blob without bytes");
        return WR_INVALID;
    }
    slot->blob.p = malloc(len + 1);
    if (slot->blob.p == NULL) {
        api_error(s->db, WR_NOMEM, 0, true, "out of memory");
        return WR_NOMEM;
    }
    if (len > 0) {
        memcpy(slot->blob.p, p, len);
    }
    slot->blob.n = len;
    slot->type = VALUE_BLOB;
    return WR_OK;
}

WR_API int wr_clear_bindings(wr_stmt *s)
{
    unsigned k;
    for (k = 0; k < s->n_params; k++) {
        value_clear(&s->params[k]);
    }
    return WR_OK;
}

/*
 * Running.
 */

WR_API int wr_reset(wr_stmt *s)
{
    int rv = WR_OK;

    if (s->more && s->link != NULL && s->link->streaming == s) {
        rv = route_drain(s->link, false);
    }
    s->running = false;
    s->more = false;
    s->broken = false;
    s->link = NULL;
    stmt_clear_rows(s, true);
    return rv;
}

WR_API int wr_step(wr_stmt *s)
{
    struct wr_db *db = s->db;
    int rv;

    if (!s->running) {
        stmt_clear_rows(s, false);
        api_clear_error(db);
        rv = route_run(s);
        if (rv != 0) {
            return rv;
        }
        s->running = true;
    }
    while (s->cursor >= s->n_rows) {
        if (s->broken) {
            wr_reset(s);
            api_error(db, WR_IOERR, 0, true,
                      "the connection broke before the last row arrived");
            return WR_IOERR;
        }
        if (!s->more) {
            /* The next step runs the statement again. */
            s->running = false;
            stmt_clear_rows(s, true);
            return WR_DONE;
        }
        stmt_clear_rows(s, true);
        rv = route_next(s);
        if (rv != 0) {
            wr_reset(s);
            return rv;
        }
    }
    if (s->scratch != NULL && s->cursor > 0) {
        unsigned c;
        for (c = 0; c < s->n_cols; c++) {
            free(s->scratch[c]);
            s->scratch[c] = NULL;
        }
    }
    s->cursor++;
    return WR_ROW;
}

WR_API int wr_finalize(wr_stmt *s)
{
    int rv;

    if (s == NULL) {
        return WR_OK;
    }
    rv = wr_reset(s);
    stmt_clear_rows(s, false);
    wr_clear_bindings(s);
    free(s->params);
    if (s->prev != NULL) {
        s->prev->next = s->next;
    } else {
        s->db->stmts = s->next;
    }
    if (s->next != NULL) {
        s->next->prev = s->prev;
    }
    free(s->sql);
    free(s);
    return rv;
}

WR_API int wr_stmt_set_consistency(wr_stmt *s,
                                   int level,
                                   uint64_t max_staleness_ms)
{
    if (level < WR_LEVEL_DEFAULT || level > WR_LEVEL_STRONG) {
        api_error(s->db, WR_INVALID, 0, true, "unknown consistency level %d",
                  level);
        return WR_INVALID;
    }
    s->level = level;
    s->max_staleness_ms = max_staleness_ms;
    return WR_OK;
}

WR_API void wr_stmt_set_bookmark(wr_stmt *s, uint64_t bookmark)
{
    s->bookmark_min = bookmark;
}

WR_API uint64_t wr_stmt_bookmark(const wr_stmt *s)
{
    return s->bookmark;
}

WR_API wr_db *wr_db_handle(const wr_stmt *s)
{
    return s->db;
}

WR_API const char *wr_sql(const wr_stmt *s)
{
    return s->sql;
}

/*
 * Columns.
 */

/* The current row's value in column @i, or NULL. */
static const struct value *column(const wr_stmt *s, int i)
{
    if (s->cursor == 0 || s->cursor > s->n_rows || i < 0 ||
        (unsigned)i >= s->n_cols) {
        return NULL;
    }
    return &s->vals[(s->cursor - 1) * s->n_cols + (unsigned)i];
}

WR_API int wr_column_count(const wr_stmt *s)
{
    return (int)s->n_cols;
}

WR_API const char *wr_column_name(const wr_stmt *s, int i)
{
    if (i < 0 || (unsigned)i >= s->n_cols || s->names == NULL) {
        return NULL;
    }
    return s->names[i];
}

WR_API int wr_column_type(const wr_stmt *s, int i)
{
    const struct value *v = column(s, i);
    return v == NULL ? WR_NULL : v->type;
}

WR_API int64_t wr_column_int64(wr_stmt *s, int i)
{
    const struct value *v = column(s, i);
    if (v == NULL) {
        return 0;
    }
    switch (v->type) {
        case VALUE_INTEGER:
            return v->integer;
        case VALUE_FLOAT:
            /* Out of range saturates, as sqlite3_column_int64 does. */
            if (v->real >= 9223372036854775807.0) {
                return INT64_MAX;
            }
            if (v->real <= -9223372036854775808.0) {
                return INT64_MIN;
            }
            return (int64_t)v->real;
        case VALUE_TEXT:
            return strtoll(v->text.p, NULL, 10);
        case VALUE_BLOB:
            return strtoll((const char *)v->blob.p, NULL, 10);
        default:
            return 0;
    }
}

WR_API double wr_column_double(wr_stmt *s, int i)
{
    const struct value *v = column(s, i);
    if (v == NULL) {
        return 0.0;
    }
    switch (v->type) {
        case VALUE_INTEGER:
            return (double)v->integer;
        case VALUE_FLOAT:
            return v->real;
        case VALUE_TEXT:
            return strtod(v->text.p, NULL);
        case VALUE_BLOB:
            return strtod((const char *)v->blob.p, NULL);
        default:
            return 0.0;
    }
}

WR_API const char *wr_column_text(wr_stmt *s, int i)
{
    const struct value *v = column(s, i);
    char buf[64];

    if (v == NULL) {
        return NULL;
    }
    switch (v->type) {
        case VALUE_TEXT:
            return v->text.p;
        case VALUE_BLOB:
            return (const char *)v->blob.p;
        case VALUE_INTEGER:
            snprintf(buf, sizeof buf, "%" PRId64, v->integer);
            break;
        case VALUE_FLOAT:
            /* SQLite prints doubles with 15 significant digits when that
             * round-trips, else 17; %.17g round-trips always. */
            snprintf(buf, sizeof buf, "%.15g", v->real);
            if (strtod(buf, NULL) != v->real) {
                snprintf(buf, sizeof buf, "%.17g", v->real);
            }
            if (strspn(buf, "-0123456789") == strlen(buf)) {
                strcat(buf, ".0");
            }
            break;
        default:
            return NULL;
    }
    free(s->scratch[i]);
    s->scratch[i] = strdup(buf);
    return s->scratch[i];
}

WR_API const void *wr_column_blob(wr_stmt *s, int i)
{
    const struct value *v = column(s, i);
    if (v == NULL) {
        return NULL;
    }
    if (v->type == VALUE_BLOB) {
        return v->blob.n > 0 ? v->blob.p : NULL;
    }
    return wr_column_text(s, i);
}

WR_API int wr_column_bytes(wr_stmt *s, int i)
{
    const struct value *v = column(s, i);
    const char *t;

    if (v == NULL) {
        return 0;
    }
    switch (v->type) {
        case VALUE_TEXT:
            return (int)v->text.n;
        case VALUE_BLOB:
            return (int)v->blob.n;
        case VALUE_NULL:
            return 0;
        default:
            t = wr_column_text(s, i);
            return t != NULL ? (int)strlen(t) : 0;
    }
}
