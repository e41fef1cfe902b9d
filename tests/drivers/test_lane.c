/* SPDX-License-Identifier: MIT */
/*
 * Polling threads ("lanes", kernel/isolated/lane.c) with null_blk: a thread
 * that called lxd_poll_begin() submits I/O under a plug and reaps it with
 * lxd_poll().  Run in both modes: natively the same code must simply work
 * (no lane, lxd_poll finds nothing); isolated, the requests cross on the
 * thread's own lane and their completions run on it, inside lxd_poll.
 * Isolated only: the domain crashing with lane I/O in flight, and an
 * unload while another thread still holds a lane.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <linux/blk-mq.h>

#include "driver_mode.h"



static bool isolated(void)
{
	return test_mode == LXD_MODULE_ISOLATED;
}

/* ---- a polling submitter: many I/Os under plugs, reaped with lxd_poll ---- */

#define BLK 4096u
#define MAX_IOS 1024

struct run {
	struct gendisk *disk;
	char *buf;          /* MAX_IOS blocks: I/O i uses block i, at sector i * 8 */
	unsigned op, n, qd; /* how many I/Os, how many in flight at most */
	uint64_t base;      /* first sector */
	pthread_barrier_t *hold; /* if set: after the first burst, wait here (lane up, idle) */
	/* results */
	struct lxd_blk_io io[MAX_IOS];
	_Atomic unsigned calls[MAX_IOS]; /* end_io calls per I/O: must end at 1 */
	_Atomic unsigned done, ok, eio, other_thread;
	bool accepted[MAX_IOS];
	unsigned submitted, refused; /* refused: lxd_blk_submit failed (no end_io) */
	unsigned inflight_after;
	int begin_rc, end_rc;
	pthread_t self;
	_Atomic bool finished;
};

static void run_end_io(struct lxd_blk_io *io)
{
	struct run *r = io->private;
	unsigned i = (unsigned)(io - r->io);
	atomic_fetch_add(&r->calls[i], 1);
	if (!pthread_equal(pthread_self(), r->self))
		atomic_fetch_add(&r->other_thread, 1);
	if (io->error == 0)
		atomic_fetch_add(&r->ok, 1);
	else if (io->error == -EIO)
		atomic_fetch_add(&r->eio, 1);
	atomic_fetch_add(&r->done, 1); /* last: the reaper reads the rest after it */
}

/* Reap once; natively there is nothing to poll: let the completions run elsewhere. */
static void reap(void)
{
	if (lxd_poll(1000 * 1000) == 0)
		sched_yield();
}

/*
 * Submit r->n I/Os, at most r->qd in flight, each burst under one plug (so
 * on a lane they are held back and cross as batches); reap until all the
 * accepted ones have ended.  The calling thread polls throughout.
 */
static void *run_polling(void *arg)
{
	struct run *r = arg;
	r->self = pthread_self();
	r->begin_rc = lxd_poll_begin();
	while (r->submitted + r->refused < r->n) {
		struct lxd_blk_plug plug;
		lxd_blk_start_plug(&plug);
		while (r->submitted + r->refused < r->n &&
		       r->submitted - atomic_load(&r->done) < r->qd) {
			unsigned i = r->submitted + r->refused;
			r->io[i] = (struct lxd_blk_io){.op = r->op, .sector = r->base + (uint64_t)i * (BLK / 512), .len = BLK,
						       .buf = r->buf + (size_t)i * BLK, .end_io = run_end_io,
						       .private = r};
			if (lxd_blk_submit(r->disk, &r->io[i]) == 0) {
				r->accepted[i] = true;
				r->submitted++;
			} else
				r->refused++; /* the disk went away (a dead domain) */
		}
		lxd_blk_finish_plug(&plug);
		reap();
		if (r->hold) { /* every thread holds its lane (or was refused one) at once */
			while (atomic_load(&r->done) < r->submitted)
				reap();
			pthread_barrier_wait(r->hold);
			r->hold = NULL;
		}
	}
	while (atomic_load(&r->done) < r->submitted)
		reap();
	r->inflight_after = lxd_poll_inflight();
	r->end_rc = lxd_poll_end();
	atomic_store(&r->finished, true);
	return NULL;
}

/* Run @fn(@arg) on a new thread and join it; fail (not hang) if it runs past 20 s. */
static void run_thread_bounded(void *(*fn)(void *), void *arg)
{
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, fn, arg), 0);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20; /* a generous bound: turns a hang into a failure */
	assert_int_equal(pthread_timedjoin_np(th, NULL, &until), 0);
}

/* Run @r on a new polling thread. */
static void run_on_thread(struct run *r)
{
	run_thread_bounded(run_polling, r);
	assert_int_equal(r->begin_rc, 0);
	assert_int_equal(r->end_rc, 0);
	assert_int_equal(r->inflight_after, 0);
}

