/* SPDX-License-Identifier: MIT */
/*
 * An I/O generator: random reads or writes over a disk with a fixed number
 * in flight, each completion submitting the next I/O (as fio's async engines
 * do).  VERIFY writes distinct blocks with a pattern naming the block and
 * the seed, then reads every one back and compares.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/blk-mq.h>
#include <linux/ktime.h>

#include "../internal.h"

struct iogen;

struct slot {
	struct lxd_blk_io io;
	struct iogen *g;
	uint64_t block;    /* block index of the I/O in flight */
	struct slot *next; /* on this thread's deferred list (see submit) */
};

struct iogen {
	struct gendisk *disk;
	const struct lxd_iogen_opts *o;
	unsigned bs;
	uint64_t nblocks;
	uint64_t mul, add; /* VERIFY: block of I/O i is (mul*i + add) mod nblocks */
	uint64_t rng;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t issued, done; /* of the current phase */
	uint64_t target;
	bool reading;      /* VERIFY's second phase */
	unsigned idle;     /* slots with nothing more to do */
	struct lxd_iogen_result *r;
};

static uint64_t next_rand(uint64_t *s)
{
	/* splitmix64: cheap, and good enough to scatter block numbers. */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

static void fill_pattern(const struct iogen *g, uint64_t block, uint64_t *buf)
{
	for (size_t i = 0; i < g->bs / 8; i++)
		buf[i] = (block * 0x100000001b3ull) ^ (g->o->seed << 17) ^ i;
}

/* Pick the next I/O for @s (lock held).  Returns false when the phase has none left. */
static bool prepare_locked(struct iogen *g, struct slot *s)
{
	if (g->issued == g->target)
		return false;
	uint64_t n = g->issued++;
	bool write;
	if (g->o->rw == LXD_IOGEN_VERIFY) {
		s->block = (uint64_t)(((unsigned __int128)g->mul * n + g->add) % g->nblocks);
		write = !g->reading;
	} else {
		s->block = next_rand(&g->rng) % g->nblocks;
		write = g->o->rw == LXD_IOGEN_RANDWRITE;
	}
	s->io.op = write ? REQ_OP_WRITE : REQ_OP_READ;
	s->io.sector = s->block * (g->bs / SECTOR_SIZE);
	s->io.len = g->bs;
	if (write)
		fill_pattern(g, s->block, s->io.buf);
	else if (g->reading)
		memset(s->io.buf, 0xa5, g->bs); /* a read that moves no data must not pass */
	return true;
}

static void end_io(struct lxd_blk_io *io);

/*
 * A driver that completes inside queue_rq (null_blk irqmode=0) calls end_io
 * from inside lxd_blk_submit, and end_io submits the next I/O: submitting
 * right there would recurse once per I/O and overflow the stack on long
 * runs.  So a submit made while this thread is already submitting is
 * queued, and the outermost submit issues the queue in a loop.
 */
static __thread struct slot *deferred;
static __thread bool submitting;

/* Submit @s's I/O; a rejection counts as a completed error (lock not held). */
static void submit(struct iogen *g, struct slot *s)
{
	(void)g;
	if (submitting) {
		s->next = deferred;
		deferred = s;
		return;
	}
	submitting = true;
	while (s) {
		int err = lxd_blk_submit(s->g->disk, &s->io);
		if (err) {
			s->io.error = err;
			end_io(&s->io);
		}
		s = deferred;
		if (s)
			deferred = s->next;
	}
	submitting = false;
}

static void end_io(struct lxd_blk_io *io)
{
	struct slot *s = (struct slot *)io;
	struct iogen *g = s->g;
	bool mismatch = false;
	if (!io->error && g->reading) {
		uint64_t *want = malloc(g->bs);
		if (want) {
			fill_pattern(g, s->block, want);
			mismatch = memcmp(want, io->buf, g->bs) != 0;
			free(want);
		}
	}
	pthread_mutex_lock(&g->lock);
	g->done++;
	g->r->done++;
	if (io->error && !g->r->errors++)
		g->r->first_error = io->error;
	g->r->mismatches += mismatch;
	bool more = prepare_locked(g, s);
	if (!more && ++g->idle == g->o->qd)
		pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->lock);
	if (more)
		submit(g, s);
}

