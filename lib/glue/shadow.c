/* SPDX-License-Identifier: MIT */
/*
 * Shadow copies and references.  Each side refers to its own objects by
 * capability references (lib/domain's table: index + generation + type,
 * checked on every lookup) and keeps, for the peer's objects it has seen,
 * a shadow copy: a private object of the same C type holding the projected
 * fields.  Two maps find a shadow from the peer's reference (incoming
 * calls) and from the shadow's address (outgoing calls, where unmodified
 * code hands us a plain pointer); a third finds our own objects'
 * references so an object keeps one reference however often it crosses.
 */
#include <errno.h>
#include <stdlib.h>

#include "lxds/glue.h"

int lxd_glue_init(struct lxd_glue *g, struct lxd_ep *ep, struct lxd_arena *arena,
		  struct lxd_cap_table *caps, uint32_t owner)
{
	if (!g || !arena || !caps)
		return -EINVAL;
	memset(g, 0, sizeof(*g));
	g->ep = ep;
	g->arena = arena;
	g->caps = caps;
	g->owner = owner;
	return 0;
}

void lxd_glue_fini(struct lxd_glue *g)
{
	for (uint32_t i = 0; i < g->by_obj.cap; i++) {
		uint64_t k = g->by_obj.keys[i];
		if (!k || k == ~(uint64_t)0)
			continue;
		struct lxd_glue_shadow *s = g->by_obj.vals[i];
		if (s->free_obj)
			s->free_obj(g, s);
		else
			free(s->obj);
		free(s);
	}
	lxd_glue_map_fini(&g->own);
	lxd_glue_map_fini(&g->by_ref);
	lxd_glue_map_fini(&g->by_obj);
}

lxd_ref_t lxd_glue_export(struct lxd_glue *g, void *obj, unsigned type)
{
	if (!obj)
		return LXD_REF_NULL;
	lxd_ref_t ref = (lxd_ref_t)(uintptr_t)lxd_glue_map_get(&g->own, (uint64_t)(uintptr_t)obj);
	if (ref) {
		/* Still live and of this type?  (The object may have been revoked by
		 * a domain's death, or the address reused for another type.) */
		void *o;
		if (lxd_cap_lookup(g->caps, g->owner, ref, type, &o) == 0 && o == obj)
			return ref;
		lxd_glue_map_del(&g->own, (uint64_t)(uintptr_t)obj);
	}
	ref = lxd_cap_insert(g->caps, obj, type);
	if (ref == LXD_REF_NULL)
		return ref;
	if (lxd_glue_map_put(&g->own, (uint64_t)(uintptr_t)obj, (void *)(uintptr_t)ref)) {
		lxd_cap_revoke(g->caps, ref, type);
		return LXD_REF_NULL;
	}
	g->st.exported++;
	return ref;
}

int lxd_glue_unexport(struct lxd_glue *g, void *obj, unsigned type)
{
	lxd_ref_t ref = (lxd_ref_t)(uintptr_t)lxd_glue_map_del(&g->own, (uint64_t)(uintptr_t)obj);
	if (!ref)
		return -ENOENT;
	g->st.revoked++;
	return lxd_cap_revoke(g->caps, ref, type);
}

int lxd_glue_own_lookup(struct lxd_glue *g, lxd_ref_t ref, unsigned type, void **obj)
{
	*obj = NULL;
	if (ref == LXD_REF_NULL)
		return 0;
	int rc = lxd_cap_lookup(g->caps, g->owner, ref, type, obj);
	if (rc)
		g->st.refused++;
	return rc;
}

struct lxd_glue_shadow *lxd_glue_shadow_find(struct lxd_glue *g, lxd_ref_t remote, unsigned type)
{
	struct lxd_glue_shadow *s = lxd_glue_map_get(&g->by_ref, remote);
	return s && s->type == type ? s : NULL;
}

struct lxd_glue_shadow *lxd_glue_shadow_of(struct lxd_glue *g, const void *obj, unsigned type)
{
	struct lxd_glue_shadow *s = lxd_glue_map_get(&g->by_obj, (uint64_t)(uintptr_t)obj);
	return s && s->type == type ? s : NULL;
}

struct lxd_glue_shadow *lxd_glue_shadow_new(struct lxd_glue *g, lxd_ref_t remote, unsigned type,
					    size_t size, size_t priv, lxd_glue_free_fn free_obj)
{
	if (remote == LXD_REF_NULL || priv > LXD_GLUE_MAX_PRIV || lxd_glue_map_get(&g->by_ref, remote))
		return NULL;
	struct lxd_glue_shadow *s = calloc(1, sizeof(*s));
	size_t bytes = priv ? lxd_glue_priv_offset(size) + priv : size;
	void *obj = calloc(1, bytes ? bytes : 1);
	if (!s || !obj)
		goto fail;
	s->obj = obj;
	s->remote = remote;
	s->type = type;
	s->slot = -1;
	s->free_obj = free_obj;
	if (lxd_glue_map_put(&g->by_ref, remote, s))
		goto fail;
	if (lxd_glue_map_put(&g->by_obj, (uint64_t)(uintptr_t)obj, s)) {
		lxd_glue_map_del(&g->by_ref, remote);
		goto fail;
	}
	g->st.shadows_created++;
	return s;
fail:
	free(obj);
	free(s);
	return NULL;
}

