/*
 * session.c - one proxied connection's lifecycle: accept, PROXY header,
 * limits, backend connect, TLS handshakes, the timer and the one close
 * path; see session.h. SMTP decisions are the relay's.
 */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_fault.h"
#include "connlimit.h"
#include "log.h"
#include "proxyproto.h"
#include "tls_server.h"

/* How long a graceful close may wait for the client to read our last words. */
#define LINGER_MS 5000
/* While the client is not read, how often to look whether it has reset (a gone client frees its backend). */
#define PROBE_MS 1000

#define SID(s) ((unsigned long long)(s)->id)

static void session_end(struct session *s, const char *reason, int graceful);

/* --- counting (metrics.h) --- */

/* Its listener's index in the configuration: its row in the counters. */
static size_t
listener_index(const struct session *s)
{
	return (size_t)(s->lc - s->gen->cfg->listeners);
}

static void
count(struct session *s, enum metrics_counter c, uint64_t n)
{
	metrics_add(s->env->metrics, listener_index(s), c, n);
}

/* Seconds since a uv_now() time. */
static double
since(const struct session *s, uint64_t t)
{
	return (double)(uv_now(s->loop) - t) / 1000.0;
}

static void
io_note(void *ctx, enum relay_note what, uint64_t n)
{
	struct session *s = ctx;

	switch (what) {
	case RN_MESSAGE_ACCEPTED:
		count(s, MC_MSG_ACCEPTED, 1);
		count(s, MC_MSG_BYTES, n);
		break;
	case RN_MESSAGE_REJECTED:
		count(s, MC_MSG_REJECTED, 1);
		break;
	case RN_MESSAGE_ABORTED:
		count(s, MC_MSG_ABORTED, 1);
		break;
	default:	/* the policy rules, in the same order */
		if (what >= RN_REQUIRE_TLS && what < RN_COUNT)
			count(s, (enum metrics_counter)(MC_POLICY_REQUIRE_TLS + (what - RN_REQUIRE_TLS)), 1);
	}
}

/* --- the one timer --- */

