/* SPDX-License-Identifier: MIT */
/*
 * The crossing between the kernel and an isolated driver, as C prototypes:
 * what kmod.idl, netdev.idl and blkdev.idl describe and lxds-idlc turns
 * into caller stubs and handlers on both sides.
 *
 * Functions named lxd_k* are implemented by the kernel (kernel/isolated/)
 * and called by the domain's support library (kernel/domain/) when the
 * driver calls alloc_netdev, netif_carrier_on, blk_mq_end_request, ...;
 * functions named lxd_d* are implemented in the domain and called by the
 * kernel through the ops tables it installs for an isolated driver.
 *
 * Kernel objects (net devices, sk_buffs, tag sets, disks, requests) cross
 * as capability references into the domain's table (unsigned long long):
 * the kernel checks every one it gets back.  Data crosses as arena
 * buffers.  Errors are negative errno values.
 */
#ifndef LXDS_ISO_IF_H
#define LXDS_ISO_IF_H

#include <errno.h>
#include <stdint.h>

/* Capability types of kernel objects a domain may name. */
enum { LXD_ISO_T_NETDEV = 40, LXD_ISO_T_SKB, LXD_ISO_T_TAGSET, LXD_ISO_T_DISK, LXD_ISO_T_REQ };

/* ---- module (kmod.idl) ---- */

/* Domain: set module parameter "name=value".  0, -ENOENT, -EINVAL. */
int lxd_dmod_param(const char *assignment);
/* Domain: run the module's init.  Its result. */
int lxd_dmod_init(void);
/* Domain: run the module's exit.  0, -EALREADY if init did not succeed. */
int lxd_dmod_exit(void);
/* Domain: nothing; answered after every request sent before it was handled.  0. */
int lxd_dmod_ping(void);

/*
 * Domain: attach a lane, a channel of @slots slots per direction that the
 * kernel formatted in @mem (an arena buffer of @bytes bytes), and serve
 * the same rpcs on it as on the main channel.  The lane's number (>= 0),
 * -EINVAL (bad geometry), -EPROTO (not a formatted channel), -ENOSPC.
 * Requests the driver makes while serving a lane go on the main channel.
 */
int lxd_dlane_open(void *mem, unsigned int bytes, unsigned int slots);
/* Domain: detach lane @lane (nothing in flight on it).  0, -ENOENT, -EBUSY. */
int lxd_dlane_close(int lane);
/* Slots per direction of a lane. */
#define LXD_LANE_SLOTS 256u

/* ---- net (netdev.idl) ---- */

/* The fields a driver sets up before register_netdev, sent as bytes. */
struct lxd_net_cfg {
	uint32_t flags, priv_flags, mtu, min_mtu, max_mtu, tx_queue_len;
	uint64_t features;
	uint16_t type, hard_header_len;
	uint8_t addr_len, pad[3];
	uint8_t dev_addr[32], broadcast[32];
	uint32_t ops; /* LXD_NET_HAS_* bits: which ndo_ the driver has */
	uint32_t pad2;
};

enum {
	LXD_NET_HAS_OPEN = 1u << 0,
	LXD_NET_HAS_STOP = 1u << 1,
	LXD_NET_HAS_XMIT = 1u << 2,
	LXD_NET_HAS_STATS = 1u << 3,
	LXD_NET_HAS_SET_MAC = 1u << 4,
	LXD_NET_HAS_VALIDATE = 1u << 5,
	LXD_NET_HAS_MTU = 1u << 6,
};

/* lxd_knet_state operations. */
enum {
	LXD_NET_START_QUEUE, LXD_NET_STOP_QUEUE, LXD_NET_WAKE_QUEUE, LXD_NET_CARRIER_ON,
	LXD_NET_CARRIER_OFF, LXD_NET_Q_STOPPED, LXD_NET_Q_CARRIER, LXD_NET_Q_RUNNING,
};

/* lxd_dnet_xmit's result: the netdev_tx_t in the low byte, plus these. */
#define LXD_XMIT_CONSUMED 0x100 /* the driver freed the skb during the call */
#define LXD_XMIT_DROPPED 0x200  /* ... as a drop (kfree_skb) */

