/* test_dotstuff.c - unit tests for proxy/dotstuff.c (the DATA filter). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dotstuff.h"

#define S(lit) (lit), (sizeof(lit) - 1)

/* The outcome of filtering one input. */
struct run {
	enum data_result res;
	size_t used;		/* input bytes consumed in total */
	char out[1024];
	size_t outlen;
	int dirty;
	int too_long;
};

static void
take_output(struct run *r, struct buf *out)
{
	size_t n = buf_pending(out);

	if (n > sizeof(r->out))
		n = sizeof(r->out);	/* inputs here are far smaller */
	if (n > 0)
		memcpy(r->out, buf_head(out), n);
	r->outlen = buf_pending(out);
	buf_free(out);
}

/*
 * Feed in[0..len) in chunks: the chunk boundaries are the offsets in
 * cuts[0..ncuts) (ascending). Stops at the first DATA_END, as a session
 * would (bytes after the end belong to the next command).
 */
static void
run_chunks(const char *in, size_t len, size_t max_line, const size_t *cuts, size_t ncuts, struct run *r)
{
	struct data_filter f;
	struct buf out = { 0 };
	size_t start = 0, k, end, used;

	memset(r, 0, sizeof(*r));
	data_filter_init(&f, max_line);
	r->res = DATA_MORE;
	for (k = 0; k <= ncuts; k++) {
		end = k < ncuts ? cuts[k] : len;
		used = (size_t)-1;
		r->res = data_filter_run(&f, in + start, end - start, &out, &used);
		if (r->res == DATA_NOMEM)
			break;
		if (r->res == DATA_END) {
			r->used = start + used;
			break;
		}
		if (used != end - start) {
			fprintf(stderr, "  DATA_MORE but used %zu of %zu\n", used, end - start);
			CHECK(used == end - start);	/* counted only when it fails */
		}
		start = end;
		r->used = start;
	}
	r->dirty = f.dirty;
	r->too_long = f.too_long;
	take_output(r, &out);
}

static void
run_once(const char *in, size_t len, size_t max_line, struct run *r)
{
	run_chunks(in, len, max_line, NULL, 0, r);
}

static int
same_run(const struct run *a, const struct run *b)
{
	return a->res == b->res && a->used == b->used && a->outlen == b->outlen &&
	    memcmp(a->out, b->out, a->outlen) == 0 && a->dirty == b->dirty && a->too_long == b->too_long;
}

static void
print_bytes(const char *label, const char *p, size_t n)
{
	size_t i;

	fprintf(stderr, "  %s [", label);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\r')
			fputs("\\r", stderr);
		else if (c == '\n')
			fputs("\\n", stderr);
		else if (c == '\0')
			fputs("\\0", stderr);
		else if (c < 32 || c > 126)
			fprintf(stderr, "\\x%02x", c);
		else
			fputc(c, stderr);
	}
	fputs("]\n", stderr);
}

/*
 * The one-shot result must equal every two-chunk split and the
 * byte-by-byte feeding. Returns 1 if all agree.
 */
static int
splits_agree(const char *in, size_t len, size_t max_line)
{
	struct run once, other;
	size_t cuts[256], k, n = len < 256 ? len : 256;
	int ok = 1;

	run_once(in, len, max_line, &once);
	for (k = 0; k <= len; k++) {
		run_chunks(in, len, max_line, &k, 1, &other);
		if (!same_run(&once, &other)) {
			if (ok)
				fprintf(stderr, "  split at %zu differs from one-shot\n", k);
			ok = 0;
		}
	}
	/* Byte by byte (and an empty chunk at the start). */
	for (k = 0; k < n; k++)
		cuts[k] = k;
	run_chunks(in, len, max_line, cuts, n, &other);
	if (!same_run(&once, &other)) {
		fprintf(stderr, "  byte-by-byte differs from one-shot\n");
		ok = 0;
	}
	if (!ok)
		print_bytes("input", in, len);
	return ok;
}

