/* server.c - a serving process; see server.h. */
#include "server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <uv.h>

#include "http_status.h"
#include "log.h"
#include "procstat.h"
#include "privs.h"
#include "worker.h"

#define STATUS_MS 5000		/* how often the master hears the session count */

static struct worker *workers;
static int nworkers;
static int report;
static uv_signal_t sig_term, sig_int;
static uv_timer_t status_timer;
static struct http_status *status_http;	/* the metrics endpoint, or NULL */
static atomic_int accepting;		/* workers still accepting connections */

/* One line to the master; it may be gone (then nobody listens). */
static void
tell(const char *line)
{
	if (write(report, line, strlen(line)) < 0) {
		/* the master is gone: SIGTERM (PR_SET_PDEATHSIG) follows */
	}
}

/* Every worker has closed its listening sockets: a reload may be announced. */
static void
stopped_accepting(void)
{
	tell("stopped_accepting\n");
}

static void
on_status(uv_timer_t *t)
{
	char line[64];
	unsigned n = 0;
	int i;

	(void)t;
	for (i = 0; i < nworkers; i++)
		n += worker_sessions(&workers[i]);
	snprintf(line, sizeof(line), "sessions %u\n", n);
	tell(line);
}

static void
on_stop_signal(uv_signal_t *sig, int signum)
{
	int i;

	(void)sig;
	log_event(LOG_INFO, "stopping", "pid=%d signal=%s", (int)getpid(), signum == SIGTERM ? "TERM" : "INT");
	/* A draining process answers no probe: the new one (if any) does. */
	http_status_stop(status_http);
	status_http = NULL;
	for (i = 0; i < nworkers; i++)
		worker_stop(&workers[i]);
	/* With these handles closed the main loop ends once the workers are done. */
	uv_close((uv_handle_t *)&sig_term, NULL);
	uv_close((uv_handle_t *)&sig_int, NULL);
	uv_close((uv_handle_t *)&status_timer, NULL);
}

int
server_run(const struct server_args *a)
{
	struct gen *gen = a->gen;
	const struct config *cfg = gen->cfg;
	char err[1024];
	int i, rc = 1;

	report = a->report_fd;
	prctl(PR_SET_PDEATHSIG, SIGTERM);	/* a master that dies takes us with it (gracefully) */
	procstat_open();			/* /proc, before any chroot */
	if (privs_drop(cfg, err, sizeof(err)) != 0) {
		log_event(LOG_ERROR, "privileges", "error=\"%s\"", err);
		return 1;
	}
	nworkers = cfg->workers;
	if ((workers = calloc((size_t)nworkers, sizeof(*workers))) == NULL)
		return 1;
	uv_signal_init(uv_default_loop(), &sig_term);
	uv_signal_init(uv_default_loop(), &sig_int);
	uv_signal_start(&sig_term, on_stop_signal, SIGTERM);
	uv_signal_start(&sig_int, on_stop_signal, SIGINT);
	uv_timer_init(uv_default_loop(), &status_timer);
	uv_timer_start(&status_timer, on_status, STATUS_MS, STATUS_MS);
	atomic_store(&accepting, nworkers);
	for (i = 0; i < nworkers; i++) {
		workers[i].accepting = &accepting;
		workers[i].stopped_accepting = stopped_accepting;
		workers[i].index = i;
		workers[i].gen = gen;
		gen_ref(gen);
		workers[i].fds = a->fds + (size_t)i;
		workers[i].fd_stride = (size_t)nworkers;
		workers[i].metrics = metrics_slot_claim(a->shm, a->first_slot + (size_t)i, cfg);
		if (worker_start(&workers[i]) != 0) {
			log_event(LOG_ERROR, "worker_error", "worker=%d error=\"cannot start\"", i);
			exit(1);
		}
	}
	if (a->metrics_fd >= 0 && (status_http = http_status_start(a->metrics_fd, gen, a->shm)) == NULL)
		log_event(LOG_ERROR, "metrics", "error=\"the metrics endpoint is not served\"");
	tell("ready\n");
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
	http_status_stop(status_http);
	for (i = 0; i < nworkers; i++)
		worker_join(&workers[i]);
	if (uv_loop_close(uv_default_loop()) != 0)
		log_event(LOG_ERROR, "leak", "error=\"main loop closed with live handles\"");
	rc = 0;
	free(workers);
	log_event(LOG_INFO, "stopped", "pid=%d generation=%u", (int)getpid(), gen->number);
	return rc;
}
