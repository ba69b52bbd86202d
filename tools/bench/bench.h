/*
 * bench.h - shared declarations of smtp-bench, the load generator.
 *
 * smtp-bench runs every SMTP session of a benchmark in ONE libuv event loop
 * on one thread. The files split the work like this:
 *
 *   smtp-bench.c  command line, scheduling of sessions over "slots",
 *                 statistics and the result report
 *   bench_conn.c  one connection: socket I/O with backpressure, the SMTP
 *                 client state machine, lazy sending of message bytes
 *   bench_msg.c   the message template (header + 76-character lines)
 *   bench_tls.c   the client SSL_CTX, session saving for --resume, and the
 *                 per-connection memory-BIO TLS wrapper
 *
 * Because there is one thread, the struct bench is a plain global-like object
 * every connection points to; nothing is locked.
 */
#ifndef SMTP_BENCH_H
#define SMTP_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <openssl/ssl.h>
#include <uv.h>

enum bench_mode { MODE_SESSION, MODE_BULK, MODE_IDLE };
enum bench_tls { BT_STARTTLS, BT_IMPLICIT, BT_PLAIN };

/* Everything the command line sets. */
struct bench_opts {
	const char *host;
	int port;
	enum bench_mode mode;
	uint64_t count;		/* sessions (session, idle) or messages (bulk) */
	unsigned concurrency;	/* parallel sessions; idle: parallel openings */
	size_t size;		/* message size in bytes (content before the final ".") */
	enum bench_tls tls;
	int resume;		/* offer the slot's saved TLS session */
	double hold;		/* idle mode: seconds to hold; 0 = until SIGUSR1 */
	double timeout;		/* seconds without progress before a session fails */
	int pipelining;		/* send MAIL, RCPT and DATA in one write when the server announces PIPELINING */
	uint64_t messages;	/* session mode: messages per session (default 1) */
	int tls_max;		/* 12 or 13: highest TLS version offered; 0 = library default */
	const char *sni;	/* server name sent in the ClientHello, or NULL */
	const char *helo;
	const char *from;
	const char *rcpt;
	int json;
	/* The soak (tools/soak/run-soak): per-message checks. */
	const char *tag;	/* --tag: an X-Bench-Token header "TAG.ID.SEQ" in every message */
	const char *outcomes;	/* --outcomes FILE: one line per message attempted (bench_conn.c) */
	size_t rate_limit;	/* --rate-limit: message content bytes per second per session; 0 = none */
};

/* The message every session sends: a per-message header (fixed length, so
 * every message is exactly opts.size bytes) and a body of 76-character
 * lines made by repeating one block of lines, then a short tail. Both are
 * produced lazily, as the socket drains (bench_msg.c): nothing is queued
 * ahead and memory does not grow with the message size. */
#define LINE		78	/* a body line: 76 characters + CRLF */
#define BLOCK_LINES	840	/* lines in the repeated block (65520 bytes) */

struct bench_message {
	char date[64];		/* RFC 5322 date, the same for the whole run */
	size_t header_len;	/* bytes of header, blank line included */
	size_t size;		/* header_len + body_len (may exceed opts.size if that is tiny) */
	size_t body_len;	/* full_len + tail_len */
	size_t full_len;	/* body bytes served from the block (a multiple of LINE) */
	char *block;		/* BLOCK_LINES lines of LINE bytes */
	char tail[LINE + 1];	/* the last line(s), shorter */
	size_t tail_len;
};

/* The whole run. One per process. */
struct bench {
	struct bench_opts o;
	uv_loop_t *loop;
	struct sockaddr_storage addr;
	SSL_CTX *ctx;			/* NULL with --plain */
	SSL_SESSION **slot_sess;	/* --resume: the last session each slot saw */
	struct bench_message msg;

	/* Scheduling (smtp-bench.c). */
	uint64_t sessions_total;	/* sessions the run will open */
	uint64_t sessions_started;
	uint64_t sessions_done;		/* finished, successfully or not */
	unsigned active;		/* connections alive now */
	unsigned opening;		/* idle mode: not yet in the idle state */
	unsigned *free_slots;		/* stack of unused slot numbers */
	unsigned n_free_slots;
	uint64_t idle_open;		/* idle mode: sessions sitting idle now */
	uint64_t t_all_open;		/* idle mode: when the last session became idle */
	int release_asked;		/* idle mode: SIGUSR1 came before all were open */
	int holding;			/* idle mode: "idle: N sessions open" printed */
	int released;			/* idle mode: QUIT has been sent to everyone */
	struct conn *idle_list;		/* idle mode: sessions waiting for the release */
	uv_timer_t hold_timer;
	uv_signal_t sigusr1;

