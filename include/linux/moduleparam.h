/* SPDX-License-Identifier: MIT */
/* module_param and friends live in <linux/module.h>. */
#include <linux/module.h>
