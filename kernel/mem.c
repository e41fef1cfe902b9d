/* SPDX-License-Identifier: MIT */
/*
 * The one entry point for data that crosses to a driver (skb data, request
 * pages).  A buffer for an isolated module comes from its domain's shared
 * arena (kernel/isolated/); a native module's from a kernel-private arena
 * run by the same allocator (lxd_arena), so that both modes pay the same
 * per-buffer cost: until session 4 native buffers came from glibc's
 * aligned_alloc, whose slow path was ~60% of a native pktgen run (9 against
 * 17 Mpps with a fast allocator) -- the native baseline was handicapped and
 * the isolated/native ratio flattered (docs/evaluation.md).  Buffers the
 * private arena cannot hold (larger than a buffer word's 16 MiB, or once
 * it is full) fall back to aligned_alloc.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include <linux/printk.h>

#include "internal.h"
#include "lxds/arena.h"

/* Address space only until touched (MAP_NORESERVE). */
#define NATIVE_ARENA_SIZE (256ul << 20)

static struct {
	pthread_once_t once;
	pthread_mutex_t lock;
	struct lxd_arena a;
	bool ready;
} native = {PTHREAD_ONCE_INIT, PTHREAD_MUTEX_INITIALIZER, {0}, false};

static void native_arena_init(void)
{
	/* lxd_arena wants a chunk-aligned base: map a chunk more and align. */
	size_t len = NATIVE_ARENA_SIZE + LXD_ARENA_CHUNK;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return;
	char *base = (char *)(((uintptr_t)m + LXD_ARENA_CHUNK - 1) & ~(uintptr_t)(LXD_ARENA_CHUNK - 1));
	if (lxd_arena_init(&native.a, base, NATIVE_ARENA_SIZE, 0, NATIVE_ARENA_SIZE)) {
		munmap(m, len);
		return;
	}
	native.ready = true;
}

static void *native_alloc(size_t len)
{
	pthread_once(&native.once, native_arena_init);
	if (native.ready && len <= LXD_ARENA_BUF_MAX_LEN) {
		pthread_mutex_lock(&native.lock);
		void *p = lxd_arena_alloc(&native.a, len);
		pthread_mutex_unlock(&native.lock);
		if (p)
			return p;
	}
	size_t align = len >= 4096 ? 4096 : 64;
	return aligned_alloc(align, (len + align - 1) & ~(align - 1));
}

/* True when @p was a native arena buffer (now freed).  native_free_run(&p,
 * 1) does the same, but native pktgen, which frees every packet here, ran
 * ~5% slower through it (alternating runs, session 5): kept apart. */
static bool native_free(void *p)
{
	if (!native.ready || !lxd_arena_contains(&native.a, p, 1))
		return false;
	pthread_mutex_lock(&native.lock);
	int rc = lxd_arena_free(&native.a, p);
	pthread_mutex_unlock(&native.lock);
	if (rc)
		pr_err("lxd_data_free: %p is no live data buffer\n", p);
	return true;
}

/* Free the native arena buffers at the front of @p[0..@n) under one lock; how many (0: @p[0] is none). */
static unsigned native_free_run(void *const *p, unsigned n)
{
	if (!native.ready || !lxd_arena_contains(&native.a, p[0], 1))
		return 0;
	unsigned bad;
	pthread_mutex_lock(&native.lock);
	unsigned k = lxd_arena_free_run(&native.a, p, n, &bad, NULL);
	pthread_mutex_unlock(&native.lock);
	if (bad)
		pr_err("lxd_data_free: %u of %u buffers were no live data buffers\n", bad, k);
	return k;
}

void *lxd_data_alloc(const struct lxd_module *owner, size_t len)
{
	if (len == 0 || len > (1ul << 30))
		return NULL;
	if (lxd_module_iso(owner)) {
		/* Isolated: the domain's shared arena, so the data never needs copying. */
		void *p = lxd_iso_data_alloc(owner, len);
		if (p)
			atomic_fetch_add(&lxd_counts.data_buffers, 1);
		return p;
	}
	void *p = native_alloc(len);
	if (p)
		atomic_fetch_add(&lxd_counts.data_buffers, 1);
	return p;
}

void lxd_data_free_bulk(void *const *p, unsigned n)
{
	unsigned i = 0, freed = 0;
	while (i < n) {
		if (!p[i]) {
			i++;
			continue;
		}
		unsigned k = native_free_run(p + i, n - i);
		if (!k)
			k = lxd_iso_data_free_run(p + i, n - i);
		if (!k) {
			free(p[i]); /* aligned_alloc's, past the native arena */
			k = 1;
		}
		i += k;
		freed += k;
	}
	if (freed)
		atomic_fetch_sub(&lxd_counts.data_buffers, freed);
}

void lxd_data_free(void *p)
{
	if (!p)
		return;
	/* Not lxd_data_free_bulk(&p, 1): native pktgen frees every packet
	 * here, and the bulk loop cost it ~10%. */
	if (!native_free(p) && !lxd_iso_data_free(p))
		free(p);
	atomic_fetch_sub(&lxd_counts.data_buffers, 1);
}