/* Every accepted I/O ended exactly once, with 0. */
static void assert_all_ok(struct run *r)
{
	assert_int_equal(r->refused, 0);
	assert_int_equal(r->submitted, r->n);
	assert_int_equal(atomic_load(&r->done), r->n);
	assert_int_equal(atomic_load(&r->ok), r->n);
	for (unsigned i = 0; i < r->n; i++)
		assert_int_equal(atomic_load(&r->calls[i]), 1);
}

static struct run *run_new(struct gendisk *d, char *buf, unsigned op, unsigned n, unsigned qd)
{
	struct run *r = calloc(1, sizeof(*r));
	assert_non_null(r);
	assert_true(n <= MAX_IOS);
	r->disk = d;
	r->buf = buf;
	r->op = op;
	r->n = n;
	r->qd = qd;
	return r;
}

static void fill(char *buf, unsigned n, unsigned seed)
{
	for (size_t i = 0; i < (size_t)n * BLK; i++)
		buf[i] = (char)(i * 31 + i / BLK * 7 + seed);
}

/*
 * Write a pattern, then read it back, both from one polling thread with
 * plugged bursts.  Isolated, each end_io runs on that thread (the lane's
 * answers run only in its lxd_poll), the requests crossed zero-copy (module
 * buffers), and the lane leaves nothing behind.  @params: null_blk's.
 */
static void plugged_write_read(const char *const *params, size_t np, unsigned n, unsigned qd)
{
	struct lxd_module *m;
	struct gendisk *d = load_disk(&m, params, np);
	char *w = lxd_data_alloc(m, (size_t)n * BLK), *rd = lxd_data_alloc(m, (size_t)n * BLK);
	assert_non_null(w);
	assert_non_null(rd);
	fill(w, n, 5);
	memset(rd, 0xee, (size_t)n * BLK);

	struct run *r = run_new(d, w, REQ_OP_WRITE, n, qd);
	run_on_thread(r);
	assert_all_ok(r);
	if (isolated())
		assert_int_equal(atomic_load(&r->other_thread), 0); /* reaped on the lane, not the dispatcher */
	free(r);

	r = run_new(d, rd, REQ_OP_READ, n, qd);
	run_on_thread(r);
	assert_all_ok(r);
	if (isolated())
		assert_int_equal(atomic_load(&r->other_thread), 0);
	free(r);
	assert_memory_equal(rd, w, (size_t)n * BLK);

	struct lxd_iso_stats st;
	if (isolated()) {
		assert_int_equal(lxd_module_iso_stats(m, &st), 0);
		assert_int_equal(st.rq_zero_copy, 2 * n); /* every request crossed, none copied */
		assert_int_equal(st.rq_bounced, 0);
	} else {
		assert_int_equal(lxd_module_iso_stats(m, &st), -EINVAL);
	}
	lxd_data_free(w);
	lxd_data_free(rd);
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
}

/* ---- one plug, buffers of every kind ---- */

/* I/O i's buffer: 0 one page of the module's arena (a lane batch's quick
 * path), 1 the heap (outside the arena: bounced), 2 two pages at a
 * half-page offset in the arena (three segments, contiguous: zero copy by
 * the general path), 3 a flush (no data). */
#define MIX_N 40
#define MIX_KIND(i) ((i) % 4 == 1 ? 1 : (i) % 8 == 6 ? 2 : (i) % 8 == 7 ? 3 : 0)

struct mix {
	struct gendisk *disk;
	char *arena, *heap;          /* MIX_N slots of 3 pages each */
	unsigned op;
	struct lxd_blk_io io[MIX_N];
	_Atomic unsigned done, ok, other_thread;
	pthread_t self;
	int submit_rc;
};

static void mix_end_io(struct lxd_blk_io *io)
{
	struct mix *x = io->private;
	if (!pthread_equal(pthread_self(), x->self))
		atomic_fetch_add(&x->other_thread, 1);
	if (io->error == 0)
		atomic_fetch_add(&x->ok, 1);
	atomic_fetch_add(&x->done, 1);
}

static void *mix_run(void *arg)
{
	struct mix *x = arg;
	x->self = pthread_self();
	int rc = lxd_poll_begin();
	struct lxd_blk_plug plug;
	lxd_blk_start_plug(&plug); /* all MIX_N in one plug: one lane batch after another */
	for (unsigned i = 0; i < MIX_N && rc == 0; i++) {
		unsigned kind = MIX_KIND(i);
		char *slot = (kind == 1 ? x->heap : x->arena) + (size_t)i * 3 * BLK;
		x->io[i] = (struct lxd_blk_io){.op = kind == 3 ? REQ_OP_FLUSH : x->op, .sector = (uint64_t)i * 3 * (BLK / 512),
					       .len = kind == 3 ? 0 : kind == 2 ? 2 * BLK : BLK,
					       .buf = kind == 3 ? NULL : kind == 2 ? slot + BLK / 2 : slot,
					       .end_io = mix_end_io, .private = x};
		rc = lxd_blk_submit(x->disk, &x->io[i]);
	}
	lxd_blk_finish_plug(&plug);
	x->submit_rc = rc;
	while (rc == 0 && atomic_load(&x->done) < MIX_N)
		reap();
	lxd_poll_end();
	return NULL;
}

