/* test_received.c - unit tests for proxy/received.c (the Received: header). */
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "received.h"

#define WHEN 1795400435		/* Mon, 23 Nov 2026 02:20:35 +0000 */

static char out[RECEIVED_MAXLEN];

/* Format ri into out; "(-1)" if received_format fails. Checks the returned length. */
static const char *
fmt(const struct received_info *ri)
{
	int n = received_format(out, sizeof(out), ri);

	if (n == -1)
		return "(-1)";
	CHECK((size_t)n == strlen(out));
	return out;
}

/*
 * A well-formed folded header: only printable ASCII, TAB, and CRLF that
 * ends the header or is followed by a TAB; no line longer than maxline.
 */
static int
well_formed(const char *h, size_t maxline)
{
	size_t col = 0, i, n = strlen(h);

	if (n < 2 || strncmp(h, "Received: ", 10) != 0 || strcmp(h + n - 2, "\r\n") != 0)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];

		if (c == '\r') {
			if (h[i + 1] != '\n' || (i + 2 < n && h[i + 2] != '\t'))
				return 0;
			if (col > maxline)
				return 0;
			col = 0;
			i++;
			continue;
		}
		if (c == '\n' || (c < 0x20 && c != '\t') || c > 0x7e)
			return 0;
		col++;
	}
	return 1;
}

static struct received_info
base(void)
{
	struct received_info ri = {
		.helo = "client.example",
		.client_addr = "192.0.2.7",
		.by_host = "mx.example.org",
		.tls_version = "TLSv1.3",
		.tls_cipher = "TLS_AES_128_GCM_SHA256",
		.esmtp = 1,
		.auth = 0,
		.id = "00000000000001a",
		.when = WHEN,
	};
	return ri;
}

static void
test_examples(void)
{
	struct received_info ri = base();

	CHECK_STR(fmt(&ri),
	    "Received: from client.example ([192.0.2.7])\r\n"
	    "\tby mx.example.org (starttlsd) with ESMTPS id 00000000000001a\r\n"
	    "\t(version=TLSv1.3 cipher=TLS_AES_128_GCM_SHA256);\r\n"
	    "\tMon, 23 Nov 2026 02:20:35 +0000\r\n");
	CHECK(well_formed(out, 78));

	/* IPv6, HELO, no TLS, no id, the epoch. */
	ri.helo = "[IPv6:2001:db8::7]";
	ri.client_addr = "2001:db8::7";
	ri.tls_version = NULL;
	ri.esmtp = 0;
	ri.id = NULL;
	ri.when = 0;
	CHECK_STR(fmt(&ri),
	    "Received: from [IPv6:2001:db8::7] ([IPv6:2001:db8::7])\r\n"
	    "\tby mx.example.org (starttlsd) with SMTP;\r\n"
	    "\tThu, 1 Jan 1970 00:00:00 +0000\r\n");
	CHECK(well_formed(out, 78));

	/* No HELO; EHLO and AUTH without TLS. */
	ri = base();
	ri.helo = NULL;
	ri.tls_version = NULL;
	ri.tls_cipher = "ignored without a version";
	ri.auth = 1;
	ri.id = "";
	CHECK_STR(fmt(&ri),
	    "Received: from [192.0.2.7] ([192.0.2.7])\r\n"
	    "\tby mx.example.org (starttlsd) with ESMTPA;\r\n"
	    "\tMon, 23 Nov 2026 02:20:35 +0000\r\n");
	ri.helo = "";
	ri.client_addr = "::1";
	CHECK_STR(fmt(&ri),
	    "Received: from [IPv6:::1] ([IPv6:::1])\r\n"
	    "\tby mx.example.org (starttlsd) with ESMTPA;\r\n"
	    "\tMon, 23 Nov 2026 02:20:35 +0000\r\n");

	/* TLS and AUTH; a TLS version without a cipher. */
	ri = base();
	ri.auth = 1;
	ri.tls_version = "TLSv1.2";
	ri.tls_cipher = NULL;
	ri.id = "s1";
	CHECK_STR(fmt(&ri),
	    "Received: from client.example ([192.0.2.7])\r\n"
	    "\tby mx.example.org (starttlsd) with ESMTPSA id s1\r\n"
	    "\t(version=TLSv1.2);\r\n"
	    "\tMon, 23 Nov 2026 02:20:35 +0000\r\n");

	/* EHLO, no TLS, no AUTH. */
	ri = base();
	ri.tls_version = NULL;
	CHECK_STR(fmt(&ri),
	    "Received: from client.example ([192.0.2.7])\r\n"
	    "\tby mx.example.org (starttlsd) with ESMTP id 00000000000001a;\r\n"
	    "\tMon, 23 Nov 2026 02:20:35 +0000\r\n");

	/* HELO over TLS (implicit TLS on port 465) is still SMTP. */
	ri = base();
	ri.esmtp = 0;
	ri.auth = 1;
	CHECK_STR(fmt(&ri),
	    "Received: from client.example ([192.0.2.7])\r\n"
	    "\tby mx.example.org (starttlsd) with SMTP id 00000000000001a\r\n"
	    "\t(version=TLSv1.3 cipher=TLS_AES_128_GCM_SHA256);\r\n"
	    "\tMon, 23 Nov 2026 02:20:35 +0000\r\n");
}

