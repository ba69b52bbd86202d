/*
 * cpus.h - how many CPUs this process may really use, for workers = auto:
 * the CPUs its affinity mask allows, capped by a cgroup v2 CPU quota
 * (a container's or a systemd unit's CPUQuota=), not the host's total.
 */
#ifndef STARTTLSD_CPUS_H
#define STARTTLSD_CPUS_H

/* At least 1. */
int cpus_available(void);

/*
 * The CPUs a cgroup v2 cpu.max line ("QUOTA PERIOD" or "max PERIOD")
 * allows, rounded up; 0 for no limit or a line that does not parse.
 */
int cpus_from_cpu_max(const char *line);

#endif
