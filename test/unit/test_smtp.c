/* test_smtp.c - unit tests for proxy/smtp.c (line, command and reply parsing). */
#include <string.h>

#include "check.h"
#include "smtp.h"

/* String literal helpers: pointer and length without the NUL. */
#define S(lit) (lit), (sizeof(lit) - 1)

static void
test_line_len(void)
{
	size_t tl = 99;

	CHECK(smtp_line_len(S("HELO x\r\n"), &tl) == 8);
	CHECK(tl == 2);
	tl = 99;
	CHECK(smtp_line_len(S("HELO x\n"), &tl) == 7);
	CHECK(tl == 1);
	tl = 99;
	CHECK(smtp_line_len(S("HELO x"), &tl) == 0);
	CHECK(tl == 99);	/* untouched when there is no line */
	CHECK(smtp_line_len(S("HELO x\r"), &tl) == 0);
	CHECK(smtp_line_len("", 0, &tl) == 0);
	/* Only the first line counts. */
	CHECK(smtp_line_len(S("a\r\nb\r\n"), &tl) == 3);
	CHECK(tl == 2);
	CHECK(smtp_line_len(S("a\nb\r\n"), &tl) == 2);
	CHECK(tl == 1);
	/* An empty line. */
	CHECK(smtp_line_len(S("\r\n"), &tl) == 2);
	CHECK(tl == 2);
	CHECK(smtp_line_len(S("\n"), &tl) == 1);
	CHECK(tl == 1);
	/* A CR elsewhere in the line does not make a CRLF. */
	CHECK(smtp_line_len(S("a\rb\n"), &tl) == 4);
	CHECK(tl == 1);
	CHECK(smtp_line_len(S("\r\r\n"), &tl) == 3);
	CHECK(tl == 2);
	/* len bounds the search: an LF past len is not seen. */
	CHECK(smtp_line_len("abc\n", 3, &tl) == 0);
	/* NUL bytes do not stop the search. */
	CHECK(smtp_line_len("a\0b\r\n", 5, &tl) == 5);
	CHECK(tl == 2);
}

