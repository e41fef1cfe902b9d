/* SPDX-License-Identifier: MIT */
/*
 * blk-mq: the multi-queue block layer, Linux-shaped.
 *
 * A driver describes its hardware in a tag set (hardware queue count, queue
 * depth, per-request private size cmd_size, ops) and gets a disk with
 * blk_mq_alloc_disk.  The kernel calls ops->queue_rq for each request; the
 * driver calls blk_mq_start_request, does the work and ends the request with
 * blk_mq_end_request: at once, or later from another context (a timer), or
 * through blk_mq_complete_request, which runs ops->complete in the kernel's
 * softirq context.
 */
#ifndef LXDS_LINUX_BLK_MQ_H
#define LXDS_LINUX_BLK_MQ_H

#include <linux/blkdev.h>

struct blk_mq_tag_set;

struct blk_mq_queue_data {
	struct request *rq;
	bool last; /* last of a batch */
};

struct blk_mq_hw_ctx {
	void *driver_data;           /* set by the driver, e.g. in init_hctx */
	unsigned int queue_num;
	struct request_queue *queue;
	/* Kernel-private below. */
	struct blk_mq_tag_set *lxd_set;
};

struct blk_mq_ops {
	/* Start @bd->rq.  BLK_STS_OK, BLK_STS_RESOURCE/DEV_RESOURCE to be retried later, or an error. */
	blk_status_t (*queue_rq)(struct blk_mq_hw_ctx *hctx, const struct blk_mq_queue_data *bd);
	/* Requests were queued with bd->last false and no last one followed: kick the
	 * hardware for them now (a driver may defer its doorbell until last).  Optional. */
	void (*commit_rqs)(struct blk_mq_hw_ctx *hctx);
	/* Finish a request passed to blk_mq_complete_request (softirq context). */
	void (*complete)(struct request *rq);
	int (*init_hctx)(struct blk_mq_hw_ctx *hctx, void *driver_data, unsigned int hctx_idx);
	void (*exit_hctx)(struct blk_mq_hw_ctx *hctx, unsigned int hctx_idx);
	int (*init_request)(struct blk_mq_tag_set *set, struct request *rq, unsigned int hctx_idx,
			    unsigned int numa_node);
	void (*exit_request)(struct blk_mq_tag_set *set, struct request *rq, unsigned int hctx_idx);
};

struct lxd_tags;

struct blk_mq_tag_set {
	const struct blk_mq_ops *ops;
	unsigned int nr_hw_queues;  /* 1 .. 256 */
	unsigned int queue_depth;   /* requests per hardware queue, 1 .. 4096 */
	unsigned int reserved_tags;
	unsigned int cmd_size;      /* bytes of driver-private data per request (the pdu) */
	int numa_node;
	unsigned int timeout;
	unsigned int flags;
	void *driver_data;
	/* Kernel-private below. */
	struct blk_mq_hw_ctx **lxd_hctxs;
	struct lxd_tags *lxd_tags;  /* one per hardware queue */
};

#define BLK_MQ_F_SHOULD_MERGE (1u << 0)
#define NUMA_NO_NODE (-1)

/* Allocate the hardware queues and requests of @set.  0, -EINVAL for bad sizes, -ENOMEM. */
int blk_mq_alloc_tag_set(struct blk_mq_tag_set *set);
/* Free what blk_mq_alloc_tag_set allocated (after the disk is gone). */
void blk_mq_free_tag_set(struct blk_mq_tag_set *set);

/*
 * A disk on @set with limits @lim (NULL: 512-byte blocks) and @queuedata.
 * Returns the disk or ERR_PTR(-EINVAL / -ENOMEM).
 */
struct gendisk *blk_mq_alloc_disk(struct blk_mq_tag_set *set, struct queue_limits *lim, void *queuedata);

/* The driver-private area (cmd_size bytes) of @rq, and back. */
void *blk_mq_rq_to_pdu(struct request *rq);
struct request *blk_mq_rq_from_pdu(void *pdu);

/* The driver took @rq and starts working on it. */
void blk_mq_start_request(struct request *rq);

/*
 * Finish @rq with @error, from any context.  The submitter's completion runs
 * and the tag is free again.  A second end of the same request is ignored
 * (and logged).
 */
void blk_mq_end_request(struct request *rq, blk_status_t error);

/*
 * Ask the kernel to finish @rq in softirq context: it calls ops->complete(rq)
 * there (or ends @rq with BLK_STS_OK if the driver has no complete op).
 * Returns true.
 */
bool blk_mq_complete_request(struct request *rq);

/*
 * Requests ended together, Linux's struct io_comp_batch (here an array, not
 * a list).  Whoever learns of many completions at once -- a poll that reaps
 * a batch, the kernel side of an isolated driver taking one answer for
 * sixteen requests -- adds them with blk_mq_add_to_batch() and ends them with
 * blk_mq_end_request_batch().  Each request is ended as blk_mq_end_request()
 * would end it (exactly once, its submitter's end_io called with its own
 * status), but the tags go back under one lock and the queue's in-flight
 * count drops once per run of requests of one queue, not once per request.
 */
#define IO_COMP_BATCH_MAX 32

struct io_comp_batch {
	unsigned int n;
	struct request *rqs[IO_COMP_BATCH_MAX];
	blk_status_t status[IO_COMP_BATCH_MAX];
};

#define IO_COMP_BATCH_INIT {.n = 0}

/* End every request in @iob, in order; @iob is empty afterwards. */
void blk_mq_end_request_batch(struct io_comp_batch *iob);

/* Add @rq, to be ended with @error, to @iob.  A full @iob is ended first. */
static inline void blk_mq_add_to_batch(struct request *rq, struct io_comp_batch *iob, blk_status_t error)
{
	if (iob->n == IO_COMP_BATCH_MAX)
		blk_mq_end_request_batch(iob);
	iob->rqs[iob->n] = rq;
	iob->status[iob->n++] = error;
}

/* The queue's private data (blk_mq_alloc_disk's @queuedata). */
void *blk_mq_queue_data(const struct request_queue *q);

#endif
