/* SPDX-License-Identifier: MIT */
/*
 * Isolated modules, kernel side: the domain, its dispatcher thread, the
 * hand-off of calls from any kernel thread to it, the arena-backed data
 * buffers, and what happens when the domain dies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/printk.h>

#include "iso.h"
#include "lxds/util.h"

/* Geometry: the data share must hold every skb and bounce buffer in flight. */
#define ISO_ARENA_SIZE (128ul << 20)
#define ISO_DOMAIN_SHARE (16ul << 20)
#define ISO_SPILL_SHARE (8ul << 20)
#define ISO_STACKS 1024u
#define ISO_DOMAIN_CPU 1
#define ISO_KERNEL_CPU 0

_Thread_local struct lxd_iso *lxd__iso_self;

static void join_dispatcher(struct lxd_iso *iso);

/* Calls into the domain fail with -EIO from now on: the dispatcher's and every lane's. */
static void set_dead(struct lxd_iso *iso)
{
	atomic_store(&iso->dead, true);
	lxd_iso_lanes_dead(iso);
}

/* Every iso whose arena is still mapped (loaded, or orphaned by buffers still held). */
static pthread_mutex_t isos_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lxd_iso *isos;

/*
 * The arenas' address ranges, so that lxd_iso_data_free finds a buffer's
 * iso without isos_lock (it was one more mutex per freed skb than a native
 * buffer's free).  Written under isos_lock, read under a sequence count: a
 * reader that saw the count change, or odd, reads again.  An iso found for
 * a live buffer cannot go away meanwhile (it is destroyed only once its
 * last buffer is freed).  More isos than slots: the rest are found the old
 * way, under the lock (arena_map_full).
 */
#define ARENA_MAP_SLOTS 64
static struct {
	_Atomic uintptr_t lo, hi;
	struct lxd_iso *_Atomic iso;
} arena_map[ARENA_MAP_SLOTS];
static _Atomic unsigned arena_map_seq;
static _Atomic bool arena_map_full;

static void arena_map_set(unsigned i, uintptr_t lo, uintptr_t hi, struct lxd_iso *iso)
{
	unsigned seq = atomic_load_explicit(&arena_map_seq, memory_order_relaxed);
	atomic_store_explicit(&arena_map_seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release); /* the odd count before the entries */
	atomic_store_explicit(&arena_map[i].lo, lo, memory_order_relaxed);
	atomic_store_explicit(&arena_map[i].hi, hi, memory_order_relaxed);
	atomic_store_explicit(&arena_map[i].iso, iso, memory_order_relaxed);
	atomic_store_explicit(&arena_map_seq, seq + 2, memory_order_release);
}

/* isos_lock held; @iso's arena is set up. */
static void arena_map_add_locked(struct lxd_iso *iso)
{
	for (unsigned i = 0; i < ARENA_MAP_SLOTS; i++)
		if (!atomic_load_explicit(&arena_map[i].iso, memory_order_relaxed)) {
			uintptr_t lo = (uintptr_t)iso->data.base;
			arena_map_set(i, lo, lo + iso->data.size, iso);
			return;
		}
	atomic_store(&arena_map_full, true);
}

/* The iso whose arena holds @p, or NULL. */
static struct lxd_iso *arena_map_find(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	for (;;) {
		unsigned seq = atomic_load_explicit(&arena_map_seq, memory_order_acquire);
		if (seq & 1) {
			lxd_cpu_relax();
			continue;
		}
		struct lxd_iso *found = NULL;
		for (unsigned i = 0; i < ARENA_MAP_SLOTS && !found; i++)
			if (a >= atomic_load_explicit(&arena_map[i].lo, memory_order_relaxed) &&
			    a < atomic_load_explicit(&arena_map[i].hi, memory_order_relaxed))
				found = atomic_load_explicit(&arena_map[i].iso, memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire); /* the entries before the second look at the count */
		if (atomic_load_explicit(&arena_map_seq, memory_order_relaxed) == seq)
			return found;
	}
}

