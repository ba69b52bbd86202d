/* resolve.c - backend host names; see resolve.h. */
#include "resolve.h"

#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_SIZE 16

struct entry {
	char host[254];
	uint16_t port;
	uint64_t expires;			/* uv_now(); 0: empty */
	struct sockaddr_storage addrs[RESOLVE_MAX];
	size_t n;
};

struct resolve_req {
	uv_getaddrinfo_t req;
	struct resolver *r;
	resolve_cb *cb;			/* NULL once cancelled */
	void *arg;
	char host[254];
	uint16_t port;
	struct resolve_req *next;	/* the resolver's list of lookups in flight */
};

struct resolver {
	uv_loop_t *loop;
	struct entry cache[CACHE_SIZE];
	struct resolve_req *inflight;
};

struct resolver *
resolver_new(uv_loop_t *loop)
{
	struct resolver *r = calloc(1, sizeof(*r));

	if (r != NULL)
		r->loop = loop;
	return r;
}

static struct entry *
cached(struct resolver *r, const char *host, uint16_t port)
{
	size_t i;

	for (i = 0; i < CACHE_SIZE; i++)
		if (r->cache[i].expires > uv_now(r->loop) && r->cache[i].port == port && strcmp(r->cache[i].host, host) == 0)
			return &r->cache[i];
	return NULL;
}

/* Remember an answer in the oldest slot. */
static void
remember(struct resolver *r, const char *host, uint16_t port, const struct sockaddr_storage *addrs, size_t n)
{
	struct entry *e = &r->cache[0];
	size_t i;

	for (i = 1; i < CACHE_SIZE; i++)
		if (r->cache[i].expires < e->expires)
			e = &r->cache[i];
	snprintf(e->host, sizeof(e->host), "%s", host);
	e->port = port;
	memcpy(e->addrs, addrs, n * sizeof(*addrs));
	e->n = n;
	e->expires = uv_now(r->loop) + RESOLVE_CACHE_MS;
}

static void
unlink_req(struct resolve_req *q)
{
	struct resolve_req **pp;

	for (pp = &q->r->inflight; *pp != NULL; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			break;
		}
}

static void
on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct resolve_req *q = req->data;
	struct sockaddr_storage addrs[RESOLVE_MAX];
	struct addrinfo *ai;
	size_t n = 0;

	for (ai = res; ai != NULL && n < RESOLVE_MAX && status == 0; ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof(addrs[0]))
			continue;
		memset(&addrs[n], 0, sizeof(addrs[n]));
		memcpy(&addrs[n], ai->ai_addr, ai->ai_addrlen);
		n++;
	}
	uv_freeaddrinfo(res);
	if (q->r != NULL) {
		unlink_req(q);
		if (n > 0)
			remember(q->r, q->host, q->port, addrs, n);
	}
	if (q->cb != NULL)
		q->cb(q->arg, addrs, n, n > 0 ? 0 : status != 0 ? status : UV_EAI_NODATA);
	free(q);
}

struct resolve_req *
resolver_lookup(struct resolver *r, const char *host, uint16_t port, resolve_cb *cb, void *arg)
{
	struct addrinfo hints;
	struct resolve_req *q;
	struct entry *e;
	char service[8];
	int rc;

	if ((e = cached(r, host, port)) != NULL) {
		cb(arg, e->addrs, e->n, 0);
		return NULL;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL) {
		cb(arg, NULL, 0, UV_ENOMEM);
		return NULL;
	}
	q->r = r;
	q->cb = cb;
	q->arg = arg;
	q->port = port;
	snprintf(q->host, sizeof(q->host), "%s", host);
	q->req.data = q;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
	snprintf(service, sizeof(service), "%u", (unsigned)port);
	if ((rc = uv_getaddrinfo(r->loop, &q->req, on_resolved, q->host, service, &hints)) != 0) {
		free(q);
		cb(arg, NULL, 0, rc);
		return NULL;
	}
	q->next = r->inflight;
	r->inflight = q;
	return q;
}

void
resolve_cancel(struct resolve_req *q)
{
	if (q != NULL)
		q->cb = NULL;	/* it finishes (and frees itself) on its own */
}

void
resolver_free(struct resolver *r)
{
	struct resolve_req *q;

	if (r == NULL)
		return;
	for (q = r->inflight; q != NULL; q = q->next) {
		q->cb = NULL;
		q->r = NULL;
		uv_cancel((uv_req_t *)&q->req);	/* if it has not started, it ends with UV_ECANCELED */
	}
	free(r);
}

int
resolve_now(const char *host, int family, struct sockaddr_storage *out)
{
	struct addrinfo hints, *res, *ai;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, NULL, &hints, &res)) != 0)
		return rc;
	rc = EAI_NONAME;
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) && ai->ai_addrlen <= sizeof(*out)) {
			memset(out, 0, sizeof(*out));
			memcpy(out, ai->ai_addr, ai->ai_addrlen);
			rc = 0;
			break;
		}
	freeaddrinfo(res);
	return rc;
}

int
resolve_config_names(struct config *cfg, char *warn, size_t warnlen, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	size_t i, used = 0;
	int rc;

	if (warnlen > 0)
		warn[0] = '\0';
	for (i = 0; i < cfg->nlisteners; i++) {
		struct listener_conf *lc = &cfg->listeners[i];
		struct endpoint *src = &lc->source_address;
		if (src->host != NULL) {
			int family = lc->backend.host == NULL ? lc->backend.addr.ss_family : AF_UNSPEC;
			if ((rc = resolve_now(src->host, family, &src->addr)) != 0) {
				snprintf(err, errlen, "%s:%d: source_address %s does not resolve%s (%s)", cfg->path,
				    lc->source_address_line, src->host, family == AF_UNSPEC ? "" : family == AF_INET ?
				    " to an IPv4 address like the backend's" : " to an IPv6 address like the backend's",
				    gai_strerror(rc));
				return -1;
			}
		}
		if (lc->backend.host != NULL && (rc = resolve_now(lc->backend.host, AF_UNSPEC, &ss)) != 0 && used < warnlen) {
			snprintf(warn + used, warnlen - used, "%s:%d: warning: backend %s does not resolve now (%s); "
			    "sessions get 421 until it does\n", cfg->path, lc->backend_line, lc->backend.host, gai_strerror(rc));
			used += strlen(warn + used);
		}
	}
	return 0;
}
