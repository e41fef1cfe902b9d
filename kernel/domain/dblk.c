/* SPDX-License-Identifier: MIT */
/*
 * Block, domain side.  The driver's tag set, hardware contexts, requests
 * and their pdus (cmd_size) live here: blk_mq_alloc_tag_set asks the
 * kernel for its own tag set of the same shape, then builds the local
 * requests and runs init_hctx / init_request on them, as the kernel does
 * natively.  queue_rq arrives with the kernel's request reference, the
 * data's place in the arena, op and sector; the local request is filled
 * in (one bio_vec per page, as natively) and handed to the driver.
 * blk_mq_start_request is local (the kernel accepts an end of a queued
 * request); blk_mq_end_request and blk_mq_complete_request go to the kernel.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/blk-mq.h>
#include <linux/err.h>
#include <linux/ktime.h>

#include "dom.h"

#define DEFAULT_VIS __attribute__((visibility("default")))
#define MAX_SEGS (LXD_BLK_MAX_IO_BYTES / PAGE_SIZE + 1)
#define LXD_BLK_MAX_IO_BYTES (512u * 1024)

struct dtagset;

struct dreq {
	struct dtagset *set;
	uint64_t kref;          /* the kernel's request, from the last queue_rq */
	bool in_call;           /* inside the kernel's queue_rq/complete call for it */
	int done;               /* LXD_RQ_* bits collected during that call */
	struct bio_vec bv[MAX_SEGS];
	struct request rq;      /* last: the pdu follows, as natively */
};

struct dtagset {
	struct blk_mq_tag_set *set; /* the driver's */
	uint64_t kref;
	unsigned nq, depth;
	struct blk_mq_hw_ctx *hctx;  /* nq contexts */
	struct dreq **rqs;           /* nq * depth */
};

/* The driver's disk and its queue (struct request_queue is the domain's own here). */
struct request_queue {
	void *queuedata;
	unsigned int lbs;
};

struct ddisk {
	uint64_t kref;
	bool added;
	struct request_queue q;
	struct gendisk disk;
};

static struct dreq *dreq_of(struct request *rq)
{
	return (struct dreq *)((char *)rq - offsetof(struct dreq, rq));
}

static struct ddisk *dd_of(struct gendisk *disk)
{
	return (struct ddisk *)((char *)disk - offsetof(struct ddisk, disk));
}

DEFAULT_VIS void *blk_mq_rq_to_pdu(struct request *rq)
{
	return rq + 1;
}

DEFAULT_VIS struct request *blk_mq_rq_from_pdu(void *pdu)
{
	return (struct request *)pdu - 1;
}

static void free_tags(struct dtagset *t, unsigned nq_inited)
{
	const struct blk_mq_ops *ops = t->set->ops;
	for (unsigned i = 0; i < t->nq * t->depth; i++) {
		struct dreq *r = t->rqs[i];
		if (!r)
			continue;
		if (ops->exit_request)
			ops->exit_request(t->set, &r->rq, i / t->depth);
		free(r);
	}
	for (unsigned q = 0; q < nq_inited; q++)
		if (ops->exit_hctx)
			ops->exit_hctx(&t->hctx[q], q);
	free(t->rqs);
	free(t->hctx);
	free(t->set->lxd_hctxs);
	t->set->lxd_hctxs = NULL;
	t->set->lxd_tags = NULL;
	free(t);
}

DEFAULT_VIS int blk_mq_alloc_tag_set(struct blk_mq_tag_set *set)
{
	if (!set || !set->ops || !set->ops->queue_rq || set->nr_hw_queues < 1 ||
	    set->nr_hw_queues > 256 || set->queue_depth < 1 || set->queue_depth > 4096 ||
	    set->cmd_size > (1u << 20))
		return -EINVAL;
	struct dtagset *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->set = set;
	t->nq = set->nr_hw_queues;
	t->depth = set->queue_depth;
	t->hctx = calloc(t->nq, sizeof(*t->hctx));
	t->rqs = calloc((size_t)t->nq * t->depth, sizeof(*t->rqs));
	set->lxd_hctxs = calloc(t->nq, sizeof(*set->lxd_hctxs));
	set->lxd_tags = (struct lxd_tags *)t;
	if (!t->hctx || !t->rqs || !set->lxd_hctxs) {
		free_tags(t, 0);
		return -ENOMEM;
	}
	long long kref = lxd_kblk_alloc_tag_set(t->nq, t->depth, set->flags);
	if (kref < 0) {
		free_tags(t, 0);
		return (int)kref;
	}
	t->kref = (uint64_t)kref;
	int err = 0;
	unsigned q = 0;
	for (; !err && q < t->nq; q++) {
		struct blk_mq_hw_ctx *h = &t->hctx[q];
		h->queue_num = q;
		h->lxd_set = set;
		set->lxd_hctxs[q] = h;
		if (set->ops->init_hctx && (err = set->ops->init_hctx(h, set->driver_data, q)))
			break;
		for (unsigned i = 0; !err && i < t->depth; i++) {
			struct dreq *r = calloc(1, sizeof(*r) + set->cmd_size);
			if (!r) {
				err = -ENOMEM;
				break;
			}
			r->set = t;
			r->rq.tag = (int)i;
			r->rq.mq_hctx = h;
			r->rq.bvecs = r->bv;
			if (set->ops->init_request && (err = set->ops->init_request(set, &r->rq, q, 0))) {
				free(r); /* exit_request must not run for it */
				break;
			}
			t->rqs[q * t->depth + i] = r;
		}
	}
	if (!err)
		err = lxd_glue_map_put(&lxd_dom.sets, t->kref, t);
	if (err) {
		lxd_kblk_free_tag_set(t->kref);
		free_tags(t, q);
		return err;
	}
	return 0;
}

