/*
 * The register checker: per-key linearizability by Wing-Gong-Lowe search.
 *
 * A key-value store whose operations each touch one key is linearizable
 * iff each key's sub-history is (Herlihy and Wing's locality), so every
 * key is searched on its own.
 *
 * The search (Wing and Gong 1993, with Lowe's memoisation, as in Porcupine
 * and Knossos's wgl): every operation becomes a call entry and a return
 * entry, in history order, in a doubly linked list. Walking from the head,
 * a call whose operation is legal in the current register state is
 * linearized: its call and return are lifted out of the list, the state
 * advances, and the walk restarts from the head, unless the pair (set of
 * linearized operations, state) was met before, in which case the same
 * future was already explored and failed. Meeting a return entry means
 * its operation should have been linearized by now: undo the last choice
 * and try the next call after it. An empty stack at a return means no
 * order exists. Operations whose outcome is unknown (info) get their
 * return entries after everything else, so they may take effect at any
 * point after their invocation, or never: reaching the first of those
 * returns means every operation that must have happened has.
 *
 * The witness reported for a non-linearizable key is where the search got
 * furthest: the operation that could not be placed, the register's value
 * there, and the operation that set it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/err.h"
#include "checker.h"
#include "report.h"

#define DEFAULT_MAX_STEPS 10000000ULL
/* The memo table may use this much before the key is given up as unknown. */
#define MAX_CACHE_BYTES ((size_t)512 << 20)

enum rkind { R_READ, R_WRITE, R_CAS };

struct rop {
    const struct hist_op *op;
    enum rkind kind;
    int a; /* read: value read; cas: value expected. */
    int b; /* write, cas: value written. */
};

/* One key's sub-history, with its values interned: id 0 is null, the
 * initial value of every register. */
struct key_ops {
    const char *key;
    json_t *key_json;
    struct rop *ops;
    size_t n, cap;
    json_t **values;
    size_t n_values, cap_values;
};

struct reg_ctx {
    uint64_t max_steps;
    double max_seconds;
    bool oom;
};

static int intern_value(struct key_ops *k, json_t *v, bool *oom)
{
    if (v == NULL || json_is_null(v))
        return 0;
    for (size_t i = 1; i < k->n_values; i++) {
        if (json_equal(k->values[i], v))
            return (int)i;
    }
    if (k->n_values == k->cap_values) {
        size_t cap = k->cap_values ? k->cap_values * 2 : 16;
        json_t **vals = realloc(k->values, cap * sizeof *vals);
        if (vals == NULL) {
            *oom = true;
            return 0;
        }
        k->values = vals;
        k->cap_values = cap;
    }
    if (k->n_values == 0)
        k->values[k->n_values++] = NULL;
    k->values[k->n_values] = v;
    return (int)k->n_values++;
}

/* The outcome of one key's search. */
enum key_verdict { KEY_VALID, KEY_INVALID, KEY_UNKNOWN };

struct key_outcome {
    enum key_verdict verdict;
    uint64_t steps;
    const char *why_unknown;
    /* Witness, for KEY_INVALID. */
    size_t depth;            /* Operations linearized at the furthest point. */
    const struct rop *blocked;
    const struct rop *last;  /* NULL if nothing was linearized. */
    int state;
};

/*
 * The memo table: a set of (bitset, state) in open addressing. Each slot
 * holds an offset into a flat array of records of @words + 1 64-bit words
 * (the state, then the bitset).
 */
struct memo {
    size_t words;
    uint64_t *recs;
    size_t n_recs, cap_recs;
    size_t *slots; /* SIZE_MAX when empty. */
    size_t n_slots;
};

static uint64_t memo_hash(const uint64_t *bits, size_t words, int state)
{
    uint64_t x = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uint32_t)state;
    for (size_t i = 0; i < words; i++) {
        x ^= bits[i];
        x *= 0xff51afd7ed558ccdULL;
        x ^= x >> 32;
    }
    return x;
}

