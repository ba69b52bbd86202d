/*
 * upstream_tls.h - TLS toward the backend, for a listener with
 * backend_tls (a legacy sender's mail on its way to a modern relay): a
 * client SSL_CTX (TLS 1.2 or later; with backend_verify, the chain checked
 * against the system's trust store or backend_ca_file and the name against
 * backend_server_name or the backend's host name) and the AUTH PLAIN
 * credentials of backend_auth. The master builds these when it loads the
 * configuration, so the secret file may be readable by root only.
 */
#ifndef STARTTLSD_UPSTREAM_TLS_H
#define STARTTLSD_UPSTREAM_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "config.h"

/* The trust store used when backend_ca_file is not set (Debian's ca-certificates). */
#define UPSTREAM_TRUST_STORE "/etc/ssl/certs/ca-certificates.crt"

struct upstream_tls {
	SSL_CTX *ctx;		/* client role, shared read-only by the workers */
	char *server_name;	/* SNI, and the name verified */
	char *auth_plain;	/* base64 of "\0user\0password" for AUTH PLAIN, or NULL */
};

/*
 * Build u for listener lc of the file at path. Returns 0, or -1 with
 * "FILE:LINE: message" in err (an unreadable CA file or secret, a secret
 * that is not "user:password").
 */
int upstream_tls_load(struct upstream_tls *u, const struct listener_conf *lc, const char *path, char *err,
    size_t errlen);

/* Free what u holds (the secret is wiped). */
void upstream_tls_free(struct upstream_tls *u);

/* Why the handshake on ssl failed verification, or NULL if it did not. */
const char *upstream_tls_verify_error(SSL *ssl);

#endif
