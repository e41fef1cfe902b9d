/* SPDX-License-Identifier: MIT */
/*
 * Socket buffers.  The sk_buff itself is a kernel object; its data (head..end)
 * comes from the kernel's data allocator, which for an isolated driver is the
 * domain's shared arena, so packet bytes never need copying across.
 *
 * Allocation and freeing are kernel functions (they cross into the kernel
 * when the driver is isolated).  The pointer arithmetic helpers (skb_put,
 * skb_push, ...) only move fields of the skb and are inline, as in Linux.
 * Where Linux would BUG() (skb_put past the end), lxds logs and returns NULL:
 * a driver bug must not take the kernel down.
 */
#ifndef LXDS_LINUX_SKBUFF_H
#define LXDS_LINUX_SKBUFF_H

#include <linux/gfp.h>
#include <linux/printk.h>
#include <linux/types.h>

struct net_device;

struct sk_buff {
	struct net_device *dev;
	unsigned int len;     /* bytes of data, data..tail */
	u16 protocol;         /* ETH_P_*, network byte order */
	u16 queue_mapping;
	unsigned char *head;  /* start of the buffer */
	unsigned char *data;  /* start of the data */
	unsigned char *tail;  /* end of the data */
	unsigned char *end;   /* end of the buffer */
	/* Kernel-private. */
	struct sk_buff *lxd_next;
};

/*
 * A new skb with room for @size bytes of data (no headroom reserved).
 * Returns NULL when out of memory or @size is absurd (> 1 MiB).
 */
struct sk_buff *alloc_skb(unsigned int size, gfp_t priority);
/* Like alloc_skb, with NET_SKB_PAD bytes of headroom reserved, for @dev. */
struct sk_buff *netdev_alloc_skb(struct net_device *dev, unsigned int length);

/* Free an skb that was dropped (counted as a drop).  NULL is ignored. */
void kfree_skb(struct sk_buff *skb);
/* Free an skb that was used as intended (not a drop).  NULL is ignored. */
void consume_skb(struct sk_buff *skb);

#define dev_kfree_skb(skb) consume_skb(skb)
#define dev_kfree_skb_any(skb) consume_skb(skb)
#define dev_consume_skb_any(skb) consume_skb(skb)

#define NET_SKB_PAD 64

static inline unsigned int skb_headroom(const struct sk_buff *skb) { return (unsigned int)(skb->data - skb->head); }
static inline unsigned int skb_tailroom(const struct sk_buff *skb) { return (unsigned int)(skb->end - skb->tail); }
static inline unsigned char *skb_tail_pointer(const struct sk_buff *skb) { return skb->tail; }

/* Extend the data at the end by @len bytes.  Returns the start of the new bytes, NULL if no room. */
static inline void *skb_put(struct sk_buff *skb, unsigned int len)
{
	if (unlikely(len > skb_tailroom(skb))) {
		pr_err("skb_put: %u bytes past the end (tailroom %u)\n", len, skb_tailroom(skb));
		return NULL;
	}
	unsigned char *p = skb->tail;
	skb->tail += len;
	skb->len += len;
	return p;
}

/* Extend the data at the start by @len bytes.  Returns the new start, NULL if no headroom. */
static inline void *skb_push(struct sk_buff *skb, unsigned int len)
{
	if (unlikely(len > skb_headroom(skb))) {
		pr_err("skb_push: %u bytes past the head (headroom %u)\n", len, skb_headroom(skb));
		return NULL;
	}
	skb->data -= len;
	skb->len += len;
	return skb->data;
}

/* Remove @len bytes from the start.  Returns the new start, NULL if fewer bytes are there. */
static inline void *skb_pull(struct sk_buff *skb, unsigned int len)
{
	if (len > skb->len)
		return NULL;
	skb->data += len;
	skb->len -= len;
	return skb->data;
}

/* Reserve @len bytes of headroom in an empty skb (no effect if there is no room). */
static inline void skb_reserve(struct sk_buff *skb, unsigned int len)
{
	if (skb->len || len > skb_tailroom(skb))
		return;
	skb->data += len;
	skb->tail += len;
}

/* Timestamps are not kept; present for drivers that call it. */
static inline void skb_tx_timestamp(struct sk_buff *skb) { (void)skb; }

#endif
