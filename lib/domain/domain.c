/* SPDX-License-Identifier: MIT */
/*
 * The kernel side of a domain's life: create, start (and restart), control
 * calls, stop, kill, destroy.  The monitor thread (monitor.c) owns the
 * death path; everything here waits for it through d->cond.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "domain_priv.h"
#include "lxds/util.h"

#define DEFAULT_ARENA (16u << 20)
#define DEFAULT_SLOTS 256u
#define DEFAULT_HANG_MS 2000u
#define DEFAULT_START_MS 10000u

#ifndef LXDS_DOMAIN_EXE_DEFAULT
#define LXDS_DOMAIN_EXE_DEFAULT "lxds-domain"
#endif

/* ---- arena address slots ------------------------------------------------------------ */

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t slot_used[256];

static int slot_get(void)
{
	int s = -1;
	pthread_mutex_lock(&slots_lock);
	for (unsigned i = 0; i < lxd_arena_slots() && i < sizeof(slot_used); i++)
		if (!slot_used[i]) {
			slot_used[i] = 1;
			s = (int)i;
			break;
		}
	pthread_mutex_unlock(&slots_lock);
	return s;
}

static void slot_put(unsigned s)
{
	pthread_mutex_lock(&slots_lock);
	slot_used[s] = 0;
	pthread_mutex_unlock(&slots_lock);
}

/* ---- options ------------------------------------------------------------------------ */

