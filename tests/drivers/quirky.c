// SPDX-License-Identifier: MIT
/*
 * quirky: a test-only net driver that does what dummy does not, to drive
 * the paths of the kernel (and of the isolation glue) a well-behaved driver
 * never takes: it keeps the first skbs it is given and frees them only in
 * ndo_stop (consume after the transmit returned); with busy=1 it refuses
 * every transmit (NETDEV_TX_BUSY); with slow_us=N each transmit takes N us;
 * with hang_open=1 its ndo_open never returns; with forge=1 (isolated) it
 * acts as a hostile domain: from inside its first transmit (or transmit
 * forge_at) it hands back every skb reference it can guess, including
 * those of skbs it is about to report freed; hold=N keeps N skbs, not 16.
 * Linux driver style, include/linux/ only, like drivers/ (but for forge's
 * one call into the domain's kernel stubs).
 */
#include <linux/errno.h>
#include <linux/etherdevice.h>
#include <linux/init.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/netdevice.h>

#define QUIRKY_HOLD 16

static int busy;
module_param(busy, int, 0);
MODULE_PARM_DESC(busy, "Refuse every transmit with NETDEV_TX_BUSY");

static int hang_open;
module_param(hang_open, int, 0);
MODULE_PARM_DESC(hang_open, "ndo_open never returns");

static unsigned int slow_us;
module_param(slow_us, uint, 0);
MODULE_PARM_DESC(slow_us, "Busy-wait this long in every transmit (a slow device)");

static int forge;
module_param(forge, int, 0);
MODULE_PARM_DESC(forge, "Isolated: consume every guessable skb reference from inside one transmit (forge_at)");
static unsigned int forge_at = 1;
module_param(forge_at, uint, 0);
MODULE_PARM_DESC(forge_at, "The transmit forge=1 forges from (1: the first)");
static unsigned int hold = QUIRKY_HOLD;
module_param(hold, uint, 0);
MODULE_PARM_DESC(hold, "Keep the first this many skbs until ndo_stop (at most 16)");
static unsigned long nxmit;

/* The domain's stub for the kernel's lxd_knet_consume (lxd_kdomain.so):
 * what a hostile driver can call with any reference.  Absent natively. */
extern void lxd_knet_consume(unsigned long long ref, int dropped) __attribute__((weak));

static struct net_device *quirky_dev;
static struct sk_buff *held[QUIRKY_HOLD];
static int nheld;

static netdev_tx_t quirky_xmit(struct sk_buff *skb, struct net_device *dev)
{
	if (busy)
		return NETDEV_TX_BUSY; /* the skb stays the caller's */
	if (slow_us) {
		ktime_t end = ktime_get() + (ktime_t)slow_us * NSEC_PER_USEC;
		while (ktime_get() < end)
			;
	}
	if (forge == 1 && ++nxmit >= forge_at && lxd_knet_consume) {
		forge = 2; /* once */
		/* generation << 32 | index in a batch << 24 | slot + 1 (kernel/isolated/iso_net.c) */
		for (unsigned long long gen = 1; gen <= 4; gen++)
			for (unsigned long long idx = 0; idx < 64; idx++)
				for (unsigned long long slot = 1; slot <= 4; slot++)
					lxd_knet_consume(gen << 32 | idx << 24 | slot, 0);
	}
	/* What lxd_pktgen sends, as the kernel built it (the isolated glue
	 * carries head, headroom, length and protocol): else a tx error. */
	const struct ethhdr *eh = (const struct ethhdr *)skb->data;
	if (skb->protocol != __builtin_bswap16(ETH_P_IP) /* htons: no byteorder header here */ || skb->len < ETH_HLEN || skb_headroom(skb) != NET_SKB_PAD ||
	    skb_tailroom(skb) != 0 || !is_broadcast_ether_addr(eh->h_dest) || !ether_addr_equal(eh->h_source, dev->dev_addr))
		dev->stats.tx_errors++;
	dev->stats.tx_packets++;
	dev->stats.tx_bytes += skb->len;
	if (nheld < QUIRKY_HOLD && (unsigned)nheld < hold) {
		held[nheld++] = skb; /* kept: freed in ndo_stop */
		return NETDEV_TX_OK;
	}
	dev_kfree_skb(skb);
	return NETDEV_TX_OK;
}

static int quirky_open(struct net_device *dev)
{
	while (hang_open)
		__atomic_thread_fence(__ATOMIC_SEQ_CST); /* a driver bug: spins for ever */
	netif_carrier_on(dev);
	netif_start_queue(dev);
	return 0;
}

static int quirky_stop(struct net_device *dev)
{
	netif_stop_queue(dev);
	while (nheld)
		consume_skb(held[--nheld]);
	return 0;
}

static const struct net_device_ops quirky_ops = {
	.ndo_open = quirky_open,
	.ndo_stop = quirky_stop,
	.ndo_start_xmit = quirky_xmit,
};

static void quirky_setup(struct net_device *dev)
{
	ether_setup(dev);
	dev->netdev_ops = &quirky_ops;
	eth_hw_addr_random(dev);
}

static int __init quirky_init(void)
{
	quirky_dev = alloc_netdev(0, "quirky%d", NET_NAME_ENUM, quirky_setup);
	if (!quirky_dev)
		return -ENOMEM;
	int err = register_netdev(quirky_dev);
	if (err) {
		free_netdev(quirky_dev);
		return err;
	}
	return 0;
}

static void __exit quirky_exit(void)
{
	unregister_netdev(quirky_dev);
	free_netdev(quirky_dev);
}

module_init(quirky_init);
module_exit(quirky_exit);
MODULE_LICENSE("MIT");
MODULE_DESCRIPTION("test driver: keeps skbs, refuses transmits, hangs in open on request");
