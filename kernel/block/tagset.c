/* SPDX-License-Identifier: MIT */
/*
 * Tag sets: the hardware queues of a driver and their preallocated requests.
 * A request is [struct lxd_rq (kernel)] then the driver's cmd_size bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blk.h"

static void free_tags(struct blk_mq_tag_set *set, unsigned nq)
{
	struct lxd_tags *t = set->lxd_tags;
	for (unsigned q = 0; q < nq; q++) {
		if (t->rqs && t->rqs[q]) {
			for (unsigned i = 0; i < set->queue_depth; i++) {
				struct lxd_rq *r = t->rqs[q][i];
				if (r && set->ops->exit_request)
					set->ops->exit_request(set, &r->rq, q);
				free(r);
			}
			free(t->rqs[q]);
		}
		if (t->free)
			free(t->free[q]);
		if (set->lxd_hctxs && set->lxd_hctxs[q]) {
			if (set->ops->exit_hctx)
				set->ops->exit_hctx(set->lxd_hctxs[q], q);
			free(set->lxd_hctxs[q]);
		}
	}
	free(t->rqs);
	free(t->free);
	free(t->nfree);
	free(set->lxd_hctxs);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->freed);
	free(t);
	set->lxd_tags = NULL;
	set->lxd_hctxs = NULL;
}

static int alloc_queue(struct blk_mq_tag_set *set, unsigned q)
{
	struct lxd_tags *t = set->lxd_tags;
	struct blk_mq_hw_ctx *h = calloc(1, sizeof(*h));
	t->rqs[q] = calloc(set->queue_depth, sizeof(*t->rqs[q]));
	t->free[q] = calloc(set->queue_depth, sizeof(*t->free[q]));
	if (!h || !t->rqs[q] || !t->free[q]) {
		free(h);
		return -ENOMEM;
	}
	h->queue_num = q;
	h->lxd_set = set;
	if (set->ops->init_hctx) {
		int err = set->ops->init_hctx(h, set->driver_data, q);
		if (err) {
			free(h);
			return err;
		}
	}
	set->lxd_hctxs[q] = h;
	for (unsigned i = 0; i < set->queue_depth; i++) {
		struct lxd_rq *r = calloc(1, sizeof(*r) + set->cmd_size);
		if (!r)
			return -ENOMEM;
		r->hwq = q;
		r->rq.tag = (int)i;
		r->rq.mq_hctx = h;
		r->rq.bvecs = r->bvecs;
		t->rqs[q][i] = r;
		if (set->ops->init_request) {
			int err = set->ops->init_request(set, &r->rq, q, 0);
			if (err) {
				/* exit_request must not run for a request whose init failed. */
				t->rqs[q][i] = NULL;
				free(r);
				return err;
			}
		}
		/* Pushed in reverse so tag 0 is handed out first. */
		t->free[q][set->queue_depth - 1 - i] = i;
	}
	t->nfree[q] = set->queue_depth;
	t->nfree_total += set->queue_depth;
	return 0;
}

int blk_mq_alloc_tag_set(struct blk_mq_tag_set *set)
{
	if (!set || !set->ops || !set->ops->queue_rq || set->nr_hw_queues < 1 || set->nr_hw_queues > 256 ||
	    set->queue_depth < 1 || set->queue_depth > 4096 || set->cmd_size > (1u << 20))
		return -EINVAL;
	struct lxd_tags *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->freed, NULL);
	set->lxd_tags = t;
	unsigned nq = set->nr_hw_queues;
	set->lxd_hctxs = calloc(nq, sizeof(*set->lxd_hctxs));
	t->nfree = calloc(nq, sizeof(*t->nfree));
	t->free = calloc(nq, sizeof(*t->free));
	t->rqs = calloc(nq, sizeof(*t->rqs));
	if (!set->lxd_hctxs || !t->nfree || !t->free || !t->rqs) {
		free_tags(set, 0);
		return -ENOMEM;
	}
	for (unsigned q = 0; q < nq; q++) {
		int err = alloc_queue(set, q);
		if (err) {
			free_tags(set, q + 1);
			return err;
		}
	}
	return 0;
}

void blk_mq_free_tag_set(struct blk_mq_tag_set *set)
{
	if (set && set->lxd_tags)
		free_tags(set, set->nr_hw_queues);
}

struct lxd_rq *lxd_tags_get(struct blk_mq_tag_set *set, unsigned hwq)
{
	struct lxd_tags *t = set->lxd_tags;
	pthread_mutex_lock(&t->lock);
	if (t->nfree_total == 0) {
		/* Requests held back by our own plug may be what holds the tags. */
		pthread_mutex_unlock(&t->lock);
		lxd_blk_flush_plug();
		pthread_mutex_lock(&t->lock);
	}
	while (t->nfree_total == 0)
		lxd_cond_wait_polling(&t->freed, &t->lock);
	unsigned q = hwq;
	while (t->nfree[q] == 0)
		q = (q + 1) % set->nr_hw_queues;
	unsigned tag = t->free[q][--t->nfree[q]];
	t->nfree_total--;
	pthread_mutex_unlock(&t->lock);
	return t->rqs[q][tag];
}

void lxd_tags_put(struct blk_mq_tag_set *set, struct lxd_rq *r)
{
	lxd_tags_put_many(set, &r, 1);
}

void lxd_tags_put_many(struct blk_mq_tag_set *set, struct lxd_rq *const *rs, unsigned n)
{
	struct lxd_tags *t = set->lxd_tags;
	pthread_mutex_lock(&t->lock);
	for (unsigned i = 0; i < n; i++) {
		const struct lxd_rq *r = rs[i];
		t->free[r->hwq][t->nfree[r->hwq]++] = (unsigned)r->rq.tag;
	}
	t->nfree_total += n;
	if (n == 1)
		pthread_cond_signal(&t->freed);
	else
		pthread_cond_broadcast(&t->freed); /* up to @n waiters can have one now */
	pthread_mutex_unlock(&t->lock);
}

void *blk_mq_rq_to_pdu(struct request *rq)
{
	return rq + 1;
}

struct request *blk_mq_rq_from_pdu(void *pdu)
{
	return (struct request *)pdu - 1;
}
