/* SPDX-License-Identifier: MIT */
/* The block core's private structures. */
#ifndef LXDS_KERNEL_BLOCK_BLK_H
#define LXDS_KERNEL_BLOCK_BLK_H

#include <pthread.h>
#include <stdatomic.h>

#include <linux/blk-mq.h>
#include <linux/container_of.h>
#include <linux/hrtimer.h>
#include <linux/printk.h>

#include "../internal.h"

/* gendisk->lxd_state */
enum { LXD_DISK_NEW, LXD_DISK_ADDED, LXD_DISK_DELETED };

/* Segments per request: a 512 KiB buffer that does not start on a page boundary. */
#define LXD_BLK_MAX_SEGS (LXD_BLK_MAX_IO / PAGE_SIZE + 1)

/* What the kernel keeps in front of each request (the pdu follows the request). */
struct lxd_rq {
	struct hrtimer softirq;   /* blk_mq_complete_request's deferred completion */
	struct lxd_blk_io *io;
	unsigned hwq;
	struct bio_vec bvecs[LXD_BLK_MAX_SEGS];
	struct request rq;        /* last: blk_mq_rq_to_pdu is &rq + 1 */
};

/* All tags of a set share one lock: tag waits must see every hardware queue. */
struct lxd_tags {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	unsigned nfree_total;
	unsigned *nfree;          /* per hardware queue */
	unsigned **free;          /* per hardware queue: stack of free tags */
	struct lxd_rq ***rqs;     /* per hardware queue: requests by tag */
};

struct request_queue {
	struct blk_mq_tag_set *set;
	struct queue_limits limits;
	void *queuedata;
	struct gendisk *disk;
	atomic_uint next_hwq;     /* round-robin hardware queue choice */
	/* In-flight accounting, so del_gendisk can wait for the last completion. */
	pthread_mutex_t drain_lock;
	pthread_cond_t drained;
	long inflight;
	bool dying;
};

static inline struct lxd_rq *lxd_rq_of(struct request *rq)
{
	return (struct lxd_rq *)((char *)rq - offsetof(struct lxd_rq, rq));
}

/* Commit what the calling thread's plug holds (before it waits for anything). */
void lxd_blk_flush_plug(void);

/* Take a free request, preferring hardware queue @hwq; sleeps while none is free. */
struct lxd_rq *lxd_tags_get(struct blk_mq_tag_set *set, unsigned hwq);
/* Give @r back. */
void lxd_tags_put(struct blk_mq_tag_set *set, struct lxd_rq *r);
/* Give @n requests of @set back under one lock (blk_mq_end_request_batch). */
void lxd_tags_put_many(struct blk_mq_tag_set *set, struct lxd_rq *const *rs, unsigned n);

/* Count one more / one fewer request in flight on @q.  get: 0 or -ENODEV when dying. */
int lxd_queue_enter(struct request_queue *q);
void lxd_queue_exit(struct request_queue *q);
void lxd_queue_exit_many(struct request_queue *q, unsigned n);

#endif