static void mix_on_thread(struct mix *x)
{
	run_thread_bounded(mix_run, x);
	assert_int_equal(x->submit_rc, 0);
	assert_int_equal(atomic_load(&x->done), MIX_N);
	assert_int_equal(atomic_load(&x->ok), MIX_N);
	if (isolated())
		assert_int_equal(atomic_load(&x->other_thread), 0); /* answered on the lane */
}

/*
 * One plug on a polling thread mixes buffers the lane's quick path takes
 * (a page of the module's arena) with every kind it must leave to the
 * general path: heap buffers (bounced into the arena), multi-segment ones,
 * flushes.  Written, read back into cleared buffers: every byte right, and
 * the crossing counted as it happened (a quick path that took a heap
 * buffer as zero copy would hand the domain an address outside its arena).
 */
static void test_plug_mixes_buffer_kinds(void **state)
{
	(void)state;
	struct lxd_module *m;
	const char *p[] = {"size=16", "memory_backed=1", "irqmode=0", "hw_queue_depth=64"};
	struct gendisk *d = load_disk(&m, p, 4);
	size_t len = (size_t)MIX_N * 3 * BLK;
	char *w_arena = lxd_data_alloc(m, len), *r_arena = lxd_data_alloc(m, len);
	char *w_heap = aligned_alloc(BLK, len), *r_heap = aligned_alloc(BLK, len);
	assert_non_null(w_arena);
	assert_non_null(r_arena);
	assert_non_null(w_heap);
	assert_non_null(r_heap);
	fill(w_arena, MIX_N * 3, 11);
	fill(w_heap, MIX_N * 3, 23);
	memset(r_arena, 0xee, len);
	memset(r_heap, 0xee, len);

	struct mix *x = calloc(1, sizeof(*x));
	assert_non_null(x);
	*x = (struct mix){.disk = d, .arena = w_arena, .heap = w_heap, .op = REQ_OP_WRITE};
	mix_on_thread(x);
	*x = (struct mix){.disk = d, .arena = r_arena, .heap = r_heap, .op = REQ_OP_READ};
	mix_on_thread(x);
	free(x);

	unsigned bounced = 0, zero_copy = 0;
	for (unsigned i = 0; i < MIX_N; i++) {
		unsigned kind = MIX_KIND(i);
		size_t off = (size_t)i * 3 * BLK;
		if (kind == 0)
			assert_memory_equal(r_arena + off, w_arena + off, BLK);
		else if (kind == 1)
			assert_memory_equal(r_heap + off, w_heap + off, BLK);
		else if (kind == 2)
			assert_memory_equal(r_arena + off + BLK / 2, w_arena + off + BLK / 2, 2 * BLK);
		bounced += kind == 1;
		zero_copy += kind == 0 || kind == 2;
	}
	struct lxd_iso_stats st;
	if (isolated()) {
		assert_int_equal(lxd_module_iso_stats(m, &st), 0);
		assert_int_equal(st.rq_zero_copy, 2 * zero_copy);
		assert_int_equal(st.rq_bounced, 2 * bounced);
	}
	lxd_data_free(w_arena);
	lxd_data_free(r_arena);
	free(w_heap);
	free(r_heap);
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
}

/* Completion inside queue_rq (softirq mode), two hardware queues, tags to spare. */
static void test_plugged_io_softirq(void **state)
{
	(void)state;
	const char *p[] = {"size=16", "memory_backed=1", "irqmode=1", "submit_queues=2", "hw_queue_depth=256"};
	plugged_write_read(p, 5, 1024, 64);
}

/* Ended inside queue_rq (inline mode). */
static void test_plugged_io_inline(void **state)
{
	(void)state;
	const char *p[] = {"size=16", "memory_backed=1", "irqmode=0", "hw_queue_depth=64"};
	plugged_write_read(p, 4, 512, 48);
}

/*
 * Every 5th queue_rq refused with BLK_STS_RESOURCE (busy_every): the core
 * queues those again -- isolated, from a lane batch's answer, on a thread
 * of the lane's, since the retry may wait -- and every byte still makes
 * the round trip.
 */
static void test_plugged_io_driver_busy(void **state)
{
	(void)state;
	const char *p[] = {"size=16", "memory_backed=1", "irqmode=0", "hw_queue_depth=64", "busy_every=5"};
	plugged_write_read(p, 5, 512, 48);
}

/*
 * Fewer tags than the burst: lxd_blk_submit waits for a free tag inside
 * the plug.  The requests holding the tags are this thread's own, held
 * back by its plug or answered on its lane: the wait must flush the plug
 * and poll, not sleep for ever.
 */
static void test_tag_wait_inside_plug(void **state)
{
	(void)state;
	const char *p[] = {"size=16", "memory_backed=1", "irqmode=1", "hw_queue_depth=4"};
	plugged_write_read(p, 4, 256, 64);
}

