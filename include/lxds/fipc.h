/* SPDX-License-Identifier: MIT */
/*
 * fIPC: cross-core channels of 64-byte, cache-line-sized messages.
 *
 * A channel joins two sides (side 0, "kernel", and side 1, "domain") through
 * one block of shared memory.  Per direction it has:
 *
 *   - a ring of 2^k message slots.  Each slot carries its own state word, so
 *     the only thing that moves between the cores on the fast path is the
 *     slot itself: there are no shared head/tail counters.  Each side keeps
 *     its own indexes in its private struct lxd_chan.
 *   - a call line: one slot that a synchronous caller writes its request
 *     into and the callee writes the reply back into.  It is the same cache
 *     line from call to call (like ffwd's per-client request lines), so a
 *     round trip costs what a bare cache-line ping-pong costs.
 *   - a doorbell the receiver sleeps on (futex) when it has been idle; the
 *     sender rings it only when the receiver said it sleeps, so an awake
 *     peer costs no syscall.
 *
 * The shared block holds no pointers: both sides compute addresses from
 * their own mapping, so it may sit at different addresses in two processes.
 *
 * Errors are negative errno values.
 */
#ifndef LXDS_FIPC_H
#define LXDS_FIPC_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lxds/compiler.h"

#define LXD_MSG_WORDS 7

/*
 * One message: a header word and seven payload words, one cache line.
 * Header layout: bits 0..7 slot state, bits 8..31 op (24 bits, the caller's
 * own meaning: an rpc number), bits 32..63 tag (32 bits, e.g. the id of the
 * lightweight thread that waits for a reply).
 */
struct lxd_msg {
	_Atomic uint64_t hdr;
	uint64_t w[LXD_MSG_WORDS];
} LXD_CACHE_ALIGNED;

_Static_assert(sizeof(struct lxd_msg) == LXD_CACHE_LINE, "a message is one cache line");

enum lxd_slot_state {
	LXD_SLOT_FREE = 0,  /* ring: empty, sender may fill; call line: idle */
	LXD_SLOT_READY = 1, /* ring: published message; call line: request */
	LXD_SLOT_REPLY = 2, /* call line only: the reply is in the line */
};

#define LXD_HDR_STATE_MASK 0xffull
#define LXD_OP_MAX 0xffffffu

static inline uint64_t lxd_hdr_make(uint32_t op, uint32_t tag, unsigned state)
{
	return ((uint64_t)tag << 32) | ((uint64_t)(op & LXD_OP_MAX) << 8) | state;
}
static inline unsigned lxd_hdr_state(uint64_t hdr) { return (unsigned)(hdr & LXD_HDR_STATE_MASK); }
static inline uint32_t lxd_hdr_op(uint64_t hdr) { return (uint32_t)(hdr >> 8) & LXD_OP_MAX; }
static inline uint32_t lxd_hdr_tag(uint64_t hdr) { return (uint32_t)(hdr >> 32); }

/* Where a receiver sleeps.  Its own cache line: written only on the idle path. */
struct lxd_doorbell {
	_Atomic uint32_t seq;      /* futex word: bumped by every wake */
	_Atomic uint32_t sleeping; /* 1 while the receiver is (about to be) asleep */
	_Atomic uint64_t wakes;    /* statistics: futex wakes issued by senders */
} LXD_CACHE_ALIGNED;

enum lxd_chan_side { LXD_SIDE_KERNEL = 0, LXD_SIDE_DOMAIN = 1 };

/*
 * A side's private view of a channel.  Lives in that side's own memory; the
 * indexes are free-running counters, masked on use.
 */
struct lxd_chan {
	/* sending half: written only by this side */
	struct lxd_msg *tx;          /* ring this side sends on */
	struct lxd_doorbell *tx_bell; /* the peer's doorbell for that ring */
	uint32_t mask;               /* slots - 1 */
	uint32_t tx_head;            /* next slot to reserve */
	uint32_t tx_pub;             /* next slot to publish */
	uint32_t side;

	/* receiving half */
	struct lxd_msg *rx LXD_CACHE_ALIGNED; /* ring this side receives on */
	struct lxd_doorbell *rx_bell;         /* this side's doorbell */
	uint32_t rx_head;                     /* next slot to look at */
	uint32_t rx_rel;                      /* next slot to release */

