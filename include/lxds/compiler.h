/* SPDX-License-Identifier: MIT */
/* Small compiler and CPU helpers shared by every lxds layer. */
#ifndef LXDS_COMPILER_H
#define LXDS_COMPILER_H

#include <stdint.h>

#define LXD_CACHE_LINE 64
#define LXD_CACHE_ALIGNED __attribute__((aligned(LXD_CACHE_LINE)))

#define lxd_likely(x) __builtin_expect(!!(x), 1)
#define lxd_unlikely(x) __builtin_expect(!!(x), 0)

/* For a hot path split from its rare one: the fast part inline, with no
 * register saves, the rest out of line. */
#define LXD_ALWAYS_INLINE inline __attribute__((always_inline))
#define LXD_NOINLINE __attribute__((noinline))

#define LXD_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The sanitizer a build runs under: LXD_ASAN, LXD_TSAN (gcc says so with
 * __SANITIZE_*__, clang with __has_feature). */
#if defined(__SANITIZE_ADDRESS__)
#define LXD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LXD_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define LXD_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LXD_TSAN 1
#endif
#endif

/* Tell the core we are spinning: frees pipeline resources for the sibling. */
static inline void lxd_cpu_relax(void) { __builtin_ia32_pause(); }

/* The time-stamp counter: constant-rate on every CPU this runs on. */
static inline uint64_t lxd_rdtsc(void) { return __builtin_ia32_rdtsc(); }

#endif