static void
test_cmd_parse(void)
{
	struct smtp_cmd c;
	static const struct {
		const char *line;
		enum smtp_verb verb;
	} verbs[] = {
		{ "HELO", SMTP_HELO }, { "EHLO", SMTP_EHLO }, { "MAIL", SMTP_MAIL }, { "RCPT", SMTP_RCPT },
		{ "DATA", SMTP_DATA }, { "BDAT", SMTP_BDAT }, { "RSET", SMTP_RSET }, { "NOOP", SMTP_NOOP },
		{ "QUIT", SMTP_QUIT }, { "STARTTLS", SMTP_STARTTLS }, { "AUTH", SMTP_AUTH },
		{ "XCLIENT", SMTP_XCLIENT }, { "XFORWARD", SMTP_XFORWARD }, { "PROXY", SMTP_PROXY },
		{ "ehlo", SMTP_EHLO }, { "eHlO", SMTP_EHLO }, { "starttls", SMTP_STARTTLS },
		{ "StartTls", SMTP_STARTTLS }, { "quit", SMTP_QUIT }, { "xclient", SMTP_XCLIENT },
		{ "VRFY", SMTP_VRFY }, { "EXPN", SMTP_EXPN }, { "HELP", SMTP_HELP }, { "etrn", SMTP_ETRN },
		/* Verbs as prefixes or with extra letters are something else. */
		{ "EHLOX", SMTP_OTHER }, { "EHL", SMTP_OTHER }, { "STARTTLSX", SMTP_OTHER },
		{ "STARTTL", SMTP_OTHER }, { "MAILFROM:<a>", SMTP_OTHER }, { "DATAX", SMTP_OTHER },
		{ "QUITQUIT", SMTP_OTHER }, { "HELO\t", SMTP_OTHER }, { "X", SMTP_OTHER },
	};
	size_t i;

	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		memset(&c, 0xff, sizeof(c));
		CHECK(smtp_cmd_parse(verbs[i].line, strlen(verbs[i].line), &c) == 0);
		CHECK(c.verb == verbs[i].verb || (fprintf(stderr, "  line [%s] verb %d\n", verbs[i].line, c.verb), 0));
		CHECK(c.argslen == 0);
		CHECK(c.args == verbs[i].line + strlen(verbs[i].line));
	}

	CHECK(smtp_cmd_parse(S("MAIL FROM:<a>"), &c) == 0);
	CHECK(c.verb == SMTP_MAIL);
	CHECK(memcmp(c.args, "FROM:<a>", 8) == 0);
	CHECK(c.argslen == strlen("FROM:<a>"));

	CHECK(smtp_cmd_parse(S("mail from:<a@b.example> SIZE=100"), &c) == 0);
	CHECK(c.verb == SMTP_MAIL);
	CHECK(c.argslen == strlen("from:<a@b.example> SIZE=100"));
	CHECK(memcmp(c.args, "from:<a@b.example> SIZE=100", c.argslen) == 0);

	/* Several separating spaces are skipped, trailing spaces removed. */
	{
		static const char line[] = "RCPT    TO:<b>   ";
		CHECK(smtp_cmd_parse(S(line), &c) == 0);
		CHECK(c.verb == SMTP_RCPT);
		CHECK(c.args == line + 8);
		CHECK(c.argslen == 6 && memcmp(c.args, "TO:<b>", 6) == 0);
	}

	/* "STARTTLS " with trailing spaces is still STARTTLS, no args. */
	CHECK(smtp_cmd_parse(S("STARTTLS "), &c) == 0);
	CHECK(c.verb == SMTP_STARTTLS);
	CHECK(c.argslen == 0);
	CHECK(smtp_cmd_parse(S("STARTTLS    "), &c) == 0);
	CHECK(c.verb == SMTP_STARTTLS);
	CHECK(c.argslen == 0);
	CHECK(smtp_cmd_parse(S("starttls x"), &c) == 0);
	CHECK(c.verb == SMTP_STARTTLS);
	CHECK(c.argslen == 1 && c.args[0] == 'x');

	/* Internal spaces in the arguments are kept. */
	CHECK(smtp_cmd_parse(S("AUTH PLAIN  dGVzdA== "), &c) == 0);
	CHECK(c.verb == SMTP_AUTH);
	CHECK(c.argslen == strlen("PLAIN  dGVzdA=="));

	/* The line is not required to be NUL-terminated: len bounds it. */
	CHECK(smtp_cmd_parse("QUITXYZ", 4, &c) == 0);
	CHECK(c.verb == SMTP_QUIT);
	CHECK(c.argslen == 0);
	CHECK(smtp_cmd_parse("EHLO host.example", 4, &c) == 0);
	CHECK(c.verb == SMTP_EHLO && c.argslen == 0);

	/* Empty line (or a leading space: no verb) is an error. */
	CHECK(smtp_cmd_parse("", 0, &c) == -1);
	CHECK(smtp_cmd_parse(S(" "), &c) == -1);
	CHECK(smtp_cmd_parse(S(" EHLO x"), &c) == -1);
	CHECK(smtp_cmd_parse(S("   "), &c) == -1);

	/* Verb names for logs. */
	CHECK_STR(smtp_verb_name(SMTP_EHLO), "EHLO");
	CHECK_STR(smtp_verb_name(SMTP_STARTTLS), "STARTTLS");
	CHECK_STR(smtp_verb_name(SMTP_PROXY), "PROXY");
	CHECK_STR(smtp_verb_name(SMTP_OTHER), "OTHER");

	/* smtp_word_eq */
	CHECK(smtp_word_eq(S("starttls"), "STARTTLS") == 1);
	CHECK(smtp_word_eq(S("STARTTLS"), "STARTTLS") == 1);
	CHECK(smtp_word_eq(S("STARTTL"), "STARTTLS") == 0);
	CHECK(smtp_word_eq(S("STARTTLSX"), "STARTTLS") == 0);
	CHECK(smtp_word_eq("", 0, "") == 1);
	CHECK(smtp_word_eq("", 0, "A") == 0);
}

