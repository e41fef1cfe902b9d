/* SPDX-License-Identifier: MIT */
/*
 * lxds bench async: the LXDs paper's runtime figures, in TSC cycles, and
 * awaited cross-core null calls against the same call made synchronously.
 *
 * Each round measures, one after the other: the bare context switch; the
 * lxd_yield() switch between two threads; creating and finishing an empty
 * async; one blocking async (block, get resumed, finish); then null calls
 * to a peer thread on the other CPU serving over a real fIPC channel with
 * the async dispatcher: synchronously (one request on the ring, spin on the
 * reply, no runtime on the caller's side) and awaited from 1, 4, 16 and 64
 * lightweight threads.  Medians over rounds; the speed-up of 16 in flight
 * is taken inside each round.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "lxds/async.h"
#include "lxds/compiler.h"
#include "lxds/fipc.h"
#include "lxds/util.h"

#define SLOTS 256
#define MICRO_ITERS 2000    /* per timed batch */
#define MICRO_BATCHES 200
#define CALLS 200000        /* null calls per case per round */

/* ---- the peer: an async dispatcher on the other CPU -------------------------------------- */

struct peer {
	struct lxd_chan ch;
	struct lxd_ep ep;
	_Atomic bool stop;
	_Atomic int ready;
	int cpu, pin_rc;
};

static int null_handler(void *ctx, const uint64_t in[7], uint64_t out[7])
{
	(void)ctx;
	out[0] = in[0] + 1;
	return 0;
}

static const lxd_rpc_fn peer_handlers[] = {null_handler};

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	p->pin_rc = lxd_pin_self(p->cpu);
	struct lxd_ep_config ec = {.handlers = peer_handlers, .nhandlers = 1};
	if (lxd_async_init(NULL) != 0 || lxd_ep_init(&p->ep, &p->ch, &ec) != 0) {
		atomic_store(&p->ready, -1);
		return NULL;
	}
	atomic_store(&p->ready, 1);
	lxd_async_serve(&p->stop);
	lxd_ep_fini(&p->ep);
	lxd_async_fini();
	return NULL;
}

/* ---- micro cases ------------------------------------------------------------------------ */

static void empty(void *arg) { (void)arg; }

static void yield_loop(void *arg)
{
	unsigned n = *(unsigned *)arg;
	for (unsigned i = 0; i < n; i++)
		lxd_yield();
}

static void block_once(void *arg)
{
	(void)arg;
	lxd_yield();
}

/* Median over batches of cycles per iteration of @body. */
static double timed(double *samples, void (*body)(unsigned n))
{
	body(MICRO_ITERS); /* warm */
	for (int b = 0; b < MICRO_BATCHES; b++) {
		uint64_t t0 = lxd_rdtsc();
		body(MICRO_ITERS);
		samples[b] = (double)(lxd_rdtsc() - t0) / MICRO_ITERS;
	}
	return stats_median(samples, MICRO_BATCHES);
}

static void create_finish(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct lxd_finish f = LXD_FINISH_INIT;
		lxd_async(&f, empty, NULL);
		lxd_finish(&f);
	}
}

static void blocking(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct lxd_finish f = LXD_FINISH_INIT;
		lxd_async(&f, block_once, NULL);
		lxd_finish(&f);
	}
}

/* Two threads yielding to each other: cycles per switch, scheduler included. */
static void yields(unsigned n)
{
	LXD_DO_FINISH(f) {
		lxd_async(&f, yield_loop, &n);
		lxd_async(&f, yield_loop, &n);
	}
}

/* ---- null calls --------------------------------------------------------------------------- */

static void fail(const char *what)
{
	fprintf(stderr, "lxds bench async: %s: wrong answer from the peer\n", what);
	exit(1);
}

