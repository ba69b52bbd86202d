/* worker.c - one event loop thread with its own listening sockets; see worker.h. */
#define _GNU_SOURCE	/* accept4() */
#include "worker.h"

#include <errno.h>
#include <stdatomic.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "session.h"

static atomic_uint_fast64_t next_id = 1;

/* The last handles of the loop: once closed, uv_run() returns. */
static void
close_worker_handles(struct worker *w)
{
	uv_close((uv_handle_t *)&w->stop_async, NULL);
	uv_close((uv_handle_t *)&w->shutdown_timer, NULL);
	conn_loop_close(&w->cl);
}

/* A session freed itself: unlink it (the list's only other change is in on_connection). */
static void
session_gone(struct session *s, void *arg)
{
	struct worker *w = arg;

	if (s->prev)
		s->prev->next = s->next;
	else
		w->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	w->nsessions--;
	atomic_store_explicit(&w->live, w->nsessions, memory_order_relaxed);
	if (w->stopping && w->nsessions == 0)
		close_worker_handles(w);
}

/* Start a session for a connection on listener i: pending on its socket, or fd when >= 0. */
static void
start_session(struct worker *w, size_t i, int fd)
{
	const struct listener_conf *lc = &w->gen->cfg->listeners[i];
	uint64_t id = atomic_fetch_add(&next_id, 1) | ((uint64_t)w->index << 56);
	struct session *s;

	if ((s = session_start(&w->env, w->gen, lc, (uv_stream_t *)&w->listeners[i], fd, id)) == NULL) {
		log_event(LOG_WARN, "accept_error", "listener=%s error=\"cannot start session\"", lc->name);
		if (fd >= 0)
			close(fd);
		return;
	}
	/* A session is freed in a close callback, never inside session_start(): linking it now is safe. */
	s->prev = NULL;
	s->next = w->sessions;
	if (w->sessions)
		w->sessions->prev = s;
	w->sessions = s;
	w->nsessions++;
	atomic_store_explicit(&w->live, w->nsessions, memory_order_relaxed);
}

static void
on_connection(uv_stream_t *server, int status)
{
	struct worker *w = server->loop->data;
	size_t i = (size_t)(uintptr_t)server->data;

	if (status < 0) {
		log_event(LOG_WARN, "accept_error", "listener=%s error=\"%s\"", w->gen->cfg->listeners[i].name,
		    uv_strerror(status));
		return;
	}
	if (!w->stopping)
		start_session(w, i, -1);
}

/*
 * Closing a listening socket resets the connections the kernel completed
 * but nobody accepted, and a balancer in front already counted them as
 * connected: take them all first, to be served and drained like the rest.
 * (On a reload the socket lives on in the new serving process; then this
 * takes only what was queued at that instant.)
 */
static void
accept_backlog(struct worker *w, size_t i)
{
	uv_os_fd_t lfd;
	int fd;

	if (uv_fileno((uv_handle_t *)&w->listeners[i], &lfd) != 0)
		return;
	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
		start_session(w, i, fd);
}

unsigned
worker_sessions(struct worker *w)
{
	return atomic_load_explicit(&w->live, memory_order_relaxed);
}

/* shutdown_timeout expired: end every remaining session with a 421. */
static void
on_shutdown_deadline(uv_timer_t *t)
{
	struct worker *w = t->data;
	struct session *s, *next;

	log_event(LOG_INFO, "shutdown_deadline", "worker=%d sessions=%u", w->index, w->nsessions);
	for (s = w->sessions; s != NULL; s = next) {
		next = s->next;
		session_shutdown(s);
	}
}

static void
on_stop(uv_async_t *a)
{
	struct worker *w = a->data;
	size_t i;

	if (w->stopping)
		return;
	w->stopping = 1;
	for (i = 0; i < w->gen->cfg->nlisteners; i++) {
		accept_backlog(w, i);
		uv_close((uv_handle_t *)&w->listeners[i], NULL);
	}
	if (w->nsessions == 0) {
		close_worker_handles(w);
		return;
	}
	log_event(LOG_INFO, "draining", "worker=%d sessions=%u timeout_ms=%llu", w->index, w->nsessions,
	    (unsigned long long)w->gen->cfg->shutdown_timeout_ms);
	uv_timer_start(&w->shutdown_timer, on_shutdown_deadline, w->gen->cfg->shutdown_timeout_ms, 0);
}

static void
run(void *arg)
{
	struct worker *w = arg;

	uv_run(&w->loop, UV_RUN_DEFAULT);	/* lookups in flight keep it running until they end */
	resolver_free(w->resolver);
	w->resolver = NULL;
}

int
worker_start(struct worker *w)
{
	size_t i;
	int r;

	if (uv_loop_init(&w->loop) != 0)
		return -1;
	w->loop.data = w;
	if ((w->listeners = calloc(w->gen->cfg->nlisteners, sizeof(*w->listeners))) == NULL)
		return -1;
	uv_async_init(&w->loop, &w->stop_async, on_stop);
	w->stop_async.data = w;
	uv_timer_init(&w->loop, &w->shutdown_timer);
	w->shutdown_timer.data = w;
	if (conn_loop_init(&w->cl, &w->loop) != 0 || (w->resolver = resolver_new(&w->loop)) == NULL)
		return -1;
	w->env.cl = &w->cl;
	w->env.resolver = w->resolver;
	w->env.gone = session_gone;
	w->env.arg = w;
	w->env.metrics = w->metrics;
	for (i = 0; i < w->gen->cfg->nlisteners; i++) {
		uv_tcp_init(&w->loop, &w->listeners[i]);
		w->listeners[i].data = (void *)(uintptr_t)i;	/* an index: reloads swap the config */
		if ((r = uv_tcp_open(&w->listeners[i], w->fds[i * w->fd_stride])) != 0 ||
		    (r = uv_listen((uv_stream_t *)&w->listeners[i], 1024, on_connection)) != 0) {
			log_event(LOG_ERROR, "listen_error", "listener=%s error=\"%s\"", w->gen->cfg->listeners[i].name,
			    uv_strerror(r));
			return -1;
		}
	}
	return uv_thread_create(&w->thread, run, w) == 0 ? 0 : -1;
}

void
worker_stop(struct worker *w)
{
	uv_async_send(&w->stop_async);
}

void
worker_join(struct worker *w)
{
	uv_thread_join(&w->thread);
	if (uv_loop_close(&w->loop) != 0)
		log_event(LOG_ERROR, "leak", "worker=%d error=\"loop closed with live handles\"", w->index);
	free(w->listeners);
	w->listeners = NULL;
	gen_unref(w->gen);
	w->gen = NULL;
}
