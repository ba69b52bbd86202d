/* buf.c - growable byte buffer; see buf.h. */
#include "buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

char *
buf_reserve(struct buf *b, size_t n)
{
	size_t pending = b->len - b->off;
	size_t need, ncap;
	char *p;

	if (b->cap - b->len >= n)
		return b->data + b->len;
	/* Slide pending bytes to the front if that makes enough room. */
	if (b->off > 0 && b->cap - pending >= n) {
		memmove(b->data, b->data + b->off, pending);
		b->off = 0;
		b->len = pending;
		return b->data + b->len;
	}
	if (n > SIZE_MAX / 2 - pending)
		return NULL;
	need = pending + n;
	ncap = b->cap ? b->cap : 1024;
	while (ncap < need)
		ncap *= 2;
	if (b->off > 0) {	/* the pending bytes to the front, then grow in place if the allocator can */
		memmove(b->data, b->data + b->off, pending);
		b->off = 0;
		b->len = pending;
	}
	if ((p = realloc(b->data, ncap)) == NULL)
		return NULL;
	b->data = p;
	b->cap = ncap;
	return b->data + b->len;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	char *dst;

	if (n == 0)
		return 0;
	if ((dst = buf_reserve(b, n)) == NULL)
		return -1;
	memcpy(dst, p, n);
	b->len += n;
	return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

void
buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

void
buf_release(struct buf *b)
{
	if (b->off == b->len)
		buf_free(b);
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->off = b->len = b->cap = 0;
}
