/* SPDX-License-Identifier: MIT */
/*
 * Awaitable calls over fIPC between two OS threads, each with its own
 * runtime (or, for replies the runtime would never send, a raw fIPC peer):
 * plain calls and errors, many in flight, out-of-order and bogus replies,
 * nested calls in both directions, back-pressure on tiny rings, peer death.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "lxds/async.h"
#include "lxds/util.h"

enum { OP_NULL, OP_ADD, OP_SLOW, OP_FAIL, OP_FIB, NOPS };

/* ---- a channel in one process ---------------------------------------------------------- */

struct pair {
	void *mem;
	struct lxd_chan k, d; /* kernel side (this thread), domain side (the peer) */
};

static struct pair *pair_new(uint32_t slots)
{
	struct pair *p = calloc(1, sizeof(*p));
	size_t len = lxd_chan_shm_size(slots);
	p->mem = aligned_alloc(64, len);
	assert_int_equal(lxd_chan_format(p->mem, len, slots), 0);
	assert_int_equal(lxd_chan_attach(&p->k, p->mem, len, slots, LXD_SIDE_KERNEL), 0);
	assert_int_equal(lxd_chan_attach(&p->d, p->mem, len, slots, LXD_SIDE_DOMAIN), 0);
	return p;
}

/* ---- handlers (both sides) -------------------------------------------------------------- */

static int h_null(void *ctx, const uint64_t in[7], uint64_t out[7])
{
	(void)ctx, (void)in, (void)out;
	return 0;
}

static int h_add(void *ctx, const uint64_t in[7], uint64_t out[7])
{
	(void)ctx;
	out[0] = in[0] + in[1];
	for (int i = 1; i < 7; i++)
		out[i] = in[i] * 2;
	return 0;
}

/* Replies after in[0] % 7 yields: replies overtake each other. */
static int h_slow(void *ctx, const uint64_t in[7], uint64_t out[7])
{
	(void)ctx;
	for (uint64_t i = 0; i < in[0] % 7; i++)
		lxd_yield();
	out[0] = in[0] * 10;
	return 0;
}

static int h_fail(void *ctx, const uint64_t in[7], uint64_t out[7])
{
	(void)ctx, (void)in, (void)out;
	return -EPERM;
}

struct fib_arg {
	struct lxd_ep *ep;
	uint64_t n, r;
	int rc;
};

static void fib_call(void *a)
{
	struct fib_arg *f = a;
	uint64_t in[7] = {f->n}, out[7];
	f->rc = lxd_call(f->ep, OP_FIB, in, out);
	f->r = out[0];
}

/* fib(n) = fib(n-1) + fib(n-2), both asked of the other side, concurrently. */
static int h_fib(void *ctx, const uint64_t in[7], uint64_t out[7])
{
	struct lxd_ep *ep = ctx;
	uint64_t n = in[0];
	if (n < 2) {
		out[0] = n;
		return 0;
	}
	struct fib_arg a = {ep, n - 1, 0, -1}, b = {ep, n - 2, 0, -1};
	LXD_DO_FINISH(f) {
		lxd_async(&f, fib_call, &a);
		lxd_async(&f, fib_call, &b);
	}
	if (a.rc || b.rc)
		return a.rc ? a.rc : b.rc;
	out[0] = a.r + b.r;
	return 0;
}

static const lxd_rpc_fn handlers[NOPS] = {h_null, h_add, h_slow, h_fail, h_fib};

/* ---- the peer: a runtime serving on another OS thread ---------------------------------- */

struct peer {
	struct lxd_chan *ch;
	struct lxd_ep ep;
	unsigned max_outstanding;
	_Atomic bool stop;
	_Atomic int ready;
	int rc;
	struct lxd_ep_stats st;
	pthread_t th;
};

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	struct lxd_async_config c = {.stacks = 512, .stack_size = 64 * 1024};
	int rc = lxd_async_init(&c);
	struct lxd_ep_config ec = {.handlers = handlers, .nhandlers = NOPS, .ctx = &p->ep,
				   .max_outstanding = p->max_outstanding};
	if (rc == 0)
		rc = lxd_ep_init(&p->ep, p->ch, &ec);
	atomic_store(&p->ready, rc ? -1 : 1);
	if (rc)
		return NULL;
	p->rc = lxd_async_serve(&p->stop);
	lxd_ep_stats(&p->ep, &p->st);
	lxd_ep_fini(&p->ep);
	lxd_async_fini();
	return NULL;
}

static void peer_start(struct peer *p, struct lxd_chan *ch, unsigned max_outstanding)
{
	memset(p, 0, sizeof(*p));
	p->ch = ch;
	p->max_outstanding = max_outstanding;
	assert_int_equal(pthread_create(&p->th, NULL, peer_main, p), 0);
	while (atomic_load(&p->ready) == 0)
		lxd_cpu_relax();
	assert_int_equal(atomic_load(&p->ready), 1);
}

