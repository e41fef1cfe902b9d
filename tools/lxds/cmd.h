/* SPDX-License-Identifier: MIT */
/* The lxds command line: nested command tables, each level with --help. */
#ifndef LXDS_TOOL_CMD_H
#define LXDS_TOOL_CMD_H

#include <stdbool.h>
#include <stddef.h>

struct lxd_cmd {
	const char *name;
	const char *summary;
	/* argv[0] is the command's own name; returns the process exit code. */
	int (*run)(int argc, char **argv);
};

/*
 * Run the command named by argv[1] from @cmds.  @path is what the user
 * typed so far ("lxds bench"), for messages.  Handles -h/--help and unknown
 * names (exit code 2).
 */
int lxd_cmd_dispatch(const char *path, const char *what, const struct lxd_cmd *cmds,
		     size_t ncmds, int argc, char **argv);

/* True when @arg asks for help. */
bool lxd_is_help(const char *arg);

/* Parse a non-negative integer option value; prints an error naming @opt and returns false if bad. */
bool lxd_parse_uint(const char *opt, const char *val, unsigned long max, unsigned long *out);

/* Top-level subcommands. */
int lxd_cmd_bench(int argc, char **argv);
int lxd_cmd_demo(int argc, char **argv);
int lxd_cmd_domain(int argc, char **argv);
int lxd_cmd_net(int argc, char **argv);
int lxd_cmd_blk(int argc, char **argv);

#endif
