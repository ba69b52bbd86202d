/* tls.c - BoringSSL context and memory-BIO connections; see tls.h. */
#include "tls.h"

#include <errno.h>
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

/* ALPACA defence: only "smtp" may be negotiated by ALPN (or none at all). */
static int
select_alpn(SSL *ssl, const uint8_t **out, uint8_t *outlen, const uint8_t *in, unsigned inlen, void *arg)
{
	unsigned i = 0;

	(void)ssl;
	(void)arg;
	while (i < inlen) {
		unsigned n = in[i];
		if (i + 1 + n > inlen)
			break;
		if (n == 4 && memcmp(in + i + 1, "smtp", 4) == 0) {
			*out = in + i + 1;
			*outlen = 4;
			return SSL_TLSEXT_ERR_OK;
		}
		i += 1 + n;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* Say plainly when a file cannot be opened, rather than BoringSSL's code. */
static int
readable(const char *file, const char *cfgpath, int line, const char *what, char *err, size_t errlen)
{
	FILE *f = fopen(file, "r");

	if (f != NULL) {
		fclose(f);
		return 1;
	}
	snprintf(err, errlen, "%s:%d: cannot read %s %s: %s", cfgpath, line, what, file, strerror(errno));
	return 0;
}

SSL_CTX *
tls_ctx_new(const struct config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	char e[256];
	static const unsigned char sid_ctx[] = "starttlsd";

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errlen, "%s: cannot create TLS context: %s", cfg->path, tls_error(e, sizeof(e)));
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
	if (!readable(cfg->tls.certificate, cfg->path, cfg->tls.certificate_line, "certificate", err, errlen) ||
	    !readable(cfg->tls.key, cfg->path, cfg->tls.key_line, "key", err, errlen))
		goto err;
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls.certificate) != 1) {
		snprintf(err, errlen, "%s:%d: certificate %s: %s", cfg->path, cfg->tls.certificate_line,
		    cfg->tls.certificate, tls_error(e, sizeof(e)));
		goto err;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls.key, SSL_FILETYPE_PEM) != 1) {
		snprintf(err, errlen, "%s:%d: key %s: %s", cfg->path, cfg->tls.key_line, cfg->tls.key,
		    tls_error(e, sizeof(e)));
		goto err;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "%s:%d: key %s does not match certificate %s", cfg->path, cfg->tls.key_line,
		    cfg->tls.key, cfg->tls.certificate);
		ERR_clear_error();
		goto err;
	}
	return ctx;
err:
	SSL_CTX_free(ctx);
	return NULL;
}

int
tls_start(struct tls *t, SSL_CTX *ctx)
{
	memset(t, 0, sizeof(*t));
	if ((t->ssl = SSL_new(ctx)) == NULL)
		goto err;
	if ((t->rbio = BIO_new(BIO_s_mem())) == NULL || (t->wbio = BIO_new(BIO_s_mem())) == NULL)
		goto err;
	/* An empty read BIO means "retry later", not end of file. */
	BIO_set_mem_eof_return(t->rbio, -1);
	BIO_set_mem_eof_return(t->wbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);	/* the SSL now owns both */
	SSL_set_accept_state(t->ssl);
	return 0;
err:
	if (t->ssl == NULL) {
		BIO_free(t->rbio);
		BIO_free(t->wbio);
	} else {
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		SSL_free(t->ssl);
	}
	memset(t, 0, sizeof(*t));
	return -1;
}

void
tls_free(struct tls *t)
{
	if (t->ssl != NULL)
		SSL_free(t->ssl);	/* frees both BIOs */
	memset(t, 0, sizeof(*t));
}

int
tls_feed(struct tls *t, const char *p, size_t n)
{
	return BIO_write(t->rbio, p, (int)n) == (int)n ? 0 : -1;
}

size_t
tls_unread(struct tls *t)
{
	return BIO_pending(t->rbio);
}

int
tls_take(struct tls *t, struct buf *out)
{
	const uint8_t *p;
	size_t n;

	if (!BIO_mem_contents(t->wbio, &p, &n))
		return -1;
	if (n == 0)
		return 0;
	if (buf_append(out, p, n) != 0)
		return -1;
	return BIO_reset(t->wbio) == 1 ? 0 : -1;
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
