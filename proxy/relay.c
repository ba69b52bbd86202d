/*
 * relay.c - the SMTP logic of a session: the command table, the queue of
 * commands awaiting replies (pipelining), EHLO rewriting, STARTTLS, AUTH
 * and DATA. All I/O goes through session.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>

#include "ehlo.h"
#include "identity.h"
#include "log.h"
#include "session.h"
#include "smtp.h"

#define PF_POST_TLS 0x80	/* queue flag: EHLO/HELO sent after STARTTLS */
#define AUTH_LINE_MAX (12288 + 2)	/* RFC 4954 section 4 */

/* Capabilities never shown to clients: starttlsd refuses these commands. */
static const char *const hidden_caps[] = { "XCLIENT", "XFORWARD", NULL };
/* Before TLS with auth_before_tls = hide, AUTH is hidden too. */
static const char *const hidden_caps_before_tls[] = { "XCLIENT", "XFORWARD", "AUTH", NULL };

#define SID(s) ((unsigned long long)(s)->id)

const char *
relay_strstate(enum client_state st)
{
	static const char *const names[] = { "command", "skip_line", "skip_bytes", "wait_reply", "auth",
		"data", "starttls", "handshake", "proxy_header", "done" };

	return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "unknown";
}

/* --- the queue of commands awaiting replies --- */

static void
queue_push(struct session *s, unsigned kind)
{
	s->queue[(s->qhead + s->qlen) % SESSION_QUEUE_MAX] = (uint8_t)kind;
	s->qlen++;
}

static unsigned
queue_head(const struct session *s)
{
	return s->queue[s->qhead];
}

static void
queue_pop(struct session *s)
{
	s->qhead = (s->qhead + 1) % SESSION_QUEUE_MAX;
	s->qlen--;
}

/* Send a reply of our own now; a 421 means we close the connection after it. */
static void
send_local(struct session *s, const char *text, size_t n)
{
	session_to_client(s, text, n);
	if (n >= 3 && memcmp(text, "421", 3) == 0)
		session_end(s, s->end_reason ? s->end_reason : "closed_by_proxy", 1);
}

/* Send the local replies that have reached the head of the queue. */
static void
flush_locals(struct session *s)
{
	uint16_t n;

	while (s->qlen > 0 && queue_head(s) == P_LOCAL && !s->closing) {
		memcpy(&n, buf_head(&s->locals), 2);
		send_local(s, buf_head(&s->locals) + 2, n);
		buf_consume(&s->locals, 2 + (size_t)n);
		queue_pop(s);
	}
	if (s->qlen == 0)
		buf_release(&s->locals);
}

/*
 * A reply starttlsd makes itself. It goes out at once if nothing is
 * pending, else it waits its turn behind earlier commands' replies.
 */
