/* proxyproto.c - HAProxy PROXY protocol v1 and v2; see proxyproto.h. */
#include "proxyproto.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define V1_SIG		"PROXY "
#define V1_SIGLEN	6
#define V2_SIGLEN	12

/* v2 command (low nibble of byte 12) and family/transport (byte 13). */
enum { V2_LOCAL = 0x0, V2_PROXY = 0x1 };
enum {
	V2_UNSPEC = 0x00,
	V2_TCP4 = 0x11, V2_UDP4 = 0x12,
	V2_TCP6 = 0x21, V2_UDP6 = 0x22,
	V2_UNIX_STREAM = 0x31, V2_UNIX_DGRAM = 0x32,
};

/* v1 tokens after "PROXY ". */
enum { TOK_PROTO, TOK_SRC, TOK_DST, TOK_SPORT, TOK_DPORT, TOK_COUNT };

/* Longest v1 address tokens: "255.255.255.255", "ffff:...:ffff:255.255.255.255". */
#define V1_ADDR4_MAX 15
#define V1_ADDR6_MAX 45

static size_t
min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* Is tok[0..len) a prefix of the NUL-terminated word (len <= strlen)? */
static int
is_prefix(const char *tok, size_t len, const char *word)
{
	return len <= strlen(word) && memcmp(tok, word, len) == 0;
}

static int
is_token(const char *tok, size_t len, const char *word)
{
	return len == strlen(word) && memcmp(tok, word, len) == 0;
}

/*
 * A v1 port: decimal 0..65535, no sign, no leading zero. With complete == 0
 * only checks that tok[0..len) can still become one.
 */
