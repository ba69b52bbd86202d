/*
 * config.h - the configuration: INI parsing (inih), validation and the
 * dump of the effective configuration.
 *
 * Pure apart from reading the file: certificates are checked by tls.c.
 * Every error is reported as "FILE:LINE: message". A struct config is
 * read-only once loaded and shared by all worker threads.
 *
 * The files, from the bottom up:
 *   config_values.c  single values: durations, sizes, addresses (config_values.h)
 *   config.c         the keys: each one's setter and formatter in the table keys[], the one list of key
 *                    names; config_dump(), config_free(), config_key_find(), config_key_set()
 *   config_check.c   the checks of a whole parsed configuration, the defaults that need it (config_check.h)
 *   config_read.c    INI text to a struct config: sections, keys, defaults, line numbers;
 *                    config_parse_string(), config_load()
 */
#ifndef STARTTLSD_CONFIG_H
#define STARTTLSD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "config_values.h"
#include "netaddr.h"

/* BoringSSL never resumes a TLS session older than 7 days (RFC 8446 4.6.1). */
#define TLS_MAX_SESSION_LIFETIME_MS (7ULL * 24 * 3600 * 1000)

/* workers = 1 to this; auto is capped to it. */
#define CONFIG_MAX_WORKERS 256

enum tls_mode { TLS_MODE_STARTTLS, TLS_MODE_IMPLICIT, TLS_MODE_NONE };
enum backend_tls { BACKEND_TLS_NONE = 0, BACKEND_TLS_STARTTLS, BACKEND_TLS_IMPLICIT };

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON };
enum log_target { LOG_TARGET_STDERR = 0, LOG_TARGET_SYSLOG };

enum auth_before_tls { AUTH_HIDE = 0, AUTH_ALLOW };
enum bare_newline_conf { BARE_NORMALIZE = 0, BARE_REJECT };
enum backend_identity { IDENTITY_NONE = 0, IDENTITY_XCLIENT, IDENTITY_PROXY_V1, IDENTITY_PROXY_V2 };
enum verify_client { VERIFY_NONE = 0, VERIFY_OPTIONAL, VERIFY_REQUIRE };

/* An address, or a host name resolved when it is used. */
struct endpoint {
	struct sockaddr_storage addr;	/* the address; family 0 when it is a name */
	char *host;			/* the name, or NULL */
	uint16_t port;			/* 0 where there is none (source_address) */
};

/* One [listener NAME] section. */
struct listener_conf {
	char *name;			/* NAME from the section header */
	int line;			/* line of the section header */
	struct sockaddr_storage listen;	/* listen = */
	char listen_str[64];		/* listen = as written, for logs */
	int listen_line;
	struct endpoint backend;	/* backend = address:port or name:port */
	char backend_str[64];		/* backend = as written, for logs */
	int backend_line;
	enum tls_mode tls;		/* tls = starttls | implicit | none (none: only with allow) */
	char *hostname;			/* hostname = (default: the host's name) */
	uint64_t connect_timeout_ms;	/* connect_timeout = 10s */
	uint64_t handshake_timeout_ms;	/* handshake_timeout = 30s */
	uint64_t idle_timeout_ms;	/* idle_timeout = 300s */
	uint64_t data_timeout_ms;	/* data_timeout = 600s */
	size_t max_line_length;		/* max_line_length = 512 (command line, CRLF included) */
	size_t max_reply_length;	/* max_reply_length = 64k (one whole backend reply) */
	size_t max_data_line_length;	/* max_data_line_length = 1000 (DATA text line, CRLF incl.; 80..1000) */
	uint64_t session_timeout_ms;	/* session_timeout = 1h (whole session deadline; 0 = none) */

	/* Policy (issue: security). */
	int require_tls;		/* require_tls = no */
	enum auth_before_tls auth_before_tls;	/* auth_before_tls = hide */
	enum bare_newline_conf bare_newline;	/* bare_newline = normalize */
	unsigned max_errors;		/* max_errors = 20 */
	unsigned max_connections_per_ip;/* max_connections_per_ip = 50 (0 = no limit) */

	/* The client's identity towards the backend. */
	enum backend_identity backend_identity;	/* backend_identity = none */
	struct endpoint source_address;	/* source_address = address or name (neither: unset) */
	int source_address_line;
	int add_received;		/* add_received = no */
	int accept_proxy;		/* accept_proxy = no: inbound PROXY header */
	char *proxy_trusted;		/* proxy_trusted = CIDR list (required with accept_proxy) */
	int proxy_trusted_line;
	struct cidr_list trusted;	/* proxy_trusted, parsed */

	/* Who may connect at all. */
	char *allow;			/* allow = CIDR list (unset: anyone) */
	int allow_line;
	struct cidr_list allowed;	/* allow, parsed */

