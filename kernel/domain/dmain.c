/* SPDX-License-Identifier: MIT */
/*
 * The domain's main loop and the module's life: the async runtime is set
 * up before lockdown (lxd_glue_domain_prepare), then lxd_glue_domain_main
 * serves the kernel's calls (generated handlers), runs due timers, and
 * answers the domain layer's control calls (PING, EXIT) on the call line.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "dom.h"
#include "lxds/async.h"

extern const struct lxd_glue_iface lxd_glue_iface_lxd_iso_domain;

struct dom lxd_dom;

#define DOM_STACKS 1024u

__attribute__((visibility("default"))) int lxd_glue_domain_prepare(void);
__attribute__((visibility("default"))) int lxd_glue_domain_main(struct lxd_domain_env *env);

int lxd_glue_domain_prepare(void)
{
	/* This library's own copy of fIPC (-Bsymbolic) registers for membarrier
	 * now: its first attach (a lane's) comes after lockdown, which forbids
	 * the registration, and its sleeps need the asymmetric fence. */
	lxd_fipc_process_init();
	/* Stacks, guard pages and the overflow handler: forbidden after lockdown. */
	struct lxd_async_config ac = {.stacks = DOM_STACKS};
	int rc = lxd_async_init(&ac);
	if (rc)
		return rc;
	if (getrandom(&lxd_dom.rand_state, sizeof(lxd_dom.rand_state), 0) != sizeof(lxd_dom.rand_state))
		lxd_dom.rand_state = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull;
	lxd_dom.rand_state |= 1;
	return 0;
}

int lxd_dmod_param(const char *assignment)
{
	const struct lxd_module_info *mi = lxd_dom.env->module;
	if (!mi || !assignment)
		return -EINVAL;
	if (lxd_dom.live)
		return -EBUSY;
	return lxd_module_set_param(mi, assignment);
}

int lxd_dmod_init(void)
{
	const struct lxd_module_info *mi = lxd_dom.env->module;
	if (!mi)
		return -ENOENT;
	if (lxd_dom.live)
		return -EALREADY;
	int rc = mi->init();
	if (rc > 0 || rc < -4095)
		rc = -EINVAL;
	lxd_dom.live = rc == 0;
	fflush(stdout);
	return rc;
}

int lxd_dmod_exit(void)
{
	const struct lxd_module_info *mi = lxd_dom.env->module;
	if (!mi || !lxd_dom.live)
		return -EALREADY;
	lxd_dom.live = false;
	if (mi->exit)
		mi->exit();
	fflush(stdout);
	return 0;
}

int lxd_dmod_ping(void)
{
	return 0;
}

/* A control call on the call line.  Returns true after EXIT (replied). */
static bool control(struct lxd_chan *ch, struct lxd_msg *c)
{
	struct lxd_msg_copy m;
	lxd_msg_copy_in(&m, c);
	uint32_t rop = m.op;
	bool end = false;
	if (m.op == LXD_CTL_PING) {
		m.w[0]++;
	} else if (m.op == LXD_CTL_EXIT) {
		/* The kernel ran the exit through lxd_dmod_exit already; a module
		 * still live here had its kernel skip it: it ends without. */
		m.w[0] = 0;
		end = true;
	} else {
		m.w[0] = (uint64_t)(int64_t)-ENOSYS;
		rop = LXD_CTL_ERROR;
	}
	memcpy(c->w, m.w, sizeof(m.w));
	lxd_chan_serve_reply(ch, rop);
	return end;
}

int lxd_glue_domain_main(struct lxd_domain_env *env)
{
	struct dom *d = &lxd_dom;
	struct lxd_ep_config cfg;
	d->env = env;
	d->cfg = (struct lxd_ep_config){0};
	d->f = (struct lxd_finish)LXD_FINISH_INIT;
	int rc = lxd_cap_init(&d->caps, 0);
	if (!rc)
		rc = lxd_glue_init(&d->g, NULL, env->arena, &d->caps, 0);
	if (!rc)
		rc = lxd_glue_attach(&d->g, &lxd_glue_iface_lxd_iso_domain, &cfg);
	if (!rc) {
		d->cfg = cfg;
		rc = lxd_ep_init(&d->ep, env->chan, &cfg);
	}
	if (rc) {
		fprintf(stderr, "lxd_kdomain: cannot set up the glue (%d)\n", rc);
		return 2;
	}
	d->g.ep = &d->ep;
	struct lxd_chan *ch = env->chan;
	unsigned idle = 0;
	for (;;) {
		int n = lxd_async_poll();
		n += (int)lxd_dom_run_timers();
		struct lxd_msg *c = lxd_chan_serve_poll(ch);
		if (c && control(ch, c))
			break;
		if (n > 0 || c) {
			idle = 0;
			continue;
		}
		if (++idle < 1000) {
			/* A kernel thread may share our CPU (unpinned tests): let it run now
			 * and then -- rarely: through the sandbox a yield costs ~1 us, and a
			 * request that lands meanwhile waits for it. */
			if ((idle & 511) == 0)
				sched_yield();
			else
				lxd_cpu_relax();
			continue;
		}
		int64_t t = lxd_dom_next_timer_ns();
		int64_t wait = t < 0 || t > 10 * 1000 * 1000 ? 10 * 1000 * 1000 : t;
		if (lxd_chan_wait(ch, wait) == -EIO)
			return 1; /* the kernel marked us dead */
	}
	fflush(stdout);
	return 0; /* _exit follows: blocked threads and the runtime go with the process */
}
