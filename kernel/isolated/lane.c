/* SPDX-License-Identifier: MIT */
/*
 * Lanes: a polling kernel thread calls into an isolated driver itself.
 *
 * Without lanes every call into a domain is handed to the domain's
 * dispatcher thread (iso.c): a queue push, often a wake-up, and a third
 * busy thread on a two-CPU machine.  A thread that says it will reap its
 * own completions (lxd_poll_begin(), like io_uring's IOPOLL or NAPI busy
 * polling) gets, on its first call into a domain, a channel of its own to
 * it (formatted in the arena, attached by the domain as one more endpoint:
 * kernel/domain/dlane.c), an async runtime and a glue instance.  Its calls
 * then start as lightweight threads right where they are made, the
 * request goes straight into the lane's ring, and the answers are run by
 * lxd_poll() on the same thread.
 *
 * Requests the driver makes while serving a lane (an end of a request
 * outside queue_rq, a consume of a kept skb) go on the main channel, so
 * the dispatcher serves them and the lane thread never has to.
 *
 * Life: one lane per thread, to one domain (a polling thread's calls into
 * other domains take the dispatcher path).  lxd_poll_end() waits for the
 * lane's calls and takes it down; a thread that exits first has it taken
 * down by a thread-exit destructor.  When the domain dies or is unloaded,
 * the lane's channel is marked dead (its calls fail with -EIO); the
 * arena stays mapped while the lane holds its buffers (iso.c's orphan
 * rule), so a late lxd_poll() never touches unmapped memory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include <linux/printk.h>

#include "iso.h"
#include "lxds/util.h"

/* Lightweight threads of a lane's runtime: calls in flight at once, plus room. */
#define LANE_STACKS 1024u
/* Keep this many stacks free: below, a new call first reaps answers. */
#define LANE_STACK_RESERVE 16u
/* Bytes of the lane glue's spill block (batched transmits spill). */
#define LANE_SPILL (1u << 20)

_Thread_local struct lxd_lane_tl lxd__lane_tl;

static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void lane_down(struct lxd_lane *l);

/* For messages: an unloaded module's orphaned iso has no module any more. */
static const char *iso_name(const struct lxd_iso *iso)
{
	return iso->mod ? lxd_module_name(iso->mod) : "?";
}

/* A thread that ends with a lane: take it down (waits for its calls). */
static void on_thread_exit(void *p)
{
	(void)p;
	(void)lxd_poll_end();
}

static void exit_key_init(void)
{
	(void)pthread_key_create(&exit_key, on_thread_exit);
}

/* ---- the hang deadline ---- */

/*
 * A lane counts as one call in flight for the domain's hang deadline while
 * it has calls outstanding; answers count as progress (at most once a
 * millisecond: the clock read costs more than the rest of a poll).
 */
static void lane_watch(struct lxd_lane *l, bool answered)
{
	bool busy = l->ep.st.outstanding > 0;
	if (busy != l->watching) {
		if (busy)
			lxd_domain_call_begin(l->iso->d);
		else
			lxd_domain_call_end(l->iso->d);
		l->watching = busy;
		l->progress_tsc = lxd_rdtsc();
	} else if (busy && answered) {
		uint64_t now = lxd_rdtsc();
		if (now - l->progress_tsc > l->progress_every) {
			lxd_domain_call_progress(l->iso->d);
			l->progress_tsc = now;
		}
	}
}

/* ---- set-up and tear-down ---- */

static void w_lane_open(struct lxd_iso *iso, struct lxd_iso_work *w)
{
	(void)iso;
	w->result = lxd_dlane_open(w->p, (unsigned)w->a[0], (unsigned)w->a[1]);
}

static void w_lane_close(struct lxd_iso *iso, struct lxd_iso_work *w)
{
	(void)iso;
	w->result = lxd_dlane_close((int)w->a[0]);
}

/* A call on the dispatcher (the lane is not usable for its own set-up). */
static int via_dispatcher(struct lxd_iso *iso, lxd_iso_work_fn fn, void *p, uint64_t a0, uint64_t a1)
{
	struct lxd_iso_work w = {.fn = fn, .wait = true, .p = p};
	w.a[0] = a0;
	w.a[1] = a1;
	return lxd_iso_run(iso, &w);
}

