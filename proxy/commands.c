/* commands.c - the command table; see commands.h. */
#include "commands.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ehlo.h"
#include "log.h"
#include "relay_out.h"
#include "smtp.h"

#define SID(r) ((unsigned long long)(r)->id)

typedef void cmd_fn(struct relay *r, const struct smtp_cmd *c, const char *line, size_t len);

/*
 * EHLO toward a backend that knows only HELO: before TLS it gets HELO
 * (whose 250 we turn into our EHLO reply); after TLS it already got its
 * RSET, so the client's EHLO is answered here.
 */
static void
ehlo_for_helo_backend(struct relay *r, unsigned flags)
{
	struct buf out = { 0 };
	char line[300];
	int l;

	if (!(flags & PF_POST_TLS)) {
		l = snprintf(line, sizeof(line), "HELO %s", r->helo != NULL ? r->helo : r->lc->hostname);
		relay_forward(r, line, (size_t)l < sizeof(line) ? (size_t)l : sizeof(line) - 1, P_HELO_FOR_EHLO);
		return;
	}
	if (ehlo_emulate(r->lc->hostname, 0, &out) == 0 && buf_pending(&out) > 2)
		relay_local(r, "%.*s", (int)buf_pending(&out) - 2, buf_head(&out));	/* relay_local adds the CRLF */
	buf_free(&out);
}

static void
cmd_ehlo(struct relay *r, const struct smtp_cmd *c, const char *line, size_t len)
{
	unsigned flags = r->need_ehlo ? PF_POST_TLS : 0;

	relay_keep(&r->helo, c->args, c->argslen);
	r->esmtp = c->verb == SMTP_EHLO;
	r->need_ehlo = 0;
	relay_reset_transaction(r);
	if (c->verb == SMTP_EHLO && r->backend_helo_only) {
		ehlo_for_helo_backend(r, flags);
		return;
	}
	relay_forward(r, line, len, (c->verb == SMTP_EHLO ? P_EHLO : P_HELO) | flags);
}

static void
cmd_mail(struct relay *r, const struct smtp_cmd *c, const char *line, size_t len)
{
	const char *a = c->args;
	size_t n = 0, alen = c->argslen;

	/* Log just the reverse-path: "FROM:<a@b> SIZE=1" -> "<a@b>". */
	if (alen >= 5 && strncasecmp(a, "FROM:", 5) == 0) {
		a += 5;
		alen -= 5;
	}
	while (n < alen && a[n] != ' ')
		n++;
	relay_keep(&r->mail_from, a, n);
	r->rcpts = 0;
	relay_forward(r, line, len, P_MAIL);
}

static void
cmd_rcpt(struct relay *r, const struct smtp_cmd *c, const char *line, size_t len)
{
	(void)c;
	relay_forward(r, line, len, P_RCPT);
}

static void
cmd_rset(struct relay *r, const struct smtp_cmd *c, const char *line, size_t len)
{
	(void)c;
	relay_reset_transaction(r);
	relay_forward(r, line, len, P_OTHER);
}

/* DATA and AUTH: hold further input until the backend's reply says what it is. */
static void
cmd_data(struct relay *r, const struct smtp_cmd *c, const char *line, size_t len)
{
	relay_forward(r, line, len, c->verb == SMTP_DATA ? P_DATA : P_AUTH);
	r->state = R_WAIT;
}

static void
cmd_quit(struct relay *r, const struct smtp_cmd *c, const char *line, size_t len)
{
	(void)c;
	relay_forward(r, line, len, P_QUIT);
	r->state = R_DONE;
}

