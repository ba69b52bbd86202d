/*
 * fuzz_proxyproto.c - libFuzzer driver for proxy/proxyproto.c (and the
 * address text functions of proxy/netaddr.c it relies on).
 *
 * For any input:
 *   - proxyproto_parse() returns -1, 0 or n with 0 < n <= len, and 0 only
 *     while len is below PROXYPROTO_MAXLEN;
 *   - a complete header parses the same with the bytes after it cut off,
 *     and every shorter prefix of it asks for more (0);
 *   - the addresses of a non-local header format as text, and when both are
 *     of one family, building a v1 and a v2 header from them and parsing
 *     that again gives the same addresses and ports;
 *   - as a C string (up to the first NUL), the input either is not an
 *     address, or formats and parses back to the same address; likewise
 *     for a CIDR list, which must then match the address it was built from.
 * Any violation aborts.
 *
 *   clang -fsanitize=fuzzer,address,undefined -Iproxy -Itools/fuzz tools/fuzz/fuzz_proxyproto.c \
 *       proxy/proxyproto.c proxy/netaddr.c -o fuzz_proxyproto
 *   ./fuzz_proxyproto -max_len=1024 -max_total_time=60 CORPUS_DIR    (seeds: test/fuzz/proxyproto)
 */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_check.h"
#include "netaddr.h"
#include "proxyproto.h"

static int
same_addrs(const struct proxyproto_hdr *a, const struct proxyproto_hdr *b)
{
	return netaddr_equal(&a->src, &b->src) && netaddr_equal(&a->dst, &b->dst);
}

/* Build h's addresses as v1 and v2 headers and parse them back. */
static void
check_rebuild(const struct proxyproto_hdr *h)
{
	struct proxyproto_hdr h2;
	uint8_t out[PROXYPROTO_MAXLEN];
	int n;

	n = proxyproto_build_v1(&h->src, &h->dst, (char *)out, PROXYPROTO_V1_BUILDLEN);
	FUZZ_CHECK(n > 0 && n <= PROXYPROTO_V1_MAXLEN);
	FUZZ_CHECK(proxyproto_parse(out, (size_t)n, &h2) == n);
	FUZZ_CHECK(h2.version == 1 && !h2.local && same_addrs(h, &h2));
	FUZZ_CHECK(proxyproto_parse(out, (size_t)n - 1, &h2) == 0);

	n = proxyproto_build_v2(&h->src, &h->dst, out, PROXYPROTO_V2_BUILDLEN);
	FUZZ_CHECK(n == (h->src.family == AF_INET ? 28 : 52));
	FUZZ_CHECK(proxyproto_parse(out, (size_t)n, &h2) == n);
	FUZZ_CHECK(h2.version == 2 && !h2.local && same_addrs(h, &h2));
	FUZZ_CHECK(proxyproto_parse(out, (size_t)n - 1, &h2) == 0);
}

static void
check_proxyproto(const uint8_t *data, size_t size)
{
	struct proxyproto_hdr h, h2;
	char s[NETADDR_STRLEN];
	size_t k;
	int n, r;

	n = proxyproto_parse(data, size, &h);
	FUZZ_CHECK(n >= -1 && n <= (int)size);
	if (n == 0)
		FUZZ_CHECK(size < PROXYPROTO_MAXLEN);
	if (n <= 0)
		return;
	FUZZ_CHECK(n <= PROXYPROTO_MAXLEN);
	FUZZ_CHECK(h.version == 1 || h.version == 2);

	/* The header alone parses the same. */
	FUZZ_CHECK(proxyproto_parse(data, (size_t)n, &h2) == n);
	FUZZ_CHECK(h2.version == h.version && h2.local == h.local && same_addrs(&h, &h2));

	/* Shorter prefixes ask for more: all for v1, a sample for v2. */
	for (k = 0; k < (size_t)n; k++) {
		if (h.version == 2 && k > 17 && k + 2 < (size_t)n && k % 61 != 0)
			continue;
		r = proxyproto_parse(data, k, &h2);
		if (r != 0)
			fprintf(stderr, "prefix %zu of a %d-byte header gave %d\n", k, n, r);
		FUZZ_CHECK(r == 0);
	}

	if (h.local) {
		FUZZ_CHECK(h.src.family == 0 && h.dst.family == 0);
		return;
	}
	FUZZ_CHECK(h.src.family == AF_INET || h.src.family == AF_INET6);
	FUZZ_CHECK(h.dst.family == AF_INET || h.dst.family == AF_INET6);
	FUZZ_CHECK(netaddr_format(&h.src, s, sizeof(s)) > 0);
	FUZZ_CHECK(netaddr_format(&h.dst, s, sizeof(s)) > 0);
	if (h.src.family == h.dst.family)
		check_rebuild(&h);
}

/* The input as a C string: an address, or a CIDR list. */
static void
check_text(const uint8_t *data, size_t size)
{
	char str[128], s[NETADDR_STRLEN];
	struct netaddr a, b;
	struct cidr_list l;
	struct cidr c;
	char err[100];
	size_t n = size < sizeof(str) - 1 ? size : sizeof(str) - 1;

	memcpy(str, data, n);
	str[n] = '\0';

	if (netaddr_parse(str, &a) == 0) {
		FUZZ_CHECK(netaddr_format(&a, s, sizeof(s)) > 0);
		FUZZ_CHECK(netaddr_parse(s, &b) == 0 && netaddr_equal(&a, &b));
		if (cidr_parse(str, &c) == 0)
			FUZZ_CHECK(cidr_match(&c, &a));
	}
	if (cidr_list_parse(str, &l, err, sizeof(err)) == 0) {
		size_t i;

		for (i = 0; i < l.n; i++) {
			FUZZ_CHECK(l.v[i].family == AF_INET || l.v[i].family == AF_INET6);
			FUZZ_CHECK(l.v[i].prefix >= 0 && l.v[i].prefix <= (l.v[i].family == AF_INET ? 32 : 128));
			/* The network address itself is inside the network. */
			memset(&a, 0, sizeof(a));
			a.family = l.v[i].family;
			memcpy(a.addr, l.v[i].addr, 16);
			FUZZ_CHECK(cidr_list_match(&l, &a));
		}
		cidr_list_free(&l);
	} else {
		FUZZ_CHECK(l.v == NULL && l.n == 0 && strlen(err) > 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_proxyproto(data, size);
	check_text(data, size);
	return 0;
}
