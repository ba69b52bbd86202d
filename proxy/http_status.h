/*
 * http_status.h - the metrics endpoint ([global] metrics = address:port) of
 * a serving process: GET /metrics (Prometheus text), /healthz and /readyz,
 * anything else 404. It runs on a thread and event loop of its own, so a
 * slow or hostile scraper cannot delay a session; requests are bounded
 * (4 KiB of head, 5 s, 16 connections at once) and each response closes
 * its connection.
 *
 *   /healthz  200 while the process serves.
 *   /readyz   200 while it serves and every listener's backend accepted a
 *             connection in the last 30 s (sessions' connects count; with
 *             none recent, one is tried now); else 503 with the reasons.
 */
#ifndef STARTTLSD_HTTP_STATUS_H
#define STARTTLSD_HTTP_STATUS_H

#include "gen.h"
#include "metrics.h"

struct http_status;

/* Serve on fd (a listening socket) for gen's configuration, counters from shm. NULL on failure. */
struct http_status *http_status_start(int fd, struct gen *gen, struct metrics_shm *shm);

/* Stop serving (the process drains): close the socket and the connections, end the thread. NULL: a no-op. */
void http_status_stop(struct http_status *h);

#endif
