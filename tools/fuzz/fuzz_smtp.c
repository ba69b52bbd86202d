/*
 * fuzz_smtp.c - libFuzzer driver for proxy/smtp.c: every line of the input
 * through smtp_cmd_parse(), smtp_line_has_ctl() and smtp_reply_parse(), and
 * the whole input through smtp_reply_len() with several line limits.
 */
#include <string.h>

#include "fuzz_check.h"
#include "smtp.h"

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static void
check_line(const char *line, size_t len)
{
	struct smtp_cmd cmd;
	struct smtp_reply_line r;
	size_t vlen;
	int rc;

	/* Commands. */
	rc = smtp_cmd_parse(line, len, &cmd);
	FUZZ_CHECK((rc == -1) == (len == 0 || line[0] == ' '));
	if (rc == 0) {
		FUZZ_CHECK(cmd.args >= line && cmd.args <= line + len);
		FUZZ_CHECK(cmd.argslen <= (size_t)(line + len - cmd.args));
		FUZZ_CHECK(cmd.argslen == 0 || (cmd.args[0] != ' ' && cmd.args[cmd.argslen - 1] != ' '));
		for (vlen = 0; vlen < len && line[vlen] != ' '; vlen++)
			;
		/* The verb is the first word, and only a known word makes a known verb. */
		if (cmd.verb != SMTP_OTHER)
			FUZZ_CHECK(smtp_word_eq(line, vlen, smtp_verb_name(cmd.verb)));
		else
			FUZZ_CHECK(strcmp(smtp_verb_name(cmd.verb), "OTHER") == 0);
		/* The args start after the verb and its spaces. */
		FUZZ_CHECK(cmd.args >= line + vlen);
		for (const char *q = line + vlen; q < cmd.args; q++)
			FUZZ_CHECK(*q == ' ');
	}

	/* Control bytes: any of 0x00-0x1f or 0x7f. */
	{
		int ctl = 0;
		for (size_t k = 0; k < len; k++)
			ctl |= (unsigned char)line[k] < 0x20 || line[k] == 0x7f;
		FUZZ_CHECK(smtp_line_has_ctl(line, len) == ctl);
	}

	/* Replies. */
	rc = smtp_reply_parse(line, len, &r);
	if (rc == 0) {
		FUZZ_CHECK(len >= 3 && line[0] >= '2' && line[0] <= '5' && is_digit(line[1]) && is_digit(line[2]));
		FUZZ_CHECK(r.code == (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0'));
		FUZZ_CHECK(r.code >= 200 && r.code <= 599);
		FUZZ_CHECK(len == 3 || line[3] == ' ' || line[3] == '-');
		FUZZ_CHECK(r.last == (len == 3 || line[3] == ' '));
		FUZZ_CHECK(r.text == line + (len == 3 ? 3 : 4));
		FUZZ_CHECK(r.text + r.textlen == line + len);
	} else {
		FUZZ_CHECK(rc == -1);
		FUZZ_CHECK(len < 3 || line[0] < '2' || line[0] > '5' || !is_digit(line[1]) || !is_digit(line[2]) ||
		    (len > 3 && line[3] != ' ' && line[3] != '-'));
	}
}

/* Check smtp_reply_len() against a line-by-line reading of p[0..len). */
static void
check_reply_len(const char *p, size_t len, size_t maxline)
{
	struct smtp_reply_line r;
	size_t off = 0, ll, tl;
	long n, want = 0;
	int code = -1, first_code = 0, first = 1;

	/* The reference: walk the lines until the final one or an error. */
	for (;;) {
		ll = smtp_line_len(p + off, len - off, &tl);
		if (ll == 0) {
			want = len - off > maxline ? -1 : 0;
			break;
		}
		if (ll > maxline || smtp_reply_parse(p + off, ll - tl, &r) != 0 ||
		    (!first && r.code != first_code)) {
			want = -1;
			break;
		}
		if (first)
			first_code = r.code;
		first = 0;
		off += ll;
		if (r.last) {
			want = (long)off;
			break;
		}
	}
	n = smtp_reply_len(p, len, maxline, &code);
	FUZZ_CHECK(n == want);
	if (n > 0) {
		FUZZ_CHECK(code == first_code);
		FUZZ_CHECK(p[n - 1] == '\n');
		/* The same reply is found without the bytes after it. */
		code = -1;
		FUZZ_CHECK(smtp_reply_len(p, (size_t)n, maxline, &code) == n && code == first_code);
		/* And a byte short of it, it is incomplete (or over the limit). */
		FUZZ_CHECK(smtp_reply_len(p, (size_t)n - 1, maxline, &code) <= 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	size_t off = 0, ll, tl;

	while (off < size) {
		tl = 99;
		ll = smtp_line_len(p + off, size - off, &tl);
		if (ll == 0) {
			FUZZ_CHECK(memchr(p + off, '\n', size - off) == NULL);
			check_line(p + off, size - off);	/* the unfinished rest, as a line */
			break;
		}
		FUZZ_CHECK(ll <= size - off && p[off + ll - 1] == '\n');
		FUZZ_CHECK(memchr(p + off, '\n', ll - 1) == NULL);
		FUZZ_CHECK(tl == ((ll >= 2 && p[off + ll - 2] == '\r') ? 2u : 1u));
		check_line(p + off, ll - tl);
		off += ll;
	}
	check_reply_len(p, size, size);
	check_reply_len(p, size, 16);
	check_reply_len(p, size, 512);
	check_reply_len(p, size, 1);
	return 0;
}