	/* synchronous calls */
	struct lxd_msg *call_out; /* line this side calls through */
	struct lxd_msg *call_in;  /* line this side serves */

	/* idle policy: spin this many TSC cycles before sleeping; adapts */
	uint64_t spin_cycles;
	bool spin_fixed;            /* keep spin_cycles as set (tests, known traffic) */
	uint64_t sleeps;            /* statistics: times this side went to sleep */
	struct lxd_chan *also;      /* more channels lxd_chan_wait() watches (lxd_chan_wait_also) */
	_Atomic int dead;           /* set by lxd_chan_mark_dead(): waits fail with -EIO */

	void *shm;
	size_t shm_len;
};

/*
 * Once per process, before the first channel is used and before any
 * sandbox is installed: registers for membarrier (see lib/fipc/idle.c).
 * lxd_chan_attach() calls it; calling it again is free.
 */
void lxd_fipc_process_init(void);

/* Smallest and largest ring sizes accepted. */
#define LXD_CHAN_MIN_SLOTS 1u
#define LXD_CHAN_MAX_SLOTS (1u << 20)

/*
 * Bytes of shared memory a channel of @slots slots per direction needs.
 * Returns 0 when @slots is zero, not a power of two or too large.
 */
size_t lxd_chan_shm_size(uint32_t slots);

/*
 * Lay out an empty channel in @mem (zeroed or not).  Done once, by the side
 * that creates the memory.  Returns 0, or -EINVAL for a NULL/misaligned
 * @mem, a bad @slots or a @len too small.
 */
int lxd_chan_format(void *mem, size_t len, uint32_t slots);

/*
 * Attach side @side to the channel in @mem.  @slots is what this side
 * expects: the shared header is checked against it, never trusted for sizes.
 * Returns 0, -EINVAL for bad arguments, -EPROTO for a header that does not
 * match.
 */
int lxd_chan_attach(struct lxd_chan *ch, void *mem, size_t len, uint32_t slots,
		    enum lxd_chan_side side);

/*
 * Create a channel in fresh shared memory (memfd + mmap) and attach side 0.
 * *@fd receives the memfd (for handing to another process; the caller closes
 * it).  Returns 0 or -errno.
 */
int lxd_chan_create_shm(struct lxd_chan *ch, uint32_t slots, int *fd);

/* Map a memfd made by lxd_chan_create_shm() and attach @side.  Returns 0 or -errno. */
int lxd_chan_open_shm(struct lxd_chan *ch, int fd, uint32_t slots, enum lxd_chan_side side);

/* Unmap what lxd_chan_create_shm()/lxd_chan_open_shm() mapped. */
void lxd_chan_close_shm(struct lxd_chan *ch);

/* The peer is gone: every wait on @ch returns -EIO from now on.  Any thread may call it. */
void lxd_chan_mark_dead(struct lxd_chan *ch);

static inline bool lxd_chan_is_dead(struct lxd_chan *ch)
{
	return atomic_load_explicit(&ch->dead, memory_order_relaxed) != 0;
}

/* ---- sending -------------------------------------------------------------- */

/*
 * Reserve the next send slot.  Returns it, or NULL when the ring is full
 * (the peer has not released the slot yet, or every slot is already
 * reserved).  Fill msg->w[], then lxd_chan_publish().  Several may be
 * reserved before one publish (batching).
 */
static inline struct lxd_msg *lxd_chan_try_reserve(struct lxd_chan *ch)
{
	if (ch->tx_head - ch->tx_pub > ch->mask)
		return NULL;
	struct lxd_msg *m = &ch->tx[ch->tx_head & ch->mask];
	/* Acquire: pairs with the receiver's release in lxd_chan_release(), so
	 * its reads of the old payload are done before we overwrite it. */
	if (lxd_hdr_state(atomic_load_explicit(&m->hdr, memory_order_acquire)) != LXD_SLOT_FREE)
		return NULL;
	ch->tx_head++;
	return m;
}

/* Ring the peer's doorbell if it sleeps (slow path, out of line). */
void lxd__chan_wake(struct lxd_doorbell *bell);

