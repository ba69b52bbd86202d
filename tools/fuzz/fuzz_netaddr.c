/*
 * fuzz_netaddr.c - libFuzzer driver for proxy/netaddr.c: address text,
 * sockaddr conversion, CIDR networks and lists.
 *
 * Input: byte 0 chooses the mode (byte & 3); the rest is its payload
 * (missing bytes read as zero).
 *   0  text, up to the first NUL, in a heap copy of exactly that size (so
 *      reading past the NUL is an ASan report):
 *      - netaddr_parse() accepts exactly what the reference accepts:
 *        inet_pton(AF_INET) without a leading zero in any quad, or
 *        inet_pton(AF_INET6) of a non-empty string of hex digits, ':' and
 *        '.'; same address, port 0, IPv4-mapped IPv6 as AF_INET, the
 *        unused bytes of an AF_INET address zero;
 *      - what parses formats (netaddr_format) as the reference below,
 *        parses back to an equal address and formats the same again;
 *        an IPv4 text also parses in its "::ffff:a.b.c.d" form;
 *      - cidr_parse() agrees with a reference on the same parsers (prefix
 *        decimal without sign or leading zero, <= 32/128; host bits
 *        cleared; an IPv6 network of /96 or longer inside ::ffff:0:0/96
 *        becomes the IPv4 network); an address is its own host network.
 *   1  a CIDR list: byte 0 >> 2, times 3, is errlen (the exact size of the
 *      heap message buffer, 0..189); then the mode 0 checks on the text.
 *      cidr_list_parse() agrees entry by entry with a reference that
 *      splits on runs of space, tab and comma; on error *out is zeroed, the
 *      message is NUL-terminated within errlen and (errlen >= 100, entry
 *      of at most 40 bytes) quotes the first bad entry; on success err is
 *      ""; every entry formats as "ADDR/N" and parses back to itself; the
 *      list matches each network address (and its mapped form), with
 *      cidr_match() against a bit-by-bit reference and cidr_list_match()
 *      equal to their OR; cidr_list_free() leaves the list zeroed.
 *   2  binary: a selector byte (& 3: AF_INET, AF_INET6, AF_INET6 with the
 *      mapped prefix forced, another family), 16 address bytes, 2 port
 *      bytes, a buffer length (% 47), 2 bytes of IPv6 flow info, a scope
 *      id. netaddr_format() writes what inet_ntop() writes, except that
 *      IPv4-compatible ::a.b.c.d stays hex (RFC 5952 uses the dotted quad
 *      for mapped addresses only); the text parses back to the unmapped
 *      address, and the unmapped address formats canonically; into a heap
 *      buffer of exactly the given length it writes -1 or the whole
 *      string; netaddr_unmap() does what it documents;
 *      netaddr_to_sockaddr() / netaddr_from_sockaddr() round-trip (port
 *      kept, flow info and scope id dropped, mapped addresses unmapped);
 *      another family is refused by every function.
 *   3  match: a selector byte (bits 3-5: networks - 1, bits 1-2: how the
 *      address is made: a network address with at most one bit flipped,
 *      raw bytes, the mapped form of an IPv4 network address, raw IPv6
 *      bytes maybe with the mapped prefix); per network a family byte
 *      (bit 0 IPv6, bit 1 force the mapped prefix), a prefix byte
 *      (% bits + 1) and 16 address bytes (host bits cleared); then the
 *      address bytes. cidr_match() equals the bit-by-bit reference for
 *      every network (raw and normalised), cidr_list_match() their OR
 *      (and 0 for an empty list or NULL); each normalised network formats
 *      as "ADDR/N" and parses back to itself.
 * Any violation aborts.
 *
 *   ./build-fuzz/tools/fuzz/fuzz_netaddr -dict=tools/fuzz/fuzz_netaddr.dict CORPUS_DIR
 *   (seeds: test/fuzz/netaddr)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "fuzz_check.h"
#include "netaddr.h"

#define MAX_ENTRIES 8

static const uint8_t mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* Bytes of the payload, zero past its end. */
struct reader {
	const uint8_t *p;
	size_t n, i;
};

