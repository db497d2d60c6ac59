/*
 * The timeline page and the latency and throughput plots of a judged
 * history (report_html.h says what each shows and how lanes, fault
 * periods and witnesses are derived).
 *
 * Everything is computed once into a struct rep: per operation its lane,
 * its real completion event (history.h leaves info operations open, but
 * the info line itself tells when the client gave up), its witness label;
 * the fault periods; the window of operations to draw. The writers then
 * only format. Every string that comes from the history or the results
 * goes through html_text() or gp_text() on its way out.
 */
#include "report_html.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../lib/err.h"
#include "report.h"

/* Characters of a value shown inside a box, and in a tooltip. */
#define BOX_CHARS 40
#define TIP_CHARS 600
/* Witnesses and fault periods listed at the top of the page, at most. */
#define LIST_MAX 200
/* Processes named in a lane's header, at most. */
#define LANE_PROCS 3
/* Pixel geometry of the timeline. */
#define GUTTER_PX 110
#define LANE_PX 150

/* Fault colours, by order of first appearance of each starting f. */
static const char *const palette[] = {"#ff7f0e", "#d62728", "#9467bd",
                                      "#1f77b4", "#8c564b", "#e377c2",
                                      "#17becf", "#bcbd22"};
#define N_PALETTE (sizeof palette / sizeof palette[0])

/* Point colours of the latency plot, by order of first appearance of f:
 * not green, red or orange, which mean ok, fail and info elsewhere. */
static const char *const f_colours[] = {"#1f77b4", "#9467bd", "#8c564b",
                                        "#17becf", "#e377c2", "#7f7f7f",
                                        "#bcbd22", "#000000"};
#define N_F_COLOURS (sizeof f_colours / sizeof f_colours[0])

/* An operation as drawn. */
struct rop {
    const struct hist_op *op;
    size_t done;     /* Position of the completion event (ok, fail or info)
                      * in h->events, or SIZE_MAX if there is none. */
    int64_t t0, t1;  /* Invocation and completion times; t1 is INT64_MAX
                      * without a completion event. */
    int lane;
    size_t witness;  /* 1 + index into rep.wit, or 0. */
};

struct lane {
    int64_t procs[LANE_PROCS];
    size_t n_procs;
    bool free;       /* Its last process ended in info. */
    int64_t dead_at; /* When, if free. */
};

struct fault {
    int64_t t0, t1;
    const struct hist_event *start; /* The event that opened it. */
    const struct hist_event *end;   /* NULL while open or for a marker. */
    bool marker;                    /* A failed injection, an unmatched
                                     * end or an instantaneous fault: a
                                     * line at t0, not a period. */
    size_t kind;                    /* Index into rep.kinds. */
};

struct witness {
    size_t op;
    char *label; /* Owned. */
};

struct rep {
    const char *dir;
    const struct history *h;
    const json_t *results;
    struct rop *ops;
    struct lane *lanes;
    size_t n_lanes;
    struct fault *faults;
    size_t n_faults;
    const char **kinds; /* Distinct f of the events that open a fault or
                         * a marker; borrowed from the history. */
    size_t n_kinds;
    struct witness *wit;
    size_t n_wit;
    int64_t t_end; /* Time of the last event. */
    /* The operations drawn in the timeline: [lo, hi) in invocation order,
     * and the time window [w0, w1] they cover. */
    size_t lo, hi;
    int64_t w0, w1;
    char *err;
    size_t errsize;
};

