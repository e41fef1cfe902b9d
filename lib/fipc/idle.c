/* SPDX-License-Identifier: MIT */
/*
 * The idle path: adaptive spinning, sleeping on a doorbell, waking a peer.
 *
 * Lost wake-ups are prevented with an asymmetric fence.  The receiver does
 *     sleeping = 1; membarrier(GLOBAL_EXPEDITED); if (work) don't sleep;
 * and the sender does, with only a compiler barrier in between,
 *     publish(msg); if (sleeping) wake;
 * membarrier forces a full barrier on every CPU running a registered
 * process, so either the sender's publish is visible to the receiver's
 * re-check, or the sender's load runs after it and sees sleeping == 1.
 * The fast path of a sender thus has no fence and no syscall.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "layout.h"
#include "lxds/util.h"

int lxd__fipc_need_fence = 1; /* until membarrier is known to work */
static pthread_once_t membarrier_once = PTHREAD_ONCE_INIT;

static void membarrier_setup(void)
{
	/* Tests run the fenced fallback too, to keep it correct. */
	if (getenv("LXDS_FIPC_FENCE"))
		return;
	long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
	if (cmds < 0 || !(cmds & MEMBARRIER_CMD_GLOBAL_EXPEDITED) ||
	    !(cmds & MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED))
		return;
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) != 0)
		return;
	lxd__fipc_need_fence = 0;
}

/*
 * Called by every attach: registers this process for expedited membarrier
 * before it can send, so a sleeping peer's membarrier reaches our CPU.
 * Must run before a sandbox forbids membarrier registration.
 */
void lxd_fipc_process_init(void)
{
	pthread_once(&membarrier_once, membarrier_setup);
}

static void asymmetric_fence(void)
{
	if (lxd__fipc_need_fence ||
	    syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) != 0)
		atomic_thread_fence(memory_order_seq_cst);
}

static long futex(_Atomic uint32_t *word, int op, uint32_t val, const struct timespec *ts)
{
	/* Not FUTEX_PRIVATE: the word is in memory shared by two processes. */
	return syscall(SYS_futex, (uint32_t *)word, op, val, ts, NULL, 0);
}

void lxd__chan_wake(struct lxd_doorbell *bell)
{
	/* Only one sender pays for the wake: whoever clears the flag. */
	if (!atomic_exchange_explicit(&bell->sleeping, 0, memory_order_seq_cst))
		return;
	atomic_fetch_add_explicit(&bell->seq, 1, memory_order_seq_cst);
	atomic_fetch_add_explicit(&bell->wakes, 1, memory_order_relaxed);
	futex(&bell->seq, FUTEX_WAKE, INT_MAX, NULL);
}

void lxd_chan_kick_self(struct lxd_chan *ch)
{
	atomic_store_explicit(&ch->rx_bell->sleeping, 1, memory_order_seq_cst);
	lxd__chan_wake(ch->rx_bell);
}

/* Spin budget bounds, in nanoseconds.  A cross-core futex wake costs ~45 us here. */
#define SPIN_DEFAULT_NS 50000
#define SPIN_MIN_NS 5000
#define SPIN_MAX_NS 1000000
/* A sleep shorter than this means we gave up spinning too early. */
#define SHORT_SLEEP_NS 200000

void lxd_chan_wait_also(struct lxd_chan *main_ch, struct lxd_chan *lane)
{
	lane->rx_bell = main_ch->rx_bell; /* kick_self on the lane wakes the main waiter */
	lane->also = main_ch->also;
	main_ch->also = lane;
}

void lxd_chan_wait_unlink(struct lxd_chan *main_ch, struct lxd_chan *lane)
{
	for (struct lxd_chan **pp = &main_ch->also; *pp; pp = &(*pp)->also)
		if (*pp == lane) {
			*pp = lane->also;
			lane->also = NULL;
			return;
		}
}

/* Work on @ch or on a channel that shares its doorbell.  Inline: it is the spin loop's test. */
static inline __attribute__((always_inline)) bool any_work(struct lxd_chan *ch)
{
	if (lxd_chan_has_work(ch))
		return true;
	for (struct lxd_chan *c = ch->also; c; c = c->also)
		if (!lxd_chan_is_dead(c) && lxd_chan_has_work(c))
			return true;
	return false;
}

