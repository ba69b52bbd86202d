/* upstream_tls.c - TLS toward the backend; see upstream_tls.h. */
#include "upstream_tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/base64.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/x509.h>

/* Read "user:password" (one line; a final newline is dropped) from file into a malloc'd AUTH PLAIN blob. */
static char *
read_credentials(const char *file, const char **why)
{
	char line[1024], plain[1024];
	size_t n, ulen, plen, b64len;
	char *colon, *out = NULL;
	FILE *f;

	if ((f = fopen(file, "r")) == NULL) {
		*why = "cannot be read";
		return NULL;
	}
	n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if ((colon = strchr(line, ':')) == NULL || colon == line || colon[1] == '\0') {
		*why = "must hold user:password on one line";
		goto out;
	}
	ulen = (size_t)(colon - line);
	plen = strlen(colon + 1);
	plain[0] = '\0';	/* RFC 4616: authzid (empty) NUL authcid NUL password */
	memcpy(plain + 1, line, ulen);
	plain[1 + ulen] = '\0';
	memcpy(plain + 2 + ulen, colon + 1, plen);
	if (!EVP_EncodedLength(&b64len, 2 + ulen + plen) || (out = malloc(b64len)) == NULL) {
		*why = "out of memory";
		goto out;
	}
	EVP_EncodeBlock((uint8_t *)out, (const uint8_t *)plain, 2 + ulen + plen);
out:
	OPENSSL_cleanse(line, sizeof(line));
	OPENSSL_cleanse(plain, sizeof(plain));
	return out;
}

int
upstream_tls_load(struct upstream_tls *u, const struct listener_conf *lc, const char *path, char *err,
    size_t errlen)
{
	const char *cafile = lc->backend_ca_file != NULL ? lc->backend_ca_file : UPSTREAM_TRUST_STORE, *why;
	const char *name = lc->backend_server_name != NULL ? lc->backend_server_name : lc->backend.host;

	memset(u, 0, sizeof(*u));
	if ((u->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(u->ctx, TLS1_2_VERSION) ||
	    (name != NULL && (u->server_name = strdup(name)) == NULL)) {
		snprintf(err, errlen, "%s:%d: [listener %s]: cannot set up TLS toward the backend", path, lc->line,
		    lc->name);
		goto err;
	}
	if (lc->backend_verify) {
		SSL_CTX_set_verify(u->ctx, SSL_VERIFY_PEER, NULL);
		if (SSL_CTX_load_verify_locations(u->ctx, cafile, NULL) != 1) {
			snprintf(err, errlen, "%s:%d: backend_ca_file %s: no CA certificate could be read from it", path,
			    lc->backend_ca_file != NULL ? lc->backend_ca_file_line : lc->line, cafile);
			ERR_clear_error();
			goto err;
		}
	}
	if (lc->backend_auth != NULL && (u->auth_plain = read_credentials(lc->backend_auth, &why)) == NULL) {
		snprintf(err, errlen, "%s:%d: backend_auth %s %s", path, lc->backend_auth_line, lc->backend_auth, why);
		goto err;
	}
	return 0;
err:
	upstream_tls_free(u);
	return -1;
}

void
upstream_tls_free(struct upstream_tls *u)
{
	if (u == NULL)
		return;
	SSL_CTX_free(u->ctx);
	free(u->server_name);
	if (u->auth_plain != NULL) {
		OPENSSL_cleanse(u->auth_plain, strlen(u->auth_plain));
		free(u->auth_plain);
	}
	memset(u, 0, sizeof(*u));
}

const char *
upstream_tls_verify_error(SSL *ssl)
{
	long r = SSL_get_verify_result(ssl);

	/* INVALID_CALL: no certificate was verified (the handshake failed before that): not the cause. */
	return r == X509_V_OK || r == X509_V_ERR_INVALID_CALL ? NULL : X509_verify_cert_error_string(r);
}
