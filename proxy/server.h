/*
 * server.h - a serving process: what the master forks to serve one
 * configuration generation. It drops privileges (user, group, chroot),
 * runs one worker thread per `workers` on the sockets the master bound,
 * tells the master when it is ready (and how many sessions it has), and on
 * SIGTERM stops accepting and drains its sessions for up to
 * shutdown_timeout before it exits. It never reads the configuration or a
 * key file itself: everything it needs came with the fork.
 */
#ifndef STARTTLSD_SERVER_H
#define STARTTLSD_SERVER_H

#include <stddef.h>

#include "gen.h"
#include "metrics.h"

/* What a serving process gets from the master. */
struct server_args {
	struct gen *gen;		/* the configuration to serve */
	const int *fds;			/* its listening sockets: listener-major, cfg->workers per listener */
	int metrics_fd;			/* the metrics endpoint's socket, or -1 */
	int report_fd;			/* to the master: "ready\n", then "sessions N\n" lines */
	struct metrics_shm *shm;	/* the shared counters (NULL: none) */
	size_t first_slot;		/* worker i counts in slot first_slot + i */
};

/* Serve as a.gen says. Returns the process exit status. */
int server_run(const struct server_args *a);

#endif