static void
test_hostile(void)
{
	struct received_info ri = base();
	char helo[400];

	ri.tls_version = NULL;
	ri.id = NULL;

	/* CR, LF, header injection, comments, brackets, quoting, 8-bit, TAB, space. */
	ri.helo = "evil.example\r\nBcc: x@y (c) [1.2.3.4];\\\"\t\xc3\xa9<>,";
	CHECK_STR(fmt(&ri),
	    "Received: from evil.example??Bcc??x?y??c???1.2.3.4?????????? ([192.0.2.7])\r\n"
	    "\tby mx.example.org (starttlsd) with ESMTP;\r\n"
	    "\tMon, 23 Nov 2026 02:20:35 +0000\r\n");
	CHECK(well_formed(out, 78));

	/* A NUL ends the C string: nothing after it can get in. */
	memcpy(helo, "a.b\0\r\nX: y", 11);
	ri.helo = helo;
	CHECK_STR(fmt(&ri),
	    "Received: from a.b ([192.0.2.7])\r\n"
	    "\tby mx.example.org (starttlsd) with ESMTP;\r\n"
	    "\tMon, 23 Nov 2026 02:20:35 +0000\r\n");

	/* Only whole address literals keep their brackets and colons. */
	ri.helo = "[192.0.2.7";
	CHECK_STR(fmt(&ri),
	    "Received: from ?192.0.2.7 ([192.0.2.7])\r\n"
	    "\tby mx.example.org (starttlsd) with ESMTP;\r\n"
	    "\tMon, 23 Nov 2026 02:20:35 +0000\r\n");
	ri.helo = "[a]b]";
	CHECK(strstr(fmt(&ri), "from ?a?b? ([192.0.2.7])\r\n") != NULL);
	ri.helo = "[a b]";
	CHECK(strstr(fmt(&ri), "from ?a?b? ([192.0.2.7])\r\n") != NULL);
	ri.helo = "[1.2.3.4](x)";
	CHECK(strstr(fmt(&ri), "from ?1.2.3.4??x? ([192.0.2.7])\r\n") != NULL);
	ri.helo = "[]";
	CHECK(strstr(fmt(&ri), "from ?? ([192.0.2.7])\r\n") != NULL);
	ri.helo = "host:25";
	CHECK(strstr(fmt(&ri), "from host?25 ([192.0.2.7])\r\n") != NULL);
	ri.helo = "[IPv6:fe80::1]";
	CHECK(strstr(fmt(&ri), "from [IPv6:fe80::1] ([192.0.2.7])\r\n") != NULL);
	ri.helo = "a!#$%&'*+/=?^_`{|}~-.Z9";
	CHECK(strstr(fmt(&ri), "from a!#$%&'*+/=?^_`{|}~-.Z9 ([192.0.2.7])\r\n") != NULL);
	ri.helo = " ";
	CHECK(strstr(fmt(&ri), "from ? ([192.0.2.7])\r\n") != NULL);

	/* Our own strings are cleaned too. */
	ri = base();
	ri.by_host = "mx example;org";
	ri.id = "id(1)";
	ri.tls_version = "TLS\r\nv1";
	ri.tls_cipher = "AES(256) x";
	CHECK_STR(fmt(&ri),
	    "Received: from client.example ([192.0.2.7])\r\n"
	    "\tby mx?example?org (starttlsd) with ESMTPS id id?1?\r\n"
	    "\t(version=TLS??v1 cipher=AES?256??x);\r\n"
	    "\tMon, 23 Nov 2026 02:20:35 +0000\r\n");
	CHECK(well_formed(out, 78));
}

