/* SPDX-License-Identifier: MIT */
/*
 * The scheduler: starting threads inline, blocking, waking, do/finish.
 *
 * lxd_async() takes a thread (with its stack) from the pool and calls the
 * function on that stack through lxd__ctx_start(), which first saves the
 * caller's context the way a switch would.  Two ways back:
 *
 *   - the function returns: lxd__ctx_start() returns as from a plain call;
 *     the thread goes straight back to the pool.  No switch, no queue.
 *   - the function blocks while still running inline (its parent pointer is
 *     set): it switches to the saved parent context, which returns from
 *     lxd__ctx_start() and carries on.  The blocked thread is resumed later
 *     from the run queue, and when it finally returns it is a "zombie":
 *     the next thread to run frees its stack (we cannot free the stack we
 *     stand on).
 *
 * A thread that blocks with no parent waiting runs the scheduler loop on
 * its own stack: take the next runnable thread, or poll the endpoints
 * (which may start handler threads inline, with the poller as parent), or
 * wait on a doorbell.  There is no scheduler thread and no extra switch.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifdef LXD_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old, size_t *size_old);
#endif
#ifdef LXD_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#endif

__thread struct lxd_sched *lxd__sched;

/*
 * The switch paths are inlined into the public calls on purpose: after a
 * context switch the resumed thread returns through its own call chain,
 * which the CPU's return-address predictor (filled by the thread that
 * switched away) gets wrong, at ~15 cycles a level.  Fewer levels between
 * lxd__ctx_switch() and the user's code, fewer mispredicted returns.
 */
#define LXD_HOT_INLINE inline __attribute__((always_inline))

/* ---- switching, with the sanitizers told ------------------------------------------- */

/*
 * Always inlined: under TSan a function of its own would be entered on the
 * outgoing fiber's shadow stack and left on the incoming one's, so every
 * switch would move one frame from one shadow stack to the other until one
 * underflows (TSan then crashes in its own interceptors).
 */
static inline __attribute__((always_inline)) void
san_switch_begin(struct lxd_thread *from, struct lxd_thread *to, bool from_dying)
{
#ifdef LXD_ASAN
	__sanitizer_start_switch_fiber(from_dying ? NULL : &from->asan_fake, to->stack_lo,
				       to->stack_size);
#endif
#ifdef LXD_TSAN
	__tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
	(void)from, (void)to, (void)from_dying;
}

static inline __attribute__((always_inline)) void san_switch_end(struct lxd_thread *self)
{
#ifdef LXD_ASAN
	__sanitizer_finish_switch_fiber(self->asan_fake, NULL, NULL);
#endif
	(void)self;
}

/* Free the thread whose stack the previous switch left, now that we are off it. */
static inline void reap(struct lxd_sched *s)
{
	if (lxd_unlikely(s->zombie != NULL)) {
		lxd__thread_put(s, s->zombie);
		s->zombie = NULL;
	}
}

static LXD_HOT_INLINE void switch_to(struct lxd_sched *s, struct lxd_thread *from,
				      struct lxd_thread *to, bool from_dying)
{
	s->cur = to;
	s->st.switches++;
	san_switch_begin(from, to, from_dying);
	lxd__ctx_switch_inline(&from->sp, to->sp);
	/* Resumed: someone switched back to @from. */
	san_switch_end(from);
	reap(s);
}

/* ---- the pool and the run queue ----------------------------------------------------- */

void lxd__thread_put(struct lxd_sched *s, struct lxd_thread *t)
{
#ifdef LXD_TSAN
	/* A finished thread's fiber goes with it: the thread never returned
	 * from thread_main() as TSan sees it, so reusing the fiber would pile
	 * every life's frames onto its shadow stack until that overflows into
	 * TSan's other state.  We are never on @t's stack here (the zombie is
	 * reaped by the next thread, a done inline child by its parent), so
	 * destroying it is allowed. */
	if (t->tsan_fiber) {
		__tsan_destroy_fiber(t->tsan_fiber);
		t->tsan_fiber = NULL;
	}
#endif
	t->state = LXD_T_FREE;
	t->next = s->free_list;
	s->free_list = t;
	s->nfree++;
}

