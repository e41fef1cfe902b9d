/* SPDX-License-Identifier: MIT */
/*
 * Block, kernel side of an isolated driver.  The driver's tag set lives in
 * its domain; the kernel builds its own from what the domain asks for,
 * with proxy blk_mq_ops: queue_rq hands the request to the dispatcher and
 * returns at once (many in flight), the domain's blk_mq_end_request comes
 * back as a message.  Request data must be in the domain's arena: buffers
 * from lxd_data_alloc(module) cross as they are; any other buffer is
 * bounced through an arena copy (copied in for writes, out for reads).
 *
 * Each request's capability reference is made once, with the tag set;
 * the domain names requests only by it, and the kernel accepts an end or
 * complete only for a request the domain holds (inflight), exactly once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/blk-mq.h>
#include <linux/printk.h>

#include "lxds/glue.h"

#include "iso.h"

struct iso_blk_set;

struct iso_rq {
	struct lxd_iso_work qw;   /* queue_rq, then complete: one at a time per request */
	struct lxd_iso_work cw;
	struct request *rq;
	struct iso_blk_set *set;
	uint64_t ref;
	_Atomic int inflight;     /* 1 from queue_rq until ended: who clears it ends it */
	void *bounce;
	unsigned hwq_tag;
};

struct iso_blk_set {
	struct blk_mq_tag_set ts; /* the kernel's own tag set */
	struct lxd_iso *iso;
	/* The owner's reference plus one per call into the domain for one of
	 * its requests: a lane's call may be answered (or failed) after the
	 * driver freed the set (its request was ended through the main
	 * channel), and must still find rqs[] to see that it is over. */
	_Atomic unsigned refs;
	uint64_t ref;
	unsigned nq, depth;
	struct iso_rq *rqs;
	struct iso_blk_set *next;
};

struct iso_disk {
	struct gendisk *disk;
	uint64_t ref;
	struct iso_disk *next;
};


static void set_get(struct iso_blk_set *s)
{
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

static void set_put(struct iso_blk_set *s)
{
	/* Acq_rel: the last one sees every other holder's last touch of rqs[]. */
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) {
		free(s->rqs);
		free(s);
	}
}

static struct iso_rq *rq_of(struct request *rq)
{
	struct iso_blk_set *s = rq->mq_hctx->lxd_set->driver_data;
	return &s->rqs[rq->mq_hctx->queue_num * s->depth + (unsigned)rq->tag];
}

/* Copy between the request's segments and a contiguous buffer. */
static void copy_segs(struct request *rq, void *buf, bool to_buf)
{
	char *p = buf;
	for (unsigned i = 0; i < rq->nr_bvecs; i++) {
		void *seg = bvec_virt(&rq->bvecs[i]);
		if (to_buf)
			memcpy(p, seg, rq->bvecs[i].bv_len);
		else
			memcpy(seg, p, rq->bvecs[i].bv_len);
		p += rq->bvecs[i].bv_len;
	}
}

/* End @r with @status if the domain still held it (exactly once): at once,
 * or, with @iob, when the caller ends that batch. */
static void finish_to(struct iso_rq *r, blk_status_t status, struct io_comp_batch *iob)
{
	if (atomic_exchange(&r->inflight, 0) != 1)
		return;
	struct request *rq = r->rq;
	void *b = r->bounce;
	r->bounce = NULL;
	if (b) {
		if (status == BLK_STS_OK && !op_is_write(req_op(rq)) && req_op(rq) == REQ_OP_READ)
			copy_segs(rq, b, false);
		lxd_iso_data_free(b);
	}
	if (iob)
		blk_mq_add_to_batch(rq, iob, status);
	else
		blk_mq_end_request(rq, status);
}

static void finish(struct iso_rq *r, blk_status_t status)
{
	finish_to(r, status, NULL);
}

