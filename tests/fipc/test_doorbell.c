/* SPDX-License-Identifier: MIT */
/*
 * Several channels, one doorbell (lxd_chan_ring_with / lxd_chan_wait_also,
 * the fIPC part of lanes): a receiver waiting on its main channel A sees a
 * message on the linked lane B, is woken from its sleep by a publish on B,
 * and stops watching B once unlinked.  Each side runs in its own thread
 * where it matters, as the two processes would.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "lxds/fipc.h"

struct pair {
	void *mem;
	struct lxd_chan k, d; /* sender (kernel) side, receiver (domain) side */
};

static void pair_init(struct pair *p, uint32_t slots)
{
	size_t len = lxd_chan_shm_size(slots);
	assert_true(len > 0);
	p->mem = aligned_alloc(64, len);
	assert_non_null(p->mem);
	assert_int_equal(lxd_chan_format(p->mem, len, slots), 0);
	assert_int_equal(lxd_chan_attach(&p->k, p->mem, len, slots, LXD_SIDE_KERNEL), 0);
	assert_int_equal(lxd_chan_attach(&p->d, p->mem, len, slots, LXD_SIDE_DOMAIN), 0);
}

/* A = main channel, B = lane; linked on both sides as the protocol requires. */
struct fix {
	struct pair a, b;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	pair_init(&f->a, 4);
	pair_init(&f->b, 4);
	lxd_chan_wait_also(&f->a.d, &f->b.d); /* receiver: waiting on A watches B too */
	lxd_chan_ring_with(&f->b.k, &f->a.k); /* sender: publishing on B rings A's doorbell */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	free(f->a.mem);
	free(f->b.mem);
	free(f);
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* (a) Work on the lane alone ends a wait on the main channel. */
static void test_lane_work_ends_main_wait(void **state)
{
	struct fix *f = *state;
	/* Nothing anywhere: the wait times out (the link alone is no work). */
	assert_int_equal(lxd_chan_wait(&f->a.d, 2 * 1000 * 1000), -ETIMEDOUT);
	uint64_t v = 7;
	assert_int_equal(lxd_chan_try_send(&f->b.k, 1, 0, &v, 1), 0);
	/* Long timeout: were B not watched, this would fail with -ETIMEDOUT
	 * after 2 s instead of returning 0 at once. */
	assert_int_equal(lxd_chan_wait(&f->a.d, 2000ll * 1000 * 1000), 0);
	assert_null(lxd_chan_try_recv(&f->a.d)); /* the work is B's, not A's */
	struct lxd_msg *m = lxd_chan_try_recv(&f->b.d);
	assert_non_null(m);
	assert_int_equal(m->w[0], 7);
	lxd_chan_release(&f->b.d);
	/* Taken: nothing left to end a wait. */
	assert_int_equal(lxd_chan_wait(&f->a.d, 2 * 1000 * 1000), -ETIMEDOUT);
}

struct sleeper {
	struct lxd_chan *ch;
	int rc;
	uint64_t ns;
};

static void *sleeper_run(void *arg)
{
	struct sleeper *s = arg;
	uint64_t t0 = now_ns();
	s->rc = lxd_chan_wait(s->ch, 5000ll * 1000 * 1000);
	s->ns = now_ns() - t0;
	return NULL;
}

/* (b) A receiver asleep on A's doorbell is woken by a publish on B. */
static void test_sleeper_woken_by_lane_publish(void **state)
{
	struct fix *f = *state;
	/* A tiny fixed spin: the receiver goes to sleep on the futex at once. */
	f->a.d.spin_fixed = true;
	f->a.d.spin_cycles = 1000;
	struct sleeper s = {.ch = &f->a.d};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, sleeper_run, &s), 0);
	/* Publish only once it has announced its sleep (up to 2 s for a busy
	 * machine), then a little more so it is inside the futex wait. */
	for (int i = 0; i < 2000 && !atomic_load(&f->a.d.rx_bell->sleeping); i++)
		nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
	assert_true(atomic_load(&f->a.d.rx_bell->sleeping));
	nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
	uint64_t wakes0 = atomic_load(&f->a.d.rx_bell->wakes);
	uint64_t v = 9;
	assert_int_equal(lxd_chan_try_send(&f->b.k, 1, 0, &v, 1), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(s.rc, 0);
	assert_true(f->a.d.sleeps >= 1); /* it really slept: the doorbell woke it, not its spin */
	assert_true(atomic_load(&f->a.d.rx_bell->wakes) > wakes0); /* B's publish rang A's bell */
	/* Woken, not timed out (5 s): a missed ring would only end with the
	 * futex timeout, then find B's message and still return 0. */
	assert_true(s.ns < 1000ull * 1000 * 1000);
	assert_non_null(lxd_chan_try_recv(&f->b.d));
}

