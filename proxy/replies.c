/* replies.c - the backend's replies; see replies.h. */
#include "replies.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ehlo.h"
#include "log.h"
#include "relay_out.h"
#include "upstream.h"

#define SID(r) ((unsigned long long)(r)->id)

/* Capabilities never shown to clients: starttlsd refuses these commands. */
static const char *const hidden_caps[] = { "XCLIENT", "XFORWARD", NULL };
/* Before TLS with auth_before_tls = hide, AUTH is hidden too. */
static const char *const hidden_caps_before_tls[] = { "XCLIENT", "XFORWARD", "AUTH", NULL };

static void
protocol_error(struct relay *r, const char *what, int code)
{
	log_event(LOG_WARN, "backend_protocol_error", "sid=%016llx reason=%s code=%d state=%s", SID(r), what, code,
	    relay_strstate(r->state));
	relay_abort(r, "backend_protocol_error", "4.5.0", "Backend protocol error, closing connection");
}

static void
log_message(struct relay *r, const char *p, size_t n)
{
	char from[300], reply[300];
	size_t l = 0;

	while (l < n && p[l] != '\r' && p[l] != '\n')
		l++;
	log_event(LOG_INFO, "message", "sid=%016llx from=%s rcpts=%u size=%llu reply=%s", SID(r),
	    log_quote(from, sizeof(from), r->mail_from ? r->mail_from : "", r->mail_from ? strlen(r->mail_from) : 0),
	    r->rcpts,
	    (unsigned long long)r->msg_size, log_quote(reply, sizeof(reply), p, l));
}

/* Keep the pre-TLS capabilities, without STARTTLS, for a backend that refuses a second EHLO. */
static void
keep_caps(struct relay *r, const char *p, size_t n)
{
	struct ehlo_opts opts = { .add_starttls = 0, .hide = hidden_caps };
	struct buf out = { 0 };
	char *c;

	if (ehlo_rewrite(p, n, &opts, &out) == 0 && (c = realloc(r->caps, buf_pending(&out))) != NULL) {
		memcpy(c, buf_head(&out), buf_pending(&out));
		r->caps = c;
		r->capslen = buf_pending(&out);
	}
	buf_free(&out);
}

/* Does this reply to EHLO mean the backend only knows HELO (RFC 821)? 421 means closing, not that. */
static int
refuses_ehlo(int code)
{
	return code / 100 == 5 || (code / 100 == 4 && code != 421);
}

/* The backend refused EHLO: greet it with HELO instead, and answer the client's EHLO ourselves. */
static void
fall_back_to_helo(struct relay *r, int code)
{
	char line[300];
	int l;

	if (!r->backend_helo_only)
		log_event(LOG_INFO, "backend_helo_only", "sid=%016llx ehlo_code=%d", SID(r), code);
	r->backend_helo_only = 1;
	r->backend_pipelining = 0;
	l = snprintf(line, sizeof(line), "HELO %s", r->helo != NULL ? r->helo : r->lc->hostname);
	if (pending_push_front(&r->q, P_HELO_FOR_EHLO) != 0) {
		relay_end(r, "out_of_memory", 0);
		return;
	}
	relay_send_line(r, line, (size_t)l < sizeof(line) ? (size_t)l : sizeof(line) - 1);
}

/* Our HELO's reply: a 250 lets us answer the client's EHLO; a refusal is the client's answer. */
static void
helo_for_ehlo_reply(struct relay *r, int code, const char *p, size_t n)
{
	struct buf out = { 0 };

	if (code != 250) {
		relay_send_client(r, p, n);
		return;
	}
	if (ehlo_emulate(r->lc->hostname, r->lc->tls == TLS_MODE_STARTTLS && !r->tls, &out) == 0)
		relay_send_client(r, buf_head(&out), buf_pending(&out));
	else
		relay_send_client(r, "451 4.3.0 Out of memory\r\n", 25);
	buf_free(&out);
}

