/* cpus.c - CPUs available to this process; see cpus.h. */
#define _GNU_SOURCE
#include "cpus.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
cpus_from_cpu_max(const char *line)
{
	char *end;
	long quota, period;

	quota = strtol(line, &end, 10);
	if (end == line || quota <= 0)
		return 0;	/* "max": no quota */
	period = strtol(end, &end, 10);
	if (period <= 0)
		return 0;
	return (int)((quota + period - 1) / period);
}

/* The quota of the cgroup this process is in (cgroup v2: one line "0::/path"), or 0. */
static int
cgroup_quota(void)
{
	char self[512], path[600], line[128];
	const char *rel;
	FILE *f;
	int n = 0;

	if ((f = fopen("/proc/self/cgroup", "r")) == NULL)
		return 0;
	if (fgets(self, sizeof(self), f) == NULL || strncmp(self, "0::/", 4) != 0) {
		fclose(f);
		return 0;
	}
	fclose(f);
	self[strcspn(self, "\n")] = '\0';
	rel = strcmp(self + 3, "/") == 0 ? "" : self + 3;
	snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cpu.max", rel);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(line, sizeof(line), f) != NULL)
			n = cpus_from_cpu_max(line);
		fclose(f);
	}
	return n;
}

int
cpus_available(void)
{
	cpu_set_t set;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	int q;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		n = CPU_COUNT(&set);
	if ((q = cgroup_quota()) > 0 && q < n)
		n = q;
	return n < 1 ? 1 : (int)n;
}
