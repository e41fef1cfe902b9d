/* SPDX-License-Identifier: MIT */
/* Async runtime: threads, do/finish ordering, nesting, thousands of asyncs, the pool. */
#include <errno.h>
#include <fenv.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xmmintrin.h>

#include "lxds/async.h"

/* ---- an event log, to check orderings ---------------------------------------------- */

static char events[4096];

static void ev(const char *e)
{
	if (events[0])
		strcat(events, " ");
	strcat(events, e);
}

static int setup(void **state)
{
	(void)state;
	events[0] = 0;
	struct lxd_async_config c = {.stacks = 64, .stack_size = 64 * 1024};
	return lxd_async_init(&c);
}

static int teardown(void **state)
{
	(void)state;
	return lxd_async_fini();
}

static void log_arg(void *arg) { ev(arg); }

static void log_yield_log(void *arg)
{
	const char **names = arg;
	ev(names[0]);
	assert_int_equal(lxd_yield(), 0);
	ev(names[1]);
}

/* ---- misuse ---------------------------------------------------------------------------- */

static void test_without_runtime(void **state)
{
	(void)state;
	struct lxd_finish f = LXD_FINISH_INIT;
	assert_int_equal(lxd_async(&f, log_arg, "x"), -ENXIO);
	assert_int_equal(lxd_finish(&f), -ENXIO);
	assert_int_equal(lxd_yield(), -ENXIO);
	assert_int_equal(lxd_thread_id(), -ENXIO);
	assert_null(lxd_thread_name());
	assert_int_equal(lxd_async_fini(), -ENXIO);
	assert_int_equal(lxd_call(NULL, 0, NULL, NULL), -ENXIO);
	assert_true(lxd_async_measure_switch(10) < 0);
	assert_string_equal(events, ""); /* nothing ran */

	struct lxd_async_config bad = {.stacks = LXD_ASYNC_MAX_STACKS + 1};
	assert_int_equal(lxd_async_init(&bad), -EINVAL);
	bad = (struct lxd_async_config){.stack_size = 100};
	assert_int_equal(lxd_async_init(&bad), -EINVAL);

	assert_int_equal(lxd_async_init(NULL), 0);
	assert_int_equal(lxd_async_init(NULL), -EBUSY);
	assert_int_equal(lxd_async(NULL, log_arg, "x"), -EINVAL);
	assert_int_equal(lxd_async(&f, NULL, NULL), -EINVAL);
	assert_int_equal(lxd_finish(NULL), -EINVAL);
	assert_int_equal(lxd_thread_id(), 0);
	assert_string_equal(lxd_thread_name(), "main");
	struct lxd_async_stats st;
	assert_int_equal(lxd_async_stats(&st), 0);
	assert_int_equal(st.stacks, LXD_ASYNC_DEFAULT_STACKS);
	assert_int_equal(st.stacks_free, LXD_ASYNC_DEFAULT_STACKS);
	assert_int_equal(lxd_async_fini(), 0);
}

/* ---- ordering -------------------------------------------------------------------------- */

/* An async that never blocks has run to completion when lxd_async() returns. */
static void test_nonblocking_runs_inline_in_order(void **state)
{
	(void)state;
	struct lxd_finish f = LXD_FINISH_INIT;
	assert_int_equal(lxd_async(&f, log_arg, "a"), 0);
	ev("m1");
	assert_int_equal(lxd_async(&f, log_arg, "b"), 0);
	ev("m2");
	assert_int_equal(f.pending, 0);
	assert_int_equal(lxd_finish(&f), 0);
	assert_string_equal(events, "a m1 b m2");
	struct lxd_async_stats st;
	lxd_async_stats(&st);
	assert_int_equal(st.blocked, 0);
	assert_int_equal(st.stacks_free, st.stacks);
}

/* A blocking async hands the CPU back to its caller; finish waits for it. */
static void test_blocking_async_caller_continues(void **state)
{
	(void)state;
	const char *a[] = {"a1", "a2"}, *b[] = {"b1", "b2"};
	LXD_DO_FINISH(f) {
		lxd_async(&f, log_yield_log, a);
		ev("m1");
		lxd_async(&f, log_yield_log, b);
		ev("m2");
		assert_int_equal(f.pending, 2);
	}
	ev("after");
	/* FIFO run queue: a resumes before b; neither resumes before finish. */
	assert_string_equal(events, "a1 m1 b1 m2 a2 b2 after");
}

