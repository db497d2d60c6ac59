/*
 * The list-append checker, after Elle (Kingsbury and Alvaro, "Elle:
 * inferring isolation anomalies from experimental observations", 2020).
 *
 * Transactions append unique values to lists and read whole lists. Since a
 * read returns the entire list, and lists only grow, every read of a key
 * must be a prefix of the key's final list; the longest read is therefore
 * a prefix of the true version order, and any append never read comes
 * after all of it. From that order the checker infers, between committed
 * (ok) and possibly-committed (info) transactions:
 *
 *   ww  T1 -> T2: T2 appended the element right after T1's in a key's order
 *                 (or T2's append was never read: after the last read one;
 *                 this only for T2 known to have committed: ok, or info
 *                 with another of its appends read);
 *   wr  T1 -> T2: T2 read a list ending with T1's append;
 *   rw  T1 -> T2: T1 read a list that T2's append came right after (or, if
 *                 T1 read the longest list, T2's append was never read);
 *   process       T1 and T2 ran in that order on one process;
 *   realtime      T1 completed before T2 was invoked (kept as Elle's
 *                 transitive reduction: only from recent completions).
 *
 * Strict serializability means one total order containing all of these
 * edges, so any cycle is a violation. Cycles are found by Tarjan's strongly
 * connected components, then, inside each component, by breadth-first
 * search for the shortest cycle of each class, most severe first:
 *
 *   G0        ww edges only (write cycle);
 *   G1c       ww and wr, at least one wr (circular information flow);
 *   G-single  exactly one rw (read skew);
 *   G2        two or more rw (anti-dependency cycle);
 *   X-process, X-realtime
 *             a cycle of class X that needs a process or real-time edge.
 *
 * Besides cycles, scans of single reads and transactions find:
 *
 *   G1a                   an ok read holds an element appended by a
 *                         failed transaction (aborted read);
 *   G1b                   an ok read ends on an element after which its
 *                         appender appended to that key again
 *                         (intermediate read);
 *   internal              a read disagrees with its own transaction's
 *                         earlier reads and appends of the key, or holds
 *                         one of the transaction's later appends;
 *   out-of-order-appends  a transaction's appends to a key are read in
 *                         another order than it made them;
 *   incompatible-order    two reads of a key, neither a prefix of the other;
 *   duplicate-elements    one read holds an element twice;
 *   unknown-element       a read holds an element nobody appended.
 *
 * Limits. One witness per class per component: the shortest cycle through
 * the first node of a cycle-bearing sub-component, not necessarily the
 * shortest overall. A component's process and realtime variants are looked
 * for only when it has no cycle of dependency edges alone. A cycle of
 * dependency edges whose shortest witness has one rw edge is reported as
 * G-single only, even if longer G2 cycles exist. The classification search
 * is bounded (list_append_opts); past the bound a component is still
 * reported, as "cycle", unclassified, because finding the components is
 * not bounded. Elle's G-nonadjacent is reported as G2, and its lost-update
 * and dirty-update scans are not separate: a lost update is a G2 cycle
 * here and a dirty update shows as G1a. Only strict serializability is
 * judged; weaker models (serializable, snapshot isolation) are not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/err.h"
#include "checker.h"
#include "report.h"

#define DEFAULT_MAX_STEPS 10000000ULL
/* Instances of one anomaly type kept in the JSON result. */
#define MAX_KEPT 8
/* Characters of a transaction's value shown in an explanation. */
#define TXN_TEXT_MAX 240

/* Edge types, as bits of a mask. */
enum {
    E_WW = 1,
    E_WR = 2,
    E_RW = 4,
    E_PROCESS = 8,
    E_REALTIME = 16,
};
#define E_DEPS (E_WW | E_WR | E_RW)
#define E_ALL (E_DEPS | E_PROCESS | E_REALTIME)

/*
 * Interning of JSON texts (keys and values) to dense ids.
 */
struct strtab {
    char **s;
    size_t n, cap;
    size_t *slots;
    size_t n_slots;
};

static uint64_t str_hash(const char *s)
{
    uint64_t x = 0xcbf29ce484222325ULL;
    for (; *s; s++) {
        x ^= (unsigned char)*s;
        x *= 0x100000001b3ULL;
    }
    return x;
}

/* The id of @v's compact JSON text, added if new; -1 on out of memory. */
static int strtab_id(struct strtab *t, const json_t *v)
{
    char *text = json_text(v);
    if (text == NULL)
        return -1;
    if ((t->n + 1) * 2 > t->n_slots) {
        size_t n = t->n_slots ? t->n_slots * 2 : 256;
        size_t *slots = malloc(n * sizeof *slots);
        if (slots == NULL)
            goto oom;
        memset(slots, 0xff, n * sizeof *slots);
        for (size_t j = 0; j < t->n; j++) {
            size_t i = str_hash(t->s[j]) & (n - 1);
            while (slots[i] != SIZE_MAX)
                i = (i + 1) & (n - 1);
            slots[i] = j;
        }
        free(t->slots);
        t->slots = slots;
        t->n_slots = n;
    }
    size_t i = str_hash(text) & (t->n_slots - 1);
    while (t->slots[i] != SIZE_MAX) {
        if (strcmp(t->s[t->slots[i]], text) == 0) {
            free(text);
            return (int)t->slots[i];
        }
        i = (i + 1) & (t->n_slots - 1);
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        char **s = realloc(t->s, cap * sizeof *s);
        if (s == NULL)
            goto oom;
        t->s = s;
        t->cap = cap;
    }
    t->slots[i] = t->n;
    t->s[t->n] = text;
    return (int)t->n++;
oom:
    free(text);
    return -1;
}

static void strtab_free(struct strtab *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->s[i]);
    free(t->s);
    free(t->slots);
}

/*
 * The history, decoded.
 */
enum { M_APPEND, M_READ };

struct mop {
    int f;
    int key;
    int val;     /* Append: the value. */
    int *read;   /* Read (ok txns only): the values, in order. */
    size_t n_read;
};

struct txn {
    const struct hist_op *op;
    struct mop *mops;
    size_t n;
    int node;    /* Graph node, or -1 for failed transactions. */
    bool committed; /* ok, or info with an append someone read. */
};

/* An appended element: (key, value), who appended it, where it sits. */
struct elem {
    int key, val;
    int txn;
    size_t mop;  /* Index of the append among its txn's micro-ops. */
    bool final;  /* The last append of its txn to its key. */
    long pos;    /* Index in the key's version order, or -1 if unread. */
};

/* Map from (key, value) to element; open addressing. */
struct elemtab {
    struct elem *v;
    size_t n, cap;
    size_t *slots;
    size_t n_slots;
};

