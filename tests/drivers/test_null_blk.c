/* SPDX-License-Identifier: MIT */
/*
 * The null_blk driver's observable behaviour, the same in every mode:
 * geometry from parameters, data integrity in memory-backed mode with many
 * I/Os in flight (every completion mode), out-of-range and misaligned I/O
 * errors, discard, parameter errors, and unload with I/O in flight.
 * Isolated only: killing the driver's domain in the middle of I/O.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <linux/blk-mq.h>

#include "driver_mode.h"



static void unload(struct lxd_module *m)
{
	assert_int_equal(lxd_module_unload(m), 0);
	assert_null(lxd_blk_get_disk("nullb0"));
	assert_kernel_clean();
}

static void test_geometry(void **state)
{
	(void)state;
	struct lxd_module *m;
	const char *p[] = {"size=64", "bs=4096", "submit_queues=3"};
	struct gendisk *d = load_disk(&m, p, 3);
	assert_int_equal(get_capacity(d), 64ull * 1024 * 1024 / 512);
	assert_int_equal(queue_logical_block_size(d->queue), 4096);
	unload(m);
	const char *q[] = {"gb=2"};
	d = load_disk(&m, q, 1);
	assert_int_equal(get_capacity(d), 2ull << 30 >> 9);
	unload(m);
}

static void verify(const char *irqmode, const char *queues, unsigned qd, unsigned bs)
{
	struct lxd_module *m;
	char bsarg[32];
	snprintf(bsarg, sizeof(bsarg), "bs=%u", bs);
	const char *p[] = {"size=16", "memory_backed=1", irqmode, queues, "hw_queue_depth=16", bsarg,
			   "completion_nsec=2000"};
	struct gendisk *d = load_disk(&m, p, 7);
	struct lxd_iogen_opts o = {.rw = LXD_IOGEN_VERIFY, .ios = 1500, .qd = qd, .bs = bs, .seed = 42};
	struct lxd_iogen_result r;
	assert_int_equal(lxd_iogen(d, &o, &r), 0);
	assert_int_equal(r.done, 3000);
	assert_int_equal(r.errors, 0);
	assert_int_equal(r.mismatches, 0);
	unload(m);
}

static void test_verify_inline(void **state) { (void)state; verify("irqmode=0", "submit_queues=1", 8, 4096); }
static void test_verify_softirq(void **state) { (void)state; verify("irqmode=1", "submit_queues=2", 32, 512); }
static void test_verify_timer(void **state) { (void)state; verify("irqmode=2", "submit_queues=4", 64, 2048); }

/* Without memory_backed the data is not kept: the same check must find mismatches. */
static void test_verify_detects_lost_data(void **state)
{
	(void)state;
	struct lxd_module *m;
	const char *p[] = {"size=16"};
	struct gendisk *d = load_disk(&m, p, 1);
	struct lxd_iogen_opts o = {.rw = LXD_IOGEN_VERIFY, .ios = 100, .qd = 4, .seed = 1};
	struct lxd_iogen_result r;
	assert_int_equal(lxd_iogen(d, &o, &r), 0);
	assert_int_equal(r.errors, 0);
	assert_int_equal(r.mismatches, 100);
	unload(m);
}

static void test_sync_rw_zero_fill_and_discard(void **state)
{
	(void)state;
	struct lxd_module *m;
	const char *p[] = {"size=1", "memory_backed=1"};
	struct gendisk *d = load_disk(&m, p, 2);
	char *w = lxd_data_alloc(NULL, 8192), *rd = lxd_data_alloc(NULL, 8192);
	memset(rd, 0x55, 8192);
	assert_int_equal(lxd_blk_rw(d, REQ_OP_READ, 0, rd, 8192), 0);
	for (int i = 0; i < 8192; i++)
		assert_int_equal(rd[i], 0);
	for (int i = 0; i < 8192; i++)
		w[i] = (char)(i * 7 + 3);
	/* Unaligned in memory (segments straddle pages), aligned on the disk. */
	assert_int_equal(lxd_blk_rw(d, REQ_OP_WRITE, 8, w + 512, 4096), 0);
	assert_int_equal(lxd_blk_rw(d, REQ_OP_READ, 8, rd, 4096), 0);
	assert_memory_equal(rd, w + 512, 4096);
	assert_int_equal(lxd_blk_rw(d, REQ_OP_FLUSH, 0, NULL, 0), 0);
	assert_int_equal(lxd_blk_rw(d, REQ_OP_DISCARD, 0, NULL, 8192), 0);
	assert_int_equal(lxd_blk_rw(d, REQ_OP_READ, 8, rd, 4096), 0);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(rd[i], 0);
	lxd_data_free(w);
	lxd_data_free(rd);
	unload(m);
}

