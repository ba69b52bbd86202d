/* netaddr.c - IP addresses and CIDR lists; see netaddr.h. */
#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* Does the 16-byte address a start with ::ffff:0:0/96? */
static int
is_v4mapped(const uint8_t *a)
{
	return memcmp(a, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0;
}

void
netaddr_unmap(struct netaddr *a)
{
	if (a->family != AF_INET6 || !is_v4mapped(a->addr))
		return;
	a->family = AF_INET;
	memmove(a->addr, a->addr + 12, 4);
	memset(a->addr + 4, 0, 12);
}

int
netaddr_from_sockaddr(struct netaddr *out, const struct sockaddr *sa)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	memset(out, 0, sizeof(*out));
	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)(const void *)sa;
		out->family = AF_INET;
		memcpy(out->addr, &sin->sin_addr, 4);
		out->port = ntohs(sin->sin_port);
		return 0;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		out->family = AF_INET6;
		memcpy(out->addr, &sin6->sin6_addr, 16);
		out->port = ntohs(sin6->sin6_port);
		netaddr_unmap(out);
		return 0;
	default:
		return -1;
	}
}

int
netaddr_to_sockaddr(const struct netaddr *a, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;

	memset(ss, 0, sizeof(*ss));
	switch (a->family) {
	case AF_INET:
		sin = (struct sockaddr_in *)(void *)ss;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, a->addr, 4);
		sin->sin_port = htons(a->port);
		return (int)sizeof(*sin);
	case AF_INET6:
		sin6 = (struct sockaddr_in6 *)(void *)ss;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, a->addr, 16);
		sin6->sin6_port = htons(a->port);
		return (int)sizeof(*sin6);
	default:
		return -1;
	}
}

/* Append the dotted quad of a[0..4) at p; returns the number of chars. */
static size_t
format_v4(const uint8_t *a, char *p)
{
	size_t n = 0;
	int i;
	unsigned v;

	for (i = 0; i < 4; i++) {
		if (i)
			p[n++] = '.';
		v = a[i];
		if (v >= 100)
			p[n++] = (char)('0' + v / 100);
		if (v >= 10)
			p[n++] = (char)('0' + v / 10 % 10);
		p[n++] = (char)('0' + v % 10);
	}
	return n;
}