static void peer_stop(struct peer *p)
{
	atomic_store(&p->stop, true);
	lxd_chan_kick_self(p->ch);
	pthread_join(p->th, NULL);
}

/* ---- this side ---------------------------------------------------------------------------- */

struct fixture {
	struct pair *pair;
	struct lxd_ep ep;
	struct peer peer;
};

static struct fixture *fx_new(uint32_t slots, unsigned k_max, unsigned d_max, bool with_peer)
{
	struct fixture *x = calloc(1, sizeof(*x));
	struct lxd_async_config c = {.stacks = 512, .stack_size = 64 * 1024};
	assert_int_equal(lxd_async_init(&c), 0);
	x->pair = pair_new(slots);
	struct lxd_ep_config ec = {.handlers = handlers, .nhandlers = NOPS, .ctx = &x->ep,
				   .max_outstanding = k_max};
	assert_int_equal(lxd_ep_init(&x->ep, &x->pair->k, &ec), 0);
	if (with_peer)
		peer_start(&x->peer, &x->pair->d, d_max);
	return x;
}

static void fx_free(struct fixture *x, bool with_peer)
{
	if (with_peer)
		peer_stop(&x->peer);
	assert_int_equal(lxd_ep_fini(&x->ep), 0);
	assert_int_equal(lxd_async_fini(), 0);
	free(x->pair->mem);
	free(x->pair);
	free(x);
}

/* ---- plain calls ---------------------------------------------------------------------------- */

static void test_call_from_main_and_errors(void **state)
{
	(void)state;
	struct fixture *x = fx_new(16, 0, 0, true);
	uint64_t in[7] = {40, 2, 3, 4, 5, 6, 7}, out[7] = {0};
	assert_int_equal(lxd_call(&x->ep, OP_ADD, in, out), 0);
	assert_int_equal(out[0], 42);
	for (int i = 1; i < 7; i++)
		assert_int_equal(out[i], in[i] * 2);
	assert_int_equal(lxd_call(&x->ep, OP_NULL, NULL, NULL), 0);
	assert_int_equal(lxd_call(&x->ep, OP_FAIL, in, out), -EPERM);
	assert_int_equal(lxd_call(&x->ep, 77, in, out), -ENOSYS);          /* no such handler */
	assert_int_equal(lxd_call(&x->ep, LXD_RPC_MAX + 1, in, out), -EINVAL); /* not an rpc number */
	assert_int_equal(lxd_call(&x->ep, LXD_OP_REPLY, in, out), -EINVAL);
	assert_int_equal(lxd_call(NULL, 0, in, out), -EINVAL);

	struct lxd_ep_stats st;
	lxd_ep_stats(&x->ep, &st);
	assert_int_equal(st.calls, 4);
	assert_int_equal(st.replies, 4);
	assert_int_equal(st.outstanding, 0);
	peer_stop(&x->peer);
	assert_int_equal(x->peer.st.requests, 4);
	assert_int_equal(x->peer.st.bad_requests, 1);
	fx_free(x, false);
}

/* ---- many in flight, replies out of order ---------------------------------------------------- */

struct caller {
	struct lxd_ep *ep;
	unsigned id, calls, ok;
};

static void caller_body(void *arg)
{
	struct caller *c = arg;
	for (unsigned i = 0; i < c->calls; i++) {
		uint64_t v = (uint64_t)c->id * 1000 + i;
		uint64_t in[7] = {v}, out[7] = {0};
		if (lxd_call(c->ep, OP_SLOW, in, out) == 0 && out[0] == v * 10)
			c->ok++;
	}
}

static void run_callers(struct lxd_ep *ep, unsigned n, unsigned calls)
{
	struct caller *cs = calloc(n, sizeof(*cs));
	LXD_DO_FINISH(f) {
		for (unsigned i = 0; i < n; i++) {
			cs[i] = (struct caller){ep, i, calls, 0};
			lxd_async(&f, caller_body, &cs[i]);
		}
	}
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(cs[i].ok, calls);
	free(cs);
}

static void test_many_in_flight_out_of_order(void **state)
{
	(void)state;
	struct fixture *x = fx_new(64, 0, 0, true);
	run_callers(&x->ep, 200, 20); /* 200 threads, at most 64 calls in flight */
	struct lxd_ep_stats st;
	lxd_ep_stats(&x->ep, &st);
	assert_int_equal(st.calls, 4000);
	assert_int_equal(st.replies, 4000);
	assert_int_equal(st.replies_unknown + st.replies_dup, 0);
	assert_true(st.backpressure > 0); /* 200 callers, 64 credits */
	fx_free(x, true);
}

/* ---- a raw peer: replies in reverse order, plus bogus ones ------------------------------------- */

enum raw_mode { RAW_REVERSE, RAW_SWALLOW, RAW_CONTROL, RAW_BURST };

#define BURST 10 /* RAW_BURST: 1 slow request, 1 control message, 8 quick requests */

