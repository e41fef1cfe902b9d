/* SPDX-License-Identifier: MIT */
/*
 * lxds-domain: the process a domain runs in.  Started by lib/domain (never
 * by hand) with the channel and arena memfds as fds 3 and 4 and the log
 * pipe as stdout/stderr; see lib/domain/runtime.c for what it does.
 */
#include "lxds/domain.h"

int main(int argc, char **argv)
{
	return lxd_domain_runtime_main(argc, argv);
}
