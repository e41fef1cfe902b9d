/* SPDX-License-Identifier: MIT */
/*
 * Domains as real sandboxed processes: lifecycle, the sandbox refusing what
 * it must (with the syscall reported), crashes and hangs inside a call
 * (callers get -EIO, the kernel survives, a restart serves again),
 * references checked across the boundary, no kernel fd leaking in, an idle
 * domain asleep, the arena shared at one address, death with the kernel.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <seccomp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "lxds/domain.h"
#include "lxds/util.h"
#include "test_ops.h"

/* ---- helpers ------------------------------------------------------------------------ */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[16384];

static void capture(void *arg, const char *name, const char *line)
{
	(void)arg;
	pthread_mutex_lock(&log_lock);
	size_t n = strlen(log_text);
	snprintf(log_text + n, sizeof(log_text) - n, "[%s] %s\n", name, line);
	pthread_mutex_unlock(&log_lock);
}

static void log_clear(void)
{
	pthread_mutex_lock(&log_lock);
	log_text[0] = '\0';
	pthread_mutex_unlock(&log_lock);
}

/* The monitor relays lines asynchronously: wait a little for one to appear. */
static bool log_has(const char *s)
{
	for (int i = 0; i < 200; i++) {
		pthread_mutex_lock(&log_lock);
		bool found = strstr(log_text, s) != NULL;
		pthread_mutex_unlock(&log_lock);
		if (found)
			return true;
		usleep(10000);
	}
	return false;
}

static const char *glue_only[] = {TEST_GLUE, NULL};

static struct lxd_domain_opts opts(void)
{
	return (struct lxd_domain_opts){
		.module = TEST_MOD,
		.glue = glue_only,
		.cpu = lxd_cpu_count() > 1 ? 1 : 0,
		.arena_size = 4u << 20,
		.hang_ms = 2000,
		.log = capture,
	};
}

static struct lxd_domain *start(struct lxd_domain_opts o)
{
	struct lxd_domain *d = NULL;
	int rc = lxd_domain_create(&o, &d);
	if (rc)
		fprintf(stderr, "create: %s\nlog:\n%s", strerror(-rc), log_text);
	assert_int_equal(rc, 0);
	assert_non_null(d);
	return d;
}

static int call(struct lxd_domain *d, uint32_t op, uint64_t w0, uint64_t w1, uint64_t *out)
{
	uint64_t w[LXD_MSG_WORDS] = {w0, w1};
	int rc = lxd_domain_call(d, op, w);
	if (out)
		memcpy(out, w, sizeof(w));
	return rc;
}

