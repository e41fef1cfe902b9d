/* SPDX-License-Identifier: MIT */
/*
 * Net, kernel side of an isolated driver.  The kernel's struct net_device
 * is the real one (registered, named, with queue and carrier state); the
 * driver works on its domain's copy and its private area stays there.  At
 * register_netdev the domain sends the fields the driver set up, and the
 * kernel installs a proxy net_device_ops with exactly the ops the driver
 * has: each proxy hands the call to the domain's dispatcher.
 *
 * Transmit: SYNC waits for the driver's answer; ASYNC queues the skb and
 * returns NETDEV_TX_OK at once, so the dispatcher keeps many transmits in
 * flight; a transmit the driver refuses, or that the domain's death
 * fails, is dropped and counted in tx_dropped (async_dropped, added by the
 * stats proxy).  skb data must be in the domain's arena: skbs allocated
 * for the device are; any other is moved into it first.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <linux/etherdevice.h>
#include <linux/netdevice.h>

#include "lxds/glue.h"

#include "iso.h"

/* The kernel's private area of an isolated driver's device (netdev_priv in the kernel). */
struct iso_netdev {
	struct lxd_iso *iso;
	uint64_t ref;
	struct net_device_ops ops; /* the proxies of the ops the driver has */
	_Atomic uint64_t async_dropped;
};

static struct iso_netdev *nd_of(const struct net_device *dev)
{
	return dev->lxd_priv; /* netdev_priv, without the call */
}

/* Sync call of @fn on @dev's dispatcher with @a0/@a1.  Its result, or -EIO when dead. */
static int sync_call(struct net_device *dev, lxd_iso_work_fn fn, uint64_t a1, void *p)
{
	struct iso_netdev *nd = nd_of(dev);
	if (!iso_alive(nd->iso))
		return -EIO;
	struct lxd_iso_work w = {.fn = fn, .wait = true, .p = p};
	w.a[0] = nd->ref;
	w.a[1] = a1;
	return lxd_iso_run(nd->iso, &w);
}

static void w_open(struct lxd_iso *iso, struct lxd_iso_work *w) { (void)iso; w->result = lxd_dnet_open(w->a[0]); }
static void w_stop(struct lxd_iso *iso, struct lxd_iso_work *w) { (void)iso; w->result = lxd_dnet_stop(w->a[0]); }
static void w_validate(struct lxd_iso *iso, struct lxd_iso_work *w) { (void)iso; w->result = lxd_dnet_validate_addr(w->a[0]); }
static void w_mtu(struct lxd_iso *iso, struct lxd_iso_work *w) { (void)iso; w->result = lxd_dnet_change_mtu(w->a[0], (int)w->a[1]); }
static void w_mac(struct lxd_iso *iso, struct lxd_iso_work *w)
{
	(void)iso;
	w->result = lxd_dnet_set_mac(w->a[0], w->a[1], (unsigned)w->a[2]);
}

static void w_stats(struct lxd_iso *iso, struct lxd_iso_work *w)
{
	(void)iso;
	w->result = lxd_dnet_get_stats(w->a[0], sizeof(struct rtnl_link_stats64) / 8, w->p);
}

static int proxy_open(struct net_device *dev) { return sync_call(dev, w_open, 0, NULL); }

static int proxy_stop(struct net_device *dev)
{
	int rc = sync_call(dev, w_stop, 0, NULL);
	return rc == -EIO ? 0 : rc; /* a dead driver is stopped */
}

static int proxy_validate(struct net_device *dev) { return sync_call(dev, w_validate, 0, NULL); }
static int proxy_change_mtu(struct net_device *dev, int mtu) { return sync_call(dev, w_mtu, (uint64_t)mtu, NULL); }

static int proxy_set_mac(struct net_device *dev, void *p)
{
	const struct sockaddr *sa = p;
	uint64_t addr = 0;
	for (int i = 0; i < ETH_ALEN; i++)
		addr |= (uint64_t)(uint8_t)sa->sa_data[i] << (8 * i);
	struct iso_netdev *nd = nd_of(dev);
	if (!iso_alive(nd->iso))
		return -EIO;
	struct lxd_iso_work w = {.fn = w_mac, .wait = true};
	w.a[0] = nd->ref;
	w.a[1] = addr;
	w.a[2] = sa->sa_family;
	return lxd_iso_run(nd->iso, &w);
}

static void proxy_get_stats64(struct net_device *dev, struct rtnl_link_stats64 *st)
{
	uint64_t words[sizeof(*st) / 8] = {0};
	if (sync_call(dev, w_stats, 0, words) == 0)
		memcpy(st, words, sizeof(*st));
	st->tx_dropped += atomic_load(&nd_of(dev)->async_dropped);
}