/*
 * Timer completions: the driver ends requests outside queue_rq, so the
 * ends come on the domain's main channel (the dispatcher), while the lane
 * carried the requests.  Everything still ends once, with 0, and the data
 * is right; no assertion on the thread here.
 */
static void test_timer_completions(void **state)
{
	(void)state;
	struct lxd_module *m;
	const char *p[] = {"size=16", "memory_backed=1", "irqmode=2", "completion_nsec=50000",
			   "hw_queue_depth=64"};
	struct gendisk *d = load_disk(&m, p, 5);
	enum { N = 512 };
	char *w = lxd_data_alloc(m, (size_t)N * BLK), *rd = lxd_data_alloc(m, (size_t)N * BLK);
	fill(w, N, 9);
	struct run *r = run_new(d, w, REQ_OP_WRITE, N, 32);
	run_on_thread(r);
	assert_all_ok(r);
	free(r);
	r = run_new(d, rd, REQ_OP_READ, N, 32);
	run_on_thread(r);
	assert_all_ok(r);
	free(r);
	assert_memory_equal(rd, w, (size_t)N * BLK);
	lxd_data_free(w);
	lxd_data_free(rd);
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
}

/*
 * lxd_poll_end right after submitting, without reaping: it waits for every
 * call in flight, and with completions inside queue_rq (softirq mode) that
 * means every end_io has run when it returns -- on this thread.
 */
/*
 * Begin polling and submit @n 4 KiB reads of blocks 0..n-1 under one plug,
 * into @buf (+ i * @stride), ending in @end_io(@priv).  How many were accepted.
 */
static unsigned polled_plugged_reads(struct gendisk *disk, struct lxd_blk_io *io, unsigned n, char *buf,
				     size_t stride, void (*end_io)(struct lxd_blk_io *), void *priv)
{
	(void)lxd_poll_begin();
	struct lxd_blk_plug plug;
	lxd_blk_start_plug(&plug);
	unsigned submitted = 0;
	for (unsigned i = 0; i < n; i++) {
		io[i] = (struct lxd_blk_io){.op = REQ_OP_READ, .sector = (uint64_t)i * 8, .len = BLK,
					    .buf = buf + (size_t)i * stride, .end_io = end_io, .private = priv};
		submitted += lxd_blk_submit(disk, &io[i]) == 0;
	}
	lxd_blk_finish_plug(&plug);
	return submitted;
}

struct quick {
	struct gendisk *disk;
	char *buf;
	struct lxd_blk_io io[64];
	_Atomic unsigned ended;
	unsigned ended_at_end, submitted;
	int end_rc;
};

static void quick_end_io(struct lxd_blk_io *io)
{
	struct quick *q = io->private;
	atomic_fetch_add(&q->ended, 1);
}

static void *quick_run(void *arg)
{
	struct quick *q = arg;
	q->submitted = polled_plugged_reads(q->disk, q->io, 64, q->buf, BLK, quick_end_io, q);
	q->end_rc = lxd_poll_end();
	q->ended_at_end = atomic_load(&q->ended);
	return NULL;
}

static void test_poll_end_waits_for_lane_calls(void **state)
{
	(void)state;
	if (!isolated()) {
		skip(); /* natively completions run on other threads: nothing to wait for */
		return;
	}
	struct lxd_module *m;
	const char *p[] = {"size=4", "irqmode=1", "hw_queue_depth=128"};
	struct quick *q = calloc(1, sizeof(*q));
	assert_non_null(q);
	q->disk = load_disk(&m, p, 3);
	q->buf = lxd_data_alloc(m, 64 * BLK);
	run_thread_bounded(quick_run, q);
	assert_int_equal(q->submitted, 64);
	assert_int_equal(q->end_rc, 0);
	assert_int_equal(q->ended_at_end, 64);
	lxd_data_free(q->buf);
	free(q);
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
}

/*
 * More polling threads at once than a domain has lanes (15: its runtime's
 * endpoints less the main channel), twice over so closed lanes are reused:
 * the threads without a lane take the dispatcher path, and every thread's
 * data is right either way.
 */
#define THREADS 20
#define PER_THREAD 64

static bool all_finished(void *arg)
{
	struct run **r = arg;
	for (int t = 0; t < THREADS; t++)
		if (!atomic_load(&r[t]->finished))
			return false;
	return true;
}

static void run_many(struct gendisk *d, char *buf, unsigned op)
{
	struct run *r[THREADS];
	pthread_t th[THREADS];
	pthread_barrier_t hold;
	assert_int_equal(pthread_barrier_init(&hold, NULL, THREADS), 0);
	for (int t = 0; t < THREADS; t++) {
		r[t] = run_new(d, buf + (size_t)t * PER_THREAD * BLK, op, PER_THREAD, 16);
		r[t]->base = (uint64_t)t * PER_THREAD * (BLK / 512);
		r[t]->hold = &hold;
		assert_int_equal(pthread_create(&th[t], NULL, run_polling, r[t]), 0);
	}
	assert_true(wait_until(all_finished, r)); /* a bound: a hang becomes a failure */
	for (int t = 0; t < THREADS; t++) {
		assert_int_equal(pthread_join(th[t], NULL), 0);
		assert_int_equal(r[t]->begin_rc, 0);
		assert_int_equal(r[t]->end_rc, 0);
		assert_all_ok(r[t]);
		free(r[t]);
	}
	pthread_barrier_destroy(&hold);
}

