/*
 * worker.h - one event-loop thread. Each worker has its own SO_REUSEPORT
 * listening socket per listener, so the kernel spreads connections over
 * workers and a session never moves between threads. The configuration
 * and the SSL_CTX are shared read-only.
 */
#ifndef STARTTLSD_WORKER_H
#define STARTTLSD_WORKER_H

#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "conn.h"
#include "gen.h"

struct session;

struct worker {
	int index;			/* 0..workers-1, for logs */
	uv_loop_t loop;			/* this thread's loop */
	uv_thread_t thread;
	struct gen *gen;		/* current configuration (a reference) */
	struct gen *next_gen;		/* set by worker_reload(), taken on stop_async/reload_async */
	uv_mutex_t gen_lock;		/* guards next_gen */
	uv_async_t reload_async;	/* main thread -> worker: install next_gen */
	int *fds;			/* bound listening sockets, one per listener */
	uv_tcp_t *listeners;		/* their libuv handles */
	uv_async_t stop_async;		/* main thread -> worker: begin shutdown */
	uv_timer_t shutdown_timer;	/* shutdown_timeout deadline */
	int stopping;			/* shutdown has begun */
	struct session *sessions;	/* live sessions (doubly linked, through session.prev/next) */
	unsigned nsessions;
	struct conn_loop cl;		/* the connections' shared flush and read buffer */
};

/*
 * Create and bind one listening socket for lc (SO_REUSEPORT, so every worker
 * binds the same address). With first set, it first checks that no other
 * process holds the address. Returns the fd, or -1 with a message in err.
 */
int worker_bind(const struct listener_conf *lc, int first, char *err, size_t errlen);

/* Start a worker thread on already bound sockets fds[nlisteners]. Returns 0 or -1. */
int worker_start(struct worker *w);

/* Hand a worker a new configuration generation (thread-safe; takes a reference). */
void worker_reload(struct worker *w, struct gen *g);

/* Ask a worker to shut down (thread-safe). */
void worker_stop(struct worker *w);

/* Wait for the worker thread to finish. */
void worker_join(struct worker *w);

#endif
