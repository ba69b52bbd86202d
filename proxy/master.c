/* master.c - the privileged master process; see master.h. */
#define _GNU_SOURCE	/* pipe2 */
#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "server.h"
#include "sockets.h"
#include "watch.h"

#define MAX_CHILDREN 16		/* the current serving process and those still draining */
#define RESTART_MIN_MS 1000	/* a serving process that dies sooner is restarted after a pause */
#define RESTART_MAX_MS 30000
#define STOP_GRACE_MS 10000	/* beyond shutdown_timeout, before serving processes are killed */
#define WATCH_DEBOUNCE_MS 1000	/* certificate files change in bursts */
#define ANNOUNCE_MAX_MS 5000	/* a replaced process that does not say it stopped accepting: announce anyway */

/* A serving process. */
struct child {
	pid_t pid;
	int report;		/* its end of the report pipe (read) */
	struct gen *gen;	/* its configuration (a reference) */
	int *fds;		/* its sockets (listener-major) */
	int metrics_fd;		/* its metrics endpoint socket, or -1 */
	int ready;		/* it said "ready" */
	int draining;		/* told to drain */
	uint64_t started_ms;	/* when it was forked */
	char line[128];		/* a report line being read */
	size_t linelen;
	unsigned sessions;	/* its last "sessions N" */
};

static struct metrics_shm *shm;		/* counters shared with the serving processes */
static const char *config_path;
static struct gen *current;		/* the configuration being served */
static struct child children[MAX_CHILDREN];
static struct child *serving;		/* the child serving current (NULL while restarting) */
static struct child *pending;		/* a reload's new child, not yet ready */
static struct child *announce_after;	/* a reload is announced once this replaced child stops accepting */
static pid_t announce_pid;		/* the new serving process of that reload */
static uint64_t announce_by;		/* ...or at this time, whatever it says (0: nothing waits) */
static struct sockets socks;
static int sigfd = -1;
static int stopping;			/* SIGTERM/SIGINT seen: draining everything */
static uint64_t stop_deadline;		/* then kill what is left */
static uint64_t restart_at;		/* fork a new serving process then (0: not due) */
static uint64_t restart_delay = RESTART_MIN_MS;
static uint64_t reload_at;		/* a watched file changed: reload then (0: not due) */
static struct watch *watcher;
static int ever_ready;			/* a serving process was ready once (else a death is a startup failure) */
static int exit_status;

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
child_free(struct child *c)
{
	if (c->report >= 0)
		close(c->report);
	gen_unref(c->gen);
	free(c->fds);
	memset(c, 0, sizeof(*c));
	c->report = -1;
}

/* In the forked child: keep only what serving gen on fds needs, then serve. */
static void
become_server(struct child *c, struct gen *gen, int report)
{
	struct server_args a = { gen, c->fds, c->metrics_fd, report, shm, metrics_first_slot((size_t)(c - children)) };
	sigset_t none;
	size_t i;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	close(sigfd);
	notify_close();
	watch_free(watcher);
	for (i = 0; i < MAX_CHILDREN; i++)
		if (children[i].pid != 0 && children[i].report >= 0)
			close(children[i].report);
	for (i = 0; i < socks.n; i++) {
		size_t k, mine = socks.v[i].fd == c->metrics_fd;
		for (k = 0; k < gen->cfg->nlisteners * (size_t)gen->cfg->workers; k++)
			mine |= c->fds[k] == socks.v[i].fd;
		if (!mine)
			close(socks.v[i].fd);
	}
	exit(server_run(&a));
}

