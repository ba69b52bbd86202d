/* test_proxyproto.c - unit tests for proxy/proxyproto.c (PROXY protocol v1 and v2). */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "netaddr.h"
#include "proxyproto.h"

#define S(lit) (const uint8_t *)(lit), (sizeof(lit) - 1)

/* "ADDR PORT" of a, for messages. */
static const char *
show(const struct netaddr *a, char *buf, size_t len)
{
	char s[NETADDR_STRLEN];

	if (netaddr_format(a, s, sizeof(s)) == -1)
		snprintf(s, sizeof(s), "(family %d)", a->family);
	snprintf(buf, len, "%s %u", s, (unsigned)a->port);
	return buf;
}

static struct netaddr
addr(const char *s, uint16_t port)
{
	struct netaddr a;

	if (netaddr_parse(s, &a) == -1) {
		fprintf(stderr, "bad test address %s\n", s);
		abort();
	}
	a.port = port;
	return a;
}

/* Every proper prefix of p[0..n) must ask for more bytes; returns the number that did not. */
static int
prefixes_need_more(const uint8_t *p, size_t n)
{
	struct proxyproto_hdr h;
	size_t k;
	int bad = 0;

	for (k = 0; k < n; k++) {
		if (proxyproto_parse(p, k, &h) != 0) {
			fprintf(stderr, "  prefix of %zu bytes (of %zu) gave %d\n", k, n, proxyproto_parse(p, k, &h));
			bad++;
		}
	}
	return bad;
}

/*
 * p[0..n) is a complete v1 header of n bytes for src and dst (both NULL
 * for a local header): checks its parse, its prefixes, and that bytes
 * after it change nothing.
 */
static void
check_valid(const uint8_t *p, size_t n, int version, const struct netaddr *src, const struct netaddr *dst)
{
	struct proxyproto_hdr h;
	uint8_t *more;
	char b1[80], b2[80];
	int r;

	r = proxyproto_parse(p, n, &h);
	if (r != (int)n)
		fprintf(stderr, "  valid header of %zu bytes gave %d\n", n, r);
	CHECK(r == (int)n);
	CHECK(h.version == version);
	if (src == NULL) {
		CHECK(h.local == 1);
		CHECK(h.src.family == 0 && h.dst.family == 0);
	} else {
		CHECK(h.local == 0);
		if (!netaddr_equal(&h.src, src))
			fprintf(stderr, "  src %s, want %s\n", show(&h.src, b1, sizeof(b1)), show(src, b2, sizeof(b2)));
		CHECK(netaddr_equal(&h.src, src));
		if (!netaddr_equal(&h.dst, dst))
			fprintf(stderr, "  dst %s, want %s\n", show(&h.dst, b1, sizeof(b1)), show(dst, b2, sizeof(b2)));
		CHECK(netaddr_equal(&h.dst, dst));
	}
	CHECK(prefixes_need_more(p, n) == 0);

	/* The SMTP session that follows is not part of the header. */
	more = malloc(n + 64);
	memcpy(more, p, n);
	memcpy(more + n, "EHLO client.example\r\n\r\n\0\r\nQUIT\nPROXY TCP4 1.1.1.1 2.2.2.2 1 2\r\n", 64);
	CHECK(proxyproto_parse(more, n + 64, &h) == (int)n);
	CHECK(proxyproto_parse(more, n + 1, &h) == (int)n);
	free(more);
}

static void
check_invalid(const uint8_t *p, size_t n, int line)
{
	struct proxyproto_hdr h;
	int r = proxyproto_parse(p, n, &h);

	if (r != -1)
		fprintf(stderr, "%s:%d: malformed header of %zu bytes gave %d\n", __FILE__, line, n, r);
	CHECK(r == -1);
}

#define INVALID(lit) check_invalid(S(lit), __LINE__)

static void
check_more(const uint8_t *p, size_t n, int line)
{
	struct proxyproto_hdr h;
	int r = proxyproto_parse(p, n, &h);

	if (r != 0)
		fprintf(stderr, "%s:%d: partial header of %zu bytes gave %d\n", __FILE__, line, n, r);
	CHECK(r == 0);
}

