/*
 * received.h - the Received: trace header starttlsd may prepend to a
 * message (RFC 5321 section 4.4, RFC 5322 section 3.6.7). Pure: no I/O, no
 * allocation, no locale.
 *
 * The header looks like
 *
 *   Received: from client.example ([192.0.2.7])
 *   	by mx.example.org (starttlsd) with ESMTPS id 00000000000001a
 *   	(version=TLSv1.3 cipher=TLS_AES_128_GCM_SHA256);
 *   	Mon, 23 Nov 2026 02:20:35 +0000
 *
 * with CRLF line ends and a TAB starting each continuation line:
 *   - "from HELO ([ADDR])": the client's HELO/EHLO argument, then its IP
 *     address (the TCP-info of RFC 5321; starttlsd does no reverse DNS, so
 *     no host name is claimed for the address). IPv6 is written
 *     [IPv6:2001:db8::7]. With no HELO: "from [ADDR] ([ADDR])".
 *   - the HELO comes from the client and is made harmless: it is cut to
 *     RECEIVED_HELO_MAX bytes, and every byte that is not a letter, digit
 *     or one of ".-_" and the other RFC 5322 atext characters
 *     (!#$%&'*+/=?^`{|}~) becomes '?'. So CR, LF, NUL, space, 8-bit bytes,
 *     "()<>[]:;@\\,\"" never reach the header, except that an address
 *     literal HELO such as "[192.0.2.7]" or "[IPv6:2001:db8::7]" keeps its
 *     brackets and colons. by_host, id, tls_version and tls_cipher are
 *     cleaned the same way.
 *   - "with" is the RFC 3848 protocol: SMTP after HELO (TLS or not: the
 *     S/A variants are defined for EHLO only); after EHLO ESMTP, ESMTPS
 *     with TLS, ESMTPA with AUTH, ESMTPSA with both.
 *   - the TLS comment is present only with TLS ("(version=V)" if the cipher
 *     is unknown); "id ID" only with a non-empty id.
 *   - the date is RFC 5322 in UTC, "+0000", with English day and month
 *     names whatever the locale.
 * Each clause starts a new line as above. Within a clause, a word that
 * would make its line longer than 78 characters (counting a ';' that may
 * follow it) goes to a new continuation line; a keyword stays with its
 * value ("Received: from HELO", "by HOST", "with ESMTPS", "id ID"), so only
 * a very long value (a long HELO) makes a longer line. Every line stays
 * far below the 998-character limit of RFC 5322.
 */
#ifndef STARTTLSD_RECEIVED_H
#define STARTTLSD_RECEIVED_H

#include <stddef.h>
#include <time.h>

/* Longest HELO argument copied into the header; longer ones are cut. */
#define RECEIVED_HELO_MAX 255
/* Longest by_host, id, tls_version and tls_cipher copied; longer are cut. */
#define RECEIVED_FIELD_MAX 255
/* A buffer this big always holds the header and its NUL. */
#define RECEIVED_MAXLEN 2048

struct received_info {
	const char *helo;		/* client's HELO/EHLO argument; NULL or "" if none */
	const char *client_addr;	/* "192.0.2.7" or "2001:db8::7"; required */
	const char *by_host;		/* our host name; required */
	const char *tls_version;	/* "TLSv1.3", or NULL without TLS */
	const char *tls_cipher;		/* "TLS_AES_128_GCM_SHA256", or NULL */
	int esmtp;			/* the client said EHLO (1) or HELO (0) */
	int auth;			/* the client authenticated (AUTH) */
	const char *id;			/* session id text, or NULL */
	time_t when;			/* time of the Received stamp */
};

/*
 * Write the header described above for ri into out, ending in CRLF and
 * followed by a NUL. Returns its length (without the NUL), or -1 if it and
 * its NUL do not fit in outlen bytes, if client_addr is not made only of
 * hex digits, '.' and ':' (or is empty or NULL), if by_host is NULL or
 * empty, or if when is outside the years 1900..9999.
 */
int received_format(char *out, size_t outlen, const struct received_info *ri);

#endif
