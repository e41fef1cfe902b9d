// SPDX-License-Identifier: MIT
/*
 * null_blk: a software block device, like Linux's null_blk.  By default it
 * completes every request at once without touching data; memory_backed=1
 * makes it a RAM disk (reads return what was written, unwritten blocks read
 * as zeros).  Written against include/linux/ only.
 *
 * Parameters (Linux's names):
 *   submit_queues   hardware queues (1..64, default 1)
 *   hw_queue_depth  requests per queue (1..4096, default 64)
 *   bs              logical block size (512, 1024, 2048 or 4096)
 *   gb              capacity in GiB (default 250; only memory_backed stores data)
 *   size            capacity in MiB; overrides gb when not 0
 *   irqmode         0: complete in queue_rq; 1: softirq (blk_mq_complete_request);
 *                   2: timer, completion_nsec later
 *   completion_nsec timer delay for irqmode=2 (default 10000)
 *   memory_backed   store data (default 0)
 *   crash_after     fault injection: a NULL dereference in queue_rq on the
 *                   Nth request (0: off).  A real driver bug on demand, to
 *                   show what isolation contains (lxds demo, tests).
 *   busy_every      fault injection: every Nth queue_rq call refuses its
 *                   request with BLK_STS_RESOURCE (0: off), so the core
 *                   must queue it again -- Linux's null_blk does the same
 *                   with its requeue fault injection.
 */
#include <linux/blk-mq.h>
#include <linux/container_of.h>
#include <linux/errno.h>
#include <linux/hrtimer.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/minmax.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/sprintf.h>
#include <linux/string.h>

#define DRV_NAME "null_blk"

enum { NULL_IRQ_NONE = 0, NULL_IRQ_SOFTIRQ = 1, NULL_IRQ_TIMER = 2 };

static unsigned int submit_queues = 1;
module_param(submit_queues, uint, 0444);
MODULE_PARM_DESC(submit_queues, "Number of submission queues");

static unsigned int hw_queue_depth = 64;
module_param(hw_queue_depth, uint, 0444);
MODULE_PARM_DESC(hw_queue_depth, "Queue depth for each hardware queue. Default: 64");

static unsigned int bs = 512;
module_param(bs, uint, 0444);
MODULE_PARM_DESC(bs, "Block size (in bytes)");

static unsigned long gb = 250;
module_param(gb, ulong, 0444);
MODULE_PARM_DESC(gb, "Size in GB");

static unsigned long size;
module_param(size, ulong, 0444);
MODULE_PARM_DESC(size, "Size in MB (overrides gb when not 0)");

static int irqmode = NULL_IRQ_NONE;
module_param(irqmode, int, 0444);
MODULE_PARM_DESC(irqmode, "IRQ completion handler. 0-none, 1-softirq, 2-timer");

static unsigned long completion_nsec = 10000;
module_param(completion_nsec, ulong, 0444);
MODULE_PARM_DESC(completion_nsec, "Time in ns to complete a request in hardware. Default: 10,000ns");

static bool memory_backed;
module_param(memory_backed, bool, 0444);
MODULE_PARM_DESC(memory_backed, "Store data in memory: reads return what was written");

static unsigned long crash_after;
module_param(crash_after, ulong, 0444);
MODULE_PARM_DESC(crash_after, "Fault injection: NULL dereference on the Nth request (0: off)");
static unsigned long requests_seen;

static unsigned int busy_every;
module_param(busy_every, uint, 0444);
MODULE_PARM_DESC(busy_every, "Fault injection: every Nth queue_rq returns BLK_STS_RESOURCE (0: off)");
static unsigned long queue_calls;
static int *volatile crash_ptr; /* NULL; volatile so the compiler emits a real load */

/* One store page: PAGE_SIZE bytes of the disk, allocated on first write. */
#define NULLB_PAGE_SECTORS (PAGE_SIZE >> SECTOR_SHIFT)

struct nullb {
	struct gendisk *disk;
	struct blk_mq_tag_set tag_set;
	sector_t capacity;       /* sectors */
	spinlock_t lock;         /* guards pages[] */
	u8 **pages;              /* memory_backed: capacity / NULLB_PAGE_SECTORS slots */
	unsigned long nr_pages;
};

/* Per request (the tag set's cmd_size). */
struct nullb_cmd {
	struct hrtimer timer;
	blk_status_t status;
};

static struct nullb *nullb;