/*
 * A publish must not be missed by a receiver that is just going to sleep:
 * the classic store(msg); load(sleeping)  vs  store(sleeping); load(msg).
 * Instead of a full fence here on every publish, the receiver issues a
 * membarrier() before its final re-check (see lxd_chan_wait()), which
 * orders our store and load for us: an asymmetric fence.  Without
 * membarrier, lxd__fipc_need_fence is set and we fence ourselves.
 */
extern int lxd__fipc_need_fence;

static inline void lxd__chan_kick(struct lxd_doorbell *bell)
{
	if (lxd__fipc_need_fence)
		atomic_thread_fence(memory_order_seq_cst);
	else
		atomic_signal_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&bell->sleeping, memory_order_relaxed))
		lxd__chan_wake(bell);
}

/*
 * After a publish: fetch the next send slot's line now, while nothing
 * waits on it.  The receiver wrote that slot last (its release, a ring's
 * length ago), so the line sits modified in the other core's cache, and
 * the next lxd_chan_try_reserve() would stall a whole cross-core transfer
 * on its header.  Fetched here, the line stays valid in ours: the
 * receiver only reads it (it polls that very slot) until we write it.
 * fio qd 32, isolated null_blk, cycles per 16-request batch: the send
 * 184-213 -> 172-175, the poll that takes the answer 1712-1783 ->
 * 1596-1642 (the domain's answer, sent the same way, is not held up on
 * its own reserve); docs/evaluation.md, "Session 15".
 */
static inline void lxd__chan_warm_next(const struct lxd_chan *ch)
{
	__builtin_prefetch(&ch->tx[ch->tx_head & ch->mask], 0, 3);
}

/* Publish message @m (reserved, not yet published) with @op and @tag set. */
static inline void lxd__msg_publish(struct lxd_msg *m, uint32_t op, uint32_t tag)
{
	/* Release: the payload stores are visible before the state says READY;
	 * pairs with the acquire in lxd_chan_try_recv(). */
	atomic_store_explicit(&m->hdr, lxd_hdr_make(op, tag, LXD_SLOT_READY), memory_order_release);
}

/*
 * Publish every reserved slot, in order, all with header (@op, @tag) unless
 * lxd_msg_set() gave one its own; then wake the peer if it sleeps.
 */
static inline void lxd_chan_publish(struct lxd_chan *ch)
{
	while (ch->tx_pub != ch->tx_head) {
		struct lxd_msg *m = &ch->tx[ch->tx_pub & ch->mask];
		uint64_t h = atomic_load_explicit(&m->hdr, memory_order_relaxed);
		lxd__msg_publish(m, lxd_hdr_op(h), lxd_hdr_tag(h));
		ch->tx_pub++;
	}
	lxd__chan_warm_next(ch);
	lxd__chan_kick(ch->tx_bell);
}

/* Set the op and tag of a reserved, unpublished message. */
static inline void lxd_msg_set(struct lxd_msg *m, uint32_t op, uint32_t tag)
{
	atomic_store_explicit(&m->hdr, lxd_hdr_make(op, tag, LXD_SLOT_FREE), memory_order_relaxed);
}

/*
 * Publish @m, the slot reserved last, with @op and @tag; then wake the peer
 * if it sleeps.  The same as lxd_msg_set() + lxd_chan_publish(), but when
 * @m is the only slot reserved (the usual case) its header is stored once,
 * READY at once, instead of stored, re-read and stored again.
 */
static inline void lxd_chan_publish_msg(struct lxd_chan *ch, struct lxd_msg *m, uint32_t op,
					uint32_t tag)
{
	if (lxd_unlikely(ch->tx_head - ch->tx_pub != 1)) {
		lxd_msg_set(m, op, tag);
		lxd_chan_publish(ch);
		return;
	}
	lxd__msg_publish(m, op, tag);
	ch->tx_pub = ch->tx_head;
	lxd__chan_warm_next(ch);
	lxd__chan_kick(ch->tx_bell);
}

