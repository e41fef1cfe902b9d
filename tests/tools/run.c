/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run.h"

extern char **environ;

static char *slurp(int fd)
{
	off_t n = lseek(fd, 0, SEEK_END);
	char *s = malloc(n > 0 ? (size_t)n + 1 : 1);
	if (!s)
		abort();
	ssize_t got = n > 0 ? pread(fd, s, (size_t)n, 0) : 0;
	s[got > 0 ? got : 0] = 0;
	return s;
}

int run(char *const argv[], struct run_result *r)
{
	FILE *out = tmpfile(), *err = tmpfile();
	if (!out || !err)
		return -errno;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fileno(out), STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, fileno(err), STDERR_FILENO);
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		fclose(out);
		fclose(err);
		return -rc;
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r->out = slurp(fileno(out));
	r->err = slurp(fileno(err));
	fclose(out);
	fclose(err);
	return 0;
}

void run_free(struct run_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

/* Where @key's value starts in @json (past "key": and blanks), NULL without the key. */
static const char *json_value(const char *json, const char *key)
{
	char pat[128];
	snprintf(pat, sizeof(pat), "\"%s\"", key);
	const char *p = strstr(json, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p++ != ':')
		return NULL;
	while (*p == ' ')
		p++;
	return p;
}

bool json_get(const char *json, const char *key, bool *is_null, double *v)
{
	const char *p = json_value(json, key);
	if (!p)
		return false;
	*is_null = !strncmp(p, "null", 4);
	char *end;
	*v = *is_null ? NAN : strtod(p, &end);
	if (!*is_null && end == p)
		*v = NAN;
	return true;
}

int json_get_nums(const char *json, const char *key, double *v, int max)
{
	const char *p = json_value(json, key);
	if (!p || *p++ != '[')
		return -1;
	int n = 0;
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == ']')
			return n;
		if (n == max)
			return -1;
		if (!strncmp(p, "null", 4)) {
			v[n++] = NAN;
			p += 4;
		} else {
			char *end;
			v[n] = strtod(p, &end);
			if (end == p)
				return -1;
			n++;
			p = end;
		}
		while (*p == ' ')
			p++;
		if (*p == ',')
			p++;
		else if (*p != ']')
			return -1;
	}
}
