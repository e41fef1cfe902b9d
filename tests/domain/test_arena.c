/* SPDX-License-Identifier: MIT */
/* Arena allocator and buffer words: classes, exhaustion, refused frees, range checks, mapping. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "lxds/arena.h"
#include "lxds/compiler.h"

#define SIZE (4u << 20)

static void *mem;

static int setup(void **state)
{
	(void)state;
	mem = aligned_alloc(LXD_ARENA_CHUNK, SIZE);
	return mem ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(mem);
	return 0;
}

static void test_init_rejects_bad_geometry(void **state)
{
	(void)state;
	struct lxd_arena a;
	assert_int_equal(lxd_arena_init(NULL, mem, SIZE, 0, SIZE), -EINVAL);
	assert_int_equal(lxd_arena_init(&a, NULL, SIZE, 0, SIZE), -EINVAL);
	assert_int_equal(lxd_arena_init(&a, mem, SIZE, 0, 0), -EINVAL);
	assert_int_equal(lxd_arena_init(&a, mem, SIZE, 100, LXD_ARENA_CHUNK), -EINVAL); /* misaligned share */
	assert_int_equal(lxd_arena_init(&a, mem, SIZE, SIZE - LXD_ARENA_CHUNK, 2 * LXD_ARENA_CHUNK), -EINVAL);
	assert_int_equal(lxd_arena_init(&a, (char *)mem + 64, SIZE - LXD_ARENA_CHUNK, 0, LXD_ARENA_CHUNK), -EINVAL);
	assert_int_equal(lxd_arena_init(&a, mem, SIZE, 0, SIZE), 0);
	lxd_arena_fini(&a);
}

static void test_classes_alignment_and_reuse(void **state)
{
	(void)state;
	struct lxd_arena a;
	assert_int_equal(lxd_arena_init(&a, mem, SIZE, 0, SIZE), 0);
	assert_null(lxd_arena_alloc(&a, 0));
	size_t sizes[] = {1, 63, 64, 65, 100, 1000, 4096, 5000, 65536, 65537, 300000};
	void *p[LXD_ARRAY_SIZE(sizes)];
	for (size_t i = 0; i < LXD_ARRAY_SIZE(sizes); i++) {
		p[i] = lxd_arena_alloc(&a, sizes[i]);
		assert_non_null(p[i]);
		assert_true(lxd_arena_contains(&a, p[i], sizes[i]));
		size_t align = sizes[i] <= 64 ? 64 : sizes[i] > 4096 ? 4096 : 128;
		assert_int_equal((uintptr_t)p[i] % align, 0);
		memset(p[i], (int)i, sizes[i]); /* ASan would catch an overlap only with guards; check below */
	}
	/* No two buffers overlap: each still holds its own byte. */
	for (size_t i = 0; i < LXD_ARRAY_SIZE(sizes); i++)
		for (size_t k = 0; k < sizes[i]; k++)
			assert_int_equal(((uint8_t *)p[i])[k], (uint8_t)i);
	for (size_t i = 0; i < LXD_ARRAY_SIZE(sizes); i++)
		assert_int_equal(lxd_arena_free(&a, p[i]), 0);
	assert_int_equal(a.in_use, 0);
	/* Freed blocks come back (LIFO per class). */
	void *q = lxd_arena_alloc(&a, 1000);
	assert_ptr_equal(q, p[5]);
	lxd_arena_fini(&a);
}

static void test_frees_that_must_be_refused(void **state)
{
	(void)state;
	struct lxd_arena a;
	/* This side's share is the second half. */
	assert_int_equal(lxd_arena_init(&a, mem, SIZE, SIZE / 2, SIZE / 2), 0);
	uint8_t *p = lxd_arena_alloc(&a, 256);
	assert_true(p >= (uint8_t *)mem + SIZE / 2);
	assert_int_equal(lxd_arena_free(&a, NULL), -EINVAL);
	assert_int_equal(lxd_arena_free(&a, mem), -EINVAL);          /* the other side's share */
	assert_int_equal(lxd_arena_free(&a, p + 64), -EINVAL);       /* inside, not a block start */
	assert_int_equal(lxd_arena_free(&a, p + 1), -EINVAL);        /* misaligned */
	assert_int_equal(lxd_arena_free(&a, p + 4096 * 4), -EINVAL); /* never allocated */
	assert_int_equal(lxd_arena_free(&a, (uint8_t *)mem + SIZE), -EINVAL); /* past the end */
	assert_int_equal(lxd_arena_free(&a, p), 0);
	assert_int_equal(lxd_arena_free(&a, p), -EINVAL);            /* double free */
	assert_int_equal(a.bad_frees, 7);
	uint8_t *big = lxd_arena_alloc(&a, 200000);
	assert_int_equal(lxd_arena_free(&a, big + LXD_ARENA_CHUNK), -EINVAL); /* tail of a big one */
	assert_int_equal(lxd_arena_free(&a, big), 0);
	lxd_arena_fini(&a);
}

/*
 * A run freed in one call (a lane's answered batch): it stops at the first
 * pointer outside the arena mapping, frees the rest of the run like
 * lxd_arena_free, and counts (not frees) what lxd_arena_free would refuse.
 */
