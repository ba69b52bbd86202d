/*
 * tls_server.h - the TLS contexts starttlsd serves clients with, built from
 * the [tls] and [tls NAME] sections, and the policy they enforce.
 *
 * One SSL_CTX per certificate (BoringSSL holds one certificate per
 * context), grouped by the section it came from. Connections start on the
 * default context; while reading the ClientHello, a callback switches to
 * the section whose server_names match the SNI, and within it to an ECDSA
 * certificate if the client can verify one, else RSA. Session cache and
 * ticket keys stay with the default context, so resumption works whichever
 * certificate served. Contexts are read-only once built and shared by all
 * worker threads.
 */
#ifndef STARTTLSD_TLS_SERVER_H
#define STARTTLSD_TLS_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "config.h"

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

/* A certificate being served, for logs, expiry warnings and metrics. */
struct tls_cert_info {
	char section[72];	/* "tls" or "tls NAME" */
	const char *type;	/* "ecdsa", "rsa" or "other" */
	char subject[256];	/* its subject, one line */
	char file[256];		/* the certificate file */
	int line;		/* its certificate = line */
	int64_t not_after;	/* Unix time it expires */
};

/* The certificates being served, n of them; NULL if i is out of range. */
const struct tls_cert_info *tls_server_cert(const struct tls_server *ts, size_t i);

/* Which certificate a completed handshake used, or NULL. */
const struct tls_cert_info *tls_server_served(SSL *ssl);

/* A client certificate, as the log shows it (raw: the caller quotes). */
struct tls_peer_cert {
	char subject[256];	/* one-line subject name, as sent by the peer */
	char sha256[65];	/* hex SHA-256 of the DER certificate */
	int verified;		/* it verified against ca_file */
};

/* Describe the client certificate of a completed handshake. Returns 1, or 0 if there is none. */
int tls_server_peer_cert(SSL *ssl, struct tls_peer_cert *out);

/*
 * Does the completed handshake meet today's verify_client policy? A full
 * handshake enforced it itself; a resumed one carries the certificate of
 * the handshake that issued the session, so with verify_client = require
 * that certificate is verified again against the current CAs and clock
 * (a client certificate that expired since is refused). Returns 1 or 0.
 */
int tls_server_peer_allowed(SSL *ssl);

#endif