/* Fork a serving process for gen on fds (copied). Returns it, or NULL. */
static struct child *
spawn(struct gen *gen, const int *fds, int metrics_fd)
{
	size_t nfds = gen->cfg->nlisteners * (size_t)gen->cfg->workers, i;
	struct child *c = NULL;
	int p[2];

	for (i = 0; i < MAX_CHILDREN && c == NULL; i++)
		if (children[i].pid == 0)
			c = &children[i];
	if (c == NULL || pipe2(p, O_CLOEXEC) != 0)
		return NULL;
	if ((c->fds = malloc(nfds * sizeof(*c->fds))) == NULL) {
		close(p[0]);
		close(p[1]);
		return NULL;
	}
	memcpy(c->fds, fds, nfds * sizeof(*c->fds));
	c->metrics_fd = metrics_fd;
	if ((c->pid = fork()) < 0) {
		close(p[0]);
		close(p[1]);
		child_free(c);
		return NULL;
	}
	if (c->pid == 0) {
		close(p[0]);
		become_server(c, gen, p[1]);
	}
	close(p[1]);
	c->report = p[0];
	c->gen = gen;
	gen_ref(gen);
	c->started_ms = now_ms();
	log_event(LOG_INFO, "serving_process", "pid=%d generation=%u workers=%d", (int)c->pid, gen->number,
	    gen->cfg->workers);
	return c;
}

static void
drain(struct child *c)
{
	if (c == NULL || c->draining)
		return;
	c->draining = 1;
	kill(c->pid, SIGTERM);
}

static void
status(void)
{
	if (serving != NULL)
		notify_send("STATUS=serving generation %u, %u session%s", current->number, serving->sessions,
		    serving->sessions == 1 ? "" : "s");
}

/* A reload's outcome, for the metrics. */
static void
count_reload(int ok)
{
	if (shm == NULL)
		return;
	if (ok) {
		atomic_fetch_add(&shm->reloads_ok, 1);
		atomic_store(&shm->last_reload_ok_unix, (uint64_t)time(NULL));
	} else {
		atomic_fetch_add(&shm->reloads_failed, 1);
	}
}

/* A reload did not happen: say why (log, metrics, systemd's STATUS=); the old configuration serves on. */
static void
reload_failed(const char *why)
{
	char q[1100];

	count_reload(0);
	log_event(LOG_ERROR, "reload_failed", "generation=%u error=%s action=keeping_old", current->number,
	    log_quote(q, sizeof(q), why, strlen(why)));
	notify_send("READY=1\nSTATUS=reload failed: %s", why);
}

/*
 * The reload is done: announce it (log, metrics, READY=1). Not before the
 * replaced process has stopped accepting: until then a new connection may
 * still meet the old configuration (its certificate, its verify_client).
 */
static void
announce_reload(void)
{
	if (announce_after != NULL && now_ms() >= announce_by)
		log_event(LOG_WARN, "reload_overlap", "pid=%d error=\"the replaced serving process did not stop accepting "
		    "in %d ms\"", (int)announce_after->pid, ANNOUNCE_MAX_MS);
	announce_after = NULL;
	announce_by = 0;
	count_reload(1);
	log_event(LOG_INFO, "reloaded", "generation=%u config=%s pid=%d", current->number, config_path,
	    (int)announce_pid);
	notify_send("READY=1");
	status();
}

/* A serving process said it is ready: the first, a restarted one, or a reload's. */
static void
on_ready(struct child *c)
{
	size_t l;

	c->ready = 1;
	if (c == pending) {
		if (announce_after != NULL)
			announce_reload();	/* the one before: its old process is slow to stop */
		drain(serving);
		announce_after = serving;
		announce_pid = c->pid;
		announce_by = now_ms() + ANNOUNCE_MAX_MS;
		serving = pending;
		pending = NULL;
		gen_unref(current);
		current = c->gen;
		gen_ref(current);
		sockets_prune(&socks);
		log_set_level(current->cfg->log_level);
		if (announce_after == NULL)
			announce_reload();	/* nothing was serving (a restart was due) */
		return;
	}
	if (c != serving)
		return;
	if (!ever_ready) {
		for (l = 0; l < current->cfg->nlisteners; l++) {
			const struct listener_conf *lc = &current->cfg->listeners[l];
			log_event(LOG_INFO, "listening", "listener=%s listen=%s backend=%s tls=%s hostname=%s", lc->name,
			    lc->listen_str, lc->backend_str, config_tls_mode_name(lc->tls), lc->hostname);
		}
	}
	ever_ready = 1;
	log_event(LOG_INFO, "ready", "version=%s workers=%d config=%s pid=%d", STARTTLSD_VERSION, current->cfg->workers,
	    config_path, (int)c->pid);
	notify_send("READY=1\nMAINPID=%d", (int)getpid());
	status();
}

