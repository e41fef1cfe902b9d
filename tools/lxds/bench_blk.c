/* SPDX-License-Identifier: MIT */
/*
 * lxds bench blk: fio on the lxds block path, native against isolated.
 *
 * Each case is one fio run (a child process, --output-format=json) through
 * the lxds ioengine (tools/fio/lxds_fio.so): 4 KiB random reads for
 * --runtime seconds at one queue depth, the job pinned to the kernel CPU,
 * with the same options, module parameters and buffer path in both modes;
 * only lxds_mode differs.  A round runs every queue depth native then
 * isolated (the order flips every other round); a ratio is taken inside a
 * round and the medians over rounds are reported.  Each plain case also
 * runs "native busy": native while a thread keeps the domain's CPU awake
 * (bench_busy.c), after isolated (before it on odd rounds), so that
 * isolated stays beside native; its ratios are reported beside the others.
 *
 * Batched cases: fio's iodepth_batch_submit and iodepth_batch_complete_min
 * set to --batch (default 16) at each queue depth of at least twice that,
 * in both modes alike.  fio then submits a run of I/Os between two
 * getevents calls, which the engine plugs (lxd_blk_start_plug), so an
 * isolated driver's lane may carry the run in one message; natively the
 * same plug costs nothing.  The plain cases (batch 1) stay the headline.
 *
 * fio's clock: every run gets the same --clocksource.  Left to itself, fio
 * picks "cpu" (the TSC) only if a short calibration against the system
 * clock passes, and on a noisy VM that is a coin toss per process: a run on
 * clock_gettime makes ~40 ns more clock work per I/O (here 3.4 against 4.0 M
 * IOPS natively), so two runs of one mode differed by 17% and a ratio by as
 * much, depending on which mode drew which clock.  Default: "cpu" when the
 * CPU says its TSC is invariant (what fio itself requires of it), else
 * clock_gettime; --clocksource overrides.  (docs/evaluation.md)
 *
 * Before the rounds, each mode is loaded once in this process: a bad
 * parameter fails early with the kernel's message, and a mode that cannot
 * load (-ENOSYS: isolation not built yet) is n/a without running fio.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_drv.h"
#include "cmd.h"

extern char **environ;

/* LXDs (ATC'19): null_blk under fio, isolated at about 79% of native. */
#define ATC19_RATIO 0.79
#define TARGET_RATIO 0.95
#define MAX_QDS 8
#define MAX_CASES (2 * MAX_QDS)

struct blk_opts {
	struct bench_drv drv;
	unsigned long runtime, bs, batch;
	unsigned qd[MAX_QDS], nqd;
	const char *engine, *fio;
	const char *clocksource; /* fio's --clocksource, the same for every run */
};

/* One fio configuration, run native and isolated. */
struct blk_case {
	unsigned qd, batch; /* batch 1: fio's defaults */
};

static int parse_qds(const char *v, struct blk_opts *o)
{
	o->nqd = 0;
	for (const char *p = v; p && *p;) {
		char *end;
		errno = 0;
		unsigned long q = strtoul(p, &end, 10);
		if (errno || end == p || q < 1 || q > 1024 || o->nqd == MAX_QDS || (*end && *end != ','))
			return -1;
		o->qd[o->nqd++] = (unsigned)q;
		p = *end ? end + 1 : end;
	}
	return o->nqd ? 0 : -1;
}

static const char *const clocksources[] = {"cpu", "clock_gettime", "gettimeofday"};

/* "cpu" when the TSC is invariant (CPUID 0x80000007 EDX bit 8: it ticks at a
 * constant rate in every power state, which fio needs of it), else clock_gettime. */
static const char *default_clocksource(void)
{
	unsigned a, b, c, d;
	if (__get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8)))
		return "cpu";
	return "clock_gettime";
}

