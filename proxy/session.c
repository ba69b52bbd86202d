/*
 * session.c - I/O for one proxied connection: accept, backend connect,
 * reads, TLS over memory BIOs, write queues with watermarks, the timer and
 * the one close path. SMTP decisions are made in relay.c.
 */
#include "session.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connlimit.h"
#include "identity.h"
#include "log.h"
#include "proxyproto.h"
#include "worker.h"

/* Flow control: stop reading a side once this much is queued for its peer. */
#define OUT_HIGH (256 * 1024)
#define OUT_LOW (64 * 1024)
/* Client plaintext waiting to be processed (e.g. held until a 354). */
#define CIN_HIGH (64 * 1024)
/* How long a graceful close may wait for the client to read our last words. */
#define LINGER_MS 5000

static atomic_uint_fast64_t next_id = 1;

static void on_client_read(uv_stream_t *h, ssize_t n, const uv_buf_t *b);
static void on_backend_read(uv_stream_t *h, ssize_t n, const uv_buf_t *b);
static void outq_flush(struct session *s, struct outq *q, uv_stream_t *h);
static int take_proxy_header(struct session *s);

static void
fmt_addr(const struct sockaddr_storage *ss, char *dst, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		uv_ip6_name((const struct sockaddr_in6 *)ss, host, sizeof(host));
		snprintf(dst, len, "[%s]:%u", host, ntohs(((const struct sockaddr_in6 *)ss)->sin6_port));
	} else {
		uv_ip4_name((const struct sockaddr_in *)ss, host, sizeof(host));
		snprintf(dst, len, "%s:%u", host, ntohs(((const struct sockaddr_in *)ss)->sin_port));
	}
}

static size_t
outq_size(const struct outq *q)
{
	return buf_pending(&q->pending) + buf_pending(&q->inflight);
}

static void
on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	struct session *s = h->data;

	(void)hint;
	b->base = s->w->readbuf;
	b->len = sizeof(s->w->readbuf);
}

/* Free the session once its last handle is closed. */
static void
on_handle_closed(uv_handle_t *h)
{
	struct session *s = h->data;

	if (--s->nhandles > 0)
		return;
	tls_free(&s->tls);
	buf_free(&s->cin);
	buf_free(&s->rin);
	buf_free(&s->to_client.pending);
	buf_free(&s->to_client.inflight);
	buf_free(&s->to_backend.pending);
	buf_free(&s->to_backend.inflight);
	relay_free(s);
	worker_session_gone(s->w, s);
	gen_unref(s->gen);
	free(s);
}

/* Close one of the session's handles, once; *closed records that it was. */
static void
close_once(uv_handle_t *h, int *closed)
{
	if (*closed)
		return;
	*closed = 1;
	uv_close(h, on_handle_closed);
}

#define close_client(s) close_once((uv_handle_t *)&(s)->client, &(s)->client_closed)
#define close_backend(s) close_once((uv_handle_t *)&(s)->backend, &(s)->backend_closed)
#define close_timer(s) close_once((uv_handle_t *)&(s)->timer, &(s)->timer_closed)

void
session_drop_backend(struct session *s)
{
	if (s->reading_backend)
		uv_read_stop((uv_stream_t *)&s->backend);
	s->reading_backend = 0;
	buf_free(&s->to_backend.pending);
	close_backend(s);
}

static void
on_client_shutdown(uv_shutdown_t *req, int status)
{
	struct session *s = req->data;

	(void)status;
	close_client(s);
	close_timer(s);
}

/* All queued output for the client is written (or we gave up): finish. */
static void
finish_client(struct session *s)
{
	if (s->client_closed)
		return;
	if (uv_shutdown(&s->shutdown_req, (uv_stream_t *)&s->client, on_client_shutdown) == 0)
		return;
	on_client_shutdown(&s->shutdown_req, 0);
}

static void
on_linger_timeout(uv_timer_t *t)
{
	struct session *s = t->data;

	close_client(s);
	close_timer(s);
}

