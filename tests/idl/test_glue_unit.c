/* SPDX-License-Identifier: MIT */
/*
 * lib/glue without a peer: the marshalling buffer's bounds and sticky
 * errors, strings and arrays, the map under churn, references and shadows.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lxds/glue.h"

static void test_reader_past_end_is_sticky(void **state)
{
	(void)state;
	uint64_t w[2] = { 7, 8 };
	struct lxd_glue_buf b;
	lxd_glue_reader(&b, w, 2);
	assert_int_equal(lxd_glue_get(&b), 7);
	assert_int_equal(lxd_glue_get(&b), 8);
	assert_int_equal(lxd_glue_get(&b), 0);
	assert_int_equal(b.err, -EPROTO);
	b.pos = 0; /* the error stays: nothing more is read */
	assert_int_equal(lxd_glue_get(&b), 0);
}

static void test_writer_grows_and_limits(void **state)
{
	(void)state;
	struct lxd_glue_buf b;
	lxd_glue_writer(&b, NULL);
	for (uint64_t i = 0; i < 1000; i++)
		lxd_glue_put(&b, i * 3);
	assert_int_equal(b.err, 0);
	assert_int_equal(b.n, 1000);
	assert_true(b.owned);
	for (uint32_t i = 0; i < 1000; i++)
		assert_int_equal(b.w[i], (uint64_t)i * 3);
	assert_int_equal(lxd_glue_reserve(&b, LXD_GLUE_MAX_WORDS + 1), -EMSGSIZE);
	lxd_glue_put(&b, 1); /* sticky */
	assert_int_equal(b.n, 1000);
	lxd_glue_buf_fini(&b);
}

static void test_strings(void **state)
{
	(void)state;
	struct lxd_glue_buf w, r;
	lxd_glue_writer(&w, NULL);
	lxd_glue_put_string(&w, "hello, world", 12);
	lxd_glue_put_string(&w, NULL, 12);
	lxd_glue_put_string(&w, "", 12);
	assert_int_equal(w.err, 0);
	lxd_glue_reader(&r, w.w, w.n);
	bool null;
	char *s = lxd_glue_get_string(&r, 12, &null);
	assert_string_equal(s, "hello, world");
	assert_false(null);
	free(s);
	assert_null(lxd_glue_get_string(&r, 12, &null));
	assert_true(null);
	s = lxd_glue_get_string(&r, 12, &null);
	assert_string_equal(s, "");
	free(s);
	assert_int_equal(r.err, 0);
	/* The receiver's bound is its own: a longer one is refused. */
	lxd_glue_reader(&r, w.w, w.n);
	assert_null(lxd_glue_get_string(&r, 11, &null));
	assert_int_equal(r.err, -EPROTO);
	/* Over the bound on the sending side: refused, not cut. */
	struct lxd_glue_buf x;
	lxd_glue_writer(&x, NULL);
	lxd_glue_put_string(&x, "hello, world!", 12);
	assert_int_equal(x.err, -ENAMETOOLONG);
	lxd_glue_buf_fini(&x);
	/* A length word that runs past the words there are. */
	uint64_t bad[2] = { 100, 0 };
	lxd_glue_reader(&r, bad, 2);
	assert_null(lxd_glue_get_string(&r, 4096, &null));
	assert_int_equal(r.err, -EPROTO);
	lxd_glue_buf_fini(&w);
}

static void test_arrays(void **state)
{
	(void)state;
	uint16_t a[5] = { 1, 2, 3, 4, 5 }, got[5] = { 0 };
	struct lxd_glue_buf w, r;
	lxd_glue_writer(&w, NULL);
	lxd_glue_put_array(&w, a, 5, sizeof(a[0]));
	lxd_glue_put_array(&w, NULL, 0, sizeof(a[0]));
	lxd_glue_reader(&r, w.w, w.n);
	assert_int_equal(lxd_glue_get_count(&r, 5), 5);
	lxd_glue_get_bytes(&r, got, sizeof(got));
	assert_memory_equal(a, got, sizeof(a));
	assert_int_equal(lxd_glue_get_count(&r, 5), 0);
	assert_int_equal(r.err, 0);
	lxd_glue_reader(&r, w.w, w.n);
	assert_int_equal(lxd_glue_get_count(&r, 4), 0); /* more than the receiver allows */
	assert_int_equal(r.err, -EPROTO);
	struct lxd_glue_buf x;
	lxd_glue_writer(&x, NULL);
	lxd_glue_put_array(&x, NULL, 3, 4); /* a count with no array */
	assert_int_equal(x.err, -EFAULT);
	lxd_glue_buf_fini(&w);
}

static void test_map_churn(void **state)
{
	(void)state;
	struct lxd_glue_map m = { 0 };
	assert_int_equal(lxd_glue_map_put(&m, 0, (void *)1), -EINVAL);
	for (uint64_t round = 0; round < 20; round++) {
		for (uint64_t k = 1; k <= 500; k++)
			assert_int_equal(lxd_glue_map_put(&m, k + round * 1000, (void *)(uintptr_t)k), 0);
		for (uint64_t k = 1; k <= 500; k++)
			assert_ptr_equal(lxd_glue_map_get(&m, k + round * 1000), (void *)(uintptr_t)k);
		for (uint64_t k = 1; k <= 500; k += 2)
			assert_ptr_equal(lxd_glue_map_del(&m, k + round * 1000), (void *)(uintptr_t)k);
		for (uint64_t k = 1; k <= 500; k++)
			assert_ptr_equal(lxd_glue_map_get(&m, k + round * 1000),
					 k % 2 ? NULL : (void *)(uintptr_t)k);
		for (uint64_t k = 2; k <= 500; k += 2)
			lxd_glue_map_del(&m, k + round * 1000);
	}
	assert_int_equal(m.n, 0);
	assert_true(m.cap <= 4096); /* tombstones are reclaimed, the table does not grow for ever */
	lxd_glue_map_fini(&m);
}

