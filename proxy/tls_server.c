/*
 * tls_server.c - the server side's TLS contexts: certificates chosen by SNI
 * and key type, the [tls] policy (versions, ciphers, groups, tickets,
 * session cache, client certificates) and what it says about a peer.
 * See tls_server.h.
 */
#include "tls_server.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "tls.h"

/*
 * TLS 1.2 ciphers unless [tls] ciphers says otherwise: forward secrecy and
 * AEAD only (no CBC: LUCKY13), the server's order. TLS 1.3 suites are
 * fixed by BoringSSL and all AEAD.
 */
#define DEFAULT_CIPHERS                                                                         \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                           \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                           \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"

/* One certificate and its context. */
struct cert_ctx {
	SSL_CTX *ctx;
	int is_ec;		/* ECDSA key (else RSA or other) */
	struct tls_cert_info info;
};

/* A [tls] or [tls NAME] section: its names and certificates. */
struct cert_set {
	char **names;		/* lower-case server_names; "*.x" is a wildcard */
	size_t nnames;
	struct cert_ctx certs[4];
	size_t ncerts;
};

struct tls_server {
	struct cert_set *sets;	/* sets[0] is [tls], the default */
	size_t nsets;
	enum verify_client verify_client;	/* [tls] verify_client, re-checked on resumption */
	uint8_t policy_id[SHA256_DIGEST_LENGTH];	/* the session-ID context: hash of the client
						 * certificate policy and the CA set */
	uint8_t (*ticket_keys)[48];	/* ticket_key_file: name(16) hmac(16) aes(16) */
	size_t nticket_keys;
};

static int ex_index = -1;	/* SSL_CTX ex_data slot pointing at the tls_server */
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

static void
ex_init(void)
{
	ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
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

/* Does name (len n, any case) match pattern (lower case, maybe "*.suffix")? */
static int
name_matches(const char *pattern, const char *name, size_t n)
{
	size_t pl = strlen(pattern);

	if (pattern[0] == '*' && pattern[1] == '.') {
		const char *dot = memchr(name, '.', n);
		if (dot == NULL)
			return 0;
		return (size_t)(name + n - dot) == pl - 1 && strncasecmp(dot, pattern + 1, pl - 1) == 0;
	}
	return pl == n && strncasecmp(pattern, name, n) == 0;
}

/* The host name in a ClientHello's server_name extension, or NULL. */
static const char *
hello_sni(const SSL_CLIENT_HELLO *ch, size_t *len)
{
	const uint8_t *p;
	size_t n, l;

	if (!SSL_early_callback_ctx_extension_get(ch, TLSEXT_TYPE_server_name, &p, &n) || n < 5)
		return NULL;
	/* list length (2), type (1) = host_name (0), name length (2), name */
	if (((size_t)p[0] << 8 | p[1]) + 2 != n || p[2] != 0)
		return NULL;
	l = (size_t)p[3] << 8 | p[4];
	if (l + 5 > n || l == 0)
		return NULL;
	*len = l;
	return (const char *)p + 5;
}

/* Does the client accept ECDSA signatures (signature_algorithms)? */
static int
hello_accepts_ecdsa(const SSL_CLIENT_HELLO *ch)
{
	const uint8_t *p;
	size_t n, i;

	if (!SSL_early_callback_ctx_extension_get(ch, TLSEXT_TYPE_signature_algorithms, &p, &n) || n < 2)
		return 0;
	for (i = 2; i + 1 < n; i += 2)
		if (p[i + 1] == 0x03 && p[i] >= 0x02 && p[i] <= 0x06)	/* ecdsa_*: 0x0203 .. 0x0603 */
			return 1;
	return 0;
}

/* Early ClientHello callback: pick the section by SNI, then the key type. */
static enum ssl_select_cert_result_t
select_certificate(const SSL_CLIENT_HELLO *ch)
{
	SSL *ssl = ch->ssl;
	const struct tls_server *ts = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index);
	const struct cert_set *set = &ts->sets[0];
	const char *sni;
	size_t n = 0, i, j;
	int ec;

	if ((sni = hello_sni(ch, &n)) != NULL)
		for (i = 1; i < ts->nsets && set == &ts->sets[0]; i++)
			for (j = 0; j < ts->sets[i].nnames; j++)
				if (name_matches(ts->sets[i].names[j], sni, n)) {
					set = &ts->sets[i];
					break;
				}
	ec = hello_accepts_ecdsa(ch);
	for (i = 0; i < set->ncerts; i++)
		if (set->certs[i].is_ec == ec)
			break;
	if (i == set->ncerts)
		i = 0;	/* no certificate of the preferred type: the first one */
	if (set->certs[i].ctx != SSL_get_SSL_CTX(ssl))
		SSL_set_SSL_CTX(ssl, set->certs[i].ctx);
	return ssl_select_cert_success;
}