/* ---- skbs in the domain's hands ----
 *
 * An skb crosses with a reference the domain gives back when its driver
 * frees an skb it kept (lxd_knet_consume), checked like a capability:
 * slot in range, generation current, slot live, skb still there.  A slot
 * holds one skb (a single transmit) or a whole batch (struct
 * iso_xmit_batch, tagged in bit 0): a batch's skbs share its slot and
 * differ in their index, so a batch of 64 costs one slot, not 64.
 *
 *   reference = generation << 32 | index in the batch << 24 | slot + 1
 *
 * Under skb_lock: the dispatcher and polling threads' lanes use it at once.
 */

#define REF_SLOT_BITS LXD_XMIT_REF_INDEX_SHIFT
#define REF_SLOT_MASK ((1u << REF_SLOT_BITS) - 1)
#define HOLDER_BATCH 1u

/* A reference's slot + 1 (0: none), and its index in a batch. */
static uint32_t ref_slot1(uint64_t ref) { return (uint32_t)ref & REF_SLOT_MASK; }
static unsigned ref_index(uint64_t ref) { return (unsigned)(ref >> REF_SLOT_BITS) & 0xffu; }

static uint64_t slot_put(struct lxd_iso *iso, void *holder)
{
	uint32_t i;
	if (iso->skb_nfree) {
		i = iso->skb_free[--iso->skb_nfree];
	} else {
		if (iso->skb_n == iso->skb_cap) {
			if (iso->skb_cap >= REF_SLOT_MASK / 2)
				return 0;
			uint32_t cap = iso->skb_cap ? iso->skb_cap * 2 : 256;
			void **o = realloc(iso->skb_obj, cap * sizeof(*o));
			if (o)
				iso->skb_obj = o;
			uint32_t *g = o ? realloc(iso->skb_gen, cap * sizeof(*g)) : NULL;
			if (g)
				iso->skb_gen = g;
			uint32_t *f = g ? realloc(iso->skb_free, cap * sizeof(*f)) : NULL;
			if (!f)
				return 0;
			iso->skb_free = f;
			iso->skb_cap = cap;
		}
		i = iso->skb_n++;
		iso->skb_gen[i] = 0;
	}
	iso->skb_obj[i] = holder;
	iso->skb_gen[i]++;
	return (uint64_t)iso->skb_gen[i] << 32 | (i + 1);
}

/* The holder of @ref's slot (index bits ignored), NULL for a reference that names none. */
static void *slot_get(struct lxd_iso *iso, uint64_t ref)
{
	uint32_t i = ref_slot1(ref) - 1, gen = (uint32_t)(ref >> 32);
	if (ref_slot1(ref) == 0 || i >= iso->skb_n || iso->skb_gen[i] != gen)
		return NULL;
	return iso->skb_obj[i];
}

/* Free @ref's slot; its holder must be live (slot_get). */
static void slot_free(struct lxd_iso *iso, uint64_t ref)
{
	uint32_t i = ref_slot1(ref) - 1;
	iso->skb_obj[i] = NULL;
	iso->skb_free[iso->skb_nfree++] = i;
}

static bool holder_is_batch(const void *h) { return (uintptr_t)h & HOLDER_BATCH; }
static struct iso_xmit_batch *holder_batch(void *h) { return (struct iso_xmit_batch *)((uintptr_t)h & ~(uintptr_t)HOLDER_BATCH); }

/* A single transmit's skb, its slot freed; NULL when the reference names none
 * (the domain consumed it already). */
static struct sk_buff *skb_take_slot(struct lxd_iso *iso, uint64_t ref)
{
	void *h = slot_get(iso, ref);
	if (!h || holder_is_batch(h) || ref_index(ref))
		return NULL;
	slot_free(iso, ref);
	return h;
}

/* ---- transmit ---- */

/* @r, what lxd_dnet_xmit answered: the driver took the skb and keeps it
 * (it is handed back later through lxd_knet_consume). */
static bool xmit_kept(int r)
{
	return r >= 0 && !(r & LXD_XMIT_CONSUMED) && (r & 0xff) == NETDEV_TX_OK;
}

/* A batch descriptor holds 21-bit sizes (skb_alloc_for caps buffers at 1 MiB). */
static bool desc_holds(size_t size)
{
	return size < 1ul << LXD_XMIT_FIELD_BITS;
}

