/* SPDX-License-Identifier: MIT */
/*
 * lxds-idlc: the driver.  Reads one .idl file, compiles it, and writes what
 * was asked for.  Output goes to a temporary file next to the target that is
 * renamed over it only when everything succeeded, so a failed run never
 * leaves a half-written file for the build to pick up.
 *
 * Exit status: 0 success, 1 errors in the IDL, 2 bad usage or I/O error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idl.h"

/* Inputs larger than this are refused, not read into memory. */
#define IDL_MAX_INPUT (16u << 20)

static void usage(FILE *f)
{
	fputs("usage: lxds-idlc [options] FILE.idl\n"
	      "  --check              check the file only (the default when no output is asked for)\n"
	      "  --dump               print the checked declarations in canonical form\n"
	      "  --side kernel|domain generate the glue of that side\n"
	      "  -o FILE              write the output to FILE (default: standard output)\n"
	      "  --max-errors N       stop after N errors (default 20)\n"
	      "  --help               this text\n"
	      "The language: docs/idl.md.\n",
	      f);
}

/* Read all of @path.  Returns a malloc'd buffer (*len set) or NULL with a message printed. */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "lxds-idlc: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n < cap)
			break;
		if (cap >= IDL_MAX_INPUT) {
			fprintf(stderr, "lxds-idlc: %s: larger than %u bytes\n", path, IDL_MAX_INPUT);
			free(buf);
			buf = NULL;
			break;
		}
		char *nb = realloc(buf, cap * 2);
		if (!nb) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = nb;
		cap *= 2;
	}
	if (buf && ferror(f)) {
		fprintf(stderr, "lxds-idlc: %s: read error\n", path);
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

enum mode { MODE_CHECK, MODE_DUMP, MODE_GEN };

struct out {
	const char *path; /* NULL: stdout */
	char *tmp;
	FILE *f;
};

static int out_open(struct out *o)
{
	if (!o->path) {
		o->f = stdout;
		return 0;
	}
	size_t n = strlen(o->path) + 16;
	o->tmp = malloc(n);
	if (!o->tmp)
		return -ENOMEM;
	snprintf(o->tmp, n, "%s.tmpXXXXXX", o->path);
	int fd = mkstemp(o->tmp);
	if (fd < 0 || !(o->f = fdopen(fd, "w"))) {
		int e = errno;
		fprintf(stderr, "lxds-idlc: %s: %s\n", o->tmp, strerror(e));
		if (fd >= 0) {
			close(fd);
			unlink(o->tmp);
		}
		free(o->tmp);
		o->tmp = NULL;
		return -e;
	}
	return 0;
}

/* Finish the output: rename into place when @ok, else remove the temporary. */
static int out_close(struct out *o, bool ok)
{
	int rc = 0;
	if (!o->path) {
		if (fflush(stdout) != 0)
			rc = -EIO;
		return rc;
	}
	if (fflush(o->f) != 0 || ferror(o->f))
		ok = false, rc = -EIO;
	if (fclose(o->f) != 0)
		ok = false, rc = -EIO;
	if (ok && rename(o->tmp, o->path) != 0) {
		rc = -errno;
		fprintf(stderr, "lxds-idlc: %s: %s\n", o->path, strerror(errno));
		ok = false;
	}
	if (!ok)
		unlink(o->tmp);
	free(o->tmp);
	return rc;
}

int main(int argc, char **argv)
{
	enum mode mode = MODE_CHECK;
	enum idl_side side = IDL_SIDE_NONE;
	struct out out = { 0 };
	const char *input = NULL;
	unsigned max_errors = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--check")) {
			mode = MODE_CHECK;
		} else if (!strcmp(a, "--dump")) {
			mode = MODE_DUMP;
		} else if (!strcmp(a, "--side") && i + 1 < argc) {
			const char *s = argv[++i];
			side = !strcmp(s, "kernel") ? IDL_KERNEL : !strcmp(s, "domain") ? IDL_DOMAIN : IDL_SIDE_NONE;
			if (!side) {
				fprintf(stderr, "lxds-idlc: --side takes 'kernel' or 'domain', not '%s'\n", s);
				return 2;
			}
			mode = MODE_GEN;
		} else if (!strcmp(a, "-o") && i + 1 < argc) {
			out.path = argv[++i];
		} else if (!strcmp(a, "--max-errors") && i + 1 < argc) {
			char *end;
			unsigned long v = strtoul(argv[++i], &end, 10);
			if (*end || v == 0 || v > 10000) {
				fprintf(stderr, "lxds-idlc: --max-errors takes 1..10000\n");
				return 2;
			}
			max_errors = (unsigned)v;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "lxds-idlc: unknown or incomplete option '%s'\n", a);
			usage(stderr);
			return 2;
		} else if (!input) {
			input = a;
		} else {
			fprintf(stderr, "lxds-idlc: one input file only ('%s' and '%s')\n", input, a);
			return 2;
		}
	}
	if (!input) {
		usage(stderr);
		return 2;
	}

	size_t len;
	char *src = read_file(input, &len);
	if (!src)
		return 2;
	struct idl_ctx cx;
	idl_ctx_init(&cx, input, src, len, stderr);
	if (max_errors)
		cx.max_errors = max_errors;
	struct idl_file *f = idl_compile(&cx);
	int status = 0;
	if (!f) {
		fprintf(stderr, "%s: %u error%s\n", input, cx.errors, cx.errors == 1 ? "" : "s");
		status = 1;
	} else if (mode != MODE_CHECK) {
		if (out_open(&out) != 0) {
			status = 2;
		} else {
			int rc = 0;
			if (mode == MODE_DUMP)
				idl_dump(out.f, f);
			else
				rc = idl_gen(out.f, f, side, input);
			if (rc < 0)
				fprintf(stderr, "lxds-idlc: generating %s: %s\n", out.path ? out.path : "output",
					strerror(-rc));
			if (out_close(&out, rc == 0) != 0 || rc != 0)
				status = 2;
		}
	}
	idl_ctx_free(&cx);
	free(src);
	return status;
}