static int
v1_port(const char *tok, size_t len, int complete, uint16_t *port)
{
	unsigned long v = 0;
	size_t i;

	if (len > 5 || (len > 1 && tok[0] == '0'))
		return -1;
	for (i = 0; i < len; i++) {
		if (tok[i] < '0' || tok[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(tok[i] - '0');
	}
	if (v > 65535)
		return -1;
	if (complete)
		*port = (uint16_t)v;
	return 0;
}

/*
 * A v1 address of the family of proto (TCP4: dotted quad, TCP6: IPv6 text,
 * which must contain a ':'). With complete == 0 only checks the characters
 * and the length of the part received so far.
 */
static int
v1_addr(const char *tok, size_t len, int complete, int tcp6, struct netaddr *a)
{
	char buf[V1_ADDR6_MAX + 1];
	size_t max = tcp6 ? V1_ADDR6_MAX : V1_ADDR4_MAX;
	const char *chars = tcp6 ? "0123456789abcdefABCDEF:." : "0123456789.";
	size_t i;

	if (len > max)
		return -1;
	for (i = 0; i < len; i++)
		if (strchr(chars, tok[i]) == NULL)
			return -1;
	if (!complete)
		return 0;
	if (tcp6 && memchr(tok, ':', len) == NULL)
		return -1;
	memcpy(buf, tok, len);
	buf[len] = '\0';
	return netaddr_parse(buf, a);
}

/*
 * Check the text of a v1 line after "PROXY ", body[0..blen) (no CR, LF or
 * NUL in it). done tells whether the CR ending the line follows; if not,
 * body is a part of the line and is only checked to be a valid beginning.
 * Fills *out (when done). Returns 0 or -1.
 */
static int
v1_body(const char *body, size_t blen, int done, struct proxyproto_hdr *out)
{
	size_t pos = 0, start, toklen;
	int k, complete, tcp6 = 0;

	for (k = 0;; k++) {
		for (start = pos; pos < blen && body[pos] != ' '; pos++)
			;
		toklen = pos - start;
		complete = pos < blen || done;
		if (toklen == 0)
			return complete ? -1 : 0;	/* two spaces, or a space before CR */
		switch (k) {
		case TOK_PROTO:
			if (!complete)
				return is_prefix(body, toklen, "TCP4") || is_prefix(body, toklen, "TCP6") ||
				    is_prefix(body, toklen, "UNKNOWN") ? 0 : -1;
			if (is_token(body, toklen, "UNKNOWN")) {
				out->local = 1;		/* the rest of the line is ignored */
				return 0;
			}
			if (is_token(body, toklen, "TCP6"))
				tcp6 = 1;
			else if (!is_token(body, toklen, "TCP4"))
				return -1;
			break;
		case TOK_SRC:
		case TOK_DST:
			if (v1_addr(body + start, toklen, complete, tcp6, k == TOK_SRC ? &out->src : &out->dst))
				return -1;
			break;
		case TOK_SPORT:
		case TOK_DPORT:
			if (v1_port(body + start, toklen, complete, k == TOK_SPORT ? &out->src.port : &out->dst.port))
				return -1;
			break;
		default:
			return -1;	/* more than five tokens */
		}
		if (pos == blen)
			return done && k != TOK_DPORT ? -1 : 0;
		if (k == TOK_DPORT)
			return -1;	/* anything after the destination port */
		pos++;		/* the single space */
	}
}

static int
parse_v1(const uint8_t *p, size_t len, struct proxyproto_hdr *out)
{
	size_t lim = min_size(len, PROXYPROTO_V1_MAXLEN), i;
	int cr;

	if (memcmp(p, V1_SIG, min_size(lim, V1_SIGLEN)) != 0)
		return -1;
	if (lim < V1_SIGLEN)
		return 0;
	for (i = V1_SIGLEN; i < lim && p[i] != '\r' && p[i] != '\n' && p[i] != '\0'; i++)
		;
	cr = i < lim;
	if (cr && p[i] != '\r')
		return -1;		/* LF or NUL before the CR */
	if (!cr && lim == PROXYPROTO_V1_MAXLEN)
		return -1;		/* no CR in the longest possible line */
	if (cr && i + 2 > PROXYPROTO_V1_MAXLEN)
		return -1;		/* the LF would make the line too long */
	if (cr && i + 1 < len && p[i + 1] != '\n')
		return -1;
	out->version = 1;
	if (v1_body((const char *)p + V1_SIGLEN, i - V1_SIGLEN, cr, out) == -1)
		return -1;
	if (!cr || i + 1 == len)
		return 0;		/* the line, or its LF, is still to come */
	if (out->local) {
		memset(&out->src, 0, sizeof(out->src));
		memset(&out->dst, 0, sizeof(out->dst));
	}
	return (int)(i + 2);
}

/* Are the TLVs in t[0..len) well framed? */
static int
v2_tlvs_ok(const uint8_t *t, size_t len)
{
	size_t off = 0, vlen;

	while (off < len) {
		if (len - off < 3)
			return 0;
		vlen = (size_t)t[off + 1] << 8 | t[off + 2];
		if (vlen > len - off - 3)
			return 0;
		off += 3 + vlen;
	}
	return 1;
}

static int
parse_v2(const uint8_t *p, size_t len, struct proxyproto_hdr *out)
{
	size_t dlen, need;
	const uint8_t *d;
	int cmd, fam;

	if (memcmp(p, PROXYPROTO_V2_SIG, min_size(len, V2_SIGLEN)) != 0)
		return -1;
	if (len <= 12)
		return 0;
	if ((p[12] & 0xf0) != 0x20)
		return -1;		/* version 2 only */
	cmd = p[12] & 0x0f;
	if (cmd != V2_LOCAL && cmd != V2_PROXY)
		return -1;
	if (len <= 13)
		return 0;
	fam = p[13];
	switch (fam) {
	case V2_UNSPEC:
		need = 0;
		break;
	case V2_TCP4:
	case V2_UDP4:
		need = 12;
		break;
	case V2_TCP6:
	case V2_UDP6:
		need = 36;
		break;
	case V2_UNIX_STREAM:
	case V2_UNIX_DGRAM:
		need = 216;
		break;
	default:
		return -1;
	}
	if (cmd == V2_PROXY && (fam == V2_UDP4 || fam == V2_UDP6 || fam == V2_UNIX_DGRAM))
		return -1;
	if (cmd == V2_LOCAL)
		need = 0;		/* the block is discarded, whatever it holds */
	if (len < PROXYPROTO_V2_HDRLEN)
		return 0;
	dlen = (size_t)p[14] << 8 | p[15];
	if (dlen > PROXYPROTO_V2_MAXDATA || dlen < need)
		return -1;
	if (len < PROXYPROTO_V2_HDRLEN + dlen)
		return 0;
	d = p + PROXYPROTO_V2_HDRLEN;
	out->version = 2;
	if (cmd == V2_LOCAL || fam == V2_UNSPEC)
		out->local = 1;	/* NOLINT(bugprone-branch-clone): as AF_UNIX: both mean the real peer */
	else if (!v2_tlvs_ok(d + need, dlen - need))
		return -1;
	else if (fam == V2_UNIX_STREAM)
		out->local = 1;
	else if (fam == V2_TCP4) {
		out->src.family = out->dst.family = AF_INET;
		memcpy(out->src.addr, d, 4);
		memcpy(out->dst.addr, d + 4, 4);
		out->src.port = (uint16_t)(d[8] << 8 | d[9]);
		out->dst.port = (uint16_t)(d[10] << 8 | d[11]);
	} else {
		out->src.family = out->dst.family = AF_INET6;
		memcpy(out->src.addr, d, 16);
		memcpy(out->dst.addr, d + 16, 16);
		out->src.port = (uint16_t)(d[32] << 8 | d[33]);
		out->dst.port = (uint16_t)(d[34] << 8 | d[35]);
		netaddr_unmap(&out->src);
		netaddr_unmap(&out->dst);
	}
	return (int)(PROXYPROTO_V2_HDRLEN + dlen);
}

int
proxyproto_parse(const uint8_t *p, size_t len, struct proxyproto_hdr *out)
{
	memset(out, 0, sizeof(*out));
	if (len == 0)
		return 0;
	if (p[0] == 'P')
		return parse_v1(p, len, out);
	if (p[0] == '\r')
		return parse_v2(p, len, out);
	return -1;
}

/* Do src and dst make a TCP4 (AF_INET) or TCP6 (AF_INET6) pair? 0 if not. */
static int
pair_family(const struct netaddr *src, const struct netaddr *dst)
{
	if (src == NULL || dst == NULL || src->family != dst->family)
		return 0;
	if (src->family != AF_INET && src->family != AF_INET6)
		return 0;
	return src->family;
}

int
proxyproto_build_v1(const struct netaddr *src, const struct netaddr *dst, char *out, size_t outlen)
{
	char line[PROXYPROTO_V1_BUILDLEN + 1], s[NETADDR_STRLEN], d[NETADDR_STRLEN];
	int family = pair_family(src, dst), n;

	if (family == 0)
		n = snprintf(line, sizeof(line), "PROXY UNKNOWN\r\n");
	else if (netaddr_format(src, s, sizeof(s)) == -1 || netaddr_format(dst, d, sizeof(d)) == -1)
		return -1;
	else
		n = snprintf(line, sizeof(line), "PROXY %s %s %s %u %u\r\n", family == AF_INET ? "TCP4" : "TCP6",
		    s, d, (unsigned)src->port, (unsigned)dst->port);
	if (n < 0 || (size_t)n >= sizeof(line) || (size_t)n > outlen)
		return -1;
	memcpy(out, line, (size_t)n);
	return n;
}

static void
put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

int
proxyproto_build_v2(const struct netaddr *src, const struct netaddr *dst, uint8_t *out, size_t outlen)
{
	int family = pair_family(src, dst);
	size_t alen = family == AF_INET ? 4 : 16;
	size_t dlen = family == 0 ? 0 : 2 * alen + 4;

	if (outlen < PROXYPROTO_V2_HDRLEN + dlen)
		return -1;
	/* NOLINTNEXTLINE(bugprone-not-null-terminated-result): a binary header, not a string */
	memcpy(out, PROXYPROTO_V2_SIG, V2_SIGLEN);
	out[12] = 0x20 | V2_PROXY;
	out[13] = family == 0 ? V2_UNSPEC : family == AF_INET ? V2_TCP4 : V2_TCP6;
	put16(out + 14, (unsigned)dlen);
	if (family != 0) {
		memcpy(out + 16, src->addr, alen);
		memcpy(out + 16 + alen, dst->addr, alen);
		put16(out + 16 + 2 * alen, src->port);
		put16(out + 16 + 2 * alen + 2, dst->port);
	}
	return (int)(PROXYPROTO_V2_HDRLEN + dlen);
}
