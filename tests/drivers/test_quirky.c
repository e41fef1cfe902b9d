/* SPDX-License-Identifier: MIT */
/*
 * The quirky test driver (quirky.c) in every mode: skbs a driver keeps past
 * its transmit and frees later, transmits it refuses, a slow driver under a
 * fast sender (bounded queue), and (isolated only) a driver that hangs in
 * ndo_open, ended by the domain's hang deadline.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <linux/netdevice.h>

#include "driver_mode.h"


static long live_skbs(void)
{
	struct lxd_kernel_counts c;
	lxd_kernel_get_counts(&c);
	return c.skbs;
}

/* quirky loaded with @params (@n of them), in transmit @mode when isolated: its device, open. */
static struct net_device *open_quirky(struct lxd_module **m, const char *const *params, size_t n,
				      enum lxd_xmit_mode mode)
{
	assert_int_equal(load(m, params, n), 0);
	if (test_mode == LXD_MODULE_ISOLATED)
		assert_int_equal(lxd_module_set_xmit_mode(*m, mode), 0);
	struct net_device *dev = lxd_module_netdev(*m, 0);
	assert_int_equal(dev_open(dev), 0);
	return dev;
}

/* The driver keeps the first 16 skbs until ndo_stop: they stay alive, then go. */
static void kept_skbs(enum lxd_xmit_mode mode)
{
	struct lxd_module *m;
	struct net_device *dev = open_quirky(&m, NULL, 0, mode);
	struct lxd_pktgen_result r;
	assert_int_equal(lxd_pktgen(dev, 40, 64, &r), 0);
	assert_int_equal(r.sent, 40);
	assert_int_equal(lxd_module_flush(m), 0);
	assert_int_equal(live_skbs(), 16);
	/* The driver saw each skb as built: length, headroom, protocol, addresses. */
	struct rtnl_link_stats64 st;
	dev_get_stats(dev, &st);
	assert_int_equal(st.tx_packets, 40);
	assert_int_equal(st.tx_bytes, 40 * 64);
	assert_int_equal(st.tx_errors, 0);
	assert_int_equal(dev_close(dev), 0); /* ndo_stop frees them */
	assert_int_equal(live_skbs(), 0);
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
}

static void test_kept_skbs(void **state)
{
	(void)state;
	kept_skbs(LXD_XMIT_SYNC);
	kept_skbs(LXD_XMIT_ASYNC);
	kept_skbs(LXD_XMIT_BATCH);
}

/*
 * Every transmit refused.  Natively and in sync mode dev_queue_xmit says
 * NET_XMIT_DROP; async, it accepted them and the refusal is a drop counted
 * later.  Either way: tx_dropped, and no skb left.
 */
static void busy(enum lxd_xmit_mode mode)
{
	struct lxd_module *m;
	const char *p[] = {"busy=1"};
	struct net_device *dev = open_quirky(&m, p, 1, mode);
	bool async = test_mode == LXD_MODULE_ISOLATED && mode != LXD_XMIT_SYNC;
	struct lxd_pktgen_result r;
	assert_int_equal(lxd_pktgen(dev, 10, 64, &r), 0);
	assert_int_equal(async ? r.sent : r.dropped, 10);
	assert_int_equal(lxd_module_flush(m), 0);
	struct rtnl_link_stats64 st;
	dev_get_stats(dev, &st);
	assert_int_equal(st.tx_dropped, 10);
	assert_int_equal(live_skbs(), 0);
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
}

static void test_busy(void **state)
{
	(void)state;
	busy(LXD_XMIT_SYNC);
	busy(LXD_XMIT_ASYNC);
	busy(LXD_XMIT_BATCH);
}

/* Isolated only: ndo_open never returns; the hang deadline kills the domain, dev_open fails. */
static bool dev_gone(void *arg)
{
	(void)arg;
	return dev_get_by_name("quirky0") == NULL;
}

static void test_hang_in_open(void **state)
{
	(void)state;
	if (test_mode != LXD_MODULE_ISOLATED) {
		skip(); /* natively the kernel would hang with it */
		return;
	}
	struct lxd_module *m;
	const char *p[] = {"hang_open=1"};
	assert_int_equal(load(&m, p, 1), 0);
	struct net_device *dev = lxd_module_netdev(m, 0);
	assert_int_equal(dev_open(dev), -EIO);
	assert_false(lxd_module_alive(m));
	assert_true(wait_until(dev_gone, NULL));
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
}

struct sampler {
	_Atomic bool stop;
	long max_skbs;
};

