/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

bool lxd_is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0 || strcmp(arg, "help") == 0;
}

static void usage(FILE *f, const char *path, const char *what, const struct lxd_cmd *cmds,
		  size_t n)
{
	fprintf(f, "usage: %s <command> [options]\n\n%s\n\ncommands:\n", path, what);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %-10s %s\n", cmds[i].name, cmds[i].summary);
	fprintf(f, "\n'%s <command> --help' tells more about one.\n", path);
}

int lxd_cmd_dispatch(const char *path, const char *what, const struct lxd_cmd *cmds,
		     size_t n, int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr, path, what, cmds, n);
		return 2;
	}
	if (lxd_is_help(argv[1])) {
		usage(stdout, path, what, cmds, n);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "%s: unknown command '%s' (try '%s --help')\n", path, argv[1], path);
	return 2;
}

bool lxd_parse_uint(const char *opt, const char *val, unsigned long max, unsigned long *out)
{
	if (!val) {
		fprintf(stderr, "lxds: option %s needs a value\n", opt);
		return false;
	}
	char *end;
	errno = 0;
	unsigned long v = strtoul(val, &end, 10);
	if (errno || end == val || *end || val[0] == '-' || v > max) {
		fprintf(stderr, "lxds: option %s: '%s' is not a number from 0 to %lu\n", opt, val, max);
		return false;
	}
	*out = v;
	return true;
}