static void isos_remove_locked(struct lxd_iso *iso)
{
	for (unsigned i = 0; i < ARENA_MAP_SLOTS; i++)
		if (atomic_load_explicit(&arena_map[i].iso, memory_order_relaxed) == iso)
			arena_map_set(i, 0, 0, NULL);
	for (struct lxd_iso **pp = &isos; *pp; pp = &(*pp)->next)
		if (*pp == iso) {
			*pp = iso->next;
			return;
		}
}

static long futex(_Atomic uint32_t *w, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, (uint32_t *)w, op, val, ts, NULL, 0);
}

/* ---- works ---------------------------------------------------------------------- */

/*
 * done: 0 pending, 1 done, 2 pending with the waiter asleep.  One word, so
 * the dispatcher's last touch of a waited-for work (which lives on the
 * waiter's stack) is the exchange that lets the waiter go.
 */
static void work_done(struct lxd_iso_work *w)
{
	/* Release: the waiter's acquire load of done sees w->result. */
	if (atomic_exchange_explicit(&w->done, 1, memory_order_acq_rel) == 2)
		futex(&w->done, FUTEX_WAKE_PRIVATE, 1, NULL); /* a stale address is harmless here */
}

static void work_wait(struct lxd_iso_work *w)
{
	/* Spin a little (the answer is a cross-core round trip away), then yield
	 * (the dispatcher may share our CPU), then sleep. */
	uint64_t t0 = 0;
	for (unsigned i = 0;; i++) {
		if (atomic_load_explicit(&w->done, memory_order_acquire) == 1)
			return;
		if (i < 256) {
			lxd_cpu_relax();
			continue;
		}
		if (!t0)
			t0 = lxd_now_ns();
		else if (lxd_now_ns() - t0 > 200 * 1000)
			break;
		sched_yield();
	}
	uint32_t expect = 0;
	atomic_compare_exchange_strong_explicit(&w->done, &expect, 2, memory_order_acq_rel,
						memory_order_acquire);
	while (atomic_load_explicit(&w->done, memory_order_acquire) != 1) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		futex(&w->done, FUTEX_WAIT_PRIVATE, 2, &ts);
	}
}

static void run_work(void *arg)
{
	struct lxd_iso_work *w = arg;
	struct lxd_iso *iso = lxd__iso_self;
	bool wait = w->wait; /* a work nobody waits for may be freed by fn */
	/* The hang deadline: a domain that leaves a call unanswered for hang_ms is
	 * killed (lib/domain).  Module init and exit are not watched: they may
	 * legitimately take long, their progress being calls into the kernel. */
	bool watch = !w->unwatched;
	if (watch)
		lxd_domain_call_begin(iso->d);
	w->fn(iso, w);
	if (watch)
		lxd_domain_call_end(iso->d);
	if (wait)
		work_done(w);
}

int lxd_iso_run(struct lxd_iso *iso, struct lxd_iso_work *w)
{
	if (lxd__iso_self == iso && w->wait) {
		w->fn(iso, w);
		return w->result;
	}
	/* A polling thread drives its own lane (lane.c); module init and exit
	 * (unwatched) always go through the dispatcher. */
	if (!w->unwatched) {
		struct lxd_lane *l = iso_lane(iso);
		if (l)
			return lxd_lane_run(l, w);
	}
	/* A work nobody waits for is queued even on the dispatcher: run inline it
	 * would nest (an end_io that resubmits would call queue_rq inside the
	 * handler of the previous end, and so on, one level per I/O). */
	bool wait = w->wait;
	atomic_store_explicit(&w->done, 0, memory_order_relaxed);
	w->next = NULL;
	pthread_mutex_lock(&iso->qlock);
	if (iso->closed) {
		pthread_mutex_unlock(&iso->qlock);
		return w->result = -ENODEV;
	}
	if (iso->qtail)
		iso->qtail->next = w;
	else
		iso->qhead = w;
	iso->qtail = w;
	pthread_mutex_unlock(&iso->qlock);
	/* The dispatcher may be asleep on its channel's doorbell.  seq_cst load of
	 * idle after the queue push (under qlock): pairs with the dispatcher's
	 * seq_cst store of idle before it looks at the queue a last time. */
	if (lxd__iso_self != iso && atomic_load(&iso->idle)) {
		struct lxd_chan *ch = lxd_domain_chan(iso->d);
		if (ch)
			lxd_chan_kick_self(ch);
	}
	if (!wait)
		return 0; /* the work may be gone already: the dispatcher owns it */
	work_wait(w);
	return w->result;
}