static void test_free_run(void **state)
{
	(void)state;
	struct lxd_arena a;
	assert_int_equal(lxd_arena_init(&a, mem, SIZE, SIZE / 2, SIZE / 2), 0);
	uint8_t *b[4];
	for (int i = 0; i < 4; i++)
		assert_non_null(b[i] = lxd_arena_alloc(&a, 200));
	int outside;
	void *run[] = {b[0], b[1] + 1, b[2], b[1] + 1, b[0], mem /* the other share: in the mapping, refused */,
		       &outside /* past the mapping: ends the run */, b[3]};
	unsigned bad = 99;
	void *first_bad = NULL;
	assert_int_equal(lxd_arena_free_run(&a, run, 8, &bad, &first_bad), 6);
	assert_int_equal(bad, 4); /* b[1] + 1 twice (misaligned), b[0] again (double), mem */
	assert_ptr_equal(first_bad, b[1] + 1);
	assert_int_equal(a.bad_frees, 4);
	assert_int_equal(lxd_arena_free(&a, b[0]), -EINVAL); /* freed by the run */
	assert_int_equal(lxd_arena_free(&a, b[2]), -EINVAL);
	assert_int_equal(lxd_arena_free(&a, b[1]), 0);       /* never in the run */
	assert_int_equal(lxd_arena_free_run(&a, (void *[]){&outside}, 1, &bad, NULL), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(lxd_arena_free_run(&a, (void *[]){b[3]}, 1, &bad, NULL), 1);
	assert_int_equal(bad, 0);
	assert_int_equal(a.in_use, 0);
	lxd_arena_fini(&a);
}

static void test_exhaustion_and_reset(void **state)
{
	(void)state;
	struct lxd_arena a;
	assert_int_equal(lxd_arena_init(&a, mem, SIZE, 0, 4 * LXD_ARENA_CHUNK), 0);
	assert_null(lxd_arena_alloc(&a, 5 * LXD_ARENA_CHUNK)); /* more than the share */
	unsigned n = 0;
	void *first = NULL, *v;
	while ((v = lxd_arena_alloc(&a, 4096))) {
		if (!first)
			first = v;
		n++;
	}
	assert_int_equal(n, 4 * LXD_ARENA_CHUNK / 4096);
	assert_null(lxd_arena_alloc(&a, 64)); /* no chunk left for another class */
	assert_int_equal(lxd_arena_free(&a, first), 0);
	assert_ptr_equal(lxd_arena_alloc(&a, 4096), first);
	lxd_arena_reset(&a);
	assert_int_equal(a.in_use, 0);
	assert_non_null(lxd_arena_alloc(&a, 3 * LXD_ARENA_CHUNK));
	/* Many frees of one class never overflow its stack. */
	lxd_arena_reset(&a);
	void *blk[4096];
	unsigned m = 0;
	while (m < 4096 && (blk[m] = lxd_arena_alloc(&a, 64)))
		m++;
	for (unsigned i = 0; i < m; i++)
		assert_int_equal(lxd_arena_free(&a, blk[i]), 0);
	lxd_arena_fini(&a);
}

static void test_buffer_words(void **state)
{
	(void)state;
	struct lxd_arena a;
	assert_int_equal(lxd_arena_init(&a, mem, SIZE, 0, SIZE), 0);
	void *p;
	uint32_t len;
	uint64_t w = lxd_arena_buf_pack(4096, 100);
	assert_int_equal(lxd_arena_buf_get(&a, w, &p, &len), 0);
	assert_ptr_equal(p, (uint8_t *)mem + 4096);
	assert_int_equal(len, 100);
	assert_int_equal(lxd_arena_buf_pack(0, LXD_ARENA_BUF_MAX_LEN + 1), 0);
	assert_int_equal(lxd_arena_buf_pack(1ull << 41, 1), 0);
	assert_int_equal(lxd_arena_buf_get(&a, 0, &p, &len), -EINVAL);
	assert_int_equal(lxd_arena_buf_get(&a, lxd_arena_buf_pack(4096, 0), &p, &len), -EINVAL);
	assert_int_equal(lxd_arena_buf_get(&a, lxd_arena_buf_pack(SIZE - 10, 10), &p, &len), 0);
	assert_int_equal(lxd_arena_buf_get(&a, lxd_arena_buf_pack(SIZE - 10, 11), &p, &len), -ERANGE);
	assert_int_equal(lxd_arena_buf_get(&a, lxd_arena_buf_pack(SIZE, 1), &p, &len), -ERANGE);
	assert_int_equal(lxd_arena_buf_get(&a, UINT64_MAX, &p, &len), -ERANGE); /* no wrap-around */
	assert_false(lxd_arena_contains(&a, (uint8_t *)mem - 1, 1));
	assert_false(lxd_arena_contains(&a, (uint8_t *)mem + SIZE - 1, 2));
	assert_true(lxd_arena_contains(&a, (uint8_t *)mem + SIZE - 1, 1));
	lxd_arena_fini(&a);
}

static void test_fixed_mapping(void **state)
{
	(void)state;
	int fd;
	unsigned slot = lxd_arena_slots() - 1;
	void *p = lxd_arena_map_new(slot, 1u << 20, &fd);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p, lxd_arena_slot_base(slot));
	/* Mapping over it is refused, not silently replaced. */
	assert_int_equal(lxd_arena_map_at(fd, (uintptr_t)p, 1u << 20), -EEXIST);
	assert_null(lxd_arena_map_new(slot, 1u << 20, &fd));
	assert_int_equal(lxd_arena_slot_base(lxd_arena_slots()), 0);
	assert_null(lxd_arena_map_new(0, 1000, &fd)); /* not a chunk multiple */
	((uint8_t *)p)[5] = 9;
	assert_int_equal(lxd_arena_zero(fd, p, 0, 1u << 20), 0);
	assert_int_equal(((uint8_t *)p)[5], 0);
	munmap(p, 1u << 20);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_rejects_bad_geometry),
		cmocka_unit_test(test_classes_alignment_and_reuse),
		cmocka_unit_test(test_frees_that_must_be_refused),
		cmocka_unit_test(test_free_run),
		cmocka_unit_test(test_exhaustion_and_reset),
		cmocka_unit_test(test_buffer_words),
		cmocka_unit_test(test_fixed_mapping),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