/* Scopes run one after the other: nothing of the second starts before the first is done. */
static void test_order_across_scopes(void **state)
{
	(void)state;
	const char *a[] = {"a1", "a2"}, *b[] = {"b1", "b2"};
	LXD_DO_FINISH(f1) {
		lxd_async(&f1, log_yield_log, a);
	}
	ev("between");
	LXD_DO_FINISH(f2) {
		lxd_async(&f2, log_yield_log, b);
	}
	assert_string_equal(events, "a1 a2 between b1 b2");
}

static void nested_outer(void *arg)
{
	(void)arg;
	const char *x[] = {"x1", "x2"}, *y[] = {"y1", "y2"};
	ev("o1");
	LXD_DO_FINISH(inner) {
		lxd_async(&inner, log_yield_log, x);
		lxd_async(&inner, log_yield_log, y);
		ev("o2");
	}
	ev("o3"); /* only after both of the inner scope */
}

static void test_nested_scopes(void **state)
{
	(void)state;
	const char *z[] = {"z1", "z2"};
	LXD_DO_FINISH(f) {
		lxd_async(&f, nested_outer, NULL);
		ev("m");
		lxd_async(&f, log_yield_log, z);
	}
	ev("end");
	/* outer blocks in its inner finish -> main goes on; the inner scope's
	 * threads and z interleave; o3 after x2 and y2; end last. */
	assert_string_equal(events, "o1 x1 y1 o2 m z1 x2 y2 z2 o3 end");
}

/* An async started into an outer scope from inside a child is waited for too. */
static struct lxd_finish *outer_scope;
static void late_child(void *arg)
{
	(void)arg;
	lxd_yield();
	lxd_yield();
	ev("late");
}
static void spawner(void *arg)
{
	(void)arg;
	lxd_yield();
	lxd_async(outer_scope, late_child, NULL);
	ev("spawner");
}

static void test_async_into_outer_scope(void **state)
{
	(void)state;
	struct lxd_finish f = LXD_FINISH_INIT;
	outer_scope = &f;
	lxd_async(&f, spawner, NULL);
	lxd_finish(&f);
	ev("end");
	assert_string_equal(events, "spawner late end");
}

/* Deep chains of inline starts, each with its own scope, blocking at the bottom. */
static void chain(void *arg)
{
	uintptr_t depth = (uintptr_t)arg;
	if (depth == 0) {
		lxd_yield();
		ev("bottom");
		return;
	}
	LXD_DO_FINISH(f) {
		lxd_async(&f, chain, (void *)(depth - 1));
	}
	if (depth == 40)
		ev("top");
}

static void test_deep_chain(void **state)
{
	(void)state;
	LXD_DO_FINISH(f) {
		lxd_async(&f, chain, (void *)(uintptr_t)40);
		ev("main");
	}
	assert_string_equal(events, "main bottom top");
	struct lxd_async_stats st;
	lxd_async_stats(&st);
	assert_int_equal(st.stacks_free, st.stacks); /* every stack back */
}

/* ---- thousands at once ------------------------------------------------------------------ */

#define MANY 5000
static unsigned alive, max_alive, done_count;
static uint64_t sum;

static void many_body(void *arg)
{
	uintptr_t i = (uintptr_t)arg;
	alive++;
	if (alive > max_alive)
		max_alive = alive;
	for (unsigned k = 0; k < i % 5; k++)
		lxd_yield();
	sum += i;
	done_count++;
	alive--;
}

