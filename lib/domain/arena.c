/* SPDX-License-Identifier: MIT */
/*
 * The arena allocator.  Every piece of metadata (free stacks, chunk kinds,
 * the live bitmap) is in this side's private memory; the shared pages hold
 * only buffer contents, so nothing the peer writes there can steer it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lxds/arena.h"
#include "lxds/compiler.h"

enum { CHUNK_FREE = 0, CHUNK_LARGE_HEAD = 0xfe, CHUNK_LARGE_TAIL = 0xff };

#define GRANULE LXD_ARENA_MIN_BLOCK

static size_t class_size(unsigned c) { return (size_t)GRANULE << c; }

static unsigned class_of(size_t len)
{
	unsigned c = 0;
	while (class_size(c) < len)
		c++;
	return c;
}

static size_t nchunks(const struct lxd_arena *a) { return a->share_len / LXD_ARENA_CHUNK; }

static bool live_test(const struct lxd_arena *a, size_t g) { return a->live[g / 64] >> (g % 64) & 1; }
static void live_set(struct lxd_arena *a, size_t g) { a->live[g / 64] |= 1ull << (g % 64); }
static void live_clear(struct lxd_arena *a, size_t g) { a->live[g / 64] &= ~(1ull << (g % 64)); }

int lxd_arena_init(struct lxd_arena *a, void *base, size_t size, size_t share_off, size_t share_len)
{
	if (!a || !base || size == 0 || size > LXD_ARENA_MAX_SIZE || share_len == 0 ||
	    share_off % LXD_ARENA_CHUNK || share_len % LXD_ARENA_CHUNK || share_off > size ||
	    share_len > size - share_off || (uintptr_t)base % LXD_ARENA_CHUNK)
		return -EINVAL;
	memset(a, 0, sizeof(*a));
	a->base = base;
	a->size = size;
	a->share_off = share_off;
	a->share_len = share_len;
	size_t n = nchunks(a);
	a->chunk_kind = calloc(n, 1);
	a->chunk_npages = calloc(n, sizeof(*a->chunk_npages));
	a->live = calloc((share_len / GRANULE + 63) / 64, sizeof(uint64_t));
	if (!a->chunk_kind || !a->chunk_npages || !a->live) {
		lxd_arena_fini(a);
		return -ENOMEM;
	}
	return 0;
}

void lxd_arena_fini(struct lxd_arena *a)
{
	if (!a)
		return;
	free(a->chunk_kind);
	free(a->chunk_npages);
	free(a->live);
	for (unsigned c = 0; c < LXD_ARENA_CLASSES; c++)
		free(a->cls[c].free);
	memset(a, 0, sizeof(*a));
}

void lxd_arena_reset(struct lxd_arena *a)
{
	memset(a->chunk_kind, 0, nchunks(a));
	memset(a->chunk_npages, 0, nchunks(a) * sizeof(*a->chunk_npages));
	memset(a->live, 0, (a->share_len / GRANULE + 63) / 64 * sizeof(uint64_t));
	for (unsigned c = 0; c < LXD_ARENA_CLASSES; c++)
		a->cls[c].nfree = a->cls[c].total = 0;
	a->bump = 0;
	a->in_use = 0;
}

/* First run of @n free chunks, or SIZE_MAX.  Slow path: only refills and big buffers. */
static size_t find_chunks(struct lxd_arena *a, size_t n)
{
	size_t total = nchunks(a), run = 0;
	for (size_t i = a->bump; i < total; i++) {
		run = a->chunk_kind[i] == CHUNK_FREE ? run + 1 : 0;
		if (run == n)
			return i + 1 - n;
	}
	return SIZE_MAX;
}

/* Lowest chunk that may be free: chunks below it are all taken. */
static void advance_bump(struct lxd_arena *a)
{
	while (a->bump < nchunks(a) && a->chunk_kind[a->bump] != CHUNK_FREE)
		a->bump++;
}

static int refill(struct lxd_arena *a, unsigned c)
{
	size_t ch = find_chunks(a, 1);
	if (ch == SIZE_MAX)
		return -ENOMEM;
	struct lxd_arena_class *k = &a->cls[c];
	uint32_t per = (uint32_t)(LXD_ARENA_CHUNK / class_size(c));
	/* Every block of the class may come back at once: size for all. */
	if (k->total + per > k->cap) {
		uint32_t cap = k->cap ? k->cap * 2 : 64;
		while (cap < k->total + per)
			cap *= 2;
		uint32_t *f = realloc(k->free, cap * sizeof(*f));
		if (!f)
			return -ENOMEM;
		k->free = f;
		k->cap = cap;
	}
	a->chunk_kind[ch] = (uint8_t)(1 + c);
	k->total += per;
	advance_bump(a);
	size_t first = ch * LXD_ARENA_CHUNK / GRANULE;
	size_t step = class_size(c) / GRANULE;
	/* Pushed highest first, so blocks are handed out in address order. */
	for (uint32_t i = per; i-- > 0;)
		k->free[k->nfree++] = (uint32_t)(first + i * step);
	return 0;
}

