/* config.c - INI configuration parsing and validation; see config.h. */
#include "config.h"
#include "cpus.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <ini.h>
#include <stdbool.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_WORKERS 256

enum section { SEC_NONE, SEC_GLOBAL, SEC_TLS, SEC_TLS_NAMED, SEC_LISTENER };

/* Bit masks of the sections a key may appear in. */
#define IN_GLOBAL (1u << SEC_GLOBAL)
#define IN_TLS (1u << SEC_TLS)
#define IN_TLS_NAMED (1u << SEC_TLS_NAMED)
#define IN_LISTENER (1u << SEC_LISTENER)

/* Parser state shared by the inih callbacks. */
struct parse {
	struct config *cfg;
	const char *text;	/* remaining input */
	int lineno;		/* line most recently handed to inih */
	char *err;
	size_t errlen;
	int failed;
	/* Which section we are in, and which keys it has set (duplicates). */
	enum section sec;		/* SEC_NONE before the first header */
	char section[128];		/* its name, for messages */
	struct listener_conf *lc;	/* the current listener, in SEC_LISTENER */
	struct tls_conf *tc;		/* the current TLS section, in SEC_TLS / SEC_TLS_NAMED */
	unsigned long long seen;	/* bit i: keys[i] was set in this section */
	int global_line;		/* where [global] began, 0 if not yet */
};

static int fail(struct parse *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
fail(struct parse *p, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->failed)
		return 0;
	p->failed = 1;
	n = snprintf(p->err, p->errlen, "%s:%d: ", p->cfg->path, line);
	if (n < 0 || (size_t)n >= p->errlen)
		return 0;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return 0;
}

const char *
config_tls_mode_name(enum tls_mode mode)
{
	return mode == TLS_MODE_IMPLICIT ? "implicit" : "starttls";
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
	if (*end != '\0' || n < 1 || n > MAX_WORKERS) {
		*why = "must be auto or a number from 1 to 256";
		return -1;
	}
	*(int *)field = (int)n;
	return 0;
}

static int
set_log_level(void *field, const char *v, const char **why)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	int i;

	for (i = 0; i < 4; i++) {
		if (strcmp(v, names[i]) == 0) {
			*(enum log_level *)field = (enum log_level)i;
			return 0;
		}
	}
	*why = "must be error, warn, info or debug";
	return -1;
}

