/* SPDX-License-Identifier: MIT */
/*
 * The scheduler: starting threads inline, blocking, waking, do/finish.
 *
 * lxd_async() takes a thread (with its stack) from the pool and calls the
 * function on that stack through lxd__ctx_start(), which first saves the
 * caller's context the way a switch would.  Two ways back:
 *
 *   - the function returns: the thread puts itself back in the pool and
 *     lxd__ctx_start() returns as from a plain call.  No switch, no queue.
 *   - the function blocks while still running inline (its parent pointer is
 *     set): it switches to the saved parent context, which returns from
 *     lxd_async() and carries on.  The blocked thread is resumed later
 *     from the run queue.
 *
 * A thread that blocks with no parent waiting runs the scheduler loop on
 * its own stack: take the next runnable thread, or poll the endpoints
 * (which may start handler threads inline, with the poller as parent), or
 * wait on a doorbell.  There is no scheduler thread and no extra switch.
 * A thread that finishes after blocking runs the same loop, then puts its
 * stack back in the pool and jumps to the next thread without saving
 * anything (lxd__ctx_exit): nothing else runs in between, so nobody can
 * take the stack it still stands on.
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
 * The block and spawn paths are inlined into the public calls, and each
 * public call that may switch ends in the switch as a tail call
 * (`return lxd__ctx_switch(...)`).  The saved resume address is then the
 * public call's own return address, so a resumed thread jumps straight
 * back into the code that called lxd_yield(), lxd_finish(), lxd_call() or
 * lxd_async().  Any return of ours it executed instead would be
 * mispredicted: the CPU's return-address stack holds the calls of the
 * thread that switched, not of the one resumed (~15-20 cycles each; three
 * of them made up ~50 of the 117 cycles of a blocking async).
 */
#define LXD_HOT_INLINE inline __attribute__((always_inline))

/* ---- switching, with the sanitizers told ------------------------------------------- */

/*
 * Always inlined: under TSan a function of its own would be entered on the
 * outgoing fiber's shadow stack and left on the incoming one's, so every
 * switch would move one frame from one shadow stack to the other until one
 * underflows (TSan then crashes in its own interceptors).
 */
#if LXD_FIBER_SANITIZED
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
#endif

static inline __attribute__((always_inline)) void san_switch_end(struct lxd_thread *self)
{
#ifdef LXD_ASAN
	__sanitizer_finish_switch_fiber(self->asan_fake, NULL, NULL);
#endif
	(void)self;
}

#if LXD_FIBER_SANITIZED
/* Free the thread whose stack the previous switch left, now that we are off
 * it (sanitizer builds: TSan's fiber may not be destroyed while on it). */
static inline void reap(struct lxd_sched *s)
{
	if (lxd_unlikely(s->zombie != NULL)) {
		lxd__thread_put(s, s->zombie);
		s->zombie = NULL;
	}
}

/* Inline switch, announced to the sanitizers; returns when @from is resumed. */
static LXD_HOT_INLINE void switch_to(struct lxd_sched *s, struct lxd_thread *from,
				      struct lxd_thread *to, bool from_dying, int rc)
{
	s->cur = to;
	s->st.switches++;
	san_switch_begin(from, to, from_dying);
	lxd__ctx_switch_inline(&from->sp, to->sp, rc);
	/* Resumed: someone switched back to @from. */
	san_switch_end(from);
	reap(s);
}
#endif

/*
 * Switch from the running @from to @to, handing @to @rc (what the call it
 * is suspended in returns).  Returns what @from's resumer hands it.  Use it
 * as `return switch_tail(...)` (see LXD_HOT_INLINE).
 */