/* Make sure the skb's buffer is in the domain's arena (move it there if not).  0 or -ENOMEM. */
static int skb_to_arena(struct lxd_iso *iso, struct sk_buff *skb)
{
	size_t size = (size_t)(skb->end - skb->head);
	if (lxd_iso_data_contains(iso, skb->head, size))
		return 0;
	unsigned char *h = lxd_iso_data_alloc_in(iso, size);
	if (!h)
		return -ENOMEM;
	memcpy(h, skb->head, size);
	atomic_fetch_add(&lxd_counts.data_buffers, 1); /* lxd_data_free below drops the old one */
	lxd_data_free(skb->head);
	skb->data = h + (skb->data - skb->head);
	skb->tail = h + (skb->tail - skb->head);
	skb->end = h + size;
	skb->head = h;
	return 0;
}

/*
 * One transmit in the domain.  Returns the netdev_tx_t for the caller, with
 * the skb freed by us when the driver freed its copy, and left alone when
 * the driver kept it (it calls lxd_knet_consume later) or refused it.
 * A dead domain: NETDEV_TX_BUSY (the skb is still the caller's).
 */
static int xmit_one(struct lxd_iso *iso, uint64_t devref, struct sk_buff *skb)
{
	pthread_mutex_lock(&iso->skb_lock);
	uint64_t sref = slot_put(iso, skb);
	pthread_mutex_unlock(&iso->skb_lock);
	if (!sref)
		return NETDEV_TX_BUSY;
	atomic_fetch_add_explicit(&iso->xmit_msgs, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&iso->xmit_skbs, 1, memory_order_relaxed);
	int rc = lxd_dnet_xmit(devref, sref, skb->head, (unsigned)(skb->end - skb->head),
			       (unsigned)(skb->data - skb->head), skb->len, skb->protocol);
	if (xmit_kept(rc))
		return NETDEV_TX_OK; /* its reference stays live */
	pthread_mutex_lock(&iso->skb_lock);
	bool ours = skb_take_slot(iso, sref) == skb;
	pthread_mutex_unlock(&iso->skb_lock);
	if (!ours)
		return NETDEV_TX_OK; /* the domain consumed it meanwhile, whatever it answers: freed once */
	if (rc < 0 || !(rc & LXD_XMIT_CONSUMED))
		return NETDEV_TX_BUSY;
	if (rc & LXD_XMIT_DROPPED)
		kfree_skb(skb);
	else
		consume_skb(skb);
	return NETDEV_TX_OK; /* the skb is gone whatever the driver said: never freed twice */
}

static void w_xmit_sync(struct lxd_iso *iso, struct lxd_iso_work *w)
{
	w->result = xmit_one(iso, w->a[0], w->p);
}

static void w_xmit_async(struct lxd_iso *iso, struct lxd_iso_work *w)
{
	struct sk_buff *skb = w->p;
	struct iso_netdev *nd = w->q;
	if (xmit_one(iso, w->a[0], skb) != NETDEV_TX_OK) {
		atomic_fetch_add(&nd->async_dropped, 1);
		kfree_skb(skb);
	}
	free(w);
	atomic_fetch_sub_explicit(&iso->xmit_queued, 1, memory_order_release);
}

/*
 * Async transmits in flight or queued, at most: beyond, the sender waits
 * (a qdisc's limit).  Every queued skb holds arena memory, and a sender
 * faster than the domain would otherwise fill the arena.
 */
#define ISO_XMIT_QUEUE_MAX 4096u

/* ---- batched transmit: several transmits of one device, one message ---- */

/*
 * A batch: on the dispatcher, a run of queued transmits; on a lane, the
 * transmits made while the lane's previous batches were in flight.  A
 * lane sends its batches with the callback form of xmit_batch: its poll
 * runs xmit_reply() when the answer is in (no lightweight thread per
 * batch, as for block requests in iso_blk.c); the dispatcher's, and a
 * lane's that cannot go at once, wait in run_batch() on a thread.
 */
struct iso_xmit_batch {
	struct lxd_iso *iso;
	struct iso_netdev *nd;
	struct lxd_lane *lane; /* NULL: the dispatcher's */
	unsigned n;
	int rc;                       /* the call's: 0 or -errno for the whole batch */
	uint64_t ref;                 /* the batch's reference for the domain (0: none to be had) */
	bool answered;                /* under skb_lock: batch_finish ran */
	unsigned kept;                /* under skb_lock, once answered: skbs the driver still holds */
	struct sk_buff *skb[LXD_XMIT_BATCH_MAX]; /* under skb_lock once sent: NULL when consumed */
	/* The message's descriptors (lxd_iso_if.h): desc[0] the reference, set
	 * when sent; skb i's written as it joins, while it is in this core's
	 * cache (a pass over the batch at send time cost ~200 cycles). */
	unsigned long long desc[1 + LXD_XMIT_BATCH_MAX * LXD_XMIT_DESC_WORDS];
	unsigned char res[LXD_XMIT_RES_BYTES(LXD_XMIT_BATCH_MAX)]; /* per skb: lxd_dnet_xmit's answer, a nibble (lxd_iso_if.h) */
	struct lxd_glue_pending pc;         /* the callback call's, until xmit_reply ran */
	struct iso_xmit_batch *next_free;   /* on lane->xmit_free */
};

