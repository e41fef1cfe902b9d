/* SPDX-License-Identifier: MIT */
/*
 * The lxds async runtime: lightweight threads, do/finish, awaitable calls.
 *
 * In the style of AC ("Composable Asynchronous IO for Native Languages",
 * OOPSLA'11), as LXDs used it, in portable C (no nested functions):
 *
 *     struct lxd_finish f = LXD_FINISH_INIT;      // do {
 *     lxd_async(&f, send_one, &a);                //   async send_one(&a);
 *     lxd_async(&f, send_one, &b);                //   async send_one(&b);
 *     lxd_finish(&f);                             // } finish;
 *
 * lxd_async() runs its function at once, as a plain call on a stack taken
 * from a pool.  If the function returns without blocking, that was all (a
 * few tens of cycles).  If it blocks -- waits for a reply, yields, waits in
 * a nested finish -- the caller carries on right after lxd_async(), and
 * the blocked thread resumes later.  lxd_finish() waits until every async
 * started in its scope is done.
 *
 * The runtime is per OS thread: lxd_async_init() sets up a scheduler for
 * the calling thread, with every stack allocated up front (guard page
 * below each), so nothing on the hot path allocates or makes a system
 * call.  A stack overflow ends the process with a message naming the
 * lightweight thread.  No locks: lightweight threads of one scheduler never
 * run on another OS thread, and one scheduler's threads must not be touched
 * from another OS thread.
 *
 * Endpoints join the runtime to fIPC channels (include/lxds/fipc.h).  A
 * call sends a request on the channel's ring tagged with the caller's
 * thread id and blocks; whoever polls the channel hands each reply to the
 * thread that waits for it.  Incoming requests each run in a new
 * lightweight thread, so a handler may itself call the other side, nested,
 * in both directions.
 *
 * Errors are negative errno values.
 */
#ifndef LXDS_ASYNC_H
#define LXDS_ASYNC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lxds/fipc.h"

/* ---- the scheduler ------------------------------------------------------------ */

struct lxd_async_config {
	unsigned stacks;   /* lightweight threads that may exist at once (default 256, max 16384) */
	size_t stack_size; /* usable bytes per stack, rounded up to pages (default 64 KiB) */
	size_t guard_size; /* inaccessible bytes below each stack, rounded up to pages (default 1 page) */
};

#define LXD_ASYNC_DEFAULT_STACKS 256u
#define LXD_ASYNC_MAX_STACKS 16384u
#define LXD_ASYNC_DEFAULT_STACK_SIZE (64u * 1024)

/*
 * Set up the runtime for the calling OS thread: maps every stack and guard
 * page, the signal stack for the overflow handler, and installs that
 * handler (once per process).  Call it before a sandbox forbids mmap,
 * mprotect, sigaltstack and sigaction.  @cfg may be NULL (defaults).
 * Returns 0, -EBUSY if this thread already has one, -EINVAL for a bad
 * configuration, -ENOMEM (or another -errno) when the memory is not there.
 */
int lxd_async_init(const struct lxd_async_config *cfg);

/*
 * Tear down this OS thread's runtime.  Returns 0, -ENXIO if there is none,
 * -EBUSY while lightweight threads are still alive, endpoints still
 * attached, or when called from a lightweight thread other than the main
 * context.
 */
int lxd_async_fini(void);

/* A do { ... } finish scope.  Lives on the stack of whoever opens it. */
struct lxd_finish {
	unsigned pending;           /* asyncs started in the scope, not yet done */
	struct lxd_thread *waiter;  /* the thread blocked in lxd_finish(), if any */
};

#define LXD_FINISH_INIT {0, NULL}

typedef void (*lxd_async_fn)(void *arg);

/*
 * async fn(arg) inside scope @f: runs fn at once on a fresh lightweight
 * thread; returns when fn returns or first blocks.  When no stack is free,
 * fn runs as a plain call on the caller's own thread (counted in
 * lxd_async_stats.no_stack): correct, only less concurrent.
 * Returns 0, -EINVAL for a NULL @f or @fn, -ENXIO without a runtime.
 */
int lxd_async(struct lxd_finish *f, lxd_async_fn fn, void *arg);

/* Same, with a name the overflow message and lxd_thread_name() report.
 * @name must outlive the thread (a string literal). */
int lxd_async_named(struct lxd_finish *f, lxd_async_fn fn, void *arg, const char *name);

/*
 * Wait until every async started in @f (and so, transitively, everything
 * they started in nested scopes) is done.  Other threads run meanwhile.
 * Returns 0, -EINVAL for NULL, -ENXIO without a runtime.
 */
int lxd_finish(struct lxd_finish *f);

/*
 * do { body } finish as a statement:
 *     LXD_DO_FINISH(f) { lxd_async(&f, a, x); lxd_async(&f, b, y); }
 * Leaving the body with break, return or goto skips the finish: don't.
 */