/* Kernel: a net device with no private area (it stays in the domain).  Its reference or -errno. */
long long lxd_knet_alloc(const char *name);
/* Kernel: copy @cfg (a struct lxd_net_cfg of @n bytes) in and register.  register_netdev's result. */
int lxd_knet_register(unsigned long long dev, const unsigned char *cfg, unsigned int n);
/* Kernel: unregister_netdev / free_netdev. */
void lxd_knet_unregister(unsigned long long dev);
void lxd_knet_free(unsigned long long dev);
/* Kernel: a queue or carrier operation (LXD_NET_*); queries return 0 or 1.  -errno for a bad ref. */
int lxd_knet_state(unsigned long long dev, unsigned int op);
/* Kernel: the driver freed an skb it kept past its xmit. */
void lxd_knet_consume(unsigned long long skb, int dropped);
/* Kernel: the driver changed the device's address / MTU in its copy. */
int lxd_knet_sync(unsigned long long dev, unsigned long long addr, unsigned int mtu);

/* Domain: ndo_open / ndo_stop / ndo_validate_addr / ndo_change_mtu. */
int lxd_dnet_open(unsigned long long dev);
int lxd_dnet_stop(unsigned long long dev);
int lxd_dnet_validate_addr(unsigned long long dev);
int lxd_dnet_change_mtu(unsigned long long dev, int mtu);
/* Domain: ndo_start_xmit of skb @skb whose buffer [head, head + size) holds @len bytes at @data_off. */
int lxd_dnet_xmit(unsigned long long dev, unsigned long long skb, void *head, unsigned int size,
		  unsigned int data_off, unsigned int len, unsigned int protocol);
/*
 * Domain: ndo_start_xmit for @n skbs in one message, described by @desc
 * (@nw = 1 + @n * LXD_XMIT_DESC_WORDS words): desc[0] is the batch's
 * reference (skb i's is desc[0] | i << LXD_XMIT_REF_INDEX_SHIFT; 0: none),
 * then per skb two words,
 *   buffer address (in the arena, below 2^48) | protocol << 48,
 *   size | data_off << 21 | len << 42   (LXD_XMIT_FIELD_BITS each),
 * 16 bytes a packet: the descriptors are what crosses between the cores.
 * An skb's buffer is at most 1 MiB (skb_alloc_for), so 21 bits hold any of
 * the three.  Answer i, what lxd_dnet_xmit would have returned for skb i,
 * is nibble i of @res (@nr = LXD_XMIT_RES_BYTES(@n) bytes, lxd_xmit_res_*):
 * a batch's 64 answers are 32 bytes, and the reply fits its message
 * instead of a line of the spill block the kernel would then fetch from
 * the domain's core.  Returns 0.
 */
#define LXD_XMIT_DESC_WORDS 2
#define LXD_XMIT_REF_INDEX_SHIFT 24
#define LXD_XMIT_FIELD_BITS 21
#define LXD_XMIT_BATCH_MAX 64
#define LXD_XMIT_RES_BYTES(n) (((n) + 1u) / 2u)
int lxd_dnet_xmit_batch(unsigned long long dev, unsigned int nw, const unsigned long long *desc,
			unsigned int n, unsigned int nr, unsigned char *res);
/* One skb's two descriptor words, written (kernel) and read (domain) here only. */
struct lxd_xmit_desc {
	void *head;
	unsigned size, data_off, len, protocol;
};
static inline void lxd_xmit_desc_put(unsigned long long d[LXD_XMIT_DESC_WORDS], const struct lxd_xmit_desc *x)
{
	d[0] = (uint64_t)(uintptr_t)x->head | (uint64_t)x->protocol << 48;
	d[1] = (uint64_t)x->size | (uint64_t)x->data_off << LXD_XMIT_FIELD_BITS |
	       (uint64_t)x->len << (2 * LXD_XMIT_FIELD_BITS);
}
static inline struct lxd_xmit_desc lxd_xmit_desc_get(const unsigned long long d[LXD_XMIT_DESC_WORDS])
{
	const uint64_t field = (1ull << LXD_XMIT_FIELD_BITS) - 1;
	return (struct lxd_xmit_desc){
		.head = (void *)(uintptr_t)(d[0] & ((1ull << 48) - 1)),
		.size = (unsigned)(d[1] & field),
		.data_off = (unsigned)(d[1] >> LXD_XMIT_FIELD_BITS & field),
		.len = (unsigned)(d[1] >> (2 * LXD_XMIT_FIELD_BITS) & field),
		.protocol = (unsigned)(d[0] >> 48),
	};
}