static inline void runq_push(struct lxd_sched *s, struct lxd_thread *t)
{
	t->state = LXD_T_RUNNABLE;
	t->next = NULL;
	if (s->runq_tail)
		s->runq_tail->next = t;
	else
		s->runq = t;
	s->runq_tail = t;
}

static inline struct lxd_thread *runq_pop(struct lxd_sched *s)
{
	struct lxd_thread *t = s->runq;
	if (t) {
		s->runq = t->next;
		if (!s->runq)
			s->runq_tail = NULL;
	}
	return t;
}

void lxd__wake(struct lxd_sched *s, struct lxd_thread *t)
{
	if (t->state == LXD_T_BLOCKED)
		runq_push(s, t);
}

/*
 * The scheduler loop, run by @t (the current thread, blocked, runnable or
 * finished) on its own stack.  Returns when @t is picked to run again;
 * never returns for a finished (@dying) thread.
 */
static LXD_HOT_INLINE void schedule(struct lxd_sched *s, struct lxd_thread *t, bool dying)
{
	for (;;) {
		struct lxd_thread *u = runq_pop(s);
		if (u) {
			u->state = LXD_T_RUNNING;
			if (u == t) {
				s->cur = t;
				return;
			}
			if (dying)
				s->zombie = t;
			switch_to(s, t, u, dying);
			return;
		}
		if (lxd__poll_all(s) == 0 && !s->runq)
			lxd__idle(s);
	}
}

static LXD_HOT_INLINE void block(struct lxd_sched *s, struct lxd_thread *t)
{
	if (t->parent) {
		/* Started inline and blocked for the first time: the parent,
		 * waiting in lxd__ctx_start(), goes on. */
		struct lxd_thread *p = t->parent;
		t->parent = NULL;
		t->ever_blocked = true;
		s->st.blocked++;
		switch_to(s, t, p, false);
		return;
	}
	schedule(s, t, false);
}

void lxd__block(struct lxd_sched *s, struct lxd_thread *t)
{
	block(s, t);
}

static inline void scope_done(struct lxd_sched *s, struct lxd_finish *f)
{
	if (f && --f->pending == 0 && f->waiter)
		lxd__wake(s, f->waiter);
}

/* Every lightweight thread starts here, on its own stack. */
static void thread_main(void *arg)
{
	struct lxd_thread *t = arg;
	san_switch_end(t);
	t->fn(t->arg);

	struct lxd_sched *s = lxd__sched;
	t->state = LXD_T_DONE;
	scope_done(s, t->scope);
	if (t->parent) {
		/* Never blocked: back to the parent, which frees us. */
		struct lxd_thread *p = t->parent;
		t->parent = NULL;
		s->cur = p;
#if LXD_FIBER_SANITIZED
		san_switch_begin(t, p, true);
		lxd__ctx_switch_inline(&t->sp, p->sp);
		__builtin_unreachable();
#else
		return; /* lxd__ctx_start() resumes the parent */
#endif
	}
	schedule(s, t, true);
	__builtin_unreachable();
}

/*
 * Start @fn(@arg) on a pooled thread, inline.  *@out (if given) receives
 * the thread while it is still alive after the call (blocked or runnable),
 * else NULL.  Returns 0, or -EAGAIN when the pool is empty.
 */
