/* SPDX-License-Identifier: MIT */
/*
 * Shared set-up of the glue tests that run both sides in one process: an
 * arena mapping with a chunk-aligned base (lxd_arena_init wants one) and a
 * channel formatted in private memory, attached as the kernel side and as
 * the domain side.  Include after <cmocka.h>.
 */
#ifndef LXDS_TESTS_CHAN_FIXTURE_H
#define LXDS_TESTS_CHAN_FIXTURE_H

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "lxds/arena.h"
#include "lxds/fipc.h"

struct chan_fixture {
	void *map;      /* the mapping, one chunk larger than the arena */
	void *base;     /* the arena: chunk-aligned inside map */
	size_t arena_size;
	void *chan_mem;
};

static inline void chan_fixture_setup(struct chan_fixture *f, size_t arena_size, uint32_t slots,
				      struct lxd_chan *kernel, struct lxd_chan *domain)
{
	f->arena_size = arena_size;
	f->map = mmap(NULL, arena_size + LXD_ARENA_CHUNK, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(f->map != MAP_FAILED);
	f->base = (void *)(((uintptr_t)f->map + LXD_ARENA_CHUNK - 1) & ~(uintptr_t)(LXD_ARENA_CHUNK - 1));
	size_t len = lxd_chan_shm_size(slots);
	f->chan_mem = aligned_alloc(64, len);
	assert_non_null(f->chan_mem);
	assert_int_equal(lxd_chan_format(f->chan_mem, len, slots), 0);
	assert_int_equal(lxd_chan_attach(kernel, f->chan_mem, len, slots, LXD_SIDE_KERNEL), 0);
	assert_int_equal(lxd_chan_attach(domain, f->chan_mem, len, slots, LXD_SIDE_DOMAIN), 0);
}

static inline void chan_fixture_teardown(struct chan_fixture *f)
{
	free(f->chan_mem);
	munmap(f->map, f->arena_size + LXD_ARENA_CHUNK);
}

#endif
