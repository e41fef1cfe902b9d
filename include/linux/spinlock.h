/* SPDX-License-Identifier: MIT */
/*
 * spinlock_t, header-only: a lock protects memory of its owner, so a driver's
 * lock stays in the driver whether it runs native or isolated.  A test-and-
 * test-and-set lock; critical sections in drivers are a few instructions.
 */
#ifndef LXDS_LINUX_SPINLOCK_H
#define LXDS_LINUX_SPINLOCK_H

typedef struct { int locked; } spinlock_t;

#define DEFINE_SPINLOCK(x) spinlock_t x = { 0 }

static inline void spin_lock_init(spinlock_t *l) { __atomic_store_n(&l->locked, 0, __ATOMIC_RELAXED); }

static inline void spin_lock(spinlock_t *l)
{
	/* Acquire: pairs with the release in spin_unlock, so the holder's writes are visible. */
	while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
}

static inline void spin_unlock(spinlock_t *l)
{
	/* Release: pairs with the acquire exchange in spin_lock. */
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

/* No interrupts in lxds: the _irqsave forms are the plain lock. */
#define spin_lock_irqsave(l, flags) do { (void)(flags); spin_lock(l); } while (0)
#define spin_unlock_irqrestore(l, flags) do { (void)(flags); spin_unlock(l); } while (0)
#define spin_lock_bh(l) spin_lock(l)
#define spin_unlock_bh(l) spin_unlock(l)

#endif