static LXD_HOT_INLINE int spawn(struct lxd_sched *s, struct lxd_finish *f, lxd_async_fn fn,
				void *arg, const char *name, struct lxd_thread **out)
{
	struct lxd_thread *c = s->free_list;
	if (lxd_unlikely(!c))
		return -EAGAIN;
	s->free_list = c->next;
	s->nfree--;
	struct lxd_thread *p = s->cur;
	c->fn = fn;
	c->arg = arg;
	c->scope = f;
	c->name = name;
	c->state = LXD_T_RUNNING;
	c->parent = p;
	c->ever_blocked = false;
	c->serving = p->serving; /* nested calls of a handler's asyncs are nested too */
	char *top = c->stack_lo + c->stack_size;
#if LXD_FIBER_SANITIZED
	/* A first frame for lxd__ctx_switch to "return" into: FP control
	 * words, r15, r14, r13 = arg, r12 = fn, rbx, rbp, return address. */
	uint64_t *sp = (uint64_t *)(top - 80);
	sp[0] = s->fpword;
	sp[1] = sp[2] = 0;
	sp[3] = (uint64_t)(uintptr_t)c;
	sp[4] = (uint64_t)(uintptr_t)thread_main;
	sp[5] = sp[6] = 0;
	sp[7] = (uint64_t)(uintptr_t)lxd__ctx_trampoline;
	c->sp = sp;
#ifdef LXD_ASAN
	c->asan_fake = NULL;
#endif
#ifdef LXD_TSAN
	c->tsan_fiber = __tsan_create_fiber(0); /* a fresh one per life: see lxd__thread_put() */
#endif
	switch_to(s, p, c, false);
#else
	s->cur = c;
	lxd__ctx_start(&p->sp, top, thread_main, c);
	reap(s);
#endif
	/* Back in the parent: @c either finished or blocked. */
	if (c->state == LXD_T_DONE) {
		lxd__thread_put(s, c);
		c = NULL;
	}
	if (out)
		*out = c;
	return 0;
}

int lxd__spawn(struct lxd_sched *s, struct lxd_finish *f, lxd_async_fn fn, void *arg,
	       const char *name, struct lxd_thread **out)
{
	return spawn(s, f, fn, arg, name, out);
}

/* ---- the public API --------------------------------------------------------------- */

int lxd_async_named(struct lxd_finish *f, lxd_async_fn fn, void *arg, const char *name)
{
	struct lxd_sched *s = lxd__sched;
	if (lxd_unlikely(!s))
		return -ENXIO;
	if (lxd_unlikely(!f || !fn))
		return -EINVAL;
	s->st.asyncs++;
	f->pending++;
	if (lxd_likely(spawn(s, f, fn, arg, name, NULL) == 0))
		return 0;
	/* No stack: run it on ours.  If it blocks, we block with it. */
	s->st.no_stack++;
	fn(arg);
	scope_done(s, f);
	return 0;
}

int lxd_async(struct lxd_finish *f, lxd_async_fn fn, void *arg)
{
	return lxd_async_named(f, fn, arg, "async");
}

int lxd_finish(struct lxd_finish *f)
{
	struct lxd_sched *s = lxd__sched;
	if (lxd_unlikely(!s))
		return -ENXIO;
	if (lxd_unlikely(!f))
		return -EINVAL;
	struct lxd_thread *t = s->cur;
	while (f->pending) {
		f->waiter = t;
		t->state = LXD_T_BLOCKED;
		block(s, t);
	}
	f->waiter = NULL;
	return 0;
}

int lxd_yield(void)
{
	struct lxd_sched *s = lxd__sched;
	if (!s)
		return -ENXIO;
	struct lxd_thread *t = s->cur;
	runq_push(s, t);
	block(s, t);
	return 0;
}

int lxd_thread_id(void)
{
	struct lxd_sched *s = lxd__sched;
	return s ? s->cur->index : -ENXIO;
}

const char *lxd_thread_name(void)
{
	struct lxd_sched *s = lxd__sched;
	return s ? s->cur->name : NULL;
}

int lxd_async_stats(struct lxd_async_stats *st)
{
	struct lxd_sched *s = lxd__sched;
	if (!st)
		return -EINVAL;
	if (!s)
		return -ENXIO;
	*st = s->st;
	st->stacks_free = s->nfree;
	st->stacks = s->nthreads - 1;
	return 0;
}

/* ---- set-up ------------------------------------------------------------------------ */

static uint64_t current_fpword(void)
{
	uint32_t mxcsr;
	uint16_t fcw;
	__asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
	__asm__ volatile("fnstcw %0" : "=m"(fcw));
	return mxcsr | (uint64_t)fcw << 32;
}