static void set_err(struct rep *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_err(struct rep *r, const char *fmt, ...)
{
    va_list ap;

    if (r->errsize == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(r->err, r->errsize, fmt, ap);
    va_end(ap);
}

static double secs(int64_t ns)
{
    return (double)ns / 1e9;
}

static double ms(int64_t ns)
{
    return (double)ns / 1e6;
}

/* @p (an array of elements of @size, @cap of them) with room for index
 * @n: @p itself, or its reallocation; NULL if out of memory (then @p is
 * untouched). */
static void *grow(void *p, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return p;
    size_t c = *cap ? *cap * 2 : 16;
    void *q = realloc(p, c * size);
    if (q != NULL)
        *cap = c;
    return q;
}

/*
 * Lanes and completion events.
 */

/* The open-addressing map from process to its operation and lane. */
struct pslot {
    int64_t process;
    size_t op;
    int lane;
    bool used;
};

static struct pslot *pslot_get(struct pslot *t, size_t cap, int64_t process)
{
    uint64_t x = (uint64_t)process * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(x >> 32) & (cap - 1);
    while (t[i].used && t[i].process != process)
        i = (i + 1) & (cap - 1);
    return &t[i];
}

static int pick_lane(struct rep *r, size_t *cap_lanes, int64_t process,
                     int *lane)
{
    int best = -1;
    for (size_t i = 0; i < r->n_lanes; i++) {
        if (r->lanes[i].free &&
            (best < 0 || r->lanes[i].dead_at >= r->lanes[best].dead_at))
            best = (int)i;
    }
    if (best < 0) {
        struct lane *lanes =
            grow(r->lanes, r->n_lanes, cap_lanes, sizeof *r->lanes);
        if (lanes == NULL)
            return WR_NOMEM;
        r->lanes = lanes;
        best = (int)r->n_lanes++;
        memset(&r->lanes[best], 0, sizeof r->lanes[best]);
    }
    struct lane *l = &r->lanes[best];
    l->free = false;
    if (l->n_procs < LANE_PROCS)
        l->procs[l->n_procs] = process;
    l->n_procs++;
    *lane = best;
    return 0;
}

static int assign_lanes(struct rep *r)
{
    const struct history *h = r->h;
    size_t cap = 16, cap_lanes = 0, next = 0;
    struct pslot *t;
    int rv = 0;

    while (cap < 2 * h->n_ops + 16)
        cap *= 2;
    t = calloc(cap, sizeof *t);
    if (t == NULL)
        return WR_NOMEM;
    for (size_t i = 0; i < h->n_events; i++) {
        const struct hist_event *ev = &h->events[i];
        if (ev->process == HIST_NEMESIS)
            continue;
        struct pslot *s = pslot_get(t, cap, ev->process);
        if (ev->type == HIST_INVOKE) {
            /* history.c pairs in this same order, so the next operation
             * is the one this line invokes. */
            struct rop *o = &r->ops[next];
            o->op = &h->ops[next];
            o->done = SIZE_MAX;
            o->t0 = ev->time;
            o->t1 = INT64_MAX;
            if (!s->used) {
                s->used = true;
                s->process = ev->process;
                if ((rv = pick_lane(r, &cap_lanes, ev->process, &s->lane)))
                    goto out;
            }
            s->op = next;
            o->lane = s->lane;
            next++;
        } else if (s->used) {
            struct rop *o = &r->ops[s->op];
            o->done = i;
            o->t1 = ev->time;
            if (ev->type == HIST_INFO) {
                r->lanes[s->lane].free = true;
                r->lanes[s->lane].dead_at = ev->time;
            }
        }
    }
out:
    free(t);
    return rv;
}

/*
 * Fault periods (rules in report_html.h).
 */

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static bool has_suffix(const char *s, const char *x)
{
    size_t n = strlen(s), m = strlen(x);
    return n >= m && strcmp(s + n - m, x) == 0;
}

static bool ends_fault(const char *f)
{
    return strcmp(f, "resume") == 0 || strcmp(f, "restart") == 0 ||
           strcmp(f, "heal") == 0 || has_prefix(f, "heal-") ||
           strcmp(f, "add") == 0 || strcmp(f, "disk-free") == 0 ||
           has_prefix(f, "stop-") || has_suffix(f, "-end");
}

/* Whether @start is @x or @x followed by @suffix. */
static bool is_x(const char *start, const char *x, size_t n,
                 const char *suffix)
{
    return strncmp(start, x, n) == 0 &&
           (start[n] == '\0' ||
            (suffix != NULL && strcmp(start + n, suffix) == 0));
}

/* Whether the ending event @end closes a period opened by @start. */
static bool closes(const char *end, const char *start)
{
    if (strcmp(end, "resume") == 0)
        return strcmp(start, "pause") == 0;
    if (strcmp(end, "restart") == 0)
        return has_prefix(start, "kill") || has_prefix(start, "stop") ||
               has_prefix(start, "crash");
    if (strcmp(end, "heal") == 0)
        return has_prefix(start, "partition") || has_prefix(start, "loss");
    if (strcmp(end, "add") == 0)
        return strcmp(start, "remove") == 0;
    if (strcmp(end, "disk-free") == 0)
        return strcmp(start, "disk-fill") == 0;
    if (has_prefix(end, "heal-")) {
        const char *x = end + 5;
        return strcmp(start, x) == 0 ||
               (has_prefix(start, x) && start[strlen(x)] == '-');
    }
    if (has_prefix(end, "stop-")) {
        const char *x = end + 5;
        return strcmp(start, x) == 0 ||
               (has_prefix(start, "start-") && strcmp(start + 6, x) == 0);
    }
    /* X-end: X, X-start or X-begin. */
    size_t n = strlen(end) - 4;
    return is_x(start, end, n, "-start") || is_x(start, end, n, "-begin");
}

static int kind_of(struct rep *r, size_t *cap, const char *f, size_t *kind)
{
    for (size_t i = 0; i < r->n_kinds; i++) {
        if (strcmp(r->kinds[i], f) == 0) {
            *kind = i;
            return 0;
        }
    }
    const char **kinds = grow(r->kinds, r->n_kinds, cap, sizeof *r->kinds);
    if (kinds == NULL)
        return WR_NOMEM;
    r->kinds = kinds;
    r->kinds[r->n_kinds] = f;
    *kind = r->n_kinds++;
    return 0;
}

static int find_faults(struct rep *r)
{
    const struct history *h = r->h;
    size_t cap = 0, cap_kinds = 0;

    for (size_t i = 0; i < h->n_events; i++) {
        const struct hist_event *ev = &h->events[i];
        if (ev->process != HIST_NEMESIS)
            continue;
        if (ends_fault(ev->f)) {
            /* The most recent open period of its kind. */
            struct fault *hit = NULL;
            for (size_t j = r->n_faults; j-- > 0 && hit == NULL;) {
                struct fault *x = &r->faults[j];
                if (!x->marker && x->end == NULL &&
                    closes(ev->f, x->start->f))
                    hit = x;
            }
            if (hit != NULL) {
                hit->end = ev;
                hit->t1 = ev->time;
                continue;
            }
        }
        struct fault *faults =
            grow(r->faults, r->n_faults, &cap, sizeof *r->faults);
        if (faults == NULL)
            return WR_NOMEM;
        r->faults = faults;
        struct fault *x = &r->faults[r->n_faults];
        memset(x, 0, sizeof *x);
        x->start = ev;
        x->t0 = x->t1 = ev->time;
        json_t *e = json_object_get(ev->obj, "error");
        x->marker = ends_fault(ev->f) || (e != NULL && !json_is_null(e));
        if (kind_of(r, &cap_kinds, ev->f, &x->kind))
            return WR_NOMEM;
        r->n_faults++;
    }
    /* Still open: a fault of a kind that some event ended elsewhere lasts
     * to the end; a kind never ended is an instant (a leadership
     * transfer, say). */
    for (size_t j = 0; j < r->n_faults; j++) {
        struct fault *x = &r->faults[j];
        if (x->marker || x->end != NULL)
            continue;
        bool ended = false;
        for (size_t k = 0; k < r->n_faults && !ended; k++)
            ended = r->faults[k].kind == x->kind && r->faults[k].end != NULL;
        if (ended)
            x->t1 = r->t_end;
        else
            x->marker = true;
    }
    return 0;
}

/* Whether some fault of @kind is a period, not a marker. */
static bool kind_has_period(const struct rep *r, size_t kind)
{
    for (size_t i = 0; i < r->n_faults; i++) {
        if (r->faults[i].kind == kind && !r->faults[i].marker)
            return true;
    }
    return false;
}

static bool has_markers(const struct rep *r)
{
    for (size_t i = 0; i < r->n_faults; i++) {
        if (r->faults[i].marker)
            return true;
    }
    return false;
}

/*
 * Witnesses: the operations results.json names.
 */

/* The operation invoked by the event whose "index" is @index, or
 * SIZE_MAX. Events' indexes increase, and so do operations' invocation
 * positions, so both are binary searches. */
static size_t op_by_invoke_index(const struct history *h, int64_t index)
{
    size_t lo = 0, hi = h->n_events;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->events[mid].index < index)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == h->n_events || h->events[lo].index != index)
        return SIZE_MAX;
    size_t ev = lo;
    lo = 0;
    hi = h->n_ops;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->ops[mid].invoke < ev)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < h->n_ops && h->ops[lo].invoke == ev ? lo : SIZE_MAX;
}