/* Filter in (one-shot and at every split) and compare with the expectation. */
static void
expect_run(int line, const char *in, size_t len, enum data_result res, size_t used, const char *out, size_t outlen,
    int dirty)
{
	struct run r;
	int ok;

	run_once(in, len, 0, &r);
	ok = r.res == res && r.used == used && r.outlen == outlen && memcmp(r.out, out, outlen) == 0 &&
	    r.dirty == dirty;
	if (!ok) {
		fprintf(stderr, "test_dotstuff.c:%d: filter mismatch\n", line);
		print_bytes("input", in, len);
		fprintf(stderr, "  got  res=%d used=%zu dirty=%d\n", r.res, r.used, r.dirty);
		print_bytes("got ", r.out, r.outlen);
		fprintf(stderr, "  want res=%d used=%zu dirty=%d\n", res, used, dirty);
		print_bytes("want", out, outlen);
	}
	CHECK(ok);
	CHECK(splits_agree(in, len, 0));
}

/* in and out are string literals. */
#define EXPECT(in, res, used, out, dirty) expect_run(__LINE__, S(in), res, used, S(out), dirty)

static void
test_end_detection(void)
{
	/* The end line, in CRLF context. */
	EXPECT("Hello\r\n.\r\n", DATA_END, 10, "Hello\r\n.\r\n", 0);
	EXPECT("Subject: x\r\n\r\nbody\r\n.\r\n", DATA_END, 23, "Subject: x\r\n\r\nbody\r\n.\r\n", 0);
	/* A leading ".\r\n" (empty message). */
	EXPECT(".\r\n", DATA_END, 3, ".\r\n", 0);
	/* Bytes after the end are left unconsumed. */
	EXPECT(".\r\nQUIT\r\n", DATA_END, 3, ".\r\n", 0);
	EXPECT("a\r\n.\r\nMAIL FROM:<x>\r\n", DATA_END, 6, "a\r\n.\r\n", 0);
	EXPECT("a\r\n.\r\n.\r\n", DATA_END, 6, "a\r\n.\r\n", 0);
	EXPECT("a\r\n.\r\n\n\0\r", DATA_END, 6, "a\r\n.\r\n", 0);
	/* No end yet. */
	EXPECT("", DATA_MORE, 0, "", 0);
	EXPECT("Hello", DATA_MORE, 5, "Hello", 0);
	EXPECT("Hello\r\n", DATA_MORE, 7, "Hello\r\n", 0);
	EXPECT("Hello\r\n.", DATA_MORE, 8, "Hello\r\n", 0);	/* "." held back */
	EXPECT("Hello\r\n.\r", DATA_MORE, 9, "Hello\r\n", 0);	/* ".\r" held back */
	EXPECT("Hello\r", DATA_MORE, 6, "Hello", 0);		/* CR held back */
	EXPECT(".", DATA_MORE, 1, "", 0);
	/* "." followed by more text is not an end. */
	EXPECT("a\r\n.a\r\n", DATA_MORE, 7, "a\r\n.a\r\n", 0);
	EXPECT("a\r\n. \r\n", DATA_MORE, 7, "a\r\n. \r\n", 0);
	EXPECT("a\r\n.\r\n", DATA_END, 6, "a\r\n.\r\n", 0);
	/* A "." not at the start of a line. */
	EXPECT("a.\r\n", DATA_MORE, 4, "a.\r\n", 0);
	EXPECT("a\r\n a.\r\n", DATA_MORE, 8, "a\r\n a.\r\n", 0);
}

static void
test_dot_stuffed(void)
{
	/* Lines already dot-stuffed by the client pass unchanged. */
	EXPECT("..x\r\n", DATA_MORE, 5, "..x\r\n", 0);
	EXPECT("a\r\n..x\r\n.\r\n", DATA_END, 11, "a\r\n..x\r\n.\r\n", 0);
	EXPECT("a\r\n..\r\n.\r\n", DATA_END, 10, "a\r\n..\r\n.\r\n", 0);
	EXPECT("...\r\n.\r\n", DATA_END, 8, "...\r\n.\r\n", 0);
	EXPECT(".x\r\n", DATA_MORE, 4, ".x\r\n", 0);
}

