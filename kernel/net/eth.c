/* SPDX-License-Identifier: MIT */
/* Ethernet helpers: ether_setup, MAC address changes and random addresses. */
#include <errno.h>
#include <linux/if_arp.h>
#include <string.h>
#include <sys/random.h>

#include <linux/etherdevice.h>

#include "ether_setup.h"

void ether_setup(struct net_device *dev)
{
	lxd_ether_setup_fields(dev);
}

struct net_device *alloc_etherdev(int sizeof_priv)
{
	return alloc_netdev(sizeof_priv, "eth%d", NET_NAME_ENUM, ether_setup);
}

void eth_random_addr(u8 *addr)
{
	/* getrandom of 6 bytes from the urandom pool does not block once the pool is up. */
	if (getrandom(addr, ETH_ALEN, 0) != ETH_ALEN) {
		static unsigned n;
		for (int i = 0; i < ETH_ALEN; i++)
			addr[i] = (u8)(++n * 37u + (unsigned)i);
	}
	addr[0] &= 0xfe; /* unicast */
	addr[0] |= 0x02; /* locally administered */
}

void eth_hw_addr_random(struct net_device *dev)
{
	u8 a[ETH_ALEN];
	eth_random_addr(a);
	eth_hw_addr_set(dev, a);
}

int eth_mac_addr(struct net_device *dev, void *p)
{
	const struct sockaddr *sa = p;
	if (!sa || !is_valid_ether_addr((const u8 *)sa->sa_data))
		return -EADDRNOTAVAIL;
	eth_hw_addr_set(dev, (const u8 *)sa->sa_data);
	return 0;
}

int eth_validate_addr(struct net_device *dev)
{
	return is_valid_ether_addr(dev->dev_addr) ? 0 : -EADDRNOTAVAIL;
}