static void lane_free_buffers(struct lxd_lane *l)
{
	/* Last: freeing the last buffer of an unloaded module's arena destroys its iso. */
	void *shm = l->shm, *sp = l->spill_mem;
	free(l);
	if (sp)
		lxd_iso_data_free(sp);
	if (shm)
		lxd_iso_data_free(shm);
}

static struct lxd_lane *lane_up(struct lxd_iso *iso)
{
	struct lxd_lane *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->iso = iso;
	l->id = -1;
	l->progress_every = (uint64_t)(1e6 * lxd_tsc_per_ns()); /* 1 ms of TSC */
	l->f = (struct lxd_finish)LXD_FINISH_INIT;
	size_t len = lxd_chan_shm_size(LXD_LANE_SLOTS);
	struct lxd_arena *k = lxd_domain_arena(iso->d);
	int rc = -ENOMEM;
	l->shm = lxd_iso_data_alloc_in(iso, len);
	l->spill_mem = lxd_iso_data_alloc_in(iso, LANE_SPILL);
	if (!l->shm || !l->spill_mem)
		goto fail;
	rc = lxd_chan_format(l->shm, len, LXD_LANE_SLOTS);
	if (!rc)
		rc = lxd_chan_attach(&l->ch, l->shm, len, LXD_LANE_SLOTS, LXD_SIDE_KERNEL);
	if (rc)
		goto fail;
	/* The domain sleeps on its main channel's doorbell: ring that one. */
	lxd_chan_ring_with(&l->ch, lxd_domain_chan(iso->d));
	/* And we never sleep on the lane's: the domain's sandbox allows futex on
	 * its main channel's doorbells only, so a sleeper here would get its
	 * wake-up as the domain's death.  lxd_poll spins (and yields); should
	 * the runtime ever wait on this channel itself, it spins too. */
	l->ch.spin_fixed = true;
	l->ch.spin_cycles = UINT64_MAX / 4;
	rc = lxd_arena_init(&l->spill, k->base, k->size, (size_t)((char *)l->spill_mem - (char *)k->base),
			    LANE_SPILL);
	if (rc)
		goto fail;
	struct lxd_async_config ac = {.stacks = LANE_STACKS};
	rc = lxd_async_init(&ac);
	if (rc && rc != -EBUSY)
		goto fail_spill;
	l->own_runtime = rc == 0;
	struct lxd_ep_config cfg;
	rc = lxd_glue_init(&l->g, NULL, &l->spill, iso->caps, iso->owner);
	if (rc)
		goto fail_runtime;
	rc = lxd_glue_attach(&l->g, &lxd_glue_iface_lxd_iso_kernel, &cfg);
	/* The lane serves nothing: the domain's requests go on the main channel. */
	struct lxd_ep_config lane_cfg = {.max_outstanding = LXD_LANE_SLOTS, .take_all_replies = true};
	if (!rc)
		rc = lxd_ep_init(&l->ep, &l->ch, &lane_cfg);
	if (rc)
		goto fail_glue;
	l->g.ep = &l->ep;
	rc = via_dispatcher(iso, w_lane_open, l->shm, len, LXD_LANE_SLOTS);
	if (rc < 0)
		goto fail_ep;
	l->id = rc;
	pthread_mutex_lock(&iso->lane_lock);
	l->next = iso->lanes;
	iso->lanes = l;
	pthread_mutex_unlock(&iso->lane_lock);
	atomic_fetch_add_explicit(&iso->lanes_opened, 1, memory_order_relaxed);
	if (!iso_alive(iso))
		lxd_chan_mark_dead(&l->ch); /* died meanwhile: lxd_iso_lanes_dead may have missed us */
	return l;
fail_ep:
	lxd_ep_fini(&l->ep);
fail_glue:
	*lxd_glue_iface_lxd_iso_kernel.self_tls() = NULL;
	lxd_glue_fini(&l->g);
fail_runtime:
	if (l->own_runtime)
		lxd_async_fini();
fail_spill:
	lxd_arena_fini(&l->spill);
fail:
	pr_err("module %s: no lane for this thread (%d): its calls go through the dispatcher\n",
	       iso_name(iso), rc);
	lane_free_buffers(l);
	return NULL;
}