/* Count one for the statistics: on a lane by its one writer, else shared. */
static void count(_Atomic uint64_t *shared, _Atomic uint64_t *lane_own)
{
	if (lane_own)
		atomic_store_explicit(lane_own, atomic_load_explicit(lane_own, memory_order_relaxed) + 1,
				      memory_order_relaxed);
	else
		atomic_fetch_add_explicit(shared, 1, memory_order_relaxed);
}

/* The data as one arena range: the segments themselves, or a bounce copy.  0 or -ENOMEM. */
static int map_data(struct lxd_iso *iso, struct lxd_lane *l, struct iso_rq *r, void **buf)
{
	struct request *rq = r->rq;
	unsigned bytes = blk_rq_bytes(rq);
	*buf = NULL;
	if (!rq->nr_bvecs || (req_op(rq) != REQ_OP_READ && req_op(rq) != REQ_OP_WRITE))
		return 0;
	char *start = bvec_virt(&rq->bvecs[0]), *end = start;
	bool contiguous = true;
	for (unsigned i = 0; i < rq->nr_bvecs && contiguous; i++) {
		contiguous = (char *)bvec_virt(&rq->bvecs[i]) == end;
		end += rq->bvecs[i].bv_len;
	}
	if (contiguous && (unsigned)(end - start) == bytes && lxd_iso_data_contains(iso, start, bytes)) {
		*buf = start;
		count(&iso->rq_zero_copy, l ? &l->rq_zero_copy : NULL);
		return 0;
	}
	count(&iso->rq_bounced, l ? &l->rq_bounced : NULL);
	r->bounce = lxd_iso_data_alloc_in(iso, bytes);
	if (!r->bounce)
		return -ENOMEM;
	if (op_is_write(req_op(rq)))
		copy_segs(rq, r->bounce, true);
	*buf = r->bounce;
	return 0;
}

static void proxy_complete(struct request *rq);

/* What the domain answered to queue_rq for @r (lxd_dblk_queue_rq's word, or
 * -errno); an end goes into @iob when there is one (finish_to). */
static LXD_ALWAYS_INLINE void queue_rq_done_to(struct iso_rq *r, int rc, struct io_comp_batch *iob)
{
	blk_status_t st;
	if (rc < 0)
		st = BLK_STS_IOERR; /* the domain is dead or refused the call */
	else if (rc & LXD_RQ_ENDED)
		st = (blk_status_t)LXD_RQ_END_STATUS(rc); /* ended inside queue_rq */
	else if (rc & LXD_RQ_COMPLETE) {
		proxy_complete(r->rq); /* blk_mq_complete_request inside queue_rq */
		return;
	} else if ((rc & 0xff) != BLK_STS_OK)
		st = (blk_status_t)(rc & 0xff); /* refused, not ended */
	else
		return; /* in flight: the driver ends it later */
	finish_to(r, st, iob);
}

/* queue_rq's answer @rc says the driver was out of resources: the request is to be tried again. */
static bool out_of_resources(int rc)
{
	return rc == BLK_STS_RESOURCE || rc == BLK_STS_DEV_RESOURCE;
}

/* a[]: set, request reference, sector, cmd_flags << 32 | bytes.  Retries while the driver is busy. */
static int queue_rq_call(struct iso_rq *r, const uint64_t a[4], void *buf)
{
	/* Everything the call needs is copied first (@a, @buf): once the driver
	 * ends the request, its tag (and its work) may be reused by the next I/O. */
	uint64_t set = a[0], ref = a[1], sector = a[2], pack = a[3];
	unsigned hwq_tag = r->hwq_tag;
	lxd_iso_tsan_release(&r->inflight); /* read: finish()'s exchange may reuse it (iso.h) */
	int rc;
	for (unsigned tries = 0;; tries++) {
		rc = lxd_dblk_queue_rq(set, ref, hwq_tag, (unsigned)(pack >> 32), sector, buf, (unsigned)pack);
		if (!out_of_resources(rc) || tries > 10000)
			break;
		lxd_yield(); /* the driver is out of resources: let completions run, retry */
	}
	return rc;
}