static uint64_t pair_hash(int k, int v)
{
    uint64_t x = ((uint64_t)(uint32_t)k << 32) | (uint32_t)v;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static long elem_find(const struct elemtab *t, int k, int v)
{
    if (t->n_slots == 0)
        return -1;
    size_t i = pair_hash(k, v) & (t->n_slots - 1);
    while (t->slots[i] != SIZE_MAX) {
        const struct elem *e = &t->v[t->slots[i]];
        if (e->key == k && e->val == v)
            return (long)t->slots[i];
        i = (i + 1) & (t->n_slots - 1);
    }
    return -1;
}

/* Add a new element (the caller checked it is absent). -1 on OOM. */
static long elem_add(struct elemtab *t, int k, int v, int txn)
{
    if ((t->n + 1) * 2 > t->n_slots) {
        size_t n = t->n_slots ? t->n_slots * 2 : 256;
        size_t *slots = malloc(n * sizeof *slots);
        if (slots == NULL)
            return -1;
        memset(slots, 0xff, n * sizeof *slots);
        for (size_t j = 0; j < t->n; j++) {
            size_t i = pair_hash(t->v[j].key, t->v[j].val) & (n - 1);
            while (slots[i] != SIZE_MAX)
                i = (i + 1) & (n - 1);
            slots[i] = j;
        }
        free(t->slots);
        t->slots = slots;
        t->n_slots = n;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        struct elem *e = realloc(t->v, cap * sizeof *e);
        if (e == NULL)
            return -1;
        t->v = e;
        t->cap = cap;
    }
    size_t i = pair_hash(k, v) & (t->n_slots - 1);
    while (t->slots[i] != SIZE_MAX)
        i = (i + 1) & (t->n_slots - 1);
    t->slots[i] = t->n;
    t->v[t->n] = (struct elem){.key = k, .val = v, .txn = txn, .pos = -1};
    return (long)t->n++;
}

/* An edge, with the witness of each of its types. */
struct edge {
    int from, to;
    int mask;
    struct {
        int key, a, b; /* Key and values, by type (see edge_reason). */
    } why[3];          /* Indexed ww, wr, rw. */
};

struct graph {
    struct edge *e; /* Sorted by (from, to), one per pair. */
    size_t n, cap;
    size_t *start;  /* CSR: edges of node v are [start[v], start[v+1]). */
    size_t n_nodes;
};

/* A found cycle: nodes and the edges between consecutive nodes. */
struct cycle {
    int *node;
    int *type;   /* The edge type chosen for each step. */
    size_t *edge;
    size_t n;
};

/* Everything one run holds. */
struct la {
    const struct history *h;
    uint64_t steps, max_steps;
    bool budget_out;
    bool oom;
    struct strtab keys, vals;
    struct txn *txns;
    size_t n_txns;
    int *node_txn;  /* Node -> txn. */
    size_t n_nodes;
    struct elemtab elems;
    int **order;    /* Per key: the longest read. */
    size_t *n_order;
    size_t *order_txn; /* Per key: the txn whose read is the longest. */
    size_t *order_mop;
    struct graph g;
    /* Results. */
    json_t *anomalies; /* type -> array of instances */
    json_t *counts;    /* type -> count */
    size_t n_anomalies;
    struct text text;  /* Witnesses, first of each type. */
};

/* Record one anomaly instance of @type; returns whether it is the first
 * of its type (so the caller explains it). Takes over @inst. */
static bool anomaly(struct la *c, const char *type, json_t *inst)
{
    json_t *arr = json_object_get(c->anomalies, type);
    json_t *cnt = json_object_get(c->counts, type);
    bool first = cnt == NULL;

    /* The verdict rests on this count, not on the JSON below, so that
     * running out of memory cannot turn an anomaly into a pass. */
    c->n_anomalies++;
    if (arr == NULL) {
        arr = json_array();
        if (arr == NULL || json_object_set_new(c->anomalies, type, arr)) {
            c->oom = true;
            arr = NULL; /* Released by the failed set. */
        }
    }
    if (json_object_set_new(c->counts, type,
                            json_integer(cnt ? json_integer_value(cnt) + 1
                                             : 1)))
        c->oom = true;
    if (arr != NULL && json_array_size(arr) < MAX_KEPT) {
        if (json_array_append_new(arr, inst))
            c->oom = true;
    } else {
        json_decref(inst);
    }
    return first;
}

/* "T<n> (process 1, invoked at ..., ok at ...: [["append","x",1]])" */
static void text_txn(struct la *c, int t)
{
    const struct txn *x = &c->txns[t];
    text_printf(&c->text, "T%zu (", x->op->id);
    text_op_times(&c->text, x->op);
    text_printf(&c->text, ": ");
    char *s = json_text(x->op->value);
    if (s == NULL) {
        c->oom = true;
        return;
    }
    /* Long reads drown the point; the JSON result has them whole. */
    if (strlen(s) > TXN_TEXT_MAX) {
        /* Cut on a UTF-8 character boundary. */
        int cut = TXN_TEXT_MAX;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--;
        text_printf(&c->text, "%.*s...", cut, s);
    } else
        text_printf(&c->text, "%s", s);
    free(s);
    text_printf(&c->text, ")");
}

static void text_read(struct la *c, const struct mop *m)
{
    /* A long list shows its head and its tail, where anomalies live. */
    text_printf(&c->text, "[");
    for (size_t i = 0; i < m->n_read; i++) {
        if (m->n_read > 12 && i == 3) {
            text_printf(&c->text, " ... (%zu more)", m->n_read - 9);
            i = m->n_read - 6;
        }
        text_printf(&c->text, "%s%s", i ? " " : "", c->vals.s[m->read[i]]);
    }
    text_printf(&c->text, "]");
}

/*
 * Decoding.
 */

static int decode_txn(struct la *c, const struct hist_op *op, struct txn *x,
                      struct text *why)
{
    const struct history *h = c->h;
    json_t *v = op->value;
    size_t line = op->complete != SIZE_MAX ? h->events[op->complete].line
                                           : h->events[op->invoke].line;

    x->op = op;
    x->node = -1;
    if (!json_is_array(v)) {
        text_printf(why, "line %zu: a txn's value must be a list of "
                         "micro-ops\n", line);
        return -1;
    }
    size_t n = json_array_size(v);
    x->mops = calloc(n ? n : 1, sizeof *x->mops);
    if (x->mops == NULL) {
        c->oom = true;
        return -1;
    }
    x->n = n;
    for (size_t i = 0; i < x->n; i++) {
        json_t *m = json_array_get(v, i);
        struct mop *mo = &x->mops[i];
        const char *f = json_string_value(json_array_get(m, 0));
        if (!json_is_array(m) || json_array_size(m) != 3 || f == NULL ||
            (strcmp(f, "append") != 0 && strcmp(f, "r") != 0)) {
            text_printf(why, "line %zu: micro-op %zu is not [\"append\", k, "
                             "v] or [\"r\", k, list]\n", line, i + 1);
            return -1;
        }
        mo->f = strcmp(f, "append") == 0 ? M_APPEND : M_READ;
        mo->key = strtab_id(&c->keys, json_array_get(m, 1));
        if (mo->key < 0) {
            c->oom = true;
            return -1;
        }
        json_t *arg = json_array_get(m, 2);
        if (mo->f == M_APPEND) {
            if ((mo->val = strtab_id(&c->vals, arg)) < 0) {
                c->oom = true;
                return -1;
            }
            continue;
        }
        if (op->type != HIST_OK)
            continue; /* Unfinished reads tell nothing. */
        if (!json_is_null(arg) && !json_is_array(arg)) {
            text_printf(why, "line %zu: read micro-op %zu returned neither "
                             "a list nor null\n", line, i + 1);
            return -1;
        }
        mo->n_read = json_array_size(arg);
        mo->read = malloc((mo->n_read ? mo->n_read : 1) * sizeof *mo->read);
        if (mo->read == NULL) {
            c->oom = true;
            return -1;
        }
        for (size_t j = 0; j < mo->n_read; j++) {
            if ((mo->read[j] = strtab_id(&c->vals, json_array_get(arg, j))) <
                0) {
                c->oom = true;
                return -1;
            }
        }
    }
    return 0;
}

/* Decode every txn and index the appends. Returns 0, or -1 with @why set
 * (the history does not meet the preconditions) or c->oom. */
static int decode(struct la *c, struct text *why)
{
    const struct history *h = c->h;

    c->txns = calloc(h->n_ops ? h->n_ops : 1, sizeof *c->txns);
    c->node_txn = calloc(h->n_ops ? h->n_ops : 1, sizeof *c->node_txn);
    if (c->txns == NULL || c->node_txn == NULL) {
        c->oom = true;
        return -1;
    }
    for (size_t i = 0; i < h->n_ops; i++) {
        const struct hist_op *op = &h->ops[i];
        if (strcmp(op->f, "txn") != 0)
            continue;
        struct txn *x = &c->txns[c->n_txns++];
        if (decode_txn(c, op, x, why) != 0)
            return -1;
        if (op->type != HIST_FAIL) {
            x->node = (int)c->n_nodes;
            c->node_txn[c->n_nodes++] = (int)(c->n_txns - 1);
        }
        for (size_t j = 0; j < x->n; j++) {
            struct mop *m = &x->mops[j];
            if (m->f != M_APPEND)
                continue;
            long e = elem_find(&c->elems, m->key, m->val);
            if (e >= 0) {
                const struct txn *other = &c->txns[c->elems.v[e].txn];
                text_printf(why, "%s was appended to key %s twice (T%zu on "
                                 "line %zu, T%zu on line %zu); appends must "
                                 "be unique\n",
                            c->vals.s[m->val], c->keys.s[m->key],
                            other->op->id, h->events[other->op->invoke].line,
                            op->id, h->events[op->invoke].line);
                return -1;
            }
            long added = elem_add(&c->elems, m->key, m->val,
                                  (int)(c->n_txns - 1));
            if (added < 0) {
                c->oom = true;
                return -1;
            }
            c->elems.v[added].mop = j;
        }
        /* Mark each key's last append in this txn. */
        for (size_t j = 0; j < x->n; j++) {
            struct mop *m = &x->mops[j];
            if (m->f != M_APPEND)
                continue;
            bool later = false;
            for (size_t l = j + 1; l < x->n && !later; l++)
                later = x->mops[l].f == M_APPEND &&
                        x->mops[l].key == m->key;
            if (!later)
                c->elems.v[elem_find(&c->elems, m->key, m->val)].final = true;
        }
    }
    return 0;
}

/*
 * Scans of single reads and transactions.
 */

static json_t *txn_json(struct la *c, int t)
{
    return op_json(c->h, c->txns[t].op);
}

static void scan_reads(struct la *c)
{
    size_t n_keys = c->keys.n;
    /* A stamp per value id, to find duplicates within one read. */
    size_t *stamp = malloc((c->vals.n ? c->vals.n : 1) * sizeof *stamp);
    size_t read_no = 0;

    c->order = calloc(n_keys ? n_keys : 1, sizeof *c->order);
    c->n_order = calloc(n_keys ? n_keys : 1, sizeof *c->n_order);
    c->order_txn = calloc(n_keys ? n_keys : 1, sizeof *c->order_txn);
    c->order_mop = calloc(n_keys ? n_keys : 1, sizeof *c->order_mop);
    if (stamp == NULL || c->order == NULL || c->n_order == NULL ||
        c->order_txn == NULL || c->order_mop == NULL) {
        free(stamp);
        c->oom = true;
        return;
    }
    memset(stamp, 0xff, (c->vals.n ? c->vals.n : 1) * sizeof *stamp);

    for (size_t t = 0; t < c->n_txns; t++) {
        struct txn *x = &c->txns[t];
        if (x->op->type != HIST_OK)
            continue;
        for (size_t j = 0; j < x->n; j++) {
            struct mop *m = &x->mops[j];
            if (m->f != M_READ)
                continue;
            read_no++;
            /* The longest read fixes the version order. */
            if (c->order[m->key] == NULL || m->n_read > c->n_order[m->key]) {
                c->order[m->key] = m->read;
                c->n_order[m->key] = m->n_read;
                c->order_txn[m->key] = t;
                c->order_mop[m->key] = j;
            }
            for (size_t i = 0; i < m->n_read; i++) {
                int v = m->read[i];
                if (stamp[v] == read_no) {
                    json_t *a = txn_json(c, (int)t);
                    json_object_set_new(a, "key",
                                        json_string(c->keys.s[m->key]));
                    json_object_set_new(a, "element",
                                        json_string(c->vals.s[v]));
                    if (anomaly(c, "duplicate-elements", a)) {
                        text_printf(&c->text, "duplicate-elements: ");
                        text_txn(c, (int)t);
                        text_printf(&c->text, " read key %s as ",
                                    c->keys.s[m->key]);
                        text_read(c, m);
                        text_printf(&c->text, ", which holds %s twice.\n",
                                    c->vals.s[v]);
                    }
                }
                stamp[v] = read_no;
                long e = elem_find(&c->elems, m->key, v);
                if (e < 0) {
                    json_t *a = txn_json(c, (int)t);
                    json_object_set_new(a, "key",
                                        json_string(c->keys.s[m->key]));
                    json_object_set_new(a, "element",
                                        json_string(c->vals.s[v]));
                    if (anomaly(c, "unknown-element", a)) {
                        text_printf(&c->text, "unknown-element: ");
                        text_txn(c, (int)t);
                        text_printf(&c->text, " read %s in key %s, but no "
                                              "transaction ever appended "
                                              "it.\n",
                                    c->vals.s[v], c->keys.s[m->key]);
                    }
                    continue;
                }
                const struct elem *el = &c->elems.v[e];
                const struct txn *w = &c->txns[el->txn];
                if (w->op->type == HIST_FAIL) {
                    json_t *a = json_object();
                    json_object_set_new(a, "reader", txn_json(c, (int)t));
                    json_object_set_new(a, "writer", txn_json(c, el->txn));
                    json_object_set_new(a, "key",
                                        json_string(c->keys.s[m->key]));
                    json_object_set_new(a, "element",
                                        json_string(c->vals.s[v]));
                    if (anomaly(c, "G1a", a)) {
                        text_printf(&c->text, "G1a (aborted read): ");
                        text_txn(c, (int)t);
                        text_printf(&c->text, " read key %s as ",
                                    c->keys.s[m->key]);
                        text_read(c, m);
                        text_printf(&c->text, ", which holds %s, appended "
                                              "only by the failed ",
                                    c->vals.s[v]);
                        text_txn(c, el->txn);
                        text_printf(&c->text, ".\n");
                    }
                }
                if (i + 1 == m->n_read && !el->final && el->txn != (int)t) {
                    json_t *a = json_object();
                    json_object_set_new(a, "reader", txn_json(c, (int)t));
                    json_object_set_new(a, "writer", txn_json(c, el->txn));
                    json_object_set_new(a, "key",
                                        json_string(c->keys.s[m->key]));
                    json_object_set_new(a, "element",
                                        json_string(c->vals.s[v]));
                    if (anomaly(c, "G1b", a)) {
                        text_printf(&c->text, "G1b (intermediate read): ");
                        text_txn(c, (int)t);
                        text_printf(&c->text, " read key %s as ",
                                    c->keys.s[m->key]);
                        text_read(c, m);
                        text_printf(&c->text, ", ending at %s, but ",
                                    c->vals.s[v]);
                        text_txn(c, el->txn);
                        text_printf(&c->text, " appended to key %s again "
                                              "after %s: the read saw an "
                                              "intermediate state.\n",
                                    c->keys.s[m->key], c->vals.s[v]);
                    }
                }
            }
        }
    }
    free(stamp);
}

/* A read must agree with its own transaction's earlier reads and appends
 * of that key, and must not hold an append the transaction makes after
 * it. */
static void scan_internal(struct la *c)
{
    for (size_t t = 0; t < c->n_txns; t++) {
        struct txn *x = &c->txns[t];
        if (x->op->type != HIST_OK)
            continue;
        for (size_t j = 0; j < x->n; j++) {
            struct mop *m = &x->mops[j];
            if (m->f != M_READ)
                continue;
            /* Walk back to the previous read of this key, collecting the
             * appends in between. */
            const struct mop *prev = NULL;
            size_t n_app = 0;
            for (size_t l = j; l-- > 0;) {
                const struct mop *p = &x->mops[l];
                if (p->key != m->key)
                    continue;
                if (p->f == M_READ) {
                    prev = p;
                    break;
                }
                n_app++;
            }
            size_t base = prev ? prev->n_read : 0;
            bool ok = true;
            if (prev != NULL && m->n_read != base + n_app)
                ok = false;
            if (prev == NULL && m->n_read < n_app)
                ok = false;
            if (ok && prev != NULL &&
                memcmp(prev->read, m->read, base * sizeof *m->read) != 0)
                ok = false;
            /* The appends, in order, must end the list. */
            size_t at = m->n_read - n_app;
            for (size_t l = 0; ok && l < j; l++) {
                const struct mop *p = &x->mops[l];
                if (p->key != m->key || p->f != M_APPEND ||
                    (prev != NULL && p < prev))
                    continue;
                if (m->read[at++] != p->val)
                    ok = false;
            }
            /* Nor may it hold an append its transaction makes later. */
            for (size_t i = 0; ok && i < m->n_read; i++) {
                long e = elem_find(&c->elems, m->key, m->read[i]);
                if (e >= 0 && c->elems.v[e].txn == (int)t &&
                    c->elems.v[e].mop > j)
                    ok = false;
            }
            if (ok)
                continue;
            json_t *a = txn_json(c, (int)t);
            json_object_set_new(a, "key", json_string(c->keys.s[m->key]));
            if (anomaly(c, "internal", a)) {
                text_printf(&c->text, "internal: ");
                text_txn(c, (int)t);
                text_printf(&c->text, " read key %s as ", c->keys.s[m->key]);
                text_read(c, m);
                text_printf(&c->text, ", which disagrees with its own "
                                      "reads and appends of that key.\n");
            }
        }
    }
}

/* A transaction's appends to one key must show in its order: T appending
 * 1 then 2 cannot be read as [2 1]. No edge catches this, since both
 * elements belong to one transaction. */
static void scan_append_order(struct la *c)
{
    size_t n = c->n_txns ? c->n_txns : 1;
    size_t *seen_key = malloc(n * sizeof *seen_key);
    long *last = malloc(n * sizeof *last);

    if (seen_key == NULL || last == NULL) {
        c->oom = true;
        goto out;
    }
    memset(seen_key, 0xff, n * sizeof *seen_key);
    for (size_t k = 0; k < c->keys.n; k++) {
        for (size_t i = 0; i < c->n_order[k]; i++) {
            long e = elem_find(&c->elems, (int)k, c->order[k][i]);
            if (e < 0)
                continue;
            const struct elem *el = &c->elems.v[e];
            size_t t = (size_t)el->txn;
            if (seen_key[t] == k && (long)el->mop < last[t]) {
                json_t *a = txn_json(c, el->txn);
                json_object_set_new(a, "key", json_string(c->keys.s[k]));
                json_object_set_new(a, "element",
                                    json_string(c->vals.s[el->val]));
                if (anomaly(c, "out-of-order-appends", a)) {
                    size_t lt = c->order_txn[k];
                    text_printf(&c->text, "out-of-order-appends: ");
                    text_txn(c, (int)lt);
                    text_printf(&c->text, " read key %s as ",
                                c->keys.s[k]);
                    text_read(c, &c->txns[lt].mops[c->order_mop[k]]);
                    text_printf(&c->text, ", but ");
                    text_txn(c, el->txn);
                    text_printf(&c->text, " appended %s before %s.\n",
                                c->vals.s[el->val],
                                c->vals.s[c->txns[t].mops[last[t]].val]);
                }
            }
            seen_key[t] = k;
            last[t] = (long)el->mop;
        }
    }
out:
    free(seen_key);
    free(last);
}

/* Every read of a key must be a prefix of the longest; place elements. */
static void scan_orders(struct la *c)
{
    for (size_t t = 0; t < c->n_txns; t++) {
        struct txn *x = &c->txns[t];
        if (x->op->type != HIST_OK)
            continue;
        for (size_t j = 0; j < x->n; j++) {
            struct mop *m = &x->mops[j];
            if (m->f != M_READ)
                continue;
            const int *o = c->order[m->key];
            if (memcmp(o, m->read, m->n_read * sizeof *o) == 0)
                continue;
            json_t *a = json_object();
            json_object_set_new(a, "key", json_string(c->keys.s[m->key]));
            json_object_set_new(a, "reader", txn_json(c, (int)t));
            json_object_set_new(a, "longest_reader",
                                txn_json(c, (int)c->order_txn[m->key]));
            if (anomaly(c, "incompatible-order", a)) {
                size_t lt = c->order_txn[m->key];
                text_printf(&c->text, "incompatible-order: ");
                text_txn(c, (int)t);
                text_printf(&c->text, " read key %s as ", c->keys.s[m->key]);
                text_read(c, m);
                text_printf(&c->text, ", but ");
                text_txn(c, (int)lt);
                text_printf(&c->text, " read it as ");
                text_read(c, &c->txns[lt].mops[c->order_mop[m->key]]);
                text_printf(&c->text, "; lists only grow, so one must be a "
                                      "prefix of the other.\n");
            }
        }
    }
    for (size_t k = 0; k < c->keys.n; k++) {
        for (size_t i = c->n_order[k]; i-- > 0;) {
            long e = elem_find(&c->elems, (int)k, c->order[k][i]);
            if (e >= 0)
                c->elems.v[e].pos = (long)i;
        }
    }
    scan_append_order(c);
}

/*
 * The graph.
 */

static void add_edge(struct la *c, int from, int to, int type, int key,
                     int a, int b)
{
    if (from < 0 || to < 0 || from == to)
        return;
    struct graph *g = &c->g;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 1024;
        struct edge *e = realloc(g->e, cap * sizeof *e);
        if (e == NULL) {
            c->oom = true;
            return;
        }
        g->e = e;
        g->cap = cap;
    }
    struct edge *e = &g->e[g->n++];
    memset(e, 0, sizeof *e);
    e->from = from;
    e->to = to;
    e->mask = type;
    int w = type == E_WW ? 0 : type == E_WR ? 1 : type == E_RW ? 2 : -1;
    if (w >= 0) {
        e->why[w].key = key;
        e->why[w].a = a;
        e->why[w].b = b;
    }
}

