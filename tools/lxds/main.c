/* SPDX-License-Identifier: MIT */
/* lxds: run benchmarks, load drivers native or isolated, show the demo. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

static const struct lxd_cmd commands[] = {
	{"demo", "the lxds demonstration, with progress output", lxd_cmd_demo},
	{"domain", "run a driver isolated in a sandboxed domain; its CPU time", lxd_cmd_domain},
	{"net", "load a net driver (native or isolated) and send packets through it", lxd_cmd_net},
	{"blk", "load a block driver (native or isolated) and run I/O through it", lxd_cmd_blk},
	{"bench", "measure a layer: fipc, ... (native vs isolated, side by side)", lxd_cmd_bench},
};

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("lxds %s\n", LXDS_VERSION);
		return 0;
	}
	return lxd_cmd_dispatch("lxds",
				"lxds isolates kernel-style drivers in lightweight domains that talk\n"
				"to the kernel over cross-core cache-line channels (fIPC).",
				commands, sizeof(commands) / sizeof(commands[0]), argc, argv);
}
