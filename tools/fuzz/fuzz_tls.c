/*
 * fuzz_tls.c - libFuzzer driver for the TLS record path of proxy/tls.c:
 * starttlsd's own BIO (tls_feed / tls_feed_end, the spill buffer, output
 * straight into a struct buf), in the server role, against a client that
 * is either BoringSSL over memory BIOs or a second struct tls in the
 * client role. A self-signed ECDSA P-256 certificate and the two SSL_CTXs
 * are made once, in memory.
 *
 * Input (missing bytes read as zero):
 *   byte 0   flags: 0x01 the client is a struct tls (else BoringSSL with
 *            memory BIOs); 0x02 TLS 1.2 (else 1.3); 0x04 corrupt the
 *            client's ciphertext (bytes 4-7); 0x08 the client sends
 *            close_notify after its data; 0x10 the server calls tls_read()
 *            at most once per chunk (the rest of the chunk goes to the
 *            spill buffer); 0x60 the TLS 1.2 cipher suite (AES128-GCM,
 *            CHACHA20-POLY1305, AES256-GCM, AES128-SHA); 0x80 every other
 *            chunk is fed and ended without any TLS call in between (as
 *            conn_start_tls() does with bytes read before STARTTLS).
 *   byte 1   client plaintext length / 4 (0..1020 bytes)
 *   byte 2   client SSL_write() size - 1
 *   byte 3   server tls_read() buffer size - 1 (a heap block of that size)
 *   byte 4-5 corruption offset in the client's ciphertext stream (% 2048)
 *   byte 6   corruption (& 3): xor with byte 7 | 1, insert byte 7, delete
 *            the byte, replace it with byte 7
 *   byte 7   corruption value
 *   byte 8   length of the server's reply before its close_notify
 *   the rest chunk sizes, used in turn (cyclically) to cut both ciphertext
 *            streams into the pieces given to tls_feed(): c < 0xc0 is
 *            1 + c bytes, else (c - 0xbf) * 256; none: all that is pending.
 *            Each piece is a heap copy of exactly its size.
 *
 * Checked, on each struct tls (both roles):
 *   - tls_feed(n) raises tls_unread() by exactly n; the TLS calls only
 *     lower it; tls_feed_end() with keep leaves it as it was, and the
 *     spill buffer then holds exactly the last tls_unread() bytes fed (and
 *     no memory when that is 0); without keep (after a failure) all that
 *     is unread is dropped and its memory freed; a TLS call that wants more input (0) leaves
 *     nothing unread; a chunk is never touched after tls_feed_end();
 *   - plaintext read is always a prefix of what the peer wrote (every byte
 *     once, in order, never a wrong one), and TLS_EOF comes only after all
 *     of it and the peer's close_notify;
 *   - tls_close_notify() before the handshake writes nothing.
 * Without corruption (or when it changed nothing): both handshakes
 * complete with the version asked for; the server reads all the client's
 * plaintext whatever the chunking, then TLS_EOF iff the client closed,
 * with nothing left unread and no spill memory held. With corruption: the
 * server fails (-1) or reads a prefix. Whenever both handshakes are done
 * and neither side failed: the server's reply and tls_close_notify()
 * reach the client as all the reply, then a clean close (SSL_read() 0 with
 * SSL_ERROR_ZERO_RETURN, or TLS_EOF).
 *
 *   ./build-fuzz/tools/fuzz/fuzz_tls CORPUS_DIR    (seeds: test/fuzz/tls)
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/ec_key.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "buf.h"
#include "fuzz_check.h"
#include "tls.h"

#define F_CLIENT_TLS 0x01
#define F_TLS12 0x02
#define F_CORRUPT 0x04
#define F_CLIENT_CLOSE 0x08
#define F_ONE_READ 0x10
#define F_SPILL_ONLY 0x80
#define HDRLEN 9

/* TLS 1.2 suites the client may insist on (the server allows them all). */
static const char *const suites12[4] = {
	"ECDHE-ECDSA-AES128-GCM-SHA256",
	"ECDHE-ECDSA-CHACHA20-POLY1305",
	"ECDHE-ECDSA-AES256-GCM-SHA384",
	"ECDHE-ECDSA-AES128-SHA",
};

static SSL_CTX *server_ctx, *client_ctx;