static bool is_outcome(const char *s)
{
    return strcmp(s, "ok") == 0 || strcmp(s, "fail") == 0 ||
           strcmp(s, "info") == 0 || strcmp(s, "invoke") == 0;
}

static int walk(struct rep *r, const json_t *v, struct text *path,
                size_t *cap)
{
    size_t len = path->len;
    int rv = 0;

    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v) && rv == 0; i++)
            rv = walk(r, json_array_get(v, i), path, cap);
        return rv;
    }
    if (!json_is_object(v))
        return 0;
    json_t *type = json_object_get(v, "type");
    json_t *ix = json_object_get(v, "invoke_index");
    if (json_is_string(type) && !is_outcome(json_string_value(type)))
        text_printf(path, "[%s]", json_string_value(type));
    size_t base = path->len;
    if (json_is_integer(ix)) {
        size_t op = op_by_invoke_index(r->h, json_integer_value(ix));
        if (op != SIZE_MAX && r->ops[op].witness == 0) {
            struct witness *wit = grow(r->wit, r->n_wit, cap, sizeof *r->wit);
            if (wit == NULL)
                return WR_NOMEM;
            r->wit = wit;
            char *label = strdup(path->s ? path->s : "");
            if (label == NULL)
                return WR_NOMEM;
            r->wit[r->n_wit].op = op;
            r->wit[r->n_wit].label = label;
            r->ops[op].witness = ++r->n_wit;
        }
    } else {
        const char *key;
        json_t *child;
        json_object_foreach((json_t *)v, key, child) {
            if (!json_is_object(child) && !json_is_array(child))
                continue;
            text_printf(path, "%s%s", path->len ? "." : "", key);
            rv = walk(r, child, path, cap);
            path->len = base;
            if (path->s)
                path->s[base] = '\0';
            if (rv)
                break;
        }
    }
    path->len = len;
    if (path->s)
        path->s[len] = '\0';
    return path->oom ? WR_NOMEM : rv;
}

static int find_witnesses(struct rep *r)
{
    struct text path = {0};
    size_t cap = 0;
    if (r->results == NULL)
        return 0;
    text_printf(&path, "%s", "");
    int rv = walk(r, r->results, &path, &cap);
    text_free(&path);
    return rv;
}

/* The operations to draw: all, or a window of REPORT_MAX_OPS around the
 * first witness. */
static void pick_window(struct rep *r)
{
    size_t n = r->h->n_ops;
    r->lo = 0;
    r->hi = n;
    if (n > REPORT_MAX_OPS) {
        size_t centre = 0;
        for (size_t i = 0; i < r->n_wit; i++) {
            if (i == 0 || r->wit[i].op < centre)
                centre = r->wit[i].op;
        }
        r->lo = centre > REPORT_MAX_OPS / 2 ? centre - REPORT_MAX_OPS / 2 : 0;
        r->hi = r->lo + REPORT_MAX_OPS;
        if (r->hi > n) {
            r->hi = n;
            r->lo = n - REPORT_MAX_OPS;
        }
    }
    r->w0 = r->lo == 0 ? 0 : r->ops[r->lo].t0;
    r->w1 = r->hi == n ? r->t_end : r->ops[r->hi].t0;
    if (r->w0 > r->w1)
        r->w0 = r->w1;
}

/*
 * HTML.
 */

/* Write @s escaped for HTML text and attribute values, cut at @max
 * characters (0: no limit) with an ellipsis. Newlines become &#10; so
 * that tooltips keep them; other control characters become '?'. */
static void html_text(FILE *f, const char *s, size_t max)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (max && n >= max && (*p & 0xC0) != 0x80) {
            fputs("\xE2\x80\xA6", f);
            return;
        }
        if ((*p & 0xC0) != 0x80)
            n++;
        switch (*p) {
            case '&':
                fputs("&amp;", f);
                break;
            case '<':
                fputs("&lt;", f);
                break;
            case '>':
                fputs("&gt;", f);
                break;
            case '"':
                fputs("&quot;", f);
                break;
            case '\'':
                fputs("&#39;", f);
                break;
            case '\n':
                fputs("&#10;", f);
                break;
            case '\t':
                fputc(' ', f);
                break;
            default:
                fputc(*p < 0x20 || *p == 0x7F ? '?' : *p, f);
                break;
        }
    }
}

/* Compact JSON of @v (NULL: null), escaped, cut at @max characters. */
static int html_json(FILE *f, const json_t *v, size_t max)
{
    char *s = json_text(v);
    if (s == NULL)
        return WR_NOMEM;
    html_text(f, s, max);
    free(s);
    return 0;
}

static const char *outcome_class(const struct rop *o)
{
    switch (o->op->type) {
        case HIST_OK:
            return "ok";
        case HIST_FAIL:
            return "fail";
        default:
            return "info";
    }
}

static json_t *event_error(const struct rep *r, size_t ev)
{
    if (ev == SIZE_MAX)
        return NULL;
    json_t *e = json_object_get(r->h->events[ev].obj, "error");
    return json_is_null(e) ? NULL : e;
}

/* The one-line description of an operation, escaped: "read 3 5". */
static int op_summary(FILE *f, const struct rop *o, size_t max)
{
    struct text t = {0};
    text_printf(&t, "%s", o->op->f);
    if (o->op->key != NULL)
        text_printf(&t, " %s", o->op->key);
    /* An ok read of nothing says so; a fail or info read has no value. */
    if (o->op->value != NULL || o->op->type == HIST_OK) {
        text_printf(&t, " ");
        text_json(&t, o->op->value);
    }
    if (t.oom) {
        text_free(&t);
        return WR_NOMEM;
    }
    html_text(f, t.s, max);
    text_free(&t);
    return 0;
}

