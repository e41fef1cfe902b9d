/* SPDX-License-Identifier: MIT */
/*
 * lxds bench fipc: fIPC against the hardware floor, side by side.
 *
 * Two threads pinned to two CPUs.  Each round measures, one after another:
 * a bare cache-line ping-pong (the floor), an fIPC synchronous call through
 * the call line, a round trip through the two rings, one-way pipelined
 * throughput without and with batching, and for reference a pipe and an
 * eventfd round trip.  Ratios are taken inside a round, then the median
 * over rounds is reported: the host moves the vCPUs between near and far
 * cores from minute to minute, so figures from different rounds are never
 * divided by each other.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bench.h"
#include "lxds/compiler.h"
#include "lxds/fipc.h"
#include "lxds/util.h"

enum mode { M_IDLE, M_PINGPONG, M_FIPC, M_PIPE, M_EVENTFD, M_EXIT };
enum op { OP_ECHO = 1, OP_DATA = 2, OP_STOP = 3 };

#define RING_SLOTS 256
#define BATCH 16
#define RTT_SAMPLES 512  /* timed batches per round */
#define RTT_BATCH 16     /* round trips per timed batch */
#define P99_SAMPLES 4096 /* individually timed calls per round */
#define STREAM_MSGS 2000000
#define SLOW_RTTS 300    /* pipe and eventfd round trips per round */

struct shared {
	_Atomic uint32_t cmd LXD_CACHE_ALIGNED; /* gen << 8 | mode, written by main */
	_Atomic uint32_t done;                  /* gen of the last finished cmd, by peer */
	_Atomic uint64_t line LXD_CACHE_ALIGNED; /* the ping-pong line */
	struct lxd_chan peer LXD_CACHE_ALIGNED;  /* peer's side of the channel */
	unsigned peer_batch;
	uint64_t stream_errors, stream_got;
	int pipe_req[2], pipe_rep[2];
	int efd_req, efd_rep;
	int cpu;
	int pin_rc;
};

/* ---- the peer ------------------------------------------------------------------ */

static void peer_pingpong(struct shared *s)
{
	for (;;) {
		uint64_t v;
		while (!((v = atomic_load_explicit(&s->line, memory_order_acquire)) & 1))
			lxd_cpu_relax();
		if (v == UINT64_MAX)
			return;
		atomic_store_explicit(&s->line, v + 1, memory_order_release);
	}
}

/* The dispatch loop a domain runs: the call line and the ring, both polled. */
static void peer_fipc(struct shared *s)
{
	struct lxd_chan *ch = &s->peer;
	struct lxd_msg *msgs[BATCH];
	uint64_t expect = 0;
	for (;;) {
		struct lxd_msg *c = lxd_chan_serve_poll(ch);
		if (c) {
			uint32_t op = lxd_hdr_op(atomic_load_explicit(&c->hdr, memory_order_relaxed));
			c->w[0]++;
			lxd_chan_serve_reply(ch, op);
			continue;
		}
		unsigned n = lxd_chan_recv_batch(ch, msgs, s->peer_batch);
		bool stop = false;
		for (unsigned i = 0; i < n; i++) {
			uint64_t h = atomic_load_explicit(&msgs[i]->hdr, memory_order_relaxed);
			uint64_t w0 = msgs[i]->w[0];
			switch (lxd_hdr_op(h)) {
			case OP_ECHO: {
				struct lxd_msg *r;
				while (!(r = lxd_chan_try_reserve(ch)))
					lxd_cpu_relax();
				r->w[0] = w0 + 1;
				lxd_msg_set(r, OP_ECHO, 0);
				lxd_chan_publish(ch);
				break;
			}
			case OP_DATA:
				if (w0 != expect)
					s->stream_errors++;
				expect = w0 + 1;
				s->stream_got++;
				break;
			default:
				stop = true;
			}
		}
		if (n)
			lxd_chan_release(ch);
		else
			lxd_cpu_relax();
		if (stop)
			return;
	}
}

