/*
 * Shared pieces of the checkers' reports (report.h).
 */
#include "report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/err.h"

void text_printf(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->oom)
        return;
    for (;;) {
        size_t room = t->cap - t->len;
        va_start(ap, fmt);
        n = vsnprintf(t->s ? t->s + t->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = true;
            return;
        }
        if ((size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap * 2 : 256;
        while (cap - t->len <= (size_t)n)
            cap *= 2;
        char *s = realloc(t->s, cap);
        if (s == NULL) {
            t->oom = true;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
}

char *json_text(const json_t *v)
{
    if (v == NULL)
        return strdup("null");
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
}

void text_json(struct text *t, const json_t *v)
{
    char *s = json_text(v);
    if (s == NULL) {
        t->oom = true;
        return;
    }
    text_printf(t, "%s", s);
    free(s);
}

static double secs(int64_t ns)
{
    return (double)ns / 1e9;
}

void text_op_times(struct text *t, const struct hist_op *op)
{
    text_printf(t, "process %lld, invoked at %.3f s, ", (long long)op->process,
                secs(op->invoke_time));
    switch (op->type) {
        case HIST_OK:
            text_printf(t, "ok at %.3f s", secs(op->complete_time));
            break;
        case HIST_FAIL:
            text_printf(t, "failed at %.3f s", secs(op->complete_time));
            break;
        default:
            text_printf(t, "outcome unknown (info)");
            break;
    }
}

void text_free(struct text *t)
{
    free(t->s);
    memset(t, 0, sizeof *t);
}

json_t *op_json(const struct history *h, const struct hist_op *op)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    json_object_set_new(o, "process", json_integer(op->process));
    json_object_set_new(o, "type", json_string(hist_type_str(op->type)));
    json_object_set_new(o, "f", json_string(op->f));
    if (op->key_json != NULL)
        json_object_set(o, "key", op->key_json);
    json_object_set(o, "value", op->value ? op->value : json_null());
    json_object_set_new(o, "invoke_time", json_integer(op->invoke_time));
    json_object_set_new(o, "invoke_index",
                        json_integer(h->events[op->invoke].index));
    if (op->complete != SIZE_MAX) {
        json_object_set_new(o, "complete_time",
                            json_integer(op->complete_time));
        json_object_set_new(o, "complete_index",
                            json_integer(h->events[op->complete].index));
    }
    return o;
}

void check_result_close(struct check_result *r)
{
    free(r->explanation);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

const char *check_verdict_str(enum check_verdict v)
{
    switch (v) {
        case CHECK_VALID:
            return "valid";
        case CHECK_INVALID:
            return "invalid";
        case CHECK_UNKNOWN:
            return "unknown";
    }
    return "?";
}

int result_fill(struct check_result *r, const char *checker,
                enum check_verdict verdict, struct text *t, json_t *json)
{
    int rv = 0;

    r->verdict = verdict;
    if (t->oom || json == NULL)
        rv = WR_NOMEM;
    if (t->s == NULL)
        text_printf(t, "%s", "");
    r->explanation = t->s;
    t->s = NULL;
    text_free(t);
    if (json == NULL)
        json = json_object();
    r->json = json;
    if (json == NULL)
        return WR_NOMEM;
    if (json_object_set_new(json, "checker", json_string(checker)) ||
        json_object_set_new(json, "valid",
                            verdict == CHECK_VALID     ? json_true()
                            : verdict == CHECK_INVALID ? json_false()
                                                       : json_string("unknown")) ||
        json_object_set_new(json, "explanation",
                            json_string(r->explanation ? r->explanation : "")))
        rv = WR_NOMEM;
    return rv;
}
