/* SPDX-License-Identifier: MIT */
/* A small open-addressing hash map of non-zero 64-bit keys, for shadow bookkeeping. */
#include <errno.h>
#include <stdlib.h>

#include "lxds/glue.h"

#define TOMB (~(uint64_t)0)

static uint32_t slot_of(uint64_t key, uint32_t cap)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull; /* murmur3's finalizer mixes pointers and refs alike */
	key ^= key >> 33;
	return (uint32_t)key & (cap - 1);
}

/* Rehash: doubling when live keys fill half the table, else at the same
 * size, which clears the tombstones that deletions leave behind (shadows
 * come and go all the time: without this the table would only grow). */
static int grow(struct lxd_glue_map *m)
{
	uint32_t cap = !m->cap ? 64 : (m->n + 1) * 2 > m->cap ? m->cap * 2 : m->cap;
	uint64_t *keys = calloc(cap, sizeof(*keys));
	void **vals = calloc(cap, sizeof(*vals));
	if (!keys || !vals) {
		free(keys);
		free(vals);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < m->cap; i++) {
		uint64_t k = m->keys[i];
		if (!k || k == TOMB)
			continue;
		uint32_t j = slot_of(k, cap);
		while (keys[j])
			j = (j + 1) & (cap - 1);
		keys[j] = k;
		vals[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
	m->tomb = 0;
	return 0;
}

int lxd_glue_map_put(struct lxd_glue_map *m, uint64_t key, void *val)
{
	if (!key || key == TOMB)
		return -EINVAL;
	if ((m->n + m->tomb + 1) * 4 > m->cap * 3 && grow(m))
		return -ENOMEM;
	uint32_t i = slot_of(key, m->cap);
	int64_t first_tomb = -1;
	while (m->keys[i]) {
		if (m->keys[i] == key) {
			m->vals[i] = val;
			return 0;
		}
		if (m->keys[i] == TOMB && first_tomb < 0)
			first_tomb = i;
		i = (i + 1) & (m->cap - 1);
	}
	if (first_tomb >= 0) {
		i = (uint32_t)first_tomb;
		m->tomb--;
	}
	m->keys[i] = key;
	m->vals[i] = val;
	m->n++;
	return 0;
}

static int64_t find(const struct lxd_glue_map *m, uint64_t key)
{
	if (!m->cap || !key || key == TOMB)
		return -1;
	uint32_t i = slot_of(key, m->cap);
	while (m->keys[i]) {
		if (m->keys[i] == key)
			return i;
		i = (i + 1) & (m->cap - 1);
	}
	return -1;
}

void *lxd_glue_map_get(const struct lxd_glue_map *m, uint64_t key)
{
	int64_t i = find(m, key);
	return i < 0 ? NULL : m->vals[i];
}

void *lxd_glue_map_del(struct lxd_glue_map *m, uint64_t key)
{
	int64_t i = find(m, key);
	if (i < 0)
		return NULL;
	void *v = m->vals[i];
	m->keys[i] = TOMB;
	m->vals[i] = NULL;
	m->n--;
	m->tomb++;
	return v;
}

void lxd_glue_map_fini(struct lxd_glue_map *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->cap = m->n = m->tomb = 0;
}