static void peer_pipe(struct shared *s)
{
	char c;
	while (read(s->pipe_req[0], &c, 1) == 1 && c != 'q')
		if (write(s->pipe_rep[1], &c, 1) != 1)
			return;
}

static void peer_eventfd(struct shared *s)
{
	uint64_t v;
	while (read(s->efd_req, &v, sizeof(v)) == sizeof(v) && v == 1)
		if (write(s->efd_rep, &v, sizeof(v)) != sizeof(v))
			return;
}

static void *peer_main(void *arg)
{
	struct shared *s = arg;
	s->pin_rc = lxd_pin_self(s->cpu);
	uint32_t seen = 0;
	for (;;) {
		uint32_t cmd;
		while ((cmd = atomic_load_explicit(&s->cmd, memory_order_acquire)) == seen)
			lxd_cpu_relax();
		seen = cmd;
		switch (cmd & 0xff) {
		case M_PINGPONG: peer_pingpong(s); break;
		case M_FIPC: peer_fipc(s); break;
		case M_PIPE: peer_pipe(s); break;
		case M_EVENTFD: peer_eventfd(s); break;
		case M_EXIT: return NULL;
		}
		atomic_store_explicit(&s->done, cmd >> 8, memory_order_release);
	}
}

/* ---- the kernel side ------------------------------------------------------------ */

static uint32_t gen;

static void peer_start(struct shared *s, enum mode m)
{
	gen++;
	atomic_store_explicit(&s->cmd, gen << 8 | m, memory_order_release);
}

static void peer_finish(struct shared *s)
{
	while (atomic_load_explicit(&s->done, memory_order_acquire) != gen)
		lxd_cpu_relax();
}

static int fail(const char *what)
{
	fprintf(stderr, "lxds bench fipc: %s: peer answered wrongly\n", what);
	exit(1);
}

static void pingpong_rt(struct shared *s, uint64_t *v)
{
	atomic_store_explicit(&s->line, *v + 1, memory_order_release);
	while (atomic_load_explicit(&s->line, memory_order_acquire) != *v + 2)
		lxd_cpu_relax();
	*v += 2;
}

/* Median cycles of one ping-pong round trip. */
static double measure_pingpong(struct shared *s, double *samples)
{
	atomic_store(&s->line, 0);
	peer_start(s, M_PINGPONG);
	uint64_t v = 0;
	for (int i = 0; i < 1000; i++)
		pingpong_rt(s, &v);
	for (int i = 0; i < RTT_SAMPLES; i++) {
		uint64_t t0 = lxd_rdtsc();
		for (int j = 0; j < RTT_BATCH; j++)
			pingpong_rt(s, &v);
		samples[i] = (double)(lxd_rdtsc() - t0) / RTT_BATCH;
	}
	atomic_store_explicit(&s->line, UINT64_MAX, memory_order_release);
	peer_finish(s);
	return stats_median(samples, RTT_SAMPLES);
}

static void fipc_call_rt(struct lxd_chan *ch, uint64_t i)
{
	struct lxd_msg *l = lxd_chan_call_line(ch);
	l->w[0] = i;
	if (lxd_chan_call(ch, OP_ECHO) != OP_ECHO || l->w[0] != i + 1)
		fail("fipc call");
}

static void fipc_ring_rt(struct lxd_chan *ch, uint64_t i)
{
	struct lxd_msg *m;
	while (!(m = lxd_chan_try_reserve(ch)))
		lxd_cpu_relax();
	m->w[0] = i;
	lxd_msg_set(m, OP_ECHO, 0);
	lxd_chan_publish(ch);
	while (!(m = lxd_chan_try_recv(ch)))
		lxd_cpu_relax();
	if (m->w[0] != i + 1)
		fail("fipc ring round trip");
	lxd_chan_release(ch);
}

/* Stop the peer's dispatch loop: through the ring, so it comes after every
 * message sent before it (the call line could overtake them). */
