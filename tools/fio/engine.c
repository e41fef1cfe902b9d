/* SPDX-License-Identifier: MIT */
/*
 * lxds_fio.so: an fio external ioengine (ioengine=external:.../lxds_fio.so)
 * that runs the lxds kernel inside fio, loads a block driver native or
 * isolated, and submits fio's I/O through the kernel's blk-mq path.
 *
 *   [job]
 *   ioengine=external:/path/to/lxds_fio.so
 *   lxds_driver=null_blk      (default)
 *   lxds_mode=native          (or isolated)
 *   lxds_params=memory_backed=1,gb=1
 *   lxds_poll=1               (default: the job thread reaps by polling)
 *
 * I/O buffers come from the driver's data memory (lxd_data_alloc through
 * fio's iomem hooks), so the same path works when the driver is isolated
 * and can only see its arena.  With lxds_poll=1 (the default) the job
 * thread polls (lxd_poll_begin): an isolated driver's requests go over the
 * thread's own lane and their completions run when getevents polls.
 * Completions (inline in the submit, in lxd_poll, or on another thread:
 * the softirq thread, a dispatcher) are queued on a per-job list;
 * getevents polls or spins briefly, then sleeps on a condition variable.
 *
 * This file sees fio's headers only; kern.c holds the lxds side.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fio.h"
#include "optgroup.h"

#include "lxfio.h"

/*
 * Requests a job's plug holds at most while completions are still being
 * handed out: half the job's iodepth, at most PLUG_MAX (Linux's plug
 * limit, BLK_MAX_REQUEST_COUNT, and a lane's LXD_RQ_BATCH_MAX).  Half, so
 * that while fio fills one run the driver works on the other: a plug of
 * the whole depth is a lockstep of one batch in flight (qd 32: 0.67 of
 * native isolated against 0.81 at 16), a smaller one makes more, smaller
 * batches, each paying the crossing (qd 32: 8 gave 0.79-0.81 against
 * 0.81-0.86 at 16; qd 128: 16 and 32 gave 0.90 and 0.92 against 0.86 at
 * 8).  A native driver ends its requests inside queue_rq, plug or not.
 * (docs/evaluation.md)
 */
#define PLUG_MAX 32

/* Spins on the completion count before sleeping: a few microseconds, less than a futex wake. */
#define SPIN_LOOPS 4000

struct lxfio_options {
	void *pad; /* fio: an option's off1 must not be 0 */
	char *driver;
	char *mode;
	char *params;
	unsigned int poll;
};

/* One per io_u: the kernel's view of the I/O and the way back to fio's. */
struct lxfio_io {
	struct lxd_blk_io io; /* first: end_io gets this pointer */
	struct io_u *io_u;
	struct lxfio_data *d;
	struct lxfio_io *next; /* on the completion list */
};

/* One per job (thread_data). */
struct lxfio_data {
	struct lxfio_inst *in;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct lxfio_io *head, *tail; /* completed, not yet reaped (under lock) */
	_Atomic unsigned ndone;       /* length of that list, read without the lock to spin */
	bool sleeping;                /* getevents waits on cond (under lock) */
	bool polling;                 /* this job thread reaps with lxd_poll (lxds_poll=1) */
	bool plugged;                 /* plug holds requests submitted since the last getevents */
	unsigned plug_n;              /* requests submitted under it */
	unsigned plug_max;            /* flush at this many while completions are still in (PLUG_MAX) */
	struct lxd_blk_plug plug;
	struct io_u **events;
	unsigned nevents, cap;
};

