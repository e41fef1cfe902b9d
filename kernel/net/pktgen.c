/* SPDX-License-Identifier: MIT */
/*
 * A packet generator, like Linux's pktgen: build Ethernet frames and push
 * them through dev_queue_xmit, as the stack would.  Each packet is a fresh
 * skb (allocation is part of the measured path, as in a real stack).
 */
#include <errno.h>
#include <string.h>

#include <arpa/inet.h>

#include <linux/etherdevice.h>
#include <linux/ktime.h>
#include <linux/netdevice.h>

#include "../internal.h"

int lxd_pktgen(struct net_device *dev, uint64_t count, unsigned size, struct lxd_pktgen_result *r)
{
	memset(r, 0, sizeof(*r));
	if (!dev || size < ETH_HLEN || size > dev->mtu + ETH_HLEN)
		return -EINVAL;
	uint64_t t0 = (uint64_t)ktime_get();
	for (uint64_t i = 0; i < count; i++) {
		struct sk_buff *skb = netdev_alloc_skb(dev, size);
		if (!skb)
			return -ENOMEM;
		struct ethhdr *eh = skb_put(skb, size);
		if (!eh) { /* cannot happen: the skb was sized for it */
			kfree_skb(skb);
			return -EINVAL;
		}
		memset(eh->h_dest, 0xff, ETH_ALEN);
		memcpy(eh->h_source, dev->dev_addr, ETH_ALEN);
		eh->h_proto = htons(ETH_P_IP);
		unsigned char *payload = (unsigned char *)(eh + 1);
		for (unsigned j = 0; j + ETH_HLEN < size && j < 8; j++)
			payload[j] = (unsigned char)(i >> (8 * j));
		skb->protocol = htons(ETH_P_IP);
		int rc = dev_queue_xmit(skb);
		if (rc == NET_XMIT_SUCCESS) {
			r->sent++;
		} else if (rc == NET_XMIT_DROP) {
			r->dropped++;
		} else {
			if (!r->errors)
				r->first_error = rc;
			r->errors++;
		}
	}
	r->ns = (uint64_t)ktime_get() - t0;
	return 0;
}
