// SPDX-License-Identifier: MIT
/*
 * A module for the loader's tests: parameters of every type, an init that
 * fails on request, and a "leaky" mode whose exit forgets to unregister its
 * device (the kernel must clean up after it).
 */
#include <linux/errno.h>
#include <linux/etherdevice.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/sprintf.h>

static bool flag;
module_param(flag, bool, 0);
MODULE_PARM_DESC(flag, "a bool");
static int fail;
module_param(fail, int, 0);
MODULE_PARM_DESC(fail, "init returns this (e.g. -12)");
static unsigned int count = 7;
module_param(count, uint, 0);
static unsigned long big;
module_param_named(big_one, big, ulong, 0);
static char *label = "none";
module_param(label, charp, 0);
MODULE_PARM_DESC(label, "a string");
static bool leak;
module_param(leak, bool, 0);

static struct net_device *dev;

static netdev_tx_t t_xmit(struct sk_buff *skb, struct net_device *d)
{
	(void)d;
	consume_skb(skb);
	return NETDEV_TX_OK;
}

static const struct net_device_ops t_ops = {.ndo_start_xmit = t_xmit};

static void t_setup(struct net_device *d)
{
	ether_setup(d);
	d->netdev_ops = &t_ops;
}

static int t_init(void)
{
	if (fail)
		return fail;
	/* The parameters, as the module saw them, become the device name. */
	char name[IFNAMSIZ];
	snprintf(name, sizeof(name), "t%d%u%lu%.4s", flag, count, big, label);
	dev = alloc_netdev(0, name, NET_NAME_USER, t_setup);
	if (!dev)
		return -ENOMEM;
	int err = register_netdev(dev);
	if (err)
		free_netdev(dev);
	return err;
}

static void t_exit(void)
{
	if (leak)
		return;
	unregister_netdev(dev);
	free_netdev(dev);
}

module_init(t_init);
module_exit(t_exit);
MODULE_LICENSE("MIT");
MODULE_DESCRIPTION("loader test module");