/* The operation's tooltip text, escaped. */
static int op_tooltip(FILE *f, const struct rep *r, const struct rop *o)
{
    const struct hist_op *op = o->op;
    int rv = 0;

    fprintf(f, "op %zu, process %lld, lane %d&#10;", op->id,
            (long long)op->process, o->lane + 1);
    html_text(f, op->f, TIP_CHARS);
    if (op->key != NULL) {
        fputs(" key ", f);
        html_text(f, op->key, TIP_CHARS);
    }
    fputs(op->type == HIST_OK ? "&#10;value: " : "&#10;invoked with: ", f);
    rv |= html_json(f, op->type == HIST_OK ? op->value : op->invoke_value,
                    TIP_CHARS);
    if (op->type == HIST_OK && op->invoke_value != NULL &&
        !json_equal(op->value, op->invoke_value)) {
        fputs("&#10;invoked with: ", f);
        rv |= html_json(f, op->invoke_value, TIP_CHARS);
    }
    fprintf(f, "&#10;%s: invoked %.3f s, ", outcome_class(o), secs(o->t0));
    if (o->done != SIZE_MAX)
        fprintf(f, "%s at %.3f s (%.1f ms)",
                op->type == HIST_INFO ? "gave up" : "completed", secs(o->t1),
                ms(o->t1 - o->t0));
    else
        fputs("never completed", f);
    json_t *e = event_error(r, o->done);
    if (e != NULL) {
        fputs("&#10;error: ", f);
        if (json_is_string(e))
            html_text(f, json_string_value(e), TIP_CHARS);
        else
            rv |= html_json(f, e, TIP_CHARS);
    }
    if (o->witness) {
        fputs("&#10;named by the checker: ", f);
        html_text(f, r->wit[o->witness - 1].label, TIP_CHARS);
    }
    return rv ? WR_NOMEM : 0;
}

/* One fault's description: "pause 2 from 3.100 s to 8.200 s (error:
 * ...)". */
static int fault_text(FILE *f, const struct fault *x)
{
    int rv = 0;
    html_text(f, x->start->f, BOX_CHARS);
    if (x->start->value != NULL) {
        fputc(' ', f);
        rv = html_json(f, x->start->value, BOX_CHARS);
    }
    if (x->marker)
        fprintf(f, " at %.3f s", secs(x->t0));
    else if (x->end != NULL) {
        fprintf(f, " from %.3f s to %.3f s (%.1f s, ended by ", secs(x->t0),
                secs(x->t1), secs(x->t1 - x->t0));
        html_text(f, x->end->f, BOX_CHARS);
        fputc(')', f);
    } else
        fprintf(f, " from %.3f s to %.3f s (%.1f s, still on at the end of "
                   "the history)",
                secs(x->t0), secs(x->t1), secs(x->t1 - x->t0));
    json_t *e = json_object_get(x->start->obj, "error");
    if (e != NULL && !json_is_null(e)) {
        fputs(": error ", f);
        rv |= html_json(f, e, TIP_CHARS);
    }
    return rv;
}

static const char *verdict_of(const json_t *res, const char **cls)
{
    json_t *run = json_object_get(res, "run");
    json_t *usable = json_object_get(run, "usable");
    json_t *valid = json_object_get(res, "valid");

    if (json_is_false(usable)) {
        *cls = "unknown";
        return "UNUSABLE RUN";
    }
    if (json_is_true(valid)) {
        *cls = "valid";
        return "VALID";
    }
    if (json_is_false(valid)) {
        *cls = "invalid";
        return "INVALID";
    }
    *cls = "unknown";
    return res == NULL ? "NO VERDICT" : "UNKNOWN";
}

static const char css[] =
    "body{font:13px sans-serif;margin:16px;color:#222}"
    "h1{font-size:18px;margin:0 0 8px}h2{font-size:15px;margin:16px 0 6px}"
    ".verdict{display:inline-block;padding:4px 12px;font-weight:bold;"
    "font-size:16px;border-radius:4px;color:#fff}"
    ".v-valid{background:#2ca02c}.v-invalid{background:#d62728}"
    ".v-unknown{background:#777}"
    "pre.expl{background:#f6f6f6;border:1px solid #ddd;padding:8px;"
    "white-space:pre-wrap;max-height:24em;overflow:auto}"
    "table.kv td{padding:1px 8px 1px 0;vertical-align:top}"
    ".note{background:#fff4ce;border:1px solid #e0c060;padding:6px}"
    ".legend span{display:inline-block;padding:2px 8px;margin-right:6px;"
    "border:1px solid #999}"
    ".hdr{position:sticky;top:0;z-index:5;background:#fff;height:34px;"
    "border-bottom:1px solid #999}"
    ".hdr div{position:absolute;top:0;width:146px;font-size:11px;"
    "overflow:hidden;white-space:nowrap}"
    ".tl{position:relative;border-bottom:1px solid #999}"
    ".tick{position:absolute;left:0;right:0;border-top:1px solid #eee;"
    "font-size:10px;color:#666;z-index:0}"
    ".band{position:absolute;left:0;right:0;z-index:1;"
    "border-top:1px solid rgba(0,0,0,.25)}"
    ".band span{position:absolute;left:2px;top:12px;font-size:10px;"
    "width:100px;overflow:hidden;white-space:nowrap}"
    ".mark{position:absolute;left:0;right:0;z-index:1;"
    "border-top:2px dashed #888}"
    ".mark span{position:absolute;left:2px;top:0;font-size:10px}"
    ".op{position:absolute;width:140px;min-height:12px;z-index:2;"
    "box-sizing:border-box;border:1px solid rgba(0,0,0,.35);"
    "font-size:10px;line-height:12px;overflow:hidden;white-space:nowrap;"
    "padding:0 2px}"
    ".op:hover{z-index:4;outline:2px solid #000}"
    ".ok{background:#b7e4b0}.fail{background:#f4a6a6}"
    ".info{background:#ffc982}"
    ".open{border-bottom:3px dotted #000}"
    ".hl{outline:3px solid #e000e0;z-index:3}"
    "button{margin-right:4px}";

static const char js[] =
    "function zoom(k){var t=document.getElementById('tl');"
    "var z=parseFloat(t.style.getPropertyValue('--z'))*k;"
    "t.style.setProperty('--z',z);}";

/* A "nice" step in milliseconds (1, 2 or 5 times a power of ten) at
 * least @min_ms long. */
static double nice_step(double min_ms)
{
    double p = 0.001;
    for (;;) {
        if (p >= min_ms)
            return p;
        if (2 * p >= min_ms)
            return 2 * p;
        if (5 * p >= min_ms)
            return 5 * p;
        p *= 10;
    }
}

/* Pixels per millisecond: consecutive operations of a lane about 30 px
 * apart (boxes are at least 12 px tall, for their text), the window
 * between 1,500 and 60,000 px tall. Latencies are usually far shorter
 * than the gaps between operations, so the gaps set the scale. */
