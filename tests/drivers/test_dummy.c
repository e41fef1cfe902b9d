/* SPDX-License-Identifier: MIT */
/*
 * The dummy driver's observable behaviour, the same in every mode: device
 * registration, carrier and queue state, packet and byte counts, drops on a
 * stopped queue, MAC changes, parameter errors, and a clean unload.
 * Isolated only: every transmit mode, and killing the driver's domain in
 * the middle of traffic.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <linux/etherdevice.h>
#include <linux/if_arp.h>
#include <linux/netdevice.h>

#include "driver_mode.h"

struct fix {
	struct lxd_module *m;
	struct net_device *dev;
};


static int setup(void **state)
{
	static struct fix f;
	memset(&f, 0, sizeof(f));
	if (load(&f.m, NULL, 0))
		return -1;
	f.dev = lxd_module_netdev(f.m, 0);
	if (!f.dev)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	lxd_module_unload(f->m);
	assert_kernel_clean();
	return 0;
}

static void test_registers_one_closed_device(void **state)
{
	struct fix *f = *state;
	assert_string_equal(f->dev->name, "dummy0");
	assert_ptr_equal(dev_get_by_name("dummy0"), f->dev);
	assert_null(lxd_module_netdev(f->m, 1));
	assert_true(is_valid_ether_addr(f->dev->dev_addr));
	assert_true(f->dev->dev_addr[0] & 0x02); /* locally administered */
	assert_false(netif_running(f->dev));
	assert_false(netif_carrier_ok(f->dev));
	assert_int_equal(f->dev->mtu, 1500);
}

static void test_open_close_carrier_and_queue(void **state)
{
	struct fix *f = *state;
	assert_int_equal(dev_open(f->dev), 0);
	assert_true(netif_running(f->dev));
	assert_true(netif_carrier_ok(f->dev));
	assert_false(netif_queue_stopped(f->dev));
	assert_true(f->dev->flags & IFF_UP);
	assert_int_equal(dev_close(f->dev), 0);
	assert_false(netif_running(f->dev));
	assert_false(netif_carrier_ok(f->dev));
	assert_true(netif_queue_stopped(f->dev));
	assert_false(f->dev->flags & IFF_UP);
}

static void test_counts_packets_and_bytes(void **state)
{
	struct fix *f = *state;
	struct lxd_pktgen_result r;
	struct rtnl_link_stats64 st;
	assert_int_equal(dev_open(f->dev), 0);
	assert_int_equal(lxd_pktgen(f->dev, 1000, 60, &r), 0);
	assert_int_equal(r.sent, 1000);
	assert_int_equal(r.dropped + r.errors, 0);
	assert_int_equal(lxd_pktgen(f->dev, 10, 1514, &r), 0);
	assert_int_equal(r.sent, 10);
	dev_get_stats(f->dev, &st);
	assert_int_equal(st.tx_packets, 1010);
	assert_int_equal(st.tx_bytes, 1000 * 60 + 10 * 1514);
	assert_int_equal(st.tx_dropped, 0);
	assert_int_equal(st.rx_packets, 0);
	/* Every skb went back: the driver freed what it took. */
	struct lxd_kernel_counts c;
	lxd_kernel_get_counts(&c);
	assert_int_equal(c.skbs, 0);
	/* Frames larger than the MTU are refused by pktgen. */
	assert_int_equal(lxd_pktgen(f->dev, 1, 1515, &r), -EINVAL);
}

static void test_stopped_queue_drops(void **state)
{
	struct fix *f = *state;
	struct lxd_pktgen_result r;
	struct rtnl_link_stats64 st;
	assert_int_equal(dev_open(f->dev), 0);
	netif_stop_queue(f->dev);
	assert_int_equal(lxd_pktgen(f->dev, 7, 100, &r), 0);
	assert_int_equal(r.sent, 0);
	assert_int_equal(r.dropped, 7);
	dev_get_stats(f->dev, &st);
	assert_int_equal(st.tx_dropped, 7);
	assert_int_equal(st.tx_packets, 0);
	netif_wake_queue(f->dev);
	assert_int_equal(lxd_pktgen(f->dev, 3, 100, &r), 0);
	assert_int_equal(r.sent, 3);
	dev_get_stats(f->dev, &st);
	assert_int_equal(st.tx_packets, 3);
	assert_int_equal(st.tx_dropped, 7);
}

static void test_closed_device_refuses(void **state)
{
	struct fix *f = *state;
	struct lxd_pktgen_result r;
	assert_int_equal(lxd_pktgen(f->dev, 5, 100, &r), 0);
	assert_int_equal(r.sent, 0);
	assert_int_equal(r.errors, 5);
	assert_int_equal(r.first_error, -ENETDOWN);
}