static char **strv_dup(const char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	char **r = calloc(n + 1, sizeof(*r));
	for (size_t i = 0; r && i < n; i++)
		if (!(r[i] = strdup(v[i])))
			return NULL; /* leaks a little on OOM at create: acceptable */
	return r;
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static void domain_free(struct lxd_domain *d)
{
	free(d->name);
	free(d->module);
	free(d->exe);
	strv_free(d->glue);
	strv_free(d->params);
	free(d);
}

static char *default_name(const char *module)
{
	if (!module)
		return strdup("domain");
	char *copy = strdup(module);
	if (!copy)
		return NULL;
	char *b = basename(copy), *dot = strrchr(b, '.');
	if (dot && dot != b)
		*dot = '\0';
	char *r = strdup(b);
	free(copy);
	return r;
}

static void on_cap_fault(void *arg, enum lxd_cap_fault f, lxd_ref_t ref)
{
	(void)f;
	(void)ref;
	struct lxd_domain *d = arg;
	if (d->o.kill_on_bad_ref)
		lxd__request_kill(d, LXD_END_BAD_REF);
}

int lxd_domain_create(const struct lxd_domain_opts *o, struct lxd_domain **out)
{
	if (!o || !out || (!o->module && !o->glue))
		return -EINVAL;
	*out = NULL;
	struct lxd_domain *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->o = *o;
	d->o.arena_size = o->arena_size ? o->arena_size : DEFAULT_ARENA;
	d->o.chan_slots = o->chan_slots ? o->chan_slots : DEFAULT_SLOTS;
	d->o.hang_ms = o->hang_ms ? o->hang_ms : DEFAULT_HANG_MS;
	d->o.start_ms = o->start_ms ? o->start_ms : DEFAULT_START_MS;
	size_t share = o->arena_domain_share ? o->arena_domain_share : d->o.arena_size / 2;
	share -= share % LXD_ARENA_CHUNK;
	const char *exe = o->exe ? o->exe : getenv("LXDS_DOMAIN_EXE");
	d->exe = strdup(exe ? exe : LXDS_DOMAIN_EXE_DEFAULT);
	d->name = o->name ? strdup(o->name) : default_name(o->module);
	d->module = o->module ? strdup(o->module) : NULL;
	d->glue = strv_dup(o->glue);
	d->params = strv_dup(o->params);
	d->o.name = d->o.module = d->o.exe = NULL;
	d->o.glue = d->o.params = NULL;
	d->pidfd = d->log_rd = d->arena_fd = -1;
	if (!d->exe || !d->name || (o->module && !d->module) || !d->glue || !d->params) {
		domain_free(d);
		return -ENOMEM;
	}
	if (lxd_chan_shm_size(d->o.chan_slots) == 0 || d->o.arena_size % LXD_ARENA_CHUNK ||
	    d->o.arena_size > lxd_arena_slot_span() || share == 0 ||
	    share >= d->o.arena_size || (o->cpu >= 0 && o->cpu >= lxd_cpu_count() && o->cpu >= 1024)) {
		domain_free(d);
		return -EINVAL;
	}
	if (d->module && access(d->module, R_OK) != 0) {
		int e = errno;
		domain_free(d);
		return -e;
	}
	for (size_t i = 0; d->glue[i]; i++)
		if (access(d->glue[i], R_OK) != 0) {
			int e = errno;
			domain_free(d);
			return -e;
		}
	int slot = slot_get();
	if (slot < 0) {
		domain_free(d);
		return -ENOSPC;
	}
	d->slot = (unsigned)slot;
	d->id = (uint32_t)slot + 1;
	d->arena_mem = lxd_arena_map_new(d->slot, d->o.arena_size, &d->arena_fd);
	int rc = d->arena_mem ? 0 : -errno;
	/* The kernel's share first, the domain's after it. */
	d->share_off = d->o.arena_size - share;
	d->share_len = share;
	if (rc == 0)
		rc = lxd_arena_init(&d->arena, d->arena_mem, d->o.arena_size, 0, d->share_off);
	if (rc == 0)
		rc = lxd_cap_init(&d->caps, d->id);
	if (rc) {
		if (d->arena_mem)
			munmap(d->arena_mem, d->o.arena_size);
		if (d->arena_fd >= 0)
			close(d->arena_fd);
		slot_put(d->slot);
		domain_free(d);
		return rc;
	}
	d->caps.on_fault = on_cap_fault;
	d->caps.on_fault_arg = d;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	pthread_mutex_init(&d->call_lock, NULL);
	d->st.state = LXD_DOMAIN_NEW;
	rc = lxd_domain_start(d);
	if (rc) {
		lxd_domain_destroy(d);
		return rc;
	}
	*out = d;
	return 0;
}

/* ---- start ------------------------------------------------------------------------- */

static char **build_argv(struct lxd_domain *d, uint32_t slots)
{
	size_t n = 16;
	for (size_t i = 0; d->glue[i]; i++)
		n++;
	for (size_t i = 0; d->params[i]; i++)
		n++;
	char **v = calloc(n, sizeof(*v));
	if (!v)
		return NULL;
	size_t k = 0;
	bool ok = true;
#define ARG(...) ok &= asprintf(&v[k++], __VA_ARGS__) >= 0
	ARG("lxds-domain");
	ARG("--name=%s", d->name);
	ARG("--slots=%" PRIu32, slots);
	ARG("--arena-base=0x%" PRIxPTR, (uintptr_t)d->arena_mem);
	ARG("--arena-size=%zu", d->o.arena_size);
	ARG("--share-off=%zu", d->share_off);
	ARG("--share-len=%zu", d->share_len);
	ARG("--cpu=%d", d->o.cpu);
	ARG("--ppid=%d", (int)getpid());
	for (size_t i = 0; d->glue[i]; i++)
		ARG("--glue=%s", d->glue[i]);
	if (d->module)
		ARG("--module=%s", d->module);
	for (size_t i = 0; d->params[i]; i++)
		ARG("--param=%s", d->params[i]);
#undef ARG
	if (!ok) {
		strv_free(v);
		return NULL;
	}
	return v;
}

/* Wait for READY on the ring.  Returns 0, -ETIMEDOUT, -ECHILD (died) or -EPROTO. */
static int await_ready(struct lxd_domain *d)
{
	uint64_t deadline = lxd_now_ns() + (uint64_t)d->o.start_ms * 1000000ull;
	for (;;) {
		struct lxd_msg *m = lxd_chan_try_recv(&d->chan);
		if (m) {
			struct lxd_msg_copy c;
			lxd_msg_copy_in(&c, m);
			lxd_chan_release(&d->chan);
			struct lxd_ctl_ready r;
			int rc = lxd_ctl_decode_ready(&c, &r);
			if (rc == 0 && (r.pid != d->pid || r.arena_base != (uintptr_t)d->arena_mem ||
					r.arena_size != d->o.arena_size))
				rc = -EPROTO;
			return rc;
		}
		uint64_t now = lxd_now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		int rc = lxd_chan_wait(&d->chan, (int64_t)(deadline - now));
		if (rc == -EIO)
			return -ECHILD;
	}
}

static void join_monitor(struct lxd_domain *d)
{
	if (d->monitor_started) {
		pthread_join(d->monitor, NULL);
		d->monitor_started = false;
	}
	if (d->log_rd >= 0) {
		close(d->log_rd);
		d->log_rd = -1;
	}
}

int lxd_domain_start(struct lxd_domain *d)
{
	pthread_mutex_lock(&d->lock);
	enum lxd_domain_state s = d->st.state;
	pthread_mutex_unlock(&d->lock);
	if (s != LXD_DOMAIN_NEW && s != LXD_DOMAIN_DEAD)
		return -EBUSY;
	join_monitor(d);
	if (d->chan_open) {
		lxd_chan_close_shm(&d->chan);
		d->chan_open = false;
		/* A restart: the dead domain may have left anything in its share. */
		lxd_arena_zero(d->arena_fd, d->arena_mem, d->share_off, d->share_len);
	}

	int chan_fd = -1, logp[2] = {-1, -1};
	int rc = lxd_chan_create_shm(&d->chan, d->o.chan_slots, &chan_fd);
	if (rc)
		return rc;
	d->chan_open = true;
	if (pipe2(logp, O_CLOEXEC) != 0) {
		rc = -errno;
		close(chan_fd);
		return rc;
	}
	char **argv = build_argv(d, d->o.chan_slots);
	struct lxd__spawn sp = {.exe = d->exe, .argv = argv, .chan_fd = chan_fd,
				.arena_fd = d->arena_fd, .log_fd = logp[1]};
	rc = argv ? lxd__domain_spawn(&sp) : -ENOMEM;
	strv_free(argv);
	close(chan_fd);
	close(logp[1]);
	if (rc) {
		close(logp[0]);
		return rc;
	}
	fcntl(logp[0], F_SETFL, O_NONBLOCK);

	pthread_mutex_lock(&d->lock);
	d->pid = sp.pid;
	d->pidfd = sp.pidfd;
	d->log_rd = logp[0];
	d->kill_reason = 0;
	d->cleaned_up = false;
	d->fault_seen = false;
	d->loglen = 0;
	atomic_store(&d->in_flight, 0);
	d->st = (struct lxd_domain_status){.state = LXD_DOMAIN_STARTING, .pid = sp.pid,
					   .starts = d->st.starts + 1, .deaths = d->st.deaths,
					   .syscall_nr = -1};
	snprintf(d->st.reason, sizeof(d->st.reason), "starting");
	pthread_mutex_unlock(&d->lock);

	rc = pthread_create(&d->monitor, NULL, lxd__monitor_main, d);
	if (rc) {
		/* No monitor: kill and reap by hand. */
		kill(sp.pid, SIGKILL);
		lxd__monitor_main(d);
		return -rc;
	}
	d->monitor_started = true;

	rc = await_ready(d);
	if (rc == 0) {
		pthread_mutex_lock(&d->lock);
		if (d->st.state == LXD_DOMAIN_STARTING) {
			d->st.state = LXD_DOMAIN_RUNNING;
			snprintf(d->st.reason, sizeof(d->st.reason), "running");
		} else {
			rc = -ECHILD;
		}
		pthread_mutex_unlock(&d->lock);
		return rc;
	}
	if (rc != -ECHILD)
		lxd__request_kill(d, LXD_END_KILLED);
	lxd_domain_wait_dead(d, -1);
	return rc;
}

/* ---- calls ------------------------------------------------------------------------- */

void lxd_domain_call_begin(struct lxd_domain *d)
{
	/* The deadline counts from the oldest unanswered call: start the clock
	 * when the first call goes in flight. */
	if (atomic_fetch_add_explicit(&d->in_flight, 1, memory_order_relaxed) == 0)
		atomic_store_explicit(&d->progress_ns, lxd_now_ns(), memory_order_relaxed);
}

void lxd_domain_call_end(struct lxd_domain *d)
{
	atomic_store_explicit(&d->progress_ns, lxd_now_ns(), memory_order_relaxed);
	atomic_fetch_sub_explicit(&d->in_flight, 1, memory_order_relaxed);
}

void lxd_domain_call_progress(struct lxd_domain *d)
{
	atomic_store_explicit(&d->progress_ns, lxd_now_ns(), memory_order_relaxed);
}

/* 0 when calls may go in, -EIO after death (like a call in flight), -ESRCH before start. */
static int callable(struct lxd_domain *d)
{
	pthread_mutex_lock(&d->lock);
	enum lxd_domain_state s = d->st.state;
	pthread_mutex_unlock(&d->lock);
	if (s == LXD_DOMAIN_RUNNING || s == LXD_DOMAIN_STOPPING)
		return 0;
	return s == LXD_DOMAIN_DEAD ? -EIO : -ESRCH;
}

int lxd_domain_call(struct lxd_domain *d, uint32_t op, uint64_t w[LXD_MSG_WORDS])
{
	int ok = callable(d);
	if (ok)
		return ok;
	pthread_mutex_lock(&d->call_lock);
	struct lxd_msg *line = lxd_chan_call_line(&d->chan);
	memcpy(line->w, w, sizeof(line->w));
	lxd_domain_call_begin(d);
	int rc = lxd_chan_call(&d->chan, op);
	lxd_domain_call_end(d);
	if (rc >= 0) {
		struct lxd_msg_copy c;
		lxd_msg_copy_in(&c, line);
		memcpy(w, c.w, sizeof(c.w));
		rc = (int)c.op;
	}
	pthread_mutex_unlock(&d->call_lock);
	return rc;
}

static int ctl_call(struct lxd_domain *d, uint32_t op, uint64_t word, int *result)
{
	uint64_t w[LXD_MSG_WORDS] = {word};
	int rop = lxd_domain_call(d, op, w);
	if (rop < 0)
		return rop;
	struct lxd_msg_copy c = {.op = (uint32_t)rop};
	memcpy(c.w, w, sizeof(w));
	return lxd_ctl_decode_reply(op, word, &c, result);
}

int lxd_domain_ping(struct lxd_domain *d)
{
	static _Atomic uint64_t nonce = 1000;
	int r;
	return ctl_call(d, LXD_CTL_PING, atomic_fetch_add(&nonce, 1), &r);
}

int lxd_domain_module_init(struct lxd_domain *d)
{
	int r = 0;
	int rc = ctl_call(d, LXD_CTL_INIT, 0, &r);
	return rc ? rc : r;
}

/* ---- ending ------------------------------------------------------------------------ */

int lxd_domain_wait_dead(struct lxd_domain *d, int timeout_ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (timeout_ms >= 0) {
		ts.tv_sec += timeout_ms / 1000;
		ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
	}
	int rc = 0;
	pthread_mutex_lock(&d->lock);
	while (!d->cleaned_up && d->st.state != LXD_DOMAIN_NEW && rc == 0)
		rc = timeout_ms < 0 ? pthread_cond_wait(&d->cond, &d->lock)
				    : pthread_cond_timedwait(&d->cond, &d->lock, &ts);
	pthread_mutex_unlock(&d->lock);
	return rc ? -ETIMEDOUT : 0;
}

int lxd_domain_stop(struct lxd_domain *d)
{
	pthread_mutex_lock(&d->lock);
	bool running = d->st.state == LXD_DOMAIN_RUNNING;
	if (running)
		d->st.state = LXD_DOMAIN_STOPPING;
	pthread_mutex_unlock(&d->lock);
	if (!running)
		return -ESRCH;
	int r = 0;
	int rc = ctl_call(d, LXD_CTL_EXIT, 0, &r);
	if (rc == 0)
		rc = r;
	if (lxd_domain_wait_dead(d, (int)d->o.hang_ms) != 0) {
		lxd__request_kill(d, LXD_END_HUNG);
		lxd_domain_wait_dead(d, -1);
	}
	return rc;
}

int lxd_domain_kill(struct lxd_domain *d)
{
	int rc = lxd__request_kill(d, LXD_END_KILLED);
	if (rc == 0)
		lxd_domain_wait_dead(d, -1);
	return rc;
}

void lxd_domain_destroy(struct lxd_domain *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	enum lxd_domain_state s = d->st.state;
	pthread_mutex_unlock(&d->lock);
	if (s == LXD_DOMAIN_RUNNING)
		lxd_domain_stop(d);
	else if (s != LXD_DOMAIN_NEW && s != LXD_DOMAIN_DEAD)
		lxd_domain_kill(d);
	join_monitor(d);
	if (d->chan_open)
		lxd_chan_close_shm(&d->chan);
	lxd_cap_fini(&d->caps);
	lxd_arena_fini(&d->arena);
	munmap(d->arena_mem, d->o.arena_size);
	close(d->arena_fd);
	slot_put(d->slot);
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->call_lock);
	domain_free(d);
}