static uint8_t
take(struct reader *r)
{
	return r->i < r->n ? r->p[r->i++] : 0;
}

/* The input up to its first NUL, in a heap block of exactly that size plus the NUL. */
static char *
heap_string(const uint8_t *p, size_t n)
{
	const uint8_t *nul = memchr(p, '\0', n);
	char *s;

	if (nul != NULL)
		n = (size_t)(nul - p);
	s = malloc(n + 1);
	FUZZ_CHECK(s != NULL);
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* --- references --- */

static int
is_mapped16(const uint8_t *a)
{
	return memcmp(a, mapped_prefix, sizeof(mapped_prefix)) == 0;
}

/* What netaddr_unmap() is documented to do, on a copy. */
static struct netaddr
ref_unmap(const struct netaddr *a)
{
	struct netaddr u = *a;

	if (u.family == AF_INET6 && is_mapped16(u.addr)) {
		u.family = AF_INET;
		memmove(u.addr, u.addr + 12, 4);
		memset(u.addr + 4, 0, 12);
	}
	return u;
}

/* Does some dotted quad of s start with a 0 followed by another digit? */
static int
has_leading_zero(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (s[i] == '0' && (i == 0 || s[i - 1] == '.') && s[i + 1] >= '0' && s[i + 1] <= '9')
			return 1;
	return 0;
}

/*
 * The reference parser: inet_pton() plus the documented differences.
 * Leaves mapped IPv6 addresses alone (the caller unmaps). 0 or -1.
 */
static int
ref_parse_raw(const char *s, struct netaddr *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, out->addr) == 1) {
		out->family = AF_INET;
		/* Stricter than inet_aton-style parsers: "010.0.0.1" is refused. */
		return has_leading_zero(s) ? -1 : 0;
	}
	memset(out->addr, 0, sizeof(out->addr));
	if (s[0] == '\0' || strspn(s, "0123456789abcdefABCDEF:.") != strlen(s))
		return -1;
	if (inet_pton(AF_INET6, s, out->addr) != 1)
		return -1;
	out->family = AF_INET6;
	return 0;
}

static int
ref_parse(const char *s, struct netaddr *out)
{
	if (ref_parse_raw(s, out) != 0)
		return -1;
	*out = ref_unmap(out);
	return 0;
}

static int
family_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

static int
get_bit(const uint8_t *a, int i)
{
	return a[i / 8] >> (7 - i % 8) & 1;
}

/* Clear bit by bit every bit from prefix on. */
static void
ref_mask(uint8_t *a, int prefix)
{
	int i;

	for (i = prefix; i < 128; i++)
		a[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
}

/* A network as cidr_parse() stores it: mapped /96+ as IPv4, host bits cleared. */
static void
ref_normalise(struct cidr *c)
{
	if (c->family == AF_INET6 && c->prefix >= 96 && is_mapped16(c->addr)) {
		c->family = AF_INET;
		memmove(c->addr, c->addr + 12, 4);
		memset(c->addr + 4, 0, 12);
		c->prefix -= 96;
	}
	ref_mask(c->addr, c->prefix);
}

/* The reference for cidr_parse() on the NUL-terminated s. */
static int
ref_cidr_parse(const char *s, struct cidr *out)
{
	const char *slash = strchr(s, '/');
	struct netaddr na;
	char *addr;
	size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	size_t ndig;
	int r, prefix, i;

	memset(out, 0, sizeof(*out));
	addr = malloc(alen + 1);
	FUZZ_CHECK(addr != NULL);
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	r = ref_parse_raw(addr, &na);
	free(addr);
	if (r != 0)
		return -1;
	if (slash == NULL) {
		prefix = family_bits(na.family);
	} else {
		ndig = strlen(slash + 1);
		if (ndig == 0 || ndig > 3 || strspn(slash + 1, "0123456789") != ndig)
			return -1;
		if (ndig > 1 && slash[1] == '0')
			return -1;
		for (prefix = 0, i = 1; slash[i] != '\0'; i++)
			prefix = prefix * 10 + (slash[i] - '0');
		if (prefix > family_bits(na.family))
			return -1;
	}
	out->family = na.family;
	memcpy(out->addr, na.addr, 16);
	out->prefix = prefix;
	ref_normalise(out);
	return 0;
}

/* The reference for cidr_match(): unmap, same family, then bit by bit. */
static int
ref_match(const struct cidr *c, const struct netaddr *a)
{
	struct netaddr u = ref_unmap(a);
	int i;

	if (c->family != u.family)
		return 0;
	for (i = 0; i < c->prefix; i++)
		if (get_bit(c->addr, i) != get_bit(u.addr, i))
			return 0;
	return 1;
}

static int
same_cidr(const struct cidr *a, const struct cidr *b)
{
	return a->family == b->family && a->prefix == b->prefix && memcmp(a->addr, b->addr, 16) == 0;
}

/* Lowercase hex of v without leading zeros, at p; returns the length. */
static size_t
hex16(unsigned v, char *p)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[4];
	size_t n = 0, k = 0;

	do {
		tmp[n++] = digits[v & 0xf];
		v >>= 4;
	} while (v != 0);
	while (n > 0)
		p[k++] = tmp[--n];
	return k;
}

