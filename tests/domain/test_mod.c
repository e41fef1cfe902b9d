/* SPDX-License-Identifier: MIT */
/*
 * A tiny driver module for the domain tests.  Its one undefined symbol,
 * test_glue_note(), is provided by test_glue.so: the domain must load the
 * glue first, with RTLD_GLOBAL, for this module to load at all.
 */
#include <stdbool.h>

#include "lxds/module_abi.h"

void test_glue_note(const char *what);

static int fail_init;

static int mod_init(void)
{
	test_glue_note("init");
	return -fail_init;
}

static void mod_exit(void) { test_glue_note("exit"); }

static const struct lxd_module_param params[] = {
	{"fail_init", LXD_PARAM_INT, &fail_init, "init returns -fail_init"},
};

static const struct lxd_module_info info = {
	.abi = LXD_MODULE_ABI,
	.name = "test_mod",
	.license = "MIT",
	.description = "domain test module",
	.init = mod_init,
	.exit = mod_exit,
	.params = params,
	.nparams = 1,
};

const struct lxd_module_info *lxd_module_info(void) { return &info; }