static int memo_grow(struct memo *m)
{
    size_t n = m->n_slots ? m->n_slots * 2 : 1024;
    size_t *slots = malloc(n * sizeof *slots);
    if (slots == NULL)
        return -1;
    memset(slots, 0xff, n * sizeof *slots);
    for (size_t r = 0; r < m->n_recs; r++) {
        const uint64_t *rec = &m->recs[r * (m->words + 1)];
        uint64_t hash = memo_hash(rec + 1, m->words, (int)rec[0]);
        size_t i = hash & (n - 1);
        while (slots[i] != SIZE_MAX)
            i = (i + 1) & (n - 1);
        slots[i] = r;
    }
    free(m->slots);
    m->slots = slots;
    m->n_slots = n;
    return 0;
}

/* Add (bits, state). Returns 1 if added, 0 if already present, -1 on
 * out of memory. */
static int memo_add(struct memo *m, const uint64_t *bits, int state)
{
    size_t rec_words = m->words + 1;
    if ((m->n_recs + 1) * 2 > m->n_slots && memo_grow(m) != 0)
        return -1;
    uint64_t hash = memo_hash(bits, m->words, state);
    size_t i = hash & (m->n_slots - 1);
    while (m->slots[i] != SIZE_MAX) {
        const uint64_t *rec = &m->recs[m->slots[i] * rec_words];
        if ((int)rec[0] == state &&
            memcmp(rec + 1, bits, m->words * sizeof *bits) == 0)
            return 0;
        i = (i + 1) & (m->n_slots - 1);
    }
    if (m->n_recs == m->cap_recs) {
        size_t cap = m->cap_recs ? m->cap_recs * 2 : 1024;
        uint64_t *recs = realloc(m->recs, cap * rec_words * sizeof *recs);
        if (recs == NULL)
            return -1;
        m->recs = recs;
        m->cap_recs = cap;
    }
    uint64_t *rec = &m->recs[m->n_recs * rec_words];
    rec[0] = (uint64_t)(uint32_t)state;
    memcpy(rec + 1, bits, m->words * sizeof *bits);
    m->slots[i] = m->n_recs++;
    return 1;
}

static size_t memo_bytes(const struct memo *m)
{
    return m->cap_recs * (m->words + 1) * 8 + m->n_slots * sizeof(size_t);
}

static void memo_free(struct memo *m)
{
    free(m->recs);
    free(m->slots);
}

/* The legality of @o in @state, and the state after it. */
static bool step(const struct rop *o, int state, int *next)
{
    switch (o->kind) {
        case R_READ:
            *next = state;
            return o->a == state;
        case R_WRITE:
            *next = o->b;
            return true;
        case R_CAS:
            *next = o->b;
            return o->a == state;
    }
    return false;
}

/* A list entry. Entry 0 is the head sentinel; entries 1 + 2i and 2 + 2i
 * are, before sorting, the call and return of operation i. */
struct entry {
    size_t pos;  /* Event position; SIZE_MAX for an info return. */
    int op;
    bool call;
    int match;   /* The matching entry. */
    int prev, next;
};

static int entry_cmp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->pos != y->pos)
        return x->pos < y->pos ? -1 : 1;
    /* Info returns all sit at the end; order them by operation. */
    return x->op - y->op;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void lift(struct entry *e, int i)
{
    int m = e[i].match;
    e[e[i].prev].next = e[i].next;
    if (e[i].next >= 0)
        e[e[i].next].prev = e[i].prev;
    e[e[m].prev].next = e[m].next;
    if (e[m].next >= 0)
        e[e[m].next].prev = e[m].prev;
}

static void unlift(struct entry *e, int i)
{
    int m = e[i].match;
    e[e[m].prev].next = m;
    if (e[m].next >= 0)
        e[e[m].next].prev = m;
    e[e[i].prev].next = i;
    if (e[i].next >= 0)
        e[e[i].next].prev = i;
}

static void search_key(struct reg_ctx *c, const struct key_ops *k,
                       struct key_outcome *out)
{
    size_t n = k->n;
    size_t ne = 2 * n + 1;
    struct entry *e = calloc(ne, sizeof *e);
    size_t words = (n + 63) / 64;
    uint64_t *bits = calloc(words ? words : 1, sizeof *bits);
    struct {
        int entry;
        int state;
    } *stack = malloc((n + 1) * sizeof *stack);
    struct memo memo = {.words = words};
    size_t depth = 0;
    int state = 0;
    double deadline = 0;

    memset(out, 0, sizeof *out);
    out->verdict = KEY_VALID;
    if (e == NULL || bits == NULL || stack == NULL) {
        c->oom = true;
        goto out;
    }
    if (c->max_seconds > 0)
        deadline = now_seconds() + c->max_seconds;

