/*
 * The recorded history of a Jepsen-style run, and its parser.
 *
 * A history is a file of JSON lines, one operation event per line, with
 * Jepsen's meaning. Every line is one object:
 *
 *   {"index": 7, "time": 1234567890, "process": 2, "type": "invoke",
 *    "f": "write", "key": 3, "value": 17}
 *
 *   index    integer >= 0, optional; if present it must increase strictly
 *            from line to line. The position of a line in the file is the
 *            real-time order of events: an operation whose completion line
 *            comes before another's invocation line finished before the
 *            other began.
 *   time     integer nanoseconds since the start of the run; must not
 *            decrease from line to line. Used for display only.
 *   process  integer >= 0 for a client worker, or the string "nemesis" for
 *            fault events (kept as events, never paired into operations).
 *   type     "invoke" (the operation starts), "ok" (it took effect), "fail"
 *            (it definitely did not take effect) or "info" (unknown: it may
 *            take effect at any time after its invocation, even after the
 *            end of the history).
 *   f        the operation's name: "read", "write", "cas", "transfer",
 *            "add", "txn", ... (the workload decides which it understands).
 *   key      any JSON value, optional.
 *   value    any JSON value, optional (absent means null). An ok completion
 *            carries the value the operation observed (a read's result); a
 *            fail or info completion may repeat the invocation's.
 *   error    any JSON value, optional, ignored by the checkers.
 *
 * Each process has at most one operation open at a time: an invoke, then
 * exactly one ok, fail or info with the same f (and the same key, if both
 * carry one). A worker whose operation ended in info continues as a new
 * process, so a process never invokes again after an info; an operation
 * still open at the end of the file is treated as info. Blank lines are
 * allowed. Any other deviation makes the history unusable, reported with
 * its line number.
 */
#ifndef WR_JEPSEN_HISTORY_H
#define WR_JEPSEN_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum hist_type { HIST_INVOKE, HIST_OK, HIST_FAIL, HIST_INFO };

/* The process number of nemesis events. */
#define HIST_NEMESIS (-1)

/* One line of the file. */
struct hist_event {
    size_t line;         /* 1-based line number in the file. */
    int64_t index;       /* "index", or the event's position if absent. */
    int64_t time;        /* Nanoseconds. */
    int64_t process;     /* HIST_NEMESIS for the nemesis. */
    enum hist_type type;
    const char *f;       /* Points into @obj. */
    json_t *key;         /* Borrowed from @obj; NULL if absent. */
    json_t *value;       /* Borrowed from @obj; NULL if absent or null. */
    json_t *obj;         /* The whole line; one reference owned. */
};

/* An invocation paired with its completion. */
struct hist_op {
    size_t id;              /* Position in history.ops (invocation order). */
    int64_t process;
    const char *f;
    enum hist_type type;    /* HIST_OK, HIST_FAIL or HIST_INFO. */
    const char *key;        /* Compact JSON text of the key; NULL if none. */
    json_t *key_json;       /* Borrowed; NULL if none. */
    json_t *value;          /* The ok completion's value; for fail and info
                             * the invocation's. Borrowed; may be NULL. */
    json_t *invoke_value;   /* Borrowed; may be NULL. */
    size_t invoke;          /* Position of the invocation in events. */
    size_t complete;        /* Position of the completion in events, or
                             * SIZE_MAX if it never completed. */
    int64_t invoke_time;
    int64_t complete_time;  /* INT64_MAX for info. */
};

struct history {
    struct hist_event *events;
    size_t n_events;
    struct hist_op *ops;    /* In invocation order. */
    size_t n_ops;
    char **keys;            /* The key strings ops point to; owned. */
    size_t n_keys;
};

/* Parse @len bytes of JSON lines into @h. Returns 0, WR_CORRUPT with a
 * message naming the line and the fault in @errmsg (WR_ERRMSG_SIZE bytes),
 * or WR_NOMEM. No reference to @text is kept. On error @h is left empty and
 * need not be closed. */
int history_parse(struct history *h, const char *text, size_t len,
                  char *errmsg);

/* Read and parse the file at @path. As history_parse(), plus WR_IOERR. */
int history_load(struct history *h, const char *path, char *errmsg);

/* Release everything @h owns. Safe on a zeroed struct. */
void history_close(struct history *h);

/* "invoke", "ok", "fail" or "info". */
const char *hist_type_str(enum hist_type type);

/* Whether the completion event of @a comes before the invocation of @b in
 * the history: @a finished before @b began. Never true for an info @a. */
static inline int hist_op_precedes(const struct hist_op *a,
                                   const struct hist_op *b)
{
    return a->complete != SIZE_MAX && a->complete < b->invoke;
}

#endif /* WR_JEPSEN_HISTORY_H */