/* One end of the connection. */
struct peer {
	int is_tls;		/* a struct tls (else BoringSSL with memory BIOs) */
	struct tls t;
	struct buf out;		/* t's ciphertext output */
	struct buf fed;		/* every ciphertext byte fed to t */
	SSL *ssl;		/* !is_tls */
	BIO *rbio, *wbio;	/* network -> ssl, ssl -> network */
	size_t readsz;
	int one_read;		/* at most one read per feed */
	struct buf got;		/* plaintext read */
	const uint8_t *expect;	/* what the other end writes, in all */
	size_t expect_len;
	const int *peer_closed;	/* the other end sent close_notify */
	int done, failed, eof, closed;
};

/* The chunk sizes, used cyclically. */
struct chunker {
	const uint8_t *p;
	size_t n, i;
};

struct run {
	uint8_t flags;
	struct peer srv, cli;
	struct chunker ch;
	struct buf c2s, s2c;	/* ciphertext on the wire */
	size_t produced;	/* client ciphertext bytes so far (before corruption) */
	size_t corrupt_off;
	uint8_t corrupt_kind, corrupt_val;
	int modified;		/* the corruption changed the stream */
	uint8_t *data;		/* the client's plaintext */
	size_t data_len, written, wsize;
	uint8_t *reply;		/* the server's */
	size_t reply_len;
	int spill_turn;
};

/* buf_head() of a never used buffer is NULL. */
static const char *
head(const struct buf *b)
{
	return b->data != NULL ? buf_head(b) : "";
}

/* --- the certificate and contexts, once --- */

