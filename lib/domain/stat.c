/* SPDX-License-Identifier: MIT */
/*
 * Per-domain CPU time, from /proc (works for a zombie too, before it is
 * reaped).  /proc/<pid>/schedstat gives nanoseconds (of the main thread:
 * a domain runs one); /proc/<pid>/stat, the fallback, only clock ticks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lxds/domain.h"

int lxd_proc_cpu_ns(pid_t pid, uint64_t *ns)
{
	if (pid <= 0 || !ns)
		return -EINVAL;
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	FILE *f = fopen(path, "re");
	if (f) {
		unsigned long long run;
		int got = fscanf(f, "%llu", &run);
		fclose(f);
		if (got == 1) {
			*ns = run;
			return 0;
		}
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int e = errno;
	close(fd);
	if (n <= 0)
		return n < 0 ? -e : -EIO;
	buf[n] = '\0';
	/* The command name may contain spaces and parentheses: fields start
	 * after the last ')'.  Then: state(3) ... utime(14) stime(15). */
	char *p = strrchr(buf, ')');
	if (!p)
		return -EIO;
	unsigned long long ut, st;
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -EIO;
	long hz = sysconf(_SC_CLK_TCK);
	if (hz <= 0)
		hz = 100;
	*ns = (ut + st) * (1000000000ull / (unsigned long long)hz);
	return 0;
}
