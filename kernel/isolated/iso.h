/* SPDX-License-Identifier: MIT */
/*
 * The kernel side of an isolated module (kernel/isolated/): one domain per
 * module, one dispatcher thread per domain that owns the async runtime and
 * the generated glue, and the per-subsystem proxies (iso_net.c, iso_blk.c)
 * that stand in for the driver's ops tables inside the kernel.
 *
 * Threads.  The async runtime and an endpoint belong to one OS thread, but
 * the kernel calls into a driver from many (the caller of dev_open, the
 * packet generator, the softirq thread, the end_io callbacks).  So every
 * call into the domain is a work item handed to the domain's dispatcher
 * thread (lxd_iso_run), which runs it in a lightweight thread: many calls
 * are in flight at once, and requests from the domain (alloc_netdev,
 * blk_mq_end_request, ...) are served by the same thread, nested or not.
 * Code already on the dispatcher thread calls directly.
 */
#ifndef LXDS_KERNEL_ISOLATED_ISO_H
#define LXDS_KERNEL_ISOLATED_ISO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lxds/arena.h"
#include "lxds/async.h"
#include "lxds/cap.h"
#include "lxds/compiler.h"
#include "lxds/domain.h"
#include "lxds/glue.h"
#include "lxds/kernel.h"

#include "../internal.h"
#include "lxd_iso_if.h"

struct lxd_iso;
struct lxd_iso_work;

typedef void (*lxd_iso_work_fn)(struct lxd_iso *iso, struct lxd_iso_work *w);

/* A call into the domain, run by the dispatcher thread. */
struct lxd_iso_work {
	lxd_iso_work_fn fn;
	struct lxd_iso_work *next;
	_Atomic uint32_t done;     /* futex word (waited-for works): 0 pending, 1 done, 2 waiter asleep */
	bool wait;                 /* someone waits: signal done; else fn owns (frees) the work */
	bool unwatched;            /* not under the hang deadline (module init and exit) */
	int result;
	uint64_t a[4];
	void *p, *q;
};

struct iso_blk_set;
struct iso_disk;
struct lxd_lane;

struct lxd_iso {
	struct lxd_module *mod;
	struct lxd_domain *d;
	struct lxd_cap_table *caps;
	uint32_t owner;
	/* The kernel's share of the arena, split: data buffers (any thread, locked) and the
	 * glue's spilled calls (the dispatcher thread only). */
	struct lxd_arena data, spill;
	pthread_mutex_t data_lock;
	long data_live;           /* data buffers handed out, not freed (under data_lock) */
	/* The dispatcher. */
	pthread_t thr;
	bool thr_started;
	_Atomic bool stop;
	_Atomic bool dead;        /* the domain died (or was stopped): calls fail with -EIO */
	pthread_mutex_t qlock;
	struct lxd_iso_work *qhead, *qtail;
	bool closed;              /* the dispatcher is gone: works are refused */
	_Atomic bool idle;        /* the dispatcher is about to sleep: kick it */
	_Atomic int start_rc;     /* 1 while starting, then its result */
	struct lxd_glue g;
	struct lxd_ep ep;
	/* Death: a reaper thread unregisters what the module left behind. */
	pthread_t reaper;
	_Atomic bool reaper_started;
	/* Objects (dispatcher thread, or under obj_lock for the death path). */
	pthread_mutex_t obj_lock;
	struct iso_blk_set *sets;
	_Atomic int xmit_mode;    /* enum lxd_xmit_mode */
	_Atomic uint64_t rq_zero_copy, rq_bounced, xmit_msgs, xmit_skbs, lanes_opened; /* lxd_iso_stats */
	_Atomic unsigned xmit_queued; /* async transmits queued, not yet answered */
	_Atomic bool module_live; /* init succeeded, exit not run (read by polling threads) */
	bool orphaned;            /* unloaded while data buffers live: destroy on the last free */
	struct lxd_iso *next;     /* the list of isos with a mapped arena */
	struct iso_disk *disks;   /* iso_blk.c: the disks made for the domain */
	/* lane.c: the lanes of polling threads to this domain (under lane_lock). */
	pthread_mutex_t lane_lock;
	struct lxd_lane *lanes;
	/* iso_net.c: skbs in the domain's hands, by cookie (under skb_lock: the
	 * dispatcher and polling threads' lanes transmit at once). */
	pthread_mutex_t skb_lock;
	void **skb_obj;           /* an skb, or a batch tagged in bit 0 (iso_net.c) */
	uint32_t *skb_gen, *skb_free;
	uint32_t skb_n, skb_cap, skb_nfree;
};

