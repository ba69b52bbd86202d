/*
 * relay.c - the client's input as the SMTP state says (commands, AUTH
 * responses, message content, discarded bytes), the switch to TLS, and the
 * events that end a session; see relay.h.
 */
#include "relay.h"

#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "log.h"
#include "relay_out.h"
#include "replies.h"
#include "smtp.h"
#include "upstream.h"

#define AUTH_LINE_MAX (12288 + 2)	/* RFC 4954 section 4 */
#define SID(r) ((unsigned long long)(r)->id)

/* Inside a message (or waiting for its final reply) data_timeout applies, else idle_timeout. */
static void
restart_deadline(struct relay *r)
{
	int data = r->state == R_DATA || (r->q.len > 0 && pending_head(&r->q) == P_DATA_END);

	if (!r->stopped)
		r->io->deadline(r->ctx, data ? r->lc->data_timeout_ms : r->lc->idle_timeout_ms);
}

/*
 * Toward a backend that did not announce PIPELINING, one command at a
 * time: the client's next one waits until the backend has answered.
 */
static int
backend_busy(const struct relay *r)
{
	return !r->backend_pipelining && r->q.at_backend > 0;
}

/* STARTTLS was accepted: once every earlier reply is out, switch to TLS. */
static void
start_tls_when_idle(struct relay *r, struct buf *in)
{
	size_t dropped;

	if (r->q.len > 0)
		return;
	relay_send_client(r, "220 2.0.0 Ready to start TLS\r\n", 30);
	/* CVE-2011-0411: plaintext after STARTTLS is never executed. */
	if ((dropped = buf_pending(in)) > 0) {
		log_event(LOG_WARN, "starttls_injection", "sid=%016llx client=%s discarded_bytes=%zu", SID(r), r->peer,
		    dropped);
		relay_note(r, RN_STARTTLS_INJECTION, dropped);
	}
	buf_clear(in);
	r->tls = 1;
	r->state = R_TLS;
	r->io->start_tls(r->ctx);
}

/* Discard client input through the next LF; returns 1 if one was found. */
static int
skip_line(struct buf *in)
{
	const char *lf = buf_pending(in) ? memchr(buf_head(in), '\n', buf_pending(in)) : NULL;

	if (lf == NULL) {
		buf_clear(in);
		return 0;
	}
	buf_consume(in, (size_t)(lf - buf_head(in)) + 1);
	return 1;
}

/* A line longer than max: refused (or, as an AUTH response, cancelled), the rest skipped. */
static void
line_too_long(struct relay *r, size_t max)
{
	log_event(LOG_INFO, "refused", "sid=%016llx reason=line_too_long max=%zu", SID(r), max);
	relay_note(r, RN_LINE_LENGTH, 0);
	if (r->state == R_AUTH) {
		relay_send_line(r, "*", 1);	/* cancel the exchange; the backend's 501 answers */
		r->after_skip = R_WAIT;		/* and nothing is read as a command before it */
	} else {
		relay_refuse(r, "500 5.5.2 Line too long");
		r->after_skip = R_CMD;
	}
	if (r->state != R_DONE)
		r->state = R_SKIP_LINE;
}

/* R_CMD and R_AUTH: take one line if complete. Returns 1 if progress was made. */
static int
take_line(struct relay *r, struct buf *in, size_t max)
{
	const char *p = buf_head(in);
	size_t avail = buf_pending(in), ll, tl;

	ll = smtp_line_len(p, avail < max ? avail : max, &tl);
	if (ll == 0) {
		if (avail < max)
			return 0;
		line_too_long(r, max);
		return 1;
	}
	if (r->state == R_AUTH) {
		/* An AUTH response: forwarded as is (the AUTH entry stays queued). */
		if (smtp_line_has_ctl(p, ll - tl))
			relay_send_line(r, "*", 1);
		else
			relay_send_line(r, p, ll - tl);
		r->state = R_WAIT;
	} else {
		commands_handle(r, p, ll - tl);
	}
	buf_consume(in, ll);
	restart_deadline(r);
	return 1;
}

/*
 * The message breaks policy (bare_newline = reject, or a line over
 * max_data_line_length): drop the backend connection so the partial
 * message can never complete there, and swallow the rest of the DATA.
 */
static void
reject_message(struct relay *r, const char *why)
{
	log_event(LOG_INFO, "message_rejected", "sid=%016llx reason=%s", SID(r), why);
	if (strcmp(why, "out_of_memory") != 0)
		relay_note(r, strcmp(why, "bare_newline") == 0 ? RN_BARE_NEWLINE : RN_LINE_LENGTH, 0);
	r->msg_rejected = why;
	r->backend_gone = 1;
	r->io->drop_backend(r->ctx);
}

/*
 * Where the DATA filter's output goes: the backend, until the message
 * breaks policy. From the moment the filter knows a line is too long or
 * dirty, nothing more of the message is queued for the backend (above all
 * not its end of data), whenever the queue is flushed.
 */
