/* SPDX-License-Identifier: MIT */
/*
 * The request path: lxd_blk_submit checks an I/O, takes a tag, builds the
 * request (one bio_vec per page the buffer touches) and calls the driver's
 * queue_rq; blk_mq_end_request hands the result back to the submitter.
 *
 * A request's state word makes completion exactly-once even when a driver
 * (perhaps a faulty, isolated one) ends a request twice or ends one it was
 * never given: QUEUED -> STARTED (blk_mq_start_request) -> COMPLETING
 * (blk_mq_end_request, by compare-and-swap) -> IDLE (tag returned).
 */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "blk.h"

#define RESOURCE_RETRIES 10000 /* queue_rq said "busy": retry this often, then fail */

/* ---- plugging ---- */

static _Thread_local struct lxd_blk_plug *cur_plug;

void lxd_blk_start_plug(struct lxd_blk_plug *plug)
{
	plug->n = 0;
	if (!cur_plug)
		cur_plug = plug;
}

static void commit(struct lxd_blk_plug *plug)
{
	unsigned n = plug->n;
	plug->n = 0;
	for (unsigned i = 0; i < n; i++) {
		struct blk_mq_hw_ctx *h = plug->hctx[i];
		if (h->lxd_set->ops->commit_rqs)
			h->lxd_set->ops->commit_rqs(h);
	}
}

void lxd_blk_finish_plug(struct lxd_blk_plug *plug)
{
	if (cur_plug != plug)
		return;
	cur_plug = NULL;
	commit(plug);
}

void lxd_blk_flush_plug(void)
{
	if (cur_plug)
		commit(cur_plug);
}

/* Under a plug: note @h for the commit.  Whether the request is the last for now. */
static bool plug_add(struct blk_mq_hw_ctx *h)
{
	struct lxd_blk_plug *p = cur_plug;
	if (!p)
		return true;
	for (unsigned i = 0; i < p->n; i++)
		if (p->hctx[i] == h)
			return false;
	if (p->n == sizeof(p->hctx) / sizeof(p->hctx[0]))
		commit(p); /* more hardware contexts than a plug tracks: kick what it has */
	p->hctx[p->n++] = h;
	return false;
}

int blk_status_to_errno(blk_status_t status)
{
	switch (status) {
	case BLK_STS_OK: return 0;
	case BLK_STS_NOTSUPP: return -EOPNOTSUPP;
	case BLK_STS_TIMEOUT: return -ETIMEDOUT;
	case BLK_STS_NOSPC: return -ENOSPC;
	case BLK_STS_TRANSPORT: return -ENOLINK;
	case BLK_STS_TARGET: return -EREMOTEIO;
	case BLK_STS_MEDIUM: return -ENODATA;
	case BLK_STS_PROTECTION: return -EILSEQ;
	case BLK_STS_RESOURCE: return -ENOMEM;
	case BLK_STS_DEV_RESOURCE: return -EBUSY;
	case BLK_STS_AGAIN: return -EAGAIN;
	default: return -EIO;
	}
}

void blk_mq_start_request(struct request *rq)
{
	rq->start_time_ns = (u64)ktime_get();
	int expect = LXD_RQ_QUEUED;
	if (!__atomic_compare_exchange_n(&rq->lxd_state, &expect, LXD_RQ_STARTED, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_RELAXED))
		pr_warn("blk_mq_start_request: request %d is not queued (state %d)\n", rq->tag, expect);
}

