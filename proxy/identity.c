/* identity.c - the client's real address in and out; see identity.h. */
#include "identity.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "netaddr.h"
#include "proxyproto.h"
#include "received.h"
#include "session.h"

#define SID(s) ((unsigned long long)(s)->id)

int
identity_expect_proxy(const struct session *s)
{
	struct netaddr a;

	if (!s->lc->accept_proxy || netaddr_from_sockaddr(&a, (const struct sockaddr *)&s->peer_addr) != 0)
		return 0;
	return cidr_list_match(&s->lc->trusted, &a);
}

int
identity_take_proxy(struct session *s)
{
	struct proxyproto_hdr h;
	char addr[NETADDR_STRLEN], from[64];
	int n;

	n = proxyproto_parse((const uint8_t *)buf_head(&s->cin), buf_pending(&s->cin), &h);
	if (n <= 0)
		return n;
	snprintf(from, sizeof(from), "%s", s->peer);
	if (!h.local) {
		netaddr_to_sockaddr(&h.src, &s->peer_addr);
		netaddr_format(&h.src, addr, sizeof(addr));
		snprintf(s->peer, sizeof(s->peer), h.src.family == AF_INET6 ? "[%s]:%u" : "%s:%u", addr,
		    (unsigned)h.src.port);
	}
	log_event(LOG_INFO, "proxy", "sid=%016llx version=%d proxy=%s client=%s%s", SID(s), h.version, from, s->peer,
	    h.local ? " local=yes" : "");
	buf_consume(&s->cin, (size_t)n);
	return 1;
}

/* Our two ends of the client connection, as netaddrs. */
static void
endpoints(struct session *s, struct netaddr *src, struct netaddr *dst)
{
	struct sockaddr_storage local;
	int len = sizeof(local);

	memset(src, 0, sizeof(*src));
	memset(dst, 0, sizeof(*dst));
	netaddr_from_sockaddr(src, (const struct sockaddr *)&s->peer_addr);
	if (uv_tcp_getsockname(&s->client, (struct sockaddr *)&local, &len) == 0)
		netaddr_from_sockaddr(dst, (const struct sockaddr *)&local);
}

int
identity_send_proxy(struct session *s)
{
	struct netaddr src, dst;
	uint8_t hdr[PROXYPROTO_V1_BUILDLEN > PROXYPROTO_V2_BUILDLEN ? PROXYPROTO_V1_BUILDLEN : PROXYPROTO_V2_BUILDLEN];
	int n;

	endpoints(s, &src, &dst);
	if (s->lc->backend_identity == IDENTITY_PROXY_V1)
		n = proxyproto_build_v1(&src, &dst, (char *)hdr, sizeof(hdr));
	else
		n = proxyproto_build_v2(&src, &dst, hdr, sizeof(hdr));
	if (n <= 0)
		return -1;
	return session_to_backend(s, (const char *)hdr, (size_t)n);
}

int
identity_send_xclient(struct session *s)
{
	struct netaddr src, dst;
	char addr[NETADDR_STRLEN], line[200];
	int n;

	endpoints(s, &src, &dst);
	netaddr_format(&src, addr, sizeof(addr));
	/* No reverse DNS here: NAME=[UNAVAILABLE] says so (Postfix logs "unknown"). */
	n = snprintf(line, sizeof(line), "XCLIENT ADDR=%s%s PORT=%u NAME=[UNAVAILABLE]\r\n",
	    src.family == AF_INET6 ? "IPV6:" : "", addr, (unsigned)src.port);
	if (n <= 0 || (size_t)n >= sizeof(line))
		return -1;
	return session_to_backend(s, line, (size_t)n);
}

int
identity_send_received(struct session *s)
{
	struct received_info ri;
	struct netaddr src, dst;
	char addr[NETADDR_STRLEN], id[32], hdr[RECEIVED_MAXLEN];
	const SSL_CIPHER *cipher = s->tls_up ? SSL_get_current_cipher(s->tls.ssl) : NULL;
	int n;

	endpoints(s, &src, &dst);
	netaddr_format(&src, addr, sizeof(addr));
	snprintf(id, sizeof(id), "%016llx", SID(s));
	memset(&ri, 0, sizeof(ri));
	ri.helo = s->helo[0] ? s->helo : NULL;
	ri.client_addr = addr;
	ri.by_host = s->lc->hostname;
	ri.tls_version = s->tls_up ? SSL_get_version(s->tls.ssl) : NULL;
	ri.tls_cipher = cipher ? SSL_CIPHER_get_name(cipher) : NULL;
	ri.esmtp = s->esmtp;
	ri.auth = s->authenticated;
	ri.id = id;
	ri.when = time(NULL);
	if ((n = received_format(hdr, sizeof(hdr), &ri)) <= 0)
		return -1;
	s->msg_size += (uint64_t)n;
	return session_to_backend(s, hdr, (size_t)n);
}
