/* SPDX-License-Identifier: MIT */
/*
 * What a driver calls that stays in its domain: printk (to the domain's
 * log, which the kernel prints), ktime_get, and hrtimers, which fire in
 * the domain's own loop as lightweight threads (a callback may call the
 * kernel, e.g. blk_mq_end_request, and wait for it without holding up
 * other work).  kmalloc and friends are kernel/slab.c, built in here too:
 * the domain's private heap.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <linux/hrtimer.h>
#include <linux/printk.h>

#include "dom.h"

#define DEFAULT_VIS __attribute__((visibility("default")))

DEFAULT_VIS int printk(const char *fmt, ...)
{
	int level = 4;
	if (fmt[0] == KERN_SOH[0] && fmt[1] >= '0' && fmt[1] <= '7') {
		level = fmt[1] - '0';
		fmt += 2;
	}
	if (level > 4)
		return 0; /* as the kernel without LXDS_KLOG: info and debug stay quiet */
	va_list ap;
	va_start(ap, fmt);
	int n = vfprintf(stdout, fmt, ap);
	va_end(ap);
	fflush(stdout);
	return n;
}

DEFAULT_VIS ktime_t ktime_get(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ktime_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

/* ---- hrtimers: a sorted list, run by the main loop ---- */

static struct hrtimer *timers;

static void dequeue(struct hrtimer *t)
{
	for (struct hrtimer **pp = &timers; *pp; pp = &(*pp)->lxd_next)
		if (*pp == t) {
			*pp = t->lxd_next;
			break;
		}
	t->lxd_queued = 0;
}

static void enqueue(struct hrtimer *t)
{
	struct hrtimer **pp = &timers;
	while (*pp && (*pp)->lxd_expires <= t->lxd_expires)
		pp = &(*pp)->lxd_next;
	t->lxd_next = *pp;
	*pp = t;
	t->lxd_queued = 1;
}

DEFAULT_VIS void hrtimer_setup(struct hrtimer *timer, enum hrtimer_restart (*function)(struct hrtimer *),
			       clockid_t clock, enum hrtimer_mode mode)
{
	(void)clock;
	(void)mode;
	memset(timer, 0, sizeof(*timer));
	timer->function = function;
}

DEFAULT_VIS void hrtimer_start(struct hrtimer *timer, ktime_t tim, enum hrtimer_mode mode)
{
	if (timer->lxd_queued)
		dequeue(timer);
	timer->lxd_expires = (mode & HRTIMER_MODE_REL) ? ktime_get() + tim : tim;
	enqueue(timer);
}

DEFAULT_VIS int hrtimer_cancel(struct hrtimer *timer)
{
	/* One thread: a callback is never "running" while another context
	 * cancels, except when it blocks in a call; it is off the list then. */
	if (!timer->lxd_queued)
		return 0;
	dequeue(timer);
	return 1;
}

static void fire(void *arg)
{
	struct hrtimer *t = arg;
	if (t->function(t) == HRTIMER_RESTART && !t->lxd_queued)
		enqueue(t);
}

unsigned lxd_dom_run_timers(void)
{
	if (!timers)
		return 0;
	ktime_t now = ktime_get();
	unsigned n = 0;
	while (timers && timers->lxd_expires <= now) {
		struct hrtimer *t = timers;
		dequeue(t);
		lxd_async(&lxd_dom.f, fire, t);
		n++;
	}
	return n;
}

int64_t lxd_dom_next_timer_ns(void)
{
	if (!timers)
		return -1;
	int64_t d = timers->lxd_expires - ktime_get();
	return d < 0 ? 0 : d;
}
