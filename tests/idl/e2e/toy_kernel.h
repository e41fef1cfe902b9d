/* SPDX-License-Identifier: MIT */
/* What the toydev "kernel" records, for the end-to-end test. */
#ifndef TOY_KERNEL_H
#define TOY_KERNEL_H

#include <stdio.h>

#include "toydev.h"

#define TOY_KERNEL_SECRET 0xdeadu

struct toy_kernel_state {
	unsigned next_id;
	int last_priv_size;
	struct toy_dev *allocated, *registered;
	unsigned freed;
	struct toy_cfg *cfg;          /* the kernel's shadow of the driver's cfg */
	char label[40];
	unsigned nq, queue_sizes[8];
	unsigned cfg_updates, detached;
	unsigned completed;
	int last_result, last_status;
	unsigned char rx[64];
	unsigned rx_len;
	char log[512];
};

extern struct toy_kernel_state toy_k;

#endif