static void
test_has_ctl(void)
{
	CHECK(smtp_line_has_ctl(S("MAIL FROM:<a>")) == 0);
	CHECK(smtp_line_has_ctl("", 0) == 0);
	CHECK(smtp_line_has_ctl(S("MAIL\rFROM")) == 1);
	CHECK(smtp_line_has_ctl(S("MAIL\nFROM")) == 1);
	CHECK(smtp_line_has_ctl("MAIL\0FROM", 9) == 1);
	CHECK(smtp_line_has_ctl(S("\r")) == 1);
	CHECK(smtp_line_has_ctl(S("x\n")) == 1);
	CHECK(smtp_line_has_ctl("\0", 1) == 1);
	/* Tabs and every other control byte are refused too ("XCLIENT\tADDR=" tricks). */
	CHECK(smtp_line_has_ctl(S("a\tb")) == 1);
	CHECK(smtp_line_has_ctl(S("a\x01")) == 1);
	CHECK(smtp_line_has_ctl(S("a\x7f")) == 1);
	CHECK(smtp_line_has_ctl(S("MAIL FROM:<a@b> SIZE=1 ~!")) == 0);
	/* Only len bytes are looked at. */
	CHECK(smtp_line_has_ctl("abc\r\n", 3) == 0);
	CHECK(smtp_line_has_ctl("abc\0", 3) == 0);
}

static void
test_reply_parse(void)
{
	struct smtp_reply_line r;

	memset(&r, 0, sizeof(r));
	CHECK(smtp_reply_parse(S("250-x"), &r) == 0);
	CHECK(r.code == 250 && r.last == 0 && r.textlen == 1 && r.text[0] == 'x');

	CHECK(smtp_reply_parse(S("250 x"), &r) == 0);
	CHECK(r.code == 250 && r.last == 1 && r.textlen == 1 && r.text[0] == 'x');

	CHECK(smtp_reply_parse(S("250"), &r) == 0);
	CHECK(r.code == 250 && r.last == 1 && r.textlen == 0);

	CHECK(smtp_reply_parse(S("250 "), &r) == 0);
	CHECK(r.code == 250 && r.last == 1 && r.textlen == 0);
	CHECK(smtp_reply_parse(S("250-"), &r) == 0);
	CHECK(r.code == 250 && r.last == 0 && r.textlen == 0);

	CHECK(smtp_reply_parse(S("354 End data with <CR><LF>.<CR><LF>"), &r) == 0);
	CHECK(r.code == 354 && r.last == 1);
	CHECK(r.textlen == strlen("End data with <CR><LF>.<CR><LF>"));
	CHECK(smtp_reply_parse(S("200 ok"), &r) == 0 && r.code == 200);
	CHECK(smtp_reply_parse(S("599 x"), &r) == 0 && r.code == 599);
	CHECK(smtp_reply_parse(S("421-4.3.0 bye"), &r) == 0 && r.code == 421 && !r.last);
	/* Text may contain anything, including spaces. */
	CHECK(smtp_reply_parse(S("250  two  spaces "), &r) == 0);
	CHECK(r.textlen == strlen(" two  spaces "));

	/* Malformed. */
	CHECK(smtp_reply_parse(S("25"), &r) == -1);
	CHECK(smtp_reply_parse(S("2"), &r) == -1);
	CHECK(smtp_reply_parse("", 0, &r) == -1);
	CHECK(smtp_reply_parse(S("650 x"), &r) == -1);
	CHECK(smtp_reply_parse(S("150 x"), &r) == -1);
	CHECK(smtp_reply_parse(S("050 x"), &r) == -1);
	CHECK(smtp_reply_parse(S("250x"), &r) == -1);
	CHECK(smtp_reply_parse(S("2500"), &r) == -1);
	CHECK(smtp_reply_parse(S("250\tx"), &r) == -1);
	CHECK(smtp_reply_parse(S("2a0 x"), &r) == -1);
	CHECK(smtp_reply_parse(S("25a x"), &r) == -1);
	CHECK(smtp_reply_parse(S(" 250 x"), &r) == -1);
	CHECK(smtp_reply_parse(S("abc"), &r) == -1);
	CHECK(smtp_reply_parse(S("25:"), &r) == -1);
	CHECK(smtp_reply_parse(S("2/0"), &r) == -1);
	/* len bounds the line. */
	CHECK(smtp_reply_parse("250 x", 2, &r) == -1);
	CHECK(smtp_reply_parse("250x", 3, &r) == 0 && r.code == 250 && r.last == 1);
}