static int
set_tls_mode(void *field, const char *v, const char **why)
{
	if (strcmp(v, "starttls") == 0)
		*(enum tls_mode *)field = TLS_MODE_STARTTLS;
	else if (strcmp(v, "implicit") == 0)
		*(enum tls_mode *)field = TLS_MODE_IMPLICIT;
	else {
		*why = "must be starttls or implicit";
		return -1;
	}
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
set_auth_before_tls(void *field, const char *v, const char **why)
{
	static const char *const names[] = { "hide", "allow", NULL };

	return set_choice(field, v, names, why, "must be hide or allow");
}

static int
set_bare_newline(void *field, const char *v, const char **why)
{
	static const char *const names[] = { "normalize", "reject", NULL };

	return set_choice(field, v, names, why, "must be normalize or reject");
}

static int
set_identity(void *field, const char *v, const char **why)
{
	static const char *const names[] = { "none", "xclient", "proxy_v1", "proxy_v2", NULL };

	return set_choice(field, v, names, why, "must be none, xclient, proxy_v1 or proxy_v2");
}

static int
set_log_format(void *field, const char *v, const char **why)
{
	static const char *const names[] = { "text", "json", NULL };

	return set_choice(field, v, names, why, "must be text or json");
}

static int
set_log_target(void *field, const char *v, const char **why)
{
	static const char *const names[] = { "stderr", "syslog", NULL };

	return set_choice(field, v, names, why, "must be stderr or syslog");
}

static int
set_verify_client(void *field, const char *v, const char **why)
{
	static const char *const names[] = { "none", "optional", "require", NULL };

	return set_choice(field, v, names, why, "must be none, optional or require");
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

/* Every key: the sections it may appear in, its name, setter and where it goes. */
static const struct key {
	unsigned in;		/* IN_* mask */
	const char *name;
	setter_fn *set;
	size_t off;		/* offset in struct config / tls_conf / listener_conf */
	size_t line_off;	/* offset of an int recording the line, or 0 */
} keys[] = {
#define G(name, set, field) { IN_GLOBAL, name, set, offsetof(struct config, field), 0 }
#define T(in, name, set, field, line) { in, name, set, offsetof(struct tls_conf, field), line }
#define L(name, set, field) { IN_LISTENER, name, set, offsetof(struct listener_conf, field), 0 }
	G("workers", set_workers, workers),
	G("log_level", set_log_level, log_level),
	G("log_format", set_log_format, log_format),
	G("log_target", set_log_target, log_target),
	G("syslog_socket", set_string, syslog_socket),
	{ IN_GLOBAL, "metrics", set_addr, offsetof(struct config, metrics), offsetof(struct config, metrics_line) },
	G("shutdown_timeout", set_duration, shutdown_timeout_ms),
	G("max_connections", set_count, max_connections),
	G("user", set_string, user),
	G("group", set_string, group),
	G("chroot", set_string, chroot),
	G("allow_root", set_yesno, allow_root),
	T(IN_TLS | IN_TLS_NAMED, "certificate", set_string, certificate, offsetof(struct tls_conf, certificate_line)),
	T(IN_TLS | IN_TLS_NAMED, "key", set_string, key, offsetof(struct tls_conf, key_line)),
	T(IN_TLS_NAMED, "server_names", set_string, server_names, offsetof(struct tls_conf, server_names_line)),
	T(IN_TLS, "min_version", set_tls_version, min_version, 0),
	T(IN_TLS, "ciphers", set_string, ciphers, offsetof(struct tls_conf, ciphers_line)),
	T(IN_TLS, "groups", set_string, groups, offsetof(struct tls_conf, groups_line)),
	T(IN_TLS, "session_tickets", set_yesno, session_tickets, 0),
	T(IN_TLS, "ticket_key_file", set_string, ticket_key_file, offsetof(struct tls_conf, ticket_key_file_line)),
	T(IN_TLS, "session_cache_size", set_size, session_cache_size, 0),
	T(IN_TLS, "session_lifetime", set_session_lifetime, session_lifetime_ms,
	    offsetof(struct tls_conf, session_lifetime_line)),
	T(IN_TLS, "verify_client", set_verify_client, verify_client, 0),
	T(IN_TLS, "ca_file", set_string, ca_file, offsetof(struct tls_conf, ca_file_line)),
	T(IN_TLS, "watch", set_yesno, watch, 0),
	{ IN_LISTENER, "listen", set_addr, offsetof(struct listener_conf, listen),
	  offsetof(struct listener_conf, listen_line) },
	{ IN_LISTENER, "backend", set_backend, offsetof(struct listener_conf, backend),
	  offsetof(struct listener_conf, backend_line) },
	L("tls", set_tls_mode, tls),
	L("hostname", set_string, hostname),
	L("connect_timeout", set_timeout, connect_timeout_ms),
	L("handshake_timeout", set_timeout, handshake_timeout_ms),
	L("idle_timeout", set_timeout, idle_timeout_ms),
	L("data_timeout", set_timeout, data_timeout_ms),
	L("session_timeout", set_duration, session_timeout_ms),
	L("max_line_length", set_line_length, max_line_length),
	L("max_reply_length", set_reply_length, max_reply_length),
	L("max_data_line_length", set_data_line_length, max_data_line_length),
	L("require_tls", set_yesno, require_tls),
	L("auth_before_tls", set_auth_before_tls, auth_before_tls),
	L("bare_newline", set_bare_newline, bare_newline),
	L("max_errors", set_count, max_errors),
	L("max_connections_per_ip", set_count, max_connections_per_ip),
	L("backend_identity", set_identity, backend_identity),
	{ IN_LISTENER, "source_address", set_source, offsetof(struct listener_conf, source_address),
	  offsetof(struct listener_conf, source_address_line) },
	L("add_received", set_yesno, add_received),
	L("accept_proxy", set_yesno, accept_proxy),
	{ IN_LISTENER, "proxy_trusted", set_string, offsetof(struct listener_conf, proxy_trusted),
	  offsetof(struct listener_conf, proxy_trusted_line) },
#undef G
#undef T
#undef L
};

static void
tls_defaults(struct tls_conf *tc, int line)
{
	memset(tc, 0, sizeof(*tc));
	tc->present = 1;
	tc->line = line;
	tc->min_version = 0x0303;
	tc->session_tickets = 1;
	tc->session_cache_size = 20480;
	tc->session_lifetime_ms = 2 * 3600 * 1000;
}

/* Start a new section; returns 0 (inih "error") on failure. */
static int
begin_section(struct parse *p, const char *section)
{
	struct config *cfg = p->cfg;
	struct listener_conf *lc;
	const char *name;
	size_t i;

	snprintf(p->section, sizeof(p->section), "%s", section);
	p->seen = 0;
	p->lc = NULL;
	p->tc = NULL;
	p->sec = SEC_NONE;
	if (strcmp(section, "global") == 0) {
		if (p->global_line)
			return fail(p, p->lineno, "duplicate section [global] (first at line %d)", p->global_line);
		p->global_line = p->lineno;
		p->sec = SEC_GLOBAL;
		return 1;
	}
	if (strcmp(section, "tls") == 0) {
		p->sec = SEC_TLS;
		if (cfg->tls.present)
			return fail(p, p->lineno, "duplicate section [tls] (first at line %d)", cfg->tls.line);
		tls_defaults(&cfg->tls, p->lineno);
		p->tc = &cfg->tls;
		return 1;
	}
	if (strncmp(section, "tls ", 4) == 0) {
		struct tls_conf *tc;
		name = section + 4;
		while (*name == ' ')
			name++;
		if (*name == '\0')
			return fail(p, p->lineno, "[tls NAME] needs a name");
		for (i = 0; i < cfg->nnamed_tls; i++)
			if (strcmp(cfg->named_tls[i].name, name) == 0)
				return fail(p, p->lineno, "duplicate section [tls %s] (first at line %d)", name,
				    cfg->named_tls[i].line);
		if ((tc = realloc(cfg->named_tls, (cfg->nnamed_tls + 1) * sizeof(*tc))) == NULL)
			return fail(p, p->lineno, "out of memory");
		cfg->named_tls = tc;
		tc = &cfg->named_tls[cfg->nnamed_tls];
		tls_defaults(tc, p->lineno);
		if ((tc->name = strdup(name)) == NULL)
			return fail(p, p->lineno, "out of memory");
		cfg->nnamed_tls++;
		p->tc = tc;
		p->sec = SEC_TLS_NAMED;
		return 1;
	}
	if (strncmp(section, "listener ", 9) != 0)
		return fail(p, p->lineno,
		    "unknown section [%s] (expected [global], [tls], [tls NAME] or [listener NAME])", section);
	name = section + 9;
	while (*name == ' ')
		name++;
	if (*name == '\0')
		return fail(p, p->lineno, "[listener NAME] needs a name");
	for (i = 0; i < cfg->nlisteners; i++)
		if (strcmp(cfg->listeners[i].name, name) == 0)
			return fail(p, p->lineno, "duplicate section [listener %s] (first at line %d)", name,
			    cfg->listeners[i].line);
	lc = realloc(cfg->listeners, (cfg->nlisteners + 1) * sizeof(*lc));
	if (lc == NULL)
		return fail(p, p->lineno, "out of memory");
	cfg->listeners = lc;
	lc = &cfg->listeners[cfg->nlisteners];
	memset(lc, 0, sizeof(*lc));
	if ((lc->name = strdup(name)) == NULL)
		return fail(p, p->lineno, "out of memory");
	cfg->nlisteners++;
	lc->line = p->lineno;
	lc->tls = TLS_MODE_STARTTLS;
	lc->connect_timeout_ms = 10 * 1000;
	lc->handshake_timeout_ms = 30 * 1000;
	lc->idle_timeout_ms = 300 * 1000;
	lc->data_timeout_ms = 600 * 1000;
	lc->max_line_length = 512;
	lc->max_reply_length = 64 * 1024;
	lc->max_data_line_length = 1000;
	lc->session_timeout_ms = 3600 * 1000;
	lc->max_errors = 20;
	lc->max_connections_per_ip = 50;
	p->lc = lc;
	p->sec = SEC_LISTENER;
	return 1;
}

static int
on_key(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	const char *why = NULL;
	char *base;
	size_t i;

	(void)section;	/* read_line() already tracked the section header */
	if (p->failed)
		return 0;
	if (p->sec == SEC_NONE)
		return fail(p, p->lineno, "key '%s' outside any section", name);
	base = p->sec == SEC_GLOBAL ? (char *)p->cfg : p->sec == SEC_LISTENER ? (char *)p->lc : (char *)p->tc;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if ((keys[i].in & (1u << p->sec)) && strcmp(keys[i].name, name) == 0)
			break;
	if (i == sizeof(keys) / sizeof(keys[0])) {
		if (p->sec == SEC_TLS_NAMED)
			for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
				if ((keys[i].in & IN_TLS) && strcmp(keys[i].name, name) == 0)
					return fail(p, p->lineno, "'%s' is only allowed in [tls], not in [%s]", name,
					    p->section);
		return fail(p, p->lineno, "unknown key '%s' in [%s]", name, p->section);
	}
	if (p->seen & (1ULL << i))
		return fail(p, p->lineno, "duplicate key '%s' in [%s]", name, p->section);
	p->seen |= 1ULL << i;
	if (keys[i].set(base + keys[i].off, value, &why) != 0)
		return fail(p, p->lineno, "%s = '%s': %s", name, value, why);
	if (keys[i].line_off)
		*(int *)(base + keys[i].line_off) = p->lineno;
	if (p->sec == SEC_LISTENER && strcmp(name, "listen") == 0)
		snprintf(p->lc->listen_str, sizeof(p->lc->listen_str), "%s", value);
	if (p->sec == SEC_LISTENER && strcmp(name, "backend") == 0)
		snprintf(p->lc->backend_str, sizeof(p->lc->backend_str), "%s", value);
	if (p->sec == SEC_GLOBAL && strcmp(name, "metrics") == 0)
		snprintf(p->cfg->metrics_str, sizeof(p->cfg->metrics_str), "%s", value);
	return 1;
}

/* If line is a "[name]" header, start that section (inih parses it the same way). */
static void
maybe_section(struct parse *p, const char *line)
{
	const char *end;
	char name[128];
	size_t n;

	while (isspace((unsigned char)*line))	/* as inih skips it */
		line++;
	if (*line != '[')
		return;
	if ((end = strchr(line, ']')) == NULL) {
		/* inih would report it, but only after the keys that follow. */
		fail(p, p->lineno, "section header not closed: expected ']'");
		return;
	}
	n = (size_t)(end - line - 1);
	if (n >= sizeof(name)) {
		fail(p, p->lineno, "section name too long");
		return;
	}
	memcpy(name, line + 1, n);
	name[n] = '\0';
	begin_section(p, name);
}

/* inih reader: hands out one line at a time so we know the line number. */
static char *
read_line(char *str, int num, void *stream)
{
	struct parse *p = stream;
	const char *nl;
	size_t n, take;

	if (*p->text == '\0')
		return NULL;
	nl = strchr(p->text, '\n');
	n = nl ? (size_t)(nl - p->text) + 1 : strlen(p->text);
	p->lineno++;
	take = n < (size_t)num - 1 ? n : (size_t)num - 1;
	if (take < n && !p->failed)
		fail(p, p->lineno, "line too long (at most %d bytes)", num - 2);
	memcpy(str, p->text, take);
	str[take] = '\0';
	p->text += n;
	if (p->lineno == 1 && memcmp(str, "\xEF\xBB\xBF", 3) == 0)	/* UTF-8 BOM */
		memmove(str, str + 3, strlen(str + 3) + 1);
	maybe_section(p, str);
	return str;
}

static int
same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr, &((const struct sockaddr_in *)b)->sin_addr,
		           4) == 0 &&
		    ((const struct sockaddr_in *)a)->sin_port == ((const struct sockaddr_in *)b)->sin_port;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr, &((const struct sockaddr_in6 *)b)->sin6_addr,
	           16) == 0 &&
	    ((const struct sockaddr_in6 *)a)->sin6_port == ((const struct sockaddr_in6 *)b)->sin6_port;
}