/* (c) Once unlinked, B's messages no longer end a wait on A. */
static void test_unlinked_lane_is_not_watched(void **state)
{
	struct fix *f = *state;
	lxd_chan_wait_unlink(&f->a.d, &f->b.d);
	assert_null(f->a.d.also);
	uint64_t v = 3;
	assert_int_equal(lxd_chan_try_send(&f->b.k, 1, 0, &v, 1), 0);
	assert_int_equal(lxd_chan_wait(&f->a.d, 20 * 1000 * 1000), -ETIMEDOUT);
	assert_true(lxd_chan_has_work(&f->b.d)); /* B's message is still there, just not A's concern */
	/* A itself still works. */
	assert_int_equal(lxd_chan_try_send(&f->a.k, 1, 0, &v, 1), 0);
	assert_int_equal(lxd_chan_wait(&f->a.d, 20 * 1000 * 1000), 0);
	/* Unlinking what is not linked is harmless. */
	lxd_chan_wait_unlink(&f->a.d, &f->b.d);
}

/* A dead lane's leftovers do not end the main channel's wait (a lane torn
 * down with messages in its ring must not make the receiver spin). */
static void test_dead_lane_is_not_work(void **state)
{
	struct fix *f = *state;
	uint64_t v = 4;
	assert_int_equal(lxd_chan_try_send(&f->b.k, 1, 0, &v, 1), 0);
	lxd_chan_mark_dead(&f->b.d);
	assert_int_equal(lxd_chan_wait(&f->a.d, 20 * 1000 * 1000), -ETIMEDOUT);
}

/* Two lanes on one main channel: each is watched, and unlinking one keeps the other. */
static void test_two_lanes(void **state)
{
	struct fix *f = *state;
	struct pair c;
	pair_init(&c, 2);
	lxd_chan_wait_also(&f->a.d, &c.d);
	lxd_chan_ring_with(&c.k, &f->a.k);
	uint64_t v = 5;
	assert_int_equal(lxd_chan_try_send(&c.k, 1, 0, &v, 1), 0);
	assert_int_equal(lxd_chan_wait(&f->a.d, 2000ll * 1000 * 1000), 0);
	assert_non_null(lxd_chan_try_recv(&c.d));
	lxd_chan_release(&c.d);
	/* Unlink C (the list head): B, further down the list, is still watched. */
	lxd_chan_wait_unlink(&f->a.d, &c.d);
	assert_int_equal(lxd_chan_try_send(&c.k, 1, 0, &v, 1), 0);
	assert_int_equal(lxd_chan_wait(&f->a.d, 20 * 1000 * 1000), -ETIMEDOUT);
	assert_int_equal(lxd_chan_try_send(&f->b.k, 1, 0, &v, 1), 0);
	assert_int_equal(lxd_chan_wait(&f->a.d, 2000ll * 1000 * 1000), 0);
	free(c.mem);
}

/*
 * Wait tickets (lxd_chan_wait_ticket / lxd_chan_wait_since, the
 * dispatcher's sleep): a kick after the ticket ends the wait at once, even
 * with no message; without one the wait times out; a kick from before the
 * ticket does not count.
 */
struct kicker {
	struct lxd_chan *ch;
	unsigned delay_ms;
};

static void *kick_later(void *arg)
{
	struct kicker *k = arg;
	struct timespec ts = {0, (long)k->delay_ms * 1000 * 1000};
	nanosleep(&ts, NULL);
	lxd_chan_kick_self(k->ch);
	return NULL;
}

static void test_wait_ticket(void **state)
{
	struct fix *f = *state;
	struct lxd_chan *ch = &f->a.d;
	/* No kick: times out. */
	uint32_t t = lxd_chan_wait_ticket(ch);
	assert_int_equal(lxd_chan_wait_since(ch, t, 2 * 1000 * 1000), -ETIMEDOUT);
	/* A kick between the ticket and the wait (the race the ticket closes). */
	t = lxd_chan_wait_ticket(ch);
	lxd_chan_kick_self(ch);
	uint64_t t0 = now_ns();
	assert_int_equal(lxd_chan_wait_since(ch, t, 5ll * 1000 * 1000 * 1000), 0);
	assert_true(now_ns() - t0 < 1000ull * 1000 * 1000);
	/* A kick before the ticket is old news. */
	lxd_chan_kick_self(ch);
	t = lxd_chan_wait_ticket(ch);
	assert_int_equal(lxd_chan_wait_since(ch, t, 2 * 1000 * 1000), -ETIMEDOUT);
	/* A kick while asleep (small spin budget): woken well before the timeout. */
	ch->spin_fixed = true;
	ch->spin_cycles = 1000;
	struct kicker k = {ch, 50};
	pthread_t th;
	t = lxd_chan_wait_ticket(ch);
	assert_int_equal(pthread_create(&th, NULL, kick_later, &k), 0);
	t0 = now_ns();
	assert_int_equal(lxd_chan_wait_since(ch, t, 5ll * 1000 * 1000 * 1000), 0);
	assert_true(now_ns() - t0 < 2000ull * 1000 * 1000);
	assert_int_equal(pthread_join(th, NULL), 0);
	ch->spin_fixed = false;
	ch->spin_cycles = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lane_work_ends_main_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sleeper_woken_by_lane_publish, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unlinked_lane_is_not_watched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_lane_is_not_work, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_ticket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_lanes, setup, teardown),
	};
	return cmocka_run_group_tests_name("fipc-doorbell", tests, NULL, NULL);
}
