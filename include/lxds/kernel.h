/* SPDX-License-Identifier: MIT */
/*
 * The kernel side of lxds, as seen by its host: load driver modules (native
 * or isolated), allocate data buffers, push packets and block I/O through
 * registered devices, and count live objects (to prove nothing leaks).
 *
 * Drivers never include this header: they see only include/linux/.
 */
#ifndef LXDS_KERNEL_H
#define LXDS_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lxds/module_abi.h"

struct net_device;
struct gendisk;

/* ---- modules (kernel/module.c) ---- */

enum lxd_module_mode {
	LXD_MODULE_NATIVE,   /* dlopen into the kernel process */
	LXD_MODULE_ISOLATED, /* the same .so in a sandboxed domain */
};

struct lxd_module;

/*
 * Load the module at @path with @nparams "name=value" parameters and run its
 * init.  Returns 0 with *@out set; -ENOENT (no such file), -ENOEXEC (not a
 * module or wrong ABI), -ENOENT/-EINVAL for a bad parameter, init's own
 * -errno; isolated (each module its own domain): -ECHILD/-ETIMEDOUT when
 * its domain does not start, -EIO when it dies during init.
 */
int lxd_module_load(const char *path, enum lxd_module_mode mode, const char *const *params,
		    size_t nparams, struct lxd_module **out);

/*
 * Run the module's exit, unregister whatever it left registered (logged:
 * a driver bug), and unload it.  Returns 0, or -EBUSY if called from inside
 * the module's own init or exit.
 */
int lxd_module_unload(struct lxd_module *m);

/* The module's name and ABI information. */
const char *lxd_module_name(const struct lxd_module *m);
const struct lxd_module_info *lxd_module_get_info(const struct lxd_module *m);
enum lxd_module_mode lxd_module_get_mode(const struct lxd_module *m);

/*
 * Find module @name ("dummy") as a file: "<dir>/<name>.so", "<dir>/net/...",
 * "<dir>/block/..." for each dir in $LXDS_DRIVER_PATH (colon-separated),
 * then the build's drivers/ folder.  Returns 0 with @buf filled, -ENOENT,
 * or -ENAMETOOLONG.
 */
int lxd_module_find(const char *name, char *buf, size_t len);

/* "native"/"isolated" to a mode.  0 or -EINVAL. */
int lxd_module_mode_parse(const char *s, enum lxd_module_mode *mode);

/* ---- isolated modules (kernel/isolated/, docs/isolation.md) ---- */

/*
 * How the kernel hands ndo_start_xmit to an isolated driver:
 * SYNC   one transmit at a time: the caller waits for the driver's answer
 *        (NETDEV_TX_BUSY reaches dev_queue_xmit, as natively);
 * ASYNC  the caller queues the skb and returns NETDEV_TX_OK at once; the
 *        domain's dispatcher keeps many transmits in flight, and a driver
 *        that says busy has the skb dropped (counted in tx_dropped).
 * BATCH  as ASYNC, and transmits queued back to back for one device cross
 *        in one message (up to 64): fewer messages when the sender is
 *        faster than the domain.
 * Native modules ignore it.  The default is ASYNC.
 */
enum lxd_xmit_mode { LXD_XMIT_ASYNC = 0, LXD_XMIT_SYNC = 1, LXD_XMIT_BATCH = 2 };

/*
 * Wait until every transmit (or other call) queued for @m's domain before
 * this call has been handled by the driver: what a benchmark of the async
 * modes waits for before it stops the clock.  Returns 0 (native: at once),
 * -EIO when the domain is dead.
 */
int lxd_module_flush(struct lxd_module *m);

/* "sync" / "async" / "batch" to a mode.  0 or -EINVAL. */
int lxd_xmit_mode_parse(const char *s, enum lxd_xmit_mode *mode);

/* Set @m's transmit mode.  0, or -EINVAL (native module, bad mode). */
int lxd_module_set_xmit_mode(struct lxd_module *m, enum lxd_xmit_mode mode);

/*
 * Kill @m's domain (SIGKILL), as a crash would: in-flight transmits and
 * I/Os complete with errors and the kernel unregisters the module's
 * devices (asynchronously; lxd_module_alive() turns false at once).  The
 * module stays loaded until lxd_module_unload().  Returns 0, -EINVAL for a
 * native module, -ESRCH when the domain is already dead.
 */
int lxd_module_kill(struct lxd_module *m);

