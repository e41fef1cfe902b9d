/* SPDX-License-Identifier: MIT */
/*
 * lib/glue's spilled calls over a real channel, with a peer OS thread that
 * answers through hand-written handlers: a short reply comes back in the
 * reply message (LXD_GLUE_REPLY_INLINE), a long one in the arena block,
 * both read back word for word; a peer that claims an inline reply longer
 * than the message can hold, or a block reply longer than the block, is
 * refused with -EPROTO.  The same through lxd_glue_call_cb(): replies
 * handed to callbacks, spill blocks returned to the arena after them.
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

#include <cmocka.h>

#include "lxds/glue.h"
#include "lxds/util.h"
#include "chan_fixture.h"

enum { OP_ECHO, OP_FORGE_INLINE, OP_FORGE_BLOCK, NOPS };

#define ARENA_SIZE (1u << 20)
#define SLOTS 16u

static struct {
	struct chan_fixture fx;
	struct lxd_arena k_arena, d_arena; /* the kernel's and the peer's share of one mapping */
	struct lxd_chan k, d;
	struct lxd_cap_table caps;
	struct lxd_glue kg, dg;
	struct lxd_ep kep, dep;
	pthread_t th;
	_Atomic bool stop;
	_Atomic int ready;
	uint64_t inline_replies, block_replies; /* what the peer sent (peer thread only until joined) */
} T;

/* Echo: the request is (n, w1..wn); the reply is n words, word i = wi + 1. */
static int h_echo(void *ctx, const uint64_t in[7], uint64_t out[7])
{
	(void)ctx;
	struct lxd_glue_buf rd, wr;
	int err = lxd_glue_recv(&T.dg, in, true, &rd);
	if (err)
		return err;
	lxd_glue_writer(&wr, NULL);
	uint64_t n = lxd_glue_get(&rd);
	for (uint64_t i = 0; i < n && !rd.err; i++)
		lxd_glue_put(&wr, lxd_glue_get(&rd) + 1);
	err = rd.err ? rd.err : lxd_glue_reply(&T.dg, &rd, true, &wr, out);
	lxd_glue_buf_fini(&wr);
	if (!err && (out[0] & LXD_GLUE_REPLY_INLINE))
		T.inline_replies++;
	else if (!err)
		T.block_replies++;
	return err;
}

/* A reply that says "seven words, in the message": the message holds six. */
static int h_forge_inline(void *ctx, const uint64_t in[7], uint64_t out[7])
{
	(void)ctx, (void)in;
	out[0] = LXD_GLUE_REPLY_INLINE | 7;
	for (int i = 1; i < 7; i++)
		out[i] = (uint64_t)i;
	return 0;
}

/* A block reply longer than any block the caller allocated. */
static int h_forge_block(void *ctx, const uint64_t in[7], uint64_t out[7])
{
	(void)ctx, (void)in;
	out[0] = LXD_GLUE_MAX_WORDS + 1;
	return 0;
}

static const lxd_rpc_fn handlers[NOPS] = {h_echo, h_forge_inline, h_forge_block};

static void *peer_main(void *arg)
{
	(void)arg;
	struct lxd_ep_config ec = {.handlers = handlers, .nhandlers = NOPS};
	int rc = lxd_async_init(NULL);
	if (!rc)
		rc = lxd_ep_init(&T.dep, &T.d, &ec);
	atomic_store(&T.ready, rc ? -1 : 1);
	if (rc)
		return NULL;
	(void)lxd_async_serve(&T.stop);
	lxd_ep_fini(&T.dep);
	lxd_async_fini();
	return NULL;
}