/* Synchronous: one request on the ring, spin until its reply is there. */
static double sync_calls(struct lxd_chan *ch, unsigned n)
{
	uint64_t t0 = lxd_now_ns();
	for (unsigned i = 0; i < n; i++) {
		struct lxd_msg *m;
		while (!(m = lxd_chan_try_reserve(ch)))
			lxd_cpu_relax();
		m->w[0] = i;
		lxd_msg_set(m, 0, 1);
		lxd_chan_publish(ch);
		while (!(m = lxd_chan_try_recv(ch)))
			lxd_cpu_relax();
		uint64_t h = atomic_load_explicit(&m->hdr, memory_order_relaxed);
		if (m->w[0] != (uint64_t)i + 1 || lxd_hdr_op(h) != LXD_OP_REPLY)
			fail("synchronous call");
		lxd_chan_release(ch);
	}
	return (double)n / (double)(lxd_now_ns() - t0) * 1e3; /* Mcalls/s */
}

struct worker {
	struct lxd_ep *ep;
	unsigned calls;
};

static void worker_body(void *arg)
{
	struct worker *w = arg;
	uint64_t in[7] = {0}, out[7];
	for (unsigned i = 0; i < w->calls; i++) {
		in[0] = i;
		if (lxd_call(w->ep, 0, in, out) != 0 || out[0] != (uint64_t)i + 1)
			fail("awaited call");
	}
}

static double async_calls(struct lxd_ep *ep, unsigned inflight, unsigned n)
{
	struct worker w[64];
	uint64_t t0 = lxd_now_ns();
	LXD_DO_FINISH(f) {
		for (unsigned k = 0; k < inflight; k++) {
			w[k] = (struct worker){ep, n / inflight};
			lxd_async(&f, worker_body, &w[k]);
		}
	}
	return (double)(n / inflight * inflight) / (double)(lxd_now_ns() - t0) * 1e3;
}

enum col { C_SWITCH, C_YIELD, C_CREATE, C_BLOCK, C_SYNC, C_A1, C_A4, C_A16, C_A64, C_RATIO16, NCOL };
static const unsigned inflight[] = {1, 4, 16, 64};

