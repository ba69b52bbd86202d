/*
 * fuzz_dotstuff.c - libFuzzer driver for proxy/dotstuff.c, the DATA filter.
 *
 * Input: the first byte chooses where the rest is split in two chunks and
 * the line limit; the rest is the message stream from the client. Checked:
 *   - the output holds no bare CR, bare LF or NUL;
 *   - one-shot, split and byte-by-byte feeding agree (output, used, flags),
 *     and so do the filter's vector variants (AVX2, SSE2, none);
 *   - with DATA_END the output ends with "\r\n.\r\n" (or is ".\r\n") and
 *     holds no earlier "\r\n.\r\n"; without it, none at all;
 *   - the end is the client's first CRLF "." CRLF (or a leading "." CRLF),
 *     and the output matches an independent line-by-line model;
 *   - dirty and too_long match the consumed input.
 */
#include <string.h>

#include "dotstuff.h"
#include "fuzz_check.h"

struct result {
	enum data_result res;
	size_t used;
	struct buf out;
	int dirty, too_long;
};

/* Feed in[0..len) in chunks of at most step bytes, the first one first bytes. */
static void
feed(const char *in, size_t len, size_t max_line, size_t first, size_t step, struct result *r)
{
	struct data_filter f;
	size_t start = 0, n, used;
	int chunk = 0;

	memset(r, 0, sizeof(*r));
	data_filter_init(&f, max_line);
	r->res = DATA_MORE;
	while (start <= len) {
		n = chunk++ == 0 ? first : step;
		if (n > len - start)
			n = len - start;
		used = (size_t)-1;
		r->res = data_filter_run(&f, in + start, n, &r->out, &used);
		FUZZ_CHECK(r->res != DATA_NOMEM);
		FUZZ_CHECK(used <= n);
		if (r->res == DATA_END) {
			r->used = start + used;
			break;
		}
		FUZZ_CHECK(used == n);
		start += n;
		r->used = start;
		if (start == len)
			break;
	}
	r->dirty = f.dirty;
	r->too_long = f.too_long;
}

/* buf_head() of a buffer that never held a byte is NULL + 0: avoid it. */
static const char *
head(const struct buf *b)
{
	return b->data != NULL ? buf_head(b) : "";
}

static int
same(const struct result *a, const struct result *b)
{
	return a->res == b->res && a->used == b->used && buf_pending(&a->out) == buf_pending(&b->out) &&
	    memcmp(head(&a->out), head(&b->out), buf_pending(&a->out)) == 0 && a->dirty == b->dirty &&
	    a->too_long == b->too_long;
}

static const char *
find_eod(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i + 5 <= n; i++)
		if (memcmp(p + i, "\r\n.\r\n", 5) == 0)
			return p + i;
	return NULL;
}

/*
 * The model: split the input into lines (CRLF, bare LF or bare CR end a
 * line); the first "." line ended by CRLF after a CRLF-ended line (or at
 * the start) is the end. A "." line not in that context, and any line
 * starting with "." after a bare line end, gets one more ".". NUL becomes
 * a space. Returns the output for complete lines; sets end/used/dirty and
 * whether some line is longer than max_line (CRLF included).
 */
