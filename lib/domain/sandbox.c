/* SPDX-License-Identifier: MIT */
/*
 * The domain's sandbox, installed after the glue and the module are loaded
 * and before any of their code runs.
 *
 * The seccomp filter's default action is SECCOMP_RET_TRAP, not a plain
 * kill: the kernel then delivers SIGSYS with the offending syscall number
 * in si_syscall, and our handler writes it to the log pipe as a fault
 * record before the process dies.  The handler runs with SIGSYS blocked
 * and SA_RESETHAND, so its own final, forbidden syscall makes the kernel
 * force the default action: the process dies of SIGSYS.  rt_sigaction is
 * not allowed, so driver code cannot replace the handler; if it blocks
 * SIGSYS, the kernel still kills it (only the record is lost).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/membarrier.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "lxds/compiler.h"

#if defined(LXD_ASAN) || defined(LXD_TSAN)
#define LXD_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(undefined_behavior_sanitizer)
#define LXD_SANITIZED 1
#endif
#endif

/* ---- fault records -------------------------------------------------------------- */

static char *put_str(char *p, const char *s)
{
	while (*s)
		*p++ = *s++;
	return p;
}

static char *put_dec(char *p, long v)
{
	char tmp[24];
	int n = 0;
	unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;
	if (v < 0)
		*p++ = '-';
	do
		tmp[n++] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put_hex(char *p, uint64_t v)
{
	static const char dig[] = "0123456789abcdef";
	char tmp[16];
	int n = 0;
	do
		tmp[n++] = dig[v & 15];
	while ((v >>= 4) != 0);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* Async-signal-safe: formats by hand and writes once (atomic: < PIPE_BUF). */
static void write_record(int sig, int nr, uint64_t addr)
{
	char buf[128], *p = buf;
	p = put_str(p, "\n" LXD_FAULT_PREFIX "sig=");
	p = put_dec(p, sig);
	p = put_str(p, " nr=");
	p = put_dec(p, nr);
	p = put_str(p, " addr=0x");
	p = put_hex(p, addr);
	*p++ = '\n';
	ssize_t rc = write(STDERR_FILENO, buf, (size_t)(p - buf));
	(void)rc;
}

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	write_record(sig, si->si_syscall, 0);
	/* Forbidden, with SIGSYS blocked: the kernel kills us with SIGSYS. */
	syscall(SYS_reboot, 0, 0, 0, 0);
	syscall(SYS_exit_group, 128 + SIGSYS); /* not reached */
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	write_record(sig, -1, (uint64_t)(uintptr_t)si->si_addr);
	/* SA_RESETHAND made the action default again.  A real fault repeats
	 * when we return and kills us; a sent signal is sent again. */
	if (si->si_code <= 0)
		syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), sig);
}

static int install_handlers(void)
{
	/* Its own stack: a stack overflow must still be reported. */
	static char altstack[64 * 1024] __attribute__((aligned(16)));
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack)};
	if (sigaltstack(&ss, NULL) != 0)
		return -errno;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sa.sa_sigaction = on_sigsys;
	if (sigaction(SIGSYS, &sa, NULL) != 0)
		return -errno;
	static const int faults[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE};
	sa.sa_sigaction = on_fault;
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
		if (sigaction(faults[i], &sa, NULL) != 0)
			return -errno;
	return 0;
}

/* ---- the allow-list ----------------------------------------------------------------- */

#define ALLOW(ctx, name, ...) seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(name), __VA_ARGS__)

static int build_filter(scmp_filter_ctx ctx, const struct lxd_chan *ch)
{
	int rc = 0;
	/* Ending, and returning from the fault handlers. */
	rc |= ALLOW(ctx, exit, 0);
	rc |= ALLOW(ctx, exit_group, 0);
	rc |= ALLOW(ctx, rt_sigreturn, 0);
	/* abort()/raise() on itself only: a crash must still look like one. */
	rc |= ALLOW(ctx, rt_sigprocmask, 0);
	rc |= ALLOW(ctx, getpid, 0);
	rc |= ALLOW(ctx, gettid, 0);
	rc |= ALLOW(ctx, tgkill, 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0));
	/* Time and yielding (clock_gettime is mostly vDSO; the fallback). */
	rc |= ALLOW(ctx, clock_gettime, 0);
	rc |= ALLOW(ctx, gettimeofday, 0);
	rc |= ALLOW(ctx, sched_yield, 0);
	rc |= ALLOW(ctx, nanosleep, 0);
	rc |= ALLOW(ctx, clock_nanosleep, 0);
	/* The log: stdout and stderr are both the pipe the kernel reads. */
	rc |= ALLOW(ctx, write, 1, SCMP_A0(SCMP_CMP_EQ, STDOUT_FILENO, 0));
	rc |= ALLOW(ctx, write, 1, SCMP_A0(SCMP_CMP_EQ, STDERR_FILENO, 0));
	rc |= ALLOW(ctx, writev, 1, SCMP_A0(SCMP_CMP_EQ, STDOUT_FILENO, 0));
	rc |= ALLOW(ctx, writev, 1, SCMP_A0(SCMP_CMP_EQ, STDERR_FILENO, 0));
	/* fIPC: sleeping on and ringing its own doorbells, nothing else. */
	rc |= ALLOW(ctx, futex, 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)(uintptr_t)&ch->rx_bell->seq, 0));
	rc |= ALLOW(ctx, futex, 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)(uintptr_t)&ch->tx_bell->seq, 0));
	rc |= ALLOW(ctx, membarrier, 1, SCMP_A0(SCMP_CMP_EQ, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0));
	/* malloc: anonymous memory, never executable.  New code cannot appear. */
	rc |= ALLOW(ctx, brk, 0);
	rc |= ALLOW(ctx, munmap, 0);
	rc |= ALLOW(ctx, madvise, 0);
	rc |= ALLOW(ctx, mremap, 0);
	rc |= ALLOW(ctx, mmap, 2, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0),
		    SCMP_A3(SCMP_CMP_MASKED_EQ, MAP_ANONYMOUS, MAP_ANONYMOUS));
	rc |= ALLOW(ctx, mprotect, 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
#ifdef LXD_SANITIZED
	/* Sanitizer runtimes (test builds only): their background thread and
	 * report paths.  The syscalls the tests expect to be refused stay out. */
	rc |= ALLOW(ctx, futex, 0);
	rc |= ALLOW(ctx, sigaltstack, 0);
	rc |= ALLOW(ctx, sched_getaffinity, 0);
	rc |= ALLOW(ctx, getrlimit, 0);
	rc |= ALLOW(ctx, prlimit64, 0);
	rc |= ALLOW(ctx, getppid, 0);
#endif
	return rc ? -EINVAL : 0;
}

int lxd__sandbox_lockdown(const struct lxd_chan *ch)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return -errno;
	struct rlimit no_core = {0, 0};
	if (setrlimit(RLIMIT_CORE, &no_core) != 0)
		return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -errno;
	int rc = install_handlers();
	if (rc)
		return rc;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return -ENOMEM;
	/* Another ABI (int 0x80, x32) has other numbers: no record, just die. */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	/* Every thread (sanitizer runtimes start one), not just this one. */
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc == 0)
		rc = build_filter(ctx, ch);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	return rc < 0 ? rc : 0;
}
