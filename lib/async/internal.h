/* SPDX-License-Identifier: MIT */
/* Private state of the async runtime, shared by the files of lib/async. */
#ifndef LXDS_ASYNC_INTERNAL_H
#define LXDS_ASYNC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "lxds/async.h"
#include "lxds/compiler.h"

/* ---- sanitizers ------------------------------------------------------------------ */

/*
 * ASan and TSan must be told about every stack switch (fiber API), else they
 * see one thread's stack jump around and report nonsense.  Under either,
 * threads start through a switch onto a prepared frame instead of the
 * call-on-stack fast path, so each switch can be announced before it
 * happens.
 */
#if defined(LXD_ASAN) || defined(LXD_TSAN)
#define LXD_FIBER_SANITIZED 1
#else
#define LXD_FIBER_SANITIZED 0
#endif

/* ---- threads --------------------------------------------------------------------- */

enum lxd_thread_state {
	LXD_T_FREE,     /* in the pool */
	LXD_T_RUNNING,  /* running, or suspended as the parent of a thread started inline */
	LXD_T_RUNNABLE, /* in the run queue */
	LXD_T_BLOCKED,  /* waiting: a reply, a finish scope, ring space */
	LXD_T_DONE,     /* returned; its stack goes back to the pool */
};

/* Tag of a request: thread index in the low 16 bits, that thread's call
 * sequence number in the high 16 (so a stale or repeated reply is seen). */
#define LXD_TAG_INDEX(tag) ((tag) & 0xffffu)
/* An index with this bit names a callback slot of the endpoint
 * (lxd_call_cb), not a thread: thread indices stay below LXD_ASYNC_MAX_STACKS. */
#define LXD_TAG_CALLBACK 0x8000u
#define LXD_TAG_SEQ(tag) ((uint16_t)((tag) >> 16))

struct lxd_thread {
	void *sp;                  /* saved stack pointer while not running */
	struct lxd_thread *parent; /* while started inline: the context waiting in lxd__ctx_start */
	struct lxd_thread *next;   /* run queue, pool, back-pressure lists */
	struct lxd_finish *scope;  /* scope counted down when done (NULL: a handler) */
	lxd_async_fn fn;
	void *arg;
	const char *name;
	uint16_t index;            /* position in sched->threads; 0 = the OS thread's own context */
	uint16_t seq;              /* sequence number of this thread's last call */
	uint8_t state;
	bool waiting_reply;        /* a call of seq is in flight */
	bool ever_blocked;
	bool serving;              /* runs a peer's request (a handler, or an async it started) */
	int result;                /* what the call it blocks in returns when resumed (0, a reply) */
	struct lxd_ep *wait_ep;    /* endpoint of the call in flight */
	uint64_t *reply_out;

	/* a handler thread: its private copy of the request */
	struct lxd_ep *req_ep;
	uint32_t req_op, req_tag;
	uint32_t serve_start;      /* sched->taken when the poll that started it began */
	uint64_t req_w[LXD_MSG_WORDS];

	char *stack_lo;            /* usable stack: [stack_lo, stack_lo + stack_size) */
	size_t stack_size;
#ifdef LXD_TSAN
	void *tsan_fiber;
#endif
#ifdef LXD_ASAN
	void *asan_fake;           /* ASan's fake stack, saved across a switch */
#endif
};

struct lxd_sched {
	struct lxd_thread *cur;                /* running thread */
	struct lxd_thread *free_list;          /* pool, last freed first (its stack is warm) */
	unsigned nfree;
	struct lxd_thread *runq, *runq_tail;
	struct lxd_thread *zombie;             /* sanitizer builds: finished thread whose stack we just left */
	struct lxd_thread *threads;            /* [0] = main context, [1..stacks] pooled */
	unsigned nthreads;
	struct lxd_ep *eps[LXD_ASYNC_MAX_EPS];
	unsigned neps;
	unsigned idle_rr;
	uint32_t taken;                        /* messages taken off the rings, ever (poll budgets) */
	uint64_t fpword;                       /* MXCSR + x87 control word of new threads */

	/* the stack pool: stride bytes per stack, guard at the low end */
	char *pool;
	size_t pool_len, stride, guard, stack_size;
	void *altstack;
	size_t altstack_len;
	int registry_slot;

	struct lxd_async_stats st;
};

extern __thread struct lxd_sched *lxd__sched;

/* switch.S */
int lxd__ctx_switch(void **save_sp, void *to_sp, int rc);
__attribute__((noreturn)) void lxd__ctx_exit(void *to_sp, int rc);
int lxd__ctx_start(void **save_sp, void *stack_top, void (*fn)(void *), void *arg);
void lxd__ctx_trampoline(void);

