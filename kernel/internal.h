/* SPDX-License-Identifier: MIT */
/* What the kernel's files share and drivers never see. */
#ifndef LXDS_KERNEL_INTERNAL_H
#define LXDS_KERNEL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "lxds/kernel.h"

/* Live-object counters behind lxd_kernel_get_counts. */
struct lxd_counts {
	atomic_long data_buffers, skbs, netdevs, netdevs_registered, disks, disks_added, requests,
		modules;
};
extern struct lxd_counts lxd_counts;

/* The module whose init or exit is running (owner of what gets registered), or NULL. */
struct lxd_module *lxd_module_current(void);

/* Called by the loader when @m is gone: unregister what it left behind.  Return how many. */
int lxd_net_release_owner(struct lxd_module *m);
int lxd_blk_release_owner(struct lxd_module *m);

/* The @idx-th registered device / added disk owned by @m, or NULL. */
struct net_device *lxd_net_owned(const struct lxd_module *m, unsigned idx);
struct gendisk *lxd_blk_owned(const struct lxd_module *m, unsigned idx);

/*
 * Wait until the softirq callback running now (if any) has returned, so no
 * CPU is still executing code of a module about to be unmapped.
 */
void lxd_softirq_barrier(void);

#endif