static void
test_bare_lf(void)
{
	/* A bare LF becomes CRLF and makes the message dirty. */
	EXPECT("a\nb\r\n.\r\n", DATA_END, 8, "a\r\nb\r\n.\r\n", 1);
	EXPECT("a\n", DATA_MORE, 2, "a\r\n", 1);
	EXPECT("\n", DATA_MORE, 1, "\r\n", 1);
	EXPECT("a\n\n", DATA_MORE, 3, "a\r\n\r\n", 1);
	/* "<LF>.<LF>" never ends the message and is emitted stuffed. */
	EXPECT("a\n.\n", DATA_MORE, 4, "a\r\n..\r\n", 1);
	EXPECT("\n.\n", DATA_MORE, 3, "\r\n..\r\n", 1);
	EXPECT(".\n", DATA_MORE, 2, "..\r\n", 1);
	/* "\r\n.\n": a "." line ended by a bare LF. */
	EXPECT("a\r\n.\nb", DATA_MORE, 6, "a\r\n..\r\nb", 1);
	EXPECT("a\r\n.\n", DATA_MORE, 5, "a\r\n..\r\n", 1);
	/* "\n.\r\n": a "." line after a bare LF. */
	EXPECT("a\n.\r\nb", DATA_MORE, 6, "a\r\n..\r\nb", 1);
	EXPECT("\n.\r\n", DATA_MORE, 4, "\r\n..\r\n", 1);
	/* A line starting with "." after a bare line end is stuffed. */
	EXPECT("a\n.x\r\n", DATA_MORE, 6, "a\r\n..x\r\n", 1);
	EXPECT("a\n..x\r\n", DATA_MORE, 7, "a\r\n...x\r\n", 1);
	/* After a proper CRLF again, "." CRLF ends the message. */
	EXPECT("a\nb\r\n.\r\n", DATA_END, 8, "a\r\nb\r\n.\r\n", 1);
	EXPECT("a\n\r\n.\r\n", DATA_END, 7, "a\r\n\r\n.\r\n", 1);
}

static void
test_bare_cr(void)
{
	EXPECT("a\rb\r\n.\r\n", DATA_END, 8, "a\r\nb\r\n.\r\n", 1);
	EXPECT("a\rb", DATA_MORE, 3, "a\r\nb", 1);
	/* CR CR LF: a bare CR then a real CRLF (an empty line). */
	EXPECT("a\r\r\n", DATA_MORE, 4, "a\r\n\r\n", 1);
	EXPECT("a\r\r\n.\r\n", DATA_END, 7, "a\r\n\r\n.\r\n", 1);
	/* "\r.\r": bare CR line ends around a dot are never an end. */
	EXPECT("a\r.\r", DATA_MORE, 4, "a\r\n", 1);	/* ".\r" held back */
	EXPECT("a\r.\rb", DATA_MORE, 5, "a\r\n..\r\nb", 1);
	EXPECT("a\r.\nb", DATA_MORE, 5, "a\r\n..\r\nb", 1);
	EXPECT("a\r\n.\rb", DATA_MORE, 6, "a\r\n..\r\nb", 1);
	EXPECT(".\rb", DATA_MORE, 3, "..\r\nb", 1);
	EXPECT(".\r\r\n", DATA_MORE, 4, "..\r\n\r\n", 1);
	EXPECT("a\r.\r\nb", DATA_MORE, 6, "a\r\n..\r\nb", 1);
	EXPECT("\r", DATA_MORE, 1, "", 0);	/* undecided yet */
	EXPECT("\r\r", DATA_MORE, 2, "\r\n", 1);
	EXPECT("\r.x\r\n", DATA_MORE, 5, "\r\n..x\r\n", 1);
}

static void
test_nul(void)
{
	EXPECT("a\0b\r\n.\r\n", DATA_END, 8, "a b\r\n.\r\n", 1);
	EXPECT("\0", DATA_MORE, 1, " ", 1);
	EXPECT(".\0\r\n", DATA_MORE, 4, ". \r\n", 1);
	EXPECT("a\r\n.\0\r\n.\r\n", DATA_END, 10, "a\r\n. \r\n.\r\n", 1);
	EXPECT("\0\r\n", DATA_MORE, 3, " \r\n", 1);
}

