/*
 * master.h - the privileged master process. Like nginx's master (and
 * OpenSMTPD's parent), it reads the configuration and the keys, binds the
 * ports, and never reads a byte from the network: serving is done by a
 * process it forks (server.h), which drops privileges.
 *
 *   SIGHUP (or a certificate change with [tls] watch = yes): read and check
 *   everything again; if it is whole, bind what is new, fork a serving
 *   process for it, and once that one is ready tell the old one to drain
 *   (it finishes its sessions for up to its shutdown_timeout and exits).
 *   Any setting may change. A broken configuration is logged and the old
 *   one keeps serving.
 *   SIGTERM/SIGINT: every serving process drains, then the master exits 0;
 *   a second one kills them at once.
 *   A serving process that dies is forked again (logged; backing off if it
 *   keeps dying); draining ones live on.
 * It speaks the systemd notification protocol (READY=1, RELOADING=1,
 * STOPPING=1, STATUS=) when started with $NOTIFY_SOCKET.
 */
#ifndef STARTTLSD_MASTER_H
#define STARTTLSD_MASTER_H

#include "gen.h"

/* Serve gen (loaded from path) until told to stop. Returns the exit status. */
int master_run(const char *path, struct gen *gen);

#endif