static void test_refs_and_shadows(void **state)
{
	(void)state;
	static uint64_t arena_mem[(LXD_ARENA_CHUNK * 2) / 8 + LXD_ARENA_CHUNK / 8];
	void *base = (void *)(((uintptr_t)arena_mem + LXD_ARENA_CHUNK - 1) & ~(uintptr_t)(LXD_ARENA_CHUNK - 1));
	struct lxd_arena arena;
	struct lxd_cap_table caps;
	struct lxd_glue g;
	assert_int_equal(lxd_arena_init(&arena, base, LXD_ARENA_CHUNK, 0, LXD_ARENA_CHUNK), 0);
	assert_int_equal(lxd_cap_init(&caps, 3), 0);
	assert_int_equal(lxd_glue_init(&g, NULL, &arena, &caps, 3), 0);

	int obj = 5;
	struct lxd_glue_buf w, r;
	lxd_glue_writer(&w, NULL);
	lxd_glue_put_ref(&g, &w, &obj, 1, LXD_GLUE_OWNER_US);
	lxd_glue_put_ref(&g, &w, &obj, 1, LXD_GLUE_OWNER_ANY); /* one object, one reference */
	assert_int_equal(w.n, 2);
	assert_int_equal(w.w[0], w.w[1]);
	assert_false(w.w[0] & LXD_GLUE_REF_YOURS);
	/* Coming back marked YOURS: our own object, capability-checked. */
	uint64_t back[3] = { w.w[0] | LXD_GLUE_REF_YOURS, w.w[0] | LXD_GLUE_REF_YOURS, w.w[0] };
	lxd_glue_reader(&r, back, 3);
	struct lxd_glue_shadow *sh;
	assert_ptr_equal(lxd_glue_get_ref(&g, &r, 1, LXD_GLUE_OWNER_US, false, 0, 0, NULL, &sh), &obj);
	assert_null(sh);
	assert_null(lxd_glue_get_ref(&g, &r, 2, LXD_GLUE_OWNER_ANY, false, 0, 0, NULL, &sh));
	assert_int_equal(r.err, -EPROTOTYPE);
	/* Unmarked where our own object belongs: refused. */
	lxd_glue_reader(&r, back + 2, 1);
	assert_null(lxd_glue_get_ref(&g, &r, 1, LXD_GLUE_OWNER_US, false, 0, 0, NULL, &sh));
	assert_int_equal(r.err, -EPROTO);

	/* A peer's object: bind needs a shadow, alloc makes one (with a private area). */
	uint64_t peer[2] = { 0x0000000500000009ull, 0x0000000500000009ull };
	lxd_glue_reader(&r, peer, 2);
	assert_null(lxd_glue_get_ref(&g, &r, 2, LXD_GLUE_OWNER_PEER, false, 16, 0, NULL, &sh));
	assert_int_equal(r.err, -ENOENT);
	lxd_glue_reader(&r, peer, 2);
	void *s1 = lxd_glue_get_ref(&g, &r, 2, LXD_GLUE_OWNER_PEER, true, 40, 100, NULL, &sh);
	assert_non_null(s1);
	assert_non_null(sh);
	memset((char *)s1 + lxd_glue_priv_offset(40), 0xab, 100); /* ASan: the private area is there */
	assert_ptr_equal(lxd_glue_get_ref(&g, &r, 2, LXD_GLUE_OWNER_PEER, true, 40, 100, NULL, &sh), s1);
	/* Sending our shadow back names the peer's object, marked YOURS. */
	struct lxd_glue_buf w2;
	lxd_glue_writer(&w2, NULL);
	lxd_glue_put_ref(&g, &w2, s1, 2, LXD_GLUE_OWNER_PEER);
	assert_int_equal(w2.w[0], peer[0] | LXD_GLUE_REF_YOURS);
	lxd_glue_put_ref(&g, &w2, s1, 2, LXD_GLUE_OWNER_US); /* a copy where our own belongs */
	assert_int_equal(w2.err, -EINVAL);
	struct lxd_glue_buf w3;
	lxd_glue_writer(&w3, NULL);
	lxd_glue_put_ref(&g, &w3, &obj, 1, LXD_GLUE_OWNER_PEER); /* not a copy */
	assert_int_equal(w3.err, -ENOENT);

	/* Revoked: the reference is stale from then on. */
	lxd_ref_t ref = w.w[0];
	assert_int_equal(lxd_glue_unexport(&g, &obj, 1), 0);
	void *o;
	assert_int_equal(lxd_glue_own_lookup(&g, ref, 1, &o), -ESTALE);
	lxd_glue_shadow_destroy(&g, sh);
	assert_null(lxd_glue_shadow_find(&g, peer[0], 2));
	lxd_glue_buf_fini(&w);
	lxd_glue_buf_fini(&w2);
	lxd_glue_buf_fini(&w3);
	lxd_glue_fini(&g);
	lxd_cap_fini(&caps);
	lxd_arena_fini(&arena);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reader_past_end_is_sticky),
		cmocka_unit_test(test_writer_grows_and_limits),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_arrays),
		cmocka_unit_test(test_map_churn),
		cmocka_unit_test(test_refs_and_shadows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
