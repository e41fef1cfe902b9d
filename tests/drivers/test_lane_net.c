/* SPDX-License-Identifier: MIT */
/*
 * Polling threads ("lanes") with the dummy driver: lxd_pktgen polls for its
 * own transmit completions, so an isolated driver's transmits go over the
 * sending thread's lane.  In every transmit mode all packets reach the
 * driver by the time lxd_pktgen returns (its lxd_poll_end waits for them:
 * no lxd_module_flush here on purpose); batched, a lane sends several skbs
 * per message.  Natively the same calls must simply work.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <linux/netdevice.h>

#include "driver_mode.h"

#define COUNT 20000u
#define SIZE 60u


static struct net_device *load_dev(struct lxd_module **m, int mode)
{
	assert_int_equal(load(m, NULL, 0), 0);
	if (test_mode == LXD_MODULE_ISOLATED && mode >= 0)
		assert_int_equal(lxd_module_set_xmit_mode(*m, (enum lxd_xmit_mode)mode), 0);
	struct net_device *dev = lxd_module_netdev(*m, 0);
	assert_non_null(dev);
	assert_int_equal(dev_open(dev), 0);
	return dev;
}

/* @dev's driver counted exactly @n packets of SIZE bytes, none dropped. */
static void assert_tx_counted(struct net_device *dev, uint64_t n)
{
	struct rtnl_link_stats64 st;
	dev_get_stats(dev, &st);
	assert_int_equal(st.tx_packets, n);
	assert_int_equal(st.tx_bytes, n * SIZE);
	assert_int_equal(st.tx_dropped, 0);
}

/* Send COUNT packets with pktgen; the driver saw every one when it returns. */
static void send_and_count(struct lxd_module *m, struct net_device *dev)
{
	struct lxd_pktgen_result r;
	assert_int_equal(lxd_pktgen(dev, COUNT, SIZE, &r), 0);
	assert_int_equal(r.sent, COUNT);
	assert_int_equal(r.dropped + r.errors, 0);
	assert_tx_counted(dev, COUNT);
	struct lxd_kernel_counts c;
	lxd_kernel_get_counts(&c);
	assert_int_equal(c.skbs, 0); /* every skb came back and was freed */
	(void)m;
}

static void one_mode(enum lxd_xmit_mode mode, struct lxd_iso_stats *is)
{
	struct lxd_module *m;
	struct net_device *dev = load_dev(&m, (int)mode);
	send_and_count(m, dev);
	if (test_mode == LXD_MODULE_ISOLATED) {
		assert_int_equal(lxd_module_iso_stats(m, is), 0);
		assert_int_equal(is->xmit_skbs, COUNT);
	}
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
}

/*
 * Batched on a lane: transmits made while the lane's batches are in flight
 * are collected and sent together, so fewer messages than skbs.  A batch
 * goes when full (LXD_XMIT_BATCH_MAX, 64), when the domain has none of the
 * lane's, or at the lane's poll (pktgen's, every 64 packets): well over 40
 * a message whatever the timing.  (Sending whenever fewer than two were
 * out made every other batch one skb: 32 a message.)
 */
static void test_batch(void **state)
{
	(void)state;
	struct lxd_iso_stats is = {0};
	one_mode(LXD_XMIT_BATCH, &is);
	if (test_mode == LXD_MODULE_ISOLATED) {
		assert_true(is.xmit_skbs > is.xmit_msgs);
		print_message("batched: %.1f skbs per message\n", (double)is.xmit_skbs / (double)is.xmit_msgs);
		assert_true(is.xmit_skbs >= 40 * is.xmit_msgs);
	}
}

/*
 * Batched on a lane, the awkward mix: two devices in turn (a batch holds
 * one device's skbs, so each switch sends the batch), and every fifth skb
 * allocated outside the driver's arena (alloc_skb with no module current),
 * which the proxy must move into the arena before the domain can see it.
 * Every packet is counted by its own device, none dropped, none leaked.
 */