    /* Build the entries in history order, then link them. */
    for (size_t i = 0; i < n; i++) {
        const struct hist_op *op = k->ops[i].op;
        e[1 + 2 * i] = (struct entry){.pos = op->invoke, .op = (int)i,
                                      .call = true};
        e[2 + 2 * i] = (struct entry){.pos = op->complete, .op = (int)i,
                                      .call = false};
    }
    qsort(e + 1, ne - 1, sizeof *e, entry_cmp);
    {
        /* Matching call and return: position of each op's pair. */
        int *call_of = malloc((n ? n : 1) * sizeof *call_of);
        if (call_of == NULL) {
            c->oom = true;
            goto out;
        }
        for (size_t i = 1; i < ne; i++) {
            if (e[i].call)
                call_of[e[i].op] = (int)i;
        }
        for (size_t i = 1; i < ne; i++) {
            if (!e[i].call) {
                e[i].match = call_of[e[i].op];
                e[call_of[e[i].op]].match = (int)i;
            }
        }
        free(call_of);
    }
    for (size_t i = 0; i < ne; i++) {
        e[i].prev = (int)i - 1;
        e[i].next = i + 1 < ne ? (int)i + 1 : -1;
    }

    int cur = e[0].next;
    size_t best = 0;
    bool have_best = false;
    while (e[0].next >= 0) {
        if (++out->steps > c->max_steps) {
            out->verdict = KEY_UNKNOWN;
            out->why_unknown = "step budget exhausted";
            goto out;
        }
        if (deadline > 0 && (out->steps & 1023) == 0 &&
            now_seconds() > deadline) {
            out->verdict = KEY_UNKNOWN;
            out->why_unknown = "time budget exhausted";
            goto out;
        }
        if (cur < 0)
            break; /* Cannot happen: the list ends in returns. */
        struct entry *en = &e[cur];
        const struct rop *o = &k->ops[en->op];
        if (en->call) {
            int next;
            if (step(o, state, &next)) {
                bits[en->op / 64] |= 1ULL << (en->op % 64);
                int added = memo_add(&memo, bits, next);
                if (added < 0) {
                    c->oom = true;
                    goto out;
                }
                if (added) {
                    stack[depth].entry = cur;
                    stack[depth].state = state;
                    depth++;
                    state = next;
                    lift(e, cur);
                    cur = e[0].next;
                    if (memo_bytes(&memo) > MAX_CACHE_BYTES) {
                        out->verdict = KEY_UNKNOWN;
                        out->why_unknown = "memory budget exhausted";
                        goto out;
                    }
                    continue;
                }
                bits[en->op / 64] &= ~(1ULL << (en->op % 64));
            }
            cur = en->next;
            continue;
        }
        /* A return entry. */
        if (o->op->complete == SIZE_MAX)
            break; /* Only info operations remain: they need not happen. */
        if (!have_best || depth > best) {
            have_best = true;
            best = depth;
            out->depth = depth;
            out->blocked = o;
            out->state = state;
            out->last = depth ? &k->ops[e[stack[depth - 1].entry].op] : NULL;
        }
        if (depth == 0) {
            out->verdict = KEY_INVALID;
            goto out;
        }
        depth--;
        int back = stack[depth].entry;
        state = stack[depth].state;
        bits[e[back].op / 64] &= ~(1ULL << (e[back].op % 64));
        unlift(e, back);
        cur = e[back].next;
    }
out:
    memo_free(&memo);
    free(e);
    free(bits);
    free(stack);
}

static const char *kind_str(enum rkind kind)
{
    return kind == R_READ ? "read" : kind == R_WRITE ? "write" : "cas";
}

/* "read of 7", "write of 7", "cas from 7 to 9". */
static void text_rop(struct text *t, const struct key_ops *k,
                     const struct rop *o)
{
    switch (o->kind) {
        case R_READ:
            text_printf(t, "read of ");
            text_json(t, k->values[o->a]);
            break;
        case R_WRITE:
            text_printf(t, "write of ");
            text_json(t, k->values[o->b]);
            break;
        case R_CAS:
            text_printf(t, "cas from ");
            text_json(t, k->values[o->a]);
            text_printf(t, " to ");
            text_json(t, k->values[o->b]);
            break;
    }
    text_printf(t, " (");
    text_op_times(t, o->op);
    text_printf(t, ")");
}