static void fipc_stop(struct shared *s, struct lxd_chan *ch)
{
	struct lxd_msg *m;
	while (!(m = lxd_chan_try_reserve(ch)))
		lxd_cpu_relax();
	lxd_msg_set(m, OP_STOP, 0);
	lxd_chan_publish(ch);
	peer_finish(s);
}

/* Median cycles per round trip of @rt; also the p99 of single round trips. */
static double measure_fipc_rtt(struct shared *s, struct lxd_chan *ch,
			       void (*rt)(struct lxd_chan *, uint64_t), double *samples, double *p99)
{
	s->peer_batch = 1;
	peer_start(s, M_FIPC);
	uint64_t i = 0;
	for (int k = 0; k < 1000; k++)
		rt(ch, i++);
	for (int k = 0; k < RTT_SAMPLES; k++) {
		uint64_t t0 = lxd_rdtsc();
		for (int j = 0; j < RTT_BATCH; j++)
			rt(ch, i++);
		samples[k] = (double)(lxd_rdtsc() - t0) / RTT_BATCH;
	}
	double med = stats_median(samples, RTT_SAMPLES);
	if (p99) {
		double *single = malloc(P99_SAMPLES * sizeof(*single));
		for (int k = 0; k < P99_SAMPLES; k++) {
			uint64_t t0 = lxd_rdtsc();
			rt(ch, i++);
			single[k] = (double)(lxd_rdtsc() - t0);
		}
		*p99 = stats_percentile(single, P99_SAMPLES, 99);
		free(single);
	}
	fipc_stop(s, ch);
	return med;
}

/* Million messages per second, one way, @batch messages per publish. */
static double measure_stream(struct shared *s, struct lxd_chan *ch, unsigned batch)
{
	s->peer_batch = batch;
	s->stream_got = 0;
	s->stream_errors = 0;
	peer_start(s, M_FIPC);
	uint64_t t0 = lxd_now_ns();
	for (uint64_t i = 0; i < STREAM_MSGS;) {
		unsigned n = 0;
		struct lxd_msg *m;
		while (n < batch && i < STREAM_MSGS && (m = lxd_chan_try_reserve(ch))) {
			m->w[0] = i++;
			lxd_msg_set(m, OP_DATA, 0);
			n++;
		}
		if (n)
			lxd_chan_publish(ch);
		else
			lxd_cpu_relax();
	}
	fipc_stop(s, ch); /* returns once the peer consumed every message */
	uint64_t t1 = lxd_now_ns();
	if (s->stream_got != STREAM_MSGS || s->stream_errors)
		fail("fipc stream (lost or reordered messages)");
	return (double)STREAM_MSGS / (double)(t1 - t0) * 1e3;
}

static double measure_pipe(struct shared *s, double *samples)
{
	peer_start(s, M_PIPE);
	char c = 'p';
	for (int k = 0; k < SLOW_RTTS; k++) {
		uint64_t t0 = lxd_rdtsc();
		if (write(s->pipe_req[1], &c, 1) != 1 || read(s->pipe_rep[0], &c, 1) != 1)
			fail("pipe");
		samples[k] = (double)(lxd_rdtsc() - t0);
	}
	c = 'q';
	if (write(s->pipe_req[1], &c, 1) != 1)
		fail("pipe");
	peer_finish(s);
	return stats_median(samples, SLOW_RTTS);
}

static double measure_eventfd(struct shared *s, double *samples)
{
	peer_start(s, M_EVENTFD);
	for (int k = 0; k < SLOW_RTTS; k++) {
		uint64_t v = 1;
		uint64_t t0 = lxd_rdtsc();
		if (write(s->efd_req, &v, sizeof(v)) != sizeof(v) ||
		    read(s->efd_rep, &v, sizeof(v)) != sizeof(v))
			fail("eventfd");
		samples[k] = (double)(lxd_rdtsc() - t0);
	}
	uint64_t stop = 1000;
	if (write(s->efd_req, &stop, sizeof(stop)) != sizeof(stop))
		fail("eventfd");
	peer_finish(s);
	return stats_median(samples, SLOW_RTTS);
}

