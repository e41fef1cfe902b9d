/* SPDX-License-Identifier: MIT */
/*
 * The stack pool: one mapping per scheduler, each stack with an
 * inaccessible guard below it, all made at init (a sandboxed domain may not
 * call mmap later).  A thread that runs off its stack touches its guard
 * page; the SIGSEGV handler, on a signal stack set up at init (the faulting
 * stack is unusable), finds whose guard it is, writes a message naming the
 * thread and aborts.  Faults anywhere else go to whoever handled SIGSEGV
 * before us.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

/* Every live scheduler, for the signal handler (which may not lock). */
#define REGISTRY_SLOTS 256
static _Atomic(struct lxd_sched *) registry[REGISTRY_SLOTS];
static struct lxd_sched reserved; /* holds a slot while its scheduler is set up; covers nothing */

static struct sigaction old_segv;
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;
static int handler_rc;

/* Signal-safe output: no stdio in a signal handler. */
static void put_str(char *buf, size_t *n, size_t cap, const char *s)
{
	while (*s && *n + 1 < cap)
		buf[(*n)++] = *s++;
}

static void put_num(char *buf, size_t *n, size_t cap, uint64_t v, unsigned base)
{
	char tmp[24];
	int k = 0;
	do {
		tmp[k++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (k > 0 && *n + 1 < cap)
		buf[(*n)++] = tmp[--k];
}

/* The thread whose guard holds @addr, or NULL. */
static struct lxd_thread *guard_owner(struct lxd_sched *s, uintptr_t addr)
{
	uintptr_t base = (uintptr_t)s->pool;
	if (addr < base || addr >= base + s->pool_len)
		return NULL;
	size_t i = (addr - base) / s->stride;
	if ((addr - base) % s->stride >= s->guard)
		return NULL; /* inside a stack proper: not an overflow */
	return &s->threads[i + 1];
}

static void segv_handler(int sig, siginfo_t *si, void *uctx)
{
	uintptr_t addr = (uintptr_t)si->si_addr;
	for (unsigned k = 0; k < REGISTRY_SLOTS; k++) {
		struct lxd_sched *s = atomic_load_explicit(&registry[k], memory_order_acquire);
		struct lxd_thread *t = s ? guard_owner(s, addr) : NULL;
		if (!t)
			continue;
		char buf[256];
		size_t n = 0;
		put_str(buf, &n, sizeof(buf), "lxds async: stack overflow in lightweight thread ");
		put_num(buf, &n, sizeof(buf), t->index, 10);
		put_str(buf, &n, sizeof(buf), " '");
		put_str(buf, &n, sizeof(buf), t->name ? t->name : "?");
		put_str(buf, &n, sizeof(buf), "' (stack of ");
		put_num(buf, &n, sizeof(buf), s->stack_size, 10);
		put_str(buf, &n, sizeof(buf), " bytes, fault at 0x");
		put_num(buf, &n, sizeof(buf), addr, 16);
		put_str(buf, &n, sizeof(buf), " in its guard page)\n");
		ssize_t w = write(STDERR_FILENO, buf, n);
		(void)w;
		abort();
	}
	/* Not ours: give the fault back to the previous disposition.  Returning
	 * re-runs the faulting instruction under it. */
	if (old_segv.sa_flags & SA_SIGINFO) {
		old_segv.sa_sigaction(sig, si, uctx);
		return;
	}
	if (old_segv.sa_handler != SIG_DFL && old_segv.sa_handler != SIG_IGN) {
		old_segv.sa_handler(sig);
		return;
	}
	if (sigaction(SIGSEGV, &old_segv, NULL) != 0) {
		static const char msg[] = "lxds async: segmentation fault\n";
		ssize_t w = write(STDERR_FILENO, msg, sizeof(msg) - 1);
		(void)w;
		_exit(128 + SIGSEGV);
	}
}

static void install_handler(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = segv_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	handler_rc = sigaction(SIGSEGV, &sa, &old_segv) ? -errno : 0;
}

static size_t round_pages(size_t n, size_t page)
{
	return (n + page - 1) / page * page;
}

int lxd__stacks_map(struct lxd_sched *s, unsigned n, size_t stack_size, size_t guard)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	s->stack_size = round_pages(stack_size, page);
	s->guard = guard ? round_pages(guard, page) : page;
	s->stride = s->stack_size + s->guard;
	s->pool_len = s->stride * n;

	pthread_once(&handler_once, install_handler);
	if (handler_rc)
		return handler_rc;

	int slot = -1;
	for (int k = 0; k < REGISTRY_SLOTS && slot < 0; k++) {
		struct lxd_sched *expect = NULL;
		if (atomic_compare_exchange_strong(&registry[k], &expect, &reserved))
			slot = k;
	}
	if (slot < 0)
		return -ENOSPC;

	int rc = 0;
	/* NORESERVE: stacks cost memory only where threads actually went. */
	s->pool = mmap(NULL, s->pool_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
	if (s->pool == MAP_FAILED) {
		rc = -errno;
		s->pool = NULL;
		goto fail;
	}
	for (unsigned i = 0; i < n; i++)
		if (mprotect(s->pool + (size_t)i * s->stride, s->guard, PROT_NONE) != 0) {
			rc = -errno;
			goto fail;
		}

	/* The overflow handler runs here: the faulting stack has no room. */
	s->altstack_len = 64 * 1024;
	s->altstack = mmap(NULL, s->altstack_len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (s->altstack == MAP_FAILED) {
		rc = -errno;
		s->altstack = NULL;
		goto fail;
	}
	stack_t ss = {.ss_sp = s->altstack, .ss_size = s->altstack_len, .ss_flags = 0};
	if (sigaltstack(&ss, NULL) != 0) {
		rc = -errno;
		goto fail;
	}
	/* Release: the handler's acquire load sees a filled-in scheduler. */
	atomic_store_explicit(&registry[slot], s, memory_order_release);
	s->registry_slot = slot;
	return 0;

fail:
	atomic_store(&registry[slot], NULL);
	if (s->pool)
		munmap(s->pool, s->pool_len);
	if (s->altstack)
		munmap(s->altstack, s->altstack_len);
	s->pool = NULL;
	s->altstack = NULL;
	return rc;
}

void lxd__stacks_unmap(struct lxd_sched *s)
{
	if (s->registry_slot >= 0)
		atomic_store(&registry[s->registry_slot], NULL);
	stack_t ss = {.ss_flags = SS_DISABLE};
	sigaltstack(&ss, NULL);
	munmap(s->pool, s->pool_len);
	munmap(s->altstack, s->altstack_len);
}
