/*
 * worker.h - one event-loop thread. Each worker has its own SO_REUSEPORT
 * listening socket per listener, so the kernel spreads connections over
 * workers and a session never moves between threads. The configuration
 * and the SSL_CTX are shared read-only; a worker keeps its configuration
 * for life (a reload starts a new serving process).
 */
#ifndef STARTTLSD_WORKER_H
#define STARTTLSD_WORKER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "conn.h"
#include "gen.h"
#include "metrics.h"
#include "session.h"

struct worker {
	int index;			/* 0..workers-1, for logs */
	uv_loop_t loop;			/* this thread's loop */
	uv_thread_t thread;
	struct gen *gen;		/* its configuration (a reference) */
	const int *fds;			/* the sockets the master bound: listener l's is fds[l * fd_stride] */
	size_t fd_stride;
	uv_tcp_t *listeners;		/* their libuv handles */
	uv_async_t stop_async;		/* main thread -> worker: begin shutdown */
	uv_timer_t shutdown_timer;	/* shutdown_timeout deadline */
	int stopping;			/* shutdown has begun */
	struct session *sessions;	/* live sessions (doubly linked, through session.prev/next) */
	unsigned nsessions;
	atomic_uint live;		/* nsessions, for other threads (status reports) */
	struct conn_loop cl;		/* the connections' shared flush and read buffer */
	struct resolver *resolver;	/* backend host names, cached per loop */
	struct metrics_slot *metrics;	/* its counters (NULL: none), set before worker_start() */
	atomic_int *accepting;		/* workers of this process still accepting (shared), or NULL */
	void (*stopped_accepting)(void);	/* run on the thread of the last worker to stop accepting */
	struct session_env env;		/* what its sessions get: cl, resolver, session_gone */
};

/* Start a worker thread on the bound sockets in fds. Returns 0 or -1. */
int worker_start(struct worker *w);

/* Its live sessions (any thread may ask). */
unsigned worker_sessions(struct worker *w);

/* Ask a worker to shut down (thread-safe). */
void worker_stop(struct worker *w);

/* Wait for the worker thread to finish. */
void worker_join(struct worker *w);

#endif