void lxd_glue_shadow_destroy(struct lxd_glue *g, struct lxd_glue_shadow *s)
{
	lxd_glue_map_del(&g->by_ref, s->remote);
	lxd_glue_map_del(&g->by_obj, (uint64_t)(uintptr_t)s->obj);
	if (s->free_obj)
		s->free_obj(g, s);
	else
		free(s->obj);
	free(s);
	g->st.shadows_freed++;
}

int lxd_glue_slot_take(struct lxd_glue_slot *slots, unsigned n, struct lxd_glue *g, lxd_ref_t remote)
{
	for (unsigned i = 0; i < n; i++)
		if (!slots[i].used) {
			slots[i] = (struct lxd_glue_slot){ .g = g, .remote = remote, .used = true };
			return (int)i;
		}
	return -ENOSPC;
}

int lxd_glue_stats(const struct lxd_glue *g, struct lxd_glue_stats *st)
{
	if (!g || !st)
		return -EINVAL;
	*st = g->st;
	return 0;
}

void lxd_glue_put_ref(struct lxd_glue *g, struct lxd_glue_buf *b, const void *obj, unsigned type,
		      enum lxd_glue_owner who)
{
	if (b->err)
		return;
	if (!obj) {
		lxd_glue_put(b, LXD_REF_NULL);
		return;
	}
	struct lxd_glue_shadow *s = lxd_glue_shadow_of(g, obj, type);
	if (s) {
		if (who == LXD_GLUE_OWNER_US) {
			b->err = -EINVAL; /* a copy of the peer's object where ours belongs */
			return;
		}
		lxd_glue_put(b, s->remote | LXD_GLUE_REF_YOURS);
		return;
	}
	if (who == LXD_GLUE_OWNER_PEER) {
		b->err = -ENOENT; /* not an object the other side gave us */
		return;
	}
	lxd_ref_t ref = lxd_glue_export(g, (void *)obj, type);
	if (ref == LXD_REF_NULL || (ref & LXD_GLUE_REF_YOURS)) {
		b->err = -ENOSPC;
		return;
	}
	lxd_glue_put(b, ref);
}

void *lxd_glue_get_ref(struct lxd_glue *g, struct lxd_glue_buf *b, unsigned type, enum lxd_glue_owner who,
		       bool create, size_t size, size_t priv, lxd_glue_free_fn free_obj,
		       struct lxd_glue_shadow **sh)
{
	*sh = NULL;
	uint64_t word = lxd_glue_get(b);
	if (b->err || word == LXD_REF_NULL)
		return NULL;
	bool ours = word & LXD_GLUE_REF_YOURS;
	lxd_ref_t ref = word & ~LXD_GLUE_REF_YOURS;
	if ((who == LXD_GLUE_OWNER_US && !ours) || (who == LXD_GLUE_OWNER_PEER && ours)) {
		g->st.refused++;
		b->err = -EPROTO;
		return NULL;
	}
	if (ours) {
		void *obj;
		int rc = lxd_glue_own_lookup(g, ref, type, &obj);
		if (rc) {
			b->err = rc;
			return NULL;
		}
		return obj;
	}
	struct lxd_glue_shadow *s = lxd_glue_map_get(&g->by_ref, ref);
	if (s && s->type != type) {
		g->st.refused++;
		b->err = -EPROTOTYPE;
		return NULL;
	}
	if (!s && create)
		s = lxd_glue_shadow_new(g, ref, type, size, priv, free_obj);
	if (!s) {
		g->st.refused++;
		b->err = create ? -ENOMEM : -ENOENT;
		return NULL;
	}
	*sh = s;
	return s->obj;
}

void lxd_glue_put_arena(struct lxd_glue *g, struct lxd_glue_buf *b, const void *p, uint64_t len)
{
	if (!p || !len) {
		lxd_glue_put(b, 0);
		return;
	}
	uint64_t word = 0;
	if (len <= LXD_ARENA_BUF_MAX_LEN && lxd_arena_contains(g->arena, p, (size_t)len))
		word = lxd_arena_buf_pack(lxd_arena_off(g->arena, p), (uint32_t)len);
	if (!word) {
		if (!b->err)
			b->err = -EFAULT;
		return;
	}
	lxd_glue_put(b, word);
}

void *lxd_glue_get_arena(struct lxd_glue *g, struct lxd_glue_buf *b, uint64_t *len)
{
	*len = 0;
	uint64_t word = lxd_glue_get(b);
	if (b->err || !word)
		return NULL;
	void *p;
	uint32_t l;
	int rc = lxd_arena_buf_get(g->arena, word, &p, &l);
	if (rc) {
		g->st.refused++;
		b->err = rc;
		return NULL;
	}
	*len = l;
	return p;
}

int lxd_glue_failed(struct lxd_glue *g, int err)
{
	if (g) {
		g->st.failed++;
		g->st.last_error = err;
	}
	return err;
}