/*
 * A "." line that ends in a real CRLF after a bare line end is not an end
 * (it is stuffed), but it still ended with CRLF: a following "." CRLF is the
 * client's CRLF "." CRLF and must end the message (dotstuff.h: "A message
 * ends only at the client's CRLF "." CRLF").
 */
static void
test_end_after_stuffed_dot_line(void)
{
	EXPECT("\n.\r\n.\r\n", DATA_END, 7, "\r\n..\r\n.\r\n", 1);
	EXPECT("a\n.\r\n.\r\nQUIT\r\n", DATA_END, 8, "a\r\n..\r\n.\r\n", 1);
	EXPECT("a\r.\r\n.\r\n", DATA_END, 8, "a\r\n..\r\n.\r\n", 1);
}

static void
test_max_line(void)
{
	struct run r;
	size_t cut;

	/* max_line counts the CRLF: 8 bytes + CRLF fit in 10. */
	run_once(S("12345678\r\n.\r\n"), 10, &r);
	CHECK(r.res == DATA_END && r.too_long == 0);
	run_once(S("123456789\r\n.\r\n"), 10, &r);
	CHECK(r.res == DATA_END && r.too_long == 1);
	/* Long lines are still passed on whole. */
	CHECK(r.outlen == 14 && memcmp(r.out, "123456789\r\n.\r\n", 14) == 0);
	/* Each line is measured on its own. */
	run_once(S("12345678\r\n12345678\r\nabc\n12345678\r12345678\r\n"), 10, &r);
	CHECK(r.res == DATA_MORE && r.too_long == 0);
	/* A dot-started line counts its dot. */
	run_once(S(".2345678\r\n"), 10, &r);
	CHECK(r.too_long == 0);
	run_once(S(".23456789\r\n"), 10, &r);
	CHECK(r.too_long == 1);
	/* NUL bytes count like others. */
	run_once("1234567\0\0\r\n", 11, 10, &r);
	CHECK(r.too_long == 1);
	run_once("123456\0\0\r\n", 10, 10, &r);
	CHECK(r.too_long == 0);
	/* Across chunk boundaries. */
	for (cut = 0; cut <= 11; cut++) {
		run_chunks(S("123456789\r\n"), 10, &cut, 1, &r);
		CHECK(r.too_long == 1);
		if (cut <= 10) {
			run_chunks(S("12345678\r\n"), 10, &cut, 1, &r);
			CHECK(r.too_long == 0);
		}
	}
	/* 0 = no limit. */
	{
		static char big[900];
		memset(big, 'x', sizeof(big));
		run_once(big, sizeof(big), 0, &r);
		CHECK(r.too_long == 0 && r.res == DATA_MORE && r.used == sizeof(big));
		run_once(big, sizeof(big), 512, &r);
		CHECK(r.too_long == 1);
	}
	CHECK(splits_agree(S("123456789\r\n.23456789\r\n12\n.\r\n"), 10));
}

static void
test_init_resets(void)
{
	struct data_filter f;
	struct buf out = { 0 };
	size_t used;

	data_filter_init(&f, 100);
	CHECK(data_filter_run(&f, S("a\n\0.\r"), &out, &used) == DATA_MORE);
	CHECK(f.dirty == 1);
	data_filter_init(&f, 100);
	CHECK(f.dirty == 0 && f.too_long == 0 && f.linelen == 0 && f.max_line == 100);
	buf_clear(&out);
	CHECK(data_filter_run(&f, S(".\r\n"), &out, &used) == DATA_END);
	CHECK(used == 3 && buf_pending(&out) == 3);
	buf_free(&out);
}

/* Records which emitted chunk data_filter_is_end() called the end of the message. */
struct end_seen {
	const struct data_filter *f;
	int ends;		/* chunks it called the end */
	char last[8];		/* the last such chunk */
};

