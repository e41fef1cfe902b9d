/* SPDX-License-Identifier: MIT */
/*
 * The net device core: allocation, registration, open/close, transmit, queue
 * and carrier state, statistics.
 *
 * Locking.  One mutex (rtnl, as in Linux) serialises configuration:
 * register, unregister, open, close, address and MTU changes, and the device
 * list.  Each device has a transmit lock held around ndo_start_xmit, so a
 * driver sees one transmit at a time per device (Linux's HARD_TX_LOCK), and
 * dev_close clears "running" under it: once dev_close has returned no
 * transmit is in the driver.  Queue and carrier bits are atomic: a driver
 * flips them from its transmit path without taking any kernel lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/etherdevice.h>
#include <linux/netdevice.h>

#include "../internal.h"

enum {
	LXD_NETDEV_QUEUE_STOPPED = 1ul << 0,
	LXD_NETDEV_NOCARRIER = 1ul << 1,
	LXD_NETDEV_RUNNING = 1ul << 2,
};

enum { REG_UNINIT, REG_REGISTERED, REG_UNREGISTERED };

/* Kernel-private per-device state, allocated in front of the device. */
struct netdev_core {
	pthread_mutex_t tx_lock;
};

static pthread_mutex_t rtnl = PTHREAD_MUTEX_INITIALIZER;
static struct net_device *dev_list;
/* Every allocated device, so a module's leftovers can be freed when it goes. */
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;
static struct net_device *all_list;

static struct netdev_core *core_of(const struct net_device *dev)
{
	return (struct netdev_core *)((char *)dev - sizeof(struct netdev_core));
}

static void state_set(struct net_device *dev, unsigned long bit)
{
	__atomic_fetch_or(&dev->lxd_state, bit, __ATOMIC_SEQ_CST);
}

static void state_clear(struct net_device *dev, unsigned long bit)
{
	__atomic_fetch_and(&dev->lxd_state, ~bit, __ATOMIC_SEQ_CST);
}

static bool state_test(const struct net_device *dev, unsigned long bit)
{
	return __atomic_load_n(&dev->lxd_state, __ATOMIC_SEQ_CST) & bit;
}

struct net_device *alloc_netdev(int sizeof_priv, const char *name, unsigned char name_assign_type,
				void (*setup)(struct net_device *dev))
{
	(void)name_assign_type;
	if (sizeof_priv < 0 || sizeof_priv > (1 << 24) || !name || strlen(name) >= IFNAMSIZ)
		return NULL;
	/* Layout: [core][net_device][pad to 64][priv]. */
	size_t dev_end = sizeof(struct netdev_core) + sizeof(struct net_device);
	size_t priv_off = (dev_end + 63) & ~(size_t)63;
	char *mem = aligned_alloc(64, (priv_off + (size_t)sizeof_priv + 63) & ~(size_t)63);
	if (!mem)
		return NULL;
	memset(mem, 0, priv_off + (size_t)sizeof_priv);
	struct net_device *dev = (struct net_device *)(mem + sizeof(struct netdev_core));
	pthread_mutex_init(&core_of(dev)->tx_lock, NULL);
	snprintf(dev->lxd_name_fmt, sizeof(dev->lxd_name_fmt), "%s", name);
	snprintf(dev->name, sizeof(dev->name), "%s", name);
	dev->lxd_priv = mem + priv_off;
	dev->lxd_priv_size = (size_t)sizeof_priv;
	dev->mtu = 1500;
	dev->lxd_owner = lxd_module_current();
	if (setup)
		setup(dev);
	pthread_mutex_lock(&all_lock);
	dev->lxd_all_next = all_list;
	all_list = dev;
	pthread_mutex_unlock(&all_lock);
	atomic_fetch_add(&lxd_counts.netdevs, 1);
	return dev;
}

void free_netdev(struct net_device *dev)
{
	if (!dev)
		return;
	if (dev->lxd_reg == REG_REGISTERED) {
		pr_err("free_netdev: %s is still registered; not freed\n", dev->name);
		return;
	}
	pthread_mutex_lock(&all_lock);
	for (struct net_device **pp = &all_list; *pp; pp = &(*pp)->lxd_all_next)
		if (*pp == dev) {
			*pp = dev->lxd_all_next;
			break;
		}
	pthread_mutex_unlock(&all_lock);
	if (dev->priv_destructor)
		dev->priv_destructor(dev);
	pthread_mutex_destroy(&core_of(dev)->tx_lock);
	free(core_of(dev));
	atomic_fetch_sub(&lxd_counts.netdevs, 1);
}

void *netdev_priv(const struct net_device *dev)
{
	return dev->lxd_priv;
}