static void default_zoom(const struct rep *r, double *z)
{
    double span = ms(r->w1 - r->w0);
    size_t n = r->hi - r->lo;

    if (span <= 0 || n == 0) {
        *z = 1;
        return;
    }
    double gap = span * (double)(r->n_lanes ? r->n_lanes : 1) / (double)n;
    *z = 30 / (gap > 0.01 ? gap : 0.01);
    if (span * *z > 60000)
        *z = 60000 / span;
    if (span * *z < 1500)
        *z = 1500 / span;
}

static int write_head(FILE *f, struct rep *r)
{
    const json_t *res = r->results;
    const char *cls;
    const char *verdict = verdict_of(res, &cls);
    json_t *v;
    int rv = 0;

    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
          "<title>walraft Jepsen timeline: ", f);
    html_text(f, r->dir, 0);
    fprintf(f, "</title>\n<style>%s</style>\n<script>%s</script>\n"
               "</head><body>\n<h1>Timeline of ", css, js);
    html_text(f, r->dir, 0);
    fprintf(f, "</h1>\n<p><span class=\"verdict v-%s\">%s</span> ", cls,
            verdict);
    if (json_is_string(v = json_object_get(res, "checker"))) {
        html_text(f, json_string_value(v), 0);
        fputs(" checker", f);
    }
    size_t periods = 0;
    for (size_t i = 0; i < r->n_faults; i++)
        periods += !r->faults[i].marker;
    fprintf(f, "; %zu operation%s, %zu fault period%s</p>\n", r->h->n_ops,
            r->h->n_ops == 1 ? "" : "s", periods, periods == 1 ? "" : "s");
    if (json_is_string(v = json_object_get(res, "error"))) {
        fputs("<p>Error: ", f);
        html_text(f, json_string_value(v), 0);
        fputs("</p>\n", f);
    }

    /* The run's settings and counts, if the runner wrote them. */
    json_t *run = json_object_get(res, "run");
    if (json_is_object(run)) {
        const char *key;
        fputs("<table class=\"kv\">\n", f);
        json_object_foreach(run, key, v) {
            fputs("<tr><td>", f);
            html_text(f, key, 0);
            fputs("</td><td>", f);
            if (json_is_string(v))
                html_text(f, json_string_value(v), TIP_CHARS);
            else
                rv |= html_json(f, v, TIP_CHARS);
            fputs("</td></tr>\n", f);
        }
        fputs("</table>\n", f);
    }

    if (json_is_string(v = json_object_get(res, "explanation"))) {
        fputs("<h2>The checker's explanation</h2>\n<pre class=\"expl\">", f);
        html_text(f, json_string_value(v), 0);
        fputs("</pre>\n", f);
    }
    v = json_object_get(res, "anomaly_types");
    if (json_is_array(v) && json_array_size(v) > 0) {
        fputs("<p>Anomaly types: ", f);
        rv |= html_json(f, v, 0);
        fputs("</p>\n", f);
    }

    if (r->n_wit > 0) {
        fprintf(f, "<h2>Operations the checker names (%zu)</h2>\n<ul>\n",
                r->n_wit);
        for (size_t i = 0; i < r->n_wit && i < LIST_MAX; i++) {
            const struct rop *o = &r->ops[r->wit[i].op];
            bool drawn = r->wit[i].op >= r->lo && r->wit[i].op < r->hi;
            if (drawn)
                fprintf(f, "<li><a href=\"#op-%zu\">op %zu</a> ", o->op->id,
                        o->op->id);
            else
                fprintf(f, "<li>op %zu (not drawn) ", o->op->id);
            html_text(f, r->wit[i].label, 0);
            fputs(": ", f);
            rv |= op_summary(f, o, TIP_CHARS);
            fprintf(f, " (%s, process %lld, invoked %.3f s)</li>\n",
                    outcome_class(o), (long long)o->op->process, secs(o->t0));
        }
        if (r->n_wit > LIST_MAX)
            fprintf(f, "<li>and %zu more</li>\n", r->n_wit - LIST_MAX);
        fputs("</ul>\n", f);
    }

    if (r->n_faults > 0) {
        fputs("<h2>Faults</h2>\n<ul>\n", f);
        for (size_t i = 0; i < r->n_faults && i < LIST_MAX; i++) {
            fputs("<li>", f);
            rv |= fault_text(f, &r->faults[i]);
            fputs("</li>\n", f);
        }
        if (r->n_faults > LIST_MAX)
            fprintf(f, "<li>and %zu more</li>\n", r->n_faults - LIST_MAX);
        fputs("</ul>\n", f);
    }
    return rv ? WR_NOMEM : 0;
}

