/*
 * netaddr.h - IP addresses and CIDR lists. Pure: no sockets, no globals;
 * only cidr_list_parse() allocates.
 *
 * A struct netaddr never holds an IPv4-mapped IPv6 address: every function
 * that produces one (from a sockaddr, from text) turns ::ffff:a.b.c.d into
 * the AF_INET address a.b.c.d, so an IPv4 client looks the same whether it
 * reached an IPv4 socket or a dual-stack IPv6 one.
 *
 * Text forms are strict: IPv4 is a dotted quad of four decimal numbers
 * 0..255 without leading zeros ("010.0.0.1" is refused, it means 8.0.0.1 to
 * inet_aton); IPv6 is what inet_pton(AF_INET6) accepts (no zone "%eth0",
 * no brackets). Formatting is canonical: IPv6 per RFC 5952 (lowercase, the
 * longest run of two or more zero groups as "::").
 */
#ifndef STARTTLSD_NETADDR_H
#define STARTTLSD_NETADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Room for any address netaddr_format() writes, NUL included. */
#define NETADDR_STRLEN 46

struct netaddr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* network order; AF_INET uses addr[0..4), the rest is zero */
	uint16_t port;		/* host order; 0 when not known */
};

/*
 * Fill *out from an AF_INET or AF_INET6 socket address (address and port;
 * an IPv6 scope id is dropped). Returns 0, or -1 for any other family.
 */
int netaddr_from_sockaddr(struct netaddr *out, const struct sockaddr *sa);

/*
 * Fill *ss (zeroed first) with a sockaddr_in or sockaddr_in6 for a.
 * Returns the length of that socket address (for connect()/bind()), or -1
 * if a->family is neither AF_INET nor AF_INET6.
 */
int netaddr_to_sockaddr(const struct netaddr *a, struct sockaddr_storage *ss);

/*
 * Write the address of a (no port, no brackets) as a NUL-terminated string:
 * "192.0.2.1", "2001:db8::1". Returns its length, or -1 if a->family is
 * not AF_INET/AF_INET6 or the string and its NUL do not fit in len bytes
 * (NETADDR_STRLEN is always enough).
 */
int netaddr_format(const struct netaddr *a, char *dst, size_t len);

/*
 * Parse a plain IP address ("192.0.2.1", "2001:db8::1"; no port, no
 * brackets, no surrounding space) into *out, port 0. IPv4-mapped IPv6
 * addresses become AF_INET. Returns 0, or -1 if s is not an address
 * (*out is then unspecified).
 */
int netaddr_parse(const char *s, struct netaddr *out);

/* Returns 1 if a and b have the same family, address and port, else 0. */
int netaddr_equal(const struct netaddr *a, const struct netaddr *b);

/*
 * Turn an AF_INET6 IPv4-mapped address (::ffff:a.b.c.d) in *a into AF_INET
 * in place, keeping the port; anything else is left alone. For callers
 * that fill a struct netaddr by hand.
 */
void netaddr_unmap(struct netaddr *a);

/* One network: addr with every bit after the first prefix bits zero. */
struct cidr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* as in struct netaddr */
	int prefix;		/* 0..32 or 0..128 */
};

struct cidr_list {
	struct cidr *v;		/* malloc'ed, NULL when n == 0 */
	size_t n;
};

/*
 * Parse one network "ADDR/N" or "ADDR" (a host: /32 or /128) into *out.
 * N is decimal without sign or leading zeros, at most 32 (IPv4) or 128
 * (IPv6). Host bits set after the prefix are accepted and cleared
 * ("10.1.2.3/8" is 10.0.0.0/8). An IPv6 network inside ::ffff:0:0/96 is
 * stored as the IPv4 network it covers (::ffff:10.0.0.0/104 is
 * 10.0.0.0/8, ::ffff:0:0/96 is 0.0.0.0/0), so it matches the
 * (normalised) IPv4 addresses; other IPv6 networks, ::/0 included, match
 * only IPv6 addresses. Returns 0, or -1 if s is malformed.
 */
int cidr_parse(const char *s, struct cidr *out);

/*
 * Parse a list of networks separated by spaces, tabs and/or commas, e.g.
 * "127.0.0.1/32, 10.0.0.0/8 ::1 2001:db8::/32" (each as cidr_parse()).
 * An empty or blank list is valid and matches nothing. On success fills
 * *out (out->v allocated with malloc; free it with cidr_list_free()) and
 * returns 0. On error returns -1 with *out zeroed and nothing allocated,
 * and, if errlen > 0, a NUL-terminated message in err naming the bad
 * entry (or "out of memory").
 */
int cidr_list_parse(const char *s, struct cidr_list *out, char *err, size_t errlen);

/* Free l->v and zero *l. Safe on NULL and on a zeroed list. */
void cidr_list_free(struct cidr_list *l);

/*
 * Returns 1 if the address of a (the port is ignored) is inside one of
 * the networks of l, else 0 (also when l or a is NULL). An IPv4-mapped
 * AF_INET6 address is matched as the IPv4 address it carries.
 */
int cidr_list_match(const struct cidr_list *l, const struct netaddr *a);

/* Returns 1 if the address of a is inside the network c, else 0. */
int cidr_match(const struct cidr *c, const struct netaddr *a);

#endif
