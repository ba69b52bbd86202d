/*
 * bench_conn.c - one smtp-bench connection: socket I/O, TLS pumping, the
 * SMTP client state machine and lazy sending of message content.
 *
 * Life of a connection (session mode, STARTTLS):
 *
 *   connect -> 220 -> EHLO/250 (must list STARTTLS) -> STARTTLS/220
 *   -> TLS handshake -> EHLO/250 (must not list STARTTLS)
 *   -> { MAIL FROM/250 -> RCPT TO/250 -> DATA/354 -> content -> "."/250 } x N
 *   -> QUIT/221 -> wait for the server to close.
 *
 * --implicit-tls starts with the handshake and skips STARTTLS; --plain skips
 * TLS altogether; idle mode stops after the (last) EHLO and sits in S_IDLE
 * until smtp-bench.c calls conn_quit(). Every reply is matched against the
 * one code it must have, and anything else fails the session (fail()).
 *
 * One command at a time, except with --pipelining when the last EHLO reply
 * announced PIPELINING: then MAIL FROM, RCPT TO and DATA go out in one write
 * (one RFC 2920 group, DATA last) and their three replies are checked in
 * order as they come; the content and its "." are the next group, and the
 * next transaction starts after the 250 to the ".". A 5xx to EHLO (a server
 * that only knows HELO) makes the session send HELO instead, never with
 * STARTTLS still to do; such a session never pipelines.
 *
 * Output path: send_plain() encrypts (or not) and net_write() hands the bytes
 * to the socket with uv_try_write(), queueing only what the kernel did not
 * take. The message content is never built in advance: body_pump() asks
 * bench_msg.c for the next chunk only while less than LOWAT bytes
 * wait in libuv's write queue, and on_write() calls it again as the queue
 * drains. So a session never has more than about LOWAT + CHUNK bytes queued,
 * whatever the message size.
 *
 * --rate-limit paces the content of every message: no more than that many
 * bytes a second from the 354 on (a slow client), the pace timer resuming
 * body_pump() after each pause. --outcomes writes one line per message
 * attempted (message_outcome()).
 *
 * Connections are freed only in the close callback of their last handle;
 * after fail() or conn_close() nothing else is sent or parsed.
 */
#include "bench.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CHUNK	(64 * 1024)	/* message bytes produced per step */
#define LOWAT	(64 * 1024)	/* produce more only while less than this is queued */

/* One thread, so these scratch buffers are shared by every connection.
 * Nothing keeps a pointer into them across callbacks. */
static char read_buf[64 * 1024];	/* libuv reads land here */
static char plain_buf[64 * 1024];	/* SSL_read output */
static char cipher_buf[CHUNK + 4096];	/* drained from wbio */
static char chunk_buf[CHUNK];		/* the next piece of a message */

/* A write libuv could not finish at once: its own copy of the bytes. */
struct wreq {
	uv_write_t req;
	char data[];
};

static void tls_pump(struct conn *c);
static void body_pump(struct conn *c);

const char *
conn_state_name(enum conn_state s)
{
	switch (s) {
	case S_CONNECTING:	return "connect";
	case S_HANDSHAKE:	return "TLS handshake";
	case S_GREETING:	return "greeting";
	case S_EHLO:		return "EHLO";
	case S_STARTTLS:	return "STARTTLS";
	case S_EHLO_TLS:	return "EHLO after TLS";
	case S_HELO:		return "HELO";
	case S_IDLE:		return "idle";
	case S_MAIL:		return "MAIL FROM";
	case S_RCPT:		return "RCPT TO";
	case S_DATA:		return "DATA";
	case S_BODY:		return "message content";
	case S_DOT:		return "end of data";
	case S_QUIT:		return "QUIT";
	case S_CLOSING:		return "close after 221";
	}
	return "?";
}

/* ---- outcomes (--outcomes) ---------------------------------------------- */

/* The state a session is in while one of its messages is under way, as a
 * word; NULL when no message is. */
static const char *
message_stage(enum conn_state s)
{
	switch (s) {
	case S_MAIL:	return "mail";
	case S_RCPT:	return "rcpt";
	case S_DATA:	return "data";
	case S_BODY:	return "body";
	case S_DOT:	return "dot";	/* all of it and the "." were handed to the socket */
	default:	return NULL;
	}
}

