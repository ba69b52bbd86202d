/* config.c - INI configuration parsing and validation; see config.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_WORKERS 256

enum section { SEC_NONE, SEC_GLOBAL, SEC_TLS, SEC_LISTENER };

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
	unsigned long long seen;	/* bit i: keys[i] was set in this section */
};

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

int
config_parse_duration(const char *s, uint64_t *ms)
{
	char *end;
	unsigned long long v;
	uint64_t mult;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end == '\0' || strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "m") == 0)
		mult = 60 * 1000;
	else if (strcmp(end, "h") == 0)
		mult = 3600 * 1000;
	else
		return -1;
	if (v > UINT32_MAX)	/* ~49 days in ms is plenty, and no overflow */
		return -1;
	*ms = (uint64_t)v * mult;
	return 0;
}

int
config_parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || v > (1ULL << 32))
		return -1;
	if (strcasecmp(end, "k") == 0)
		v *= 1024;
	else if (strcasecmp(end, "m") == 0)
		v *= 1024 * 1024;
	else if (*end != '\0')
		return -1;
	*out = (size_t)v;
	return 0;
}

int
config_parse_addr(const char *s, struct sockaddr_storage *ss)
{
	char host[64];
	const char *colon, *hs = s;
	size_t hl;
	char *end;
	unsigned long port;

	memset(ss, 0, sizeof(*ss));
	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':')
			return -1;
		hs = s + 1;
		hl = (size_t)(rb - hs);
		colon = rb + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
			return -1;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host) || colon[1] < '0' || colon[1] > '9')
		return -1;
	memcpy(host, hs, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port == 0 || port > 65535)
		return -1;
	if (*s == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
	}
	return 0;
}

const char *
config_tls_mode_name(enum tls_mode mode)
{
	return mode == TLS_MODE_IMPLICIT ? "implicit" : "starttls";
}

/* Value setters: return 0 on success or -1 with a message in why. */
typedef int setter_fn(struct parse *p, void *field, const char *v, const char **why);

