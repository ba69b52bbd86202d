/*
 * fuzz_session.c - libFuzzer driver for the whole SMTP session: the real
 * relay (proxy/relay.c and its parts) over a fake session, fed arbitrary
 * interleavings of client bytes, backend replies, the TLS handshake
 * completing, EOFs, timeouts, a client that stops and starts reading, and
 * shutdown.
 *
 * Input: byte 0 picks the listener's settings (xclient, require_tls,
 * bare_newline = reject, add_received, auth_before_tls, implicit TLS, small
 * line limits, max_errors; xclient with implicit TLS picks an outbound
 * listener instead: tls = none, backend_tls = starttls or implicit, with or
 * without backend_auth); then a list of events, each an opcode byte and
 * its operands (see step()). Client bytes are raw, or canned command lines
 * (so deep states are reached quickly). The backend is a model MTA: it
 * parses what the relay sends and answers the oldest command it owes, with
 * a code the input chooses and a unique tag "tN", or (raw) any bytes.
 *
 * Checked after every step (abort on failure):
 *   - nothing the client sent in plaintext after its STARTTLS line reaches
 *     the backend: the relay clears its input when it switches, and the
 *     backend stream does not grow until the handshake is done;
 *   - the backend stream is CRLF-only and NUL-free, and an end of data
 *     ("\r\n.\r\n" in DATA) appears only in a step that consumed a client
 *     "\r\n.\r\n"; nothing follows DATA before the backend's 354; a text
 *     line longer than max_data_line_length never ends as a message;
 *   - toward a backend that did not announce PIPELINING, at most one
 *     command is outstanding;
 *   - the client gets well-formed replies; backend replies reach it in the
 *     order of their tags, each once, and never one nobody asked for;
 *   - the bytes queued for the client, the relay's queue and the client
 *     input stay within their bounds;
 *   - outbound: until TLS toward the upstream is up, the upstream gets only
 *     our EHLO and STARTTLS (nothing at all with implicit TLS), never a byte
 *     of the sender's; until the preamble is over, the sender gets nothing
 *     but a closing 421.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz_check.h"
#include "log.h"
#include "relay.h"
#include "smtp.h"

#define CLIENT_HIGH 4096		/* the fake client queue is "full" beyond this */
#define CLIENT_IN_MAX (64 * 1024)	/* what a conn holds unconsumed at most */
#define MAX_OUTSTANDING 512

/* The model MTA behind the relay. */
enum cmd { C_GREETING, C_EHLO, C_HELO, C_DATA, C_DATA_END, C_AUTH, C_XCLIENT, C_QUIT, C_RSET, C_STARTTLS, C_OTHER };

struct backend {
	size_t pos;			/* parsed up to here in f->to_backend */
	int in_data;			/* after our 354: message content */
	int auth_response;		/* after our 334: the next line answers it */
	size_t data_line;		/* length of the current content line */
	int line_too_long;		/* the current message had a line over the limit */
	enum cmd owed[MAX_OUTSTANDING];	/* commands received, not yet answered */
	size_t nowed;
	int pipelining;			/* our last EHLO reply announced PIPELINING */
	unsigned tag;			/* next reply tag */
	unsigned eod;			/* ends of data seen */
	int raw;			/* raw bytes were sent: reply checks are off */
};

struct fake {
	struct relay r;
	const struct listener_conf *lc;
	struct buf cin;			/* client plaintext the relay has not consumed */
	struct buf bin;			/* backend bytes the relay has not consumed */
	struct buf to_backend;		/* everything sent to the backend */
	struct buf to_client;		/* everything sent to the client */
	size_t client_pos;		/* parsed up to here in to_client */
	size_t client_queued;		/* not yet read by the client */
	unsigned next_tag;		/* the client must see tags in this order */
	unsigned asked[4096 / 8];	/* bit per tag: it answered a command */
	int tls_requested, tls_up, ended, dropped, client_eof;
	int outbound;			/* backend_tls is set: the preamble toward a TLS upstream runs */
	int up_requested, up_up;	/* TLS toward the upstream asked for, and up */
	unsigned notes[RN_COUNT];	/* what the relay counted */
	unsigned backend_eods;		/* ends of data the backend got */
	int wrote_in_handshake;		/* the relay wrote to the client during the handshake */
	size_t backend_at_starttls;	/* to_backend's length when TLS was asked for */
	char tail[4];			/* the last consumed client bytes (end-of-data context) */
	size_t taillen;
	struct backend b;
};

