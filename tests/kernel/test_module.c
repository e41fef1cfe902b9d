/* SPDX-License-Identifier: MIT */
/* The module loader: ABI checks, parameters, init failure, modes, cleanup after a leaky module. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <linux/netdevice.h>

#include "lxds/kernel.h"

static const char *mod(const char *env)
{
	const char *p = getenv(env);
	if (!p)
		fail_msg("%s not set", env);
	return p;
}

static void assert_clean(void)
{
	struct lxd_kernel_counts c;
	lxd_kernel_get_counts(&c);
	assert_int_equal(c.modules, 0);
	assert_int_equal(c.netdevs, 0);
	assert_int_equal(c.netdevs_registered, 0);
}

static void test_params_reach_the_module(void **state)
{
	(void)state;
	struct lxd_module *m;
	const char *p[] = {"flag=y", "count=42", "big_one=0x10", "label=abcdef"};
	assert_int_equal(lxd_module_load(mod("TESTMOD"), LXD_MODULE_NATIVE, p, 4, &m), 0);
	assert_string_equal(lxd_module_name(m), "testmod");
	assert_non_null(dev_get_by_name("t14216abcd"));
	const struct lxd_module_info *info = lxd_module_get_info(m);
	assert_string_equal(info->license, "MIT");
	assert_string_equal(info->description, "loader test module");
	assert_int_equal(info->nparams, 6);
	bool saw_desc = false;
	for (size_t i = 0; i < info->nparams; i++) {
		if (!strcmp(info->params[i].name, "label")) {
			assert_string_equal(info->params[i].desc, "a string");
			saw_desc = true;
		}
		if (!strcmp(info->params[i].name, "count"))
			assert_string_equal(info->params[i].desc, "");
	}
	assert_true(saw_desc);
	assert_int_equal(lxd_module_unload(m), 0);
	assert_clean();
}

static void test_defaults(void **state)
{
	(void)state;
	struct lxd_module *m;
	assert_int_equal(lxd_module_load(mod("TESTMOD"), LXD_MODULE_NATIVE, NULL, 0, &m), 0);
	assert_non_null(dev_get_by_name("t070none"));
	assert_int_equal(lxd_module_unload(m), 0);
	assert_clean();
}

static void test_bad_params(void **state)
{
	(void)state;
	struct lxd_module *m = (void *)1;
	const char *unknown[] = {"nosuch=1"}, *badbool[] = {"flag=maybe"}, *neg[] = {"count=-1"},
		   *noeq[] = {"count"};
	assert_int_equal(lxd_module_load(mod("TESTMOD"), LXD_MODULE_NATIVE, unknown, 1, &m), -ENOENT);
	assert_null(m);
	assert_int_equal(lxd_module_load(mod("TESTMOD"), LXD_MODULE_NATIVE, badbool, 1, &m), -EINVAL);
	assert_int_equal(lxd_module_load(mod("TESTMOD"), LXD_MODULE_NATIVE, neg, 1, &m), -EINVAL);
	assert_int_equal(lxd_module_load(mod("TESTMOD"), LXD_MODULE_NATIVE, noeq, 1, &m), -EINVAL);
	assert_clean();
}

static void test_init_failure(void **state)
{
	(void)state;
	struct lxd_module *m;
	const char *p[] = {"fail=-12"};
	assert_int_equal(lxd_module_load(mod("TESTMOD"), LXD_MODULE_NATIVE, p, 1, &m), -ENOMEM);
	const char *q[] = {"fail=5"}; /* not a -errno */
	assert_int_equal(lxd_module_load(mod("TESTMOD"), LXD_MODULE_NATIVE, q, 1, &m), -EINVAL);
	assert_clean();
}

static void test_not_modules(void **state)
{
	(void)state;
	struct lxd_module *m;
	assert_int_equal(lxd_module_load("/nonexistent/x.so", LXD_MODULE_NATIVE, NULL, 0, &m), -ENOENT);
	assert_int_equal(lxd_module_load(mod("NOTMOD"), LXD_MODULE_NATIVE, NULL, 0, &m), -ENOEXEC);
	/* A module needing a symbol the kernel lacks fails at load (RTLD_NOW), not at the call. */
	assert_int_equal(lxd_module_load(mod("NEEDSYM"), LXD_MODULE_NATIVE, NULL, 0, &m), -ENOEXEC);
	/* Isolated, a non-module fails too (its domain refuses it at start: kernel/isolated/). */
	int rc = lxd_module_load(mod("NOTMOD"), LXD_MODULE_ISOLATED, NULL, 0, &m);
	assert_true(rc < 0 && rc != -ENOSYS);
	assert_int_equal(lxd_module_load(mod("TESTMOD"), (enum lxd_module_mode)9, NULL, 0, &m), -EINVAL);
	assert_clean();
}

static void test_leaky_module_is_cleaned_up(void **state)
{
	(void)state;
	struct lxd_module *m;
	const char *p[] = {"leak=1"};
	assert_int_equal(lxd_module_load(mod("TESTMOD"), LXD_MODULE_NATIVE, p, 1, &m), 0);
	struct net_device *dev = lxd_module_netdev(m, 0);
	assert_non_null(dev);
	assert_int_equal(dev_open(dev), 0);
	assert_int_equal(lxd_module_unload(m), 0);
	assert_null(dev_get_by_name("t070none"));
	assert_clean();
}

static void test_find(void **state)
{
	(void)state;
	char buf[4096];
	const char *path = mod("TESTMOD");
	char dir[4096];
	snprintf(dir, sizeof(dir), "/nonexistent:%s", path);
	*strrchr(dir, '/') = 0;
	setenv("LXDS_DRIVER_PATH", dir, 1);
	assert_int_equal(lxd_module_find("testmod", buf, sizeof(buf)), 0);
	assert_string_equal(buf, path);
	assert_int_equal(lxd_module_find("nosuchmodule", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(lxd_module_find("../etc/passwd", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(lxd_module_find("testmod", buf, 8), -ENAMETOOLONG);
	unsetenv("LXDS_DRIVER_PATH");
	enum lxd_module_mode mode;
	assert_int_equal(lxd_module_mode_parse("isolated", &mode), 0);
	assert_int_equal(mode, LXD_MODULE_ISOLATED);
	assert_int_equal(lxd_module_mode_parse("Native", &mode), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params_reach_the_module),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_bad_params),
		cmocka_unit_test(test_init_failure),
		cmocka_unit_test(test_not_modules),
		cmocka_unit_test(test_leaky_module_is_cleaned_up),
		cmocka_unit_test(test_find),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
