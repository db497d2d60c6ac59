/*
 * Watching raft_uv for the storage errors it swallows: see uv_watch.h.
 */
#include "uv_watch.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../lib/log.h"

/* The beginnings of raft_uv 0.15's traces of failures that only set
 * uv->errored: uv_finalize.c (closing a segment), uv_truncate.c (removing
 * segments past a truncation, then syncing the directory). Failed appends
 * and snapshot stores are not here: they reach their callbacks, where the
 * raft_io decorator stops the node (FAIL_STOP). */
static const char *const fatal_prefixes[] = {
    "truncate segment ",
    "unlink segment ",
    "sync data directory: ",
    "truncate index ",
};

bool uv_watch_is_fatal(const char *message)
{
    for (size_t i = 0; i < sizeof fatal_prefixes / sizeof *fatal_prefixes;
         i++) {
        if (strncmp(message, fatal_prefixes[i], strlen(fatal_prefixes[i])) ==
            0) {
            return true;
        }
    }
    return false;
}

static void emit(struct raft_tracer *t,
                 const char *file,
                 int line,
                 const char *message)
{
    struct uv_watch *w = t->impl;
    char copy[1024];

    /* Every message passes here (one per message sent, among others):
     * only a fatal one is copied. */
    if (!uv_watch_is_fatal(message)) {
        log_debug("raft_uv: %s (%s:%d)", message, file, line);
        return;
    }
    snprintf(copy, sizeof copy, "%s", message);
    if (w->on_fatal != NULL) {
        w->on_fatal(w->on_fatal_arg, copy);
        return;
    }
    log_error("storage: raft_uv: %s: exiting so that the node is restarted "
              "from disk before its log goes out of step with it",
              copy);
    _exit(1);
}

void uv_watch_init(struct uv_watch *w)
{
    memset(w, 0, sizeof *w);
    w->tracer.impl = w;
    w->tracer.enabled = true;
    w->tracer.emit = emit;
}