/* A transmit's answer in four bits: bits 0-1 the netdev_tx_t (0 OK, 1
 * anything else), 3 an error (the skb was not looked at); bit 2 CONSUMED,
 * bit 3 DROPPED. */
#define LXD_XMIT_RES_BUSY 0x1u
#define LXD_XMIT_RES_ERROR 0x3u
#define LXD_XMIT_RES_CONSUMED 0x4u
#define LXD_XMIT_RES_DROPPED 0x8u
static inline unsigned lxd_xmit_res_pack(int rc)
{
	if (rc < 0)
		return LXD_XMIT_RES_ERROR;
	return ((rc & 0xff) ? LXD_XMIT_RES_BUSY : 0) | (rc & LXD_XMIT_CONSUMED ? LXD_XMIT_RES_CONSUMED : 0) |
	       (rc & LXD_XMIT_DROPPED ? LXD_XMIT_RES_DROPPED : 0);
}
/* Back to lxd_dnet_xmit's form (an error: -EIO; anything but OK: NETDEV_TX_BUSY's 0x10). */
static inline int lxd_xmit_res_unpack(unsigned v)
{
	if ((v & 3u) == LXD_XMIT_RES_ERROR)
		return -EIO;
	return ((v & 3u) ? 0x10 : 0) | (v & LXD_XMIT_RES_CONSUMED ? LXD_XMIT_CONSUMED : 0) |
	       (v & LXD_XMIT_RES_DROPPED ? LXD_XMIT_DROPPED : 0);
}
/* Answer @i of @res (low nibble first). */
static inline unsigned lxd_xmit_res_get(const unsigned char *res, unsigned i)
{
	return (unsigned)res[i / 2] >> (4 * (i & 1)) & 0xfu;
}
static inline void lxd_xmit_res_set(unsigned char *res, unsigned i, unsigned v)
{
	unsigned sh = 4 * (i & 1);
	res[i / 2] = (unsigned char)((res[i / 2] & ~(0xfu << sh)) | (v & 0xfu) << sh);
}
/* Its [callback] form (kernel side, the generated glue): send, and in @done decode with _reply. */
struct lxd_glue_buf;
struct lxd_glue_pending;
int lxd_dnet_xmit_batch_cb(unsigned long long dev, unsigned int nw, const unsigned long long *desc,
			   unsigned int n, unsigned int nr, unsigned char *res, struct lxd_glue_pending *pc,
			   void (*done)(void *arg, int err, struct lxd_glue_buf *rep), void *arg);
int lxd_dnet_xmit_batch_reply(struct lxd_glue_buf *rep, int *ret, unsigned long long dev, unsigned int nw,
			      const unsigned long long *desc, unsigned int n, unsigned int nr, unsigned char *res);
/* Domain: ndo_get_stats64 into @st (@n u64 counters of struct rtnl_link_stats64). */
int lxd_dnet_get_stats(unsigned long long dev, unsigned int n, unsigned long long *st);
/* Domain: ndo_set_mac_address with @addr (6 bytes, little-endian in the word) of @family. */
int lxd_dnet_set_mac(unsigned long long dev, unsigned long long addr, unsigned int family);

/* ---- block (blkdev.idl) ---- */

/* Kernel: a tag set of @nr_hw_queues x @queue_depth requests.  Its reference or -errno. */
long long lxd_kblk_alloc_tag_set(unsigned int nr_hw_queues, unsigned int queue_depth,
				 unsigned int flags);
void lxd_kblk_free_tag_set(unsigned long long set);
/* Kernel: a disk on @set with these limits.  Its reference or -errno. */
long long lxd_kblk_alloc_disk(unsigned long long set, unsigned int lbs, unsigned int pbs,
			      unsigned int max_hw_sectors, unsigned int max_segments);
/* Kernel: name, capacity, add_disk.  add_disk's result. */
int lxd_kblk_add_disk(unsigned long long disk, const char *name, unsigned long long capacity);
void lxd_kblk_set_capacity(unsigned long long disk, unsigned long long sectors);
void lxd_kblk_del_gendisk(unsigned long long disk);
void lxd_kblk_put_disk(unsigned long long disk);
/* Kernel: blk_mq_end_request / blk_mq_complete_request of a request the driver holds. */
void lxd_kblk_end(unsigned long long rq, int status);
void lxd_kblk_complete(unsigned long long rq);

/*
 * Domain: queue_rq for request @rq (index @hwq_tag = hwq << 16 | tag of
 * tag set @set): op and flags, first sector, data in the arena.  Returns
 * the blk_status_t queue_rq returned, with LXD_RQ_* bits.
 */
