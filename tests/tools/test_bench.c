/* SPDX-License-Identifier: MIT */
/*
 * lxds bench net / bench blk as a user runs them: --json prints one object
 * with the keys the evaluation reads (numbers, or null for a case that is
 * not available), the native case measured something, and bad options
 * fail with a message rather than a crash.  No timing is asserted.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "run.h"

static char *lxds;
static const char *engine;

static void lxds_run(struct run_result *r, ...)
{
	char *argv[32] = {lxds};
	int n = 1;
	va_list ap;
	va_start(ap, r);
	for (char *a; (a = va_arg(ap, char *)) && n < 31;)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	assert_int_equal(run(argv, r), 0);
}

/* @key is in the one JSON object on stdout: a number > 0 if @positive, else a number or null. */
static void assert_key(const char *json, const char *key, bool positive)
{
	bool null;
	double v;
	if (!json_get(json, key, &null, &v))
		fail_msg("key %s missing from:\n%s", key, json);
	if (positive)
		assert_true(!null && v > 0);
	else
		assert_true(null || isfinite(v));
}

/* Exactly one object: starts with '{', ends with "}\n", nothing else on stdout. */
static void assert_one_object(const char *out)
{
	assert_int_equal(out[0], '{');
	size_t n = strlen(out);
	assert_true(n >= 3 && !strcmp(out + n - 2, "}\n"));
	assert_null(strchr(out + 1, '{'));
}

/* Array @key holds one ratio a round (@rounds of them, or none when @median_key is null) whose
 * median is the reported @median_key: the spread and the figure come from the same rounds. */
static void assert_rounds(const char *json, const char *key, const char *median_key, int rounds)
{
	double v[16], m;
	bool null;
	int n = json_get_nums(json, key, v, 16);
	if (n < 0)
		fail_msg("array %s missing or malformed in:\n%s", key, json);
	assert_true(json_get(json, median_key, &null, &m));
	if (null) {
		assert_int_equal(n, 0);
		return;
	}
	assert_int_equal(n, rounds);
	for (int i = 0; i < n; i++)
		assert_true(isfinite(v[i]) && v[i] > 0);
	/* The median, by hand: sorted, middle (or the mean of the two middle ones). */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	assert_true(fabs(med - m) <= 1e-5 * m); /* both printed to 6 digits */
}

