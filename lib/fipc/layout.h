/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory layout of a channel.  Private to lib/fipc: users see only
 * struct lxd_chan.  Offsets, not pointers, so both processes can map it
 * anywhere.
 *
 *   line 0       header: magic, version, slots (written once by format)
 *   line 1, 2    doorbell of direction 0 (kernel->domain) and 1 (domain->kernel)
 *   line 3, 4    call line of direction 0 and 1
 *   lines 5...   ring of direction 0: slots lines, then ring of direction 1
 *
 * Direction d is received by side (d == 0 ? domain : kernel).
 */
#ifndef LXDS_FIPC_LAYOUT_H
#define LXDS_FIPC_LAYOUT_H

#include "lxds/fipc.h"

#define LXD_CHAN_MAGIC 0x6c78647343484e31ull /* "lxdsCHN1" */
#define LXD_CHAN_VERSION 1u

struct lxd_chan_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t slots;
} LXD_CACHE_ALIGNED;

struct lxd_chan_shared {
	struct lxd_chan_hdr hdr;
	struct lxd_doorbell bell[2];
	struct lxd_msg call[2];
	struct lxd_msg ring[]; /* 2 * slots */
};

_Static_assert(sizeof(struct lxd_chan_shared) == 5 * LXD_CACHE_LINE, "layout");

#endif
