/* SPDX-License-Identifier: MIT */
/*
 * End to end in a real isolated domain: the unmodified toy driver in a
 * sandboxed lxds-domain process on its own CPU, the glue generated from
 * toydev.idl on both sides, the kernel's real functions in this process.
 * What the other process holds is checked through what it sends (its
 * copy of the device, logged by the driver) and through the kernel's
 * objects.  Ends with an orderly stop, after which calls into the dead
 * domain fail with -EIO instead of hanging.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lxds/async.h"
#include "lxds/domain.h"
#include "lxds/glue.h"
#include "lxds/util.h"
#include "toy_kernel.h"

extern const struct lxd_glue_iface lxd_glue_iface_toydev_kernel;

enum { OP_TOY_COMPLETE = 7 };
enum { T_TOY_DEV = 2, T_TOY_REQ = 3 };

static struct {
	struct lxd_domain *dom;
	struct lxd_glue g;
	struct lxd_ep ep;
	struct toy_dev *d;
	const struct toy_ops *ops;
} T;

static bool logged(const char *s) { return strstr(toy_k.log, s) != NULL; }

static int setup(void **state)
{
	(void)state;
	static const char *const glue[] = { TOY_GLUE, NULL };
	struct lxd_domain_opts o = { .name = "toy", .module = TOY_DRIVER, .glue = glue, .cpu = 1,
				     .exe = LXDS_DOMAIN_EXE };
	if (lxd_cpu_count() < 2)
		o.cpu = -1;
	assert_int_equal(lxd_async_init(NULL), 0);
	int rc = lxd_domain_create(&o, &T.dom);
	if (rc)
		fail_msg("lxd_domain_create: %s", strerror(-rc));
	assert_int_equal(lxd_glue_init(&T.g, NULL, lxd_domain_arena(T.dom), lxd_domain_caps(T.dom),
				       lxd_domain_id(T.dom)), 0);
	struct lxd_ep_config cfg;
	assert_int_equal(lxd_glue_attach(&T.g, &lxd_glue_iface_toydev_kernel, &cfg), 0);
	assert_int_equal(lxd_ep_init(&T.ep, lxd_domain_chan(T.dom), &cfg), 0);
	T.g.ep = &T.ep;
	/* Serve the driver's init (it runs in the domain as soon as it is up). */
	uint64_t deadline = lxd_now_ns() + 20ull * 1000 * 1000 * 1000; /* a hang, not a timing check */
	while (!logged("init done\n") && lxd_now_ns() < deadline)
		lxd_async_poll();
	assert_true(logged("init done\n"));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	lxd_ep_fini(&T.ep);
	lxd_async_fini();
	lxd_glue_fini(&T.g);
	lxd_domain_destroy(T.dom);
	return 0;
}

static void test_init_in_domain(void **state)
{
	(void)state;
	T.d = toy_k.registered;
	assert_non_null(T.d);
	assert_int_equal(toy_k.last_priv_size, 0);     /* the private area stayed in the domain */
	assert_int_equal(T.d->features, 0xf00du);
	assert_int_equal(T.d->secret, TOY_KERNEL_SECRET); /* never overwritten by the driver's 7 */
	/* The driver's copy: [out] fields from the kernel, its own secret, its private area. */
	assert_true(logged("copy: id=1 name=toy1 secret=7 magic=5eed\n"));
	assert_true(logged("hello from the driver\n"));
	assert_string_equal(toy_k.label, "toy-config");
	assert_int_equal(toy_k.queue_sizes[1], 128);
	T.ops = T.d->ops;
	assert_non_null(T.ops);
	assert_null(T.ops->ioctl);
}

static void test_calls_into_domain(void **state)
{
	(void)state;
	assert_int_equal(T.ops->open(T.d), 0);
	assert_int_equal(T.d->state, 1);
	char *buf = lxd_arena_alloc(lxd_domain_arena(T.dom), 64);
	assert_non_null(buf);
	memcpy(buf, "over the fence", 14);
	assert_int_equal(T.ops->xmit(T.d, buf, 14), 14); /* and back in through toy_rx() */
	assert_memory_equal(toy_k.rx, "over the fence", 14);
	unsigned char mac[6] = { 2, 0, 0, 0, 0, 1 };
	assert_int_equal(T.ops->set_mac(T.d, mac, 6), 3);
	lxd_arena_free(lxd_domain_arena(T.dom), buf);
}

static void test_object_freed_by_the_other_side(void **state)
{
	(void)state;
	struct toy_req *rq = calloc(1, sizeof(*rq));
	unsigned char *data = lxd_arena_alloc(lxd_domain_arena(T.dom), 64);
	for (int i = 0; i < 4; i++)
		data[i] = 10;
	*rq = (struct toy_req){ .sector = 7, .len = 4, .data = data };
	lxd_ref_t ref = lxd_glue_export(&T.g, rq, T_TOY_REQ);
	assert_int_equal(T.ops->queue(T.d, rq), 0); /* the driver completes it: freed here */
	assert_int_equal(toy_k.completed, 1);
	assert_int_equal(toy_k.last_result, 40);
	void *obj;
	assert_int_equal(lxd_cap_lookup(lxd_domain_caps(T.dom), lxd_domain_id(T.dom), ref, T_TOY_REQ, &obj),
			 -ESTALE);
	uint64_t in[LXD_MSG_WORDS] = { ref | LXD_GLUE_REF_YOURS, 7, 4, 0, 0, 0 }, out[LXD_MSG_WORDS];
	assert_int_equal(lxd_glue_iface_toydev_kernel.handlers[OP_TOY_COMPLETE](&T.g, in, out), -ESTALE);
	lxd_arena_free(lxd_domain_arena(T.dom), data);
}

static void test_stop_then_dead(void **state)
{
	(void)state;
	T.ops->stop(T.d); /* frees T.d through toy_free_dev() */
	assert_int_equal(toy_k.freed, 1);
	assert_null(toy_k.cfg);
	assert_string_equal(toy_k.label, "toy-config-2");
	assert_int_equal(lxd_domain_stop(T.dom), 0);
	/* The kernel's copy of the ops table outlives the domain: calls fail, never hang. */
	assert_int_equal(T.ops->open(NULL), -EIO);
	assert_int_equal(T.ops->xmit(NULL, NULL, 0), -EIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_in_domain),
		cmocka_unit_test(test_calls_into_domain),
		cmocka_unit_test(test_object_freed_by_the_other_side),
		cmocka_unit_test(test_stop_then_dead),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
