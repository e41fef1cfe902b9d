/* SPDX-License-Identifier: MIT */
/*
 * A wrong IDL must fail the build of the generated C, with a message that
 * names what is wrong.  Usage: test_idl_compile_fail IDLC CC CASES INCLUDES...
 * Each .idl file in CASES starts with "// expect: TEXT": lxds-idlc accepts it (the
 * IDL itself is well formed), the C compiler must reject the kernel side's
 * glue and print TEXT.  (That the right IDL compiles, the end-to-end test
 * shows by building.)
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static char **args;
static int nargs;
static char tmp[] = "/tmp/lxds-idl-cfail-XXXXXX";

/* Generate and compile @idl; returns the compiler's exit status, its stderr in @log. */
static int build(const char *idl, char *log, size_t loglen)
{
	char cmd[8192], out[4200], err[4200];
	snprintf(out, sizeof(out), "%s/glue.c", tmp);
	snprintf(err, sizeof(err), "%s/cc.log", tmp);
	snprintf(cmd, sizeof(cmd), "'%s' --side kernel -o '%s' '%s'", args[1], out, idl);
	int rc = system(cmd);
	assert_true(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
	int at = snprintf(cmd, sizeof(cmd), "'%s' -std=gnu11 -fsyntax-only", args[2]);
	for (int i = 4; i < nargs; i++)
		at += snprintf(cmd + at, sizeof(cmd) - (size_t)at, " -I'%s'", args[i]);
	snprintf(cmd + at, sizeof(cmd) - (size_t)at, " '%s' 2>'%s'", out, err);
	rc = system(cmd);
	FILE *f = fopen(err, "r");
	size_t n = f ? fread(log, 1, loglen - 1, f) : 0;
	log[n] = 0;
	if (f)
		fclose(f);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : 255;
}

static void test_case(void **state)
{
	const char *path = *state;
	char line[512] = "", log[65536];
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_true(!strncmp(line, "// expect: ", 11));
	char *expect = line + 11;
	expect[strcspn(expect, "\n")] = 0;
	int rc = build(path, log, sizeof(log));
	if (rc == 0 || !strstr(log, expect))
		fail_msg("%s: compiler exit %d, expected a message with \"%s\"; got:\n%s", path, rc, expect, log);
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: %s IDLC CC CASES_DIR INCLUDE...\n", argv[0]);
		return 2;
	}
	args = argv;
	nargs = argc;
	if (!mkdtemp(tmp))
		return 2;
	DIR *d = opendir(argv[3]);
	if (!d)
		return 2;
	struct CMUnitTest tests[32];
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < 31) {
		size_t l = strlen(de->d_name);
		if (l < 5 || strcmp(de->d_name + l - 4, ".idl"))
			continue;
		char *p = malloc(strlen(argv[3]) + l + 2);
		sprintf(p, "%s/%s", argv[3], de->d_name);
		tests[n++] = (struct CMUnitTest){ .name = strdup(de->d_name), .test_func = test_case, .initial_state = p };
	}
	closedir(d);
	int rc = _cmocka_run_group_tests("idl-compile-fail", tests, n, NULL, NULL);
	for (size_t i = 0; i < n; i++) {
		free((void *)tests[i].name);
		free(tests[i].initial_state);
	}
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmp);
	return rc;
}