static int take_opt(void *ctx, int argc, char **argv, int *i)
{
	struct blk_opts *o = ctx;
	int r = bench_drv_opt("blk", argc, argv, i, &o->drv);
	if (r)
		return r;
	const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
	if (!strcmp(a, "--batch")) {
		if (!lxd_parse_uint(a, v, 512, &o->batch))
			return -1;
	} else if (!strcmp(a, "--runtime") || !strcmp(a, "--bs")) {
		unsigned long *dst = a[2] == 'r' ? &o->runtime : &o->bs;
		if (!lxd_parse_uint(a, v, a[2] == 'r' ? 3600 : 512 * 1024, dst) || *dst == 0)
			return -1;
	} else if (!strcmp(a, "--qd")) {
		if (!v || parse_qds(v, o)) {
			fprintf(stderr, "lxds bench blk: --qd takes a list like 1,32,128 (each 1..1024, at most %d)\n",
				MAX_QDS);
			return -1;
		}
	} else if (!strcmp(a, "--engine") || !strcmp(a, "--fio")) {
		if (!v) {
			fprintf(stderr, "lxds bench blk: %s needs a value\n", a);
			return -1;
		}
		*(a[2] == 'e' ? &o->engine : &o->fio) = v;
	} else if (!strcmp(a, "--clocksource")) {
		o->clocksource = NULL;
		for (size_t k = 0; v && k < sizeof(clocksources) / sizeof(clocksources[0]); k++)
			if (!strcmp(v, clocksources[k]))
				o->clocksource = clocksources[k];
		if (!o->clocksource) {
			fprintf(stderr, "lxds bench blk: --clocksource takes cpu, clock_gettime or gettimeofday\n");
			return -1;
		}
	} else {
		return 0;
	}
	(*i)++;
	return 1;
}

/*
 * The engine: --engine, else $LXDS_FIO_ENGINE, else the build's tools/fio/
 * next to this tools/lxds/.  0, or -ENOENT when it is not there (told on
 * stderr unless @quiet).
 */
static int find_engine(struct blk_opts *o, char *buf, size_t len, bool quiet)
{
	if (!o->engine)
		o->engine = getenv("LXDS_FIO_ENGINE");
	if (!o->engine) {
		char self[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0)
			return -errno;
		self[n] = 0;
		snprintf(buf, len, "%s/../fio/lxds_fio.so", dirname(self));
		o->engine = buf;
	}
	if (access(o->engine, R_OK)) {
		if (!quiet)
			fprintf(stderr, "lxds bench blk: fio engine %s: %s (it is built when fio and its Debian "
					"source are available; or pass --engine PATH)\n", o->engine, strerror(errno));
		return -ENOENT;
	}
	return 0;
}

/* fio's JSON: the first job's error and read IOPS.  0, or -EPROTO if they are not there. */
static int parse_fio_json(const char *out, int *job_error, double *iops)
{
	const char *jobs = strstr(out, "\"jobs\"");
	const char *e = jobs ? strstr(jobs, "\"error\"") : NULL;
	const char *rd = jobs ? strstr(jobs, "\"read\"") : NULL;
	const char *ip = rd ? strstr(rd, "\"iops\"") : NULL;
	if (!e || !ip || !(e = strchr(e, ':')) || !(ip = strchr(ip, ':')))
		return -EPROTO;
	char *end;
	*job_error = (int)strtol(e + 1, &end, 10);
	if (end == e + 1)
		return -EPROTO;
	*iops = strtod(ip + 1, &end);
	return end == ip + 1 ? -EPROTO : 0;
}

static char *slurp(int fd)
{
	off_t n = lseek(fd, 0, SEEK_END);
	char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
	if (!s)
		return NULL;
	ssize_t got = pread(fd, s, (size_t)n, 0);
	s[got > 0 ? got : 0] = 0;
	return s;
}

