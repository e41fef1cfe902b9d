/* SPDX-License-Identifier: MIT */
/*
 * Kernel integer types (u8 ... u64, sector_t, gfp_t) on top of the system's
 * UAPI <linux/types.h> (__u8 ...).  glibc and other system headers include
 * <linux/types.h> too, and include/ is on every lxds layer's search path, so
 * this file must stay a strict superset of the system header: it only adds
 * typedefs whose names user space does not use.
 */
#ifndef LXDS_LINUX_TYPES_H
#define LXDS_LINUX_TYPES_H

#include_next <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;

/* A 512-byte sector number, whatever the device's logical block size. */
typedef u64 sector_t;

/* Allocation flags; lxds has one allocator, they are accepted and ignored. */
typedef unsigned int gfp_t;

#endif
