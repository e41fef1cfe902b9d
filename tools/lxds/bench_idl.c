/* SPDX-License-Identifier: MIT */
/*
 * lxds bench idl: what generated glue costs on top of the async runtime.
 * A peer thread on the other CPU serves, through one endpoint, the glue of
 * bench_idl.idl and a hand-written handler doing the same null call.  Each
 * round measures, interleaved: the hand-written lxd_call(), the generated
 * stub of the same call (inline format), and a generated call with a
 * 64-byte array (spilled format: the request in an arena block).
 * Reported: ns per call, and medians of the per-round ratios to the
 * hand-written call.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"
#include "bench_idl.h"
#include "lxds/async.h"
#include "lxds/glue.h"
#include "lxds/util.h"

extern const struct lxd_glue_iface lxd_glue_iface_bench_idl_kernel;
extern const struct lxd_glue_iface lxd_glue_iface_bench_idl_domain;

/* The domain side's real functions (its glue calls them under these names). */
long bench_idl_null_impl(long x);
int bench_idl_sum_impl(const unsigned char *buf, unsigned int n);

long bench_idl_null_impl(long x)
{
	return x + 1;
}

int bench_idl_sum_impl(const unsigned char *buf, unsigned int n)
{
	int s = 0;
	for (unsigned i = 0; i < n; i++)
		s += buf[i];
	return s;
}

#define SLOTS 256u
#define ARENA (1u << 20)
#define CALLS 20000u
#define RAW_OP 2u /* after the glue's two rpcs */

static int raw_null(void *ctx, const uint64_t in[LXD_MSG_WORDS], uint64_t out[LXD_MSG_WORDS])
{
	(void)ctx;
	out[0] = in[0] + 1;
	return 0;
}

struct peer {
	struct lxd_chan ch;
	void *arena_base;
	int cpu, pin_rc;
	_Atomic int ready;
	_Atomic bool stop;
};

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	struct lxd_arena arena;
	struct lxd_cap_table caps;
	struct lxd_glue g;
	struct lxd_ep ep;
	struct lxd_ep_config cfg;
	p->pin_rc = lxd_pin_self(p->cpu);
	if (lxd_arena_init(&arena, p->arena_base, ARENA, ARENA / 2, ARENA / 2) || lxd_cap_init(&caps, 0) ||
	    lxd_glue_init(&g, NULL, &arena, &caps, 0) || lxd_async_init(NULL)) {
		atomic_store(&p->ready, -1);
		return NULL;
	}
	lxd_glue_attach(&g, &lxd_glue_iface_bench_idl_domain, &cfg);
	lxd_rpc_fn handlers[RAW_OP + 1] = { 0 };
	memcpy(handlers, cfg.handlers, cfg.nhandlers * sizeof(handlers[0]));
	handlers[RAW_OP] = raw_null;
	cfg.handlers = handlers;
	cfg.nhandlers = RAW_OP + 1;
	if (lxd_ep_init(&ep, &p->ch, &cfg)) {
		atomic_store(&p->ready, -1);
		return NULL;
	}
	g.ep = &ep;
	atomic_store(&p->ready, 1);
	lxd_async_serve(&p->stop);
	lxd_ep_fini(&ep);
	lxd_async_fini();
	lxd_glue_fini(&g);
	lxd_cap_fini(&caps);
	lxd_arena_fini(&arena);
	return NULL;
}

static void fail(const char *what)
{
	fprintf(stderr, "lxds bench idl: %s: wrong answer from the peer\n", what);
	exit(1);
}

static double raw_calls(struct lxd_ep *ep)
{
	uint64_t in[LXD_MSG_WORDS] = { 0 }, out[LXD_MSG_WORDS];
	uint64_t t0 = lxd_now_ns();
	for (unsigned i = 0; i < CALLS; i++) {
		in[0] = i;
		if (lxd_call(ep, RAW_OP, in, out) != 0 || out[0] != (uint64_t)i + 1)
			fail("hand-written call");
	}
	return (double)(lxd_now_ns() - t0) / CALLS;
}

static double glue_calls(void)
{
	uint64_t t0 = lxd_now_ns();
	for (unsigned i = 0; i < CALLS; i++)
		if (bench_idl_null((long)i) != (long)i + 1)
			fail("generated call");
	return (double)(lxd_now_ns() - t0) / CALLS;
}

static double spilled_calls(const unsigned char *buf, int want)
{
	uint64_t t0 = lxd_now_ns();
	for (unsigned i = 0; i < CALLS; i++)
		if (bench_idl_sum(buf, 64) != want)
			fail("spilled call");
	return (double)(lxd_now_ns() - t0) / CALLS;
}

enum col { C_RAW, C_GLUE, C_SPILL, C_GLUE_X, C_SPILL_X, NCOL };