/*
 * Buffers from lxd_data_alloc(module): isolated, they are in the domain's
 * arena and cross without a copy (the other tests' NULL-owner buffers are
 * bounced).  Data written from one reads back into another, unaligned too.
 */
static void test_module_buffers(void **state)
{
	(void)state;
	struct lxd_module *m;
	const char *p[] = {"memory_backed=1", "size=8", "irqmode=1"};
	struct gendisk *d = load_disk(&m, p, 3);
	char *w = lxd_data_alloc(m, 3 * 4096), *rd = lxd_data_alloc(m, 3 * 4096);
	assert_non_null(w);
	assert_non_null(rd);
	for (int i = 0; i < 3 * 4096; i++)
		w[i] = (char)(i * 7 + 3);
	assert_int_equal(lxd_blk_rw(d, REQ_OP_WRITE, 16, w, 2 * 4096), 0);
	assert_int_equal(lxd_blk_rw(d, REQ_OP_WRITE, 40, w + 512, 4096), 0); /* not page-aligned */
	memset(rd, 0, 3 * 4096);
	assert_int_equal(lxd_blk_rw(d, REQ_OP_READ, 16, rd + 1024, 2 * 4096), 0);
	assert_memory_equal(rd + 1024, w, 2 * 4096);
	assert_int_equal(lxd_blk_rw(d, REQ_OP_READ, 40, rd, 4096), 0);
	assert_memory_equal(rd, w + 512, 4096);
	struct lxd_iso_stats st;
	if (test_mode == LXD_MODULE_ISOLATED) {
		assert_int_equal(lxd_module_iso_stats(m, &st), 0);
		assert_int_equal(st.rq_zero_copy, 4); /* none of the four was copied */
		assert_int_equal(st.rq_bounced, 0);
		void *heap = lxd_data_alloc(NULL, 4096);
		assert_int_equal(lxd_blk_rw(d, REQ_OP_READ, 40, heap, 4096), 0);
		assert_memory_equal(heap, w + 512, 4096);
		assert_int_equal(lxd_module_iso_stats(m, &st), 0);
		assert_int_equal(st.rq_bounced, 1); /* a kernel-heap buffer is */
		lxd_data_free(heap);
	} else {
		assert_int_equal(lxd_module_iso_stats(m, &st), -EINVAL);
	}
	lxd_data_free(w);
	lxd_data_free(rd);
	unload(m);
}

static void test_out_of_range_and_misaligned(void **state)
{
	(void)state;
	struct lxd_module *m;
	const char *p[] = {"size=1", "bs=4096", "memory_backed=1"};
	struct gendisk *d = load_disk(&m, p, 3);
	uint64_t cap = get_capacity(d);
	char *b = lxd_data_alloc(NULL, 8192);
	memset(b, 1, 8192);
	assert_int_equal(lxd_blk_rw(d, REQ_OP_WRITE, cap - 8, b, 4096), 0); /* last block */
	assert_int_equal(lxd_blk_rw(d, REQ_OP_WRITE, cap - 8, b, 8192), -EIO); /* straddles the end */
	assert_int_equal(lxd_blk_rw(d, REQ_OP_READ, cap, b, 4096), -EIO);
	assert_int_equal(lxd_blk_rw(d, REQ_OP_READ, UINT64_MAX - 2, b, 4096), -EIO);
	assert_int_equal(lxd_blk_rw(d, REQ_OP_READ, 1, b, 4096), -EINVAL);  /* not block-aligned */
	assert_int_equal(lxd_blk_rw(d, REQ_OP_READ, 0, b, 512), -EINVAL);   /* shorter than a block */
	assert_int_equal(lxd_blk_rw(d, REQ_OP_READ, 0, b, 0), -EINVAL);
	assert_int_equal(lxd_blk_rw(d, REQ_OP_READ, 0, NULL, 4096), -EFAULT);
	assert_int_equal(lxd_blk_rw(d, 77, 0, b, 4096), -EOPNOTSUPP);
	lxd_data_free(b);
	unload(m);
}

