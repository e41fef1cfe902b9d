/* SPDX-License-Identifier: MIT */
/*
 * The domain side's main loop: the async runtime, one endpoint on the
 * channel, the generated glue attached to it, the module's init run in a
 * lightweight thread (it blocks on calls to the kernel), then serve.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "lxds/async.h"
#include "lxds/cap.h"
#include "toy_domain.h"

extern const struct lxd_glue_iface lxd_glue_iface_toydev_domain;
int toy_domain_run(struct toy_domain_args *a);

static void run_init(void *arg)
{
	struct toy_domain_args *a = arg;
	a->init_result = a->module->init();
	atomic_store_explicit(&a->init_done, 1, memory_order_release);
}

int toy_domain_run(struct toy_domain_args *a)
{
	struct lxd_arena arena;
	struct lxd_cap_table caps;
	struct lxd_glue g;
	struct lxd_ep ep;
	struct lxd_ep_config cfg;
	int rc = lxd_arena_init(&arena, a->arena_base, a->arena_size, a->share_off, a->share_len);
	if (rc)
		return rc;
	rc = lxd_cap_init(&caps, 0);
	if (rc)
		goto out_arena;
	rc = lxd_glue_init(&g, NULL, &arena, &caps, 0);
	if (rc)
		goto out_caps;
	lxd_glue_attach(&g, &lxd_glue_iface_toydev_domain, &cfg);
	rc = lxd_async_init(NULL);
	if (rc)
		goto out_glue;
	rc = lxd_ep_init(&ep, a->chan, &cfg);
	if (rc)
		goto out_async;
	g.ep = &ep;
	struct lxd_finish f = LXD_FINISH_INIT;
	lxd_async(&f, run_init, a);
	a->serve_result = lxd_async_serve(a->stop);
	lxd_finish(&f);
	a->stats = g.st;
	lxd_ep_fini(&ep);
out_async:
	lxd_async_fini();
out_glue:
	lxd_glue_fini(&g);
out_caps:
	lxd_cap_fini(&caps);
out_arena:
	lxd_arena_fini(&arena);
	return rc;
}
