/* SPDX-License-Identifier: MIT */
/*
 * Shared by the driver suites: each runs once per mode (native, isolated),
 * chosen by LXDS_TEST_MODE, and loads the module named by LXDS_TEST_MODULE:
 * the same .so natively or in a sandboxed domain.
 */
#ifndef LXDS_TEST_DRIVER_MODE_H
#define LXDS_TEST_DRIVER_MODE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "lxds/kernel.h"

static enum lxd_module_mode test_mode;
static const char *test_module_path;

/* Read the mode and module path from the environment; exits on bad setup. */
static inline void driver_test_setup(void)
{
	const char *m = getenv("LXDS_TEST_MODE");
	if (lxd_module_mode_parse(m ? m : "native", &test_mode)) {
		fprintf(stderr, "LXDS_TEST_MODE must be native or isolated\n");
		exit(2);
	}
	test_module_path = getenv("LXDS_TEST_MODULE");
	if (!test_module_path) {
		fprintf(stderr, "LXDS_TEST_MODULE must name the driver .so\n");
		exit(2);
	}
}

/*
 * Wait (polling, up to 20 s) until @done(@arg) is true.  Returns true if it
 * became true.  Not a timing assertion: the bound only turns a hang into a
 * failure.
 */
static inline bool wait_until(bool (*done)(void *arg), void *arg)
{
	for (int i = 0; i < 20000; i++) {
		if (done(arg))
			return true;
		struct timespec ts = {0, 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return done(arg);
}

/* Load the module under test with @n parameters; returns lxd_module_load's result. */
static inline int load(struct lxd_module **m, const char *const *params, size_t n)
{
	return lxd_module_load(test_module_path, test_mode, params, n, m);
}

/* Nothing left behind: every test unloads what it loaded, whatever the driver. */
static inline void assert_kernel_clean(void)
{
	struct lxd_kernel_counts c;
	lxd_kernel_get_counts(&c);
	assert_int_equal(c.modules, 0);
	assert_int_equal(c.netdevs, 0);
	assert_int_equal(c.netdevs_registered, 0);
	assert_int_equal(c.skbs, 0);
	assert_int_equal(c.disks, 0);
	assert_int_equal(c.disks_added, 0);
	assert_int_equal(c.requests, 0);
	assert_int_equal(c.data_buffers, 0);
}

/* Load the block driver under test (null_blk) with @n parameters: its first disk, nullb0. */
static inline struct gendisk *load_disk(struct lxd_module **m, const char *const *p, size_t n)
{
	assert_int_equal(load(m, p, n), 0);
	struct gendisk *d = lxd_module_disk(*m, 0);
	assert_non_null(d);
	assert_ptr_equal(lxd_blk_get_disk("nullb0"), d);
	return d;
}

#endif