static void test_thousands_of_asyncs(void **state)
{
	(void)state;
	lxd_async_fini();
	struct lxd_async_config c = {.stacks = MANY + 8, .stack_size = 32 * 1024};
	assert_int_equal(lxd_async_init(&c), 0);
	alive = max_alive = done_count = 0;
	sum = 0;
	LXD_DO_FINISH(f) {
		for (uintptr_t i = 0; i < MANY; i++)
			assert_int_equal(lxd_async(&f, many_body, (void *)i), 0);
	}
	assert_int_equal(done_count, MANY);
	assert_int_equal(sum, (uint64_t)MANY * (MANY - 1) / 2);
	assert_int_equal(alive, 0);
	/* Every async with i % 5 != 0 blocked: 4/5 of them were alive at once. */
	assert_true(max_alive >= MANY * 4 / 5);
	struct lxd_async_stats st;
	lxd_async_stats(&st);
	assert_int_equal(st.blocked, MANY * 4 / 5);
	assert_int_equal(st.no_stack, 0);
	assert_int_equal(st.stacks_free, st.stacks);
}

/* More asyncs than stacks: the pool is reused, the overflow runs on the caller. */
static void test_pool_exhaustion_and_reuse(void **state)
{
	(void)state;
	lxd_async_fini();
	struct lxd_async_config c = {.stacks = 8, .stack_size = 32 * 1024};
	assert_int_equal(lxd_async_init(&c), 0);
	done_count = 0;
	sum = 0;
	alive = max_alive = 0;
	for (int round = 0; round < 100; round++) {
		LXD_DO_FINISH(f) {
			for (uintptr_t i = 0; i < 50; i++)
				lxd_async(&f, many_body, (void *)i);
		}
	}
	assert_int_equal(done_count, 100 * 50);
	assert_int_equal(sum, 100ull * (50 * 49 / 2));
	struct lxd_async_stats st;
	lxd_async_stats(&st);
	assert_true(st.no_stack > 0);
	assert_int_equal(st.stacks_free, 8);
	assert_int_equal(st.asyncs, 100 * 50);
}

/* ---- registers and identity --------------------------------------------------------------- */

static int rounding_seen_by_b;

static void rounder(void *arg)
{
	(void)arg;
	fesetround(FE_TOWARDZERO);
	lxd_yield();
	/* Our own mode survived the other thread's run. */
	assert_int_equal(fegetround(), FE_TOWARDZERO);
	volatile double one = 1.0, three = 3.0;
	volatile float q = (float)(one / three);
	(void)q;
	fesetround(FE_TONEAREST);
}

static void observer(void *arg)
{
	(void)arg;
	lxd_yield();
	rounding_seen_by_b = fegetround();
}

static void test_fp_control_words_per_thread(void **state)
{
	(void)state;
	rounding_seen_by_b = -1;
	LXD_DO_FINISH(f) {
		lxd_async(&f, rounder, NULL);
		lxd_async(&f, observer, NULL);
		/* main runs with the mode it had */
		assert_int_equal(fegetround(), FE_TONEAREST);
	}
	assert_int_equal(rounding_seen_by_b, FE_TONEAREST);
	assert_int_equal(fegetround(), FE_TONEAREST);
}

/*
 * MXCSR and the x87 control word, each set and read on its own (not through
 * fesetround(), which sets both): every path that leaves or resumes a
 * thread must carry both.  The paths: an inline start (the parent's words
 * saved by lxd__ctx_start), a switch out of a live thread, a resume into
 * a call (lxd_yield(), lxd_finish()), and the exit of a finished thread,
 * which saves nothing and must still load the next thread's words.
 */
#define MX_FTZ_UP (0x8000u | 0x4000u | 0x1f80u) /* flush-to-zero, round up, all masked */
#define CW_CHOP_SINGLE 0x0c7fu                   /* x87: truncate, single precision */

static uint16_t get_cw(void)
{
	uint16_t cw;
	__asm__ volatile("fnstcw %0" : "=m"(cw));
	return cw;
}

static void set_cw(uint16_t cw) { __asm__ volatile("fldcw %0" : : "m"(cw)); }

struct fpw {
	uint32_t mx;
	uint16_t cw;
};

static struct fpw fpw_now(void) { return (struct fpw){_mm_getcsr(), get_cw()}; }

static void fpw_set(struct fpw w)
{
	_mm_setcsr(w.mx);
	set_cw(w.cw);
}

static struct fpw seen_after_yield[2], seen_by_sibling;

/* Changes its words (*arg) before it first blocks (so while started
 * inline), checks they survive being switched out and resumed -- once by a
 * switch, once by the sibling's exit -- and finishes with them changed. */