#define MORE(lit) check_more(S(lit), __LINE__)

static void
test_v1_valid(void)
{
	struct netaddr s4 = addr("192.0.2.1", 56324), d4 = addr("198.51.100.2", 25);
	struct netaddr s6 = addr("2001:db8::1", 65535), d6 = addr("2001:db8:0:1::2", 0);
	struct netaddr m1 = addr("203.0.113.5", 1), m2 = addr("203.0.113.6", 2);
	struct netaddr z1 = addr("0.0.0.0", 0), z2 = addr("255.255.255.255", 65535);
	uint8_t line[200];

	check_valid(S("PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n"), 1, &s4, &d4);
	check_valid(S("PROXY TCP6 2001:db8::1 2001:db8:0:1::2 65535 0\r\n"), 1, &s6, &d6);
	check_valid(S("PROXY TCP6 2001:DB8:0:0:0:0:0:1 2001:0db8:0000:0001:0000:0000:0000:0002 65535 0\r\n"), 1, &s6, &d6);
	/* A TCP6 header with mapped addresses yields IPv4 addresses. */
	check_valid(S("PROXY TCP6 ::ffff:203.0.113.5 ::ffff:203.0.113.6 1 2\r\n"), 1, &m1, &m2);
	check_valid(S("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n"), 1, &z1, &z2);
	check_valid(S("PROXY UNKNOWN\r\n"), 1, NULL, NULL);
	check_valid(S("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"), 1, NULL, NULL);
	check_valid(S("PROXY UNKNOWN anything \t goes (here)\r\n"), 1, NULL, NULL);
	check_valid(S("PROXY UNKNOWN \r\n"), 1, NULL, NULL);

	/* The longest line: 107 bytes with the CRLF. */
	memcpy(line, "PROXY UNKNOWN ", 14);
	memset(line + 14, 'x', 91);
	memcpy(line + 105, "\r\n", 2);
	check_valid(line, 107, 1, NULL, NULL);
	CHECK(PROXYPROTO_V1_MAXLEN == 107);
}

static void
test_v1_invalid(void)
{
	uint8_t line[200];

	INVALID("GET / HTTP/1.0\r\n");
	INVALID("EHLO client.example\r\n");
	MORE("\r\n");			/* the start of a v2 signature */
	INVALID("\r\n\r\nX");
	INVALID("\n");
	INVALID("proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
	INVALID("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n");
	INVALID("PROXY\r\n");
	INVALID("PROXY \r\n");
	INVALID("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
	INVALID("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n");
	INVALID("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n");
	INVALID("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n\r\n");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1\0 2\r\n");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8\r\n");
	INVALID("PROXY TCP4 1.2.3.4\r\n");
	INVALID("PROXY TCP4\r\n");
	INVALID("PROXY TCP4 \r\n");
	INVALID("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n");
	INVALID("PROXY TCP 1.2.3.4 5.6.7.8 1 2\r\n");
	INVALID("PROXY TCP44 1.2.3.4 5.6.7.8 1 2\r\n");
	INVALID("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n");
	INVALID("PROXY UNKNOWNX\r\n");
	INVALID("PROXY UNKNOWN\t\r\n");
	INVALID("PROXY UNKNOWN x\0y\r\n");
	INVALID("PROXY UNKNOWN\n");
	INVALID("PROXY UNKNOWN\r\r\n");
	/* Addresses that do not match the protocol, or are not addresses. */
	INVALID("PROXY TCP4 ::1 ::2 1 2\r\n");
	INVALID("PROXY TCP4 1.2.3.4 ::2 1 2\r\n");
	INVALID("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n");
	INVALID("PROXY TCP6 ::1 5.6.7.8 1 2\r\n");
	INVALID("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n");
	INVALID("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n");
	INVALID("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n");
	INVALID("PROXY TCP4 1.2.3.4. 5.6.7.8 1 2\r\n");
	INVALID("PROXY TCP4 localhost 5.6.7.8 1 2\r\n");
	INVALID("PROXY TCP4 [1.2.3.4] 5.6.7.8 1 2\r\n");
	INVALID("PROXY TCP6 [::1] ::2 1 2\r\n");
	INVALID("PROXY TCP6 fe80::1%lo ::2 1 2\r\n");
	INVALID("PROXY TCP6 ::1::2 ::2 1 2\r\n");
	INVALID("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::2 1 2\r\n");
	INVALID("PROXY TCP6 ::g ::2 1 2\r\n");
	INVALID("PROXY TCP6 ::1 ::2/64 1 2\r\n");
	/* Ports. */
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 0x10 2\r\n");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1a 2\r\n");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1 2a\r\n");

	/* Too long: 108 bytes with the CRLF, or 107 bytes and no CRLF. */
	memcpy(line, "PROXY UNKNOWN ", 14);
	memset(line + 14, 'x', 92);
	memcpy(line + 106, "\r\n", 2);
	check_invalid(line, 108, __LINE__);
	check_invalid(line, 107, __LINE__);	/* the CR is the 107th byte: no room for the LF */
	check_more(line, 106, __LINE__);
	memset(line + 14, 'x', 150);
	check_invalid(line, 107, __LINE__);
	check_invalid(line, 164, __LINE__);
	check_more(line, 106, __LINE__);
}

