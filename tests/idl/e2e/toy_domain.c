/* SPDX-License-Identifier: MIT */
/*
 * The domain side's main loop: the async runtime, one endpoint on the
 * channel, the generated glue attached to it, the module's init run in a
 * lightweight thread (it blocks on calls to the kernel), then serve.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "lxds/async.h"
#include "lxds/cap.h"
#include "lxds/domain.h"
#include "toy_domain.h"

extern const struct lxd_glue_iface lxd_glue_iface_toydev_domain;
int toy_domain_run(struct toy_domain_args *a);
int lxd_glue_domain_prepare(void);
int lxd_glue_domain_main(struct lxd_domain_env *env);

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

/* ---- in a real domain (lxds-domain) ------------------------------------------------ */

/* Before lockdown: the async runtime maps its stacks and installs its handlers. */
int lxd_glue_domain_prepare(void)
{
	return lxd_async_init(NULL);
}

struct module_call {
	const struct lxd_module_info *mi;
	bool exit;
	_Atomic int done;
	int result;
};

static void run_module(void *arg)
{
	struct module_call *c = arg;
	if (c->exit) {
		if (c->mi->exit)
			c->mi->exit();
	} else {
		c->result = c->mi->init ? c->mi->init() : 0;
	}
	atomic_store_explicit(&c->done, 1, memory_order_release);
}

/*
 * A control request on the call line (PING, EXIT; INIT is refused: the
 * glue ran init itself, in a lightweight thread, since init calls the
 * kernel).  Returns the reply op; *@end after EXIT.
 */
static uint32_t control(struct lxd_domain_env *env, struct module_call *init, uint32_t op, uint64_t *w,
			bool *end)
{
	switch (op) {
	case LXD_CTL_PING:
		w[0]++;
		return op;
	case LXD_CTL_EXIT: {
		struct module_call ex = { .mi = env->module, .exit = true };
		if (env->module && atomic_load(&init->done) && init->result == 0) {
			struct lxd_finish f = LXD_FINISH_INIT;
			lxd_async(&f, run_module, &ex);
			lxd_finish(&f); /* runs the dispatcher: exit may call the kernel */
		}
		env->module_live = false;
		w[0] = 0;
		*end = true;
		return op;
	}
	default:
		w[0] = (uint64_t)(int64_t)-EALREADY;
		return LXD_CTL_ERROR;
	}
}

/* After lockdown: serve the kernel's calls on the rings and its control calls on the call line. */
int lxd_glue_domain_main(struct lxd_domain_env *env)
{
	struct lxd_cap_table caps;
	struct lxd_glue g;
	struct lxd_ep ep;
	struct lxd_ep_config cfg;
	if (lxd_cap_init(&caps, 0) || lxd_glue_init(&g, NULL, env->arena, &caps, 0))
		return 1;
	lxd_glue_attach(&g, &lxd_glue_iface_toydev_domain, &cfg);
	if (lxd_ep_init(&ep, env->chan, &cfg))
		return 1;
	g.ep = &ep;
	struct module_call init = { .mi = env->module };
	struct lxd_finish f = LXD_FINISH_INIT;
	if (env->module)
		lxd_async(&f, run_module, &init);
	int status = 0;
	for (;;) {
		int n = lxd_async_poll();
		struct lxd_msg *c = lxd_chan_serve_poll(env->chan);
		if (c) {
			struct lxd_msg_copy m;
			lxd_msg_copy_in(&m, c);
			bool end = false;
			uint32_t rop = control(env, &init, m.op, m.w, &end);
			memcpy(c->w, m.w, sizeof(m.w));
			lxd_chan_serve_reply(env->chan, rop);
			if (end)
				break;
			continue;
		}
		if (atomic_load(&init.done) && !env->module_live && init.result == 0) {
			env->module_live = true;
			printf("toy domain: module init done\n");
		}
		if (n == 0 && lxd_chan_wait(env->chan, 1000 * 1000) == -EIO) {
			status = 1; /* the kernel is gone */
			break;
		}
	}
	fflush(stdout);
	return status;
}