/*
 * What netaddr_format() should write: inet_ntop()'s text, except for the
 * IPv4-compatible ::a.b.c.d that some inet_ntop()s print dotted; RFC 5952
 * keeps the dotted quad for mapped addresses only.
 */
static void
ref_format(const struct netaddr *a, char *out, size_t len)
{
	static const uint8_t zeros[12];
	size_t n;

	if (a->family == AF_INET6 && memcmp(a->addr, zeros, 12) == 0 && (a->addr[12] | a->addr[13]) != 0) {
		FUZZ_CHECK(len >= 12);
		memcpy(out, "::", 2);
		n = 2 + hex16((unsigned)a->addr[12] << 8 | a->addr[13], out + 2);
		out[n++] = ':';
		n += hex16((unsigned)a->addr[14] << 8 | a->addr[15], out + n);
		out[n] = '\0';
		return;
	}
	FUZZ_CHECK(inet_ntop(a->family, a->addr, out, (socklen_t)len) != NULL);
}

/* --- checks --- */

/* The text of a agrees with the reference; returns its length. */
static int
format_ref_checked(const struct netaddr *a, char *s)
{
	char ref[64];
	int n;

	n = netaddr_format(a, s, NETADDR_STRLEN);
	FUZZ_CHECK(n > 0 && (size_t)n == strlen(s) && n < NETADDR_STRLEN);
	ref_format(a, ref, sizeof(ref));
	if (strcmp(s, ref) != 0) {
		fprintf(stderr, "netaddr_format \"%s\", reference \"%s\"\n", s, ref);
		FUZZ_CHECK(!"netaddr_format agrees with the reference");
	}
	return n;
}

/*
 * a (any AF_INET/AF_INET6 bytes, mapped too) formats as the reference and
 * parses back to the unmapped a; the unmapped a formats canonically.
 */
static void
check_format(const struct netaddr *a)
{
	char s[NETADDR_STRLEN], su[NETADDR_STRLEN], s2[NETADDR_STRLEN];
	struct netaddr b, u;
	int n;

	u = ref_unmap(a);
	u.port = 0;
	format_ref_checked(a, s);
	FUZZ_CHECK(netaddr_parse(s, &b) == 0);
	FUZZ_CHECK(netaddr_equal(&b, &u));

	/* Canonical: format(parse(format(u))) == format(u). */
	n = format_ref_checked(&u, su);
	if (u.family == AF_INET6)
		FUZZ_CHECK(strchr(su, '.') == NULL);
	FUZZ_CHECK(netaddr_parse(su, &b) == 0);
	FUZZ_CHECK(netaddr_equal(&b, &u));
	FUZZ_CHECK(netaddr_format(&b, s2, sizeof(s2)) == n);
	FUZZ_CHECK(strcmp(su, s2) == 0);
}

