/*
 * fuzz_config.c - libFuzzer driver for proxy/config.c: the input as a
 * NUL-terminated INI text through config_parse_string(); a parsed config is
 * checked for the guarantees validate() gives, an error for its
 * "PATH:LINE: message" form. The value parsers get the text as well.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "config_values.h"
#include "fuzz_check.h"

#define FUZZ_PATH "fuzz.ini"

static void
check_error(const char *err, size_t errlen, const char *text)
{
	const char *q;
	long line, nlines = 1;

	FUZZ_CHECK(memchr(err, '\0', errlen) != NULL);
	FUZZ_CHECK(strncmp(err, FUZZ_PATH ":", strlen(FUZZ_PATH ":")) == 0);
	q = err + strlen(FUZZ_PATH ":");
	FUZZ_CHECK(*q >= '0' && *q <= '9');
	line = strtol(q, (char **)&q, 10);
	FUZZ_CHECK(q[0] == ':' && q[1] == ' ' && q[2] != '\0');
	for (const char *t = text; *t; t++)
		nlines += *t == '\n';
	FUZZ_CHECK(line >= 0 && line <= nlines);
}

static void
check_config(const struct config *cfg)
{
	size_t i, j;

	FUZZ_CHECK(strcmp(cfg->path, FUZZ_PATH) == 0);
	FUZZ_CHECK(cfg->workers >= 1 && cfg->workers <= 256);
	FUZZ_CHECK(cfg->log_level >= LOG_ERROR && cfg->log_level <= LOG_DEBUG);
	FUZZ_CHECK(cfg->nlisteners >= 1 && cfg->listeners != NULL);
	FUZZ_CHECK(cfg->tls.present && cfg->tls.certificate != NULL && cfg->tls.key != NULL);
	FUZZ_CHECK(cfg->tls.certificate[0] != '\0' && cfg->tls.key[0] != '\0');
	for (i = 0; i < cfg->nlisteners; i++) {
		const struct listener_conf *l = &cfg->listeners[i];
		FUZZ_CHECK(l->name != NULL && l->name[0] != '\0');
		FUZZ_CHECK(l->hostname != NULL && l->hostname[0] != '\0');
		FUZZ_CHECK(l->listen.ss_family == AF_INET || l->listen.ss_family == AF_INET6);
		FUZZ_CHECK((l->backend.host != NULL) != (l->backend.addr.ss_family == AF_INET ||
		    l->backend.addr.ss_family == AF_INET6));
		FUZZ_CHECK(l->backend.host == NULL || config_valid_hostname(l->backend.host));
		FUZZ_CHECK(l->backend.port != 0);
		FUZZ_CHECK(l->tls == TLS_MODE_STARTTLS || l->tls == TLS_MODE_IMPLICIT);
		FUZZ_CHECK(l->max_line_length >= 64 && l->max_line_length <= 1024 * 1024);
		FUZZ_CHECK(l->max_reply_length >= 64 && l->max_reply_length <= 1024 * 1024);
		FUZZ_CHECK(memchr(l->listen_str, '\0', sizeof(l->listen_str)) != NULL);
		FUZZ_CHECK(memchr(l->backend_str, '\0', sizeof(l->backend_str)) != NULL);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(l->name, cfg->listeners[j].name) != 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	char err[256];
	struct config *cfg;
	struct sockaddr_storage ss;
	uint64_t ms;
	size_t n;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	memset(err, 'X', sizeof(err));
	cfg = config_parse_string(text, FUZZ_PATH, err, sizeof(err));
	if (cfg == NULL)
		check_error(err, sizeof(err), text);
	else
		check_config(cfg);
	config_free(cfg);

	/* A tiny error buffer must still be NUL-terminated and not overflow. */
	memset(err, 'X', sizeof(err));
	cfg = config_parse_string(text, FUZZ_PATH, err, 12);
	if (cfg == NULL)
		FUZZ_CHECK(memchr(err, '\0', 12) != NULL);
	FUZZ_CHECK(err[12] == 'X');
	config_free(cfg);

	/* The value parsers on the raw text. */
	if (config_parse_duration(text, &ms) == 0)
		FUZZ_CHECK(text[0] >= '0' && text[0] <= '9');
	if (config_parse_size(text, &n) == 0)
		FUZZ_CHECK(text[0] >= '0' && text[0] <= '9');
	if (config_parse_addr(text, &ss) == 0)
		FUZZ_CHECK(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);

	free(text);
	return 0;
}
