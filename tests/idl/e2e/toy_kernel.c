/* SPDX-License-Identifier: MIT */
/*
 * The "kernel" side of toydev: the real functions the generated kernel
 * glue calls when the isolated driver calls toy_register() and friends.
 * It records what it saw in toy_k, for the test to check.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "toy_kernel.h"

struct toy_kernel_state toy_k;

struct toy_dev *toy_alloc_dev(int priv_size)
{
	if (priv_size < 0)
		return NULL;
	/* Natively the private area would follow the object; isolated, the
	 * glue sends 0: the area lives only in the driver's domain. */
	toy_k.last_priv_size = priv_size;
	struct toy_dev *d = calloc(1, ((sizeof(*d) + 31) & ~(size_t)31) + (size_t)priv_size);
	if (!d)
		return NULL;
	d->id = ++toy_k.next_id;
	d->secret = TOY_KERNEL_SECRET;
	snprintf(d->name, sizeof(d->name), "toy%u", d->id);
	toy_k.allocated = d;
	return d;
}

int toy_register(struct toy_dev *d)
{
	if (!d || !d->ops || !d->ops->open)
		return -EINVAL;
	toy_k.registered = d;
	return 0;
}

void toy_unregister(struct toy_dev *d)
{
	if (toy_k.registered == d)
		toy_k.registered = NULL;
}

void toy_free_dev(struct toy_dev *d)
{
	if (toy_k.allocated == d)
		toy_k.allocated = NULL;
	toy_k.freed++;
	free(d);
}

int toy_attach_cfg(struct toy_dev *d, struct toy_cfg *cfg)
{
	if (!d || !cfg)
		return -EINVAL;
	toy_k.cfg = cfg;
	snprintf(toy_k.label, sizeof(toy_k.label), "%s", cfg->label ? cfg->label : "(null)");
	toy_k.nq = cfg->nq;
	for (unsigned i = 0; i < cfg->nq && i < 8; i++)
		toy_k.queue_sizes[i] = cfg->queue_sizes[i];
	return 0;
}

int toy_update_cfg(struct toy_cfg *cfg)
{
	toy_k.cfg_updates++;
	snprintf(toy_k.label, sizeof(toy_k.label), "%s", cfg->label ? cfg->label : "(null)");
	return cfg->generation;
}

void toy_detach_cfg(struct toy_cfg *cfg)
{
	if (toy_k.cfg == cfg)
		toy_k.cfg = NULL;
	toy_k.detached++;
}

void toy_complete(struct toy_req *rq, int status)
{
	toy_k.completed++;
	toy_k.last_result = rq->result;
	toy_k.last_status = status;
	free(rq);
}

int toy_rx(struct toy_dev *d, void *buf, unsigned int len)
{
	if (!d || !buf)
		return -EINVAL;
	d->rx_bytes += len;
	toy_k.rx_len = len < sizeof(toy_k.rx) ? len : sizeof(toy_k.rx);
	memcpy(toy_k.rx, buf, toy_k.rx_len);
	return 0;
}

int toy_log(const char *msg)
{
	size_t at = strlen(toy_k.log);
	snprintf(toy_k.log + at, sizeof(toy_k.log) - at, "%s\n", msg ? msg : "(null)");
	return msg ? (int)strlen(msg) : -EINVAL;
}

int toy_sum(const int *vals, unsigned int n)
{
	int s = 0;
	for (unsigned i = 0; i < n; i++)
		s += vals[i];
	return s;
}

int toy_read_stats(unsigned int n, unsigned long long *out)
{
	for (unsigned i = 0; i < n; i++)
		out[i] = 1000ull + i;
	return (int)n;
}