/* Beginnings that can already be refused, and ones that cannot. */
static void
test_v1_partial(void)
{
	MORE("");
	MORE("P");
	MORE("PROX");
	MORE("PROXY ");
	MORE("PROXY T");
	MORE("PROXY TCP");
	MORE("PROXY U");
	MORE("PROXY UNKNOWN");
	MORE("PROXY UNKNOWN ");
	MORE("PROXY UNKNOWN junk");
	MORE("PROXY TCP4 ");
	MORE("PROXY TCP4 1.2.3");
	MORE("PROXY TCP4 1.2.3.4 ");
	MORE("PROXY TCP4 1.2.3.4 5.6.7.8 6553");
	MORE("PROXY TCP4 1.2.3.4 5.6.7.8 65535 0");
	MORE("PROXY TCP4 1.2.3.4 5.6.7.8 65535 0\r");
	MORE("PROXY TCP6 ::ffff:1.2.");

	INVALID("X");
	INVALID("PROXX");
	INVALID("PROXY\r");
	INVALID("PROXY  ");
	INVALID("PROXY X");
	INVALID("PROXY TCP7");
	INVALID("PROXY TCP4X");
	INVALID("PROXY UNKNOWNX");
	INVALID("PROXY TCP4 ::");
	INVALID("PROXY TCP4 1.2.3.4.5 ");	/* complete token, checked at once */
	INVALID("PROXY TCP4 1.2.3.4  ");
	INVALID("PROXY TCP4 255.255.255.2555");
	INVALID("PROXY TCP6 1111:2222:3333:4444:5555:6666:7777:8888:9999:a");	/* 46 characters */
	INVALID("PROXY TCP6 ::1 ::x");
	MORE("PROXY TCP4 1.2.3.4 5.6.7.8 0");
	MORE("PROXY TCP6 1:2:3:4:5:6:7:8:1.2.3.4:1:2:3");	/* only the characters can be judged */
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 01");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 65536");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 655350");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n");
	INVALID("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\0");
}