int lxd_dblk_queue_rq(unsigned long long set, unsigned long long rq, unsigned int hwq_tag,
		      unsigned int cmd_flags, unsigned long long sector, void *buf, unsigned int bytes);
/*
 * Domain: queue_rq for @n requests of @set in one message, the last one
 * with bd->last true.  @desc holds LXD_RQ_DESC_WORDS words per request:
 * the kernel's request reference, hwq_tag, cmd_flags << 32 | bytes,
 * sector, and the data's address in the arena (0: none).  @res[i] gets
 * what lxd_dblk_queue_rq would return for request i, in a byte
 * (lxd_rq_res_pack): a batch's answers then ride in the reply message
 * itself, where ints (16 a batch: 64 bytes) spilled into a block whose line
 * the kernel fetched from the domain's core.  0, or -EINVAL / -EBADF for
 * the whole batch (nothing queued).
 */
#define LXD_RQ_DESC_WORDS 5
#define LXD_RQ_BATCH_MAX 32
int lxd_dblk_queue_rqs(unsigned long long set, unsigned int nw, const unsigned long long *desc,
		       unsigned int n, unsigned char *res);
/* Its [callback] form (kernel side, the generated glue): send, and in @done decode with _reply. */
struct lxd_glue_buf;
struct lxd_glue_pending;
int lxd_dblk_queue_rqs_cb(unsigned long long set, unsigned int nw, const unsigned long long *desc,
			  unsigned int n, unsigned char *res, struct lxd_glue_pending *pc,
			  void (*done)(void *arg, int err, struct lxd_glue_buf *rep), void *arg);
int lxd_dblk_queue_rqs_reply(struct lxd_glue_buf *rep, int *ret, unsigned long long set, unsigned int nw,
			     const unsigned long long *desc, unsigned int n, unsigned char *res);
/* Domain: ops->complete for the request at @hwq_tag of @set.  0, with LXD_RQ_ENDED bits. */
int lxd_dblk_complete(unsigned long long set, unsigned int hwq_tag);

/*
 * What a driver did to the request inside the call, answered with it
 * instead of a message of its own: ended it (blk_mq_end_request, status in
 * bits 16..23), or asked for its completion (blk_mq_complete_request).
 */
#define LXD_RQ_ENDED 0x100
#define LXD_RQ_COMPLETE 0x200
#define LXD_RQ_END_STATUS(rc) (((unsigned)(rc) >> 16) & 0xff)

/*
 * A batch's answer in a byte: bit 7 an error (the request was not looked
 * at), 6 ended (status in bits 0-3), 5 complete, else bits 0-3 the status
 * queue_rq returned.  blk_status_t values are below 16 (linux/blkdev.h); a
 * larger one, which only a misbehaving driver returns, becomes an I/O
 * error, as the kernel would end such a request anyway.
 */
#define LXD_RQ_RES_ERROR 0x80u
#define LXD_RQ_RES_ENDED 0x40u
#define LXD_RQ_RES_COMPLETE 0x20u
#define LXD_RQ_RES_IOERR 10u /* BLK_STS_IOERR */
static inline unsigned char lxd_rq_res_pack(int rc)
{
	if (rc < 0)
		return LXD_RQ_RES_ERROR;
	unsigned st = rc & LXD_RQ_ENDED ? LXD_RQ_END_STATUS(rc) : (unsigned)rc & 0xffu;
	if (st > 15)
		st = LXD_RQ_RES_IOERR;
	return (unsigned char)((rc & LXD_RQ_ENDED ? LXD_RQ_RES_ENDED : 0) |
			       (rc & LXD_RQ_COMPLETE ? LXD_RQ_RES_COMPLETE : 0) | st);
}
/* Back to lxd_dblk_queue_rq's form (an error: -EIO). */
static inline int lxd_rq_res_unpack(unsigned char v)
{
	if (v & LXD_RQ_RES_ERROR)
		return -EIO;
	unsigned st = v & 0xfu;
	if (v & LXD_RQ_RES_ENDED)
		return (int)(LXD_RQ_ENDED | st << 16 | (v & LXD_RQ_RES_COMPLETE ? LXD_RQ_COMPLETE : 0));
	return (int)((v & LXD_RQ_RES_COMPLETE ? LXD_RQ_COMPLETE : 0) | st);
}

#endif