static struct net_device *find_locked(const char *name)
{
	for (struct net_device *d = dev_list; d; d = d->lxd_next)
		if (strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

/* Resolve "%d" in @fmt to the first unused number.  0, -EINVAL or -ENFILE. */
static int assign_name_locked(struct net_device *dev)
{
	const char *pct = strchr(dev->lxd_name_fmt, '%');
	if (!pct) {
		if (!dev->lxd_name_fmt[0])
			return -EINVAL;
		snprintf(dev->name, sizeof(dev->name), "%s", dev->lxd_name_fmt);
		return find_locked(dev->name) ? -EEXIST : 0;
	}
	if (pct[1] != 'd' || strchr(pct + 1, '%'))
		return -EINVAL;
	for (int i = 0; i < 32768; i++) {
		char buf[IFNAMSIZ + 8];
		int plen = (int)(pct - dev->lxd_name_fmt);
		int n = snprintf(buf, sizeof(buf), "%.*s%d%s", plen, dev->lxd_name_fmt, i, pct + 2);
		if (n < 0 || n >= IFNAMSIZ)
			return -EINVAL;
		if (!find_locked(buf)) {
			memcpy(dev->name, buf, (size_t)n + 1);
			return 0;
		}
	}
	return -ENFILE;
}

int register_netdev(struct net_device *dev)
{
	if (!dev || !dev->netdev_ops || dev->lxd_reg != REG_UNINIT)
		return -EINVAL;
	pthread_mutex_lock(&rtnl);
	int err = assign_name_locked(dev);
	if (!err && dev->netdev_ops->ndo_init)
		err = dev->netdev_ops->ndo_init(dev);
	if (!err) {
		dev->lxd_reg = REG_REGISTERED;
		struct net_device **pp = &dev_list;
		while (*pp)
			pp = &(*pp)->lxd_next;
		*pp = dev;
		dev->lxd_next = NULL;
		atomic_fetch_add(&lxd_counts.netdevs_registered, 1);
	}
	pthread_mutex_unlock(&rtnl);
	return err;
}

static int close_locked(struct net_device *dev)
{
	if (!state_test(dev, LXD_NETDEV_RUNNING))
		return 0;
	/* Under the tx lock: no transmit is inside the driver once this is done. */
	pthread_mutex_lock(&core_of(dev)->tx_lock);
	state_clear(dev, LXD_NETDEV_RUNNING);
	pthread_mutex_unlock(&core_of(dev)->tx_lock);
	int err = dev->netdev_ops->ndo_stop ? dev->netdev_ops->ndo_stop(dev) : 0;
	dev->flags &= ~(unsigned)IFF_UP;
	return err;
}

static void unregister_locked(struct net_device *dev)
{
	close_locked(dev);
	for (struct net_device **pp = &dev_list; *pp; pp = &(*pp)->lxd_next)
		if (*pp == dev) {
			*pp = dev->lxd_next;
			break;
		}
	if (dev->netdev_ops->ndo_uninit)
		dev->netdev_ops->ndo_uninit(dev);
	dev->lxd_reg = REG_UNREGISTERED;
	dev->lxd_next = NULL;
	atomic_fetch_sub(&lxd_counts.netdevs_registered, 1);
}

void unregister_netdev(struct net_device *dev)
{
	if (!dev)
		return;
	pthread_mutex_lock(&rtnl);
	if (dev->lxd_reg == REG_REGISTERED)
		unregister_locked(dev);
	else
		pr_warn("unregister_netdev: %s is not registered\n", dev->name);
	pthread_mutex_unlock(&rtnl);
}

int dev_open(struct net_device *dev)
{
	pthread_mutex_lock(&rtnl);
	int err = 0;
	if (dev->lxd_reg != REG_REGISTERED)
		err = -ENODEV;
	else if (!state_test(dev, LXD_NETDEV_RUNNING)) {
		if (dev->netdev_ops->ndo_validate_addr)
			err = dev->netdev_ops->ndo_validate_addr(dev);
		if (!err && dev->netdev_ops->ndo_open)
			err = dev->netdev_ops->ndo_open(dev);
		if (!err) {
			dev->flags |= IFF_UP;
			state_set(dev, LXD_NETDEV_RUNNING);
		}
	}
	pthread_mutex_unlock(&rtnl);
	return err;
}

int dev_close(struct net_device *dev)
{
	pthread_mutex_lock(&rtnl);
	int err = dev->lxd_reg == REG_REGISTERED ? close_locked(dev) : -ENODEV;
	pthread_mutex_unlock(&rtnl);
	return err;
}

void netif_start_queue(struct net_device *dev) { state_clear(dev, LXD_NETDEV_QUEUE_STOPPED); }
void netif_wake_queue(struct net_device *dev) { state_clear(dev, LXD_NETDEV_QUEUE_STOPPED); }
void netif_stop_queue(struct net_device *dev) { state_set(dev, LXD_NETDEV_QUEUE_STOPPED); }
bool netif_queue_stopped(const struct net_device *dev) { return state_test(dev, LXD_NETDEV_QUEUE_STOPPED); }
void netif_carrier_on(struct net_device *dev) { state_clear(dev, LXD_NETDEV_NOCARRIER); }
void netif_carrier_off(struct net_device *dev) { state_set(dev, LXD_NETDEV_NOCARRIER); }
bool netif_carrier_ok(const struct net_device *dev) { return !state_test(dev, LXD_NETDEV_NOCARRIER); }
bool netif_running(const struct net_device *dev) { return state_test(dev, LXD_NETDEV_RUNNING); }

int dev_queue_xmit(struct sk_buff *skb)
{
	if (!skb)
		return -EINVAL;
	struct net_device *dev = skb->dev;
	if (!dev || skb->len > dev->mtu + dev->hard_header_len) {
		kfree_skb(skb);
		return -EINVAL;
	}
	struct netdev_core *core = core_of(dev);
	pthread_mutex_lock(&core->tx_lock);
	int ret;
	if (!state_test(dev, LXD_NETDEV_RUNNING)) {
		ret = -ENETDOWN;
		kfree_skb(skb);
	} else if (state_test(dev, LXD_NETDEV_QUEUE_STOPPED)) {
		/* No qdisc to hold it: a stopped queue drops, counted by the core. */
		ret = NET_XMIT_DROP;
		dev->lxd_core_tx_dropped++;
		kfree_skb(skb);
	} else {
		netdev_tx_t rc = dev->netdev_ops->ndo_start_xmit(skb, dev);
		if (rc == NETDEV_TX_OK) {
			ret = NET_XMIT_SUCCESS;
		} else {
			/* The driver kept nothing: the skb is still ours. */
			ret = NET_XMIT_DROP;
			dev->lxd_core_tx_dropped++;
			kfree_skb(skb);
		}
	}
	pthread_mutex_unlock(&core->tx_lock);
	return ret;
}

int dev_set_mac_address(struct net_device *dev, struct sockaddr *sa)
{
	if (!dev || !sa)
		return -EINVAL;
	if (!dev->netdev_ops->ndo_set_mac_address)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&rtnl);
	int err = dev->lxd_reg == REG_REGISTERED ? dev->netdev_ops->ndo_set_mac_address(dev, sa) : -ENODEV;
	pthread_mutex_unlock(&rtnl);
	return err;
}

int dev_set_mtu(struct net_device *dev, int new_mtu)
{
	if (!dev || new_mtu < 0 || (unsigned)new_mtu < dev->min_mtu ||
	    (dev->max_mtu && (unsigned)new_mtu > dev->max_mtu))
		return -EINVAL;
	pthread_mutex_lock(&rtnl);
	int err = 0;
	if (dev->netdev_ops->ndo_change_mtu)
		err = dev->netdev_ops->ndo_change_mtu(dev, new_mtu);
	else
		dev->mtu = (unsigned)new_mtu;
	pthread_mutex_unlock(&rtnl);
	return err;
}

struct rtnl_link_stats64 *dev_get_stats(struct net_device *dev, struct rtnl_link_stats64 *storage)
{
	memset(storage, 0, sizeof(*storage));
	if (dev->netdev_ops->ndo_get_stats64) {
		dev->netdev_ops->ndo_get_stats64(dev, storage);
	} else {
		storage->rx_packets = dev->stats.rx_packets;
		storage->tx_packets = dev->stats.tx_packets;
		storage->rx_bytes = dev->stats.rx_bytes;
		storage->tx_bytes = dev->stats.tx_bytes;
		storage->rx_errors = dev->stats.rx_errors;
		storage->tx_errors = dev->stats.tx_errors;
		storage->rx_dropped = dev->stats.rx_dropped;
		storage->tx_dropped = dev->stats.tx_dropped;
	}
	pthread_mutex_lock(&core_of(dev)->tx_lock);
	storage->tx_dropped += dev->lxd_core_tx_dropped;
	pthread_mutex_unlock(&core_of(dev)->tx_lock);
	return storage;
}

struct net_device *dev_get_by_name(const char *name)
{
	pthread_mutex_lock(&rtnl);
	struct net_device *d = name ? find_locked(name) : NULL;
	pthread_mutex_unlock(&rtnl);
	return d;
}

struct net_device *lxd_net_owned(const struct lxd_module *m, unsigned idx)
{
	pthread_mutex_lock(&rtnl);
	struct net_device *d = dev_list;
	for (; d; d = d->lxd_next)
		if (d->lxd_owner == m && idx-- == 0)
			break;
	pthread_mutex_unlock(&rtnl);
	return d;
}

int lxd_net_unregister_owner(struct lxd_module *m)
{
	int n = 0;
	pthread_mutex_lock(&rtnl);
	for (struct net_device *d = dev_list, *next; d; d = next) {
		next = d->lxd_next;
		if (d->lxd_owner != m)
			continue;
		pr_err("module %s left %s registered: unregistering it\n", lxd_module_name(m), d->name);
		unregister_locked(d);
		n++;
	}
	pthread_mutex_unlock(&rtnl);
	return n;
}

int lxd_net_release_owner(struct lxd_module *m)
{
	int n = lxd_net_unregister_owner(m);
	/* Then free what it allocated and did not free (the module is going away: nobody else can). */
	for (;;) {
		pthread_mutex_lock(&all_lock);
		struct net_device *d = all_list;
		while (d && d->lxd_owner != m)
			d = d->lxd_all_next;
		pthread_mutex_unlock(&all_lock);
		if (!d)
			return n;
		pr_err("module %s did not free net device %s: freeing it\n", lxd_module_name(m), d->name);
		free_netdev(d);
		n++;
	}
}