/*
 * A lane (lane.c, docs/isolation.md): a polling kernel thread's own
 * channel to one domain.  The thread runs its calls into the domain on its
 * own async runtime and reaps their answers in lxd_poll(): no hand-off to
 * the dispatcher, no wake-up.  Owned and touched by that thread only,
 * except ch.dead (lxd_iso_lanes_dead) and the list link (lane_lock).
 */
struct lxd_lane {
	struct lxd_iso *iso;
	struct lxd_chan ch;
	struct lxd_ep ep;
	struct lxd_glue g;
	struct lxd_arena spill;   /* the lane glue's spilled calls: a block of the data share */
	void *shm, *spill_mem;    /* arena data buffers: the channel, the spill block */
	int id;                   /* the domain's number for the lane */
	bool own_runtime;         /* the lane set up this thread's async runtime */
	bool watching;            /* counted in the domain's calls in flight (hang deadline) */
	uint64_t progress_tsc;    /* last time the hang deadline was told of progress */
	uint64_t progress_every;  /* TSC cycles between such reports (1 ms) */
	struct lxd_finish f;      /* every async the lane started */
	struct iso_xmit_batch *xmit_pending; /* iso_net.c: transmits not sent yet */
	unsigned xmit_batches;    /* iso_net.c: batches in flight */
	struct iso_xmit_batch *xmit_free; /* iso_net.c: batches to reuse (lxd_iso_net_lane_fini frees them) */
	/* iso_blk.c: lxd_iso_stats of this lane's requests.  One writer (the
	 * lane's thread, no locked instruction on the fast path); readers sum
	 * them under lane_lock; folded into the iso's when the lane goes. */
	_Atomic uint64_t rq_zero_copy, rq_bounced;
	struct iso_rq_batch *rq_pending; /* iso_blk.c: requests queued with bd->last false */
	struct iso_rq_batch *rq_free;    /* iso_blk.c: batches to reuse (lxd_iso_blk_lane_fini frees them) */
	struct lxd_lane *next;    /* iso->lanes */
};

/* iso_lane's slow path (lane.c): a polling thread without a lane yet. */
struct lxd_lane *lxd__iso_lane_up(struct lxd_iso *iso);

/* The calling thread's lane state (lane.c). */
struct lxd_lane_tl {
	bool polling;
	struct lxd_lane *lane;
	const struct lxd_iso *refused; /* no lane could be made to it: don't retry every call */
};
extern _Thread_local struct lxd_lane_tl lxd__lane_tl;
/*
 * The calling thread's lane to @iso, set up on first use; NULL when the
 * thread does not poll (lxd_poll_begin), already has a lane to another
 * domain, is @iso's dispatcher, or the lane cannot be made (the caller
 * then hands its work to the dispatcher, as without lanes).  Inline: once
 * the lane is up, every transmit and request asks this.
 */
static inline struct lxd_lane *iso_lane(struct lxd_iso *iso)
{
	struct lxd_lane *l = lxd__lane_tl.lane;
	if (lxd__lane_tl.polling && l)
		return l->iso == iso ? l : NULL;
	return lxd__iso_lane_up(iso);
}

/* Run @w on lane @l (lxd_iso_run's contract). */
int lxd_lane_run(struct lxd_lane *l, struct lxd_iso_work *w);

/* If the calling thread has a lane to @iso: wait for its calls, take it down (before an unload). */
void lxd_iso_lane_quiesce(struct lxd_iso *iso);

/* The domain is dead: every lane's calls fail with -EIO from now on.  Any thread. */
void lxd_iso_lanes_dead(struct lxd_iso *iso);

/* Free stacks of the calling thread's async runtime (0 without one). */
unsigned lxd_iso_stacks_free(void);

/*
 * Inline for the per-packet and per-request paths of this folder (the rest
 * of the kernel asks lxd_iso_alive, the same): calls across files there
 * cost isolated pktgen ~15% -- what link-time optimisation recovered,
 * which was not kept because it slowed native fio by 8% (docs/decisions.md).
 */
extern _Thread_local struct lxd_iso *lxd__iso_self;
static inline bool iso_alive(const struct lxd_iso *iso)
{
	return !atomic_load(&((struct lxd_iso *)iso)->dead);
}
static inline enum lxd_xmit_mode iso_xmit_mode(const struct lxd_iso *iso)
{
	return (enum lxd_xmit_mode)atomic_load(&((struct lxd_iso *)iso)->xmit_mode);
}
/* The iso whose dispatcher thread this is, or NULL. */
static inline struct lxd_iso *iso_self(void)
{
	return lxd__iso_self;
}

/*
 * Run @w->fn on @iso's dispatcher: directly when already there and
 * waited for, else queued.  With @w->wait, waits for it and returns w->result; else returns
 * 0 once queued (the work then belongs to fn) or -ENODEV when the
 * dispatcher is gone (the work is not run: the caller still owns it).
 */