void
session_end(struct session *s, const char *reason, int graceful)
{
	if (s->closing)
		return;
	s->closing = 1;
	s->cstate = C_DONE;
	s->end_reason = reason;
	/* Free the connection-limit slot now: a client that reconnects as soon
	 * as it sees our close must not find itself still counted. */
	if (s->counted)
		connlimit_release(&s->peer_addr);
	s->counted = 0;
	log_event(LOG_INFO, "disconnect", "sid=%016llx reason=%s bytes_in=%llu bytes_out=%llu duration_ms=%llu",
	    (unsigned long long)s->id, reason, (unsigned long long)s->bytes_from_client,
	    (unsigned long long)s->bytes_to_client, (unsigned long long)(uv_now(&s->w->loop) - s->started_ms));
	/* The backend goes at once: whatever was not sent never will be, so a
	 * message cut short can never look complete to it. */
	close_backend(s);
	if (!s->client_closed)
		uv_read_stop((uv_stream_t *)&s->client);
	s->reading_client = 0;
	if (graceful && !s->client_closed) {
		if (s->tls.ssl != NULL && s->tls_up) {
			tls_close_notify(&s->tls);
		}
		outq_flush(s, &s->to_client, (uv_stream_t *)&s->client);
		if (s->client_closed)	/* the flush failed and closed it */
			goto timer;
		uv_timer_start(&s->timer, on_linger_timeout, LINGER_MS, 0);
		if (!s->to_client.writing)
			finish_client(s);
		return;
	}
	close_client(s);
timer:
	close_timer(s);
}

static void
on_write(uv_write_t *req, int status)
{
	struct session *s = req->data;
	struct outq *q = req == &s->to_client.req ? &s->to_client : &s->to_backend;
	uv_stream_t *h = q == &s->to_client ? (uv_stream_t *)&s->client : (uv_stream_t *)&s->backend;

	q->writing = 0;
	buf_clear(&q->inflight);
	if (buf_pending(&q->pending) == 0)
		buf_free(&q->inflight);	/* idle: give the memory back */
	if (status == UV_ECANCELED)
		return;
	if (status < 0) {
		if (q == &s->to_client)
			close_client(s);	/* stop a graceful close from waiting */
		session_end(s, q == &s->to_client ? "client_write_error" : "backend_write_error", 0);
		return;
	}
	if (s->closing) {
		if (q == &s->to_client && !s->client_closed) {
			outq_flush(s, q, h);
			if (!q->writing && !s->client_closed)
				finish_client(s);
		}
		return;
	}
	outq_flush(s, q, h);
	session_flow(s);
}

/* Hand pending bytes to the socket: uv_try_write first, then one uv_write. */
static void
outq_flush(struct session *s, struct outq *q, uv_stream_t *h)
{
	uv_buf_t b;
	int r;
	struct buf tmp;

	if (q->writing || buf_pending(&q->pending) == 0)
		return;
	if (q == &s->to_backend && (!s->backend_up || s->backend_closed))
		return;
	if (q == &s->to_client && s->client_closed)
		return;
	b = uv_buf_init(buf_head(&q->pending), (unsigned)buf_pending(&q->pending));
	r = uv_try_write(h, &b, 1);
	if (r > 0) {
		if (q == &s->to_client)
			s->bytes_to_client += (uint64_t)r;
		buf_consume(&q->pending, (size_t)r);
		if (buf_pending(&q->pending) == 0) {
			buf_release(&q->pending);
			return;
		}
	} else if (r != UV_EAGAIN && r != UV_ENOSYS) {
		if (q == &s->to_client)
			close_client(s);
		session_end(s, q == &s->to_client ? "client_write_error" : "backend_write_error", 0);
		return;
	}
	/* Swap: pending becomes the in-flight buffer, a fresh pending collects more. */
	tmp = q->inflight;
	q->inflight = q->pending;
	q->pending = tmp;
	b = uv_buf_init(buf_head(&q->inflight), (unsigned)buf_pending(&q->inflight));
	if (q == &s->to_client)
		s->bytes_to_client += b.len;
	q->req.data = s;
	if ((r = uv_write(&q->req, h, &b, 1, on_write)) != 0) {
		buf_clear(&q->inflight);	/* no callback will run */
		if (q == &s->to_client)
			close_client(s);
		session_end(s, q == &s->to_client ? "client_write_error" : "backend_write_error", 0);
		return;
	}
	q->writing = 1;
}

