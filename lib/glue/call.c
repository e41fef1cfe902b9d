/* SPDX-License-Identifier: MIT */
/*
 * Calls: a request of at most seven words travels in the fIPC message
 * itself; a larger one (or one whose size is not known statically) in a
 * block of the caller's arena share, which also takes the reply, so
 * neither side has to free what the other allocated.  Calls go through the
 * async runtime's endpoint, so a caller may keep many in flight.
 */
#include <errno.h>
#include <stdlib.h>

#include "lxds/glue.h"

/*
 * The request's message words: the request itself (inline rpcs), or the
 * spill block's word and length, after moving the request into a block of
 * the arena big enough for the reply too.
 */
static int request_words(struct lxd_glue *g, struct lxd_glue_buf *req, bool spilled, uint32_t reply_words,
			 uint64_t in[LXD_MSG_WORDS])
{
	if (req->err)
		return req->err;
	if (!g || !g->ep)
		return -ENOTCONN;
	if (!spilled) {
		if (req->n > LXD_MSG_WORDS)
			return -EMSGSIZE; /* the generator promised it fits */
		memcpy(in, req->w, (size_t)req->n * 8);
		return 0;
	}
	if (req->arena != g->arena)
		return -EINVAL; /* a request must be written with lxd_glue_writer(b, g->arena) */
	uint32_t need = reply_words > req->n ? reply_words : req->n;
	if (need < LXD_GLUE_MIN_BLOCK_WORDS)
		need = LXD_GLUE_MIN_BLOCK_WORDS;
	if (need > LXD_GLUE_MAX_WORDS)
		need = LXD_GLUE_MAX_WORDS;
	/* The block must be in the arena (where the callee reads it and writes
	 * the reply) even when the request itself still sits in inline words. */
	if (!req->owned) {
		uint64_t *blk = lxd_arena_alloc(g->arena, (size_t)need * 8);
		if (!blk)
			return -ENOMEM;
		memcpy(blk, req->w, (size_t)req->n * 8);
		req->w = blk;
		req->cap = need;
		req->owned = true;
	} else if (need > req->cap && lxd_glue_reserve(req, need)) {
		return req->err;
	}
	uint64_t word = lxd_arena_buf_pack(lxd_arena_off(g->arena, req->w), req->cap * 8);
	if (!word)
		return -EMSGSIZE;
	in[0] = word;
	in[1] = req->n;
	return 0;
}

/* @rep: a reader over the reply in @out (inline rpcs, short replies) or in the block @blk of @cap words. */
static int reply_reader(bool spilled, const uint64_t out[LXD_MSG_WORDS], const uint64_t *blk, uint32_t cap,
			struct lxd_glue_buf *rep)
{
	if (!spilled) {
		lxd_glue_reader(rep, rep->inl, LXD_MSG_WORDS); /* clears inl: copy after */
		memcpy(rep->inl, out, LXD_MSG_WORDS * 8);
		return 0;
	}
	if (out[0] & LXD_GLUE_REPLY_INLINE) {
		/* A short reply came in the message itself (see lxd_glue_reply). */
		uint64_t n = out[0] & ~LXD_GLUE_REPLY_INLINE;
		if (n > LXD_GLUE_REPLY_INLINE_WORDS)
			return -EPROTO;
		lxd_glue_reader(rep, rep->inl, (uint32_t)n); /* clears inl: copy after */
		memcpy(rep->inl, &out[1], (size_t)n * 8);
		return 0;
	}
	if (out[0] > cap)
		return -EPROTO; /* the callee claims more words than the block holds */
	lxd_glue_reader(rep, blk, (uint32_t)out[0]);
	return 0;
}

static void count_call(struct lxd_glue *g, bool spilled)
{
	if (spilled)
		g->st.calls_spilled++;
	else
		g->st.calls_inline++;
}

int lxd_glue_call(struct lxd_glue *g, uint32_t op, struct lxd_glue_buf *req, bool spilled,
		  uint32_t reply_words, struct lxd_glue_buf *rep)
{
	uint64_t in[LXD_MSG_WORDS] = { 0 }, out[LXD_MSG_WORDS] = { 0 };
	lxd_glue_reader(rep, rep->inl, 0);
	int rc = request_words(g, req, spilled, reply_words, in);
	if (rc)
		return rc;
	count_call(g, spilled);
	rc = lxd_call(g->ep, op, in, out);
	if (rc)
		return rc;
	return reply_reader(spilled, out, req->w, req->cap, rep);
}

/*
 * A spill block about to be freed is the next one of its size handed out
 * (the arena's free lists are last-in first-out), and the callee has read
 * it: its lines sit in the other core's cache.  Asking for them back now,
 * for writing, lets the next call's marshalling find them here instead of
 * stalling on each once its store buffer fills.  Vcpus far apart (a ~320
 * ns ping-pong): fio qd 32 +2-2.6% (16 alternating pairs, 15 above 1);
 * near: no change.  The first KiB: a batch's request; larger blocks are
 * rare.  prefetchw (every x86-64 CPU of the last decade), kept out of
 * line: gcc finds a function of prefetches alone free of effects and drops
 * the call (noipa stops that; clang, which has no noipa, keeps it).
 */
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(noipa)
#define WARM_ATTRS __attribute__((target("prfchw"), noipa))
#else
#define WARM_ATTRS __attribute__((target("prfchw"), noinline))
#endif
#else
#define WARM_ATTRS
#endif
WARM_ATTRS static void warm_for_reuse(const uint64_t *blk, uint32_t words)
{
	for (uint32_t off = 0; off < words * 8 && off < 1024; off += 64)
		__builtin_prefetch((const char *)blk + off, 1, 3);
}

