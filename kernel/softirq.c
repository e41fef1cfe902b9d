/* SPDX-License-Identifier: MIT */
/*
 * Softirq context: one kernel thread that runs hrtimer callbacks when they
 * expire.  blk_mq_complete_request uses it too (a timer that expires at
 * once), so "completion from another context" has exactly one meaning in
 * lxds: this thread.
 *
 * The queue is a list sorted by expiry under one mutex.  It stays short:
 * drivers arm timers of a few microseconds and expired ones leave at once.
 * A callback runs without the lock held; `running` and `run_gen` let
 * hrtimer_cancel and lxd_softirq_barrier wait for it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <linux/hrtimer.h>

#include "internal.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER; /* new head or earlier expiry */
static pthread_cond_t idle = PTHREAD_COND_INITIALIZER; /* a callback returned */
static struct hrtimer *head;
static struct hrtimer *running;
static unsigned long run_gen;
static pthread_once_t started = PTHREAD_ONCE_INIT;

ktime_t ktime_get(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ktime_t)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

static void enqueue_locked(struct hrtimer *t)
{
	struct hrtimer **pp = &head;
	while (*pp && (*pp)->lxd_expires <= t->lxd_expires)
		pp = &(*pp)->lxd_next;
	t->lxd_next = *pp;
	*pp = t;
	t->lxd_queued = 1;
	if (head == t)
		pthread_cond_signal(&work);
}

static void dequeue_locked(struct hrtimer *t)
{
	for (struct hrtimer **pp = &head; *pp; pp = &(*pp)->lxd_next)
		if (*pp == t) {
			*pp = t->lxd_next;
			break;
		}
	t->lxd_queued = 0;
	t->lxd_next = NULL;
}

static void *softirq_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		if (!head) {
			pthread_cond_wait(&work, &lock);
			continue;
		}
		ktime_t now = ktime_get();
		if (head->lxd_expires > now) {
			struct timespec ts = {(time_t)(head->lxd_expires / NSEC_PER_SEC),
					      (long)(head->lxd_expires % NSEC_PER_SEC)};
			pthread_cond_timedwait(&work, &lock, &ts);
			continue;
		}
		struct hrtimer *t = head;
		dequeue_locked(t);
		running = t;
		run_gen++;
		enum hrtimer_restart (*fn)(struct hrtimer *) = t->function;
		pthread_mutex_unlock(&lock);
		/* After a NORESTART callback @t may be freed: it is not touched again. */
		enum hrtimer_restart r = fn(t);
		pthread_mutex_lock(&lock);
		if (r == HRTIMER_RESTART && !t->lxd_queued)
			enqueue_locked(t);
		running = NULL;
		pthread_cond_broadcast(&idle);
	}
	return NULL;
}

static void start_thread(void)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&work);
	pthread_cond_init(&work, &ca);
	pthread_condattr_destroy(&ca);
	pthread_t th;
	int err = pthread_create(&th, NULL, softirq_thread, NULL);
	if (err) {
		/* Without this thread no deferred completion could ever run. */
		fprintf(stderr, "[kernel] cannot start the softirq thread: error %d\n", err);
		abort();
	}
	pthread_setname_np(th, "lxd-softirq");
	pthread_detach(th);
}

void hrtimer_setup(struct hrtimer *timer, enum hrtimer_restart (*function)(struct hrtimer *),
		   clockid_t clock, enum hrtimer_mode mode)
{
	(void)clock;
	(void)mode;
	timer->function = function;
	timer->lxd_expires = 0;
	timer->lxd_next = NULL;
	timer->lxd_queued = 0;
}

void hrtimer_start(struct hrtimer *timer, ktime_t tim, enum hrtimer_mode mode)
{
	pthread_once(&started, start_thread);
	ktime_t at = (mode & HRTIMER_MODE_REL) ? ktime_get() + tim : tim;
	pthread_mutex_lock(&lock);
	if (timer->lxd_queued)
		dequeue_locked(timer);
	timer->lxd_expires = at;
	enqueue_locked(timer);
	pthread_mutex_unlock(&lock);
}

int hrtimer_cancel(struct hrtimer *timer)
{
	pthread_mutex_lock(&lock);
	int was = timer->lxd_queued;
	if (was)
		dequeue_locked(timer);
	while (running == timer)
		pthread_cond_wait(&idle, &lock);
	pthread_mutex_unlock(&lock);
	return was;
}

void lxd_softirq_barrier(void)
{
	pthread_mutex_lock(&lock);
	unsigned long gen = run_gen;
	while (running && run_gen == gen)
		pthread_cond_wait(&idle, &lock);
	pthread_mutex_unlock(&lock);
}
