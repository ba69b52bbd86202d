/* gen.c - refcounted configuration generations; see gen.h. */
#include "gen.h"
#include "resolve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Warn about certificates that expire soon, and loudly about expired ones (they are still served). */
static void
warn_expiry(struct gen *g)
{
	const struct tls_cert_info *c;
	size_t i, used = strlen(g->warnings);
	time_t now = time(NULL), t;
	struct tm tm;
	char when[32];

	for (i = 0; (c = tls_server_cert(g->tls, i)) != NULL && used + 1 < sizeof(g->warnings); i++) {
		if (c->not_after - (int64_t)now >= GEN_EXPIRY_WARN_S)
			continue;
		t = (time_t)c->not_after;
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
		if (c->not_after <= (int64_t)now)
			snprintf(g->warnings + used, sizeof(g->warnings) - used, "%s:%d: warning: certificate %s EXPIRED on "
			    "%s: still served, but clients that check will refuse it; renew it\n", g->cfg->path, c->line,
			    c->file, when);
		else
			snprintf(g->warnings + used, sizeof(g->warnings) - used, "%s:%d: warning: certificate %s expires "
			    "in %lld days (%s)\n", g->cfg->path, c->line, c->file,
			    (long long)((c->not_after - (int64_t)now) / 86400), when);
		used += strlen(g->warnings + used);
	}
}

struct gen *
gen_new(struct config *cfg, unsigned number, char *err, size_t errlen)
{
	struct gen *g;

	if ((g = calloc(1, sizeof(*g))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", cfg->path);
		config_free(cfg);
		return NULL;
	}
	atomic_init(&g->refs, 1);
	g->number = number;
	g->cfg = cfg;
	if (resolve_config_names(g->cfg, g->warnings, sizeof(g->warnings), err, errlen) != 0 ||
	    (g->tls = tls_server_new(g->cfg, err, errlen)) == NULL) {
		config_free(g->cfg);
		free(g);
		return NULL;
	}
	warn_expiry(g);
	return g;
}

struct gen *
gen_load(const char *path, unsigned number, char *err, size_t errlen)
{
	struct config *cfg = config_load(path, err, errlen);

	return cfg != NULL ? gen_new(cfg, number, err, errlen) : NULL;
}

void
gen_ref(struct gen *g)
{
	atomic_fetch_add(&g->refs, 1);
}

void
gen_unref(struct gen *g)
{
	if (g == NULL || atomic_fetch_sub(&g->refs, 1) != 1)
		return;
	tls_server_free(g->tls);
	config_free(g->cfg);
	free(g);
}
