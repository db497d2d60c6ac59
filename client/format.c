/*
 * Printing result sets (see format.h).
 */
#include "format.h"

#include <stdlib.h>
#include <string.h>

#include "walraft.h"

static const char *const mode_names[] = {"table", "csv", "json", "line"};

bool format_parse_mode(const char *s, enum format_mode *out)
{
    for (size_t i = 0; i < sizeof mode_names / sizeof *mode_names; i++) {
        if (strcmp(s, mode_names[i]) == 0) {
            *out = (enum format_mode)i;
            return true;
        }
    }
    return false;
}

const char *format_mode_name(enum format_mode mode)
{
    return mode_names[mode];
}

int format_result_init(struct format_result *r,
                       unsigned n_cols,
                       const char *const *names)
{
    memset(r, 0, sizeof *r);
    if (n_cols == 0) {
        return 0;
    }
    r->names = calloc(n_cols, sizeof *r->names);
    if (r->names == NULL) {
        return -1;
    }
    r->n_cols = n_cols;
    for (unsigned i = 0; i < n_cols; i++) {
        r->names[i] = strdup(names[i] != NULL ? names[i] : "");
        if (r->names[i] == NULL) {
            format_result_close(r);
            return -1;
        }
    }
    return 0;
}

struct format_cell *format_result_add_row(struct format_result *r)
{
    if (r->n_rows == r->cap_rows) {
        size_t cap = r->cap_rows ? 2 * r->cap_rows : 16;
        struct format_cell *cells =
            realloc(r->cells, cap * r->n_cols * sizeof *cells);
        if (cells == NULL) {
            return NULL;
        }
        r->cells = cells;
        r->cap_rows = cap;
    }
    memset(&r->cells[r->n_rows * r->n_cols], 0,
           r->n_cols * sizeof *r->cells);
    return &r->cells[r->n_rows++ * r->n_cols];
}

void format_result_close(struct format_result *r)
{
    for (size_t i = 0; i < r->n_rows * r->n_cols; i++) {
        free(r->cells[i].text);
    }
    for (unsigned i = 0; i < r->n_cols && r->names != NULL; i++) {
        free(r->names[i]);
    }
    free(r->cells);
    free(r->names);
    memset(r, 0, sizeof *r);
}

/* The text shown for a cell outside JSON: a BLOB as X'hex', NULL as
 * nothing. Returns a malloc'ed string, or NULL when out of memory. */
static char *display(const struct format_cell *c)
{
    static const char hex[] = "0123456789ABCDEF";
    char *s;

    if (c->type == WR_NULL || c->text == NULL) {
        return strdup("");
    }
    if (c->type != WR_BLOB) {
        s = malloc(c->len + 1);
        if (s != NULL) {
            memcpy(s, c->text, c->len);
            s[c->len] = '\0';
        }
        return s;
    }
    s = malloc(2 * c->len + 4);
    if (s == NULL) {
        return NULL;
    }
    s[0] = 'X';
    s[1] = '\'';
    for (size_t i = 0; i < c->len; i++) {
        s[2 + 2 * i] = hex[(unsigned char)c->text[i] >> 4];
        s[3 + 2 * i] = hex[(unsigned char)c->text[i] & 15];
    }
    s[2 + 2 * c->len] = '\'';
    s[3 + 2 * c->len] = '\0';
    return s;
}

/* Columns a string takes on a terminal: its UTF-8 code points. */
static size_t width(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++) {
        n += ((unsigned char)*s & 0xC0) != 0x80;
    }
    return n;
}

static void rule(FILE *f, const size_t *w, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        fputc('+', f);
        for (size_t k = 0; k < w[i] + 2; k++) {
            fputc('-', f);
        }
    }
    fputs("+\n", f);
}

static void table_row(FILE *f, char **texts, const size_t *w, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        fprintf(f, "| %s%*s ", texts[i], (int)(w[i] - width(texts[i])), "");
    }
    fputs("|\n", f);
}

