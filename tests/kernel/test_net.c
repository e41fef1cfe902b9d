/* SPDX-License-Identifier: MIT */
/*
 * The net core with an in-test driver (no module): naming, registration,
 * transmit paths (down, stopped, busy, oversized), skb helpers, stats
 * without ndo_get_stats64, MTU and MAC errors, and nothing leaked.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <linux/etherdevice.h>
#include <linux/netdevice.h>

#include "lxds/kernel.h"
#include "../../kernel/idl/lxd_iso_if.h" /* the isolated transmit's packed answers */

static int opened, stopped, busy;

static netdev_tx_t t_xmit(struct sk_buff *skb, struct net_device *dev)
{
	if (busy)
		return NETDEV_TX_BUSY; /* the skb stays the caller's */
	dev->stats.tx_packets++;
	dev->stats.tx_bytes += skb->len;
	consume_skb(skb);
	return NETDEV_TX_OK;
}

static int t_open(struct net_device *dev) { (void)dev; opened++; return 0; }
static int t_stop(struct net_device *dev) { (void)dev; stopped++; return 0; }

static const struct net_device_ops ops = {.ndo_open = t_open, .ndo_stop = t_stop, .ndo_start_xmit = t_xmit};

static void t_setup(struct net_device *dev)
{
	ether_setup(dev);
	dev->netdev_ops = &ops;
}

static void assert_clean(void)
{
	struct lxd_kernel_counts c;
	lxd_kernel_get_counts(&c);
	assert_int_equal(c.netdevs, 0);
	assert_int_equal(c.netdevs_registered, 0);
	assert_int_equal(c.skbs, 0);
	assert_int_equal(c.data_buffers, 0);
}

static void test_names(void **state)
{
	(void)state;
	struct net_device *a = alloc_netdev(16, "tn%d", NET_NAME_ENUM, t_setup);
	struct net_device *b = alloc_netdev(16, "tn%d", NET_NAME_ENUM, t_setup);
	struct net_device *c = alloc_netdev(0, "tn1", NET_NAME_USER, t_setup);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(register_netdev(a), 0);
	assert_int_equal(register_netdev(b), 0);
	assert_string_equal(a->name, "tn0");
	assert_string_equal(b->name, "tn1");
	assert_int_equal(register_netdev(c), -EEXIST);
	assert_int_equal(register_netdev(a), -EINVAL); /* twice */
	/* The private area is zeroed, aligned and distinct per device. */
	assert_non_null(netdev_priv(a));
	assert_int_equal((uintptr_t)netdev_priv(a) % 64, 0);
	assert_ptr_not_equal(netdev_priv(a), netdev_priv(b));
	unregister_netdev(a);
	assert_null(dev_get_by_name("tn0"));
	free_netdev(a);
	/* The freed number is reused. */
	struct net_device *d = alloc_netdev(0, "tn%d", NET_NAME_ENUM, t_setup);
	assert_int_equal(register_netdev(d), 0);
	assert_string_equal(d->name, "tn0");
	assert_null(alloc_netdev(0, "a-name-much-too-long-for-ifnamsiz", NET_NAME_USER, t_setup));
	struct net_device *bad = alloc_netdev(0, "x%s", NET_NAME_USER, t_setup);
	assert_int_equal(register_netdev(bad), -EINVAL);
	unregister_netdev(b);
	unregister_netdev(d);
	free_netdev(b);
	free_netdev(c);
	free_netdev(d);
	free_netdev(bad);
	assert_clean();
}

static struct sk_buff *frame(struct net_device *dev, unsigned len)
{
	struct sk_buff *skb = netdev_alloc_skb(dev, len);
	assert_non_null(skb);
	assert_non_null(skb_put(skb, len));
	return skb;
}