static void *alloc_large(struct lxd_arena *a, size_t len)
{
	size_t n = (len + LXD_ARENA_CHUNK - 1) / LXD_ARENA_CHUNK;
	size_t ch = find_chunks(a, n);
	if (ch == SIZE_MAX)
		return NULL;
	a->chunk_kind[ch] = CHUNK_LARGE_HEAD;
	a->chunk_npages[ch] = (uint32_t)n;
	for (size_t i = 1; i < n; i++)
		a->chunk_kind[ch + i] = CHUNK_LARGE_TAIL;
	advance_bump(a);
	size_t g = ch * LXD_ARENA_CHUNK / GRANULE;
	live_set(a, g);
	a->allocs++;
	a->in_use += n * LXD_ARENA_CHUNK;
	return a->base + a->share_off + g * GRANULE;
}

void *lxd_arena_alloc(struct lxd_arena *a, size_t len)
{
	if (lxd_unlikely(len == 0 || len > a->share_len))
		return NULL;
	if (len > LXD_ARENA_CHUNK)
		return alloc_large(a, len);
	unsigned c = class_of(len);
	struct lxd_arena_class *k = &a->cls[c];
	if (lxd_unlikely(k->nfree == 0) && refill(a, c) != 0)
		return NULL;
	uint32_t g = k->free[--k->nfree];
	live_set(a, g);
	a->allocs++;
	a->in_use += class_size(c);
	return a->base + a->share_off + (size_t)g * GRANULE;
}

static LXD_ALWAYS_INLINE int arena_free_one(struct lxd_arena *a, void *p)
{
	uint8_t *q = p;
	if (!q || q < a->base + a->share_off || q >= a->base + a->share_off + a->share_len)
		goto bad;
	size_t off = (size_t)(q - (a->base + a->share_off));
	if (off % GRANULE)
		goto bad;
	size_t g = off / GRANULE, ch = off / LXD_ARENA_CHUNK;
	uint8_t kind = a->chunk_kind[ch];
	if (!live_test(a, g))
		goto bad; /* never allocated, or already freed */
	if (kind == CHUNK_LARGE_HEAD && off % LXD_ARENA_CHUNK == 0) {
		uint32_t n = a->chunk_npages[ch];
		for (uint32_t i = 0; i < n; i++)
			a->chunk_kind[ch + i] = CHUNK_FREE;
		a->chunk_npages[ch] = 0;
		if (ch < a->bump)
			a->bump = ch;
		a->in_use -= (size_t)n * LXD_ARENA_CHUNK;
	} else if (kind >= 1 && kind <= LXD_ARENA_CLASSES) {
		unsigned c = kind - 1u;
		if (off % class_size(c))
			goto bad;
		/* The stack cannot overflow: it holds up to 'total' blocks, and a
		 * block is pushed back only once (the live bit guards it). */
		a->cls[c].free[a->cls[c].nfree++] = (uint32_t)g;
		a->in_use -= class_size(c);
	} else {
		goto bad;
	}
	live_clear(a, g);
	a->frees++;
	return 0;
bad:
	a->bad_frees++;
	return -EINVAL;
}

int lxd_arena_free(struct lxd_arena *a, void *p)
{
	return arena_free_one(a, p);
}

unsigned lxd_arena_free_run(struct lxd_arena *a, void *const *p, unsigned n, unsigned *bad, void **first_bad)
{
	unsigned k = 0, b = 0;
	for (; k < n && lxd_arena_contains(a, p[k], 1); k++)
		if (arena_free_one(a, p[k]) && !b++ && first_bad)
			*first_bad = p[k];
	*bad = b;
	return k;
}

uint64_t lxd_arena_buf_pack(uint64_t off, uint32_t len)
{
	if (len > LXD_ARENA_BUF_MAX_LEN || off >> (64 - LXD_ARENA_BUF_LEN_BITS))
		return 0;
	return off << LXD_ARENA_BUF_LEN_BITS | len;
}

int lxd_arena_buf_get(const struct lxd_arena *a, uint64_t word, void **p, uint32_t *len)
{
	uint32_t l = (uint32_t)(word & LXD_ARENA_BUF_MAX_LEN);
	uint64_t off = word >> LXD_ARENA_BUF_LEN_BITS;
	if (l == 0)
		return -EINVAL;
	/* Subtraction, not off + l: no overflow whatever the peer sent. */
	if (off > a->size || l > a->size - off)
		return -ERANGE;
	*p = a->base + off;
	*len = l;
	return 0;
}