static void reply_local(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
reply_local(struct session *s, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;
	uint16_t len;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	memcpy(line + n, "\r\n", 2);
	len = (uint16_t)(n + 2);
	if (s->qlen == 0) {
		send_local(s, line, len);
		return;
	}
	if (buf_append(&s->locals, &len, 2) || buf_append(&s->locals, line, len)) {
		session_end(s, "out_of_memory", 0);
		return;
	}
	queue_push(s, P_LOCAL);
}

/*
 * A command starttlsd refuses: counts towards the error budget. Past
 * max_errors, the session ends with a 421 after this reply.
 */
#define refuse(s, ...)                                                                         \
	do {                                                                                  \
		reply_local((s), __VA_ARGS__);                                                \
		if (++(s)->errors >= (s)->lc->max_errors && (s)->lc->max_errors > 0)          \
			close_with_421((s), "too_many_errors", "4.7.0", "Too many errors");   \
	} while (0)

/* Queue a 421 (in order) and stop reading commands; the session ends once it is sent. */
static void
close_with_421(struct session *s, const char *reason, const char *status, const char *text)
{
	if (s->cstate == C_DONE)
		return;
	log_event(LOG_INFO, "closing", "sid=%016llx reason=%s", SID(s), reason);
	s->end_reason = reason;
	s->cstate = C_DONE;
	reply_local(s, "421 %s %s %s, closing connection", status, s->lc->hostname, text);
}

static void
reset_transaction(struct session *s)
{
	s->mail_from[0] = '\0';
	s->rcpts = 0;
}

/* Send a line to the backend with a clean CRLF. Returns 0 or -1 (session ended). */
static int
send_line(struct session *s, const char *line, size_t len)
{
	if (session_to_backend(s, line, len) || session_to_backend(s, "\r\n", 2)) {
		session_end(s, "out_of_memory", 0);
		return -1;
	}
	return 0;
}

/* Forward a command line and remember what it was, to handle its reply. */
static void
forward(struct session *s, const char *line, size_t len, unsigned kind)
{
	if (send_line(s, line, len) == 0)
		queue_push(s, kind);
}

/* --- the command table --- */

typedef void cmd_fn(struct session *s, const struct smtp_cmd *c, const char *line, size_t len);

static void
cmd_ehlo(struct session *s, const struct smtp_cmd *c, const char *line, size_t len)
{
	unsigned flags = s->need_ehlo ? PF_POST_TLS : 0;
	size_t n = c->argslen < sizeof(s->helo) - 1 ? c->argslen : sizeof(s->helo) - 1;

	memcpy(s->helo, c->args, n);
	s->helo[n] = '\0';
	s->esmtp = c->verb == SMTP_EHLO;
	s->need_ehlo = 0;
	reset_transaction(s);
	forward(s, line, len, (c->verb == SMTP_EHLO ? P_EHLO : P_HELO) | flags);
}

static void
cmd_mail(struct session *s, const struct smtp_cmd *c, const char *line, size_t len)
{
	const char *a = c->args;
	size_t n = 0, alen = c->argslen;

	/* Log just the reverse-path: "FROM:<a@b> SIZE=1" -> "<a@b>". */
	if (alen >= 5 && strncasecmp(a, "FROM:", 5) == 0) {
		a += 5;
		alen -= 5;
	}
	while (n < alen && a[n] != ' ' && n < sizeof(s->mail_from) - 1)
		n++;
	memcpy(s->mail_from, a, n);
	s->mail_from[n] = '\0';
	s->rcpts = 0;
	forward(s, line, len, P_MAIL);
}

static void
cmd_rcpt(struct session *s, const struct smtp_cmd *c, const char *line, size_t len)
{
	(void)c;
	forward(s, line, len, P_RCPT);
}

static void
cmd_rset(struct session *s, const struct smtp_cmd *c, const char *line, size_t len)
{
	(void)c;
	reset_transaction(s);
	forward(s, line, len, P_OTHER);
}

/* DATA and AUTH: hold further input until the backend's reply says what it is. */
static void
cmd_data(struct session *s, const struct smtp_cmd *c, const char *line, size_t len)
{
	forward(s, line, len, c->verb == SMTP_DATA ? P_DATA : P_AUTH);
	s->cstate = C_WAIT;
}

static void
cmd_quit(struct session *s, const struct smtp_cmd *c, const char *line, size_t len)
{
	(void)c;
	forward(s, line, len, P_QUIT);
	s->cstate = C_DONE;
}

static void
cmd_starttls(struct session *s, const struct smtp_cmd *c, const char *line, size_t len)
{
	(void)line;
	(void)len;
	if (s->tls.ssl != NULL) {
		refuse(s, "503 5.5.1 TLS already active");
		return;
	}
	if (c->argslen > 0) {
		refuse(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	/* Nothing more is read as plaintext: see start_tls_when_idle(). */
	s->cstate = C_STARTTLS;
}

/* BDAT is not advertised; its chunk bytes are discarded, never parsed. */
static void
cmd_bdat(struct session *s, const struct smtp_cmd *c, const char *line, size_t len)
{
	unsigned long long n = 0;
	size_t i;

	(void)line;
	(void)len;
	for (i = 0; i < c->argslen && c->args[i] >= '0' && c->args[i] <= '9' && n < (1ULL << 40); i++)
		n = n * 10 + (unsigned)(c->args[i] - '0');
	if (i == 0 || (i < c->argslen && c->args[i] != ' ') || n >= (1ULL << 40)) {
		/* We cannot know where the chunk ends: the only safe thing is to stop. */
		close_with_421(s, "bdat_syntax_error", "4.5.4", "BDAT syntax error");
		return;
	}
	refuse(s, "502 5.5.1 BDAT not supported, use DATA");
	if (s->cstate == C_DONE)
		return;	/* that was the last error allowed: nothing more is read */
	s->skip_bytes = n;
	s->cstate = C_SKIP_BYTES;
}

static void
cmd_proxy_only(struct session *s, const struct smtp_cmd *c, const char *line, size_t len)
{
	(void)line;
	(void)len;
	log_event(LOG_WARN, "refused", "sid=%016llx command=%s reason=proxy_only_command", SID(s),
	    smtp_verb_name(c->verb));
	refuse(s, "550 5.7.1 %s is not allowed through this proxy", smtp_verb_name(c->verb));
}

/* Known verbs without special handling: VRFY, EXPN, HELP, ETRN, NOOP. */
static void
cmd_forward(struct session *s, const struct smtp_cmd *c, const char *line, size_t len)
{
	(void)c;
	forward(s, line, len, P_OTHER);
}

/*
 * Anything else never reaches the legacy backend: an allowlist is the only
 * safe way to keep unknown extensions (and tricks) away from it.
 */
static void
cmd_unknown(struct session *s, const struct smtp_cmd *c, const char *line, size_t len)
{
	(void)c;
	(void)line;
	(void)len;
	refuse(s, "500 5.5.1 Command unrecognized");
}

/* Every verb starttlsd lets through, with its action; the rest is refused. */
static const struct {
	enum smtp_verb verb;
	cmd_fn *action;
	int before_ehlo;	/* allowed after STARTTLS before the new EHLO */
} commands[] = {
	{ SMTP_EHLO, cmd_ehlo, 1 },
	{ SMTP_HELO, cmd_ehlo, 1 },
	{ SMTP_QUIT, cmd_quit, 1 },
	{ SMTP_MAIL, cmd_mail, 0 },
	{ SMTP_RCPT, cmd_rcpt, 0 },
	{ SMTP_RSET, cmd_rset, 0 },
	{ SMTP_DATA, cmd_data, 0 },
	{ SMTP_AUTH, cmd_data, 0 },
	{ SMTP_STARTTLS, cmd_starttls, 0 },
	{ SMTP_BDAT, cmd_bdat, 0 },
	{ SMTP_XCLIENT, cmd_proxy_only, 0 },
	{ SMTP_XFORWARD, cmd_proxy_only, 0 },
	{ SMTP_PROXY, cmd_proxy_only, 0 },
	{ SMTP_NOOP, cmd_forward, 0 },
	{ SMTP_VRFY, cmd_forward, 0 },
	{ SMTP_EXPN, cmd_forward, 0 },
	{ SMTP_HELP, cmd_forward, 0 },
	{ SMTP_ETRN, cmd_forward, 0 },
	{ SMTP_OTHER, cmd_unknown, 0 },
};

/* With require_tls, the only commands allowed before STARTTLS (RFC 3207 4). */
static int
allowed_before_tls(enum smtp_verb v)
{
	return v == SMTP_EHLO || v == SMTP_HELO || v == SMTP_STARTTLS || v == SMTP_NOOP || v == SMTP_RSET ||
	    v == SMTP_QUIT;
}

/* One complete command line (terminator not included). */
static void
handle_command(struct session *s, const char *line, size_t len)
{
	struct smtp_cmd c;
	size_t i;

	if (smtp_line_has_ctl(line, len)) {
		refuse(s, "500 5.5.2 Invalid character in command");
		return;
	}
	if (smtp_cmd_parse(line, len, &c) != 0) {
		refuse(s, "500 5.5.2 Empty command");
		return;
	}
	for (i = 0; commands[i].verb != c.verb && commands[i].verb != SMTP_OTHER; i++)
		;
	if (s->backend_gone) {
		/* After a rejected message the backend connection is gone. */
		if (c.verb == SMTP_QUIT) {
			reply_local(s, "221 2.0.0 %s Bye", s->lc->hostname);
			s->cstate = C_DONE;
			if (s->qlen == 0)
				session_end(s, "quit", 1);
			return;
		}
		close_with_421(s, "after_rejected_message", "4.3.0", "Connection closed after a rejected message");
		return;
	}
	if (s->need_ehlo && !commands[i].before_ehlo) {
		refuse(s, "503 5.5.1 Send EHLO or HELO first after STARTTLS");
		return;
	}
	if (s->tls.ssl == NULL && s->lc->require_tls && !allowed_before_tls(c.verb)) {
		refuse(s, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (c.verb == SMTP_AUTH && s->tls.ssl == NULL && s->lc->auth_before_tls == AUTH_HIDE) {
		refuse(s, "538 5.7.11 Encryption required for requested authentication mechanism");
		return;
	}
	if (log_enabled(LOG_DEBUG))
		log_event(LOG_DEBUG, "command", "sid=%016llx verb=%s", SID(s), smtp_verb_name(c.verb));
	commands[i].action(s, &c, line, len);
}

/* --- client input --- */

/* STARTTLS was accepted: once every earlier reply is out, switch to TLS. */
static void
start_tls_when_idle(struct session *s)
{
	size_t dropped;

	if (s->cstate != C_STARTTLS || s->qlen > 0 || s->closing)
		return;
	session_to_client(s, "220 2.0.0 Ready to start TLS\r\n", 30);
	/* CVE-2011-0411: plaintext after STARTTLS is never executed. */
	if ((dropped = buf_pending(&s->cin)) > 0)
		log_event(LOG_WARN, "starttls_injection", "sid=%016llx client=%s discarded_bytes=%zu", SID(s),
		    s->peer, dropped);
	buf_clear(&s->cin);
	buf_release(&s->cin);
	session_start_tls(s);
}

/* Discard client input through the next LF; returns 1 if one was found. */
static int
skip_line(struct session *s)
{
	const char *lf = buf_pending(&s->cin) ? memchr(buf_head(&s->cin), '\n', buf_pending(&s->cin)) : NULL;

	if (lf == NULL) {
		buf_clear(&s->cin);
		return 0;
	}
	buf_consume(&s->cin, (size_t)(lf - buf_head(&s->cin)) + 1);
	return 1;
}

/* C_CMD and C_AUTH: take one line if complete. Returns 1 if progress was made. */
static int
take_line(struct session *s, size_t max)
{
	const char *p = buf_head(&s->cin);
	size_t avail = buf_pending(&s->cin), ll, tl;

	ll = smtp_line_len(p, avail < max ? avail : max, &tl);
	if (ll == 0) {
		if (avail < max)
			return 0;
		log_event(LOG_INFO, "refused", "sid=%016llx reason=line_too_long max=%zu", SID(s), max);
		if (s->cstate == C_AUTH) {
			send_line(s, "*", 1);	/* cancel the exchange; the backend's 501 answers */
			s->after_skip = C_WAIT;	/* and nothing is read as a command before it */
		} else {
			refuse(s, "500 5.5.2 Line too long");
			s->after_skip = C_CMD;
		}
		if (s->cstate != C_DONE)
			s->cstate = C_SKIP_LINE;
		return 1;
	}
	if (s->cstate == C_AUTH) {
		/* An AUTH response: forwarded as is (the AUTH entry stays queued). */
		if (smtp_line_has_ctl(p, ll - tl))
			send_line(s, "*", 1);
		else
			send_line(s, p, ll - tl);
		s->cstate = C_WAIT;
	} else {
		handle_command(s, p, ll - tl);
	}
	buf_consume(&s->cin, ll);
	session_arm_timer(s);
	return 1;
}

/*
 * The message breaks policy (bare_newline = reject, or a line over
 * max_data_line_length): drop the backend connection so the partial
 * message can never complete there, and swallow the rest of the DATA.
 */
static void
reject_message(struct session *s, const char *why)
{
	log_event(LOG_INFO, "message_rejected", "sid=%016llx reason=%s", SID(s), why);
	s->msg_rejected = why;
	s->backend_gone = 1;
	session_drop_backend(s);
}

/* C_DATA: stream message content to the backend until the end line. */
static int
take_data(struct session *s)
{
	struct buf *out = s->msg_rejected ? &s->scratch : &s->to_backend.pending;
	size_t used = 0, outbefore = buf_pending(out);
	unsigned long long lines = s->df.lines;
	enum data_result r;

	if (buf_pending(&s->cin) == 0)
		return 0;
	r = data_filter_run(&s->df, buf_head(&s->cin), buf_pending(&s->cin), out, &used);
	if (r == DATA_NOMEM) {
		session_end(s, "out_of_memory", 0);
		return 0;
	}
	s->msg_size += buf_pending(out) - outbefore;
	/* data_timeout is per line, so a client trickling bytes cannot hold us. */
	if (s->df.lines != lines)
		session_arm_timer(s);
	buf_consume(&s->cin, used);
	if (s->msg_rejected) {
		buf_clear(&s->scratch);
	} else if (s->df.too_long) {
		reject_message(s, "line_too_long");
	} else if (s->df.dirty && s->lc->bare_newline == BARE_REJECT) {
		reject_message(s, "bare_newline");
	} else {
		session_to_backend(s, "", 0);	/* flush what the filter queued */
	}
	if (r == DATA_END) {
		s->cstate = C_CMD;
		if (s->msg_rejected) {
			buf_free(&s->scratch);
			if (strcmp(s->msg_rejected, "line_too_long") == 0)
				reply_local(s, "550 5.6.0 Message rejected: a line is longer than %zu bytes",
				    s->lc->max_data_line_length);
			else
				reply_local(s, "550 5.6.0 Message rejected: bare CR or LF, or NUL, in message (RFC 5321 2.3.8)");
			s->msg_rejected = NULL;
		} else {
			queue_push(s, P_DATA_END);
		}
		session_arm_timer(s);
	}
	return 1;
}

void
relay_client_input(struct session *s)
{
	int progress = 1;
	size_t n;

	while (progress && !s->closing) {
		progress = 0;
		switch (s->cstate) {
		case C_CMD:
			if (!s->greeted || s->qlen >= SESSION_QUEUE_MAX - 2)
				break;	/* before the greeting, or pipelining depth reached: wait */
			progress = take_line(s, s->lc->max_line_length);
			break;
		case C_AUTH:
			progress = take_line(s, AUTH_LINE_MAX);
			break;
		case C_SKIP_LINE:
			if ((progress = skip_line(s)))
				s->cstate = s->after_skip;
			break;
		case C_SKIP_BYTES:
			n = buf_pending(&s->cin) < s->skip_bytes ? buf_pending(&s->cin) : (size_t)s->skip_bytes;
			buf_consume(&s->cin, n);
			s->skip_bytes -= n;
			if (s->skip_bytes == 0) {
				s->cstate = C_CMD;
				progress = 1;
			}
			break;
		case C_DATA:
			progress = take_data(s);
			break;
		case C_STARTTLS:
			start_tls_when_idle(s);
			break;
		case C_WAIT:
		case C_HANDSHAKE:
		case C_PROXY_HDR:
		case C_DONE:
			break;
		}
	}
	if (!s->client_eof || s->closing)
		return;
	/* The client has sent all it will: finish what it asked for, then close. */
	switch (s->cstate) {
	case C_DATA:
		session_end(s, "client_closed_in_data", 0);
		break;
	case C_CMD:
	case C_SKIP_LINE:
	case C_SKIP_BYTES:
		if (s->qlen == 0)
			session_end(s, "client_closed", 1);	/* deliver what is queued */
		break;
	case C_WAIT:
	case C_DONE:
		break;	/* a reply is coming; relay_backend_input() calls us again */
	case C_PROXY_HDR:
	default:
		session_end(s, "client_closed", 0);
	}
}

/* --- backend replies --- */

static void
relay_reply(struct session *s, const char *p, size_t n)
{
	session_to_client(s, p, n);
}

static void
log_message(struct session *s, const char *p, size_t n)
{
	char from[300], reply[300];
	size_t l = 0;

	while (l < n && p[l] != '\r' && p[l] != '\n')
		l++;
	log_event(LOG_INFO, "message", "sid=%016llx from=%s rcpts=%u size=%llu reply=%s", SID(s),
	    log_quote(from, sizeof(from), s->mail_from, strlen(s->mail_from)), s->rcpts,
	    (unsigned long long)s->msg_size, log_quote(reply, sizeof(reply), p, l));
}

/* The reply to EHLO: rewritten, or answered from what we learned before TLS. */
static void
ehlo_reply(struct session *s, unsigned kind, int code, const char *p, size_t n)
{
	struct ehlo_opts opts = { .add_starttls = 0, .hide = hidden_caps };
	struct buf out = { 0 };
	int post_tls = (kind & PF_POST_TLS) != 0;

	if (code / 100 != 2 && post_tls) {
		/* Some MTAs (OpenSMTPD) refuse a second EHLO; the client still needs one. */
		log_event(LOG_INFO, "ehlo_fallback", "sid=%016llx backend_code=%d", SID(s), code);
		if ((kind & ~PF_POST_TLS) == P_EHLO && s->caps != NULL) {
			relay_reply(s, s->caps, s->capslen);
		} else {
			char line[300];
			int l = snprintf(line, sizeof(line), "250 %s\r\n", s->lc->hostname);
			relay_reply(s, line, (size_t)l);
		}
		return;
	}
	if ((kind & ~PF_POST_TLS) == P_HELO || code != 250) {
		relay_reply(s, p, n);
		return;
	}
	opts.add_starttls = s->lc->tls == TLS_MODE_STARTTLS && s->tls.ssl == NULL;
	if (s->tls.ssl == NULL && s->lc->auth_before_tls == AUTH_HIDE)
		opts.hide = hidden_caps_before_tls;
	if (ehlo_rewrite(p, n, &opts, &out) != 0) {
		buf_free(&out);
		relay_reply(s, "451 4.5.0 Backend sent a malformed EHLO reply\r\n", 47);
		return;
	}
	relay_reply(s, buf_head(&out), buf_pending(&out));
	if (opts.add_starttls) {
		/* Keep the capabilities for the post-TLS EHLO, without STARTTLS. */
		opts.add_starttls = 0;
		opts.hide = hidden_caps;
		buf_clear(&out);
		if (ehlo_rewrite(p, n, &opts, &out) == 0 && (s->caps = realloc(s->caps, buf_pending(&out))) != NULL) {
			memcpy(s->caps, buf_head(&out), buf_pending(&out));
			s->capslen = buf_pending(&out);
		}
	}
	buf_free(&out);
}

/* One complete reply p[0..n) with the given code. */
static void
handle_reply(struct session *s, int code, const char *p, size_t n)
{
	unsigned kind;

	if (s->qlen == 0) {
		log_event(LOG_WARN, "unsolicited_reply", "sid=%016llx code=%d", SID(s), code);
		relay_reply(s, p, n);
		if (code == 421)
			session_end(s, "backend_421", 1);
		return;
	}
	kind = queue_head(s);
	if (kind != P_AUTH || code != 334)
		queue_pop(s);
	switch (kind & ~PF_POST_TLS) {
	case P_GREETING:
		if (code == 220 && s->lc->backend_identity == IDENTITY_XCLIENT) {
			/* Tell the backend who the client is; its next 220 is the greeting. */
			if (identity_send_xclient(s) == 0)
				queue_push(s, P_XCLIENT);
			break;
		}
		relay_reply(s, p, n);
		s->greeted = 1;
		break;
	case P_XCLIENT:
		if (code != 220) {
			/* Never let the client on as 127.0.0.1: that is what XCLIENT is for. */
			log_event(LOG_ERROR, "xclient_refused", "sid=%016llx code=%d hint=\"allow us in the backend's "
			    "smtpd_authorized_xclient_hosts\"", SID(s), code);
			close_with_421(s, "backend_refused_xclient", "4.3.0", "Service not available");
			flush_locals(s);
			return;
		}
		relay_reply(s, p, n);
		s->greeted = 1;
		break;
	case P_EHLO:
	case P_HELO:
		ehlo_reply(s, kind, code, p, n);
		break;
	case P_RCPT:
		if (code / 100 == 2)
			s->rcpts++;
		relay_reply(s, p, n);
		break;
	case P_DATA:
		if (code == 354 && s->cstate != C_WAIT) {
			/* Only the DATA we hold input for may start a message. */
			log_event(LOG_WARN, "backend_protocol_error", "sid=%016llx reason=unexpected_354 state=%s",
			    SID(s), relay_strstate(s->cstate));
			close_with_421(s, "backend_protocol_error", "4.5.0", "Backend protocol error");
			flush_locals(s);
			return;
		}
		relay_reply(s, p, n);
		if (code == 354) {
			s->cstate = C_DATA;
			data_filter_init(&s->df, s->lc->max_data_line_length);
			s->msg_size = 0;
			if (s->lc->add_received && identity_send_received(s) != 0)
				log_event(LOG_WARN, "received_header", "sid=%016llx error=\"cannot format\"", SID(s));
		} else {
			s->cstate = C_CMD;
		}
		break;
	case P_DATA_END:
		relay_reply(s, p, n);
		log_message(s, p, n);
		reset_transaction(s);
		break;
	case P_AUTH:
		relay_reply(s, p, n);
		if (code == 235)
			s->authenticated = 1;
		/* The AUTH entry heads the queue, so we are waiting for it alone. */
		if (s->cstate == C_SKIP_LINE)
			s->after_skip = code == 334 ? C_AUTH : C_CMD;
		else if (s->cstate == C_WAIT || s->cstate == C_AUTH)
			s->cstate = code == 334 ? C_AUTH : C_CMD;
		break;
	case P_RSET_INTERNAL:
		if (code / 100 != 2)
			log_event(LOG_WARN, "backend_rset_failed", "sid=%016llx code=%d", SID(s), code);
		if (code == 421)
			relay_reply(s, p, n);
		break;
	case P_QUIT:
		relay_reply(s, p, n);
		session_end(s, "quit", 1);
		return;
	default:
		relay_reply(s, p, n);
	}
	if (code == 421 && !s->closing) {
		session_end(s, "backend_421", 1);
		return;
	}
	flush_locals(s);
}

void
relay_backend_input(struct session *s)
{
	size_t maxlen = s->lc->max_reply_length;
	long n;
	int code = 0;

	while (!s->closing && buf_pending(&s->rin) > 0) {
		n = smtp_reply_len(buf_head(&s->rin), buf_pending(&s->rin), maxlen, &code);
		if (n == 0 && buf_pending(&s->rin) <= maxlen)
			break;
		if (n <= 0 || (size_t)n > maxlen) {
			log_event(LOG_WARN, "backend_protocol_error", "sid=%016llx state=%s", SID(s),
			    relay_strstate(s->cstate));
			if (s->cstate != C_DATA) {
				/* Out of turn on purpose: no reply will come for what is queued. */
				char line[300];
				int l = snprintf(line, sizeof(line),
				    "421 4.5.0 %s Backend protocol error, closing connection\r\n", s->lc->hostname);
				session_to_client(s, line, (size_t)l);
			}
			session_end(s, "backend_protocol_error", 1);
			return;
		}
		handle_reply(s, code, buf_head(&s->rin), (size_t)n);
		buf_consume(&s->rin, (size_t)n);
	}
	if (s->closing)
		return;
	buf_release(&s->rin);
	session_arm_timer(s);
	session_client_input(s);	/* input held for a reply may proceed now */
}

/* --- lifecycle --- */

void
relay_init(struct session *s)
{
	s->cstate = C_CMD;
	queue_push(s, P_GREETING);
}

void
relay_tls_ready(struct session *s)
{
	const SSL_CIPHER *cipher = SSL_get_current_cipher(s->tls.ssl);
	const char *sni = SSL_get_servername(s->tls.ssl, TLSEXT_NAMETYPE_host_name);
	char snibuf[300], certinfo[600];

	tls_peer_cert_info(s->tls.ssl, certinfo, sizeof(certinfo));
	log_event(LOG_INFO, "tls", "sid=%016llx version=%s cipher=%s sni=%s resumed=%s %s", SID(s),
	    SSL_get_version(s->tls.ssl), cipher ? SSL_CIPHER_get_name(cipher) : "none",
	    sni ? log_quote(snibuf, sizeof(snibuf), sni, strlen(sni)) : "-",
	    SSL_session_reused(s->tls.ssl) ? "yes" : "no", certinfo);
	s->cstate = C_CMD;
	if (s->lc->tls == TLS_MODE_STARTTLS) {
		/* Nothing from before TLS may survive: the client must EHLO again,
		 * and the backend forgets any transaction. */
		s->need_ehlo = 1;
		reset_transaction(s);
		if (session_to_backend(s, "RSET\r\n", 6) == 0)
			queue_push(s, P_RSET_INTERNAL);
	}
	session_arm_timer(s);
	session_flow(s);
}

void
relay_free(struct session *s)
{
	buf_free(&s->scratch);
	buf_free(&s->locals);
	free(s->caps);
	s->caps = NULL;
}
