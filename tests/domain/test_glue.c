/* SPDX-License-Identifier: MIT */
/*
 * Glue for the domain tests: an entry point (lxd_glue_domain_main) that runs
 * the domain's serve loop with a handler doing what each test asks,
 * including everything the sandbox must refuse.  It also provides the
 * symbol test_mod.so needs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include "lxds/domain.h"
#include "test_ops.h"

void test_glue_note(const char *what);
int lxd_glue_domain_main(struct lxd_domain_env *env);

void test_glue_note(const char *what)
{
	printf("note: %s\n", what);
	fflush(stdout);
}

/* A real NULL store: not UBSan's report of it (which needs syscalls). */
__attribute__((no_sanitize("undefined"), noinline)) static void null_store(uint64_t zero)
{
	*(volatile int *)(uintptr_t)zero = 1;
}

static int arena_op(struct lxd_domain_env *env, uint64_t *w)
{
	void *p;
	uint32_t len;
	int rc = lxd_arena_buf_get(env->arena, w[0], &p, &len);
	if (rc)
		return rc;
	uint64_t sum = 0;
	for (uint32_t i = 0; i < len; i++)
		sum += ((uint8_t *)p)[i];
	uint32_t n = (uint32_t)w[1];
	uint8_t *q = lxd_arena_alloc(env->arena, n);
	if (!q)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		q[i] = (uint8_t)(i * 7);
	w[0] = sum;
	w[1] = lxd_arena_buf_pack(lxd_arena_off(env->arena, q), n);
	w[2] = (uint64_t)(uintptr_t)p;
	return 0;
}

/* Without an entry point (TEST_GLUE_NO_ENTRY) the handler is unused. */
__attribute__((unused)) static int handler(void *arg, struct lxd_domain_env *env, uint32_t op, uint64_t *w, bool is_call)
{
	(void)arg;
	if (!is_call)
		return 0;
	volatile int sink;
	switch (op) {
	case T_ECHO:
		w[0]++;
		return T_ECHO;
	case T_OPEN:
		sink = open("/etc/passwd", O_RDONLY);
		break;
	case T_SOCKET:
		sink = socket(AF_INET, SOCK_STREAM, 0);
		break;
	case T_EXECVE: {
		char *argv[] = {"/bin/true", NULL};
		sink = execve("/bin/true", argv, argv + 1);
		break;
	}
	case T_PTRACE:
		sink = (int)ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		break;
	case T_MPROTECT: {
		void *pg = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (pg == MAP_FAILED)
			return -errno;
		sink = mprotect(pg, 4096, PROT_READ | PROT_EXEC);
		break;
	}
	case T_WRITE:
		*(volatile uint64_t *)(uintptr_t)w[0] = 42;
		break;
	case T_NULL:
		null_store(w[0] & 0);
		break;
	case T_ABORT:
		abort();
	case T_HANG:
		for (;;)
			sink = 0;
	case T_ARENA:
		return arena_op(env, w) ?: T_ARENA;
	case T_ECHO_REF:
		w[0] += w[1];
		return T_ECHO_REF;
	case T_MALLOC: {
		void *big = malloc(1 << 20);
		void *small[256];
		for (int i = 0; i < 256; i++)
			small[i] = malloc((size_t)(i * 16 + 1));
		memset(big, 1, 1 << 20);
		for (int i = 0; i < 256; i++)
			free(small[i]);
		free(big);
		w[0] = 0;
		return T_MALLOC;
	}
	default:
		return -ENOSYS;
	}
	/* Reached only if the sandbox let a forbidden call through. */
	(void)sink;
	w[0] = 0xbad;
	return (int)op;
}

#ifndef TEST_GLUE_NO_ENTRY
int lxd_glue_domain_main(struct lxd_domain_env *env)
{
	if (env->abi != LXD_DOMAIN_ENV_ABI)
		return 3;
	return lxd_domain_serve(env, handler, NULL);
}
#endif