struct raw {
	struct lxd_chan *ch;
	enum raw_mode mode;
	unsigned n;
	_Atomic bool stop;
	_Atomic unsigned got;
	_Atomic bool sent;
	/* RAW_BURST: the replies, in arrival order (read after raw_stop()) */
	uint32_t rtag[BURST], rop[BURST];
	uint64_t rw0[BURST];
	pthread_t th;
};

static void raw_send(struct lxd_chan *ch, uint32_t op, uint32_t tag, const uint64_t w[7])
{
	while (lxd_chan_try_send(ch, op, tag, w, 7) != 0)
		lxd_cpu_relax();
}

static void *raw_main(void *arg)
{
	struct raw *r = arg;
	uint32_t tags[64], ops[64];
	uint64_t w[64][7];
	unsigned have = 0;
	if (r->mode == RAW_CONTROL) {
		uint64_t cw[7] = {7, 8};
		raw_send(r->ch, LXD_OP_CONTROL | 5, 42, cw);
	}
	if (r->mode == RAW_BURST) {
		uint64_t slow[7] = {6}; /* h_slow yields 6 times */
		raw_send(r->ch, OP_SLOW, 1, slow);
		uint64_t cw[7] = {9};
		raw_send(r->ch, LXD_OP_CONTROL | 1, 0, cw);
		for (uint32_t tag = 2; tag < BURST; tag++) {
			uint64_t add[7] = {tag, 1000};
			raw_send(r->ch, OP_ADD, tag, add);
		}
	}
	atomic_store(&r->sent, true);
	while (!atomic_load(&r->stop)) {
		struct lxd_msg *m = lxd_chan_try_recv(r->ch);
		if (!m) {
			lxd_cpu_relax();
			continue;
		}
		uint64_t h = atomic_load_explicit(&m->hdr, memory_order_relaxed);
		if (r->mode == RAW_BURST && have < BURST) {
			r->rtag[have] = lxd_hdr_tag(h);
			r->rop[have] = lxd_hdr_op(h);
			r->rw0[have] = m->w[0];
		}
		if (have < 64) {
			tags[have] = lxd_hdr_tag(h);
			ops[have] = lxd_hdr_op(h);
			memcpy(w[have], m->w, sizeof(w[have]));
			have++;
		}
		lxd_chan_release(r->ch);
		atomic_fetch_add(&r->got, 1);
		if (r->mode != RAW_REVERSE || have != r->n)
			continue;
		/* All n requests are in: first two replies nobody waits for ... */
		uint64_t junk[7] = {0};
		raw_send(r->ch, LXD_OP_REPLY, 60000, junk);                   /* no such thread */
		raw_send(r->ch, LXD_OP_REPLY, tags[0] + (5u << 16), junk);    /* wrong call number */
		/* ... then the real ones, last request first, the first one twice. */
		for (unsigned i = have; i-- > 0;) {
			uint64_t rep[7] = {w[i][0] * 100, ops[i]};
			raw_send(r->ch, LXD_OP_REPLY, tags[i], rep);
		}
		uint64_t again[7] = {666};
		raw_send(r->ch, LXD_OP_REPLY, tags[0], again);
	}
	return NULL;
}

static void raw_start(struct raw *r, struct lxd_chan *ch, enum raw_mode mode, unsigned n)
{
	memset(r, 0, sizeof(*r));
	r->ch = ch;
	r->mode = mode;
	r->n = n;
	assert_int_equal(pthread_create(&r->th, NULL, raw_main, r), 0);
}

static void raw_stop(struct raw *r)
{
	atomic_store(&r->stop, true);
	pthread_join(r->th, NULL);
}

struct one_call {
	struct lxd_ep *ep;
	uint64_t v, got;
	int rc;
	unsigned order;
};
static unsigned finish_order;

static void one_call_body(void *arg)
{
	struct one_call *c = arg;
	uint64_t in[7] = {c->v}, out[7] = {0};
	c->rc = lxd_call(c->ep, OP_ADD, in, out);
	c->got = out[0];
	c->order = finish_order++;
}

static void test_reverse_order_and_bogus_replies(void **state)
{
	(void)state;
	struct fixture *x = fx_new(64, 0, 0, false);
	struct raw r;
	raw_start(&r, &x->pair->d, RAW_REVERSE, 8);
	struct one_call c[8];
	finish_order = 0;
	LXD_DO_FINISH(f) {
		for (unsigned i = 0; i < 8; i++) {
			c[i] = (struct one_call){&x->ep, i + 1, 0, -1, 0};
			lxd_async(&f, one_call_body, &c[i]);
		}
	}
	for (unsigned i = 0; i < 8; i++) {
		assert_int_equal(c[i].rc, 0);
		assert_int_equal(c[i].got, (i + 1) * 100); /* its own reply, not a neighbour's */
		assert_int_equal(c[i].order, 7 - i);       /* woken in reply order: reversed */
	}
	/* The duplicate arrives after the first copy: wait until it is seen. */
	struct lxd_ep_stats st;
	for (int k = 0; k < 200000; k++) {
		lxd_async_poll();
		lxd_ep_stats(&x->ep, &st);
		if (st.replies_dup)
			break;
	}
	assert_int_equal(st.replies, 8);
	assert_int_equal(st.replies_unknown, 2);
	assert_int_equal(st.replies_dup, 1);
	assert_int_equal(st.outstanding, 0);
	raw_stop(&r);
	fx_free(x, false);
}