static int
port_of(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET ? ntohs(((const struct sockaddr_in *)a)->sin_port)
	                               : ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
}

/* Is a an address any socket on this host listens on when bound to the wildcard? */
static int
is_local(const struct sockaddr_storage *a)
{
	struct ifaddrs *ifs, *i;
	int found = 0;

	if (a->ss_family == AF_INET && (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127)
		return 1;
	if (a->ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr))
		return 1;
	if (getifaddrs(&ifs) != 0)
		return 0;
	for (i = ifs; i != NULL && !found; i = i->ifa_next) {
		struct sockaddr_storage ss;
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != a->ss_family)
			continue;
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, i->ifa_addr, a->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
		if (a->ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port = ((const struct sockaddr_in *)a)->sin_port;
		else
			((struct sockaddr_in6 *)&ss)->sin6_port = ((const struct sockaddr_in6 *)a)->sin6_port;
		found = same_addr(&ss, a);
	}
	freeifaddrs(ifs);
	return found;
}

/* Would connecting to backend reach the listener bound at listen? */
static int
reaches(const struct sockaddr_storage *backend, const struct sockaddr_storage *listen)
{
	int wildcard;

	if (backend->ss_family != listen->ss_family || port_of(backend) != port_of(listen))
		return 0;
	if (same_addr(backend, listen))
		return 1;
	wildcard = listen->ss_family == AF_INET
	    ? ((const struct sockaddr_in *)listen)->sin_addr.s_addr == htonl(INADDR_ANY)
	    : IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)listen)->sin6_addr);
	return wildcard && is_local(backend);
}

