/* SPDX-License-Identifier: MIT */
/*
 * lxds demo: the whole story in well under a minute.
 *
 *   1. fIPC against the hardware floor (the channel every isolated call crosses);
 *   2. dummy and null_blk, native and isolated (the same .so files), measured
 *      side by side in interleaved rounds, with LXDs' published ratios beside;
 *   3. a real bug in the isolated null_blk (a NULL dereference injected with
 *      its crash_after parameter) in the middle of I/O: the kernel stays up,
 *      the I/O in flight fails cleanly, the device goes away;
 *   4. the driver reloaded: it serves again, data verified.
 *
 * The block figures come from fio through the lxds ioengine, as LXDs
 * measured null_blk (one-second runs, `lxds bench blk` takes longer ones);
 * without fio or the engine, from the in-kernel I/O generator.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/blkdev.h>
#include <linux/netdevice.h>

#include "bench.h"
#include "bench_drv.h"
#include "cmd.h"
#include "lxds/compiler.h"
#include "lxds/kernel.h"
#include "lxds/util.h"

/* A sanitizer build's fio engine cannot be loaded into the system's fio
 * (its runtime must come first): such builds measure with the generator. */
#if defined(LXD_ASAN) || defined(LXD_TSAN)
#define DEMO_FIO_USABLE 0
#else
#define DEMO_FIO_USABLE 1
#endif

#define DEMO_ROUNDS 5
#define DEMO_PACKETS 500000
#define DEMO_IOS 100000

static void step(int n, const char *what)
{
	printf("\n== [%d/4] %s\n", n, what);
	fflush(stdout);
}

static int load(const char *name, enum lxd_module_mode mode, const char *const *params, size_t n,
		struct lxd_module **m)
{
	return lxd_tool_load_driver("demo", name, params, n, mode, m);
}

/*
 * Packets per second of dummy loaded in @mode, or a negative errno.
 * Isolated, transmits cross in batches (LXD_XMIT_BATCH) and the clock stops
 * only when the driver has handled every packet (lxd_module_flush).  A
 * warm-up first, on the lane the timed run then uses (this thread polls
 * across both, as lxds bench net does: docs/evaluation.md, "Session 14").
 */
static double net_pps(enum lxd_module_mode mode)
{
	struct lxd_module *m;
	int err = load("dummy", mode, NULL, 0, &m);
	if (err)
		return err;
	double pps = -EIO;
	struct net_device *dev = lxd_module_netdev(m, 0);
	struct lxd_pktgen_result r;
	if (mode == LXD_MODULE_ISOLATED && lxd_module_set_xmit_mode(m, LXD_XMIT_BATCH) != 0)
		dev = NULL;
	if (dev && dev_open(dev) == 0) {
		bool polling = lxd_poll_begin() == 0;
		if (lxd_pktgen(dev, DEMO_PACKETS / 10, 64, &r) == 0) {
			uint64_t t0 = lxd_now_ns();
			if (lxd_pktgen(dev, DEMO_PACKETS, 64, &r) == 0 && lxd_module_flush(m) == 0 &&
			    r.sent == DEMO_PACKETS)
				pps = (double)r.sent * 1e9 / (double)(lxd_now_ns() - t0);
		}
		if (polling)
			lxd_poll_end();
	}
	lxd_module_unload(m);
	return pps;
}

/* 4 KiB random-read IOPS of null_blk in @mode at queue depth 32 (iogen), or a negative errno. */
static double blk_iops_iogen(enum lxd_module_mode mode)
{
	static const char *const params[] = {"irqmode=1", "submit_queues=2", "hw_queue_depth=64"};
	struct lxd_module *m;
	int err = load("null_blk", mode, params, 3, &m);
	if (err)
		return err;
	double iops = -EIO;
	struct gendisk *disk = lxd_module_disk(m, 0);
	struct lxd_iogen_opts o = {.rw = LXD_IOGEN_RANDREAD, .ios = DEMO_IOS, .qd = 32, .bs = 4096, .seed = 7};
	struct lxd_iogen_result r;
	if (disk && lxd_iogen(disk, &o, &r) == 0 && r.errors == 0 && r.ns)
		iops = (double)r.done * 1e9 / (double)r.ns;
	lxd_module_unload(m);
	return iops;
}

