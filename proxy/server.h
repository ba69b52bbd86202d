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

#include "gen.h"

/*
 * Serve gen on fds (listener-major, cfg->workers per listener), reporting
 * on report_fd ("ready\n", then "sessions N\n" lines). Returns the process
 * exit status.
 */
int server_run(struct gen *gen, const int *fds, int report_fd);

#endif