static void test_more_threads_than_lanes(void **state)
{
	(void)state;
	struct lxd_module *m;
	const char *p[] = {"size=16", "memory_backed=1", "irqmode=1", "submit_queues=2", "hw_queue_depth=256"};
	struct gendisk *d = load_disk(&m, p, 5);
	size_t len = (size_t)THREADS * PER_THREAD * BLK;
	char *w = lxd_data_alloc(m, len), *rd = lxd_data_alloc(m, len);
	assert_non_null(w);
	assert_non_null(rd);
	for (unsigned round = 0; round < 2; round++) {
		fill(w, THREADS * PER_THREAD, 11 + round);
		memset(rd, 0, len);
		run_many(d, w, REQ_OP_WRITE);
		run_many(d, rd, REQ_OP_READ);
		assert_memory_equal(rd, w, len);
	}
	lxd_data_free(w);
	lxd_data_free(rd);
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
}

/*
 * A polling thread that unloads the module itself while its lane has I/O
 * in flight (two bugs of the first lane commit, fixed since):
 *  - completions inside queue_rq (irqmode=1) ride on the lane's answers:
 *    the unload must reap them (lxd_iso_lane_quiesce) before it waits for
 *    the exit on the dispatcher, or the exit's drain waits for ever;
 *  - timer completions (irqmode=2) end the requests on the main channel;
 *    a lane call still open when the driver frees its tag set must not
 *    touch freed memory (the set is reference-counted per call).
 * Expected: every I/O ends once, the unload returns 0, lxd_poll_end too.
 */
struct self_unload {
	struct lxd_module *m;
	struct gendisk *disk;
	char *buf;
	struct lxd_blk_io io[16];
	_Atomic unsigned ended, ok;
	unsigned submitted;
	int unload_rc, end_rc;
	_Atomic bool finished;
};

static void self_end_io(struct lxd_blk_io *io)
{
	struct self_unload *u = io->private;
	atomic_fetch_add(&u->ok, io->error == 0);
	atomic_fetch_add(&u->ended, 1);
}

static void *self_unload_run(void *arg)
{
	struct self_unload *u = arg;
	u->submitted = polled_plugged_reads(u->disk, u->io, 16, u->buf, 0, self_end_io, u);
	u->unload_rc = lxd_module_unload(u->m); /* with the 16 in flight on our lane */
	u->end_rc = lxd_poll_end();
	atomic_store(&u->finished, true);
	return NULL;
}

static bool self_unload_finished(void *arg)
{
	struct self_unload *u = arg;
	return atomic_load(&u->finished);
}

static void polling_thread_unloads(const char *const *p, size_t np)
{
	struct self_unload *u = calloc(1, sizeof(*u));
	assert_non_null(u);
	u->disk = load_disk(&u->m, p, np);
	u->buf = lxd_data_alloc(NULL, BLK); /* the kernel's heap: outlives the module */
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, self_unload_run, u), 0);
	assert_true(wait_until(self_unload_finished, u)); /* a bound: a hang becomes a failure */
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(u->submitted, 16);
	assert_int_equal(u->unload_rc, 0);
	assert_int_equal(u->end_rc, 0);
	assert_int_equal(atomic_load(&u->ended), 16);
	assert_int_equal(atomic_load(&u->ok), 16); /* an orderly unload lets them finish */
	lxd_data_free(u->buf);
	free(u);
	assert_kernel_clean();
}

static void test_polling_thread_unloads_timer_completions(void **state)
{
	(void)state;
	const char *p[] = {"size=4", "irqmode=2", "completion_nsec=20000000", "hw_queue_depth=32"};
	polling_thread_unloads(p, 4);
}

static void test_polling_thread_unloads_inline_completions(void **state)
{
	(void)state;
	const char *p[] = {"size=4", "irqmode=1", "hw_queue_depth=32"};
	polling_thread_unloads(p, 3);
}

/*
 * Another thread unloads while a polling thread's lane calls are still
 * unreaped (it does not poll until after the unload): the requests end
 * through timers on the main channel, the driver frees its tag set, and
 * the lane's calls are failed afterwards (dead lane) -- reading the
 * request of each, which the set's per-call references keep allocated
 * (ASan would report the use-after-free without them).
 */
struct late_reaper {
	struct self_unload *u;
	_Atomic bool submitted, unloaded;
};

