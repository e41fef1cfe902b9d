/* SPDX-License-Identifier: MIT */
/*
 * ether_setup's fields, shared by the kernel's ether_setup (kernel/net/eth.c)
 * and the one a driver calls inside its domain (kernel/domain/dnet.c, which
 * writes the driver's copy of the device).  Two binaries, one definition.
 */
#ifndef LXDS_KERNEL_NET_ETHER_SETUP_H
#define LXDS_KERNEL_NET_ETHER_SETUP_H

#include <string.h>

#include <linux/etherdevice.h>
#include <linux/if_arp.h>

static inline void lxd_ether_setup_fields(struct net_device *dev)
{
	dev->type = ARPHRD_ETHER;
	dev->hard_header_len = ETH_HLEN;
	dev->mtu = ETH_DATA_LEN;
	dev->min_mtu = ETH_MIN_MTU;
	dev->max_mtu = ETH_DATA_LEN;
	dev->addr_len = ETH_ALEN;
	dev->tx_queue_len = 1000;
	dev->flags = IFF_BROADCAST | IFF_MULTICAST;
	memset(dev->broadcast, 0xff, ETH_ALEN);
}

#endif