/* ---- accessors ---------------------------------------------------------------------- */

struct lxd_chan *lxd_domain_chan(struct lxd_domain *d) { return &d->chan; }
struct lxd_arena *lxd_domain_arena(struct lxd_domain *d) { return &d->arena; }
struct lxd_cap_table *lxd_domain_caps(struct lxd_domain *d) { return &d->caps; }
uint32_t lxd_domain_id(const struct lxd_domain *d) { return d->id; }
const char *lxd_domain_name(const struct lxd_domain *d) { return d->name; }

void lxd_domain_get_status(struct lxd_domain *d, struct lxd_domain_status *st)
{
	pthread_mutex_lock(&d->lock);
	*st = d->st;
	bool live = d->st.state != LXD_DOMAIN_DEAD && d->st.state != LXD_DOMAIN_NEW;
	pid_t pid = d->pid;
	pthread_mutex_unlock(&d->lock);
	uint64_t ns;
	if (live && lxd_proc_cpu_ns(pid, &ns) == 0)
		st->cpu_ns = ns;
}

const char *lxd_domain_state_name(enum lxd_domain_state s)
{
	static const char *const n[] = {"new", "starting", "running", "stopping", "dead"};
	return (unsigned)s < LXD_ARRAY_SIZE(n) ? n[s] : "?";
}

const char *lxd_domain_end_name(enum lxd_domain_end e)
{
	static const char *const n[] = {"none", "exit", "syscall", "signal", "hung", "killed", "bad-ref"};
	return (unsigned)e < LXD_ARRAY_SIZE(n) ? n[e] : "?";
}
