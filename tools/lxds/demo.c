/* SPDX-License-Identifier: MIT */
/*
 * lxds demo: what lxds can show so far, in well under a minute.
 * Today: fIPC against the hardware floor.  It grows with the layers
 * (drivers native vs isolated, a crash survived) as they land.
 */
#include <stdio.h>

#include "bench.h"
#include "cmd.h"

int lxd_cmd_demo(int argc, char **argv)
{
	if (argc > 1 && lxd_is_help(argv[1])) {
		printf("usage: lxds demo\n\nRuns the lxds demonstration with progress output.\n");
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "lxds demo: takes no arguments (try --help)\n");
		return 2;
	}
	printf("== lxds demo: step 1: fIPC, the channel every isolated call crosses\n\n");
	char *args[] = {"fipc", "--rounds", "9", NULL};
	return lxd_bench_fipc(3, args);
}