static void fp_changer(void *arg)
{
	const struct fpw *w = arg;
	fpw_set(*w);
	assert_int_equal(lxd_yield(), 0);
	seen_after_yield[0] = fpw_now();
	assert_int_equal(lxd_yield(), 0);
	seen_after_yield[1] = fpw_now();
	fpw_set(*w); /* even if the checks above will fail */
}

static void fp_sibling(void *arg)
{
	(void)arg;
	assert_int_equal(lxd_yield(), 0);
	seen_by_sibling = fpw_now();
}

static void test_fp_words_on_every_path(void **state)
{
	(void)state;
	struct fpw mine = fpw_now();
	assert_int_not_equal(mine.mx, MX_FTZ_UP);
	assert_int_not_equal(mine.cw, CW_CHOP_SINGLE);
	/* Both words changed; then the x87 word alone (a switch compares the
	 * words one by one and loads only what differs). */
	const struct fpw changed[2] = {{MX_FTZ_UP, CW_CHOP_SINGLE}, {mine.mx, CW_CHOP_SINGLE}};
	for (int k = 0; k < 2; k++) {
		memset(seen_after_yield, 0, sizeof(seen_after_yield));
		memset(&seen_by_sibling, 0, sizeof(seen_by_sibling));
		struct lxd_finish f = LXD_FINISH_INIT;
		assert_int_equal(lxd_async(&f, fp_changer, (void *)&changed[k]), 0);
		/* The changer blocked: we carry on with our own words. */
		assert_int_equal(_mm_getcsr(), mine.mx);
		assert_int_equal(get_cw(), mine.cw);
		assert_int_equal(lxd_async(&f, fp_sibling, NULL), 0);
		/* Resumed last by the changer's exit, which saves nothing. */
		assert_int_equal(lxd_finish(&f), 0);
		assert_int_equal(_mm_getcsr(), mine.mx);
		assert_int_equal(get_cw(), mine.cw);
		for (int i = 0; i < 2; i++) {
			assert_int_equal(seen_after_yield[i].mx, changed[k].mx);
			assert_int_equal(seen_after_yield[i].cw, changed[k].cw);
		}
		assert_int_equal(seen_by_sibling.mx, mine.mx);
		assert_int_equal(seen_by_sibling.cw, mine.cw);
	}
}

static int ids[3];
static const char *names[3];
static void whoami(void *arg)
{
	uintptr_t k = (uintptr_t)arg;
	lxd_yield();
	ids[k] = lxd_thread_id();
	names[k] = lxd_thread_name();
}

static void test_thread_ids_and_names(void **state)
{
	(void)state;
	LXD_DO_FINISH(f) {
		lxd_async_named(&f, whoami, (void *)0, "first");
		lxd_async_named(&f, whoami, (void *)1, "second");
		lxd_async(&f, whoami, (void *)2);
	}
	assert_true(ids[0] > 0 && ids[1] > 0 && ids[2] > 0);
	assert_true(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
	assert_string_equal(names[0], "first");
	assert_string_equal(names[1], "second");
	assert_string_equal(names[2], "async");
	assert_int_equal(lxd_thread_id(), 0);
}

static void test_measure_switch(void **state)
{
	(void)state;
	double c = lxd_async_measure_switch(1000);
	assert_true(c > 0);
	struct lxd_async_stats st;
	lxd_async_stats(&st);
	assert_int_equal(st.stacks_free, st.stacks);
	/* Still usable afterwards. */
	const char *a[] = {"a1", "a2"};
	LXD_DO_FINISH(f) lxd_async(&f, log_yield_log, a);
	assert_string_equal(events, "a1 a2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_without_runtime),
		cmocka_unit_test_setup_teardown(test_nonblocking_runs_inline_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocking_async_caller_continues, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_across_scopes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nested_scopes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_into_outer_scope, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deep_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thousands_of_asyncs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_exhaustion_and_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fp_control_words_per_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fp_words_on_every_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thread_ids_and_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_measure_switch, setup, teardown),
	};
	return cmocka_run_group_tests_name("async-sched", tests, NULL, NULL);
}