static struct fio_option options[] = {
	{
		.name = "lxds_driver",
		.lname = "lxds driver",
		.type = FIO_OPT_STR_STORE,
		.off1 = offsetof(struct lxfio_options, driver),
		.def = "null_blk",
		.help = "lxds block driver module to load (found like lxds blk --driver)",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = "lxds_mode",
		.lname = "lxds mode",
		.type = FIO_OPT_STR_STORE,
		.off1 = offsetof(struct lxfio_options, mode),
		.def = "native",
		.help = "native (dlopen into the kernel) or isolated (in a sandboxed domain)",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = "lxds_params",
		.lname = "lxds module parameters",
		.type = FIO_OPT_STR_STORE,
		.off1 = offsetof(struct lxfio_options, params),
		.help = "module parameters, name=value separated by ',' or ':' (memory_backed=1:gb=1)",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = "lxds_poll",
		.lname = "lxds polled completions",
		.type = FIO_OPT_BOOL,
		.off1 = offsetof(struct lxfio_options, poll),
		.def = "1",
		.help = "the job thread reaps its own completions (lxd_poll): an isolated driver's "
			"requests go over the thread's own lane, not through the dispatcher thread",
		.category = FIO_OPT_C_ENGINE,
		.group = FIO_OPT_G_INVALID,
	},
	{
		.name = NULL,
	},
};

static struct lxfio_conf conf_of(struct thread_data *td)
{
	struct lxfio_options *o = td->eo;
	return (struct lxfio_conf){.driver = o->driver, .mode = o->mode, .params = o->params};
}

/* Size the job's files: every file of the job is the driver's first disk. */
static int lxfio_setup(struct thread_data *td)
{
	struct lxfio_conf c = conf_of(td);
	char err[256] = "";
	uint64_t bytes;
	unsigned lbs;
	if (!td->files_index) {
		add_file(td, c.driver ? c.driver : "lxds", 0, 0);
		td->o.nr_files = td->o.nr_files ?: 1;
		td->o.open_files++;
	}
	int rc = lxfio_probe(&c, &bytes, &lbs, err, sizeof(err));
	if (rc) {
		log_err("lxds: %s\n", err);
		return 1;
	}
	struct fio_file *f;
	unsigned i;
	for_each_file(td, f, i) {
		f->real_file_size = bytes;
		fio_file_set_size_known(f);
	}
	return 0;
}

/* Send what the job's plug holds (its requests reach the driver as one run). */
static void unplug(struct lxfio_data *d)
{
	if (!d->plugged)
		return;
	lxd_blk_finish_plug(&d->plug);
	d->plugged = false;
	d->plug_n = 0;
}

static void lxfio_cleanup(struct thread_data *td)
{
	struct lxfio_data *d = td->io_ops_data;
	if (!d)
		return;
	unplug(d);
	if (d->polling)
		lxd_poll_end(); /* waits for this thread's requests still in flight */
	lxfio_put(d->in);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d->events);
	free(d);
	td->io_ops_data = NULL;
}

static int lxfio_init(struct thread_data *td)
{
	struct lxfio_conf c = conf_of(td);
	char err[256] = "";
	struct lxfio_data *d = calloc(1, sizeof(*d));
	if (!d) {
		log_err("lxds: out of memory\n");
		return 1;
	}
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* getevents' deadline */
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);
	d->cap = td->o.iodepth ? td->o.iodepth : 1;
	d->plug_max = d->cap / 2;
	if (d->plug_max > PLUG_MAX)
		d->plug_max = PLUG_MAX;
	if (d->plug_max == 0)
		d->plug_max = 1;
	d->events = calloc(d->cap, sizeof(*d->events));
	td->io_ops_data = d;
	if (!d->events) {
		log_err("lxds: out of memory\n");
		return 1;
	}
	int rc = lxfio_get(&c, &d->in, err, sizeof(err));
	if (rc) {
		log_err("lxds: %s\n", err);
		return 1;
	}
	/* fio runs init, queue, getevents and cleanup on the job's own thread. */
	if (((struct lxfio_options *)td->eo)->poll) {
		rc = lxd_poll_begin();
		if (rc) {
			log_err("lxds: lxds_poll=1: cannot poll on this thread (%d)\n", rc);
			return 1;
		}
		d->polling = true;
	}
	return 0;
}