/* netaddr_format() into a heap buffer of exactly len bytes. */
static void
check_format_len(const struct netaddr *a, size_t len)
{
	char full[NETADDR_STRLEN], *p;
	int n, r;

	n = netaddr_format(a, full, sizeof(full));
	FUZZ_CHECK(n > 0);
	p = malloc(len > 0 ? len : 1);
	FUZZ_CHECK(p != NULL);
	r = netaddr_format(a, p, len);
	if ((size_t)n >= len) {
		FUZZ_CHECK(r == -1);
	} else {
		FUZZ_CHECK(r == n);
		FUZZ_CHECK(strcmp(p, full) == 0);
	}
	free(p);
}

/* a (port included) through a sockaddr and back: the unmapped a. */
static void
check_sockaddr(const struct netaddr *a)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)&ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)&ss;
	static const uint8_t zeros[12];
	struct netaddr b, u = ref_unmap(a);
	int n;

	memset(&ss, 0xa5, sizeof(ss));
	n = netaddr_to_sockaddr(a, &ss);
	if (a->family == AF_INET) {
		FUZZ_CHECK(n == (int)sizeof(struct sockaddr_in));
		FUZZ_CHECK(sin->sin_family == AF_INET && ntohs(sin->sin_port) == a->port);
		FUZZ_CHECK(memcmp(&sin->sin_addr, a->addr, 4) == 0);
	} else {
		FUZZ_CHECK(n == (int)sizeof(struct sockaddr_in6));
		FUZZ_CHECK(sin6->sin6_family == AF_INET6 && ntohs(sin6->sin6_port) == a->port);
		FUZZ_CHECK(memcmp(&sin6->sin6_addr, a->addr, 16) == 0);
		FUZZ_CHECK(sin6->sin6_flowinfo == 0 && sin6->sin6_scope_id == 0);
	}
	memset(&b, 0xa5, sizeof(b));
	FUZZ_CHECK(netaddr_from_sockaddr(&b, (const struct sockaddr *)&ss) == 0);
	FUZZ_CHECK(netaddr_equal(&b, &u));
	if (b.family == AF_INET)
		FUZZ_CHECK(memcmp(b.addr + 4, zeros, 12) == 0);
}

/* Mode 0: one address (and one network) as text. */
static void
check_addr_text(const char *s)
{
	static const uint8_t zeros[12];
	struct netaddr a, ref, b;
	struct cidr c, cref;
	char mapped[NETADDR_STRLEN + 8];
	int r, rr;

	r = netaddr_parse(s, &a);
	rr = ref_parse(s, &ref);
	if ((r == 0) != (rr == 0)) {
		fprintf(stderr, "\"%s\": netaddr_parse %d, reference %d\n", s, r, rr);
		FUZZ_CHECK(!"netaddr_parse accepts what the reference accepts");
	}
	if (r == 0) {
		FUZZ_CHECK(a.family == AF_INET || (a.family == AF_INET6 && !is_mapped16(a.addr)));
		FUZZ_CHECK(a.port == 0);
		if (a.family == AF_INET)
			FUZZ_CHECK(memcmp(a.addr + 4, zeros, 12) == 0);
		FUZZ_CHECK(netaddr_equal(&a, &ref));
		check_format(&a);
		/* Every IPv4 address also reads as its mapped IPv6 form. */
		if (a.family == AF_INET && strchr(s, ':') == NULL) {
			memcpy(mapped, "::ffff:", 7);
			memcpy(mapped + 7, s, strlen(s) + 1);
			FUZZ_CHECK(netaddr_parse(mapped, &b) == 0 && netaddr_equal(&a, &b));
		}
	}

	r = cidr_parse(s, &c);
	rr = ref_cidr_parse(s, &cref);
	if ((r == 0) != (rr == 0)) {
		fprintf(stderr, "\"%s\": cidr_parse %d, reference %d\n", s, r, rr);
		FUZZ_CHECK(!"cidr_parse accepts what the reference accepts");
	}
	if (r == 0)
		FUZZ_CHECK(same_cidr(&c, &cref));
	/* An address is a network: its own host (mapped: the IPv4 host). */
	if (netaddr_parse(s, &a) == 0) {
		FUZZ_CHECK(r == 0);
		FUZZ_CHECK(c.family == a.family && c.prefix == family_bits(a.family));
		FUZZ_CHECK(memcmp(c.addr, a.addr, 16) == 0);
		FUZZ_CHECK(cidr_match(&c, &a));
	}
}