static struct lxd_iso_work *take_works(struct lxd_iso *iso)
{
	pthread_mutex_lock(&iso->qlock);
	struct lxd_iso_work *w = iso->qhead;
	iso->qhead = iso->qtail = NULL;
	pthread_mutex_unlock(&iso->qlock);
	return w;
}

/*
 * CPUs of the machine, not of our affinity mask: a caller pinned to CPU 0
 * (benchmarks pin their main thread) must still get its domain on CPU 1,
 * or kernel and domain share one CPU and trade it in time slices.
 */
static long online_cpus(void)
{
	return sysconf(_SC_NPROCESSORS_ONLN);
}

/* ---- the dispatcher --------------------------------------------------------------- */

/* Stacks kept for the domain's requests (handlers) and nested calls. */
#define ISO_STACK_RESERVE 64u

unsigned lxd_iso_stacks_free(void)
{
	struct lxd_async_stats st;
	return lxd_async_stats(&st) == 0 ? st.stacks_free : 0;
}

static void *dispatcher(void *arg)
{
	struct lxd_iso *iso = arg;
	lxd__iso_self = iso;
	lxd_module_set_current(iso->mod);
	/* Kernel side on CPU 0, the domain on CPU 1: both poll, and two pollers
	 * sharing one CPU trade it in scheduler time slices (milliseconds). */
	if (online_cpus() > 1)
		lxd_pin_self(ISO_KERNEL_CPU);
	struct lxd_async_config ac = {.stacks = ISO_STACKS};
	struct lxd_ep_config cfg;
	int rc = lxd_async_init(&ac);
	if (!rc)
		rc = lxd_glue_init(&iso->g, NULL, &iso->spill, iso->caps, iso->owner);
	if (!rc)
		rc = lxd_glue_attach(&iso->g, &lxd_glue_iface_lxd_iso_kernel, &cfg);
	if (!rc)
		rc = lxd_ep_init(&iso->ep, lxd_domain_chan(iso->d), &cfg);
	atomic_store(&iso->start_rc, rc);
	if (rc)
		goto out;
	iso->g.ep = &iso->ep;
	struct lxd_chan *ch = lxd_domain_chan(iso->d);
	struct lxd_finish f = LXD_FINISH_INIT;
	unsigned idle = 0;
	/* Works taken from the queue, not started yet: each needs a stack, and
	 * with none free lxd_async would run it on this very context, which then
	 * blocks in its call and starves the queue (and the exit behind it). */
	struct lxd_iso_work *pending = NULL, **pending_tail = &pending;
	while (!atomic_load_explicit(&iso->stop, memory_order_acquire)) {
		struct lxd_iso_work *taken = take_works(iso);
		bool busy = taken != NULL;
		if (taken) {
			*pending_tail = taken;
			while (taken->next)
				taken = taken->next;
			pending_tail = &taken->next;
		}
		while (pending && lxd_iso_stacks_free() > ISO_STACK_RESERVE) {
			struct lxd_iso_work *w = pending;
			if (!lxd_iso_net_batch(iso, &w, &f)) {
				struct lxd_iso_work *next = w->next;
				lxd_async(&f, run_work, w);
				w = next;
			}
			pending = w;
			busy = true;
		}
		if (!pending)
			pending_tail = &pending;
		if (lxd_async_poll() > 0)
			busy = true;
		if (busy) {
			idle = 0;
			continue;
		}
		if (++idle < 2000) {
			/* A kernel thread waiting for us may share this CPU: let it run now and then. */
			if ((idle & 63) == 0)
				sched_yield();
			else
				lxd_cpu_relax();
			continue;
		}
		/* Nothing for a while: sleep until the domain or a kernel thread
		 * (lxd_chan_kick_self) rings.  The ticket, taken before the last
		 * look at the queue, catches a kick landing between that look and
		 * the sleep; no periodic wake-up (each one stole CPU 0 from the
		 * kernel thread polling its lane there). */
		atomic_store(&iso->idle, true);
		uint32_t ticket = lxd_chan_wait_ticket(ch);
		pthread_mutex_lock(&iso->qlock);
		bool queued = iso->qhead != NULL || pending;
		pthread_mutex_unlock(&iso->qlock);
		int wr = queued ? 0 : lxd_chan_wait_since(ch, ticket, 1000ll * 1000 * 1000);
		atomic_store(&iso->idle, false);
		if (wr == -EIO) {
			/* Dead until unloaded: the channel wakes no one any more, so look
			 * at the queue (works that fail at once) every millisecond. */
			set_dead(iso);
			struct timespec ts = {0, 1000 * 1000};
			nanosleep(&ts, NULL);
		}
	}
	/* Refuse new works, fail the queued ones: the domain is gone. */
	pthread_mutex_lock(&iso->qlock);
	iso->closed = true;
	pthread_mutex_unlock(&iso->qlock);
	*pending_tail = take_works(iso);
	for (struct lxd_iso_work *w = pending; w;) {
		struct lxd_iso_work *next = w->next;
		lxd_async(&f, run_work, w); /* the channel is dead: each fails with -EIO at once */
		w = next;
	}
	lxd_finish(&f);
	lxd_ep_fini(&iso->ep);
out:
	lxd_glue_fini(&iso->g);
	lxd_async_fini();
	lxd_module_set_current(NULL);
	lxd__iso_self = NULL;
	return NULL;
}