static void net_json(void **state)
{
	(void)state;
	struct run_result r;
	lxds_run(&r, "bench", "net", "--json", "--quiet", "--rounds", "2", "--packets", "20000", (char *)NULL);
	if (r.status)
		fprintf(stderr, "%s", r.err);
	assert_int_equal(r.status, 0);
	assert_one_object(r.out);
	assert_key(r.out, "native_pps", true);
	assert_key(r.out, "isolated_sync_pps", false);
	assert_key(r.out, "isolated_async_pps", false);
	assert_key(r.out, "isolated_batch_pps", false);
	assert_key(r.out, "ratio_best", false);
	assert_key(r.out, "atc19_ratio", true);
	assert_rounds(r.out, "ratio_sync_rounds", "ratio_sync", 2);
	assert_rounds(r.out, "ratio_async_rounds", "ratio_async", 2);
	assert_rounds(r.out, "ratio_batch_rounds", "ratio_batch", 2);
	assert_rounds(r.out, "ratio_best_rounds", "ratio_best", 2);
	/* Native with the domain's CPU kept busy: measured (two CPUs here), with its ratio to native
	 * and the best isolated case's ratio to it, each from the same rounds as its spread. */
	assert_key(r.out, "native_busy_pps", true);
	assert_rounds(r.out, "ratio_busy_rounds", "ratio_busy", 2);
	assert_rounds(r.out, "ratio_best_vs_busy_rounds", "ratio_best_vs_busy", 2);
	bool null;
	double v;
	/* ratio_best is the best isolated case's, never native busy's. */
	double best, rs[3];
	const char *iso_keys[3] = {"ratio_sync", "ratio_async", "ratio_batch"};
	assert_true(json_get(r.out, "ratio_best", &null, &best) && !null);
	bool is_one = false;
	for (int i = 0; i < 3; i++) {
		assert_true(json_get(r.out, iso_keys[i], &null, &rs[i]));
		assert_true(null || rs[i] <= best);
		is_one |= !null && rs[i] == best;
	}
	assert_true(is_one);
	assert_true(json_get(r.out, "size", &null, &v) && v == 64);
	/* Batching at work: more than one skb a message, at most a batch's 64. */
	assert_key(r.out, "isolated_batch_skbs_per_msg", false);
	assert_true(json_get(r.out, "isolated_batch_skbs_per_msg", &null, &v));
	assert_true(null || (v > 1 && v <= 64));
	run_free(&r);
	/* --size is honoured. */
	lxds_run(&r, "bench", "net", "--json", "--quiet", "--rounds", "1", "--packets", "1000", "--size", "1514",
		 (char *)NULL);
	assert_int_equal(r.status, 0);
	assert_true(json_get(r.out, "size", &null, &v) && v == 1514);
	assert_key(r.out, "native_pps", true);
	run_free(&r);
	/* --cases: only those run; the others are null. */
	lxds_run(&r, "bench", "net", "--json", "--quiet", "--rounds", "1", "--packets", "1000", "--cases", "native",
		 (char *)NULL);
	assert_int_equal(r.status, 0);
	assert_key(r.out, "native_pps", true);
	assert_true(json_get(r.out, "isolated_sync_pps", &null, &v) && null);
	assert_true(json_get(r.out, "isolated_batch_pps", &null, &v) && null);
	assert_true(json_get(r.out, "ratio_best", &null, &v) && null);
	assert_rounds(r.out, "ratio_best_rounds", "ratio_best", 0); /* nothing to compare: empty */
	assert_true(json_get(r.out, "native_busy_pps", &null, &v) && null);
	assert_rounds(r.out, "ratio_best_vs_busy_rounds", "ratio_best_vs_busy", 0);
	run_free(&r);
	/* The busy case needs a CPU other than the kernel's: n/a with a message, the rest still measured. */
	lxds_run(&r, "bench", "net", "--json", "--quiet", "--rounds", "1", "--packets", "1000", "--cases",
		 "native,busy", "--cpus", "0,0", (char *)NULL);
	assert_int_equal(r.status, 0);
	assert_key(r.out, "native_pps", true);
	assert_true(json_get(r.out, "native_busy_pps", &null, &v) && null);
	assert_true(json_get(r.out, "ratio_busy", &null, &v) && null);
	assert_non_null(strstr(r.err, "needs a second CPU"));
	run_free(&r);
}

static void expect_error(const char *message, ...)
{
	char *argv[32] = {lxds};
	int n = 1;
	va_list ap;
	va_start(ap, message);
	for (char *a; (a = va_arg(ap, char *)) && n < 31;)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	struct run_result r;
	assert_int_equal(run(argv, &r), 0);
	if (!strstr(r.err, message))
		fprintf(stderr, "expected '%s' in:\n%s\n", message, r.err);
	assert_int_not_equal(r.status, 0);
	assert_true(r.status < 128); /* an exit, not a signal */
	assert_non_null(strstr(r.err, message));
	assert_string_equal(r.out, "");
	run_free(&r);
}

static void net_bad_options(void **state)
{
	(void)state;
	expect_error("--size must be 14..1514", "bench", "net", "--size", "9000", "--rounds", "1", (char *)NULL);
	expect_error("--size must be 14..1514", "bench", "net", "--size", "10", "--rounds", "1", (char *)NULL);
	expect_error("option --packets", "bench", "net", "--packets", "many", (char *)NULL);
	expect_error("--param takes one name=value", "bench", "net", "--param", "nonsense", (char *)NULL);
	expect_error("no such parameter", "bench", "net", "--param", "bogus=1", "--rounds", "1", (char *)NULL);
	expect_error("driver 'nope' not found", "bench", "net", "--driver", "nope", (char *)NULL);
	expect_error("unknown option '--frobnicate'", "bench", "net", "--frobnicate", (char *)NULL);
	expect_error("--rounds needs a number", "bench", "net", "--rounds", "0", (char *)NULL);
	expect_error("unknown case 'fast'", "bench", "net", "--cases", "native,fast", (char *)NULL);
	expect_error("--cases needs a list", "bench", "net", "--cases", (char *)NULL);
}

