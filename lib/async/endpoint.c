/* SPDX-License-Identifier: MIT */
/*
 * Endpoints: awaitable calls over an fIPC channel, and the dispatcher.
 *
 * Both directions of the channel's rings carry requests and replies.  A
 * request's tag names the calling thread (index + call sequence number); a
 * reply carries the tag back with LXD_OP_REPLY set, and the dispatcher
 * wakes exactly that thread if it still waits for exactly that call.
 * Anything else is counted and dropped: the peer is not trusted.
 *
 * The dispatcher reads each message's header once and copies its words
 * once, straight to where they go, and releases the slots it took once per
 * poll round.  A request gets a lightweight thread, started inline by the
 * poller; while its handlers return without blocking, that thread goes on
 * serving the ring itself (see serve_main()), so a burst of non-blocking
 * requests costs one thread start, not one each.  When no stack is free, a
 * request stays in the ring (the peer feels the back-pressure), and so do
 * the messages behind it: the ring is in order.  Size the pool for the
 * calls the peer may have in flight.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "lxds/util.h"

#define CB_ALL ((uint32_t)((1ull << LXD_EP_CALLBACKS) - 1))
_Static_assert(LXD_EP_CALLBACKS <= 32, "cb_free is a 32-bit map");
_Static_assert(LXD_ASYNC_MAX_STACKS < LXD_TAG_CALLBACK, "thread indices stay below the callback bit");

static void fail_callbacks(struct lxd_ep *ep);
static void on_callback_reply(struct lxd_sched *s, struct lxd_ep *ep, uint64_t h, const struct lxd_msg *m);

/* ---- set-up -------------------------------------------------------------------------- */

int lxd_ep_init(struct lxd_ep *ep, struct lxd_chan *ch, const struct lxd_ep_config *cfg)
{
	struct lxd_sched *s = lxd__sched;
	if (!s)
		return -ENXIO;
	if (!ep || !ch || !ch->tx || (cfg && cfg->nhandlers && !cfg->handlers))
		return -EINVAL;
	if (s->neps >= LXD_ASYNC_MAX_EPS)
		return -ENOSPC;
	memset(ep, 0, sizeof(*ep));
	ep->cb_free = CB_ALL;
	ep->ch = ch;
	ep->sched = s;
	if (cfg) {
		ep->handlers = cfg->handlers;
		ep->nhandlers = cfg->nhandlers;
		ep->ctx = cfg->ctx;
		ep->max_outstanding = cfg->max_outstanding;
		ep->take_all_replies = cfg->take_all_replies;
		ep->control = cfg->control;
		ep->control_ctx = cfg->control_ctx;
	}
	if (ep->max_outstanding == 0)
		ep->max_outstanding = ch->mask + 1;
	s->eps[s->neps++] = ep;
	return 0;
}

int lxd_ep_fini(struct lxd_ep *ep)
{
	struct lxd_sched *s = lxd__sched;
	if (!ep || !s || ep->sched != s)
		return -EINVAL;
	if (ep->st.dead)
		fail_callbacks(ep); /* whoever waits on them hears of it before the endpoint goes */
	if (!ep->st.dead && (ep->st.outstanding || ep->handlers_active || ep->bp_credit || ep->bp_room))
		return -EBUSY;
	for (unsigned i = 0; i < s->neps; i++)
		if (s->eps[i] == ep) {
			s->eps[i] = s->eps[--s->neps];
			ep->sched = NULL;
			return 0;
		}
	return -EINVAL;
}

int lxd_ep_stats(const struct lxd_ep *ep, struct lxd_ep_stats *st)
{
	if (!ep || !st)
		return -EINVAL;
	*st = ep->st;
	return 0;
}

/* ---- back-pressure lists ---------------------------------------------------------------- */

