/* SPDX-License-Identifier: MIT */
/*
 * Capabilities: objects cross the kernel/domain boundary as references,
 * never as raw pointers.
 *
 * A table (one per domain, in kernel-private memory) maps a reference to a
 * local object and its type.  A reference is one 64-bit payload word:
 * bits 0..31 the slot index + 1 (so 0 is never a valid reference), bits
 * 32..63 the slot's generation.  Freeing a slot bumps its generation, so an
 * old reference to a reused slot is stale, not a reference to the new
 * object.  A lookup checks index, generation, type and owner; anything else
 * is refused with an error code and counted, and the table's violation
 * hook runs (the domain layer uses it to end a domain, by policy).
 *
 * The table is generic: a void * and a type id chosen by the user (the IDL
 * glue uses it for shadow objects).  It takes a mutex: calls come from the
 * kernel's dispatcher and, on a domain's death, from its monitor thread.
 */
#ifndef LXDS_CAP_H
#define LXDS_CAP_H

#include <pthread.h>
#include <stdint.h>

typedef uint64_t lxd_ref_t;

#define LXD_REF_NULL ((lxd_ref_t)0)
#define LXD_CAP_MAX_TYPES 64u          /* type ids 1 .. 63; 0 means "free slot" */
#define LXD_CAP_MAX_SLOTS (1u << 24)

/* Why a lookup was refused. */
enum lxd_cap_fault {
	LXD_CAP_FORGED = 0, /* index out of range, or a free slot: -EBADF */
	LXD_CAP_STALE,      /* generation does not match (revoked, reused): -ESTALE */
	LXD_CAP_WRONG_TYPE, /* live object of another type: -EPROTOTYPE */
	LXD_CAP_WRONG_OWNER,/* another domain's reference: -EPERM */
	LXD_CAP_NFAULTS
};

struct lxd_cap_entry {
	void *object;
	uint32_t gen;   /* odd while live, even while free: a stale ref never matches */
	uint16_t type;  /* 0 when free */
	uint32_t owner;
	uint32_t next_free;
};

struct lxd_cap_table {
	pthread_mutex_t lock;
	struct lxd_cap_entry *e;
	uint32_t n, cap;      /* slots used so far, allocated */
	uint32_t free_head;   /* index + 1 of the first free slot, 0: none */
	uint32_t live;
	uint32_t owner;       /* the domain this table serves */
	uint64_t faults[LXD_CAP_NFAULTS];
	/* Called (with the lock held; must not call back into the table) on a refused lookup. */
	void (*on_fault)(void *arg, enum lxd_cap_fault f, lxd_ref_t ref);
	void *on_fault_arg;
	/* Per type: called for each live object when revoke_all() runs (domain death). */
	void (*release[LXD_CAP_MAX_TYPES])(void *object);
};

/* Set up an empty table for domain @owner.  Returns 0 or -errno. */
int lxd_cap_init(struct lxd_cap_table *t, uint32_t owner);

/* Free the table's memory (objects are not touched). */
void lxd_cap_fini(struct lxd_cap_table *t);

/*
 * Enter @object of @type (1 .. 63) and return its reference (never
 * LXD_REF_NULL), or LXD_REF_NULL for a NULL object, a bad type or a full
 * table.
 */
lxd_ref_t lxd_cap_insert(struct lxd_cap_table *t, void *object, unsigned type);

/*
 * Check @ref (an untrusted word, already copied out of shared memory) as
 * a reference of domain @owner to an object of @type.  Returns 0 with
 * *@object set, or -EBADF (forged), -ESTALE (revoked), -EPROTOTYPE (wrong
 * type), -EPERM (wrong owner); each refusal is counted and reported.
 */
int lxd_cap_lookup(struct lxd_cap_table *t, uint32_t owner, lxd_ref_t ref, unsigned type,
		   void **object);

/*
 * Revoke @ref (the object is being freed): later lookups see it stale.
 * Returns 0, or the lookup's error for a reference that is not live and
 * of @type (nothing is changed then).
 */
int lxd_cap_revoke(struct lxd_cap_table *t, lxd_ref_t ref, unsigned type);

/*
 * Revoke every reference (the domain died): calls the type's release hook
 * on each live object.  Returns how many were revoked.
 */
unsigned lxd_cap_revoke_all(struct lxd_cap_table *t);

/* Refusals of kind @f so far. */
uint64_t lxd_cap_faults(struct lxd_cap_table *t, enum lxd_cap_fault f);

/* Errno (negative) a fault kind is reported as. */
int lxd_cap_fault_errno(enum lxd_cap_fault f);

#endif