int
session_to_client(struct session *s, const char *p, size_t n)
{
	if (s->client_closed)
		return -1;
	if (s->tls.ssl != NULL) {
		if (tls_write(&s->tls, p, n) != 0)
			return -1;
	} else if (buf_append(&s->to_client.pending, p, n) != 0) {
		return -1;
	}
	outq_flush(s, &s->to_client, (uv_stream_t *)&s->client);
	return 0;
}

int
session_to_backend(struct session *s, const char *p, size_t n)
{
	if (s->backend_closed)
		return -1;
	if (buf_append(&s->to_backend.pending, p, n) != 0)
		return -1;
	outq_flush(s, &s->to_backend, (uv_stream_t *)&s->backend);
	return 0;
}

void
session_flow(struct session *s)
{
	int want;

	if (s->closing)
		return;
	/* Client: read while its plaintext and what it feeds the backend fit. */
	want = !s->client_eof && s->cstate != C_DONE && buf_pending(&s->cin) < CIN_HIGH &&
	    outq_size(&s->to_backend) < (s->reading_client ? OUT_HIGH : OUT_LOW) &&
	    /* our own replies count too: a client that does not read stops being read */
	    outq_size(&s->to_client) < (s->reading_client ? OUT_HIGH : OUT_LOW) &&
	    (s->tls.ssl == NULL || tls_unread(&s->tls) < CIN_HIGH);
	if (want && !s->reading_client) {
		if (uv_read_start((uv_stream_t *)&s->client, on_alloc, on_client_read) == 0)
			s->reading_client = 1;
	} else if (!want && s->reading_client) {
		uv_read_stop((uv_stream_t *)&s->client);
		s->reading_client = 0;
	}
	/* Backend: read while the client keeps up with our replies. In implicit
	 * mode, the greeting waits in the kernel until TLS is up. */
	want = s->backend_up && !s->backend_closed && (s->lc->tls != TLS_MODE_IMPLICIT || s->tls_up) &&
	    outq_size(&s->to_client) < (s->reading_backend ? OUT_HIGH : OUT_LOW);
	if (want && !s->reading_backend) {
		if (uv_read_start((uv_stream_t *)&s->backend, on_alloc, on_backend_read) == 0)
			s->reading_backend = 1;
	} else if (!want && s->reading_backend) {
		uv_read_stop((uv_stream_t *)&s->backend);
		s->reading_backend = 0;
	}
}

/*
 * Decrypt what TLS holds into cin (bounded), driving the handshake first.
 * Returns 1 if it stopped because cin is full, 0 if TLS needs more input,
 * -1 if the session ended.
 */
static int
client_tls_input(struct session *s)
{
	char e[256];
	char *p;
	int r, full = 0;

	if (!s->tls_up) {
		r = tls_handshake(&s->tls);
		if (r < 0) {
			log_event(LOG_WARN, "tls_error", "sid=%016llx stage=handshake client=%s error=\"%s\"",
			    (unsigned long long)s->id, s->peer, tls_error(e, sizeof(e)));
			session_end(s, "tls_handshake_failed", 1);
			return -1;
		}
		outq_flush(s, &s->to_client, (uv_stream_t *)&s->client);
		if (s->closing)
			return -1;
		if (r == 0)
			return 0;
		s->tls_up = 1;
		relay_tls_ready(s);
		if (s->closing)
			return -1;
	}
	for (;;) {
		if (buf_pending(&s->cin) >= CIN_HIGH) {
			full = 1;
			break;
		}
		if ((p = buf_reserve(&s->cin, 16384)) == NULL)
			goto nomem;
		r = tls_read(&s->tls, p, 16384);
		if (r > 0) {
			buf_commit(&s->cin, (size_t)r);
			continue;
		}
		if (r == 0)
			break;
		if (r == TLS_EOF) {
			s->client_eof = 1;
			break;
		}
		log_event(LOG_WARN, "tls_error", "sid=%016llx stage=read error=\"%s\"", (unsigned long long)s->id,
		    tls_error(e, sizeof(e)));
		session_end(s, "tls_error", 0);
		return -1;
	}
	outq_flush(s, &s->to_client, (uv_stream_t *)&s->client);
	return s->closing ? -1 : full;
nomem:
	session_end(s, "out_of_memory", 0);
	return -1;
}