/* ---- control messages ------------------------------------------------------------------------ */

static uint32_t ctl_op, ctl_tag;
static uint64_t ctl_w0;
static void on_control(void *ctx, uint32_t op, uint32_t tag, const uint64_t w[7])
{
	*(int *)ctx += 1;
	ctl_op = op;
	ctl_tag = tag;
	ctl_w0 = w[0];
}

/* ---- a poll round takes the replies of half the calls in flight ------------------------------- */

static void share_body(void *arg)
{
	struct one_call *c = arg;
	uint64_t in[7] = {c->v}, out[7] = {0};
	c->rc = lxd_call(c->ep, OP_NULL, in, out);
	c->got = out[0];
}

/*
 * 16 calls in flight, all 16 replies waiting: a poll takes 8 of them,
 * the next 4, then 2, 1, 1 (at least one).  The domain side is driven by
 * hand from this thread, so the replies are all there before each poll.
 */
static void poll_share(bool take_all, const int *expect, unsigned nexpect)
{
	struct fixture *x = fx_new(32, 0, 0, false);
	if (take_all) {
		/* The same endpoint, set up to take every reply a round finds. */
		assert_int_equal(lxd_ep_fini(&x->ep), 0);
		struct lxd_ep_config ec = {.handlers = handlers, .nhandlers = NOPS, .ctx = &x->ep,
					   .take_all_replies = true};
		assert_int_equal(lxd_ep_init(&x->ep, &x->pair->k, &ec), 0);
	}
	struct one_call c[16];
	struct lxd_finish f = LXD_FINISH_INIT;
	for (unsigned i = 0; i < 16; i++) {
		c[i] = (struct one_call){.ep = &x->ep, .v = i};
		assert_int_equal(lxd_async(&f, share_body, &c[i]), 0); /* sent, blocked */
	}
	struct lxd_chan *d = &x->pair->d;
	struct lxd_msg *m;
	unsigned n = 0;
	while ((m = lxd_chan_try_recv(d))) {
		uint64_t h = atomic_load_explicit(&m->hdr, memory_order_relaxed);
		uint64_t rep[7] = {m->w[0] + 100};
		assert_int_equal(lxd_chan_try_send(d, LXD_OP_REPLY, lxd_hdr_tag(h), rep, 7), 0);
		n++;
	}
	lxd_chan_release(d);
	assert_int_equal(n, 16);
	for (unsigned i = 0; i < nexpect; i++)
		assert_int_equal(lxd_async_poll(), expect[i]);
	assert_int_equal(lxd_async_poll(), 0);
	assert_int_equal(lxd_finish(&f), 0);
	for (unsigned i = 0; i < 16; i++) {
		assert_int_equal(c[i].rc, 0);
		assert_int_equal(c[i].got, i + 100);
	}
	fx_free(x, false);
}

static void test_poll_takes_half_the_replies(void **state)
{
	(void)state;
	static const int expect[] = {8, 4, 2, 1, 1};
	poll_share(false, expect, 5);
}

/* An endpoint made with take_all_replies (a kernel lane) takes all 16 at once. */
static void test_poll_takes_all_replies_when_asked(void **state)
{
	(void)state;
	static const int expect[] = {16};
	poll_share(true, expect, 1);
}

static void test_control_messages(void **state)
{
	(void)state;
	struct fixture *x = fx_new(16, 0, 0, false);
	int seen = 0;
	x->ep.control = on_control;
	x->ep.control_ctx = &seen;
	struct raw r;
	raw_start(&r, &x->pair->d, RAW_CONTROL, 0);
	for (int k = 0; k < 10000000 && !seen; k++)
		lxd_async_poll();
	raw_stop(&r);
	assert_int_equal(seen, 1);
	assert_int_equal(ctl_op, LXD_OP_CONTROL | 5);
	assert_int_equal(ctl_tag, 42);
	assert_int_equal(ctl_w0, 7);
	struct lxd_ep_stats st;
	lxd_ep_stats(&x->ep, &st);
	assert_int_equal(st.control, 1);
	assert_int_equal(st.control_dropped, 0);
	assert_int_equal(st.requests, 0);
	fx_free(x, false);
}

/*
 * A burst of requests taken in one poll: a handler that blocks, then a
 * control message and quick requests, which the dispatcher goes on serving
 * (an inline handler thread serves the messages behind its own request
 * while its handlers do not block) without waiting for the blocked one.
 */