struct offload {
	void (*fn)(void *);
	void *arg;
	_Atomic bool done;
};

static void *offload_main(void *p)
{
	struct offload *o = p;
	o->fn(o->arg);
	atomic_store_explicit(&o->done, true, memory_order_release);
	return NULL;
}

void lxd_iso_offload(void (*fn)(void *), void *arg)
{
	struct offload o = {.fn = fn, .arg = arg};
	pthread_t t;
	if (!lxd__iso_self || pthread_create(&t, NULL, offload_main, &o) != 0) {
		fn(arg);
		return;
	}
	/* Acquire: pairs with the helper's release store, so its effects are seen. */
	while (!atomic_load_explicit(&o.done, memory_order_acquire))
		lxd_yield();
	pthread_join(t, NULL);
}

/* ---- capabilities ---------------------------------------------------------------- */

void *lxd_iso_lookup(struct lxd_iso *iso, uint64_t ref, unsigned type)
{
	void *obj = NULL;
	if (lxd_cap_lookup(iso->caps, iso->owner, ref, type, &obj) != 0)
		return NULL;
	return obj;
}

uint64_t lxd_iso_ref(struct lxd_iso *iso, void *obj, unsigned type)
{
	return lxd_cap_insert(iso->caps, obj, type);
}

void lxd_iso_unref(struct lxd_iso *iso, uint64_t ref, unsigned type)
{
	if (ref)
		lxd_cap_revoke(iso->caps, ref, type);
}

/* ---- data buffers ------------------------------------------------------------------ */

static inline void *data_alloc(struct lxd_iso *iso, size_t len)
{
	if (len == 0 || len > LXD_ARENA_BUF_MAX_LEN)
		return NULL;
	pthread_mutex_lock(&iso->data_lock);
	void *p = lxd_arena_alloc(&iso->data, len);
	if (p)
		iso->data_live++; /* counted under the lock already held: no locked instruction of its own */
	pthread_mutex_unlock(&iso->data_lock);
	return p;
}

