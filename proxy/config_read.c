/*
 * config_read.c - INI text to a struct config: the sections, each key
 * through the key table (config.c), the defaults and the line of each
 * setting for messages; then the checks of config_check.c. See config.h.
 */
#include "config.h"
#include "config_check.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parser state shared by the inih callbacks. */
struct parse {
	struct config *cfg;
	const char *text;	/* remaining input */
	int lineno;		/* line most recently handed to inih */
	char *err;
	size_t errlen;
	int failed;
	/* Which section we are in, and which keys it has set (duplicates). */
	enum config_section sec;	/* CONFIG_SEC_NONE before the first header */
	char section[128];		/* its name, for messages */
	struct listener_conf *lc;	/* the current listener, in CONFIG_SEC_LISTENER */
	struct tls_conf *tc;		/* the current TLS section, in CONFIG_SEC_TLS / CONFIG_SEC_TLS_NAMED */
	unsigned long long seen;	/* bit i: key i of the table was set in this section */
	int global_line;		/* where [global] began, 0 if not yet */
};

static int fail(struct parse *p, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Report "PATH:LINE: message", unless an error is reported already; returns 0 (inih's "error"). */
static int
fail(struct parse *p, int line, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return 0;
	p->failed = 1;
	va_start(ap, fmt);
	config_verror(p->err, p->errlen, p->cfg->path, line, fmt, ap);
	va_end(ap);
	return 0;
}

/* The defaults of [global]; 0, or -1 if out of memory. */
static int
global_defaults(struct config *cfg)
{
	cfg->log_level = LOG_INFO;
	cfg->shutdown_timeout_ms = 30 * 1000;
	cfg->max_connections = 10000;
	return (cfg->syslog_socket = strdup("/dev/log")) == NULL ? -1 : 0;
}

/* The defaults of a [tls] or [tls NAME] section beginning at line. */
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

/* The defaults of a [listener NAME] section beginning at line. */
static void
listener_defaults(struct listener_conf *lc, int line)
{
	memset(lc, 0, sizeof(*lc));
	lc->line = line;
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
	lc->backend_verify = 1;
}

/* [global] */
static int
begin_global(struct parse *p)
{
	if (p->global_line)
		return fail(p, p->lineno, "duplicate section [global] (first at line %d)", p->global_line);
	p->global_line = p->lineno;
	p->sec = CONFIG_SEC_GLOBAL;
	return 1;
}

/* [tls] */
static int
begin_tls(struct parse *p)
{
	struct config *cfg = p->cfg;

	p->sec = CONFIG_SEC_TLS;
	if (cfg->tls.present)
		return fail(p, p->lineno, "duplicate section [tls] (first at line %d)", cfg->tls.line);
	tls_defaults(&cfg->tls, p->lineno);
	p->tc = &cfg->tls;
	return 1;
}

/* [tls NAME], name being what follows "tls ". */
static int
begin_tls_named(struct parse *p, const char *name)
{
	struct config *cfg = p->cfg;
	struct tls_conf *tc;
	size_t i;

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
	p->sec = CONFIG_SEC_TLS_NAMED;
	return 1;
}

/* [listener NAME], name being what follows "listener ". */
static int
begin_listener(struct parse *p, const char *name)
{
	struct config *cfg = p->cfg;
	struct listener_conf *lc;
	size_t i;

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
	listener_defaults(lc, p->lineno);
	if ((lc->name = strdup(name)) == NULL)
		return fail(p, p->lineno, "out of memory");
	cfg->nlisteners++;
	p->lc = lc;
	p->sec = CONFIG_SEC_LISTENER;
	return 1;
}

/* Start a new section; returns 0 (inih "error") on failure. */
static int
begin_section(struct parse *p, const char *section)
{
	snprintf(p->section, sizeof(p->section), "%s", section);
	p->seen = 0;
	p->lc = NULL;
	p->tc = NULL;
	p->sec = CONFIG_SEC_NONE;
	if (strcmp(section, "global") == 0)
		return begin_global(p);
	if (strcmp(section, "tls") == 0)
		return begin_tls(p);
	if (strncmp(section, "tls ", 4) == 0)
		return begin_tls_named(p, section + 4);
	if (strncmp(section, "listener ", 9) == 0)
		return begin_listener(p, section + 9);
	return fail(p, p->lineno, "unknown section [%s] (expected [global], [tls], [tls NAME] or [listener NAME])",
	    section);
}

/* listen, backend and metrics keep their value as written too, for messages and the dump. */
static void
keep_as_written(struct parse *p, const char *name, const char *value)
{
	if (p->sec == CONFIG_SEC_LISTENER && strcmp(name, "listen") == 0)
		snprintf(p->lc->listen_str, sizeof(p->lc->listen_str), "%s", value);
	if (p->sec == CONFIG_SEC_LISTENER && strcmp(name, "backend") == 0)
		snprintf(p->lc->backend_str, sizeof(p->lc->backend_str), "%s", value);
	if (p->sec == CONFIG_SEC_GLOBAL && strcmp(name, "metrics") == 0)
		snprintf(p->cfg->metrics_str, sizeof(p->cfg->metrics_str), "%s", value);
}

static int
on_key(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	const char *why = NULL;
	void *base;
	int i;

	(void)section;	/* read_line() already tracked the section header */
	if (p->failed)
		return 0;
	if (p->sec == CONFIG_SEC_NONE)
		return fail(p, p->lineno, "key '%s' outside any section", name);
	base = p->sec == CONFIG_SEC_GLOBAL ? (void *)p->cfg
	    : p->sec == CONFIG_SEC_LISTENER ? (void *)p->lc : (void *)p->tc;
	if ((i = config_key_find(p->sec, name)) < 0) {
		if (p->sec == CONFIG_SEC_TLS_NAMED && config_key_find(CONFIG_SEC_TLS, name) >= 0)
			return fail(p, p->lineno, "'%s' is only allowed in [tls], not in [%s]", name, p->section);
		return fail(p, p->lineno, "unknown key '%s' in [%s]", name, p->section);
	}
	if (p->seen & (1ULL << i))
		return fail(p, p->lineno, "duplicate key '%s' in [%s]", name, p->section);
	p->seen |= 1ULL << i;
	if (config_key_set(i, base, value, p->lineno, &why) != 0)
		return fail(p, p->lineno, "%s = '%s': %s", name, value, why);
	keep_as_written(p, name, value);
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
	if (global_defaults(cfg) != 0) {
		config_free(cfg);
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
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
	if (!p.failed && config_check(cfg, p.lineno, err, errlen) != 0)
		p.failed = 1;
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
