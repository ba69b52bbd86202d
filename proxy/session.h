/*
 * session.h - one proxied connection, client <-> starttlsd <-> backend.
 *
 * The session owns the lifecycle: it accepts the client, reads a trusted
 * balancer's PROXY header, applies the connection limits, connects to the
 * backend, runs the TLS handshakes, keeps the one timer and holds the one
 * close path. It wires a relay (the SMTP logic, relay.h) to two conns (the
 * transport, conn.h) and makes no SMTP decision itself.
 */
#ifndef STARTTLSD_SESSION_H
#define STARTTLSD_SESSION_H

#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "conn.h"
#include "gen.h"
#include "identity.h"
#include "metrics.h"
#include "relay.h"
#include "resolve.h"

struct session;

/* What a session gets from its worker: the loop's shared state, and who to tell when it is freed. */
struct session_env {
	struct conn_loop *cl;		/* the connections' loop state */
	struct resolver *resolver;	/* backend host names */
	struct metrics_slot *metrics;	/* its worker's counters (NULL: none) */
	void (*gone)(struct session *s, void *arg);	/* called once a session is freed */
	void *arg;
};

struct session {
	struct session *prev, *next;	/* the worker's list of live sessions (worker.c) */
	struct gen *gen;		/* the configuration it started with (a reference) */
	const struct listener_conf *lc;	/* its listener, inside gen */
	uv_loop_t *loop;		/* its loop */
	const struct session_env *env;	/* its worker's */
	uint64_t id;			/* sid= in logs */
	char peer[64];			/* the client's address, for logs */
	struct sockaddr_storage peer_addr;	/* the client's address, for the limits */
	struct identity who;		/* the client and the address it reached */
	int counted;			/* counted by connlimit_acquire() */
	int relaying;			/* relay_init() ran */
	int closing;			/* session_end() ran */
	int nhandles;			/* handles not yet closed: freed at 0 */
	const char *end_reason;		/* reason= in the disconnect log */

	struct conn client;		/* the client's connection */
	struct conn backend;		/* the backend's connection */
	struct relay relay;		/* the SMTP logic between them */

	/* The backend's addresses (a host name may have several), tried in turn. */
	struct resolve_req *lookup;	/* resolving the backend's name */
	struct sockaddr_storage addrs[RESOLVE_MAX];
	size_t naddrs, next_addr;
	int reconnecting;		/* the backend connection closes to try the next address */

	/* The one timer, set to the earliest of these deadlines (uv_now() ms, 0 = none). */
	uv_timer_t timer;
	uint64_t started;		/* accept time */
	uint64_t connect_started;	/* the backend connect began (for its histogram) */
	uint64_t tls_started;		/* the client's handshake began (0: never) */
	int tls_up;			/* the client's TLS is up */
	uint64_t proxy_by;		/* the PROXY header */
	uint64_t connect_by;		/* the backend connection */
	uint64_t handshake_by;		/* the client's TLS handshake */
	uint64_t relay_by;		/* the relay's inactivity deadline */
	uint64_t session_by;		/* session_timeout */
	uint64_t probe_by;		/* while the client is not read (the backend is behind): when
					 * to look whether it reset (unread, a reset is not reported) */
	uint64_t armed_at;		/* when the timer fires (0: not armed) */
};

/*
 * Accept a pending connection on server (a socket of listener lc, with
 * configuration gen) — or, if fd >= 0, take fd, already accepted from it —
 * and start its session in env. id is its sid; env->gone(s, env->arg) is
 * called when it is freed. Returns the session, or NULL if the connection
 * could not be taken (nothing is left behind; an fd is then the caller's).
 */
struct session *session_start(const struct session_env *env, struct gen *gen, const struct listener_conf *lc,
    uv_stream_t *server, int fd, uint64_t id);

/* starttlsd is shutting down and the drain time is over: end with a 421. */
void session_shutdown(struct session *s);

#endif
