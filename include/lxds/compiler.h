/* SPDX-License-Identifier: MIT */
/* Small compiler and CPU helpers shared by every lxds layer. */
#ifndef LXDS_COMPILER_H
#define LXDS_COMPILER_H

#include <stdint.h>

#define LXD_CACHE_LINE 64
#define LXD_CACHE_ALIGNED __attribute__((aligned(LXD_CACHE_LINE)))

#define lxd_likely(x) __builtin_expect(!!(x), 1)
#define lxd_unlikely(x) __builtin_expect(!!(x), 0)

#define LXD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Tell the core we are spinning: frees pipeline resources for the sibling. */
static inline void lxd_cpu_relax(void) { __builtin_ia32_pause(); }

/* The time-stamp counter: constant-rate on every CPU this runs on. */
static inline uint64_t lxd_rdtsc(void) { return __builtin_ia32_rdtsc(); }

#endif