static void test_burst_served_around_a_blocked_handler(void **state)
{
	(void)state;
	struct fixture *x = fx_new(64, 0, 0, false);
	int seen = 0;
	x->ep.control = on_control;
	x->ep.control_ctx = &seen;
	struct raw r;
	raw_start(&r, &x->pair->d, RAW_BURST, 0);
	while (!atomic_load(&r.sent))
		lxd_cpu_relax();
	for (int k = 0; k < 10000000 && atomic_load(&r.got) < BURST - 1; k++)
		lxd_async_poll();
	raw_stop(&r);
	assert_int_equal(atomic_load(&r.got), BURST - 1);
	assert_int_equal(seen, 1);
	assert_int_equal(ctl_w0, 9);
	/* The quick ones first, in ring order; the blocked one last. */
	for (uint32_t i = 0; i < BURST - 2; i++) {
		assert_int_equal(r.rtag[i], i + 2);
		assert_int_equal(r.rop[i], LXD_OP_REPLY);
		assert_int_equal(r.rw0[i], i + 2 + 1000);
	}
	assert_int_equal(r.rtag[BURST - 2], 1);
	assert_int_equal(r.rop[BURST - 2], LXD_OP_REPLY);
	assert_int_equal(r.rw0[BURST - 2], 60);
	struct lxd_ep_stats st;
	lxd_ep_stats(&x->ep, &st);
	assert_int_equal(st.requests, BURST - 1);
	assert_int_equal(st.control, 1);
	struct lxd_async_stats as;
	lxd_async_stats(&as);
	assert_int_equal(as.stacks_free, as.stacks); /* every handler thread went back */
	fx_free(x, false);
}

/* ---- what a call returns after a switch ---------------------------------------------------------- */

struct rc_check {
	struct lxd_ep *ep;
	int call_rc, async_rc, yield_rc, finish_rc, call2_rc;
};

static void yield_once(void *arg)
{
	(void)arg;
	lxd_yield();
}

/* Each call resumes through a switch that hands over its return value:
 * a failed call's status must not leak into the calls after it. */
static void rc_body(void *arg)
{
	struct rc_check *c = arg;
	c->call_rc = lxd_call(c->ep, OP_FAIL, NULL, NULL);
	struct lxd_finish f = LXD_FINISH_INIT;
	c->async_rc = lxd_async(&f, yield_once, NULL);
	c->yield_rc = lxd_yield();
	c->finish_rc = lxd_finish(&f);
	c->call2_rc = lxd_call(c->ep, 77, NULL, NULL);
}

static void test_return_values_across_switches(void **state)
{
	(void)state;
	struct fixture *x = fx_new(16, 0, 0, true);
	struct rc_check c[4];
	LXD_DO_FINISH(f) {
		for (int i = 0; i < 4; i++) {
			c[i] = (struct rc_check){&x->ep, 1, 1, 1, 1, 1};
			lxd_async(&f, rc_body, &c[i]);
		}
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(c[i].call_rc, -EPERM);
		assert_int_equal(c[i].async_rc, 0);
		assert_int_equal(c[i].yield_rc, 0);
		assert_int_equal(c[i].finish_rc, 0);
		assert_int_equal(c[i].call2_rc, -ENOSYS);
	}
	fx_free(x, true);
}

/* ---- nested calls both ways -------------------------------------------------------------------- */

static uint64_t fib(uint64_t n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }

static void fib_nested(uint32_t slots, unsigned k_max, unsigned d_max, uint64_t n)
{
	struct fixture *x = fx_new(slots, k_max, d_max, true);
	uint64_t in[7] = {n}, out[7] = {0};
	assert_int_equal(lxd_call(&x->ep, OP_FIB, in, out), 0);
	assert_int_equal(out[0], fib(n));
	struct lxd_ep_stats st;
	lxd_ep_stats(&x->ep, &st);
	/* Every node of the call tree but the root was a call back from the
	 * peer, served here, or a call from here. */
	assert_true(st.requests > 0);
	assert_true(st.calls > 1);
	peer_stop(&x->peer);
	assert_true(x->peer.st.requests > 0);
	assert_true(x->peer.st.calls > 0);
	fx_free(x, false);
}

static void test_nested_two_way_calls(void **state)
{
	(void)state;
	fib_nested(64, 0, 0, 12);
}

/* Both rings two slots deep, one call in flight per side: everything waits
 * for room, nothing fails, nothing deadlocks. */
static void test_backpressure_tiny_ring(void **state)
{
	(void)state;
	fib_nested(2, 1, 1, 9);

	struct fixture *x = fx_new(1, 0, 0, true);
	run_callers(&x->ep, 40, 10);
	struct lxd_ep_stats st;
	lxd_ep_stats(&x->ep, &st);
	assert_int_equal(st.replies, 400);
	assert_true(st.backpressure > 0);
	fx_free(x, true);
}

/* ---- peer death ------------------------------------------------------------------------------- */

struct killer {
	struct lxd_chan *ch;
	unsigned delay_ms;
};

static void *killer_main(void *arg)
{
	struct killer *k = arg;
	struct timespec ts = {0, (long)k->delay_ms * 1000000};
	nanosleep(&ts, NULL);
	lxd_chan_mark_dead(k->ch);
	return NULL;
}

