/*
 * config_values.c - parsing of single configuration values: durations,
 * sizes and addresses. Pure; see config_values.h.
 */
#include "config_values.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int
config_parse_duration(const char *s, uint64_t *ms)
{
	char *end;
	unsigned long long v;
	uint64_t mult;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end == '\0' || strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "m") == 0)
		mult = 60 * 1000;
	else if (strcmp(end, "h") == 0)
		mult = 3600 * 1000;
	else if (strcmp(end, "d") == 0)
		mult = 24 * 3600 * 1000;
	else
		return -1;
	if (v > UINT32_MAX)	/* ~49 days in ms is plenty, and no overflow */
		return -1;
	*ms = (uint64_t)v * mult;
	return 0;
}

int
config_parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || v > (1ULL << 32))
		return -1;
	if (strcasecmp(end, "k") == 0)
		v *= 1024;
	else if (strcasecmp(end, "m") == 0)
		v *= 1024 * 1024;
	else if (*end != '\0')
		return -1;
	*out = (size_t)v;
	return 0;
}

int
config_parse_addr(const char *s, struct sockaddr_storage *ss)
{
	char host[64];
	const char *colon, *hs = s;
	size_t hl;
	char *end;
	unsigned long port;

	memset(ss, 0, sizeof(*ss));
	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':')
			return -1;
		hs = s + 1;
		hl = (size_t)(rb - hs);
		colon = rb + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
			return -1;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host) || colon[1] < '0' || colon[1] > '9')
		return -1;
	memcpy(host, hs, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port == 0 || port > 65535)
		return -1;
	if (*s == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
	}
	return 0;
}

int
config_valid_hostname(const char *s)
{
	size_t n = strlen(s), i;
	int letter = 0;

	if (n == 0 || n > 253 || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_')
			letter = 1;
		else if (!(c >= '0' && c <= '9') && c != '.')
			return 0;
	}
	return letter;
}

int
config_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *port, struct sockaddr_storage *ss)
{
	const char *colon, *hs = s, *rb;
	char *end;
	unsigned long p;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	if (config_parse_addr(s, ss) == 0) {
		host[0] = '\0';
		*port = ntohs(ss->ss_family == AF_INET ? ((struct sockaddr_in *)ss)->sin_port
		                                       : ((struct sockaddr_in6 *)ss)->sin6_port);
		return 0;
	}
	memset(ss, 0, sizeof(*ss));
	if (*s == '[') {
		if ((rb = strchr(s, ']')) == NULL || rb[1] != ':')
			return -1;
		hs = s + 1;
		hl = (size_t)(rb - hs);
		colon = rb + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return -1;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen || colon[1] < '0' || colon[1] > '9')
		return -1;
	memcpy(host, hs, hl);
	host[hl] = '\0';
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || p == 0 || p > 65535 || !config_valid_hostname(host))
		return -1;
	*port = (uint16_t)p;
	return 0;
}