/* Batches a lane keeps in flight: one being transmitted, one waiting in the ring. */
#define LANE_XMIT_BATCHES 2u

/* Room in the transmit queue for one more, with @held transmits a lane holds back. */
static bool xmit_queue_has_room(struct lxd_iso *iso, unsigned held)
{
	/* Acquire: pairs with the release decrement when a transmit is answered. */
	return atomic_load_explicit(&iso->xmit_queued, memory_order_acquire) + held < ISO_XMIT_QUEUE_MAX;
}

/*
 * Wait for room in the transmit queue, counting what lane @l (NULL: none)
 * still holds back: it joins xmit_queued only when sent.  0, or -EIO when
 * the domain died meanwhile.
 */
static int xmit_room(struct lxd_iso *iso, struct lxd_lane *l)
{
	for (;;) {
		unsigned held = l && l->xmit_pending ? l->xmit_pending->n : 0; /* a poll may send it */
		if (xmit_queue_has_room(iso, held))
			return 0;
		if (!iso_alive(iso))
			return -EIO;
		if (lxd_poll_inflight())
			lxd_poll(100 * 1000); /* the answers that make room are ours to run */
		else
			sched_yield();
	}
}

/* The batch's reference for the domain, and the batch counted as sent. */
static void batch_refs(struct iso_xmit_batch *b)
{
	struct lxd_iso *iso = b->iso;
	b->answered = false;
	b->kept = 0;
	pthread_mutex_lock(&iso->skb_lock);
	b->ref = slot_put(iso, (void *)((uintptr_t)b | HOLDER_BATCH));
	pthread_mutex_unlock(&iso->skb_lock);
	atomic_fetch_add_explicit(&iso->xmit_msgs, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&iso->xmit_skbs, b->n, memory_order_relaxed);
}

/* Add @skb to @b, its descriptor with it. */
static LXD_ALWAYS_INLINE void batch_add(struct iso_xmit_batch *b, struct sk_buff *skb)
{
	struct lxd_xmit_desc x = {.head = skb->head, .size = (unsigned)(skb->end - skb->head),
				  .data_off = (unsigned)(skb->data - skb->head), .len = skb->len,
				  .protocol = skb->protocol};
	lxd_xmit_desc_put(&b->desc[1 + b->n * LXD_XMIT_DESC_WORDS], &x);
	b->skb[b->n++] = skb;
}

/* The batch's descriptors, complete; their word count. */
static unsigned batch_desc(struct iso_xmit_batch *b)
{
	b->desc[0] = b->ref;
	return 1 + b->n * LXD_XMIT_DESC_WORDS;
}

/* A batch whose last kept skb was consumed, or that a dead lane left: it goes. */
static void batch_drop(struct iso_xmit_batch *b)
{
	free(b);
}

static void batch_done(struct iso_xmit_batch *b, bool pinned);

/* Every answer of @b is "sent, freed by the driver" (eight bytes of nibbles at a time). */
static bool all_consumed(const struct iso_xmit_batch *b)
{
	if (b->rc < 0 || !b->ref)
		return false;
	const unsigned char each = LXD_XMIT_RES_CONSUMED * 0x11u;
	const uint64_t want = 0x0101010101010101ull * each;
	unsigned i = 0, full = b->n / 2;
	for (; i + 8 <= full; i += 8) {
		uint64_t w;
		memcpy(&w, &b->res[i], 8);
		if (w != want)
			return false;
	}
	for (; i < full; i++)
		if (b->res[i] != each)
			return false;
	return b->n % 2 == 0 || lxd_xmit_res_get(b->res, b->n - 1) == LXD_XMIT_RES_CONSUMED;
}