/* The reply to EHLO: rewritten, or answered from what we learned before TLS. */
static void
ehlo_reply(struct relay *r, unsigned kind, int code, const char *p, size_t n)
{
	struct ehlo_opts opts = { .add_starttls = 0, .add_pipelining = 1, .hide = hidden_caps };
	struct buf out = { 0 };

	/* A refusal from a backend that never took EHLO, with nothing else outstanding (not a pipelining
	 * artefact): it knows only HELO. */
	if (kind == P_EHLO && refuses_ehlo(code) && !r->backend_esmtp && r->q.at_backend == 0) {
		fall_back_to_helo(r, code);
		return;
	}
	if ((kind & ~PF_POST_TLS) == P_HELO)
		r->backend_pipelining = 0;	/* RFC 2920 applies after EHLO only */
	if (code / 100 != 2 && (kind & PF_POST_TLS)) {
		/* Some MTAs (OpenSMTPD) refuse a second EHLO; the client still needs one. */
		log_event(LOG_INFO, "ehlo_fallback", "sid=%016llx backend_code=%d", SID(r), code);
		if ((kind & ~PF_POST_TLS) == P_EHLO && r->caps != NULL) {
			relay_send_client(r, r->caps, r->capslen);
		} else {
			char line[300];
			int l = snprintf(line, sizeof(line), "250 %s\r\n", r->lc->hostname);
			relay_send_client(r, line, (size_t)l);
		}
		return;
	}
	if ((kind & ~PF_POST_TLS) == P_HELO || code != 250) {
		relay_send_client(r, p, n);
		return;
	}
	r->backend_pipelining = ehlo_has(p, n, "PIPELINING");
	r->backend_esmtp = 1;
	opts.add_starttls = r->lc->tls == TLS_MODE_STARTTLS && !r->tls;
	if ((!r->tls && r->lc->auth_before_tls == AUTH_HIDE) || r->lc->backend_auth != NULL)
		opts.hide = hidden_caps_before_tls;	/* (with backend_auth, we authenticate for the sender) */
	if (ehlo_rewrite(p, n, &opts, &out) != 0) {
		buf_free(&out);
		relay_send_client(r, "451 4.5.0 Backend sent a malformed EHLO reply\r\n", 47);
		return;
	}
	relay_send_client(r, buf_head(&out), buf_pending(&out));
	buf_free(&out);
	if (opts.add_starttls)
		keep_caps(r, p, n);
}

/* The greeting (or XCLIENT's 220, which replaces it): the client may talk now. */
static void
greeting(struct relay *r, unsigned kind, int code, const char *p, size_t n)
{
	char line[PENDING_LOCAL_MAX];
	int l;

	if (kind == P_GREETING && upstream_active(r)) {
		upstream_greeting(r, code, p, n);
		return;
	}
	if (r->lc->backend_identity == IDENTITY_XCLIENT) {
		if (code != 220) {
			/* Never let the client on as 127.0.0.1: that is what XCLIENT is for. */
			log_event(LOG_ERROR, kind == P_XCLIENT ? "xclient_refused" : "backend_greeting", "sid=%016llx "
			    "code=%d hint=\"%s\"", SID(r), code, kind == P_XCLIENT ? "allow us in the backend's "
			    "smtpd_authorized_xclient_hosts" : "the backend did not greet with 220: XCLIENT impossible");
			relay_close(r, kind == P_XCLIENT ? "backend_refused_xclient" : "backend_not_ready", "4.3.0",
			    "Service not available, closing connection");
			return;
		}
		if (kind == P_GREETING) {
			/* Tell the backend who the client is; its next 220 is the greeting. */
			if ((l = identity_xclient(&r->who, line, sizeof(line))) < 0) {
				relay_close(r, "client_address_unknown", "4.3.0", "Service not available, closing connection");
				return;
			}
			r->io->to_backend(r->ctx, line, (size_t)l);
			pending_push(&r->q, P_XCLIENT);
			return;
		}
	}
	relay_send_client(r, p, n);
}