int lxd_async_init(const struct lxd_async_config *cfg)
{
	if (lxd__sched)
		return -EBUSY;
	struct lxd_async_config c = {LXD_ASYNC_DEFAULT_STACKS, LXD_ASYNC_DEFAULT_STACK_SIZE, 0};
	if (cfg) {
		if (cfg->stacks)
			c.stacks = cfg->stacks;
		if (cfg->stack_size)
			c.stack_size = cfg->stack_size;
		c.guard_size = cfg->guard_size;
	}
	if (c.stacks > LXD_ASYNC_MAX_STACKS || c.stack_size < 4096 || c.stack_size > (1u << 30) ||
	    c.guard_size > (1u << 20))
		return -EINVAL;

	struct lxd_sched *s = calloc(1, sizeof(*s));
	struct lxd_thread *th = calloc(c.stacks + 1, sizeof(*th));
	if (!s || !th) {
		free(s);
		free(th);
		return -ENOMEM;
	}
	s->threads = th;
	s->nthreads = c.stacks + 1;
	s->registry_slot = -1;
	int rc = lxd__stacks_map(s, c.stacks, c.stack_size, c.guard_size);
	if (rc) {
		free(th);
		free(s);
		return rc;
	}
	s->fpword = current_fpword();

	/* The OS thread's own context: thread 0, no pooled stack. */
	struct lxd_thread *m = &th[0];
	m->index = 0;
	m->name = "main";
	m->state = LXD_T_RUNNING;
#ifdef LXD_ASAN
	pthread_attr_t attr;
	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		void *lo;
		size_t sz;
		if (pthread_attr_getstack(&attr, &lo, &sz) == 0) {
			m->stack_lo = lo;
			m->stack_size = sz;
		}
		pthread_attr_destroy(&attr);
	}
#endif
#ifdef LXD_TSAN
	m->tsan_fiber = __tsan_get_current_fiber();
#endif
	/* Pool in index order, so the first threads out are 1, 2, ... */
	for (unsigned i = c.stacks; i >= 1; i--) {
		struct lxd_thread *t = &th[i];
		t->index = (uint16_t)i;
		t->stack_lo = s->pool + (size_t)(i - 1) * s->stride + s->guard;
		t->stack_size = s->stack_size;
		t->name = "async";
		lxd__thread_put(s, t);
	}
	s->cur = m;
	lxd__sched = s;
	return 0;
}

int lxd_async_fini(void)
{
	struct lxd_sched *s = lxd__sched;
	if (!s)
		return -ENXIO;
	if (s->cur != &s->threads[0] || s->nfree != s->nthreads - 1 || s->neps)
		return -EBUSY;
	lxd__stacks_unmap(s);
	lxd__sched = NULL;
	free(s->threads);
	free(s);
	return 0;
}

/* ---- lxds bench async: the bare switch ----------------------------------------------- */

struct measure {
	struct lxd_thread *main, *peer;
	bool stop;
};

static inline void bare_switch(struct lxd_sched *s, struct lxd_thread *from, struct lxd_thread *to)
{
#if LXD_FIBER_SANITIZED
	switch_to(s, from, to, false);
#else
	s->cur = to;
	lxd__ctx_switch_inline(&from->sp, to->sp);
#endif
}

static void measure_peer(void *arg)
{
	struct measure *m = arg;
	struct lxd_sched *s = lxd__sched;
	struct lxd_thread *self = s->cur;
	m->peer = self;
	self->state = LXD_T_BLOCKED;
	lxd__block(s, self); /* back to the parent the ordinary way */
	while (!m->stop)
		bare_switch(s, self, m->main);
}

double lxd_async_measure_switch(unsigned n)
{
	struct lxd_sched *s = lxd__sched;
	if (!s)
		return -ENXIO;
	if (!s->free_list)
		return -EBUSY;
	struct measure m = {.main = s->cur};
	struct lxd_finish f = LXD_FINISH_INIT;
	lxd_async_named(&f, measure_peer, &m, "measure");
	for (unsigned i = 0; i < 64; i++)
		bare_switch(s, m.main, m.peer);
	uint64_t t0 = lxd_rdtsc();
	for (unsigned i = 0; i < n; i++)
		bare_switch(s, m.main, m.peer);
	uint64_t t1 = lxd_rdtsc();
	m.stop = true;
	lxd__wake(s, m.peer);
	lxd_finish(&f);
	return n ? (double)(t1 - t0) / (2.0 * n) : 0;
}