static int
note_end(void *arg, const char *p, size_t n)
{
	struct end_seen *e = arg;

	if (data_filter_is_end(e->f, p, n)) {
		e->ends++;
		snprintf(e->last, sizeof(e->last), "%.*s", (int)n, p);
	}
	return 0;
}

static int
ends_in(const char *a, size_t alen, const char *b, size_t blen)
{
	struct data_filter f;
	struct end_seen e = { &f, 0, "" };
	size_t used;

	data_filter_init(&f, 0);
	data_filter_scan(&f, a, alen, note_end, &e, &used);
	if (blen > 0)
		data_filter_scan(&f, b, blen, note_end, &e, &used);
	return e.ends == 1 ? strcmp(e.last, ".\r\n") == 0 : -e.ends;
}

/* data_filter_is_end(): the end line, and only it, however the input is split. */
static void
test_is_end(void)
{
	CHECK(ends_in(S("a\r\n.\r\n"), S("")) == 1);
	CHECK(ends_in(S(".\r\n"), S("")) == 1);
	CHECK(ends_in(S("a\r\n."), S("\r\n")) == 1);
	CHECK(ends_in(S("a\r\n.\r"), S("\n")) == 1);
	CHECK(ends_in(S("a"), S(".\r\n")) == 0);		/* "a.\r\n": the same bytes, not the end */
	CHECK(ends_in(S("a\r\n..\r\n"), S("")) == 0);
	CHECK(ends_in(S("a\n.\r\nb"), S("")) == 0);	/* after a bare LF: stuffed, no end */
	CHECK(ends_in(S("a\r\n.\rb\r\n"), S("")) == 0);
}

/* ---- property checks over random inputs ---- */

static uint64_t rng_state = 0x5eed5eed12345678ULL;

static uint32_t
rng(void)
{
	/* xorshift64*: deterministic across platforms. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 32);
}

/*
 * An independent model of the filter, line by line: returns the output
 * for the complete lines of in[0..len), whether the end was reached and
 * where. A trailing unfinished line (or CR) is left out.
 */
static size_t
model(const char *in, size_t len, char *out, int *end, size_t *used, int *dirty)
{
	size_t i = 0, j, k, tl, o = 0;
	int prev_crlf = 1, crlf;

	*end = 0;
	*dirty = 0;
	while (i < len) {
		for (j = i; j < len && in[j] != '\r' && in[j] != '\n'; j++)
			;
		if (j == len)
			break;
		if (in[j] == '\r') {
			if (j + 1 == len)
				break;	/* CR or CRLF: not known yet */
			crlf = in[j + 1] == '\n';
		} else {
			crlf = 0;
		}
		tl = crlf ? 2 : 1;
		if (!crlf)
			*dirty = 1;
		if (j - i == 1 && in[i] == '.' && crlf && prev_crlf) {
			memcpy(out + o, ".\r\n", 3);
			*end = 1;
			*used = j + 2;
			return o + 3;
		}
		if (j > i && in[i] == '.' && (!prev_crlf || (j - i == 1 && !crlf)))
			out[o++] = '.';
		for (k = i; k < j; k++) {
			if (in[k] == '\0')
				*dirty = 1;
			out[o++] = in[k] == '\0' ? ' ' : in[k];
		}
		out[o++] = '\r';
		out[o++] = '\n';
		prev_crlf = crlf;
		i = j + tl;
	}
	for (k = i; k < len; k++)
		if (in[k] == '\0')
			*dirty = 1;
	*used = len;
	return o;
}

/* Bytes of p[0..n) hold a bare CR, a bare LF or a NUL. */
static int
has_bare(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\0')
			return 1;
		if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
			return 1;
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return 1;
	}
	return 0;
}

static const char *
find(const char *p, size_t n, const char *needle, size_t nl)
{
	size_t i;

	for (i = 0; i + nl <= n; i++)
		if (memcmp(p + i, needle, nl) == 0)
			return p + i;
	return NULL;
}

/*
 * 100000 random inputs, from single bytes of the alphabet (tokens = 0) or
 * from short tokens that make line ends and dot lines more likely.
 */
