/*
 * relay_state.h - the SMTP state of one proxied session, shared by the
 * files that make its SMTP decisions: relay.c (input), commands.c (the
 * command table), replies.c (the backend's replies) and relay_out.c (what
 * starttlsd says). Nothing here does I/O: the relay asks the layer below
 * through struct relay_io, so it runs the same over real sockets and in the
 * whole-session fuzzer.
 */
#ifndef STARTTLSD_RELAY_STATE_H
#define STARTTLSD_RELAY_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "dotstuff.h"
#include "identity.h"
#include "pending.h"

/* The longest part of a final reply kept for event=delivery_unconfirmed's reply=. */
#define RELAY_REPLY_LOG 200

/* What the client's next bytes are. */
enum relay_state {
	R_CMD,		/* command lines */
	R_SKIP_LINE,	/* the rest of an overlong line, discarded */
	R_SKIP_BYTES,	/* a refused BDAT chunk, discarded */
	R_WAIT,		/* held until the reply to DATA or AUTH says what follows */
	R_AUTH,		/* one AUTH response line (after a 334) */
	R_DATA,		/* message content, until CRLF.CRLF */
	R_STARTTLS,	/* STARTTLS accepted: waiting for earlier replies */
	R_TLS,		/* the TLS handshake runs below: no plaintext is read */
	R_DONE,		/* QUIT sent, or closing: input is ignored */
};

/* What happened, for counting (relay_io.note): messages and the policy rules that refused something. */
enum relay_note {
	RN_MESSAGE_ACCEPTED,	/* a 2xx to the final dot (n: the bytes sent) */
	RN_MESSAGE_REJECTED,	/* a 4xx/5xx to the final dot, the backend's or ours */
	RN_MESSAGE_ABORTED,	/* the session ended inside a message */
	RN_REQUIRE_TLS,		/* policy rules, each time one refuses something */
	RN_AUTH_BEFORE_TLS,
	RN_STARTTLS_INJECTION,
	RN_BARE_NEWLINE,
	RN_LINE_LENGTH,
	RN_MAX_ERRORS,
	RN_FORBIDDEN_COMMAND,
	RN_TIMEOUT,
	RN_COUNT
};

/* What the relay asks of the session below it. Every function gets ctx. */
struct relay_io {
	/* Queue bytes for the client (through TLS once it is up). */
	void (*to_client)(void *ctx, const char *p, size_t n);
	/* Queue bytes for the backend. */
	void (*to_backend)(void *ctx, const char *p, size_t n);
	/* Is the client's output queue above its high watermark? Then no more
	 * commands are taken until it drains (a client that does not read). */
	int (*client_full)(void *ctx);
	/* Has every byte for the client up to *mark left this host (written
	 * from our queue and sent by the kernel)? *mark 0: fix it now at
	 * everything written so far, if nothing is queued here (else 0 is
	 * returned and it stays 0). May be NULL: a reply counts as received
	 * once it is queued. */
	int (*client_sent)(void *ctx, uint64_t *mark);
	/* Bytes for the backend that never left this host yet, queued here
	 * or in the kernel (may be NULL: then all counts as sent). */
	size_t (*backend_unsent)(void *ctx);
	/* After what is queued for the client, switch its connection to TLS. */
	void (*start_tls)(void *ctx);
	/* Abort the backend connection now (TCP reset): a message cut short
	 * must never look complete to it. */
	void (*drop_backend)(void *ctx);
	/* Restart the inactivity deadline: it expires in ms unless progress
	 * is made (relay_timeout() is then called). */
	void (*deadline)(void *ctx, uint64_t ms);
	/* End the session: with graceful, queued output reaches the client first. */
	void (*end)(void *ctx, const char *reason, int graceful);
	/* Something to count happened (may be NULL). */
	void (*note)(void *ctx, enum relay_note what, uint64_t n);
	/* backend_tls = starttls: the upstream said 220 to STARTTLS; switch the
	 * backend connection to TLS (relay_backend_tls_up() follows). */
	void (*backend_start_tls)(void *ctx);
	/* backend_auth: the AUTH PLAIN argument (base64), or NULL. */
	const char *(*backend_auth)(void *ctx);
	/* Before the end of a message goes to the backend: make room now for
	 * its reply to reach the client (read, queued, written) without
	 * allocating, so that a message the backend takes is never left
	 * unconfirmed for want of memory. Returns 0, or -1: then the end is
	 * not sent, the message never completes, the client gets a 451. May
	 * be NULL (nothing to reserve). */
	int (*reserve_reply)(void *ctx);
};