/* ---- callback calls (lxd_call_cb) -------------------------------------------------------- */

struct cb_rec {
	unsigned runs;
	int result;
	bool had_words;
	uint64_t w0;
};

static void cb_note(void *arg, int result, const uint64_t w[LXD_MSG_WORDS])
{
	struct cb_rec *r = arg;
	r->runs++;
	r->result = result;
	r->had_words = w != NULL;
	r->w0 = w ? w[0] : 0;
}

/* The domain side by hand: answer every request waiting with @status and w[0] + 100. */
/* Poll until a round takes nothing; how many messages were taken. */
static int poll_dry(void)
{
	int taken = 0, got;
	while ((got = lxd_async_poll()) > 0)
		taken += got; /* a round takes a share of the replies (see poll_share) */
	return taken;
}

static unsigned answer_all(struct lxd_chan *d, uint32_t status)
{
	struct lxd_msg *m;
	unsigned n = 0;
	while ((m = lxd_chan_try_recv(d))) {
		uint64_t h = atomic_load_explicit(&m->hdr, memory_order_relaxed);
		uint64_t rep[7] = {m->w[0] + 100};
		assert_int_equal(lxd_chan_try_send(d, LXD_OP_REPLY | status, lxd_hdr_tag(h), rep, 7), 0);
		n++;
	}
	lxd_chan_release(d);
	return n;
}

/* Each callback runs once, in the poll that takes its reply, with its own words. */
static void test_callback_calls(void **state)
{
	(void)state;
	struct fixture *x = fx_new(64, 0, 0, false);
	struct cb_rec r[LXD_EP_CALLBACKS + 1];
	memset(r, 0, sizeof(r));
	for (unsigned i = 0; i < LXD_EP_CALLBACKS; i++) {
		uint64_t in[7] = {i};
		assert_int_equal(lxd_call_cb(&x->ep, OP_ADD, in, cb_note, &r[i]), 0);
	}
	/* Every callback slot is taken: the next call cannot go, and nothing was sent. */
	uint64_t in[7] = {999};
	assert_int_equal(lxd_call_cb(&x->ep, OP_ADD, in, cb_note, &r[LXD_EP_CALLBACKS]), -EAGAIN);
	assert_int_equal(lxd_call_cb(&x->ep, OP_ADD, in, NULL, NULL), -EINVAL);
	assert_int_equal(lxd_call_cb(&x->ep, LXD_RPC_MAX + 1, in, cb_note, &r[0]), -EINVAL);
	for (unsigned i = 0; i < LXD_EP_CALLBACKS; i++)
		assert_int_equal(r[i].runs, 0); /* nothing runs before a poll */
	assert_int_equal(answer_all(&x->pair->d, 0), LXD_EP_CALLBACKS);
	assert_int_equal(poll_dry(), LXD_EP_CALLBACKS);
	for (unsigned i = 0; i < LXD_EP_CALLBACKS; i++) {
		assert_int_equal(r[i].runs, 1);
		assert_int_equal(r[i].result, 0);
		assert_true(r[i].had_words);
		assert_int_equal(r[i].w0, i + 100);
	}
	/* Slots are reused; an error status arrives as -errno. */
	assert_int_equal(lxd_call_cb(&x->ep, OP_ADD, in, cb_note, &r[LXD_EP_CALLBACKS]), 0);
	assert_int_equal(answer_all(&x->pair->d, EPERM), 1);
	assert_int_equal(poll_dry(), 1);
	assert_int_equal(r[LXD_EP_CALLBACKS].runs, 1);
	assert_int_equal(r[LXD_EP_CALLBACKS].result, -EPERM);
	struct lxd_ep_stats st;
	lxd_ep_stats(&x->ep, &st);
	assert_int_equal(st.calls, LXD_EP_CALLBACKS + 1);
	assert_int_equal(st.replies, LXD_EP_CALLBACKS + 1);
	assert_int_equal(st.outstanding, 0);
	fx_free(x, false);
}