/* RFC 5952 text of the 16-byte address a at p; returns the number of chars. */
static size_t
format_v6(const uint8_t *a, char *p)
{
	static const char hex[] = "0123456789abcdef";
	unsigned w[8];
	int i, best = -1, bestlen = 0, run, j, started;
	size_t n = 0;

	for (i = 0; i < 8; i++)
		w[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
	/* The longest run of zero groups (the first one on a tie), if >= 2. */
	for (i = 0; i < 8; i = j) {
		if (w[i] != 0) {
			j = i + 1;
			continue;
		}
		for (j = i; j < 8 && w[j] == 0; j++)
			;
		run = j - i;
		if (run > bestlen) {
			best = i;
			bestlen = run;
		}
	}
	if (bestlen < 2)
		best = -1;
	for (i = 0; i < 8; i++) {
		if (i == best) {
			p[n++] = ':';
			p[n++] = ':';
			i += bestlen - 1;
			continue;
		}
		if (i > 0 && i != best + bestlen)
			p[n++] = ':';
		/* RFC 5952 section 5: IPv4-mapped addresses end in a dotted quad. */
		if (i == 6 && best == 0 && bestlen == 5 && w[5] == 0xffff)
			return n + format_v4(a + 12, p + n);
		started = 0;
		for (j = 12; j >= 0; j -= 4) {
			if (!started && j > 0 && (w[i] >> j & 0xf) == 0)
				continue;
			started = 1;
			p[n++] = hex[w[i] >> j & 0xf];
		}
	}
	return n;
}

int
netaddr_format(const struct netaddr *a, char *dst, size_t len)
{
	char tmp[NETADDR_STRLEN];
	size_t n;

	if (a->family == AF_INET)
		n = format_v4(a->addr, tmp);
	else if (a->family == AF_INET6)
		n = format_v6(a->addr, tmp);
	else
		return -1;
	if (n >= len)
		return -1;
	memcpy(dst, tmp, n);
	dst[n] = '\0';
	return (int)n;
}

/* Strict dotted quad: four decimal 0..255, no leading zeros, nothing else. */
static int
parse_v4(const char *s, uint8_t *a)
{
	int i, digits;
	unsigned v;

	for (i = 0; i < 4; i++) {
		if (i > 0 && *s++ != '.')
			return -1;
		v = 0;
		for (digits = 0; *s >= '0' && *s <= '9'; digits++, s++) {
			if (digits > 0 && v == 0)
				return -1;	/* leading zero */
			v = v * 10 + (unsigned)(*s - '0');
			if (v > 255)
				return -1;
		}
		if (digits == 0)
			return -1;
		a[i] = (uint8_t)v;
	}
	return *s == '\0' ? 0 : -1;
}

int
netaddr_parse(const char *s, struct netaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (parse_v4(s, out->addr) == 0) {
		out->family = AF_INET;
		return 0;
	}
	memset(out->addr, 0, sizeof(out->addr));
	/* inet_pton wants hex, ':' and '.' only; refuse the rest up front. */
	if (*s == '\0' || strspn(s, "0123456789abcdefABCDEF:.") != strlen(s))
		return -1;
	if (inet_pton(AF_INET6, s, out->addr) != 1)
		return -1;
	out->family = AF_INET6;
	netaddr_unmap(out);
	return 0;
}

int
netaddr_equal(const struct netaddr *a, const struct netaddr *b)
{
	size_t n;

	if (a->family != b->family || a->port != b->port)
		return 0;
	n = a->family == AF_INET ? 4 : 16;
	return memcmp(a->addr, b->addr, n) == 0;
}

/* Bits in an address of this family. */
static int
family_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

/* Clear every bit of a after the first prefix bits. */
static void
mask_host_bits(uint8_t *a, int prefix)
{
	int i;

	for (i = 0; i < 16; i++) {
		if (prefix >= 8 * (i + 1))
			continue;
		if (prefix <= 8 * i)
			a[i] = 0;
		else
			a[i] &= (uint8_t)(0xff00 >> (prefix - 8 * i));
	}
}

int
cidr_parse(const char *s, struct cidr *out)
{
	char addr[NETADDR_STRLEN + 8];
	const char *slash, *p;
	struct netaddr na;
	size_t alen;
	int prefix = -1, mapped;

	memset(out, 0, sizeof(*out));
	slash = strchr(s, '/');
	alen = slash ? (size_t)(slash - s) : strlen(s);
	if (alen >= sizeof(addr))
		return -1;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	/* Parse without unmapping, so a mapped network's prefix is still /96+. */
	if (parse_v4(addr, na.addr) == 0) {
		na.family = AF_INET;
		memset(na.addr + 4, 0, 12);
	} else if (addr[0] != '\0' && strspn(addr, "0123456789abcdefABCDEF:.") == alen &&
	    inet_pton(AF_INET6, addr, na.addr) == 1) {
		na.family = AF_INET6;
	} else {
		return -1;
	}
	if (slash) {
		p = slash + 1;
		if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '\0'))
			return -1;
		for (prefix = 0; *p >= '0' && *p <= '9'; p++) {
			prefix = prefix * 10 + (*p - '0');
			if (prefix > 128)
				return -1;
		}
		if (*p != '\0' || prefix > family_bits(na.family))
			return -1;
	} else {
		prefix = family_bits(na.family);
	}
	mapped = na.family == AF_INET6 && prefix >= 96 && is_v4mapped(na.addr);
	if (mapped) {
		out->family = AF_INET;
		memcpy(out->addr, na.addr + 12, 4);
		out->prefix = prefix - 96;
	} else {
		out->family = na.family;
		memcpy(out->addr, na.addr, 16);
		out->prefix = prefix;
	}
	mask_host_bits(out->addr, out->prefix);
	return 0;
}

static const char list_sep[] = " \t,";

int
cidr_list_parse(const char *s, struct cidr_list *out, char *err, size_t errlen)
{
	char tok[NETADDR_STRLEN + 8];
	const char *p;
	size_t n = 0, len;

	memset(out, 0, sizeof(*out));
	if (errlen > 0)
		err[0] = '\0';
	for (p = s + strspn(s, list_sep); *p != '\0'; p += len, p += strspn(p, list_sep)) {
		len = strcspn(p, list_sep);
		n++;
	}
	if (n == 0)
		return 0;
	if ((out->v = calloc(n, sizeof(*out->v))) == NULL) {
		if (errlen > 0)
			snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (p = s + strspn(s, list_sep); *p != '\0'; p += len, p += strspn(p, list_sep)) {
		len = strcspn(p, list_sep);
		if (len < sizeof(tok)) {
			memcpy(tok, p, len);
			tok[len] = '\0';
		}
		if (len >= sizeof(tok) || cidr_parse(tok, &out->v[out->n]) == -1) {
			if (errlen > 0)
				snprintf(err, errlen, "bad network \"%.*s\"", len > 64 ? 64 : (int)len, p);
			cidr_list_free(out);
			return -1;
		}
		out->n++;
	}
	return 0;
}

void
cidr_list_free(struct cidr_list *l)
{
	if (l == NULL)
		return;
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int
cidr_match(const struct cidr *c, const struct netaddr *a)
{
	struct netaddr u = *a;
	int full, rest;

	netaddr_unmap(&u);
	if (c->family != u.family)
		return 0;
	full = c->prefix / 8;
	rest = c->prefix % 8;
	if (memcmp(c->addr, u.addr, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((c->addr[full] ^ u.addr[full]) & (uint8_t)(0xff00 >> rest)) == 0;
}

int
cidr_list_match(const struct cidr_list *l, const struct netaddr *a)
{
	size_t i;

	if (l == NULL || a == NULL)
		return 0;
	for (i = 0; i < l->n; i++)
		if (cidr_match(&l->v[i], a))
			return 1;
	return 0;
}