/* Checks of one listener that need more than one key. */
static int
validate_listener(struct parse *p, struct listener_conf *lc)
{
	struct config *cfg = p->cfg;
	size_t j;

	for (j = 0; j < cfg->nlisteners; j++)
		if (lc->backend.host == NULL && reaches(&lc->backend.addr, &cfg->listeners[j].listen))
			return fail(p, lc->backend_line, "backend %s is the listen address of [listener %s]: "
			    "starttlsd would connect to itself in a loop", lc->backend_str, cfg->listeners[j].name);
	if (lc->source_address.addr.ss_family != 0 && lc->backend.host == NULL &&
	    lc->source_address.addr.ss_family != lc->backend.addr.ss_family)
		return fail(p, lc->source_address_line, "source_address is %s but backend %s is %s: they must be "
		    "of the same address family", lc->source_address.addr.ss_family == AF_INET ? "IPv4" : "IPv6",
		    lc->backend_str, lc->backend.addr.ss_family == AF_INET ? "IPv4" : "IPv6");
	if (lc->proxy_trusted != NULL) {
		char why[200];
		if (cidr_list_parse(lc->proxy_trusted, &lc->trusted, why, sizeof(why)) != 0)
			return fail(p, lc->proxy_trusted_line, "proxy_trusted: %s", why);
		if (lc->accept_proxy && lc->trusted.n == 0)
			return fail(p, lc->proxy_trusted_line, "proxy_trusted lists no address: with accept_proxy = yes "
			    "it must name the load balancers allowed to send PROXY headers");
	}
	return 1;
}

