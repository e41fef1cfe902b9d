/* SPDX-License-Identifier: MIT */
/*
 * The marshalling buffer: words written by one side, read by the other.
 * A writer starts in its seven inline words (enough for most calls) and
 * grows into the arena (a caller's request, so the callee can read it in
 * place) or into private memory (a callee's reply, copied out at the end).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lxds/compiler.h"
#include "lxds/glue.h"

void lxd_glue_writer(struct lxd_glue_buf *b, struct lxd_arena *arena)
{
	memset(b, 0, sizeof(*b));
	b->w = b->inl;
	b->cap = LXD_MSG_WORDS;
	b->arena = arena;
}

void lxd_glue_reader(struct lxd_glue_buf *b, const uint64_t *w, uint32_t n)
{
	memset(b, 0, sizeof(*b));
	b->w = (uint64_t *)w;
	b->n = n;
	b->cap = n;
}

void lxd_glue_buf_fini(struct lxd_glue_buf *b)
{
	if (b->owned) {
		if (b->arena)
			lxd_arena_free(b->arena, b->w);
		else
			free(b->w);
	}
	b->owned = false;
	b->w = b->inl;
	b->cap = LXD_MSG_WORDS;
}

int lxd_glue_reserve(struct lxd_glue_buf *b, uint32_t words)
{
	if (b->err)
		return b->err;
	if (words <= b->cap)
		return 0;
	if (words > LXD_GLUE_MAX_WORDS) {
		b->err = -EMSGSIZE;
		return b->err;
	}
	uint32_t cap = b->cap < LXD_GLUE_MIN_BLOCK_WORDS ? LXD_GLUE_MIN_BLOCK_WORDS : b->cap;
	while (cap < words)
		cap *= 2;
	if (cap > LXD_GLUE_MAX_WORDS)
		cap = LXD_GLUE_MAX_WORDS;
	uint64_t *nw = b->arena ? lxd_arena_alloc(b->arena, (size_t)cap * 8) : malloc((size_t)cap * 8);
	if (!nw) {
		b->err = -ENOMEM;
		return b->err;
	}
	memcpy(nw, b->w, (size_t)b->n * 8);
	if (b->owned) {
		if (b->arena)
			lxd_arena_free(b->arena, b->w);
		else
			free(b->w);
	}
	b->w = nw;
	b->cap = cap;
	b->owned = true;
	return 0;
}

void lxd_glue_put_bytes(struct lxd_glue_buf *b, const void *p, size_t len)
{
	size_t words = (len + 7) / 8;
	if (b->err)
		return;
	if (words > LXD_GLUE_MAX_WORDS || lxd_glue_reserve(b, b->n + (uint32_t)words)) {
		if (!b->err)
			b->err = -EMSGSIZE;
		return;
	}
	if (words) {
		b->w[b->n + words - 1] = 0; /* no stale bytes in the padding */
		memcpy(&b->w[b->n], p, len);
	}
	b->n += (uint32_t)words;
}

void lxd_glue_get_bytes(struct lxd_glue_buf *b, void *p, size_t len)
{
	size_t words = (len + 7) / 8;
	if (b->err)
		return;
	if (words > b->n - b->pos) {
		b->err = -EPROTO;
		return;
	}
	volatile const uint64_t *src = (volatile const uint64_t *)b->w + b->pos;
	b->pos += (uint32_t)words;
	/* The words were written on the other core.  Asked for all at once,
	 * their lines cross together; the copy alone asked for one line per
	 * few dozen instructions, one transfer after the other: a transmit
	 * batch's 1 KiB of descriptors was ~10% of the domain's time. */
	const char *line = (const char *)((uintptr_t)src & ~(uintptr_t)(LXD_CACHE_LINE - 1));
	for (const char *end = (const char *)(src + words); line < end; line += LXD_CACHE_LINE)
		__builtin_prefetch(line, 0, 3);
	unsigned char *d = p;
	size_t full = len / 8;
	for (size_t i = 0; i < full; i++) {
		uint64_t v = src[i]; /* each word once */
		memcpy(d + i * 8, &v, 8);
	}
	if (full < words) {
		uint64_t v = src[full];
		memcpy(d + full * 8, &v, len - full * 8);
	}
}

#define NULL_LEN (~(uint64_t)0)

void lxd_glue_put_string(struct lxd_glue_buf *b, const char *s, size_t max)
{
	if (!s) {
		lxd_glue_put(b, NULL_LEN);
		return;
	}
	size_t len = strnlen(s, max + 1);
	if (len > max) {
		if (!b->err)
			b->err = -ENAMETOOLONG;
		return;
	}
	lxd_glue_put(b, len);
	lxd_glue_put_bytes(b, s, len);
}

char *lxd_glue_get_string(struct lxd_glue_buf *b, size_t max, bool *is_null)
{
	uint64_t len = lxd_glue_get(b);
	if (is_null)
		*is_null = false;
	if (b->err)
		return NULL;
	if (len == NULL_LEN) {
		if (is_null)
			*is_null = true;
		return NULL;
	}
	if (len > max) {
		b->err = -EPROTO;
		return NULL;
	}
	char *s = malloc(len + 1);
	if (!s) {
		b->err = -ENOMEM;
		return NULL;
	}
	lxd_glue_get_bytes(b, s, len);
	s[len] = 0;
	/* A NUL inside cuts the string: the copy is what the callee sees. */
	if (b->err) {
		free(s);
		return NULL;
	}
	return s;
}

void lxd_glue_put_array(struct lxd_glue_buf *b, const void *p, uint64_t count, size_t size)
{
	if (count && !p) {
		if (!b->err)
			b->err = -EFAULT;
		return;
	}
	if (count > (uint64_t)LXD_GLUE_MAX_WORDS * 8 / (size ? size : 1)) {
		if (!b->err)
			b->err = -EMSGSIZE;
		return;
	}
	lxd_glue_put(b, count);
	lxd_glue_put_bytes(b, p, (size_t)count * size);
}

uint64_t lxd_glue_get_count(struct lxd_glue_buf *b, uint64_t max)
{
	uint64_t n = lxd_glue_get(b);
	if (!b->err && n > max) {
		b->err = -EPROTO;
		return 0;
	}
	return n;
}
