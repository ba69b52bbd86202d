/*
 * config_values.h - parsing single configuration values: durations,
 * sizes and socket addresses. Pure: no configuration state, no I/O.
 */
#ifndef STARTTLSD_CONFIG_VALUES_H
#define STARTTLSD_CONFIG_VALUES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * Parse a duration: a number followed by ms, s, m, h or d (no unit means
 * seconds). Returns 0 with milliseconds in *ms, or -1.
 */
int config_parse_duration(const char *s, uint64_t *ms);

/* Parse "a.b.c.d:port" or "[ipv6]:port". Returns 0, or -1 if malformed. */
int config_parse_addr(const char *s, struct sockaddr_storage *ss);

/*
 * Parse an address or a host name with a port: "a.b.c.d:port",
 * "[ipv6]:port", "name:port" or "[name]:port". An address fills *ss (and
 * host is ""); a name fills host (at most hostlen - 1 bytes: letters,
 * digits, '-', '_' and '.', with at least one letter, '-' or '_') and leaves
 * ss->ss_family 0. *port gets the port either way. Returns 0, or -1.
 */
int config_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port, struct sockaddr_storage *ss);

/* Is s a host name as config_parse_hostport() takes one (no port)? */
int config_valid_hostname(const char *s);

/* Parse a byte size: a number with an optional k or m suffix. Returns 0 or -1. */
int config_parse_size(const char *s, size_t *out);

#endif
