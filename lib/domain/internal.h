/* SPDX-License-Identifier: MIT */
/* lib/domain internals shared between its files (not a public interface). */
#ifndef LXDS_DOMAIN_INTERNAL_H
#define LXDS_DOMAIN_INTERNAL_H

#include "lxds/domain.h"

/* Domain side (sandbox.c) ------------------------------------------------------ */

/*
 * Lock the calling process down: not dumpable, no core files, no new
 * privileges, fault reporters on fatal signals, then the seccomp
 * allow-list (every thread).  @ch is the attached channel (its doorbells
 * are the only futex words allowed).  Returns 0 or -errno.
 */
int lxd__sandbox_lockdown(const struct lxd_chan *ch);

/* Kernel side (spawn.c) -------------------------------------------------------- */

struct lxd__spawn {
	const char *exe;
	char **argv;       /* NULL-terminated, argv[0] included */
	int chan_fd, arena_fd, log_fd; /* become fds 3, 4 and 1+2 in the child */
	pid_t pid;         /* out */
	int pidfd;         /* out */
};

/* Fork and exec the domain executable with only the fds it is given.  Returns 0 or -errno. */
int lxd__domain_spawn(struct lxd__spawn *s);

/* The child's fd numbers. */
#define LXD__CHILD_CHAN_FD 3
#define LXD__CHILD_ARENA_FD 4

#endif
