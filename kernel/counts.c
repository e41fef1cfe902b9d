/* SPDX-License-Identifier: MIT */
/* Live-object counters: what a test reads to prove an unload left nothing behind. */
#include "internal.h"

struct lxd_counts lxd_counts;

void lxd_kernel_get_counts(struct lxd_kernel_counts *c)
{
	c->data_buffers = atomic_load(&lxd_counts.data_buffers);
	c->skbs = atomic_load(&lxd_counts.skbs);
	c->netdevs = atomic_load(&lxd_counts.netdevs);
	c->netdevs_registered = atomic_load(&lxd_counts.netdevs_registered);
	c->disks = atomic_load(&lxd_counts.disks);
	c->disks_added = atomic_load(&lxd_counts.disks_added);
	c->requests = atomic_load(&lxd_counts.requests);
	c->modules = atomic_load(&lxd_counts.modules);
}