/* The answer is in (b->rc, b->res): free what the driver is done with, then the batch goes. */
static void batch_finish(struct iso_xmit_batch *b)
{
	struct lxd_iso *iso = b->iso;
	struct iso_netdev *nd = b->nd;
	/* Freed together, a run of one arena under one lock (as NAPI frees a
	 * budget of transmitted skbs at once): one at a time they cost the
	 * lane thread a lock round and an arena lookup per packet. */
	struct sk_buff *done[LXD_XMIT_BATCH_MAX];
	unsigned ndone = 0, dropped = 0;
	pthread_mutex_lock(&iso->skb_lock);
	if (all_consumed(b)) {
		/* The usual answer: the driver freed every skb.  Once the slot is
		 * gone nobody reaches b->skb[] (lxd_knet_consume finds no batch),
		 * so they are freed from there, outside the lock, without a look
		 * at each answer (NULLs, consumed before the answer, skipped). */
		b->answered = true;
		slot_free(iso, b->ref);
		pthread_mutex_unlock(&iso->skb_lock);
		lxd_skb_free_bulk(b->skb, b->n);
		batch_done(b, false);
		return;
	}
	for (unsigned i = 0; i < b->n; i++) {
		int r = b->rc < 0 || !b->ref ? -EIO : lxd_xmit_res_unpack(lxd_xmit_res_get(b->res, i));
		if (!b->skb[i])
			continue; /* the domain consumed it before we saw the answer: freed there */
		if (xmit_kept(r)) {
			b->kept++; /* consumed later through the batch's reference */
			continue;
		}
		if (r < 0 || (!(r & LXD_XMIT_CONSUMED) && (r & 0xff) != NETDEV_TX_OK))
			dropped++;
		done[ndone++] = b->skb[i];
		b->skb[i] = NULL;
	}
	b->answered = true;
	bool pinned = b->kept > 0;
	if (!pinned && b->ref)
		slot_free(iso, b->ref);
	pthread_mutex_unlock(&iso->skb_lock);
	lxd_skb_free_bulk(done, ndone);
	if (dropped)
		atomic_fetch_add(&nd->async_dropped, dropped);
	batch_done(b, pinned);
}

/* A batch answered and its skbs dealt with: out of the queue, and kept for
 * the lane's next batch unless @pinned by skbs the driver still holds. */
static void batch_done(struct iso_xmit_batch *b, bool pinned)
{
	atomic_fetch_sub_explicit(&b->iso->xmit_queued, b->n, memory_order_release);
	if (b->lane) {
		b->lane->xmit_batches--;
		if (pinned)
			return; /* lxd_knet_consume frees it with its last kept skb (the lane forgets it) */
		/* Kept for the lane's next batch: at ~2.5 KB a batch is past
		 * glibc's per-thread cache, and malloc's slow path (free,
		 * consolidate) cost a tenth of the lane's packet rate. */
		b->next_free = b->lane->xmit_free;
		b->lane->xmit_free = b;
		return;
	}
	if (!pinned)
		batch_drop(b);
}

/* Kept skbs left in the table of a domain that is gone. */
void lxd_iso_net_release(struct lxd_iso *iso)
{
	for (uint32_t i = 0; i < iso->skb_n; i++) {
		void *h = iso->skb_obj[i];
		if (!h)
			continue;
		if (!holder_is_batch(h)) {
			kfree_skb(h); /* held by a driver that is gone */
			continue;
		}
		struct iso_xmit_batch *b = holder_batch(h);
		for (unsigned k = 0; k < b->n; k++)
			kfree_skb(b->skb[k]);
		if (b->answered)
			batch_drop(b); /* pinned by kept skbs: nobody else has it */
	}
	free(iso->skb_obj);
	free(iso->skb_gen);
	free(iso->skb_free);
	iso->skb_obj = NULL;
	iso->skb_gen = iso->skb_free = NULL;
	iso->skb_n = iso->skb_cap = iso->skb_nfree = 0;
}

void lxd_iso_net_lane_fini(struct lxd_lane *l)
{
	while (l->xmit_free) {
		struct iso_xmit_batch *b = l->xmit_free;
		l->xmit_free = b->next_free;
		free(b);
	}
}

/* The blocking call, on a thread; b->ref already taken. */
static void run_batch_sent(void *arg)
{
	struct iso_xmit_batch *b = arg;
	unsigned nw = batch_desc(b);
	memset(b->res, LXD_XMIT_RES_ERROR * 0x11, LXD_XMIT_RES_BYTES(b->n));
	if (!b->lane)
		lxd_iso_watch(b->iso, true); /* a lane watches itself (lane.c) */
	b->rc = b->ref ? lxd_dnet_xmit_batch(b->nd->ref, nw, b->desc, b->n, LXD_XMIT_RES_BYTES(b->n), b->res) : -ENOMEM;
	if (!b->lane)
		lxd_iso_watch(b->iso, false);
	batch_finish(b);
}

static void run_batch(void *arg)
{
	batch_refs(arg);
	run_batch_sent(arg);
}