/* ticket_key_file: the first key seals new tickets, all keys open old ones. */
static int
ticket_key_cb(SSL *ssl, uint8_t *name, uint8_t *iv, EVP_CIPHER_CTX *cctx, HMAC_CTX *hctx, int encrypt)
{
	const struct tls_server *ts = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index);
	size_t i;

	if (encrypt) {
		const uint8_t *k = ts->ticket_keys[0];
		if (!RAND_bytes(iv, 16))
			return -1;
		memcpy(name, k, 16);
		if (!EVP_EncryptInit_ex(cctx, EVP_aes_128_cbc(), NULL, k + 32, iv) ||
		    !HMAC_Init_ex(hctx, k + 16, 16, EVP_sha256(), NULL))
			return -1;
		return 1;
	}
	for (i = 0; i < ts->nticket_keys; i++) {
		const uint8_t *k = ts->ticket_keys[i];
		if (memcmp(name, k, 16) != 0)
			continue;
		if (!HMAC_Init_ex(hctx, k + 16, 16, EVP_sha256(), NULL) ||
		    !EVP_DecryptInit_ex(cctx, EVP_aes_128_cbc(), NULL, k + 32, iv))
			return -1;
		return i == 0 ? 1 : 2;	/* 2: valid, but issue a ticket under the current key */
	}
	return 0;	/* unknown key: full handshake */
}

