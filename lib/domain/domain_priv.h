/* SPDX-License-Identifier: MIT */
/* struct lxd_domain: shared by domain.c (lifecycle) and monitor.c (death, deadline). */
#ifndef LXDS_DOMAIN_PRIV_H
#define LXDS_DOMAIN_PRIV_H

#include <pthread.h>
#include <stdatomic.h>

#include "internal.h"

struct lxd_domain {
	/* Options, with every string owned by us. */
	struct lxd_domain_opts o;
	char *name, *module, *exe;
	char **glue, **params;
	uint32_t id;   /* slot + 1: capability owner id */
	unsigned slot; /* arena address slot */

	/* The arena: whole mapping, our allocator over the kernel's share. */
	void *arena_mem;
	int arena_fd;
	size_t share_off, share_len; /* the domain's share */
	struct lxd_arena arena;
	struct lxd_cap_table caps;

	/* The current process. */
	struct lxd_chan chan;
	bool chan_open;
	pid_t pid;
	int pidfd, log_rd;
	pthread_t monitor;
	bool monitor_started;

	/* State: under lock; cond is broadcast when cleaned_up flips. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct lxd_domain_status st;
	bool cleaned_up;
	int kill_reason; /* enum lxd_domain_end that asked for the SIGKILL, 0 none */

	/* The hang deadline (monitor.c). */
	_Atomic uint32_t in_flight;
	_Atomic uint64_t progress_ns; /* last answer, or when the oldest call began */

	pthread_mutex_t call_lock; /* one call on the call line at a time */

	/* Log assembly (monitor thread only). */
	char logbuf[1024];
	size_t loglen;
	bool fault_seen;
	int fault_sig, fault_nr;
	uint64_t fault_addr;
};

/* monitor.c */
void *lxd__monitor_main(void *arg);
/* Ask for a SIGKILL, remembering why (first reason wins).  Returns 0 or -ESRCH. */
int lxd__request_kill(struct lxd_domain *d, enum lxd_domain_end why);

#endif
