/* SPDX-License-Identifier: MIT */
/*
 * End to end: the toydev interface (toydev.idl), glue generated at build
 * time, the unmodified toy driver running in a domain thread of this
 * process over a real fIPC channel and arena.  The driver and the domain
 * glue are shared objects loaded like lxds-domain loads them (glue
 * RTLD_GLOBAL first, so the driver's toy_*() calls bind to the stubs; the
 * kernel's real toy_*() in this executable are not exported).
 *
 * The tests run in order and share one set-up: init (alloc with a private
 * area, register with an ops table, attach a config: string and array,
 * log, sum, read stats), open ([in,out] back), xmit (arena buffer, nested
 * call back into the kernel), set_mac (array) many in flight, queue (an
 * object the kernel allocates and the driver frees), forged and stale
 * references refused, stop (update, dealloc of shadows both ways).
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lxds/async.h"
#include "lxds/glue.h"
#include "lxds/util.h"
#include "toy_domain.h"
#include "toy_driver.h"
#include "toy_kernel.h"
#include "../chan_fixture.h"

extern const struct lxd_glue_iface lxd_glue_iface_toydev_kernel;

/* rpc numbers and capability types, in the order of toydev.idl (see lxds-idlc --dump). */
enum { OP_TOY_COMPLETE = 7, OP_TOY_LOG = 9 };
enum { T_TOY_DEV = 2, T_TOY_REQ = 3 };

#define ARENA_SIZE (1u << 20)
#define SLOTS 64u

static struct {
	struct chan_fixture fx;
	void *arena_mem;
	struct lxd_arena arena;
	struct lxd_cap_table caps;
	struct lxd_glue g;
	struct lxd_ep ep;
	struct lxd_chan kch, dch;
	void *glue_so, *drv_so;
	struct toy_driver_report *drv;
	struct toy_domain_args args;
	_Atomic bool stop;
	pthread_t thread;
	int run_result;
	struct toy_dev *d;       /* the kernel's device */
	lxd_ref_t dev_ref;
} T;

static void *domain_thread(void *arg)
{
	(void)arg;
	toy_domain_run_fn run = (toy_domain_run_fn)dlsym(T.glue_so, TOY_DOMAIN_RUN_SYMBOL);
	T.run_result = run ? run(&T.args) : -ENOENT;
	return NULL;
}

/* Serve the domain's calls from this (the kernel's) thread until @flag is set. */
static void serve_until(_Atomic int *flag)
{
	uint64_t deadline = lxd_now_ns() + 20ull * 1000 * 1000 * 1000; /* a hang, not a timing check */
	while (!atomic_load_explicit(flag, memory_order_acquire) && lxd_now_ns() < deadline)
		lxd_async_poll();
}

static int setup(void **state)
{
	(void)state;
	chan_fixture_setup(&T.fx, ARENA_SIZE, SLOTS, &T.kch, &T.dch);
	T.arena_mem = T.fx.base;
	assert_int_equal(lxd_arena_init(&T.arena, T.arena_mem, ARENA_SIZE, 0, ARENA_SIZE / 2), 0);

	assert_int_equal(lxd_cap_init(&T.caps, 1), 0);
	assert_int_equal(lxd_glue_init(&T.g, NULL, &T.arena, &T.caps, 1), 0);
	struct lxd_ep_config cfg;
	assert_int_equal(lxd_glue_attach(&T.g, &lxd_glue_iface_toydev_kernel, &cfg), 0);
	assert_int_equal(lxd_async_init(NULL), 0);
	assert_int_equal(lxd_ep_init(&T.ep, &T.kch, &cfg), 0);
	T.g.ep = &T.ep;

	T.glue_so = dlopen(TOY_GLUE, RTLD_NOW | RTLD_GLOBAL);
	if (!T.glue_so)
		fail_msg("%s", dlerror());
	T.drv_so = dlopen(TOY_DRIVER, RTLD_NOW);
	if (!T.drv_so)
		fail_msg("%s", dlerror());
	T.drv = dlsym(T.drv_so, "toy_drv");
	lxd_module_info_fn info = (lxd_module_info_fn)dlsym(T.drv_so, LXD_MODULE_INFO_SYMBOL);
	assert_non_null(T.drv);
	assert_non_null(info);

	T.args = (struct toy_domain_args){ .chan = &T.dch, .arena_base = T.arena_mem, .arena_size = ARENA_SIZE,
					   .share_off = ARENA_SIZE / 2, .share_len = ARENA_SIZE / 2,
					   .module = info(), .stop = &T.stop };
	assert_int_equal(pthread_create(&T.thread, NULL, domain_thread, NULL), 0);
	serve_until(&T.args.init_done);
	assert_true(atomic_load(&T.args.init_done));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (!T.thread)
		return -1; /* the set-up failed before the domain started */
	atomic_store(&T.stop, true);
	lxd_chan_kick_self(&T.dch);
	pthread_join(T.thread, NULL);
	assert_int_equal(T.run_result, 0);
	/* The driver's calls used both wire formats and never failed. */
	assert_true(T.args.stats.calls_inline > 0);
	assert_true(T.args.stats.calls_spilled > 0);
	assert_true(T.args.stats.served > 0);
	lxd_ep_fini(&T.ep);
	lxd_async_fini();
	lxd_glue_fini(&T.g);
	lxd_cap_fini(&T.caps);
	lxd_arena_fini(&T.arena);
	dlclose(T.drv_so);
	dlclose(T.glue_so);
	chan_fixture_teardown(&T.fx);
	return 0;
}