/* The operations that could have set value @v: writes and cas to it. */
static const struct rop *writer_of(const struct key_ops *k, int v)
{
    for (size_t i = 0; i < k->n; i++) {
        if (k->ops[i].kind != R_READ && k->ops[i].b == v)
            return &k->ops[i];
    }
    return NULL;
}

static void text_key(struct text *t, const struct key_ops *k)
{
    if (k->key != NULL)
        text_printf(t, "key %s: ", k->key);
}

/* Before searching: a read of a value no operation could have written, or
 * only operations invoked after the read completed. Returns the witness
 * read, or NULL. */
static const struct rop *impossible_read(const struct key_ops *k,
                                         bool *future)
{
    for (size_t i = 0; i < k->n; i++) {
        const struct rop *r = &k->ops[i];
        if (r->kind != R_READ || r->a == 0)
            continue;
        bool any = false, earlier = false;
        for (size_t j = 0; j < k->n; j++) {
            const struct rop *w = &k->ops[j];
            if (w->kind == R_READ || w->b != r->a)
                continue;
            any = true;
            if (!hist_op_precedes(r->op, w->op))
                earlier = true;
        }
        if (!any || !earlier) {
            *future = any;
            return r;
        }
    }
    return NULL;
}

static void explain_invalid(struct text *t, const struct key_ops *k,
                            const struct key_outcome *o)
{
    const struct rop *b = o->blocked;
    const struct rop *w = NULL;
    int wanted = b->kind == R_WRITE ? 0 : b->a;

    if (wanted != 0)
        w = writer_of(k, wanted);
    text_key(t, k);
    if (w != NULL && o->last != NULL && o->last->b != wanted &&
        hist_op_precedes(w->op, o->last->op) &&
        hist_op_precedes(o->last->op, b->op)) {
        /* The common case gets the plain words. */
        text_printf(t, "the %s is stale: ", kind_str(b->kind));
        text_rop(t, k, b);
        text_printf(t, " wants the register at ");
        text_json(t, k->values[wanted]);
        text_printf(t, ", which the ");
        text_rop(t, k, w);
        text_printf(t, " set; but the ");
        text_rop(t, k, o->last);
        text_printf(t, " replaced it after that completed and before the "
                       "%s was invoked.\n", kind_str(b->kind));
        return;
    }
    text_printf(t, "no order of the %zu operations is legal. The furthest "
                   "order placed %zu of them, leaving the register at ",
                k->n, o->depth);
    text_json(t, k->values[o->state]);
    if (o->last != NULL) {
        text_printf(t, " (set by the ");
        text_rop(t, k, o->last);
        text_printf(t, ")");
    } else {
        text_printf(t, " (its initial value)");
    }
    text_printf(t, "; then the ");
    text_rop(t, k, b);
    text_printf(t, " had to take effect and could not.");
    if (w != NULL) {
        text_printf(t, " The value ");
        text_json(t, k->values[wanted]);
        text_printf(t, " was written by the ");
        text_rop(t, k, w);
        text_printf(t, ".");
    }
    text_printf(t, "\n");
}

static void key_ops_free(struct key_ops *k)
{
    free(k->ops);
    free(k->values);
}

/* Split the history into per-key sub-histories. Returns -1 with @t set to
 * the reason for a malformed operation, -2 on out of memory. */
