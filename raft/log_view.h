/*
 * Read-only lookups in libraft 0.15's in-memory log.
 *
 * struct raft_log is public in raft.h, but 0.15 exports no function to read
 * an entry by index. Its layout (log.c): a circular buffer of `size` slots
 * holding entries front..back-1, the entry at index i in slot
 * (front + i - 1 - offset) % size (locateEntry()), entries up to `offset`
 * compacted into the snapshot. Shared by the guard and the fsm adapter so
 * that arithmetic lives in one place.
 */
#ifndef WR_RAFT_LOG_VIEW_H
#define WR_RAFT_LOG_VIEW_H

#include <stddef.h>

#include <raft.h>

/* Entries held in memory. */
static inline size_t log_view_count(const struct raft_log *l)
{
    if (l->entries == NULL || l->size == 0) {
        return 0;
    }
    return l->front <= l->back ? l->back - l->front
                               : l->size - l->front + l->back;
}

/* Index of the last entry (the snapshot's offset when none is held). */
static inline raft_index log_view_last_index(const struct raft_log *l)
{
    return l->offset + log_view_count(l);
}

/* The entry at @index, or NULL when it is not in memory (what 0.15's
 * logGet() would return). Valid until the core next changes the log. */
static inline const struct raft_entry *log_view_entry(
    const struct raft_log *l,
    raft_index index)
{
    if (index <= l->offset || index > log_view_last_index(l)) {
        return NULL;
    }
    return &l->entries[(l->front + (size_t)(index - 1 - l->offset)) %
                       l->size];
}

#endif /* WR_RAFT_LOG_VIEW_H */
