/*
 * config.h - the configuration: INI parsing (inih) and validation.
 *
 * Pure apart from reading the file: certificates are checked by tls.c.
 * Every error is reported as "FILE:LINE: message". A struct config is
 * read-only once loaded and shared by all worker threads.
 */
#ifndef STARTTLSD_CONFIG_H
#define STARTTLSD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum tls_mode { TLS_MODE_STARTTLS, TLS_MODE_IMPLICIT };

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* One [listener NAME] section. */
struct listener_conf {
	char *name;			/* NAME from the section header */
	int line;			/* line of the section header */
	struct sockaddr_storage listen;	/* listen = */
	char listen_str[64];		/* listen = as written, for logs */
	int listen_line;
	struct sockaddr_storage backend;/* backend = */
	char backend_str[64];
	enum tls_mode tls;		/* tls = starttls | implicit */
	char *hostname;			/* hostname = (default: the host's name) */
	uint64_t connect_timeout_ms;	/* connect_timeout = 10s */
	uint64_t handshake_timeout_ms;	/* handshake_timeout = 30s */
	uint64_t idle_timeout_ms;	/* idle_timeout = 300s */
	uint64_t data_timeout_ms;	/* data_timeout = 600s */
	size_t max_line_length;		/* max_line_length = 512 (command line, CRLF included) */
	size_t max_reply_length;	/* max_reply_length = 64k (one whole backend reply) */
};

/* The [tls] section. */
struct tls_conf {
	int present;			/* the section exists */
	int line;			/* line of the section header */
	char *certificate;		/* certificate = PEM chain, leaf first */
	int certificate_line;
	char *key;			/* key = PEM private key */
	int key_line;
};

struct config {
	char *path;			/* file it was read from */
	int workers;			/* workers = auto | N (auto resolved to CPU count) */
	enum log_level log_level;	/* log_level = info */
	uint64_t shutdown_timeout_ms;	/* shutdown_timeout = 30s */
	struct tls_conf tls;
	struct listener_conf *listeners;
	size_t nlisteners;
};

/*
 * Parse and validate INI text; path is used only in error messages.
 * Returns a new config, or NULL with "PATH:LINE: message" in err.
 */
struct config *config_parse_string(const char *text, const char *path, char *err, size_t errlen);

/* Read the file at path and parse it with config_parse_string(). */
struct config *config_load(const char *path, char *err, size_t errlen);

/* Free a config; NULL is a no-op. */
void config_free(struct config *cfg);

/*
 * Parse a duration: a number followed by ms, s, m or h (no unit means
 * seconds). Returns 0 with milliseconds in *ms, or -1.
 */
int config_parse_duration(const char *s, uint64_t *ms);

/*
 * Parse "a.b.c.d:port" or "[ipv6]:port". Returns 0, or -1 if malformed.
 */
int config_parse_addr(const char *s, struct sockaddr_storage *ss);

/* Parse a byte size: a number with an optional k or m suffix. */
int config_parse_size(const char *s, size_t *out);

/* "starttls" / "implicit". */
const char *config_tls_mode_name(enum tls_mode mode);

#endif