/* N of a "sessions N" line (a serving process may have been taken over: all of it is checked). */
static int
parse_sessions(const char *line, unsigned *n)
{
	unsigned long v;
	char *end;

	if (strncmp(line, "sessions ", 9) != 0 || line[9] < '0' || line[9] > '9')
		return -1;
	errno = 0;
	v = strtoul(line + 9, &end, 10);
	if (errno != 0 || *end != '\0' || v > UINT_MAX)
		return -1;
	*n = (unsigned)v;
	return 0;
}

/* Lines from a serving process: "ready", "sessions N". */
static void
read_report(struct child *c)
{
	char buf[256];
	ssize_t n = read(c->report, buf, sizeof(buf));
	ssize_t i;

	if (n <= 0) {	/* it closed its end (it is exiting): SIGCHLD follows */
		close(c->report);
		c->report = -1;
		return;
	}
	for (i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (c->linelen < sizeof(c->line) - 1)
				c->line[c->linelen++] = buf[i];
			continue;
		}
		c->line[c->linelen] = '\0';
		c->linelen = 0;
		if (strcmp(c->line, "ready") == 0)
			on_ready(c);
		else if (strcmp(c->line, "stopped_accepting") == 0 && c == announce_after)
			announce_reload();
		else if (parse_sessions(c->line, &c->sessions) == 0 && c == serving)
			status();
	}
}

/* A reload's new serving process failed before it was ready: forget its sockets. */
static void
undo_reload(const char *why)
{
	int *fds;

	pending = NULL;
	reload_failed(why);
	if ((fds = malloc(current->cfg->nlisteners * (size_t)current->cfg->workers * sizeof(*fds))) != NULL) {
		char err[256];
		int mfd;
		if (sockets_bind(&socks, current->cfg, fds, &mfd, err, sizeof(err)) == 0)
			sockets_prune(&socks);
		free(fds);
	}
}

static void
reap(void)
{
	struct child *c;
	int st, i;
	pid_t pid;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (c = NULL, i = 0; i < MAX_CHILDREN && c == NULL; i++)
			if (children[i].pid == pid)
				c = &children[i];
		if (c == NULL)
			continue;
		metrics_fold(shm, metrics_first_slot((size_t)(c - children)), (size_t)c->gen->cfg->workers);
		log_event(c->draining || stopping ? LOG_INFO : LOG_ERROR, "serving_process_exited",
		    "pid=%d generation=%u status=%d%s", (int)pid, c->gen->number,
		    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), c->draining ? " drained=yes" : "");
		if (c == pending) {
			child_free(c);
			undo_reload("the new serving process exited before it was ready");
			continue;
		}
		if (c == announce_after)
			announce_reload();	/* it is gone: it accepts nothing more */
		if (c == serving && !stopping && !ever_ready) {
			/* The first serving process could not start (say, no such user): give up. */
			log_event(LOG_ERROR, "startup_failed", "pid=%d", (int)pid);
			exit_status = 1;
			stopping = 1;
			stop_deadline = now_ms();
			serving = NULL;
		} else if (c == serving && !stopping) {
			/* It died: serve again, pausing if it keeps dying. */
			restart_delay = now_ms() - c->started_ms < RESTART_MIN_MS ? restart_delay * 2 : RESTART_MIN_MS;
			if (restart_delay > RESTART_MAX_MS)
				restart_delay = RESTART_MAX_MS;
			restart_at = now_ms() + (now_ms() - c->started_ms < RESTART_MIN_MS ? restart_delay : 0);
			serving = NULL;
		}
		child_free(c);
	}
}

