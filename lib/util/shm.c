/* SPDX-License-Identifier: MIT */
/* Shared memory between the kernel and a domain: memfds, mapped shared. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lxds/util.h"

void *lxd_shm_map(int fd, size_t len)
{
	if (fd < 0 || len == 0) {
		errno = EINVAL;
		return NULL;
	}
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

void *lxd_shm_create(const char *name, size_t len, int *fd)
{
	if (!name || !fd || len == 0) {
		errno = EINVAL;
		return NULL;
	}
	/* CLOEXEC: a memfd reaches a domain only when handed over on purpose. */
	int f = memfd_create(name, MFD_CLOEXEC);
	if (f < 0)
		return NULL;
	if (ftruncate(f, (off_t)len) != 0) {
		int e = errno;
		close(f);
		errno = e;
		return NULL;
	}
	void *p = lxd_shm_map(f, len);
	if (!p) {
		int e = errno;
		close(f);
		errno = e;
		return NULL;
	}
	*fd = f;
	return p;
}
