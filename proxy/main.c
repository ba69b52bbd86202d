/*
 * main.c - starttlsd: command line, configuration check, worker threads,
 * and signal handling (SIGTERM/SIGINT: drain then exit 0).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <uv.h>

#include "config.h"
#include "log.h"
#include "privs.h"
#include "tls.h"
#include "worker.h"

#ifndef STARTTLSD_VERSION
#define STARTTLSD_VERSION "0.1.0"
#endif

static struct worker *workers;
static int nworkers;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: starttlsd -c FILE      run in the foreground, logging to stderr\n"
	    "       starttlsd -t -c FILE   check the configuration and exit (0 = OK)\n"
	    "       starttlsd -V           print versions\n"
	    "       starttlsd -h           this help\n");
}

static void
on_signal(uv_signal_t *sig, int signum)
{
	int i;

	log_event(LOG_INFO, "signal", "signal=%s action=shutdown", signum == SIGTERM ? "TERM" : "INT");
	for (i = 0; i < nworkers; i++)
		worker_stop(&workers[i]);
	uv_close((uv_handle_t *)sig, NULL);
	/* Close the other signal handle too so the main loop can end. */
	uv_close((uv_handle_t *)sig->data, NULL);
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	int check = 0, opt, i, rc = 1;
	char err[1024];
	struct config *cfg = NULL;
	struct tls_server *ts = NULL;
	uv_signal_t sigterm, sigint;
	size_t l;

	while ((opt = getopt(argc, argv, "c:tVh")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
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
	if (path == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if ((cfg = config_load(path, err, sizeof(err))) == NULL ||
	    (ts = tls_server_new(cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	if (check) {
		printf("%s: configuration OK (%zu listener%s, %d worker%s)\n", path, cfg->nlisteners,
		    cfg->nlisteners == 1 ? "" : "s", cfg->workers, cfg->workers == 1 ? "" : "s");
		rc = 0;
		goto out;
	}
	log_set_level(cfg->log_level);
	signal(SIGPIPE, SIG_IGN);

	nworkers = cfg->workers;
	if ((workers = calloc((size_t)nworkers, sizeof(*workers))) == NULL)
		goto out;
	/* Bind every socket before starting any thread, so errors are immediate. */
	for (i = 0; i < nworkers; i++) {
		workers[i].index = i;
		workers[i].cfg = cfg;
		workers[i].tls = ts;
		if ((workers[i].fds = calloc(cfg->nlisteners, sizeof(int))) == NULL)
			goto out;
		for (l = 0; l < cfg->nlisteners; l++) {
			if ((workers[i].fds[l] = worker_bind(&cfg->listeners[l], err, sizeof(err))) < 0) {
				fprintf(stderr, "%s\n", err);
				goto out;
			}
		}
	}
	/* Sockets are bound and keys are read: root is no longer needed. */
	if (privs_drop(cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
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
	log_event(LOG_INFO, "ready", "version=%s workers=%d config=%s", STARTTLSD_VERSION, nworkers, path);

	uv_signal_init(uv_default_loop(), &sigterm);
	uv_signal_init(uv_default_loop(), &sigint);
	sigterm.data = &sigint;
	sigint.data = &sigterm;
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_signal_start(&sigint, on_signal, SIGINT);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);

	for (i = 0; i < nworkers; i++)
		worker_join(&workers[i]);
	if (uv_loop_close(uv_default_loop()) != 0)
		log_event(LOG_ERROR, "leak", "error=\"main loop closed with live handles\"");
	log_event(LOG_INFO, "stopped", "workers=%d", nworkers);
	rc = 0;
out:
	if (workers != NULL) {
		for (i = 0; i < nworkers; i++)
			free(workers[i].fds);
		free(workers);
	}
	tls_server_free(ts);
	config_free(cfg);
	return rc;
}