/* Number of space-separated words in s. */
static size_t
count_words(const char *s)
{
	size_t n = 0;

	while (*s) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		n++;
		while (*s && *s != ' ' && *s != '\t')
			s++;
	}
	return n;
}

static int
validate_tls(struct parse *p, const struct tls_conf *tc)
{
	char sec[140];
	size_t nc, nk;

	snprintf(sec, sizeof(sec), tc->name ? "[tls %s]" : "[tls]", tc->name);
	if (tc->certificate == NULL)
		return fail(p, tc->line, "%s has no 'certificate'", sec);
	if (tc->key == NULL)
		return fail(p, tc->line, "%s has no 'key'", sec);
	nc = count_words(tc->certificate);
	nk = count_words(tc->key);
	if (nc != nk)
		return fail(p, tc->key_line, "%s lists %zu certificate(s) but %zu key(s): give one key per certificate",
		    sec, nc, nk);
	if (nc > 4)
		return fail(p, tc->certificate_line, "%s: at most 4 certificates (e.g. one ECDSA and one RSA)", sec);
	if (tc->name != NULL && tc->server_names == NULL)
		return fail(p, tc->line, "%s has no 'server_names'", sec);
	return 1;
}

/* Checks that need the whole file: required keys, duplicates, defaults. */
static int
validate(struct parse *p)
{
	struct config *cfg = p->cfg;
	char host[256];
	size_t i, j;

	if (cfg->nlisteners == 0)
		return fail(p, p->lineno ? p->lineno : 1, "no [listener NAME] section: nothing to do");
	for (i = 0; i < cfg->nlisteners; i++) {
		struct listener_conf *lc = &cfg->listeners[i];
		if (lc->listen.ss_family == 0)
			return fail(p, lc->line, "[listener %s] has no 'listen' address", lc->name);
		if (lc->backend.addr.ss_family == 0 && lc->backend.host == NULL)
			return fail(p, lc->line, "[listener %s] has no 'backend' address", lc->name);
		if (!cfg->tls.present)
			return fail(p, lc->line, "[listener %s] uses tls = %s but there is no [tls] section",
			    lc->name, config_tls_mode_name(lc->tls));
		for (j = 0; j < i; j++)
			if (same_addr(&lc->listen, &cfg->listeners[j].listen))
				return fail(p, lc->listen_line, "listen address %s is already used by [listener %s]",
				    lc->listen_str, cfg->listeners[j].name);
		if (lc->accept_proxy && lc->proxy_trusted == NULL)
			return fail(p, lc->line, "[listener %s] has accept_proxy = yes but no proxy_trusted", lc->name);
		if (cfg->metrics.ss_family != 0 && same_addr(&lc->listen, &cfg->metrics))
			return fail(p, cfg->metrics_line, "metrics address %s is the listen address of [listener %s]",
			    cfg->metrics_str, lc->name);
		if (lc->hostname == NULL) {
			if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
				snprintf(host, sizeof(host), "localhost");
			host[sizeof(host) - 1] = '\0';
			if ((lc->hostname = strdup(host)) == NULL)
				return fail(p, lc->line, "out of memory");
		}
	}
	for (i = 0; i < cfg->nlisteners; i++)
		if (!validate_listener(p, &cfg->listeners[i]))
			return 0;
	if (cfg->tls.present && !validate_tls(p, &cfg->tls))
		return 0;
	for (i = 0; i < cfg->nnamed_tls; i++)
		if (!validate_tls(p, &cfg->named_tls[i]))
			return 0;
	if (cfg->tls.verify_client != VERIFY_NONE && cfg->tls.ca_file == NULL)
		return fail(p, cfg->tls.line, "verify_client needs ca_file (the CAs that sign client certificates)");
	if (cfg->group != NULL && cfg->user == NULL)
		return fail(p, 1, "group is set but user is not");
	if (cfg->workers == 0) {
		int n = cpus_available();
		cfg->workers = n > MAX_WORKERS ? MAX_WORKERS : n;
	}
	return 1;
}