static int setup(void **state)
{
	(void)state;
	chan_fixture_setup(&T.fx, ARENA_SIZE, SLOTS, &T.k, &T.d);
	assert_int_equal(lxd_arena_init(&T.k_arena, T.fx.base, ARENA_SIZE, 0, ARENA_SIZE / 2), 0);
	assert_int_equal(lxd_arena_init(&T.d_arena, T.fx.base, ARENA_SIZE, ARENA_SIZE / 2, ARENA_SIZE / 2), 0);
	assert_int_equal(lxd_cap_init(&T.caps, 1), 0);
	assert_int_equal(lxd_glue_init(&T.kg, NULL, &T.k_arena, &T.caps, 1), 0);
	assert_int_equal(lxd_glue_init(&T.dg, NULL, &T.d_arena, &T.caps, 2), 0);
	assert_int_equal(lxd_async_init(NULL), 0);
	struct lxd_ep_config ec = {0};
	assert_int_equal(lxd_ep_init(&T.kep, &T.k, &ec), 0);
	T.kg.ep = &T.kep;
	assert_int_equal(pthread_create(&T.th, NULL, peer_main, NULL), 0);
	while (atomic_load(&T.ready) == 0)
		lxd_cpu_relax();
	assert_int_equal(atomic_load(&T.ready), 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	atomic_store(&T.stop, true);
	lxd_chan_kick_self(&T.d);
	pthread_join(T.th, NULL);
	lxd_ep_fini(&T.kep);
	lxd_async_fini();
	lxd_glue_fini(&T.kg);
	lxd_glue_fini(&T.dg);
	lxd_cap_fini(&T.caps);
	lxd_arena_fini(&T.k_arena);
	lxd_arena_fini(&T.d_arena);
	chan_fixture_teardown(&T.fx);
	return 0;
}

/* One spilled echo of @n words; the reply is checked word for word. */
static void echo(uint64_t n)
{
	struct lxd_glue_buf req, rep;
	lxd_glue_writer(&req, &T.k_arena);
	lxd_glue_put(&req, n);
	for (uint64_t i = 0; i < n; i++)
		lxd_glue_put(&req, 1000 * n + i);
	assert_int_equal(req.err, 0);
	int err = lxd_glue_call(&T.kg, OP_ECHO, &req, true, (uint32_t)n, &rep);
	assert_int_equal(err, 0);
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(lxd_glue_get(&rep), 1000 * n + i + 1);
	lxd_glue_get(&rep); /* one past the end: the reply held exactly n words */
	assert_int_equal(rep.err, -EPROTO);
	lxd_glue_call_done(&T.kg, &req, &rep);
}

static void test_short_replies_inline_long_ones_in_the_block(void **state)
{
	(void)state;
	for (uint64_t n = 0; n <= 6; n++)
		echo(n);
	assert_int_equal(T.inline_replies, 7);
	assert_int_equal(T.block_replies, 0);
	echo(7);
	echo(200);
	assert_int_equal(T.block_replies, 2);
	assert_int_equal(T.inline_replies, 7);
}

static void forged(uint32_t op)
{
	struct lxd_glue_buf req, rep;
	lxd_glue_writer(&req, &T.k_arena);
	lxd_glue_put(&req, 1);
	assert_int_equal(lxd_glue_call(&T.kg, op, &req, true, 1, &rep), -EPROTO);
	lxd_glue_call_done(&T.kg, &req, &rep);
}

static void test_forged_reply_lengths_refused(void **state)
{
	(void)state;
	forged(OP_FORGE_INLINE);
	forged(OP_FORGE_BLOCK);
	echo(3); /* and the channel still works */
}

/* ---- the same through callbacks (lxd_glue_call_cb) ---- */

struct cb_echo {
	struct lxd_glue_pending pc;
	uint64_t n;
	unsigned runs;
	int err;
	bool words_ok;
};

static void cb_echo_done(void *arg, int err, struct lxd_glue_buf *rep)
{
	struct cb_echo *e = arg;
	e->runs++;
	e->err = err;
	if (err) {
		e->words_ok = rep == NULL;
		return;
	}
	bool ok = true;
	for (uint64_t i = 0; i < e->n; i++)
		ok &= lxd_glue_get(rep) == 1000 * e->n + i + 1;
	lxd_glue_get(rep); /* one past the end */
	e->words_ok = ok && rep->err == -EPROTO;
}

static void send_cb(struct cb_echo *e, uint32_t op, uint64_t n)
{
	struct lxd_glue_buf req;
	*e = (struct cb_echo){.n = n};
	lxd_glue_writer(&req, &T.k_arena);
	lxd_glue_put(&req, n);
	for (uint64_t i = 0; i < n; i++)
		lxd_glue_put(&req, 1000 * n + i);
	assert_int_equal(lxd_glue_call_cb(&T.kg, op, &req, true, (uint32_t)n, &e->pc, cb_echo_done, e), 0);
	lxd_glue_buf_fini(&req); /* the block is the pending call's now */
}

/* Several in flight at once, short and long replies; each callback once,
 * word for word; every spill block back in the arena afterwards. */
static void test_callback_calls_inline_and_block_replies(void **state)
{
	(void)state;
	size_t in_use = T.k_arena.in_use;
	static const uint64_t sizes[] = {0, 3, 6, 7, 200};
	struct cb_echo e[5];
	for (unsigned i = 0; i < 5; i++)
		send_cb(&e[i], OP_ECHO, sizes[i]);
	assert_true(T.k_arena.in_use > in_use); /* the blocks are held while the calls are out */
	uint64_t t0 = lxd_now_ns();
	for (unsigned done = 0; done < 5 && lxd_now_ns() - t0 < 5000000000ull;) {
		lxd_async_poll();
		done = 0;
		for (unsigned i = 0; i < 5; i++)
			done += e[i].runs;
	}
	for (unsigned i = 0; i < 5; i++) {
		assert_int_equal(e[i].runs, 1);
		assert_int_equal(e[i].err, 0);
		assert_true(e[i].words_ok);
	}
	assert_int_equal(T.k_arena.in_use, in_use);
}

/* A forged reply length reaches the callback as -EPROTO, without words. */
static void test_callback_forged_reply_lengths(void **state)
{
	(void)state;
	size_t in_use = T.k_arena.in_use;
	struct cb_echo e[2];
	send_cb(&e[0], OP_FORGE_INLINE, 1);
	send_cb(&e[1], OP_FORGE_BLOCK, 1);
	uint64_t t0 = lxd_now_ns();
	while (e[0].runs + e[1].runs < 2 && lxd_now_ns() - t0 < 5000000000ull)
		lxd_async_poll();
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(e[i].runs, 1);
		assert_int_equal(e[i].err, -EPROTO);
		assert_true(e[i].words_ok);
	}
	assert_int_equal(T.k_arena.in_use, in_use);
}

