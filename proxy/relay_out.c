/* relay_out.c - what the relay says, and how a session ends; see relay_out.h. */
#include "relay_out.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define SID(r) ((unsigned long long)(r)->id)

const char *
relay_strstate(enum relay_state st)
{
	static const char *const names[] = { "command", "skip_line", "skip_bytes", "wait_reply", "auth", "data",
		"starttls", "tls", "done" };

	return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "unknown";
}

void
relay_send_client(struct relay *r, const char *p, size_t n)
{
	if (!r->stopped)
		r->io->to_client(r->ctx, p, n);
}

void
relay_send_line(struct relay *r, const char *line, size_t len)
{
	if (r->stopped)
		return;
	r->io->to_backend(r->ctx, line, len);
	r->io->to_backend(r->ctx, "\r\n", 2);
	r->after_eod += len + 2;
}

void
relay_forward(struct relay *r, const char *line, size_t len, unsigned kind)
{
	if (pending_push(&r->q, kind) != 0) {
		relay_end(r, "out_of_memory", 0);	/* cannot happen: input stops before the queue is full */
		return;
	}
	relay_send_line(r, line, len);
}

void
relay_note(struct relay *r, enum relay_note what, uint64_t n)
{
	if (r->io->note != NULL)
		r->io->note(r->ctx, what, n);
}

void
relay_await_delivery(struct relay *r, const char *p, size_t n)
{
	size_t l = 0;

	while (l < n && l < RELAY_REPLY_LOG && p[l] != '\r' && p[l] != '\n')
		l++;
	if (l == 0) {	/* cannot be (a reply has its code): still, "" would mean "received" */
		p = "-";
		l = 1;
	}
	memcpy(r->unconfirmed, p, l);
	r->unconfirmed[l] = '\0';
	r->unconfirmed_size = r->msg_size;
	r->unconfirmed_mark = 0;
}

void
relay_delivery_check(struct relay *r)
{
	if (r->unconfirmed[0] != '\0' &&
	    (r->io->client_sent == NULL || r->io->client_sent(r->ctx, &r->unconfirmed_mark)))
		r->unconfirmed[0] = '\0';
}

/* Has the end of data not left this host yet (what was sent after it is all that may not have)? */
static int
end_unsent(struct relay *r)
{
	return r->io->backend_unsent != NULL && r->io->backend_unsent(r->ctx) > r->after_eod;
}

void
relay_settle(struct relay *r, const char *reason, int graceful)
{
	char q[300];

	if (r->settled)
		return;
	r->settled = 1;
	if (r->q.len > 0 && pending_has(&r->q, P_DATA_END)) {
		if (end_unsent(r)) {
			/* The backend cannot have the end, and after a reset never will (a FIN could end it there). */
			if (!r->backend_gone)
				r->io->drop_backend(r->ctx);
			r->backend_gone = 1;
			return;
		}
		log_event(LOG_WARN, "delivery_unconfirmed", "sid=%016llx size=%llu reply=- reason=%s", SID(r),
		    (unsigned long long)r->msg_size, reason);
		return;
	}
	relay_delivery_check(r);
	if (r->unconfirmed[0] != '\0' && !graceful)
		log_event(LOG_WARN, "delivery_unconfirmed", "sid=%016llx size=%llu reply=%s reason=%s", SID(r),
		    (unsigned long long)r->unconfirmed_size, log_quote(q, sizeof(q), r->unconfirmed,
		    strlen(r->unconfirmed)), reason);
}

void
relay_finish(struct relay *r, const char *reason, int graceful)
{
	if (r->stopped)
		return;
	relay_settle(r, reason, graceful);
	if (r->state == R_DATA || (r->q.len > 0 && pending_has(&r->q, P_DATA_END)))
		relay_note(r, RN_MESSAGE_ABORTED, 0);
	if (r->state == R_DATA && !r->backend_gone)
		r->io->drop_backend(r->ctx);
	r->state = R_DONE;
	r->stopped = 1;
}

void
relay_end(struct relay *r, const char *reason, int graceful)
{
	if (r->stopped)
		return;
	relay_finish(r, reason, graceful);
	r->io->end(r->ctx, reason, graceful);
}

/* Send one reply of our own now; a 421 closes the session after it. */
static void
send_local(struct relay *r, const char *text, size_t n)
{
	relay_send_client(r, text, n);
	if (n >= 3 && memcmp(text, "421", 3) == 0)
		relay_end(r, r->end_reason ? r->end_reason : "closed_by_proxy", 1);
}

void
relay_flush_locals(struct relay *r)
{
	const char *text;
	size_t n;

	while (r->q.len > 0 && pending_head(&r->q) == P_LOCAL && !r->stopped) {
		text = pending_local(&r->q, &n);
		send_local(r, text, n);
		pending_pop(&r->q);
	}
}

static void vlocal(struct relay *r, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void
vlocal(struct relay *r, const char *fmt, va_list ap)
{
	char line[PENDING_LOCAL_MAX];
	int n;

	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	memcpy(line + n, "\r\n", 2);
	if (r->q.len == 0) {
		send_local(r, line, (size_t)n + 2);
		return;
	}
	if (pending_push_local(&r->q, line, (size_t)n + 2) != 0)
		relay_end(r, "out_of_memory", 0);
}

void
relay_local(struct relay *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlocal(r, fmt, ap);
	va_end(ap);
}

void
relay_refuse(struct relay *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlocal(r, fmt, ap);
	va_end(ap);
	if (++r->errors >= r->lc->max_errors && r->lc->max_errors > 0) {
		relay_note(r, RN_MAX_ERRORS, 0);
		relay_close(r, "too_many_errors", "4.7.0", "Too many errors, closing connection");
	}
}

void
relay_close(struct relay *r, const char *reason, const char *status, const char *text)
{
	if (r->state == R_DONE)
		return;
	log_event(LOG_INFO, "closing", "sid=%016llx reason=%s", SID(r), reason);
	r->end_reason = reason;
	r->state = R_DONE;
	relay_local(r, "421 %s %s %s", status, r->lc->hostname, text);
}

void
relay_abort(struct relay *r, const char *reason, const char *status, const char *text)
{
	char line[PENDING_LOCAL_MAX];
	int n;

	if (r->stopped)
		return;
	n = snprintf(line, sizeof(line), "421 %s %s %s\r\n", status, r->lc->hostname, text);
	if (n > 0 && (size_t)n < sizeof(line))
		relay_send_client(r, line, (size_t)n);
	relay_settle(r, reason, 1);	/* before the reset: would the backend have the end? */
	if (!r->backend_gone)
		r->io->drop_backend(r->ctx);
	r->backend_gone = 1;
	relay_end(r, reason, 1);
}

void
relay_keep(char **dst, const char *p, size_t n)
{
	free(*dst);
	*dst = strndup(p, n < 255 ? n : 255);
}

void
relay_reset_transaction(struct relay *r)
{
	free(r->mail_from);
	r->mail_from = NULL;
	r->rcpts = 0;
}