/* "ADDR/N" of c parses back to c. */
static void
check_cidr_text(const struct cidr *c)
{
	char s[NETADDR_STRLEN + 8];
	struct netaddr a;
	struct cidr back;
	int n;

	memset(&a, 0, sizeof(a));
	a.family = c->family;
	memcpy(a.addr, c->addr, 16);
	n = netaddr_format(&a, s, NETADDR_STRLEN);
	FUZZ_CHECK(n > 0);
	snprintf(s + n, sizeof(s) - (size_t)n, "/%d", c->prefix);
	FUZZ_CHECK(cidr_parse(s, &back) == 0);
	if (!same_cidr(c, &back)) {
		fprintf(stderr, "\"%s\" parses to another network (family %d, /%d)\n", s, back.family,
		    back.prefix);
		FUZZ_CHECK(!"a network formats and parses back to itself");
	}
}

/* cidr_match() against the reference for each entry, cidr_list_match() against their OR. */
static void
check_list_match(const struct cidr_list *l, const struct netaddr *a)
{
	size_t i;
	int any = 0, m;

	for (i = 0; i < l->n; i++) {
		m = cidr_match(&l->v[i], a);
		FUZZ_CHECK(m == 0 || m == 1);
		if (m != ref_match(&l->v[i], a)) {
			fprintf(stderr, "entry %zu (family %d, /%d): cidr_match %d, reference %d\n", i,
			    l->v[i].family, l->v[i].prefix, m, !m);
			FUZZ_CHECK(!"cidr_match agrees with the bit-by-bit reference");
		}
		any |= m;
	}
	FUZZ_CHECK(cidr_list_match(l, a) == any);
	FUZZ_CHECK(cidr_list_match(NULL, a) == 0);
	FUZZ_CHECK(cidr_list_match(l, NULL) == 0);
}

static int
is_sep(char ch)
{
	return ch == ' ' || ch == '\t' || ch == ',';
}

/* Mode 1: a CIDR list with a message buffer of exactly errlen bytes. */
static void
check_list_text(const char *s, size_t errlen)
{
	struct cidr_list l;
	struct netaddr a;
	struct cidr *ref;
	const char *p;
	char *err, *tok, *bad = NULL;
	size_t nref = 0, len = 0, i;
	int r, ref_ok = 1;

	/* The reference: split on runs of separators, each token through ref_cidr_parse. */
	ref = calloc(strlen(s) / 2 + 1, sizeof(*ref));	/* tokens are at least 2 bytes apart */
	FUZZ_CHECK(ref != NULL);
	for (p = s; *p != '\0'; p += len) {
		while (is_sep(*p))
			p++;
		for (len = 0; p[len] != '\0' && !is_sep(p[len]); len++)
			;
		if (len == 0)
			break;
		tok = malloc(len + 1);
		FUZZ_CHECK(tok != NULL);
		memcpy(tok, p, len);
		tok[len] = '\0';
		if (ref_cidr_parse(tok, &ref[nref]) != 0) {
			ref_ok = 0;
			bad = tok;
			break;
		}
		free(tok);
		nref++;
	}

	err = malloc(errlen > 0 ? errlen : 1);
	FUZZ_CHECK(err != NULL);
	memset(err, 'x', errlen > 0 ? errlen : 1);
	memset(&l, 0xa5, sizeof(l));
	r = cidr_list_parse(s, &l, err, errlen);
	if ((r == 0) != ref_ok) {
		fprintf(stderr, "cidr_list_parse %d, reference %s\n", r, ref_ok ? "ok" : "error");
		FUZZ_CHECK(!"cidr_list_parse accepts what the reference accepts");
	}
	if (r != 0) {
		FUZZ_CHECK(l.v == NULL && l.n == 0);
		if (errlen > 0) {
			FUZZ_CHECK(memchr(err, '\0', errlen) != NULL);
			/* With room for it, the message quotes the first bad entry. */
			if (errlen >= 100 && strlen(bad) <= 40)
				FUZZ_CHECK(strstr(err, bad) != NULL);
		}
		free(bad);
		free(err);
		free(ref);
		return;
	}
	if (errlen > 0)
		FUZZ_CHECK(err[0] == '\0');
	free(err);
	FUZZ_CHECK(l.n == nref && (l.n == 0) == (l.v == NULL));
	for (i = 0; i < l.n; i++) {
		FUZZ_CHECK(same_cidr(&l.v[i], &ref[i]));
		FUZZ_CHECK(l.v[i].prefix >= 0 && l.v[i].prefix <= family_bits(l.v[i].family));
		check_cidr_text(&l.v[i]);
	}
	/* Each network address is in the list; also in its mapped form. */
	for (i = 0; i < l.n && i < 16; i++) {
		memset(&a, 0, sizeof(a));
		a.family = l.v[i].family;
		memcpy(a.addr, l.v[i].addr, 16);
		check_list_match(&l, &a);
		FUZZ_CHECK(cidr_list_match(&l, &a) == 1);
		if (a.family == AF_INET) {
			memmove(a.addr + 12, a.addr, 4);
			memcpy(a.addr, mapped_prefix, 12);
			a.family = AF_INET6;
			a.port = 25;
			FUZZ_CHECK(cidr_list_match(&l, &a) == 1);
		}
	}
	cidr_list_free(&l);
	FUZZ_CHECK(l.v == NULL && l.n == 0);
	cidr_list_free(&l);
	cidr_list_free(NULL);
	free(ref);
}

