/*
 * session.h - one proxied SMTP connection: client <-> starttlsd <-> backend.
 *
 * session.c owns the I/O: sockets, TLS over memory BIOs, write queues,
 * flow control (watermarks), the timer and the single close path.
 * relay.c owns the SMTP logic: the command table, the queue of commands
 * awaiting replies, EHLO rewriting, STARTTLS and DATA.
 */
#ifndef STARTTLSD_SESSION_H
#define STARTTLSD_SESSION_H

#include <stdint.h>

#include <uv.h>

#include "buf.h"
#include "config.h"
#include "dotstuff.h"
#include "tls.h"

struct worker;

/* Where the client side of the session is (what its next bytes mean). */
enum client_state {
	C_CMD,		/* parsing command lines */
	C_SKIP_LINE,	/* discarding the rest of an overlong line */
	C_SKIP_BYTES,	/* discarding refused BDAT chunk bytes */
	C_WAIT,		/* holding input until the reply to DATA or AUTH */
	C_AUTH,		/* next line is an AUTH response (after a 334) */
	C_DATA,		/* message content, until CRLF.CRLF */
	C_STARTTLS,	/* STARTTLS accepted, waiting for earlier replies */
	C_HANDSHAKE,	/* TLS handshake in progress */
	C_PROXY_HDR,	/* waiting for a trusted load balancer's PROXY header */
	C_DONE,		/* QUIT sent, or closing: input is ignored */
};

/* What a queued command is, so its reply can be handled. */
enum pend_kind {
	P_GREETING,	/* the backend's banner */
	P_EHLO,
	P_HELO,
	P_MAIL,
	P_RCPT,
	P_DATA,		/* the DATA command: 354 or refusal */
	P_DATA_END,	/* the end of message: final reply */
	P_AUTH,		/* stays queued across 334 continuations */
	P_RSET_INTERNAL,/* our own RSET after the handshake: reply swallowed */
	P_QUIT,
	P_XCLIENT,	/* our XCLIENT: its 220 is the greeting the client sees */
	P_OTHER,
	P_LOCAL,	/* a reply starttlsd makes itself, kept in order */
};

#define SESSION_QUEUE_MAX 128	/* commands awaiting replies (pipelining depth) */

/* A write queue towards one socket: one uv_write in flight at most. */
struct outq {
	uv_write_t req;		/* the write in flight */
	struct buf pending;	/* bytes not yet handed to libuv */
	struct buf inflight;	/* bytes libuv is writing (req) */
	int writing;		/* req is in flight */
};

struct session {
	struct worker *w;		/* owning worker (its loop, SSL_CTX, read buffer) */
	struct gen *gen;		/* the configuration this session started with (a reference) */
	const struct listener_conf *lc;	/* our listener's settings, inside gen */
	struct session *prev, *next;	/* worker's list of live sessions */
	uint64_t id;			/* sid= in logs */
	char peer[64];			/* client address, for logs */
	struct sockaddr_storage peer_addr;	/* client address */
	int counted;			/* counted by connlimit_acquire() */
	uint64_t started_ms;		/* uv_now() at accept, for duration */

	/* Handles: each is uv_close()d once; the session is freed when
	 * nhandles drops to zero in the close callback. */
	uv_tcp_t client;		/* accepted client socket */
	uv_tcp_t backend;		/* connection to the legacy MTA */
	uv_timer_t timer;		/* the one deadline of the current state */
	uv_connect_t connect_req;	/* backend connect in progress */
	uv_shutdown_t shutdown_req;	/* graceful close of the client */
	int nhandles;			/* handles not yet closed */

	/* Lifecycle flags. */
	int closing;			/* session_end() ran: no more processing */
	int backend_up;			/* backend connected */
	int backend_closed;		/* backend handle closed */
	int client_closed;		/* client handle closed (or closing) */
	int timer_closed;		/* timer handle closed */
	int client_eof;			/* client sent EOF: finish queued work, then close */
	int reading_client;		/* uv_read_start() active on client */
	int reading_backend;		/* uv_read_start() active on backend */
	const char *end_reason;		/* reason= in the disconnect log */