/* Convenience: reserve, copy @nwords words of @w, publish.  Returns 0 or -EAGAIN (full). */
static inline int lxd_chan_try_send(struct lxd_chan *ch, uint32_t op, uint32_t tag,
				    const uint64_t *w, unsigned nwords)
{
	struct lxd_msg *m = lxd_chan_try_reserve(ch);
	if (!m)
		return -EAGAIN;
	for (unsigned i = 0; i < nwords && i < LXD_MSG_WORDS; i++)
		m->w[i] = w[i];
	lxd_chan_publish_msg(ch, m, op, tag);
	return 0;
}

/*
 * Reserve, waiting while the ring is full (spins; the peer is expected to
 * drain).  Returns the slot, or NULL once the channel is marked dead.
 */
struct lxd_msg *lxd_chan_reserve(struct lxd_chan *ch);

/* ---- receiving ------------------------------------------------------------ */

/*
 * The next received message without taking it, its header (read once, with
 * acquire) in *@hdr; NULL when there is none.  lxd_chan_take() takes it
 * (as lxd_chan_try_recv() would have); until then the next peek returns it
 * again.  For a receiver that decides by the header whether to take it.
 */
static inline struct lxd_msg *lxd_chan_peek(struct lxd_chan *ch, uint64_t *hdr)
{
	if (ch->rx_head - ch->rx_rel > ch->mask)
		return NULL; /* every slot is held unreleased by us */
	struct lxd_msg *m = &ch->rx[ch->rx_head & ch->mask];
	/* Acquire: pairs with the release in lxd__msg_publish(). */
	uint64_t h = atomic_load_explicit(&m->hdr, memory_order_acquire);
	if (lxd_hdr_state(h) != LXD_SLOT_READY)
		return NULL;
	*hdr = h;
	return m;
}

/* Take the message lxd_chan_peek() returned last. */
static inline void lxd_chan_take(struct lxd_chan *ch) { ch->rx_head++; }

/*
 * Next received message, or NULL when there is nothing there.  The message
 * stays valid (the sender will not reuse the slot) until lxd_chan_release().
 * The slot is shared with an untrusted peer: copy what you need out of it
 * once, then check the copy.
 */
static inline struct lxd_msg *lxd_chan_try_recv(struct lxd_chan *ch)
{
	uint64_t h;
	struct lxd_msg *m = lxd_chan_peek(ch, &h);
	if (m)
		lxd_chan_take(ch);
	return m;
}

/* Release every message received so far, oldest first, to the sender. */
static inline void lxd_chan_release(struct lxd_chan *ch)
{
	while (ch->rx_rel != ch->rx_head) {
		struct lxd_msg *m = &ch->rx[ch->rx_rel & ch->mask];
		/* Release: our reads of the payload are done before the sender
		 * may overwrite it; pairs with the acquire in try_reserve(). */
		atomic_store_explicit(&m->hdr, LXD_SLOT_FREE, memory_order_release);
		ch->rx_rel++;
	}
}

/*
 * Receive up to @max messages into @out without blocking.  Returns how many.
 * They stay valid until lxd_chan_release().
 */
unsigned lxd_chan_recv_batch(struct lxd_chan *ch, struct lxd_msg **out, unsigned max);

/* ---- synchronous calls over the call line ------------------------------------ */

/*
 * Caller: the line to write a request into (its w[] only).  The line is the
 * caller's until lxd_chan_call() returns; at most one call per direction is
 * in flight, so one thread per side may use it.
 */
static inline struct lxd_msg *lxd_chan_call_line(struct lxd_chan *ch) { return ch->call_out; }

/*
 * Send the request in the call line with @op and wait (spinning) for the
 * reply, which the callee writes into the same line's w[].  Returns the
 * reply's op field (>= 0) or -EIO if the channel was marked dead meanwhile.
 */
int lxd_chan_call(struct lxd_chan *ch, uint32_t op);

/* Start a call without waiting; finish it with lxd_chan_call_wait(). */
static inline void lxd_chan_call_send(struct lxd_chan *ch, uint32_t op)
{
	lxd__msg_publish(ch->call_out, op, 0);
	lxd__chan_kick(ch->tx_bell);
}

/* Non-blocking: the reply's op (>= 0) when the reply is in, -EAGAIN if not yet. */
static inline int lxd_chan_call_poll(struct lxd_chan *ch)
{
	uint64_t h = atomic_load_explicit(&ch->call_out->hdr, memory_order_acquire);
	if (lxd_hdr_state(h) != LXD_SLOT_REPLY)
		return -EAGAIN;
	return (int)lxd_hdr_op(h);
}

