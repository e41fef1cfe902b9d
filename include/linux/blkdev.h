/* SPDX-License-Identifier: MIT */
/*
 * Block devices: requests, gendisks, queue limits, status codes, with
 * Linux's names and values.
 *
 * A request's data is a list of segments (bio_vec), each inside one page of
 * the kernel's data allocator, which for an isolated driver is the domain's
 * shared arena.  In lxds a struct page pointer *is* the address of the page
 * (page_address is a cast): there is no mem_map to look it up in.
 */
#ifndef LXDS_LINUX_BLKDEV_H
#define LXDS_LINUX_BLKDEV_H

#include <linux/err.h>
#include <linux/types.h>

#define SECTOR_SHIFT 9
#define SECTOR_SIZE (1u << SECTOR_SHIFT)
#define PAGE_SHIFT 12
#define PAGE_SIZE (1ul << PAGE_SHIFT)
#define DISK_NAME_LEN 32

/* Completion status of a request (values as in Linux). */
typedef u8 blk_status_t;
#define BLK_STS_OK 0
#define BLK_STS_NOTSUPP 1
#define BLK_STS_TIMEOUT 2
#define BLK_STS_NOSPC 3
#define BLK_STS_TRANSPORT 4
#define BLK_STS_TARGET 5
#define BLK_STS_MEDIUM 7
#define BLK_STS_PROTECTION 8
#define BLK_STS_RESOURCE 9
#define BLK_STS_IOERR 10
#define BLK_STS_AGAIN 12
#define BLK_STS_DEV_RESOURCE 13

/* The -errno for a status (-EIO for unknown ones). */
int blk_status_to_errno(blk_status_t status);

/* Operations (the low 8 bits of cmd_flags). */
enum req_op {
	REQ_OP_READ = 0,
	REQ_OP_WRITE = 1,
	REQ_OP_FLUSH = 2,
	REQ_OP_DISCARD = 3,
	REQ_OP_WRITE_ZEROES = 9,
};
#define REQ_OP_MASK 0xffu
#define REQ_FUA (1u << 17)

struct page; /* opaque: a pointer to one is the page's address */

static inline void *page_address(const struct page *page) { return (void *)page; }
static inline struct page *virt_to_page(const void *addr)
{
	return (struct page *)((uintptr_t)addr & ~(uintptr_t)(PAGE_SIZE - 1));
}

struct bio_vec {
	struct page *bv_page;
	unsigned int bv_len;
	unsigned int bv_offset;
};

/* The address of a segment's first byte. */
static inline void *bvec_virt(const struct bio_vec *bv) { return (char *)page_address(bv->bv_page) + bv->bv_offset; }

struct request_queue;
struct blk_mq_hw_ctx;
struct gendisk;

/* Kernel-private request states. */
enum { LXD_RQ_IDLE, LXD_RQ_QUEUED, LXD_RQ_STARTED, LXD_RQ_COMPLETING };

struct request {
	struct request_queue *q;
	struct blk_mq_hw_ctx *mq_hctx;
	unsigned int cmd_flags;   /* op | flags */
	int tag;
	sector_t __sector;
	unsigned int __data_len;  /* bytes */
	struct bio_vec *bvecs;    /* the data, nr_bvecs segments */
	unsigned short nr_bvecs;
	u64 start_time_ns;        /* set by blk_mq_start_request */
	/* Kernel-private below (the kernel keeps more in front of the request). */
	int lxd_state;            /* LXD_RQ_*, atomic */
};

static inline enum req_op req_op(const struct request *rq) { return (enum req_op)(rq->cmd_flags & REQ_OP_MASK); }
static inline bool op_is_write(unsigned int op) { return op & 1; }
static inline int rq_data_dir(const struct request *rq) { return op_is_write(req_op(rq)) ? 1 : 0; }
static inline sector_t blk_rq_pos(const struct request *rq) { return rq->__sector; }
static inline unsigned int blk_rq_bytes(const struct request *rq) { return rq->__data_len; }
static inline unsigned int blk_rq_sectors(const struct request *rq) { return rq->__data_len >> SECTOR_SHIFT; }

struct req_iterator {
	unsigned int i;
};

/* Iterate over the segments of @rq: @bvl is a struct bio_vec (a copy), @iter a struct req_iterator. */
#define rq_for_each_segment(bvl, rq, iter)                                                   \
	for ((iter).i = 0; (iter).i < (rq)->nr_bvecs && ((bvl) = (rq)->bvecs[(iter).i], 1); (iter).i++)

struct queue_limits {
	unsigned int logical_block_size;  /* 512 .. 4096, a power of two */
	unsigned int physical_block_size;
	unsigned int max_hw_sectors;      /* largest request, in sectors */
	unsigned int max_segments;
};

struct block_device_operations {
	void *owner;
};

struct gendisk {
	char disk_name[DISK_NAME_LEN];
	int major, first_minor, minors;
	const struct block_device_operations *fops;
	struct request_queue *queue;
	void *private_data;
	/* Kernel-private below. */
	sector_t lxd_capacity;
	int lxd_state;
	struct lxd_module *lxd_owner;
	struct gendisk *lxd_next;
};

/* Set the capacity in 512-byte sectors. */
void set_capacity(struct gendisk *disk, sector_t sectors);
/* The capacity in 512-byte sectors. */
sector_t get_capacity(struct gendisk *disk);

/* Make the disk visible to I/O (lxd_blk_submit) and lookups.  0, -EEXIST for a taken name, -EINVAL. */
int add_disk(struct gendisk *disk);
/*
 * Remove the disk: new I/O fails with -ENODEV; waits until every request in
 * flight has completed.
 */
void del_gendisk(struct gendisk *disk);
/* Free a disk from blk_mq_alloc_disk (after del_gendisk if it was added).  NULL is ignored. */
void put_disk(struct gendisk *disk);

/* The logical block size of @q in bytes. */
unsigned int queue_logical_block_size(const struct request_queue *q);

#endif