/* The callback may free the memory its pending call lives in (a request batch does). */
static unsigned freed_runs;

static void cb_free_self(void *arg, int err, struct lxd_glue_buf *rep)
{
	(void)rep;
	assert_int_equal(err, 0);
	freed_runs++;
	free(arg);
}

static void test_callback_frees_its_pending_call(void **state)
{
	(void)state;
	size_t in_use = T.k_arena.in_use;
	freed_runs = 0;
	for (unsigned i = 0; i < 4; i++) {
		struct cb_echo *e = malloc(sizeof(*e));
		assert_non_null(e);
		struct lxd_glue_buf req;
		lxd_glue_writer(&req, &T.k_arena);
		lxd_glue_put(&req, 9); /* a block reply: the block is read after the callback */
		for (uint64_t k = 0; k < 9; k++)
			lxd_glue_put(&req, k);
		assert_int_equal(lxd_glue_call_cb(&T.kg, OP_ECHO, &req, true, 9, &e->pc, cb_free_self, e), 0);
		lxd_glue_buf_fini(&req);
	}
	uint64_t t0 = lxd_now_ns();
	while (freed_runs < 4 && lxd_now_ns() - t0 < 5000000000ull)
		lxd_async_poll();
	assert_int_equal(freed_runs, 4);
	assert_int_equal(T.k_arena.in_use, in_use);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_replies_inline_long_ones_in_the_block),
		cmocka_unit_test(test_forged_reply_lengths_refused),
		cmocka_unit_test(test_callback_calls_inline_and_block_replies),
		cmocka_unit_test(test_callback_forged_reply_lengths),
		cmocka_unit_test(test_callback_frees_its_pending_call),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
