/* identity.c - the client's identity as bytes for the backend; see identity.h. */
#include "identity.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyproto.h"

int
identity_known(const struct identity *id)
{
	return id->client.family == AF_INET || id->client.family == AF_INET6;
}

int
identity_proxy_header(const struct identity *id, int version, uint8_t *out, size_t outlen)
{
	struct netaddr dst = id->server;

	if (!identity_known(id))
		return -1;
	if (dst.family != id->client.family) {
		/* Never PROXY UNKNOWN for a known client: any address of its family will do. */
		uint16_t port = dst.port;
		memset(&dst, 0, sizeof(dst));
		dst.family = id->client.family;
		dst.port = port;
	}
	return version == 1 ? proxyproto_build_v1(&id->client, &dst, (char *)out, outlen)
	                    : proxyproto_build_v2(&id->client, &dst, out, outlen);
}

int
identity_xclient(const struct identity *id, char *out, size_t outlen)
{
	char addr[NETADDR_STRLEN];
	int n;

	if (!identity_known(id) || netaddr_format(&id->client, addr, sizeof(addr)) < 0)
		return -1;
	n = snprintf(out, outlen, "XCLIENT ADDR=%s%s PORT=%u NAME=[UNAVAILABLE]\r\n",
	    id->client.family == AF_INET6 ? "IPV6:" : "", addr, (unsigned)id->client.port);
	return n > 0 && (size_t)n < outlen ? n : -1;
}

int
identity_received(const struct identity *id, const struct received_info *ri, char *out, size_t outlen)
{
	struct received_info r = *ri;
	char addr[NETADDR_STRLEN];

	if (!identity_known(id) || netaddr_format(&id->client, addr, sizeof(addr)) < 0)
		return -1;
	r.client_addr = addr;
	return received_format(out, outlen, &r);
}
