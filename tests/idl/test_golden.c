/* SPDX-License-Identifier: MIT */
/*
 * Golden-file tests of lxds-idlc.  Usage: test_idl_golden IDLC CASES_DIR
 *
 * Every CASES_DIR/NAME.idl is one test, run as a real process from inside
 * CASES_DIR (so diagnostics name the file as written):
 *   ok_NAME.idl   lxds-idlc --dump: exit 0, stdout == ok_NAME.dump, no stderr
 *   err_NAME.idl  lxds-idlc --dump: exit 1, stderr == err_NAME.err, no stdout
 *   gen_NAME.idl  lxds-idlc --side kernel|domain -o F: F == gen_NAME.kernel.c / .domain.c
 * LXDS_IDL_UPDATE=1 rewrites the expected files instead of comparing (then
 * review the diff).  Further tests check that a failed run never leaves
 * an output file behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static const char *idlc;
static const char *cases;
static char tmpdir[] = "/tmp/lxds-idl-golden-XXXXXX";

/* Run idlc with @argv (NULL-terminated, argv[0] ignored) in CASES_DIR; capture output. */
static int run(char *const argv[], const char *out_path, const char *err_path)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0 || chdir(cases) != 0)
			_exit(126);
		execv(idlc, argv);
		_exit(127);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	/* A crash (signal) is never acceptable, whatever the input. */
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void copy_file(const char *from, const char *to)
{
	size_t n;
	char *b = slurp(from, &n);
	assert_non_null(b);
	FILE *f = fopen(to, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, n, f), n);
	fclose(f);
	free(b);
}

/* Compare @got (a file) with CASES_DIR/@expected, or rewrite it in update mode. */
static void compare(const char *got, const char *expected, const char *what)
{
	char exp_path[4096];
	snprintf(exp_path, sizeof(exp_path), "%s/%s", cases, expected);
	if (getenv("LXDS_IDL_UPDATE")) {
		copy_file(got, exp_path);
		return;
	}
	size_t gn, en;
	char *g = slurp(got, &gn);
	char *e = slurp(exp_path, &en);
	if (!e)
		fail_msg("%s: missing expected file %s", what, exp_path);
	if (gn != en || memcmp(g, e, gn) != 0) {
		char cmd[8192];
		snprintf(cmd, sizeof(cmd), "diff -u '%s' '%s' | head -n 40 >&2", exp_path, got);
		if (system(cmd) < 0)
			fprintf(stderr, "(diff failed)\n");
		fail_msg("%s differs from %s", what, expected);
	}
	free(g);
	free(e);
}

static size_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (size_t)st.st_size;
}

static void test_case(void **state)
{
	const char *name = *state; /* e.g. ok_paper.idl */
	char base[256], out[4200], err[4200], exp[300], gen[4200];
	size_t bl = strlen(name) - 4; /* without ".idl" */
	assert_true(bl < sizeof(base));
	memcpy(base, name, bl);
	base[bl] = 0;
	snprintf(out, sizeof(out), "%s/%s.out", tmpdir, base);
	snprintf(err, sizeof(err), "%s/%s.err", tmpdir, base);

	if (!strncmp(name, "gen_", 4)) {
		static const char *const sides[] = { "kernel", "domain" };
		for (int i = 0; i < 2; i++) {
			snprintf(gen, sizeof(gen), "%s/%s.%s.c", tmpdir, base, sides[i]);
			char *argv[] = { "lxds-idlc", "--side", (char *)sides[i], "-o", gen, (char *)name, NULL };
			int rc = run(argv, out, err);
			if (rc != 0) {
				size_t n;
				char *e = slurp(err, &n);
				fail_msg("%s: exit %d: %s", name, rc, e ? e : "");
			}
			assert_int_equal(file_size(err), 0);
			snprintf(exp, sizeof(exp), "%s.%s.c", base, sides[i]);
			compare(gen, exp, name);
		}
		return;
	}
	char *argv[] = { "lxds-idlc", "--dump", (char *)name, NULL };
	int rc = run(argv, out, err);
	if (!strncmp(name, "ok_", 3)) {
		if (rc != 0) {
			size_t n;
			char *e = slurp(err, &n);
			fail_msg("%s: exit %d: %s", name, rc, e ? e : "");
		}
		assert_int_equal(file_size(err), 0);
		snprintf(exp, sizeof(exp), "%s.dump", base);
		compare(out, exp, name);
	} else {
		assert_int_equal(rc, 1);
		assert_int_equal(file_size(out), 0);
		snprintf(exp, sizeof(exp), "%s.err", base);
		compare(err, exp, name);
	}
}