static int
emit_backend(void *arg, const char *p, size_t n)
{
	struct relay *r = arg;

	if (r->msg_rejected == NULL && r->df.too_long)
		reject_message(r, "line_too_long");
	else if (r->msg_rejected == NULL && r->df.dirty && r->lc->bare_newline == BARE_REJECT)
		reject_message(r, "bare_newline");
	else if (r->msg_rejected == NULL && !r->stopped && data_filter_is_end(&r->df, p, n) &&
	    r->io->reserve_reply != NULL && r->io->reserve_reply(r->ctx) != 0)
		reject_message(r, "out_of_memory");	/* its reply could get lost: the backend must not take it */
	if (r->msg_rejected == NULL && !r->stopped && n > 0) {
		r->io->to_backend(r->ctx, p, n);
		r->msg_size += n;
	}
	return 0;
}

/* The client's end of data: the final reply is the backend's, or our refusal. */
static void
end_message(struct relay *r)
{
	r->state = R_CMD;
	if (r->msg_rejected == NULL) {
		pending_push(&r->q, P_DATA_END);
		r->after_eod = 0;
		return;
	}
	relay_note(r, RN_MESSAGE_REJECTED, 0);
	if (strcmp(r->msg_rejected, "out_of_memory") == 0)
		relay_local(r, "451 4.3.0 Out of memory: message not delivered, try again later");
	else if (strcmp(r->msg_rejected, "line_too_long") == 0)
		relay_local(r, "550 5.6.0 Message rejected: a line is longer than %zu bytes", r->lc->max_data_line_length);
	else
		relay_local(r, "550 5.6.0 Message rejected: bare CR or LF, or NUL, in message (RFC 5321 2.3.8)");
	r->msg_rejected = NULL;
}

/* R_DATA: stream message content to the backend until the end line. */
static int
take_data(struct relay *r, struct buf *in)
{
	unsigned long long lines = r->df.lines;
	size_t used = 0;
	enum data_result res;

	if (buf_pending(in) == 0)
		return 0;
	res = data_filter_scan(&r->df, buf_head(in), buf_pending(in), emit_backend, r, &used);
	buf_consume(in, used);
	emit_backend(r, NULL, 0);	/* a line flagged after its last byte was emitted */
	if (res == DATA_END)
		end_message(r);
	/* data_timeout is per line, so a client trickling bytes cannot hold us. */
	if (res == DATA_END || r->df.lines != lines)
		restart_deadline(r);
	return 1;
}

/* R_SKIP_BYTES: discard what is left of a refused BDAT chunk. */
static int
skip_bytes(struct relay *r, struct buf *in)
{
	size_t n = buf_pending(in) < r->skip_bytes ? buf_pending(in) : (size_t)r->skip_bytes;

	buf_consume(in, n);
	r->skip_bytes -= n;
	if (r->skip_bytes > 0)
		return 0;
	r->state = R_CMD;
	return 1;
}

/*
 * Is a command line welcome now? Not past the pipelining depth, not while
 * the backend must answer first, not while the client does not read our
 * replies. Early talkers wait too: until its EHLO reply the backend is not
 * known to pipeline, and its greeting (or XCLIENT's) is a reply owed.
 */
static int
commands_flow(struct relay *r)
{
	return r->q.len < PENDING_MAX - 2 && !backend_busy(r) && !upstream_active(r) && !r->io->client_full(r->ctx);
}

/* The client has sent all it will and everything it can still get is out: end. */
static void
client_finished(struct relay *r)
{
	switch (r->state) {
	case R_DATA:
		relay_end(r, "client_closed_in_data", 0);
		break;
	case R_CMD:
	case R_SKIP_LINE:
	case R_SKIP_BYTES:
		if (r->q.len == 0)
			relay_end(r, "client_closed", 1);	/* deliver what is queued */
		break;
	case R_WAIT:
	case R_DONE:
		break;	/* a reply is coming; relay_client_input() runs again then */
	default:
		relay_end(r, "client_closed", 0);
	}
}

void
relay_client_input(struct relay *r, struct buf *in)
{
	int progress = 1;

	relay_delivery_check(r);

	while (progress && !r->stopped) {
		progress = 0;
		switch (r->state) {
		case R_CMD:
			if (commands_flow(r))
				progress = take_line(r, in, r->lc->max_line_length);
			break;
		case R_AUTH:
			progress = take_line(r, in, AUTH_LINE_MAX);
			break;
		case R_SKIP_LINE:
			if ((progress = skip_line(in)))
				r->state = r->after_skip;
			break;
		case R_SKIP_BYTES:
			progress = skip_bytes(r, in);
			break;
		case R_DATA:
			progress = take_data(r, in);
			break;
		case R_STARTTLS:
			start_tls_when_idle(r, in);
			break;
		case R_WAIT:
		case R_TLS:
		case R_DONE:
			break;
		}
	}
	if (r->client_eof && !r->stopped)
		client_finished(r);
}

