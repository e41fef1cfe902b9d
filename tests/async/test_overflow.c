/* SPDX-License-Identifier: MIT */
/*
 * Stack overflow: a lightweight thread that runs off its stack must end the
 * process with a message naming it, not corrupt its neighbour.  Each case
 * runs in a child process; the parent checks how it died and what it said.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lxds/async.h"

/* Recurse with a 1 KiB frame the compiler cannot drop. */
static __attribute__((noinline)) uint64_t deep(volatile uint64_t n)
{
	volatile char pad[1024];
	pad[0] = (char)n;
	pad[1023] = (char)n;
	if (n == 0)
		return pad[0];
	return deep(n - 1) + pad[1023];
}

static void overflow_body(void *arg)
{
	(void)arg;
	lxd_yield(); /* overflow after a switch, not only inline */
	printf("%llu\n", (unsigned long long)deep(1u << 20));
}

static void null_body(void *arg)
{
	(void)arg;
	/* A fault that is not an overflow: a page nobody mapped. */
	static volatile uintptr_t where = 16;
	volatile int *p = (volatile int *)where;
	*p = 1;
}

/* Run @body in a fresh child process with a runtime; return its stderr and status. */
static int run_child(lxd_async_fn body, char *err, size_t errlen)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], STDERR_FILENO);
		close(fds[0]);
		signal(SIGSEGV, SIG_DFL); /* not cmocka's handler: the runtime chains to this */
		struct lxd_async_config c = {.stacks = 4, .stack_size = 64 * 1024};
		if (lxd_async_init(&c) != 0)
			_exit(2);
		struct lxd_finish f = LXD_FINISH_INIT;
		lxd_async_named(&f, body, NULL, "overflower");
		lxd_finish(&f);
		_exit(0);
	}
	close(fds[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < errlen && (r = read(fds[0], err + n, errlen - 1 - n)) > 0)
		n += (size_t)r;
	err[n] = 0;
	close(fds[0]);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void test_overflow_names_the_thread(void **state)
{
	(void)state;
	char err[4096];
	int status = run_child(overflow_body, err, sizeof(err));
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
	assert_non_null(strstr(err, "lxds async: stack overflow in lightweight thread 1 'overflower'"));
	assert_non_null(strstr(err, "guard page"));
}

static void test_other_faults_are_not_called_overflows(void **state)
{
	(void)state;
	char err[4096];
	int status = run_child(null_body, err, sizeof(err));
	/* Handed back to the default disposition: killed by SIGSEGV, no overflow claim. */
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
	assert_null(strstr(err, "stack overflow"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overflow_names_the_thread),
		cmocka_unit_test(test_other_faults_are_not_called_overflows),
	};
	return cmocka_run_group_tests_name("async-overflow", tests, NULL, NULL);
}
