/*
 * bench_tls.c - smtp-bench's TLS client side (BoringSSL).
 *
 * Every connection gets an SSL object between two BIO_s_mem buffers, so TLS
 * never touches a socket and never blocks: bench_conn.c writes the bytes it
 * reads from the socket into rbio, and sends whatever the SSL object left in
 * wbio. The certificate is not verified: this is a load generator talking to
 * a test certificate on loopback.
 *
 * --resume: the client session cache is on but BoringSSL's internal cache is
 * not used; instead the new-session callback files every session (TLS 1.2
 * session or TLS 1.3 ticket) under the connection's slot, and the next
 * connection that runs in that slot offers it. SSL_session_reused() after the
 * handshake tells whether the server accepted it.
 */
#include "bench.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#ifndef BORINGSSL_API_VERSION
#error "smtp-bench must be built against BoringSSL"
#endif

const char *
btls_error(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, len, "unknown TLS error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* A session (or ticket) arrived: keep it as the slot's newest. Returning 1
 * means we took the reference. */
static int
on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct conn *c = SSL_get_app_data(ssl);
	struct bench *b = c->b;

	if (b->slot_sess[c->slot] != NULL)
		SSL_SESSION_free(b->slot_sess[c->slot]);
	b->slot_sess[c->slot] = sess;
	return 1;
}

SSL_CTX *
btls_ctx_new(struct bench *b, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	char e[256];

	if ((ctx = SSL_CTX_new(TLS_method())) == NULL) {
		snprintf(err, errlen, "SSL_CTX_new: %s", btls_error(e, sizeof(e)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (b->o.tls_max == 12)
		SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	else
		SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (b->o.resume) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
		SSL_CTX_sess_set_new_cb(ctx, on_new_session);
	} else {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	}
	return ctx;
}

/* Make c's SSL object in client mode, offering the slot's saved session. */
int
btls_start(struct btls *t, struct bench *b, struct conn *c)
{
	memset(t, 0, sizeof(*t));
	if ((t->ssl = SSL_new(b->ctx)) == NULL)
		return -1;
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (t->rbio == NULL || t->wbio == NULL) {
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		SSL_free(t->ssl);
		memset(t, 0, sizeof(*t));
		return -1;
	}
	/* An empty read BIO means "wait for more", not end of file. */
	BIO_set_mem_eof_return(t->rbio, -1);
	BIO_set_mem_eof_return(t->wbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);	/* the SSL owns both now */
	SSL_set_connect_state(t->ssl);
	SSL_set_app_data(t->ssl, c);
	if (b->o.sni != NULL)
		SSL_set_tlsext_host_name(t->ssl, b->o.sni);
	if (b->o.resume && b->slot_sess[c->slot] != NULL) {
		SSL_set_session(t->ssl, b->slot_sess[c->slot]);	/* takes its own reference */
		b->resume_offered++;
	}
	return 0;
}

void
btls_free(struct btls *t)
{
	if (t->ssl != NULL)
		SSL_free(t->ssl);	/* frees both BIOs */
	memset(t, 0, sizeof(*t));
}
