/*
 * identity.h - who the client really is, on both sides of the proxy:
 * an inbound PROXY header from a trusted load balancer (accept_proxy), and
 * the client's address passed on to the backend (backend_identity =
 * xclient | proxy_v1 | proxy_v2, add_received). Without these, every
 * session reaches the backend from 127.0.0.1, which legacy MTAs trust.
 */
#ifndef STARTTLSD_IDENTITY_H
#define STARTTLSD_IDENTITY_H

struct session;

/*
 * Does this connection have to start with a PROXY header? True when the
 * listener has accept_proxy = yes and the peer is in proxy_trusted.
 */
int identity_expect_proxy(const struct session *s);

/*
 * Parse an inbound PROXY header from the start of s->cin. Returns 1 when
 * one was consumed (s->peer_addr and s->peer now name the real client),
 * 0 if more bytes are needed, -1 if the bytes are not a valid header.
 */
int identity_take_proxy(struct session *s);

/* backend_identity = proxy_v1 / proxy_v2: queue the header for the backend. Returns 0 or -1. */
int identity_send_proxy(struct session *s);

/* backend_identity = xclient: send XCLIENT with the client's address. Returns 0 or -1. */
int identity_send_xclient(struct session *s);

/* add_received = yes: queue a Received: header for the message now starting. Returns 0 or -1. */
int identity_send_received(struct session *s);

#endif