static void bp_add(struct lxd_thread **head, struct lxd_thread **tail, struct lxd_thread *t)
{
	t->next = NULL;
	if (*tail)
		(*tail)->next = t;
	else
		*head = t;
	*tail = t;
}

/* Wake every thread on a list; each re-checks its own condition. */
static void bp_wake_all(struct lxd_sched *s, struct lxd_thread **head, struct lxd_thread **tail)
{
	struct lxd_thread *t = *head;
	*head = *tail = NULL;
	while (t) {
		struct lxd_thread *n = t->next;
		lxd__wake(s, t);
		t = n;
	}
}

/* The next send slot is free (without reserving it). */
static bool ring_has_room(const struct lxd_chan *ch)
{
	if (ch->tx_head - ch->tx_pub > ch->mask)
		return false;
	const struct lxd_msg *m = &ch->tx[ch->tx_head & ch->mask];
	return lxd_hdr_state(atomic_load_explicit(&m->hdr, memory_order_relaxed)) == LXD_SLOT_FREE;
}

/* The peer died: fail every call in flight and let every waiter see it. */
static void ep_kill(struct lxd_sched *s, struct lxd_ep *ep)
{
	ep->st.dead = true;
	for (unsigned i = 0; i < s->nthreads; i++) {
		struct lxd_thread *t = &s->threads[i];
		if (t->waiting_reply && t->wait_ep == ep) {
			t->waiting_reply = false;
			t->result = -EIO;
			lxd__wake(s, t);
		}
	}
	ep->st.outstanding = 0;
	bp_wake_all(s, &ep->bp_credit, &ep->bp_credit_tail);
	bp_wake_all(s, &ep->bp_room, &ep->bp_room_tail);
}

static inline bool ep_dead(struct lxd_sched *s, struct lxd_ep *ep)
{
	if (lxd_unlikely(!ep->st.dead && lxd_chan_is_dead(ep->ch)))
		ep_kill(s, ep);
	return ep->st.dead;
}

/* Fill reserved slot @m with the words @in (NULL: zeros), publish it as call @op, @tag, count it. */
static inline void send_call(struct lxd_ep *ep, struct lxd_msg *m, uint32_t op, uint32_t tag,
			     const uint64_t in[LXD_MSG_WORDS])
{
	if (in)
		memcpy(m->w, in, sizeof(m->w));
	else
		memset(m->w, 0, sizeof(m->w));
	lxd_chan_publish_msg(ep->ch, m, op, tag);
	ep->st.outstanding++;
	ep->st.calls++;
}

/* A call of @ep answered: counted, and senders waiting for a credit retry. */
static inline void call_answered(struct lxd_sched *s, struct lxd_ep *ep)
{
	ep->st.outstanding--;
	ep->st.replies++;
	if (ep->bp_credit)
		bp_wake_all(s, &ep->bp_credit, &ep->bp_credit_tail);
}

/* A reply's op as what the call returns: 0 or the handler's -errno. */
static inline int reply_result(uint32_t op)
{
	uint32_t status = op & LXD_RPC_MAX;
	return status ? -(int)status : 0;
}

/* ---- calling -------------------------------------------------------------------------------- */

