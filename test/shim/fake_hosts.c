/*
 * fake_hosts.c - an LD_PRELOAD shim for tests: getaddrinfo() answers the
 * names in $STARTTLSD_FAKE_HOSTS ("name=addr,addr;name2=addr") with those
 * addresses in that order, as a DNS server with several A/AAAA records
 * would; every other name goes to the C library. The test controls the
 * order, so "the first address refuses, the second answers" is repeatable
 * without touching /etc/hosts.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res);

/* One result in one allocation (ai and its address), as glibc's freeaddrinfo() expects. */
static struct addrinfo *
make(const char *addr, unsigned port)
{
	struct {
		struct addrinfo ai;
		struct sockaddr_storage ss;
	} *m = calloc(1, sizeof(*m));
	struct sockaddr_in *sin = (struct sockaddr_in *)&m->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&m->ss;

	if (m == NULL)
		return NULL;
	m->ai.ai_socktype = SOCK_STREAM;
	m->ai.ai_protocol = IPPROTO_TCP;
	m->ai.ai_addr = (struct sockaddr *)&m->ss;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((unsigned short)port);
		m->ai.ai_family = AF_INET;
		m->ai.ai_addrlen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((unsigned short)port);
		m->ai.ai_family = AF_INET6;
		m->ai.ai_addrlen = sizeof(*sin6);
	} else {
		free(m);
		return NULL;
	}
	return &m->ai;
}

/* The addresses listed for node in the variable, or NULL. */
static struct addrinfo *
fake(const char *node, const char *service, int family)
{
	const char *v = getenv("STARTTLSD_FAKE_HOSTS");
	char buf[1024], *entry, *save, *eq, *a, *save2;
	struct addrinfo *head = NULL, **tail = &head, *ai;
	unsigned port = service != NULL ? (unsigned)atoi(service) : 0;

	if (v == NULL || node == NULL || strlen(v) >= sizeof(buf))
		return NULL;
	strcpy(buf, v);
	for (entry = strtok_r(buf, ";", &save); entry != NULL; entry = strtok_r(NULL, ";", &save)) {
		if ((eq = strchr(entry, '=')) == NULL)
			continue;
		*eq = '\0';
		if (strcmp(entry, node) != 0)
			continue;
		for (a = strtok_r(eq + 1, ",", &save2); a != NULL; a = strtok_r(NULL, ",", &save2))
			if ((ai = make(a, port)) != NULL && (family == AF_UNSPEC || family == ai->ai_family)) {
				*tail = ai;
				tail = &ai->ai_next;
			} else {
				free(ai);
			}
		break;
	}
	return head;
}

int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
	struct addrinfo *ai = fake(node, service, hints != NULL ? hints->ai_family : AF_UNSPEC);

	if (ai != NULL) {
		*res = ai;
		return 0;
	}
	if (node != NULL && getenv("STARTTLSD_FAKE_HOSTS") != NULL && strstr(node, ".invalid") != NULL)
		return EAI_NONAME;	/* RFC 2606: never resolves, and no resolver needs asking */
	return ((int (*)(const char *, const char *, const struct addrinfo *, struct addrinfo **))dlsym(RTLD_NEXT,
	    "getaddrinfo"))(node, service, hints, res);
}