int lxd_bench_idl(int argc, char **argv)
{
	struct bench_opts o;
	int rc = bench_parse(argc, argv, "idl",
			     "Generated glue vs a hand-written call: a null call through the\n"
			     "async runtime by lxd_call(), the same through the stub lxds-idlc\n"
			     "generates (inline), and a generated call with a 64-byte array\n"
			     "(spilled into the arena); ns per call, interleaved per round.",
			     11, &o);
	if (rc)
		return rc - 1;
	void *map = mmap(NULL, ARENA + LXD_ARENA_CHUNK, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		perror("lxds bench idl: mmap");
		return 1;
	}
	void *base = (void *)(((uintptr_t)map + LXD_ARENA_CHUNK - 1) & ~(uintptr_t)(LXD_ARENA_CHUNK - 1));
	struct peer *p = aligned_alloc(LXD_CACHE_LINE, (sizeof(*p) + LXD_CACHE_LINE - 1) & ~(size_t)(LXD_CACHE_LINE - 1));
	memset(p, 0, sizeof(*p));
	p->cpu = o.cpu[1];
	p->arena_base = base;
	struct lxd_chan *ch = aligned_alloc(LXD_CACHE_LINE, sizeof(*ch));
	int memfd;
	if ((rc = lxd_chan_create_shm(ch, SLOTS, &memfd)) != 0 ||
	    (rc = lxd_chan_open_shm(&p->ch, memfd, SLOTS, LXD_SIDE_DOMAIN)) != 0) {
		fprintf(stderr, "lxds bench idl: cannot create a channel: %s\n", strerror(-rc));
		return 1;
	}
	close(memfd);
	if ((rc = lxd_pin_self(o.cpu[0])) != 0) {
		fprintf(stderr, "lxds bench idl: cannot pin to CPU %d: %s\n", o.cpu[0], strerror(-rc));
		return 1;
	}
	struct lxd_arena arena;
	struct lxd_cap_table caps;
	struct lxd_glue g;
	struct lxd_ep ep;
	struct lxd_ep_config cfg;
	if (lxd_arena_init(&arena, base, ARENA, 0, ARENA / 2) || lxd_cap_init(&caps, 1) ||
	    lxd_glue_init(&g, NULL, &arena, &caps, 1) || lxd_async_init(NULL)) {
		fprintf(stderr, "lxds bench idl: set-up failed\n");
		return 1;
	}
	lxd_glue_attach(&g, &lxd_glue_iface_bench_idl_kernel, &cfg);
	if (lxd_ep_init(&ep, ch, &cfg)) {
		fprintf(stderr, "lxds bench idl: endpoint set-up failed\n");
		return 1;
	}
	g.ep = &ep;
	pthread_t th;
	if (pthread_create(&th, NULL, peer_main, p) != 0) {
		fprintf(stderr, "lxds bench idl: cannot start the peer thread\n");
		return 1;
	}
	while (atomic_load(&p->ready) == 0)
		lxd_cpu_relax();
	if (atomic_load(&p->ready) < 0) {
		fprintf(stderr, "lxds bench idl: the peer could not set up\n");
		return 1;
	}
	unsigned char buf[64];
	int want = 0;
	for (int i = 0; i < 64; i++)
		want += buf[i] = (unsigned char)(i * 3);

	double *col[NCOL];
	for (int c = 0; c < NCOL; c++)
		col[c] = calloc(o.rounds, sizeof(double));
	for (unsigned r = 0; r < o.rounds; r++) {
		bench_progress(&o, "bench idl", r + 1, o.rounds);
		col[C_RAW][r] = raw_calls(&ep);
		col[C_GLUE][r] = glue_calls();
		col[C_SPILL][r] = spilled_calls(buf, want);
		col[C_GLUE_X][r] = col[C_GLUE][r] / col[C_RAW][r];
		col[C_SPILL_X][r] = col[C_SPILL][r] / col[C_RAW][r];
	}
	atomic_store(&p->stop, true);
	lxd_chan_kick_self(&p->ch);
	pthread_join(th, NULL);
	if (p->pin_rc)
		fprintf(stderr, "lxds bench idl: warning: peer not pinned to CPU %d: %s\n", p->cpu,
			strerror(-p->pin_rc));
	double med[NCOL];
	for (int c = 0; c < NCOL; c++)
		med[c] = stats_median(col[c], o.rounds);
	if (o.json) {
		json_begin(stdout);
		json_num(stdout, "rounds", o.rounds);
		json_num(stdout, "raw_call_ns", med[C_RAW]);
		json_num(stdout, "glue_call_ns", med[C_GLUE]);
		json_num(stdout, "glue_spilled_call_ns", med[C_SPILL]);
		json_num(stdout, "glue_vs_raw", med[C_GLUE_X]);
		json_num(stdout, "glue_spilled_vs_raw", med[C_SPILL_X]);
		json_end(stdout);
	} else {
		printf("generated glue vs hand-written lxd_call(), medians of %u rounds of %u calls\n", o.rounds, CALLS);
		printf("  %-34s %8.1f ns\n", "hand-written null call", med[C_RAW]);
		printf("  %-34s %8.1f ns   x%.2f\n", "generated stub, inline", med[C_GLUE], med[C_GLUE_X]);
		printf("  %-34s %8.1f ns   x%.2f\n", "generated, 64-byte array, spilled", med[C_SPILL], med[C_SPILL_X]);
	}
	lxd_ep_fini(&ep);
	lxd_async_fini();
	lxd_glue_fini(&g);
	lxd_cap_fini(&caps);
	lxd_arena_fini(&arena);
	for (int c = 0; c < NCOL; c++)
		free(col[c]);
	munmap(map, ARENA + LXD_ARENA_CHUNK);
	return 0;
}