	/* TLS toward the backend (outbound: a legacy sender to a modern relay). */
	enum backend_tls backend_tls;	/* backend_tls = none | starttls | implicit */
	int backend_verify;		/* backend_verify = yes: trust store + name */
	char *backend_ca_file;		/* backend_ca_file = PEM CAs to trust instead of the system's */
	int backend_ca_file_line;
	char *backend_server_name;	/* backend_server_name = SNI and the name verified (default: backend's host) */
	char *backend_auth;		/* backend_auth = file with "user:password" (read by the master) */
	int backend_auth_line;
};

/*
 * The [tls] section (the default certificate and all TLS policy), and each
 * [tls NAME] section (a certificate chosen by SNI; only certificate, key
 * and server_names are allowed there).
 */
struct tls_conf {
	int present;			/* the section exists */
	int line;			/* line of the section header */
	char *name;			/* NAME of [tls NAME]; NULL for [tls] */
	char *certificate;		/* certificate = PEM chain(s), leaf first; several space-separated */
	int certificate_line;
	char *key;			/* key = PEM private key(s), one per certificate, same order */
	int key_line;
	char *server_names;		/* server_names = a.example b.example ([tls NAME] only) */
	int server_names_line;
	/* Policy: [tls] only. */
	int min_version;		/* min_version = 1.2 -> 0x0303; 1.3 -> 0x0304 */
	char *ciphers;			/* ciphers = TLS 1.2 cipher list (BoringSSL syntax) */
	int ciphers_line;
	char *groups;			/* groups = X25519:P-256:P-384 */
	int groups_line;
	int session_tickets;		/* session_tickets = yes */
	char *ticket_key_file;		/* ticket_key_file = path: shared keys, 48 bytes each */
	int ticket_key_file_line;
	size_t session_cache_size;	/* session_cache_size = 20480 (0 = no cache) */
	uint64_t session_lifetime_ms;	/* session_lifetime = 2h (1s..7d) */
	int session_lifetime_line;
	enum verify_client verify_client;	/* verify_client = none */
	char *ca_file;			/* ca_file = PEM CAs for client certificates */
	int ca_file_line;
	int watch;			/* watch = no: reload when a certificate or key file changes */
};

struct config {
	char *path;			/* file it was read from */
	int workers;			/* workers = auto | N (auto resolved to CPU count) */
	int workers_auto;		/* workers came from auto (the default) */
	enum log_level log_level;	/* log_level = info */
	enum log_format log_format;	/* log_format = text | json */
	enum log_target log_target;	/* log_target = stderr | syslog */
	char *syslog_socket;		/* syslog_socket = /dev/log */
	struct sockaddr_storage metrics;	/* metrics = address:port (family 0: off) */
	char metrics_str[64];		/* metrics = as written */
	int metrics_line;
	uint64_t shutdown_timeout_ms;	/* shutdown_timeout = 30s */
	unsigned max_connections;	/* max_connections = 10000 (all listeners, 0 = no limit) */
	char *user;			/* user = switch to this user after binding */
	char *group;			/* group = (default: the user's group) */
	char *chroot;			/* chroot = directory to chroot into after loading keys */
	int allow_root;			/* allow_root = no: refuse to run as root without user */
	struct tls_conf tls;		/* [tls] */
	struct tls_conf *named_tls;	/* [tls NAME] sections */
	size_t nnamed_tls;
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
 * Print cfg as INI text, every key of every section in the order of the
 * key table, defaults filled in (starttlsd -T): a configuration that parses
 * to the same values. An unset key is a "; key =" comment. Returns 0, or
 * -1 if writing failed.
 */
int config_dump(const struct config *cfg, FILE *f);

/* "starttls" / "implicit". */
const char *config_tls_mode_name(enum tls_mode mode);

/* Between the reader (config_read.c) and the key table (config.c). */

/* The kinds of section; the key table keeps a mask of them per key. */
enum config_section { CONFIG_SEC_NONE, CONFIG_SEC_GLOBAL, CONFIG_SEC_TLS, CONFIG_SEC_TLS_NAMED, CONFIG_SEC_LISTENER };

/* The key table has at most this many keys (a reader tracks them in a 64-bit mask). */
#define CONFIG_MAX_KEYS 64

/* The index of key name in the table if it is allowed in a section of kind sec, else -1. */
int config_key_find(enum config_section sec, const char *name);

/*
 * Set the key at index i (from config_key_find()) to value in the section
 * struct at base (struct config, tls_conf or listener_conf); where the key
 * keeps its line, line goes there. Returns 0, or -1 with why set.
 */
int config_key_set(int i, void *base, const char *value, int line, const char **why);

#endif
