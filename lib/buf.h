/*
 * A growable byte buffer.
 *
 * Encoders append to one of these: the wire codec (proto/) builds whole
 * messages in it, several messages may be queued back to back, and a
 * connection writes buf.p[0..len) to its socket. The buffer only grows; reset
 * it to reuse the memory for the next batch of messages.
 *
 * The struct is caller-allocated; buf_init() sets it up without allocating
 * and buf_close() releases what it owns (malloc/realloc/free).
 */
#ifndef WR_LIB_BUF_H
#define WR_LIB_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *p; /* Owned; NULL until the first append. */
    size_t len; /* Bytes in use. */
    size_t cap; /* Bytes allocated. */
};

/* Set up an empty buffer. Allocates nothing. */
void buf_init(struct buf *b);

/* Free the memory and leave the buffer empty, ready for reuse. */
void buf_close(struct buf *b);

/* Forget the contents but keep the memory. */
void buf_reset(struct buf *b);

/* Make room for @n more bytes without changing len. Returns 0 or WR_NOMEM
 * (also when len + n would overflow size_t); on error the buffer is
 * unchanged. Pointers into the buffer are invalidated when it grows. */
int buf_reserve(struct buf *b, size_t n);

/* Append @n bytes and return a pointer to them, or NULL on out of memory
 * (the buffer is then unchanged). The new bytes are zeroed, so an encoder
 * only writes what is not padding. The pointer is valid until the buffer
 * next grows. */
uint8_t *buf_append(struct buf *b, size_t n);

/* Drop everything after the first @len bytes (len must not exceed b->len). */
void buf_truncate(struct buf *b, size_t len);

#endif /* WR_LIB_BUF_H */
