/* SPDX-License-Identifier: MIT */
/* Shared pieces of the benchmarks: options, statistics, output. */
#ifndef LXDS_TOOL_BENCH_H
#define LXDS_TOOL_BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct bench_opts {
	bool json;          /* print one JSON object on stdout */
	unsigned rounds;    /* interleaved rounds; medians are over these */
	int cpu[2];         /* kernel side, peer side */
	bool quiet;         /* no progress on stderr */
};

/*
 * Parse the options every bench takes (--json, --rounds N, --cpus A,B,
 * --quiet, --help).  @extra describes bench-specific options for --help.
 * Returns 0 to go on, or an exit code + 1 (1 = exit 0 after help, 3 = bad usage).
 */
int bench_parse(int argc, char **argv, const char *name, const char *about,
		unsigned default_rounds, struct bench_opts *o);

/* Progress line on stderr ("name: round 3/11"), unless quiet. */
void bench_progress(const struct bench_opts *o, const char *name, unsigned round, unsigned rounds);

/* Median and the p-th percentile (0..100) of @n values; @v is sorted in place. */
double stats_median(double *v, size_t n);
double stats_percentile(double *v, size_t n, double p);
/* The median of @v[0..@n), left in its order (@scratch: room for @n). */
double stats_median_of(const double *v, size_t n, double *scratch);
/* The smallest and largest finite values of @v[0..@n) (NAN when none). */
void stats_range(const double *v, size_t n, double *lo, double *hi);

/* JSON object output: bench_json_begin, then fields, then end. */
void json_begin(FILE *f);
void json_num(FILE *f, const char *key, double v);
void json_str(FILE *f, const char *key, const char *v);
/* "key": [v0, v1, ...], null for a value that is not finite. */
void json_nums(FILE *f, const char *key, const double *v, size_t n);
void json_end(FILE *f);

/* A thread keeping @cpu awake, polling with pause as an idle domain does (bench_busy.c). */
struct bench_busy {
	pthread_t t;
	int cpu;
	int err; /* pinning failed: -errno */
	atomic_bool started, stop;
};
/* Start it; it runs on @cpu once this returns 0.  -errno when it cannot run there. */
int bench_busy_start(struct bench_busy *s, int cpu);
void bench_busy_stop(struct bench_busy *s);

/* Benches. */
int lxd_bench_fipc(int argc, char **argv);
int lxd_bench_async(int argc, char **argv);
int lxd_bench_net(int argc, char **argv);
int lxd_bench_blk(int argc, char **argv);
int lxd_bench_idl(int argc, char **argv);

#endif