/* A failed run leaves no output file, and does not touch an existing one. */
static void test_no_half_written_output(void **state)
{
	(void)state;
	char target[4200], out[4200], err[4200];
	snprintf(target, sizeof(target), "%s/result.txt", tmpdir);
	snprintf(out, sizeof(out), "%s/o", tmpdir);
	snprintf(err, sizeof(err), "%s/e", tmpdir);

	char *bad[] = { "lxds-idlc", "--dump", "-o", target, "err_recovery.idl", NULL };
	assert_int_equal(run(bad, out, err), 1);
	assert_int_equal(access(target, F_OK), -1); /* nothing created */

	char *good[] = { "lxds-idlc", "--dump", "-o", target, "ok_paper.idl", NULL };
	assert_int_equal(run(good, out, err), 0);
	size_t n = file_size(target);
	assert_true(n > 0);
	assert_int_equal(run(bad, out, err), 1);
	assert_int_equal(file_size(target), n); /* the good file survives a bad run */

	/* No temporary left behind in the target's folder. */
	DIR *d = opendir(tmpdir);
	struct dirent *de;
	while ((de = readdir(d)))
		assert_null(strstr(de->d_name, ".tmp"));
	closedir(d);
	unlink(target);
}

/* Usage and I/O errors exit 2 with a message, never a crash or a file. */
static void test_usage_errors(void **state)
{
	(void)state;
	char out[4200], err[4200];
	snprintf(out, sizeof(out), "%s/o", tmpdir);
	snprintf(err, sizeof(err), "%s/e", tmpdir);
	char *none[] = { "lxds-idlc", NULL };
	assert_int_equal(run(none, out, err), 2);
	char *missing[] = { "lxds-idlc", "no-such-file.idl", NULL };
	assert_int_equal(run(missing, out, err), 2);
	assert_true(file_size(err) > 0);
	char *side[] = { "lxds-idlc", "--side", "both", "ok_paper.idl", NULL };
	assert_int_equal(run(side, out, err), 2);
	char *opt[] = { "lxds-idlc", "--frobnicate", "ok_paper.idl", NULL };
	assert_int_equal(run(opt, out, err), 2);
	char *dir[] = { "lxds-idlc", "--dump", "-o", "/nonexistent-dir/x", "ok_paper.idl", NULL };
	assert_int_equal(run(dir, out, err), 2);
	char *two[] = { "lxds-idlc", "ok_paper.idl", "ok_arena.idl", NULL };
	assert_int_equal(run(two, out, err), 2);
	char *help[] = { "lxds-idlc", "--help", NULL };
	assert_int_equal(run(help, out, err), 0);
	assert_true(file_size(out) > 0);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s IDLC CASES_DIR\n", argv[0]);
		return 2;
	}
	idlc = argv[1];
	cases = argv[2];
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	DIR *d = opendir(cases);
	if (!d) {
		perror(cases);
		return 2;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l > 4 && !strcmp(de->d_name + l - 4, ".idl")) {
			names = realloc(names, (n + 1) * sizeof(*names));
			names[n++] = strdup(de->d_name);
		}
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);

	struct CMUnitTest *tests = calloc(n + 2, sizeof(*tests));
	for (size_t i = 0; i < n; i++)
		tests[i] = (struct CMUnitTest){ .name = names[i], .test_func = test_case,
						.initial_state = names[i] };
	tests[n] = (struct CMUnitTest)cmocka_unit_test(test_no_half_written_output);
	tests[n + 1] = (struct CMUnitTest)cmocka_unit_test(test_usage_errors);
	int rc = _cmocka_run_group_tests("idl-golden", tests, n + 2, NULL, NULL);

	char cmd[200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(tests);
	return rc;
}
