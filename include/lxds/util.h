/* SPDX-License-Identifier: MIT */
/* Process-level helpers: timing, CPU pinning, shared memory. */
#ifndef LXDS_UTIL_H
#define LXDS_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* TSC cycles per nanosecond, measured once against CLOCK_MONOTONIC (about 20 ms, cached). */
double lxd_tsc_per_ns(void);

/* Nanoseconds of CLOCK_MONOTONIC. */
uint64_t lxd_now_ns(void);

/* Pin the calling thread to @cpu.  Returns 0 or -errno (e.g. -EINVAL for a CPU that is not there). */
int lxd_pin_self(int cpu);

/* Number of CPUs this process may run on. */
int lxd_cpu_count(void);

/*
 * Make a memfd of @len bytes named @name and map it shared, read-write.
 * Returns the mapping (and *@fd), or NULL with errno set.
 */
void *lxd_shm_create(const char *name, size_t len, int *fd);

/* Map an existing memfd of @len bytes shared, read-write.  NULL with errno set on failure. */
void *lxd_shm_map(int fd, size_t len);

#endif
