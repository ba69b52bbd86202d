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

/* TLS toward the backends that want it; a warning for each that does not verify. */
static int
load_upstreams(struct gen *g, char *err, size_t errlen)
{
	const struct config *cfg = g->cfg;
	size_t i, used;

	if ((g->upstream = calloc(cfg->nlisteners, sizeof(*g->upstream))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", cfg->path);
		return -1;
	}
	for (i = 0; i < cfg->nlisteners; i++) {
		const struct listener_conf *lc = &cfg->listeners[i];
		if (lc->backend_tls == BACKEND_TLS_NONE)
			continue;
		if (upstream_tls_load(&g->upstream[i], lc, cfg->path, err, errlen) != 0)
			return -1;
		used = strlen(g->warnings);
		if (!lc->backend_verify)
			snprintf(g->warnings + used, sizeof(g->warnings) - used, "%s:%d: warning: [listener %s] has "
			    "backend_verify = no: the backend's certificate is not checked, so anyone on the path can "
			    "read and change the mail\n", cfg->path, lc->line, lc->name);
	}
	return 0;
}

static void
free_upstreams(struct gen *g)
{
	size_t i;

	for (i = 0; g->upstream != NULL && i < g->cfg->nlisteners; i++)
		upstream_tls_free(&g->upstream[i]);
	free(g->upstream);
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
	    (g->tls = tls_server_new(g->cfg, err, errlen)) == NULL || load_upstreams(g, err, errlen) != 0) {
		free_upstreams(g);
		tls_server_free(g->tls);
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
	free_upstreams(g);
	tls_server_free(g->tls);
	config_free(g->cfg);
	free(g);
}