static void expect_ping(struct lxd_domain *d)
{
	uint64_t w[LXD_MSG_WORDS];
	assert_int_equal(lxd_domain_ping(d), 0);
	assert_int_equal(call(d, T_ECHO, 41, 0, w), T_ECHO);
	assert_int_equal(w[0], 42);
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static void test_lifecycle(void **state)
{
	(void)state;
	log_clear();
	struct lxd_domain *d = start(opts());
	struct lxd_domain_status st;
	lxd_domain_get_status(d, &st);
	assert_int_equal(st.state, LXD_DOMAIN_RUNNING);
	assert_true(st.pid > 0);
	assert_int_not_equal(st.pid, getpid());
	expect_ping(d);
	assert_int_equal(lxd_domain_module_init(d), 0);
	assert_true(log_has("[test_mod] note: init"));
	assert_int_equal(lxd_domain_module_init(d), -EALREADY);
	assert_int_equal(call(d, T_MALLOC, 0, 0, NULL), T_MALLOC); /* malloc works inside */
	assert_int_equal(call(d, 999, 0, 0, NULL), LXD_CTL_ERROR);  /* unknown op refused */

	assert_int_equal(lxd_domain_stop(d), 0);
	assert_true(log_has("[test_mod] note: exit")); /* the driver's exit path ran */
	lxd_domain_get_status(d, &st);
	assert_int_equal(st.state, LXD_DOMAIN_DEAD);
	assert_int_equal(st.end, LXD_END_EXIT);
	assert_int_equal(st.exit_code, 0);
	assert_int_equal(lxd_domain_ping(d), -EIO);
	assert_int_equal(lxd_domain_stop(d), -ESRCH);
	lxd_domain_destroy(d);
}

static void test_module_params_and_init_error(void **state)
{
	(void)state;
	struct lxd_domain_opts o = opts();
	const char *params[] = {"fail_init=5", NULL};
	o.params = params;
	struct lxd_domain *d = start(o);
	assert_int_equal(lxd_domain_module_init(d), -5);
	lxd_domain_destroy(d);
}

static void test_bad_start(void **state)
{
	(void)state;
	struct lxd_domain *d = NULL;
	struct lxd_domain_opts o = opts();
	o.module = "/nonexistent/mod.so";
	assert_int_equal(lxd_domain_create(&o, &d), -ENOENT);
	o = opts();
	o.exe = "/nonexistent/lxds-domain";
	assert_int_equal(lxd_domain_create(&o, &d), -ENOENT);
	o = opts();
	o.arena_size = 12345; /* not a multiple of 64 KiB */
	assert_int_equal(lxd_domain_create(&o, &d), -EINVAL);
	/* A library that is not a module: the domain says why and exits. */
	log_clear();
	o = opts();
	o.module = TEST_GLUE;
	assert_int_equal(lxd_domain_create(&o, &d), -ECHILD);
	assert_null(d);
	assert_true(log_has("no lxd_module_info"));
	/* Without the glue, the module's symbol cannot resolve: load fails. */
	log_clear();
	o = opts();
	o.glue = NULL;
	assert_int_equal(lxd_domain_create(&o, &d), -ECHILD);
	assert_true(log_has("cannot load module"));
}

/* The default serve loop (no glue entry point): control messages only. */
static void test_default_serve_loop(void **state)
{
	(void)state;
	static const char *plain[] = {TEST_GLUE_PLAIN, NULL};
	log_clear();
	struct lxd_domain_opts o = opts();
	o.glue = plain;
	struct lxd_domain *d = start(o);
	assert_int_equal(lxd_domain_ping(d), 0);
	assert_int_equal(lxd_domain_module_init(d), 0);
	assert_true(log_has("[test_mod] note: init"));
	uint64_t w[LXD_MSG_WORDS] = {0};
	assert_int_equal(lxd_domain_call(d, T_ECHO, w), LXD_CTL_ERROR); /* no handler: refused */
	assert_int_equal((int64_t)w[0], -ENOSYS);
	assert_int_equal(lxd_domain_stop(d), 0);
	assert_true(log_has("[test_mod] note: exit"));
	lxd_domain_destroy(d);

	/* Glue only, no module: INIT has nothing to run. */
	o = opts();
	o.module = NULL;
	d = start(o);
	assert_int_equal(lxd_domain_module_init(d), -ENOENT);
	lxd_domain_destroy(d);
}

/* ---- the sandbox ------------------------------------------------------------------- */

static void expect_death(struct lxd_domain *d, enum lxd_domain_end end, int signo)
{
	assert_int_equal(lxd_domain_wait_dead(d, 10000), 0);
	struct lxd_domain_status st;
	lxd_domain_get_status(d, &st);
	assert_int_equal(st.state, LXD_DOMAIN_DEAD);
	if (st.end != end)
		fprintf(stderr, "end %s, reason: %s\n", lxd_domain_end_name(st.end), st.reason);
	assert_int_equal(st.end, end);
	assert_int_equal(st.signo, signo);
}

static void test_sandbox_refuses(void **state)
{
	(void)state;
	static const struct {
		uint32_t op;
		const char *name;
	} cases[] = {
		{T_OPEN, "openat"},   {T_SOCKET, "socket"},     {T_EXECVE, "execve"},
		{T_PTRACE, "ptrace"}, {T_MPROTECT, "mprotect"},
	};
	for (size_t i = 0; i < LXD_ARRAY_SIZE(cases); i++) {
		struct lxd_domain *d = start(opts());
		assert_int_equal(call(d, cases[i].op, 0, 0, NULL), -EIO);
		expect_death(d, LXD_END_SYSCALL, SIGSYS);
		struct lxd_domain_status st;
		lxd_domain_get_status(d, &st);
		assert_true(st.fault_reported);
		assert_string_equal(st.syscall_name, cases[i].name);
		assert_int_equal(st.syscall_nr, seccomp_syscall_resolve_name(cases[i].name));
		assert_non_null(strstr(st.reason, cases[i].name));
		lxd_domain_destroy(d);
	}
}

static void test_write_to_memory_not_given(void **state)
{
	(void)state;
	struct lxd_domain *a = start(opts());
	struct lxd_domain *b = start(opts());
	/* b's arena is mapped here, in the kernel, but never in a. */
	uint64_t target = (uint64_t)(uintptr_t)lxd_domain_arena(b)->base;
	assert_int_equal(call(a, T_WRITE, target, 0, NULL), -EIO);
	expect_death(a, LXD_END_SIGNAL, SIGSEGV);
	struct lxd_domain_status st;
	lxd_domain_get_status(a, &st);
	assert_true(st.fault_reported);
	assert_int_equal(st.fault_addr, target);
	expect_ping(b); /* the other domain is untouched */
	lxd_domain_destroy(a);
	lxd_domain_destroy(b);
}

/* ---- crashes, hangs, restarts ------------------------------------------------------- */

static void test_crash_then_restart(void **state)
{
	(void)state;
	struct lxd_domain *d = start(opts());
	assert_int_equal(call(d, T_NULL, 0, 0, NULL), -EIO);
	expect_death(d, LXD_END_SIGNAL, SIGSEGV);
	struct lxd_domain_status st;
	lxd_domain_get_status(d, &st);
	assert_int_equal(st.fault_addr, 0);
	assert_int_equal(call(d, T_ECHO, 1, 0, NULL), -EIO); /* later calls fail too */

	assert_int_equal(lxd_domain_start(d), 0);
	expect_ping(d);
	assert_int_equal(call(d, T_ABORT, 0, 0, NULL), -EIO);
	expect_death(d, LXD_END_SIGNAL, SIGABRT);

	assert_int_equal(lxd_domain_start(d), 0);
	expect_ping(d);
	lxd_domain_get_status(d, &st);
	assert_int_equal(st.starts, 3);
	assert_int_equal(st.deaths, 2);
	lxd_domain_destroy(d);
}

struct waiter {
	struct lxd_chan *ch;
	int rc;
};

/* A kernel thread waiting for a ring message from the domain. */
static void *ring_waiter(void *arg)
{
	struct waiter *w = arg;
	w->rc = lxd_chan_wait(w->ch, -1);
	return NULL;
}

static void test_hang_is_killed(void **state)
{
	(void)state;
	struct lxd_domain_opts o = opts();
	o.hang_ms = 300;
	struct lxd_domain *d = start(o);
	struct waiter w = {.ch = lxd_domain_chan(d), .rc = 1};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, ring_waiter, &w), 0);
	assert_int_equal(call(d, T_HANG, 0, 0, NULL), -EIO);
	pthread_join(t, NULL);
	assert_int_equal(w.rc, -EIO); /* a second caller in flight is released too */
	expect_death(d, LXD_END_HUNG, SIGKILL);
	assert_int_equal(lxd_domain_start(d), 0);
	expect_ping(d);
	lxd_domain_destroy(d);
}