static void w_queue_rq(struct lxd_iso *iso, struct lxd_iso_work *w)
{
	(void)iso;
	struct iso_rq *r = w->p;
	struct iso_blk_set *s = r->set;
	uint64_t a[4] = {w->a[0], w->a[1], w->a[2], w->a[3]};
	queue_rq_done_to(r, queue_rq_call(r, a, w->q), NULL);
	set_put(s); /* taken by proxy_queue_rq */
}

/* ---- several requests, one message (a lane under a plug) ---- */

/*
 * A batch holds one reference on the set (lane_hold's), for all its
 * requests.  It is sent with the callback form of queue_rqs: the lane's
 * poll runs batch_reply() when the answer is in, which ends the requests
 * there (no lightweight thread started, switched to and finished per
 * batch: +1.4-2% at fio qd 32, docs/evaluation.md).  When the callback
 * call cannot go at once (ring full, every callback slot taken), or a
 * request needs retrying (the driver was out of resources: the retry
 * waits), a thread takes over: run_rq_batch(), the blocking call.
 */
struct iso_rq_batch {
	struct iso_blk_set *s;
	struct lxd_lane *l;
	unsigned n;
	int rc;                       /* the call's: 0 or -errno for the whole batch */
	struct iso_rq *r[LXD_RQ_BATCH_MAX];
	/* The message's descriptors (lxd_iso_if.h), request i's written by
	 * queue_rq as it joins: no pass over the batch at send time, and no
	 * work item built for a request that goes in a batch. */
	unsigned long long desc[LXD_RQ_BATCH_MAX * LXD_RQ_DESC_WORDS];
	unsigned char res[LXD_RQ_BATCH_MAX]; /* per request: what queue_rq returned (lxd_rq_res_pack) */
	struct lxd_glue_pending pc;   /* the callback call's, until batch_reply ran */
	struct iso_rq_batch *next_free; /* on l->rq_free */
};

/* @r's descriptor (lxd_iso_if.h) into @d: @sector, @pack (cmd_flags << 32 | bytes), @buf. */
static void rq_desc(const struct iso_rq *r, uint64_t sector, uint64_t pack, void *buf, unsigned long long *d)
{
	d[0] = r->ref;
	d[1] = r->hwq_tag;
	d[2] = pack;
	d[3] = sector;
	d[4] = (uint64_t)(uintptr_t)buf;
}

/* The plain call's arguments (queue_rq_call) from descriptor @d of a request of @s; its buffer. */
static void *rq_args(const struct iso_blk_set *s, const unsigned long long *d, uint64_t a[4])
{
	a[0] = s->ref;
	a[1] = d[0];
	a[2] = d[3];
	a[3] = d[2];
	return (void *)(uintptr_t)d[4];
}

/* @r's work item for the plain call, from its descriptor @d. */
static void rq_work_from(struct iso_rq *r, const unsigned long long *d)
{
	r->qw = (struct lxd_iso_work){.fn = w_queue_rq, .p = r};
	r->qw.q = rq_args(r->set, d, r->qw.a);
}

/* Done with @b: kept for its lane's next run (at ~2 KB it is past glibc's per-thread cache). */
static void batch_free(struct iso_rq_batch *b)
{
	b->next_free = b->l->rq_free;
	b->l->rq_free = b;
}

void lxd_iso_blk_lane_fini(struct lxd_lane *l)
{
	while (l->rq_free) {
		struct iso_rq_batch *b = l->rq_free;
		l->rq_free = b->next_free;
		free(b);
	}
}

/*
 * The answer is in (b->rc, b->res): end, complete or retry each request,
 * then the batch goes.  The requests it ends, it ends together
 * (blk_mq_end_request_batch: their tags back under one lock, one queue
 * exit): fio qd 32, the poll that takes an answer ~112 -> ~92 TSC cycles
 * an I/O (docs/evaluation.md, "Session 16").
 */