static void
test_v1_build(void)
{
	struct netaddr s4 = addr("192.0.2.1", 56324), d4 = addr("198.51.100.2", 25);
	struct netaddr s6 = addr("2001:db8::1", 65535), d6 = addr("2001:db8:0:1::2", 0);
	char out[PROXYPROTO_V1_BUILDLEN + 1];
	int n;

	n = proxyproto_build_v1(&s4, &d4, out, sizeof(out));
	CHECK(n == 44);
	out[n > 0 ? n : 0] = '\0';
	CHECK_STR(out, "PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n");
	CHECK(proxyproto_build_v1(&s4, &d4, out, 44) == 44);
	CHECK(proxyproto_build_v1(&s4, &d4, out, 43) == -1);
	CHECK(proxyproto_build_v1(&s4, &d4, out, 0) == -1);

	n = proxyproto_build_v1(&s6, &d6, out, sizeof(out));
	CHECK(n == 48);
	out[n > 0 ? n : 0] = '\0';
	CHECK_STR(out, "PROXY TCP6 2001:db8::1 2001:db8:0:1::2 65535 0\r\n");

	/* The longest TCP6 line fits in PROXYPROTO_V1_BUILDLEN. */
	s6 = addr("1111:2222:3333:4444:5555:6666:7777:8888", 65535);
	d6 = addr("9999:aaaa:bbbb:cccc:dddd:eeee:ffff:1234", 65535);
	n = proxyproto_build_v1(&s6, &d6, out, PROXYPROTO_V1_BUILDLEN);
	CHECK(n == 104);
	out[n > 0 ? n : 0] = '\0';
	CHECK_STR(out, "PROXY TCP6 1111:2222:3333:4444:5555:6666:7777:8888 9999:aaaa:bbbb:cccc:dddd:eeee:ffff:1234 65535 65535\r\n");

	/* Mixed, missing or unknown families. */
	n = proxyproto_build_v1(&s4, &d6, out, sizeof(out));
	CHECK(n == 15);
	out[n > 0 ? n : 0] = '\0';
	CHECK_STR(out, "PROXY UNKNOWN\r\n");
	CHECK(proxyproto_build_v1(NULL, &d4, out, sizeof(out)) == 15);
	CHECK(proxyproto_build_v1(&s4, NULL, out, sizeof(out)) == 15);
	CHECK(proxyproto_build_v1(NULL, NULL, out, 15) == 15);
	CHECK(proxyproto_build_v1(NULL, NULL, out, 14) == -1);
	s4.family = d4.family = AF_UNIX;
	CHECK(proxyproto_build_v1(&s4, &d4, out, sizeof(out)) == 15);
}

/* A v2 header: the signature, ver_cmd, fam, and a length, followed by data. */
static size_t
v2(uint8_t *out, int ver_cmd, int fam, const void *data, size_t dlen)
{
	memcpy(out, PROXYPROTO_V2_SIG, 12);
	out[12] = (uint8_t)ver_cmd;
	out[13] = (uint8_t)fam;
	out[14] = (uint8_t)(dlen >> 8);
	out[15] = (uint8_t)dlen;
	if (dlen > 0)
		memcpy(out + 16, data, dlen);
	return 16 + dlen;
}

static const uint8_t tcp4_block[12] = { 192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x00, 0x19 };
static const uint8_t tcp6_block[36] = {
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2,
	0xff, 0xff, 0x00, 0x00,
};

static void
test_v2_build(void)
{
	static const uint8_t want4[28] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
		0x21, 0x11, 0x00, 0x0c,
		192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x00, 0x19,
	};
	static const uint8_t want_unspec[16] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
		0x21, 0x00, 0x00, 0x00,
	};
	struct netaddr s4 = addr("192.0.2.1", 56324), d4 = addr("198.51.100.2", 25);
	struct netaddr s6 = addr("2001:db8::1", 65535), d6 = addr("2001:db8:0:1::2", 0);
	uint8_t out[PROXYPROTO_V2_BUILDLEN], want6[52];

	CHECK(proxyproto_build_v2(&s4, &d4, out, sizeof(out)) == 28);
	CHECK(memcmp(out, want4, 28) == 0);
	CHECK(proxyproto_build_v2(&s4, &d4, out, 28) == 28);
	CHECK(proxyproto_build_v2(&s4, &d4, out, 27) == -1);

	memcpy(want6, want4, 12);
	want6[12] = 0x21;
	want6[13] = 0x21;
	want6[14] = 0x00;
	want6[15] = 0x24;
	memcpy(want6 + 16, tcp6_block, 36);
	CHECK(proxyproto_build_v2(&s6, &d6, out, sizeof(out)) == 52);
	CHECK(memcmp(out, want6, 52) == 0);
	CHECK(PROXYPROTO_V2_BUILDLEN == 52);
	CHECK(proxyproto_build_v2(&s6, &d6, out, 51) == -1);

	memset(out, 0xaa, sizeof(out));
	CHECK(proxyproto_build_v2(&s4, &d6, out, sizeof(out)) == 16);
	CHECK(memcmp(out, want_unspec, 16) == 0);
	CHECK(out[16] == 0xaa);
	CHECK(proxyproto_build_v2(NULL, NULL, out, 16) == 16);
	CHECK(memcmp(out, want_unspec, 16) == 0);
	CHECK(proxyproto_build_v2(NULL, &d4, out, 15) == -1);
	CHECK(proxyproto_build_v2(&s4, NULL, out, sizeof(out)) == 16);
}