/* The driver's init: every call crossed, in both formats, with its data. */
static void test_init_crossed(void **state)
{
	(void)state;
	assert_int_equal(T.args.init_result, 0);
	T.d = toy_k.registered;
	assert_non_null(T.d);
	assert_ptr_equal(T.d, toy_k.allocated);
	/* alloc(caller) + private(...): the driver got a shadow with its own
	 * private area, and the kernel was asked for none. */
	assert_int_equal(toy_k.last_priv_size, 0);
	struct toy_dev *shadow = T.drv->dev;
	assert_non_null(shadow);
	assert_ptr_not_equal(shadow, T.d);
	assert_int_equal(T.drv->alloc_id, T.d->id);                   /* [out] at alloc */
	assert_string_equal(T.drv->alloc_name, "toy1");               /* [out] char[16] */
	assert_int_equal(*(unsigned *)toy_priv(shadow), TOY_PRIV_MAGIC);
	/* [in] at register; the ops table became a kernel-side copy with trampolines. */
	assert_int_equal(T.d->features, 0xf00du);
	assert_non_null(T.d->ops);
	assert_non_null(T.d->ops->open);
	assert_non_null(T.d->ops->stop);
	assert_null(T.d->ops->ioctl); /* NULL in the driver's table stays NULL */
	/* The config: a string and an array into the kernel's shadow. */
	assert_string_equal(toy_k.label, "toy-config");
	assert_int_equal(toy_k.nq, 3);
	assert_int_equal(toy_k.queue_sizes[0], 64);
	assert_int_equal(toy_k.queue_sizes[2], 256);
	assert_non_null(toy_k.cfg);
	assert_true(strstr(toy_k.log, "hello from the driver\n") != NULL);
	assert_int_equal(T.drv->log_result, (int)strlen("hello from the driver"));
	assert_int_equal(T.drv->sum, 15);
	assert_int_equal(T.drv->nstats, 4);
	assert_int_equal(T.drv->stats[0], 1000);
	assert_int_equal(T.drv->stats[3], 1003);
	/* Longer than string(64): refused, never cut short. */
	assert_int_equal(T.drv->long_log_result, -ENAMETOOLONG);
	assert_null(strstr(toy_k.log, "xxxx"));
	/* Both wire formats were used. */
	assert_true(T.g.st.served > 0);
}

/* A field the IDL does not project never crosses, either way. */
static void test_unprojected_never_crosses(void **state)
{
	(void)state;
	assert_int_equal(T.d->secret, TOY_KERNEL_SECRET); /* the driver wrote 7 into its copy */
	assert_int_equal(T.drv->dev->secret, 7);           /* and never got 0xdead */
	assert_int_equal(T.drv->dev->tx_bytes, 0);
}

/* Kernel -> driver through a trampoline; an [in,out] field comes back. */
static void test_open_inout(void **state)
{
	(void)state;
	assert_int_equal(T.d->state, 0);
	assert_int_equal(T.d->ops->open(T.d), 0);
	assert_int_equal(T.d->state, 1);
	assert_int_equal(T.drv->opens, 1);
}