static void batch_finish(struct iso_rq_batch *b, bool may_wait)
{
	struct iso_blk_set *s = b->s;
	struct io_comp_batch iob = IO_COMP_BATCH_INIT;
	for (unsigned i = 0; i < b->n; i++) {
		struct iso_rq *r = b->r[i];
		int r_rc = b->rc < 0 ? b->rc : lxd_rq_res_unpack(b->res[i]);
		if (may_wait && out_of_resources(r_rc)) {
			/* Out of resources: this one again on its own, retried.  The
			 * retry waits, so what is ended so far is ended first. */
			blk_mq_end_request_batch(&iob);
			uint64_t a[4];
			void *buf = rq_args(s, &b->desc[i * LXD_RQ_DESC_WORDS], a);
			r_rc = queue_rq_call(r, a, buf);
		}
		queue_rq_done_to(r, r_rc, &iob); /* a resource status left here fails the request */
	}
	blk_mq_end_request_batch(&iob);
	set_put(s); /* the batch's */
	batch_free(b);
}

static bool batch_needs_retry(const struct iso_rq_batch *b)
{
	for (unsigned i = 0; b->rc >= 0 && i < b->n; i++)
		if (out_of_resources(lxd_rq_res_unpack(b->res[i])))
			return true;
	return false;
}

static void batch_finish_thread(void *arg)
{
	batch_finish(arg, true);
}

/* The callback call's answer (in the lane's poll; must not wait). */
static void batch_reply(void *arg, int err, struct lxd_glue_buf *rep)
{
	struct iso_rq_batch *b = arg;
	memset(b->res, LXD_RQ_RES_ERROR, b->n);
	b->rc = err;
	if (!err) {
		int perr = lxd_dblk_queue_rqs_reply(rep, &b->rc, b->s->ref, b->n * LXD_RQ_DESC_WORDS, NULL, b->n,
						    b->res);
		if (perr)
			b->rc = perr;
	}
	/* A retry waits (and yields): a thread of the lane's for that, rarely. */
	if (batch_needs_retry(b))
		lxd_async(&b->l->f, batch_finish_thread, b);
	else
		batch_finish(b, false);
}

/* The blocking call, on a lane thread (the callback call could not go). */
static void run_rq_batch(void *arg)
{
	struct iso_rq_batch *b = arg;
	memset(b->res, LXD_RQ_RES_ERROR, b->n);
	b->rc = lxd_dblk_queue_rqs(b->s->ref, b->n * LXD_RQ_DESC_WORDS, b->desc, b->n, b->res);
	batch_finish(b, true);
}

void lxd_iso_blk_lane_flush(struct lxd_lane *l)
{
	struct iso_rq_batch *b = l->rq_pending;
	if (!b)
		return;
	l->rq_pending = NULL;
	if (b->n == 1) {
		struct iso_rq *r = b->r[0];
		rq_work_from(r, b->desc);
		batch_free(b);
		lxd_lane_run(l, &r->qw); /* one request: the plain call (w_queue_rq drops the batch's reference) */
		return;
	}
	if (lxd_dblk_queue_rqs_cb(b->s->ref, b->n * LXD_RQ_DESC_WORDS, b->desc, b->n, NULL, &b->pc, batch_reply, b) == 0)
		return;
	/* Not sent (-EAGAIN: no room now; or an error, which the blocking call meets again and reports). */
	lxd_async(&l->f, run_rq_batch, b);
}

/* The batch of lane @l a request of @s joins (bd->last @last), or NULL when
 * it must go on its own (nothing held to join at the last; no memory). */
