/* SPDX-License-Identifier: MIT */
/* What the kernel's files share and drivers never see. */
#ifndef LXDS_KERNEL_INTERNAL_H
#define LXDS_KERNEL_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "lxds/kernel.h"

/* Live-object counters behind lxd_kernel_get_counts. */
struct lxd_counts {
	atomic_long data_buffers, skbs, netdevs, netdevs_registered, disks, disks_added, requests,
		modules;
};
extern struct lxd_counts lxd_counts;

/* The module whose init or exit is running (owner of what gets registered), or NULL. */
struct lxd_module *lxd_module_current(void);

/* Make @m current on this thread (an isolated module's dispatcher thread serves only it). */
void lxd_module_set_current(struct lxd_module *m);

/*
 * A generator's polling (pktgen, iogen: they reap their own completions).
 * On a thread that does not poll yet, the run polls (GEN_POLL_OWN) and
 * ends with lxd_poll_end.  On one that polls already (a caller that runs
 * generators again and again, as lxds bench net's warm-up then timed run)
 * the run uses that thread's lane and ends with lxd_poll_drain: every
 * call answered, the lane kept -- set up again, its first ~200,000
 * packets ran 25% slower.  Either way, when the generator returns, all it
 * handed over has been through the driver.
 */
enum lxd_gen_poll { GEN_POLL_NONE, GEN_POLL_OWN, GEN_POLL_CALLER };

static inline enum lxd_gen_poll lxd_gen_poll_begin(void)
{
	int rc = lxd_poll_begin();
	return rc == 0 ? GEN_POLL_OWN : rc == -EBUSY ? GEN_POLL_CALLER : GEN_POLL_NONE;
}

static inline void lxd_gen_poll_end(enum lxd_gen_poll p)
{
	if (p == GEN_POLL_OWN)
		lxd_poll_end();
	else if (p == GEN_POLL_CALLER)
		lxd_poll_drain();
}

/*
 * pthread_cond_wait for the kernel's own waits (a free tag, a sync I/O, a
 * drain), unless this thread has calls in flight on its lane: their
 * completions -- maybe the very thing waited for -- run only when this
 * thread polls, so poll a while instead of sleeping.  Callers loop on
 * their condition, as with pthread_cond_wait.
 */
static inline void lxd_cond_wait_polling(pthread_cond_t *c, pthread_mutex_t *m)
{
	if (lxd_poll_inflight() == 0) {
		pthread_cond_wait(c, m);
		return;
	}
	pthread_mutex_unlock(m);
	lxd_poll(100 * 1000);
	pthread_mutex_lock(m);
}

/* ---- isolated modules (kernel/isolated/) ---- */

struct lxd_iso;

/* @m's isolation state, NULL for a native module (or NULL @m). */
struct lxd_iso *lxd_module_iso(const struct lxd_module *m);

/* The domain of @m died: unregister and free what it left (module_mutex taken). */
void lxd_module_reap(struct lxd_module *m);

/*
 * Start @m (file @path) in a new domain, set its parameters and run its
 * init there.  Returns 0, or -errno with *@out still set when it is not
 * NULL: the loader releases owned objects, then calls lxd_iso_release().
 */
int lxd_iso_load(struct lxd_module *m, const char *path, const char *const *params, size_t nparams,
		 struct lxd_iso **out);
/* Run the module's exit in the domain.  Its result, -EIO when dead. */
int lxd_iso_unload_exit(struct lxd_iso *iso);
/* End the domain (orderly when alive) and fail whatever it still held. */
void lxd_iso_stop(struct lxd_iso *iso);
/* Free everything (after the loader released the module's objects). */
void lxd_iso_release(struct lxd_iso *iso);
/* SIGKILL the domain.  0 or -ESRCH. */
int lxd_iso_kill(struct lxd_iso *iso);
void lxd_iso_get_stats(struct lxd_iso *iso, struct lxd_iso_stats *st);
/* Wait until the domain handled every call queued before.  0 or -EIO. */
int lxd_iso_flush(struct lxd_iso *iso);
/* False once the domain died or was stopped. */
bool lxd_iso_alive(const struct lxd_iso *iso);
int lxd_iso_set_xmit_mode(struct lxd_iso *iso, enum lxd_xmit_mode mode);
/* A data buffer from @owner's arena, NULL when out of memory. */
void *lxd_iso_data_alloc(const struct lxd_module *owner, size_t len);
/* Free @p if it is an arena data buffer (true), else false: not ours. */
bool lxd_iso_data_free(void *p);
/*
 * Free the buffers at the front of @p[0..@n) that are in the arena of the
 * same isolated module as @p[0], under one lock.  Returns how many: 0 when
 * @p[0] is no isolated module's buffer.
 */
unsigned lxd_iso_data_free_run(void *const *p, unsigned n);
/* Free the @n data buffers (NULLs ignored) like lxd_data_free, a run from one arena at a time. */
void lxd_data_free_bulk(void *const *p, unsigned n);
struct sk_buff;
/* Free @n skbs (NULLs ignored), their data with lxd_data_free_bulk: a transmit batch's, as NAPI frees a budget. */
void lxd_skb_free_bulk(struct sk_buff *const *skbs, unsigned n);

/*
 * Unregister (not free) @m's registered net devices: its domain died, but
 * callers may still hold the device until the module is unloaded.  Returns how many.
 */
int lxd_net_unregister_owner(struct lxd_module *m);

/* Called by the loader when @m is gone: unregister what it left behind.  Return how many. */
int lxd_net_release_owner(struct lxd_module *m);
int lxd_blk_release_owner(struct lxd_module *m);

/* The @idx-th registered device / added disk owned by @m, or NULL. */
struct net_device *lxd_net_owned(const struct lxd_module *m, unsigned idx);
struct gendisk *lxd_blk_owned(const struct lxd_module *m, unsigned idx);

/*
 * Wait until the softirq callback running now (if any) has returned, so no
 * CPU is still executing code of a module about to be unmapped.
 */
void lxd_softirq_barrier(void);

#endif
