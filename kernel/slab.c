/* SPDX-License-Identifier: MIT */
/* kmalloc and friends for native drivers (a domain provides its own, privately). */
#include <stdlib.h>

#include <linux/slab.h>

void *kmalloc(size_t size, gfp_t flags)
{
	if (flags & __GFP_ZERO)
		return calloc(1, size ? size : 1);
	return malloc(size ? size : 1);
}

void *kzalloc(size_t size, gfp_t flags)
{
	return kmalloc(size, flags | __GFP_ZERO);
}

void *kcalloc(size_t n, size_t size, gfp_t flags)
{
	(void)flags;
	if (size && n > SIZE_MAX / size)
		return NULL;
	return calloc(n ? n : 1, size ? size : 1);
}

void kfree(const void *ptr)
{
	free((void *)ptr);
}