static struct iso_rq_batch *lane_batch(struct lxd_lane *l, struct iso_blk_set *s, bool last)
{
	struct iso_rq_batch *b = l->rq_pending;
	if (b && (b->s != s || b->n == LXD_RQ_BATCH_MAX)) {
		lxd_iso_blk_lane_flush(l);
		b = NULL;
	}
	if (b || last)
		return b;
	b = l->rq_free;
	if (b)
		l->rq_free = b->next_free;
	else if (!(b = malloc(sizeof(*b))))
		return NULL;
	b->l = l;
	b->s = s;
	b->n = 0;
	set_get(s); /* the batch's, dropped when its call is over */
	l->rq_pending = b;
	return b;
}

/* Add @r to @b, its descriptor (@sector, @pack, @buf: rq_desc) in @b's
 * next row, in flight from here; sent at once when it is the plug's @last. */
static void lane_hold(struct iso_rq_batch *b, struct iso_rq *r, uint64_t sector, uint64_t pack, void *buf,
		      bool last)
{
	rq_desc(r, sector, pack, buf, &b->desc[b->n * LXD_RQ_DESC_WORDS]);
	atomic_store_explicit(&r->inflight, 1, memory_order_release);
	lxd_iso_tsan_release(&r->inflight); /* read: finish()'s exchange may reuse it (iso.h) */
	b->r[b->n++] = r;
	if (last)
		lxd_iso_blk_lane_flush(b->l);
}

/* Every request but lane_queue_rq_fast's. */
static LXD_NOINLINE blk_status_t proxy_queue_rq_slow(struct iso_blk_set *s, struct iso_rq *r,
						     const struct blk_mq_queue_data *bd)
{
	struct lxd_iso *iso = s->iso;
	if (!iso_alive(iso))
		return BLK_STS_IOERR;
	r->rq = bd->rq;
	struct lxd_lane *l = iso_lane(iso);
	void *buf;
	if (map_data(iso, l, r, &buf))
		return BLK_STS_RESOURCE; /* arena full: the core retries */
	uint64_t sector = blk_rq_pos(bd->rq), pack = (uint64_t)bd->rq->cmd_flags << 32 | blk_rq_bytes(bd->rq);
	/* A polling thread's lane holds requests back while more are coming
	 * (bd->last false: a plug) and sends them as one message. */
	struct iso_rq_batch *b = NULL;
	if (l) {
		lxd_lane_warm_reply(l);
		b = lane_batch(l, s, bd->last);
	}
	if (b) {
		lane_hold(b, r, sector, pack, buf, bd->last); /* the descriptor written where it goes */
		return BLK_STS_OK;
	}
	unsigned long long row[LXD_RQ_DESC_WORDS];
	rq_desc(r, sector, pack, buf, row);
	atomic_store_explicit(&r->inflight, 1, memory_order_release);
	rq_work_from(r, row);
	set_get(s); /* dropped when the call is over (w_queue_rq) */
	if (lxd_iso_run(iso, &r->qw) != 0) {
		set_put(s); /* not run */
		if (atomic_exchange(&r->inflight, 0) == 1 && r->bounce) {
			lxd_iso_data_free(r->bounce);
			r->bounce = NULL;
		}
		return BLK_STS_IOERR;
	}
	return BLK_STS_OK;
}

/*
 * A plug's common case, taken first: this thread's lane is collecting a
 * batch for @s that has room past @r, more requests are coming (not
 * bd->last), and the data is one segment inside the domain's arena.  The
 * checks of the general path (alive, the lane, map_data's) with each field
 * read once and no call: proxy_queue_rq without it pushed six registers
 * and called out (the warm-up, the batch lookup) for every request.  The
 * batch's set is @s, so its lane is @s's domain's (lane_batch adds only to
 * a lane of the set's iso).
 */
