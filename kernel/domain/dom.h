/* SPDX-License-Identifier: MIT */
/*
 * The domain side of an isolated driver (kernel/domain/, built into
 * lxd_kdomain.so, the glue library lxds-domain loads before the driver):
 * the Linux API the driver calls, implemented locally where it is the
 * driver's own business (kmalloc, printk, hrtimers, netdev_priv, request
 * pdus, the device's fields) and through the generated stubs where the
 * kernel must act (register, carrier, end of a request, ...).
 *
 * One OS thread runs it all: the async runtime's lightweight threads
 * serve the kernel's calls, timers run as lightweight threads too.  No
 * locks: the driver's own spinlocks are uncontended.
 */
#ifndef LXDS_KERNEL_DOMAIN_DOM_H
#define LXDS_KERNEL_DOMAIN_DOM_H

#include <stdbool.h>
#include <stdint.h>

#include "lxds/domain.h"
#include "lxds/glue.h"

#include "lxd_iso_if.h"

struct dom {
	struct lxd_domain_env *env;
	struct lxd_cap_table caps;
	struct lxd_glue g;
	struct lxd_ep ep;
	struct lxd_finish f;        /* timers and deferred work */
	bool live;                  /* module init succeeded, exit not run */
	struct lxd_glue_map netdevs; /* kernel reference -> struct dnetdev */
	struct lxd_glue_map sets;    /* kernel reference -> struct dtagset */
	uint64_t rand_state;        /* eth_random_addr (getrandom is not allowed here) */
	struct lxd_ep_config cfg;   /* the generated handlers: the main channel's and every lane's */
};

extern struct dom lxd_dom;

/* Run the timers that are due, each in a lightweight thread.  Returns how many. */
unsigned lxd_dom_run_timers(void);
/* Nanoseconds until the next timer (-1: none). */
int64_t lxd_dom_next_timer_ns(void);

#endif
