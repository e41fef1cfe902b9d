/* SPDX-License-Identifier: MIT */
/*
 * The block core with an in-test driver (no module): error statuses, busy
 * retries, double completion, tag exhaustion, del_gendisk draining, bad
 * tag sets and limits, hrtimers.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/blk-mq.h>
#include <linux/hrtimer.h>

#include "lxds/kernel.h"
#include "../../kernel/idl/lxd_iso_if.h" /* the isolated queue_rq's one-byte answers */

static blk_status_t next_status;
static int resource_left, end_twice, hold;
static struct request *held[8];
static int nheld;
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;

static blk_status_t t_queue_rq(struct blk_mq_hw_ctx *hctx, const struct blk_mq_queue_data *bd)
{
	(void)hctx;
	if (resource_left > 0) {
		resource_left--;
		return BLK_STS_RESOURCE;
	}
	if (next_status)
		return next_status;
	blk_mq_start_request(bd->rq);
	if (hold) {
		pthread_mutex_lock(&held_lock);
		held[nheld++] = bd->rq;
		pthread_mutex_unlock(&held_lock);
		return BLK_STS_OK;
	}
	blk_mq_end_request(bd->rq, BLK_STS_OK);
	if (end_twice)
		blk_mq_end_request(bd->rq, BLK_STS_IOERR); /* ignored */
	return BLK_STS_OK;
}

static const struct blk_mq_ops ops = {.queue_rq = t_queue_rq};

struct fix {
	struct blk_mq_tag_set set;
	struct gendisk *disk;
	void *buf;
};

static int setup(void **state)
{
	static struct fix f;
	memset(&f, 0, sizeof(f));
	next_status = 0;
	resource_left = end_twice = hold = nheld = 0;
	f.set = (struct blk_mq_tag_set){.ops = &ops, .nr_hw_queues = 2, .queue_depth = 1, .cmd_size = 8};
	if (blk_mq_alloc_tag_set(&f.set))
		return -1;
	f.disk = blk_mq_alloc_disk(&f.set, NULL, NULL);
	if (IS_ERR(f.disk))
		return -1;
	strcpy(f.disk->disk_name, "tb0");
	set_capacity(f.disk, 1024);
	if (add_disk(f.disk))
		return -1;
	f.buf = lxd_data_alloc(NULL, 4096);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	del_gendisk(f->disk);
	put_disk(f->disk);
	blk_mq_free_tag_set(&f->set);
	lxd_data_free(f->buf);
	struct lxd_kernel_counts c;
	lxd_kernel_get_counts(&c);
	assert_int_equal(c.disks + c.disks_added + c.requests + c.data_buffers, 0);
	return 0;
}

static void test_statuses(void **state)
{
	struct fix *f = *state;
	assert_int_equal(lxd_blk_rw(f->disk, REQ_OP_READ, 0, f->buf, 512), 0);
	next_status = BLK_STS_IOERR;
	assert_int_equal(lxd_blk_rw(f->disk, REQ_OP_READ, 0, f->buf, 512), -EIO);
	next_status = BLK_STS_NOTSUPP;
	assert_int_equal(lxd_blk_rw(f->disk, REQ_OP_READ, 0, f->buf, 512), -EOPNOTSUPP);
	next_status = 0;
	resource_left = 3; /* busy three times, then accepted */
	assert_int_equal(lxd_blk_rw(f->disk, REQ_OP_WRITE, 0, f->buf, 512), 0);
	assert_int_equal(resource_left, 0);
	assert_int_equal(lxd_blk_rw(f->disk, REQ_OP_WRITE, 1024, f->buf, 512), -EIO);
	assert_int_equal(lxd_blk_rw(f->disk, REQ_OP_WRITE, 1023, f->buf, 1024), -EIO);
	assert_int_equal(lxd_blk_rw(f->disk, REQ_OP_WRITE, 1023, f->buf, 512), 0);
	assert_int_equal(lxd_blk_rw(f->disk, REQ_OP_READ, 0, f->buf, 100), -EINVAL);
	set_capacity(f->disk, 1u << 20); /* so that "too long" is not also "beyond the end" */
	assert_int_equal(lxd_blk_rw(f->disk, REQ_OP_READ, 0, f->buf, LXD_BLK_MAX_IO + 512), -EINVAL);
	set_capacity(f->disk, 1024);
}

static int ends;
static void count_end(struct lxd_blk_io *io) { (void)io; __atomic_fetch_add(&ends, 1, __ATOMIC_SEQ_CST); }

