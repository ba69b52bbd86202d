/* test_ehlo.c - unit tests for proxy/ehlo.c (EHLO reply rewriting). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "check.h"
#include "ehlo.h"
#include "smtp.h"

static const char *const hide_xclient[] = { "XCLIENT", "AUTH", NULL };

/*
 * Run ehlo_rewrite on reply and return its result; the output is stored
 * NUL-terminated in got (at most gotlen-1 bytes).
 */
static int
rewrite(const char *reply, int add_starttls, const char *const *hide, char *got, size_t gotlen)
{
	struct ehlo_opts o = { .add_starttls = add_starttls, .hide = hide };
	struct buf out = { 0 };
	int rc = ehlo_rewrite(reply, strlen(reply), &o, &out);
	size_t n = buf_pending(&out) < gotlen - 1 ? buf_pending(&out) : gotlen - 1;

	if (n)
		memcpy(got, buf_head(&out), n);
	got[n] = '\0';
	buf_free(&out);
	return rc;
}

/* The rewritten reply must equal want, and be a well-formed reply. */
static void
expect(int line, const char *reply, int add_starttls, const char *const *hide, const char *want)
{
	char got[4096];
	int rc = rewrite(reply, add_starttls, hide, got, sizeof(got));
	int code = 0;

	if (rc != 0 || strcmp(got, want) != 0)
		fprintf(stderr, "test_ehlo.c:%d: rewrite mismatch (rc=%d)\n", line, rc);
	CHECK(rc == 0);
	CHECK_STR(got, want);
	CHECK(smtp_reply_len(got, strlen(got), 4096, &code) == (long)strlen(got));
}

static int
count_lines_with(const char *s, const char *word)
{
	int n = 0;
	size_t wl = strlen(word);

	while (*s) {
		const char *eol = strchr(s, '\n');
		size_t ll = eol ? (size_t)(eol - s) + 1 : strlen(s);
		if (ll >= 4 + wl && strncasecmp(s + 4, word, wl) == 0 &&
		    (ll == 4 + wl || s[4 + wl] == '\r' || s[4 + wl] == ' ' || s[4 + wl] == '='))
			n++;
		s += ll;
	}
	return n;
}

