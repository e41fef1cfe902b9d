/* SPDX-License-Identifier: MIT */
/* sk_buff allocation: the struct from the kernel heap, the data from lxd_data_alloc. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netdevice.h>
#include <linux/skbuff.h>

#include "../internal.h"
#include "lxds/compiler.h"

/*
 * sk_buff heads recycled per thread, as Linux keeps them in a slab cache
 * (skbuff_head_cache): a driver that batches frees a run of them at once
 * (an isolated lane's 32), more than glibc's per-thread cache keeps per
 * size (7), and past it every head went through malloc's slower bins.
 * Native and isolated pktgen both gained ~20-25%.  Not under ASan, which
 * should see every head freed.
 */
#ifdef LXD_ASAN
#define SKB_HEAD_CACHE 0
#else
#define SKB_HEAD_CACHE 256
#endif

#if SKB_HEAD_CACHE
struct head_cache {
	unsigned n;
	struct sk_buff *s[SKB_HEAD_CACHE];
};
static _Thread_local struct head_cache *heads;
static pthread_key_t heads_key;
static pthread_once_t heads_once = PTHREAD_ONCE_INIT;

/* Thread exit: give them back (later frees on this thread start a new cache, drained likewise). */
static void heads_drain(void *p)
{
	struct head_cache *c = p;
	heads = NULL;
	for (unsigned i = 0; i < c->n; i++)
		free(c->s[i]);
	free(c);
}

static void heads_key_init(void)
{
	(void)pthread_key_create(&heads_key, heads_drain);
}
#endif

static struct sk_buff *head_alloc(void)
{
#if SKB_HEAD_CACHE
	struct head_cache *c = heads;
	if (c && c->n) {
		struct sk_buff *skb = c->s[--c->n];
		memset(skb, 0, sizeof(*skb));
		return skb;
	}
#endif
	return calloc(1, sizeof(struct sk_buff));
}

#if SKB_HEAD_CACHE
/* First free on a thread: its cache; false when none could be made. */
static LXD_NOINLINE bool heads_start(void)
{
	pthread_once(&heads_once, heads_key_init);
	struct head_cache *c = calloc(1, sizeof(*c));
	if (c && pthread_setspecific(heads_key, c) == 0) {
		heads = c;
		return true;
	}
	free(c);
	return false;
}
#endif

/* Inline: a lane's bulk free runs it for every skb of a batch. */
static inline void head_free(struct sk_buff *skb)
{
#if SKB_HEAD_CACHE
	struct head_cache *c = heads;
	if (lxd_unlikely(!c) && heads_start())
		c = heads;
	if (c && c->n < SKB_HEAD_CACHE) {
		c->s[c->n++] = skb;
		return;
	}
#endif
	free(skb);
}

static struct sk_buff *skb_alloc_for(const struct lxd_module *owner, unsigned int size)
{
	if (size > (1u << 20))
		return NULL;
	struct sk_buff *skb = head_alloc();
	if (!skb)
		return NULL;
	skb->head = lxd_data_alloc(owner, size ? size : 1);
	if (!skb->head) {
		head_free(skb);
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
	head_free(skb);
	atomic_fetch_sub(&lxd_counts.skbs, 1);
}

void lxd_skb_free_bulk(struct sk_buff *const *skbs, unsigned n)
{
	enum { RUN = 64 };
	void *data[RUN];
	unsigned freed = 0;
	for (unsigned i = 0; i < n; i += RUN) {
		unsigned m = n - i < RUN ? n - i : RUN, k = 0;
		for (unsigned j = 0; j < m; j++)
			if (skbs[i + j])
				data[k++] = skbs[i + j]->head;
		lxd_data_free_bulk(data, k);
		for (unsigned j = 0; j < m; j++)
			if (skbs[i + j])
				head_free(skbs[i + j]);
		freed += k;
	}
	if (freed)
		atomic_fetch_sub(&lxd_counts.skbs, freed);
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
