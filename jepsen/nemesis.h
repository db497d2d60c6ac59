/*
 * The nemeses of walraft-jepsen: the faults a run injects.
 *
 * The nemesis thread starts a few seconds into the run and, every 2-4 s
 * until the fault period ends, injects one fault among those enabled,
 * holds it a few seconds, and heals it before the next. Each fault is
 * recorded in the history as nemesis events ("info", process "nemesis"),
 * and r->faulting is true while it is in force, so that the run can tell
 * whether anything succeeded during faults.
 */
#ifndef WR_JEPSEN_NEMESIS_H
#define WR_JEPSEN_NEMESIS_H

#include <jansson.h>

#include "runner.h"

enum nemesis_id {
    NEM_PAUSE, /* SIGSTOP the leader, SIGCONT: it comes back believing it leads. */
    NEM_KILL,  /* kill -9 a random node, restart it. */
    NEM_COUNT
};

/* Parse a comma-separated list of nemesis names ("none" alone: no
 * faults) into a set of bits. Returns 0, or -1 having said why. */
int nemesis_parse(const char *list, unsigned *set);

/* The names in @set as a new JSON array, and as "a,b" text ("none"). */
json_t *nemesis_names_json(unsigned set);
void nemesis_names(unsigned set, char *buf, size_t size);

/* The nemesis thread's body; @arg is the struct run. */
void *nemesis_main(void *arg);

/* Undo whatever fault is still in force (on the way out of a run). */
void nemesis_heal(struct run *r);

#endif /* WR_JEPSEN_NEMESIS_H */