/* An arena buffer crosses as offset and length, and the driver calls back in (nested). */
static void test_xmit_arena_nested(void **state)
{
	(void)state;
	char *buf = lxd_arena_alloc(&T.arena, 64);
	assert_non_null(buf);
	memcpy(buf, "ping!", 5);
	assert_int_equal(T.d->ops->xmit(T.d, buf, 5), 5);
	assert_int_equal(toy_k.rx_len, 5);
	assert_memory_equal(toy_k.rx, "ping!", 5);
	assert_int_equal(T.d->rx_bytes, 5); /* toy_rx ran on the kernel's object */
	/* Memory outside the arena is refused before anything is sent. */
	char stack_buf[8] = "nope";
	long rc = T.d->ops->xmit(T.d, stack_buf, 4);
	assert_int_equal(rc, -EFAULT);
	assert_int_equal(toy_k.rx_len, 5);
	lxd_arena_free(&T.arena, buf);
}

struct mac_call {
	unsigned char mac[6];
	int result;
};

static void one_mac(void *arg)
{
	struct mac_call *c = arg;
	c->result = T.d->ops->set_mac(T.d, c->mac, 6);
}

/* Arrays, and many calls in flight at once from lightweight threads. */
static void test_set_mac_many_in_flight(void **state)
{
	(void)state;
	struct mac_call calls[32];
	unsigned char mac0[6] = { 0, 1, 2, 3, 4, 5 };
	assert_int_equal(T.d->ops->set_mac(T.d, mac0, 6), 15); /* one, from this thread */
	for (int i = 0; i < 32; i++) {
		for (int k = 0; k < 6; k++)
			calls[i].mac[k] = (unsigned char)(i + k);
		calls[i].result = -1;
	}
	LXD_DO_FINISH(f)
	{
		for (int i = 0; i < 32; i++)
			assert_int_equal(lxd_async(&f, one_mac, &calls[i]), 0);
	}
	for (int i = 0; i < 32; i++)
		assert_int_equal(calls[i].result, 6 * i + 15);
	/* The callee checks the count: a wrong length reaches the driver's own check. */
	unsigned char mac5[5] = { 1, 2, 3, 4, 5 };
	assert_int_equal(T.d->ops->set_mac(T.d, mac5, 5), -EINVAL);
}

/*
 * queue(): the kernel allocates a request, the driver's copy is created
 * (alloc(callee)), the driver completes it (dealloc(caller)): the kernel
 * frees it and its reference is refused from then on.
 */
static void test_queue_alloc_free_other_side(void **state)
{
	(void)state;
	struct toy_req *rq = calloc(1, sizeof(*rq));
	unsigned char *data = lxd_arena_alloc(&T.arena, 64);
	for (int i = 0; i < 8; i++)
		data[i] = (unsigned char)(i + 1);
	rq->sector = 42;
	rq->len = 8;
	rq->data = data;
	lxd_ref_t ref = lxd_glue_export(&T.g, rq, T_TOY_REQ);
	assert_true(ref != LXD_REF_NULL);
	uint64_t shadows_before = T.g.st.shadows_created;
	assert_int_equal(T.d->ops->queue(T.d, rq), 0); /* rq is freed inside, by toy_complete */
	assert_int_equal(toy_k.completed, 1);
	assert_int_equal(toy_k.last_result, 36);
	assert_int_equal(toy_k.last_status, 0);
	assert_int_equal(T.drv->last_sector, 42);
	assert_int_equal(T.g.st.shadows_created, shadows_before);
	void *obj;
	assert_int_equal(lxd_cap_lookup(&T.caps, 1, ref, T_TOY_REQ, &obj), -ESTALE);
	/* The driver replaying toy_complete with the old reference is refused. */
	uint64_t in[LXD_MSG_WORDS] = { ref | LXD_GLUE_REF_YOURS, 42, 8, 0, 0, 0 }, out[LXD_MSG_WORDS];
	assert_int_equal(lxd_glue_iface_toydev_kernel.handlers[OP_TOY_COMPLETE](&T.g, in, out), -ESTALE);
	assert_int_equal(toy_k.completed, 1);
	lxd_arena_free(&T.arena, data);
}