static void
test_rewrite(void)
{
	char got[4096];
	struct buf out = { 0 };
	struct ehlo_opts o = { .add_starttls = 1 };

	/* STARTTLS is added at the end, markers recomputed. */
	expect(__LINE__, "250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n", 1, NULL,
	    "250-mx.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 STARTTLS\r\n");
	/* Without add_starttls the reply passes (normalised to CRLF). */
	expect(__LINE__, "250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n", 0, NULL,
	    "250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n");

	/* Single-line reply. */
	expect(__LINE__, "250 mx.example\r\n", 1, NULL, "250-mx.example\r\n250 STARTTLS\r\n");
	expect(__LINE__, "250 mx.example\r\n", 0, NULL, "250 mx.example\r\n");
	expect(__LINE__, "250 mx.example Hello client [192.0.2.1]\r\n", 1, NULL,
	    "250-mx.example Hello client [192.0.2.1]\r\n250 STARTTLS\r\n");
	/* "250" with no text at all. */
	expect(__LINE__, "250\r\n", 1, NULL, "250-\r\n250 STARTTLS\r\n");

	/* The backend's own STARTTLS is removed, in any case and position. */
	expect(__LINE__, "250-mx\r\n250-STARTTLS\r\n250 SIZE 100\r\n", 1, NULL,
	    "250-mx\r\n250-SIZE 100\r\n250 STARTTLS\r\n");
	expect(__LINE__, "250-mx\r\n250-SIZE 100\r\n250 STARTTLS\r\n", 1, NULL,
	    "250-mx\r\n250-SIZE 100\r\n250 STARTTLS\r\n");
	expect(__LINE__, "250-mx\r\n250-SIZE 100\r\n250 STARTTLS\r\n", 0, NULL, "250-mx\r\n250 SIZE 100\r\n");
	expect(__LINE__, "250-mx\r\n250-starttls\r\n250-StartTLS\r\n250 SIZE 100\r\n", 0, NULL,
	    "250-mx\r\n250 SIZE 100\r\n");
	expect(__LINE__, "250-mx\r\n250 starttls\r\n", 1, NULL, "250-mx\r\n250 STARTTLS\r\n");
	/* ... but not a keyword that merely begins with STARTTLS. */
	expect(__LINE__, "250-mx\r\n250 STARTTLSX\r\n", 1, NULL, "250-mx\r\n250-STARTTLSX\r\n250 STARTTLS\r\n");
	/* A keyword with parameters after a space is still the keyword. */
	expect(__LINE__, "250-mx\r\n250-STARTTLS REQUIRED\r\n250 HELP\r\n", 0, NULL, "250-mx\r\n250 HELP\r\n");

	/* CHUNKING and BINARYMIME are always hidden. */
	expect(__LINE__,
	    "250-mx\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-BINARYMIME\r\n250-chunking\r\n250 SMTPUTF8\r\n", 1, NULL,
	    "250-mx\r\n250-PIPELINING\r\n250-SMTPUTF8\r\n250 STARTTLS\r\n");
	expect(__LINE__, "250-mx\r\n250-8BITMIME\r\n250 CHUNKING\r\n", 0, NULL, "250-mx\r\n250 8BITMIME\r\n");
	/* Everything after the domain hidden. */
	expect(__LINE__, "250-mx\r\n250-CHUNKING\r\n250 STARTTLS\r\n", 0, NULL, "250 mx\r\n");
	expect(__LINE__, "250-mx\r\n250-CHUNKING\r\n250 STARTTLS\r\n", 1, NULL, "250-mx\r\n250 STARTTLS\r\n");

	/* The hide list: XCLIENT, and AUTH in both "AUTH x" and "AUTH=x" forms. */
	expect(__LINE__,
	    "250-mx\r\n250-XCLIENT NAME ADDR\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=LOGIN\r\n250-auth=plain\r\n"
	    "250-XFORWARD NAME\r\n250 DSN\r\n",
	    1, hide_xclient, "250-mx\r\n250-XFORWARD NAME\r\n250-DSN\r\n250 STARTTLS\r\n");
	/* Not hidden without the list. */
	expect(__LINE__, "250-mx\r\n250-XCLIENT NAME\r\n250 AUTH=LOGIN\r\n", 0, NULL,
	    "250-mx\r\n250-XCLIENT NAME\r\n250 AUTH=LOGIN\r\n");
	/* AUTHX is not AUTH. */
	expect(__LINE__, "250-mx\r\n250 AUTHX\r\n", 0, hide_xclient, "250-mx\r\n250 AUTHX\r\n");
	/* An empty hide list. */
	{
		static const char *const empty[] = { NULL };
		expect(__LINE__, "250-mx\r\n250 XCLIENT\r\n", 0, empty, "250-mx\r\n250 XCLIENT\r\n");
	}

	/* The first (domain) line is kept even if it looks like a keyword. */
	expect(__LINE__, "250-STARTTLS\r\n250 PIPELINING\r\n", 1, NULL,
	    "250-STARTTLS\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
	expect(__LINE__, "250 CHUNKING\r\n", 0, NULL, "250 CHUNKING\r\n");
	expect(__LINE__, "250-XCLIENT\r\n250 XCLIENT\r\n", 0, hide_xclient, "250 XCLIENT\r\n");

	/* Bare LF input lines come out as CRLF. */
	expect(__LINE__, "250-mx\n250-STARTTLS\n250 SIZE\n", 1, NULL, "250-mx\r\n250-SIZE\r\n250 STARTTLS\r\n");

	/* Text after the marker is kept byte for byte (spaces, parameters). */
	expect(__LINE__, "250-mx.example ESMTP  ready \r\n250-SIZE  52428800\r\n250 ENHANCEDSTATUSCODES\r\n", 1,
	    NULL,
	    "250-mx.example ESMTP  ready \r\n250-SIZE  52428800\r\n250-ENHANCEDSTATUSCODES\r\n250 STARTTLS\r\n");

	/* Exactly one STARTTLS whatever the backend sent. */
	CHECK(rewrite("250-mx\r\n250-STARTTLS\r\n250-STARTTLS\r\n250 STARTTLS\r\n", 1, NULL, got, sizeof(got)) == 0);
	CHECK(count_lines_with(got, "STARTTLS") == 1);
	CHECK(rewrite("250-mx\r\n250-STARTTLS\r\n250-STARTTLS\r\n250 STARTTLS\r\n", 0, NULL, got, sizeof(got)) == 0);
	CHECK(count_lines_with(got, "STARTTLS") == 0);
	CHECK_STR(got, "250 mx\r\n");

	/* Non-250 replies are copied unchanged (even with STARTTLS/CHUNKING in them). */
	expect(__LINE__, "502 5.5.1 EHLO not supported\r\n", 1, NULL, "502 5.5.1 EHLO not supported\r\n");
	expect(__LINE__, "421-mx busy\r\n421 STARTTLS\r\n", 1, NULL, "421-mx busy\r\n421 STARTTLS\r\n");
	expect(__LINE__, "550 no\n", 1, NULL, "550 no\n");
	expect(__LINE__, "251-mx\r\n251-CHUNKING\r\n251 x\r\n", 1, NULL, "251-mx\r\n251-CHUNKING\r\n251 x\r\n");

	/* Malformed. */
	CHECK(rewrite("", 1, NULL, got, sizeof(got)) == -1);
	CHECK(rewrite("250 mx", 1, NULL, got, sizeof(got)) == -1);	/* no line end */
	CHECK(rewrite("250-mx\r\n250 SIZE", 1, NULL, got, sizeof(got)) == -1);
	CHECK(rewrite("hello\r\n", 1, NULL, got, sizeof(got)) == -1);
	CHECK(rewrite("250x\r\n", 1, NULL, got, sizeof(got)) == -1);
	CHECK(rewrite("250-mx\r\n250x\r\n", 1, NULL, got, sizeof(got)) == -1);
	CHECK(rewrite("250-mx\r\n\r\n250 x\r\n", 1, NULL, got, sizeof(got)) == -1);
	CHECK(rewrite("25\r\n", 0, NULL, got, sizeof(got)) == -1);
	CHECK(rewrite("650 x\r\n", 0, NULL, got, sizeof(got)) == -1);

	/* Output is appended to what out already holds. */
	CHECK(buf_puts(&out, "X") == 0);
	CHECK(ehlo_rewrite("250 mx\r\n", 8, &o, &out) == 0);
	CHECK(buf_pending(&out) == 1 + strlen("250-mx\r\n250 STARTTLS\r\n"));
	CHECK(memcmp(buf_head(&out), "X250-mx\r\n250 STARTTLS\r\n", buf_pending(&out)) == 0);
	buf_free(&out);

	/* len bounds the reply: bytes past it are not read. */
	CHECK(ehlo_rewrite("250 mx\r\n250 junk\r\n", 8, &o, &out) == 0);
	CHECK(buf_pending(&out) == strlen("250-mx\r\n250 STARTTLS\r\n"));
	buf_free(&out);
}

/*
 * A reply that is malformed as a whole (codes that differ, a final line
 * before the end, no final line) is refused: ehlo.h says "-1 if the reply
 * is malformed". (Before, codes that differ gave a malformed output such
 * as "250-mx\r\n251-SIZE\r\n251 STARTTLS\r\n".)
 */
static void
test_rewrite_malformed_whole(void)
{
	static const char *const bad[] = {
		"250-mx\r\n250-SIZE\r\n251-STARTTLS\r\n",	/* codes differ, hidden last line */
		"250-mx\r\n250-SIZE\r\n251 CHUNKING\r\n",
		"250-mx\r\n251 SIZE\r\n",
		"250-mx\r\n550 SIZE\r\n",
		"250 mx\r\n250 SIZE\r\n",			/* a final line, then more */
		"250 mx\r\n250-SIZE\r\n250 X\r\n",
		"250-mx\r\n250-SIZE\r\n",			/* no final line */
		"250-mx\r\n",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (int add = 0; add <= 1; add++) {
			char got[1024];
			int rc = rewrite(bad[i], add, NULL, got, sizeof(got));
			if (rc != -1)
				fprintf(stderr, "  input [%s] add_starttls=%d -> rc %d, output [%s]\n", bad[i], add, rc,
				    got);
			CHECK(rc == -1);
		}
	}
}

static void
test_has(void)
{
	static const char r[] = "250-STARTTLS.example\r\n250-PIPELINING\r\n250-AUTH=LOGIN\r\n250-SIZE 1000\r\n"
				"250 starttls\r\n";

	CHECK(ehlo_has(r, strlen(r), "PIPELINING") == 1);
	CHECK(ehlo_has(r, strlen(r), "pipelining") == 1);
	CHECK(ehlo_has(r, strlen(r), "STARTTLS") == 1);
	CHECK(ehlo_has(r, strlen(r), "AUTH") == 1);
	CHECK(ehlo_has(r, strlen(r), "SIZE") == 1);
	CHECK(ehlo_has(r, strlen(r), "CHUNKING") == 0);
	CHECK(ehlo_has(r, strlen(r), "PIPELININ") == 0);
	CHECK(ehlo_has(r, strlen(r), "STARTTLS.example") == 0);	/* the domain line is not a keyword */
	CHECK(ehlo_has("250 STARTTLS\r\n", 14, "STARTTLS") == 0);
	CHECK(ehlo_has("250-mx\r\n250 STARTTLS\r\n", 22, "STARTTLS") == 1);
	CHECK(ehlo_has("250-mx\n250 STARTTLS\n", 20, "STARTTLS") == 1);
	CHECK(ehlo_has("", 0, "STARTTLS") == 0);
	/* Malformed lines stop the scan. */
	CHECK(ehlo_has("250-mx\r\nxx\r\n250 STARTTLS\r\n", 26, "STARTTLS") == 0);
	/* An unfinished last line is not looked at. */
	CHECK(ehlo_has("250-mx\r\n250 STARTTLS", 20, "STARTTLS") == 0);
	/* The rewritten reply has what was added. */
	{
		char got[1024];
		CHECK(rewrite(r, 1, NULL, got, sizeof(got)) == 0);
		CHECK(ehlo_has(got, strlen(got), "STARTTLS") == 1);
		CHECK(count_lines_with(got, "STARTTLS") == 1);
		CHECK(rewrite(r, 0, NULL, got, sizeof(got)) == 0);
		CHECK(ehlo_has(got, strlen(got), "STARTTLS") == 0);
		CHECK(ehlo_has(got, strlen(got), "PIPELINING") == 1);
	}
}

/* Replies as real MTAs send them. */
static void
test_real_replies(void)
{
	static const char *const replies[] = {
		/* Postfix */
		"250-mail.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n"
		"250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n"
		"250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n",
		/* Exim */
		"250-mx.example.net Hello client.example [192.0.2.7]\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n"
		"250-PIPELINING\r\n250-PIPE_CONNECT\r\n250-CHUNKING\r\n250-STARTTLS\r\n250-PRDR\r\n250 HELP\r\n",
		/* OpenSMTPD */
		"250-smtpd.example.com Hello client [192.0.2.9], pleased to meet you\r\n250-8BITMIME\r\n"
		"250-ENHANCEDSTATUSCODES\r\n250-SIZE 36700160\r\n250-DSN\r\n250-STARTTLS\r\n250 HELP\r\n",
	};
	size_t i;

	for (i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		char got[4096];
		int code = 0;
		CHECK(rewrite(replies[i], 1, hide_xclient, got, sizeof(got)) == 0);
		CHECK(smtp_reply_len(got, strlen(got), 4096, &code) == (long)strlen(got));
		CHECK(code == 250);
		CHECK(count_lines_with(got, "STARTTLS") == 1);
		CHECK(count_lines_with(got, "CHUNKING") == 0);
		CHECK(count_lines_with(got, "AUTH") == 0);
		CHECK(strstr(got, "250 STARTTLS\r\n") == got + strlen(got) - 14);
		CHECK(ehlo_has(got, strlen(got), "8BITMIME") == 1);
		CHECK(rewrite(replies[i], 0, NULL, got, sizeof(got)) == 0);
		CHECK(count_lines_with(got, "STARTTLS") == 0);
		CHECK(ehlo_has(got, strlen(got), "AUTH") == (i == 0));
	}
}

/* PIPELINING announced for a backend that lacks it (starttlsd emulates it); the RFC 821 reply. */
static void
test_pipelining_and_emulation(void)
{
	struct ehlo_opts o = { .add_starttls = 1, .add_pipelining = 1 };
	const char *plain = "250-legacy.example\r\n250 8BITMIME\r\n", *has = "250-x\r\n250 PIPELINING\r\n";
	struct buf out = { 0 };

	CHECK(ehlo_rewrite(plain, strlen(plain), &o, &out) == 0);
	CHECK(buf_pending(&out) == strlen("250-legacy.example\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 STARTTLS\r\n") &&
	    memcmp(buf_head(&out), "250-legacy.example\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
	    buf_pending(&out)) == 0);
	buf_free(&out);
	o.add_starttls = 0;
	CHECK(ehlo_rewrite(has, strlen(has), &o, &out) == 0);	/* not twice */
	CHECK(buf_pending(&out) == strlen(has) && memcmp(buf_head(&out), has, strlen(has)) == 0);
	buf_free(&out);
	CHECK(ehlo_emulate("mx.example", 1, &out) == 0);
	CHECK(buf_pending(&out) == 46 && memcmp(buf_head(&out), "250-mx.example\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
	    46) == 0);
	buf_free(&out);
	CHECK(ehlo_emulate("mx.example", 0, &out) == 0);
	CHECK(buf_pending(&out) == 32 && memcmp(buf_head(&out), "250-mx.example\r\n250 PIPELINING\r\n", 32) == 0);
	buf_free(&out);
}

int
main(void)
{
	test_rewrite();
	test_rewrite_malformed_whole();
	test_has();
	test_real_replies();
	test_pipelining_and_emulation();
	return check_done("test_ehlo");
}
