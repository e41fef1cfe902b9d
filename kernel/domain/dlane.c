/* SPDX-License-Identifier: MIT */
/*
 * Lanes, domain side (kernel/isolated/lane.c has the kernel's half).  A
 * lane is one more channel to the kernel, owned by one kernel thread that
 * drives its calls itself.  Here it is just another endpoint of the one
 * OS thread's runtime, serving the same generated handlers as the main
 * channel: the main loop's lxd_async_poll() polls every endpoint, and its
 * idle wait on the main channel's doorbell covers the lanes too (the
 * kernel rings that doorbell for lane messages: lxd_chan_ring_with).
 *
 * A handler answers on the channel its request came in on; calls the
 * driver makes meanwhile (blk_mq_end_request outside queue_rq, ...) go on
 * the main channel, served by the kernel's dispatcher thread, so a lane's
 * kernel thread never has to serve requests.
 */
#include <errno.h>
#include <stdint.h>

#include "dom.h"

/* The runtime takes LXD_ASYNC_MAX_EPS endpoints; one is the main channel's. */
#define DOM_LANES (LXD_ASYNC_MAX_EPS - 1)

struct dlane {
	struct lxd_chan ch;
	struct lxd_ep ep;
	bool used;
};

static struct dlane lanes[DOM_LANES];

int lxd_dlane_open(void *mem, unsigned int bytes, unsigned int slots)
{
	if (!mem || slots == 0 || slots > 4096 || (slots & (slots - 1)))
		return -EINVAL;
	int i = 0;
	while (i < (int)DOM_LANES && lanes[i].used)
		i++;
	if (i == (int)DOM_LANES)
		return -ENOSPC;
	struct dlane *l = &lanes[i];
	int rc = lxd_chan_attach(&l->ch, mem, bytes, slots, LXD_SIDE_DOMAIN);
	if (rc)
		return rc;
	rc = lxd_ep_init(&l->ep, &l->ch, &lxd_dom.cfg);
	if (rc)
		return rc;
	lxd_chan_wait_also(lxd_dom.env->chan, &l->ch);
	l->used = true;
	return i;
}

int lxd_dlane_close(int lane)
{
	if (lane < 0 || lane >= (int)DOM_LANES || !lanes[lane].used)
		return -ENOENT;
	struct dlane *l = &lanes[lane];
	int rc = lxd_ep_fini(&l->ep);
	if (rc)
		return rc == -EBUSY ? -EBUSY : -EINVAL;
	lxd_chan_wait_unlink(lxd_dom.env->chan, &l->ch);
	l->used = false;
	return 0;
}