static void *late_reaper_run(void *arg)
{
	struct late_reaper *lr = arg;
	struct self_unload *u = lr->u;
	u->submitted = polled_plugged_reads(u->disk, u->io, 16, u->buf, 0, self_end_io, u);
	atomic_store(&lr->submitted, true);
	while (!atomic_load(&lr->unloaded))
		sched_yield(); /* not polling: the answers stay in the lane */
	u->end_rc = lxd_poll_end();
	atomic_store(&u->finished, true);
	return NULL;
}

static bool late_submitted(void *arg)
{
	return atomic_load(&((struct late_reaper *)arg)->submitted);
}

static void test_other_thread_unloads_under_open_lane_calls(void **state)
{
	(void)state;
	const char *p[] = {"size=4", "irqmode=2", "completion_nsec=20000000", "hw_queue_depth=32"};
	struct self_unload *u = calloc(1, sizeof(*u));
	struct late_reaper lr = {.u = u};
	assert_non_null(u);
	u->disk = load_disk(&u->m, p, 4);
	u->buf = lxd_data_alloc(NULL, BLK);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, late_reaper_run, &lr), 0);
	assert_true(wait_until(late_submitted, &lr));
	assert_int_equal(lxd_module_unload(u->m), 0); /* the drain waits for the timers' ends */
	atomic_store(&lr.unloaded, true);
	assert_true(wait_until(self_unload_finished, u));
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(u->submitted, 16);
	assert_int_equal(u->end_rc, 0);
	assert_int_equal(atomic_load(&u->ended), 16);
	assert_int_equal(atomic_load(&u->ok), 16);
	lxd_data_free(u->buf);
	free(u);
	assert_kernel_clean();
}

/* ---- synchronous I/O from a polling thread ---- */

struct sync_rw {
	struct gendisk *disk;
	char *w, *rd; /* 4 blocks each */
	int rc[6];
	int begin_rc, end_rc;
	unsigned inflight_after;
	_Atomic bool finished;
};

static void count_end(struct lxd_blk_io *io)
{
	atomic_fetch_add((_Atomic unsigned *)io->private, 1);
}

static void *sync_rw_polling(void *arg)
{
	struct sync_rw *s = arg;
	s->begin_rc = lxd_poll_begin();
	/* lxd_blk_rw waits for its own request: on a lane it must poll for the
	 * answer itself (nobody else runs this thread's completions). */
	s->rc[0] = lxd_blk_rw(s->disk, REQ_OP_WRITE, 0, s->w, 2 * BLK);
	s->rc[1] = lxd_blk_rw(s->disk, REQ_OP_READ, 0, s->rd, 2 * BLK);
	/* Inside a plug with requests held back: the sync I/O flushes the plug
	 * first, then waits, for its own and for the held ones. */
	struct lxd_blk_plug plug;
	lxd_blk_start_plug(&plug);
	_Atomic unsigned ended = 0;
	struct lxd_blk_io io = {.op = REQ_OP_WRITE, .sector = 64, .len = BLK, .buf = s->w + 2 * BLK,
				.end_io = count_end, .private = &ended};
	s->rc[2] = lxd_blk_submit(s->disk, &io);
	s->rc[3] = lxd_blk_rw(s->disk, REQ_OP_WRITE, 72, s->w + 3 * BLK, BLK);
	s->rc[4] = lxd_blk_rw(s->disk, REQ_OP_READ, 64, s->rd + 2 * BLK, 2 * BLK);
	lxd_blk_finish_plug(&plug);
	for (int i = 0; i < 20000 && !atomic_load(&ended); i++)
		reap(); /* the async one: its end runs when we poll */
	s->rc[5] = atomic_load(&ended) == 1 ? io.error : -ETIMEDOUT;
	s->inflight_after = lxd_poll_inflight();
	s->end_rc = lxd_poll_end();
	atomic_store(&s->finished, true);
	return NULL;
}

static bool sync_finished(void *arg)
{
	struct sync_rw *s = arg;
	return atomic_load(&s->finished);
}

static void test_sync_rw_polls_itself(void **state)
{
	(void)state;
	struct lxd_module *m;
	const char *p[] = {"size=4", "memory_backed=1", "irqmode=1"};
	struct sync_rw s = {.disk = load_disk(&m, p, 3)};
	s.w = lxd_data_alloc(m, 4 * BLK);
	s.rd = lxd_data_alloc(m, 4 * BLK);
	fill(s.w, 4, 1);
	memset(s.rd, 0, 4 * BLK);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, sync_rw_polling, &s), 0);
	assert_true(wait_until(sync_finished, &s)); /* a hang here is the bug this checks */
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(s.begin_rc, 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(s.rc[i], 0);
	assert_memory_equal(s.rd, s.w, 4 * BLK);
	assert_int_equal(s.inflight_after, 0);
	assert_int_equal(s.end_rc, 0);
	lxd_data_free(s.w);
	lxd_data_free(s.rd);
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
}

