/* SPDX-License-Identifier: MIT */
/*
 * The block core with an in-test driver (no module): error statuses, busy
 * retries, double completion, tag exhaustion, del_gendisk draining, ending
 * requests in batches, bad tag sets and limits, hrtimers.
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
static struct request *held[64];
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

/* ---- blk_mq_end_request_batch ---- */

#define BATCH_DEPTH 40

static struct gendisk *batch_disk;
static int batch_ends, batch_resubmits;
static struct lxd_blk_io resubmitted;

static void batch_end(struct lxd_blk_io *io)
{
	(void)io;
	batch_ends++;
}

/* An end_io that submits again at once: it must find a tag (the batch gives tags back first). */
static void batch_end_resubmit(struct lxd_blk_io *io)
{
	batch_ends++;
	batch_resubmits++;
	resubmitted = (struct lxd_blk_io){.op = REQ_OP_READ, .len = 512, .buf = io->buf, .end_io = batch_end};
	assert_int_equal(lxd_blk_submit(batch_disk, &resubmitted), 0);
}

static struct gendisk *batch_add_disk(struct blk_mq_tag_set *set, const char *name)
{
	struct gendisk *d = blk_mq_alloc_disk(set, NULL, NULL);
	assert_false(IS_ERR(d));
	strcpy(d->disk_name, name);
	set_capacity(d, 1024);
	assert_int_equal(add_disk(d), 0);
	return d;
}

/* Submit @n held I/Os, the first @n_a on @a and the rest on @b; their requests land in held[]. */
static void batch_submit(struct gendisk *a, struct gendisk *b, int n_a, int n, struct lxd_blk_io *io, void *buf)
{
	nheld = 0;
	for (int i = 0; i < n; i++) {
		io[i] = (struct lxd_blk_io){.op = REQ_OP_READ, .len = 512, .buf = buf, .end_io = batch_end};
		assert_int_equal(lxd_blk_submit(i < n_a ? a : b, &io[i]), 0);
	}
	assert_int_equal(nheld, n);
}

/*
 * A batch ends each request once, with its own status, across two disks of
 * one tag set (two runs); an end of a request no longer in flight is
 * ignored; a full batch is ended as the next request is added; every tag
 * is back before the first end_io runs; in-flight counts come back to zero
 * (del_gendisk returns, the teardown counts are zero).
 */
static void test_end_batch(void **state)
{
	(void)state;
	hold = 1;
	next_status = 0;
	struct blk_mq_tag_set set = {.ops = &ops, .nr_hw_queues = 1, .queue_depth = BATCH_DEPTH};
	assert_int_equal(blk_mq_alloc_tag_set(&set), 0);
	struct gendisk *d1 = batch_add_disk(&set, "tbb1"), *d2 = batch_add_disk(&set, "tbb2");
	void *buf = lxd_data_alloc(NULL, 4096);
	static struct lxd_blk_io io[BATCH_DEPTH];

	batch_ends = 0;
	batch_submit(d1, d2, BATCH_DEPTH / 2, BATCH_DEPTH, io, buf);
	struct io_comp_batch iob = IO_COMP_BATCH_INIT;
	for (int i = 0; i < IO_COMP_BATCH_MAX; i++)
		blk_mq_add_to_batch(held[i], &iob, i % 3 ? BLK_STS_OK : BLK_STS_IOERR);
	blk_mq_add_to_batch(held[0], &iob, BLK_STS_OK); /* full: the first 32 end here */
	assert_int_equal(batch_ends, IO_COMP_BATCH_MAX);
	assert_int_equal(iob.n, 1);
	for (int i = IO_COMP_BATCH_MAX; i < BATCH_DEPTH; i++)
		blk_mq_add_to_batch(held[i], &iob, i % 3 ? BLK_STS_OK : BLK_STS_NOTSUPP);
	blk_mq_end_request_batch(&iob); /* held[0] again: not in flight, ignored */
	assert_int_equal(iob.n, 0);
	assert_int_equal(batch_ends, BATCH_DEPTH);
	for (int i = 0; i < BATCH_DEPTH; i++)
		assert_int_equal(io[i].error, i % 3 ? 0 : i < IO_COMP_BATCH_MAX ? -EIO : -EOPNOTSUPP);
	blk_mq_end_request_batch(&iob); /* empty: nothing */
	assert_int_equal(batch_ends, BATCH_DEPTH);

	/* Every tag is free again: a whole depth more goes in without waiting.
	 * Then the first end_io submits once more while the rest still hold
	 * theirs -- it can only find a tag the batch gave back before it ran. */
	batch_ends = 0;
	batch_submit(d2, d1, BATCH_DEPTH / 4, BATCH_DEPTH, io, buf);
	io[0].end_io = batch_end_resubmit;
	batch_disk = d1;
	for (int i = 0; i < BATCH_DEPTH / 2; i++)
		blk_mq_add_to_batch(held[i], &iob, BLK_STS_OK);
	blk_mq_end_request_batch(&iob);
	assert_int_equal(batch_resubmits, 1);
	assert_int_equal(nheld, BATCH_DEPTH + 1);
	struct request *rest[BATCH_DEPTH / 2 + 1];
	memcpy(rest, &held[BATCH_DEPTH / 2], sizeof(rest));
	for (int i = 0; i < BATCH_DEPTH / 2 + 1; i++)
		blk_mq_add_to_batch(rest[i], &iob, BLK_STS_OK);
	blk_mq_end_request_batch(&iob);
	assert_int_equal(batch_ends, BATCH_DEPTH + 1);
	for (int i = 0; i < BATCH_DEPTH; i++)
		assert_int_equal(io[i].error, 0);

	del_gendisk(d1); /* returns only once the queue's in-flight count is zero */
	del_gendisk(d2);
	put_disk(d1);
	put_disk(d2);
	blk_mq_free_tag_set(&set);
	lxd_data_free(buf);
	struct lxd_kernel_counts c;
	lxd_kernel_get_counts(&c);
	assert_int_equal(c.disks + c.disks_added + c.requests + c.data_buffers, 0);
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
		cmocka_unit_test(test_end_batch),
		cmocka_unit_test(test_queue_rq_answer_bytes),
		cmocka_unit_test(test_hrtimer),
		cmocka_unit_test(test_native_data_buffers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