void
session_client_input(struct session *s)
{
	int r, full;

	for (;;) {
		full = 0;
		if (s->tls.ssl != NULL) {
			if ((r = client_tls_input(s)) < 0)
				return;
			full = r == 1;
		}
		if (s->closing)
			return;
		relay_client_input(s);
		if (s->closing)
			return;
		/* TLS stopped decrypting because cin was full: go on if relay made room. */
		if (!full || buf_pending(&s->cin) >= CIN_HIGH)
			break;
	}
	buf_release(&s->cin);	/* frees it only if everything was processed */
	session_flow(s);
}

static void
on_client_read(uv_stream_t *h, ssize_t n, const uv_buf_t *b)
{
	struct session *s = h->data;

	if (s->closing || n == 0)
		return;
	if (n < 0) {
		if (n != UV_EOF) {
			session_end(s, "client_error", 0);
			return;
		}
		s->client_eof = 1;
		uv_read_stop(h);
		s->reading_client = 0;
		session_client_input(s);	/* let relay decide: finish queued work or abort */
		return;
	}
	s->bytes_from_client += (uint64_t)n;
	if (s->cstate == C_DONE)
		return;
	if (s->cstate == C_PROXY_HDR) {
		if (buf_append(&s->cin, b->base, (size_t)n) != 0) {
			session_end(s, "out_of_memory", 0);
			return;
		}
		if (take_proxy_header(s))
			session_client_input(s);
		return;
	}
	if (s->tls.ssl != NULL) {
		/* BoringSSL reads straight from the read buffer; what it leaves is kept. */
		tls_feed(&s->tls, b->base, (size_t)n);
		session_client_input(s);
		if (s->tls.ssl != NULL)
			tls_feed_end(&s->tls);
		return;
	}
	if (buf_append(&s->cin, b->base, (size_t)n) != 0) {
		session_end(s, "out_of_memory", 0);
		return;
	}
	session_client_input(s);
}

static void
on_backend_read(uv_stream_t *h, ssize_t n, const uv_buf_t *b)
{
	struct session *s = h->data;

	if (s->closing || n == 0)
		return;
	if (n < 0) {
		log_event(LOG_INFO, "backend_closed", "sid=%016llx state=%s", (unsigned long long)s->id,
		    relay_strstate(s->cstate));
		if (s->cstate == C_DATA) {
			session_end(s, "backend_closed_in_data", 0);
			return;
		}
		session_to_client(s, "421 4.4.2 ", 10);
		session_to_client(s, s->lc->hostname, strlen(s->lc->hostname));
		session_to_client(s, " Backend closed the connection\r\n", 32);
		session_end(s, "backend_closed", 1);
		return;
	}
	if (buf_append(&s->rin, b->base, (size_t)n) != 0) {
		session_end(s, "out_of_memory", 0);
		return;
	}
	relay_backend_input(s);
	if (!s->closing)
		session_flow(s);
}

static void
on_timeout(uv_timer_t *t)
{
	struct session *s = t->data;
	const char *what;
	char line[300];

	if (s->cstate == C_HANDSHAKE || s->cstate == C_PROXY_HDR) {
		session_end(s, s->cstate == C_HANDSHAKE ? "tls_handshake_timeout" : "proxy_header_timeout", 0);
		return;
	} else if (s->lc->session_timeout_ms && uv_now(&s->w->loop) >= s->started_ms + s->lc->session_timeout_ms) {
		what = "session_timeout";
		snprintf(line, sizeof(line), "421 4.4.2 %s Session too long, closing connection\r\n", s->lc->hostname);
	} else if (!s->backend_up) {
		what = "backend_connect_timeout";
		snprintf(line, sizeof(line), "421 4.4.1 %s Backend unavailable, try again later\r\n", s->lc->hostname);
	} else {
		what = s->cstate == C_DATA ? "data_timeout" : "idle_timeout";
		snprintf(line, sizeof(line), "421 4.4.2 %s Timeout, closing connection\r\n", s->lc->hostname);
	}
	if (s->tls.ssl == NULL || s->tls_up)
		session_to_client(s, line, strlen(line));
	session_end(s, what, 1);
}