int lxd_call(struct lxd_ep *ep, uint32_t op, const uint64_t in[LXD_MSG_WORDS],
	     uint64_t out[LXD_MSG_WORDS])
{
	struct lxd_sched *s = lxd__sched;
	if (lxd_unlikely(!s))
		return -ENXIO;
	if (lxd_unlikely(!ep || ep->sched != s || op > LXD_RPC_MAX))
		return -EINVAL;
	struct lxd_thread *t = s->cur;
	struct lxd_chan *ch = ep->ch;
	struct lxd_msg *m;
	for (;;) {
		if (ep_dead(s, ep))
			return -EIO;
		/* A nested call skips the credit: holding it back could deadlock
		 * (see lxd_call() in async.h). */
		bool credit = t->serving || ep->st.outstanding < ep->max_outstanding;
		if (credit && (m = lxd_chan_try_reserve(ch)))
			break;
		/* Full ring or too many in flight: wait for the dispatcher to see room. */
		ep->st.backpressure++;
		if (credit)
			bp_add(&ep->bp_room, &ep->bp_room_tail, t);
		else
			bp_add(&ep->bp_credit, &ep->bp_credit_tail, t);
		t->state = LXD_T_BLOCKED;
		(void)lxd__block(s, t);
	}
	t->seq++;
	send_call(ep, m, op, t->index | (uint32_t)t->seq << 16, in);

	t->wait_ep = ep;
	t->reply_out = out;
	t->result = 0;
	t->waiting_reply = true;
	t->state = LXD_T_BLOCKED;
	/* Until on_reply() or ep_kill() sets t->result and wakes us; a tail
	 * call, so we resume straight in our caller (see sched.c). */
	return lxd__block(s, t);
}

int lxd_call_cb(struct lxd_ep *ep, uint32_t op, const uint64_t in[LXD_MSG_WORDS], lxd_reply_fn done,
		void *arg)
{
	struct lxd_sched *s = lxd__sched;
	if (lxd_unlikely(!s))
		return -ENXIO;
	if (lxd_unlikely(!ep || ep->sched != s || op > LXD_RPC_MAX || !done))
		return -EINVAL;
	/* Dead: say so, but leave the pending callbacks to the poll (callbacks
	 * never run inside this call, whose caller may be in the middle of
	 * something they touch). */
	if (ep->st.dead || lxd_chan_is_dead(ep->ch))
		return -EIO;
	struct lxd_msg *m;
	if (!ep->cb_free || ep->st.outstanding >= ep->max_outstanding || !(m = lxd_chan_try_reserve(ep->ch))) {
		ep->st.backpressure++;
		return -EAGAIN;
	}
	unsigned slot = (unsigned)__builtin_ctz(ep->cb_free);
	struct lxd_ep_callback *c = &ep->cb[slot];
	ep->cb_free &= ~(1u << slot);
	c->fn = done;
	c->arg = arg;
	c->seq++;
	send_call(ep, m, op, (LXD_TAG_CALLBACK | slot) | (uint32_t)c->seq << 16, in);
	return 0;
}

/* ---- the dispatcher ---------------------------------------------------------------------------- */

/*
 * Every message is acted on from one read of its header and one copy of
 * its words, straight to where they go (the caller's reply buffer, the
 * handler thread's request copy, the control callback's copy), taken
 * before the slot is released: the peer may rewrite the slot under us, the
 * copy is what counts.
 */

static void on_reply(struct lxd_sched *s, struct lxd_ep *ep, uint64_t h, const struct lxd_msg *m)
{
	uint32_t op = lxd_hdr_op(h), tag = lxd_hdr_tag(h);
	uint32_t idx = LXD_TAG_INDEX(tag);
	uint16_t seq = LXD_TAG_SEQ(tag);
	if (idx & LXD_TAG_CALLBACK) {
		on_callback_reply(s, ep, h, m);
		return;
	}
	struct lxd_thread *t = idx < s->nthreads ? &s->threads[idx] : NULL;
	if (!t || !t->waiting_reply || t->wait_ep != ep || t->seq != seq) {
		if (t && t->seq == seq && !t->waiting_reply)
			ep->st.replies_dup++;
		else
			ep->st.replies_unknown++;
		return;
	}
	t->waiting_reply = false;
	t->result = reply_result(op);
	if (t->reply_out)
		memcpy(t->reply_out, m->w, sizeof(m->w));
	lxd__wake(s, t);
	call_answered(s, ep);
}

