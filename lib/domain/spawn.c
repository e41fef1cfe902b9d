/* SPDX-License-Identifier: MIT */
/*
 * Starting a domain's process.  After fork the child may only make
 * async-signal-safe calls (the kernel may have other threads holding
 * locks), so everything it needs -- argv, envp, the fd plan -- is built
 * before the fork.  The child keeps exactly: 0 = /dev/null, 1 and 2 = the
 * log pipe, 3 = the channel memfd, 4 = the arena memfd.  Every other fd of
 * the kernel is closed with close_range(), whether it had O_CLOEXEC or not.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

/* Environment variables a domain inherits; nothing else of the kernel's. */
static const char *const env_keep[] = {
	"LXDS_FIPC_FENCE", "ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS",
	"LD_LIBRARY_PATH",
};

/*
 * Appended to ASAN_OPTIONS (read only by sanitizer builds): the domain's
 * own fault reporters must see crashes, not ASan's, whose report needs
 * syscalls the sandbox refuses; and a leak check at exit cannot run there.
 */
static const char asan_domain[] = ":handle_segv=0:handle_sigbus=0:handle_sigill=0:handle_sigfpe=0"
				  ":handle_abort=0:detect_leaks=0";

#define HIGH_FD 100 /* parked above any target fd while shuffling */

static void child(const struct lxd__spawn *s, char **envp, int ppid)
{
	(void)ppid;
	/* Dies with the kernel (re-armed and checked again in the domain,
	 * which also closes the race with an early death of the parent). */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	setpgid(0, 0); /* its own process group: the kernel's job control never reaches it */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	static const int reset[] = {SIGSYS, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGPIPE};
	for (size_t i = 0; i < sizeof(reset) / sizeof(reset[0]); i++)
		signal(reset[i], SIG_DFL);

	/* Park the three fds high first so no dup2 below overwrites another
	 * source; F_DUPFD leaves FD_CLOEXEC clear on the copies. */
	int c = fcntl(s->chan_fd, F_DUPFD, HIGH_FD);
	int a = fcntl(s->arena_fd, F_DUPFD, HIGH_FD);
	int l = fcntl(s->log_fd, F_DUPFD, HIGH_FD);
	int n = open("/dev/null", O_RDONLY);
	if (c < 0 || a < 0 || l < 0 || n < 0 || dup2(n, 0) < 0 || dup2(l, 1) < 0 || dup2(l, 2) < 0 ||
	    dup2(c, LXD__CHILD_CHAN_FD) < 0 || dup2(a, LXD__CHILD_ARENA_FD) < 0)
		_exit(126);
	if (syscall(SYS_close_range, LXD__CHILD_ARENA_FD + 1, ~0u, 0) != 0)
		_exit(126);
	execve(s->exe, s->argv, envp);
	static const char msg[] = "lxds-domain: cannot execute the domain program\n";
	ssize_t rc = write(2, msg, sizeof(msg) - 1);
	(void)rc;
	_exit(127);
}

int lxd__domain_spawn(struct lxd__spawn *s)
{
	if (access(s->exe, X_OK) != 0)
		return -errno;
	char *envp[sizeof(env_keep) / sizeof(env_keep[0]) + 1];
	char *envbuf[sizeof(env_keep) / sizeof(env_keep[0])];
	size_t ne = 0;
	for (size_t i = 0; i < sizeof(env_keep) / sizeof(env_keep[0]); i++) {
		const char *v = getenv(env_keep[i]);
		bool asan = strcmp(env_keep[i], "ASAN_OPTIONS") == 0;
		envbuf[i] = NULL;
		if (!v && !asan)
			continue;
		if (!v)
			v = "";
		size_t kl = strlen(env_keep[i]), vl = strlen(v), xl = asan ? strlen(asan_domain) : 0;
		envbuf[i] = malloc(kl + vl + xl + 2);
		if (!envbuf[i])
			continue;
		memcpy(envbuf[i], env_keep[i], kl);
		envbuf[i][kl] = '=';
		memcpy(envbuf[i] + kl + 1, v, vl);
		memcpy(envbuf[i] + kl + 1 + vl, asan ? asan_domain : "", xl + 1);
		envp[ne++] = envbuf[i];
	}
	envp[ne] = NULL;

	int ppid = getpid();
	pid_t pid = fork();
	if (pid == 0)
		child(s, envp, ppid);
	int err = errno;
	for (size_t i = 0; i < sizeof(env_keep) / sizeof(env_keep[0]); i++)
		free(envbuf[i]);
	if (pid < 0)
		return -err;
	/* Race-free: the child is ours and unreaped, its pid cannot be reused. */
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0) {
		err = errno;
		kill(pid, SIGKILL);
		return -err;
	}
	s->pid = pid;
	s->pidfd = pfd;
	return 0;
}