static void
restart(void)
{
	int *fds = malloc(current->cfg->nlisteners * (size_t)current->cfg->workers * sizeof(*fds));
	char err[256];
	int mfd;

	restart_at = 0;
	if (fds != NULL && sockets_bind(&socks, current->cfg, fds, &mfd, err, sizeof(err)) == 0 &&
	    (serving = spawn(current, fds, mfd)) != NULL)
		log_event(LOG_WARN, "restarted", "pid=%d generation=%u", (int)serving->pid, current->number);
	else
		restart_at = now_ms() + RESTART_MAX_MS;
	free(fds);
}

/* The generation's load-time warnings, one log line each. */
static void
log_warnings(const struct gen *g)
{
	const char *p = g->warnings, *nl;
	char q[600];

	for (; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
		log_event(LOG_WARN, "config_warning", "generation=%u warning=%s", g->number,
		    log_quote(q, sizeof(q), p, (size_t)(nl - p)));
}

static void
reload(void)
{
	char err[1024];
	struct gen *next;
	int *fds, mfd;

	reload_at = 0;
	notify_send("RELOADING=1\nMONOTONIC_USEC=%llu", notify_monotonic_usec());
	if (pending != NULL) {
		reload_failed("a reload is already in progress");
		return;
	}
	if ((next = gen_load(config_path, current->number + 1, err, sizeof(err))) == NULL) {
		reload_failed(err);
		return;
	}
	if (log_configure(next->cfg->log_format, next->cfg->log_target, next->cfg->syslog_socket, err,
	    sizeof(err)) != 0) {
		reload_failed(err);
		gen_unref(next);
		return;
	}
	log_warnings(next);
	if ((fds = malloc(next->cfg->nlisteners * (size_t)next->cfg->workers * sizeof(*fds))) == NULL ||
	    sockets_bind(&socks, next->cfg, fds, &mfd, err, sizeof(err)) != 0 ||
	    (pending = spawn(next, fds, mfd)) == NULL) {
		reload_failed(fds == NULL ? "out of memory" : err);
	} else {
		watch_free(watcher);
		watcher = watch_new(next->cfg);
	}
	free(fds);
	gen_unref(next);	/* the new serving process holds it */
}

static void
stop(int sig)
{
	int i;

	if (stopping) {	/* the second signal: no more waiting */
		log_event(LOG_WARN, "signal", "signal=%s action=kill", sig == SIGTERM ? "TERM" : "INT");
		for (i = 0; i < MAX_CHILDREN; i++)
			if (children[i].pid != 0)
				kill(children[i].pid, SIGKILL);
		return;
	}
	stopping = 1;
	stop_deadline = now_ms() + current->cfg->shutdown_timeout_ms + STOP_GRACE_MS;
	log_event(LOG_INFO, "signal", "signal=%s action=shutdown", sig == SIGTERM ? "TERM" : "INT");
	notify_send("STOPPING=1");
	for (i = 0; i < MAX_CHILDREN; i++)
		if (children[i].pid != 0)
			drain(&children[i]);
	/* The ports close as soon as the serving processes close theirs: new connections are refused. */
	sockets_free(&socks);
}

static void
on_signal(void)
{
	struct signalfd_siginfo si;

	while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			log_event(LOG_INFO, "signal", "signal=HUP action=reload");
			if (!stopping)
				reload();
			break;
		case SIGTERM:
		case SIGINT:
			stop((int)si.ssi_signo);
			break;
		case SIGCHLD:
			reap();
			break;
		}
	}
}

static int
live_children(void)
{
	int i, n = 0;

	for (i = 0; i < MAX_CHILDREN; i++)
		n += children[i].pid != 0;
	return n;
}