static uint64_t
earliest(const struct session *s)
{
	const uint64_t d[] = { s->proxy_by, s->connect_by, s->handshake_by, s->relay_by, s->session_by, s->probe_by };
	uint64_t m = 0;
	size_t i;

	for (i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		if (d[i] != 0 && (m == 0 || d[i] < m))
			m = d[i];
	return m;
}

static void on_timer(uv_timer_t *t);

/* Make the timer fire by the earliest deadline; a later one leaves it alone (it re-arms on firing). */
static void
rearm(struct session *s)
{
	uint64_t when = earliest(s), now = uv_now(s->loop);

	if (s->closing || when == 0 || (s->armed_at != 0 && s->armed_at <= when))
		return;
	s->armed_at = when;
	uv_timer_start(&s->timer, on_timer, when > now ? when - now : 0, 0);
}

static int
expired(uint64_t by, uint64_t now)
{
	return by != 0 && now >= by;
}

static void
on_linger(uv_timer_t *t)
{
	struct session *s = t->data;

	conn_close(&s->client, CONN_NOW);
}

static void
on_timer(uv_timer_t *t)
{
	struct session *s = t->data;
	uint64_t now = uv_now(s->loop);

	s->armed_at = 0;
	if (expired(s->proxy_by, now)) {
		count(s, MC_CONN_PROXY_HEADER_ERROR, 1);
		session_end(s, "proxy_header_timeout", 0);
	} else if (expired(s->handshake_by, now)) {
		count(s, MC_TLSFAIL_TIMEOUT, 1);
		session_end(s, "tls_handshake_timeout", 0);
	} else if (expired(s->connect_by, now)) {
		count(s, MC_CONN_BACKEND_UNAVAILABLE, 1);
		metrics_backend(s->env->metrics, listener_index(s), 0);
		relay_backend_unavailable(&s->relay, "backend_connect_timeout");
	}
	else if (expired(s->session_by, now))
		relay_timeout(&s->relay, 1);
	else if (expired(s->relay_by, now))
		relay_timeout(&s->relay, 0);
	else if (expired(s->probe_by, now) && conn_peer_reset(&s->client))
		session_end(s, "client_error", 0);	/* what a read would have said */
	else {
		if (expired(s->probe_by, now))
			s->probe_by = now + PROBE_MS;
		rearm(s);
	}
}

/* --- what the relay asks of us --- */

static void
io_to_client(void *ctx, const char *p, size_t n)
{
	struct session *s = ctx;

	if (conn_write(&s->client, p, n) != 0 && !s->client.closing)
		session_end(s, "out_of_memory", 0);
}

static void
io_to_backend(void *ctx, const char *p, size_t n)
{
	struct session *s = ctx;

	if (conn_write(&s->backend, p, n) != 0 && !s->backend.closing)
		session_end(s, "out_of_memory", 0);
}

static int
io_client_full(void *ctx)
{
	struct session *s = ctx;

	return conn_full(&s->client);
}

static int
io_client_sent(void *ctx, uint64_t *mark)
{
	struct session *s = ctx;

	if (*mark == 0) {
		if (conn_queued(&s->client) > 0)
			return 0;
		*mark = s->client.bytes_out;
	}
	return conn_sent(&s->client, *mark);
}

/* Plaintext backends only: through TLS the queue holds records, not the bytes the relay counts. */
static size_t
io_backend_unsent(void *ctx)
{
	struct session *s = ctx;

	return s->lc->backend_tls == BACKEND_TLS_NONE ? conn_unsent(&s->backend) : 0;
}

static void
io_start_tls(void *ctx)
{
	struct session *s = ctx;

	if (conn_start_tls(&s->client, tls_server_ctx(s->gen->tls), NULL) != 0) {
		session_end(s, "tls_setup_failed", 0);
		return;
	}
	s->tls_started = uv_now(s->loop);
	s->handshake_by = s->tls_started + s->lc->handshake_timeout_ms;
	rearm(s);
}

static void
io_drop_backend(void *ctx)
{
	struct session *s = ctx;

	conn_close(&s->backend, CONN_RESET);
}

static void
io_deadline(void *ctx, uint64_t ms)
{
	struct session *s = ctx;

	s->relay_by = uv_now(s->loop) + ms;
	rearm(s);
}

static void
io_end(void *ctx, const char *reason, int graceful)
{
	session_end(ctx, reason, graceful);
}

/* The upstream of a backend_tls listener and the name its certificate must carry. */
static const struct upstream_tls *
upstream(const struct session *s)
{
	return &s->gen->upstream[listener_index(s)];
}

static void
io_backend_start_tls(void *ctx)
{
	struct session *s = ctx;
	const struct upstream_tls *u = upstream(s);

	if (conn_start_tls(&s->backend, u->ctx, u->server_name != NULL ? u->server_name : "") != 0)
		session_end(s, "tls_setup_failed", 0);
}

static const char *
io_backend_auth(void *ctx)
{
	return upstream(ctx)->auth_plain;
}

/*
 * The end of a message is about to go to the backend: room for its reply
 * (RFC 5321 4.5.3.1.5: a reply line is at most 512 bytes) in the backend's
 * input, which is kept until that reply is read (conn.c frees it only after
 * handing input over), and in the client's output (conn_reserve).
 */
static int
io_reserve_reply(void *ctx)
{
	struct session *s = ctx;

	return buf_reserve(conn_input(&s->backend), 512) != NULL && conn_reserve(&s->client, 512) == 0 ? 0 : -1;
}

static const struct relay_io relay_io = {
	.to_client = io_to_client,
	.to_backend = io_to_backend,
	.client_full = io_client_full,
	.client_sent = io_client_sent,
	.backend_unsent = io_backend_unsent,
	.start_tls = io_start_tls,
	.drop_backend = io_drop_backend,
	.deadline = io_deadline,
	.end = io_end,
	.note = io_note,
	.backend_start_tls = io_backend_start_tls,
	.backend_auth = io_backend_auth,
	.reserve_reply = io_reserve_reply,
};

/* --- flow control and the close path --- */

/* Each side is read only while the other side's queue has room; a message streams in large reads. */
static void
flow(struct session *s)
{
	int hold = conn_full(&s->backend);

	if (s->closing)
		return;
	if (hold != (s->probe_by != 0)) {	/* the client's reads pause or resume */
		log_event(LOG_DEBUG, "flow", "sid=%016llx client=%s", SID(s), hold ? "paused" : "resumed");
		s->probe_by = hold ? uv_now(s->loop) + PROBE_MS : 0;
		rearm(s);
	}
	conn_hold(&s->client, hold);
	conn_hold(&s->backend, conn_full(&s->client));
	conn_bulk(&s->client, s->relaying && relay_streaming(&s->relay));
}

static void
on_handle_closed(struct session *s)
{
	if (--s->nhandles > 0)
		return;
	count(s, MC_ACTIVE, (uint64_t)-1);	/* the gauge goes down */
	if (s->relaying)
		count(s, s->tls_up ? MC_SESSIONS_TLS : MC_SESSIONS_PLAIN, 1);
	metrics_observe(s->env->metrics, MH_SESSION, since(s, s->started));
	relay_free(&s->relay);
	gen_unref(s->gen);
	s->env->gone(s, s->env->arg);
	free(s);
}

static void
on_timer_closed(uv_handle_t *h)
{
	on_handle_closed(h->data);
}

/* All handles of a session are closed here, once; the last close frees it. */
static void
session_end(struct session *s, const char *reason, int graceful)
{
	if (s->closing)
		return;
	s->closing = 1;
	s->end_reason = reason;
	relay_stop(&s->relay, reason, graceful);
	resolve_cancel(s->lookup);
	s->lookup = NULL;
	/* Free the connection-limit slot now: a client that reconnects as soon
	 * as it sees our close must not find itself still counted. */
	if (s->counted)
		connlimit_release(&s->peer_addr);
	s->counted = 0;
	log_event(LOG_INFO, "disconnect", "sid=%016llx reason=%s bytes_in=%llu bytes_out=%llu duration_ms=%llu", SID(s),
	    reason, (unsigned long long)s->client.bytes_in, (unsigned long long)s->client.bytes_out,
	    (unsigned long long)(uv_now(s->loop) - s->started));
	/* The backend goes at once: what was not sent never will be. */
	conn_close(&s->backend, CONN_NOW);
	uv_timer_stop(&s->timer);
	if (graceful) {
		conn_close(&s->client, CONN_GRACEFUL);
		uv_timer_start(&s->timer, on_linger, LINGER_MS, 0);
	} else {
		conn_close(&s->client, CONN_NOW);
	}
}

void
session_shutdown(struct session *s)
{
	if (s->closing)
		return;
	if (s->relaying)
		relay_shutdown(&s->relay);
	else
		session_end(s, "shutdown", 0);
}

/* --- the client's connection --- */

static void begin(struct session *s);

/* A trusted balancer's PROXY header: who the client really is. Returns 1 once taken. */
static int
take_proxy_header(struct session *s, struct buf *in)
{
	struct proxyproto_hdr h;
	char addr[NETADDR_STRLEN], from[64];
	int n = proxyproto_parse((const uint8_t *)buf_head(in), buf_pending(in), &h);

	if (n == 0 && !conn_eof(&s->client))
		return 0;
	if (n <= 0) {
		log_event(LOG_WARN, "refused", "sid=%016llx client=%s reason=bad_proxy_header", SID(s), s->peer);
		count(s, MC_CONN_PROXY_HEADER_ERROR, 1);
		session_end(s, "bad_proxy_header", 0);
		return 0;
	}
	snprintf(from, sizeof(from), "%s", s->peer);
	if (!h.local) {
		s->who.client = h.src;
		s->who.server = h.dst;
		netaddr_to_sockaddr(&h.src, &s->peer_addr);
		netaddr_format(&h.src, addr, sizeof(addr));
		snprintf(s->peer, sizeof(s->peer), h.src.family == AF_INET6 ? "[%s]:%u" : "%s:%u", addr,
		    (unsigned)h.src.port);
	}
	log_event(LOG_INFO, "proxy", "sid=%016llx version=%d proxy=%s client=%s%s", SID(s), h.version, from, s->peer,
	    h.local ? " local=yes" : "");
	buf_consume(in, (size_t)n);
	s->proxy_by = 0;
	return 1;
}

static void
on_client_data(struct conn *c)
{
	struct session *s = c->owner;

	if (!s->relaying) {
		if (take_proxy_header(s, conn_input(c)))
			begin(s);	/* what follows the header is the session (maybe TLS) */
		return;
	}
	if (conn_eof(c) && s->handshake_by != 0) {
		count(s, MC_TLSFAIL_CLOSED, 1);	/* gone before its handshake finished */
		s->handshake_by = 0;
	}
	if (conn_eof(c))
		relay_client_eof(&s->relay, conn_input(c));
	else
		relay_client_input(&s->relay, conn_input(c));
	flow(s);
}

/* A queue fell below its low watermark: the other side may be read, held input may go on. */
static void
on_drained(struct conn *c)
{
	struct session *s = c->owner;

	if (c == &s->client && s->relaying)
		relay_confirm_delivery(&s->relay);
	flow(s);
	if (!s->closing && s->relaying)
		conn_kick(&s->client);
}

static void
log_tls(struct session *s)
{
	SSL *ssl = conn_ssl(&s->client);
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	const struct tls_cert_info *served = tls_server_served(ssl);
	struct tls_peer_cert pc;
	char snibuf[300], subj[600], cert[800] = "", section[160];

	if (tls_server_peer_cert(ssl, &pc))
		snprintf(cert, sizeof(cert), " client_cert=%s client_cert_sha256=%s client_cert_verified=%s",
		    log_quote(subj, sizeof(subj), pc.subject, strlen(pc.subject)), pc.sha256, pc.verified ? "yes" : "no");
	log_event(LOG_INFO, "tls", "sid=%016llx version=%s cipher=%s sni=%s resumed=%s certificate=%s key_type=%s%s",
	    SID(s), tls_version(&s->client.tls), tls_cipher(&s->client.tls),
	    sni ? log_quote(snibuf, sizeof(snibuf), sni, strlen(sni)) : "-", SSL_session_reused(ssl) ? "yes" : "no",
	    served ? log_quote(section, sizeof(section), served->section, strlen(served->section)) : "-",
	    served ? served->type : "-", cert);
}

static void
on_client_tls_done(struct conn *c)
{
	struct session *s = c->owner;

	s->handshake_by = 0;
	s->tls_up = 1;
	log_tls(s);
	count(s, strcmp(tls_version(&c->tls), "TLSv1.3") == 0 ?
	    (SSL_session_reused(conn_ssl(c)) ? MC_TLS13_RESUMED : MC_TLS13_FULL) :
	    (SSL_session_reused(conn_ssl(c)) ? MC_TLS12_RESUMED : MC_TLS12_FULL), 1);
	metrics_observe(s->env->metrics, MH_HANDSHAKE, since(s, s->tls_started));
	if (!tls_server_peer_allowed(conn_ssl(c))) {
		log_event(LOG_WARN, "refused", "sid=%016llx client=%s reason=client_certificate_not_valid_now "
		    "resumed=yes", SID(s), s->peer);
		session_end(s, "client_certificate_refused", 0);
		return;
	}
	relay_tls_up(&s->relay, tls_version(&c->tls), tls_cipher(&c->tls));
	flow(s);
}

static void
on_client_error(struct conn *c, const char *what)
{
	struct session *s = c->owner;
	char e[256];

	if (s->handshake_by != 0)	/* the handshake never finished */
		count(s, strcmp(what, "tls_handshake") == 0 ? MC_TLSFAIL_HANDSHAKE : MC_TLSFAIL_CLOSED, 1);
	if (strncmp(what, "tls", 3) == 0) {
		log_event(LOG_WARN, "tls_error", "sid=%016llx stage=%s client=%s error=\"%s\"", SID(s),
		    strcmp(what, "tls") == 0 ? "read" : "handshake", s->peer, tls_error(e, sizeof(e)));
		session_end(s, strcmp(what, "tls") == 0 ? "tls_error" : "tls_handshake_failed", 0);
		return;
	}
	session_end(s, strcmp(what, "write") == 0 ? "client_write_error" : strcmp(what, "read") == 0 ? "client_error"
	    : what, 0);
}

static void retry_backend(struct session *s);

static void
on_conn_closed(struct conn *c)
{
	struct session *s = c->owner;

	if (c == &s->backend && s->reconnecting && !s->closing) {
		retry_backend(s);	/* the same handle slot, a new socket */
		return;
	}
	if (s->nhandles == 2 && s->closing)	/* both connections closed: the timer goes last */
		uv_close((uv_handle_t *)&s->timer, on_timer_closed);
	on_handle_closed(s);
}

static void
on_client_connected(struct conn *c, int status)
{
	(void)c;
	(void)status;	/* an accepted connection is connected */
}

static const struct conn_events client_events = {
	.data = on_client_data,
	.drained = on_drained,
	.connected = on_client_connected,
	.tls_done = on_client_tls_done,
	.error = on_client_error,
	.closed = on_conn_closed,
};

/* --- the backend's connection --- */

static void
on_backend_data(struct conn *c)
{
	struct session *s = c->owner;

	relay_backend_input(&s->relay, conn_input(c));
	if (conn_eof(c) && !s->closing)
		relay_backend_closed(&s->relay);
	if (s->closing)
		return;
	conn_kick(&s->client);	/* input held for a reply may go on */
	flow(s);
}

static void
on_backend_connected(struct conn *c, int status)
{
	struct session *s = c->owner;

	if (status != 0 && s->next_addr < s->naddrs && !s->closing) {
		/* A name with more addresses: close this socket and try the next. */
		log_event(LOG_INFO, "backend_retry", "sid=%016llx backend=%s error=\"%s\"", SID(s), s->lc->backend_str,
		    uv_strerror(status));
		s->reconnecting = 1;
		conn_close(&s->backend, CONN_NOW);
		return;
	}
	metrics_backend(s->env->metrics, listener_index(s), status == 0);
	if (status != 0) {
		log_event(LOG_WARN, "backend_error", "sid=%016llx backend=%s error=\"%s\"", SID(s), s->lc->backend_str,
		    uv_strerror(status));
		count(s, MC_CONN_BACKEND_UNAVAILABLE, 1);
		relay_backend_unavailable(&s->relay, "backend_connect_failed");
		return;
	}
	metrics_observe(s->env->metrics, MH_BACKEND_CONNECT, since(s, s->connect_started));
	s->connect_by = 0;
	if (s->lc->backend_tls == BACKEND_TLS_IMPLICIT)
		io_backend_start_tls(s);	/* TLS from the first byte: the greeting comes through it */
	flow(s);
}

/* backend_tls: the upstream's certificate verified (the handshake fails otherwise): go on with the preamble. */
static void
on_backend_tls_done(struct conn *c)
{
	struct session *s = c->owner;
	const struct upstream_tls *u = upstream(s);

	log_event(LOG_INFO, "upstream_tls", "sid=%016llx backend=%s version=%s cipher=%s verified=%s name=%s", SID(s),
	    s->lc->backend_str, tls_version(&c->tls), tls_cipher(&c->tls), s->lc->backend_verify ? "yes" : "no",
	    u->server_name != NULL ? u->server_name : "-");
	relay_backend_tls_up(&s->relay);
	flow(s);
}

static void
on_backend_error(struct conn *c, const char *what)
{
	struct session *s = c->owner;
	const char *verify;
	char e[256];

	if (strncmp(what, "tls", 3) == 0 && s->lc->backend_tls != BACKEND_TLS_NONE) {
		verify = c->tls.ssl != NULL ? upstream_tls_verify_error(c->tls.ssl) : NULL;
		relay_backend_tls_failed(&s->relay, verify != NULL ? verify : tls_error(e, sizeof(e)));
		return;
	}
	if (strcmp(what, "read") == 0)
		relay_backend_closed(&s->relay);
	else
		session_end(s, strcmp(what, "write") == 0 ? "backend_write_error" : what, 0);
}

static const struct conn_events backend_events = {
	.data = on_backend_data,
	.drained = on_drained,
	.connected = on_backend_connected,
	.tls_done = on_backend_tls_done,
	.error = on_backend_error,
	.closed = on_conn_closed,
};

/* --- the start --- */

/* The source_address to connect from to addr, if one is set (and of its family). */
static const struct sockaddr *
source_for(const struct session *s, const struct sockaddr_storage *addr)
{
	const struct sockaddr_storage *src = &s->lc->source_address.addr;

	return src->ss_family != 0 && src->ss_family == addr->ss_family ? (const struct sockaddr *)src : NULL;
}

/* Connect to the next address to try; the PROXY header goes first. Returns 0 or a libuv error. */
static int
try_next_address(struct session *s)
{
	const struct listener_conf *lc = s->lc;
	uint8_t hdr[PROXYPROTO_V1_BUILDLEN > PROXYPROTO_V2_BUILDLEN ? PROXYPROTO_V1_BUILDLEN : PROXYPROTO_V2_BUILDLEN];
	const struct sockaddr_storage *a;
	int n;

	/* With a source_address, only addresses of its family can be reached from it. */
	while (s->next_addr < s->naddrs && lc->source_address.addr.ss_family != 0 &&
	    s->addrs[s->next_addr].ss_family != lc->source_address.addr.ss_family)
		s->next_addr++;
	if (s->next_addr >= s->naddrs)
		return UV_EADDRNOTAVAIL;
	a = &s->addrs[s->next_addr++];
	if (lc->backend_identity == IDENTITY_PROXY_V1 || lc->backend_identity == IDENTITY_PROXY_V2) {
		n = identity_proxy_header(&s->who, lc->backend_identity == IDENTITY_PROXY_V1 ? 1 : 2, hdr, sizeof(hdr));
		if (n <= 0 || conn_write(&s->backend, hdr, (size_t)n) != 0)
			return UV_ENOMEM;
	}
	return conn_connect(&s->backend, (const struct sockaddr *)a, source_for(s, a));
}

static void
on_backend_resolved(void *arg, const struct sockaddr_storage *addrs, size_t n, int status)
{
	struct session *s = arg;
	int r;

	s->lookup = NULL;
	if (status != 0) {
		log_event(LOG_WARN, "backend_error", "sid=%016llx backend=%s error=\"%s\"", SID(s), s->lc->backend_str,
		    uv_strerror(status));
		count(s, MC_CONN_BACKEND_UNAVAILABLE, 1);
		metrics_backend(s->env->metrics, listener_index(s), 0);
		relay_backend_unavailable(&s->relay, "backend_resolve_failed");
		return;
	}
	memcpy(s->addrs, addrs, n * sizeof(*addrs));
	s->naddrs = n;
	if ((r = try_next_address(s)) != 0)
		on_backend_connected(&s->backend, r);
}

/* The last address failed and its socket is closed: a new one for the next. */
static void
retry_backend(struct session *s)
{
	int r;

	s->reconnecting = 0;
	/* uv_tcp_init() cannot fail here (no flags), so the handle count holds. */
	if ((r = conn_init(&s->backend, s->env->cl, &backend_events, s)) == 0) {
		s->backend.in_high = s->lc->max_reply_length + 1;
		r = try_next_address(s);
	}
	if (r != 0)
		on_backend_connected(&s->backend, r);
}

/* Connect to the backend: its address, or each address its name has in turn. */
static int
connect_backend(struct session *s)
{
	const struct endpoint *b = &s->lc->backend;

	s->connect_started = uv_now(s->loop);
	s->connect_by = s->connect_started + s->lc->connect_timeout_ms;
	if (b->host == NULL) {
		s->addrs[0] = b->addr;
		s->naddrs = 1;
		return try_next_address(s);
	}
	s->lookup = resolver_lookup(s->env->resolver, b->host, b->port, on_backend_resolved, s);
	return 0;
}

/* The client is known (directly, or from a PROXY header): limits, relay, backend, TLS. */
static void
begin(struct session *s)
{
	const struct listener_conf *lc = s->lc;
	const char *why;
	int r;

	relay_init(&s->relay, lc, &relay_io, s, s->id, &s->who, s->peer);
	s->relaying = 1;
	if (lc->allow != NULL && !(identity_known(&s->who) && cidr_list_match(&lc->allowed, &s->who.client))) {
		log_event(LOG_WARN, "refused", "sid=%016llx client=%s reason=not_allowed", SID(s), s->peer);
		count(s, MC_CONN_NOT_ALLOWED, 1);
		if (lc->tls == TLS_MODE_IMPLICIT)
			session_end(s, "not_allowed", 0);
		else
			relay_deny_client(&s->relay);
		return;
	}
	if (connlimit_acquire(&s->peer_addr, lc->max_connections_per_ip, s->gen->cfg->max_connections, &why) != 0) {
		log_event(LOG_WARN, "refused", "sid=%016llx client=%s reason=%s", SID(s), s->peer, why);
		count(s, strcmp(why, "max_connections_per_ip") == 0 ? MC_CONN_LIMIT_PER_IP : MC_CONN_LIMIT, 1);
		/* On an implicit listener a 421 would cost a whole handshake: just close. */
		if (lc->tls == TLS_MODE_IMPLICIT)
			session_end(s, why, 0);
		else
			relay_refuse_connection(&s->relay, why);
		return;
	}
	s->counted = 1;
	count(s, MC_CONN_ACCEPTED, 1);
	if ((r = connect_backend(s)) != 0) {
		on_backend_connected(&s->backend, r);
		return;
	}
	if (lc->tls == TLS_MODE_IMPLICIT) {
		io_start_tls(s);	/* bytes after a PROXY header are the start of the handshake */
		if (s->closing)
			return;
	}
	conn_kick(&s->client);
	flow(s);
	rearm(s);
}

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

/* Who is the client, and which of our addresses did it reach? Returns 0, or -1 if unknown. */
static int
identify(struct session *s)
{
	struct sockaddr_storage local;

	if (conn_peername(&s->client, &s->peer_addr) != 0 ||
	    netaddr_from_sockaddr(&s->who.client, (const struct sockaddr *)&s->peer_addr) != 0) {
		memset(&s->who, 0, sizeof(s->who));
		snprintf(s->peer, sizeof(s->peer), "unknown");
		return -1;
	}
	fmt_addr(&s->peer_addr, s->peer, sizeof(s->peer));
	/* Our own address only matters to a PROXY header for the backend. */
	if ((s->lc->backend_identity == IDENTITY_PROXY_V1 || s->lc->backend_identity == IDENTITY_PROXY_V2) &&
	    conn_sockname(&s->client, &local) == 0)
		netaddr_from_sockaddr(&s->who.server, (const struct sockaddr *)&local);
	return 0;
}

/* Does this connection have to start with a PROXY header (accept_proxy, from proxy_trusted)? */
static int
expect_proxy(const struct session *s)
{
	return s->lc->accept_proxy && identity_known(&s->who) && cidr_list_match(&s->lc->trusted, &s->who.client);
}

static void
free_unaccepted(uv_handle_t *h)
{
	struct session *s = ((struct conn *)h->data)->owner;

	gen_unref(s->gen);
	free(s);
}

struct session *
session_start(const struct session_env *env, struct gen *gen, const struct listener_conf *lc, uv_stream_t *server,
    int fd, uint64_t id)
{
	struct conn_loop *cl = env->cl;
	struct session *s;

	alloc_fault_arm();	/* STARTTLSD_ALLOC_FAULTS builds: count from the first connection */
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->gen = gen;
	gen_ref(gen);
	s->lc = lc;
	s->loop = cl->loop;
	s->id = id;
	s->env = env;
	s->started = uv_now(s->loop);
	if (conn_init(&s->client, cl, &client_events, s) != 0) {
		gen_unref(gen);
		free(s);
		return NULL;
	}
	if ((fd >= 0 ? conn_adopt(&s->client, fd) : conn_accept(&s->client, server)) != 0) {
		uv_close((uv_handle_t *)&s->client.tcp, free_unaccepted);
		return NULL;
	}
	conn_init(&s->backend, cl, &backend_events, s);
	s->backend.in_high = lc->max_reply_length + 1;
	uv_timer_init(s->loop, &s->timer);
	s->timer.data = s;
	s->nhandles = 3;	/* from here on, session_end() is the only way out */
	count(s, MC_ACTIVE, 1);
	if (lc->session_timeout_ms)
		s->session_by = s->started + lc->session_timeout_ms;
	if (identify(s) != 0 && (lc->backend_identity != IDENTITY_NONE || lc->add_received)) {
		/* Nothing may reach the backend in the name of a client we cannot name. */
		log_event(LOG_WARN, "refused", "sid=%016llx client=unknown reason=client_address_unknown", SID(s));
		session_end(s, "client_address_unknown", 0);
		return s;
	}
	log_event(LOG_INFO, "connect", "sid=%016llx listener=%s client=%s tls=%s", SID(s), lc->name, s->peer,
	    config_tls_mode_name(lc->tls));
	if (expect_proxy(s)) {
		/* A trusted load balancer speaks first: who is the client? */
		s->proxy_by = s->started + lc->handshake_timeout_ms;
		conn_start(&s->client);
		rearm(s);
		return s;
	}
	begin(s);
	return s;
}