static inline bool lane_queue_rq_fast(struct iso_blk_set *s, struct iso_rq *r, struct request *rq)
{
	struct lxd_lane *l = lxd__lane_tl.lane;
	struct iso_rq_batch *b;
	if (!l || !lxd__lane_tl.polling || !(b = l->rq_pending) || b->s != s || b->n + 1 >= LXD_RQ_BATCH_MAX)
		return false;
	struct lxd_iso *iso = s->iso;
	unsigned bytes = blk_rq_bytes(rq);
	if (!iso_alive(iso) || rq->nr_bvecs != 1 || rq->bvecs[0].bv_len != bytes ||
	    (req_op(rq) != REQ_OP_READ && req_op(rq) != REQ_OP_WRITE))
		return false;
	void *buf = bvec_virt(&rq->bvecs[0]);
	if (!lxd_iso_data_contains(iso, buf, bytes))
		return false;
	r->rq = rq;
	count(NULL, &l->rq_zero_copy);
	lxd_lane_warm_reply(l);
	lane_hold(b, r, blk_rq_pos(rq), (uint64_t)rq->cmd_flags << 32 | bytes, buf, false);
	return true;
}

static blk_status_t proxy_queue_rq(struct blk_mq_hw_ctx *hctx, const struct blk_mq_queue_data *bd)
{
	struct iso_blk_set *s = hctx->lxd_set->driver_data;
	struct iso_rq *r = rq_of(bd->rq);
	if (!bd->last && lane_queue_rq_fast(s, r, bd->rq))
		return BLK_STS_OK;
	return proxy_queue_rq_slow(s, r, bd);
}

static void w_complete(struct lxd_iso *iso, struct lxd_iso_work *w)
{
	(void)iso;
	struct iso_rq *r = w->p;
	struct iso_blk_set *s = r->set;
	int rc = lxd_dblk_complete(w->a[0], r->hwq_tag);
	if (rc < 0)
		finish(r, BLK_STS_IOERR);
	else if (rc & LXD_RQ_ENDED)
		finish(r, (blk_status_t)LXD_RQ_END_STATUS(rc)); /* ended inside complete */
	set_put(s); /* taken by proxy_complete */
}

/* Softirq context: the domain asked for blk_mq_complete_request; its complete op runs there. */
static void proxy_complete(struct request *rq)
{
	struct iso_rq *r = rq_of(rq);
	struct lxd_iso *iso = r->set->iso;
	r->cw = (struct lxd_iso_work){.fn = w_complete, .p = r};
	r->cw.a[0] = r->set->ref;
	set_get(r->set);
	if (!iso_alive(iso) || lxd_iso_run(iso, &r->cw) != 0) {
		set_put(r->set);
		finish(r, BLK_STS_IOERR);
	}
}

static int proxy_init_request(struct blk_mq_tag_set *set, struct request *rq, unsigned int hctx_idx,
			      unsigned int numa_node)
{
	(void)numa_node;
	struct iso_blk_set *s = set->driver_data;
	struct iso_rq *r = &s->rqs[hctx_idx * s->depth + (unsigned)rq->tag];
	r->rq = rq;
	return 0;
}

/* The plug is finished: send what this thread's lane holds back. */
static void proxy_commit_rqs(struct blk_mq_hw_ctx *hctx)
{
	struct iso_blk_set *s = hctx->lxd_set->driver_data;
	struct lxd_lane *l = iso_lane(s->iso);
	if (l)
		lxd_iso_blk_lane_flush(l);
}

static const struct blk_mq_ops proxy_ops = {
	.queue_rq = proxy_queue_rq,
	.commit_rqs = proxy_commit_rqs,
	.complete = proxy_complete,
	.init_request = proxy_init_request,
};

/* ---- what the domain calls (the generated handlers call these) ---- */

static void free_set(struct lxd_iso *iso, struct iso_blk_set *s, bool allocated)
{
	for (unsigned i = 0; i < s->nq * s->depth; i++)
		lxd_iso_unref(iso, s->rqs[i].ref, LXD_ISO_T_REQ);
	lxd_iso_unref(iso, s->ref, LXD_ISO_T_TAGSET);
	if (allocated)
		blk_mq_free_tag_set(&s->ts);
	set_put(s); /* the owner's */
}