static void test_random_read_write(void **state)
{
	(void)state;
	struct lxd_module *m;
	const char *p[] = {"submit_queues=2", "irqmode=1"};
	struct gendisk *d = load_disk(&m, p, 2);
	struct lxd_iogen_result r;
	struct lxd_iogen_opts o = {.rw = LXD_IOGEN_RANDREAD, .ios = 5000, .qd = 64, .seed = 3};
	assert_int_equal(lxd_iogen(d, &o, &r), 0);
	assert_int_equal(r.done, 5000);
	assert_int_equal(r.errors, 0);
	o.rw = LXD_IOGEN_RANDWRITE;
	assert_int_equal(lxd_iogen(d, &o, &r), 0);
	assert_int_equal(r.done, 5000);
	assert_int_equal(r.errors, 0);
	unload(m);
}

/* Completion inside queue_rq: each completion submits the next I/O.  A long
 * run must not recurse once per I/O (it used to overflow the stack). */
static void test_long_inline_run(void **state)
{
	(void)state;
	struct lxd_module *m;
	const char *p[] = {"irqmode=0", "submit_queues=1"};
	struct gendisk *d = load_disk(&m, p, 2);
	struct lxd_iogen_result r;
	struct lxd_iogen_opts o = {.rw = LXD_IOGEN_RANDREAD, .ios = 300000, .qd = 4, .seed = 9};
	assert_int_equal(lxd_iogen(d, &o, &r), 0);
	assert_int_equal(r.done, 300000);
	assert_int_equal(r.errors, 0);
	unload(m);
}