/* The callback call's answer (in the lane's poll). */
static void xmit_reply(void *arg, int err, struct lxd_glue_buf *rep)
{
	struct iso_xmit_batch *b = arg;
	memset(b->res, LXD_XMIT_RES_ERROR * 0x11, LXD_XMIT_RES_BYTES(b->n));
	b->rc = err;
	if (!err) {
		int perr = lxd_dnet_xmit_batch_reply(rep, &b->rc, b->nd->ref, 1 + b->n * LXD_XMIT_DESC_WORDS, NULL, b->n,
						     LXD_XMIT_RES_BYTES(b->n), b->res);
		if (perr)
			b->rc = perr;
	}
	batch_finish(b);
}

static struct iso_xmit_batch *batch_new(struct lxd_iso *iso, struct iso_netdev *nd, struct lxd_lane *l)
{
	struct iso_xmit_batch *b = l ? l->xmit_free : NULL;
	if (b)
		l->xmit_free = b->next_free;
	else
		b = malloc(sizeof(*b)); /* the arrays are written as they fill */
	if (b) {
		b->iso = iso;
		b->nd = nd;
		b->lane = l;
		b->n = 0;
	}
	return b;
}

bool lxd_iso_net_batch(struct lxd_iso *iso, struct lxd_iso_work **wp, struct lxd_finish *f)
{
	struct lxd_iso_work *w = *wp;
	if (w->fn != w_xmit_async || iso_xmit_mode(iso) != LXD_XMIT_BATCH || !w->next ||
	    w->next->fn != w_xmit_async || w->next->q != w->q)
		return false;
	struct iso_xmit_batch *b = batch_new(iso, w->q, NULL);
	if (!b)
		return false;
	const void *dev = w->q;
	while (w && w->fn == w_xmit_async && w->q == dev && b->n < LXD_XMIT_BATCH_MAX) {
		struct lxd_iso_work *next = w->next;
		batch_add(b, w->p);
		free(w);
		w = next;
	}
	lxd_async(f, run_batch, b);
	*wp = w;
	return true;
}

void lxd_iso_net_lane_flush(struct lxd_lane *l, bool force)
{
	struct iso_xmit_batch *b = l->xmit_pending;
	if (!b || (!force && l->xmit_batches >= LANE_XMIT_BATCHES))
		return;
	l->xmit_pending = NULL;
	l->xmit_batches++;
	atomic_fetch_add_explicit(&b->iso->xmit_queued, b->n, memory_order_relaxed);
	batch_refs(b);
	if (!b->ref) { /* no reference to be had (out of memory): the batch fails, dropped */
		b->rc = -ENOMEM;
		batch_finish(b);
		return;
	}
	unsigned nw = batch_desc(b);
	if (lxd_dnet_xmit_batch_cb(b->nd->ref, nw, b->desc, b->n, LXD_XMIT_RES_BYTES(b->n), NULL, &b->pc, xmit_reply, b) == 0)
		return;
	/* Not sent (-EAGAIN: no room now; or an error, which the blocking call meets again). */
	lxd_async(&l->f, run_batch_sent, b);
}

/* Whether lane @l sends its pending batch once it holds @n skbs: when
 * full, or at once when the domain has nothing of ours (it would idle).
 * Otherwise the lane's next poll sends it if fewer than LANE_XMIT_BATCHES
 * are out: sending whenever one was out sent every other batch with one
 * skb (the first after the poll that emptied the lane) -- 32 skbs per
 * message on average, 64 now. */
static bool lane_sends_at(const struct lxd_lane *l, unsigned n)
{
	return n == LXD_XMIT_BATCH_MAX || l->xmit_batches == 0;
}

/* Batch mode on a lane: collect while the lane's batches are in flight.
 * xmit_room(iso, l) said there is room for one more,
 * counting what @l holds. */
static netdev_tx_t lane_xmit(struct lxd_lane *l, struct iso_netdev *nd, struct sk_buff *skb)
{
	struct lxd_iso *iso = l->iso;
	struct iso_xmit_batch *b = l->xmit_pending;
	if (b && b->nd != nd) {
		lxd_iso_net_lane_flush(l, true);
		b = NULL;
	}
	if (!b && !(b = l->xmit_pending = batch_new(iso, nd, l)))
		return NETDEV_TX_BUSY;
	batch_add(b, skb); /* counted in xmit_queued when sent (one atomic a batch) */
	if (lane_sends_at(l, b->n))
		lxd_iso_net_lane_flush(l, true);
	return NETDEV_TX_OK;
}

/*
 * Batch mode's common case, taken first: this thread's lane is collecting
 * a batch for @nd that has room past @skb, and another of its batches is
 * in flight, so nothing is sent now.  The checks of the path below
 * (alive, size, in the arena, mode, queue room), each field read once:
 * every isolated packet comes here.  Through the general path's calls and
 * repeated lookups the transmit call took 43.5 cycles (TSC around
 * ndo_start_xmit, six alternating pktgen runs, session 8), through this
 * one 35.2, of ~170 a packet.
 */