/* A forged or repeated reply to a callback slot runs nothing. */
static void test_callback_bogus_replies(void **state)
{
	(void)state;
	struct fixture *x = fx_new(64, 0, 0, false);
	struct cb_rec r = {0};
	struct lxd_chan *d = &x->pair->d;
	assert_int_equal(lxd_call_cb(&x->ep, OP_ADD, NULL, cb_note, &r), 0);
	struct lxd_msg *m = lxd_chan_try_recv(d);
	assert_non_null(m);
	uint32_t tag = lxd_hdr_tag(atomic_load_explicit(&m->hdr, memory_order_relaxed));
	lxd_chan_release(d);
	uint64_t rep[7] = {7};
	assert_int_equal(lxd_chan_try_send(d, LXD_OP_REPLY, tag + (1u << 16), rep, 7), 0); /* stale seq */
	assert_int_equal(lxd_chan_try_send(d, LXD_OP_REPLY, 0x8000u | 31u | 5u << 16, rep, 7), 0); /* idle slot */
	assert_int_equal(lxd_chan_try_send(d, LXD_OP_REPLY, 0x8000u | 0x4000u, rep, 7), 0); /* no such slot */
	assert_int_equal(lxd_chan_try_send(d, LXD_OP_REPLY, tag, rep, 7), 0);              /* the real one */
	assert_int_equal(lxd_chan_try_send(d, LXD_OP_REPLY, tag, rep, 7), 0);              /* again */
	assert_int_equal(poll_dry(), 5);
	assert_int_equal(r.runs, 1);
	assert_int_equal(r.w0, 7);
	struct lxd_ep_stats st;
	lxd_ep_stats(&x->ep, &st);
	assert_int_equal(st.replies, 1);
	assert_int_equal(st.replies_unknown, 3);
	assert_int_equal(st.replies_dup, 1);
	assert_int_equal(st.outstanding, 0);
	fx_free(x, false);
}

/* A callback may call again; once max_outstanding calls are in flight, -EAGAIN. */
struct chain {
	struct lxd_ep *ep;
	unsigned left, runs;
};

static void cb_chain(void *arg, int result, const uint64_t w[LXD_MSG_WORDS])
{
	struct chain *c = arg;
	(void)w;
	assert_int_equal(result, 0);
	c->runs++;
	if (c->left) {
		c->left--;
		assert_int_equal(lxd_call_cb(c->ep, OP_NULL, NULL, cb_chain, c), 0);
	}
}

static void test_callback_calls_again_and_credit(void **state)
{
	(void)state;
	struct fixture *x = fx_new(64, 2, 0, false); /* at most 2 calls in flight */
	struct chain c = {&x->ep, 3, 0};
	struct cb_rec r = {0};
	assert_int_equal(lxd_call_cb(&x->ep, OP_NULL, NULL, cb_chain, &c), 0);
	assert_int_equal(lxd_call_cb(&x->ep, OP_NULL, NULL, cb_note, &r), 0);
	assert_int_equal(lxd_call_cb(&x->ep, OP_NULL, NULL, cb_note, &r), -EAGAIN); /* no credit */
	for (unsigned round = 0; round < 8 && c.runs < 4; round++) {
		answer_all(&x->pair->d, 0);
		poll_dry();
	}
	assert_int_equal(c.runs, 4);
	assert_int_equal(r.runs, 1);
	fx_free(x, false);
}

/* The peer dies: each pending callback runs once with -EIO and no words, in
 * the next poll, not inside the call that finds the peer dead. */
static void test_callback_peer_death(void **state)
{
	(void)state;
	struct fixture *x = fx_new(64, 0, 0, false);
	struct cb_rec r[3];
	memset(r, 0, sizeof(r));
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(lxd_call_cb(&x->ep, OP_NULL, NULL, cb_note, &r[i]), 0);
	lxd_chan_mark_dead(&x->pair->k);
	assert_int_equal(lxd_call_cb(&x->ep, OP_NULL, NULL, cb_note, &r[0]), -EIO);
	assert_int_equal(r[0].runs, 0);
	assert_int_equal(lxd_call(&x->ep, OP_NULL, NULL, NULL), -EIO); /* the endpoint is killed here... */
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(r[i].runs, 0);                        /* ...and no callback ran yet */
	lxd_async_poll();
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(r[i].runs, 1);
		assert_int_equal(r[i].result, -EIO);
		assert_false(r[i].had_words);
	}
	lxd_async_poll();
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(r[i].runs, 1); /* exactly once */
	fx_free(x, false);
}

/* An endpoint detached after its peer died runs the callbacks still pending. */
static void test_callback_fini_after_death(void **state)
{
	(void)state;
	struct fixture *x = fx_new(64, 0, 0, false);
	struct cb_rec r = {0};
	assert_int_equal(lxd_call_cb(&x->ep, OP_NULL, NULL, cb_note, &r), 0);
	assert_int_equal(lxd_ep_fini(&x->ep), -EBUSY); /* alive: a call is in flight */
	lxd_chan_mark_dead(&x->pair->k);
	assert_int_equal(lxd_call(&x->ep, OP_NULL, NULL, NULL), -EIO);
	assert_int_equal(lxd_ep_fini(&x->ep), 0);
	assert_int_equal(r.runs, 1);
	assert_int_equal(r.result, -EIO);
	assert_int_equal(lxd_ep_init(&x->ep, &x->pair->k, NULL), 0); /* for fx_free */
	fx_free(x, false);
}