/*
 * Polling threads (kernel/isolated/lane.c, docs/isolation.md).  After
 * lxd_poll_begin(), the calling thread's calls into an isolated module
 * (queue_rq of its I/O, its transmits) go over a channel of the thread's
 * own, started right where they are made, instead of being handed to the
 * module's dispatcher thread; their completions (end_io, the end of a
 * transmit) then run only inside lxd_poll() on this thread -- as io_uring's
 * IOPOLL reaps polled I/O.  The kernel's own waits on this thread (a free
 * tag, lxd_blk_rw) poll by themselves.  One isolated module per thread
 * gets a lane; calls into others, and native modules, work as without.
 *
 * lxd_poll_begin: 0, -EBUSY (already polling), -EINVAL (a dispatcher thread).
 * lxd_poll: run the completions that are in; with @wait_ns != 0 and none
 *   in yet but calls in flight, wait up to @wait_ns ns (-1: no limit) for
 *   one.  I/O the completions submit is plugged until they have all run.
 *   Returns how many messages were taken (0: nothing happened).
 *   A polling thread must keep polling while it has calls in flight: the
 *   domain's hang deadline counts from its last answer taken.
 * lxd_poll_inflight: calls started on this thread's lane, not finished.
 * lxd_poll_drain: send what is pending and wait for every call in flight,
 *   keeping the lane for the thread's next calls (setting one up is a call
 *   through the dispatcher and a new channel, runtime and glue: a generator
 *   that runs again drains between runs instead of ending).  0, or -EINVAL
 *   when the thread does not poll.
 * lxd_poll_end: lxd_poll_drain, then take the lane down.  0.  Also run
 *   when a polling thread exits.
 */
int lxd_poll_begin(void);
int lxd_poll(int64_t wait_ns);
unsigned lxd_poll_inflight(void);
int lxd_poll_drain(void);
int lxd_poll_end(void);

/* What crossed to an isolated module's domain, for tests and benchmarks. */
struct lxd_iso_stats {
	uint64_t rq_zero_copy;  /* requests whose data was already in the arena */
	uint64_t rq_bounced;    /* requests copied through an arena buffer */
	uint64_t xmit_msgs;     /* transmit messages (one skb, or a batch) */
	uint64_t xmit_skbs;     /* skbs they carried */
	uint64_t lanes_opened;  /* lanes set up to the domain: one per thread per lxd_poll_begin..end */
};

/* Copy @m's counters into @st.  0, or -EINVAL for a native module. */
int lxd_module_iso_stats(const struct lxd_module *m, struct lxd_iso_stats *st);

/* False once an isolated module's domain has died.  Native: true. */
bool lxd_module_alive(const struct lxd_module *m);

/* The @idx-th net device / disk registered by @m (in registration order), or NULL. */
struct net_device *lxd_module_netdev(const struct lxd_module *m, unsigned idx);
struct gendisk *lxd_module_disk(const struct lxd_module *m, unsigned idx);

/* ---- data buffers (kernel/mem.c) ---- */

/*
 * A buffer for data that crosses to a driver (skb data, request pages),
 * from the memory @owner can see: the kernel's heap for a native module (or
 * NULL), the domain's shared arena for an isolated one.  Buffers of a page
 * or more are page-aligned, others 64-byte aligned.  NULL when out of memory.
 */
void *lxd_data_alloc(const struct lxd_module *owner, size_t len);
/* Free a buffer from lxd_data_alloc.  NULL is ignored. */
void lxd_data_free(void *p);

/* ---- live objects (for leak checks) ---- */

struct lxd_kernel_counts {
	long data_buffers; /* lxd_data_alloc blocks not freed */
	long skbs;         /* sk_buffs not freed */
	long netdevs;      /* net devices allocated and not freed */
	long netdevs_registered;
	long disks;        /* gendisks allocated and not put */
	long disks_added;
	long requests;     /* block requests in flight */
	long modules;      /* modules loaded */
};

/* A snapshot of the counts. */
void lxd_kernel_get_counts(struct lxd_kernel_counts *c);

/* ---- net: packet generator (kernel/net/pktgen.c) ---- */

struct lxd_pktgen_result {
	uint64_t sent;     /* accepted by the driver (NET_XMIT_SUCCESS) */
	uint64_t dropped;  /* NET_XMIT_DROP */
	uint64_t errors;   /* -errno from dev_queue_xmit (first one in first_error) */
	int first_error;
	uint64_t ns;       /* wall time of the loop */
};

