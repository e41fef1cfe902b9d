/* SPDX-License-Identifier: MIT */
/*
 * Net, domain side.  The driver's struct net_device is the domain's copy of
 * the kernel's device, with the private area (netdev_priv) behind it; the
 * kernel's reference names it in every call.  Setup helpers (ether_setup,
 * random addresses, eth_mac_addr) only write the copy; register_netdev
 * sends the fields over; an op that changed the address or MTU syncs them
 * back before it returns.
 *
 * sk_buffs: each transmit gets a fresh copy of the kernel's skb header over
 * the same data (arena).  A driver that frees it during ndo_start_xmit (as
 * dummy does) costs no extra message: the answer says so.  One kept for
 * later is freed through lxd_knet_consume.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/etherdevice.h>
#include <linux/if_arp.h>
#include <linux/netdevice.h>

#include "../net/ether_setup.h"
#include "dom.h"

#define DEFAULT_VIS __attribute__((visibility("default")))

struct dnetdev {
	uint64_t kref;
	unsigned char synced_addr[ETH_ALEN];
	unsigned int synced_mtu;
	struct net_device dev;
};

struct dskb {
	uint64_t kref;
	bool in_call;      /* inside ndo_start_xmit: a free is reported in the answer */
	int freed;         /* LXD_XMIT_CONSUMED (| LXD_XMIT_DROPPED) once freed in the call */
	struct sk_buff skb;
};

static struct dnetdev *dn_of(const struct net_device *dev)
{
	return (struct dnetdev *)((char *)dev - offsetof(struct dnetdev, dev));
}

static struct dnetdev *dn_lookup(unsigned long long kref)
{
	return lxd_glue_map_get(&lxd_dom.netdevs, kref);
}

DEFAULT_VIS struct net_device *alloc_netdev(int sizeof_priv, const char *name,
					    unsigned char name_assign_type,
					    void (*setup)(struct net_device *dev))
{
	(void)name_assign_type;
	if (sizeof_priv < 0 || sizeof_priv > (1 << 24) || !name || strlen(name) >= IFNAMSIZ)
		return NULL;
	long long kref = lxd_knet_alloc(name);
	if (kref <= 0)
		return NULL;
	size_t priv_off = (sizeof(struct dnetdev) + 63) & ~(size_t)63;
	struct dnetdev *d = aligned_alloc(64, (priv_off + (size_t)sizeof_priv + 63) & ~(size_t)63);
	if (!d) {
		lxd_knet_free((unsigned long long)kref);
		return NULL;
	}
	memset(d, 0, priv_off + (size_t)sizeof_priv);
	d->kref = (uint64_t)kref;
	snprintf(d->dev.name, sizeof(d->dev.name), "%s", name);
	d->dev.lxd_priv = (char *)d + priv_off;
	d->dev.lxd_priv_size = (size_t)sizeof_priv;
	if (lxd_glue_map_put(&lxd_dom.netdevs, d->kref, d)) {
		lxd_knet_free(d->kref);
		free(d);
		return NULL;
	}
	if (setup)
		setup(&d->dev);
	return &d->dev;
}

DEFAULT_VIS void free_netdev(struct net_device *dev)
{
	if (!dev)
		return;
	struct dnetdev *d = dn_of(dev);
	if (dev->priv_destructor)
		dev->priv_destructor(dev);
	lxd_glue_map_del(&lxd_dom.netdevs, d->kref);
	lxd_knet_free(d->kref);
	free(d);
}

DEFAULT_VIS void *netdev_priv(const struct net_device *dev)
{
	return dev->lxd_priv;
}

static uint64_t addr_word(const unsigned char *a)
{
	uint64_t w = 0;
	for (int i = 0; i < ETH_ALEN; i++)
		w |= (uint64_t)a[i] << (8 * i);
	return w;
}

/* Push the copy's address and MTU to the kernel if the driver changed them. */
static void sync_back(struct dnetdev *d)
{
	if (!memcmp(d->synced_addr, d->dev.dev_addr, ETH_ALEN) && d->synced_mtu == d->dev.mtu)
		return;
	if (lxd_knet_sync(d->kref, addr_word(d->dev.dev_addr), d->dev.mtu) == 0) {
		memcpy(d->synced_addr, d->dev.dev_addr, ETH_ALEN);
		d->synced_mtu = d->dev.mtu;
	}
}