/* fio when it and the engine are there (*@fio set), else the generator. */
static double blk_iops(enum lxd_module_mode mode, bool *fio)
{
	double iops;
	if (*fio) {
		int err = bench_blk_fio_iops(mode, 32, 1, 0, &iops);
		if (!err)
			return iops;
		if (err != -ENOENT)
			return err;
		*fio = false;
	}
	return blk_iops_iogen(mode);
}

static int compare_drivers(void)
{
	double ratio[2][DEMO_ROUNDS], nat[2][DEMO_ROUNDS], iso[2][DEMO_ROUNDS];
	bool fio = DEMO_FIO_USABLE && (access("/usr/bin/fio", X_OK) == 0 || access("/usr/local/bin/fio", X_OK) == 0);
	for (int r = 0; r < DEMO_ROUNDS; r++) {
		fprintf(stderr, "  round %d/%d: dummy native, isolated; null_blk native, isolated\n", r + 1,
			DEMO_ROUNDS);
		nat[0][r] = net_pps(LXD_MODULE_NATIVE);
		iso[0][r] = net_pps(LXD_MODULE_ISOLATED);
		nat[1][r] = blk_iops(LXD_MODULE_NATIVE, &fio);
		iso[1][r] = blk_iops(LXD_MODULE_ISOLATED, &fio);
		for (int d = 0; d < 2; d++) {
			if (nat[d][r] <= 0 || iso[d][r] <= 0)
				return 1;
			ratio[d][r] = iso[d][r] / nat[d][r];
		}
	}
	const char *const name[2] = {"dummy (64-byte packets/s, batched)",
				     fio ? "null_blk, fio (4K randread IOPS, qd 32)" : "null_blk, iogen (4K randread IOPS, qd 32)"};
	static const double lxds_paper[2] = {0.76, 0.79};
	printf("\n  %-38s %12s %12s %10s %14s\n", "device", "native", "isolated", "iso/native",
	       "LXDs (ATC'19)");
	for (int d = 0; d < 2; d++) {
		double n = stats_median(nat[d], DEMO_ROUNDS), i = stats_median(iso[d], DEMO_ROUNDS);
		double q = stats_median(ratio[d], DEMO_ROUNDS);
		printf("  %-38s %11.2fM %11.2fM %9.0f%% %13.0f%%\n", name[d], n / 1e6, i / 1e6, q * 100,
		       lxds_paper[d] * 100);
	}
	printf("  (medians of %d interleaved rounds; ratios taken inside each round)\n", DEMO_ROUNDS);
	return 0;
}

struct inflight {
	unsigned done, ok, eio;
};

static void count_end(struct lxd_blk_io *io)
{
	struct inflight *s = io->private;
	__atomic_add_fetch(&s->done, 1, __ATOMIC_RELAXED);
	if (io->error == 0)
		__atomic_add_fetch(&s->ok, 1, __ATOMIC_RELAXED);
	else if (io->error == -EIO)
		__atomic_add_fetch(&s->eio, 1, __ATOMIC_RELAXED);
}

