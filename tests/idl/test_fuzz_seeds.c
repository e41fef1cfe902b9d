/* SPDX-License-Identifier: MIT */
/*
 * Runs the libFuzzer target's function (tests/fuzz/idl_parse) over every
 * file in the folders given on the command line (the seed corpus and the
 * golden cases) in a normal build, so the fuzz harness and its seeds are
 * exercised by every test run, under ASan/UBSan too.  Also feeds every
 * prefix of each seed: truncated input is the commonest garbage.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ndirs;
static char **dirs;

static void test_seeds(void **state)
{
	(void)state;
	unsigned files = 0;
	for (int i = 0; i < ndirs; i++) {
		DIR *d = opendir(dirs[i]);
		assert_non_null(d);
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", dirs[i], de->d_name);
			FILE *f = fopen(path, "rb");
			if (!f)
				continue;
			uint8_t *buf = malloc(1 << 20);
			size_t n = fread(buf, 1, 1 << 20, f);
			fclose(f);
			/* Exactly sized copies, so ASan sees any read past the end. */
			for (size_t len = 0; len <= n; len += (len < 64 || len == n) ? 1 : (n - len < 7 ? 1 : 7)) {
				uint8_t *copy = malloc(len ? len : 1);
				memcpy(copy, buf, len);
				LLVMFuzzerTestOneInput(copy, len);
				free(copy);
				if (len == n)
					break;
			}
			free(buf);
			files++;
		}
		closedir(d);
	}
	assert_true(files > 0);
}

int main(int argc, char **argv)
{
	ndirs = argc - 1;
	dirs = argv + 1;
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_seeds) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