/* A reply to lxd_call_cb(): run its callback, once. */
static void on_callback_reply(struct lxd_sched *s, struct lxd_ep *ep, uint64_t h, const struct lxd_msg *m)
{
	uint32_t op = lxd_hdr_op(h), tag = lxd_hdr_tag(h);
	uint32_t slot = LXD_TAG_INDEX(tag) & ~LXD_TAG_CALLBACK;
	uint16_t seq = LXD_TAG_SEQ(tag);
	if (slot >= LXD_EP_CALLBACKS || ep->cb[slot].seq != seq || (ep->cb_free & (1u << slot))) {
		if (slot < LXD_EP_CALLBACKS && ep->cb[slot].seq == seq)
			ep->st.replies_dup++;
		else
			ep->st.replies_unknown++;
		return;
	}
	/* The words are copied before anything runs: the slot goes back to the
	 * peer at the end of the round, and the callback may call again. */
	uint64_t w[LXD_MSG_WORDS];
	memcpy(w, m->w, sizeof(w));
	struct lxd_ep_callback c = ep->cb[slot];
	ep->cb_free |= 1u << slot;
	call_answered(s, ep);
	c.fn(c.arg, reply_result(op), w);
}

/* The peer died: every callback still pending runs now with -EIO. */
static void fail_callbacks(struct lxd_ep *ep)
{
	while (ep->cb_free != CB_ALL) {
		unsigned slot = (unsigned)__builtin_ctz(~ep->cb_free);
		struct lxd_ep_callback c = ep->cb[slot];
		ep->cb_free |= 1u << slot; /* first: the callback may look at the endpoint */
		c.fn(c.arg, -EIO, NULL);
	}
}

static void on_control(struct lxd_ep *ep, uint64_t h, const struct lxd_msg *m)
{
	ep->st.control++;
	if (!ep->control) {
		ep->st.control_dropped++;
		return;
	}
	uint64_t w[LXD_MSG_WORDS];
	memcpy(w, m->w, sizeof(w));
	ep->control(ep->control_ctx, lxd_hdr_op(h), lxd_hdr_tag(h), w);
}

/* Send a handler's reply, waiting for ring room.  Dropped if the peer died. */
static void send_reply(struct lxd_sched *s, struct lxd_ep *ep, uint32_t tag, int rc,
		       const uint64_t out[LXD_MSG_WORDS])
{
	struct lxd_thread *t = s->cur;
	struct lxd_msg *m;
	for (;;) {
		if (ep_dead(s, ep)) {
			ep->st.dropped++;
			return;
		}
		if ((m = lxd_chan_try_reserve(ep->ch)))
			break;
		ep->st.backpressure++;
		bp_add(&ep->bp_room, &ep->bp_room_tail, t);
		t->state = LXD_T_BLOCKED;
		(void)lxd__block(s, t);
	}
	memcpy(m->w, out, sizeof(m->w));
	uint32_t status = rc < 0 ? (uint32_t)(-rc) & LXD_RPC_MAX : 0;
	lxd_chan_publish_msg(ep->ch, m, LXD_OP_REPLY | status, tag);
}

/*
 * The next message of @ep's ring to take, its header in *@h; NULL when
 * there is none, when it is a request and @have_thread is false (a request
 * stays in the ring until a thread is free to run it, and so do the
 * messages behind it), or when it is a reply and this poll round has taken
 * its share of replies (see poll_ep()).
 */
static inline struct lxd_msg *next_msg(struct lxd_ep *ep, bool have_thread, uint64_t *h)
{
	struct lxd_msg *m = lxd_chan_peek(ep->ch, h);
	if (!m)
		return NULL;
	uint32_t op = lxd_hdr_op(*h);
	if (op & LXD_OP_REPLY) {
		if (ep->replies_left == 0)
			return NULL;
		ep->replies_left--;
	} else if (!have_thread && !(op & LXD_OP_CONTROL)) {
		return NULL;
	}
	lxd_chan_take(ep->ch);
	return m;
}

