/*
 * Typed SQL values and result rows, shared by the executor, the wire codec
 * and the client library.
 *
 * Type codes are SQLite's fundamental types so they convert without a table.
 */
#ifndef WR_LIB_VALUE_H
#define WR_LIB_VALUE_H

#include <stddef.h>
#include <stdint.h>

enum value_type {
    VALUE_INTEGER = 1, /* SQLITE_INTEGER */
    VALUE_FLOAT = 2,   /* SQLITE_FLOAT */
    VALUE_TEXT = 3,    /* SQLITE_TEXT */
    VALUE_BLOB = 4,    /* SQLITE_BLOB */
    VALUE_NULL = 5     /* SQLITE_NULL */
};

struct value {
    int type;
    union {
        int64_t integer;
        double real;
        struct {
            char *p; /* NUL-terminated; n excludes the NUL. */
            size_t n;
        } text;
        struct {
            void *p;
            size_t n;
        } blob;
    };
};

/* A result set. Values are stored row by row: row r, column c is
 * values[r * n_cols + c]. Everything is owned by the struct. */
struct rows {
    unsigned n_cols;
    char **col_names;
    char **decl_types; /* Declared type of each column, NULL for an
                          expression (sqlite3_column_decltype()). */
    unsigned n_rows;
    struct value *values;
};

/* Free what a value owns (text or blob bytes) and set it to NULL. */
void value_clear(struct value *v);

/* Release everything @rows owns and zero it. */
void rows_clear(struct rows *rows);

#endif /* WR_LIB_VALUE_H */