static int node_of_elem(struct la *c, long e)
{
    return e < 0 ? -1 : c->txns[c->elems.v[e].txn].node;
}

static void dependency_edges(struct la *c)
{
    /* An info transaction one of whose appends was read did commit, so
     * its unread appends happened too. */
    for (size_t t = 0; t < c->n_txns; t++)
        c->txns[t].committed = c->txns[t].op->type == HIST_OK;
    for (size_t e = 0; e < c->elems.n; e++) {
        struct txn *x = &c->txns[c->elems.v[e].txn];
        if (c->elems.v[e].pos >= 0 && x->op->type == HIST_INFO)
            x->committed = true;
    }
    /* ww along each order, then to appends never read. */
    for (size_t k = 0; k < c->keys.n; k++) {
        long prev = -1;
        for (size_t i = 0; i < c->n_order[k]; i++) {
            long e = elem_find(&c->elems, (int)k, c->order[k][i]);
            if (e < 0)
                continue;
            if (prev >= 0)
                add_edge(c, node_of_elem(c, prev), node_of_elem(c, e), E_WW,
                         (int)k, c->elems.v[prev].val, c->elems.v[e].val);
            prev = e;
        }
    }
    for (size_t e = 0; e < c->elems.n; e++) {
        const struct elem *el = &c->elems.v[e];
        if (el->pos >= 0 || !c->txns[el->txn].committed)
            continue;
        size_t k = (size_t)el->key;
        if (c->n_order[k] == 0)
            continue;
        long last = elem_find(&c->elems, (int)k,
                              c->order[k][c->n_order[k] - 1]);
        if (last >= 0)
            add_edge(c, node_of_elem(c, last), c->txns[el->txn].node, E_WW,
                     (int)k, c->elems.v[last].val, el->val);
    }
    /* wr and rw from every ok read. */
    for (size_t t = 0; t < c->n_txns; t++) {
        struct txn *x = &c->txns[t];
        if (x->op->type != HIST_OK)
            continue;
        for (size_t j = 0; j < x->n; j++) {
            struct mop *m = &x->mops[j];
            if (m->f != M_READ)
                continue;
            int k = m->key;
            int last_val = m->n_read ? m->read[m->n_read - 1] : -1;
            if (m->n_read > 0) {
                long e = elem_find(&c->elems, k, last_val);
                add_edge(c, node_of_elem(c, e), x->node, E_WR, k, last_val,
                         -1);
            }
            if (m->n_read < c->n_order[k]) {
                long e = elem_find(&c->elems, k, c->order[k][m->n_read]);
                add_edge(c, x->node, node_of_elem(c, e), E_RW, k, last_val,
                         c->order[k][m->n_read]);
            } else {
                /* Read the longest list: every unread ok append to this
                 * key came after. */
                for (size_t e = 0; e < c->elems.n; e++) {
                    const struct elem *el = &c->elems.v[e];
                    if (el->key != k || el->pos >= 0 ||
                        !c->txns[el->txn].committed)
                        continue;
                    add_edge(c, x->node, c->txns[el->txn].node, E_RW, k,
                             last_val, el->val);
                }
            }
        }
    }
}