static inline bool lane_xmit_fast(struct iso_netdev *nd, struct sk_buff *skb)
{
	struct lxd_lane *l = lxd__lane_tl.lane;
	struct iso_xmit_batch *b;
	if (!l || !lxd__lane_tl.polling || !(b = l->xmit_pending) || b->nd != nd || lane_sends_at(l, b->n + 1))
		return false;
	struct lxd_iso *iso = nd->iso;
	size_t size = (size_t)(skb->end - skb->head);
	if (!iso_alive(iso) || iso_xmit_mode(iso) != LXD_XMIT_BATCH || !desc_holds(size) ||
	    !lxd_iso_data_contains(iso, skb->head, size) || !xmit_queue_has_room(iso, b->n))
		return false;
	batch_add(b, skb); /* counted in xmit_queued when sent, as in lane_xmit */
	return true;
}

/* Every transmit but lane_xmit_fast's. */
static LXD_NOINLINE netdev_tx_t proxy_xmit_slow(struct iso_netdev *nd, struct sk_buff *skb)
{
	struct lxd_iso *iso = nd->iso;
	if (!iso_alive(iso) || !desc_holds((size_t)(skb->end - skb->head)) || skb_to_arena(iso, skb))
		return NETDEV_TX_BUSY;
	if (iso_xmit_mode(iso) == LXD_XMIT_SYNC || iso_self() == iso) {
		struct lxd_iso_work w = {.fn = w_xmit_sync, .wait = true, .p = skb};
		w.a[0] = nd->ref;
		return (netdev_tx_t)lxd_iso_run(iso, &w);
	}
	struct lxd_lane *l = iso_xmit_mode(iso) == LXD_XMIT_BATCH ? iso_lane(iso) : NULL;
	if (xmit_room(iso, l))
		return NETDEV_TX_BUSY;
	if (l)
		return lane_xmit(l, nd, skb); /* batch mode on a lane: held back, sent in batches */
	struct lxd_iso_work *w = malloc(sizeof(*w));
	if (!w)
		return NETDEV_TX_BUSY;
	*w = (struct lxd_iso_work){.fn = w_xmit_async, .p = skb, .q = nd};
	w->a[0] = nd->ref;
	atomic_fetch_add_explicit(&iso->xmit_queued, 1, memory_order_relaxed);
	if (lxd_iso_run(iso, w) != 0) {
		atomic_fetch_sub_explicit(&iso->xmit_queued, 1, memory_order_relaxed);
		free(w);
		return NETDEV_TX_BUSY;
	}
	return NETDEV_TX_OK;
}

/*
 * The fast path alone, so that it saves no registers (the general path's
 * six pushes and pops were on every packet, and batch_add was a call):
 * ~18 instructions a packet less, +2-3% isolated batch packets/s
 * (docs/evaluation.md, session 10).
 */
static netdev_tx_t proxy_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct iso_netdev *nd = nd_of(dev);
	if (lane_xmit_fast(nd, skb))
		return NETDEV_TX_OK;
	return proxy_xmit_slow(nd, skb);
}

/* ---- what the domain calls ---- */

static struct net_device *dev_of(unsigned long long ref)
{
	struct lxd_iso *iso = iso_self();
	return iso ? lxd_iso_lookup(iso, ref, LXD_ISO_T_NETDEV) : NULL;
}

static void iso_setup(struct net_device *dev)
{
	(void)dev; /* the driver's setup runs on its copy, in the domain */
}

long long lxd_knet_alloc(const char *name)
{
	struct lxd_iso *iso = iso_self();
	if (!iso || !name)
		return -EINVAL;
	struct net_device *dev = alloc_netdev(sizeof(struct iso_netdev), name, NET_NAME_ENUM, iso_setup);
	if (!dev)
		return -ENOMEM;
	struct iso_netdev *nd = nd_of(dev);
	nd->iso = iso;
	nd->ref = lxd_iso_ref(iso, dev, LXD_ISO_T_NETDEV);
	if (!nd->ref) {
		free_netdev(dev);
		return -ENOMEM;
	}
	return (long long)nd->ref;
}

