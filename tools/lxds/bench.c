/* SPDX-License-Identifier: MIT */
/* lxds bench: one subcommand per layer. */
#include "bench.h"
#include "cmd.h"

static const struct lxd_cmd benches[] = {
	{"fipc", "cross-core channel round trip and throughput vs the hardware floor", lxd_bench_fipc},
	{"async", "lightweight threads: switch, async create/finish, awaited cross-core calls", lxd_bench_async},
	{"net", "packets/s into dummy: native vs isolated sync, async, batch", lxd_bench_net},
	{"blk", "fio through the lxds ioengine: null_blk IOPS native vs isolated at qd 1/32/128", lxd_bench_blk},
	{"idl", "generated glue vs a hand-written call: null call inline, 64-byte array spilled", lxd_bench_idl},
};

int lxd_cmd_bench(int argc, char **argv)
{
	return lxd_cmd_dispatch("lxds bench",
				"Benchmarks.  Each compares side by side in one run, interleaved,\n"
				"and reports medians of per-round ratios.  --json prints one object.",
				benches, sizeof(benches) / sizeof(benches[0]), argc, argv);
}
