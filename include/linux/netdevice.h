/* SPDX-License-Identifier: MIT */
/*
 * Network devices, with the names and semantics of Linux's netdevice API
 * (the parts a simple driver uses).
 *
 * A driver allocates a net_device with alloc_netdev (its private area is
 * netdev_priv), fills in netdev_ops and registers it.  The kernel then calls
 * it only through those ops.  Queue and carrier state are kernel state,
 * changed and read through kernel functions (netif_*), never by touching
 * fields, so that the same driver works when isolated.
 *
 * The UAPI <linux/netdevice.h> (IFNAMSIZ, IFF_* flags, MAX_ADDR_LEN) is
 * included first: this header extends it.
 */
#ifndef LXDS_LINUX_NETDEVICE_H
#define LXDS_LINUX_NETDEVICE_H

#include <sys/socket.h>
#include_next <linux/netdevice.h>
#include <linux/skbuff.h>
#include <linux/types.h>

struct net_device;

/* Return values of ndo_start_xmit. */
typedef enum netdev_tx {
	NETDEV_TX_OK = 0x00,   /* the driver took the skb */
	NETDEV_TX_BUSY = 0x10, /* the driver could not take it; the skb is still the caller's */
} netdev_tx_t;

/* Return values of dev_queue_xmit besides 0 and -errno. */
#define NET_XMIT_SUCCESS 0x00
#define NET_XMIT_DROP 0x01

/* How a device's name was chosen (accepted for source compatibility). */
#define NET_NAME_UNKNOWN 0
#define NET_NAME_ENUM 1
#define NET_NAME_USER 3

/* struct rtnl_link_stats64 (u64 counters) comes from the UAPI <linux/if_link.h>. */

/* Legacy per-device counters (unsigned long), used when a driver has no ndo_get_stats64. */
struct net_device_stats {
	unsigned long rx_packets, tx_packets;
	unsigned long rx_bytes, tx_bytes;
	unsigned long rx_errors, tx_errors;
	unsigned long rx_dropped, tx_dropped;
};

struct net_device_ops {
	int (*ndo_init)(struct net_device *dev);
	void (*ndo_uninit)(struct net_device *dev);
	int (*ndo_open)(struct net_device *dev);
	int (*ndo_stop)(struct net_device *dev);
	netdev_tx_t (*ndo_start_xmit)(struct sk_buff *skb, struct net_device *dev);
	void (*ndo_get_stats64)(struct net_device *dev, struct rtnl_link_stats64 *storage);
	int (*ndo_set_mac_address)(struct net_device *dev, void *addr); /* addr: struct sockaddr * */
	int (*ndo_validate_addr)(struct net_device *dev);
	int (*ndo_change_mtu)(struct net_device *dev, int new_mtu);
	void (*ndo_set_rx_mode)(struct net_device *dev);
};

struct lxd_module;

struct net_device {
	char name[IFNAMSIZ];
	const struct net_device_ops *netdev_ops;
	unsigned int flags;           /* IFF_*; IFF_UP is set by the kernel on dev_open */
	unsigned int priv_flags;
	u64 features;
	unsigned int mtu, min_mtu, max_mtu;
	unsigned short type;          /* ARPHRD_* */
	unsigned short hard_header_len;
	unsigned char addr_len;
	unsigned char dev_addr[MAX_ADDR_LEN];
	unsigned char broadcast[MAX_ADDR_LEN];
	unsigned int tx_queue_len;
	struct net_device_stats stats;
	bool needs_free_netdev;       /* accepted; lxds drivers call free_netdev themselves */
	void (*priv_destructor)(struct net_device *dev);

	/* Kernel-private below: drivers must not touch (they are not marshalled). */
	unsigned long lxd_state;      /* LXD_NETDEV_* bits, atomic */
	int lxd_reg;                  /* registration state */
	struct lxd_module *lxd_owner; /* module that registered it */
	struct net_device *lxd_next;  /* the kernel's list of registered devices */
	struct net_device *lxd_all_next; /* every allocated device (owner cleanup) */
	u64 lxd_core_tx_dropped;      /* drops by the core (queue stopped, busy) */
	char lxd_name_fmt[IFNAMSIZ];
	size_t lxd_priv_size;
	void *lxd_priv;
};

/*
 * Allocate a device with @sizeof_priv bytes of zeroed private area and call
 * @setup on it.  @name may hold one "%d", filled in at registration with the
 * first free number.  Returns NULL when out of memory or @name is too long.
 */
struct net_device *alloc_netdev(int sizeof_priv, const char *name, unsigned char name_assign_type,
				void (*setup)(struct net_device *dev));
/* Free a device that is not registered (or was unregistered).  NULL is ignored. */
void free_netdev(struct net_device *dev);

/* The device's private area (driver-private: stays with the driver when isolated). */
void *netdev_priv(const struct net_device *dev);

/* Make the device visible (named, closed).  Returns 0, -EEXIST for a taken name, -EINVAL. */
int register_netdev(struct net_device *dev);
/* Close the device if open and remove it; after return no op of it is running or will run. */
void unregister_netdev(struct net_device *dev);

/* Transmit queue flow control (a driver stops the queue when its ring is full). */
void netif_start_queue(struct net_device *dev);
void netif_stop_queue(struct net_device *dev);
void netif_wake_queue(struct net_device *dev);
/* True when the transmit queue is stopped. */
bool netif_queue_stopped(const struct net_device *dev);

/* Link state. */
void netif_carrier_on(struct net_device *dev);
void netif_carrier_off(struct net_device *dev);
/* True when the link is up. */
bool netif_carrier_ok(const struct net_device *dev);
/* True when the device is open (IFF_UP). */
bool netif_running(const struct net_device *dev);

/*
 * Queue @skb for transmission on skb->dev.  The skb is consumed in every
 * case.  Returns NET_XMIT_SUCCESS; NET_XMIT_DROP when the queue is stopped
 * or the driver was busy (counted in tx_dropped); -ENETDOWN when the device
 * is not open; -EINVAL for an skb without a device or larger than MTU plus
 * the link header.
 */
int dev_queue_xmit(struct sk_buff *skb);

/* Bring the device up (ndo_open) / down (ndo_stop).  0 or -errno. */
int dev_open(struct net_device *dev);
int dev_close(struct net_device *dev);

/* Change the link address through ndo_set_mac_address.  0, -EOPNOTSUPP, -EINVAL, -EADDRNOTAVAIL. */
int dev_set_mac_address(struct net_device *dev, struct sockaddr *sa);
/* Change the MTU (within min_mtu..max_mtu, 0 max meaning none).  0 or -EINVAL. */
int dev_set_mtu(struct net_device *dev, int new_mtu);

/*
 * Fill @storage with the device's statistics: the driver's ndo_get_stats64
 * if it has one, else dev->stats; plus the drops counted by the core.
 * Returns @storage.
 */
struct rtnl_link_stats64 *dev_get_stats(struct net_device *dev, struct rtnl_link_stats64 *storage);

/* The registered device named @name, or NULL. */
struct net_device *dev_get_by_name(const char *name);

#endif