static int
load_ticket_keys(struct tls_server *ts, const struct config *cfg, char *err, size_t errlen)
{
	const struct tls_conf *tc = &cfg->tls;
	FILE *f;
	uint8_t buf[48 * 16 + 1];
	size_t n;

	if ((f = fopen(tc->ticket_key_file, "rb")) == NULL) {
		snprintf(err, errlen, "%s:%d: cannot read ticket_key_file %s: %s", cfg->path, tc->ticket_key_file_line,
		    tc->ticket_key_file, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n == 0 || n % 48 != 0 || n > 48 * 16) {
		snprintf(err, errlen, "%s:%d: ticket_key_file %s holds %zu bytes: it must hold 1 to 16 keys of "
		    "48 random bytes (make one with: openssl rand 48 > FILE)", cfg->path, tc->ticket_key_file_line,
		    tc->ticket_key_file, n);
		return -1;
	}
	if ((ts->ticket_keys = malloc(n)) == NULL)
		return -1;
	memcpy(ts->ticket_keys, buf, n);
	ts->nticket_keys = n / 48;
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
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

/* verify_client = optional: record the verdict (SSL_get_verify_result), never fail on it. */
static int
accept_any_cert(int preverify_ok, X509_STORE_CTX *store)
{
	(void)preverify_ok;
	(void)store;
	return 1;
}

/* Apply the [tls] policy to one context. */
static int
configure_ctx(SSL_CTX *ctx, struct tls_server *ts, const struct config *cfg, char *err, size_t errlen)
{
	const struct tls_conf *tc = &cfg->tls;
	char e[256];

	SSL_CTX_set_min_proto_version(ctx, (uint16_t)tc->min_version);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	/* A session resumes only under the policy that issued it (see policy_id). */
	SSL_CTX_set_session_id_context(ctx, ts->policy_id, sizeof(ts->policy_id));
	SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
	SSL_CTX_set_select_certificate_cb(ctx, select_certificate);
	SSL_CTX_set_ex_data(ctx, ex_index, ts);
	SSL_CTX_set_early_data_enabled(ctx, 0);
	SSL_CTX_set_num_tickets(ctx, 1);	/* one ticket per handshake is enough for SMTP */
	if (tc->session_cache_size == 0) {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	} else {
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
		SSL_CTX_sess_set_cache_size(ctx, (unsigned long)tc->session_cache_size);
	}
	SSL_CTX_set_timeout(ctx, (uint32_t)(tc->session_lifetime_ms / 1000));
	SSL_CTX_set_session_psk_dhe_timeout(ctx, (uint32_t)(tc->session_lifetime_ms / 1000));
	if (!tc->session_tickets)
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	else if (ts->nticket_keys > 0)
		SSL_CTX_set_tlsext_ticket_key_cb(ctx, ticket_key_cb);
	if (!SSL_CTX_set_strict_cipher_list(ctx, tc->ciphers ? tc->ciphers : DEFAULT_CIPHERS)) {
		snprintf(err, errlen, "%s:%d: ciphers = %s: %s", cfg->path, tc->ciphers_line, tc->ciphers,
		    tls_error(e, sizeof(e)));
		return -1;
	}
	if (tc->groups != NULL && !SSL_CTX_set1_curves_list(ctx, tc->groups)) {
		snprintf(err, errlen, "%s:%d: groups = %s: unknown group (try X25519:P-256:P-384)", cfg->path,
		    tc->groups_line, tc->groups);
		ERR_clear_error();
		return -1;
	}
	if (tc->verify_client != VERIFY_NONE) {
		STACK_OF(X509_NAME) *names;
		if (!readable(tc->ca_file, cfg->path, tc->ca_file_line, "ca_file", err, errlen))
			return -1;
		if (!SSL_CTX_load_verify_locations(ctx, tc->ca_file, NULL) ||
		    (names = SSL_load_client_CA_file(tc->ca_file)) == NULL) {
			snprintf(err, errlen, "%s:%d: ca_file %s: %s", cfg->path, tc->ca_file_line, tc->ca_file,
			    tls_error(e, sizeof(e)));
			return -1;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		if (tc->verify_client == VERIFY_REQUIRE)
			SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		else	/* optional: any certificate is welcome; the log says if it verified */
			SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_cert);
	}
	return 0;
}

/*
 * The session-ID context: SHA-256 of verify_client and the bytes of
 * ca_file. BoringSSL resumes a session (ID or ticket, TLS 1.2 and 1.3) only
 * if it was issued under the same context, so a session from before a
 * SIGHUP that tightened the policy, or from an instance with another policy
 * sharing ticket_key_file, falls back to a full handshake.
 */
static int
policy_id(const struct config *cfg, uint8_t out[SHA256_DIGEST_LENGTH], char *err, size_t errlen)
{
	const struct tls_conf *tc = &cfg->tls;
	SHA256_CTX h;
	uint8_t mode = (uint8_t)tc->verify_client, chunk[4096];
	size_t n;
	FILE *f;

	SHA256_Init(&h);
	SHA256_Update(&h, "starttlsd policy 1", 18);
	SHA256_Update(&h, &mode, 1);
	if (tc->verify_client != VERIFY_NONE) {
		if ((f = fopen(tc->ca_file, "rb")) == NULL) {
			snprintf(err, errlen, "%s:%d: cannot read ca_file %s: %s", cfg->path, tc->ca_file_line,
			    tc->ca_file, strerror(errno));
			return -1;
		}
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			SHA256_Update(&h, chunk, n);
		fclose(f);
	}
	SHA256_Final(out, &h);
	return 0;
}

/* Next space-separated word of *s into w (size wl); 0 at the end. */
static int
next_word(const char **s, char *w, size_t wl)
{
	const char *p = *s;
	size_t n = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return 0;
	while (p[n] && p[n] != ' ' && p[n] != '\t')
		n++;
	snprintf(w, wl, "%.*s", (int)n, p);
	*s = p + n;
	return 1;
}

/* What the logs and metrics say about a loaded certificate. */
static void
describe(struct tls_cert_info *in, X509 *x, EVP_PKEY *pk, const struct tls_conf *tc, const char *file)
{
	int days = 0, secs = 0;

	if (tc->name != NULL)
		snprintf(in->section, sizeof(in->section), "tls %s", tc->name);
	else
		snprintf(in->section, sizeof(in->section), "tls");
	in->type = EVP_PKEY_id(pk) == EVP_PKEY_EC ? "ecdsa" : EVP_PKEY_id(pk) == EVP_PKEY_RSA ? "rsa" : "other";
	X509_NAME_oneline(X509_get_subject_name(x), in->subject, sizeof(in->subject));
	snprintf(in->file, sizeof(in->file), "%.*s", (int)sizeof(in->file) - 1, file);
	in->line = tc->certificate_line;
	ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x));	/* from now */
	in->not_after = (int64_t)time(NULL) + (int64_t)days * 86400 + secs;
}