static void blk_json(void **state)
{
	(void)state;
	if (!engine || !*engine)
		skip();
	struct run_result r;
	lxds_run(&r, "bench", "blk", "--json", "--quiet", "--rounds", "1", "--runtime", "1", "--qd", "1,32",
		 "--clocksource", "clock_gettime", "--engine", engine, (char *)NULL);
	if (r.status)
		fprintf(stderr, "%s", r.err);
	assert_int_equal(r.status, 0);
	assert_one_object(r.out);
	assert_key(r.out, "native_iops_qd32", true);
	assert_key(r.out, "native_iops_qd1", true);
	assert_key(r.out, "isolated_iops_qd32", false);
	assert_key(r.out, "ratio_qd32", false);
	assert_key(r.out, "ratio_qd1", false);
	assert_key(r.out, "atc19_ratio", true);
	assert_rounds(r.out, "ratio_qd32_rounds", "ratio_qd32", 1);
	assert_rounds(r.out, "ratio_qd1_rounds", "ratio_qd1", 1);
	/* Every fio run was told the clock asked for (both modes alike). */
	assert_non_null(strstr(r.out, "\"fio_clocksource\": \"clock_gettime\""));
	/* Native busy, for the plain cases only; its two ratios come from the same runs as
	 * ratio_qd32: isolated / busy = (isolated / native) / (busy / native). */
	assert_key(r.out, "native_busy_iops_qd32", true);
	assert_key(r.out, "native_busy_iops_qd1", true);
	assert_rounds(r.out, "ratio_busy_qd32_rounds", "ratio_busy_qd32", 1);
	assert_rounds(r.out, "ratio_vs_busy_qd32_rounds", "ratio_vs_busy_qd32", 1);
	assert_null(strstr(r.out, "native_busy_iops_qd32_batch"));
	bool null;
	double iso, busy, vs;
	assert_true(json_get(r.out, "ratio_qd32", &null, &iso) && !null);
	assert_true(json_get(r.out, "ratio_busy_qd32", &null, &busy) && !null);
	assert_true(json_get(r.out, "ratio_vs_busy_qd32", &null, &vs) && !null);
	assert_true(fabs(vs - iso / busy) <= 1e-4 * vs);
	run_free(&r);
	/* No second CPU for the busy runs: n/a with a message, the rest measured. */
	lxds_run(&r, "bench", "blk", "--json", "--quiet", "--rounds", "1", "--runtime", "1", "--qd", "1", "--batch",
		 "0", "--cpus", "0,0", "--clocksource", "clock_gettime", "--engine", engine, (char *)NULL);
	assert_int_equal(r.status, 0);
	assert_key(r.out, "native_iops_qd1", true);
	assert_true(json_get(r.out, "native_busy_iops_qd1", &null, &busy) && null);
	assert_true(json_get(r.out, "ratio_vs_busy_qd1", &null, &vs) && null);
	assert_non_null(strstr(r.err, "needs a second CPU"));
	run_free(&r);
}

static void blk_bad_options(void **state)
{
	(void)state;
	expect_error("--qd takes a list", "bench", "blk", "--qd", "0", (char *)NULL);
	expect_error("--qd takes a list", "bench", "blk", "--qd", "1,,2", (char *)NULL);
	expect_error("option --runtime", "bench", "blk", "--runtime", "-1", (char *)NULL);
	expect_error("--clocksource takes cpu, clock_gettime or gettimeofday", "bench", "blk", "--clocksource",
		     "tsc", (char *)NULL);
	expect_error("--clocksource takes cpu", "bench", "blk", "--clocksource", (char *)NULL);
	expect_error("fio engine /nonexistent/lxds_fio.so", "bench", "blk", "--engine", "/nonexistent/lxds_fio.so",
		     (char *)NULL);
	if (engine && *engine) {
		expect_error("no such parameter", "bench", "blk", "--engine", engine, "--param", "bogus=1",
			     (char *)NULL);
		expect_error("cannot run /nonexistent/fio", "bench", "blk", "--engine", engine, "--fio",
			     "/nonexistent/fio", "--rounds", "1", "--qd", "1", "--runtime", "1", (char *)NULL);
	}
}

int main(void)
{
	lxds = getenv("LXDS_TOOL");
	engine = getenv("LXDS_FIO_ENGINE");
	if (getenv("LXDS_FIO_SKIP")) {
		printf("fio cases skip: %s\n", getenv("LXDS_FIO_SKIP"));
		engine = NULL;
	}
	if (!lxds) {
		printf("LXDS_TOOL is not set (run through meson test)\n");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(net_json),
		cmocka_unit_test(net_bad_options),
		cmocka_unit_test(blk_json),
		cmocka_unit_test(blk_bad_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
