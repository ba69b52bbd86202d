/*
 * proxyproto.h - the HAProxy PROXY protocol, versions 1 and 2: parsing the
 * header a load balancer puts in front of a connection, and building the
 * header starttlsd sends to its backend. Pure: no I/O, no allocation.
 *
 * The parser is strict and never reads past len, so it can be run again
 * on the same buffer each time more bytes arrive:
 *   v1  "PROXY TCP4 192.0.2.1 192.0.2.2 56324 25\r\n" (or TCP6), single
 *       spaces, addresses in the family's text form (netaddr_parse()),
 *       ports decimal 0..65535 without leading zeros, at most 107 bytes
 *       with the CRLF; "PROXY UNKNOWN" followed by anything but CR, LF
 *       and NUL up to the CRLF is a header with no addresses.
 *   v2  the 12-byte signature, version 2, command LOCAL (0x20) or PROXY
 *       (0x21), a known family/transport byte, and a length of at most
 *       PROXYPROTO_V2_MAXDATA. The TLVs after the addresses must be well
 *       framed (type, 2-byte length, value, ending exactly at the end of the
 *       block); their contents are skipped.
 * What a header yields:
 *   - TCP over IPv4 or IPv6 (v1 TCP4/TCP6, v2 PROXY with 0x11/0x21): the
 *     client (src) and the address it connected to (dst), with ports.
 *     Addresses are normalised as in netaddr.h, so a TCP6 header carrying
 *     ::ffff:192.0.2.1 yields the AF_INET address 192.0.2.1.
 *   - no addresses, local = 1 (the caller uses the real endpoints of the
 *     connection): v1 UNKNOWN, v2 LOCAL (any known family; the address
 *     block is skipped), v2 PROXY with family UNSPEC (0x00, the block is
 *     skipped unchecked) or UNIX stream (0x31: the paths are not IP
 *     addresses and are skipped).
 *   - rejected (-1): v2 PROXY over a datagram transport (0x12 UDP4, 0x22
 *     UDP6, 0x32 UNIX datagram; SMTP is a stream), any other family byte,
 *     an address block shorter than its family needs.
 */
#ifndef STARTTLSD_PROXYPROTO_H
#define STARTTLSD_PROXYPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "netaddr.h"

/* Longest v1 header, "PROXY" to CRLF included. */
#define PROXYPROTO_V1_MAXLEN 107
/* Fixed part of a v2 header: signature, ver_cmd, family, length. */
#define PROXYPROTO_V2_HDRLEN 16
/* Largest v2 address block + TLVs accepted (the length field). */
#define PROXYPROTO_V2_MAXDATA 536
/* Longest header proxyproto_parse() accepts: a buffer this big is enough. */
#define PROXYPROTO_MAXLEN (PROXYPROTO_V2_HDRLEN + PROXYPROTO_V2_MAXDATA)

/* The 12-byte v2 signature. */
#define PROXYPROTO_V2_SIG "\r\n\r\n\0\r\nQUIT\n"

/* Room proxyproto_build_v1() / _v2() may need, whatever the addresses. */
#define PROXYPROTO_V1_BUILDLEN PROXYPROTO_V1_MAXLEN
#define PROXYPROTO_V2_BUILDLEN (PROXYPROTO_V2_HDRLEN + 36)

struct proxyproto_hdr {
	int version;		/* 1 or 2 */
	int local;		/* no addresses (see above): src and dst are zeroed */
	struct netaddr src;	/* the client, with its port */
	struct netaddr dst;	/* the address the client connected to */
};

/*
 * Look for a PROXY header at the start of p[0..len). Returns the number of
 * bytes the header takes (> 0, <= len) and fills *out when a complete
 * valid header is there; 0 if p[0..len) is a valid beginning of one and
 * more bytes are needed (len is then below PROXYPROTO_MAXLEN; len == 0
 * returns 0); -1 if p does not start with a valid header. *out is only
 * meaningful after a return > 0. The result for a complete header does
 * not depend on the bytes after it.
 */
int proxyproto_parse(const uint8_t *p, size_t len, struct proxyproto_hdr *out);

/*
 * Write the v1 header for a connection from src to dst into out (no NUL):
 * "PROXY TCP4 ..." or "PROXY TCP6 ..." when both are AF_INET or both are
 * AF_INET6, else (either NULL, mixed or unknown families)
 * "PROXY UNKNOWN\r\n". Returns its length (at most PROXYPROTO_V1_BUILDLEN),
 * or -1 if it does not fit in outlen bytes.
 */
int proxyproto_build_v1(const struct netaddr *src, const struct netaddr *dst, char *out, size_t outlen);

/*
 * Write the v2 header (command PROXY, no TLVs) for a connection from src
 * to dst into out: family TCP over IPv4 (28 bytes) when both are AF_INET,
 * TCP over IPv6 (52 bytes) when both are AF_INET6, else (either NULL,
 * mixed or unknown families) family UNSPEC with no addresses (16 bytes,
 * the v2 form of "PROXY UNKNOWN"). Returns its length, or -1 if it does not
 * fit in outlen bytes.
 */
int proxyproto_build_v2(const struct netaddr *src, const struct netaddr *dst, uint8_t *out, size_t outlen);

#endif