static int write_timeline(FILE *f, struct rep *r)
{
    double z;
    int rv = 0;

    default_zoom(r, &z);
    fputs("<h2>Timeline</h2>\n", f);
    if (r->hi - r->lo < r->h->n_ops)
        fprintf(f,
                "<p class=\"note\">The history has %zu operations; only "
                "operations %zu to %zu (invoked from %.3f s to %.3f s, "
                "around the first operation the checker names) are drawn. "
                "The rest are in history.jsonl.</p>\n",
                r->h->n_ops, r->lo, r->hi - 1, secs(r->w0), secs(r->w1));
    fputs("<p class=\"legend\"><span class=\"ok\">ok</span>"
          "<span class=\"fail\">fail</span><span class=\"info\">info "
          "(outcome unknown)</span><span class=\"info open\">never "
          "completed</span><span class=\"ok hl\">named by the "
          "checker</span>",
          f);
    for (size_t k = 0; k < r->n_kinds; k++) {
        if (!kind_has_period(r, k))
            continue;
        fprintf(f, "<span style=\"background:%s40\">fault: ",
                palette[k % N_PALETTE]);
        html_text(f, r->kinds[k], BOX_CHARS);
        fputs("</span>", f);
    }
    if (has_markers(r))
        fputs("<span style=\"border-top:2px dashed #888\">instantaneous "
              "or failed fault, or an end without a start</span>",
              f);
    fputs("</p>\n<p>Time runs down the page; hover over a box for its "
          "details. <button onclick=\"zoom(2)\">zoom in</button>"
          "<button onclick=\"zoom(0.5)\">zoom out</button></p>\n",
          f);

    size_t width = GUTTER_PX + r->n_lanes * LANE_PX;
    fprintf(f, "<div class=\"hdr\" style=\"width:%zupx\">"
               "<div style=\"left:0\">time (s)</div>",
            width);
    for (size_t i = 0; i < r->n_lanes; i++) {
        const struct lane *l = &r->lanes[i];
        fprintf(f, "<div style=\"left:%zupx\" title=\"%zu process%s\">"
                   "lane %zu<br>p ",
                GUTTER_PX + i * LANE_PX, l->n_procs,
                l->n_procs == 1 ? "" : "es", i + 1);
        for (size_t j = 0; j < l->n_procs && j < LANE_PROCS; j++)
            fprintf(f, "%s%lld", j ? ", " : "", (long long)l->procs[j]);
        if (l->n_procs > LANE_PROCS)
            fputs(", \xE2\x80\xA6", f);
        fputs("</div>", f);
    }
    double span = ms(r->w1 - r->w0);
    fprintf(f, "</div>\n<div id=\"tl\" class=\"tl\" style=\"--z:%.6g;"
               "width:%zupx;height:calc(var(--z)*%.3fpx + 24px)\">\n",
            z, width, span);

    /* Time ticks, about 80 px apart at the default zoom. */
    double step = nice_step(80 / z);
    for (double t = 0; t <= span; t += step) {
        fprintf(f, "<div class=\"tick\" style=\"top:calc(var(--z)*%.3fpx)\">"
                   "%.3f</div>\n",
                t, secs(r->w0) + t / 1000);
    }

    /* Fault periods and markers inside the window. */
    for (size_t i = 0; i < r->n_faults; i++) {
        const struct fault *x = &r->faults[i];
        if (x->t1 < r->w0 || x->t0 > r->w1)
            continue;
        int64_t a = x->t0 < r->w0 ? r->w0 : x->t0;
        int64_t b = x->t1 > r->w1 ? r->w1 : x->t1;
        if (x->marker) {
            fprintf(f, "<div class=\"mark\" style=\"top:calc(var(--z)*"
                       "%.3fpx)\" title=\"",
                    ms(a - r->w0));
        } else {
            fprintf(f, "<div class=\"band fault\" style=\"top:calc(var(--z)*"
                       "%.3fpx);height:calc(var(--z)*%.3fpx);"
                       "background:%s38\" title=\"",
                    ms(a - r->w0), ms(b - a), palette[x->kind % N_PALETTE]);
        }
        rv |= fault_text(f, x);
        fputs("\"><span>", f);
        html_text(f, x->start->f, 16);
        if (x->start->value != NULL) {
            fputc(' ', f);
            rv |= html_json(f, x->start->value, 8);
        }
        fputs("</span></div>\n", f);
    }

    /* The operations. */
    for (size_t i = r->lo; i < r->hi; i++) {
        const struct rop *o = &r->ops[i];
        int64_t end = o->t1 > r->w1 ? r->w1 : o->t1;
        bool cut = o->t1 > r->w1;
        fprintf(f, "<div class=\"op %s%s%s\" id=\"op-%zu\" style=\"left:%zupx;"
                   "top:calc(var(--z)*%.3fpx);height:calc(var(--z)*%.3fpx)\""
                   " title=\"",
                outcome_class(o), cut ? " open" : "", o->witness ? " hl" : "",
                o->op->id, GUTTER_PX + (size_t)o->lane * LANE_PX + 4,
                ms(o->t0 - r->w0), ms(end - o->t0));
        rv |= op_tooltip(f, r, o);
        fputs("\">", f);
        rv |= op_summary(f, o, BOX_CHARS);
        fputs("</div>\n", f);
    }
    fputs("</div>\n</body></html>\n", f);
    return rv ? WR_NOMEM : 0;
}

static int write_html(struct rep *r)
{
    char path[4096], tmp[4096 + 8];
    int rv;

    snprintf(path, sizeof path, "%s/timeline.html", r->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        set_err(r, "write %s: %s", tmp, strerror(errno));
        return WR_IOERR;
    }
    rv = write_head(f, r);
    if (rv == 0)
        rv = write_timeline(f, r);
    bool bad = ferror(f) != 0;
    if (fclose(f) != 0)
        bad = true;
    if (rv == 0 && bad) {
        set_err(r, "write %s: %s", tmp, strerror(errno));
        rv = WR_IOERR;
    }
    if (rv == 0 && rename(tmp, path) != 0) {
        set_err(r, "rename %s: %s", tmp, strerror(errno));
        rv = WR_IOERR;
    }
    if (rv != 0) {
        unlink(tmp);
        if (rv == WR_NOMEM)
            set_err(r, "timeline.html: out of memory");
    }
    return rv;
}

/*
 * Plots.
 */

/* Write @s as a gnuplot single-quoted string (a quote is doubled; no
 * other escapes exist inside one), control characters replaced. */
static void gp_text(FILE *f, const char *s)
{
    fputc('\'', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\'')
            fputs("''", f);
        else
            fputc(*p < 0x20 || *p == 0x7F ? '?' : *p, f);
    }
    fputc('\'', f);
}

/* A temporary file in DIR: @path gets its full name, @name points at its
 * base name inside @path. */
struct tmpf {
    char path[4096];
    const char *name;
    FILE *f;
};

static int tmpf_open(struct rep *r, struct tmpf *t, const char *what)
{
    int n = snprintf(t->path, sizeof t->path, "%s/.report-%s-XXXXXX", r->dir,
                     what);
    if (n < 0 || (size_t)n >= sizeof t->path) {
        set_err(r, "%s: directory name too long", r->dir);
        return WR_IOERR;
    }
    t->name = strrchr(t->path, '/') + 1;
    int fd = mkstemp(t->path);
    if (fd < 0) {
        set_err(r, "create %s: %s", t->path, strerror(errno));
        t->path[0] = '\0';
        return WR_IOERR;
    }
    t->f = fdopen(fd, "w");
    if (t->f == NULL) {
        set_err(r, "open %s: %s", t->path, strerror(errno));
        close(fd);
        return WR_IOERR;
    }
    return 0;
}

/* Close @t's stream; WR_IOERR if anything written was lost. */
static int tmpf_finish(struct rep *r, struct tmpf *t)
{
    if (t->f == NULL)
        return 0;
    bool bad = ferror(t->f) != 0;
    if (fclose(t->f) != 0)
        bad = true;
    t->f = NULL;
    if (bad) {
        set_err(r, "write %s: %s", t->path, strerror(errno));
        return WR_IOERR;
    }
    return 0;
}

static void tmpf_remove(struct tmpf *t)
{
    if (t->f != NULL)
        fclose(t->f);
    t->f = NULL;
    if (t->path[0] != '\0')
        unlink(t->path);
}