struct config *
config_parse_string(const char *text, const char *path, char *err, size_t errlen)
{
	struct parse p;
	struct config *cfg;
	int rc;

	memset(&p, 0, sizeof(p));
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL || (cfg->path = strdup(path)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		config_free(cfg);
		return NULL;
	}
	cfg->log_level = LOG_INFO;
	cfg->shutdown_timeout_ms = 30 * 1000;
	if ((cfg->syslog_socket = strdup("/dev/log")) == NULL) {
		config_free(cfg);
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	cfg->max_connections = 10000;
	p.cfg = cfg;
	p.text = text;
	p.err = err;
	p.errlen = errlen;
	p.lineno = 0;
	/* Debian's inih makes these run-time switches: an indented line is not a
	 * continuation of the previous value here, and read_line() strips the BOM. */
	ini_allow_multiline = false;
	ini_allow_bom = false;
	rc = ini_parse_stream(read_line, &p, on_key, &p);
	if (!p.failed && rc > 0)
		fail(&p, rc, "syntax error (expected [section], key = value, or a ; comment)");
	if (!p.failed && rc < 0)
		fail(&p, 0, "cannot parse (out of memory)");
	if (!p.failed)
		validate(&p);
	if (p.failed) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	FILE *f;
	char *text = NULL;
	size_t len = 0, cap = 0, n;
	struct config *cfg;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (cap - len < 4096) {
			char *nt;
			if (cap > 16 * 1024 * 1024 || (nt = realloc(text, cap ? cap * 2 : 8192)) == NULL) {
				snprintf(err, errlen, "%s: file too large", path);
				goto err;
			}
			text = nt;
			cap = cap ? cap * 2 : 8192;
		}
		n = fread(text + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
		goto err;
	}
	if (memchr(text, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: contains a NUL byte: not a text file", path);
		goto err;
	}
	text[len] = '\0';
	fclose(f);
	cfg = config_parse_string(text, path, err, errlen);
	free(text);
	return cfg;
err:
	fclose(f);
	free(text);
	return NULL;
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