static void test_xmit_paths(void **state)
{
	(void)state;
	struct net_device *dev = alloc_netdev(0, "tx%d", NET_NAME_ENUM, t_setup);
	assert_int_equal(register_netdev(dev), 0);
	opened = stopped = busy = 0;
	assert_int_equal(dev_queue_xmit(frame(dev, 60)), -ENETDOWN);
	assert_int_equal(dev_open(dev), 0);
	assert_int_equal(dev_open(dev), 0); /* already up: ndo_open not called again */
	assert_int_equal(opened, 1);
	assert_int_equal(dev_queue_xmit(frame(dev, 60)), NET_XMIT_SUCCESS);
	assert_int_equal(dev_queue_xmit(frame(dev, 1515)), -EINVAL); /* above MTU + header */
	netif_stop_queue(dev);
	assert_int_equal(dev_queue_xmit(frame(dev, 60)), NET_XMIT_DROP);
	netif_wake_queue(dev);
	busy = 1;
	assert_int_equal(dev_queue_xmit(frame(dev, 60)), NET_XMIT_DROP);
	busy = 0;
	struct rtnl_link_stats64 st;
	dev_get_stats(dev, &st);
	assert_int_equal(st.tx_packets, 1);
	assert_int_equal(st.tx_bytes, 60);
	assert_int_equal(st.tx_dropped, 2);
	assert_int_equal(dev_set_mtu(dev, 9000), -EINVAL); /* ether_setup: max 1500 */
	assert_int_equal(dev_set_mtu(dev, 1000), 0);
	assert_int_equal(dev->mtu, 1000);
	struct sockaddr sa = {0};
	assert_int_equal(dev_set_mac_address(dev, &sa), -EOPNOTSUPP);
	assert_int_equal(dev_queue_xmit(NULL), -EINVAL);
	/* Unregistering an open device closes it. */
	unregister_netdev(dev);
	assert_int_equal(stopped, 1);
	assert_int_equal(dev_open(dev), -ENODEV);
	free_netdev(dev);
	assert_clean();
}

static void test_free_registered_is_refused(void **state)
{
	(void)state;
	struct net_device *dev = alloc_netdev(0, "fr%d", NET_NAME_ENUM, t_setup);
	assert_int_equal(register_netdev(dev), 0);
	free_netdev(dev); /* logged and refused: still there */
	assert_ptr_equal(dev_get_by_name("fr0"), dev);
	unregister_netdev(dev);
	free_netdev(dev);
	assert_clean();
}

static void test_skb_helpers(void **state)
{
	(void)state;
	struct sk_buff *skb = alloc_skb(100, GFP_KERNEL);
	assert_non_null(skb);
	skb_reserve(skb, 20);
	assert_int_equal(skb_headroom(skb), 20);
	assert_int_equal(skb_tailroom(skb), 80);
	assert_non_null(skb_put(skb, 80));
	assert_null(skb_put(skb, 1)); /* past the end: refused, not corrupted */
	assert_int_equal(skb->len, 80);
	assert_non_null(skb_push(skb, 20));
	assert_null(skb_push(skb, 1));
	assert_int_equal(skb->len, 100);
	assert_non_null(skb_pull(skb, 14));
	assert_null(skb_pull(skb, 87));
	assert_int_equal(skb->len, 86);
	kfree_skb(skb);
	kfree_skb(NULL);
	consume_skb(NULL);
	assert_null(alloc_skb(2u << 20, GFP_KERNEL));
	assert_clean();
}

/*
 * skb heads are recycled (per thread, like Linux's slab cache): a run of
 * skbs freed and allocated again comes back clean -- no field of the old
 * skb shows -- and counted; so does a thread's, after the thread exits.
 */
enum { RUN = 300 };

static void alloc_dirty_free(void)
{
	struct sk_buff *s[RUN];
	for (int i = 0; i < RUN; i++) {
		s[i] = alloc_skb(64, 0);
		assert_non_null(s[i]);
		s[i]->len = 1234;
		s[i]->protocol = 0xbeef;
		s[i]->queue_mapping = 7;
		s[i]->dev = (struct net_device *)s[i];
		s[i]->lxd_next = s[i];
	}
	for (int i = 0; i < RUN; i++)
		consume_skb(s[i]);
}

static void *thread_run(void *arg)
{
	(void)arg;
	alloc_dirty_free();
	return NULL;
}

static void test_skb_heads_come_back_clean(void **state)
{
	(void)state;
	struct lxd_kernel_counts c0, c;
	lxd_kernel_get_counts(&c0);
	alloc_dirty_free();
	struct sk_buff *s[RUN];
	for (int i = 0; i < RUN; i++) {
		s[i] = alloc_skb(100, 0);
		assert_non_null(s[i]);
		assert_int_equal(s[i]->len, 0);
		assert_int_equal(s[i]->protocol, 0);
		assert_int_equal(s[i]->queue_mapping, 0);
		assert_null(s[i]->dev);
		assert_null(s[i]->lxd_next);
		assert_ptr_equal(s[i]->data, s[i]->head);
		assert_ptr_equal(s[i]->end, s[i]->head + 100);
	}
	for (int i = 0; i < RUN; i++)
		kfree_skb(s[i]);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, thread_run, NULL), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	lxd_kernel_get_counts(&c);
	assert_int_equal(c.skbs, c0.skbs);
	assert_int_equal(c.data_buffers, c0.data_buffers);
}

/* Kernel-internal (kernel/internal.h): a transmit batch's frees. */
void lxd_skb_free_bulk(struct sk_buff *const *skbs, unsigned n);
void lxd_data_free_bulk(void *const *p, unsigned n);