/* Run one fio job.  Returns 0 with *@iops set, or -errno after printing fio's complaint. */
static int run_fio(const struct blk_opts *o, const struct bench_opts *bo, enum lxd_module_mode mode,
		   const struct blk_case *c, double *iops)
{
	char a_engine[PATH_MAX + 32], a_driver[128], a_mode[32], a_params[600], a_bs[32], a_qd[32], a_rt[32],
		a_cpu[32], params[512], a_bsub[48], a_bcmp[48], a_clock[48];
	unsigned qd = c->qd;
	snprintf(a_engine, sizeof(a_engine), "--ioengine=external:%s", o->engine);
	snprintf(a_driver, sizeof(a_driver), "--lxds_driver=%s", o->drv.driver);
	snprintf(a_mode, sizeof(a_mode), "--lxds_mode=%s", mode == LXD_MODULE_NATIVE ? "native" : "isolated");
	bench_drv_params(&o->drv, params, sizeof(params));
	snprintf(a_params, sizeof(a_params), "--lxds_params=%s", params);
	snprintf(a_bs, sizeof(a_bs), "--bs=%lu", o->bs);
	snprintf(a_qd, sizeof(a_qd), "--iodepth=%u", qd);
	snprintf(a_rt, sizeof(a_rt), "--runtime=%lu", o->runtime);
	snprintf(a_cpu, sizeof(a_cpu), "--cpus_allowed=%d", bo->cpu[0]);
	snprintf(a_bsub, sizeof(a_bsub), "--iodepth_batch_submit=%u", c->batch);
	snprintf(a_bcmp, sizeof(a_bcmp), "--iodepth_batch_complete_min=%u", c->batch);
	snprintf(a_clock, sizeof(a_clock), "--clocksource=%s", o->clocksource ? o->clocksource : default_clocksource());
	char *argv[] = {(char *)o->fio, "--output-format=json", "--eta=never", "--name=lxds", a_engine, a_driver,
			a_mode, a_bs, a_qd, a_rt, a_cpu, "--rw=randread", "--time_based", "--norandommap",
			"--randrepeat=0", a_bsub, a_bcmp, a_clock, params[0] ? a_params : NULL, NULL};

	char outname[] = "/tmp/lxds-bench-blk-XXXXXX", errname[] = "/tmp/lxds-bench-blk-XXXXXX";
	int out = mkstemp(outname), err = mkstemp(errname);
	if (out >= 0)
		unlink(outname);
	if (err >= 0)
		unlink(errname);
	int rc = 0;
	if (out < 0 || err < 0) {
		rc = -errno;
		fprintf(stderr, "lxds bench blk: temporary file: %s\n", strerror(errno));
		goto done;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, err, STDERR_FILENO);
	pid_t pid;
	int sp = posix_spawnp(&pid, o->fio, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (sp) {
		fprintf(stderr, "lxds bench blk: cannot run %s: %s (apt-get install fio, or --fio PATH)\n", o->fio,
			strerror(sp));
		rc = -sp;
		goto done;
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	char *text = slurp(out), *msg = slurp(err);
	int job_error = 0;
	if (!text || !msg) {
		rc = -ENOMEM;
	} else if (!WIFEXITED(st) || WEXITSTATUS(st) || parse_fio_json(text, &job_error, iops) || job_error) {
		fprintf(stderr, "lxds bench blk: fio (%s, qd %u, batch %u) failed (wait status %#x, job error %d):\n%s%s",
			mode == LXD_MODULE_NATIVE ? "native" : "isolated", qd, c->batch, st, job_error, msg,
			strstr(text, "\"jobs\"") ? "" : text);
		rc = -EIO;
	}
	free(text);
	free(msg);
done:
	if (out >= 0)
		close(out);
	if (err >= 0)
		close(err);
	return rc;
}

int bench_blk_fio_iops(enum lxd_module_mode mode, unsigned qd, unsigned runtime_s, int cpu, double *iops)
{
	struct blk_opts o = {.drv = {.driver = "null_blk"}, .runtime = runtime_s, .bs = 4096, .fio = "fio"};
	struct bench_opts bo = {.rounds = 1, .cpu = {cpu, cpu ^ 1}, .quiet = true};
	char engine[PATH_MAX];
	if (find_engine(&o, engine, sizeof(engine), true))
		return -ENOENT; /* no engine built: the caller falls back, quietly */
	struct blk_case c = {qd, 1};
	return run_fio(&o, &bo, mode, &c, iops);
}

int lxd_bench_blk(int argc, char **argv)
{
	static const char about[] =
		"fio 4 KiB random reads through the lxds ioengine at queue depths 1, 32 and\n"
		"128 (and batched: fio submitting and reaping --batch I/Os at a time),\n"
		"native and isolated, interleaved rounds; IOPS and medians of per-round\n"
		"ratios.  LXDs (ATC'19) reported null_blk isolated at about 0.79 of native.";
	struct blk_opts o = {.drv = {.driver = "null_blk"}, .runtime = 2, .bs = 4096, .batch = 16,
			     .qd = {1, 32, 128}, .nqd = 3, .fio = "fio"};
	char **rest = calloc((size_t)argc + 1, sizeof(*rest));
	if (!rest)
		return 1;
	int n = bench_split(argc, argv, rest, take_opt, &o);
	struct bench_opts bo;
	int rc = n < 0 ? 3 : bench_parse(n, rest, "blk", about, 5, &bo);
	free(rest);
	if (rc == 1)
		printf("  --driver NAME     block driver module (default null_blk)\n"
		       "  --param k=v       module parameter (repeatable), e.g. irqmode=1\n"
		       "  --qd LIST         queue depths (default 1,32,128)\n"
		       "  --batch N         also run each qd >= 2N with fio's iodepth_batch_submit and\n"
		       "                    iodepth_batch_complete_min = N (default 16; 0: no such cases)\n"
		       "  --runtime S       seconds per fio run (default 2)\n"
		       "  --bs B            block size (default 4096)\n"
		       "  --engine PATH     lxds_fio.so (default $LXDS_FIO_ENGINE, else the build's)\n"
		       "  --fio PATH        the fio binary (default fio)\n"
		       "  --clocksource C   fio's clock for every run: cpu, clock_gettime or gettimeofday\n"
		       "                    (default cpu when the TSC is invariant, else clock_gettime)\n");
	if (rc)
		return rc - 1;
	char engine[PATH_MAX];
	if (find_engine(&o, engine, sizeof(engine), false))
		return 1;
	if (!o.clocksource)
		o.clocksource = default_clocksource();

	/* Preflight: each mode loads here once (clear errors; n/a without running fio). */
	static const enum lxd_module_mode modes[2] = {LXD_MODULE_NATIVE, LXD_MODULE_ISOLATED};
	bool avail[2];
	for (int k = 0; k < 2; k++) {
		struct lxd_module *m;
		int err = bench_drv_load("blk", &o.drv, modes[k], &m);
		if (err && err != -ENOSYS)
			return 1;
		avail[k] = !err;
		if (!err)
			lxd_module_unload(m);
	}
	if (!avail[0])
		return 1;

	struct blk_case cases[MAX_CASES];
	unsigned ncase = 0;
	for (unsigned q = 0; q < o.nqd; q++)
		cases[ncase++] = (struct blk_case){o.qd[q], 1};
	for (unsigned q = 0; o.batch > 1 && q < o.nqd; q++)
		if (o.qd[q] >= 2 * o.batch)
			cases[ncase++] = (struct blk_case){o.qd[q], (unsigned)o.batch};

	/* + a median's scratch: the per-round ratios stay in round order for --json. */
	/* Runs: 0 native, 1 isolated, 2 native busy.  Ratios: 0 isolated / native, 1 native busy /
	 * native, 2 isolated / native busy.  + a median's scratch: the per-round ratios stay in round
	 * order for --json. */
	enum { NATIVE, ISOLATED, BUSY, NRUNS };
	static const char *const run_name[NRUNS] = {"native", "isolated", "native busy"};
	double *mem = calloc(6 * (size_t)MAX_CASES * bo.rounds + bo.rounds, sizeof(double));
	if (!mem)
		return 1;
	double *v[NRUNS][MAX_CASES], *ratio[NRUNS][MAX_CASES];
	unsigned got[NRUNS][MAX_CASES] = {{0}}, nratio[NRUNS][MAX_CASES] = {{0}};
	for (unsigned q = 0; q < ncase; q++)
		for (int k = 0; k < NRUNS; k++) {
			v[k][q] = mem + (size_t)(6 * q + 2 * k) * bo.rounds;
			ratio[k][q] = v[k][q] + bo.rounds;
		}
	/* The busy runs need a CPU other than the job's: n/a otherwise, or once it cannot be kept busy. */
	bool busy_ok = bo.cpu[1] != bo.cpu[0];
	if (!busy_ok)
		fprintf(stderr, "lxds bench blk: native busy needs a second CPU (--cpus A,B with A != B); n/a\n");
	for (unsigned r = 0; r < bo.rounds; r++) {
		for (unsigned q = 0; q < ncase; q++) {
			double x[NRUNS] = {NAN, NAN, NAN};
			for (int k0 = 0; k0 < NRUNS; k0++) {
				/* native, isolated, busy on even rounds; busy, isolated, native on odd ones */
				int k = r % 2 ? NRUNS - 1 - k0 : k0;
				if (k == BUSY ? !busy_ok || cases[q].batch > 1 || !avail[0] : !avail[k])
					continue;
				if (!bo.quiet)
					fprintf(stderr, "bench blk: round %u/%u qd %u batch %u %s (%lu s)\n", r + 1,
						bo.rounds, cases[q].qd, cases[q].batch, run_name[k], o.runtime);
				struct bench_busy busy;
				if (k == BUSY) {
					int err = bench_busy_start(&busy, bo.cpu[1]);
					if (err) {
						fprintf(stderr, "lxds bench blk: cannot keep CPU %d busy (%s); native busy is n/a\n",
							bo.cpu[1], strerror(-err));
						busy_ok = false;
						continue;
					}
				}
				int err = run_fio(&o, &bo, k == ISOLATED ? LXD_MODULE_ISOLATED : LXD_MODULE_NATIVE,
						  &cases[q], &x[k]);
				if (k == BUSY)
					bench_busy_stop(&busy);
				if (err) {
					free(mem);
					return 1;
				}
				v[k][q][got[k][q]++] = x[k];
			}
			static const int num[NRUNS] = {ISOLATED, BUSY, ISOLATED}, den[NRUNS] = {NATIVE, NATIVE, BUSY};
			for (int k = 0; k < NRUNS; k++)
				if (isfinite(x[num[k]]) && isfinite(x[den[k]]) && x[den[k]] > 0)
					ratio[k][q][nratio[k][q]++] = x[num[k]] / x[den[k]];
		}
	}

	double med[NRUNS][MAX_CASES], rmed[NRUNS][MAX_CASES], *scratch = mem + 6 * (size_t)MAX_CASES * bo.rounds;
	for (unsigned q = 0; q < ncase; q++)
		for (int k = 0; k < NRUNS; k++) {
			med[k][q] = got[k][q] ? stats_median(v[k][q], got[k][q]) : NAN;
			rmed[k][q] = nratio[k][q] ? stats_median_of(ratio[k][q], nratio[k][q], scratch) : NAN;
		}
	if (bo.json) {
		char params[512], key[64], sfx[32];
		bench_drv_params(&o.drv, params, sizeof(params));
		json_begin(stdout);
		json_str(stdout, "bench", "blk");
		json_str(stdout, "driver", o.drv.driver);
		json_str(stdout, "params", params);
		json_str(stdout, "rw", "randread");
		json_num(stdout, "bs", (double)o.bs);
		json_num(stdout, "runtime_s", (double)o.runtime);
		json_num(stdout, "rounds", bo.rounds);
		json_str(stdout, "fio_clocksource", o.clocksource);
		for (unsigned q = 0; q < ncase; q++) {
			if (cases[q].batch > 1)
				snprintf(sfx, sizeof(sfx), "qd%u_batch%u", cases[q].qd, cases[q].batch);
			else
				snprintf(sfx, sizeof(sfx), "qd%u", cases[q].qd);
			snprintf(key, sizeof(key), "native_iops_%s", sfx);
			json_num(stdout, key, med[NATIVE][q]);
			snprintf(key, sizeof(key), "isolated_iops_%s", sfx);
			json_num(stdout, key, med[ISOLATED][q]);
			snprintf(key, sizeof(key), "ratio_%s", sfx);
			json_num(stdout, key, rmed[0][q]);
			snprintf(key, sizeof(key), "ratio_%s_rounds", sfx); /* the spread: one a round, in order */
			json_nums(stdout, key, ratio[0][q], nratio[0][q]);
			if (cases[q].batch > 1)
				continue;
			snprintf(key, sizeof(key), "native_busy_iops_%s", sfx);
			json_num(stdout, key, med[BUSY][q]);
			snprintf(key, sizeof(key), "ratio_busy_%s", sfx); /* native busy / native */
			json_num(stdout, key, rmed[1][q]);
			snprintf(key, sizeof(key), "ratio_busy_%s_rounds", sfx);
			json_nums(stdout, key, ratio[1][q], nratio[1][q]);
			snprintf(key, sizeof(key), "ratio_vs_busy_%s", sfx); /* isolated / native busy */
			json_num(stdout, key, rmed[2][q]);
			snprintf(key, sizeof(key), "ratio_vs_busy_%s_rounds", sfx);
			json_nums(stdout, key, ratio[2][q], nratio[2][q]);
		}
		json_num(stdout, "target_ratio", TARGET_RATIO);
		json_num(stdout, "atc19_ratio", ATC19_RATIO);
		json_end(stdout);
		free(mem);
		return 0;
	}
	printf("%s under fio, %lu-byte random reads, %u rounds of %lu s per case (medians), fio clock %s\n\n",
	       o.drv.driver, o.bs, bo.rounds, o.runtime, o.clocksource);
	printf("%-6s %6s %14s %14s %10s %14s %14s %8s\n", "qd", "batch", "native", "isolated", "ratio",
	       "rounds range", "native busy", "iso/busy");
	for (unsigned q = 0; q < ncase; q++) {
		char a[32], b[32], c[32], rg[32], d[32], e[32];
		if (isfinite(rmed[0][q]))
			snprintf(c, sizeof(c), "%.2f", rmed[0][q]);
		else
			snprintf(c, sizeof(c), "n/a");
		if (isfinite(rmed[2][q]))
			snprintf(e, sizeof(e), "%.2f", rmed[2][q]);
		else
			snprintf(e, sizeof(e), cases[q].batch > 1 ? "-" : "n/a");
		printf("%-6u %6u %14s %14s %10s %14s %14s %8s\n", cases[q].qd, cases[q].batch,
		       bench_fmt(a, sizeof(a), med[NATIVE][q], "IOPS"), bench_fmt(b, sizeof(b), med[ISOLATED][q], "IOPS"),
		       c, bench_fmt_range(rg, sizeof(rg), ratio[0][q], nratio[0][q]),
		       cases[q].batch > 1 ? "-" : bench_fmt(d, sizeof(d), med[BUSY][q], "IOPS"), e);
	}
	free(mem);
	printf("\ntarget: isolated >= %.2f of native at qd 32; LXDs (ATC'19): about %.2f\n", TARGET_RATIO,
	       ATC19_RATIO);
	printf("native busy: native while CPU %d is kept awake, as an isolated driver's domain keeps it\n",
	       bo.cpu[1]);
	return 0;
}
