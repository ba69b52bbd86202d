/*
 * procstat.h - this process's resource use for the process_* metrics:
 * CPU time, resident memory, open descriptors. /proc is opened once before
 * privileges are dropped, so it still answers inside a chroot.
 */
#ifndef STARTTLSD_PROCSTAT_H
#define STARTTLSD_PROCSTAT_H

#include <stdint.h>

struct proc_stats {
	double cpu_seconds;	/* user + system */
	uint64_t rss_bytes;
	uint64_t vsize_bytes;
	unsigned open_fds;	/* 0 if unknown */
	uint64_t max_fds;
	double start_time;	/* Unix time this process started */
};

/* Open what procstat_read() needs (before chroot). Returns 0 or -1; reading works anyway, with less. */
int procstat_open(void);

/* Fill *st. */
void procstat_read(struct proc_stats *st);

#endif