static void test_bulk_free(void **state)
{
	(void)state;
	struct lxd_kernel_counts c0, c;
	lxd_kernel_get_counts(&c0);
	/* 150 skbs, more than one internal run of 64, with holes. */
	enum { N = 150 };
	struct sk_buff *s[N];
	for (int i = 0; i < N; i++) {
		s[i] = i % 7 == 3 ? NULL : alloc_skb(64 + (unsigned)i, 0);
		assert_true(i % 7 == 3 || s[i] != NULL);
	}
	lxd_kernel_get_counts(&c);
	assert_int_equal(c.skbs, c0.skbs + N - 21);
	lxd_skb_free_bulk(s, N);
	lxd_kernel_get_counts(&c);
	assert_int_equal(c.skbs, c0.skbs);
	assert_int_equal(c.data_buffers, c0.data_buffers);
	/* Data from the native arena and past it (aligned_alloc), mixed. */
	void *d[6] = {lxd_data_alloc(NULL, 100), NULL, lxd_data_alloc(NULL, 20u << 20), lxd_data_alloc(NULL, 4096),
		      lxd_data_alloc(NULL, 20u << 20), lxd_data_alloc(NULL, 1)};
	for (int i = 0; i < 6; i++)
		assert_true(i == 1 || d[i] != NULL);
	lxd_kernel_get_counts(&c);
	assert_int_equal(c.data_buffers, c0.data_buffers + 5);
	lxd_data_free_bulk(d, 6);
	lxd_kernel_get_counts(&c);
	assert_int_equal(c.data_buffers, c0.data_buffers);
	lxd_data_free_bulk(d, 0); /* nothing to do */
}

/* Every answer a domain's transmit can give survives its four-bit form. */
static void test_xmit_answer_nibbles(void **state)
{
	(void)state;
	const int answers[] = {
		NETDEV_TX_OK, NETDEV_TX_BUSY, NETDEV_TX_OK | LXD_XMIT_CONSUMED,
		NETDEV_TX_OK | LXD_XMIT_CONSUMED | LXD_XMIT_DROPPED, NETDEV_TX_BUSY | LXD_XMIT_CONSUMED,
		NETDEV_TX_BUSY | LXD_XMIT_CONSUMED | LXD_XMIT_DROPPED,
	};
	enum { N = sizeof(answers) / sizeof(answers[0]) };
	for (size_t i = 0; i < N; i++)
		assert_int_equal(lxd_xmit_res_unpack(lxd_xmit_res_pack(answers[i])), answers[i]);
	/* Errors (the skb not looked at) come back as -EIO, whatever they were. */
	assert_int_equal(lxd_xmit_res_unpack(lxd_xmit_res_pack(-EINVAL)), -EIO);
	assert_int_equal(lxd_xmit_res_unpack(lxd_xmit_res_pack(-EBADF)), -EIO);
	/* A netdev_tx_t other than OK is not OK. */
	assert_int_equal(lxd_xmit_res_unpack(lxd_xmit_res_pack(0x20)) & 0xff, NETDEV_TX_BUSY);
	/* Packed two a byte, each set leaves its neighbours alone, odd counts included. */
	unsigned char res[LXD_XMIT_RES_BYTES(LXD_XMIT_BATCH_MAX)];
	assert_int_equal(sizeof(res), 32);
	assert_int_equal(LXD_XMIT_RES_BYTES(63), 32);
	memset(res, 0xff, sizeof(res));
	for (unsigned i = 0; i < LXD_XMIT_BATCH_MAX; i++)
		lxd_xmit_res_set(res, i, lxd_xmit_res_pack(answers[(i * 7) % N]));
	for (unsigned i = 0; i < LXD_XMIT_BATCH_MAX; i++)
		assert_int_equal(lxd_xmit_res_unpack(lxd_xmit_res_get(res, i)), answers[(i * 7) % N]);
}

static void test_eth_helpers(void **state)
{
	(void)state;
	u8 a[ETH_ALEN], b[ETH_ALEN];
	eth_random_addr(a);
	eth_random_addr(b);
	assert_true(is_valid_ether_addr(a));
	assert_false(ether_addr_equal(a, b));
	const u8 bc[ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	assert_true(is_broadcast_ether_addr(bc));
	assert_false(is_valid_ether_addr(bc));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_xmit_paths),
		cmocka_unit_test(test_free_registered_is_refused),
		cmocka_unit_test(test_skb_helpers),
		cmocka_unit_test(test_eth_helpers),
		cmocka_unit_test(test_skb_heads_come_back_clean),
		cmocka_unit_test(test_bulk_free),
		cmocka_unit_test(test_xmit_answer_nibbles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