/* DATA's 354: the message starts (with our Received: header, if configured). */
static void
start_message(struct relay *r)
{
	struct received_info ri;
	char id[32], hdr[RECEIVED_MAXLEN];
	int n;

	r->state = R_DATA;
	data_filter_init(&r->df, r->lc->max_data_line_length);
	r->msg_size = 0;
	r->io->deadline(r->ctx, r->lc->data_timeout_ms);
	if (!r->lc->add_received)
		return;
	memset(&ri, 0, sizeof(ri));
	snprintf(id, sizeof(id), "%016llx", SID(r));
	ri.helo = r->helo;
	ri.by_host = r->lc->hostname;
	ri.tls_version = r->tls_version;
	ri.tls_cipher = r->tls_cipher;
	ri.esmtp = r->esmtp;
	ri.auth = r->authenticated;
	ri.id = id;
	ri.when = time(NULL);
	if ((n = identity_received(&r->who, &ri, hdr, sizeof(hdr))) <= 0) {
		log_event(LOG_WARN, "received_header", "sid=%016llx error=\"cannot format\"", SID(r));
		return;
	}
	r->msg_size += (uint64_t)n;
	r->io->to_backend(r->ctx, hdr, (size_t)n);
}

static void
auth_reply(struct relay *r, int code, const char *p, size_t n)
{
	relay_send_client(r, p, n);
	if (code == 235)
		r->authenticated = 1;
	/* The AUTH entry heads the queue, so we are waiting for it alone. */
	if (r->state == R_SKIP_LINE)
		r->after_skip = code == 334 ? R_AUTH : R_CMD;
	else if (r->state == R_WAIT || r->state == R_AUTH)
		r->state = code == 334 ? R_AUTH : R_CMD;
}

/* Is code a valid reply to a command of this kind? 3xx only where SMTP has one. */
static int
fits(unsigned kind, int code)
{
	if (code / 100 != 3)
		return 1;
	return (kind == P_DATA && code == 354) || (kind == P_AUTH && code == 334);
}

void
replies_handle(struct relay *r, int code, const char *p, size_t n)
{
	unsigned kind, base;

	if (r->q.at_backend == 0 || pending_head(&r->q) == P_LOCAL) {
		/* Nothing asked for: never relayed (it could answer a command the client has not sent yet). */
		if (code == 421) {
			/* A backend may say 421 at any time before it closes (RFC 5321 3.8). */
			log_event(LOG_INFO, "backend_421", "sid=%016llx", SID(r));
			relay_abort(r, "backend_421", "4.4.2", "Backend closing the connection, try again later");
			return;
		}
		protocol_error(r, "unsolicited_reply", code);
		return;
	}
	kind = pending_head(&r->q);
	base = kind & ~PF_POST_TLS;
	if (!fits(base, code) || (base == P_DATA && code == 354 && r->state != R_WAIT)) {
		protocol_error(r, code == 354 ? "unexpected_354" : "unexpected_3xx", code);
		return;
	}
	if (base != P_AUTH || code != 334)
		pending_pop(&r->q);
	switch (base) {
	case P_GREETING:
	case P_XCLIENT:
		greeting(r, base, code, p, n);
		break;
	case P_EHLO:
	case P_HELO:
		ehlo_reply(r, kind, code, p, n);
		break;
	case P_HELO_FOR_EHLO:
		helo_for_ehlo_reply(r, code, p, n);
		break;
	case P_UPSTREAM:
		upstream_reply(r, code, p, n);
		break;
	case P_RCPT:
		if (code / 100 == 2)
			r->rcpts++;
		relay_send_client(r, p, n);
		break;
	case P_DATA:
		relay_send_client(r, p, n);
		if (code == 354)
			start_message(r);
		else
			r->state = R_CMD;
		break;
	case P_DATA_END:
		relay_send_client(r, p, n);
		log_message(r, p, n);
		if (code / 100 == 2)
			relay_await_delivery(r, p, n);
		relay_note(r, code / 100 == 2 ? RN_MESSAGE_ACCEPTED : RN_MESSAGE_REJECTED, r->msg_size);
		relay_reset_transaction(r);
		break;
	case P_AUTH:
		auth_reply(r, code, p, n);
		break;
	case P_RSET_INTERNAL:
		if (code / 100 != 2)
			log_event(LOG_WARN, "backend_rset_failed", "sid=%016llx code=%d", SID(r), code);
		if (code == 421)
			relay_send_client(r, p, n);
		break;
	case P_QUIT:
		relay_send_client(r, p, n);
		relay_end(r, "quit", 1);
		return;
	default:
		relay_send_client(r, p, n);
	}
	if (code == 421) {
		relay_end(r, "backend_421", 1);
		return;
	}
	relay_flush_locals(r);
}
