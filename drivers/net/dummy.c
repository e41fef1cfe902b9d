// SPDX-License-Identifier: MIT
/*
 * dummy: a network device that counts what it is given and drops it, like
 * Linux's dummy.  Written against include/linux/ only, so the same .so runs
 * inside the kernel or in a domain.
 *
 * Parameters: numdummies (devices to create, default 1).
 */
#include <linux/container_of.h>
#include <linux/errno.h>
#include <linux/etherdevice.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/atomic.h>
#include <linux/slab.h>

#define DRV_NAME "dummy"
#define MAX_DUMMIES 64

static int numdummies = 1;
module_param(numdummies, int, 0);
MODULE_PARM_DESC(numdummies, "Number of dummy pseudo devices (1..64)");

/* Driver-private per-device counters (netdev_priv). */
struct dummy_priv {
	atomic64_t tx_packets;
	atomic64_t tx_bytes;
};

static struct net_device **dummies;
static int ndummies;

static netdev_tx_t dummy_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct dummy_priv *priv = netdev_priv(dev);

	atomic64_inc(&priv->tx_packets);
	atomic64_add(skb->len, &priv->tx_bytes);
	skb_tx_timestamp(skb);
	dev_kfree_skb(skb);
	return NETDEV_TX_OK;
}

static int dummy_open(struct net_device *dev)
{
	netif_carrier_on(dev);
	netif_start_queue(dev);
	return 0;
}

static int dummy_stop(struct net_device *dev)
{
	netif_stop_queue(dev);
	netif_carrier_off(dev);
	return 0;
}

static void dummy_get_stats64(struct net_device *dev, struct rtnl_link_stats64 *stats)
{
	struct dummy_priv *priv = netdev_priv(dev);

	stats->tx_packets = (u64)atomic64_read(&priv->tx_packets);
	stats->tx_bytes = (u64)atomic64_read(&priv->tx_bytes);
}

static int dummy_change_mtu(struct net_device *dev, int new_mtu)
{
	dev->mtu = (unsigned int)new_mtu;
	return 0;
}

static const struct net_device_ops dummy_netdev_ops = {
	.ndo_open = dummy_open,
	.ndo_stop = dummy_stop,
	.ndo_start_xmit = dummy_xmit,
	.ndo_get_stats64 = dummy_get_stats64,
	.ndo_set_mac_address = eth_mac_addr,
	.ndo_validate_addr = eth_validate_addr,
	.ndo_change_mtu = dummy_change_mtu,
};

static void dummy_setup(struct net_device *dev)
{
	ether_setup(dev);
	dev->netdev_ops = &dummy_netdev_ops;
	dev->flags |= IFF_NOARP;
	dev->flags &= ~(unsigned int)IFF_MULTICAST;
	dev->min_mtu = 0;
	dev->max_mtu = 0; /* no upper limit */
	eth_hw_addr_random(dev);
}

static void dummy_cleanup(void)
{
	for (int i = ndummies - 1; i >= 0; i--) {
		unregister_netdev(dummies[i]);
		free_netdev(dummies[i]);
	}
	kfree(dummies);
	dummies = NULL;
	ndummies = 0;
}

static int __init dummy_init_module(void)
{
	int err;

	if (numdummies < 1 || numdummies > MAX_DUMMIES) {
		pr_err(DRV_NAME ": numdummies=%d is out of range 1..%d\n", numdummies, MAX_DUMMIES);
		return -EINVAL;
	}
	dummies = kcalloc((size_t)numdummies, sizeof(*dummies), GFP_KERNEL);
	if (!dummies)
		return -ENOMEM;
	for (int i = 0; i < numdummies; i++) {
		struct net_device *dev = alloc_netdev(sizeof(struct dummy_priv), "dummy%d",
						      NET_NAME_ENUM, dummy_setup);
		if (!dev) {
			err = -ENOMEM;
			goto fail;
		}
		err = register_netdev(dev);
		if (err) {
			free_netdev(dev);
			goto fail;
		}
		/* No link until opened. */
		netif_carrier_off(dev);
		dummies[ndummies++] = dev;
	}
	pr_info(DRV_NAME ": %d device(s)\n", ndummies);
	return 0;
fail:
	dummy_cleanup();
	return err;
}

static void __exit dummy_cleanup_module(void)
{
	dummy_cleanup();
}

module_init(dummy_init_module);
module_exit(dummy_cleanup_module);
MODULE_LICENSE("MIT");
MODULE_DESCRIPTION("Dummy netdevice driver");