/* Run one phase: @target I/Os through @qd slots; returns when all are done. */
static void run_phase(struct iogen *g, struct slot *slots, uint64_t target)
{
	pthread_mutex_lock(&g->lock);
	g->issued = g->done = 0;
	g->target = target;
	g->idle = 0;
	pthread_mutex_unlock(&g->lock);
	for (unsigned i = 0; i < g->o->qd; i++) {
		pthread_mutex_lock(&g->lock);
		bool more = prepare_locked(g, &slots[i]);
		if (!more && ++g->idle == g->o->qd)
			pthread_cond_signal(&g->cond);
		pthread_mutex_unlock(&g->lock);
		if (more)
			submit(g, &slots[i]);
	}
	pthread_mutex_lock(&g->lock);
	/* Our lane's completions run when we poll (each submits the next I/O;
	 * lxd_poll plugs them: one poll's worth crosses as one message). */
	while (g->idle < g->o->qd)
		lxd_cond_wait_polling(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

int lxd_iogen(struct gendisk *disk, const struct lxd_iogen_opts *o, struct lxd_iogen_result *r)
{
	memset(r, 0, sizeof(*r));
	if (!disk || !o || o->qd < 1 || o->qd > 1024)
		return -EINVAL;
	if (!lxd_blk_get_disk(disk->disk_name))
		return -ENODEV;
	struct iogen g = {.disk = disk, .o = o, .rng = o->seed, .r = r};
	unsigned lbs = queue_logical_block_size(disk->queue);
	g.bs = o->bs ? o->bs : lbs;
	if (g.bs % lbs || g.bs > LXD_BLK_MAX_IO)
		return -EINVAL;
	g.nblocks = get_capacity(disk) * SECTOR_SIZE / g.bs;
	if (g.nblocks == 0)
		return -EINVAL;
	if (o->rw == LXD_IOGEN_VERIFY && o->ios > g.nblocks)
		return -EINVAL; /* verify needs distinct blocks */
	struct slot *slots = calloc(o->qd, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	int err = 0;
	for (unsigned i = 0; i < o->qd; i++) {
		slots[i].g = &g;
		slots[i].io.end_io = end_io;
		/* From the memory the disk's driver sees (lxd_data_alloc(owner)), as a
		 * careful application would: an isolated driver's arena, so its I/O
		 * crosses without a bounce copy; the kernel heap for a native one. */
		slots[i].io.buf = lxd_data_alloc(disk->lxd_owner, g.bs);
		if (!slots[i].io.buf)
			err = -ENOMEM;
	}
	if (o->rw == LXD_IOGEN_VERIFY) {
		/* Distinct, scattered blocks: i -> (a*i + b) mod nblocks with a coprime to nblocks. */
		g.mul = 1 + next_rand(&g.rng) % g.nblocks;
		while (gcd(g.mul, g.nblocks) != 1)
			g.mul++;
		g.add = next_rand(&g.rng) % g.nblocks;
	}
	if (!err) {
		pthread_mutex_init(&g.lock, NULL);
		pthread_cond_init(&g.cond, NULL);
		/* The generator reaps its own completions (docs/isolation.md, lanes):
		 * an isolated driver's requests skip the dispatcher hand-off. */
		enum lxd_gen_poll gp = lxd_gen_poll_begin();
		uint64_t t0 = (uint64_t)ktime_get();
		run_phase(&g, slots, o->ios);
		if (o->rw == LXD_IOGEN_VERIFY) {
			g.reading = true;
			run_phase(&g, slots, o->ios);
		}
		lxd_gen_poll_end(gp);
		r->ns = (uint64_t)ktime_get() - t0;
		pthread_mutex_destroy(&g.lock);
		pthread_cond_destroy(&g.cond);
	}
	for (unsigned i = 0; i < o->qd; i++)
		lxd_data_free(slots[i].io.buf);
	free(slots);
	return err;
}

int lxd_iogen_rw_parse(const char *s, enum lxd_iogen_rw *rw)
{
	static const char *const names[] = {"randread", "randwrite", "verify"};
	for (unsigned i = 0; i < 3; i++)
		if (s && strcmp(s, names[i]) == 0) {
			*rw = (enum lxd_iogen_rw)i;
			return 0;
		}
	return -EINVAL;
}