static void
init_contexts(void)
{
	EC_KEY *ec;
	EVP_PKEY *key;
	X509 *x;
	X509_NAME *name;

	ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
	key = EVP_PKEY_new();
	FUZZ_CHECK(ec != NULL && key != NULL && EC_KEY_generate_key(ec));
	FUZZ_CHECK(EVP_PKEY_assign_EC_KEY(key, ec));	/* key owns ec now */

	x = X509_new();
	FUZZ_CHECK(x != NULL && X509_set_version(x, X509_VERSION_3));
	FUZZ_CHECK(ASN1_INTEGER_set(X509_get_serialNumber(x), 1));
	FUZZ_CHECK(X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL);
	FUZZ_CHECK(X509_gmtime_adj(X509_getm_notAfter(x), 3650L * 86400) != NULL);
	name = X509_get_subject_name(x);
	FUZZ_CHECK(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const uint8_t *)"example.test", -1, -1,
	    0));
	FUZZ_CHECK(X509_set_issuer_name(x, name));
	FUZZ_CHECK(X509_set_pubkey(x, key));
	FUZZ_CHECK(X509_sign(x, key, EVP_sha256()) > 0);

	/* The server as tls_server.c sets one up, minus resumption. */
	server_ctx = SSL_CTX_new(TLS_server_method());
	FUZZ_CHECK(server_ctx != NULL);
	FUZZ_CHECK(SSL_CTX_use_certificate(server_ctx, x) && SSL_CTX_use_PrivateKey(server_ctx, key));
	FUZZ_CHECK(SSL_CTX_check_private_key(server_ctx));
	FUZZ_CHECK(SSL_CTX_set_min_proto_version(server_ctx, TLS1_2_VERSION));
	FUZZ_CHECK(SSL_CTX_set_max_proto_version(server_ctx, TLS1_3_VERSION));
	FUZZ_CHECK(SSL_CTX_set_strict_cipher_list(server_ctx,
	    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"
	    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-SHA"));
	SSL_CTX_set_early_data_enabled(server_ctx, 0);
	FUZZ_CHECK(SSL_CTX_set_num_tickets(server_ctx, 1));
	SSL_CTX_set_session_cache_mode(server_ctx, SSL_SESS_CACHE_OFF);

	client_ctx = SSL_CTX_new(TLS_client_method());
	FUZZ_CHECK(client_ctx != NULL);
	SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
	FUZZ_CHECK(SSL_CTX_set_min_proto_version(client_ctx, TLS1_2_VERSION));
	SSL_CTX_set_session_cache_mode(client_ctx, SSL_SESS_CACHE_OFF);

	X509_free(x);		/* the context holds its own references */
	EVP_PKEY_free(key);
}

/* --- chunks --- */

static size_t
next_chunk(struct chunker *c, size_t pending)
{
	size_t n;
	uint8_t b;

	if (c->n == 0)
		return pending;
	b = c->p[c->i++ % c->n];
	n = b < 0xc0 ? 1 + (size_t)b : (size_t)(b - 0xbf) * 256;
	return n < pending ? n : pending;
}

/* --- a struct tls end --- */

/* got is still a prefix of what the other end writes. */
static void
check_prefix(const struct peer *p)
{
	size_t n = buf_pending(&p->got);

	FUZZ_CHECK(n <= p->expect_len);
	if (memcmp(head(&p->got), p->expect, n) != 0) {
		fprintf(stderr, "plaintext read differs from what was written within its first %zu bytes\n", n);
		FUZZ_CHECK(!"plaintext arrives once, in order, unchanged");
	}
}

/* TLS_EOF: only after everything and the other end's close_notify. */
static void
saw_eof(struct peer *p)
{
	FUZZ_CHECK(*p->peer_closed);
	FUZZ_CHECK(buf_pending(&p->got) == p->expect_len);
	p->eof = 1;
}

/* The handshake, then reads, as conn.c's tls_pump() does. */
static void
pump_tls(struct peer *p)
{
	char *rd;
	size_t before;
	int r, reads = 0;

	if (p->failed || p->eof)
		return;
	if (!p->done) {
		before = tls_unread(&p->t);
		r = tls_handshake(&p->t);
		FUZZ_CHECK(r >= -1 && r <= 1);
		FUZZ_CHECK(tls_unread(&p->t) <= before);
		if (r < 0) {
			p->failed = 1;
			return;
		}
		if (r == 0) {
			/* It asked for more: it had everything there was. */
			FUZZ_CHECK(tls_unread(&p->t) == 0);
			FUZZ_CHECK(tls_version(&p->t) == NULL && tls_cipher(&p->t) == NULL);
			return;
		}
		p->done = 1;
		FUZZ_CHECK(tls_version(&p->t) != NULL && tls_cipher(&p->t) != NULL);
	}
	rd = malloc(p->readsz);
	FUZZ_CHECK(rd != NULL);
	for (;;) {
		if (p->one_read && reads > 0)
			break;
		before = tls_unread(&p->t);
		r = tls_read(&p->t, rd, p->readsz);
		FUZZ_CHECK(tls_unread(&p->t) <= before);
		if (r > 0) {
			FUZZ_CHECK((size_t)r <= p->readsz);
			FUZZ_CHECK(buf_append(&p->got, rd, (size_t)r) == 0);
			check_prefix(p);
			reads++;
			continue;
		}
		if (r == 0) {
			FUZZ_CHECK(tls_unread(&p->t) == 0);
		} else if (r == TLS_EOF) {
			saw_eof(p);
		} else {
			FUZZ_CHECK(r == -1);
			p->failed = 1;
		}
		break;
	}
	free(rd);
}

/*
 * Feed src[0..n) (copied to a heap block of exactly n bytes, so reading
 * past it is an ASan report) and pump unless spill_only.
 */
static void
feed_tls(struct peer *p, const char *src, size_t n, int spill_only)
{
	char *chunk = NULL;
	size_t before, left, spilled;
	int keep;

	if (n > 0) {
		chunk = malloc(n);
		FUZZ_CHECK(chunk != NULL);
		memcpy(chunk, src, n);
		FUZZ_CHECK(buf_append(&p->fed, src, n) == 0);
	}
	before = tls_unread(&p->t);
	FUZZ_CHECK(tls_feed(&p->t, chunk, n) == 0);
	FUZZ_CHECK(tls_unread(&p->t) == before + n);
	if (!spill_only)
		pump_tls(p);
	FUZZ_CHECK(tls_unread(&p->t) <= before + n);

	/* After a failure the connection is closing: everything unread is dropped. */
	keep = !p->failed;
	left = tls_unread(&p->t);
	spilled = buf_pending(&p->t.spill);
	FUZZ_CHECK(left == spilled + p->t.inlen);
	tls_feed_end(&p->t, keep);
	free(chunk);	/* no longer borrowed */
	FUZZ_CHECK(p->t.in == NULL && p->t.inlen == 0);
	if (!keep) {
		FUZZ_CHECK(tls_unread(&p->t) == 0 && p->t.spill.data == NULL);
		return;
	}
	FUZZ_CHECK(tls_unread(&p->t) == left);
	/* The spill buffer holds the last bytes fed, and is freed when empty. */
	FUZZ_CHECK(buf_pending(&p->t.spill) == left);
	FUZZ_CHECK(left <= buf_pending(&p->fed));
	FUZZ_CHECK(memcmp(head(&p->t.spill), head(&p->fed) + buf_pending(&p->fed) - left, left) == 0);
	if (left == 0)
		FUZZ_CHECK(p->t.spill.data == NULL);
}

/* --- either kind of end --- */

static void
pump_mem(struct peer *p)
{
	char rd[256];
	int r, e;

	if (p->failed || p->eof)
		return;
	if (!p->done) {
		r = SSL_do_handshake(p->ssl);
		if (r != 1) {
			e = SSL_get_error(p->ssl, r);
			if (e != SSL_ERROR_WANT_READ)
				p->failed = 1;
			return;
		}
		p->done = 1;
	}
	for (;;) {
		r = SSL_read(p->ssl, rd, sizeof(rd));
		if (r > 0) {
			FUZZ_CHECK(buf_append(&p->got, rd, (size_t)r) == 0);
			check_prefix(p);
			continue;
		}
		e = SSL_get_error(p->ssl, r);
		if (e == SSL_ERROR_ZERO_RETURN) {
			FUZZ_CHECK(r == 0);
			saw_eof(p);
		} else if (e != SSL_ERROR_WANT_READ) {
			p->failed = 1;
		}
		break;
	}
}

static void
pump(struct peer *p)
{
	if (p->is_tls)
		pump_tls(p);
	else
		pump_mem(p);
}

/* Ciphertext from the wire w to p; returns whether there was any. */
static int
deliver(struct run *r, struct peer *p, struct buf *w)
{
	size_t n, left;
	int any = buf_pending(w) > 0, spill_only;

	if (p->is_tls) {
		while (buf_pending(w) > 0) {
			n = next_chunk(&r->ch, buf_pending(w));
			if (p->failed || p->eof) {
				buf_consume(w, n);	/* the connection is gone */
				continue;
			}
			spill_only = p == &r->srv && (r->flags & F_SPILL_ONLY) && r->spill_turn++ % 2 == 0;
			feed_tls(p, buf_head(w), n, spill_only);
			buf_consume(w, n);
		}
		/*
		 * Ciphertext left in the spill buffer, or plaintext in BoringSSL:
		 * feed nothing new and read on. Each round makes progress.
		 */
		while (!p->failed && !p->eof && (tls_unread(&p->t) > 0 || SSL_pending(p->t.ssl) > 0)) {
			left = tls_unread(&p->t);
			n = buf_pending(&p->got);
			feed_tls(p, NULL, 0, 0);
			FUZZ_CHECK(p->failed || p->eof || tls_unread(&p->t) < left || buf_pending(&p->got) > n);
			any = 1;
		}
	} else {
		if (buf_pending(w) > 0) {
			FUZZ_CHECK(BIO_write(p->rbio, buf_head(w), (int)buf_pending(w)) == (int)buf_pending(w));
			buf_consume(w, buf_pending(w));
		}
		pump_mem(p);
	}
	buf_release(w);
	return any;
}

/* The client's ciphertext onto the wire, corrupted once if asked. */
static void
client_to_wire(struct run *r, const char *p, size_t n)
{
	size_t k;
	uint8_t b;

	if (!(r->flags & F_CORRUPT) || r->corrupt_off < r->produced || r->corrupt_off >= r->produced + n) {
		FUZZ_CHECK(buf_append(&r->c2s, p, n) == 0);
		r->produced += n;
		return;
	}
	k = r->corrupt_off - r->produced;
	FUZZ_CHECK(buf_append(&r->c2s, p, k) == 0);
	b = (uint8_t)p[k];
	switch (r->corrupt_kind & 3) {
	case 0:
		b ^= r->corrupt_val | 1;
		FUZZ_CHECK(buf_append(&r->c2s, &b, 1) == 0);
		r->modified = 1;
		break;
	case 1:
		FUZZ_CHECK(buf_append(&r->c2s, &r->corrupt_val, 1) == 0);
		FUZZ_CHECK(buf_append(&r->c2s, &b, 1) == 0);
		r->modified = 1;
		break;
	case 2:
		r->modified = 1;	/* dropped */
		break;
	default:
		r->modified |= b != r->corrupt_val;
		FUZZ_CHECK(buf_append(&r->c2s, &r->corrupt_val, 1) == 0);
		break;
	}
	FUZZ_CHECK(buf_append(&r->c2s, p + k + 1, n - k - 1) == 0);
	r->produced += n;
}

/* Move what an end wrote onto the wire w (client: through the corruption). */
static void
collect(struct run *r, struct peer *p, struct buf *w)
{
	char tmp[4096];
	int n;

	if (p->is_tls) {
		if (p == &r->cli)
			client_to_wire(r, head(&p->out), buf_pending(&p->out));
		else
			FUZZ_CHECK(buf_append(w, head(&p->out), buf_pending(&p->out)) == 0);
		buf_consume(&p->out, buf_pending(&p->out));
		buf_release(&p->out);
		return;
	}
	while ((n = BIO_read(p->wbio, tmp, sizeof(tmp))) > 0)
		client_to_wire(r, tmp, (size_t)n);
}

static int
peer_write(struct peer *p, const uint8_t *data, size_t n)
{
	if (p->is_tls)
		return tls_write(&p->t, (const char *)data, n);
	return SSL_write(p->ssl, data, (int)n) == (int)n ? 0 : -1;
}

static void
peer_close(struct peer *p)
{
	size_t before = buf_pending(&p->out);

	p->closed = 1;
	if (!p->is_tls) {
		SSL_shutdown(p->ssl);
		return;
	}
	tls_close_notify(&p->t);
	if (!p->done)
		FUZZ_CHECK(buf_pending(&p->out) == before);
	else
		FUZZ_CHECK(buf_pending(&p->out) > before);
}

static void
peer_free(struct peer *p)
{
	tls_free(&p->t);
	FUZZ_CHECK(p->t.ssl == NULL);
	tls_free(&p->t);	/* safe twice */
	if (p->ssl != NULL)
		SSL_free(p->ssl);	/* and its BIOs */
	buf_free(&p->out);
	buf_free(&p->fed);
	buf_free(&p->got);
}

/* Plaintext that does not repeat within the sizes used. */
static void
fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)(x >> 11);
	}
}

