/* SPDX-License-Identifier: MIT */
/* Run a command for a test: its exit status and everything it printed. */
#ifndef LXDS_TEST_TOOLS_RUN_H
#define LXDS_TEST_TOOLS_RUN_H

#include <stdbool.h>

struct run_result {
	int status; /* exit code, or 128 + signal */
	char *out;  /* stdout, NUL-terminated */
	char *err;  /* stderr */
};

/* Run argv (NULL-terminated, argv[0] searched in PATH).  Returns 0, or -errno if it could not start. */
int run(char *const argv[], struct run_result *r);
void run_free(struct run_result *r);

/*
 * Find "key": in @json.  Returns true if present; *@is_null says it was
 * null, else *@v holds the number (NaN if the value is not a number).
 */
bool json_get(const char *json, const char *key, bool *is_null, double *v);
/* The numbers of array @key ("key": [1, null, 2]; null reads as NAN) into @v: how many, or -1
 * when @key is missing, is no array of numbers, or holds more than @max. */
int json_get_nums(const char *json, const char *key, double *v, int max);

#endif