int lxd_iso_run(struct lxd_iso *iso, struct lxd_iso_work *w);

/*
 * Run @fn(@arg), which may block the OS thread (del_gendisk waits for
 * in-flight I/O whose completions this very thread must serve): on the
 * dispatcher it runs on a helper thread while the caller yields to the
 * runtime; elsewhere directly.
 */
void lxd_iso_offload(void (*fn)(void *), void *arg);

/* Bracket a call into the domain for its hang deadline (run_work does it for works). */
void lxd_iso_watch(struct lxd_iso *iso, bool begin);

/* Look up @ref as the domain's reference to a kernel object of @type.  The object or NULL. */
void *lxd_iso_lookup(struct lxd_iso *iso, uint64_t ref, unsigned type);
/* Enter @obj of @type in the domain's table.  The reference, 0 on failure. */
uint64_t lxd_iso_ref(struct lxd_iso *iso, void *obj, unsigned type);
void lxd_iso_unref(struct lxd_iso *iso, uint64_t ref, unsigned type);

/* Arena data buffers of @iso (lock held inside). */
void *lxd_iso_data_alloc_in(struct lxd_iso *iso, size_t len);
static inline bool lxd_iso_data_contains(const struct lxd_iso *iso, const void *p, size_t len)
{
	return lxd_arena_contains(&iso->data, p, len);
}

/* ---- per subsystem ---- */

/* The proxy ops tables installed on an isolated driver's kernel objects. */
extern const struct net_device_ops lxd_iso_netdev_ops;

/*
 * Batch mode: if *@w starts a run of queued transmits of one device, start
 * them as one message (async in @f), move *@w past the run and return
 * true; else false (run *@w as usual).
 */
bool lxd_iso_net_batch(struct lxd_iso *iso, struct lxd_iso_work **w, struct lxd_finish *f);

/* Lane @l: send its pending transmits now when @force or when few batches are in flight. */
void lxd_iso_net_lane_flush(struct lxd_lane *l, bool force);
/*
 * The kernel's threads also synchronise through the domain: a request a
 * lane sends may be ended through the main channel, on the dispatcher,
 * which then reuses its tag.  ThreadSanitizer cannot see that chain (it
 * runs through another process), so the sender says it is done with what
 * it read (a release on @p, which the ender's atomic acquire of the same
 * address pairs with).  Nothing outside TSan builds.
 */
#ifdef LXD_TSAN
void __tsan_release(void *addr);
#define lxd_iso_tsan_release(p) __tsan_release((void *)(p))
#else
#define lxd_iso_tsan_release(p) ((void)(p))
#endif

/*
 * A submission on @l: the slot the oldest outstanding call's answer
 * arrives in is read by the next poll; pulled in now, while the submitter
 * has other work, the read then hits.  Only with calls already out: a lone
 * request's answer is being written right after it goes, and fetching the
 * line then delays the domain's write (fio qd 1: -1.6%).  qd 32 +1.6-2%,
 * qd 128 +2% (32 alternating pairs, 27 above 1; near and far vCPUs).
 * Always inline: it runs on every request a lane carries, and gcc, which
 * finds a function of one prefetch free of effects, dropped the call of a
 * plain static inline one -- no prefetch in the binary from session 10's
 * move here until session 11 (fio qd 32 again +0.7% best, +3% median, 12
 * alternating pairs).
 */
static LXD_ALWAYS_INLINE void lxd_lane_warm_reply(const struct lxd_lane *l)
{
	if (l->ep.st.outstanding)
		__builtin_prefetch(&l->ch.rx[l->ch.rx_head & l->ch.mask], 0, 3);
}

/* Free the lane's spare transmit batches (none may be in flight). */
void lxd_iso_net_lane_fini(struct lxd_lane *l);

/* Free the lane's spare request batches (none may be in flight). */
void lxd_iso_blk_lane_fini(struct lxd_lane *l);

/* Free the skbs a dead or unloaded driver still held (dispatcher gone). */
void lxd_iso_net_release(struct lxd_iso *iso);

/* Lane @l: send the requests it holds back (queue_rq with bd->last false) now. */
void lxd_iso_blk_lane_flush(struct lxd_lane *l);

/* The domain died: end every request it holds with an error. */
void lxd_iso_blk_fail_inflight(struct lxd_iso *iso);
/* Free the tag sets the module left (after its disks are gone). */
void lxd_iso_blk_release(struct lxd_iso *iso);

/* The generated kernel glue. */
extern const struct lxd_glue_iface lxd_glue_iface_lxd_iso_kernel;

#endif