static void
test_random(int tokens)
{
	static const char alphabet[] = { '\r', '\n', '.', 'a', '\0' };
	static const char *const toks[] = { "\r\n", ".", "\r", "\n", "a", "\r\n.", ".\r\n" };
	int bad_bare = 0, bad_end = 0, bad_split = 0, bad_model = 0, bad_dirty = 0, shown = 0;
	int iter, nend = 0;

	for (iter = 0; iter < 100000; iter++) {
		char in[16], mout[64];
		size_t len = rng() % (sizeof(in) + 1), k, mlen, mused;
		struct run r;
		const char *first;
		int mend, mdirty, fail = 0;

		if (tokens) {
			for (k = 0; k < len;) {
				const char *t = toks[rng() % (sizeof(toks) / sizeof(toks[0]))];
				size_t tl = strlen(t) < len - k ? strlen(t) : len - k;
				memcpy(in + k, t, tl);
				k += tl;
			}
		} else {
			for (k = 0; k < len; k++)
				in[k] = alphabet[rng() % sizeof(alphabet)];
		}
		run_once(in, len, 0, &r);

		/* No bare CR, bare LF or NUL in the output (CR may be held at the very end). */
		if (has_bare(r.out, r.outlen) &&
		    !(r.res == DATA_MORE && r.outlen > 0 && r.out[r.outlen - 1] == '\r' && !has_bare(r.out, r.outlen - 1))) {
			bad_bare++;
			fail = 1;
		}
		/* The end line appears only at the real end. */
		first = find(r.out, r.outlen, "\r\n.\r\n", 5);
		if (r.res == DATA_END) {
			nend++;
			if (!((r.outlen == 3 && memcmp(r.out, ".\r\n", 3) == 0) ||
			        (r.outlen >= 5 && first == r.out + r.outlen - 5))) {
				bad_end++;
				fail = 1;
			}
		} else if (first != NULL || (r.outlen >= 3 && memcmp(r.out, ".\r\n", 3) == 0)) {
			bad_end++;
			fail = 1;
		}
		/* Split and byte-by-byte feeding agree with one-shot. */
		if (!splits_agree(in, len, 0)) {
			bad_split++;
			fail = 1;
		}
		/* dirty iff the consumed bytes hold a bare CR/LF or NUL (a trailing CR is undecided). */
		{
			size_t n = r.used;
			int want = has_bare(in, n);
			if (r.res == DATA_MORE && n > 0 && in[n - 1] == '\r')
				want = has_bare(in, n - 1);
			if (r.dirty != want) {
				bad_dirty++;
				fail = 1;
			}
		}
		/* The independent model: the end is the client's first CRLF "." CRLF. */
		mlen = model(in, len, mout, &mend, &mused, &mdirty);
		if (mend != (r.res == DATA_END) || (mend && mused != r.used) || r.outlen < mlen ||
		    memcmp(r.out, mout, mlen) != 0 || (mend && r.outlen != mlen)) {
			bad_model++;
			fail = 1;
		}
		if (fail && shown++ < 5) {
			fprintf(stderr, "  random input %d fails (res=%d used=%zu dirty=%d; model end=%d used=%zu)\n",
			    iter, r.res, r.used, r.dirty, mend, mused);
			print_bytes("input ", in, len);
			print_bytes("output", r.out, r.outlen);
			print_bytes("model ", mout, mlen);
		}
	}
	if (bad_bare || bad_end || bad_split || bad_dirty || bad_model)
		fprintf(stderr, "  random (%s): bare=%d end=%d split=%d dirty=%d model=%d (of 100000)\n", tokens ? "tokens" : "bytes", bad_bare,
		    bad_end, bad_split, bad_dirty, bad_model);
	CHECK(bad_bare == 0);
	CHECK(bad_end == 0);
	CHECK(bad_split == 0);
	CHECK(bad_dirty == 0);
	CHECK(bad_model == 0);
	printf("random (%s): %d of 100000 inputs reached the end\n", tokens ? "tokens" : "bytes", nend);
	CHECK(nend > 500);	/* the end is reached often enough to matter */
}

