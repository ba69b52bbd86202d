/*
 * tls.h - one TLS connection, server or client role, over a custom BIO.
 *
 * The connection never gives BoringSSL a socket. BoringSSL reads ciphertext
 * straight from the chunk the caller just read from the network
 * (tls_feed), keeping only what it did not consume, and writes ciphertext
 * straight into the caller's output buffer. No memory BIOs, no copies,
 * nothing held while idle, and nothing ever blocks.
 */
#ifndef STARTTLSD_TLS_H
#define STARTTLSD_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "buf.h"

struct tls {
	SSL *ssl;		/* NULL until tls_start() */
	struct buf *out;	/* where ciphertext for the network goes */
	struct buf spill;	/* fed ciphertext BoringSSL has not consumed yet */
	const char *in;		/* the chunk being fed (borrowed until tls_feed_end) */
	size_t inlen;
	int done;		/* handshake completed */
};

/*
 * Start a connection on ctx writing ciphertext to out: the server role if
 * server_name is NULL, else the client role, sending server_name as SNI
 * (unless it is ""). Returns 0, or -1.
 */
int tls_start(struct tls *t, SSL_CTX *ctx, struct buf *out, const char *server_name);

/* Free the connection; safe on a zeroed or already freed struct. */
void tls_free(struct tls *t);

/*
 * Lend BoringSSL ciphertext read from the network, for the calls that
 * follow; tls_feed_end() then keeps whatever was not consumed (with keep;
 * without, everything unread, spilled earlier or not, is dropped: the
 * connection is closing). Returns 0.
 */
int tls_feed(struct tls *t, const char *p, size_t n);
void tls_feed_end(struct tls *t, int keep);

/* Bytes of ciphertext fed in and not yet consumed by BoringSSL. */
size_t tls_unread(const struct tls *t);

/* Drive the handshake: 1 done, 0 needs more input, -1 failed. */
int tls_handshake(struct tls *t);

/* The negotiated version and cipher ("TLSv1.3", ...), or NULL before the handshake is done. */
const char *tls_version(const struct tls *t);
const char *tls_cipher(const struct tls *t);

/*
 * Decrypt into p[0..n): returns bytes (> 0), 0 if more input is needed,
 * TLS_EOF if the peer sent close_notify, or -1 on error.
 */
#define TLS_EOF (-2)
int tls_read(struct tls *t, char *p, size_t n);

/* Encrypt p[0..n) (all of it). Returns 0 or -1. */
int tls_write(struct tls *t, const char *p, size_t n);

/* Queue a close_notify alert (after a completed handshake). */
void tls_close_notify(struct tls *t);

/* The last BoringSSL error of this thread as text, into buf; clears the queue. */
const char *tls_error(char *buf, size_t len);

#endif
