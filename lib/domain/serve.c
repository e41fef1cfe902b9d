/* SPDX-License-Identifier: MIT */
/*
 * The domain's serve loop: control requests handled here, the rest handed
 * to the glue's handler (later: the async runtime's dispatcher).  The loop
 * sleeps on its doorbell through lxd_chan_wait() when idle, so an idle
 * domain costs no CPU.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lxds/domain.h"

/* A control request.  Returns the reply op and fills @w; sets *@end after EXIT. */
static uint32_t control(struct lxd_domain_env *env, uint32_t op, uint64_t *w, bool *end)
{
	const struct lxd_module_info *mi = env->module;
	int rc;
	switch (op) {
	case LXD_CTL_PING:
		w[0]++;
		return op;
	case LXD_CTL_INIT:
		if (!mi) {
			rc = -ENOENT;
			break;
		}
		if (env->module_live) {
			rc = -EALREADY;
			break;
		}
		rc = mi->init ? mi->init() : 0;
		if (rc > 0 || rc < -4095)
			rc = -EINVAL; /* a module returning junk is still answered sanely */
		env->module_live = rc == 0;
		w[0] = (uint64_t)(int64_t)rc;
		return op;
	case LXD_CTL_EXIT:
		if (mi && env->module_live && mi->exit)
			mi->exit();
		env->module_live = false;
		fflush(stdout);
		w[0] = 0;
		*end = true;
		return op;
	default:
		rc = -ENOSYS;
	}
	w[0] = (uint64_t)(int64_t)rc;
	return LXD_CTL_ERROR;
}

int lxd_domain_serve(struct lxd_domain_env *env, lxd_domain_handler_fn fn, void *arg)
{
	struct lxd_chan *ch = env->chan;
	for (;;) {
		struct lxd_msg *c = lxd_chan_serve_poll(ch);
		if (c) {
			struct lxd_msg_copy m;
			lxd_msg_copy_in(&m, c);
			bool end = false;
			uint32_t rop;
			if (m.op & LXD_OP_CTL) {
				rop = control(env, m.op, m.w, &end);
			} else {
				int r = fn ? fn(arg, env, m.op, m.w, true) : -ENOSYS;
				if (r < 0) {
					m.w[0] = (uint64_t)(int64_t)r;
					rop = LXD_CTL_ERROR;
				} else {
					rop = (uint32_t)r;
				}
			}
			memcpy(c->w, m.w, sizeof(m.w));
			lxd_chan_serve_reply(ch, rop);
			if (end)
				return 0;
			continue;
		}
		struct lxd_msg *r = lxd_chan_try_recv(ch);
		if (r) {
			struct lxd_msg_copy m;
			lxd_msg_copy_in(&m, r);
			lxd_chan_release(ch);
			if (fn && !(m.op & LXD_OP_CTL))
				fn(arg, env, m.op, m.w, false);
			continue;
		}
		if (lxd_chan_wait(ch, -1) == -EIO)
			return 1;
	}
}