static void test_batch_two_devices_and_foreign_skbs(void **state)
{
	(void)state;
	static const char *const params[] = {"numdummies=2"};
	struct lxd_module *m;
	assert_int_equal(load(&m, params, 1), 0);
	if (test_mode == LXD_MODULE_ISOLATED)
		assert_int_equal(lxd_module_set_xmit_mode(m, LXD_XMIT_BATCH), 0);
	struct net_device *devs[2];
	for (unsigned d = 0; d < 2; d++) {
		devs[d] = lxd_module_netdev(m, d);
		assert_non_null(devs[d]);
		assert_int_equal(dev_open(devs[d]), 0);
	}
	assert_int_equal(lxd_poll_begin(), 0);
	unsigned sent[2] = {0, 0};
	for (unsigned i = 0; i < COUNT; i++) {
		unsigned d = (i / 7) % 2; /* runs of 7: batches cut short by the switch */
		struct sk_buff *skb = i % 5 == 0 ? alloc_skb(SIZE, 0) : netdev_alloc_skb(devs[d], SIZE);
		assert_non_null(skb);
		skb->dev = devs[d];
		memset(skb_put(skb, SIZE), 0xab, SIZE);
		assert_int_equal(dev_queue_xmit(skb), NET_XMIT_SUCCESS);
		sent[d]++;
		if (i % 64 == 63)
			lxd_poll(0);
	}
	assert_int_equal(lxd_poll_end(), 0);
	for (unsigned d = 0; d < 2; d++)
		assert_tx_counted(devs[d], sent[d]);
	struct lxd_kernel_counts c;
	lxd_kernel_get_counts(&c);
	assert_int_equal(c.skbs, 0);
	if (test_mode == LXD_MODULE_ISOLATED) {
		struct lxd_iso_stats is = {0};
		assert_int_equal(lxd_module_iso_stats(m, &is), 0);
		assert_int_equal(is.xmit_skbs, COUNT);
		assert_true(is.xmit_msgs < COUNT); /* still batched, up to 7 a message */
		assert_true(is.xmit_msgs >= COUNT / 7);
	}
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
}

/* One skb per message in the other modes, all counted. */
static void test_sync(void **state)
{
	(void)state;
	struct lxd_iso_stats is = {0};
	one_mode(LXD_XMIT_SYNC, &is);
	if (test_mode == LXD_MODULE_ISOLATED)
		assert_int_equal(is.xmit_msgs, COUNT);
}

static void test_async(void **state)
{
	(void)state;
	struct lxd_iso_stats is = {0};
	one_mode(LXD_XMIT_ASYNC, &is);
	if (test_mode == LXD_MODULE_ISOLATED)
		assert_int_equal(is.xmit_msgs, COUNT);
}

/*
 * pktgen from a thread that polls already (a generator thread that runs it
 * again and again, as lxds bench net does for its warm-up and timed run):
 * each run uses the caller's lane and drains it (lxd_poll_drain), so every
 * packet has reached the driver when pktgen returns, and the lane is kept:
 * the second run sets none up.  The caller still ends it.
 */
struct outer {
	struct net_device *dev;
	struct lxd_module *m;
	int begin_rc, rc[2], end_rc;
	unsigned inflight[2]; /* this thread's lane calls not finished when each run returned */
	uint64_t counted[2];  /* the driver's tx_packets then */
	uint64_t lanes[2];    /* lanes opened to the domain by then */
	struct lxd_pktgen_result r[2];
	int extra_rc;         /* one more transmit after the runs... */
	unsigned extra_inflight; /* ...in flight until polled: the thread still has its lane */
};