/* The next deadline the loop must wake for, as a poll() timeout. */
static int
timeout(void)
{
	uint64_t t = 0, now = now_ms();

	if (restart_at && (t == 0 || restart_at < t))
		t = restart_at;
	if (reload_at && (t == 0 || reload_at < t))
		t = reload_at;
	if (announce_by && (t == 0 || announce_by < t))
		t = announce_by;
	if (stopping && (t == 0 || stop_deadline < t))
		t = stop_deadline;
	if (t == 0)
		return -1;
	return t <= now ? 0 : (int)(t - now);
}

static void
loop(void)
{
	struct pollfd pfd[MAX_CHILDREN + 2];
	struct child *who[MAX_CHILDREN + 2];
	int n, i;

	while (!stopping || live_children() > 0) {
		n = 0;
		pfd[n].fd = sigfd, pfd[n].events = POLLIN, who[n++] = NULL;
		if (watch_fd(watcher) >= 0)
			pfd[n].fd = watch_fd(watcher), pfd[n].events = POLLIN, who[n++] = NULL;
		for (i = 0; i < MAX_CHILDREN; i++)
			if (children[i].pid != 0 && children[i].report >= 0)
				pfd[n].fd = children[i].report, pfd[n].events = POLLIN, who[n++] = &children[i];
		if (poll(pfd, (nfds_t)n, timeout()) < 0 && errno != EINTR)
			break;
		for (i = 0; i < n; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP)))
				continue;
			if (who[i] != NULL)
				read_report(who[i]);
			else if (pfd[i].fd == sigfd)
				on_signal();
			else if (watch_changed(watcher) && !reload_at) {
				log_event(LOG_INFO, "watch", "action=reload delay_ms=%d", WATCH_DEBOUNCE_MS);
				reload_at = now_ms() + WATCH_DEBOUNCE_MS;
			}
		}
		if (restart_at && now_ms() >= restart_at && !stopping)
			restart();
		if (announce_by && now_ms() >= announce_by)
			announce_reload();
		if (reload_at && now_ms() >= reload_at && !stopping)
			reload();
		if (stopping && now_ms() >= stop_deadline)
			stop(SIGTERM);	/* kills what is left */
	}
}

int
master_run(const char *path, struct gen *gen)
{
	sigset_t set;
	char err[1024];
	int *fds, i, mfd;

	config_path = path;
	current = gen;
	/* Started as the same user as the serving process (systemd's User=, a
	 * container): a serving process taken over must not read our memory
	 * (the keys) through ptrace or /proc. Its children inherit this. */
	prctl(PR_SET_DUMPABLE, 0);
	for (i = 0; i < MAX_CHILDREN; i++)
		children[i].report = -1;
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		fprintf(stderr, "starttlsd: signalfd: %s\n", strerror(errno));
		return 1;
	}
	if ((fds = malloc(gen->cfg->nlisteners * (size_t)gen->cfg->workers * sizeof(*fds))) == NULL)
		return 1;
	if (sockets_bind(&socks, gen->cfg, fds, &mfd, err, sizeof(err)) != 0) {
		log_config_message(LOG_ERROR, err);
		free(fds);
		return 1;
	}
	if ((shm = metrics_shm_new()) == NULL)
		log_event(LOG_WARN, "metrics", "error=\"no shared memory: counters start over with each serving process\"");
	notify_init();
	watcher = watch_new(gen->cfg);
	serving = spawn(gen, fds, mfd);
	free(fds);
	if (serving == NULL) {
		fprintf(stderr, "starttlsd: cannot start a serving process: %s\n", strerror(errno));
		return 1;
	}
	loop();
	log_event(LOG_INFO, "stopped", "pid=%d", (int)getpid());
	for (i = 0; i < MAX_CHILDREN; i++)
		if (children[i].pid != 0)
			child_free(&children[i]);
	watch_free(watcher);
	sockets_free(&socks);
	close(sigfd);
	notify_close();
	gen_unref(current);
	return exit_status;
}