/*
 * The context switch, inlined where it is used (the sanitizer builds, which
 * must announce each switch around it, and the bare-switch benchmark).  It
 * saves and restores exactly the frame lxd__ctx_switch() does (see
 * switch.S), so either can resume the other's contexts, and like it hands
 * @rc to the resumed context in eax; it neither calls nor returns: the
 * resume address is a label here, reached by an indirect jump.
 *
 * The 128-byte red zone below the stack pointer may hold the caller's
 * data: the frame goes below it.  Everything the ABI lets a call destroy is
 * declared clobbered, since another thread's code runs before we resume.
 */
static inline __attribute__((always_inline)) void lxd__ctx_switch_inline(void **save_sp, void *to_sp,
									  int rc)
{
	__asm__ volatile(
		"leaq	-128(%%rsp), %%rsp\n\t"
		"leaq	1f(%%rip), %%rax\n\t"
		"pushq	%%rax\n\t"
		"pushq	%%rbp\n\t"
		"pushq	%%rbx\n\t"
		"pushq	%%r12\n\t"
		"pushq	%%r13\n\t"
		"pushq	%%r14\n\t"
		"pushq	%%r15\n\t"
		"subq	$8, %%rsp\n\t"
		"stmxcsr	(%%rsp)\n\t"
		"fnstcw	4(%%rsp)\n\t"
		"movq	%%rsp, (%%rdi)\n\t"
		"movl	(%%rsp), %%eax\n\t"
		"movzwl	4(%%rsp), %%ecx\n\t"
		"movq	%%rsi, %%rsp\n\t"
		/* load the FP control words only when they differ: ldmxcsr is slow */
		"cmpl	(%%rsp), %%eax\n\t"
		"jne	2f\n\t"
		"cmpw	4(%%rsp), %%cx\n\t"
		"jne	3f\n"
		"4:\n\t"
		"addq	$8, %%rsp\n\t"
		"popq	%%r15\n\t"
		"popq	%%r14\n\t"
		"popq	%%r13\n\t"
		"popq	%%r12\n\t"
		"popq	%%rbx\n\t"
		"popq	%%rbp\n\t"
		"movl	%%edx, %%eax\n\t"
		"popq	%%rcx\n\t"
		"jmpq	*%%rcx\n"
		"2:\n\t"
		"ldmxcsr	(%%rsp)\n"
		"3:\n\t"
		"fldcw	4(%%rsp)\n\t"
		"jmp	4b\n"
		"1:\n\t"
		"leaq	128(%%rsp), %%rsp\n\t"
		: "+D"(save_sp), "+S"(to_sp), "+d"(rc)
		:
		: "rax", "rcx", "r8", "r9", "r10", "r11", "memory", "cc",
		  "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
		  "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
		  "st", "st(1)", "st(2)", "st(3)", "st(4)", "st(5)", "st(6)", "st(7)",
		  "mm0", "mm1", "mm2", "mm3", "mm4", "mm5", "mm6", "mm7");
}

/* stack.c: the pool's memory, guard pages and the overflow handler */
int lxd__stacks_map(struct lxd_sched *s, unsigned n, size_t stack_size, size_t guard);
void lxd__stacks_unmap(struct lxd_sched *s);

/* ---- the run queue (inline: the dispatcher wakes a thread per reply) ---------------- */

static inline void lxd__runq_push(struct lxd_sched *s, struct lxd_thread *t)
{
	t->state = LXD_T_RUNNABLE;
	t->next = NULL;
	if (s->runq_tail)
		s->runq_tail->next = t;
	else
		s->runq = t;
	s->runq_tail = t;
}

/* Make @t runnable if it is blocked (else it already is, or runs). */
static inline void lxd__wake(struct lxd_sched *s, struct lxd_thread *t)
{
	if (t->state == LXD_T_BLOCKED)
		lxd__runq_push(s, t);
}

/* sched.c */
/* Block t == s->cur (state already set) until woken; returns t->result as
 * the waker left it.  Call it as `return lxd__block(...)` where that is the
 * caller's answer: the resumed thread then lands in the caller's caller. */
int lxd__block(struct lxd_sched *s, struct lxd_thread *t);
/* Start fn(arg) inline on the first free thread (there must be one). */
int lxd__spawn(struct lxd_sched *s, struct lxd_finish *f, lxd_async_fn fn, void *arg,
	       const char *name);
void lxd__thread_put(struct lxd_sched *s, struct lxd_thread *t);

/* endpoint.c: the dispatcher the scheduler calls when it has nothing to run */
unsigned lxd__poll_all(struct lxd_sched *s);
void lxd__idle(struct lxd_sched *s);

#endif