/* A node and its process, to sort into process order. */
struct pn {
    int64_t process;
    int node;
};

static int pn_cmp(const void *a, const void *b)
{
    const struct pn *x = a, *y = b;
    if (x->process != y->process)
        return x->process < y->process ? -1 : 1;
    return x->node - y->node;
}

static void order_edges(struct la *c)
{
    const struct history *h = c->h;
    /* Process order: each node to the next node of its process. Nodes
     * are numbered in invocation order, so sorting by (process, node)
     * lines each process's nodes up. */
    struct pn *pn = malloc((c->n_nodes ? c->n_nodes : 1) * sizeof *pn);
    if (pn == NULL) {
        c->oom = true;
        return;
    }
    for (size_t v = 0; v < c->n_nodes; v++) {
        pn[v].process = c->txns[c->node_txn[v]].op->process;
        pn[v].node = (int)v;
    }
    qsort(pn, c->n_nodes, sizeof *pn, pn_cmp);
    for (size_t i = 1; i < c->n_nodes; i++) {
        if (pn[i].process == pn[i - 1].process)
            add_edge(c, pn[i - 1].node, pn[i].node, E_PROCESS, -1, -1, -1);
    }
    free(pn);
    /* Real time, reduced: an invocation gets edges from the completed
     * nodes not yet followed by another completed node that began after
     * them; a completion retires those it follows. */
    int *recent = malloc((c->n_nodes ? c->n_nodes : 1) * sizeof *recent);
    size_t n_recent = 0;
    size_t *first_edge = malloc((c->n_nodes ? c->n_nodes : 1) *
                                sizeof *first_edge);
    size_t *last_edge = malloc((c->n_nodes ? c->n_nodes : 1) *
                               sizeof *last_edge);
    int *node_of_op = malloc((h->n_ops ? h->n_ops : 1) * sizeof *node_of_op);
    char *retired = calloc(c->n_nodes ? c->n_nodes : 1, 1);
    if (!recent || !first_edge || !last_edge || !node_of_op || !retired) {
        c->oom = true;
        goto out;
    }
    for (size_t i = 0; i < h->n_ops; i++)
        node_of_op[i] = -1;
    for (size_t v = 0; v < c->n_nodes; v++)
        node_of_op[c->txns[c->node_txn[v]].op->id] = (int)v;
    /* Walk events in order; an op's invocation event is ops[..].invoke. */
    int *op_at = malloc((h->n_events ? h->n_events : 1) * sizeof *op_at);
    if (op_at == NULL) {
        c->oom = true;
        goto out;
    }
    for (size_t i = 0; i < h->n_events; i++)
        op_at[i] = -1;
    for (size_t i = 0; i < h->n_ops; i++) {
        op_at[h->ops[i].invoke] = (int)i;
        if (h->ops[i].complete != SIZE_MAX)
            op_at[h->ops[i].complete] = (int)i;
    }
    for (size_t i = 0; i < h->n_events && !c->oom; i++) {
        if (op_at[i] < 0)
            continue;
        int v = node_of_op[op_at[i]];
        if (v < 0)
            continue;
        const struct hist_op *op = &h->ops[op_at[i]];
        if (op->invoke == i) {
            first_edge[v] = c->g.n;
            for (size_t r = 0; r < n_recent; r++)
                add_edge(c, recent[r], v, E_REALTIME, -1, -1, -1);
            last_edge[v] = c->g.n;
            continue;
        }
        /* Completion of v: retire what it follows. */
        for (size_t e = first_edge[v]; e < last_edge[v]; e++)
            retired[c->g.e[e].from] = 1;
        size_t w = 0;
        for (size_t r = 0; r < n_recent; r++) {
            if (!retired[recent[r]])
                recent[w++] = recent[r];
        }
        n_recent = w;
        recent[n_recent++] = v;
    }
    free(op_at);
out:
    free(recent);
    free(first_edge);
    free(last_edge);
    free(node_of_op);
    free(retired);
}