/*
 * buf_head() of a buffer that never held a byte computes NULL + 0, which
 * is undefined in C: clang's -fsanitize=undefined (pointer-overflow) aborts
 * here; gcc's does not flag it. Run last: under clang UBSan it ends the
 * program, after the summary.
 */
static void
test_empty_buf_head(void)
{
	struct buf b = { 0 };
	const char *volatile h = buf_head(&b);

	(void)h;
}

/*
 * The 64-byte block path against the byte-wise one: texts built so that a
 * CRLF, a "." line, a NUL, a bare LF or a long line falls at every offset
 * around block boundaries, each run with AVX2 (where the CPU has it), SSE2
 * and no vectors; the results must be identical.
 */
static void
test_vector_variants(void)
{
	static const char *const oddities[] = { "\r\n.", "\r\n..x", "\n", "\r", "\0", "\r\n\r\n", ".\r\n" };
	char in[700];
	struct run ref, r;
	size_t at, o, len, limit, i;
	int mode;

	for (o = 0; o < sizeof(oddities) / sizeof(oddities[0]) * 2; o++) {
		size_t lines = o % 2 ? 70 : 22;	/* one, or several, line ends per 64-byte block */
		for (at = 40; at < 200; at++) {
			for (len = 0; len < 400; len++)
				in[len] = (char)('a' + len % 26);
			for (i = lines; i < len; i += lines + 1) {	/* clean CRLF lines around it */
				in[i - 2] = '\r';
				in[i - 1] = '\n';
			}
			memcpy(in + at, oddities[o / 2], strlen(oddities[o / 2]) + (o / 2 == 4));
			memcpy(in + len, "\r\n.\r\n", 5);
			len += 5;
			for (limit = 0; limit < 3; limit++) {
				size_t max = limit == 0 ? 0 : limit == 1 ? 40 : 1000;
				data_filter_vectors(2);
				run_chunks(in, len, max, NULL, 0, &ref);
				for (mode = 1; mode >= 0; mode--) {
					data_filter_vectors(mode);
					run_chunks(in, len, max, NULL, 0, &r);
					CHECK(r.res == ref.res && r.used == ref.used && r.outlen == ref.outlen &&
					    memcmp(r.out, ref.out, r.outlen) == 0 && r.dirty == ref.dirty &&
					    r.too_long == ref.too_long);
				}
			}
		}
	}
	data_filter_vectors(0);
}

/* One message of clean 64-byte blocks through a fresh filter (a thread's body). */
static void *
filter_one(void *arg)
{
	char in[1024];
	struct run *r = arg;

	memset(in, 'x', sizeof(in) - 5);
	memcpy(in + sizeof(in) - 5, "\r\n.\r\n", 5);
	run_chunks(in, sizeof(in), 0, NULL, 0, r);
	return NULL;
}

/*
 * The first message of a process may reach two workers at once: choosing
 * the vector variant then must not race (the ThreadSanitizer build runs
 * this; it must be the process's first use of the filter).
 */
static void
test_first_use_threads(void)
{
	pthread_t t[2];
	struct run r[2];
	int i;

	for (i = 0; i < 2; i++)
		CHECK(pthread_create(&t[i], NULL, filter_one, &r[i]) == 0);
	for (i = 0; i < 2; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	for (i = 0; i < 2; i++)
		CHECK(r[i].res == DATA_END && r[i].used == 1024);
}

int
main(void)
{
	int rc;

	test_first_use_threads();	/* first: the variant is not chosen yet */

	test_end_detection();
	test_dot_stuffed();
	test_bare_lf();
	test_bare_cr();
	test_nul();
	test_end_after_stuffed_dot_line();
	test_max_line();
	test_init_resets();
	test_is_end();
	test_random(0);
	test_random(1);
	test_vector_variants();
	rc = check_done("test_dotstuff");
	fflush(stdout);
	test_empty_buf_head();	/* last: it aborts under clang UBSan */
	return rc;
}
