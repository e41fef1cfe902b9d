/* SPDX-License-Identifier: MIT */
/* Capability tables: references (index + generation) to typed objects. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lxds/cap.h"

static lxd_ref_t make_ref(uint32_t idx, uint32_t gen) { return (lxd_ref_t)gen << 32 | (idx + 1u); }

int lxd_cap_init(struct lxd_cap_table *t, uint32_t owner)
{
	if (!t)
		return -EINVAL;
	memset(t, 0, sizeof(*t));
	t->owner = owner;
	return -pthread_mutex_init(&t->lock, NULL);
}

void lxd_cap_fini(struct lxd_cap_table *t)
{
	if (!t)
		return;
	free(t->e);
	pthread_mutex_destroy(&t->lock);
	t->e = NULL;
	t->n = t->cap = 0;
}

lxd_ref_t lxd_cap_insert(struct lxd_cap_table *t, void *object, unsigned type)
{
	if (!t || !object || type == 0 || type >= LXD_CAP_MAX_TYPES)
		return LXD_REF_NULL;
	pthread_mutex_lock(&t->lock);
	uint32_t idx;
	if (t->free_head) {
		idx = t->free_head - 1;
		t->free_head = t->e[idx].next_free;
	} else {
		if (t->n == LXD_CAP_MAX_SLOTS) {
			pthread_mutex_unlock(&t->lock);
			return LXD_REF_NULL;
		}
		if (t->n == t->cap) {
			uint32_t cap = t->cap ? t->cap * 2 : 64;
			struct lxd_cap_entry *e = realloc(t->e, cap * sizeof(*e));
			if (!e) {
				pthread_mutex_unlock(&t->lock);
				return LXD_REF_NULL;
			}
			t->e = e;
			t->cap = cap;
		}
		idx = t->n++;
		t->e[idx].gen = 0;
	}
	struct lxd_cap_entry *e = &t->e[idx];
	e->gen++; /* even (free) -> odd (live) */
	e->object = object;
	e->type = (uint16_t)type;
	e->owner = t->owner;
	t->live++;
	lxd_ref_t ref = make_ref(idx, e->gen);
	pthread_mutex_unlock(&t->lock);
	return ref;
}

/* Lock held.  0 and the entry, or the fault kind. */
static int check(struct lxd_cap_table *t, uint32_t owner, lxd_ref_t ref, unsigned type,
		 struct lxd_cap_entry **out)
{
	uint32_t idx1 = (uint32_t)ref, gen = (uint32_t)(ref >> 32);
	if (idx1 == 0 || idx1 > t->n)
		return LXD_CAP_FORGED;
	struct lxd_cap_entry *e = &t->e[idx1 - 1];
	if (e->gen != gen)
		return (gen & 1) && gen < e->gen ? LXD_CAP_STALE : LXD_CAP_FORGED;
	if (e->type == 0)
		return LXD_CAP_FORGED; /* an even generation: a free slot */
	if (e->owner != owner)
		return LXD_CAP_WRONG_OWNER;
	if (e->type != type)
		return LXD_CAP_WRONG_TYPE;
	*out = e;
	return -1;
}

int lxd_cap_fault_errno(enum lxd_cap_fault f)
{
	static const int err[LXD_CAP_NFAULTS] = {EBADF, ESTALE, EPROTOTYPE, EPERM};
	return f < LXD_CAP_NFAULTS ? -err[f] : -EINVAL;
}

static int refuse(struct lxd_cap_table *t, enum lxd_cap_fault f, lxd_ref_t ref)
{
	t->faults[f]++;
	if (t->on_fault)
		t->on_fault(t->on_fault_arg, f, ref);
	return lxd_cap_fault_errno(f);
}

int lxd_cap_lookup(struct lxd_cap_table *t, uint32_t owner, lxd_ref_t ref, unsigned type,
		   void **object)
{
	struct lxd_cap_entry *e;
	pthread_mutex_lock(&t->lock);
	int f = check(t, owner, ref, type, &e);
	int rc = 0;
	if (f >= 0)
		rc = refuse(t, (enum lxd_cap_fault)f, ref);
	else
		*object = e->object;
	pthread_mutex_unlock(&t->lock);
	return rc;
}

/* Lock held: free slot @e, bumping its generation to even. */
static void release_slot(struct lxd_cap_table *t, struct lxd_cap_entry *e)
{
	uint32_t idx = (uint32_t)(e - t->e);
	e->gen++; /* odd -> even: every reference to it is now stale */
	e->type = 0;
	e->object = NULL;
	e->next_free = t->free_head;
	t->free_head = idx + 1;
	t->live--;
}

int lxd_cap_revoke(struct lxd_cap_table *t, lxd_ref_t ref, unsigned type)
{
	struct lxd_cap_entry *e;
	pthread_mutex_lock(&t->lock);
	int f = check(t, t->owner, ref, type, &e);
	int rc = 0;
	if (f >= 0)
		rc = lxd_cap_fault_errno((enum lxd_cap_fault)f); /* the kernel's own mistake: not a domain fault */
	else
		release_slot(t, e);
	pthread_mutex_unlock(&t->lock);
	return rc;
}

unsigned lxd_cap_revoke_all(struct lxd_cap_table *t)
{
	unsigned n = 0;
	pthread_mutex_lock(&t->lock);
	for (uint32_t i = 0; i < t->n; i++) {
		struct lxd_cap_entry *e = &t->e[i];
		if (e->type == 0)
			continue;
		void (*rel)(void *) = t->release[e->type];
		void *obj = e->object;
		release_slot(t, e);
		if (rel)
			rel(obj);
		n++;
	}
	pthread_mutex_unlock(&t->lock);
	return n;
}

uint64_t lxd_cap_faults(struct lxd_cap_table *t, enum lxd_cap_fault f)
{
	if (f >= LXD_CAP_NFAULTS)
		return 0;
	pthread_mutex_lock(&t->lock);
	uint64_t v = t->faults[f];
	pthread_mutex_unlock(&t->lock);
	return v;
}