static uint8_t
byte_at(const uint8_t *data, size_t size, size_t i)
{
	return i < size ? data[i] : 0;
}

static void
setup(struct run *r, const uint8_t *data, size_t size)
{
	SSL *cssl;
	int tls12;

	memset(r, 0, sizeof(*r));
	r->flags = byte_at(data, size, 0);
	tls12 = (r->flags & F_TLS12) != 0;
	r->data_len = 4 * (size_t)byte_at(data, size, 1);
	r->wsize = 1 + (size_t)byte_at(data, size, 2);
	r->corrupt_off = ((size_t)byte_at(data, size, 4) << 8 | byte_at(data, size, 5)) % 2048;
	r->corrupt_kind = byte_at(data, size, 6);
	r->corrupt_val = byte_at(data, size, 7);
	r->reply_len = byte_at(data, size, 8);
	if (size > HDRLEN) {
		r->ch.p = data + HDRLEN;
		r->ch.n = size - HDRLEN;
	}
	r->data = malloc(r->data_len + 1);
	r->reply = malloc(r->reply_len + 1);
	FUZZ_CHECK(r->data != NULL && r->reply != NULL);
	fill(r->data, r->data_len, 1 + (uint32_t)r->data_len);
	fill(r->reply, r->reply_len, 7 + (uint32_t)r->reply_len);

	r->srv.is_tls = 1;
	r->srv.readsz = 1 + (size_t)byte_at(data, size, 3);
	r->srv.one_read = (r->flags & F_ONE_READ) != 0;
	r->srv.expect = r->data;
	r->srv.expect_len = r->data_len;
	r->srv.peer_closed = &r->cli.closed;
	FUZZ_CHECK(tls_start(&r->srv.t, server_ctx, &r->srv.out, NULL) == 0);
	FUZZ_CHECK(r->srv.t.ssl != NULL && r->srv.t.out == &r->srv.out && tls_unread(&r->srv.t) == 0);

	r->cli.readsz = 100;
	r->cli.expect = r->reply;
	r->cli.expect_len = r->reply_len;
	r->cli.peer_closed = &r->srv.closed;
	if (r->flags & F_CLIENT_TLS) {
		r->cli.is_tls = 1;
		FUZZ_CHECK(tls_start(&r->cli.t, client_ctx, &r->cli.out, "example.test") == 0);
		r->cli.ssl = NULL;
	} else {
		r->cli.ssl = SSL_new(client_ctx);
		r->cli.rbio = BIO_new(BIO_s_mem());
		r->cli.wbio = BIO_new(BIO_s_mem());
		FUZZ_CHECK(r->cli.ssl != NULL && r->cli.rbio != NULL && r->cli.wbio != NULL);
		SSL_set_bio(r->cli.ssl, r->cli.rbio, r->cli.wbio);
		SSL_set_connect_state(r->cli.ssl);
		FUZZ_CHECK(SSL_set_tlsext_host_name(r->cli.ssl, "example.test"));
	}
	cssl = r->cli.is_tls ? r->cli.t.ssl : r->cli.ssl;
	FUZZ_CHECK(SSL_set_max_proto_version(cssl, tls12 ? TLS1_2_VERSION : TLS1_3_VERSION));
	if (tls12)
		FUZZ_CHECK(SSL_set_strict_cipher_list(cssl, suites12[r->flags >> 5 & 3]));
}

