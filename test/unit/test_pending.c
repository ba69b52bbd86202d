/* test_pending.c - unit tests for proxy/pending.c (replies owed to the client, in order). */
#include <string.h>

#include "check.h"
#include "pending.h"

static void
test_order(void)
{
	struct pending q;
	const char *t;
	size_t n;

	memset(&q, 0, sizeof(q));
	CHECK(pending_push(&q, P_GREETING) == 0);
	CHECK(pending_push_local(&q, "500 no\r\n", 8) == 0);
	CHECK(pending_push(&q, P_EHLO | PF_POST_TLS) == 0);
	CHECK(q.len == 3 && q.at_backend == 2);
	CHECK(pending_head(&q) == P_GREETING);
	pending_pop(&q);
	CHECK(pending_head(&q) == P_LOCAL);
	t = pending_local(&q, &n);
	CHECK(n == 8 && memcmp(t, "500 no\r\n", 8) == 0);
	pending_pop(&q);
	CHECK(q.at_backend == 1 && pending_head(&q) == (P_EHLO | PF_POST_TLS));
	pending_pop(&q);
	CHECK(q.len == 0 && q.at_backend == 0 && q.locals.data == NULL);	/* empty: memory given back */
	pending_pop(&q);	/* popping nothing is harmless */
	CHECK(q.len == 0);
	pending_free(&q);
}

static void
test_bounds(void)
{
	struct pending q;
	char text[PENDING_LOCAL_MAX + 1];
	unsigned i;

	memset(&q, 0, sizeof(q));
	memset(text, 'x', sizeof(text));
	CHECK(pending_push(&q, P_LOCAL) == -1);	/* locals need their text */
	CHECK(pending_push_local(&q, text, sizeof(text)) == -1);	/* too long */
	for (i = 0; i < PENDING_MAX; i++)
		CHECK(i % 2 ? pending_push(&q, P_RCPT) == 0 : pending_push_local(&q, text, PENDING_LOCAL_MAX) == 0);
	CHECK(pending_push(&q, P_RCPT) == -1 && pending_push_local(&q, "x", 1) == -1);	/* full */
	for (i = 0; i < PENDING_MAX / 2; i++) {
		pending_pop(&q);
		CHECK(pending_push(&q, P_MAIL) == 0);	/* the ring wraps */
	}
	CHECK(q.len == PENDING_MAX);
	pending_free(&q);
	CHECK(q.len == 0 && q.locals.data == NULL);
}

int
main(void)
{
	test_order();
	test_bounds();
	return check_done("test_pending");
}