static void test_kill(void **state)
{
	(void)state;
	struct lxd_domain *d = start(opts());
	assert_int_equal(lxd_domain_kill(d), 0);
	expect_death(d, LXD_END_KILLED, SIGKILL);
	assert_int_equal(lxd_domain_kill(d), -ESRCH);
	lxd_domain_destroy(d);
}

/* ---- references -------------------------------------------------------------------- */

static int released;
static void release_obj(void *o) { (void)o; released++; }

static void test_references(void **state)
{
	(void)state;
	static int obj_a, obj_b;
	struct lxd_domain_opts o = opts();
	o.kill_on_bad_ref = true;
	struct lxd_domain *d = start(o);
	struct lxd_cap_table *t = lxd_domain_caps(d);
	t->release[1] = release_obj;
	lxd_ref_t ra = lxd_cap_insert(t, &obj_a, 1);
	lxd_ref_t rb = lxd_cap_insert(t, &obj_b, 1);
	assert_int_not_equal(ra, LXD_REF_NULL);

	/* The reference goes to the domain and comes back: still good. */
	uint64_t w[LXD_MSG_WORDS];
	void *p;
	assert_int_equal(call(d, T_ECHO_REF, ra, 0, w), T_ECHO_REF);
	assert_int_equal(lxd_cap_lookup(t, lxd_domain_id(d), w[0], 1, &p), 0);
	assert_ptr_equal(p, &obj_a);

	/* Revoked, then presented by the domain: refused, the domain ends. */
	assert_int_equal(lxd_cap_revoke(t, ra, 1), 0);
	assert_int_equal(call(d, T_ECHO_REF, ra, 0, w), T_ECHO_REF);
	assert_int_equal(lxd_cap_lookup(t, lxd_domain_id(d), w[0], 1, &p), -ESTALE);
	assert_int_equal(lxd_cap_faults(t, LXD_CAP_STALE), 1);
	expect_death(d, LXD_END_BAD_REF, SIGKILL);
	/* Its death revoked what it still held. */
	assert_int_equal(released, 1);
	assert_int_equal(lxd_cap_lookup(t, lxd_domain_id(d), rb, 1, &p), -ESTALE);

	/* Forged: an index never handed out. */
	assert_int_equal(lxd_domain_start(d), 0);
	assert_int_equal(call(d, T_ECHO_REF, rb, 1000, w), T_ECHO_REF);
	assert_int_equal(lxd_cap_lookup(t, lxd_domain_id(d), w[0], 1, &p), -EBADF);
	expect_death(d, LXD_END_BAD_REF, SIGKILL);
	lxd_domain_destroy(d);
}