/* The API's own answers: nesting, and a thread that never polled. */
static void test_poll_api_edges(void **state)
{
	(void)state;
	assert_int_equal(lxd_poll_inflight(), 0);
	assert_int_equal(lxd_poll(0), 0);     /* no lane: nothing to take */
	assert_int_equal(lxd_poll_end(), 0);  /* not polling: a no-op */
	assert_int_equal(lxd_poll_begin(), 0);
	assert_int_equal(lxd_poll_begin(), -EBUSY);
	assert_int_equal(lxd_poll(1000), 0);  /* polling, no lane yet: returns at once */
	assert_int_equal(lxd_poll_end(), 0);
	assert_int_equal(lxd_poll_begin(), 0); /* and again after an end */
	assert_int_equal(lxd_poll_end(), 0);
}

/* ---- isolated only: death and unload under a lane ---- */

static bool disk_gone(void *arg)
{
	(void)arg;
	return lxd_blk_get_disk("nullb0") == NULL;
}

/*
 * The driver crashes (crash_after: a NULL dereference in queue_rq) while a
 * polling thread has plugged I/Os in flight on its lane, completions on
 * timers so many are outstanding.  Every accepted I/O ends once, with 0
 * (before the crash) or -EIO; the thread's reaping and lxd_poll_end return;
 * the module unloads and nothing is left.
 */
static void test_crash_with_lane_io_in_flight(void **state)
{
	(void)state;
	if (!isolated()) {
		skip(); /* natively the crash would take the process down */
		return;
	}
	struct lxd_module *m;
	const char *p[] = {"size=16", "irqmode=2", "completion_nsec=2000000", "hw_queue_depth=128",
			   "crash_after=200"};
	struct gendisk *d = load_disk(&m, p, 5);
	char *buf = lxd_data_alloc(m, (size_t)MAX_IOS * BLK);
	assert_non_null(buf);
	struct run *r = run_new(d, buf, REQ_OP_READ, MAX_IOS, 96);
	run_on_thread(r);
	assert_false(lxd_module_alive(m));
	unsigned done = atomic_load(&r->done);
	assert_int_equal(done, r->submitted);
	assert_int_equal(atomic_load(&r->ok) + atomic_load(&r->eio), done); /* no other error */
	assert_true(atomic_load(&r->eio) > 0);
	assert_true(atomic_load(&r->ok) < 200); /* at most the 199 before the bug */
	for (unsigned i = 0; i < r->n; i++)
		assert_int_equal(atomic_load(&r->calls[i]), r->accepted[i]); /* once, or never if refused */
	free(r);
	assert_true(wait_until(disk_gone, NULL));
	lxd_data_free(buf);
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
}


/* ---- isolated only: a lane that outlives its module ---- */

struct holder {
	struct gendisk *disk;
	struct lxd_module *m;
	bool call_end; /* false: T just exits, its thread-exit destructor ends the lane */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int step; /* 1: T has a lane and is idle; 2: main unloaded the module */
	int rc[3], poll_rc, poll_rc2, end_rc;
	unsigned inflight_idle;
	_Atomic bool finished;
};

static void *holder_run(void *arg)
{
	struct holder *h = arg;
	(void)lxd_poll_begin();
	/* Make the lane and use it: sync I/O, then async I/O reaped by polling. */
	char *b = lxd_data_alloc(h->m, 2 * BLK);
	memset(b, 0x5a, 2 * BLK);
	h->rc[0] = lxd_blk_rw(h->disk, REQ_OP_WRITE, 8, b, BLK);
	_Atomic unsigned ended = 0;
	struct lxd_blk_io io = {.op = REQ_OP_READ, .sector = 8, .len = BLK, .buf = b + BLK,
				.end_io = count_end, .private = &ended};
	h->rc[1] = lxd_blk_submit(h->disk, &io);
	for (int i = 0; i < 20000 && !atomic_load(&ended); i++)
		lxd_poll(1000 * 1000);
	h->rc[2] = atomic_load(&ended) == 1 && io.error == 0 && memcmp(b, b + BLK, BLK) == 0 ? 0 : -1;
	lxd_data_free(b);
	h->inflight_idle = lxd_poll_inflight();
	/* Idle, lane still up: let the main thread unload the module. */
	pthread_mutex_lock(&h->lock);
	h->step = 1;
	pthread_cond_broadcast(&h->cond);
	while (h->step != 2)
		pthread_cond_wait(&h->cond, &h->lock);
	pthread_mutex_unlock(&h->lock);
	/* The module is gone: a late poll must not touch freed memory (ASan
	 * checks), and ending the lane must neither hang nor fail. */
	h->poll_rc = lxd_poll(1000);  /* may count the death it notices (1) */
	h->poll_rc2 = lxd_poll(1000); /* then nothing more happens */
	if (h->call_end)
		h->end_rc = lxd_poll_end();
	atomic_store(&h->finished, true);
	return NULL; /* !call_end: the thread-exit destructor takes the lane down */
}

static bool run_finished_holder(void *arg)
{
	struct holder *h = arg;
	return atomic_load(&h->finished);
}

