/*
 * gen.h - a configuration generation: the parsed config and the TLS
 * contexts built from it, reference-counted. The master holds the one it
 * serves; each serving process, worker and session holds the one it started
 * with.
 */
#ifndef STARTTLSD_GEN_H
#define STARTTLSD_GEN_H

#include <stdatomic.h>
#include <stddef.h>

#include "config.h"
#include "tls_server.h"
#include "upstream_tls.h"

struct gen {
	atomic_int refs;		/* holders: main, workers, sessions */
	struct config *cfg;		/* read-only */
	struct tls_server *tls;		/* read-only (BoringSSL contexts are thread-safe) */
	struct upstream_tls *upstream;	/* per listener: TLS toward its backend (ctx NULL: none) */
	unsigned number;		/* 1 for the first load, +1 per reload, for logs */
	char warnings[4096];		/* "file:line: warning: ..." lines: backend names that do not
					 * resolve now, certificates that expire within 14 days or have */
};

/* Certificates this close to expiry are warned about at every load. */
#define GEN_EXPIRY_WARN_S (14 * 86400)

/* Build a generation from cfg (taken over: freed on failure too): names, certificates, keys. NULL with err set. */
struct gen *gen_new(struct config *cfg, unsigned number, char *err, size_t errlen);

/* Load and check the file at path. Returns a generation with one reference, or NULL with err set. */
struct gen *gen_load(const char *path, unsigned number, char *err, size_t errlen);

/* Take a reference. */
void gen_ref(struct gen *g);

/* Drop a reference; the last one frees it. NULL is a no-op. */
void gen_unref(struct gen *g);

#endif
