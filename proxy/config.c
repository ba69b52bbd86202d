/*
 * config.c - the keys: each one's setter and formatter in the table keys[],
 * the one list of the keys the parser accepts; the dump of a configuration
 * made from that table (config_dump()), and config_free(). See config.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bit masks of the sections a key may appear in. */
#define IN_GLOBAL (1u << CONFIG_SEC_GLOBAL)
#define IN_TLS (1u << CONFIG_SEC_TLS)
#define IN_TLS_NAMED (1u << CONFIG_SEC_TLS_NAMED)
#define IN_LISTENER (1u << CONFIG_SEC_LISTENER)

/* The names of the values of the enumerated keys, in the order of their enums. */
static const char *const log_level_names[] = { "error", "warn", "info", "debug", NULL };
static const char *const log_format_names[] = { "text", "json", NULL };
static const char *const log_target_names[] = { "stderr", "syslog", NULL };
static const char *const auth_names[] = { "hide", "allow", NULL };
static const char *const bare_newline_names[] = { "normalize", "reject", NULL };
static const char *const identity_names[] = { "none", "xclient", "proxy_v1", "proxy_v2", NULL };
static const char *const verify_client_names[] = { "none", "optional", "require", NULL };
static const char *const tls_mode_names[] = { "starttls", "implicit", "none", NULL };
static const char *const backend_tls_names[] = { "none", "starttls", "implicit", NULL };

const char *
config_tls_mode_name(enum tls_mode mode)
{
	return tls_mode_names[mode];
}

/* Value setters: return 0 on success or -1 with a message in why. */
typedef int setter_fn(void *field, const char *v, const char **why);

