/* test_netaddr.c - unit tests for proxy/netaddr.c (addresses and CIDR lists). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "netaddr.h"

/* Parse s and format it again; "" if the parse fails. */
static const char *
roundtrip(const char *s)
{
	static char buf[NETADDR_STRLEN];
	struct netaddr a;

	if (netaddr_parse(s, &a) == -1 || netaddr_format(&a, buf, sizeof(buf)) == -1)
		return "";
	return buf;
}

static void
test_parse_format(void)
{
	static const char *const bad[] = {
		"", " 1.2.3.4", "1.2.3.4 ", "1.2.3", "1.2.3.4.5", "1.2.3.256", "01.2.3.4", "1.2.3.04",
		"1..3.4", "1.2.3.", ".1.2.3", "1.2.3.-4", "+1.2.3.4", "0x1.2.3.4", "1.2.3.4/32",
		"1.2.3.4:25", "[::1]", "::1%lo", "fe80::1%eth0", ":::", "1:2:3:4:5:6:7:8:9",
		"12345::", "g::1", "::1 ", "1.2.3.4\n", "localhost", "2001:db8::1/64",
		"::ffff:01.2.3.4", "1:2:3:4:5:6:7::8:9",
	};
	struct netaddr a;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (netaddr_parse(bad[i], &a) != -1)
			fprintf(stderr, "  accepted [%s]\n", bad[i]);
		CHECK(netaddr_parse(bad[i], &a) == -1);
	}

	CHECK(netaddr_parse("192.0.2.1", &a) == 0);
	CHECK(a.family == AF_INET && a.port == 0);
	CHECK(memcmp(a.addr, "\xc0\x00\x02\x01", 4) == 0);
	CHECK(memcmp(a.addr + 4, "\0\0\0\0\0\0\0\0\0\0\0\0", 12) == 0);
	CHECK(netaddr_parse("2001:db8::1", &a) == 0);
	CHECK(a.family == AF_INET6);
	CHECK(memcmp(a.addr, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16) == 0);

	CHECK_STR(roundtrip("0.0.0.0"), "0.0.0.0");
	CHECK_STR(roundtrip("255.255.255.255"), "255.255.255.255");
	CHECK_STR(roundtrip("10.0.100.9"), "10.0.100.9");
	CHECK_STR(roundtrip("::"), "::");
	CHECK_STR(roundtrip("::1"), "::1");
	CHECK_STR(roundtrip("1::"), "1::");
	CHECK_STR(roundtrip("2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
	CHECK_STR(roundtrip("2001:0db8:0000:0000:0001:0000:0000:0001"), "2001:db8::1:0:0:1");
	CHECK_STR(roundtrip("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");	/* no "::" for one group */
	CHECK_STR(roundtrip("2001:0:0:1:0:0:0:1"), "2001:0:0:1::1");		/* the longest run */
	CHECK_STR(roundtrip("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");	/* the first of equal runs */
	CHECK_STR(roundtrip("fe80::abcd:ef01:2345:6789"), "fe80::abcd:ef01:2345:6789");
	CHECK_STR(roundtrip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	CHECK_STR(roundtrip("::0.0.0.2"), "::2");
	CHECK_STR(roundtrip("64:ff9b::192.0.2.1"), "64:ff9b::c000:201");
	/* IPv4-mapped addresses become IPv4. */
	CHECK_STR(roundtrip("::ffff:192.0.2.1"), "192.0.2.1");
	CHECK_STR(roundtrip("::FFFF:c000:0201"), "192.0.2.1");
	CHECK(netaddr_parse("::ffff:192.0.2.1", &a) == 0 && a.family == AF_INET);
	CHECK(memcmp(a.addr, "\xc0\x00\x02\x01\0\0\0\0\0\0\0\0\0\0\0\0", 16) == 0);

	/* A hand-made mapped AF_INET6 address still formats per RFC 5952 section 5. */
	{
		struct netaddr m = { .family = AF_INET6 };
		char buf[NETADDR_STRLEN];

		memcpy(m.addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff\xc0\x00\x02\x01", 16);
		CHECK(netaddr_format(&m, buf, sizeof(buf)) == 16);
		CHECK_STR(buf, "::ffff:192.0.2.1");
		m.port = 7;
		netaddr_unmap(&m);
		CHECK(m.family == AF_INET && m.port == 7);
		CHECK(netaddr_format(&m, buf, sizeof(buf)) == 9);
		CHECK_STR(buf, "192.0.2.1");
		netaddr_unmap(&m);	/* no-op on AF_INET */
		CHECK(m.family == AF_INET);
	}

	/* Buffer sizes. */
	{
		char buf[NETADDR_STRLEN];

		CHECK(netaddr_parse("192.0.2.123", &a) == 0);
		CHECK(netaddr_format(&a, buf, 12) == 11);
		CHECK(netaddr_format(&a, buf, 11) == -1);
		CHECK(netaddr_format(&a, buf, 0) == -1);
		CHECK(netaddr_parse("1111:2222:3333:4444:5555:6666:7777:8888", &a) == 0);
		CHECK(netaddr_format(&a, buf, 40) == 39);
		CHECK(netaddr_format(&a, buf, 39) == -1);
		a.family = AF_UNIX;
		CHECK(netaddr_format(&a, buf, sizeof(buf)) == -1);
	}
}

static void
test_sockaddr(void)
{
	struct sockaddr_storage ss;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct sockaddr_in *psin;
	struct sockaddr_in6 *psin6;
	struct netaddr a, b;
	char buf[NETADDR_STRLEN];

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(2525);
	inet_pton(AF_INET, "198.51.100.7", &sin.sin_addr);
	CHECK(netaddr_from_sockaddr(&a, (struct sockaddr *)&sin) == 0);
	CHECK(a.family == AF_INET && a.port == 2525);
	CHECK(netaddr_format(&a, buf, sizeof(buf)) > 0);
	CHECK_STR(buf, "198.51.100.7");
	CHECK(netaddr_to_sockaddr(&a, &ss) == (int)sizeof(struct sockaddr_in));
	psin = (struct sockaddr_in *)&ss;
	CHECK(psin->sin_family == AF_INET && psin->sin_port == htons(2525));
	CHECK(memcmp(&psin->sin_addr, &sin.sin_addr, 4) == 0);

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(465);
	sin6.sin6_scope_id = 3;
	inet_pton(AF_INET6, "fe80::1", &sin6.sin6_addr);
	CHECK(netaddr_from_sockaddr(&a, (struct sockaddr *)&sin6) == 0);
	CHECK(a.family == AF_INET6 && a.port == 465);
	CHECK(netaddr_format(&a, buf, sizeof(buf)) > 0);
	CHECK_STR(buf, "fe80::1");
	CHECK(netaddr_to_sockaddr(&a, &ss) == (int)sizeof(struct sockaddr_in6));
	psin6 = (struct sockaddr_in6 *)&ss;
	CHECK(psin6->sin6_family == AF_INET6 && psin6->sin6_port == htons(465));
	CHECK(memcmp(&psin6->sin6_addr, &sin6.sin6_addr, 16) == 0);
	CHECK(psin6->sin6_scope_id == 0);

	/* A v4-mapped peer on a dual-stack socket is an IPv4 client. */
	inet_pton(AF_INET6, "::ffff:203.0.113.9", &sin6.sin6_addr);
	CHECK(netaddr_from_sockaddr(&a, (struct sockaddr *)&sin6) == 0);
	CHECK(a.family == AF_INET && a.port == 465);
	CHECK(netaddr_format(&a, buf, sizeof(buf)) > 0);
	CHECK_STR(buf, "203.0.113.9");
	CHECK(netaddr_parse("203.0.113.9", &b) == 0);
	b.port = 465;
	CHECK(netaddr_equal(&a, &b));
	b.port = 466;
	CHECK(!netaddr_equal(&a, &b));

	sin.sin_family = AF_UNIX;
	CHECK(netaddr_from_sockaddr(&a, (struct sockaddr *)&sin) == -1);
	a.family = AF_UNIX;
	CHECK(netaddr_to_sockaddr(&a, &ss) == -1);
}

static void
test_equal(void)
{
	struct netaddr a, b;

	CHECK(netaddr_parse("10.1.2.3", &a) == 0 && netaddr_parse("10.1.2.3", &b) == 0);
	CHECK(netaddr_equal(&a, &b));
	CHECK(netaddr_parse("10.1.2.4", &b) == 0);
	CHECK(!netaddr_equal(&a, &b));
	CHECK(netaddr_parse("::10.1.2.3", &b) == 0);		/* IPv4-compatible: stays IPv6 */
	CHECK(b.family == AF_INET6);
	CHECK(!netaddr_equal(&a, &b));
	CHECK(netaddr_parse("::ffff:10.1.2.3", &b) == 0);
	CHECK(netaddr_equal(&a, &b));
}

/* Does the list s match address addr? -1 if the list does not parse. */
static int
list_match(const char *s, const char *addr)
{
	struct cidr_list l;
	struct netaddr a;
	char err[128];
	int r;

	if (cidr_list_parse(s, &l, err, sizeof(err)) == -1)
		return -1;
	if (netaddr_parse(addr, &a) == -1) {
		cidr_list_free(&l);
		return -2;
	}
	r = cidr_list_match(&l, &a);
	cidr_list_free(&l);
	return r;
}

static void
test_cidr(void)
{
	static const char *const bad[] = {
		"1.2.3.4/33", "::/129", "1.2.3.4/", "1.2.3.4/-1", "1.2.3.4/+8", "1.2.3.4/08", "1.2.3.4/8/8",
		"1.2.3.4/8x", "/8", "1.2.3/8", "010.0.0.0/8", "[::1]/128", "::1/1000000000000000000000",
		"1.2.3.4/ 8", "localhost", "1.2.3.4/32,", "::ffff:1.2.3.4/129",
	};
	struct cidr c;
	struct cidr_list l;
	struct netaddr a;
	char err[128];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (cidr_parse(bad[i], &c) != -1)
			fprintf(stderr, "  accepted [%s]\n", bad[i]);
		CHECK(cidr_parse(bad[i], &c) == -1);
	}
	CHECK(cidr_parse("10.1.2.3/8", &c) == 0);
	CHECK(c.family == AF_INET && c.prefix == 8 && memcmp(c.addr, "\x0a\0\0\0", 4) == 0);
	CHECK(cidr_parse("10.1.2.3", &c) == 0 && c.prefix == 32 && memcmp(c.addr, "\x0a\x01\x02\x03", 4) == 0);
	CHECK(cidr_parse("10.255.255.255/9", &c) == 0 && memcmp(c.addr, "\x0a\x80\0\0", 4) == 0);
	CHECK(cidr_parse("0.0.0.0/0", &c) == 0 && c.prefix == 0);
	CHECK(cidr_parse("2001:db8:ffff::1/33", &c) == 0);
	CHECK(c.family == AF_INET6 && c.prefix == 33);
	CHECK(memcmp(c.addr, "\x20\x01\x0d\xb8\x80\0\0\0\0\0\0\0\0\0\0\0", 16) == 0);
	CHECK(cidr_parse("::1", &c) == 0 && c.family == AF_INET6 && c.prefix == 128);
	CHECK(cidr_parse("::/0", &c) == 0 && c.family == AF_INET6 && c.prefix == 0);
	/* Mapped networks become IPv4 ones. */
	CHECK(cidr_parse("::ffff:10.0.0.0/104", &c) == 0 && c.family == AF_INET && c.prefix == 8);
	CHECK(cidr_parse("::ffff:0:0/96", &c) == 0 && c.family == AF_INET && c.prefix == 0);
	CHECK(cidr_parse("::ffff:10.1.2.3", &c) == 0 && c.family == AF_INET && c.prefix == 32);
	CHECK(cidr_parse("::ffff:0:0/95", &c) == 0 && c.family == AF_INET6 && c.prefix == 95);

	/* Error messages name the entry; nothing is left allocated. */
	CHECK(cidr_list_parse("127.0.0.1, 10.0.0.0/80 ::1", &l, err, sizeof(err)) == -1);
	CHECK_STR(err, "bad network \"10.0.0.0/80\"");
	CHECK(l.v == NULL && l.n == 0);
	CHECK(cidr_list_parse("127.0.0.1;10.0.0.0/8", &l, err, sizeof(err)) == -1);
	CHECK_STR(err, "bad network \"127.0.0.1;10.0.0.0/8\"");
	CHECK(cidr_list_parse("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128/128/128", &l, err, sizeof(err)) == -1);
	CHECK(cidr_list_parse("bogus", &l, err, 5) == -1);
	CHECK_STR(err, "bad ");
	CHECK(cidr_list_parse("bogus", &l, NULL, 0) == -1);

	CHECK(cidr_list_parse("127.0.0.1/32, 10.0.0.0/8 ::1 2001:db8::/32", &l, err, sizeof(err)) == 0);
	CHECK(l.n == 4 && l.v != NULL);
	CHECK(l.v[0].family == AF_INET && l.v[0].prefix == 32);
	CHECK(l.v[3].family == AF_INET6 && l.v[3].prefix == 32);
	CHECK(netaddr_parse("10.200.0.1", &a) == 0 && cidr_list_match(&l, &a) == 1);
	CHECK(netaddr_parse("11.0.0.1", &a) == 0 && cidr_list_match(&l, &a) == 0);
	CHECK(cidr_list_match(NULL, &a) == 0);
	CHECK(cidr_list_match(&l, NULL) == 0);
	cidr_list_free(&l);
	CHECK(l.v == NULL && l.n == 0);
	cidr_list_free(&l);
	cidr_list_free(NULL);

	/* Empty and blank lists are valid and match nothing. */
	CHECK(cidr_list_parse("", &l, err, sizeof(err)) == 0 && l.n == 0 && l.v == NULL);
	CHECK(cidr_list_parse(" ,\t, ", &l, err, sizeof(err)) == 0 && l.n == 0 && l.v == NULL);
	CHECK(cidr_list_match(&l, &a) == 0);
	cidr_list_free(&l);

	CHECK(list_match("127.0.0.1/32, 10.0.0.0/8 ::1 2001:db8::/32", "127.0.0.1") == 1);
	CHECK(list_match("127.0.0.1/32, 10.0.0.0/8 ::1 2001:db8::/32", "127.0.0.2") == 0);
	CHECK(list_match("127.0.0.1/32, 10.0.0.0/8 ::1 2001:db8::/32", "::1") == 1);
	CHECK(list_match("127.0.0.1/32, 10.0.0.0/8 ::1 2001:db8::/32", "::2") == 0);
	CHECK(list_match("127.0.0.1/32, 10.0.0.0/8 ::1 2001:db8::/32", "2001:db8:ffff::9") == 1);
	CHECK(list_match("127.0.0.1/32, 10.0.0.0/8 ::1 2001:db8::/32", "2001:db9::9") == 0);
	CHECK(list_match("127.0.0.1/32, 10.0.0.0/8 ::1 2001:db8::/32", "::ffff:10.9.9.9") == 1);
	CHECK(list_match("192.168.0.0/23", "192.168.1.255") == 1);
	CHECK(list_match("192.168.0.0/23", "192.168.2.0") == 0);
	CHECK(list_match("192.168.0.0/23", "192.167.255.255") == 0);
	CHECK(list_match("0.0.0.0/0", "203.0.113.1") == 1);
	CHECK(list_match("0.0.0.0/0", "2001:db8::1") == 0);
	CHECK(list_match("::/0", "2001:db8::1") == 1);
	CHECK(list_match("::/0", "203.0.113.1") == 0);		/* IPv6 entries never match IPv4 */
	CHECK(list_match("::ffff:0:0/96", "203.0.113.1") == 1);	/* ... except mapped ones */
	CHECK(list_match("::ffff:203.0.113.0/120", "203.0.113.77") == 1);
	CHECK(list_match("::ffff:203.0.113.0/120", "203.0.114.77") == 0);
	CHECK(list_match("1.2.3.4/31", "1.2.3.5") == 1);
	CHECK(list_match("1.2.3.4/31", "1.2.3.6") == 0);
	CHECK(list_match("2001:db8::/127", "2001:db8::1") == 1);
	CHECK(list_match("2001:db8::/127", "2001:db8::2") == 0);
	CHECK(list_match("2001:db8::1/128", "2001:db8::1") == 1);
	CHECK(list_match("fe80::/10", "febf::1") == 1);
	CHECK(list_match("fe80::/10", "fec0::1") == 0);
	CHECK(list_match("\t10.0.0.0/8,,,192.0.2.1\t", "192.0.2.1") == 1);

	/* A hand-made mapped AF_INET6 address matches as IPv4. */
	CHECK(cidr_parse("10.0.0.0/8", &c) == 0);
	memset(&a, 0, sizeof(a));
	a.family = AF_INET6;
	memcpy(a.addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff\x0a\x01\x02\x03", 16);
	CHECK(cidr_match(&c, &a) == 1);
}

/* Every prefix length of every address against a reference computation. */
static void
test_cidr_exhaustive(void)
{
	struct netaddr a;
	struct cidr c;
	char s[80];
	int p, bad = 0;
	uint32_t net = 0xc0a85a5a, ip, mask;

	for (p = 0; p <= 32; p++) {
		snprintf(s, sizeof(s), "192.168.90.90/%d", p);
		if (cidr_parse(s, &c) == -1) {
			bad++;
			continue;
		}
		mask = p == 0 ? 0 : 0xffffffffu << (32 - p);
		for (ip = 0xc0a80000; ip < 0xc0a90000; ip += 7) {
			memset(&a, 0, sizeof(a));
			a.family = AF_INET;
			a.addr[0] = (uint8_t)(ip >> 24);
			a.addr[1] = (uint8_t)(ip >> 16);
			a.addr[2] = (uint8_t)(ip >> 8);
			a.addr[3] = (uint8_t)ip;
			if (cidr_match(&c, &a) != ((ip & mask) == (net & mask)))
				bad++;
		}
	}
	CHECK(bad == 0);
}

int
main(void)
{
	test_parse_format();
	test_sockaddr();
	test_equal();
	test_cidr();
	test_cidr_exhaustive();
	return check_done("test_netaddr");
}
