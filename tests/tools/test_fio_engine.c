/* SPDX-License-Identifier: MIT */
/*
 * The fio ioengine (tools/fio/lxds_fio.so), driven by the real fio:
 * data written through it is read back intact (fio verify=crc32c on a
 * memory-backed null_blk) for every completion context, the same job
 * fails when the disk does not keep data (so the check is real), thread
 * mode shares one driver between jobs, and bad engine options fail with
 * a clear message.  Skips (77) when fio or the engine is missing.
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

static const char *engine;

/* fio with the engine and @extra options (NULL-terminated).  The caller frees @r. */
static void fio(struct run_result *r, ...)
{
	char eng[4096];
	snprintf(eng, sizeof(eng), "--ioengine=external:%s", engine);
	char *argv[40] = {"fio", "--output-format=json", "--eta=never", "--name=t", eng};
	int n = 5;
	va_list ap;
	va_start(ap, r);
	for (char *a; (a = va_arg(ap, char *)) && n < 39;)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	assert_int_equal(run(argv, r), 0);
}

/* Write 32 MiB at random with @qd in flight, then read it back and check every block. */
static void verify_job(struct run_result *r, const char *params, const char *mode)
{
	fio(r, "--rw=randwrite", "--bs=4k", "--iodepth=16", "--size=32m", "--verify=crc32c", "--do_verify=1",
	    "--verify_fatal=1", params, mode, (char *)NULL);
}

/* The job passed fio's verification: exit 0, job error 0, the read-back phase read everything. */
static void assert_verified(const struct run_result *r)
{
	if (r->status)
		fprintf(stderr, "fio failed (%d):\n%s\n", r->status, r->err);
	assert_int_equal(r->status, 0);
	bool null;
	double v;
	assert_true(json_get(r->out, "error", &null, &v));
	assert_true(v == 0);
	const char *rd = strstr(r->out, "\"read\"");
	assert_non_null(rd);
	assert_true(json_get(rd, "io_bytes", &null, &v));
	assert_true(v == 32.0 * 1024 * 1024);
}

static void verify_inline(void **state)
{
	(void)state;
	struct run_result r;
	verify_job(&r, "--lxds_params=memory_backed=1,gb=1", "--lxds_mode=native");
	assert_verified(&r);
	run_free(&r);
}

/* Completions from the kernel's softirq thread (irqmode 1) and from timers (irqmode 2). */
static void verify_softirq_and_timer(void **state)
{
	(void)state;
	struct run_result r;
	verify_job(&r, "--lxds_params=memory_backed=1:gb=1:irqmode=1", "--lxds_mode=native");
	assert_verified(&r);
	run_free(&r);
	verify_job(&r, "--lxds_params=memory_backed=1:gb=1:irqmode=2:completion_nsec=2000", "--lxds_mode=native");
	assert_verified(&r);
	run_free(&r);
}

/* Without memory_backed null_blk discards data: the same verification must fail. */
static void verify_catches_lost_data(void **state)
{
	(void)state;
	struct run_result r;
	verify_job(&r, "--lxds_params=gb=1", "--lxds_mode=native");
	assert_int_not_equal(r.status, 0);
	assert_non_null(strstr(r.err, "verify"));
	run_free(&r);
}

/* fio's thread mode: two jobs in one process share one loaded driver, on disjoint ranges. */
static void verify_thread_mode(void **state)
{
	(void)state;
	struct run_result r;
	fio(&r, "--thread", "--numjobs=2", "--offset_increment=32m", "--group_reporting", "--rw=randwrite",
	    "--bs=4k", "--iodepth=8", "--size=32m", "--verify=crc32c", "--do_verify=1", "--verify_fatal=1",
	    "--lxds_params=memory_backed=1,gb=1", (char *)NULL);
	if (r.status)
		fprintf(stderr, "fio failed (%d):\n%s\n", r.status, r.err);
	assert_int_equal(r.status, 0);
	bool null;
	double v;
	const char *rd = strstr(r.out, "\"read\"");
	assert_non_null(rd);
	assert_true(json_get(rd, "io_bytes", &null, &v));
	assert_true(v == 64.0 * 1024 * 1024);
	run_free(&r);
}

