/* smtp.c - SMTP command and reply line parsing; see smtp.h. */
#include "smtp.h"

#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	enum smtp_verb verb;
} verbs[] = {
	{ "HELO", SMTP_HELO },
	{ "EHLO", SMTP_EHLO },
	{ "MAIL", SMTP_MAIL },
	{ "RCPT", SMTP_RCPT },
	{ "DATA", SMTP_DATA },
	{ "BDAT", SMTP_BDAT },
	{ "RSET", SMTP_RSET },
	{ "NOOP", SMTP_NOOP },
	{ "QUIT", SMTP_QUIT },
	{ "STARTTLS", SMTP_STARTTLS },
	{ "AUTH", SMTP_AUTH },
	{ "XCLIENT", SMTP_XCLIENT },
	{ "XFORWARD", SMTP_XFORWARD },
	{ "PROXY", SMTP_PROXY },
	{ "VRFY", SMTP_VRFY },
	{ "EXPN", SMTP_EXPN },
	{ "HELP", SMTP_HELP },
	{ "ETRN", SMTP_ETRN },
};

size_t
smtp_line_len(const char *p, size_t len, size_t *termlen)
{
	const char *lf = len > 0 ? memchr(p, '\n', len) : NULL;

	if (lf == NULL)
		return 0;
	*termlen = (lf > p && lf[-1] == '\r') ? 2 : 1;
	return (size_t)(lf - p) + 1;
}

int
smtp_word_eq(const char *p, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(p, word, n) == 0;
}

int
smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd)
{
	size_t vlen = 0, i;

	while (vlen < len && line[vlen] != ' ')
		vlen++;
	if (vlen == 0)
		return -1;
	cmd->verb = SMTP_OTHER;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (smtp_word_eq(line, vlen, verbs[i].name)) {
			cmd->verb = verbs[i].verb;
			break;
		}
	}
	while (vlen < len && line[vlen] == ' ')
		vlen++;
	cmd->args = line + vlen;
	cmd->argslen = len - vlen;
	while (cmd->argslen > 0 && cmd->args[cmd->argslen - 1] == ' ')
		cmd->argslen--;
	return 0;
}

const char *
smtp_verb_name(enum smtp_verb verb)
{
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].verb == verb)
			return verbs[i].name;
	return "OTHER";
}

int
smtp_line_has_ctl(const char *line, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			return 1;
	return 0;
}

int
smtp_reply_parse(const char *line, size_t len, struct smtp_reply_line *r)
{
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
	    line[2] < '0' || line[2] > '9')
		return -1;
	r->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (len == 3) {
		r->last = 1;
		r->text = line + 3;
		r->textlen = 0;
		return 0;
	}
	if (line[3] != ' ' && line[3] != '-')
		return -1;
	r->last = line[3] == ' ';
	r->text = line + 4;
	r->textlen = len - 4;
	return 0;
}

long
smtp_reply_len(const char *p, size_t len, size_t maxline, int *code)
{
	size_t off = 0, ll, tl;
	struct smtp_reply_line r;
	int first = 1;

	for (;;) {
		ll = smtp_line_len(p + off, len - off, &tl);
		if (ll == 0)
			return (len - off > maxline) ? -1 : 0;
		if (ll > maxline || smtp_reply_parse(p + off, ll - tl, &r) != 0)
			return -1;
		if (first)
			*code = r.code;
		else if (r.code != *code)
			return -1;
		first = 0;
		off += ll;
		if (r.last)
			return (long)off;
	}
}
