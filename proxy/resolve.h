/*
 * resolve.h - backend host names, resolved without blocking the loop
 * (libuv's thread pool runs getaddrinfo) and cached for a short while, so
 * a compose service name or a Kubernetes Service ("mta:25") can be the
 * backend and a busy listener does not ask the resolver for every session.
 */
#ifndef STARTTLSD_RESOLVE_H
#define STARTTLSD_RESOLVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "config.h"

/* Addresses a lookup gives at most. */
#define RESOLVE_MAX 8
/* How long an answer is used again. */
#define RESOLVE_CACHE_MS 30000

struct resolver;
struct resolve_req;

/* status is 0 (n >= 1 addresses, with the port set) or a libuv error (n == 0). */
typedef void resolve_cb(void *arg, const struct sockaddr_storage *addrs, size_t n, int status);

/* A resolver for one loop. NULL if out of memory. */
struct resolver *resolver_new(uv_loop_t *loop);

/* Free it; lookups in flight are cancelled (their callbacks are not called). NULL is a no-op. */
void resolver_free(struct resolver *r);

/*
 * Look up host:port. From the cache, cb runs before this returns (and NULL
 * is returned); else it runs later, and the returned request may be
 * cancelled with resolve_cancel() until then. On failure to start, cb runs
 * at once with an error.
 */
struct resolve_req *resolver_lookup(struct resolver *r, const char *host, uint16_t port, resolve_cb *cb, void *arg);

/* The lookup's callback will not be called. */
void resolve_cancel(struct resolve_req *q);

/* Blocking: the first address of host (of family, or AF_UNSPEC), port 0. Returns 0, or a getaddrinfo() error. */
int resolve_now(const char *host, int family, struct sockaddr_storage *out);

/*
 * At load time (blocking, in the master): resolve each source_address
 * name to an address (of the backend's family when the backend is an
 * address); one that does not resolve is an error with file:line in err.
 * A backend name that does not resolve now is only a warning, appended to
 * warn as "file:line: warning: ..." lines: it may resolve later (a
 * container not yet started). Returns 0 or -1.
 */
int resolve_config_names(struct config *cfg, char *warn, size_t warnlen, char *err, size_t errlen);

#endif
