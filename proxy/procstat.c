/* procstat.c - resource use of this process; see procstat.h. */
#define _GNU_SOURCE
#include "procstat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int statm_fd = -1;	/* /proc/self/statm */
static int fd_dir = -1;		/* /proc/self/fd */
static double started;		/* when procstat_open() ran */

int
procstat_open(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	started = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	fd_dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return statm_fd >= 0 && fd_dir >= 0 ? 0 : -1;
}

/* Entries of /proc/self/fd, not counting ".", ".." and the directory's own descriptor. */
static unsigned
count_fds(void)
{
	char buf[4096];
	long n, off;
	unsigned count = 0;

	if (fd_dir < 0 || lseek(fd_dir, 0, SEEK_SET) != 0)
		return 0;
	while ((n = syscall(SYS_getdents64, fd_dir, buf, sizeof(buf))) > 0)
		for (off = 0; off < n; off += ((struct dirent64 *)(buf + off))->d_reclen)
			count += ((struct dirent64 *)(buf + off))->d_name[0] != '.';
	return count > 0 ? count - 1 : 0;
}

/* The first two numbers of /proc/self/statm (sizes in pages); 0, or -1 if it does not read so. */
static int
parse_statm(const char *s, unsigned long *vsize, unsigned long *rss)
{
	char *end;

	errno = 0;
	*vsize = strtoul(s, &end, 10);
	if (end == s || *end != ' ')
		return -1;
	s = end + 1;
	*rss = strtoul(s, &end, 10);
	return end == s || errno != 0 ? -1 : 0;
}

void
procstat_read(struct proc_stats *st)
{
	struct rusage ru;
	struct rlimit rl;
	char buf[128];
	unsigned long vsize = 0, rss = 0;
	ssize_t n;

	memset(st, 0, sizeof(*st));
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		st->cpu_seconds = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	if (statm_fd >= 0 && (n = pread(statm_fd, buf, sizeof(buf) - 1, 0)) > 0) {
		buf[n] = '\0';
		if (parse_statm(buf, &vsize, &rss) == 0) {
			st->vsize_bytes = (uint64_t)vsize * (uint64_t)sysconf(_SC_PAGESIZE);
			st->rss_bytes = (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
		}
	}
	st->open_fds = count_fds();
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		st->max_fds = rl.rlim_cur;
	st->start_time = started;
}