/* Where the preamble toward a TLS upstream is (upstream.c). */
enum upstream_step {
	UP_DONE = 0,		/* no preamble, or it is over */
	UP_GREETING,		/* waiting for the upstream's greeting */
	UP_EHLO,		/* EHLO before STARTTLS */
	UP_STARTTLS,
	UP_HANDSHAKE,		/* the session runs the TLS handshake */
	UP_EHLO_TLS,		/* EHLO over TLS */
	UP_AUTH,
};

struct relay {
	/* Wiring, set by relay_init(). */
	const struct listener_conf *lc;	/* our listener's settings */
	const struct relay_io *io;	/* the session below */
	void *ctx;			/* its argument */
	uint64_t id;			/* sid= in logs */
	struct identity who;		/* the client, as the backend should learn it */
	const char *peer;		/* the client as text, for logs */

	/* The client's input. */
	enum relay_state state;		/* what its next bytes are */
	enum relay_state after_skip;	/* R_SKIP_LINE: the state once the line is gone */
	uint64_t skip_bytes;		/* R_SKIP_BYTES: chunk bytes left to discard */
	int client_eof;			/* it has sent all it will */
	unsigned errors;		/* its commands refused by starttlsd */
	int stopped;			/* the session is ending: do nothing more */
	const char *end_reason;		/* reason= once a 421 of ours closes the session */

	/* The backend. */
	struct pending q;		/* replies owed to the client, in order */
	int backend_pipelining;		/* it announced PIPELINING in its last EHLO reply */
	int backend_helo_only;		/* it refused EHLO (RFC 821): EHLO is answered for it, HELO sent */
	int backend_esmtp;		/* it accepted an EHLO in this session */
	enum upstream_step up;		/* the preamble toward a TLS upstream (backend_tls) */
	char *up_greeting;		/* the upstream's greeting, for the sender once the preamble is done */
	size_t up_greeting_len;
	int backend_gone;		/* its connection was dropped (a refused message) */

	/* TLS towards the client. */
	int tls;			/* TLS is on or starting: no STARTTLS offered or taken */
	int need_ehlo;			/* after STARTTLS: the client must EHLO/HELO first */
	const char *tls_version;	/* for Received: (BoringSSL's static strings) */
	const char *tls_cipher;
	char *caps;			/* the pre-TLS EHLO reply rewritten without STARTTLS */
	size_t capslen;

	/* The client's identity and transaction. */
	char *helo;			/* last EHLO/HELO argument (at most 255 bytes), for Received:; or NULL */
	int esmtp;			/* it was EHLO */
	int authenticated;		/* AUTH succeeded (235) */
	char *mail_from;		/* envelope sender (at most 255 bytes), for the log; or NULL */
	unsigned rcpts;			/* accepted recipients */

	/* The message in DATA. */
	struct data_filter df;		/* end of data and smuggling filter */
	uint64_t msg_size;		/* bytes of it sent to the backend */
	char unconfirmed[RELAY_REPLY_LOG + 1];	/* the last message's 2xx final reply (its first line,
					 * cut) while the client may not have it yet; or "" */
	uint64_t unconfirmed_mark;	/* where that reply ends in the client's byte stream (0: unknown
					 * while it is queued here) */
	uint64_t unconfirmed_size;	/* that message's size */
	uint64_t after_eod;		/* bytes sent to the backend since the last end of data */
	int settled;			/* relay_settle() ran: the session's last message is judged */
	const char *msg_rejected;	/* it is being refused (why), or NULL */
};

#endif