static void test_mac_change(void **state)
{
	struct fix *f = *state;
	struct sockaddr sa = {.sa_family = ARPHRD_ETHER};
	const u8 good[ETH_ALEN] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
	memcpy(sa.sa_data, good, ETH_ALEN);
	assert_int_equal(dev_set_mac_address(f->dev, &sa), 0);
	assert_memory_equal(f->dev->dev_addr, good, ETH_ALEN);
	sa.sa_data[0] = 0x01; /* multicast */
	assert_int_equal(dev_set_mac_address(f->dev, &sa), -EADDRNOTAVAIL);
	memset(sa.sa_data, 0, ETH_ALEN);
	assert_int_equal(dev_set_mac_address(f->dev, &sa), -EADDRNOTAVAIL);
	assert_memory_equal(f->dev->dev_addr, good, ETH_ALEN);
}

/* The driver's ndo_change_mtu sets the MTU (isolated: on its copy, synced back before return). */
static void test_mtu_change(void **state)
{
	struct fix *f = *state;
	assert_int_equal(dev_set_mtu(f->dev, 9000), 0);
	assert_int_equal(f->dev->mtu, 9000);
	assert_int_equal(dev_open(f->dev), 0);
	struct lxd_pktgen_result r;
	assert_int_equal(lxd_pktgen(f->dev, 10, 9000 + ETH_HLEN, &r), 0); /* jumbo frames now fit */
	assert_int_equal(r.sent, 10);
	assert_int_equal(lxd_module_flush(f->m), 0);
	struct rtnl_link_stats64 st;
	dev_get_stats(f->dev, &st);
	assert_int_equal(st.tx_bytes, 10 * (9000 + ETH_HLEN));
	assert_int_equal(dev_set_mtu(f->dev, 1500), 0);
	assert_int_equal(f->dev->mtu, 1500);
	assert_int_equal(dev_set_mtu(f->dev, -1), -EINVAL);
	assert_int_equal(f->dev->mtu, 1500);
}

static void test_two_devices_and_bad_params(void **state)
{
	(void)state;
	struct lxd_module *m;
	const char *two[] = {"numdummies=2"};
	assert_int_equal(load(&m, two, 1), 0);
	assert_string_equal(lxd_module_netdev(m, 0)->name, "dummy0");
	assert_string_equal(lxd_module_netdev(m, 1)->name, "dummy1");
	assert_int_equal(lxd_module_unload(m), 0);
	assert_null(dev_get_by_name("dummy0"));
	const char *zero[] = {"numdummies=0"};
	assert_int_equal(load(&m, zero, 1), -EINVAL);
	const char *junk[] = {"numdummies=many"};
	assert_int_equal(load(&m, junk, 1), -EINVAL);
	const char *unknown[] = {"nosuch=1"};
	assert_int_equal(load(&m, unknown, 1), -ENOENT);
	assert_kernel_clean();
}

static void test_unload_while_open(void **state)
{
	(void)state;
	struct lxd_module *m;
	assert_int_equal(load(&m, NULL, 0), 0);
	struct net_device *dev = lxd_module_netdev(m, 0);
	assert_int_equal(dev_open(dev), 0);
	struct lxd_pktgen_result r;
	assert_int_equal(lxd_pktgen(dev, 100, 64, &r), 0);
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
}

/* Kernel-internal (kernel/internal.h). */
void lxd_data_free_bulk(void *const *p, unsigned n);

/*
 * Data buffers outlive their module: unloaded while the kernel still holds
 * some, the module's arena stays (isolated: mapped, orphaned) until the
 * last buffer goes, freed one at a time or in bulk.
 */
static void test_buffers_outlive_unload(void **state)
{
	(void)state;
	struct lxd_module *m;
	assert_int_equal(load(&m, NULL, 0), 0);
	enum { N = 40 };
	char *b[N];
	for (int i = 0; i < N; i++) {
		b[i] = lxd_data_alloc(m, 100 + (size_t)i * 50);
		assert_non_null(b[i]);
		memset(b[i], i, 100);
	}
	assert_int_equal(lxd_module_unload(m), 0);
	for (int i = 0; i < N; i++) /* still there, still ours */
		assert_int_equal(b[i][99], i);
	lxd_data_free(b[0]);
	lxd_data_free_bulk((void *const *)&b[1], N / 2);
	lxd_data_free_bulk((void *const *)&b[1 + N / 2], N - 1 - N / 2); /* the last ones: the arena goes */
	assert_kernel_clean();
	/* The kernel goes on: a module loads and its buffers come and go. */
	assert_int_equal(load(&m, NULL, 0), 0);
	void *p = lxd_data_alloc(m, 64);
	assert_non_null(p);
	lxd_data_free(p);
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
}

struct traffic {
	struct net_device *dev;
	struct lxd_pktgen_result r;
	int rc;
};

static void *send_traffic(void *arg)
{
	struct traffic *t = arg;
	t->rc = lxd_pktgen(t->dev, 2000000, 64, &t->r);
	return NULL;
}

static bool dev_gone(void *arg)
{
	(void)arg;
	return dev_get_by_name("dummy0") == NULL;
}