/* lxd_chan_wait, and with @use_ticket also "return once the doorbell moved past @ticket". */
static int chan_wait(struct lxd_chan *ch, int64_t timeout_ns, bool use_ticket, uint32_t ticket)
{
	double cpns = lxd_tsc_per_ns();
	if (ch->spin_cycles == 0)
		ch->spin_cycles = (uint64_t)(SPIN_DEFAULT_NS * cpns);
	uint64_t start = lxd_rdtsc();
	uint64_t limit = timeout_ns < 0 ? UINT64_MAX : (uint64_t)((double)timeout_ns * cpns);

	for (;;) {
		/* Spin: the cheap way to wait, while work is likely to come soon. */
		uint64_t spin_start = lxd_rdtsc();
		for (unsigned i = 0;; i++) {
			if (any_work(ch))
				return 0;
			if (use_ticket && atomic_load_explicit(&ch->rx_bell->seq, memory_order_acquire) != ticket)
				return 0;
			if (lxd_chan_is_dead(ch))
				return -EIO;
			if ((i & 7) == 7) {
				uint64_t now = lxd_rdtsc();
				if (now - start >= limit)
					return -ETIMEDOUT;
				if (now - spin_start >= ch->spin_cycles)
					break;
			}
			lxd_cpu_relax();
		}

		/* Sleep: announce it, fence, re-check, then wait on the futex. */
		struct lxd_doorbell *bell = ch->rx_bell;
		uint32_t seq0 = use_ticket ? ticket : atomic_load_explicit(&bell->seq, memory_order_seq_cst);
		atomic_store_explicit(&bell->sleeping, 1, memory_order_seq_cst);
		asymmetric_fence();
		if (any_work(ch) || lxd_chan_is_dead(ch)) {
			atomic_store_explicit(&bell->sleeping, 0, memory_order_relaxed);
			continue;
		}
		uint64_t now = lxd_rdtsc();
		if (now - start >= limit) {
			atomic_store_explicit(&bell->sleeping, 0, memory_order_relaxed);
			return -ETIMEDOUT;
		}
		struct timespec ts, *tsp = NULL;
		if (timeout_ns >= 0) {
			uint64_t left_ns = (uint64_t)((double)(limit - (now - start)) / cpns) + 1;
			ts.tv_sec = (time_t)(left_ns / 1000000000ull);
			ts.tv_nsec = (long)(left_ns % 1000000000ull);
			tsp = &ts;
		}
		uint64_t t_sleep = lxd_now_ns();
		ch->sleeps++;
		futex(&bell->seq, FUTEX_WAIT, seq0, tsp);
		atomic_store_explicit(&bell->sleeping, 0, memory_order_relaxed);

		/* Adapt: woken soon after sleeping means the spin was too short. */
		if (ch->spin_fixed)
			continue;
		uint64_t slept = lxd_now_ns() - t_sleep;
		uint64_t lo = (uint64_t)(SPIN_MIN_NS * cpns), hi = (uint64_t)(SPIN_MAX_NS * cpns);
		if (slept < SHORT_SLEEP_NS)
			ch->spin_cycles = ch->spin_cycles * 2 > hi ? hi : ch->spin_cycles * 2;
		else
			ch->spin_cycles = ch->spin_cycles / 2 < lo ? lo : ch->spin_cycles / 2;
	}
}

int lxd_chan_wait(struct lxd_chan *ch, int64_t timeout_ns)
{
	return chan_wait(ch, timeout_ns, false, 0);
}

uint32_t lxd_chan_wait_ticket(struct lxd_chan *ch)
{
	return atomic_load_explicit(&ch->rx_bell->seq, memory_order_seq_cst);
}

int lxd_chan_wait_since(struct lxd_chan *ch, uint32_t ticket, int64_t timeout_ns)
{
	return chan_wait(ch, timeout_ns, true, ticket);
}

/* How long a blocked sender or caller spins before it also yields the CPU,
 * in case the peer shares its core. */
#define YIELD_AFTER_NS 100000

struct spin_wait {
	uint64_t start, yield_after;
	unsigned n;
};

static void spin_wait_init(struct spin_wait *sw)
{
	sw->start = lxd_rdtsc();
	sw->yield_after = (uint64_t)(YIELD_AFTER_NS * lxd_tsc_per_ns());
	sw->n = 0;
}

/* One step of a busy wait; false when the channel died. */
static bool spin_wait_step(struct spin_wait *sw, struct lxd_chan *ch)
{
	if ((++sw->n & 255) == 0) {
		if (lxd_chan_is_dead(ch))
			return false;
		if (lxd_rdtsc() - sw->start > sw->yield_after)
			sched_yield();
	}
	lxd_cpu_relax();
	return true;
}

struct lxd_msg *lxd_chan_reserve(struct lxd_chan *ch)
{
	struct spin_wait sw;
	spin_wait_init(&sw);
	for (;;) {
		struct lxd_msg *m = lxd_chan_try_reserve(ch);
		if (m)
			return m;
		if (!spin_wait_step(&sw, ch))
			return NULL;
	}
}

int lxd_chan_call_wait(struct lxd_chan *ch)
{
	struct spin_wait sw;
	spin_wait_init(&sw);
	for (;;) {
		int op = lxd_chan_call_poll(ch);
		if (op >= 0)
			return op;
		if (!spin_wait_step(&sw, ch))
			return -EIO;
	}
}

int lxd_chan_call(struct lxd_chan *ch, uint32_t op)
{
	lxd_chan_call_send(ch, op);
	return lxd_chan_call_wait(ch);
}