void *lxd_iso_data_alloc_in(struct lxd_iso *iso, size_t len)
{
	return data_alloc(iso, len);
}

void *lxd_iso_data_alloc(const struct lxd_module *owner, size_t len)
{
	struct lxd_iso *iso = lxd_module_iso(owner);
	return iso ? data_alloc(iso, len) : NULL; /* every isolated skb's data: one call less */
}

static void iso_destroy(struct lxd_iso *iso);

/*
 * @n freed buffers of @iso that may be its last (their arena blocks are
 * freed already): dropped from the live count under isos_lock as well as
 * data_lock, since the last one of an orphaned iso destroys it and
 * lxd_iso_release decides orphaning under isos_lock (until then the @n
 * buffers keep @iso alive).  A count that stays above zero drops in
 * lxd_iso_data_free_run's own lock round.
 */
static void data_put_last(struct lxd_iso *iso, long n)
{
	if (n <= 0)
		return;
	pthread_mutex_lock(&isos_lock);
	pthread_mutex_lock(&iso->data_lock);
	iso->data_live -= n;
	bool last = iso->data_live == 0 && iso->orphaned;
	pthread_mutex_unlock(&iso->data_lock);
	if (last)
		isos_remove_locked(iso);
	pthread_mutex_unlock(&isos_lock);
	if (last)
		iso_destroy(iso);
}

static struct lxd_iso *arena_owner_locked_walk(const void *p);

unsigned lxd_iso_data_free_run(void *const *p, unsigned n)
{
	struct lxd_iso *iso = arena_map_find(p[0]);
	if (!iso && atomic_load(&arena_map_full))
		iso = arena_owner_locked_walk(p[0]);
	if (!iso)
		return 0;
	/* One lock for the run: a batch's buffers come back together (an
	 * isolated lane's transmit batch, docs/isolation.md). */
	unsigned bad;
	void *first_bad = NULL;
	pthread_mutex_lock(&iso->data_lock);
	unsigned k = lxd_arena_free_run(&iso->data, p, n, &bad, &first_bad);
	long freed = (long)(k - bad);
	bool done = iso->data_live > freed; /* not the last: drops in this lock round */
	if (done)
		iso->data_live -= freed;
	pthread_mutex_unlock(&iso->data_lock);
	if (bad)
		pr_err("lxd_data_free: %p is no live buffer of %s's arena (%u of %u freed together)\n", first_bad,
		       lxd_module_name(iso->mod), bad, k);
	if (!done)
		data_put_last(iso, freed);
	return k;
}

bool lxd_iso_data_free(void *p)
{
	return lxd_iso_data_free_run(&p, 1) != 0;
}

/* The old way, for isos past the map's slots: the list, under its lock.
 * Safe to use after unlocking, like the map's answer: @p is live. */
static struct lxd_iso *arena_owner_locked_walk(const void *p)
{
	pthread_mutex_lock(&isos_lock);
	struct lxd_iso *iso = isos;
	while (iso && !lxd_arena_contains(&iso->data, p, 1))
		iso = iso->next;
	pthread_mutex_unlock(&isos_lock);
	return iso;
}

/* ---- death ---------------------------------------------------------------------------- */

static void *reaper(void *arg)
{
	struct lxd_iso *iso = arg;
	lxd_module_reap(iso->mod);
	return NULL;
}