DEFAULT_VIS void blk_mq_free_tag_set(struct blk_mq_tag_set *set)
{
	struct dtagset *t = set ? (struct dtagset *)set->lxd_tags : NULL;
	if (!t)
		return;
	lxd_glue_map_del(&lxd_dom.sets, t->kref);
	lxd_kblk_free_tag_set(t->kref);
	free_tags(t, t->nq);
}

DEFAULT_VIS struct gendisk *blk_mq_alloc_disk(struct blk_mq_tag_set *set, struct queue_limits *lim,
					      void *queuedata)
{
	struct dtagset *t = set ? (struct dtagset *)set->lxd_tags : NULL;
	if (!t)
		return ERR_PTR(-EINVAL);
	struct queue_limits l = lim ? *lim : (struct queue_limits){0};
	long long kref = lxd_kblk_alloc_disk(t->kref, l.logical_block_size, l.physical_block_size,
					     l.max_hw_sectors, l.max_segments);
	if (kref < 0)
		return ERR_PTR(kref);
	struct ddisk *d = calloc(1, sizeof(*d));
	if (!d) {
		lxd_kblk_put_disk((unsigned long long)kref);
		return ERR_PTR(-ENOMEM);
	}
	d->kref = (uint64_t)kref;
	d->q.queuedata = queuedata;
	d->q.lbs = l.logical_block_size ? l.logical_block_size : SECTOR_SIZE;
	d->disk.queue = &d->q;
	d->disk.minors = 1;
	return &d->disk;
}

DEFAULT_VIS void set_capacity(struct gendisk *disk, sector_t sectors)
{
	struct ddisk *d = dd_of(disk);
	disk->lxd_capacity = sectors;
	if (d->added)
		lxd_kblk_set_capacity(d->kref, sectors);
}

DEFAULT_VIS sector_t get_capacity(struct gendisk *disk)
{
	return disk->lxd_capacity;
}

DEFAULT_VIS int add_disk(struct gendisk *disk)
{
	if (!disk)
		return -EINVAL;
	struct ddisk *d = dd_of(disk);
	int rc = lxd_kblk_add_disk(d->kref, disk->disk_name, disk->lxd_capacity);
	d->added = rc == 0;
	return rc;
}

DEFAULT_VIS void del_gendisk(struct gendisk *disk)
{
	if (!disk)
		return;
	struct ddisk *d = dd_of(disk);
	lxd_kblk_del_gendisk(d->kref);
	d->added = false;
}

DEFAULT_VIS void put_disk(struct gendisk *disk)
{
	if (!disk)
		return;
	struct ddisk *d = dd_of(disk);
	lxd_kblk_put_disk(d->kref);
	free(d);
}

DEFAULT_VIS unsigned int queue_logical_block_size(const struct request_queue *q)
{
	return q->lbs;
}

DEFAULT_VIS void *blk_mq_queue_data(const struct request_queue *q)
{
	return q->queuedata;
}

DEFAULT_VIS void blk_mq_start_request(struct request *rq)
{
	rq->start_time_ns = (u64)ktime_get();
}

DEFAULT_VIS void blk_mq_end_request(struct request *rq, blk_status_t error)
{
	struct dreq *r = dreq_of(rq);
	if (r->in_call && !(r->done & (LXD_RQ_ENDED | LXD_RQ_COMPLETE))) {
		r->done |= LXD_RQ_ENDED | (int)error << 16; /* answered with the call: no message */
		return;
	}
	lxd_kblk_end(r->kref, error);
}

DEFAULT_VIS bool blk_mq_complete_request(struct request *rq)
{
	struct dreq *r = dreq_of(rq);
	if (r->in_call && !(r->done & (LXD_RQ_ENDED | LXD_RQ_COMPLETE))) {
		r->done |= LXD_RQ_COMPLETE;
		return true;
	}
	lxd_kblk_complete(r->kref);
	return true;
}

/* Leave the call on @r: its result with the end or complete the driver asked for during it. */
static int in_call(struct dreq *r, int rc_of_call)
{
	int done = r->done;
	r->in_call = false;
	r->done = 0;
	return rc_of_call | done;
}