static int split_keys(const struct history *h, struct key_ops **out,
                      size_t *n_out, struct text *t)
{
    struct key_ops *keys = NULL;
    size_t n = 0;
    bool oom = false;

    for (size_t i = 0; i < h->n_ops; i++) {
        const struct hist_op *op = &h->ops[i];
        enum rkind kind;
        if (strcmp(op->f, "read") == 0)
            kind = R_READ;
        else if (strcmp(op->f, "write") == 0)
            kind = R_WRITE;
        else if (strcmp(op->f, "cas") == 0)
            kind = R_CAS;
        else
            continue;
        /* fail: it never happened. An unfinished read has no effect. */
        if (op->type == HIST_FAIL ||
            (kind == R_READ && op->type != HIST_OK))
            continue;
        size_t ki;
        for (ki = 0; ki < n; ki++) {
            if (keys[ki].key == op->key)
                break;
        }
        if (ki == n) {
            struct key_ops *ks = realloc(keys, (n + 1) * sizeof *ks);
            if (ks == NULL)
                goto oom;
            keys = ks;
            memset(&keys[n], 0, sizeof keys[n]);
            keys[n].key = op->key;
            keys[n].key_json = op->key_json;
            n++;
        }
        struct key_ops *k = &keys[ki];
        if (k->n == k->cap) {
            size_t cap = k->cap ? k->cap * 2 : 64;
            struct rop *ops = realloc(k->ops, cap * sizeof *ops);
            if (ops == NULL)
                goto oom;
            k->ops = ops;
            k->cap = cap;
        }
        struct rop *o = &k->ops[k->n];
        memset(o, 0, sizeof *o);
        o->op = op;
        o->kind = kind;
        if (kind == R_READ) {
            o->a = intern_value(k, op->value, &oom);
        } else if (kind == R_WRITE) {
            /* What was written is what was asked: the invocation's value
             * (a completion may leave it out). */
            o->b = intern_value(k, op->invoke_value ? op->invoke_value
                                                    : op->value, &oom);
        } else {
            json_t *v = op->invoke_value ? op->invoke_value : op->value;
            if (!json_is_array(v) || json_array_size(v) != 2) {
                text_printf(t, "the cas invoked on line %zu does not carry "
                               "[expected, new] as its value\n",
                            h->events[op->invoke].line);
                *out = keys;
                *n_out = n;
                return -1;
            }
            o->a = intern_value(k, json_array_get(v, 0), &oom);
            o->b = intern_value(k, json_array_get(v, 1), &oom);
        }
        if (oom)
            goto oom;
        k->n++;
    }
    /* Every key needs values[0] even if it never saw a non-null value. */
    for (size_t ki = 0; ki < n; ki++) {
        if (keys[ki].n_values == 0) {
            keys[ki].values = realloc(keys[ki].values, sizeof(json_t *));
            if (keys[ki].values == NULL)
                goto oom;
            keys[ki].values[0] = NULL;
            keys[ki].n_values = 1;
            keys[ki].cap_values = 1;
        }
    }
    *out = keys;
    *n_out = n;
    return 0;
oom:
    *out = keys;
    *n_out = n;
    return -2;
}

static json_t *rop_json(const struct history *h, const struct rop *o)
{
    return o ? op_json(h, o->op) : json_null();
}

int check_register(const struct history *h, const struct register_opts *opts,
                   struct check_result *r)
{
    struct reg_ctx c = {0};
    struct text t = {0};
    struct key_ops *keys = NULL;
    size_t n_keys = 0;
    json_t *json = json_object();
    json_t *anomalies = json_array();
    json_t *per_key = json_array();
    size_t n_invalid = 0, n_unknown = 0, n_ops = 0;
    enum check_verdict verdict;
    int rv;

    memset(r, 0, sizeof *r);
    c.max_steps = opts && opts->max_steps ? opts->max_steps
                                          : DEFAULT_MAX_STEPS;
    c.max_seconds = opts ? opts->max_seconds : 0;

    struct text why = {0};
    rv = split_keys(h, &keys, &n_keys, &why);
    if (rv < 0) {
        c.oom = rv == -2 || why.oom;
        verdict = CHECK_UNKNOWN;
        text_printf(&t, "Unknown: the history is not a register history: "
                        "%s", why.s ? why.s : "\n");
        text_free(&why);
        goto done;
    }

