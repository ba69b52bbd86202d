/*
 * tls.c - one TLS connection over a custom BIO, in either role; see tls.h.
 */
#include "tls.h"

#include <openssl/x509.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#ifndef BORINGSSL_API_VERSION
#error "starttlsd must be built against BoringSSL (BORINGSSL_API_VERSION undefined)"
#endif

const char *
tls_error(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, len, "unknown error");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

/* --- the custom BIO --- */

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

static int
bio_write(BIO *b, const char *p, int n)
{
	struct tls *t = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	if (n <= 0)
		return 0;
	return buf_append(t->out, p, (size_t)n) == 0 ? n : -1;
}

static int
bio_read(BIO *b, char *p, int n)
{
	struct tls *t = BIO_get_data(b);
	size_t want = (size_t)n, got = 0, k;

	BIO_clear_retry_flags(b);
	if (n <= 0)
		return 0;
	/* Spilled bytes are older than the chunk being fed: they go first. */
	if ((k = buf_pending(&t->spill)) > 0) {
		k = k < want ? k : want;
		memcpy(p, buf_head(&t->spill), k);
		buf_consume(&t->spill, k);
		got = k;
	}
	if (got < want && t->inlen > 0) {
		k = t->inlen < want - got ? t->inlen : want - got;
		memcpy(p + got, t->in, k);
		t->in += k;
		t->inlen -= k;
		got += k;
	}
	if (got == 0) {
		BIO_set_retry_read(b);
		return -1;
	}
	return (int)got;
}

static long
bio_ctrl(BIO *b, int cmd, long larg, void *parg)
{
	(void)b;
	(void)larg;
	(void)parg;
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static void
bio_init(void)
{
	if ((bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "starttlsd")) == NULL)
		return;
	BIO_meth_set_write(bio_method, bio_write);
	BIO_meth_set_read(bio_method, bio_read);
	BIO_meth_set_ctrl(bio_method, bio_ctrl);
}

int
tls_start(struct tls *t, SSL_CTX *ctx, struct buf *out, const char *server_name)
{
	BIO *bio;

	memset(t, 0, sizeof(*t));
	pthread_once(&bio_once, bio_init);
	if (bio_method == NULL || (t->ssl = SSL_new(ctx)) == NULL)
		return -1;
	if ((bio = BIO_new(bio_method)) == NULL) {
		SSL_free(t->ssl);
		t->ssl = NULL;
		return -1;
	}
	t->out = out;
	BIO_set_data(bio, t);
	BIO_set_init(bio, 1);
	SSL_set_bio(t->ssl, bio, bio);	/* the SSL owns it */
	if (server_name == NULL) {
		SSL_set_accept_state(t->ssl);
	} else {
		SSL_set_connect_state(t->ssl);
		/* The name asked for is the name verified, where the context verifies peers. */
		if (*server_name != '\0' && (!SSL_set_tlsext_host_name(t->ssl, server_name) ||
		    ((SSL_CTX_get_verify_mode(ctx) & SSL_VERIFY_PEER) &&
		    !X509_VERIFY_PARAM_set1_host(SSL_get0_param(t->ssl), server_name, strlen(server_name))))) {
			tls_free(t);
			return -1;
		}
	}
	/* Free handshake-only state once done: idle sessions stay small. */
	SSL_set_shed_handshake_config(t->ssl, 1);
	return 0;
}

void
tls_free(struct tls *t)
{
	if (t->ssl != NULL)
		SSL_free(t->ssl);	/* frees the BIO */
	buf_free(&t->spill);
	memset(t, 0, sizeof(*t));
}

int
tls_feed(struct tls *t, const char *p, size_t n)
{
	t->in = p;
	t->inlen = n;
	return 0;
}

void
tls_feed_end(struct tls *t, int keep)
{
	if (t->ssl != NULL && keep && t->inlen > 0 && buf_append(&t->spill, t->in, t->inlen) != 0) {
		/* Out of memory: the connection notices when TLS fails to progress. */
	}
	t->in = NULL;
	t->inlen = 0;
	if (keep)
		buf_release(&t->spill);
	else
		buf_free(&t->spill);	/* closing: nothing unread is worth keeping */
}

size_t
tls_unread(const struct tls *t)
{
	return buf_pending(&t->spill) + t->inlen;
}

int
tls_handshake(struct tls *t)
{
	int r = SSL_do_handshake(t->ssl);

	if (r == 1) {
		t->done = 1;
		return 1;
	}
	return SSL_get_error(t->ssl, r) == SSL_ERROR_WANT_READ ? 0 : -1;
}

const char *
tls_version(const struct tls *t)
{
	return t->ssl != NULL && t->done ? SSL_get_version(t->ssl) : NULL;
}

const char *
tls_cipher(const struct tls *t)
{
	const SSL_CIPHER *c = t->ssl != NULL && t->done ? SSL_get_current_cipher(t->ssl) : NULL;

	return c != NULL ? SSL_CIPHER_get_name(c) : NULL;
}

int
tls_read(struct tls *t, char *p, size_t n)
{
	int r = SSL_read(t->ssl, p, n > 0x7fffffff ? 0x7fffffff : (int)n);

	if (r > 0)
		return r;
	switch (SSL_get_error(t->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		return TLS_EOF;
	default:
		return -1;
	}
}

int
tls_write(struct tls *t, const char *p, size_t n)
{
	while (n > 0) {
		int chunk = n > 0x40000000 ? 0x40000000 : (int)n;
		int r = SSL_write(t->ssl, p, chunk);
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

void
tls_close_notify(struct tls *t)
{
	if (t->ssl != NULL && t->done)
		SSL_shutdown(t->ssl);
}