static void
model(const char *in, size_t len, size_t max_line, struct buf *out, int *end, size_t *used, int *dirty,
    int *too_long)
{
	size_t i = 0, j, k;
	int prev_crlf = 1, crlf, partial = 0;

	*end = *dirty = *too_long = 0;
	while (i < len) {
		for (j = i; j < len && in[j] != '\r' && in[j] != '\n'; j++)
			;
		if (j == len || (in[j] == '\r' && j + 1 == len))
			partial = 1;	/* unfinished line (or a CR not yet decided) */
		crlf = !partial && in[j] == '\r' && in[j + 1] == '\n';
		if (!partial && !crlf)
			*dirty = 1;
		for (k = i; k < j; k++)
			if (in[k] == '\0')
				*dirty = 1;
		/* The filter counts the bytes of a line, except a lone "." it holds back. */
		if (max_line && !(j - i == 1 && in[i] == '.') && j - i + 2 > max_line)
			*too_long = 1;
		if (partial)
			break;
		if (j - i == 1 && in[i] == '.' && crlf && prev_crlf) {
			FUZZ_CHECK(buf_append(out, ".\r\n", 3) == 0);
			*end = 1;
			*used = j + 2;
			return;
		}
		if (j > i && in[i] == '.' && (!prev_crlf || (j - i == 1 && !crlf)))
			FUZZ_CHECK(buf_append(out, ".", 1) == 0);
		for (k = i; k < j; k++)
			FUZZ_CHECK(buf_append(out, in[k] == '\0' ? " " : in + k, 1) == 0);
		FUZZ_CHECK(buf_append(out, "\r\n", 2) == 0);
		prev_crlf = crlf;
		i = j + (crlf ? 2 : 1);
	}
	*used = len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data + 1;
	size_t len, split, max_line, k, olen;
	struct result once, two, bytes;
	const char *o, *eod;
	struct buf mout = { 0 };
	int mend, mdirty, mlong;
	size_t mused;

	if (size == 0)
		return 0;
	len = size - 1;
	split = data[0] % (len + 1);
	max_line = data[0] & 0x80 ? 0 : 3 + (data[0] & 0x3f);

	/* The widest vectors, SSE2 and plain C must agree: one-shot with each. */
	for (k = 2; k > 0; k--) {
		data_filter_vectors((int)k);
		feed(in, len, max_line, len, len, &once);
		data_filter_vectors((int)k - 1);
		feed(in, len, max_line, len, len, &two);
		FUZZ_CHECK(same(&once, &two));
		buf_free(&once.out);
		buf_free(&two.out);
	}
	feed(in, len, max_line, len, len, &once);
	feed(in, len, max_line, split, len, &two);
	feed(in, len, max_line, 0, 1, &bytes);
	if (!same(&once, &two) || !same(&once, &bytes)) {
		fprintf(stderr, "split at %zu / byte-by-byte feeding differs from one-shot\n", split);
		FUZZ_CHECK(!"split, byte-by-byte and one-shot feeding agree");
	}

	o = head(&once.out);
	olen = buf_pending(&once.out);
	/* No bare CR, bare LF or NUL. */
	for (k = 0; k < olen; k++) {
		FUZZ_CHECK(o[k] != '\0');
		if (o[k] == '\r')
			FUZZ_CHECK(k + 1 < olen && o[k + 1] == '\n');
		if (o[k] == '\n')
			FUZZ_CHECK(k > 0 && o[k - 1] == '\r');
	}
	/* The end of data appears once, at the end, exactly when DATA_END. */
	eod = find_eod(o, olen);
	if (once.res == DATA_END) {
		FUZZ_CHECK((olen == 3 && memcmp(o, ".\r\n", 3) == 0) || (olen >= 5 && eod == o + olen - 5));
		FUZZ_CHECK(once.used >= 3 && memcmp(in + once.used - 3, ".\r\n", 3) == 0);
		FUZZ_CHECK(once.used == 3 || (once.used >= 5 && memcmp(in + once.used - 5, "\r\n", 2) == 0));
	} else {
		FUZZ_CHECK(once.res == DATA_MORE && once.used == len);
		FUZZ_CHECK(eod == NULL && !(olen >= 3 && memcmp(o, ".\r\n", 3) == 0));
	}

	/* The independent model. */
	model(in, len, max_line, &mout, &mend, &mused, &mdirty, &mlong);
	if (mend != (once.res == DATA_END) || mused != once.used) {
		fprintf(stderr, "end: filter %s at %zu, model %s at %zu\n", once.res == DATA_END ? "END" : "MORE",
		    once.used, mend ? "END" : "MORE", mused);
		FUZZ_CHECK(!"the end of data is the client's first CRLF . CRLF");
	}
	FUZZ_CHECK(olen >= buf_pending(&mout) && memcmp(o, head(&mout), buf_pending(&mout)) == 0);
	if (mend)
		FUZZ_CHECK(olen == buf_pending(&mout));
	FUZZ_CHECK(once.dirty == mdirty);
	FUZZ_CHECK(once.too_long == mlong);

	buf_free(&mout);
	buf_free(&once.out);
	buf_free(&two.out);
	buf_free(&bytes.out);
	return 0;
}