static void print_table(FILE *f, bool headers, const struct format_result *r)
{
    size_t cells = r->n_rows * r->n_cols;
    char **texts = calloc(cells ? cells : 1, sizeof *texts);
    size_t *w = calloc(r->n_cols, sizeof *w);

    if (texts == NULL || w == NULL) {
        fputs("(out of memory)\n", f);
        goto out;
    }
    for (unsigned i = 0; i < r->n_cols; i++) {
        w[i] = headers ? width(r->names[i]) : 0;
    }
    for (size_t k = 0; k < cells; k++) {
        texts[k] = display(&r->cells[k]);
        if (texts[k] == NULL) {
            fputs("(out of memory)\n", f);
            goto out;
        }
        if (width(texts[k]) > w[k % r->n_cols]) {
            w[k % r->n_cols] = width(texts[k]);
        }
    }
    rule(f, w, r->n_cols);
    if (headers) {
        table_row(f, r->names, w, r->n_cols);
        rule(f, w, r->n_cols);
    }
    for (size_t row = 0; row < r->n_rows; row++) {
        table_row(f, texts + row * r->n_cols, w, r->n_cols);
    }
    if (r->n_rows > 0) {
        rule(f, w, r->n_cols);
    }
out:
    for (size_t k = 0; texts != NULL && k < cells; k++) {
        free(texts[k]);
    }
    free(texts);
    free(w);
}

/* RFC 4180: quote a field that holds a comma, a quote or a line break. */
static void csv_field(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s != '\0'; s++) {
        if (*s == '"') {
            fputc('"', f);
        }
        fputc(*s, f);
    }
    fputc('"', f);
}

static void print_csv(FILE *f, bool headers, const struct format_result *r)
{
    if (headers) {
        for (unsigned i = 0; i < r->n_cols; i++) {
            if (i > 0) {
                fputc(',', f);
            }
            csv_field(f, r->names[i]);
        }
        fputs("\r\n", f);
    }
    for (size_t row = 0; row < r->n_rows; row++) {
        for (unsigned i = 0; i < r->n_cols; i++) {
            char *t = display(&r->cells[row * r->n_cols + i]);
            if (i > 0) {
                fputc(',', f);
            }
            csv_field(f, t != NULL ? t : "");
            free(t);
        }
        fputs("\r\n", f);
    }
}

static void json_string(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            fprintf(f, "\\%c", ch);
        } else if (ch == '\n') {
            fputs("\\n", f);
        } else if (ch == '\r') {
            fputs("\\r", f);
        } else if (ch == '\t') {
            fputs("\\t", f);
        } else if (ch < 0x20) {
            fprintf(f, "\\u%04x", ch);
        } else {
            fputc(ch, f);
        }
    }
    fputc('"', f);
}

static void print_json(FILE *f, const struct format_result *r)
{
    fputc('[', f);
    for (size_t row = 0; row < r->n_rows; row++) {
        fputs(row > 0 ? ",\n{" : "{", f);
        for (unsigned i = 0; i < r->n_cols; i++) {
            const struct format_cell *c = &r->cells[row * r->n_cols + i];
            if (i > 0) {
                fputc(',', f);
            }
            json_string(f, r->names[i], strlen(r->names[i]));
            fputc(':', f);
            if (c->type == WR_NULL || c->text == NULL) {
                fputs("null", f);
            } else if (c->type == WR_INTEGER || c->type == WR_FLOAT) {
                fwrite(c->text, 1, c->len, f);
            } else if (c->type == WR_BLOB) {
                char *t = display(c);
                json_string(f, t != NULL ? t : "", t != NULL ? strlen(t) : 0);
                free(t);
            } else {
                json_string(f, c->text, c->len);
            }
        }
        fputc('}', f);
    }
    fputs("]\n", f);
}

static void print_line(FILE *f, const struct format_result *r)
{
    size_t w = 0;

    for (unsigned i = 0; i < r->n_cols; i++) {
        if (width(r->names[i]) > w) {
            w = width(r->names[i]);
        }
    }
    for (size_t row = 0; row < r->n_rows; row++) {
        if (row > 0) {
            fputc('\n', f);
        }
        for (unsigned i = 0; i < r->n_cols; i++) {
            char *t = display(&r->cells[row * r->n_cols + i]);
            fprintf(f, "%*s%s = %s\n", (int)(w - width(r->names[i])), "",
                    r->names[i], t != NULL ? t : "");
            free(t);
        }
    }
}

void format_print(FILE *f,
                  enum format_mode mode,
                  bool headers,
                  const struct format_result *r)
{
    if (r->n_cols == 0) {
        return;
    }
    switch (mode) {
        case FORMAT_TABLE:
            print_table(f, headers, r);
            break;
        case FORMAT_CSV:
            print_csv(f, headers, r);
            break;
        case FORMAT_JSON:
            print_json(f, r);
            break;
        case FORMAT_LINE:
            print_line(f, r);
            break;
    }
}