/* The same verification isolated (the job thread polls: its I/O crosses on its own lane, plugged). */
static void verify_isolated(void **state)
{
	(void)state;
	struct run_result r;
	verify_job(&r, "--lxds_params=memory_backed=1,gb=1", "--lxds_mode=isolated");
	assert_verified(&r);
	run_free(&r);
}

/* Isolated without polling (lxds_poll=0): requests go through the dispatcher thread; timer ends too. */
static void verify_isolated_dispatcher(void **state)
{
	(void)state;
	struct run_result r;
	fio(&r, "--rw=randwrite", "--bs=4k", "--iodepth=16", "--size=32m", "--verify=crc32c", "--do_verify=1",
	    "--verify_fatal=1", "--lxds_params=memory_backed=1:gb=1:irqmode=2:completion_nsec=1000",
	    "--lxds_mode=isolated", "--lxds_poll=0", (char *)NULL);
	assert_verified(&r);
	run_free(&r);
}

/* fio sees the disk the driver made: random reads over all 250 GiB, a pass over exactly 1 GiB. */
static void reads_whole_disk(void **state)
{
	(void)state;
	struct run_result r;
	fio(&r, "--rw=randread", "--bs=4k", "--iodepth=32", "--number_ios=20000", "--norandommap", (char *)NULL);
	assert_int_equal(r.status, 0);
	bool null;
	double v;
	const char *rd = strstr(r.out, "\"read\"");
	assert_non_null(rd);
	assert_true(json_get(rd, "total_ios", &null, &v));
	assert_true(v == 20000);
	run_free(&r);
	/* A sequential pass with no size given covers exactly the driver's 1 GiB disk. */
	fio(&r, "--rw=read", "--bs=256k", "--iodepth=4", "--lxds_params=gb=1", (char *)NULL);
	assert_int_equal(r.status, 0);
	rd = strstr(r.out, "\"read\"");
	assert_non_null(rd);
	assert_true(json_get(rd, "io_bytes", &null, &v));
	assert_true(v == 1024.0 * 1024 * 1024);
	run_free(&r);
}

static void expect_failure2(const char *opt, const char *opt2, const char *message)
{
	struct run_result r;
	fio(&r, "--rw=randread", "--number_ios=10", opt, opt2, (char *)NULL);
	/* The engine's messages go to stderr; fio reports a job's I/O error in its JSON. */
	bool found = strstr(r.err, message) || strstr(r.out, message);
	if (!found)
		fprintf(stderr, "for %s expected '%s' in:\n%s%s\n", opt, message, r.err, r.out);
	assert_int_not_equal(r.status, 0);
	assert_true(found);
	run_free(&r);
}

static void expect_failure(const char *opt, const char *message) { expect_failure2("--bs=4k", opt, message); }

static void bad_options(void **state)
{
	(void)state;
	expect_failure("--lxds_mode=sideways", "lxds_mode must be native or isolated");
	expect_failure("--lxds_driver=no_such_driver", "driver 'no_such_driver' not found");
	expect_failure("--lxds_params=nonsense", "'nonsense' is not name=value");
	expect_failure("--lxds_params=no_such_param=1", "no such parameter");
	expect_failure("--lxds_params=bs=3", "loading");
	/* A block size the disk cannot take is the kernel's -EINVAL, reported as the job's error. */
	expect_failure2("--bs=2k", "--lxds_params=bs=4096", "Invalid argument");
}

int main(void)
{
	engine = getenv("LXDS_FIO_ENGINE");
	if (!engine || !*engine) {
		printf("SKIP: the fio engine was not built (fio or its Debian source missing)\n");
		return 77;
	}
	if (getenv("LXDS_FIO_SKIP")) {
		printf("SKIP: %s\n", getenv("LXDS_FIO_SKIP"));
		return 77;
	}
	struct run_result r;
	char *v[] = {"fio", "--version", NULL};
	if (run(v, &r)) {
		printf("SKIP: fio is not installed\n");
		return 77;
	}
	run_free(&r);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(verify_inline),
		cmocka_unit_test(verify_softirq_and_timer),
		cmocka_unit_test(verify_catches_lost_data),
		cmocka_unit_test(verify_thread_mode),
		cmocka_unit_test(verify_isolated),
		cmocka_unit_test(verify_isolated_dispatcher),
		cmocka_unit_test(reads_whole_disk),
		cmocka_unit_test(bad_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