/* The client writes its next piece (or its close_notify); returns whether it did anything. */
static int
client_step(struct run *r)
{
	size_t n;

	if (!r->cli.done || r->cli.failed)
		return 0;
	if (r->written < r->data_len) {
		n = r->data_len - r->written < r->wsize ? r->data_len - r->written : r->wsize;
		FUZZ_CHECK(peer_write(&r->cli, r->data + r->written, n) == 0);
		r->written += n;
		/* The server never reads ahead of what was written. */
		FUZZ_CHECK(buf_pending(&r->srv.got) <= r->written);
		return 1;
	}
	if ((r->flags & F_CLIENT_CLOSE) && !r->cli.closed) {
		peer_close(&r->cli);
		return 1;
	}
	return 0;
}

/* Shuttle until nothing moves. */
static void
converse(struct run *r)
{
	int iter, moved;

	pump(&r->cli);	/* the ClientHello */
	for (iter = 0; iter < 5000; iter++) {
		moved = client_step(r);
		collect(r, &r->cli, &r->c2s);
		moved |= deliver(r, &r->srv, &r->c2s);
		collect(r, &r->srv, &r->s2c);
		moved |= deliver(r, &r->cli, &r->s2c);
		if (!moved)
			return;
	}
	FUZZ_CHECK(!"the conversation ends");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct run r;
	const char *ver;

	if (!ready) {
		init_contexts();
		ready = 1;
	}
	setup(&r, data, size);
	converse(&r);

	if (!r.modified) {
		FUZZ_CHECK(r.srv.done && r.cli.done && !r.srv.failed && !r.cli.failed);
		FUZZ_CHECK(r.written == r.data_len);
		FUZZ_CHECK(buf_pending(&r.srv.got) == r.data_len);
		FUZZ_CHECK(r.srv.eof == ((r.flags & F_CLIENT_CLOSE) != 0));
		FUZZ_CHECK(tls_unread(&r.srv.t) == 0 && r.srv.t.spill.data == NULL);
		ver = tls_version(&r.srv.t);
		FUZZ_CHECK(ver != NULL && strcmp(ver, r.flags & F_TLS12 ? "TLSv1.2" : "TLSv1.3") == 0);
		if (r.flags & F_TLS12)
			FUZZ_CHECK(strcmp(tls_cipher(&r.srv.t), suites12[r.flags >> 5 & 3]) == 0);
	} else {
		/* Corrupted: a prefix (checked as it came), at most. */
		FUZZ_CHECK(buf_pending(&r.srv.got) <= r.data_len);
		FUZZ_CHECK(!r.srv.eof || buf_pending(&r.srv.got) == r.data_len);
	}

	/* The server answers and closes; the client sees all of it, then a clean close. */
	if (r.srv.done && r.cli.done && !r.srv.failed && !r.cli.failed) {
		FUZZ_CHECK(peer_write(&r.srv, r.reply, r.reply_len) == 0);
		peer_close(&r.srv);
		collect(&r, &r.srv, &r.s2c);
		deliver(&r, &r.cli, &r.s2c);
		FUZZ_CHECK(!r.cli.failed);
		FUZZ_CHECK(r.cli.eof && buf_pending(&r.cli.got) == r.reply_len);
	} else {
		/* Before the handshake, tls_close_notify() writes nothing. */
		if (!r.srv.done)
			peer_close(&r.srv);
	}

	peer_free(&r.srv);
	peer_free(&r.cli);
	buf_free(&r.c2s);
	buf_free(&r.s2c);
	free(r.data);
	free(r.reply);
	ERR_clear_error();
	return 0;
}
