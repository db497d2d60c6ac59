/*
 * The group-commit write queue (see queue.h for the contract).
 *
 * Each database with waiting writes has a FIFO of entries. An entry is the
 * queue's record of one request: when it was queued, its size, and the
 * caller's callback and data, which the queue swaps for its own while it
 * holds the request. Once a batch is handed to the executor its entries move
 * to the in-flight list; the executor's callback (queue_req_cb) puts the
 * caller's callback back, wakes the queue for the next batch and calls it.
 *
 * Callbacks of failed requests are never called while a list is being
 * walked: failures are collected on a private list first, then fired, so a
 * callback may submit again (that only wakes the timer).
 */
#include "queue.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/log.h"

#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_MAX_BATCH 256
#define DEFAULT_MAX_BATCH_BYTES ((size_t)4 << 20)

struct entry {
    struct queue *q; /* NULL once queue_destroy() let go of it in flight. */
    struct exec_req *req;
    exec_req_cb cb; /* The caller's. */
    void *data;     /* The caller's. */
    uint64_t queued_at;
    size_t bytes;
    bool vacuum;
    struct exec_tx **begin; /* A BEGIN: where to put the transaction. */
    struct entry *prev;
    struct entry *next;
};

/* One database with waiting writes. */
struct qdb {
    char *name;
    struct entry *head;
    struct entry *tail;
    struct qdb *next;
};

struct queue {
    uv_loop_t *loop;
    struct exec *e;
    struct queue_config c;
    bool (*ready)(void *arg);
    void *ready_arg;
    uv_timer_t timer;
    struct qdb *dbs;
    struct entry *inflight;    /* Handed to the executor. */
    struct exec_req *nomem;    /* Could not be queued: linked by next_. */
    struct exec_req **scratch; /* max_batch slots for exec_write(). */
    unsigned length;
    bool closing;
};

static uint64_t now_ms(struct queue *q)
{
    return q->c.now_ms != NULL ? q->c.now_ms(q->c.now_arg) : uv_now(q->loop);
}

static size_t req_bytes(const struct exec_req *req)
{
    size_t n = req->sql != NULL ? strlen(req->sql) : 0;

    for (unsigned i = 0; i < req->n_params; i++) {
        const struct value *v = &req->params[i];
        if (v->type == VALUE_TEXT) {
            n += v->text.n;
        } else if (v->type == VALUE_BLOB) {
            n += v->blob.n;
        } else {
            n += 8;
        }
    }
    return n;
}

/* Record a definite failure in @req's outputs. */
static void req_set_error(struct exec_req *req, int status, const char *msg)
{
    req->status = status;
    req->sqlite_code = 0;
    req->definite = true;
    req->changes = 0;
    req->last_insert_id = 0;
    memset(&req->rows, 0, sizeof req->rows);
    req->bookmark = 0;
    req->next_ = NULL;
    err_printf(req->errmsg, "%s", msg);
}

/* Give @ent's request back to its owner (failed with @status and @msg when
 * @status is not 0) and free the entry. */
static void entry_finish(struct entry *ent, int status, const char *msg)
{
    struct exec_req *req = ent->req;
    exec_req_cb cb = ent->cb;

    req->cb = cb;
    req->data = ent->data;
    free(ent);
    if (status != 0) {
        req_set_error(req, status, msg);
    }
    cb(req);
}

static void timer_cb(uv_timer_t *timer)
{
    queue_tick(timer->data);
}

/* Run queue_tick() on the next loop turn. */
static void kick(struct queue *q)
{
    if (!q->closing) {
        uv_timer_start(&q->timer, timer_cb, 0, 0);
    }
}

/* The executor answered a request of a batch. */
static void queue_req_cb(struct exec_req *req)
{
    struct entry *ent = req->data;
    struct queue *q = ent->q;

    if (q != NULL) {
        if (ent->prev != NULL) {
            ent->prev->next = ent->next;
        } else {
            q->inflight = ent->next;
        }
        if (ent->next != NULL) {
            ent->next->prev = ent->prev;
        }
        /* Its database may be idle now: start the next batch soon. */
        kick(q);
    }
    entry_finish(ent, 0, NULL);
}

int queue_create(uv_loop_t *loop,
                 struct exec *e,
                 const struct queue_config *c,
                 bool (*ready)(void *arg),
                 void *ready_arg,
                 struct queue **out)
{
    struct queue *q = calloc(1, sizeof *q);

    if (q == NULL) {
        return WR_NOMEM;
    }
    if (c != NULL) {
        q->c = *c;
    }
    if (q->c.timeout_ms == 0) {
        q->c.timeout_ms = DEFAULT_TIMEOUT_MS;
    }
    if (q->c.max_batch == 0) {
        q->c.max_batch = DEFAULT_MAX_BATCH;
    }
    if (q->c.max_batch_bytes == 0) {
        q->c.max_batch_bytes = DEFAULT_MAX_BATCH_BYTES;
    }
    q->scratch = calloc(q->c.max_batch, sizeof *q->scratch);
    if (q->scratch == NULL) {
        free(q);
        return WR_NOMEM;
    }
    q->loop = loop;
    q->e = e;
    q->ready = ready;
    q->ready_arg = ready_arg;
    if (uv_timer_init(loop, &q->timer) != 0) {
        free(q->scratch);
        free(q);
        return WR_NOMEM;
    }
    q->timer.data = q;
    *out = q;
    return 0;
}