void
session_arm_timer(struct session *s)
{
	uint64_t ms;

	if (s->closing)
		return;
	if (!s->backend_up)
		ms = s->lc->connect_timeout_ms;
	else if (s->cstate == C_HANDSHAKE)
		ms = s->lc->handshake_timeout_ms;
	else if (s->cstate == C_DATA || (s->qlen > 0 && s->queue[s->qhead] == P_DATA_END))
		ms = s->lc->data_timeout_ms;
	else
		ms = s->lc->idle_timeout_ms;
	/* session_timeout caps the whole session, whatever the state. */
	if (s->lc->session_timeout_ms) {
		uint64_t end = s->started_ms + s->lc->session_timeout_ms, now = uv_now(&s->w->loop);
		if (end <= now)
			ms = 0;
		else if (end - now < ms)
			ms = end - now;
	}
	uv_timer_start(&s->timer, on_timeout, ms, 0);
}

int
session_start_tls(struct session *s)
{
	if (tls_start(&s->tls, tls_server_ctx(s->gen->tls), &s->to_client.pending) != 0) {
		session_end(s, "tls_setup_failed", 0);
		return -1;
	}
	s->cstate = C_HANDSHAKE;
	uv_timer_start(&s->timer, on_timeout, s->lc->handshake_timeout_ms, 0);
	return 0;
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct session *s = req->data;
	char line[300];

	if (status == UV_ECANCELED || s->closing)
		return;
	if (status < 0) {
		log_event(LOG_WARN, "backend_error", "sid=%016llx backend=%s error=\"%s\"", (unsigned long long)s->id,
		    s->lc->backend_str, uv_strerror(status));
		snprintf(line, sizeof(line), "421 4.4.1 %s Backend unavailable, try again later\r\n", s->lc->hostname);
		/* In implicit mode before the handshake, TLS cannot carry it: just close. */
		if (s->tls.ssl == NULL || s->tls_up)
			session_to_client(s, line, strlen(line));
		session_end(s, "backend_connect_failed", 1);
		return;
	}
	s->backend_up = 1;
	uv_tcp_nodelay(&s->backend, 1);
	if (s->cstate != C_HANDSHAKE)
		session_arm_timer(s);
	outq_flush(s, &s->to_backend, (uv_stream_t *)&s->backend);
	session_flow(s);
}

void
session_shutdown(struct session *s)
{
	char line[300];

	if (s->closing)
		return;
	snprintf(line, sizeof(line), "421 4.3.2 %s Service shutting down, try again later\r\n", s->lc->hostname);
	if (s->tls.ssl == NULL || s->tls_up)
		session_to_client(s, line, strlen(line));
	session_end(s, "shutdown", 1);
}

/* Over a connection limit: say 421 (over TLS in implicit mode) and close. */
static void
refuse_connection(struct session *s, const char *why)
{
	char line[300];

	log_event(LOG_WARN, "refused", "sid=%016llx client=%s reason=%s", (unsigned long long)s->id, s->peer, why);
	s->backend_up = 1;	/* there will be none: keep timers from waiting for it */
	s->backend_gone = 1;
	close_backend(s);
	if (s->lc->tls == TLS_MODE_IMPLICIT) {
		/* A 421 would need a whole handshake first: refusing is cheaper as a close. */
		session_end(s, why, 0);
		return;
	}
	snprintf(line, sizeof(line), "421 4.7.0 %s Too many connections, try again later\r\n", s->lc->hostname);
	session_to_client(s, line, strlen(line));
	session_end(s, why, 1);
}

/* Start connecting to the backend, from source_address if one is set. */
static int
connect_backend(struct session *s)
{
	const struct listener_conf *lc = s->lc;
	int r;

	if (lc->source_address.ss_family != 0 &&
	    (r = uv_tcp_bind(&s->backend, (const struct sockaddr *)&lc->source_address, 0)) != 0)
		return r;
	return uv_tcp_connect(&s->connect_req, &s->backend, (const struct sockaddr *)&lc->backend, on_connect);
}

