/* SPDX-License-Identifier: MIT */
/*
 * Driver-private memory.  These are kernel functions natively; an isolated
 * driver gets the domain's own allocator (private memory never crosses).
 * Data that does cross (skb data, request pages) comes from the kernel's
 * data allocator instead, never from here.
 */
#ifndef LXDS_LINUX_SLAB_H
#define LXDS_LINUX_SLAB_H

#include <linux/gfp.h>
#include <linux/types.h>

/* @size bytes, 16-byte aligned; NULL when out of memory. */
void *kmalloc(size_t size, gfp_t flags);
/* Like kmalloc, zero-filled. */
void *kzalloc(size_t size, gfp_t flags);
/* @n zeroed elements of @size bytes; NULL on overflow or out of memory. */
void *kcalloc(size_t n, size_t size, gfp_t flags);
/* Free what the above returned; NULL is ignored. */
void kfree(const void *ptr);

#endif