/* FUZZ_TRACE=1 in the environment: print each event and the streams (to debug a crash input). */
static int trace;

/* --- the fake session (struct relay_io) --- */

static void
io_to_client(void *ctx, const char *p, size_t n)
{
	struct fake *f = ctx;

	FUZZ_CHECK(!f->ended);
	/* Outbound: the sender hears nothing before the preamble is over, but a closing 421. */
	if (f->outbound && f->r.up != UP_DONE)
		FUZZ_CHECK(n >= 3 && memcmp(p, "421", 3) == 0);
	/* Between the 220 and the handshake only a last 421 may be queued (it waits for TLS, or is dropped). */
	if (f->tls_requested && !f->tls_up)
		f->wrote_in_handshake = 1;
	FUZZ_CHECK(buf_append(&f->to_client, p, n) == 0);
	f->client_queued += n;
}

/* Is b made of our preamble's plaintext lines only (the last one maybe still partial)? */
static int
only_preamble(const struct buf *b)
{
	static const char *const lines[] = { "EHLO proxy.example\r\n", "STARTTLS\r\n" };
	const char *p = buf_head(b);
	size_t left = buf_pending(b), i, l;

	while (left > 0) {
		for (i = 0; i < 2; i++) {
			l = strlen(lines[i]);
			if (memcmp(p, lines[i], left < l ? left : l) == 0)
				break;
		}
		if (i == 2)
			return 0;
		if (left <= l)
			return 1;
		p += l;
		left -= l;
	}
	return 1;
}

static void
io_to_backend(void *ctx, const char *p, size_t n)
{
	struct fake *f = ctx;

	FUZZ_CHECK(!f->ended);
	FUZZ_CHECK(!f->dropped);
	FUZZ_CHECK(buf_append(&f->to_backend, p, n) == 0);
	/* Outbound: before TLS is up, only our EHLO and STARTTLS, in plaintext; with implicit TLS, nothing. */
	if (f->outbound && !f->up_up)
		FUZZ_CHECK(f->lc->backend_tls == BACKEND_TLS_STARTTLS && only_preamble(&f->to_backend));
}

static int
io_client_full(void *ctx)
{
	struct fake *f = ctx;

	return f->client_queued >= CLIENT_HIGH;
}

static void
io_start_tls(void *ctx)
{
	struct fake *f = ctx;

	FUZZ_CHECK(!f->tls_requested);
	/* CVE-2011-0411: what followed STARTTLS in plaintext is gone. */
	FUZZ_CHECK(buf_pending(&f->cin) == 0);
	f->tls_requested = 1;
	f->backend_at_starttls = buf_pending(&f->to_backend);
}

static void
io_drop_backend(void *ctx)
{
	struct fake *f = ctx;

	f->dropped = 1;
}

static void
io_deadline(void *ctx, uint64_t ms)
{
	FUZZ_CHECK(ms > 0);
	(void)ctx;
}

static void
io_end(void *ctx, const char *reason, int graceful)
{
	struct fake *f = ctx;

	FUZZ_CHECK(reason != NULL && *reason != '\0');
	(void)graceful;
	f->ended = 1;
}

/* Counted outcomes: a message is accepted only after the backend got its end of data. */
static void
io_note(void *ctx, enum relay_note what, uint64_t n)
{
	struct fake *f = ctx;

	FUZZ_CHECK(what < RN_COUNT);
	(void)n;
	f->notes[what]++;
	FUZZ_CHECK(f->notes[RN_MESSAGE_ACCEPTED] <= f->backend_eods);
}

/* Outbound: switch the upstream to TLS (once; an event completes it). */
static void
io_backend_start_tls(void *ctx)
{
	struct fake *f = ctx;

	FUZZ_CHECK(f->outbound && !f->up_requested);
	f->up_requested = 1;
}

static const char *
io_backend_auth(void *ctx)
{
	struct fake *f = ctx;

	return f->lc->backend_auth != NULL ? "AHVzZXIAcGFzcw==" : NULL;
}