static void *sample_skbs(void *arg)
{
	struct sampler *s = arg;
	while (!atomic_load(&s->stop)) {
		long n = live_skbs();
		if (n > s->max_skbs)
			s->max_skbs = n;
		struct timespec ts = {0, 50 * 1000};
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/*
 * A sender far faster than the driver (20 us per transmit): in the async
 * modes the transmit queue's limit (4096) makes the sender wait, so the
 * skbs alive (each holding arena memory) stay bounded whatever the speeds;
 * natively the sender is the driver, one at a time.
 */
static void slow_driver(enum lxd_xmit_mode mode)
{
	struct lxd_module *m;
	const char *p[] = {"slow_us=20"};
	struct net_device *dev = open_quirky(&m, p, 1, mode);
	struct sampler s = {.max_skbs = 0};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, sample_skbs, &s), 0);
	struct lxd_pktgen_result r;
	assert_int_equal(lxd_pktgen(dev, 12000, 64, &r), 0);
	assert_int_equal(r.sent, 12000);
	assert_int_equal(lxd_module_flush(m), 0);
	atomic_store(&s.stop, true);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(s.max_skbs <= 4096 + 16 + 1); /* queue limit + the 16 it keeps + one being built */
	assert_int_equal(dev_close(dev), 0);
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
}

static void test_slow_driver_bounded_queue(void **state)
{
	(void)state;
	slow_driver(LXD_XMIT_ASYNC);
	if (test_mode == LXD_MODULE_ISOLATED)
		slow_driver(LXD_XMIT_BATCH);
}

/*
 * Isolated only: a hostile domain consumes skbs through guessed references
 * while their transmit is in flight, then reports them freed as well: the
 * kernel frees each skb once (a double free would drive the count below
 * zero, or ASan would see it), and the driver's later consumes of skbs
 * already gone are ignored.
 */
static void forged_consumes(enum lxd_xmit_mode mode, const char *const *params, size_t n, long max_live)
{
	struct lxd_module *m;
	struct net_device *dev = open_quirky(&m, params, n, mode); /* isolated only */
	struct lxd_pktgen_result r;
	assert_int_equal(lxd_pktgen(dev, 200, 64, &r), 0);
	assert_int_equal(lxd_module_flush(m), 0);
	long live = live_skbs();
	assert_true(live >= 0 && live <= max_live);
	assert_int_equal(dev_close(dev), 0);
	assert_int_equal(live_skbs(), 0);
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
}

static void test_forged_consumes(void **state)
{
	(void)state;
	if (test_mode != LXD_MODULE_ISOLATED) {
		skip();
		return;
	}
	static const char *first[] = {"forge=1"};
	forged_consumes(LXD_XMIT_SYNC, first, 1, 16);
	forged_consumes(LXD_XMIT_ASYNC, first, 1, 16);
	forged_consumes(LXD_XMIT_BATCH, first, 1, 16);
	/* Mid-run, nothing kept: the batch's answer is all "freed", the path
	 * that frees a batch's skbs without a look at each answer must still
	 * skip those the forged consumes took. */
	static const char *mid[] = {"forge=1", "forge_at=100", "hold=0"};
	forged_consumes(LXD_XMIT_BATCH, mid, 3, 0);
}

/* Isolated only: the driver dies holding skbs: the kernel frees them at
 * unload -- held singly (async) or in a batch that stays pinned by them. */
static void kill_holding_skbs(enum lxd_xmit_mode mode)
{
	struct lxd_module *m;
	struct net_device *dev = open_quirky(&m, NULL, 0, mode); /* isolated only */
	struct lxd_pktgen_result r;
	assert_int_equal(lxd_pktgen(dev, 10, 64, &r), 0);
	assert_int_equal(lxd_module_flush(m), 0);
	assert_int_equal(live_skbs(), 10);
	assert_int_equal(lxd_module_kill(m), 0);
	assert_true(wait_until(dev_gone, NULL));
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean(); /* the 10 skbs and their arena data included */
}

static void test_kill_holding_skbs(void **state)
{
	(void)state;
	if (test_mode != LXD_MODULE_ISOLATED) {
		skip();
		return;
	}
	kill_holding_skbs(LXD_XMIT_ASYNC);
	kill_holding_skbs(LXD_XMIT_BATCH);
}

int main(void)
{
	driver_test_setup();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kept_skbs),
		cmocka_unit_test(test_busy),
		cmocka_unit_test(test_hang_in_open),
		cmocka_unit_test(test_kill_holding_skbs),
		cmocka_unit_test(test_forged_consumes),
		cmocka_unit_test(test_slow_driver_bounded_queue),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
