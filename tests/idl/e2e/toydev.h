/* SPDX-License-Identifier: MIT */
/*
 * toydev: the example interface of the IDL end-to-end test.  A small
 * Linux-shaped subsystem: the "kernel" allocates devices and requests,
 * a driver fills in an ops table and registers it.  Native code would
 * include this header and link against the kernel; isolated, the driver
 * links against the stubs lxds-idlc generates from toydev.idl.
 */
#ifndef TOYDEV_H
#define TOYDEV_H

#include <stddef.h>

struct toy_dev;
struct toy_req;

struct toy_ops {
	int (*open)(struct toy_dev *d);
	long (*xmit)(struct toy_dev *d, void *buf, unsigned int len);
	int (*queue)(struct toy_dev *d, struct toy_req *rq);
	int (*set_mac)(struct toy_dev *d, const unsigned char *mac, unsigned int n);
	int (*ioctl)(struct toy_dev *d, unsigned int cmd);
	void (*stop)(struct toy_dev *d);
};

struct toy_dev {
	unsigned int id;             /* the kernel's number for it */
	int state;                   /* 0 down, 1 up: the driver sets it in open() */
	unsigned long long features;
	unsigned int secret;         /* not projected: must never cross */
	char name[16];
	const struct toy_ops *ops;
	unsigned long long tx_bytes; /* kernel-side statistics */
	unsigned long long rx_bytes;
};

/* A request the kernel hands to the driver, which completes it later. */
struct toy_req {
	unsigned long long sector;
	unsigned int len;
	void *data;                  /* in the shared arena */
	int result;
};

/* Configuration the driver owns and shows the kernel. */
struct toy_cfg {
	const char *label;
	unsigned int nq;
	unsigned int *queue_sizes;
	int generation;
};

/* The kernel's API. */
struct toy_dev *toy_alloc_dev(int priv_size);
int toy_register(struct toy_dev *d);
void toy_unregister(struct toy_dev *d);
void toy_free_dev(struct toy_dev *d);
int toy_attach_cfg(struct toy_dev *d, struct toy_cfg *cfg);
int toy_update_cfg(struct toy_cfg *cfg);
void toy_detach_cfg(struct toy_cfg *cfg);
void toy_complete(struct toy_req *rq, int status);
int toy_rx(struct toy_dev *d, void *buf, unsigned int len);
int toy_log(const char *msg);
int toy_sum(const int *vals, unsigned int n);
int toy_read_stats(unsigned int n, unsigned long long *out);

/* netdev_priv()'s rule: the private area follows the object, 32-byte aligned. */
static inline void *toy_priv(struct toy_dev *d)
{
	return (char *)d + ((sizeof(*d) + 31) & ~(size_t)31);
}

#endif