/* Act on a reply or control message and release its slot. */
static inline void take_other(struct lxd_sched *s, struct lxd_ep *ep, uint64_t h, struct lxd_msg *m)
{
	if (lxd_hdr_op(h) & LXD_OP_REPLY)
		on_reply(s, ep, h, m);
	else
		on_control(ep, h, m);
}

/* A request becomes @t's private copy; its slot is released. */
static inline void take_request(struct lxd_ep *ep, struct lxd_thread *t, uint64_t h, struct lxd_msg *m)
{
	t->req_ep = ep;
	t->req_op = lxd_hdr_op(h);
	t->req_tag = lxd_hdr_tag(h);
	memcpy(t->req_w, m->w, sizeof(m->w));
	ep->st.requests++;
	if (t->req_op >= ep->nhandlers || !ep->handlers[t->req_op])
		ep->st.bad_requests++; /* answered -ENOSYS */
	ep->handlers_active++;
}

/* Messages taken per endpoint per poll, so one busy channel cannot starve the rest. */
#define POLL_BUDGET 32

/*
 * Body of a handler thread, started inline by the poller with a request in
 * t->req_*.  While its handlers return without blocking, the thread is
 * still running inline on the poller's behalf, so it goes on taking the
 * ring's messages itself -- the poll budget's worth -- and runs each
 * further request on its own stack: no new thread, stack and context save
 * per request.  Once a handler has blocked, the poller has gone on without
 * it, so after that reply it is done.
 */
static void serve_main(void *arg)
{
	struct lxd_thread *t = arg;
	struct lxd_sched *s = lxd__sched;
	struct lxd_ep *ep = t->req_ep;
	t->serving = true;
	for (;;) {
		uint64_t out[LXD_MSG_WORDS] = {0};
		lxd_rpc_fn fn = t->req_op < ep->nhandlers ? ep->handlers[t->req_op] : NULL;
		int rc = fn ? fn(ep->ctx, t->req_w, out) : -ENOSYS;
		send_reply(s, ep, t->req_tag, rc, out);
		ep->handlers_active--;
		for (;;) {
			uint64_t h;
			struct lxd_msg *m;
			if (!t->parent || ep->st.dead || s->taken - t->serve_start >= POLL_BUDGET ||
			    !(m = next_msg(ep, true, &h)))
				return;
			s->taken++;
			if (lxd_hdr_op(h) & (LXD_OP_REPLY | LXD_OP_CONTROL)) {
				take_other(s, ep, h, m);
				continue;
			}
			take_request(ep, t, h, m);
			break;
		}
	}
}

static unsigned poll_ep(struct lxd_sched *s, struct lxd_ep *ep)
{
	if (ep->st.dead) {
		if (lxd_unlikely(ep->cb_free != CB_ALL))
			fail_callbacks(ep); /* killed outside a poll (ep_dead() in lxd_call) */
		return 0;
	}
	if (lxd_chan_is_dead(ep->ch)) {
		ep_kill(s, ep);
		fail_callbacks(ep);
		return 1;
	}
	uint32_t start = s->taken;
	/*
	 * A round takes the replies of at most half the calls in flight (at
	 * least one), even when more are waiting.  Taking every reply there is
	 * wakes every caller at once: the peer, having answered them all, runs
	 * dry while they make their next calls one by one, and the last
	 * replies taken are those it is writing right then.  With half left in
	 * flight it always has work, and the replies we read are older.  16
	 * in flight: +12-15% calls/s (A/B in one run, near and far vCPUs),
	 * 4 in flight +12-17%; 64 in flight (POLL_BUDGET is half of that
	 * anyway) and 1 in flight unchanged.
	 */
	if (ep->take_all_replies)
		ep->replies_left = UINT_MAX;
	else
		ep->replies_left = ep->st.outstanding > 1 ? ep->st.outstanding / 2 : 1;
	/* One message at a time: a handler started inline may take threads
	 * from the pool, so whether the next request can have one is only
	 * known after the last has run. */
	while (s->taken - start < POLL_BUDGET) {
		uint64_t h;
		struct lxd_msg *m = next_msg(ep, s->free_list != NULL, &h);
		if (!m)
			break;
		s->taken++;
		if (lxd_hdr_op(h) & (LXD_OP_REPLY | LXD_OP_CONTROL)) {
			take_other(s, ep, h, m);
		} else {
			struct lxd_thread *t = s->free_list;
			take_request(ep, t, h, m);
			t->serve_start = start;
			lxd__spawn(s, NULL, serve_main, t, "rpc handler");
		}
		if (ep->st.dead)
			break;
	}
	/* Every slot taken in this round, at once. */
	lxd_chan_release(ep->ch);
	/* The peer may have drained the ring: senders waiting for room retry. */
	if (ep->bp_room && ring_has_room(ep->ch))
		bp_wake_all(s, &ep->bp_room, &ep->bp_room_tail);
	if (ep->bp_credit && ep->st.outstanding < ep->max_outstanding && ring_has_room(ep->ch))
		bp_wake_all(s, &ep->bp_credit, &ep->bp_credit_tail);
	return s->taken - start;
}

