/*
 * The set checker.
 *
 * Clients add unique elements, then, after the faults are healed, read the
 * whole set. Against the reads invoked after the last acknowledged add
 * completed (the final reads), every acknowledged add must be present:
 * one that is missing was lost. In any read, an element that was never
 * added, or whose add definitely failed, is unexpected. An add whose
 * outcome is unknown (info) may be present or absent. With exactly-once
 * retries an element must not appear twice in one read; without them a
 * retried add may legitimately land twice, and duplicates are only
 * counted.
 *
 * Elements are compared by their compact JSON text, so 1 and "1" differ.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/err.h"
#include "checker.h"
#include "report.h"

struct elem {
    char *text;
    const struct hist_op *add;    /* The add that decides its status. */
    enum hist_type status;        /* Best outcome: ok, else info, else fail. */
    size_t seen_read;             /* Stamp of the last read it was in. */
    size_t seen_count;            /* Occurrences in that read. */
};

struct elems {
    struct elem *v;
    size_t n, cap;
    size_t *slots; /* Open addressing; SIZE_MAX empty. */
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

static struct elem *elems_find(const struct elems *e, const char *text)
{
    if (e->n_slots == 0)
        return NULL;
    size_t i = str_hash(text) & (e->n_slots - 1);
    while (e->slots[i] != SIZE_MAX) {
        if (strcmp(e->v[e->slots[i]].text, text) == 0)
            return &e->v[e->slots[i]];
        i = (i + 1) & (e->n_slots - 1);
    }
    return NULL;
}

/* Add @text (taken over) as a new element. NULL on out of memory. */
static struct elem *elems_add(struct elems *e, char *text)
{
    if ((e->n + 1) * 2 > e->n_slots) {
        size_t n = e->n_slots ? e->n_slots * 2 : 256;
        size_t *slots = malloc(n * sizeof *slots);
        if (slots == NULL)
            goto oom;
        memset(slots, 0xff, n * sizeof *slots);
        for (size_t j = 0; j < e->n; j++) {
            size_t i = str_hash(e->v[j].text) & (n - 1);
            while (slots[i] != SIZE_MAX)
                i = (i + 1) & (n - 1);
            slots[i] = j;
        }
        free(e->slots);
        e->slots = slots;
        e->n_slots = n;
    }
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 256;
        struct elem *v = realloc(e->v, cap * sizeof *v);
        if (v == NULL)
            goto oom;
        e->v = v;
        e->cap = cap;
    }
    size_t i = str_hash(text) & (e->n_slots - 1);
    while (e->slots[i] != SIZE_MAX)
        i = (i + 1) & (e->n_slots - 1);
    e->slots[i] = e->n;
    struct elem *el = &e->v[e->n++];
    memset(el, 0, sizeof *el);
    el->text = text;
    el->seen_read = SIZE_MAX;
    return el;
oom:
    free(text);
    return NULL;
}

static void elems_free(struct elems *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i].text);
    free(e->v);
    free(e->slots);
}

static int status_rank(enum hist_type t)
{
    return t == HIST_OK ? 2 : t == HIST_INFO ? 1 : 0;
}

int check_set(const struct history *h, const struct set_opts *o,
              struct check_result *r)
{
    struct elems els = {0};
    struct text t = {0};
    json_t *json = json_object();
    json_t *lost = json_array(), *unexpected = json_array(),
           *duplicated = json_array();
    bool exactly_once = o && o->exactly_once;
    size_t last_ok_add = 0; /* Position just past the last ok add. */
    size_t n_adds = 0, n_ok_adds = 0, n_reads = 0, n_final = 0;
    size_t n_lost = 0, n_unexpected = 0, n_dup = 0, n_malformed = 0;
    bool oom = false;
    enum check_verdict verdict;

    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < h->n_ops; i++) {
        const struct hist_op *op = &h->ops[i];
        if (strcmp(op->f, "add") != 0)
            continue;
        char *text = json_text(op->invoke_value);
        if (text == NULL) {
            oom = true;
            goto done;
        }
        struct elem *el = elems_find(&els, text);
        if (el != NULL) {
            free(text);
        } else if ((el = elems_add(&els, text)) == NULL) {
            oom = true;
            goto done;
        } else {
            el->add = op;
            el->status = op->type;
        }
        if (status_rank(op->type) > status_rank(el->status)) {
            el->add = op;
            el->status = op->type;
        }
        n_adds++;
        if (op->type == HIST_OK) {
            n_ok_adds++;
            if (op->complete + 1 > last_ok_add)
                last_ok_add = op->complete + 1;
        }
    }

    struct text lost_txt = {0}, unexp_txt = {0}, dup_txt = {0};
    for (size_t i = 0; i < h->n_ops; i++) {
        const struct hist_op *op = &h->ops[i];
        if (strcmp(op->f, "read") != 0 || op->type != HIST_OK)
            continue;
        n_reads++;
        if (op->value != NULL && !json_is_array(op->value)) {
            n_malformed++;
            continue;
        }
        bool final = op->invoke >= last_ok_add;
        n_final += final;
        size_t k;
        json_t *v;
        json_array_foreach(op->value, k, v) {
            char *text = json_text(v);
            if (text == NULL) {
                oom = true;
                goto done_reads;
            }
            struct elem *el = elems_find(&els, text);
            if (el == NULL || el->status == HIST_FAIL) {
                n_unexpected++;
                if (json_array_size(unexpected) < 64) {
                    json_t *a = json_object();
                    json_object_set(a, "element", v);
                    json_object_set_new(a, "read", op_json(h, op));
                    json_object_set_new(a, "add", el ? op_json(h, el->add)
                                                     : json_null());
                    json_array_append_new(unexpected, a);
                }
                if (n_unexpected == 1) {
                    text_printf(&unexp_txt, "Element %s appears in the read "
                                            "(", text);
                    text_op_times(&unexp_txt, op);
                    if (el == NULL) {
                        text_printf(&unexp_txt, ") but no add of it was ever "
                                                "attempted.\n");
                    } else {
                        text_printf(&unexp_txt, ") but its add (");
                        text_op_times(&unexp_txt, el->add);
                        text_printf(&unexp_txt, ") definitely failed.\n");
                    }
                }
                free(text);
                continue;
            }
            free(text);
            if (el->seen_read != i) {
                el->seen_read = i;
                el->seen_count = 1;
                continue;
            }
            if (++el->seen_count != 2)
                continue;
            n_dup++;
            if (json_array_size(duplicated) < 64) {
                json_t *a = json_object();
                json_object_set(a, "element", v);
                json_object_set_new(a, "read", op_json(h, op));
                json_array_append_new(duplicated, a);
            }
            if (n_dup == 1) {
                text_printf(&dup_txt, "Element %s appears more than once in "
                                      "the read (", el->text);
                text_op_times(&dup_txt, op);
                text_printf(&dup_txt, ")%s.\n",
                            exactly_once ? ", but adds are exactly-once"
                                         : "; allowed without exactly-once");
            }
        }
        if (!final)
            continue;
        for (size_t e = 0; e < els.n; e++) {
            struct elem *el = &els.v[e];
            if (el->status != HIST_OK || el->seen_read == i)
                continue;
            n_lost++;
            if (json_array_size(lost) < 64) {
                json_t *a = json_object();
                json_object_set(a, "element", el->add->invoke_value
                                                  ? el->add->invoke_value
                                                  : json_null());
                json_object_set_new(a, "add", op_json(h, el->add));
                json_object_set_new(a, "final_read", op_json(h, op));
                json_array_append_new(lost, a);
            }
            if (n_lost == 1) {
                text_printf(&lost_txt, "Element %s was added (", el->text);
                text_op_times(&lost_txt, el->add);
                text_printf(&lost_txt, ") but is missing from the final "
                                       "read (");
                text_op_times(&lost_txt, op);
                text_printf(&lost_txt, "): lost.\n");
            }
        }
    }