DEFAULT_VIS int register_netdev(struct net_device *dev)
{
	if (!dev || !dev->netdev_ops)
		return -EINVAL;
	struct dnetdev *d = dn_of(dev);
	const struct net_device_ops *o = dev->netdev_ops;
	struct lxd_net_cfg c;
	memset(&c, 0, sizeof(c));
	c.flags = dev->flags;
	c.priv_flags = dev->priv_flags;
	c.features = dev->features;
	c.mtu = dev->mtu;
	c.min_mtu = dev->min_mtu;
	c.max_mtu = dev->max_mtu;
	c.tx_queue_len = dev->tx_queue_len;
	c.type = dev->type;
	c.hard_header_len = dev->hard_header_len;
	c.addr_len = dev->addr_len;
	memcpy(c.dev_addr, dev->dev_addr, sizeof(c.dev_addr));
	memcpy(c.broadcast, dev->broadcast, sizeof(c.broadcast));
	c.ops = (o->ndo_open ? LXD_NET_HAS_OPEN : 0) | (o->ndo_stop ? LXD_NET_HAS_STOP : 0) |
		(o->ndo_start_xmit ? LXD_NET_HAS_XMIT : 0) | (o->ndo_get_stats64 ? LXD_NET_HAS_STATS : 0) |
		(o->ndo_set_mac_address ? LXD_NET_HAS_SET_MAC : 0) |
		(o->ndo_validate_addr ? LXD_NET_HAS_VALIDATE : 0) |
		(o->ndo_change_mtu ? LXD_NET_HAS_MTU : 0);
	int rc = lxd_knet_register(d->kref, (const unsigned char *)&c, sizeof(c));
	if (!rc) {
		memcpy(d->synced_addr, dev->dev_addr, ETH_ALEN);
		d->synced_mtu = dev->mtu;
	}
	return rc;
}

DEFAULT_VIS void unregister_netdev(struct net_device *dev)
{
	if (dev)
		lxd_knet_unregister(dn_of(dev)->kref);
}

static int state(const struct net_device *dev, unsigned op)
{
	return lxd_knet_state(dn_of(dev)->kref, op);
}

DEFAULT_VIS void netif_start_queue(struct net_device *dev) { state(dev, LXD_NET_START_QUEUE); }
DEFAULT_VIS void netif_stop_queue(struct net_device *dev) { state(dev, LXD_NET_STOP_QUEUE); }
DEFAULT_VIS void netif_wake_queue(struct net_device *dev) { state(dev, LXD_NET_WAKE_QUEUE); }
DEFAULT_VIS void netif_carrier_on(struct net_device *dev) { state(dev, LXD_NET_CARRIER_ON); }
DEFAULT_VIS void netif_carrier_off(struct net_device *dev) { state(dev, LXD_NET_CARRIER_OFF); }
DEFAULT_VIS bool netif_queue_stopped(const struct net_device *dev) { return state(dev, LXD_NET_Q_STOPPED) > 0; }
DEFAULT_VIS bool netif_carrier_ok(const struct net_device *dev) { return state(dev, LXD_NET_Q_CARRIER) > 0; }
DEFAULT_VIS bool netif_running(const struct net_device *dev) { return state(dev, LXD_NET_Q_RUNNING) > 0; }

static void skb_free(struct sk_buff *skb, bool dropped)
{
	if (!skb)
		return;
	struct dskb *s = (struct dskb *)((char *)skb - offsetof(struct dskb, skb));
	if (s->in_call) {
		s->freed = LXD_XMIT_CONSUMED | (dropped ? LXD_XMIT_DROPPED : 0);
		return; /* the xmit handler frees the copy and answers for it */
	}
	lxd_knet_consume(s->kref, dropped);
	free(s);
}