/* Monitor thread: the domain is gone.  Nothing here may wait for the dispatcher. */
static void on_death(void *arg, struct lxd_domain *d)
{
	struct lxd_iso *iso = arg;
	set_dead(iso);
	lxd_iso_blk_fail_inflight(iso);
	if (atomic_load(&iso->stop))
		return; /* an orderly stop or a failed load: the loader cleans up itself */
	struct lxd_domain_status st;
	lxd_domain_get_status(d, &st);
	pr_err("module %s: domain died (%s): failed its I/O, unregistering its devices\n",
	       lxd_module_name(iso->mod), st.reason);
	/* Unregistering waits for ndo_stop and in-flight I/O: not on the monitor thread. */
	if (!atomic_exchange(&iso->reaper_started, true) &&
	    pthread_create(&iso->reaper, NULL, reaper, iso) != 0) {
		atomic_store(&iso->reaper_started, false);
		pr_err("module %s: cannot start the reaper thread\n", lxd_module_name(iso->mod));
	}
}

/* ---- load / unload ------------------------------------------------------------------ */

static int glue_path(char *buf, size_t len)
{
	const char *env = getenv("LXDS_KDOMAIN_GLUE");
	int n = snprintf(buf, len, "%s", env ? env : LXDS_KDOMAIN_GLUE_DEFAULT);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static void w_param(struct lxd_iso *iso, struct lxd_iso_work *w)
{
	(void)iso;
	w->result = lxd_dmod_param((const char *)w->p);
}

static void w_init(struct lxd_iso *iso, struct lxd_iso_work *w)
{
	(void)iso;
	w->result = lxd_dmod_init();
}

static void w_exit(struct lxd_iso *iso, struct lxd_iso_work *w)
{
	(void)iso;
	w->result = lxd_dmod_exit();
}

static void w_ping(struct lxd_iso *iso, struct lxd_iso_work *w)
{
	(void)iso;
	w->result = lxd_dmod_ping();
}

static int call(struct lxd_iso *iso, lxd_iso_work_fn fn, void *p)
{
	struct lxd_iso_work w = {.fn = fn, .wait = true, .p = p,
				 .unwatched = fn == w_init || fn == w_exit};
	return lxd_iso_run(iso, &w);
}

static void iso_destroy(struct lxd_iso *iso)
{
	join_dispatcher(iso);
	if (atomic_load(&iso->reaper_started))
		pthread_join(iso->reaper, NULL);
	lxd_arena_fini(&iso->data);
	lxd_arena_fini(&iso->spill);
	if (iso->d)
		lxd_domain_destroy(iso->d);
	pthread_mutex_destroy(&iso->qlock);
	pthread_mutex_destroy(&iso->data_lock);
	pthread_mutex_destroy(&iso->obj_lock);
	pthread_mutex_destroy(&iso->lane_lock);
	pthread_mutex_destroy(&iso->skb_lock);
	free(iso);
}

static int split_arena(struct lxd_iso *iso)
{
	struct lxd_arena *k = lxd_domain_arena(iso->d);
	if (k->share_len <= ISO_SPILL_SHARE)
		return -EINVAL;
	int rc = lxd_arena_init(&iso->spill, k->base, k->size, k->share_off, ISO_SPILL_SHARE);
	if (!rc)
		rc = lxd_arena_init(&iso->data, k->base, k->size, k->share_off + ISO_SPILL_SHARE,
				    k->share_len - ISO_SPILL_SHARE);
	return rc;
}

int lxd_iso_load(struct lxd_module *m, const char *path, const char *const *params, size_t nparams,
		 struct lxd_iso **out)
{
	char glue[4096];
	int rc = glue_path(glue, sizeof(glue));
	if (rc)
		return rc;
	if (access(glue, R_OK) != 0) {
		pr_err("module %s: the domain glue %s is missing\n", path, glue);
		return -ENOENT;
	}
	/* Several at once: each dispatcher attaches the generated glue for its
	 * own thread (the stubs find their glue per thread). */
	struct lxd_iso *iso = calloc(1, sizeof(*iso));
	if (!iso)
		return -ENOMEM;
	pthread_mutex_lock(&isos_lock);
	iso->next = isos;
	isos = iso;
	pthread_mutex_unlock(&isos_lock);
	iso->mod = m;
	pthread_mutex_init(&iso->qlock, NULL);
	pthread_mutex_init(&iso->data_lock, NULL);
	pthread_mutex_init(&iso->obj_lock, NULL);
	pthread_mutex_init(&iso->lane_lock, NULL);
	pthread_mutex_init(&iso->skb_lock, NULL);
	atomic_store(&iso->start_rc, 1);

	const char *globs[] = {glue, NULL};
	struct lxd_domain_opts o = {
		.name = lxd_module_name(m),
		.module = path,
		.glue = globs,
		.cpu = online_cpus() > 1 ? ISO_DOMAIN_CPU : -1,
		.arena_size = ISO_ARENA_SIZE,
		.arena_domain_share = ISO_DOMAIN_SHARE,
		.on_death = on_death,
		.on_death_arg = iso,
	};
	rc = lxd_domain_create(&o, &iso->d);
	if (rc) {
		pr_err("module %s: cannot start its domain (%d)\n", path, rc);
		goto fail;
	}
	iso->caps = lxd_domain_caps(iso->d);
	iso->owner = lxd_domain_id(iso->d);
	rc = split_arena(iso);
	if (rc)
		goto fail;
	pthread_mutex_lock(&isos_lock);
	arena_map_add_locked(iso);
	pthread_mutex_unlock(&isos_lock);
	rc = pthread_create(&iso->thr, NULL, dispatcher, iso);
	if (rc) {
		rc = -rc;
		goto fail;
	}
	iso->thr_started = true;
	while ((rc = atomic_load(&iso->start_rc)) == 1)
		sched_yield();
	if (rc)
		goto fail;
	for (size_t i = 0; i < nparams; i++) {
		rc = call(iso, w_param, (void *)params[i]);
		if (rc) {
			pr_err("module %s: bad parameter '%s' (%s)\n", lxd_module_name(m), params[i],
			       rc == -ENOENT ? "no such parameter" : "bad value");
			goto fail;
		}
	}
	rc = call(iso, w_init, NULL);
	if (rc > 0 || rc < -4095)
		rc = -EINVAL;
	if (rc)
		goto fail;
	iso->module_live = true;
	*out = iso;
	return 0;
fail:
	/* What init registered before failing is released by the loader (owner cleanup);
	 * stop the domain first so nothing calls into it any more. */
	atomic_store(&iso->stop, true);
	if (iso->d)
		lxd_domain_kill(iso->d); /* -ESRCH when it is not running: fine */
	set_dead(iso);
	lxd_iso_blk_fail_inflight(iso);
	join_dispatcher(iso);
	*out = iso; /* the loader calls lxd_iso_release after its owner cleanup */
	return rc;
}

int lxd_iso_unload_exit(struct lxd_iso *iso)
{
	int rc = -EIO;
	lxd_iso_lane_quiesce(iso); /* the exit must not wait for answers only this thread would reap */
	if (iso->module_live && !atomic_load(&iso->dead)) {
		rc = call(iso, w_exit, NULL);
		iso->module_live = false;
	}
	return rc;
}

static void join_dispatcher(struct lxd_iso *iso)
{
	if (!iso->thr_started)
		return;
	atomic_store(&iso->stop, true);
	struct lxd_chan *ch = lxd_domain_chan(iso->d);
	if (ch)
		lxd_chan_kick_self(ch);
	pthread_join(iso->thr, NULL);
	iso->thr_started = false;
}

void lxd_iso_stop(struct lxd_iso *iso)
{
	/* Orderly: the exit already ran; end the process (killed past the hang deadline). */
	atomic_store(&iso->stop, true);
	if (!atomic_load(&iso->dead))
		lxd_domain_stop(iso->d);
	set_dead(iso);
	lxd_iso_blk_fail_inflight(iso);
	/* The dispatcher ends after failing what is still queued (transmits,
	 * requests): nothing of the module's runs once the loader frees its devices. */
	join_dispatcher(iso);
}

void lxd_iso_release(struct lxd_iso *iso)
{
	if (!iso)
		return;
	atomic_store(&iso->stop, true);
	if (atomic_load(&iso->reaper_started))
		pthread_join(iso->reaper, NULL);
	atomic_store(&iso->reaper_started, false);
	lxd_iso_blk_release(iso);
	lxd_iso_net_release(iso); /* skbs a driver kept: their data is in this arena */
	pthread_mutex_lock(&isos_lock);
	pthread_mutex_lock(&iso->data_lock);
	long live = iso->data_live;
	pthread_mutex_unlock(&iso->data_lock);
	bool keep = live > 0;
	if (keep) {
		/* Someone still holds buffers in this arena: keep it mapped until the last goes. */
		pr_err("module %s unloaded with %ld data buffer(s) in its arena: kept until freed\n",
		       lxd_module_name(iso->mod), live);
		iso->orphaned = true;
		iso->mod = NULL;
	} else {
		isos_remove_locked(iso);
	}
	pthread_mutex_unlock(&isos_lock);
	if (!keep)
		iso_destroy(iso);
}

int lxd_iso_kill(struct lxd_iso *iso)
{
	if (atomic_load(&iso->dead))
		return -ESRCH;
	/* Dead from now on for new calls; the monitor's on_death fails what it held. */
	int rc = lxd_domain_kill(iso->d);
	set_dead(iso);
	return rc;
}

int lxd_iso_set_xmit_mode(struct lxd_iso *iso, enum lxd_xmit_mode mode)
{
	if (mode != LXD_XMIT_SYNC && mode != LXD_XMIT_ASYNC && mode != LXD_XMIT_BATCH)
		return -EINVAL;
	atomic_store(&iso->xmit_mode, (int)mode);
	return 0;
}

bool lxd_iso_alive(const struct lxd_iso *iso)
{
	return iso_alive(iso);
}

int lxd_xmit_mode_parse(const char *s, enum lxd_xmit_mode *mode)
{
	if (s && !strcmp(s, "sync"))
		*mode = LXD_XMIT_SYNC;
	else if (s && !strcmp(s, "async"))
		*mode = LXD_XMIT_ASYNC;
	else if (s && !strcmp(s, "batch"))
		*mode = LXD_XMIT_BATCH;
	else
		return -EINVAL;
	return 0;
}

int lxd_iso_flush(struct lxd_iso *iso)
{
	/* Works start in queue order and the ring is in order: the ping's answer
	 * comes after the driver ran every request sent before it. */
	if (atomic_load(&iso->dead))
		return -EIO;
	return call(iso, w_ping, NULL);
}

void lxd_iso_get_stats(struct lxd_iso *iso, struct lxd_iso_stats *st)
{
	pthread_mutex_lock(&iso->lane_lock); /* a lane folds its counts in under it when it goes */
	st->rq_zero_copy = atomic_load_explicit(&iso->rq_zero_copy, memory_order_relaxed);
	st->rq_bounced = atomic_load_explicit(&iso->rq_bounced, memory_order_relaxed);
	for (struct lxd_lane *l = iso->lanes; l; l = l->next) {
		st->rq_zero_copy += atomic_load_explicit(&l->rq_zero_copy, memory_order_relaxed);
		st->rq_bounced += atomic_load_explicit(&l->rq_bounced, memory_order_relaxed);
	}
	pthread_mutex_unlock(&iso->lane_lock);
	st->xmit_msgs = atomic_load_explicit(&iso->xmit_msgs, memory_order_relaxed);
	st->xmit_skbs = atomic_load_explicit(&iso->xmit_skbs, memory_order_relaxed);
	st->lanes_opened = atomic_load_explicit(&iso->lanes_opened, memory_order_relaxed);
}

void lxd_iso_watch(struct lxd_iso *iso, bool begin)
{
	if (begin)
		lxd_domain_call_begin(iso->d);
	else
		lxd_domain_call_end(iso->d);
}