static void test_bad_params(void **state)
{
	(void)state;
	struct lxd_module *m;
	const char *bad[][1] = {{"bs=1000"}, {"irqmode=3"}, {"submit_queues=0"}, {"hw_queue_depth=0"},
				{"size=2000000000"}, {"gb=0"}, {"bs=-1"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *const *p = bad[i];
		assert_int_equal(load(&m, p, 1), -EINVAL);
	}
	assert_kernel_clean();
}

struct inflight {
	pthread_mutex_t lock;
	unsigned done, ok;
};

static void count_end_io(struct lxd_blk_io *io)
{
	struct inflight *s = io->private;
	pthread_mutex_lock(&s->lock);
	s->done++;
	s->ok += io->error == 0;
	pthread_mutex_unlock(&s->lock);
}

/* Unload with I/Os in flight: del_gendisk waits for them; every one completes once. */
static void test_unload_with_io_in_flight(void **state)
{
	(void)state;
	struct lxd_module *m;
	const char *p[] = {"size=4", "irqmode=2", "completion_nsec=20000000", "hw_queue_depth=32"};
	struct gendisk *d = load_disk(&m, p, 4);
	enum { N = 32 };
	static struct lxd_blk_io ios[N];
	struct inflight s = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
	void *buf = lxd_data_alloc(NULL, 4096);
	for (int i = 0; i < N; i++) {
		ios[i] = (struct lxd_blk_io){.op = REQ_OP_READ, .sector = (uint64_t)i * 8, .len = 4096,
					     .buf = buf, .end_io = count_end_io, .private = &s};
		assert_int_equal(lxd_blk_submit(d, &ios[i]), 0);
	}
	struct lxd_kernel_counts c;
	lxd_kernel_get_counts(&c);
	assert_true(c.requests > 0); /* 20 ms timers: still in flight */
	assert_int_equal(lxd_module_unload(m), 0);
	assert_int_equal(s.done, N);
	assert_int_equal(s.ok, N);
	lxd_data_free(buf);
	assert_kernel_clean();
}

static bool disk_gone(void *arg)
{
	(void)arg;
	return lxd_blk_get_disk("nullb0") == NULL;
}

/*
 * Isolated only: kill the driver's domain with I/Os in flight (20 ms timers
 * in the domain).  Each completes exactly once, with -EIO; the kernel
 * removes the disk and stays up; the module unloads cleanly and a reload
 * serves again, data integrity included.
 */
static void test_kill_with_io_in_flight(void **state)
{
	(void)state;
	if (test_mode != LXD_MODULE_ISOLATED) {
		skip(); /* a native driver cannot be killed without the kernel */
		return;
	}
	struct lxd_module *m;
	const char *p[] = {"size=4", "irqmode=2", "completion_nsec=20000000", "hw_queue_depth=32"};
	struct gendisk *d = load_disk(&m, p, 4);
	enum { N = 32 };
	static struct lxd_blk_io ios[N];
	struct inflight s = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
	void *buf = lxd_data_alloc(m, 4096);
	assert_non_null(buf);
	for (int i = 0; i < N; i++) {
		ios[i] = (struct lxd_blk_io){.op = REQ_OP_READ, .sector = (uint64_t)i * 8, .len = 4096,
					     .buf = buf, .end_io = count_end_io, .private = &s};
		assert_int_equal(lxd_blk_submit(d, &ios[i]), 0);
	}
	assert_true(lxd_module_alive(m));
	assert_int_equal(lxd_module_kill(m), 0);
	assert_false(lxd_module_alive(m));
	assert_true(wait_until(disk_gone, NULL));
	/* Every I/O completed, each once; the ones the dead driver held with -EIO. */
	pthread_mutex_lock(&s.lock);
	unsigned done = s.done, ok = s.ok;
	pthread_mutex_unlock(&s.lock);
	assert_int_equal(done, N);
	assert_true(ok < N);
	for (int i = 0; i < N; i++)
		assert_true(ios[i].error == 0 || ios[i].error == -EIO);
	/* The disk is gone: new I/O is refused, nothing hangs. */
	assert_int_equal(lxd_blk_rw(d, REQ_OP_READ, 0, buf, 4096), -ENODEV);
	assert_int_equal(lxd_module_kill(m), -ESRCH);
	lxd_data_free(buf);
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
	/* A reload serves again. */
	const char *again[] = {"memory_backed=1", "size=16", "irqmode=1"};
	d = load_disk(&m, again, 3);
	struct lxd_iogen_opts o = {.rw = LXD_IOGEN_VERIFY, .ios = 500, .qd = 16, .seed = 5};
	struct lxd_iogen_result r;
	assert_int_equal(lxd_iogen(d, &o, &r), 0);
	assert_int_equal(r.errors, 0);
	assert_int_equal(r.mismatches, 0);
	unload(m);
}

/* A real driver bug (crash_after: a NULL dereference in queue_rq) in the
 * middle of I/O: isolated, the kernel survives, the I/O fails cleanly and a
 * reload serves.  (Native, it would take the process down: not run.) */
static void test_driver_crash_contained(void **state)
{
	(void)state;
	if (test_mode != LXD_MODULE_ISOLATED) {
		skip();
		return;
	}
	struct lxd_module *m;
	const char *p[] = {"irqmode=1", "crash_after=500"};
	struct gendisk *d = load_disk(&m, p, 2);
	struct lxd_iogen_result r;
	struct lxd_iogen_opts o = {.rw = LXD_IOGEN_RANDREAD, .ios = 5000, .qd = 16, .seed = 4};
	assert_int_equal(lxd_iogen(d, &o, &r), 0);
	assert_int_equal(r.done, 5000); /* every I/O completed, none hangs */
	assert_true(r.errors > 0);
	assert_true(r.errors >= 5000 - 499); /* at most the 499 before the bug succeed */
	assert_false(lxd_module_alive(m));
	assert_true(wait_until(disk_gone, NULL));
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
	const char *again[] = {"memory_backed=1", "size=16", "irqmode=1"};
	d = load_disk(&m, again, 3);
	struct lxd_iogen_opts v = {.rw = LXD_IOGEN_VERIFY, .ios = 500, .qd = 16, .seed = 5};
	assert_int_equal(lxd_iogen(d, &v, &r), 0);
	assert_int_equal(r.errors, 0);
	assert_int_equal(r.mismatches, 0);
	unload(m);
}

int main(void)
{
	driver_test_setup();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_geometry),
		cmocka_unit_test(test_verify_inline),
		cmocka_unit_test(test_verify_softirq),
		cmocka_unit_test(test_verify_timer),
		cmocka_unit_test(test_verify_detects_lost_data),
		cmocka_unit_test(test_sync_rw_zero_fill_and_discard),
		cmocka_unit_test(test_module_buffers),
		cmocka_unit_test(test_out_of_range_and_misaligned),
		cmocka_unit_test(test_random_read_write),
		cmocka_unit_test(test_long_inline_run),
		cmocka_unit_test(test_driver_crash_contained),
		cmocka_unit_test(test_bad_params),
		cmocka_unit_test(test_unload_with_io_in_flight),
		cmocka_unit_test(test_kill_with_io_in_flight),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