static int crash_and_reload(void)
{
	/* 1 ms completions keep I/O in flight when the 200th request hits the bug. */
	static const char *const bug[] = {"irqmode=2", "completion_nsec=1000000", "hw_queue_depth=64",
					  "crash_after=200"};
	struct lxd_module *m;
	if (load("null_blk", LXD_MODULE_ISOLATED, bug, 4, &m))
		return 1;
	struct gendisk *disk = lxd_module_disk(m, 0);
	printf("  loaded null_blk isolated with crash_after=200 (a NULL dereference in queue_rq)\n");
	enum { N = 256 };
	static struct lxd_blk_io ios[N];
	struct inflight s = {0, 0, 0};
	void *buf = lxd_data_alloc(m, 4096);
	unsigned submitted = 0, refused = 0;
	for (int i = 0; i < N && buf; i++) {
		ios[i] = (struct lxd_blk_io){.op = REQ_OP_READ, .sector = (uint64_t)i * 8, .len = 4096,
					     .buf = buf, .end_io = count_end, .private = &s};
		if (lxd_blk_submit(disk, &ios[i]) == 0)
			submitted++;
		else
			refused++;
	}
	for (int t = 0; t < 5000 && __atomic_load_n(&s.done, __ATOMIC_RELAXED) < submitted; t++) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	printf("  %u I/Os submitted, %u refused after the crash (device gone)\n", submitted, refused);
	printf("  of the submitted: %u completed, %u ok, %u failed with -EIO, %u still hanging\n",
	       s.done, s.ok, s.eio, submitted - s.done);
	printf("  driver alive: %s; disk nullb0 %s; kernel: still running (this process)\n",
	       lxd_module_alive(m) ? "yes" : "no", lxd_blk_get_disk("nullb0") ? "still there" : "removed");
	lxd_data_free(buf);
	int bad = lxd_module_alive(m) || s.done != submitted || s.eio == 0;
	lxd_module_unload(m);
	struct lxd_kernel_counts c;
	lxd_kernel_get_counts(&c);
	printf("  after unload: %ld modules, %ld disks, %ld requests, %ld data buffers left\n", c.modules,
	       c.disks, c.requests, c.data_buffers);
	bad |= c.modules || c.disks || c.requests || c.data_buffers;

	step(4, "reload null_blk isolated (memory-backed) and verify data");
	static const char *const good[] = {"memory_backed=1", "size=64", "irqmode=1"};
	if (load("null_blk", LXD_MODULE_ISOLATED, good, 3, &m))
		return 1;
	struct lxd_iogen_opts o = {.rw = LXD_IOGEN_VERIFY, .ios = 8192, .qd = 32, .bs = 4096, .seed = 11};
	struct lxd_iogen_result r;
	int err = lxd_iogen(lxd_module_disk(m, 0), &o, &r);
	printf("  %llu writes then reads of 4 KiB: %llu errors, %llu mismatches%s\n",
	       (unsigned long long)o.ios, (unsigned long long)r.errors, (unsigned long long)r.mismatches,
	       err ? " (the generator failed)" : "");
	bad |= err || r.errors || r.mismatches;
	lxd_module_unload(m);
	return bad;
}

int lxd_cmd_demo(int argc, char **argv)
{
	if (argc > 1 && lxd_is_help(argv[1])) {
		printf("usage: lxds demo\n\n"
		       "fIPC against the hardware floor; dummy and null_blk native vs isolated with\n"
		       "LXDs' figures beside; a crash of the isolated null_blk in the middle of I/O;\n"
		       "a reload that serves again.  Under a minute, progress on stderr.\n");
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "lxds demo: takes no arguments (try --help)\n");
		return 2;
	}
	step(1, "fIPC: a cross-core round trip against the hardware floor");
	char *args[] = {"fipc", "--rounds", "5", NULL};
	if (lxd_bench_fipc(3, args))
		return 1;
	step(2, "the same driver binaries, native and isolated (sandboxed process on CPU 1)");
	if (compare_drivers()) {
		fprintf(stderr, "lxds demo: a driver run failed\n");
		return 1;
	}
	step(3, "a real bug in the isolated null_blk, in the middle of I/O");
	int bad = crash_and_reload();
	printf("\n%s\n", bad ? "lxds demo: something did not behave as described above" : "lxds demo: done");
	return bad ? 1 : 0;
}