/* The store page holding byte @pos, allocated when @alloc.  NULL if absent (or out of memory). */
static u8 *nullb_page(struct nullb *nb, u64 pos, bool alloc)
{
	unsigned long idx = (unsigned long)(pos / PAGE_SIZE);
	u8 *page;

	spin_lock(&nb->lock);
	page = nb->pages[idx];
	spin_unlock(&nb->lock);
	if (page || !alloc)
		return page;
	u8 *fresh = kzalloc(PAGE_SIZE, GFP_NOIO);
	if (!fresh)
		return NULL;
	spin_lock(&nb->lock);
	page = nb->pages[idx];
	if (!page)
		page = nb->pages[idx] = fresh;
	spin_unlock(&nb->lock);
	if (page != fresh)
		kfree(fresh); /* lost a race: someone else allocated it */
	return page;
}

/* Copy between the request's segments and the store. */
static blk_status_t nullb_transfer(struct nullb *nb, struct request *rq)
{
	bool write = op_is_write(req_op(rq));
	u64 pos = (u64)blk_rq_pos(rq) << SECTOR_SHIFT;
	struct req_iterator iter;
	struct bio_vec bv;

	rq_for_each_segment(bv, rq, iter) {
		u8 *buf = bvec_virt(&bv);
		unsigned int left = bv.bv_len;

		while (left) {
			unsigned int off = (unsigned int)(pos % PAGE_SIZE);
			unsigned int n = (unsigned int)min_t(u64, left, PAGE_SIZE - off);
			u8 *page = nullb_page(nb, pos, write);

			if (write) {
				if (!page)
					return BLK_STS_RESOURCE;
				memcpy(page + off, buf, n);
			} else if (page) {
				memcpy(buf, page + off, n);
			} else {
				memset(buf, 0, n);
			}
			buf += n;
			pos += n;
			left -= n;
		}
	}
	return BLK_STS_OK;
}

static void nullb_discard(struct nullb *nb, struct request *rq)
{
	u64 pos = (u64)blk_rq_pos(rq) << SECTOR_SHIFT;
	u64 end = pos + blk_rq_bytes(rq);

	/* Only whole store pages are dropped; partial ones keep their data. */
	for (u64 p = ALIGN(pos, PAGE_SIZE); p + PAGE_SIZE <= end; p += PAGE_SIZE) {
		unsigned long idx = (unsigned long)(p / PAGE_SIZE);
		u8 *page;

		spin_lock(&nb->lock);
		page = nb->pages[idx];
		nb->pages[idx] = NULL;
		spin_unlock(&nb->lock);
		kfree(page);
	}
}

static blk_status_t nullb_handle(struct nullb *nb, struct request *rq)
{
	sector_t end = blk_rq_pos(rq) + blk_rq_sectors(rq);

	if (end > nb->capacity || end < blk_rq_pos(rq))
		return BLK_STS_IOERR;
	switch (req_op(rq)) {
	case REQ_OP_READ:
	case REQ_OP_WRITE:
		return memory_backed ? nullb_transfer(nb, rq) : BLK_STS_OK;
	case REQ_OP_FLUSH:
		return BLK_STS_OK;
	case REQ_OP_DISCARD:
		if (memory_backed)
			nullb_discard(nb, rq);
		return BLK_STS_OK;
	default:
		return BLK_STS_NOTSUPP;
	}
}

static enum hrtimer_restart nullb_cmd_timer_expired(struct hrtimer *timer)
{
	struct nullb_cmd *cmd = container_of(timer, struct nullb_cmd, timer);

	blk_mq_end_request(blk_mq_rq_from_pdu(cmd), cmd->status);
	return HRTIMER_NORESTART;
}

static void nullb_complete(struct request *rq)
{
	struct nullb_cmd *cmd = blk_mq_rq_to_pdu(rq);

	blk_mq_end_request(rq, cmd->status);
}

static blk_status_t nullb_queue_rq(struct blk_mq_hw_ctx *hctx, const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	struct nullb_cmd *cmd = blk_mq_rq_to_pdu(rq);
	struct nullb *nb = hctx->driver_data;

	if (busy_every && __atomic_add_fetch(&queue_calls, 1, __ATOMIC_RELAXED) % busy_every == 0)
		return BLK_STS_RESOURCE; /* not started: the core tries again */
	blk_mq_start_request(rq);
	if (crash_after && __atomic_add_fetch(&requests_seen, 1, __ATOMIC_RELAXED) == crash_after)
		*crash_ptr = 0; /* the bug on demand: a NULL dereference */
	cmd->status = nullb_handle(nb, rq);
	switch (irqmode) {
	case NULL_IRQ_SOFTIRQ:
		blk_mq_complete_request(rq);
		break;
	case NULL_IRQ_TIMER:
		hrtimer_start(&cmd->timer, ns_to_ktime(completion_nsec), HRTIMER_MODE_REL);
		break;
	default:
		blk_mq_end_request(rq, cmd->status);
		break;
	}
	return BLK_STS_OK;
}