/* ---- isolation of resources ------------------------------------------------------- */

static void test_no_kernel_fd_leaks(void **state)
{
	(void)state;
	/* Kernel fds without O_CLOEXEC: exactly the kind that would leak. */
	int leak1 = open("/dev/zero", O_RDONLY);
	int leak2[2];
	assert_int_equal(pipe(leak2), 0);
	struct lxd_domain *d = start(opts());
	struct lxd_domain_status st;
	lxd_domain_get_status(d, &st);
	char dir[64], path[384], target[256];
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)st.pid);
	DIR *dp = opendir(dir);
	assert_non_null(dp);
	struct dirent *e;
	int n = 0;
	char pipe1[256] = "";
	while ((e = readdir(dp))) {
		if (e->d_name[0] == '.')
			continue;
		int fd = atoi(e->d_name);
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		ssize_t l = readlink(path, target, sizeof(target) - 1);
		assert_true(l > 0);
		target[l] = '\0';
		n++;
		if (fd == 0) {
			assert_string_equal(target, "/dev/null");
		} else if (fd == 1 || fd == 2) {
			assert_memory_equal(target, "pipe:[", 6); /* the log pipe */
			if (!pipe1[0])
				strcpy(pipe1, target);
			assert_string_equal(target, pipe1);
		} else {
			fail_msg("domain has fd %d -> %s", fd, target);
		}
	}
	closedir(dp);
	assert_int_equal(n, 3);
	lxd_domain_destroy(d);
	close(leak1);
	close(leak2[0]);
	close(leak2[1]);
}

static char proc_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return '?';
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	return p ? p[2] : '?';
}