static void lane_down(struct lxd_lane *l)
{
	struct lxd_iso *iso = l->iso;
	lxd__lane_tl.lane = NULL; /* from here on this thread's calls take the dispatcher path */
	lxd__lane_tl.refused = iso;
	if (l->watching)
		lxd_domain_call_end(iso->d);
	pthread_mutex_lock(&iso->lane_lock);
	for (struct lxd_lane **pp = &iso->lanes; *pp; pp = &(*pp)->next)
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	/* Its statistics join the iso's in the same step readers sum under. */
	atomic_fetch_add(&iso->rq_zero_copy, atomic_load(&l->rq_zero_copy));
	atomic_fetch_add(&iso->rq_bounced, atomic_load(&l->rq_bounced));
	pthread_mutex_unlock(&iso->lane_lock);
	bool detached = !iso_alive(iso);
	if (!detached) {
		int rc = via_dispatcher(iso, w_lane_close, NULL, (uint64_t)l->id, 0);
		detached = rc == 0 || !iso_alive(iso);
		if (!detached)
			pr_err("module %s: the domain kept lane %d (%d): its memory is left to it\n",
			       iso_name(iso), l->id, rc);
	}
	lxd_chan_mark_dead(&l->ch); /* whatever is left in flight fails, and the endpoint may go */
	lxd_ep_fini(&l->ep);
	lxd_iso_net_lane_fini(l); /* after: lxd_ep_fini may have run the last batches' callbacks */
	lxd_iso_blk_lane_fini(l);
	*lxd_glue_iface_lxd_iso_kernel.self_tls() = NULL;
	lxd_glue_fini(&l->g);
	if (l->own_runtime)
		lxd_async_fini();
	lxd_arena_fini(&l->spill);
	if (!detached)
		l->shm = l->spill_mem = NULL; /* the domain may still write there: never reuse it */
	lane_free_buffers(l);
}

struct lxd_lane *lxd__iso_lane_up(struct lxd_iso *iso)
{
	if (!lxd__lane_tl.polling)
		return NULL; /* (a polling thread with a lane has its answer in iso_lane) */
	if (lxd__lane_tl.refused == iso || iso_self() || !iso->module_live || !iso_alive(iso))
		return NULL;
	lxd__lane_tl.refused = iso; /* lane_up calls through the dispatcher: no lane meanwhile */
	struct lxd_lane *l = lane_up(iso);
	if (l)
		lxd__lane_tl.refused = NULL;
	lxd__lane_tl.lane = l;
	return l;
}

void lxd_iso_lanes_dead(struct lxd_iso *iso)
{
	pthread_mutex_lock(&iso->lane_lock);
	for (struct lxd_lane *l = iso->lanes; l; l = l->next)
		lxd_chan_mark_dead(&l->ch);
	pthread_mutex_unlock(&iso->lane_lock);
}

/* ---- running calls ---- */

/* Send what the lane holds back (batched transmits, plugged requests). */
static void send_held(struct lxd_lane *l)
{
	lxd_iso_net_lane_flush(l, true);
	lxd_iso_blk_lane_flush(l);
}

/* Send what is held, wait for every call started on the lane (answered, or
 * failed once the domain died). */
static void drain(struct lxd_lane *l)
{
	send_held(l);
	while (l->f.pending || l->ep.st.outstanding)
		lxd_poll(10 * 1000 * 1000);
	lane_watch(l, false);
}

/* Drain, then take the lane down. */
static void drain_and_down(struct lxd_lane *l)
{
	drain(l);
	lane_down(l);
}

static void lane_work(void *arg)
{
	struct lxd_iso_work *w = arg;
	struct lxd_lane *l = lxd__lane_tl.lane;
	w->fn(l->iso, w); /* a work nobody waits for belongs to fn: not touched after */
}

static void lane_work_waited(void *arg)
{
	struct lxd_iso_work *w = arg;
	w->fn(lxd__lane_tl.lane->iso, w);
	atomic_store_explicit(&w->done, 1, memory_order_relaxed); /* same OS thread: no ordering needed */
}