static const struct relay_io fake_io = {
	.to_client = io_to_client,
	.to_backend = io_to_backend,
	.client_full = io_client_full,
	.client_sent = NULL,
	.start_tls = io_start_tls,
	.drop_backend = io_drop_backend,
	.deadline = io_deadline,
	.end = io_end,
	.note = io_note,
	.backend_start_tls = io_backend_start_tls,
	.backend_auth = io_backend_auth,
};

/* --- the model backend --- */

static enum cmd
classify(const char *line, size_t n)
{
	static const struct {
		const char *verb;
		enum cmd c;
	} verbs[] = { { "EHLO", C_EHLO }, { "HELO", C_HELO }, { "DATA", C_DATA }, { "AUTH", C_AUTH },
		{ "XCLIENT", C_XCLIENT }, { "QUIT", C_QUIT }, { "RSET", C_RSET }, { "STARTTLS", C_STARTTLS } };
	size_t i, v = 0;

	while (v < n && line[v] != ' ')
		v++;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (smtp_word_eq(line, v, verbs[i].verb))
			return verbs[i].c;
	return C_OTHER;
}

static void
owe(struct fake *f, enum cmd c)
{
	FUZZ_CHECK(f->b.nowed < MAX_OUTSTANDING);
	f->b.owed[f->b.nowed++] = c;
	/* Toward a backend without PIPELINING, one command at a time (while
	 * the model knows which replies the relay got: not after raw bytes). */
	if (!f->b.pipelining && !f->b.raw)
		FUZZ_CHECK(f->b.nowed <= 1);
}

/* Our own Received: header (add_received) is not the client's text: a long HELO makes a long line. */
static int
received_line(const struct fake *f, const char *p, size_t n)
{
	return f->lc->add_received && ((n > 10 && memcmp(p, "Received: ", 10) == 0) || p[0] == '\t');
}

/* Parse what the relay sent since last time; returns the ends of data seen. */
static unsigned
backend_parse(struct fake *f)
{
	const char *s = buf_head(&f->to_backend);
	size_t len = buf_pending(&f->to_backend), i;
	unsigned eods = 0;

	for (i = f->b.pos; i < len; i++) {
		FUZZ_CHECK(s[i] != '\0');
		FUZZ_CHECK(s[i] != '\n' || (i > 0 && s[i - 1] == '\r'));
		FUZZ_CHECK(s[i] != '\r' || i + 1 >= len || s[i + 1] == '\n');
	}
	while (f->b.pos < len) {
		const char *p = s + f->b.pos, *lf = memchr(p, '\n', len - f->b.pos);
		size_t n;
		if (lf == NULL)
			break;
		n = (size_t)(lf - p) + 1;	/* the line with its CRLF */
		/* Nothing may follow DATA before its answer (while the model knows
		 * which replies the relay got: raw backend bytes may have answered it). */
		FUZZ_CHECK(f->b.raw || f->b.nowed == 0 || f->b.owed[f->b.nowed - 1] != C_DATA || f->b.in_data);
		if (f->b.in_data) {
			if (n == 3 && p[0] == '.') {
				FUZZ_CHECK(!f->b.line_too_long);	/* such a message never completes */
				f->b.in_data = 0;
				eods++;
				f->backend_eods++;
				owe(f, C_DATA_END);
			} else if (n > f->lc->max_data_line_length && !received_line(f, p, n)) {
				f->b.line_too_long = 1;
				if (trace)
					fprintf(stderr, "model: line of %zu bytes in DATA: %.*s\n", n, (int)n, p);
			}
		} else if (f->b.auth_response) {
			f->b.auth_response = 0;	/* answers our 334: the AUTH is still owed */
		} else {
			FUZZ_CHECK(n <= f->lc->max_line_length || (n >= 2 && p[0] == '*'));
			owe(f, classify(p, n - 2));
		}
		f->b.pos += n;
	}
	return eods;
}

