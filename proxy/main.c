/*
 * main.c - starttlsd: the command line, the configuration check, and the
 * master process (master.h) that serves it.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <openssl/base.h>
#include <uv.h>

#include "config.h"
#include "gen.h"
#include "log.h"
#include "master.h"
#include "privs.h"
#include "probe.h"

#ifndef STARTTLSD_CONFIG
#define STARTTLSD_CONFIG "/etc/starttlsd/starttlsd.ini"
#endif

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: starttlsd [-c FILE]           serve (in the foreground, logging to stderr)\n"
	    "       starttlsd -t [-c FILE]        check the configuration and exit (0 = OK)\n"
	    "       starttlsd -T [-c FILE]        check it and print it with every default filled in\n"
	    "       starttlsd -p [-c FILE]        probe the running instance's listeners (0 = all answer)\n"
	    "       starttlsd -V                  print versions\n"
	    "       starttlsd -h                  this help\n"
	    "  -c, --config FILE   the configuration (default " STARTTLSD_CONFIG ")\n"
	    "  -t, --test          check it: syntax, values, certificates and keys\n"
	    "  -T, --dump          check it as -t does, then print the effective configuration: every key of\n"
	    "                      every section, a file that -t accepts and that means the same\n"
	    "  -p, --probe         connect to each listener as a client would; a STARTTLS one must greet\n"
	    "                      with 220 (health checks; needs no other tool)\n"
	    "  -V, --version       starttlsd, libuv and BoringSSL versions\n"
	    "  -h, --help\n"
	    "signals: TERM/INT drain and exit, HUP reloads everything (configuration, certificates, keys)\n");
}

/*
 * Each session holds two descriptors: take the whole hard limit for open
 * files (the soft one is often 1024). Where that is refused (a system call
 * filter), the limit the service manager set stays.
 */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* The load-time warnings ("FILE:LINE: warning: ..." lines), in the configured form. */
static void
print_warnings(const char *w)
{
	char line[600];
	const char *nl;

	for (; (nl = strchr(w, '\n')) != NULL; w = nl + 1) {
		snprintf(line, sizeof(line), "%.*s", (int)(nl - w), w);
		log_config_message(LOG_WARN, line);
	}
}

/* --probe: only the file's listeners matter, not its keys (the prober may not read them). */
static int
run_probe(const char *path)
{
	char err[1024];
	struct config *cfg;
	int rc;

	if ((cfg = config_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	rc = probe_run(cfg, 5000, stdout);
	config_free(cfg);
	return rc;
}

/* -T, once the configuration passed -t's checks: print it; 0, or 1 if stdout fails. */
static int
run_dump(struct gen *gen)
{
	int rc = config_dump(gen->cfg, stdout);

	if (rc != 0)
		fprintf(stderr, "starttlsd: cannot write the configuration to standard output\n");
	gen_unref(gen);
	return rc != 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "test", no_argument, NULL, 't' },
		{ "dump", no_argument, NULL, 'T' },
		{ "version", no_argument, NULL, 'V' },
		{ "probe", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = STARTTLSD_CONFIG;
	char err[1024] = "";
	struct config *cfg;
	struct gen *gen;
	int check = 0, dump = 0, probe = 0, opt;

	while ((opt = getopt_long(argc, argv, "c:tTpVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check = 1;
			break;
		case 'T':
			check = dump = 1;
			break;
		case 'p':
			probe = 1;
			break;
		case 'V':
			printf("starttlsd %s\nlibuv %s\nBoringSSL (API version %d)\n", STARTTLSD_VERSION,
			    uv_version_string(), BORINGSSL_API_VERSION);
#ifdef STARTTLSD_ALLOC_FAULTS
			printf("allocation-failure injection (STARTTLSD_ALLOC_FAIL=N): a test build\n");
#endif
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (probe)
		return run_probe(path);
	/* A file that does not parse is reported as text: its log_format is unknown. */
	if ((cfg = config_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (log_configure(cfg->log_format, cfg->log_target, cfg->syslog_socket, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", path, err);
		config_free(cfg);
		return 1;
	}
	if ((gen = gen_new(cfg, 1, err, sizeof(err))) == NULL) {
		log_config_message(LOG_ERROR, err);
		return 1;
	}
	print_warnings(gen->warnings);
	if (privs_check(gen->cfg, !check, err, sizeof(err)) != 0) {
		log_config_message(LOG_ERROR, err);
		gen_unref(gen);
		return 1;
	}
	if (dump)
		return run_dump(gen);
	if (check) {
		printf("%s: configuration OK (%zu listener%s, %d worker%s)\n", path, gen->cfg->nlisteners,
		    gen->cfg->nlisteners == 1 ? "" : "s", gen->cfg->workers, gen->cfg->workers == 1 ? "" : "s");
		gen_unref(gen);
		return 0;
	}
	log_set_level(gen->cfg->log_level);
	raise_nofile();
	return master_run(path, gen);
}