DEFAULT_VIS void consume_skb(struct sk_buff *skb) { skb_free(skb, false); }
DEFAULT_VIS void kfree_skb(struct sk_buff *skb) { skb_free(skb, true); }

/* ---- Ethernet helpers: they only write the driver's copy ---- */

DEFAULT_VIS void ether_setup(struct net_device *dev)
{
	lxd_ether_setup_fields(dev);
}

DEFAULT_VIS struct net_device *alloc_etherdev(int sizeof_priv)
{
	return alloc_netdev(sizeof_priv, "eth%d", NET_NAME_ENUM, ether_setup);
}

DEFAULT_VIS void eth_random_addr(u8 *addr)
{
	/* xorshift64*, seeded from getrandom before lockdown. */
	uint64_t x = lxd_dom.rand_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	lxd_dom.rand_state = x;
	uint64_t r = x * 0x2545f4914f6cdd1dull;
	for (int i = 0; i < ETH_ALEN; i++)
		addr[i] = (u8)(r >> (8 * i));
	addr[0] &= 0xfe; /* unicast */
	addr[0] |= 0x02; /* locally administered */
}

DEFAULT_VIS void eth_hw_addr_random(struct net_device *dev)
{
	u8 a[ETH_ALEN];
	eth_random_addr(a);
	eth_hw_addr_set(dev, a);
}

DEFAULT_VIS int eth_mac_addr(struct net_device *dev, void *p)
{
	const struct sockaddr *sa = p;
	if (!sa || !is_valid_ether_addr((const u8 *)sa->sa_data))
		return -EADDRNOTAVAIL;
	eth_hw_addr_set(dev, (const u8 *)sa->sa_data);
	return 0;
}

DEFAULT_VIS int eth_validate_addr(struct net_device *dev)
{
	return is_valid_ether_addr(dev->dev_addr) ? 0 : -EADDRNOTAVAIL;
}

/* ---- what the kernel calls ---- */

int lxd_dnet_open(unsigned long long dev)
{
	struct dnetdev *d = dn_lookup(dev);
	if (!d)
		return -EBADF;
	int rc = d->dev.netdev_ops->ndo_open ? d->dev.netdev_ops->ndo_open(&d->dev) : 0;
	sync_back(d);
	return rc;
}

int lxd_dnet_stop(unsigned long long dev)
{
	struct dnetdev *d = dn_lookup(dev);
	if (!d)
		return -EBADF;
	int rc = d->dev.netdev_ops->ndo_stop ? d->dev.netdev_ops->ndo_stop(&d->dev) : 0;
	sync_back(d);
	return rc;
}

int lxd_dnet_validate_addr(unsigned long long dev)
{
	struct dnetdev *d = dn_lookup(dev);
	if (!d)
		return -EBADF;
	return d->dev.netdev_ops->ndo_validate_addr ? d->dev.netdev_ops->ndo_validate_addr(&d->dev) : 0;
}

int lxd_dnet_change_mtu(unsigned long long dev, int mtu)
{
	struct dnetdev *d = dn_lookup(dev);
	if (!d || !d->dev.netdev_ops->ndo_change_mtu)
		return d ? -EOPNOTSUPP : -EBADF;
	int rc = d->dev.netdev_ops->ndo_change_mtu(&d->dev, mtu);
	sync_back(d);
	return rc;
}

int lxd_dnet_set_mac(unsigned long long dev, unsigned long long addr, unsigned int family)
{
	struct dnetdev *d = dn_lookup(dev);
	if (!d || !d->dev.netdev_ops->ndo_set_mac_address)
		return d ? -EOPNOTSUPP : -EBADF;
	struct sockaddr sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_family = (sa_family_t)family;
	for (int i = 0; i < ETH_ALEN; i++)
		sa.sa_data[i] = (char)(addr >> (8 * i));
	int rc = d->dev.netdev_ops->ndo_set_mac_address(&d->dev, &sa);
	sync_back(d);
	return rc;
}

