/* pending.c - the replies a session still owes its client; see pending.h. */
#include "pending.h"

#include <string.h>

static int
push(struct pending *q, unsigned kind)
{
	if (q->len >= PENDING_MAX)
		return -1;
	q->kinds[(q->head + q->len) % PENDING_MAX] = (uint8_t)kind;
	q->len++;
	return 0;
}

int
pending_push_front(struct pending *q, unsigned kind)
{
	if ((kind & ~PF_POST_TLS) == P_LOCAL || q->len >= PENDING_MAX)
		return -1;
	q->head = (q->head + PENDING_MAX - 1) % PENDING_MAX;
	q->kinds[q->head] = (uint8_t)kind;
	q->len++;
	q->at_backend++;
	return 0;
}

int
pending_push(struct pending *q, unsigned kind)
{
	if ((kind & ~PF_POST_TLS) == P_LOCAL || push(q, kind) != 0)
		return -1;
	q->at_backend++;
	return 0;
}

int
pending_push_local(struct pending *q, const char *text, size_t n)
{
	uint16_t len = (uint16_t)n;

	if (n > PENDING_LOCAL_MAX || q->len >= PENDING_MAX)
		return -1;
	if (buf_append(&q->locals, &len, 2) != 0 || buf_append(&q->locals, text, n) != 0)
		return -1;
	return push(q, P_LOCAL);
}

unsigned
pending_head(const struct pending *q)
{
	return q->kinds[q->head];
}

const char *
pending_local(const struct pending *q, size_t *n)
{
	uint16_t len;

	memcpy(&len, buf_head(&q->locals), 2);
	*n = len;
	return buf_head(&q->locals) + 2;
}

void
pending_pop(struct pending *q)
{
	size_t n;

	if (q->len == 0)
		return;
	if (pending_head(q) == P_LOCAL) {
		pending_local(q, &n);
		buf_consume(&q->locals, 2 + n);
	} else {
		q->at_backend--;
	}
	q->head = (q->head + 1) % PENDING_MAX;
	q->len--;
	if (q->len == 0)
		buf_release(&q->locals);
}

void
pending_free(struct pending *q)
{
	buf_free(&q->locals);
	q->head = q->len = q->at_backend = 0;
}

int
pending_has(const struct pending *q, unsigned kind)
{
	unsigned i;

	for (i = 0; i < q->len; i++)
		if ((q->kinds[(q->head + i) % PENDING_MAX] & ~PF_POST_TLS) == kind)
			return 1;
	return 0;
}