static int
set_string(struct parse *p, void *field, const char *v, const char **why)
{
	char **dst = field;

	(void)p;
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
set_duration(struct parse *p, void *field, const char *v, const char **why)
{
	(void)p;
	if (config_parse_duration(v, field) != 0) {
		*why = "is not a duration (examples: 500ms, 30s, 5m, 1h)";
		return -1;
	}
	return 0;
}

static int
set_line_length(struct parse *p, void *field, const char *v, const char **why)
{
	size_t n;

	(void)p;
	if (config_parse_size(v, &n) != 0 || n < 64 || n > 1024 * 1024) {
		*why = "must be a size from 64 to 1m (bytes, k or m suffix)";
		return -1;
	}
	*(size_t *)field = n;
	return 0;
}

static int
set_addr(struct parse *p, void *field, const char *v, const char **why)
{
	(void)p;
	if (strlen(v) >= 64 || config_parse_addr(v, field) != 0) {
		*why = "is not an address (a.b.c.d:port or [ipv6]:port)";
		return -1;
	}
	return 0;
}

static int
set_workers(struct parse *p, void *field, const char *v, const char **why)
{
	char *end;
	long n;

	(void)p;
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
set_log_level(struct parse *p, void *field, const char *v, const char **why)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	int i;

	(void)p;
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
set_tls_mode(struct parse *p, void *field, const char *v, const char **why)
{
	(void)p;
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


/* Every key: its section, name, setter and where it goes. */
static const struct key {
	enum section sec;
	const char *name;
	setter_fn *set;
	size_t off;		/* offset in struct config / tls_conf / listener_conf */
	size_t line_off;	/* offset of an int recording the line, or 0 */
} keys[] = {
	{ SEC_GLOBAL, "workers", set_workers, offsetof(struct config, workers), 0 },
	{ SEC_GLOBAL, "log_level", set_log_level, offsetof(struct config, log_level), 0 },
	{ SEC_GLOBAL, "shutdown_timeout", set_duration, offsetof(struct config, shutdown_timeout_ms), 0 },
	{ SEC_TLS, "certificate", set_string, offsetof(struct tls_conf, certificate),
	  offsetof(struct tls_conf, certificate_line) },
	{ SEC_TLS, "key", set_string, offsetof(struct tls_conf, key), offsetof(struct tls_conf, key_line) },
	{ SEC_LISTENER, "listen", set_addr, offsetof(struct listener_conf, listen),
	  offsetof(struct listener_conf, listen_line) },
	{ SEC_LISTENER, "backend", set_addr, offsetof(struct listener_conf, backend), 0 },
	{ SEC_LISTENER, "tls", set_tls_mode, offsetof(struct listener_conf, tls), 0 },
	{ SEC_LISTENER, "hostname", set_string, offsetof(struct listener_conf, hostname), 0 },
	{ SEC_LISTENER, "connect_timeout", set_duration, offsetof(struct listener_conf, connect_timeout_ms), 0 },
	{ SEC_LISTENER, "handshake_timeout", set_duration, offsetof(struct listener_conf, handshake_timeout_ms), 0 },
	{ SEC_LISTENER, "idle_timeout", set_duration, offsetof(struct listener_conf, idle_timeout_ms), 0 },
	{ SEC_LISTENER, "data_timeout", set_duration, offsetof(struct listener_conf, data_timeout_ms), 0 },
	{ SEC_LISTENER, "max_line_length", set_line_length, offsetof(struct listener_conf, max_line_length), 0 },
	{ SEC_LISTENER, "max_reply_length", set_line_length, offsetof(struct listener_conf, max_reply_length), 0 },
};

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
	p->sec = SEC_NONE;
	if (strcmp(section, "global") == 0) {
		p->sec = SEC_GLOBAL;
		return 1;
	}
	if (strcmp(section, "tls") == 0) {
		p->sec = SEC_TLS;
		if (cfg->tls.present)
			return fail(p, p->lineno, "duplicate section [tls]");
		cfg->tls.present = 1;
		cfg->tls.line = p->lineno;
		return 1;
	}
	if (strncmp(section, "listener ", 9) != 0)
		return fail(p, p->lineno, "unknown section [%s] (expected [global], [tls] or [listener NAME])",
		    section);
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
	base = p->sec == SEC_GLOBAL ? (char *)p->cfg : p->sec == SEC_TLS ? (char *)&p->cfg->tls : (char *)p->lc;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (keys[i].sec == p->sec && strcmp(keys[i].name, name) == 0)
			break;
	if (i == sizeof(keys) / sizeof(keys[0]))
		return fail(p, p->lineno, "unknown key '%s' in [%s]", name, p->section);
	if (p->seen & (1ULL << i))
		return fail(p, p->lineno, "duplicate key '%s' in [%s]", name, p->section);
	p->seen |= 1ULL << i;
	if (keys[i].set(p, base + keys[i].off, value, &why) != 0)
		return fail(p, p->lineno, "%s = '%s': %s", name, value, why);
	if (keys[i].line_off)
		*(int *)(base + keys[i].line_off) = p->lineno;
	if (p->sec == SEC_LISTENER && strcmp(name, "listen") == 0)
		snprintf(p->lc->listen_str, sizeof(p->lc->listen_str), "%s", value);
	if (p->sec == SEC_LISTENER && strcmp(name, "backend") == 0)
		snprintf(p->lc->backend_str, sizeof(p->lc->backend_str), "%s", value);
	return 1;
}

/* If line is a "[name]" header, start that section (inih parses it the same way). */
static void
maybe_section(struct parse *p, const char *line)
{
	const char *end;
	char name[128];
	size_t n;

	while (*line == ' ' || *line == '\t')
		line++;
	if (*line != '[' || (end = strchr(line, ']')) == NULL)
		return;
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
		if (lc->backend.ss_family == 0)
			return fail(p, lc->line, "[listener %s] has no 'backend' address", lc->name);
		if (!cfg->tls.present)
			return fail(p, lc->line, "[listener %s] uses tls = %s but there is no [tls] section",
			    lc->name, config_tls_mode_name(lc->tls));
		for (j = 0; j < i; j++)
			if (same_addr(&lc->listen, &cfg->listeners[j].listen))
				return fail(p, lc->listen_line, "listen address %s is already used by [listener %s]",
				    lc->listen_str, cfg->listeners[j].name);
		if (lc->hostname == NULL) {
			if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
				snprintf(host, sizeof(host), "localhost");
			host[sizeof(host) - 1] = '\0';
			if ((lc->hostname = strdup(host)) == NULL)
				return fail(p, lc->line, "out of memory");
		}
	}
	if (cfg->tls.present) {
		if (cfg->tls.certificate == NULL)
			return fail(p, cfg->tls.line, "[tls] has no 'certificate'");
		if (cfg->tls.key == NULL)
			return fail(p, cfg->tls.line, "[tls] has no 'key'");
	}
	if (cfg->workers == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		cfg->workers = n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (int)n;
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
	p.cfg = cfg;
	p.text = text;
	p.err = err;
	p.errlen = errlen;
	p.lineno = 0;
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

void
config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->nlisteners; i++) {
		free(cfg->listeners[i].name);
		free(cfg->listeners[i].hostname);
	}
	free(cfg->listeners);
	free(cfg->tls.certificate);
	free(cfg->tls.key);
	free(cfg->path);
	free(cfg);
}
