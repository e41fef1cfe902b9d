/* SPDX-License-Identifier: MIT */
/* sk_buff allocation: the struct from the kernel heap, the data from lxd_data_alloc. */
#include <stdlib.h>

#include <linux/netdevice.h>
#include <linux/skbuff.h>

#include "../internal.h"

static struct sk_buff *skb_alloc_for(const struct lxd_module *owner, unsigned int size)
{
	if (size > (1u << 20))
		return NULL;
	struct sk_buff *skb = calloc(1, sizeof(*skb));
	if (!skb)
		return NULL;
	skb->head = lxd_data_alloc(owner, size ? size : 1);
	if (!skb->head) {
		free(skb);
		return NULL;
	}
	skb->data = skb->tail = skb->head;
	skb->end = skb->head + size;
	atomic_fetch_add(&lxd_counts.skbs, 1);
	return skb;
}

struct sk_buff *alloc_skb(unsigned int size, gfp_t priority)
{
	(void)priority;
	return skb_alloc_for(lxd_module_current(), size);
}

struct sk_buff *netdev_alloc_skb(struct net_device *dev, unsigned int length)
{
	if (length > (1u << 20))
		return NULL;
	struct sk_buff *skb = skb_alloc_for(dev ? dev->lxd_owner : NULL, length + NET_SKB_PAD);
	if (skb) {
		skb_reserve(skb, NET_SKB_PAD);
		skb->dev = dev;
	}
	return skb;
}

static void skb_free(struct sk_buff *skb)
{
	lxd_data_free(skb->head);
	free(skb);
	atomic_fetch_sub(&lxd_counts.skbs, 1);
}

void kfree_skb(struct sk_buff *skb)
{
	if (skb)
		skb_free(skb);
}

void consume_skb(struct sk_buff *skb)
{
	if (skb)
		skb_free(skb);
}
