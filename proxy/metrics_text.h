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

/* Append the whole exposition to b. */
void metrics_render(struct buf *b, const struct metrics_view *v, const struct tls_server *ts, const struct proc_stats *p);

#endif
