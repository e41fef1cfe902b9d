// SPDX-License-Identifier: MIT
/* A module calling a function the kernel does not have: its load must fail cleanly. */
#include <linux/module.h>

int lxd_no_such_kernel_function(void);

static int n_init(void) { return lxd_no_such_kernel_function(); }

module_init(n_init);