/* One line per message: "ok UNIXTIME TOKEN SIZE LATENCY_MS" for a 250 to
 * its final ".", "fail UNIXTIME TOKEN STAGE" when the session broke with
 * the message under way (STAGE: mail, rcpt, data, body or dot). TOKEN is
 * what the message's X-Bench-Token header carries (--tag). */
static void
message_outcome(struct conn *c, const char *result, const char *stage)
{
	struct bench *b = c->b;
	struct timespec ts;

	if (b->outcomes_f == NULL || c->msg_seq == 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(b->outcomes_f, "%s %lld.%03ld %s.%016llx.%016llx", result, (long long)ts.tv_sec,
	    ts.tv_nsec / 1000000, b->o.tag != NULL ? b->o.tag : "", (unsigned long long)c->id,
	    (unsigned long long)c->msg_seq);
	if (stage != NULL)
		fprintf(b->outcomes_f, " %s\n", stage);
	else
		fprintf(b->outcomes_f, " %zu %.3f\n", b->msg.size, (double)(uv_hrtime() - c->t_msg) / 1e6);
}

/* ---- closing ------------------------------------------------------------ */

static void
on_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;

	if (--c->handles > 0)
		return;
	btls_free(&c->tls);
	bench_conn_done(c->b, c);
	free(c);
}

/* Close both handles; the connection is freed once libuv has let go. */
static void
conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, on_handle_closed);
	if (c->b->o.rate_limit > 0)
		uv_close((uv_handle_t *)&c->pace, on_handle_closed);
	uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
}

__attribute__((format(printf, 2, 3)))
static void
fail(struct conn *c, const char *fmt, ...)
{
	char msg[256], full[384];
	va_list ap;

	if (c->closing)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "session %llu (waiting for %s): %s", (unsigned long long)c->id,
	    conn_state_name(c->state), msg);
	c->failed = 1;
	if (message_stage(c->state) != NULL)
		message_outcome(c, "fail", message_stage(c->state));
	bench_error(c->b, c, full);
	conn_close(c);
}

/* After the 221 the server is expected to close; a reset then (e.g. because
 * our close_notify reached a socket it had already closed) is not a failure. */
static void
closed_after_quit(struct conn *c, int status)
{
	if (status == UV_ECONNRESET || status == UV_EPIPE)
		c->b->close_resets++;
	conn_close(c);
}

static void
on_timeout(uv_timer_t *t)
{
	struct conn *c = t->data;

	fail(c, "timeout: no progress for %.1f s", c->b->o.timeout);
}

/* Restart the no-progress timer; called on every read, state change and
 * message chunk. */
static void
arm_timer(struct conn *c)
{
	uv_timer_start(&c->timer, on_timeout, (uint64_t)(c->b->o.timeout * 1000.0), 0);
}

/* ---- writing ------------------------------------------------------------ */

static size_t
queued(const struct conn *c)
{
	return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

static void
on_write(uv_write_t *req, int status)
{
	struct conn *c = req->data;

	free(req);		/* req is the first member of its struct wreq */
	if (c->closing)
		return;
	if (status < 0) {
		if (c->state == S_CLOSING)
			closed_after_quit(c, status);
		else
			fail(c, "write: %s", uv_strerror(status));
		return;
	}
	if (c->state == S_BODY)
		body_pump(c);	/* the queue drained a little: produce more */
}

/* Send bytes as they are: straight to the kernel if nothing is queued, and
 * whatever it does not take into one queued write with its own copy. */
static int
net_write(struct conn *c, const char *p, size_t n)
{
	struct wreq *w;
	uv_buf_t buf;
	int r;

	if (c->closing)
		return -1;
	c->b->wire_out += n;
	if (queued(c) == 0) {
		buf = uv_buf_init((char *)p, (unsigned)n);
		r = uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
		if (r >= 0) {
			p += r;
			n -= (size_t)r;
		} else if (r != UV_EAGAIN) {
			if (c->state == S_CLOSING)
				closed_after_quit(c, r);
			else
				fail(c, "write: %s", uv_strerror(r));
			return -1;
		}
		if (n == 0)
			return 0;
	}
	if ((w = malloc(sizeof(*w) + n)) == NULL) {
		fail(c, "out of memory");
		return -1;
	}
	memcpy(w->data, p, n);
	w->req.data = c;
	buf = uv_buf_init(w->data, (unsigned)n);
	if ((r = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_write)) < 0) {
		free(w);
		fail(c, "write: %s", uv_strerror(r));
		return -1;
	}
	return 0;
}

