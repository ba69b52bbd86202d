/*
 * probe.h - starttlsd --probe: is the running instance serving? Connects to
 * each listener of a configuration the way a client would (a wildcard
 * listen address is probed on loopback) and, on a STARTTLS listener, waits
 * for the greeting, which the backend's must have reached. For container
 * health checks and monitoring that have no SMTP tool at hand.
 */
#ifndef STARTTLSD_PROBE_H
#define STARTTLSD_PROBE_H

#include <stdio.h>
#include <sys/socket.h>

#include "config.h"

/*
 * Probe every listener of cfg, allowing timeout_ms for each; one line per
 * listener goes to out. Returns 0 when all answered (a 220 greeting on a
 * STARTTLS listener, an accepted connection on an implicit one), else 1.
 */
int probe_run(const struct config *cfg, int timeout_ms, FILE *out);

/* Can a TCP connection to a be made within timeout_ms? Returns 0, or -1 with why (a static string). */
int probe_connect(const struct sockaddr_storage *a, int timeout_ms, const char **why);

#endif