int lxd_knet_register(unsigned long long ref, const unsigned char *cfgb, unsigned int n)
{
	struct net_device *dev = dev_of(ref);
	struct lxd_net_cfg c;
	if (!dev || !cfgb || n != sizeof(c))
		return -EINVAL;
	memcpy(&c, cfgb, sizeof(c));
	if (c.addr_len > MAX_ADDR_LEN)
		return -EINVAL;
	dev->flags = c.flags;
	dev->priv_flags = c.priv_flags;
	dev->features = c.features;
	dev->mtu = c.mtu;
	dev->min_mtu = c.min_mtu;
	dev->max_mtu = c.max_mtu;
	dev->tx_queue_len = c.tx_queue_len;
	dev->type = c.type;
	dev->hard_header_len = c.hard_header_len;
	dev->addr_len = c.addr_len;
	memcpy(dev->dev_addr, c.dev_addr, sizeof(dev->dev_addr));
	memcpy(dev->broadcast, c.broadcast, sizeof(dev->broadcast));
	struct iso_netdev *nd = nd_of(dev);
	struct net_device_ops *o = &nd->ops;
	memset(o, 0, sizeof(*o));
	if (c.ops & LXD_NET_HAS_OPEN) o->ndo_open = proxy_open;
	if (c.ops & LXD_NET_HAS_STOP) o->ndo_stop = proxy_stop;
	if (c.ops & LXD_NET_HAS_XMIT) o->ndo_start_xmit = proxy_xmit;
	/* Always: a driver without ndo_get_stats64 counts in dev->stats, which is
	 * its copy's (the domain answers from it); and async drops are added here. */
	o->ndo_get_stats64 = proxy_get_stats64;
	if (c.ops & LXD_NET_HAS_SET_MAC) o->ndo_set_mac_address = proxy_set_mac;
	if (c.ops & LXD_NET_HAS_VALIDATE) o->ndo_validate_addr = proxy_validate;
	if (c.ops & LXD_NET_HAS_MTU) o->ndo_change_mtu = proxy_change_mtu;
	if (!o->ndo_start_xmit)
		return -EINVAL; /* as natively: a device must transmit */
	dev->netdev_ops = o;
	return register_netdev(dev);
}

void lxd_knet_unregister(unsigned long long ref)
{
	struct net_device *dev = dev_of(ref);
	if (dev)
		unregister_netdev(dev);
}

void lxd_knet_free(unsigned long long ref)
{
	struct net_device *dev = dev_of(ref);
	if (!dev)
		return;
	lxd_iso_unref(iso_self(), ref, LXD_ISO_T_NETDEV);
	free_netdev(dev);
}

int lxd_knet_state(unsigned long long ref, unsigned int op)
{
	struct net_device *dev = dev_of(ref);
	if (!dev)
		return -EBADF;
	switch (op) {
	case LXD_NET_START_QUEUE: netif_start_queue(dev); return 0;
	case LXD_NET_STOP_QUEUE: netif_stop_queue(dev); return 0;
	case LXD_NET_WAKE_QUEUE: netif_wake_queue(dev); return 0;
	case LXD_NET_CARRIER_ON: netif_carrier_on(dev); return 0;
	case LXD_NET_CARRIER_OFF: netif_carrier_off(dev); return 0;
	case LXD_NET_Q_STOPPED: return netif_queue_stopped(dev);
	case LXD_NET_Q_CARRIER: return netif_carrier_ok(dev);
	case LXD_NET_Q_RUNNING: return netif_running(dev);
	default: return -EINVAL;
	}
}

void lxd_knet_consume(unsigned long long ref, int dropped)
{
	struct lxd_iso *iso = iso_self();
	if (!iso)
		return;
	struct sk_buff *skb = NULL;
	struct iso_xmit_batch *gone = NULL;
	pthread_mutex_lock(&iso->skb_lock);
	void *h = slot_get(iso, ref);
	if (h && !holder_is_batch(h)) {
		skb = skb_take_slot(iso, ref);
	} else if (h) {
		struct iso_xmit_batch *b = holder_batch(h);
		unsigned k = ref_index(ref);
		if (k < b->n && b->skb[k]) {
			skb = b->skb[k];
			b->skb[k] = NULL;
			/* Before the answer, batch_finish counts only what is still there. */
			if (b->answered && --b->kept == 0) {
				slot_free(iso, ref);
				gone = b;
			}
		}
	}
	pthread_mutex_unlock(&iso->skb_lock);
	if (gone)
		batch_drop(gone);
	if (!skb)
		return;
	if (dropped)
		kfree_skb(skb);
	else
		consume_skb(skb);
}

int lxd_knet_sync(unsigned long long ref, unsigned long long addr, unsigned int mtu)
{
	struct net_device *dev = dev_of(ref);
	if (!dev)
		return -EBADF;
	for (int i = 0; i < ETH_ALEN; i++)
		dev->dev_addr[i] = (unsigned char)(addr >> (8 * i));
	dev->mtu = mtu;
	return 0;
}
