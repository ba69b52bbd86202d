/* gen.c - refcounted configuration generations; see gen.h. */
#include "gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct gen *
gen_load(const char *path, unsigned number, char *err, size_t errlen)
{
	struct gen *g;

	if ((g = calloc(1, sizeof(*g))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	atomic_init(&g->refs, 1);
	g->number = number;
	if ((g->cfg = config_load(path, err, errlen)) == NULL ||
	    (g->tls = tls_server_new(g->cfg, err, errlen)) == NULL) {
		config_free(g->cfg);
		free(g);
		return NULL;
	}
	return g;
}

static int
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int
gen_compatible(const struct gen *cur, const struct gen *next, char *err, size_t errlen)
{
	const struct config *a = cur->cfg, *b = next->cfg;
	size_t i;

	if (a->nlisteners != b->nlisteners) {
		snprintf(err, errlen, "the number of listeners changed");
		return 0;
	}
	for (i = 0; i < a->nlisteners; i++) {
		if (strcmp(a->listeners[i].name, b->listeners[i].name) != 0 ||
		    memcmp(&a->listeners[i].listen, &b->listeners[i].listen, sizeof(a->listeners[i].listen)) != 0) {
			snprintf(err, errlen, "listener %s: name or listen address changed", b->listeners[i].name);
			return 0;
		}
	}
	if (a->workers != b->workers) {
		snprintf(err, errlen, "workers changed");
		return 0;
	}
	if (!same_str(a->user, b->user) || !same_str(a->group, b->group) || !same_str(a->chroot, b->chroot)) {
		snprintf(err, errlen, "user, group or chroot changed");
		return 0;
	}
	return 1;
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
