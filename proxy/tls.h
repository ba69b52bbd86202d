/*
 * tls.h - BoringSSL glue: the shared SSL_CTX and TLS over memory BIOs.
 *
 * Sessions never give BoringSSL a socket: ciphertext read from the client
 * is fed in with tls_feed(), and ciphertext BoringSSL produces lands in the
 * session's output buffer, which the session writes: nothing ever blocks.
 */
#ifndef STARTTLSD_TLS_H
#define STARTTLSD_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "buf.h"
#include "config.h"

/*
 * Everything TLS that a configuration defines: one SSL_CTX per certificate
 * (BoringSSL holds one certificate per context), grouped by the [tls] or
 * [tls NAME] section it came from. Sessions start on the default context;
 * while reading the ClientHello, a callback switches to the section whose
 * server_names match the SNI, and within it to an ECDSA certificate if the
 * client can verify one, else RSA. Session cache and ticket keys stay with
 * the default context, so resumption works whichever certificate served.
 */
struct tls_server;

/*
 * Build it from cfg's [tls] sections: policy (versions, ciphers, groups,
 * tickets, client certificates) applied to every context, each key
 * checked against its certificate. Returns NULL with "FILE:LINE: message"
 * in err.
 */
struct tls_server *tls_server_new(const struct config *cfg, char *err, size_t errlen);

/* Free it; NULL is a no-op. Live SSL objects keep their contexts alive. */
void tls_server_free(struct tls_server *ts);

/* The context new connections start on. */
SSL_CTX *tls_server_ctx(const struct tls_server *ts);

/*
 * Describe the client certificate of a completed handshake for the log:
 * "subject=... sha256=... verified=yes", or "" if there is none.
 */
void tls_peer_cert_info(SSL *ssl, char *dst, size_t len);

/*
 * One TLS connection. BoringSSL talks to a small custom BIO: it reads
 * ciphertext straight from the chunk the session just read from the socket
 * (tls_feed), keeping only what it did not consume (spill), and writes
 * ciphertext straight into the session's output buffer. No memory BIOs,
 * no copies, and nothing held while the session is idle.
 */
struct tls {
	SSL *ssl;		/* NULL until tls_start() */
	struct buf *out;	/* where ciphertext for the network goes */
	struct buf spill;	/* fed ciphertext BoringSSL has not consumed yet */
	const char *in;		/* the chunk being fed (borrowed until tls_feed_end) */
	size_t inlen;
	int done;		/* handshake completed */
};

/* Create the server-side connection writing to out. Returns 0, or -1. */
int tls_start(struct tls *t, SSL_CTX *ctx, struct buf *out);

/* Free the connection; safe on a zeroed or already freed struct. */
void tls_free(struct tls *t);

/*
 * Lend BoringSSL ciphertext read from the network, for the calls that
 * follow; tls_feed_end() then keeps whatever was not consumed. Returns 0.
 */
int tls_feed(struct tls *t, const char *p, size_t n);
void tls_feed_end(struct tls *t);

/* Bytes of ciphertext fed in and not yet consumed by BoringSSL. */
size_t tls_unread(const struct tls *t);

/* Drive the handshake: 1 done, 0 needs more input, -1 failed. */
int tls_handshake(struct tls *t);

/*
 * Decrypt into p[0..n): returns bytes (> 0), 0 if more input is needed,
 * TLS_EOF if the peer sent close_notify, or -1 on error.
 */
#define TLS_EOF (-2)
int tls_read(struct tls *t, char *p, size_t n);

/* Encrypt p[0..n) (all of it). Returns 0 or -1. */
int tls_write(struct tls *t, const char *p, size_t n);

/* Queue a close_notify alert. */
void tls_close_notify(struct tls *t);

/* The last BoringSSL error as text (thread-local queue), into buf. */
const char *tls_error(char *buf, size_t len);

#endif
