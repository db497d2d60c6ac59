/*
 * Parsing and pairing of JSON-lines histories (format in history.h).
 *
 * The parser is strict on purpose: a history the harness wrote wrongly
 * must not be checked as if it meant something, so every deviation from
 * the format stops the parse with the line number and what is wrong.
 */
#include "history.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/err.h"

const char *hist_type_str(enum hist_type type)
{
    switch (type) {
        case HIST_INVOKE:
            return "invoke";
        case HIST_OK:
            return "ok";
        case HIST_FAIL:
            return "fail";
        case HIST_INFO:
            return "info";
    }
    return "?";
}

void history_close(struct history *h)
{
    for (size_t i = 0; i < h->n_events; i++)
        json_decref(h->events[i].obj);
    for (size_t i = 0; i < h->n_keys; i++)
        free(h->keys[i]);
    free(h->events);
    free(h->ops);
    free(h->keys);
    memset(h, 0, sizeof *h);
}

static int parse_type(const char *s, enum hist_type *type)
{
    static const char *names[] = {"invoke", "ok", "fail", "info"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *type = (enum hist_type)i;
            return 0;
        }
    }
    return -1;
}

/* Fill @ev from the object on line @line. @prev is the previous event or
 * NULL. Returns 0 or WR_CORRUPT with @errmsg set. */
static int parse_event(struct hist_event *ev, json_t *obj, size_t line,
                       const struct hist_event *prev, size_t position,
                       char *errmsg)
{
    json_t *v;

    ev->line = line;
    ev->obj = obj;
    if (!json_is_object(obj)) {
        err_printf(errmsg, "line %zu: not a JSON object", line);
        return WR_CORRUPT;
    }

    v = json_object_get(obj, "index");
    if (v == NULL) {
        ev->index = (int64_t)position;
    } else if (!json_is_integer(v) || json_integer_value(v) < 0) {
        err_printf(errmsg, "line %zu: \"index\" is not an integer >= 0",
                   line);
        return WR_CORRUPT;
    } else {
        ev->index = json_integer_value(v);
        if (prev != NULL && ev->index <= prev->index) {
            err_printf(errmsg,
                       "line %zu: index %lld does not follow index %lld "
                       "of line %zu",
                       line, (long long)ev->index, (long long)prev->index,
                       prev->line);
            return WR_CORRUPT;
        }
    }

    v = json_object_get(obj, "time");
    if (!json_is_integer(v)) {
        err_printf(errmsg, "line %zu: \"time\" missing or not an integer "
                   "(nanoseconds)", line);
        return WR_CORRUPT;
    }
    ev->time = json_integer_value(v);
    if (prev != NULL && ev->time < prev->time) {
        err_printf(errmsg,
                   "line %zu: time %lld ns is before time %lld ns of line "
                   "%zu; events must be written in the order they happened",
                   line, (long long)ev->time, (long long)prev->time,
                   prev->line);
        return WR_CORRUPT;
    }

    v = json_object_get(obj, "process");
    if (json_is_string(v) && strcmp(json_string_value(v), "nemesis") == 0) {
        ev->process = HIST_NEMESIS;
    } else if (json_is_integer(v) && json_integer_value(v) >= 0) {
        ev->process = json_integer_value(v);
    } else {
        err_printf(errmsg, "line %zu: \"process\" missing, or neither an "
                   "integer >= 0 nor \"nemesis\"", line);
        return WR_CORRUPT;
    }

    v = json_object_get(obj, "type");
    if (!json_is_string(v) || parse_type(json_string_value(v), &ev->type)) {
        err_printf(errmsg, "line %zu: \"type\" missing or not one of "
                   "invoke, ok, fail, info", line);
        return WR_CORRUPT;
    }

    v = json_object_get(obj, "f");
    if (!json_is_string(v) || json_string_length(v) == 0) {
        err_printf(errmsg, "line %zu: \"f\" missing or not a non-empty "
                   "string", line);
        return WR_CORRUPT;
    }
    ev->f = json_string_value(v);

    ev->key = json_object_get(obj, "key");
    ev->value = json_object_get(obj, "value");
    if (json_is_null(ev->value))
        ev->value = NULL;
    return 0;
}