const struct tls_cert_info *
tls_server_cert(const struct tls_server *ts, size_t i)
{
	size_t s;

	for (s = 0; s < ts->nsets; i -= ts->sets[s].ncerts, s++)
		if (i < ts->sets[s].ncerts)
			return &ts->sets[s].certs[i].info;
	return NULL;
}

const struct tls_cert_info *
tls_server_served(SSL *ssl)
{
	const struct tls_server *ts = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index);
	const SSL_CTX *ctx = SSL_get_SSL_CTX(ssl);
	size_t s, c;

	for (s = 0; ts != NULL && s < ts->nsets; s++)
		for (c = 0; c < ts->sets[s].ncerts; c++)
			if (ts->sets[s].certs[c].ctx == ctx)
				return &ts->sets[s].certs[c].info;
	return NULL;
}

/* Load the certificates and keys of one section into set. */
static int
load_set(struct tls_server *ts, struct cert_set *set, const struct tls_conf *tc, const struct config *cfg,
    char *err, size_t errlen)
{
	const char *cp = tc->certificate, *kp = tc->key, *np = tc->server_names;
	char cert[4096], key[4096], name[256], e[256];
	SSL_CTX *ctx;
	EVP_PKEY *pk;
	X509 *x;

	while (next_word(&cp, cert, sizeof(cert)) && next_word(&kp, key, sizeof(key))) {
		if (!readable(cert, cfg->path, tc->certificate_line, "certificate", err, errlen) ||
		    !readable(key, cfg->path, tc->key_line, "key", err, errlen))
			return -1;
		if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
			return -1;
		set->certs[set->ncerts++].ctx = ctx;
		if (configure_ctx(ctx, ts, cfg, err, errlen) != 0)
			return -1;
		if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
			snprintf(err, errlen, "%s:%d: certificate %s: %s", cfg->path, tc->certificate_line, cert,
			    tls_error(e, sizeof(e)));
			return -1;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
			int r = ERR_GET_REASON(ERR_peek_error());
			if (r == X509_R_KEY_VALUES_MISMATCH || r == X509_R_KEY_TYPE_MISMATCH)
				snprintf(err, errlen, "%s:%d: key %s does not match certificate %s", cfg->path,
				    tc->key_line, key, cert);
			else
				snprintf(err, errlen, "%s:%d: key %s: %s", cfg->path, tc->key_line, key,
				    tls_error(e, sizeof(e)));
			ERR_clear_error();
			return -1;
		}
		if (SSL_CTX_check_private_key(ctx) != 1) {
			snprintf(err, errlen, "%s:%d: key %s does not match certificate %s", cfg->path, tc->key_line, key,
			    cert);
			ERR_clear_error();
			return -1;
		}
		x = SSL_CTX_get0_certificate(ctx);
		if (x != NULL && (pk = X509_get_pubkey(x)) != NULL) {
			set->certs[set->ncerts - 1].is_ec = EVP_PKEY_id(pk) == EVP_PKEY_EC;
			describe(&set->certs[set->ncerts - 1].info, x, pk, tc, cert);
			EVP_PKEY_free(pk);
		}
	}
	while (np != NULL && next_word(&np, name, sizeof(name))) {
		char **nn = realloc(set->names, (set->nnames + 1) * sizeof(*nn));
		if (nn == NULL)
			return -1;
		set->names = nn;
		for (char *c = name; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if ((set->names[set->nnames] = strdup(name)) == NULL)
			return -1;
		set->nnames++;
	}
	return 0;
}

