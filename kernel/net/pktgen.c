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

/* Reap transmit completions every this many packets (NAPI reaps a budget at a time too). */
#define PKTGEN_POLL_EVERY 64u

int lxd_pktgen(struct net_device *dev, uint64_t count, unsigned size, struct lxd_pktgen_result *r)
{
	memset(r, 0, sizeof(*r));
	if (!dev || size < ETH_HLEN || size > dev->mtu + ETH_HLEN)
		return -EINVAL;
	/* Like Linux's pktgen kthread, the loop polls for its own transmit
	 * completions: an isolated driver's transmits then go over this
	 * thread's lane (docs/isolation.md) instead of a hand-off.  Native
	 * drivers complete inline; the poll finds nothing. */
	enum lxd_gen_poll gp = lxd_gen_poll_begin();
	bool polling = gp != GEN_POLL_NONE;
	uint64_t t0 = (uint64_t)ktime_get();
	int err = 0;
	for (uint64_t i = 0; i < count; i++) {
		struct sk_buff *skb = netdev_alloc_skb(dev, size);
		if (!skb) {
			err = -ENOMEM;
			break;
		}
		struct ethhdr *eh = skb_put(skb, size);
		if (!eh) { /* cannot happen: the skb was sized for it */
			kfree_skb(skb);
			err = -EINVAL;
			break;
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
		if (polling && (i & (PKTGEN_POLL_EVERY - 1)) == PKTGEN_POLL_EVERY - 1)
			lxd_poll(0);
	}
	lxd_gen_poll_end(gp); /* every packet handed over has been through the driver: inside the clock */
	r->ns = (uint64_t)ktime_get() - t0;
	return err;
}
