/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "bench_drv.h"
#include "cmd.h"

int bench_drv_opt(const char *bench, int argc, char **argv, int *i, struct bench_drv *d)
{
	const char *a = argv[*i];
	if (strcmp(a, "--driver") && strcmp(a, "--param"))
		return 0;
	const char *v = *i + 1 < argc ? argv[*i + 1] : NULL;
	if (!v) {
		fprintf(stderr, "lxds bench %s: %s needs a value\n", bench, a);
		return -1;
	}
	(*i)++;
	if (!strcmp(a, "--driver")) {
		d->driver = v;
		return 1;
	}
	if (d->nparams == BENCH_DRV_MAX_PARAMS || !strchr(v, '=') || v[0] == '=' || strchr(v, ',')) {
		fprintf(stderr, "lxds bench %s: --param takes one name=value (at most %d)\n", bench,
			BENCH_DRV_MAX_PARAMS);
		return -1;
	}
	d->params[d->nparams++] = v;
	return 1;
}

int bench_split(int argc, char **argv, char **rest, int (*take)(void *ctx, int argc, char **argv, int *i),
		void *ctx)
{
	int n = 0;
	rest[n++] = argv[0];
	for (int i = 1; i < argc; i++) {
		int r = take(ctx, argc, argv, &i);
		if (r < 0)
			return -1;
		if (!r)
			rest[n++] = argv[i];
	}
	rest[n] = NULL;
	return n;
}

int lxd_tool_load_driver(const char *cmd, const char *driver, const char *const *params,
			 size_t nparams, enum lxd_module_mode mode, struct lxd_module **m)
{
	char path[4096];
	int err = lxd_module_find(driver, path, sizeof(path));
	if (err) {
		fprintf(stderr, "lxds %s: driver '%s' not found (%s); set LXDS_DRIVER_PATH to the folder of %s.so\n",
			cmd, driver, strerror(-err), driver);
		return err;
	}
	err = lxd_module_load(path, mode, params, nparams, m);
	if (err == -ENOSYS)
		fprintf(stderr, "lxds %s: isolated mode is not available in this build\n", cmd);
	else if (err)
		fprintf(stderr, "lxds %s: loading %s %s failed: %s\n", cmd, path,
			mode == LXD_MODULE_NATIVE ? "native" : "isolated", strerror(-err));
	return err;
}

int bench_drv_load(const char *bench, const struct bench_drv *d, enum lxd_module_mode mode,
		   struct lxd_module **m)
{
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "bench %s", bench);
	return lxd_tool_load_driver(cmd, d->driver, d->params, d->nparams, mode, m);
}

void bench_drv_params(const struct bench_drv *d, char *buf, size_t len)
{
	size_t used = 0;
	buf[0] = 0;
	for (size_t i = 0; i < d->nparams && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "," : "", d->params[i]);
}

const char *bench_fmt(char *buf, size_t len, double v, const char *unit)
{
	if (!isfinite(v))
		snprintf(buf, len, "n/a");
	else if (v >= 1e6)
		snprintf(buf, len, "%.2f M%s", v / 1e6, unit);
	else if (v >= 1e3)
		snprintf(buf, len, "%.1f k%s", v / 1e3, unit);
	else
		snprintf(buf, len, "%.3g %s", v, unit);
	return buf;
}

const char *bench_fmt_range(char *buf, size_t len, const double *v, size_t n)
{
	double lo, hi;
	stats_range(v, n, &lo, &hi);
	if (isfinite(lo))
		snprintf(buf, len, "%.2f-%.2f", lo, hi);
	else if (len)
		buf[0] = 0;
	return buf;
}