static void
test_long(void)
{
	struct received_info ri = base();
	char helo[400], host[100], want[1200];
	int n;

	/* A HELO longer than RECEIVED_HELO_MAX is cut; TCP-info folds to the next line. */
	memset(helo, 'a', 300);
	helo[300] = '\0';
	ri.helo = helo;
	snprintf(want, sizeof(want),
	    "Received: from %.*s\r\n"
	    "\t([192.0.2.7])\r\n"
	    "\tby mx.example.org (starttlsd) with ESMTPS id 00000000000001a\r\n"
	    "\t(version=TLSv1.3 cipher=TLS_AES_128_GCM_SHA256);\r\n"
	    "\tMon, 23 Nov 2026 02:20:35 +0000\r\n", RECEIVED_HELO_MAX, helo);
	CHECK_STR(fmt(&ri), want);
	CHECK(well_formed(out, 15 + RECEIVED_HELO_MAX));
	CHECK(!well_formed(out, 78));

	/* Folding inside clauses: a long host name and a long cipher. */
	ri = base();
	memset(host, 'h', 60);
	host[60] = '\0';
	ri.by_host = host;
	ri.tls_cipher = "ECDHE-RSA-AES256-GCM-SHA384-WITH-A-VERY-LONG-MADE-UP-SUFFIX-TO-FOLD";
	snprintf(want, sizeof(want),
	    "Received: from client.example ([192.0.2.7])\r\n"
	    "\tby %s (starttlsd)\r\n"
	    "\twith ESMTPS id 00000000000001a\r\n"
	    "\t(version=TLSv1.3\r\n"
	    "\tcipher=ECDHE-RSA-AES256-GCM-SHA384-WITH-A-VERY-LONG-MADE-UP-SUFFIX-TO-FOLD);\r\n"
	    "\tMon, 23 Nov 2026 02:20:35 +0000\r\n", host);
	CHECK_STR(fmt(&ri), want);
	CHECK(well_formed(out, 78));

	/* The ';' counts: a word that would end exactly at column 78 with it still fits. */
	ri = base();
	ri.tls_version = NULL;
	ri.id = "01234567890123456789012345678901";	/* "\tby mx.example.org (starttlsd) with ESMTP" is 41 */
	n = received_format(out, sizeof(out), &ri);	/* 41 + " id " + 32 + ";" = 78 */
	CHECK(n > 0 && strstr(out, "\r\n\tby mx.example.org (starttlsd) with ESMTP id 01234567890123456789012345678901;\r\n") != NULL);
	CHECK(well_formed(out, 78));
	ri.id = "012345678901234567890123456789012";	/* 79 with the ';': folds */
	n = received_format(out, sizeof(out), &ri);
	CHECK(n > 0 && strstr(out, "\r\n\tby mx.example.org (starttlsd) with ESMTP\r\n\tid 012345678901234567890123456789012;\r\n") != NULL);
	CHECK(well_formed(out, 78));

	/* Everything at its longest still fits in RECEIVED_MAXLEN. */
	{
		char big[5][400];
		int i;

		for (i = 0; i < 5; i++) {
			memset(big[i], 'x', 399);
			big[i][399] = '\0';
		}
		ri.helo = big[0];
		ri.by_host = big[1];
		ri.id = big[2];
		ri.tls_version = big[3];
		ri.tls_cipher = big[4];
		ri.auth = 1;
		ri.client_addr = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
		ri.when = 253402300799;
		n = received_format(out, sizeof(out), &ri);
		CHECK(n > 0 && (size_t)n < RECEIVED_MAXLEN);
		CHECK(well_formed(out, 998));
	}
}