	/* Results. */
	uint64_t t_start, t_end;	/* uv_hrtime() of the first connect, of the last close */
	uint64_t ok_sessions;
	uint64_t errors;
	uint64_t messages;
	uint64_t message_bytes;		/* message content delivered (250 received) */
	uint64_t wire_out, wire_in;	/* bytes on the socket, either direction */
	uint64_t handshakes, resumed, resume_offered;
	uint64_t close_resets;		/* ECONNRESET after 221: tolerated, counted */
	double *sess_lat;		/* ms, one per successful session */
	uint64_t n_sess_lat;
	double *msg_lat;		/* ms, MAIL FROM to the final 250, one per message */
	uint64_t n_msg_lat, msg_lat_cap;
	double *ready_lat;		/* ms, connect to ready for the first MAIL FROM, per session */
	uint64_t n_ready_lat;
	uint64_t pipelined_sessions;	/* sessions that sent MAIL, RCPT, DATA in one write */
	uint64_t helo_fallbacks;	/* sessions that fell back to HELO after a refused EHLO */
	char tls_version[32];
	char tls_cipher[64];
	char first_error[256];
	FILE *outcomes_f;		/* --outcomes, line-buffered; NULL without */
};

/* One connection's TLS: an SSL object between two memory BIOs. The network
 * side feeds ciphertext into rbio and drains ciphertext out of wbio. */
struct btls {
	SSL *ssl;
	BIO *rbio;		/* network -> SSL */
	BIO *wbio;		/* SSL -> network */
	int done;		/* handshake finished */
};

/* Where a session is; the comment is what it waits for. */
enum conn_state {
	S_CONNECTING,	/* TCP connect */
	S_HANDSHAKE,	/* TLS handshake (implicit, or after STARTTLS's 220) */
	S_GREETING,	/* 220 greeting */
	S_EHLO,		/* 250 to EHLO before TLS (or the only EHLO with --plain/--implicit-tls) */
	S_STARTTLS,	/* 220 to STARTTLS */
	S_EHLO_TLS,	/* 250 to EHLO after STARTTLS */
	S_HELO,		/* 250 to HELO, after a 5xx to EHLO (RFC 5321 3.2) */
	S_IDLE,		/* idle mode: nothing, until the release */
	S_MAIL,		/* 250 to MAIL FROM */
	S_RCPT,		/* 250 to RCPT TO */
	S_DATA,		/* 354 to DATA */
	S_BODY,		/* nothing: sending the message as the socket drains */
	S_DOT,		/* 250 to the end of data */
	S_QUIT,		/* 221 to QUIT */
	S_CLOSING	/* the server to close the connection */
};

struct conn {
	struct bench *b;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_timer_t pace;	/* --rate-limit: resumes the content after a pause */
	uv_connect_t connect_req;
	int handles;		/* open libuv handles; freed when it drops to 0 */
	int closing;
	int failed;
	int ready;		/* idle mode: reached S_IDLE once */
	uint64_t id;		/* 1, 2, ... in start order */
	unsigned slot;
	enum conn_state state;
	struct btls tls;	/* tls.ssl == NULL while plaintext */

	/* Reply parsing: the bytes of an incomplete reply line. */
	char line[1024];
	size_t line_len;
	int reply_code;		/* code of the reply being read, 0 between replies */
	int saw_starttls;	/* the EHLO reply being read lists STARTTLS */
	int saw_pipelining;	/* ... and PIPELINING */
	int pipelining;		/* this session pipelines (--pipelining and announced) */

	/* Messages. */
	uint64_t msgs_left;	/* messages still to send in this session */
	uint64_t msg_seq;
	size_t body_off;	/* bytes of the current message handed to the socket */
	char header[1024];	/* the current message's header */
	uint64_t t_start;	/* uv_hrtime() at connect */
	uint64_t t_msg;		/* uv_hrtime() at MAIL FROM */
	uint64_t t_body;	/* uv_hrtime() at the 354 (--rate-limit counts from there) */

	struct conn *idle_next, **idle_prevp;	/* idle mode list */
};

/* bench_conn.c */
struct conn *conn_start(struct bench *b, uint64_t id, unsigned slot, uint64_t msgs);
void conn_quit(struct conn *c);			/* idle mode: leave the idle state */
const char *conn_state_name(enum conn_state s);

/* bench_msg.c */
int message_init(struct bench *b);
int message_header(const struct bench *b, char *out, size_t len, uint64_t id, uint64_t seq);
size_t message_copy(const struct bench *b, const char *header, size_t off, char *dst, size_t max);

/* smtp-bench.c: called by bench_conn.c */
void bench_conn_ready(struct bench *b, struct conn *c);	/* idle mode: c is idle */
void bench_conn_done(struct bench *b, struct conn *c);	/* c's handles are closed */
void bench_error(struct bench *b, const struct conn *c, const char *msg);

/* bench_tls.c */
SSL_CTX *btls_ctx_new(struct bench *b, char *err, size_t errlen);
int btls_start(struct btls *t, struct bench *b, struct conn *c);
void btls_free(struct btls *t);
const char *btls_error(char *buf, size_t len);

#endif