	/* TLS towards the client. */
	struct tls tls;			/* ssl == NULL until STARTTLS / implicit start */
	int tls_up;			/* handshake completed */

	/* Data paths. */
	struct buf cin;			/* client plaintext not yet processed */
	struct buf rin;			/* backend bytes not yet parsed as replies */
	struct outq to_client;		/* ciphertext (or plaintext before TLS) for the client */
	struct outq to_backend;		/* plaintext for the backend */
	uint64_t bytes_from_client;	/* raw bytes, as on the wire */
	uint64_t bytes_to_client;

	/* SMTP state (relay.c). */
	enum client_state cstate;	/* what the client's next bytes are */
	uint8_t queue[SESSION_QUEUE_MAX];/* enum pend_kind of commands awaiting replies */
	unsigned qhead, qlen;		/* ring buffer indices */
	struct buf locals;		/* texts of queued P_LOCAL replies, in order */
	int need_ehlo;			/* after STARTTLS: client must EHLO/HELO first */
	int post_tls_helo;		/* the queued EHLO/HELO was sent after TLS */
	char *caps;			/* backend's pre-TLS EHLO reply, rewritten w/o STARTTLS */
	size_t capslen;
	uint64_t skip_bytes;		/* C_SKIP_BYTES: chunk bytes left to discard */
	enum client_state after_skip;	/* C_SKIP_LINE: the state once the line is gone */
	struct data_filter df;		/* C_DATA scanner */
	uint64_t msg_size;		/* bytes of the current message sent to the backend */
	char mail_from[256];		/* envelope sender of the current transaction */
	unsigned rcpts;			/* accepted recipients of the current transaction */
	unsigned errors;		/* commands refused by starttlsd itself */
	int greeted;			/* the client has its greeting: commands may flow */
	char helo[256];			/* last EHLO/HELO argument, for Received: */
	int esmtp;			/* it was EHLO */
	int authenticated;		/* AUTH succeeded (235) */
	const char *msg_rejected;	/* the current message is being refused (why), or NULL */
	int backend_gone;		/* backend dropped after a rejected message */
	struct buf scratch;		/* output of a refused message, discarded */
};

/*
 * Accept a pending connection on server and start its session: connect to
 * the backend, and in implicit mode begin the TLS handshake. Returns 0, or
 * -1 if the connection could not be accepted (nothing is left behind).
 */
int session_start(struct worker *w, const struct listener_conf *lc, uv_stream_t *server);

/*
 * The single close path: log, cancel everything pending, close handles.
 * With graceful, queued output to the client is flushed (with a TLS
 * close_notify) before its socket is closed. Safe to call more than once.
 */
void session_end(struct session *s, const char *reason, int graceful);

/* Send bytes to the client (through TLS once it is up). Returns 0 or -1. */
int session_to_client(struct session *s, const char *p, size_t n);

/* Close the backend connection now (a refused message must never complete). */
void session_drop_backend(struct session *s);

/* Send bytes to the backend. Returns 0 or -1. */
int session_to_backend(struct session *s, const char *p, size_t n);

/* Begin the TLS handshake on the client side (STARTTLS or implicit). */
int session_start_tls(struct session *s);

/* Process what the client sent (TLS first, then relay) as far as the state allows. */
void session_client_input(struct session *s);

/* Re-evaluate watermarks: start or stop reading each side. */
void session_flow(struct session *s);

/* (Re)arm the timer for the current state. */
void session_arm_timer(struct session *s);

/* Ask every session of a worker to end with 421 (shutdown deadline). */
void session_shutdown(struct session *s);

/* --- relay.c --- */

/* Initialise SMTP state at session start (queues the greeting). */
void relay_init(struct session *s);

/* Process as much client plaintext in s->cin as the state allows. */
void relay_client_input(struct session *s);

/* Process complete backend replies in s->rin. */
void relay_backend_input(struct session *s);

/* The TLS handshake completed. */
void relay_tls_ready(struct session *s);

/* Free relay-owned memory. */
void relay_free(struct session *s);

/* Human-readable name of a client state, for logs. */
const char *relay_strstate(enum client_state st);

#endif