static int lxfio_iomem_alloc(struct thread_data *td, size_t size)
{
	struct lxfio_data *d = td->io_ops_data;
	td->orig_buffer = lxfio_buf_alloc(d->in, size);
	return td->orig_buffer ? 0 : 1;
}

static void lxfio_iomem_free(struct thread_data *td)
{
	lxfio_buf_free(td->orig_buffer);
	td->orig_buffer = NULL;
}

static void lxfio_end_io(struct lxd_blk_io *io)
{
	struct lxfio_io *x = (struct lxfio_io *)io;
	struct lxfio_data *d = x->d;
	x->io_u->error = io->error ? -io->error : 0;
	x->next = NULL;
	pthread_mutex_lock(&d->lock);
	if (d->tail)
		d->tail->next = x;
	else
		d->head = x;
	d->tail = x;
	/* Release: pairs with the acquire load in getevents' spin (a hint only; the list is read under the lock). */
	atomic_fetch_add_explicit(&d->ndone, 1, memory_order_release);
	if (d->sleeping)
		pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

static int lxfio_io_u_init(struct thread_data *td, struct io_u *io_u)
{
	struct lxfio_io *x = calloc(1, sizeof(*x));
	if (!x)
		return 1;
	x->io_u = io_u;
	x->d = td->io_ops_data;
	x->io.end_io = lxfio_end_io;
	x->io.private = x;
	io_u->engine_data = x;
	return 0;
}

static void lxfio_io_u_free(struct thread_data *td, struct io_u *io_u)
{
	(void)td;
	free(io_u->engine_data);
	io_u->engine_data = NULL;
}

static enum fio_q_status lxfio_queue(struct thread_data *td, struct io_u *io_u)
{
	struct lxfio_data *d = td->io_ops_data;
	struct lxfio_io *x = io_u->engine_data;
	enum lxfio_op op;

	fio_ro_check(td, io_u);
	switch (io_u->ddir) {
	case DDIR_READ:
		op = LXFIO_READ;
		break;
	case DDIR_WRITE:
		op = LXFIO_WRITE;
		break;
	case DDIR_SYNC:
	case DDIR_DATASYNC:
		op = LXFIO_FLUSH;
		break;
	case DDIR_TRIM:
		op = LXFIO_DISCARD;
		break;
	default:
		io_u->error = EINVAL;
		return FIO_Q_COMPLETED;
	}
	if (io_u->xfer_buflen > UINT32_MAX) {
		io_u->error = EINVAL;
		return FIO_Q_COMPLETED;
	}
	/* Plugged until getevents finds nothing ready, as Linux plugs a task's
	 * submissions until it sleeps: a driver may take the run in one go. */
	if (!d->plugged) {
		lxd_blk_start_plug(&d->plug);
		d->plugged = true;
		d->plug_n = 0;
	}
	d->plug_n++;
	int rc = lxfio_submit(d->in, &x->io, op, io_u->offset, (uint32_t)io_u->xfer_buflen, io_u->xfer_buf);
	if (rc) {
		io_u->error = -rc;
		return FIO_Q_COMPLETED;
	}
	return FIO_Q_QUEUED;
}

/* Move completed I/Os to events[] (lock held); returns how many are there now. */
static unsigned reap_locked(struct lxfio_data *d, unsigned max)
{
	while (d->head && d->nevents < max) {
		struct lxfio_io *x = d->head;
		d->head = x->next;
		if (!d->head)
			d->tail = NULL;
		d->events[d->nevents++] = x->io_u;
		atomic_fetch_sub_explicit(&d->ndone, 1, memory_order_relaxed);
	}
	return d->nevents;
}

static int lxfio_getevents(struct thread_data *td, unsigned int min, unsigned int max, const struct timespec *t)
{
	struct lxfio_data *d = td->io_ops_data;
	struct timespec deadline;
	if (max > d->cap)
		max = d->cap;
	if (min > max)
		min = max;
	if (t) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += t->tv_sec;
		deadline.tv_nsec += t->tv_nsec;
		if (deadline.tv_nsec >= 1000000000) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000;
		}
	}
	d->nevents = 0;
	/* Completions already in: hand them out and keep the plug (Linux flushes
	 * a task's plug when it sleeps, not when it looks). */
	pthread_mutex_lock(&d->lock);
	unsigned ready = reap_locked(d, max);
	pthread_mutex_unlock(&d->lock);
	if (ready && ready >= min) {
		if (d->plug_n >= d->plug_max)
			unplug(d);
		return (int)ready;
	}
	unplug(d); /* about to poll or wait: what we submitted goes now */
	for (;;) {
		/* Spin a while for completions.  Ours to run when this thread polls
		 * (they come in on its lane); else another thread queues them. */
		for (unsigned i = 0; i < SPIN_LOOPS && !atomic_load_explicit(&d->ndone, memory_order_acquire); i++) {
			if (lxd_poll_inflight()) {
				lxd_poll(0);
				continue;
			}
			/* The kernel's dispatcher thread of an isolated driver may share
			 * this CPU: let it run rather than spin it out of its slice. */
			if ((i & 63) == 63)
				sched_yield();
			__builtin_ia32_pause();
		}
		pthread_mutex_lock(&d->lock);
		if (reap_locked(d, max) >= min) {
			pthread_mutex_unlock(&d->lock);
			break;
		}
		if (lxd_poll_inflight()) {
			/* Nothing queued by others can be all we wait for: poll, sleeping on the lane. */
			pthread_mutex_unlock(&d->lock);
			lxd_poll(1000 * 1000);
			continue;
		}
		d->sleeping = true;
		int rc = 0;
		while (!d->head && rc == 0)
			rc = t ? pthread_cond_timedwait(&d->cond, &d->lock, &deadline)
			       : pthread_cond_wait(&d->cond, &d->lock);
		d->sleeping = false;
		if (rc == ETIMEDOUT) {
			reap_locked(d, max);
			pthread_mutex_unlock(&d->lock);
			break;
		}
		pthread_mutex_unlock(&d->lock);
	}
	return (int)d->nevents;
}

