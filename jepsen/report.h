/*
 * Helpers the checkers share to write their verdicts: a growable text
 * buffer, a one-line description of an operation for humans, and the
 * common fields of a result. Internal to jepsen/.
 */
#ifndef WR_JEPSEN_REPORT_H
#define WR_JEPSEN_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "checker.h"

/* A growable NUL-terminated string. After an allocation failure @oom is set
 * and further appends do nothing. */
struct text {
    char *s;
    size_t len, cap;
    bool oom;
};

void text_printf(struct text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append compact JSON for @v ("null" for NULL). */
void text_json(struct text *t, const json_t *v);
/* Append "process 2, invoked 1.200 s, ok at 1.300 s" (or "never
 * completed"/"failed at"). */
void text_op_times(struct text *t, const struct hist_op *op);
void text_free(struct text *t);

/* Compact JSON text of @v (NULL: "null"); malloc'ed, NULL on OOM. */
char *json_text(const json_t *v);

/* A JSON summary of @op: {"process", "type", "f", "key", "value",
 * "invoke_time", "complete_time", "invoke_index", "complete_index"}. */
json_t *op_json(const struct history *h, const struct hist_op *op);

/* Fill @r from @verdict, the explanation @t (taken over) and @json (one
 * reference taken over; gains "checker", "valid" and "explanation").
 * Returns 0 or WR_NOMEM (after which @r holds what it could). */
int result_fill(struct check_result *r, const char *checker,
                enum check_verdict verdict, struct text *t, json_t *json);

#endif /* WR_JEPSEN_REPORT_H */