enum col { C_PP, C_CALL, C_CALL_P99, C_RING, C_STREAM, C_STREAM_B, C_PIPE, C_EFD,
	   C_CALL_RATIO, C_RING_RATIO, NCOL };

int lxd_bench_fipc(int argc, char **argv)
{
	struct bench_opts o;
	int rc = bench_parse(argc, argv, "fipc",
			     "Round trip of an fIPC call against a bare cache-line ping-pong (the\n"
			     "hardware floor), ring round trip, one-way throughput with and without\n"
			     "batching, and pipe/eventfd round trips, interleaved in every round.",
			     15, &o);
	if (rc)
		return rc - 1;

	struct shared *s = aligned_alloc(LXD_CACHE_LINE, sizeof(*s));
	memset(s, 0, sizeof(*s));
	s->cpu = o.cpu[1];
	struct lxd_chan *ch = aligned_alloc(LXD_CACHE_LINE, sizeof(*ch));
	int memfd;
	if ((rc = lxd_chan_create_shm(ch, RING_SLOTS, &memfd)) != 0 ||
	    (rc = lxd_chan_open_shm(&s->peer, memfd, RING_SLOTS, LXD_SIDE_DOMAIN)) != 0) {
		fprintf(stderr, "lxds bench fipc: cannot create a channel: %s\n", strerror(-rc));
		return 1;
	}
	close(memfd);
	if (pipe(s->pipe_req) || pipe(s->pipe_rep) || (s->efd_req = eventfd(0, 0)) < 0 ||
	    (s->efd_rep = eventfd(0, 0)) < 0) {
		perror("lxds bench fipc: pipe/eventfd");
		return 1;
	}
	if ((rc = lxd_pin_self(o.cpu[0])) != 0) {
		fprintf(stderr, "lxds bench fipc: cannot pin to CPU %d: %s\n", o.cpu[0], strerror(-rc));
		return 1;
	}
	double cpns = lxd_tsc_per_ns();
	pthread_t peer;
	if (pthread_create(&peer, NULL, peer_main, s) != 0) {
		fprintf(stderr, "lxds bench fipc: cannot start the peer thread\n");
		return 1;
	}

	double *samples = malloc(RTT_SAMPLES * sizeof(*samples));
	double *col[NCOL];
	for (int c = 0; c < NCOL; c++)
		col[c] = calloc(o.rounds, sizeof(double));

	for (unsigned r = 0; r < o.rounds; r++) {
		bench_progress(&o, "bench fipc", r + 1, o.rounds);
		col[C_PP][r] = measure_pingpong(s, samples);
		col[C_CALL][r] = measure_fipc_rtt(s, ch, fipc_call_rt, samples, &col[C_CALL_P99][r]);
		col[C_RING][r] = measure_fipc_rtt(s, ch, fipc_ring_rt, samples, NULL);
		/* The floor once more, so each ratio divides neighbours in time. */
		double pp2 = measure_pingpong(s, samples);
		double floor = (col[C_PP][r] + pp2) / 2;
		col[C_PP][r] = floor;
		col[C_CALL_RATIO][r] = col[C_CALL][r] / floor;
		col[C_RING_RATIO][r] = col[C_RING][r] / floor;
		col[C_STREAM][r] = measure_stream(s, ch, 1);
		col[C_STREAM_B][r] = measure_stream(s, ch, BATCH);
		col[C_PIPE][r] = measure_pipe(s, samples);
		col[C_EFD][r] = measure_eventfd(s, samples);
	}
	peer_start(s, M_EXIT);
	pthread_join(peer, NULL);
	if (s->pin_rc)
		fprintf(stderr, "lxds bench fipc: warning: peer not pinned to CPU %d: %s\n", s->cpu,
			strerror(-s->pin_rc));

	double med[NCOL];
	for (int c = 0; c < NCOL; c++)
		med[c] = stats_median(col[c], o.rounds);
	double mn = 1e300, mx = 0;
	for (unsigned r = 0; r < o.rounds; r++) {
		mn = col[C_PP][r] < mn ? col[C_PP][r] : mn;
		mx = col[C_PP][r] > mx ? col[C_PP][r] : mx;
	}

	if (o.json) {
		json_begin(stdout);
		json_num(stdout, "rounds", o.rounds);
		json_num(stdout, "tsc_ghz", cpns);
		json_num(stdout, "pingpong_rtt_ns", med[C_PP] / cpns);
		json_num(stdout, "pingpong_rtt_cycles", med[C_PP]);
		json_num(stdout, "pingpong_rtt_min_round_ns", mn / cpns);
		json_num(stdout, "pingpong_rtt_max_round_ns", mx / cpns);
		json_num(stdout, "fipc_rtt_ns", med[C_CALL] / cpns);
		json_num(stdout, "fipc_rtt_cycles", med[C_CALL]);
		json_num(stdout, "fipc_rtt_p99_ns", med[C_CALL_P99] / cpns);
		json_num(stdout, "fipc_rtt_ratio", med[C_CALL_RATIO]);
		json_num(stdout, "fipc_ring_rtt_ns", med[C_RING] / cpns);
		json_num(stdout, "fipc_ring_rtt_ratio", med[C_RING_RATIO]);
		json_num(stdout, "fipc_oneway_mmsgs", med[C_STREAM]);
		json_num(stdout, "fipc_oneway_batch_mmsgs", med[C_STREAM_B]);
		json_num(stdout, "pipe_rtt_ns", med[C_PIPE] / cpns);
		json_num(stdout, "eventfd_rtt_ns", med[C_EFD] / cpns);
		json_end(stdout);
	} else {
		printf("fIPC vs the hardware floor: CPU %d <-> CPU %d, %u interleaved rounds, TSC %.2f GHz\n"
		       "(medians over rounds; ratios are taken inside each round)\n\n",
		       o.cpu[0], o.cpu[1], o.rounds, cpns);
		printf("  %-36s %10s %10s %8s\n", "round trip", "ns", "cycles", "x floor");
		printf("  %-36s %10.1f %10.0f %8.2f\n", "cache-line ping-pong (floor)", med[C_PP] / cpns,
		       med[C_PP], 1.0);
		printf("  %-36s %10.1f %10.0f %8.2f\n", "fIPC call (call line)", med[C_CALL] / cpns,
		       med[C_CALL], med[C_CALL_RATIO]);
		printf("  %-36s %10.1f %10.0f %8s\n", "fIPC call p99", med[C_CALL_P99] / cpns,
		       med[C_CALL_P99], "");
		printf("  %-36s %10.1f %10.0f %8.2f\n", "fIPC request+reply rings", med[C_RING] / cpns,
		       med[C_RING], med[C_RING_RATIO]);
		printf("  %-36s %10.1f %10.0f %8.0f\n", "pipe", med[C_PIPE] / cpns, med[C_PIPE],
		       med[C_PIPE] / med[C_PP]);
		printf("  %-36s %10.1f %10.0f %8.0f\n", "eventfd", med[C_EFD] / cpns, med[C_EFD],
		       med[C_EFD] / med[C_PP]);
		printf("\n  %-36s %10s\n", "one-way throughput", "Mmsg/s");
		printf("  %-36s %10.1f\n", "fIPC ring, publish each", med[C_STREAM]);
		printf("  %-36s %10.1f\n", "fIPC ring, batches of 16", med[C_STREAM_B]);
		printf("\n  floor moved between %.0f and %.0f ns across rounds\n", mn / cpns, mx / cpns);
	}
	for (int c = 0; c < NCOL; c++)
		free(col[c]);
	free(samples);
	lxd_chan_close_shm(&s->peer);
	lxd_chan_close_shm(ch);
	free(ch);
	free(s);
	return 0;
}