/* The backend's answer to the oldest command it owes; code class from the input. */
static void
backend_reply(struct fake *f, uint8_t pick)
{
	char text[256];
	enum cmd c;
	int n, code;
	unsigned tag = f->b.tag++;

	if (f->b.nowed == 0)
		return;
	/* Implicit TLS toward the upstream: it says nothing before the handshake. */
	if (f->outbound && f->lc->backend_tls == BACKEND_TLS_IMPLICIT && !f->up_up)
		return;
	c = f->b.owed[0];
	switch (c) {
	case C_STARTTLS:
		code = (pick & 3) == 3 ? 454 : 220;
		break;
	case C_GREETING:
	case C_XCLIENT:
		code = (pick & 3) == 3 ? 554 : (pick & 7) == 2 ? 250 : 220;
		break;
	case C_DATA:
		code = pick & 1 ? 354 : 554;
		break;
	case C_AUTH:
		code = (pick & 3) == 0 ? 535 : (pick & 3) == 1 ? 235 : 334;
		break;
	case C_QUIT:
		code = 221;
		break;
	default:
		code = (pick & 7) == 0 ? 450 : (pick & 7) == 1 ? 550 : (pick & 7) == 2 ? 421 : 250;
	}
	if (c == C_EHLO && code == 250) {
		f->b.pipelining = (pick & 0x10) != 0;
		/* "x": a post-TLS EHLO the backend refuses is answered from this reply again. */
		n = snprintf(text, sizeof(text), "250-backend x%u\r\n%s250-SIZE 1000\r\n250 8BITMIME\r\n", tag,
		    f->b.pipelining ? "250-PIPELINING\r\n250-STARTTLS\r\n250-AUTH PLAIN\r\n" : "");
	} else {
		if (c == C_HELO)
			f->b.pipelining = 0;
		n = snprintf(text, sizeof(text), "%d reply t%u\r\n", code, tag);
	}
	if (tag < sizeof(f->asked) * 8)
		f->asked[tag / 8] |= 1u << (tag % 8);
	if (code == 354)
		f->b.in_data = 1, f->b.line_too_long = 0;
	f->b.auth_response = code == 334;
	if (code != 334) {
		memmove(f->b.owed, f->b.owed + 1, (f->b.nowed - 1) * sizeof(f->b.owed[0]));
		f->b.nowed--;
	}
	FUZZ_CHECK(buf_append(&f->bin, text, (size_t)n) == 0);
}

/* A reply nobody asked for: it must never reach the client. */
static void
backend_unsolicited(struct fake *f)
{
	char text[64];
	unsigned tag = f->b.tag++;
	int n = snprintf(text, sizeof(text), "250 unasked t%u\r\n", tag);

	if (f->b.nowed == 0)
		FUZZ_CHECK(buf_append(&f->bin, text, (size_t)n) == 0);
}

/* --- the client's view --- */

/* Parse complete reply lines the client got; check tags. */
static void
client_check(struct fake *f)
{
	const char *s = buf_head(&f->to_client);
	size_t len = buf_pending(&f->to_client);
	struct smtp_reply_line rl;

	while (f->client_pos < len) {
		const char *p = s + f->client_pos, *lf = memchr(p, '\n', len - f->client_pos), *t;
		size_t n;
		if (lf == NULL)
			break;
		n = (size_t)(lf - p);
		if (!f->b.raw) {
			FUZZ_CHECK(n >= 1 && p[n - 1] == '\r');
			FUZZ_CHECK(smtp_reply_parse(p, n - 1, &rl) == 0);
			for (t = p; t + 2 < p + n && (t = memchr(t, ' ', (size_t)(p + n - t))) != NULL; t++) {
				unsigned tag;
				if (t[1] != 't' || sscanf(t + 2, "%u", &tag) != 1)
					continue;
				FUZZ_CHECK(tag < sizeof(f->asked) * 8 && (f->asked[tag / 8] & (1u << (tag % 8))));
				FUZZ_CHECK(tag >= f->next_tag);	/* in order, each once */
				f->next_tag = tag + 1;
			}
		}
		f->client_pos += n + 1;
	}
	/* Bounded: the relay stops taking commands at CLIENT_HIGH; one batch of
	 * backend replies and the queued local replies may follow. */
	FUZZ_CHECK(f->client_queued <= CLIENT_HIGH + 4096 + PENDING_MAX * PENDING_LOCAL_MAX + f->lc->max_reply_length);
	FUZZ_CHECK(f->r.q.len <= PENDING_MAX);
	FUZZ_CHECK(buf_pending(&f->r.q.locals) <= PENDING_MAX * (PENDING_LOCAL_MAX + 2));
	if (f->tls_requested && !f->tls_up)
		FUZZ_CHECK(buf_pending(&f->to_backend) == f->backend_at_starttls);
	FUZZ_CHECK(!f->wrote_in_handshake || f->ended);
}