static void
cmd_starttls(struct relay *r, const struct smtp_cmd *c, const char *line, size_t len)
{
	(void)line;
	(void)len;
	if (r->tls) {
		relay_refuse(r, "503 5.5.1 TLS already active");
		return;
	}
	if (r->lc->tls == TLS_MODE_NONE) {
		relay_refuse(r, "502 5.5.1 STARTTLS not offered here");
		return;
	}
	if (c->argslen > 0) {
		relay_refuse(r, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	/* Nothing more is read as plaintext: relay.c switches once earlier replies are out. */
	r->state = R_STARTTLS;
}

/* BDAT is not advertised; its chunk bytes are discarded, never parsed. */
static void
cmd_bdat(struct relay *r, const struct smtp_cmd *c, const char *line, size_t len)
{
	unsigned long long n = 0;
	size_t i;

	(void)line;
	(void)len;
	for (i = 0; i < c->argslen && c->args[i] >= '0' && c->args[i] <= '9' && n < (1ULL << 40); i++)
		n = n * 10 + (unsigned)(c->args[i] - '0');
	if (i == 0 || (i < c->argslen && c->args[i] != ' ') || n >= (1ULL << 40)) {
		/* We cannot know where the chunk ends: the only safe thing is to stop. */
		relay_close(r, "bdat_syntax_error", "4.5.4", "BDAT syntax error, closing connection");
		return;
	}
	relay_note(r, RN_FORBIDDEN_COMMAND, 0);
	relay_refuse(r, "502 5.5.1 BDAT not supported, use DATA");
	if (r->state == R_DONE)
		return;	/* that was the last error allowed: nothing more is read */
	r->skip_bytes = n;
	r->state = R_SKIP_BYTES;
}

static void
cmd_proxy_only(struct relay *r, const struct smtp_cmd *c, const char *line, size_t len)
{
	(void)line;
	(void)len;
	log_event(LOG_WARN, "refused", "sid=%016llx command=%s reason=proxy_only_command", SID(r),
	    smtp_verb_name(c->verb));
	relay_note(r, RN_FORBIDDEN_COMMAND, 0);
	relay_refuse(r, "550 5.7.1 %s is not allowed through this proxy", smtp_verb_name(c->verb));
}

/* Known verbs without special handling: VRFY, EXPN, HELP, ETRN, NOOP. */
static void
cmd_forward(struct relay *r, const struct smtp_cmd *c, const char *line, size_t len)
{
	(void)c;
	relay_forward(r, line, len, P_OTHER);
}

/* Anything else never reaches the legacy backend: only an allowlist keeps unknown extensions away. */
static void
cmd_unknown(struct relay *r, const struct smtp_cmd *c, const char *line, size_t len)
{
	(void)c;
	(void)line;
	(void)len;
	relay_note(r, RN_FORBIDDEN_COMMAND, 0);
	relay_refuse(r, "500 5.5.1 Command unrecognized");
}

/* Every verb starttlsd lets through, with its action; the rest is refused. */
static const struct {
	enum smtp_verb verb;
	cmd_fn *action;
	int before_ehlo;	/* allowed after STARTTLS before the new EHLO */
	int before_tls;		/* allowed before STARTTLS with require_tls (RFC 3207 4) */
} commands[] = {
	{ SMTP_EHLO, cmd_ehlo, 1, 1 },
	{ SMTP_HELO, cmd_ehlo, 1, 1 },
	{ SMTP_QUIT, cmd_quit, 1, 1 },
	{ SMTP_MAIL, cmd_mail, 0, 0 },
	{ SMTP_RCPT, cmd_rcpt, 0, 0 },
	{ SMTP_RSET, cmd_rset, 0, 1 },
	{ SMTP_DATA, cmd_data, 0, 0 },
	{ SMTP_AUTH, cmd_data, 0, 0 },
	{ SMTP_STARTTLS, cmd_starttls, 0, 1 },
	{ SMTP_BDAT, cmd_bdat, 0, 0 },
	{ SMTP_XCLIENT, cmd_proxy_only, 0, 0 },
	{ SMTP_XFORWARD, cmd_proxy_only, 0, 0 },
	{ SMTP_PROXY, cmd_proxy_only, 0, 0 },
	{ SMTP_NOOP, cmd_forward, 0, 1 },
	{ SMTP_VRFY, cmd_forward, 0, 0 },
	{ SMTP_EXPN, cmd_forward, 0, 0 },
	{ SMTP_HELP, cmd_forward, 0, 0 },
	{ SMTP_ETRN, cmd_forward, 0, 0 },
	{ SMTP_OTHER, cmd_unknown, 0, 0 },
};

/* After a refused message the backend connection is gone: only QUIT gets a friendly answer. */
static void
after_backend_gone(struct relay *r, const struct smtp_cmd *c)
{
	if (c->verb == SMTP_QUIT) {
		relay_local(r, "221 2.0.0 %s Bye", r->lc->hostname);
		r->state = R_DONE;
		if (r->q.len == 0)
			relay_end(r, "quit", 1);
		return;
	}
	relay_close(r, "after_rejected_message", "4.3.0", "Connection closed after a rejected message");
}

void
commands_handle(struct relay *r, const char *line, size_t len)
{
	struct smtp_cmd c;
	size_t i;

	if (smtp_line_has_ctl(line, len)) {
		relay_refuse(r, "500 5.5.2 Invalid character in command");
		return;
	}
	if (smtp_cmd_parse(line, len, &c) != 0) {
		relay_refuse(r, "500 5.5.2 Empty command");
		return;
	}
	for (i = 0; commands[i].verb != c.verb && commands[i].verb != SMTP_OTHER; i++)
		;
	if (r->backend_gone) {
		after_backend_gone(r, &c);
		return;
	}
	if (r->need_ehlo && !commands[i].before_ehlo) {
		relay_refuse(r, "503 5.5.1 Send EHLO or HELO first after STARTTLS");
		return;
	}
	if (!r->tls && r->lc->require_tls && !commands[i].before_tls) {
		relay_note(r, RN_REQUIRE_TLS, 0);
		relay_refuse(r, "530 5.7.0 Must issue a STARTTLS command first");
		return;
	}
	if (c.verb == SMTP_AUTH && r->lc->backend_auth != NULL) {
		relay_refuse(r, "503 5.5.1 Already authenticated");	/* starttlsd authenticated for the sender */
		return;
	}
	if (c.verb == SMTP_AUTH && !r->tls && r->lc->auth_before_tls == AUTH_HIDE) {
		relay_note(r, RN_AUTH_BEFORE_TLS, 0);
		relay_refuse(r, "538 5.7.11 Encryption required for requested authentication mechanism");
		return;
	}
	if (log_enabled(LOG_DEBUG))
		log_event(LOG_DEBUG, "command", "sid=%016llx verb=%s", SID(r), smtp_verb_name(c.verb));
	commands[i].action(r, &c, line, len);
}