static struct io_u *lxfio_event(struct thread_data *td, int event)
{
	struct lxfio_data *d = td->io_ops_data;
	return d->events[event];
}

/* The disk is opened by loading the driver; fio's files are names for it. */
static int lxfio_open_file(struct thread_data *td, struct fio_file *f)
{
	(void)td;
	(void)f;
	return 0;
}

static int lxfio_close_file(struct thread_data *td, struct fio_file *f)
{
	(void)td;
	(void)f;
	return 0;
}

static int lxfio_invalidate(struct thread_data *td, struct fio_file *f)
{
	(void)td;
	(void)f;
	return 0; /* no page cache between fio and the driver */
}

struct ioengine_ops ioengine = {
	.name = "lxds",
	.version = FIO_IOOPS_VERSION,
	.flags = FIO_DISKLESSIO | FIO_NOEXTEND | FIO_NODISKUTIL,
	.setup = lxfio_setup,
	.init = lxfio_init,
	.cleanup = lxfio_cleanup,
	.queue = lxfio_queue,
	.getevents = lxfio_getevents,
	.event = lxfio_event,
	.open_file = lxfio_open_file,
	.close_file = lxfio_close_file,
	.invalidate = lxfio_invalidate,
	.iomem_alloc = lxfio_iomem_alloc,
	.iomem_free = lxfio_iomem_free,
	.io_u_init = lxfio_io_u_init,
	.io_u_free = lxfio_io_u_free,
	.options = options,
	.option_struct_size = sizeof(struct lxfio_options),
};
