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

/* Parse a byte size: a number with an optional k or m suffix. Returns 0 or -1. */
int config_parse_size(const char *s, size_t *out);

#endif
