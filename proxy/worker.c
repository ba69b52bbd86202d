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

static void resume_accepting(struct worker *w);

/* The last handles of the loop: once closed, uv_run() returns. */
static void
close_worker_handles(struct worker *w)
{
	uv_close((uv_handle_t *)&w->stop_async, NULL);
	uv_close((uv_handle_t *)&w->shutdown_timer, NULL);
	conn_loop_close(&w->cl);
}

/* A session freed itself: unlink it (the list's only other change is in start_session). */
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
	else if (!w->stopping)
		resume_accepting(w);
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

/*
 * Accepting. Out of descriptors, libuv's own accept loop would accept and
 * at once close every waiting connection (its "EMFILE trick"), unlogged.
 * starttlsd accepts by itself instead: out of descriptors (or kernel
 * memory), a listener stops polling and says so once; its connections
 * wait in the kernel's backlog until a session of this worker ends or,
 * every ACCEPT_RETRY_MS, a retry (descriptors are shared by all threads).
 */
#define ACCEPT_RETRY_MS	200
#define ACCEPT_BATCH	64	/* then the loop runs the rest (the poll is level-triggered) */

struct acceptor {
	uv_poll_t poll;		/* readable: connections wait */
	uv_timer_t retry;	/* paused: try again */
	struct worker *w;
	size_t index;		/* the listener's, in w->gen->cfg */
	int paused;		/* not polling until the retry */
	uint64_t paused_at;	/* the first failure of a run (0: accepting fine) */
	int handles;		/* open handles, freed at 0 */
};

static void on_acceptable(uv_poll_t *p, int status, int events);

static struct acceptor *
acceptor_of(struct worker *w, size_t i)
{
	return w->listeners[i].data;
}

static void on_retry(uv_timer_t *t);

/* Stop polling until the retry timer (or a session's end) resumes it. */
static void
pause_accepting(struct acceptor *a, int err)
{
	struct worker *w = a->w;

	if (a->paused_at == 0) {
		a->paused_at = uv_now(&w->loop) + 1;
		log_event(LOG_WARN, "accept_paused", "listener=%s sessions=%u error=\"%s\"",
		    w->gen->cfg->listeners[a->index].name, w->nsessions, strerror(err));
	}
	a->paused = 1;
	uv_poll_stop(&a->poll);
	uv_timer_start(&a->retry, on_retry, ACCEPT_RETRY_MS, 0);
}

/* Take up to ACCEPT_BATCH waiting connections of a's listener. */
static void
accept_some(struct acceptor *a)
{
	struct worker *w = a->w;
	uv_os_fd_t lfd;
	int fd, n;

	if (w->stopping || uv_fileno((uv_handle_t *)&w->listeners[a->index], &lfd) != 0)
		return;
	for (n = 0; n < ACCEPT_BATCH; n++) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				pause_accepting(a, errno);
			else if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_event(LOG_WARN, "accept_error", "listener=%s error=\"%s\"",
				    w->gen->cfg->listeners[a->index].name, strerror(errno));
			return;
		}
		if (a->paused_at != 0) {
			log_event(LOG_INFO, "accept_resumed", "listener=%s paused_ms=%llu",
			    w->gen->cfg->listeners[a->index].name,
			    (unsigned long long)(uv_now(&w->loop) + 1 - a->paused_at));
			a->paused_at = 0;
		}
		start_session(w, a->index, fd);
	}
}

static void
on_acceptable(uv_poll_t *p, int status, int events)
{
	struct acceptor *a = p->data;

	(void)events;
	if (status < 0) {
		log_event(LOG_WARN, "accept_error", "listener=%s error=\"%s\"",
		    a->w->gen->cfg->listeners[a->index].name, uv_strerror(status));
		return;
	}
	accept_some(a);
}

/* Poll again, and take what waits now. */
static void
on_retry(uv_timer_t *t)
{
	struct acceptor *a = t->data;

	if (!a->paused || a->w->stopping)
		return;
	a->paused = 0;
	uv_poll_start(&a->poll, UV_READABLE, on_acceptable);
	accept_some(a);
}

/* A session ended: descriptors are free, so paused listeners retry now. */
static void
resume_accepting(struct worker *w)
{
	size_t i;

	for (i = 0; i < w->gen->cfg->nlisteners; i++)
		if (acceptor_of(w, i) != NULL && acceptor_of(w, i)->paused)
			uv_timer_start(&acceptor_of(w, i)->retry, on_retry, 0, 0);
}

static void
on_acceptor_closed(uv_handle_t *h)
{
	struct acceptor *a = h->data;

	if (--a->handles == 0)
		free(a);
}

/* Watch listener i's socket (already listening: the master bound it). */
static int
acceptor_start(struct worker *w, size_t i, int fd)
{
	struct acceptor *a;
	int r;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return UV_ENOMEM;
	a->w = w;
	a->index = i;
	if ((r = uv_poll_init(&w->loop, &a->poll, fd)) != 0) {
		free(a);
		return r;
	}
	uv_timer_init(&w->loop, &a->retry);
	a->poll.data = a->retry.data = a;
	a->handles = 2;
	w->listeners[i].data = a;
	return uv_poll_start(&a->poll, UV_READABLE, on_acceptable);
}

static void
acceptor_close(struct worker *w, size_t i)
{
	struct acceptor *a = acceptor_of(w, i);

	if (a == NULL)
		return;
	w->listeners[i].data = NULL;
	uv_close((uv_handle_t *)&a->poll, on_acceptor_closed);
	uv_close((uv_handle_t *)&a->retry, on_acceptor_closed);
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
		acceptor_close(w, i);
		uv_close((uv_handle_t *)&w->listeners[i], NULL);	/* this process's copy of the socket */
	}
	if (w->accepting != NULL && atomic_fetch_sub(w->accepting, 1) == 1 && w->stopped_accepting != NULL)
		w->stopped_accepting();
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
		w->listeners[i].data = NULL;	/* its acceptor, once started */
		if ((r = uv_tcp_open(&w->listeners[i], w->fds[i * w->fd_stride])) != 0 ||
		    (r = acceptor_start(w, i, w->fds[i * w->fd_stride])) != 0) {
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