static int edge_cmp(const void *a, const void *b)
{
    const struct edge *x = a, *y = b;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    if (x->to != y->to)
        return x->to < y->to ? -1 : 1;
    return 0;
}

/* Sort, merge parallel edges (keeping the first witness of each type) and
 * index by source node. */
static void build_graph(struct la *c)
{
    struct graph *g = &c->g;
    if (g->n > 0)
        qsort(g->e, g->n, sizeof *g->e, edge_cmp);
    size_t w = 0;
    for (size_t i = 0; i < g->n; i++) {
        if (w > 0 && g->e[w - 1].from == g->e[i].from &&
            g->e[w - 1].to == g->e[i].to) {
            struct edge *d = &g->e[w - 1];
            for (int t = 0; t < 3; t++) {
                if ((g->e[i].mask & (1 << t)) && !(d->mask & (1 << t)))
                    d->why[t] = g->e[i].why[t];
            }
            d->mask |= g->e[i].mask;
            continue;
        }
        g->e[w++] = g->e[i];
    }
    g->n = w;
    g->n_nodes = c->n_nodes;
    g->start = calloc(c->n_nodes + 1, sizeof *g->start);
    if (g->start == NULL) {
        c->oom = true;
        return;
    }
    for (size_t i = 0; i < g->n; i++)
        g->start[g->e[i].from + 1]++;
    for (size_t v = 0; v < c->n_nodes; v++)
        g->start[v + 1] += g->start[v];
}

