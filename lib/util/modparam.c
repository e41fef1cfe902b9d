/* SPDX-License-Identifier: MIT */
/* Module parameters: "name=value" strings, parsed and range-checked. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lxds/module_abi.h"

static int parse_ulong(const char *s, unsigned long long max, unsigned long long *out)
{
	if (!*s || *s == '-')
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int lxd_module_set_param(const struct lxd_module_info *info, const char *assignment)
{
	if (!info || !assignment)
		return -EINVAL;
	const char *eq = strchr(assignment, '=');
	if (!eq || eq == assignment)
		return -EINVAL;
	size_t nlen = (size_t)(eq - assignment);
	const char *val = eq + 1;
	for (size_t i = 0; i < info->nparams; i++) {
		const struct lxd_module_param *p = &info->params[i];
		if (strlen(p->name) != nlen || strncmp(p->name, assignment, nlen) != 0)
			continue;
		unsigned long long u;
		switch (p->type) {
		case LXD_PARAM_BOOL:
			if (!strcmp(val, "1") || !strcmp(val, "y") || !strcmp(val, "Y") || !strcmp(val, "true"))
				*(bool *)p->ptr = true;
			else if (!strcmp(val, "0") || !strcmp(val, "n") || !strcmp(val, "N") || !strcmp(val, "false"))
				*(bool *)p->ptr = false;
			else
				return -EINVAL;
			return 0;
		case LXD_PARAM_INT: {
			char *end;
			errno = 0;
			long v = strtol(val, &end, 0);
			if (!*val || errno || *end || v < INT_MIN || v > INT_MAX)
				return -EINVAL;
			*(int *)p->ptr = (int)v;
			return 0;
		}
		case LXD_PARAM_UINT:
			if (parse_ulong(val, UINT_MAX, &u))
				return -EINVAL;
			*(unsigned int *)p->ptr = (unsigned int)u;
			return 0;
		case LXD_PARAM_ULONG:
			if (parse_ulong(val, ULONG_MAX, &u))
				return -EINVAL;
			*(unsigned long *)p->ptr = (unsigned long)u;
			return 0;
		case LXD_PARAM_CHARP:
			/* The assignment string is the caller's; it must outlive the module. */
			*(const char **)p->ptr = val;
			return 0;
		}
		return -EINVAL;
	}
	return -ENOENT;
}
