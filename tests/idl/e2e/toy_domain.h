/* SPDX-License-Identifier: MIT */
/*
 * The domain side of the toydev end-to-end test, built into
 * toy_domain_glue.so together with the generated domain glue.  The same
 * library serves a thread of the test process (toy_domain_run) and a real
 * isolated domain (lxd_glue_domain_main).
 */
#ifndef TOY_DOMAIN_H
#define TOY_DOMAIN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "lxds/fipc.h"
#include "lxds/glue.h"
#include "lxds/module_abi.h"

struct toy_domain_args {
	struct lxd_chan *chan;        /* the domain side, attached */
	void *arena_base;             /* the whole arena and the domain's share of it */
	size_t arena_size, share_off, share_len;
	const struct lxd_module_info *module;
	const _Atomic bool *stop;     /* serve until this turns true */
	_Atomic int init_done;        /* set once the module's init returned */
	int init_result;
	struct lxd_glue_stats stats;  /* the domain glue's, at the end */
	int serve_result;
};

typedef int (*toy_domain_run_fn)(struct toy_domain_args *a);
#define TOY_DOMAIN_RUN_SYMBOL "toy_domain_run"

#endif