struct tls_server *
tls_server_new(const struct config *cfg, char *err, size_t errlen)
{
	struct tls_server *ts;
	size_t i;

	pthread_once(&ex_once, ex_init);
	snprintf(err, errlen, "%s: cannot set up TLS (out of memory)", cfg->path);
	if ((ts = calloc(1, sizeof(*ts))) == NULL)
		return NULL;
	if (!cfg->tls.present)
		return ts;	/* only tls = none listeners: no certificate to serve */
	if ((ts->sets = calloc(1 + cfg->nnamed_tls, sizeof(*ts->sets))) == NULL)
		goto err;
	ts->nsets = 1 + cfg->nnamed_tls;
	ts->verify_client = cfg->tls.verify_client;
	if (policy_id(cfg, ts->policy_id, err, errlen) != 0)
		goto err;
	if (cfg->tls.ticket_key_file != NULL && cfg->tls.session_tickets &&
	    load_ticket_keys(ts, cfg, err, errlen) != 0)
		goto err;
	if (load_set(ts, &ts->sets[0], &cfg->tls, cfg, err, errlen) != 0)
		goto err;
	for (i = 0; i < cfg->nnamed_tls; i++)
		if (load_set(ts, &ts->sets[i + 1], &cfg->named_tls[i], cfg, err, errlen) != 0)
			goto err;
	return ts;
err:
	tls_server_free(ts);
	return NULL;
}

void
tls_server_free(struct tls_server *ts)
{
	size_t i, j;

	if (ts == NULL)
		return;
	for (i = 0; i < ts->nsets; i++) {
		for (j = 0; j < ts->sets[i].ncerts; j++)
			SSL_CTX_free(ts->sets[i].certs[j].ctx);
		for (j = 0; j < ts->sets[i].nnames; j++)
			free(ts->sets[i].names[j]);
		free(ts->sets[i].names);
	}
	free(ts->sets);
	if (ts->ticket_keys != NULL) {
		OPENSSL_cleanse(ts->ticket_keys, ts->nticket_keys * 48);
		free(ts->ticket_keys);
	}
	free(ts);
}

SSL_CTX *
tls_server_ctx(const struct tls_server *ts)
{
	return ts->sets[0].certs[0].ctx;
}

int
tls_server_peer_cert(SSL *ssl, struct tls_peer_cert *out)
{
	X509 *x = SSL_get_peer_certificate(ssl);
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0, k;

	memset(out, 0, sizeof(*out));
	if (x == NULL)
		return 0;
	X509_NAME_oneline(X509_get_subject_name(x), out->subject, sizeof(out->subject));
	X509_digest(x, EVP_sha256(), md, &mdlen);
	for (k = 0; k < mdlen && k < 32; k++)
		snprintf(out->sha256 + 2 * k, 3, "%02x", md[k]);
	out->verified = SSL_get_verify_result(ssl) == X509_V_OK;
	X509_free(x);
	return 1;
}

/* Verify the certificate a resumed session carries against today's CAs and clock. */
static int
reverify(SSL *ssl)
{
	X509 *leaf = SSL_get_peer_certificate(ssl);
	X509_STORE_CTX *vc = NULL;
	int ok = 0;

	if (leaf == NULL)
		return 0;
	if ((vc = X509_STORE_CTX_new()) != NULL &&
	    X509_STORE_CTX_init(vc, SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl)), leaf, SSL_get_peer_cert_chain(ssl)))
		ok = X509_verify_cert(vc) == 1;
	X509_STORE_CTX_free(vc);
	X509_free(leaf);
	ERR_clear_error();
	return ok;
}

int
tls_server_peer_allowed(SSL *ssl)
{
	const struct tls_server *ts = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_index);

	if (ts->verify_client != VERIFY_REQUIRE || !SSL_session_reused(ssl))
		return 1;	/* a full handshake enforced the policy itself */
	return reverify(ssl);
}

