/* SPDX-License-Identifier: MIT */
/*
 * The lxds side of the fio engine: the in-fio kernel and the one driver it
 * loads, behind an interface that needs neither fio's headers nor
 * include/linux/ (the two must not meet in one translation unit: both
 * define list and compiler helpers of the same names).
 */
#ifndef LXDS_FIO_LXFIO_H
#define LXDS_FIO_LXFIO_H

#include <stddef.h>
#include <stdint.h>

#include "lxds/kernel.h"

/* What an engine job asks for (its options). */
struct lxfio_conf {
	const char *driver; /* module name, found with lxd_module_find */
	const char *mode;   /* "native" or "isolated" */
	const char *params; /* "name=value" list separated by ',' or ':' (may be NULL) */
};

/* A loaded driver and its first disk, shared by every job of one process. */
struct lxfio_inst;

/* fio's data directions, as the engine maps them. */
enum lxfio_op { LXFIO_READ, LXFIO_WRITE, LXFIO_FLUSH, LXFIO_DISCARD };

/*
 * Size of the disk the driver would add with @c, found by loading it in a
 * short-lived child process so that the calling process (fio's parent,
 * which later forks the jobs) never starts a kernel.  Native mode: the disk's
 * geometry is the driver's answer to its parameters, whatever the mode.
 * Returns 0 with *@bytes and *@lbs set, or -errno with @err filled.
 */
int lxfio_probe(const struct lxfio_conf *c, uint64_t *bytes, unsigned *lbs, char *err, size_t errlen);

/*
 * Load the driver (first caller in the process) or take another reference
 * on the loaded one, which must have the same configuration.  Returns 0 with
 * *@out set, or -errno with @err filled (-ENOSYS: no domain can start on this system).
 */
int lxfio_get(const struct lxfio_conf *c, struct lxfio_inst **out, char *err, size_t errlen);

/* Drop a reference; the last one unloads the driver. */
void lxfio_put(struct lxfio_inst *in);

/* The disk's size in bytes and logical block size. */
uint64_t lxfio_bytes(const struct lxfio_inst *in);
unsigned lxfio_lbs(const struct lxfio_inst *in);

/* I/O buffer memory the driver can see (lxd_data_alloc for its module).  NULL when out of memory. */
void *lxfio_buf_alloc(const struct lxfio_inst *in, size_t len);
void lxfio_buf_free(void *p);

/*
 * Fill @io for @op at byte @offset of @len bytes and submit it.  Returns 0
 * (io->end_io runs exactly once, possibly before this returns) or the
 * rejection's -errno (end_io not called).
 */
int lxfio_submit(struct lxfio_inst *in, struct lxd_blk_io *io, enum lxfio_op op, uint64_t offset,
		 uint32_t len, void *buf);

#endif