/* Mode 2: an address from raw bytes. */
static void
check_binary(struct reader *rd)
{
	struct netaddr a, u, b;
	struct sockaddr_in6 sin6;
	struct sockaddr_un sun;
	struct sockaddr_storage ss;
	char s[NETADDR_STRLEN];
	uint8_t sel = take(rd), flen;
	uint32_t flow, scope;
	int i;

	memset(&a, 0, sizeof(a));
	switch (sel & 3) {
	case 0:
		a.family = AF_INET;
		break;
	case 1:
		a.family = AF_INET6;
		break;
	case 2:
		a.family = AF_INET6;	/* mapped, by hand */
		break;
	default:
		a.family = sel >> 2 == 0 ? AF_UNIX : (int)(sel >> 2);
		if (a.family == AF_INET || a.family == AF_INET6)
			a.family = AF_UNSPEC;
		break;
	}
	for (i = 0; i < 16; i++)
		a.addr[i] = take(rd);
	if (a.family == AF_INET)
		memset(a.addr + 4, 0, 12);
	if ((sel & 3) == 2)
		memcpy(a.addr, mapped_prefix, 12);
	a.port = (uint16_t)(take(rd) << 8);
	a.port |= take(rd);
	flen = take(rd);
	flow = (uint32_t)take(rd) << 24 | (uint32_t)take(rd);
	scope = take(rd);

	if (a.family != AF_INET && a.family != AF_INET6) {
		FUZZ_CHECK(netaddr_format(&a, s, sizeof(s)) == -1);
		FUZZ_CHECK(netaddr_to_sockaddr(&a, &ss) == -1);
		b = a;
		netaddr_unmap(&b);
		FUZZ_CHECK(memcmp(&a, &b, sizeof(a)) == 0);
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		FUZZ_CHECK(netaddr_from_sockaddr(&b, (const struct sockaddr *)&sun) == -1);
		return;
	}

	/* netaddr_unmap() in place, as documented. */
	u = a;
	netaddr_unmap(&u);
	b = ref_unmap(&a);
	FUZZ_CHECK(memcmp(&u, &b, sizeof(u)) == 0);
	FUZZ_CHECK(netaddr_equal(&a, &a));
	b = a;
	b.port ^= 1;
	FUZZ_CHECK(!netaddr_equal(&a, &b));

	check_format(&a);
	check_format_len(&a, flen % (NETADDR_STRLEN + 1));
	check_sockaddr(&a);
	check_sockaddr(&u);

	/* A sockaddr_in6 from the kernel: flow info and scope id are dropped. */
	if (a.family == AF_INET6) {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(a.port);
		sin6.sin6_flowinfo = flow;
		sin6.sin6_scope_id = scope;
		memcpy(&sin6.sin6_addr, a.addr, 16);
		memset(&b, 0xa5, sizeof(b));
		FUZZ_CHECK(netaddr_from_sockaddr(&b, (const struct sockaddr *)&sin6) == 0);
		FUZZ_CHECK(netaddr_equal(&b, &u));
	}
}

