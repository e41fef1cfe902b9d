/* SPDX-License-Identifier: MIT */
/* gendisks: allocation on a tag set, capacity, add/remove, lookup. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blk.h"

static pthread_mutex_t disks_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gendisk *disk_list;

static bool power_of_two(unsigned x) { return x && !(x & (x - 1)); }

struct gendisk *blk_mq_alloc_disk(struct blk_mq_tag_set *set, struct queue_limits *lim, void *queuedata)
{
	if (!set || !set->lxd_tags)
		return ERR_PTR(-EINVAL);
	struct queue_limits l = lim ? *lim : (struct queue_limits){0};
	if (!l.logical_block_size)
		l.logical_block_size = SECTOR_SIZE;
	if (!power_of_two(l.logical_block_size) || l.logical_block_size < SECTOR_SIZE ||
	    l.logical_block_size > PAGE_SIZE)
		return ERR_PTR(-EINVAL);
	if (!l.physical_block_size)
		l.physical_block_size = l.logical_block_size;
	if (!l.max_hw_sectors || l.max_hw_sectors > LXD_BLK_MAX_IO / SECTOR_SIZE)
		l.max_hw_sectors = LXD_BLK_MAX_IO / SECTOR_SIZE;
	l.max_segments = LXD_BLK_MAX_SEGS;
	struct gendisk *disk = calloc(1, sizeof(*disk));
	struct request_queue *q = calloc(1, sizeof(*q));
	if (!disk || !q) {
		free(disk);
		free(q);
		return ERR_PTR(-ENOMEM);
	}
	q->set = set;
	q->limits = l;
	q->queuedata = queuedata;
	q->disk = disk;
	pthread_mutex_init(&q->drain_lock, NULL);
	pthread_cond_init(&q->drained, NULL);
	disk->queue = q;
	disk->minors = 1;
	atomic_fetch_add(&lxd_counts.disks, 1);
	return disk;
}

void set_capacity(struct gendisk *disk, sector_t sectors)
{
	__atomic_store_n(&disk->lxd_capacity, sectors, __ATOMIC_RELAXED);
}

sector_t get_capacity(struct gendisk *disk)
{
	return __atomic_load_n(&disk->lxd_capacity, __ATOMIC_RELAXED);
}

unsigned int queue_logical_block_size(const struct request_queue *q)
{
	return q->limits.logical_block_size;
}

void *blk_mq_queue_data(const struct request_queue *q)
{
	return q->queuedata;
}

static struct gendisk *find_locked(const char *name)
{
	for (struct gendisk *d = disk_list; d; d = d->lxd_next)
		if (strcmp(d->disk_name, name) == 0)
			return d;
	return NULL;
}

int add_disk(struct gendisk *disk)
{
	if (!disk || disk->lxd_state != LXD_DISK_NEW || !disk->disk_name[0] ||
	    !memchr(disk->disk_name, 0, sizeof(disk->disk_name)))
		return -EINVAL;
	pthread_mutex_lock(&disks_lock);
	int err = find_locked(disk->disk_name) ? -EEXIST : 0;
	if (!err) {
		disk->lxd_owner = lxd_module_current();
		struct gendisk **pp = &disk_list;
		while (*pp)
			pp = &(*pp)->lxd_next;
		*pp = disk;
		disk->lxd_next = NULL;
		__atomic_store_n(&disk->lxd_state, LXD_DISK_ADDED, __ATOMIC_RELEASE);
		atomic_fetch_add(&lxd_counts.disks_added, 1);
	}
	pthread_mutex_unlock(&disks_lock);
	return err;
}

static void drain(struct request_queue *q)
{
	lxd_blk_flush_plug(); /* ours may be among the requests waited for */
	pthread_mutex_lock(&q->drain_lock);
	q->dying = true;
	while (q->inflight)
		lxd_cond_wait_polling(&q->drained, &q->drain_lock);
	pthread_mutex_unlock(&q->drain_lock);
}

static void unlink_locked(struct gendisk *disk)
{
	for (struct gendisk **pp = &disk_list; *pp; pp = &(*pp)->lxd_next)
		if (*pp == disk) {
			*pp = disk->lxd_next;
			break;
		}
	disk->lxd_next = NULL;
	__atomic_store_n(&disk->lxd_state, LXD_DISK_DELETED, __ATOMIC_RELEASE);
	atomic_fetch_sub(&lxd_counts.disks_added, 1);
}

void del_gendisk(struct gendisk *disk)
{
	if (!disk)
		return;
	pthread_mutex_lock(&disks_lock);
	bool added = disk->lxd_state == LXD_DISK_ADDED;
	if (added)
		unlink_locked(disk);
	pthread_mutex_unlock(&disks_lock);
	if (!added) {
		pr_warn("del_gendisk: %s was not added\n", disk->disk_name);
		return;
	}
	drain(disk->queue);
}

void put_disk(struct gendisk *disk)
{
	if (!disk)
		return;
	if (__atomic_load_n(&disk->lxd_state, __ATOMIC_ACQUIRE) == LXD_DISK_ADDED) {
		pr_err("put_disk: %s is still added; not freed\n", disk->disk_name);
		return;
	}
	struct request_queue *q = disk->queue;
	pthread_mutex_destroy(&q->drain_lock);
	pthread_cond_destroy(&q->drained);
	free(q);
	free(disk);
	atomic_fetch_sub(&lxd_counts.disks, 1);
}

struct gendisk *lxd_blk_get_disk(const char *name)
{
	pthread_mutex_lock(&disks_lock);
	struct gendisk *d = name ? find_locked(name) : NULL;
	pthread_mutex_unlock(&disks_lock);
	return d;
}

struct gendisk *lxd_blk_owned(const struct lxd_module *m, unsigned idx)
{
	pthread_mutex_lock(&disks_lock);
	struct gendisk *d = disk_list;
	for (; d; d = d->lxd_next)
		if (d->lxd_owner == m && idx-- == 0)
			break;
	pthread_mutex_unlock(&disks_lock);
	return d;
}

int lxd_blk_release_owner(struct lxd_module *m)
{
	int n = 0;
	for (;;) {
		pthread_mutex_lock(&disks_lock);
		struct gendisk *d = disk_list;
		while (d && d->lxd_owner != m)
			d = d->lxd_next;
		if (d)
			unlink_locked(d);
		pthread_mutex_unlock(&disks_lock);
		if (!d)
			return n;
		pr_err("module %s left disk %s added: removing it\n", lxd_module_name(m), d->disk_name);
		drain(d->queue);
		n++;
	}
}

int lxd_queue_enter(struct request_queue *q)
{
	pthread_mutex_lock(&q->drain_lock);
	int err = q->dying ? -ENODEV : 0;
	if (!err) {
		q->inflight++;
		atomic_fetch_add(&lxd_counts.requests, 1);
	}
	pthread_mutex_unlock(&q->drain_lock);
	return err;
}

void lxd_queue_exit(struct request_queue *q)
{
	lxd_queue_exit_many(q, 1);
}

void lxd_queue_exit_many(struct request_queue *q, unsigned n)
{
	pthread_mutex_lock(&q->drain_lock);
	atomic_fetch_sub(&lxd_counts.requests, n);
	q->inflight -= n;
	if (q->inflight == 0 && q->dying)
		pthread_cond_broadcast(&q->drained);
	pthread_mutex_unlock(&q->drain_lock);
}
