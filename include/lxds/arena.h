/* SPDX-License-Identifier: MIT */
/*
 * The shared arena: data buffers (packet data, block pages) shared by the
 * kernel and one domain, mapped at the same virtual address in both, so a
 * pointer into it means the same thing on both sides.
 *
 * The arena is split in two shares.  The kernel allocates from the first,
 * the domain from the second, each with its own struct lxd_arena kept in its
 * own private memory: no allocator metadata ever lives in the shared pages,
 * so a domain that scribbles on the arena can corrupt only buffer contents,
 * never the kernel's allocator.  A buffer may be handed to the other side
 * (as a buffer word, see lxd_arena_buf_pack()) but is freed by the side
 * that allocated it.
 *
 * Allocation: power-of-two size classes from 64 B to 64 KiB, each with a
 * free stack of block offsets (private memory); a class refills by carving
 * a 64 KiB chunk from the share.  Bigger buffers take whole chunks, first
 * fit.  An lxd_arena is used by one thread at a time (the side's dispatch
 * thread): no lock, so the fast path is a pop from an array.
 *
 * Errors are negative errno values.
 */
#ifndef LXDS_ARENA_H
#define LXDS_ARENA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LXD_ARENA_MIN_BLOCK 64u           /* smallest block, one cache line */
#define LXD_ARENA_CHUNK (64u * 1024u)     /* unit a size class refills by */
#define LXD_ARENA_CLASSES 11u             /* 64 B .. 64 KiB */
#define LXD_ARENA_MAX_SIZE (16ull << 30)  /* largest arena accepted */

/* A buffer word packs offset (bits 24..63) and length (bits 0..23) into one payload word. */
#define LXD_ARENA_BUF_LEN_BITS 24u
#define LXD_ARENA_BUF_MAX_LEN ((1u << LXD_ARENA_BUF_LEN_BITS) - 1u)

struct lxd_arena_class {
	uint32_t *free;  /* stack of free block indexes (offset / 64), private memory */
	uint32_t nfree;
	uint32_t cap;
	uint32_t total; /* blocks of every chunk this class owns: the stack's bound */
};

/* One side's allocator over its share of an arena mapping.  Private memory. */
struct lxd_arena {
	uint8_t *base;        /* start of the whole arena mapping */
	size_t size;          /* bytes of the whole mapping */
	size_t share_off;     /* this side's share: [share_off, share_off + share_len) */
	size_t share_len;
	size_t bump;          /* next unused chunk offset inside the share */
	uint8_t *chunk_kind;  /* per chunk of the share: 0 free, 1+class, LARGE_HEAD, LARGE_TAIL */
	uint32_t *chunk_npages; /* per chunk: length of a large run starting there */
	uint64_t *live;       /* one bit per 64-byte granule of the share: block allocated */
	struct lxd_arena_class cls[LXD_ARENA_CLASSES];
	uint64_t allocs, frees, bad_frees; /* statistics */
	size_t in_use;        /* bytes allocated (rounded to the block size) */
};

/*
 * Set up an allocator over [@share_off, @share_off + @share_len) of the
 * mapping [@base, @base + @size).  The share must be chunk-aligned.
 * Returns 0, -EINVAL for bad geometry, -ENOMEM.
 */
int lxd_arena_init(struct lxd_arena *a, void *base, size_t size, size_t share_off,
		   size_t share_len);

/* Free the allocator's private metadata (not the mapping).  NULL is fine. */
void lxd_arena_fini(struct lxd_arena *a);

/* Forget every allocation (the share is reused from scratch). */
void lxd_arena_reset(struct lxd_arena *a);

/*
 * Allocate @len bytes (1 .. share size) from this side's share, aligned to
 * min(block size, 4096).  Returns the pointer, or NULL when @len is 0 or
 * the share is exhausted.
 */
void *lxd_arena_alloc(struct lxd_arena *a, size_t len);

/*
 * Free a buffer this side allocated.  Returns 0, or -EINVAL when @p is not
 * the start of a live allocation of this share (outside, misaligned, double
 * free): refused and counted in bad_frees, never corrupting anything.
 */
int lxd_arena_free(struct lxd_arena *a, void *p);

/*
 * Free @p[0..k) for the longest run that lies inside the arena mapping
 * (lxd_arena_contains); returns k.  Each is freed as by lxd_arena_free;
 * @bad counts the refused ones, @first_bad (if not NULL) gets the first.
 * One call for a batch's buffers (a lane's answered transmits).
 */
unsigned lxd_arena_free_run(struct lxd_arena *a, void *const *p, unsigned n, unsigned *bad, void **first_bad);

/* True when [@p, @p + @len) lies inside the whole arena mapping. */
static inline bool lxd_arena_contains(const struct lxd_arena *a, const void *p, size_t len)
{
	/* Inline: every buffer a kernel frees or hands over asks this once or twice. */
	const uint8_t *q = p;
	if (q < a->base || q > a->base + a->size)
		return false;
	return len <= (size_t)(a->base + a->size - q);
}

/* Offset of @p in the arena (the caller knows it is inside). */
static inline uint64_t lxd_arena_off(const struct lxd_arena *a, const void *p)
{
	return (uint64_t)((const uint8_t *)p - a->base);
}

/*
 * Pack a buffer (offset, length) into one payload word.  Returns the word,
 * or 0 when @len exceeds LXD_ARENA_BUF_MAX_LEN or @off does not fit
 * (the word 0 means "no buffer").
 */
uint64_t lxd_arena_buf_pack(uint64_t off, uint32_t len);

/*
 * Resolve an untrusted buffer word: the caller has already copied it out
 * of shared memory once.  Checks that the length is non-zero and the whole
 * range lies inside the arena (overflow-safe).  Returns 0 with *@p and
 * *@len set, or -ERANGE (outside the arena) / -EINVAL (0 word, 0 length).
 */
int lxd_arena_buf_get(const struct lxd_arena *a, uint64_t word, void **p, uint32_t *len);

/* ---- the mapping ------------------------------------------------------------------ */

/*
 * Each domain's arena lives in a slot of a reserved range of the address
 * space, mapped at the same address in the kernel and in the domain with
 * MAP_FIXED_NOREPLACE.  A slot is LXD_ARENA_SLOT_SPAN bytes.
 */
uintptr_t lxd_arena_slot_base(unsigned slot);
unsigned lxd_arena_slots(void);
size_t lxd_arena_slot_span(void);

/*
 * Make a memfd of @size bytes and map it shared at slot @slot's address.
 * Returns the mapping and *@fd, or NULL with errno set (EEXIST: something
 * already lives there; EINVAL: bad slot or size).
 */
void *lxd_arena_map_new(unsigned slot, size_t size, int *fd);

/*
 * Map memfd @fd of @size bytes at exactly @addr (the domain side).  Returns
 * 0, or -errno (-EEXIST when the address is taken).
 */
int lxd_arena_map_at(int fd, uintptr_t addr, size_t size);

/*
 * Give the pages of [@off, @off + @len) back and make them read as zeros
 * (used when a restarted domain gets its share back).  Returns 0 or -errno.
 */
int lxd_arena_zero(int fd, void *base, size_t off, size_t len);

#endif
