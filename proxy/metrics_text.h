/*
 * metrics_text.h - the counters as Prometheus text (exposition format
 * 0.0.4): every family with HELP and TYPE, per-listener labels, the
 * histograms cumulative, the certificates' expiry, the process_* families
 * of the serving process and starttlsd_build_info.
 */
#ifndef STARTTLSD_METRICS_TEXT_H
#define STARTTLSD_METRICS_TEXT_H

#include "buf.h"
#include "metrics.h"
#include "procstat.h"
#include "tls_server.h"

/*
 * Append starttlsd_ready{listener} to b: ready[i] (1 or 0) for listener
 * names[i], what /readyz answers for it (the caller decides).
 */
void metrics_render_ready(struct buf *b, const char *const *names, const int *ready, size_t n);

/* Append the whole exposition to b. */
void metrics_render(struct buf *b, const struct metrics_view *v, const struct tls_server *ts, const struct proc_stats *p);

#endif