done_reads:;

    bool bad = n_lost > 0 || n_unexpected > 0 || (exactly_once && n_dup > 0);
    if (bad) {
        verdict = CHECK_INVALID;
        text_printf(&t, "Set invalid: %zu lost, %zu unexpected, %zu "
                        "duplicated%s.\n",
                    n_lost, n_unexpected, n_dup,
                    exactly_once ? "" : " (duplicates allowed)");
        text_printf(&t, "%s%s", lost_txt.s ? lost_txt.s : "",
                    unexp_txt.s ? unexp_txt.s : "");
        if (exactly_once)
            text_printf(&t, "%s", dup_txt.s ? dup_txt.s : "");
    } else if (n_malformed > 0) {
        verdict = CHECK_UNKNOWN;
        text_printf(&t, "Unknown: %zu ok reads do not carry an array of "
                        "elements.\n", n_malformed);
    } else if (n_final == 0) {
        verdict = CHECK_UNKNOWN;
        text_printf(&t, "Unknown: no read was invoked after the last "
                        "acknowledged add completed, so nothing can be "
                        "called lost.\n");
    } else {
        verdict = CHECK_VALID;
        text_printf(&t, "Set valid: all %zu acknowledged adds are in the %zu "
                        "final reads, and no read holds an element never "
                        "added%s.\n",
                    n_ok_adds, n_final,
                    exactly_once ? " or holds one twice" : "");
        if (n_dup > 0)
            text_printf(&t, "%s", dup_txt.s ? dup_txt.s : "");
    }
    if (lost_txt.oom || unexp_txt.oom || dup_txt.oom)
        oom = true;
    text_free(&lost_txt);
    text_free(&unexp_txt);
    text_free(&dup_txt);

done:
    elems_free(&els);
    if (oom)
        verdict = CHECK_UNKNOWN;
    if (json != NULL) {
        json_t *types = json_array();
        if (n_lost)
            json_array_append_new(types, json_string("lost"));
        if (n_unexpected)
            json_array_append_new(types, json_string("unexpected"));
        if (n_dup && exactly_once)
            json_array_append_new(types, json_string("duplicated"));
        json_object_set_new(json, "anomaly_types", types);
        json_object_set_new(json, "lost", lost);
        json_object_set_new(json, "unexpected", unexpected);
        json_object_set_new(json, "duplicated", duplicated);
        json_object_set_new(json, "lost_count",
                            json_integer((json_int_t)n_lost));
        json_object_set_new(json, "unexpected_count",
                            json_integer((json_int_t)n_unexpected));
        json_object_set_new(json, "duplicated_count",
                            json_integer((json_int_t)n_dup));
        json_object_set_new(json, "adds", json_integer((json_int_t)n_adds));
        json_object_set_new(json, "ok_adds",
                            json_integer((json_int_t)n_ok_adds));
        json_object_set_new(json, "final_reads",
                            json_integer((json_int_t)n_final));
    } else {
        json_decref(lost);
        json_decref(unexpected);
        json_decref(duplicated);
    }
    int rv = result_fill(r, "set", verdict, &t, json);
    return oom ? WR_NOMEM : rv;
}