/* Hand everything the SSL object produced (records, alerts) to the socket. */
static int
tls_flush(struct conn *c)
{
	size_t pending;
	int r;

	while (!c->closing && (pending = BIO_pending(c->tls.wbio)) > 0) {
		if (pending > sizeof(cipher_buf))
			pending = sizeof(cipher_buf);
		if ((r = BIO_read(c->tls.wbio, cipher_buf, (int)pending)) <= 0)
			break;
		if (net_write(c, cipher_buf, (size_t)r) < 0)
			return -1;
	}
	return c->closing ? -1 : 0;
}

/* Send cleartext SMTP bytes: through TLS once it is up, else as they are. */
static int
send_plain(struct conn *c, const char *p, size_t n)
{
	char e[256];

	if (c->tls.ssl == NULL)
		return net_write(c, p, n);
	while (n > 0) {
		int r = SSL_write(c->tls.ssl, p, n > CHUNK ? CHUNK : (int)n);
		if (r <= 0) {
			fail(c, "TLS write: %s", btls_error(e, sizeof(e)));
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return tls_flush(c);
}

__attribute__((format(printf, 2, 3)))
static int
send_cmd(struct conn *c, const char *fmt, ...)
{
	char line[600];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2) {
		fail(c, "command too long");
		return -1;
	}
	memcpy(line + n, "\r\n", 2);
	return send_plain(c, line, (size_t)n + 2);
}

/* ---- messages ----------------------------------------------------------- */

static void
on_pace(uv_timer_t *t)
{
	body_pump(t->data);
}

/* --rate-limit: how many more content bytes may go now (at most max); 0
 * after arming the pace timer for when the next 20th of a second's worth
 * is due. Without the option, max. */
static size_t
pace_allow(struct conn *c, size_t max)
{
	size_t rate = c->b->o.rate_limit;
	double due;

	if (rate == 0)
		return max;
	/* Due by now: the elapsed time's worth, plus a 20th of a second's. */
	due = (double)rate * ((double)(uv_hrtime() - c->t_body) / 1e9 + 0.05);
	if (due < (double)c->body_off + 1) {
		if (!uv_is_active((uv_handle_t *)&c->pace))
			uv_timer_start(&c->pace, on_pace, 50, 0);
		return 0;
	}
	due -= (double)c->body_off;
	return due < (double)max ? (size_t)due : max;
}

/* Produce message bytes while the socket keeps up; on_write() calls this
 * again when the queue drains. */
static void
body_pump(struct conn *c)
{
	const struct bench_message *m = &c->b->msg;

	while (!c->closing && c->state == S_BODY && queued(c) < LOWAT) {
		size_t allow = pace_allow(c, sizeof(chunk_buf)), n;

		if (allow == 0)
			return;
		n = message_copy(c->b, c->header, c->body_off, chunk_buf, allow);

		c->body_off += n;
		if (c->body_off == m->size + 3)
			c->state = S_DOT;	/* the last piece: on_write() must not pump again */
		arm_timer(c);
		if (send_plain(c, chunk_buf, n) < 0)
			return;
	}
}

static void
start_message(struct conn *c)
{
	const struct bench_opts *o = &c->b->o;

	c->t_msg = uv_hrtime();
	c->msg_seq++;
	message_header(c->b, c->header, sizeof(c->header), c->id, c->msg_seq);
	c->body_off = 0;
	c->state = S_MAIL;
	if (c->pipelining) {	/* one group: MAIL, RCPT, DATA (RFC 2920 3.1) */
		char group[700];
		int n = snprintf(group, sizeof(group), "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n", o->from, o->rcpt);

		if (n < 0 || (size_t)n >= sizeof(group)) {
			fail(c, "command too long");
			return;
		}
		send_plain(c, group, (size_t)n);
	} else {
		send_cmd(c, "MAIL FROM:<%s>", o->from);
	}
}

static void
message_done(struct conn *c)
{
	struct bench *b = c->b;

	message_outcome(c, "ok", NULL);
	if (b->n_msg_lat < b->msg_lat_cap)
		b->msg_lat[b->n_msg_lat++] = (double)(uv_hrtime() - c->t_msg) / 1e6;
	b->messages++;
	b->message_bytes += b->msg.size;
	if (--c->msgs_left > 0) {
		start_message(c);
	} else {
		c->state = S_QUIT;
		send_cmd(c, "QUIT");
	}
}

/* ---- replies ------------------------------------------------------------ */

/* After the last EHLO: idle mode parks the session, the others send mail. */
static void
session_ready(struct conn *c, int may_pipeline)
{
	struct bench *b = c->b;

	c->pipelining = may_pipeline && b->o.pipelining && c->saw_pipelining;
	if (c->pipelining)
		b->pipelined_sessions++;
	if (b->o.mode != MODE_IDLE && b->n_ready_lat < b->sessions_total)
		b->ready_lat[b->n_ready_lat++] = (double)(uv_hrtime() - c->t_start) / 1e6;
	if (b->o.mode == MODE_IDLE) {
		/* Idle mode's latency: connect to idle. */
		if (b->n_sess_lat < b->sessions_total)
			b->sess_lat[b->n_sess_lat++] = (double)(uv_hrtime() - c->t_start) / 1e6;
		c->state = S_IDLE;
		c->ready = 1;
		uv_timer_stop(&c->timer);
		bench_conn_ready(c->b, c);
	} else {
		start_message(c);
	}
}

static int
expect(struct conn *c, int code, int want, const char *text, size_t len)
{
	if (code == want)
		return 0;
	fail(c, "expected %d, got \"%.*s\"", want, (int)(len > 200 ? 200 : len), text);
	return -1;
}

/* A complete reply: code, and the text of its last line. */
static void
on_reply(struct conn *c, int code, const char *text, size_t len)
{
	struct bench *b = c->b;

	arm_timer(c);
	switch (c->state) {
	case S_GREETING:
		if (expect(c, code, 220, text, len) == 0) {
			c->state = S_EHLO;
			send_cmd(c, "EHLO %s", b->o.helo);
		}
		break;
	case S_EHLO:
		if (code >= 500 && code < 600 && b->o.tls != BT_STARTTLS) {
			b->helo_fallbacks++;	/* an RFC 821 server */
			c->state = S_HELO;
			send_cmd(c, "HELO %s", b->o.helo);
			break;
		}
		if (expect(c, code, 250, text, len) < 0)
			break;
		if (b->o.tls != BT_STARTTLS) {
			session_ready(c, 1);
		} else if (!c->saw_starttls) {
			fail(c, "the EHLO reply does not offer STARTTLS");
		} else {
			c->state = S_STARTTLS;
			send_cmd(c, "STARTTLS");
		}
		break;
	case S_STARTTLS:
		if (expect(c, code, 220, text, len) < 0)
			break;
		if (btls_start(&c->tls, b, c) < 0) {
			fail(c, "cannot create TLS connection");
			break;
		}
		c->state = S_HANDSHAKE;
		tls_pump(c);	/* sends the ClientHello */
		break;
	case S_EHLO_TLS:
		if (code >= 500 && code < 600) {
			b->helo_fallbacks++;
			c->state = S_HELO;
			send_cmd(c, "HELO %s", b->o.helo);
			break;
		}
		if (expect(c, code, 250, text, len) < 0)
			break;
		if (c->saw_starttls)
			fail(c, "the EHLO reply after TLS still offers STARTTLS");
		else
			session_ready(c, 1);
		break;
	case S_HELO:
		if (expect(c, code, 250, text, len) == 0)
			session_ready(c, 0);
		break;
	case S_MAIL:
		if (expect(c, code, 250, text, len) == 0) {
			c->state = S_RCPT;
			if (!c->pipelining)
				send_cmd(c, "RCPT TO:<%s>", b->o.rcpt);
		}
		break;
	case S_RCPT:
		if (expect(c, code, 250, text, len) == 0) {
			c->state = S_DATA;
			if (!c->pipelining)
				send_cmd(c, "DATA");
		}
		break;
	case S_DATA:
		if (expect(c, code, 354, text, len) == 0) {
			c->state = S_BODY;
			c->t_body = uv_hrtime();
			body_pump(c);
		}
		break;
	case S_DOT:
		if (expect(c, code, 250, text, len) == 0)
			message_done(c);
		break;
	case S_QUIT:
		if (expect(c, code, 221, text, len) < 0)
			break;
		if (b->o.mode != MODE_IDLE && b->n_sess_lat < b->sessions_total)
			b->sess_lat[b->n_sess_lat++] = (double)(uv_hrtime() - c->t_start) / 1e6;
		c->state = S_CLOSING;	/* now the server closes */
		break;
	default:
		fail(c, "unexpected reply \"%.*s\"", (int)(len > 200 ? 200 : len), text);
		break;
	}
}

/* One reply line, CRLF included. Multi-line replies ("250-...") must keep
 * their code; the EHLO keywords are checked for STARTTLS on the way. */
static void
reply_line(struct conn *c, const char *s, size_t len)
{
	int code;

	if (len < 2 || s[len - 2] != '\r') {
		fail(c, "reply line not ending in CRLF: \"%.*s\"", (int)(len > 200 ? 200 : len), s);
		return;
	}
	len -= 2;
	if (len < 3 || s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9' ||
	    (len > 3 && s[3] != ' ' && s[3] != '-')) {
		fail(c, "malformed reply line \"%.*s\"", (int)(len > 200 ? 200 : len), s);
		return;
	}
	code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	if (c->reply_code == 0) {
		c->reply_code = code;
		c->saw_starttls = 0;
		c->saw_pipelining = 0;
	} else if (code != c->reply_code) {
		fail(c, "multi-line reply changes its code from %d to %d", c->reply_code, code);
		return;
	}
	if (len >= 12 && strncasecmp(s + 4, "STARTTLS", 8) == 0 && (len == 12 || s[12] == ' '))
		c->saw_starttls = 1;
	if (len >= 14 && strncasecmp(s + 4, "PIPELINING", 10) == 0 && (len == 14 || s[14] == ' '))
		c->saw_pipelining = 1;
	if (len > 3 && s[3] == '-')
		return;		/* more lines follow */
	c->reply_code = 0;
	on_reply(c, code, s, len);
}

/* Cleartext from the server: split it into lines. */
static void
feed_plain(struct conn *c, const char *p, size_t n)
{
	while (n > 0 && !c->closing) {
		const char *lf = memchr(p, '\n', n);
		size_t take = lf != NULL ? (size_t)(lf - p) + 1 : n;
		int was_plain = c->tls.ssl == NULL;

		if (c->line_len + take > sizeof(c->line)) {
			fail(c, "reply line longer than %zu bytes", sizeof(c->line));
			return;
		}
		memcpy(c->line + c->line_len, p, take);
		c->line_len += take;
		p += take;
		n -= take;
		if (lf == NULL)
			return;
		take = c->line_len;
		c->line_len = 0;
		reply_line(c, c->line, take);
		/* Bytes that came with the 220 to STARTTLS are not TLS; a
		 * correct server sends nothing until the ClientHello. */
		if (was_plain && c->tls.ssl != NULL && n > 0 && !c->closing)
			fail(c, "%zu bytes of cleartext after the 220 to STARTTLS", n);
	}
}

/* ---- TLS ---------------------------------------------------------------- */

static void
handshake_done(struct conn *c)
{
	struct bench *b = c->b;
	const SSL_CIPHER *cipher = SSL_get_current_cipher(c->tls.ssl);

	c->tls.done = 1;
	b->handshakes++;
	if (SSL_session_reused(c->tls.ssl))
		b->resumed++;
	snprintf(b->tls_version, sizeof(b->tls_version), "%s", SSL_get_version(c->tls.ssl));
	snprintf(b->tls_cipher, sizeof(b->tls_cipher), "%s",
	    cipher != NULL ? SSL_CIPHER_standard_name(cipher) : "?");
	if (b->o.tls == BT_IMPLICIT) {
		c->state = S_GREETING;
	} else {
		c->state = S_EHLO_TLS;
		send_cmd(c, "EHLO %s", b->o.helo);
	}
}

/* Move TLS forward after ciphertext arrived (or to start the handshake):
 * finish the handshake, read every complete record, send what TLS wrote. */
static void
tls_pump(struct conn *c)
{
	SSL *ssl = c->tls.ssl;
	char e[256];
	int r;

	if (!c->tls.done) {
		if ((r = SSL_do_handshake(ssl)) != 1) {
			if (SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ)
				tls_flush(c);
			else
				fail(c, "TLS handshake: %s", btls_error(e, sizeof(e)));
			return;
		}
		handshake_done(c);
	}
	while (!c->closing) {
		if ((r = SSL_read(ssl, plain_buf, sizeof(plain_buf))) > 0) {
			feed_plain(c, plain_buf, (size_t)r);
			continue;
		}
		switch (SSL_get_error(ssl, r)) {
		case SSL_ERROR_WANT_READ:
			break;
		case SSL_ERROR_ZERO_RETURN:	/* the server's close_notify */
			if (c->state != S_CLOSING) {
				fail(c, "TLS close_notify from the server");
				return;
			}
			SSL_shutdown(ssl);	/* answer with ours */
			break;
		default:
			fail(c, "TLS read: %s", btls_error(e, sizeof(e)));
			return;
		}
		break;
	}
	tls_flush(c);
}

/* ---- socket events ------------------------------------------------------ */

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(read_buf, sizeof(read_buf));
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	if (c->closing || nread == 0)
		return;
	if (nread < 0) {
		if (c->state == S_CLOSING)
			closed_after_quit(c, (int)nread);
		else if (nread == UV_EOF)
			fail(c, "connection closed by the server");
		else
			fail(c, "read: %s", uv_strerror((int)nread));
		return;
	}
	c->b->wire_in += (uint64_t)nread;
	arm_timer(c);
	if (c->tls.ssl == NULL) {
		feed_plain(c, buf->base, (size_t)nread);
		return;
	}
	if (BIO_write(c->tls.rbio, buf->base, (int)nread) != (int)nread) {
		fail(c, "out of memory in the TLS read buffer");
		return;
	}
	tls_pump(c);
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	int r;

	if (c->closing)
		return;
	if (status < 0) {
		fail(c, "connect: %s", uv_strerror(status));
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	if ((r = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read)) < 0) {
		fail(c, "read: %s", uv_strerror(r));
		return;
	}
	arm_timer(c);
	if (c->b->o.tls == BT_IMPLICIT) {
		if (btls_start(&c->tls, c->b, c) < 0) {
			fail(c, "cannot create TLS connection");
			return;
		}
		c->state = S_HANDSHAKE;
		tls_pump(c);	/* sends the ClientHello */
	} else {
		c->state = S_GREETING;
	}
}