/* "\r\n.\r\n" that end within the n bytes the relay consumed at p (with the tail before them). */
static unsigned
client_eods(struct fake *f, const char *p, size_t n)
{
	char w[5];
	unsigned count = 0;
	size_t i, k;

	for (i = 0; i < n; i++) {
		/* the five bytes ending at p[i] */
		for (k = 0; k < 5; k++) {
			size_t back = 4 - k;
			if (back <= i)
				w[k] = p[i - back];
			else if (back - i <= f->taillen)
				w[k] = f->tail[f->taillen - (back - i)];
			else
				w[k] = 0;
		}
		count += memcmp(w, "\r\n.\r\n", 5) == 0;
	}
	for (i = 0; i < n; i++) {
		if (f->taillen == sizeof(f->tail))
			memmove(f->tail, f->tail + 1, --f->taillen);
		f->tail[f->taillen++] = p[i];
	}
	return count;
}

/* Let the relay take client input; an end of data at the backend needs one from the client. */
static void
client_input(struct fake *f, int eof)
{
	size_t before = buf_pending(&f->cin), used;
	char *copy;
	unsigned backend_eods;

	if (f->ended || (f->tls_requested && !f->tls_up))
		return;
	copy = malloc(before ? before : 1);
	FUZZ_CHECK(copy != NULL);
	if (before)
		memcpy(copy, buf_head(&f->cin), before);
	if (eof || f->client_eof)
		relay_client_eof(&f->r, &f->cin);
	else
		relay_client_input(&f->r, &f->cin);
	used = before - buf_pending(&f->cin);
	if (f->tls_requested && !f->tls_up)
		used = before;	/* discarded at the switch: consumed without effect */
	backend_eods = backend_parse(f);
	FUZZ_CHECK(backend_eods <= client_eods(f, copy, used));
	free(copy);
	if (buf_pending(&f->cin) == 0)
		buf_release(&f->cin);
}

static void
backend_input(struct fake *f, int eof)
{
	if (f->ended)
		return;
	relay_backend_input(&f->r, &f->bin);
	if (eof && !f->ended)
		relay_backend_closed(&f->r);
	FUZZ_CHECK(backend_parse(f) == 0);	/* replies never make a message end */
	client_input(f, 0);			/* held input may go on, as the session does */
}

/* --- the events --- */

static const char *const canned[] = {
	"EHLO client.example\r\n", "HELO client.example\r\n", "MAIL FROM:<a@example.org>\r\n",
	"RCPT TO:<b@example.net>\r\n", "DATA\r\n", "STARTTLS\r\n", "AUTH PLAIN\r\n", "QUIT\r\n", "RSET\r\n",
	"NOOP\r\n", "BDAT 5\r\n", "BDAT x\r\n", "XCLIENT ADDR=1.2.3.4\r\n", "Subject: x\r\n\r\nbody\r\n",
	".\r\n", "\r\n.\r\n", "line\n.\nMAIL FROM:<s@x>\r\n", "a\r.\r\n", "..stuffed\r\n", "\r\n", "\n",
	"VRFY x\r\n", "AUTH LOGIN\r\n", "dXNlcg==\r\n", "*\r\n", "EHLO\t\r\n", "STARTTLS now\r\n",
};


static void
dump(const char *what, const struct buf *b)
{
	size_t i;

	fprintf(stderr, "  %s: ", what);
	for (i = 0; i < buf_pending(b); i++) {
		unsigned char c = (unsigned char)buf_head(b)[i];
		if (c == '\n')
			fputs("\\n\n    ", stderr);
		else if (c < 32 || c > 126)
			fprintf(stderr, "\\x%02x", c);
		else
			fputc(c, stderr);
	}
	fputc('\n', stderr);
}