long long lxd_kblk_alloc_tag_set(unsigned int nr_hw_queues, unsigned int queue_depth, unsigned int flags)
{
	struct lxd_iso *iso = iso_self();
	if (!iso || nr_hw_queues < 1 || nr_hw_queues > 256 || queue_depth < 1 || queue_depth > 4096)
		return -EINVAL;
	struct iso_blk_set *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->iso = iso;
	atomic_init(&s->refs, 1);
	s->nq = nr_hw_queues;
	s->depth = queue_depth;
	s->rqs = calloc((size_t)s->nq * s->depth, sizeof(*s->rqs));
	s->ts.ops = &proxy_ops;
	s->ts.nr_hw_queues = nr_hw_queues;
	s->ts.queue_depth = queue_depth;
	s->ts.flags = flags;
	s->ts.numa_node = NUMA_NO_NODE;
	s->ts.driver_data = s;
	int err = s->rqs ? 0 : -ENOMEM;
	for (unsigned i = 0; !err && i < s->nq * s->depth; i++) {
		struct iso_rq *r = &s->rqs[i];
		r->set = s;
		r->hwq_tag = (i / s->depth) << 16 | (i % s->depth);
		r->ref = lxd_iso_ref(iso, r, LXD_ISO_T_REQ);
		if (!r->ref)
			err = -ENOMEM;
	}
	s->ref = err ? 0 : lxd_iso_ref(iso, s, LXD_ISO_T_TAGSET);
	if (!err && !s->ref)
		err = -ENOMEM;
	if (err) {
		free_set(iso, s, false);
		return err;
	}
	err = blk_mq_alloc_tag_set(&s->ts);
	if (err) {
		free_set(iso, s, false);
		return err;
	}
	pthread_mutex_lock(&iso->obj_lock);
	s->next = iso->sets;
	iso->sets = s;
	pthread_mutex_unlock(&iso->obj_lock);
	return (long long)s->ref;
}

void lxd_kblk_free_tag_set(unsigned long long set)
{
	struct lxd_iso *iso = iso_self();
	struct iso_blk_set *s = iso ? lxd_iso_lookup(iso, set, LXD_ISO_T_TAGSET) : NULL;
	if (!s)
		return;
	pthread_mutex_lock(&iso->obj_lock);
	struct iso_blk_set **pp = &iso->sets;
	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		*pp = s->next;
	pthread_mutex_unlock(&iso->obj_lock);
	free_set(iso, s, true);
}

long long lxd_kblk_alloc_disk(unsigned long long set, unsigned int lbs, unsigned int pbs,
			      unsigned int max_hw_sectors, unsigned int max_segments)
{
	struct lxd_iso *iso = iso_self();
	struct iso_blk_set *s = iso ? lxd_iso_lookup(iso, set, LXD_ISO_T_TAGSET) : NULL;
	if (!s)
		return -EBADF;
	struct iso_disk *id = calloc(1, sizeof(*id));
	if (!id)
		return -ENOMEM;
	struct queue_limits lim = {.logical_block_size = lbs, .physical_block_size = pbs,
				   .max_hw_sectors = max_hw_sectors, .max_segments = max_segments};
	struct gendisk *disk = blk_mq_alloc_disk(&s->ts, &lim, NULL);
	if (IS_ERR(disk)) {
		free(id);
		return PTR_ERR(disk);
	}
	id->disk = disk;
	id->ref = lxd_iso_ref(iso, disk, LXD_ISO_T_DISK);
	if (!id->ref) {
		put_disk(disk);
		free(id);
		return -ENOMEM;
	}
	pthread_mutex_lock(&iso->obj_lock);
	id->next = iso->disks;
	iso->disks = id;
	pthread_mutex_unlock(&iso->obj_lock);
	return (long long)id->ref;
}

static struct gendisk *disk_of(unsigned long long ref)
{
	struct lxd_iso *iso = iso_self();
	return iso ? lxd_iso_lookup(iso, ref, LXD_ISO_T_DISK) : NULL;
}