static void test_idle_domain_sleeps(void **state)
{
	(void)state;
	struct lxd_domain *d = start(opts());
	expect_ping(d);
	struct lxd_domain_status st;
	lxd_domain_get_status(d, &st);
	/* The domain's doorbell is the one the kernel rings: tx_bell. */
	struct lxd_doorbell *bell = lxd_domain_chan(d)->tx_bell;
	bool asleep = false;
	for (int i = 0; i < 500 && !asleep; i++) {
		asleep = atomic_load(&bell->sleeping) == 1 && proc_state(st.pid) == 'S';
		if (!asleep)
			usleep(10000);
	}
	assert_true(asleep);
	expect_ping(d); /* and a call wakes it */
	uint64_t ns = 0;
	assert_int_equal(lxd_proc_cpu_ns(st.pid, &ns), 0);
	assert_int_equal(lxd_proc_cpu_ns(-1, &ns), -EINVAL);
	lxd_domain_destroy(d);
}

static void test_arena_shared_at_same_address(void **state)
{
	(void)state;
	struct lxd_domain *d = start(opts());
	struct lxd_arena *a = lxd_domain_arena(d);
	uint8_t *buf = lxd_arena_alloc(a, 1000);
	assert_non_null(buf);
	uint64_t sum = 0;
	for (int i = 0; i < 1000; i++) {
		buf[i] = (uint8_t)(i * 3);
		sum += buf[i];
	}
	uint64_t w[LXD_MSG_WORDS];
	assert_int_equal(call(d, T_ARENA, lxd_arena_buf_pack(lxd_arena_off(a, buf), 1000), 3000, w),
			 T_ARENA);
	assert_int_equal(w[0], sum);
	assert_int_equal(w[2], (uint64_t)(uintptr_t)buf); /* one address, both sides */
	void *p;
	uint32_t len;
	assert_int_equal(lxd_arena_buf_get(a, w[1], &p, &len), 0); /* untrusted word: checked */
	assert_int_equal(len, 3000);
	/* The domain allocated from its own share, never the kernel's. */
	assert_true((uint8_t *)p >= a->base + a->share_off + a->share_len);
	for (uint32_t i = 0; i < len; i++)
		assert_int_equal(((uint8_t *)p)[i], (uint8_t)(i * 7));
	/* A word pointing outside the arena is refused by the domain. */
	assert_int_equal(call(d, T_ARENA, lxd_arena_buf_pack(a->size, 1), 1, w), LXD_CTL_ERROR);
	assert_int_equal((int64_t)w[0], -ERANGE);
	assert_int_equal(lxd_arena_free(a, buf), 0);
	lxd_domain_destroy(d);
}

static void test_dies_with_the_kernel(void **state)
{
	(void)state;
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t kernel = fork();
	assert_true(kernel >= 0);
	if (kernel == 0) {
		struct lxd_domain_opts o = opts();
		o.log = NULL;
		struct lxd_domain *d = NULL;
		if (lxd_domain_create(&o, &d) != 0)
			_exit(1);
		struct lxd_domain_status st;
		lxd_domain_get_status(d, &st);
		if (write(p[1], &st.pid, sizeof(st.pid)) != sizeof(st.pid))
			_exit(1);
		_exit(0); /* the "kernel" dies without stopping its domain */
	}
	close(p[1]);
	pid_t dom = 0;
	assert_int_equal(read(p[0], &dom, sizeof(dom)), sizeof(dom));
	close(p[0]);
	int pfd = (int)syscall(SYS_pidfd_open, dom, 0);
	int status;
	waitpid(kernel, &status, 0);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (pfd >= 0) { /* else it is already gone */
		struct pollfd pp = {.fd = pfd, .events = POLLIN};
		assert_int_equal(poll(&pp, 1, 10000), 1);
		close(pfd);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_module_params_and_init_error),
		cmocka_unit_test(test_bad_start),
		cmocka_unit_test(test_default_serve_loop),
		cmocka_unit_test(test_sandbox_refuses),
		cmocka_unit_test(test_write_to_memory_not_given),
		cmocka_unit_test(test_crash_then_restart),
		cmocka_unit_test(test_hang_is_killed),
		cmocka_unit_test(test_kill),
		cmocka_unit_test(test_references),
		cmocka_unit_test(test_no_kernel_fd_leaks),
		cmocka_unit_test(test_idle_domain_sleeps),
		cmocka_unit_test(test_arena_shared_at_same_address),
		cmocka_unit_test(test_dies_with_the_kernel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