/* Find or add the compact JSON text of @key in h->keys. */
static const char *intern_key(struct history *h, json_t *key)
{
    char *s = json_dumps(key, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < h->n_keys; i++) {
        if (strcmp(h->keys[i], s) == 0) {
            free(s);
            return h->keys[i];
        }
    }
    /* Keys are few (a workload uses a handful to a few hundred), so a
     * linear search and doubling array suffice. */
    if ((h->n_keys & (h->n_keys - 1)) == 0) {
        size_t cap = h->n_keys == 0 ? 8 : h->n_keys * 2;
        char **keys = realloc(h->keys, cap * sizeof *keys);
        if (keys == NULL) {
            free(s);
            return NULL;
        }
        h->keys = keys;
    }
    h->keys[h->n_keys++] = s;
    return s;
}

/* The open operation of each process, by process number. A small growable
 * map; processes are numbered densely by the harness but may be large. */
struct open_map {
    int64_t *process;
    size_t *op; /* Index into h->ops, or SIZE_MAX once closed by info. */
    size_t n, cap;
};

static size_t *open_find(struct open_map *m, int64_t process)
{
    for (size_t i = m->n; i-- > 0;) {
        if (m->process[i] == process)
            return &m->op[i];
    }
    return NULL;
}

static size_t *open_add(struct open_map *m, int64_t process)
{
    if (m->n == m->cap) {
        size_t cap = m->cap == 0 ? 16 : m->cap * 2;
        int64_t *p = realloc(m->process, cap * sizeof *p);
        if (p == NULL)
            return NULL;
        m->process = p;
        size_t *o = realloc(m->op, cap * sizeof *o);
        if (o == NULL)
            return NULL;
        m->op = o;
        m->cap = cap;
    }
    m->process[m->n] = process;
    return &m->op[m->n++];
}

/* Sentinels in the open map: the process's last operation completed, or
 * ended in info (so the process may never invoke again). */
#define OPEN_IDLE (SIZE_MAX - 1)
#define OPEN_DEAD SIZE_MAX

static int pair_ops(struct history *h, char *errmsg)
{
    struct open_map m = {0};
    int rv = 0;

    h->ops = calloc(h->n_events ? h->n_events : 1, sizeof *h->ops);
    if (h->ops == NULL)
        return WR_NOMEM;
    for (size_t i = 0; i < h->n_events; i++) {
        struct hist_event *ev = &h->events[i];
        if (ev->process == HIST_NEMESIS)
            continue;
        size_t *slot = open_find(&m, ev->process);
        if (ev->type == HIST_INVOKE) {
            if (slot != NULL && *slot == OPEN_DEAD) {
                err_printf(errmsg,
                           "line %zu: process %lld invokes again after an "
                           "info completion; a worker must continue as a "
                           "new process",
                           ev->line, (long long)ev->process);
                rv = WR_CORRUPT;
                goto out;
            }
            if (slot != NULL && *slot != OPEN_IDLE) {
                err_printf(errmsg,
                           "line %zu: process %lld invokes while its "
                           "operation from line %zu is still open",
                           ev->line, (long long)ev->process,
                           h->events[h->ops[*slot].invoke].line);
                rv = WR_CORRUPT;
                goto out;
            }
            if (slot == NULL && (slot = open_add(&m, ev->process)) == NULL) {
                rv = WR_NOMEM;
                goto out;
            }
            struct hist_op *op = &h->ops[h->n_ops];
            op->id = h->n_ops;
            op->process = ev->process;
            op->f = ev->f;
            op->type = HIST_INFO;
            op->key_json = ev->key;
            if (ev->key != NULL && (op->key = intern_key(h, ev->key)) == NULL) {
                rv = WR_NOMEM;
                goto out;
            }
            op->value = ev->value;
            op->invoke_value = ev->value;
            op->invoke = i;
            op->complete = SIZE_MAX;
            op->invoke_time = ev->time;
            op->complete_time = INT64_MAX;
            *slot = h->n_ops++;
            continue;
        }
        if (slot == NULL || *slot == OPEN_IDLE || *slot == OPEN_DEAD) {
            err_printf(errmsg,
                       "line %zu: %s completion for process %lld, which has "
                       "no open operation",
                       ev->line, hist_type_str(ev->type),
                       (long long)ev->process);
            rv = WR_CORRUPT;
            goto out;
        }
        struct hist_op *op = &h->ops[*slot];
        if (strcmp(op->f, ev->f) != 0) {
            err_printf(errmsg,
                       "line %zu: completion f \"%s\" does not match the "
                       "invocation's \"%s\" on line %zu",
                       ev->line, ev->f, op->f, h->events[op->invoke].line);
            rv = WR_CORRUPT;
            goto out;
        }
        if (ev->key != NULL && op->key_json != NULL &&
            !json_equal(ev->key, op->key_json)) {
            err_printf(errmsg,
                       "line %zu: completion key does not match the "
                       "invocation's on line %zu",
                       ev->line, h->events[op->invoke].line);
            rv = WR_CORRUPT;
            goto out;
        }
        op->type = ev->type;
        if (ev->type == HIST_OK) {
            op->value = ev->value;
            op->complete = i;
            op->complete_time = ev->time;
            *slot = OPEN_IDLE;
        } else if (ev->type == HIST_FAIL) {
            op->complete = i;
            op->complete_time = ev->time;
            *slot = OPEN_IDLE;
        } else {
            /* info: the operation stays open forever. */
            *slot = OPEN_DEAD;
        }
    }
out:
    free(m.process);
    free(m.op);
    return rv;
}

