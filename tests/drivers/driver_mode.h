/* SPDX-License-Identifier: MIT */
/*
 * Shared by the driver suites: each runs once per mode (native, isolated),
 * chosen by LXDS_TEST_MODE, and loads the module named by LXDS_TEST_MODULE.
 * Until domains land, the isolated run is reported as skipped (exit 77).
 */
#ifndef LXDS_TEST_DRIVER_MODE_H
#define LXDS_TEST_DRIVER_MODE_H

#include <stdio.h>
#include <stdlib.h>

#include "lxds/kernel.h"

#define SKIP_EXIT 77

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
	if (test_mode == LXD_MODULE_ISOLATED) {
		struct lxd_module *mod;
		if (lxd_module_load(test_module_path, test_mode, NULL, 0, &mod) == -ENOSYS) {
			printf("isolated mode is not available yet: skipped\n");
			exit(SKIP_EXIT);
		}
		lxd_module_unload(mod);
	}
}

/* Load the module under test with @n parameters; returns lxd_module_load's result. */
static inline int load(struct lxd_module **m, const char *const *params, size_t n)
{
	return lxd_module_load(test_module_path, test_mode, params, n, m);
}

#endif