static LXD_HOT_INLINE int switch_tail(struct lxd_sched *s, struct lxd_thread *from,
				      struct lxd_thread *to, int rc)
{
#if LXD_FIBER_SANITIZED
	switch_to(s, from, to, false, rc);
	return from->result;
#else
	s->cur = to;
	s->st.switches++;
	return lxd__ctx_switch(&from->sp, to->sp, rc);
#endif
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

/*
 * @t (the running thread, blocked or runnable, t->result set to what it
 * will return) gives up the CPU: to its parent if it still runs inline,
 * else to the next runnable thread, polling the endpoints (and waiting on
 * a doorbell) while there is none.  Returns t->result once @t runs again.
 */
static LXD_HOT_INLINE int block(struct lxd_sched *s, struct lxd_thread *t)
{
	if (t->parent) {
		/* Started inline and blocked for the first time: the parent,
		 * waiting in lxd__ctx_start(), goes on; its lxd_async() returns 0. */
		struct lxd_thread *p = t->parent;
		t->parent = NULL;
		t->ever_blocked = true;
		s->st.blocked++;
		return switch_tail(s, t, p, 0);
	}
	for (;;) {
		struct lxd_thread *u = runq_pop(s);
		if (u) {
			u->state = LXD_T_RUNNING;
			if (u == t) {
				s->cur = t;
				return t->result;
			}
			return switch_tail(s, t, u, u->result);
		}
		if (lxd__poll_all(s) == 0 && !s->runq)
			lxd__idle(s);
	}
}

int lxd__block(struct lxd_sched *s, struct lxd_thread *t)
{
	return block(s, t);
}

/* An async of scope @f is done.  The thread waiting in lxd_finish(), if
 * any, is woken only here and only when nothing is pending: lxd_finish()
 * relies on that and does not look again. */
static inline void scope_done(struct lxd_sched *s, struct lxd_finish *f)
{
	if (f && --f->pending == 0 && f->waiter) {
		struct lxd_thread *w = f->waiter;
		f->waiter = NULL;
		lxd__wake(s, w);
	}
}

/* A thread that blocked at least once has finished: run the next one, never return. */
static __attribute__((noreturn)) void thread_exit(struct lxd_sched *s, struct lxd_thread *t)
{
	for (;;) {
		struct lxd_thread *u = runq_pop(s);
		if (u) {
			u->state = LXD_T_RUNNING;
#if LXD_FIBER_SANITIZED
			s->zombie = t; /* freed by @u once we are off this stack */
			s->cur = u;
			s->st.switches++;
			san_switch_begin(t, u, true);
			lxd__ctx_switch_inline(&t->sp, u->sp, u->result);
			__builtin_unreachable();
#else
			s->cur = u;
			s->st.switches++;
			lxd__thread_put(s, t); /* no one runs before the jump: the stack is ours till then */
			lxd__ctx_exit(u->sp, u->result);
#endif
		}
		if (lxd__poll_all(s) == 0 && !s->runq)
			lxd__idle(s);
	}
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
		/* Never blocked: back to the parent. */
		struct lxd_thread *p = t->parent;
		t->parent = NULL;
		s->cur = p;
#if LXD_FIBER_SANITIZED
		/* The parent frees us in spawn(), off this stack. */
		san_switch_begin(t, p, true);
		lxd__ctx_switch_inline(&t->sp, p->sp, 0);
		__builtin_unreachable();
#else
		/* Into the pool now: nothing runs before lxd__ctx_start()
		 * leaves this stack. */
		lxd__thread_put(s, t);
		return; /* lxd__ctx_start() resumes the parent */
#endif
	}
	thread_exit(s, t);
}

/*
 * Start @fn(@arg) inline on the first pooled thread (the caller checked
 * there is one).  Returns 0 when @fn has returned or blocked.  Use it as
 * `return spawn(...)`: the parent's context is saved by lxd__ctx_start(),
 * which a tail call makes resume in the caller's caller.
 */
static LXD_HOT_INLINE int spawn(struct lxd_sched *s, struct lxd_finish *f, lxd_async_fn fn,
				void *arg, const char *name)
{
	struct lxd_thread *c = s->free_list;
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
	switch_to(s, p, c, false, 0);
	/* Back in the parent: @c either finished or blocked. */
	if (c->state == LXD_T_DONE)
		lxd__thread_put(s, c);
	return 0;
#else
	s->cur = c;
	return lxd__ctx_start(&p->sp, top, thread_main, c);
#endif
}

int lxd__spawn(struct lxd_sched *s, struct lxd_finish *f, lxd_async_fn fn, void *arg,
	       const char *name)
{
	return spawn(s, f, fn, arg, name);
}

/* ---- the public API --------------------------------------------------------------- */

static LXD_HOT_INLINE int async_named(struct lxd_finish *f, lxd_async_fn fn, void *arg,
				      const char *name)
{
	struct lxd_sched *s = lxd__sched;
	if (lxd_unlikely(!s))
		return -ENXIO;
	if (lxd_unlikely(!f || !fn))
		return -EINVAL;
	s->st.asyncs++;
	f->pending++;
	if (lxd_likely(s->free_list != NULL))
		return spawn(s, f, fn, arg, name);
	/* No stack: run it on ours.  If it blocks, we block with it. */
	s->st.no_stack++;
	fn(arg);
	scope_done(s, f);
	return 0;
}

int lxd_async_named(struct lxd_finish *f, lxd_async_fn fn, void *arg, const char *name)
{
	return async_named(f, fn, arg, name);
}

int lxd_async(struct lxd_finish *f, lxd_async_fn fn, void *arg)
{
	return async_named(f, fn, arg, "async");
}

int lxd_finish(struct lxd_finish *f)
{
	struct lxd_sched *s = lxd__sched;
	if (lxd_unlikely(!s))
		return -ENXIO;
	if (lxd_unlikely(!f))
		return -EINVAL;
	if (!f->pending)
		return 0;
	/* Woken only once nothing is pending (scope_done()). */
	struct lxd_thread *t = s->cur;
	f->waiter = t;
	t->state = LXD_T_BLOCKED;
	t->result = 0;
	return block(s, t);
}

int lxd_yield(void)
{
	struct lxd_sched *s = lxd__sched;
	if (!s)
		return -ENXIO;
	struct lxd_thread *t = s->cur;
	lxd__runq_push(s, t);
	t->result = 0;
	return block(s, t);
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
	switch_to(s, from, to, false, 0);
#else
	s->cur = to;
	lxd__ctx_switch_inline(&from->sp, to->sp, 0);
#endif
}

static void measure_peer(void *arg)
{
	struct measure *m = arg;
	struct lxd_sched *s = lxd__sched;
	struct lxd_thread *self = s->cur;
	m->peer = self;
	self->state = LXD_T_BLOCKED;
	(void)lxd__block(s, self); /* back to the parent the ordinary way */
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