/* Forged references and malformed requests: refused with an error, nothing called. */
static void test_forged_requests_refused(void **state)
{
	(void)state;
	uint64_t out[LXD_MSG_WORDS];
	lxd_rpc_fn complete = lxd_glue_iface_toydev_kernel.handlers[OP_TOY_COMPLETE];
	uint64_t forged[LXD_MSG_WORDS] = { 0x0000000100012345ull | LXD_GLUE_REF_YOURS, 1, 1, 0, 0, 0 };
	assert_int_equal(complete(&T.g, forged, out), -EBADF);
	/* Unmarked: "a request of mine" where the kernel's own request belongs. */
	uint64_t unmarked[LXD_MSG_WORDS] = { 0x0000000100000001ull, 1, 1, 0, 0, 0 };
	assert_int_equal(complete(&T.g, unmarked, out), -EPROTO);
	/* The device's reference where a request's belongs: wrong type. */
	T.dev_ref = lxd_glue_export(&T.g, T.d, T_TOY_DEV);
	uint64_t wrong[LXD_MSG_WORDS] = { T.dev_ref | LXD_GLUE_REF_YOURS, 1, 1, 0, 0, 0 };
	assert_int_equal(complete(&T.g, wrong, out), -EPROTOTYPE);
	assert_int_equal(toy_k.completed, 1);
	/* A spilled request whose block lies outside the arena, or claims more words than it has. */
	lxd_rpc_fn logf = lxd_glue_iface_toydev_kernel.handlers[OP_TOY_LOG];
	uint64_t outside[LXD_MSG_WORDS] = { lxd_arena_buf_pack(ARENA_SIZE, 64), 2 };
	assert_int_equal(logf(&T.g, outside, out), -ERANGE);
	uint64_t *blk = lxd_arena_alloc(&T.arena, 64);
	uint64_t toolong[LXD_MSG_WORDS] = { lxd_arena_buf_pack(lxd_arena_off(&T.arena, blk), 64), 9 };
	assert_int_equal(logf(&T.g, toolong, out), -EPROTO);
	/* A string length above the bound. */
	blk[0] = 65;
	uint64_t big[LXD_MSG_WORDS] = { lxd_arena_buf_pack(lxd_arena_off(&T.arena, blk), 64), 8 };
	assert_int_equal(logf(&T.g, big, out), -EPROTO);
	/* Words missing: the length says 40 bytes, the request holds 2 words. */
	blk[0] = 40;
	uint64_t shortreq[LXD_MSG_WORDS] = { lxd_arena_buf_pack(lxd_arena_off(&T.arena, blk), 64), 2 };
	assert_int_equal(logf(&T.g, shortreq, out), -EPROTO);
	lxd_arena_free(&T.arena, blk);
	assert_null(strstr(toy_k.log, "(null)"));
}

/*
 * stop(): the driver updates its config (bind(callee)), detaches it
 * (dealloc(callee): the kernel's copy goes), unregisters and frees the
 * device (dealloc(caller): the kernel frees it, its reference dies).
 */
static void test_stop_deallocs(void **state)
{
	(void)state;
	uint64_t freed_before = T.g.st.shadows_freed, failed_before = T.g.st.failed;
	T.d->ops->stop(T.d); /* T.d is freed inside */
	assert_int_equal(T.drv->update_result, 2);
	assert_int_equal(toy_k.cfg_updates, 1);
	assert_string_equal(toy_k.label, "toy-config-2");
	assert_int_equal(toy_k.detached, 1);
	assert_null(toy_k.cfg);
	assert_int_equal(T.g.st.shadows_freed, freed_before + 1); /* the config's copy */
	assert_null(toy_k.registered);
	assert_int_equal(toy_k.freed, 1);
	assert_null(T.drv->dev);
	assert_int_equal(T.g.st.failed, failed_before);
	void *obj;
	assert_int_equal(lxd_cap_lookup(&T.caps, 1, T.dev_ref, T_TOY_DEV, &obj), -ESTALE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_crossed),
		cmocka_unit_test(test_unprojected_never_crosses),
		cmocka_unit_test(test_open_inout),
		cmocka_unit_test(test_xmit_arena_nested),
		cmocka_unit_test(test_set_mac_many_in_flight),
		cmocka_unit_test(test_queue_alloc_free_other_side),
		cmocka_unit_test(test_forged_requests_refused),
		cmocka_unit_test(test_stop_deallocs),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
