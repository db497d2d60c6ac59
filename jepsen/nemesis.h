/*
 * The nemeses of walraft-jepsen: the faults a run injects.
 *
 * The nemesis thread starts a few seconds into the run and, every 2-4 s
 * until the fault period ends, injects one fault among those enabled
 * (taking turns, from a random first one), holds it a few seconds, and
 * heals it before the next. Each fault is recorded in the history as
 * nemesis events ("info", process "nemesis") whose value says what was
 * done, and r->faulting is true while it is in force, so that the run can
 * tell whether anything succeeded during faults.
 *
 * Partitions and packet loss need the nodes in network namespaces
 * (netns.h); the disk nemesis needs tmpfs mounts. Where these are
 * missing, nemesis_plan() records the nemeses as skipped, and they are.
 */
#ifndef WR_JEPSEN_NEMESIS_H
#define WR_JEPSEN_NEMESIS_H

#include <jansson.h>

#include "runner.h"

enum nemesis_id {
    NEM_PAUSE,     /* SIGSTOP the leader, SIGCONT: it comes back
                    * believing it leads. */
    NEM_KILL,      /* kill -9 a random node, restart it. */
    NEM_PARTITION, /* One of the partitions below, at random each time. */
    NEM_PARTITION_ONE,    /* A random node cut off from the others. */
    NEM_PARTITION_LEADER, /* The leader cut off. */
    NEM_PARTITION_HALVES, /* Random halves (2 | 1, 3 | 2). */
    NEM_PARTITION_RING,   /* Each node hears its two ring neighbours only
                           * (5 nodes: every node sees a majority). */
    NEM_PARTITION_BRIDGE, /* Two halves, one node in both. */
    NEM_PARTITION_ONEWAY, /* A node that cannot receive, or cannot send. */
    NEM_LOSS,      /* Random packet loss on some nodes (nft numgen). */
    NEM_MEMBERSHIP, /* Remove a non-leader, add a fresh node in its place. */
    NEM_DISK,      /* Fill a node's tmpfs; free it; restart it if it stopped. */
    NEM_TRANSFER,  /* Several leadership transfers in quick succession. */
    NEM_COUNT
};

/* Parse a comma-separated list of nemesis names ("none" alone: no
 * faults) into a set of bits. Returns 0, or -1 having said why. */
int nemesis_parse(const char *list, unsigned *set);

/* The names in @set as a new JSON array, and as "a,b" text ("none"). */
json_t *nemesis_names_json(unsigned set);
void nemesis_names(unsigned set, char *buf, size_t size);

/* One line per nemesis for the usage text. */
void nemesis_usage(FILE *out);

/* Decide which enabled nemeses cannot run here (r->skipped and
 * r->skipped_why) and say so on stdout. @net_why is NULL if the nodes are
 * in namespaces, else why not; @disk_why the same for tmpfs disks. */
void nemesis_plan(struct run *r, const char *net_why, const char *disk_why);

/* The nemesis thread's body; @arg is the struct run. */
void *nemesis_main(void *arg);

/* Undo whatever fault is still in force: SIGCONT a paused node, delete
 * the nft rules and the balloon file, add back a removed member, and start
 * every member that does not run (on the way out of a run; safe to call
 * again, and after cluster_stop). */
void nemesis_heal(struct run *r);

#endif /* WR_JEPSEN_NEMESIS_H */