/* The x range of the plots: the whole history, in seconds. */
static double plot_end(const struct rep *r)
{
    double end = secs(r->t_end);
    return end > 0 ? end : 1;
}

static void gp_faults(FILE *f, const struct rep *r)
{
    fputs("unset object\nunset arrow\n", f);
    for (size_t i = 0; i < r->n_faults; i++) {
        const struct fault *x = &r->faults[i];
        if (x->marker)
            fprintf(f, "set arrow from first %.6f, graph 0 to first %.6f, "
                       "graph 1 nohead back lc rgb '#888888' dt 2\n",
                    secs(x->t0), secs(x->t0));
        else
            fprintf(f, "set object rect from first %.6f, graph 0 to first "
                       "%.6f, graph 1 behind fillcolor rgb '%s' fillstyle "
                       "transparent solid 0.18 noborder\n",
                    secs(x->t0), secs(x->t1), palette[x->kind % N_PALETTE]);
    }
}

/* The legend entries of the fault kinds that have periods. */
static void gp_fault_keys(FILE *f, const struct rep *r)
{
    for (size_t k = 0; k < r->n_kinds; k++) {
        if (!kind_has_period(r, k))
            continue;
        fprintf(f, ", NaN with boxes fillstyle transparent solid 0.35 "
                   "noborder fillcolor rgb '%s' title ",
                palette[k % N_PALETTE]);
        char label[128];
        snprintf(label, sizeof label, "fault: %s", r->kinds[k]);
        gp_text(f, label);
    }
    if (has_markers(r))
        fputs(", NaN with lines lc rgb '#888888' dt 2 title 'fault event'",
              f);
}

/* Latency data: one block per (f, outcome) with points, in @data; the
 * matching plot clauses in @gp. */
static int plot_latency(struct rep *r, FILE *gp, struct tmpf *data)
{
    const char **fs = NULL;
    size_t n_fs = 0, cap = 0, block = 0;
    static const enum hist_type outcomes[] = {HIST_OK, HIST_FAIL, HIST_INFO};
    static const char *const names[] = {"ok", "fail", "info"};
    static const int shapes[] = {7, 2, 9};
    static const double sizes[] = {0.5, 0.8, 1.0};

    for (size_t i = 0; i < r->h->n_ops; i++) {
        size_t k;
        for (k = 0; k < n_fs && strcmp(fs[k], r->h->ops[i].f) != 0; k++)
            ;
        if (k == n_fs) {
            const char **more = grow(fs, n_fs, &cap, sizeof *fs);
            if (more == NULL) {
                free(fs);
                return WR_NOMEM;
            }
            fs = more;
            fs[n_fs++] = r->h->ops[i].f;
        }
    }

    fputs("set output 'latency.png'\n"
          "set title 'Latency of each operation (log scale)'\n"
          "set xlabel 'time since the start of the run (s)'\n"
          "set ylabel 'latency (ms)'\nset logscale y\nset grid\n"
          "set key outside right top\n",
          gp);
    /* The y range spans the data with a margin, so that no point sits on
     * an axis (gnuplot's autoscale would put extremes on the border). */
    double lo = 0, hi = 0;
    bool any = false;
    for (size_t i = 0; i < r->h->n_ops; i++) {
        const struct rop *o = &r->ops[i];
        if (o->done == SIZE_MAX)
            continue;
        double lat = ms(o->t1 - o->t0);
        if (lat < 0.001)
            lat = 0.001;
        if (!any || lat < lo)
            lo = lat;
        if (!any || lat > hi)
            hi = lat;
        any = true;
    }
    if (!any) {
        lo = 0.1;
        hi = 1000;
    }
    fprintf(gp, "set xrange [0:%.6f]\nset yrange [%.6g:%.6g]\n",
            plot_end(r), lo / 2, hi * 2);
    gp_faults(gp, r);
    fputs(any ? "plot " : "plot NaN title 'no completed operations'", gp);
    /* Outcome by outcome, so that the rarer fail and info points are
     * drawn over the ok ones. */
    for (size_t oc = 0; oc < 3; oc++) {
        for (size_t k = 0; k < n_fs; k++) {
            size_t n = 0;
            for (size_t i = 0; i < r->h->n_ops; i++) {
                const struct rop *o = &r->ops[i];
                if (o->done == SIZE_MAX || o->op->type != outcomes[oc] ||
                    strcmp(o->op->f, fs[k]) != 0)
                    continue;
                double lat = ms(o->t1 - o->t0);
                fprintf(data->f, "%.6f %.6f\n", secs(o->t0),
                        lat < 0.001 ? 0.001 : lat);
                n++;
            }
            if (n == 0)
                continue;
            fputs("\n\n", data->f);
            char title[128];
            snprintf(title, sizeof title, "%s %s", fs[k], names[oc]);
            fprintf(gp, "%s'%s' index %zu using 1:2 with points pt %d ps %.1f "
                        "lc rgb '%s' title ",
                    block ? ", " : "", data->name, block, shapes[oc],
                    sizes[oc], f_colours[k % N_F_COLOURS]);
            gp_text(gp, title);
            block++;
        }
    }
    free(fs);
    gp_fault_keys(gp, r);
    fputs("\n", gp);
    return 0;
}

/* Throughput data: per bin, its centre and the ok, fail and info
 * completions per second. */