int history_parse(struct history *h, const char *text, size_t len,
                  char *errmsg)
{
    size_t cap = 0;
    size_t line = 0;
    const char *p = text;
    const char *end = text + len;
    int rv;

    memset(h, 0, sizeof *h);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        line++;
        const char *q = p;
        while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        if (q == eol) {
            p = nl ? nl + 1 : end;
            continue;
        }
        if (h->n_events == cap) {
            cap = cap == 0 ? 256 : cap * 2;
            struct hist_event *evs = realloc(h->events, cap * sizeof *evs);
            if (evs == NULL) {
                rv = WR_NOMEM;
                goto err;
            }
            h->events = evs;
        }
        json_error_t jerr;
        json_t *obj = json_loadb(p, (size_t)(eol - p), JSON_REJECT_DUPLICATES,
                                 &jerr);
        if (obj == NULL) {
            err_printf(errmsg, "line %zu: column %d: %s", line, jerr.column,
                       jerr.text);
            /* jansson says "out of memory", or, when it could not even
             * start its lexer, nothing at all. */
            rv = json_error_code(&jerr) == json_error_out_of_memory ||
                         jerr.text[0] == '\0'
                     ? WR_NOMEM
                     : WR_CORRUPT;
            if (rv == WR_NOMEM)
                err_printf(errmsg, "line %zu: out of memory", line);
            goto err;
        }
        struct hist_event *ev = &h->events[h->n_events];
        const struct hist_event *prev =
            h->n_events ? &h->events[h->n_events - 1] : NULL;
        rv = parse_event(ev, obj, line, prev, h->n_events, errmsg);
        h->n_events++; /* Owns obj from here, even on error. */
        if (rv != 0)
            goto err;
        p = nl ? nl + 1 : end;
    }
    rv = pair_ops(h, errmsg);
    if (rv == WR_NOMEM)
        err_printf(errmsg, "out of memory");
    if (rv != 0)
        goto err;
    return 0;

err:
    history_close(h);
    return rv;
}

int history_load(struct history *h, const char *path, char *errmsg)
{
    FILE *fp = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0, cap = 0;
    int rv;

    memset(h, 0, sizeof *h);
    if (fp == NULL) {
        err_printf(errmsg, "open %s: %s", path, strerror(errno));
        return WR_IOERR;
    }
    for (;;) {
        if (cap - len < 65536) {
            cap = cap == 0 ? 1 << 20 : cap * 2;
            char *t = realloc(text, cap);
            if (t == NULL) {
                rv = WR_NOMEM;
                err_printf(errmsg, "read %s: out of memory", path);
                goto out;
            }
            text = t;
        }
        size_t n = fread(text + len, 1, cap - len, fp);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror(fp)) {
        err_printf(errmsg, "read %s: I/O error", path);
        rv = WR_IOERR;
        goto out;
    }
    rv = history_parse(h, text, len, errmsg);
    if (rv != 0)
        err_wrap(errmsg, "%s", path);
out:
    free(text);
    fclose(fp);
    return rv;
}