static void test_double_end_ignored(void **state)
{
	struct fix *f = *state;
	end_twice = 1;
	ends = 0;
	struct lxd_blk_io io = {.op = REQ_OP_READ, .len = 512, .buf = f->buf, .end_io = count_end};
	assert_int_equal(lxd_blk_submit(f->disk, &io), 0);
	assert_int_equal(ends, 1);
	assert_int_equal(io.error, 0);
}

static void *end_held_later(void *arg)
{
	(void)arg;
	usleep(20000);
	pthread_mutex_lock(&held_lock);
	int n = nheld;
	struct request *rqs[8];
	memcpy(rqs, held, sizeof(rqs));
	nheld = 0;
	pthread_mutex_unlock(&held_lock);
	for (int i = 0; i < n; i++)
		blk_mq_end_request(rqs[i], BLK_STS_OK);
	return NULL;
}

/* Depth 1 x 2 queues: a third I/O waits for a tag until another context ends one. */
static void test_tag_wait_and_drain(void **state)
{
	struct fix *f = *state;
	hold = 1;
	ends = 0;
	struct lxd_blk_io io[3];
	for (int i = 0; i < 2; i++) {
		io[i] = (struct lxd_blk_io){.op = REQ_OP_READ, .len = 512, .buf = f->buf, .end_io = count_end};
		assert_int_equal(lxd_blk_submit(f->disk, &io[i]), 0);
	}
	assert_int_equal(nheld, 2);
	pthread_t th;
	pthread_create(&th, NULL, end_held_later, NULL);
	io[2] = (struct lxd_blk_io){.op = REQ_OP_READ, .len = 512, .buf = f->buf, .end_io = count_end};
	assert_int_equal(lxd_blk_submit(f->disk, &io[2]), 0); /* blocks until the thread ends two */
	pthread_join(th, NULL);
	assert_int_equal(ends, 2);
	/* del_gendisk waits for the held one, ended by another thread. */
	pthread_create(&th, NULL, end_held_later, NULL);
	del_gendisk(f->disk);
	assert_int_equal(ends, 3);
	pthread_join(th, NULL);
	assert_int_equal(lxd_blk_rw(f->disk, REQ_OP_READ, 0, f->buf, 512), -ENODEV);
	assert_null(lxd_blk_get_disk("tb0"));
	/* Teardown's del_gendisk on a removed disk is a logged no-op. */
}

static void test_bad_sets_and_limits(void **state)
{
	(void)state;
	struct blk_mq_tag_set s = {.ops = &ops, .nr_hw_queues = 0, .queue_depth = 1};
	assert_int_equal(blk_mq_alloc_tag_set(&s), -EINVAL);
	s.nr_hw_queues = 1;
	s.queue_depth = 5000;
	assert_int_equal(blk_mq_alloc_tag_set(&s), -EINVAL);
	s.queue_depth = 4;
	assert_int_equal(blk_mq_alloc_tag_set(&s), 0);
	struct queue_limits lim = {.logical_block_size = 768};
	assert_int_equal(PTR_ERR(blk_mq_alloc_disk(&s, &lim, NULL)), -EINVAL);
	lim.logical_block_size = 8192;
	assert_int_equal(PTR_ERR(blk_mq_alloc_disk(&s, &lim, NULL)), -EINVAL);
	struct gendisk *d = blk_mq_alloc_disk(&s, NULL, NULL);
	assert_false(IS_ERR(d));
	assert_int_equal(add_disk(d), -EINVAL); /* no name */
	strcpy(d->disk_name, "tb0");
	assert_int_equal(add_disk(d), -EEXIST);
	put_disk(d);
	blk_mq_free_tag_set(&s);
	assert_int_equal(blk_status_to_errno(BLK_STS_OK), 0);
	assert_int_equal(blk_status_to_errno(200), -EIO);
}

static int fired;
static enum hrtimer_restart on_timer(struct hrtimer *t)
{
	(void)t;
	__atomic_fetch_add(&fired, 1, __ATOMIC_SEQ_CST);
	return HRTIMER_NORESTART;
}

