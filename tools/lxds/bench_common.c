/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cmd.h"
#include "lxds/util.h"

int bench_parse(int argc, char **argv, const char *name, const char *about,
		unsigned default_rounds, struct bench_opts *o)
{
	o->json = false;
	o->quiet = false;
	o->rounds = default_rounds;
	o->cpu[0] = 0;
	o->cpu[1] = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		unsigned long v;
		if (lxd_is_help(a)) {
			printf("usage: lxds bench %s [--json] [--rounds N] [--cpus A,B] [--quiet]\n\n%s\n\n"
			       "  --json        print one JSON object on stdout (progress stays on stderr)\n"
			       "  --rounds N    interleaved rounds to take medians over (default %u)\n"
			       "  --cpus A,B    CPUs for the kernel side and the peer (default 0,1)\n"
			       "  --quiet       no progress output\n",
			       name, about, default_rounds);
			return 1;
		} else if (strcmp(a, "--json") == 0) {
			o->json = true;
		} else if (strcmp(a, "--quiet") == 0) {
			o->quiet = true;
		} else if (strcmp(a, "--rounds") == 0) {
			if (!lxd_parse_uint(a, i + 1 < argc ? argv[++i] : NULL, 100000, &v) || v == 0) {
				fprintf(stderr, "lxds bench %s: --rounds needs a number >= 1\n", name);
				return 3;
			}
			o->rounds = (unsigned)v;
		} else if (strcmp(a, "--cpus") == 0) {
			const char *s = i + 1 < argc ? argv[++i] : "";
			int a0, a1, used = 0;
			if (sscanf(s, "%d,%d%n", &a0, &a1, &used) != 2 || s[used] || a0 < 0 || a1 < 0 ||
			    a0 >= lxd_cpu_count() || a1 >= lxd_cpu_count()) {
				fprintf(stderr, "lxds bench %s: --cpus wants two CPU numbers below %d, like 0,1\n",
					name, lxd_cpu_count());
				return 3;
			}
			o->cpu[0] = a0;
			o->cpu[1] = a1;
		} else {
			fprintf(stderr, "lxds bench %s: unknown option '%s' (try --help)\n", name, a);
			return 3;
		}
	}
	return 0;
}

void bench_progress(const struct bench_opts *o, const char *name, unsigned round, unsigned rounds)
{
	if (!o->quiet)
		fprintf(stderr, "\r%s: round %u/%u%s", name, round, rounds, round == rounds ? "\n" : "");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double stats_percentile(double *v, size_t n, double p)
{
	if (n == 0)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	double pos = p / 100.0 * (double)(n - 1);
	size_t lo = (size_t)pos;
	if (lo + 1 >= n)
		return v[n - 1];
	double frac = pos - (double)lo;
	return v[lo] * (1 - frac) + v[lo + 1] * frac;
}

double stats_median(double *v, size_t n) { return stats_percentile(v, n, 50); }

double stats_median_of(const double *v, size_t n, double *scratch)
{
	memcpy(scratch, v, n * sizeof(*v));
	return stats_median(scratch, n);
}

void stats_range(const double *v, size_t n, double *lo, double *hi)
{
	*lo = *hi = NAN;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(v[i]))
			continue;
		if (isnan(*lo) || v[i] < *lo)
			*lo = v[i];
		if (isnan(*hi) || v[i] > *hi)
			*hi = v[i];
	}
}

static bool json_first;

void json_begin(FILE *f)
{
	fputc('{', f);
	json_first = true;
}

static void json_key(FILE *f, const char *key)
{
	fprintf(f, "%s\n  \"%s\": ", json_first ? "" : ",", key);
	json_first = false;
}

void json_num(FILE *f, const char *key, double v)
{
	json_key(f, key);
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

void json_nums(FILE *f, const char *key, const double *v, size_t n)
{
	json_key(f, key);
	fputc('[', f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputs(", ", f);
		if (isfinite(v[i]))
			fprintf(f, "%.6g", v[i]);
		else
			fputs("null", f);
	}
	fputc(']', f);
}

void json_str(FILE *f, const char *key, const char *v)
{
	json_key(f, key);
	fputc('"', f);
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', f);
		fputc(*p, f);
	}
	fputc('"', f);
}

void json_end(FILE *f) { fputs("\n}\n", f); }
