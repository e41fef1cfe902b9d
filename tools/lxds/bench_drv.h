/* SPDX-License-Identifier: MIT */
/*
 * Pieces shared by the driver benchmarks (bench net, bench blk): the
 * driver options, loading a driver in a mode with one clear message when
 * that mode is not available, and the results table.
 */
#ifndef LXDS_TOOL_BENCH_DRV_H
#define LXDS_TOOL_BENCH_DRV_H

#include <stdbool.h>
#include <stddef.h>

#include "bench.h"
#include "lxds/kernel.h"

#define BENCH_DRV_MAX_PARAMS 16

struct bench_drv {
	const char *driver;
	const char *params[BENCH_DRV_MAX_PARAMS];
	size_t nparams;
};

/*
 * If argv[*i] is --driver NAME or --param name=value, consume it (and its
 * value) into @d.  Returns 1 when consumed, 0 when not one of these, -1
 * after printing an error.
 */
int bench_drv_opt(const char *bench, int argc, char **argv, int *i, struct bench_drv *d);

/*
 * Split argv into the options @take accepts (returns 1/0/-1 like
 * bench_drv_opt) and the rest, which go to bench_parse.  @rest must have
 * room for argc + 1 pointers.  Returns the count of @rest, or -1 on error.
 */
int bench_split(int argc, char **argv, char **rest,
		int (*take)(void *ctx, int argc, char **argv, int *i), void *ctx);

/*
 * Find driver module @driver ("dummy") and load it in @mode with @nparams
 * "name=value" parameters, for the command @cmd ("net", "bench blk",
 * "demo": it names the command in messages).  Returns 0 with *@m set, or
 * -errno after printing why on stderr (-ENOSYS: the mode is unavailable).
 */
int lxd_tool_load_driver(const char *cmd, const char *driver, const char *const *params,
			 size_t nparams, enum lxd_module_mode mode, struct lxd_module **m);

/*
 * One fio run (bench blk's): null_blk, 4 KiB random reads at @qd for
 * @runtime_s seconds, the job on @cpu.  0 with *@iops set; -ENOENT when
 * the engine is not built (nothing printed); else -errno after fio's
 * complaint.
 */
int bench_blk_fio_iops(enum lxd_module_mode mode, unsigned qd, unsigned runtime_s, int cpu, double *iops);

/* lxd_tool_load_driver() for a bench: @d's driver and parameters, "bench @bench" in messages. */
int bench_drv_load(const char *bench, const struct bench_drv *d, enum lxd_module_mode mode,
		   struct lxd_module **m);

/* "a=1,b=2": the parameters joined with ',' into @buf (empty when none). */
void bench_drv_params(const struct bench_drv *d, char *buf, size_t len);

/* A number for a table cell: "%.3g<unit>" scaled (k, M), or "n/a" when NaN. */
const char *bench_fmt(char *buf, size_t len, double v, const char *unit);
/* The range of @n per-round ratios for a table cell, "0.81-0.93" (empty when none). */
const char *bench_fmt_range(char *buf, size_t len, const double *v, size_t n);

#endif
