/* SPDX-License-Identifier: MIT */
/*
 * Modules, Linux-shaped: module_init, module_exit, module_param,
 * MODULE_PARM_DESC, MODULE_LICENSE, MODULE_DESCRIPTION, MODULE_AUTHOR.
 *
 * Together they produce the one exported function of the module ABI
 * (include/lxds/module_abi.h), lxd_module_info(), defined by module_init's
 * expansion.  No ELF constructor runs: everything is static data, so a domain
 * can load the module before it locks itself down.
 *
 * How the pieces meet without caring about their order in the file:
 * - module_exit, MODULE_LICENSE, MODULE_DESCRIPTION define static variables
 *   that module_init also declares as C tentative definitions; when a macro
 *   is missing the variable stays NULL.
 * - module_param puts a struct lxd_module_param in the ELF section
 *   "lxd_modparam"; the linker brackets it with __start_/__stop_ symbols
 *   (hidden, declared weak here so a module without parameters links).  Its
 *   desc field first holds the address of the parameter's description
 *   variable (a tentative definition that MODULE_PARM_DESC may complete);
 *   lxd_module_info() swaps in the string once, on its first call, which the
 *   loader makes before anything else.
 *
 * <linux/module.h> is also a UAPI header; it is included first so that code
 * wanting its finit_module flags still gets them.
 */
#ifndef LXDS_LINUX_MODULE_H
#define LXDS_LINUX_MODULE_H

#include_next <linux/module.h>
#include <linux/init.h>
#include <linux/printk.h>
#include <linux/types.h>
#include <stdbool.h>

#include "lxds/module_abi.h"

#ifndef KBUILD_MODNAME
#define KBUILD_MODNAME ""
#endif

#define THIS_MODULE ((void *)0)

/* The C type each module_param type token stands for, checked at compile time. */
#define __lxd_ptype_bool bool
#define __lxd_ptype__Bool bool /* bool is a macro: module_param's expansion turns it into _Bool */
#define __lxd_ptype_int int
#define __lxd_ptype_uint unsigned int
#define __lxd_ptype_ulong unsigned long
#define __lxd_ptype_charp char *
#define __lxd_pkind_bool LXD_PARAM_BOOL
#define __lxd_pkind__Bool LXD_PARAM_BOOL
#define __lxd_pkind_int LXD_PARAM_INT
#define __lxd_pkind_uint LXD_PARAM_UINT
#define __lxd_pkind_ulong LXD_PARAM_ULONG
#define __lxd_pkind_charp LXD_PARAM_CHARP

#define module_param_named(name, var, type, perm)                                              \
	_Static_assert(__builtin_types_compatible_p(__typeof__(var), __lxd_ptype_##type),        \
		       "module_param " #name ": variable is not of type " #type);                 \
	static const char *__lxd_pdesc_##name;                                                    \
	static struct lxd_module_param __lxd_param_##name                                         \
		__attribute__((section("lxd_modparam"), used, aligned(sizeof(void *)))) = {        \
			#name, __lxd_pkind_##type, &(var), (const char *)&__lxd_pdesc_##name,       \
	};                                                                                        \
	static const int __lxd_pperm_##name __attribute__((unused)) = (perm)

#define module_param(name, type, perm) module_param_named(name, name, type, perm)

#define MODULE_PARM_DESC(name, desc) static const char *__lxd_pdesc_##name = (desc)

#define MODULE_LICENSE(s) static const char *__lxd_mod_license = (s)
#define MODULE_DESCRIPTION(s) static const char *__lxd_mod_description = (s)
#define MODULE_AUTHOR(s) static const char *__lxd_mod_author __attribute__((unused)) = (s)
#define MODULE_ALIAS(s)

#define module_exit(fn) static void (*__lxd_mod_exit)(void) = (fn)

extern struct lxd_module_param __start_lxd_modparam[] __attribute__((weak, visibility("hidden")));
extern struct lxd_module_param __stop_lxd_modparam[] __attribute__((weak, visibility("hidden")));

#define module_init(fn)                                                                       \
	static void (*__lxd_mod_exit)(void);                                                  \
	static const char *__lxd_mod_license;                                                 \
	static const char *__lxd_mod_description;                                             \
	__attribute__((visibility("default"))) const struct lxd_module_info *lxd_module_info(void); \
	__attribute__((visibility("default"))) const struct lxd_module_info *lxd_module_info(void) \
	{                                                                                     \
		static struct lxd_module_info info;                                           \
		static bool ready;                                                            \
		if (!ready) {                                                                 \
			size_t n = (size_t)(__stop_lxd_modparam - __start_lxd_modparam);        \
			for (size_t i = 0; i < n; i++) {                                      \
				const char **d = (const char **)__start_lxd_modparam[i].desc;   \
				__start_lxd_modparam[i].desc = (d && *d) ? *d : "";             \
			}                                                                     \
			info.abi = LXD_MODULE_ABI;                                            \
			info.name = KBUILD_MODNAME;                                           \
			info.license = __lxd_mod_license ? __lxd_mod_license : "";            \
			info.description = __lxd_mod_description ? __lxd_mod_description : ""; \
			info.init = (fn);                                                     \
			info.exit = __lxd_mod_exit;                                           \
			info.params = n ? __start_lxd_modparam : NULL;                        \
			info.nparams = n;                                                     \
			ready = true;                                                         \
		}                                                                             \
		return &info;                                                                 \
	}

#endif