static void test_peer_death_fails_calls_in_flight(void **state)
{
	(void)state;
	struct fixture *x = fx_new(64, 0, 0, false);
	struct raw r;
	raw_start(&r, &x->pair->d, RAW_SWALLOW, 0); /* takes requests, never answers */
	struct one_call c[10];
	struct killer k = {&x->pair->k, 50};
	pthread_t kt;
	assert_int_equal(pthread_create(&kt, NULL, killer_main, &k), 0);
	int main_rc;
	uint64_t t0 = lxd_now_ns();
	LXD_DO_FINISH(f) {
		for (unsigned i = 0; i < 10; i++) {
			c[i] = (struct one_call){&x->ep, i, 0, 1, 0};
			lxd_async(&f, one_call_body, &c[i]);
		}
		main_rc = lxd_call(&x->ep, OP_NULL, NULL, NULL); /* the main context waits too */
	}
	uint64_t waited = lxd_now_ns() - t0;
	pthread_join(kt, NULL);
	assert_int_equal(main_rc, -EIO);
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(c[i].rc, -EIO);
	assert_true(waited < 5000000000ull); /* not a hang (a generous bound, not a timing claim) */
	assert_int_equal(lxd_call(&x->ep, OP_NULL, NULL, NULL), -EIO); /* and new calls fail at once */
	struct lxd_ep_stats st;
	lxd_ep_stats(&x->ep, &st);
	assert_true(st.dead);
	assert_int_equal(st.outstanding, 0);
	assert_int_equal(atomic_load(&r.got), 11); /* they really were in flight */
	raw_stop(&r);
	fx_free(x, false);
}

/* Death while callers wait for room (ring full, nobody draining). */
static void test_peer_death_fails_waiting_senders(void **state)
{
	(void)state;
	struct fixture *x = fx_new(2, 0, 0, false);
	struct one_call c[6];
	struct killer k = {&x->pair->k, 30};
	pthread_t kt;
	assert_int_equal(pthread_create(&kt, NULL, killer_main, &k), 0);
	LXD_DO_FINISH(f) {
		for (unsigned i = 0; i < 6; i++) {
			c[i] = (struct one_call){&x->ep, i, 0, 1, 0};
			lxd_async(&f, one_call_body, &c[i]);
		}
	}
	pthread_join(kt, NULL);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(c[i].rc, -EIO);
	struct lxd_ep_stats st;
	lxd_ep_stats(&x->ep, &st);
	assert_int_equal(st.calls, 2); /* two fit in the ring, four waited for room */
	assert_true(st.backpressure >= 4);
	fx_free(x, false);
}

/* ---- endpoint misuse --------------------------------------------------------------------------- */

static void test_endpoint_misuse(void **state)
{
	(void)state;
	struct lxd_ep ep;
	struct pair *p = pair_new(4);
	assert_int_equal(lxd_ep_init(&ep, &p->k, NULL), -ENXIO);
	assert_int_equal(lxd_async_init(NULL), 0);
	assert_int_equal(lxd_ep_init(NULL, &p->k, NULL), -EINVAL);
	assert_int_equal(lxd_ep_init(&ep, NULL, NULL), -EINVAL);
	struct lxd_ep_config bad = {.handlers = NULL, .nhandlers = 3};
	assert_int_equal(lxd_ep_init(&ep, &p->k, &bad), -EINVAL);
	struct lxd_ep many[LXD_ASYNC_MAX_EPS];
	for (unsigned i = 0; i < LXD_ASYNC_MAX_EPS; i++)
		assert_int_equal(lxd_ep_init(&many[i], &p->k, NULL), 0);
	assert_int_equal(lxd_ep_init(&ep, &p->k, NULL), -ENOSPC);
	assert_int_equal(lxd_async_fini(), -EBUSY); /* endpoints still attached */
	for (unsigned i = 0; i < LXD_ASYNC_MAX_EPS; i++)
		assert_int_equal(lxd_ep_fini(&many[i]), 0);
	assert_int_equal(lxd_ep_fini(&many[0]), -EINVAL); /* twice */
	assert_int_equal(lxd_async_fini(), 0);
	free(p->mem);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_call_from_main_and_errors),
		cmocka_unit_test(test_many_in_flight_out_of_order),
		cmocka_unit_test(test_reverse_order_and_bogus_replies),
		cmocka_unit_test(test_poll_takes_half_the_replies),
		cmocka_unit_test(test_poll_takes_all_replies_when_asked),
		cmocka_unit_test(test_control_messages),
		cmocka_unit_test(test_burst_served_around_a_blocked_handler),
		cmocka_unit_test(test_return_values_across_switches),
		cmocka_unit_test(test_nested_two_way_calls),
		cmocka_unit_test(test_backpressure_tiny_ring),
		cmocka_unit_test(test_callback_calls),
		cmocka_unit_test(test_callback_bogus_replies),
		cmocka_unit_test(test_callback_calls_again_and_credit),
		cmocka_unit_test(test_callback_peer_death),
		cmocka_unit_test(test_callback_fini_after_death),
		cmocka_unit_test(test_peer_death_fails_calls_in_flight),
		cmocka_unit_test(test_peer_death_fails_waiting_senders),
		cmocka_unit_test(test_endpoint_misuse),
	};
	return cmocka_run_group_tests_name("async-call", tests, NULL, NULL);
}
