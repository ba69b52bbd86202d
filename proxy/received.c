/* received.c - the Received: trace header; see received.h. */
#include "received.h"

#include <stdio.h>
#include <string.h>

#define FOLD_WIDTH 78		/* RFC 5322 2.1.1: lines SHOULD be at most 78 characters */
#define ADDR_MAX 45		/* longest IPv6 text with an embedded dotted quad */

/* Builds the header into a caller's buffer; err is set once anything fails to fit. */
struct writer {
	char *out;
	size_t cap;		/* bytes available in out, the NUL included */
	size_t len;
	size_t col;		/* characters on the current line so far */
	int words;		/* words in the current clause */
	int err;
};

static void
put(struct writer *w, const char *s, size_t n)
{
	if (w->err || n >= w->cap - w->len) {
		w->err = 1;
		return;
	}
	memcpy(w->out + w->len, s, n);
	w->len += n;
	w->col += n;
}

/* Start a clause on a continuation line. */
static void
clause(struct writer *w)
{
	put(w, "\r\n\t", 3);
	w->col = 1;
	w->words = 0;
}

/* Add a word to the current clause, folding before it if the line would grow too long. */
static void
word(struct writer *w, const char *s)
{
	size_t n = strlen(s);

	if (w->words > 0) {
		/* One column is kept for a ';' that may follow the word. */
		if (w->col + 1 + n + 1 > FOLD_WIDTH) {
			put(w, "\r\n\t", 3);
			w->col = 1;
		} else {
			put(w, " ", 1);
		}
	}
	put(w, s, n);
	w->words++;
}

/* RFC 5322 atext, plus '.': what client-supplied text may keep. */
static int
is_safe(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr(".-_!#$%&'*+/=?^`{|}~", c) != NULL;
}

/* "[...]" with only letters, digits, '.', ':' and '-' inside: an address literal. */
static int
is_literal(const char *s, size_t n)
{
	size_t i;

	if (n < 3 || s[0] != '[' || s[n - 1] != ']')
		return 0;
	for (i = 1; i < n - 1; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == ':' || c == '-'))
			return 0;
	}
	return 1;
}

/*
 * Copy at most max bytes of s into dst (which has room for max + 1),
 * turning every unsafe byte into '?'; an address literal is kept whole
 * when literal is set. Returns the length written.
 */
static size_t
clean(char *dst, const char *s, size_t max, int literal)
{
	size_t n = strnlen(s, max), i;

	if (literal && is_literal(s, n)) {
		memcpy(dst, s, n);
	} else {
		for (i = 0; i < n; i++)
			dst[i] = (char)(is_safe((unsigned char)s[i]) ? s[i] : '?');
	}
	dst[n] = '\0';
	return n;
}

static const char wday_name[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char month_name[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* RFC 5322 date-time in UTC into buf; returns 0, or -1 if t is out of range. */
static int
format_date(time_t t, char *buf, size_t len)
{
	struct tm tm;
	int n;

	if (gmtime_r(&t, &tm) == NULL)
		return -1;
	if (tm.tm_year < 0 || tm.tm_year > 9999 - 1900 || tm.tm_wday < 0 || tm.tm_wday > 6 ||
	    tm.tm_mon < 0 || tm.tm_mon > 11)
		return -1;
	n = snprintf(buf, len, "%s, %d %s %d %02d:%02d:%02d +0000", wday_name[tm.tm_wday], tm.tm_mday,
	    month_name[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return n > 0 && (size_t)n < len ? 0 : -1;
}

int
received_format(char *out, size_t outlen, const struct received_info *ri)
{
	char helo[RECEIVED_HELO_MAX + 1], host[RECEIVED_FIELD_MAX + 1], id[RECEIVED_FIELD_MAX + 1];
	char ver[RECEIVED_FIELD_MAX + 1], cipher[RECEIVED_FIELD_MAX + 1];
	char lit[ADDR_MAX + 8], tcpinfo[ADDR_MAX + 16], date[64];
	char text[RECEIVED_HELO_MAX + 32];
	struct writer w = { out, outlen, 0, 0, 0, 0 };
	const char *addr = ri->client_addr;
	size_t alen;
	int tls;

	if (outlen == 0 || addr == NULL || ri->by_host == NULL || ri->by_host[0] == '\0')
		return -1;
	alen = strlen(addr);
	if (alen == 0 || alen > ADDR_MAX || strspn(addr, "0123456789abcdefABCDEF.:") != alen)
		return -1;
	if (format_date(ri->when, date, sizeof(date)) == -1)
		return -1;
	snprintf(lit, sizeof(lit), "[%s%s]", strchr(addr, ':') ? "IPv6:" : "", addr);
	snprintf(tcpinfo, sizeof(tcpinfo), "(%s)", lit);
	if (ri->helo != NULL && ri->helo[0] != '\0')
		clean(helo, ri->helo, RECEIVED_HELO_MAX, 1);
	else
		snprintf(helo, sizeof(helo), "%s", lit);
	clean(host, ri->by_host, RECEIVED_FIELD_MAX, 0);
	tls = ri->tls_version != NULL && ri->tls_version[0] != '\0';

	/* Keywords stay on the line of their values. */
	snprintf(text, sizeof(text), "Received: from %s", helo);
	word(&w, text);
	word(&w, tcpinfo);

	clause(&w);
	snprintf(text, sizeof(text), "by %s", host);
	word(&w, text);
	word(&w, "(starttlsd)");
	word(&w, !ri->esmtp ? "with SMTP" : tls && ri->auth ? "with ESMTPSA" : tls ? "with ESMTPS" :
	    ri->auth ? "with ESMTPA" : "with ESMTP");
	if (ri->id != NULL && ri->id[0] != '\0') {
		clean(id, ri->id, RECEIVED_FIELD_MAX, 0);
		snprintf(text, sizeof(text), "id %s", id);
		word(&w, text);
	}

	if (tls) {
		clause(&w);
		clean(ver, ri->tls_version, RECEIVED_FIELD_MAX, 0);
		if (ri->tls_cipher != NULL && ri->tls_cipher[0] != '\0') {
			clean(cipher, ri->tls_cipher, RECEIVED_FIELD_MAX, 0);
			snprintf(text, sizeof(text), "(version=%s", ver);
			word(&w, text);
			snprintf(text, sizeof(text), "cipher=%s)", cipher);
			word(&w, text);
		} else {
			snprintf(text, sizeof(text), "(version=%s)", ver);
			word(&w, text);
		}
	}
	put(&w, ";", 1);

	clause(&w);
	word(&w, date);
	put(&w, "\r\n", 2);
	if (w.err)
		return -1;
	out[w.len] = '\0';
	return (int)w.len;
}