static bool tx_started(void *arg)
{
	struct net_device *dev = arg;
	struct rtnl_link_stats64 st;
	dev_get_stats(dev, &st);
	return st.tx_packets > 0;
}

/*
 * Isolated only, in every transmit mode: kill the driver's domain in the
 * middle of traffic.  The sender is not stuck: what the dead driver did
 * not take is dropped or refused; the kernel unregisters the device and
 * stays up; unload is clean (no skb or buffer left) and a reload counts
 * packets again.
 */
static void kill_in_traffic(enum lxd_xmit_mode mode)
{
	struct lxd_module *m;
	assert_int_equal(load(&m, NULL, 0), 0);
	assert_int_equal(lxd_module_set_xmit_mode(m, mode), 0);
	struct net_device *dev = lxd_module_netdev(m, 0);
	assert_int_equal(dev_open(dev), 0);
	struct traffic t = {.dev = dev};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, send_traffic, &t), 0);
	assert_true(wait_until(tx_started, dev));
	assert_int_equal(lxd_module_kill(m), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(t.rc, 0);
	/* Not everything got through: the driver died under it. */
	assert_true(t.r.sent < 2000000);
	assert_true(t.r.dropped + t.r.errors > 0);
	assert_true(wait_until(dev_gone, NULL));
	assert_false(netif_running(dev));
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
	assert_int_equal(load(&m, NULL, 0), 0);
	dev = lxd_module_netdev(m, 0);
	assert_int_equal(dev_open(dev), 0);
	struct lxd_pktgen_result r;
	assert_int_equal(lxd_pktgen(dev, 1000, 100, &r), 0);
	struct rtnl_link_stats64 st;
	dev_get_stats(dev, &st);
	assert_int_equal(st.tx_packets, 1000);
	assert_int_equal(st.tx_bytes, 100000);
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
}

static void test_kill_in_traffic(void **state)
{
	(void)state;
	if (test_mode != LXD_MODULE_ISOLATED) {
		skip(); /* a native driver cannot be killed without the kernel */
		return;
	}
	kill_in_traffic(LXD_XMIT_ASYNC);
	kill_in_traffic(LXD_XMIT_SYNC);
	kill_in_traffic(LXD_XMIT_BATCH);
}

/* Isolated: the same counts in every transmit mode (sync, async, batched). */
static void test_xmit_modes(void **state)
{
	(void)state;
	if (test_mode != LXD_MODULE_ISOLATED) {
		struct lxd_module *m;
		assert_int_equal(load(&m, NULL, 0), 0);
		assert_int_equal(lxd_module_set_xmit_mode(m, LXD_XMIT_SYNC), -EINVAL);
		assert_int_equal(lxd_module_unload(m), 0);
		return;
	}
	for (int mode = LXD_XMIT_ASYNC; mode <= LXD_XMIT_BATCH; mode++) {
		struct lxd_module *m;
		assert_int_equal(load(&m, NULL, 0), 0);
		assert_int_equal(lxd_module_set_xmit_mode(m, (enum lxd_xmit_mode)mode), 0);
		struct net_device *dev = lxd_module_netdev(m, 0);
		assert_int_equal(dev_open(dev), 0);
		struct lxd_pktgen_result r;
		assert_int_equal(lxd_pktgen(dev, 5000, 60, &r), 0);
		assert_int_equal(r.sent, 5000);
		assert_int_equal(lxd_module_flush(m), 0);
		struct rtnl_link_stats64 st;
		dev_get_stats(dev, &st);
		assert_int_equal(st.tx_packets, 5000);
		assert_int_equal(st.tx_bytes, 300000);
		struct lxd_iso_stats is;
		assert_int_equal(lxd_module_iso_stats(m, &is), 0);
		assert_int_equal(is.xmit_skbs, 5000);
		if (mode != LXD_XMIT_BATCH)
			assert_int_equal(is.xmit_msgs, 5000); /* one skb per message */
		else
			assert_true(is.xmit_msgs <= 5000); /* fewer when the sender ran ahead */
		assert_int_equal(lxd_module_unload(m), 0);
		assert_kernel_clean();
	}
	struct lxd_module *m;
	assert_int_equal(load(&m, NULL, 0), 0);
	assert_int_equal(lxd_module_set_xmit_mode(m, (enum lxd_xmit_mode)7), -EINVAL);
	assert_int_equal(lxd_module_unload(m), 0);
}

int main(void)
{
	driver_test_setup();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registers_one_closed_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_close_carrier_and_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counts_packets_and_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stopped_queue_drops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_closed_device_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mac_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mtu_change, setup, teardown),
		cmocka_unit_test(test_two_devices_and_bad_params),
		cmocka_unit_test(test_unload_while_open),
		cmocka_unit_test(test_buffers_outlive_unload),
		cmocka_unit_test(test_xmit_modes),
		cmocka_unit_test(test_kill_in_traffic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