/* In flight -> completing, so only one end gets through; false (logged) if @rq is not in flight. */
static bool claim_end(struct request *rq)
{
	int state = __atomic_load_n(&rq->lxd_state, __ATOMIC_ACQUIRE);
	do {
		if (state != LXD_RQ_QUEUED && state != LXD_RQ_STARTED) {
			pr_err("blk_mq_end_request: request %d is not in flight: ignored\n", rq->tag);
			return false;
		}
	} while (!__atomic_compare_exchange_n(&rq->lxd_state, &state, LXD_RQ_COMPLETING, false,
					      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	return true;
}

/* Claimed @rq's submission, its status set; @rq is idle (its tag not yet back). */
static struct lxd_blk_io *retire(struct request *rq, blk_status_t error)
{
	struct lxd_rq *r = lxd_rq_of(rq);
	struct lxd_blk_io *io = r->io;
	r->io = NULL;
	io->error = blk_status_to_errno(error);
	/* Release: the next owner of this tag sees the request fully retired. */
	__atomic_store_n(&rq->lxd_state, LXD_RQ_IDLE, __ATOMIC_RELEASE);
	return io;
}

void blk_mq_end_request(struct request *rq, blk_status_t error)
{
	if (!claim_end(rq))
		return;
	struct request_queue *q = rq->q;
	struct lxd_blk_io *io = retire(rq, error);
	lxd_tags_put(q->set, lxd_rq_of(rq));
	/* Tag first, callback second: a callback that submits again always finds a tag. */
	io->end_io(io);
	/* Last: once in-flight reaches zero, del_gendisk may return and the disk go away. */
	lxd_queue_exit(q);
}

/* The second half of ending a run of @k retired requests of @q: as blk_mq_end_request, tags, callbacks, queue. */
static void end_run(struct request_queue *q, struct lxd_rq *const *rs, struct lxd_blk_io *const *ios, unsigned k)
{
	lxd_tags_put_many(q->set, rs, k);
	for (unsigned j = 0; j < k; j++)
		ios[j]->end_io(ios[j]);
	lxd_queue_exit_many(q, k);
}

void blk_mq_end_request_batch(struct io_comp_batch *iob)
{
	unsigned n = iob->n;
	iob->n = 0; /* first: an end_io may fill a batch of its own */
	/* Runs of consecutive requests of one queue.  A request is read only
	 * once claimed (it may not be ours), and a run is read whole before its
	 * tags go back: from then on, its requests may be reused. */
	struct request_queue *q = NULL;
	struct lxd_rq *rs[IO_COMP_BATCH_MAX];
	struct lxd_blk_io *ios[IO_COMP_BATCH_MAX];
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++) {
		struct request *rq = iob->rqs[i];
		if (!claim_end(rq))
			continue;
		if (k && rq->q != q) {
			end_run(q, rs, ios, k);
			k = 0;
		}
		q = rq->q;
		ios[k] = retire(rq, iob->status[i]);
		rs[k++] = lxd_rq_of(rq);
	}
	if (k)
		end_run(q, rs, ios, k);
}

static enum hrtimer_restart softirq_complete(struct hrtimer *t)
{
	struct lxd_rq *r = container_of(t, struct lxd_rq, softirq);
	const struct blk_mq_ops *ops = r->rq.q->set->ops;
	if (ops->complete)
		ops->complete(&r->rq);
	else
		blk_mq_end_request(&r->rq, BLK_STS_OK);
	return HRTIMER_NORESTART;
}

bool blk_mq_complete_request(struct request *rq)
{
	struct lxd_rq *r = lxd_rq_of(rq);
	hrtimer_setup(&r->softirq, softirq_complete, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
	hrtimer_start(&r->softirq, 0, HRTIMER_MODE_REL);
	return true;
}

/* Check @io against @q's limits and @disk's capacity.  0 or the -errno lxd_blk_submit returns. */
static int check_io(struct gendisk *disk, const struct lxd_blk_io *io)
{
	const struct queue_limits *l = &disk->queue->limits;
	switch (io->op) {
	case REQ_OP_FLUSH:
		return 0;
	case REQ_OP_READ:
	case REQ_OP_WRITE:
		if (!io->buf)
			return -EFAULT;
		break;
	case REQ_OP_DISCARD:
		break;
	default:
		return -EOPNOTSUPP;
	}
	/* Beyond the end first: that is -EIO whatever else is wrong, as in Linux. */
	uint64_t cap = get_capacity(disk);
	if (io->sector > cap || io->len / SECTOR_SIZE > cap - io->sector)
		return -EIO;
	unsigned lbs = l->logical_block_size;
	if (io->len == 0 || io->len % lbs || io->len > l->max_hw_sectors * SECTOR_SIZE ||
	    io->sector % (lbs / SECTOR_SIZE))
		return -EINVAL;
	return 0;
}

static void build_segments(struct request *rq, void *buf, uint32_t len)
{
	rq->nr_bvecs = 0;
	char *p = buf;
	while (len) {
		uintptr_t off = (uintptr_t)p & (PAGE_SIZE - 1);
		uint32_t n = (uint32_t)(PAGE_SIZE - off);
		if (n > len)
			n = len;
		rq->bvecs[rq->nr_bvecs++] = (struct bio_vec){virt_to_page(p), n, (unsigned)off};
		p += n;
		len -= n;
	}
}

int lxd_blk_submit(struct gendisk *disk, struct lxd_blk_io *io)
{
	if (!disk || !io || !io->end_io)
		return -EINVAL;
	if (__atomic_load_n(&disk->lxd_state, __ATOMIC_ACQUIRE) != LXD_DISK_ADDED)
		return -ENODEV;
	int err = check_io(disk, io);
	if (err)
		return err;
	struct request_queue *q = disk->queue;
	err = lxd_queue_enter(q);
	if (err)
		return err;
	struct blk_mq_tag_set *set = q->set;
	unsigned hwq = atomic_fetch_add(&q->next_hwq, 1) % set->nr_hw_queues;
	struct lxd_rq *r = lxd_tags_get(set, hwq);
	struct request *rq = &r->rq;
	r->io = io;
	rq->q = q;
	rq->cmd_flags = io->op;
	rq->__sector = io->sector;
	rq->__data_len = io->op == REQ_OP_FLUSH ? 0 : io->len;
	rq->start_time_ns = 0;
	if (io->op == REQ_OP_READ || io->op == REQ_OP_WRITE)
		build_segments(rq, io->buf, io->len);
	else
		rq->nr_bvecs = 0;
	__atomic_store_n(&rq->lxd_state, LXD_RQ_QUEUED, __ATOMIC_RELEASE);

	struct blk_mq_queue_data bd = {rq, plug_add(rq->mq_hctx)};
	blk_status_t st;
	for (int tries = 0;; tries++) {
		st = set->ops->queue_rq(rq->mq_hctx, &bd);
		if ((st != BLK_STS_RESOURCE && st != BLK_STS_DEV_RESOURCE) || tries == RESOURCE_RETRIES)
			break;
		sched_yield();
	}
	/* On an error the request is still ours (the driver must not have ended it). */
	if (st != BLK_STS_OK)
		blk_mq_end_request(rq, st);
	return 0;
}

struct sync_io {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
};

static void sync_end_io(struct lxd_blk_io *io)
{
	struct sync_io *s = io->private;
	pthread_mutex_lock(&s->lock);
	s->done = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

int lxd_blk_rw(struct gendisk *disk, unsigned op, uint64_t sector, void *buf, uint32_t len)
{
	struct sync_io s = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
	struct lxd_blk_io io = {.op = op, .sector = sector, .len = len, .buf = buf,
				.end_io = sync_end_io, .private = &s};
	int err = lxd_blk_submit(disk, &io);
	if (err)
		return err;
	lxd_blk_flush_plug(); /* we are about to wait for it */
	pthread_mutex_lock(&s.lock);
	while (!s.done)
		lxd_cond_wait_polling(&s.cond, &s.lock);
	pthread_mutex_unlock(&s.lock);
	pthread_mutex_destroy(&s.lock);
	pthread_cond_destroy(&s.cond);
	return io.error;
}