int lxd_bench_async(int argc, char **argv)
{
	struct bench_opts o;
	int rc = bench_parse(argc, argv, "async",
			     "The async runtime: bare context switch, yield between two threads,\n"
			     "create+finish of an empty async, one blocking async (TSC cycles), and\n"
			     "cross-core null calls through fIPC: synchronous vs awaited with 1, 4,\n"
			     "16 and 64 in flight (million calls per second), interleaved per round.",
			     11, &o);
	if (rc)
		return rc - 1;

	struct peer *p = aligned_alloc(LXD_CACHE_LINE, sizeof(*p));
	memset(p, 0, sizeof(*p));
	p->cpu = o.cpu[1];
	struct lxd_chan *ch = aligned_alloc(LXD_CACHE_LINE, sizeof(*ch));
	int memfd;
	if ((rc = lxd_chan_create_shm(ch, SLOTS, &memfd)) != 0 ||
	    (rc = lxd_chan_open_shm(&p->ch, memfd, SLOTS, LXD_SIDE_DOMAIN)) != 0) {
		fprintf(stderr, "lxds bench async: cannot create a channel: %s\n", strerror(-rc));
		return 1;
	}
	close(memfd);
	if ((rc = lxd_pin_self(o.cpu[0])) != 0) {
		fprintf(stderr, "lxds bench async: cannot pin to CPU %d: %s\n", o.cpu[0], strerror(-rc));
		return 1;
	}
	if ((rc = lxd_async_init(NULL)) != 0) {
		fprintf(stderr, "lxds bench async: runtime: %s\n", strerror(-rc));
		return 1;
	}
	pthread_t th;
	if (pthread_create(&th, NULL, peer_main, p) != 0) {
		fprintf(stderr, "lxds bench async: cannot start the peer thread\n");
		return 1;
	}
	while (atomic_load(&p->ready) == 0)
		lxd_cpu_relax();
	if (atomic_load(&p->ready) < 0) {
		fprintf(stderr, "lxds bench async: the peer could not set up its runtime\n");
		return 1;
	}
	double cpns = lxd_tsc_per_ns();

	double *samples = malloc(MICRO_BATCHES * sizeof(*samples));
	double *col[NCOL];
	for (int c = 0; c < NCOL; c++)
		col[c] = calloc(o.rounds, sizeof(double));

	for (unsigned r = 0; r < o.rounds; r++) {
		bench_progress(&o, "bench async", r + 1, o.rounds);
		/* The channel is idle here: the endpoint attaches for the awaited
		 * calls only, so the micro cases never poll it. */
		for (int b = 0; b < MICRO_BATCHES; b++)
			samples[b] = lxd_async_measure_switch(MICRO_ITERS);
		col[C_SWITCH][r] = stats_median(samples, MICRO_BATCHES);
		col[C_YIELD][r] = timed(samples, yields) / 2;
		col[C_CREATE][r] = timed(samples, create_finish);
		col[C_BLOCK][r] = timed(samples, blocking);

		col[C_SYNC][r] = sync_calls(ch, CALLS);
		struct lxd_ep ep;
		if (lxd_ep_init(&ep, ch, NULL) != 0)
			fail("endpoint");
		for (int k = 0; k < 4; k++)
			col[C_A1 + k][r] = async_calls(&ep, inflight[k], CALLS);
		lxd_ep_fini(&ep);
		col[C_RATIO16][r] = col[C_A16][r] / col[C_SYNC][r];
	}
	atomic_store(&p->stop, true);
	lxd_chan_kick_self(&p->ch);
	pthread_join(th, NULL);
	if (p->pin_rc)
		fprintf(stderr, "lxds bench async: warning: peer not pinned to CPU %d: %s\n", p->cpu,
			strerror(-p->pin_rc));

	double med[NCOL];
	for (int c = 0; c < NCOL; c++)
		med[c] = stats_median(col[c], o.rounds);
	if (o.json) {
		json_begin(stdout);
		json_num(stdout, "rounds", o.rounds);
		json_num(stdout, "tsc_ghz", cpns);
		json_num(stdout, "switch_cycles", med[C_SWITCH]);
		json_num(stdout, "yield_switch_cycles", med[C_YIELD]);
		json_num(stdout, "async_create_finish_cycles", med[C_CREATE]);
		json_num(stdout, "blocking_async_cycles", med[C_BLOCK]);
		json_num(stdout, "null_call_sync_mops", med[C_SYNC]);
		json_num(stdout, "null_call_mops_1", med[C_A1]);
		json_num(stdout, "null_call_mops_4", med[C_A4]);
		json_num(stdout, "null_call_mops_16", med[C_A16]);
		json_num(stdout, "null_call_mops_64", med[C_A64]);
		json_num(stdout, "null_call_16_vs_sync", med[C_RATIO16]);
		json_end(stdout);
	} else {
		printf("async runtime: CPU %d <-> CPU %d, %u interleaved rounds, TSC %.2f GHz\n"
		       "(medians over rounds)\n\n",
		       o.cpu[0], o.cpu[1], o.rounds, cpns);
		printf("  %-44s %10s %8s\n", "case", "cycles", "target");
		printf("  %-44s %10.1f %8s\n", "context switch (bare, one way)", med[C_SWITCH], "<= 25");
		printf("  %-44s %10.1f %8s\n", "lxd_yield between two threads (one way)", med[C_YIELD], "");
		printf("  %-44s %10.1f %8s\n", "create + finish, non-blocking async", med[C_CREATE], "<= 30");
		printf("  %-44s %10.1f %8s\n", "one blocking async (block, resume, finish)", med[C_BLOCK],
		       "<= 100");
		printf("\n  %-44s %10s %8s\n", "cross-core null call", "Mcalls/s", "x sync");
		printf("  %-44s %10.2f %8.2f\n", "synchronous (spin on the reply)", med[C_SYNC], 1.0);
		for (int k = 0; k < 4; k++) {
			char name[64];
			snprintf(name, sizeof(name), "awaited, %u in flight", inflight[k]);
			printf("  %-44s %10.2f %8.2f\n", name, med[C_A1 + k], med[C_A1 + k] / med[C_SYNC]);
		}
		printf("\n  16 in flight vs synchronous, median of per-round ratios: %.2fx (target >= 3)\n",
		       med[C_RATIO16]);
	}
	for (int c = 0; c < NCOL; c++)
		free(col[c]);
	free(samples);
	lxd_async_fini();
	lxd_chan_close_shm(&p->ch);
	lxd_chan_close_shm(ch);
	free(ch);
	free(p);
	return 0;
}
