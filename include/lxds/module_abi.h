/* SPDX-License-Identifier: MIT */
/*
 * The binary interface between a driver module (.so) and whoever loads it:
 * the kernel natively (kernel/) or a domain (lib/domain, lxds-domain).
 *
 * A module is a shared object built against include/linux/.  Its
 * <linux/module.h> macros (module_init, module_exit, module_param,
 * MODULE_*) produce one exported function:
 *
 *     const struct lxd_module_info *lxd_module_info(void);
 *
 * A loader dlopen()s the module (RTLD_NOW; undefined symbols resolve to the
 * real kernel functions natively, to generated caller stubs in a domain),
 * dlsym()s "lxd_module_info", checks abi == LXD_MODULE_ABI, sets parameters
 * through the param table, then calls init() and, on unload, exit().
 * A module must not have ELF constructors: a domain loads it before it
 * locks itself down, and no driver code may run before that.
 */
#ifndef LXDS_MODULE_ABI_H
#define LXDS_MODULE_ABI_H

#include <stddef.h>
#include <stdint.h>

#define LXD_MODULE_ABI 2u /* 2: blk_mq_ops.commit_rqs */
#define LXD_MODULE_INFO_SYMBOL "lxd_module_info"

enum lxd_param_type {
	LXD_PARAM_BOOL,  /* bool */
	LXD_PARAM_INT,   /* int */
	LXD_PARAM_UINT,  /* unsigned int */
	LXD_PARAM_ULONG, /* unsigned long */
	LXD_PARAM_CHARP, /* char * (points at a string that outlives the module) */
};

struct lxd_module_param {
	const char *name;
	enum lxd_param_type type;
	void *ptr;        /* the module's variable */
	const char *desc; /* from MODULE_PARM_DESC, or "" */
};

struct lxd_module_info {
	uint32_t abi;          /* LXD_MODULE_ABI */
	const char *name;      /* module name (file name without .so) */
	const char *license;   /* MODULE_LICENSE, or "" */
	const char *description;
	int (*init)(void);     /* module_init; 0 or -errno */
	void (*exit)(void);    /* module_exit; may be NULL */
	const struct lxd_module_param *params;
	size_t nparams;
};

typedef const struct lxd_module_info *(*lxd_module_info_fn)(void);

/*
 * Set parameter "name=value" on @info (shared by every loader).  Returns 0,
 * -ENOENT for an unknown name, -EINVAL for a value that does not parse or
 * does not fit the type.  Implemented in lib/util/modparam.c.
 */
int lxd_module_set_param(const struct lxd_module_info *info, const char *assignment);

#endif
