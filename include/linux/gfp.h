/* SPDX-License-Identifier: MIT */
#ifndef LXDS_LINUX_GFP_H
#define LXDS_LINUX_GFP_H

#include <linux/types.h>

/* Accepted for source compatibility; lxds allocators never sleep on reclaim. */
#define GFP_KERNEL 0x0cc0u
#define GFP_ATOMIC 0x0820u
#define GFP_NOIO 0x0c00u
#define __GFP_ZERO 0x100u

#endif