DEFAULT_VIS int blk_status_to_errno(blk_status_t status)
{
	switch (status) {
	case BLK_STS_OK: return 0;
	case BLK_STS_NOTSUPP: return -EOPNOTSUPP;
	case BLK_STS_TIMEOUT: return -ETIMEDOUT;
	case BLK_STS_NOSPC: return -ENOSPC;
	case BLK_STS_RESOURCE: case BLK_STS_DEV_RESOURCE: return -ENOMEM;
	case BLK_STS_AGAIN: return -EAGAIN;
	default: return -EIO;
	}
}

/* ---- what the kernel calls ---- */

/* The request at @hwq_tag (queue << 16 | tag) of @t, or NULL when out of range. */
static struct dreq *req_in(const struct dtagset *t, unsigned int hwq_tag)
{
	unsigned hwq = hwq_tag >> 16, tag = hwq_tag & 0xffff;
	if (hwq >= t->nq || tag >= t->depth)
		return NULL;
	return t->rqs[hwq * t->depth + tag];
}

static struct dreq *req_at(unsigned long long set, unsigned int hwq_tag, struct dtagset **tp)
{
	struct dtagset *t = lxd_glue_map_get(&lxd_dom.sets, set);
	if (!t)
		return NULL;
	*tp = t;
	return req_in(t, hwq_tag);
}

/* queue_rq of the driver for one request; the kernel's answer word (LXD_RQ_* bits). */
static int queue_one(struct dtagset *t, struct dreq *r, unsigned long long rq, unsigned int cmd_flags,
		     unsigned long long sector, void *buf, unsigned int bytes, bool last)
{
	r->kref = rq;
	r->rq.cmd_flags = cmd_flags;
	r->rq.__sector = sector;
	r->rq.__data_len = bytes;
	r->rq.nr_bvecs = 0;
	/* One segment per page the buffer touches, as the kernel builds them natively. */
	for (char *p = buf, *end = buf ? (char *)buf + bytes : NULL; p && p < end;) { /* NULL + 0 is UB */
		uintptr_t page = (uintptr_t)p & ~(uintptr_t)(PAGE_SIZE - 1);
		unsigned off = (unsigned)((uintptr_t)p - page);
		unsigned n = (unsigned)(PAGE_SIZE - off);
		if (n > (unsigned)(end - p))
			n = (unsigned)(end - p);
		r->bv[r->rq.nr_bvecs++] = (struct bio_vec){(struct page *)page, n, off};
		p += n;
	}
	struct blk_mq_queue_data bd = {.rq = &r->rq, .last = last};
	r->in_call = true;
	r->done = 0;
	int rc = t->set->ops->queue_rq(r->rq.mq_hctx, &bd);
	return in_call(r, rc & 0xff);
}

int lxd_dblk_queue_rq(unsigned long long set, unsigned long long rq, unsigned int hwq_tag,
		      unsigned int cmd_flags, unsigned long long sector, void *buf, unsigned int bytes)
{
	struct dtagset *t;
	struct dreq *r = req_at(set, hwq_tag, &t);
	if (!r || bytes > LXD_BLK_MAX_IO_BYTES)
		return -EINVAL;
	return queue_one(t, r, rq, cmd_flags, sector, buf, bytes, true);
}

int lxd_dblk_queue_rqs(unsigned long long set, unsigned int nw, const unsigned long long *desc,
		       unsigned int n, unsigned char *res)
{
	struct dtagset *t = lxd_glue_map_get(&lxd_dom.sets, set);
	if (!t)
		return -EBADF;
	if (n == 0 || n > LXD_RQ_BATCH_MAX || nw != n * LXD_RQ_DESC_WORDS)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		const unsigned long long *w = &desc[i * LXD_RQ_DESC_WORDS];
		struct dreq *r = req_in(t, (unsigned)w[1]); /* the set was looked up once, above */
		unsigned bytes = (unsigned)w[2];
		void *buf = (void *)(uintptr_t)w[4];
		/* What the glue checks for the single call's arena buffer, checked here. */
		if (!r || bytes > LXD_BLK_MAX_IO_BYTES ||
		    (buf && !lxd_arena_contains(lxd_dom.env->arena, buf, bytes))) {
			res[i] = lxd_rq_res_pack(-EINVAL);
			continue;
		}
		res[i] = lxd_rq_res_pack(queue_one(t, r, w[0], (unsigned)(w[2] >> 32), w[3], buf, bytes, i == n - 1));
	}
	return 0;
}

int lxd_dblk_complete(unsigned long long set, unsigned int hwq_tag)
{
	struct dtagset *t;
	struct dreq *r = req_at(set, hwq_tag, &t);
	if (!r)
		return -EINVAL;
	r->in_call = true;
	r->done = 0;
	if (t->set->ops->complete)
		t->set->ops->complete(&r->rq);
	else
		blk_mq_end_request(&r->rq, BLK_STS_OK);
	return in_call(r, 0);
}
