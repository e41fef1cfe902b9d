/* SPDX-License-Identifier: MIT */
#ifndef LXDS_LINUX_KTIME_H
#define LXDS_LINUX_KTIME_H

#include <linux/types.h>

/* Nanoseconds, as in Linux. */
typedef s64 ktime_t;

#define NSEC_PER_USEC 1000L
#define NSEC_PER_MSEC 1000000L
#define NSEC_PER_SEC 1000000000L

static inline ktime_t ns_to_ktime(u64 ns) { return (ktime_t)ns; }
static inline s64 ktime_to_ns(ktime_t kt) { return kt; }

/* CLOCK_MONOTONIC now, in nanoseconds. */
ktime_t ktime_get(void);

#endif