static void
test_dates(void)
{
	struct received_info ri = base();
	static const struct {
		time_t when;
		const char *date;
	} dates[] = {
		{ 0, "Thu, 1 Jan 1970 00:00:00 +0000" },
		{ 1709251199, "Thu, 29 Feb 2024 23:59:59 +0000" },
		{ 951782400, "Tue, 29 Feb 2000 00:00:00 +0000" },
		{ 4107542400, "Mon, 1 Mar 2100 00:00:00 +0000" },
		{ -1, "Wed, 31 Dec 1969 23:59:59 +0000" },
		{ 253402300799, "Fri, 31 Dec 9999 23:59:59 +0000" },
		{ WHEN, "Mon, 23 Nov 2026 02:20:35 +0000" },
	};
	char want[80];
	size_t i;

	for (i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
		ri.when = dates[i].when;
		snprintf(want, sizeof(want), ";\r\n\t%s\r\n", dates[i].date);
		CHECK(strstr(fmt(&ri), want) != NULL);
		if (strstr(out, want) == NULL)
			fprintf(stderr, "  want date %s\n  got %s\n", dates[i].date, out);
	}
	ri.when = 253402300800;		/* year 10000 */
	CHECK(received_format(out, sizeof(out), &ri) == -1);

	/* The locale does not matter (when another one is installed). */
	if (setlocale(LC_ALL, "de_DE.UTF-8") != NULL || setlocale(LC_ALL, "fr_FR.UTF-8") != NULL) {
		ri.when = WHEN;
		CHECK(strstr(fmt(&ri), "\tMon, 23 Nov 2026 02:20:35 +0000\r\n") != NULL);
		setlocale(LC_ALL, "C");
	}
}

static void
test_errors(void)
{
	struct received_info ri = base();
	char small[400];
	int n;

	n = received_format(out, sizeof(out), &ri);
	CHECK(n == (int)strlen("Received: from client.example ([192.0.2.7])\r\n"
	    "\tby mx.example.org (starttlsd) with ESMTPS id 00000000000001a\r\n"
	    "\t(version=TLSv1.3 cipher=TLS_AES_128_GCM_SHA256);\r\n"
	    "\tMon, 23 Nov 2026 02:20:35 +0000\r\n"));
	CHECK(received_format(small, (size_t)n + 1, &ri) == n);
	CHECK(strcmp(small, out) == 0);
	CHECK(received_format(small, (size_t)n, &ri) == -1);
	CHECK(received_format(small, 10, &ri) == -1);
	CHECK(received_format(small, 0, &ri) == -1);

	ri.client_addr = NULL;
	CHECK(received_format(out, sizeof(out), &ri) == -1);
	ri.client_addr = "";
	CHECK(received_format(out, sizeof(out), &ri) == -1);
	ri.client_addr = "192.0.2.7]\r\nX: y";
	CHECK(received_format(out, sizeof(out), &ri) == -1);
	ri.client_addr = "[192.0.2.7]";
	CHECK(received_format(out, sizeof(out), &ri) == -1);
	ri.client_addr = "fe80::1%eth0";
	CHECK(received_format(out, sizeof(out), &ri) == -1);
	ri.client_addr = "1111:2222:3333:4444:5555:6666:7777:8888:9999:a";	/* 46: longer than any address */
	CHECK(received_format(out, sizeof(out), &ri) == -1);
	ri = base();
	ri.by_host = NULL;
	CHECK(received_format(out, sizeof(out), &ri) == -1);
	ri.by_host = "";
	CHECK(received_format(out, sizeof(out), &ri) == -1);
}

int
main(void)
{
	test_examples();
	test_hostile();
	test_long();
	test_dates();
	test_errors();
	return check_done("test_received");
}