/* One event (see step()); returns the input bytes it used. */
static size_t
step_(struct fake *f, const uint8_t *d, size_t n)
{
	uint8_t op = d[0], arg = n > 1 ? d[1] : 0;
	size_t len, avail = n > 2 ? n - 2 : 0;	/* operand bytes after op and arg */

	switch (op % 12) {
	case 0:	/* raw client bytes: arg of them */
	case 1:
		len = arg % 64 + 1;
		if (len > avail)
			len = avail;
		if (buf_pending(&f->cin) + len <= CLIENT_IN_MAX && (!f->tls_requested || f->tls_up) && !f->client_eof)
			FUZZ_CHECK(buf_append(&f->cin, d + 2, len) == 0);
		client_input(f, 0);
		return 2 + len;
	case 2:	/* a canned client line */
	case 3:
		if ((!f->tls_requested || f->tls_up) && !f->client_eof)
			FUZZ_CHECK(buf_puts(&f->cin, canned[arg % (sizeof(canned) / sizeof(canned[0]))]) == 0);
		client_input(f, 0);
		return 2;
	case 4:	/* the backend answers (unless the client's queue is full: the session stops reading it) */
	case 5:
	case 6:
		if (f->client_queued < CLIENT_HIGH && !f->dropped) {
			backend_reply(f, arg);
			backend_input(f, 0);
		}
		return 2;
	case 7:	/* the client reads everything: the relay may take more commands */
		f->client_queued = 0;
		client_input(f, 0);
		return 1;
	case 8:	/* the TLS handshake completes (the sender's, else the upstream's) */
		if (f->up_requested && !f->up_up && !f->ended && !(f->tls_requested && !f->tls_up)) {
			f->up_up = 1;
			relay_backend_tls_up(&f->r);
			backend_parse(f);
			client_input(f, 0);
		} else if (f->tls_requested && !f->tls_up && !f->ended) {
			f->tls_up = 1;
			relay_tls_up(&f->r, "TLSv1.3", "TLS_AES_128_GCM_SHA256");
			if (f->lc->tls == TLS_MODE_STARTTLS && !f->ended)
				FUZZ_CHECK(buf_pending(&f->to_backend) == f->backend_at_starttls + 6 &&
				    memcmp(buf_head(&f->to_backend) + f->backend_at_starttls, "RSET\r\n", 6) == 0);
			backend_parse(f);
			client_input(f, 0);
		}
		return 1;
	case 9:	/* EOF from a side, or a deadline */
		if (f->ended)
			return 2;
		if (arg % 4 == 0) {
			f->client_eof = 1;
			client_input(f, 1);
		}
		else if (arg % 4 == 1 && !f->dropped)
			backend_input(f, 1);
		else
			relay_timeout(&f->r, arg % 4 == 3);
		return 2;
	case 10: /* raw backend bytes, or a reply nobody asked for */
		if (f->dropped || f->ended)
			return 2;
		if (arg & 1) {
			backend_unsolicited(f);
		} else {
			len = arg % 48 + 1;
			if (len > avail)
				len = avail;
			FUZZ_CHECK(buf_append(&f->bin, d + 2, len) == 0);
			f->b.raw = 1;
			backend_input(f, 0);
			return 2 + len;
		}
		backend_input(f, 0);
		return 2;
	default: /* shutdown, or the upstream's handshake fails */
		if (!f->ended && (arg & 7) == 0)
			relay_shutdown(&f->r);
		else if (!f->ended && (arg & 7) == 1 && f->up_requested && !f->up_up)
			relay_backend_tls_failed(&f->r, "fuzzed handshake failure");
		return 2;
	}
}

/* One event; returns the input bytes it used. */
static size_t
step(struct fake *f, const uint8_t *d, size_t n)
{
	if (trace)
		fprintf(stderr, "event op=%u arg=%u state=%d queued=%zu owed=%zu relay_q=%u at_backend=%u\n",
		    d[0] % 12, n > 1 ? d[1] : 0, f->r.state, f->client_queued, f->b.nowed, f->r.q.len,
		    f->r.q.at_backend);
	return step_(f, d, n);
}

