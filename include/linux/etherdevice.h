/* SPDX-License-Identifier: MIT */
/* Ethernet helpers: setup, address checks, random addresses. */
#ifndef LXDS_LINUX_ETHERDEVICE_H
#define LXDS_LINUX_ETHERDEVICE_H

#include <linux/if_ether.h>
#include <linux/netdevice.h>
#include <string.h>

/* Fill in Ethernet defaults (type, MTU 1500, header length, broadcast address). */
void ether_setup(struct net_device *dev);

/* Allocate a net device with ether_setup as setup, named "eth%d". NULL on failure. */
struct net_device *alloc_etherdev(int sizeof_priv);

/* Give @dev a random, locally administered unicast address. */
void eth_hw_addr_random(struct net_device *dev);

/* Fill @addr with a random, locally administered unicast address. */
void eth_random_addr(u8 *addr);

/*
 * ndo_set_mac_address for Ethernet: @p is a struct sockaddr.  Returns 0, or
 * -EADDRNOTAVAIL for a multicast or zero address.
 */
int eth_mac_addr(struct net_device *dev, void *p);

/* ndo_validate_addr for Ethernet: 0 or -EADDRNOTAVAIL. */
int eth_validate_addr(struct net_device *dev);

static inline bool is_zero_ether_addr(const u8 *a) { return !(a[0] | a[1] | a[2] | a[3] | a[4] | a[5]); }
static inline bool is_multicast_ether_addr(const u8 *a) { return a[0] & 0x01; }
static inline bool is_broadcast_ether_addr(const u8 *a) { return (a[0] & a[1] & a[2] & a[3] & a[4] & a[5]) == 0xff; }
static inline bool is_valid_ether_addr(const u8 *a) { return !is_multicast_ether_addr(a) && !is_zero_ether_addr(a); }
static inline void eth_hw_addr_set(struct net_device *dev, const u8 *addr) { memcpy(dev->dev_addr, addr, ETH_ALEN); }
static inline void ether_addr_copy(u8 *dst, const u8 *src) { memcpy(dst, src, ETH_ALEN); }
static inline bool ether_addr_equal(const u8 *a, const u8 *b) { return memcmp(a, b, ETH_ALEN) == 0; }

#endif