#define LXD_DO_FINISH(f)                                                          \
	for (struct lxd_finish f = LXD_FINISH_INIT, *f##_once_ = &f; f##_once_;    \
	     (void)lxd_finish(&f), f##_once_ = NULL)

/*
 * Let every other runnable thread run (and poll the endpoints when none
 * is), then continue.  Returns 0, or -ENXIO without a runtime.
 */
int lxd_yield(void);

/* Id of the running lightweight thread (0 = the OS thread's own context), or -ENXIO. */
int lxd_thread_id(void);

/* Name of the running lightweight thread ("main" for the OS thread's own context), or NULL. */
const char *lxd_thread_name(void);

struct lxd_async_stats {
	uint64_t asyncs;      /* lxd_async() calls */
	uint64_t blocked;     /* asyncs that blocked before finishing (needed their own stack for long) */
	uint64_t no_stack;    /* asyncs run on the caller's thread because the pool was empty */
	uint64_t switches;    /* context switches */
	uint64_t idle_waits;  /* times the scheduler waited on a channel doorbell */
	unsigned stacks_free; /* stacks in the pool now */
	unsigned stacks;      /* pool size */
};

/* Copy this OS thread's statistics into @st.  Returns 0, -EINVAL, or -ENXIO. */
int lxd_async_stats(struct lxd_async_stats *st);

/* ---- endpoints: awaitable calls over one fIPC channel ---------------------------- */

/*
 * The 24-bit op field of a message (see fipc.h): rpc numbers 0..LXD_RPC_MAX,
 * LXD_OP_CONTROL for runtime/control messages (the domain layer's), and
 * LXD_OP_REPLY on replies.  A reply's low 22 bits carry the handler's
 * status: 0, or a positive errno.
 */
#define LXD_RPC_MAX 0x3fffffu
#define LXD_OP_CONTROL 0x400000u
#define LXD_OP_REPLY 0x800000u

/*
 * An rpc handler: @in is a private copy of the request's seven words, @out
 * (zeroed) becomes the reply's.  Runs in its own lightweight thread, so it
 * may block and make calls of its own.  Returns 0 or -errno; the caller's
 * lxd_call() returns that value (errno values are cut to 22 bits).
 */
typedef int (*lxd_rpc_fn)(void *ctx, const uint64_t in[LXD_MSG_WORDS], uint64_t out[LXD_MSG_WORDS]);

/*
 * A control message (op has LXD_OP_CONTROL set), handed over as received:
 * the op (with the bit), the tag and a private copy of the words.  Runs in
 * the poller: it must not block.
 */
typedef void (*lxd_control_fn)(void *ctx, uint32_t op, uint32_t tag, const uint64_t w[LXD_MSG_WORDS]);

struct lxd_ep_config {
	const lxd_rpc_fn *handlers; /* indexed by rpc number; NULL entries answer -ENOSYS */
	uint32_t nhandlers;         /* entries in @handlers (0: this side serves nothing) */
	void *ctx;                  /* first argument of every handler */
	unsigned max_outstanding;   /* calls in flight at once (0: the ring size) */
	/* A poll round takes every reply waiting, not the replies of half the
	 * calls in flight (see poll_ep()): for an endpoint whose callers do not
	 * call again when answered (a batch's caller ends its requests and
	 * finishes; the next call comes from elsewhere). */
	bool take_all_replies;
	lxd_control_fn control;     /* control messages (NULL: dropped and counted) */
	void *control_ctx;
};

struct lxd_ep_stats {
	uint64_t calls;            /* requests sent */
	uint64_t replies;          /* replies handed to a waiting thread */
	uint64_t requests;         /* requests received (handler threads started) */
	uint64_t bad_requests;     /* requests for an rpc number with no handler (answered -ENOSYS) */
	uint64_t replies_unknown;  /* replies naming no waiting thread: rejected */
	uint64_t replies_dup;      /* replies to a call already answered: rejected */
	uint64_t control;          /* control messages received */
	uint64_t control_dropped;  /* ... with no control handler set */
	uint64_t dropped;          /* messages lost: replies owed to a peer that died */
	uint64_t backpressure;     /* times a sender waited for ring space or an outstanding credit */
	unsigned outstanding;      /* calls in flight now */
	bool dead;                 /* the peer died: every call returns -EIO */
};

/*
 * Joins one fIPC channel to this OS thread's runtime.  The caller owns the
 * memory; the fields are the runtime's.
 */
/*
 * A reply callback (lxd_call_cb): @result is the handler's 0 or -errno
 * (-EIO once the peer died, when @w is NULL), @w the reply's words.
 */
typedef void (*lxd_reply_fn)(void *arg, int result, const uint64_t w[LXD_MSG_WORDS]);

/* Callback calls one endpoint may have in flight at once. */
#define LXD_EP_CALLBACKS 32u

struct lxd_ep_callback {
	lxd_reply_fn fn;
	void *arg;
	uint16_t seq; /* of the call in flight in this slot: a stale reply is seen */
};

struct lxd_ep {
	struct lxd_chan *ch;
	struct lxd_sched *sched;
	const lxd_rpc_fn *handlers;
	uint32_t nhandlers;
	void *ctx;
	lxd_control_fn control;
	void *control_ctx;
	unsigned max_outstanding;
	unsigned handlers_active;
	unsigned replies_left;     /* replies the current poll round may still take */
	bool take_all_replies;     /* lxd_ep_config's */
	struct lxd_thread *bp_credit, *bp_credit_tail; /* callers waiting for a credit and room */
	struct lxd_thread *bp_room, *bp_room_tail;     /* replies and nested calls waiting for room */
	uint32_t cb_free;                              /* bit i: cb[i] is free */
	struct lxd_ep_callback cb[LXD_EP_CALLBACKS];   /* callback calls in flight */
	struct lxd_ep_stats st;
};

/*
 * Attach @ep to channel @ch (attached by the caller, either side) on this
 * OS thread's runtime.  At most LXD_ASYNC_MAX_EPS per runtime.  Returns 0,
 * -EINVAL for bad arguments, -ENXIO without a runtime, -ENOSPC when the
 * runtime has no room for another endpoint.
 */
#define LXD_ASYNC_MAX_EPS 16u
int lxd_ep_init(struct lxd_ep *ep, struct lxd_chan *ch, const struct lxd_ep_config *cfg);

/*
 * Detach @ep.  Returns 0, -EINVAL if it is not attached to this thread's
 * runtime, -EBUSY while calls are outstanding, handlers are running or
 * threads wait for ring space (unless the peer is dead).
 */
int lxd_ep_fini(struct lxd_ep *ep);

/*
 * Call rpc @op on the other side with the seven words @in (NULL: zeros);
 * the reply's words go to @out (NULL: dropped).  Blocks the calling
 * lightweight thread -- or, from the OS thread's own context, runs the
 * scheduler and dispatcher -- until the reply is in.  While the ring is
 * full or max_outstanding calls are in flight, it waits rather than fails.
 * A nested call -- made by a handler, or by an async a handler started --
 * waits for ring room only, never for a credit: the credits of both sides
 * could all be held by calls whose handlers need one more call to finish.
 * Returns the handler's 0 or -errno, -ENOSYS when the other side has no
 * such handler, -EIO once the peer is marked dead (lxd_chan_mark_dead()),
 * -EINVAL for an @op above LXD_RPC_MAX or a foreign endpoint, -ENXIO
 * without a runtime.
 */
int lxd_call(struct lxd_ep *ep, uint32_t op, const uint64_t in[LXD_MSG_WORDS],
	     uint64_t out[LXD_MSG_WORDS]);

/*
 * Call rpc @op like lxd_call(), but without a thread waiting for the
 * answer: @done(@arg, result, reply words) runs inside the poll that takes
 * the reply, on this OS thread (from lxd_async_poll(), lxd_poll() and the
 * like, never from lxd_call_cb() itself), and must not block; it may make
 * more calls.  When the peer dies, each pending callback runs once with
 * -EIO and NULL words, at the next poll (or in lxd_ep_fini()).  For a
 * caller that would only wake up to hand the reply on (a block driver's
 * completions): no thread to start, switch to and finish per call.
 * Never waits: returns 0 once sent, -EAGAIN when the call cannot go now
 * (ring full, max_outstanding calls or LXD_EP_CALLBACKS callbacks in
 * flight; nothing was sent: poll, or wait in lxd_call()), -EIO once the
 * peer is dead, -EINVAL for a NULL @done, an @op above LXD_RPC_MAX or a
 * foreign endpoint, -ENXIO without a runtime.
 */
int lxd_call_cb(struct lxd_ep *ep, uint32_t op, const uint64_t in[LXD_MSG_WORDS], lxd_reply_fn done,
		void *arg);

/*
 * One round of dispatch without waiting: poll every endpoint once, then run
 * every runnable thread until it blocks.  Returns the number of messages
 * taken, or -ENXIO without a runtime.
 */
int lxd_async_poll(void);

/*
 * The dispatch loop: poll, run, and when there is nothing to do wait on
 * the channel doorbell (spin, then sleep), until *@stop is true (checked
 * at least every 10 ms; lxd_chan_kick_self() on the channel makes it
 * prompt) or every endpoint's peer is dead.  Returns 0 when stopped,
 * -EIO when the peers died, -ENXIO without a runtime.
 */
int lxd_async_serve(const _Atomic bool *stop);

/* Copy @ep's statistics into @st.  Returns 0 or -EINVAL. */
int lxd_ep_stats(const struct lxd_ep *ep, struct lxd_ep_stats *st);

/* ---- for lxds bench async --------------------------------------------------------- */

/*
 * Measure the bare context switch: @n round trips between this context and
 * a lightweight thread, no scheduler in between.  Returns TSC cycles per
 * one-way switch, or a negative value (-ENXIO, -EBUSY with no free stack).
 */
double lxd_async_measure_switch(unsigned n);

#endif
