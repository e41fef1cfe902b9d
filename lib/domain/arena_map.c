/* SPDX-License-Identifier: MIT */
/*
 * Arena mappings: one memfd per domain, mapped at the same fixed address in
 * the kernel and in the domain, so buffer pointers need no translation.
 *
 * The addresses come from a reserved range that neither the loader nor
 * mmap's top-down search reaches in practice; MAP_FIXED_NOREPLACE turns any
 * collision into a clean -EEXIST instead of silently replacing a mapping.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lxds/arena.h"
#include "lxds/compiler.h"

#ifdef LXD_TSAN
/* ThreadSanitizer only accepts application mappings in its own ranges;
 * 64 GiB .. 320 GiB is inside the low one. */
#define SLOT_BASE 0x1000000000ull
#define SLOT_SPAN (4ull << 30)
#define SLOTS 64u
#else
/* 64 TiB .. 80 TiB: clear of ASan's shadow, the executable, the heap and
 * the mmap area below the stack. */
#define SLOT_BASE 0x400000000000ull
#define SLOT_SPAN (64ull << 30)
#define SLOTS 256u
#endif

uintptr_t lxd_arena_slot_base(unsigned slot)
{
	return slot < SLOTS ? (uintptr_t)(SLOT_BASE + slot * SLOT_SPAN) : 0;
}

unsigned lxd_arena_slots(void) { return SLOTS; }

size_t lxd_arena_slot_span(void) { return SLOT_SPAN; }

static bool size_ok(size_t size)
{
	return size > 0 && size <= LXD_ARENA_MAX_SIZE && size <= SLOT_SPAN &&
	       size % LXD_ARENA_CHUNK == 0;
}

int lxd_arena_map_at(int fd, uintptr_t addr, size_t size)
{
	if (fd < 0 || !size_ok(size) || addr % LXD_ARENA_CHUNK)
		return -EINVAL;
	void *p = mmap((void *)addr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE,
		       fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	if ((uintptr_t)p != addr) { /* a kernel that ignores the flag */
		munmap(p, size);
		return -EEXIST;
	}
	return 0;
}

void *lxd_arena_map_new(unsigned slot, size_t size, int *fd)
{
	uintptr_t addr = lxd_arena_slot_base(slot);
	if (!addr || !size_ok(size) || !fd) {
		errno = EINVAL;
		return NULL;
	}
	/* CLOEXEC: it reaches the domain only through the spawner's dup2. */
	int f = memfd_create("lxds-arena", MFD_CLOEXEC);
	if (f < 0)
		return NULL;
	int rc = ftruncate(f, (off_t)size) == 0 ? lxd_arena_map_at(f, addr, size) : -errno;
	if (rc) {
		close(f);
		errno = -rc;
		return NULL;
	}
	*fd = f;
	return (void *)addr;
}

int lxd_arena_zero(int fd, void *base, size_t off, size_t len)
{
	if (len == 0)
		return 0;
	/* Punching a hole frees the pages and makes them read as zeros in
	 * every mapping; fall back to clearing them by hand. */
	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
		return 0;
	if (!base)
		return -errno;
	memset((char *)base + off, 0, len);
	return 0;
}