static void *outer_poller(void *arg)
{
	struct outer *o = arg;
	o->begin_rc = lxd_poll_begin();
	for (int i = 0; i < 2; i++) {
		o->rc[i] = lxd_pktgen(o->dev, COUNT, SIZE, &o->r[i]);
		o->inflight[i] = lxd_poll_inflight();
		struct rtnl_link_stats64 st;
		dev_get_stats(o->dev, &st);
		o->counted[i] = st.tx_packets;
		struct lxd_iso_stats is = {0};
		(void)lxd_module_iso_stats(o->m, &is);
		o->lanes[i] = is.lanes_opened;
	}
	struct sk_buff *skb = netdev_alloc_skb(o->dev, SIZE);
	if (skb) {
		memset(skb_put(skb, SIZE), 0xab, SIZE);
		o->extra_rc = dev_queue_xmit(skb);
		o->extra_inflight = lxd_poll_inflight();
	}
	o->end_rc = lxd_poll_end();
	return NULL;
}

static void test_pktgen_inside_polling_thread(void **state)
{
	(void)state;
	for (int mode = LXD_XMIT_SYNC; mode <= LXD_XMIT_BATCH; mode++) {
		struct outer o = {0};
		o.dev = load_dev(&o.m, mode);
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, outer_poller, &o), 0);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 60; /* a bound, not a timing: a hang becomes a failure */
		assert_int_equal(pthread_timedjoin_np(th, NULL, &until), 0);
		assert_int_equal(o.begin_rc, 0);
		for (int i = 0; i < 2; i++) {
			assert_int_equal(o.rc[i], 0);
			assert_int_equal(o.r[i].sent, COUNT);
			assert_int_equal(o.inflight[i], 0);          /* drained... */
			assert_int_equal(o.counted[i], (i + 1) * COUNT); /* ...so the driver saw them all */
			/* One lane for both runs: the first run's, kept. */
			assert_int_equal(o.lanes[i], test_mode == LXD_MODULE_ISOLATED ? 1 : 0);
		}
		assert_int_equal(o.extra_rc, NET_XMIT_SUCCESS);
		/* A lane's async or batched transmit waits for the caller's poll (a
		 * sync one was answered inside the call); without a lane it would
		 * have gone to the dispatcher, which leaves this thread nothing. */
		if (test_mode == LXD_MODULE_ISOLATED && mode != LXD_XMIT_SYNC)
			assert_true(o.extra_inflight > 0);
		else
			assert_int_equal(o.extra_inflight, 0);
		assert_int_equal(o.end_rc, 0);
		assert_tx_counted(o.dev, 2 * COUNT + 1);
		assert_int_equal(lxd_module_unload(o.m), 0);
		assert_kernel_clean();
	}
}

/* pktgen on a thread that does not poll: each run polls for itself, with a
 * lane of its own, taken down when it returns. */
static void test_pktgen_runs_own_lane(void **state)
{
	(void)state;
	struct lxd_module *m;
	struct net_device *dev = load_dev(&m, LXD_XMIT_BATCH);
	for (uint64_t i = 1; i <= 2; i++) {
		struct lxd_pktgen_result r;
		assert_int_equal(lxd_pktgen(dev, COUNT, SIZE, &r), 0);
		assert_int_equal(r.sent, COUNT);
		assert_int_equal(lxd_poll_inflight(), 0);
		assert_int_equal(lxd_poll_drain(), -EINVAL); /* not polling: nothing of the caller's to drain */
		struct lxd_iso_stats is = {0};
		if (test_mode == LXD_MODULE_ISOLATED) {
			assert_int_equal(lxd_module_iso_stats(m, &is), 0);
			assert_int_equal(is.lanes_opened, i);
		}
	}
	assert_tx_counted(dev, 2 * COUNT);
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
}

int main(void)
{
	driver_test_setup();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_batch_two_devices_and_foreign_skbs),
		cmocka_unit_test(test_sync),
		cmocka_unit_test(test_async),
		cmocka_unit_test(test_pktgen_inside_polling_thread),
		cmocka_unit_test(test_pktgen_runs_own_lane),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