    struct text invalid = {0}, unknown = {0};
    for (size_t ki = 0; ki < n_keys; ki++) {
        struct key_ops *k = &keys[ki];
        struct key_outcome o = {0};
        json_t *kj = json_object();
        n_ops += k->n;
        if (k->key_json)
            json_object_set(kj, "key", k->key_json);
        json_object_set_new(kj, "ops", json_integer((json_int_t)k->n));

        bool future = false;
        const struct rop *bad = impossible_read(k, &future);
        if (bad != NULL) {
            n_invalid++;
            json_object_set_new(kj, "valid", json_false());
            if (n_invalid == 1) {
                text_key(&invalid, k);
                text_printf(&invalid, "the ");
                text_rop(&invalid, k, bad);
                if (future)
                    text_printf(&invalid, " returned a value that was "
                                          "only written by operations "
                                          "invoked after the read "
                                          "completed, such as the ");
                else
                    text_printf(&invalid, " returned a value that no "
                                          "write or cas that did not fail "
                                          "ever wrote.\n");
                if (future) {
                    text_rop(&invalid, k, writer_of(k, bad->a));
                    text_printf(&invalid, ".\n");
                }
            }
            json_t *a = json_object();
            json_object_set_new(a, "type", json_string(
                future ? "future-read" : "read-of-unwritten-value"));
            if (k->key_json)
                json_object_set(a, "key", k->key_json);
            json_object_set_new(a, "op", rop_json(h, bad));
            json_array_append_new(anomalies, a);
            json_array_append_new(per_key, kj);
            continue;
        }

        search_key(&c, k, &o);
        if (c.oom) {
            json_decref(kj);
            verdict = CHECK_UNKNOWN;
            text_free(&invalid);
            text_free(&unknown);
            goto done;
        }
        json_object_set_new(kj, "steps", json_integer((json_int_t)o.steps));
        switch (o.verdict) {
            case KEY_VALID:
                json_object_set_new(kj, "valid", json_true());
                break;
            case KEY_UNKNOWN:
                n_unknown++;
                json_object_set_new(kj, "valid", json_string("unknown"));
                json_object_set_new(kj, "reason", json_string(o.why_unknown));
                if (n_unknown == 1) {
                    text_key(&unknown, k);
                    text_printf(&unknown, "%s after %llu steps over %zu "
                                          "operations; undecided.\n",
                                o.why_unknown, (unsigned long long)o.steps,
                                k->n);
                }
                break;
            case KEY_INVALID: {
                n_invalid++;
                json_object_set_new(kj, "valid", json_false());
                if (n_invalid == 1)
                    explain_invalid(&invalid, k, &o);
                json_t *a = json_object();
                json_object_set_new(a, "type",
                                    json_string("nonlinearizable"));
                if (k->key_json)
                    json_object_set(a, "key", k->key_json);
                json_object_set_new(a, "op", rop_json(h, o.blocked));
                json_object_set_new(a, "last_linearized", rop_json(h, o.last));
                json_object_set(a, "register_value",
                                k->values[o.state] ? k->values[o.state]
                                                   : json_null());
                json_object_set_new(a, "linearized",
                                    json_integer((json_int_t)o.depth));
                json_array_append_new(anomalies, a);
                break;
            }
        }
        json_array_append_new(per_key, kj);
    }

    if (n_invalid > 0) {
        verdict = CHECK_INVALID;
        text_printf(&t, "Not linearizable: %zu of %zu keys.\n", n_invalid,
                    n_keys);
        text_printf(&t, "%s", invalid.s ? invalid.s : "");
    } else if (n_unknown > 0) {
        verdict = CHECK_UNKNOWN;
        text_printf(&t, "Unknown: %zu of %zu keys could not be decided "
                        "within the budget; no violation found.\n",
                    n_unknown, n_keys);
        text_printf(&t, "%s", unknown.s ? unknown.s : "");
    } else if (n_ops == 0) {
        verdict = CHECK_UNKNOWN;
        text_printf(&t, "Unknown: the history has no read, write or cas "
                        "that did not fail.\n");
    } else {
        verdict = CHECK_VALID;
        text_printf(&t, "Linearizable: %zu operations over %zu keys.\n",
                    n_ops, n_keys);
    }
    if (invalid.oom || unknown.oom)
        c.oom = true;
    text_free(&invalid);
    text_free(&unknown);

done:
    for (size_t i = 0; i < n_keys; i++)
        key_ops_free(&keys[i]);
    free(keys);
    if (json != NULL) {
        json_object_set_new(json, "anomalies", anomalies);
        json_object_set_new(json, "keys", per_key);
        json_object_set_new(json, "invalid_keys",
                            json_integer((json_int_t)n_invalid));
        json_object_set_new(json, "unknown_keys",
                            json_integer((json_int_t)n_unknown));
        json_t *types = json_array();
        if (n_invalid)
            json_array_append_new(types, json_string("nonlinearizable"));
        json_object_set_new(json, "anomaly_types", types);
    } else {
        json_decref(anomalies);
        json_decref(per_key);
    }
    rv = result_fill(r, "register", verdict, &t, json);
    return c.oom ? WR_NOMEM : rv;
}
