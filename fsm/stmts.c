/*
 * A connection's prepared statements (see stmts.h for the contract).
 *
 * A small array searched linearly by hash: a connection sees a handful of
 * texts, and comparing 64 hashes costs less than a hash table's upkeep. A
 * text that is not one statement is kept too, with no statement, so it is
 * compiled once more (by the caller) but not twice.
 */
#include "stmts.h"

#include <stdlib.h>
#include <string.h>

#define SQL_MAX 4096 /* Longer texts are not kept. */

struct stmts_entry {
    uint64_t hash;
    char *sql;
    size_t len;
    int tag;
    sqlite3_stmt *stmt; /* NULL: the text is not exactly one statement. */
    uint64_t used;
    bool out; /* Taken and not given back. */
};

/* FNV-1a, 64 bits. */
static uint64_t hash_sql(const char *sql, size_t len)
{
    uint64_t h = 0xcbf29ce484222325u;

    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)sql[i];
        h *= 0x100000001b3u;
    }
    return h;
}

static bool only_space(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' ||
           *p == '\f') {
        p++;
    }
    return *p == '\0';
}

void stmts_init(struct stmts *s, sqlite3 *conn, unsigned max)
{
    memset(s, 0, sizeof *s);
    s->conn = conn;
    s->max = max;
}

static void entry_free(struct stmts_entry *e)
{
    sqlite3_finalize(e->stmt);
    free(e->sql);
}

void stmts_close(struct stmts *s)
{
    for (unsigned i = 0; i < s->n; i++) {
        entry_free(&s->v[i]);
    }
    free(s->v);
    memset(s, 0, sizeof *s);
}

static struct stmts_entry *find(struct stmts *s, uint64_t h, const char *sql,
                                size_t len, int tag, bool any_tag)
{
    for (unsigned i = 0; i < s->n; i++) {
        struct stmts_entry *e = &s->v[i];
        if (e->hash == h && e->len == len && (any_tag || e->tag == tag) &&
            memcmp(e->sql, sql, len) == 0) {
            return e;
        }
    }
    return NULL;
}

/* A free slot: a new one while below max, else the least recently used
 * entry whose statement is not out (NULL if all are). */
static struct stmts_entry *slot(struct stmts *s)
{
    struct stmts_entry *victim = NULL;

    if (s->n < s->max) {
        if (s->v == NULL) {
            s->v = calloc(s->max, sizeof *s->v);
            if (s->v == NULL) {
                return NULL;
            }
        }
        return &s->v[s->n++];
    }
    for (unsigned i = 0; i < s->n; i++) {
        struct stmts_entry *e = &s->v[i];
        if (!e->out && (victim == NULL || e->used < victim->used)) {
            victim = e;
        }
    }
    if (victim != NULL) {
        entry_free(victim);
        memset(victim, 0, sizeof *victim);
    }
    return victim;
}

int stmts_take(struct stmts *s, int tag, const char *sql, sqlite3_stmt **stmt)
{
    size_t len = strlen(sql);
    uint64_t h;
    struct stmts_entry *e;
    sqlite3_stmt *fresh = NULL;
    const char *tail = NULL;
    char *copy;
    int rc;

    *stmt = NULL;
    if (s->max == 0 || len > SQL_MAX) {
        return SQLITE_OK;
    }
    h = hash_sql(sql, len);
    e = find(s, h, sql, len, tag, false);
    if (e != NULL) {
        if (e->stmt == NULL || e->out) {
            return SQLITE_OK;
        }
        e->used = ++s->clock;
        e->out = true;
        *stmt = e->stmt;
        return SQLITE_OK;
    }
    rc = sqlite3_prepare_v3(s->conn, sql, (int)len + 1,
                            SQLITE_PREPARE_PERSISTENT, &fresh, &tail);
    if (rc != SQLITE_OK) {
        return rc; /* Not kept: the schema may change. */
    }
    if (fresh != NULL && !only_space(tail)) {
        sqlite3_finalize(fresh);
        fresh = NULL;
    }
    copy = malloc(len + 1);
    e = copy != NULL ? slot(s) : NULL;
    if (e == NULL) {
        /* Out of memory or every statement out: run it uncached. A lone
         * statement is given back finalized by stmts_give(). */
        free(copy);
        if (fresh == NULL) {
            return SQLITE_OK;
        }
        *stmt = fresh;
        return SQLITE_OK;
    }
    memcpy(copy, sql, len + 1);
    e->hash = h;
    e->sql = copy;
    e->len = len;
    e->tag = tag;
    e->stmt = fresh;
    e->used = ++s->clock;
    e->out = fresh != NULL;
    *stmt = fresh;
    return SQLITE_OK;
}

void stmts_give(struct stmts *s, sqlite3_stmt *stmt)
{
    for (unsigned i = 0; i < s->n; i++) {
        struct stmts_entry *e = &s->v[i];
        if (e->stmt == stmt) {
            sqlite3_reset(stmt);
            sqlite3_clear_bindings(stmt);
            e->out = false;
            return;
        }
    }
    sqlite3_finalize(stmt); /* Handed out uncached. */
}

sqlite3_stmt *stmts_peek(struct stmts *s, const char *sql)
{
    size_t len = strlen(sql);
    struct stmts_entry *e;

    if (s->n == 0 || len > SQL_MAX) {
        return NULL;
    }
    e = find(s, hash_sql(sql, len), sql, len, 0, true);
    return e != NULL && e->stmt != NULL && !e->out ? e->stmt : NULL;
}