static void submit(struct queue *q,
                   const char *db,
                   struct exec_req *req,
                   struct exec_tx **begin)
{
    struct entry *ent = NULL;
    struct qdb *d;

    if (q->closing) {
        /* Not reachable through the node (it destroys the queue last);
         * answered at once rather than never. */
        req_set_error(req, WR_SHUTDOWN, "the node is shutting down");
        req->cb(req);
        return;
    }
    for (d = q->dbs; d != NULL; d = d->next) {
        if (strcmp(d->name, db) == 0) {
            break;
        }
    }
    if (d == NULL) {
        d = calloc(1, sizeof *d);
        if (d != NULL && (d->name = strdup(db)) == NULL) {
            free(d);
            d = NULL;
        }
        if (d != NULL) {
            d->next = q->dbs;
            q->dbs = d;
        }
    }
    if (d != NULL) {
        ent = calloc(1, sizeof *ent);
    }
    if (ent == NULL) {
        /* Failed on the next tick, with no memory of ours needed. */
        req->next_ = q->nomem;
        q->nomem = req;
        kick(q);
        return;
    }
    ent->q = q;
    ent->req = req;
    ent->cb = req->cb;
    ent->data = req->data;
    ent->queued_at = now_ms(q);
    ent->bytes = req_bytes(req);
    ent->vacuum = req->sql != NULL && exec_is_vacuum(req->sql);
    ent->begin = begin;
    req->cb = queue_req_cb;
    req->data = ent;
    ent->prev = d->tail;
    if (d->tail != NULL) {
        d->tail->next = ent;
    } else {
        d->head = ent;
    }
    d->tail = ent;
    q->length++;
    kick(q);
}

void queue_submit(struct queue *q, const char *db, struct exec_req *req)
{
    submit(q, db, req, NULL);
}

void queue_submit_begin(struct queue *q,
                        const char *db,
                        struct exec_req *req,
                        struct exec_tx **tx)
{
    *tx = NULL;
    submit(q, db, req, tx);
}

static void qdb_unlink(struct qdb *d, struct entry *ent)
{
    if (ent->prev != NULL) {
        ent->prev->next = ent->next;
    } else {
        d->head = ent->next;
    }
    if (ent->next != NULL) {
        ent->next->prev = ent->prev;
    } else {
        d->tail = ent->prev;
    }
    ent->prev = ent->next = NULL;
}

/* A failure to fire once the lists are consistent again. */
struct failed {
    struct entry *head;
    struct entry **tail;
};

static void failed_add(struct failed *f, struct entry *ent, int status,
                       const char *msg)
{
    /* The entry's request carries the error until it is fired. */
    req_set_error(ent->req, status, msg);
    ent->next = NULL;
    *f->tail = ent;
    f->tail = &ent->next;
}

static void failed_fire(struct failed *f)
{
    struct entry *ent = f->head;

    while (ent != NULL) {
        struct entry *next = ent->next;
        entry_finish(ent, 0, NULL); /* The error is already set. */
        ent = next;
    }
    f->head = NULL;
    f->tail = &f->head;
}

/* Hand the first requests of @d to the executor as one batch. */
static void dispatch(struct queue *q, struct qdb *d, struct failed *failed)
{
    char errmsg[WR_ERRMSG_SIZE] = "";
    struct entry *ent = d->head;
    unsigned n = 0;
    size_t bytes = 0;
    int rv;

    if (ent->begin != NULL) {
        /* An interactive transaction takes the writer for itself. */
        rv = exec_tx_begin(q->e, d->name, ent->begin, errmsg);
        if (rv == WR_BUSY) {
            log_debug("queue: \"%s\": %s", d->name, errmsg);
            return;
        }
        qdb_unlink(d, ent);
        q->length--;
        /* Answered once the lists are consistent, with success when
         * status 0. */
        failed_add(failed, ent, rv, rv != 0 ? errmsg : "");
        return;
    }
    /* FIFO: stop at the first request that does not fit; a VACUUM goes
     * alone, a BEGIN waits for the batch before it. */
    while (ent != NULL && n < q->c.max_batch) {
        if (n > 0 && (ent->vacuum || ent->begin != NULL ||
                      bytes + ent->bytes > q->c.max_batch_bytes)) {
            break;
        }
        q->scratch[n++] = ent->req;
        bytes += ent->bytes;
        if (ent->vacuum) {
            break;
        }
        ent = ent->next;
    }
    rv = exec_write(q->e, d->name, q->scratch, n, errmsg);
    if (rv == WR_BUSY) {
        /* A transaction is still in progress on the database: stay queued
         * (the timeout still applies). */
        log_debug("queue: \"%s\": %s", d->name, errmsg);
        return;
    }
    for (unsigned i = 0; i < n; i++) {
        ent = d->head;
        assert(ent->req == q->scratch[i]);
        qdb_unlink(d, ent);
        q->length--;
        if (rv != 0) {
            failed_add(failed, ent, rv, errmsg);
            continue;
        }
        ent->next = q->inflight;
        if (q->inflight != NULL) {
            q->inflight->prev = ent;
        }
        q->inflight = ent;
    }
}

