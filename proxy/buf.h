/*
 * buf.h - a growable byte buffer with a read offset.
 *
 * Bytes are appended at the end and consumed from the front. Memory is only
 * held while bytes are pending: buf_release() gives it back when a session
 * goes idle. Callers bound how much they put in (watermarks live in the
 * session), the buffer itself only refuses to grow past SIZE_MAX / 2.
 */
#ifndef STARTTLSD_BUF_H
#define STARTTLSD_BUF_H

#include <stddef.h>

struct buf {
	char *data;	/* storage, NULL until the first append */
	size_t off;	/* first unconsumed byte */
	size_t len;	/* end of valid bytes (data[off..len) is pending) */
	size_t cap;	/* allocated size of data */
};

/* Number of pending bytes. */
static inline size_t buf_pending(const struct buf *b) { return b->len - b->off; }

/* Pointer to the first pending byte (valid until the next append); NULL if never allocated. */
static inline char *buf_head(const struct buf *b) { return b->data ? b->data + b->off : NULL; }

/* Append n bytes; returns 0, or -1 if memory is exhausted. */
int buf_append(struct buf *b, const void *p, size_t n);

/* Append a NUL-free C string. */
int buf_puts(struct buf *b, const char *s);

/*
 * Make room for at least n more bytes and return a pointer to them; the
 * caller writes up to n bytes there and then calls buf_commit(). NULL if
 * memory is exhausted.
 */
char *buf_reserve(struct buf *b, size_t n);

/* Mark n bytes written after buf_reserve() as pending. */
static inline void buf_commit(struct buf *b, size_t n) { b->len += n; }

/* Drop n bytes from the front (n <= buf_pending). */
void buf_consume(struct buf *b, size_t n);

/* Forget all pending bytes but keep the memory. */
static inline void buf_clear(struct buf *b) { b->off = b->len = 0; }

/* Free the memory if nothing is pending (used when a session goes idle). */
void buf_release(struct buf *b);

/* Free the memory unconditionally; safe on a zeroed buffer. */
void buf_free(struct buf *b);

#endif