int lxd_kblk_add_disk(unsigned long long disk, const char *name, unsigned long long capacity)
{
	struct gendisk *d = disk_of(disk);
	if (!d || !name)
		return -EINVAL;
	snprintf(d->disk_name, sizeof(d->disk_name), "%s", name);
	set_capacity(d, capacity);
	return add_disk(d);
}

void lxd_kblk_set_capacity(unsigned long long disk, unsigned long long sectors)
{
	struct gendisk *d = disk_of(disk);
	if (d)
		set_capacity(d, sectors);
}

void lxd_kblk_del_gendisk(unsigned long long disk)
{
	struct gendisk *d = disk_of(disk);
	if (d)
		lxd_iso_offload((void (*)(void *))del_gendisk, d); /* waits for in-flight I/O */
}

void lxd_kblk_put_disk(unsigned long long disk)
{
	struct lxd_iso *iso = iso_self();
	struct gendisk *d = disk_of(disk);
	if (!d)
		return;
	pthread_mutex_lock(&iso->obj_lock);
	struct iso_disk **pp = &iso->disks, *id = NULL;
	while (*pp && (*pp)->disk != d)
		pp = &(*pp)->next;
	if (*pp) {
		id = *pp;
		*pp = id->next;
	}
	pthread_mutex_unlock(&iso->obj_lock);
	lxd_iso_unref(iso, disk, LXD_ISO_T_DISK);
	free(id);
	put_disk(d);
}

static struct iso_rq *req_of(unsigned long long ref)
{
	struct lxd_iso *iso = iso_self();
	return iso ? lxd_iso_lookup(iso, ref, LXD_ISO_T_REQ) : NULL;
}

void lxd_kblk_end(unsigned long long rq, int status)
{
	struct iso_rq *r = req_of(rq);
	if (!r)
		return;
	if (status < 0 || status > 255)
		status = BLK_STS_IOERR;
	if (atomic_load(&r->inflight) != 1)
		pr_err("blk_mq_end_request from the domain: request %u is not in flight: ignored\n",
		       r->hwq_tag);
	finish(r, (blk_status_t)status);
}

void lxd_kblk_complete(unsigned long long rq)
{
	/* "Complete in another context": natively the softirq thread calls
	 * ops->complete; for a driver in a domain the complete call is queued
	 * on the dispatcher instead, which answers the domain first and then
	 * calls complete in a fresh handler there.  Same order, no detour
	 * through a third thread (a futex wake per request). */
	struct iso_rq *r = req_of(rq);
	if (r && atomic_load(&r->inflight) == 1)
		proxy_complete(r->rq);
}

/* ---- death and unload ---- */

void lxd_iso_blk_fail_inflight(struct lxd_iso *iso)
{
	pthread_mutex_lock(&iso->obj_lock);
	for (struct iso_blk_set *s = iso->sets; s; s = s->next)
		for (unsigned i = 0; i < s->nq * s->depth; i++)
			if (atomic_load(&s->rqs[i].inflight))
				finish(&s->rqs[i], BLK_STS_IOERR);
	pthread_mutex_unlock(&iso->obj_lock);
}

void lxd_iso_blk_release(struct lxd_iso *iso)
{
	/* The loader removed the disks (del_gendisk); free what the driver could not. */
	pthread_mutex_lock(&iso->obj_lock);
	struct iso_disk *disks = iso->disks;
	struct iso_blk_set *sets = iso->sets;
	iso->disks = NULL;
	iso->sets = NULL;
	pthread_mutex_unlock(&iso->obj_lock);
	while (disks) {
		struct iso_disk *next = disks->next;
		put_disk(disks->disk);
		free(disks);
		disks = next;
	}
	while (sets) {
		struct iso_blk_set *next = sets->next;
		free_set(iso, sets, true);
		sets = next;
	}
}