static int plot_throughput(struct rep *r, FILE *gp, struct tmpf *data)
{
    double end = plot_end(r);
    double width = end <= 300 ? 1 : (double)(int64_t)(end / 300 + 1);
    /* Whole bins; a remainder of half a bin or more is a short last bin,
     * a smaller one joins the last whole bin. Rates divide by the real
     * length of their bin, so the last one does not dip. */
    size_t n_bins = (size_t)(end / width);
    double rem = end - (double)n_bins * width;
    double last = width;
    if (n_bins == 0) {
        n_bins = 1;
        last = end;
    } else if (rem >= width / 2) {
        n_bins++;
        last = rem;
    } else {
        last = width + rem;
    }
    size_t *count = calloc(n_bins * 3, sizeof *count);
    if (count == NULL)
        return WR_NOMEM;
    for (size_t i = 0; i < r->h->n_ops; i++) {
        const struct rop *o = &r->ops[i];
        if (o->done == SIZE_MAX)
            continue;
        size_t b = (size_t)(secs(o->t1) / width);
        if (b >= n_bins)
            b = n_bins - 1;
        size_t oc = o->op->type == HIST_OK ? 0 : o->op->type == HIST_FAIL ? 1
                                                                          : 2;
        count[b * 3 + oc]++;
    }
    for (size_t b = 0; b < n_bins; b++) {
        double len = b + 1 == n_bins ? last : width;
        fprintf(data->f, "%.6f %.6f %.6f %.6f\n",
                (double)b * width + len / 2, (double)count[b * 3] / len,
                (double)count[b * 3 + 1] / len,
                (double)count[b * 3 + 2] / len);
    }
    free(count);

    fputs("set output 'throughput.png'\n", gp);
    fprintf(gp, "set title 'Completions per second (bins of %g s)'\n", width);
    fputs("set xlabel 'time since the start of the run (s)'\n"
          "set ylabel 'completions per second'\nunset logscale y\nset grid\n"
          "set key outside right top\n",
          gp);
    fprintf(gp, "set xrange [0:%.6f]\nset yrange [0:*]\n", end);
    gp_faults(gp, r);
    fprintf(gp,
            "plot '%s' using 1:2 with histeps lw 2 lc rgb '#2ca02c' "
            "title 'ok', '' using 1:3 with histeps lw 2 lc rgb '#d62728' "
            "title 'fail', '' using 1:4 with histeps lw 2 lc rgb '#ff7f0e' "
            "title 'info'",
            data->name);
    gp_fault_keys(gp, r);
    fputs("\n", gp);
    return 0;
}

/* Run gnuplot on @script in DIR with its output in @log. Returns 0,
 * WR_UNSUPPORTED if gnuplot is not installed, or WR_IOERR with its first
 * complaint. */
static int run_gnuplot(struct rep *r, const struct tmpf *script,
                       const struct tmpf *log)
{
    int fd = open(log->path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0) {
        set_err(r, "open %s: %s", log->path, strerror(errno));
        return WR_IOERR;
    }
    pid_t pid = fork();
    if (pid < 0) {
        set_err(r, "fork: %s", strerror(errno));
        close(fd);
        return WR_IOERR;
    }
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        if (chdir(r->dir) != 0 || in < 0 || dup2(in, 0) < 0 ||
            dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        execlp("gnuplot", "gnuplot", script->name, (char *)NULL);
        _exit(errno == ENOENT ? 127 : 126);
    }
    close(fd);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            set_err(r, "wait for gnuplot: %s", strerror(errno));
            return WR_IOERR;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        set_err(r, "gnuplot not found: latency.png and throughput.png not "
                   "written");
        return WR_UNSUPPORTED;
    }
    /* gnuplot's first non-blank line says what it disliked. */
    char line[200] = "";
    FILE *f = fopen(log->path, "r");
    if (f != NULL) {
        while (fgets(line, sizeof line, f) != NULL &&
               strspn(line, " \t\r\n^") == strlen(line))
            ;
        fclose(f);
    }
    line[strcspn(line, "\r\n")] = '\0';
    set_err(r, "gnuplot failed (%s %d): latency.png and throughput.png may "
               "be missing: %s",
            WIFEXITED(status) ? "exit" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), line);
    return WR_IOERR;
}

static int write_plots(struct rep *r)
{
    struct tmpf gp = {0}, lat = {0}, thr = {0}, log = {0};
    int rv;

    if ((rv = tmpf_open(r, &gp, "plot")) ||
        (rv = tmpf_open(r, &lat, "latency")) ||
        (rv = tmpf_open(r, &thr, "throughput")) ||
        (rv = tmpf_open(r, &log, "gnuplot")))
        goto out;
    fputs("if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
          "  set terminal pngcairo size 1280,640 noenhanced font ',10'\n"
          "} else {\n"
          "  set terminal png size 1280,640 noenhanced\n"
          "}\n",
          gp.f);
    if ((rv = plot_latency(r, gp.f, &lat)) ||
        (rv = plot_throughput(r, gp.f, &thr)))
        goto out;
    fputs("unset output\n", gp.f);
    if ((rv = tmpf_finish(r, &gp)) || (rv = tmpf_finish(r, &lat)) ||
        (rv = tmpf_finish(r, &thr)) || (rv = tmpf_finish(r, &log)))
        goto out;
    rv = run_gnuplot(r, &gp, &log);
out:
    if (rv == WR_NOMEM)
        set_err(r, "plots: out of memory");
    tmpf_remove(&gp);
    tmpf_remove(&lat);
    tmpf_remove(&thr);
    tmpf_remove(&log);
    return rv;
}

int report_render(const char *dir, const struct history *h,
                  const json_t *results, char *err, size_t errsize)
{
    struct rep r = {0};
    int rv, plots;

    r.dir = dir;
    r.h = h;
    r.results = json_is_object(results) ? results : NULL;
    r.err = err;
    r.errsize = errsize;
    if (errsize > 0)
        err[0] = '\0';
    r.t_end = h->n_events ? h->events[h->n_events - 1].time : 0;
    r.ops = calloc(h->n_ops ? h->n_ops : 1, sizeof *r.ops);
    if (r.ops == NULL) {
        rv = WR_NOMEM;
        goto out;
    }
    if ((rv = assign_lanes(&r)) || (rv = find_faults(&r)) ||
        (rv = find_witnesses(&r)))
        goto out;
    pick_window(&r);
    if ((rv = write_html(&r)))
        goto out;
    plots = write_plots(&r);
    rv = plots;
out:
    if (rv == WR_NOMEM && errsize > 0 && err[0] == '\0')
        set_err(&r, "report: out of memory");
    for (size_t i = 0; i < r.n_wit; i++)
        free(r.wit[i].label);
    free(r.wit);
    free(r.ops);
    free(r.lanes);
    free(r.faults);
    free(r.kinds);
    return rv;
}

int report_render_dir(const char *dir, char *err, size_t errsize)
{
    char path[4096];
    char msg[WR_ERRMSG_SIZE];
    struct history h;
    json_t *results = NULL;
    int rv;

    snprintf(path, sizeof path, "%s/history.jsonl", dir);
    rv = history_load(&h, path, msg);
    if (rv != 0) {
        if (errsize > 0)
            snprintf(err, errsize, "%s", msg);
        return rv;
    }
    snprintf(path, sizeof path, "%s/results.json", dir);
    struct stat st;
    if (stat(path, &st) == 0) {
        json_error_t jerr;
        results = json_load_file(path, 0, &jerr);
        /* An unreadable results.json only costs the page its verdict. */
    }
    rv = report_render(dir, &h, results, err, errsize);
    json_decref(results);
    history_close(&h);
    return rv;
}