/* Mode 3: networks and an address from raw bytes. */
static void
check_match(struct reader *rd)
{
	struct cidr v[MAX_ENTRIES];
	struct cidr_list l, empty = { NULL, 0 };
	struct netaddr a;
	uint8_t sel = take(rd), fam, f;
	size_t n = 1 + (sel >> 3 & 7), i, k;
	int bits;

	for (i = 0; i < n; i++) {
		fam = take(rd);
		memset(&v[i], 0, sizeof(v[i]));
		v[i].family = fam & 1 ? AF_INET6 : AF_INET;
		v[i].prefix = take(rd) % (family_bits(v[i].family) + 1);
		for (k = 0; k < 16; k++)
			v[i].addr[k] = take(rd);
		if (v[i].family == AF_INET)
			memset(v[i].addr + 4, 0, 12);
		else if (fam & 2)
			memcpy(v[i].addr, mapped_prefix, 12);
		/* A struct cidr has no host bits (as cidr_parse() leaves it). */
		ref_mask(v[i].addr, v[i].prefix);
	}
	l.v = v;
	l.n = n;

	memset(&a, 0, sizeof(a));
	f = take(rd);
	switch (sel >> 1 & 3) {
	case 0:
		/* A network address with at most one bit flipped. */
		k = f % n;
		a.family = v[k].family;
		memcpy(a.addr, v[k].addr, 16);
		bits = family_bits(a.family);
		f = take(rd);
		if (!(f & 0x80))
			a.addr[(f % bits) / 8] ^= (uint8_t)(0x80 >> (f % bits % 8));
		break;
	case 1:
		a.family = f & 1 ? AF_INET6 : AF_INET;
		for (k = 0; k < 16; k++)
			a.addr[k] = take(rd);
		if (a.family == AF_INET)
			memset(a.addr + 4, 0, 12);
		break;
	case 2:
		/* The mapped form of an IPv4 network address (bit flipped as above). */
		k = f % n;
		a.family = AF_INET6;
		memcpy(a.addr, mapped_prefix, 12);
		memcpy(a.addr + 12, v[k].addr, 4);
		f = take(rd);
		if (!(f & 0x80))
			a.addr[12 + (f & 31) / 8] ^= (uint8_t)(0x80 >> (f & 7));
		break;
	default:
		/* Raw 16 bytes that may look mapped. */
		a.family = AF_INET6;
		for (k = 0; k < 16; k++)
			a.addr[k] = take(rd);
		if (f & 1)
			memcpy(a.addr, mapped_prefix, 12);
		break;
	}
	a.port = take(rd);

	check_list_match(&l, &a);
	FUZZ_CHECK(cidr_list_match(&empty, &a) == 0);
	for (i = 0; i < n; i++) {
		struct cidr c = v[i];

		ref_normalise(&c);
		check_cidr_text(&c);
		/* The normalised network against the reference too. */
		FUZZ_CHECK(cidr_match(&c, &a) == ref_match(&c, &a));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader rd;
	char *s;

	if (size == 0)
		return 0;
	rd.p = data + 1;
	rd.n = size - 1;
	rd.i = 0;
	switch (data[0] & 3) {
	case 0:
		s = heap_string(data + 1, size - 1);
		check_addr_text(s);
		free(s);
		break;
	case 1:
		s = heap_string(data + 1, size - 1);
		check_list_text(s, (size_t)(data[0] >> 2) * 3);
		check_addr_text(s);
		free(s);
		break;
	case 2:
		check_binary(&rd);
		break;
	default:
		check_match(&rd);
		break;
	}
	return 0;
}