static void
test_reply_len(void)
{
	int code = 0;

	/* Single line. */
	CHECK(smtp_reply_len(S("250 ok\r\n"), 512, &code) == 8);
	CHECK(code == 250);
	CHECK(smtp_reply_len(S("354 go\r\n"), 512, &code) == 8);
	CHECK(code == 354);
	CHECK(smtp_reply_len(S("250\r\n"), 512, &code) == 5);
	CHECK(code == 250);
	/* Bytes after the reply are not part of it. */
	CHECK(smtp_reply_len(S("250 ok\r\n221 bye\r\n"), 512, &code) == 8);
	CHECK(code == 250);
	CHECK(smtp_reply_len(S("250 ok\r\ngarbage"), 512, &code) == 8);

	/* Multi-line. */
	{
		static const char r[] = "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n";
		CHECK(smtp_reply_len(S(r), 512, &code) == (long)strlen(r));
		CHECK(code == 250);
		/* Every proper prefix is incomplete. */
		for (size_t i = 0; i < strlen(r); i++) {
			code = 0;
			CHECK(smtp_reply_len(r, i, 512, &code) == 0 ||
			    (fprintf(stderr, "  prefix %zu\n", i), 0));
		}
	}
	CHECK(smtp_reply_len(S("250-a\r\n250-b\r\n250\r\n"), 512, &code) == 19);

	/* Incomplete. */
	CHECK(smtp_reply_len("", 0, 512, &code) == 0);
	CHECK(smtp_reply_len(S("250 ok"), 512, &code) == 0);
	CHECK(smtp_reply_len(S("250 ok\r"), 512, &code) == 0);
	CHECK(smtp_reply_len(S("250-a\r\n"), 512, &code) == 0);
	CHECK(smtp_reply_len(S("250-a\r\n250-b\r\n25"), 512, &code) == 0);

	/* Mismatched codes. */
	CHECK(smtp_reply_len(S("250-a\r\n251 b\r\n"), 512, &code) == -1);
	CHECK(smtp_reply_len(S("250-a\r\n250-b\r\n550 c\r\n"), 512, &code) == -1);
	/* Malformed lines. */
	CHECK(smtp_reply_len(S("250x\r\n"), 512, &code) == -1);
	CHECK(smtp_reply_len(S("hello\r\n"), 512, &code) == -1);
	CHECK(smtp_reply_len(S("\r\n"), 512, &code) == -1);
	CHECK(smtp_reply_len(S("250-a\r\n\r\n"), 512, &code) == -1);
	CHECK(smtp_reply_len(S("650 x\r\n"), 512, &code) == -1);
	CHECK(smtp_reply_len(S("250-a\r\nxyz\r\n"), 512, &code) == -1);

	/* Over maxline: a complete line longer than maxline. */
	CHECK(smtp_reply_len(S("250 0123456789\r\n"), 16, &code) == 16);
	CHECK(smtp_reply_len(S("250 0123456789\r\n"), 15, &code) == -1);
	CHECK(smtp_reply_len(S("250-a\r\n250 0123456789\r\n"), 15, &code) == -1);
	/* ... and an unfinished line already longer than maxline. */
	CHECK(smtp_reply_len(S("250 0123456789abcdef"), 16, &code) == -1);
	CHECK(smtp_reply_len(S("250 0123456789ab"), 16, &code) == 0);
	CHECK(smtp_reply_len(S("250 0123456789abc"), 16, &code) == -1);
	CHECK(smtp_reply_len(S("250-a\r\n250 0123456789abcdef"), 16, &code) == -1);

	/* Bare LF line endings are accepted. */
	CHECK(smtp_reply_len(S("250 ok\n"), 512, &code) == 7);
	CHECK(code == 250);
	CHECK(smtp_reply_len(S("250-a\n250-b\r\n250 c\n"), 512, &code) == 19);
	CHECK(smtp_reply_len(S("250-a\n250-b\n"), 512, &code) == 0);
	CHECK(smtp_reply_len(S("250-a\n251 b\n"), 512, &code) == -1);
}

int
main(void)
{
	test_line_len();
	test_cmd_parse();
	test_has_ctl();
	test_reply_parse();
	test_reply_len();
	return check_done("test_smtp");
}
