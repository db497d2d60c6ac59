#include "value.h"

#include <stdlib.h>
#include <string.h>

void value_clear(struct value *v)
{
    if (v->type == VALUE_TEXT) {
        free(v->text.p);
    } else if (v->type == VALUE_BLOB) {
        free(v->blob.p);
    }
    memset(v, 0, sizeof *v);
    v->type = VALUE_NULL;
}

void rows_clear(struct rows *rows)
{
    size_t n = (size_t)rows->n_rows * rows->n_cols;
    for (size_t i = 0; i < n; i++) {
        value_clear(&rows->values[i]);
    }
    free(rows->values);
    for (unsigned c = 0; c < rows->n_cols && rows->col_names != NULL; c++) {
        free(rows->col_names[c]);
    }
    free(rows->col_names);
    for (unsigned c = 0; c < rows->n_cols && rows->decl_types != NULL; c++) {
        free(rows->decl_types[c]);
    }
    free(rows->decl_types);
    memset(rows, 0, sizeof *rows);
}
