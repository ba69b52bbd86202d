/* ehlo.c - EHLO reply rewriting; see ehlo.h. */
#include "ehlo.h"

#include <string.h>

#include "smtp.h"

/* Keywords dropped from every EHLO reply starttlsd relays. */
static const char *const always_hidden[] = { "STARTTLS", "CHUNKING", "BINARYMIME", NULL };

/* Length of the EHLO keyword at the start of text ("AUTH=LOGIN" -> "AUTH"). */
static size_t
keyword_len(const char *text, size_t len)
{
	size_t n = 0;

	while (n < len && text[n] != ' ' && text[n] != '=')
		n++;
	return n;
}

static int
in_list(const char *kw, size_t n, const char *const *list)
{
	for (; list != NULL && *list != NULL; list++)
		if (smtp_word_eq(kw, n, *list))
			return 1;
	return 0;
}

/* Append one reply line "code" "sep" text CRLF. */
static int
put_line(struct buf *out, int code, int last, const char *text, size_t textlen)
{
	char head[4] = { (char)('0' + code / 100), (char)('0' + code / 10 % 10),
		(char)('0' + code % 10), last ? ' ' : '-' };

	if (buf_append(out, head, 4) || buf_append(out, text, textlen) || buf_append(out, "\r\n", 2))
		return -1;
	return 0;
}

int
ehlo_rewrite(const char *reply, size_t len, const struct ehlo_opts *opts, struct buf *out)
{
	struct smtp_reply_line r;
	size_t off = 0, ll, tl, kwl, nkept = 0;
	const char *pend = NULL;	/* a kept line not yet written */
	const char *extra[2];
	size_t pendlen = 0, nextra = 0, i;
	int code = 0, have_pipelining = 0;

	while (off < len) {
		if ((ll = smtp_line_len(reply + off, len - off, &tl)) == 0)
			return -1;
		if (smtp_reply_parse(reply + off, ll - tl, &r) != 0)
			return -1;
		if (off == 0 && r.code != 250)
			return buf_append(out, reply, len);
		if (r.code != 250 || r.last != (off + ll == len))
			return -1;	/* codes differ, or the final line is not last */
		code = r.code;
		off += ll;
		if (nkept > 0) {	/* never drop the first (domain) line */
			kwl = keyword_len(r.text, r.textlen);
			if (in_list(r.text, kwl, always_hidden) || in_list(r.text, kwl, opts->hide))
				continue;
			have_pipelining |= smtp_word_eq(r.text, kwl, "PIPELINING");
		}
		/* Write the previous kept line now that we know it is not last. */
		if (pend != NULL && put_line(out, code, 0, pend, pendlen))
			return -1;
		pend = r.text;
		pendlen = r.textlen;
		nkept++;
	}
	if (pend == NULL)
		return -1;
	if (opts->add_pipelining && !have_pipelining)
		extra[nextra++] = "PIPELINING";
	if (opts->add_starttls)
		extra[nextra++] = "STARTTLS";
	if (put_line(out, code, nextra == 0, pend, pendlen))
		return -1;
	for (i = 0; i < nextra; i++)
		if (put_line(out, code, i + 1 == nextra, extra[i], strlen(extra[i])))
			return -1;
	return 0;
}

int
ehlo_emulate(const char *hostname, int add_starttls, struct buf *out)
{
	if (put_line(out, 250, 0, hostname, strlen(hostname)) || put_line(out, 250, !add_starttls, "PIPELINING", 10))
		return -1;
	return add_starttls ? put_line(out, 250, 1, "STARTTLS", 8) : 0;
}

int
ehlo_has(const char *reply, size_t len, const char *keyword)
{
	struct smtp_reply_line r;
	size_t off = 0, ll, tl;
	int first = 1;

	while (off < len && (ll = smtp_line_len(reply + off, len - off, &tl)) != 0) {
		if (smtp_reply_parse(reply + off, ll - tl, &r) != 0)
			return 0;
		off += ll;
		if (!first && smtp_word_eq(r.text, keyword_len(r.text, r.textlen), keyword))
			return 1;
		first = 0;
	}
	return 0;
}