int lxd_dnet_get_stats(unsigned long long dev, unsigned int n, unsigned long long *st)
{
	struct dnetdev *d = dn_lookup(dev);
	if (!d)
		return -EBADF;
	struct rtnl_link_stats64 s;
	memset(&s, 0, sizeof(s));
	if (d->dev.netdev_ops->ndo_get_stats64) {
		d->dev.netdev_ops->ndo_get_stats64(&d->dev, &s);
	} else {
		s.rx_packets = d->dev.stats.rx_packets;
		s.tx_packets = d->dev.stats.tx_packets;
		s.rx_bytes = d->dev.stats.rx_bytes;
		s.tx_bytes = d->dev.stats.tx_bytes;
		s.rx_errors = d->dev.stats.rx_errors;
		s.tx_errors = d->dev.stats.tx_errors;
		s.rx_dropped = d->dev.stats.rx_dropped;
		s.tx_dropped = d->dev.stats.tx_dropped;
	}
	size_t bytes = (size_t)n * 8 < sizeof(s) ? (size_t)n * 8 : sizeof(s);
	memcpy(st, &s, bytes);
	return 0;
}

/*
 * Transmit one skb.  Its copy is *@spare when there is one, else a new
 * one; a copy the driver freed during the call (dummy's case) or refused
 * is left in *@spare for the next skb of the batch, so a batch allocates
 * one copy instead of one a packet.  (One calloc and free a packet was a
 * fifth of the domain's time in pktgen: glibc's calloc skips its
 * per-thread cache.)
 */
static int xmit_one(struct dnetdev *d, uint64_t skb, void *head, unsigned int size, unsigned int data_off,
		    unsigned int len, unsigned int protocol, struct dskb **spare)
{
	if (!head || data_off > size || len > size - data_off ||
	    !lxd_arena_contains(lxd_dom.env->arena, head, size))
		return -EINVAL;
	struct dskb *s = *spare ? *spare : malloc(sizeof(*s));
	if (!s)
		return NETDEV_TX_BUSY;
	*spare = NULL;
	*s = (struct dskb){.kref = skb,
			   .in_call = true,
			   .skb = {.dev = &d->dev,
				   .head = head,
				   .data = (unsigned char *)head + data_off,
				   .tail = (unsigned char *)head + data_off + len,
				   .end = (unsigned char *)head + size,
				   .len = len,
				   .protocol = (u16)protocol}};
	netdev_tx_t rc = d->dev.netdev_ops->ndo_start_xmit(&s->skb, &d->dev);
	int freed = s->freed;
	s->in_call = false;
	if (freed || rc != NETDEV_TX_OK)
		*spare = s; /* freed by the driver, or refused: the kernel's skb either way */
	return (int)rc | freed;
}

int lxd_dnet_xmit(unsigned long long dev, unsigned long long skb, void *head, unsigned int size,
		  unsigned int data_off, unsigned int len, unsigned int protocol)
{
	struct dnetdev *d = dn_lookup(dev);
	if (!d)
		return -EBADF;
	struct dskb *spare = NULL;
	int rc = xmit_one(d, skb, head, size, data_off, len, protocol, &spare);
	free(spare);
	return rc;
}

int lxd_dnet_xmit_batch(unsigned long long dev, unsigned int nw, const unsigned long long *desc,
			unsigned int n, unsigned int nr, unsigned char *res)
{
	struct dnetdev *d = dn_lookup(dev);
	if (!d)
		return -EBADF;
	if (n > LXD_XMIT_BATCH_MAX || nw != 1 + n * LXD_XMIT_DESC_WORDS || nr != LXD_XMIT_RES_BYTES(n))
		return -EINVAL;
	const uint64_t ref = desc[0];
	struct dskb *spare = NULL;
	for (unsigned i = 0; i < n; i++) {
		struct lxd_xmit_desc x = lxd_xmit_desc_get(&desc[1 + i * LXD_XMIT_DESC_WORDS]);
		uint64_t skb = ref ? ref | (uint64_t)i << LXD_XMIT_REF_INDEX_SHIFT : 0;
		int rc = xmit_one(d, skb, x.head, x.size, x.data_off, x.len, x.protocol, &spare);
		lxd_xmit_res_set(res, i, lxd_xmit_res_pack(rc));
	}
	free(spare);
	return 0;
}
