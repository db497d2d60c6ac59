#include "buf.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* First allocation: one typical small message plus its header. */
#define BUF_MIN_CAP 256

void buf_init(struct buf *b)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_close(struct buf *b)
{
    free(b->p);
    buf_init(b);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
}

int buf_reserve(struct buf *b, size_t n)
{
    size_t need;
    size_t cap;
    uint8_t *p;

    if (n > SIZE_MAX - b->len) {
        return WR_NOMEM;
    }
    need = b->len + n;
    if (need <= b->cap) {
        return 0;
    }
    /* Double until it fits, so appending k bytes one at a time costs O(k). */
    cap = b->cap < BUF_MIN_CAP ? BUF_MIN_CAP : b->cap;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    p = realloc(b->p, cap);
    if (p == NULL) {
        return WR_NOMEM;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

uint8_t *buf_append(struct buf *b, size_t n)
{
    uint8_t *p;

    /* Reserving at least one byte means b->p is never NULL here, even for
     * an empty append to an empty buffer. */
    if (buf_reserve(b, n == 0 ? 1 : n) != 0) {
        return NULL;
    }
    p = b->p + b->len;
    if (n > 0) {
        memset(p, 0, n);
    }
    b->len += n;
    return p;
}

void buf_truncate(struct buf *b, size_t len)
{
    assert(len <= b->len);
    b->len = len;
}