/*
 * Cycle search.
 */

/* Scratch for Tarjan and BFS, sized to the node count. */
struct scratch {
    int *index, *low, *stack, *comp, *parent;
    size_t *parent_edge, *iter;
    char *on_stack;
    int *queue;
};

/* Tarjan's algorithm, iteratively, over the nodes @members (all with
 * in[v] == in_id), following edges whose mask meets @mask to nodes with
 * the same in[] id. Writes component ids to s->comp (-1 outside) and
 * returns the number of components, or -1 when the budget runs out. */
static int tarjan(struct la *c, struct scratch *s, const int *members,
                  size_t n_members, const int *in, int in_id, int mask)
{
    const struct graph *g = &c->g;
    int next_index = 0, n_comp = 0;
    size_t sp = 0;
    int *call = s->queue; /* The DFS call stack. */

    for (size_t i = 0; i < n_members; i++) {
        int v = members[i];
        s->index[v] = -1;
        s->comp[v] = -1;
        s->on_stack[v] = 0;
    }
    for (size_t i = 0; i < n_members; i++) {
        int root = members[i];
        if (s->index[root] >= 0)
            continue;
        size_t depth = 0;
        call[depth++] = root;
        s->index[root] = s->low[root] = next_index++;
        s->stack[sp++] = root;
        s->on_stack[root] = 1;
        s->iter[root] = g->start[root];
        while (depth > 0) {
            if (++c->steps > c->max_steps) {
                c->budget_out = true;
                return -1;
            }
            int v = call[depth - 1];
            if (s->iter[v] < g->start[v + 1]) {
                const struct edge *e = &g->e[s->iter[v]++];
                int w = e->to;
                if (!(e->mask & mask) || in[w] != in_id)
                    continue;
                if (s->index[w] < 0) {
                    s->index[w] = s->low[w] = next_index++;
                    s->stack[sp++] = w;
                    s->on_stack[w] = 1;
                    s->iter[w] = g->start[w];
                    call[depth++] = w;
                } else if (s->on_stack[w] && s->index[w] < s->low[v]) {
                    s->low[v] = s->index[w];
                }
                continue;
            }
            depth--;
            if (depth > 0) {
                int u = call[depth - 1];
                if (s->low[v] < s->low[u])
                    s->low[u] = s->low[v];
            }
            if (s->low[v] == s->index[v]) {
                int w;
                do {
                    w = s->stack[--sp];
                    s->on_stack[w] = 0;
                    s->comp[w] = n_comp;
                } while (w != v);
                n_comp++;
            }
        }
    }
    return n_comp;
}

/* The preferred type of edge @e among @mask: dependencies first. */
static int pick_type(const struct edge *e, int mask)
{
    static const int pref[] = {E_WW, E_WR, E_RW, E_PROCESS, E_REALTIME};
    for (int i = 0; i < 5; i++) {
        if (e->mask & mask & pref[i])
            return pref[i];
    }
    return 0;
}

/* Shortest path from @src to @dst over edges meeting @mask between nodes
 * with in[] == in_id, appended to @cy after the nodes it holds. Returns 1
 * if found, 0 if not, -1 if the budget ran out. */
static int bfs(struct la *c, struct scratch *s, const int *members,
               size_t n_members, const int *in, int in_id, int mask, int src,
               int dst, struct cycle *cy)
{
    const struct graph *g = &c->g;
    size_t head = 0, tail = 0;

    for (size_t i = 0; i < n_members; i++)
        s->parent[members[i]] = -2;
    s->parent[src] = -1;
    s->queue[tail++] = src;
    while (head < tail) {
        int v = s->queue[head++];
        for (size_t i = g->start[v]; i < g->start[v + 1]; i++) {
            if (++c->steps > c->max_steps) {
                c->budget_out = true;
                return -1;
            }
            const struct edge *e = &g->e[i];
            int w = e->to;
            if (!(e->mask & mask) || in[w] != in_id)
                continue;
            if (w == dst && w != src) {
                s->parent_edge[w] = i;
                s->parent[w] = v;
                goto found;
            }
            if (w == dst) {
                /* A cycle back to src itself. */
                s->parent_edge[src] = i;
                goto found_self;
            }
            if (s->parent[w] != -2)
                continue;
            s->parent[w] = v;
            s->parent_edge[w] = i;
            s->queue[tail++] = w;
        }
    }
    return 0;

found_self:;
    /* Walk from the closing edge's source back to src. */
    {
        size_t closing = s->parent_edge[src];
        size_t len = 1;
        for (int v = g->e[closing].from; v != src; v = s->parent[v])
            len++;
        size_t base = cy->n;
        cy->n += len;
        size_t at = cy->n;
        cy->edge[--at] = closing;
        cy->node[at] = g->e[closing].from;
        for (int v = g->e[closing].from; v != src; v = s->parent[v]) {
            cy->edge[--at] = s->parent_edge[v];
            cy->node[at] = s->parent[v];
        }
        (void)base;
        for (size_t i = base; i < cy->n; i++)
            cy->type[i] = pick_type(&g->e[cy->edge[i]], mask);
        return 1;
    }
found:;
    {
        size_t len = 0;
        for (int v = dst; v != src; v = s->parent[v])
            len++;
        size_t base = cy->n;
        cy->n += len;
        size_t at = cy->n;
        for (int v = dst; v != src; v = s->parent[v]) {
            cy->edge[--at] = s->parent_edge[v];
            cy->node[at] = s->parent[v];
        }
        for (size_t i = base; i < cy->n; i++)
            cy->type[i] = pick_type(&g->e[cy->edge[i]], mask);
        return 1;
    }
}

/* Some cycle over edges meeting @mask inside the component of nodes with
 * in[] == in_id, or 0 if none; -1 when out of budget. */
static int find_cycle(struct la *c, struct scratch *s, const int *members,
                      size_t n_members, const int *in, int in_id, int mask,
                      struct cycle *cy, int *sub)
{
    int n = tarjan(c, s, members, n_members, in, in_id, mask);
    int r = 0;
    if (n < 0)
        return -1;
    /* Any sub-component with two or more members holds a cycle. Count
     * sizes in s->index, free once Tarjan is done (ids < n_members). */
    for (int i = 0; i < n; i++)
        s->index[i] = 0;
    for (size_t i = 0; i < n_members; i++)
        s->index[s->comp[members[i]]]++;
    for (size_t i = 0; i < n_members; i++)
        sub[members[i]] = s->comp[members[i]];
    for (size_t i = 0; i < n_members; i++) {
        int v = members[i];
        if (s->index[sub[v]] < 2)
            continue;
        cy->n = 0;
        r = bfs(c, s, members, n_members, sub, sub[v], mask, v, v, cy);
        break;
    }
    /* sub[] must read -1 outside the members searched next time. */
    for (size_t i = 0; i < n_members; i++)
        sub[members[i]] = -1;
    return r;
}