static void unload_under_lane(bool call_end)
{
	if (!isolated()) {
		skip(); /* natively there is no lane to outlive anything */
		return;
	}
	struct holder h = {.call_end = call_end, .lock = PTHREAD_MUTEX_INITIALIZER,
			   .cond = PTHREAD_COND_INITIALIZER};
	const char *p[] = {"size=4", "memory_backed=1", "irqmode=1"};
	h.disk = load_disk(&h.m, p, 3);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, holder_run, &h), 0);
	pthread_mutex_lock(&h.lock);
	while (h.step != 1)
		pthread_cond_wait(&h.cond, &h.lock); /* T's I/O is bounded: it polls at most 20 s */
	pthread_mutex_unlock(&h.lock);
	for (int i = 0; i < 3; i++)
		assert_int_equal(h.rc[i], 0);
	assert_int_equal(h.inflight_idle, 0);

	assert_int_equal(lxd_module_unload(h.m), 0);
	assert_null(lxd_blk_get_disk("nullb0"));

	pthread_mutex_lock(&h.lock);
	h.step = 2;
	pthread_cond_broadcast(&h.cond);
	pthread_mutex_unlock(&h.lock);
	assert_true(wait_until(run_finished_holder, &h));
	/* Joined: the thread-exit destructor (if any) ran.  Bounded, as it waits for calls. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20;
	assert_int_equal(pthread_timedjoin_np(th, NULL, &until), 0);
	assert_true(h.poll_rc >= 0);
	assert_int_equal(h.poll_rc2, 0);
	assert_int_equal(h.end_rc, 0);
	assert_kernel_clean();

	/* The kernel is fine: a new load serves a new polling thread. */
	const char *again[] = {"size=16", "memory_backed=1", "irqmode=1"};
	plugged_write_read(again, 3, 64, 16);
}

static void test_unload_while_thread_holds_lane(void **state)
{
	(void)state;
	unload_under_lane(true);
}

static void test_unload_then_thread_exits_with_lane(void **state)
{
	(void)state;
	unload_under_lane(false);
}

/*
 * A polling thread that exits with a call in flight and no lxd_poll_end:
 * its thread-exit destructor ends the lane, which waits for the call, so
 * the I/O's end_io has run by the time the thread is joined.
 */
struct leaver {
	struct gendisk *disk;
	char *buf;
	struct lxd_blk_io io;
	_Atomic unsigned ended;
	int rc;
};

static void *leaver_run(void *arg)
{
	struct leaver *lv = arg;
	(void)lxd_poll_begin();
	lv->io = (struct lxd_blk_io){.op = REQ_OP_READ, .sector = 0, .len = BLK, .buf = lv->buf,
				     .end_io = count_end, .private = &lv->ended};
	lv->rc = lxd_blk_submit(lv->disk, &lv->io);
	return NULL; /* no lxd_poll, no lxd_poll_end */
}

static bool leaver_ended(void *arg)
{
	struct leaver *lv = arg;
	return atomic_load(&lv->ended) > 0;
}

static void test_thread_exit_ends_lane(void **state)
{
	(void)state;
	struct lxd_module *m;
	const char *p[] = {"size=4", "irqmode=1"};
	struct leaver lv = {.disk = load_disk(&m, p, 2)};
	lv.buf = lxd_data_alloc(m, BLK);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, leaver_run, &lv), 0);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 20; /* a bound: a destructor that hangs becomes a failure */
	assert_int_equal(pthread_timedjoin_np(th, NULL, &until), 0);
	assert_int_equal(lv.rc, 0);
	if (!isolated()) /* natively the end runs on the driver's softirq thread, maybe later */
		assert_true(wait_until(leaver_ended, &lv));
	assert_int_equal(atomic_load(&lv.ended), 1);
	assert_int_equal(lv.io.error, 0);
	lxd_data_free(lv.buf);
	assert_int_equal(lxd_module_unload(m), 0);
	assert_kernel_clean();
}

int main(void)
{
	driver_test_setup();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_poll_api_edges),
		cmocka_unit_test(test_plugged_io_softirq),
		cmocka_unit_test(test_plugged_io_inline),
		cmocka_unit_test(test_plugged_io_driver_busy),
		cmocka_unit_test(test_plug_mixes_buffer_kinds),
		cmocka_unit_test(test_tag_wait_inside_plug),
		cmocka_unit_test(test_timer_completions),
		cmocka_unit_test(test_poll_end_waits_for_lane_calls),
		cmocka_unit_test(test_more_threads_than_lanes),
		cmocka_unit_test(test_polling_thread_unloads_timer_completions),
		cmocka_unit_test(test_polling_thread_unloads_inline_completions),
		cmocka_unit_test(test_other_thread_unloads_under_open_lane_calls),
		cmocka_unit_test(test_sync_rw_polls_itself),
		cmocka_unit_test(test_thread_exit_ends_lane),
		cmocka_unit_test(test_crash_with_lane_io_in_flight),
		cmocka_unit_test(test_unload_while_thread_holds_lane),
		cmocka_unit_test(test_unload_then_thread_exits_with_lane),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
