/* SPDX-License-Identifier: MIT */
/*
 * The one entry point for data that crosses to a driver (skb data, request
 * pages).  Native modules share the kernel's heap, so this is aligned_alloc;
 * a buffer for an isolated module comes from its domain's shared arena
 * instead (kernel/isolated/), and nothing else in the kernel changes.
 */
#include <stdlib.h>

#include "internal.h"

void *lxd_data_alloc(const struct lxd_module *owner, size_t len)
{
	if (len == 0 || len > (1ul << 30))
		return NULL;
	if (lxd_module_iso(owner)) {
		/* Isolated: the domain's shared arena, so the data never needs copying. */
		void *p = lxd_iso_data_alloc(owner, len);
		if (p)
			atomic_fetch_add(&lxd_counts.data_buffers, 1);
		return p;
	}
	size_t align = len >= 4096 ? 4096 : 64;
	void *p = aligned_alloc(align, (len + align - 1) & ~(align - 1));
	if (p)
		atomic_fetch_add(&lxd_counts.data_buffers, 1);
	return p;
}

void lxd_data_free(void *p)
{
	if (!p)
		return;
	if (!lxd_iso_data_free(p))
		free(p);
	atomic_fetch_sub(&lxd_counts.data_buffers, 1);
}