static const char *type_name(int type)
{
    switch (type) {
        case E_WW:
            return "ww";
        case E_WR:
            return "wr";
        case E_RW:
            return "rw";
        case E_PROCESS:
            return "process";
        case E_REALTIME:
            return "realtime";
    }
    return "?";
}

/* One sentence for the step @i of @cy: why T_a < T_b. */
static void explain_step(struct la *c, const struct cycle *cy, size_t i,
                         const size_t *label)
{
    const struct edge *e = &c->g.e[cy->edge[i]];
    int ta = c->node_txn[e->from], tb = c->node_txn[e->to];
    size_t la = label[i], lb = label[(i + 1) % cy->n];
    const struct hist_op *a = c->txns[ta].op, *b = c->txns[tb].op;
    text_printf(&c->text, "  T%zu < T%zu, because ", la, lb);
    switch (cy->type[i]) {
        case E_WW:
            text_printf(&c->text, "T%zu appended %s after T%zu appended %s "
                                  "to key %s.\n",
                        lb, c->vals.s[e->why[0].b], la,
                        c->vals.s[e->why[0].a], c->keys.s[e->why[0].key]);
            break;
        case E_WR:
            text_printf(&c->text, "T%zu observed T%zu's append of %s to key "
                                  "%s.\n",
                        lb, la, c->vals.s[e->why[1].a],
                        c->keys.s[e->why[1].key]);
            break;
        case E_RW:
            text_printf(&c->text, "T%zu did not observe T%zu's append of %s "
                                  "to key %s",
                        la, lb, c->vals.s[e->why[2].b],
                        c->keys.s[e->why[2].key]);
            if (e->why[2].a >= 0)
                text_printf(&c->text, " (its read ended at %s).\n",
                            c->vals.s[e->why[2].a]);
            else
                text_printf(&c->text, " (it read the empty list).\n");
            break;
        case E_PROCESS:
            text_printf(&c->text, "process %lld ran T%zu before T%zu.\n",
                        (long long)a->process, la, lb);
            break;
        case E_REALTIME:
            text_printf(&c->text, "T%zu completed at %.3f s, before T%zu "
                                  "was invoked at %.3f s.\n",
                        la, (double)a->complete_time / 1e9, lb,
                        (double)b->invoke_time / 1e9);
            break;
    }
}

static void report_cycle(struct la *c, const char *type,
                         const struct cycle *cy)
{
    json_t *inst = json_object();
    json_t *steps = json_array();
    for (size_t i = 0; i < cy->n; i++) {
        json_t *st = json_object();
        const struct edge *e = &c->g.e[cy->edge[i]];
        json_object_set_new(st, "txn",
                            txn_json(c, c->node_txn[cy->node[i]]));
        json_object_set_new(st, "edge", json_string(type_name(cy->type[i])));
        int w = cy->type[i] == E_WW ? 0 : cy->type[i] == E_WR ? 1
                : cy->type[i] == E_RW ? 2 : -1;
        if (w >= 0)
            json_object_set_new(st, "key",
                                json_string(c->keys.s[e->why[w].key]));
        json_array_append_new(steps, st);
    }
    json_object_set_new(inst, "cycle", steps);
    if (!anomaly(c, type, inst))
        return;
    size_t *label = malloc(cy->n * sizeof *label);
    if (label == NULL) {
        c->oom = true;
        return;
    }
    text_printf(&c->text, "%s: a cycle of %zu transactions. Let:\n", type,
                cy->n);
    for (size_t i = 0; i < cy->n; i++) {
        label[i] = c->txns[c->node_txn[cy->node[i]]].op->id;
        text_printf(&c->text, "  ");
        text_txn(c, c->node_txn[cy->node[i]]);
        text_printf(&c->text, "\n");
    }
    text_printf(&c->text, "Then:\n");
    for (size_t i = 0; i < cy->n; i++)
        explain_step(c, cy, i, label);
    text_printf(&c->text, "  A contradiction: T%zu < T%zu.\n", label[0],
                label[0]);
    free(label);
}

static const char *classify(const struct cycle *cy)
{
    size_t rw = 0, wr = 0, rt = 0, proc = 0;
    for (size_t i = 0; i < cy->n; i++) {
        rw += cy->type[i] == E_RW;
        wr += cy->type[i] == E_WR;
        rt += cy->type[i] == E_REALTIME;
        proc += cy->type[i] == E_PROCESS;
    }
    static const char *names[4][3] = {
        {"G0", "G0-process", "G0-realtime"},
        {"G1c", "G1c-process", "G1c-realtime"},
        {"G-single", "G-single-process", "G-single-realtime"},
        {"G2", "G2-process", "G2-realtime"},
    };
    int base = rw >= 2 ? 3 : rw == 1 ? 2 : wr ? 1 : 0;
    int var = rt ? 2 : proc ? 1 : 0;
    return names[base][var];
}

/* Search one strongly connected component of the full graph. */
static void search_component(struct la *c, struct scratch *s,
                             const int *members, size_t n, const int *comp,
                             int id, struct cycle *cy, int *sub)
{
    bool found = false;
    int r;

    /* G0, then G1c. */
    r = find_cycle(c, s, members, n, comp, id, E_WW, cy, sub);
    if (r > 0) {
        report_cycle(c, classify(cy), cy);
        found = true;
    }
    if (r >= 0) {
        r = find_cycle(c, s, members, n, comp, id, E_WW | E_WR, cy, sub);
        if (r > 0 && strcmp(classify(cy), "G0") != 0) {
            report_cycle(c, classify(cy), cy);
            found = true;
        }
    }
    /* G-single: one rw edge u -> v closed by ww/wr from v back to u. */
    for (size_t i = 0; r >= 0 && i < n; i++) {
        int u = members[i];
        for (size_t j = c->g.start[u]; j < c->g.start[u + 1]; j++) {
            const struct edge *e = &c->g.e[j];
            if (!(e->mask & E_RW) || comp[e->to] != id)
                continue;
            cy->n = 1;
            cy->node[0] = u;
            cy->edge[0] = j;
            cy->type[0] = E_RW;
            r = bfs(c, s, members, n, comp, id, E_WW | E_WR, e->to, u, cy);
            if (r > 0) {
                /* The path was appended after the rw step; it starts at
                 * e->to, so the cycle reads u -rw-> e->to -> ... -> u. */
                report_cycle(c, "G-single", cy);
                found = true;
                goto g2;
            }
            if (r < 0)
                break;
        }
    }
g2:
    if (r >= 0) {
        r = find_cycle(c, s, members, n, comp, id, E_DEPS, cy, sub);
        if (r > 0 && strcmp(classify(cy), "G2") == 0) {
            report_cycle(c, "G2", cy);
            found = true;
        }
    }
    if (r >= 0 && !found) {
        r = find_cycle(c, s, members, n, comp, id, E_ALL, cy, sub);
        if (r > 0) {
            report_cycle(c, classify(cy), cy);
            found = true;
        }
    }
    if (!found) {
        /* Out of budget: the component still proves a cycle. */
        json_t *inst = json_object();
        json_t *txns = json_array();
        for (size_t i = 0; i < n && i < 16; i++)
            json_array_append_new(txns,
                                  txn_json(c, c->node_txn[members[i]]));
        json_object_set_new(inst, "component", txns);
        if (anomaly(c, "cycle", inst)) {
            text_printf(&c->text, "cycle: %zu transactions depend on each "
                                  "other in a cycle (the search to "
                                  "classify it ran out of budget), "
                                  "including ", n);
            text_txn(c, c->node_txn[members[0]]);
            text_printf(&c->text, ".\n");
        }
    }
}