/* Every answer a domain's queue_rq can give survives its one-byte form. */
static void test_queue_rq_answer_bytes(void **state)
{
	(void)state;
	const int answers[] = {
		BLK_STS_OK, BLK_STS_RESOURCE, BLK_STS_DEV_RESOURCE, BLK_STS_IOERR, BLK_STS_NOTSUPP,
		BLK_STS_OK | LXD_RQ_ENDED, (int)(LXD_RQ_ENDED | (unsigned)BLK_STS_IOERR << 16),
		(int)(LXD_RQ_ENDED | (unsigned)BLK_STS_DEV_RESOURCE << 16), BLK_STS_OK | LXD_RQ_COMPLETE,
		BLK_STS_RESOURCE | LXD_RQ_COMPLETE, (int)(LXD_RQ_ENDED | LXD_RQ_COMPLETE | (unsigned)BLK_STS_TIMEOUT << 16),
	};
	for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++)
		assert_int_equal(lxd_rq_res_unpack(lxd_rq_res_pack(answers[i])), answers[i]);
	/* Errors (the request not looked at) come back as -EIO. */
	assert_int_equal(lxd_rq_res_unpack(lxd_rq_res_pack(-EINVAL)), -EIO);
	assert_int_equal(lxd_rq_res_unpack(lxd_rq_res_pack(-EBADF)), -EIO);
	/* A status no blk_status_t has (a misbehaving driver's) is an I/O error, ended or not. */
	assert_int_equal(lxd_rq_res_unpack(lxd_rq_res_pack(200)), BLK_STS_IOERR);
	assert_int_equal(lxd_rq_res_unpack(lxd_rq_res_pack((int)(LXD_RQ_ENDED | 99u << 16))),
			 (int)(LXD_RQ_ENDED | (unsigned)BLK_STS_IOERR << 16));
}

static void test_hrtimer(void **state)
{
	(void)state;
	struct hrtimer t;
	hrtimer_setup(&t, on_timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
	fired = 0;
	hrtimer_start(&t, 5 * NSEC_PER_SEC, HRTIMER_MODE_REL);
	assert_int_equal(hrtimer_cancel(&t), 1);
	assert_int_equal(hrtimer_cancel(&t), 0);
	hrtimer_start(&t, 1000, HRTIMER_MODE_REL);
	while (!__atomic_load_n(&fired, __ATOMIC_SEQ_CST))
		usleep(100);
	assert_int_equal(hrtimer_cancel(&t), 0);
	assert_int_equal(fired, 1);
}

/*
 * Native data buffers (lxd_data_alloc without an isolated owner): small
 * and page-sized ones from the kernel's private arena, a 32 MiB one past
 * what a buffer word holds from the heap; each holds its own bytes while
 * all are live, and every one is counted and uncounted.
 */
static void test_native_data_buffers(void **state)
{
	(void)state;
	static const size_t sizes[] = {1, 64, 100, 1500, 2048, 4096, 9000, 65536, 200000, 32u << 20};
	enum { N = sizeof(sizes) / sizeof(sizes[0]), COPIES = 40 };
	struct lxd_kernel_counts c0, c;
	lxd_kernel_get_counts(&c0);
	unsigned char *b[N][COPIES];
	for (unsigned i = 0; i < N; i++)
		for (unsigned k = 0; k < COPIES && (k == 0 || sizes[i] < (1u << 20)); k++) {
			b[i][k] = lxd_data_alloc(NULL, sizes[i]);
			assert_non_null(b[i][k]);
			memset(b[i][k], (int)(i * COPIES + k), sizes[i]);
		}
	lxd_kernel_get_counts(&c);
	assert_true(c.data_buffers > c0.data_buffers);
	for (unsigned i = 0; i < N; i++)
		for (unsigned k = 0; k < COPIES && (k == 0 || sizes[i] < (1u << 20)); k++) {
			unsigned char want = (unsigned char)(i * COPIES + k);
			assert_int_equal(b[i][k][0], want);
			assert_int_equal(b[i][k][sizes[i] - 1], want);
			assert_int_equal(b[i][k][sizes[i] / 2], want);
			lxd_data_free(b[i][k]);
		}
	lxd_data_free(NULL);
	lxd_kernel_get_counts(&c);
	assert_int_equal(c.data_buffers, c0.data_buffers);
	/* Freed blocks are handed out again: the arena does not grow per buffer. */
	void *p = lxd_data_alloc(NULL, 64), *q = lxd_data_alloc(NULL, 64);
	lxd_data_free(q);
	void *r = lxd_data_alloc(NULL, 64);
	assert_ptr_equal(r, q);
	lxd_data_free(p);
	lxd_data_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_statuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_double_end_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tag_wait_and_drain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_sets_and_limits, setup, teardown),
		cmocka_unit_test(test_queue_rq_answer_bytes),
		cmocka_unit_test(test_hrtimer),
		cmocka_unit_test(test_native_data_buffers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