void queue_tick(struct queue *q)
{
    struct failed failed = {NULL, &failed.head};
    struct exec_req *nomem = q->nomem;
    uint64_t now = now_ms(q);
    uint64_t next_deadline = UINT64_MAX;
    struct qdb **pd;

    if (q->closing) {
        return;
    }
    q->nomem = NULL;

    /* Timeouts first: a request past its deadline is not started. */
    for (struct qdb *d = q->dbs; d != NULL; d = d->next) {
        while (d->head != NULL &&
               now - d->head->queued_at >= q->c.timeout_ms) {
            struct entry *ent = d->head;
            char msg[WR_ERRMSG_SIZE];
            err_printf(msg, "write queue timeout: waited %llu ms for the "
                            "writer",
                       (unsigned long long)(now - ent->queued_at));
            qdb_unlink(d, ent);
            q->length--;
            failed_add(&failed, ent, WR_BUSY, msg);
        }
    }

    /* Then one batch per idle database. */
    for (struct qdb *d = q->dbs; d != NULL; d = d->next) {
        if (d->head == NULL || exec_busy(q->e, d->name)) {
            continue;
        }
        if (q->ready != NULL && !q->ready(q->ready_arg)) {
            break;
        }
        dispatch(q, d, &failed);
    }

    /* Forget the databases that have nothing waiting; arm the timer for
     * the oldest waiting request. */
    pd = &q->dbs;
    while (*pd != NULL) {
        struct qdb *d = *pd;
        if (d->head == NULL) {
            *pd = d->next;
            free(d->name);
            free(d);
            continue;
        }
        if (d->head->queued_at + q->c.timeout_ms < next_deadline) {
            next_deadline = d->head->queued_at + q->c.timeout_ms;
        }
        pd = &d->next;
    }
    if (next_deadline != UINT64_MAX) {
        uv_timer_start(&q->timer, timer_cb,
                       next_deadline > now ? next_deadline - now : 0, 0);
    } else {
        uv_timer_stop(&q->timer);
    }

    failed_fire(&failed);
    while (nomem != NULL) {
        struct exec_req *req = nomem;
        nomem = req->next_;
        req_set_error(req, WR_NOMEM, "out of memory while queueing the write");
        req->cb(req);
    }
}

/* Detach every waiting request into @failed with @status and @msg. */
static void take_all(struct queue *q, struct failed *failed, int status,
                     const char *msg)
{
    while (q->dbs != NULL) {
        struct qdb *d = q->dbs;
        while (d->head != NULL) {
            struct entry *ent = d->head;
            qdb_unlink(d, ent);
            q->length--;
            failed_add(failed, ent, status, msg);
        }
        q->dbs = d->next;
        free(d->name);
        free(d);
    }
}

static void fire_nomem(struct exec_req *nomem, int status, const char *msg)
{
    while (nomem != NULL) {
        struct exec_req *req = nomem;
        nomem = req->next_;
        req_set_error(req, status, msg);
        req->cb(req);
    }
}

void queue_fail_all(struct queue *q, int status, const char *msg)
{
    struct failed failed = {NULL, &failed.head};
    struct exec_req *nomem = q->nomem;

    q->nomem = NULL;
    take_all(q, &failed, status, msg);
    failed_fire(&failed);
    fire_nomem(nomem, status, msg);
}

unsigned queue_length(const struct queue *q)
{
    return q->length;
}

static void close_cb(uv_handle_t *handle)
{
    struct queue *q = handle->data;

    free(q->scratch);
    free(q);
}

void queue_destroy(struct queue *q)
{
    struct failed failed = {NULL, &failed.head};
    struct exec_req *nomem = q->nomem;

    q->closing = true;
    q->nomem = NULL;
    take_all(q, &failed, WR_SHUTDOWN, "the node is shutting down");
    /* The executor still answers the requests in flight; their entries
     * must not touch the queue any more. */
    for (struct entry *ent = q->inflight; ent != NULL; ent = ent->next) {
        ent->q = NULL;
    }
    q->inflight = NULL;
    uv_close((uv_handle_t *)&q->timer, close_cb);
    failed_fire(&failed);
    fire_nomem(nomem, WR_SHUTDOWN, "the node is shutting down");
}
