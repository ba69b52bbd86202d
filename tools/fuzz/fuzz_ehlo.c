/*
 * fuzz_ehlo.c - libFuzzer driver for proxy/ehlo.c: ehlo_rewrite() on the
 * input with three option sets. A 250 reply is rewritten if and only if it
 * is one well-formed reply (smtp_reply_len() spans the input). Whenever it succeeds on a 250 reply, the
 * output must be one well-formed reply (per smtp_reply_len()) spanning the
 * whole output, with exactly one STARTTLS line when asked for (the last
 * one) and none otherwise, and no CHUNKING, BINARYMIME or hidden keyword.
 * A non-250 reply must come out unchanged.
 */
#include <string.h>

#include "ehlo.h"
#include "fuzz_check.h"
#include "smtp.h"

static const char *const hide[] = { "XCLIENT", "AUTH", NULL };

/* Count the lines after the first whose keyword (up to ' ' or '=') is word. */
static int
count_keyword(const char *p, size_t len, const char *word, int *last_is)
{
	struct smtp_reply_line r;
	size_t off = 0, ll, tl, kl;
	int n = 0, lineno = 0;

	*last_is = 0;
	while (off < len && (ll = smtp_line_len(p + off, len - off, &tl)) != 0) {
		FUZZ_CHECK(smtp_reply_parse(p + off, ll - tl, &r) == 0);
		for (kl = 0; kl < r.textlen && r.text[kl] != ' ' && r.text[kl] != '='; kl++)
			;
		*last_is = lineno > 0 && smtp_word_eq(r.text, kl, word);
		n += *last_is;
		off += ll;
		lineno++;
	}
	return n;
}

static void
run(const char *in, size_t len, int add_starttls, const char *const *hidelist)
{
	struct ehlo_opts o = { .add_starttls = add_starttls, .add_pipelining = add_starttls && hidelist == NULL, .hide = hidelist };
	struct buf out = { 0 };
	struct smtp_reply_line first;
	size_t ll, tl;
	int rc, code = 0, last;
	long n;

	rc = ehlo_rewrite(in, len, &o, &out);
	FUZZ_CHECK(rc == 0 || rc == -1);
	ll = smtp_line_len(in, len, &tl);
	/* A well-formed 250 reply is always rewritten; a malformed one never. */
	if (ll != 0 && smtp_reply_parse(in, ll - tl, &first) == 0 && first.code == 250) {
		int well_formed = smtp_reply_len(in, len, (size_t)-1, &code) == (long)len;
		if (well_formed != (rc == 0)) {
			fprintf(stderr, "ehlo_rewrite returned %d on a %s reply\n", rc,
			    well_formed ? "well-formed" : "malformed");
			FUZZ_CHECK(!"ehlo_rewrite() refuses exactly the malformed replies");
		}
	}
	if (rc == 0) {
		/* Something was parsed: at least one line, the first a reply line. */
		FUZZ_CHECK(ll != 0 && smtp_reply_parse(in, ll - tl, &first) == 0);
		if (first.code != 250) {
			FUZZ_CHECK(buf_pending(&out) == len && memcmp(buf_head(&out), in, len) == 0);
		} else {
			const char *p = buf_head(&out);
			size_t plen = buf_pending(&out);

			n = smtp_reply_len(p, plen, (size_t)-1, &code);
			if (n != (long)plen) {
				fprintf(stderr, "ehlo_rewrite output is not one well-formed reply (smtp_reply_len %ld of %zu)\n",
				    n, plen);
				FUZZ_CHECK(n == (long)plen);
			}
			FUZZ_CHECK(plen >= 2 && p[plen - 2] == '\r' && p[plen - 1] == '\n');
			FUZZ_CHECK(count_keyword(p, plen, "STARTTLS", &last) == (add_starttls ? 1 : 0));
			if (add_starttls)
				FUZZ_CHECK(last && plen >= 14 && memcmp(p + plen - 11, " STARTTLS\r\n", 11) == 0);
			FUZZ_CHECK(count_keyword(p, plen, "CHUNKING", &last) == 0);
			FUZZ_CHECK(count_keyword(p, plen, "BINARYMIME", &last) == 0);
			for (const char *const *h = hidelist; h != NULL && *h != NULL; h++)
				FUZZ_CHECK(count_keyword(p, plen, *h, &last) == 0);
			FUZZ_CHECK(ehlo_has(p, plen, "STARTTLS") == add_starttls);
			FUZZ_CHECK(ehlo_has(p, plen, "CHUNKING") == 0);
			/* The first (domain) line is kept as it was. */
			FUZZ_CHECK(plen >= 4 + first.textlen + 2 && memcmp(p, "250", 3) == 0 &&
			    memcmp(p + 4, first.text, first.textlen) == 0);
		}
	} else if (ll != 0 && smtp_reply_parse(in, ll - tl, &first) == 0 && first.code != 250) {
		FUZZ_CHECK(!"a non-250 reply is copied, not refused");
	}
	buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;

	run(in, size, 1, hide);
	run(in, size, 0, NULL);
	run(in, size, 1, NULL);
	ehlo_has(in, size, "STARTTLS");
	return 0;
}