/* Spin until the call's reply is in.  Returns its op or -EIO (dead peer). */
int lxd_chan_call_wait(struct lxd_chan *ch);

/* Callee: the pending request in the call line this side serves, or NULL. */
static inline struct lxd_msg *lxd_chan_serve_poll(struct lxd_chan *ch)
{
	struct lxd_msg *m = ch->call_in;
	if (lxd_hdr_state(atomic_load_explicit(&m->hdr, memory_order_acquire)) != LXD_SLOT_READY)
		return NULL;
	return m;
}

/*
 * Callee: the reply is in the line's w[]; hand the line back with @op.
 * The caller spins, so no doorbell is rung.
 */
static inline void lxd_chan_serve_reply(struct lxd_chan *ch, uint32_t op)
{
	atomic_store_explicit(&ch->call_in->hdr, lxd_hdr_make(op, 0, LXD_SLOT_REPLY),
			      memory_order_release);
}

/* ---- idle ------------------------------------------------------------------------ */

/* True when a message or a call request is waiting for this side. */
static inline bool lxd_chan_has_work(struct lxd_chan *ch)
{
	struct lxd_msg *m = &ch->rx[ch->rx_head & ch->mask];
	return (ch->rx_head - ch->rx_rel <= ch->mask &&
		lxd_hdr_state(atomic_load_explicit(&m->hdr, memory_order_relaxed)) == LXD_SLOT_READY) ||
	       lxd_hdr_state(atomic_load_explicit(&ch->call_in->hdr, memory_order_relaxed)) ==
		       LXD_SLOT_READY;
}

/*
 * Wait until this side has work (a message or a call request): spin for a
 * while, then sleep on the doorbell until a sender rings it.  The spin
 * budget adapts: a sleep that ends soon doubles it, a long one halves it.
 * @timeout_ns < 0 waits for ever.
 * Returns 0 when there is work, -ETIMEDOUT, or -EIO when marked dead.
 */
int lxd_chan_wait(struct lxd_chan *ch, int64_t timeout_ns);

/* Wake a side sleeping in lxd_chan_wait() on @ch's receive doorbell (e.g. to stop it). */
void lxd_chan_kick_self(struct lxd_chan *ch);

/*
 * Waiting for work of one's own besides the channel's (a queue other
 * threads push to and then lxd_chan_kick_self()): take a ticket, look at
 * that queue, then lxd_chan_wait_since(ticket) -- which also returns 0 as
 * soon as the doorbell was rung after the ticket was taken, so a kick
 * that lands between the look and the sleep is never lost.
 */
uint32_t lxd_chan_wait_ticket(struct lxd_chan *ch);
int lxd_chan_wait_since(struct lxd_chan *ch, uint32_t ticket, int64_t timeout_ns);

/*
 * Several channels, one doorbell.  A receiver can sleep on one futex only,
 * so extra channels to the same peer (per-thread lanes next to a main
 * channel) borrow the main channel's doorbells:
 *
 *   sender side:   lxd_chan_ring_with(lane, main): publishing on @lane
 *                  rings the peer's doorbell of @main.
 *   receiver side: lxd_chan_wait_also(main, lane): lxd_chan_wait(main)
 *                  returns when @lane has work too, and a sleeper re-checks
 *                  @lane after announcing its sleep (no lost wake-up).
 *
 * Both sides must agree (a protocol decision: a sender that rings the
 * lane's own doorbell would find nobody asleep on it).  Undo with
 * lxd_chan_wait_unlink() before @lane's memory goes.  Single-threaded per
 * side, like the rest of a side's struct lxd_chan.
 */
static inline void lxd_chan_ring_with(struct lxd_chan *lane, const struct lxd_chan *main_ch)
{
	lane->tx_bell = main_ch->tx_bell;
}
void lxd_chan_wait_also(struct lxd_chan *main_ch, struct lxd_chan *lane);
void lxd_chan_wait_unlink(struct lxd_chan *main_ch, struct lxd_chan *lane);

#endif