/* ---- API ---------------------------------------------------------------- */

/* Open session number `id` in `slot`, to send `msgs` messages. Errors are
 * reported through fail() and end in bench_conn_done() like any session. */
struct conn *
conn_start(struct bench *b, uint64_t id, unsigned slot, uint64_t msgs)
{
	struct conn *c = calloc(1, sizeof(*c));
	int r;

	if (c == NULL)
		return NULL;
	c->b = b;
	c->id = id;
	c->slot = slot;
	c->msgs_left = msgs;
	c->state = S_CONNECTING;
	c->t_start = uv_hrtime();
	uv_tcp_init(b->loop, &c->tcp);
	uv_timer_init(b->loop, &c->timer);
	c->tcp.data = c->timer.data = c->connect_req.data = c;
	c->handles = 2;
	if (b->o.rate_limit > 0) {
		uv_timer_init(b->loop, &c->pace);
		c->pace.data = c;
		c->handles++;
	}
	arm_timer(c);
	if ((r = uv_tcp_connect(&c->connect_req, &c->tcp, (const struct sockaddr *)&b->addr, on_connect)) < 0)
		fail(c, "connect: %s", uv_strerror(r));
	return c;
}

/* Idle mode: the hold is over, end the session. */
void
conn_quit(struct conn *c)
{
	if (c->closing || c->state != S_IDLE)
		return;
	c->state = S_QUIT;
	arm_timer(c);
	send_cmd(c, "QUIT");
}
