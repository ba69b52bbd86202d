/* sockets.c - listening sockets kept across reloads; see sockets.h. */
#include "sockets.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BACKLOG 1024

static socklen_t
addr_len(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static int
same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return a->ss_family == b->ss_family && memcmp(a, b, addr_len(a)) == 0;
}

/* SO_REUSEPORT would let us share the port with another running starttlsd: make sure nobody holds it. */
static int
probe(const struct sockaddr_storage *a)
{
	int fd, one = 1, r;

	if ((fd = socket(a->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	r = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
	    (a->ss_family != AF_INET6 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == 0) &&
	    bind(fd, (const struct sockaddr *)a, addr_len(a)) == 0 ? 0 : -1;
	close(fd);
	return r;
}

/* A new listening socket on a, or -1 (errno set). */
static int
open_listener(const struct sockaddr_storage *a)
{
	int fd, one = 1;

	if ((fd = socket(a->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
	    /* Accepted sockets inherit it (Linux): no setsockopt per connection. */
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
	    (a->ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(fd, (const struct sockaddr *)a, addr_len(a)) != 0 || listen(fd, BACKLOG) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static struct socket_slot *
find(struct sockets *t, const struct sockaddr_storage *a, int worker)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->v[i].fd >= 0 && t->v[i].worker == worker && same_addr(&t->v[i].addr, a))
			return &t->v[i];
	return NULL;
}

static int
known_addr(const struct sockets *t, const struct sockaddr_storage *a)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->v[i].fd >= 0 && same_addr(&t->v[i].addr, a))
			return 1;
	return 0;
}

/* Close the slots added since n0 (a failed sockets_bind()); the others are the running configuration's. */
static void
undo(struct sockets *t, size_t n0)
{
	size_t i;

	while (t->n > n0)
		close(t->v[--t->n].fd);
	for (i = 0; i < t->n; i++)
		t->v[i].used = 1;
}

/* The slot for a on worker w (-1: the metrics endpoint), bound now if new. NULL (errno set) on failure. */
static struct socket_slot *
slot_for(struct sockets *t, const struct sockaddr_storage *a, int w)
{
	struct socket_slot *s, *v;

	if ((s = find(t, a, w)) != NULL)
		return s;
	if ((v = realloc(t->v, (t->n + 1) * sizeof(*v))) == NULL)
		return NULL;
	t->v = v;
	s = &t->v[t->n];
	if ((s->fd = open_listener(a)) < 0)
		return NULL;
	s->addr = *a;
	s->worker = w;
	t->n++;
	return s;
}

int
sockets_bind(struct sockets *t, const struct config *cfg, int *fds, int *metrics_fd, char *err, size_t errlen)
{
	size_t n0 = t->n, l, i;
	struct socket_slot *s;
	int w;

	for (i = 0; i < t->n; i++)
		t->v[i].used = 0;
	for (l = 0; l < cfg->nlisteners; l++) {
		const struct listener_conf *lc = &cfg->listeners[l];
		if (!known_addr(t, &lc->listen) && probe(&lc->listen) != 0)
			goto fail;
		for (w = 0; w < cfg->workers; w++) {
			if ((s = slot_for(t, &lc->listen, w)) == NULL)
				goto fail;
			s->used = 1;
			fds[l * (size_t)cfg->workers + (size_t)w] = s->fd;
		}
		continue;
fail:
		snprintf(err, errlen, "%s:%d: listener %s: cannot listen on %s: %s", cfg->path, lc->listen_line, lc->name,
		    lc->listen_str, strerror(errno));
		undo(t, n0);
		return -1;
	}
	*metrics_fd = -1;
	if (cfg->metrics.ss_family == 0)
		return 0;
	if ((!known_addr(t, &cfg->metrics) && probe(&cfg->metrics) != 0) || (s = slot_for(t, &cfg->metrics, -1)) == NULL) {
		snprintf(err, errlen, "%s:%d: metrics: cannot listen on %s: %s", cfg->path, cfg->metrics_line,
		    cfg->metrics_str, strerror(errno));
		undo(t, n0);
		return -1;
	}
	s->used = 1;
	*metrics_fd = s->fd;
	return 0;
}

void
sockets_prune(struct sockets *t)
{
	size_t i, k = 0;

	for (i = 0; i < t->n; i++) {
		if (t->v[i].used)
			t->v[k++] = t->v[i];
		else
			close(t->v[i].fd);
	}
	t->n = k;
}

int
sockets_has(const struct sockets *t, int fd)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->v[i].fd == fd)
			return 1;
	return 0;
}

void
sockets_free(struct sockets *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		close(t->v[i].fd);
	free(t->v);
	t->v = NULL;
	t->n = 0;
}
