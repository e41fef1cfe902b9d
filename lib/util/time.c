/* SPDX-License-Identifier: MIT */
/* Clocks: the TSC for cheap cycle counts, CLOCK_MONOTONIC to calibrate it. */
#include <stdatomic.h>
#include <time.h>

#include "lxds/compiler.h"
#include "lxds/util.h"

uint64_t lxd_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static _Atomic double tsc_per_ns;

double lxd_tsc_per_ns(void)
{
	double cached = atomic_load_explicit(&tsc_per_ns, memory_order_relaxed);
	if (cached > 0)
		return cached;
	/* Two 10 ms windows; keep the second, the first warms up the clock path. */
	double r = 0;
	for (int round = 0; round < 2; round++) {
		uint64_t t0 = lxd_now_ns(), c0 = lxd_rdtsc();
		while (lxd_now_ns() - t0 < 10000000ull)
			;
		uint64_t t1 = lxd_now_ns(), c1 = lxd_rdtsc();
		r = (double)(c1 - c0) / (double)(t1 - t0);
	}
	atomic_store_explicit(&tsc_per_ns, r, memory_order_relaxed);
	return r;
}
