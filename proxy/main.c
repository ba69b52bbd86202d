/*
 * main.c - starttlsd: command line, configuration check, worker threads,
 * and signals: SIGTERM/SIGINT drain then exit 0; SIGHUP reloads.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/base.h>
#include <uv.h>

#include "config.h"
#include "gen.h"
#include "log.h"
#include "privs.h"
#include "worker.h"

#ifndef STARTTLSD_VERSION
#define STARTTLSD_VERSION "0.1.0"
#endif

/* The main thread's view: the workers and the current generation. */
static struct worker *workers;
static int nworkers;
static struct gen *current;
static const char *config_path;
static uv_signal_t sig_term, sig_int, sig_hup;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: starttlsd -c FILE      run in the foreground, logging to stderr\n"
	    "       starttlsd -t -c FILE   check the configuration and exit (0 = OK)\n"
	    "       starttlsd -V           print versions\n"
	    "       starttlsd -h           this help\n"
	    "signals: TERM/INT drain and exit, HUP reloads the configuration and certificates\n");
}

static void
on_stop_signal(uv_signal_t *sig, int signum)
{
	int i;

	(void)sig;
	log_event(LOG_INFO, "signal", "signal=%s action=shutdown", signum == SIGTERM ? "TERM" : "INT");
	for (i = 0; i < nworkers; i++)
		worker_stop(&workers[i]);
	/* With the signal handles closed the main loop ends; a second signal kills. */
	uv_close((uv_handle_t *)&sig_term, NULL);
	uv_close((uv_handle_t *)&sig_int, NULL);
	uv_close((uv_handle_t *)&sig_hup, NULL);
}

/* SIGHUP: load the file again; install it only if it is whole and compatible. */
static void
on_reload_signal(uv_signal_t *sig, int signum)
{
	char err[1024];
	struct gen *next;
	int i;

	(void)sig;
	(void)signum;
	if ((next = gen_load(config_path, current->number + 1, err, sizeof(err))) == NULL) {
		log_event(LOG_ERROR, "reload_failed", "generation=%u error=\"%s\" action=keeping_old", current->number,
		    err);
		return;
	}
	if (!gen_compatible(current, next, err, sizeof(err))) {
		log_event(LOG_ERROR, "reload_failed", "generation=%u error=\"%s: restart needed\" action=keeping_old",
		    current->number, err);
		gen_unref(next);
		return;
	}
	for (i = 0; i < nworkers; i++)
		worker_reload(&workers[i], next);
	gen_unref(current);
	current = next;
	log_set_level(current->cfg->log_level);
	log_event(LOG_INFO, "reloaded", "generation=%u config=%s", current->number, config_path);
}

/* Bind every socket before starting any thread, so errors are immediate. */
static int
bind_all(char *err, size_t errlen)
{
	const struct config *cfg = current->cfg;
	int i;
	size_t l;

	for (i = 0; i < nworkers; i++) {
		workers[i].index = i;
		workers[i].gen = current;
		gen_ref(current);
		if ((workers[i].fds = calloc(cfg->nlisteners, sizeof(int))) == NULL)
			return -1;
		for (l = 0; l < cfg->nlisteners; l++)
			if ((workers[i].fds[l] = worker_bind(&cfg->listeners[l], i == 0, err, errlen)) < 0)
				return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	int check = 0, opt, i, rc = 1;
	char err[1024] = "";
	const struct config *cfg;
	size_t l;

	while ((opt = getopt(argc, argv, "c:tVh")) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 't':
			check = 1;
			break;
		case 'V':
			printf("starttlsd %s\nlibuv %s\nBoringSSL (API version %d)\n", STARTTLSD_VERSION,
			    uv_version_string(), BORINGSSL_API_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (config_path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if ((current = gen_load(config_path, 1, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	cfg = current->cfg;
	if (check) {
		printf("%s: configuration OK (%zu listener%s, %d worker%s)\n", config_path, cfg->nlisteners,
		    cfg->nlisteners == 1 ? "" : "s", cfg->workers, cfg->workers == 1 ? "" : "s");
		rc = 0;
		goto out;
	}
	log_set_level(cfg->log_level);
	signal(SIGPIPE, SIG_IGN);

	nworkers = cfg->workers;
	if ((workers = calloc((size_t)nworkers, sizeof(*workers))) == NULL)
		goto out;
	if (bind_all(err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err[0] ? err : "starttlsd: out of memory");
		goto out;
	}
	/* Sockets are bound and keys are read: root is no longer needed. */
	if (privs_drop(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	uv_signal_init(uv_default_loop(), &sig_term);
	uv_signal_init(uv_default_loop(), &sig_int);
	uv_signal_init(uv_default_loop(), &sig_hup);
	uv_signal_start(&sig_term, on_stop_signal, SIGTERM);
	uv_signal_start(&sig_int, on_stop_signal, SIGINT);
	uv_signal_start(&sig_hup, on_reload_signal, SIGHUP);
	for (i = 0; i < nworkers; i++) {
		if (worker_start(&workers[i]) != 0) {
			fprintf(stderr, "starttlsd: cannot start worker %d\n", i);
			exit(1);
		}
	}
	for (l = 0; l < cfg->nlisteners; l++)
		log_event(LOG_INFO, "listening", "listener=%s listen=%s backend=%s tls=%s hostname=%s",
		    cfg->listeners[l].name, cfg->listeners[l].listen_str, cfg->listeners[l].backend_str,
		    config_tls_mode_name(cfg->listeners[l].tls), cfg->listeners[l].hostname);
	log_event(LOG_INFO, "ready", "version=%s workers=%d config=%s", STARTTLSD_VERSION, nworkers, config_path);

	uv_run(uv_default_loop(), UV_RUN_DEFAULT);

	for (i = 0; i < nworkers; i++)
		worker_join(&workers[i]);
	if (uv_loop_close(uv_default_loop()) != 0)
		log_event(LOG_ERROR, "leak", "error=\"main loop closed with live handles\"");
	log_event(LOG_INFO, "stopped", "workers=%d", nworkers);
	rc = 0;
out:
	if (workers != NULL) {
		for (i = 0; i < nworkers; i++) {
			free(workers[i].fds);
			gen_unref(workers[i].gen);	/* NULL once worker_join() ran */
		}
		free(workers);
	}
	gen_unref(current);
	return rc;
}