static void glue_reply(void *arg, int result, const uint64_t w[LXD_MSG_WORDS])
{
	/* Copied out first: @done may free the memory @pc lives in. */
	struct lxd_glue_pending pc = *(struct lxd_glue_pending *)arg;
	struct lxd_glue_buf rep;
	int err = result;
	if (!err && !w)
		err = -EIO;
	if (!err)
		err = reply_reader(pc.spilled, w, pc.blk, pc.cap, &rep);
	pc.done(pc.arg, err, err ? NULL : &rep);
	/* After the callback: a reply in the block is read from it. */
	if (pc.blk) {
		warm_for_reuse(pc.blk, pc.cap);
		lxd_arena_free(pc.g->arena, pc.blk);
	}
}

int lxd_glue_call_cb(struct lxd_glue *g, uint32_t op, struct lxd_glue_buf *req, bool spilled,
		     uint32_t reply_words, struct lxd_glue_pending *pc, lxd_glue_done_fn done, void *arg)
{
	uint64_t in[LXD_MSG_WORDS] = { 0 };
	if (!pc || !done)
		return -EINVAL;
	int rc = request_words(g, req, spilled, reply_words, in);
	if (rc)
		return rc;
	*pc = (struct lxd_glue_pending){.g = g, .spilled = spilled, .done = done, .arg = arg};
	if (spilled) {
		pc->blk = req->w;
		pc->cap = req->cap;
	}
	rc = lxd_call_cb(g->ep, op, in, glue_reply, pc);
	if (rc)
		return rc; /* -EAGAIN: the block stays the request's, ready for lxd_glue_call() */
	if (spilled) {
		req->owned = false; /* the block is pc's now */
		lxd_glue_reader(req, req->inl, 0);
	}
	count_call(g, spilled);
	return 0;
}

void lxd_glue_call_done(struct lxd_glue *g, struct lxd_glue_buf *req, struct lxd_glue_buf *rep)
{
	(void)g;
	(void)rep;
	lxd_glue_buf_fini(req);
}

int lxd_glue_recv(struct lxd_glue *g, const uint64_t in[LXD_MSG_WORDS], bool spilled,
		  struct lxd_glue_buf *rd)
{
	g->st.served++;
	if (!spilled) {
		lxd_glue_reader(rd, rd->inl, LXD_MSG_WORDS); /* clears inl: copy after */
		memcpy(rd->inl, in, sizeof(rd->inl));
		return 0;
	}
	void *p;
	uint32_t len;
	int rc = lxd_arena_buf_get(g->arena, in[0], &p, &len);
	if (rc || ((uintptr_t)p & 7) || in[1] > len / 8) {
		g->st.refused++;
		return rc ? rc : -EPROTO;
	}
	lxd_glue_reader(rd, p, (uint32_t)in[1]);
	rd->cap = len / 8; /* the whole block takes the reply */
	return 0;
}

int lxd_glue_reply(struct lxd_glue *g, const struct lxd_glue_buf *rd, bool spilled,
		   struct lxd_glue_buf *wr, uint64_t out[LXD_MSG_WORDS])
{
	(void)g;
	if (wr->err)
		return wr->err;
	if (!spilled) {
		if (wr->n > LXD_MSG_WORDS)
			return -EMSGSIZE;
		memcpy(out, wr->w, (size_t)wr->n * 8);
		return 0;
	}
	if (wr->n <= LXD_GLUE_REPLY_INLINE_WORDS) {
		/* Short enough for the reply message: the caller reads it from the
		 * line it must read anyway, not from the block (one cache-line
		 * transfer fewer per call, on the caller's critical path). */
		out[0] = LXD_GLUE_REPLY_INLINE | wr->n;
		memcpy(&out[1], wr->w, (size_t)wr->n * 8);
		return 0;
	}
	if (wr->n > rd->cap)
		return -EMSGSIZE;
	memcpy(rd->w, wr->w, (size_t)wr->n * 8);
	out[0] = wr->n;
	return 0;
}

int lxd_glue_attach(struct lxd_glue *g, const struct lxd_glue_iface *iface, struct lxd_ep_config *cfg)
{
	if (!g || !iface || !cfg)
		return -EINVAL;
	/* Per thread when the glue has it: each thread owning a runtime (one
	 * per isolated module in the kernel) calls through its own. */
	if (iface->self_tls)
		*iface->self_tls() = g;
	else if (iface->self)
		*iface->self = g;
	memset(cfg, 0, sizeof(*cfg));
	cfg->handlers = iface->handlers;
	cfg->nhandlers = iface->nhandlers;
	cfg->ctx = g;
	return 0;
}