static void
test_v2_parse(void)
{
	struct netaddr s4 = addr("192.0.2.1", 56324), d4 = addr("198.51.100.2", 25);
	struct netaddr s6 = addr("2001:db8::1", 65535), d6 = addr("2001:db8:0:1::2", 0);
	struct netaddr m1 = addr("203.0.113.5", 1), m2 = addr("203.0.113.6", 2);
	static const char tlvs[] =
	    "\x01\x00\x04" "smtp"				/* PP2_TYPE_ALPN */
	    "\x02\x00\x0b" "mx.example."			/* PP2_TYPE_AUTHORITY */
	    "\x04\x00\x00"					/* PP2_TYPE_NOOP, empty */
	    "\x20\x00\x0b" "\x05" "\x00\x00\x00\x00"	/* PP2_TYPE_SSL: client, verify, */
	    "\x21\x00\x03" "1.3";				/*   PP2_SUBTYPE_SSL_VERSION */
	uint8_t hdr[700], data[600];
	struct proxyproto_hdr h;
	size_t n;

	n = v2(hdr, 0x21, 0x11, tcp4_block, 12);
	check_valid(hdr, n, 2, &s4, &d4);
	n = v2(hdr, 0x21, 0x21, tcp6_block, 36);
	check_valid(hdr, n, 2, &s6, &d6);

	/* Mapped IPv6 addresses become IPv4. */
	memset(data, 0, 36);
	data[10] = data[11] = data[26] = data[27] = 0xff;
	memcpy(data + 12, "\xcb\x00\x71\x05", 4);
	memcpy(data + 28, "\xcb\x00\x71\x06", 4);
	memcpy(data + 32, "\x00\x01\x00\x02", 4);
	n = v2(hdr, 0x21, 0x21, data, 36);
	check_valid(hdr, n, 2, &m1, &m2);

	/* TLVs are skipped: ALPN, AUTHORITY, NOOP with an empty value, SSL with sub-TLVs. */
	memcpy(data, tcp4_block, 12);
	memcpy(data + 12, tlvs, sizeof(tlvs) - 1);
	n = v2(hdr, 0x21, 0x11, data, 12 + sizeof(tlvs) - 1);
	check_valid(hdr, n, 2, &s4, &d4);
	/* A TLV block up to the largest accepted length. */
	memcpy(data, tcp6_block, 36);
	data[36] = 0x04;	/* NOOP */
	data[37] = (uint8_t)((PROXYPROTO_V2_MAXDATA - 39) >> 8);
	data[38] = (uint8_t)(PROXYPROTO_V2_MAXDATA - 39);
	memset(data + 39, 0, PROXYPROTO_V2_MAXDATA - 39);
	n = v2(hdr, 0x21, 0x21, data, PROXYPROTO_V2_MAXDATA);
	CHECK(n == PROXYPROTO_MAXLEN);
	check_valid(hdr, n, 2, &s6, &d6);

	/* LOCAL: the block is discarded whatever the family. */
	n = v2(hdr, 0x20, 0x00, NULL, 0);
	check_valid(hdr, n, 2, NULL, NULL);
	n = v2(hdr, 0x20, 0x11, tcp4_block, 12);
	check_valid(hdr, n, 2, NULL, NULL);
	n = v2(hdr, 0x20, 0x12, "junk", 4);
	check_valid(hdr, n, 2, NULL, NULL);
	n = v2(hdr, 0x20, 0x32, NULL, 0);
	check_valid(hdr, n, 2, NULL, NULL);
	/* PROXY with UNSPEC: no addresses, the block is skipped unchecked. */
	n = v2(hdr, 0x21, 0x00, NULL, 0);
	check_valid(hdr, n, 2, NULL, NULL);
	n = v2(hdr, 0x21, 0x00, "\x01\x02\x03\x04\x05", 5);
	check_valid(hdr, n, 2, NULL, NULL);
	/* PROXY over a UNIX stream socket: no IP addresses. */
	memset(data, 'a', 216);
	n = v2(hdr, 0x21, 0x31, data, 216);
	check_valid(hdr, n, 2, NULL, NULL);
	memcpy(data + 216, "\x04\x00\x01z", 4);
	n = v2(hdr, 0x21, 0x31, data, 220);
	check_valid(hdr, n, 2, NULL, NULL);

	/* What the builder writes parses back. */
	n = (size_t)proxyproto_build_v2(&s4, &d6, hdr, sizeof(hdr));
	check_valid(hdr, n, 2, NULL, NULL);

	/* Invalid. */
	n = v2(hdr, 0x11, 0x11, tcp4_block, 12);	/* version 1 */
	check_invalid(hdr, n, __LINE__);
	check_invalid(hdr, 13, __LINE__);
	n = v2(hdr, 0x31, 0x11, tcp4_block, 12);	/* version 3 */
	check_invalid(hdr, n, __LINE__);
	n = v2(hdr, 0x22, 0x11, tcp4_block, 12);	/* command 2 */
	check_invalid(hdr, n, __LINE__);
	n = v2(hdr, 0x2f, 0x11, tcp4_block, 12);
	check_invalid(hdr, n, __LINE__);
	n = v2(hdr, 0x21, 0x12, tcp4_block, 12);	/* UDP4 */
	check_invalid(hdr, n, __LINE__);
	check_invalid(hdr, 14, __LINE__);
	n = v2(hdr, 0x21, 0x22, tcp6_block, 36);	/* UDP6 */
	check_invalid(hdr, n, __LINE__);
	n = v2(hdr, 0x21, 0x32, data, 216);		/* UNIX datagram */
	check_invalid(hdr, n, __LINE__);
	n = v2(hdr, 0x21, 0x13, tcp4_block, 12);	/* unknown transport */
	check_invalid(hdr, n, __LINE__);
	n = v2(hdr, 0x21, 0x41, tcp4_block, 12);	/* unknown family */
	check_invalid(hdr, n, __LINE__);
	n = v2(hdr, 0x20, 0x41, NULL, 0);		/* ... even with LOCAL */
	check_invalid(hdr, n, __LINE__);
	n = v2(hdr, 0x21, 0x10, tcp4_block, 12);
	check_invalid(hdr, n, __LINE__);
	n = v2(hdr, 0x21, 0x11, tcp4_block, 11);	/* block too short for the family */
	check_invalid(hdr, n, __LINE__);
	check_invalid(hdr, 16, __LINE__);		/* known at once from the length field */
	n = v2(hdr, 0x21, 0x21, tcp6_block, 12);
	check_invalid(hdr, n, __LINE__);
	n = v2(hdr, 0x21, 0x31, data, 215);
	check_invalid(hdr, n, __LINE__);
	n = v2(hdr, 0x21, 0x11, NULL, 0);
	check_invalid(hdr, n, __LINE__);
	/* Too long. */
	memset(data, 0, sizeof(data));
	n = v2(hdr, 0x21, 0x00, data, PROXYPROTO_V2_MAXDATA + 1);
	check_invalid(hdr, n, __LINE__);
	check_invalid(hdr, 16, __LINE__);
	n = v2(hdr, 0x20, 0x00, data, 0);
	hdr[14] = hdr[15] = 0xff;
	check_invalid(hdr, 16, __LINE__);
	/* Badly framed TLVs. */
	memcpy(data, tcp4_block, 12);
	memcpy(data + 12, "\x01\x00\x05smtp", 7);	/* value runs past the end */
	n = v2(hdr, 0x21, 0x11, data, 19);
	check_invalid(hdr, n, __LINE__);
	n = v2(hdr, 0x21, 0x11, data, 14);		/* 2 bytes: no room for a TLV header */
	check_invalid(hdr, n, __LINE__);
	n = v2(hdr, 0x21, 0x11, data, 13);
	check_invalid(hdr, n, __LINE__);
	memcpy(data + 12, "\x01\x00\x04smtp\x04", 8);	/* trailing byte */
	n = v2(hdr, 0x21, 0x11, data, 20);
	check_invalid(hdr, n, __LINE__);
	/* A broken signature. */
	n = v2(hdr, 0x21, 0x11, tcp4_block, 12);
	hdr[4] = 'x';
	check_invalid(hdr, n, __LINE__);
	check_invalid(hdr, 5, __LINE__);
	check_more(hdr, 4, __LINE__);
	hdr[4] = 0;
	hdr[11] = '\r';
	check_invalid(hdr, n, __LINE__);
	check_invalid(hdr, 12, __LINE__);
	check_more(hdr, 11, __LINE__);

	/* A v1 header cannot follow the start of a v2 signature. */
	INVALID("\r\nPROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n");
	CHECK(proxyproto_parse(S("\r\n\r\n\0\r\nQUIT\n"), &h) == 0);
	CHECK(proxyproto_parse(S("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00"), &h) == 0);
}

