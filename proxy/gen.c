/* gen.c - refcounted configuration generations; see gen.h. */
#include "gen.h"
#include "resolve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