static int
set_string(void *field, const char *v, const char **why)
{
	char **dst = field;

	if (*v == '\0') {
		*why = "must not be empty";
		return -1;
	}
	free(*dst);
	if ((*dst = strdup(v)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	return 0;
}

static int
set_duration(void *field, const char *v, const char **why)
{
	if (config_parse_duration(v, field) != 0) {
		*why = "is not a duration (examples: 500ms, 30s, 5m, 1h, 7d)";
		return -1;
	}
	return 0;
}

/* A deadline: a duration that is not zero (0 would expire at once). */
static int
set_timeout(void *field, const char *v, const char **why)
{
	if (set_duration(field, v, why) != 0)
		return -1;
	if (*(uint64_t *)field == 0) {
		*why = "must be more than 0 (a deadline of 0 expires at once)";
		return -1;
	}
	return 0;
}

/* How long TLS sessions may be resumed: BoringSSL keeps them at most 7 days. */
static int
set_session_lifetime(void *field, const char *v, const char **why)
{
	uint64_t ms;

	if (set_duration(&ms, v, why) != 0)
		return -1;
	if (ms < 1000 || ms > TLS_MAX_SESSION_LIFETIME_MS) {
		*why = "must be from 1s to 7d (168h): BoringSSL never resumes a session older than 7 days "
		    "(RFC 8446 4.6.1); to turn resumption off, set session_tickets = no and session_cache_size = 0";
		return -1;
	}
	*(uint64_t *)field = ms;
	return 0;
}

static int
set_line_length(void *field, const char *v, const char **why)
{
	size_t n;

	if (config_parse_size(v, &n) != 0 || n < 64 || n > 32 * 1024) {
		*why = "must be a size from 64 to 32k (bytes, k suffix)";
		return -1;
	}
	*(size_t *)field = n;
	return 0;
}

static int
set_addr(void *field, const char *v, const char **why)
{
	if (strlen(v) >= 64 || config_parse_addr(v, field) != 0) {
		*why = "is not an address (a.b.c.d:port or [ipv6]:port)";
		return -1;
	}
	return 0;
}

/* backend = address:port or name:port */
static int
set_backend(void *field, const char *v, const char **why)
{
	struct endpoint *e = field;
	char host[254];

	if (strlen(v) >= 64 || config_parse_hostport(v, host, sizeof(host), &e->port, &e->addr) != 0) {
		*why = "is not an address or host name with a port (a.b.c.d:port, [ipv6]:port, name:port)";
		return -1;
	}
	free(e->host);
	e->host = NULL;
	if (host[0] != '\0' && (e->host = strdup(host)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	return 0;
}

static int
set_workers(void *field, const char *v, const char **why)
{
	char *end;
	long n;

	if (strcmp(v, "auto") == 0) {
		*(int *)field = 0;
		return 0;
	}
	n = strtol(v, &end, 10);
	if (*end != '\0' || n < 1 || n > CONFIG_MAX_WORKERS) {
		*why = "must be auto or a number from 1 to 256";
		return -1;
	}
	*(int *)field = (int)n;
	return 0;
}



static int
set_yesno(void *field, const char *v, const char **why)
{
	if (strcmp(v, "yes") == 0)
		*(int *)field = 1;
	else if (strcmp(v, "no") == 0)
		*(int *)field = 0;
	else {
		*why = "must be yes or no";
		return -1;
	}
	return 0;
}

/* Match v against names[] and store its index as an int-sized enum. */
static int
set_choice(void *field, const char *v, const char *const *names, const char **why, const char *msg)
{
	int i;

	for (i = 0; names[i] != NULL; i++) {
		if (strcmp(v, names[i]) == 0) {
			*(int *)field = i;
			return 0;
		}
	}
	*why = msg;
	return -1;
}

static int
set_log_level(void *field, const char *v, const char **why)
{
	return set_choice(field, v, log_level_names, why, "must be error, warn, info or debug");
}

static int
set_auth_before_tls(void *field, const char *v, const char **why)
{
	return set_choice(field, v, auth_names, why, "must be hide or allow");
}

static int
set_bare_newline(void *field, const char *v, const char **why)
{
	return set_choice(field, v, bare_newline_names, why, "must be normalize or reject");
}

static int
set_tls_mode(void *field, const char *v, const char **why)
{
	return set_choice(field, v, tls_mode_names, why, "must be starttls, implicit or none");
}

static int
set_backend_tls(void *field, const char *v, const char **why)
{
	return set_choice(field, v, backend_tls_names, why, "must be none, starttls or implicit");
}

static int
set_identity(void *field, const char *v, const char **why)
{
	return set_choice(field, v, identity_names, why, "must be none, xclient, proxy_v1 or proxy_v2");
}

static int
set_log_format(void *field, const char *v, const char **why)
{
	return set_choice(field, v, log_format_names, why, "must be text or json");
}

static int
set_log_target(void *field, const char *v, const char **why)
{
	return set_choice(field, v, log_target_names, why, "must be stderr or syslog");
}

static int
set_verify_client(void *field, const char *v, const char **why)
{
	return set_choice(field, v, verify_client_names, why, "must be none, optional or require");
}

static int
set_tls_version(void *field, const char *v, const char **why)
{
	if (strcmp(v, "1.2") == 0)
		*(int *)field = 0x0303;
	else if (strcmp(v, "1.3") == 0)
		*(int *)field = 0x0304;
	else {
		*why = "must be 1.2 or 1.3";
		return -1;
	}
	return 0;
}

static int
set_count(void *field, const char *v, const char **why)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 || n > 10000000) {
		*why = "must be a whole number (0 to 10000000)";
		return -1;
	}
	*(unsigned *)field = (unsigned)n;
	return 0;
}

static int
set_size(void *field, const char *v, const char **why)
{
	if (config_parse_size(v, field) != 0) {
		*why = "must be a number (k or m suffix allowed)";
		return -1;
	}
	return 0;
}

static int
set_reply_length(void *field, const char *v, const char **why)
{
	size_t n;

	if (config_parse_size(v, &n) != 0 || n < 512 || n > 1024 * 1024) {
		*why = "must be a size from 512 to 1m (bytes, k or m suffix)";
		return -1;
	}
	*(size_t *)field = n;
	return 0;
}

static int
set_data_line_length(void *field, const char *v, const char **why)
{
	size_t n;

	if (config_parse_size(v, &n) != 0 || n < 80 || n > 1000) {
		*why = "must be from 80 to 1000 (bytes, CRLF included; RFC 5321 4.5.3.1.6): a backend that wraps "
		    "longer lines at 998 or 1000 octets could turn a line's tail into an end of data the client "
		    "never sent (SMTP smuggling)";
		return -1;
	}
	*(size_t *)field = n;
	return 0;
}

/* An IP address without a port: a.b.c.d, ipv6 or [ipv6]. */
static int
set_ip(void *field, const char *v, const char **why)
{
	struct sockaddr_storage *ss = field;
	char host[64];
	size_t n = strlen(v);

	memset(ss, 0, sizeof(*ss));
	if (n >= sizeof(host))
		goto bad;
	if (v[0] == '[' && n > 2 && v[n - 1] == ']') {
		memcpy(host, v + 1, n - 2);
		host[n - 2] = '\0';
	} else {
		memcpy(host, v, n + 1);
	}
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		ss->ss_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		ss->ss_family = AF_INET6;
		return 0;
	}
bad:
	*why = "is not an IP address";
	return -1;
}

/* source_address = an IP address, or a host name (resolved when the configuration is loaded). */
static int
set_source(void *field, const char *v, const char **why)
{
	struct endpoint *e = field;

	free(e->host);
	e->host = NULL;
	if (set_ip(&e->addr, v, why) == 0)
		return 0;
	if (strlen(v) > 253 || !config_valid_hostname(v)) {
		*why = "is not an IP address or a host name";
		return -1;
	}
	if ((e->host = strdup(v)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	return 0;
}

/* What a formatter makes besides the value it points to. */
struct shown {
	char value[80];		/* room for a value it writes: a number, an address */
	char note[120];		/* a remark, printed as a comment before the key; "" for none */
};

/*
 * Value formatters, the reverse of the setters: the value of the key whose
 * field is at off in the section struct at sec, as its setter takes it (in
 * s->value or where the section keeps it), or NULL when the key is unset.
 */
typedef const char *format_fn(const void *sec, size_t off, struct shown *s);

static const void *
field_at(const void *sec, size_t off)
{
	return (const char *)sec + off;
}

static const char *
fmt_string(const void *sec, size_t off, struct shown *s)
{
	(void)s;
	return *(char *const *)field_at(sec, off);
}

/* In the largest unit that shows it exactly: 0s, 500ms, 30s, 5m, 2h, 7d. */
static const char *
fmt_duration(const void *sec, size_t off, struct shown *s)
{
	static const struct {
		uint64_t ms;
		const char *unit;
	} units[] = { { 24 * 3600 * 1000, "d" }, { 3600 * 1000, "h" }, { 60 * 1000, "m" }, { 1000, "s" }, { 1, "ms" } };
	uint64_t ms = *(const uint64_t *)field_at(sec, off);
	size_t i;

	if (ms == 0)
		return "0s";
	for (i = 0; ms % units[i].ms != 0; i++)
		continue;
	snprintf(s->value, sizeof(s->value), "%llu%s", (unsigned long long)(ms / units[i].ms), units[i].unit);
	return s->value;
}

/* With an m or k suffix where it is exact: 20k, 1m, 1000. */
static const char *
fmt_size(const void *sec, size_t off, struct shown *s)
{
	size_t n = *(const size_t *)field_at(sec, off);

	if (n != 0 && n % (1024 * 1024) == 0)
		snprintf(s->value, sizeof(s->value), "%zum", n / (1024 * 1024));
	else if (n != 0 && n % 1024 == 0)
		snprintf(s->value, sizeof(s->value), "%zuk", n / 1024);
	else
		snprintf(s->value, sizeof(s->value), "%zu", n);
	return s->value;
}

static const char *
fmt_count(const void *sec, size_t off, struct shown *s)
{
	snprintf(s->value, sizeof(s->value), "%u", *(const unsigned *)field_at(sec, off));
	return s->value;
}

/* The number of workers; where it came from auto, a note says so. */
static const char *
fmt_workers(const void *sec, size_t off, struct shown *s)
{
	int n = *(const int *)field_at(sec, off);

	if (n == 0)	/* not resolved yet */
		return "auto";
	if (((const struct config *)sec)->workers_auto)
		snprintf(s->note, sizeof(s->note), "workers = auto: %d, the CPUs this process may use", n);
	snprintf(s->value, sizeof(s->value), "%d", n);
	return s->value;
}

static const char *
fmt_yesno(const void *sec, size_t off, struct shown *s)
{
	(void)s;
	return *(const int *)field_at(sec, off) ? "yes" : "no";
}

/* An int-sized enum by its name in names[]. */
static const char *
show_choice(const void *sec, size_t off, const char *const *names)
{
	return names[*(const int *)field_at(sec, off)];
}

static const char *
fmt_log_level(const void *sec, size_t off, struct shown *s)
{
	(void)s;
	return show_choice(sec, off, log_level_names);
}

static const char *
fmt_log_format(const void *sec, size_t off, struct shown *s)
{
	(void)s;
	return show_choice(sec, off, log_format_names);
}

static const char *
fmt_log_target(const void *sec, size_t off, struct shown *s)
{
	(void)s;
	return show_choice(sec, off, log_target_names);
}

static const char *
fmt_auth_before_tls(const void *sec, size_t off, struct shown *s)
{
	(void)s;
	return show_choice(sec, off, auth_names);
}

static const char *
fmt_bare_newline(const void *sec, size_t off, struct shown *s)
{
	(void)s;
	return show_choice(sec, off, bare_newline_names);
}

static const char *
fmt_identity(const void *sec, size_t off, struct shown *s)
{
	(void)s;
	return show_choice(sec, off, identity_names);
}

static const char *
fmt_backend_tls(const void *sec, size_t off, struct shown *s)
{
	(void)s;
	return show_choice(sec, off, backend_tls_names);
}

static const char *
fmt_verify_client(const void *sec, size_t off, struct shown *s)
{
	(void)s;
	return show_choice(sec, off, verify_client_names);
}

static const char *
fmt_tls_mode(const void *sec, size_t off, struct shown *s)
{
	(void)s;
	return config_tls_mode_name(*(const enum tls_mode *)field_at(sec, off));
}

static const char *
fmt_tls_version(const void *sec, size_t off, struct shown *s)
{
	(void)s;
	return *(const int *)field_at(sec, off) == 0x0304 ? "1.3" : "1.2";
}

/* listen = as written. */
static const char *
fmt_listen(const void *sec, size_t off, struct shown *s)
{
	(void)off;
	(void)s;
	return ((const struct listener_conf *)sec)->listen_str;
}

/* backend = as written. */
static const char *
fmt_backend(const void *sec, size_t off, struct shown *s)
{
	(void)off;
	(void)s;
	return ((const struct listener_conf *)sec)->backend_str;
}

/* metrics = as written, or unset. */
static const char *
fmt_metrics(const void *sec, size_t off, struct shown *s)
{
	const struct config *cfg = sec;

	(void)off;
	(void)s;
	return cfg->metrics.ss_family != 0 ? cfg->metrics_str : NULL;
}

/* source_address = the host name, or the address (a name resolved at load shows as the name). */
static const char *
fmt_source(const void *sec, size_t off, struct shown *s)
{
	const struct endpoint *e = field_at(sec, off);
	const void *a;

	if (e->host != NULL)
		return e->host;
	if (e->addr.ss_family == 0)
		return NULL;
	a = e->addr.ss_family == AF_INET ? (const void *)&((const struct sockaddr_in *)&e->addr)->sin_addr
	                                 : (const void *)&((const struct sockaddr_in6 *)&e->addr)->sin6_addr;
	return inet_ntop(e->addr.ss_family, a, s->value, sizeof(s->value));
}

/*
 * Every key: the sections it may appear in, its name, setter, formatter and
 * where it goes. The dump shows the keys of a section in this order.
 */
static const struct key {
	unsigned in;		/* IN_* mask */
	const char *name;
	setter_fn *set;
	format_fn *fmt;
	size_t off;		/* offset in struct config / tls_conf / listener_conf */
	size_t line_off;	/* offset of an int recording the line, or 0 */
} keys[] = {
#define G(name, set, fmt, field) { IN_GLOBAL, name, set, fmt, offsetof(struct config, field), 0 }
#define T(in, name, set, fmt, field, line) { in, name, set, fmt, offsetof(struct tls_conf, field), line }
#define TL(field) offsetof(struct tls_conf, field)
#define L(name, set, fmt, field) { IN_LISTENER, name, set, fmt, offsetof(struct listener_conf, field), 0 }
#define LL(name, set, fmt, field) { IN_LISTENER, name, set, fmt, offsetof(struct listener_conf, field), \
	  offsetof(struct listener_conf, field##_line) }
	G("workers", set_workers, fmt_workers, workers),
	G("log_level", set_log_level, fmt_log_level, log_level),
	G("log_format", set_log_format, fmt_log_format, log_format),
	G("log_target", set_log_target, fmt_log_target, log_target),
	G("syslog_socket", set_string, fmt_string, syslog_socket),
	{ IN_GLOBAL, "metrics", set_addr, fmt_metrics, offsetof(struct config, metrics),
	  offsetof(struct config, metrics_line) },
	G("shutdown_timeout", set_duration, fmt_duration, shutdown_timeout_ms),
	G("max_connections", set_count, fmt_count, max_connections),
	G("user", set_string, fmt_string, user),
	G("group", set_string, fmt_string, group),
	G("chroot", set_string, fmt_string, chroot),
	G("allow_root", set_yesno, fmt_yesno, allow_root),
	T(IN_TLS | IN_TLS_NAMED, "certificate", set_string, fmt_string, certificate, TL(certificate_line)),
	T(IN_TLS | IN_TLS_NAMED, "key", set_string, fmt_string, key, TL(key_line)),
	T(IN_TLS_NAMED, "server_names", set_string, fmt_string, server_names, TL(server_names_line)),
	T(IN_TLS, "min_version", set_tls_version, fmt_tls_version, min_version, 0),
	T(IN_TLS, "ciphers", set_string, fmt_string, ciphers, TL(ciphers_line)),
	T(IN_TLS, "groups", set_string, fmt_string, groups, TL(groups_line)),
	T(IN_TLS, "session_tickets", set_yesno, fmt_yesno, session_tickets, 0),
	T(IN_TLS, "ticket_key_file", set_string, fmt_string, ticket_key_file, TL(ticket_key_file_line)),
	T(IN_TLS, "session_cache_size", set_size, fmt_size, session_cache_size, 0),
	T(IN_TLS, "session_lifetime", set_session_lifetime, fmt_duration, session_lifetime_ms,
	    TL(session_lifetime_line)),
	T(IN_TLS, "verify_client", set_verify_client, fmt_verify_client, verify_client, 0),
	T(IN_TLS, "ca_file", set_string, fmt_string, ca_file, TL(ca_file_line)),
	T(IN_TLS, "watch", set_yesno, fmt_yesno, watch, 0),
	LL("listen", set_addr, fmt_listen, listen),
	LL("backend", set_backend, fmt_backend, backend),
	L("tls", set_tls_mode, fmt_tls_mode, tls),
	L("hostname", set_string, fmt_string, hostname),
	L("connect_timeout", set_timeout, fmt_duration, connect_timeout_ms),
	L("handshake_timeout", set_timeout, fmt_duration, handshake_timeout_ms),
	L("idle_timeout", set_timeout, fmt_duration, idle_timeout_ms),
	L("data_timeout", set_timeout, fmt_duration, data_timeout_ms),
	L("session_timeout", set_duration, fmt_duration, session_timeout_ms),
	L("max_line_length", set_line_length, fmt_size, max_line_length),
	L("max_reply_length", set_reply_length, fmt_size, max_reply_length),
	L("max_data_line_length", set_data_line_length, fmt_size, max_data_line_length),
	L("require_tls", set_yesno, fmt_yesno, require_tls),
	L("auth_before_tls", set_auth_before_tls, fmt_auth_before_tls, auth_before_tls),
	L("bare_newline", set_bare_newline, fmt_bare_newline, bare_newline),
	L("max_errors", set_count, fmt_count, max_errors),
	L("max_connections_per_ip", set_count, fmt_count, max_connections_per_ip),
	L("backend_identity", set_identity, fmt_identity, backend_identity),
	LL("source_address", set_source, fmt_source, source_address),
	L("add_received", set_yesno, fmt_yesno, add_received),
	L("accept_proxy", set_yesno, fmt_yesno, accept_proxy),
	LL("proxy_trusted", set_string, fmt_string, proxy_trusted),
	LL("allow", set_string, fmt_string, allow),
	L("backend_tls", set_backend_tls, fmt_backend_tls, backend_tls),
	L("backend_verify", set_yesno, fmt_yesno, backend_verify),
	LL("backend_ca_file", set_string, fmt_string, backend_ca_file),
	L("backend_server_name", set_string, fmt_string, backend_server_name),
	LL("backend_auth", set_string, fmt_string, backend_auth),
#undef G
#undef T
#undef TL
#undef L
#undef LL
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))
_Static_assert(NKEYS <= CONFIG_MAX_KEYS, "config_read.c tracks the keys set in a section in a 64-bit mask");

int
config_key_find(enum config_section sec, const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if ((keys[i].in & (1u << sec)) && strcmp(keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

int
config_key_set(int i, void *base, const char *value, int line, const char **why)
{
	const struct key *k = &keys[i];

	if (k->set((char *)base + k->off, value, why) != 0)
		return -1;
	if (k->line_off)
		*(int *)((char *)base + k->line_off) = line;
	return 0;
}

/* The longest line the reader takes (inih's buffer holds it, its newline and a NUL). */
static size_t
line_max(void)
{
	return (size_t)ini_max_line - 2;
}

/*
 * One key as "key = value". Without the spaces where a value starting with
 * ';' would become a comment, or where the line would be too long.
 */
static void
dump_value(FILE *f, const char *name, const char *v)
{
	int tight = v[0] == ';' || strlen(name) + strlen(v) + 3 > line_max();

	fprintf(f, "%s%s%s\n", name, tight ? "=" : " = ", v);
}

/* Every key allowed in a section of kind sec, in table order; base is its struct. */
static void
dump_keys(FILE *f, enum config_section sec, const void *base)
{
	struct shown s;
	const char *v;
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (!(keys[i].in & (1u << sec)))
			continue;
		s.note[0] = '\0';
		v = keys[i].fmt(base, keys[i].off, &s);
		if (s.note[0] != '\0')
			fprintf(f, "; %s\n", s.note);
		if (v == NULL)
			fprintf(f, "; %s =\n", keys[i].name);
		else
			dump_value(f, keys[i].name, v);
	}
}

/* "; PATH: ..." with control characters as '?', its start cut to keep the line short enough to read back. */
static void
dump_header(FILE *f, const char *path)
{
	static const char what[] = ": the effective configuration (starttlsd -T), every default filled in";
	size_t room = line_max() - 2 - (sizeof(what) - 1), n = strlen(path);
	const char *p = path;

	if (n > room) {
		p = path + n - (room - 3);
		fputs("; ...", f);
	} else
		fputs("; ", f);
	for (; *p != '\0'; p++)
		fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p, f);
	fprintf(f, "%s\n", what);
}

int
config_dump(const struct config *cfg, FILE *f)
{
	size_t i;

	dump_header(f, cfg->path);
	fprintf(f, "\n[global]\n");
	dump_keys(f, CONFIG_SEC_GLOBAL, cfg);
	if (cfg->tls.present) {
		fprintf(f, "\n[tls]\n");
		dump_keys(f, CONFIG_SEC_TLS, &cfg->tls);
	}
	for (i = 0; i < cfg->nnamed_tls; i++) {
		fprintf(f, "\n[tls %s]\n", cfg->named_tls[i].name);
		dump_keys(f, CONFIG_SEC_TLS_NAMED, &cfg->named_tls[i]);
	}
	for (i = 0; i < cfg->nlisteners; i++) {
		fprintf(f, "\n[listener %s]\n", cfg->listeners[i].name);
		dump_keys(f, CONFIG_SEC_LISTENER, &cfg->listeners[i]);
	}
	return fflush(f) != 0 || ferror(f) ? -1 : 0;
}

static void
tls_conf_free(struct tls_conf *tc)
{
	free(tc->name);
	free(tc->certificate);
	free(tc->key);
	free(tc->server_names);
	free(tc->ciphers);
	free(tc->groups);
	free(tc->ticket_key_file);
	free(tc->ca_file);
}

void
config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->nlisteners; i++) {
		free(cfg->listeners[i].name);
		free(cfg->listeners[i].hostname);
		free(cfg->listeners[i].proxy_trusted);
		free(cfg->listeners[i].allow);
		cidr_list_free(&cfg->listeners[i].allowed);
		free(cfg->listeners[i].backend_ca_file);
		free(cfg->listeners[i].backend_server_name);
		free(cfg->listeners[i].backend_auth);
		free(cfg->listeners[i].backend.host);
		free(cfg->listeners[i].source_address.host);
		cidr_list_free(&cfg->listeners[i].trusted);
	}
	free(cfg->listeners);
	tls_conf_free(&cfg->tls);
	for (i = 0; i < cfg->nnamed_tls; i++)
		tls_conf_free(&cfg->named_tls[i]);
	free(cfg->named_tls);
	free(cfg->user);
	free(cfg->group);
	free(cfg->chroot);
	free(cfg->syslog_socket);
	free(cfg->path);
	free(cfg);
}
