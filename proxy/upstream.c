/* upstream.c - the preamble toward a TLS upstream; see upstream.h. */
#include "upstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ehlo.h"
#include "log.h"
#include "relay_out.h"

#define SID(r) ((unsigned long long)(r)->id)

static const char *const step_names[] = { "done", "greeting", "ehlo", "starttls", "handshake", "ehlo_tls", "auth" };

int
upstream_active(const struct relay *r)
{
	return r->up != UP_DONE;
}

/* The preamble failed: the sender gets 421 4.7.0 as its greeting, the log says why. */
static void
fail(struct relay *r, const char *reason, int code, const char *p, size_t n)
{
	char q[300];
	size_t l = 0;

	while (l < n && p[l] != '\r' && p[l] != '\n')
		l++;
	log_event(LOG_WARN, "upstream_error", "sid=%016llx step=%s reason=%s code=%d reply=%s", SID(r),
	    step_names[r->up], reason, code, log_quote(q, sizeof(q), p, l));
	r->up = UP_DONE;
	relay_close(r, reason, "4.7.0", "TLS to the relay not available, try again later");
}

/* Send one preamble command; its reply comes to upstream_reply(). */
static void
send_step(struct relay *r, enum upstream_step step, const char *line)
{
	r->up = step;
	relay_forward(r, line, strlen(line), P_UPSTREAM);
}

static void
send_ehlo(struct relay *r, enum upstream_step step)
{
	char line[300];

	snprintf(line, sizeof(line), "EHLO %s", r->lc->hostname);
	send_step(r, step, line);
}

/* The preamble is over: the sender gets the upstream's greeting and may talk. */
static void
done(struct relay *r)
{
	r->up = UP_DONE;
	relay_send_client(r, r->up_greeting, r->up_greeting_len);
	free(r->up_greeting);
	r->up_greeting = NULL;
}

void
upstream_greeting(struct relay *r, int code, const char *p, size_t n)
{
	if (code != 220) {
		fail(r, "upstream_not_ready", code, p, n);
		return;
	}
	if ((r->up_greeting = malloc(n)) == NULL) {
		relay_end(r, "out_of_memory", 0);
		return;
	}
	memcpy(r->up_greeting, p, n);
	r->up_greeting_len = n;
	/* Implicit TLS is up already (the session's handshake came before the greeting). */
	send_ehlo(r, r->lc->backend_tls == BACKEND_TLS_STARTTLS ? UP_EHLO : UP_EHLO_TLS);
}

/* The EHLO over TLS was answered: authenticate if configured, else the sender's turn. */
static void
after_ehlo_tls(struct relay *r, const char *p, size_t n)
{
	const char *auth = r->io->backend_auth != NULL ? r->io->backend_auth(r->ctx) : NULL;
	char line[1100];

	r->backend_pipelining = ehlo_has(p, n, "PIPELINING");
	r->backend_esmtp = 1;
	if (auth == NULL) {
		done(r);
		return;
	}
	if (!ehlo_has(p, n, "AUTH")) {
		fail(r, "upstream_offers_no_auth", 250, p, n);
		return;
	}
	snprintf(line, sizeof(line), "AUTH PLAIN %s", auth);
	send_step(r, UP_AUTH, line);
}

void
upstream_reply(struct relay *r, int code, const char *p, size_t n)
{
	switch (r->up) {
	case UP_EHLO:
		if (code != 250)
			fail(r, "upstream_refused_ehlo", code, p, n);
		else if (!ehlo_has(p, n, "STARTTLS"))
			fail(r, "upstream_offers_no_starttls", code, p, n);
		else
			send_step(r, UP_STARTTLS, "STARTTLS");
		break;
	case UP_STARTTLS:
		if (code != 220) {
			fail(r, "upstream_refused_starttls", code, p, n);
			break;
		}
		r->up = UP_HANDSHAKE;
		r->io->backend_start_tls(r->ctx);
		break;
	case UP_EHLO_TLS:
		if (code != 250)
			fail(r, "upstream_refused_ehlo", code, p, n);
		else
			after_ehlo_tls(r, p, n);
		break;
	case UP_AUTH:
		if (code != 235)
			fail(r, "upstream_auth_failed", code, p, n);
		else
			done(r);
		break;
	default:
		fail(r, "upstream_protocol_error", code, p, n);
	}
}

void
upstream_tls_up(struct relay *r)
{
	if (r->up == UP_HANDSHAKE)
		send_ehlo(r, UP_EHLO_TLS);
}

void
upstream_tls_failed(struct relay *r, const char *why)
{
	fail(r, "upstream_tls_failed", 0, why, strlen(why));
}
