/*
 * identity.h - who the client is, told to the backend: the PROXY v1/v2
 * header (backend_identity = proxy_v1 | proxy_v2), the XCLIENT command
 * (xclient) and the Received: header (add_received). Pure: it only formats.
 * Without these, every session reaches the backend from 127.0.0.1, which
 * legacy MTAs trust.
 */
#ifndef STARTTLSD_IDENTITY_H
#define STARTTLSD_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "netaddr.h"
#include "received.h"

/* The two ends of the client's connection, as the backend should learn them. */
struct identity {
	struct netaddr client;	/* the client, with its port; family 0 when unknown */
	struct netaddr server;	/* the address it connected to; family 0 when unknown */
};

/* Is the client known? Without it nothing may reach the backend in its name. */
int identity_known(const struct identity *id);

/*
 * Write the PROXY header, version 1 or 2, for id into out. The destination
 * is always of the client's family: the server address if it is, else the
 * unspecified address of that family with the server's port (an IPv6
 * client behind an IPv4 balancer stays an IPv6 client). Returns its length,
 * or -1 if the client is unknown or out is too small.
 */
int identity_proxy_header(const struct identity *id, int version, uint8_t *out, size_t outlen);

/*
 * Write "XCLIENT ADDR=... PORT=... NAME=[UNAVAILABLE]\r\n" for id into out
 * (no reverse DNS here: NAME=[UNAVAILABLE] says so). Returns its length,
 * or -1 if the client is unknown or out is too small.
 */
int identity_xclient(const struct identity *id, char *out, size_t outlen);

/*
 * Write the Received: header for id and ri (whose client_addr is ignored:
 * the client's address comes from id) into out. Returns its length, or -1
 * if the client is unknown or received_format() refuses.
 */
int identity_received(const struct identity *id, const struct received_info *ri, char *out, size_t outlen);

#endif