static int nullb_init_hctx(struct blk_mq_hw_ctx *hctx, void *driver_data, unsigned int hctx_idx)
{
	(void)hctx_idx;
	hctx->driver_data = driver_data;
	return 0;
}

static int nullb_init_request(struct blk_mq_tag_set *set, struct request *rq, unsigned int hctx_idx,
			      unsigned int numa_node)
{
	struct nullb_cmd *cmd = blk_mq_rq_to_pdu(rq);

	(void)set;
	(void)hctx_idx;
	(void)numa_node;
	hrtimer_setup(&cmd->timer, nullb_cmd_timer_expired, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
	return 0;
}

static const struct blk_mq_ops null_mq_ops = {
	.queue_rq = nullb_queue_rq,
	.complete = nullb_complete,
	.init_hctx = nullb_init_hctx,
	.init_request = nullb_init_request,
};

static int nullb_check_params(void)
{
	if (submit_queues < 1 || submit_queues > 64 || hw_queue_depth < 1 || hw_queue_depth > 4096 ||
	    (bs != 512 && bs != 1024 && bs != 2048 && bs != 4096) || irqmode < NULL_IRQ_NONE ||
	    irqmode > NULL_IRQ_TIMER || completion_nsec > 1000000000ul) {
		pr_err(DRV_NAME ": bad parameter (submit_queues 1..64, hw_queue_depth 1..4096, "
		       "bs 512/1024/2048/4096, irqmode 0..2, completion_nsec <= 1s)\n");
		return -EINVAL;
	}
	unsigned long mb = size ? size : gb * 1024;
	if (mb == 0 || mb > (1ul << 30) || (gb > (1ul << 20) && !size)) {
		pr_err(DRV_NAME ": bad size (size %lu MiB, gb %lu)\n", size, gb);
		return -EINVAL;
	}
	return 0;
}

static void nullb_free(struct nullb *nb)
{
	if (nb->pages) {
		for (unsigned long i = 0; i < nb->nr_pages; i++)
			kfree(nb->pages[i]);
		kfree(nb->pages);
	}
	kfree(nb);
}

static int __init null_init(void)
{
	struct queue_limits lim = { .logical_block_size = 0 };
	struct nullb *nb;
	int err;

	err = nullb_check_params();
	if (err)
		return err;
	nb = kzalloc(sizeof(*nb), GFP_KERNEL);
	if (!nb)
		return -ENOMEM;
	spin_lock_init(&nb->lock);
	nb->capacity = (sector_t)(size ? size : gb * 1024) << (20 - SECTOR_SHIFT);
	if (memory_backed) {
		nb->nr_pages = (unsigned long)(nb->capacity / NULLB_PAGE_SECTORS);
		nb->pages = kcalloc(nb->nr_pages, sizeof(*nb->pages), GFP_KERNEL);
		if (!nb->pages) {
			err = -ENOMEM;
			goto free_nb;
		}
	}

	nb->tag_set.ops = &null_mq_ops;
	nb->tag_set.nr_hw_queues = submit_queues;
	nb->tag_set.queue_depth = hw_queue_depth;
	nb->tag_set.numa_node = NUMA_NO_NODE;
	nb->tag_set.cmd_size = sizeof(struct nullb_cmd);
	nb->tag_set.driver_data = nb;
	err = blk_mq_alloc_tag_set(&nb->tag_set);
	if (err)
		goto free_nb;

	lim.logical_block_size = bs;
	lim.physical_block_size = bs;
	nb->disk = blk_mq_alloc_disk(&nb->tag_set, &lim, nb);
	if (IS_ERR(nb->disk)) {
		err = (int)PTR_ERR(nb->disk);
		goto free_tags;
	}
	snprintf(nb->disk->disk_name, DISK_NAME_LEN, "nullb0");
	nb->disk->private_data = nb;
	set_capacity(nb->disk, nb->capacity);
	err = add_disk(nb->disk);
	if (err)
		goto put;
	nullb = nb;
	pr_info(DRV_NAME ": module loaded\n");
	return 0;

put:
	put_disk(nb->disk);
free_tags:
	blk_mq_free_tag_set(&nb->tag_set);
free_nb:
	nullb_free(nb);
	return err;
}

static void __exit null_exit(void)
{
	struct nullb *nb = nullb;

	del_gendisk(nb->disk);
	put_disk(nb->disk);
	blk_mq_free_tag_set(&nb->tag_set);
	nullb_free(nb);
	nullb = NULL;
}

module_init(null_init);
module_exit(null_exit);
MODULE_LICENSE("MIT");
MODULE_DESCRIPTION("multi queue aware block test driver");
