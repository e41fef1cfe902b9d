/* SPDX-License-Identifier: MIT */
/*
 * High-resolution timers, Linux-shaped: the callback runs later in the
 * kernel's softirq context (one kernel thread, see kernel/softirq.c), never
 * in the context that armed the timer.  null_blk's irqmode=2 completes
 * requests this way.
 */
#ifndef LXDS_LINUX_HRTIMER_H
#define LXDS_LINUX_HRTIMER_H

#include <linux/ktime.h>
#include <time.h>

enum hrtimer_restart { HRTIMER_NORESTART, HRTIMER_RESTART };
enum hrtimer_mode { HRTIMER_MODE_ABS = 0x0, HRTIMER_MODE_REL = 0x1 };

struct hrtimer {
	enum hrtimer_restart (*function)(struct hrtimer *timer);
	/* Kernel-private below. */
	ktime_t lxd_expires;        /* absolute CLOCK_MONOTONIC ns */
	struct hrtimer *lxd_next;   /* softirq queue link */
	int lxd_queued;             /* on the queue (protected by the softirq lock) */
};

/* Prepare @timer to call @function; the clock is CLOCK_MONOTONIC whatever @clock says. */
void hrtimer_setup(struct hrtimer *timer, enum hrtimer_restart (*function)(struct hrtimer *),
		   clockid_t clock, enum hrtimer_mode mode);

/* Arm (or re-arm) @timer for @tim (relative or absolute ns per @mode). */
void hrtimer_start(struct hrtimer *timer, ktime_t tim, enum hrtimer_mode mode);

/*
 * Disarm @timer and wait for its callback if it is running.  Returns 1 if
 * it was armed, 0 if not.  Must not be called from the timer's own callback.
 */
int hrtimer_cancel(struct hrtimer *timer);

/* Add @interval to the expiry of a timer whose callback returns HRTIMER_RESTART. */
static inline void hrtimer_forward_now(struct hrtimer *timer, ktime_t interval)
{
	timer->lxd_expires = ktime_get() + interval;
}

#endif