/*
 * The client is known (directly, or from a PROXY header): count it, connect
 * to the backend, and in implicit mode start TLS.
 */
static void
session_begin(struct session *s)
{
	const struct listener_conf *lc = s->lc;
	const char *why;
	int r;

	if (connlimit_acquire(&s->peer_addr, lc->max_connections_per_ip, s->gen->cfg->max_connections, &why) != 0) {
		refuse_connection(s, why);
		return;
	}
	s->counted = 1;
	if ((r = connect_backend(s)) != 0) {
		on_connect(&s->connect_req, r);
		return;
	}
	if ((lc->backend_identity == IDENTITY_PROXY_V1 || lc->backend_identity == IDENTITY_PROXY_V2) &&
	    identity_send_proxy(s) != 0) {
		session_end(s, "out_of_memory", 0);
		return;
	}
	if (lc->tls == TLS_MODE_IMPLICIT && session_start_tls(s) != 0)
		return;
	if (s->cstate != C_HANDSHAKE)
		session_arm_timer(s);
	session_flow(s);
}

/* C_PROXY_HDR: bytes from the load balancer; returns 1 once the session began. */
static int
take_proxy_header(struct session *s)
{
	int r = identity_take_proxy(s);

	if (r == 0 && buf_pending(&s->cin) <= PROXYPROTO_MAXLEN)
		return 0;
	if (r <= 0) {
		log_event(LOG_WARN, "refused", "sid=%016llx client=%s reason=bad_proxy_header", (unsigned long long)s->id,
		    s->peer);
		session_end(s, "bad_proxy_header", 0);
		return 0;
	}
	s->cstate = C_CMD;
	session_begin(s);
	if (s->closing)
		return 0;
	if (s->tls.ssl != NULL && buf_pending(&s->cin) > 0) {
		/* What followed the header is the start of the TLS handshake. */
		tls_feed(&s->tls, buf_head(&s->cin), buf_pending(&s->cin));
		tls_feed_end(&s->tls);
		buf_clear(&s->cin);
	}
	return 1;
}

static void
free_unaccepted(uv_handle_t *h)
{
	free(h->data);
}

int
session_start(struct worker *w, const struct listener_conf *lc, uv_stream_t *server)
{
	struct session *s;
	int len = sizeof(s->peer_addr);

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -1;
	s->w = w;
	s->gen = w->gen;
	gen_ref(s->gen);
	s->lc = lc;
	s->id = atomic_fetch_add(&next_id, 1) | ((uint64_t)w->index << 56);
	s->started_ms = uv_now(&w->loop);
	uv_tcp_init(&w->loop, &s->client);
	s->client.data = s;
	s->nhandles = 1;
	if (uv_accept(server, (uv_stream_t *)&s->client) != 0) {
		gen_unref(s->gen);
		uv_close((uv_handle_t *)&s->client, free_unaccepted);
		return -1;
	}
	uv_tcp_init(&w->loop, &s->backend);
	uv_timer_init(&w->loop, &s->timer);
	s->backend.data = s->timer.data = s->connect_req.data = s->shutdown_req.data = s;
	s->nhandles = 3;
	/* Link in first: from here on, session_end() is the only way out. */
	s->next = w->sessions;
	if (w->sessions)
		w->sessions->prev = s;
	w->sessions = s;
	w->nsessions++;

	if (uv_tcp_getpeername(&s->client, (struct sockaddr *)&s->peer_addr, &len) == 0)
		fmt_addr(&s->peer_addr, s->peer, sizeof(s->peer));
	else
		snprintf(s->peer, sizeof(s->peer), "unknown");
	uv_tcp_nodelay(&s->client, 1);
	log_event(LOG_INFO, "connect", "sid=%016llx listener=%s client=%s tls=%s", (unsigned long long)s->id,
	    lc->name, s->peer, config_tls_mode_name(lc->tls));

	relay_init(s);
	if (identity_expect_proxy(s)) {
		/* A trusted load balancer speaks first: who is the client? */
		s->cstate = C_PROXY_HDR;
		uv_timer_start(&s->timer, on_timeout, lc->handshake_timeout_ms, 0);
		session_flow(s);
		return 0;
	}
	session_begin(s);
	return 0;
}