static void find_cycles(struct la *c)
{
    size_t n = c->n_nodes;
    size_t sz = n ? n : 1;
    struct scratch s = {0};
    struct cycle cy = {0};
    int *all = malloc(sz * sizeof *all);
    int *zero = calloc(sz, sizeof *zero);
    int *comp = malloc(sz * sizeof *comp);
    int *sub = malloc(sz * sizeof *sub);
    int *members = malloc(sz * sizeof *members);
    size_t *count = calloc(sz + 1, sizeof *count);
    s.index = malloc(sz * sizeof *s.index);
    s.low = malloc(sz * sizeof *s.low);
    s.stack = malloc(sz * sizeof *s.stack);
    s.comp = malloc(sz * sizeof *s.comp);
    s.parent = malloc(sz * sizeof *s.parent);
    s.parent_edge = malloc(sz * sizeof *s.parent_edge);
    s.iter = malloc(sz * sizeof *s.iter);
    s.on_stack = malloc(sz);
    s.queue = malloc(sz * sizeof *s.queue);
    cy.node = malloc((sz + 1) * sizeof *cy.node);
    cy.type = malloc((sz + 1) * sizeof *cy.type);
    cy.edge = malloc((sz + 1) * sizeof *cy.edge);
    if (!all || !zero || !comp || !sub || !members || !count || !s.index ||
        !s.low || !s.stack || !s.comp || !s.parent || !s.parent_edge ||
        !s.iter || !s.on_stack || !s.queue || !cy.node || !cy.type ||
        !cy.edge) {
        c->oom = true;
        goto out;
    }
    for (size_t v = 0; v < n; v++) {
        all[v] = (int)v;
        sub[v] = -1;
    }
    /* The full graph's components. The budget does not apply here: the
     * existence of a cycle must never depend on it. */
    uint64_t saved = c->max_steps;
    c->max_steps = UINT64_MAX;
    int n_comp = tarjan(c, &s, all, n, zero, 0, E_ALL);
    c->max_steps = saved + c->steps;
    for (size_t v = 0; v < n; v++) {
        comp[v] = s.comp[v];
        count[comp[v] + 1]++;
    }
    for (int i = 0; i < n_comp; i++)
        count[i + 1] += count[i];
    /* members: nodes grouped by component. */
    {
        size_t *fill = calloc((size_t)n_comp + 1, sizeof *fill);
        if (fill == NULL) {
            c->oom = true;
            goto out;
        }
        for (size_t v = 0; v < n; v++)
            members[count[comp[v]] + fill[comp[v]]++] = (int)v;
        free(fill);
    }
    for (int i = 0; i < n_comp && !c->oom; i++) {
        size_t m = count[i + 1] - count[i];
        if (m < 2)
            continue;
        search_component(c, &s, members + count[i], m, comp, i, &cy, sub);
    }
out:
    free(all);
    free(zero);
    free(comp);
    free(sub);
    free(members);
    free(count);
    free(s.index);
    free(s.low);
    free(s.stack);
    free(s.comp);
    free(s.parent);
    free(s.parent_edge);
    free(s.iter);
    free(s.on_stack);
    free(s.queue);
    free(cy.node);
    free(cy.type);
    free(cy.edge);
}

static void la_free(struct la *c)
{
    for (size_t t = 0; t < c->n_txns; t++) {
        for (size_t j = 0; j < c->txns[t].n; j++)
            free(c->txns[t].mops[j].read);
        free(c->txns[t].mops);
    }
    free(c->txns);
    free(c->node_txn);
    strtab_free(&c->keys);
    strtab_free(&c->vals);
    free(c->elems.v);
    free(c->elems.slots);
    free(c->order);
    free(c->n_order);
    free(c->order_txn);
    free(c->order_mop);
    free(c->g.e);
    free(c->g.start);
    json_decref(c->anomalies);
    json_decref(c->counts);
    text_free(&c->text);
}

int check_list_append(const struct history *h,
                      const struct list_append_opts *o,
                      struct check_result *r)
{
    struct la c = {.h = h};
    struct text t = {0};
    struct text why = {0};
    json_t *json = json_object();
    enum check_verdict verdict;
    size_t n_ok = 0;

    memset(r, 0, sizeof *r);
    c.max_steps = o && o->max_steps ? o->max_steps : DEFAULT_MAX_STEPS;
    c.anomalies = json_object();
    c.counts = json_object();
    if (c.anomalies == NULL || c.counts == NULL)
        c.oom = true;

    if (!c.oom && decode(&c, &why) != 0) {
        verdict = CHECK_UNKNOWN;
        text_printf(&t, "Unknown: the history does not meet the list-append "
                        "preconditions: %s", why.s ? why.s : "\n");
        goto done;
    }
    for (size_t i = 0; i < c.n_txns; i++)
        n_ok += c.txns[i].op->type == HIST_OK;
    if (!c.oom)
        scan_reads(&c);
    if (!c.oom)
        scan_internal(&c);
    if (!c.oom)
        scan_orders(&c);
    if (!c.oom)
        dependency_edges(&c);
    if (!c.oom)
        order_edges(&c);
    if (!c.oom)
        build_graph(&c);
    if (!c.oom)
        find_cycles(&c);

    if (c.n_anomalies > 0) {
        verdict = CHECK_INVALID;
        text_printf(&t, "Not strict-serializable over %zu transactions "
                        "(%zu ok): ", c.n_txns, n_ok);
        const char *name;
        json_t *cnt;
        bool first = true;
        json_object_foreach(c.counts, name, cnt) {
            text_printf(&t, "%s%s (%lld)", first ? "" : ", ", name,
                        (long long)json_integer_value(cnt));
            first = false;
        }
        text_printf(&t, ".\n%s", c.text.s ? c.text.s : "");
    } else if (n_ok == 0) {
        verdict = CHECK_UNKNOWN;
        text_printf(&t, "Unknown: no transaction completed ok, so nothing "
                        "was checked.\n");
    } else {
        verdict = CHECK_VALID;
        text_printf(&t, "Strict-serializable: %zu transactions (%zu ok), "
                        "%zu dependency and order edges, no cycle and no "
                        "anomaly.\n",
                    c.n_txns, n_ok, c.g.n);
    }
    if (c.text.oom)
        c.oom = true;

done:
    if (c.oom)
        verdict = CHECK_UNKNOWN;
    if (json != NULL) {
        json_t *types = json_array();
        const char *name;
        json_t *cnt;
        json_object_foreach(c.counts, name, cnt)
            json_array_append_new(types, json_string(name));
        json_object_set_new(json, "anomaly_types", types);
        json_object_set(json, "anomalies", c.anomalies);
        json_object_set(json, "anomaly_counts", c.counts);
        json_object_set_new(json, "txns", json_integer((json_int_t)c.n_txns));
        json_object_set_new(json, "ok_txns", json_integer((json_int_t)n_ok));
        json_object_set_new(json, "edges", json_integer((json_int_t)c.g.n));
        json_object_set_new(json, "search_budget_exhausted",
                            json_boolean(c.budget_out));
        json_object_set_new(json, "model", json_string("strict-serializable"));
    }
    text_free(&why);
    bool oom = c.oom;
    la_free(&c);
    int rv = result_fill(r, "list-append", verdict, &t, json);
    return oom ? WR_NOMEM : rv;
}
