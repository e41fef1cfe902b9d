/* SPDX-License-Identifier: MIT */
/*
 * Two isolated drivers at once, each in its own domain with its own
 * dispatcher: dummy and null_blk both carry traffic at the same time
 * (their data buffers in two arenas), a second dummy runs beside the
 * first, and killing one domain leaves the other serving.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <linux/blk-mq.h>
#include <linux/netdevice.h>

#include "driver_mode.h"

static struct lxd_module *load_iso(const char *name, const char *const *p, size_t n)
{
	char path[4096];
	assert_int_equal(lxd_module_find(name, path, sizeof(path)), 0);
	struct lxd_module *m;
	assert_int_equal(lxd_module_load(path, LXD_MODULE_ISOLATED, p, n, &m), 0);
	return m;
}


struct net_job {
	struct net_device *dev;
	struct lxd_pktgen_result r;
	int rc;
};

static void *net_traffic(void *arg)
{
	struct net_job *j = arg;
	j->rc = lxd_pktgen(j->dev, 100000, 64, &j->r);
	return NULL;
}

static bool disk_gone(void *arg)
{
	(void)arg;
	return lxd_blk_get_disk("nullb0") == NULL;
}

static void test_net_and_blk_at_once(void **state)
{
	(void)state;
	struct lxd_module *net = load_iso("dummy", NULL, 0);
	const char *bp[] = {"memory_backed=1", "size=64", "irqmode=1", "submit_queues=2"};
	struct lxd_module *blk = load_iso("null_blk", bp, 4);
	struct net_device *dev = lxd_module_netdev(net, 0);
	assert_int_equal(dev_open(dev), 0);
	struct net_job j = {.dev = dev};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, net_traffic, &j), 0);
	struct lxd_iogen_opts o = {.rw = LXD_IOGEN_VERIFY, .ios = 4000, .qd = 32, .seed = 9};
	struct lxd_iogen_result r;
	assert_int_equal(lxd_iogen(lxd_module_disk(blk, 0), &o, &r), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(r.errors, 0);
	assert_int_equal(r.mismatches, 0);
	assert_int_equal(j.rc, 0);
	assert_int_equal(j.r.sent, 100000);
	assert_int_equal(lxd_module_flush(net), 0);
	struct rtnl_link_stats64 st;
	dev_get_stats(dev, &st);
	assert_int_equal(st.tx_packets, 100000);

	/* Buffers of each module come from its own arena, and free there. */
	void *a = lxd_data_alloc(net, 4096), *b = lxd_data_alloc(blk, 4096);
	assert_non_null(a);
	assert_non_null(b);
	lxd_data_free(a);
	lxd_data_free(b);

	/* Kill the block driver: the net one goes on. */
	assert_int_equal(lxd_module_kill(blk), 0);
	assert_true(wait_until(disk_gone, NULL));
	assert_true(lxd_module_alive(net));
	struct lxd_pktgen_result pr;
	assert_int_equal(lxd_pktgen(dev, 1000, 64, &pr), 0);
	assert_int_equal(pr.sent, 1000);
	assert_int_equal(lxd_module_flush(net), 0);
	dev_get_stats(dev, &st);
	assert_int_equal(st.tx_packets, 101000);
	assert_int_equal(lxd_module_unload(blk), 0);
	assert_int_equal(lxd_module_unload(net), 0);
	assert_kernel_clean();
}

/* The same driver twice, two domains: dummy0 and dummy1, counted apart. */
static void test_same_driver_twice(void **state)
{
	(void)state;
	struct lxd_module *m1 = load_iso("dummy", NULL, 0), *m2 = load_iso("dummy", NULL, 0);
	struct net_device *d1 = lxd_module_netdev(m1, 0), *d2 = lxd_module_netdev(m2, 0);
	assert_string_equal(d1->name, "dummy0");
	assert_string_equal(d2->name, "dummy1");
	assert_int_equal(dev_open(d1), 0);
	assert_int_equal(dev_open(d2), 0);
	struct lxd_pktgen_result r;
	assert_int_equal(lxd_pktgen(d1, 300, 64, &r), 0);
	assert_int_equal(lxd_pktgen(d2, 500, 64, &r), 0);
	assert_int_equal(lxd_module_flush(m1), 0);
	assert_int_equal(lxd_module_flush(m2), 0);
	struct rtnl_link_stats64 st;
	dev_get_stats(d1, &st);
	assert_int_equal(st.tx_packets, 300);
	dev_get_stats(d2, &st);
	assert_int_equal(st.tx_packets, 500);
	assert_int_equal(lxd_module_unload(m1), 0);
	assert_int_equal(lxd_module_unload(m2), 0);
	assert_kernel_clean();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_net_and_blk_at_once),
		cmocka_unit_test(test_same_driver_twice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