int lxd_lane_run(struct lxd_lane *l, struct lxd_iso_work *w)
{
	/* Back-pressure: no stack to start the call on, reap answers first.
	 * (With no stack, lxd_async would run the call on this very context,
	 * which then waits inside the runtime: see lane_up on sleeping.) */
	while (lxd_iso_stacks_free() < LANE_STACK_RESERVE && lxd_thread_id() == 0)
		if (lxd_poll(1000 * 1000) < 0)
			break;
	if (!w->wait) {
		lxd_async(&l->f, lane_work, w);
		lane_watch(l, false);
		return 0;
	}
	/* Waited: what this thread sent before goes first (a flush must follow it). */
	send_held(l);
	if (lxd_thread_id() != 0) {
		w->fn(l->iso, w); /* inside a lightweight thread: block just it */
		return w->result;
	}
	atomic_store_explicit(&w->done, 0, memory_order_relaxed);
	lxd_async(&l->f, lane_work_waited, w);
	lane_watch(l, false);
	while (!atomic_load_explicit(&w->done, memory_order_relaxed))
		lxd_poll(1000 * 1000);
	return w->result;
}

void lxd_iso_lane_quiesce(struct lxd_iso *iso)
{
	struct lxd_lane *l = lxd__lane_tl.lane;
	if (!l || l->iso != iso)
		return;
	/* The unloading thread's own lane: its answers (maybe the very ends the
	 * exit's del_gendisk waits for) are reaped here, before the exit runs
	 * on the dispatcher and this thread blocks in a futex.  The thread
	 * still polls: a later call makes a new lane if the module lives on. */
	drain_and_down(l);
}

/* ---- the polling API (include/lxds/kernel.h) ---- */

int lxd_poll_begin(void)
{
	if (iso_self())
		return -EINVAL; /* a dispatcher serves its domain already */
	if (lxd__lane_tl.polling)
		return -EBUSY;
	pthread_once(&exit_once, exit_key_init);
	lxd__lane_tl.polling = true;
	lxd__lane_tl.refused = NULL;
	(void)pthread_setspecific(exit_key, &lxd__lane_tl); /* any non-NULL value: run on_thread_exit */
	return 0;
}

/* Run the answers that are in.  What their completions submit again (a
 * generator's next I/O) is plugged until all have run: one message. */
static int run_answers(void)
{
	struct lxd_blk_plug plug;
	lxd_blk_start_plug(&plug);
	int n = lxd_async_poll();
	lxd_blk_finish_plug(&plug);
	return n;
}

int lxd_poll(int64_t wait_ns)
{
	struct lxd_lane *l = lxd__lane_tl.lane;
	if (!l)
		return 0;
	int n = run_answers();
	if (n < 0)
		return n;
	if (n == 0 && wait_ns != 0 && l->ep.st.outstanding && !l->xmit_pending && !l->rq_pending) {
		/* Spin for an answer.  Never sleep on the lane's doorbell: ringing
		 * it would need a futex on arena memory, which the domain's sandbox
		 * does not allow (only its main channel's doorbells). */
		uint64_t t0 = lxd_rdtsc();
		uint64_t limit = wait_ns < 0 ? UINT64_MAX : (uint64_t)((double)wait_ns * lxd_tsc_per_ns());
		for (unsigned i = 1; !lxd_chan_has_work(&l->ch) && !lxd_chan_is_dead(&l->ch); i++) {
			if ((i & 255) == 0) {
				if (lxd_rdtsc() - t0 >= limit)
					break;
				sched_yield(); /* the domain may share this CPU (one-CPU machines) */
			}
			lxd_cpu_relax();
		}
		n = run_answers();
		if (n < 0)
			return n;
	}
	lane_watch(l, n > 0);
	if (l->xmit_pending)
		lxd_iso_net_lane_flush(l, false);
	if (l->rq_pending)
		lxd_iso_blk_lane_flush(l); /* a plug nobody finished: don't hold them for ever */
	return n;
}

unsigned lxd_poll_inflight(void)
{
	struct lxd_lane *l = lxd__lane_tl.lane;
	return l ? l->f.pending + l->ep.st.outstanding : 0; /* asyncs, and calls answered by callback */
}

int lxd_poll_drain(void)
{
	if (!lxd__lane_tl.polling)
		return -EINVAL;
	struct lxd_lane *l = lxd__lane_tl.lane;
	if (l)
		drain(l); /* the lane stays: the thread's next calls go on it, no set-up again */
	return 0;
}

int lxd_poll_end(void)
{
	if (!lxd__lane_tl.polling)
		return 0;
	struct lxd_lane *l = lxd__lane_tl.lane;
	if (l)
		drain_and_down(l);
	lxd__lane_tl.polling = false;
	lxd__lane_tl.refused = NULL;
	if (pthread_getspecific(exit_key))
		(void)pthread_setspecific(exit_key, NULL);
	return 0;
}
