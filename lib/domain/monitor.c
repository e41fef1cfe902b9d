/* SPDX-License-Identifier: MIT */
/*
 * A domain's monitor thread: relays its log, enforces the hang deadline and
 * cleans up after its death.
 *
 * It polls the domain's pidfd (readable the moment the process ends, so a
 * crash is seen at once) and the read end of its log pipe, waking every
 * few milliseconds to check the deadline.  On death it reads the CPU time
 * (still there for a zombie), drains the log (the fault record is the last
 * thing a dying domain writes), reaps the process, classifies the end,
 * marks the channel dead (every waiter gets -EIO), revokes every
 * capability, and only then announces DEAD.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "domain_priv.h"
#include "lxds/util.h"

int lxd__request_kill(struct lxd_domain *d, enum lxd_domain_end why)
{
	int rc = -ESRCH;
	pthread_mutex_lock(&d->lock);
	if (d->pidfd >= 0 && d->st.state != LXD_DOMAIN_DEAD) {
		if (!d->kill_reason)
			d->kill_reason = (int)why;
		rc = syscall(SYS_pidfd_send_signal, d->pidfd, SIGKILL, NULL, 0) == 0 ? 0 : -errno;
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

static void log_line(struct lxd_domain *d, char *line)
{
	int sig, nr;
	uint64_t addr;
	if (lxd_fault_parse(line, &sig, &nr, &addr) == 0) {
		/* Kept as a claim: it is believed only if the wait status agrees. */
		d->fault_seen = true;
		d->fault_sig = sig;
		d->fault_nr = nr;
		d->fault_addr = addr;
		return;
	}
	if (!*line)
		return;
	if (d->o.log)
		d->o.log(d->o.log_arg, d->name, line);
	else
		fprintf(stderr, "[%s] %s\n", d->name, line);
}

/* Read what the pipe has.  Returns false at end of file or on error. */
static bool read_log(struct lxd_domain *d)
{
	for (;;) {
		size_t room = sizeof(d->logbuf) - 1 - d->loglen;
		ssize_t n = read(d->log_rd, d->logbuf + d->loglen, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 && errno == EAGAIN;
		d->loglen += (size_t)n;
		d->logbuf[d->loglen] = '\0';
		char *start = d->logbuf, *nl;
		while ((nl = memchr(start, '\n', d->loglen - (size_t)(start - d->logbuf)))) {
			*nl = '\0';
			log_line(d, start);
			start = nl + 1;
		}
		size_t rest = d->loglen - (size_t)(start - d->logbuf);
		if (rest == sizeof(d->logbuf) - 1) { /* a line too long: cut it */
			log_line(d, d->logbuf);
			rest = 0;
		}
		memmove(d->logbuf, start, rest);
		d->loglen = rest;
	}
}

static void classify(struct lxd_domain *d, const siginfo_t *si, struct lxd_domain_status *st)
{
	bool signaled = si->si_code == CLD_KILLED || si->si_code == CLD_DUMPED;
	st->signo = signaled ? si->si_status : 0;
	st->exit_code = signaled ? 0 : si->si_status;
	st->syscall_nr = -1;
	st->fault_addr = 0;
	st->fault_reported = false;
	snprintf(st->syscall_name, sizeof(st->syscall_name), "?");
	if (d->kill_reason && signaled && si->si_status == SIGKILL) {
		st->end = (enum lxd_domain_end)d->kill_reason;
		if (st->end == LXD_END_HUNG)
			snprintf(st->reason, sizeof(st->reason),
				 "killed: a call went unanswered for %u ms", d->o.hang_ms);
		else if (st->end == LXD_END_BAD_REF)
			snprintf(st->reason, sizeof(st->reason),
				 "killed: it presented a forged, stale or wrongly typed reference");
		else
			snprintf(st->reason, sizeof(st->reason), "killed on request");
		return;
	}
	if (!signaled) {
		st->end = LXD_END_EXIT;
		snprintf(st->reason, sizeof(st->reason), "exited with status %d", st->exit_code);
		return;
	}
	bool report = d->fault_seen && d->fault_sig == si->si_status;
	if (si->si_status == SIGSYS) {
		st->end = LXD_END_SYSCALL;
		if (report) {
			st->fault_reported = true;
			st->syscall_nr = d->fault_nr;
			char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, d->fault_nr);
			snprintf(st->syscall_name, sizeof(st->syscall_name), "%s", name ? name : "?");
			free(name);
		}
		snprintf(st->reason, sizeof(st->reason),
			 "killed by the sandbox: system call %s (%d) is not allowed in a domain",
			 st->syscall_name, st->syscall_nr);
		return;
	}
	st->end = LXD_END_SIGNAL;
	if (report) {
		st->fault_reported = true;
		st->fault_addr = d->fault_addr;
	}
	if (report && (si->si_status == SIGSEGV || si->si_status == SIGBUS))
		snprintf(st->reason, sizeof(st->reason), "crashed: %s at address 0x%llx",
			 strsignal(si->si_status), (unsigned long long)st->fault_addr);
	else
		snprintf(st->reason, sizeof(st->reason), "crashed: %s", strsignal(si->si_status));
}

static void on_death(struct lxd_domain *d)
{
	uint64_t cpu = 0;
	bool have_cpu = lxd_proc_cpu_ns(d->pid, &cpu) == 0; /* a zombie still has its stat */
	if (d->log_rd >= 0) {
		read_log(d);
		if (d->loglen) { /* an unterminated last line */
			d->logbuf[d->loglen] = '\0';
			log_line(d, d->logbuf);
			d->loglen = 0;
		}
	}
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	while (waitid(P_PIDFD, (id_t)d->pidfd, &si, WEXITED) != 0 && errno == EINTR)
		;

	pthread_mutex_lock(&d->lock);
	classify(d, &si, &d->st);
	if (have_cpu)
		d->st.cpu_ns = cpu;
	d->st.state = LXD_DOMAIN_DEAD;
	d->st.deaths++;
	close(d->pidfd);
	d->pidfd = -1;
	pthread_mutex_unlock(&d->lock);

	/* Nobody hangs on a dead domain; nothing it held stays reachable. */
	lxd_chan_mark_dead(&d->chan);
	lxd_cap_revoke_all(&d->caps);

	pthread_mutex_lock(&d->lock);
	d->cleaned_up = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	if (d->o.on_death)
		d->o.on_death(d->o.on_death_arg, d);
}

static void check_deadline(struct lxd_domain *d)
{
	if (atomic_load_explicit(&d->in_flight, memory_order_relaxed) == 0)
		return;
	uint64_t since = atomic_load_explicit(&d->progress_ns, memory_order_relaxed);
	uint64_t now = lxd_now_ns();
	if (now > since && now - since > (uint64_t)d->o.hang_ms * 1000000ull)
		lxd__request_kill(d, LXD_END_HUNG);
}

void *lxd__monitor_main(void *arg)
{
	struct lxd_domain *d = arg;
	/* Check the deadline a few times per period, at most every 100 ms. */
	int period = (int)(d->o.hang_ms / 8);
	period = period < 1 ? 1 : period > 100 ? 100 : period;
	bool log_open = d->log_rd >= 0;
	for (;;) {
		struct pollfd p[2] = {{.fd = d->pidfd, .events = POLLIN},
				      {.fd = log_open ? d->log_rd : -1, .events = POLLIN}};
		int n = poll(p, 2, period);
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && (p[1].revents & (POLLIN | POLLHUP)))
			log_open = read_log(d);
		if (n > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			on_death(d);
			return NULL;
		}
		check_deadline(d);
	}
	return NULL;
}