/* build, then parse, gives the same addresses, for both versions. */
static void
test_roundtrip(void)
{
	static const char *const pairs[][2] = {
		{ "192.0.2.1", "198.51.100.2" },
		{ "0.0.0.0", "255.255.255.255" },
		{ "127.0.0.1", "127.0.0.1" },
		{ "::", "::1" },
		{ "2001:db8::1", "2001:db8:0:1::2" },
		{ "fe80::abcd:ef01:2345:6789", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
		{ "1:0:0:1:0:0:0:1", "64:ff9b::c000:201" },
		{ "::ffff:10.0.0.1", "::ffff:10.0.0.2" },
	};
	static const uint16_t ports[][2] = { { 0, 0 }, { 1, 65535 }, { 25, 56324 }, { 65535, 1 } };
	struct proxyproto_hdr h;
	struct netaddr s, d;
	uint8_t out[PROXYPROTO_MAXLEN];
	size_t i, j;
	int n, bad = 0;

	for (i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		for (j = 0; j < sizeof(ports) / sizeof(ports[0]); j++) {
			s = addr(pairs[i][0], ports[j][0]);
			d = addr(pairs[i][1], ports[j][1]);
			n = proxyproto_build_v1(&s, &d, (char *)out, sizeof(out));
			if (n <= 0 || proxyproto_parse(out, (size_t)n, &h) != n || h.version != 1 || h.local ||
			    !netaddr_equal(&h.src, &s) || !netaddr_equal(&h.dst, &d) ||
			    prefixes_need_more(out, (size_t)n) != 0) {
				fprintf(stderr, "  v1 round trip failed: %s %s\n", pairs[i][0], pairs[i][1]);
				bad++;
			}
			n = proxyproto_build_v2(&s, &d, out, sizeof(out));
			if (n <= 0 || proxyproto_parse(out, (size_t)n, &h) != n || h.version != 2 || h.local ||
			    !netaddr_equal(&h.src, &s) || !netaddr_equal(&h.dst, &d) ||
			    prefixes_need_more(out, (size_t)n) != 0) {
				fprintf(stderr, "  v2 round trip failed: %s %s\n", pairs[i][0], pairs[i][1]);
				bad++;
			}
		}
	}
	CHECK(bad == 0);
}

int
main(void)
{
	test_v1_valid();
	test_v1_invalid();
	test_v1_partial();
	test_v1_build();
	test_v2_build();
	test_v2_parse();
	test_roundtrip();
	return check_done("test_proxyproto");
}