/* The listener for settings byte s (parsed once per value). */
static const struct listener_conf *
listener(uint8_t s)
{
	static struct config *cfgs[256];
	char text[1024], err[256];

	if (cfgs[s] == NULL && (s & 0x21) == 0x21) {	/* outbound: a plaintext sender, TLS toward the upstream */
		snprintf(text, sizeof(text),
		    "[listener f]\nlisten = 127.0.0.1:25\nbackend = 127.0.0.1:2525\nhostname = proxy.example\n"
		    "tls = none\nallow = 0.0.0.0/0\nbackend_tls = %s\nbackend_verify = no\n%sbare_newline = %s\n"
		    "add_received = %s\nmax_line_length = %s\nmax_data_line_length = %s\nmax_errors = %s\n",
		    s & 2 ? "implicit" : "starttls", s & 16 ? "backend_auth = /fuzz/relay.secret\n" : "",
		    s & 4 ? "reject" : "normalize", s & 8 ? "yes" : "no", s & 64 ? "64" : "512", s & 64 ? "80" : "1000",
		    s & 128 ? "3" : "0");
		cfgs[s] = config_parse_string(text, "fuzz.ini", err, sizeof(err));
		FUZZ_CHECK(cfgs[s] != NULL || (fprintf(stderr, "%s\n", err), 0));
	} else if (cfgs[s] == NULL) {
		snprintf(text, sizeof(text),
		    "[tls]\ncertificate = c\nkey = k\n[listener f]\nlisten = 127.0.0.1:25\nbackend = 127.0.0.1:2525\n"
		    "hostname = proxy.example\nbackend_identity = %s\nrequire_tls = %s\nbare_newline = %s\n"
		    "add_received = %s\nauth_before_tls = %s\ntls = %s\nmax_line_length = %s\n"
		    "max_data_line_length = %s\nmax_errors = %s\nmax_reply_length = %s\n",
		    s & 1 ? "xclient" : "none", s & 2 ? "yes" : "no", s & 4 ? "reject" : "normalize",
		    s & 8 ? "yes" : "no", s & 16 ? "allow" : "hide", s & 32 ? "implicit" : "starttls",
		    s & 64 ? "64" : "512", s & 64 ? "80" : "1000", s & 128 ? "3" : "0", s & 128 ? "512" : "64k");
		cfgs[s] = config_parse_string(text, "fuzz.ini", err, sizeof(err));
		FUZZ_CHECK(cfgs[s] != NULL);
	}
	return &cfgs[s]->listeners[0];
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fake f;
	struct identity who;
	size_t i;

	if (size < 1)
		return 0;
	log_set_level((enum log_level)-1);	/* below LOG_ERROR: silence */
	memset(&f, 0, sizeof(f));
	memset(&who, 0, sizeof(who));
	f.lc = listener(data[0]);
	f.outbound = f.lc->backend_tls != BACKEND_TLS_NONE;
	if (data[0] & 1) {	/* the client's address is known unless the settings byte's top bits say no */
		who.client.family = (data[0] & 0x60) == 0x60 ? 0 : 2;	/* AF_INET */
		who.client.addr[0] = 192, who.client.port = 4000;
	}
	f.b.owed[f.b.nowed++] = C_GREETING;
	relay_init(&f.r, f.lc, &fake_io, &f, 1, &who, "192.0.2.1:4000");
	if (f.outbound && f.lc->backend_tls == BACKEND_TLS_IMPLICIT)
		f.up_requested = 1;	/* the session starts the handshake once connected */
	if (f.lc->tls == TLS_MODE_IMPLICIT) {
		f.tls_requested = f.tls_up = 1;
		relay_tls_up(&f.r, "TLSv1.3", "TLS_AES_128_GCM_SHA256");
	}
	trace = getenv("FUZZ_TRACE") != NULL;
	for (i = 1; i < size && !f.ended;) {
		i += step(&f, data + i, size - i);
		if (trace) {
			dump("client got", &f.to_client);
			dump("backend got", &f.to_backend);
		}
		client_check(&f);
	}
	relay_free(&f.r);
	buf_free(&f.cin);
	buf_free(&f.bin);
	buf_free(&f.to_backend);
	buf_free(&f.to_client);
	return 0;
}
