/*
 * Result sets as the `walraft` shell and `walraft query` print them: table,
 * CSV (RFC 4180), JSON (an array of objects) or line (one "name = value"
 * per column, rows separated by a blank line), in the manner of the sqlite3
 * shell's modes of the same names.
 */
#ifndef WR_CLIENT_FORMAT_H
#define WR_CLIENT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum format_mode { FORMAT_TABLE, FORMAT_CSV, FORMAT_JSON, FORMAT_LINE };

/* One value: its type (WR_INTEGER ... WR_NULL of walraft.h) and its text
 * (digits for numbers, the bytes for TEXT and BLOB; NULL for NULL). */
struct format_cell {
    int type;
    char *text;
    size_t len;
};

/* A result set, owned by the struct (format_result_close()). */
struct format_result {
    unsigned n_cols;
    char **names;
    struct format_cell *cells; /* n_rows × n_cols, row by row. */
    size_t n_rows;
    size_t cap_rows;
};

/* Parse "table", "csv", "json" or "line"; false if @s is none of them. */
bool format_parse_mode(const char *s, enum format_mode *out);
const char *format_mode_name(enum format_mode mode);

/* Start an empty result of @n_cols columns named @names (copied). Returns
 * 0 or -1 when out of memory. */
int format_result_init(struct format_result *r,
                       unsigned n_cols,
                       const char *const *names);

/* Append a row of n_cols cells: *@row is filled in place by the caller
 * (its texts then belong to the result). Returns NULL when out of
 * memory. */
struct format_cell *format_result_add_row(struct format_result *r);

void format_result_close(struct format_result *r);

/* Print @r to @f in @mode, with a header line when @headers (table and
 * CSV; JSON and line always name the columns). A result without columns
 * prints nothing. */
void format_print(FILE *f,
                  enum format_mode mode,
                  bool headers,
                  const struct format_result *r);

#endif /* WR_CLIENT_FORMAT_H */