/*
 * Send @count packets of @size bytes (Ethernet frames: 14-byte header to
 * the broadcast address, then a counter pattern) through dev_queue_xmit on
 * @dev.  Returns 0 with @r filled, or -EINVAL for a size below ETH_HLEN or
 * above MTU + ETH_HLEN, -ENOMEM.
 */
int lxd_pktgen(struct net_device *dev, uint64_t count, unsigned size, struct lxd_pktgen_result *r);

/* ---- block: submitting I/O (kernel/block/submit.c) ---- */

struct lxd_blk_io {
	unsigned op;        /* REQ_OP_READ, REQ_OP_WRITE, REQ_OP_FLUSH, REQ_OP_DISCARD */
	uint64_t sector;    /* 512-byte sectors */
	uint32_t len;       /* bytes, a multiple of the logical block size */
	void *buf;          /* from lxd_data_alloc (READ/WRITE) */
	void (*end_io)(struct lxd_blk_io *io); /* any context; must not block */
	void *private;
	int error;          /* set before end_io: 0 or -errno */
};

/*
 * Submit @io to @disk.  Returns 0 when submitted: end_io runs exactly once,
 * later or before this returns.  Returns -errno, end_io not called, when
 * rejected: -ENODEV (disk not added or being removed), -EOPNOTSUPP (op),
 * -EINVAL (length or offset not block-aligned, zero or too long), -EFAULT
 * (no buffer), -EIO (beyond the end of the disk).  May sleep for a free tag.
 */
int lxd_blk_submit(struct gendisk *disk, struct lxd_blk_io *io);

/*
 * Plugging, as Linux's blk_start_plug: while the calling thread holds a
 * plug, lxd_blk_submit hands requests to the driver with bd->last false
 * (the driver may hold them back, e.g. to send several in one message or
 * ring its doorbell once), and lxd_blk_finish_plug calls the driver's
 * commit_rqs for them.  The kernel flushes a thread's plug itself before
 * that thread waits (for a tag, in lxd_blk_rw).  A nested start is a
 * no-op: the outermost plug flushes.  The plug lives on the caller's
 * stack; finish it before it goes out of scope.
 */
struct lxd_blk_plug {
	void *hctx[8]; /* hardware contexts given requests with bd->last false */
	unsigned n;
};
void lxd_blk_start_plug(struct lxd_blk_plug *plug);
void lxd_blk_finish_plug(struct lxd_blk_plug *plug);

/* Submit and wait.  Returns 0 or -errno (rejection or completion error). */
int lxd_blk_rw(struct gendisk *disk, unsigned op, uint64_t sector, void *buf, uint32_t len);

/* The added disk named @name ("nullb0"), or NULL. */
struct gendisk *lxd_blk_get_disk(const char *name);

/* Largest request in bytes lxd_blk_submit accepts. */
#define LXD_BLK_MAX_IO (512u * 1024)

/* ---- block: I/O generator (kernel/block/iogen.c) ---- */

enum lxd_iogen_rw { LXD_IOGEN_RANDREAD, LXD_IOGEN_RANDWRITE, LXD_IOGEN_VERIFY };

struct lxd_iogen_opts {
	enum lxd_iogen_rw rw;
	uint64_t ios;       /* I/Os to complete (VERIFY: writes, then as many reads) */
	unsigned qd;        /* in flight at once, 1 .. 1024 */
	unsigned bs;        /* bytes per I/O; 0: the disk's logical block size */
	uint64_t seed;
};

struct lxd_iogen_result {
	uint64_t done;       /* I/Os completed */
	uint64_t errors;     /* completed with an error (first in first_error) */
	int first_error;
	uint64_t mismatches; /* VERIFY: blocks read back different from written */
	uint64_t ns;
};

/*
 * Random I/O over the whole disk, @o->qd in flight.  VERIFY writes @o->ios
 * distinct blocks with a pattern naming block and seed, then reads them all
 * back and checks.  Returns 0 with @r filled, or -EINVAL / -ENOMEM / -ENODEV.
 */
int lxd_iogen(struct gendisk *disk, const struct lxd_iogen_opts *o, struct lxd_iogen_result *r);

/* "randread" / "randwrite" / "verify" to an lxd_iogen_rw.  0 or -EINVAL. */
int lxd_iogen_rw_parse(const char *s, enum lxd_iogen_rw *rw);

#endif
