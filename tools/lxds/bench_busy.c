/* SPDX-License-Identifier: MIT */
/*
 * The busy neighbour: a thread that keeps a CPU awake, for the benches'
 * "native busy" runs.
 *
 * An isolated run keeps the domain's CPU awake (the domain polls its
 * channels); a native run leaves that CPU halted.  On this VM the
 * kernel's CPU alone runs ~13% slower while the other vCPU is awake
 * (scripts/busy-neighbour.sh; docs/evaluation.md, session 12): a cost of
 * the host, not of isolation, that native never pays.  A "native busy"
 * run measures it in the same bench run, beside the others: native, while
 * this thread, pinned to the domain's CPU, polls a line with pause as the
 * domain's idle loop does.  The headline ratios stay against plain native.
 */
#include <errno.h>

#include "bench.h"
#include "lxds/util.h"

static void *spin(void *p)
{
	struct bench_busy *s = p;
	s->err = lxd_pin_self(s->cpu);
	atomic_store(&s->started, true);
	while (!s->err && !atomic_load_explicit(&s->stop, memory_order_relaxed))
		__builtin_ia32_pause();
	return NULL;
}

int bench_busy_start(struct bench_busy *s, int cpu)
{
	s->cpu = cpu;
	s->err = 0;
	atomic_init(&s->stop, false);
	atomic_init(&s->started, false);
	int err = pthread_create(&s->t, NULL, spin, s);
	if (err)
		return -err;
	while (!atomic_load(&s->started))
		__builtin_ia32_pause();
	if (s->err) {
		pthread_join(s->t, NULL);
		return s->err;
	}
	return 0;
}

void bench_busy_stop(struct bench_busy *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->t, NULL);
}