unsigned lxd__poll_all(struct lxd_sched *s)
{
	unsigned n = 0;
	for (unsigned i = 0; i < s->neps; i++)
		n += poll_ep(s, s->eps[i]);
	return n;
}

static bool anyone_waits_for_room(struct lxd_sched *s)
{
	for (unsigned i = 0; i < s->neps; i++)
		if (!s->eps[i]->st.dead && (s->eps[i]->bp_credit || s->eps[i]->bp_room))
			return true;
	return false;
}

/*
 * Nothing runnable and nothing received.  Sleep on the doorbell only when
 * no sender waits for ring room: the peer frees slots without ringing us.
 */
static void idle_wait(struct lxd_sched *s, int64_t timeout_ns)
{
	if (s->neps == 0) {
		if (timeout_ns >= 0)
			return;
		fprintf(stderr, "lxds async: deadlock: lightweight thread %u '%s' waits, nothing is "
				"runnable and no endpoint could wake anything\n",
			s->cur->index, s->cur->name);
		abort();
	}
	if (anyone_waits_for_room(s)) {
		for (int i = 0; i < 64; i++)
			lxd_cpu_relax();
		return;
	}
	s->st.idle_waits++;
	if (s->neps == 1) {
		(void)lxd_chan_wait(s->eps[0]->ch, timeout_ns); /* -EIO: poll_ep sees the death */
		return;
	}
	/* Several channels: watch them in turn, a short while each. */
	struct lxd_ep *ep = s->eps[s->idle_rr++ % s->neps];
	int64_t slice = 1000000;
	(void)lxd_chan_wait(ep->ch, timeout_ns >= 0 && timeout_ns < slice ? timeout_ns : slice);
}

void lxd__idle(struct lxd_sched *s)
{
	idle_wait(s, -1);
}

int lxd_async_poll(void)
{
	struct lxd_sched *s = lxd__sched;
	if (!s)
		return -ENXIO;
	unsigned n = lxd__poll_all(s);
	if (s->runq)
		lxd_yield();
	return (int)n;
}

int lxd_async_serve(const _Atomic bool *stop)
{
	struct lxd_sched *s = lxd__sched;
	if (!s)
		return -ENXIO;
	for (;;) {
		if (stop && atomic_load_explicit(stop, memory_order_relaxed))
			return 0;
		unsigned alive = 0;
		for (unsigned i = 0; i < s->neps; i++)
			alive += !ep_dead(s, s->eps[i]);
		if (s->neps && !alive && !s->runq)
			return -EIO;
		unsigned n = lxd__poll_all(s);
		if (s->runq)
			lxd_yield();
		else if (n == 0)
			idle_wait(s, 10 * 1000 * 1000);
	}
}