int
relay_streaming(const struct relay *r)
{
	return r->state == R_DATA;
}

void
relay_client_eof(struct relay *r, struct buf *in)
{
	r->client_eof = 1;
	relay_client_input(r, in);
}

void
relay_backend_input(struct relay *r, struct buf *in)
{
	size_t maxlen = r->lc->max_reply_length;
	const char *p;
	long n;
	int code = 0;

	while (!r->stopped && buf_pending(in) > 0) {
		n = smtp_reply_len(buf_head(in), buf_pending(in), maxlen, &code);
		if (n == 0 && buf_pending(in) <= maxlen)
			break;
		if (n <= 0 || (size_t)n > maxlen) {
			log_event(LOG_WARN, "backend_protocol_error", "sid=%016llx reason=malformed_reply state=%s", SID(r),
			    relay_strstate(r->state));
			relay_abort(r, "backend_protocol_error", "4.5.0", "Backend protocol error, closing connection");
			return;
		}
		/* Consumed first: a 220 to our STARTTLS starts TLS, which must find no plaintext left over. */
		p = buf_head(in);
		buf_consume(in, (size_t)n);
		replies_handle(r, code, p, (size_t)n);
	}
	restart_deadline(r);
}

void
relay_backend_closed(struct relay *r)
{
	if (r->stopped)
		return;
	log_event(LOG_INFO, "backend_closed", "sid=%016llx state=%s", SID(r), relay_strstate(r->state));
	r->backend_gone = 1;
	if (r->state == R_DATA)
		relay_end(r, "backend_closed_in_data", 0);
	else
		relay_abort(r, "backend_closed", "4.4.2", "Backend closed the connection");
}

void
relay_backend_unavailable(struct relay *r, const char *reason)
{
	r->backend_gone = 1;
	relay_abort(r, reason, "4.4.1", "Backend unavailable, try again later");
}

void
relay_tls_up(struct relay *r, const char *version, const char *cipher)
{
	r->tls_version = version;
	r->tls_cipher = cipher;
	if (r->state == R_TLS) {
		/* Nothing from before TLS may survive: the client must EHLO again,
		 * and the backend forgets any transaction. */
		r->state = R_CMD;
		r->need_ehlo = 1;
		relay_reset_transaction(r);
		relay_forward(r, "RSET", 4, P_RSET_INTERNAL);
	}
	restart_deadline(r);
}

void
relay_timeout(struct relay *r, int whole_session)
{
	int data = r->state == R_DATA || (r->q.len > 0 && pending_head(&r->q) == P_DATA_END);

	relay_note(r, RN_TIMEOUT, 0);
	if (whole_session)
		relay_abort(r, "session_timeout", "4.4.2", "Session too long, closing connection");
	else
		relay_abort(r, data ? "data_timeout" : "idle_timeout", "4.4.2", "Timeout, closing connection");
}

void
relay_shutdown(struct relay *r)
{
	relay_abort(r, "shutdown", "4.3.2", "Service shutting down, try again later");
}

void
relay_deny_client(struct relay *r)
{
	char line[PENDING_LOCAL_MAX];
	int n = snprintf(line, sizeof(line), "554 5.7.1 %s Access denied\r\n", r->lc->hostname);

	if (n > 0 && (size_t)n < sizeof(line))
		relay_send_client(r, line, (size_t)n);
	r->backend_gone = 1;
	relay_end(r, "not_allowed", 1);
}

void
relay_refuse_connection(struct relay *r, const char *why)
{
	r->backend_gone = 1;
	relay_abort(r, why, "4.7.0", "Too many connections, try again later");
}

void
relay_init(struct relay *r, const struct listener_conf *lc, const struct relay_io *io, void *ctx, uint64_t id,
    const struct identity *who, const char *peer)
{
	memset(r, 0, sizeof(*r));
	r->lc = lc;
	r->io = io;
	r->ctx = ctx;
	r->id = id;
	r->who = *who;
	r->peer = peer;
	r->state = R_CMD;
	r->tls = lc->tls == TLS_MODE_IMPLICIT;
	r->up = lc->backend_tls != BACKEND_TLS_NONE ? UP_GREETING : UP_DONE;
	pending_push(&r->q, P_GREETING);
	restart_deadline(r);
}

void
relay_stop(struct relay *r, const char *reason, int graceful)
{
	relay_finish(r, reason, graceful);
}

void
relay_free(struct relay *r)
{
	pending_free(&r->q);
	free(r->caps);
	free(r->helo);
	free(r->mail_from);
	free(r->up_greeting);
	r->caps = r->helo = r->mail_from = r->up_greeting = NULL;
}

void
relay_backend_tls_up(struct relay *r)
{
	upstream_tls_up(r);
}

void
relay_backend_tls_failed(struct relay *r, const char *why)
{
	upstream_tls_failed(r, why);
}

void
relay_confirm_delivery(struct relay *r)
{
	relay_delivery_check(r);
}
