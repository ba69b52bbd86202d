/* test_identity.c - unit tests for proxy/identity.c (the client's identity as bytes for the backend). */
#include <string.h>

#include "check.h"
#include "identity.h"
#include "proxyproto.h"

static struct identity
who(const char *client, unsigned cport, const char *server, unsigned sport)
{
	struct identity id;

	memset(&id, 0, sizeof(id));
	if (client != NULL && netaddr_parse(client, &id.client) == 0)
		id.client.port = (uint16_t)cport;
	if (server != NULL && netaddr_parse(server, &id.server) == 0)
		id.server.port = (uint16_t)sport;
	return id;
}

static void
test_proxy_header(void)
{
	struct identity id = who("192.0.2.7", 40000, "198.51.100.1", 25);
	struct proxyproto_hdr h;
	uint8_t out[PROXYPROTO_V2_BUILDLEN > PROXYPROTO_V1_BUILDLEN ? PROXYPROTO_V2_BUILDLEN : PROXYPROTO_V1_BUILDLEN];
	int n;

	n = identity_proxy_header(&id, 1, out, sizeof(out));
	CHECK(n > 0 && (size_t)n == strlen("PROXY TCP4 192.0.2.7 198.51.100.1 40000 25\r\n") &&
	    memcmp(out, "PROXY TCP4 192.0.2.7 198.51.100.1 40000 25\r\n", (size_t)n) == 0);
	/* An IPv6 client with an IPv4 server address (what the listener saw): still TCP6, never UNKNOWN. */
	id = who("2001:db8::7", 40000, "127.0.0.1", 25);
	n = identity_proxy_header(&id, 1, out, sizeof(out));
	CHECK(n > 0 && memcmp(out, "PROXY TCP6 2001:db8::7 :: 40000 25\r\n", (size_t)n) == 0);
	n = identity_proxy_header(&id, 2, out, sizeof(out));
	CHECK(n > 0 && proxyproto_parse(out, (size_t)n, &h) == n && !h.local && h.src.family == id.client.family &&
	    memcmp(h.src.addr, id.client.addr, 16) == 0 && h.dst.family == id.client.family && h.dst.port == 25);
	/* No server address at all: the same. */
	id = who("192.0.2.7", 40000, NULL, 0);
	n = identity_proxy_header(&id, 1, out, sizeof(out));
	CHECK(n > 0 && memcmp(out, "PROXY TCP4 192.0.2.7 0.0.0.0 40000 0\r\n", (size_t)n) == 0);
	/* An unknown client: nothing in its name. */
	id = who(NULL, 0, "127.0.0.1", 25);
	CHECK(identity_proxy_header(&id, 1, out, sizeof(out)) == -1);
	CHECK(identity_proxy_header(&id, 2, out, sizeof(out)) == -1);
}

static void
test_xclient(void)
{
	struct identity id = who("192.0.2.7", 40000, NULL, 0);
	char out[200];

	CHECK(identity_xclient(&id, out, sizeof(out)) > 0);
	CHECK_STR(out, "XCLIENT ADDR=192.0.2.7 PORT=40000 NAME=[UNAVAILABLE]\r\n");
	id = who("2001:db8::7", 1, NULL, 0);
	CHECK(identity_xclient(&id, out, sizeof(out)) > 0);
	CHECK_STR(out, "XCLIENT ADDR=IPV6:2001:db8::7 PORT=1 NAME=[UNAVAILABLE]\r\n");
	CHECK(identity_xclient(&id, out, 10) == -1);	/* does not fit */
	id = who(NULL, 0, NULL, 0);
	CHECK(identity_xclient(&id, out, sizeof(out)) == -1);
	CHECK(!identity_known(&id));
}

static void
test_received(void)
{
	struct identity id = who("192.0.2.7", 40000, NULL, 0);
	struct received_info ri;
	char out[RECEIVED_MAXLEN];

	memset(&ri, 0, sizeof(ri));
	ri.helo = "client.example";
	ri.client_addr = "203.0.113.99";	/* ignored: the address comes from the identity */
	ri.by_host = "mx.example";
	ri.esmtp = 1;
	ri.when = 0;
	CHECK(identity_received(&id, &ri, out, sizeof(out)) > 0);
	CHECK(strncmp(out, "Received: from client.example ([192.0.2.7])\r\n", 45) == 0);
	CHECK(strstr(out, "203.0.113.99") == NULL);
	id = who(NULL, 0, NULL, 0);
	CHECK(identity_received(&id, &ri, out, sizeof(out)) == -1);
}

int
main(void)
{
	test_proxy_header();
	test_xclient();
	test_received();
	return check_done("test_identity");
}
